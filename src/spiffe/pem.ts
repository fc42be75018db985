// PEM blocks (RFC 7468) as OpenSSL writes them: base64 in 64-character
// lines, so the text equals X509Certificate#toString() and
// KeyObject#export({ format: 'pem' }) for the same DER.

export function pemBlock(type: string, der: Uint8Array): string {
  const b64 = Buffer.from(der.buffer, der.byteOffset, der.byteLength).toString('base64').replace(/(.{64})/g, '$1\n').replace(/\n$/, '');
  return `-----BEGIN ${type}-----\n${b64}\n-----END ${type}-----\n`;
}
