import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { OvsdbClient } from '../../src/ovsdb/client.js';
import { OvsdbError } from '../../src/ovsdb/errors.js';
import { freePort, startOvsdbServer, type OvsdbTestServer } from '../helpers/ovsdb-server.js';

// Passive SSL (pssl:) as OVS deploys it: the server and every controller hold certificates
// signed by one CA; the server accepts any client signed by it and nobody else.
let dir: string;
let srv: OvsdbTestServer;
let port: number;
const pem = (n: string) => readFileSync(path.join(dir, n));

function openssl(...args: string[]): void {
  execFileSync('openssl', args, { cwd: dir, stdio: 'ignore' });
}

function makeCa(name: string): void {
  openssl(
    'req',
    '-x509',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-days',
    '2',
    '-subj',
    `/CN=${name}`,
    '-keyout',
    `${name}.key`,
    '-out',
    `${name}.pem`,
  );
}

function makeCert(name: string, ca: string): void {
  openssl('req', '-newkey', 'rsa:2048', '-nodes', '-subj', `/CN=${name}`, '-keyout', `${name}-key.pem`, '-out', `${name}.csr`);
  openssl(
    'x509',
    '-req',
    '-in',
    `${name}.csr`,
    '-CA',
    `${ca}.pem`,
    '-CAkey',
    `${ca}.key`,
    '-CAcreateserial',
    '-days',
    '2',
    '-out',
    `${name}-cert.pem`,
  );
}

beforeAll(async () => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'wyvern-ovsdb-tls-'));
  makeCa('ca');
  makeCa('rogueca');
  makeCert('server', 'ca');
  makeCert('client', 'ca');
  makeCert('rogue', 'rogueca');
  port = await freePort();
  srv = await startOvsdbServer({
    prefix: 'wyvern-ovsdb-tls-srv-',
    remotes: [`pssl:${port}:127.0.0.1`],
    args: [`--private-key=${dir}/server-key.pem`, `--certificate=${dir}/server-cert.pem`, `--ca-cert=${dir}/ca.pem`],
  });
  // The pssl listener comes up with the server; wait until it accepts.
  for (let i = 0; i < 100; i++) {
    try {
      execFileSync('bash', ['-c', `exec 3<>/dev/tcp/127.0.0.1/${port}`], { stdio: 'ignore' });
      break;
    } catch {
      await new Promise((r) => setTimeout(r, 50));
    }
  }
});
afterAll(async () => {
  await srv?.destroy();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('ovsdb over TLS (pssl)', () => {
  it('a client signed by the CA connects and transacts', async () => {
    const c = await OvsdbClient.connect(`ssl:127.0.0.1:${port}`, {
      reconnect: false,
      tls: { ca: pem('ca.pem'), cert: pem('client-cert.pem'), key: pem('client-key.pem') },
    });
    try {
      expect(await c.listDbs()).toContain('Open_vSwitch');
      const r = await c.transact('Open_vSwitch', [{ op: 'select', table: 'Open_vSwitch', where: [] }]);
      expect(r[0]!.rows).toEqual([]);
    } finally {
      await c.close();
    }
  });

  it('a client with a certificate from another CA is refused', async () => {
    const e = await OvsdbClient.connect(`ssl:127.0.0.1:${port}`, {
      reconnect: false,
      connectTimeoutMs: 3000,
      tls: { ca: pem('ca.pem'), cert: pem('rogue-cert.pem'), key: pem('rogue-key.pem') },
    }).then(
      async (c) => {
        await c.close();
        return undefined;
      },
      (err: unknown) => err,
    );
    expect(e).toBeInstanceOf(OvsdbError);
    expect((e as OvsdbError).code).toBe('not-connected');
  });

  it('a client without any certificate is refused', async () => {
    // Connect at TLS level without a client certificate: the handshake or the first exchange fails.
    const e = await OvsdbClient.connect(`ssl:127.0.0.1:${port}`, {
      reconnect: false,
      connectTimeoutMs: 3000,
      tls: { ca: pem('ca.pem') },
    }).then(
      async (c) => {
        await c.close();
        return undefined;
      },
      (err: unknown) => err,
    );
    expect(e).toBeInstanceOf(OvsdbError);
    expect((e as OvsdbError).code).toBe('not-connected');
  });

  it('the client refuses a server whose certificate our CA did not sign', async () => {
    const e = await OvsdbClient.connect(`ssl:127.0.0.1:${port}`, {
      reconnect: false,
      connectTimeoutMs: 3000,
      tls: { ca: pem('rogueca.pem'), cert: pem('rogue-cert.pem'), key: pem('rogue-key.pem') },
    }).then(
      async (c) => {
        await c.close();
        return undefined;
      },
      (err: unknown) => err,
    );
    expect(e).toBeInstanceOf(OvsdbError);
    expect((e as Error).message).toMatch(/certificate|self.signed|verify/i);
  });
});
