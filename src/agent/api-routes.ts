import type { ApiServer } from '../api/server.js';
import { formatFlow } from '../openflow/index.js';
import type { Agent } from './agent.js';

/** The agent's own debug routes beside the northbound API. */
export function addAgentRoutes(api: ApiServer, agent: Agent): void {
  api.route('GET', '/v1/agent/status', () => ({
    body: {
      chassis: agent.config.chassis,
      tunnelIp: agent.config.tunnelIp,
      encap: agent.config.encap,
      lazySync: agent.config.lazySync,
      uptimeSeconds: Math.round((Date.now() - agent.startedAt) / 1000),
      // ovsdb / bridge / openflow: each state with the time it began ("waiting since …" while OVS is away).
      ...agent.link.status(),
      watchedNetworks: [...agent.view.networks.values()].map((n) => ({ id: n.network.id, name: n.network.name })),
      watchedPrefixes: agent.watchedPrefixes(),
      boundPorts: agent.bindings.boundPorts(),
      chassisSeen: [...agent.view.chassis.keys()].sort(),
      flows: {
        desired: agent.flows.desiredFlows().length,
        installed: agent.flows.installedCount(),
        desiredVersion: agent.flows.desiredVersion,
        appliedVersion: agent.flows.appliedVersion,
        ...agent.flows.stats,
      },
      packetIn: agent.packetIn.stats,
      dhcp: agent.dhcpCounters,
      l3: agent.l3Counters,
      memory: { rssBytes: process.memoryUsage().rss },
    },
  }));
  api.route('POST', '/v1/agent/recompute', async () => ({ body: await agent.recomputeCheck() }));
  api.route('GET', '/v1/agent/flows', () => ({
    body: agent.flows.desiredFlows().map((f) => {
      const { app, object } = agent.tables.decodeCookie(f.cookie);
      return { table: f.table, app, object: object.toString(), flow: formatFlow({ ...f, durationSec: 0, durationNsec: 0, flags: 0, packetCount: 0n, byteCount: 0n }) };
    }),
  }));
}
