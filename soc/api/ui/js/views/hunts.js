// Retro-hunts: a Sigma rule over the stored events of a range (#/hunts, #/hunts/<id>).
// Leads start them (rule ids or pasted/uploaded YAML, range in Vietnam time, tenants,
// preview or raise); analysts read them. A hunt runs on the server; the page polls it
// while it is queued or running, and lists its first matches with their alert and event.

import { api } from '../api.js';
import { enumText, fill, h, severityBadge } from '../dom.js';
import { t } from '../i18n.js';
import { can, currentUser } from '../session.js';
import { timeEl } from '../time.js';
import { termFor } from '../explorer_query.js';
import { errorBox, field, loading, toast } from '../widgets.js';
import { alertDetail } from './alerts.js';

const POLL_MS = 1000;
const RUNNING = ['queued', 'running'];
const VN_OFFSET_MS = 7 * 3_600_000; // Asia/Ho_Chi_Minh: UTC+7 all year
const LOCAL_TIME = /^(\d{4}-\d{2}-\d{2})[ T](\d{2}:\d{2})(:\d{2})?$/;

/** "YYYY-MM-DD HH:mm" in Vietnam time of a UTC time (for the range inputs). */
function localInput(ms) {
  return new Date(ms + VN_OFFSET_MS).toISOString().slice(0, 16).replace('T', ' ');
}

/** A typed Vietnam time as UTC ISO, or '' when it is not one. */
function fromLocal(value) {
  const m = LOCAL_TIME.exec((value ?? '').trim());
  if (!m) return '';
  const ms = Date.parse(`${m[1]}T${m[2]}${m[3] ?? ':00'}+07:00`);
  return Number.isNaN(ms) ? '' : new Date(ms).toISOString();
}

function list(text) {
  return (text ?? '').split(/[\s,]+/).map((x) => x.trim()).filter(Boolean);
}

function stateBadge(state) {
  return enumText('hunt_state', state, { class: `badge hunt-${state}`, testid: 'hunt-state', 'data-value': state });
}

function progressOf(hunt) {
  const total = hunt.total ?? 0;
  return h('span', { class: 'hunt-progress', testid: 'hunt-progress', 'data-scanned': hunt.scanned },
    h('progress', { max: Math.max(1, total), value: Math.min(hunt.scanned, total || hunt.scanned) }),
    ' ',
    h('span', { i18n: 'hunts.scanned_of', vars: { n: hunt.scanned, total } }));
}

function rulesText(hunt) {
  return hunt.rules.map((r) => r.title).join(', ');
}

function tenantsText(hunt) {
  return hunt.tenants ? hunt.tenants.join(', ') : t('hunts.all_tenants');
}

/** The link that opens the event explorer on the second of the event. */
function eventLink(match) {
  const from = new Date(match.time);
  const to = new Date(from.getTime() + 1000);
  const q = new URLSearchParams({ from: from.toISOString(), to: to.toISOString() });
  if (match.host) q.set('q', `host:"${match.host.replaceAll('\\', '\\\\').replaceAll('"', '\\"')}"`);
  return h('a', { href: `#/events?${q}`, testid: 'match-event', title: match.event_id }, h('code', null, match.event_id.slice(0, 12)));
}

/** A correlation's window in the event explorer, with its group as the query. */
function windowLink(match) {
  const c = match.correlation;
  const q = new URLSearchParams({
    from: new Date(c.window_start).toISOString(),
    to: new Date(new Date(c.window_end).getTime() + 1000).toISOString(),
  });
  const terms = Object.entries(c.group ?? {}).map(([k, v]) => termFor(k, v)).join(' AND ');
  if (terms) q.set('q', terms);
  return h('a', { href: `#/events?${q}`, testid: 'match-window', title: c.condition ?? '' },
    h('span', { i18n: 'hunts.correlation_events', vars: { n: (c.event_ids ?? []).length } }));
}

function huntForm(onStarted) {
  const me = currentUser();
  const now = Date.now();
  const ids = h('input', { name: 'rule_ids', autocomplete: 'off', testid: 'hunt-rule-ids', attrs18n: { placeholder: 'hunts.rule_ids_placeholder' } });
  const text = h('textarea', { name: 'rule_text', rows: 10, spellcheck: 'false', class: 'code', testid: 'hunt-rule-text', attrs18n: { placeholder: 'hunts.rule_text_placeholder' } });
  const upload = h('input', { type: 'file', accept: '.yml,.yaml,text/yaml', testid: 'hunt-rule-file' });
  upload.addEventListener('change', async () => {
    const file = upload.files?.[0];
    if (file) text.value = await file.text();
  });
  const since = h('input', { name: 'since', value: localInput(now - 24 * 3_600_000), autocomplete: 'off', testid: 'hunt-since', placeholder: 'YYYY-MM-DD HH:mm' });
  const until = h('input', { name: 'until', value: localInput(now + 60_000), autocomplete: 'off', testid: 'hunt-until', placeholder: 'YYYY-MM-DD HH:mm' });
  const mine = (me?.tenants ?? []).filter((x) => x !== '*');
  const tenants = h('input', { name: 'tenants', autocomplete: 'off', testid: 'hunt-tenants', attrs18n: { placeholder: 'common.all_mine' }, list: 'hunt-tenant-list' });
  const datalist = h('datalist', { id: 'hunt-tenant-list' }, mine.map((x) => h('option', { value: x })));
  const mode = h('select', { name: 'mode', testid: 'hunt-mode' },
    h('option', { value: 'preview', i18n: 'hunt_mode.preview' }),
    h('option', { value: 'raise', i18n: 'hunt_mode.raise' }));
  const errorSlot = h('div', { testid: 'hunt-form-error' });
  const submit = h('button', { type: 'submit', class: 'btn btn-primary', i18n: 'hunts.start', testid: 'hunt-submit' });
  const form = h('form', { class: 'card hunt-form', testid: 'hunt-form' },
    h('h2', { i18n: 'hunts.new' }),
    field('h-rule-text', 'hunts.rule_text', text),
    h('div', { class: 'filters' },
      field('h-rule-file', 'hunts.rule_file', upload),
      field('h-rule-ids', 'hunts.rule_ids', ids),
      field('h-since', 'hunts.since', since),
      field('h-until', 'hunts.until', until),
      field('h-tenants', 'field.tenant', tenants),
      datalist,
      field('h-mode', 'hunts.mode', mode),
      h('div', { class: 'filter-buttons' }, submit)),
    h('p', { class: 'muted small', i18n: 'hunts.raise_note' }),
    errorSlot);
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    fill(errorSlot);
    const body = {
      since: fromLocal(since.value),
      until: fromLocal(until.value),
      mode: mode.value,
      tenants: list(tenants.value).length ? list(tenants.value) : null,
    };
    if (!body.since || !body.until) {
      fill(errorSlot, errorBox({ detail: t('hunts.bad_time') }, 'hunt-error'));
      return;
    }
    if (text.value.trim()) body.rule_text = text.value;
    else body.rule_ids = list(ids.value);
    submit.disabled = true;
    try {
      const hunt = await api('/hunts', { method: 'POST', json: body });
      toast(t('hunts.started'), 'ok');
      onStarted(hunt);
    } catch (e) {
      fill(errorSlot, errorBox(e, 'hunt-error'));
    } finally {
      submit.disabled = false;
    }
  });
  return form;
}

async function renderList(main) {
  const tbody = h('tbody', { testid: 'hunts-tbody' });
  const empty = h('p', { class: 'muted', i18n: 'hunts.empty', hidden: true, testid: 'hunts-empty' });
  const errorSlot = h('div');
  const table = h('table', { class: 'grid', testid: 'hunts-table' },
    h('caption', { class: 'sr-only', i18n: 'hunts.title' }),
    h('thead', null, h('tr', null,
      h('th', { class: 'col-time' }, h('span', { i18n: 'hunts.created' }), h('span', { class: 'th-note', i18n: 'time.zone_short' })),
      h('th', { i18n: 'field.status' }),
      h('th', { i18n: 'field.rule' }),
      h('th', { i18n: 'hunts.mode' }),
      h('th', { i18n: 'field.tenant' }),
      h('th', { i18n: 'hunts.progress' }),
      h('th', { class: 'num', i18n: 'hunts.matches' }),
      h('th', { class: 'num', i18n: 'hunts.raised' }),
      h('th', { i18n: 'hunts.actor' }))),
    tbody);
  let timer = null;
  let stopped = false;

  function row(hunt) {
    return h('tr', { testid: 'hunt-row', dataset: { id: hunt.id, state: hunt.state } },
      h('td', null, h('a', { href: `#/hunts/${encodeURIComponent(hunt.id)}`, testid: 'hunt-link' }, timeEl(hunt.created))),
      h('td', null, stateBadge(hunt.state)),
      h('td', null, rulesText(hunt)),
      h('td', null, enumText('hunt_mode', hunt.mode)),
      h('td', null, tenantsText(hunt)),
      h('td', null, progressOf(hunt)),
      h('td', { class: 'num', testid: 'hunt-matches' }, String(hunt.matches)),
      h('td', { class: 'num', testid: 'hunt-raised' }, String(hunt.raised)),
      h('td', null, hunt.actor));
  }

  async function load() {
    timer = null;
    try {
      const hunts = await api('/hunts');
      if (stopped) return;
      fill(tbody, hunts.map(row));
      empty.hidden = hunts.length > 0;
      fill(errorSlot);
      if (hunts.some((x) => RUNNING.includes(x.state))) timer = setTimeout(load, POLL_MS);
    } catch (e) {
      fill(errorSlot, errorBox(e, 'hunts-error'));
    }
  }

  main.append(h('section', { class: 'view', testid: 'view-hunts' },
    h('div', { class: 'view-head' }, h('h1', { i18n: 'hunts.title' }), h('span', { class: 'muted small', i18n: 'hunts.lead' })),
    can('hunts:run') ? huntForm((hunt) => { location.hash = `#/hunts/${encodeURIComponent(hunt.id)}`; }) : null,
    errorSlot,
    h('div', { class: 'table-wrap' }, table, empty)));
  document.title = `${t('hunts.title')} · ${t('app.title')}`;
  await load();
  return () => {
    stopped = true;
    if (timer) clearTimeout(timer);
  };
}

async function renderHunt(main, id) {
  const body = h('div', null, loading());
  const detail = h('aside', { class: 'detail', hidden: true, testid: 'alert-detail', 'aria-live': 'polite' });
  main.append(h('section', { class: 'view', testid: 'view-hunt', dataset: { id } },
    h('div', { class: 'view-head' },
      h('a', { href: '#/hunts', class: 'btn btn-ghost', i18n: 'hunts.back', testid: 'hunts-back' }),
      h('h1', { i18n: 'hunts.one' })),
    body));
  document.title = `${t('hunts.one')} · ${t('app.title')}`;
  let timer = null;
  let stopped = false;

  async function openAlert(match, tr) {
    for (const r of body.querySelectorAll('tr.active')) r.classList.remove('active');
    tr.classList.add('active');
    detail.hidden = false;
    fill(detail, loading());
    try {
      const a = await api(`/alerts/${encodeURIComponent(match.alert_id)}`);
      fill(detail, alertDetail(a, () => { detail.hidden = true; tr.classList.remove('active'); }));
      detail.querySelector('h2')?.focus();
    } catch (e) {
      fill(detail, errorBox(e, 'alert-error'));
    }
  }

  function matchRow(match) {
    const tr = h('tr', { testid: 'match-row', dataset: { alertId: match.alert_id, eventId: match.event_id } });
    const alertCell = match.stored
      ? h('button', { type: 'button', class: 'btn btn-ghost', testid: 'match-alert', on: { click: () => openAlert(match, tr) } },
          h('span', { i18n: match.raised ? 'hunts.alert_raised' : 'hunts.alert_stored' }))
      : h('span', { class: 'muted', i18n: 'hunts.alert_not_stored', testid: 'match-alert-none' });
    const c = match.correlation;
    if (c) tr.dataset.kind = 'correlation';
    return fill(tr,
      h('td', null, timeEl(match.time)),
      h('td', null, severityBadge(match.severity)),
      h('td', null, match.rule_title),
      h('td', null, c ? h('span', { testid: 'match-group' }, Object.entries(c.group ?? {}).map(([k, v]) => h('code', { class: 'tag' }, `${k}=${v}`))) : match.host ?? '—'),
      h('td', null, match.tenant),
      h('td', null, c ? windowLink(match) : eventLink(match)),
      h('td', null, alertCell));
  }

  async function cancel() {
    try {
      await api(`/hunts/${encodeURIComponent(id)}/cancel`, { method: 'POST' });
      toast(t('hunts.cancelled'), 'ok');
    } catch (e) {
      toast(`${t('error.prefix')} ${e.detail}`, 'error');
    }
    await load();
  }

  function show(hunt) {
    const running = RUNNING.includes(hunt.state);
    const meta = [
      ['field.status', stateBadge(hunt.state)],
      ['hunts.progress', progressOf(hunt)],
      ['hunts.matches', h('span', { testid: 'hunt-matches' }, String(hunt.matches))],
      ['hunts.raised', h('span', { testid: 'hunt-raised' }, String(hunt.raised))],
      ['hunts.mode', enumText('hunt_mode', hunt.mode)],
      ['field.rule', h('span', { testid: 'hunt-rules' }, hunt.rules.map((r) => h('span', { class: 'hunt-rule' }, r.title, ' ', h('code', { class: 'tag' }, r.id))))],
      ['hunts.sha256', h('code', { testid: 'hunt-sha256' }, hunt.rule_sha256)],
      ['hunts.since', timeEl(hunt.since)],
      ['hunts.until', timeEl(hunt.until)],
      ['field.tenant', tenantsText(hunt)],
      ['hunts.actor', hunt.actor],
      ['hunts.created', timeEl(hunt.created)],
      hunt.finished ? ['hunts.finished', timeEl(hunt.finished)] : null,
      hunt.failed_events ? ['hunts.failed_events', String(hunt.failed_events)] : null,
      hunt.error ? ['hunts.error', h('code', { testid: 'hunt-error-text' }, hunt.error)] : null,
    ].filter(Boolean);
    const results = h('table', { class: 'grid', testid: 'hunt-results' },
      h('thead', null, h('tr', null,
        h('th', { class: 'col-time' }, h('span', { i18n: 'field.time' }), h('span', { class: 'th-note', i18n: 'time.zone_short' })),
        h('th', { i18n: 'field.severity' }),
        h('th', { i18n: 'field.rule' }),
        h('th', { i18n: 'field.host' }),
        h('th', { i18n: 'field.tenant' }),
        h('th', { i18n: 'hunts.event' }),
        h('th', { i18n: 'hunts.alert' }))),
      h('tbody', null, hunt.results.map(matchRow)));
    fill(body,
      h('div', { class: 'card', testid: 'hunt-summary', dataset: { state: hunt.state } },
        h('dl', { class: 'meta' }, meta.map(([k, v]) => [h('dt', { i18n: k }), h('dd', null, v)])),
        running && can('hunts:run')
          ? h('button', { type: 'button', class: 'btn btn-warn', i18n: 'hunts.cancel', testid: 'hunt-cancel', on: { click: cancel } })
          : null,
        hunt.rule_text ? h('details', { class: 'raw' }, h('summary', { i18n: 'hunts.rule_text' }), h('pre', { class: 'json', testid: 'hunt-rule-yaml' }, hunt.rule_text)) : null),
      h('h2', { i18n: 'hunts.results', vars: { n: hunt.results.length, total: hunt.matches } }),
      hunt.results.length
        ? h('div', { class: 'split' }, h('div', { class: 'table-wrap' }, results), detail)
        : h('p', { class: 'muted', i18n: running ? 'hunts.no_matches_yet' : 'hunts.no_matches', testid: 'hunt-no-matches' }));
  }

  async function load() {
    timer = null;
    try {
      const hunt = await api(`/hunts/${encodeURIComponent(id)}`);
      if (stopped) return;
      show(hunt);
      if (RUNNING.includes(hunt.state)) timer = setTimeout(load, POLL_MS);
    } catch (e) {
      fill(body, errorBox(e, 'hunt-load-error'));
    }
  }

  await load();
  return () => {
    stopped = true;
    if (timer) clearTimeout(timer);
  };
}

export async function render(main, { id }) {
  return id ? renderHunt(main, id) : renderList(main);
}
