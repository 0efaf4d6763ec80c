// The event explorer: a query over every stored event in a time range, hits over time, the
// events newest first a page at a time, each opening to its normalized fields and raw record.
// Everything it shows is in the link (explorer_query.js), so a pivot is a link.

import { api } from '../api.js';
import { clear, fill, h } from '../dom.js';
import { t } from '../i18n.js';
import { histogramChart } from '../explorer_chart.js';
import {
  QUICK_RANGES, filterable, fromLocalInput, hashOf, narrowed, rangeOf, readState, summaryOf, termFor, toLocalInput,
} from '../explorer_query.js';
import { timeEl } from '../time.js';
import { errorBox, field, jsonBlock, loading } from '../widgets.js';

const PAGE = 50;
const BUCKETS = 60;

function go(state) {
  const next = hashOf(state);
  if (next !== location.hash) location.hash = next;
}

/** The 400 of a malformed query: its reason, and the query with a caret under the column. */
function queryError(err, q) {
  const column = Number(err.problem?.column);
  if (!column) return errorBox(err, 'query-error');
  return h('div', { class: 'error-box query-error', role: 'alert', testid: 'query-error', dataset: { column: String(column) } },
    h('strong', { i18n: 'explorer.query_error', vars: { column } }), ' ',
    h('span', { testid: 'query-error-reason' }, err.problem.reason ?? err.detail),
    h('pre', { class: 'query-caret', testid: 'query-error-caret' }, `${q}\n${' '.repeat(column - 1)}^`));
}

function valueCell(name, value, onFilter) {
  const text = typeof value === 'object' && value !== null ? JSON.stringify(value) : String(value);
  if (!filterable(value)) return h('td', null, text);
  return h('td', null, h('button', {
    type: 'button',
    class: 'link value-filter',
    testid: 'field-value',
    dataset: { field: name },
    attrs18n: { title: 'explorer.add_filter' },
    on: { click: () => onFilter(name, value) },
  }, text));
}

/** The event's fields (each name opens its top values, each value a filter) and its raw record. */
function eventDetail(event, onFilter, onStats) {
  const own = [['host', event.host], ['source', event.source], ['logsource.product', event.logsource?.product],
    ['logsource.category', event.logsource?.category], ['logsource.service', event.logsource?.service]]
    .filter(([, v]) => v != null && v !== '');
  const fields = Object.entries(event.fields ?? {}).sort(([a], [b]) => a.localeCompare(b));
  const name = (k) => h('button', { type: 'button', class: 'link field-name', testid: 'field-stats', attrs18n: { title: 'explorer.show_top' }, on: { click: () => onStats(k) } }, k);
  const rows = [...own, ...fields].map(([k, v]) => h('tr', { dataset: { field: k } }, h('th', { scope: 'row' }, name(k)), valueCell(k, v, onFilter)));
  return h('div', { class: 'event-detail', testid: 'event-detail' },
    h('p', { class: 'muted small' }, h('span', { i18n: 'field.tenant' }), `: ${event.tenant} · `, h('span', { i18n: 'field.event_id' }), ': ', h('code', null, event.id)),
    h('div', { class: 'event-detail-cols' },
      h('section', null, h('h3', { i18n: 'explorer.fields' }), h('table', { class: 'kv', testid: 'event-fields' }, h('tbody', null, rows))),
      h('section', null, h('h3', { i18n: 'alert.raw' }), jsonBlock(event.raw, 'event-raw'))));
}

function rangeForm(state, range) {
  const quick = h('div', { class: 'quick-ranges', role: 'group', attrs18n: { 'aria-label': 'explorer.quick_ranges' } },
    QUICK_RANGES.map((r) => h('button', {
      type: 'button',
      class: ['btn', 'btn-small', state.range === r ? 'active' : null],
      'aria-pressed': String(state.range === r),
      testid: `range-${r}`,
      i18n: `explorer.range_${r}`,
      on: { click: () => go({ q: state.q, range: r }) },
    })));
  const timeInput = (name, iso) => h('input', {
    type: 'text', name, value: toLocalInput(iso), class: 'time-input', autocomplete: 'off', spellcheck: 'false',
    placeholder: 'YYYY-MM-DD HH:mm:ss', pattern: '\\d{4}-\\d{2}-\\d{2}[ T]\\d{2}:\\d{2}(:\\d{2})?', testid: `explorer-${name}`,
  });
  const from = timeInput('from', range.since);
  const to = timeInput('to', range.until);
  return { quick, from, to };
}

export async function render(main, { params }) {
  const state = readState(params);
  const range = rangeOf(state);
  let cursor = null;
  let shown = 0;

  const q = h('textarea', { name: 'q', rows: 1, spellcheck: 'false', class: 'query-input', testid: 'explorer-q', attrs18n: { placeholder: 'explorer.q_placeholder' } });
  q.value = state.q;
  const { quick, from, to } = rangeForm(state, range);
  const form = h('form', { class: 'filters explorer-form', role: 'search', testid: 'explorer-form' },
    h('div', { class: 'field field-grow' }, h('label', { for: 'ex-q', i18n: 'explorer.query' }), q),
    field('ex-from', 'explorer.from', from),
    field('ex-to', 'explorer.to', to),
    h('div', { class: 'filter-buttons' },
      h('button', { type: 'submit', class: 'btn btn-primary', i18n: 'explorer.search', testid: 'explorer-search' })),
    quick);
  q.id = 'ex-q';
  const shownFrom = from.value;
  const shownTo = to.value;
  const submit = () => {
    if (!form.reportValidity()) return;
    const since = fromLocalInput(from.value);
    const until = fromLocalInput(to.value);
    const changed = from.value !== shownFrom || to.value !== shownTo;
    const next = since && until && (changed || !state.range)
      ? { q: q.value.trim(), from: since, to: until }
      : { q: q.value.trim(), range: state.range, from: state.from, to: state.to };
    if (hashOf(next) === location.hash) reload();
    else go(next);
  };
  form.addEventListener('submit', (ev) => { ev.preventDefault(); submit(); });
  q.addEventListener('keydown', (ev) => {
    if (ev.key === 'Enter' && !ev.shiftKey) { ev.preventDefault(); submit(); }
  });

  const errorSlot = h('div', { testid: 'explorer-error-slot' });
  const chartBox = h('div', { class: 'card explorer-hist' });
  const count = h('span', { class: 'muted', testid: 'events-count' });
  const tbody = h('tbody', { testid: 'events-tbody' });
  const table = h('table', { class: 'grid events-table', testid: 'events-table' },
    h('caption', { class: 'sr-only', i18n: 'explorer.title' }),
    h('thead', null, h('tr', null,
      h('th', { class: 'col-time' }, h('span', { i18n: 'field.time' }), h('span', { class: 'th-note', i18n: 'time.zone_short' })),
      h('th', { i18n: 'field.host' }),
      h('th', { i18n: 'field.source' }),
      h('th', { i18n: 'explorer.summary' }))),
    tbody);
  const empty = h('p', { class: 'muted', i18n: 'explorer.empty', hidden: true, testid: 'events-empty' });
  const more = h('button', { type: 'button', class: 'btn', i18n: 'common.load_more', hidden: true, testid: 'events-more', on: { click: () => loadPage(false) } });

  const addFilter = (name, value) => go({ ...state, q: narrowed(state.q, termFor(name, value)) });
  const statsBox = h('section', { class: 'card explorer-stats', hidden: true, testid: 'field-top', 'aria-live': 'polite' });

  /** The commonest values of a field among the events of the query and range (GET /events/stats). */
  async function showStats(name) {
    statsBox.hidden = false;
    fill(statsBox, loading());
    try {
      const s = await api('/events/stats', { query: { field: name, q: state.q, since: range.since, until: range.until, size: 10 } });
      const close = h('button', { type: 'button', class: 'btn btn-small', i18n: 'explorer.close_top', testid: 'field-top-close', on: { click: () => { statsBox.hidden = true; } } });
      fill(statsBox,
        h('div', { class: 'detail-head' }, h('h2', { i18n: 'explorer.top_values', vars: { field: name, n: s.events } }), close),
        h('table', { class: 'grid compact', testid: 'field-top-table', dataset: { field: name } },
          h('tbody', null,
            s.values.map((v) => h('tr', { testid: 'field-top-row', dataset: { value: v.value } },
              valueCell(name, v.value, addFilter), h('td', { class: 'num' }, String(v.count)))),
            s.other ? h('tr', null, h('td', { class: 'muted', i18n: 'explorer.other' }), h('td', { class: 'num' }, String(s.other))) : null)));
    } catch (e) {
      fill(statsBox, errorBox(e, 'field-top-error'));
    }
  }

  function row(event) {
    const open = h('button', { type: 'button', class: 'link expander', 'aria-expanded': 'false', testid: 'event-open' }, timeEl(event.time, { 'data-testid': 'event-time' }));
    const tr = h('tr', { class: 'event-row', testid: 'event-row', dataset: { id: event.id } },
      h('td', { class: 'col-time' }, open),
      h('td', { testid: 'event-host' }, event.host ?? '—'),
      h('td', { testid: 'event-source' }, event.source ?? '—'),
      h('td', { class: 'summary', testid: 'event-summary' }, summaryOf(event)));
    let detail = null;
    open.addEventListener('click', () => {
      if (detail) {
        detail.remove();
        detail = null;
        open.setAttribute('aria-expanded', 'false');
        tr.classList.remove('active');
        return;
      }
      detail = h('tr', { class: 'event-detail-row', testid: 'event-detail-row', dataset: { id: event.id } },
        h('td', { colspan: 4 }, eventDetail(event, addFilter, showStats)));
      tr.after(detail);
      open.setAttribute('aria-expanded', 'true');
      tr.classList.add('active');
    });
    return tr;
  }

  function showCount(total) {
    const key = cursor ? 'explorer.count_more' : 'explorer.count';
    count.dataset.i18n = key;
    count.dataset.i18nVars = JSON.stringify({ n: shown, total });
    count.textContent = t(key, { n: shown, total });
    empty.hidden = shown > 0;
    more.hidden = !cursor;
  }

  let total = '…';
  async function loadPage(first) {
    more.disabled = true;
    try {
      const page = await api('/events', { query: { q: state.q, since: range.since, until: range.until, limit: PAGE, cursor: first ? null : cursor } });
      if (first) {
        clear(tbody);
        shown = 0;
      }
      for (const e of page.items) tbody.append(row(e));
      shown += page.items.length;
      cursor = page.next_cursor ?? null;
      showCount(total);
      table.dataset.loaded = 'true';
    } catch (e) {
      showError(e);
    } finally {
      more.disabled = false;
    }
  }

  async function loadHistogram() {
    chartBox.hidden = false;
    fill(chartBox, loading());
    try {
      const hist = await api('/events/histogram', { query: { q: state.q, since: range.since, until: range.until, buckets: BUCKETS } });
      total = hist.total;
      showCount(total);
      fill(chartBox, histogramChart(hist, {
        title: 'explorer.histogram',
        desc: 'explorer.histogram_desc',
        onZoom: (start, end) => go({ q: state.q, from: start, to: end }),
      }));
    } catch (e) {
      clear(chartBox);
      if (e.status !== 400) fill(chartBox, errorBox(e, 'histogram-error'));
      else chartBox.hidden = true;
    }
  }

  let errorShown = false;
  function showError(e) {
    if (errorShown) return;
    errorShown = true;
    fill(errorSlot, e.status === 400 ? queryError(e, state.q) : errorBox(e, 'events-error'));
    if (e.status === 400 && e.problem?.column) {
      const at = Math.min(state.q.length, e.problem.column - 1);
      q.focus();
      q.setSelectionRange(at, state.q.length);
    }
  }

  function reload() {
    errorShown = false;
    clear(errorSlot);
    table.dataset.loaded = 'false';
    return Promise.all([loadHistogram(), loadPage(true)]);
  }

  main.append(h('section', { class: 'view explorer', testid: 'view-events', dataset: { since: range.since, until: range.until, q: state.q } },
    h('div', { class: 'view-head' }, h('h1', { i18n: 'explorer.title' }), count, h('span', { class: 'muted small', i18n: 'time.zone_note' })),
    form, errorSlot, chartBox, statsBox,
    h('div', { class: 'table-wrap' }, table, empty, more)));
  document.title = `${t('explorer.title')} · ${t('app.title')}`;
  await reload();
  return null;
}
