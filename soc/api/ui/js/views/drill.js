// One drill (#/drills/<id>): its scorecard — each expected detection met, late, missed or
// pending against its budget, the response milestones, the hand-offs (to the expected unit
// or not), noise, verdicts, the scores and the scenario's earlier runs — refreshed every
// 2 s while the drill waits or replays. #/drills/<id>/report: the printable report, an
// HTML fragment the server renders and escapes (GET /drills/{id}/report?lang=), printed
// alone on A4 (app.css @media print; its own style is /ui/drill-report.css).

import { api } from '../api.js';
import { enumText, fill, h, svg } from '../dom.js';
import { currentLang, t } from '../i18n.js';
import { timeEl } from '../time.js';
import {
  LIVE_STATES, POLL_MS, drillKind, drillStateBadge, durationText, orderButtons, scenarioTitle, scoreText,
} from '../drills_common.js';
import { errorBox, loading } from '../widgets.js';

const MILESTONES = ['triage', 'hand_off', 'acknowledge', 'resolve'];
const VERDICTS = ['true_positive', 'false_positive', 'undetermined'];

function outcomeBadge(outcome) {
  return enumText('drill_outcome', outcome, { class: `badge outcome-${outcome}`, testid: 'outcome', 'data-value': outcome });
}

function head(...keys) {
  return h('thead', null, h('tr', null, keys.map((k) => (typeof k === 'string' ? h('th', { i18n: k }) : k))));
}

function timeHead(key) {
  return h('th', { class: 'col-time' }, h('span', { i18n: key }), h('span', { class: 'th-note', i18n: 'time.zone_short' }));
}

function incidentLink(id) {
  return h('a', { href: `#/incidents/${encodeURIComponent(id)}`, testid: 'scorecard-incident' }, h('code', null, id));
}

function scoreCard(i18n, value, testid) {
  return h('div', { class: 'card stat', testid, dataset: { value: value ?? '' } },
    h('div', { class: 'stat-label', i18n }),
    h('div', { class: 'stat-value' }, scoreText(value), value == null ? null : h('span', { class: 'muted small' }, ' / 100')));
}

function detectionTable(card) {
  const rows = card.steps.flatMap((step) => step.detections.map((r, i) =>
    h('tr', { testid: 'detection-row', class: `outcome-row-${r.outcome}`, dataset: { step: step.name, rule: r.rule, outcome: r.outcome } },
      h('td', null, i === 0 ? [h('strong', null, step.title), h('div', { class: 'muted small' }, timeEl(step.first_event_at))] : null),
      h('td', null, r.rule_title ?? h('code', null, r.rule), r.rule_title ? h('div', { class: 'muted small' }, h('code', null, r.rule)) : null),
      h('td', null, r.host ?? '—'),
      h('td', { class: 'col-time' }, timeEl(r.alert_at)),
      h('td', { class: 'num', testid: 'detection-seconds' }, durationText(r.seconds)),
      h('td', { class: 'num' }, durationText(r.budget_s)),
      h('td', null, outcomeBadge(r.outcome)),
      h('td', { class: 'num', testid: 'detection-score' }, scoreText(r.score)))));
  return h('table', { class: 'grid', testid: 'scorecard-detections' },
    head('drills.step', 'field.rule', 'field.host', timeHead('drills.alert_at'), 'drills.took', 'drills.budget', 'drills.outcome', 'drills.score'),
    h('tbody', null, rows.length ? rows : h('tr', null, h('td', { colspan: 8, class: 'muted', i18n: 'drills.none' }))));
}

function responseTable(card) {
  const byName = new Map(card.response.map((m) => [m.name, m]));
  return h('table', { class: 'grid', testid: 'scorecard-response' },
    head('drills.milestone', timeHead('drills.at'), 'drills.took', 'drills.budget', 'drills.outcome', 'drills.score'),
    h('tbody', null, MILESTONES.filter((n) => byName.has(n)).map((n) => {
      const m = byName.get(n);
      return h('tr', { testid: 'milestone-row', dataset: { name: n, outcome: m.outcome } },
        h('td', null, h('span', { i18n: `drill_milestone.${n}` })),
        h('td', { class: 'col-time' }, timeEl(m.at)),
        h('td', { class: 'num' }, durationText(m.seconds)),
        h('td', { class: 'num' }, durationText(m.budget_s)),
        h('td', null, outcomeBadge(m.outcome)),
        h('td', { class: 'num' }, scoreText(m.score)));
    })));
}

function handoffTable(card) {
  if (!card.handoffs.length) return h('p', { class: 'muted', i18n: 'drills.no_handoffs', vars: { unit: card.expected_unit }, testid: 'scorecard-no-handoffs' });
  return h('table', { class: 'grid', testid: 'scorecard-handoffs' },
    head(timeHead('drills.at'), 'incident.to_unit', 'drills.expected_unit', 'field.status', 'field.incident'),
    h('tbody', null, card.handoffs.map((x) =>
      h('tr', { testid: 'handoff-row', dataset: { unit: x.to_unit, expected: String(x.expected) } },
        h('td', { class: 'col-time' }, timeEl(x.at)),
        h('td', null, h('strong', null, x.to_unit)),
        h('td', null, h('span', {
          class: ['badge', x.expected ? 'outcome-met' : 'outcome-missed'],
          i18n: x.expected ? 'drills.unit_expected' : 'drills.unit_other',
          vars: { unit: card.expected_unit },
          testid: 'handoff-expected',
        })),
        h('td', null, enumText('handoff_state', x.state, { class: `badge st-${x.state}` })),
        h('td', null, incidentLink(x.incident_id))))));
}

function noiseTable(card) {
  if (!card.noise.length) return h('p', { class: 'muted', i18n: 'drills.no_noise', testid: 'scorecard-no-noise' });
  return h('table', { class: 'grid', testid: 'scorecard-noise' },
    head(timeHead('field.time'), 'field.rule', 'field.host'),
    h('tbody', null, card.noise.map((n) =>
      h('tr', { testid: 'noise-row', dataset: { alertId: n.alert_id, rule: n.rule_id } },
        h('td', { class: 'col-time' }, timeEl(n.at)), h('td', null, n.rule_title), h('td', null, n.host ?? '—')))));
}

function verdictList(card) {
  const keys = [...new Set([...VERDICTS, ...Object.keys(card.verdicts)])];
  return h('dl', { class: 'meta', testid: 'scorecard-verdicts' }, keys.map((k) => [
    h('dt', null, enumText('verdict', k)),
    h('dd', { class: 'num-left', dataset: { verdict: k } }, String(card.verdicts[k] ?? 0))]));
}

function historyTable(card, id) {
  const max = 100;
  return h('table', { class: 'grid', testid: 'scorecard-history' },
    head(timeHead('drills.started_at'), 'drills.drill_id', 'field.status', 'drills.score', h('th', { class: 'bar-cell' }, h('span', { class: 'sr-only', i18n: 'drills.trend' }))),
    h('tbody', null, card.history.map((p) =>
      h('tr', { testid: 'history-row', class: p.drill_id === id ? 'active' : null, dataset: { id: p.drill_id, score: p.score ?? '' } },
        h('td', { class: 'col-time' }, timeEl(p.started)),
        h('td', null, p.drill_id === id ? h('code', null, p.drill_id) : h('a', { href: `#/drills/${encodeURIComponent(p.drill_id)}` }, h('code', null, p.drill_id))),
        h('td', null, drillStateBadge(p.state)),
        h('td', { class: 'num' }, scoreText(p.score)),
        h('td', { class: 'bar-cell' }, svg('svg', { class: 'bar', viewBox: '0 0 100 10', preserveAspectRatio: 'none', 'aria-hidden': 'true' },
          svg('rect', { x: 0, y: 0, height: 10, width: Math.max(0.5, p.score ?? 0) * (100 / max), class: 'bar-fill' })))))));
}

function scorecardBody(card, id, scenario, reload) {
  const d = card.drill;
  const meta = [
    ['drills.drill_id', h('code', { testid: 'scorecard-id' }, d.id)],
    ['field.tenant', d.tenant],
    ['drills.speed', h('span', { testid: 'scorecard-speed' }, `x${d.speed}`)],
    ['drills.unit', h('strong', { testid: 'scorecard-unit' }, card.expected_unit)],
    ['drills.created_by', d.created_by],
    ['drills.started_at', timeEl(d.started)],
    ['drills.replayed_at', timeEl(d.replayed)],
    ['drills.ended_at', timeEl(d.ended)],
    ['drills.first_alert', timeEl(card.first_alert_at)],
    ['drills.generated', timeEl(card.generated)],
    d.error ? ['drills.error', h('code', { testid: 'drill-error-text' }, d.error)] : null,
  ].filter(Boolean);
  return [
    h('div', { class: 'title-row' },
      h('h1', { testid: 'scorecard-title' }, scenarioTitle(scenario, card.scenario_title)),
      drillStateBadge(d.state), drillKind(d)),
    card.faster_than_real_time ? h('p', { class: 'drill-note', i18n: 'drills.faster_note', vars: { speed: d.speed }, testid: 'scorecard-faster' }) : null,
    h('div', { class: 'actionbar' },
      h('div', { class: 'group' }, orderButtons(d, reload)),
      h('div', { class: 'group' },
        h('a', { href: `#/drills/${encodeURIComponent(id)}/report`, class: 'btn btn-primary', i18n: 'drills.report', testid: 'scorecard-report-link' }),
        h('button', { type: 'button', class: 'btn', i18n: 'drills.refresh', testid: 'scorecard-refresh', on: { click: () => reload() } }))),
    h('dl', { class: 'meta meta-wide' }, meta.map(([k, v]) => [h('dt', { i18n: k }), h('dd', null, v)])),
    h('div', { class: 'stats' },
      scoreCard('drills.detection_score', card.detection_score, 'score-detection'),
      scoreCard('drills.response_score', card.response_score, 'score-response'),
      scoreCard('drills.overall_score', card.score, 'score-overall')),
    h('section', { class: 'panel' }, h('h2', { i18n: 'drills.detection' }), detectionTable(card)),
    h('section', { class: 'panel' }, h('h2', { i18n: 'drills.response' }),
      h('p', { class: 'muted small', i18n: 'drills.response_note' }),
      responseTable(card),
      h('h3', { i18n: 'drills.handoffs' }),
      handoffTable(card),
      card.unit_correct == null ? null : h('p', { testid: 'scorecard-unit-correct', dataset: { value: String(card.unit_correct) } },
        h('span', { class: ['badge', card.unit_correct ? 'outcome-met' : 'outcome-missed'], i18n: card.unit_correct ? 'drills.unit_correct' : 'drills.unit_wrong', vars: { unit: card.expected_unit } }))),
    h('div', { class: 'overview-grid' },
      h('section', { class: 'panel' }, h('h2', { i18n: 'drills.noise' }), noiseTable(card)),
      h('section', { class: 'panel' }, h('h2', { i18n: 'drills.verdicts' }), verdictList(card),
        h('h3', { i18n: 'drills.incidents' }),
        card.incidents.length
          ? h('ul', { class: 'plain', testid: 'scorecard-incidents' }, card.incidents.map((x) => h('li', null, incidentLink(x))))
          : h('p', { class: 'muted', i18n: 'drills.none' }))),
    h('section', { class: 'panel' }, h('h2', { i18n: 'drills.history' }), historyTable(card, id)),
  ];
}

async function renderScorecard(main, id) {
  const body = h('div', null, loading());
  main.append(h('section', { class: 'view drill', testid: 'view-drill', dataset: { id } },
    h('p', { class: 'crumbs' }, h('a', { href: '#/drills', i18n: 'nav.drills', testid: 'drills-back' }), ' / ', h('code', null, id)),
    body));
  document.title = `${t('drills.scorecard')} · ${t('app.title')}`;
  let timer = null;
  let stopped = false;
  let scenario = null;

  async function load() {
    clearTimeout(timer);
    timer = null;
    try {
      const card = await api(`/drills/${encodeURIComponent(id)}/scorecard`);
      if (scenario?.id !== card.drill.scenario) {
        // Only for its Vietnamese title; the scorecard is shown without it.
        scenario = (await api('/drills/scenarios').catch(() => [])).find((s) => s.id === card.drill.scenario) ?? null;
      }
      if (stopped) return;
      fill(body, scorecardBody(card, id, scenario, load));
      body.dataset.state = card.drill.state;
      if (LIVE_STATES.includes(card.drill.state)) timer = setTimeout(load, POLL_MS);
    } catch (e) {
      if (!stopped) fill(body, errorBox(e, 'scorecard-error'));
    }
  }

  const relang = () => load();
  window.addEventListener('soc:lang', relang); // the scenario's title is in the UI's language
  await load();
  return () => {
    stopped = true;
    clearTimeout(timer);
    window.removeEventListener('soc:lang', relang);
  };
}

async function renderReport(main, id) {
  const host = h('div', { class: 'report-host', testid: 'drill-report' }, loading());
  main.append(h('section', { class: 'view drill-report-view', testid: 'view-drill-report', dataset: { id } },
    h('div', { class: 'view-head no-print' },
      h('a', { href: `#/drills/${encodeURIComponent(id)}`, class: 'btn btn-ghost', i18n: 'drills.back_scorecard', testid: 'report-back' }),
      h('h1', { i18n: 'drills.report' }),
      h('span', { class: 'spacer' }),
      h('button', { type: 'button', class: 'btn btn-primary', i18n: 'drills.print', testid: 'report-print', on: { click: () => window.print() } })),
    host));
  document.title = `${t('drills.report')} · ${t('app.title')}`;

  async function load() {
    const lang = currentLang();
    try {
      const html = await api(`/drills/${encodeURIComponent(id)}/report`, { query: { lang } });
      // The server renders the report and escapes every value in it (soc/drills/report.py).
      host.innerHTML = html;
      host.dataset.lang = lang;
    } catch (e) {
      fill(host, errorBox(e, 'report-error'));
    }
  }

  const relang = () => load();
  window.addEventListener('soc:lang', relang);
  await load();
  return () => window.removeEventListener('soc:lang', relang);
}

export async function render(main, { id, sub }) {
  return sub === 'report' ? renderReport(main, id) : renderScorecard(main, id);
}
