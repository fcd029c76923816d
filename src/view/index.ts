/** The read-only topology view apps read, and its queries. The agent builds and updates it (TopologySync). */
export * from './topology-view.js';
export * from './routes.js';
export * from './addresses.js';
export * from './security-groups.js';
export * from './nat.js';
