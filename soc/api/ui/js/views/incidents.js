// Incidents, newest first, with filters kept in the URL hash.

import { api } from '../api.js';
import { fill, h } from '../dom.js';
import { t } from '../i18n.js';
import { currentUser } from '../session.js';
import { on } from '../stream.js';
import { INCIDENT_STATUSES, incidentTable, itemsOf } from '../incidents_common.js';
import { SEVERITIES } from './alerts.js';
import { errorBox, field, loading } from '../widgets.js';

const KEYS = ['status', 'severity', 'tenant', 'owner_unit', 'assignee', 'q', 'open'];

export async function render(main, { params }) {
  const filters = Object.fromEntries(KEYS.map((k) => [k, params.get(k) ?? '']));
  let cursor = null;
  let items = [];

  const select = (name, values, group) =>
    h('select', { name, testid: `filter-${name}` },
      h('option', { value: '', i18n: 'common.any' }),
      values.map((v) => h('option', { value: v, selected: filters[name] === v, i18n: `${group}.${v}` })));
  const input = (name, extra = {}) => h('input', { name, value: filters[name], autocomplete: 'off', testid: `filter-${name}`, ...extra });
  const me = currentUser();
  const form = h(
    'form',
    { class: 'filters', testid: 'incidents-filters', role: 'search' },
    field('fi-status', 'field.status', select('status', INCIDENT_STATUSES, 'incident_status')),
    field('fi-severity', 'field.severity', select('severity', SEVERITIES, 'severity')),
    field('fi-tenant', 'field.tenant', input('tenant')),
    field('fi-owner', 'field.owner_unit', input('owner_unit')),
    field('fi-assignee', 'field.assignee', input('assignee')),
    field('fi-q', 'field.q', input('q', { type: 'search' })),
    h('label', { class: 'check' },
      h('input', { type: 'checkbox', name: 'open', value: 'true', checked: filters.open === 'true', testid: 'filter-open' }),
      ' ', h('span', { i18n: 'incidents.open_only' })),
    h('div', { class: 'filter-buttons' },
      h('button', { type: 'submit', class: 'btn btn-primary', i18n: 'filter.apply', testid: 'filter-apply' }),
      me?.name ? h('button', { type: 'button', class: 'btn', i18n: 'incidents.mine', testid: 'filter-mine', on: { click: () => { location.hash = `#/incidents?assignee=${encodeURIComponent(me.name)}`; } } }) : null,
      h('button', { type: 'reset', class: 'btn', i18n: 'filter.reset', testid: 'filter-reset' })),
  );
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    const q = new URLSearchParams();
    for (const [k, v] of new FormData(form)) if (String(v).trim()) q.set(k, String(v).trim());
    const next = `#/incidents${q.toString() ? `?${q}` : ''}`;
    if (next === location.hash) load(true);
    else location.hash = next;
  });
  form.addEventListener('reset', (ev) => {
    ev.preventDefault();
    location.hash = '#/incidents';
  });

  const body = h('div', { class: 'table-wrap' }, loading());
  const more = h('button', { type: 'button', class: 'btn', i18n: 'common.load_more', hidden: true, testid: 'load-more', on: { click: () => load(false) } });
  const updated = h('button', { type: 'button', class: 'btn notice', hidden: true, i18n: 'incidents.changed_notice', testid: 'incidents-changed', on: { click: () => load(true) } });

  async function load(first) {
    try {
      const page = await api('/incidents', { query: { ...filters, limit: 50, cursor: first ? null : cursor } });
      items = first ? itemsOf(page) : items.concat(itemsOf(page));
      cursor = page?.next_cursor ?? null;
      updated.hidden = true;
      fill(body, 
        items.length ? incidentTable(items) : h('p', { class: 'muted', i18n: 'incidents.empty', testid: 'incidents-empty' }),
      );
      more.hidden = !cursor;
    } catch (e) {
      fill(body, errorBox(e, 'incidents-error'));
    }
  }

  const unsubscribe = on('incident', () => { updated.hidden = false; });
  main.append(
    h('section', { class: 'view', testid: 'view-incidents' },
      h('div', { class: 'view-head' }, h('h1', { i18n: 'incidents.title' })),
      form, updated, body, more),
  );
  document.title = `${t('incidents.title')} · ${t('app.title')}`;
  await load(true);
  return unsubscribe;
}
