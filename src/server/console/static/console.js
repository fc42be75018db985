// @ts-nocheck — browser code (DOM), checked by the Chromium test, not by the server's tsconfig.
// Herald status console: renders the trust domain view the server streams
// over /events (server-sent events). Plain DOM, no framework, no build step;
// every value goes in through textContent/attributes, never as HTML.
'use strict';

const SVG = 'http://www.w3.org/2000/svg';
let last = null;

function el(tag, attrs, ...children) {
  const n = tag.startsWith('svg:') ? document.createElementNS(SVG, tag.slice(4)) : document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) if (v !== undefined && v !== null && v !== false) n.setAttribute(k, String(v));
  for (const c of children.flat()) if (c !== undefined && c !== null) n.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return n;
}

function duration(ms) {
  const s = Math.round(Math.abs(ms) / 1000);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m ${s % 60}s`;
  if (s < 86400) return `${Math.floor(s / 3600)}h ${Math.floor((s % 3600) / 60)}m`;
  return `${Math.floor(s / 86400)}d ${Math.floor((s % 86400) / 3600)}h`;
}
const rel = (t, now) => (t === null || t === undefined ? '—' : t >= now ? `in ${duration(t - now)}` : `${duration(now - t)} ago`);
const badge = (cls, text) => el('span', { class: `badge ${cls}` }, text ?? cls);
const short = (id, n = 10) => (id.length > n ? id.slice(0, n - 2) + '…' : id);

function fill(id, rows, empty, cols) {
  const body = document.getElementById(id);
  body.replaceChildren(...(rows.length ? rows : [el('tr', {}, el('td', { colspan: cols, class: 'muted' }, empty))]));
}

// ---- timelines ----------------------------------------------------------

const W = 1100, LEFT = 120, RIGHT = 36;

function scale(start, end) {
  return (t) => LEFT + ((t - start) / (end - start)) * (W - LEFT - RIGHT);
}

function axis(x, start, end, top, bottom) {
  const g = el('svg:g', { class: 'axis' });
  for (let i = 0; i <= 6; i++) {
    const t = start + ((end - start) * i) / 6;
    g.append(el('svg:line', { x1: x(t), x2: x(t), y1: top, y2: bottom }));
    g.append(el('svg:text', { x: x(t), y: bottom + 14, 'text-anchor': i === 0 ? 'start' : i === 6 ? 'end' : 'middle' }, new Date(t).toLocaleTimeString()));
  }
  return g;
}

function nowMarker(x, now, top, bottom) {
  return el('svg:g', { id: 'now-marker', 'data-now': now },
    el('svg:line', { class: 'now', x1: x(now), x2: x(now), y1: top - 4, y2: bottom }),
    el('svg:text', { class: 'now', x: x(now), y: top - 8, 'text-anchor': 'middle' }, 'now'));
}

function renderAuthorities(a, now) {
  const box = document.getElementById('timeline');
  if (a.error) return box.replaceChildren(el('p', { class: 'error' }, `CA journal: ${a.error}`));
  const rows = [['x509', 'A', 'X.509 CA · A'], ['x509', 'B', 'X.509 CA · B'], ['jwt', 'A', 'JWT key · A'], ['jwt', 'B', 'JWT key · B']];
  const all = [...a.x509, ...a.jwt];
  let start = Math.min(now, ...all.map((e) => e.issuedAt));
  let end = Math.max(now, ...all.map((e) => e.notAfter));
  const pad = (end - start) * 0.03 || 1000;
  start -= pad; end += pad;
  const x = scale(start, end);
  const top = 22, rowH = 34, bottom = top + rows.length * rowH;
  const svg = el('svg:svg', { viewBox: `0 0 ${W} ${bottom + 22}`, role: 'img', 'aria-label': 'CA and JWT key slot timeline' }, axis(x, start, end, top, bottom));
  rows.forEach(([kind, slot, label], i) => {
    const y = top + i * rowH + 6;
    svg.append(el('svg:text', { class: 'rowlabel', x: 4, y: y + 15 }, label));
    for (const e of a[kind].filter((e) => e.slot === slot)) {
      const cls = ['slot', e.status, e.tainted ? 'tainted' : '', e.revoked ? 'revoked' : ''].join(' ').trim();
      const w = Math.max(2, x(e.notAfter) - x(e.issuedAt));
      const state = e.revoked ? 'revoked' : e.tainted ? `${e.status}, tainted` : e.status;
      svg.append(el('svg:rect', { class: cls, x: x(e.issuedAt), y, width: w, height: rowH - 12, rx: 3, 'data-kind': kind, 'data-id': e.id, 'data-status': e.status, 'data-tainted': e.tainted, 'data-revoked': e.revoked },
        el('svg:title', {}, `${kind === 'x509' ? 'X.509 authority' : 'JWT key'} ${e.id}\n${state}\nissued ${new Date(e.issuedAt).toLocaleString()}\nexpires ${new Date(e.notAfter).toLocaleString()}`)));
      if (w > 90) svg.append(el('svg:text', { class: 'barlabel', x: x(e.issuedAt) + 6, y: y + 15 }, `${state} · ${short(e.id)}`));
      if (e.status === 'active') {
        for (const [t, what] of [[e.prepareAt, 'prepare'], [e.activateAt, 'activate']]) {
          svg.append(el('svg:line', { class: 'threshold', 'data-what': what, x1: x(t), x2: x(t), y1: y - 3, y2: y + rowH - 9 }, el('svg:title', {}, `${what} successor ${rel(t, now)}`)));
        }
      }
    }
  });
  svg.append(nowMarker(x, now, top, bottom));
  box.replaceChildren(svg);
}

function renderFederationTimeline(feds, now) {
  const box = document.getElementById('fed-timeline');
  if (!feds.length) return box.replaceChildren(el('p', { class: 'muted' }, 'No federation relationships.'));
  const times = feds.flatMap((f) => [...f.attempts.map((a) => a.at), f.nextAt ?? now]);
  let start = Math.min(now - 60_000, ...times), end = Math.max(now + 10_000, ...times);
  const pad = (end - start) * 0.03;
  start -= pad; end += pad;
  const x = scale(start, end);
  const top = 22, rowH = 26, bottom = top + feds.length * rowH;
  const svg = el('svg:svg', { viewBox: `0 0 ${W} ${bottom + 22}`, role: 'img', 'aria-label': 'Federated bundle refresh timeline' }, axis(x, start, end, top, bottom));
  feds.forEach((f, i) => {
    const y = top + i * rowH + rowH / 2;
    svg.append(el('svg:text', { class: 'rowlabel', x: 4, y: y + 4 }, short(f.trustDomain, 18)));
    for (const a of f.attempts) {
      svg.append(el('svg:circle', { class: a.status, cx: x(a.at), cy: y, r: 5, 'data-td': f.trustDomain, 'data-status': a.status }, el('svg:title', {}, `${a.status} ${rel(a.at, now)}${a.error ? `\n${a.error}` : ''}`)));
    }
    if (f.nextAt) svg.append(el('svg:circle', { class: 'next', cx: x(f.nextAt), cy: y, r: 5 }, el('svg:title', {}, `next refresh ${rel(f.nextAt, now)}`)));
  });
  svg.append(nowMarker(x, now, top, bottom));
  box.replaceChildren(svg);
}

// ---- tables -------------------------------------------------------------

function renderFederation(feds, now) {
  fill('fed-rows', feds.map((f) => {
    const lastA = f.attempts[f.attempts.length - 1];
    return el('tr', { 'data-td': f.trustDomain },
      el('td', {}, f.trustDomain), el('td', {}, f.bundleEndpointUrl), el('td', {}, f.profile, f.endpointSpiffeId ? ` (${f.endpointSpiffeId})` : ''),
      el('td', {}, f.bundle ? `seq ${f.bundle.sequence} · ${f.bundle.x509Authorities} X.509, ${f.bundle.jwtAuthorities} JWT` : badge('failed', 'none')),
      el('td', {}, lastA ? [badge(lastA.status), ` ${rel(lastA.at, now)}`, lastA.error ? el('div', { class: 'error' }, lastA.error) : null] : '—'),
      el('td', {}, rel(f.nextAt, now)));
  }), 'No federation relationships.', 6);
}

function renderAgents(agents, now) {
  document.getElementById('agent-count').textContent = agents.total > agents.items.length ? `(first ${agents.items.length} of ${agents.total})` : `(${agents.total})`;
  fill('agent-rows', agents.items.map((a) => el('tr', { 'data-spiffe-id': a.spiffeId },
    el('td', {}, a.spiffeId), el('td', {}, a.attestor),
    el('td', {}, a.lastSync ? rel(Date.parse(a.lastSync), now) : '—'),
    el('td', {}, a.svidNotAfter ? rel(a.svidNotAfter, now) : '—'),
    el('td', {}, a.banned ? badge('banned') : badge('ok', 'attested')))), 'No attested agents.', 5);
}

function renderEntries(entries) {
  const q = document.getElementById('entry-filter').value.trim().toLowerCase();
  const match = (e) => !q || [e.id, e.spiffeId, e.parentId, e.hint, ...e.selectors, ...e.federatesWith, ...e.dnsNames].some((s) => s.toLowerCase().includes(q));
  const shown = entries.items.filter(match);
  const cap = entries.total > entries.items.length ? ` (first ${entries.items.length} of ${entries.total} loaded)` : '';
  document.getElementById('entry-count').textContent = `(${q ? `${shown.length} matching of ` : ''}${entries.items.length})${cap}`;
  fill('entry-rows', shown.map((e) => el('tr', { 'data-entry-id': e.id },
    el('td', {}, e.spiffeId, e.admin ? ' ' : '', e.admin ? badge('active', 'admin') : null, e.downstream ? badge('prepared', 'downstream') : null),
    el('td', {}, e.parentId), el('td', {}, e.selectors.join('\n')),
    el('td', {}, `${e.x509SvidTtl || 'default'} / ${e.jwtSvidTtl || 'default'}`),
    el('td', {}, e.federatesWith.join(', ') || '—'), el('td', {}, e.id))), q ? 'No entry matches the filter.' : 'No entries.', 6);
}

const STATE_LABELS = { ACKED: 'ACKed', NACKED: 'NACKed', PENDING: 'pending', HELD_BACK: 'held back' };

// The agent reports a held-back name as "NAME (reason)".
const HELD_BACK_REASONS = {
  'unknown': 'held back: no such resource',
  'not-authorized': 'held back: this Envoy is not authorized for it',
  'no-identity': 'held back: this Envoy has no identity',
  'trusted-ca-multi-domain': 'held back: a trusted CA cannot span trust domains',
};
function heldBack(entry) {
  const m = /^(.*) \(([a-z-]+)\)$/.exec(entry);
  return m ? { name: m[1], message: HELD_BACK_REASONS[m[2]] ?? `held back: ${m[2]}` } : { name: entry, message: 'held back' };
}

/** Per resource: ACKED, NACKED (Envoy's message), PENDING, or HELD_BACK (the agent did not send it). */
function resourceStates(s) {
  const sent = s.last_sent?.version;
  const held = new Map(s.held_back.map(heldBack).map((h) => [h.name, h]));
  return [...new Set([...s.resource_names, ...held.keys()])].map((name) => {
    if (held.has(name)) return { name, state: 'HELD_BACK', version: '', message: held.get(name).message };
    if (sent && s.last_nack?.version === sent) return { name, state: 'NACKED', version: sent, message: s.last_nack.message };
    if (sent && s.last_ack?.version === sent) return { name, state: 'ACKED', version: sent, message: '' };
    return { name, state: 'PENDING', version: sent ?? '', message: s.last_nack ? `earlier NACK of ${s.last_nack.version}: ${s.last_nack.message}` : '' };
  });
}

/** Envoy opens one SotW stream per resource name: group the streams by Envoy (node ID and PID). */
function byEnvoy(streams) {
  const groups = new Map();
  for (const s of streams) {
    const key = `${s.node_id}\u0000${s.pid ?? ''}`;
    if (!groups.has(key)) groups.set(key, []);
    groups.get(key).push(s);
  }
  return [...groups.values()];
}

function renderEnvoy(streams, now) {
  const s0 = streams[0];
  const ids = [...new Set(streams.flatMap((s) => s.spiffe_ids))];
  const since = Math.min(...streams.map((s) => Date.parse(s.connected_at)));
  return el('div', { class: 'envoy', 'data-node-id': s0.node_id },
    el('div', {}, el('strong', {}, s0.node_id || '(no node id)'),
      el('span', { class: 'muted' }, ` cluster ${s0.cluster || '—'} · pid ${s0.pid ?? '—'} · ${streams.length} ${s0.kind === 'delta' ? 'delta ' : ''}stream(s) · connected ${rel(since, now)} · ${ids.join(', ') || 'no SPIFFE ID'}`)),
    el('table', {}, el('thead', {}, el('tr', {}, el('th', {}, 'Resource'), el('th', {}, 'State'), el('th', {}, 'Version'), el('th', {}, "Envoy's message"))),
      el('tbody', {}, ...streams.flatMap(resourceStates).map((r) => el('tr', { 'data-resource': r.name, 'data-state': r.state },
        el('td', {}, r.name), el('td', {}, badge(r.state, STATE_LABELS[r.state])), el('td', {}, r.version), el('td', {}, r.message))))));
}

function renderSds(sds, now) {
  const box = document.getElementById('sds-agents');
  if (!sds.length) return box.replaceChildren(el('p', { class: 'muted' }, 'No agent admin sockets configured (console.agent_admin_socket_paths).'));
  box.replaceChildren(...sds.map((a) => {
    if (!a.ok) return el('div', { class: 'agent' }, el('strong', {}, a.socketPath), el('div', { class: 'error' }, a.error));
    const st = a.status;
    const envoys = byEnvoy(st.streams);
    return el('div', { class: 'agent', 'data-agent-id': st.agent_id ?? '' },
      el('strong', {}, st.agent_id ?? '(not attested)'),
      el('span', { class: 'muted' }, ` · ${a.socketPath} · last sync ${st.last_sync ? rel(Date.parse(st.last_sync), now) : '—'} · ${envoys.length} Envoy(s)`),
      ...(envoys.length ? envoys.map((g) => renderEnvoy(g, now)) : [el('p', { class: 'muted' }, 'No Envoy connected.')]));
  }));
}

function render(s) {
  last = s;
  document.getElementById('td').textContent = s.trustDomain;
  document.getElementById('bundle').textContent = s.bundle ? `Own bundle: sequence ${s.bundle.sequence}, refresh hint ${s.bundle.refreshHint}s` : 'Own bundle: not stored';
  renderAuthorities(s.authorities, s.now);
  renderFederationTimeline(s.federation, s.now);
  renderFederation(s.federation, s.now);
  renderAgents(s.agents, s.now);
  renderEntries(s.entries);
  renderSds(s.sds, s.now);
  document.body.dataset.snapshotAt = String(s.now);
}

function connect() {
  const live = document.getElementById('live');
  const events = new EventSource('/events');
  events.addEventListener('snapshot', (m) => {
    render(JSON.parse(m.data));
    live.dataset.state = 'live';
    live.textContent = `live · ${new Date(last.now).toLocaleTimeString()}`;
  });
  events.addEventListener('failure', (m) => {
    live.dataset.state = 'lost';
    live.textContent = `server error: ${JSON.parse(m.data).error}`;
  });
  events.onerror = () => {
    live.dataset.state = 'lost';
    live.textContent = 'connection lost; retrying…';
  };
}

document.getElementById('entry-filter').addEventListener('input', () => last && renderEntries(last.entries));
connect();
