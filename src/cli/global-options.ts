import type { ParseArgsConfig } from 'node:util';
import { DEFAULT_API_URL } from '../api/listen.js';

/**
 * The options every API command takes (`wyvern network list --api URL --json`). A module of their own, importing
 * no API client: `wyvern agent` and the command table read them at start without loading node:http.
 */
export const GLOBAL_OPTIONS = {
  api: { type: 'string' },
  token: { type: 'string' },
  'token-file': { type: 'string' },
  cacert: { type: 'string' },
  cert: { type: 'string' },
  key: { type: 'string' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const satisfies ParseArgsConfig['options'];

export const GLOBAL_HELP = `Global options:
  --api URL          API address: http://HOST:PORT, https://HOST:PORT or unix:/path (env WYVERN_API; default ${DEFAULT_API_URL})
  --token T          bearer token (env WYVERN_TOKEN; ps shows flags: prefer the env or --token-file)
  --token-file FILE  read the bearer token from FILE (env WYVERN_TOKEN_FILE)
  --cacert FILE      https://: trust the CA certificate in FILE (env WYVERN_CACERT)
  --cert FILE        https://: present this client certificate … (env WYVERN_CERT)
  --key FILE         … with this key (env WYVERN_KEY)
  --json             machine-readable JSON output
  --if-match REV     update, delete, and a router's or group's parts: make the change only while the object is at
                     revision REV, as show printed it (else it fails with PRECONDITION_FAILED, writing nothing); * any
  -h, --help         show help`;
