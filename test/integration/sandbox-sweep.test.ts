/** A test process that dies without calling down() leaves a sandbox; sweep() removes it, and only it. */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Sandbox } from '../../src/sandbox/index.js';
import { isAlive } from '../../src/sandbox/proc.js';
import { leftovers, requireSandboxPrereqs } from './sandbox-helpers.js';

const INDEX = resolve(__dirname, '../../src/sandbox/index.ts');

/** Runs a child that builds a sandbox, then SIGKILLs itself (a crash: no cleanup code runs). */
function crashingOwner(
  prefix: string,
  dir: string,
): Promise<{ runDir: string; sleeper: number; code: number | null; signal: string | null }> {
  const script = join(dir, 'owner.mts');
  writeFileSync(
    script,
    `
import { Sandbox } from ${JSON.stringify(INDEX)};
const sb = await Sandbox.up({ hosts: 2, prefix: ${JSON.stringify(prefix)} });
await sb.addVm('hv1', 'x', { portId: 'px', ip: '10.9.0.1/24' });
// A process "on" hv1 that lives outside every namespace of the sandbox: only trackProcess lets down/sweep find it.
const sleeper = (await import('node:child_process')).spawn('sleep', ['600'], { stdio: 'ignore', detached: true });
await sb.trackProcess('hv1', 'sleeper', sleeper.pid);
console.log('READY ' + sb.runDir + ' ' + sleeper.pid);
process.kill(process.pid, 'SIGKILL');
`,
  );
  return new Promise((res, rej) => {
    const p = spawn(process.execPath, ['--import', 'tsx', script], { cwd: resolve(__dirname, '../..'), stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    p.stdout.on('data', (d: Buffer) => (out += d.toString()));
    p.stderr.on('data', (d: Buffer) => (err += d.toString()));
    p.on('error', rej);
    p.on('close', (code, signal) => {
      const m = /READY (\S+) (\d+)/.exec(out);
      if (!m) return rej(new Error(`owner failed (code ${code}, signal ${signal}): ${err}`));
      res({ runDir: m[1]!, sleeper: Number(m[2]), code, signal });
    });
  });
}

describe('Sandbox.sweep', () => {
  const prefix = `wx${Math.random().toString(36).slice(2, 6)}`;
  const dir = mkdtempSync(join(tmpdir(), 'wv-sweep-'));
  let live: Sandbox | undefined;

  beforeAll(() => requireSandboxPrereqs());
  afterAll(async () => {
    await live?.down();
    await Sandbox.sweep(prefix);
    rmSync(dir, { recursive: true, force: true });
  });

  it("removes a crashed owner's sandbox and leaves a live one alone", async () => {
    live = await Sandbox.up({ hosts: 1 });
    const crashed = await crashingOwner(prefix, dir);
    expect(crashed.signal).toBe('SIGKILL');
    expect(await isAlive(crashed.sleeper)).toBe(true);
    const before = leftovers(prefix, crashed.runDir);
    expect(before.netns.length).toBeGreaterThanOrEqual(4); // ul, hv1, hv2, vm-x
    expect(before.procs.length).toBeGreaterThanOrEqual(4); // two ovsdb-server, two ovs-vswitchd

    const removed = await Sandbox.sweep();
    expect(removed).toContain(prefix);
    expect(removed).not.toContain(live.name);
    expect(leftovers(prefix, crashed.runDir)).toEqual({ netns: [], links: [], procs: [] });
    expect(existsSync(crashed.runDir)).toBe(false);
    expect(await isAlive(crashed.sleeper)).toBe(false); // the tracked process went too

    expect((await live.status()).hosts[0]!.running.vswitchd).toBeGreaterThan(0);
    expect(await Sandbox.sweep(live.prefix)).toEqual([]);
  });
});
