/**
 * bridge_mappings (issue 14): which OVS bridge reaches each physical network, as in OVN's
 * ovn-bridge-mappings. `physnet1:br-ex,physnet2:br-vlan` from a flag (repeatable) or WYVERN_BRIDGE_MAPPINGS, or a
 * YAML mapping `{physnet1: br-ex}`. The operator owns the mapped bridges and their uplinks; the agent only adds
 * its patch ports to them.
 */

/** A physnet name as the model accepts it (Network.provider.physnet). */
const PHYSNET = /^[A-Za-z0-9_.-]{1,64}$/;
/** An OVS bridge name (a Linux interface name: at most 15 characters, no '/', ':' or spaces). */
const BRIDGE = /^[A-Za-z0-9_.-]{1,15}$/;

export class BridgeMappingError extends Error {
  override name = 'BridgeMappingError';
}

/** Parses `physnet:bridge` pairs (each string may hold a comma list); `integration` is br-int, never mappable. */
export function parseBridgeMappings(input: readonly string[] | Record<string, unknown>, integration: string): Record<string, string> {
  const pairs: [string, string][] = [];
  if (Array.isArray(input)) {
    for (const item of input as readonly string[]) {
      for (const raw of item.split(',')) {
        const s = raw.trim();
        if (s === '') continue;
        const i = s.indexOf(':');
        if (i < 0) throw new BridgeMappingError(`bridge-mapping: expected physnet:bridge, got ${JSON.stringify(s)}`);
        pairs.push([s.slice(0, i).trim(), s.slice(i + 1).trim()]);
      }
    }
  } else {
    for (const [k, v] of Object.entries(input)) {
      if (typeof v !== 'string') throw new BridgeMappingError(`bridge_mappings: the bridge of ${k} must be a string`);
      pairs.push([k.trim(), v.trim()]);
    }
  }
  const out: Record<string, string> = {};
  const bridges = new Map<string, string>();
  for (const [physnet, bridge] of pairs) {
    if (!PHYSNET.test(physnet))
      throw new BridgeMappingError(`bridge-mapping: invalid physnet name ${JSON.stringify(physnet)} (1-64 of A-Z a-z 0-9 _ . -)`);
    if (bridge === '') throw new BridgeMappingError(`bridge-mapping: physnet ${physnet} has an empty bridge name`);
    if (!BRIDGE.test(bridge))
      throw new BridgeMappingError(
        `bridge-mapping: invalid bridge name ${JSON.stringify(bridge)} for ${physnet} (1-15 of A-Z a-z 0-9 _ . -)`,
      );
    if (bridge === integration)
      throw new BridgeMappingError(
        `bridge-mapping: ${physnet} maps to the integration bridge ${integration}; map it to the physical bridge`,
      );
    if (physnet in out) throw new BridgeMappingError(`bridge-mapping: physnet ${physnet} is mapped twice`);
    const other = bridges.get(bridge);
    if (other !== undefined) throw new BridgeMappingError(`bridge-mapping: bridge ${bridge} is named for both ${other} and ${physnet}`);
    bridges.set(bridge, physnet);
    out[physnet] = bridge;
  }
  return out;
}

/** `physnet1:br-ex,physnet2:br-vlan`, sorted by physnet (for logs and the sandbox command line). */
export function formatBridgeMappings(m: Record<string, string>): string {
  return Object.keys(m)
    .sort()
    .map((k) => `${k}:${m[k]}`)
    .join(',');
}

/**
 * Why a port of a provider network on `physnet` must not be bound on this chassis, or undefined: it needs a bridge
 * mapping for the physnet, the mapped bridge in Open vSwitch (`bridgeState`: the switch link's view of it, asked only when needed) and the patch
 * port to it (`patched`) — never a silent black hole.
 */
export function physnetRefusal(
  physnet: string,
  mappings: Record<string, string>,
  patched: boolean,
  bridgeState: () => string | undefined,
): string | undefined {
  const bridge = mappings[physnet];
  if (bridge === undefined) return `no bridge mapping for physnet ${physnet} on this chassis`;
  if (patched) return undefined;
  return bridgeState() === 'bridge missing'
    ? `bridge ${bridge} of physnet ${physnet} does not exist in Open vSwitch`
    : `patch port to ${bridge} (physnet ${physnet}) not ready`;
}
