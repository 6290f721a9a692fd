// Type declarations of presence-web (hand-written; the names and values are tim-js-sdk's).

export interface EventMap {
  readonly SDK_READY: 'sdkStateReady';
  readonly SDK_NOT_READY: 'sdkStateNotReady';
  readonly USER_STATUS_UPDATED: 'onUserStatusUpdated';
  readonly KICKED_OUT: 'kickedOut';
  readonly NET_STATE_CHANGE: 'netStateChange';
}

export interface TypesMap {
  readonly USER_STATUS_UNKNOWN: 0;
  readonly USER_STATUS_ONLINE: 1;
  readonly USER_STATUS_OFFLINE: 2;
  readonly USER_STATUS_UNLOGINED: 3;
  readonly NET_STATE_CONNECTED: 'connected';
  readonly NET_STATE_CONNECTING: 'connecting';
  readonly NET_STATE_DISCONNECTED: 'disconnected';
  readonly KICKED_OUT_MULT_ACCOUNT: 'multipleAccount';
  readonly KICKED_OUT_USERSIG_EXPIRED: 'userSigExpired';
  readonly KICKED_OUT_REST_API: 'REST_API_Kick';
}

export interface ErrorCodeMap {
  /** The service could not be reached. */
  readonly NETWORK_ERROR: -1;
  /** An answer without a contract code (e.g. API Gateway's own 404). */
  readonly UNEXPECTED_RESPONSE: -2;
  /** No answer in time. */
  readonly TIMEOUT: -3;
  /** A call before login (or after logout or a kick). */
  readonly NOT_LOGGED_IN: 6014;
  readonly INVALID_PARAMETER: 6017;
  readonly INVALID_JSON: 6027;
  readonly INVALID_USER_ID: 7003;
  readonly RATE_LIMITED: 7008;
  readonly SERVER_FAULT: 7012;
  readonly EDITION_NOT_ULTIMATE: 7013;
  readonly SWITCH_OFF: 72001;
  readonly NOT_ADMIN: 60010;
  readonly USERSIG_EXPIRED: 70001;
  readonly USERSIG_INVALID: 70003;
  readonly USERSIG_BAD_SIGNATURE: 70009;
  readonly USERID_MISMATCH: 70013;
  readonly SDKAPPID_MISMATCH: 70014;
}

export type EventName = EventMap[keyof EventMap];
/** 0 UNKNOWN, 1 ONLINE, 2 OFFLINE, 3 UNLOGINED. */
export type UserStatusType = 0 | 1 | 2 | 3;
export type NetState = 'connected' | 'connecting' | 'disconnected';
export type KickedOutType = 'multipleAccount' | 'userSigExpired' | 'REST_API_Kick';
export type Platform =
  | 'web' | 'miniprogram' | 'ios' | 'android' | 'ipad' | 'windows' | 'mac' | 'linux' | 'harmony';

/** A user's status (API.md section 3). `lastActiveTime` and `version` may be absent on older
 * servers. */
export interface UserStatus {
  userID: string;
  statusType: UserStatusType;
  /** '' when unset. */
  customStatus: string;
  /** Epoch ms when the latest ONLINE period ended; 0 while ONLINE or never online. */
  lastActiveTime?: number;
  /** Grows with every change of this user's status; 0 for a user with no stored status. */
  version?: number;
  /** Epoch ms at which the custom status clears itself; 0 when it has no expiry. */
  customStatusExpiresAt?: number;
  /** Present, true, only about yourself while you appear offline to everyone else. */
  invisible?: boolean;
}

/** setSelfStatus's options (API.md section 4): a custom status ('' clears it; at most 100
 * UTF-8 bytes by default), optionally clearing itself `customStatusExpiresIn` seconds later
 * (1-604800); and/or `invisible` (true: appear offline to everyone else; false: visible). */
export type SetSelfStatusOptions =
  | { customStatus: string; customStatusExpiresIn?: number; invisible?: boolean }
  | { invisible: boolean };

export interface FailedUser {
  userID: string;
  code: number;
  message: string;
}

export interface IMResponse<T> {
  code: 0;
  data: T;
}

/** What every promise of the SDK rejects with. */
export interface IMError extends Error {
  code: number;
  message: string;
}

export declare class TIMError extends Error implements IMError {
  constructor(code: number, message: string);
  code: number;
}

export interface TIMEvent<N extends string, D> {
  name: N;
  data: D;
}

export interface EventPayloads {
  sdkStateReady: Record<string, never>;
  sdkStateNotReady: Record<string, never>;
  onUserStatusUpdated: UserStatus[];
  /** `type` is a TIM.TYPES.KICKED_OUT_* value; `code`/`message` say why a reconnect was
   * refused (the UserSig stopped verifying). */
  kickedOut: { type: KickedOutType; code?: number; message?: string };
  netStateChange: { state: NetState };
}

export interface WebSocketLike {
  readonly readyState: number;
  onopen: ((event: unknown) => void) | null;
  onmessage: ((event: { data: unknown }) => void) | null;
  onclose: ((event: { code?: number; reason?: string }) => void) | null;
  onerror: ((event: unknown) => void) | null;
  send(data: string): void;
  close(code?: number, reason?: string): void;
}

export type WebSocketConstructor = new (url: string) => WebSocketLike;

export interface CreateOptions {
  SDKAppID: number;
  /** The HTTP API, e.g. 'http://127.0.0.1:3000' (calls go to `${httpUrl}/v1/<route>`). */
  httpUrl: string;
  /** The WebSocket API, e.g. 'ws://127.0.0.1:3001'. */
  wsUrl: string;
  /** The device kind given at connect; default 'web'. */
  platform?: Platform;
  /** A WebSocket class: needed where there is no global one (Node 20: the `ws` package). */
  WebSocket?: WebSocketConstructor | typeof globalThis.WebSocket;
  /** A fetch to use instead of the global one. */
  fetch?: typeof globalThis.fetch;
  /** Seconds between heartbeats until the server announces its own in pong's
   * `heartbeatSeconds` (then that); default 30. */
  heartbeatInterval?: number;
  /** Every how many heartbeats one is a `{"action":"ping"}` (answered, so it checks the
   * socket); the others are `{"action":"beat"}` (no answer). Default 10. */
  pingEvery?: number;
  /** Seconds without a pong before the socket counts as lost; default 10. */
  pongTimeout?: number;
  /** The server's reconnectGraceSeconds (default 5): reconnect attempts are placed inside it. */
  reconnectGraceSeconds?: number;
  /** First backoff delay in seconds (default 0.25), doubled per failed attempt, jittered. */
  reconnectBaseDelay?: number;
  /** Longest backoff delay in seconds (default 30). */
  reconnectMaxDelay?: number;
  /** Seconds for an HTTP call (default 10) / a WebSocket handshake (default 10) / the logout
   * confirmation (default 5). */
  requestTimeout?: number;
  openTimeout?: number;
  logoutTimeout?: number;
  /** Jitter source in [0, 1); default Math.random. */
  random?: () => number;
}

export interface SDK {
  readonly SDKAppID: number;
  /** Open the WebSocket; SDK_READY follows. Called again while logged in as the same user it
   * answers `repeatLogin: true` and adopts the new `userSig` (a refresh). */
  login(options: { userID: string; userSig: string }): Promise<IMResponse<{ repeatLogin: boolean }>>;
  logout(): Promise<IMResponse<Record<string, never>>>;
  setSelfStatus(options: SetSelfStatusOptions): Promise<IMResponse<UserStatus>>;
  getUserStatus(options: { userIDList: string[] }): Promise<
    IMResponse<{ successUserList: UserStatus[]; failureUserList: FailedUser[] }>
  >;
  subscribeUserStatus(options: { userIDList: string[] }): Promise<
    IMResponse<{ failureUserList: FailedUser[] }>
  >;
  /** No options, or an empty list: cancel every subscription. */
  unsubscribeUserStatus(options?: { userIDList?: string[] }): Promise<
    IMResponse<{ failureUserList: FailedUser[] }>
  >;
  on<N extends keyof EventPayloads>(
    eventName: N,
    handler: (event: TIMEvent<N, EventPayloads[N]>) => void,
    context?: unknown,
  ): void;
  on(eventName: string, handler: (event: TIMEvent<string, unknown>) => void, context?: unknown): void;
  off<N extends keyof EventPayloads>(
    eventName: N,
    handler: (event: TIMEvent<N, EventPayloads[N]>) => void,
    context?: unknown,
  ): void;
  off(eventName: string, handler: (event: TIMEvent<string, unknown>) => void, context?: unknown): void;
}

export interface TIMStatic {
  create(options: CreateOptions): SDK;
  readonly EVENT: EventMap;
  readonly TYPES: TypesMap;
  readonly ERROR_CODE: ErrorCodeMap;
  readonly VERSION: string;
}

declare const TIM: TIMStatic;
export default TIM;
/** `TencentCloudChat` (Tencent's current Web SDK name, @tencentcloud/chat 3.x) is `TIM`: one
 * object, three names (the default export, `TIM`, `TencentCloudChat`). */
export { TIM, TIM as TencentCloudChat };
/** The names @tencentcloud/chat code uses for the instance and the namespace's type. */
export type ChatSDK = SDK;
export type TencentCloudChatStatic = TIMStatic;
export declare const EVENT: EventMap;
export declare const TYPES: TypesMap;
export declare const ERROR_CODE: ErrorCodeMap;
export declare const VERSION: string;
