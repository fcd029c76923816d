/** Which protocol layer a PacketError was raised in. */
export type PacketLayer = 'ethernet' | 'vlan' | 'arp' | 'ipv4' | 'icmp' | 'udp' | 'tcp' | 'dhcp' | 'pcap' | 'build';

/** Machine-readable reason, stable for counters and tests. */
export type PacketErrorCode =
  'truncated' | 'bad_version' | 'bad_header_length' | 'bad_length' | 'bad_value' | 'bad_magic' | 'bad_option' | 'too_big';

/**
 * The only error the packet library's parsers throw (builders given a malformed address string throw the
 * address module's AddressError). `offset` is the byte offset in the buffer handed to the
 * parser (the whole frame for parseFrame) where the problem was found, so logs can point at the bytes.
 */
export class PacketError extends Error {
  override readonly name = 'PacketError';
  constructor(
    readonly layer: PacketLayer,
    readonly code: PacketErrorCode,
    readonly offset: number,
    detail: string,
  ) {
    super(`${layer}: ${code} at offset ${offset}: ${detail}`);
  }
}

/** Throws a truncation error unless `need` bytes are available at `off` (end exclusive at `end`). */
export function need(layer: PacketLayer, off: number, need: number, end: number, what: string): void {
  if (off + need > end) throw new PacketError(layer, 'truncated', off, `${what}: need ${need} bytes, have ${Math.max(0, end - off)}`);
}
