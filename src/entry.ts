import { main } from './main.js';

main().then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`leasehold: ${(err as Error)?.stack ?? String(err)}\n`);
    process.exitCode = 2;
  },
);
