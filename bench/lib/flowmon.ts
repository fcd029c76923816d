/**
 * Timestamps of flow-table changes on one bridge, pushed by Open vSwitch through an OpenFlow flow monitor
 * (`ovs-ofctl monitor TARGET watch:!initial`): no polling. Same approach as the OVN anchor's flowwatch.py,
 * but kept in-process so the bench can also ask "when did a flow matching X appear?".
 *
 * ovs-ofctl prints the reply to the monitor request on stdout and the asynchronous updates on stderr; both
 * are read. Times are the arrival time of each chunk in this process (µs, wall clock).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { nowUs } from './stats.js';

export interface FlowEvent {
  t: number;
  line: string;
}

export class FlowMonitor {
  readonly events: FlowEvent[] = [];
  paused = 0;
  private proc: ChildProcess;
  private ready = false;
  private pending = '';
  private waiters: { pred: (e: FlowEvent) => boolean; from: number; resolve: (e: FlowEvent) => void }[] = [];
  private readyWaiters: (() => void)[] = [];
  private exitError: Error | undefined;

  /** `env` must give OVS_RUNDIR a writable dir (ovs-ofctl monitor opens a control socket there). */
  constructor(
    readonly target: string,
    env: NodeJS.ProcessEnv,
  ) {
    this.proc = spawn('stdbuf', ['-oL', 'ovs-ofctl', '-O', 'OpenFlow13', 'monitor', target, 'watch:!initial'], {
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const onData = (b: Buffer) => this.onChunk(nowUs(), b.toString('utf8'));
    this.proc.stdout!.on('data', onData);
    this.proc.stderr!.on('data', onData);
    this.proc.on('exit', (code) => {
      this.exitError = new Error(`ovs-ofctl monitor ${target} exited (${code})`);
    });
  }

  get count(): number {
    return this.events.length;
  }

  /** Resolves once the switch has answered the monitor request (start clocks after this). */
  async whenReady(timeoutMs = 10_000): Promise<void> {
    if (this.ready) return;
    await withTimeout(
      new Promise<void>((r) => this.readyWaiters.push(r)),
      timeoutMs,
      () => this.exitError ?? new Error(`flow monitor on ${this.target} not ready`),
    );
  }

  /** The first event at index ≥ `from` whose line satisfies `pred` (waits for it). */
  waitFor(pred: (e: FlowEvent) => boolean, from = 0, timeoutMs = 10_000): Promise<FlowEvent> {
    for (let i = from; i < this.events.length; i++) if (pred(this.events[i]!)) return Promise.resolve(this.events[i]!);
    return withTimeout(
      new Promise<FlowEvent>((resolve) => this.waiters.push({ pred, from, resolve })),
      timeoutMs,
      () => new Error(`flow monitor ${this.target}: no matching flow within ${timeoutMs} ms`),
    );
  }

  /** Resolves when no event arrived for `quietMs` after at least one (or after `timeoutMs`): [first, last]. */
  async quiet(quietMs: number, timeoutMs: number, from = 0): Promise<{ first: number; last: number; events: number }> {
    const t0 = Date.now();
    for (;;) {
      const evs = this.events.slice(from);
      const last = evs.at(-1);
      if (last && nowUs() - last.t >= quietMs * 1000) return { first: evs[0]!.t, last: last.t, events: evs.length };
      if (Date.now() - t0 > timeoutMs) throw new Error(`flow monitor ${this.target}: not quiet within ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  stop(): void {
    if (this.proc.exitCode === null && this.proc.signalCode === null) this.proc.kill('SIGTERM');
  }

  private onChunk(t: number, s: string): void {
    const lines = (this.pending + s).split('\n');
    this.pending = lines.pop()!;
    for (const line of lines) {
      if (line.includes('event=')) {
        const e = { t, line };
        this.events.push(e);
        const idx = this.events.length - 1;
        this.waiters = this.waiters.filter((w) => {
          if (idx >= w.from && w.pred(e)) {
            w.resolve(e);
            return false;
          }
          return true;
        });
      } else if (line.includes('PAUSED')) this.paused++;
      else if (!this.ready && line.includes('FLOW_MONITOR reply')) {
        this.ready = true;
        for (const r of this.readyWaiters.splice(0)) r();
      }
    }
  }
}

function withTimeout<T>(p: Promise<T>, ms: number, err: () => Error): Promise<T> {
  let timer: NodeJS.Timeout;
  return Promise.race([
    p.finally(() => clearTimeout(timer)),
    new Promise<T>((_, reject) => {
      timer = setTimeout(() => reject(err()), ms);
    }),
  ]);
}
