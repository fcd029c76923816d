/** The chassis lease TTL and the presence TTL (presence-ttl-seconds): defaults, sources, and bad values refused. */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ConfigError, loadAgentConfig } from '../../src/agent/config.js';

const dir = mkdtempSync(join(tmpdir(), 'wyvern-config-ttl-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const base = ['--tunnel-ip', '10.0.0.1', '--config', '/dev/null'];
const load = (argv: string[], env: NodeJS.ProcessEnv = {}) => loadAgentConfig([...base, ...argv], env, 'hv1');

describe('agent lease TTLs', () => {
  it('the presence TTL defaults to the lease TTL (one lease) and may be longer, by flag, environment or YAML', () => {
    expect(load([]).presenceTtlSeconds).toBeUndefined();
    expect(load(['--lease-ttl-seconds', '5', '--presence-ttl-seconds', '60']).presenceTtlSeconds).toBe(60);
    expect(load([], { WYVERN_PRESENCE_TTL: '45' }).presenceTtlSeconds).toBe(45);
    const yaml = join(dir, 'ttl.yaml');
    writeFileSync(yaml, 'leaseTtlSeconds: 4\npresenceTtlSeconds: 40\n');
    const c = loadAgentConfig(['--tunnel-ip', '10.0.0.1', '--config', yaml], {}, 'hv1');
    expect([c.leaseTtlSeconds, c.presenceTtlSeconds]).toEqual([4, 40]);
  });

  it('refuses a presence TTL below the lease TTL, and fractions of a second', () => {
    expect(() => load(['--presence-ttl-seconds', '5'])).toThrow(/presence-ttl-seconds: 5 is below the lease TTL \(10\)/);
    expect(() => load(['--presence-ttl-seconds', '30.5'])).toThrow(/presence-ttl-seconds: expected whole seconds/);
    expect(() => load(['--lease-ttl-seconds', '2.5'])).toThrow(/lease-ttl-seconds: expected whole seconds/);
    expect(() => load(['--presence-ttl-seconds', '0'])).toThrow(ConfigError);
  });
});
