/**
 * TLS end to end: an agent (real process from the built JS, started as the sandbox starts it) on a sandbox host
 * talks to a TLS-only etcd that requires client certificates (etcds:// + store-ca/cert/key), serves its API over
 * HTTPS with mutual TLS, and the CLI drives it with --cacert and a client certificate.
 */
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAgent, stopAgent, type AgentInfo } from '../../src/sandbox/agents.js';
import { Sandbox } from '../../src/sandbox/index.js';
import { startEtcd, type EtcdCluster } from '../helpers/etcd.js';
import { makePki, type Pki } from '../helpers/pki.js';
import { requireSandboxPrereqs } from './sandbox-helpers.js';
import { wyvern } from '../helpers/cli.js';

let pki: Pki;
let etcd: EtcdCluster;
let sb: Sandbox;
let agent: AgentInfo;

beforeAll(async () => {
  requireSandboxPrereqs();
  pki = makePki();
  etcd = await startEtcd({
    tls: {
      certFile: pki.server.cert,
      keyFile: pki.server.key,
      caFile: pki.ca,
      clientCertAuth: true,
      probeCertFile: pki.client.cert,
      probeKeyFile: pki.client.key,
    },
  });
  sb = await Sandbox.up({ hosts: 1 });
  agent = await startAgent(sb, 'hv1', {
    store: etcd.url,
    args: [
      '--store-ca',
      pki.ca,
      '--store-cert',
      pki.client.cert,
      '--store-key',
      pki.client.key,
      '--api-cert',
      pki.server.cert,
      '--api-key',
      pki.server.key,
      '--api-client-ca',
      pki.ca,
    ],
  });
}, 120_000);

afterAll(async () => {
  if (sb) await stopAgent(sb, 'hv1').catch(() => undefined);
  await sb?.down();
  await etcd?.stop();
  pki?.cleanup();
});

describe('agent with etcds:// and an HTTPS API, driven by the CLI', () => {
  const client = () => ['--cacert', pki.ca, '--cert', pki.client.cert, '--key', pki.client.key];

  it('comes up on a TLS-only etcd and serves `wyvern agent status` over HTTPS', async () => {
    expect(etcd.url).toMatch(/^etcds:\/\//);
    expect(agent.api).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    const r = await wyvern(['agent', 'status', '--api', agent.api, ...client()]);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ chassis: 'hv1' });
    // Its chassis is in etcd (read back through the same HTTPS API), so the store really is the TLS etcd.
    const ch = await wyvern(['chassis', 'list', '--api', agent.api, ...client()]);
    expect(ch.code, ch.stderr).toBe(0);
    expect(ch.stdout).toMatch(/hv1/);
    // The same from the environment.
    const env = await wyvern(['agent', 'status'], {
      WYVERN_API: agent.api,
      WYVERN_CACERT: pki.ca,
      WYVERN_CERT: pki.client.cert,
      WYVERN_KEY: pki.client.key,
    });
    expect(env.code, env.stderr).toBe(0);
  });

  it('trusts the CA of WYVERN_EXTRA_CA_CERTS (where the launcher moves NODE_EXTRA_CA_CERTS) without --cacert', async () => {
    const mtls = ['--cert', pki.client.cert, '--key', pki.client.key];
    const r = await wyvern(['agent', 'status', '--api', agent.api, ...mtls], { WYVERN_EXTRA_CA_CERTS: pki.ca });
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ chassis: 'hv1' });
    // The public CAs stay trusted beside it, and a file of another CA trusts nothing of ours.
    const other = await wyvern(['agent', 'status', '--api', agent.api, ...mtls], { WYVERN_EXTRA_CA_CERTS: pki.otherCa });
    expect(other.code).toBe(1);
    expect(other.stderr).toMatch(/not signed by a trusted CA/);
    // An unreadable file is warned of, as Node warns of a NODE_EXTRA_CA_CERTS it cannot load, and left out.
    const missing = await wyvern(['agent', 'status', '--api', agent.api, ...mtls], { WYVERN_EXTRA_CA_CERTS: '/nonexistent.pem' });
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/Ignoring extra certs from \/nonexistent\.pem, load failed/);
  });

  it('without the CA or with a certificate from another CA, the CLI says why', async () => {
    const noCa = await wyvern(['agent', 'status', '--api', agent.api, '--cert', pki.client.cert, '--key', pki.client.key]);
    expect(noCa.code).toBe(1);
    expect(noCa.stderr).toMatch(/not signed by a trusted CA/);
    const rogue = await wyvern([
      'agent',
      'status',
      '--api',
      agent.api,
      '--cacert',
      pki.ca,
      '--cert',
      pki.otherClient.cert,
      '--key',
      pki.otherClient.key,
    ]);
    expect(rogue.code).toBe(1);
    expect(rogue.stderr).toMatch(/client certificate refused: certificate is not signed by a trusted CA/);
  });

  it('an agent without a client certificate for etcd fails to start, saying etcd refused it', async () => {
    const log = readFileSync(agent.log, 'utf8');
    expect(log).toMatch(/agent started/);
    await stopAgent(sb, 'hv1');
    await expect(startAgent(sb, 'hv1', { store: etcd.url, args: ['--store-ca', pki.ca], timeoutMs: 20_000 })).rejects.toThrow(
      /etcd refused our client certificate .*no client certificate was given/,
    );
  }, 60_000);
});
