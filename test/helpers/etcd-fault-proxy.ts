// A fault-injecting HTTP/1.1 forwarder on loopback in front of a real etcd member: every request goes to the
// member unchanged, except those a predicate picks, which get what a member without a leader answers
// (503, gRPC code 14) and never reach etcd. Tests choose which calls fail, e.g. only the range reads.
import { type IncomingMessage, type Server, type ServerResponse, createServer, request } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface ProxiedRequest {
  method: string;
  path: string;
  body: string;
}

/** What etcd's JSON gateway answers while a member has no leader. */
export const NO_LEADER = JSON.stringify({ error: 'etcdserver: no leader', message: 'etcdserver: no leader', code: 14 });

/** The key an etcd gateway request names (base64 in the body), or undefined. */
export function keyOf(r: ProxiedRequest): string | undefined {
  try {
    const key = JSON.parse(r.body)?.key;
    return typeof key === 'string' ? Buffer.from(key, 'base64').toString() : undefined;
  } catch {
    return undefined;
  }
}

export class EtcdFaultProxy {
  /** Requests that got the 503, and requests forwarded, in order. */
  readonly failed: ProxiedRequest[] = [];
  readonly forwarded: ProxiedRequest[] = [];
  /** Requests for which this answers 503 instead of forwarding; none by default. */
  failWhen: (r: ProxiedRequest) => boolean = () => false;

  private constructor(
    private readonly server: Server,
    private readonly upstream: URL,
  ) {}

  /** Starts on 127.0.0.1 with a port picked by the kernel, forwarding to `upstream` (http://host:port). */
  static async start(upstream: string): Promise<EtcdFaultProxy> {
    let proxy: EtcdFaultProxy | undefined;
    const server = createServer((req, res) => proxy!.handle(req, res));
    proxy = new EtcdFaultProxy(server, new URL(upstream));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', resolve);
    });
    return proxy;
  }

  get endpoint(): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const r: ProxiedRequest = { method: req.method ?? 'GET', path: req.url ?? '/', body: Buffer.concat(chunks).toString() };
      if (this.failWhen(r)) {
        this.failed.push(r);
        res.writeHead(503, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(NO_LEADER) });
        res.end(NO_LEADER);
        return;
      }
      this.forwarded.push(r);
      const up = request(
        { host: this.upstream.hostname, port: this.upstream.port, method: r.method, path: r.path, headers: { 'content-type': 'application/json' } },
        (answer) => {
          const body: Buffer[] = [];
          answer.on('data', (c: Buffer) => body.push(c));
          answer.on('end', () => {
            const all = Buffer.concat(body);
            res.writeHead(answer.statusCode ?? 502, { 'content-type': 'application/json', 'content-length': all.length });
            res.end(all);
          });
        },
      );
      up.on('error', () => {
        res.writeHead(502, { 'content-length': 0 });
        res.end();
      });
      up.end(r.body);
    });
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
