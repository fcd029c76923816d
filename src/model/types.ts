/**
 * Logical topology objects as stored (JSON) under /wyvern/v1/ and served by the API.
 * Every object carries its id; names are unique per kind cluster-wide.
 */

export type Kind = 'network' | 'subnet' | 'port' | 'router' | 'security-group' | 'floating-ip';

export interface Network {
  id: string;
  name: string;
  /** Cluster-wide VNI, 1..16777215. */
  tunnelKey: number;
  mtu: number;
  /**
   * A provider network (issue 14): its packets leave each chassis through the bridge mapped to `physnet`
   * (agent config bridge_mappings), untagged (flat) or tagged with `vlan`, never through a tunnel. Absent = an
   * overlay network. The tunnel key stays: it is the network's metadata value inside br-int.
   */
  provider?: ProviderSegment;
  /**
   * How the chassis hosting the network's ports are joined by tunnels (issue 16), within a site: `mesh` (absent)
   * tunnels every chassis to every other; `star` tunnels each chassis only to the network's elected center
   * (CenterLease), which relays between them. Overlay networks only (a provider network has no tunnels).
   */
  topology?: NetworkTopology;
  /** Star center candidates in preference order (chassis names); absent = any chassis hosting the network. */
  centers?: string[];
}

export type NetworkTopology = 'mesh' | 'star';
export const NETWORK_TOPOLOGIES: readonly NetworkTopology[] = ['mesh', 'star'];

/** The site every chassis is in when its agent names none. */
export const DEFAULT_SITE = 'default';

/**
 * A star network's active center (issue 16), `/wyvern/v1/centers/<networkId>`, attached to the center agent's
 * chassis lease (gone with it), elected like a router's gateway (one election implementation for both).
 */
export interface CenterLease {
  networkId: string;
  chassis: string;
  /** ISO time this chassis became the center. */
  since: string;
}

/** A site's gateway candidates in preference order (issue 16), `/wyvern/v1/sites/<site>`; set by the operator. */
export interface Site {
  name: string;
  /** Chassis names, preference order; the first live one wins an election (non-preemptive). */
  gatewayCandidates: string[];
}

/** A site's active gateway chassis, `/wyvern/v1/site-gateways/<site>`, attached to its agent's chassis lease. */
export interface SiteGatewayLease {
  site: string;
  chassis: string;
  since: string;
}

/** Where a provider network meets the physical world: a physical network name and, for VLAN, its tag. */
export interface ProviderSegment {
  /** Physical network name (a bridge_mappings key), [A-Za-z0-9_.-]{1,64}. */
  physnet: string;
  /** 802.1Q VLAN id 1..4094; absent = flat (untagged). One network per (physnet, vlan|flat) cluster-wide. */
  vlan?: number;
}

export interface HostRoute {
  /** Destination IPv4 CIDR. */
  destination: string;
  nexthop: string;
}

export interface DhcpOption {
  /** DHCP option code, 1..254. */
  code: number;
  /** Raw option payload as lowercase hex (the DHCP app copies it verbatim). */
  value: string;
}

export interface Subnet {
  id: string;
  name: string;
  networkId: string;
  cidr: string;
  gatewayIp: string;
  enableDhcp: boolean;
  dnsServers: string[];
  domain?: string;
  hostRoutes: HostRoute[];
  /** DHCP lease time in seconds. */
  leaseTime: number;
  dhcpOptions: DhcpOption[];
}

export interface FixedIp {
  subnetId: string;
  ip: string;
}

export interface AddressPair {
  /** IPv4 address or CIDR the port may also use as source. */
  ip: string;
  /** MAC allowed with that address (default: the port's MAC). */
  mac?: string;
}

export interface Port {
  id: string;
  name: string;
  networkId: string;
  mac: string;
  fixedIps: FixedIp[];
  portSecurity: boolean;
  allowedAddressPairs: AddressPair[];
  /** Cluster-wide port key, 1..0xFFFFFFFE (the pipeline's reg6/reg7 value). */
  portKey: number;
  /**
   * Ids of the security groups the port is in ([] = none: the port is open, as before groups existed). Enforced
   * only while portSecurity is on: a port without it is a trusted appliance.
   */
  securityGroups: string[];
  /** Rate limits; absent = none. */
  qos?: PortQos;
}

/**
 * A port's rate limits, named from the switch's side as OVS names them: ingress = what the VM sends into the
 * switch, egress = what the switch sends to the VM; each is an OpenFlow meter (docs/qos.md says why not OVS
 * ingress policing). Rates in kbit/s, bursts in kbit; a burst is only set with its rate.
 */
export interface PortQos {
  ingressRateKbps?: number;
  ingressBurstKb?: number;
  egressRateKbps?: number;
  egressBurstKb?: number;
}

export type SgDirection = 'ingress' | 'egress';
/** A rule's IP protocol: a name for the common ones (6, 17 and 1 are stored as names), else its number. */
export type SgProtocol = 'any' | 'tcp' | 'udp' | 'icmp' | number;

/**
 * One allow rule of a security group. Direction is from the port's side: ingress = traffic to the port,
 * egress = traffic from it. The remote side is a CIDR, or the addresses of another group's members, or
 * anything when neither is given.
 */
export interface SgRule {
  /** UUID. */
  id: string;
  /** Cluster-wide rule key, 1..0x7FFFFFFF (the conjunction id of the rule's flows, remote-group rules aside). */
  ruleKey: number;
  direction: SgDirection;
  protocol: SgProtocol;
  /** TCP/UDP destination port range (both or neither). */
  portMin?: number;
  portMax?: number;
  /** ICMP type, and code (a code only with a type). */
  icmpType?: number;
  icmpCode?: number;
  /** Normalised IPv4 CIDR (host bits zero). */
  remoteCidr?: string;
  remoteGroupId?: string;
}

export interface SecurityGroup {
  id: string;
  name: string;
  description: string;
  /** Cluster-wide group key, 1..0xFFFFFFFE (the cookie object of its flows). */
  groupKey: number;
  rules: SgRule[];
}

/**
 * A port's membership of a group, as the agents that enforce rules naming the group as remote need it (the
 * address-set entry): written and deleted by the API in the same transaction as the port.
 */
export interface SgMember {
  portId: string;
  networkId: string;
  /** The port's fixed IPs and allowed-address-pair IPs/CIDRs (IPv4). */
  addresses: string[];
}

export interface RouterInterface {
  subnetId: string;
  networkId: string;
  ip: string;
  mac: string;
}

export interface StaticRoute {
  cidr: string;
  nexthop: string;
}

export type RouterMode = 'proactive' | 'reactive';

export interface Router {
  id: string;
  name: string;
  /** Cluster-wide router key (the pipeline's reg5 value). */
  routerKey: number;
  mac: string;
  mode: RouterMode;
  interfaces: RouterInterface[];
  routes: StaticRoute[];
  /** The router's external gateway on a provider network (SNAT for its subnets); absent = none. */
  gateway?: RouterGateway;
}

/**
 * A router's port on a provider network (issue 14). VMs on the router's subnets reach that network with their
 * source rewritten to `ip` (SNAT), through exactly one active chassis among `chassis` (priority order, first
 * preferred), elected through the store (GatewayLease). Floating IPs do not go through it: they are NATed on the
 * chassis that hosts their port.
 */
export interface RouterGateway {
  /** The provider network (Network.provider set). */
  networkId: string;
  /** The subnet of that network the gateway IP is on. */
  subnetId: string;
  /** The router's address on the provider network: the SNAT source, answered for by the active chassis. */
  ip: string;
  /** The router's MAC on the provider network (allocated like a router interface's). */
  mac: string;
  /** Candidate gateway chassis, highest priority first (1..16 names, each registered when set). */
  chassis: string[];
}

/**
 * A floating IP (issue 14), distributed as OVN's dnat_and_snat with external_mac: the chassis that hosts the
 * port NATs its traffic (ip ↔ fixedIp) and answers ARP for `ip` with `mac`; north–south traffic of a FIP never
 * crosses a tunnel.
 */
export interface FloatingIp {
  id: string;
  /** The provider network the address is on. */
  networkId: string;
  /** The floating address (in a subnet of networkId; allocated from it when not given). */
  ip: string;
  /** The MAC that answers for `ip` on the provider network (allocated like a port's). */
  mac: string;
  /** The port it maps to, its network, and which of its fixed IPs; all absent while unassociated. */
  portId?: string;
  portNetworkId?: string;
  fixedIp?: string;
  /** The router whose gateway is on networkId and that has an interface on the port's subnet (the router path). */
  routerId?: string;
}

/**
 * Who is the active gateway chassis of a router now: written by the elected agent, attached to its lease (live
 * state, like chassis keys), so it vanishes when that agent dies and the next candidate takes over.
 */
export interface GatewayLease {
  routerId: string;
  chassis: string;
  /** ISO time this chassis became active. */
  since: string;
}

/** A tunnel encapsulation a chassis can speak (one declaration; everyone imports it). */
export type Encap = 'vxlan' | 'geneve' | 'gre';
export const ENCAPS: readonly Encap[] = ['vxlan', 'geneve', 'gre'];

export interface Chassis {
  name: string;
  tunnelIp: string;
  /** e.g. ['vxlan'] or ['geneve', 'vxlan']. */
  encaps: string[];
  version: string;
  /** ISO time the agent registered. */
  registeredAt?: string;
  /** Physical networks this chassis reaches (its bridge_mappings keys), sorted; absent = none. */
  physnets?: string[];
  /**
   * Of those, the ones whose mapped bridge has uplinks, all down (agent/uplink-health.ts), sorted; absent = none.
   * Peers do not rank this chassis as a gateway candidate on them.
   */
  uplinksDown?: string[];
  /** The site this chassis is in (agent config `site`); absent = DEFAULT_SITE. Traffic between sites goes
   * only through each site's elected gateway (SiteGatewayLease). */
  site?: string;
}

/** A chassis as listed: its key exists only while the agent's lease is alive. */
export interface ChassisStatus extends Chassis {
  alive: boolean;
  lease?: string;
}

export interface Binding {
  chassis: string;
  ofport?: number;
  updatedAt: string;
}

/** Disaster-recovery snapshot: configuration only (chassis and bindings are live state). */
export interface TopologyDocument {
  format: 'wyvern-topology';
  version: 1;
  networks: Network[];
  subnets: Subnet[];
  ports: Port[];
  routers: Router[];
  /** Absent in documents written before security groups. */
  securityGroups?: SecurityGroup[];
  /** Absent in documents written before floating IPs. */
  floatingIps?: FloatingIp[];
  /** Sites' gateway candidates (the operator's Site records); absent in documents written before sites. */
  sites?: Site[];
}
