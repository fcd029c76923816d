import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { rootCertificates } from 'node:tls';
import { afterAll, describe, expect, it } from 'vitest';
import { defaultCa, EXTRA_CA_ENV } from '../../src/api/extra-ca.js';
import { makePki } from '../helpers/pki.js';

/**
 * The launcher hands NODE_EXTRA_CA_CERTS to the CLI as WYVERN_EXTRA_CA_CERTS (Node would read it at every start):
 * the API client trusts Node's public CAs plus that file's certificates, as Node would have.
 */
describe('WYVERN_EXTRA_CA_CERTS (the extra CAs the launcher hands the CLI)', () => {
  const pki = makePki();
  const dir = mkdtempSync(join(tmpdir(), 'wv-extra-ca-'));
  afterAll(() => {
    pki.cleanup();
    rmSync(dir, { recursive: true, force: true });
  });

  it("unset or empty: Node's own default (undefined), and nothing read", () => {
    const warn: string[] = [];
    expect(defaultCa({}, (m) => warn.push(m))).toBeUndefined();
    expect(defaultCa({ [EXTRA_CA_ENV]: '' }, (m) => warn.push(m))).toBeUndefined();
    expect(warn).toEqual([]);
  });

  it("a file of certificates: Node's public CAs and each of its certificates", () => {
    const ca = readPem(pki.ca);
    const file = join(dir, 'two.pem');
    writeFileSync(file, `# a comment Node ignores too\n${ca}\n${readPem(pki.server.cert)}`);
    const got = defaultCa({ [EXTRA_CA_ENV]: file })!;
    expect(got.length).toBe(rootCertificates.length + 2);
    expect(got.slice(0, rootCertificates.length)).toEqual([...rootCertificates]);
    expect(got[rootCertificates.length]).toBe(ca.trim());
  });

  it('a file that cannot be read, or holds no certificate: warned of, left out (as Node does)', () => {
    const warn: string[] = [];
    expect(defaultCa({ [EXTRA_CA_ENV]: join(dir, 'missing.pem') }, (m) => warn.push(m))).toBeUndefined();
    const empty = join(dir, 'empty.pem');
    writeFileSync(empty, 'not a certificate\n');
    expect(defaultCa({ [EXTRA_CA_ENV]: empty }, (m) => warn.push(m))).toBeUndefined();
    expect(warn).toEqual([
      expect.stringMatching(/^Ignoring extra certs from .*missing\.pem, load failed: ENOENT/),
      expect.stringMatching(/^Ignoring extra certs from .*empty\.pem: it holds no PEM certificate/),
    ]);
  });
});

const readPem = (path: string): string => readFileSync(path, 'utf8');
