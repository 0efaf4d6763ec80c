// Drills (#/drills, leads): start one from a scenario (speed, tenant, announced or blind),
// the drills newest first with their state and progress, and the lead's orders. The page
// polls every 2 s while a drill waits for its runner or replays. A drill's scorecard and
// printable report are js/views/drill.js.

import { api } from '../api.js';
import { fill, h } from '../dom.js';
import { t } from '../i18n.js';
import { can, currentUser } from '../session.js';
import { timeEl } from '../time.js';
import {
  LIVE_STATES, POLL_MS, drillKind, drillStateBadge, orderButtons, progressOf, scenarioTitle, scoreText,
} from '../drills_common.js';
import { errorBox, field, loading, toast } from '../widgets.js';

/** The tenant a drill of `scenario` runs in by default: its own when the lead may, else the lead's first. */
function defaultTenant(scenario) {
  const mine = currentUser()?.tenants ?? [];
  if (!scenario || mine.includes('*') || mine.includes(scenario.tenant)) return scenario?.tenant ?? '';
  return mine.find((x) => x !== '*') ?? scenario.tenant;
}

function startForm(scenarios, onStarted) {
  const mine = (currentUser()?.tenants ?? []).filter((x) => x !== '*');
  const pick = h('select', { name: 'scenario', required: true, testid: 'drill-scenario' },
    scenarios.map((s) => h('option', { value: s.id }, scenarioTitle(s))));
  const tenant = h('input', { name: 'tenant', autocomplete: 'off', list: 'drill-tenant-list', testid: 'drill-tenant', required: true });
  const tenants = h('datalist', { id: 'drill-tenant-list' }, mine.map((x) => h('option', { value: x })));
  const speed = h('input', { name: 'speed', type: 'number', min: '0.1', max: '10000', step: 'any', testid: 'drill-speed', class: 'speed-input' });
  const blind = h('input', { type: 'checkbox', name: 'blind', testid: 'drill-blind' });
  const about = h('div', { class: 'scenario-about', testid: 'drill-scenario-about' });
  const errorSlot = h('div', { testid: 'drill-form-error' });
  const submit = h('button', { type: 'submit', class: 'btn btn-primary', i18n: 'drills.start', testid: 'drill-submit' });

  function showScenario() {
    const s = scenarios.find((x) => x.id === pick.value);
    tenant.value = defaultTenant(s);
    speed.value = s ? String(s.speed) : '';
    fill(about, s
      ? [
          h('p', { class: 'small', testid: 'drill-scenario-description' }, s.description),
          h('dl', { class: 'meta' },
            h('dt', { i18n: 'drills.steps' }), h('dd', null, s.steps.join(' → ')),
            h('dt', { i18n: 'drills.expected' }), h('dd', null, s.expected.map((r) => h('code', { class: 'tag' }, r))),
            h('dt', { i18n: 'drills.unit' }), h('dd', { testid: 'drill-scenario-unit' }, s.unit),
            h('dt', { i18n: 'field.tenant' }), h('dd', null, s.tenant)),
        ]
      : null);
  }
  pick.addEventListener('change', showScenario);
  showScenario();

  const form = h('form', { class: 'card drill-form', testid: 'drill-form' },
    h('h2', { i18n: 'drills.new' }),
    h('div', { class: 'filters' },
      field('d-scenario', 'drills.scenario', pick),
      field('d-tenant', 'field.tenant', tenant),
      tenants,
      field('d-speed', 'drills.speed', speed),
      h('label', { class: 'check' }, blind, ' ', h('span', { i18n: 'drills.blind_check' })),
      h('div', { class: 'filter-buttons' }, submit)),
    about,
    h('p', { class: 'muted small', i18n: 'drills.blind_note' }),
    errorSlot);
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    fill(errorSlot);
    const body = { scenario: pick.value, blind: blind.checked };
    if (tenant.value.trim()) body.tenant = tenant.value.trim();
    if (speed.value.trim()) body.speed = Number(speed.value);
    submit.disabled = true;
    try {
      const drill = await api('/drills', { method: 'POST', json: body });
      toast(t('drills.started'), 'ok');
      await onStarted(drill);
    } catch (e) {
      fill(errorSlot, errorBox(e, 'drill-error'));
    } finally {
      submit.disabled = false;
    }
  });
  return form;
}

export async function render(main) {
  const tbody = h('tbody', { testid: 'drills-tbody' });
  const empty = h('p', { class: 'muted', i18n: 'drills.empty', hidden: true, testid: 'drills-empty' });
  const errorSlot = h('div');
  const formSlot = h('div', null, loading());
  const table = h('table', { class: 'grid', testid: 'drills-table' },
    h('caption', { class: 'sr-only', i18n: 'drills.title' }),
    h('thead', null, h('tr', null,
      h('th', { class: 'col-time' }, h('span', { i18n: 'drills.started_at' }), h('span', { class: 'th-note', i18n: 'time.zone_short' })),
      h('th', { i18n: 'drills.scenario' }),
      h('th', { i18n: 'field.status' }),
      h('th', { i18n: 'drills.kind' }),
      h('th', { i18n: 'field.tenant' }),
      h('th', { i18n: 'drills.progress' }),
      h('th', { class: 'num', i18n: 'drills.score' }),
      h('th', { i18n: 'drills.orders' }))),
    tbody);
  let scenarios = new Map();
  let timer = null;
  let stopped = false;

  function row(drill) {
    return h('tr', { testid: 'drill-row', dataset: { id: drill.id, state: drill.state, scenario: drill.scenario, blind: String(drill.blind) } },
      h('td', { class: 'col-time' },
        h('a', { href: `#/drills/${encodeURIComponent(drill.id)}`, testid: 'drill-link', title: drill.id }, timeEl(drill.started ?? drill.created))),
      h('td', null, scenarioTitle(scenarios.get(drill.scenario), drill.title), h('div', { class: 'muted small' }, drill.created_by)),
      h('td', null, drillStateBadge(drill.state), drill.error ? h('div', { class: 'small breached', testid: 'drill-error-text' }, drill.error) : null),
      h('td', null, drillKind(drill)),
      h('td', { testid: 'drill-tenant-cell' }, drill.tenant),
      h('td', null, progressOf(drill)),
      h('td', { class: 'num', testid: 'drill-score' }, scoreText(drill.score)),
      h('td', { class: 'row-actions' },
        orderButtons(drill, load),
        h('a', { href: `#/drills/${encodeURIComponent(drill.id)}`, class: 'btn btn-small', i18n: 'drills.scorecard', testid: 'drill-scorecard-link' })));
  }

  async function load() {
    clearTimeout(timer);
    timer = null;
    try {
      const drills = await api('/drills');
      if (stopped) return;
      fill(tbody, drills.map(row));
      empty.hidden = drills.length > 0;
      fill(errorSlot);
      if (drills.some((d) => LIVE_STATES.includes(d.state))) timer = setTimeout(load, POLL_MS);
    } catch (e) {
      if (!stopped) fill(errorSlot, errorBox(e, 'drills-error'));
    }
  }

  main.append(h('section', { class: 'view', testid: 'view-drills' },
    h('div', { class: 'view-head' }, h('h1', { i18n: 'drills.title' }), h('span', { class: 'muted small', i18n: 'drills.lead' })),
    can('drills:run') ? formSlot : null,
    errorSlot,
    h('div', { class: 'table-wrap' }, table, empty)));
  document.title = `${t('drills.title')} · ${t('app.title')}`;
  try {
    const list = await api('/drills/scenarios');
    scenarios = new Map(list.map((s) => [s.id, s]));
    fill(formSlot, startForm(list, load));
  } catch (e) {
    fill(formSlot, errorBox(e, 'scenarios-error'));
  }
  const relang = () => load(); // scenario titles are in the UI's language
  window.addEventListener('soc:lang', relang);
  await load();
  return () => {
    stopped = true;
    clearTimeout(timer);
    window.removeEventListener('soc:lang', relang);
  };
}
