// End-to-end through libcni, the library inside containerd's go-cni, CRI-O and cnitool: a small driver
// (scripts/libcni-driver, built here from Debian's libcni source) loads each conf.d/ example by name and runs
// ADD, CHECK (with libcni's cached prevResult) and DEL, as a runtime does, with leasehold as the IPAM plugin.
//
// The driver runs in a test network namespace (the "node"), so bridges, iptables rules and the dummy parent link
// live there; containers are further test namespaces. The examples' subnets and bridge names stay as written;
// only host paths (dataDir, resolvConf, the macvlan master) point into the test's own folders and links.

import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createConnection, createServer } from 'node:net';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { EtcdCluster, etcdMissing } from '../helpers/etcd-cluster';
import {
  assertIpamPluginPresent,
  canonicalIp,
  cleanupAll,
  CNI_PATH,
  CONF_DIR,
  createNetns,
  deleteNetns,
  describeRun,
  dumpLeaseDir,
  filesMentioning,
  ifAddrs,
  inNetns,
  isRoot,
  leasedIps,
  makeTempDir,
  netnsPath,
  NOT_ROOT_REASON,
  REPO,
  removeDir,
  run,
  runOk,
  splitCidr,
  type RunResult,
} from './helpers.js';

const HOOK_TIMEOUT = 120_000;
const STEP_TIMEOUT = 60_000;

let work = '';
let driver = '';
let node = ''; // the "node" network namespace the driver (and so every main plugin) runs in
let noIp6tablesPath = ''; // a PATH with iptables but no ip6tables
const namespaces: string[] = [];

/** A conf.d/ example as libcni will load it: host paths moved into the test's folder, optional edits. */
function example(file: string, dataDir: string, edit: (conf: any, ipam: any) => void = () => {}): { name: string; confDir: string } {
  const conf = JSON.parse(readFileSync(join(CONF_DIR, file), 'utf8'));
  const plugins: any[] = conf.plugins ?? [conf];
  const ipam = plugins.find((p) => p.ipam?.type === 'leasehold')!.ipam;
  ipam.dataDir = dataDir;
  edit(conf, ipam);
  const confDir = mkdtempSync(join(work, 'conf-'));
  writeFileSync(join(confDir, file), JSON.stringify(conf, null, 2));
  return { name: conf.name, confDir };
}

interface Attach {
  confDir: string;
  name: string;
  ns: string;
  id: string;
  ifname?: string;
  cacheDir: string;
  capArgs?: unknown;
  /** CNI_ARGS, as kubelet's runtime passes them (K8S_POD_NAMESPACE, K8S_POD_NAME, ...). */
  args?: string;
  /** PATH for the driver and the plugins it runs */
  path?: string;
}

function lhcni(verb: 'add' | 'check' | 'del' | 'validate', a: Attach): Promise<RunResult> {
  const env: NodeJS.ProcessEnv = {
    PATH: a.path ?? process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin',
    NETCONFPATH: a.confDir,
    CNI_PATH,
    CNI_CONTAINERID: a.id,
    CNI_IFNAME: a.ifname ?? 'eth0',
    CNI_CACHE_DIR: a.cacheDir,
  };
  if (a.capArgs) env.CAP_ARGS = JSON.stringify(a.capArgs);
  if (a.args) env.CNI_ARGS = a.args;
  return run('nsenter', [`--net=${netnsPath(node)}`, '--', driver, verb, a.name, netnsPath(a.ns)], { env, timeoutMs: 30_000 });
}

async function lhcniOk(verb: 'add' | 'check' | 'del' | 'validate', a: Attach): Promise<any> {
  const r = await lhcni(verb, a);
  if (r.code !== 0) throw new Error(`lhcni ${verb} failed\n${describeRun(r)}`);
  return r.stdout.trim() ? JSON.parse(r.stdout) : undefined;
}

async function newNs(prefix: string): Promise<string> {
  const ns = await createNetns(prefix);
  namespaces.push(ns);
  return ns;
}

function newId(): string {
  return randomBytes(32).toString('hex');
}

/** Asserts eth0 (or ifname) in ns carries exactly the addresses libcni's parsed result lists. */
async function expectOnLink(ns: string, current: any, ifname = 'eth0'): Promise<string[]> {
  const want = (current.ips as Array<{ address: string }>).map((i) => {
    const { ip, prefix } = splitCidr(i.address);
    return `${canonicalIp(ip)}/${prefix}`;
  });
  const have = (await ifAddrs(ns, ifname)).filter((a) => a.scope === 'global').map((a) => `${canonicalIp(a.local)}/${a.prefixlen}`);
  expect(have.sort(), `${ifname} in ${ns}`).toEqual([...want].sort());
  return want.map((w) => splitCidr(w).ip);
}

async function ping(fromNs: string, to: string): Promise<void> {
  let r = await inNetns(fromNs, 'ping', ['-c1', '-W2', to]);
  if (r.code !== 0) r = await inNetns(fromNs, 'ping', ['-c1', '-W2', to]); // first packet may wait for neighbour discovery
  expect(r.code, describeRun(r)).toBe(0);
}

/**
 * An up link in the node namespace for macvlan/ipvlan to hang off: a dummy, or where the kernel has no dummy
 * driver, one end of a veth pair (the other end stays in the node namespace too).
 */
async function parentLink(name: string): Promise<string> {
  const dummy = await run('ip', ['-n', node, 'link', 'add', name, 'type', 'dummy']);
  if (dummy.code !== 0) {
    await runOk('ip', ['-n', node, 'link', 'add', name, 'type', 'veth', 'peer', 'name', `${name}p`]);
    await runOk('ip', ['-n', node, 'link', 'set', `${name}p`, 'up']); // a veth has carrier only with both ends up
  }
  await runOk('ip', ['-n', node, 'link', 'set', name, 'up']);
  return name;
}

function cacheFiles(cacheDir: string): string[] {
  const dir = join(cacheDir, 'results');
  return existsSync(dir) ? readdirSync(dir) : [];
}

describe.skipIf(!isRoot)("libcni 1.1 (Debian's golang-github-appc-cni-dev) with leasehold as IPAM", () => {
  beforeAll(async () => {
    assertIpamPluginPresent();
    for (const need of ['/usr/bin/go', '/usr/share/gocode/src/github.com/containernetworking/cni/libcni']) {
      if (!existsSync(need)) throw new Error(`${need} is missing: install golang-go and golang-github-appc-cni-dev (scripts/setup.sh does)`);
    }
    work = makeTempDir('lh-e2e-libcni');
    await runOk(join(REPO, 'scripts', 'libcni-driver', 'build.sh'), [join(work, 'driver')], { timeoutMs: 120_000 });
    driver = join(work, 'driver', 'lhcni');
    node = await newNs('lhnode');
    const bin = join(work, 'bin');
    mkdirSync(bin);
    symlinkSync('/usr/sbin/iptables', join(bin, 'iptables'));
    noIp6tablesPath = `${bin}:/usr/bin:/bin`;
    await runOk('ip', ['netns', 'exec', node, 'ip', 'link', 'set', 'lo', 'up']);
  }, HOOK_TIMEOUT);

  afterAll(async () => {
    // deleting the namespaces removes every link, bridge and iptables rule the plugins made in them
    await cleanupAll([...namespaces.map((ns) => () => deleteNetns(ns)), () => removeDir(work)]);
  }, HOOK_TIMEOUT);

  // portmap 1.1.1's CHECK looks for its IPv4 rules in ip6tables as well and fails wherever ip6tables works
  // (containernetworking/plugins#819): the chain runs as on a node without ip6tables, which is what a node that
  // runs portmap 1.1.1 and checks its containers has to be.
  test(
    'bridge -> leasehold -> portmap -> tuning (10-pods-bridge): ADD, CHECK with the cached prevResult, ping, DEL twice',
    async () => {
      const dataDir = join(work, 'pods');
      const { name, confDir } = example('10-pods-bridge.conflist', dataDir, (conf) => {
        conf.plugins.push(
          { type: 'portmap', capabilities: { portMappings: true }, snat: false },
          { type: 'tuning', sysctl: { 'net.ipv4.conf.eth0.accept_redirects': '0' } },
        );
      });
      const cacheDir = join(work, 'pods-cache');
      const a: Attach[] = [];
      for (let i = 0; i < 2; i++) {
        a.push({
          confDir,
          name,
          ns: await newNs('lhpod'),
          id: newId(),
          cacheDir,
          capArgs: { portMappings: [{ hostPort: 18080 + i, containerPort: 80, protocol: 'tcp' }] },
          path: noIp6tablesPath,
        });
      }
      const ips: string[] = [];
      for (const at of a) {
        const add = await lhcniOk('add', at);
        expect(add.version).toBe('1.0.0');
        const [ip] = await expectOnLink(at.ns, add.current);
        expect(leasedIps(dataDir, name, at.id), dumpLeaseDir(dataDir, name)).toEqual([ip]);
        const sysctl = await inNetns(at.ns, 'cat', ['/proc/sys/net/ipv4/conf/eth0/accept_redirects']);
        expect(sysctl.stdout.trim(), 'tuning ran after leasehold').toBe('0');
        ips.push(ip!);
      }
      const nat = await inNetns(node, 'iptables', ['-t', 'nat', '-S']);
      expect(nat.stdout, "portmap's DNAT for the first container").toContain(`--to-destination ${ips[0]}:80`);
      await ping(a[0]!.ns, ips[1]!);
      await ping(a[1]!.ns, ips[0]!);

      // CHECK: libcni hands every plugin, leasehold included, the result it cached at ADD
      for (const at of a) await lhcniOk('check', at);
      const cached = join(cacheDir, 'results', `${name}-${a[0]!.id}-eth0`);
      const saved = readFileSync(cached, 'utf8');
      expect(saved).toContain(`"${ips[0]}/24"`);
      writeFileSync(cached, saved.replaceAll(`"${ips[0]}/24"`, `"10.244.1.250/24"`));
      const bad = await lhcni('check', a[0]!);
      expect(bad.code, `CHECK with a prevResult leasehold did not lease\n${describeRun(bad)}`).toBe(1);
      expect(bad.stderr).toContain('10.244.1.250');
      expect(bad.stderr, "leasehold's CHECK mismatch code, passed up through bridge and libcni").toContain('(code 102)');
      writeFileSync(cached, saved);

      for (const at of a) {
        await lhcniOk('del', at);
        expect(filesMentioning(dataDir, name, at.id), dumpLeaseDir(dataDir, name)).toEqual([]);
        await lhcniOk('del', at); // a runtime retrying DEL must not get an error
      }
      expect(cacheFiles(cacheDir), "libcni's cache after DEL").toEqual([]);
      expect((await inNetns(node, 'iptables', ['-t', 'nat', '-S'])).stdout).not.toContain(`${ips[0]}:80`);
    },
    STEP_TIMEOUT,
  );

  test(
    'dual-stack (20-dualstack-bridge): one address per family on eth0 and in the lease, ping over both',
    async () => {
      const dataDir = join(work, 'dual');
      const { name, confDir } = example('20-dualstack-bridge.conflist', dataDir);
      const cacheDir = join(work, 'dual-cache');
      const a: Attach[] = [];
      const got: string[][] = [];
      for (let i = 0; i < 2; i++) {
        const at = { confDir, name, ns: await newNs('lhdual'), id: newId(), cacheDir };
        a.push(at);
        const add = await lhcniOk('add', at);
        const ips = await expectOnLink(at.ns, add.current);
        expect(
          ips.map((ip) => (ip.includes(':') ? 6 : 4)),
          'one address per family, in range-set order',
        ).toEqual([4, 6]);
        expect(leasedIps(dataDir, name, at.id).sort(), dumpLeaseDir(dataDir, name)).toEqual([...ips].sort());
        got.push(ips);
      }
      // IPv6 duplicate address detection must finish before the address answers
      for (const at of a)
        await runOk('ip', [
          'netns',
          'exec',
          at.ns,
          'sh',
          '-c',
          'for i in $(seq 50); do ip -6 addr show dev eth0 tentative | grep -q inet6 || exit 0; sleep 0.1; done; exit 1',
        ]);
      await ping(a[0]!.ns, got[1]![0]!);
      await ping(a[0]!.ns, got[1]![1]!);
      for (const at of a) {
        await lhcniOk('check', at);
        await lhcniOk('del', at);
        expect(filesMentioning(dataDir, name, at.id)).toEqual([]);
      }
    },
    STEP_TIMEOUT,
  );

  for (const type of ['macvlan', 'ipvlan'] as const) {
    test(
      `${type} on a parent link in the node namespace (40-macvlan.conf): two containers get their leases and ping each other`,
      async (ctx) => {
        const parent = await parentLink(`lh${type.slice(0, 3)}0`);
        const probe = await run('ip', ['-n', node, 'link', 'add', 'lhprobe', 'link', parent, 'type', type]);
        if (probe.code !== 0) ctx.skip(`this kernel cannot make ${type} links (${probe.stderr.trim()})`);
        await runOk('ip', ['-n', node, 'link', 'del', 'lhprobe']);
        const dataDir = join(work, type);
        const { name, confDir } = example('40-macvlan.conf', dataDir, (conf) => {
          conf.type = type;
          conf.master = parent;
          if (type === 'ipvlan') conf.mode = 'l2';
        });
        const cacheDir = join(work, `${type}-cache`);
        const a: Attach[] = [];
        const ips: string[] = [];
        for (let i = 0; i < 2; i++) {
          const at = { confDir, name, ns: await newNs(`lh${type.slice(0, 3)}`), id: newId(), cacheDir };
          a.push(at);
          const add = await lhcniOk('add', at);
          const [ip] = await expectOnLink(at.ns, add.current);
          expect(ip!.startsWith('192.168.50.')).toBe(true);
          expect(Number(ip!.split('.')[3])).toBeGreaterThanOrEqual(100); // the example's rangeStart
          expect(leasedIps(dataDir, name, at.id)).toEqual([ip]);
          ips.push(ip!);
        }
        await ping(a[0]!.ns, ips[1]!);
        for (const at of a) {
          await lhcniOk('check', at);
          await lhcniOk('del', at);
          expect(filesMentioning(dataDir, name, at.id), dumpLeaseDir(dataDir, name)).toEqual([]);
        }
      },
      STEP_TIMEOUT,
    );
  }

  // every version libcni 1.1 reads a result in (types 020, 040 and 100)
  for (const version of ['0.1.0', '0.2.0', '0.3.0', '0.3.1', '0.4.0', '1.0.0']) {
    const hasCheck = version === '0.4.0' || version === '1.0.0';
    test(
      `cniVersion ${version} (30-ptp): libcni validates the chain, parses leasehold's reply and runs ${hasCheck ? 'ADD/CHECK/DEL' : 'ADD/DEL'}`,
      async () => {
        const dataDir = join(work, `ptp-${version}`);
        const { name, confDir } = example('30-ptp.conflist', dataDir, (conf) => {
          conf.cniVersion = version;
          conf.name = `p2p-${version.replaceAll('.', '')}`;
        });
        const at = { confDir, name, ns: await newNs('lhptp'), id: newId(), cacheDir: join(work, `ptp-cache-${version}`) };
        // VERSION of every plugin in the list, as libcni negotiates it
        expect(await lhcniOk('validate', at)).toEqual({ capabilities: [] });
        const add = await lhcniOk('add', at);
        expect(add.version, "libcni parsed the reply as the config's version").toBe(version);
        expect(add.result.cniVersion).toBe(version);
        const [ip] = await expectOnLink(at.ns, add.current);
        const last = Number(ip!.split('.')[3]);
        expect(last >= 10 && last <= 250, `${ip} inside rangeStart..rangeEnd`).toBe(true);
        expect(leasedIps(dataDir, name, at.id)).toEqual([ip]);
        const check = await lhcni('check', at);
        if (!hasCheck) {
          expect(check.code, 'libcni refuses CHECK below 0.4.0').toBe(1);
          expect(check.stderr).toContain('does not support the CHECK command');
        } else {
          expect(check.code, describeRun(check)).toBe(0);
        }
        await lhcniOk('del', at);
        expect(filesMentioning(dataDir, name, at.id)).toEqual([]);
      },
      STEP_TIMEOUT,
    );
  }

  test(
    'the extra keys (50-options-bridge): own dataDir, resolvConf, extra route via the gateway; excluded addresses refused',
    async () => {
      const dataDir = join(work, 'tuned');
      const resolv = join(work, 'resolv.conf');
      writeFileSync(resolv, 'nameserver 10.96.0.10\nsearch svc.cluster.local\n');
      const { name, confDir } = example('50-options-bridge.conflist', dataDir, (conf, ipam) => {
        ipam.resolvConf = resolv; // read on ADD; bridge then replaces the result's dns with its own `dns` key
        conf.plugins[0].capabilities = { ips: true }; // lets the runtime ask for an address, as kubelet's static IPs do
      });
      const cacheDir = join(work, 'tuned-cache');
      const first = { confDir, name, ns: await newNs('lhtuned'), id: newId(), cacheDir };
      const add = await lhcniOk('add', first);
      const [ip] = await expectOnLink(first.ns, add.current);
      expect(ip).toBe('10.247.0.10'); // the example's rangeStart
      expect(add.current.ips[0].gateway).toBe('10.247.0.1');
      const rt = await inNetns(first.ns, 'ip', ['-4', 'route', 'show', '10.96.0.0/12']);
      expect(rt.stdout, "the example's extra route").toContain('via 10.247.0.1');
      expect(leasedIps(dataDir, name, first.id)).toEqual([ip]);
      await lhcniOk('check', first);

      // The example's extra route names 10.247.0.1 as its gateway, which only the first range can reach: so the
      // second range of the set is not exercised here (bridge would fail its ADD with "network is unreachable").
      const second = { confDir, name, ns: await newNs('lhtuned'), id: newId(), cacheDir };
      for (const excluded of ['10.247.0.53', '10.247.0.70']) {
        const refused = await lhcni('add', { ...second, capArgs: { ips: [`${excluded}/24`] } });
        expect(refused.code, describeRun(refused)).toBe(1);
        expect(refused.stderr).toContain(excluded);
        expect(refused.stderr, "leasehold's address-unavailable code").toContain('(code 101)');
        expect(filesMentioning(dataDir, name, second.id)).toEqual([]);
        await lhcniOk('del', second); // what a runtime does after a failed ADD
      }
      const other = await lhcniOk('add', { ...second, capArgs: { ips: ['10.247.0.80/24'] } });
      expect(await expectOnLink(second.ns, other.current)).toEqual(['10.247.0.80']);
      await lhcniOk('check', { ...second, capArgs: { ips: ['10.247.0.80/24'] } });

      for (const at of [first, second]) {
        await lhcniOk('del', at);
        expect(filesMentioning(dataDir, name, at.id)).toEqual([]);
      }
    },
    STEP_TIMEOUT,
  );

  test(
    'cluster mode (60-macvlan-cluster): two nodes share one range over a real etcd, their pods ping each other, DEL frees it cluster-wide',
    async (ctx) => {
      const missing = etcdMissing();
      if (missing) ctx.skip(`cluster mode needs etcd: ${missing}`);
      const etcd = await EtcdCluster.start();
      // The plugin runs in the node namespace, where the host's loopback is not reachable: as in production, it
      // talks to a node-local forwarder on a unix socket, which relays to the members.
      const sock = join(work, 'etcd.sock');
      const forwarder = createServer((c) => {
        const up = createConnection({ host: '127.0.0.1', port: Number(new URL(etcd.endpoints[0]!).port) });
        c.pipe(up).pipe(c);
        c.on('error', () => up.destroy());
        up.on('error', () => c.destroy());
      });
      await new Promise<void>((r) => forwarder.listen(sock, r));
      try {
        const parent = await parentLink('lhclu0');
        const prefix = `/lh-libcni-${process.pid}`;
        const nodes = ['node-a', 'node-b'].map((nodeName) => {
          const dataDir = join(work, `cluster-${nodeName}`);
          return example('60-macvlan-cluster.conflist', dataDir, (conf, ipam) => {
            conf.plugins[0].master = parent;
            ipam.cluster = { ...ipam.cluster, etcd: { endpoints: [`unix://${sock}`] }, prefix, nodeName };
          });
        });
        const at: Attach[] = [];
        const ips: string[] = [];
        for (const [i, n] of nodes.entries()) {
          const a = { confDir: n.confDir, name: n.name, ns: await newNs(`lhclu${i}`), id: newId(), cacheDir: join(work, `cluster-cache-${i}`) };
          at.push(a);
          const add = await lhcniOk('add', a);
          const [ip] = await expectOnLink(a.ns, add.current);
          expect(Number(ip!.split('.')[3])).toBeGreaterThanOrEqual(100);
          ips.push(ip!);
        }
        expect(new Set(ips).size).toBe(2);
        const keys = () =>
          etcd
            .etcdctl(['get', '--prefix', '--keys-only', `${prefix}/pools/lan50/addresses/`])
            .split('\n')
            .filter((l) => l.trim() !== '');
        expect(keys()).toHaveLength(2);
        await ping(at[0]!.ns, ips[1]!);
        for (const a of at) {
          await lhcniOk('check', a);
          await lhcniOk('del', a);
        }
        expect(keys()).toEqual([]);
      } finally {
        forwarder.close();
        await etcd.close();
      }
    },
    STEP_TIMEOUT,
  );
  test(
    'bridge -> leasehold (70-statefulset-sticky): the pod annotation through the capability, a recreated pod gets its address back',
    async () => {
      const dataDir = join(work, 'sts');
      const { name, confDir } = example('70-statefulset-sticky.conflist', dataDir);
      const cacheDir = join(work, 'sts-cache');
      const pod = (id: string, podName: string) =>
        `IgnoreUnknown=1;K8S_POD_NAMESPACE=db;K8S_POD_NAME=${podName};K8S_POD_INFRA_CONTAINER_ID=${id};K8S_POD_UID=uid-${podName}`;
      const attach = async (podName: string, capArgs?: unknown): Promise<Attach> => {
        const id = newId();
        return { confDir, name, ns: await newNs('lhsts'), id, cacheDir, args: pod(id, podName), ...(capArgs !== undefined && { capArgs }) };
      };
      // libcni turns the capability's argument into runtimeConfig for bridge, which hands it to leasehold.
      const first = await attach('pg-0', { 'io.kubernetes.cri.pod-annotations': { 'leasehold.io/ips': '10.245.1.77' } });
      const [ip] = await expectOnLink(first.ns, (await lhcniOk('add', first)).current);
      expect(ip).toBe('10.245.1.77');
      const other = await attach('pg-1');
      const [otherIp] = await expectOnLink(other.ns, (await lhcniOk('add', other)).current);
      await lhcniOk('del', first);
      // The StatefulSet controller recreates pg-0: a new sandbox, no annotation this time; the hold gives .77 back.
      const again = await attach('pg-0');
      expect(await expectOnLink(again.ns, (await lhcniOk('add', again)).current)).toEqual(['10.245.1.77']);
      await ping(again.ns, otherIp!);
      for (const a of [again, other]) await lhcniOk('del', a);
      expect(readdirSync(join(dataDir, name, 'holds')).filter((f) => f.endsWith('.json'))).toEqual(['db@pg-0@eth0.json', 'db@pg-1@eth0.json']);
    },
    STEP_TIMEOUT,
  );
});

if (!isRoot) {
  describe('libcni e2e', () => {
    test.skip(NOT_ROOT_REASON, () => {});
  });
}
