import { packetOut as buildPacketOut, type Match, type OfMessage } from '../openflow/index.js';
import { parseFrame, type ParsedFrame } from '../packet/index.js';
import type { DesiredFlow, PipelineTables } from '../pipeline/tables.js';
import { RateLimiter } from '../util/ratelimit.js';
import type { Logger } from '../util/log.js';

/** One PACKET_IN as an app sees it. */
export interface PacketIn {
  table: string;
  inPort: number;
  /** The network register (tunnel key of the packet's logical network). */
  networkKey: bigint;
  frame: ParsedFrame;
  cookie: bigint;
}

/**
 * What a handler wants: transient flows under an owner (installed by the flow manager first, so a re-injected
 * packet meets them), then packets (PACKET_OUT only).
 */
export interface PacketInResult {
  messages: OfMessage[];
  transient?: { owner: string; flows: DesiredFlow[] };
}

export type PacketInHandler = (pin: PacketIn) => PacketInResult | undefined;

export interface PacketInStats {
  received: number;
  handled: number;
  rateLimited: number;
  malformed: number;
  unowned: number;
  errors: number;
}

function fieldNumber(match: Match, name: string): bigint | undefined {
  const f = match.find((m) => m.field === name);
  if (!f || f.field === 'unknown') return undefined;
  const v = (f as { value: unknown }).value;
  return typeof v === 'bigint' ? v : typeof v === 'number' ? BigInt(v) : undefined;
}

/**
 * PACKET_IN dispatch: the table a packet left the pipeline from names the app that owns it (pipelines/),
 * and that app's handler answers. A per-port token bucket keeps one VM from flooding the agent; malformed
 * frames are counted and dropped, never thrown.
 */
export class PacketInDispatcher {
  private readonly handlers = new Map<string, PacketInHandler>();
  private readonly limiter: RateLimiter;
  readonly stats: PacketInStats = { received: 0, handled: 0, rateLimited: 0, malformed: 0, unowned: 0, errors: 0 };

  constructor(
    private readonly tables: PipelineTables,
    private readonly logger: Logger,
    limits: { rate: number; burst: number },
  ) {
    this.limiter = new RateLimiter({ rate: limits.rate, burst: limits.burst });
  }

  /** Registers the handler of an app (for every table that app owns). */
  register(app: string, handler: PacketInHandler): void {
    this.handlers.set(app, handler);
  }

  handle(msg: OfMessage): PacketInResult | undefined {
    if (msg.type !== 'PACKET_IN') return undefined;
    this.stats.received++;
    const table = this.tables.nameOf(msg.tableId);
    const handler = table ? this.handlers.get(this.tables.def(table).owner) : undefined;
    if (!table || !handler) {
      this.stats.unowned++;
      return undefined;
    }
    const inPort = Number(fieldNumber(msg.match, 'in_port') ?? -1n);
    if (!this.limiter.allow(String(inPort))) {
      this.stats.rateLimited++;
      return undefined;
    }
    let frame: ParsedFrame;
    try {
      frame = parseFrame(msg.data);
    } catch {
      this.stats.malformed++;
      return undefined;
    }
    try {
      const out = handler({ table, inPort, networkKey: fieldNumber(msg.match, 'metadata') ?? 0n, frame, cookie: msg.cookie });
      if (out) this.stats.handled++;
      return out;
    } catch (err) {
      this.stats.errors++;
      this.logger.error({ err, table }, 'packet-in handler failed');
      return undefined;
    }
  }
}

/** A PACKET_OUT of a whole frame out of one port. */
export function packetOut(port: number, data: Buffer): OfMessage {
  return buildPacketOut({ actions: [{ type: 'output', port }], data });
}

/** Re-injects a frame at the start of the pipeline as if it came from `inPort` (OVS buffers nothing). */
export function packetReinject(inPort: number, data: Buffer): OfMessage {
  return buildPacketOut({ inPort, actions: [{ type: 'output', port: 'table' }], data });
}
