import type { Encap } from '../../model/types.js';
import type { Logger } from '../../util/log.js';

/** Tunnel encapsulations and the bytes each adds to an inner Ethernet frame (outer IPv4). */
export type Encapsulation = Encap | 'vlan' | 'flat' | 'local';

/**
 * Overhead per encapsulation, in bytes, subtracted from the network MTU for DHCP option 26:
 * - vxlan 50  = outer IPv4 20 + UDP 8 + VXLAN 8 + inner Ethernet 14.
 * - geneve 58 = the 50 of a bare Geneve header + 8 for one 4-byte option header with 4 bytes of data, the
 *               metadata an OVN/Dragonflow-style pipeline carries; pass `overhead` if yours carries more.
 * - gre 42    = outer IPv4 20 + GRE 8 (4 base + 4 key: OVS `key=flow` needs the key field) + inner Ethernet 14.
 * - vlan/flat/local 0 (no tunnel: the VLAN tag is not counted against the IP MTU).
 */
export const ENCAP_OVERHEAD: Readonly<Record<Encapsulation, number>> = {
  vxlan: 50,
  geneve: 58,
  gre: 42,
  vlan: 0,
  flat: 0,
  local: 0,
};

export interface DhcpPort {
  /** Logical port name; sent as the hostname (option 12) unless `hostname` is given. */
  name: string;
  hostname?: string;
  mac: string;
  /** The port's fixed IPv4 address in this subnet (there is no pool). */
  ip: string;
}

/** Structurally a subset of the model's Subnet, so a model object can be passed as is. */
export interface DhcpSubnet {
  cidr: string;
  /** Router address (option 3) and, by default, the server identifier. '' or absent: no gateway. */
  gatewayIp?: string;
  enableDhcp: boolean;
  dnsServers: readonly string[];
  domain?: string;
  hostRoutes: ReadonlyArray<{ destination: string; nexthop: string }>;
  /** Seconds; 0xffffffff = infinite. */
  leaseTime: number;
  /** Extra options: raw value as hex (the model's form) or bytes. They override computed options. */
  dhcpOptions?: ReadonlyArray<{ code: number; value: string | Buffer }>;
}

export interface DhcpContext {
  port: DhcpPort;
  subnet: DhcpSubnet;
  network: {
    /** The logical network's MTU before encapsulation overhead. */
    mtu: number;
    encapsulation: Encapsulation;
    /** Overrides ENCAP_OVERHEAD[encapsulation]. */
    overhead?: number;
  };
  server: {
    /** Source MAC of replies (a router/agent MAC). */
    mac: string;
    /** Server identifier (option 54) and source IP; default subnet.gatewayIp. */
    ip?: string;
  };
  logger?: Logger;
}

export type DhcpReplyKind = 'OFFER' | 'ACK' | 'NAK';
export type DhcpDropCounter = 'malformed' | 'not_for_us' | 'release' | 'decline' | 'ignored';
export type DhcpClientState = 'SELECTING' | 'INIT-REBOOT' | 'RENEWING' | 'REBINDING' | 'INIT' | 'INFORM';

export type DhcpDecision =
  | {
      action: 'reply';
      /** Full Ethernet frame to PACKET_OUT to the VM's port. */
      frame: Buffer;
      kind: DhcpReplyKind;
      /** The client state the request was classified in (for logs/counters). */
      state: DhcpClientState;
      /** Options left out because they fit nowhere (normally empty). */
      droppedOptions: number[];
    }
  | { action: 'drop'; reason: string; counter: DhcpDropCounter };
