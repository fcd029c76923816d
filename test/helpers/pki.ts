/**
 * A throwaway PKI made with `openssl` at test time (nothing checked in): a CA, certificates it signs for a
 * server (SAN 127.0.0.1 and localhost) and a client, and the bad ones every TLS test needs — signed by another
 * CA, expired, and a server certificate for another host name. P-256 keys: quick to make, accepted by Node,
 * etcd and OVS. OpenSSL 3.0's `x509` cannot back-date a certificate, so the expired one goes through `openssl ca`
 * with -startdate/-enddate.
 *
 *   const pki = makePki();        // files under pki.dir; pki.cleanup() in afterAll
 *   readFileSync(pki.ca), pki.server.cert, pki.server.key, pki.client…, pki.otherCa…, pki.expired…, pki.wrongHost…
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface CertFiles {
  cert: string;
  key: string;
}

export interface Pki {
  dir: string;
  /** The trusted CA certificate (PEM path). */
  ca: string;
  /** Server certificate: SAN IP:127.0.0.1, DNS:localhost; serverAuth and clientAuth (OVS uses one for both). */
  server: CertFiles;
  /** Client certificate (clientAuth and serverAuth) signed by the CA. */
  client: CertFiles;
  /** Another CA: its certificate, a server and a client certificate it signed (same SANs). */
  otherCa: string;
  otherServer: CertFiles;
  otherClient: CertFiles;
  /** Signed by the CA, valid only in 2020 (server SANs: usable on either side). */
  expired: CertFiles;
  /** Signed by the CA for DNS:wrong.example only: a server presenting it fails the host name check. */
  wrongHost: CertFiles;
  cleanup(): void;
}

function openssl(cwd: string, ...args: string[]): void {
  try {
    execFileSync('openssl', args, { cwd, stdio: 'pipe' });
  } catch (e) {
    const err = e as { stderr?: Buffer; message: string };
    throw new Error(`openssl ${args[0]} failed (is openssl installed? apt-get install openssl): ${err.stderr?.toString() ?? err.message}`);
  }
}

const KEY = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
const BOTH = 'extendedKeyUsage=serverAuth,clientAuth\n';
const LOCAL_SAN = 'subjectAltName=IP:127.0.0.1,DNS:localhost\n';

function makeCa(dir: string, name: string): void {
  openssl(dir, 'req', '-x509', ...KEY, '-keyout', `${name}.key`, '-out', `${name}.crt`, '-days', '2', '-subj', `/CN=wyvern-test-${name}`);
}

function makeCert(dir: string, name: string, ca: string, ext: string): CertFiles {
  writeFileSync(join(dir, `${name}.ext`), ext);
  openssl(dir, 'req', ...KEY, '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=wyvern-test-${name}`);
  openssl(
    dir,
    'x509',
    '-req',
    '-in',
    `${name}.csr`,
    '-CA',
    `${ca}.crt`,
    '-CAkey',
    `${ca}.key`,
    '-CAcreateserial',
    '-days',
    '2',
    '-out',
    `${name}.crt`,
    '-extfile',
    `${name}.ext`,
  );
  chmodSync(join(dir, `${name}.key`), 0o600);
  return { cert: join(dir, `${name}.crt`), key: join(dir, `${name}.key`) };
}

/** `openssl ca` is the only 3.0 tool that sets arbitrary validity dates; it needs a minimal database. */
function makeExpired(dir: string, name: string, ca: string): CertFiles {
  const db = join(dir, 'ca-db');
  mkdirSync(db, { recursive: true });
  writeFileSync(join(db, 'index.txt'), '');
  writeFileSync(join(db, 'serial'), '1000\n');
  writeFileSync(
    join(dir, 'ca.cnf'),
    `[ca]\ndefault_ca = test\n[test]\ndir = ${db}\ndatabase = $dir/index.txt\nserial = $dir/serial\nnew_certs_dir = $dir\n` +
      `certificate = ${join(dir, `${ca}.crt`)}\nprivate_key = ${join(dir, `${ca}.key`)}\ndefault_md = sha256\npolicy = any\n` +
      `copy_extensions = none\nx509_extensions = ext\n[any]\ncommonName = supplied\n[ext]\n${LOCAL_SAN}${BOTH}`,
  );
  openssl(dir, 'req', ...KEY, '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=wyvern-test-${name}`);
  openssl(
    dir,
    'ca',
    '-batch',
    '-config',
    'ca.cnf',
    '-in',
    `${name}.csr`,
    '-out',
    `${name}.crt`,
    '-notext',
    '-startdate',
    '20200101000000Z',
    '-enddate',
    '20200102000000Z',
  );
  chmodSync(join(dir, `${name}.key`), 0o600);
  return { cert: join(dir, `${name}.crt`), key: join(dir, `${name}.key`) };
}

export function makePki(dir = mkdtempSync(join(tmpdir(), 'wyvern-pki-'))): Pki {
  makeCa(dir, 'ca');
  makeCa(dir, 'other-ca');
  return {
    dir,
    ca: join(dir, 'ca.crt'),
    server: makeCert(dir, 'server', 'ca', LOCAL_SAN + BOTH),
    client: makeCert(dir, 'client', 'ca', BOTH),
    otherCa: join(dir, 'other-ca.crt'),
    otherServer: makeCert(dir, 'other-server', 'other-ca', LOCAL_SAN + BOTH),
    otherClient: makeCert(dir, 'other-client', 'other-ca', BOTH),
    expired: makeExpired(dir, 'expired', 'ca'),
    wrongHost: makeCert(dir, 'wrong-host', 'ca', 'subjectAltName=DNS:wrong.example\n' + BOTH),
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  };
}
