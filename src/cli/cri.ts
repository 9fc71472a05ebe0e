// The container runtime's list of pod sandboxes, asked over CRI (the API kubelet uses): one gRPC unary call,
// ListPodSandbox, made by hand over node:http2 on the runtime's unix socket, rather than with @grpc/grpc-js,
// which would be several times the whole CLI bundle and slow to load for one call (README, "Choices changed
// on measurements"). Loaded only by `gc --cri`. Asks runtime.v1 first, then runtime.v1alpha2 (the same
// messages), which older runtimes speak.
import { type ClientHttp2Session, connect as h2connect } from 'node:http2';
import { type Socket, connect as netConnect } from 'node:net';
import { CliError } from './context.js';
import { type Field, ProtoError, messageFields, readFields, stringField, varintField } from './protobuf.js';

/** The largest answer read: ~64 MiB is far more than a node's sandboxes with their labels and annotations. */
const MAX_ANSWER = 64 << 20;
const GRPC_UNIMPLEMENTED = 12;

export interface Sandbox {
  id: string;
  name: string;
  namespace: string;
  uid: string;
  ready: boolean;
}

class GrpcError extends Error {
  constructor(
    readonly code: number,
    message: string,
  ) {
    super(message);
  }
}

/** The socket path of a CRI endpoint: unix:///path or a bare absolute path (crictl takes both). */
export function criSocket(endpoint: string): string {
  const path = endpoint.startsWith('unix://') ? endpoint.slice('unix://'.length) : endpoint;
  if (!path.startsWith('/')) throw new CliError(`--cri ${JSON.stringify(endpoint)}: expected unix:///path/to/runtime.sock or an absolute socket path`);
  return path;
}

/** One unary gRPC call: the request framed, the single answer message unframed, the status read. */
function unary(socket: string, path: string, request: Uint8Array, timeoutMs: number): Promise<Uint8Array> {
  return new Promise((resolve, reject) => {
    let session: ClientHttp2Session | undefined;
    let conn: Socket | undefined;
    const done = (err: Error | undefined, value?: Uint8Array): void => {
      clearTimeout(timer);
      session?.destroy();
      conn?.destroy();
      if (err) reject(err);
      else resolve(value!);
    };
    const timer = setTimeout(() => done(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
    // Connected first, so a missing socket or a refused connection is reported as such (ENOENT, ECONNREFUSED).
    conn = netConnect(socket);
    conn.once('error', (e) => done(e));
    conn.once('connect', () => {
      session = h2connect('http://localhost', { createConnection: () => conn! });
      session.on('error', (e) => done(e));
      call(session, path, request, timeoutMs, done);
    });
  });
}

/** The request on a connected session; `done` is called once with the answer or why there is none. */
function call(
  session: ClientHttp2Session,
  path: string,
  request: Uint8Array,
  timeoutMs: number,
  done: (err: Error | undefined, value?: Uint8Array) => void,
): void {
  const req = session.request({
    ':method': 'POST',
    ':path': path,
    'content-type': 'application/grpc',
    te: 'trailers',
    'grpc-timeout': `${timeoutMs}m`,
  });
  const chunks: Buffer[] = [];
  let size = 0;
  let head: Record<string, unknown> = {};
  let trailers: Record<string, unknown> = {};
  req.on('response', (h) => {
    head = h;
  });
  req.on('trailers', (t) => {
    trailers = t;
  });
  req.on('data', (c: Buffer) => {
    size += c.length;
    if (size > MAX_ANSWER) done(new Error(`answer larger than ${MAX_ANSWER} bytes`));
    else chunks.push(c);
  });
  req.on('error', (e) => done(e));
  req.on('end', () => {
    if (head[':status'] !== 200) return done(new Error(`HTTP status ${String(head[':status'])}, not a gRPC server`));
    const status = trailers['grpc-status'] ?? head['grpc-status'];
    if (status === undefined) return done(new Error('the answer carries no grpc-status'));
    if (String(status) !== '0') {
      const raw = String(trailers['grpc-message'] ?? head['grpc-message'] ?? '');
      let text = raw;
      try {
        text = decodeURIComponent(raw);
      } catch {
        /* shown as sent */
      }
      return done(new GrpcError(Number(status), `gRPC status ${String(status)}: ${text.slice(0, 200)}`));
    }
    const body = Buffer.concat(chunks);
    if (body.length < 5) return done(new Error('the answer has no message'));
    if (body[0] !== 0) return done(new Error('the answer is compressed, which was not asked for'));
    const len = body.readUInt32BE(1);
    if (5 + len !== body.length) return done(new Error(`the answer's frame says ${len} bytes, ${body.length - 5} came`));
    done(undefined, body.subarray(5));
  });
  const frame = Buffer.alloc(5 + request.length);
  frame.writeUInt32BE(request.length, 1);
  frame.set(request, 5);
  req.end(frame);
}

// PodSandbox: 1 id, 2 metadata {1 name, 2 uid, 3 namespace}, 3 state (0 ready, 1 not ready).
function sandbox(fields: Field[]): Sandbox {
  const meta = messageFields(fields, 2);
  const m = meta.length > 0 ? readFields(meta.at(-1)!) : [];
  return {
    id: stringField(fields, 1),
    name: stringField(m, 1),
    uid: stringField(m, 2),
    namespace: stringField(m, 3),
    ready: varintField(fields, 3) === 0,
  };
}

/** ListPodSandboxResponse: 1 repeated PodSandbox. */
export const decodeSandboxList = (answer: Uint8Array): Sandbox[] => messageFields(readFields(answer), 1).map((b) => sandbox(readFields(b)));

/** Every sandbox the runtime has, in any state (an empty filter). Throws a CliError saying why it could not ask. */
export async function listPodSandboxes(endpoint: string, timeoutMs: number): Promise<Sandbox[]> {
  const socket = criSocket(endpoint);
  for (const api of ['runtime.v1', 'runtime.v1alpha2']) {
    try {
      return decodeSandboxList(await unary(socket, `/${api}.RuntimeService/ListPodSandbox`, new Uint8Array(0), timeoutMs));
    } catch (e) {
      if (e instanceof GrpcError && e.code === GRPC_UNIMPLEMENTED && api === 'runtime.v1') continue;
      const why =
        e instanceof ProtoError
          ? `its answer is not a sandbox list (${e.message})`
          : e instanceof GrpcError
            ? e.message
            : ((e as NodeJS.ErrnoException).code ?? (e as Error).message);
      throw new CliError(`cannot list the runtime's pod sandboxes at ${endpoint} (${why}); nothing freed`);
    }
  }
  throw new CliError(`the runtime at ${endpoint} speaks neither CRI runtime.v1 nor v1alpha2; nothing freed`);
}
