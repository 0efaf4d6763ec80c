// The shell: language toggle, who is signed in, navigation, and the hash router.
//   #/login  #/alerts?...  #/incidents?...  #/incidents/<id>  #/inbox  #/overview  #/events?...
//   #/hunts[/<id>]  #/rules[/<id>]?...  #/coverage?...  #/drills[/<id>[/report]]  #/sources?state=...
//   #/intel

import { append, clear, h } from './dom.js';
import { applyTo, currentLang, loadDictionaries, setLang, t } from './i18n.js';
import { can, currentUser, forget, isSignedIn, loadMe, signOut } from './session.js';
import { startStream, stopStream } from './stream.js';
import { errorBox, toast } from './widgets.js';
import * as alertsView from './views/alerts.js';
import * as coverageView from './views/coverage.js';
import * as drillView from './views/drill.js';
import * as drillsView from './views/drills.js';
import * as explorerView from './views/explorer.js';
import * as huntsView from './views/hunts.js';
import * as inboxView from './views/inbox.js';
import * as incidentView from './views/incident.js';
import * as incidentsView from './views/incidents.js';
import * as intelView from './views/intel.js';
import * as loginView from './views/login.js';
import * as overviewView from './views/overview.js';
import * as rulesView from './views/rules.js';
import * as sourcesView from './views/sources.js';

const main = document.getElementById('main');
const nav = document.getElementById('nav');
let cleanup = null;

const NAV = [
  { route: 'alerts', i18n: 'nav.alerts', show: () => can('alerts:read') },
  { route: 'incidents', i18n: 'nav.incidents', show: () => can('incidents:read') },
  { route: 'events', i18n: 'nav.events', show: () => can('events:read') },
  { route: 'inbox', i18n: 'nav.inbox', show: () => Boolean(currentUser()?.unit) && can('incidents:read') },
  { route: 'overview', i18n: 'nav.overview', show: () => can('incidents:read') || can('alerts:read') },
  { route: 'sources', i18n: 'nav.sources', show: () => can('alerts:read') },
  { route: 'intel', i18n: 'nav.intel', show: () => can('intel:read') },
  { route: 'hunts', i18n: 'nav.hunts', show: () => can('hunts:read') },
  { route: 'rules', i18n: 'nav.rules', show: () => can('rules:read') },
  { route: 'drills', i18n: 'nav.drills', show: () => can('drills:read') },
];

function parseHash() {
  const raw = location.hash.replace(/^#\/?/, '');
  const [path, query = ''] = raw.split('?');
  const parts = path.split('/').filter(Boolean).map(decodeURIComponent);
  return { name: parts[0] ?? '', id: parts[1] ?? null, sub: parts[2] ?? null, params: new URLSearchParams(query) };
}

export function go(route) {
  location.hash = `#/${route}`;
}

function homeRoute() {
  const me = currentUser();
  if (me?.unit && me.role === 'responder') return 'inbox';
  if (can('alerts:read')) return 'alerts';
  if (can('incidents:read')) return 'incidents';
  return 'overview';
}

function renderShell() {
  const me = currentUser();
  const who = document.getElementById('who');
  const logout = document.getElementById('logout');
  nav.hidden = !me;
  who.hidden = !me;
  logout.hidden = !isSignedIn();
  clear(nav);
  if (me) {
    for (const item of NAV.filter((n) => n.show())) {
      nav.append(h('a', { href: `#/${item.route}`, i18n: item.i18n, testid: `nav-${item.route}`, 'data-route': item.route }));
    }
    append(clear(who), [
      h('span', { class: 'who-name', testid: 'whoami-name' }, me.display_name ?? me.name ?? me.username ?? '?'),
      ' · ',
      h('span', { i18n: `role.${me.role}`, testid: 'whoami-role' }),
      me.unit ? h('span', { class: 'who-unit', testid: 'whoami-unit' }, ` · ${me.unit}`) : null,
    ]);
  }
  const toggle = document.getElementById('lang-toggle');
  const other = currentLang() === 'vi' ? 'en' : 'vi';
  toggle.textContent = other === 'en' ? 'English' : 'Tiếng Việt';
  toggle.setAttribute('lang', other);
  toggle.setAttribute('aria-label', t('lang.switch_to'));
}

/** The nav item a route belongs to (the coverage view is a tab of the rules page). */
const NAV_OF = { coverage: 'rules' };

function markNav(name) {
  name = NAV_OF[name] ?? name;
  for (const a of nav.querySelectorAll('a')) {
    if (a.dataset.route === name) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
}

async function route() {
  if (cleanup) {
    try {
      cleanup();
    } catch {
      // A view's cleanup must not stop navigation.
    }
    cleanup = null;
  }
  const { name, id, sub, params } = parseHash();
  if (!isSignedIn() && name !== 'login') {
    go('login');
    return;
  }
  if (isSignedIn() && !currentUser()) {
    try {
      await loadMe();
      startStream();
    } catch (e) {
      if (e.status === 401) {
        forget();
        go('login');
        return;
      }
      clear(main).append(errorBox(e));
      return;
    }
  }
  renderShell();
  markNav(name);
  clear(main);
  const views = {
    login: () => loginView.render(main, { onSignedIn: signedIn }),
    alerts: () => alertsView.render(main, { params }),
    incidents: () => (id ? incidentView.render(main, { id }) : incidentsView.render(main, { params })),
    inbox: () => inboxView.render(main),
    overview: () => overviewView.render(main),
    events: () => explorerView.render(main, { params }),
    hunts: () => huntsView.render(main, { id }),
    rules: () => rulesView.render(main, { id, params }),
    coverage: () => coverageView.render(main, { params }),
    drills: () => (id ? drillView.render(main, { id, sub }) : drillsView.render(main)),
    sources: () => sourcesView.render(main, { params }),
    intel: () => intelView.render(main),
  };
  const view = views[name];
  if (!view || (name === 'login' && isSignedIn())) {
    go(homeRoute());
    return;
  }
  main.dataset.view = name;
  cleanup = (await view()) ?? null;
}

function signedIn() {
  startStream();
  renderShell();
  go(homeRoute());
}

async function boot() {
  await loadDictionaries();
  applyTo(document);
  document.getElementById('lang-toggle').addEventListener('click', () => {
    setLang(currentLang() === 'vi' ? 'en' : 'vi');
    renderShell();
  });
  document.getElementById('logout').addEventListener('click', async () => {
    stopStream();
    await signOut();
    renderShell();
    go('login');
  });
  window.addEventListener('soc:unauthorized', () => {
    stopStream();
    forget();
    renderShell();
    toast(t('login.session_ended'), 'error');
    go('login');
  });
  window.addEventListener('hashchange', route);
  renderShell();
  await route();
  document.body.dataset.ready = 'true';
}

boot();
