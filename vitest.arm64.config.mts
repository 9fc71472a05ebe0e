// The arm64 executable's tests (npm test runs them after the rest): these of the plugin's own tests, the same
// test code with LEASEHOLD_BIN pointed at dist/leasehold-arm64 under qemu (every verb on disk, dual stack, a
// concurrent burst on the lock, a SIGKILL inside the lock, cluster mode's ADD and DEL on the tests' etcd), and
// test/arm64/ (state across architectures, the package). Under qemu a call costs many times a native one
// (docs/performance.md), so the rest of the suite runs on amd64 only. Without qemu or the build, only
// test/arm64/ runs: it skips with the reason, and fails on CI.
import { defineConfig } from 'vitest/config';
import type { Reporter } from 'vitest/reporters';
import base from './vitest.config.mjs';
import { cannotTest, writeRunner } from './scripts/arch.mjs';

/** Test files, and the start of the full names (describe blocks and test, space-separated) chosen in each. */
const SELECTION: Record<string, string[]> = {
  'test/integration/plugin.test.ts': [
    'VERSION ',
    'cniVersion 0.3.1 ',
    'cniVersion 1.1.0 ',
    'ADD a dual-stack lease writes its claims once',
    'DEL succeeds for an unknown attachment',
  ],
  'test/faults/concurrency.test.ts': ['concurrency: '],
  'test/faults/sigkill.test.ts': ['crash: SIGKILL during ADD/DEL a leasehold process SIGKILLed while it holds the lock'],
  'test/integration/cluster.test.ts': ['cluster mode on a real 3-member etcd a repeated ADD returns the same address'],
  'test/arm64/cross-arch.test.ts': ['arm64'],
};
const quote = (s: string): string => s.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
const missing = cannotTest('arm64');

const pattern = new RegExp(Object.values(SELECTION).flat().map(quote).join('|'));

/** A renamed test would drop out of the selection unseen: every name chosen must have run and passed. */
let guard = true;
const selectionRan: Reporter = {
  onInit(vitest) {
    guard = String(vitest.config.testNamePattern) === String(pattern); // not when -t picks other tests
  },
  onTestRunEnd(modules) {
    if (!guard) return;
    const passed = modules.flatMap((m) =>
      [...m.children.allTests()].filter((t) => t.result().state === 'passed').map((t) => t.fullName.split(' > ').join(' ')),
    );
    const ran = new Set(modules.map((m) => m.relativeModuleId));
    const lost = Object.entries(SELECTION).flatMap(([file, names]) => (ran.has(file) ? names.filter((n) => !passed.some((p) => p.startsWith(n))) : []));
    if (lost.length > 0) throw new Error(`vitest.arm64.config.mts: no passing test starts with ${lost.map((n) => JSON.stringify(n)).join(', ')}`);
  },
};

export default defineConfig({
  ...base,
  test: {
    ...base.test,
    ...(missing
      ? { include: ['test/arm64/**/*.test.ts'], exclude: [] }
      : {
          include: Object.keys(SELECTION),
          exclude: [],
          testNamePattern: pattern,
          reporters: ['default', selectionRan],
          // The fault suites' counts, down to their minimums (20 processes at once).
          env: { LEASEHOLD_BIN: writeRunner('arm64'), LEASEHOLD_FAULT_SCALE: '0.1' },
        }),
  },
});
