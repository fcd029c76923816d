/** etcds:// with client certificates, and user/password auth, against real etcd members. */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Etcd3 } from 'etcd3';
import { afterAll, describe, expect, it } from 'vitest';
import { openStore } from '../../src/store/index.js';
import type { Store } from '../../src/store/types.js';
import { startEtcd, type EtcdCluster } from '../helpers/etcd.js';

const dir = mkdtempSync(join(tmpdir(), 'wyvern-etcd-pki-'));
const clusters: EtcdCluster[] = [];
const stores: Store[] = [];
afterAll(async () => {
  await Promise.all(stores.map((s) => s.close().catch(() => undefined)));
  await Promise.all(clusters.map((c) => c.stop()));
  rmSync(dir, { recursive: true, force: true });
});

function openssl(...args: string[]): void {
  execFileSync('openssl', args, { stdio: 'pipe' });
}

/** A throwaway CA, a server cert for 127.0.0.1 and a client cert. */
function makePki(): Record<'ca' | 'serverCert' | 'serverKey' | 'clientCert' | 'clientKey', string> {
  const f = (n: string): string => join(dir, n);
  openssl(
    'req',
    '-x509',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-keyout',
    f('ca.key'),
    '-out',
    f('ca.crt'),
    '-days',
    '1',
    '-subj',
    '/CN=wyvern-test-ca',
  );
  writeFileSync(f('server.ext'), 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n');
  writeFileSync(f('client.ext'), 'extendedKeyUsage=clientAuth\n');
  for (const who of ['server', 'client']) {
    openssl('req', '-newkey', 'rsa:2048', '-nodes', '-keyout', f(`${who}.key`), '-out', f(`${who}.csr`), '-subj', `/CN=wyvern-${who}`);
    openssl(
      'x509',
      '-req',
      '-in',
      f(`${who}.csr`),
      '-CA',
      f('ca.crt'),
      '-CAkey',
      f('ca.key'),
      '-CAcreateserial',
      '-out',
      f(`${who}.crt`),
      '-days',
      '1',
      '-extfile',
      f(`${who}.ext`),
    );
  }
  return {
    ca: f('ca.crt'),
    serverCert: f('server.crt'),
    serverKey: f('server.key'),
    clientCert: f('client.crt'),
    clientKey: f('client.key'),
  };
}

describe('etcd security', () => {
  it('etcds:// with a CA and a client certificate; no client cert is refused', async () => {
    const pki = makePki();
    const etcd = await startEtcd({
      tls: {
        certFile: pki.serverCert,
        keyFile: pki.serverKey,
        caFile: pki.ca,
        clientCertAuth: true,
        probeCertFile: pki.clientCert,
        probeKeyFile: pki.clientKey,
      },
    });
    clusters.push(etcd);
    expect(etcd.url.startsWith('etcds://')).toBe(true);
    const s = await openStore(etcd.url, {
      tls: { ca: readFileSync(pki.ca), cert: readFileSync(pki.clientCert), key: readFileSync(pki.clientKey) },
    });
    stores.push(s);
    const rev = await s.put('/tls/a', 'secure');
    expect((await s.get('/tls/a'))?.modRevision).toBe(rev);
    await expect(openStore(etcd.url, { tls: { ca: readFileSync(pki.ca) } })).rejects.toMatchObject({ name: 'StoreError' });
  }, 60_000);

  it('user/password from the URL or options; a wrong password is DENIED', async () => {
    const etcd = await startEtcd();
    clusters.push(etcd);
    const admin = new Etcd3({ hosts: etcd.endpoints.map((e) => `http://${e}`) });
    await admin.user('root').create('rootpw');
    await admin.user('root').addRole('root');
    await admin.user('wyvern').create('s3cret');
    await admin.role('wyvern').create();
    await admin.role('wyvern').grant({ permission: 'Readwrite', range: admin.range({ prefix: '/wyvern/' }) });
    await admin.user('wyvern').addRole('wyvern');
    await admin.auth.authEnable();
    admin.close();

    const fromUrl = await openStore(etcd.url.replace('etcd://', 'etcd://wyvern:s3cret@'));
    stores.push(fromUrl);
    expect(fromUrl.url).not.toContain('s3cret');
    await fromUrl.put('/wyvern/v1/x', '1');
    await expect(fromUrl.put('/elsewhere', '1')).rejects.toMatchObject({ code: 'DENIED' });
    const fromOpts = await openStore(etcd.url, { username: 'wyvern', password: 's3cret' });
    stores.push(fromOpts);
    expect((await fromOpts.get('/wyvern/v1/x'))?.value).toBe('1');
    await expect(openStore(etcd.url, { username: 'wyvern', password: 'wrong' })).rejects.toMatchObject({ code: 'DENIED' });
  }, 60_000);
});
