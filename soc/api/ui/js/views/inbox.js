// A response unit's hand-off inbox: incidents offered to my unit (accept or reject), and
// the incidents my unit owns.

import { api } from '../api.js';
import { clear, fill, h } from '../dom.js';
import { t } from '../i18n.js';
import { can, currentUser } from '../session.js';
import { on } from '../stream.js';
import { incidentOf, incidentTable, itemsOf, pendingHandOff, versionOf, write } from '../incidents_common.js';
import { errorBox, formDialog, loading, toast } from '../widgets.js';

export async function render(main) {
  const unit = currentUser()?.unit;
  const pendingBox = h('div', { testid: 'inbox-pending' }, loading());
  const ownedBox = h('div', { testid: 'inbox-owned' }, loading());
  main.append(
    h('section', { class: 'view', testid: 'view-inbox' },
      h('div', { class: 'view-head' }, h('h1', { i18n: 'inbox.title' }), unit ? h('span', { class: 'badge unit', testid: 'inbox-unit' }, unit) : null),
      h('section', { class: 'panel' }, h('h2', { i18n: 'inbox.pending' }), pendingBox),
      h('section', { class: 'panel' }, h('h2', { i18n: 'inbox.owned' }), ownedBox)),
  );
  document.title = `${t('inbox.title')} · ${t('app.title')}`;
  if (!unit) {
    fill(pendingBox, h('p', { class: 'muted', i18n: 'inbox.no_unit' }));
    clear(ownedBox);
    return null;
  }

  async function answer(raw, action) {
    const inc = incidentOf(raw);
    let extra = {};
    if (action === 'reject') {
      const v = await formDialog({ title: 'action.reject', fields: [{ name: 'reason', i18n: 'incident.reason', type: 'textarea', required: true }], submit: 'action.reject', testid: 'dialog-reject' });
      if (!v) return;
      extra = v;
    }
    try {
      const res = await write(`/incidents/${encodeURIComponent(inc.id)}/actions`, { json: { command: { action, ...extra }, version: versionOf(raw) } });
      if (res.ok) toast(t(action === 'accept' ? 'inbox.accepted' : 'inbox.rejected', { title: inc.title }), 'ok');
    } catch (e) {
      toast(`${t('error.prefix')} ${e.detail}`, 'error');
    }
    await load();
  }

  const answerButtons = (raw) => {
    const inc = incidentOf(raw);
    const pending = pendingHandOff(inc);
    if (!pending || pending.to_unit !== unit || !can('incidents:write')) return null;
    return [
      h('button', { type: 'button', class: 'btn btn-primary', i18n: 'action.accept', testid: 'inbox-accept', on: { click: () => answer(raw, 'accept') } }),
      h('button', { type: 'button', class: 'btn btn-warn', i18n: 'action.reject', testid: 'inbox-reject', on: { click: () => answer(raw, 'reject') } }),
      pending.note ? h('p', { class: 'note small', testid: 'inbox-note' }, pending.note) : null,
    ];
  };

  async function load() {
    const [pending, owned] = await Promise.allSettled([
      api('/incidents', { query: { pending_unit: unit, limit: 100 } }),
      api('/incidents', { query: { owner_unit: unit, limit: 100 } }),
    ]);
    const show = (box, res, empty, opts) => {
      if (res.status === 'rejected') return fill(box, errorBox(res.reason, 'inbox-error'));
      const items = itemsOf(res.value);
      fill(box, items.length ? incidentTable(items, opts) : h('p', { class: 'muted', i18n: empty }));
    };
    show(pendingBox, pending, 'inbox.none_pending', { testid: 'inbox-pending-table', extra: answerButtons, extraHead: 'inbox.answer' });
    show(ownedBox, owned, 'inbox.none_owned', { testid: 'inbox-owned-table' });
  }

  // Changes pushed by /stream: reload once things settle, not once per event.
  let timer = null;
  const unsubscribe = on('incident', () => {
    clearTimeout(timer);
    timer = setTimeout(load, 500);
  });
  await load();
  return () => {
    clearTimeout(timer);
    unsubscribe();
  };
}
