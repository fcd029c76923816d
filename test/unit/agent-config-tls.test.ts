/** TLS and credential settings are configured like every other one (YAML, WYVERN_* env, flags), and secrets stay off argv. */
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ConfigError, loadAgentConfig } from '../../src/agent/config.js';
import { loadAgentTls } from '../../src/agent/tls.js';

const dir = mkdtempSync(join(tmpdir(), 'wyvern-config-tls-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const file = (name: string, text: string): string => {
  const p = join(dir, name);
  writeFileSync(p, text);
  chmodSync(p, 0o600);
  return p;
};
const PEM = '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n';
const base = ['--tunnel-ip', '10.0.0.1', '--config', '/dev/null'];
const load = (argv: string[], env: NodeJS.ProcessEnv = {}) => loadAgentConfig([...base, ...argv], env, 'hv1');
const fails = (argv: string[], env: NodeJS.ProcessEnv, re: RegExp) => {
  expect(() => load(argv, env)).toThrow(ConfigError);
  expect(() => load(argv, env)).toThrow(re);
};

describe('agent TLS and secret settings', () => {
  it('come from the YAML file, then env, then flags', () => {
    const yaml = file(
      'agent.yaml',
      'tunnel-ip: 10.0.0.1\nstore: etcds://e:2379\nstore-ca: /y/ca\nstore-cert: /y/c\nstore-key: /y/k\novs-ca: /y/oca\novs-cert: /y/oc\novs-key: /y/ok\napi-cert: /y/ac\napi-key: /y/ak\napi-client-ca: /y/acc\nstore-user: wyvern\n',
    );
    const c = loadAgentConfig(['--config', yaml, '--store-ca', '/flag/ca'], { WYVERN_STORE_CERT: '/env/c' }, 'hv1');
    expect(c).toMatchObject({
      storeCa: '/flag/ca',
      storeCert: '/env/c',
      storeKey: '/y/k',
      ovsCa: '/y/oca',
      ovsCert: '/y/oc',
      ovsKey: '/y/ok',
      apiCert: '/y/ac',
      apiKey: '/y/ak',
      apiClientCa: '/y/acc',
      storeUser: 'wyvern',
    });
  });

  it('the store password never comes from a flag; env, file setting or YAML instead', () => {
    fails(['--store-password', 'x'], {}, /not accepted on the command line.*WYVERN_STORE_PASSWORD/);
    fails(['--store-password=x'], {}, /not accepted on the command line/);
    expect(load([], { WYVERN_STORE_PASSWORD: 'pw-env' }).storePassword).toBe('pw-env');
    expect(load(['--store-password-file', file('pw', 'pw-file\n')]).storePassword).toBe('pw-file');
    fails(['--store-password-file', join(dir, 'missing')], {}, /store-password-file: cannot read .*ENOENT/);
    fails(['--store-password-file', file('pw2', 'x')], { WYVERN_STORE_PASSWORD: 'y' }, /give one/);
  });

  it('the API token can come from a file (flag or WYVERN_API_TOKEN_FILE)', () => {
    const tf = file('token', 'tok-123\n');
    expect(load(['--api-token-file', tf]).apiToken).toBe('tok-123');
    expect(load([], { WYVERN_API_TOKEN_FILE: tf }).apiToken).toBe('tok-123');
    fails(['--api-token-file', file('empty', '')], {}, /api-token-file: .* is empty/);
    fails(['--api-token-file', tf, '--api-token', 'x'], {}, /give one of them/);
  });

  it('refuses incomplete TLS settings with a message naming what is missing', () => {
    fails(['--store', 'etcds://127.0.0.1:2379'], {}, /store-ca is required for an etcds:\/\/ store/);
    fails(['--store-cert', '/c'], {}, /store-key is required with store-cert/);
    fails(['--api-key', '/k'], {}, /api-cert is required with api-key/);
    fails(['--api-client-ca', '/ca'], {}, /api-client-ca needs api-cert/);
    fails(['--ovsdb', 'ssl:10.0.0.9:6640'], {}, /ovsdb: an ssl: endpoint needs ovs-ca, ovs-cert and ovs-key/);
    fails(['--openflow', 'ssl:10.0.0.9:6653', '--ovs-ca', '/ca'], {}, /openflow: an ssl: endpoint needs/);
  });

  it('PEM files are read once at start; a missing or non-PEM file names its setting', () => {
    const ca = file('ca.pem', PEM);
    const t = loadAgentTls({
      storeCa: ca,
      storeUser: 'u',
      storePassword: 'p',
      apiCert: ca,
      apiKey: ca,
      ovsCa: ca,
      ovsCert: ca,
      ovsKey: ca,
    });
    expect(t.store.tls?.ca?.toString()).toBe(PEM);
    expect(t.store).toMatchObject({ username: 'u', password: 'p' });
    expect(t.api.tls?.clientCa).toBeUndefined();
    expect(t.ovs.tls?.cert?.toString()).toBe(PEM);
    expect(() => loadAgentTls({ storeCa: join(dir, 'nope.pem') })).toThrow(/store-ca: cannot read .*nope\.pem: ENOENT/);
    expect(() => loadAgentTls({ apiCert: ca, apiKey: file('k.txt', 'not pem') })).toThrow(/api-key: .* is not a PEM file/);
    expect(() => loadAgentTls({ ovsCa: ca })).toThrow(/ovs-ca, ovs-cert and ovs-key go together/);
  });
});
