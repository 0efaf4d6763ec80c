// What the drill views share: the "DIỄN TẬP / DRILL" badge of alerts and incidents, the
// drill's state and kind, its progress, a duration, and the lead's orders (pause, resume,
// abort, end) with the states each is offered in.

import { api } from './api.js';
import { enumText, h } from './dom.js';
import { currentLang, t } from './i18n.js';
import { can } from './session.js';
import { durationVars } from './time.js';
import { formDialog, toast } from './widgets.js';

export const POLL_MS = 2000;
export const LIVE_STATES = ['pending', 'running'];
export const OVER_STATES = ['ended', 'aborted'];
const ORDERS = [
  { order: 'pause', states: ['running'], kind: null },
  { order: 'resume', states: ['paused'], kind: 'btn-primary' },
  { order: 'end', states: ['pending', 'running', 'paused', 'replayed'], kind: 'btn-primary' },
  { order: 'abort', states: ['pending', 'running', 'paused', 'replayed'], kind: 'btn-warn' },
];

/**
 * The badge of an alert or incident replayed by a drill (`drill` is the drill's id); none
 * for live ones. The server sends `drill: null` to analysts while a blind drill runs.
 */
export function drillBadge(item) {
  if (!item?.drill) return null;
  return h('span', { class: 'badge drill-badge', i18n: 'drill.badge', testid: 'drill-badge', title: item.drill, dataset: { drill: item.drill } });
}

export function drillStateBadge(state) {
  return enumText('drill_state', state, { class: `badge drill-st-${state}`, testid: 'drill-state', 'data-value': state });
}

export function drillKind(drill) {
  const kind = drill.blind ? 'blind' : 'announced';
  return h('span', { class: `badge drill-kind-${kind}`, i18n: `drills.${kind}`, testid: 'drill-kind', dataset: { value: kind } });
}

/** The scenario's title in the UI's language (title_vi when Vietnamese and there is one). */
export function scenarioTitle(scenario, fallback) {
  if (!scenario) return fallback ?? '—';
  return currentLang() === 'vi' && scenario.title_vi ? scenario.title_vi : scenario.title;
}

export function progressOf(drill) {
  const sent = drill.steps.reduce((s, x) => s + x.sent, 0);
  const events = drill.steps.reduce((s, x) => s + x.events, 0);
  return h('span', { class: 'drill-progress', testid: 'drill-progress', dataset: { sent, events } },
    h('progress', { max: Math.max(1, events), value: Math.min(sent, events || sent) }),
    ' ',
    h('span', { i18n: 'drills.sent_of', vars: { sent, events } }));
}

/** A duration in seconds as "1 min 5 s", or "—". */
export function durationText(seconds, props = {}) {
  if (seconds == null) return h('span', { class: 'muted', ...props }, '—');
  const d = durationVars(seconds);
  return h('span', { i18n: d.key, vars: d.vars, ...props });
}

export function scoreText(score, props = {}) {
  return h('span', { class: score == null ? 'muted' : null, ...props }, score == null ? '—' : String(score));
}

/** The orders a lead may give a drill in its state, as buttons; `done(drill)` after one. */
export function orderButtons(drill, done) {
  if (!can('drills:run')) return [];
  return ORDERS.filter((o) => o.states.includes(drill.state)).map((o) =>
    h('button', {
      type: 'button',
      class: ['btn', 'btn-small', o.kind],
      i18n: `drills.${o.order}`,
      testid: `drill-${o.order}`,
      on: { click: (ev) => give(drill, o.order, ev.currentTarget, done) },
    }));
}

async function give(drill, order, button, done) {
  if (order === 'abort' || order === 'end') {
    const ok = await formDialog({
      title: `drills.${order}`,
      fields: [],
      submit: `drills.${order}`,
      testid: `dialog-drill-${order}`,
      message: `drills.confirm_${order}`,
    });
    if (!ok) return;
  }
  button.disabled = true;
  try {
    const next = await api(`/drills/${encodeURIComponent(drill.id)}/${order}`, { method: 'POST' });
    toast(t(`drills.done_${order}`), 'ok');
    await done(next);
  } catch (e) {
    toast(`${t('error.prefix')} ${e.detail}`, 'error');
    button.disabled = false;
  }
}
