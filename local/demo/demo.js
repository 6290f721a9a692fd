// The presence demo: sign in as a user, watch contacts' status live, set your own.
// Everything here goes through the Web SDK (/sdk/index.js), as an app would use it.
import TIM from '/sdk/index.js';

const DEMO_USERS = ['alice', 'bob', 'carol', 'dave', 'erin'];
const STATUS_PRESETS = ['In a meeting', 'Listening to music', 'Focusing', 'On vacation'];
const COLORS = ['#6366f1', '#ec4899', '#f97316', '#14b8a6', '#8b5cf6', '#0ea5e9', '#84cc16', '#ef4444'];
const { USER_STATUS_ONLINE, USER_STATUS_OFFLINE, USER_STATUS_UNLOGINED } = TIM.TYPES;

const $ = (id) => document.getElementById(id);
const config = await (await fetch('/config.json')).json();

let tim = null;
let me = null;
// userID -> {status, following, asOf}: asOf is when `status` was last known to be current (a
// read, a push, or the moment we stopped following); a contact we do not follow gets no pushes,
// so its status is a snapshot of that moment, and the page says so.
const contacts = new Map();

// --- small helpers --------------------------------------------------------------------------

function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (key === 'class') node.className = value;
    else if (key === 'dataset') Object.assign(node.dataset, value);
    else if (key.startsWith('on')) node.addEventListener(key.slice(2), value);
    else if (value !== undefined && value !== null && value !== false) node.setAttribute(key, value);
  }
  for (const child of children) if (child !== null && child !== undefined) node.append(child);
  return node;
}

function colorOf(userID) {
  let hash = 0;
  for (const ch of userID) hash = (hash * 31 + ch.codePointAt(0)) >>> 0;
  return COLORS[hash % COLORS.length];
}

function avatar(userID, large = false) {
  return el('div', { class: `avatar${large ? ' avatar-lg' : ''}`, style: `background:${colorOf(userID)}` },
    userID.slice(0, 1), el('span', { class: 'presence' }));
}

/** "14:02:31": a wall-clock time, 24-hour. */
function clock(epochMs) {
  return new Date(epochMs).toLocaleTimeString(undefined, { hour: '2-digit', minute: '2-digit', second: '2-digit', hourCycle: 'h23' });
}

/** "clears at 14:30" (another day: "clears Tue, Dec 8 14:30"), for a customStatusExpiresAt. */
function clearsAt(epochMs) {
  const at = new Date(epochMs);
  const time = at.toLocaleTimeString(undefined, { hour: '2-digit', minute: '2-digit', hourCycle: 'h23' });
  if (at.toDateString() === new Date().toDateString()) return `clears at ${time}`;
  return `clears ${at.toLocaleDateString(undefined, { weekday: 'short', month: 'short', day: 'numeric' })} ${time}`;
}

/** The custom status has an expiry (customStatusExpiresAt > 0) and is set. */
function expiring(status) {
  return Boolean(status?.customStatus) && status.customStatusExpiresAt > 0;
}

/** It went away because its time was up (the server clears it within 2 s of the expiry). */
function expired(before, after) {
  return expiring(before) && !after.customStatus && Date.now() >= before.customStatusExpiresAt - 1000;
}

function ago(epochMs) {
  const seconds = Math.max(0, (Date.now() - epochMs) / 1000);
  if (seconds < 60) return 'just now';
  if (seconds < 3600) return `${Math.floor(seconds / 60)} min ago`;
  if (seconds < 86400) return `${Math.floor(seconds / 3600)} h ago`;
  return new Date(epochMs).toLocaleDateString(undefined, { month: 'short', day: 'numeric' });
}

/** "Online", "Offline · last seen 5 min ago", "Logged out", ... (lastActiveTime 0: unknown). */
function describe(status) {
  if (!status) return 'Unknown';
  const seen = status.lastActiveTime > 0 ? ` · last seen ${ago(status.lastActiveTime)}` : '';
  switch (status.statusType) {
    case USER_STATUS_ONLINE: return 'Online';
    case USER_STATUS_OFFLINE: return `Offline${seen}`;
    case USER_STATUS_UNLOGINED: return `Logged out${seen}`;
    default: return 'Unknown';
  }
}

function stored(kind, fallback) {
  try {
    const value = JSON.parse(localStorage.getItem(`presence-demo:${kind}:${me}`));
    return Array.isArray(value) ? value : fallback;
  } catch {
    return fallback;
  }
}

function save() {
  localStorage.setItem(`presence-demo:contacts:${me}`, JSON.stringify([...contacts.keys()].filter((id) => id !== me)));
  localStorage.setItem(`presence-demo:following:${me}`,
    JSON.stringify([...contacts].filter(([, c]) => c.following).map(([id]) => id)));
}

function showError(id, error) {
  $(id).textContent = error ? `${error.message || error}${error.code ? ` (${error.code})` : ''}` : '';
}

let toastTimer = null;
function toast(text) {
  const node = $('toast');
  node.textContent = text;
  node.hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => { node.hidden = true; }, 4000);
}

function activity(...parts) {
  const list = $('activity');
  list.prepend(el('li', {}, el('time', {}, clock(Date.now())), el('span', {}, ...parts)));
  while (list.children.length > 30) list.lastChild.remove();
}

// --- rendering ------------------------------------------------------------------------------

/** One's own status, as the server tells it to oneself: the real one, with `invisible` while
 * everyone else sees a logged-out user. */
function renderMe(status) {
  const held = contacts.get(me)?.status;
  // the answer of a setSelfStatus and the push of the same change may arrive either way round
  if (status && !(held && (status.version ?? 0) < (held.version ?? 0))) {
    contacts.set(me, { ...(contacts.get(me) || {}), status, self: true });
  }
  const mine = contacts.get(me)?.status;
  const line = $('me-status');
  line.dataset.statusType = mine ? mine.statusType : 0;
  const custom = mine?.customStatus;
  line.querySelector('.label').textContent = custom ? `${describe(mine)} · “${custom}”` : describe(mine);
  $('me-clears').hidden = !expiring(mine);
  $('me-clears').textContent = expiring(mine) ? `Your status ${clearsAt(mine.customStatusExpiresAt)}` : '';
  $('me-clears').title = expiring(mine) ? new Date(mine.customStatusExpiresAt).toLocaleString() : '';
  const invisible = Boolean(mine?.invisible);
  $('me-invisible').hidden = !invisible;
  $('invisible-toggle').checked = invisible;
  line.dataset.invisible = invisible ? 'yes' : 'no';
  $('me-avatar').dataset.statusType = line.dataset.statusType;
  $('me-avatar').dataset.invisible = line.dataset.invisible;
}

function renderContact(userID) {
  const contact = contacts.get(userID);
  const list = $('contact-list');
  const old = list.querySelector(`[data-user="${CSS.escape(userID)}"]`);
  const { status, following, asOf } = contact;
  // Not followed: no pushes arrive, so what we show is what a read said at `asOf`.
  const snapshot = !following && asOf
    ? el('span', { class: 'as-of', title: `Read at ${new Date(asOf).toLocaleString()}: not followed, so changes do not arrive; ↻ reads it again` }, ` · as of ${clock(asOf)}`)
    : null;
  const badge = following
    ? el('span', { class: 'badge badge-live', title: 'Followed: changes arrive live' }, 'Live')
    : el('span', { class: 'badge badge-snapshot', title: 'Not followed: a snapshot, changes do not arrive; follow to see them live' }, 'Snapshot');
  const row = el('li', {
    class: 'contact',
    dataset: { user: userID, statusType: status ? status.statusType : 0, following: following ? 'yes' : 'no' },
  },
    avatar(userID),
    el('div', { class: 'contact-main' },
      el('div', { class: 'contact-name' }, userID, badge),
      el('div', { class: 'contact-status', hidden: !status?.customStatus },
        el('span', { class: 'contact-custom' }, status?.customStatus || ''),
        expiring(status)
          ? el('span', { class: 'clears', title: `Clears itself at ${new Date(status.customStatusExpiresAt).toLocaleString()}` }, clearsAt(status.customStatusExpiresAt))
          : null),
      el('div', { class: 'contact-seen' }, describe(status), snapshot)),
    el('div', { class: 'contact-actions' },
      following ? null : el('button', {
        class: 'btn btn-ghost btn-small refresh', title: `Read ${userID}'s status now`, 'aria-label': `Refresh ${userID}`,
        onclick: () => refreshContact(userID),
      }, '↻'),
      el('button', {
        class: 'btn btn-small follow', 'aria-pressed': String(Boolean(following)),
        title: following ? 'Stop receiving live changes' : 'Receive live changes',
        onclick: () => setFollowing([userID], !following),
      }, following ? 'Following' : 'Follow'),
      el('button', { class: 'btn btn-ghost btn-small remove', title: `Remove ${userID}`, 'aria-label': `Remove ${userID}`, onclick: () => removeContact(userID) }, '✕')));
  if (old) old.replaceWith(row);
  else list.append(row);
  return row;
}

function renderContacts() {
  const list = $('contact-list');
  list.replaceChildren();
  const others = [...contacts.keys()].filter((id) => id !== me);
  if (!others.length) list.append(el('li', { class: 'empty' }, 'No contacts yet: add someone below.'));
  for (const id of others) renderContact(id);
}

function flash(row) {
  row.classList.add('flash');
  requestAnimationFrame(() => requestAnimationFrame(() => row.classList.remove('flash')));
}

// --- what the SDK tells us ------------------------------------------------------------------

function onStatusUpdated(event) {
  for (const status of event.data) {
    if (status.userID === me) {
      const before = contacts.get(me)?.status;
      renderMe(status);
      if (before && expired(before, status)) activity(`Your status “${before.customStatus}” cleared itself`);
      continue;
    }
    const contact = contacts.get(status.userID);
    if (!contact) continue;
    const before = contact.status;
    contact.status = status;
    contact.asOf = Date.now();
    flash(renderContact(status.userID));
    const typeChanged = !before || before.statusType !== status.statusType;
    if (typeChanged) {
      activity(el('b', {}, status.userID), ` is ${describe(status).split(' · ')[0].toLowerCase()}`);
    }
    // logged out with no status in one change (what "appear offline" looks like): one line
    const goneWithIt = typeChanged && status.statusType === USER_STATUS_UNLOGINED && !status.customStatus;
    if (before && !goneWithIt && (before.customStatus || '') !== (status.customStatus || '')) {
      activity(el('b', {}, status.userID), status.customStatus ? `: “${status.customStatus}”`
        : expired(before, status) ? `’s status “${before.customStatus}” cleared itself` : ' cleared their status');
    }
  }
}

function onNetState(event) {
  const { state } = event.data;
  $('net').dataset.state = state;
  $('net-label').textContent = { connected: 'Connected', connecting: 'Reconnecting…', disconnected: 'Offline' }[state] || state;
}

function onKickedOut(event) {
  const why = {
    [TIM.TYPES.KICKED_OUT_REST_API]: 'an administrator signed you out',
    [TIM.TYPES.KICKED_OUT_MULT_ACCOUNT]: 'you signed in on too many devices',
    [TIM.TYPES.KICKED_OUT_USERSIG_EXPIRED]: 'your session expired',
  }[event.data.type] || event.data.type;
  toast(`Signed out: ${why}.`);
  showLogin();
}

// --- actions --------------------------------------------------------------------------------

async function refresh(userIDs) {
  const ids = userIDs.filter((id) => id !== me);
  if (!ids.length) return;
  const { data } = await tim.getUserStatus({ userIDList: ids });
  const now = Date.now();
  for (const status of data.successUserList) {
    const contact = contacts.get(status.userID);
    if (!contact) continue;
    // a push may have brought a newer status while this read was on its way
    if ((status.version ?? 0) >= (contact.status?.version ?? 0)) contact.status = status;
    contact.asOf = now;
  }
  for (const failed of data.failureUserList) showError('contacts-error', { message: `${failed.userID}: ${failed.message}`, code: failed.code });
}

async function setFollowing(userIDs, follow) {
  showError('contacts-error', null);
  const ids = userIDs.filter((id) => id !== me);
  if (!ids.length) return;
  try {
    const call = follow ? tim.subscribeUserStatus({ userIDList: ids }) : tim.unsubscribeUserStatus({ userIDList: ids });
    const { data } = await call;
    const failed = new Map(data.failureUserList.map((f) => [f.userID, f]));
    const now = Date.now();
    for (const id of ids) {
      if (failed.has(id)) continue;
      contacts.get(id).following = follow;
      if (!follow) contacts.get(id).asOf = now; // live until now: a snapshot from here on
    }
    for (const f of failed.values()) showError('contacts-error', { message: `${f.userID}: ${f.message}`, code: f.code });
    if (follow) await refresh(ids); // what they are now; changes come live from here on
    activity(follow ? 'Following ' : 'Stopped following ', el('b', {}, ids.join(', ')));
  } catch (error) {
    showError('contacts-error', error);
  }
  save();
  renderContacts();
}

async function followAll(follow) {
  const ids = [...contacts.keys()].filter((id) => id !== me);
  if (follow) return setFollowing(ids, true);
  showError('contacts-error', null);
  try {
    await tim.unsubscribeUserStatus(); // no argument: every subscription
    const now = Date.now();
    for (const id of ids) {
      const contact = contacts.get(id);
      if (contact.following) contact.asOf = now; // live until now: a snapshot from here on
      contact.following = false;
    }
    activity('Stopped following everyone');
  } catch (error) {
    showError('contacts-error', error);
  }
  save();
  renderContacts();
}

async function addContact(userID) {
  showError('contacts-error', null);
  if (!userID || userID === me || contacts.has(userID)) return;
  contacts.set(userID, { status: null, following: false });
  save();
  renderContacts();
  await setFollowing([userID], true);
}

/** Read a contact's status again (for one we do not follow, the only way to see a change). */
async function refreshContact(userID) {
  showError('contacts-error', null);
  try {
    await refresh([userID]);
  } catch (error) {
    showError('contacts-error', error);
  }
  if (contacts.has(userID)) flash(renderContact(userID));
}

async function removeContact(userID) {
  const contact = contacts.get(userID);
  if (contact?.following) await setFollowing([userID], false);
  contacts.delete(userID);
  save();
  renderContacts();
}

/** The "Clear after" choice in seconds (customStatusExpiresIn), or undefined: don't clear. */
function clearAfterSeconds() {
  const choice = $('status-clear-after').value;
  if (choice === 'today') {
    const midnight = new Date();
    midnight.setHours(24, 0, 0, 0); // the end of today, local time
    return Math.max(1, Math.ceil((midnight - Date.now()) / 1000));
  }
  return choice ? Number(choice) : undefined;
}

async function setMyStatus(text) {
  showError('me-error', null);
  const options = { customStatus: text };
  const clearAfter = text ? clearAfterSeconds() : undefined; // an expiry only with a status
  if (clearAfter) options.customStatusExpiresIn = clearAfter;
  try {
    const { data } = await tim.setSelfStatus(options);
    renderMe(data);
    $('status-input').value = '';
    $('status-clear-after').value = '';
    const clears = expiring(data) ? ` (${clearsAt(data.customStatusExpiresAt)})` : '';
    activity(text ? `You set your status: “${text}”${clears}` : 'You cleared your status');
  } catch (error) {
    showError('me-error', error);
  }
}

/** "Appear offline": everyone else sees a logged-out user until it is turned off again. */
async function setInvisible(invisible) {
  showError('me-error', null);
  const toggle = $('invisible-toggle');
  toggle.disabled = true;
  try {
    const { data } = await tim.setSelfStatus({ invisible });
    renderMe(data);
    activity(data.invisible ? 'You appear offline: others see you as logged out' : 'You are visible again');
  } catch (error) {
    showError('me-error', error);
    renderMe(); // the switch shows what the server last said
  } finally {
    toggle.disabled = false;
  }
}

// --- sign in / out --------------------------------------------------------------------------

async function login(userID) {
  showError('login-error', null);
  try {
    // A real app gets the UserSig from its own backend after the user signed in there.
    const answer = await fetch(`/usersig?userID=${encodeURIComponent(userID)}`);
    const body = await answer.json();
    if (!answer.ok) throw body;
    tim = TIM.create({ SDKAppID: config.SDKAppID, httpUrl: config.httpUrl, wsUrl: config.wsUrl, platform: 'web' });
    tim.on(TIM.EVENT.USER_STATUS_UPDATED, onStatusUpdated);
    tim.on(TIM.EVENT.NET_STATE_CHANGE, onNetState);
    tim.on(TIM.EVENT.KICKED_OUT, onKickedOut);
    await tim.login({ userID, userSig: body.userSig });
  } catch (error) {
    showError('login-error', error);
    tim = null;
    return;
  }
  me = userID;
  document.title = `${me} · Presence`;
  contacts.clear();
  const following = new Set(stored('following', []));
  for (const id of stored('contacts', DEMO_USERS.filter((u) => u !== me))) {
    if (id !== me) contacts.set(id, { status: null, following: following.has(id) });
  }
  $('me-name').textContent = me;
  $('me-avatar').replaceWith(Object.assign(avatar(me, true), { id: 'me-avatar' }));
  $('login-view').hidden = true;
  $('app-view').hidden = false;
  $('logout').hidden = false;
  $('activity').replaceChildren();
  activity('Signed in as ', el('b', {}, me));
  renderContacts();
  try {
    const { data } = await tim.getUserStatus({ userIDList: [me] }); // oneself: never rate limited
    renderMe(data.successUserList[0]);
    const follow = [...contacts].filter(([, c]) => c.following).map(([id]) => id);
    if (follow.length) await tim.subscribeUserStatus({ userIDList: follow });
    await refresh([...contacts.keys()]);
  } catch (error) {
    showError('contacts-error', error);
  }
  renderContacts();
}

function showLogin() {
  tim = null;
  me = null;
  document.title = 'Presence — live user status';
  $('app-view').hidden = true;
  $('logout').hidden = true;
  $('login-view').hidden = false;
  onNetState({ data: { state: TIM.TYPES.NET_STATE_DISCONNECTED } });
}

async function logout() {
  const current = tim;
  showLogin();
  if (current) {
    try {
      await current.logout();
    } catch {
      /* signed out already */
    }
  }
}

// --- wiring ---------------------------------------------------------------------------------

for (const user of DEMO_USERS) {
  $('user-picks').append(el('button', { class: 'user-pick', type: 'button', dataset: { user }, onclick: () => login(user) }, avatar(user), user));
}
for (const text of [...STATUS_PRESETS, '']) {
  $('status-chips').append(el('button', { class: 'chip', type: 'button', onclick: () => setMyStatus(text) }, text || 'Clear'));
}
$('login-form').addEventListener('submit', (event) => {
  event.preventDefault();
  login($('login-user').value.trim());
});
$('status-form').addEventListener('submit', (event) => {
  event.preventDefault();
  setMyStatus($('status-input').value.trim());
});
$('add-form').addEventListener('submit', (event) => {
  event.preventDefault();
  const id = $('add-input').value.trim();
  $('add-input').value = '';
  addContact(id);
});
$('invisible-toggle').addEventListener('change', (event) => setInvisible(event.target.checked));
$('logout').addEventListener('click', logout);
$('subscribe-all').addEventListener('click', () => followAll(true));
$('unsubscribe-all').addEventListener('click', () => followAll(false));
setInterval(() => { if (me) renderContacts(); }, 30_000); // keep "last seen" fresh

// for the console (and the browser tests): window.presenceDemo.tim is the SDK instance
window.presenceDemo = { get tim() { return tim; }, get me() { return me; }, TIM, login, logout };

const auto = new URLSearchParams(location.search).get('user');
if (auto) login(auto);
