// The one leak rule, by table: each caller's facts and what they make freeable.
import { describe, expect, it } from 'vitest';
import { type Claim, type LeakFacts, findLeaks } from '../../src/allocator/leaks';
import type { Lease } from '../../src/store/lease';

const BOOT = 'boot-now';
const BOOT_AT = 1_000_000;
const lease = (id: string, extra: Partial<Lease> = {}): Lease => ({
  format: 1,
  containerID: id,
  ifname: 'eth0',
  addresses: [`10.0.0.${id.length + 1}`],
  netns: `/run/netns/${id}`,
  createdAt: new Date(2_000_000).toISOString(),
  bootId: BOOT,
  ...extra,
});
const claimOf = (l: Lease, mtimeMs = 2_000_000): Claim => ({ address: l.addresses[0]!, holder: { containerID: l.containerID, ifname: l.ifname }, mtimeMs });

const live = lease('live');
const oldBoot = lease('oldb', { bootId: 'boot-before' });
const gone = lease('gone');
const adopted = lease('adopt', { bootId: null, netns: '' });
const leases = [live, oldBoot, gone, adopted];
const owned = leases.map((l) => claimOf(l));
const orphanOld: Claim = { address: '10.0.0.100', holder: { containerID: 'x', ifname: 'eth0' }, mtimeMs: BOOT_AT - 1 };
const orphanNew: Claim = { address: '10.0.0.101', holder: { containerID: 'y', ifname: 'eth0' }, mtimeMs: BOOT_AT + 1 };
const claims = [...owned, orphanOld, orphanNew];
const netnsExists = (p: string): boolean => p !== gone.netns;

const judge = (facts: LeakFacts): string[] =>
  findLeaks(leases, claims, facts).map((l) => `${l.lease?.containerID ?? l.address}:${l.reason}:${l.freeable ? 'free' : 'keep'}`);

describe('leak rule', () => {
  it.each<[string, LeakFacts, string[]]>([
    [
      'ADD reclaim (boot only)',
      { bootId: BOOT, bootTimeMs: BOOT_AT },
      ['oldb:stale-boot:free', '10.0.0.100:orphan-claim:free', '10.0.0.101:orphan-claim:keep'],
    ],
    [
      'leasehold gc / check (boot and netns)',
      { bootId: BOOT, bootTimeMs: BOOT_AT, netnsExists },
      ['oldb:stale-boot:free', 'gone:netns-gone:free', '10.0.0.100:orphan-claim:free', '10.0.0.101:orphan-claim:keep'],
    ],
    [
      'CNI GC (valid list only)',
      {
        valid: [
          { containerID: 'live', ifname: 'eth0' },
          { containerID: 'y', ifname: 'eth0' },
        ],
      },
      ['oldb:not-valid:free', 'gone:not-valid:free', 'adopt:not-valid:free', '10.0.0.100:orphan-claim:free', '10.0.0.101:orphan-claim:keep'],
    ],
    [
      'a network never imported',
      { bootId: BOOT, bootTimeMs: BOOT_AT, imported: false },
      ['oldb:stale-boot:free', '10.0.0.100:not-imported:keep', '10.0.0.101:not-imported:keep'],
    ],
  ])('%s', (_name, facts, expected) => {
    expect(judge(facts)).toEqual(expected);
  });

  it('gc --keep-from keeps what was written after the list', () => {
    const facts: LeakFacts = { valid: [], listedAt: 2_000_000 };
    expect(judge(facts)).toEqual([
      'live:not-valid:keep',
      'oldb:not-valid:keep',
      'gone:not-valid:keep',
      'adopt:not-valid:keep',
      '10.0.0.100:orphan-claim:free',
      '10.0.0.101:orphan-claim:free',
    ]);
  });

  it('an adopted lease (no boot, no netns) is never freed by the boot or netns rules', () => {
    expect(findLeaks([adopted], [claimOf(adopted)], { bootId: BOOT, bootTimeMs: BOOT_AT, netnsExists: () => false })).toEqual([]);
  });

  it('a claim that names another attachment than the record is unowned', () => {
    const stolen: Claim = { ...claimOf(live, BOOT_AT - 5), holder: { containerID: 'other', ifname: 'eth0' } };
    expect(findLeaks([live], [stolen], { bootTimeMs: BOOT_AT }).map((l) => [l.address, l.freeable])).toEqual([[live.addresses[0], true]]);
  });
});
