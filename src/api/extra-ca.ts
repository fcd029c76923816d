/**
 * NODE_EXTRA_CA_CERTS, read only when a connection needs it.
 *
 * Node reads and parses the file NODE_EXTRA_CA_CERTS names as the process starts, before any of wyvern's code runs:
 * with Debian's bundle (/etc/ssl/certs/ca-certificates.crt, ~140 certificates) that made every `wyvern` command take
 * 90–170 ms instead of 40–60 on a machine whose environment sets it (docs/cli.md), whether it spoke HTTPS or not. The
 * package's launcher (/usr/bin/wyvern) therefore hands the file to the CLI as WYVERN_EXTRA_CA_CERTS instead, and the
 * API client adds its certificates to Node's public CAs when it connects over HTTPS without a CA of its own
 * (--cacert), as Node would have. (The agent runs without either: every TLS endpoint of it is given its CA.)
 */
import { readFileSync } from 'node:fs';
import { rootCertificates } from 'node:tls';

/** The variable the launcher moves NODE_EXTRA_CA_CERTS to. */
export const EXTRA_CA_ENV = 'WYVERN_EXTRA_CA_CERTS';

let cached: { file: string; ca: string[] | undefined } | undefined;

/**
 * The CAs an HTTPS connection without its own trusts: Node's public CAs and the certificates of the file
 * WYVERN_EXTRA_CA_CERTS names, or undefined (Node's own default) when it names none. A file that cannot be read is
 * warned of once and left out, as Node does with NODE_EXTRA_CA_CERTS.
 */
export function defaultCa(env: NodeJS.ProcessEnv = process.env, warn = (m: string) => process.emitWarning(m)): string[] | undefined {
  const file = env[EXTRA_CA_ENV];
  if (!file) return undefined;
  if (cached?.file !== file) cached = { file, ca: readExtra(file, warn) };
  return cached.ca;
}

function readExtra(file: string, warn: (m: string) => void): string[] | undefined {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    warn(`Ignoring extra certs from ${file}, load failed: ${(err as Error).message}`);
    return undefined;
  }
  const certs = text.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
  if (certs.length === 0) {
    warn(`Ignoring extra certs from ${file}: it holds no PEM certificate`);
    return undefined;
  }
  return [...rootCertificates, ...certs];
}
