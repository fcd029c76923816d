/**
 * etcds:// with mutual TLS against real etcd: the right certificates work; every wrong one is refused with
 * DENIED and a message that says what is wrong (either side's certificate: other CA, expired, wrong host).
 */
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openStore, StoreError } from '../../src/store/index.js';
import { startEtcd, type EtcdCluster } from '../helpers/etcd.js';
import { makePki, type CertFiles, type Pki } from '../helpers/pki.js';

let pki: Pki;
const clusters: EtcdCluster[] = [];
const pem = (p: string) => readFileSync(p);

async function etcdWith(server: CertFiles): Promise<EtcdCluster> {
  const etcd = await startEtcd({
    tls: {
      certFile: server.cert,
      keyFile: server.key,
      caFile: pki.ca,
      clientCertAuth: true,
      probeCertFile: pki.client.cert,
      probeKeyFile: pki.client.key,
      probeInsecure: true,
    },
  });
  clusters.push(etcd);
  return etcd;
}

async function refusal(url: string, client: CertFiles | undefined): Promise<StoreError> {
  const tls = { ca: pem(pki.ca), ...(client ? { cert: pem(client.cert), key: pem(client.key) } : {}) };
  const err = await openStore(url, { tls }).then(
    async (s) => {
      await s.close();
      throw new Error('connected, but should have been refused');
    },
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(StoreError);
  expect((err as StoreError).code).toBe('DENIED');
  expect((err as Error).message).not.toMatch(/\n\s+at /);
  return err as StoreError;
}

beforeAll(() => {
  pki = makePki();
});
afterAll(async () => {
  await Promise.all(clusters.map((c) => c.stop()));
  pki?.cleanup();
});

describe('etcds:// mutual TLS', () => {
  let good: EtcdCluster;
  beforeAll(async () => {
    good = await etcdWith(pki.server);
  }, 60_000);

  it('connects with the CA and a client certificate it signed', async () => {
    const s = await openStore(good.url, { tls: { ca: pem(pki.ca), cert: pem(pki.client.cert), key: pem(pki.client.key) } });
    await s.put('/tls/x', '1');
    expect((await s.get('/tls/x'))?.value).toBe('1');
    await s.close();
  });

  it('etcd refuses a client certificate from another CA, an expired one, and none; the error says which', async () => {
    expect((await refusal(good.url, pki.otherClient)).message).toMatch(/etcd refused our client certificate .*not signed by the store CA/);
    expect((await refusal(good.url, pki.expired)).message).toMatch(
      /etcd refused our client certificate .*our client certificate has expired \(valid until .*2020/,
    );
    expect((await refusal(good.url, undefined)).message).toMatch(/etcd refused our client certificate .*no client certificate was given/);
  });

  it('we refuse an etcd whose certificate is from another CA, expired, or for another host', async () => {
    const [other, expired, wrong] = await Promise.all([etcdWith(pki.otherServer), etcdWith(pki.expired), etcdWith(pki.wrongHost)]);
    expect((await refusal(other.url, pki.client)).message).toMatch(
      /TLS with etcd failed: etcd's certificate is not signed by the store CA/,
    );
    expect((await refusal(expired.url, pki.client)).message).toMatch(/TLS with etcd failed: etcd's certificate has expired/);
    expect((await refusal(wrong.url, pki.client)).message).toMatch(/TLS with etcd failed: hostname mismatch/);
  }, 60_000);
});
