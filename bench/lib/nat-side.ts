/**
 * What bench:nat asks of each side (wyvern, OVN): build the same north–south topology on a sandbox with a
 * physical network, say which chassis is the active SNAT gateway, and kill one.
 *
 *   int  10.0.0.0/24 (gateway 10.0.0.1, router r1)         — overlay
 *   ext  203.0.113.0/24 on physnet1, flat (the outside host is 203.0.113.1, the physical router)
 *   r1   interface on int, gateway on ext at 203.0.113.10 (SNAT of int), candidates GW_CHASSIS in priority order
 *   FIP  203.0.113.50 → vm-fip (10.0.0.5), NATed on vm-fip's chassis (distributed)
 */
import type { Sandbox, SandboxHost } from '../../src/sandbox/index.js';

export const INT = { cidr: '10.0.0.0/24', gateway: '10.0.0.1', prefix: 24 } as const;
export const EXT = { cidr: '203.0.113.0/24', gateway: '203.0.113.1', routerIp: '203.0.113.10', fip: '203.0.113.50' } as const;

export interface VmSpec {
  name: string;
  mac: string;
  ip: string;
}

export const FIP_VM: VmSpec = { name: 'vm-fip', mac: '02:0b:00:00:00:05', ip: '10.0.0.5' };
export const SNAT_VM: VmSpec = { name: 'vm-snat', mac: '02:0b:00:00:00:06', ip: '10.0.0.6' };

export interface NatSide {
  readonly label: 'ovn' | 'wyvern';
  /** Control plane up on every host (with physnet1 mapped to the sandbox's mapped bridge). */
  setup(sb: Sandbox): Promise<void>;
  /** The topology above; `gwChassis` in priority order; ports for the VMs (plugged by the bench afterwards). */
  build(gwChassis: string[], vms: VmSpec[]): Promise<void>;
  /** The chassis that holds the router's gateway now (undefined: none). */
  activeGateway(): Promise<string | undefined>;
  /** The control-plane process on a host to SIGKILL for the failover run. */
  controlPid(host: SandboxHost): number | undefined;
  controlPids(): number[];
  teardown(): Promise<void>;
}
