/**
 * When this chassis runs its part in the elections (router gateways, star centers, site gateways): not before the
 * topology is loaded, not while stopping or retired, not while a chassis record is still being read; again when the
 * store answers after an outage or our chassis key came back, and when the OpenFlow session has been down long
 * enough that this chassis must stand down. Kept apart from the Agent class: these are the triggers of one concern,
 * the Election itself (election.ts) being what runs.
 */
import type { PrefixSubscription } from '../store/index.js';
import type { TopologySync } from '../view/topology-sync.js';
import type { TopologyView } from '../view/topology-view.js';
import type { BindingManager } from './binding.js';
import type { ChassisRegistration } from './chassis-registration.js';
import type { Election } from './election.js';

/**
 * How long the OpenFlow session may stay down before this chassis gives up its elected roles (gateway, center, site
 * gateway) to a standby: longer than an ovs-vswitchd restart takes to reconnect (the channel retries every ≤ 250 ms
 * on the unix socket), about what OVN's BFD takes to declare a gateway dead (3 × 1 s).
 */
export const DATAPATH_GRACE_MS = 3_000;

export interface AgentElectionsDeps {
  view: TopologyView;
  election: Election;
  sync: TopologySync;
  registration: ChassisRegistration;
  subscription: PrefixSubscription;
  bindings: BindingManager;
  stopping(): boolean;
}

export class AgentElections {
  /** Set once the topology is loaded: the election never acts on a partial view (it would release keys). */
  private ready = false;
  /** Re-runs the elections once the OpenFlow session has been down for DATAPATH_GRACE_MS. */
  private standDownTimer: NodeJS.Timeout | undefined;

  constructor(private readonly d: AgentElectionsDeps) {}

  /** The topology is loaded (routers, chassis, gateway leases): the elections may run from now on. */
  topologyLoaded(): void {
    this.ready = true;
    this.reconcile();
  }

  /** Runs this chassis's part in the elections (serialised; a failure is retried on the next tick). */
  reconcile(): void {
    // A candidate whose chassis record is still being read is not dead: wait for it (it comes as a chassis change).
    if (!this.ready || this.d.stopping() || this.d.registration.retired || !this.d.sync.chassisSettled) return;
    void this.d.election.reconcile();
  }

  /** Whether a change of this network may matter to the center election (a star network, or a center held here). */
  watches(networkId: string): boolean {
    return this.d.view.networks.get(networkId)?.network.topology === 'star' || this.d.election.active('center').includes(networkId);
  }

  /**
   * The store answers again after an outage: re-read every prefix now (each arrives as a resync with the
   * store's truth, which replaces what the view had: changes made meanwhile apply, stale flows go), register
   * the chassis again if its lease or key was lost, and check every local binding against the store.
   */
  storeBack(): void {
    this.d.subscription.retryNow();
    void this.d.registration.ensure('store reachable again').then(() => this.reconcile());
    void this.d.bindings.checkAll();
  }

  /**
   * Our chassis key vanished while we run: the lease expired (store unreachable longer than its TTL) — peers
   * have stopped tunnelling here, so register again at once with a new lease — or an operator deleted it
   * (tombstone: the registration stays out, see ChassisRegistration).
   */
  ownChassisGone(revision: number): void {
    if (this.d.stopping() || !this.d.registration.goneAt(revision)) return;
    void this.d.registration.ensure('chassis key gone from the store').then(() => this.reconcile());
  }

  /** An OpenFlow session is up. */
  sessionUp(): void {
    clearTimeout(this.standDownTimer);
    this.reconcile(); // a chassis that stood down is a candidate again
  }

  /** The OpenFlow session went down: after DATAPATH_GRACE_MS the elections run again (and this chassis stands down). */
  sessionDown(): void {
    clearTimeout(this.standDownTimer);
    this.standDownTimer = setTimeout(() => this.reconcile(), DATAPATH_GRACE_MS + 10).unref();
  }

  /** The agent stops: no stand-down is pending any more. */
  stop(): void {
    clearTimeout(this.standDownTimer);
  }
}
