/**
 * How wyvern starts an ovsdb-server: the database file and the command line. Shared by the sandbox's simulated
 * hypervisors (a detached daemon in a namespace, with a pidfile) and the tests' standalone server
 * (test/helpers/ovsdb-server.ts: a child process, optionally clustered or with extra remotes).
 */
import { run } from './run.js';

export const VSWITCH_SCHEMA = '/usr/share/openvswitch/vswitch.ovsschema';

/** Creates a database from a schema; with `cluster` (e.g. 'tcp:127.0.0.1:PORT'), a one-member raft cluster. */
export async function createOvsdb(db: string, schemaPath = VSWITCH_SCHEMA, opts: { cluster?: string } = {}): Promise<void> {
  await run(opts.cluster ? ['ovsdb-tool', 'create-cluster', db, schemaPath, opts.cluster] : ['ovsdb-tool', 'create', db, schemaPath]);
}

export interface OvsdbServerArgs {
  db: string;
  /** Unix socket clients connect to (`--remote=punix:`). */
  sock: string;
  unixctl: string;
  logFile: string;
  /** Extra remotes, e.g. 'pssl:6640:127.0.0.1'. */
  remotes?: string[];
  /** Daemon mode: write this pidfile and detach once up (the sandbox); otherwise stays a child process. */
  pidfile?: string;
  /** Further arguments (e.g. --private-key=…). */
  extra?: string[];
}

/** The ovsdb-server command line (argv[0] included). */
export function ovsdbServerCommand(o: OvsdbServerArgs): string[] {
  return [
    'ovsdb-server',
    o.db,
    `--remote=punix:${o.sock}`,
    ...(o.remotes ?? []).map((r) => `--remote=${r}`),
    `--unixctl=${o.unixctl}`,
    `--log-file=${o.logFile}`,
    ...(o.pidfile ? [`--pidfile=${o.pidfile}`, '--detach', '--no-chdir'] : ['-vfile:info', '-vconsole:off']),
    ...(o.extra ?? []),
  ];
}
