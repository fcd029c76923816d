/** Shared CLI plumbing: global options, API client, output (tables / --json), errors → exit codes. */
import { ApiClient, ApiClientError } from '../api/client.js';
import { apiClientFrom } from '../api/client-config.js';
import { etag, isRevisionText, revisionOfEtag } from '../api/etag.js';
import { parseFlags, UsageError, type FlagOptions, type ParsedFlags } from '../util/args.js';
import { GLOBAL_HELP, GLOBAL_OPTIONS } from './global-options.js';

export { parseFlags, UsageError };

export type Command = (argv: string[]) => Promise<number>;

export const EXIT_OK = 0;
export const EXIT_FAIL = 1;
export const EXIT_USAGE = 2;

/** Options every API command accepts (anywhere on the line). */
// In their own module: the agent and the command table need them without the API client (node:http).
export { GLOBAL_HELP, GLOBAL_OPTIONS } from './global-options.js';

export type Parsed = ParsedFlags;

/**
 * Strict parse of an API command's line: its own options plus the global ones, and `--if-match` for a command that
 * changes one existing object (`conditional`): anywhere else it would change nothing, so it is refused as unknown.
 */
export function parse(argv: string[], options: FlagOptions = {}, conditional = false): Parsed {
  return parseFlags(argv, { ...GLOBAL_OPTIONS, ...options, ...(conditional ? IF_MATCH_OPTION : {}) });
}

const IF_MATCH_OPTION: FlagOptions = { 'if-match': { type: 'string' } };

export function positionals(p: Parsed, names: string[], usage: string): string[] {
  if (p.positionals.length !== names.length) {
    throw new UsageError(
      p.positionals.length < names.length
        ? `missing ${names.slice(p.positionals.length).join(' ')}\nusage: ${usage}`
        : `unexpected argument ${p.positionals[names.length]}\nusage: ${usage}`,
    );
  }
  return p.positionals;
}

export function client(p: Parsed): ApiClient {
  const v = p.values as Record<string, string | undefined>;
  const c = apiClientFrom({ api: v.api, token: v.token, tokenFile: v['token-file'], cacert: v.cacert, cert: v.cert, key: v.key });
  if (v['if-match'] !== undefined) c.ifMatch = ifMatchOf(v['if-match']);
  return c;
}

/** `--if-match REV`: the revision `show` printed (quoted into an ETag), an ETag as the API sent it, or `*`. */
function ifMatchOf(v: string): string {
  if (v === '*' || revisionOfEtag(v) !== undefined) return v;
  if (isRevisionText(v)) return etag(Number(v));
  throw new UsageError(`--if-match takes the revision \`show\` printed (e.g. 1234) or *, not ${JSON.stringify(v)}`);
}

/**
 * `obj` with the revision an answer carried (ApiClient.callTagged), for `details`: what `--if-match` takes to change
 * the object only while it is so. None (a list, a deletion): `obj` as it is.
 */
export const withRevisionLine = <T extends object>(obj: T, revision: number | undefined): T | (T & { revision: number }) =>
  revision === undefined ? obj : { ...obj, revision };

export function out(text: string): void {
  process.stdout.write(text.endsWith('\n') ? text : `${text}\n`);
}

export function printJson(v: unknown): void {
  out(JSON.stringify(v, null, 2));
}

/** A plain aligned table (no colours: output is often piped). */
export function table(headers: string[], rows: string[][]): string {
  if (rows.length === 0) return '(none)';
  const w = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]): string =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(w[i]!)))
      .join('  ')
      .trimEnd();
  return [line(headers), ...rows.map(line)].join('\n');
}

/** "key: value" lines for one object; nested values rendered compactly. */
export function details(obj: Record<string, unknown>): string {
  const fmt = (v: unknown): string => {
    if (v === undefined || v === null) return '-';
    if (Array.isArray(v)) return v.length === 0 ? '-' : v.map(fmt).join(', ');
    if (typeof v === 'object')
      return Object.entries(v as Record<string, unknown>)
        .map(([k, x]) => `${k}=${fmt(x)}`)
        .join(' ');
    return String(v);
  };
  const w = Math.max(...Object.keys(obj).map((k) => k.length));
  return Object.entries(obj)
    .map(([k, v]) => `${k.padEnd(w)}  ${fmt(v)}`)
    .join('\n');
}

/** Runs a command body, turning errors into a message on stderr and an exit code. */
export async function run(help: string, argv: string[], body: () => Promise<void>): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) {
    out(`${help}\n\n${GLOBAL_HELP}`);
    return EXIT_OK;
  }
  try {
    await body();
    return EXIT_OK;
  } catch (e) {
    if (e instanceof UsageError) {
      // The command's usage goes with the error, unless the message already carries it.
      process.stderr.write(`wyvern: ${e.message}\n${/(^|\n)usage:/.test(e.message) ? '' : `\n${help}\n`}`);
      return EXIT_USAGE;
    }
    if (e instanceof ApiClientError) {
      if (e.problems && e.problems.length > 1) {
        // One line per problem: a refused import can list many, and a summary line would truncate them.
        const lines = e.problems.map((p) => `  ${p.field ?? '-'}: ${p.message}`).join('\n');
        process.stderr.write(`wyvern: refused, ${e.problems.length} problems (HTTP ${e.status} ${e.code}):\n${lines}\n`);
        return EXIT_FAIL;
      }
      process.stderr.write(
        `wyvern: ${e.message}${e.field ? ` [field: ${e.field}]` : ''}${e.status ? ` (HTTP ${e.status} ${e.code})` : ''}\n`,
      );
      return EXIT_FAIL;
    }
    process.stderr.write(`wyvern: ${(e as Error).message ?? String(e)}\n`);
    return EXIT_FAIL;
  }
}

export const enc = encodeURIComponent;
