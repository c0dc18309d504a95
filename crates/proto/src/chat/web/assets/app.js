'use strict';

/*
 * switchboard's chat page.
 *
 * One WebSocket speaks the JSON protocol of docs/PROTOCOL.md. The page runs
 * under a Content-Security-Policy without 'unsafe-inline', so nothing here
 * writes HTML or inline styles: every text from the network goes into the
 * DOM through textContent or text nodes, and looks are chosen with classes.
 */

// ------------------------------------------------------------------ settings

const NICK_RE = /^[A-Za-z0-9_-]{1,32}$/;
const ROOM_RE = /^#?[A-Za-z0-9_-]{1,32}$/;
const MAX_NAME = 32;
const LOBBY = '#lobby';
const STORAGE_NICK = 'switchboard.nick';
const MAX_LINES = 2000;          // per conversation; older lines are dropped
const MAX_HISTORY = 100;         // sent lines that Up/Down recall
const NICK_COLOURS = 12;         // .nick-c0 … .nick-c11 in app.css
const BACKOFF_FIRST_MS = 1000;
const BACKOFF_MAX_MS = 30000;
const CONNECT_TIMEOUT_MS = 15000;
const MAX_NICK_RETRIES = 5;      // `_`s appended when re-registering
const BOTTOM_SLACK_PX = 48;      // this close to the end counts as "at the bottom"

// IRC formatting, for text that comes from IRC users: bold, colour (^C with
// up to two digits and an optional ,NN), hex colour (^D), italics,
// monospace, reverse, reset, strikethrough and underline. Any other
// control character but TAB goes too: none of them belongs on screen.
const IRC_FORMAT = /\x03(?:\d{1,2}(?:,\d{1,2})?)?|\x04(?:[0-9A-Fa-f]{6}(?:,[0-9A-Fa-f]{6})?)?|[\x02\x0f\x11\x16\x1d\x1e\x1f]/g;
const CONTROLS = /[\x00-\x08\x0a-\x1f\x7f]/g;

// ---------------------------------------------------------------- the page

const $ = (id) => document.getElementById(id);

const ui = {
  login: $('login'),
  nickForm: $('nick-form'),
  nickInput: $('nick-input'),
  nickError: $('nick-error'),
  nickSubmit: $('nick-submit'),
  loginStatus: $('login-status'),
  app: $('app'),
  rooms: $('rooms'),
  joinForm: $('join-form'),
  joinInput: $('join-input'),
  me: $('me'),
  roomTitle: $('room-title'),
  topic: $('topic'),
  status: $('status'),
  statusText: $('status-text'),
  reconnect: $('reconnect'),
  messages: $('messages'),
  jump: $('jump'),
  inputForm: $('input-form'),
  input: $('input'),
  members: $('members'),
  memberCount: $('member-count'),
  toggleRooms: $('toggle-rooms'),
  toggleRoomsBadge: $('toggle-rooms-badge'),
  toggleMembers: $('toggle-members'),
  backdrop: $('backdrop'),
  announcer: $('announcer'),
};

const narrowScreen = window.matchMedia('(max-width: 600px)');

// --------------------------------------------------------------- the state

/**
 * A conversation: a room ('room'), a private one with a nick ('query'), or
 * the server's own buffer ('server'), shown when no other is open. Its
 * lines are kept as elements so that switching back shows them again.
 */
function makeConv(kind, name) {
  return {
    kind,
    name,
    key: fold(name),
    topic: '',
    members: new Map(),   // fold(nick) → { nick, op }
    count: null,          // members in all, when `members` lists only some (a crowded room)
    joined: false,        // in the room, as far as the server told us
    rejoin: false,        // was joined when the connection dropped
    unread: 0,
    mention: false,
    lines: [],
    lastDay: '',
    scrollTop: 0,
    atBottom: true,
  };
}

const state = {
  ws: null,
  conn: 'disconnected',
  helloSeen: false,
  serverName: 'switchboard',
  maxLine: 4096,

  nick: null,             // registered nick; null until welcomed
  wantedNick: '',         // the nick to register with
  baseNick: '',           // before any `_` was appended
  nickRetries: 0,
  registered: false,      // on this connection
  everWelcomed: false,    // so re-register by ourselves after a drop
  loginSubmitted: false,  // the user asked to register with wantedNick
  mentionRe: null,

  quitting: false,
  attempt: 0,             // reconnections since the last welcome
  retryTimer: 0,
  countdownTimer: 0,
  connectTimer: 0,
  retryAt: 0,

  convs: new Map(),       // key → conversation, in list order
  current: null,          // key of the open conversation, or null
  server: makeConv('server', 'switchboard'),
  pendingSwitch: null,    // room key to open once its join arrives
  pendingNames: new Set(),// room keys whose `names` the user asked to see
  droppingLobby: false,   // parting the lobby the server put us in

  history: [],
  historyPos: -1,         // -1: not browsing the history
  draft: '',
};

// ----------------------------------------------------------------- helpers

/** Names are unique case-insensitively in ASCII (IRC's CASEMAPPING=ascii). */
function fold(name) {
  return name.replace(/[A-Z]/g, (c) => c.toLowerCase());
}

/** Own keys only, so that a "type" such as "constructor" finds nothing
 *  (Object.hasOwn is newer than ES2020). */
function has(object, key) {
  return Object.prototype.hasOwnProperty.call(object, key);
}

function str(value) {
  return typeof value === 'string' ? value : value == null ? '' : String(value);
}

/** Network text as it may be shown: IRC formatting and controls removed. */
function clean(value) {
  return str(value).replace(IRC_FORMAT, '').replace(CONTROLS, '');
}

function isMe(nick) {
  return state.nick !== null && fold(str(nick)) === fold(state.nick);
}

function roomName(input) {
  return input.startsWith('#') ? input : `#${input}`;
}

const pad2 = (n) => String(n).padStart(2, '0');

function eventDate(ms) {
  const n = Number(ms);
  return Number.isFinite(n) && n > 0 ? new Date(n) : new Date();
}

/** Same nick, same colour, for everyone: a small hash of the folded nick. */
function nickClass(nick) {
  let hash = 0;
  for (const ch of fold(nick)) hash = (hash * 31 + ch.charCodeAt(0)) >>> 0;
  return `nick-c${hash % NICK_COLOURS}`;
}

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

function utf8Length(text) {
  return new TextEncoder().encode(text).length;
}

function mentionsMe(text) {
  return state.mentionRe !== null && state.mentionRe.test(text);
}

/** Own nick as a whole word: `alice` in "hi alice!", not in "malice". */
function updateMentionRe() {
  const escaped = state.nick.replace(/[-\\^$.*+?()[\]{}|]/g, '\\$&');
  state.mentionRe = new RegExp(`(^|[^A-Za-z0-9_-])${escaped}(?![A-Za-z0-9_-])`, 'i');
}

function loadNick() {
  try {
    return localStorage.getItem(STORAGE_NICK) || '';
  } catch {
    return ''; // storage can be off (private windows, policies)
  }
}

function storeNick(nick) {
  try {
    localStorage.setItem(STORAGE_NICK, nick);
  } catch {
    // Not remembering the nick is no reason to stop.
  }
}

// ----------------------------------------------------------- conversations

function currentConv() {
  return state.current === null ? null : state.convs.get(state.current) || null;
}

/** Where lines go when they belong to no conversation in particular. */
function displayed() {
  return currentConv() || state.server;
}

function roomConvs() {
  return [...state.convs.values()].filter((c) => c.kind === 'room');
}

/** The list's order: rooms first, then private conversations. */
function orderedConvs() {
  const all = [...state.convs.values()];
  return all.filter((c) => c.kind === 'room').concat(all.filter((c) => c.kind === 'query'));
}

function ensureConv(kind, name) {
  const key = fold(name);
  let conv = state.convs.get(key);
  if (!conv) {
    conv = makeConv(kind, name);
    state.convs.set(key, conv);
  }
  return conv;
}

function removeConv(key) {
  const order = orderedConvs().map((c) => c.key);
  const at = order.indexOf(key);
  state.convs.delete(key);
  if (state.current !== key) {
    renderRooms();
    return;
  }
  const rest = order.filter((k) => k !== key);
  switchTo(rest.length ? rest[Math.max(0, at - 1)] : null);
}

/** Renames a private conversation when its nick changes. */
function renameQuery(oldNick, newNick) {
  const conv = state.convs.get(fold(oldNick));
  if (!conv || conv.kind !== 'query' || state.convs.has(fold(newNick))) return null;
  const entries = [...state.convs].map(([k, c]) => (k === conv.key ? [fold(newNick), c] : [k, c]));
  if (state.current === conv.key) state.current = fold(newNick);
  conv.key = fold(newNick);
  conv.name = newNick;
  state.convs = new Map(entries);
  return conv;
}

function switchTo(key) {
  const conv = key === null ? null : state.convs.get(key);
  if (key !== null && !conv) return;
  // (A conversation just removed has nothing to come back to.)
  if (currentConv() || state.current === null) saveScroll(displayed());
  state.current = conv ? conv.key : null;
  if (conv) {
    conv.unread = 0;
    conv.mention = false;
  }
  showLines(displayed());
  renderRooms();
  renderHeader();
  renderMembers();
  updateTitle();
}

/** Alt+Up/Down, Ctrl+PageUp/PageDown: the previous or next in the list. */
function cycleConv(step) {
  const order = orderedConvs().map((c) => c.key);
  if (!order.length) return;
  const at = order.indexOf(state.current);
  const next = at < 0 ? 0 : (at + step + order.length) % order.length;
  switchTo(order[next]);
}

function openQuery(nick) {
  const conv = ensureConv('query', nick);
  switchTo(conv.key);
  return conv;
}

// ------------------------------------------------------------------- lines

/**
 * One line of the message list:
 *
 *   <div class="msg KIND">
 *     <time class="time">12:34</time>
 *     <span class="body"><span class="mark">*</span> <span class="nick">bob</span> <span class="text">…</span></span>
 *   </div>
 *
 * Spaces are real text nodes so that copied lines read naturally. `text`
 * is a string or a list of strings and { nick } references.
 */
function makeLine({ kinds, date, mark = '', nick = '', text = '', nickBefore = '', nickAfter = '' }) {
  const line = el('div', ['msg', ...kinds].join(' '));
  const time = el('time', 'time', `${pad2(date.getHours())}:${pad2(date.getMinutes())}`);
  time.dateTime = date.toISOString();
  time.title = date.toLocaleString();
  const body = el('span', 'body');
  if (mark) body.append(el('span', 'mark', mark), ' ');
  const nickEl = el('span', 'nick');
  if (nick) {
    nickEl.classList.add(nickClass(nick));
    if (isMe(nick)) nickEl.classList.add('own');
    nickEl.append(nickBefore, clean(nick), nickAfter);
  }
  body.append(nickEl, nick ? ' ' : '', textEl(text));
  line.append(time, ' ', body);
  return line;
}

function textEl(text) {
  const span = el('span', 'text');
  for (const part of Array.isArray(text) ? text : [text]) {
    if (typeof part === 'object' && part !== null) {
      span.append(el('span', `ref ${nickClass(part.nick)}`, clean(part.nick)));
    } else {
      span.append(clean(part));
    }
  }
  return span;
}

/**
 * Adds a line to a conversation. Lines that count (messages) raise the
 * unread badge of a conversation that is not on screen.
 */
function addLine(conv, line, date, { counts = false, mention = false } = {}) {
  const day = date.toDateString();
  if (conv.lastDay && conv.lastDay !== day) addDaySeparator(conv, date);
  conv.lastDay = day;
  pushLine(conv, line);
  if (conv === displayed()) return;
  if (counts) {
    conv.unread += 1;
    conv.mention = conv.mention || mention;
    renderRooms();
    updateTitle();
  }
}

function addDaySeparator(conv, date) {
  const label = date.toLocaleDateString(undefined, {
    weekday: 'long', day: 'numeric', month: 'long', year: 'numeric',
  });
  const sep = el('div', 'day', label);
  sep.setAttribute('role', 'separator');
  pushLine(conv, sep);
}

function pushLine(conv, line) {
  conv.lines.push(line);
  while (conv.lines.length > MAX_LINES) conv.lines.shift().remove();
  if (conv !== displayed()) return;
  const stick = atBottom();
  ui.messages.append(line);
  if (stick) scrollToBottom();
  else ui.jump.hidden = false;
}

/** A muted line: joins, parts, nick changes, topics, our own notes. */
function systemLine(conv, date, mark, nick, text) {
  addLine(conv, makeLine({ kinds: ['system'], date, mark, nick, text }), date);
}

/** A line from the server ('error' or 'info') or from the page itself. */
function serverLine(kind, text, conv = displayed()) {
  const date = new Date();
  const mark = kind === 'error' ? '!' : 'i';
  addLine(conv, makeLine({ kinds: [kind], date, mark, text }), date);
}

function localError(text) {
  serverLine('error', text);
}

function chatLine(conv, kind, from, text, date) {
  const mine = isMe(from);
  const mention = !mine && (conv.kind === 'query' || mentionsMe(clean(text)));
  const kinds = [];
  if (kind === 'act') kinds.push('action');
  else if (kind === 'notice') kinds.push('notice');
  else kinds.push('say');
  if (mine) kinds.push('self');
  if (mention) kinds.push('mention');
  const line = kind === 'act'
    ? makeLine({ kinds, date, mark: '*', nick: from, text })
    : kind === 'notice'
      ? makeLine({ kinds, date, nick: from, text, nickBefore: '-', nickAfter: '-' })
      : makeLine({ kinds, date, nick: from, text });
  addLine(conv, line, date, { counts: !mine, mention });
}

// --------------------------------------------------------------- rendering

function showLines(conv) {
  // One replacement, not one announcement per old line for screen readers.
  ui.messages.setAttribute('aria-busy', 'true');
  ui.messages.replaceChildren(...conv.lines);
  ui.messages.removeAttribute('aria-busy');
  ui.messages.setAttribute('aria-label', `Messages in ${conv.name}`);
  if (conv.atBottom) scrollToBottom();
  else ui.messages.scrollTop = conv.scrollTop;
  ui.jump.hidden = true;
}

function atBottom() {
  const m = ui.messages;
  return m.scrollHeight - m.scrollTop - m.clientHeight < BOTTOM_SLACK_PX;
}

function scrollToBottom() {
  ui.messages.scrollTop = ui.messages.scrollHeight;
  ui.jump.hidden = true;
}

function saveScroll(conv) {
  conv.atBottom = atBottom();
  conv.scrollTop = ui.messages.scrollTop;
}

function renderHeader() {
  const conv = currentConv();
  ui.roomTitle.textContent = conv ? conv.name : state.serverName;
  let topic;
  if (!conv) topic = 'Not in any room: join one with /join ROOM';
  else if (conv.kind === 'query') topic = `Private conversation with ${conv.name}`;
  else if (!conv.joined && !conv.rejoin) topic = `You are not in ${conv.name}: /join ${conv.name} to go back`;
  else topic = clean(conv.topic);
  ui.topic.textContent = topic || 'No topic';
  ui.topic.title = topic;
  ui.topic.classList.toggle('empty', !topic);
  ui.input.placeholder = conv ? `Message ${conv.name}` : 'Type /join ROOM, or /help';
}

function renderRooms() {
  // The list is rebuilt whole; keep keyboard focus on the same entry.
  const focused = document.activeElement;
  const focusKey = focused && ui.rooms.contains(focused) ? focused.closest('.room').dataset.room : null;
  const focusLeave = focusKey !== null && focused.classList.contains('leave');
  ui.rooms.replaceChildren(...orderedConvs().map(roomItem));
  if (focusKey !== null) {
    const item = [...ui.rooms.children].find((li) => li.dataset.room === focusKey);
    const target = item && item.querySelector(focusLeave ? '.leave' : '.room-btn');
    (target || ui.input).focus();
  }
  const unread = orderedConvs().some((c) => c.unread > 0);
  ui.toggleRoomsBadge.hidden = !unread;
}

function roomItem(conv) {
  const li = el('li', 'room');
  li.dataset.room = conv.name;
  li.classList.toggle('query', conv.kind === 'query');
  li.classList.toggle('active', conv.key === state.current);
  li.classList.toggle('has-unread', conv.unread > 0);
  li.classList.toggle('mention', conv.mention);
  li.classList.toggle('parted', conv.kind === 'room' && !conv.joined && !conv.rejoin);

  const button = el('button', 'room-btn');
  button.type = 'button';
  if (conv.key === state.current) button.setAttribute('aria-current', 'true');
  const icon = el('span', 'room-icon', conv.kind === 'room' ? '#' : '@');
  icon.setAttribute('aria-hidden', 'true');
  const label = conv.kind === 'room' ? conv.name.slice(1) : conv.name;
  button.append(icon, el('span', 'room-name', label));
  if (conv.kind === 'room') button.title = conv.name;
  if (conv.unread > 0) {
    const badge = el('span', 'unread', String(conv.unread));
    badge.setAttribute('aria-label', `${conv.unread} unread`);
    button.append(badge);
  }

  const leave = el('button', 'leave', '×');
  leave.type = 'button';
  const what = conv.kind === 'room' ? `Leave ${conv.name}` : `Close conversation with ${conv.name}`;
  leave.setAttribute('aria-label', what);
  leave.title = conv.kind === 'room' ? 'Leave' : 'Close';
  li.append(button, leave);
  return li;
}

function renderMembers() {
  const conv = currentConv();
  let members = [];
  if (conv && conv.kind === 'room') {
    members = [...conv.members.values()].sort(byRank);
  } else if (conv && conv.kind === 'query' && state.nick) {
    members = [{ nick: state.nick, op: false }, { nick: conv.name, op: false }];
  }
  ui.members.replaceChildren(...members.map(memberItem));
  const count = conv && conv.kind === 'room' && conv.count != null ? conv.count : members.length;
  ui.memberCount.textContent = count ? String(count) : '';
}

/** Operators first, then by name, as IRC clients list them. */
function byRank(a, b) {
  if (a.op !== b.op) return a.op ? -1 : 1;
  const x = fold(a.nick);
  const y = fold(b.nick);
  return x < y ? -1 : x > y ? 1 : 0;
}

function memberItem(member) {
  const li = el('li', 'member');
  li.classList.toggle('op', member.op);
  li.classList.toggle('self', isMe(member.nick));
  li.dataset.nick = member.nick;
  const inner = isMe(member.nick) ? el('span', 'member-self') : el('button', 'member-btn');
  if (inner.tagName === 'BUTTON') {
    inner.type = 'button';
    inner.setAttribute('aria-label', `${member.op ? 'Operator ' : ''}${member.nick}: send a private message`);
  }
  if (member.op) inner.append(el('span', 'prefix', '@'));
  inner.append(el('span', `member-name ${nickClass(member.nick)}`, clean(member.nick)));
  li.append(inner);
  return li;
}

function updateTitle() {
  const unread = orderedConvs().reduce((n, c) => n + c.unread, 0);
  const where = displayed().name;
  document.title = `${unread ? `(${unread}) ` : ''}${where} · switchboard`;
}

function updateMe() {
  ui.me.textContent = state.nick || '';
  ui.me.className = `me-nick ${state.nick ? nickClass(state.nick) : ''}`;
}

// -------------------------------------------------------- connection state

const STATE_TEXT = {
  connecting: 'Connecting…',
  connected: 'Connected',
  reconnecting: 'Reconnecting…',
  disconnected: 'Disconnected',
};

function setConn(conn, why = '') {
  state.conn = conn;
  ui.status.dataset.state = conn;
  ui.status.title = why ? `${STATE_TEXT[conn]} (${why})` : STATE_TEXT[conn];
  ui.reconnect.hidden = conn !== 'reconnecting' && conn !== 'disconnected';
  ui.reconnect.textContent = conn === 'reconnecting' ? 'Retry now' : 'Reconnect';
  showStatusText();
  ui.announcer.textContent = why ? `${STATE_TEXT[conn]}: ${why}` : STATE_TEXT[conn];
}

/** The visible status; while waiting to reconnect, a countdown. */
function showStatusText() {
  let text = STATE_TEXT[state.conn];
  if (state.conn === 'reconnecting' && state.retryAt) {
    const seconds = Math.max(1, Math.ceil((state.retryAt - Date.now()) / 1000));
    text = `Reconnecting in ${seconds}s`;
  }
  ui.statusText.textContent = text;
  // The sign-in form only needs to hear about trouble, and while it waits
  // to retry, its button tries at once (with what is typed by then).
  const trouble = state.conn === 'reconnecting' || state.conn === 'disconnected';
  ui.loginStatus.textContent = trouble ? `Cannot reach the server. ${text}` : '';
  if (trouble) setLoginBusy(false);
}

// -------------------------------------------------------------- the socket

function connect() {
  cancelRetry();
  state.quitting = false;
  const url = (location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + '/ws';
  let ws;
  try {
    ws = new WebSocket(url);
  } catch (err) {
    scheduleReconnect(str(err && err.message));
    return;
  }
  state.ws = ws;
  state.helloSeen = false;
  state.registered = false;
  setConn('connecting');
  // A connection that hangs while opening would otherwise wait for the
  // browser's own, much longer, timeout.
  state.connectTimer = setTimeout(() => {
    if (ws.readyState === WebSocket.CONNECTING) ws.close();
  }, CONNECT_TIMEOUT_MS);
  ws.addEventListener('open', () => clearTimeout(state.connectTimer));
  ws.addEventListener('message', (ev) => {
    if (ws === state.ws && typeof ev.data === 'string') onFrame(ev.data);
  });
  ws.addEventListener('close', (ev) => {
    if (ws === state.ws) onClose(ev);
  });
}

function onClose(ev) {
  clearTimeout(state.connectTimer);
  const wasUp = state.registered;
  state.ws = null;
  state.helloSeen = false;
  state.registered = false;
  const why = closeReason(ev);
  // Attempts that never got in have nothing to forget or report.
  if (wasUp) forgetRooms(why);
  if (state.quitting) {
    setConn('disconnected', why);
    return;
  }
  scheduleReconnect(why);
}

/** The connection's rooms are gone; remember which to join again. */
function forgetRooms(why) {
  const date = new Date();
  for (const conv of state.convs.values()) {
    if (conv.kind === 'room' && conv.joined) {
      conv.rejoin = true;
      conv.joined = false;
      conv.members.clear();
    }
    systemLine(conv, date, '–', '', `Disconnected${why ? `: ${why}` : ''}`);
  }
  if (!state.convs.size) systemLine(state.server, date, '–', '', `Disconnected${why ? `: ${why}` : ''}`);
  renderMembers();
  renderRooms();
  renderHeader();
}

const CLOSE_CODES = {
  1000: 'closed',
  1001: 'the server went away',
  1002: 'protocol error',
  1003: 'unsupported data',
  1006: 'connection lost',
  1007: 'invalid text',
  1008: 'refused',
  1009: 'message too long',
  1011: 'server error',
};

function closeReason(ev) {
  const reason = clean(ev.reason);
  if (reason) return reason;
  return CLOSE_CODES[ev.code] || (ev.code ? `code ${ev.code}` : '');
}

/** Exponential backoff (1 s, 2 s, 4 s… up to 30 s), ±20 % so that many
 *  pages dropped at once by a restart do not all come back at once. */
function scheduleReconnect(why) {
  cancelRetry();
  const base = Math.min(BACKOFF_MAX_MS, BACKOFF_FIRST_MS * 2 ** state.attempt);
  const delay = Math.min(BACKOFF_MAX_MS, base * (0.8 + Math.random() * 0.4));
  state.attempt += 1;
  state.retryAt = Date.now() + delay;
  state.retryTimer = setTimeout(connect, delay);
  state.countdownTimer = setInterval(showStatusText, 1000);
  setConn('reconnecting', why);
}

function cancelRetry() {
  clearTimeout(state.retryTimer);
  clearInterval(state.countdownTimer);
  state.retryAt = 0;
}

/** Sends one command; false (with a line saying why) if it could not go. */
function send(command) {
  const ws = state.ws;
  if (!ws || ws.readyState !== WebSocket.OPEN || !state.registered) {
    localError('Not connected: nothing was sent.');
    return false;
  }
  const frame = JSON.stringify(command);
  // The server closes the connection on an over-long frame: refuse it here.
  if (utf8Length(frame) > state.maxLine) {
    localError(`Too long to send: the server takes at most ${state.maxLine} bytes.`);
    return false;
  }
  ws.send(frame);
  return true;
}

// ----------------------------------------------------------- registration

function register() {
  state.registered = false;
  const ws = state.ws;
  if (ws && ws.readyState === WebSocket.OPEN) {
    ws.send(JSON.stringify({ type: 'nick', nick: state.wantedNick }));
  }
}

function onNickSubmit(ev) {
  ev.preventDefault();
  const nick = ui.nickInput.value.trim();
  if (!NICK_RE.test(nick)) {
    showNickError('A nick is 1 to 32 letters, digits, _ or -.');
    ui.nickInput.focus();
    return;
  }
  state.wantedNick = nick;
  state.baseNick = nick;
  state.nickRetries = 0;
  state.loginSubmitted = true;
  showNickError('');
  setLoginBusy(true);
  if (state.helloSeen) register();
  else if (!state.ws) connect();
}

function showNickError(text) {
  ui.nickError.textContent = text;
  ui.nickInput.setAttribute('aria-invalid', text ? 'true' : 'false');
}

function setLoginBusy(busy) {
  ui.nickSubmit.disabled = busy;
  ui.nickSubmit.textContent = busy ? 'Joining…' : 'Join chat';
}

function showLogin(error) {
  state.loginSubmitted = false;
  ui.login.hidden = false;
  ui.nickInput.value = state.wantedNick || ui.nickInput.value;
  setLoginBusy(false);
  showNickError(error);
  ui.nickInput.focus();
  ui.nickInput.select();
}

/** Registration refused. Typed by the user: ask again; ours: add a `_`. */
function onRegisterError(e) {
  const text = clean(e.text) || 'That nick cannot be used.';
  const automatic = state.everWelcomed && !state.loginSubmitted;
  if (automatic && e.code === 'nick_taken' && state.nickRetries < MAX_NICK_RETRIES) {
    state.nickRetries += 1;
    const n = state.nickRetries;
    state.wantedNick = state.baseNick.slice(0, MAX_NAME - n) + '_'.repeat(n);
    register();
    return;
  }
  showLogin(text);
}

// ------------------------------------------------------------ the protocol

const HANDLERS = {
  hello: onHello,
  welcome: onWelcome,
  join: onJoin,
  part: onPart,
  quit: onQuit,
  nick: onNick,
  message: onMessage,
  topic: onTopic,
  kick: onKick,
  op: onOp,
  mode: onMode,
  summary: onSummary,
  servers: onServers,
  names: onNames,
  rooms: onRooms,
  away: onAway,
  info: onInfo,
  error: onError,
};

function onFrame(data) {
  let msg;
  try {
    msg = JSON.parse(data);
  } catch {
    return; // not ours to show; the protocol only sends JSON objects
  }
  if (!msg || typeof msg !== 'object') return;
  const handler = has(HANDLERS, msg.type) ? HANDLERS[msg.type] : null;
  if (!handler || ignoredLobbyEvent(msg)) return; // unknown types are for newer pages
  handler(msg);
}

/** After a reconnect, the server puts us back in the lobby even if we had
 *  left it: its events are dropped until our part goes through. */
function ignoredLobbyEvent(msg) {
  if (!state.droppingLobby || fold(str(msg.room)) !== LOBBY) return false;
  if (msg.type === 'part' && isMe(msg.nick)) state.droppingLobby = false;
  return true;
}

function onHello(e) {
  state.helloSeen = true;
  state.serverName = clean(e.server) || 'switchboard';
  state.server.name = state.serverName;
  if (Number(e.max_line) > 0) state.maxLine = Number(e.max_line);
  if (state.everWelcomed || state.loginSubmitted) register();
}

function onWelcome(e) {
  const again = state.everWelcomed;
  const before = state.nick;
  state.registered = true;
  state.everWelcomed = true;
  state.nick = clean(e.nick) || state.wantedNick;
  state.wantedNick = state.nick;
  state.attempt = 0;
  if (state.loginSubmitted) {
    state.baseNick = state.nick;
    storeNick(state.nick); // what the user typed, not a `_` variant
  }
  state.loginSubmitted = false;
  state.nickRetries = 0;
  updateMentionRe();
  updateMe();
  ui.login.hidden = true;
  ui.app.hidden = false;
  setLoginBusy(false);
  setConn('connected');
  if (again) rejoinRooms(before);
  renderHeader();
  ui.input.focus();
}

/** Back after a drop: the same rooms as before, and a line saying so. */
function rejoinRooms(before) {
  const rooms = roomConvs().filter((c) => c.rejoin);
  // The server puts every new session in the lobby; leave it again if we
  // had left it (there is always at least one room to come back to then).
  state.droppingLobby = rooms.length > 0 && !rooms.some((c) => c.key === LOBBY);
  if (state.droppingLobby) send({ type: 'part', room: LOBBY });
  for (const conv of rooms) {
    if (conv.key !== LOBBY) send({ type: 'join', room: conv.name });
  }
  const date = new Date();
  const text = isMe(before) ? 'Reconnected' : ['Reconnected as ', { nick: state.nick }, ` (${before} was taken)`];
  for (const conv of state.convs.values()) systemLine(conv, date, '–', '', text);
  if (!state.convs.size) systemLine(state.server, date, '–', '', text);
}

function onJoin(e) {
  const nick = clean(e.nick);
  const date = eventDate(e.time);
  const conv = ensureConv('room', clean(e.room));
  if (isMe(nick)) {
    const back = conv.rejoin || conv.lines.length > 0;
    conv.joined = true;
    conv.rejoin = false;
    conv.members.clear();
    conv.members.set(fold(nick), { nick, op: false });
    systemLine(conv, date, '→', nick, back ? `rejoined ${conv.name}` : `joined ${conv.name}`);
    if (state.pendingSwitch === conv.key || state.current === null) {
      state.pendingSwitch = null;
      switchTo(conv.key);
      return;
    }
  } else {
    conv.members.set(fold(nick), { nick, op: false });
    if (conv.count != null) conv.count = Number(e.members) || conv.count + 1;
    systemLine(conv, date, '→', nick, `joined ${conv.name}`);
  }
  refresh(conv);
}

function onPart(e) {
  const conv = state.convs.get(fold(str(e.room)));
  if (!conv) return;
  const nick = clean(e.nick);
  if (isMe(nick)) {
    removeConv(conv.key);
    return;
  }
  conv.members.delete(fold(nick));
  if (conv.count != null) conv.count -= 1;
  const reason = clean(e.reason);
  systemLine(conv, eventDate(e.time), '←', nick, `left ${conv.name}${reason ? ` (${reason})` : ''}`);
  refresh(conv);
}

function onQuit(e) {
  const nick = clean(e.nick);
  if (isMe(nick)) return; // our own goodbye: the close event tells the rest
  const reason = clean(e.reason);
  const text = `quit${reason ? ` (${reason})` : ''}`;
  const date = eventDate(e.time);
  const named = new Set(Array.isArray(e.rooms) ? e.rooms.map((r) => fold(str(r && r.room))) : []);
  for (const conv of convsOf(nick, e.rooms)) {
    conv.members.delete(fold(nick));
    if (conv.count != null && named.has(conv.key)) conv.count -= 1;
    systemLine(conv, date, '←', nick, text);
  }
  renderMembers();
}

/** The conversations an event about `nick` touches: the rooms it names,
 *  the rooms we know them in, and our private conversation with them. */
function convsOf(nick, rooms) {
  const named = new Set(Array.isArray(rooms) ? rooms.map((r) => fold(str(r && r.room))) : []);
  return [...state.convs.values()].filter((c) => (c.kind === 'room'
    ? named.has(c.key) || c.members.has(fold(nick))
    : c.key === fold(nick)));
}

function onNick(e) {
  const oldNick = clean(e.nick);
  const newNick = clean(e.new);
  const date = eventDate(e.time);
  const mine = isMe(oldNick);
  const convs = mine ? roomConvs().filter((c) => c.joined) : convsOf(oldNick, e.rooms);
  for (const conv of convs) {
    renameMember(conv, oldNick, newNick);
    systemLine(conv, date, '•', oldNick, ['is now known as ', { nick: newNick }]);
  }
  renameQuery(oldNick, newNick);
  if (mine) {
    state.nick = newNick;
    state.wantedNick = newNick;
    state.baseNick = newNick;
    storeNick(newNick);
    updateMentionRe();
    updateMe();
  }
  renderRooms();
  renderHeader();
  renderMembers();
  updateTitle();
}

function renameMember(conv, oldNick, newNick) {
  if (conv.kind !== 'room') return;
  const member = conv.members.get(fold(oldNick));
  conv.members.delete(fold(oldNick));
  conv.members.set(fold(newNick), { nick: newNick, op: Boolean(member && member.op) });
}

function onMessage(e) {
  // Tags alone (an IRC client's typing notifications) have nothing to show.
  if (e.kind === 'tags') return;
  const from = clean(e.from);
  let conv;
  if (e.room != null) {
    conv = ensureConv('room', clean(e.room));
  } else {
    // Private: ours come back naming the receiver in `to`.
    const other = isMe(from) && e.to != null ? clean(e.to) : from;
    if (!other) return;
    conv = ensureConv('query', other);
    renderRooms();
  }
  chatLine(conv, str(e.kind) || 'say', from, e.text, eventDate(e.time));
}

function onTopic(e) {
  const conv = state.convs.get(fold(str(e.room)));
  if (!conv) return;
  conv.topic = str(e.text);
  const text = clean(e.text);
  systemLine(conv, eventDate(e.time), '•', clean(e.nick),
    text ? `changed the topic to: ${text}` : 'cleared the topic');
  if (conv === currentConv()) renderHeader();
}

function onKick(e) {
  const conv = state.convs.get(fold(str(e.room)));
  if (!conv) return;
  const target = clean(e.target);
  const reason = clean(e.reason);
  const why = reason ? ` (${reason})` : '';
  conv.members.delete(fold(target));
  if (isMe(target)) {
    conv.joined = false;
    conv.members.clear();
    systemLine(conv, eventDate(e.time), '←', clean(e.nick), `kicked you from ${conv.name}${why}`);
  } else {
    systemLine(conv, eventDate(e.time), '←', clean(e.nick), ['kicked ', { nick: target }, why]);
  }
  refresh(conv);
}

function onOp(e) {
  const conv = state.convs.get(fold(str(e.room)));
  if (!conv) return;
  const target = clean(e.target);
  const member = conv.members.get(fold(target));
  if (member) member.op = Boolean(e.op);
  const text = e.op
    ? ['made ', { nick: target }, ' an operator']
    : ['removed ', { nick: target }, ' as operator'];
  systemLine(conv, eventDate(e.time), '•', clean(e.nick), text);
  refresh(conv);
}

/** A crowded room's arrivals and departures since its last summary: the
 *  nicks it names go in and out of the member list, the count is the
 *  server's, and one line says it all (no `names` request: in a room that
 *  big every member asking each second would cost more than the joins). */
function onSummary(e) {
  const conv = state.convs.get(fold(str(e.room)));
  if (!conv || !conv.joined) return;
  const nicks = (list) => (Array.isArray(list) ? list : []).map(clean).filter(Boolean);
  const joinedNicks = nicks(e.joined_nicks);
  const leftNicks = nicks(e.left_nicks);
  for (const nick of joinedNicks) conv.members.set(fold(nick), { nick, op: false });
  for (const nick of leftNicks) conv.members.delete(fold(nick));
  if (Number(e.members) > 0) conv.count = Number(e.members);
  const part = (count, names, verb) => {
    const n = Number(count) || 0;
    const more = n > names.length ? ` and ${n - names.length} more` : '';
    return n ? `${n} ${verb} (${names.join(', ')}${more})` : '';
  };
  const text = [part(e.joined, joinedNicks, 'joined'), part(e.left, leftNicks, 'left')]
    .filter(Boolean).join(', ');
  systemLine(conv, eventDate(e.time), '•', '', `${text}; ${conv.count} members`);
  refresh(conv);
}

/** News of a cluster's other servers (unreachable, back, this one fell
 *  behind): said in the room, whose member list is asked for again, since
 *  the server changed it without a join or a quit for each member. */
function onServers(e) {
  const conv = state.convs.get(fold(str(e.room)));
  if (!conv || !conv.joined) return;
  systemLine(conv, eventDate(e.time), '•', '', clean(e.text));
  send({ type: 'names', room: str(e.room) });
}

const MODES = {
  t: ['only operators may change the topic', 'anyone may change the topic'],
  n: ['only members may send to the room', 'anyone may send to the room'],
};

function onMode(e) {
  const conv = state.convs.get(fold(str(e.room)));
  if (!conv) return;
  const mode = str(e.mode);
  const sign = e.on ? '+' : '-';
  const about = has(MODES, mode) ? `: ${MODES[mode][e.on ? 0 : 1]}` : '';
  systemLine(conv, eventDate(e.time), '•', clean(e.nick), `set ${sign}${clean(mode)}${about}`);
}

function onNames(e) {
  const key = fold(str(e.room));
  // Nicks as strings, and which of them are operators.
  const ops = new Set((Array.isArray(e.ops) ? e.ops : []).map((n) => fold(str(n))));
  const nicks = Array.isArray(e.members) ? e.members.filter((n) => typeof n === 'string' && n) : [];
  const members = nicks.map((n) => ({ nick: n, op: ops.has(fold(n)) }));
  const conv = state.convs.get(key);
  if (conv && conv.kind === 'room' && conv.joined) {
    conv.topic = str(e.topic);
    const entries = members.map((m) => [fold(str(m.nick)), { nick: clean(m.nick), op: Boolean(m.op) }]);
    conv.members = new Map(entries);
    // A crowded room lists only us on joining: show its size, not ours.
    conv.count = e.partial && Number(e.count) > 0 ? Number(e.count) : null;
    refresh(conv);
    if (conv === currentConv()) renderHeader();
  }
  if (state.pendingNames.delete(key)) {
    const list = members.map((m) => ({ nick: clean(m.nick), op: Boolean(m.op) })).sort(byRank);
    const parts = [`${clean(e.room)} (${list.length}): `];
    list.forEach((m, i) => parts.push(i ? ', ' : '', m.op ? '@' : '', { nick: m.nick }));
    serverLine('info', parts);
  }
}

function onRooms(e) {
  const rooms = Array.isArray(e.rooms) ? e.rooms : [];
  serverLine('info', rooms.length ? `${rooms.length} room${rooms.length === 1 ? '' : 's'}:` : 'No rooms.');
  for (const r of rooms) {
    const topic = clean(r && r.topic);
    const count = Number(r && r.members) || 0;
    const members = `${count} member${count === 1 ? '' : 's'}`;
    serverLine('info', `${clean(r && r.room)}: ${members}${topic ? `: ${topic}` : ''}`);
  }
}

function onAway(e) {
  const nick = clean(e.nick);
  const conv = state.convs.get(fold(nick)) || displayed();
  const text = clean(e.text);
  serverLine('info', [{ nick }, ` is away${text ? `: ${text}` : ''}`], conv);
}

function onInfo(e) {
  serverLine('info', clean(e.text));
}

function onError(e) {
  const code = str(e.code);
  const aboutNick = code === 'nick_taken' || code === 'bad_nick';
  if (!state.registered && (aboutNick || !ui.login.hidden)) {
    onRegisterError(e);
    return;
  }
  // A join that failed: do not jump to that room if it is joined later.
  if (['already_in_room', 'bad_room', 'too_many_rooms'].includes(code)) state.pendingSwitch = null;
  serverLine('error', clean(e.text) || code || 'error');
}

/** Re-renders what shows `conv`, if it is on screen. */
function refresh(conv) {
  renderRooms();
  if (conv === currentConv()) {
    renderMembers();
    renderHeader();
  }
}

// ------------------------------------------------------------ commands

const COMMANDS = new Map();
const HELP = [];

/** Declares a slash command: its names, a usage line, what it does. */
function command(names, usage, about, run) {
  for (const name of names) COMMANDS.set(name, run);
  HELP.push([usage, about]);
}

command(['help'], '/help', 'this list', () => {
  serverLine('info', 'Commands:');
  for (const [usage, about] of HELP) serverLine('info', `${usage} — ${about}`);
  serverLine('info', 'Keys: Up/Down recall what you sent; Alt+Up/Down or Ctrl+PageUp/PageDown '
    + 'switch conversations; PageUp/PageDown scroll; Escape closes a side panel.');
  return true;
});

command(['join', 'j'], '/join ROOM', 'join a room (# optional) and switch to it', (args) => {
  if (!ROOM_RE.test(args)) return usage('/join ROOM (letters, digits, _ or -)');
  return joinRoom(roomName(args));
});

command(['part', 'leave'], '/part [ROOM] [REASON]', 'leave a room (this one by default)', (args) => {
  const [first, ...rest] = args.split(/\s+/);
  const named = first && (first.startsWith('#') || state.convs.has(fold(roomName(first))));
  const conv = named ? state.convs.get(fold(roomName(first))) : currentConv();
  if (!conv) return named ? usage(`you are not in ${roomName(first)}`) : usage('/part ROOM');
  return leave(conv, named ? rest.join(' ') : args);
});

command(['msg', 'query'], '/msg NICK [TEXT]', 'a private message (opens the conversation)', (args) => {
  const [, to, text] = /^(\S+)\s*(.*)$/.exec(args) || [];
  if (!to) return usage('/msg NICK TEXT');
  if (to.startsWith('#')) return text ? sendMessage(to, text) : usage('/msg #ROOM TEXT');
  if (!NICK_RE.test(to)) return usage('/msg NICK TEXT');
  if (!text) {
    openQuery(to);
    return true;
  }
  if (!sendMessage(to, text)) return false;
  openQuery(to);
  return true;
});

command(['me'], '/me TEXT', 'an action: * yournick TEXT', (args) => {
  const conv = currentConv();
  if (!args) return usage('/me TEXT');
  return conv ? sendMessage(conv.name, args, 'act') : notInRoom();
});

command(['notice'], '/notice TARGET TEXT', 'a notice to a room or a nick', (args) => {
  const [, to, text] = /^(\S+)\s+(.+)$/.exec(args) || [];
  return to ? sendMessage(to, text, 'notice') : usage('/notice TARGET TEXT');
});

command(['nick'], '/nick NAME', 'change your nick', (args) => {
  if (!NICK_RE.test(args)) return usage('/nick NAME (1 to 32 letters, digits, _ or -)');
  return send({ type: 'nick', nick: args });
});

command(['topic'], '/topic [TEXT]', 'show or set the topic ("/topic -" clears it)', (args) => {
  const conv = currentConv();
  if (!conv || conv.kind !== 'room') return notInRoom();
  if (!args) {
    serverLine('info', conv.topic ? `Topic of ${conv.name}: ${clean(conv.topic)}` : `${conv.name} has no topic.`);
    return true;
  }
  return send({ type: 'topic', room: conv.name, text: args === '-' ? '' : args });
});

command(['names', 'who'], '/names [ROOM]', "who is in a room (/who: this one)", (args) => {
  const conv = currentConv();
  const room = args ? roomName(args) : conv && conv.kind === 'room' ? conv.name : '';
  if (!room || !ROOM_RE.test(room)) return args ? usage('/names ROOM') : notInRoom();
  state.pendingNames.add(fold(room));
  return send({ type: 'names', room });
});

command(['rooms', 'list'], '/rooms', 'list the rooms', () => send({ type: 'rooms' }));

command(['away'], '/away [TEXT]', 'set an away message; without TEXT, clear it', (args) => (
  send(args ? { type: 'away', text: args } : { type: 'away' })));

command(['kick'], '/kick NICK [REASON]', 'remove someone from this room (operators)', (args) => {
  const conv = currentConv();
  const [, nick, reason] = /^(\S+)\s*(.*)$/.exec(args) || [];
  if (!nick) return usage('/kick NICK [REASON]');
  if (!conv || conv.kind !== 'room') return notInRoom();
  const kick = { type: 'kick', room: conv.name, nick };
  return send(reason ? { ...kick, reason } : kick);
});

command(['clear'], '/clear', 'empty this conversation on screen', () => {
  const conv = displayed();
  conv.lines = [];
  conv.lastDay = '';
  ui.messages.replaceChildren();
  return true;
});

command(['quit'], '/quit [REASON]', 'leave the chat', (args) => {
  if (!send(args ? { type: 'quit', reason: args } : { type: 'quit' })) return false;
  state.quitting = true;
  return true;
});

// Handled by runInput before any command, but worth listing.
HELP.push(['//TEXT', 'send a line that starts with /']);

function usage(text) {
  localError(`Usage: ${text}`);
  return false;
}

function notInRoom() {
  localError('Not in a room: /join ROOM first.');
  return false;
}

function joinRoom(name) {
  const conv = state.convs.get(fold(name));
  if (conv && conv.joined) {
    switchTo(conv.key);
    return true;
  }
  state.pendingSwitch = fold(name);
  return send({ type: 'join', room: name });
}

/** × on an entry, or /part: leave a room; close a private conversation. */
function leave(conv, reason = '') {
  if (conv.kind === 'room' && conv.joined) {
    return send(reason ? { type: 'part', room: conv.name, reason } : { type: 'part', room: conv.name });
  }
  removeConv(conv.key); // nothing to tell the server
  return true;
}

function sendMessage(to, text, kind = 'say') {
  const message = { type: 'message', to, text };
  if (kind !== 'say') message.kind = kind;
  return send(message);
}

/** Plain text: to the open room, or to the nick of a private conversation. */
function say(text) {
  const conv = currentConv();
  if (!conv) return notInRoom();
  if (conv.kind === 'room' && !conv.joined) {
    localError(`You are not in ${conv.name}: /join ${conv.name} to go back.`);
    return false;
  }
  return sendMessage(conv.name, text);
}

/** Runs one line from the input box; true if it is done with. */
function runInput(line) {
  if (line.startsWith('//')) return say(line.slice(1));
  if (!line.startsWith('/')) return say(line);
  const [, name, args] = /^\/(\S*)\s*(.*)$/.exec(line);
  const run = COMMANDS.get(name.toLowerCase());
  if (!run) {
    localError(`Unknown command /${name}: type /help for the list.`);
    return false;
  }
  return run(args.trim());
}

// ------------------------------------------------------------ the input

function onInputSubmit(ev) {
  ev.preventDefault();
  const line = ui.input.value.trim();
  if (!line) return;
  remember(line);
  if (runInput(line)) ui.input.value = '';
  scrollToBottom();
}

function remember(line) {
  const h = state.history;
  if (h[h.length - 1] !== line) h.push(line);
  if (h.length > MAX_HISTORY) h.shift();
  state.historyPos = -1;
  state.draft = '';
}

/** Up/Down walk through what was sent, shell-like; the draft is kept. */
function recall(step) {
  const h = state.history;
  if (!h.length) return;
  if (state.historyPos === -1) {
    if (step > 0) return;
    state.draft = ui.input.value;
    state.historyPos = h.length;
  }
  const pos = state.historyPos + step;
  if (pos < 0) return;
  if (pos >= h.length) {
    state.historyPos = -1;
    setInput(state.draft);
    return;
  }
  state.historyPos = pos;
  setInput(h[pos]);
}

function setInput(text) {
  ui.input.value = text;
  ui.input.setSelectionRange(text.length, text.length);
}

function onInputKey(ev) {
  if (ev.altKey || ev.ctrlKey || ev.metaKey || ev.shiftKey || ev.isComposing) return;
  const pageKeys = { PageUp: -1, PageDown: 1 };
  if (ev.key === 'ArrowUp' || ev.key === 'ArrowDown') {
    ev.preventDefault();
    recall(ev.key === 'ArrowUp' ? -1 : 1);
  } else if (has(pageKeys, ev.key)) {
    // The input keeps focus while the log scrolls.
    ev.preventDefault();
    ui.messages.scrollBy({ top: pageKeys[ev.key] * ui.messages.clientHeight * 0.9 });
  }
}

function onGlobalKey(ev) {
  if (ui.app.hidden) return;
  const altArrow = ev.altKey && !ev.ctrlKey && (ev.key === 'ArrowUp' || ev.key === 'ArrowDown');
  const ctrlPage = ev.ctrlKey && !ev.altKey && (ev.key === 'PageUp' || ev.key === 'PageDown');
  if (altArrow || ctrlPage) {
    ev.preventDefault();
    cycleConv(ev.key === 'ArrowUp' || ev.key === 'PageUp' ? -1 : 1);
  } else if (ev.key === 'Escape' && closeDrawers()) {
    ev.preventDefault();
  }
}

// --------------------------------------------------------- side panels

const DRAWERS = {
  rooms: { toggle: ui.toggleRooms, panel: $('sidebar') },
  members: { toggle: ui.toggleMembers, panel: $('memberbar') },
};

/** On a narrow screen the side panels slide over the chat. */
function toggleDrawer(which) {
  const opening = !ui.app.classList.contains(`show-${which}`);
  closeDrawers(false);
  if (!opening) return;
  ui.app.classList.add(`show-${which}`);
  DRAWERS[which].toggle.setAttribute('aria-expanded', 'true');
  const first = DRAWERS[which].panel.querySelector('.active .room-btn, button, input');
  if (first) first.focus();
}

/** Closes an open panel; true if one was open. */
function closeDrawers(refocus = true) {
  let closed = false;
  for (const [which, drawer] of Object.entries(DRAWERS)) {
    if (!ui.app.classList.contains(`show-${which}`)) continue;
    ui.app.classList.remove(`show-${which}`);
    drawer.toggle.setAttribute('aria-expanded', 'false');
    if (refocus && drawer.panel.contains(document.activeElement)) drawer.toggle.focus();
    closed = true;
  }
  return closed;
}

// ------------------------------------------------------------- wiring

function onRoomsClick(ev) {
  const item = ev.target.closest('.room');
  if (!item) return;
  const conv = state.convs.get(fold(item.dataset.room));
  if (!conv) return;
  if (ev.target.closest('.leave')) {
    leave(conv);
    return;
  }
  switchTo(conv.key);
  closeDrawers(false);
  if (!narrowScreen.matches) ui.input.focus();
}

function onMembersClick(ev) {
  const button = ev.target.closest('.member-btn');
  if (!button) return;
  openQuery(button.closest('.member').dataset.nick);
  closeDrawers(false);
  ui.input.focus();
}

function onJoinSubmit(ev) {
  ev.preventDefault();
  const name = ui.joinInput.value.trim();
  if (!name) return;
  if (!ROOM_RE.test(name)) {
    localError('A room name is 1 to 32 letters, digits, _ or - (# optional).');
    return;
  }
  if (joinRoom(roomName(name))) {
    ui.joinInput.value = '';
    closeDrawers(false);
    ui.input.focus();
  }
}

function start() {
  ui.nickInput.value = loadNick();
  ui.nickForm.addEventListener('submit', onNickSubmit);
  ui.inputForm.addEventListener('submit', onInputSubmit);
  ui.input.addEventListener('keydown', onInputKey);
  ui.joinForm.addEventListener('submit', onJoinSubmit);
  ui.rooms.addEventListener('click', onRoomsClick);
  ui.members.addEventListener('click', onMembersClick);
  ui.messages.addEventListener('scroll', () => { if (atBottom()) ui.jump.hidden = true; });
  ui.jump.addEventListener('click', () => { scrollToBottom(); ui.input.focus(); });
  ui.reconnect.addEventListener('click', connect);
  ui.toggleRooms.addEventListener('click', () => toggleDrawer('rooms'));
  ui.toggleMembers.addEventListener('click', () => toggleDrawer('members'));
  ui.backdrop.addEventListener('click', () => closeDrawers());
  narrowScreen.addEventListener('change', () => closeDrawers(false));
  document.addEventListener('keydown', onGlobalKey);
  // Back online: no need to sit out the rest of the backoff.
  window.addEventListener('online', () => { if (state.conn === 'reconnecting') connect(); });
  renderHeader();
  ui.nickInput.focus();
}

start();
