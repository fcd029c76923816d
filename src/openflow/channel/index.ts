/** The OpenFlow 1.3 switch channel: dialling (OfChannel), listening (OfListener) and one connection (OfSession). */
export { OfChannel, type OfChannelOptions, type ChannelState, type UpEvent } from './channel.js';
export { OfListener, type OfListenerOptions } from './listener.js';
export { OfSession, type SessionOptions, type FeaturesReply, type FlowFilter } from './session.js';
export type { BundleOptions } from './bundle.js';
export { OfTimeoutError, OfChannelDownError, OfFramingError, OfHelloError, OfBundleError } from './errors.js';
export { parseEndpoint, formatEndpoint, type Endpoint, type TlsFiles } from './endpoint.js';
export { Framer } from './framer.js';
export { Backoff } from './backoff.js';
export { XidAllocator } from './xid.js';
export { systemClock, type Clock } from './clock.js';
