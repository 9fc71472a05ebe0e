// Just enough HTTP/1.1 for one POST and its answer on a kept-alive connection: the request's bytes, and an
// incremental reader of the response (status, headers, then a body framed by Content-Length, by chunked
// transfer coding with trailers, or by the end of the connection). etcd's JSON gateway answers with either
// framing. node:http is not used: in the single executable it costs a CNI call ~10-20 ms to load and to make
// its first request (docs/cluster.md), more than the etcd round trips themselves.

export interface Answer {
  status: number;
  body: string;
}

/** The bytes of one POST; the host header is what the endpoint was configured as. */
export function postBytes(host: string, path: string, payload: string, headers: Record<string, string>): Buffer {
  const body = Buffer.from(payload);
  let head = `POST ${path} HTTP/1.1\r\nhost: ${host}\r\ncontent-type: application/json\r\ncontent-length: ${body.length}\r\n`;
  for (const [k, v] of Object.entries(headers)) head += `${k}: ${v}\r\n`;
  return Buffer.concat([Buffer.from(`${head}\r\n`), body]);
}

/** A response that cannot be read as HTTP/1.1: the connection is not reused. */
export class MalformedResponse extends Error {}

/** Headers larger than this are not an etcd gateway's. */
const MAX_HEAD = 64 * 1024;

const CRLF = Buffer.from('\r\n');

/**
 * Reads one response from the bytes of a connection as they arrive. push() returns the answer once it is
 * complete; end() is called when the peer closes, and returns it only for a body framed by the close.
 */
export class ResponseReader {
  private buf: Buffer = Buffer.alloc(0);
  private status = 0;
  /** Body length still expected (Content-Length), or 'chunked', or 'close' (until the peer closes). */
  private framing: number | 'chunked' | 'close' | undefined;
  private body: Buffer[] = [];
  /** In chunked framing: bytes left of the current chunk, or -1 while reading a chunk-size line or trailers. */
  private chunkLeft = -1;
  private trailers = false;
  /** Whether the connection may carry another request once this answer is read. */
  keepAlive = true;
  /** Whether any byte of an answer arrived (a reused connection that closes before one is a stale one). */
  started = false;

  push(chunk: Buffer): Answer | undefined {
    this.started = true;
    this.buf = this.buf.length ? Buffer.concat([this.buf, chunk]) : chunk;
    if (this.framing === undefined && !this.readHead()) return undefined;
    return this.readBody();
  }

  end(): Answer | undefined {
    if (this.framing !== 'close') return undefined;
    this.body.push(this.buf);
    return this.answer();
  }

  private readHead(): boolean {
    const at = this.buf.indexOf('\r\n\r\n');
    if (at < 0) {
      if (this.buf.length > MAX_HEAD) throw new MalformedResponse('response headers too large');
      return false;
    }
    const [statusLine, ...lines] = this.buf.subarray(0, at).toString('latin1').split('\r\n');
    const m = /^HTTP\/1\.([01]) (\d{3})/.exec(statusLine ?? '');
    if (!m) throw new MalformedResponse(`not an HTTP/1.x answer: ${JSON.stringify((statusLine ?? '').slice(0, 40))}`);
    this.status = Number(m[2]);
    this.keepAlive = m[1] === '1';
    let length: number | undefined;
    let chunked = false;
    for (const line of lines) {
      const colon = line.indexOf(':');
      const name = line.slice(0, colon).trim().toLowerCase();
      const value = line
        .slice(colon + 1)
        .trim()
        .toLowerCase();
      if (name === 'content-length') {
        if (!/^\d+$/.test(value)) throw new MalformedResponse(`bad content-length "${value}"`);
        length = Number(value);
      } else if (name === 'transfer-encoding') chunked = value.split(',').some((t) => t.trim() === 'chunked');
      else if (name === 'connection') this.keepAlive = value.includes('keep-alive') || (this.keepAlive && !value.includes('close'));
    }
    this.buf = this.buf.subarray(at + 4);
    // 1xx answers have no body and are followed by the real one (never sent for these requests, but cheap).
    if (this.status < 200) {
      this.framing = undefined;
      return this.buf.length > 0 && this.readHead();
    }
    this.framing = chunked ? 'chunked' : (length ?? 'close');
    if (this.framing === 'close') this.keepAlive = false;
    return true;
  }

  private readBody(): Answer | undefined {
    if (typeof this.framing === 'number') {
      if (this.buf.length < this.framing) return undefined;
      this.body.push(this.buf.subarray(0, this.framing));
      return this.answer();
    }
    if (this.framing === 'close') return undefined;
    for (;;) {
      if (this.chunkLeft > 0) {
        const take = Math.min(this.chunkLeft, this.buf.length);
        this.body.push(this.buf.subarray(0, take));
        this.buf = this.buf.subarray(take);
        this.chunkLeft -= take;
        if (this.chunkLeft > 0) return undefined;
        this.chunkLeft = -2; // the CRLF after the chunk's data
      }
      const eol = this.buf.indexOf(CRLF);
      if (eol < 0) {
        if (this.buf.length > MAX_HEAD) throw new MalformedResponse('chunk header too large');
        return undefined;
      }
      const line = this.buf.subarray(0, eol).toString('latin1');
      this.buf = this.buf.subarray(eol + 2);
      if (this.chunkLeft === -2) {
        if (line !== '') throw new MalformedResponse('chunk data longer than its size');
        this.chunkLeft = -1;
      } else if (this.trailers) {
        if (line === '') return this.answer();
      } else {
        const size = Number.parseInt(line.split(';')[0]!.trim(), 16);
        if (!Number.isFinite(size) || size < 0 || !/^[0-9a-fA-F]/.test(line)) throw new MalformedResponse(`bad chunk size "${line.slice(0, 20)}"`);
        if (size === 0) this.trailers = true;
        else this.chunkLeft = size;
      }
    }
  }

  private answer(): Answer {
    return { status: this.status, body: Buffer.concat(this.body).toString('utf8') };
  }
}
