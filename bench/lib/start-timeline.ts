/**
 * An agent's start timeline as it logs it once its first flows are on the switch (src/agent/start-trace.ts), read
 * from its log file by the benches that start agents (bench:agent's fresh host, bench:agent-start).
 */
import { readFile } from 'node:fs/promises';
import { sleep } from './stats.js';

export interface StartTimeline {
  /** The process's start, as a wall clock (ms since the epoch). */
  timeOrigin: number;
  /** Milestone → ms since the process began. */
  ms: Record<string, number>;
  /** CPU time the process had used when its first flows were on the switch, all threads (absent before 2026-12-07). */
  cpuMs?: number;
  /** Built-ins the start loaded after the boot's preload, compiled from source (absent when not started by the boot). */
  lateBuiltins?: string[];
}

/** The last 'start timeline' line of `logFile`, waited for up to 5 s (the agent writes it after the flows). */
export async function timelineOf(logFile: string): Promise<StartTimeline | undefined> {
  for (let i = 0; i < 50; i++) {
    const lines = (await readFile(logFile, 'utf8')).split('\n').filter((l) => l.includes('"start timeline'));
    const last = lines.at(-1);
    if (last) return JSON.parse(last) as StartTimeline;
    await sleep(100);
  }
  return undefined;
}

/** "boot started 13.2, bundle compiled and evaluated 29, …": the milestones in order, for a log line. */
export function formatTimeline(t: StartTimeline): string {
  return Object.entries(t.ms)
    .map(([name, at]) => `${name} ${at}`)
    .join(', ');
}
