// The overview: open incidents by severity and tenant, breached deadlines, mean times to
// acknowledge and resolve, and alerts per hour over the last 24 hours as an SVG chart.

import { api } from '../api.js';
import { fill, h, severityBadge, svg } from '../dom.js';
import { t } from '../i18n.js';
import { durationVars, formatLocal, localHour } from '../time.js';
import { errorBox, loading } from '../widgets.js';
import { SEVERITIES } from './alerts.js';


function barRows(entries, labelOf, testid) {
  const max = Math.max(1, ...entries.map(([, n]) => n));
  return h('table', { class: 'bars', testid },
    h('tbody', null, entries.map(([k, n]) => h('tr', { dataset: { key: k } },
      h('th', { scope: 'row' }, labelOf(k)),
      h('td', { class: 'bar-cell' }, svg('svg', { class: 'bar', viewBox: '0 0 100 10', preserveAspectRatio: 'none', 'aria-hidden': 'true' },
        svg('rect', { x: 0, y: 0, height: 10, width: Math.max(1, (100 * n) / max), class: `bar-fill ${SEVERITIES.includes(k) ? `fill-${k}` : ''}` }))),
      h('td', { class: 'num', testid: `${testid}-${k}` }, String(n))))));
}

function durationCard(i18n, seconds, testid) {
  const value = seconds == null ? h('span', { class: 'muted' }, '—') : (() => {
    const d = durationVars(seconds);
    return h('span', { i18n: d.key, vars: d.vars });
  })();
  return h('div', { class: 'card stat', testid }, h('div', { class: 'stat-label', i18n }), h('div', { class: 'stat-value' }, value));
}

/** Bars of alerts per hour; hours labelled in Vietnam time. */
export function hourChart(points) {
  const W = 720;
  const H = 180;
  const pad = { l: 36, r: 8, t: 10, b: 24 };
  const max = Math.max(1, ...points.map((p) => p.count));
  const bw = (W - pad.l - pad.r) / Math.max(1, points.length);
  const y = (v) => pad.t + (H - pad.t - pad.b) * (1 - v / max);
  const total = points.reduce((s, p) => s + p.count, 0);
  const chart = svg(
    'svg',
    { class: 'chart', viewBox: `0 0 ${W} ${H}`, role: 'img', 'aria-labelledby': 'chart-title chart-desc', testid: 'alerts-chart' },
    svg('title', { id: 'chart-title', i18n: 'overview.alerts_per_hour' }),
    svg('desc', { id: 'chart-desc', i18n: 'overview.chart_desc', vars: { total, max } }),
    svg('line', { x1: pad.l, x2: W - pad.r, y1: y(0), y2: y(0), class: 'axis' }),
    svg('line', { x1: pad.l, x2: W - pad.r, y1: y(max), y2: y(max), class: 'grid-line' }),
    svg('text', { x: pad.l - 6, y: y(max) + 4, class: 'tick', 'text-anchor': 'end' }, String(max)),
    svg('text', { x: pad.l - 6, y: y(0) + 4, class: 'tick', 'text-anchor': 'end' }, '0'),
    points.map((p, i) => {
      const x = pad.l + i * bw;
      return [
        svg('rect', { x: x + 1, y: y(p.count), width: Math.max(1, bw - 2), height: Math.max(0, y(0) - y(p.count)), class: 'chart-bar', 'data-count': p.count, 'data-hour': p.hour },
          svg('title', null, `${formatLocal(p.hour)} — ${p.count}`)),
        i % 3 === 0 ? svg('text', { x: x + bw / 2, y: H - 6, class: 'tick', 'text-anchor': 'middle' }, `${String(localHour(p.hour)).padStart(2, '0')}h`) : null,
      ];
    }),
  );
  return chart;
}


export async function render(main) {
  const body = h('div', { class: 'overview' }, loading());
  main.append(h('section', { class: 'view', testid: 'view-overview' },
    h('div', { class: 'view-head' }, h('h1', { i18n: 'overview.title' }), h('span', { class: 'muted small', i18n: 'time.zone_note' })),
    body));
  document.title = `${t('overview.title')} · ${t('app.title')}`;
  let d;
  try {
    d = await api('/overview');
  } catch (e) {
    fill(body, errorBox(e, 'overview-error'));
    return null;
  }
  // GET /overview: {open_by_severity: {sev: n}, open_by_tenant: {tenant: n}, breached_open: n,
  // mean_time_to_acknowledge_s, mean_time_to_resolve_s, alerts_per_hour: [{hour, alerts}]}
  const bySev = Object.entries(d.open_by_severity ?? {}).sort(([a], [b]) => SEVERITIES.indexOf(a) - SEVERITIES.indexOf(b));
  const byTenant = Object.entries(d.open_by_tenant ?? {}).sort(([a], [b]) => a.localeCompare(b));
  const breached = d.breached_open ?? 0;
  const openTotal = bySev.reduce((s, [, n]) => s + Number(n), 0);
  const points = (d.alerts_per_hour ?? []).map((p) => ({ hour: p.hour, count: Number(p.alerts ?? 0) }));

  fill(body, 
    h('div', { class: 'stats' },
      h('div', { class: 'card stat', testid: 'stat-open' }, h('div', { class: 'stat-label', i18n: 'overview.open_incidents' }), h('div', { class: 'stat-value' }, String(openTotal))),
      h('div', { class: ['card stat', breached ? 'stat-bad' : null], testid: 'stat-breached' }, h('div', { class: 'stat-label', i18n: 'overview.breached' }), h('div', { class: 'stat-value' }, String(breached))),
      durationCard('overview.mtta', d.mean_time_to_acknowledge_s, 'stat-mtta'),
      durationCard('overview.mttr', d.mean_time_to_resolve_s, 'stat-mttr')),
    h('div', { class: 'overview-grid' },
      h('section', { class: 'card' }, h('h2', { i18n: 'overview.by_severity' }),
        bySev.length ? barRows(bySev, (k) => severityBadge(k), 'open-sev') : h('p', { class: 'muted', i18n: 'overview.none_open' })),
      h('section', { class: 'card' }, h('h2', { i18n: 'overview.by_tenant' }),
        byTenant.length ? barRows(byTenant, (k) => k, 'open-tenant') : h('p', { class: 'muted', i18n: 'overview.none_open' }))),
    h('section', { class: 'card' }, h('h2', { i18n: 'overview.alerts_per_hour' }),
      points.length ? hourChart(points) : h('p', { class: 'muted', i18n: 'overview.no_alerts' })),
  );
  return null;
}
