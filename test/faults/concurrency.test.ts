// Many plugin processes at once on one network: the flock serialises them, so the outcome must be what
// some sequential order of the acknowledged calls gives.
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type CniReply, addressOf, faultConf, readNetwork, scaled, startCni, tempDataDir, tempFiles } from '../helpers/leasehold';

const N = scaled(200, 20);
// A /23 holds 509 leases; past that (LEASEHOLD_FAULT_SCALE > ~2) use a /16.
const SUBNET = N * 2.6 < 500 ? '10.30.0.0/23' : '10.30.0.0/16';

describe(`concurrency: ${N} processes at once`, () => {
  const data = tempDataDir('lh-fault-conc-');
  const conf = faultConf(data.dir, 'concnet', { ranges: [[{ subnet: SUBNET }]], lockTimeoutMs: 60_000 });
  const netDir = join(data.dir, 'concnet');
  const ids = Array.from({ length: N }, (_, i) => `conc-${i}`);
  // Phase 1, shared by both tests as a fixture: N ADDs at once. The second test starts from the state it leaves.
  let phase1: CniReply[] = [];
  const added = new Map<string, string>(); // container → address, after phase 1
  beforeAll(async () => {
    phase1 = await Promise.all(ids.map((id) => startCni({ command: 'ADD', containerID: id, stdin: conf }).done));
    for (const [i, r] of phase1.entries()) if (r.code === 0) added.set(ids[i]!, addressOf(r));
  }, 180_000);
  afterAll(() => data.remove());

  it(`${N} simultaneous ADDs get ${N} distinct addresses and no errors`, () => {
    const failures = phase1.map((r, i) => ({ id: ids[i], r })).filter(({ r }) => r.code !== 0);
    expect(failures.map(({ id, r }) => `${id}: exit ${r.code} ${r.stdout} ${r.stderr.slice(0, 300)}`)).toEqual([]);
    expect(new Set(added.values()).size).toBe(N);

    const st = readNetwork(netDir);
    expect(st.problems).toEqual([]);
    expect(st.records.size).toBe(N);
    for (const [id, a] of added) expect(st.leased.get(a), `${id} holds ${a}`).toBe(`${id}@eth0`);
    expect(st.claims.size).toBe(N);
    expect(tempFiles(data.dir)).toEqual([]);
  });

  it(`${N} simultaneous mixed ADD/DEL/CHECK leave the state of the sequential model`, async () => {
    expect(added.size, 'every phase-1 ADD succeeded').toBe(N);
    type Op = { verb: 'ADD' | 'DEL' | 'CHECK'; id: string; kind: string };
    const ops: Op[] = [];
    let fresh = 0;
    const existing = [...added.keys()];
    // Deterministic mix (seeded by index) so a failure is reproducible: every op on its own container,
    // except `race` pairs, where an ADD and a DEL of the same container run at the same time.
    for (let i = 0; ops.length < N; i++) {
      const k = i % 8;
      const old = existing[i % existing.length]!;
      if (k === 0 || k === 1) ops.push({ verb: 'ADD', id: `new-${fresh++}`, kind: 'add-new' });
      else if (k === 2) ops.push({ verb: 'ADD', id: old, kind: 'add-again' });
      else if (k === 3 || k === 4) ops.push({ verb: 'DEL', id: old, kind: 'del' });
      else if (k === 5) ops.push({ verb: 'CHECK', id: old, kind: 'check' });
      else if (k === 6) ops.push({ verb: 'DEL', id: `never-${i}`, kind: 'del-unknown' });
      else {
        const id = `race-${i}`;
        ops.push({ verb: 'ADD', id, kind: 'race-add' }, { verb: 'DEL', id, kind: 'race-del' });
      }
    }
    // `old` ids repeat once i passes existing.length; keep only the first op per pre-existing container.
    const seen = new Set<string>();
    const firstOf = (o: (typeof ops)[number]): boolean => {
      if (seen.has(o.id)) return false;
      seen.add(o.id);
      return true;
    };
    const plan = ops.filter((o) => o.kind.startsWith('race') || firstOf(o)).slice(0, N);

    const replies = await Promise.all(plan.map((o) => startCni({ command: o.verb, containerID: o.id, stdin: conf }).done));
    const failures = replies.map((r, i) => ({ o: plan[i]!, r })).filter(({ r }) => r.code !== 0);
    expect(failures.map(({ o, r }) => `${o.verb} ${o.id} (${o.kind}): exit ${r.code} ${r.stdout}`)).toEqual([]);

    // The sequential model, from the acknowledged calls.
    const expectPresent = new Map<string, string | undefined>(); // id → address (undefined: any)
    const expectAbsent = new Set<string>();
    const racing = new Map<string, string>(); // id → address its ADD returned
    for (const id of added.keys()) expectPresent.set(id, added.get(id));
    plan.forEach((o, i) => {
      const r = replies[i]!;
      if (o.kind === 'add-new') expectPresent.set(o.id, addressOf(r));
      else if (o.kind === 'add-again') expect(addressOf(r), `repeated ADD of ${o.id} returns its address`).toBe(added.get(o.id));
      else if (o.kind === 'del' || o.kind === 'del-unknown') {
        expectPresent.delete(o.id);
        expectAbsent.add(o.id);
      } else if (o.kind === 'race-add') racing.set(o.id, addressOf(r));
    });

    const st = readNetwork(netDir);
    expect(st.problems).toEqual([]);
    for (const [id, a] of expectPresent) {
      const rec = st.records.get(`${id}@eth0`);
      expect(rec?.addresses, `record of ${id}`).toEqual([a]);
      expect(st.leased.get(a!), `claim of ${a}`).toBe(`${id}@eth0`);
    }
    for (const id of expectAbsent) {
      expect(st.records.has(`${id}@eth0`), `record of deleted ${id}`).toBe(false);
      expect(
        [...st.claims.values()].some((h) => h.containerID === id),
        `claim of deleted ${id}`,
      ).toBe(false);
    }
    // A racing ADD/DEL pair ends in one of the two sequential outcomes, never half of each.
    let racedPresent = 0;
    for (const [id, a] of racing) {
      const rec = st.records.get(`${id}@eth0`);
      const claimed = [...st.claims].filter(([, h]) => h.containerID === id).map(([addr]) => addr);
      if (rec) {
        racedPresent++;
        expect(rec.addresses, `raced ${id}`).toEqual([a]);
        expect(claimed, `raced ${id}`).toEqual([a]);
      } else expect(claimed, `raced ${id} has no record, so no claim`).toEqual([]);
    }
    // Every claim belongs to a record that lists it, and vice versa: nothing leaked.
    expect(st.claims.size).toBe(st.leased.size);
    expect(st.records.size).toBe(expectPresent.size + racedPresent);
    const addrs = [...st.records.values()].flatMap((r) => r.addresses);
    expect(new Set(addrs).size).toBe(addrs.length);
    expect(tempFiles(data.dir)).toEqual([]);
  }, 180_000);
});
