import { pino, type Logger, type LoggerOptions } from 'pino';
import { maskUrl, maskUrlsIn } from './mask.js';

export type { Logger };

/**
 * Fields that hold secrets, wherever a caller puts them (one level of nesting: `{ config: { apiToken } }`,
 * `{ req: { headers: { authorization } } }`): pino replaces their values before the line is written.
 */
export const REDACT_PATHS = [
  'password',
  '*.password',
  'storePassword',
  '*.storePassword',
  'token',
  '*.token',
  'apiToken',
  '*.apiToken',
  'authorization',
  '*.authorization',
  'headers.authorization',
  '*.headers.authorization',
  'headers.cookie',
  '*.headers.cookie',
  'privateKey',
  '*.privateKey',
];

const maskString = (v: unknown): unknown => (typeof v === 'string' ? maskUrl(v) : v);

/** Errors are serialized as usual, then any URL credentials in their text (a store URL in a message) masked. */
function errSerializer(err: unknown): unknown {
  const o = pino.stdSerializers.err(err as Error) as unknown as Record<string, unknown>;
  if (!o || typeof o !== 'object') return o;
  for (const k of ['message', 'stack']) if (typeof o[k] === 'string') o[k] = maskUrlsIn(o[k] as string);
  return o;
}

/** The options every wyvern logger shares: redaction of secrets and masking of URLs. */
export function loggerOptions(level: string, name: string): LoggerOptions {
  return {
    level,
    name,
    base: { pid: process.pid },
    redact: { paths: REDACT_PATHS, censor: '[redacted]' },
    serializers: { err: errSerializer, error: errSerializer, store: maskString, url: maskString },
  };
}

/**
 * Creates the root logger. Only composition roots (agent, CLI, API server) call this;
 * library code receives a Logger (or a child of one) through its options.
 */
export function createLogger(opts: { level?: string; name?: string; destination?: number | string } = {}): Logger {
  const level = opts.level ?? process.env.WYVERN_LOG_LEVEL ?? 'info';
  const dest = pino.destination({ dest: opts.destination ?? 2, sync: false });
  return pino(loggerOptions(level, opts.name ?? 'wyvern'), dest);
}

/**
 * A root logger whose level can be changed later, for itself and every child logger made from it or from its
 * children (pino children keep the level they were created with): the agent's SIGHUP reload of `logLevel`.
 * Children are held weakly, so short-lived ones are not kept alive by this.
 */
export function createAdjustableLogger(opts: { level: string; name: string }): { logger: Logger; setLevel(level: string): void } {
  const children = new Set<WeakRef<Logger>>();
  const dest = pino.destination({ dest: 2, sync: false });
  const logger = pino({ ...loggerOptions(opts.level, opts.name), onChild: (c) => children.add(new WeakRef(c)) }, dest);
  return {
    logger,
    setLevel(level: string): void {
      if (!(level in logger.levels.values) && level !== 'silent') throw new Error(`unknown log level ${level}`);
      logger.level = level;
      for (const ref of children) {
        const c = ref.deref();
        if (c) c.level = level;
        else children.delete(ref);
      }
    },
  };
}

/** A logger that discards everything: the default for library objects built without one. */
export const silentLogger: Logger = pino({ level: 'silent' });
