/** MAC address validation and generation of locally-administered unicast MACs. */
import { randomBytes } from 'node:crypto';
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

/** A random locally-administered (bit 1 set) unicast (bit 0 clear) MAC. */
export function randomMac(random: (n: number) => Buffer = randomBytes): string {
  const b = random(6);
  b[0] = (b[0]! & 0xfc) | 0x02;
  return [...b].map((x) => x.toString(16).padStart(2, '0')).join(':');
}

/** A generated MAC not in `used` (collisions are astronomically rare; retry anyway). */
export function generateMac(used: { has(mac: string): boolean }, random?: (n: number) => Buffer): string {
  for (;;) {
    const mac = randomMac(random);
    if (!used.has(mac)) return mac;
  }
}
