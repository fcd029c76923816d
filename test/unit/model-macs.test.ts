import { describe, expect, it } from 'vitest';
import { generateMac, normalizeMac, randomMac } from '../../src/model/macs.js';

describe('randomMac', () => {
  it('draws locally-administered unicast MACs that normalizeMac accepts, spread over every byte', () => {
    const seen = new Set<string>();
    const firsts = new Set<string>();
    for (let i = 0; i < 2000; i++) {
      const mac = randomMac();
      expect(normalizeMac(mac, 'mac')).toBe(mac);
      const b0 = parseInt(mac.slice(0, 2), 16);
      expect(b0 & 0x03).toBe(0x02); // unicast, locally administered
      seen.add(mac);
      firsts.add(mac.slice(0, 2));
    }
    expect(seen.size).toBe(2000);
    expect(firsts.size).toBe(64); // the 6 free bits of the first byte all vary
    for (let byte = 1; byte < 6; byte++) expect(new Set([...seen].map((m) => m.split(':')[byte])).size).toBeGreaterThan(200);
  });

  it('uses the given random source when one is passed', () => {
    expect(randomMac(() => Buffer.from([0xff, 1, 2, 3, 4, 0xab]))).toBe('fe:01:02:03:04:ab');
  });

  it('generateMac skips a MAC already used', () => {
    const bytes = [Buffer.from([2, 0, 0, 0, 0, 1]), Buffer.from([2, 0, 0, 0, 0, 2])];
    expect(generateMac(new Set(['02:00:00:00:00:01']), () => bytes.shift()!)).toBe('02:00:00:00:00:02');
  });
});
