// One incident: where it stands, what may be done now (the server's `actions`), its
// timeline of alerts and events, observables, hand-offs and comments. Every write sends
// the version read; a 409 reloads and says that someone else changed it.

import { api, download } from '../api.js';
import { clear, enumText, fill, h, severityBadge, statusBadge } from '../dom.js';
import { t } from '../i18n.js';
import { can, currentUser } from '../session.js';
import { on } from '../stream.js';
import { timeEl } from '../time.js';
import { renderShares, tlpField } from '../incident_sharing.js';
import { indicatorFacts, indicatorMatches, matchedMark, matchedSummary, matchesOf } from '../incident_indicators.js';
import { drillBadge } from '../drills_common.js';
import { hashOf, pivotHref, termFor } from '../explorer_query.js';
import { breachFlags, incidentOf, itemsOf, pendingHandOff, versionOf, write } from '../incidents_common.js';
import { errorBox, formDialog, jsonBlock, kvTable, loading, toast } from '../widgets.js';

const UNIT_PATTERN = '[A-Za-z0-9_.\\-]{1,100}';
const LIFECYCLE = [
  'triage', 'hand_off', 'recall', 'accept', 'reject', 'start_response', 'resolve', 'close', 'close_false_positive', 'reopen',
];
// What each action asks for, as the command's fields (POST .../actions {command, version}).
const REASON = (required) => [{ name: 'reason', i18n: 'incident.reason', type: 'textarea', required }];
const ASKS = {
  hand_off: [
    { name: 'to_unit', i18n: 'incident.to_unit', required: true, pattern: UNIT_PATTERN, list: 'known-units' },
    { name: 'note', i18n: 'incident.note', type: 'textarea' },
  ],
  recall: REASON(false),
  reject: REASON(true),
  reopen: REASON(true),
  close_false_positive: REASON(true),
  resolve: [{ name: 'summary', i18n: 'incident.resolution', type: 'textarea', required: true }],
  close: [],
};
const BUTTON_KIND = {
  triage: 'btn-primary', hand_off: 'btn-primary', accept: 'btn-primary', start_response: 'btn-primary',
  resolve: 'btn-primary', close: 'btn-primary', reject: 'btn-warn', recall: 'btn-warn', close_false_positive: 'btn-warn',
};
const VERDICTS = ['undetermined', 'true_positive', 'false_positive'];

/** The explorer over [from, to + 1 s) with the correlation's group as the query. */
function explorerHref(group, from, to) {
  const q = Object.entries(group ?? {}).map(([k, v]) => termFor(k, v)).join(' AND ');
  const until = new Date(new Date(to).getTime() + 1000).toISOString();
  return hashOf({ q, from: new Date(from).toISOString(), to: until });
}

/** One line that says what an event is: its message, else a few of its fields. */
function eventSummary(ev) {
  const f = ev.fields ?? {};
  const text = f.body ?? f.message ?? f.CommandLine ?? f.Image;
  if (text != null) return String(text);
  return Object.entries(f).slice(0, 4).map(([k, v]) => `${k}=${typeof v === 'object' ? JSON.stringify(v) : v}`).join(' ');
}

/** A correlation alert as its own timeline: what fired, over which window, on which events. */
function correlationBlock(alert, baseEvents) {
  const c = alert.correlation;
  const group = Object.entries(c.group ?? {});
  const ids = c.event_ids ?? [];
  const events = [...(baseEvents ?? [])].sort((a, b) => (a.time < b.time ? -1 : a.time > b.time ? 1 : a.id < b.id ? -1 : 1));
  const pivots = can('events:read');
  const facts = [
    ['incident.correlation_rule', h('span', null,
      can('rules:read') ? h('a', { href: `#/rules/${encodeURIComponent(alert.rule_id)}`, testid: 'correlation-rule' }, alert.rule_title ?? alert.rule_id) : h('span', { testid: 'correlation-rule' }, alert.rule_title ?? alert.rule_id),
      ' ', h('code', { class: 'tag' }, alert.rule_id))],
    ['incident.correlation_type', enumText('correlation_type', c.type, { testid: 'correlation-type', 'data-value': c.type })],
    ['incident.correlation_group', group.length
      ? h('span', { testid: 'correlation-group' }, group.map(([k, v]) => h('code', { class: 'tag', dataset: { field: k, value: v } }, `${k}=${v}`)))
      : h('span', { class: 'muted', testid: 'correlation-group' }, '—')],
    ['incident.correlation_value', h('strong', { testid: 'correlation-value' }, String(c.value))],
    ['incident.correlation_condition', h('code', { testid: 'correlation-condition' }, c.condition ?? '—')],
    ['incident.correlation_window', h('span', { testid: 'correlation-window' },
      timeEl(c.window_start, { 'data-testid': 'correlation-window-start' }), ' – ', timeEl(c.window_end, { 'data-testid': 'correlation-window-end' }),
      pivots ? [' ', h('a', { href: explorerHref(c.group, c.window_start, c.window_end), class: 'pivot', i18n: 'incident.correlation_window_open', testid: 'correlation-window-pivot' })] : null)],
  ];
  return h('div', { class: 'correlation', testid: 'correlation' },
    h('dl', { class: 'meta', testid: 'correlation-facts' }, facts.map(([k, v]) => [h('dt', { i18n: k }), h('dd', null, v)])),
    h('h3', { i18n: 'incident.correlation_events', vars: { n: events.length, total: ids.length } }),
    events.length
      ? h('ol', { class: 'correlation-events', testid: 'correlation-events' }, events.map((ev) =>
          h('li', { testid: 'correlation-event', dataset: { eventId: ev.id, time: ev.time } },
            h('details', null,
              h('summary', null,
                timeEl(ev.time, { 'data-testid': 'correlation-event-time' }), ' ',
                h('span', { class: 'muted' }, ev.host ?? ''), ' ',
                h('span', { class: 'mono small' }, eventSummary(ev)), ' ',
                pivots ? h('a', { href: explorerHref(c.group, ev.time, ev.time), class: 'pivot', i18n: 'incident.correlation_event_open', testid: 'correlation-event-pivot', title: ev.id }) : null),
              kvTable(ev.fields, 'correlation-event-fields')))))
      : h('p', { class: 'muted', i18n: 'incident.correlation_no_events', testid: 'correlation-no-events' }),
  );
}

function actionNames(data) {
  return (data?.actions ?? []).map((a) => (typeof a === 'string' ? a : a?.action ?? a?.name)).filter(Boolean);
}

export async function render(main, { id }) {
  const path = `/incidents/${encodeURIComponent(id)}`;
  let data = null;
  let timeline = null;
  let matches = null; // observed value -> indicators it matched (incident_indicators.js)
  let writing = false;
  const head = h('div', { class: 'incident-head', testid: 'incident-head' }, loading());
  const bar = h('div', { class: 'actionbar', testid: 'incident-actions' });
  const changed = h('button', { type: 'button', class: 'btn notice', hidden: true, i18n: 'incident.changed_notice', testid: 'incident-changed', on: { click: () => reload() } });
  const handoffs = h('section', { class: 'panel', testid: 'incident-handoffs' });
  const timelineBox = h('section', { class: 'panel', testid: 'incident-timeline' }, h('h2', { i18n: 'incident.timeline' }), loading());
  const observables = h('section', { class: 'panel', testid: 'incident-observables' });
  const shares = h('section', { class: 'panel', testid: 'incident-shares' });
  const comments = h('section', { class: 'panel', testid: 'incident-comments' });
  const view = h(
    'section',
    { class: 'view incident', testid: 'view-incident', dataset: { id } },
    h('p', { class: 'crumbs' }, h('a', { href: '#/incidents', i18n: 'nav.incidents' }), ' / ', h('code', null, id)),
    changed, head, bar,
    h('div', { class: 'incident-cols' },
      h('div', { class: 'col-main' }, timelineBox),
      h('div', { class: 'col-side' }, comments, handoffs, shares, observables)),
  );
  main.append(view);

  async function reload() {
    changed.hidden = true;
    try {
      data = await api(path);
    } catch (e) {
      fill(head, errorBox(e, 'incident-error'));
      clear(bar);
      return;
    }
    const inc = incidentOf(data);
    view.dataset.version = String(versionOf(data) ?? '');
    view.dataset.status = inc.status;
    document.title = `${inc.title} · ${t('app.title')}`;
    renderHead(inc);
    renderBar(inc, actionNames(data));
    renderHandoffs(inc);
    renderObservables(inc);
    renderShares(shares, path, () => send('/share', {}));
    renderComments(data.comments ?? [], actionNames(data).includes('comment'));
    if (timeline === null || timeline.count !== (inc.alert_count ?? inc.alerts?.length)) await loadTimeline(inc);
    else markVerdicts(inc);
  }

  function renderHead(inc) {
    const d = inc.deadlines ?? {};
    const pending = pendingHandOff(inc);
    const meta = [
      ['field.tenant', inc.tenant],
      ['field.owner_unit', h('span', { testid: 'incident-owner' }, inc.owner_unit ?? h('span', { i18n: 'incident.owner_soc' }))],
      ['field.assignee', h('span', { testid: 'incident-assignee' }, inc.assignee ?? '—')],
      ['field.alert_count', String(inc.alert_count ?? 0)],
      ['field.first_seen', timeEl(inc.first_seen)],
      ['field.last_seen', timeEl(inc.last_seen)],
      ['field.created', timeEl(inc.created, { 'data-testid': 'incident-created' })],
      ['deadline.acknowledge_due', h('span', { class: d.breached?.includes('acknowledge') ? 'breached' : null, testid: 'ack-due' }, timeEl(d.acknowledge_due))],
      ['deadline.resolve_due', h('span', { class: d.breached?.includes('resolve') ? 'breached' : null, testid: 'resolve-due' }, timeEl(d.resolve_due))],
      inc.acknowledged_at ? ['field.acknowledged_at', timeEl(inc.acknowledged_at)] : null,
      inc.resolved_at ? ['field.resolved_at', timeEl(inc.resolved_at)] : null,
      inc.resolution ? ['incident.resolution', h('span', { testid: 'incident-resolution' }, inc.resolution)] : null,
      ['incident.tlp', tlpField(inc, actionNames(data).includes('tlp'), (tlp) => send('/tlp', { tlp, version: versionOf(data) }, 'PUT'))],
      inc.merged_into ? ['incident.merged_into', h('a', { href: `#/incidents/${encodeURIComponent(inc.merged_into)}` }, inc.merged_into)] : null,
    ].filter(Boolean);
    fill(head, 
      h('div', { class: 'title-row' },
        h('h1', { testid: 'incident-title' }, inc.title),
        h('span', { testid: 'incident-status', dataset: { value: inc.status } }, statusBadge('incident_status', inc.status)),
        h('span', { testid: 'incident-severity' }, severityBadge(inc.severity)),
        drillBadge(inc),
        breachFlags(inc)),
      pending
        ? h('div', { class: 'pending', testid: 'pending-handoff' },
            h('strong', { i18n: 'incident.pending_to', vars: { unit: pending.to_unit } }), ' · ',
            h('span', { class: 'muted' }, pending.by), ' · ', timeEl(pending.at),
            pending.note ? h('p', { class: 'note', testid: 'pending-note' }, pending.note) : null)
        : null,
      h('dl', { class: 'meta meta-wide' }, meta.map(([k, v]) => [h('dt', { i18n: k }), h('dd', null, v)])),
    );
  }

  function renderBar(inc, actions) {
    const buttons = LIFECYCLE.filter((a) => actions.includes(a)).map((a) =>
      h('button', { type: 'button', class: ['btn', BUTTON_KIND[a]], i18n: `action.${a}`, testid: `action-${a}`, on: { click: () => act(a) } }));
    const me = currentUser();
    const assign = actions.includes('assign')
      ? h('form', { class: 'assign', testid: 'assign-form', on: { submit: (ev) => { ev.preventDefault(); assignTo(ev.target.elements.assignee.value.trim() || null); } } },
          h('label', { for: 'assignee-input', i18n: 'field.assignee' }),
          h('input', { id: 'assignee-input', name: 'assignee', value: inc.assignee ?? '', autocomplete: 'off', testid: 'assign-input' }),
          h('button', { type: 'submit', class: 'btn', i18n: 'action.assign', testid: 'assign-submit' }),
          me?.name && inc.assignee !== me.name ? h('button', { type: 'button', class: 'btn', i18n: 'action.assign_me', testid: 'assign-me', on: { click: () => assignTo(me.name) } }) : null)
      : null;
    const exports = can('evidence:export')
      ? [
          h('button', { type: 'button', class: 'btn', i18n: 'incident.evidence', testid: 'evidence-download', on: { click: () => save('evidence', `incident-${id}-evidence.zip`) } }),
          h('button', { type: 'button', class: 'btn', i18n: 'incident.stix', testid: 'stix-download', on: { click: () => save('stix', `incident-${id}.stix.json`) } }),
        ]
      : [];
    fill(bar, 
      h('div', { class: 'group' }, buttons.length ? buttons : h('span', { class: 'muted', i18n: 'incident.no_actions' })),
      assign,
      h('div', { class: 'group' }, exports),
    );
  }

  async function save(what, name) {
    try {
      const got = await download(`${path}/${what}`, name);
      toast(t('incident.downloaded', { name: got.name }), 'ok');
    } catch (e) {
      toast(`${t('error.prefix')} ${e.detail}`, 'error');
    }
  }

  async function send(sub, json, method = 'POST') {
    writing = true;
    try {
      const res = await write(`${path}${sub}`, { method, json });
      if (res.ok) toast(t('incident.saved'), 'ok');
    } catch (e) {
      toast(`${t('error.prefix')} ${e.detail}`, 'error');
    }
    await reload();
    writing = false;
  }

  async function act(action) {
    let extra = {};
    if (ASKS[action]) {
      const known = [...new Set((incidentOf(data).handoffs ?? []).map((x) => x.to_unit))];
      let units = document.getElementById('known-units');
      if (!units) document.body.append((units = h('datalist', { id: 'known-units' })));
      fill(units, ...known.map((u) => h('option', { value: u })));
      const values = await formDialog({
        title: `action.${action}`,
        fields: ASKS[action],
        submit: `action.${action}`,
        testid: `dialog-${action}`,
        message: ASKS[action].length ? null : 'incident.confirm_action',
      });
      if (!values) return;
      extra = Object.fromEntries(Object.entries(values).filter(([, v]) => v !== ''));
    }
    await send('/actions', { command: { action, ...extra }, version: versionOf(data) });
  }

  function assignTo(name) {
    return send('/assignee', { assignee: name, version: versionOf(data) }, 'PUT');
  }

  function renderHandoffs(inc) {
    const list = inc.handoffs ?? [];
    fill(handoffs, 
      h('h2', { i18n: 'incident.handoffs' }),
      list.length
        ? h('ol', { class: 'handoffs' }, list.map((x) =>
            h('li', { testid: 'handoff', dataset: { state: x.state } },
              h('strong', null, x.to_unit), ' ', statusBadge('handoff_state', x.state), ' · ', x.by, ' · ', timeEl(x.at),
              x.note ? h('p', { class: 'note' }, x.note) : null,
              x.decided_by ? h('p', { class: 'muted small' }, `${x.decided_by} · `, timeEl(x.decided_at)) : null,
              x.reason ? h('p', { class: 'note' }, h('span', { i18n: 'incident.reason' }), ': ', x.reason) : null)))
        : h('p', { class: 'muted', i18n: 'incident.no_handoffs' }),
    );
  }

  function renderObservables(inc) {
    const list = inc.observables ?? [];
    const pivots = can('events:read');
    fill(observables, 
      h('h2', { i18n: 'incident.observables' }),
      matchedSummary(list, matches),
      list.length
        ? h('table', { class: 'grid compact', testid: 'observables-table' },
            h('thead', null, h('tr', null, h('th', { i18n: 'observable.type' }), h('th', { i18n: 'observable.value' }), h('th', { i18n: 'observable.field' }), h('th', { i18n: 'field.first_seen' }), pivots ? h('th', null, h('span', { class: 'sr-only', i18n: 'explorer.pivot' })) : null)),
            h('tbody', null, list.map((o) => [o, matchesOf(matches, o)]).map(([o, hits]) => h('tr', { testid: 'observable', class: hits.length ? 'ioc-matched' : null, dataset: { type: o.type, value: o.value, matched: String(hits.length > 0) } },
              h('td', null, h('span', { class: 'badge', i18n: `observable.${o.type}` })), h('td', null, h('span', { class: 'mono' }, o.value), matchedMark(hits)), h('td', { class: 'mono' }, o.field), h('td', { class: 'nowrap' }, timeEl(o.first_seen)),
              pivots ? h('td', null, h('a', { href: pivotHref(o, inc), class: 'pivot', i18n: 'explorer.pivot', attrs18n: { title: 'explorer.pivot_title' }, testid: 'observable-pivot' })) : null))))
        : h('p', { class: 'muted', i18n: 'incident.no_observables' }),
    );
  }

  function renderComments(list, mayComment) {
    const text = h('textarea', { id: 'comment-text', rows: 3, required: true, testid: 'comment-text' });
    const form = mayComment
      ? h('form', { class: 'comment-form', testid: 'comment-form' },
          h('label', { for: 'comment-text', i18n: 'incident.add_comment' }), text,
          h('button', { type: 'submit', class: 'btn btn-primary', i18n: 'action.comment', testid: 'comment-submit' }))
      : null;
    form?.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      if (!text.value.trim()) return;
      await send('/comments', { text: text.value.trim() });
    });
    fill(comments, 
      h('h2', { i18n: 'incident.comments' }),
      list.length
        ? h('ol', { class: 'comments' }, list.map((c) =>
            h('li', { testid: 'comment' }, h('div', { class: 'comment-meta' }, h('strong', null, c.author), ' · ', timeEl(c.at)), h('p', { class: 'comment-text' }, c.text))))
        : h('p', { class: 'muted', i18n: 'incident.no_comments' }),
      form,
    );
  }

  async function loadTimeline(inc) {
    try {
      const res = await api(`${path}/timeline`);
      const items = itemsOf(res);
      timeline = { count: inc.alert_count ?? inc.alerts?.length, items };
      matches = indicatorMatches(items);
      renderObservables(inc);
      const mayJudge = actionNames(data).includes('verdict');
      fill(timelineBox, 
        h('h2', { i18n: 'incident.timeline' }),
        h('p', { class: 'muted small', i18n: 'incident.timeline_note' }),
        items.length
          ? h('ol', { class: 'timeline' }, items.map((it) => timelineItem(it, mayJudge)))
          : h('p', { class: 'muted', i18n: 'incident.no_alerts' }),
      );
      markVerdicts(inc);
    } catch (e) {
      fill(timelineBox, h('h2', { i18n: 'incident.timeline' }), errorBox(e, 'timeline-error'));
    }
  }

  function timelineItem(it, mayJudge) {
    const alert = it.alert ?? it;
    const ev = it.event ?? alert.event ?? null;
    const correlated = Boolean(alert.correlation);
    const verdict = mayJudge
      ? h('select', { class: 'verdict', testid: 'verdict-select', attrs18n: { 'aria-label': 'incident.verdict' },
          on: { change: (e) => send('/verdicts', { alert_ids: [alert.id], verdict: e.target.value, version: versionOf(data) }) } },
          VERDICTS.map((v) => h('option', { value: v, i18n: `verdict.${v}` })))
      : h('span', { class: 'verdict-text', testid: 'verdict' });
    return h(
      'li',
      { class: ['tl-item', correlated ? 'tl-correlation' : null], testid: 'timeline-item', dataset: { alertId: alert.id, kind: correlated ? 'correlation' : 'event' } },
      h('div', { class: 'tl-row' },
        timeEl(alert.time ?? ev?.time, { 'data-testid': 'timeline-time' }),
        severityBadge(alert.severity),
        correlated ? h('span', { class: 'badge kind', i18n: 'incident.correlation' }) : null,
        h('strong', { class: 'tl-rule', testid: 'timeline-rule' }, alert.rule_title ?? alert.rule_id),
        h('span', { class: 'muted' }, alert.host ?? ev?.host ?? ''),
        h('span', { class: 'spacer' }),
        verdict),
      correlated ? correlationBlock(alert, it.base_events) : null,
      correlated ? null : h('details', { class: 'tl-details' },
        h('summary', { i18n: 'incident.show_event' }),
        h('dl', { class: 'meta' },
          h('dt', { i18n: 'field.rule_id' }), h('dd', null, h('code', null, alert.rule_id)),
          (alert.tags ?? []).length ? [h('dt', { i18n: 'field.tags' }), h('dd', null, alert.tags.map((x) => h('code', { class: 'tag' }, x)))] : null,
          h('dt', { i18n: 'field.source' }), h('dd', null, alert.source ?? ev?.source ?? '—'),
          indicatorFacts(alert)),
        ev ? [h('h3', { i18n: 'alert.fields' }), kvTable(ev.fields, 'timeline-fields'), h('h3', { i18n: 'alert.raw' }), jsonBlock(ev.raw, 'timeline-raw')] : h('p', { class: 'muted', i18n: 'alert.no_event' })),
    );
  }

  function markVerdicts(inc) {
    const byId = new Map((inc.alerts ?? []).map((a) => [a.id, a.verdict ?? 'undetermined']));
    for (const li of timelineBox.querySelectorAll('[data-alert-id]')) {
      const v = byId.get(li.dataset.alertId) ?? 'undetermined';
      const sel = li.querySelector('select.verdict');
      if (sel) sel.value = v;
      const txt = li.querySelector('.verdict-text');
      if (txt) {
        txt.dataset.i18n = `verdict.${v}`;
        txt.textContent = t(`verdict.${v}`);
      }
    }
  }

  const unsubscribe = on('incident', (ev) => {
    if (ev?.id !== id || writing) return;
    const mine = Number(view.dataset.version);
    if (ev.version != null && !Number.isNaN(mine) && ev.version <= mine) return;
    changed.hidden = false;
  });
  await reload();
  return unsubscribe;
}
