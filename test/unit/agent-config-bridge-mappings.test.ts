/** bridge_mappings (provider networks): flags (repeatable, comma lists), WYVERN_BRIDGE_MAPPINGS, YAML; bad values refused. */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { formatBridgeMappings, physnetRefusal } from '../../src/agent/bridge-mappings.js';
import { ConfigError, loadAgentConfig } from '../../src/agent/config.js';

const dir = mkdtempSync(join(tmpdir(), 'wyvern-config-bm-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const base = ['--tunnel-ip', '10.0.0.1', '--config', '/dev/null'];
const load = (argv: string[], env: NodeJS.ProcessEnv = {}) => loadAgentConfig([...base, ...argv], env, 'hv1');

describe('agent bridge mappings', () => {
  it('default to none', () => {
    expect(load([]).bridgeMappings).toEqual({});
  });

  it('come from repeated flags and comma lists', () => {
    const c = load(['--bridge-mapping', 'physnet1:br-ex', '--bridge-mapping', 'physnet2:br-vlan,physnet3:br-3']);
    expect(c.bridgeMappings).toEqual({ physnet1: 'br-ex', physnet2: 'br-vlan', physnet3: 'br-3' });
    expect(formatBridgeMappings(c.bridgeMappings)).toBe('physnet1:br-ex,physnet2:br-vlan,physnet3:br-3');
  });

  it('come from WYVERN_BRIDGE_MAPPINGS, and flags replace them', () => {
    expect(load([], { WYVERN_BRIDGE_MAPPINGS: 'physnet1:br-ex, physnet2:br-vlan' }).bridgeMappings).toEqual({
      physnet1: 'br-ex',
      physnet2: 'br-vlan',
    });
    expect(load(['--bridge-mapping', 'p:br-p'], { WYVERN_BRIDGE_MAPPINGS: 'physnet1:br-ex' }).bridgeMappings).toEqual({ p: 'br-p' });
  });

  it('come from YAML bridge_mappings', () => {
    const f = join(dir, 'agent.yaml');
    writeFileSync(f, 'tunnel-ip: 10.0.0.1\nbridge_mappings:\n  physnet1: br-ex\n  physnet2: br-vlan\n');
    const c = loadAgentConfig(['--config', f], {}, 'hv1');
    expect(c.bridgeMappings).toEqual({ physnet1: 'br-ex', physnet2: 'br-vlan' });
    writeFileSync(f, 'tunnel-ip: 10.0.0.1\nbridge_mappings: 7\n');
    expect(() => loadAgentConfig(['--config', f], {}, 'hv1')).toThrow(ConfigError);
  });

  it.each([
    ['physnet1', /expected physnet:bridge/],
    ['bad name!:br-ex', /invalid physnet name/],
    ['physnet1:', /empty bridge/],
    ['physnet1:br-ex,physnet1:br-other', /physnet1 is mapped twice/],
    ['physnet1:br-ex,physnet2:br-ex', /bridge br-ex is named for both physnet1 and physnet2/],
    ['physnet1:br-int', /integration bridge br-int/],
    ['physnet1:a-bridge-name-too-long', /invalid bridge name/],
  ])('refuse %s', (v, re) => {
    expect(() => load(['--bridge-mapping', v])).toThrow(ConfigError);
    expect(() => load(['--bridge-mapping', v])).toThrow(re);
    expect(() => load([], { WYVERN_BRIDGE_MAPPINGS: v })).toThrow(re);
  });

  it('refuse the integration bridge under its configured name', () => {
    expect(() => load(['--bridge', 'br-x', '--bridge-mapping', 'p:br-x'])).toThrow(/integration bridge br-x/);
  });
});

describe('physnetRefusal: why a provider network port is not bound here', () => {
  const mappings = { physnet1: 'br-ex' };
  it('needs a mapping, then the bridge, then the patch port', () => {
    expect(physnetRefusal('physnet2', mappings, false, () => undefined)).toBe('no bridge mapping for physnet physnet2 on this chassis');
    expect(physnetRefusal('physnet1', mappings, false, () => 'bridge missing')).toBe(
      'bridge br-ex of physnet physnet1 does not exist in Open vSwitch',
    );
    expect(physnetRefusal('physnet1', mappings, false, () => 'pending')).toBe('patch port to br-ex (physnet physnet1) not ready');
    expect(physnetRefusal('physnet1', mappings, true, () => 'bridge missing')).toBeUndefined();
  });
});
