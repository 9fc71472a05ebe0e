// The hostile peer's server (hostile-peer.ts), in a worker thread of its own: the addon's blocking socket calls
// hold the test's thread for a whole request, and the peer must answer, drip or stream meanwhile.
import { once } from 'node:events';
import { createServer } from 'node:net';
import { parentPort, workerData } from 'node:worker_threads';

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** An HTTP/1.1 answer with a correct Content-Length. */
function answer(body, status = '200 OK', extraHead = '') {
  const b = Buffer.from(typeof body === 'string' ? body : JSON.stringify(body));
  return Buffer.concat([Buffer.from(`HTTP/1.1 ${status}\r\nContent-Type: application/json\r\n${extraHead}Content-Length: ${b.length}\r\n\r\n`), b]);
}

const stats = { connections: 0, requests: [], streamed: 0 };
const sockets = new Set();

class PeerSocket {
  constructor(socket) {
    this.socket = socket;
  }
  get closed() {
    return this.socket.destroyed || !this.socket.writable;
  }
  write(bytes) {
    if (!this.closed) this.socket.write(bytes);
  }
  end(bytes) {
    if (!this.closed) this.socket.end(bytes);
  }
  /** Writes, then closes the socket once the bytes are out (later requests on it get a reset). */
  close(bytes) {
    if (!this.closed) this.socket.end(bytes, () => this.socket.destroy());
  }
  /** Writes `piece` again and again, `everyMs` apart (0: as fast as the client reads), until the client goes, maxBytes or maxMs. */
  async stream(piece, everyMs, maxBytes, maxMs = 10000) {
    const bytes = Buffer.from(piece);
    const until = performance.now() + maxMs;
    let sent = 0;
    while (!this.closed && sent < maxBytes && performance.now() < until) {
      const ok = this.socket.write(bytes);
      sent += bytes.length;
      stats.streamed += bytes.length;
      if (everyMs >= 1) await sleep(everyMs);
      else if (everyMs > 0) {
        // Under a millisecond apart: the client always finds bytes waiting.
        const next = performance.now() + everyMs;
        while (performance.now() < next) await new Promise(setImmediate);
      } else if (!ok) await Promise.race([once(this.socket, 'drain'), once(this.socket, 'close'), sleep(until - performance.now())]);
    }
    return sent;
  }
}

const script = new Function(`return (${workerData.script})`)();

const server = createServer((socket) => {
  const conn = stats.connections++;
  sockets.add(socket);
  socket.on('close', () => sockets.delete(socket)).on('error', () => {});
  const peer = new PeerSocket(socket);
  let buf = Buffer.alloc(0);
  let onConn = 0;
  // Requests on one connection are answered in order: a script that never returns holds the ones after it.
  let queue = Promise.resolve();
  socket.on('data', (chunk) => {
    buf = Buffer.concat([buf, chunk]);
    for (;;) {
      const end = buf.indexOf('\r\n\r\n');
      if (end < 0) return;
      const head = buf.subarray(0, end + 4).toString('latin1');
      const length = Number(/\r\ncontent-length: *(\d+)/i.exec(head)?.[1] ?? 0);
      if (buf.length < end + 4 + length) return;
      const req = {
        n: stats.requests.length,
        conn,
        onConn: onConn++,
        path: head.split(' ')[1] ?? '',
        head,
        body: buf.subarray(end + 4, end + 4 + length).toString('utf8'),
      };
      buf = buf.subarray(end + 4 + length);
      stats.requests.push(req);
      queue = queue.then(() => script(req, peer, answer)).catch(() => socket.destroy());
    }
  });
});

parentPort.on('message', (m) => {
  if (m === 'stats') parentPort.postMessage({ stats });
  else if (m === 'close') {
    for (const s of sockets) s.destroy();
    server.close(() => parentPort.postMessage({ closed: true }));
  }
});

if (workerData.path) server.listen(workerData.path);
else server.listen(0, '127.0.0.1');
await once(server, 'listening');
parentPort.postMessage({ listening: workerData.path ?? server.address().port });
