// A stand-in CRI runtime for the CLI's tests: a gRPC server (@grpc/grpc-js, the library the e2e client uses) on
// a unix socket that answers ListPodSandbox with the sandboxes a test sets, under runtime.v1 or only under the
// older runtime.v1alpha2. The e2e tests ask a real containerd; this one lets a test choose the answer.
import { readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';

const PROTO = resolve(__dirname, '..', 'e2e', 'cri', 'runtime-v1.proto');

export interface FakeSandbox {
  id: string;
  state?: 'SANDBOX_READY' | 'SANDBOX_NOTREADY';
  metadata?: { name: string; namespace: string; uid: string; attempt?: number };
}

export interface FakeCri {
  endpoint: string;
  sandboxes: FakeSandbox[];
  /** ListPodSandbox calls answered */
  calls: number;
  stop(): Promise<void>;
}

export async function startFakeCri(dir: string, api: 'v1' | 'v1alpha2' = 'v1'): Promise<FakeCri> {
  let proto = PROTO;
  if (api !== 'v1') {
    proto = join(dir, `runtime-${api}.proto`);
    writeFileSync(proto, readFileSync(PROTO, 'utf8').replace('package runtime.v1;', `package runtime.${api};`));
  }
  const def = protoLoader.loadSync(proto, { keepCase: false, longs: String, enums: String, defaults: true });
  const pkg = grpc.loadPackageDefinition(def) as any;
  const fake: FakeCri = { endpoint: `unix://${join(dir, 'cri.sock')}`, sandboxes: [], calls: 0, stop: async () => {} };
  const server = new grpc.Server();
  server.addService(pkg.runtime[api].RuntimeService.service, {
    ListPodSandbox: (_call: unknown, cb: grpc.sendUnaryData<unknown>) => {
      fake.calls++;
      cb(null, { items: fake.sandboxes.map((s) => ({ createdAt: String(Date.now() * 1e6), ...s })) });
    },
  });
  await new Promise<void>((res, rej) => server.bindAsync(fake.endpoint, grpc.ServerCredentials.createInsecure(), (e) => (e ? rej(e) : res())));
  fake.stop = () => new Promise((res) => server.tryShutdown(() => res()));
  return fake;
}
