/**
 * Convergence probes: "when does every interested chassis see X, with the flows it implies on its switch?".
 * A probe is a predicate over one chassis's view; it is checked at each view change of that chassis, and once
 * it holds the probe waits for the flow version computed from that change to be applied to the chassis's switch.
 */
import { performance } from 'node:perf_hooks';
import type { SimChassis } from './sim-chassis.js';
import type { ViewChange } from '../view/topology-sync.js';

interface Pending {
  pred: (c: SimChassis) => boolean;
  done: (ms: number) => void;
}

export interface Convergence {
  /** ms from the start to the last interested chassis (NaN if any missed). */
  max: number;
  /** ms per chassis that converged. */
  each: number[];
  /** Chassis that did not converge before the timeout. */
  missed: number;
  /** Their names. */
  missedNames: string[];
}

export class Probes {
  private readonly pending = new Map<SimChassis, Set<Pending>>();

  /** Attach to a chassis: its view changes run its pending predicates. */
  attach(c: SimChassis): void {
    c.onChange = (_ch: ViewChange) => this.changed(c);
    // A store event that changes no flow (a local port's own binding coming back) reports no view change: the
    // predicate is checked after each event too, once the event is in the view.
    c.subscription.on('event', () => {
      if (this.pending.get(c)?.size) queueMicrotask(() => this.changed(c));
    });
  }

  /**
   * Resolves once `pred` holds on every chassis of `who` and the flows computed then are on its switch, or at
   * the timeout. Times are measured from `t0` (performance.now()).
   */
  wait(who: Iterable<SimChassis>, pred: (c: SimChassis) => boolean, t0: number, timeoutMs = 30_000): Promise<Convergence> {
    const each: number[] = [];
    const list = [...who];
    let left = list.length;
    if (left === 0) return Promise.resolve({ max: 0, each, missed: 0, missedNames: [] });
    return new Promise((resolve) => {
      const mine: [SimChassis, Pending][] = [];
      const fired = new Set<Pending>();
      const finish = () => {
        clearTimeout(timer);
        const missedNames = mine.filter(([, p]) => !fired.has(p)).map(([c]) => c.name);
        for (const [c, p] of mine) this.pending.get(c)?.delete(p);
        resolve({ max: left === 0 ? Math.max(...each) : NaN, each, missed: left, missedNames });
      };
      const timer = setTimeout(finish, timeoutMs);
      for (const c of list) {
        const p: Pending = {
          pred,
          done: (ms) => {
            fired.add(p);
            each.push(ms - t0);
            if (--left === 0) finish();
          },
        };
        mine.push([c, p]);
        (this.pending.get(c) ?? this.pending.set(c, new Set()).get(c)!).add(p);
        // It may already hold (the change came before the probe): still wait for the switch to have it.
        if (pred(c)) this.fire(c, p);
      }
    });
  }

  private changed(c: SimChassis): void {
    const set = this.pending.get(c);
    if (!set) return;
    for (const p of set) if (p.pred(c)) this.fire(c, p);
  }

  private fire(c: SimChassis, p: Pending): void {
    this.pending.get(c)?.delete(p);
    // After the flush this change scheduled (setImmediate, or a microtask when urgent): its version is then known.
    setImmediate(() => {
      void c.flows.whenApplied(c.flows.desiredVersion).then(() => p.done(performance.now()));
    });
  }
}

export function percentile(xs: number[], p: number): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)]!;
}

export function summary(xs: number[]): { n: number; p50: number; p99: number; max: number } {
  return { n: xs.length, p50: percentile(xs, 50), p99: percentile(xs, 99), max: xs.length ? Math.max(...xs) : NaN };
}
