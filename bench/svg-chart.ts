/**
 * A small line chart as an SVG document, for benchmark results (no dependencies: the README shows
 * the file as is). Axes start at 0; ticks at round numbers; one colour per series, with a legend.
 */

export interface ChartSeries {
  name: string;
  /** [x, y] pairs, drawn in the order given. */
  points: readonly (readonly [number, number])[];
  /** Draw a dashed line (e.g. a reference such as "delivered = offered"). */
  dashed?: boolean;
}

export interface Chart {
  title: string;
  xLabel: string;
  yLabel: string;
  series: readonly ChartSeries[];
}

const COLOURS = ['#1f77b4', '#d62728', '#2ca02c', '#9467bd', '#ff7f0e', '#8c564b'];
const W = 640;
const H = 400;
const M = { left: 80, right: 20, top: 40, bottom: 60 };

/** A round step giving about `n` ticks up to `max` (1, 2 or 5 × 10^k). */
function tickStep(max: number, n = 5): number {
  const raw = max / n;
  const p = 10 ** Math.floor(Math.log10(raw));
  return [1, 2, 5, 10].map((m) => m * p).find((s) => s >= raw) ?? 10 * p;
}

/** Compact tick labels: 1.2k, 3M. */
function label(v: number): string {
  if (v >= 1e6) return `${+(v / 1e6).toFixed(2)}M`;
  if (v >= 1e3) return `${+(v / 1e3).toFixed(1)}k`;
  return String(+v.toFixed(2));
}

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/** The chart as SVG text. */
export function lineChart(chart: Chart): string {
  const all = chart.series.flatMap((s) => s.points);
  const xMax = Math.max(1, ...all.map((p) => p[0])) * 1.05;
  const yMax = Math.max(1, ...all.map((p) => p[1])) * 1.1;
  const x = (v: number) => M.left + (v / xMax) * (W - M.left - M.right);
  const y = (v: number) => H - M.bottom - (v / yMax) * (H - M.top - M.bottom);
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<text x="${W / 2}" y="22" text-anchor="middle" font-size="15">${esc(chart.title)}</text>`,
  ];
  for (let v = 0, s = tickStep(xMax); v <= xMax; v += s)
    parts.push(
      `<line x1="${x(v)}" y1="${y(0)}" x2="${x(v)}" y2="${M.top}" stroke="#eee"/>`,
      `<text x="${x(v)}" y="${y(0) + 16}" text-anchor="middle">${label(v)}</text>`,
    );
  for (let v = 0, s = tickStep(yMax); v <= yMax; v += s)
    parts.push(
      `<line x1="${M.left}" y1="${y(v)}" x2="${W - M.right}" y2="${y(v)}" stroke="#eee"/>`,
      `<text x="${M.left - 6}" y="${y(v) + 4}" text-anchor="end">${label(v)}</text>`,
    );
  parts.push(
    `<line x1="${M.left}" y1="${y(0)}" x2="${W - M.right}" y2="${y(0)}" stroke="black"/>`,
    `<line x1="${M.left}" y1="${y(0)}" x2="${M.left}" y2="${M.top}" stroke="black"/>`,
    `<text x="${(M.left + W - M.right) / 2}" y="${H - 18}" text-anchor="middle">${esc(chart.xLabel)}</text>`,
    `<text x="18" y="${(M.top + H - M.bottom) / 2}" text-anchor="middle" transform="rotate(-90 18 ${(M.top + H - M.bottom) / 2})">${esc(chart.yLabel)}</text>`,
  );
  chart.series.forEach((s, i) => {
    const colour = COLOURS[i % COLOURS.length]!;
    const path = s.points.map((p) => `${x(p[0]).toFixed(1)},${y(p[1]).toFixed(1)}`).join(' ');
    parts.push(`<polyline fill="none" stroke="${colour}" stroke-width="2"${s.dashed ? ' stroke-dasharray="6 4"' : ''} points="${path}"/>`);
    for (const p of s.points) parts.push(`<circle cx="${x(p[0]).toFixed(1)}" cy="${y(p[1]).toFixed(1)}" r="3" fill="${colour}"/>`);
    parts.push(
      `<line x1="${M.left + 12}" y1="${M.top + 8 + i * 18}" x2="${M.left + 36}" y2="${M.top + 8 + i * 18}" stroke="${colour}" stroke-width="2"${s.dashed ? ' stroke-dasharray="6 4"' : ''}/>`,
      `<text x="${M.left + 42}" y="${M.top + 12 + i * 18}">${esc(s.name)}</text>`,
    );
  });
  parts.push('</svg>');
  return `${parts.join('\n')}\n`;
}
