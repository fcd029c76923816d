/**
 * Agents in the sandbox: one `wyvern agent` process per simulated host. The agent runs in the root
 * namespace (it reaches its host's OVS through the unix sockets in the host's run dir, and the store on
 * loopback), listens for its API on an ephemeral loopback port and reports it through a ready file.
 * Pid and API address are persisted in the sandbox state, so `status --json` shows them and `down` ends it.
 * Credentials stay off command lines and out of state.json: the store URL (which may carry a password) and
 * any extra secret settings reach the agent through its environment, and are kept for restarts in a 0600 file
 * next to the host's agent log; the state records the URL with its password masked.
 */
import { spawn } from 'node:child_process';
import { existsSync, openSync, closeSync } from 'node:fs';
import { readFile, rename, rm, writeFile } from 'node:fs/promises';
import { maskUrl } from '../store/url.js';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { isAlive, waitFor } from './proc.js';
import type { Sandbox, SandboxHost } from './sandbox.js';
import type { Encap } from '../model/types.js';
import { AGENT_NODE_FLAGS, agentEnvironment } from '../agent/node-flags.js';

export interface AgentInfo {
  pid: number;
  api: string;
  log: string;
}

export interface StartAgentOptions {
  store: string;
  encap?: Encap;
  lazySync?: boolean;
  logLevel?: string;
  /**
   * physnet:bridge pairs for --bridge-mapping. Default: the sandbox's physical network (physnet1:br-ex) when it
   * has one; [] = none (a chassis without the mapping).
   */
  bridgeMappings?: string[];
  /** Extra `wyvern agent` flags (never secrets: ps shows them; put those in env). */
  args?: string[];
  /** Extra environment for the agent (WYVERN_STORE_PASSWORD, WYVERN_API_TOKEN, …); kept only in the 0600 secrets file. */
  env?: Record<string, string>;
  timeoutMs?: number;
  /** The agent's command up to its arguments (default agentCommandLine(): the built bundle's boot, or WYVERN_CMD). */
  command?: string[];
}

/** How to run the wyvern CLI: the built JS next to this file, or the TypeScript source through tsx. */
export function wyvernCommand(): string[] {
  if (process.env.WYVERN_CMD) return process.env.WYVERN_CMD.split(' ');
  const here = fileURLToPath(new URL('.', import.meta.url));
  const built = resolve(here, '../cli/main.js');
  if (here.includes('/dist/') && existsSync(built)) return [process.execPath, built];
  const root = resolve(here, '../..');
  const dist = join(root, 'dist/src/cli/main.js');
  if (existsSync(dist)) return [process.execPath, dist];
  return [process.execPath, '--import', 'tsx', join(root, 'src/cli/main.ts')];
}

/**
 * How to run `wyvern agent`: as the package's launcher does — the agent bundle's boot (dist/agent/boot.cjs, made
 * by `npm run build`) with the agent's V8 settings — when it is built; else the CLI (`wyvernCommand()`). A
 * WYVERN_CMD runs as given.
 */
export function agentCommandLine(): string[] {
  if (process.env.WYVERN_CMD) return [...process.env.WYVERN_CMD.split(' '), 'agent'];
  const here = fileURLToPath(new URL('.', import.meta.url));
  // dist/src/sandbox/ (built) or src/sandbox/ (tests, tsx) → the package root's dist/agent/
  const root = resolve(here, here.includes('/dist/') ? '../../..' : '../..');
  const boot = join(root, 'dist/agent/boot.cjs');
  if (existsSync(boot)) return [process.execPath, ...AGENT_NODE_FLAGS, boot];
  const [cmd, ...pre] = wyvernCommand();
  return [cmd!, ...(cmd === process.execPath ? AGENT_NODE_FLAGS : []), ...pre, 'agent'];
}

const SECRETS_FILE = 'agent.secrets.json';

/** Writes a file only its owner can read, whole (temp + rename): a reader never sees half, nobody else sees any. */
async function writePrivate(path: string, text: string): Promise<void> {
  const tmp = `${path}.${process.pid}.tmp`;
  await writeFile(tmp, text, { mode: 0o600 });
  await rename(tmp, path);
}

/** The options a host's agent last ran with, secrets included (from the host's 0600 secrets file). */
export async function savedAgentOptions(sb: Sandbox, hostName: string): Promise<StartAgentOptions | undefined> {
  const host = sb.host(hostName);
  const saved = host.extras.agentConfig as StartAgentOptions | undefined;
  if (!saved) return undefined;
  const raw = await readFile(join(sb.runDir, host.name, SECRETS_FILE), 'utf8').catch(() => undefined);
  const secrets = raw ? (JSON.parse(raw) as Pick<StartAgentOptions, 'store' | 'env'>) : {};
  return { ...saved, ...secrets };
}

export function agentOf(host: SandboxHost): AgentInfo | undefined {
  return host.extras.agent as AgentInfo | undefined;
}

export async function startAgent(sb: Sandbox, hostName: string, opts: StartAgentOptions): Promise<AgentInfo> {
  const host = sb.host(hostName);
  const existing = agentOf(host);
  if (existing && (await isAlive(existing.pid))) throw new Error(`${hostName}: agent already running (pid ${existing.pid})`);
  const runDir = join(sb.runDir, host.name);
  const readyFile = join(runDir, 'agent.ready');
  const log = join(runDir, 'agent.log');
  await rm(readyFile, { force: true });
  const args = [
    // Sandbox agents never read the host's /etc/wyvern/agent.yaml (a hypervisor's own agent's settings).
    '--config',
    '/dev/null',
    '--chassis',
    host.name,
    '--tunnel-ip',
    host.tunnelIp,
    '--encap',
    opts.encap ?? sb.encap,
    '--datapath-type',
    'netdev',
    '--ovsdb',
    `unix:${host.ovs.dbSock}`,
    '--openflow',
    `unix:${host.ovs.mgmtSock()}`,
    '--api-listen',
    'tcp:127.0.0.1:0',
    '--ready-file',
    readyFile,
    '--cache-file',
    join(runDir, 'topology-cache.json'),
    '--log-level',
    opts.logLevel ?? 'info',
    '--lazy-sync',
    String(opts.lazySync ?? true),
    '--lease-ttl-seconds',
    '5',
    ...(opts.bridgeMappings ?? (sb.physnet ? [`${sb.physnet.name}:${sb.physnet.bridge}`] : [])).flatMap((m) => ['--bridge-mapping', m]),
    ...(opts.args ?? []),
  ];
  const [cmd, ...pre] = opts.command ?? agentCommandLine();
  const fd = openSync(log, 'a');
  // The store URL goes through the environment (/proc/PID/environ is private to the owner), not argv.
  // The agent's environment as the package's launcher makes it (agentEnvironment), unless the test says otherwise.
  const env = { ...agentEnvironment(process.env), ...opts.env, WYVERN_STORE: opts.store };
  const child = spawn(cmd!, [...pre, ...args], { detached: true, stdio: ['ignore', fd, fd], env });
  closeSync(fd);
  child.unref();
  const pid = child.pid!;
  let exited: number | null = null;
  child.on('exit', (code) => (exited = code ?? -1));
  await sb.trackProcess(host, 'agent', pid);
  try {
    await waitFor(
      `agent on ${hostName} to be ready`,
      () => {
        if (exited !== null) throw new Error(`agent on ${hostName} exited with ${exited}; see ${log}`);
        return existsSync(readyFile);
      },
      opts.timeoutMs ?? 30_000,
    );
  } catch (err) {
    // Not ready in time: it is not left running unseen (the host's state does not name it as its agent yet).
    if (exited === null) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // gone meanwhile
      }
    }
    const tail = (await readFile(log, 'utf8').catch(() => '')).split('\n').slice(-15).join('\n');
    throw new Error(`${(err as Error).message}\n${tail}`);
  }
  const ready = JSON.parse(await readFile(readyFile, 'utf8')) as { api: string };
  const info: AgentInfo = { pid, api: ready.api, log };
  await sb.setHostExtra(host, 'agent', info);
  await writePrivate(join(runDir, SECRETS_FILE), JSON.stringify({ store: opts.store, ...(opts.env ? { env: opts.env } : {}) }) + '\n');
  const { env: _secretEnv, ...shown } = opts;
  await sb.setHostExtra(host, 'agentConfig', { ...shown, store: maskUrl(opts.store) });
  return info;
}

/** Starts a host's agent again with the options it last ran with (`wyvern sandbox agent start HOST`). */
export async function restartAgent(sb: Sandbox, hostName: string, overrides: Partial<StartAgentOptions> = {}): Promise<AgentInfo> {
  const saved = await savedAgentOptions(sb, hostName);
  const store = overrides.store ?? saved?.store;
  if (!store) throw new Error(`${hostName}: no store known for its agent; give --store URL`);
  return startAgent(sb, hostName, { ...saved, ...overrides, store });
}

/** Stops a host's agent: SIGTERM (a restart: it withdraws nothing) or SIGKILL (crash injection). */
export async function stopAgent(sb: Sandbox, hostName: string, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  const host = sb.host(hostName);
  const info = agentOf(host);
  if (!info) return;
  if (await isAlive(info.pid)) {
    process.kill(info.pid, signal);
    await waitFor(`agent ${info.pid} to exit`, async () => !(await isAlive(info.pid)), 10_000);
  }
  await sb.untrackProcess(host, 'agent');
  await sb.setHostExtra(host, 'agent', undefined);
}

export async function startAgents(sb: Sandbox, opts: StartAgentOptions): Promise<AgentInfo[]> {
  return Promise.all(sb.hosts.map((h) => startAgent(sb, h.name, opts)));
}
