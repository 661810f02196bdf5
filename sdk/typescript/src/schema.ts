// The contract's types, as `npm run gen` writes them from openapi.yaml (one source for the
// server, its tests and this SDK; CI fails when they are stale).
import type { components } from '../../../generated/openapi.js';

export type { components, operations, paths } from '../../../generated/openapi.js';

export type User = components['schemas']['User'];
export type NewUser = components['schemas']['NewUser'];
export type UserUpdate = components['schemas']['UserUpdate'];
export type UserCollection = components['schemas']['UserCollection'];
export type Post = components['schemas']['Post'];
export type NewPost = components['schemas']['NewPost'];
export type PostUpdate = components['schemas']['PostUpdate'];
export type PostCollection = components['schemas']['PostCollection'];
export type Token = components['schemas']['Token'];
export type Session = components['schemas']['Session'];
export type SessionCollection = components['schemas']['SessionCollection'];
export type NewSession = components['schemas']['NewSession'];
export type RefreshRequest = components['schemas']['RefreshRequest'];
export type Export = components['schemas']['Export'];
export type ExportFile = components['schemas']['ExportFile'];
export type UserNotification = components['schemas']['UserNotification'];
export type NotificationList = components['schemas']['NotificationList'];
export type PageMeta = components['schemas']['PageMeta'];
export type PageLinks = components['schemas']['PageLinks'];
/** The body of every error answer. */
export type ErrorBody = components['schemas']['Error'];
export type ValidationError = components['schemas']['ValidationError'];
