// The CLI is a second bundle, embedded in the single executable as an asset and compiled only when the
// CLI runs: the plugin path never parses commander or the CLI's code (docs/performance.md).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { runBundle } from '../base/embedded.js';
import type { runCli } from './index.js';

const CLI_ASSET = 'leasehold-cli.cjs';

export function loadCli(): { runCli: typeof runCli } {
  const sea = require('node:sea') as typeof import('node:sea');
  // Outside the single executable (a plain `node build/leasehold.cjs`), the CLI bundle sits beside it.
  const source = sea.isSea() ? sea.getAsset(CLI_ASSET, 'utf8') : readFileSync(join(__dirname, CLI_ASSET), 'utf8');
  return runBundle(source, CLI_ASSET, require).exports as { runCli: typeof runCli };
}
