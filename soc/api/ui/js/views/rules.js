// The rules (#/rules, #/rules/<id>): the catalog with its filters (kept in the link), each
// rule's enablement and alerts of the last 7 and 30 days for the tenant looked at, when it
// last fired and the share judged false positive; a rule's YAML, versions, enable/disable
// per tenant and a test run as a retro-hunt preview; upload of a rule or a zip pack.
// What a role may do is decided by the server: the buttons follow /auth/me's permissions.

import { api } from '../api.js';
import { fill, h, severityBadge, enumText } from '../dom.js';
import { t } from '../i18n.js';
import {
  allTenants, enabledFor, enablement, logsourceText, myTenants, rulesTabs, shareText, tenantPicker,
} from '../rules_common.js';
import { can } from '../session.js';
import { timeEl } from '../time.js';
import { uploadCard } from '../rules_upload.js';
import { errorBox, field, loading, toast } from '../widgets.js';

const PAGE = 100;
const LEVELS = ['critical', 'high', 'medium', 'low', 'informational'];
const STATUSES = ['stable', 'test', 'experimental', 'deprecated', 'unsupported'];
const FILTER_KEYS = ['q', 'level', 'status', 'tag', 'product', 'category', 'service', 'tenant', 'enabled'];
const TECHNIQUE = /^t\d{4}(\.\d{3})?$/i;

function readState(params) {
  return Object.fromEntries(FILTER_KEYS.map((k) => [k, (params.get(k) ?? '').trim()]));
}

function hashOf(state, id = null) {
  const q = new URLSearchParams();
  for (const k of FILTER_KEYS) if (state[k]) q.set(k, state[k]);
  const s = q.toString();
  return `#/rules${id ? `/${encodeURIComponent(id)}` : ''}${s ? `?${s}` : ''}`;
}

/** The API's query of the filters: "T1003.001" is a technique, anything else a tag. */
function apiQuery(state) {
  const tag = state.tag.replace(/^attack\./i, '');
  return {
    q: state.q,
    level: state.level,
    status: state.status,
    technique: TECHNIQUE.test(tag) ? tag.toUpperCase() : '',
    tag: state.tag && !TECHNIQUE.test(tag) ? state.tag.toLowerCase() : '',
    product: state.product,
    category: state.category,
    service: state.service,
    tenant: state.tenant,
    enabled: state.enabled,
  };
}

function filterForm(state) {
  const input = (name, extra = {}) => h('input', { name, value: state[name], autocomplete: 'off', testid: `rules-filter-${name}`, ...extra });
  const select = (name, group, values) => h('select', { name, testid: `rules-filter-${name}` },
    h('option', { value: '', i18n: 'common.any' }),
    values.map((v) => h('option', { value: v, selected: state[name] === v, i18n: `${group}.${v}` })));
  const enabled = h('select', { name: 'enabled', testid: 'rules-filter-enabled' },
    h('option', { value: '', i18n: 'common.any' }),
    h('option', { value: 'true', selected: state.enabled === 'true', i18n: 'rules.on' }),
    h('option', { value: 'false', selected: state.enabled === 'false', i18n: 'rules.off' }));
  const form = h('form', { class: 'filters', role: 'search', testid: 'rules-filters' },
    field('rf-q', 'field.q', input('q', { type: 'search', attrs18n: { placeholder: 'rules.q_placeholder' } })),
    field('rf-level', 'rules.level', select('level', 'severity', LEVELS)),
    field('rf-status', 'rules.status', select('status', 'rule_status', STATUSES)),
    field('rf-tag', 'rules.tag', input('tag', { attrs18n: { placeholder: 'rules.tag_placeholder' } })),
    field('rf-product', 'rules.product', input('product', { size: 10 })),
    field('rf-category', 'rules.category', input('category', { size: 14 })),
    field('rf-service', 'rules.service', input('service', { size: 10 })),
    field('rf-tenant', 'field.tenant', tenantPicker(state.tenant, 'rules-filter-tenant')),
    field('rf-enabled', 'rules.enabled', enabled),
    h('div', { class: 'filter-buttons' },
      h('button', { type: 'submit', class: 'btn btn-primary', i18n: 'filter.apply', testid: 'rules-filter-apply' }),
      h('a', { href: '#/rules', class: 'btn', i18n: 'filter.reset', testid: 'rules-filter-reset' })));
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    const data = new FormData(form);
    const next = Object.fromEntries(FILTER_KEYS.map((k) => [k, String(data.get(k) ?? '').trim()]));
    const target = hashOf(next);
    if (target === location.hash) window.dispatchEvent(new HashChangeEvent('hashchange'));
    else location.hash = target;
  });
  return form;
}

function countCells(rule) {
  const c = rule.counts;
  if (!c) return [h('td', { class: 'num muted' }, '—'), h('td', { class: 'num muted' }, '—'), h('td', { class: 'muted' }, '—'), h('td', { class: 'num muted' }, '—')];
  return [
    h('td', { class: 'num', testid: 'rule-alerts-7d' }, String(c.alerts_7d)),
    h('td', { class: 'num', testid: 'rule-alerts-30d' }, String(c.alerts_30d)),
    h('td', { testid: 'rule-last-fired' }, timeEl(c.last_fired)),
    h('td', { class: 'num', testid: 'rule-fp-share', title: c.false_positives_30d == null ? '' : `${c.false_positives_30d} / ${c.alerts_30d}` }, shareText(c.false_positive_share)),
  ];
}

async function renderList(main, params) {
  const state = readState(params);
  let cursor = null;
  let shown = 0;
  const tbody = h('tbody', { testid: 'rules-tbody' });
  const count = h('span', { class: 'muted', testid: 'rules-count' });
  const empty = h('p', { class: 'muted', i18n: 'rules.empty', hidden: true, testid: 'rules-empty' });
  const errorSlot = h('div');
  const more = h('button', { type: 'button', class: 'btn', i18n: 'common.load_more', hidden: true, testid: 'rules-more', on: { click: () => load(false) } });
  const table = h('table', { class: 'grid', testid: 'rules-table' },
    h('caption', { class: 'sr-only', i18n: 'rules.title' }),
    h('thead', null, h('tr', null,
      h('th', { i18n: 'field.title' }),
      h('th', { i18n: 'rules.level' }),
      h('th', { i18n: 'rules.status' }),
      h('th', { i18n: 'field.logsource' }),
      h('th', null, h('span', { i18n: 'rules.enabled' }), state.tenant ? h('span', { class: 'th-note' }, state.tenant) : null),
      h('th', { class: 'num', i18n: 'rules.alerts_7d' }),
      h('th', { class: 'num', i18n: 'rules.alerts_30d' }),
      h('th', { class: 'col-time' }, h('span', { i18n: 'rules.last_fired' }), h('span', { class: 'th-note', i18n: 'time.zone_short' })),
      h('th', { class: 'num', i18n: 'rules.fp_share' }))),
    tbody);

  function row(rule) {
    const on = state.tenant ? enabledFor(rule, state.tenant) : null;
    return h('tr', { testid: 'rule-row', dataset: { id: rule.id, kind: rule.kind, ...(on == null ? {} : { enabled: String(on) }) } },
      h('td', null,
        h('a', { href: hashOf(state, rule.id), testid: 'rule-link' }, rule.title),
        rule.kind !== 'rule' ? h('span', { class: 'badge kind' }, rule.kind) : null,
        rule.techniques.length ? h('div', { class: 'small' }, rule.techniques.map((x) => h('code', { class: 'tag' }, x))) : null),
      h('td', null, rule.level ? severityBadge(rule.level) : '—'),
      h('td', null, enumText('rule_status', rule.status)),
      h('td', { class: 'small' }, logsourceText(rule.logsource)),
      h('td', null, enablement(rule, state.tenant)),
      countCells(rule));
  }

  async function load(first) {
    more.disabled = true;
    try {
      const page = await api('/rules', { query: { ...apiQuery(state), limit: PAGE, cursor: first ? null : cursor } });
      if (first) {
        tbody.replaceChildren();
        shown = 0;
      }
      tbody.append(...page.items.map(row));
      shown += page.items.length;
      cursor = page.next_cursor ?? null;
      count.dataset.i18n = cursor ? 'rules.count_more' : 'rules.count';
      count.dataset.i18nVars = JSON.stringify({ n: shown });
      count.textContent = t(count.dataset.i18n, { n: shown });
      empty.hidden = shown > 0;
      more.hidden = !cursor;
      table.dataset.loaded = 'true';
      fill(errorSlot);
    } catch (e) {
      fill(errorSlot, errorBox(e, 'rules-error'));
    } finally {
      more.disabled = false;
    }
  }

  main.append(h('section', { class: 'view', testid: 'view-rules' },
    h('div', { class: 'view-head' }, h('h1', { i18n: 'rules.title' }), count, rulesTabs('rules')),
    filterForm(state),
    errorSlot,
    h('div', { class: 'table-wrap' }, table, empty, more),
    can('rules:write') ? uploadCard(() => load(true)) : null));
  document.title = `${t('rules.title')} · ${t('app.title')}`;
  await load(true);
  return null;
}

/** Turn the rule on or off for a tenant, or by default (a caller of every tenant). */
function enableControls(rule, state, reload) {
  const mine = myTenants();
  const target = mine.length
    ? h('select', { testid: 'rule-enable-tenant' }, mine.map((x) => h('option', { value: x, selected: state.tenant === x }, x)))
    : h('select', { testid: 'rule-enable-tenant' },
        h('option', { value: '', i18n: 'rules.every_tenant' }),
        [...new Set([state.tenant, ...Object.keys(rule.tenants)].filter(Boolean))].map((x) => h('option', { value: x, selected: state.tenant === x }, x)));
  const other = allTenants()
    ? h('input', { testid: 'rule-enable-other', autocomplete: 'off', size: 12, attrs18n: { placeholder: 'rules.other_tenant' } })
    : null;
  async function set(on) {
    const tenant = other?.value.trim() || target.value;
    try {
      await api(`/rules/${encodeURIComponent(rule.id)}/${on ? 'enable' : 'disable'}`, { method: 'POST', json: { tenants: tenant ? [tenant] : null } });
      toast(t(on ? 'rules.enabled_done' : 'rules.disabled_done', { tenant: tenant || t('rules.every_tenant') }), 'ok');
      await reload();
    } catch (e) {
      toast(`${t('error.prefix')} ${e.detail}`, 'error');
    }
  }
  return h('div', { class: 'actionbar', testid: 'rule-enable-controls' },
    field('re-tenant', 'field.tenant', target),
    other,
    h('button', { type: 'button', class: 'btn btn-primary', i18n: 'rules.enable', testid: 'rule-enable', on: { click: () => set(true) } }),
    h('button', { type: 'button', class: 'btn btn-warn', i18n: 'rules.disable', testid: 'rule-disable', on: { click: () => set(false) } }));
}

/** The Sigma filters that apply to the rule, when the server reports them (`filters`). */
function filtersSection(rule) {
  if (!Array.isArray(rule.filters)) return null;
  return h('section', { class: 'card', testid: 'rule-filters' },
    h('h2', { i18n: 'rules.filters' }),
    rule.filters.length
      ? h('ul', { class: 'plain' }, rule.filters.map((f) => h('li', { testid: 'rule-filter', dataset: { id: f.id } },
          h('a', { href: `#/rules/${encodeURIComponent(f.id)}` }, f.title ?? f.name ?? f.id),
          f.tenants?.length ? h('span', { class: 'muted small' }, ` · ${f.tenants.join(', ')}`) : null)))
      : h('p', { class: 'muted', i18n: 'rules.no_filters' }));
}

function testButton(rule, state, slot) {
  if (!can('rules:write') || !can('hunts:run') || rule.kind === 'filter') return null;
  const button = h('button', { type: 'button', class: 'btn', i18n: 'rules.test', testid: 'rule-test' });
  button.addEventListener('click', async () => {
    button.disabled = true;
    try {
      const hunt = await api(`/rules/${encodeURIComponent(rule.id)}/test`, { method: 'POST', json: { tenants: state.tenant ? [state.tenant] : null } });
      fill(slot, h('span', { class: 'note' }, h('span', { i18n: 'rules.test_started' }), ' ',
        h('a', { href: `#/hunts/${encodeURIComponent(hunt.id)}`, testid: 'rule-test-hunt', i18n: 'rules.open_hunt' })));
    } catch (e) {
      fill(slot, errorBox(e, 'rule-test-error'));
    } finally {
      button.disabled = false;
    }
  });
  return button;
}

async function renderRule(main, id, params) {
  const state = readState(params);
  const body = h('div', null, loading());
  main.append(h('section', { class: 'view', testid: 'view-rule', dataset: { id } },
    h('div', { class: 'view-head' },
      h('a', { href: hashOf({ ...state }), class: 'btn btn-ghost', i18n: 'rules.back', testid: 'rules-back' }),
      h('h1', { i18n: 'rules.one' }),
      rulesTabs(null)),
    body));
  document.title = `${t('rules.one')} · ${t('app.title')}`;

  async function showVersion(n, pre, caption) {
    try {
      const v = await api(`/rules/${encodeURIComponent(id)}/versions/${n}`);
      pre.textContent = v.yaml;
      caption.dataset.i18nVars = JSON.stringify({ n });
      caption.textContent = t('rules.yaml_of', { n });
      pre.dataset.revision = String(n);
    } catch (e) {
      toast(`${t('error.prefix')} ${e.detail}`, 'error');
    }
  }

  function show(rule) {
    const c = rule.counts;
    const caption = h('h2', { i18n: 'rules.yaml_of', vars: { n: rule.revision } });
    const yaml = h('pre', { class: 'json code yaml', testid: 'rule-yaml', tabindex: 0, dataset: { revision: String(rule.revision) } }, rule.yaml);
    const testSlot = h('div', { testid: 'rule-test-slot' });
    const meta = [
      ['field.rule_id', h('code', { testid: 'rule-id' }, rule.id)],
      ['rules.kind', rule.kind],
      ['rules.level', rule.level ? severityBadge(rule.level) : '—'],
      ['rules.status', enumText('rule_status', rule.status)],
      ['field.logsource', logsourceText(rule.logsource)],
      ['field.tags', h('span', { testid: 'rule-tags' }, rule.tags.map((x) => h('code', { class: 'tag' }, x)))],
      ['field.rule_author', rule.author ?? '—'],
      ['rules.revision', h('span', { testid: 'rule-revision' }, String(rule.revision))],
      ['rules.origin', [enumText('rule_origin', rule.origin), rule.path ? h('code', { class: 'small' }, ` ${rule.path}`) : null]],
      ['rules.updated', [timeEl(rule.updated), ` · ${rule.updated_by}`]],
      ['rules.enabled', h('span', { testid: 'rule-enablement' }, enablement(rule, state.tenant))],
      c ? ['rules.alerts_7d', h('span', { testid: 'rule-alerts-7d' }, String(c.alerts_7d))] : null,
      c ? ['rules.alerts_30d', h('span', { testid: 'rule-alerts-30d' }, String(c.alerts_30d))] : null,
      c ? ['rules.last_fired', timeEl(c.last_fired)] : null,
      c ? ['rules.fp_share', h('span', { testid: 'rule-fp-share' }, shareText(c.false_positive_share))] : null,
    ].filter(Boolean);
    const versions = h('table', { class: 'grid compact', testid: 'rule-versions' },
      h('thead', null, h('tr', null,
        h('th', { class: 'num', i18n: 'rules.revision' }),
        h('th', { class: 'col-time' }, h('span', { i18n: 'field.time' }), h('span', { class: 'th-note', i18n: 'time.zone_short' })),
        h('th', { i18n: 'rules.actor' }),
        h('th', { i18n: 'rules.origin' }),
        h('th', null, 'SHA-256'))),
      h('tbody', null, [...rule.versions].reverse().map((v) => h('tr', { testid: 'rule-version', dataset: { revision: String(v.revision) } },
        h('td', { class: 'num' }, h('button', { type: 'button', class: 'link', testid: 'rule-version-open', on: { click: () => showVersion(v.revision, yaml, caption) } }, `r${v.revision}`)),
        h('td', null, timeEl(v.time)),
        h('td', null, v.actor),
        h('td', null, enumText('rule_origin', v.origin)),
        h('td', null, h('code', { title: v.sha256 }, v.sha256.slice(0, 12)))))));
    fill(body,
      h('div', { class: 'detail-head' }, h('h2', { testid: 'rule-title' }, rule.title)),
      rule.description ? h('p', { class: 'muted', testid: 'rule-description' }, rule.description) : null,
      rule.errors.length ? h('div', { class: 'error-box', testid: 'rule-errors' }, h('strong', { i18n: 'rules.errors' }), h('ul', null, rule.errors.map((e) => h('li', null, e)))) : null,
      rule.file_differs ? h('p', { class: 'note', i18n: 'rules.file_differs' }) : null,
      h('div', { class: 'rule-cols' },
        h('section', { class: 'card' },
          h('dl', { class: 'meta', testid: 'rule-meta' }, meta.map(([k, v]) => [h('dt', { i18n: k }), h('dd', null, v)])),
          can('rules:write') ? enableControls(rule, state, load) : null,
          h('div', { class: 'actionbar' }, testButton(rule, state, testSlot)),
          testSlot),
        h('section', { class: 'card' }, caption, yaml)),
      filtersSection(rule),
      rule.warnings.length
        ? h('section', { class: 'card', testid: 'rule-warnings' }, h('h2', { i18n: 'rules.warnings' }),
            h('ul', null, rule.warnings.map((w) => h('li', null, h('code', null, w.validator), ` ${w.description}`))))
        : null,
      h('section', { class: 'card' }, h('h2', { i18n: 'rules.versions' }), versions));
  }

  async function load() {
    try {
      const rule = await api(`/rules/${encodeURIComponent(id)}`, { query: { tenant: state.tenant } });
      show(rule);
      document.title = `${rule.title} · ${t('app.title')}`;
    } catch (e) {
      fill(body, errorBox(e, 'rule-load-error'));
    }
  }

  await load();
  return null;
}

export async function render(main, { id, params }) {
  return id ? renderRule(main, id, params) : renderList(main, params);
}

