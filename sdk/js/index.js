// presence-web: the Web SDK of the presence service (API.md section 9).
//
// The user-status part of Tencent's tim-js-sdk, with the same names, values and response
// shapes: TIM.create, login, logout, setSelfStatus, getUserStatus, subscribeUserStatus,
// unsubscribeUserStatus, on/off, TIM.EVENT and TIM.TYPES. No dependencies: it uses the
// platform's fetch and WebSocket (or the ones passed to TIM.create, e.g. the `ws` package in
// Node before 22).
//
// The same object is exported as `TencentCloudChat`, the name of Tencent's current Web SDK
// (@tencentcloud/chat 3.x), so code written for it runs with only the import and create's URLs
// changed: `TencentCloudChat.create({SDKAppID, httpUrl, wsUrl})`, `TencentCloudChat.EVENT.*`.

const VERSION = '0.1.0';

/** Event names: the values of tim-js-sdk's TIM.EVENT constants. */
const EVENT = Object.freeze({
  SDK_READY: 'sdkStateReady',
  SDK_NOT_READY: 'sdkStateNotReady',
  USER_STATUS_UPDATED: 'onUserStatusUpdated',
  KICKED_OUT: 'kickedOut',
  NET_STATE_CHANGE: 'netStateChange',
});

/** Constants: the values of tim-js-sdk's TIM.TYPES constants. */
const TYPES = Object.freeze({
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

/** Error codes: the contract's (API.md sections 1-2) and the SDK's own. */
const ERROR_CODE = Object.freeze({
  // the SDK's own (no contract code came back)
  NETWORK_ERROR: -1, // the service could not be reached
  UNEXPECTED_RESPONSE: -2, // an answer without a contract code (e.g. API Gateway's 404)
  TIMEOUT: -3, // no answer in time
  NOT_LOGGED_IN: 6014, // a call before login (or after logout / a kick)
  INVALID_PARAMETER: 6017,
  // the service's
  INVALID_JSON: 6027,
  INVALID_USER_ID: 7003,
  RATE_LIMITED: 7008,
  SERVER_FAULT: 7012,
  EDITION_NOT_ULTIMATE: 7013,
  SWITCH_OFF: 72001,
  NOT_ADMIN: 60010,
  USERSIG_EXPIRED: 70001,
  USERSIG_INVALID: 70003,
  USERSIG_BAD_SIGNATURE: 70009,
  USERID_MISMATCH: 70013,
  SDKAPPID_MISMATCH: 70014,
});

const PLATFORMS = Object.freeze([
  'web', 'miniprogram', 'ios', 'android', 'ipad', 'windows', 'mac', 'linux', 'harmony',
]);
const AUTH_CODES = new Set([70001, 70003, 70009, 70013, 70014]);
const GATED_CODES = new Set([7013, 72001]);
const EVENT_NAMES = new Set(Object.values(EVENT));
const WS_OPEN = 1;
const QUERY_CHUNK = 100; // userIDs per getUserStatus call the SDK makes by itself
const RESYNC_ATTEMPTS = 3;
const PING = '{"action":"ping"}';
const BEAT = '{"action":"beat"}'; // a heartbeat with no answer: one message instead of two
const LOGOUT = '{"action":"logout"}';
const DEFAULTS = Object.freeze({
  platform: 'web',
  // seconds between heartbeats until the server announces its own (pong's heartbeatSeconds,
  // a third of its liveness timeout: a device that goes quiet longer stops counting)
  heartbeatInterval: 30,
  pingEvery: 10, // every 10th heartbeat is a ping (answered: checks the socket), the rest beats
  pongTimeout: 10, // seconds without a pong before the socket counts as lost
  reconnectGraceSeconds: 5, // the server's setting: come back within it and nothing changes
  reconnectBaseDelay: 0.25, // seconds; doubled after each failed attempt, jittered
  reconnectMaxDelay: 30, // seconds; the backoff's ceiling once the grace has passed
  requestTimeout: 10, // seconds for an HTTP call
  openTimeout: 10, // seconds for a WebSocket handshake
  logoutTimeout: 5, // seconds to wait for {"event":"loggedOut"}
});

/** What every call rejects with: `{code, message}` (an Error, so it has a stack too). */
class TIMError extends Error {
  constructor(code, message) {
    super(message);
    this.name = 'TIMError';
    this.code = code;
  }
}

function fail(code, message) {
  return new TIMError(code, message);
}

function versionOf(status) {
  const v = status && status.version;
  return typeof v === 'number' && Number.isFinite(v) ? v : 0;
}

function sameStatus(a, b) {
  return (
    a.statusType === b.statusType &&
    (a.customStatus || '') === (b.customStatus || '') &&
    (a.lastActiveTime || 0) === (b.lastActiveTime || 0)
  );
}

function isStatus(value) {
  return value !== null && typeof value === 'object' && typeof value.userID === 'string';
}

function chunks(items, size) {
  const out = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

function trimSlash(url) {
  return String(url).replace(/\/+$/, '');
}

/** One login: its socket, timers and flags. A new login makes a new session, so events of an
 * old socket can never touch the current one. */
class Session {
  constructor(userID, userSig) {
    this.userID = userID;
    this.userSig = userSig;
    this.ws = null;
    this.loggedIn = false; // login resolved, and not ended
    this.ended = false;
    this.stopping = false; // logout in progress
    this.kickReason = null; // from {"event":"kickedOut"}
    this.loggedOutFrame = false;
    this.logoutWaiter = null;
    this.heartbeat = null;
    this.heartbeatSeconds = 0; // announced by the server in pong; 0: not yet
    this.rescheduleHeartbeat = null;
    this.pongTimer = null;
    this.sleepers = new Set();
    this.pushMarks = new Map(); // pushes received per user, to order a versionless re-read
  }

  sleep(ms) {
    return new Promise((resolve) => {
      if (this.ended) return resolve();
      const entry = { resolve, timer: null };
      entry.timer = setTimeout(() => {
        this.sleepers.delete(entry);
        resolve();
      }, ms);
      this.sleepers.add(entry);
    });
  }

  wake() {
    for (const entry of this.sleepers) {
      clearTimeout(entry.timer);
      entry.resolve();
    }
    this.sleepers.clear();
  }

  stopHeartbeat() {
    clearTimeout(this.heartbeat);
    clearTimeout(this.pongTimer);
    this.heartbeat = null;
    this.pongTimer = null;
  }
}

class PresenceSDK {
  constructor(options) {
    const o = { ...DEFAULTS, ...(options || {}) };
    this.SDKAppID = o.SDKAppID;
    this._httpUrl = trimSlash(o.httpUrl || '');
    this._wsUrl = trimSlash(o.wsUrl || '');
    this._platform = o.platform;
    this._WebSocket = o.WebSocket || globalThis.WebSocket;
    this._fetch = o.fetch || ((...args) => globalThis.fetch(...args));
    this._random = o.random || Math.random;
    this._opt = o;
    this._listeners = new Map(); // event name -> [{handler, context}]
    this._session = null;
    this._loginPromise = null;
    this._netState = TYPES.NET_STATE_DISCONNECTED;
    this._held = new Map(); // userID -> the newest status seen (push or read)
    this._emitted = new Map(); // userID -> the newest status emitted to the app
    this._subscribed = new Set(); // userIDs subscribed through this instance
  }

  // --- events -------------------------------------------------------------------------------

  /** Listen to `eventName` (a TIM.EVENT value); `handler` gets `{name, data}`. */
  on(eventName, handler, context) {
    if (typeof handler !== 'function') throw new TypeError('tim.on: the handler must be a function');
    if (!EVENT_NAMES.has(eventName)) {
      console.warn(`tim.on: unknown event ${JSON.stringify(eventName)}; use a TIM.EVENT value`);
    }
    const list = this._listeners.get(eventName) || [];
    list.push({ handler, context });
    this._listeners.set(eventName, list);
  }

  /** Stop listening: the same handler (and context) as given to `on`. */
  off(eventName, handler, context) {
    const list = this._listeners.get(eventName);
    if (!list) return;
    const index = list.findIndex(
      (l) => l.handler === handler && (context === undefined || l.context === context),
    );
    if (index >= 0) list.splice(index, 1);
  }

  _emit(name, data) {
    for (const { handler, context } of [...(this._listeners.get(name) || [])]) {
      try {
        handler.call(context, { name, data });
      } catch (error) {
        console.error(`a ${name} listener threw:`, error);
      }
    }
  }

  _setNetState(state) {
    if (state === this._netState) return;
    this._netState = state;
    this._emit(EVENT.NET_STATE_CHANGE, { state });
  }

  // --- login / logout -----------------------------------------------------------------------

  /** Open the WebSocket (the user becomes ONLINE). Resolves `{code: 0, data: {repeatLogin}}`;
   * SDK_READY follows. */
  login(options) {
    const { userID, userSig } = options || {};
    const current = this._session;
    if (current && !current.ended) {
      if (current.userID === userID && current.loggedIn) {
        // a fresh UserSig (e.g. before the old one expires) serves every later call and reconnect
        if (typeof userSig === 'string' && userSig !== '') current.userSig = userSig;
        return Promise.resolve({ code: 0, data: { repeatLogin: true } });
      }
      if (current.userID === userID && this._loginPromise) return this._loginPromise;
      return Promise.reject(
        fail(6017, `login: already logged in as ${JSON.stringify(current.userID)}; call logout() first`),
      );
    }
    this._loginPromise = this._login(userID, userSig).finally(() => {
      this._loginPromise = null;
    });
    return this._loginPromise;
  }

  async _login(userID, userSig) {
    if (typeof userID !== 'string' || userID === '') {
      throw fail(6017, 'login: userID must be a non-empty string');
    }
    if (typeof userSig !== 'string' || userSig === '') {
      throw fail(6017, 'login: userSig must be a non-empty string (minted by your backend)');
    }
    if (!this._httpUrl || !this._wsUrl) {
      throw fail(6017, 'login: TIM.create needs httpUrl and wsUrl');
    }
    if (!PLATFORMS.includes(this._platform)) {
      throw fail(6017, `login: unknown platform ${JSON.stringify(this._platform)}; one of ${PLATFORMS.join(', ')}`);
    }
    if (typeof this._WebSocket !== 'function') {
      throw fail(6017, 'login: no WebSocket here; pass one: TIM.create({..., WebSocket})');
    }
    if (this._held.size && this._heldOwner !== userID) {
      this._held.clear();
      this._emitted.clear();
      this._subscribed.clear();
    }
    this._heldOwner = userID;
    const session = new Session(userID, userSig);
    this._session = session;
    this._setNetState(TYPES.NET_STATE_CONNECTING);
    let ws;
    try {
      ws = await this._open(session);
    } catch (error) {
      session.ended = true;
      if (this._session === session) this._session = null;
      this._setNetState(TYPES.NET_STATE_DISCONNECTED);
      throw (await this._diagnose(session)) || error;
    }
    if (session.ended) {
      ws.close();
      throw fail(6014, 'login: logged out before the connection opened');
    }
    this._attach(session, ws);
    session.loggedIn = true;
    this._setNetState(TYPES.NET_STATE_CONNECTED);
    queueMicrotask(() => {
      if (!session.ended) this._emit(EVENT.SDK_READY, {});
    });
    return { code: 0, data: { repeatLogin: false } };
  }

  /** Log this device out: the user's status changes at once (no grace). */
  async logout() {
    const session = this._requireLogin('logout');
    session.stopping = true;
    const ws = session.ws;
    if (ws && ws.readyState === WS_OPEN) {
      await new Promise((resolve) => {
        const timer = setTimeout(resolve, this._opt.logoutTimeout * 1000);
        session.logoutWaiter = () => {
          clearTimeout(timer);
          resolve();
        };
        try {
          ws.send(LOGOUT);
        } catch {
          session.logoutWaiter();
        }
      });
    }
    this._end(session, null);
    this._held.clear();
    this._emitted.clear();
    this._subscribed.clear();
    return { code: 0, data: {} };
  }

  _requireLogin(what) {
    const session = this._session;
    if (!session || !session.loggedIn || session.ended) {
      throw fail(6014, `${what}: not logged in; call tim.login({userID, userSig}) first`);
    }
    return session;
  }

  _end(session, kicked) {
    if (session.ended) return;
    session.ended = true;
    session.loggedIn = false;
    session.stopHeartbeat();
    session.wake();
    const ws = session.ws;
    session.ws = null;
    if (ws) {
      ws.onmessage = ws.onclose = ws.onerror = ws.onopen = null;
      try {
        ws.close(1000);
      } catch {
        /* closed already */
      }
    }
    if (this._session === session) this._session = null;
    if (kicked) this._emit(EVENT.KICKED_OUT, kicked);
    this._setNetState(TYPES.NET_STATE_DISCONNECTED);
    this._emit(EVENT.SDK_NOT_READY, {});
  }

  // --- the WebSocket ------------------------------------------------------------------------

  _socketUrl(session) {
    const query = new URLSearchParams({
      userSig: session.userSig,
      platform: this._platform,
      userID: session.userID,
    });
    return `${this._wsUrl}/?${query}`;
  }

  /** One handshake: resolves the open socket, rejects when it closes first or times out. */
  _open(session) {
    return new Promise((resolve, reject) => {
      let ws;
      try {
        ws = new this._WebSocket(this._socketUrl(session));
      } catch (error) {
        reject(fail(6017, `cannot open a WebSocket to ${this._wsUrl}: ${error && error.message}`));
        return;
      }
      let settled = false;
      const timer = setTimeout(() => {
        if (settled) return;
        settled = true;
        ws.onopen = ws.onclose = ws.onerror = ws.onmessage = null;
        try {
          ws.close();
        } catch {
          /* never opened */
        }
        reject(fail(-3, `no WebSocket connection to ${this._wsUrl} within ${this._opt.openTimeout} s`));
      }, this._opt.openTimeout * 1000);
      ws.onopen = () => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        resolve(ws);
      };
      ws.onerror = () => {}; // a close event follows
      ws.onclose = (event) => {
        if (settled) {
          this._onClose(session, ws, event);
          return;
        }
        settled = true;
        clearTimeout(timer);
        const code = event && event.code;
        reject(fail(-1, `cannot connect to ${this._wsUrl} (WebSocket closed${code ? ` with ${code}` : ''} before it opened)`));
      };
      ws.onmessage = (event) => this._onMessage(session, ws, event);
    });
  }

  /** Why a handshake failed, when the reason is the UserSig: browsers hide a refused
   * handshake's HTTP answer, so ask the HTTP API (reading one's own status is never gated nor
   * rate limited). Null when the UserSig is fine or the HTTP API is unreachable too. */
  async _diagnose(session) {
    try {
      await this._request(session, 'getUserStatus', { userIDList: [session.userID] });
    } catch (error) {
      if (AUTH_CODES.has(error.code)) return error;
    }
    return null;
  }

  _attach(session, ws) {
    session.ws = ws;
    session.kickReason = null;
    session.stopHeartbeat();
    // A ping at once learns the server's heartbeatSeconds (pong); then a beat every interval,
    // every `pingEvery`th one a ping. Each timer is set from the interval in force when it is
    // set, so an announced interval applies from the next heartbeat on.
    let count = 0;
    const schedule = () => {
      const seconds = session.heartbeatSeconds || this._opt.heartbeatInterval;
      session.heartbeat = setTimeout(() => {
        if (session.ws !== ws || ws.readyState !== WS_OPEN) return;
        count += 1;
        this._heartbeat(session, ws, count % this._opt.pingEvery === 0 ? PING : BEAT);
        schedule();
      }, seconds * 1000);
      // In Node, the heartbeat alone does not keep the process alive (the socket does).
      if (typeof session.heartbeat === 'object' && session.heartbeat.unref) session.heartbeat.unref();
    };
    session.rescheduleHeartbeat = () => {
      clearTimeout(session.heartbeat);
      schedule();
    };
    this._heartbeat(session, ws, PING);
    schedule();
  }

  _heartbeat(session, ws, frame) {
    try {
      ws.send(frame);
    } catch {
      return;
    }
    if (frame === PING && session.pongTimer === null) {
      session.pongTimer = setTimeout(() => {
        session.pongTimer = null;
        if (session.ws === ws) this._lost(session, ws); // no pong: count it as dropped
      }, this._opt.pongTimeout * 1000);
    }
  }

  _onMessage(session, ws, event) {
    if (session.ended || (session.ws !== ws && session.ws !== null)) return;
    let frame;
    try {
      const raw = event && event.data;
      frame = JSON.parse(typeof raw === 'string' ? raw : new TextDecoder().decode(raw));
    } catch {
      return; // not JSON: nothing the contract sends
    }
    if (frame === null || typeof frame !== 'object') return;
    switch (frame.event) {
      case EVENT.USER_STATUS_UPDATED: {
        const list = Array.isArray(frame.data) ? frame.data.filter(isStatus) : [];
        for (const s of list) {
          session.pushMarks.set(s.userID, (session.pushMarks.get(s.userID) || 0) + 1);
        }
        // compared with what the app was given: a status only read (a setSelfStatus answer,
        // a getUserStatus) must not make the push of that same version look old
        const accepted = this._ingest(list, { push: true }).map((r) => r.status);
        for (const s of accepted) this._emitted.set(s.userID, s);
        if (accepted.length) this._emit(EVENT.USER_STATUS_UPDATED, accepted);
        break;
      }
      case 'pong': {
        clearTimeout(session.pongTimer);
        session.pongTimer = null;
        const announced = frame.heartbeatSeconds;
        if (Number.isInteger(announced) && announced > 0 && announced !== session.heartbeatSeconds) {
          session.heartbeatSeconds = announced; // the server's liveness wants this interval
          if (session.rescheduleHeartbeat) session.rescheduleHeartbeat();
        }
        break;
      }
      case 'loggedOut':
        session.loggedOutFrame = true;
        if (session.logoutWaiter) session.logoutWaiter();
        break;
      case 'kickedOut':
        session.kickReason = typeof frame.reason === 'string' ? frame.reason : TYPES.KICKED_OUT_REST_API;
        break;
      default:
        break; // {"event":"error"} and anything new: nothing to do
    }
  }

  _onClose(session, ws, event) {
    if (session.ended || session.ws !== ws) return;
    session.stopHeartbeat();
    session.ws = null;
    if (session.kickReason) {
      this._end(session, { type: session.kickReason });
    } else if (session.stopping) {
      if (session.logoutWaiter) session.logoutWaiter();
    } else if (session.loggedOutFrame) {
      this._end(session, null); // logged out by the server: no reconnect
    } else {
      this._reconnect(session, event);
    }
  }

  /** The socket is considered gone (no pong): drop it without waiting for its close. */
  _lost(session, ws) {
    ws.onmessage = ws.onclose = ws.onerror = null;
    try {
      ws.close(4000, 'heartbeat timeout');
    } catch {
      /* gone */
    }
    this._onClose(session, ws, { code: 4000 });
  }

  /** Reconnect at once, then with jittered exponential backoff, placed so that attempts land
   * inside the server's reconnect grace (the status then does not change at all); after the
   * grace it goes on, up to `reconnectMaxDelay` apart, until connected, logged out or refused. */
  async _reconnect(session) {
    this._setNetState(TYPES.NET_STATE_CONNECTING);
    const droppedAt = Date.now();
    const graceMs = this._opt.reconnectGraceSeconds * 1000;
    for (let attempt = 0; !session.ended && !session.stopping; attempt += 1) {
      if (attempt > 0) {
        const ceiling = Math.min(
          this._opt.reconnectMaxDelay * 1000,
          this._opt.reconnectBaseDelay * 1000 * 2 ** Math.min(attempt - 1, 20),
        );
        let delay = ceiling / 2 + (this._random() * ceiling) / 2;
        const left = graceMs - (Date.now() - droppedAt);
        if (left > 200) delay = Math.min(delay, left - 100); // one more try inside the grace
        await session.sleep(delay);
        if (session.ended || session.stopping) return;
      }
      let ws;
      try {
        ws = await this._open(session);
      } catch {
        if (session.ended || session.stopping) return;
        const refused = await this._diagnose(session);
        if (refused) {
          // the UserSig is no longer accepted: this session cannot come back by itself
          this._end(session, { type: TYPES.KICKED_OUT_USERSIG_EXPIRED, code: refused.code, message: refused.message });
          return;
        }
        continue;
      }
      if (session.ended || session.stopping) {
        ws.onclose = null;
        ws.close(1000);
        return;
      }
      this._attach(session, ws);
      this._setNetState(TYPES.NET_STATE_CONNECTED);
      this._resync(session);
      return;
    }
  }

  /** After a reconnect: re-read oneself, the subscriptions and every user seen, and emit those
   * that changed while the socket was down. */
  async _resync(session) {
    const marks = new Map(session.pushMarks);
    const self = session.userID;
    let read = [];
    for (let attempt = 1; attempt <= RESYNC_ATTEMPTS; attempt += 1) {
      try {
        // the server's list too: subscriptions made on the user's other devices
        const listed = await this._request(session, 'getSubscriptions', {}).then(
          (answer) => (Array.isArray(answer.data.userIDList) ? answer.data.userIDList : []),
          (error) => {
            if (AUTH_CODES.has(error.code)) throw error;
            return []; // an older server without the route: what this instance knows
          },
        );
        const others = [...new Set([...listed, ...this._subscribed, ...this._held.keys()])].filter(
          (u) => typeof u === 'string' && u !== self,
        );
        read = await this._readStatuses(session, self, others);
        break;
      } catch (error) {
        if (AUTH_CODES.has(error.code) || attempt === RESYNC_ATTEMPTS) return;
        await session.sleep(500 * attempt);
        if (session.ended) return;
      }
    }
    if (session.ended || session !== this._session) return;
    // A versionless status read while a push about the same user arrived may be the older
    // one: the push wins. (With versions the version decides.)
    const fresh = read.filter(
      (s) => versionOf(s) > 0 || (session.pushMarks.get(s.userID) || 0) === (marks.get(s.userID) || 0),
    );
    const changed = this._ingest(fresh).filter((r) => r.changed).map((r) => r.status);
    for (const s of changed) this._emitted.set(s.userID, s);
    if (changed.length) this._emit(EVENT.USER_STATUS_UPDATED, changed);
  }

  async _readStatuses(session, self, others) {
    const found = [];
    const mine = await this._request(session, 'getUserStatus', { userIDList: [self] });
    found.push(...((mine.data && mine.data.successUserList) || []));
    for (const chunk of chunks(others, QUERY_CHUNK)) {
      try {
        const answer = await this._request(session, 'getUserStatus', { userIDList: chunk });
        found.push(...((answer.data && answer.data.successUserList) || []));
      } catch (error) {
        if (GATED_CODES.has(error.code)) break; // the plan or switch allows one's own only
        throw error;
      }
    }
    return found.filter(isStatus);
  }

  /** Take statuses in (push or read): newest per user first, then only those newer than what
   * is held. A missing version counts as 0; when neither side has one, the later one wins. */
  _ingest(statuses, { push = false } = {}) {
    const newest = new Map();
    for (const s of statuses) {
      const prev = newest.get(s.userID);
      if (!prev || versionOf(s) >= versionOf(prev)) newest.set(s.userID, s);
    }
    const out = [];
    for (const s of newest.values()) {
      const held = this._held.get(s.userID);
      if (held) {
        const v = versionOf(s);
        const h = versionOf(held);
        if (v < h) continue;
        if (v === h && v !== 0) {
          // the same version again: news only as the push of a status the app has only
          // read so far (a setSelfStatus answer, a getUserStatus), never emitted
          const emitted = this._emitted.get(s.userID);
          if (!push || (emitted && versionOf(emitted) >= v)) continue;
        }
      }
      const status = { ...s };
      this._held.set(s.userID, status);
      out.push({ status, changed: !held || versionOf(s) > versionOf(held) || !sameStatus(held, s) });
    }
    return out;
  }

  // --- HTTP API -----------------------------------------------------------------------------

  async _request(session, route, body) {
    const url = `${this._httpUrl}/v1/${route}`;
    const controller = typeof AbortController === 'function' ? new AbortController() : null;
    const timer = setTimeout(() => controller && controller.abort(), this._opt.requestTimeout * 1000);
    let response;
    let text;
    try {
      response = await this._fetch(url, {
        method: 'POST',
        headers: {
          Authorization: `Bearer ${session.userSig}`,
          'Content-Type': 'application/json',
          'X-User-ID': session.userID,
        },
        body: JSON.stringify(body),
        signal: controller ? controller.signal : undefined,
      });
      text = await response.text();
    } catch (error) {
      if (error && error.name === 'AbortError') {
        throw fail(-3, `POST ${url}: no answer within ${this._opt.requestTimeout} s`);
      }
      throw fail(-1, `POST ${url} failed: ${(error && error.message) || error}`);
    } finally {
      clearTimeout(timer);
    }
    let payload = null;
    try {
      payload = text ? JSON.parse(text) : null;
    } catch {
      payload = null;
    }
    if (payload && typeof payload === 'object' && Number.isInteger(payload.code)) {
      if (response.ok && payload.code === 0) {
        return { code: 0, data: payload.data && typeof payload.data === 'object' ? payload.data : {} };
      }
      if (payload.code !== 0) {
        throw fail(payload.code, String(payload.message || `HTTP ${response.status}`));
      }
    }
    const said = payload && payload.message ? payload.message : String(text || '').slice(0, 200);
    throw fail(-2, `POST ${url}: HTTP ${response.status}${said ? `: ${said}` : ''}`);
  }

  async _call(route, body) {
    const session = this._requireLogin(route);
    return this._request(session, route, body);
  }

  /** Set one's own custom status ('' clears it); `data` is the status after the change. */
  async setSelfStatus(options) {
    // the fields given, as given (the server checks them: 6017 names the field); absent ones
    // are left out, so `{invisible: true}` alone keeps the custom status as it is
    const body = {};
    for (const key of ['customStatus', 'customStatusExpiresIn', 'invisible']) {
      if (options && options[key] !== undefined) body[key] = options[key];
    }
    const answer = await this._call('setSelfStatus', body);
    if (isStatus(answer.data)) this._ingest([answer.data]);
    return answer;
  }

  /** The status of each user: `data` is `{successUserList, failureUserList}`. */
  async getUserStatus(options) {
    const answer = await this._call('getUserStatus', { userIDList: options && options.userIDList });
    const found = (answer.data.successUserList || []).filter(isStatus);
    this._ingest(found);
    return answer;
  }

  /** Receive USER_STATUS_UPDATED for these users: `data` is `{failureUserList}`. */
  async subscribeUserStatus(options) {
    const ids = options && options.userIDList;
    const answer = await this._call('subscribeUserStatus', { userIDList: ids });
    const failed = new Set((answer.data.failureUserList || []).map((f) => f && f.userID));
    if (Array.isArray(ids)) for (const id of ids) if (!failed.has(id)) this._subscribed.add(id);
    return answer;
  }

  /** Stop receiving these users' changes; no options (or an empty list): everyone's. */
  async unsubscribeUserStatus(options) {
    const ids = options && options.userIDList;
    const all = ids === undefined || ids === null || (Array.isArray(ids) && ids.length === 0);
    const answer = await this._call('unsubscribeUserStatus', all ? {} : { userIDList: ids });
    const self = this._session && this._session.userID;
    const gone = all ? [...this._subscribed, ...this._held.keys()] : Array.isArray(ids) ? ids : [];
    for (const id of gone) {
      this._subscribed.delete(id);
      if (id !== self) {
        this._held.delete(id);
        this._emitted.delete(id);
      }
    }
    return answer;
  }
}

const TIM = Object.freeze({
  /** A new SDK instance: `TIM.create({SDKAppID, httpUrl, wsUrl, platform})`. */
  create(options) {
    return new PresenceSDK(options);
  },
  EVENT,
  TYPES,
  ERROR_CODE,
  VERSION,
});

/** Tencent's current name for the same object (@tencentcloud/chat 3.x): one object, three names
 * (the default export, `TIM` and `TencentCloudChat`). */
const TencentCloudChat = TIM;

export default TIM;
export { TIM, TencentCloudChat, EVENT, TYPES, ERROR_CODE, TIMError, VERSION };
