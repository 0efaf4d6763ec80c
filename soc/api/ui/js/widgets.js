// Shared pieces: toasts, the modal form dialog, error boxes, key/value tables.

import { h } from './dom.js';
import { t } from './i18n.js';

/** A short message in the corner; kind: 'info' | 'ok' | 'error'. Text is already translated. */
export function toast(text, kind = 'info') {
  const box = document.getElementById('toasts');
  const el = h('div', { class: `toast toast-${kind}`, testid: `toast-${kind}` }, text);
  box.append(el);
  while (box.children.length > 3) box.firstElementChild.remove();
  setTimeout(() => el.remove(), kind === 'error' ? 12_000 : 4_000);
}

/** An inline error box showing an ApiError's detail (with its HTTP status). */
export function errorBox(err, testid = 'error') {
  const status = err?.status ? ` (${err.status})` : '';
  return h(
    'div',
    { class: 'error-box', role: 'alert', testid },
    h('strong', { i18n: 'error.prefix' }),
    ' ',
    h('span', { testid: `${testid}-detail` }, `${err?.detail ?? err?.message ?? err}${status}`),
  );
}

/**
 * A modal form in a <dialog>. fields: [{name, i18n, type: 'text'|'textarea'|'select', required,
 * options: [{value, i18n|text}], value}]. Resolves to the values, or null when cancelled.
 */
export function formDialog({ title, titleVars, fields, submit = 'action.confirm', testid = 'dialog', message = null }) {
  return new Promise((resolve) => {
    const inputs = {};
    const rows = fields.map((f) => {
      const id = `dlg-${f.name}`;
      let input;
      if (f.type === 'textarea') {
        input = h('textarea', { id, name: f.name, rows: 4, required: f.required, testid: `dialog-${f.name}` });
      } else if (f.type === 'select') {
        input = h(
          'select',
          { id, name: f.name, required: f.required, testid: `dialog-${f.name}` },
          f.options.map((o) =>
            h('option', { value: o.value, i18n: o.i18n, selected: o.value === f.value }, o.i18n ? null : o.text),
          ),
        );
      } else {
        input = h('input', {
          id,
          name: f.name,
          type: 'text',
          required: f.required,
          autocomplete: 'off',
          list: f.list,
          pattern: f.pattern,
          testid: `dialog-${f.name}`,
        });
      }
      if (f.value != null && f.type !== 'select') input.value = f.value;
      inputs[f.name] = input;
      return h('div', { class: 'field' }, h('label', { for: id, i18n: f.i18n }), input);
    });
    const dlg = h(
      'dialog',
      { class: 'dialog', testid, 'aria-labelledby': 'dlg-title' },
      h(
        'form',
        { method: 'dialog' },
        h('h2', { id: 'dlg-title', i18n: title, vars: titleVars }),
        message ? h('p', { i18n: message }) : null,
        rows,
        h(
          'div',
          { class: 'dialog-actions' },
          h('button', { type: 'button', class: 'btn', value: 'cancel', i18n: 'action.cancel', testid: 'dialog-cancel', on: { click: () => dlg.close('cancel') } }),
          h('button', { type: 'submit', class: 'btn btn-primary', value: 'ok', i18n: submit, testid: 'dialog-submit' }),
        ),
      ),
    );
    dlg.addEventListener('close', () => {
      const ok = dlg.returnValue === 'ok';
      dlg.remove();
      resolve(ok ? Object.fromEntries(Object.entries(inputs).map(([k, el]) => [k, el.value.trim()])) : null);
    });
    document.body.append(dlg);
    dlg.showModal();
    (inputs[fields[0]?.name] ?? dlg.querySelector('[type=submit]')).focus();
  });
}

/** A two-column table of a flat object's keys and values, sorted by key. */
export function kvTable(obj, testid) {
  const entries = Object.entries(obj ?? {}).sort(([a], [b]) => a.localeCompare(b));
  return h(
    'table',
    { class: 'kv', testid },
    h('tbody', null, entries.map(([k, v]) =>
      h('tr', null, h('th', { scope: 'row' }, k), h('td', null, typeof v === 'object' && v !== null ? JSON.stringify(v) : String(v))),
    )),
  );
}

/** Pretty JSON in a scrollable block. */
export function jsonBlock(value, testid) {
  return h('pre', { class: 'json', testid, tabindex: 0 }, JSON.stringify(value, null, 2));
}

/** A labelled form control row for filter bars. */
export function field(id, i18n, control) {
  control.id = id;
  return h('div', { class: 'field' }, h('label', { for: id, i18n }), control);
}

export function loading() {
  return h('p', { class: 'muted', i18n: 'common.loading', testid: 'loading' });
}

export { t };
