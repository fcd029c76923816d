import { readdir } from 'node:fs/promises';
import { execCmd, run, type ExecResult } from './run.js';

/** Names of all network namespaces (`ip netns list`, from /run/netns). */
export async function listNetns(): Promise<string[]> {
  try {
    return await readdir('/run/netns');
  } catch {
    return [];
  }
}

export async function netnsExists(name: string): Promise<boolean> {
  return (await listNetns()).includes(name);
}

/**
 * Creates a namespace with loopback up and IPv6 off (no router solicitations or MLD reports adding noise
 * to the overlay). Returns false if it already existed (then it is left as it is).
 */
export async function createNetns(name: string): Promise<boolean> {
  if (await netnsExists(name)) return false;
  await run(['ip', 'netns', 'add', name]);
  await run(['ip', 'netns', 'exec', name, 'sysctl', '-qw', 'net.ipv6.conf.all.disable_ipv6=1', 'net.ipv6.conf.default.disable_ipv6=1']);
  await run(['ip', '-n', name, 'link', 'set', 'lo', 'up']);
  return true;
}

/** Pids of processes living in a namespace (empty if it is gone). */
export async function netnsPids(name: string): Promise<number[]> {
  const r = await execCmd(['ip', 'netns', 'pids', name]);
  if (r.code !== 0) return [];
  return r.stdout
    .split(/\s+/)
    .filter(Boolean)
    .map(Number)
    .filter((n) => Number.isInteger(n) && n > 0);
}

/** Deletes a namespace; a missing one is not an error. Its virtual links go with it. */
export async function deleteNetns(name: string): Promise<void> {
  if (!(await netnsExists(name))) return;
  const r = await execCmd(['ip', 'netns', 'del', name]);
  if (r.code !== 0 && (await netnsExists(name))) throw new Error(`ip netns del ${name}: ${r.stderr.trim()}`);
}

/** Runs a command inside a namespace. */
export function netnsExec(name: string, cmd: readonly string[], timeoutMs?: number): Promise<ExecResult> {
  return execCmd(['ip', 'netns', 'exec', name, ...cmd], { timeoutMs });
}
