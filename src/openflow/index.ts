/**
 * wyvern's OpenFlow 1.3 codec (with the Nicira and ONF-bundle extensions OVS speaks).
 * Public entry: `import { decodeMessage, encodeMessage, flowMod } from 'wyvern/openflow'`.
 */
export { decodeMessage, encodeMessage, encodeMessages } from './codec.js';
export { OfpDecodeError, OfpEncodeError, OfpErrorMessage } from './errors.js';
export { errorCodeName, errorTypeName } from './error-names.js';
export * from './constants.js';
export type * from './types.js';
export { flowMod, packetOut, hello, barrierRequest, flowStatsRequest, type FlowModInit } from './builders.js';
export { helloVersions } from './messages/basic.js';
export { FIELD_DEFS, FIELDS_BY_NAME, type FieldDef } from './fields.js';
export { formatFlow, formatMatch, formatActions, formatInstructions } from './printer.js';
export {
  OfChannel,
  OfListener,
  OfSession,
  OfTimeoutError,
  OfChannelDownError,
  OfFramingError,
  OfHelloError,
  OfBundleError,
  type OfChannelOptions,
  type OfListenerOptions,
  type UpEvent,
  type FeaturesReply,
  type FlowFilter,
  type BundleOptions,
} from './channel/index.js';
