import { ApiError } from '../api/http.js';
import type { ApiServer } from '../api/server.js';
import { formatFlow } from '../openflow/index.js';
import { AGENT_VERSION, type Agent } from './agent.js';
import { unreachableChassis } from './encap.js';
import { overlayProblems } from '../view/overlay-paths.js';
import { isoTime } from '../util/time.js';

/** The agent's own debug routes beside the northbound API. */
export function addAgentRoutes(api: ApiServer, agent: Agent): void {
  api.route('GET', '/v1/agent/status', () => ({
    body: {
      version: AGENT_VERSION,
      chassis: agent.config.chassis,
      tunnelIp: agent.config.tunnelIp,
      encap: agent.config.encap,
      encaps: agent.view.encaps,
      retired: agent.retired ?? null,
      lazySync: agent.config.lazySync,
      startedAt: isoTime(agent.startedAt),
      uptimeSeconds: Math.round((Date.now() - agent.startedAt) / 1000),
      ...agent.readiness(),
      // ovsdb / bridge / openflow: each state with the time it began ("waiting since …" while OVS is away).
      ...agent.link.status(),
      // With lazy sync, why each network is watched (its local ports' names, `router`, `site-gateway-candidate`…),
      // and any wanted network not in the view (for a moment while it loads; one that stays is a bug).
      watchedNetworks: [...agent.view.networks.values()].map((n) => ({
        id: n.network.id,
        name: n.network.name,
        ...(agent.config.lazySync ? { reasons: agent.sync.networkReasons(n.network.id) } : {}),
      })),
      networksNotInView: agent.sync.networksNotInView(),
      watchedPrefixes: agent.watchedPrefixes(),
      boundPorts: agent.bindings.boundPorts(),
      // Local VIFs not bound here, and why (a provider network this chassis has no bridge mapping for, …).
      refusedPorts: agent.bindings.refusedPorts(),
      bridgeMappings: agent.config.bridgeMappings,
      // VIFs not bound because their attached-mac is not their port's MAC (issue 15), with the reason.
      refusedVifs: agent.bindings.refusals.list(),
      chassisSeen: [...agent.view.chassis.keys()].sort(),
      // Peers this chassis shares no encapsulation with: no direct tunnel (a star hub speaking both may relay).
      unreachableChassis: unreachableChassis(agent.view.encaps, agent.config.chassis, agent.view.chassis),
      // Issue 16: per network name, why some of its ports have no path from here (no center or site gateway
      // elected, no encapsulation in common with the next hop); networks with every path are not listed.
      overlayProblems: Object.fromEntries(
        [...agent.view.networks.values()].flatMap((n) => {
          const p = overlayProblems(agent.view, n);
          return p.length > 0 ? [[n.network.name, p]] : [];
        }),
      ),
      flows: {
        desired: agent.flows.desiredCount(),
        installed: agent.flows.installedCount(),
        desiredVersion: agent.flows.desiredVersion,
        appliedVersion: agent.flows.appliedVersion,
        ...agent.flows.stats,
        guardRefusals: agent.computer.guardRefusals,
      },
      packetIn: agent.packetIn.stats,
      // Each app's counters under its name (dhcp, l3, …).
      ...agent.apps.counters(),
      memory: { rssBytes: process.memoryUsage().rss },
    },
  }));
  // 200 when this hypervisor's switch is programmed from a whole topology; 503 (with the same body) while not.
  // A store outage is reported but does not make the agent unready: its data plane keeps working.
  api.route('GET', '/v1/agent/ready', () => {
    const r = agent.readiness();
    return { status: r.ready ? 200 : 503, body: r };
  });
  api.route('POST', '/v1/agent/decommission', async (q) => {
    const body = (q.body ?? {}) as Record<string, unknown>;
    if (typeof body !== 'object' || Array.isArray(body)) throw new ApiError(400, 'INVALID', 'body must be a JSON object', 'body');
    for (const k of Object.keys(body)) if (k !== 'force') throw new ApiError(400, 'INVALID', `unknown field "${k}"`, k);
    if (body.force !== undefined && typeof body.force !== 'boolean')
      throw new ApiError(400, 'INVALID', 'force must be true or false', 'force');
    const r = await agent.decommission({ force: body.force === true });
    // Stop after this reply has left: closing the API server at once would cut it.
    setTimeout(() => void agent.stop(), 200);
    return { body: { ...r, stopping: true } };
  });
  api.route('POST', '/v1/agent/recompute', async () => ({ body: await agent.recomputeCheck() }));
  api.route('GET', '/v1/agent/flows', () => ({
    body: agent.flows.desiredFlows().map((f) => {
      const { app, object } = agent.tables.decodeCookie(f.cookie);
      return {
        table: f.table,
        app,
        object: object.toString(),
        flow: formatFlow({ ...f, durationSec: 0, durationNsec: 0, flags: 0, packetCount: 0n, byteCount: 0n }),
      };
    }),
  }));
}
