/**
 * TLS loopback: OfListener accepting a switch that presents a CA-signed certificate, OfChannel dialling a
 * TLS switch, and both refusing a peer whose certificate another CA signed. Certificates come from the test PKI
 * (test/helpers/pki.ts: openssl at test time, fails loudly if it is missing).
 */
import { readFileSync } from 'node:fs';
import { connect as tlsConnect, createServer as tlsServer, type TLSSocket } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeMessage, encodeMessage, type OfMessage } from '../../src/openflow/index.js';
import { OfChannel, OfListener, type OfSession, type TlsFiles, type UpEvent } from '../../src/openflow/channel/index.js';
import { Framer } from '../../src/openflow/channel/framer.js';
import { makePki, type Pki } from '../helpers/pki.js';

let pki: Pki;

/** The controller and the switch hold certificates the CA signed; the rogue's, another CA's. */
const CERTS = { controller: (p: Pki) => p.server, switch: (p: Pki) => p.client, rogue: (p: Pki) => p.otherServer };
const CAS = { ca: (p: Pki) => p.ca, 'rogue-ca': (p: Pki) => p.otherCa };

const files = (name: keyof typeof CERTS, ca: keyof typeof CAS): TlsFiles => {
  const c = CERTS[name](pki);
  return { ca: readFileSync(CAS[ca](pki)), cert: readFileSync(c.cert), key: readFileSync(c.key) };
};

beforeAll(() => {
  pki = makePki();
}, 60_000);

afterAll(() => {
  pki?.cleanup();
});

/** The switch side of the protocol, just enough for a handshake and barriers. */
function actAsSwitch(sock: TLSSocket, dpid: bigint): void {
  const framer = new Framer();
  const send = (m: OfMessage) => sock.write(encodeMessage(m));
  sock.write(Buffer.from('0400001000000001' + '0001000800000010', 'hex'));
  sock.on('error', () => undefined);
  sock.on('data', (chunk: Buffer) =>
    framer.push(chunk, (f) => {
      const m = decodeMessage(f);
      if (m.type === 'FEATURES_REQUEST') {
        send({
          type: 'FEATURES_REPLY',
          xid: m.xid,
          datapathId: dpid,
          nBuffers: 0,
          nTables: 254,
          auxiliaryId: 0,
          capabilities: 0,
          reserved: 0,
        });
      } else if (m.type === 'BARRIER_REQUEST') {
        send({ type: 'BARRIER_REPLY', xid: m.xid });
      }
    }),
  );
}

function switchConnects(port: number, tls: TlsFiles): TLSSocket {
  const s = tlsConnect({ host: '127.0.0.1', port, ca: tls.ca, cert: tls.cert, key: tls.key, checkServerIdentity: () => undefined });
  s.on('secureConnect', () => actAsSwitch(s, 0x5eedn));
  s.on('error', () => undefined);
  return s;
}

describe('OfListener over TLS', () => {
  it('accepts a switch with a CA-signed certificate and talks OpenFlow to it', async () => {
    const l = new OfListener({ endpoint: 'ssl:127.0.0.1:0', tls: files('controller', 'ca') });
    const addr = await l.listen();
    if (addr.kind === 'unix') throw new Error('unexpected');
    try {
      const got = new Promise<OfSession>((resolve) => l.once('switch', resolve));
      const sw = switchConnects(addr.port, files('switch', 'ca'));
      const session = await got;
      expect(session.features?.datapathId).toBe(0x5eedn);
      await session.barrier();
      expect(l.sessions).toHaveLength(1);
      sw.destroy();
    } finally {
      await l.close();
    }
  });

  it('refuses a switch whose certificate another CA signed', async () => {
    const l = new OfListener({ endpoint: 'ssl:127.0.0.1:0', tls: files('controller', 'ca') });
    const addr = await l.listen();
    if (addr.kind === 'unix') throw new Error('unexpected');
    let switches = 0;
    l.on('switch', () => switches++);
    try {
      const sw = switchConnects(addr.port, files('rogue', 'ca'));
      await new Promise((r) => sw.once('close', r));
      expect(switches).toBe(0);
    } finally {
      await l.close();
    }
  });
});

describe('OfChannel dialling TLS', () => {
  async function tlsSwitch(tls: TlsFiles) {
    const peers: TLSSocket[] = [];
    const server = tlsServer({ ca: tls.ca, cert: tls.cert, key: tls.key, requestCert: true, rejectUnauthorized: true }, (s) => {
      peers.push(s);
      actAsSwitch(s, 0x7n);
    });
    server.on('tlsClientError', () => undefined);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as { port: number }).port;
    return {
      port,
      peers,
      close: () =>
        new Promise<void>((r) => {
          for (const p of peers) p.destroy();
          server.close(() => r());
        }),
    };
  }

  it('verifies the switch against the CA, presents its certificate, comes up', async () => {
    const sw = await tlsSwitch(files('switch', 'ca'));
    const ch = new OfChannel({
      endpoint: `ssl:127.0.0.1:${sw.port}`,
      tls: files('controller', 'ca'),
      reconnect: { minMs: 20, maxMs: 100 },
    });
    try {
      const up = new Promise<UpEvent>((r) => ch.once('up', r));
      ch.start();
      expect((await up).features.datapathId).toBe(0x7n);
      expect(sw.peers[0]!.authorized).toBe(true);
      expect(sw.peers[0]!.getPeerCertificate().subject.CN).toBe('wyvern-test-server'); // the controller's certificate
      await ch.barrier();
    } finally {
      await ch.stop();
      await sw.close();
    }
  });

  it('does not come up with a switch whose certificate another CA signed', async () => {
    const sw = await tlsSwitch(files('rogue', 'rogue-ca'));
    const ch = new OfChannel({
      endpoint: `ssl:127.0.0.1:${sw.port}`,
      tls: files('controller', 'ca'),
      reconnect: { minMs: 20, maxMs: 100 },
    });
    const errors: Error[] = [];
    ch.on('connectError', (e: Error) => errors.push(e));
    try {
      ch.start();
      await new Promise((r) => setTimeout(r, 300));
      expect(ch.isUp).toBe(false);
      expect(errors.length).toBeGreaterThan(0);
      expect(String(errors[0]!.message)).toMatch(/certificate|self.signed|unable to verify/i);
    } finally {
      await ch.stop();
      await sw.close();
    }
  });
});
