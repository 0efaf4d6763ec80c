// The event explorer's state as a link (#/events?q=...&from=...&to=... or &range=1h), query
// terms built from a clicked value, and the pivot of an incident's observable. No DOM here.

export const QUICK_RANGES = ['15m', '1h', '4h', '24h', '7d', '30d', '90d'];
export const DEFAULT_RANGE = '24h';
const UNIT_MS = { m: 60_000, h: 3_600_000, d: 86_400_000 };
const VN_OFFSET = '+07:00'; // Asia/Ho_Chi_Minh keeps UTC+7 all year (no daylight saving)
const PIVOT_MARGIN_MS = 3_600_000;
const MAX_TERM_VALUE = 500;

/** The explorer's state read from the hash's parameters. */
export function readState(params) {
  const from = params.get('from') ?? '';
  const to = params.get('to') ?? '';
  const absolute = Boolean(from && to && !Number.isNaN(Date.parse(from)) && !Number.isNaN(Date.parse(to)));
  const range = QUICK_RANGES.includes(params.get('range')) ? params.get('range') : DEFAULT_RANGE;
  return { q: params.get('q') ?? '', from: absolute ? from : '', to: absolute ? to : '', range: absolute ? '' : range };
}

/** The hash of a state: the link that opens the explorer as it is. */
export function hashOf(state) {
  const p = new URLSearchParams();
  if (state.q) p.set('q', state.q);
  if (state.from && state.to) {
    p.set('from', state.from);
    p.set('to', state.to);
  } else if (state.range && state.range !== DEFAULT_RANGE) {
    p.set('range', state.range);
  }
  const s = p.toString();
  return `#/events${s ? `?${s}` : ''}`;
}

/** [since, until) as UTC ISO strings; a quick range ends now. */
export function rangeOf(state, now = Date.now()) {
  if (state.from && state.to) return { since: new Date(state.from).toISOString(), until: new Date(state.to).toISOString() };
  const m = /^(\d+)([mhd])$/.exec(state.range || DEFAULT_RANGE);
  const span = Number(m[1]) * UNIT_MS[m[2]];
  return { since: new Date(now - span).toISOString(), until: new Date(now).toISOString() };
}

/** A UTC ISO time as the house shows times: "YYYY-MM-DD HH:mm:ss" in Vietnam time. */
export function toLocalInput(iso) {
  const d = new Date(new Date(iso).getTime() + 7 * 3_600_000);
  return d.toISOString().slice(0, 19).replace('T', ' ');
}

const LOCAL_TIME = /^(\d{4}-\d{2}-\d{2})[ T](\d{2}:\d{2})(:\d{2})?$/;

/** A typed Vietnam time ("YYYY-MM-DD HH:mm[:ss]") as UTC ISO, or '' when it is not one. */
export function fromLocalInput(value) {
  const m = LOCAL_TIME.exec((value ?? '').trim());
  if (!m) return '';
  const t = Date.parse(`${m[1]}T${m[2]}${m[3] ?? ':00'}${VN_OFFSET}`);
  return Number.isNaN(t) ? '' : new Date(t).toISOString();
}

const PLAIN_NAME = /^[A-Za-z0-9_.]+$/;
const PLAIN_VALUE = /^[A-Za-z0-9_.]+$/;
const KEYWORDS = new Set(['and', 'or', 'not', 'to']);

/** A field name as the query language reads it: other characters escaped with a backslash. */
export function fieldName(name) {
  return PLAIN_NAME.test(name) ? name : name.replace(/[^A-Za-z0-9_.]/g, (c) => `\\${c}`);
}

/** A quoted text: backslashes and quotes escaped. */
export function quoted(text) {
  return `"${String(text).replace(/[\\"]/g, (c) => `\\${c}`)}"`;
}

/** The term that keeps the events whose `name` is `value`: field:value, or field:"value". */
export function termFor(name, value) {
  const v = String(value);
  if (PLAIN_VALUE.test(v) && !KEYWORDS.has(v.toLowerCase())) return `${fieldName(name)}:${v}`;
  return `${fieldName(name)}:${quoted(v)}`;
}

/** Whether a value is worth a click-to-filter (a scalar, not too long for a query). */
export function filterable(value) {
  return ['string', 'number', 'boolean'].includes(typeof value) && String(value) !== '' && String(value).length <= MAX_TERM_VALUE;
}

/** The query narrowed by one more term (the query's own ORs kept together). */
export function narrowed(q, term) {
  const current = (q ?? '').trim();
  if (!current) return term;
  if (current.includes(term)) return current;
  const grouped = /\bOR\b/.test(current) ? `(${current})` : current;
  return `${grouped} AND ${term}`;
}

/**
 * The explorer's query for an observable: a host is the events' own `host`; an account,
 * address, hash, domain or URL turns up under many field names (User, SubjectUserName,
 * SourceIp, DestAddress, Hashes...), so it is searched as a full-text phrase. An account
 * (`DOMAIN\\user`) is searched by its user name alone: Windows Security events keep the
 * user and the domain in two fields, and a phrase matches within one value.
 */
export function observableQuery(o) {
  if (o.type === 'host' && o.field === 'host') return `host:${quoted(o.value)}`;
  if (o.type === 'account') return quoted(o.value.slice(o.value.lastIndexOf('\\') + 1));
  return quoted(o.value);
}

/** The explorer's link for an observable of an incident: its query, an hour either side. */
export function pivotHref(o, incident) {
  const first = Date.parse(incident.first_seen ?? o.first_seen);
  const last = Date.parse(incident.last_seen ?? incident.first_seen ?? o.first_seen);
  return hashOf({
    q: observableQuery(o),
    from: new Date(first - PIVOT_MARGIN_MS).toISOString(),
    to: new Date(last + PIVOT_MARGIN_MS).toISOString(),
  });
}

/** A line of the event's salient fields, for the table. */
const SUMMARY_FIELDS = [
  'EventID', 'CommandLine', 'Image', 'TargetImage', 'TargetFilename', 'TargetObject', 'QueryName',
  'DestinationIp', 'DestinationPort', 'TargetUserName', 'User', 'ScriptBlockText', 'Message',
];
export function summaryOf(event, max = 200) {
  const f = event.fields ?? {};
  const parts = SUMMARY_FIELDS.filter((k) => f[k] != null && f[k] !== '').slice(0, 4).map((k) => `${k}=${typeof f[k] === 'object' ? JSON.stringify(f[k]) : f[k]}`);
  if (!parts.length) parts.push(...Object.entries(f).slice(0, 4).map(([k, v]) => `${k}=${typeof v === 'object' ? JSON.stringify(v) : v}`));
  const text = parts.join(' · ').replace(/\s+/g, ' ');
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}
