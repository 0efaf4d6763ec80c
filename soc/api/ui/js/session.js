// Who is signed in: the token (sessionStorage, gone when the tab closes) and /auth/me.

import { api, clearToken, getToken, setToken } from './api.js';

let me = null;

export function currentUser() {
  return me;
}

/** Whether the signed-in user's role allows `permission` (the server checks again). */
export function can(permission) {
  return Boolean(me?.permissions?.includes(permission));
}

export function isSignedIn() {
  return Boolean(getToken());
}

/** OAuth2 password flow; stores the token and loads the user. Throws ApiError. */
export async function signIn(username, password) {
  const res = await api('/auth/token', {
    method: 'POST',
    form: { grant_type: 'password', username, password },
    auth: false,
  });
  setToken(res.access_token);
  if (res.user) {
    me = { ...res.user, permissions: res.user.permissions ?? [] };
    return me;
  }
  try {
    await loadMe();
  } catch (e) {
    clearToken();
    throw e;
  }
  return me;
}

/** Sign in with an API key instead of a password (development keys, service accounts). */
export async function signInWithKey(key) {
  setToken(key);
  try {
    await loadMe();
  } catch (e) {
    clearToken();
    throw e;
  }
  return me;
}

export async function loadMe() {
  try {
    me = await api('/auth/me');
  } catch (e) {
    if (e.status !== 404) throw e;
    // A service without /auth/me yet: an API key that may read alerts, nothing more.
    me = { name: 'API key', role: 'key', tenants: [], unit: null, permissions: ['alerts:read'] };
  }
  me.permissions ??= [];
  return me;
}

export async function signOut() {
  try {
    if (getToken()) await api('/auth/logout', { method: 'POST' });
  } catch {
    // The session ends here either way.
  }
  forget();
}

export function forget() {
  me = null;
  clearToken();
}
