// The node's journal of releases (cluster mode) under the crash-state explorer: what a recorded sequence of
// calls promised about released/ and about the pool in etcd at each crash point, the check of a state's files,
// and the check with the plugin, which replays the journal of a crash state against a real etcd.
// etcd itself does not crash: at each crash point it is as the node's last answer from it showed it (its
// revision, read from the trace), copied from etcd's history under a fresh prefix for each state checked.
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { EtcdCluster } from '../helpers/etcd-cluster';
import { type Attachment, type BinRun, type Recording, type Scenario, type Tree, isTempName, key, materialize, netRel, runBin } from './crash-explorer';

export const JOURNAL_DIR = 'released';
export const NODE = 'node-a';
/** Nothing listens on port 1 of the loopback (checked by the test): a connection is refused at once. */
export const UNREACHABLE = 'http://127.0.0.1:1';

export interface ClusterTarget {
  endpoints: string[];
  prefix: string;
  /** More ipam keys (a scenario's ipam.sticky). */
  ipam?: Record<string, unknown>;
}

/** The network config of the journal's scenarios: one node of a cluster pool, etcd as the target says. */
export const clusterConf = (network: string, dataDir: string, target: ClusterTarget, extra: Record<string, unknown> = {}): Record<string, unknown> => ({
  cniVersion: '1.1.0',
  name: network,
  type: 'macvlan',
  ...extra,
  ipam: {
    type: 'leasehold',
    dataDir,
    ranges: [[{ subnet: '10.95.0.0/28' }]],
    lockTimeoutMs: 20_000,
    cluster: { etcd: { endpoints: target.endpoints }, prefix: target.prefix, pool: 'jpool', nodeName: NODE, timeoutMs: 2000 },
    ...target.ipam,
  },
});

/** The ipam keys a scenario adds. */
export const scenarioIpam = (sc: Scenario): Record<string, unknown> => (sc.sticky ? { sticky: { holdSeconds: 3600 } } : {});

// ---------------------------------------------------------------------------------------------------------
// etcd at a crash point

type Kv = { key: string; value: string };
const b64 = (s: string): string => Buffer.from(s).toString('base64');
const unb64 = (s: string): string => Buffer.from(s, 'base64').toString('utf8');
/** The key range of everything under a prefix (its keys start with `${prefix}/`). */
const under = (prefix: string) => ({ key: b64(`${prefix}/`), range_end: b64(`${prefix}0`) });

async function etcd(cluster: EtcdCluster, path: string, body: object): Promise<any> {
  const r = await cluster.gateway(0, path, body, 10_000);
  if (r.status !== 200) throw new Error(`etcd ${path}: HTTP ${r.status} ${JSON.stringify(r.json)}`);
  return r.json;
}

/** Writes what was under `from` at `revision` (etcd keeps its history) again under `to`, in one transaction. */
async function copyAt(cluster: EtcdCluster, from: string, revision: number, to: string): Promise<void> {
  if (revision === 0) return;
  const r = await etcd(cluster, '/v3/kv/range', { ...under(from), revision });
  const success = ((r.kvs ?? []) as Kv[]).map((kv) => ({ request_put: { key: b64(to + unb64(kv.key).slice(from.length)), value: kv.value } }));
  if (success.length > 0) await etcd(cluster, '/v3/kv/txn', { success });
}

interface Pool {
  /** Lease records by attachment key: the addresses each lists. */
  records: Map<string, string[]>;
  /** Held IPv4 addresses → the attachment key their address key names. */
  holders: Map<string, string>;
  /** The network's holds ("<namespace>/<name>@<ifname>") → the addresses each keeps. */
  holds: Map<string, string[]>;
}

async function readPool(cluster: EtcdCluster, prefix: string, network: string): Promise<Pool> {
  const r = await etcd(cluster, '/v3/kv/range', under(prefix));
  const records = new Map<string, string[]>();
  const holders = new Map<string, string>();
  const holds = new Map<string, string[]>();
  for (const kv of (r.kvs ?? []) as Kv[]) {
    const k = unb64(kv.key).slice(prefix.length);
    const lease = /^\/networks\/([^/]+)\/leases\/([^/]+)\/([^/]+)$/.exec(k);
    if (lease?.[1] === network) records.set(key({ containerID: lease[2]!, ifname: decodeURIComponent(lease[3]!) }), JSON.parse(unb64(kv.value)).addresses);
    const hold = /^\/networks\/([^/]+)\/holds\/([^/]+)\/([^/]+)\/([^/]+)$/.exec(k);
    if (hold?.[1] === network)
      holds.set(`${hold.slice(2, 4).map(decodeURIComponent).join('/')}@${decodeURIComponent(hold[4]!)}`, JSON.parse(unb64(kv.value)).addresses);
    const addr = /^\/pools\/[^/]+\/addresses\/v4\/([0-9a-f]{8})$/.exec(k);
    if (addr) {
      const n = Number.parseInt(addr[1]!, 16);
      const h = JSON.parse(unb64(kv.value)) as Attachment;
      holders.set([24, 16, 8, 0].map((s) => (n >>> s) & 255).join('.'), key(h));
    }
  }
  return { records, holders, holds };
}

// ---------------------------------------------------------------------------------------------------------
// What the calls before a crash point promised

interface EntryPromise {
  att: Attachment;
  /** The entry must be there (its DEL was acknowledged and no acknowledged call has replayed it since). */
  must: boolean;
  /** What it may hold: the entry its last acknowledged DEL wrote, or that of the DEL in flight. */
  contents: Set<string>;
}

export interface JournalExpectation {
  /** released/ by file name; any other entry there is a leftover. */
  entries: Map<string, EntryPromise>;
  /** In etcd, after a replay: attachments that must keep their addresses, and attachments that must hold nothing. */
  held: Map<string, { att: Attachment; addresses: string[] }>;
  freed: Map<string, Attachment>;
  /** ipam.sticky: holds ("<pod>@<ifname>" → addresses) that released attachments of pods leave in etcd once replayed. */
  holds: Map<string, string[]>;
  /** etcd at the crash point: the revision of the last answer read from it before (0: nothing written yet). */
  revision: number;
}

export const journalRel = (rec: Recording): string => `${netRel(rec.scenario)}/${JOURNAL_DIR}`;

/** The journal entries in a tree: file name → content, temp files left out. */
export function entriesIn(tree: Tree, dir: string): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  for (const [p, b] of tree) if (Buffer.isBuffer(b) && p.startsWith(`${dir}/`) && !isTempName(p)) out.set(p.slice(dir.length + 1), b);
  return out;
}

/** The files as the process saw them when call `ci` ended (every operation applied, durable or not). */
function seenAfter(rec: Recording, ci: number): Tree {
  const end = rec.ops.reduce((last, o, i) => (o.call === ci ? i + 1 : last), 0);
  return materialize(rec, new Set(rec.ops.keys()), end);
}

/** The entry a DEL wrote for its attachment, as the call saw it when it ended (none when it was killed first). */
export function entryWritten(rec: Recording, ci: number): { name: string; content: string } | undefined {
  const att = rec.calls[ci]!.att!;
  for (const [name, b] of entriesIn(seenAfter(rec, ci), journalRel(rec))) {
    const content = b.toString('utf8');
    const e = parseEntry(content);
    if (e && key(e) === key(att)) return { name, content };
  }
  return undefined;
}

/** Whether the journal is empty as the call saw it at its end. */
export const journalEmptyAfter = (rec: Recording, ci: number): boolean => entriesIn(seenAfter(rec, ci), journalRel(rec)).size === 0;

function parseEntry(text: string): (Attachment & { at: string }) | undefined {
  try {
    const v = JSON.parse(text);
    return typeof v?.containerID === 'string' && typeof v.ifname === 'string' && typeof v.at === 'string' ? v : undefined;
  } catch {
    return undefined;
  }
}

export function journalExpectationAt(rec: Recording, point: number): JournalExpectation {
  const entries: JournalExpectation['entries'] = new Map();
  const held: JournalExpectation['held'] = new Map();
  const freed: JournalExpectation['freed'] = new Map();
  const unknown = (k: string): void => {
    held.delete(k);
    freed.delete(k);
  };
  const holds: JournalExpectation['holds'] = new Map();
  /** The pod each attachment was last added for (ipam.sticky). */
  const podOf = new Map<string, string>();
  const holdOf = (att: Attachment): string | undefined => (podOf.has(key(att)) ? `${podOf.get(key(att))}@${att.ifname}` : undefined);
  const free = (att: Attachment, released = true): void => {
    const h = holdOf(att);
    const was = held.get(key(att));
    if (rec.scenario.sticky && released && h && was) holds.set(h, was.addresses);
    held.delete(key(att));
    freed.set(key(att), att);
  };
  for (const [ci, c] of rec.calls.entries()) {
    if (c.first >= point) break;
    const acked = c.ack >= 0 && c.ack < point;
    if (c.etcdDown) {
      // An ADD or GC that cannot reach etcd writes nothing; a DEL journals its release.
      if (c.verb !== 'DEL') continue;
      const att = c.att!;
      const written = entryWritten(rec, ci);
      if (acked && written) {
        entries.set(written.name, { att, must: true, contents: new Set([written.content]) });
        free(att);
      } else {
        if (written) {
          const prev = entries.get(written.name);
          entries.set(written.name, { att, must: prev?.must ?? false, contents: new Set([...(prev?.contents ?? []), written.content]) });
        }
        const h = holdOf(att);
        if (h) holds.delete(h);
        unknown(key(att));
      }
      continue;
    }
    // A call that reaches etcd replays the journal first: once it answered, every entry is gone.
    if (acked) entries.clear();
    else for (const e of entries.values()) e.must = false;
    if (!acked) {
      if (c.att) {
        const h = c.pod ? `${c.pod}@${c.att.ifname}` : holdOf(c.att);
        if (h) holds.delete(h);
        unknown(key(c.att));
      } else for (const k of [...held.keys()]) if (!c.valid!.some((v) => key(v) === k)) unknown(k);
      continue;
    }
    if (c.verb === 'ADD') {
      held.set(key(c.att!), { att: c.att!, addresses: c.addresses });
      freed.delete(key(c.att!));
      if (c.pod) {
        podOf.set(key(c.att!), c.pod);
        holds.delete(`${c.pod}@${c.att!.ifname}`);
      }
    } else if (c.verb === 'DEL') free(c.att!);
    else for (const { att } of [...held.values()]) if (!c.valid!.some((v) => key(v) === key(att))) free(att, false);
  }
  // etcd does not crash: it stays as the last answer before the crash point showed it (a request still
  // unanswered may have been applied or not; the node's files cannot have changed after it yet).
  let revision = 0;
  for (let i = 0; i < point; i++) {
    const op = rec.ops[i]!;
    if (op.kind === 'etcd') revision = op.revision;
  }
  return { entries, held, freed, holds, revision };
}

// ---------------------------------------------------------------------------------------------------------
// Checks

/** released/ in one state against the promises: acknowledged entries there and whole, nothing else. */
export function checkJournalFiles(tree: Tree, rec: Recording, exp: JournalExpectation): string[] {
  const out: string[] = [];
  const found = entriesIn(tree, journalRel(rec));
  for (const [name, e] of exp.entries) {
    const b = found.get(name);
    if (!b) {
      if (e.must) out.push(`acknowledged release of ${key(e.att)} lost its journal entry ${name}`);
      continue;
    }
    const text = b.toString('utf8');
    if (e.contents.has(text)) continue;
    const parsed = parseEntry(text);
    if (!parsed) out.push(`journal entry ${name} does not parse (${b.length} bytes: ${JSON.stringify(text.slice(0, 60))})`);
    else if (key(parsed) !== key(e.att)) out.push(`journal entry ${name} names ${key(parsed)}, not ${key(e.att)}`);
    else out.push(`journal entry ${name} holds a release at ${parsed.at} that no acknowledged DEL left there`);
  }
  for (const [name, b] of found) {
    if (exp.entries.has(name)) continue;
    const parsed = parseEntry(b.toString('utf8'));
    out.push(
      `journal entry ${name} is there after an acknowledged replay, or was never journaled (${parsed ? `release of ${key(parsed)}` : 'does not parse'})`,
    );
  }
  return out;
}

/** A CNI reply that is not a success, described; undefined for a success. */
const failed = (r: BinRun, label: string): string | undefined =>
  r.reply.code === 0
    ? undefined
    : `${label}: ${r.reply.signal ? `killed by ${r.reply.signal} (no answer in 30 s)` : `exit ${r.reply.code}`}: ${r.reply.stdout.slice(0, 300)}`;

let checkSeq = 0;

/**
 * Runs the plugin on a crash state written at `root`, against etcd as it was at the crash point: a DEL while
 * etcd is unreachable (it must journal on top of whatever the crash left), then an ADD that reaches etcd and
 * replays the journal. Then the pool must hold exactly the promised leases and released/ must be empty.
 */
export async function checkJournalWithBinary(
  rec: Recording,
  root: string,
  exp: JournalExpectation,
  cluster: EtcdCluster,
  recordedPrefix: string,
): Promise<{ violations: string[]; runs: number }> {
  const sc = rec.scenario;
  const dataDir = join(root, sc.dataDir);
  const prefix = `${recordedPrefix}-check-${checkSeq++}`;
  await copyAt(cluster, recordedPrefix, exp.revision, prefix);
  const out: string[] = [];
  const run = async (att: Attachment, command: string, endpoints: string[]): Promise<BinRun> => {
    const conf = JSON.stringify(clusterConf(sc.network, dataDir, { endpoints, prefix, ipam: scenarioIpam(sc) }));
    return runBin({ command, containerID: att.containerID, ifname: att.ifname }, [], conf);
  };
  try {
    const victim = [...exp.held.values()][0]?.att ?? { containerID: 'after-crash-del', ifname: 'eth0' };
    const del = await run(victim, 'DEL', [UNREACHABLE]);
    const delBad = failed(del, `DEL of ${key(victim)} while etcd is unreachable`);
    if (delBad) out.push(delBad);
    else if (!/journaled/.test(del.reply.stderr))
      out.push(`DEL of ${key(victim)} while etcd is unreachable did not journal: ${del.reply.stderr.slice(0, 300)}`);
    const fresh = { containerID: 'after-crash', ifname: 'eth0' };
    const add = await run(fresh, 'ADD', cluster.endpoints);
    const addBad = failed(add, 'ADD that replays the journal');
    if (addBad) out.push(addBad);

    const dir = join(root, netRel(sc), JOURNAL_DIR);
    const left = existsSync(dir) ? readdirSync(dir).filter((n) => !isTempName(`/${n}`)) : [];
    if (left.length > 0) out.push(`after the replay, released/ still holds ${left.join(', ')}`);
    const pool = await readPool(cluster, prefix, sc.network);
    for (const { att, addresses } of exp.held.values()) {
      if (key(att) === key(victim)) continue;
      const r = pool.records.get(key(att));
      if (!r) out.push(`acknowledged lease ${key(att)} has no record after the replay`);
      for (const a of addresses) {
        if (pool.holders.get(a) !== key(att))
          out.push(`acknowledged lease ${key(att)} lost ${a} after the replay (held by ${pool.holders.get(a) ?? 'nobody'})`);
      }
    }
    for (const [pod, addresses] of exp.holds) {
      const got = pool.holds.get(pod);
      if (!got) out.push(`the hold for ${pod} that a release left is not in etcd after the replay`);
      else if (got.join() !== addresses.join()) out.push(`the hold for ${pod} keeps ${got.join(',')}, not ${addresses.join(',')}`);
    }
    for (const att of [...exp.freed.values(), victim]) {
      if (pool.records.has(key(att))) out.push(`released ${key(att)} still has a record after the replay`);
      for (const [a, h] of pool.holders) if (h === key(att)) out.push(`released ${key(att)} still holds ${a} after the replay`);
    }
  } finally {
    await etcd(cluster, '/v3/kv/deleterange', under(prefix));
  }
  return { violations: out, runs: 2 };
}
