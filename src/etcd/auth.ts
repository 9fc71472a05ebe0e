// etcd's username/password auth: the token /v3/auth/authenticate gives for the credentials goes with every
// request. One authentication per client (calls made meanwhile wait for it); the failover asks for a new one
// when a request is refused as unauthenticated.
import type { Endpoint } from '../config/cluster.js';
import { EtcdRequestError } from './errors.js';
import { grpcCodeIn, isObject, notEtcds, parseJson, reasonOf, saidIn } from './gateway-json.js';
import { isHeaderValue } from './http1.js';
import { AttemptError, type Transport } from './transport.js';

export interface Credentials {
  name: string;
  password: string;
}

export class Auth {
  private token?: Promise<string>;

  constructor(
    private readonly transport: Transport,
    private readonly credentials: Credentials,
  ) {}

  /** The headers that authenticate a request to `ep`, authenticating there first when no token is held. */
  async headers(ep: Endpoint, timeoutMs: number): Promise<Record<string, string>> {
    return { authorization: await this.tokenFrom(ep, timeoutMs) };
  }

  /**
   * Drops the token: tokens expire (simple tokens after 5 idle minutes) and are unknown to a member that has
   * not applied the authentication yet.
   */
  forget(): void {
    this.token = undefined;
  }

  private async tokenFrom(ep: Endpoint, timeoutMs: number): Promise<string> {
    this.token ??= this.authenticate(ep, timeoutMs);
    const pending = this.token;
    try {
      return await pending;
    } catch (e) {
      if (this.token === pending) this.token = undefined;
      throw e;
    }
  }

  private async authenticate(ep: Endpoint, timeoutMs: number): Promise<string> {
    const { name, password } = this.credentials;
    const answer = await this.transport.post(ep, '/v3/auth/authenticate', JSON.stringify(this.credentials), {}, timeoutMs);
    const w = parseJson(answer.body);
    if (answer.status === 200) {
      // The token goes into a header of every later request: one with CR or LF would inject others.
      const token = isObject(w) ? w.token : undefined;
      if (typeof token === 'string' && token !== '' && isHeaderValue(token)) return token;
      throw new AttemptError(ep.url, 'unreadable answer: authenticate gave no usable token', false);
    }
    // A peer may echo the request back: the password never reaches a message.
    const scrub = (text: string): string => text.split(password).join('(password)');
    if (answer.status < 400) throw new AttemptError(ep.url, `unreadable answer: authenticate: ${notEtcds(answer.status)}`, false);
    if (answer.status >= 500 || answer.status === 429) throw new AttemptError(ep.url, scrub(`authenticate: ${reasonOf(answer.status, w, answer.body)}`), false);
    throw new EtcdRequestError(ep.url, answer.status, grpcCodeIn(w), scrub(`authenticate as ${name}: ${saidIn(w, answer.body)}`));
  }
}
