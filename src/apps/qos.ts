/**
 * Per-port rate limits (Port.qos) as OpenFlow meters, shared by the apps whose flows carry them: the classifier
 * meters what a local VM sends (ingress, from the switch's side), l2 what the switch sends to it (egress). A meter
 * drops what exceeds its rate (one drop band, kbit/s) and lets a burst through.
 */
import type { DesiredMeter } from '../flows/groups-meters.js';
import type { PortQos } from '../model/types.js';
import type { AppTables } from '../pipeline/tables.js';

/**
 * The burst when a port names none: half a second at the rate. Measured here (OVS 3.1 userspace, veth VMs,
 * iperf3 TCP): a burst of 10% of the rate holds TCP at ~50% of it, 20% at ~92%, 50% at 99–100% (8 and 20
 * Mbit/s); a whole second overshoots the first second more and gains nothing sustained.
 */
export const DEFAULT_BURST_SECONDS = 0.5;
/** Never below one jumbo frame (9000 bytes): a smaller bucket would drop every such frame. */
export const MIN_BURST_KB = 72;

export function defaultBurstKb(rateKbps: number): number {
  return Math.max(MIN_BURST_KB, Math.ceil(rateKbps * DEFAULT_BURST_SECONDS));
}

export type QosDirection = 'ingress' | 'egress';

/** The port's limit in one direction (rate and the burst to use), or undefined when it has none. */
export function portLimit(qos: PortQos | undefined, dir: QosDirection): { rateKbps: number; burstKb: number } | undefined {
  const rate = dir === 'ingress' ? qos?.ingressRateKbps : qos?.egressRateKbps;
  if (rate === undefined) return undefined;
  const burst = dir === 'ingress' ? qos?.ingressBurstKb : qos?.egressBurstKb;
  return { rateKbps: rate, burstKb: burst ?? defaultBurstKb(rate) };
}

/**
 * The meter of one local port's limit, in the app's meter range (pipelines/ `meters`), or undefined when the
 * port has no limit that way. Flows that carry it name `meterId`.
 */
export function portMeter(
  tables: AppTables,
  range: string,
  ofport: number,
  qos: PortQos | undefined,
  dir: QosDirection,
): DesiredMeter | undefined {
  const limit = portLimit(qos, dir);
  if (!limit) return undefined;
  return {
    meterId: tables.meterId(range, ofport),
    burst: true,
    bands: [{ type: 'drop', rate: limit.rateKbps, burstSize: limit.burstKb }],
  };
}
