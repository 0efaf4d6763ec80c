// Which observables of an incident matched which threat-intel indicators, read from the
// incident's "indicator match" alerts (rule soc-indicator-match) in its timeline: each
// carries its indicator (the indicator's value, source, TLP, confidence, and the value
// observed in the event, canonical like the incident's observables).

import { h } from './dom.js';

export const INDICATOR_RULE = 'soc-indicator-match';

/** The TLP as a badge that says it in words ("TLP:AMBER+STRICT"), not by colour alone. */
export function tlpBadge(tlp, testid = 'indicator-tlp') {
  return h('span', { class: `badge tlp tlp-${String(tlp).replace('+', '-')}`, testid, dataset: { value: tlp } }, `TLP:${String(tlp).toUpperCase()}`);
}

/** The observed value (lower case) -> the indicators it matched, each once. */
export function indicatorMatches(items) {
  const out = new Map();
  for (const it of items ?? []) {
    const m = (it.alert ?? it).indicator;
    if (!m) continue;
    const key = String(m.observed).toLowerCase();
    const list = out.get(key) ?? [];
    if (!list.some((x) => x.indicator_id === m.indicator_id)) list.push(m);
    out.set(key, list);
  }
  return out;
}

/** The indicators an observable matched ([] when none, or before the timeline is read). */
export function matchesOf(matches, observable) {
  return matches?.get(String(observable.value).toLowerCase()) ?? [];
}

function indicatorLine(m) {
  return h('li', { testid: 'observable-indicator', dataset: { indicatorId: m.indicator_id, source: m.source, tlp: m.tlp } },
    h('code', { testid: 'indicator-value' }, m.value), ' · ',
    h('span', { i18n: 'incident.ioc_source' }), ' ', h('strong', { testid: 'indicator-source' }, m.source), ' · ',
    tlpBadge(m.tlp), ' · ',
    h('span', { i18n: 'incident.ioc_confidence' }), ' ', h('span', { testid: 'indicator-confidence' }, m.confidence ?? '—'));
}

/** The "matched an indicator" mark and the indicators, for an observable's value cell. */
export function matchedMark(list) {
  if (!list.length) return null;
  return [
    ' ', h('span', { class: 'badge ioc-hit', i18n: 'incident.ioc_matched', testid: 'observable-matched' }),
    h('ul', { class: 'ioc-matches small', testid: 'observable-indicators' }, list.map(indicatorLine)),
  ];
}

/** How many observables matched an indicator, above the observables' table. */
export function matchedSummary(observables, matches) {
  const n = observables.filter((o) => matchesOf(matches, o).length).length;
  return n ? h('p', { class: 'small', i18n: 'incident.ioc_summary', vars: { n }, testid: 'observables-matched' }) : null;
}

/** The rows an indicator match alert adds to the timeline's facts (a <dl>'s children). */
export function indicatorFacts(alert) {
  const m = alert.indicator;
  if (!m) return null;
  return [
    h('dt', { i18n: 'incident.ioc_indicator' }),
    h('dd', { testid: 'timeline-indicator' }, h('code', null, m.value), ' · ', m.source, ' · ', tlpBadge(m.tlp, 'timeline-indicator-tlp'),
      ' · ', h('span', { i18n: 'incident.ioc_confidence' }), ' ', m.confidence ?? '—'),
    h('dt', { i18n: 'incident.ioc_observed' }),
    h('dd', null, h('code', null, m.observed), ' ', h('span', { class: 'muted' }, `(${m.field})`)),
  ];
}
