// Just enough of the protobuf wire format to read a gRPC answer: fields as (number, wire type, value), with
// varints, fixed widths skipped and length-delimited values as bytes. A malformed message is a ProtoError,
// never a crash or a read past the buffer: the bytes come from whatever listens on a socket.

export class ProtoError extends Error {}

export type FieldValue = number | Uint8Array;

export interface Field {
  field: number;
  /** 0 varint, 1 fixed64, 2 length-delimited, 5 fixed32 */
  wire: number;
  value: FieldValue;
}

/** A varint as a number: exact up to 2^53, which covers every field number, length and enum. */
function varint(buf: Uint8Array, at: number): [number, number] {
  let value = 0;
  let scale = 1;
  for (let i = 0; i < 10; i++) {
    if (at + i >= buf.length) throw new ProtoError('truncated varint');
    const b = buf[at + i]!;
    value += (b & 0x7f) * scale;
    scale *= 128;
    if ((b & 0x80) === 0) return [value, at + i + 1];
  }
  throw new ProtoError('varint longer than 10 bytes');
}

/** The fields of one message, in wire order. */
export function readFields(buf: Uint8Array): Field[] {
  const out: Field[] = [];
  let at = 0;
  while (at < buf.length) {
    const [key, next] = varint(buf, at);
    at = next;
    const field = Math.floor(key / 8);
    const wire = key % 8;
    if (field === 0) throw new ProtoError('field number 0');
    if (wire === 0) {
      const [v, n] = varint(buf, at);
      out.push({ field, wire, value: v });
      at = n;
    } else if (wire === 2) {
      const [len, n] = varint(buf, at);
      if (n + len > buf.length) throw new ProtoError(`field ${field} runs past the message (${len} bytes)`);
      out.push({ field, wire, value: buf.subarray(n, n + len) });
      at = n + len;
    } else if (wire === 1 || wire === 5) {
      const len = wire === 1 ? 8 : 4;
      if (at + len > buf.length) throw new ProtoError(`field ${field} runs past the message`);
      at += len;
    } else {
      throw new ProtoError(`wire type ${wire} of field ${field} is not one protobuf has`);
    }
  }
  return out;
}

const utf8 = new TextDecoder('utf-8', { fatal: false });

/** A singular field's value is its last occurrence on the wire. */
function last(fields: Field[], n: number): Field | undefined {
  for (let i = fields.length - 1; i >= 0; i--) if (fields[i]!.field === n) return fields[i];
  return undefined;
}

/** The last value of a string field ('' when absent, as proto3 says). */
export function stringField(fields: Field[], n: number): string {
  const f = last(fields, n);
  if (!f) return '';
  if (!(f.value instanceof Uint8Array)) throw new ProtoError(`field ${n} is not a string`);
  return utf8.decode(f.value);
}

/** The last value of a varint field (0 when absent). */
export function varintField(fields: Field[], n: number): number {
  const f = last(fields, n);
  if (!f) return 0;
  if (typeof f.value !== 'number') throw new ProtoError(`field ${n} is not a varint`);
  return f.value;
}

/** Every value of a repeated (or the one of a singular) message field, as bytes. */
export function messageFields(fields: Field[], n: number): Uint8Array[] {
  return fields
    .filter((x) => x.field === n)
    .map((f) => {
      if (!(f.value instanceof Uint8Array)) throw new ProtoError(`field ${n} is not a message`);
      return f.value;
    });
}
