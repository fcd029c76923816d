/** The process metrics of /metrics: prom-client's default set, with the event-loop lag sampled by our own timer. */
import { collectDefaultMetrics, Registry } from 'prom-client';
import { afterEach, describe, expect, it } from 'vitest';
import { LAG_SAMPLE_MS, LoopLagSampler, registerLoopLag, registerProcessMetrics } from '../../src/api/process-metrics.js';
import { Scrape } from '../helpers/prom.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** Blocks the event loop for `ms` of wall time. */
const busy = (ms: number) => {
  const end = performance.now() + ms;
  while (performance.now() < end);
};

/** Spins until this process has spent `ms` of CPU (not of wall time: on a loaded machine it gets less of a core). */
const burnCpu = (ms: number) => {
  const start = process.cpuUsage();
  const spent = () => {
    const d = process.cpuUsage(start);
    return (d.user + d.system) / 1000;
  };
  while (spent() < ms);
};

let sampler: LoopLagSampler | undefined;
afterEach(() => {
  sampler?.stop();
  sampler = undefined;
});

describe('process metrics', () => {
  it('are every metric collectDefaultMetrics registers, by the same names and types', async () => {
    const ours = new Registry();
    registerProcessMetrics(ours);
    const theirs = new Registry();
    collectDefaultMetrics({ register: theirs });
    const shape = async (r: Registry) => (await r.getMetricsAsJSON()).map((m) => `${m.name} ${m.type} ${m.help}`).sort();
    const mine = await shape(ours);
    expect(mine).toEqual(await shape(theirs));
    expect(mine).toContain('nodejs_eventloop_lag_p99_seconds gauge The 99th percentile of the recorded event loop delays.');
    expect(mine).toContain('process_resident_memory_bytes gauge Resident memory size in bytes.');
  });

  it("count the CPU the process spends, user and system adding up to the total (our own counters, not prom-client's)", async () => {
    const r = new Registry();
    registerProcessMetrics(r);
    const cpu = async () => {
      const text = new Scrape(await r.metrics());
      return {
        user: text.value('process_cpu_user_seconds_total'),
        system: text.value('process_cpu_system_seconds_total'),
        total: text.value('process_cpu_seconds_total'),
      };
    };
    const before = await cpu();
    burnCpu(60);
    const after = await cpu();
    expect(after.total - before.total).toBeGreaterThanOrEqual(0.05);
    expect(after.user).toBeGreaterThan(before.user);
    expect(after.system).toBeGreaterThanOrEqual(before.system);
    expect(after.user + after.system).toBeCloseTo(after.total, 6);
  });

  it('sample the lag every LAG_SAMPLE_MS (100 ms), not every 10 ms: an idle process is woken ten times a second', async () => {
    expect(LAG_SAMPLE_MS).toBe(100);
    sampler = new LoopLagSampler();
    const h = sampler.histogram();
    await sleep(5.5 * LAG_SAMPLE_MS);
    // 5 samples on time; a loaded machine may fire late (fewer), never more often.
    expect(h.count).toBeGreaterThanOrEqual(3);
    expect(h.count).toBeLessThanOrEqual(5);
  });

  it('see a stalled event loop: max and p99 near the stall, the idle samples small, reset at each scrape', async () => {
    sampler = new LoopLagSampler(20);
    const registry = new Registry();
    registerLoopLag(registry, sampler);
    await sleep(100); // idle samples
    busy(250); // a stall: the sample due during it runs ~230–250 ms late
    await sleep(60);
    const s = new Scrape(await registry.metrics());
    expect(s.value('nodejs_eventloop_lag_max_seconds')).toBeGreaterThan(0.2);
    expect(s.value('nodejs_eventloop_lag_max_seconds')).toBeLessThan(0.4);
    expect(s.value('nodejs_eventloop_lag_min_seconds')).toBeLessThan(0.05);
    expect(s.value('nodejs_eventloop_lag_p50_seconds')).toBeLessThan(0.05);
    expect(s.value('nodejs_eventloop_lag_p99_seconds')).toBeGreaterThan(0.2);
    // The next scrape covers only what came after this one: no stall in it.
    await sleep(100);
    const next = new Scrape(await registry.metrics());
    expect(next.value('nodejs_eventloop_lag_max_seconds')).toBeLessThan(0.1);
  });

  it('keep no process alive: the sampler timer is unreferenced', () => {
    sampler = new LoopLagSampler();
    registerLoopLag(new Registry(), sampler);
    const timer = (sampler as unknown as { timer: NodeJS.Timeout }).timer;
    expect(timer.hasRef()).toBe(false);
  });

  it('feed every registry from one timer, each with its own window', async () => {
    sampler = new LoopLagSampler(20);
    const a = new Registry();
    const b = new Registry();
    registerLoopLag(a, sampler);
    registerLoopLag(b, sampler);
    busy(150);
    await sleep(50);
    expect(new Scrape(await a.metrics()).value('nodejs_eventloop_lag_max_seconds')).toBeGreaterThan(0.1);
    // a's scrape reset a's window only.
    expect(new Scrape(await b.metrics()).value('nodejs_eventloop_lag_max_seconds')).toBeGreaterThan(0.1);
  });
});
