export { OvsdbError, type OvsdbErrorCode } from './errors.js';
export { JsonStreamScanner } from './framing.js';
export * from './datum.js';
export * from './schema.js';
export * from './operations.js';
export {
  OvsdbClient,
  ZERO_TXN_ID,
  type OvsdbClientOptions,
  type MonitorCondRequest,
  type MonitorCondRequests,
  type TableUpdates2,
} from './client.js';
export { MonitoredDb, type MonitorSpec } from './monitor.js';
export { parseEndpoint, type TlsFiles, type Endpoint } from './transport.js';
export * from './vswitch.js';
export { ensurePatchPorts, patchPortNames, PHYSNET_KEY, type PatchPortsResult } from './patch-ports.js';
