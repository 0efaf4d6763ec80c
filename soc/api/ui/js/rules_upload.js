// Upload of rules on the rules page: one Sigma rule (pasted, or a .yml file) to POST
// /rules, or a zip pack to POST /rules/pack; each file is shown accepted (its rules, linked)
// or refused (the server's reason).

import { api } from './api.js';
import { enumText, fill, h } from './dom.js';
import { t } from './i18n.js';
import { errorBox, field, toast } from './widgets.js';

/** Upload of one YAML rule (pasted or a .yml file) or a zip pack, with what was accepted. */
export function uploadCard(onDone) {
  const file = h('input', { type: 'file', accept: '.yml,.yaml,.zip,text/yaml,application/zip', testid: 'rule-upload-file' });
  const text = h('textarea', { rows: 6, spellcheck: 'false', class: 'code', testid: 'rule-upload-text', attrs18n: { placeholder: 'rules.upload_placeholder' } });
  const report = h('div', { testid: 'rule-upload-report', 'aria-live': 'polite' });
  const submit = h('button', { type: 'submit', class: 'btn btn-primary', i18n: 'rules.upload', testid: 'rule-upload-submit' });
  let zip = null;
  file.addEventListener('change', async () => {
    const f = file.files?.[0];
    zip = null;
    if (!f) return;
    if (/\.zip$/i.test(f.name)) {
      zip = f;
      text.value = '';
      text.disabled = true;
    } else {
      text.disabled = false;
      text.value = await f.text();
    }
  });

  function fileRow(result) {
    return h('tr', { testid: 'upload-file-row', dataset: { accepted: String(result.accepted), name: result.name } },
      h('td', null, h('code', null, result.name)),
      h('td', null, enumText('rules', result.accepted ? 'accepted' : 'refused', { class: `badge rule-${result.accepted ? 'on' : 'off'}` })),
      h('td', null, result.accepted
        ? [...result.rules.map((r) => h('a', { href: `#/rules/${encodeURIComponent(r.id)}`, class: 'hunt-rule', testid: 'upload-rule-link', dataset: { id: r.id } },
          `${r.title} (r${r.revision}${r.changed ? '' : `, ${t('rules.unchanged')}`})`)), missing(result)]
        : h('span', { testid: 'upload-reason' }, result.reason ?? '')));
  }

  // Rules a correlation or filter names that are nowhere yet: it does not run until they are.
  function missing(result) {
    const found = (result.warnings ?? []).filter((w) => w.validator === 'references');
    if (!found.length) return null;
    return h('div', { class: 'small', testid: 'upload-missing-rules' },
      h('strong', { i18n: 'rules.missing_references' }),
      h('ul', null, found.map((w) => h('li', null, w.description))));
  }

  function showReport(files, summary) {
    fill(report,
      summary,
      h('table', { class: 'grid compact', testid: 'upload-files' },
        h('thead', null, h('tr', null, h('th', { i18n: 'rules.file' }), h('th', { i18n: 'field.status' }), h('th', { i18n: 'rules.result' }))),
        h('tbody', null, files.map(fileRow))));
  }

  const form = h('form', { class: 'card rule-upload', testid: 'rule-upload' },
    h('h2', { i18n: 'rules.upload_title' }),
    h('p', { class: 'muted small', i18n: 'rules.upload_note' }),
    field('ru-text', 'rules.upload_text', text),
    h('div', { class: 'filters' }, field('ru-file', 'rules.upload_file', file), h('div', { class: 'filter-buttons' }, submit)),
    report);
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    submit.disabled = true;
    try {
      if (zip) {
        const r = await api('/rules/pack', { method: 'POST', body: await zip.arrayBuffer(), type: 'application/zip' });
        showReport(r.files, h('p', { testid: 'upload-summary', i18n: 'rules.pack_summary', vars: { accepted: r.accepted, refused: r.refused, skipped: r.skipped.length } }));
      } else if (text.value.trim()) {
        const r = await api('/rules', { method: 'POST', json: { yaml: text.value } });
        showReport([{ ...r, name: file.files?.[0]?.name ?? r.name }], null);
      } else {
        fill(report, errorBox({ detail: t('rules.upload_empty') }, 'upload-error'));
        return;
      }
      toast(t('rules.uploaded'), 'ok');
      onDone();
    } catch (e) {
      if (e.status === 400 && !zip) showReport([{ name: file.files?.[0]?.name ?? 'upload.yml', accepted: false, reason: e.detail, rules: [] }], null);
      else fill(report, errorBox(e, 'upload-error'));
    } finally {
      submit.disabled = false;
    }
  });
  return form;
}
