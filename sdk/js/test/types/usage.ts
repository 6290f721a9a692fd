// Compiled by test/types.test.js with `tsc --noEmit`: index.d.ts accepts the API as the seed's
// examples and the README use it, and refuses what is wrong (@ts-expect-error lines).
import TIM, { type UserStatus, type IMError, type SDK } from '../../index.js';

const tim: SDK = TIM.create({ SDKAppID: 1400000000, httpUrl: 'http://127.0.0.1:3000', wsUrl: 'ws://127.0.0.1:3001', platform: 'web' });
const myUserID = 'alice';

async function main(): Promise<void> {
  const login = await tim.login({ userID: myUserID, userSig: 'sig' });
  const repeat: boolean = login.data.repeatLogin;

  const set = await tim.setSelfStatus({ customStatus: 'xxx' });
  const { userID, statusType, customStatus } = set.data;
  const online: boolean = statusType === TIM.TYPES.USER_STATUS_ONLINE;

  const got = await tim.getUserStatus({ userIDList: [`${myUserID}`] });
  got.data.successUserList.forEach((item: UserStatus) => {
    const last: number | undefined = item.lastActiveTime;
    const version: number | undefined = item.version;
  });
  got.data.failureUserList.forEach(({ userID, code, message }) => `${userID}${code}${message}`);

  const sub = await tim.subscribeUserStatus({ userIDList: ['user0', 'user1'] });
  sub.data.failureUserList.map((f) => f.code);
  await tim.unsubscribeUserStatus({ userIDList: ['user0'] });
  await tim.unsubscribeUserStatus();
  await tim.logout();

  tim.setSelfStatus({ customStatus: '' }).catch((imError: IMError) => imError.code + imError.message);

  const onUserStatusUpdated = function (event: { data: UserStatus[] }) {
    event.data.forEach(({ userID, statusType, customStatus }) => `${userID}${statusType}${customStatus}`);
  };
  tim.on(TIM.EVENT.USER_STATUS_UPDATED, onUserStatusUpdated);
  tim.off(TIM.EVENT.USER_STATUS_UPDATED, onUserStatusUpdated);
  tim.on(TIM.EVENT.KICKED_OUT, (event) => {
    const type: 'multipleAccount' | 'userSigExpired' | 'REST_API_Kick' = event.data.type;
  });
  tim.on(TIM.EVENT.NET_STATE_CHANGE, (event) => {
    const state: 'connected' | 'connecting' | 'disconnected' = event.data.state;
  });
  tim.on(TIM.EVENT.SDK_READY, () => {});

  const ready: 'sdkStateReady' = TIM.EVENT.SDK_READY;
  const unlogined: 3 = TIM.TYPES.USER_STATUS_UNLOGINED;
  const kick: 'REST_API_Kick' = TIM.TYPES.KICKED_OUT_REST_API;
  const notLoggedIn: 6014 = TIM.ERROR_CODE.NOT_LOGGED_IN;

  // @ts-expect-error customStatus or invisible is required
  await tim.setSelfStatus({});
  // @ts-expect-error an expiry needs a custom status
  await tim.setSelfStatus({ customStatusExpiresIn: 60 });
  await tim.setSelfStatus({ customStatus: 'in a meeting', customStatusExpiresIn: 3600 });
  const hidden = await tim.setSelfStatus({ invisible: true });
  const expiresAt: number | undefined = hidden.data.customStatusExpiresAt;
  const invisible: boolean | undefined = hidden.data.invisible;
  // @ts-expect-error userIDList is a list of strings
  await tim.getUserStatus({ userIDList: 'bob' });
  // @ts-expect-error login needs a userSig
  await tim.login({ userID: 'bob' });
  // @ts-expect-error an unknown platform
  TIM.create({ SDKAppID: 1, httpUrl: '', wsUrl: '', platform: 'playstation' });
  // @ts-expect-error the values are read-only
  TIM.TYPES.USER_STATUS_ONLINE = 2;
  void [repeat, userID, customStatus, online, ready, unlogined, kick, notLoggedIn];
}

// Node >= 20 with the `ws` package, or any class shaped like the browser's WebSocket
declare class NodeWebSocket {
  constructor(url: string);
  readonly readyState: number;
  onopen: ((event: unknown) => void) | null;
  onmessage: ((event: { data: unknown }) => void) | null;
  onclose: ((event: { code?: number; reason?: string }) => void) | null;
  onerror: ((event: unknown) => void) | null;
  send(data: string): void;
  close(code?: number, reason?: string): void;
}
TIM.create({ SDKAppID: 1, httpUrl: 'http://x', wsUrl: 'ws://x', WebSocket: NodeWebSocket });

void main;
