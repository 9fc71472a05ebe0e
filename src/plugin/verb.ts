// What the dispatcher hands a verb, and what a verb hands back.
import type { Attachment } from '../base/ids.js';
import type { NetConf } from '../config/load.js';
import { type NetworkSession, type OpenOptions, type Store, withSession } from '../store/store.js';

export interface VerbRequest {
  conf: NetConf;
  store: Store;
  /** The attachment the call is about; empty ids for GC and STATUS. */
  att: Attachment;
  netns: string;
  podNamespace?: string;
  podName?: string;
  podUid?: string;
}

/** The JSON to print (if any) and facts for the operation log. */
export interface Outcome {
  output?: Record<string, unknown>;
  addresses?: string[];
  lockWaitMs?: number;
}

export type Verb = (req: VerbRequest) => Promise<Outcome>;

/** The plugin's open: the network is created (and host-local's files adopted) on first contact. */
export const withPluginSession = <T>(req: VerbRequest, f: (s: NetworkSession) => Promise<T>, opts?: Pick<OpenOptions, 'release'>): Promise<T> =>
  withSession(req.store, req.conf.name, { lockTimeoutMs: req.conf.lockTimeoutMs, create: true, ...opts }, f);
