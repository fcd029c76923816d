import type { OpcodeRoute } from '../apps/registry.js';
import type { Match, OfMessage } from '../openflow/index.js';
import { parseFrame, type ParsedFrame } from '../packet/index.js';
import { opcodeFromUserdata } from '../pipeline/declarations.js';
import type { PipelineTables } from '../pipeline/tables.js';
import { RateLimiter } from '../util/ratelimit.js';
import type { Logger } from '../util/log.js';
import type { PacketInResult } from '../apps/platform.js';

export interface PacketInStats {
  received: number;
  handled: number;
  rateLimited: number;
  malformed: number;
  /** No opcode in the userdata, or one no loaded app handles: counted and dropped. */
  unknownOpcode: number;
  errors: number;
}

/** What became of one PACKET_IN (`ignored`: the handler had nothing to answer). */
export type PacketInOutcome = 'handled' | 'ignored' | 'rate_limited' | 'malformed' | 'unknown_opcode' | 'error';

function fieldNumber(match: Match, name: string): bigint | undefined {
  const f = match.find((m) => m.field === name);
  if (!f || f.field === 'unknown') return undefined;
  const v = (f as { value: unknown }).value;
  return typeof v === 'bigint' ? v : typeof v === 'number' ? BigInt(v) : undefined;
}

/**
 * PACKET_IN dispatch by opcode: the flow that sent the packet put its opcode (pipelines/ packet_in_opcodes) in
 * the controller action's userdata, which OVS returns in NXT_PACKET_IN2; the opcode's owner app answers. A
 * per-port token bucket keeps one VM from flooding the agent; malformed frames and unknown opcodes are counted
 * and dropped, never thrown.
 */
export class PacketInDispatcher {
  private readonly limiter: RateLimiter;
  private readonly networkField: string;
  readonly stats: PacketInStats = { received: 0, handled: 0, rateLimited: 0, malformed: 0, unknownOpcode: 0, errors: 0 };
  /** Outcomes by owning app ('unknown' for an opcode no app handles): `app outcome` → count. */
  readonly outcomes = new Map<string, number>();

  constructor(
    private readonly tables: PipelineTables,
    private readonly routes: ReadonlyMap<number, OpcodeRoute>,
    private readonly logger: Logger,
    limits: { rate: number; burst: number },
  ) {
    this.limiter = new RateLimiter({ rate: limits.rate, burst: limits.burst });
    this.networkField = tables.reg('network');
  }

  handle(msg: OfMessage): PacketInResult | undefined {
    // A standard PACKET_IN carries no userdata (a session before NXT_SET_PACKET_IN_FORMAT, or a flow without an
    // opcode): it is counted as an unknown opcode.
    if (msg.type !== 'NX_PACKET_IN2' && msg.type !== 'PACKET_IN') return undefined;
    this.stats.received++;
    const id = msg.type === 'NX_PACKET_IN2' ? opcodeFromUserdata(msg.userdata) : undefined;
    const route = id === undefined ? undefined : this.routes.get(id);
    if (!route) {
      this.stats.unknownOpcode++;
      this.count('unknown', 'unknown_opcode');
      return undefined;
    }
    const inPort = Number(fieldNumber(msg.match, 'in_port') ?? -1n);
    if (!this.limiter.allow(String(inPort))) {
      this.stats.rateLimited++;
      this.count(route.app, 'rate_limited');
      return undefined;
    }
    let frame: ParsedFrame;
    try {
      frame = parseFrame(msg.type === 'NX_PACKET_IN2' ? msg.packet : msg.data);
    } catch {
      this.stats.malformed++;
      this.count(route.app, 'malformed');
      return undefined;
    }
    const table = this.tables.nameOf(msg.tableId) ?? String(msg.tableId);
    try {
      const out = route.handle({
        opcode: route.opcode,
        table,
        inPort,
        networkKey: fieldNumber(msg.match, this.networkField) ?? 0n,
        frame,
        cookie: msg.cookie,
      });
      if (out) this.stats.handled++;
      this.count(route.app, out ? 'handled' : 'ignored');
      return out;
    } catch (err) {
      this.stats.errors++;
      this.count(route.app, 'error');
      this.logger.error({ err, app: route.app, opcode: route.opcode }, 'packet-in handler failed');
      return undefined;
    }
  }

  private count(app: string, outcome: PacketInOutcome): void {
    const k = `${app} ${outcome}`;
    this.outcomes.set(k, (this.outcomes.get(k) ?? 0) + 1);
  }
}
