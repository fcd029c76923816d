/** `wyvern api --store URL [--listen ADDR] [--token T]`: the API standalone (management hosts without OVS). */
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { indexUntilDone } from '../agent/lazy-index.js';
import { loadAgentTls } from '../agent/tls.js';
import { DEFAULT_LISTEN } from '../api/listen.js';
import { startApiServer } from '../api/server.js';
import { createLogger } from '../util/log.js';
import { setServerTierUp } from '../util/tier-up.js';
import { out, parseFlags, run, UsageError, type Command } from './common.js';

const HELP = `usage: wyvern api --store URL [--listen ADDR] [--token-file F] [--api-cert F --api-key F [--api-client-ca F]]
  --store URL            etcd://HOST:PORT[,HOST:PORT…] | etcds://… | level:/path/to/dir | memory:  (env WYVERN_STORE;
                         a URL with a password belongs in the env: ps shows flags)
  --store-ca FILE        etcds://: CA certificate (PEM) of the etcd members (env WYVERN_STORE_CA)
  --store-cert FILE      etcds://: client certificate (PEM) … (env WYVERN_STORE_CERT)
  --store-key FILE       … and its key (env WYVERN_STORE_KEY)
  --store-user NAME      etcd user (env WYVERN_STORE_USER)
  --store-password-file F  etcd password read from F (or env WYVERN_STORE_PASSWORD)
  --listen ADDR          HOST:PORT, [IPV6]:PORT, tcp:HOST:PORT or unix:/path (default ${DEFAULT_LISTEN});
                         non-loopback needs a token or client CA
  --api-cert FILE        serve HTTPS with this certificate (PEM) … (env WYVERN_API_CERT)
  --api-key FILE         … and key (env WYVERN_API_KEY)
  --api-client-ca FILE   mutual TLS: clients must present a certificate this CA signed (env WYVERN_API_CLIENT_CA)
  --token T              require "Authorization: Bearer T" (env WYVERN_TOKEN; prefer the env or --token-file)
  --token-file FILE      the token read from FILE (env WYVERN_TOKEN_FILE)
Serves GET /healthz and /readyz (the store answers) without authentication, and /metrics (Prometheus) with it.
Runs until SIGINT/SIGTERM. Prints the URL it serves on stdout once listening.`;

const FLAGS = {
  store: 'WYVERN_STORE',
  'store-ca': 'WYVERN_STORE_CA',
  'store-cert': 'WYVERN_STORE_CERT',
  'store-key': 'WYVERN_STORE_KEY',
  'store-user': 'WYVERN_STORE_USER',
  'store-password-file': 'WYVERN_STORE_PASSWORD_FILE',
  listen: 'WYVERN_API_LISTEN',
  'api-cert': 'WYVERN_API_CERT',
  'api-key': 'WYVERN_API_KEY',
  'api-client-ca': 'WYVERN_API_CLIENT_CA',
  token: 'WYVERN_TOKEN',
  'token-file': 'WYVERN_TOKEN_FILE',
} as const;
type Flag = keyof typeof FLAGS;

function readSecret(flag: string, path: string): string {
  let v: string;
  try {
    v = readFileSync(path, 'utf8').replace(/\r?\n$/, '');
  } catch (e) {
    throw new UsageError(`--${flag}: cannot read ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  if (v === '') throw new UsageError(`--${flag}: ${path} is empty`);
  return v;
}

export const apiCommand: Command = (argv) =>
  run(HELP, argv, async () => {
    const options = Object.fromEntries(Object.keys(FLAGS).map((k) => [k, { type: 'string' as const }]));
    const values = parseFlags(argv, options, { positionals: false }).values as Partial<Record<Flag, string>>;
    const get = (f: Flag): string | undefined => values[f] ?? (process.env[FLAGS[f]] || undefined);
    const storeUrl = get('store');
    if (!storeUrl) throw new UsageError('--store is required (or set WYVERN_STORE)');
    if (values.token !== undefined && values['token-file'] !== undefined)
      throw new UsageError('--token and --token-file: give one of them');
    const tokenFile = values['token-file'] ?? (values.token === undefined ? get('token-file') : undefined);
    const token = tokenFile ? readSecret('token-file', tokenFile) : get('token');
    const passwordFile = get('store-password-file');
    const storePassword = passwordFile ? readSecret('store-password-file', passwordFile) : process.env.WYVERN_STORE_PASSWORD || undefined;
    const apiCert = get('api-cert');
    const apiKey = get('api-key');
    if ((apiCert === undefined) !== (apiKey === undefined)) throw new UsageError('--api-cert and --api-key go together');
    if (get('api-client-ca') && !apiCert) throw new UsageError('--api-client-ca needs --api-cert and --api-key');
    if (storeUrl.trim().startsWith('etcds://') && !get('store-ca')) throw new UsageError('--store-ca is required for an etcds:// store');
    const tls = loadAgentTls({
      storeCa: get('store-ca'),
      storeCert: get('store-cert'),
      storeKey: get('store-key'),
      storeUser: get('store-user'),
      storePassword,
      apiCert,
      apiKey,
      apiClientCa: get('api-client-ca'),
    });
    setServerTierUp();
    const logger = createLogger({ name: 'wyvern-api' });
    const { openStore } = await import('../store/index.js');
    const store = await openStore(storeUrl, { logger, ...tls.store });
    let server;
    try {
      server = await startApiServer({ store, listen: get('listen') ?? DEFAULT_LISTEN, logger, ...(token ? { token } : {}), ...tls.api });
    } catch (e) {
      await store.close();
      throw e;
    }
    out(`wyvern api listening on ${server.url}`);
    // The lazy index made complete (what every agent does at start): until the store says so, this process's writers
    // read every router and FIP of the store on each network write, where they would read the few placed there. A
    // cluster whose topology is written before any agent runs (or by this process alone) needs it from here.
    let stopped = false;
    void indexUntilDone(store, `api/${hostname()}/${process.pid}`, logger, () => stopped);
    await new Promise<void>((resolve) => {
      const stop = (): void => {
        stopped = true;
        resolve();
      };
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
    });
    // A planned stop answers the requests in flight first (startApiServer's close); a second signal cuts them.
    const cut = (): void => void server.close({ drainMs: 0 });
    process.once('SIGINT', cut);
    process.once('SIGTERM', cut);
    await server.close();
    await store.close();
  });
