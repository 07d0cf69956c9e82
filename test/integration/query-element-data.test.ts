/**
 * Element data routes against the real pipeline: rows written through the Writer, carried by
 * Kafka, stored by the Sink, read back through the Query API. Two DMSs share element ids; table
 * rows are updated, deleted and re-added with versions arriving out of order; prefix filters with
 * LIKE's special characters; paging a 2,500-row table; standalone saved parameters; the answers
 * are identical after a second sink group re-read every topic (at-least-once repeats).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { ElementRowInput } from '../../schemas/validate.ts';
import { startQueryFixture, type QueryFixture } from '../support/query.ts';

const TS = Date.UTC(2026, 10, 1, 12);
const MAX_PAGE = 1000;
const DEFAULT_PAGE = 100;

type Value = number | string | null;
interface Row {
  primaryKey: string;
  displayKey: string;
  cells: { columnId: number; value: Value }[];
  time: number;
  version: number;
}
interface Page {
  rows: Row[];
  nextCursor: string | null;
}
interface Parameter {
  parameterId: number;
  value: Value;
  time: number;
  version: number;
}
interface ProblemBody {
  status: number;
  detail: string;
  errors?: { field: string }[];
}

/** Primary-key order: ClickHouse compares String as bytes (UTF-8), not as UTF-16 code units. */
const byBytes = (a: string, b: string) => Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));

// Cells of every kind: numbers (fractions, subnormal, extremes, big integers), strings (empty,
// quotes, backslashes, control characters, multi-byte) and null.
const CELLS: { columnId: number; value: Value }[] = [
  { columnId: 1001, value: 0.1 },
  { columnId: 1002, value: 5e-324 },
  { columnId: 1003, value: 1.7976931348623157e308 },
  { columnId: 1004, value: -2.5e-310 },
  { columnId: 1005, value: Number.MAX_SAFE_INTEGER },
  { columnId: 1006, value: -123456789.125 },
  { columnId: 1007, value: '' },
  { columnId: 1008, value: 'it\'s "quoted" \\ back\nslash\t\u0000\u007f' },
  { columnId: 1009, value: 'é 😀 \u2028 ùñí' },
  { columnId: 1010, value: null },
  { columnId: 1011, value: '0' },
  { columnId: 1012, value: 0 },
];

const PREFIX_KEYS = [
  'a%b',
  'a%c',
  'ab',
  'a_b',
  'axb',
  'a\\b',
  'a\\',
  "a'b",
  "a'",
  'a\nb',
  'é1',
  'éx',
  'e1',
  '😀1',
  '😀',
  '\uff01',
  '%',
  '_',
  '\\',
];

function row(dmsId: number, dmaId: number, elementId: number, tableParameterId: number, over: Partial<ElementRowInput>): ElementRowInput {
  return { dmsId, dmaId, elementId, tableParameterId, primaryKey: 'k', timestamp: TS, ...over };
}

/** The 2,500 keys of the paging table: ASCII, multi-byte and astral characters, sharing prefixes. */
function pagingKeys(): string[] {
  const tails = ['', 'a', 'Z', 'é', '\uff01', '😀', ' ', '%', '_', '\\'];
  const keys: string[] = [];
  for (let i = 0; keys.length < 2500; i++) keys.push(`${tails[i % tails.length]}${i.toString(36)}${tails[(i * 7) % tails.length]}`);
  return keys;
}

describe('Query API element data (real Writer → Kafka → Sink → ClickHouse)', () => {
  let f: QueryFixture;
  let t7: string;
  let t8: string;
  const paging = pagingKeys();
  const pagingDeleted = new Set(paging.filter((_, i) => i % 97 === 0));

  before(async () => {
    f = await startQueryFixture({ maxPageSize: MAX_PAGE, defaultPageSize: DEFAULT_PAGE });
    t7 = await f.token(7);
    t8 = await f.token(8);
    const w = (r: ElementRowInput) => f.writer.elementRow(r);

    // DMS 7, element 1/10, table 1000. Row 'a' sees v2, v5 and (later, below) v3: v5 wins.
    await w(row(7, 1, 10, 1000, { primaryKey: 'a', displayKey: 'A v2', columns: [{ columnId: 1001, value: 2 }], version: 2 }));
    await w(row(7, 1, 10, 1000, { primaryKey: 'a', displayKey: 'A v5', columns: CELLS, version: 5, timestamp: TS + 5 }));
    // 'b' is deleted; 'c' deleted then re-added; 'd' deleted at v5, then a stale v4 arrives.
    await w(row(7, 1, 10, 1000, { primaryKey: 'b', columns: [{ columnId: 1001, value: 1 }], version: 1 }));
    await w(row(7, 1, 10, 1000, { primaryKey: 'b', columns: [], version: 2, deleted: true }));
    await w(row(7, 1, 10, 1000, { primaryKey: 'c', columns: [{ columnId: 1001, value: 1 }], version: 1 }));
    await w(row(7, 1, 10, 1000, { primaryKey: 'c', columns: [], version: 2, deleted: true }));
    await w(row(7, 1, 10, 1000, { primaryKey: 'd', columns: [{ columnId: 1001, value: 1 }], version: 5, deleted: true }));
    // 'e' has no version of its own: its timestamp is its version.
    await w(row(7, 1, 10, 1000, { primaryKey: 'e', displayKey: 'E', columns: [{ columnId: 1008, value: 'x' }], timestamp: TS + 9 }));
    // Standalone saved parameters of element 1/10.
    await w(row(7, 1, 10, 2000, { primaryKey: '', columns: [{ columnId: 2000, value: -7.25 }], version: 1 }));
    await w(row(7, 1, 10, 2001, { primaryKey: '', columns: [{ columnId: 2001, value: 'on' }], version: 1 }));
    await w(row(7, 1, 10, 2002, { primaryKey: '', columns: [{ columnId: 2002, value: null }], version: 1 }));
    await w(row(7, 1, 10, 2003, { primaryKey: '', columns: [{ columnId: 2003, value: 1 }], version: 1 }));
    await w(row(7, 1, 10, 2003, { primaryKey: '', columns: [{ columnId: 2003, value: null }], version: 2, deleted: true }));
    await w(row(7, 1, 10, 2004, { primaryKey: '', columns: [{ columnId: 2004, value: 'old' }], version: 3 }));
    await w(row(7, 1, 10, 2004, { primaryKey: '', columns: [{ columnId: 2004, value: 'new' }], version: 9, timestamp: TS + 9 }));
    // A standalone parameter that shares its id with table 1000 must not show up as a table row.
    await w(row(7, 1, 10, 1000, { primaryKey: '', columns: [{ columnId: 1000, value: 'standalone' }], version: 1 }));
    // Keys with LIKE's special characters, quotes and multi-byte characters: table 1100.
    for (const [i, primaryKey] of PREFIX_KEYS.entries())
      await w(row(7, 1, 10, 1100, { primaryKey, displayKey: `#${i}`, columns: [{ columnId: 1101, value: i }], version: 1 }));

    // DMS 8 has an element with the same ids and its own rows and parameters.
    await w(row(8, 1, 10, 1000, { primaryKey: 'a', displayKey: 'other tenant', columns: [{ columnId: 1001, value: 8 }], version: 99 }));
    await w(row(8, 1, 10, 1000, { primaryKey: 'z', columns: [{ columnId: 1001, value: 8 }], version: 1 }));
    await w(row(8, 1, 10, 2000, { primaryKey: '', columns: [{ columnId: 2000, value: 'dms 8' }], version: 1 }));

    // The paging table: element 1/11, table 1200, 2,500 rows of which every 97th is deleted later.
    for (const [i, primaryKey] of paging.entries())
      await w(row(7, 1, 11, 1200, { primaryKey, displayKey: `row ${i}`, columns: [{ columnId: 1201, value: i }], version: 1 }));
    await f.stored();

    // Later arrivals, in other inserts: stale versions, the re-add of 'c', the paging deletions.
    await w(row(7, 1, 10, 1000, { primaryKey: 'a', displayKey: 'A v3', columns: [{ columnId: 1001, value: 3 }], version: 3 }));
    await w(row(7, 1, 10, 1000, { primaryKey: 'c', displayKey: 'C again', columns: [{ columnId: 1007, value: 'back' }], version: 3 }));
    await w(row(7, 1, 10, 1000, { primaryKey: 'd', columns: [{ columnId: 1001, value: 4 }], version: 4 }));
    await w(row(7, 1, 10, 2004, { primaryKey: '', columns: [{ columnId: 2004, value: 'stale' }], version: 4 }));
    for (const primaryKey of pagingDeleted) await w(row(7, 1, 11, 1200, { primaryKey, columns: [], version: 2, deleted: true }));
    await f.stored();
  });

  after(async () => {
    await f?.stop();
  });

  const rowsOf = (token: string, path: string) => f.get<Page>(`/v1/elements/${path}`, token);

  /** Every page of a table, following nextCursor; checks each page's size. */
  async function allPages(token: string, base: string, limit: number): Promise<{ rows: Row[]; pages: number }> {
    const rows: Row[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const sep = base.includes('?') ? '&' : '?';
      const r = await rowsOf(token, `${base}${sep}limit=${limit}${cursor === null ? '' : `&cursor=${cursor}`}`);
      assert.equal(r.status, 200, r.text);
      assert.ok(r.body.rows.length <= limit);
      if (r.body.nextCursor !== null) assert.equal(r.body.rows.length, limit, 'only the last page is short');
      rows.push(...r.body.rows);
      cursor = r.body.nextCursor;
      pages++;
    } while (cursor !== null);
    return { rows, pages };
  }

  async function checkTableRows(): Promise<void> {
    const r = await rowsOf(t7, '1/10/tables/1000/rows');
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(r.body, {
      rows: [
        { primaryKey: 'a', displayKey: 'A v5', cells: CELLS, time: TS + 5, version: 5 },
        { primaryKey: 'c', displayKey: 'C again', cells: [{ columnId: 1007, value: 'back' }], time: TS, version: 3 },
        { primaryKey: 'e', displayKey: 'E', cells: [{ columnId: 1008, value: 'x' }], time: TS + 9, version: TS + 9 },
      ],
      nextCursor: null,
    });
    const other = await rowsOf(t8, '1/10/tables/1000/rows');
    assert.equal(other.status, 200, other.text);
    assert.deepEqual(
      other.body.rows.map((x) => [x.primaryKey, x.displayKey, x.version]),
      [
        ['a', 'other tenant', 99],
        ['z', '', 1],
      ],
    );
  }

  async function checkParameters(): Promise<void> {
    const r = await f.get<{ parameters: Parameter[] }>('/v1/elements/1/10/parameters', t7);
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(r.body.parameters, [
      { parameterId: 1000, value: 'standalone', time: TS, version: 1 },
      { parameterId: 2000, value: -7.25, time: TS, version: 1 },
      { parameterId: 2001, value: 'on', time: TS, version: 1 },
      { parameterId: 2002, value: null, time: TS, version: 1 },
      { parameterId: 2004, value: 'new', time: TS + 9, version: 9 },
    ]);
    const other = await f.get<{ parameters: Parameter[] }>('/v1/elements/1/10/parameters', t8);
    assert.deepEqual(other.body.parameters, [{ parameterId: 2000, value: 'dms 8', time: TS, version: 1 }]);
  }

  it('answers the current table rows: highest version wins, deleted rows hidden, re-added rows back, cells exact', checkTableRows);

  it('answers the standalone saved parameters, by parameter id, deleted ones hidden', checkParameters);

  it('filters standalone saved parameters by parameterId (repeatable)', async () => {
    const r = await f.get<{ parameters: Parameter[] }>(
      '/v1/elements/1/10/parameters?parameterId=2004&parameterId=2001&parameterId=2003',
      t7,
    );
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(
      r.body.parameters.map((p) => [p.parameterId, p.value]),
      [
        [2001, 'on'],
        [2004, 'new'],
      ],
    );
    const one = await f.get<{ parameters: Parameter[] }>('/v1/elements/1/10/parameters?parameterId=2002', t7);
    assert.deepEqual(one.body.parameters, [{ parameterId: 2002, value: null, time: TS, version: 1 }]);
  });

  it('filters rows by a primary-key prefix that matches literally (%, _, \\, quotes, multi-byte)', async () => {
    const prefixes = ['a%', 'a_', 'a\\', "a'", 'a', 'é', '😀', '%', '_', '\\', '\uff01', 'a\n', 'x', 'a%b', ''];
    for (const prefix of prefixes) {
      const r = await rowsOf(t7, `1/10/tables/1100/rows?prefix=${encodeURIComponent(prefix)}`);
      assert.equal(r.status, 200, r.text);
      const expected = PREFIX_KEYS.filter((k) => k.startsWith(prefix)).sort(byBytes);
      assert.deepEqual(
        r.body.rows.map((x) => x.primaryKey),
        expected,
        `prefix ${JSON.stringify(prefix)}`,
      );
      for (const x of r.body.rows) assert.deepEqual(x.cells, [{ columnId: 1101, value: PREFIX_KEYS.indexOf(x.primaryKey) }]);
    }
  });

  it('pages a 2,500-row table with limit 1000 and limit 7: every row once, in primary-key byte order', async () => {
    const expected = paging.filter((k) => !pagingDeleted.has(k)).sort(byBytes);
    assert.ok(expected.length > 2400);
    const big = await allPages(t7, '1/11/tables/1200/rows', 1000);
    assert.equal(big.pages, 3);
    assert.deepEqual(
      big.rows.map((x) => x.primaryKey),
      expected,
    );
    for (const x of big.rows) assert.deepEqual(x.cells, [{ columnId: 1201, value: paging.indexOf(x.primaryKey) }]);
    const small = await allPages(t7, '1/11/tables/1200/rows', 7);
    assert.equal(small.pages, Math.ceil(expected.length / 7));
    assert.deepEqual(
      small.rows.map((x) => x.primaryKey),
      expected,
    );
    // The default page size, and paging combined with a prefix.
    const first = await rowsOf(t7, '1/11/tables/1200/rows');
    assert.equal(first.body.rows.length, DEFAULT_PAGE);
    const pct = await allPages(t7, '1/11/tables/1200/rows?prefix=%25', 3);
    assert.deepEqual(
      pct.rows.map((x) => x.primaryKey),
      expected.filter((k) => k.startsWith('%')),
    );
  });

  it('answers 400 naming the field for a bad cursor, a limit out of range and unknown query fields', async () => {
    const notOurs = [
      '!!!',
      'abc',
      Buffer.from('{"k":1}').toString('base64url'),
      Buffer.from('{"k":""}').toString('base64url'),
      Buffer.from('{"k":"a","x":1}').toString('base64url'),
      Buffer.from('{"k":"\\ud800"}').toString('base64url'),
      Buffer.from([0x7b, 0x22, 0x6b, 0x22, 0x3a, 0x22, 0xff, 0x22, 0x7d]).toString('base64url'),
      `${Buffer.from('{"k":"a"}').toString('base64url')}=`,
    ];
    for (const cursor of notOurs) {
      const r = await f.get<ProblemBody>(`/v1/elements/1/10/tables/1000/rows?cursor=${encodeURIComponent(cursor)}`, t7);
      assert.equal(r.status, 400, `${cursor}: ${r.text}`);
      assert.deepEqual(
        r.body.errors?.map((e) => e.field),
        ['querystring.cursor'],
      );
    }
    const cases: [string, string][] = [
      ['1/10/tables/1000/rows?limit=1001', 'querystring.limit'],
      ['1/10/tables/1000/rows?limit=0', 'querystring.limit'],
      ['1/10/tables/1000/rows?limit=ten', 'querystring.limit'],
      ['1/10/tables/1000/rows?sort=desc', 'querystring.sort'],
      ['1/10/tables/1000/rows?prefix=a&prefix=b', 'querystring.prefix'],
      ['1/10/tables/2147483648/rows', 'params.tableParameterId'],
      ['1/10/parameters?parameterId=x', 'querystring.parameterId.0'],
      ['1/10/parameters?id=2000', 'querystring.id'],
      ['-1/10/parameters', 'params.dmaId'],
    ];
    for (const [path, field] of cases) {
      const r = await f.get<ProblemBody>(`/v1/elements/${path}`, t7);
      assert.equal(r.status, 400, `${path}: ${r.text}`);
      assert.ok(
        r.body.errors?.some((e) => e.field === field),
        `${path}: ${r.text}`,
      );
    }
  });

  it("answers 404 for another DMS's element, an unknown element and an element outside a share", async () => {
    for (const path of ['1/11/tables/1200/rows', '1/11/parameters']) {
      const r = await f.get<ProblemBody>(`/v1/elements/${path}`, t8);
      assert.equal(r.status, 404, r.text);
    }
    assert.equal((await rowsOf(t7, '9/9/tables/1000/rows')).status, 404);
    assert.equal((await f.get('/v1/elements/9/9/parameters', t7)).status, 404);
    // Checked before the cursor: a foreign element is not found, whatever the query.
    assert.equal((await rowsOf(t8, '1/11/tables/1200/rows?cursor=!!!')).status, 404);
    const share = await f.tokens.create({
      kind: 'share',
      dmsId: 7,
      name: 'one element',
      scopes: ['elements:read'],
      elements: ['1/10'],
      expiresAt: Date.now() + 3_600_000,
    });
    assert.equal((await rowsOf(share.token, '1/11/tables/1200/rows')).status, 404);
    const shared = await rowsOf(share.token, '1/10/tables/1000/rows');
    assert.equal(shared.status, 200);
    assert.deepEqual(
      shared.body.rows.map((x) => x.primaryKey),
      ['a', 'c', 'e'],
    );
    // An existing element with a table it does not have: empty, not 404.
    assert.deepEqual((await rowsOf(t7, '1/10/tables/4242/rows')).body, { rows: [], nextCursor: null });
    const noScope = await f.token(7, ['trends:read']);
    assert.equal((await rowsOf(noScope, '1/10/tables/1000/rows')).status, 403);
  });

  it('answers the same after a second sink group re-read every topic', async () => {
    const before7 = await allPages(t7, '1/11/tables/1200/rows', 1000);
    await f.rereadFromStart();
    await checkTableRows();
    await checkParameters();
    const after7 = await allPages(t7, '1/11/tables/1200/rows', 1000);
    assert.deepEqual(after7.rows, before7.rows);
  });
});
