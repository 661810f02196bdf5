export {
  createMicroblogClient,
  type CollectionPath,
  type ItemOf,
  type MicroblogClient,
  type MicroblogClientOptions,
  type PageInit,
  type PageOf,
} from './client.js';
export { MicroblogApiError, unwrap, type CallResult } from './errors.js';
export type * from './schema.js';
