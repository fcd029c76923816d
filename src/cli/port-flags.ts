/**
 * The security-group and rate-limit flags of `wyvern port create` and `wyvern port update`, turned into the
 * `securityGroups` and `qos` fields of the request body.
 */
import type { FlagOptions } from '../util/args.js';
import { UsageError, type Parsed } from './common.js';

export const SG_QOS_FLAGS = {
  sg: { type: 'string', multiple: true },
  'ingress-rate': { type: 'string' },
  'ingress-burst': { type: 'string' },
  'egress-rate': { type: 'string' },
  'egress-burst': { type: 'string' },
} as const satisfies FlagOptions;

/** Update only: clear the groups or the limits. */
export const SG_QOS_CLEAR_FLAGS = {
  'no-sg': { type: 'boolean' },
  'no-qos': { type: 'boolean' },
} as const satisfies FlagOptions;

/** One help text for both commands: which direction each rate limits, said plainly. */
export const SG_QOS_HELP = `      --sg GROUP (repeatable): the port's security groups (name or id); on update the list is replaced,
        --no-sg clears it. A port in no group is open; groups are enforced while port security is on.
      --ingress-rate KBPS [--ingress-burst KBIT]: limit what the VM SENDS (kbit/s; an OpenFlow meter)
      --egress-rate KBPS [--egress-burst KBIT]: limit what the VM RECEIVES (kbit/s; an OpenFlow meter)
        A burst defaults to half a second at the rate (rate/2 kbit, at least 72 kbit).
        On update the rate flags replace the port's limits as a whole (a direction not given becomes
        unlimited); --no-qos removes every limit.`;

function kbps(v: unknown, flag: string): number | undefined {
  if (v === undefined) return undefined;
  if (typeof v !== 'string' || !/^\d+$/.test(v)) throw new UsageError(`${flag} needs a positive integer (got ${JSON.stringify(v)})`);
  return Number(v);
}

/** Adds `securityGroups` and `qos` to `body` from the parsed flags (nothing when none given). */
export function addSgQos(p: Parsed, body: Record<string, unknown>, usage: string): void {
  const v = p.values;
  const groups = (v.sg as string[] | undefined) ?? [];
  if (groups.length && v['no-sg']) throw new UsageError(`--sg and --no-sg exclude each other\nusage: ${usage}`);
  if (groups.length) body.securityGroups = groups;
  if (v['no-sg']) body.securityGroups = [];
  const q = {
    ingressRateKbps: kbps(v['ingress-rate'], '--ingress-rate'),
    ingressBurstKb: kbps(v['ingress-burst'], '--ingress-burst'),
    egressRateKbps: kbps(v['egress-rate'], '--egress-rate'),
    egressBurstKb: kbps(v['egress-burst'], '--egress-burst'),
  };
  if (q.ingressBurstKb !== undefined && q.ingressRateKbps === undefined)
    throw new UsageError(`--ingress-burst needs --ingress-rate\nusage: ${usage}`);
  if (q.egressBurstKb !== undefined && q.egressRateKbps === undefined)
    throw new UsageError(`--egress-burst needs --egress-rate\nusage: ${usage}`);
  const given = Object.fromEntries(Object.entries(q).filter(([, x]) => x !== undefined));
  if (Object.keys(given).length && v['no-qos']) throw new UsageError(`the rate flags and --no-qos exclude each other\nusage: ${usage}`);
  if (Object.keys(given).length) body.qos = given;
  if (v['no-qos']) body.qos = null;
}
