// A real etcd cluster for tests: members spawned directly on 127.0.0.1 with ports picked free per run, own
// data dirs in a temp dir, stopped by PID (in close(), and by an exit hook if a suite dies first).
// Optional TLS (a throw-away CA, server and client certificates made with openssl) and auth (root user,
// plus a user "leasehold" allowed only under /leasehold/).
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, openSync, closeSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll } from 'vitest';
import { buildCluster } from '../../src/config/cluster';
import type { RawCluster } from '../../src/config/schema';
import { type EtcdAccess, etcdAccess } from '../../src/config/secrets';

/** A client's settings from ipam.cluster.etcd's keys, parsed and read as the plugin does. */
export function clientConfig(etcd: RawCluster['etcd'] & { timeoutMs?: number }): EtcdAccess {
  const { timeoutMs, ...keys } = etcd;
  return etcdAccess(buildCluster({ etcd: keys, nodeName: 'test', ...(timeoutMs !== undefined && { timeoutMs }) }, 'test'));
}

/**
 * A 3-member cluster for the tests of one file: started before them and stopped (by PID) after, with a temp
 * root for the simulated nodes' data dirs. `missing` says why there is none here (the file's tests skip), `why`
 * is that as a suffix for a suite's title.
 */
export function clusterForFile(rootPrefix: string): { missing: string | undefined; why: string; root: { dir: string }; readonly cluster: EtcdCluster } {
  const missing = etcdMissing();
  const root = { dir: mkdtempSync(join(tmpdir(), rootPrefix)) };
  let cluster: EtcdCluster | undefined;
  beforeAll(async () => {
    if (!missing) cluster = await EtcdCluster.start();
  }, 60_000);
  afterAll(async () => {
    await cluster?.close();
    rmSync(root.dir, { recursive: true, force: true });
  });
  return {
    missing,
    why: missing ? ` (skipped: ${missing})` : '',
    root,
    get cluster(): EtcdCluster {
      if (!cluster) throw new Error(`no etcd cluster: ${missing ?? 'it did not start'}`);
      return cluster;
    },
  };
}

/** Why a cluster cannot be started here, or undefined when it can. */
export function etcdMissing(): string | undefined {
  for (const [bin, arg] of [
    ['etcd', '--version'],
    ['etcdctl', 'version'],
  ] as const) {
    if (spawnSync(bin, [arg]).status !== 0) return `${bin} is not installed (Debian: apt-get install etcd-server etcd-client; scripts/setup.sh does it)`;
  }
  if (spawnSync('openssl', ['version']).status !== 0) return 'openssl is not installed (apt-get install openssl)';
  return undefined;
}

export interface ClusterOptions {
  members?: number;
  /** Client URLs over https with client certificates required (peers stay on plain http on loopback). */
  tls?: boolean;
  /** Users and auth enabled: root and "leasehold" (readwrite on the /leasehold/ prefix only). */
  auth?: boolean;
}

export interface Member {
  name: string;
  clientUrl: string;
  peerUrl: string;
  dataDir: string;
  log: string;
  args: string[];
  proc?: ChildProcess;
  paused: boolean;
}

export interface TlsFiles {
  caFile: string;
  certFile: string;
  keyFile: string;
}

export const LEASEHOLD_USER = 'leasehold';
export const LEASEHOLD_PREFIX = '/leasehold/';

const live = new Set<EtcdCluster>();
process.on('exit', () => {
  for (const c of live) c.killAllSync();
});

/** Ports the kernel hands out as free, all held at once so they are distinct, then released for etcd. */
async function freePorts(n: number): Promise<number[]> {
  const servers: Server[] = [];
  try {
    for (let i = 0; i < n; i++) {
      const s = createServer();
      servers.push(s);
      await new Promise<void>((res, rej) => s.once('error', rej).listen(0, '127.0.0.1', () => res()));
    }
    return servers.map((s) => (s.address() as { port: number }).port);
  } finally {
    await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  }
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function run(cmd: string, args: string[], cwd?: string): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8', cwd, timeout: 30_000 });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.status ?? r.signal}): ${r.stderr || r.stdout}`);
  return r.stdout;
}

/** A CA, a server certificate for 127.0.0.1 and a client certificate, EC P-256, valid one day. */
function makeCertificates(dir: string): { ca: string; serverCert: string; serverKey: string; client: TlsFiles } {
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  run('openssl', ['req', '-x509', '-new', ...ec, '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '1', '-subj', '/CN=leasehold-test-ca'], dir);
  const sign = (name: string, subject: string, ext: string): void => {
    run('openssl', ['req', '-new', ...ec, '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', subject], dir);
    writeFileSync(join(dir, `${name}.ext`), ext);
    run(
      'openssl',
      [
        'x509',
        '-req',
        '-in',
        `${name}.csr`,
        '-CA',
        'ca.crt',
        '-CAkey',
        'ca.key',
        '-CAcreateserial',
        '-out',
        `${name}.crt`,
        '-days',
        '1',
        '-extfile',
        `${name}.ext`,
      ],
      dir,
    );
  };
  // etcd's gateway dials its own gRPC server with the server certificate, so it must also allow client auth.
  sign('server', '/CN=etcd-test', 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth,clientAuth\n');
  // No CN: with auth on, etcd's gateway refuses client certificates that carry one (only gRPC maps a CN to a user).
  sign('client', '/O=leasehold-test-client', 'extendedKeyUsage=clientAuth\n');
  return {
    ca: join(dir, 'ca.crt'),
    serverCert: join(dir, 'server.crt'),
    serverKey: join(dir, 'server.key'),
    client: { caFile: join(dir, 'ca.crt'), certFile: join(dir, 'client.crt'), keyFile: join(dir, 'client.key') },
  };
}

export class EtcdCluster {
  readonly members: Member[] = [];
  /** Client certificate and CA, in TLS mode. */
  tls?: TlsFiles;
  /** Password files of root and of LEASEHOLD_USER, in auth mode. */
  auth?: { rootPasswordFile: string; userPasswordFile: string; rootPassword: string };

  private constructor(readonly dir: string) {}

  get endpoints(): string[] {
    return this.members.map((m) => m.clientUrl);
  }

  static async start(opts: ClusterOptions = {}): Promise<EtcdCluster> {
    const n = opts.members ?? 3;
    const c = new EtcdCluster(mkdtempSync(join(tmpdir(), 'leasehold-etcd-')));
    live.add(c);
    try {
      const certs = opts.tls ? makeCertificates(c.dir) : undefined;
      if (certs) c.tls = certs.client;
      const scheme = opts.tls ? 'https' : 'http';
      const ports = await freePorts(2 * n);
      for (let i = 0; i < n; i++) {
        c.members.push({
          name: `m${i}`,
          clientUrl: `${scheme}://127.0.0.1:${ports[2 * i]}`,
          peerUrl: `http://127.0.0.1:${ports[2 * i + 1]}`,
          dataDir: join(c.dir, `m${i}`),
          log: join(c.dir, `m${i}.log`),
          args: [],
          paused: false,
        });
      }
      const initial = c.members.map((m) => `${m.name}=${m.peerUrl}`).join(',');
      for (const m of c.members) {
        m.args = [
          '--name',
          m.name,
          '--data-dir',
          m.dataDir,
          '--listen-client-urls',
          m.clientUrl,
          '--advertise-client-urls',
          m.clientUrl,
          '--listen-peer-urls',
          m.peerUrl,
          '--initial-advertise-peer-urls',
          m.peerUrl,
          '--initial-cluster',
          initial,
          '--initial-cluster-token',
          `lh-${process.pid}-${ports[0]}`,
          '--initial-cluster-state',
          'new',
          '--logger',
          'zap',
          '--log-outputs',
          'stderr',
          ...(certs ? ['--cert-file', certs.serverCert, '--key-file', certs.serverKey, '--trusted-ca-file', certs.ca, '--client-cert-auth'] : []),
        ];
        c.spawn(m);
      }
      await Promise.all(c.members.map((_, i) => c.waitHealthy(i)));
      if (opts.auth) c.enableAuth();
      return c;
    } catch (e) {
      await c.close();
      throw e;
    }
  }

  private spawn(m: Member): void {
    const fd = openSync(m.log, 'a');
    try {
      m.proc = spawn('etcd', m.args, { stdio: ['ignore', fd, fd] });
    } finally {
      closeSync(fd);
    }
    m.paused = false;
  }

  /** etcdctl against the given members (all by default), with this cluster's certificates and root credentials. */
  etcdctl(args: string[], members: number[] = this.members.map((_, i) => i)): string {
    const ep = members.map((i) => this.members[i]!.clientUrl).join(',');
    const tls = this.tls ? ['--cacert', this.tls.caFile, '--cert', this.tls.certFile, '--key', this.tls.keyFile] : [];
    const user = this.auth ? ['--user', `root:${this.auth.rootPassword}`] : [];
    return run('etcdctl', ['--endpoints', ep, '--command-timeout', '10s', ...tls, ...user, ...args]);
  }

  private enableAuth(): void {
    const rootPassword = `root-${process.pid}-${Date.now()}`;
    const userPassword = `lh-${process.pid}-${Date.now()}`;
    this.etcdctl(['user', 'add', 'root', '--new-user-password', rootPassword]);
    this.etcdctl(['role', 'add', LEASEHOLD_USER]);
    this.etcdctl(['role', 'grant-permission', LEASEHOLD_USER, '--prefix=true', 'readwrite', LEASEHOLD_PREFIX]);
    this.etcdctl(['user', 'add', LEASEHOLD_USER, '--new-user-password', userPassword]);
    this.etcdctl(['user', 'grant-role', LEASEHOLD_USER, LEASEHOLD_USER]);
    this.etcdctl(['auth', 'enable']);
    const rootPasswordFile = join(this.dir, 'root.password');
    const userPasswordFile = join(this.dir, 'leasehold.password');
    writeFileSync(rootPasswordFile, `${rootPassword}\n`, { mode: 0o600 });
    writeFileSync(userPasswordFile, `${userPassword}\n`, { mode: 0o600 });
    this.auth = { rootPasswordFile, userPasswordFile, rootPassword };
  }

  /** POST (GET for /health) to one member's JSON gateway, without auth: status and health need none. */
  gateway(i: number, path: string, body: object = {}, timeoutMs = 2000): Promise<{ status: number; json: any }> {
    const m = this.members[i]!;
    const u = new URL(m.clientUrl);
    const tls = this.tls ? { ca: readFileSync(this.tls.caFile), cert: readFileSync(this.tls.certFile), key: readFileSync(this.tls.keyFile) } : {};
    const request = u.protocol === 'https:' ? httpsRequest : httpRequest;
    const method = path === '/health' ? 'GET' : 'POST';
    const payload = method === 'GET' ? '' : JSON.stringify(body);
    return new Promise((resolve, reject) => {
      const req = request(
        { hostname: u.hostname, port: u.port, path, method, agent: false, timeout: timeoutMs, headers: { 'content-type': 'application/json' }, ...tls },
        (res) => {
          let text = '';
          res.on('data', (d) => (text += d));
          res.on('end', () => {
            try {
              resolve({ status: res.statusCode ?? 0, json: JSON.parse(text) });
            } catch {
              resolve({ status: res.statusCode ?? 0, json: text });
            }
          });
        },
      );
      req.on('timeout', () => req.destroy(new Error(`no answer from ${m.clientUrl}${path} within ${timeoutMs} ms`)));
      req.on('error', reject);
      req.end(payload);
    });
  }

  /** Waits until member i reports itself healthy (it has a leader and can serve a quorum read). */
  async waitHealthy(i: number, timeoutMs = 30_000): Promise<void> {
    const until = Date.now() + timeoutMs;
    let last = '';
    while (Date.now() < until) {
      if (!this.isAlive(i)) throw new Error(`etcd ${this.members[i]!.name} exited: ${this.logTail(i)}`);
      const r = await this.gateway(i, '/health', {}, 1000).catch((e) => ({ status: 0, json: String(e) }));
      if (r.json?.health === 'true') return;
      last = JSON.stringify(r.json);
      await sleep(100);
    }
    throw new Error(`etcd ${this.members[i]!.name} not healthy after ${timeoutMs} ms (${last}): ${this.logTail(i)}`);
  }

  logTail(i: number): string {
    try {
      return readFileSync(this.members[i]!.log, 'utf8').split('\n').slice(-5).join('\n');
    } catch {
      return '(no log)';
    }
  }

  /** Index of the current leader: the running member whose status names itself as leader (waits out an election). */
  async leader(timeoutMs = 10_000): Promise<number> {
    const until = Date.now() + timeoutMs;
    while (Date.now() < until) {
      for (let i = 0; i < this.members.length; i++) {
        if (!this.isRunning(i)) continue;
        const s = await this.gateway(i, '/v3/maintenance/status').catch(() => undefined);
        if (s?.json?.leader && s.json.leader === s.json.header?.member_id) return i;
      }
      await sleep(100);
    }
    throw new Error(`no running member is leader after ${timeoutMs} ms`);
  }

  /** The member's process exists (it may be paused). */
  isAlive(i: number): boolean {
    const p = this.members[i]!.proc;
    return !!p && p.exitCode === null && p.signalCode === null;
  }

  /** Alive and not paused: it answers. */
  isRunning(i: number): boolean {
    return this.isAlive(i) && !this.members[i]!.paused;
  }

  /** SIGKILLs member i and waits until it is gone. */
  async kill(i: number): Promise<void> {
    const p = this.members[i]!.proc;
    if (!p || !this.isAlive(i)) return;
    const gone = new Promise((r) => p.once('exit', r));
    process.kill(p.pid!, 'SIGKILL');
    await gone;
    this.members[i]!.paused = false;
  }

  /** Starts a killed member again with its data dir; waits until it is healthy unless told not to. */
  async restart(i: number, wait = true): Promise<void> {
    await this.kill(i);
    this.spawn(this.members[i]!);
    if (wait) await this.waitHealthy(i);
  }

  /** SIGSTOP: the member keeps its sockets, accepts connections and never answers. */
  pause(i: number): void {
    process.kill(this.members[i]!.proc!.pid!, 'SIGSTOP');
    this.members[i]!.paused = true;
  }

  resume(i: number): void {
    process.kill(this.members[i]!.proc!.pid!, 'SIGCONT');
    this.members[i]!.paused = false;
  }

  /** Kills every member but `survivor`: no quorum is left. Returns the killed indexes. */
  async loseQuorum(survivor = 0): Promise<number[]> {
    const victims = this.members.map((_, i) => i).filter((i) => i !== survivor);
    await Promise.all(victims.map((i) => this.kill(i)));
    return victims;
  }

  /** Restarts every killed member and waits until all are healthy. */
  async restoreQuorum(): Promise<void> {
    for (let i = 0; i < this.members.length; i++) if (!this.isAlive(i)) await this.restart(i, false);
    await Promise.all(this.members.map((_, i) => this.waitHealthy(i)));
  }

  /** Kills members by PID (SIGKILL also ends stopped ones), synchronously so it works from an exit hook. */
  private signalAll(): void {
    for (const [i, m] of this.members.entries()) {
      if (!this.isAlive(i)) continue;
      try {
        process.kill(m.proc!.pid!, 'SIGKILL');
      } catch {
        // exited between the check and the signal
      }
    }
  }

  /** For the exit hook: kills by PID without waiting, then removes the temp dir. */
  killAllSync(): void {
    this.signalAll();
    rmSync(this.dir, { recursive: true, force: true });
    live.delete(this);
  }

  /** Kills every member, waits for each to exit, then removes the temp dir. */
  async close(): Promise<void> {
    const exits = this.members.map((m, i) => (this.isAlive(i) ? new Promise((r) => m.proc!.once('exit', r)) : undefined));
    this.signalAll();
    await Promise.all(exits);
    rmSync(this.dir, { recursive: true, force: true });
    live.delete(this);
  }
}
