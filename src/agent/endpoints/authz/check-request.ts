// A decoder of envoy.service.auth.v3.CheckRequest that reads only what
// Check uses: the source principal, the HTTP method, path, host and
// headers, and the context extensions. Envoy sends every request header and
// the peers' addresses, metadata and TLS details with each check; the
// generic decoder (protobufjs with defaults) builds an object for each of
// them, and that garbage was a third of the agent's CPU under load. Other
// fields are skipped by wire type, unread. Same results as the generic
// decoder for these fields (test/agent/endpoints/authz/check-request.test.ts
// compares them on generated requests): a repeated message field replaces
// the earlier one, a repeated map key keeps the last value.

export interface CheckRequest {
  attributes?: {
    source?: { principal?: string };
    request?: { http?: { method?: string; path?: string; host?: string; headers?: Record<string, string> } };
    context_extensions?: Record<string, string>;
  };
}

type Http = NonNullable<NonNullable<NonNullable<CheckRequest['attributes']>['request']>['http']>;

class Reader {
  readonly buf: Buffer;
  pos: number;
  readonly end: number;

  constructor(buf: Buffer, pos: number, end: number) {
    this.buf = buf;
    this.pos = pos;
    this.end = end;
  }

  varint(): number {
    let result = 0;
    let shift = 0;
    for (;;) {
      if (this.pos >= this.end) throw new Error('CheckRequest: truncated varint');
      const b = this.buf[this.pos++]!;
      // Tags and lengths fit in 32 bits; higher bits (an int64 being skipped) are read and dropped.
      if (shift < 28) result |= (b & 0x7f) << shift;
      else if (shift < 32) result += (b & 0x7f) * 2 ** shift;
      if (b < 0x80) return result;
      shift += 7;
      if (shift > 63) throw new Error('CheckRequest: varint longer than 10 bytes');
    }
  }

  /** The bounds of a length-delimited field's content. */
  sub(): Reader {
    const len = this.varint();
    const start = this.pos;
    if (len > this.end - start) throw new Error('CheckRequest: length beyond the end of the message');
    this.pos = start + len;
    return new Reader(this.buf, start, start + len);
  }

  string(): string {
    const r = this.sub();
    return this.buf.toString('utf8', r.pos, r.end);
  }

  skip(wireType: number): void {
    switch (wireType) {
      case 0:
        this.varint();
        return;
      case 1:
        this.advance(8);
        return;
      case 2:
        this.sub();
        return;
      case 5:
        this.advance(4);
        return;
      default:
        // Groups (3, 4) do not exist in proto3; anything else is not protobuf.
        throw new Error(`CheckRequest: unexpected wire type ${wireType}`);
    }
  }

  advance(n: number): void {
    if (n > this.end - this.pos) throw new Error('CheckRequest: truncated fixed-width field');
    this.pos += n;
  }

  /** Calls `field` for each (field number, wire type) until the end; `field` returns false to have it skipped. */
  fields(field: (no: number, wireType: number) => boolean): void {
    while (this.pos < this.end) {
      const tag = this.varint();
      const no = tag >>> 3;
      const wireType = tag & 7;
      if (no === 0) throw new Error('CheckRequest: field number 0');
      if (!field(no, wireType)) this.skip(wireType);
    }
  }
}

/** A map field's object: no prototype, so a key such as `__proto__` or `constructor` is an own entry like any other. */
const newMap = (): Record<string, string> => Object.create(null) as Record<string, string>;

/** One map<string, string> entry into `into`. */
function mapEntry(r: Reader, into: Record<string, string>): void {
  let key = '';
  let value = '';
  r.fields((no, wt) => {
    if (wt !== 2 || (no !== 1 && no !== 2)) return false;
    if (no === 1) key = r.string();
    else value = r.string();
    return true;
  });
  into[key] = value;
}

function http(r: Reader): Http {
  const out: Http = { method: '', path: '', host: '', headers: newMap() };
  r.fields((no, wt) => {
    if (wt !== 2) return false;
    switch (no) {
      case 2:
        out.method = r.string();
        return true;
      case 3:
        mapEntry(r.sub(), out.headers!);
        return true;
      case 4:
        out.path = r.string();
        return true;
      case 5:
        out.host = r.string();
        return true;
      default:
        return false;
    }
  });
  return out;
}

/** Decodes a serialized CheckRequest; throws on malformed protobuf. */
export function decodeCheckRequest(bytes: Buffer): CheckRequest {
  const attributes: NonNullable<CheckRequest['attributes']> = {};
  const top = new Reader(bytes, 0, bytes.length);
  let sawAttributes = false;
  top.fields((no, wt) => {
    if (no !== 1 || wt !== 2) return false;
    sawAttributes = true;
    // A second attributes field replaces the first (as the generic decoder does).
    for (const k of Object.keys(attributes)) delete attributes[k as keyof typeof attributes];
    const a = top.sub();
    a.fields((ano, awt) => {
      if (awt !== 2) return false;
      if (ano === 1) {
        const source = { principal: '' };
        const p = a.sub();
        p.fields((pno, pwt) => {
          if (pno !== 4 || pwt !== 2) return false;
          source.principal = p.string();
          return true;
        });
        attributes.source = source;
        return true;
      }
      if (ano === 4) {
        const request: { http?: Http } = {};
        const q = a.sub();
        q.fields((qno, qwt) => {
          if (qno !== 2 || qwt !== 2) return false;
          request.http = http(q.sub());
          return true;
        });
        attributes.request = request;
        return true;
      }
      if (ano === 10) {
        attributes.context_extensions ??= newMap();
        mapEntry(a.sub(), attributes.context_extensions);
        return true;
      }
      return false;
    });
    return true;
  });
  return sawAttributes ? { attributes } : {};
}
