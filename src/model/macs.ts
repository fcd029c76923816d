/** MAC address validation and generation of locally-administered unicast MACs. */
import { randomInt } from 'node:crypto';
import { invalid } from './errors.js';

const MAC = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/;

/** Lower-cases and validates a unicast, non-zero MAC; throws INVALID naming `field`. */
export function normalizeMac(s: unknown, field: string): string {
  const mac = typeof s === 'string' ? s.toLowerCase().replaceAll('-', ':') : '';
  if (!MAC.test(mac)) throw invalid(field, `invalid MAC ${JSON.stringify(s)}: expected xx:xx:xx:xx:xx:xx`);
  if (parseInt(mac.slice(0, 2), 16) & 1) throw invalid(field, `invalid MAC ${mac}: multicast bit is set`);
  if (mac === '00:00:00:00:00:00') throw invalid(field, 'invalid MAC 00:00:00:00:00:00');
  return mac;
}

const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));

/**
 * A random locally-administered (bit 1 set) unicast (bit 0 clear) MAC. By default its 46 free bits come from one
 * randomInt (Node draws those from a cached block of entropy; randomBytes(6) costs a call into OpenSSL each time, a
 * few microseconds per port created).
 */
export function randomMac(random?: (n: number) => Buffer): string {
  if (random) {
    const b = random(6);
    b[0] = (b[0]! & 0xfc) | 0x02;
    return [...b].map((x) => HEX[x]!).join(':');
  }
  const n = randomInt(2 ** 46);
  const hi = Math.floor(n / 2 ** 40); // the 6 bits above the low 5 bytes
  let lo = n - hi * 2 ** 40;
  const bytes = [(hi << 2) | 0x02, 0, 0, 0, 0, 0];
  for (let i = 5; i >= 1; i--) {
    bytes[i] = lo % 256;
    lo = Math.floor(lo / 256);
  }
  return `${HEX[bytes[0]!]}:${HEX[bytes[1]!]}:${HEX[bytes[2]!]}:${HEX[bytes[3]!]}:${HEX[bytes[4]!]}:${HEX[bytes[5]!]}`;
}

/** A generated MAC not in `used` (collisions are astronomically rare; retry anyway). */
export function generateMac(used: { has(mac: string): boolean }, random?: (n: number) => Buffer): string {
  for (;;) {
    const mac = randomMac(random);
    if (!used.has(mac)) return mac;
  }
}
