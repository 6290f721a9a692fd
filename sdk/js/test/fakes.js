// Test doubles: a WebSocket class and a fetch that stand for the service, with no network.

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** Wait until `predicate()` is truthy (polling), or fail after `timeout` ms. */
export async function until(predicate, timeout = 2000, what = 'condition') {
  const deadline = Date.now() + timeout;
  for (;;) {
    const value = predicate();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(5);
  }
}

/** A fake server: decides what each handshake does, records every socket and frame. */
export class FakeServer {
  constructor() {
    this.sockets = [];
    this.handshakes = []; // URLs of every handshake attempt
    this.handshakeTimes = []; // Date.now() of each
    this.refuse = 0; // refuse (close before open) this many next handshakes
    this.refuseAll = false;
    this.autoPong = true;
    this.WebSocket = this._makeClass();
  }

  _makeClass() {
    const server = this;
    return class FakeWebSocket {
      static OPEN = 1;
      constructor(url) {
        this.url = url;
        this.readyState = 0;
        this.sent = [];
        this.onopen = this.onclose = this.onerror = this.onmessage = null;
        server.handshakes.push(url);
        server.handshakeTimes.push(Date.now());
        const refused = server.refuseAll || server.refuse > 0;
        if (server.refuse > 0) server.refuse -= 1;
        setTimeout(() => {
          if (refused) {
            this.readyState = 3;
            this.onerror && this.onerror({});
            this.onclose && this.onclose({ code: 1006, reason: '' });
            return;
          }
          this.readyState = 1;
          server.sockets.push(this);
          this.onopen && this.onopen({});
        }, 1);
      }

      send(text) {
        if (this.readyState !== 1) throw new Error('not open');
        this.sent.push(text);
        const frame = JSON.parse(text);
        if (frame.action === 'ping' && server.autoPong) this.push({ event: 'pong' });
        if (frame.action === 'logout') {
          this.push({ event: 'loggedOut' });
          setTimeout(() => this.serverClose(1000), 1);
        }
      }

      close(code = 1000) {
        if (this.readyState >= 2) return;
        this.readyState = 3;
        this.closedByClient = code;
        setTimeout(() => this.onclose && this.onclose({ code, reason: '' }), 1);
      }

      /** The server sends a frame (an object is sent as JSON). */
      push(frame) {
        setTimeout(() => {
          if (this.readyState === 1 && this.onmessage) {
            this.onmessage({ data: typeof frame === 'string' ? frame : JSON.stringify(frame) });
          }
        }, 0);
      }

      /** The server closes the socket. */
      serverClose(code = 1001) {
        // after the frames pushed before it, as on a real socket
        setTimeout(() => {
          if (this.readyState >= 2) return;
          this.readyState = 3;
          this.onclose && this.onclose({ code, reason: '' });
        }, 0);
      }
    };
  }

  get last() {
    return this.sockets[this.sockets.length - 1];
  }

  open() {
    return this.sockets.filter((s) => s.readyState === 1);
  }
}

/** A fake fetch: `routes[route](body, request)` returns `{status, body}` or a data object
 * (answered as `{code: 0, data}`). Every call is recorded. */
export function fakeFetch(routes) {
  const calls = [];
  const fetch = async (url, init) => {
    const route = url.replace(/^.*\/v1\//, '');
    const body = init.body ? JSON.parse(init.body) : undefined;
    calls.push({ url, route, body, headers: init.headers, method: init.method });
    const handler = routes[route];
    if (!handler) {
      return new Response(JSON.stringify({ message: 'Not Found' }), { status: 404 });
    }
    const out = await handler(body, { url, init });
    if (out instanceof Error) throw out;
    if (out && out.status !== undefined) {
      return new Response(JSON.stringify(out.body), { status: out.status });
    }
    return new Response(JSON.stringify({ code: 0, message: '', data: out }), { status: 200 });
  };
  fetch.calls = calls;
  return fetch;
}

export const status = (userID, statusType, customStatus = '', extra = {}) => ({
  userID,
  statusType,
  customStatus,
  ...extra,
});
