/**
 * Writes a trend answer as text while its rows arrive, so that a large answer (up to maxSeries ×
 * maxPoints points) is streamed, never held whole in memory, and no object per point is built
 * for raw rows (profiled: building the points and serialising them through the response schema
 * cost more Node CPU than decoding the rows).
 *
 * Two formats with the same content:
 * - `json`: one document, exactly the route's response schema
 *   (`{dmaId, elementId, from, to, order, series: [{…, points: […]}], statusRows: […]}`);
 * - `ndjson` (application/x-ndjson): one JSON object per line, each readable alone —
 *   `{"kind":"trend", dmaId, elementId, from, to, order}` first, then per series
 *   `{"kind":"series", parameterId, index, type, windowMinutes, aggregated, bucketMs}` followed by
 *   its points `{"kind":"point", parameterId, index, time, status, value, …}`, then the element
 *   status rows `{"kind":"status", time, status}`.
 *
 * Input: rows of `trendDataQuery` in answer order (series by `ord`, then status rows with
 * `ord` = the number of series), in batches.
 */
import { bucketPoint, type BucketGroup, type TrendPointOut } from './points.ts';
import type { BucketStats, SeriesRead, TrendDataRow } from './sql.ts';

export type TrendFormat = 'json' | 'ndjson';

/** What the answer says about the request. */
export interface TrendHead {
  dmaId: number;
  elementId: number;
  from: number;
  to: number;
  order: 'asc' | 'desc';
}

/** JSON text of a number as JSON.stringify writes it (non-finite: null). */
const num = (v: number | null): string => (v === null || !Number.isFinite(v) ? 'null' : String(v));
/** JSON text of a string; '' (no value) is null. */
const text = (s: string): string => (s === '' ? 'null' : JSON.stringify(s));
const str = (s: string | null): string => (s === null ? 'null' : JSON.stringify(s));

/**
 * The point fields of a raw row: ClickHouse wrote the numeric ones (`row.json`, see sql.ts); the
 * discrete strings are escaped here (real-time rows have no discreteMax).
 */
function rawPointFields(row: TrendDataRow, averaged: boolean): string {
  return `${row.json},"discreteValue":${text(row.value_discrete)},"discreteMax":${averaged ? text(row.max_discrete) : 'null'}`;
}

function pointFields(p: TrendPointOut): string {
  return `"time":${p.time},"status":${p.status},"value":${num(p.value)},"min":${num(p.min)},"max":${num(p.max)},"samples":${num(p.samples)},"discreteValue":${str(p.discreteValue)},"discreteMax":${str(p.discreteMax)}`;
}

/**
 * The answer's text, piece by piece: `start()` once, `add(rows)` per batch, `end()` once; each
 * returns the text to send next. Rows of one bucket (same series and bucket start, `agg` 1) may
 * span batches: they are held until the next row or `end()`.
 */
export class TrendBodyWriter {
  /** The series whose header was written last; -1 before the first. */
  private current = -1;
  /** Points (json) written in the current series or status rows, for the separators. */
  private written = 0;
  /** The groups of the bucket being read, and its series. */
  private group: BucketGroup[] = [];
  private groupOrd = -1;

  constructor(
    private readonly head: TrendHead,
    private readonly reads: readonly SeriesRead[],
    /** Bucket width of aggregated series (ms). */
    private readonly bucketMs: number,
    readonly format: TrendFormat,
  ) {}

  start(): string {
    const h = this.head;
    const fields = `"dmaId":${h.dmaId},"elementId":${h.elementId},"from":${h.from},"to":${h.to},"order":"${h.order}"`;
    return this.format === 'json' ? `{${fields},"series":[` : `{"kind":"trend",${fields}}\n`;
  }

  add(rows: readonly TrendDataRow[]): string {
    let out = '';
    for (const row of rows) {
      const stats = row.agg === 1 ? (JSON.parse(row.json) as BucketStats) : undefined;
      if (this.group.length > 0) {
        if (stats !== undefined && row.ord === this.groupOrd && stats.time === this.group[0]!.stats.time) {
          this.group.push({ stats, valueDiscrete: row.value_discrete, maxDiscrete: row.max_discrete });
          continue;
        }
        out += this.flushGroup();
      }
      if (row.ord !== this.current) out += this.moveTo(row.ord);
      if (row.ord === this.reads.length) out += this.statusRow(row);
      else if (stats !== undefined) {
        this.group.push({ stats, valueDiscrete: row.value_discrete, maxDiscrete: row.max_discrete });
        this.groupOrd = row.ord;
      } else out += this.point(row.ord, rawPointFields(row, this.reads[row.ord]!.windowMinutes > 0));
    }
    return out;
  }

  end(): string {
    let out = this.flushGroup();
    out += this.moveTo(this.reads.length);
    return this.format === 'json' ? `${out}]}` : out;
  }

  private flushGroup(): string {
    if (this.group.length === 0) return '';
    const ord = this.groupOrd;
    const p = bucketPoint(this.group, this.reads[ord]!.windowMinutes > 0);
    this.group = [];
    return this.point(ord, pointFields(p));
  }

  /** Closes the current series and opens every series up to `ord` (empty ones included). */
  private moveTo(ord: number): string {
    let out = '';
    while (this.current < ord) {
      if (this.format === 'json' && this.current >= 0) out += ']}';
      this.current++;
      this.written = 0;
      if (this.current === this.reads.length) {
        if (this.format === 'json') out += '],"statusRows":[';
        break;
      }
      const r = this.reads[this.current]!;
      const fields = `"parameterId":${r.parameterId},"index":${JSON.stringify(r.index)},"type":"${r.windowMinutes === 0 ? 'realtime' : 'average'}","windowMinutes":${r.windowMinutes},"aggregated":${r.aggregated},"bucketMs":${r.aggregated ? this.bucketMs : null}`;
      out += this.format === 'json' ? `${this.current > 0 ? ',' : ''}{${fields},"points":[` : `{"kind":"series",${fields}}\n`;
    }
    return out;
  }

  private point(ord: number, fields: string): string {
    if (this.format === 'json') return `${this.written++ > 0 ? ',' : ''}{${fields}}`;
    const r = this.reads[ord]!;
    return `{"kind":"point","parameterId":${r.parameterId},"index":${JSON.stringify(r.index)},${fields}}\n`;
  }

  private statusRow(row: TrendDataRow): string {
    const fields = row.json;
    if (this.format === 'json') return `${this.written++ > 0 ? ',' : ''}{${fields}}`;
    return `{"kind":"status",${fields}}\n`;
  }
}

/** The answer as text chunks, one per batch of rows (empty chunks skipped). */
export async function* trendBody(writer: TrendBodyWriter, batches: AsyncIterable<readonly TrendDataRow[]>): AsyncGenerator<string> {
  yield writer.start();
  for await (const rows of batches) {
    const out = writer.add(rows);
    if (out !== '') yield out;
  }
  yield writer.end();
}
