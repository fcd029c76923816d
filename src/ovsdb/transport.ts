import net from 'node:net';
import { loadTls } from '../util/lazy-tls.js';
import { explainTlsError } from '../util/tls-errors.js';
import { OvsdbError } from './errors.js';

export interface TlsFiles {
  /** PEM contents (not paths) of the CA that signs the server, our certificate and our key. */
  ca: string | Buffer;
  /** Optional only so that tests can show a server refusing a client without one. */
  cert?: string | Buffer;
  key?: string | Buffer;
}

export type Endpoint =
  { kind: 'unix'; path: string } | { kind: 'tcp'; host: string; port: number } | { kind: 'ssl'; host: string; port: number };

/** Parses OVS-style active endpoints: unix:PATH, tcp:HOST:PORT, ssl:HOST:PORT ([v6] hosts allowed). */
export function parseEndpoint(s: string): Endpoint {
  const m = /^(unix|tcp|ssl):(.+)$/.exec(s);
  if (!m) throw new OvsdbError('protocol', `bad endpoint "${s}" (want unix:PATH, tcp:HOST:PORT or ssl:HOST:PORT)`);
  const kind = m[1] as Endpoint['kind'];
  if (kind === 'unix') return { kind, path: m[2]! };
  const hp = /^(?:\[([^\]]+)\]|([^:]+)):(\d+)$/.exec(m[2]!);
  if (!hp) throw new OvsdbError('protocol', `bad endpoint "${s}": expected HOST:PORT`);
  return { kind, host: hp[1] ?? hp[2]!, port: Number(hp[3]) };
}

/**
 * Opens a stream to the endpoint and resolves once it is usable (TLS: after the handshake).
 * TLS follows the OVS model: the peer must present a certificate signed by our CA; the host name
 * is not checked, since OVS certificates name a role ("ovsdb-server id:…"), not a host.
 */
export function openStream(ep: Endpoint, tlsFiles: TlsFiles | undefined, timeoutMs: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    let sock: net.Socket;
    const timer = setTimeout(() => fail(new OvsdbError('timeout', `connect to ${describe(ep)} timed out`)), timeoutMs);
    const fail = (e: Error) => {
      clearTimeout(timer);
      sock?.destroy();
      reject(e instanceof OvsdbError ? e : connectError(ep, e));
    };
    const ok = () => {
      clearTimeout(timer);
      sock.off('error', fail);
      resolve(sock);
    };
    if (ep.kind === 'unix') sock = net.connect({ path: ep.path }, ok);
    else if (ep.kind === 'tcp') sock = net.connect({ host: ep.host, port: ep.port }, ok);
    else {
      if (!tlsFiles) {
        clearTimeout(timer);
        reject(new OvsdbError('protocol', 'ssl: endpoint needs tls { ca, cert, key }'));
        return;
      }
      sock = loadTls().connect(
        {
          host: ep.host,
          port: ep.port,
          ca: tlsFiles.ca,
          ...(tlsFiles.cert !== undefined ? { cert: tlsFiles.cert } : {}),
          ...(tlsFiles.key !== undefined ? { key: tlsFiles.key } : {}),
          rejectUnauthorized: true,
          checkServerIdentity: () => undefined,
        },
        ok,
      );
    }
    sock.once('error', fail);
  });
}

/** A failed connect; a TLS failure says why in words ("TLS failed: the peer refused our certificate: …"). */
export function connectError(ep: Endpoint, e: Error): OvsdbError {
  const tls = explainTlsError(e);
  return new OvsdbError('not-connected', `connect to ${describe(ep)}: ${tls ? `TLS failed: ${tls}` : e.message}`);
}

/** TLS failures are configuration errors: waiting for the server does not fix them. */
export function isTlsFailure(e: unknown): boolean {
  return e instanceof OvsdbError && e.message.includes(': TLS failed: ');
}

export function describe(ep: Endpoint): string {
  return ep.kind === 'unix' ? `unix:${ep.path}` : `${ep.kind}:${ep.host}:${ep.port}`;
}
