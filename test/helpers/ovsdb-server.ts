import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import net from 'node:net';
import { freePort } from '../../src/util/free-port.js';
import os from 'node:os';
import path from 'node:path';
import { createOvsdb, ovsdbServerCommand, VSWITCH_SCHEMA } from '../../src/sandbox/ovsdb-server.js';

export { VSWITCH_SCHEMA };

/**
 * A standalone ovsdb-server on a temporary database, for tests and benchmarks that need a
 * database but no switch. Processes are tracked by pid and killed only by pid. The database and
 * command line are made as the sandbox makes them (src/sandbox/ovsdb-server.ts).
 */
export interface OvsdbTestServer {
  dir: string;
  dbPath: string;
  sock: string;
  /** 'unix:<sock>' */
  endpoint: string;
  pid(): number | undefined;
  /** SIGKILL the server (the database file stays). */
  stop(): Promise<void>;
  /** Start it again on the same database and remotes. */
  start(): Promise<void>;
  destroy(): Promise<void>;
}

export interface OvsdbTestServerOptions {
  /** Path of a .ovsschema file (default: Open_vSwitch's). */
  schemaPath?: string;
  /** Or the schema itself. */
  schema?: object;
  /** Extra remotes, e.g. 'pssl:6640:127.0.0.1' or 'ptcp:0:127.0.0.1'. */
  remotes?: string[];
  /** Extra command-line arguments (e.g. --private-key=…). */
  args?: string[];
  prefix?: string;
  /** Create a one-member clustered database (raft on 127.0.0.1): the server then keeps a
   *  transaction history, so monitor_cond_since can resume. */
  clustered?: boolean;
}

export async function startOvsdbServer(o: OvsdbTestServerOptions = {}): Promise<OvsdbTestServer> {
  const dir = mkdtempSync(path.join(os.tmpdir(), o.prefix ?? 'wyvern-ovsdb-'));
  let schemaPath = o.schemaPath ?? VSWITCH_SCHEMA;
  if (o.schema) {
    schemaPath = path.join(dir, 'test.ovsschema');
    writeFileSync(schemaPath, JSON.stringify(o.schema));
  }
  const dbPath = path.join(dir, 'conf.db');
  const sock = path.join(dir, 'db.sock');
  await createOvsdb(dbPath, schemaPath, o.clustered ? { cluster: `tcp:127.0.0.1:${await freePort()}` } : {});
  const [bin, ...args] = ovsdbServerCommand({
    db: dbPath,
    sock,
    remotes: o.remotes,
    unixctl: path.join(dir, 'ovsdb.ctl'),
    logFile: path.join(dir, 'ovsdb.log'),
    extra: o.args,
  });
  let child: ChildProcess | undefined;
  const start = async () => {
    rmSync(sock, { force: true });
    const c = spawn(bin!, args, { stdio: 'ignore' });
    child = c;
    const exited = new Promise<never>((_, rej) =>
      c.once('exit', (code) => rej(new Error(`ovsdb-server exited (${code}); see ${dir}/ovsdb.log`))),
    );
    exited.catch(() => undefined);
    const deadline = Date.now() + 10_000;
    for (;;) {
      if (existsSync(sock) && (await canConnect(sock))) return;
      if (c.exitCode !== null) await exited;
      if (Date.now() > deadline) throw new Error(`ovsdb-server did not come up; see ${dir}/ovsdb.log`);
      await new Promise((r) => setTimeout(r, 20));
    }
  };
  const stop = async () => {
    const c = child;
    child = undefined;
    if (!c || c.exitCode !== null || c.signalCode !== null) return;
    const gone = new Promise<void>((r) => c.once('exit', () => r()));
    c.kill('SIGKILL');
    await gone;
  };
  await start();
  return {
    dir,
    dbPath,
    sock,
    endpoint: `unix:${sock}`,
    pid: () => child?.pid,
    stop,
    start,
    destroy: async () => {
      await stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

function canConnect(p: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ path: p });
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}
