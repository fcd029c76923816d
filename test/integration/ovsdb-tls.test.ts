import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { OvsdbClient } from '../../src/ovsdb/client.js';
import { OvsdbError } from '../../src/ovsdb/errors.js';
import { freePort } from '../../src/util/free-port.js';
import { startOvsdbServer, type OvsdbTestServer } from '../helpers/ovsdb-server.js';
import { makePki, type CertFiles, type Pki } from '../helpers/pki.js';

// Passive SSL (pssl:) as OVS deploys it: the server and every controller hold certificates
// signed by one CA; the server accepts any client signed by it and nobody else.
let pki: Pki;
let srv: OvsdbTestServer;
let port: number;
/** PEM contents of a file of the test PKI. */
const pem = (file: string) => readFileSync(file);
/** A certificate and key the test PKI made, as the client's TLS options take them. */
const certOf = (c: CertFiles) => ({ cert: pem(c.cert), key: pem(c.key) });

beforeAll(async () => {
  pki = makePki();
  port = await freePort();
  srv = await startOvsdbServer({
    prefix: 'wyvern-ovsdb-tls-srv-',
    remotes: [`pssl:${port}:127.0.0.1`],
    args: [`--private-key=${pki.server.key}`, `--certificate=${pki.server.cert}`, `--ca-cert=${pki.ca}`],
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
  pki?.cleanup();
});

describe('ovsdb over TLS (pssl)', () => {
  it('a client signed by the CA connects and transacts', async () => {
    const c = await OvsdbClient.connect(`ssl:127.0.0.1:${port}`, {
      reconnect: false,
      tls: { ca: pem(pki.ca), ...certOf(pki.client) },
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
      tls: { ca: pem(pki.ca), ...certOf(pki.otherClient) },
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
      tls: { ca: pem(pki.ca) },
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
      tls: { ca: pem(pki.otherCa), ...certOf(pki.otherClient) },
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
