// Byte-level helpers for etcd keys: the JSON gateway carries keys and values as base64, and a prefix
// read needs the first key past the prefix (etcd's range_end).

/** Keys and values as the caller gives them: text (UTF-8) or raw bytes. */
export type Bytes = string | Uint8Array;

const asBuffer = (b: Bytes): Buffer => (typeof b === 'string' ? Buffer.from(b, 'utf8') : Buffer.from(b.buffer, b.byteOffset, b.byteLength));

export const toBase64 = (b: Bytes): string => asBuffer(b).toString('base64');

/** The gateway omits empty fields, so a missing key or value is the empty string. */
export const fromBase64 = (s: string | undefined): string => (s ? Buffer.from(s, 'base64').toString('utf8') : '');

/**
 * range_end covering every key that starts with `prefix`: the prefix with its last byte incremented after
 * dropping trailing 0xff bytes. A prefix of only 0xff bytes (or empty) has no such key: etcd reads "\0" as
 * "to the end of the key space".
 */
export function prefixEnd(prefix: Bytes): Buffer {
  const end = Buffer.from(asBuffer(prefix));
  for (let i = end.length - 1; i >= 0; i--) {
    if (end[i]! < 0xff) {
      end[i]! += 1;
      return end.subarray(0, i + 1);
    }
  }
  return Buffer.from([0]);
}
