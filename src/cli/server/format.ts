// SPIRE's pretty output for entries, agents and bundles.
import { X509Certificate } from 'node:crypto';
import type { WireAgent, WireEntry } from '../../server/api/convert.ts';
import { labelled } from '../command.ts';

export function idString(id: { trust_domain: string; path: string } | null): string {
  return id ? `spiffe://${id.trust_domain}${id.path}` : '';
}

function ttl(v: number): string {
  return v === 0 ? 'default' : String(v);
}

/** As seed 003 shows `entry create`. */
export function formatEntry(e: WireEntry): string {
  const rows: [string, string | number][] = [
    ['Entry ID', e.id],
    ['SPIFFE ID', idString(e.spiffe_id)],
    ['Parent ID', idString(e.parent_id)],
    ['Revision', e.revision_number],
    ['TTL', ttl(e.x509_svid_ttl)],
  ];
  if (e.jwt_svid_ttl !== 0) rows.push(['JWT-SVID TTL', e.jwt_svid_ttl]);
  for (const s of e.selectors) rows.push(['Selector', `${s.type}:${s.value}`]);
  for (const f of e.federates_with) rows.push(['FederatesWith', f]);
  for (const d of e.dns_names) rows.push(['DNS name', d]);
  if (e.admin) rows.push(['Admin', 'true']);
  if (e.downstream) rows.push(['Downstream', 'true']);
  if (Number(e.expires_at) > 0) rows.push(['Expiration time', new Date(Number(e.expires_at) * 1000).toISOString()]);
  if (e.hint) rows.push(['Hint', e.hint]);
  return labelled(rows);
}

export function formatAgent(a: WireAgent): string {
  const rows: [string, string | number][] = [
    ['SPIFFE ID', idString(a.id)],
    ['Attestation type', a.attestation_type],
    ['Expiration time', new Date(Number(a.x509svid_expires_at) * 1000).toISOString()],
    ['Serial number', a.x509svid_serial_number],
    ['Can re-attest', String(a.can_reattest)],
  ];
  if (a.banned) rows.push(['Banned', 'true']);
  for (const s of a.selectors) rows.push(['Selectors', `${s.type}:${s.value}`]);
  return labelled(rows, 16);
}

export function pemOfDer(ders: readonly Buffer[]): string {
  return ders.map((d) => new X509Certificate(d).toString().trimEnd() + '\n').join('');
}

export function plural(n: number, one: string, many: string): string {
  return `Found ${n} ${n === 1 ? one : many}\n`;
}
