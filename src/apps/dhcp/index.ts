export * from './types.js';
export { handleDhcp, replyDestination } from './server.js';
export { interfaceMtu, replyOptions } from './options.js';
