// One server-sent-events connection per session: GET /api/v1/stream?access_token=...
// (EventSource cannot send an Authorization header). Views subscribe to 'alert' and
// 'incident' events and to the connection state ('live', 'connecting', 'off').

import { getToken } from './api.js';

let source = null;
let state = 'off';
const listeners = { alert: new Set(), incident: new Set(), state: new Set() };

function setState(next) {
  state = next;
  for (const fn of listeners.state) fn(state);
}

export function streamState() {
  return state;
}

export function startStream() {
  stopStream();
  const token = getToken();
  if (!token || typeof EventSource === 'undefined') return;
  source = new EventSource(`/api/v1/stream?access_token=${encodeURIComponent(token)}`);
  setState('connecting');
  source.addEventListener('open', () => setState('live'));
  source.addEventListener('error', () => setState(source?.readyState === EventSource.CLOSED ? 'off' : 'connecting'));
  for (const type of ['alert', 'incident']) {
    source.addEventListener(type, (ev) => {
      let data;
      try {
        data = JSON.parse(ev.data);
      } catch {
        return;
      }
      for (const fn of listeners[type]) fn(data);
    });
  }
}

export function stopStream() {
  if (source) source.close();
  source = null;
  setState('off');
}

/** Subscribe to 'alert', 'incident' or 'state'; returns the unsubscribe function. */
export function on(type, fn) {
  listeners[type].add(fn);
  return () => listeners[type].delete(fn);
}
