// Path rules of the SPIFFE ID standard (go-spiffe spiffeid/path.go).
import { isPathSegmentChar } from './charset.ts';
import { spiffeIdError } from './errors.ts';

/** Validates a path: empty, or `/seg(/seg)*` with valid segments. */
export function validatePath(path: string): void {
  if (path === '') return;
  if (path.charCodeAt(0) !== 0x2f) throw spiffeIdError('noLeadingSlash');
  let segStart = 1;
  for (let i = 1; i <= path.length; i++) {
    if (i < path.length && path.charCodeAt(i) !== 0x2f) {
      if (!isPathSegmentChar(path.charCodeAt(i))) throw spiffeIdError('badPathSegmentChar');
      continue;
    }
    const seg = path.slice(segStart, i);
    if (seg === '') throw spiffeIdError(i === path.length ? 'trailingSlash' : 'emptySegment');
    if (seg === '.' || seg === '..') throw spiffeIdError('dotSegment');
    segStart = i + 1;
  }
}

/** Validates one segment (no `/` allowed inside). */
export function validatePathSegment(segment: string): void {
  if (segment === '') throw spiffeIdError('emptySegment');
  if (segment === '.' || segment === '..') throw spiffeIdError('dotSegment');
  for (let i = 0; i < segment.length; i++) {
    if (!isPathSegmentChar(segment.charCodeAt(i))) throw spiffeIdError('badPathSegmentChar');
  }
}
