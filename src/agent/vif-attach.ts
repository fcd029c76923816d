/**
 * The first half of attaching the switch: wait for OVSDB and the prepared bridge, open the OpenFlow session, make
 * the VIF monitor, follow VIFs plugged, changed and unplugged into the binding manager and the installed marks, and
 * bind the VIFs present now. Kept apart from the Agent class: it is the VIFs' own lifecycle, with its retry loop;
 * the agent goes on with the topology and the first computation once this resolves.
 */
import type { OfChannel } from '../openflow/channel/index.js';
import type { OvsdbClient } from '../ovsdb/index.js';
import { VifWatcher, type Vif } from '../ovsdb/vswitch.js';
import type { Logger } from '../util/log.js';
import type { BindingManager } from './binding.js';
import type { InstalledMarks } from './installed-marks.js';
import type { StartTrace } from './start-trace.js';
import type { SwitchLink } from './switch-link.js';

export interface VifAttachDeps {
  link: SwitchLink;
  ovsdb: OvsdbClient;
  channel: OfChannel;
  bindings: BindingManager;
  marks: InstalledMarks;
  logger: Logger;
  trace: StartTrace;
  stopping(): boolean;
  /** Set once the first computation is done: binds before it are waited for here. */
  started(): boolean;
  /** Receives the VIF monitor as soon as it is made (the agent's stop() stops it). */
  adopt(vifs: VifWatcher): void;
}

/**
 * Resolves true once the VIFs present are in the view (their ports resolved and their flows asked for; their bindings'
 * writes to the store go on meanwhile), false if the agent stopped meanwhile.
 * Only interfaces that claim a logical port (VM VIFs) matter; tunnel and bridge ports have no iface-id.
 */
export async function attachVifs(d: VifAttachDeps): Promise<boolean> {
  const log = d.logger;
  let vifs: VifWatcher;
  for (;;) {
    await d.link.ready();
    d.trace.mark('switch attach begins');
    if (d.stopping()) return false;
    // The OpenFlow session (connect, hello, features) opens now, with the bridge there, while the VIFs are bound
    // and the topology loads: the flow manager writes nothing before activate(), so this only saves its round
    // trips from the first programming's path (a fresh host: start → flows stable). Once: start() is idempotent.
    d.channel.start();
    try {
      vifs = await VifWatcher.create(d.ovsdb, { filter: (v) => v.ifaceId !== undefined });
      d.adopt(vifs);
      break;
    } catch (err) {
      // OVSDB went away between: the monitor is made once it is back.
      if (d.stopping()) return false;
      log.warn({ err: (err as Error).message }, 'VIF monitor not set up yet; retrying');
      await new Promise((r) => setTimeout(r, 200));
    }
  }
  if (d.stopping()) {
    vifs.stop();
    return false;
  }
  const initial: Promise<void>[] = [];
  const unplug = (v: Vif) => {
    d.marks.forget(v.name);
    return d.bindings.unplugged(v).catch((err) => log.error({ err, iface: v.name }, 'unbind failed'));
  };
  vifs.on('plugged', (v: Vif) => {
    d.marks.plugged(v.name, v.ifaceId);
    if (d.started()) {
      void d.bindings.plugged(v).catch((err) => log.error({ err, iface: v.name }, 'bind failed'));
      return;
    }
    // Before the first computation: it waits until each VIF's port is in the view, not for the bindings' writes.
    initial.push(
      new Promise<void>((flowsAsked) =>
        d.bindings.plugged(v, flowsAsked).catch((err) => {
          log.error({ err, iface: v.name }, 'bind failed');
          flowsAsked();
        }),
      ),
    );
  });
  vifs.on('changed', (v: Vif, old: Vif) => {
    // A VIF re-labelled with another port is an unplug of the old port and a plug of the new one.
    const relabel = old.ifaceId !== v.ifaceId ? unplug(old) : Promise.resolve();
    void relabel.then(() => d.bindings.plugged(v)).catch((err) => log.error({ err }, 'rebind failed'));
  });
  vifs.on('unplugged', (v: Vif) => void unplug(v));
  vifs.start();
  d.trace.mark('VIF monitor');
  await Promise.all(initial);
  d.trace.mark('VIFs in the view');
  return true;
}
