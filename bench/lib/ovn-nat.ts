/**
 * bench:nat's OVN side, built the way networking-ovn builds it: the provider network is a logical switch with a
 * localnet port (network_name=physnet1, ovn-bridge-mappings on every chassis); the router's external port is a
 * distributed gateway port with gateway chassis in priority order (HA through BFD between chassis); SNAT of the
 * internal subnet to the gateway address; the floating IP is a distributed dnat_and_snat (logical_port and
 * external_mac set), NATed on the VM's chassis.
 */
import type { Sandbox, SandboxHost } from '../../src/sandbox/index.js';
import { OvnCentral } from './ovn-central.js';
import { EXT, INT, type NatSide, type VmSpec } from './nat-side.js';

const FIP_MAC = '02:0e:00:00:00:50';

export class OvnNat implements NatSide {
  readonly label = 'ovn' as const;
  private readonly ovn = new OvnCentral();

  async setup(sb: Sandbox): Promise<void> {
    const pn = sb.physnet;
    if (!pn) throw new Error('bench:nat needs a sandbox with a physical network');
    await this.ovn.start(sb, () => [`external_ids:ovn-bridge-mappings=${pn.name}:${pn.bridge}`]);
  }

  async build(gwChassis: string[], vms: VmSpec[]): Promise<void> {
    const nb = (args: string[]) => this.ovn.nb(args);
    const [ip, len] = [EXT.routerIp, EXT.cidr.split('/')[1]];
    await nb(['ls-add', 'ext', '--', 'lsp-add', 'ext', 'ln-ext', '--', 'lsp-set-type', 'ln-ext', 'localnet']);
    await nb(['lsp-set-addresses', 'ln-ext', 'unknown', '--', 'lsp-set-options', 'ln-ext', 'network_name=physnet1']);
    await nb(['ls-add', 'int']);
    await nb(['lr-add', 'r1', '--', 'lrp-add', 'r1', 'r1-int', '02:0e:00:00:01:01', `${INT.gateway}/${INT.prefix}`]);
    await nb(['lsp-add', 'int', 'int-r1', '--', 'lsp-set-type', 'int-r1', 'router', '--', 'lsp-set-addresses', 'int-r1', 'router']);
    await nb(['lsp-set-options', 'int-r1', 'router-port=r1-int']);
    await nb(['lrp-add', 'r1', 'r1-ext', '02:0e:00:00:02:01', `${ip}/${len}`]);
    await nb(['lsp-add', 'ext', 'ext-r1', '--', 'lsp-set-type', 'ext-r1', 'router', '--', 'lsp-set-addresses', 'ext-r1', 'router']);
    await nb(['lsp-set-options', 'ext-r1', 'router-port=r1-ext']);
    for (const [i, ch] of gwChassis.entries()) await nb(['lrp-set-gateway-chassis', 'r1-ext', ch, String(100 - i)]);
    await nb(['lr-route-add', 'r1', '0.0.0.0/0', EXT.gateway]);
    await nb(['lr-nat-add', 'r1', 'snat', EXT.routerIp, INT.cidr]);
    for (const vm of vms) await nb(['lsp-add', 'int', vm.name, '--', 'lsp-set-addresses', vm.name, `${vm.mac} ${vm.ip}`]);
    await nb(['lr-nat-add', 'r1', 'dnat_and_snat', EXT.fip, vms[0]!.ip, vms[0]!.name, FIP_MAC]);
    await nb(['--wait=hv', 'sync']);
  }

  async activeGateway(): Promise<string | undefined> {
    const chassis = (await this.ovn.sbctl(['--bare', '--columns=chassis', 'find', 'Port_Binding', 'logical_port=cr-r1-ext'])).trim();
    if (!chassis) return undefined;
    return (await this.ovn.sbctl(['--bare', '--columns=name', 'list', 'Chassis', chassis])).trim() || undefined;
  }

  controlPid(host: SandboxHost): number | undefined {
    return this.ovn.controllers.get(host.name);
  }

  controlPids(): number[] {
    return this.ovn.controlPids();
  }

  async teardown(): Promise<void> {
    // Sandbox.down() ends the tracked daemons.
  }
}
