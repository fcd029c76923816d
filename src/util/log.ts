import { pino, type Logger } from 'pino';

export type { Logger };

/**
 * Creates the root logger. Only composition roots (agent, CLI, API server) call this;
 * library code receives a Logger (or a child of one) through its options.
 */
export function createLogger(opts: { level?: string; name?: string; destination?: number | string } = {}): Logger {
  const level = opts.level ?? process.env.WYVERN_LOG_LEVEL ?? 'info';
  const dest = pino.destination({ dest: opts.destination ?? 2, sync: false });
  return pino({ level, name: opts.name ?? 'wyvern', base: { pid: process.pid } }, dest);
}

/** A logger that discards everything: the default for library objects built without one. */
export const silentLogger: Logger = pino({ level: 'silent' });
