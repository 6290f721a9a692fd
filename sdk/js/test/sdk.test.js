import assert from 'node:assert/strict';
import { afterEach, describe, it, mock } from 'node:test';

import TIM, { TIM as NamedTIM, TIMError, TencentCloudChat } from '../index.js';
import { FakeServer, fakeFetch, sleep, status, until } from './fakes.js';

const HTTP = 'http://presence.test';
const WS = 'ws://presence.test:3001';

const created = [];
afterEach(() => {
  // end whatever session a test left open (timers, fake sockets)
  for (const tim of created.splice(0)) if (tim._session) tim._end(tim._session, null);
});

/** An SDK wired to a fake server; `events` records every event emitted, in order. */
function setup({ routes = {}, options = {} } = {}) {
  const server = new FakeServer();
  const fetch = fakeFetch({
    getUserStatus: (body) => ({
      successUserList: body.userIDList.map((u) => status(u, TIM.TYPES.USER_STATUS_UNLOGINED)),
      failureUserList: [],
    }),
    ...routes,
  });
  const tim = TIM.create({
    SDKAppID: 1400000000,
    httpUrl: HTTP,
    wsUrl: WS,
    platform: 'web',
    WebSocket: server.WebSocket,
    fetch,
    reconnectBaseDelay: 0.01,
    ...options,
  });
  created.push(tim);
  const events = [];
  for (const name of Object.values(TIM.EVENT)) tim.on(name, (event) => events.push(event));
  const updates = () => events.filter((e) => e.name === TIM.EVENT.USER_STATUS_UPDATED);
  const netStates = () => events.filter((e) => e.name === TIM.EVENT.NET_STATE_CHANGE).map((e) => e.data.state);
  return { tim, server, fetch, events, updates, netStates };
}

async function loggedIn(opts) {
  const ctx = setup(opts);
  await ctx.tim.login({ userID: 'alice', userSig: 'sig-alice' });
  return ctx;
}

describe('TIM.EVENT and TIM.TYPES', () => {
  it('have exactly the values of API.md section 9', () => {
    assert.deepEqual({ ...TIM.EVENT }, {
      SDK_READY: 'sdkStateReady',
      SDK_NOT_READY: 'sdkStateNotReady',
      USER_STATUS_UPDATED: 'onUserStatusUpdated',
      KICKED_OUT: 'kickedOut',
      NET_STATE_CHANGE: 'netStateChange',
    });
    assert.deepEqual({ ...TIM.TYPES }, {
      USER_STATUS_UNKNOWN: 0,
      USER_STATUS_ONLINE: 1,
      USER_STATUS_OFFLINE: 2,
      USER_STATUS_UNLOGINED: 3,
      NET_STATE_CONNECTED: 'connected',
      NET_STATE_CONNECTING: 'connecting',
      NET_STATE_DISCONNECTED: 'disconnected',
      KICKED_OUT_MULT_ACCOUNT: 'multipleAccount',
      KICKED_OUT_USERSIG_EXPIRED: 'userSigExpired',
      KICKED_OUT_REST_API: 'REST_API_Kick',
    });
    assert.ok(Object.isFrozen(TIM.EVENT) && Object.isFrozen(TIM.TYPES));
  });
});

describe('TencentCloudChat (@tencentcloud/chat 3.x name)', () => {
  it('is the same object as TIM and the default export', () => {
    assert.equal(TencentCloudChat, TIM);
    assert.equal(NamedTIM, TIM);
    assert.equal(TencentCloudChat.EVENT, TIM.EVENT);
    assert.equal(TencentCloudChat.TYPES.USER_STATUS_ONLINE, 1);
    assert.equal(typeof TencentCloudChat.create, 'function');
  });

  it('creates an SDK that logs in and sets a status, as `chat` in Tencent\'s current docs', async () => {
    const server = new FakeServer();
    const fetch = fakeFetch({ setSelfStatus: (body) => status('alice', 1, body.customStatus) });
    const chat = TencentCloudChat.create({
      SDKAppID: 1400000000, httpUrl: HTTP, wsUrl: WS, WebSocket: server.WebSocket, fetch,
    });
    created.push(chat);
    const ready = [];
    chat.on(TencentCloudChat.EVENT.SDK_READY, (event) => ready.push(event.name));
    await chat.login({ userID: 'alice', userSig: 'sig-alice' });
    const { data } = await chat.setSelfStatus({ customStatus: 'xxx' });
    assert.equal(data.customStatus, 'xxx');
    await until(() => ready.length === 1, 500, 'SDK_READY');
    assert.deepEqual(ready, [TencentCloudChat.EVENT.SDK_READY]);
  });
});

describe('before login', () => {
  it('every call rejects with 6014 and a clear message, and nothing is sent', async () => {
    const { tim, fetch } = setup();
    const calls = [
      tim.setSelfStatus({ customStatus: 'x' }),
      tim.getUserStatus({ userIDList: ['bob'] }),
      tim.subscribeUserStatus({ userIDList: ['bob'] }),
      tim.unsubscribeUserStatus(),
      tim.logout(),
    ];
    for (const call of calls) {
      await assert.rejects(call, (error) => {
        assert.ok(error instanceof TIMError);
        assert.equal(error.code, 6014);
        assert.match(error.message, /not logged in.*login/);
        return true;
      });
    }
    assert.equal(fetch.calls.length, 0);
  });

  it('login checks its arguments', async () => {
    const { tim, server } = setup();
    await assert.rejects(tim.login({ userID: 'alice' }), { code: 6017 });
    await assert.rejects(tim.login({ userSig: 's' }), { code: 6017 });
    assert.equal(server.handshakes.length, 0);
  });

  it('login without a WebSocket class says how to pass one', async () => {
    const saved = globalThis.WebSocket;
    globalThis.WebSocket = undefined;
    try {
      const tim = TIM.create({ SDKAppID: 1, httpUrl: HTTP, wsUrl: WS });
      await assert.rejects(tim.login({ userID: 'a', userSig: 's' }), /pass one: TIM.create\(\{\.\.\., WebSocket\}\)/);
    } finally {
      globalThis.WebSocket = saved;
    }
  });
});

describe('login', () => {
  it('opens the WebSocket with userSig and platform, then SDK_READY', async () => {
    const { tim, server, events } = setup({ options: { platform: 'ios' } });
    const answer = await tim.login({ userID: 'alice', userSig: 'a+b/c=' });
    assert.deepEqual(answer, { code: 0, data: { repeatLogin: false } });
    const url = new URL(server.handshakes[0]);
    assert.equal(`${url.origin}${url.pathname}`, `${WS}/`);
    assert.equal(url.searchParams.get('userSig'), 'a+b/c=');
    assert.equal(url.searchParams.get('platform'), 'ios');
    await until(() => events.some((e) => e.name === TIM.EVENT.SDK_READY), 500, 'SDK_READY');
    assert.deepEqual(
      events.map((e) => [e.name, e.data]),
      [
        ['netStateChange', { state: 'connecting' }],
        ['netStateChange', { state: 'connected' }],
        ['sdkStateReady', {}],
      ],
    );
  });

  it('a second login as the same user is a repeatLogin; as another user it rejects', async () => {
    const { tim, server } = await loggedIn();
    assert.deepEqual(await tim.login({ userID: 'alice', userSig: 'sig-alice' }), {
      code: 0,
      data: { repeatLogin: true },
    });
    await assert.rejects(tim.login({ userID: 'bob', userSig: 'sig-bob' }), { code: 6017 });
    assert.equal(server.handshakes.length, 1);
  });

  it('a repeated login with a new UserSig uses it from then on (calls and reconnects)', async () => {
    const { tim, server, fetch } = await loggedIn();
    await tim.login({ userID: 'alice', userSig: 'fresh-sig' });
    await tim.getUserStatus({ userIDList: ['bob'] });
    assert.equal(fetch.calls.at(-1).headers.Authorization, 'Bearer fresh-sig');
    server.last.serverClose();
    await until(() => server.handshakes.length === 2);
    assert.equal(new URL(server.handshakes[1]).searchParams.get('userSig'), 'fresh-sig');
  });

  it('a refused handshake rejects with the UserSig error the HTTP API names', async () => {
    const { tim, server } = setup({
      routes: { getUserStatus: () => ({ status: 401, body: { code: 70001, message: 'UserSig expired' } }) },
    });
    server.refuseAll = true;
    await assert.rejects(tim.login({ userID: 'alice', userSig: 'old' }), { code: 70001, message: 'UserSig expired' });
    await assert.rejects(tim.getUserStatus({ userIDList: ['bob'] }), { code: 6014 });
  });

  it('an unreachable WebSocket rejects with a network error', async () => {
    const { tim, server, netStates } = setup();
    server.refuseAll = true;
    await assert.rejects(tim.login({ userID: 'alice', userSig: 's' }), (error) => {
      assert.equal(error.code, -1);
      assert.match(error.message, /cannot connect to ws:\/\/presence.test:3001/);
      return true;
    });
    assert.deepEqual(netStates(), ['connecting', 'disconnected']);
  });
});

describe('HTTP calls', () => {
  it('setSelfStatus sends customStatusExpiresIn and invisible when given, and only then', async () => {
    const mine = status('alice', 1, 'x', { version: 4, customStatusExpiresAt: 9, invisible: true });
    const { tim, fetch } = await loggedIn({ routes: { setSelfStatus: () => mine } });
    await tim.setSelfStatus({ customStatus: 'in a meeting', customStatusExpiresIn: 3600 });
    await tim.setSelfStatus({ invisible: true });
    await tim.setSelfStatus({ customStatus: '', invisible: false });
    assert.deepEqual(
      fetch.calls.map((c) => c.body),
      [
        { customStatus: 'in a meeting', customStatusExpiresIn: 3600 },
        { invisible: true },
        { customStatus: '', invisible: false },
      ],
    );
  });

  it('POST JSON to ${httpUrl}/v1/<route> with the UserSig as a Bearer token', async () => {
    const mine = status('alice', 1, 'in a call', { lastActiveTime: 0, version: 4 });
    const { tim, fetch } = await loggedIn({
      routes: {
        setSelfStatus: () => mine,
        subscribeUserStatus: () => ({ failureUserList: [] }),
        unsubscribeUserStatus: () => ({ failureUserList: [] }),
      },
    });
    assert.deepEqual(await tim.setSelfStatus({ customStatus: 'in a call' }), { code: 0, data: mine });
    await tim.getUserStatus({ userIDList: ['bob', 'carol'] });
    await tim.subscribeUserStatus({ userIDList: ['bob'] });
    await tim.unsubscribeUserStatus({ userIDList: ['bob'] });
    await tim.unsubscribeUserStatus();
    await tim.unsubscribeUserStatus({ userIDList: [] });
    assert.deepEqual(
      fetch.calls.map((c) => [c.method, c.url, c.body]),
      [
        ['POST', `${HTTP}/v1/setSelfStatus`, { customStatus: 'in a call' }],
        ['POST', `${HTTP}/v1/getUserStatus`, { userIDList: ['bob', 'carol'] }],
        ['POST', `${HTTP}/v1/subscribeUserStatus`, { userIDList: ['bob'] }],
        ['POST', `${HTTP}/v1/unsubscribeUserStatus`, { userIDList: ['bob'] }],
        ['POST', `${HTTP}/v1/unsubscribeUserStatus`, {}],
        ['POST', `${HTTP}/v1/unsubscribeUserStatus`, {}],
      ],
    );
    for (const call of fetch.calls) {
      assert.equal(call.headers.Authorization, 'Bearer sig-alice');
      assert.equal(call.headers['Content-Type'], 'application/json');
    }
  });

  it('resolves {code: 0, data} in the shapes of the seed', async () => {
    const { tim } = await loggedIn({
      routes: {
        getUserStatus: () => ({
          successUserList: [status('bob', 1, 'hi')],
          failureUserList: [{ userID: 'bad\n', code: 7003, message: 'invalid userID' }],
        }),
      },
    });
    const { code, data } = await tim.getUserStatus({ userIDList: ['bob', 'bad\n'] });
    assert.equal(code, 0);
    assert.deepEqual(data.successUserList, [status('bob', 1, 'hi')]);
    assert.deepEqual(data.failureUserList[0].code, 7003);
  });

  it('rejects with the contract code and message', async () => {
    const { tim } = await loggedIn({
      routes: {
        setSelfStatus: () => ({ status: 400, body: { code: 6017, message: 'customStatus is too long' } }),
        subscribeUserStatus: () => ({ status: 403, body: { code: 72001, message: 'switch off' } }),
      },
    });
    await assert.rejects(tim.setSelfStatus({ customStatus: 'x'.repeat(500) }), {
      code: 6017,
      message: 'customStatus is too long',
    });
    await assert.rejects(tim.subscribeUserStatus({ userIDList: ['bob'] }), { code: 72001 });
  });

  it('an answer without a contract code, or no answer, has the SDK\'s own codes', async () => {
    const { tim } = await loggedIn({
      routes: { setSelfStatus: () => new TypeError('fetch failed') },
    });
    await assert.rejects(tim.subscribeUserStatus({ userIDList: ['bob'] }), (error) => {
      assert.equal(error.code, -2);
      assert.match(error.message, /HTTP 404: Not Found/);
      return true;
    });
    await assert.rejects(tim.setSelfStatus({ customStatus: '' }), { code: -1 });
  });
});

describe('pushes', () => {
  it('come as USER_STATUS_UPDATED with {name, data: [status...]}', async () => {
    const { server, updates } = await loggedIn();
    const bob = status('bob', 1, 'listening to music', { lastActiveTime: 0, version: 3 });
    server.last.push({ event: 'onUserStatusUpdated', data: [bob] });
    await until(() => updates().length === 1, 500, 'the push');
    assert.deepEqual(updates()[0], { name: 'onUserStatusUpdated', data: [bob] });
  });

  it('ignore a status whose version is not newer than the one held', async () => {
    const { server, updates } = await loggedIn();
    const push = (...data) => server.last.push({ event: 'onUserStatusUpdated', data });
    push(status('bob', 1, 'b', { version: 5 }));
    push(status('bob', 1, 'a', { version: 4 })); // older: dropped
    push(status('bob', 1, 'b', { version: 5 })); // the same again: dropped
    push(status('bob', 3, '', { version: 7 }), status('carol', 1, '', { version: 1 }));
    await sleep(30);
    assert.deepEqual(
      updates().map((e) => e.data.map((s) => `${s.userID}@${s.version}`)),
      [['bob@5'], ['bob@7', 'carol@1']],
    );
  });

  it('keep only the newest status of a user within one frame', async () => {
    const { server, updates } = await loggedIn();
    server.last.push({
      event: 'onUserStatusUpdated',
      data: [status('bob', 1, 'new', { version: 9 }), status('bob', 1, 'old', { version: 8 })],
    });
    await until(() => updates().length === 1);
    assert.deepEqual(updates()[0].data, [status('bob', 1, 'new', { version: 9 })]);
  });

  it('a read holds a version too: an older push after it is ignored', async () => {
    const { tim, server, updates } = await loggedIn({
      routes: {
        getUserStatus: () => ({ successUserList: [status('bob', 1, 'now', { version: 10 })], failureUserList: [] }),
      },
    });
    await tim.getUserStatus({ userIDList: ['bob'] });
    server.last.push({ event: 'onUserStatusUpdated', data: [status('bob', 1, 'before', { version: 9 })] });
    server.last.push({ event: 'onUserStatusUpdated', data: [status('bob', 2, 'after', { version: 11 })] });
    await until(() => updates().length === 1);
    await sleep(20);
    assert.deepEqual(updates().map((e) => e.data[0].customStatus), ['after']);
  });

  it('the push of a status only read so far is emitted once (e.g. after setSelfStatus)', async () => {
    const { tim, server, updates } = await loggedIn({
      routes: { setSelfStatus: () => status('me', 1, 'in a call', { version: 12 }) },
    });
    await tim.setSelfStatus({ customStatus: 'in a call' });
    server.last.push({ event: 'onUserStatusUpdated', data: [status('me', 1, 'in a call', { version: 12 })] });
    server.last.push({ event: 'onUserStatusUpdated', data: [status('me', 1, 'in a call', { version: 12 })] });
    await until(() => updates().length === 1);
    await sleep(20);
    assert.equal(updates().length, 1); // the repeat is not emitted again
  });

  it('a missing version is 0: accepted when nothing is held, and from a server without versions', async () => {
    const { server, updates } = await loggedIn();
    server.last.push({ event: 'onUserStatusUpdated', data: [status('bob', 1, 'one')] });
    server.last.push({ event: 'onUserStatusUpdated', data: [status('bob', 1, 'two')] });
    server.last.push({ event: 'onUserStatusUpdated', data: [status('carol', 1, '', { version: 2 })] });
    server.last.push({ event: 'onUserStatusUpdated', data: [status('carol', 3, '')] }); // 0 <= 2
    await until(() => updates().length === 3);
    await sleep(20);
    assert.deepEqual(updates().map((e) => `${e.data[0].userID}:${e.data[0].customStatus}`), ['bob:one', 'bob:two', 'carol:']);
  });

  it('ignore frames that are not JSON or not pushes, and entries that are not statuses', async () => {
    const { server, updates } = await loggedIn();
    server.last.push('not json');
    server.last.push({ event: 'error', code: 6017, message: 'unknown action' });
    server.last.push({ event: 'onUserStatusUpdated', data: [null, 5, { statusType: 1 }, status('bob', 1)] });
    await until(() => updates().length === 1);
    assert.deepEqual(updates()[0].data, [status('bob', 1)]);
  });

  it('off removes a listener; a listener that throws does not stop the others', async () => {
    const { tim, server, updates } = await loggedIn();
    const seen = [];
    const handler = (event) => seen.push(event.data.length);
    const errors = mock.method(console, 'error', () => {});
    tim.on(TIM.EVENT.USER_STATUS_UPDATED, () => {
      throw new Error('boom');
    });
    tim.on(TIM.EVENT.USER_STATUS_UPDATED, handler);
    server.last.push({ event: 'onUserStatusUpdated', data: [status('bob', 1, '', { version: 1 })] });
    await until(() => seen.length === 1);
    tim.off(TIM.EVENT.USER_STATUS_UPDATED, handler);
    server.last.push({ event: 'onUserStatusUpdated', data: [status('bob', 2, '', { version: 2 })] });
    await until(() => updates().length === 2);
    assert.deepEqual(seen, [1]);
    assert.equal(errors.mock.callCount(), 2);
    errors.mock.restore();
  });
});

describe('heartbeat', () => {
  it('defaults: a heartbeat every 30 s, every 10th a ping', async () => {
    const tim = TIM.create({ SDKAppID: 1, httpUrl: 'http://h', wsUrl: 'ws://w' });
    assert.equal(tim._opt.heartbeatInterval, 30);
    assert.equal(tim._opt.pingEvery, 10);
  });

  it('pings at once, then beats every interval, every pingEvery-th heartbeat a ping', async () => {
    const { server } = await loggedIn({ options: { heartbeatInterval: 0.03, pingEvery: 3 } });
    const actions = () => server.last.sent.map((t) => JSON.parse(t).action);
    await until(() => actions().length >= 7, 2000, 'seven heartbeats');
    assert.deepEqual(actions().slice(0, 7), ['ping', 'beat', 'beat', 'ping', 'beat', 'beat', 'ping']);
  });

  it('adopts the heartbeatSeconds the server announces in pong', async () => {
    const { server } = await loggedIn({ options: { heartbeatInterval: 0.02, pingEvery: 1000 } });
    const beats = () => server.last.sent.filter((t) => JSON.parse(t).action === 'beat').length;
    await until(() => beats() >= 2, 1000, 'beats at the first interval');
    server.last.push({ event: 'pong', heartbeatSeconds: 1 });
    await new Promise((r) => setTimeout(r, 100));
    const before = beats();
    await new Promise((r) => setTimeout(r, 600));
    assert.equal(beats(), before); // nothing within the announced second
    await until(() => beats() === before + 1, 1500, 'a beat a second later');
  });

  it('a ping with no pong counts as a lost socket: it reconnects', async () => {
    const { server, netStates } = await loggedIn({ options: { heartbeatInterval: 0.02, pongTimeout: 0.03 } });
    server.autoPong = false;
    await until(() => server.sockets.length === 2, 1000, 'a reconnect');
    assert.equal(server.sockets[0].closedByClient, 4000);
    assert.deepEqual(netStates(), ['connecting', 'connected', 'connecting', 'connected']);
  });
});

describe('reconnect', () => {
  it('reconnects at once when the server closes the socket, and NET_STATE_CHANGE says so', async () => {
    const { server, netStates } = await loggedIn();
    const first = server.last;
    first.serverClose(1001);
    await until(() => server.open().length === 1 && server.last !== first, 500, 'a reconnect');
    assert.deepEqual(netStates(), ['connecting', 'connected', 'connecting', 'connected']);
    assert.equal(new URL(server.handshakes[1]).searchParams.get('userSig'), 'sig-alice');
  });

  it('backs off with jitter, placing attempts inside reconnectGraceSeconds', async () => {
    const { server } = await loggedIn({
      options: { reconnectBaseDelay: 0.2, reconnectGraceSeconds: 1, random: () => 1 },
    });
    server.refuse = 3; // the next three handshakes fail
    server.last.serverClose();
    await until(() => server.open().length === 1 && server.handshakes.length === 5, 3000, 'reconnected');
    const [, t0, t1, t2, t3] = server.handshakeTimes;
    const near = (actual, expected) =>
      assert.ok(Math.abs(actual - expected) < 80, `${actual} ms, expected about ${expected}`);
    near(t1 - t0, 200); // base delay (jitter at its top: random() = 1)
    near(t2 - t1, 400); // doubled
    near(t3 - t2, 300); // 800 would land after the 1 s grace: pulled in to just before its end
    assert.ok(t3 - t0 < 1000);
  });

  it('jitter spreads the delay between half and all of the backoff', async () => {
    const { server } = await loggedIn({ options: { reconnectBaseDelay: 0.2, random: () => 0 } });
    server.refuse = 1;
    server.last.serverClose();
    await until(() => server.open().length === 1 && server.handshakes.length === 3, 3000, 'reconnected');
    const [, t0, t1] = server.handshakeTimes;
    assert.ok(Math.abs(t1 - t0 - 100) < 60, `${t1 - t0} ms, expected about 100`);
  });

  it('after a reconnect re-reads what it has seen and emits only what changed', async () => {
    let phase = 'before';
    const statuses = {
      before: {
        alice: status('alice', 1, '', { version: 2 }),
        bob: status('bob', 1, 'coding', { version: 5 }),
        carol: status('carol', 1, 'lunch', { version: 3 }),
      },
      after: {
        alice: status('alice', 1, '', { version: 2 }),
        bob: status('bob', 3, '', { version: 6, lastActiveTime: 1_700_000_000_000 }),
        carol: status('carol', 1, 'lunch', { version: 3 }),
        dave: status('dave', 1, 'new', { version: 1 }),
      },
    };
    const { tim, server, fetch, updates } = await loggedIn({
      routes: {
        getUserStatus: (body) => ({
          successUserList: body.userIDList.map((u) => statuses[phase][u]).filter(Boolean),
          failureUserList: [],
        }),
        subscribeUserStatus: () => ({ failureUserList: [] }),
        getSubscriptions: () => ({ userIDList: ['dave', 'erin'] }), // erin: from another device
      },
    });
    await tim.getUserStatus({ userIDList: ['alice', 'bob', 'carol'] });
    await tim.subscribeUserStatus({ userIDList: ['dave'] });
    phase = 'after';
    const reads = fetch.calls.length;
    server.last.serverClose();
    await until(() => updates().length === 1, 1000, 'the re-sync');
    const calls = fetch.calls.slice(reads);
    assert.equal(calls[0].route, 'getSubscriptions');
    const bodies = calls.filter((c) => c.route === 'getUserStatus').map((c) => c.body.userIDList);
    assert.deepEqual(bodies[0], ['alice']); // oneself alone: never gated nor rate limited
    assert.deepEqual([...bodies[1]].sort(), ['bob', 'carol', 'dave', 'erin']);
    assert.deepEqual(
      updates()[0].data.map((s) => s.userID).sort(),
      ['bob', 'dave'],
    );
  });

  it('a re-read the plan forbids for others (72001) still re-reads oneself', async () => {
    let version = 1;
    const { tim, server, fetch, updates } = await loggedIn({
      routes: {
        getUserStatus: (body) =>
          body.userIDList.length === 1 && body.userIDList[0] === 'alice'
            ? { successUserList: [status('alice', 1, `v${version}`, { version })], failureUserList: [] }
            : { status: 403, body: { code: 72001, message: 'statusQueryAndNotify is off' } },
      },
    });
    await tim.getUserStatus({ userIDList: ['alice'] });
    await assert.rejects(tim.getUserStatus({ userIDList: ['bob'] }), { code: 72001 });
    server.last.push({ event: 'onUserStatusUpdated', data: [status('bob', 1, '', { version: 3 })] });
    await until(() => updates().length === 1);
    version = 2;
    const calls = fetch.calls.length;
    server.last.serverClose();
    await until(() => updates().length === 2, 1000, 'the re-sync');
    assert.deepEqual(updates()[1].data, [status('alice', 1, 'v2', { version: 2 })]);
    const asked = fetch.calls.slice(calls).filter((c) => c.route === 'getUserStatus');
    assert.deepEqual(asked.map((c) => c.body.userIDList), [['alice'], ['bob']]);
  });

  it('a push newer than the re-read wins over it', async () => {
    let release;
    const gate = new Promise((resolve) => {
      release = resolve;
    });
    let reads = 0;
    const { tim, server, updates } = await loggedIn({
      routes: {
        getUserStatus: async (body) => {
          reads += 1;
          if (reads > 2 && body.userIDList.includes('bob')) await gate;
          return {
            successUserList: body.userIDList.map((u) =>
              u === 'bob' ? status('bob', 1, 'read', { version: reads > 2 ? 7 : 5 }) : status(u, 1),
            ),
            failureUserList: [],
          };
        },
      },
    });
    await tim.getUserStatus({ userIDList: ['bob'] });
    server.last.serverClose();
    await until(() => server.sockets.length === 2 && reads >= 3, 1000, 'the re-read');
    server.last.push({ event: 'onUserStatusUpdated', data: [status('bob', 2, 'pushed', { version: 8 })] });
    await until(() => updates().length === 1);
    release();
    await sleep(30);
    const aboutBob = updates().flatMap((e) => e.data).filter((s) => s.userID === 'bob');
    assert.deepEqual(aboutBob.map((s) => s.customStatus), ['pushed']);
  });

  it('a reconnect refused for the UserSig ends the session with KICKED_OUT userSigExpired', async () => {
    let expired = false;
    const { tim, server, events } = await loggedIn({
      routes: {
        getUserStatus: () =>
          expired
            ? { status: 401, body: { code: 70001, message: 'UserSig expired' } }
            : { successUserList: [], failureUserList: [] },
      },
    });
    expired = true;
    server.refuseAll = true;
    server.last.serverClose();
    await until(() => events.some((e) => e.name === TIM.EVENT.KICKED_OUT), 1000, 'KICKED_OUT');
    const kicked = events.find((e) => e.name === TIM.EVENT.KICKED_OUT);
    assert.equal(kicked.data.type, TIM.TYPES.KICKED_OUT_USERSIG_EXPIRED);
    assert.equal(kicked.data.code, 70001);
    const attempts = server.handshakes.length;
    await sleep(100);
    assert.equal(server.handshakes.length, attempts, 'no more reconnect attempts');
    await assert.rejects(tim.setSelfStatus({ customStatus: 'x' }), { code: 6014 });
  });
});

describe('kickedOut and logout', () => {
  for (const reason of ['REST_API_Kick', 'multipleAccount', 'userSigExpired']) {
    it(`{"event":"kickedOut","reason":"${reason}"} -> KICKED_OUT {type}, no reconnect`, async () => {
      const { tim, server, events, netStates } = await loggedIn();
      server.last.push({ event: 'kickedOut', reason });
      server.last.serverClose(1000);
      await until(() => events.some((e) => e.name === TIM.EVENT.KICKED_OUT), 500, 'KICKED_OUT');
      await sleep(50);
      assert.deepEqual(events.find((e) => e.name === TIM.EVENT.KICKED_OUT).data, { type: reason });
      assert.equal(server.handshakes.length, 1);
      assert.deepEqual(netStates(), ['connecting', 'connected', 'disconnected']);
      assert.ok(events.some((e) => e.name === TIM.EVENT.SDK_NOT_READY));
      await assert.rejects(tim.getUserStatus({ userIDList: ['bob'] }), { code: 6014 });
    });
  }

  it('logout sends {"action":"logout"}, waits for loggedOut, and does not reconnect', async () => {
    const { tim, server, events } = await loggedIn();
    const socket = server.last;
    assert.deepEqual(await tim.logout(), { code: 0, data: {} });
    // (the ping at once after connecting learns the heartbeat; then the logout)
    assert.deepEqual(socket.sent.map((t) => JSON.parse(t)), [{ action: 'ping' }, { action: 'logout' }]);
    await sleep(30);
    assert.equal(server.handshakes.length, 1);
    assert.ok(events.some((e) => e.name === TIM.EVENT.SDK_NOT_READY));
    await assert.rejects(tim.setSelfStatus({ customStatus: 'x' }), { code: 6014 });
    // and a new login works
    await tim.login({ userID: 'alice', userSig: 'sig-alice' });
    assert.equal(server.open().length, 1);
  });

  it('{"event":"loggedOut"} without a logout call also ends the session', async () => {
    const { server, netStates } = await loggedIn();
    server.last.push({ event: 'loggedOut' });
    server.last.serverClose(1000);
    await until(() => netStates().at(-1) === 'disconnected', 500);
    await sleep(30);
    assert.equal(server.handshakes.length, 1);
  });
});
