// Sign in: username and password (OAuth2 password flow), or an API key.

import { clear, fill, h } from '../dom.js';
import { t } from '../i18n.js';
import { signIn, signInWithKey } from '../session.js';
import { errorBox } from '../widgets.js';

export function render(main, { onSignedIn }) {
  const errorSlot = h('div', { class: 'error-slot' });
  const busy = (form, on) => {
    for (const b of form.querySelectorAll('button')) b.disabled = on;
    form.setAttribute('aria-busy', String(on));
  };
  const fail = (e) => {
    const box = errorBox(e, 'login-error');
    if (e.status === 429 && e.retryAfter) {
      box.append(' ', h('span', { i18n: 'login.retry_after', vars: { s: e.retryAfter } }));
    }
    fill(errorSlot, box);
  };

  const username = h('input', { id: 'login-username', name: 'username', autocomplete: 'username', required: true, testid: 'login-username', autocapitalize: 'none', spellcheck: 'false' });
  const password = h('input', { id: 'login-password', name: 'password', type: 'password', autocomplete: 'current-password', required: true, testid: 'login-password' });
  const form = h(
    'form',
    { class: 'card login', testid: 'login-form', novalidate: false },
    h('h1', { i18n: 'login.title' }),
    h('div', { class: 'field' }, h('label', { for: 'login-username', i18n: 'login.username' }), username),
    h('div', { class: 'field' }, h('label', { for: 'login-password', i18n: 'login.password' }), password),
    errorSlot,
    h('button', { type: 'submit', class: 'btn btn-primary', i18n: 'login.submit', testid: 'login-submit' }),
  );
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    clear(errorSlot);
    busy(form, true);
    try {
      await signIn(username.value.trim(), password.value);
      password.value = '';
      onSignedIn();
    } catch (e) {
      fail(e);
    } finally {
      busy(form, false);
    }
  });

  const key = h('input', { id: 'login-key', type: 'password', autocomplete: 'off', testid: 'login-key' });
  const keyForm = h(
    'form',
    { class: 'key-form' },
    h('div', { class: 'field' }, h('label', { for: 'login-key', i18n: 'login.api_key' }), key),
    h('button', { type: 'submit', class: 'btn', i18n: 'login.use_key', testid: 'login-key-submit' }),
  );
  keyForm.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    clear(errorSlot);
    busy(keyForm, true);
    try {
      await signInWithKey(key.value.trim());
      key.value = '';
      onSignedIn();
    } catch (e) {
      fail(e);
    } finally {
      busy(keyForm, false);
    }
  });

  main.append(
    h(
      'section',
      { class: 'login-wrap', testid: 'view-login' },
      form,
      h('details', { class: 'card login-key' }, h('summary', { i18n: 'login.with_key' }), keyForm),
      h('p', { class: 'muted small', i18n: 'login.note' }),
    ),
  );
  username.focus();
  document.title = `${t('login.title')} · ${t('app.title')}`;
}
