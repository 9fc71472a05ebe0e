// npm run build: type-check, bundle with esbuild, and write the executable dist/leasehold.
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const { version } = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
const bundle = join(root, 'build', 'leasehold.cjs');
const out = join(root, 'dist', 'leasehold');

execFileSync(process.execPath, [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '--noEmit', '-p', root], { stdio: 'inherit' });

mkdirSync(dirname(bundle), { recursive: true });
mkdirSync(dirname(out), { recursive: true });
await build({
  entryPoints: [join(root, 'src', 'entry.ts')],
  bundle: true,
  platform: 'node',
  format: 'cjs',
  target: 'node20',
  outfile: bundle,
  legalComments: 'none',
  define: { LEASEHOLD_VERSION: JSON.stringify(version) },
  logLevel: 'warning',
});
writeFileSync(out, `#!/usr/bin/env node\n${readFileSync(bundle, 'utf8')}`);
chmodSync(out, 0o755);
console.log(`built ${out}`);
