// npm run demo [-- conf.d/<file>]: runs the built plugin the way a runtime does (CNI_* environment, the
// plugin's config on stdin) for ADD, CHECK and DEL against an example network, with a temporary dataDir.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const bin = join(root, 'dist', 'leasehold');
const file = process.argv[2] ?? join(root, 'conf.d', '10-pods-bridge.conflist');
const list = JSON.parse(readFileSync(file, 'utf8'));
// A .conflist holds plugins; a runtime passes the one that delegates to leasehold, plus name and cniVersion.
const plugin = (list.plugins ?? [list]).find((p) => p.ipam?.type === 'leasehold');
if (!plugin) throw new Error(`${file} has no plugin with ipam.type leasehold`);
const dataDir = mkdtempSync(join(tmpdir(), 'leasehold-demo-'));
const conf = { cniVersion: list.cniVersion, name: list.name, ...plugin, ipam: { ...plugin.ipam, dataDir } };
delete conf.ipam.resolvConf; // the example's resolv.conf path exists only on a configured node

function cni(command, containerID, extra = {}) {
  const env = {
    PATH: process.env.PATH,
    CNI_COMMAND: command,
    CNI_CONTAINERID: containerID,
    CNI_NETNS: `/var/run/netns/${containerID}`,
    CNI_IFNAME: 'eth0',
    CNI_ARGS: `IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=${containerID}`,
  };
  const r = spawnSync(bin, [], { env, input: JSON.stringify({ ...conf, ...extra }), encoding: 'utf8' });
  console.log(`$ CNI_COMMAND=${command} CNI_CONTAINERID=${containerID} leasehold < config   → exit ${r.status}`);
  if (r.stdout.trim()) console.log(`  ${r.stdout.trim()}`);
  if (r.status !== 0) process.exitCode = 1;
  return r.stdout.trim() ? JSON.parse(r.stdout) : undefined;
}

console.log(`network "${conf.name}" from ${relative(process.cwd(), file)}, dataDir ${dataDir}\n`);
const first = cni('ADD', 'demo-a');
cni('ADD', 'demo-b');
cni('ADD', 'demo-a'); // repeated ADD: same addresses back
cni('CHECK', 'demo-a', { prevResult: first });
const net = join(dataDir, conf.name);
console.log(`\n${relative(dataDir, net)}/: ${readdirSync(net).sort().join('  ')}`);
const cli = spawnSync(bin, ['list', '--data-dir', dataDir], { encoding: 'utf8', env: { PATH: process.env.PATH } });
if (cli.status === 0) console.log(`\n$ leasehold list --data-dir ${dataDir}\n${cli.stdout}`);
cni('DEL', 'demo-a');
cni('DEL', 'demo-b');
cni('DEL', 'demo-b'); // DEL is idempotent
console.log(`\nafter DEL: ${readdirSync(net).sort().join('  ')}`);
rmSync(dataDir, { recursive: true, force: true });
console.log(process.exitCode ? '\ndemo FAILED' : '\ndemo ok');
