// What an etcd call can fail with. The client knows nothing of CNI: the plugin maps EtcdUnavailableError to
// "try again later" (code 11) naming the endpoints, and a refusal to a configuration or I/O error. A setting
// that cannot work never reaches the client: the config refuses it (config/cluster.ts, config/secrets.ts).

/** One endpoint that gave no usable answer, and why. */
export interface AttemptFailure {
  endpoint: string;
  reason: string;
  /**
   * The request may have reached etcd and been applied: bytes were sent on an established connection and no
   * definite refusal came back (a timeout after sending, a reset, "request timed out" from etcd).
   */
  maybeApplied: boolean;
}

/**
 * No endpoint gave a usable answer within the call's time budget: none answered, or what answered was not etcd's
 * (unreadable HTTP, a body past the cap, a 200 of the wrong shape, a status etcd does not give). `outcome` matters for writes: 'not-applied' when no
 * attempt can have changed anything (every connection refused, or etcd said it did nothing), 'unknown' when
 * one may have committed, so the caller must read back before acting on the failure.
 */
export class EtcdUnavailableError extends Error {
  readonly outcome: 'not-applied' | 'unknown';

  constructor(
    readonly attempts: AttemptFailure[],
    readonly elapsedMs: number,
    readonly timeoutMs: number,
    mutating: boolean,
  ) {
    // Each endpoint once, with its latest reason: rounds of retries would otherwise repeat them.
    const last = new Map<string, { reason: string; count: number }>();
    for (const a of attempts) last.set(a.endpoint, { reason: a.reason, count: (last.get(a.endpoint)?.count ?? 0) + 1 });
    const tried = last.size
      ? [...last].map(([ep, l]) => `${ep}: ${l.reason}${l.count > 1 ? ` (${l.count} attempts)` : ''}`).join('; ')
      : 'no endpoint could be tried';
    super(`etcd unreachable after ${Math.round(elapsedMs)} ms (timeout ${timeoutMs} ms): ${tried}`);
    this.name = 'EtcdUnavailableError';
    this.outcome = mutating && attempts.some((a) => a.maybeApplied) ? 'unknown' : 'not-applied';
  }

  /** Each endpoint tried, once, in the order first tried. */
  get endpoints(): string[] {
    return [...new Set(this.attempts.map((a) => a.endpoint))];
  }
}

/**
 * etcd answered and refused the request (invalid argument, permission denied, authentication failed): asking
 * another member would give the same answer, so it is not retried, and nothing was applied.
 */
export class EtcdRequestError extends Error {
  constructor(
    readonly endpoint: string,
    readonly httpStatus: number,
    /** gRPC status code from the gateway's error body (3 invalid argument, 7 permission denied, 16 unauthenticated). */
    readonly grpcCode: number | undefined,
    readonly etcdMessage: string,
  ) {
    super(`etcd at ${endpoint} refused the request (HTTP ${httpStatus}${grpcCode === undefined ? '' : `, code ${grpcCode}`}): ${etcdMessage}`);
    this.name = 'EtcdRequestError';
  }
}
