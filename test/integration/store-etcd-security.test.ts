/** etcds:// with client certificates, and user/password auth, against real etcd members. */
import { readFileSync } from 'node:fs';
import { Etcd3 } from 'etcd3';
import { afterAll, describe, expect, it } from 'vitest';
import { openStore } from '../../src/store/index.js';
import type { Store } from '../../src/store/types.js';
import { startEtcd, type EtcdCluster } from '../helpers/etcd.js';
import { makePki } from '../helpers/pki.js';

const pki = makePki();
const clusters: EtcdCluster[] = [];
const stores: Store[] = [];
afterAll(async () => {
  await Promise.all(stores.map((s) => s.close().catch(() => undefined)));
  await Promise.all(clusters.map((c) => c.stop()));
  pki.cleanup();
});

describe('etcd security', () => {
  it('etcds:// with a CA and a client certificate; no client cert is refused', async () => {
    const etcd = await startEtcd({
      tls: {
        certFile: pki.server.cert,
        keyFile: pki.server.key,
        caFile: pki.ca,
        clientCertAuth: true,
        probeCertFile: pki.client.cert,
        probeKeyFile: pki.client.key,
      },
    });
    clusters.push(etcd);
    expect(etcd.url.startsWith('etcds://')).toBe(true);
    const s = await openStore(etcd.url, {
      tls: { ca: readFileSync(pki.ca), cert: readFileSync(pki.client.cert), key: readFileSync(pki.client.key) },
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
