/**
 * What etcd pays, from its /metrics sampled around the run's windows: the quiet idle window before the churn
 * (measured here), the churn (sampled by src/sim/churn-meter.ts) and the end. Apart from the result's assembly
 * (src/sim/report.ts) because it is the part that exists only when etcd is sampled, with arithmetic of its own.
 */
import { diskBetween, type EtcdSample } from './etcd-metrics.js';
import type { ChurnMeasures } from './churn-meter.js';
import type { RunContext } from './run-context.js';
import type { ScaleResult } from './scale-types.js';
import { sleep } from './settle.js';

/** etcd before and after the idle window (undefined when not sampled). */
export interface IdleWindow {
  idle0: EtcdSample | undefined;
  idle1: EtcdSample | undefined;
}

/** Idle: what leases, health probes and watches cost etcd with nothing changing. */
export async function measureIdle({ o, sample, barrier }: RunContext): Promise<IdleWindow> {
  await barrier('idle');
  const idle0 = await sample();
  await sleep((o.idleSeconds ?? 5) * 1000);
  const idle1 = await sample();
  return { idle0, idle1 };
}

/** The etcd figures of the result: undefined unless every window was sampled. */
export function etcdFigures(
  { idle0, idle1 }: IdleWindow,
  { etcd0: churn0, etcd1: churn1, seconds: churnSecs, slowDisk }: ChurnMeasures,
  end: EtcdSample | undefined,
): ScaleResult['etcd'] {
  if (idle0 && idle1 && churn0 && churn1 && end) {
    const idleS = (idle1.at - idle0.at) / 1000;
    const churnS = (churn1.at - churn0.at) / 1000;
    const idleBps = (idle1.sentBytes - idle0.sentBytes) / idleS;
    const changes = churn1.revision - churn0.revision;
    return {
      idle: {
        cpuPercent: (100 * (idle1.cpuSeconds - idle0.cpuSeconds)) / idleS,
        sentBytesPerSecond: idleBps,
        snapshots: idle1.snapshots - idle0.snapshots,
      },
      churn: {
        cpuPercent: (100 * (churn1.cpuSeconds - churn0.cpuSeconds)) / churnS,
        sentBytesPerSecond: (churn1.sentBytes - churn0.sentBytes) / churnS,
        bytesPerChange: (churn1.sentBytes - churn0.sentBytes - idleBps * churnS) / Math.max(1, changes),
        revisionsPerSecond: changes / churnSecs,
        disk: diskBetween(churn0, churn1),
      },
      end,
      slowDisk,
    };
  }
  return undefined;
}
