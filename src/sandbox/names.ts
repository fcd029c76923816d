/** Naming and addressing rules of a sandbox: every namespace, link and dir carries the sandbox's prefix. */
import { parseCidr } from '../net/addr.js';
import { createHash, randomBytes } from 'node:crypto';

const PREFIX_RE = /^[a-z][a-z0-9]{1,7}$/;
const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,31}$/;

export function randomPrefix(): string {
  const alphabet = 'abcdefghijklmnopqrstuvwxyz0123456789';
  return 'wv' + [...randomBytes(4)].map((b) => alphabet[b % alphabet.length]).join('');
}

export function checkPrefix(prefix: string): void {
  // Interface names are ≤ 15 chars: prefix (≤ 8) + 'u'/'v' + index leaves room.
  if (!PREFIX_RE.test(prefix)) throw new Error(`bad sandbox prefix "${prefix}": 2-8 chars, [a-z][a-z0-9]*`);
}

export function checkName(kind: string, name: string): void {
  if (!NAME_RE.test(name)) throw new Error(`bad ${kind} name "${name}": 1-32 chars of [A-Za-z0-9_.-], not starting with [_.-]`);
}

export const names = {
  underlayNetns: (prefix: string) => `${prefix}-ul`,
  hostNetns: (prefix: string, host: string) => `${prefix}-${host}`,
  vmNetns: (prefix: string, vm: string) => `${prefix}-vm-${vm}`,
  /** Underlay-side end of host i's cable (in the underlay namespace). */
  underlayPort: (prefix: string, i: number) => `${prefix}u${i}`,
  /** Host-side end of host i's cable (a port of br-phy). */
  uplink: (prefix: string, i: number) => `${prefix}p${i}`,
  /** Host-side end of the k-th VM's veth (a port of br-int). */
  vmPort: (prefix: string, k: number) => `${prefix}v${k}`,
  tunnelPort: (encap: string) => `tun-${encap}`,
};

/** A stable hash of a string into [0, n). */
export function hashMod(s: string, n: number): number {
  return createHash('sha256').update(s).digest().readUInt32BE(0) % n;
}

export const tunnelIp = (subnetIndex: number, hostIndex: number) => `172.31.${subnetIndex}.${hostIndex}`;

/** Locally administered MAC of host i's br-phy in sandbox subnet s. */
export const tunnelMac = (subnetIndex: number, hostIndex: number) => `02:77:76:${hex(subnetIndex)}:00:${hex(hostIndex)}`;

/** A locally administered unicast MAC derived from the sandbox prefix and VM name. */
export function vmMac(prefix: string, vm: string): string {
  const d = createHash('sha256').update(`${prefix}/${vm}`).digest();
  return ['0a', hex(d[0]!), hex(d[1]!), hex(d[2]!), hex(d[3]!), hex(d[4]!)].join(':');
}

const hex = (b: number) => b.toString(16).padStart(2, '0');

const MAC_RE = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/i;
export function checkMac(mac: string): void {
  if (!MAC_RE.test(mac)) throw new Error(`bad MAC "${mac}"`);
  if ((Number.parseInt(mac.slice(0, 2), 16) & 1) !== 0) throw new Error(`MAC "${mac}" is multicast`);
}

/** Accepts "a.b.c.d/len"; returns it unchanged. */
export function checkCidr(cidr: string): string {
  if (!parseCidr(cidr)) throw new Error(`bad CIDR "${cidr}" (want a.b.c.d/len)`);
  return cidr;
}

export function checkIp(ip: string): string {
  checkCidr(`${ip}/32`);
  return ip;
}
