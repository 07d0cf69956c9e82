/** The Writer's partition choice (pure logic: the counts come from the fallback, Kafka is not asked). */
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { Partitioners, type Kafka } from 'kafkajs';
import { PartitionMap } from '../../ingest/writer/partitions.ts';

/** A Kafka that cannot be reached: the map keeps the fallback counts. */
const unreachable = {
  admin: () => ({ connect: () => Promise.reject(new Error('down')), disconnect: () => Promise.resolve() }),
} as unknown as Kafka;

const load = (partitions: number, groups: number) =>
  PartitionMap.load(unreachable, ['t'], mkdtempSync(join(tmpdir(), 'staas-partitions-')), partitions, 100, groups);

describe('PartitionMap', () => {
  it("without groups is Kafka's default partitioner over the element key", async () => {
    const map = await load(6, 1);
    const kafkajs = Partitioners.DefaultPartitioner();
    const metadata = Array.from({ length: 6 }, (_, partitionId) => ({
      partitionId,
      leader: 0,
      partitionErrorCode: 0,
      replicas: [0],
      isr: [0],
    }));
    for (let e = 0; e < 50; e++)
      assert.equal(
        map.partitionOf('t', 7, 1, e),
        kafkajs({ topic: 't', partitionMetadata: metadata, message: { key: `7:1/${e}`, value: null } }),
      );
  });

  it("with groups puts each DMS in its shard's partitions (p mod groups = dms mod groups), its elements spread over them", async () => {
    const map = await load(6, 2);
    assert.equal(map.grouped('t'), true);
    fc.assert(
      fc.property(fc.nat(2_147_483_647), fc.nat(2_147_483_647), fc.nat(2_147_483_647), (dms, dma, element) => {
        const p = map.partitionOf('t', dms, dma, element);
        return p >= 0 && p < 6 && p % 2 === dms % 2;
      }),
    );
    const used = new Set(Array.from({ length: 200 }, (_, e) => map.partitionOf('t', 3, 1, e)));
    assert.deepEqual([...used].sort(), [1, 3, 5], 'one DMS uses every partition of its group');
  });

  it('answers the same for runs of one element as for each record alone (the last answer is reused), across topics', async () => {
    const map = await load(6, 1);
    const fresh = async () => load(6, 1);
    fc.assert(
      fc.asyncProperty(
        fc.array(fc.tuple(fc.constantFrom('t', 'u'), fc.nat(3), fc.nat(3), fc.nat(3)), { maxLength: 40 }),
        async (records) => {
          for (const [topic, dms, dma, element] of records)
            assert.equal(map.partitionOf(topic, dms, dma, element), (await fresh()).partitionOf(topic, dms, dma, element));
        },
      ),
      { numRuns: 30 },
    );
  });

  it('answers from the new partition count once Kafka reports one (not the last answer under the old count)', async () => {
    let partitions = 6;
    const kafka = {
      admin: () => ({
        connect: () => Promise.resolve(),
        disconnect: () => Promise.resolve(),
        fetchTopicMetadata: () => Promise.resolve({ topics: [{ name: 't', partitions: Array.from({ length: partitions }, () => ({})) }] }),
      }),
    } as unknown as Kafka;
    const map = await PartitionMap.load(kafka, ['t'], mkdtempSync(join(tmpdir(), 'staas-partitions-')), 6, 1000);
    // An element whose partition differs between 6 and 12 partitions, asked last under 6.
    const at12 = await load(12, 1);
    const element = Array.from({ length: 100 }, (_, e) => e).find((e) => map.partitionOf('t', 7, 1, e) !== at12.partitionOf('t', 7, 1, e))!;
    assert.notEqual(map.partitionOf('t', 7, 1, element), at12.partitionOf('t', 7, 1, element));
    partitions = 12;
    assert.equal(await map.refresh(1000), true);
    assert.equal(map.partitionOf('t', 7, 1, element), at12.partitionOf('t', 7, 1, element));
  });

  it('spreads over every partition when the count is not a multiple of the groups', async () => {
    const map = await load(5, 2);
    assert.equal(map.grouped('t'), false);
    const used = new Set(Array.from({ length: 200 }, (_, e) => map.partitionOf('t', 3, 1, e)));
    assert.equal(used.size, 5);
  });
});
