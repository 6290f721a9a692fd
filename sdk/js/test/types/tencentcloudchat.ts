// Compiled by test/types.test.js with `tsc --noEmit`: code written the way Tencent's current
// docs write it (@tencentcloud/chat 3.x: `TencentCloudChat` and `chat`) type-checks against
// index.d.ts with only the import and create's URLs changed (API.md section 9).
import TencentCloudChat, { type ChatSDK, type TencentCloudChatStatic } from '../../index.js';
import TIM, { TIM as NamedTIM, TencentCloudChat as NamedTencentCloudChat } from '../../index.js';

// one object, three names
const sameDefault: TencentCloudChatStatic = TIM;
const sameNamed: typeof TIM = NamedTencentCloudChat;
const sameTIM: typeof NamedTencentCloudChat = NamedTIM;

const options = { SDKAppID: 0, httpUrl: 'http://127.0.0.1:3000', wsUrl: 'ws://127.0.0.1:3001' };
const chat: ChatSDK = TencentCloudChat.create(options); // the instance is usually called chat
const myUserID = 'alice';

async function main(): Promise<void> {
  chat.on(TencentCloudChat.EVENT.SDK_READY, () => {});
  await chat.login({ userID: myUserID, userSig: 'sig' });
  const { data } = await chat.setSelfStatus({ customStatus: 'xxx' });
  const online: boolean = data.statusType === TencentCloudChat.TYPES.USER_STATUS_ONLINE;
  const got = await chat.getUserStatus({ userIDList: [`${myUserID}`] });
  got.data.successUserList.forEach(({ userID, statusType, customStatus }) => `${userID}${statusType}${customStatus}`);
  await chat.subscribeUserStatus({ userIDList: ['user0', 'user1'] });
  await chat.unsubscribeUserStatus();
  chat.on(TencentCloudChat.EVENT.USER_STATUS_UPDATED, (event) => event.data.map((s) => s.userID));
  chat.on(TencentCloudChat.EVENT.KICKED_OUT, (event) => {
    const type: 'multipleAccount' | 'userSigExpired' | 'REST_API_Kick' = event.data.type;
  });
  const unlogined: 3 = TencentCloudChat.TYPES.USER_STATUS_UNLOGINED;
  await chat.logout();
  // @ts-expect-error the values are read-only, whichever name reaches them
  TencentCloudChat.EVENT.SDK_READY = 'x';
  void [online, unlogined, sameDefault, sameNamed, sameTIM];
}

void main;
