// Threat intel (#/intel): the TAXII feeds polled (GET /api/v1/intel/feeds: last poll, last
// success, last error, indicators by type), every source of indicators with its counts,
// and the indicators (GET /api/v1/indicators: search, type and state filters, more pages).
// Leads (intel:manage) paste a plain list (POST /api/v1/indicators; each line taken or
// reported with its number), revoke an indicator, and retro-hunt one over the stored events
// (intel_hunt.js). Times in Vietnam time.

import { api } from '../api.js';
import { fill, h } from '../dom.js';
import { t } from '../i18n.js';
import { can, currentUser } from '../session.js';
import { timeEl } from '../time.js';
import { errorBox, loading, toast } from '../widgets.js';
import { retroHunt } from '../intel_hunt.js';

export const TYPES = ['ip', 'cidr', 'domain', 'url', 'hash'];
export const TLPS = ['clear', 'green', 'amber', 'amber+strict', 'red'];
const PAGE = 50;

function tlpBadge(tlp) {
  return h('span', { class: `badge tlp tlp-${tlp.replace('+', '-')}`, testid: 'intel-tlp', 'data-value': tlp }, `TLP:${tlp.toUpperCase()}`);
}

function when(iso, testid) {
  return iso ? timeEl(iso, { 'data-testid': testid }) : h('span', { class: 'muted', testid }, '—');
}

/** "IP 1 · Network 2": the types' names follow the language switch. */
function countsText(counts) {
  const kinds = TYPES.filter((k) => counts?.[k]);
  if (!kinds.length) return '0';
  return kinds.flatMap((k, n) => [n ? ' · ' : null, h('span', { i18n: `intel.type.${k}` }), ` ${counts[k]}`]);
}

function feedRow(f) {
  const s = f.state ?? {};
  return h('tr', { testid: 'intel-feed-row', dataset: { feed: f.name } },
    h('td', null, h('strong', { testid: 'intel-feed-name' }, f.name),
      h('div', { class: 'small muted' }, h('code', null, f.collection_url))),
    h('td', { testid: 'intel-feed-tenant' }, f.tenant),
    h('td', { class: 'col-time' }, when(s.last_poll, 'intel-feed-last-poll')),
    h('td', { class: 'col-time' }, when(s.last_success, 'intel-feed-last-success')),
    h('td', { testid: 'intel-feed-error' },
      s.last_error ? h('span', { class: 'breached' }, s.last_error) : h('span', { class: 'muted', i18n: 'intel.no_error' })),
    h('td', { testid: 'intel-feed-counts' }, countsText(f.counts)));
}

function sourceRow(s) {
  return h('tr', { testid: 'intel-source-row', dataset: { source: s.source, tenant: s.tenant } },
    h('td', { testid: 'intel-source-name' }, s.source),
    h('td', null, s.tenant),
    ...TYPES.map((k) => h('td', { class: 'num', testid: `intel-source-${k}` }, String(s.active?.[k] ?? 0))),
    h('td', { class: 'num', testid: 'intel-source-revoked' }, String(s.revoked ?? 0)));
}

export async function render(main) {
  let stopped = false;
  let cursor = null;
  const manage = can('intel:manage');
  const hunts = manage && can('hunts:run');
  const huntSlot = h('div', { testid: 'intel-hunt' });
  const mine = currentUser()?.tenants ?? [];
  const everyTenant = mine.includes('*');
  const errorSlot = h('div');
  const feedsBody = h('tbody', { testid: 'intel-feeds-tbody' });
  const sourcesBody = h('tbody', { testid: 'intel-sources-tbody' });
  const noFeeds = h('p', { class: 'muted', i18n: 'intel.no_feeds', hidden: true, testid: 'intel-no-feeds' });
  const th = (i18n, cls) => h('th', { class: cls, i18n });
  const timeTh = (i18n) => h('th', { class: 'col-time' }, h('span', { i18n }), h('span', { class: 'th-note', i18n: 'time.zone_short' }));
  const feedsTable = h('table', { class: 'grid', testid: 'intel-feeds' },
    h('thead', null, h('tr', null, th('intel.feed'), th('field.tenant'), timeTh('intel.last_poll'),
      timeTh('intel.last_success'), th('intel.last_error'), th('intel.counts'))),
    feedsBody);
  const sourcesTable = h('table', { class: 'grid', testid: 'intel-sources' },
    h('thead', null, h('tr', null, th('intel.source'), th('field.tenant'),
      ...TYPES.map((k) => th(`intel.type.${k}`, 'num')), th('intel.revoked', 'num'))),
    sourcesBody);

  // the indicators, with their filters
  const q = h('input', { type: 'search', testid: 'intel-q', attrs18n: { placeholder: 'intel.search' } });
  const typeSel = h('select', { testid: 'intel-type' },
    h('option', { value: '', i18n: 'intel.all_types' }), TYPES.map((k) => h('option', { value: k, i18n: `intel.type.${k}` })));
  const stateSel = h('select', { testid: 'intel-state' },
    h('option', { value: '', i18n: 'intel.all_states' }),
    h('option', { value: 'active', i18n: 'intel.state.active' }),
    h('option', { value: 'revoked', i18n: 'intel.state.revoked' }));
  const listBody = h('tbody', { testid: 'intel-indicators-tbody' });
  const more = h('button', { type: 'button', class: 'btn btn-small', i18n: 'intel.more', hidden: true, testid: 'intel-more', on: { click: () => loadIndicators(true) } });
  const empty = h('p', { class: 'muted', i18n: 'intel.empty', hidden: true, testid: 'intel-empty' });
  const listTable = h('table', { class: 'grid', testid: 'intel-indicators' },
    h('thead', null, h('tr', null, th('intel.type_col'), th('intel.value'), th('intel.source'), th('field.tenant'),
      th('intel.tlp'), th('intel.confidence', 'num'), timeTh('intel.valid_until'), timeTh('intel.changed'), th('intel.state_col'),
      manage ? th('intel.actions') : null)),
    listBody);

  function indicatorRow(i) {
    // a national (*) indicator is revoked only by a lead of every tenant (the API checks too)
    const revoke = manage && !i.revoked && (i.tenant !== '*' || everyTenant)
      ? h('button', { type: 'button', class: 'btn btn-small', i18n: 'intel.revoke', testid: 'intel-revoke', on: { click: () => doRevoke(i) } })
      : null;
    const hunt = hunts && !i.revoked
      ? h('button', { type: 'button', class: 'btn btn-small', i18n: 'intel.hunt', testid: 'intel-hunt-start', on: { click: () => retroHunt(i, huntSlot) } })
      : null;
    return h('tr', { testid: 'intel-indicator-row', dataset: { id: i.id, value: i.value, state: i.revoked ? 'revoked' : 'active' } },
      h('td', { i18n: `intel.type.${i.type}` }),
      h('td', null, h('code', { testid: 'intel-value' }, i.value), i.name ? h('div', { class: 'small muted' }, i.name) : null),
      h('td', { testid: 'intel-source' }, i.source),
      h('td', null, i.tenant),
      h('td', null, tlpBadge(i.tlp)),
      h('td', { class: 'num' }, i.confidence ?? '—'),
      h('td', { class: 'col-time' }, when(i.valid_until, 'intel-valid-until')),
      h('td', { class: 'col-time' }, when(i.modified, 'intel-changed')),
      h('td', { testid: 'intel-state', i18n: `intel.state.${i.revoked ? 'revoked' : 'active'}` }),
      manage ? h('td', null, revoke, hunt ? ' ' : null, hunt) : null);
  }

  async function doRevoke(i) {
    if (!window.confirm(t('intel.revoke_confirm', { value: i.value }))) return;
    try {
      await api(`/indicators/${encodeURIComponent(i.id)}/revoke`, { method: 'POST' });
      toast(t('intel.revoked_toast', { value: i.value }), 'ok');
      await Promise.all([loadIndicators(false), loadFeeds()]);
    } catch (e) {
      fill(errorSlot, errorBox(e, 'intel-error'));
    }
  }

  async function loadFeeds() {
    try {
      const data = await api('/intel/feeds');
      if (stopped) return;
      fill(feedsBody, data.feeds.map(feedRow));
      feedsTable.hidden = data.feeds.length === 0;
      noFeeds.hidden = data.feeds.length > 0;
      fill(sourcesBody, data.sources.map(sourceRow));
    } catch (e) {
      if (!stopped) fill(errorSlot, errorBox(e, 'intel-error'));
    }
  }

  async function loadIndicators(next) {
    const query = { limit: PAGE, q: q.value.trim(), type: typeSel.value, state: stateSel.value };
    if (next && cursor) query.cursor = cursor;
    try {
      const page = await api('/indicators', { query });
      if (stopped) return;
      const rows = page.items.map(indicatorRow);
      if (next) listBody.append(...rows);
      else fill(listBody, rows);
      cursor = page.next_cursor;
      more.hidden = !cursor;
      empty.hidden = listBody.children.length > 0;
      listTable.hidden = listBody.children.length === 0;
    } catch (e) {
      if (!stopped) fill(errorSlot, errorBox(e, 'intel-error'));
    }
  }

  // the paste box (leads)
  let pasteBox = null;
  if (manage) {
    const text = h('textarea', { id: 'intel-paste-text', rows: 6, testid: 'intel-paste-text', attrs18n: { placeholder: 'intel.paste_hint' } });
    const source = h('input', { id: 'intel-paste-source', type: 'text', testid: 'intel-paste-source', autocomplete: 'off' });
    const tenant = h('input', { id: 'intel-paste-tenant', type: 'text', testid: 'intel-paste-tenant', autocomplete: 'off' });
    tenant.value = everyTenant ? '*' : (mine[0] ?? '');
    const tlp = h('select', { id: 'intel-paste-tlp', testid: 'intel-paste-tlp' }, TLPS.map((x) => h('option', { value: x, selected: x === 'amber' }, `TLP:${x.toUpperCase()}`)));
    const report = h('div', { testid: 'intel-paste-report' });
    const submit = h('button', { type: 'submit', class: 'btn btn-primary', i18n: 'intel.paste_submit', testid: 'intel-paste-submit' });
    const lab = (forId, i18n) => h('label', { for: forId, i18n });
    pasteBox = h('form', { class: 'intel-paste', testid: 'intel-paste', on: { submit: async (ev) => {
      ev.preventDefault();
      if (!text.value.trim()) return;
      submit.disabled = true;
      try {
        const body = { text: text.value, tenant: tenant.value.trim() || '*', tlp: tlp.value };
        if (source.value.trim()) body.source = source.value.trim();
        const r = await api('/indicators', { method: 'POST', json: body });
        fill(report,
          h('p', { testid: 'intel-paste-summary', i18n: 'intel.paste_report', vars: { n: r.indicators, stored: r.stored, rejected: r.rejected, source: r.source } }),
          r.rejects.length ? h('ul', { class: 'small', testid: 'intel-paste-rejects' },
            r.rejects.map((x) => h('li', { testid: 'intel-paste-reject' }, `${x.where}: ${x.reason}`))) : null);
        if (!r.rejected) text.value = '';
        await Promise.all([loadIndicators(false), loadFeeds()]);
      } catch (e) {
        fill(report, errorBox(e, 'intel-paste-error'));
      } finally {
        submit.disabled = false;
      }
    } } },
    h('h2', { i18n: 'intel.paste_title' }),
    h('div', { class: 'field' }, lab('intel-paste-text', 'intel.paste_label'), text),
    h('div', { class: 'filters' },
      h('div', { class: 'field' }, lab('intel-paste-source', 'intel.paste_source'), source),
      h('div', { class: 'field' }, lab('intel-paste-tenant', 'field.tenant'), tenant),
      h('div', { class: 'field' }, lab('intel-paste-tlp', 'intel.tlp'), tlp),
      submit),
    report);
  }

  let debounce = null;
  q.addEventListener('input', () => {
    clearTimeout(debounce);
    debounce = setTimeout(() => loadIndicators(false), 250);
  });
  typeSel.addEventListener('change', () => loadIndicators(false));
  stateSel.addEventListener('change', () => loadIndicators(false));

  const lab = (forId, i18n, control) => {
    control.id = forId;
    return h('div', { class: 'field' }, h('label', { for: forId, i18n }), control);
  };
  main.append(h('section', { class: 'view', testid: 'view-intel' },
    h('div', { class: 'view-head' }, h('h1', { i18n: 'intel.title' }), h('span', { class: 'muted small', i18n: 'intel.lead' })),
    errorSlot,
    h('h2', { i18n: 'intel.feeds' }),
    h('div', { class: 'table-wrap' }, feedsTable, noFeeds),
    h('h2', { i18n: 'intel.sources' }),
    h('div', { class: 'table-wrap' }, sourcesTable),
    pasteBox,
    h('h2', { i18n: 'intel.indicators' }),
    huntSlot,
    h('div', { class: 'filters' }, lab('intel-q-in', 'intel.search', q), lab('intel-type-in', 'intel.type_col', typeSel), lab('intel-state-in', 'intel.state_col', stateSel)),
    h('div', { class: 'table-wrap' }, loading(), listTable, empty, more)));
  document.title = `${t('intel.title')} · ${t('app.title')}`;
  await Promise.all([loadFeeds(), loadIndicators(false)]);
  main.querySelector('[data-testid=loading]')?.remove();
  return () => {
    stopped = true;
    clearTimeout(debounce);
  };
}
