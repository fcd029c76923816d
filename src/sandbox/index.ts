export { Sandbox, type SandboxUpOptions, type VmOptions, type SandboxHost, type SandboxVm } from './sandbox.js';
export type { SandboxStatus, HostStatus, VmStatus } from './status.js';
export { startOvsHost, ovsHostHandle, type OvsHost, type StartOvsHostOptions, type OvsHostHandleOptions } from './ovs-host.js';
export { ENCAPS, sandboxBaseDir, type Encap, type SandboxState, type HostState, type VmState } from './state.js';
export { CommandError, type ExecResult } from './run.js';
export type { DhcpLease } from './dhcp.js';
