// A lead's retro-hunt of one indicator over the stored events (POST /api/v1/indicators/hunt,
// mode `raise`): whole days in Vietnam time, the last 30 by default. Says how many events
// were scanned, how many matched and how many new alerts were raised (the grouping stage
// files them into incidents like the stream's).

import { api } from './api.js';
import { fill, h } from './dom.js';
import { formatLocal } from './time.js';
import { errorBox, formDialog } from './widgets.js';

const DAY_MS = 86_400_000;
const DEFAULT_DAYS = 30;
const DAY_PATTERN = '\\d{4}-\\d{2}-\\d{2}';

/** "2026-12-06": the day in Vietnam time. */
function vietnamDay(date) {
  return formatLocal(date.toISOString()).slice(0, 10);
}

/** Midnight of a Vietnam day, as a Date (invalid for a malformed day). */
function dayStart(day) {
  return new Date(`${day}T00:00:00+07:00`);
}

/** Asks for the days, runs the hunt, and fills `slot` with its outcome (or the error). */
export async function retroHunt(indicator, slot) {
  const now = new Date();
  const values = await formDialog({
    title: 'intel.hunt_title',
    titleVars: { value: indicator.value },
    fields: [
      { name: 'since', i18n: 'intel.hunt_since', required: true, pattern: DAY_PATTERN, value: vietnamDay(new Date(now.getTime() - DEFAULT_DAYS * DAY_MS)) },
      { name: 'until', i18n: 'intel.hunt_until', required: true, pattern: DAY_PATTERN, value: vietnamDay(now) },
    ],
    submit: 'intel.hunt',
    testid: 'dialog-hunt',
  });
  if (!values) return null;
  const since = dayStart(values.since);
  const until = new Date(dayStart(values.until).getTime() + DAY_MS);
  if (Number.isNaN(since.getTime()) || Number.isNaN(until.getTime()) || until <= since) {
    fill(slot, h('p', { class: 'breached', i18n: 'intel.hunt_bad_range', testid: 'intel-hunt-error' }));
    return null;
  }
  try {
    const json = { indicator_ids: [indicator.id], since: since.toISOString(), until: until.toISOString(), mode: 'raise' };
    const r = await api('/indicators/hunt', { method: 'POST', json });
    fill(slot, h('p', {
      testid: 'intel-hunt-result',
      dataset: { indicatorId: indicator.id, raised: String(r.raised), matches: String(r.matches) },
      i18n: 'intel.hunt_result',
      vars: { value: indicator.value, scanned: r.scanned, matches: r.matches, raised: r.raised },
    }));
    return r;
  } catch (e) {
    fill(slot, errorBox(e, 'intel-hunt-error'));
    return null;
  }
}
