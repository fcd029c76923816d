import { flowKey, mergeConjunctions } from '../../flows/desired.js';
import type { Port } from '../../model/types.js';
import { FlowGuardError } from '../../pipeline/guard.js';
import { CtZoneError, type AppTables, type DesiredFlow } from '../../pipeline/tables.js';
import { groupsOf, isProtected } from '../../view/index.js';
import type { App } from '../platform.js';
import { ruleFlows, type EnforcedRule } from './rule-flows.js';
import { CT_PRIO, portCtFlows, stateFlows, type AclStage } from './state-flows.js';

/**
 * The distributed firewall (security groups), stateful with OVS conntrack, after OVN. Each protected local port
 * (port security on, at least one group) is tracked in its own conntrack zone — its ofport, unique on the host
 * and stable across agent restarts, so a restart keeps every connection. Egress is enforced where a packet
 * enters the pipeline from its VM, ingress where it is delivered to its VM (unicast and each flood copy), so a
 * packet between two VMs on one host is tracked in both zones. Unprotected ports miss through with one lookup.
 * IPv4 only: a protected port's other ethertypes (ARP aside) are dropped.
 */
export function stages(tables: AppTables): AclStage[] {
  return [
    {
      direction: 'egress',
      ct: 'acl_egress_ct',
      rules: 'acl_egress',
      action: 'acl_egress_action',
      after: 'dhcp',
      portReg: tables.reg('src_port'),
      remoteField: 'ipv4_dst',
    },
    {
      direction: 'ingress',
      ct: 'acl_ingress_ct',
      rules: 'acl_ingress',
      action: 'acl_ingress_action',
      after: 'egress',
      portReg: tables.reg('dst_port'),
      remoteField: 'ipv4_src',
    },
  ];
}

/**
 * Flows equal in table, priority and match — one clause flow built for several rules, or the same plain flow from
 * two groups of a port — become one: conjunction actions merged (as the flow manager merges them across owners),
 * otherwise the first kept. The flow manager keeps one flow per key and owner, so this must happen here.
 */
export function mergeSameKey(flows: readonly DesiredFlow[]): DesiredFlow[] {
  const byKey = new Map<string, DesiredFlow>();
  for (const f of flows) {
    const key = flowKey(f);
    const seen = byKey.get(key);
    if (!seen) byKey.set(key, f);
    else {
      const merged = mergeConjunctions([seen, f]);
      if (merged) byKey.set(key, merged);
      else if (f.cookie < seen.cookie) byKey.set(key, { ...seen, cookie: f.cookie }); // same flow, one cookie whatever the order
    }
  }
  return [...byKey.values()];
}

/**
 * A protected port's conntrack zone: its ofport, within pipelines/ ct_zones.port_acl (below NAT's zones). An ofport
 * beyond it is refused loudly (the agent logs it like a guard refusal) and undefined returned: the caller drops.
 */
function portZone(tables: AppTables, stage: AclStage, port: Port, ofport: number): number | undefined {
  try {
    return tables.ctZone('port_acl', ofport);
  } catch (err) {
    if (!(err instanceof CtZoneError)) throw err;
    tables.report(new FlowGuardError(stage.ct, 'ct_zone', `port ${port.name} (ofport ${ofport}): ${err.message}; its traffic is dropped`));
    return undefined;
  }
}

function portDropFlow(tables: AppTables, stage: AclStage, portKey: number): DesiredFlow {
  return tables.table(stage.ct).flow({ priority: CT_PRIO.port, match: [{ field: stage.portReg, value: portKey }], object: portKey });
}

export const aclApp: App = {
  name: 'acl',
  localPortsOnly: true,
  tables: ['acl_egress_ct', 'acl_egress', 'acl_egress_action', 'acl_ingress_ct', 'acl_ingress', 'acl_ingress_action'],
  readsSecurityGroups: true,
  create: () => ({}),
  networkFlows(tables, view, net) {
    const protectedPorts: { port: Port; ofport: number }[] = [];
    for (const { ps, loc } of view.placedPorts(net))
      if (loc.kind === 'local' && isProtected(ps.port)) protectedPorts.push({ port: ps.port, ofport: loc.ofport });
    if (protectedPorts.length === 0) return [];

    // Each rule of the ports' groups, with the ports enforcing it (a port in two groups enforces both sets).
    const enforced = new Map<number, EnforcedRule>();
    for (const { port } of protectedPorts)
      for (const g of groupsOf(view, port))
        for (const rule of g.rules) {
          let e = enforced.get(rule.ruleKey);
          if (!e) enforced.set(rule.ruleKey, (e = { rule, ports: [] }));
          if (!e.ports.includes(port)) e.ports.push(port);
        }

    const flows: DesiredFlow[] = [];
    for (const stage of stages(tables)) {
      // The same objects on every recompute (they depend on the side, port key and ofport only).
      flows.push(...tables.memo(`state/${stage.direction}`, () => stateFlows(tables, stage)));
      for (const { port, ofport } of protectedPorts) {
        const zone = portZone(tables, stage, port, ofport);
        if (zone === undefined) {
          // No zone of its own (ofport beyond the security-group range): fail closed, never a NAT zone.
          flows.push(portDropFlow(tables, stage, port.portKey));
          continue;
        }
        flows.push(...tables.memo(`ct/${stage.direction}/${port.portKey}/${ofport}`, () => portCtFlows(tables, stage, port.portKey, zone)));
      }
      flows.push(...ruleFlows(tables, view, stage, [...enforced.values()]));
    }
    return mergeSameKey(flows);
  },
};
