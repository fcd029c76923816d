/**
 * Patch ports between the integration bridge and the bridges of bridge_mappings (provider networks, issue 14),
 * named like OVN's (`patch-br-int-to-<physnet>` on br-int, `patch-<physnet>-to-br-int` on the mapped bridge;
 * patch ports are not kernel interfaces, so the 15-character limit does not apply). Both rows carry
 * external_ids:wyvern-physnet=<physnet>: the agent owns those and only those. The mapped bridges themselves
 * belong to the operator: never created or changed here; a missing one is reported back.
 */
import { NamedUuid, type Uuid, type Value, stringMap } from './datum.js';
import type { OvsdbClient } from './client.js';
import type { Operation } from './operations.js';
import { OVS_DB, waitApplied, withRetry } from './vswitch.js';

export const PHYSNET_KEY = 'wyvern-physnet';

export function patchPortNames(integration: string, physnet: string): { intSide: string; physSide: string } {
  return { intSide: `patch-${integration}-to-${physnet}`, physSide: `patch-${physnet}-to-${integration}` };
}

export interface PatchPortsResult {
  /** Physnets whose pair is in place: the name of the br-int side (its ofport comes from ovs-vswitchd). */
  ready: Map<string, string>;
  /** Physnets whose mapped bridge does not exist. */
  missingBridges: Map<string, string>;
  /** Owned patch ports deleted (mapping removed or changed). */
  removed: string[];
}

const set = (v: Value | undefined): Uuid[] => (v === undefined ? [] : Array.isArray(v) ? (v as Uuid[]) : [v as Uuid]);

/**
 * Makes the owned patch ports match `mappings` (physnet → bridge): missing pairs added, stale or wrong ones deleted.
 * Deletions go first, in their own transaction applied by ovs-vswitchd before anything is added: a patch port
 * re-made under the same name in one transaction (a mapping moved to another bridge) leaves ovs-vswitchd's peer
 * link broken (the old port's teardown unlinks the peer the new one just linked), and no packet crosses.
 */
export async function ensurePatchPorts(c: OvsdbClient, integration: string, mappings: Record<string, string>): Promise<PatchPortsResult> {
  const removed: string[] = [];
  for (let pass = 0; ; pass++) {
    const r = await patchPass(c, integration, mappings, pass === 0);
    removed.push(...r.removed);
    if (!r.deletedOnly) return { ...r, removed };
    // ovs-vswitchd away: nothing to race with, it starts from the database as it is.
    await waitApplied(c, 2_000).catch(() => undefined);
  }
}

function patchPass(
  c: OvsdbClient,
  integration: string,
  mappings: Record<string, string>,
  mayDelete: boolean,
): Promise<PatchPortsResult & { deletedOnly: boolean }> {
  return withRetry(async () => {
    const [brs, ports, ifaces] = await c.transact(OVS_DB, [
      { op: 'select', table: 'Bridge', where: [], columns: ['_uuid', 'name', 'ports'] },
      { op: 'select', table: 'Port', where: [], columns: ['_uuid', 'name', 'interfaces', 'external_ids'] },
      { op: 'select', table: 'Interface', where: [], columns: ['_uuid', 'name', 'type', 'options'] },
    ]);
    const bridgeByName = new Map(brs!.rows!.map((b) => [b.name as string, b]));
    const bridgeOfPort = new Map<string, Record<string, unknown>>();
    for (const b of brs!.rows!) for (const p of set(b.ports as Value)) bridgeOfPort.set(p.id, b);
    const ifaceById = new Map(ifaces!.rows!.map((i) => [(i._uuid as Uuid).id, i]));
    const result = {
      ready: new Map<string, string>(),
      missingBridges: new Map<string, string>(),
      removed: [] as string[],
      deletedOnly: false,
    };
    const deletes: Operation[] = [];
    const integ = bridgeByName.get(integration);
    if (!integ) throw new Error(`integration bridge ${integration} missing`);

    // What exists and is ours: name → (port row, bridge name, peer option).
    const owned = new Map<
      string,
      { uuid: Uuid; bridge: Record<string, unknown> | undefined; physnet: string; peer?: string; type?: string }
    >();
    for (const p of ports!.rows!) {
      const physnet = stringMap(p.external_ids as Value)[PHYSNET_KEY];
      if (physnet === undefined) continue;
      const iface = ifaceById.get(set(p.interfaces as Value)[0]?.id ?? '');
      owned.set(p.name as string, {
        uuid: p._uuid as Uuid,
        bridge: bridgeOfPort.get((p._uuid as Uuid).id),
        physnet,
        peer: iface ? stringMap(iface.options as Value).peer : undefined,
        type: iface?.type as string | undefined,
      });
    }
    const keep = new Set<string>();
    const ops: Operation[] = [];
    const add = (bridge: Record<string, unknown>, name: string, peer: string, physnet: string, tag: string) => {
      ops.push(
        {
          op: 'insert',
          table: 'Interface',
          row: { name, type: 'patch', options: { peer }, external_ids: { [PHYSNET_KEY]: physnet } },
          uuidName: `i${tag}`,
        },
        {
          op: 'insert',
          table: 'Port',
          row: { name, interfaces: [new NamedUuid(`i${tag}`)], external_ids: { [PHYSNET_KEY]: physnet } },
          uuidName: `p${tag}`,
        },
        {
          op: 'mutate',
          table: 'Bridge',
          where: [['_uuid', '==', bridge._uuid as Uuid]],
          mutations: [['ports', 'insert', [new NamedUuid(`p${tag}`)]]],
        },
      );
    };
    let n = 0;
    for (const physnet of Object.keys(mappings).sort()) {
      const bridgeName = mappings[physnet]!;
      const phys = bridgeByName.get(bridgeName);
      if (!phys) {
        result.missingBridges.set(physnet, bridgeName);
        continue;
      }
      const { intSide, physSide } = patchPortNames(integration, physnet);
      const good = (name: string, bridge: Record<string, unknown>, peer: string) => {
        const o = owned.get(name);
        return o !== undefined && o.bridge === bridge && o.peer === peer && o.physnet === physnet && o.type === 'patch';
      };
      for (const [name, bridge, peer] of [
        [intSide, integ, physSide],
        [physSide, phys, intSide],
      ] as const) {
        keep.add(name);
        if (good(name, bridge, peer)) continue;
        const stale = owned.get(name);
        if (stale?.bridge)
          deletes.push({
            op: 'mutate',
            table: 'Bridge',
            where: [['_uuid', '==', stale.bridge._uuid as Uuid]],
            mutations: [['ports', 'delete', [stale.uuid]]],
          });
        add(bridge, name, peer, physnet, String(n++));
      }
      result.ready.set(physnet, intSide);
    }
    for (const [name, o] of owned) {
      if (keep.has(name) || !o.bridge) continue;
      deletes.push({
        op: 'mutate',
        table: 'Bridge',
        where: [['_uuid', '==', o.bridge._uuid as Uuid]],
        mutations: [['ports', 'delete', [o.uuid]]],
      });
      result.removed.push(name);
    }
    if (deletes.length > 0 && mayDelete) {
      await c.transact(OVS_DB, deletes);
      result.deletedOnly = true;
      return result;
    }
    if (ops.length > 0) await c.transact(OVS_DB, ops);
    return result;
  });
}
