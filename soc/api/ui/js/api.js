// The one way the UI talks to the API: bearer token from sessionStorage, JSON in and out,
// RFC 9457 problem documents turned into ApiError (its .detail is what the user reads).

const BASE = '/api/v1';
const TOKEN_KEY = 'soc.token';

export class ApiError extends Error {
  constructor(status, problem, retryAfter) {
    super(problemDetail(problem) || `HTTP ${status}`);
    this.status = status;
    this.code = problem?.code ?? null;
    this.title = problem?.title ?? null;
    this.detail = this.message;
    this.retryAfter = retryAfter;
    this.problem = problem && typeof problem === 'object' ? problem : null;
  }
}

/** The text to show of an error body: `detail`, or FastAPI's validation list, or the title. */
function problemDetail(p) {
  if (!p || typeof p !== 'object') return typeof p === 'string' ? p : '';
  if (typeof p.detail === 'string' && p.detail) return p.detail;
  const list = Array.isArray(p.errors) ? p.errors : Array.isArray(p.detail) ? p.detail : null;
  if (list) return list.map((e) => `${(e.loc ?? []).join('.')}: ${e.msg}`).join('; ');
  return p.title ?? '';
}

export function getToken() {
  return sessionStorage.getItem(TOKEN_KEY);
}

export function setToken(token) {
  sessionStorage.setItem(TOKEN_KEY, token);
}

export function clearToken() {
  sessionStorage.removeItem(TOKEN_KEY);
}

/** A query string from an object; arrays repeat the name, empty values are left out. */
export function queryString(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params ?? {})) {
    for (const one of Array.isArray(v) ? v : [v]) {
      if (one != null && one !== '') q.append(k, String(one));
    }
  }
  const s = q.toString();
  return s ? `?${s}` : '';
}

/**
 * Call the API. opts: method, query, json (a body to send as JSON), form (form-encoded),
 * body + type (bytes as they are, e.g. a zip with type 'application/zip'),
 * raw (return the Response, for downloads), auth (default true).
 * A 401 on an authenticated call ends the session (the 'soc:unauthorized' event).
 */
export async function api(path, opts = {}) {
  const { method = 'GET', query, json, form, raw = false, auth = true } = opts;
  const headers = { Accept: 'application/json, application/problem+json' };
  const token = getToken();
  if (auth && token) headers.Authorization = `Bearer ${token}`;
  let body;
  if (json !== undefined) {
    headers['Content-Type'] = 'application/json';
    body = JSON.stringify(json);
  } else if (form !== undefined) {
    body = new URLSearchParams(form);
  } else if (opts.body !== undefined) {
    headers['Content-Type'] = opts.type ?? 'application/octet-stream';
    body = opts.body;
  }
  let res;
  try {
    res = await fetch(`${BASE}${path}${queryString(query)}`, { method, headers, body, cache: 'no-store' });
  } catch (e) {
    throw new ApiError(0, { detail: e.message, code: 'network' });
  }
  if (!res.ok) {
    let problem = null;
    try {
      problem = await res.json();
    } catch {
      problem = { title: res.statusText };
    }
    const err = new ApiError(res.status, problem, res.headers.get('Retry-After'));
    if (res.status === 401 && auth && token) {
      window.dispatchEvent(new CustomEvent('soc:unauthorized', { detail: err }));
    }
    throw err;
  }
  if (raw) return res;
  if (res.status === 204) return null;
  const type = res.headers.get('Content-Type') ?? '';
  return type.includes('json') ? res.json() : res.text();
}

/** Fetch a file with the bearer token and hand it to the browser as a download. */
export async function download(path, fallbackName) {
  const res = await api(path, { raw: true });
  const blob = await res.blob();
  const cd = res.headers.get('Content-Disposition') ?? '';
  const m = /filename\*?=(?:UTF-8'')?"?([^";]+)"?/i.exec(cd);
  const name = m ? decodeURIComponent(m[1]) : fallbackName;
  const url = URL.createObjectURL(blob);
  const a = document.createElement('a');
  a.href = url;
  a.download = name;
  a.hidden = true;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
  return { name, size: blob.size };
}
