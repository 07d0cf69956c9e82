/**
 * query/http/gzip-splice.ts: gzip answers assembled from new bytes and segments deflated ahead of
 * time read back (Node's gunzip checks the CRC-32 and length) as the bytes in order; the coding
 * choice follows @fastify/compress's; a trend answer spliced with cached days' deflated text
 * decodes to the plain answer.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { text } from 'node:stream/consumers';
import { describe, it } from 'node:test';
import { constants, gunzipSync, inflateRawSync } from 'node:zlib';
import fc from 'fast-check';
import { deflateSegment, GzipSplice, wantsGzipSplice, type AnswerPiece } from '../../query/http/gzip-splice.ts';
import { DayText } from '../../query/trends/day-cache.ts';
import { TrendBodyWriter, trendAnswer, trendBody } from '../../query/trends/response.ts';

/** Compressible text (repeats) or random bytes, of 0 to 150 KB (the flush happens at 64 KiB). */
const bytes = fc.oneof(
  fc.tuple(fc.string({ maxLength: 40 }), fc.nat(4000)).map(([s, n]) => Buffer.from(s.repeat(n))),
  fc.nat(150_000).map((n) => randomBytes(n)),
  fc.uint8Array({ maxLength: 2000 }).map((a) => Buffer.from(a)),
);

describe('GzipSplice', () => {
  it('gives gzip that reads back as every piece in order, deflated ahead of time or not', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(bytes, fc.option(fc.integer({ min: 0, max: 9 }))), { maxLength: 12 }),
        fc.integer({ min: 1, max: 9 }),
        (pieces, level) => {
          const gzip = new GzipSplice(level);
          const out: Buffer[] = [];
          for (const [raw, segmentLevel] of pieces) {
            const piece: AnswerPiece = segmentLevel === null ? raw : { raw, deflated: deflateSegment(raw, segmentLevel) };
            out.push(...gzip.push(piece));
          }
          out.push(...gzip.end());
          assert.deepEqual(gunzipSync(Buffer.concat(out)), Buffer.concat(pieces.map(([raw]) => raw)));
        },
      ),
      { numRuns: 150 },
    );
  });

  it('writes an empty answer as a valid gzip stream', () => {
    assert.equal(gunzipSync(Buffer.concat(new GzipSplice(1).end())).length, 0);
  });
});

describe('wantsGzipSplice', () => {
  it('splices exactly when @fastify/compress would answer gzip', () => {
    const cases: [Record<string, string>, boolean][] = [
      [{ 'accept-encoding': 'gzip' }, true],
      [{ 'accept-encoding': 'GZIP' }, true],
      [{ 'accept-encoding': 'gzip, deflate, br' }, true],
      [{ 'accept-encoding': 'x-gzip' }, true],
      [{ 'accept-encoding': '*' }, true],
      [{ 'accept-encoding': 'deflate' }, false],
      [{ 'accept-encoding': 'deflate;q=1, gzip;q=0.5' }, false],
      [{ 'accept-encoding': 'gzip;q=0' }, false],
      [{ 'accept-encoding': 'br' }, false],
      [{ 'accept-encoding': 'identity' }, false],
      [{}, false],
      [{ 'accept-encoding': 'gzip', 'x-no-compression': '1' }, false],
    ];
    for (const [headers, want] of cases) assert.equal(wantsGzipSplice(headers), want, JSON.stringify(headers));
  });
});

describe('DayText.deflated', () => {
  const day = (fields: string[]) => {
    const ends = new Uint32Array(fields.length);
    let at = 0;
    fields.forEach((s, i) => (ends[i] = at += Buffer.byteLength(s)));
    return new DayText(Buffer.from(fields.join('')), ends, Float64Array.from(fields.map((_, i) => i * 300_000)));
  };
  const points = Array.from(
    { length: 288 },
    (_, i) => `"time":${i * 300_000},"status":5,"value":${(i % 37) / 4},"min":0,"max":9,"samples":30`,
  );

  it("is the whole day's text in each order, deflated once and kept", () => {
    const text = day(points);
    for (const order of ['asc', 'desc'] as const) {
      const deflated = text.deflated(order)!;
      assert.deepEqual(inflateRawSync(deflated, { finishFlush: constants.Z_SYNC_FLUSH }), text.joined(order));
      assert.equal(text.deflated(order), deflated);
      // Memory of its own: a view of Node's shared 8 KiB pool would keep the whole slab alive.
      assert.equal(deflated.buffer.byteLength, deflated.length);
    }
  });

  it('is left out for text that does not compress (its memory was not set aside) and for an empty day', () => {
    assert.equal(day(Array.from({ length: 50 }, () => randomBytes(60).toString('latin1'))).deflated('asc'), undefined);
    assert.equal(day([]).deflated('desc'), undefined);
    assert.equal(day([]).bytes, 0, 'nothing set aside for an empty day');
  });

  it('goes into a gzip answer that reads back as the plain answer', async () => {
    const days = [day(points), day(points.slice(0, 100)), day(points.slice(50))];
    const sealed = {
      from: 0,
      to: 3 * 86_400_000,
      days: [[...days.map((t) => ({ text: t, k0: 0, k1: t.count })), { text: days[0]!, k0: 5, k1: 9 }]],
    };
    const reads = [{ parameterId: 7, index: '', windowMinutes: 5, aggregated: false }];
    for (const order of ['asc', 'desc'] as const) {
      const head = { dmaId: 1, elementId: 2, from: 0, to: 3 * 86_400_000, order };
      const plain = await text(trendAnswer(new TrendBodyWriter(head, reads, 1000, 'json', sealed), []));
      const spliced = Buffer.concat(await trendAnswer(new TrendBodyWriter(head, reads, 1000, 'json', sealed, true), [], 1).toArray());
      assert.equal(gunzipSync(spliced).toString(), plain);
      assert.ok(spliced.length < plain.length / 5, `${spliced.length} bytes for ${plain.length}`);
      JSON.parse(plain);
      const pieces: AnswerPiece[] = [];
      for await (const p of trendBody(new TrendBodyWriter(head, reads, 1000, 'json', sealed, true), [])) pieces.push(p);
      assert.equal(pieces.filter((p) => !Buffer.isBuffer(p)).length, 3, 'the three whole days go out deflated, the slice is written');
    }
  });
});
