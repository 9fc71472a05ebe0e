// Makes the plugin bundle's V8 code cache, embedded beside it in the single executable (src/sea-main.ts).
// V8 writes into a cache only what has been compiled, and it compiles a function on its first call: so the
// cache is made by running the bundle through the calls a node makes (VERSION, ADD new and repeated, CHECK,
// GC, STATUS, DEL, both address families, an old cniVersion, a config error), one process each, every step
// starting from the cache of the one before, on the embedded Node with the executable's V8 flags (a cache
// made under other flags is refused). Cluster mode's client is left to compile on first use: it needs etcd.
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EXEC_ARGV, baseNode } from './sea.mjs';

/** trainer: the bundled scripts/train-code-cache.ts; bundle: the plugin bundle, its assets beside it. */
export function makeCodeCache({ trainer, bundle, out }) {
  const work = mkdtempSync(join(tmpdir(), 'leasehold-code-cache-'));
  try {
    const conf = (cniVersion, ipam = {}) => ({
      cniVersion,
      name: 'train',
      type: 'bridge',
      ipam: { type: 'leasehold', dataDir: join(work, 'data'), ranges: [[{ subnet: '10.99.0.0/24' }], [{ subnet: 'fd99::/120' }]], ...ipam },
    });
    let added = '';
    const steps = [
      { verb: 'VERSION', stdin: () => conf('1.1.0') },
      { verb: 'ADD', id: 'a', stdin: () => conf('1.1.0') },
      { verb: 'ADD', id: 'a', stdin: () => conf('1.1.0') },
      { verb: 'CHECK', id: 'a', stdin: () => ({ ...conf('1.1.0'), prevResult: JSON.parse(added) }) },
      { verb: 'ADD', id: 'b', stdin: () => conf('0.3.1') },
      { verb: 'GC', stdin: () => ({ ...conf('1.1.0'), 'cni.dev/valid-attachments': [{ containerID: 'a', ifname: 'eth0' }] }) },
      { verb: 'STATUS', stdin: () => conf('1.1.0') },
      { verb: 'DEL', id: 'a', stdin: () => conf('1.1.0') },
      { verb: 'ADD', id: 'c', stdin: () => conf('1.1.0', { ranges: [[{ subnet: '10.99.0.0/33' }]] }), fails: true },
    ];
    let cache = '';
    steps.forEach((s, i) => {
      const next = join(work, `cache-${i}`);
      const env = { PATH: process.env.PATH, CNI_COMMAND: s.verb, CNI_CONTAINERID: s.id ?? 'train', CNI_NETNS: '/var/run/netns/train', CNI_IFNAME: 'eth0' };
      const r = spawnSync(baseNode(), [...EXEC_ARGV, trainer, bundle, cache, next], { env, input: JSON.stringify(s.stdin()), encoding: 'utf8' });
      if (r.status !== (s.fails ? 1 : 0)) throw new Error(`code cache: ${s.verb} exited ${r.status ?? r.signal}: ${r.stdout}${r.stderr}${r.error ?? ''}`);
      if (s.verb === 'ADD' && s.id === 'a') added = r.stdout;
      cache = next;
    });
    copyFileSync(cache, out);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}
