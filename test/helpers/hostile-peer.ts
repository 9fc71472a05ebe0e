// A scripted etcd peer for tests of the client's wire layer: a server on 127.0.0.1 (a port picked per run) or
// on a unix socket in a temp dir. It reads each HTTP request and hands it to the test's script, which answers
// byte for byte: oversize, a slow drip, an endless stream, wrong JSON types, bad framing, or nothing at all.
// The server runs in a worker thread (hostile-peer-worker.mjs), so it answers while the addon's blocking calls
// hold the test's thread; a script is therefore sent as source and may use only its arguments.
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import type { Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { type Endpoint, parseEndpoint } from '../../src/config/cluster';

export interface PeerRequest {
  /** 0-based over the peer's life. */
  n: number;
  /** The connection it came on (0-based), and its place on that connection. */
  conn: number;
  onConn: number;
  path: string;
  /** The request's head as sent, CRLFs included. */
  head: string;
  body: string;
}

/** One connection as a script sees it. */
export interface PeerSocket {
  readonly socket: Socket;
  readonly closed: boolean;
  write(bytes: string | Buffer): void;
  /** Writes, then half-closes (FIN); the peer still reads. */
  end(bytes?: string | Buffer): void;
  /** Writes, then closes the socket once the bytes are out: what a server's idle timeout does. */
  close(bytes?: string | Buffer): void;
  /**
   * Writes `piece` again and again, `everyMs` apart (0: as fast as the client reads; under 1: the client always finds bytes waiting), until the client goes
   * away, `maxBytes` were written or `maxMs` passed; resolves with the bytes written.
   */
  stream(piece: string | Buffer, everyMs: number, maxBytes: number, maxMs?: number): Promise<number>;
}

/** An HTTP/1.1 answer with a correct Content-Length. */
export type AnswerOf = (body: unknown, status?: string, extraHead?: string) => Buffer;

/** Runs in the peer's thread: it may use only its arguments. */
export type Script = (req: PeerRequest, s: PeerSocket, answer: AnswerOf) => void | Promise<void>;

export interface PeerStats {
  connections: number;
  requests: PeerRequest[];
  /** Bytes written by stream() so far. */
  streamed: number;
}

export class HostilePeer {
  private constructor(
    private readonly worker: Worker,
    /** http://127.0.0.1:port or unix:///path. */
    readonly url: string,
    private readonly dir: string | undefined,
  ) {}

  /** `script` as a function, or as the source of one (to build one around a value). */
  static async start(script: Script | string, on: 'tcp' | 'unix' = 'tcp'): Promise<HostilePeer> {
    const dir = on === 'unix' ? mkdtempSync(join(tmpdir(), 'lh-peer-')) : undefined;
    const path = dir && join(dir, 'etcd.sock');
    const worker = new Worker(join(__dirname, 'hostile-peer-worker.mjs'), { workerData: { script: String(script), path } });
    const [m] = (await once(worker, 'message')) as [{ listening: number | string }];
    return new HostilePeer(worker, path ? `unix://${path}` : `http://127.0.0.1:${m.listening}`, dir);
  }

  /** The endpoint as the transport takes it. */
  get endpoint(): Endpoint {
    return parseEndpoint(this.url, 0);
  }

  async stats(): Promise<PeerStats> {
    this.worker.postMessage('stats');
    for (;;) {
      const [m] = (await once(this.worker, 'message')) as [{ stats?: PeerStats }];
      if (m.stats) return m.stats;
    }
  }

  async close(): Promise<void> {
    this.worker.postMessage('close');
    await Promise.race([once(this.worker, 'message'), new Promise((r) => setTimeout(r, 2000))]);
    await this.worker.terminate();
    if (this.dir) rmSync(this.dir, { recursive: true, force: true });
  }
}
