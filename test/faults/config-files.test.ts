// The files and endpoints a config names, as a namespace's user writing a NetworkAttachmentDefinition would
// aim them (docs/security.md): in-process through runPlugin with the real stores. Every refusal is code 7
// naming the key; no credential reaches the CNI error, the operation log or stderr; no secret that breaks
// its rule is read, let alone sent; the log never follows a link nor appends to a file not its own.
import { chmodSync, chownSync, existsSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { type IncomingMessage, type Server, createServer } from 'node:http';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { Code } from '../../src/base/errors';
import { runPlugin } from '../../src/plugin/dispatch';
import { NOT_ROOT, cliIn, isRoot, tempDataDir } from '../helpers/leasehold';

const SECRET = 'hunter2-s3cret';

let tmp: { dir: string; remove(): void };
let stderr: string;
beforeEach(() => {
  tmp = tempDataDir('lh-files-');
  stderr = '';
  vi.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => {
    stderr += String(chunk);
    return true;
  });
});
afterEach(() => {
  vi.restoreAllMocks();
  tmp.remove();
});

/** A loopback "etcd" that records every request: what a hostile endpoint would receive. */
let server: Server;
let seen: string[] = [];
let echo: number | undefined;
let endpoint: string;
beforeAll(async () => {
  server = createServer((req: IncomingMessage, res) => {
    let body = '';
    req.on('data', (d) => (body += d));
    req.on('end', () => {
      seen.push(`${req.url} ${body}`);
      // With echo, a hostile peer: it answers authentication by repeating the request (and so the password).
      if (echo !== undefined && req.url === '/v3/auth/authenticate') {
        res.writeHead(echo, { 'content-type': 'application/json' }).end(JSON.stringify({ error: `no such user: ${body}`, code: 3 }));
        return;
      }
      res.writeHead(503, { 'content-type': 'application/json' }).end('{"error":"etcdserver: no leader","code":14}');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  endpoint = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
});
afterAll(() => new Promise<void>((r) => server.close(() => r())));

/** A real self-signed certificate and its key, so only the rule under test can refuse them. */
const pem = { cert: '', key: '', otherKey: '' };
beforeAll(() => {
  const d = tempDataDir('lh-pem-');
  try {
    const args = ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1', '-subj', '/CN=t'];
    const r = spawnSync('openssl', [...args, '-keyout', join(d.dir, 'k'), '-out', join(d.dir, 'c')]);
    expect(r.status, String(r.stderr)).toBe(0);
    pem.cert = readFileSync(join(d.dir, 'c'), 'utf8');
    pem.key = readFileSync(join(d.dir, 'k'), 'utf8');
    const other = spawnSync('openssl', ['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:prime256v1'], { encoding: 'utf8' });
    expect(other.status, other.stderr).toBe(0);
    pem.otherKey = other.stdout;
  } finally {
    d.remove();
  }
});
beforeEach(() => {
  seen = [];
  echo = undefined;
});

const file = (name: string, text: string, mode = 0o600): string => {
  const p = join(tmp.dir, name);
  writeFileSync(p, text, { mode });
  chmodSync(p, mode);
  return p;
};

async function call(ipam: Record<string, unknown>, command = 'ADD') {
  const stdin = JSON.stringify({
    cniVersion: '1.1.0',
    name: 'net1',
    ipam: { type: 'leasehold', dataDir: join(tmp.dir, 'state'), ranges: [[{ subnet: '10.9.0.0/29' }]], timeoutMs: 300, ...ipam },
  });
  const env = { CNI_COMMAND: command, CNI_CONTAINERID: 'c1', CNI_NETNS: '/run/netns/c1', CNI_IFNAME: 'eth0', CNI_PATH: '/x' };
  const r = await runPlugin(env, () => stdin);
  return { ...r, json: r.stdout ? JSON.parse(r.stdout) : undefined };
}

const cluster = (etcd: Record<string, unknown>) => ({ cluster: { etcd, timeoutMs: 300, nodeName: 'n1' } });

/** Code 7 naming the key, and no credential anywhere the call wrote. */
function refused(r: Awaited<ReturnType<typeof call>>, key: RegExp, log?: string): void {
  expect(r.json.code, r.stdout).toBe(Code.InvalidConfig);
  expect(r.json.msg).toMatch(key);
  for (const [where, text] of [
    ['CNI error', r.stdout],
    ['stderr', stderr],
    ['operation log', log && existsSync(log) ? readFileSync(log, 'utf8') : ''],
  ]) {
    expect(text, where).not.toContain(SECRET);
    if (pem.key) expect(text, where).not.toContain(pem.key.split('\n')[1]);
    expect(text, where).not.toContain('alice');
  }
}

describe('etcd files and endpoints: code 7 naming the key, never a credential (issue 20, item 9)', () => {
  it('a caFile that cannot be read is code 7 naming caFile, on ADD and DEL', async () => {
    for (const verb of ['ADD', 'DEL']) {
      const r = await call(cluster({ endpoints: ['https://127.0.0.1:1'], caFile: join(tmp.dir, 'missing-ca.pem') }), verb);
      refused(r, /^ipam\.cluster\.etcd\.caFile \/.*missing-ca\.pem does not exist/);
    }
  });

  it('a passwordFile that cannot be read is code 7 naming passwordFile', async () => {
    const r = await call(cluster({ endpoints: [endpoint], username: 'alice', passwordFile: join(tmp.dir, 'nope') }));
    refused(r, /^ipam\.cluster\.etcd\.passwordFile .*nope does not exist/);
  });

  it('user:password in an endpoint is code 7, and the password is in neither the error, the log nor stderr', async () => {
    const log = join(tmp.dir, 'ops.log');
    for (const ep of [`http://alice:${SECRET}@127.0.0.1:2379`, `http://alice:${SECRET}@127.0.0.1:99999`]) {
      const r = await call({ ...cluster({ endpoints: [ep] }), logFile: log });
      refused(r, /^ipam\.cluster\.etcd\.endpoints\[0\] /, log);
    }
    expect(seen).toEqual([]);
  });

  it('a CA or client certificate that is not PEM is code 7 naming the key, not a failure of every connection', async () => {
    refused(
      await call(cluster({ endpoints: ['https://127.0.0.1:1'], caFile: file('ca.pem', 'not a certificate', 0o644) })),
      /^ipam\.cluster\.etcd\.caFile .* holds no PEM certificate/,
    );
    const pair = { certFile: file('c.pem', 'not a certificate', 0o644), keyFile: file('k.pem', pem.key) };
    refused(await call(cluster({ endpoints: ['https://127.0.0.1:1'], ...pair })), /^ipam\.cluster\.etcd\.certFile .*cannot be used/);
    const mismatch = { certFile: file('c2.pem', pem.cert, 0o644), keyFile: file('k2.pem', pem.otherKey) };
    refused(
      await call(cluster({ endpoints: ['https://127.0.0.1:1'], ...mismatch })),
      /^ipam\.cluster\.etcd\.certFile .*with keyFile .*cannot be used \(.*mismatch/,
    );
  });

  it('a real CA, certificate and key pass every rule: the call gets as far as connecting', async () => {
    const files = { caFile: file('ca.pem', pem.cert, 0o644), certFile: file('c.pem', pem.cert, 0o444), keyFile: file('k.pem', pem.key, 0o400) };
    const r = await call(cluster({ endpoints: ['https://127.0.0.1:1'], ...files }));
    expect(r.json.code, r.stdout).toBe(Code.TryAgainLater);
    expect(r.json.msg).toMatch(/ECONNREFUSED/);
  });
});

describe('secrets: root-owned regular files no one else may read, never sent in the clear (issue 20, item 10)', () => {
  const withPassword = (passwordFile: string) => cluster({ endpoints: [endpoint], username: 'alice', passwordFile });

  it('a good password file (0600, root, regular) is read and used: the check is not blind', async () => {
    const r = await call(withPassword(file('pw', `${SECRET}\n`)));
    expect(r.json.code).toBe(Code.TryAgainLater);
    expect(seen.some((s) => s.startsWith('/v3/auth/authenticate') && s.includes(SECRET))).toBe(true);
  });

  it('a peer that echoes the password back at authentication: it reaches neither the error, the log nor stderr', async () => {
    const log = join(tmp.dir, 'ops.log');
    for (const status of [400, 503]) {
      echo = status;
      const r = await call({ ...withPassword(file('pw', `${SECRET}\n`)), logFile: log }, 'ADD');
      expect(seen.at(-1)).toContain(SECRET);
      expect(r.json.code, r.stdout).toBe(status === 400 ? Code.InvalidConfig : Code.TryAgainLater);
      expect(r.json.msg).toContain('(password)');
      for (const text of [r.stdout, stderr, readFileSync(log, 'utf8')]) expect(text).not.toContain(SECRET);
    }
  });

  it.each<[string, () => string, RegExp]>([
    ['mode 0644', () => file('pw', SECRET, 0o644), /can be read or written by group or others \(mode 0644\)/],
    ['mode 0640', () => file('pw', SECRET, 0o640), /mode 0640/],
    [
      'a symlink to a good file',
      () => {
        const link = join(tmp.dir, 'link');
        symlinkSync(file('pw', SECRET), link);
        return link;
      },
      /is a symbolic link/,
    ],
    [
      'a FIFO',
      () => {
        const fifo = join(tmp.dir, 'fifo');
        expect(spawnSync('mkfifo', ['-m', '600', fifo]).status).toBe(0);
        return fifo;
      },
      /is not a regular file/,
    ],
    [
      'a directory',
      () => {
        mkdirSync(join(tmp.dir, 'd'), { mode: 0o700 });
        return join(tmp.dir, 'd');
      },
      /is not a regular file/,
    ],
    ['larger than 64 KiB', () => file('pw', 'x'.repeat(65 * 1024)), /is larger than 65536 bytes/],
  ])('a password file that is %s is refused before anything is sent', async (_what, make, why) => {
    const log = join(tmp.dir, 'ops.log');
    const r = await call({ ...withPassword(make()), logFile: log });
    refused(r, new RegExp(`^ipam\\.cluster\\.etcd\\.passwordFile .*${why.source}.*owned by root with mode 0600`), log);
    // The refusal is logged (the config itself was read), and the line holds no secret either.
    expect(JSON.parse(readFileSync(log, 'utf8')).code).toBe(Code.InvalidConfig);
    expect(seen).toEqual([]);
  });

  it('a password file in the kernel trees (/dev/zero, the environment of init) is refused before anything is read', async () => {
    for (const pw of ['/dev/zero', '/proc/1/environ', '/sys/kernel/notes']) {
      refused(await call(withPassword(pw)), /^ipam\.cluster\.etcd\.passwordFile "\/(dev|proc|sys)\/.*" is in \/(dev|proc|sys), the kernel's/);
    }
    expect(seen).toEqual([]);
  });

  it('a password file reached through a link to /proc/self is a kernel interface, not a file', async () => {
    const dir = join(tmp.dir, 'init');
    symlinkSync('/proc/self', dir);
    refused(await call(withPassword(join(dir, 'environ'))), /^ipam\.cluster\.etcd\.passwordFile .*init\/environ is a kernel interface, not a file/);
    expect(seen).toEqual([]);
  });

  it.skipIf(!isRoot)(`a device outside /dev is not a regular file${isRoot ? '' : ` (${NOT_ROOT})`}`, async () => {
    const zero = join(tmp.dir, 'zero');
    expect(spawnSync('mknod', ['-m', '600', zero, 'c', '1', '5']).status).toBe(0);
    refused(await call(withPassword(zero)), /^ipam\.cluster\.etcd\.passwordFile .*zero is not a regular file/);
    expect(seen).toEqual([]);
  });

  it('an empty password file is refused', async () => {
    refused(
      await call(withPassword(file('pw', '\n'))),
      /^ipam\.cluster\.etcd\.passwordFile .* is empty: write the password of ipam\.cluster\.etcd\.username in it/,
    );
    expect(seen).toEqual([]);
  });

  it.skipIf(!isRoot)(`a password file owned by another user is refused${isRoot ? '' : ` (${NOT_ROOT})`}`, async () => {
    const pw = file('pw', SECRET);
    chownSync(pw, 65534, 65534);
    const r = await call(withPassword(pw));
    refused(r, /passwordFile .* is owned by uid 65534, not by root/);
    expect(seen).toEqual([]);
  });

  it('a client key anyone may read is refused naming keyFile; a CA that others may write, naming caFile', async () => {
    const base = { endpoints: ['https://127.0.0.1:1'], caFile: file('ca.pem', pem.cert, 0o644), certFile: file('c.pem', pem.cert, 0o644) };
    refused(await call(cluster({ ...base, keyFile: file('k.pem', pem.key, 0o644) })), /^ipam\.cluster\.etcd\.keyFile .*mode 0644/);
    refused(
      await call(cluster({ ...base, caFile: file('ca2.pem', pem.cert, 0o666), keyFile: file('k.pem', pem.key) })),
      /^ipam\.cluster\.etcd\.caFile .*can be written by group or others \(mode 0666\).*writable by root only/,
    );
  });
});

describe('the operation log: no links, root-owned, only a log of its own (issue 20, item 10)', () => {
  const ok = async (ipam: Record<string, unknown>) => {
    const r = await call(ipam);
    expect(r.exitCode, r.stdout).toBe(0);
    return r;
  };

  it('a new log is made 0600 and gets one JSON line per call: the checks are not blind', async () => {
    const log = join(tmp.dir, 'ops.log');
    await ok({ logFile: log });
    await ok({ logFile: log });
    expect(
      readFileSync(log, 'utf8')
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l).verb),
    ).toEqual(['ADD', 'ADD']);
    expect(stderr).toBe('');
  });

  it('a symlink at logFile is not followed: its target is untouched', async () => {
    const target = file('target', 'precious\n');
    const log = join(tmp.dir, 'ops.log');
    symlinkSync(target, log);
    await ok({ logFile: log });
    expect(readFileSync(target, 'utf8')).toBe('precious\n');
    expect(stderr).toMatch(/cannot write log .*ops\.log/);
  });

  it.each<[string, string, number, RegExp]>([
    ['a file that is not a leasehold log', 'root:x:0:0:root:/root:/bin/bash\n', 0o600, /is not a leasehold log/],
    ['a log others may write', '', 0o622, /can be written by group or others/],
  ])('%s is not appended to', async (_what, text, mode, why) => {
    const log = file('ops.log', text, mode);
    await ok({ logFile: log });
    expect(readFileSync(log, 'utf8')).toBe(text);
    expect(stderr).toMatch(why);
  });

  it.skipIf(!isRoot)(`a log owned by another user is not appended to${isRoot ? '' : ` (${NOT_ROOT})`}`, async () => {
    const log = file('ops.log', '');
    chownSync(log, 65534, 65534);
    await ok({ logFile: log });
    expect(readFileSync(log, 'utf8')).toBe('');
    expect(stderr).toMatch(/owned by uid 65534/);
  });

  it('a FIFO at logFile does not hang the call', async () => {
    const log = join(tmp.dir, 'ops.log');
    expect(spawnSync('mkfifo', ['-m', '600', log]).status).toBe(0);
    await ok({ logFile: log });
    expect(stderr).toMatch(/cannot write log/);
  });
});

describe('the CLI says the same, without a credential (issue 20, item 9)', () => {
  it('leasehold status on a config with user:password in an endpoint, or a readable password file: exit 2, no secret', async () => {
    for (const etcd of [
      { endpoints: [`http://alice:${SECRET}@127.0.0.1:2379`] },
      { endpoints: [endpoint], username: 'alice', passwordFile: file('pw', SECRET, 0o644) },
    ]) {
      const cfg = file(
        'net1.conflist',
        JSON.stringify({
          cniVersion: '1.1.0',
          name: 'net1',
          plugins: [{ type: 'bridge', ipam: { type: 'leasehold', dataDir: join(tmp.dir, 'state'), ranges: [[{ subnet: '10.9.0.0/29' }]], cluster: { etcd } } }],
        }),
      );
      const r = await cliIn(['status', '--config', cfg, '--network', 'net1']);
      expect(r.code, r.stderr).toBe(2);
      expect(r.stderr).toMatch(/ipam\.cluster\.etcd\.(endpoints\[0\]|passwordFile)/);
      for (const text of [r.stderr, r.stdout, stderr]) {
        expect(text).not.toContain(SECRET);
        expect(text).not.toContain('alice');
      }
    }
    expect(seen).toEqual([]);
  });
});
