/**
 * Gives the memory of a burst back once the burst is over (issue 17: ≤ 20 MB per 1,000 bound ports).
 *
 * A burst (1,000 ports binding, a migration storm, a full recompute) makes garbage that outlives two scavenges: V8
 * promotes it, and its old generation grows by tens of megabytes. V8 collects it at its next full GC but keeps the
 * pages committed, and only its memory reducer gives them back: it waits 8 s after that GC and then until the
 * allocation rate, averaged over several seconds, is low. With 1,000 ports bound the agent held ~43 MB of heap for
 * 10–12 s after the last flow was on the switch, for ~24 MB of live data (`--trace-gc`, docs/footprint.md).
 *
 * The agent knows better than V8 when a burst is over: its event loop goes quiet. So, twice a second, this reads the
 * heap's committed size and the event loop's utilisation since the last look; once the heap has grown by
 * TRIM_GROWTH since the last trim and the loop was quiet (under QUIET_UTILISATION) over the last period, it asks V8
 * for the memory-reducing full GC its reducer would have run (through the in-process inspector:
 * `HeapProfiler.collectGarbage`, the only way Node offers without `--expose-gc`, and a plain `gc()` keeps the pages).
 * One pause of some tens of milliseconds, when nothing else runs, instead of ~10 s of a heap twice its live size.
 *
 * The start is trimmed the same way, once, at the first quiet moment after it (see afterStart).
 *
 * Steady state costs two heap-statistics reads a second. A heap whose live data grew (ports that stay bound) is
 * trimmed once: the post-trim size is the new baseline, and only a further TRIM_GROWTH starts the next one. Per
 * process, not per Agent: the simulator runs many agents in one process.
 */
import { getHeapStatistics } from 'node:v8';
import { performance, type EventLoopUtilization } from 'node:perf_hooks';
import { createRequire } from 'node:module';
import type { Logger } from '../util/log.js';

/** Growth of the committed heap since the last trim (or start) that makes one worth a pause: 8 MiB. */
export const TRIM_GROWTH = 8 * 1024 * 1024;
/** The event loop's utilisation over the last period below which the agent counts as quiet. */
export const QUIET_UTILISATION = 0.1;
/** How often the heap is looked at. */
export const TRIM_PERIOD_MS = 500;

export interface HeapTrimDeps {
  /** Bytes the heap has committed now. */
  committed(): number;
  /** The event loop's utilisation (0–1) since the previous call. */
  utilisation(): number;
  /**
   * Asks for a memory-reducing full GC, which V8 runs in a task of its own (not on the caller's stack); done() is
   * called once it has run. False when this process cannot (no inspector).
   */
  collect(done: () => void): boolean;
  now(): number;
  every(fn: () => void, ms: number): { stop(): void };
}

export interface HeapTrimOptions {
  logger: Logger;
  deps?: Partial<HeapTrimDeps>;
  growth?: number;
  quiet?: number;
  periodMs?: number;
  /** Trim once at the first quiet moment whatever the growth: started right after the agent's start (cli.ts). */
  afterStart?: boolean;
}

export interface HeapTrim {
  /** One look at the heap (what the timer runs; tests call it). */
  tick(): void;
  stop(): void;
  /** Trims done so far. */
  readonly trims: number;
}

/** Starts looking at the heap every periodMs; stop() ends it. */
export function trimHeapAfterBursts(opts: HeapTrimOptions): HeapTrim {
  const deps: HeapTrimDeps = { ...realDeps(), ...opts.deps };
  const growth = opts.growth ?? TRIM_GROWTH;
  const quiet = opts.quiet ?? QUIET_UTILISATION;
  let baseline = deps.committed();
  // The start is a burst of its own (modules compiled, the topology read, the first flows computed) that V8's
  // reducer never follows up (it is armed by a full GC, which a start this small does not need): the first quiet
  // moment trims what it left, whatever its size. 3 MB of an idle agent's RSS (docs/footprint.md).
  let startLeft = opts.afterStart ?? false;
  deps.utilisation();
  let trims = 0;
  let unable = false;
  let collecting = false;
  const tick = (): void => {
    const committed = deps.committed();
    const busy = deps.utilisation();
    // V8's own reducer, or a shrinking workload, lowers the mark the next trim is measured from.
    if (committed < baseline) baseline = committed;
    if (unable || collecting || busy >= quiet || (!startLeft && committed - baseline < growth)) return;
    const after = startLeft ? 'start' : 'burst';
    startLeft = false;
    const t0 = deps.now();
    const from = baseline;
    collecting = true;
    const ran = deps.collect(() => {
      collecting = false;
      const now = deps.committed();
      trims++;
      baseline = now;
      opts.logger.info(
        { after, before_mb: mb(committed), after_mb: mb(now), baseline_mb: mb(from), took_ms: Math.round(deps.now() - t0) },
        `heap trimmed after the ${after}`,
      );
    });
    if (!ran) {
      collecting = false;
      unable = true;
      opts.logger.info('heap trim unavailable (this Node has no inspector): V8 gives burst memory back on its own, later');
    }
  };
  const timer = deps.every(tick, opts.periodMs ?? TRIM_PERIOD_MS);
  return {
    tick,
    stop: () => timer.stop(),
    get trims() {
      return trims;
    },
  };
}

const mb = (bytes: number): number => Math.round(bytes / 104857.6) / 10;

function realDeps(): HeapTrimDeps {
  let last: EventLoopUtilization | undefined;
  let session: { post(method: string, cb: () => void): void } | undefined;
  return {
    committed: () => getHeapStatistics().total_heap_size,
    utilisation: () => {
      const now = performance.eventLoopUtilization();
      const since = last ? performance.eventLoopUtilization(now, last) : now;
      last = now;
      return since.utilization;
    },
    collect: (done) => {
      if (!process.features.inspector) return false;
      if (!session) {
        // Loaded at the first trim (in the agent, the one after its start), not with the agent's modules: it is
        // not on the path to the first flows. A require, not an import(): the agent bundle has no module loader
        // (scripts/bundle-agent.mjs).
        const { Session } = createRequire(import.meta.url)('node:inspector') as typeof import('node:inspector');
        const s = new Session();
        s.connect();
        session = s;
      }
      // The inspector runs the GC in a task of its own and answers once it is done.
      session.post('HeapProfiler.collectGarbage', () => done());
      return true;
    },
    now: () => performance.now(),
    every: (fn, ms) => {
      const h = setInterval(fn, ms);
      h.unref();
      return { stop: () => clearInterval(h) };
    },
  };
}
