// What the dispatcher hands a verb, and what a verb hands back.
import type { Attachment } from '../base/ids.js';
import type { NetConf } from '../config/load.js';
import type { Store } from '../store/store.js';

export interface VerbRequest {
  conf: NetConf;
  store: Store;
  /** The attachment the call is about; empty ids for GC and STATUS. */
  att: Attachment;
  netns: string;
  podNamespace?: string;
  podName?: string;
}

/** The JSON to print (if any) and facts for the operation log. */
export interface Outcome {
  output?: Record<string, unknown>;
  addresses?: string[];
  lockWaitMs?: number;
}

export type Verb = (req: VerbRequest) => Promise<Outcome>;

/** Runs f on the network opened for change, closing it (releasing the lock) whatever happens. */
export async function withSession<T>(req: VerbRequest, f: (s: Awaited<ReturnType<Store['open']>>) => Promise<T>): Promise<T> {
  const session = await req.store.open(req.conf.name, { lockTimeoutMs: req.conf.lockTimeoutMs, create: true });
  try {
    return await f(session);
  } finally {
    session.close();
  }
}
