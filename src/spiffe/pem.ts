// PEM blocks (RFC 7468) as OpenSSL writes them: base64 in 64-character
// lines, so the text equals X509Certificate#toString() and
// KeyObject#export({ format: 'pem' }) for the same DER. Sliced in a loop:
// a regex split costs ~35x more, and CSR parsing (issuance) and SDS
// rendering call this per SVID.

export function pemBlock(type: string, der: Uint8Array): string {
  const b64 = Buffer.from(der.buffer, der.byteOffset, der.byteLength).toString('base64');
  let pem = `-----BEGIN ${type}-----\n`;
  for (let i = 0; i < b64.length; i += 64) pem += `${b64.slice(i, i + 64)}\n`;
  return `${pem}-----END ${type}-----\n`;
}
