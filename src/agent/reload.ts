/**
 * SIGHUP: re-read the agent's settings (the same file, environment and flags it started with) and apply what can
 * change live. Today that is `logLevel` only; every other setting that differs is named in the log as needing a
 * restart (`systemctl restart wyvern-agent`, which is hitless) and left as it is. An invalid file changes nothing.
 */
import type { Logger } from '../util/log.js';
import type { AgentConfig } from './config.js';

/** Settings the running agent applies on SIGHUP. */
export const LIVE_SETTINGS = ['logLevel'] as const;

export interface ReloadPlan {
  /** The new log level, when it differs. */
  logLevel?: string;
  /** Settings that differ but apply only at the next start (names only: some are secrets). */
  needsRestart: string[];
}

/** What a reload would change: pure, for tests. */
export function planReload(current: AgentConfig, next: AgentConfig): ReloadPlan {
  const keys = new Set([...Object.keys(current), ...Object.keys(next)]) as Set<keyof AgentConfig>;
  const needsRestart: string[] = [];
  let logLevel: string | undefined;
  for (const k of keys) {
    if (JSON.stringify(current[k]) === JSON.stringify(next[k])) continue;
    if (k === 'logLevel') logLevel = next.logLevel;
    else needsRestart.push(k);
  }
  return { ...(logLevel !== undefined ? { logLevel } : {}), needsRestart: needsRestart.sort() };
}

/**
 * Handles one SIGHUP: `load` reads the settings again (throws on an invalid file), `setLevel` changes the level of
 * every logger. Returns the config now in force (the old one with the live settings applied).
 */
export function reloadConfig(
  current: AgentConfig,
  load: () => AgentConfig,
  setLevel: (level: string) => void,
  logger: Logger,
): AgentConfig {
  let next: AgentConfig;
  try {
    next = load();
  } catch (err) {
    logger.error({ err }, 'SIGHUP: settings not reloaded (invalid), nothing changed');
    return current;
  }
  const plan = planReload(current, next);
  let applied = current;
  if (plan.logLevel !== undefined) {
    try {
      setLevel(plan.logLevel);
      applied = { ...current, logLevel: plan.logLevel };
    } catch (err) {
      logger.error({ err }, 'SIGHUP: log level not changed');
    }
  }
  logger.info(
    { logLevel: applied.logLevel, ...(plan.needsRestart.length ? { needsRestart: plan.needsRestart } : {}) },
    plan.needsRestart.length ? 'SIGHUP: settings reloaded; some changes need a restart' : 'SIGHUP: settings reloaded',
  );
  return applied;
}
