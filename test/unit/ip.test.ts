// The address parser and formatter: spellings that must parse (and to what), spellings that must not, and
// round trips checked against two independent references in Node itself (net.isIP for validity, the WHATWG
// URL serialiser for RFC 5952 canonical IPv6 text).
import { isIP } from 'node:net';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { canonicalIp, formatCidr, formatIp, lastOf, networkOf, parseCidr, parseCidrLoose, parseIp } from '../../src/net/ip';

describe('parseCidrLoose: accepted spellings and their canonical form', () => {
  const good: Array<[string, string]> = [
    ['1.2.3.4', '1.2.3.4/32'],
    ['0.0.0.0', '0.0.0.0/32'],
    ['255.255.255.255', '255.255.255.255/32'],
    ['10.20.0.0/16', '10.20.0.0/16'],
    ['10.20.0.5/0', '10.20.0.5/0'],
    ['1.2.3.4/08', '1.2.3.4/8'],
    ['::', '::/128'],
    ['::1', '::1/128'],
    ['1::', '1::/128'],
    ['FD00::0001', 'fd00::1/128'],
    ['fd00:0:0:0:0:0:0:1', 'fd00::1/128'],
    ['0000:0000::1', '::1/128'],
    ['fd00:0::0:1', 'fd00::1/128'],
    ['1:2:3:4:5:6:7:8', '1:2:3:4:5:6:7:8/128'],
    // "::" may stand for a single zero group when reading, but RFC 5952 never writes it so.
    ['1:2:3:4:5:6:7::', '1:2:3:4:5:6:7:0/128'],
    ['::2:3:4:5:6:7:8', '0:2:3:4:5:6:7:8/128'],
    ['1:0:3:4:5:6:7:8', '1:0:3:4:5:6:7:8/128'],
    // The first of two equally long zero runs is the one compressed; a longer later run wins.
    ['2001:db8:0:0:1:0:0:1', '2001:db8::1:0:0:1/128'],
    ['2001:0:0:1:0:0:0:1', '2001:0:0:1::1/128'],
    ['0:0:0:0:0:0:0:0', '::/128'],
    ['ABCD:EF01:2345:6789:abcd:ef01:2345:6789', 'abcd:ef01:2345:6789:abcd:ef01:2345:6789/128'],
    ['fd00::/64', 'fd00::/64'],
    ['fd00::/064', 'fd00::/64'],
    ['fd00::/128', 'fd00::/128'],
    // A dotted IPv4 tail outside ::ffff:0:0/96 is an ordinary IPv6 spelling.
    ['64:ff9b::1.2.3.4', '64:ff9b::102:304/128'],
    ['1:2:3:4:5:6:1.2.3.4', '1:2:3:4:5:6:102:304/128'],
  ];
  it.each(good)('%s → %s', (text, want) => {
    expect(formatCidr(parseCidrLoose(text))).toBe(want);
  });
});

describe('parseCidrLoose: refused spellings, with the message a user sees', () => {
  const bad: Array<[string, RegExp]> = [
    ['', /^"" is not an IP address$/],
    ['a'.repeat(65), /is not an IP address/],
    ['256.1.1.1', /is not a valid IPv4 address/],
    ['01.2.3.4', /is not a valid IPv4 address/],
    ['1.2.3.04', /is not a valid IPv4 address/],
    ['1.2.3', /is not a valid IPv4 address/],
    ['1.2.3.4.5', /is not a valid IPv4 address/],
    ['1..2.3', /is not a valid IPv4 address/],
    ['0x1.2.3.4', /is not a valid IPv4 address/],
    ['１.2.3.4', /is not a valid IPv4 address/],
    [' 1.2.3.4', /is not a valid IPv4 address/],
    ['1.2.3.4 ', /is not a valid IPv4 address/],
    ['1.2.3.4\n', /is not a valid IPv4 address/],
    ['1.2.3.4\u0000', /is not a valid IPv4 address/],
    ['1.2.3.4/33', /^"1\.2\.3\.4\/33" is not a valid IPv4 address$/],
    ['1.2.3.4/-1', /is not a valid IPv4 address/],
    ['1.2.3.4/+8', /is not a valid IPv4 address/],
    ['1.2.3.4/1e1', /is not a valid IPv4 address/],
    ['1.2.3.4/', /is not a valid IPv4 address/],
    ['1.2.3.4/ 8', /is not a valid IPv4 address/],
    ['1.2.3.4/8/1', /is not a valid IPv4 address/],
    ['banana/24', /is not a valid IPv4 address/],
    ['1:2:3:4:5:6:7:8:9', /is not a valid IPv6 address/],
    ['1:2:3:4:5:6:7', /is not a valid IPv6 address/],
    ['1::2::3', /is not a valid IPv6 address/],
    ['fe80:::1', /is not a valid IPv6 address/],
    [':::', /is not a valid IPv6 address/],
    [':1', /is not a valid IPv6 address/],
    ['1:', /is not a valid IPv6 address/],
    [':1::', /is not a valid IPv6 address/],
    ['1:2:3:4:5:6:7:8::', /is not a valid IPv6 address/],
    ['12345::1', /is not a valid IPv6 address/],
    ['00000::1', /is not a valid IPv6 address/],
    ['g::1', /is not a valid IPv6 address/],
    ['[::1]', /is not a valid IPv6 address/],
    ['fd00::1 ', /is not a valid IPv6 address/],
    ['fd00::1.2.3', /is not a valid IPv6 address/],
    ['fd00::256.1.1.1', /is not a valid IPv6 address/],
    ['1.2.3.4::1', /is not a valid IPv6 address/],
    ['1:2:3:4:5:6:7:1.2.3.4', /is not a valid IPv6 address/],
    ['fd00::/129', /is not a valid IPv6 address/],
    ['fd00::/-1', /is not a valid IPv6 address/],
    ['fd00::1/64/1', /is not a valid IPv6 address/],
    ['fe80::1%eth0', /carries an IPv6 zone/],
    ['fe80::1%eth0/64', /carries an IPv6 zone/],
    // IPv4-mapped in every spelling: dotted, hex, uncompressed, as a network.
    ['::ffff:10.20.0.5', /is an IPv4-mapped IPv6 address; write the IPv4 address instead/],
    ['::FFFF:10.20.0.5', /IPv4-mapped/],
    ['::ffff:a14:5', /IPv4-mapped/],
    ['0:0:0:0:0:ffff:a14:5', /IPv4-mapped/],
    ['0000:0000:0000:0000:0000:ffff:0a14:0005', /IPv4-mapped/],
    ['0:0:0:0:0:ffff:10.20.0.5', /IPv4-mapped/],
    ['::ffff:c000:201', /IPv4-mapped/],
    ['::ffff:0:0/96', /IPv4-mapped/],
    ['::ffff:10.20.0.0/112', /IPv4-mapped/],
    ['::ffff:1.2.3.4/128', /IPv4-mapped/],
  ];
  it.each(bad)('%j', (text, re) => {
    expect(() => parseCidrLoose(text)).toThrow(re);
  });
  it('non-strings are refused, not crashed on', () => {
    for (const v of [undefined, null, 5, {}, ['1.2.3.4']]) expect(() => parseCidrLoose(v as never)).toThrow(/is not an IP address/);
  });
});

describe('parseCidr, parseIp, canonicalIp, networkOf, lastOf', () => {
  it('parseCidr requires a prefix', () => {
    expect(() => parseCidr('10.0.0.0')).toThrow('"10.0.0.0" is not in CIDR form (address/prefix)');
    expect(formatCidr(parseCidr('10.0.0.0/8'))).toBe('10.0.0.0/8');
  });
  it('parseIp ignores a prefix', () => {
    expect(parseIp('10.0.0.7/24')).toEqual({ family: 4, value: 0x0a000007n });
    expect(parseIp('fd00::1/64')).toEqual({ family: 6, value: (0xfd00n << 112n) | 1n });
  });
  it('canonicalIp gives one text per address', () => {
    expect(canonicalIp('FD00:0000::0001')).toBe('fd00::1');
    expect(canonicalIp('10.0.0.1')).toBe('10.0.0.1');
  });
  it('network and last address of a CIDR', () => {
    const c = parseCidr('10.20.30.40/20');
    expect(formatIp({ family: 4, value: networkOf(c) })).toBe('10.20.16.0');
    expect(formatIp({ family: 4, value: lastOf(c) })).toBe('10.20.31.255');
    const c6 = parseCidr('fd00:1:2:3:4::9/66');
    expect(formatIp({ family: 6, value: networkOf(c6) })).toBe('fd00:1:2:3::');
    expect(formatIp({ family: 6, value: lastOf(c6) })).toBe('fd00:1:2:3:3fff:ffff:ffff:ffff');
  });
});

// Whole-range properties, with references independent of this parser.
const v4 = fc.bigInt({ min: 0n, max: (1n << 32n) - 1n });
// Biased towards zero groups, so compression runs of every length and position are exercised.
const group = fc.oneof(fc.constant(0), fc.constant(0), fc.integer({ min: 0, max: 0xffff }));
const v6 = fc
  .array(group, { minLength: 8, maxLength: 8 })
  .map((gs) => gs.reduce((v, g) => (v << 16n) | BigInt(g), 0n))
  .filter((v) => v >> 32n !== 0xffffn);
const url6 = (text: string) => new URL(`http://[${text}]/`).hostname.slice(1, -1);

describe('properties', () => {
  it('IPv4: format → parse is the identity, and the text is what net.isIP and inet notation agree on', () => {
    fc.assert(
      fc.property(v4, fc.integer({ min: 0, max: 32 }), (value, prefix) => {
        const text = formatIp({ family: 4, value });
        expect(isIP(text)).toBe(4);
        expect(parseCidrLoose(`${text}/${prefix}`)).toEqual({ ip: { family: 4, value }, prefix });
      }),
      { numRuns: 2000 },
    );
  });
  it('IPv6: format is RFC 5952 (as the WHATWG URL serialiser writes it), and parse → format round-trips', () => {
    fc.assert(
      fc.property(v6, fc.integer({ min: 0, max: 128 }), (value, prefix) => {
        const text = formatIp({ family: 6, value });
        expect(url6(text)).toBe(text);
        expect(parseCidrLoose(`${text}/${prefix}`)).toEqual({ ip: { family: 6, value }, prefix });
      }),
      { numRuns: 2000 },
    );
  });
  it('IPv6: every uncompressed, upper-case or zero-padded spelling parses to the same address', () => {
    fc.assert(
      fc.property(v6, fc.boolean(), fc.boolean(), (value, upper, pad) => {
        const groups = Array.from({ length: 8 }, (_, i) => (value >> BigInt(112 - 16 * i)) & 0xffffn);
        let text = groups.map((g) => g.toString(16).padStart(pad ? 4 : 1, '0')).join(':');
        if (upper) text = text.toUpperCase();
        expect(parseIp(text)).toEqual({ family: 6, value });
        expect(canonicalIp(text)).toBe(url6(text));
      }),
      { numRuns: 1000 },
    );
  });
  it('any string: accepted exactly when net.isIP accepts it (zones and IPv4-mapped aside)', () => {
    const alphabet = fc.constantFrom(...'0123456789abcdefABCDEF:.%/ x'.split(''));
    const near = fc.oneof(
      fc.string({ unit: alphabet, maxLength: 45 }),
      fc.tuple(v6, fc.integer({ min: 0, max: 7 })).map(([v, cut]) => formatIp({ family: 6, value: v }).slice(0, 39 - cut)),
    );
    fc.assert(
      fc.property(near, (text) => {
        if (text.includes('/') || text.includes('%')) return;
        let ours: number;
        try {
          ours = parseIp(text).family;
        } catch (e) {
          if (/IPv4-mapped/.test((e as Error).message)) return;
          ours = 0;
        }
        expect(ours, text).toBe(isIP(text));
      }),
      { numRuns: 5000 },
    );
  });
});
