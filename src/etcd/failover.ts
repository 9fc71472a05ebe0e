// The retry policy of one etcd call across the configured endpoints, bounded as a whole by the call's
// timeout: which endpoint is asked next, for how long, what a failed attempt means (retry elsewhere, retry
// later, may it have been applied) and when to give up.
import { nowMs } from '../base/proc.js';
import type { Endpoint } from '../config/cluster.js';
import type { Auth } from './auth.js';
import { type AttemptFailure, EtcdRequestError, EtcdUnavailableError } from './errors.js';
import { MalformedAnswer, type Wire, grpcCodeIn, notEtcds, parseJson, reasonOf, saidIn } from './gateway-json.js';
import { AttemptError, type Transport } from './transport.js';

/**
 * 503 answers in which etcd says it did not propose the request. Any other 5xx (above all "request timed
 * out", what a write gets when quorum is lost) may have been committed.
 */
const NOT_APPLIED = /no leader|too many requests|not capable|unhealthy cluster/i;

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export class Failover {
  /** Index of the endpoint that last answered: later calls start there. */
  private preferred = 0;

  constructor(
    /** Tried in this order. */
    private readonly endpoints: Endpoint[],
    private readonly timeoutMs: number,
    private readonly transport: Transport,
    private readonly auth: Auth | undefined,
    /** No call runs past this time (nowMs), whatever its own timeout leaves. */
    private readonly until = Number.POSITIVE_INFINITY,
  ) {}

  /**
   * Sends one request, moving on to the next endpoint when one refuses connections, says it is unavailable
   * or stays silent for its share of the time left. Rounds repeat while time is left and some member is
   * there but not answering yet (503 during an election, or silent); when every endpoint refuses
   * connections it fails at once instead of waiting out the budget. An answer of the wrong shape counts as
   * a failed attempt, as no answer does (a write's may have been applied); a connection kept from an earlier
   * call that turns out stale is retried once on a new one.
   */
  async call<T>(path: string, payload: Wire, mutating: boolean, decode: (w: unknown) => T): Promise<T> {
    const start = nowMs();
    const deadline = Math.min(start + this.timeoutMs, this.until);
    const failures: AttemptFailure[] = [];
    const json = JSON.stringify(payload);
    let reauthenticated = false;
    let reconnected = false;
    for (let round = 0; ; round++) {
      let worthAnotherRound = false;
      const n = this.endpoints.length;
      for (let k = 0; k < n; k++) {
        const idx = (this.preferred + k) % n;
        const ep = this.endpoints[idx]!;
        const left = deadline - nowMs();
        if (left <= 0) break;
        // Each endpoint left in the round gets an equal share, so one silent member cannot use up the budget.
        const attemptEnd = nowMs() + Math.max(1, Math.floor(left / (n - k)));
        const attemptLeft = (): number => Math.max(1, Math.floor(attemptEnd - nowMs()));
        try {
          const headers = this.auth ? await this.auth.headers(ep, attemptLeft()) : {};
          const answer = await this.transport.post(ep, path, json, headers, attemptLeft());
          const w = parseJson(answer.body);
          if (answer.status === 200) {
            let decoded: T;
            try {
              decoded = decode(w);
            } catch (e) {
              if (!(e instanceof MalformedAnswer)) throw e;
              failures.push({ endpoint: ep.url, reason: `unreadable answer: ${e.message}`, maybeApplied: mutating });
              continue;
            }
            this.preferred = idx;
            return decoded;
          }
          if (answer.status < 400) {
            failures.push({ endpoint: ep.url, reason: `unreadable answer: ${notEtcds(answer.status)}`, maybeApplied: mutating });
            continue;
          }
          const reason = reasonOf(answer.status, w, answer.body);
          if (answer.status === 401 && this.auth && !reauthenticated) {
            // The token expired or is not known to this member yet: authenticate once more and retry this endpoint.
            reauthenticated = true;
            this.auth.forget();
            failures.push({ endpoint: ep.url, reason, maybeApplied: false });
            k--;
            continue;
          }
          if (answer.status >= 500 || answer.status === 429) {
            const maybeApplied = mutating && !(answer.status === 503 && NOT_APPLIED.test(reason));
            failures.push({ endpoint: ep.url, reason, maybeApplied });
            worthAnotherRound ||= answer.status === 503;
            continue;
          }
          throw new EtcdRequestError(ep.url, answer.status, grpcCodeIn(w), saidIn(w, answer.body));
        } catch (e) {
          if (!(e instanceof AttemptError)) throw e;
          failures.push({ endpoint: e.endpoint, reason: e.reason, maybeApplied: mutating && e.maybeApplied });
          if (e.staleConnection && !reconnected) {
            reconnected = true;
            k--;
            continue;
          }
          worthAnotherRound ||= e.timedOut;
        }
      }
      const left = deadline - nowMs();
      const pause = Math.min(50 << Math.min(round, 4), left);
      if (!worthAnotherRound || left <= pause + 1) throw new EtcdUnavailableError(failures, nowMs() - start, Math.round(deadline - start), mutating);
      await sleep(pause);
    }
  }
}
