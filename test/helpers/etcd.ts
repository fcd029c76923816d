import { readdirSync, readFileSync } from 'node:fs';
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

/**
 * Stops a process (SIGSTOP) and returns once every one of its threads is stopped. The signal takes effect
 * asynchronously: a request written right after kill() can still be served (seen: an etcd leader answered a lease
 * keep-alive 1 ms after the signal, a test expecting silence failed).
 */
export async function stopProcess(pid: number, timeoutMs = 5_000): Promise<void> {
  process.kill(pid, 'SIGSTOP');
  const t0 = Date.now();
  for (;;) {
    const states = readdirSync(`/proc/${pid}/task`).map((t) => {
      const stat = readFileSync(`/proc/${pid}/task/${t}/stat`, 'utf8');
      return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    });
    if (states.every((s) => s === 'T' || s === 't')) return;
    if (Date.now() - t0 > timeoutMs) throw new Error(`process ${pid} not stopped after ${timeoutMs} ms (threads: ${states.join('')})`);
    await new Promise((r) => setTimeout(r, 1));
  }
}
