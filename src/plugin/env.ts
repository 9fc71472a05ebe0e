// The CNI_* environment, checked per verb before anything touches the disk.
import { CniError, Code } from '../base/errors.js';
import { isValidId, validateIfname } from '../base/ids.js';

export type Verb = 'ADD' | 'DEL' | 'CHECK' | 'VERSION' | 'GC' | 'STATUS';
const VERBS: readonly Verb[] = ['ADD', 'DEL', 'CHECK', 'VERSION', 'GC', 'STATUS'];

export interface CniEnv {
  command: Verb;
  containerID: string;
  netns: string;
  ifname: string;
  args: string;
}

const show = (s: string): string => JSON.stringify(s.length > 80 ? `${s.slice(0, 80)}…` : s);

export function readEnv(env: NodeJS.ProcessEnv): CniEnv {
  const command = env.CNI_COMMAND ?? '';
  if (!(VERBS as readonly string[]).includes(command)) {
    throw new CniError(Code.InvalidEnv, `CNI_COMMAND ${show(command)} is not one of ${VERBS.join(', ')}`);
  }
  const verb = command as Verb;
  const out: CniEnv = {
    command: verb,
    containerID: env.CNI_CONTAINERID ?? '',
    netns: env.CNI_NETNS ?? '',
    ifname: env.CNI_IFNAME ?? '',
    args: env.CNI_ARGS ?? '',
  };
  // VERSION, GC and STATUS act on the whole network: they get empty id/netns/ifname and must accept that.
  if (verb === 'VERSION' || verb === 'GC' || verb === 'STATUS') return out;

  if (out.containerID === '') throw new CniError(Code.InvalidEnv, 'CNI_CONTAINERID is required');
  if (!isValidId(out.containerID)) {
    throw new CniError(
      Code.InvalidEnv,
      `CNI_CONTAINERID ${show(out.containerID)} is invalid: use letters, digits, "_", "." and "-", starting with a letter or digit`,
    );
  }
  if (verb !== 'DEL' && out.netns === '') throw new CniError(Code.InvalidEnv, 'CNI_NETNS is required');
  if (out.netns.includes('\0') || out.netns.length > 4096) throw new CniError(Code.InvalidEnv, 'CNI_NETNS is not a usable path');
  if (out.ifname === '') throw new CniError(Code.InvalidEnv, 'CNI_IFNAME is required');
  const why = validateIfname(out.ifname);
  if (why) throw new CniError(Code.InvalidEnv, `CNI_IFNAME ${show(out.ifname)} ${why}`);
  return out;
}
