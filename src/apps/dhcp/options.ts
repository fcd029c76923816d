import {
  OPT,
  encodeClasslessRoutes,
  optIps,
  optText,
  optU16,
  optU32,
  optU8,
  type ClasslessRoute,
  type DhcpMessage,
} from '../../packet/index.js';
import { maskOf, toCidr } from '../../net/addr.js';
import { ENCAP_OVERHEAD, type DhcpContext, type Encapsulation } from './types.js';

/** Options the server always sends in OFFER/ACK, whatever the parameter request list says. */
const MANDATORY = [OPT.subnetMask, OPT.router] as const;
/** Codes subnet extra options may not override: they carry protocol state. */
const PROTECTED = new Set<number>([
  OPT.pad,
  OPT.end,
  OPT.overload,
  OPT.messageType,
  OPT.serverId,
  OPT.leaseTime,
  OPT.renewalTime,
  OPT.rebindingTime,
  OPT.parameterRequestList,
  OPT.maxMessageSize,
  OPT.clientId,
  OPT.requestedIp,
]);

/** The encap with the largest per-packet overhead (DHCP's MTU option must leave room for it). */
export function bulkiestEncap<E extends Encapsulation>(encaps: readonly E[]): E {
  return encaps.reduce((a, b) => (ENCAP_OVERHEAD[b] > ENCAP_OVERHEAD[a] ? b : a));
}

/** Smallest legal interface MTU (RFC 2132 §5.1). */
const MIN_MTU = 68;

export function interfaceMtu(ctx: DhcpContext): number {
  const overhead = ctx.network.overhead ?? ENCAP_OVERHEAD[ctx.network.encapsulation] ?? 0;
  return Math.max(MIN_MTU, ctx.network.mtu - overhead);
}

export function gatewayOf(ctx: DhcpContext): string | undefined {
  const g = ctx.subnet.gatewayIp;
  return g && g !== '0.0.0.0' ? g : undefined;
}

/** Computes every option value wyvern can offer for this port (code → bytes), extras applied last. */
function offerable(ctx: DhcpContext): Map<number, Buffer> {
  const { subnet, port } = ctx;
  const m = new Map<number, Buffer>();
  const { network, prefix } = toCidr(subnet.cidr);
  const mask = maskOf(prefix);
  const gw = gatewayOf(ctx);
  m.set(OPT.subnetMask, optU32(mask));
  if (gw) m.set(OPT.router, optIps([gw]));
  if (subnet.dnsServers.length > 0) m.set(OPT.dns, optIps(subnet.dnsServers));
  const host = (port.hostname ?? port.name).slice(0, 255);
  if (host) m.set(OPT.hostname, optText(host));
  if (subnet.domain) m.set(OPT.domain, optText(subnet.domain.slice(0, 255)));
  m.set(OPT.mtu, optU16(interfaceMtu(ctx)));
  m.set(OPT.broadcast, optU32((network | ~mask) >>> 0));
  if (subnet.hostRoutes.length > 0) {
    // RFC 3442: a client that gets 121 ignores option 3, so the default route must be in 121 too.
    const routes: ClasslessRoute[] = subnet.hostRoutes.map((r) => ({ destination: r.destination, router: r.nexthop }));
    if (gw && !routes.some((r) => toCidr(r.destination).prefix === 0)) routes.push({ destination: '0.0.0.0/0', router: gw });
    const v = encodeClasslessRoutes(routes);
    m.set(OPT.classlessRoutes, v);
    m.set(OPT.msClasslessRoutes, v);
  }
  for (const o of subnet.dhcpOptions ?? []) {
    if (!Number.isInteger(o.code) || o.code < 1 || o.code > 254 || PROTECTED.has(o.code)) continue;
    m.set(o.code, typeof o.value === 'string' ? Buffer.from(o.value, 'hex') : Buffer.from(o.value));
  }
  return m;
}

export type ReplyType = 'OFFER' | 'ACK' | 'INFORM-ACK' | 'NAK';

const TYPE_CODE: Record<ReplyType, number> = { OFFER: 2, ACK: 5, 'INFORM-ACK': 5, NAK: 6 };

/**
 * The reply's options in priority order (what must survive a tight size limit first): 53, 54, lease
 * (51, 58, 59; not for INFORM), 1, 3, then the client's parameter request list in its order (all we have
 * when it sent none), then echoes of 61 (RFC 6842) and 82 (RFC 3046). T1/T2 always accompany the lease,
 * as ISC dhcpd does, since clients otherwise derive the same 0.5/0.875 values.
 */
export function replyOptions(type: ReplyType, req: DhcpMessage, ctx: DhcpContext, serverIp: string): Array<[number, Buffer]> {
  const out: Array<[number, Buffer]> = [
    [OPT.messageType, optU8(TYPE_CODE[type])],
    [OPT.serverId, optIps([serverIp])],
  ];
  const echo = (): void => {
    const cid = req.options.get(OPT.clientId);
    if (cid && cid.length > 0) out.push([OPT.clientId, cid]);
    const rai = req.options.get(OPT.relayAgentInfo);
    if (rai && rai.length > 0 && req.giaddr !== '0.0.0.0') out.push([OPT.relayAgentInfo, rai]);
  };
  if (type === 'NAK') {
    out.push([OPT.message, optText("requested address is not this port's address")]);
    echo();
    return out;
  }
  if (type !== 'INFORM-ACK') {
    const lease = ctx.subnet.leaseTime >>> 0;
    out.push([OPT.leaseTime, optU32(lease)]);
    if (lease !== 0xffffffff) {
      out.push([OPT.renewalTime, optU32(Math.floor(lease * 0.5))]);
      out.push([OPT.rebindingTime, optU32(Math.floor(lease * 0.875))]);
    }
  }
  const avail = offerable(ctx);
  const sent = new Set<number>(out.map(([c]) => c));
  const add = (code: number): void => {
    const v = avail.get(code);
    if (v && !sent.has(code)) {
      out.push([code, v]);
      sent.add(code);
    }
  };
  for (const c of MANDATORY) add(c);
  const prl = req.parameterRequestList;
  if (prl) {
    for (const c of prl) add(c);
  } else {
    for (const c of avail.keys()) if (c !== OPT.msClasslessRoutes) add(c);
  }
  echo();
  return out;
}
