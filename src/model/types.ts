/**
 * Logical topology objects as stored (JSON) under /wyvern/v1/ and served by the API.
 * Every object carries its id; names are unique per kind cluster-wide.
 */

export type Kind = 'network' | 'subnet' | 'port' | 'router';

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
}
