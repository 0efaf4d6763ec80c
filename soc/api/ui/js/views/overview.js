// The overview: open incidents by severity and tenant, breached deadlines, mean times to
// acknowledge and resolve, and alerts per hour over the last 24 hours as an SVG chart.

import { api } from '../api.js';
import { h, severityBadge, svg } from '../dom.js';
import { t } from '../i18n.js';
import { durationVars, formatLocal, localHour } from '../time.js';
import { errorBox, loading } from '../widgets.js';
import { SEVERITIES } from './alerts.js';

/** Accepts {"high": 2} or [{"severity": "high", "count": 2}] alike. */
function counts(value, key) {
  if (!value) return [];
  if (Array.isArray(value)) return value.map((x) => [x[key] ?? x.key ?? x.name, x.count ?? x.value ?? x.n ?? 0]);
  return Object.entries(value);
}

function pick(obj, ...names) {
  for (const n of names) {
    const v = n.split('.').reduce((o, k) => (o == null ? undefined : o[k]), obj);
    if (v !== undefined) return v;
  }
  return undefined;
}

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

function hourPoints(raw) {
  const list = Array.isArray(raw) ? raw : counts(raw).map(([hour, count]) => ({ hour, count }));
  return list
    .map((p) => ({ hour: p.hour ?? p.time ?? p.start ?? p.key ?? p[0], count: Number(p.count ?? p.alerts ?? p.value ?? p.n ?? p[1] ?? 0) }))
    .filter((p) => p.hour)
    .sort((a, b) => String(a.hour).localeCompare(String(b.hour)));
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
    body.replaceChildren(errorBox(e, 'overview-error'));
    return null;
  }
  const bySev = counts(pick(d, 'open_by_severity', 'open_incidents.by_severity', 'incidents.open_by_severity', 'by_severity'), 'severity')
    .sort(([a], [b]) => SEVERITIES.indexOf(a) - SEVERITIES.indexOf(b));
  const byTenant = counts(pick(d, 'open_by_tenant', 'open_incidents.by_tenant', 'incidents.open_by_tenant', 'by_tenant'), 'tenant');
  const breachedRaw = pick(d, 'breached', 'breached_deadlines', 'deadlines.breached');
  const breached = Array.isArray(breachedRaw) ? breachedRaw : null;
  const breachedCount = typeof breachedRaw === 'number' ? breachedRaw
    : breached ? breached.length
    : breachedRaw && typeof breachedRaw === 'object' ? Object.values(breachedRaw).reduce((s, n) => s + Number(n || 0), 0) : 0;
  const openTotal = bySev.reduce((s, [, n]) => s + Number(n), 0);
  const mtta = pick(d, 'mtta_seconds', 'mean_time_to_acknowledge_s', 'mean_time_to_acknowledge_seconds', 'mean_time_to_acknowledge', 'mtta');
  const mttr = pick(d, 'mttr_seconds', 'mean_time_to_resolve_s', 'mean_time_to_resolve_seconds', 'mean_time_to_resolve', 'mttr');
  const points = hourPoints(pick(d, 'alerts_per_hour', 'alerts_by_hour', 'alerts.per_hour') ?? []);

  body.replaceChildren(
    h('div', { class: 'stats' },
      h('div', { class: 'card stat', testid: 'stat-open' }, h('div', { class: 'stat-label', i18n: 'overview.open_incidents' }), h('div', { class: 'stat-value' }, String(openTotal))),
      h('div', { class: ['card stat', breachedCount ? 'stat-bad' : null], testid: 'stat-breached' }, h('div', { class: 'stat-label', i18n: 'overview.breached' }), h('div', { class: 'stat-value' }, String(breachedCount))),
      durationCard('overview.mtta', typeof mtta === 'number' ? mtta : null, 'stat-mtta'),
      durationCard('overview.mttr', typeof mttr === 'number' ? mttr : null, 'stat-mttr')),
    h('div', { class: 'overview-grid' },
      h('section', { class: 'card' }, h('h2', { i18n: 'overview.by_severity' }),
        bySev.length ? barRows(bySev, (k) => severityBadge(k), 'open-sev') : h('p', { class: 'muted', i18n: 'overview.none_open' })),
      h('section', { class: 'card' }, h('h2', { i18n: 'overview.by_tenant' }),
        byTenant.length ? barRows(byTenant, (k) => k, 'open-tenant') : h('p', { class: 'muted', i18n: 'overview.none_open' })),
      breached?.length
        ? h('section', { class: 'card' }, h('h2', { i18n: 'overview.breached' }),
            h('ul', { class: 'plain' }, breached.map((b) => h('li', null,
              h('a', { href: `#/incidents/${encodeURIComponent(b.id ?? b.incident_id)}` }, b.title ?? b.id ?? b.incident_id),
              b.deadline ? [' · ', h('span', { class: 'badge breach', i18n: `deadline.breached_${b.deadline}` })] : null))))
        : null),
    h('section', { class: 'card' }, h('h2', { i18n: 'overview.alerts_per_hour' }),
      points.length ? hourChart(points) : h('p', { class: 'muted', i18n: 'overview.no_alerts' })),
  );
  return null;
}
