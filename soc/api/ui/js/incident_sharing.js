// The incident's sharing: its TLP (shown, and changed by those the server allows) and
// where it was shared ("Shared with the national platform at ..."), with a lead's
// approval button. Times in Asia/Ho_Chi_Minh (time.js).

import { api } from './api.js';
import { fill, h } from './dom.js';
import { currentLang, t } from './i18n.js';
import { can } from './session.js';
import { formatLocal } from './time.js';
import { errorBox } from './widgets.js';

const TLPS = ['clear', 'green', 'amber', 'amber+strict', 'red'];
const STATE_KEY = { shared: 'incident.shared_with', withheld: 'incident.share_withheld' };

/** The TLP badge, and a select to change it when `mayChange` (calls `onSet(tlp)`). */
export function tlpField(inc, mayChange, onSet) {
  const shown = inc.tlp
    ? h('span', { class: ['badge', `tlp-${inc.tlp.replace('+', '-')}`], testid: 'incident-tlp', dataset: { value: inc.tlp } }, `TLP:${inc.tlp.toUpperCase()}`)
    : h('span', { class: 'muted', i18n: 'incident.tlp_default', testid: 'incident-tlp', dataset: { value: '' } });
  if (!mayChange) return shown;
  const select = h('select', { 'aria-label': t('incident.set_tlp'), testid: 'tlp-select', on: { change: (ev) => { if (ev.target.value) onSet(ev.target.value); } } },
    h('option', { value: '', i18n: 'incident.set_tlp' }),
    TLPS.filter((x) => x !== inc.tlp).map((x) => h('option', { value: x }, `TLP:${x.toUpperCase()}`)));
  return h('span', { class: 'tlp-field' }, shown, ' ', select);
}

function shareItem(view) {
  const job = view.job;
  const target = currentLang() === 'en' ? view.target_name : view.target_name_vi;
  const vars = { target, time: formatLocal(job.shared_at ?? job.created), n: job.attempts, reason: job.last_error ?? '' };
  const waiting = job.state !== 'shared' && job.state !== 'withheld';
  return h('li', { testid: 'share', dataset: { state: job.state, target: job.target } },
    h('strong', { i18n: STATE_KEY[job.state] ?? 'incident.share_pending', vars }),
    job.state === 'shared'
      ? h('p', { class: 'muted small', i18n: 'incident.share_counts', vars: { accepted: job.accepted, tlp: (job.tlp ?? '').toUpperCase() } })
      : null,
    waiting && job.last_error
      ? h('p', { class: 'note', testid: 'share-error' }, h('span', { i18n: 'incident.share_error' }), ': ', job.last_error)
      : null);
}

/** Loads `${path}/shares` into `box`; a lead gets the approval button (`approve()`). */
export async function renderShares(box, path, approve) {
  let list;
  try {
    list = await api(`${path}/shares`);
  } catch (e) {
    fill(box, h('h2', { i18n: 'incident.shares' }), errorBox(e, 'shares-error'));
    return;
  }
  fill(box,
    h('h2', { i18n: 'incident.shares' }),
    list.length ? h('ol', { class: 'shares' }, list.map(shareItem)) : h('p', { class: 'muted', i18n: 'incident.no_shares' }),
    can('sharing:approve')
      ? h('button', { type: 'button', class: 'btn', i18n: 'action.share', testid: 'share-approve', on: { click: approve } })
      : null,
  );
}
