// One HTTP attempt against one etcd member's JSON gateway, bounded by a hard timer, with the framing of
// http1.ts, over one of two socket implementations that whoever builds the client chooses (Sockets).
// Connections are kept for the client's life, so later calls of one process reuse them and their TLS session.
import type { Socket } from 'node:net';
import type { SecureContext } from 'node:tls';
import type { NativeAddon } from '../base/native.js';
import { nowMs } from '../base/proc.js';
import type { Endpoint } from '../config/cluster.js';
import type { AttemptFailure } from './errors.js';
import { type Answer, BadRequestHeader, MalformedResponse, ResponseReader, postBytes } from './http1.js';

export type { Answer } from './http1.js';

/**
 * Which sockets carry an attempt, as whoever builds the client chooses them. 'addon' (the plugin): plain http to
 * an address literal or a unix socket goes through the single executable's addon (native/socket.c: blocking
 * calls bounded by poll), which `load` yields (asked once, by the first attempt that can use it, whatever else
 * the process has loaded), so a CNI call never loads node:net and its streams (docs/performance.md); https, host
 * names, and a process where `load` yields null (a plain-script build, a noexec data dir) use node:net or
 * node:tls. 'node' (the CLI): node:net or node:tls always, loaded on first use.
 */
export type Sockets = { kind: 'addon'; load: () => NativeAddon | null } | { kind: 'node' };

/** The CA and client certificate the config named, made into one context (config/secrets.ts) for every connection. */
export interface TlsMaterial {
  secureContext?: SecureContext;
}

/** An attempt that produced no HTTP answer. */
export class AttemptError extends Error implements AttemptFailure {
  constructor(
    readonly endpoint: string,
    readonly reason: string,
    readonly maybeApplied: boolean,
    /** The endpoint stayed silent for the whole attempt (stopped, overloaded, or waiting for a quorum). */
    readonly timedOut = false,
    /**
     * A connection kept from an earlier request closed or failed before any byte of this answer: most often
     * the peer closed it while idle just as it was reused. Worth one more try on a new connection.
     */
    readonly staleConnection = false,
  ) {
    super(reason);
  }
}

// A TLS failure (a refused client certificate arrives as an alert after the client's side of a TLS 1.3
// handshake is done) means etcd never read the request.
const TLS_FAILURE = /^ERR_SSL_|^ERR_TLS_|CERT|SELF_SIGNED/;

const isIp = (host: string): boolean => /^[\d.]+$/.test(host) || host.includes(':');

// Why an attempt got no answer, worded alike whichever way it went.
const silence = (timeoutMs: number, connected: boolean, written: boolean): string =>
  `no answer within ${timeoutMs} ms${written ? ' after sending' : connected ? ' (request not sent whole)' : ' (not connected)'}`;
const closedEarly = (reader: ResponseReader): string => (reader.started ? 'answer cut off' : 'connection closed without an answer');
const unreadable = (e: MalformedResponse): string => `unreadable answer: ${e.message}`;

/** Where the addon's blocking socket can go: it resolves no names and speaks no TLS. */
const nativeTarget = (ep: Endpoint): { host: string; port: number } | undefined =>
  'socketPath' in ep ? { host: ep.socketPath, port: 0 } : !ep.https && isIp(ep.hostname) ? { host: ep.hostname, port: ep.port } : undefined;

/** A connection to one member, idle in the pool or carrying one request. */
class Connection {
  constructor(
    readonly socket: Socket,
    /** The event after which the request may be written ('' when already up). */
    public ready: string,
  ) {}

  /** While idle: a close, error or stray byte from the member drops the connection from the pool. */
  private onIdle?: () => void;

  park(drop: () => void): void {
    // Idle connections never hold a finished process open.
    this.socket.unref();
    this.onIdle = drop;
    this.socket.once('close', drop).once('end', drop).once('error', drop).once('data', drop);
  }

  /** Takes it from the pool: false when the peer closed it or wrote to it meanwhile (it is then discarded). */
  take(): boolean {
    const s = this.socket;
    if (this.onIdle) s.off('close', this.onIdle).off('end', this.onIdle).off('error', this.onIdle).off('data', this.onIdle);
    this.onIdle = undefined;
    s.ref();
    return !s.destroyed && s.writable && !s.readableEnded && s.readableLength === 0;
  }
}

export class Transport {
  /** Idle connections by endpoint url. */
  private readonly idle = new Map<string, Connection[]>();
  /** The addon's idle sockets by endpoint url. */
  private readonly idleFds = new Map<string, number[]>();
  /** The addon once asked for (null: node:net for every attempt). */
  private addon?: NativeAddon | null;

  constructor(
    private readonly tls: TlsMaterial,
    private readonly sockets: Sockets,
  ) {}

  private native(): NativeAddon | null {
    if (this.addon === undefined) this.addon = this.sockets.kind === 'addon' ? this.sockets.load() : null;
    return this.addon;
  }

  private connect(ep: Endpoint): Connection {
    const net = require('node:net') as typeof import('node:net');
    if ('socketPath' in ep) return new Connection(net.connect({ path: ep.socketPath }), 'connect');
    if (!ep.https) return new Connection(net.connect({ host: ep.hostname, port: ep.port, noDelay: true }), 'connect');
    const tls = require('node:tls') as typeof import('node:tls');
    const servername = isIp(ep.hostname) ? {} : { servername: ep.hostname };
    return new Connection(tls.connect({ host: ep.hostname, port: ep.port, ...servername, ...this.tls }).setNoDelay(true), 'secureConnect');
  }

  /** POSTs `payload` and resolves with the whole answer, or rejects with an AttemptError after at most `timeoutMs`. */
  post(ep: Endpoint, path: string, payload: string, headers: Record<string, string>, timeoutMs: number): Promise<Answer> {
    let request: Buffer;
    try {
      request = postBytes(hostHeader(ep), path, payload, headers);
    } catch (e) {
      if (!(e instanceof BadRequestHeader)) throw e;
      return Promise.reject(new AttemptError(ep.url, `request not sent: ${e.message}`, false));
    }
    const target = nativeTarget(ep);
    const native = target && this.native();
    if (native && target) {
      try {
        return Promise.resolve(this.postNative(native, target, ep, request, timeoutMs));
      } catch (e) {
        return Promise.reject(e);
      }
    }
    const pooled = this.takeIdle(ep);
    const conn = pooled ?? this.connect(ep);
    const { socket } = conn;
    const reader = new ResponseReader();
    return new Promise<Answer>((resolve, reject) => {
      // Whether the request can have reached etcd: true once all of it was handed to the kernel. A request cut
      // short cannot be applied: etcd's gateway reads the whole body before it acts.
      let written = false;
      let done = false;
      const finish = (err: AttemptError | undefined, answer?: Answer): void => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        socket.off('data', onData).off('end', onEnd).off('close', onEnd).off('error', onError);
        if (err || !reader.keepAlive) socket.destroy();
        else this.park(ep, conn);
        if (err?.staleConnection) this.dropIdle(ep);
        if (err) reject(err);
        else resolve(answer!);
      };
      const stale = (): boolean => pooled !== undefined && !reader.started;
      const fail = (reason: string, maybeApplied: boolean, timedOut = false): void =>
        finish(new AttemptError(ep.url, reason, maybeApplied, timedOut, !timedOut && stale()));
      const onData = (chunk: Buffer): void => {
        try {
          const answer = reader.push(chunk);
          if (answer) finish(undefined, answer);
        } catch (e) {
          fail(e instanceof MalformedResponse ? unreadable(e) : String(e), written);
        }
      };
      const onEnd = (): void => {
        const answer = reader.end();
        if (answer) finish(undefined, answer);
        else fail(closedEarly(reader), written);
      };
      const onError = (e: NodeJS.ErrnoException): void => fail(e.code ?? e.message, written && !TLS_FAILURE.test(e.code ?? ''));
      // A stopped member accepts connections and never answers: the timer, not the socket, bounds the attempt.
      const timer = setTimeout(() => fail(silence(timeoutMs, conn.ready === '', written), written, true), timeoutMs);
      socket.on('data', onData).on('end', onEnd).on('close', onEnd).on('error', onError);
      const send = (): void => {
        conn.ready = '';
        socket.write(request, (err) => {
          written ||= !err;
        });
      };
      if (conn.ready) socket.once(conn.ready, send);
      else send();
    });
  }

  /**
   * The same attempt with the addon's blocking calls, each bounded by what is left of timeoutMs, and the
   * deadline checked before every read: a peer that keeps sending cannot keep the call alive.
   */
  private postNative(n: NativeAddon, target: { host: string; port: number }, ep: Endpoint, request: Buffer, timeoutMs: number): Answer {
    const deadline = nowMs() + timeoutMs;
    const left = (): number => {
      const ms = Math.floor(deadline - nowMs());
      if (ms <= 0) throw Object.assign(new Error('deadline passed'), { code: 'ETIMEDOUT' });
      return ms;
    };
    let fd = this.takeIdleFd(n, ep);
    const reused = fd >= 0;
    let written = false;
    const reader = new ResponseReader();
    try {
      if (fd < 0) {
        fd = n.connect(target.host, target.port, left());
      }
      n.send(fd, request, left());
      // All of the request is with the kernel: from here it may reach etcd, as on node:net.
      written = true;
      for (;;) {
        const chunk = n.recv(fd, left());
        const answer = chunk.length > 0 ? reader.push(chunk) : reader.end();
        if (answer) {
          if (!reader.keepAlive) n.close(fd);
          else if (this.idleFds.has(ep.url)) this.idleFds.get(ep.url)!.push(fd);
          else this.idleFds.set(ep.url, [fd]);
          return answer;
        }
        if (chunk.length === 0) throw new AttemptError(ep.url, closedEarly(reader), true, false, reused && !reader.started);
      }
    } catch (e) {
      if (fd >= 0) n.close(fd);
      const err = this.attemptError(e, ep, timeoutMs, fd >= 0, written, reused && !reader.started);
      if (err.staleConnection) this.dropIdle(ep);
      throw err;
    }
  }

  private attemptError(e: unknown, ep: Endpoint, timeoutMs: number, connected: boolean, written: boolean, stale: boolean): AttemptError {
    if (e instanceof AttemptError) return e;
    if (e instanceof MalformedResponse) return new AttemptError(ep.url, unreadable(e), written);
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ETIMEDOUT') return new AttemptError(ep.url, silence(timeoutMs, connected, written), written, true);
    return new AttemptError(ep.url, code ?? String(e), written, false, stale);
  }

  /** An idle connection of `ep` the peer has neither closed nor written to, if any. */
  private takeIdle(ep: Endpoint): Connection | undefined {
    const list = this.idle.get(ep.url);
    for (let c = list?.pop(); c; c = list?.pop()) {
      if (c.take()) return c;
      c.socket.destroy();
    }
    return undefined;
  }

  /** The same for the addon's sockets (-1: none). */
  private takeIdleFd(n: NativeAddon, ep: Endpoint): number {
    const list = this.idleFds.get(ep.url);
    for (let fd = list?.pop(); fd !== undefined; fd = list?.pop()) {
      if (n.idle(fd)) return fd;
      n.close(fd);
    }
    return -1;
  }

  /** After one kept connection of `ep` turned out stale, the others are no better. */
  private dropIdle(ep: Endpoint): void {
    for (const c of this.idle.get(ep.url)?.splice(0) ?? []) {
      c.take();
      c.socket.destroy();
    }
    for (const fd of this.idleFds.get(ep.url)?.splice(0) ?? []) this.addon?.close(fd);
  }

  private park(ep: Endpoint, conn: Connection): void {
    const list = this.idle.get(ep.url) ?? [];
    list.push(conn);
    this.idle.set(ep.url, list);
    conn.park(() => {
      const i = list.indexOf(conn);
      if (i >= 0) list.splice(i, 1);
      conn.socket.destroy();
    });
  }
}

function hostHeader(ep: Endpoint): string {
  if ('socketPath' in ep) return 'localhost';
  return `${ep.hostname.includes(':') ? `[${ep.hostname}]` : ep.hostname}:${ep.port}`;
}
