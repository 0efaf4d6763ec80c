// What the rules page and the coverage view share: the tabs between them, the tenant
// picker, and how a rule's enablement, logsource and false-positive share read.

import { enumText, h } from './dom.js';
import { currentUser } from './session.js';

/** The caller's own tenants; empty for a caller of every tenant ('*'). */
export function myTenants() {
  const me = currentUser();
  return me?.tenants?.includes('*') ? [] : (me?.tenants ?? []);
}

export function allTenants() {
  return Boolean(currentUser()?.tenants?.includes('*'));
}

/** A select of the caller's tenants (with "all mine"), or a text box for a caller of '*'. */
export function tenantPicker(value, testid) {
  const mine = myTenants();
  if (mine.length) {
    return h('select', { name: 'tenant', testid },
      h('option', { value: '', i18n: 'common.all_mine' }),
      mine.map((x) => h('option', { value: x, selected: value === x }, x)));
  }
  return h('input', { name: 'tenant', value: value ?? '', testid, autocomplete: 'off', attrs18n: { placeholder: 'common.all_mine' } });
}

/** Whether a rule is on for a tenant: its override, else its default. */
export function enabledFor(rule, tenant) {
  return rule.tenants?.[tenant] ?? rule.enabled;
}

export function onOffBadge(on, props = {}) {
  return enumText('rules', on ? 'on' : 'off', { class: `badge rule-${on ? 'on' : 'off'}`, 'data-on': String(on), ...props });
}

/**
 * A rule's enablement where the caller looks: for one tenant, for each of the caller's
 * tenants, or (a caller of every tenant) the default and the overrides.
 */
export function enablement(rule, tenant) {
  if (tenant) return h('span', { testid: 'rule-enabled', 'data-tenant': tenant }, onOffBadge(enabledFor(rule, tenant)));
  const mine = myTenants();
  if (mine.length === 1) return h('span', { testid: 'rule-enabled', 'data-tenant': mine[0] }, onOffBadge(enabledFor(rule, mine[0])));
  const pairs = mine.length
    ? mine.map((x) => [x, enabledFor(rule, x)])
    : Object.entries(rule.tenants ?? {}).sort(([a], [b]) => a.localeCompare(b));
  return h('span', { testid: 'rule-enabled', class: 'enablement' },
    mine.length ? null : h('span', { class: 'enable-default' }, h('span', { class: 'muted small', i18n: 'rules.default' }), ' ', onOffBadge(rule.enabled)),
    pairs.map(([x, on]) => h('span', { class: 'enable-tenant', 'data-tenant': x }, h('span', { class: 'muted small' }, `${x} `), onOffBadge(on))));
}

export function logsourceText(ls) {
  const parts = [ls?.product, ls?.category, ls?.service].filter(Boolean);
  return parts.length ? parts.join(' / ') : '—';
}

/** "12%" of a share from the API (0..1), or "—" when there is none. */
export function shareText(share) {
  if (share == null) return '—';
  const pct = share * 100;
  return `${pct > 0 && pct < 1 ? pct.toFixed(1) : Math.round(pct)}%`;
}

/** The tabs above both pages: the rules, and their ATT&CK coverage. */
export function rulesTabs(current) {
  return h('nav', { class: 'tabs', attrs18n: { 'aria-label': 'rules.tabs' } },
    [['rules', 'rules.tab_list'], ['coverage', 'coverage.title']].map(([route, key]) =>
      h('a', { href: `#/${route}`, class: ['tab', route === current ? 'active' : null], 'aria-current': route === current ? 'page' : null, i18n: key, testid: `tab-${route}` })));
}
