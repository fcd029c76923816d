import { readFileSync, existsSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { parse } from 'yaml';

export type Encap = 'vxlan' | 'geneve' | 'gre';

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
  logLevel: string;
  /** Watch only networks with local ports (the default); false watches every network. */
  lazySync: boolean;
  /**
   * Chassis lease TTL. A stop does not revoke the lease: an agent back within this time keeps its chassis (a
   * hitless restart); peers drop a chassis whose agent stays away longer.
   */
  leaseTtlSeconds: number;
  /** PACKET_IN budget per port (packets/s) and burst. */
  packetInRate: number;
  packetInBurst: number;
  /** Where the agent writes its API address once listening (for tools that start it). */
  readyFile?: string;
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
  apiListen: 'tcp:127.0.0.1:7676',
  logLevel: 'info',
  lazySync: true,
  leaseTtlSeconds: 10,
  packetInRate: 100,
  packetInBurst: 200,
};

/** Option name in flags / YAML key / environment variable. */
const FIELDS: [keyof AgentConfig, string, 'string' | 'number' | 'boolean'][] = [
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
  ['logLevel', 'WYVERN_LOG_LEVEL', 'string'],
  ['lazySync', 'WYVERN_LAZY_SYNC', 'boolean'],
  ['leaseTtlSeconds', 'WYVERN_LEASE_TTL', 'number'],
  ['packetInRate', 'WYVERN_PACKET_IN_RATE', 'number'],
  ['packetInBurst', 'WYVERN_PACKET_IN_BURST', 'number'],
  ['readyFile', 'WYVERN_READY_FILE', 'string'],
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
  --api-listen ADDR        tcp:HOST:PORT | unix:/path | none (default tcp:127.0.0.1:7676)
  --api-token TOKEN        bearer token for the API (required off loopback)
  --log-level LEVEL        pino level (default info)
  --lazy-sync true|false   watch only networks with local ports (default true)
  --lease-ttl-seconds N    chassis lease TTL (default 10): a stopped agent back within it keeps its chassis
  --packet-in-rate N       PACKET_IN packets/s allowed per port (default 100)
  --packet-in-burst N      PACKET_IN burst per port (default 200)
  --ready-file PATH        write {"api": URL, "pid": N} here once running
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

const ENCAPS: readonly Encap[] = ['vxlan', 'geneve', 'gre'];

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
  const options: Record<string, { type: 'string' }> = { config: { type: 'string' } };
  for (const [k] of FIELDS) options[kebab(k)] = { type: 'string' };
  let values: Record<string, string | undefined>;
  try {
    ({ values } = parseArgs({ args: argv, options, strict: true, allowPositionals: false }) as {
      values: Record<string, string | undefined>;
    });
  } catch (err) {
    throw new ConfigError((err as Error).message);
  }

  const raw: Record<string, unknown> = {};
  const file = values.config ?? (existsSync('/etc/wyvern/agent.yaml') ? '/etc/wyvern/agent.yaml' : undefined);
  if (file) {
    let doc: unknown;
    try {
      doc = parse(readFileSync(file, 'utf8'));
    } catch (err) {
      throw new ConfigError(`${file}: ${(err as Error).message}`);
    }
    if (doc !== null && (typeof doc !== 'object' || Array.isArray(doc))) throw new ConfigError(`${file}: expected a YAML mapping`);
    const known = new Set(FIELDS.flatMap(([k]) => [k, kebab(k)]));
    for (const [k, v] of Object.entries((doc ?? {}) as Record<string, unknown>)) {
      if (!known.has(k)) throw new ConfigError(`${file}: unknown setting ${k}`);
      raw[k.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase())] = v;
    }
  }
  for (const [k, envName] of FIELDS) if (env[envName] !== undefined) raw[k] = env[envName];
  for (const [k] of FIELDS) if (values[kebab(k)] !== undefined) raw[k] = values[kebab(k)];

  const cfg: Record<string, unknown> = { ...DEFAULTS, chassis: hostname };
  for (const [k, , type] of FIELDS) {
    const v = coerce(kebab(k), raw[k], type);
    if (v !== undefined) cfg[k] = v;
  }
  const c = cfg as unknown as AgentConfig;
  if (!c.tunnelIp || !/^(\d{1,3})(\.\d{1,3}){3}$/.test(c.tunnelIp)) throw new ConfigError('tunnel-ip: an IPv4 address is required');
  c.encaps = parseEncaps(String(c.encap));
  c.encap = c.encaps[0]!;
  if (c.datapathType !== 'system' && c.datapathType !== 'netdev') throw new ConfigError('datapath-type: must be system or netdev');
  if (!/^[A-Za-z0-9][A-Za-z0-9_.-]*$/.test(c.chassis)) throw new ConfigError(`chassis: invalid name ${c.chassis}`);
  c.openflow ??= `unix:/var/run/openvswitch/${c.bridge}.mgmt`;
  return c;
}
