import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isoTime } from '../../src/base/proc';

describe('isoTime', () => {
  it('is Date#toISOString for any time in years 0000-9999', () => {
    const max = Date.UTC(9999, 11, 31, 23, 59, 59, 999);
    fc.assert(
      fc.property(fc.integer({ min: new Date('0000-01-01T00:00:00Z').getTime(), max }), (ms) => {
        expect(isoTime(ms)).toBe(new Date(ms).toISOString());
      }),
      { numRuns: 20_000 },
    );
  });

  it('drops a fraction of a millisecond toward zero, as Date does (file times are fractional)', () => {
    fc.assert(
      fc.property(fc.integer({ min: -62_000_000_000_000, max: 250_000_000_000_000 }), fc.double({ min: 0, max: 0.999, noNaN: true }), (ms, f) => {
        expect(isoTime(ms + f)).toBe(new Date(ms + f).toISOString());
      }),
      { numRuns: 5_000 },
    );
  });

  it('at the edges: the epoch, leap days, year ends, a millisecond before midnight', () => {
    for (const t of [
      '1970-01-01T00:00:00.000Z',
      '2000-02-29T12:34:56.789Z',
      '1900-03-01T00:00:00.000Z',
      '2026-12-31T23:59:59.999Z',
      '0000-01-01T00:00:00.000Z',
      '9999-12-31T23:59:59.999Z',
    ])
      expect(isoTime(Date.parse(t))).toBe(t);
  });
});
