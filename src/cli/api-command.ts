/** `wyvern api --store URL [--listen ADDR] [--token T]`: the API standalone (management hosts without OVS). */
import { DEFAULT_LISTEN } from '../api/listen.js';
import { startApiServer } from '../api/server.js';
import { createLogger } from '../util/log.js';
import { out, run, UsageError, type Command } from './common.js';
import { parseArgs } from 'node:util';

const HELP = `usage: wyvern api --store URL [--listen ADDR] [--token T]
  --store URL     etcd://HOST:PORT[,HOST:PORT…] | etcds://… | level:/path/to/dir | memory:  (env WYVERN_STORE)
  --listen ADDR   tcp:HOST:PORT or unix:/path (default ${DEFAULT_LISTEN}); non-loopback needs --token
  --token T       require "Authorization: Bearer T" (env WYVERN_TOKEN)
Runs until SIGINT/SIGTERM. Prints the URL it serves on stdout once listening.`;

export const apiCommand: Command = (argv) => run(HELP, argv, async () => {
  let values: { store?: string; listen?: string; token?: string };
  try {
    values = parseArgs({ args: argv, options: { store: { type: 'string' }, listen: { type: 'string' }, token: { type: 'string' } }, strict: true, allowPositionals: false }).values;
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  const storeUrl = values.store ?? process.env.WYVERN_STORE;
  if (!storeUrl) throw new UsageError('--store is required (or set WYVERN_STORE)');
  const token = values.token ?? process.env.WYVERN_TOKEN;
  const logger = createLogger({ name: 'wyvern-api' });
  const { openStore } = await import('../store/index.js');
  const store = await openStore(storeUrl, { logger });
  let server;
  try {
    server = await startApiServer({ store, listen: values.listen ?? DEFAULT_LISTEN, logger, ...(token ? { token } : {}) });
  } catch (e) {
    await store.close();
    throw e;
  }
  out(`wyvern api listening on ${server.url}`);
  await new Promise<void>((resolve) => {
    const stop = (): void => { resolve(); };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
  await server.close();
  await store.close();
});
