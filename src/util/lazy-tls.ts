/**
 * node:tls (with the crypto and stream machinery it pulls in), loaded the first time a TLS endpoint is used: a
 * hypervisor talking to OVS over unix:/tcp: never pays for it at start-up (docs/footprint.md). A require, not an
 * import(): it is synchronous, and the agent bundle (one CommonJS file run through node:vm) has no module loader.
 */
import { createRequire } from 'node:module';
import type * as Tls from 'node:tls';

const require = createRequire(import.meta.url);
let tls: typeof Tls | undefined;

export function loadTls(): typeof Tls {
  return (tls ??= require('node:tls') as typeof Tls);
}
