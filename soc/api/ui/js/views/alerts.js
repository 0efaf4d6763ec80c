// The alert queue: filters (kept in the URL hash), newest first, "load more", bulk status
// changes, the alert with its event beside the table, and new alerts live from /stream.

import { api } from '../api.js';
import { clear, enumText, fill, h, severityBadge, statusBadge } from '../dom.js';
import { t } from '../i18n.js';
import { can, currentUser } from '../session.js';
import { on, streamState } from '../stream.js';
import { timeEl } from '../time.js';
import { drillBadge } from '../drills_common.js';
import { errorBox, field, jsonBlock, kvTable, loading, toast } from '../widgets.js';

export const SEVERITIES = ['critical', 'high', 'medium', 'low', 'informational'];
const STATUSES = ['open', 'acknowledged', 'closed'];
const PAGE = 50;

function readFilters(params) {
  return {
    severity: params.getAll('severity').filter((s) => SEVERITIES.includes(s)),
    status: params.get('status') ?? '',
    tenant: params.get('tenant') ?? '',
    host: params.get('host') ?? '',
    q: params.get('q') ?? '',
  };
}

function hashOf(filters) {
  const q = new URLSearchParams();
  for (const s of filters.severity) q.append('severity', s);
  for (const k of ['status', 'tenant', 'host', 'q']) if (filters[k]) q.set(k, filters[k]);
  const s = q.toString();
  return `#/alerts${s ? `?${s}` : ''}`;
}

function matches(alert, f) {
  if (f.severity.length && !f.severity.includes(alert.severity)) return false;
  if (f.status && (alert.status ?? 'open') !== f.status) return false;
  if (f.tenant && alert.tenant !== f.tenant) return false;
  if (f.host && (alert.host ?? '').toLowerCase() !== f.host.toLowerCase()) return false;
  return true;
}

function filterForm(filters) {
  const me = currentUser();
  const sev = h(
    'fieldset',
    { class: 'sev-filter', testid: 'filter-severity' },
    h('legend', { i18n: 'field.severity' }),
    SEVERITIES.map((s) =>
      h(
        'label',
        { class: 'check' },
        h('input', { type: 'checkbox', name: 'severity', value: s, checked: filters.severity.includes(s), testid: `filter-severity-${s}` }),
        ' ',
        enumText('severity', s),
      ),
    ),
  );
  const status = h(
    'select',
    { name: 'status', testid: 'filter-status' },
    h('option', { value: '', i18n: 'common.any' }),
    STATUSES.map((s) => h('option', { value: s, selected: filters.status === s, i18n: `alert_status.${s}` })),
  );
  const tenants = (me?.tenants ?? []).filter((x) => x !== '*');
  const tenant =
    tenants.length && !me.tenants.includes('*')
      ? h('select', { name: 'tenant', testid: 'filter-tenant' },
          h('option', { value: '', i18n: 'common.all_mine' }),
          tenants.map((x) => h('option', { value: x, selected: filters.tenant === x }, x)))
      : h('input', { name: 'tenant', value: filters.tenant, testid: 'filter-tenant', autocomplete: 'off' });
  const host = h('input', { name: 'host', value: filters.host, testid: 'filter-host', autocomplete: 'off' });
  const q = h('input', { name: 'q', type: 'search', value: filters.q, testid: 'filter-q', attrs18n: { placeholder: 'filter.q_placeholder' } });
  return h(
    'form',
    { class: 'filters', testid: 'alerts-filters', role: 'search' },
    sev,
    field('f-status', 'field.status', status),
    field('f-tenant', 'field.tenant', tenant),
    field('f-host', 'field.host', host),
    field('f-q', 'field.q', q),
    h('div', { class: 'filter-buttons' },
      h('button', { type: 'submit', class: 'btn btn-primary', i18n: 'filter.apply', testid: 'filter-apply' }),
      h('button', { type: 'reset', class: 'btn', i18n: 'filter.reset', testid: 'filter-reset' })),
  );
}

export async function render(main, { params }) {
  const filters = readFilters(params);
  const triage = can('alerts:triage');
  const selected = new Set();
  let cursor = null;
  const rows = new Map();

  const form = filterForm(filters);
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    const data = new FormData(form);
    const next = hashOf({
      severity: data.getAll('severity'),
      status: data.get('status') ?? '',
      tenant: (data.get('tenant') ?? '').trim(),
      host: (data.get('host') ?? '').trim(),
      q: (data.get('q') ?? '').trim(),
    });
    if (next === location.hash) reload();
    else location.hash = next;
  });
  form.addEventListener('reset', (ev) => {
    ev.preventDefault();
    location.hash = '#/alerts';
  });

  const live = h('span', { class: 'live', testid: 'live-status' });
  const showLive = (state) => {
    live.dataset.state = state;
    fill(live, h('span', { class: 'dot', 'aria-hidden': 'true' }), ' ', h('span', { i18n: `live.${state}` }));
  };
  showLive(streamState());
  const count = h('span', { class: 'muted', testid: 'alerts-count' });
  const errorSlot = h('div');
  const notice = h('button', { type: 'button', class: 'btn notice', hidden: true, testid: 'new-alerts-notice', on: { click: () => reload() } });
  let noticeCount = 0;

  const selectAll = h('input', { type: 'checkbox', testid: 'select-all', attrs18n: { 'aria-label': 'alerts.select_all' } });
  const tbody = h('tbody', { testid: 'alerts-tbody' });
  const table = h(
    'table',
    { class: 'grid', testid: 'alerts-table' },
    h('caption', { class: 'sr-only', i18n: 'alerts.title' }),
    h('thead', null, h('tr', null,
      triage ? h('th', { class: 'col-check' }, selectAll) : null,
      h('th', { class: 'col-time' }, h('span', { i18n: 'field.time' }), h('span', { class: 'th-note', i18n: 'time.zone_short' })),
      h('th', { i18n: 'field.severity' }),
      h('th', { i18n: 'field.rule' }),
      h('th', { i18n: 'field.host' }),
      h('th', { i18n: 'field.tenant' }),
      h('th', { i18n: 'field.status' }))),
    tbody,
  );
  const empty = h('p', { class: 'muted', i18n: 'alerts.empty', hidden: true, testid: 'alerts-empty' });
  const more = h('button', { type: 'button', class: 'btn', i18n: 'common.load_more', hidden: true, testid: 'load-more', on: { click: () => loadPage(false) } });
  const detail = h('aside', { class: 'detail', hidden: true, testid: 'alert-detail', 'aria-live': 'polite' });

  const selCount = h('span', { testid: 'selected-count', i18n: 'alerts.selected', vars: { n: 0 } });
  const bulkButtons = [
    ['acknowledged', 'alerts.bulk_acknowledge'],
    ['closed', 'alerts.bulk_close'],
    ['open', 'alerts.bulk_reopen'],
  ].map(([status, key]) =>
    h('button', { type: 'button', class: 'btn', i18n: key, disabled: true, testid: `bulk-${status}`, on: { click: () => bulk(status) } }));
  const bulkbar = triage ? h('div', { class: 'bulkbar', testid: 'bulkbar' }, selCount, bulkButtons) : null;

  function updateSelection() {
    selCount.dataset.i18nVars = JSON.stringify({ n: selected.size });
    selCount.textContent = t('alerts.selected', { n: selected.size });
    for (const b of bulkButtons) b.disabled = selected.size === 0;
    selectAll.checked = rows.size > 0 && selected.size === rows.size;
    selectAll.indeterminate = selected.size > 0 && selected.size < rows.size;
  }

  selectAll.addEventListener('change', () => {
    for (const [id, tr] of rows) {
      const box = tr.querySelector('input[type=checkbox]');
      box.checked = selectAll.checked;
      if (selectAll.checked) selected.add(id);
      else selected.delete(id);
    }
    updateSelection();
  });

  function row(alert, fresh = false) {
    const box = triage
      ? h('input', {
          type: 'checkbox',
          testid: 'alert-select',
          attrs18n: { 'aria-label': 'alerts.select_one' },
          on: { change: (ev) => { if (ev.target.checked) selected.add(alert.id); else selected.delete(alert.id); updateSelection(); } },
        })
      : null;
    const tr = h(
      'tr',
      { testid: 'alert-row', class: fresh ? 'fresh' : null, dataset: { id: alert.id, severity: alert.severity, status: alert.status ?? 'open', tenant: alert.tenant } },
      box ? h('td', { class: 'col-check' }, box) : null,
      h('td', { class: 'col-time' }, timeEl(alert.time, { 'data-testid': 'alert-time' })),
      h('td', null, severityBadge(alert.severity)),
      h('td', { class: 'col-title' }, h('button', { type: 'button', class: 'link', testid: 'alert-open', on: { click: () => openAlert(alert.id, tr) } }, alert.rule_title), drillBadge(alert) ? [' ', drillBadge(alert)] : null),
      h('td', { testid: 'alert-host' }, alert.host ?? '—'),
      h('td', { testid: 'alert-tenant' }, alert.tenant),
      h('td', { class: 'col-status' }, statusBadge('alert_status', alert.status ?? 'open')),
    );
    rows.set(alert.id, tr);
    return tr;
  }

  function showCount() {
    count.dataset.i18n = cursor ? 'alerts.count_more' : 'alerts.count';
    count.dataset.i18nVars = JSON.stringify({ n: rows.size });
    count.textContent = t(count.dataset.i18n, { n: rows.size });
    empty.hidden = rows.size > 0;
    more.hidden = !cursor;
  }

  async function loadPage(first) {
    clear(errorSlot);
    more.disabled = true;
    try {
      const page = await api('/alerts', {
        query: { severity: filters.severity, status: filters.status, tenant: filters.tenant, host: filters.host, q: filters.q, limit: PAGE, cursor: first ? null : cursor },
      });
      if (first) {
        clear(tbody);
        rows.clear();
        selected.clear();
      }
      for (const a of page.items) if (!rows.has(a.id)) tbody.append(row(a));
      cursor = page.next_cursor ?? null;
      showCount();
      updateSelection();
    } catch (e) {
      fill(errorSlot, errorBox(e, 'alerts-error'));
    } finally {
      more.disabled = false;
      table.setAttribute('aria-busy', 'false');
    }
  }

  function reload() {
    noticeCount = 0;
    notice.hidden = true;
    table.setAttribute('aria-busy', 'true');
    return loadPage(true);
  }

  async function bulk(status) {
    const ids = [...selected];
    try {
      const res = await api('/alerts/bulk', { method: 'POST', json: { ids, status } });
      for (const id of ids) {
        const tr = rows.get(id);
        if (!tr) continue;
        tr.dataset.status = status;
        tr.querySelector('.col-status').replaceChildren(statusBadge('alert_status', status));
        tr.querySelector('input[type=checkbox]').checked = false;
      }
      selected.clear();
      updateSelection();
      toast(t('alerts.bulk_done', { n: res?.updated ?? ids.length }), 'ok');
      if (filters.status && filters.status !== status) await reload();
    } catch (e) {
      toast(`${t('error.prefix')} ${e.detail}`, 'error');
    }
  }

  async function openAlert(id, tr) {
    for (const r of rows.values()) r.classList.remove('active');
    tr?.classList.add('active');
    tr?.classList.remove('fresh');
    detail.hidden = false;
    fill(detail, loading());
    try {
      const a = await api(`/alerts/${encodeURIComponent(id)}`);
      fill(detail, alertDetail(a, () => { detail.hidden = true; tr?.classList.remove('active'); tr?.querySelector('button')?.focus(); }));
      detail.querySelector('h2')?.focus();
    } catch (e) {
      fill(detail, errorBox(e, 'alert-error'));
    }
  }

  const unsubscribe = [
    on('state', showLive),
    on('alert', async (data) => {
      if (!data?.id || rows.has(data.id) || !matches({ status: 'open', ...data }, filters)) return;
      if (filters.q) {
        noticeCount += 1;
        notice.dataset.i18n = 'alerts.new_notice';
        notice.dataset.i18nVars = JSON.stringify({ n: noticeCount });
        notice.textContent = t('alerts.new_notice', { n: noticeCount });
        notice.hidden = false;
        return;
      }
      let alert = data;
      if (!alert.rule_title || !alert.time) {
        try {
          alert = await api(`/alerts/${encodeURIComponent(data.id)}`);
        } catch {
          return;
        }
      }
      if (rows.has(alert.id) || !matches(alert, filters)) return;
      tbody.prepend(row(alert, true));
      showCount();
      updateSelection();
    }),
  ];

  main.append(
    h(
      'section',
      { class: 'view', testid: 'view-alerts' },
      h('div', { class: 'view-head' }, h('h1', { i18n: 'alerts.title' }), count, live),
      form,
      errorSlot,
      bulkbar,
      notice,
      h('div', { class: 'split' }, h('div', { class: 'table-wrap' }, table, empty, more), detail),
    ),
  );
  document.title = `${t('alerts.title')} · ${t('app.title')}`;
  await reload();
  return () => unsubscribe.forEach((u) => u());
}

/** The alert with its rule and event: what the analyst reads to judge it. */
export function alertDetail(a, onClose) {
  const ev = a.event;
  const meta = [
    ['field.rule_id', a.rule_id],
    ['field.severity', severityBadge(a.severity)],
    ['field.status', statusBadge('alert_status', a.status ?? 'open')],
    ['field.time', timeEl(a.time, { 'data-testid': 'detail-time' })],
    ['field.created', timeEl(a.created)],
    ['field.host', a.host ?? '—'],
    ['field.tenant', a.tenant],
    ['field.source', a.source],
    ['field.logsource', [a.logsource?.product, a.logsource?.category, a.logsource?.service].filter(Boolean).join(' / ') || '—'],
    ['field.tags', (a.tags ?? []).length ? h('span', null, a.tags.map((x) => h('code', { class: 'tag' }, x))) : '—'],
    ['field.rule_author', a.rule_author ?? '—'],
    ['field.rule_version', a.rule_version ?? '—'],
    ['field.event_id', h('code', null, a.event_id)],
    a.incident_id ? ['field.incident', h('a', { href: `#/incidents/${encodeURIComponent(a.incident_id)}` }, a.incident_id)] : null,
    a.suppressed_by ? ['field.suppressed_by', h('code', { testid: 'detail-suppressed' }, a.suppressed_by)] : null,
  ].filter(Boolean);
  return h(
    'div',
    { class: 'detail-inner', dataset: { id: a.id } },
    h('div', { class: 'detail-head' },
      h('h2', { tabindex: -1, testid: 'detail-title' }, a.rule_title),
      drillBadge(a),
      onClose ? h('button', { type: 'button', class: 'btn btn-ghost', i18n: 'action.close_panel', testid: 'detail-close', on: { click: onClose } }) : null),
    h('dl', { class: 'meta' }, meta.map(([k, v]) => [h('dt', { i18n: k }), h('dd', null, v)])),
    ev
      ? [
          h('h3', { i18n: 'alert.fields' }),
          kvTable(ev.fields, 'event-fields'),
          h('details', { class: 'raw' }, h('summary', { i18n: 'alert.raw' }), jsonBlock(ev.raw, 'event-raw')),
        ]
      : h('p', { class: 'muted', i18n: 'alert.no_event' }),
  );
}
