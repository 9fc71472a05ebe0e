// The plugin in-process, in a worker thread of the config fuzzer (config-fuzz.test.ts): each message is one
// CNI call through runPlugin with the real disk store. A call that spins blocks only this thread, so the
// fuzzer can still see it hang and terminate it.
import { parentPort } from 'node:worker_threads';
import { runPlugin } from '../../src/plugin/dispatch';

parentPort!.on('message', async (m: { env: Record<string, string>; stdin: string }) => {
  parentPort!.postMessage(await runPlugin(m.env, () => m.stdin));
});
