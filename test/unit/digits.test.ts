// Numbers are read by hand on the plugin path: this holds the reader to the regular expressions it replaced.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { digitsValue } from '../../src/base/digits';

const CASES = [
  { radix: 16, maxDigits: 4, pattern: /^[0-9a-fA-F]{1,4}$/ },
  { radix: 10, maxDigits: 3, pattern: /^\d{1,3}$/ },
  { radix: 10, maxDigits: undefined, pattern: /^\d+$/ },
] as const;

describe('digitsValue', () => {
  // Mostly characters next to the edges of the digit classes, so most strings are near misses.
  const char = fc.constantFrom(...'0189aAfFgG/:@`{ -+.x\n\u0660'.split(''));
  const text = fc.oneof(
    fc.array(char, { maxLength: 6 }).map((a) => a.join('')),
    fc.string({ maxLength: 6 }),
  );

  for (const { radix, maxDigits, pattern } of CASES) {
    it(`is ${pattern} with the value parseInt gives`, () => {
      fc.assert(
        fc.property(text, (t) => {
          expect(digitsValue(t, radix, maxDigits)).toBe(pattern.test(t) ? Number.parseInt(t, radix) : undefined);
        }),
        { numRuns: 20_000 },
      );
    });
  }

  it('reads the edges', () => {
    expect(digitsValue('ffff', 16, 4)).toBe(0xffff);
    expect(digitsValue('FfFf', 16, 4)).toBe(0xffff);
    expect(digitsValue('10000', 16, 4)).toBeUndefined();
    expect(digitsValue('128', 10, 3)).toBe(128);
    expect(digitsValue('0128', 10, 3)).toBeUndefined();
    expect(digitsValue('', 10)).toBeUndefined();
    expect(digitsValue('a', 10)).toBeUndefined();
  });
});
