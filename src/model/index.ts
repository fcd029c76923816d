/** Public surface of the topology model. */
export * from './types.js';
export * from './errors.js';
export * from './keys.js';
export * from './codec.js';
export { allocateIp, checkAddressPair, checkUnicastIp, checkUnicastSubnet, parseRouteCidr, parseSubnetCidr } from './addr-rules.js';
export * from './macs.js';
export {
  registerChassis,
  listChassis,
  getChassis,
  deleteChassis,
  getRetirement,
  bindingsOn,
  bindPort,
  unbindPort,
  type ChassisRetirement,
} from './chassis.js';
export { exportTopology, exportTopologyAt, importTopology, type ImportResult } from './topology-io.js';
export { checkTopologyDocument } from './topology-check.js';
export { Topology, type TopologyOptions, type PortView } from './repo.js';
export {
  createSecurityGroup,
  getSecurityGroup,
  listSecurityGroups,
  deleteSecurityGroup,
  addSgRule,
  listSgRules,
  deleteSgRule,
  type SecurityGroupDeleted,
} from './security-groups.js';
export { memberOf, memberAddresses } from './sg-members.js';
export { rulesOverlap, describeRule } from './sg-validate.js';
export { runCas, pickFree, type Plan, type CasOptions } from './cas.js';
