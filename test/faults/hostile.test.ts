// Hostile input, generated with fast-check: random bytes and JSON on stdin, wrong types for every config
// key, bad CIDRs and addresses (IPv4-mapped IPv6 included), hostile CNI_* values ("../", newlines, 10 KB).
// Every call must answer with one well-formed CNI document (an error whenever the input is invalid), never
// print a stack trace on stdout, never hang, and never create a file outside its data directory.
import { spawnSync } from 'node:child_process';
import { mkdirSync, readdirSync } from 'node:fs';
import { join, normalize } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pool, scaled, startCni, tempDataDir, tree } from '../helpers/leasehold';

const CASES = scaled(200, 50);
const PARALLEL = 8;
const HANG_MS = 20_000;
const SEED = Number(process.env.LEASEHOLD_FAULT_SEED ?? Date.now() % 1_000_000);

const root = tempDataDir('lh-fault-hostile-');
const DATA = join(root.dir, 'data');
const TMP = join(root.dir, 'tmp'); // TMPDIR of every child
const CWD = join(root.dir, 'cwd'); // working directory of every child: relative writes would land here

interface Case {
  kind: string;
  verb: string;
  env: Record<string, string>;
  stdin: string | Buffer;
  /** The input is invalid: the call must fail (exit 1 with a CNI error). */
  mustFail: boolean;
  /** Data directories the case may legitimately write to (normalized). */
  dataDirs: string[];
}

const base = (ipam: Record<string, unknown> = {}): Record<string, any> => ({
  cniVersion: '1.0.0',
  name: 'hostnet',
  type: 'bridge',
  ipam: { type: 'leasehold', dataDir: DATA, lockTimeoutMs: 60_000, ranges: [[{ subnet: '10.20.0.0/16' }]], ...ipam },
});
const envOf = (id: string, over: Record<string, string> = {}): Record<string, string> => ({
  CNI_CONTAINERID: id,
  CNI_IFNAME: 'eth0',
  CNI_NETNS: `/var/run/netns/${id}`,
  CNI_ARGS: '',
  ...over,
});

const verb = fc.constantFrom('ADD', 'DEL', 'CHECK');
const long = 'a'.repeat(10_000);
const id = fc.nat({ max: 1e9 }).map((n) => `h-${n}`);

// Values of every JSON type but the one a key takes.
const anyJson = fc.jsonValue({ maxDepth: 2 });
const notString = anyJson.filter((v) => typeof v !== 'string');
const notInt = fc.oneof(
  anyJson.filter((v) => typeof v !== 'number'),
  fc.double({ noInteger: true, noNaN: true }),
  fc.constantFrom(1e300, -1, 600_001, 2 ** 53),
);
const notBool = anyJson.filter((v) => typeof v !== 'boolean');
const notArray = anyJson.filter((v) => !Array.isArray(v));
const notObject = anyJson.filter((v) => typeof v !== 'object' || v === null || Array.isArray(v));

// Every key of the config, with a generator of wrong values for it (ints also out of their bounds).
const KEYS: Array<[string[], fc.Arbitrary<unknown>]> = [
  [['cniVersion'], notString],
  [['name'], notString],
  [['ipam'], notObject],
  [['ipam', 'type'], notString],
  [['ipam', 'subnet'], notString],
  [['ipam', 'rangeStart'], notString],
  [['ipam', 'rangeEnd'], notString],
  [['ipam', 'gateway'], notString],
  [['ipam', 'ranges'], notArray],
  [['ipam', 'ranges', '0'], notArray],
  [['ipam', 'ranges', '0', '0'], notObject],
  [['ipam', 'ranges', '0', '0', 'subnet'], notString],
  [['ipam', 'ranges', '0', '0', 'rangeStart'], notString],
  [['ipam', 'ranges', '0', '0', 'rangeEnd'], notString],
  [['ipam', 'ranges', '0', '0', 'gateway'], notString],
  [['ipam', 'routes'], notArray],
  [['ipam', 'routes', '0'], notObject],
  [['ipam', 'routes', '0', 'dst'], notString],
  [['ipam', 'routes', '0', 'gw'], notString],
  [['ipam', 'routes', '0', 'mtu'], notInt.filter((v) => !(typeof v === 'number' && Number.isInteger(v) && v >= 0 && v < 2 ** 53))],
  [['ipam', 'dataDir'], notString],
  [['ipam', 'resolvConf'], notString],
  [['ipam', 'exclude'], notArray],
  [['ipam', 'exclude', '0'], notString],
  [['ipam', 'lockTimeoutMs'], notInt],
  [['ipam', 'reclaimStaleBoot'], notBool],
  [['ipam', 'logFile'], notString],
  // 600,001 is out of bounds for the timeouts but a valid logMaxBytes.
  [
    ['ipam', 'logMaxBytes'],
    fc.oneof(
      notInt.filter((v) => !(typeof v === 'number' && Number.isInteger(v) && v >= 4096 && v < 2 ** 53)),
      fc.integer({ min: -1000, max: 4095 }),
    ),
  ],
  [['runtimeConfig'], notObject],
  [['runtimeConfig', 'ips'], notArray],
  [['runtimeConfig', 'ips', '0'], notString],
  [['ipam', 'sticky'], notObject],
  [
    ['ipam', 'sticky', 'holdSeconds'],
    fc.oneof(
      notInt.filter((v) => !(typeof v === 'number' && Number.isInteger(v) && v >= 1 && v <= 31_536_000)),
      fc.integer({ min: -1000, max: 0 }),
      fc.integer({ min: 31_536_001 }),
    ),
  ],
  [['ipam', 'reuseCooldownSeconds'], fc.oneof(notInt, fc.integer({ min: -1000, max: -1 }), fc.integer({ min: 86_401 }))],
  [['runtimeConfig', 'io.kubernetes.cri.pod-annotations'], notObject],
  [['runtimeConfig', 'io.kubernetes.cri.pod-annotations', 'leasehold.io/ips'], notString],
  [['runtimeConfig', 'ipRanges'], notArray],
  [['runtimeConfig', 'ipRanges', '0', '0', 'subnet'], notString],
  [['args'], notObject],
  [['args', 'cni'], notObject],
  [['args', 'cni', 'ips'], notArray],
  [['args', 'cni', 'ips', '0'], notString],
  [['prevResult'], notObject],
  [['prevResult', 'ips'], notArray],
  [['prevResult', 'ips', '0', 'address'], notString],
  [['cni.dev/valid-attachments'], notArray],
  [['cni.dev/valid-attachments', '0', 'containerID'], notString],
];
// lockTimeoutMs: ints outside 0..600000 are wrong too; keep only generated values that are really invalid.
KEYS[KEYS.findIndex(([p]) => p.join('.') === 'ipam.lockTimeoutMs')]![1] = notInt.filter(
  (v) => !(typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= 600_000),
);

/** Sets obj[path] = value, creating arrays/objects on the way (numeric segments make arrays). */
function setPath(obj: Record<string, any>, path: string[], value: unknown): Record<string, any> {
  let o: any = obj;
  path.forEach((seg, i) => {
    if (i === path.length - 1) o[seg] = value;
    else {
      if (o[seg] === undefined || typeof o[seg] !== 'object' || o[seg] === null) o[seg] = /^\d+$/.test(path[i + 1]!) ? [] : {};
      o = o[seg];
    }
  });
  return obj;
}

// Addresses that are invalid wherever an address or CIDR is parsed.
const BAD_ADDRESSES = [
  '256.1.1.1',
  '10.20.0.0/33',
  '10.20.0.0/-1',
  '1.2.3.4/x',
  '10.20.0',
  '10.20.0.0.0',
  '1.2.3.4 ',
  ' 1.2.3.4',
  '1.2.3.4\n',
  '10.20.0.5/24/1',
  '',
  '../../etc/passwd',
  long,
  '10.20.0.5\u0000',
  '10.20.0.5%eth0',
  'fe80::1%eth0',
  'fe80:::1',
  '1::2::3',
  // IPv4-mapped IPv6: the same IPv4 address under a second spelling.
  // (hex spellings such as ::ffff:a14:5 have their own test below)
  '::ffff:10.20.0.5',
  '::ffff:10.20.0.0/112',
  '0:0:0:0:0:ffff:10.20.0.5',
];
const junkAddress = fc.string({ maxLength: 40 }).map((s) => `${s}x!`); // never an address
const badAddress = fc.oneof(fc.constantFrom(...BAD_ADDRESSES), junkAddress);
// Subnets that parse as addresses but are no usable subnet.
const badSubnet = fc.oneof(badAddress, fc.constantFrom('10.20.0.1/16', '10.20.0.0/31', '10.20.0.0', 'fd00::/127', '::ffff:10.20.0.0/120'));

const ADDRESS_SLOTS: Array<{ path: string[]; value: fc.Arbitrary<string>; wrap?: boolean }> = [
  { path: ['ipam', 'ranges', '0', '0', 'subnet'], value: badSubnet },
  { path: ['ipam', 'ranges', '0', '0', 'rangeStart'], value: fc.oneof(badAddress, fc.constantFrom('10.99.0.5', 'fd00::5', '10.20.0.0', '10.20.255.255')) },
  { path: ['ipam', 'ranges', '0', '0', 'rangeEnd'], value: fc.oneof(badAddress, fc.constantFrom('10.99.0.5', 'fd00::5', '10.20.255.255')) },
  { path: ['ipam', 'ranges', '0', '0', 'gateway'], value: fc.oneof(badAddress, fc.constantFrom('10.99.0.5', 'fd00::1')) },
  { path: ['ipam', 'exclude', '0'], value: badAddress },
  { path: ['ipam', 'routes', '0'], value: badAddress, wrap: true }, // as dst
  { path: ['ipam', 'routes', '0', 'gw'], value: badAddress },
  { path: ['runtimeConfig', 'ips', '0'], value: badAddress },
  { path: ['args', 'cni', 'ips', '0'], value: badAddress },
  { path: ['runtimeConfig', 'ipRanges', '0', '0', 'subnet'], value: badSubnet },
];

const caseArb: fc.Arbitrary<Case> = fc.oneof(
  // random bytes on stdin
  fc
    .record({ v: verb, id, bytes: fc.uint8Array({ maxLength: 4096 }) })
    .map(({ v, id, bytes }): Case => ({ kind: 'random-bytes', verb: v, env: envOf(id), stdin: Buffer.from(bytes), mustFail: true, dataDirs: [] })),
  // random JSON on stdin
  fc
    .record({ v: verb, id, j: fc.jsonValue() })
    .map(({ v, id, j }): Case => ({ kind: 'random-json', verb: v, env: envOf(id), stdin: JSON.stringify(j), mustFail: true, dataDirs: [] })),
  // a wrong type for one config key
  fc.record({ v: verb, id, k: fc.nat({ max: KEYS.length - 1 }), seed: fc.nat() }).chain(({ v, id, k }) =>
    KEYS[k]![1].map((value): Case => {
      const conf = base({ routes: [{ dst: '0.0.0.0/0' }] });
      if (KEYS[k]![0][0] === 'prevResult') conf.cniVersion = '1.0.0';
      return {
        kind: `wrong-type ${KEYS[k]![0].join('.')}`,
        verb: v,
        env: envOf(id),
        stdin: JSON.stringify(setPath(conf, KEYS[k]![0], value)),
        mustFail: true,
        dataDirs: [],
      };
    }),
  ),
  // a bad CIDR or address in one slot
  fc.record({ v: verb, id, k: fc.nat({ max: ADDRESS_SLOTS.length - 1 }) }).chain(({ v, id, k }) =>
    ADDRESS_SLOTS[k]!.value.map((value): Case => {
      const slot = ADDRESS_SLOTS[k]!;
      const conf = base({ routes: [{ dst: '0.0.0.0/0' }] });
      if (slot.path[0] === 'runtimeConfig' && slot.path[1] === 'ipRanges') conf.ipam.ranges = undefined;
      setPath(conf, slot.path, slot.wrap ? { dst: value } : value);
      return {
        kind: `bad-address ${slot.path.join('.')}=${JSON.stringify(value.slice(0, 40))}`,
        verb: v,
        env: envOf(id),
        stdin: JSON.stringify(conf),
        mustFail: true,
        dataDirs: [],
      };
    }),
  ),
  // a bad requested address through CNI_ARGS
  fc.record({ v: verb, id, a: badAddress.filter((a) => !a.includes(';') && !a.includes(',') && !a.includes('\0')) }).map(
    ({ v, id, a }): Case => ({
      kind: `bad CNI_ARGS IP=${JSON.stringify(a.slice(0, 40))}`,
      verb: v,
      env: envOf(id, { CNI_ARGS: `IP=${a}` }),
      stdin: JSON.stringify(base()),
      mustFail: a !== '',
      dataDirs: [DATA],
    }),
  ),
  // hostile CNI_* values that must be refused
  fc
    .record({
      v: verb,
      id,
      which: fc.constantFrom('CNI_CONTAINERID', 'CNI_IFNAME', 'CNI_COMMAND'),
      k: fc.nat(),
    })
    .map(({ v, id, which, k }): Case => {
      // Invalid for the variable at hand (Linux accepts ".x" and "-x" as interface names, so they are not here).
      const lists: Record<string, string[]> = {
        CNI_CONTAINERID: [
          '../x',
          '../../../../tmp/evil',
          '..',
          '.',
          'a/b',
          '/abs',
          '.hidden',
          '-dash',
          'a\nb',
          'line\n',
          'a b',
          long,
          'ünïcode',
          'a;b=c',
          'x:y',
          '',
        ],
        CNI_IFNAME: ['../x', '..', '.', 'a/b', '/abs', 'a\nb', 'line\n', 'a b', 'tab\t', 'x:y', 'sixteen-bytes-ab', long, ''],
        CNI_COMMAND: ['add', 'ADD\n', '../ADD', 'ADD;DEL', long, ''],
      };
      const bad = lists[which]![k % lists[which]!.length]!;
      const env = envOf(id, which === 'CNI_COMMAND' ? {} : { [which]: bad });
      if (which === 'CNI_COMMAND') env.CNI_COMMAND = bad;
      return { kind: `env ${which}=${JSON.stringify(bad.slice(0, 30))}`, verb: v, env, stdin: JSON.stringify(base()), mustFail: true, dataDirs: [] };
    }),
  // CNI_* values that are odd but may be accepted: they must then stay data, never a path outside the data dir
  fc
    .record({
      id,
      which: fc.constantFrom('CNI_NETNS', 'CNI_ARGS'),
      odd: fc.constantFrom(
        '../../../../etc/evil',
        '/proc/self/ns/net\n',
        'K8S_POD_NAME=../../../../tmp/evil;K8S_POD_NAMESPACE=..;IgnoreUnknown=1',
        `IgnoreUnknown=1;X=${long}`,
        long.slice(0, 4000),
      ),
    })
    .map(
      ({ id, which, odd }): Case => ({
        kind: `odd env ${which}=${JSON.stringify(odd.slice(0, 30))}`,
        verb: 'ADD',
        env: envOf(id, { [which]: odd }),
        stdin: JSON.stringify(base()),
        mustFail: which === 'CNI_ARGS' && !odd.includes('IgnoreUnknown') && !odd.startsWith('K8S'),
        dataDirs: [DATA],
      }),
    ),
  // NUL bytes and 10 KB strings inside the config (NUL cannot be passed in the environment)
  fc
    .record({
      v: verb,
      id,
      field: fc.constantFrom('name', 'cniVersion', 'dataDir', 'resolvConf-nul'),
      bad: fc.constantFrom('a\u0000b', `x${long}`, '../x', 'a/b', '..', 'line\nbreak'),
    })
    .map(({ v, id, field, bad }): Case => {
      const conf = base();
      if (field === 'name') conf.name = bad;
      else if (field === 'cniVersion') conf.cniVersion = bad;
      else if (field === 'dataDir') conf.ipam.dataDir = bad.startsWith('x') ? `/${bad}` : `${DATA}/${bad}\u0000`;
      else conf.ipam.resolvConf = `/etc/resolv.conf\u0000${bad}`;
      // resolvConf is read on ADD only (DEL and CHECK must not depend on it).
      const mustFail = field !== 'resolvConf-nul' || v === 'ADD';
      return { kind: `config ${field}=${JSON.stringify(bad.slice(0, 20))}`, verb: v, env: envOf(id), stdin: JSON.stringify(conf), mustFail, dataDirs: [] };
    }),
  // dataDir spellings: relative ones are refused; ones with ".." are normalized, and may only write there
  fc
    .record({
      v: verb,
      id,
      d: fc.constantFrom(
        'data',
        './data',
        '../data',
        '',
        '~/data',
        'data/../../x',
        `${DATA}/../data2`,
        `${DATA}/./sub/../sub2`,
        `/../../..${DATA}3`,
        `${DATA}//x//`,
      ),
    })
    .map(
      ({ v, id, d }): Case => ({
        kind: `dataDir ${JSON.stringify(d)}`,
        verb: v,
        env: envOf(id),
        stdin: JSON.stringify(base({ dataDir: d })),
        mustFail: !d.startsWith('/'),
        dataDirs: d.startsWith('/') ? [normalize(d)] : [],
      }),
    ),
);

interface Outcome {
  c: Case;
  problem?: string;
}

function judge(c: Case, r: { code: number | null; signal: string | null; stdout: string; stderr: string; json: any; ms: number }): string | undefined {
  if (r.signal) return `no answer within ${HANG_MS} ms (killed: ${r.signal})`;
  if (r.code !== 0 && r.code !== 1) return `exit ${r.code} (stderr ${r.stderr.slice(0, 300)})`;
  if (/\n\s+at .+:\d+:\d+/.test(r.stdout) || /^\s+at /m.test(r.stdout)) return `stack trace on stdout: ${r.stdout.slice(0, 300)}`;
  const lines = r.stdout.split('\n').filter((l) => l !== '');
  if (r.code === 1) {
    if (lines.length !== 1) return `error output is not one JSON line: ${JSON.stringify(r.stdout.slice(0, 300))}`;
    const j = r.json;
    if (typeof j !== 'object' || j === null) return `error output is not a JSON object: ${r.stdout.slice(0, 300)}`;
    if (typeof j.cniVersion !== 'string' || !Number.isInteger(j.code) || typeof j.msg !== 'string') return `malformed CNI error: ${r.stdout.slice(0, 300)}`;
    if (j.msg.length > 64_000) return `error message of ${j.msg.length} characters`;
    return undefined;
  }
  if (c.mustFail) return `invalid input was accepted: ${r.stdout.slice(0, 300)}`;
  if (lines.length > 1 || (lines.length === 1 && typeof r.json !== 'object')) return `success output is not one JSON document: ${r.stdout.slice(0, 300)}`;
  return undefined;
}

describe(`hostile input: ${CASES} generated cases (seed ${SEED})`, () => {
  beforeAll(() => {
    for (const d of [TMP, CWD]) mkdirSync(d, { recursive: true });
  });
  afterAll(() => root.remove());

  it('every call answers with a well-formed CNI document, never hangs, and writes only inside its data dir', async () => {
    const cases = fc.sample(caseArb, { numRuns: CASES, seed: SEED });
    const before = new Set(tree(root.dir).keys());
    const outcomes: Outcome[] = await pool(cases, PARALLEL, async (c) => {
      const r = await startCni(
        { command: c.verb, stdin: c.stdin, env: { ...c.env, CNI_COMMAND: c.env.CNI_COMMAND ?? c.verb, TMPDIR: TMP } },
        {},
        { cwd: CWD, killAfterMs: HANG_MS },
      ).done;
      return { c, problem: judge(c, r) };
    });
    const bad = outcomes.filter((o) => o.problem);
    const show = bad
      .slice(0, 10)
      .map((o) => `[${o.c.kind}] ${o.c.verb} env=${JSON.stringify(o.c.env).slice(0, 200)} stdin=${String(o.c.stdin).slice(0, 200)}\n    → ${o.problem}`);
    expect(show, `seed ${SEED}: ${bad.length} of ${cases.length} cases misbehaved`).toEqual([]);

    // Nothing may appear outside the data dirs the cases were allowed to use; TMPDIR and cwd stay empty.
    const allowed = [...new Set(cases.flatMap((c) => c.dataDirs))];
    const created = [...tree(root.dir).keys()].filter((p) => !before.has(p));
    const outside = created.filter((p) => !allowed.some((d) => join(root.dir, p) === d || join(root.dir, p).startsWith(`${d}/`)));
    expect(outside, `files created outside the data dirs (allowed: ${allowed.join(', ')})`).toEqual([]);
    expect(readdirSync(TMP)).toEqual([]);
    expect(readdirSync(CWD)).toEqual([]);
    const kinds = new Map<string, number>();
    for (const c of cases) kinds.set(c.kind.split(' ')[0]!, (kinds.get(c.kind.split(' ')[0]!) ?? 0) + 1);
    console.log(`hostile: seed ${SEED}, ${cases.length} cases: ${[...kinds].map(([k, n]) => `${k} ${n}`).join(', ')}`);
  }, 280_000);

  for (const [what, make] of [
    ['64 MiB of random-ish bytes', () => Buffer.alloc(64 << 20, 0xa7)],
    [
      'a 64 MiB JSON config (one huge string)',
      () => Buffer.concat([Buffer.from(JSON.stringify(base()).slice(0, -1) + ',"pad":"'), Buffer.alloc(64 << 20, 0x61), Buffer.from('"}')]),
    ],
  ] as const) {
    it(`${what} on stdin: a CNI error, quickly, nothing written`, async () => {
      const before = tree(root.dir);
      const r = await startCni({ command: 'ADD', containerID: 'huge', stdin: make(), env: { TMPDIR: TMP } }, {}, { cwd: CWD, killAfterMs: HANG_MS }).done;
      expect(judge({ kind: 'huge', verb: 'ADD', env: {}, stdin: '', mustFail: true, dataDirs: [] }, r)).toBeUndefined();
      expect(r.json.code).toBe(6);
      expect(r.ms).toBeLessThan(15_000);
      expect(tree(root.dir)).toEqual(before);
    }, 60_000);
  }

  for (const [what, path] of [
    ['a device that never ends (/dev/zero)', '/dev/zero'],
    ['a FIFO nobody writes', join(root.dir, 'resolv.fifo')],
  ] as const) {
    it(`ipam.resolvConf naming ${what} fails instead of hanging`, async () => {
      if (path.endsWith('.fifo')) spawnSync('mkfifo', [path]);
      const r = await startCni(
        { command: 'ADD', containerID: 'resolv', stdin: base({ resolvConf: path }), env: { TMPDIR: TMP } },
        {},
        { cwd: CWD, killAfterMs: 5_000 },
      ).done;
      expect(judge({ kind: 'resolv', verb: 'ADD', env: {}, stdin: '', mustFail: true, dataDirs: [] }, r), `resolvConf ${path}`).toBeUndefined();
    }, 30_000);
  }

  // The IPv4-mapped guard must not depend on the spelling: ::ffff:a14:5 is ::ffff:10.20.0.5.
  for (const [slot, value] of [
    ['runtimeConfig.ips', '::ffff:a14:5'],
    ['ipam.ranges[1][0].subnet', '::ffff:0:0/96'],
    ['ipam.exclude', '0:0:0:0:0:ffff:a14:5'],
  ] as const) {
    it(`an IPv4-mapped IPv6 address in hex spelling (${slot} = ${value}) is refused like the dotted one`, async () => {
      const conf = base({ ranges: [[{ subnet: '10.20.0.0/16' }], [{ subnet: 'fd00::/64' }]] });
      if (slot === 'runtimeConfig.ips') conf.runtimeConfig = { ips: [value] };
      else if (slot === 'ipam.exclude') conf.ipam.exclude = [value];
      else conf.ipam.ranges[1] = [{ subnet: value }];
      const r = await startCni({ command: 'ADD', containerID: 'mapped', stdin: conf, env: { TMPDIR: TMP } }, {}, { cwd: CWD, killAfterMs: HANG_MS }).done;
      expect(judge({ kind: 'mapped', verb: 'ADD', env: {}, stdin: '', mustFail: true, dataDirs: [] }, r), r.stdout).toBeUndefined();
      expect(r.json?.code).toBe(7);
      await startCni({ command: 'DEL', containerID: 'mapped', stdin: base(), env: { TMPDIR: TMP } }).done;
    }, 30_000);
  }
});
