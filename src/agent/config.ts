import { readFileSync, existsSync } from 'node:fs';
import { SITE_RE, SITE_RULE } from '../model/codec.js';
import { DEFAULT_SITE, ENCAPS, type Encap } from '../model/types.js';
import { isIpv4 } from '../net/addr.js';
import { parseFlags } from '../util/args.js';
import { DEFAULT_LISTEN, parseListen } from '../api/listen.js';
import { BridgeMappingError, parseBridgeMappings } from './bridge-mappings.js';
import { parseYaml } from '../util/yaml.js';

export type { Encap };

export interface AgentConfig {
  chassis: string;
  tunnelIp: string;
  /** The preferred encapsulation (encaps[0]). */
  encap: Encap;
  /** Encapsulations this chassis offers, in preference order (`--encap geneve,vxlan`); one tunnel port each. */
  encaps: Encap[];
  bridge: string;
  datapathType: 'system' | 'netdev';
  /** OVSDB endpoint: unix:/path, tcp:HOST:PORT or ssl:HOST:PORT. */
  ovsdb: string;
  /** OpenFlow endpoint of the bridge (unix:…/br-int.mgmt by default). */
  openflow: string;
  /** Store URL: etcd://…, etcds://…, level:/path, memory:. */
  store: string;
  /** Northbound API listen address: tcp:127.0.0.1:PORT or unix:/path; 'none' disables it. */
  apiListen: string;
  apiToken?: string;
  /** File holding the API token (argv is visible in ps; a 0600 file is not). */
  apiTokenFile?: string;
  /** HTTPS for the API: PEM file paths of its certificate and key; with apiClientCa, clients need a certificate it signed. */
  apiCert?: string;
  apiKey?: string;
  apiClientCa?: string;
  /** etcds://: PEM file paths of the CA that signs etcd's certificate, and our client certificate and key. */
  storeCa?: string;
  storeCert?: string;
  storeKey?: string;
  /** etcd user (instead of user:password@ in the URL). */
  storeUser?: string;
  /** etcd password: from WYVERN_STORE_PASSWORD or the YAML file, never a flag. */
  storePassword?: string;
  storePasswordFile?: string;
  /** ssl: OVSDB and OpenFlow: PEM file paths of the CA that signs the switch, our certificate and key. */
  ovsCa?: string;
  ovsCert?: string;
  ovsKey?: string;
  logLevel: string;
  /** Watch only networks with local ports (the default); false watches every network. */
  lazySync: boolean;
  /**
   * Chassis lease TTL. A stop does not revoke the lease: an agent back within this time keeps its chassis (a
   * hitless restart); peers drop a chassis whose agent stays away longer.
   */
  leaseTtlSeconds: number;
  /**
   * How long a chassis cut off from the store stays present for its peers (its chassis key's lease TTL); at least the
   * lease TTL, and equal to it when unset (one lease). Longer keeps a partitioned host's VMs reachable through a
   * partition of that length; the elected roles (gateways, centers, site gateways) stay on the shorter lease, so
   * their failover time does not change. A dead host's ports are then withdrawn by its peers only after this time.
   */
  presenceTtlSeconds?: number;
  /**
   * How often the lazy index is checked whole (issue 17): one agent of the cluster, the one holding the auditor key,
   * re-indexes routers and floating IPs written without it (an API of an older version in a rolling upgrade).
   */
  indexAuditSeconds: number;
  /**
   * Heap growth (MB) after which the agent, once quiet, gives a burst's memory back at once instead of ~10 s later
   * when V8's memory reducer would (heap-trim.ts).
   */
  heapTrimMb: number;
  /** PACKET_IN budget per port (packets/s) and burst. */
  packetInRate: number;
  packetInBurst: number;
  /** Where the agent writes its API address once listening (for tools that start it). */
  readyFile?: string;
  /** Last known topology on local disk, used when the store is unreachable at start; 'none' disables it. */
  cacheFile: string;
  /** Physical network → the OVS bridge reaching it (provider networks, issue 14); empty = none. */
  bridgeMappings: Record<string, string>;
  /**
   * The site this chassis is in (issue 16; `--site`, WYVERN_SITE, YAML `site`; default `default`). Traffic between
   * sites goes only through each site's elected gateway. Read at start: a change takes a restart.
   */
  site: string;
}

export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

const DEFAULTS = {
  encap: 'vxlan' as Encap,
  bridge: 'br-int',
  datapathType: 'system' as const,
  ovsdb: 'unix:/var/run/openvswitch/db.sock',
  store: 'level:/var/lib/wyvern/store',
  apiListen: DEFAULT_LISTEN,
  logLevel: 'info',
  lazySync: true,
  leaseTtlSeconds: 10,
  indexAuditSeconds: 600,
  heapTrimMb: 8,
  packetInRate: 100,
  packetInBurst: 200,
  cacheFile: '/var/lib/wyvern/topology-cache.json',
  site: DEFAULT_SITE,
};

/** Option name in flags / YAML key / environment variable; 'no-flag' settings are secrets that ps would show. */
const FIELDS: [keyof AgentConfig, string, 'string' | 'number' | 'boolean', 'no-flag'?][] = [
  ['chassis', 'WYVERN_CHASSIS', 'string'],
  ['tunnelIp', 'WYVERN_TUNNEL_IP', 'string'],
  ['encap', 'WYVERN_ENCAP', 'string'],
  ['bridge', 'WYVERN_BRIDGE', 'string'],
  ['datapathType', 'WYVERN_DATAPATH_TYPE', 'string'],
  ['ovsdb', 'WYVERN_OVSDB', 'string'],
  ['openflow', 'WYVERN_OPENFLOW', 'string'],
  ['store', 'WYVERN_STORE', 'string'],
  ['apiListen', 'WYVERN_API_LISTEN', 'string'],
  ['apiToken', 'WYVERN_API_TOKEN', 'string'],
  ['apiTokenFile', 'WYVERN_API_TOKEN_FILE', 'string'],
  ['apiCert', 'WYVERN_API_CERT', 'string'],
  ['apiKey', 'WYVERN_API_KEY', 'string'],
  ['apiClientCa', 'WYVERN_API_CLIENT_CA', 'string'],
  ['storeCa', 'WYVERN_STORE_CA', 'string'],
  ['storeCert', 'WYVERN_STORE_CERT', 'string'],
  ['storeKey', 'WYVERN_STORE_KEY', 'string'],
  ['storeUser', 'WYVERN_STORE_USER', 'string'],
  ['storePassword', 'WYVERN_STORE_PASSWORD', 'string', 'no-flag'],
  ['storePasswordFile', 'WYVERN_STORE_PASSWORD_FILE', 'string'],
  ['ovsCa', 'WYVERN_OVS_CA', 'string'],
  ['ovsCert', 'WYVERN_OVS_CERT', 'string'],
  ['ovsKey', 'WYVERN_OVS_KEY', 'string'],
  ['logLevel', 'WYVERN_LOG_LEVEL', 'string'],
  ['lazySync', 'WYVERN_LAZY_SYNC', 'boolean'],
  ['leaseTtlSeconds', 'WYVERN_LEASE_TTL', 'number'],
  ['presenceTtlSeconds', 'WYVERN_PRESENCE_TTL', 'number'],
  ['indexAuditSeconds', 'WYVERN_INDEX_AUDIT_SECONDS', 'number'],
  ['heapTrimMb', 'WYVERN_HEAP_TRIM_MB', 'number'],
  ['packetInRate', 'WYVERN_PACKET_IN_RATE', 'number'],
  ['packetInBurst', 'WYVERN_PACKET_IN_BURST', 'number'],
  ['readyFile', 'WYVERN_READY_FILE', 'string'],
  ['cacheFile', 'WYVERN_CACHE_FILE', 'string'],
  ['site', 'WYVERN_SITE', 'string'],
];

const kebab = (s: string) => s.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);

export const AGENT_USAGE = `usage: wyvern agent [--config FILE] [options]

Runs the wyvern agent for this hypervisor. Settings come from the YAML file (default
/etc/wyvern/agent.yaml if it exists), then environment variables, then flags (later wins).

  --config FILE            YAML config file
  --chassis NAME           this hypervisor's chassis name (WYVERN_CHASSIS; default: hostname)
  --tunnel-ip IP           underlay IP of this hypervisor (WYVERN_TUNNEL_IP; required)
  --encap LIST             tunnel encapsulations offered, in preference order: vxlan, geneve, gre or a
                           list such as geneve,vxlan (default vxlan). Towards each peer the first of these
                           that the peer also offers is used; a peer sharing none is reported unreachable
  --bridge NAME            integration bridge (default br-int)
  --datapath-type T        system or netdev (default system)
  --ovsdb ENDPOINT         OVSDB endpoint (default unix:/var/run/openvswitch/db.sock)
  --openflow ENDPOINT      OpenFlow endpoint (default unix:/var/run/openvswitch/<bridge>.mgmt)
  --store URL              etcd://HOST:PORT[,…] | etcds://… | level:/path | memory:
                           (a URL with a password belongs in WYVERN_STORE or the file, not here: ps shows flags)
  --store-ca FILE          etcds://: CA certificate (PEM) that signs the etcd members
  --store-cert FILE        etcds://: client certificate (PEM) …
  --store-key FILE         … and its key
  --store-user NAME        etcd user (or user:password@ in the URL)
  --store-password-file F  etcd password read from F (or WYVERN_STORE_PASSWORD; never a flag)
  --ovs-ca FILE            ssl: OVSDB/OpenFlow: CA certificate (PEM) that signs the switch
  --ovs-cert FILE          ssl: OVSDB/OpenFlow: our certificate (PEM) …
  --ovs-key FILE           … and its key
  --api-listen ADDR        HOST:PORT | [IPV6]:PORT | tcp:HOST:PORT | unix:/path | none (default ${DEFAULT_LISTEN})
  --api-cert FILE          serve the API over HTTPS with this certificate (PEM) …
  --api-key FILE           … and key
  --api-client-ca FILE     HTTPS clients must present a certificate signed by this CA (mutual TLS)
  --api-token TOKEN        bearer token for the API (required off loopback without --api-client-ca)
  --api-token-file FILE    the token read from FILE (preferred: ps shows --api-token)
  --log-level LEVEL        pino level (default info)
  --lazy-sync true|false   watch only networks with local ports (default true)
  --lease-ttl-seconds N    chassis lease TTL (default 10): a stopped agent back within it keeps its chassis
                           and its gateways; a dead one's gateways fail over after it
  --presence-ttl-seconds N how long a chassis cut off from the store (or dead) stays present for its peers, its
                           VMs reachable (default: the lease TTL; at least it). The elected roles stay on the
                           lease TTL. Longer rides out a partition of one host from the store
  --index-audit-seconds N  how often one agent of the cluster checks the lazy index of routers and floating
                           IPs whole and repairs what writers of an older version left out (default 600)
  --heap-trim-mb N         once the heap grew N MB (a burst: ports binding, a migration storm) and the agent
                           is quiet again, give that memory back at once, not ~10 s later (default 8)
  --packet-in-rate N       PACKET_IN packets/s allowed per port (default 100)
  --packet-in-burst N      PACKET_IN burst per port (default 200)
  --ready-file PATH        write {"api": URL, "pid": N} here once running
  --cache-file PATH        last known topology, used if the store is unreachable at start
                           (default /var/lib/wyvern/topology-cache.json; none disables it)
  --site NAME              the site this chassis is in (WYVERN_SITE; default ${DEFAULT_SITE}). Traffic between
                           sites only goes through each site's elected gateway (wyvern site gateway set);
                           a change takes an agent restart
  --bridge-mapping P:BR    physical network P is reached through OVS bridge BR (repeatable, or a comma
                           list; WYVERN_BRIDGE_MAPPINGS; YAML bridge_mappings: {P: BR}). The operator owns BR
`;

function coerce(name: string, v: unknown, type: 'string' | 'number' | 'boolean'): unknown {
  if (v === undefined || v === null) return undefined;
  if (type === 'number') {
    const n = typeof v === 'number' ? v : Number(v);
    if (!Number.isFinite(n) || n <= 0) throw new ConfigError(`${name}: expected a positive number, got ${String(v)}`);
    return n;
  }
  if (type === 'boolean') {
    if (typeof v === 'boolean') return v;
    if (v === 'true' || v === '1' || v === 'yes') return true;
    if (v === 'false' || v === '0' || v === 'no') return false;
    throw new ConfigError(`${name}: expected true or false, got ${String(v)}`);
  }
  return String(v);
}

/** `vxlan` or `geneve,vxlan` (a YAML list arrives joined with commas): known names, no repeats, not empty. */
export function parseEncaps(v: string): Encap[] {
  const list = v.split(',').map((e) => e.trim());
  for (const e of list) {
    if (!ENCAPS.includes(e as Encap)) throw new ConfigError(`encap: each must be vxlan, geneve or gre, not ${JSON.stringify(e)}`);
  }
  if (new Set(list).size !== list.length) throw new ConfigError(`encap: ${v} names an encapsulation twice`);
  return list as Encap[];
}

export function loadAgentConfig(argv: string[], env: NodeJS.ProcessEnv, hostname: string): AgentConfig {
  const options: Record<string, { type: 'string'; multiple?: boolean }> = {
    config: { type: 'string' },
    'bridge-mapping': { type: 'string', multiple: true },
  };
  for (const [k, , , noFlag] of FIELDS) if (!noFlag) options[kebab(k)] = { type: 'string' };
  for (const [k, envName, , noFlag] of FIELDS) {
    const flag = `--${kebab(k)}`;
    if (noFlag && argv.some((a) => a === flag || a.startsWith(`${flag}=`))) {
      throw new ConfigError(
        `${flag} is not accepted on the command line (ps shows it to every user): use ${envName}, --${kebab(k)}-file or the config file`,
      );
    }
  }
  let values: Record<string, string | undefined>;
  let mappingFlags: string[] | undefined;
  try {
    const parsed = parseFlags(argv, options, { positionals: false }).values;
    mappingFlags = parsed['bridge-mapping'] as string[] | undefined;
    values = parsed as Record<string, string | undefined>;
  } catch (err) {
    throw new ConfigError((err as Error).message);
  }

  const raw: Record<string, unknown> = {};
  const file = values.config ?? (existsSync('/etc/wyvern/agent.yaml') ? '/etc/wyvern/agent.yaml' : undefined);
  if (file) {
    let doc: unknown;
    try {
      const text = readFileSync(file, 'utf8');
      // An empty file (the sandbox's --config /dev/null) is no settings: the YAML library is not even loaded.
      doc = text.trim() === '' ? null : parseYaml(text);
    } catch (err) {
      throw new ConfigError(`${file}: ${(err as Error).message}`);
    }
    if (doc !== null && (typeof doc !== 'object' || Array.isArray(doc))) throw new ConfigError(`${file}: expected a YAML mapping`);
    const known = new Set(FIELDS.flatMap(([k]) => [k, kebab(k)]));
    for (const [k, v] of Object.entries((doc ?? {}) as Record<string, unknown>)) {
      if (k === 'bridge_mappings' || k === 'bridge-mappings' || k === 'bridgeMappings') {
        raw.bridgeMappings = v;
        continue;
      }
      if (!known.has(k)) throw new ConfigError(`${file}: unknown setting ${k}`);
      raw[k.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase())] = v;
    }
  }
  for (const [k, envName] of FIELDS) if (env[envName] !== undefined) raw[k] = env[envName];
  for (const [k, , , noFlag] of FIELDS) if (!noFlag && values[kebab(k)] !== undefined) raw[k] = values[kebab(k)];

  const cfg: Record<string, unknown> = { ...DEFAULTS, chassis: hostname };
  for (const [k, , type] of FIELDS) {
    const v = coerce(kebab(k), raw[k], type);
    if (v !== undefined) cfg[k] = v;
  }
  const c = cfg as unknown as AgentConfig;
  c.bridgeMappings = mappingsFrom(mappingFlags ?? env.WYVERN_BRIDGE_MAPPINGS ?? raw.bridgeMappings, c.bridge);
  if (!c.tunnelIp || !isIpv4(c.tunnelIp)) throw new ConfigError('tunnel-ip: an IPv4 address is required');
  c.encaps = parseEncaps(String(c.encap));
  c.encap = c.encaps[0]!;
  if (c.datapathType !== 'system' && c.datapathType !== 'netdev') throw new ConfigError('datapath-type: must be system or netdev');
  if (!/^[A-Za-z0-9][A-Za-z0-9_.-]*$/.test(c.chassis)) throw new ConfigError(`chassis: invalid name ${c.chassis}`);
  if (!SITE_RE.test(c.site)) throw new ConfigError(`site: invalid name ${JSON.stringify(c.site)}: ${SITE_RULE}`);
  for (const [k, v] of [
    ['lease-ttl-seconds', c.leaseTtlSeconds],
    ['presence-ttl-seconds', c.presenceTtlSeconds],
  ] as const) {
    // etcd grants leases in whole seconds.
    if (v !== undefined && !Number.isInteger(v)) throw new ConfigError(`${k}: expected whole seconds, got ${v}`);
  }
  if (c.presenceTtlSeconds !== undefined && c.presenceTtlSeconds < c.leaseTtlSeconds)
    throw new ConfigError(
      `presence-ttl-seconds: ${c.presenceTtlSeconds} is below the lease TTL (${c.leaseTtlSeconds}); give at least that`,
    );
  c.openflow ??= `unix:/var/run/openvswitch/${c.bridge}.mgmt`;
  if (c.apiListen !== 'none') {
    try {
      parseListen(c.apiListen);
    } catch (err) {
      throw new ConfigError(`api-listen: ${(err as Error).message}`);
    }
  }
  checkTlsSettings(c);
  return c;
}

/** Flags (a list), the environment (a comma list) or YAML (a mapping, or a list of pairs); later sources replaced earlier ones. */
function mappingsFrom(v: unknown, integration: string): Record<string, string> {
  if (v === undefined || v === null) return {};
  try {
    if (typeof v === 'string') return parseBridgeMappings([v], integration);
    if (Array.isArray(v)) return parseBridgeMappings(v.map(String), integration);
    if (typeof v === 'object') return parseBridgeMappings(v as Record<string, unknown>, integration);
  } catch (err) {
    if (err instanceof BridgeMappingError) throw new ConfigError(err.message);
    throw err;
  }
  throw new ConfigError('bridge_mappings: expected a mapping {physnet: bridge} or physnet:bridge pairs');
}

/** Secrets read from files named in the config, so the values never sit on a command line. */
function readSecretFile(setting: string, path: string): string {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new ConfigError(`${setting}: cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  const v = text.replace(/\r?\n$/, '');
  if (v === '') throw new ConfigError(`${setting}: ${path} is empty`);
  return v;
}

/** Pairs that only make sense together, and TLS endpoints without their files, are refused before anything starts. */
function checkTlsSettings(c: AgentConfig): void {
  if (c.apiTokenFile) {
    if (c.apiToken !== undefined) throw new ConfigError('api-token and api-token-file: give one of them');
    c.apiToken = readSecretFile('api-token-file', c.apiTokenFile);
  }
  if (c.storePasswordFile) {
    if (c.storePassword !== undefined)
      throw new ConfigError('store password: WYVERN_STORE_PASSWORD (or store-password) and store-password-file both set; give one');
    c.storePassword = readSecretFile('store-password-file', c.storePasswordFile);
  }
  const pair = (a: string, av: string | undefined, b: string, bv: string | undefined) => {
    if ((av === undefined) !== (bv === undefined))
      throw new ConfigError(`${av === undefined ? a : b} is required with ${av === undefined ? b : a}`);
  };
  pair('store-cert', c.storeCert, 'store-key', c.storeKey);
  pair('ovs-cert', c.ovsCert, 'ovs-key', c.ovsKey);
  pair('api-cert', c.apiCert, 'api-key', c.apiKey);
  if (c.apiClientCa && !c.apiCert) throw new ConfigError('api-client-ca needs api-cert and api-key (mutual TLS is HTTPS)');
  if (c.store.trim().startsWith('etcds://') && !c.storeCa)
    throw new ConfigError('store-ca is required for an etcds:// store (the CA that signs the etcd members)');
  for (const [name, ep] of [
    ['ovsdb', c.ovsdb],
    ['openflow', c.openflow],
  ] as const) {
    if (ep.startsWith('ssl:') && !(c.ovsCa && c.ovsCert && c.ovsKey)) {
      throw new ConfigError(
        `${name}: an ssl: endpoint needs ovs-ca, ovs-cert and ovs-key (the switch only accepts controllers its CA signed)`,
      );
    }
  }
}
