/** Endpoint strings in Open vSwitch syntax and the sockets they open. */
import { connect as netConnect, type Socket } from 'node:net';
import type { ConnectionOptions } from 'node:tls';
import { loadTls } from '../../util/lazy-tls.js';

export type Endpoint = { kind: 'unix'; path: string } | { kind: 'tcp' | 'ssl'; host: string; port: number };

export interface TlsFiles {
  ca: Buffer | string;
  cert: Buffer | string;
  key: Buffer | string;
}

const DEFAULT_OF_PORT = 6653;

/**
 * Parses 'unix:/path', 'tcp:HOST[:PORT]', 'ssl:HOST[:PORT]' (IPv6 hosts in brackets). The passive forms
 * 'punix:/path', 'ptcp:PORT[:HOST]', 'pssl:PORT[:HOST]' are accepted too, for listeners.
 */
export function parseEndpoint(s: string): Endpoint {
  const colon = s.indexOf(':');
  const scheme = colon < 0 ? '' : s.slice(0, colon);
  const rest = s.slice(colon + 1);
  switch (scheme) {
    case 'unix':
    case 'punix':
      if (!rest) break;
      return { kind: 'unix', path: rest };
    case 'tcp':
    case 'ssl': {
      const hp = splitHostPort(rest);
      if (!hp) break;
      return { kind: scheme, host: hp.host, port: hp.port ?? DEFAULT_OF_PORT };
    }
    case 'ptcp':
    case 'pssl': {
      // OVS order: PORT[:HOST]
      const m = /^(\d*)(?::(.+))?$/.exec(rest);
      if (!m) break;
      const host = (m[2] ?? '0.0.0.0').replace(/^\[(.*)\]$/, '$1');
      return { kind: scheme === 'ptcp' ? 'tcp' : 'ssl', host, port: m[1] ? checkPort(Number(m[1]), s) : DEFAULT_OF_PORT };
    }
    default:
      break;
  }
  throw new Error(`bad OpenFlow endpoint "${s}": expected unix:PATH, tcp:HOST:PORT or ssl:HOST:PORT`);
}

function splitHostPort(s: string): { host: string; port?: number } | undefined {
  const v6 = /^\[([^\]]+)\](?::(\d+))?$/.exec(s);
  if (v6) return { host: v6[1]!, port: v6[2] ? checkPort(Number(v6[2]), s) : undefined };
  const m = /^([^:[\]]+)(?::(\d+))?$/.exec(s);
  if (m) return { host: m[1]!, port: m[2] ? checkPort(Number(m[2]), s) : undefined };
  return undefined;
}

function checkPort(p: number, s: string): number {
  if (!Number.isInteger(p) || p < 0 || p > 65535) throw new Error(`bad port in OpenFlow endpoint "${s}"`);
  return p;
}

export function formatEndpoint(ep: Endpoint): string {
  if (ep.kind === 'unix') return `unix:${ep.path}`;
  return `${ep.kind}:${ep.host.includes(':') ? `[${ep.host}]` : ep.host}:${ep.port}`;
}

/** TLS options for both sides: CA-verified peer, our certificate presented. */
export function tlsOptions(tls: TlsFiles): Pick<ConnectionOptions, 'ca' | 'cert' | 'key'> {
  return { ca: tls.ca, cert: tls.cert, key: tls.key };
}

/**
 * Opens a connection and resolves once it is established (for TLS: after the handshake verified the switch's
 * certificate against the CA). Rejects on failure; the caller owns the socket afterwards.
 */
export function dial(ep: Endpoint, tls?: TlsFiles): Promise<Socket> {
  return new Promise<Socket>((resolve, reject) => {
    let sock: Socket;
    const onError = (err: Error) => {
      sock.destroy();
      reject(err);
    };
    if (ep.kind === 'unix') {
      sock = netConnect({ path: ep.path }, () => done());
    } else if (ep.kind === 'tcp') {
      sock = netConnect({ host: ep.host, port: ep.port }, () => done());
    } else {
      if (!tls) {
        reject(new Error(`ssl endpoint ${formatEndpoint(ep)} needs tls { ca, cert, key }`));
        return;
      }
      // OVS certificates name no host: verify the chain against our CA, not the host name.
      sock = loadTls().connect({ host: ep.host, port: ep.port, ...tlsOptions(tls), checkServerIdentity: () => undefined }, () => done());
    }
    const done = () => {
      sock.off('error', onError);
      if (ep.kind !== 'unix') sock.setNoDelay(true);
      resolve(sock);
    };
    sock.once('error', onError);
  });
}
