// Display formatting: numbers, durations, clock times, row status labels and fact lists.

import { h } from './dom.js';

const STATUS_LABELS = {
  up: 'Up', pending: 'Pending', rate_limited: 'Rate-limited', down: 'Down', failing: 'Failing',
  no_key: 'No key', banned: 'Banned', disabled: 'Disabled', excluded: 'Excluded', retired: 'Retired',
};
export const STATUS_ORDER = Object.keys(STATUS_LABELS);

export const dash = '—';
export const isNum = (v) => typeof v === 'number' && Number.isFinite(v);

export function fmtMs(v) {
  if (!isNum(v)) return dash;
  if (v < 1000) return `${Math.round(v)} ms`;
  return `${(v / 1000).toFixed(v < 10000 ? 2 : 1)} s`;
}

export function fmtPct(v) {
  if (!isNum(v)) return dash;
  const p = v * 100;
  if (p >= 99.95) return '100%';
  return `${p.toFixed(p >= 99 || (p > 0 && p < 1) ? 1 : 0)}%`;
}

export function fmtContext(n) {
  if (!isNum(n) || n <= 0) return dash;
  if (n >= 1000000) return `${+(n / 1048576).toFixed(n % 1048576 ? 1 : 0)}M`;
  if (n >= 1024) return `${Math.round(n / 1024)}K`;
  return String(n);
}

export function fmtAgo(seconds) {
  if (!isNum(seconds)) return dash;
  const s = Math.max(0, seconds);
  if (s < 1) return 'just now';
  if (s < 60) return `${Math.round(s)} s ago`;
  if (s < 3600) return `${Math.round(s / 60)} min ago`;
  if (s < 86400) return `${Math.round(s / 3600)} h ago`;
  return `${Math.round(s / 86400)} d ago`;
}

export function fmtDuration(seconds) {
  if (!isNum(seconds)) return dash;
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${s % 60 ? `${s % 60} s` : ''}`.trim();
  if (s < 86400) return `${Math.floor(s / 3600)} h ${Math.round((s % 3600) / 60)} min`;
  return `${Math.floor(s / 86400)} d ${Math.round((s % 86400) / 3600)} h`;
}

export function fmtClock(ms) {
  const d = new Date(ms);
  const now = new Date();
  const time = d.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', second: '2-digit' });
  if (d.toDateString() === now.toDateString()) return time;
  return `${d.toLocaleDateString([], { month: 'short', day: 'numeric' })} ${time}`;
}

export function fmtInt(n) {
  return isNum(n) ? Math.round(n).toLocaleString() : dash;
}

export function fmtValue(v) {
  if (v === undefined) return 'unset';
  const t = JSON.stringify(v);
  return t.length > 80 ? `${t.slice(0, 77)}…` : t;
}

const statusLabel = (s) => STATUS_LABELS[s] || String(s ?? 'unknown');

export function statusBadge(status) {
  const cls = STATUS_LABELS[status] ? `st-${status}` : 'st-unknown';
  return h('span', { class: ['status', cls] }, h('span', { class: 'dot', 'aria-hidden': 'true' }), statusLabel(status));
}

export function fact(label, value, title) {
  return [h('dt', null, label), h('dd', { title: title || null }, value)];
}
