export {
  createMicroblogClient,
  type CollectionPath,
  type ItemOf,
  type MicroblogClient,
  type MicroblogClientOptions,
  type PageInit,
  type PageOf,
  type TimelinePage,
} from './client.js';
export { MicroblogApiError, isMicroblogApiError, unwrap, type CallResult } from './errors.js';
export { etagOf, ifMatch, ifNoneMatch, isNotModified } from './etag.js';
export { notificationEvents, serverSentEvents, type ServerSentEvent } from './events.js';
export type { RetryOptions } from './retry.js';
export type * from './schema.js';
