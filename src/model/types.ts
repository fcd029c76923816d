/**
 * Logical topology objects as stored (JSON) under /wyvern/v1/ and served by the API.
 * Every object carries its id; names are unique per kind cluster-wide.
 */

export type Kind = 'network' | 'subnet' | 'port' | 'router' | 'security-group';

export interface Network {
  id: string;
  name: string;
  /** Cluster-wide VNI, 1..16777215. */
  tunnelKey: number;
  mtu: number;
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
}
