// The API keeps every time in UTC; the UI shows Huế's wall clock (Asia/Ho_Chi_Minh, UTC+7)
// as YYYY-MM-DD HH:mm:ss, with the UTC value in the element's datetime and title.

import { h } from './dom.js';

export const TIME_ZONE = 'Asia/Ho_Chi_Minh';

const parts = new Intl.DateTimeFormat('en-GB', {
  timeZone: TIME_ZONE,
  year: 'numeric',
  month: '2-digit',
  day: '2-digit',
  hour: '2-digit',
  minute: '2-digit',
  second: '2-digit',
  hourCycle: 'h23',
});

/** "2023-08-15 17:32:05" in Vietnam time, or "—". */
export function formatLocal(iso) {
  if (!iso) return '—';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return String(iso);
  const p = Object.fromEntries(parts.formatToParts(d).map((x) => [x.type, x.value]));
  return `${p.year}-${p.month}-${p.day} ${p.hour}:${p.minute}:${p.second}`;
}

/** The hour of day (0-23) in Vietnam time. */
export function localHour(iso) {
  const p = parts.formatToParts(new Date(iso)).find((x) => x.type === 'hour');
  return Number(p?.value ?? 0);
}

/** A <time> element: Vietnam time shown, UTC kept in datetime and title. */
export function timeEl(iso, props = {}) {
  if (!iso) return h('span', { class: 'muted' }, '—');
  return h('time', { datetime: iso, title: `UTC ${iso}`, class: 'ts', ...props }, formatLocal(iso));
}

/** Seconds as {h, m} or {m, s} pieces for a duration label. */
export function durationVars(seconds) {
  const s = Math.max(0, Math.round(seconds));
  if (s >= 3600) return { key: 'duration.hm', vars: { h: Math.floor(s / 3600), m: Math.floor((s % 3600) / 60) } };
  if (s >= 60) return { key: 'duration.ms', vars: { m: Math.floor(s / 60), s: s % 60 } };
  return { key: 'duration.s', vars: { s } };
}
