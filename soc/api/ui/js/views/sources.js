// Log sources (#/sources?state=...): every feed of the caller's tenants from
// GET /api/v1/sources (a connector's heartbeat named it or it sent events), worst state
// first (silent, losing, late, healthy) then by name: its state as a badge with its word,
// the last event in Vietnam time, events in the last hour and day, the 24 hourly counts
// as a sparkline, the expected interval (configured, learned or default), records lost,
// the connector's backlog, dead letters and parse errors. A filter by state; the page
// reloads every 30 s.

import { api } from '../api.js';
import { enumText, fill, h } from '../dom.js';
import { t } from '../i18n.js';
import { sparkline } from '../sparkline.js';
import { durationVars, formatLocal, timeEl } from '../time.js';
import { errorBox, loading } from '../widgets.js';

export const STATES = ['silent', 'losing', 'late', 'healthy'];
export const REFRESH_MS = 30_000;
const HOUR_MS = 3_600_000;

/** Worst state first, then by connector, source, stream and tenant. */
export function sortSources(list) {
  const rank = (s) => (STATES.includes(s.state) ? STATES.indexOf(s.state) : STATES.length);
  const name = (s) => [s.connector, s.source, s.stream, s.tenant].join('\u0000');
  return [...list].sort((a, b) => rank(a) - rank(b) || (name(a) < name(b) ? -1 : name(a) > name(b) ? 1 : 0));
}

function readState(params) {
  const state = params.get('state');
  return STATES.includes(state) ? state : '';
}

function stateBadge(state, testid = 'source-state') {
  return enumText('source_state', state, { class: `badge src-st-${state}`, testid, 'data-value': state });
}

/** A duration in seconds ("1 h 0 min", "30 s", "0.001 s"), or "—". */
function seconds(value, props = {}) {
  if (value == null) return h('span', { class: 'muted', ...props }, '—');
  if (value > 0 && value < 1) return h('span', { i18n: 'duration.s', vars: { s: Number(value.toPrecision(2)) }, ...props });
  const d = durationVars(value);
  return h('span', { i18n: d.key, vars: d.vars, ...props });
}

function bytesText(n) {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${(n / 1024 / 1024).toFixed(1)} MiB`;
}

/** The label of a sparkline: its hours in Vietnam time and every count, for screen readers. */
function hourlyLabel(hourly) {
  const now = new Date();
  now.setUTCMinutes(0, 0, 0);
  const first = new Date(now.getTime() - (hourly.length - 1) * HOUR_MS).toISOString();
  const end = new Date(now.getTime() + HOUR_MS).toISOString();
  return t('sources.hourly_label', {
    from: formatLocal(first).slice(11, 16),
    to: formatLocal(end).slice(11, 16),
    counts: hourly.join(', '),
    max: Math.max(0, ...hourly),
  });
}

/** A time from the API in Vietnam time, or a dash, both under `testid`. */
function when(iso, testid) {
  return iso ? timeEl(iso, { 'data-testid': testid }) : h('span', { class: 'muted', testid }, '—');
}

function num(value, testid, warn = false) {
  return h('span', { testid, class: warn && value > 0 ? 'breached' : null }, String(value ?? 0));
}

function row(s) {
  return h('tr', { testid: 'source-row', class: `src-row src-row-${s.state}`, dataset: { tenant: s.tenant, connector: s.connector, source: s.source, stream: s.stream, state: s.state } },
    h('td', null,
      stateBadge(s.state),
      s.heartbeat_state
        ? h('div', { class: 'small muted', testid: 'source-heartbeat' }, h('span', { i18n: 'sources.heartbeat' }), ' ', stateBadge(s.heartbeat_state, 'source-heartbeat-state'))
        : null),
    h('td', { testid: 'source-tenant' }, s.tenant),
    h('td', { class: 'src-name' },
      h('span', { testid: 'source-connector' }, s.connector), ' / ', h('span', { testid: 'source-source' }, s.source),
      h('div', null, h('code', { class: 'small', testid: 'source-stream' }, s.stream))),
    h('td', null,
      s.host ? h('span', { testid: 'source-host' }, s.host) : h('span', { class: 'muted', testid: 'source-host' }, '—'),
      s.version ? h('div', { class: 'small muted', testid: 'source-version' }, s.version) : null),
    h('td', { class: 'col-time' },
      when(s.last_event, 'source-last-event'),
      s.last_seen
        ? h('div', { class: 'small muted' }, h('span', { i18n: 'sources.last_heartbeat' }), ' ', when(s.last_seen, 'source-last-seen'))
        : null),
    h('td', { class: 'num' },
      num(s.events_1h, 'source-events-1h'), ' / ', num(s.events_24h, 'source-events-24h'),
      h('div', { class: 'small muted', testid: 'source-bytes' }, bytesText(s.bytes_24h ?? 0))),
    h('td', { class: 'src-spark' }, sparkline(s.hourly ?? [], hourlyLabel(s.hourly ?? []), { 'data-testid': 'source-sparkline' })),
    h('td', null,
      seconds(s.expected_interval_s, { testid: 'source-interval', 'data-value': s.expected_interval_s ?? '' }),
      s.expected_interval_from
        ? h('div', { class: 'small muted' }, enumText('source_from', s.expected_interval_from, { testid: 'source-interval-from', 'data-value': s.expected_interval_from }))
        : null),
    h('td', { class: 'num' }, num(s.lost, 'source-lost', true)),
    h('td', { class: 'num' },
      num(s.backlog, 'source-backlog'),
      s.backlog && s.oldest_backlog_s ? h('div', { class: 'small muted' }, seconds(s.oldest_backlog_s)) : null),
    h('td', { class: 'num' }, num(s.dead_letters_24h, 'source-dead-letters', true), ' / ', num(s.parse_errors_24h, 'source-parse-errors', true)));
}

export async function render(main, { params }) {
  let filter = readState(params);
  let data = null;
  let timer = null;
  let stopped = false;
  const tbody = h('tbody', { testid: 'sources-tbody' });
  const errorSlot = h('div');
  const filters = h('div', { class: 'quick-ranges', role: 'group', testid: 'sources-filter', attrs18n: { 'aria-label': 'sources.filter' } });
  const updated = h('span', { class: 'muted small', testid: 'sources-updated' });
  const empty = h('p', { class: 'muted', i18n: 'sources.empty', hidden: true, testid: 'sources-empty' });
  const none = h('p', { class: 'muted', i18n: 'sources.none_in_state', hidden: true, testid: 'sources-none-in-state' });
  const th = (i18n, cls) => h('th', { class: cls, i18n });
  const table = h('table', { class: 'grid sources', testid: 'sources-table', hidden: true },
    h('caption', { class: 'sr-only', i18n: 'sources.title' }),
    h('thead', null, h('tr', null,
      th('field.status'), th('field.tenant'), th('sources.name'), th('field.host'),
      h('th', { class: 'col-time' }, h('span', { i18n: 'sources.last_event' }), h('span', { class: 'th-note', i18n: 'time.zone_short' })),
      th('sources.events', 'num'), th('sources.hourly'), th('sources.interval'),
      th('sources.lost', 'num'), th('sources.backlog', 'num'), th('sources.rejects', 'num'))),
    tbody);
  const refresh = h('button', { type: 'button', class: 'btn btn-small', i18n: 'sources.refresh', testid: 'sources-refresh', on: { click: () => load() } });

  function pick(state) {
    filter = state;
    const target = `#/sources${state ? `?state=${state}` : ''}`;
    if (target !== location.hash) history.replaceState(null, '', target);
    draw();
  }

  function draw() {
    if (!data) return;
    const counts = Object.fromEntries(STATES.map((s) => [s, data.filter((x) => x.state === s).length]));
    fill(filters, ['', ...STATES].map((s) => h('button', {
      type: 'button',
      class: ['btn', 'btn-small', s === filter ? 'active' : null, s ? `src-filter-${s}` : null],
      'aria-pressed': String(s === filter),
      testid: `sources-filter-${s || 'all'}`,
      dataset: { count: String(s ? counts[s] : data.length) },
      i18n: s ? 'sources.filter_state' : 'sources.filter_all',
      vars: { state: s ? t(`source_state.${s}`) : '', n: s ? counts[s] : data.length },
      on: { click: () => pick(s) },
    })));
    const shown = sortSources(data.filter((x) => !filter || x.state === filter));
    fill(tbody, shown.map(row));
    table.hidden = shown.length === 0;
    empty.hidden = data.length > 0;
    none.hidden = data.length === 0 || shown.length > 0;
    main.querySelector('[data-testid=view-sources]')?.setAttribute('data-filter', filter || 'all');
  }

  async function load() {
    clearTimeout(timer);
    timer = null;
    try {
      const list = await api('/sources');
      if (stopped) return;
      data = list;
      const at = new Date().toISOString();
      fill(updated, h('span', { i18n: 'sources.updated' }), ' ', timeEl(at));
      fill(errorSlot);
      draw();
    } catch (e) {
      if (!stopped) fill(errorSlot, errorBox(e, 'sources-error'));
    }
    if (!stopped) timer = setTimeout(load, REFRESH_MS);
  }

  main.append(h('section', { class: 'view', testid: 'view-sources', dataset: { filter: filter || 'all' } },
    h('div', { class: 'view-head' }, h('h1', { i18n: 'sources.title' }), h('span', { class: 'muted small', i18n: 'sources.lead' })),
    h('div', { class: 'filters src-bar' }, filters, h('span', { class: 'spacer' }), updated, refresh),
    errorSlot,
    h('div', { class: 'table-wrap' }, data ? null : loading(), table, empty, none)));
  document.title = `${t('sources.title')} · ${t('app.title')}`;
  const relang = () => draw(); // the sparklines' labels and the filter's counts
  window.addEventListener('soc:lang', relang);
  await load();
  main.querySelector('[data-testid=loading]')?.remove();
  return () => {
    stopped = true;
    clearTimeout(timer);
    window.removeEventListener('soc:lang', relang);
  };
}
