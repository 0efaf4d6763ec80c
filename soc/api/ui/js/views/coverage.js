// ATT&CK coverage (#/coverage): tactics as columns in the matrix's order, techniques as
// cells, shaded by the rules on (for the tenant looked at) or by their alerts in the last
// 7 or 30 days; a click on a cell lists its rules, each a link to its page. The matrix is
// computed by the server (GET /api/v1/rules/coverage) from the rules' own ATT&CK tags.

import { api } from '../api.js';
import { fill, h, severityBadge } from '../dom.js';
import { t } from '../i18n.js';
import { onOffBadge, rulesTabs, tenantPicker } from '../rules_common.js';
import { errorBox, field, loading } from '../widgets.js';

const MODES = ['rules', 'alerts'];
const PERIODS = [7, 30];
const SHADES = 5;

function readState(params) {
  const mode = MODES.includes(params.get('mode')) ? params.get('mode') : 'rules';
  const days = PERIODS.includes(Number(params.get('days'))) ? Number(params.get('days')) : 30;
  return { tenant: (params.get('tenant') ?? '').trim(), mode, days };
}

function hashOf(state) {
  const q = new URLSearchParams();
  if (state.tenant) q.set('tenant', state.tenant);
  if (state.mode !== 'rules') q.set('mode', state.mode);
  if (state.days !== 30) q.set('days', String(state.days));
  const s = q.toString();
  return `#/coverage${s ? `?${s}` : ''}`;
}

/** 0 (nothing) .. SHADES-1 (the most of the matrix), on a square-root scale so that a
 * few alerts still show beside many. */
export function shadeOf(value, max) {
  if (!value || !max) return 0;
  return Math.max(1, Math.min(SHADES - 1, Math.ceil((Math.sqrt(value) / Math.sqrt(max)) * (SHADES - 1))));
}

function tacticKey(tactic) {
  return `tactic.${tactic.replaceAll('-', '_')}`;
}

function toggle(group, options, current, onPick) {
  return h('div', { class: 'quick-ranges', role: 'group', attrs18n: { 'aria-label': `coverage.group_${group}` } },
    options.map(([value, key, vars]) => h('button', {
      type: 'button',
      class: ['btn', 'btn-small', value === current ? 'active' : null],
      'aria-pressed': String(value === current),
      testid: `coverage-${group}-${value}`,
      i18n: key,
      vars,
      on: { click: () => onPick(value) },
    })));
}

export async function render(main, { params }) {
  const state = readState(params);
  const go = (next) => {
    const target = hashOf({ ...state, ...next });
    if (target !== location.hash) location.hash = target;
  };
  const tenant = tenantPicker(state.tenant, 'coverage-tenant');
  const form = h('form', { class: 'filters', testid: 'coverage-form' },
    field('cv-tenant', 'field.tenant', tenant),
    h('div', { class: 'field' }, h('span', { class: 'label', i18n: 'coverage.shade_by' }),
      toggle('mode', [['rules', 'coverage.mode_rules'], ['alerts', 'coverage.mode_alerts']], state.mode, (mode) => go({ mode }))),
    h('div', { class: 'field' }, h('span', { class: 'label', i18n: 'coverage.period' }),
      toggle('days', PERIODS.map((d) => [d, 'coverage.days', { n: d }]), state.days, (days) => go({ days }))),
    h('div', { class: 'filter-buttons' }, h('button', { type: 'submit', class: 'btn btn-primary', i18n: 'filter.apply', testid: 'coverage-apply' })));
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    go({ tenant: tenant.value.trim() });
  });
  const summary = h('p', { class: 'muted small', testid: 'coverage-summary' });
  const noAlerts = h('p', { class: 'muted small', i18n: 'coverage.no_alerts_read', hidden: true });
  const board = h('div', { class: 'coverage-wrap' }, loading());
  const panel = h('aside', { class: 'card coverage-detail', hidden: true, testid: 'coverage-cell-rules', 'aria-live': 'polite' });
  main.append(h('section', { class: 'view', testid: 'view-coverage', dataset: { mode: state.mode, days: String(state.days) } },
    h('div', { class: 'view-head' }, h('h1', { i18n: 'coverage.title' }), rulesTabs('coverage')),
    h('p', { class: 'muted small', i18n: 'coverage.lead' }),
    form, summary, noAlerts,
    board, panel));
  document.title = `${t('coverage.title')} · ${t('app.title')}`;

  let data;
  try {
    data = await api('/rules/coverage', { query: { tenant: state.tenant, days: state.days } });
  } catch (e) {
    fill(board, errorBox(e, 'coverage-error'));
    return null;
  }
  const rules = Object.fromEntries(data.rules.map((r) => [r.id, r]));
  const valueOf = (cell) => (state.mode === 'alerts' ? cell.alerts : cell.enabled_rules);
  const max = Math.max(0, ...data.tactics.flatMap((c) => c.cells.map(valueOf)));

  function openCell(column, cell, button) {
    for (const b of board.querySelectorAll('.cov-cell.active')) b.classList.remove('active');
    button.classList.add('active');
    panel.hidden = false;
    const close = h('button', { type: 'button', class: 'btn btn-small', i18n: 'action.close_panel', testid: 'coverage-panel-close', on: { click: () => { panel.hidden = true; button.classList.remove('active'); } } });
    fill(panel,
      h('div', { class: 'detail-head' },
        h('h2', { tabindex: -1, testid: 'coverage-panel-title' }, `${cell.technique} · `, h('span', { i18n: tacticKey(column.tactic) })),
        close),
      cell.subtechniques.length ? h('p', { class: 'small' }, cell.subtechniques.map((s) => h('code', { class: 'tag' }, s))) : null,
      h('p', { class: 'muted small', i18n: 'coverage.cell_summary', vars: { rules: cell.rules.length, on: cell.enabled_rules, alerts: cell.alerts, days: data.days } }),
      h('table', { class: 'grid compact' },
        h('thead', null, h('tr', null, h('th', { i18n: 'field.rule' }), h('th', { i18n: 'rules.level' }), h('th', { i18n: 'rules.enabled' }), h('th', { class: 'num', i18n: 'coverage.alerts' }))),
        h('tbody', null, cell.rules.map((id) => rules[id]).map((r) => h('tr', { testid: 'coverage-rule', dataset: { id: r.id, enabled: String(r.enabled) } },
          h('td', null, h('a', { href: `#/rules/${encodeURIComponent(r.id)}${state.tenant ? `?tenant=${encodeURIComponent(state.tenant)}` : ''}`, testid: 'coverage-rule-link' }, r.title),
            h('div', { class: 'small' }, r.techniques.map((x) => h('code', { class: 'tag' }, x)))),
          h('td', null, r.level ? severityBadge(r.level) : '—'),
          h('td', null, onOffBadge(r.enabled)),
          h('td', { class: 'num' }, String(r.alerts)))))));
    panel.querySelector('h2')?.focus();
  }

  const columns = data.tactics.map((column) => h('div', { class: 'cov-col', testid: 'coverage-tactic', role: 'group', dataset: { tactic: column.tactic }, attrs18n: { 'aria-label': tacticKey(column.tactic) } },
    h('div', { class: 'cov-head' },
      h('span', { class: 'cov-tactic', i18n: tacticKey(column.tactic) }),
      h('span', { class: 'muted small', i18n: 'coverage.techniques', vars: { n: column.cells.length } })),
    column.cells.map((cell) => {
      const value = valueOf(cell);
      const button = h('button', {
        type: 'button',
        class: ['cov-cell', `shade-${shadeOf(value, max)}`, state.mode === 'alerts' ? 'by-alerts' : 'by-rules'],
        testid: 'coverage-cell',
        dataset: { technique: cell.technique, tactic: column.tactic, rules: String(cell.rules.length), enabled: String(cell.enabled_rules), alerts: String(cell.alerts), shade: String(shadeOf(value, max)) },
        title: cell.subtechniques.join(' '),
      },
      h('span', { class: 'cov-technique' }, cell.technique),
      h('span', { class: 'cov-value', i18n: state.mode === 'alerts' ? 'coverage.n_alerts' : 'coverage.n_rules', vars: { n: value, total: cell.rules.length } }));
      button.addEventListener('click', () => openCell(column, cell, button));
      return button;
    })));
  fill(board,
    h('div', { class: 'cov-matrix', testid: 'coverage-matrix' }, columns),
    h('div', { class: 'cov-legend', testid: 'coverage-legend' },
      h('span', { class: 'muted small', i18n: state.mode === 'alerts' ? 'coverage.legend_alerts' : 'coverage.legend_rules', vars: { days: data.days } }),
      Array.from({ length: SHADES }, (_, i) => h('span', { class: `cov-swatch shade-${i} ${state.mode === 'alerts' ? 'by-alerts' : 'by-rules'}` })),
      h('span', { class: 'muted small' }, `0 … ${max}`)));
  const techniques = data.tactics.reduce((n, c) => n + c.cells.length, 0);
  summary.dataset.i18n = 'coverage.summary';
  summary.dataset.i18nVars = JSON.stringify({ techniques, rules: data.rules.length });
  summary.textContent = t('coverage.summary', { techniques, rules: data.rules.length });
  noAlerts.hidden = data.alerts_counted;
  return null;
}
