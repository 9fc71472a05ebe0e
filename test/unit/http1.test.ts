import { describe, expect, it } from 'vitest';
import { MAX_BODY, MalformedResponse, ResponseReader, postBytes } from '../../src/etcd/http1';

const HEAD = 'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n';
const contentLength = `${HEAD}Content-Length: 13\r\n\r\n{"ok":"\u00e9t\u00e9"}`.replace('13', String(Buffer.byteLength('{"ok":"\u00e9t\u00e9"}')));
// etcd's gateway answers errors in chunked coding with a trailer.
const chunked = `HTTP/1.1 400 Bad Request\r\nTrailer: Grpc-Trailer-Content-Type\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n{"a":\r\n3;ext=1\r\n"b"\r\n1\r\n}\r\n0\r\nGrpc-Trailer-Content-Type: application/grpc\r\n\r\n`;

/** Feeds the bytes in pieces cut at the given offsets; returns the answer and how many pieces it took. */
function feed(text: string, cuts: number[]): { answer: ReturnType<ResponseReader['push']>; at: number; reader: ResponseReader } {
  const bytes = Buffer.from(text);
  const r = new ResponseReader();
  const bounds = [0, ...cuts, bytes.length];
  for (let i = 1; i < bounds.length; i++) {
    const answer = r.push(bytes.subarray(bounds[i - 1], bounds[i]));
    if (answer) return { answer, at: i, reader: r };
  }
  return { answer: undefined, at: -1, reader: r };
}

describe('HTTP/1.1 response reader', () => {
  it.each([
    ['content-length', contentLength, 200, '{"ok":"\u00e9t\u00e9"}'],
    ['chunked with extensions and trailers', chunked, 400, '{"a":"b"}'],
  ])('%s: the same answer whatever the split, only once the last byte arrived', (_, text, status, body) => {
    const n = Buffer.byteLength(text);
    for (let cut = 1; cut < n; cut++) {
      const { answer, at, reader } = feed(text, [cut]);
      expect(answer, `cut at ${cut}`).toEqual({ status, body });
      expect(at).toBe(2);
      expect(reader.keepAlive).toBe(true);
    }
    // One byte at a time.
    const { answer, at } = feed(
      text,
      Array.from({ length: n - 1 }, (_, i) => i + 1),
    );
    expect(answer).toEqual({ status, body });
    expect(at).toBe(n);
  });

  it('a body framed by the connection closing is answered at the end, and the connection is not reused', () => {
    const r = new ResponseReader();
    expect(r.push(Buffer.from(`${HEAD}\r\n{"partial"`))).toBeUndefined();
    expect(r.push(Buffer.from(':1}'))).toBeUndefined();
    expect(r.end()).toEqual({ status: 200, body: '{"partial":1}' });
    expect(r.keepAlive).toBe(false);
  });

  it('a content-length answer cut short is not an answer at the end', () => {
    const r = new ResponseReader();
    r.push(Buffer.from(`${HEAD}Content-Length: 10\r\n\r\n{"a"`));
    expect(r.end()).toBeUndefined();
    expect(r.started).toBe(true);
  });

  it('Connection: close and HTTP/1.0 answers are not kept', () => {
    for (const text of [`HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\n{}`, `HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\n{}`]) {
      const { answer, reader } = feed(text, []);
      expect(answer).toEqual({ status: 200, body: '{}' });
      expect(reader.keepAlive).toBe(false);
    }
  });

  it('a 100 Continue before the answer is skipped', () => {
    expect(feed(`HTTP/1.1 100 Continue\r\n\r\n${contentLength}`, []).answer?.status).toBe(200);
  });

  it.each([
    ['not HTTP', 'SSH-2.0-OpenSSH\r\n\r\n'],
    ['a bad content-length', `${HEAD}Content-Length: -1\r\n\r\n`],
    ['a bad chunk size', `HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n`],
    ['chunk data longer than its size', `HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabc\r\n0\r\n\r\n`],
  ])('%s is refused as malformed', (_, text) => {
    expect(() => feed(text, [])).toThrow(MalformedResponse);
  });

  it('headers that never end are refused once they pass 64 KiB', () => {
    const r = new ResponseReader();
    expect(() => {
      for (let i = 0; i < 100; i++) r.push(Buffer.from(`X-Pad: ${'a'.repeat(1000)}\r\n`));
    }).toThrow(MalformedResponse);
  });

  it('a body is read in time linear in its size: 16 MiB in 1 KiB pieces', () => {
    const size = 16 * 1024 * 1024;
    const r = new ResponseReader();
    expect(r.push(Buffer.from(`HTTP/1.1 200 OK\r\nContent-Length: ${size}\r\n\r\n`))).toBeUndefined();
    const piece = Buffer.alloc(1024, 'a');
    let answer: ReturnType<ResponseReader['push']>;
    // Linear: tens of milliseconds. Copying what came before on each piece took 206 s here.
    const t = performance.now();
    for (let got = 0; got < size; got += piece.length) answer = r.push(piece);
    expect(performance.now() - t).toBeLessThan(10_000);
    expect(answer!.body.length).toBe(size);
  });

  it('a Content-Length past the body cap is refused at the head, before any of the body is read', () => {
    const r = new ResponseReader();
    expect(() => r.push(Buffer.from(`HTTP/1.1 200 OK\r\nContent-Length: 99999999999999\r\n\r\n`))).toThrow(/larger than/);
    expect(() => new ResponseReader().push(Buffer.from(`HTTP/1.1 200 OK\r\nContent-Length: ${MAX_BODY + 1}\r\n\r\n`))).toThrow(/larger than/);
  });

  it.each([
    ['chunked', 'Transfer-Encoding: chunked\r\n', (n: number) => `${n.toString(16)}\r\n${'a'.repeat(n)}\r\n`],
    ['framed by the close', '', (n: number) => 'a'.repeat(n)],
  ])('a %s body that passes the cap is refused once it does, without waiting for its end', (_, head, piece) => {
    const r = new ResponseReader();
    r.push(Buffer.from(`HTTP/1.1 200 OK\r\n${head}\r\n`));
    const chunk = Buffer.from(piece(1 << 20));
    let read = 0;
    expect(() => {
      for (; read <= MAX_BODY + chunk.length; read += chunk.length) r.push(chunk);
    }).toThrow(/larger than/);
    expect(read).toBeLessThanOrEqual(MAX_BODY + chunk.length);
  });

  it('conflicting Content-Length headers are refused (not the last one taken); the same value twice is one length', () => {
    expect(() => feed(`HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 9\r\n\r\n{}xxxxxxx`, [])).toThrow(MalformedResponse);
    expect(() => feed(`HTTP/1.1 200 OK\r\nContent-Length: 2, 9\r\n\r\n{}xxxxxxx`, [])).toThrow(MalformedResponse);
    expect(feed(`HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\n{}`, []).answer).toEqual({ status: 200, body: '{}' });
  });

  it('Content-Length and Transfer-Encoding together are refused (a smuggling shape etcd never sends)', () => {
    expect(() => feed(`HTTP/1.1 200 OK\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n`, [])).toThrow(MalformedResponse);
  });

  it.each(['2x', '0x2', ' 2', '+2', '-0', ''])('a chunk size of %j is refused: sizes are strict hex', (size) => {
    expect(() => feed(`HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n${size}\r\n{}\r\n0\r\n\r\n`, [])).toThrow(MalformedResponse);
  });

  it.each(['HTTP/1.1 2000 OK', 'HTTP/1.1 20 OK', 'HTTP/1.1 200OK', 'HTTP/1.1 099 Low', 'HTTP/1.1 600 High'])(
    'a status line %j is refused: the status is exactly three digits, 100 to 599',
    (line) => {
      expect(() => feed(`${line}\r\nContent-Length: 2\r\n\r\n{}`, [])).toThrow(MalformedResponse);
    },
  );

  it.each([204, 304])('a %i without a length is answered at the end of its head, with no body', (status) => {
    const { answer, reader } = feed(`HTTP/1.1 ${status} No Content\r\nServer: x\r\n\r\n`, []);
    expect(answer).toEqual({ status, body: '' });
    expect(reader.keepAlive).toBe(true);
  });

  it.each([
    ['content-length', `${HEAD}Content-Length: 2\r\n\r\n{}HTTP/1.1 200 OK\r\n`],
    ['chunked', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\nX'],
    ['no body', 'HTTP/1.1 204 No Content\r\n\r\nHTTP/1.1 200 OK\r\n'],
  ])('bytes after a %s answer mean the connection is not reused', (_, text) => {
    const { answer, reader } = feed(text, []);
    expect(answer?.body).toMatch(/^(\{\})?$/);
    expect(reader.keepAlive).toBe(false);
  });

  it.each(['\r\n', '\n', '\r', '\0'])('a header value holding %j is refused, not written', (c) => {
    expect(() => postBytes('127.0.0.1:2379', '/v3/kv/range', '{}', { authorization: `tok${c}x-injected: 1` })).toThrow(/authorization/);
    expect(() => postBytes('127.0.0.1:2379', '/v3/kv/range', '{}', { [`x${c}y`]: 'v' })).toThrow();
  });

  it('a POST carries its length in bytes, the host and extra headers', () => {
    const text = postBytes('127.0.0.1:2379', '/v3/kv/range', '{"k":"\u00e9"}', { authorization: 'tok' }).toString();
    expect(text).toBe(
      'POST /v3/kv/range HTTP/1.1\r\nhost: 127.0.0.1:2379\r\ncontent-type: application/json\r\ncontent-length: 10\r\nauthorization: tok\r\n\r\n{"k":"\u00e9"}',
    );
  });
});
