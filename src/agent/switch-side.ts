/**
 * The agent's Open vSwitch link, made first at start-up, and what its events change: the physnet patch ports and
 * tunnel ports go into the view (every flow may name them), the elections and the refused ports are looked at again.
 * Kept apart from the Agent class, which only orders the start-up; what the agent does about a change comes back
 * through the explicit hooks of SwitchSideInput.
 */
import type { PipelineTables } from '../pipeline/tables.js';
import type { Logger } from '../util/log.js';
import type { TopologyView } from '../view/topology-view.js';
import type { BindingManager } from './binding.js';
import type { AgentConfig, Encap } from './config.js';
import { SwitchLink } from './switch-link.js';
import type { AgentTls } from './tls.js';

export interface SwitchSideInput {
  config: AgentConfig;
  logger: Logger;
  tables: PipelineTables;
  view: TopologyView;
  ovsTls: AgentTls['ovs'];
  /** Every flow may name the ports that changed: recompute them all (once the flow side exists). */
  markAllDirty(): void;
  /** Runs this chassis's part in the elections. */
  reconcileGateways(): void;
  /** The chassis record's contents changed (its uplinks' state): write it again. */
  chassisChanged(why: string): void;
  /** The binding manager, once the store side made it. */
  bindings(): BindingManager | undefined;
}

/**
 * Open vSwitch: bridge, table names, tunnel port, prepared on every OVSDB session. Open vSwitch may be absent (boot
 * order, restart): the link waits for it in the background, it never fails the start. It starts first: preparing
 * the bridge takes as long as the store's set-up, and both come before the first flows.
 */
export function prepareSwitchLink(input: SwitchSideInput): SwitchLink {
  const { config: cfg, logger: log, view } = input;
  const link = new SwitchLink({
    ovsdb: cfg.ovsdb,
    bridge: cfg.bridge,
    datapathType: cfg.datapathType,
    tableNames: input.tables.tableNames(),
    encaps: view.encaps as Encap[],
    tunnelIp: cfg.tunnelIp,
    bridgeMappings: cfg.bridgeMappings,
    ovsdbOptions: { ...input.ovsTls },
    logger: log,
  });
  link.on('physnetOfports', (ofports: Map<string, number>) => {
    view.physnetOfports.clear();
    for (const [physnet, ofport] of ofports) view.physnetOfports.set(physnet, ofport);
    input.markAllDirty();
    // A gateway candidate waits for its physnet's patch port before taking part in the election.
    input.reconcileGateways();
    // A physnet usable now (or no more): ports refused for it are tried again (none before the bindings exist:
    // the link starts before the store is open).
    const bindings = input.bindings();
    void bindings?.recheckRefused().catch((err) => log.error({ err }, 'binding recheck failed'));
  });
  link.on('physnetsDown', (down: Set<string>) => {
    view.physnetsDown.clear();
    for (const p of down) view.physnetsDown.add(p);
    // A gateway on a physnet whose uplink died is released (races.ts), and taken part in again once it is back;
    // the chassis record says so, so the other candidates stop ranking this one meanwhile.
    input.reconcileGateways();
    input.chassisChanged('uplink state changed');
  });
  link.on('tunnelOfport', (encap: string, ofport: number) => {
    view.tunnelOfports.set(encap, ofport);
    input.markAllDirty();
  });
  return link;
}
