// CNI_ARGS: "K=V;K=V". IgnoreUnknown=1|true lets callers pass keys this plugin does not know (kubelet always does).
import { CniError, Code } from '../base/errors.js';

export interface CniArgs {
  ips: string[];
  podNamespace?: string;
  podName?: string;
  podUid?: string;
}

const KNOWN = new Set(['IgnoreUnknown', 'IP', 'K8S_POD_NAMESPACE', 'K8S_POD_NAME', 'K8S_POD_INFRA_CONTAINER_ID', 'K8S_POD_UID']);

/** `strict` is false for DEL, which must succeed whatever the caller put in CNI_ARGS. */
export function parseCniArgs(text: string | undefined, strict: boolean): CniArgs {
  const out: CniArgs = { ips: [] };
  if (!text) return out;
  const pairs: Array<[string, string]> = [];
  for (const item of text.split(';')) {
    if (item === '') continue;
    const eq = item.indexOf('=');
    if (eq <= 0) {
      if (strict) throw new CniError(Code.InvalidEnv, `CNI_ARGS: "${item.slice(0, 80)}" is not a KEY=VALUE pair`);
      continue;
    }
    pairs.push([item.slice(0, eq), item.slice(eq + 1)]);
  }
  const ignore = pairs.some(([k, v]) => k === 'IgnoreUnknown' && /^(1|true)$/i.test(v));
  const unknown = pairs.filter(([k]) => !KNOWN.has(k)).map(([k]) => k);
  if (strict && unknown.length > 0 && !ignore) {
    throw new CniError(Code.InvalidEnv, `CNI_ARGS: unknown keys ${unknown.slice(0, 5).join(', ')}; add IgnoreUnknown=1 to pass them through`);
  }
  for (const [k, v] of pairs) {
    if (k === 'IP') out.ips.push(...v.split(',').filter((s) => s !== ''));
    else if (k === 'K8S_POD_NAMESPACE') out.podNamespace = v;
    else if (k === 'K8S_POD_NAME') out.podName = v;
    else if (k === 'K8S_POD_UID') out.podUid = v;
  }
  return out;
}
