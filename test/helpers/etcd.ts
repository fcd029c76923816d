import type { EtcdCluster } from '../../src/sandbox/etcd.js';

export * from '../../src/sandbox/etcd.js';

/**
 * Turns authentication on: user root, and a user `wyvern` (password `password`) that may read and write /wyvern/
 * only. Returns the cluster's URL carrying that user's credentials.
 */
export async function enableEtcdAuth(etcd: EtcdCluster, password = 's3cret'): Promise<string> {
  const { Etcd3 } = await import('etcd3');
  const admin = new Etcd3({ hosts: etcd.endpoints.map((e) => `http://${e}`) });
  try {
    await admin.user('root').create('rootpw');
    await admin.user('root').addRole('root');
    await admin.user('wyvern').create(password);
    await admin.role('wyvern').create();
    await admin.role('wyvern').grant({ permission: 'Readwrite', range: admin.range({ prefix: '/wyvern/' }) });
    await admin.user('wyvern').addRole('wyvern');
    await admin.auth.authEnable();
  } finally {
    admin.close();
  }
  return etcd.url.replace('etcd://', `etcd://wyvern:${encodeURIComponent(password)}@`);
}
