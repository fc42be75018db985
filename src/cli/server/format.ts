// PEM output of DER certificates, as Go's pem.Encode writes them.
import { X509Certificate } from 'node:crypto';

export function pemOfDer(ders: readonly Buffer[]): string {
  return ders.map((d) => new X509Certificate(d).toString().trimEnd() + '\n').join('');
}
