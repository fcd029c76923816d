/** Listen addresses: `tcp:HOST:PORT` (port 0 = ephemeral; IPv6 as tcp:[::1]:PORT) or `unix:/path`. */

import { parseIpv4, parseIpv6 } from '../net/addr.js';

export type ListenAddress = { kind: 'tcp'; host: string; port: number } | { kind: 'unix'; path: string };

export const DEFAULT_LISTEN = 'tcp:127.0.0.1:7480';
export const DEFAULT_API_URL = 'http://127.0.0.1:7480';

/** The API cannot listen as configured (a malformed address, or one refused without authentication). */
export class ApiStartError extends Error {
  override name = 'ApiStartError';
}

export function parseListen(addr: string): ListenAddress {
  if (addr.startsWith('unix:')) {
    const path = addr.slice(5);
    if (path === '') throw new ApiStartError(`invalid listen address ${addr}: unix: needs a socket path`);
    return { kind: 'unix', path };
  }
  const m = /^tcp:(?:\[([0-9a-fA-F:.]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(addr);
  if (!m) throw new ApiStartError(`invalid listen address ${JSON.stringify(addr)}: expected tcp:HOST:PORT or unix:/path`);
  const port = Number(m[3]);
  if (port > 65535) throw new ApiStartError(`invalid listen address ${addr}: port out of range`);
  return { kind: 'tcp', host: m[1] ?? m[2]!, port };
}

/** Loopback hosts need no token; anything else (including 0.0.0.0 and ::) does. */
export function isLoopback(host: string): boolean {
  if (host === 'localhost') return true;
  const v4 = parseIpv4(host);
  return v4 !== undefined ? v4 >>> 24 === 127 : parseIpv6(host) === 1n;
}
