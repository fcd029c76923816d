export * from './types.js';
export { handleDhcp, replyDestination } from './server.js';
export { bulkiestEncap, interfaceMtu, replyOptions } from './options.js';
