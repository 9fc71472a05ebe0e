// Crash-state explorer: records the file-system operations the built executable makes (strace), then builds
// every state a power cut may leave under the persistence model of docs/crash-model.md, and checks each one.
// The recording and the states come from the real executable's calls; the sampled states are then handed to
// the plugin and the CLI in-process, or to the executable LEASEHOLD_BIN names (scripts/crash-mutations.mjs does).
import { spawn, spawnSync } from 'node:child_process';
import { lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { BIN, type CniCall, type CniReply, cliIn, cniEnv, cniIn, IN_PROCESS, parseReply, type NetState, pool, readNetwork, rng } from '../helpers/leasehold';

// ---------------------------------------------------------------------------------------------------------
// Recording

export type Op =
  /** A directory entry set (create, link, mkdir: ino) or removed (unlink: null). */
  | { kind: 'entry'; dir: number; name: string; ino: number | null; call: number; what: string }
  /** rename(2): one directory operation, atomic on the file systems of the model. */
  | { kind: 'rename'; fromDir: number; fromName: string; toDir: number; toName: string; ino: number; call: number; what: string }
  | { kind: 'write'; ino: number; off: number; data: Buffer; call: number; what: string }
  | { kind: 'truncate'; ino: number; len: number; call: number; what: string }
  | { kind: 'fsync'; ino: number; call: number; what: string }
  /** The call exited 0 after printing its reply: from here on the runtime relies on it. */
  | { kind: 'ack'; call: number; what: string }
  /** An answer from etcd (cluster mode) was read: from here on etcd is at least at this revision. */
  | { kind: 'etcd'; revision: number; call: number; what: string };

export interface Inode {
  dir: boolean;
  mode: number;
  /** O_TMPFILE: never has a name. */
  anon: boolean;
  /** A symlink's target: made with the inode by symlink(2), so it is there whenever a name is. */
  symlink?: string;
  /** The path it was first seen at, relative to the data dir (for reports and to spot the lock file). */
  firstPath: string;
}

export interface Attachment {
  containerID: string;
  ifname: string;
}

export interface Call {
  verb: 'ADD' | 'DEL' | 'GC';
  att?: Attachment;
  valid?: Attachment[];
  /** Cluster mode: etcd cannot be reached during this call (the scenario's conf points elsewhere). */
  etcdDown?: boolean;
  /** SIGKILLs the call on entry to the nth call of this syscall (strace's fault injection), as a runtime's timeout may. */
  killAt?: { syscall: string; nth: number };
  /** The pod ("<namespace>/<name>") kubelet names in CNI_ARGS, for ipam.sticky. */
  pod?: string;
}

export interface RecordedCall extends Call {
  reply: CniReply;
  addresses: string[];
  /** Index in ops of this call's first operation, and of its ack (-1 if it did not succeed). */
  first: number;
  ack: number;
}

/** A fixed initial tree (durable before the first call) plus the calls made on it. */
export interface Scenario {
  name: string;
  network: string;
  /** The data dir, relative to the temp root ('' = the root itself; deeper ones are created by the first call). */
  dataDir: string;
  conf: (dataDir: string, extra?: Record<string, unknown>, call?: Call) => Record<string, unknown>;
  /** Files (path relative to the temp root → content) present and synced before the first call. */
  initial: Record<string, string>;
  /** Attachments that hold addresses before the first call (host-local reservations). */
  initialHolders: Array<Attachment & { addresses: string[] }>;
  calls: Call[];
  /** The conf has ipam.sticky (a DEL of a named pod leaves a hold) and ipam.reuseCooldownSeconds (others cool). */
  sticky?: boolean;
  cooldown?: boolean;
}

export interface Recording {
  scenario: Scenario;
  inodes: Map<number, Inode>;
  /** Directory ino → entries, and file ino → data, as they were before the first call. */
  initialDirs: Map<number, Map<string, number>>;
  initialData: Map<number, Buffer>;
  ops: Op[];
  calls: RecordedCall[];
  lockIno: number | undefined;
}

const ROOT_INO = 0;
export const key = (a: Attachment): string => `${a.containerID}@${a.ifname}`;
/** kubelet's CNI_ARGS for a pod "<namespace>/<name>". */
export const podArgs = (pod: string): string => `IgnoreUnknown=1;K8S_POD_NAMESPACE=${pod.split('/')[0]};K8S_POD_NAME=${pod.split('/')[1]}`;
/** The network directory, relative to the temp root. */
export const netRel = (sc: Scenario): string => join(sc.dataDir, sc.network);

const STRACE_SET =
  'open,openat,creat,read,recvfrom,write,pwrite64,writev,pwritev,fsync,fdatasync,sync,syncfs,sync_file_range,rename,renameat,renameat2,link,linkat,symlink,symlinkat,unlink,unlinkat,mkdir,mkdirat,rmdir,ftruncate,truncate,close';

/** strace is installed and may trace here (ptrace can be forbidden in a container). */
export function straceAvailable(): boolean {
  return spawnSync('strace', ['-f', '-qq', '-o', '/dev/null', '--', 'true']).status === 0;
}

const unhex = (s: string): Buffer => Buffer.from(s.replace(/\\x([0-9a-f]{2})/g, '$1'), 'hex');

interface Parsed {
  pid: number;
  name: string;
  args: string[];
  ret: number;
  retPath?: string;
}

/** Parses strace -f -y -xx output: every string is hex, so commas and quotes only delimit. */
function parseTrace(text: string): { calls: Parsed[]; exits: Map<number, number> } {
  const pending = new Map<number, string>();
  const out: Parsed[] = [];
  const exits = new Map<number, number>();
  for (let line of text.split('\n')) {
    const pm = /^(\d+)\s+(.*)$/.exec(line);
    if (!pm) continue;
    const pid = Number(pm[1]);
    line = pm[2]!;
    const ex = /^\+\+\+ exited with (\d+) \+\+\+$/.exec(line);
    if (ex) {
      exits.set(pid, Number(ex[1]));
      continue;
    }
    if (line.endsWith('<unfinished ...>')) {
      pending.set(pid, line.slice(0, -'<unfinished ...>'.length));
      continue;
    }
    const rs = /^<\.\.\. \w+ resumed>(.*)$/.exec(line);
    if (rs) {
      line = (pending.get(pid) ?? '') + rs[1];
      pending.delete(pid);
    }
    const m = /^(\w+)\((.*)\)\s+=\s+(-?\d+)(?:<([^>]*)>)?/.exec(line);
    if (!m) continue;
    const args = m[2]!.split(/,\s*/);
    out.push({ pid, name: m[1]!, args, ret: Number(m[3]), retPath: m[4] === undefined ? undefined : unhex(m[4]).toString('utf8') });
  }
  return { calls: out, exits };
}

const strArg = (a: string | undefined): string | undefined => {
  const m = /^"((?:\\x[0-9a-f]{2})*)"/.exec(a ?? '');
  return m ? unhex(m[1]!).toString('utf8') : undefined;
};
const bufArg = (a: string | undefined): { data: Buffer; truncated: boolean } => {
  const m = /^"((?:\\x[0-9a-f]{2})*)"(\.\.\.)?/.exec(a ?? '');
  if (!m) throw new Error(`not a string argument: ${a}`);
  return { data: unhex(m[1]!), truncated: m[2] !== undefined };
};
const fdArg = (a: string | undefined): number => Number(/^(-?\d+)/.exec(a ?? '')?.[1] ?? NaN);
const flagsHave = (a: string | undefined, flag: string): boolean => (a ?? '').split('|').includes(flag);

/** Walks a real directory into inodes (used for the initial, synced tree). */
function scanInitial(root: string, inodes: Map<number, Inode>, dirs: Map<number, Map<string, number>>, data: Map<number, Buffer>): Map<string, number> {
  const paths = new Map<string, number>([[root, ROOT_INO]]);
  inodes.set(ROOT_INO, { dir: true, mode: 0o700, anon: false, firstPath: '' });
  dirs.set(ROOT_INO, new Map());
  const walk = (abs: string, ino: number): void => {
    for (const name of readdirSync(abs).sort()) {
      const p = join(abs, name);
      const st = lstatSync(p);
      const child = inodes.size;
      const symlink = st.isSymbolicLink() ? readlinkSync(p) : undefined;
      inodes.set(child, {
        dir: st.isDirectory(),
        mode: st.mode & 0o7777,
        anon: false,
        firstPath: relative(root, p),
        ...(symlink !== undefined && { symlink }),
      });
      dirs.get(ino)!.set(name, child);
      paths.set(p, child);
      if (st.isDirectory()) {
        dirs.set(child, new Map());
        walk(p, child);
      } else if (symlink === undefined) data.set(child, readFileSync(p));
    }
  };
  walk(root, ROOT_INO);
  return paths;
}

/**
 * Runs the scenario's calls one after the other under strace on a fresh data dir and turns the traces into
 * one list of operations on inodes. Only paths under the data dir count; the executable's own files, /proc
 * and the pipes are ignored.
 */
export function record(sc: Scenario): Recording {
  const root = mkdtempSync(join(tmpdir(), 'lh-crash-rec-'));
  try {
    for (const [rel, content] of Object.entries(sc.initial)) {
      mkdirSync(dirname(join(root, rel)), { recursive: true, mode: 0o700 });
      writeFileSync(join(root, rel), content, { mode: 0o600 });
    }
    spawnSync('sync');
    const inodes = new Map<number, Inode>();
    const initialDirs = new Map<number, Map<string, number>>();
    const initialData = new Map<number, Buffer>();
    const live = scanInitial(root, inodes, initialDirs, initialData);
    const ops: Op[] = [];
    const calls: RecordedCall[] = [];
    const inRoot = (p: string): boolean => p === root || p.startsWith(`${root}/`);
    const parentIno = (p: string): number => {
      const d = live.get(dirname(p));
      if (d === undefined) throw new Error(`parent of ${p} unknown to the recording`);
      return d;
    };
    const newIno = (p: string, dir: boolean, mode: number, anon = false): number => {
      const ino = inodes.size;
      inodes.set(ino, { dir, mode, anon, firstPath: relative(root, p) });
      return ino;
    };
    const pathOf = (a: string | undefined): string => {
      const s = strArg(a);
      if (s === undefined || !s.startsWith('/')) throw new Error(`relative or missing path in trace: ${a}`);
      return s;
    };
    sc.calls.forEach((c, ci) => {
      const traceFile = join(root, '..', `${root.split('/').pop()}.trace-${ci}`);
      const conf = sc.conf(join(root, sc.dataDir), c.valid ? { 'cni.dev/valid-attachments': c.valid } : {}, c);
      const call: CniCall = { command: c.verb, containerID: c.att?.containerID, ifname: c.att?.ifname, stdin: conf, ...(c.pod && { args: podArgs(c.pod) }) };
      const kill = c.killAt ? ['-e', `inject=${c.killAt.syscall}:signal=SIGKILL:when=${c.killAt.nth}`] : [];
      const r = spawnSync('strace', ['-f', '-y', '-xx', '-s', '65536', '-q', '-o', traceFile, '-e', `trace=${STRACE_SET}`, ...kill, '--', BIN], {
        env: cniEnv(call),
        input: JSON.stringify(conf),
        encoding: 'utf8',
        timeout: 60_000,
      });
      const reply = parseReply(r.status, r.signal, r.stdout, r.stderr);
      const text = readFileSync(traceFile, 'utf8');
      rmSync(traceFile, { force: true });
      const { calls: sys, exits } = parseTrace(text);
      const fds = new Map<number, { ino: number; off: number } | null>();
      const what = (s: Parsed): string => `${c.verb}${c.att ? ` ${key(c.att)}` : ''}: ${s.name}`;
      for (const s of sys) {
        if (s.ret < 0) continue;
        const w = what(s);
        switch (s.name) {
          case 'open':
          case 'openat':
          case 'creat': {
            const pathA = s.name === 'openat' ? s.args[1] : s.args[0];
            const flags = s.name === 'openat' ? s.args[2] : s.name === 'creat' ? 'O_CREAT|O_WRONLY|O_TRUNC' : s.args[1];
            const p = pathOf(pathA);
            if (!inRoot(p)) {
              fds.set(s.ret, null);
              break;
            }
            const modeArg = Number.parseInt(s.args[s.name === 'openat' ? 3 : 2] ?? '', 8);
            let ino: number;
            if (flagsHave(flags, 'O_TMPFILE')) ino = newIno(`${p}/(O_TMPFILE)`, false, modeArg, true);
            else if (live.has(p)) {
              ino = live.get(p)!;
              if (flagsHave(flags, 'O_TRUNC')) ops.push({ kind: 'truncate', ino, len: 0, call: ci, what: `${w} O_TRUNC ${relative(root, p)}` });
            } else {
              if (!flagsHave(flags, 'O_CREAT')) throw new Error(`open of ${p} succeeded but the recording does not know it`);
              ino = newIno(p, false, Number.isNaN(modeArg) ? 0o600 : modeArg);
              ops.push({ kind: 'entry', dir: parentIno(p), name: p.split('/').pop()!, ino, call: ci, what: `${w} O_CREAT ${relative(root, p)}` });
              live.set(p, ino);
            }
            fds.set(s.ret, { ino, off: flagsHave(flags, 'O_APPEND') ? -1 : 0 });
            break;
          }
          case 'write':
          case 'pwrite64': {
            const f = fds.get(fdArg(s.args[0]));
            if (!f) break;
            const { data, truncated } = bufArg(s.args[1]);
            if (truncated || data.length < s.ret) throw new Error(`strace cut a write of ${s.ret} bytes short`);
            const off = s.name === 'pwrite64' ? Number(s.args[3]) : f.off;
            if (off < 0) throw new Error('O_APPEND writes are not modelled');
            ops.push({
              kind: 'write',
              ino: f.ino,
              off,
              data: data.subarray(0, s.ret),
              call: ci,
              what: `${w} ${s.ret} B at ${off} to ${inodes.get(f.ino)!.firstPath}`,
            });
            if (s.name === 'write') f.off += s.ret;
            break;
          }
          case 'writev':
          case 'pwritev':
            if (fds.get(fdArg(s.args[0]))) throw new Error(`${s.name} to a state file is not modelled`);
            break;
          case 'ftruncate': {
            const f = fds.get(fdArg(s.args[0]));
            if (f) ops.push({ kind: 'truncate', ino: f.ino, len: Number(s.args[1]), call: ci, what: `${w} ${inodes.get(f.ino)!.firstPath}` });
            break;
          }
          case 'fsync':
          case 'fdatasync': {
            const f = fds.get(fdArg(s.args[0]));
            if (f) ops.push({ kind: 'fsync', ino: f.ino, call: ci, what: `${w} ${inodes.get(f.ino)!.firstPath || '.'}` });
            break;
          }
          case 'close':
            fds.delete(fdArg(s.args[0]));
            break;
          case 'read':
          case 'recvfrom': {
            // etcd's JSON gateway answers with the store's revision in its header: where the call stood in etcd.
            // (node:net reads a socket with read(2); the executable's own sockets with recv(2), traced as recvfrom.)
            if (!/^\d+<socket:/.test(s.args[0]!.replace(/<([^>]*)>/, (_, h: string) => `<${unhex(h).toString('latin1')}>`))) break;
            const rev = /"revision":"(\d+)"/.exec(bufArg(s.args[1]).data.toString('latin1'));
            if (rev) ops.push({ kind: 'etcd', revision: Number(rev[1]), call: ci, what: `${w}: etcd answered at revision ${rev[1]}` });
            break;
          }
          case 'mkdir':
          case 'mkdirat': {
            const p = pathOf(s.name === 'mkdirat' ? s.args[1] : s.args[0]);
            if (!inRoot(p)) break;
            const ino = newIno(p, true, 0o700);
            ops.push({ kind: 'entry', dir: parentIno(p), name: p.split('/').pop()!, ino, call: ci, what: `${w} ${relative(root, p)}` });
            live.set(p, ino);
            break;
          }
          case 'link':
          case 'linkat': {
            const [from, to] = s.name === 'linkat' ? [pathOf(s.args[1]), pathOf(s.args[3])] : [pathOf(s.args[0]), pathOf(s.args[1])];
            if (!inRoot(to)) break;
            const ino = live.get(from)!;
            ops.push({
              kind: 'entry',
              dir: parentIno(to),
              name: to.split('/').pop()!,
              ino,
              call: ci,
              what: `${w} ${relative(root, from)} → ${relative(root, to)}`,
            });
            live.set(to, ino);
            break;
          }
          case 'unlink':
          case 'unlinkat':
          case 'rmdir': {
            const p = pathOf(s.name === 'unlinkat' ? s.args[1] : s.args[0]);
            if (!inRoot(p)) break;
            ops.push({ kind: 'entry', dir: parentIno(p), name: p.split('/').pop()!, ino: null, call: ci, what: `${w} ${relative(root, p)}` });
            live.delete(p);
            break;
          }
          case 'rename':
          case 'renameat':
          case 'renameat2': {
            const [from, to] = s.name === 'rename' ? [pathOf(s.args[0]), pathOf(s.args[1])] : [pathOf(s.args[1]), pathOf(s.args[3])];
            if (!inRoot(to)) break;
            const ino = live.get(from)!;
            if (inodes.get(ino)!.dir) throw new Error('renaming a directory is not modelled');
            ops.push({
              kind: 'rename',
              fromDir: parentIno(from),
              fromName: from.split('/').pop()!,
              toDir: parentIno(to),
              toName: to.split('/').pop()!,
              ino,
              call: ci,
              what: `${w} ${relative(root, from)} → ${relative(root, to)}`,
            });
            live.delete(from);
            live.set(to, ino);
            break;
          }
          case 'symlink':
          case 'symlinkat': {
            const target = strArg(s.args[0]);
            const p = pathOf(s.name === 'symlinkat' ? s.args[2] : s.args[1]);
            if (!inRoot(p)) break;
            if (target === undefined) throw new Error(`symlink without a target in trace: ${s.args[0]}`);
            const ino = newIno(p, false, 0o777);
            inodes.get(ino)!.symlink = target;
            ops.push({ kind: 'entry', dir: parentIno(p), name: p.split('/').pop()!, ino, call: ci, what: `${w} ${relative(root, p)} → ${target}` });
            live.set(p, ino);
            break;
          }
          case 'truncate':
          case 'sync':
          case 'syncfs':
          case 'sync_file_range':
            throw new Error(`${s.name} is not modelled: extend the recording before trusting it`);
        }
      }
      // The main process is the first pid in the trace; its exit status 0 (with its reply printed) is the ack.
      const mainPid = sys[0]?.pid;
      const ok = reply.code === 0 && mainPid !== undefined && exits.get(mainPid) === 0;
      let ack = -1;
      if (ok) {
        ack = ops.length;
        ops.push({ kind: 'ack', call: ci, what: `${c.verb}${c.att ? ` ${key(c.att)}` : ''} acknowledged` });
      }
      const first = ops.findIndex((o) => o.call === ci);
      const addresses = ((reply.json?.ips ?? []) as Array<{ address: string }>).map((i) => i.address.split('/')[0]!);
      calls.push({ ...c, reply, addresses, first: first < 0 ? ops.length : first, ack });
    });
    const lockIno = live.get(join(root, netRel(sc), 'lock'));
    return { scenario: sc, inodes, initialDirs, initialData, ops, calls, lockIno };
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------------------------------------------------
// Persistence model (docs/crash-model.md) and crash states

/** The directories whose fsync makes an op's names durable, or the inode whose fsync makes its data durable. */
function barrierInos(op: Op): number[] {
  switch (op.kind) {
    case 'entry':
      return [op.dir];
    case 'rename':
      return op.fromDir === op.toDir ? [op.toDir] : [op.fromDir, op.toDir];
    case 'write':
    case 'truncate':
      return [op.ino];
    default:
      return [];
  }
}

export interface CrashPoint {
  /** The crash happens before ops[point]. */
  point: number;
  /** Ops before the point that a barrier made durable: always in the state. */
  durable: number[];
  /** Ops before the point without a barrier: any subset may be in the state. */
  optional: number[];
  /** Writes to the lock file or to an O_TMPFILE (never read back as state): chosen at random, not enumerated. */
  noise: number[];
}

export function crashPoint(rec: Recording, point: number): CrashPoint {
  const lastSync = new Map<number, number>();
  for (let i = 0; i < point; i++) {
    const op = rec.ops[i]!;
    if (op.kind === 'fsync') lastSync.set(op.ino, i);
  }
  const durable: number[] = [];
  const optional: number[] = [];
  const noise: number[] = [];
  for (let i = 0; i < point; i++) {
    const op = rec.ops[i]!;
    if (op.kind === 'fsync' || op.kind === 'ack' || op.kind === 'etcd') continue;
    const synced = barrierInos(op).every((ino) => (lastSync.get(ino) ?? -1) > i);
    if (synced) durable.push(i);
    else if ((op.kind === 'write' || op.kind === 'truncate') && (op.ino === rec.lockIno || rec.inodes.get(op.ino)!.anon)) noise.push(i);
    else optional.push(i);
  }
  return { point, durable, optional, noise };
}

/** A materialized state: relative path → file content (undefined for a directory, the target for a symlink). */
export type Tree = Map<string, Buffer | undefined | { symlink: string }>;

/** Applies the initial tree plus the chosen ops (in program order) and returns what is reachable by name. */
export function materialize(rec: Recording, chosen: ReadonlySet<number>, upTo: number): Tree {
  const dirs = new Map<number, Map<string, number>>();
  for (const [ino, m] of rec.initialDirs) dirs.set(ino, new Map(m));
  const data = new Map<number, Buffer>();
  for (const [ino, b] of rec.initialData) data.set(ino, b);
  const dataOf = (ino: number): Buffer => data.get(ino) ?? Buffer.alloc(0);
  for (let i = 0; i < upTo; i++) {
    if (!chosen.has(i)) continue;
    const op = rec.ops[i]!;
    switch (op.kind) {
      case 'entry': {
        const d = dirs.get(op.dir) ?? dirs.set(op.dir, new Map()).get(op.dir)!;
        if (op.ino === null) d.delete(op.name);
        else {
          d.set(op.name, op.ino);
          if (rec.inodes.get(op.ino)!.dir && !dirs.has(op.ino)) dirs.set(op.ino, new Map());
        }
        break;
      }
      case 'rename': {
        const from = dirs.get(op.fromDir) ?? dirs.set(op.fromDir, new Map()).get(op.fromDir)!;
        const to = dirs.get(op.toDir) ?? dirs.set(op.toDir, new Map()).get(op.toDir)!;
        if (from.get(op.fromName) === op.ino) from.delete(op.fromName);
        to.set(op.toName, op.ino);
        break;
      }
      case 'write': {
        const old = dataOf(op.ino);
        const out = Buffer.alloc(Math.max(old.length, op.off + op.data.length));
        old.copy(out);
        op.data.copy(out, op.off);
        data.set(op.ino, out);
        break;
      }
      case 'truncate': {
        const old = dataOf(op.ino);
        const out = Buffer.alloc(op.len);
        old.copy(out, 0, 0, Math.min(op.len, old.length));
        data.set(op.ino, out);
        break;
      }
    }
  }
  const tree: Tree = new Map();
  const walk = (ino: number, rel: string): void => {
    for (const [name, child] of [...(dirs.get(ino) ?? new Map<string, number>())].sort()) {
      const r = rel ? `${rel}/${name}` : name;
      const inode = rec.inodes.get(child)!;
      if (inode.dir) {
        tree.set(r, undefined);
        walk(child, r);
      } else tree.set(r, inode.symlink !== undefined ? { symlink: inode.symlink } : dataOf(child));
    }
  };
  walk(ROOT_INO, '');
  return tree;
}

/** Identity of a state, with the lock file's content (a pid hint, never read as state) left out. */
export function treeKey(tree: Tree, sc: Scenario): string {
  const lock = `${netRel(sc)}/lock`;
  const show = (p: string, b: Buffer | undefined | { symlink: string }): string =>
    b === undefined ? '/' : !Buffer.isBuffer(b) ? `-> ${b.symlink}` : p === lock ? '(lock)' : b.toString('base64');
  return [...tree].map(([p, b]) => `${p}=${show(p, b)}`).join('\n');
}

export function writeTree(tree: Tree, root: string): void {
  rmSync(root, { recursive: true, force: true });
  mkdirSync(root, { recursive: true, mode: 0o700 });
  for (const [p, b] of tree) {
    if (b === undefined) mkdirSync(join(root, p), { mode: 0o700 });
    else if (!Buffer.isBuffer(b)) symlinkSync(b.symlink, join(root, p));
    else writeFileSync(join(root, p), b, { mode: 0o600 });
  }
}

export interface CrashState {
  point: number;
  tree: Tree;
  key: string;
  /** How the optional ops were chosen. */
  how: 'exhaustive' | 'sampled';
  /** The optional ops left out of this state (their indices in ops). */
  lost: number[];
}

/**
 * Every crash state of a recording: at each crash point, every subset of the optional ops when there are at
 * most `exhaustiveMax` of them, else `samples` random subsets plus "all" and "none". Deduplicated by content.
 */
export function* crashStates(rec: Recording, opts: { seed: number; exhaustiveMax: number; samples: number }): Generator<CrashState> {
  const random = rng(opts.seed);
  const seen = new Set<string>();
  for (let point = 0; point <= rec.ops.length; point++) {
    const cp = crashPoint(rec, point);
    const n = cp.optional.length;
    const masks: Array<(i: number) => boolean> = [];
    const how = n <= opts.exhaustiveMax ? 'exhaustive' : 'sampled';
    if (how === 'exhaustive') for (let m = 0; m < 1 << n; m++) masks.push((i) => ((m >> i) & 1) === 1);
    else {
      masks.push(
        () => true,
        () => false,
      );
      for (let k = 0; k < opts.samples; k++) {
        const bits = cp.optional.map(() => random() < 0.5);
        masks.push((i) => bits[i]!);
      }
    }
    for (const mask of masks) {
      const chosen = new Set(cp.durable);
      const lost: number[] = [];
      for (const [i, op] of cp.optional.entries()) {
        if (mask(i)) chosen.add(op);
        else lost.push(op);
      }
      for (const op of cp.noise) if (random() < 0.5) chosen.add(op);
      const tree = materialize(rec, chosen, point);
      const contentKey = treeKey(tree, rec.scenario);
      const k = `${point}\n${contentKey}`;
      if (seen.has(k)) continue;
      seen.add(k);
      yield { point, tree, key: contentKey, how, lost };
    }
  }
}

// ---------------------------------------------------------------------------------------------------------
// Exploring a recording: every state checked from its files, a sample of them by leasehold's verbs

/** What a scenario's states must satisfy. */
export interface Checker {
  /** What one state breaks, judged from its files alone (run on every state). */
  files(s: CrashState): string[];
  /** States with the same meaning need leasehold's verbs once (promises plus files, temp names left out). */
  meaning(s: CrashState): string;
  /** What leasehold (in-process, or LEASEHOLD_BIN), run on the state written at `root`, finds broken. */
  binary(s: CrashState, root: string): Promise<{ violations: string[]; runs: number }>;
}

export interface ExploreOptions {
  seed: number;
  /** The scenario's index: its subsets and its sample are drawn from seed and index. */
  index: number;
  exhaustiveMax: number;
  samples: number;
  binaryStates: number;
  scratch: string;
}

export interface Finding {
  scenario: string;
  point: number;
  crashBefore: string;
  lost: string[];
  violations: string[];
}

export interface Exploration {
  /** One line with the figures, for the log. */
  line: string;
  findings: Finding[];
  /** The figures as JSON (LEASEHOLD_CRASH_REPORT, for scripts/crash-mutations.mjs). */
  summary: Record<string, unknown>;
}

const describeState = (rec: Recording, s: CrashState): Omit<Finding, 'violations'> => ({
  scenario: rec.scenario.name,
  point: s.point,
  crashBefore: rec.ops[s.point]?.what ?? '(end of the sequence)',
  lost: s.lost.map((i) => `#${i} ${rec.ops[i]!.what}`),
});

/** File names of a state that are temp files (a crash may leave them; nothing reads them). */
export const isTempName = (path: string): boolean => /\/\.[^/]*\.tmp-/.test(path);

/** The state's files without temp names, for Checker.meaning. */
export const filesMeaning = (s: CrashState): string =>
  s.key
    .split('\n')
    .filter((l) => !isTempName(l.split('=')[0]!))
    .join('\n');

const envNumber = (name: string, dflt: number): number => {
  const v = Number(process.env[name]);
  return process.env[name] !== undefined && Number.isFinite(v) && v >= 0 ? v : dflt;
};

/** LEASEHOLD_CRASH_SEED replays a run, LEASEHOLD_CRASH_SCALE multiplies the sampling, LEASEHOLD_CRASH_BINARY sets the sample. */
export function crashSettings(binaryStatesPerScale: number): { seed: number; scale: number; samples: number; binaryStates: number; exhaustiveMax: number } {
  const scale = envNumber('LEASEHOLD_CRASH_SCALE', 1);
  return {
    seed: envNumber('LEASEHOLD_CRASH_SEED', (Date.now() % 1_000_000) + 1),
    scale,
    samples: Math.round(64 * scale),
    binaryStates: envNumber('LEASEHOLD_CRASH_BINARY', Math.round(binaryStatesPerScale * scale)),
    exhaustiveMax: 8, // up to 256 subsets of un-synced ops per crash point are all tried
  };
}

/** Keeps each scenario's figures and writes them to LEASEHOLD_CRASH_REPORT (for scripts/crash-mutations.mjs) at the end. */
export class CrashReport {
  private readonly summary: Record<string, unknown>[] = [];

  add(e: Exploration): void {
    console.log(e.line);
    this.summary.push(e.summary);
  }

  write(): void {
    if (process.env.LEASEHOLD_CRASH_REPORT) writeFileSync(process.env.LEASEHOLD_CRASH_REPORT, `${JSON.stringify(this.summary, null, 1)}\n`);
  }
}

/** The assertion message of a red exploration: the figures, how to replay it, and the first broken states. */
export const failureMessage = (e: Exploration, seed: number): string =>
  `${e.line}\nreplay with LEASEHOLD_CRASH_SEED=${seed}\n${e.findings
    .slice(0, 8)
    .map((f) => JSON.stringify(f, null, 1))
    .join('\n')}`;

/** Checks every crash state of a recording from its files, then a seeded sample of its meanings with leasehold's verbs. */
export async function explore(rec: Recording, checker: Checker, opts: ExploreOptions): Promise<Exploration> {
  const started = performance.now();
  const findings: Finding[] = [];
  const byMeaning = new Map<string, CrashState>();
  const distinct = new Set<string>();
  let states = 0;
  let exhaustive = 0;
  for (const s of crashStates(rec, { seed: opts.seed + opts.index, exhaustiveMax: opts.exhaustiveMax, samples: opts.samples })) {
    states++;
    if (s.how === 'exhaustive') exhaustive++;
    distinct.add(s.key);
    const violations = checker.files(s);
    if (violations.length > 0) findings.push({ ...describeState(rec, s), violations });
    const m = checker.meaning(s);
    if (!byMeaning.has(m)) byMeaning.set(m, s);
  }
  const fileMs = performance.now() - started;

  const random = rng(opts.seed * 31 + opts.index);
  const classes = [...byMeaning.values()]
    .map((s) => ({ s, r: random() }))
    .sort((a, b) => a.r - b.r)
    .map((x) => x.s);
  const sample = classes.slice(0, opts.binaryStates);
  let binaryRuns = 0;
  // Two executables at once keep both cores busy; in-process calls share one process's streams: one at a time.
  await pool(sample, IN_PROCESS ? 1 : 2, async (s, i) => {
    const root = join(opts.scratch, `b${opts.index}-${i}`);
    writeTree(s.tree, root);
    try {
      const { violations, runs } = await checker.binary(s, root);
      binaryRuns += runs;
      if (violations.length > 0) findings.push({ ...describeState(rec, s), violations: violations.map((v) => `[binary] ${v}`) });
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
  const binaryMs = performance.now() - started - fileMs;

  const sc = rec.scenario;
  const ops = rec.ops.filter((o) => o.kind !== 'ack' && o.kind !== 'etcd').length;
  const line =
    `crash-states [${sc.name}] seed ${opts.seed}: ${rec.calls.length} calls, ${ops} file-system ops, ${rec.ops.length + 1} crash points; ` +
    `${states} crash states checked from their files (${exhaustive} by exhaustive subsets, ${states - exhaustive} sampled; ${distinct.size} distinct contents) ` +
    `in ${(fileMs / 1000).toFixed(1)} s; leasehold ran ${binaryRuns} times (${IN_PROCESS ? 'in-process' : BIN}) on ${sample.length} of ${classes.length} states that differ in meaning ` +
    `in ${(binaryMs / 1000).toFixed(1)} s; ${findings.length} state(s) broke an invariant`;
  const summary = {
    scenario: sc.name,
    seed: opts.seed,
    states,
    exhaustive,
    distinct: distinct.size,
    classes: classes.length,
    binaryStates: sample.length,
    binaryRuns,
    broken: findings.length,
    findings: findings.slice(0, 50),
  };
  return { line, findings, summary };
}

// ---------------------------------------------------------------------------------------------------------
// What must hold in a state

export interface Expectation {
  /** Attachments that must still hold these addresses; `record` when their lease record must exist too. */
  present: Map<string, { att: Attachment; addresses: string[]; record: boolean }>;
  /** Attachments whose DEL or GC was acknowledged: they must hold nothing. */
  absent: Map<string, Attachment>;
  /** Holds an acknowledged DEL left ("<pod>@<ifname>" → addresses), until an ADD of the pod takes them over. */
  holds: Map<string, string[]>;
  /** Holds an acknowledged ADD of their pod ended: gone until the pod's next DEL. */
  endedHolds: Set<string>;
  /** Addresses an acknowledged DEL left cooling, until an ADD gets them. */
  cooling: Set<string>;
}

/** What the acknowledged calls before the crash point promised. */
export function expectationAt(rec: Recording, point: number): Expectation {
  const present: Expectation['present'] = new Map();
  const absent: Expectation['absent'] = new Map();
  const holds: Expectation['holds'] = new Map();
  const endedHolds: Expectation['endedHolds'] = new Set();
  const cooling: Expectation['cooling'] = new Set();
  const sc = rec.scenario;
  /** The pod each live attachment was added for. */
  const podOf = new Map<string, string>();
  const holdKey = (c: Call): string => `${c.pod}@${c.att!.ifname}`;
  for (const h of sc.initialHolders) present.set(key(h), { att: h, addresses: h.addresses, record: false });
  for (const c of rec.calls) {
    const acked = c.ack >= 0 && c.ack < point;
    if (!acked && c.first < point) {
      // The call in flight at the crash may have done any part of its work: what it touches is either way.
      if (c.verb === 'ADD') {
        absent.delete(key(c.att!));
        if (c.pod) {
          holds.delete(holdKey(c));
          endedHolds.delete(holdKey(c));
        }
        for (const a of c.addresses) cooling.delete(a);
      } else if (c.verb === 'DEL') {
        const p = podOf.get(key(c.att!));
        if (p) endedHolds.delete(`${p}@${c.att!.ifname}`);
        present.delete(key(c.att!));
      } else for (const k of present.keys()) if (!c.valid!.some((v) => key(v) === k)) present.delete(k);
    }
    if (!acked) continue;
    // Any acknowledged call has taken over host-local's reservations (first contact), so their records exist.
    for (const p of present.values()) p.record = true;
    if (c.verb === 'ADD') {
      present.set(key(c.att!), { att: c.att!, addresses: c.addresses, record: true });
      absent.delete(key(c.att!));
      for (const a of c.addresses) cooling.delete(a);
      if (c.pod) {
        podOf.set(key(c.att!), c.pod);
        if (holds.delete(holdKey(c))) endedHolds.add(holdKey(c));
      } else podOf.delete(key(c.att!));
    } else if (c.verb === 'DEL') {
      const was = present.get(key(c.att!));
      const p = podOf.get(key(c.att!));
      if (was && p && sc.sticky) {
        holds.set(`${p}@${c.att!.ifname}`, was.addresses);
        endedHolds.delete(`${p}@${c.att!.ifname}`);
      } else if (was && sc.cooldown) for (const a of was.addresses) cooling.add(a);
      podOf.delete(key(c.att!));
      present.delete(key(c.att!));
      absent.set(key(c.att!), c.att!);
    } else {
      const keep = new Set(c.valid!.map(key));
      for (const [k, p] of present) {
        if (keep.has(k)) continue;
        present.delete(k);
        absent.set(k, p.att);
      }
    }
  }
  return { present, absent, holds, endedHolds, cooling };
}

/** The network as an auditor reads it (util.ts readNetwork) from the state written to `root`. */
export const loadNetwork = (root: string, sc: Scenario): NetState => readNetwork(join(root, netRel(sc)));

/** The file-level invariants of one state against what was promised before its crash point. */
export function checkFiles(net: NetState, exp: Expectation): string[] {
  const out = net.problems.map((p) => `unreadable or doubly held state: ${p}`);
  for (const { att, addresses, record } of exp.present.values()) {
    for (const a of addresses) {
      const h = net.claims.get(a);
      if (!h || key(h) !== key(att)) out.push(`acknowledged lease ${key(att)} lost its claim on ${a} (claim: ${h ? key(h) : 'none'})`);
    }
    const r = net.records.get(key(att));
    // leasehold.json is written after adoption: once it is there, host-local's reservations must have records.
    const mustHaveRecord = record || net.state !== undefined;
    if (mustHaveRecord && !r)
      out.push(
        `${record ? 'acknowledged lease' : 'host-local reservation'} ${key(att)} has no record${record ? '' : ', yet leasehold.json says adoption is done'}`,
      );
    if (mustHaveRecord && r && !addresses.every((a) => r.addresses.includes(a)))
      out.push(`record of ${key(att)} lists ${r.addresses.join(',')}, not ${addresses.join(',')}`);
  }
  for (const att of exp.absent.values()) {
    if (net.records.has(key(att))) out.push(`deleted attachment ${key(att)} came back as a record`);
    for (const [a, h] of net.claims) if (key(h) === key(att)) out.push(`deleted attachment ${key(att)} still claims ${a}`);
  }
  for (const [k, addresses] of exp.holds) {
    const got = net.holds.get(k);
    if (!got) out.push(`acknowledged DEL's hold for ${k} is lost`);
    else if (got.join() !== addresses.join()) out.push(`hold for ${k} keeps ${got.join(',')}, not ${addresses.join(',')}`);
  }
  for (const k of exp.endedHolds) if (net.holds.has(k)) out.push(`hold for ${k} came back after an acknowledged ADD of its pod ended it`);
  for (const a of exp.cooling) if (!net.cooling.has(a)) out.push(`acknowledged DEL's cooldown of ${a} is lost`);
  return out;
}

// ---------------------------------------------------------------------------------------------------------
// The binary on a state

export interface BinRun {
  args: string[];
  call?: CniCall;
  reply: CniReply;
  ms: number;
}

const HANG_MS = 30_000;

/**
 * Runs leasehold once (as a CNI call when `call` is given): in-process, or the executable LEASEHOLD_BIN names,
 * killed after 30 s without an answer. An in-process call cannot be killed: past 30 s the check fails.
 */
export async function runBin(call: CniCall | undefined, args: string[], stdin: string): Promise<BinRun> {
  const started = performance.now();
  if (IN_PROCESS) {
    let timer: NodeJS.Timeout | undefined;
    const hang = new Promise<never>((_, rej) => {
      timer = setTimeout(() => rej(new Error(`hang: ${call ? call.command : args.join(' ')} gave no answer in ${HANG_MS} ms`)), HANG_MS);
    });
    try {
      const reply = await Promise.race([call ? cniIn({ ...call, stdin }) : cliIn(args, stdin), hang]);
      return { args, call, reply: { ...reply, signal: null }, ms: performance.now() - started };
    } finally {
      clearTimeout(timer);
    }
  }
  return new Promise((res, rej) => {
    const env = call ? cniEnv(call) : { PATH: process.env.PATH ?? '/usr/bin:/bin' };
    const p = spawn(BIN, args, { env, stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    const timer = setTimeout(() => p.kill('SIGKILL'), HANG_MS);
    p.stdout.on('data', (d) => (out += d));
    p.stderr.on('data', (d) => (err += d));
    p.on('error', rej);
    p.on('close', (code, signal) => {
      clearTimeout(timer);
      res({ args, call, reply: parseReply(code, signal, out, err), ms: performance.now() - started });
    });
    p.stdin.on('error', () => {});
    p.stdin.end(stdin);
  });
}

/** A CNI reply is acceptable when it succeeded, or failed with code 5 naming a file; never 999, a signal or a hang. */
function badReply(r: BinRun, label: string): string | undefined {
  const { reply } = r;
  if (reply.signal) return `${label}: killed by ${reply.signal} (hang: no answer in 30 s)`;
  if (reply.code === 0) return undefined;
  const j = reply.json;
  if (!j || typeof j.code !== 'number') return `${label}: exit ${reply.code} without a CNI error: ${reply.stdout.slice(0, 200)} ${reply.stderr.slice(0, 200)}`;
  if (j.code === 5 && typeof j.details === 'string' && j.details.startsWith('/')) return undefined;
  return `${label}: code ${j.code}: ${j.msg}`;
}

// Leaks a crash may leave (gc frees them), host-local reservations before the first call adopted them,
// and the recorded containers' made-up netns paths.
const CRASH_LEAK_KINDS = new Set(['orphan-claim', 'claim-missing', 'not-imported', 'netns-gone']);
const CLEAN_KINDS = new Set(['netns-gone']);

/**
 * Runs the real verbs on a state written at `root`: `leasehold check`, STATUS, CHECK of every acknowledged
 * lease, ADD of a new container, DEL of an acknowledged one, GC, and `leasehold check` again.
 */
export async function checkWithBinary(rec: Recording, root: string, exp: Expectation): Promise<{ violations: string[]; runs: number }> {
  const sc = rec.scenario;
  const dataDir = join(root, sc.dataDir);
  const confPath = `${root}.conf.json`;
  const conf = (extra?: Record<string, unknown>): string => JSON.stringify(sc.conf(dataDir, extra));
  writeFileSync(confPath, conf());
  const out: string[] = [];
  let runs = 0;
  const cni = async (c: CniCall, label: string, mustSucceed: boolean): Promise<CniReply> => {
    runs++;
    const r = await runBin(c, [], typeof c.stdin === 'string' ? c.stdin : conf());
    const bad = badReply(r, label);
    if (bad) out.push(bad);
    else if (mustSucceed && r.reply.code !== 0) out.push(`${label}: ${r.reply.stdout.trim()}`);
    return r.reply;
  };
  const cliCheck = async (label: string, mustBeClean: boolean): Promise<void> => {
    runs++;
    const r = await runBin(undefined, ['check', '--data-dir', dataDir, '--network', sc.network, '--config', confPath, '--json'], '');
    // A crash before the first call's files were durable may leave no network (or an empty directory): fine
    // while nothing was promised.
    if (exp.present.size === 0 && r.reply.code === 2 && /no network/.test(r.reply.stderr)) return;
    if (r.reply.code !== 0 && r.reply.code !== 1) {
      out.push(`${label}: exit ${r.reply.code}: ${r.reply.stdout.slice(0, 300)} ${r.reply.stderr.slice(0, 300)}`);
      return;
    }
    const findings = (r.reply.json?.findings ?? []) as Array<{ kind: string; detail: string }>;
    for (const f of findings) if (!(mustBeClean ? CLEAN_KINDS : CRASH_LEAK_KINDS).has(f.kind)) out.push(`${label}: finding ${f.kind}: ${f.detail}`);
  };

  await cliCheck('leasehold check after the crash', false);
  await cni({ command: 'STATUS' }, 'STATUS', true);
  for (const { att } of exp.present.values()) {
    await cni({ command: 'CHECK', containerID: att.containerID, ifname: att.ifname }, `CHECK of acknowledged ${key(att)}`, true);
  }
  const fresh: Attachment = { containerID: 'after-crash', ifname: 'eth0' };
  const added = await cni({ command: 'ADD', containerID: fresh.containerID, ifname: fresh.ifname }, 'ADD of a new container', true);
  const got = ((added.json?.ips ?? []) as Array<{ address: string }>).map((i) => i.address.split('/')[0]!);
  const net = readNetwork(join(root, netRel(sc)));
  for (const a of got) {
    for (const p of exp.present.values()) if (p.addresses.includes(a)) out.push(`new ADD got ${a}, which acknowledged ${key(p.att)} holds`);
    for (const [k, held] of exp.holds) if (held.includes(a)) out.push(`new ADD got ${a}, which the hold for ${k} keeps`);
    for (const [k, r] of net.records) {
      if (k === key(fresh) || !r.addresses.includes(a)) continue;
      if (exp.absent.has(k)) out.push(`deleted ${k} came back holding ${a}, which the new ADD now has`);
      if (exp.present.has(k)) out.push(`${k} and the new ADD both hold ${a}`);
    }
  }
  out.push(...net.problems.map((p) => `after the new ADD: ${p}`));
  const victim = [...exp.present.values()][0];
  if (victim) {
    await cni({ command: 'DEL', containerID: victim.att.containerID, ifname: victim.att.ifname }, `DEL of ${key(victim.att)}`, true);
  }
  const valid = [...exp.present.values()].filter((p) => p !== victim).map((p) => p.att);
  valid.push(fresh);
  await cni({ command: 'GC', stdin: conf({ 'cni.dev/valid-attachments': valid }) }, 'GC', true);
  await cliCheck('leasehold check after DEL and GC', true);
  const after = readNetwork(join(root, netRel(sc)));
  rmSync(confPath, { force: true });
  const validKeys = new Set(valid.map(key));
  for (const k of after.records.keys()) if (!validKeys.has(k)) out.push(`after GC, ${k} still has a record`);
  return { violations: out, runs };
}
