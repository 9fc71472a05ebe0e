// The CLI's protobuf reader and the CRI sandbox list decoder take bytes from whatever listens on a socket.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodeSandboxList } from '../../src/cli/cri.js';
import { ProtoError, readFields } from '../../src/cli/protobuf.js';

const str = (field: number, text: string): number[] => {
  const b = [...Buffer.from(text)];
  return [(field << 3) | 2, b.length, ...b];
};
const msg = (field: number, body: number[]): number[] => [(field << 3) | 2, body.length, ...body];

describe('protobuf reader', () => {
  it('reads varints (multi-byte), strings and nested messages, and skips fixed-width fields', () => {
    const fields = readFields(Uint8Array.from([0x08, 0x96, 0x01, 0x11, 1, 2, 3, 4, 5, 6, 7, 8, 0x1d, 1, 2, 3, 4, ...str(4, 'hi')]));
    expect(fields.map((f) => [f.field, f.wire])).toEqual([
      [1, 0],
      [4, 2],
    ]);
    expect(fields[0]!.value).toBe(150);
  });

  it('decodes a ListPodSandboxResponse: id, metadata and state; unknown fields skipped', () => {
    const meta = [...str(1, 'web-0'), ...str(2, 'u-1'), ...str(3, 'prod'), 0x20, 1];
    const a = [...str(1, 'aaaa'), ...msg(2, meta), 0x18, 1, 0x20, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x10, ...str(7, 'runc')];
    const b = [...str(1, 'bbbb')];
    expect(decodeSandboxList(Uint8Array.from([...msg(1, a), ...msg(1, b)]))).toEqual([
      { id: 'aaaa', name: 'web-0', uid: 'u-1', namespace: 'prod', ready: false },
      { id: 'bbbb', name: '', uid: '', namespace: '', ready: true },
    ]);
  });

  it.each([
    ['a truncated varint', [0x08, 0x80]],
    ['a length past the end', [0x0a, 5, 1]],
    ['field number 0', [0x02, 0]],
    ['wire type 3', [0x0b]],
    ['a varint of 11 bytes', [0x08, ...Array(10).fill(0x80), 1]],
    ['a string where a message is', [0x0a, 1, 0x08]],
  ])('refuses %s with a ProtoError', (_what, bytes) => {
    expect(() => decodeSandboxList(Uint8Array.from(bytes))).toThrow(ProtoError);
  });

  it('any bytes give a list or a ProtoError, nothing else', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), (bytes) => {
        try {
          expect(Array.isArray(decodeSandboxList(bytes))).toBe(true);
        } catch (e) {
          expect(e).toBeInstanceOf(ProtoError);
        }
      }),
      { numRuns: 2000 },
    );
  });
});
