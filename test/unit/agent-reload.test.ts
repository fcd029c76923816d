import { describe, expect, it } from 'vitest';
import { loadAgentConfig, type AgentConfig } from '../../src/agent/config.js';
import { planReload, reloadConfig } from '../../src/agent/reload.js';
import { createAdjustableLogger, silentLogger } from '../../src/util/log.js';

const base = (): AgentConfig => loadAgentConfig(['--tunnel-ip', '192.0.2.1', '--config', '/dev/null'], {}, 'hv1');

describe('SIGHUP reload', () => {
  it('applies logLevel live and names the settings that need a restart, never their values', () => {
    const cur = base();
    const next = { ...cur, logLevel: 'debug', store: 'etcd://10.0.0.9:2379', storePassword: 's3cret' };
    expect(planReload(cur, next)).toEqual({ logLevel: 'debug', needsRestart: ['store', 'storePassword'] });
    expect(planReload(cur, base())).toEqual({ needsRestart: [] });
  });

  it('changes the level of the root logger and of children and grandchildren made before', () => {
    const { logger, setLevel } = createAdjustableLogger({ level: 'info', name: 't' });
    const child = logger.child({ component: 'a' });
    const grandchild = child.child({ sub: 'b' });
    setLevel('debug');
    expect([logger.level, child.level, grandchild.level]).toEqual(['debug', 'debug', 'debug']);
    expect(logger.child({}).level).toBe('debug');
    expect(() => setLevel('loud')).toThrow(/unknown log level/);
    expect(grandchild.level).toBe('debug');
  });

  it('keeps everything when the file is invalid or the level unknown', () => {
    const cur = base();
    const levels: string[] = [];
    const invalid = reloadConfig(
      cur,
      () => {
        throw new Error('bad yaml');
      },
      (l) => levels.push(l),
      silentLogger,
    );
    expect(invalid).toBe(cur);
    const unknown = reloadConfig(
      cur,
      () => ({ ...cur, logLevel: 'loud' }),
      () => {
        throw new Error('unknown log level loud');
      },
      silentLogger,
    );
    expect(unknown.logLevel).toBe('info');
    const ok = reloadConfig(
      cur,
      () => ({ ...cur, logLevel: 'warn', bridge: 'br-x' }),
      (l) => levels.push(l),
      silentLogger,
    );
    expect(ok.logLevel).toBe('warn');
    expect(ok.bridge).toBe('br-int');
    expect(levels).toEqual(['warn']);
  });
});
