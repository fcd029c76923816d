import {
  BOOTREPLY,
  BOOTREQUEST,
  DHCP_CLIENT_PORT,
  DHCP_FLAG_BROADCAST,
  DHCP_SERVER_PORT,
  DHCP_TYPE,
  IPV4_HEADER_LEN,
  PacketError,
  UDP_HEADER_LEN,
  buildDhcp,
  buildUdpIpv4Frame,
  parseDhcp,
  parseFrame,
  type DhcpMessage,
  type ParsedFrame,
} from '../../packet/index.js';
import { BROADCAST_IP, BROADCAST_MAC, ZERO_IP, broadcastOf, intToIp, toCidr } from '../../net/addr.js';
import { gatewayOf, interfaceMtu, replyOptions, type ReplyType } from './options.js';
import type { DhcpClientState, DhcpContext, DhcpDecision, DhcpDropCounter } from './types.js';

/** RFC 2131 §2: every client accepts a 576-byte IP datagram; option 57 may raise the limit. */
const MIN_IP_DATAGRAM = 576;

function drop(counter: DhcpDropCounter, reason: string): DhcpDecision {
  return { action: 'drop', counter, reason };
}

/** Where a reply goes (RFC 2131 §4.1, last paragraphs). */
interface Destination {
  ip: string;
  mac: string;
  port: number;
  /** Set the broadcast bit in the reply (NAK through a relay). */
  forceBroadcastFlag: boolean;
}

export function replyDestination(req: DhcpMessage, reqFrame: ParsedFrame, kind: ReplyType, yiaddr: string): Destination {
  if (req.giaddr !== ZERO_IP) {
    // To the relay's server port; the relay is the L2 neighbour that sent us the request.
    return { ip: req.giaddr, mac: reqFrame.eth.src, port: DHCP_SERVER_PORT, forceBroadcastFlag: kind === 'NAK' };
  }
  const bcast = { ip: BROADCAST_IP, mac: BROADCAST_MAC, port: DHCP_CLIENT_PORT, forceBroadcastFlag: false };
  if (kind === 'NAK') return bcast;
  if (req.ciaddr !== ZERO_IP) return { ip: req.ciaddr, mac: reqFrame.eth.src, port: DHCP_CLIENT_PORT, forceBroadcastFlag: false };
  if (req.broadcast || yiaddr === ZERO_IP) return bcast;
  return { ip: yiaddr, mac: req.chaddr, port: DHCP_CLIENT_PORT, forceBroadcastFlag: false };
}

interface Verdict {
  kind: ReplyType;
  state: DhcpClientState;
}

/** RFC 2131 §4.3.2: classifies a DHCPREQUEST by client state and decides ACK or NAK (or silence). */
function classifyRequest(req: DhcpMessage, reqFrame: ParsedFrame, ctx: DhcpContext, serverIp: string): Verdict | DhcpDecision {
  const mine = ctx.port.ip;
  if (req.serverId !== undefined) {
    // SELECTING: the client answers an OFFER; if it picked another server, stay silent.
    if (req.serverId !== serverIp) return drop('ignored', `REQUEST selects server ${req.serverId}, not us`);
    if (req.ciaddr !== ZERO_IP) return drop('malformed', 'SELECTING REQUEST with ciaddr set');
    return { kind: req.requestedIp === mine ? 'ACK' : 'NAK', state: 'SELECTING' };
  }
  if (req.requestedIp !== undefined) {
    // INIT-REBOOT: verifying a remembered address; ciaddr MUST be zero.
    if (req.ciaddr !== ZERO_IP) return drop('malformed', 'INIT-REBOOT REQUEST with ciaddr set');
    return { kind: req.requestedIp === mine ? 'ACK' : 'NAK', state: 'INIT-REBOOT' };
  }
  if (req.ciaddr !== ZERO_IP) {
    // RENEWING is unicast to the server, REBINDING broadcast.
    const broadcast = reqFrame.ipv4?.dst === BROADCAST_IP || reqFrame.eth.dst === BROADCAST_MAC;
    return { kind: req.ciaddr === mine ? 'ACK' : 'NAK', state: broadcast ? 'REBINDING' : 'RENEWING' };
  }
  return drop('malformed', 'REQUEST without server id, requested address or ciaddr');
}

function toParsed(frame: ParsedFrame | Buffer): ParsedFrame | DhcpDecision {
  if (!Buffer.isBuffer(frame)) return frame;
  try {
    return parseFrame(frame);
  } catch (e) {
    return drop('malformed', e instanceof PacketError ? e.message : `parse failed: ${String(e)}`);
  }
}

/**
 * The pure RFC 2131 server for one logical port: decides what to answer to a DHCP packet from that port.
 * Never throws: malformed input is a 'malformed' drop; a reply that cannot be built from `ctx` (bad
 * configuration) is an 'ignored' drop with the reason. The server keeps no state — the address is the
 * port's — so `now` is only carried into log records.
 */
export function handleDhcp(frame: ParsedFrame | Buffer, ctx: DhcpContext, now: number): DhcpDecision {
  const f = toParsed(frame);
  if ('action' in f) return f;
  let decision: DhcpDecision;
  try {
    decision = decide(f, ctx);
  } catch (e) {
    decision = drop('ignored', `cannot build reply: ${e instanceof Error ? e.message : String(e)}`);
  }
  ctx.logger?.debug(
    { now, port: ctx.port.name, action: decision.action, kind: decision.action === 'reply' ? decision.kind : decision.counter },
    'dhcp',
  );
  return decision;
}

/** The DHCP message of a frame, decoding it here if the caller parsed with `{ dhcp: false }`. */
function dhcpOf(f: ParsedFrame): DhcpMessage | DhcpDecision {
  if (f.dhcp) return f.dhcp;
  if (f.dhcpError) return drop('malformed', f.dhcpError.message);
  if (!f.udp || (f.ipv4 && (f.ipv4.mf || f.ipv4.fragmentOffset !== 0))) return drop('malformed', 'fragmented DHCP');
  try {
    return parseDhcp(f.buf, f.udp.payloadOffset, f.udp.payloadEnd);
  } catch (e) {
    return drop('malformed', e instanceof PacketError ? e.message : String(e));
  }
}

/** Requests must be broadcast (limited or subnet-directed) or unicast to us; others belong to another server. */
function addressedToUs(f: ParsedFrame, ctx: DhcpContext, serverIp: string): boolean {
  const dst = f.ipv4?.dst;
  if (dst === undefined || dst === BROADCAST_IP || dst === serverIp) return true;
  return dst === intToIp(broadcastOf(toCidr(ctx.subnet.cidr)));
}

function decide(f: ParsedFrame, ctx: DhcpContext): DhcpDecision {
  if (!f.udp || f.udp.dstPort !== DHCP_SERVER_PORT) return drop('not_for_us', 'not UDP to port 67');
  const req = dhcpOf(f);
  if ('action' in req) return req;
  if (req.op !== BOOTREQUEST) return drop('ignored', `op ${req.op} is not BOOTREQUEST`);
  if (!ctx.subnet.enableDhcp) return drop('not_for_us', 'DHCP disabled on the subnet');
  if (req.htype !== 1 || req.hlen !== 6) return drop('ignored', `hardware type ${req.htype}/${req.hlen} is not Ethernet`);
  if (req.chaddr !== ctx.port.mac.toLowerCase()) return drop('not_for_us', `chaddr ${req.chaddr} is not the port's MAC`);
  const serverIp = ctx.server.ip ?? gatewayOf(ctx);
  if (!serverIp) return drop('ignored', 'no server identity: subnet has no gateway and ctx.server.ip is unset');
  if (!addressedToUs(f, ctx, serverIp)) return drop('not_for_us', `unicast to another server ${f.ipv4!.dst}`);
  let v: Verdict | DhcpDecision;
  switch (req.messageType) {
    case undefined:
      return drop('ignored', 'BOOTP (no message type) is not served');
    case DHCP_TYPE.DISCOVER:
      v = { kind: 'OFFER', state: 'INIT' };
      break;
    case DHCP_TYPE.REQUEST:
      v = classifyRequest(req, f, ctx, serverIp);
      break;
    case DHCP_TYPE.INFORM:
      v = { kind: 'INFORM-ACK', state: 'INFORM' };
      break;
    case DHCP_TYPE.RELEASE:
      return drop('release', `RELEASE of ${req.ciaddr}`);
    case DHCP_TYPE.DECLINE:
      return drop('decline', `DECLINE of ${req.requestedIp ?? '?'} (address in use on the wire?)`);
    default:
      return drop('ignored', `message type ${req.messageType} is not a client message`);
  }
  if ('action' in v) return v;
  return buildReply(v, req, f, ctx, serverIp);
}

function buildReply(v: Verdict, req: DhcpMessage, f: ParsedFrame, ctx: DhcpContext, serverIp: string): DhcpDecision {
  const kind = v.kind;
  const yiaddr = kind === 'OFFER' || kind === 'ACK' ? ctx.port.ip : ZERO_IP;
  // RFC 2131 table 3: ciaddr is echoed in ACKs (RENEWING/REBINDING/INFORM), zero in OFFER and NAK.
  const ciaddr = kind === 'ACK' || kind === 'INFORM-ACK' ? req.ciaddr : ZERO_IP;
  const dst = replyDestination(req, f, kind, yiaddr);
  const maxIp = Math.max(MIN_IP_DATAGRAM, Math.min(req.maxMessageSize ?? MIN_IP_DATAGRAM, interfaceMtu(ctx)));
  const built = buildDhcp({
    op: BOOTREPLY,
    xid: req.xid,
    flags: (req.flags & DHCP_FLAG_BROADCAST) | (dst.forceBroadcastFlag ? DHCP_FLAG_BROADCAST : 0),
    ciaddr,
    yiaddr,
    giaddr: req.giaddr,
    chaddr: req.chaddrRaw,
    options: replyOptions(kind, req, ctx, serverIp),
    maxLength: maxIp - IPV4_HEADER_LEN - UDP_HEADER_LEN,
  });
  const frame = buildUdpIpv4Frame({
    srcMac: ctx.server.mac,
    dstMac: dst.mac,
    src: serverIp,
    dst: dst.ip,
    srcPort: DHCP_SERVER_PORT,
    dstPort: dst.port,
    ttl: 64,
    payload: built.payload,
    vlans: f.eth.vlans,
  });
  return { action: 'reply', frame, kind: kind === 'INFORM-ACK' ? 'ACK' : kind, state: v.state, droppedOptions: built.dropped };
}
