import { SwitchDouble } from '../../src/sim/switch-double.js';
import { FakeOFTable } from './fake-of-table.js';

/**
 * The in-memory OpenFlow switch of src/sim (bundles applied atomically, dumps answered) plus a packet tracer:
 * for fast unit tests of the flow manager and the apps; the integration tests use real Open vSwitch.
 */
export class FakeSwitch extends SwitchDouble {
  /** What is installed, as a table packets can be run through ("where does this packet go?"). */
  table(): FakeOFTable {
    return new FakeOFTable(this.flows.values(), this.groups.values());
  }
}
