/** Parses the one-URL store naming used everywhere (config, flags, env). */
import { maskUrl } from '../util/mask.js';
import { StoreError } from './types.js';

/** The store URL as it may be shown (logs, errors, API, files): any password masked, even in a malformed URL. */
export { maskUrl };

export type StoreUrl =
  | { kind: 'memory' }
  | { kind: 'level'; path: string }
  | { kind: 'etcd'; tls: boolean; endpoints: string[]; username?: string; password?: string };

const HOST_PORT = /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/;

function bad(url: string, why: string): StoreError {
  return new StoreError(
    `invalid store URL ${JSON.stringify(maskUrl(url))}: ${why} (expected etcd://HOST:PORT[,HOST:PORT…], etcds://…, level:/path/to/dir or memory:)`,
    'BAD_URL',
  );
}

export function parseStoreUrl(url: string): StoreUrl {
  const u = url.trim();
  if (u === 'memory:' || u === 'memory://') return { kind: 'memory' };
  if (u.startsWith('level:')) {
    let path = u.slice('level:'.length);
    if (path.startsWith('//')) path = path.slice(2);
    if (path === '') throw bad(url, 'level: needs a directory path');
    return { kind: 'level', path };
  }
  const m = /^(etcds?):\/\/(.*)$/.exec(u);
  if (!m) throw bad(url, 'unknown scheme');
  let rest = m[2]!.replace(/\/+$/, '');
  let username: string | undefined;
  let password: string | undefined;
  const at = rest.lastIndexOf('@');
  if (at >= 0) {
    const cred = rest.slice(0, at);
    rest = rest.slice(at + 1);
    const colon = cred.indexOf(':');
    if (colon < 0) throw bad(url, 'credentials must be user:password');
    username = decodeURIComponent(cred.slice(0, colon));
    password = decodeURIComponent(cred.slice(colon + 1));
    if (username === '') throw bad(url, 'empty user name');
  }
  if (rest === '') throw bad(url, 'no endpoints');
  const endpoints = rest.split(',').map((hp) => {
    const h = HOST_PORT.exec(hp.trim());
    if (!h) throw bad(url, `endpoint ${JSON.stringify(hp)} is not HOST:PORT`);
    const port = Number(h[2]);
    if (port < 1 || port > 65535) throw bad(url, `port ${port} out of range`);
    return `${h[1]}:${port}`;
  });
  return { kind: 'etcd', tls: m[1] === 'etcds', endpoints, ...(username !== undefined ? { username, password } : {}) };
}
