/**
 * Topology changes, the pure parts: what the tracker concludes from two looks at the topics'
 * metadata, the Metadata v10 request and response as bytes, and a partition's commit record
 * started over after a reset (late completions of earlier messages commit nothing).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Registry } from 'prom-client';
import { decodeMetadataResponse, encodeMetadataRequest, type TopicState } from '../../../ingest/kafka/topic-ids.ts';
import { Completion } from '../../../ingest/sink/completion.ts';
import { createSinkMetrics } from '../../../ingest/sink/metrics.ts';
import { CommitOffsets } from '../../../ingest/sink/steps/commit.ts';
import type { MessageRef } from '../../../ingest/sink/steps/step.ts';
import { TopologyTracker } from '../../../ingest/sink/topology.ts';

const look = (entries: [string, string | undefined, number?][]) =>
  new Map<string, TopicState>(entries.map(([t, id, partitions]) => [t, { id, partitions: partitions ?? (id === undefined ? 0 : 1) }]));

describe('topology tracker', () => {
  it('reports missing, deleted, created, re-created and repartitioned topics once each', () => {
    const t = new TopologyTracker();
    assert.deepEqual(
      t.observe(
        look([
          ['a', 'A1'],
          ['b', undefined],
        ]),
      ),
      [{ kind: 'missing', topic: 'b' }],
    );
    assert.deepEqual(t.missing, ['b']);
    assert.deepEqual(
      t.observe(
        look([
          ['a', 'A1'],
          ['b', undefined],
        ]),
      ),
      [],
      'nothing changed',
    );
    assert.deepEqual(
      t.observe(
        look([
          ['a', undefined],
          ['b', 'B1'],
        ]),
      ),
      [
        { kind: 'deleted', topic: 'a', id: 'A1' },
        { kind: 'created', topic: 'b', id: 'B1' },
      ],
    );
    assert.equal(t.id('a'), undefined);
    assert.deepEqual(t.observe(look([['a', 'A2']])), [{ kind: 'recreated', topic: 'a', oldId: 'A1', newId: 'A2' }]);
    // Deleted and created again between two looks: only the id tells.
    assert.deepEqual(t.observe(look([['a', 'A3']])), [{ kind: 'recreated', topic: 'a', oldId: 'A2', newId: 'A3' }]);
    assert.deepEqual(t.observe(look([['a', 'A3', 4]])), [{ kind: 'partitions', topic: 'a', from: 1, to: 4 }]);
    assert.equal(t.id('a'), 'A3');
    assert.deepEqual(t.missing, []);
  });
});

describe('Metadata v10 (topic ids) on the wire', () => {
  it('encodes a request for topics by name, after the empty tagged fields of request header v2', () => {
    assert.deepEqual([...encodeMetadataRequest(['ab'])], [0, 2, ...new Array<number>(16).fill(0), 3, 0x61, 0x62, 0, 0, 0, 0, 0]);
  });

  it('decodes topic ids and partition counts, and a missing topic as no id', () => {
    const id = Buffer.from('00112233445566778899aabbccddeeff', 'hex');
    const i16 = (v: number) => [(v >> 8) & 0xff, v & 0xff];
    const i32 = (v: number) => [(v >>> 24) & 0xff, (v >> 16) & 0xff, (v >> 8) & 0xff, v & 0xff];
    const str = (s: string) => [s.length + 1, ...Buffer.from(s)];
    const partition = (p: number) => [...i16(0), ...i32(p), ...i32(1), ...i32(0), 2, ...i32(1), 2, ...i32(1), 1, 0];
    const body = Buffer.from([
      0, // response header tags
      ...i32(0), // throttle
      2,
      ...i32(1),
      ...str('localhost'),
      ...i32(9092),
      0,
      0, // one broker, no rack
      ...str('cluster'),
      ...i32(1), // controller
      3, // two topics
      ...i16(0),
      ...str('t.trend'),
      ...id,
      0,
      3,
      ...partition(0),
      ...partition(1),
      ...i32(0),
      0,
      ...i16(3),
      ...str('t.nope'),
      ...new Array<number>(16).fill(0),
      0,
      1,
      ...i32(0),
      0,
      ...i32(0), // cluster authorized operations
      0,
    ]);
    assert.deepEqual(
      decodeMetadataResponse(body),
      new Map([
        ['t.trend', { id: id.toString('base64url'), partitions: 2 }],
        ['t.nope', { id: undefined, partitions: 0 }],
      ]),
    );
    assert.throws(() => decodeMetadataResponse(body.subarray(0, body.length - 30)), RangeError);
  });
});

describe('commit record of a partition reset under messages in flight', () => {
  it('commits the new start, and nothing for messages begun before the reset', async () => {
    const commits: string[] = [];
    const commit = new CommitOffsets(
      (offsets) => {
        commits.push(...offsets.map((o) => `${o.topic}[${o.partition}]=${o.offset}`));
        return Promise.resolve();
      },
      0,
      createSinkMetrics(new Registry()),
      () => undefined,
    );
    const ref = (offset: number): MessageRef => {
      const r: MessageRef = {
        topic: 't',
        partition: 0,
        offset: String(offset),
        message: { key: null, value: null, headers: {}, offset: String(offset), timestamp: '0', attributes: 0 },
        completion: new Completion(() => commit.submit(r)),
        generation: commit.currentGeneration,
      };
      return r;
    };
    const old = [200, 201].map(ref);
    for (const r of old) assert.ok(commit.begin(r));
    commit.reset('t', 0, 0); // the topic was re-created: read from 0
    assert.equal(commit.position('t', 0), undefined);
    old[0]!.completion.feeds([]); // a message of the old topic finishes late
    await commit.join();
    assert.deepEqual(commits, ['t[0]=0'], 'the new start, not 201');
    const fresh = ref(0);
    assert.ok(commit.begin(fresh), 'offset 0 begins again');
    fresh.completion.feeds([]);
    old[1]!.completion.feeds([]);
    await commit.join();
    assert.deepEqual(commits, ['t[0]=0', 't[0]=1']);
    assert.equal(commit.committed('t', 0), 1);
  });
});
