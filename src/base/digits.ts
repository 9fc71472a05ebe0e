// Unsigned numbers read by hand. V8 compiles a regular expression to machine code on its second run, 0.1-0.3
// ms each time in a fresh process, and a call reads several of these: the prefix of every CIDR, the 16-bit
// groups of every IPv6 address, the range-set number of every cursor (docs/performance.md).

/** The value of `text` if it is 1 to `maxDigits` digits of `radix` (hex in either case), else undefined. */
export function digitsValue(text: string, radix: 10 | 16, maxDigits = Number.POSITIVE_INFINITY): number | undefined {
  if (text.length === 0 || text.length > maxDigits) return undefined;
  let value = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    const lower = c | 0x20;
    let d: number;
    if (c >= 48 && c <= 57) d = c - 48;
    else if (radix === 16 && lower >= 97 && lower <= 102) d = lower - 87;
    else return undefined;
    value = value * radix + d;
  }
  return value;
}
