/**
 * Milestones of one agent start, in ms since the process began (`performance.now()`: Node's clock starts with the
 * process, before any module loads), logged once as one line when the first flows are on the switch: where the
 * start-up time goes (docs/footprint.md), on every start, at no cost worth counting.
 */
const round = (ms: number): number => Math.round(ms * 10) / 10;

/** Milestones before the agent's own modules ran: the agent bundle's boot (dist/agent/boot.cjs), when it started it. */
const bootMarks: [string, number][] = [];

/** Records a boot milestone (at the current time unless given), shown in every StartTrace made afterwards. */
export function markBoot(name: string, at = performance.now()): void {
  bootMarks.push([name, round(at)]);
}

/** How many modules the process had loaded when the boot had loaded the built-ins the start needs (markPreloaded). */
let preloadedModules: number | undefined;

/**
 * Called by the bundle's boot once it has loaded the built-ins the start needs, with `process.moduleLoadList`'s length
 * then. A built-in loaded after it compiles from source (the boot's V8 flags make Node's code cache of it unusable:
 * scripts/agent-boot.cjs), so the timeline names any the start loaded (lateBuiltins): the boot's list should have it.
 */
export function markPreloaded(modules: number): void {
  preloadedModules = modules;
}

/** The built-ins loaded since the boot's preload (none when the agent was not started by the boot). */
function lateBuiltins(): string[] | undefined {
  if (preloadedModules === undefined) return undefined;
  const loaded = (process as unknown as { moduleLoadList: string[] }).moduleLoadList.slice(preloadedModules);
  return loaded.filter((m) => m.startsWith('NativeModule ')).map((m) => m.slice('NativeModule '.length));
}

/** Called once, when the first start's timeline is finished (its first flows are on the switch). */
const startedCallbacks: (() => void)[] = [];

/**
 * Runs `fn` once the agent's first flows are on the switch. The bundle's boot uses it to write a code cache of
 * everything the start compiled (code cache training, scripts/agent-boot.cjs).
 */
export function whenStarted(fn: () => void): void {
  startedCallbacks.push(fn);
}

export class StartTrace {
  private readonly marks: [string, number][] = [...bootMarks];
  private done = false;

  constructor(first?: [string, number]) {
    if (first) this.marks.push(first);
  }

  /** Records a milestone (the first time only: a reconnect later is no start milestone). */
  mark(name: string): void {
    if (this.done || this.marks.some(([n]) => n === name)) return;
    this.marks.push([name, round(performance.now())]);
  }

  /**
   * The timeline so far, ordered by time, plus the process's start as a wall clock (for a spawner's own clock) and
   * the CPU time the process has used up to now (all its threads, ms): on two shared cores the wall clock moves with
   * the machine's minute, while the CPU a start costs moves far less (bench:agent-start compares builds by both).
   * Started by the bundle's boot, also the built-ins the start loaded after the boot's preload (lateBuiltins).
   */
  finish(): { timeOrigin: number; ms: Record<string, number>; cpuMs: number; lateBuiltins?: string[] } {
    this.done = true;
    const cpu = process.cpuUsage();
    for (const fn of startedCallbacks.splice(0)) queueMicrotask(fn);
    const ms: Record<string, number> = {};
    for (const [n, t] of [...this.marks].sort((a, b) => a[1] - b[1])) ms[n] = t;
    const late = lateBuiltins();
    return {
      timeOrigin: round(performance.timeOrigin),
      ms,
      cpuMs: round((cpu.user + cpu.system) / 1000),
      ...(late !== undefined ? { lateBuiltins: late } : {}),
    };
  }
}
