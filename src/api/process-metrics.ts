/**
 * The process metrics of `/metrics` (CPU, memory, heap spaces, handles, GC, event-loop lag, start time, version):
 * prom-client's default metrics, every one of them under its usual name, but the event-loop lag sampled ten times a
 * second instead of a hundred.
 *
 * prom-client measures the lag with Node's `monitorEventLoopDelay` at a 10 ms resolution: a timer that wakes the
 * process 100 times a second for as long as it runs. That was ~95 % of an idle agent's wake-ups (106 a second, on a
 * hypervisor where ovn-controller sleeps until something happens; docs/footprint.md, fifteenth session). Here one
 * timer per process samples every LAG_SAMPLE_MS, records how late it fired, and every registry's gauges read its
 * own histogram of those samples (reset at each scrape, as prom-client resets its own). A stall of at least
 * LAG_SAMPLE_MS is always seen; a shorter one is seen when a sample falls in it.
 *
 * The lag recorded is how late the timer ran, not the time between two timer runs as Node's monitor records it
 * (whose minimum is its resolution): an idle loop reads ~0–1 ms rather than ~10 ms.
 *
 * The other default metrics are prom-client's own modules, called as `collectDefaultMetrics` calls them
 * (`prom-client/lib/metrics/*`; a unit test checks the names against `collectDefaultMetrics`' own), but the CPU
 * counters: prom-client's module loads @opentelemetry/api (~50 modules) for exemplars, which wyvern does not use.
 */
import { createHistogram, performance, type RecordableHistogram } from 'node:perf_hooks';
import gc from 'prom-client/lib/metrics/gc.js';
import heapSizeAndUsed from 'prom-client/lib/metrics/heapSizeAndUsed.js';
import heapSpacesSizeAndUsed from 'prom-client/lib/metrics/heapSpacesSizeAndUsed.js';
import osMemoryHeap from 'prom-client/lib/metrics/osMemoryHeap.js';
import processHandles from 'prom-client/lib/metrics/processHandles.js';
import processMaxFileDescriptors from 'prom-client/lib/metrics/processMaxFileDescriptors.js';
import processOpenFileDescriptors from 'prom-client/lib/metrics/processOpenFileDescriptors.js';
import processRequests from 'prom-client/lib/metrics/processRequests.js';
import processResources from 'prom-client/lib/metrics/processResources.js';
import processStartTime from 'prom-client/lib/metrics/processStartTime.js';
import version from 'prom-client/lib/metrics/version.js';
import { Counter, Gauge, type Registry } from './prom.js';

/** How often the event loop's lag is sampled. */
export const LAG_SAMPLE_MS = 100;

/** Lags above an hour are recorded as an hour (the histogram's range: nanoseconds, 1 % precision). */
const HIGHEST_NS = 3_600e9;

/** One process-wide sampler, recording into every registry's histogram. */
export class LoopLagSampler {
  private readonly histograms = new Set<RecordableHistogram>();
  private timer: NodeJS.Timeout | undefined;
  private expected = 0;
  /** The last sample's lag (ns). */
  last = 0;

  constructor(private readonly periodMs = LAG_SAMPLE_MS) {}

  /** A histogram of the samples from now on (it starts the sampler). */
  histogram(): RecordableHistogram {
    const h = createHistogram({ lowest: 1, highest: HIGHEST_NS, figures: 2 });
    this.histograms.add(h);
    if (!this.timer) {
      this.expected = performance.now() + this.periodMs;
      // Not keeping the process alive: a sampler is no reason to stay up.
      this.timer = setInterval(() => this.sample(), this.periodMs).unref();
    }
    return h;
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
    this.histograms.clear();
  }

  private sample(): void {
    const now = performance.now();
    const lag = Math.min(HIGHEST_NS, Math.max(1, Math.round((now - this.expected) * 1e6)));
    this.expected = now + this.periodMs;
    this.last = lag;
    for (const h of this.histograms) h.record(lag);
  }
}

let processSampler: LoopLagSampler | undefined;

/** Registers nodejs_eventloop_lag_seconds and its min, max, mean, stddev, p50, p90 and p99 on `registry`. */
export function registerLoopLag(registry: Registry, sampler = (processSampler ??= new LoopLagSampler())): void {
  const h = sampler.histogram();
  const registers = [registry];
  // Registered first: a scrape reads the metrics in order, and this one's collect sets the others.
  new Gauge({
    name: 'nodejs_eventloop_lag_seconds',
    help: 'Lag of event loop in seconds.',
    registers,
    aggregator: 'average',
    collect() {
      this.set(sampler.last / 1e9);
      if (h.count === 0) return;
      min.set(h.min / 1e9);
      max.set(h.max / 1e9);
      mean.set(h.mean / 1e9);
      stddev.set(h.stddev / 1e9);
      p50.set(h.percentile(50) / 1e9);
      p90.set(h.percentile(90) / 1e9);
      p99.set(h.percentile(99) / 1e9);
      h.reset();
    },
  });
  const gauge = (suffix: string, help: string, aggregator: 'average' | 'min' | 'max') =>
    new Gauge({ name: `nodejs_eventloop_lag${suffix}_seconds`, help, registers, aggregator });
  const min = gauge('_min', 'The minimum recorded event loop delay.', 'min');
  const max = gauge('_max', 'The maximum recorded event loop delay.', 'max');
  const mean = gauge('_mean', 'The mean of the recorded event loop delays.', 'average');
  const stddev = gauge('_stddev', 'The standard deviation of the recorded event loop delays.', 'average');
  const p50 = gauge('_p50', 'The 50th percentile of the recorded event loop delays.', 'average');
  const p90 = gauge('_p90', 'The 90th percentile of the recorded event loop delays.', 'average');
  const p99 = gauge('_p99', 'The 99th percentile of the recorded event loop delays.', 'average');
}

/** process_cpu_user_seconds_total, process_cpu_system_seconds_total and process_cpu_seconds_total, as prom-client makes them. */
export function registerCpuTotal(registry: Registry): void {
  const registers = [registry];
  let last = process.cpuUsage();
  // Registered first: a scrape reads the metrics in order, and this one's collect sets the others.
  const user = new Counter({
    name: 'process_cpu_user_seconds_total',
    help: 'Total user CPU time spent in seconds.',
    registers,
    collect() {
      const now = process.cpuUsage();
      const userS = (now.user - last.user) / 1e6;
      const systemS = (now.system - last.system) / 1e6;
      last = now;
      user.inc(userS);
      system.inc(systemS);
      total.inc(userS + systemS);
    },
  });
  const system = new Counter({ name: 'process_cpu_system_seconds_total', help: 'Total system CPU time spent in seconds.', registers });
  const total = new Counter({ name: 'process_cpu_seconds_total', help: 'Total user and system CPU time spent in seconds.', registers });
}

type DefaultMetric = (registry: Registry, config: Record<string, unknown>) => void;

/** prom-client's default metrics but its CPU counters and event-loop lag. */
const PROM_DEFAULTS: DefaultMetric[] = [
  registerCpuTotal,
  processStartTime,
  osMemoryHeap,
  processOpenFileDescriptors,
  processMaxFileDescriptors,
  processResources,
  processHandles,
  processRequests,
  heapSizeAndUsed,
  heapSpacesSizeAndUsed,
  version,
  gc,
];

/** Every process metric on `registry`: what collectDefaultMetrics registers, the lag from registerLoopLag. */
export function registerProcessMetrics(registry: Registry): void {
  for (const register of PROM_DEFAULTS) register(registry, {});
  registerLoopLag(registry);
}
