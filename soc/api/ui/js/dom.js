// A small element builder: h('button', {i18n: 'x.y', testid: 'save', on: {click}}, ...children).

import { t, label } from './i18n.js';

const SVG_NS = 'http://www.w3.org/2000/svg';

function build(el, props, children) {
  for (const [k, v] of Object.entries(props ?? {})) {
    if (v == null || v === false || k === 'i18n' || k === 'vars') continue;
    if (k === 'on') {
      for (const [ev, fn] of Object.entries(v)) el.addEventListener(ev, fn);
    } else if (k === 'class') {
      el.setAttribute('class', Array.isArray(v) ? v.filter(Boolean).join(' ') : v);
    } else if (k === 'testid') {
      el.setAttribute('data-testid', v);
    } else if (k === 'attrs18n') {
      el.dataset.i18nAttrs = JSON.stringify(v);
      for (const [attr, key] of Object.entries(v)) el.setAttribute(attr, t(key));
    } else if (k === 'dataset') {
      Object.assign(el.dataset, v);
    } else if (['value', 'checked', 'selected', 'disabled', 'hidden', 'open'].includes(k)) {
      el[k] = v;
    } else {
      el.setAttribute(k, v === true ? '' : String(v));
    }
  }
  if (props?.i18n) {
    el.dataset.i18n = props.i18n;
    if (props.vars) el.dataset.i18nVars = JSON.stringify(props.vars);
    el.textContent = t(props.i18n, props.vars);
  }
  append(el, children);
  return el;
}

export function append(el, children) {
  for (const c of children.flat(Infinity)) {
    if (c == null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

export function h(tag, props, ...children) {
  return build(document.createElement(tag), props, children);
}

export function svg(tag, props, ...children) {
  return build(document.createElementNS(SVG_NS, tag), props, children);
}

/** A label of an enumerated value that follows the language switch. */
export function enumText(group, value, props = {}) {
  const key = `${group}.${value}`;
  const el = h('span', props);
  if (value != null && label(group, value) !== String(value)) {
    el.dataset.i18n = key;
    el.textContent = t(key);
  } else {
    el.textContent = value ?? '—';
  }
  return el;
}

export function severityBadge(severity) {
  return enumText('severity', severity, {
    class: `badge sev-${severity}`,
    testid: 'severity',
    'data-value': severity,
  });
}

export function statusBadge(group, status) {
  return enumText(group, status, { class: `badge st-${status}`, testid: 'status', 'data-value': status });
}

export function clear(el) {
  el.replaceChildren();
  return el;
}

/** Replace an element's children (null and false are left out, unlike replaceChildren). */
export function fill(el, ...children) {
  el.replaceChildren();
  return append(el, children);
}
