/**
 * How a command line names the API it talks to: URL, token, and for https:// the CA to trust and an optional
 * client certificate. Flags win over environment variables. The token can come from a file (or the
 * environment) so it is not on the command line, where `ps` shows it.
 */
import { readFileSync } from 'node:fs';
import { ApiClient, ApiClientError, type ApiClientTls } from './client.js';
import { DEFAULT_API_URL } from './listen.js';

export interface ApiClientSettings {
  api?: string;
  token?: string;
  tokenFile?: string;
  /** PEM file paths. */
  cacert?: string;
  cert?: string;
  key?: string;
}

export const CLIENT_ENV = {
  api: 'WYVERN_API',
  token: 'WYVERN_TOKEN',
  tokenFile: 'WYVERN_TOKEN_FILE',
  cacert: 'WYVERN_CACERT',
  cert: 'WYVERN_CERT',
  key: 'WYVERN_KEY',
} as const;

function readFile(what: string, path: string): Buffer {
  try {
    return readFileSync(path);
  } catch (e) {
    throw new ApiClientError(0, 'BAD_CONFIG', `${what}: cannot read ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
}

export function apiClientFrom(flags: ApiClientSettings, env: NodeJS.ProcessEnv = process.env): ApiClient {
  const pick = (k: keyof ApiClientSettings): string | undefined => {
    const v = flags[k] ?? env[CLIENT_ENV[k]];
    return v === '' ? undefined : v;
  };
  const api = pick('api') ?? DEFAULT_API_URL;
  let token = flags.token;
  const tokenFile = flags.tokenFile ?? (token === undefined ? env[CLIENT_ENV.tokenFile] : undefined);
  if (token !== undefined && flags.tokenFile !== undefined)
    throw new ApiClientError(0, 'BAD_CONFIG', '--token and --token-file: give one of them');
  if (tokenFile) {
    token = readFile('--token-file', tokenFile)
      .toString('utf8')
      .replace(/\r?\n$/, '');
    if (token === '') throw new ApiClientError(0, 'BAD_CONFIG', `--token-file: ${tokenFile} is empty`);
  }
  token ??= env[CLIENT_ENV.token];
  const tls: ApiClientTls = {};
  const secure = api.startsWith('https://');
  if (!secure && (flags.cacert || flags.cert || flags.key))
    throw new ApiClientError(0, 'BAD_CONFIG', `--cacert/--cert/--key are for https:// API URLs, not ${api}`);
  // WYVERN_CACERT & co. may be set for the usual https:// API while one command talks to a unix socket.
  const cacert = secure ? pick('cacert') : undefined;
  const cert = secure ? pick('cert') : undefined;
  const key = secure ? pick('key') : undefined;
  if ((cert === undefined) !== (key === undefined))
    throw new ApiClientError(0, 'BAD_CONFIG', '--cert and --key go together (a client certificate and its key)');
  if (cacert) tls.ca = readFile('--cacert', cacert);
  if (cert && key) {
    tls.cert = readFile('--cert', cert);
    tls.key = readFile('--key', key);
  }
  return new ApiClient(api, token === '' ? undefined : token, tls);
}
