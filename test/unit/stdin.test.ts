// The config is read once per process: by the executable's first script when it picks the code cache, and
// handed to the plugin bundle, which must then see what was read and never block on a second read.
import { closeSync, mkdtempSync, openSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { codeCacheFor } from '../../src/base/embedded';
import { MAX_STDIN, readStdinAhead, readStdinOnce } from '../../src/base/stdin';

describe('reading stdin once', () => {
  const dir = mkdtempSync(join(tmpdir(), 'leasehold-stdin-'));
  const fds: number[] = [];
  const fdOf = (name: string, data: string | Buffer): number => {
    writeFileSync(join(dir, name), data);
    const fd = openSync(join(dir, name), 'r');
    fds.push(fd);
    return fd;
  };
  afterEach(() => {
    for (const fd of fds.splice(0)) closeSync(fd);
    // Nothing handed over may leak into the next case.
    readStdinOnce(fdOf('drain', ''));
  });
  afterAll(() => {
    for (const fd of fds.splice(0)) closeSync(fd);
    rmSync(dir, { recursive: true });
  });

  it('hands what was read ahead to the next read, once', () => {
    expect(readStdinAhead(fdOf('conf', '{"cniVersion":"1.0.0"}'))).toBe('{"cniVersion":"1.0.0"}');
    expect(readStdinOnce(fdOf('other', 'not this'))).toEqual({ text: '{"cniVersion":"1.0.0"}' });
    expect(readStdinOnce(fdOf('later', 'read now'))).toEqual({ text: 'read now' });
  });

  it('hands over a config too large to read, as too large', () => {
    expect(readStdinAhead(fdOf('big', Buffer.alloc(MAX_STDIN + 1, 0x20)))).toBeUndefined();
    expect(readStdinOnce(fdOf('other', '{}'))).toEqual({ tooLarge: true });
  });

  it('reads a closed descriptor as empty, as a runtime that gives no stdin', () => {
    const fd = fdOf('closed', 'x');
    fds.pop();
    closeSync(fd);
    expect(readStdinOnce(fd)).toEqual({ text: '' });
  });
});

describe('codeCacheFor', () => {
  it('gives a cluster config the cache trained on cluster mode, and everything else the disk one', () => {
    const conf = (ipam: object) => JSON.stringify({ cniVersion: '1.1.0', name: 'n', type: 'bridge', ipam: { type: 'leasehold', ...ipam } });
    expect(codeCacheFor(conf({ cluster: { pool: 'p' } }))).toBe('leasehold-cluster.cache');
    expect(codeCacheFor(conf({ ranges: [[{ subnet: '10.0.0.0/24' }]] }))).toBe('leasehold.cache');
    expect(codeCacheFor(undefined)).toBe('leasehold.cache');
  });
});
