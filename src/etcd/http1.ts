// Just enough HTTP/1.1 for one POST and its answer on a kept-alive connection: the request's bytes, and an
// incremental reader of the response (status, headers, then a body framed by Content-Length, by chunked
// transfer coding with trailers, or by the end of the connection). etcd's JSON gateway answers with either
// framing. node:http is not used: loading it and making its first request cost a CNI call more than the etcd
// round trips themselves (docs/performance.md).
//
// The peer may be a proxy that misbehaves, so the reader is strict where a lax reading would let it smuggle
// or stall: one Content-Length or chunked (never both), hex chunk sizes, a three-digit status, no body for
// 204 and 304, a size cap on the head and the body, and a connection with bytes past its answer is not reused.
// It reads in time linear in what arrives: body bytes are kept as the pieces they came in.

export interface Answer {
  status: number;
  body: string;
}

/**
 * The largest body read. The largest answers leasehold asks for are the whole-prefix reads of GC and the CLI
 * (every lease record of a network, every address key of a pool): in the gateway's JSON (base64 key and value,
 * revisions as strings) a lease record with a Kubernetes pod's names takes ~0.7 KiB and an address key ~0.3 KiB
 * (docs/cluster.md), so 64 MiB holds ~90,000 records, more than a fully used /16. Larger is a peer streaming.
 */
export const MAX_BODY = 64 * 1024 * 1024;

/** Headers (and a chunk's size line, and trailers) larger than this are not an etcd gateway's. */
const MAX_HEAD = 64 * 1024;

/** What a header field's value may not hold: CR or LF would end the line and start another header (or request). */
export const isHeaderValue = (v: string): boolean => !/[\r\n\0]/.test(v);

/** A field name is an RFC 9110 token. */
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

/** A request that would not be one request with the headers it names. Nothing was sent. */
export class BadRequestHeader extends Error {}

/** The bytes of one POST; the host header is what the endpoint was configured as. */
export function postBytes(host: string, path: string, payload: string, headers: Record<string, string>): Buffer {
  const body = Buffer.from(payload);
  let head = `POST ${path} HTTP/1.1\r\n`;
  for (const [k, v] of [['host', host], ['content-type', 'application/json'], ['content-length', String(body.length)], ...Object.entries(headers)]) {
    if (!TOKEN.test(k!)) throw new BadRequestHeader(`header name ${JSON.stringify(k)} is not a token`);
    if (!isHeaderValue(v!)) throw new BadRequestHeader(`the ${k} header's value holds CR, LF or NUL`);
    head += `${k}: ${v}\r\n`;
  }
  return Buffer.concat([Buffer.from(`${head}\r\n`), body]);
}

/** A response that cannot be read as HTTP/1.1, or that passes a size cap: the connection is not reused. */
export class MalformedResponse extends Error {}

const tooLarge = (): MalformedResponse => new MalformedResponse(`body larger than ${MAX_BODY / 1024 / 1024} MiB`);

/** Bytes gathered up to a delimiter, at most `limit`, grown by doubling so gathering stays linear. */
class Gather {
  private buf = Buffer.alloc(0);
  length = 0;

  constructor(
    private readonly limit: number,
    private readonly what: string,
  ) {}

  append(bytes: Buffer): void {
    if (this.length + bytes.length > this.limit) throw new MalformedResponse(`${this.what} larger than ${this.limit / 1024} KiB`);
    if (this.length + bytes.length > this.buf.length) {
      const grown = Buffer.alloc(Math.min(this.limit, Math.max(2 * this.buf.length, this.length + bytes.length, 256)));
      this.buf.copy(grown, 0, 0, this.length);
      this.buf = grown;
    }
    bytes.copy(this.buf, this.length);
    this.length += bytes.length;
  }

  /** The last n bytes gathered (fewer when fewer are). */
  tail(n: number): Buffer {
    return this.buf.subarray(Math.max(0, this.length - n), this.length);
  }

  /** The bytes gathered; the gatherer starts again empty. */
  take(): Buffer {
    const out = this.buf.subarray(0, this.length);
    this.buf = Buffer.alloc(0);
    this.length = 0;
    return out;
  }
}

type Phase =
  | { at: 'head' }
  | { at: 'length'; left: number }
  | { at: 'close' }
  /** Chunked: a size line, a chunk's data, the CRLF after it, or the trailers. */
  | { at: 'size' }
  | { at: 'data'; left: number }
  | { at: 'data-end' }
  | { at: 'trailers' }
  | { at: 'done' };

/**
 * Reads one response from the bytes of a connection as they arrive. push() returns the answer once it is
 * complete; end() is called when the peer closes, and returns it only for a body framed by the close.
 */
export class ResponseReader {
  private phase: Phase = { at: 'head' };
  private status = 0;
  private readonly head = new Gather(MAX_HEAD, 'response headers');
  /** The line being read in chunked framing (a size line, the CRLF after data, a trailer). */
  private readonly line = new Gather(MAX_HEAD, 'chunk size line or trailers');
  private trailerBytes = 0;
  private readonly body: Buffer[] = [];
  private bodyLength = 0;
  /** Whether the connection may carry another request once this answer is read. */
  keepAlive = true;
  /** Whether any byte of an answer arrived (a reused connection that closes before one is a stale one). */
  started = false;

  push(chunk: Buffer): Answer | undefined {
    if (chunk.length) this.started = true;
    if (this.done) {
      if (chunk.length) this.keepAlive = false;
      return undefined;
    }
    let pos = 0;
    while (pos < chunk.length && !this.done) pos = this.step(chunk, pos);
    if (!this.done) return undefined;
    // Bytes past the answer belong to no request of ours: the connection's framing cannot be trusted.
    if (pos < chunk.length) this.keepAlive = false;
    return this.answer();
  }

  private get done(): boolean {
    return this.phase.at === 'done';
  }

  end(): Answer | undefined {
    if (this.phase.at !== 'close') return undefined;
    this.phase = { at: 'done' };
    return this.answer();
  }

  /** Consumes what it can of chunk from pos; returns where it stopped. */
  private step(chunk: Buffer, pos: number): number {
    const p = this.phase;
    switch (p.at) {
      case 'head': {
        // The head's end may straddle pieces: look at the last bytes gathered together with this piece's first.
        const gathered = this.head.tail(3);
        const straddle = Buffer.concat([gathered, chunk.subarray(pos, pos + 3)]).indexOf('\r\n\r\n');
        const inside = straddle < 0 ? chunk.indexOf('\r\n\r\n', pos) : -1;
        const end = straddle >= 0 ? pos + straddle + 4 - gathered.length : inside >= 0 ? inside + 4 : chunk.length;
        this.head.append(chunk.subarray(pos, end));
        if (straddle < 0 && inside < 0) return end;
        const head = this.head.take();
        this.readHead(head.subarray(0, head.length - 4).toString('latin1'));
        return end;
      }
      case 'length':
      case 'data': {
        const take = Math.min(p.left, chunk.length - pos);
        this.keep(chunk.subarray(pos, pos + take));
        p.left -= take;
        if (p.left === 0) this.phase = p.at === 'length' ? { at: 'done' } : { at: 'data-end' };
        return pos + take;
      }
      case 'close':
        this.keep(chunk.subarray(pos));
        return chunk.length;
      case 'size':
      case 'data-end':
      case 'trailers': {
        const lf = chunk.indexOf(0x0a, pos);
        const end = lf < 0 ? chunk.length : lf + 1;
        if (p.at === 'trailers') {
          this.trailerBytes += end - pos;
          if (this.trailerBytes > MAX_HEAD) throw new MalformedResponse('trailers larger than 64 KiB');
        }
        this.line.append(chunk.subarray(pos, end));
        if (lf >= 0) this.readLine(this.line.take());
        return end;
      }
      default:
        return pos;
    }
  }

  private keep(bytes: Buffer): void {
    this.bodyLength += bytes.length;
    if (this.bodyLength > MAX_BODY) throw tooLarge();
    if (bytes.length) this.body.push(bytes);
  }

  private readHead(text: string): void {
    const [statusLine = '', ...lines] = text.split('\r\n');
    const m = /^HTTP\/1\.([01]) ([1-5]\d\d)(?: [^\r\n]*)?$/.exec(statusLine);
    if (!m) throw new MalformedResponse(`not an HTTP/1.x status line: ${JSON.stringify(statusLine.slice(0, 40))}`);
    this.status = Number(m[2]);
    let keepAlive = m[1] === '1';
    let length: string | undefined;
    const codings: string[] = [];
    for (const line of lines) {
      const colon = line.indexOf(':');
      const name = line.slice(0, colon).toLowerCase();
      if (colon < 0 || !TOKEN.test(name)) throw new MalformedResponse(`not a header line: ${JSON.stringify(line.slice(0, 40))}`);
      const value = line
        .slice(colon + 1)
        .replace(/^[ \t]+|[ \t]+$/g, '')
        .toLowerCase();
      if (name === 'content-length') {
        // A list or a repeat is one length only when every value is the same (RFC 9112 6.3).
        for (const v of value.split(',')) {
          const n = v.trim();
          if (!/^\d+$/.test(n)) throw new MalformedResponse(`bad content-length "${value.slice(0, 40)}"`);
          const canonical = n.replace(/^0+(?=\d)/, '');
          if (length !== undefined && length !== canonical) throw new MalformedResponse(`conflicting content-lengths ${length} and ${canonical}`);
          length = canonical;
        }
      } else if (name === 'transfer-encoding') codings.push(...value.split(',').map((t) => t.trim()));
      else if (name === 'connection') {
        const tokens = value.split(',').map((t) => t.trim());
        if (tokens.includes('close')) keepAlive = false;
        else if (tokens.includes('keep-alive')) keepAlive = true;
      }
    }
    this.keepAlive = keepAlive;
    if (this.status < 200) {
      // 1xx answers have no body and are followed by the real one (never asked for here, but cheap); a 101
      // would switch protocols, which no request of ours asks.
      if (this.status === 101) throw new MalformedResponse('101 Switching Protocols was not asked for');
      this.phase = { at: 'head' };
      return;
    }
    if (codings.length && length !== undefined) throw new MalformedResponse('both Transfer-Encoding and Content-Length');
    if (this.status === 204 || this.status === 304) this.phase = { at: 'done' };
    else if (codings.length) {
      if (codings.length !== 1 || codings[0] !== 'chunked') throw new MalformedResponse(`transfer coding "${codings.join(', ').slice(0, 40)}" not spoken`);
      this.phase = { at: 'size' };
    } else if (length !== undefined) {
      if (length.length > 15 || Number(length) > MAX_BODY) throw tooLarge();
      this.phase = Number(length) ? { at: 'length', left: Number(length) } : { at: 'done' };
    } else {
      this.phase = { at: 'close' };
      this.keepAlive = false;
    }
  }

  private readLine(bytes: Buffer): void {
    if (bytes.length < 2 || bytes[bytes.length - 2] !== 0x0d) throw new MalformedResponse('a line of the chunked body does not end in CRLF');
    const line = bytes.subarray(0, bytes.length - 2).toString('latin1');
    switch (this.phase.at) {
      case 'data-end':
        if (line !== '') throw new MalformedResponse('chunk data longer than its size');
        this.phase = { at: 'size' };
        return;
      case 'trailers':
        if (line === '') this.phase = { at: 'done' };
        return;
      default: {
        // chunk-size [ BWS ";" chunk-ext ]: strict hex, never parseInt's longest prefix.
        const size = (line.split(';')[0] ?? '').replace(/[ \t]+$/, '');
        if (!/^[0-9A-Fa-f]+$/.test(size)) throw new MalformedResponse(`bad chunk size "${line.slice(0, 20)}"`);
        const n = size.replace(/^0+(?=.)/, '');
        if (n.length > 8 || this.bodyLength + Number.parseInt(n, 16) > MAX_BODY) throw tooLarge();
        const left = Number.parseInt(n, 16);
        this.phase = left === 0 ? { at: 'trailers' } : { at: 'data', left };
      }
    }
  }

  private answer(): Answer {
    return { status: this.status, body: Buffer.concat(this.body, this.bodyLength).toString('utf8') };
  }
}
