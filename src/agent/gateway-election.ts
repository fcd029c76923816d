/**
 * Router gateway chassis election (issue 14): the one Election (election.ts) running router gateway races only.
 * The agent runs one Election over every kind (gateways, star centers, site gateways); this class keeps the
 * single-kind form that the gateway tests and tools use.
 */
import type { Store } from '../store/types.js';
import type { Logger } from '../util/log.js';
import type { TopologyView } from '../view/topology-view.js';
import { Election, type ElectionTimers } from './election.js';
import { gatewayRaces } from './races.js';

export type { ElectionTimers };

export interface GatewayElectionOptions {
  store: Store;
  view: TopologyView;
  /** This chassis's current lease (the chassis registration's), undefined while not registered. */
  leaseId: () => string | undefined;
  logger: Logger;
  /** Wait per rank before a lower-ranked candidate tries (default 500 ms). */
  backoffMs?: number;
  timers?: ElectionTimers;
  /** Told when this chassis becomes or stops being active for a router (logs, status). */
  onChange?: (routerId: string, active: boolean) => void;
  /** Why this chassis must hold no gateway now (see ElectionOptions.standDown). */
  standDown?: () => string | undefined;
}

export class GatewayElection extends Election {
  constructor(opts: GatewayElectionOptions) {
    super({
      store: opts.store,
      chassis: opts.view.chassisName,
      kinds: [gatewayRaces(opts.view)],
      leaseId: opts.leaseId,
      logger: opts.logger,
      ...(opts.backoffMs !== undefined ? { backoffMs: opts.backoffMs } : {}),
      ...(opts.timers ? { timers: opts.timers } : {}),
      ...(opts.standDown ? { standDown: opts.standDown } : {}),
      ...(opts.onChange ? { onChange: (_kind: string, race: string, active: boolean) => opts.onChange!(race, active) } : {}),
    });
  }

  /** Routers whose gateway this chassis holds now (as of the last reconcile). */
  activeRouters(): string[] {
    return this.active('gateway');
  }
}
