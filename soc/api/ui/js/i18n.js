// Two dictionaries (i18n/vi.json, i18n/en.json), Vietnamese by default; the choice is kept
// in localStorage. Elements carry their key in data-i18n (text) and data-i18n-attrs
// ({"attribute": "key"}), so a switch relabels the page in place without reloading data.

export const LANGS = ['vi', 'en'];
const STORE_KEY = 'soc.lang';
const dicts = {};
let lang = LANGS.includes(localStorage.getItem(STORE_KEY)) ? localStorage.getItem(STORE_KEY) : 'vi';

export async function loadDictionaries() {
  await Promise.all(
    LANGS.map(async (l) => {
      const res = await fetch(`/ui/i18n/${l}.json`, { cache: 'no-cache' });
      dicts[l] = await res.json();
    }),
  );
  document.documentElement.lang = lang;
}

export function currentLang() {
  return lang;
}

/** The text of `key` in the current language, with {name} placeholders filled from `vars`. */
export function t(key, vars) {
  const s = dicts[lang]?.[key] ?? dicts.vi?.[key] ?? key;
  if (!vars) return s;
  return s.replace(/\{(\w+)\}/g, (m, name) => (name in vars ? String(vars[name]) : m));
}

/** Whether a key exists (for values from the API, e.g. a status the UI does not know yet). */
export function has(key) {
  return key in (dicts[lang] ?? {});
}

/** The label of an enumerated value (severity, status...), or the value itself when unknown. */
export function label(group, value) {
  if (value == null || value === '') return '—';
  const key = `${group}.${value}`;
  return has(key) ? t(key) : String(value);
}

export function setLang(next) {
  if (!LANGS.includes(next) || next === lang) return;
  lang = next;
  localStorage.setItem(STORE_KEY, next);
  document.documentElement.lang = next;
  applyTo(document);
  window.dispatchEvent(new CustomEvent('soc:lang', { detail: next }));
}

/** Re-label every element under `root` that carries a key. */
export function applyTo(root) {
  for (const el of root.querySelectorAll('[data-i18n]')) {
    const vars = el.dataset.i18nVars ? JSON.parse(el.dataset.i18nVars) : undefined;
    el.textContent = t(el.dataset.i18n, vars);
  }
  for (const el of root.querySelectorAll('[data-i18n-attrs]')) {
    for (const [attr, key] of Object.entries(JSON.parse(el.dataset.i18nAttrs))) {
      el.setAttribute(attr, t(key));
    }
  }
  if (root === document) document.title = t('app.title');
}
