// CNI error codes (SPEC.md "Error" section) plus leasehold's own codes (>= 100, listed in the README).
export const Code = {
  IncompatibleVersion: 1,
  UnsupportedField: 2,
  ContainerUnknown: 3,
  InvalidEnv: 4,
  IoFailure: 5,
  DecodeFailure: 6,
  InvalidConfig: 7,
  TryAgainLater: 11,
  PluginNotAvailable: 50,
  LimitedConnectivity: 51,
  RangeExhausted: 100,
  AddressUnavailable: 101,
  CheckMismatch: 102,
  /** libcni's ErrInternal: a bug in leasehold, never an operator error. */
  Internal: 999,
} as const;

export type CodeValue = (typeof Code)[keyof typeof Code];

/** The only error type that reaches the user: it becomes the CNI error object on stdout. */
export class CniError extends Error {
  constructor(
    readonly code: CodeValue,
    message: string,
    readonly details = '',
  ) {
    super(message);
  }
}

export const ioError = (what: string, path: string, err: unknown): CniError => {
  const e = err as NodeJS.ErrnoException;
  const why = e?.code ? `${e.code}: ${e.message}` : String(err);
  return new CniError(Code.IoFailure, `${what} ${path} failed (${why})`, path);
};
