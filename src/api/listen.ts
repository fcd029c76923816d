/**
 * Listen addresses as users type them: `HOST:PORT` (as etcd and Consul take it; IPv6 as `[::1]:PORT`),
 * `tcp:HOST:PORT`, `unix:/path`, or `none` where the API may be switched off (the agent). Port 0 = ephemeral.
 */

import { parseIpv4, parseIpv6 } from '../net/addr.js';

export type ListenAddress = { kind: 'tcp'; host: string; port: number } | { kind: 'unix'; path: string };

/** The API's port everywhere: agent, standalone `wyvern api` and the CLI's default URL. */
export const DEFAULT_API_PORT = 7676;
export const DEFAULT_LISTEN = `tcp:127.0.0.1:${DEFAULT_API_PORT}`;
export const DEFAULT_API_URL = `http://127.0.0.1:${DEFAULT_API_PORT}`;

/** The API cannot listen as configured (a malformed address, or one refused without authentication). */
export class ApiStartError extends Error {
  override name = 'ApiStartError';
}

const EXPECTED = 'expected HOST:PORT, [IPV6]:PORT, tcp:HOST:PORT or unix:/path';
/** A DNS name or IPv4 address (no spaces, slashes, colons or brackets). */
const HOSTNAME = /^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*\.?$/;

export function parseListen(input: string): ListenAddress {
  const addr = input.trim();
  const bad = (why: string) => new ApiStartError(`invalid listen address ${JSON.stringify(input)}: ${why}`);
  if (addr === '') throw bad(EXPECTED);
  if (addr === 'none') throw bad('"none" switches the agent\'s API off; here an address is needed');
  if (addr.startsWith('unix:')) {
    const path = addr.slice(5);
    if (path === '') throw bad('unix: needs a socket path');
    return { kind: 'unix', path };
  }
  if (addr.startsWith('/')) throw bad(`a socket path is written unix:${addr}`);
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(addr)) throw bad(`a URL is not a listen address (${EXPECTED})`);
  const scheme = /^([a-z][a-z0-9+.-]*):[^:[\]]*:[^:]*$/i.exec(addr)?.[1];
  if (scheme !== undefined && scheme !== 'tcp' && /[g-z]/i.test(scheme)) throw bad(`unknown scheme ${scheme}: (${EXPECTED})`);
  const rest = addr.startsWith('tcp:') ? addr.slice(4) : addr;
  const m = /^(?:\[([^\]]*)\]|([^:[\]]*)):([^:]*)$/.exec(rest);
  if (!m) {
    if (!rest.startsWith('[') && rest.split(':').length > 2) throw bad('an IPv6 address goes in brackets: [::1]:PORT');
    throw bad(rest.includes(':') ? EXPECTED : `no port (${EXPECTED})`);
  }
  const host = m[1] ?? m[2]!;
  const portText = m[3]!;
  const numeric = /^[\d.]+$/.test(host);
  if (m[1] !== undefined ? parseIpv6(host) === undefined : !HOSTNAME.test(host) || (numeric && parseIpv4(host) === undefined))
    throw bad(host === '' ? 'no host (0.0.0.0:PORT listens on every address)' : `${JSON.stringify(host)} is not a host name or address`);
  if (!/^\d{1,5}$/.test(portText)) throw bad(portText === '' ? 'no port' : `port ${JSON.stringify(portText)} is not a number`);
  const port = Number(portText);
  if (port > 65535) throw bad(`port ${port} out of range (0-65535)`);
  return { kind: 'tcp', host, port };
}

/** The canonical form (`tcp:HOST:PORT`, `tcp:[V6]:PORT`, `unix:/path`) of what parseListen accepts. */
export function formatListen(a: ListenAddress): string {
  return a.kind === 'unix' ? `unix:${a.path}` : `tcp:${a.host.includes(':') ? `[${a.host}]` : a.host}:${a.port}`;
}

/** Loopback hosts need no token; anything else (including 0.0.0.0 and ::) does. */
export function isLoopback(host: string): boolean {
  if (host === 'localhost') return true;
  const v4 = parseIpv4(host);
  return v4 !== undefined ? v4 >>> 24 === 127 : parseIpv6(host) === 1n;
}
