/**
 * Removing a sandbox from its persisted state alone — so that it works from another process, after a crash,
 * and when parts are already gone. Processes are ended by pid (tracked ones, pidfiles, then whatever still
 * lives in the sandbox's namespaces), then the namespaces (their links go with them), then the run dir.
 */
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { silentLogger, type Logger } from '../util/log.js';
import { deleteNetns, listNetns, netnsPids } from './netns.js';
import { ovsHostHandle } from './ovs-host.js';
import { isSameProcess, killAndWait } from './proc.js';
import { execCmd } from './run.js';
import { listStates, sandboxBaseDir, type SandboxState } from './state.js';

export async function teardown(state: SandboxState, logger: Logger = silentLogger): Promise<void> {
  const log = logger.child({ sandbox: state.name });
  const errors: unknown[] = [];
  const attempt = async (what: string, f: () => Promise<void>) => {
    try {
      await f();
    } catch (err) {
      log.warn({ err, what }, 'teardown step failed');
      errors.push(err);
    }
  };
  for (const h of state.hosts) {
    for (const [label, ref] of Object.entries(h.processes ?? {})) {
      await attempt(`process ${label} of ${h.name}`, async () => {
        if (await isSameProcess(ref)) await killAndWait(ref.pid, 'SIGTERM');
      });
    }
    await attempt(`OVS of ${h.name}`, () => ovsHostHandle({ name: h.name, netns: h.netns, runDir: h.runDir }).stop({ signal: 'SIGTERM' }));
  }
  await attempt('namespaces', () => removePrefixedNetns(state.prefix));
  await attempt('root links', () => removePrefixedRootLinks(state.prefix));
  await attempt('run dir', () => rm(state.runDir, { recursive: true, force: true }));
  if (errors.length > 0) throw new AggregateError(errors, `sandbox ${state.name}: ${errors.length} teardown step(s) failed`);
  log.info('sandbox down');
}

/** Kills every process left in `<prefix>-*` namespaces and deletes them. */
export async function removePrefixedNetns(prefix: string): Promise<void> {
  for (const ns of await listNetns()) {
    if (!ns.startsWith(`${prefix}-`)) continue;
    for (const pid of await netnsPids(ns)) await killAndWait(pid, 'SIGTERM', 2_000);
    await deleteNetns(ns);
  }
}

/** The sandbox never creates links in the root namespace; this removes any that a crash mid-move left there. */
export async function removePrefixedRootLinks(prefix: string): Promise<void> {
  const r = await execCmd(['ip', '-o', 'link', 'show']);
  const re = new RegExp(`^\\d+: (${prefix}[upv]\\d+)[@:]`);
  for (const line of r.stdout.split('\n')) {
    const m = re.exec(line);
    if (m) await execCmd(['ip', 'link', 'del', m[1]!]);
  }
}

/**
 * Removes leftovers of sandboxes whose owner process is gone (those made with an owner: tests, not the CLI).
 * With `prefix`, only that sandbox — and namespaces with that prefix that no state file describes.
 * Returns the names of the sandboxes removed.
 */
export async function sweep(opts: { prefix?: string; baseDir?: string; logger?: Logger } = {}): Promise<string[]> {
  const removed: string[] = [];
  const states = await listStates(opts.baseDir ?? sandboxBaseDir());
  let liveWithPrefix = false;
  for (const s of states) {
    if (opts.prefix !== undefined && s.prefix !== opts.prefix) continue;
    if (s.owner === null || (await isSameProcess(s.owner))) {
      liveWithPrefix = true;
      continue;
    }
    await teardown(s, opts.logger);
    removed.push(s.name);
  }
  if (opts.prefix !== undefined && !liveWithPrefix) {
    const orphans = (await listNetns()).filter((n) => n.startsWith(`${opts.prefix}-`));
    if (orphans.length > 0) {
      await removePrefixedNetns(opts.prefix);
      await removePrefixedRootLinks(opts.prefix);
      if (!removed.includes(opts.prefix)) removed.push(opts.prefix);
    }
  }
  return removed;
}

export const runDirOf = (name: string, baseDir = sandboxBaseDir()) => (name.includes('/') ? name : join(baseDir, name));
