// Power loss on a cluster-mode node: every state the file system may leave at any point of a recorded sequence
// of DELs journaled while etcd is unreachable and of the calls that replay the journal once it is back
// (persistence model: docs/crash-model.md). Each state's released/ is checked from its files; a seeded sample is
// handed to the plugin (in-process, or the executable LEASEHOLD_BIN names), which journals on top of it and
// replays it against a real 3-member etcd.
// The settings (LEASEHOLD_CRASH_*) are crash-states.test.ts's.
import { mkdtempSync, rmSync } from 'node:fs';
import { createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EtcdCluster, etcdMissing } from '../helpers/etcd-cluster';
import { type Checker, CrashReport, type Scenario, crashSettings, explore, failureMessage, filesMeaning, key, record, straceAvailable } from './crash-explorer';
import {
  UNREACHABLE,
  checkJournalFiles,
  checkJournalWithBinary,
  clusterConf,
  entryWritten,
  journalEmptyAfter,
  journalExpectationAt,
  scenarioIpam,
} from './crash-journal';

const SETTINGS = crashSettings(64);
const at = (containerID: string) => ({ containerID, ifname: 'eth0' });

const SCENARIOS: Array<Omit<Scenario, 'conf'>> = [
  {
    // A node's first DEL while etcd is away creates released/; a second DEL, then a repeated one (a runtime's
    // retry) of the first attachment; etcd back: an ADD replays both, a new ADD of the first attachment must
    // survive any later replay; one more journaled DEL into the now empty released/, replayed by a GC.
    name: 'cluster node: DELs journaled while etcd is unreachable, replayed once it is back',
    network: 'jnet',
    dataDir: 'var/lib/cni',
    initial: {},
    initialHolders: [],
    calls: [
      { verb: 'ADD', att: at('j1') },
      { verb: 'ADD', att: at('j2') },
      { verb: 'DEL', att: at('j1'), etcdDown: true },
      { verb: 'DEL', att: at('j2'), etcdDown: true },
      { verb: 'DEL', att: at('j1'), etcdDown: true },
      { verb: 'ADD', att: at('j3') },
      { verb: 'ADD', att: at('j1') },
      { verb: 'DEL', att: at('j3'), etcdDown: true },
      { verb: 'GC', valid: [at('j1')] },
    ],
  },
  {
    // Calls killed by a runtime's timeout right after a mkdir, before the fsync that makes the new directory
    // durable in its parent: the node's first ADD (after mkdir of the network dir), then the first journaling
    // DEL (after mkdir released/). The calls after them find the directories there and must still make their
    // journal entries durable.
    name: 'cluster node: calls killed after mkdir of the network dir and of released/, then journaled DELs',
    network: 'knet',
    dataDir: 'cni',
    initial: {},
    initialHolders: [],
    calls: [
      { verb: 'ADD', att: at('k1'), killAt: { syscall: 'fsync', nth: 2 } },
      { verb: 'ADD', att: at('k1') },
      { verb: 'ADD', att: at('k2') },
      { verb: 'DEL', att: at('k1'), etcdDown: true, killAt: { syscall: 'fsync', nth: 1 } },
      { verb: 'DEL', att: at('k2'), etcdDown: true },
      { verb: 'DEL', att: at('k1'), etcdDown: true },
      { verb: 'ADD', att: at('k3') },
    ],
  },
  {
    // ipam.sticky: a pod's DEL journaled while etcd is away leaves its hold once replayed, with the hold the
    // DEL computed; the pod's next ADD takes it over, and its DEL journaled again leaves it again.
    name: 'cluster node, ipam.sticky: pods’ DELs journaled, their holds made by the replay',
    network: 'snet',
    dataDir: 'cni',
    initial: {},
    initialHolders: [],
    sticky: true,
    calls: [
      { verb: 'ADD', att: at('s1'), pod: 'shop/web-0' },
      { verb: 'ADD', att: at('s2'), pod: 'shop/web-1' },
      { verb: 'DEL', att: at('s1'), etcdDown: true, pod: 'shop/web-0' },
      { verb: 'DEL', att: at('s1'), etcdDown: true, pod: 'shop/web-0' },
      { verb: 'ADD', att: at('s3') },
      { verb: 'DEL', att: at('s2'), pod: 'shop/web-1' },
      { verb: 'ADD', att: at('s4'), pod: 'shop/web-0' },
      { verb: 'DEL', att: at('s4'), etcdDown: true, pod: 'shop/web-0' },
      { verb: 'GC', valid: [at('s3')] },
    ],
  },
];

/** Resolves when a connection to the endpoint is refused, as the scenarios need of UNREACHABLE. */
const refused = (url: string): Promise<boolean> =>
  new Promise((res) => {
    const u = new URL(url);
    const s = createConnection({ host: u.hostname, port: Number(u.port) });
    s.once('connect', () => {
      s.destroy();
      res(false);
    });
    s.once('error', (e: NodeJS.ErrnoException) => res(e.code === 'ECONNREFUSED'));
  });

const skip = !straceAvailable() ? 'strace is missing or may not trace here (scripts/setup.sh installs it)' : (etcdMissing() ?? '');

describe.skipIf(skip !== '')(`the node's release journal under the power-loss model (seed ${SETTINGS.seed})`, () => {
  const scratch = mkdtempSync(join(tmpdir(), 'lh-crash-journal-'));
  let cluster: EtcdCluster;
  const report = new CrashReport();
  beforeAll(async () => {
    if (!(await refused(UNREACHABLE))) throw new Error(`${UNREACHABLE} accepts connections here: the scenarios need it refused`);
    cluster = await EtcdCluster.start();
  }, 60_000);
  afterAll(async () => {
    report.write();
    await cluster?.close();
    rmSync(scratch, { recursive: true, force: true });
  });

  for (const [si, base] of SCENARIOS.entries()) {
    it(`${base.name}: acknowledged releases survive, nothing misleads a replay, the replay frees exactly them`, { timeout: 240_000 }, async () => {
      const prefix = `/lh-crash-journal-${process.pid}-${si}`;
      const sc: Scenario = {
        ...base,
        conf: (dataDir, extra, call) =>
          clusterConf(
            base.network,
            dataDir,
            { endpoints: call?.etcdDown ? [UNREACHABLE] : cluster.endpoints, prefix, ipam: scenarioIpam(base as Scenario) },
            extra,
          ),
      };
      const rec = record(sc);
      for (const [ci, c] of rec.calls.entries()) {
        const what = `recorded ${c.verb} ${c.att ? key(c.att) : ''}: ${c.reply.stdout} ${c.reply.stderr}`;
        if (c.killAt) expect(c.reply.signal, what).toBe('SIGKILL');
        else expect(c.reply.code, what).toBe(0);
        if (c.etcdDown && !c.killAt) expect(entryWritten(rec, ci), `${what}: no journal entry`).toBeDefined();
        if (!c.etcdDown) expect(journalEmptyAfter(rec, ci), `${what}: the journal was not replayed`).toBe(true);
      }

      const checker: Checker = {
        files: (s) => checkJournalFiles(s.tree, rec, journalExpectationAt(rec, s.point)),
        meaning: (s) => {
          const exp = journalExpectationAt(rec, s.point);
          const entries = [...exp.entries].map(([n, e]) => `${n}:${e.must}:${[...e.contents].join('/')}`);
          return [exp.revision, entries.join(','), [...exp.held.keys()].join(','), [...exp.freed.keys()].join(','), filesMeaning(s)].join('|');
        },
        binary: (s, root) => checkJournalWithBinary(rec, root, journalExpectationAt(rec, s.point), cluster, prefix),
      };
      const exploration = await explore(rec, checker, { ...SETTINGS, index: si, scratch });
      report.add(exploration);
      expect(exploration.findings.length, failureMessage(exploration, SETTINGS.seed)).toBe(0);
    });
  }
});
