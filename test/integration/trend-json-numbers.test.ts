/**
 * query/trends/sql.ts `jsonNumber` on the real ClickHouse, property-based (fast-check, fixed
 * seed): trend points are written as JSON text by the server, so the text of every double must
 * parse back to the same double in Node, and be the very text the API writes for the live rows
 * (query/trends/live-rows.ts `jsonNumberText`) — NaN and ±Infinity as null (JSON has no such numbers,
 * JSON.stringify writes null), -0 as 0 (as JSON.stringify writes it), NULL as null.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { ClickHouseClient } from '@clickhouse/client';
import fc from 'fast-check';
import { jsonNumberText } from '../../query/trends/live-rows.ts';
import { jsonNumber } from '../../query/trends/sql.ts';
import { createClickHouse } from '../../storage/client.ts';
import { ident, join, sql } from '../../storage/sql.ts';
import { connections } from '../support/services.ts';

/** Expressions per SELECT: 18.16 plans SELECTs of many function calls slowly (see sql-literals.test.ts). */
const BATCH = 100;

/** What JSON.parse must give for the server's text of `n`: JSON.stringify's reading of it. */
const expected = (n: number): number | null => (Number.isFinite(n) ? n + 0 : null);

describe('trend point numbers written by ClickHouse (property-based)', () => {
  let client: ClickHouseClient;
  before(() => {
    client = createClickHouse(connections.clickhouse);
  });
  after(async () => {
    await client?.close();
  });

  /** The server's JSON text of each double. */
  async function serverText(numbers: readonly number[]): Promise<string[]> {
    const columns = numbers.map((n, i) => sql`${jsonNumber(sql`toFloat64(${n})`)} AS ${ident(`c${i}`)}`);
    const rs = await client.query({ query: sql`SELECT ${join(columns, ', ')}`.text, format: 'JSONEachRow' });
    const [row] = await rs.json<Record<string, string>>();
    return numbers.map((_, i) => row![`c${i}`]!);
  }

  /** The server's JSON text of each double, parsed in Node; and the API's own text of it (live-rows.ts) must be the same bytes. */
  async function viaServer(numbers: readonly number[]): Promise<unknown[]> {
    const texts = await serverText(numbers);
    assert.deepEqual(
      numbers.map((n) => jsonNumberText(n)),
      texts,
      'the live rows (written by the API) and the cached or read rows (written by the server) must give one text per double',
    );
    return texts.map((t) => JSON.parse(t) as unknown);
  }

  it('writes edge values as JSON that reads back exactly (NaN/Infinity null, -0 as 0, subnormals, 2^64, 1e21)', async () => {
    const edges = [0, -0, NaN, Infinity, -Infinity, 5e-324, -5e-324, 2.2250738585072014e-308, Number.MAX_VALUE, -Number.MAX_VALUE];
    const more = [Number.EPSILON, Number.MAX_SAFE_INTEGER, 2 ** 53 + 2, 2 ** 64, -(2 ** 63), 0.1, 0.1 + 0.2, 1 / 3, 1e21, 1e-7, 49.2];
    const all = [...edges, ...more];
    assert.deepEqual(await viaServer(all), all.map(expected));
    const rs = await client.query({
      query: sql`SELECT ${jsonNumber(sql`CAST(NULL AS Nullable(Float64))`)} AS n`.text,
      format: 'JSONEachRow',
    });
    assert.deepEqual(await rs.json(), [{ n: 'null' }]);
    assert.equal(jsonNumberText(null), 'null');
  });

  it('writes any double as JSON text that reads back as the same double', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(
          fc.oneof(fc.double(), fc.maxSafeInteger(), fc.double({ noDefaultInfinity: true, noNaN: true, min: -1e-300, max: 1e-300 })),
          {
            minLength: BATCH,
            maxLength: BATCH,
          },
        ),
        async (numbers) => {
          assert.deepEqual(await viaServer(numbers), numbers.map(expected));
        },
      ),
      { seed: 20_261_129, numRuns: 20 },
    );
  });
});
