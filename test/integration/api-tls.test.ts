/**
 * The API over HTTPS with mutual TLS, and the CLI speaking https:// with --cacert and a client certificate.
 * Every bad certificate is refused, and the error says why: another CA, expired, wrong host name, none.
 */
import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiClient } from '../../src/api/client.js';
import { startApiServer, type ApiServer } from '../../src/api/server.js';
import { openStore } from '../../src/store/index.js';
import type { Store } from '../../src/store/types.js';
import { makePki, type CertFiles, type Pki } from '../helpers/pki.js';
import { cleanEnv, wyvern, WYVERN_CLI } from '../helpers/cli.js';

const CLI = WYVERN_CLI;

let pki: Pki;
let store: Store;
const servers: ApiServer[] = [];
const pem = (p: string) => readFileSync(p);
const serve = async (cert: CertFiles, clientCa?: string, token?: string): Promise<ApiServer> => {
  const s = await startApiServer({
    store,
    listen: 'tcp:127.0.0.1:0',
    ...(token ? { token } : {}),
    tls: { cert: pem(cert.cert), key: pem(cert.key), ...(clientCa ? { clientCa: pem(clientCa) } : {}) },
  });
  servers.push(s);
  return s;
};
const clientWith = (url: string, cert?: CertFiles, ca = pki.ca) =>
  new ApiClient(url, undefined, { ca: pem(ca), ...(cert ? { cert: pem(cert.cert), key: pem(cert.key) } : {}) });

beforeAll(async () => {
  pki = makePki();
  store = await openStore('memory:');
});
afterAll(async () => {
  await Promise.all(servers.map((s) => s.close()));
  await store?.close();
  pki?.cleanup();
});

describe('API over HTTPS, mutual TLS', () => {
  let mtls: ApiServer;
  beforeAll(async () => {
    mtls = await serve(pki.server, pki.ca);
  });

  it('serves https:// to a client with the CA and a certificate it signed', async () => {
    expect(mtls.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    expect(await clientWith(mtls.url, pki.client).call('GET', '/v1')).toMatchObject({ name: 'wyvern' });
  });

  it('refuses a client certificate from another CA, an expired one, and none', async () => {
    await expect(clientWith(mtls.url, pki.otherClient).call('GET', '/v1')).rejects.toThrow(
      /client certificate refused: certificate is not signed by a trusted CA/,
    );
    await expect(clientWith(mtls.url, pki.expired).call('GET', '/v1')).rejects.toThrow(
      /client certificate refused: certificate has expired/,
    );
    await expect(clientWith(mtls.url).call('GET', '/v1')).rejects.toThrow(/no client certificate presented/);
  });

  it('health probes answer without a client certificate; /metrics needs one', async () => {
    const anon = clientWith(mtls.url);
    expect(await anon.raw('GET', '/healthz')).toMatchObject({ status: 200, body: 'ok\n' });
    expect(await anon.raw('GET', '/readyz')).toMatchObject({ status: 200, body: 'ok\n' });
    expect((await anon.raw('GET', '/metrics')).status).toBe(401);
    expect((await clientWith(mtls.url, pki.client).raw('GET', '/metrics')).status).toBe(200);
  });

  it('the client refuses a server from another CA, with an expired certificate, or for another host', async () => {
    const other = await serve(pki.otherServer);
    const expired = await serve(pki.expired);
    const wrong = await serve(pki.wrongHost);
    await expect(clientWith(other.url).call('GET', '/v1')).rejects.toThrow(
      /TLS with the wyvern API at .* failed: the peer's certificate is not signed by a trusted CA/,
    );
    await expect(clientWith(expired.url).call('GET', '/v1')).rejects.toThrow(/the peer's certificate has expired/);
    await expect(clientWith(wrong.url).call('GET', '/v1')).rejects.toThrow(/hostname mismatch/);
    // The good certificate names localhost as well as 127.0.0.1.
    const good = await serve(pki.server);
    expect(await clientWith(good.url.replace('127.0.0.1', 'localhost')).call('GET', '/v1')).toMatchObject({ name: 'wyvern' });
  });

  it('an https:// client on a plain HTTP port gets a clear error', async () => {
    const plain = await startApiServer({ store, listen: 'tcp:127.0.0.1:0' });
    servers.push(plain);
    await expect(clientWith(plain.url.replace('http:', 'https:')).call('GET', '/v1')).rejects.toThrow(/does not speak TLS/);
  });
});

describe('the CLI over https://', () => {
  let url: string;
  const tokenFile = () => {
    const f = join(pki.dir, 'token');
    writeFileSync(f, 'tok-s3cret\n', { mode: 0o600 });
    return f;
  };
  beforeAll(async () => {
    url = (await serve(pki.server, pki.ca, 'tok-s3cret')).url;
  });

  it('works with --cacert, a client certificate and --token-file; or the same from the environment', async () => {
    let r = await wyvern([
      'network',
      'create',
      'tls-net',
      '--api',
      url,
      '--cacert',
      pki.ca,
      '--cert',
      pki.client.cert,
      '--key',
      pki.client.key,
      '--token-file',
      tokenFile(),
    ]);
    expect(r.code, r.stderr).toBe(0);
    r = await wyvern(['network', 'list'], {
      WYVERN_API: url,
      WYVERN_CACERT: pki.ca,
      WYVERN_CERT: pki.client.cert,
      WYVERN_KEY: pki.client.key,
      WYVERN_TOKEN_FILE: tokenFile(),
    });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/tls-net/);
    r = await wyvern(['network', 'list', '--api', url, '--cacert', pki.ca, '--cert', pki.client.cert, '--key', pki.client.key], {
      WYVERN_TOKEN: 'tok-s3cret',
    });
    expect(r.code, r.stderr).toBe(0);
  });

  it('fails with a one-line reason (no stack) without the CA, with a bad certificate, or without the token', async () => {
    const cases: [string[], RegExp][] = [
      [['--cert', pki.client.cert, '--key', pki.client.key], /not signed by a trusted CA/],
      [['--cacert', pki.ca, '--cert', pki.expired.cert, '--key', pki.expired.key], /client certificate refused: certificate has expired/],
      [
        ['--cacert', pki.ca, '--cert', pki.otherClient.cert, '--key', pki.otherClient.key],
        /client certificate refused: certificate is not signed by a trusted CA/,
      ],
      [['--cacert', pki.ca], /no client certificate presented/],
    ];
    for (const [flags, re] of cases) {
      const r = await wyvern(['network', 'list', '--api', url, '--token-file', tokenFile(), ...flags]);
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(re);
      expect(r.stderr).not.toMatch(/\n\s+at /);
    }
    const r = await wyvern(['network', 'list', '--api', url, '--cacert', pki.ca, '--cert', pki.client.cert, '--key', pki.client.key]);
    expect(r.stderr).toMatch(/HTTP 401/);
    const missing = await wyvern(['network', 'list', '--api', url, '--cacert', join(pki.dir, 'nope.crt')]);
    expect(missing.stderr).toMatch(/--cacert: cannot read .*nope\.crt: ENOENT/);
  });
});

describe('wyvern api (standalone) over HTTPS', () => {
  it('serves https:// with mutual TLS and a token from a file, set by flags or WYVERN_* env', async () => {
    const tf = join(pki.dir, 'api-token');
    writeFileSync(tf, 'tok-api\n', { mode: 0o600 });
    const env = cleanEnv({ WYVERN_API_CERT: pki.server.cert, WYVERN_API_KEY: pki.server.key, WYVERN_TOKEN_FILE: tf });
    const proc = spawn(process.execPath, [CLI, 'api', '--store', 'memory:', '--listen', 'tcp:127.0.0.1:0', '--api-client-ca', pki.ca], {
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    try {
      const url = await new Promise<string>((resolve, reject) => {
        let out = '';
        let err = '';
        proc.stdout!.on('data', (c: Buffer) => {
          out += c.toString();
          const m = /listening on (\S+)/.exec(out);
          if (m) resolve(m[1]!);
        });
        proc.stderr!.on('data', (c: Buffer) => (err += c.toString()));
        proc.on('exit', (code) => reject(new Error(`wyvern api exited ${code}: ${err}`)));
      });
      expect(url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
      const ok = await wyvern([
        'network',
        'list',
        '--api',
        url,
        '--cacert',
        pki.ca,
        '--cert',
        pki.client.cert,
        '--key',
        pki.client.key,
        '--token-file',
        tf,
      ]);
      expect(ok.code, ok.stderr).toBe(0);
      const expired = await wyvern([
        'network',
        'list',
        '--api',
        url,
        '--cacert',
        pki.ca,
        '--cert',
        pki.expired.cert,
        '--key',
        pki.expired.key,
        '--token-file',
        tf,
      ]);
      expect(expired.stderr).toMatch(/client certificate refused: certificate has expired/);
      const noToken = await wyvern([
        'network',
        'list',
        '--api',
        url,
        '--cacert',
        pki.ca,
        '--cert',
        pki.client.cert,
        '--key',
        pki.client.key,
      ]);
      expect(noToken.stderr).toMatch(/HTTP 401/);
    } finally {
      proc.kill('SIGTERM');
    }
  });

  it('refuses half a TLS configuration with a usage error', async () => {
    const r = await wyvern(['api', '--store', 'memory:', '--api-cert', pki.server.cert]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--api-cert and --api-key go together/);
    const missing = await wyvern(['api', '--store', 'memory:', '--api-cert', join(pki.dir, 'nope.pem'), '--api-key', pki.server.key]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/api-cert: cannot read .*nope\.pem: ENOENT/);
  });
});
