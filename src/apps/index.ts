import { arpApp } from './arp/index.js';
import { classifierApp } from './classifier/index.js';
import { dhcpApp } from './dhcp/app.js';
import { l2App } from './l2/index.js';
import { l3App } from './l3/index.js';
import type { NetworkApp } from './types.js';

/** Proactive apps, in the order their flows are computed. */
export const APPS: NetworkApp[] = [classifierApp, dhcpApp, arpApp, l3App, l2App];
