/**
 * Turns the TLS and credential settings (file paths in the config) into what the libraries take: PEM contents
 * for the store, OVSDB/OpenFlow and the API server. Read once at start, so a missing or unreadable file is one
 * clear error naming the setting rather than a TLS failure later.
 */
import { readFileSync } from 'node:fs';
import type { TlsFiles } from '../openflow/channel/endpoint.js';
import type { OpenStoreOptions } from '../store/index.js';
import type { ApiTlsOptions } from '../api/server.js';
import { ConfigError } from './config.js';

export interface TlsSettings {
  storeCa?: string;
  storeCert?: string;
  storeKey?: string;
  storeUser?: string;
  storePassword?: string;
  ovsCa?: string;
  ovsCert?: string;
  ovsKey?: string;
  apiCert?: string;
  apiKey?: string;
  apiClientCa?: string;
}

export interface AgentTls {
  /** Spread into openStore's options. */
  store: Pick<OpenStoreOptions, 'tls' | 'username' | 'password'>;
  /** Spread into OvsdbClient.connect's and OfChannel's options. */
  ovs: { tls?: TlsFiles };
  /** Spread into startApiServer's options. */
  api: { tls?: ApiTlsOptions };
}

export function readPem(setting: string, path: string): Buffer {
  let pem: Buffer;
  try {
    pem = readFileSync(path);
  } catch (err) {
    throw new ConfigError(`${setting}: cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  if (!pem.includes('-----BEGIN ')) throw new ConfigError(`${setting}: ${path} is not a PEM file`);
  return pem;
}

const opt = (setting: string, path: string | undefined): Buffer | undefined => (path ? readPem(setting, path) : undefined);

export function loadAgentTls(s: TlsSettings): AgentTls {
  const out: AgentTls = { store: {}, ovs: {}, api: {} };
  if (s.storeCa || s.storeCert) {
    const ca = opt('store-ca', s.storeCa);
    const cert = opt('store-cert', s.storeCert);
    const key = opt('store-key', s.storeKey);
    out.store.tls = { ...(ca ? { ca } : {}), ...(cert ? { cert } : {}), ...(key ? { key } : {}) };
  }
  if (s.storeUser !== undefined) out.store.username = s.storeUser;
  if (s.storePassword !== undefined) out.store.password = s.storePassword;
  if (s.ovsCa || s.ovsCert || s.ovsKey) {
    // OVS's SSL is mutual: the switch refuses a controller without a certificate its CA signed.
    if (!(s.ovsCa && s.ovsCert && s.ovsKey)) throw new ConfigError('ovs-ca, ovs-cert and ovs-key go together (OVS SSL is mutual)');
    out.ovs.tls = { ca: readPem('ovs-ca', s.ovsCa), cert: readPem('ovs-cert', s.ovsCert), key: readPem('ovs-key', s.ovsKey) };
  }
  if (s.apiCert && s.apiKey) {
    const ca = opt('api-client-ca', s.apiClientCa);
    out.api.tls = { cert: readPem('api-cert', s.apiCert), key: readPem('api-key', s.apiKey), ...(ca ? { clientCa: ca } : {}) };
  }
  return out;
}
