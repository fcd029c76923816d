import { aclApp } from './acl/index.js';
import { arpApp } from './arp/index.js';
import { classifierApp } from './classifier/index.js';
import { dhcpApp } from './dhcp/app.js';
import { l2App } from './l2/index.js';
import { l3App } from './l3/index.js';
import { natApp } from './nat/index.js';
import type { App } from './platform.js';

/** Every app, registered here and nowhere else, in the order their flows are computed. */
export const APPS: readonly App[] = [classifierApp, aclApp, dhcpApp, arpApp, l3App, natApp, l2App];
