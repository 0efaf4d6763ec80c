// A tiny inline SVG line of counts (one point each), drawn here: no chart library, nothing
// from outside. The highest count touches the top; a row of zeros lies on the bottom.

import { svg } from './dom.js';

const W = 120;
const H = 26;
const PAD = 2;

/** The points of `counts` in a W x H box, as [x, y] pairs (y grows downwards). */
export function sparkPoints(counts) {
  const max = Math.max(0, ...counts);
  const step = counts.length > 1 ? (W - 2 * PAD) / (counts.length - 1) : 0;
  const y = (v) => (max ? PAD + (H - 2 * PAD) * (1 - v / max) : H - PAD);
  return counts.map((v, i) => [Number((PAD + i * step).toFixed(2)), Number(y(v).toFixed(2))]);
}

/**
 * An <svg role="img"> line of `counts`; `label` (already translated, with the numbers)
 * is its accessible name and its <title> tooltip.
 */
export function sparkline(counts, label, props = {}) {
  const pts = sparkPoints(counts);
  const max = Math.max(0, ...counts);
  const line = pts.map(([x, y]) => `${x},${y}`).join(' ');
  const last = pts[pts.length - 1];
  return svg('svg', {
    class: 'sparkline',
    viewBox: `0 0 ${W} ${H}`,
    width: W,
    height: H,
    role: 'img',
    'aria-label': label,
    dataset: { points: String(counts.length), max: String(max), counts: counts.join(',') },
    ...props,
  },
  svg('title', null, label),
  svg('polygon', { class: 'spark-area', points: `${PAD},${H - PAD} ${line} ${last ? last[0] : PAD},${H - PAD}` }),
  svg('polyline', { class: 'spark-line', points: line }),
  last ? svg('circle', { class: 'spark-now', cx: last[0], cy: last[1], r: 1.8 }) : null);
}
