/**
 * Starts real etcd members on free loopback ports in a temp dir, for integration tests, benches and the agent's
 * code cache training (src/sandbox/code-cache-training.ts).
 * Readiness is polled on /health, never a fixed sleep. Fails loudly when `etcd` is not installed.
 *
 *   const etcd = await startEtcd({ members: 3 });
 *   const store = await openStore(etcd.url);   // etcd://127.0.0.1:P1,127.0.0.1:P2,127.0.0.1:P3
 *   await etcd.members[0].kill(); await etcd.members[0].restart();
 *   await etcd.stop();                          // call in afterAll
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { openSync, closeSync, readFileSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import { mkdtemp, mkdir, rm } from 'node:fs/promises';
import { freePort } from '../util/free-port.js';
import { ETCD_BACKEND_BATCH_LIMIT } from '../store/etcd-server-version.js';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface EtcdMember {
  name: string;
  clientUrl: string;
  /** Pid of the running process (changes on restart; 0 while killed). */
  readonly pid: number;
  kill(): Promise<void>;
  restart(): Promise<void>;
}

export interface EtcdCluster {
  /** Store URL naming every member: etcd://127.0.0.1:P[,…] (etcds:// with tls). */
  url: string;
  /** host:port of each member. */
  endpoints: string[];
  members: EtcdMember[];
  dataDir: string;
  stop(): Promise<void>;
}

/** Client TLS for the members (peers stay plain on loopback): PEM file paths. */
export interface EtcdTls {
  certFile: string;
  keyFile: string;
  /** CA for verifying client certificates (with clientCertAuth) and for the readiness probe. */
  caFile: string;
  clientCertAuth?: boolean;
  /** Client cert/key for the readiness probe when clientCertAuth is on. */
  probeCertFile?: string;
  probeKeyFile?: string;
  /** Readiness probe without verifying the member's certificate (tests of certificates a client must refuse). */
  probeInsecure?: boolean;
}

function healthyTls(clientUrl: string, tls: EtcdTls): Promise<boolean> {
  return new Promise((resolve) => {
    const req = httpsRequest(
      `${clientUrl}/health`,
      {
        ca: readFileSync(tls.caFile),
        ...(tls.probeInsecure ? { rejectUnauthorized: false } : {}),
        ...(tls.probeCertFile ? { cert: readFileSync(tls.probeCertFile), key: readFileSync(tls.probeKeyFile!) } : {}),
        timeout: 1000,
      },
      (res) => {
        let body = '';
        res.on('data', (c: Buffer) => (body += c.toString()));
        res.on('end', () => resolve(/"health":\s*"true"/.test(body)));
      },
    );
    req.on('error', () => resolve(false));
    req.on('timeout', () => req.destroy());
    req.end();
  });
}

async function healthy(clientUrl: string, tls?: EtcdTls): Promise<boolean> {
  if (tls) return healthyTls(clientUrl, tls);
  try {
    const r = await fetch(`${clientUrl}/health`, { signal: AbortSignal.timeout(1000) });
    const body = (await r.json()) as { health?: string };
    return body.health === 'true';
  } catch {
    return false;
  }
}

async function waitHealthy(
  m: { name: string; clientUrl: string; proc?: ChildProcess; log: string; tls?: EtcdTls },
  timeoutMs: number,
): Promise<void> {
  const t0 = Date.now();
  while (Date.now() - t0 < timeoutMs) {
    if (m.proc && m.proc.exitCode !== null) throw new Error(`etcd member ${m.name} exited with ${m.proc.exitCode}; see ${m.log}`);
    if (await healthy(m.clientUrl, m.tls)) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`etcd member ${m.name} not healthy after ${timeoutMs} ms; see ${m.log}`);
}

export { ETCD_BACKEND_BATCH_LIMIT };

export interface EtcdOptions {
  dataDir?: string;
  /** `--backend-batch-limit` for every member (default ETCD_BACKEND_BATCH_LIMIT; 0 leaves etcd's own, for an A/B). */
  backendBatchLimit?: number;
  members?: 1 | 3;
  readyTimeoutMs?: number;
  tls?: EtcdTls;
  /** Finds a port for each member's client and peer URLs (default `freePort`; tests give one that is taken). */
  pickPort?: () => Promise<number>;
}

/** A member could not bind the port it was given: another process took it between `freePort()` and etcd's bind. */
class PortTaken extends Error {}

function portTaken(log: string): boolean {
  try {
    return /address already in use/i.test(readFileSync(log, 'utf8'));
  } catch {
    return false;
  }
}

export async function startEtcd(opts: EtcdOptions = {}): Promise<EtcdCluster> {
  const ownDir = opts.dataDir === undefined;
  const dir = opts.dataDir ?? (await mkdtemp(join(tmpdir(), 'wyvern-etcd-')));
  for (let attempt = 1; ; attempt++) {
    try {
      return await startMembers(opts, dir, ownDir);
    } catch (err) {
      // Ports are found free before etcd binds them; a race lost there is retried with new ports, not a failed test.
      if (!(err instanceof PortTaken) || attempt >= 3) {
        if (ownDir) await rm(dir, { recursive: true, force: true });
        throw err;
      }
    }
  }
}

async function startMembers(opts: EtcdOptions, dir: string, ownDir: boolean): Promise<EtcdCluster> {
  const count = opts.members ?? 1;
  const tag = Math.random().toString(36).slice(2, 8);
  const specs: { name: string; clientPort: number; peerPort: number; dataDir: string; log: string }[] = [];
  for (let i = 0; i < count; i++) {
    const name = `wyv-${tag}-${i}`;
    const pick = opts.pickPort ?? freePort;
    specs.push({ name, clientPort: await pick(), peerPort: await pick(), dataDir: join(dir, name), log: join(dir, `${name}.log`) });
  }
  const initialCluster = specs.map((s) => `${s.name}=http://127.0.0.1:${s.peerPort}`).join(',');

  const members = specs.map((s) => {
    const clientUrl = `${opts.tls ? 'https' : 'http'}://127.0.0.1:${s.clientPort}`;
    const state: { name: string; clientUrl: string; proc?: ChildProcess; log: string; tls?: EtcdTls } = {
      name: s.name,
      clientUrl,
      log: s.log,
      ...(opts.tls ? { tls: opts.tls } : {}),
    };
    const launch = async (): Promise<void> => {
      await mkdir(s.dataDir, { recursive: true });
      const fd = openSync(s.log, 'a');
      const args = [
        '--data-dir',
        s.dataDir,
        '--name',
        s.name,
        '--listen-client-urls',
        clientUrl,
        '--advertise-client-urls',
        clientUrl,
        '--listen-peer-urls',
        `http://127.0.0.1:${s.peerPort}`,
        '--initial-advertise-peer-urls',
        `http://127.0.0.1:${s.peerPort}`,
        '--initial-cluster',
        initialCluster,
        '--initial-cluster-token',
        `wyvern-${tag}`,
        '--heartbeat-interval',
        '50',
        '--election-timeout',
        '500',
      ];
      const batchLimit = opts.backendBatchLimit ?? ETCD_BACKEND_BATCH_LIMIT;
      if (batchLimit > 0) args.push('--backend-batch-limit', String(batchLimit));
      if (opts.tls) {
        args.push('--cert-file', opts.tls.certFile, '--key-file', opts.tls.keyFile);
        if (opts.tls.clientCertAuth) args.push('--client-cert-auth', '--trusted-ca-file', opts.tls.caFile);
      }
      const proc = spawn('etcd', args, { stdio: ['ignore', fd, fd] });
      closeSync(fd);
      await new Promise<void>((resolve, reject) => {
        proc.once('spawn', () => resolve());
        proc.once('error', (err) => reject(new Error(`cannot start etcd (is it installed? apt-get install etcd-server): ${err.message}`)));
      });
      state.proc = proc;
    };
    const member = {
      name: s.name,
      clientUrl,
      get pid(): number {
        return state.proc && state.proc.exitCode === null && state.proc.signalCode === null ? (state.proc.pid ?? 0) : 0;
      },
      launch,
      state,
      kill: async (): Promise<void> => {
        const p = state.proc;
        if (!p || p.exitCode !== null || p.signalCode !== null) return;
        const exited = new Promise((r) => p.once('exit', r));
        p.kill('SIGKILL');
        await exited;
      },
      restart: async (): Promise<void> => {
        await member.kill();
        await launch();
        await waitHealthy(state, opts.readyTimeoutMs ?? 30_000);
      },
    };
    return member;
  });

  const stop = async (): Promise<void> => {
    await Promise.all(members.map((m) => m.kill()));
    if (ownDir) await rm(dir, { recursive: true, force: true });
  };
  try {
    await Promise.all(members.map((m) => m.launch()));
    await Promise.all(members.map((m) => waitHealthy(m.state, opts.readyTimeoutMs ?? 30_000)));
  } catch (err) {
    await Promise.all(members.map((m) => m.kill())).catch(() => undefined);
    if (specs.some((s) => portTaken(s.log))) {
      await Promise.all(specs.map((s) => rm(s.dataDir, { recursive: true, force: true })));
      throw new PortTaken(`etcd could not bind its port: ${(err as Error).message}`);
    }
    throw err;
  }
  const endpoints = specs.map((s) => `127.0.0.1:${s.clientPort}`);
  return {
    url: `${opts.tls ? 'etcds' : 'etcd'}://${endpoints.join(',')}`,
    endpoints,
    dataDir: dir,
    members: members.map(({ name, clientUrl, kill, restart }, i) => ({
      name,
      clientUrl,
      get pid() {
        return members[i]!.pid;
      },
      kill,
      restart,
    })),
    stop,
  };
}
