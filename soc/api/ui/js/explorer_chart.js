// The explorer's hits over time: one SVG bar per bucket of GET /events/histogram, labelled
// in Vietnam time. A bar is a button: clicking it (or Enter on it) zooms to its bucket.

import { svg } from './dom.js';
import { formatLocal } from './time.js';

const W = 960;
const H = 140;
const PAD = { l: 44, r: 8, t: 8, b: 22 };
const TICKS = 6;

/** A short label of a bucket start: the time of day, with the date when the width is a day. */
function tickText(iso, bucketS) {
  const local = formatLocal(iso);
  if (bucketS >= 86_400) return local.slice(0, 10);
  if (bucketS >= 60) return local.slice(11, 16);
  return local.slice(11, 19);
}

/** The chart of `histogram` ({bucket_s, buckets: [{start, count}]}); onZoom(start, end) per bar. */
export function histogramChart(histogram, { onZoom, title, desc }) {
  const buckets = histogram.buckets ?? [];
  const width = histogram.bucket_s;
  const max = Math.max(1, ...buckets.map((b) => b.count));
  const bw = (W - PAD.l - PAD.r) / Math.max(1, buckets.length);
  const y = (v) => PAD.t + (H - PAD.t - PAD.b) * (1 - v / max);
  const every = Math.max(1, Math.ceil(buckets.length / TICKS));
  const zoom = (b) => onZoom(b.start, new Date(Date.parse(b.start) + width * 1000).toISOString());
  return svg(
    'svg',
    { class: 'chart explorer-chart', viewBox: `0 0 ${W} ${H}`, role: 'group', 'aria-labelledby': 'hist-title hist-desc', testid: 'events-histogram', 'data-bucket-s': width },
    svg('title', { id: 'hist-title', i18n: title }),
    svg('desc', { id: 'hist-desc', i18n: desc, vars: { total: histogram.total ?? 0, max } }),
    svg('line', { x1: PAD.l, x2: W - PAD.r, y1: y(0), y2: y(0), class: 'axis' }),
    svg('line', { x1: PAD.l, x2: W - PAD.r, y1: y(max), y2: y(max), class: 'grid-line' }),
    svg('text', { x: PAD.l - 6, y: y(max) + 4, class: 'tick', 'text-anchor': 'end' }, String(max)),
    svg('text', { x: PAD.l - 6, y: y(0) + 4, class: 'tick', 'text-anchor': 'end' }, '0'),
    buckets.map((b, i) => {
      const x = PAD.l + i * bw;
      const label = `${formatLocal(b.start)} — ${b.count}`;
      return [
        // the whole column is the click target, so an empty or short bucket can be zoomed too
        svg('g', {
          class: 'hist-bucket',
          tabindex: 0,
          role: 'button',
          'aria-label': label,
          testid: 'histogram-bar',
          'data-start': b.start,
          'data-count': b.count,
          on: { click: () => zoom(b), keydown: (e) => { if (e.key === 'Enter' || e.key === ' ') { e.preventDefault(); zoom(b); } } },
        },
        svg('rect', { x, y: PAD.t, width: bw, height: y(0) - PAD.t, class: 'hist-hit' }),
        svg('rect', { x: x + 1, y: y(b.count), width: Math.max(1, bw - 2), height: Math.max(0, y(0) - y(b.count)), class: 'chart-bar' }),
        svg('title', null, label)),
        i % every === 0 ? svg('text', { x: x + bw / 2, y: H - 6, class: 'tick', 'text-anchor': 'middle' }, tickText(b.start, width)) : null,
      ];
    }),
  );
}
