/**
 * The MAC of a sandbox VM made for a logical port (issue 15). The agent refuses a VIF whose attached-mac is not
 * its port's MAC, so a VM for an existing port takes the port's MAC, and a MAC given that differs is refused
 * here, before anything is plugged. The port is read from the store the sandbox's agents use (the sandbox itself
 * has no topology); when no store is known or readable, or the port does not exist yet, nothing is checked and
 * the caller says so (the VM gets the MAC given, or a generated one its port must then be created with).
 */
import { ModelError } from '../model/errors.js';
import { normalizeMac } from '../model/macs.js';
import { Topology } from '../model/repo.js';
import { maskUrl, openStore } from '../store/index.js';

export interface VmMac {
  /** The MAC to give the VM (undefined: the sandbox generates one). */
  mac?: string;
  /** Why the MAC was not checked against a port (for a note to the user). */
  unchecked?: string;
}

export async function vmMacForPort(storeUrl: string | undefined, portRef: string, given: string | undefined): Promise<VmMac> {
  const unchecked = (why: string): VmMac => ({ ...(given !== undefined ? { mac: given } : {}), unchecked: why });
  if (!storeUrl) return unchecked('no store known to look the port up (give --store URL, or WYVERN_STORE)');
  let port;
  try {
    const password = process.env.WYVERN_STORE_PASSWORD;
    const store = await openStore(storeUrl, password ? { password } : {});
    try {
      port = await new Topology(store).getPort(portRef);
    } finally {
      await store.close();
    }
  } catch (err) {
    if (err instanceof ModelError && err.code === 'NOT_FOUND') return unchecked(`port ${portRef} does not exist (yet)`);
    return unchecked(`could not read port ${portRef} from ${maskUrl(storeUrl)}: ${(err as Error).message}`);
  }
  if (given === undefined) return { mac: port.mac };
  if (normalizeMac(given, 'mac') !== port.mac.toLowerCase()) {
    throw new Error(
      `--mac ${given} is not port ${port.name}'s MAC ${port.mac}: its agent would refuse the VM (attached-mac mismatch); leave --mac out to use the port's`,
    );
  }
  return { mac: port.mac };
}
