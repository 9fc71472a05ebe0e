// The node's journal of releases that could not reach the cluster (cluster mode, etcd unreachable): DEL must
// never block a pod's deletion, so it records the release here and succeeds. The address stays taken in the
// cluster until a later call on this node that reaches etcd replays the journal: late cleanup can free an
// address late, never twice. One small file per pending release, written crash-safely under the node's lock.
import { join } from 'node:path';
import { ioError } from '../../base/errors.js';
import type { Attachment } from '../../base/ids.js';
import type { ReleasePolicy } from '../hold.js';
import { ensurePrivateDir, fsyncDir, fsyncPath, namesIn, readIfExists, replaceFile, unlinkIfExists } from './fsutil.js';
import { leaseFileName } from './names.js';

export const JOURNAL_DIR = 'released';

export interface PendingRelease extends Attachment {
  network: string;
  /** When DEL asked (ISO time, this node's clock): a lease of the same attachment created later is not freed. */
  at: string;
  /**
   * The record's mod_revision (decimal) when DEL read it, before etcd failed the release: the replay frees the
   * record only while it is still that one. Absent when DEL could not read the record at all.
   */
  modRevision?: string;
  /** What the DEL leaves behind (a hold, cooldowns), with the times it computed when it ran. */
  policy?: ReleasePolicy;
}

const isRevision = (v: unknown): boolean => typeof v === 'string' && /^[1-9][0-9]{0,18}$/.test(v);

export class ReleaseJournal {
  constructor(readonly dir: string) {}

  static of(networkDir: string): ReleaseJournal {
    return new ReleaseJournal(join(networkDir, JOURNAL_DIR));
  }

  /**
   * Records a release durably; a second release of the same attachment keeps the later time, and the revision
   * an earlier one read when this one could read none (the record cannot have changed: an ADD of the
   * attachment waits for its pending release, see EtcdStore.openForChange).
   */
  add(entry: PendingRelease): void {
    const name = leaseFileName(entry.containerID, entry.ifname);
    const before = entry.modRevision === undefined ? this.get(entry) : undefined;
    const merged = before?.modRevision === undefined ? entry : { ...entry, modRevision: before.modRevision };
    try {
      ensurePrivateDir(this.dir);
      replaceFile(this.dir, name, `${JSON.stringify(merged)}\n`);
      // Not released/ alone: it, the network dir or the data dir may have been made by a call killed before
      // it fsynced their parent (ensurePrivateDir syncs only what it creates), and the entry goes with them.
      fsyncPath(this.dir);
    } catch (e) {
      throw ioError('journaling a release in', this.dir, e);
    }
  }

  /** Every pending release; a file that does not parse stays on disk for an operator to look at. */
  list(): PendingRelease[] {
    const out: PendingRelease[] = [];
    for (const name of namesIn(this.dir)) {
      if (name.startsWith('.') || !name.endsWith('.json')) continue;
      const v = this.read(name);
      if (v) out.push(v);
    }
    return out.sort((a, b) => a.at.localeCompare(b.at));
  }

  /** The pending release of one attachment, if any (an unreadable entry counts as none: see list). */
  get(att: Attachment): PendingRelease | undefined {
    return this.read(leaseFileName(att.containerID, att.ifname));
  }

  private read(name: string): PendingRelease | undefined {
    try {
      const v = JSON.parse(readIfExists(join(this.dir, name)) ?? 'null') as PendingRelease | null;
      const ok = v && typeof v.containerID === 'string' && typeof v.ifname === 'string' && typeof v.at === 'string';
      return ok && (v.modRevision === undefined || isRevision(v.modRevision)) ? v : undefined;
    } catch {
      /* unreadable entries stay for an operator to look at */
      return undefined;
    }
  }

  /** Drops an entry once its release reached the cluster (or was found to be moot). */
  remove(entry: Attachment): void {
    const path = join(this.dir, leaseFileName(entry.containerID, entry.ifname));
    try {
      unlinkIfExists(path);
      fsyncDir(this.dir);
    } catch (e) {
      throw ioError('removing', path, e);
    }
  }
}
