// One HTTP attempt against one etcd member's JSON gateway, bounded by a hard timer. node:http and node:https
// are loaded on first use: a CNI call that never talks to etcd, or only over http, does not pay for them.
import type { Agent, IncomingMessage } from 'node:http';
import type { AttemptFailure } from './errors.js';

/** Where requests go: a host and port, or a unix socket (plain http only). */
export type Endpoint = {
  /** As configured, for messages. */
  url: string;
  https: boolean;
} & ({ hostname: string; port: number } | { socketPath: string });

export interface TlsMaterial {
  ca?: Buffer;
  cert?: Buffer;
  key?: Buffer;
}

export interface Answer {
  status: number;
  body: string;
}

/** An attempt that produced no HTTP answer. */
export class AttemptError extends Error implements AttemptFailure {
  constructor(
    readonly endpoint: string,
    readonly reason: string,
    readonly maybeApplied: boolean,
    /** The endpoint stayed silent for the whole attempt (stopped, overloaded, or waiting for a quorum). */
    readonly timedOut = false,
  ) {
    super(reason);
  }
}

/** Connection pools, one per scheme, kept for the client's life so later calls reuse sockets and TLS sessions. */
export class Transport {
  private httpAgent?: Agent;
  private httpsAgent?: Agent;

  constructor(private readonly tls: TlsMaterial) {}

  private agentFor(ep: Endpoint): { agent: Agent; request: typeof import('node:http').request } {
    if (ep.https) {
      const https = require('node:https') as typeof import('node:https');
      // Idle keep-alive sockets are unref'd by Node, so they never hold a finished CNI process open.
      this.httpsAgent ??= new https.Agent({ keepAlive: true, ...this.tls });
      return { agent: this.httpsAgent, request: https.request };
    }
    const http = require('node:http') as typeof import('node:http');
    this.httpAgent ??= new http.Agent({ keepAlive: true });
    return { agent: this.httpAgent, request: http.request };
  }

  /** POSTs `payload` and resolves with the whole answer, or rejects with an AttemptError after at most `timeoutMs`. */
  post(ep: Endpoint, path: string, payload: string, headers: Record<string, string>, timeoutMs: number): Promise<Answer> {
    const { agent, request } = this.agentFor(ep);
    return new Promise<Answer>((resolve, reject) => {
      // Whether the request can have reached etcd: true once a connection (and TLS handshake) is up, since
      // Node writes the request as soon as it is.
      let sent = false;
      let done = false;
      const finish = (err: AttemptError | undefined, answer?: Answer): void => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        if (err) {
          req.destroy();
          reject(err);
        } else resolve(answer!);
      };
      const req = request({
        agent,
        ...('socketPath' in ep ? { socketPath: ep.socketPath } : { hostname: ep.hostname, port: ep.port }),
        method: 'POST',
        path,
        headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload), ...headers },
      });
      // A stopped member accepts connections and never answers: the timer, not the socket, bounds the attempt.
      const timer = setTimeout(
        () => finish(new AttemptError(ep.url, `no answer within ${timeoutMs} ms${sent ? ' after sending' : ' (not connected)'}`, sent, true)),
        timeoutMs,
      );
      req.on('socket', (s) => {
        if (!s.connecting) sent = true;
        else s.once(ep.https ? 'secureConnect' : 'connect', () => (sent = true));
      });
      req.on('error', (e: NodeJS.ErrnoException) => {
        // A TLS failure (a refused client certificate arrives as an alert after the client's side of a TLS 1.3
        // handshake is done) means etcd never read the request.
        const tlsFailure = /^ERR_SSL_|^ERR_TLS_|CERT|SELF_SIGNED/.test(e.code ?? '');
        finish(new AttemptError(ep.url, e.code ?? e.message, sent && !tlsFailure));
      });
      req.on('response', (res: IncomingMessage) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', (e) => finish(new AttemptError(ep.url, `answer cut off (${e.message})`, true)));
        res.on('aborted', () => finish(new AttemptError(ep.url, 'answer cut off', true)));
        res.on('end', () => finish(undefined, { status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
      });
      req.end(payload);
    });
  }

  /** Closes pooled sockets (tests and long-running CLI commands; a CNI process just exits). */
  close(): void {
    this.httpAgent?.destroy();
    this.httpsAgent?.destroy();
  }
}
