// The JavaScript examples of Tencent Cloud IM's Web SDK "user status" guide (shared/reference/
// 000_94c73de9f99d46cd.txt, written for tim-js-sdk 2.x: `tim.` and `TIM.`), rewritten the way
// Tencent's current guide writes them for @tencentcloud/chat 3.x (`chat.` and
// `TencentCloudChat.`): https://www.tencentcloud.com/document/product/1047/49561 (Web, "User
// Status"). Each function body between "BEGIN" and "END" is the one of seed_examples.js with
// `tim.` -> `chat.` and `TIM.` -> `TencentCloudChat.` and nothing else (tests/browser/
// test_seed_examples.py checks that). Each function gets what the examples assume is in scope:
// `chat`, `TencentCloudChat` and `myUserID`.
window.chatExamples = {
  "setSelfStatus": function (chat, TencentCloudChat, myUserID) {
// BEGIN setSelfStatus
// 设置 customStatus 为空字符串 ''，则清除自己的自定义状态
let promise = chat.setSelfStatus({customStatus: 'xxx'});
promise.then(function(imResponse) {
  console.log(imResponse.data);
  const { userID, statusType, customStatus } = imResponse.data;
  // userID - 用户 ID
  // statusType - 用户状态，枚举值及说明如下：
  // TencentCloudChat.TYPES.USER_STATUS_UNKNOWN - 未知
  // TencentCloudChat.TYPES.USER_STATUS_ONLINE - 在线
  // TencentCloudChat.TYPES.USER_STATUS_OFFLINE - 离线
  // TencentCloudChat.TYPES.USER_STATUS_UNLOGINED - 未登录
  // customStatus - 用户自定义状态
}).catch(function(imError) {
  console.warn('setSelfStatus error:', imError); // 设置用户自己的自定义状态失败的相关信息
});

// END setSelfStatus
  },
  "getMyselfStatus": function (chat, TencentCloudChat, myUserID) {
// BEGIN getMyselfStatus
// 查询自己的用户状态
// userIDList 仅包含自己的 userID 时表示查询自己的状态
let promise = chat.getUserStatus({userIDList: [`${myUserID}`]});
promise.then(function(imResponse) {
   const { successUserList } = imResponse.data;
   successUserList.forEach((item) => {
     const { userID, statusType, customStatus } = item;
     // userID - 用户 ID
     // statusType - 用户状态，枚举值及说明如下：
     // TencentCloudChat.TYPES.USER_STATUS_UNKNOWN - 未知
     // TencentCloudChat.TYPES.USER_STATUS_ONLINE - 在线
     // TencentCloudChat.TYPES.USER_STATUS_OFFLINE - 离线
     // TencentCloudChat.TYPES.USER_STATUS_UNLOGINED - 未登录
     // customStatus - 用户自定义状态
   });
}).catch(function(imError) {
  console.warn('getUserStatus error:', imError); // 获取用户状态失败的相关信息
});

// END getMyselfStatus
  },
  "getOthersStatus": function (chat, TencentCloudChat, myUserID) {
// BEGIN getOthersStatus
// 查询其他用户的状态
let promise = chat.getUserStatus({userIDList: ['user0', 'user1']});
promise.then(function(imResponse) {
   const { successUserList, failureUserList } = imResponse.data;
   // 查询成功的用户列表
   successUserList.forEach((item) => {
     const { userID, statusType, customStatus } = item;
     // userID - 用户 ID
     // statusType - 用户状态，枚举值及说明如下：
     // TencentCloudChat.TYPES.USER_STATUS_UNKNOWN - 未知
     // TencentCloudChat.TYPES.USER_STATUS_ONLINE - 在线
     // TencentCloudChat.TYPES.USER_STATUS_OFFLINE - 离线
     // TencentCloudChat.TYPES.USER_STATUS_UNLOGINED - 未登录
     // customStatus - 用户自定义状态
   });
 
   // 查询失败的用户列表
   failureUserList.forEach((item) => {
     const { userID, code, message } = item;
     // userID - 查询失败的用户 ID
     // code - 查询失败的错误码
     // message - 查询失败的错误信息
   });
}).catch(function(imError) {
  console.warn('getUserStatus error:', imError); // 获取用户状态失败的相关信息
});

// END getOthersStatus
  },
  "subscribeUserStatus": function (chat, TencentCloudChat, myUserID) {
// BEGIN subscribeUserStatus
let promise = chat.subscribeUserStatus({userIDList: ['user0', 'user1']});
promise.then(function(imResponse) {
  const { failureUserList } = imResponse.data;
   // 订阅失败的用户列表
   failureUserList.forEach((item) => {
     const { userID, code, message } = item;
     // userID - 查询失败的用户 ID
     // code - 查询失败的错误码
     // message - 查询失败的错误信息
   });
}).catch(function(imError) {
  console.warn('subscribeUserStatus error:', imError); // 订阅用户状态失败的相关信息
});

// END subscribeUserStatus
  },
  "unsubscribeSome": function (chat, TencentCloudChat, myUserID) {
// BEGIN unsubscribeSome
// 取消当前部分用户的订阅
let promise = chat.unsubscribeUserStatus({userIDList: ['user0', 'user1']});
promise.then(function(imResponse) {
  const { failureUserList } = imResponse.data;
   // 取消订阅失败的用户列表
   failureUserList.forEach((item) => {
     const { userID, code, message } = item;
     // userID - 查询失败的用户 ID
     // code - 查询失败的错误码
     // message - 查询失败的错误信息
   });
}).catch(function(imError) {
  console.warn('unsubscribeUserStatus error:', imError); // 取消订阅失败的相关信息
});
// END unsubscribeSome
  },
  "unsubscribeAll": function (chat, TencentCloudChat, myUserID) {
// BEGIN unsubscribeAll
// 取消当前所有的订阅
let promise = chat.unsubscribeUserStatus();
promise.then(function(imResponse) {
  const { failureUserList } = imResponse.data;
   // 取消订阅失败的用户列表
   failureUserList.forEach((item) => {
     const { userID, code, message } = item;
     // userID - 查询失败的用户 ID
     // code - 查询失败的错误码
     // message - 查询失败的错误信息
   });
}).catch(function(imError) {
  console.warn('unsubscribeUserStatus error:', imError); // 取消订阅失败的相关信息
});

// END unsubscribeAll
  },
  "onUserStatusUpdated": function (chat, TencentCloudChat, myUserID) {
// BEGIN onUserStatusUpdated
/**
 * 收到通知的情况：
 * 1. 订阅过的用户发生了状态变更（包括在线状态和自定义状态），会触发该事件
 * 2. 在 IM 控制台打开了好友状态通知开关，即使未主动订阅，当好友状态发生变更时，也会触发该事件
 * 3. 同一个账号多设备登录，当其中一台设备修改了自定义状态，所有设备都会收到该事件
 */
let onUserStatusUpdated = function(event) {
   console.log(event.data);
   const userStatusList = event.data;
   userStatusList.forEach((item) => {
     const { userID, statusType, customStatus } = item;
     // userID - 用户 ID
     // statusType - 用户状态，枚举值及说明如下：
     // TencentCloudChat.TYPES.USER_STATUS_UNKNOWN - 未知
     // TencentCloudChat.TYPES.USER_STATUS_ONLINE - 在线
     // TencentCloudChat.TYPES.USER_STATUS_OFFLINE - 离线
     // TencentCloudChat.TYPES.USER_STATUS_UNLOGINED - 未登录
     // customStatus - 用户自定义状态
   })
};
chat.on(TencentCloudChat.EVENT.USER_STATUS_UPDATED, onUserStatusUpdated);

// END onUserStatusUpdated
  },
};
