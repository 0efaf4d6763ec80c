// What the incident views share: statuses, the table, versions and writes with 409 handling.

import { api } from './api.js';
import { h, severityBadge, statusBadge } from './dom.js';
import { t } from './i18n.js';
import { timeEl } from './time.js';
import { toast } from './widgets.js';
import { drillBadge } from './drills_common.js';

export const INCIDENT_STATUSES = [
  'new', 'triaged', 'handed_off', 'acknowledged', 'responding', 'resolved', 'closed', 'closed_false_positive',
];

/** The incident of a list item or of GET /incidents/{id} (either the record or {incident, ...}). */
export function incidentOf(data) {
  return data?.incident ?? data;
}

/** The version a write must send: on the incident, or beside it. */
export function versionOf(data) {
  return incidentOf(data)?.version ?? data?.version ?? null;
}

/** The items of a list answer: a page {items}, or a bare list. */
export function itemsOf(data) {
  if (Array.isArray(data)) return data;
  return data?.items ?? data?.alerts ?? data?.entries ?? [];
}

export function pendingHandOff(inc) {
  const last = inc?.handoffs?.at(-1);
  return last && last.state === 'pending' ? last : null;
}

/**
 * POST/PUT a change to an incident with its version. On 409 `conflict` (someone changed it
 * since it was read) says so and returns {conflict: true}; other errors (including 409
 * `invalid_transition`) are thrown for the caller to show.
 */
export async function write(path, { method = 'POST', json }) {
  try {
    return { ok: true, result: await api(path, { method, json }) };
  } catch (e) {
    if (e.status === 409 && (e.code ?? 'conflict') === 'conflict') {
      toast(t('incident.conflict'), 'error');
      return { ok: false, conflict: true };
    }
    throw e;
  }
}

export function breachFlags(inc) {
  const breached = inc?.deadlines?.breached ?? [];
  return breached.map((b) => h('span', { class: 'badge breach', i18n: `deadline.breached_${b}`, testid: `breached-${b}` }));
}

/** A dense table of incidents; `extra(inc)` may add a last cell (e.g. accept/reject). */
export function incidentTable(items, { testid = 'incidents-table', extra, extraHead } = {}) {
  return h(
    'table',
    { class: 'grid', testid },
    h('thead', null, h('tr', null,
      h('th', { class: 'col-time' }, h('span', { i18n: 'field.last_seen' }), h('span', { class: 'th-note', i18n: 'time.zone_short' })),
      h('th', { i18n: 'field.severity' }),
      h('th', { i18n: 'field.title' }),
      h('th', { i18n: 'field.status' }),
      h('th', { i18n: 'field.owner_unit' }),
      h('th', { i18n: 'field.assignee' }),
      h('th', { i18n: 'field.alert_count', class: 'num' }),
      h('th', { i18n: 'field.tenant' }),
      extraHead ? h('th', { i18n: extraHead }) : null)),
    h('tbody', null, items.map((raw) => {
      const inc = incidentOf(raw);
      const pending = pendingHandOff(inc);
      return h(
        'tr',
        { testid: 'incident-row', dataset: { id: inc.id, status: inc.status, severity: inc.severity } },
        h('td', { class: 'col-time' }, timeEl(inc.last_seen ?? inc.updated)),
        h('td', null, severityBadge(inc.severity)),
        h('td', { class: 'col-title' },
          h('a', { href: `#/incidents/${encodeURIComponent(inc.id)}`, testid: 'incident-link' }, inc.title),
          ' ', drillBadge(inc), ' ', breachFlags(inc)),
        h('td', null, statusBadge('incident_status', inc.status),
          pending ? h('span', { class: 'muted small' }, ` → ${pending.to_unit}`) : null),
        h('td', { testid: 'incident-owner' }, inc.owner_unit ?? h('span', { i18n: 'incident.owner_soc' })),
        h('td', null, inc.assignee ?? '—'),
        h('td', { class: 'num' }, inc.alert_count ?? inc.alerts?.length ?? 0),
        h('td', null, inc.tenant),
        extra ? h('td', { class: 'row-actions' }, extra(raw)) : null,
      );
    })),
  );
}
