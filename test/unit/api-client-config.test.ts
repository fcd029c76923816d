/** How the CLI builds its API client: flags over env, the token from a file, TLS files only for https://. */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { apiClientFrom } from '../../src/api/client-config.js';

const dir = mkdtempSync(join(tmpdir(), 'wyvern-client-config-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const file = (n: string, t: string) => {
  writeFileSync(join(dir, n), t, { mode: 0o600 });
  return join(dir, n);
};
const tokenOf = (c: unknown) => (c as { token?: string }).token;
const tlsOf = (c: unknown) => (c as { tls: Record<string, Buffer | undefined> }).tls;

describe('apiClientFrom', () => {
  it('reads the token from --token-file or WYVERN_TOKEN_FILE; a flag wins over the env', () => {
    const tf = file('t', 'tok-file\n');
    expect(tokenOf(apiClientFrom({ tokenFile: tf }, {}))).toBe('tok-file');
    expect(tokenOf(apiClientFrom({}, { WYVERN_TOKEN_FILE: tf }))).toBe('tok-file');
    expect(tokenOf(apiClientFrom({}, { WYVERN_TOKEN: 'tok-env' }))).toBe('tok-env');
    expect(tokenOf(apiClientFrom({ token: 'tok-flag' }, { WYVERN_TOKEN_FILE: tf }))).toBe('tok-flag');
    expect(() => apiClientFrom({ token: 'a', tokenFile: tf }, {})).toThrow(/give one of them/);
    expect(() => apiClientFrom({ tokenFile: join(dir, 'none') }, {})).toThrow(/--token-file: cannot read .*ENOENT/);
    expect(() => apiClientFrom({ tokenFile: file('e', '') }, {})).toThrow(/is empty/);
  });

  it('takes the CA and client certificate for https:// from flags or env', () => {
    const ca = file('ca', 'CA');
    const c = apiClientFrom({ api: 'https://h:1', cert: file('c', 'C'), key: file('k', 'K') }, { WYVERN_CACERT: ca });
    expect(tlsOf(c).ca?.toString()).toBe('CA');
    expect(tlsOf(c).cert?.toString()).toBe('C');
    expect(() => apiClientFrom({ api: 'https://h:1', cert: file('c2', 'C') }, {})).toThrow(/--cert and --key go together/);
    expect(() => apiClientFrom({ api: 'https://h:1', cacert: join(dir, 'none') }, {})).toThrow(/--cacert: cannot read/);
  });

  it('TLS flags with a non-https URL are an error; the same env settings are ignored there', () => {
    expect(() => apiClientFrom({ api: 'http://h:1', cacert: '/x' }, {})).toThrow(/are for https:\/\/ API URLs/);
    expect(tlsOf(apiClientFrom({ api: 'unix:/run/x.sock' }, { WYVERN_CACERT: '/nonexistent' }))).toEqual({});
  });
});
