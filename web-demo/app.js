// The threadmem web demo: several chat threads with memory, over an
// OpenAI-compatible endpoint or the offline demo model, with export and
// import in Agent Framework's JSON format; threads kept in IndexedDB (or
// localStorage), long-term memory across threads, and summaries of what
// leaves the context window. Uses the package as any page
// would, without a bundler. Every text a person or a model wrote is put in
// the page with textContent, never parsed as HTML.

import {
  AgentThread, ChatAgent, OpenAIChatClient, ChatMessage, ChatMessageStore, ContextProvider, Context,
  IndexedDBChatMessageStore, MemoryProvider, SummaryProvider,
} from '../js/index.js';
import { createOfflineModel, OFFLINE_MODEL } from './offline-model.js';
import { ThreadList } from './threads.js';

const $ = (id) => document.getElementById(id);
const el = {
  status: $('status'),
  newThread: $('new-thread'),
  threadList: $('thread-list'),
  importFile: $('import-file'),
  settingsForm: $('settings-form'),
  endpointFields: $('endpoint-fields'),
  baseURL: $('base-url'),
  model: $('model'),
  apiKey: $('api-key'),
  rememberKey: $('remember-key'),
  instructions: $('instructions'),
  notes: $('notes'),
  threadTitle: $('thread-title'),
  threadMeta: $('thread-meta'),
  exportThread: $('export-thread'),
  deleteThread: $('delete-thread'),
  error: $('error'),
  errorCode: $('error-code'),
  errorMessage: $('error-message'),
  errorDismiss: $('error-dismiss'),
  messages: $('messages'),
  empty: $('empty'),
  composer: $('composer'),
  input: $('input'),
  send: $('send'),
  requestBody: $('request-body'),
  windowTokens: $('window-tokens'),
  windowEncoding: $('window-encoding'),
  windowMeter: $('window-meter'),
  windowSummary: $('window-summary'),
  storage: $('storage-backend'),
  memoryList: $('memory-list'),
  memoryEmpty: $('memory-empty'),
  memoryForm: $('memory-form'),
  memoryInput: $('memory-input'),
};

// ---------------------------------------------------------------- settings

const SETTINGS_KEY = 'threadmem-demo:settings';
const API_KEY_KEY = 'threadmem-demo:api-key';
const DEFAULTS = {
  provider: 'offline',
  baseURL: 'https://api.openai.com/v1',
  model: 'gpt-4o-mini',
  instructions: 'You are a helpful assistant.',
  notes: '',
  // Small enough that a few dozen offline turns show messages leaving it.
  windowTokens: 2000,
  windowEncoding: 'o200k_base',
  storage: 'indexeddb',
};

function loadSettings() {
  let saved = {};
  try {
    saved = JSON.parse(localStorage.getItem(SETTINGS_KEY) || '{}') || {};
  } catch {
    saved = {};
  }
  const settings = { ...DEFAULTS };
  for (const k of Object.keys(DEFAULTS)) if (typeof saved[k] === typeof DEFAULTS[k]) settings[k] = saved[k];
  const remembered = storageGet(localStorage, API_KEY_KEY);
  settings.apiKey = remembered ?? storageGet(sessionStorage, API_KEY_KEY) ?? '';
  settings.rememberKey = remembered != null;
  return settings;
}

function saveSettings() {
  const s = readForm();
  const { apiKey, rememberKey, ...rest } = s;
  storageSet(localStorage, SETTINGS_KEY, JSON.stringify(rest));
  // The key lives for this tab only unless the person asked to remember it.
  if (rememberKey && apiKey) {
    storageSet(localStorage, API_KEY_KEY, apiKey);
    storageRemove(sessionStorage, API_KEY_KEY);
  } else {
    storageRemove(localStorage, API_KEY_KEY);
    if (apiKey) storageSet(sessionStorage, API_KEY_KEY, apiKey);
    else storageRemove(sessionStorage, API_KEY_KEY);
  }
}

function storageGet(storage, key) {
  try {
    return storage.getItem(key);
  } catch {
    return null;
  }
}
function storageSet(storage, key, value) {
  try {
    storage.setItem(key, value);
  } catch {
    /* storage may be disabled or full: the settings then last for this page only */
  }
}
function storageRemove(storage, key) {
  try {
    storage.removeItem(key);
  } catch {
    /* as above */
  }
}

function fillForm(s) {
  for (const radio of el.settingsForm.elements.provider) radio.checked = radio.value === s.provider;
  el.baseURL.value = s.baseURL;
  el.model.value = s.model;
  el.apiKey.value = s.apiKey;
  el.rememberKey.checked = s.rememberKey;
  el.instructions.value = s.instructions;
  el.notes.value = s.notes;
  el.windowTokens.value = String(s.windowTokens);
  el.windowEncoding.value = s.windowEncoding;
  el.storage.value = s.storage;
  showEndpointFields();
}

function readForm() {
  return {
    provider: el.settingsForm.elements.provider.value || 'offline',
    baseURL: el.baseURL.value.trim() || DEFAULTS.baseURL,
    model: el.model.value.trim() || DEFAULTS.model,
    apiKey: el.apiKey.value.trim(),
    rememberKey: el.rememberKey.checked,
    instructions: el.instructions.value,
    notes: el.notes.value,
    windowTokens: Math.max(100, Math.round(Number(el.windowTokens.value)) || DEFAULTS.windowTokens),
    windowEncoding: el.windowEncoding.value || DEFAULTS.windowEncoding,
    storage: el.storage.value === 'localstorage' ? 'localstorage' : 'indexeddb',
  };
}

// The agent's context window: a quarter of the budget (at most 1,000
// tokens) stays free for the reply.
function windowOptions(s) {
  const reserveTokens = Math.min(1000, Math.floor(s.windowTokens / 4));
  return { maxTokens: s.windowTokens, reserveTokens, encoding: s.windowEncoding };
}

function showEndpointFields() {
  const online = el.settingsForm.elements.provider.value === 'openai';
  el.endpointFields.hidden = !online;
}

// ---------------------------------------------------------------- the agent

// A context provider: the person's notes go into every request as extra
// instructions, showing how a provider adds context around a run.
class NotesProvider extends ContextProvider {
  constructor(getNotes) {
    super();
    this.getNotes = getNotes;
  }

  async invoking() {
    const notes = this.getNotes().trim();
    return notes ? new Context({ instructions: `Notes from the user: ${notes}` }) : undefined;
  }
}

function localStorageKeyValue(prefix) {
  return {
    get: (key) => storageGet(localStorage, prefix + key),
    put: (key, value) => localStorage.setItem(prefix + key, value),
    set: (key, value) => localStorage.setItem(prefix + key, JSON.stringify(value)),
    delete: (key) => localStorage.removeItem(prefix + key),
  };
}
// Long-term memory of the person using the page, shared by every thread and
// kept where the threads are: facts are extracted after each turn by the
// model (the offline one does it too) and recalled in any thread. In
// IndexedDB the index lives in a message store of its own database (so it
// is never listed as a thread), which keeps only its newest snapshot.
function memoryStorage(backend) {
  return backend === 'localstorage'
    ? localStorageKeyValue('threadmem-demo:memory:')
    : new IndexedDBChatMessageStore({ dbName: 'threadmem-demo-memory', threadId: 'long-term-memory', maxMessages: 1 });
}
let memory = null; // made by main() for the chosen storage
// Summaries of the turns each thread's window drops, per thread; the
// provider is made with each agent (its room depends on the budget).
const summaryKeyValue = localStorageKeyValue('threadmem-demo:');
const summaryStorage = {
  get: (key) => JSON.parse(summaryKeyValue.get(key) ?? 'null') ?? undefined,
  set: summaryKeyValue.set,
  delete: summaryKeyValue.delete,
};
let summaries = new SummaryProvider({ storage: summaryStorage, onWarning: showWarning });

// Records what the page sent to the model, for the "last request" view.
// The body never holds the API key: that travels in a header.
function recording(client) {
  return {
    get model() {
      return client.model;
    },
    // Providers' own requests (memory extraction, summaries): not shown.
    async getResponse(body, options) {
      return client.getResponse(body, options);
    },
    async getStreamingResponse(body, options) {
      showRequest(body);
      return client.getStreamingResponse(body, options);
    },
    redact: (text) => (client.redact ? client.redact(text) : text),
  };
}

let agent = null;
let agentKey = '';

// The agent for the current settings; rebuilt when they change (only
// between runs: the page sends one message at a time).
function currentAgent() {
  const s = readForm();
  const key = JSON.stringify([s.provider, s.baseURL, s.model, s.apiKey, s.instructions, s.windowTokens, s.windowEncoding]);
  if (agent && key === agentKey) return agent;
  const chatClient =
    s.provider === 'openai'
      ? new OpenAIChatClient({ baseURL: s.baseURL, apiKey: s.apiKey || undefined, model: s.model })
      : createOfflineModel();
  agent?.close();
  const window = windowOptions(s);
  summaries = new SummaryProvider({
    summaryMaxTokens: Math.max(40, Math.floor((window.maxTokens - window.reserveTokens) / 4)),
    storage: summaryStorage,
    onWarning: showWarning,
  });
  agent = new ChatAgent({
    chatClient: recording(chatClient),
    instructions: s.instructions.trim() || undefined,
    name: 'Assistant',
    // Imports are read into memory first, then copied into a stored thread.
    chatMessageStoreFactory: () => new ChatMessageStore(),
    // The summary last: it makes room for what the others add.
    contextProviders: [new NotesProvider(() => el.notes.value), memory, summaries],
    contextWindow: window,
  });
  agentKey = key;
  return agent;
}

// ---------------------------------------------------------------- threads

let threads = null; // the ThreadList of the chosen storage, once loaded
let currentId = null;
const CURRENT_KEY = 'threadmem-demo:current';

function setCurrent(id) {
  currentId = id;
  storageSet(localStorage, CURRENT_KEY, id);
}
let busy = false;

async function newThread() {
  const entry = await threads.create();
  setCurrent(entry.id);
  await render();
  el.input.focus();
}

async function selectThread(id) {
  if (busy || id === currentId) return;
  setCurrent(id);
  clearError();
  await render();
}

async function renameCurrent() {
  if (!currentId) return;
  const entry = await threads.rename(currentId, el.threadTitle.value);
  el.threadTitle.value = entry ? entry.title : '';
  await renderThreadList();
}

let deleteArmed = null;
async function deleteCurrent() {
  if (!currentId || busy) return;
  // Two clicks, so a slip does not lose a conversation.
  if (!deleteArmed) {
    el.deleteThread.textContent = 'Click again to delete';
    deleteArmed = setTimeout(disarmDelete, 3000);
    return;
  }
  disarmDelete();
  // Its summary goes with it: it holds what the thread said.
  const entry = await threads.get(currentId);
  if (entry) await summaries.deleteSummary(entry.thread);
  lastUsage.delete(currentId);
  await threads.remove(currentId);
  const rest = await threads.list();
  setCurrent(rest.length ? rest[rest.length - 1].id : (await threads.create()).id);
  await render();
}

function disarmDelete() {
  clearTimeout(deleteArmed);
  deleteArmed = null;
  el.deleteThread.textContent = 'Delete';
}

async function exportCurrent() {
  const entry = await threads.get(currentId);
  if (!entry) return;
  try {
    // The stored thread serializes as a reference to its store; the export
    // carries the messages themselves, in Agent Framework's shape.
    const copy = new ChatMessageStore(await entry.thread.messageStore.listMessages());
    let state;
    try {
      state = await new AgentThread({ messageStore: copy }).serialize();
    } finally {
      copy.close();
    }
    const blob = new Blob([`${JSON.stringify(state, null, 2)}\n`], { type: 'application/json' });
    const url = URL.createObjectURL(blob);
    const a = document.createElement('a');
    a.href = url;
    a.download = `${fileName(entry.title)}.json`;
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10000);
  } catch (err) {
    showError(err);
  }
}

async function importFile(file) {
  clearError();
  try {
    const text = await file.text();
    // The core reads the text itself, so malformed JSON is reported as
    // INVALID_JSON and a wrong shape as INVALID_FORMAT with its path.
    const thread = await currentAgent().deserializeThread(text);
    if (thread.serviceThreadId) {
      throw new Error('this thread lives with its service (service_thread_id): it has no messages to import');
    }
    const entry = await threads.adopt(thread, file.name.replace(/\.json$/i, ''));
    setCurrent(entry.id);
    await render();
  } catch (err) {
    showError(err);
  }
}

function fileName(title) {
  return (title || 'thread').replace(/[^\p{L}\p{N}._-]+/gu, '-').replace(/^-+|-+$/g, '') || 'thread';
}

// ---------------------------------------------------------------- chatting

async function send(text) {
  if (busy || !text.trim()) return;
  const entry = await threads.get(currentId);
  if (!entry) return;
  clearError();
  setBusy(true);
  const pending = appendPending(text);
  try {
    const before = await messageCount(entry.thread);
    // The reply is shown as it arrives; the thread gets the turn only once
    // it is complete.
    let result;
    for await (const update of currentAgent().runStream(new ChatMessage('user', text), { thread: entry.thread })) {
      if (update.type === 'text_delta') pending.append(update.text);
      else if (update.type === 'tool_call') pending.note(`calling ${update.name}…`);
      else if (update.type === 'response') result = update.response;
    }
    const s = readForm();
    lastUsage.set(entry.id, {
      usage: result.usage,
      model: s.provider === 'openai' ? s.model : OFFLINE_MODEL,
      window: result.window && { ...result.window, ...windowOptions(s), historyLength: before },
    });
    el.input.value = '';
  } catch (err) {
    // A failed run leaves the thread as it was: the message is not stored,
    // so it stays in the box to try again.
    showError(err);
  } finally {
    pending.remove();
    setBusy(false);
    await render();
    el.input.focus();
  }
}

const lastUsage = new Map(); // thread id -> { usage, model } of its last run

function setBusy(on) {
  busy = on;
  el.send.disabled = on;
  el.send.textContent = on ? 'Waiting…' : 'Send';
  el.newThread.disabled = on;
  el.importFile.disabled = on;
  el.deleteThread.disabled = on;
  el.threadList.classList.toggle('locked', on);
}

// The user's message, shown while the model answers (not yet stored).
function appendPending(text) {
  el.empty.hidden = true;
  const li = messageItem('user', [{ type: 'text', text }]);
  li.classList.add('pending');
  const typing = document.createElement('li');
  typing.className = 'message assistant typing';
  typing.textContent = 'Assistant is answering…';
  el.messages.append(li, typing);
  scrollToEnd();
  let content = null; // the streamed text so far
  return {
    append(text) {
      if (!content) {
        content = document.createElement('div');
        content.className = 'content';
        typing.replaceChildren(content);
        typing.classList.add('streaming');
      }
      content.textContent += text;
      scrollToEnd();
    },
    note(text) {
      if (!content) typing.textContent = text;
    },
    remove: () => { li.remove(); typing.remove(); },
  };
}

// ---------------------------------------------------------------- rendering

async function render() {
  await renderThreadList();
  await renderMessages();
  await renderMemory();
}

// The facts long-term memory holds, each with a delete button.
async function renderMemory() {
  const facts = await memory.list();
  el.memoryList.replaceChildren(
    ...facts.map((f) => {
      const li = document.createElement('li');
      li.className = 'fact';
      const text = document.createElement('span');
      text.textContent = f.text;
      const del = document.createElement('button');
      del.type = 'button';
      del.className = 'small';
      del.textContent = 'Delete';
      del.setAttribute('aria-label', `Delete the fact: ${f.text}`);
      // Forgotten, not just deleted: nothing of the fact stays in storage.
      del.addEventListener('click', () => memory.forget(f.id).then(renderMemory).catch(showError));
      li.append(text, del);
      return li;
    }),
  );
  el.memoryEmpty.hidden = facts.length > 0;
}

async function renderThreadList() {
  const entries = await threads.list();
  const items = [];
  for (const entry of entries) {
    const li = document.createElement('li');
    const button = document.createElement('button');
    button.type = 'button';
    button.className = 'thread-item';
    button.dataset.id = entry.id;
    if (entry.id === currentId) {
      button.classList.add('active');
      button.setAttribute('aria-current', 'true');
    }
    const title = document.createElement('span');
    title.className = 'thread-name';
    title.textContent = entry.title;
    const count = document.createElement('span');
    count.className = 'thread-count';
    const n = await messageCount(entry.thread);
    count.textContent = String(n);
    count.title = `${n} stored message${n === 1 ? '' : 's'}`;
    button.append(title, count);
    button.addEventListener('click', () => selectThread(entry.id).catch(showError));
    li.append(button);
    items.push(li);
  }
  el.threadList.replaceChildren(...items);
}

async function messageCount(thread) {
  const store = thread.messageStore;
  if (!store) return 0;
  if (store instanceof ChatMessageStore || typeof store.count === 'function') return store.count();
  return (await store.listMessages()).length;
}

async function renderMessages() {
  const id = currentId;
  const entry = await threads.get(id);
  const messages = entry?.thread.messageStore ? await entry.thread.messageStore.listMessages() : [];
  const summary = entry ? await summaries.getSummary(entry.thread) : undefined;
  // Another thread was chosen meanwhile: its own render paints the page.
  if (id !== currentId) return;
  disarmDelete();
  el.threadTitle.value = entry ? entry.title : '';
  const last = entry && lastUsage.get(entry.id);
  const notSent = droppedByLastRequest(messages, last?.window);
  const summarizedUpTo = summary ? messages.findIndex((m) => m.messageId === summary.last_message_id) : -1;
  el.messages.replaceChildren(
    ...messages.map((m, i) => {
      const li = messageItem(m.role, m.contents, m);
      if (notSent.has(i) && i <= summarizedUpTo) {
        li.classList.add('dropped', 'summarized');
        li.title = 'Not sent in the last request: a summary stood in for it (it is still stored).';
      } else if (notSent.has(i)) {
        li.classList.add('dropped');
        li.title = 'Not sent in the last request: it fell out of the context window (it is still stored).';
      }
      return li;
    }),
  );
  el.empty.hidden = messages.length > 0;
  el.messages.dataset.threadId = id ?? '';
  showWindow(last?.window, notSent.size && summarizedUpTo >= 0 ? Math.min(summarizedUpTo + 1, notSent.size) : 0);
  let meta = `${messages.length} message${messages.length === 1 ? '' : 's'}`;
  if (last) meta += ` · last reply: ${last.usage.totalTokens} tokens (${last.model})`;
  el.threadMeta.textContent = meta;
  scrollToEnd();
}

const ROLE_LABELS = { user: 'You', assistant: 'Assistant', system: 'System', tool: 'Tool' };

function messageItem(role, contents, message) {
  const li = document.createElement('li');
  li.className = `message ${role}`;
  const head = document.createElement('div');
  head.className = 'message-head';
  const who = document.createElement('span');
  who.className = 'role';
  const label = ROLE_LABELS[role] ?? role;
  const author = message?.authorName;
  who.textContent = author && author !== label ? `${label} (${author})` : label;
  head.append(who);
  if (message?.createdAt) {
    const time = document.createElement('time');
    time.dateTime = message.createdAt;
    const d = new Date(message.createdAt);
    time.textContent = Number.isNaN(d.getTime()) ? message.createdAt : d.toLocaleTimeString();
    head.append(time);
  }
  li.append(head);
  for (const c of contents ?? []) {
    const body = document.createElement('div');
    body.className = `content ${c.type}`;
    body.textContent = contentText(c);
    li.append(body);
  }
  return li;
}

function contentText(c) {
  switch (c.type) {
    case 'text':
    case 'text_reasoning':
      return c.text ?? '';
    case 'function_call':
      return `→ calls ${c.name}(${typeof c.arguments === 'string' ? c.arguments : JSON.stringify(c.arguments ?? {})})`;
    case 'function_result':
      return `← result: ${typeof c.result === 'string' ? c.result : JSON.stringify(c.result)}`;
    case 'data':
    case 'uri':
      return `[${c.media_type ?? 'attachment'}] ${String(c.uri ?? '').slice(0, 80)}`;
    default:
      return `[${c.type}]`;
  }
}

// The indexes of the stored messages the last request left out. The window
// sends the history's leading system messages and then its newest messages,
// so what it dropped is the run right after those.
function droppedByLastRequest(messages, window) {
  const dropped = new Set();
  if (!window || window.historyDropped === 0) return dropped;
  let lead = 0;
  while (lead < window.historyLength && messages[lead]?.role === 'system') lead++;
  for (let i = lead; i < lead + window.historyDropped; i++) dropped.add(i);
  return dropped;
}

function showWindow(window, summarized = 0) {
  if (!window) {
    el.windowMeter.value = 0;
    el.windowSummary.textContent = 'Context window: nothing sent from this thread yet.';
    return;
  }
  const budget = window.maxTokens - window.reserveTokens;
  el.windowMeter.max = budget;
  el.windowMeter.value = Math.min(window.tokens, budget);
  const n = (k, what) => `${k} ${what}${k === 1 ? '' : 's'}`;
  el.windowSummary.textContent =
    `Context window: ${window.tokens} of ${budget} tokens (${window.maxTokens} − ${window.reserveTokens} ` +
    `kept for the reply, ${window.encoding}); sent ${n(window.historySent, 'earlier message')}, ` +
    `left out ${n(window.historyDropped, 'older message')} (shown faded, still stored)` +
    (summarized ? `, ${summarized} of them summarized into one message.` : '.');
}

function showRequest(body) {
  let text = typeof body === 'string' ? body : JSON.stringify(body);
  try {
    text = JSON.stringify(JSON.parse(text), null, 2);
  } catch {
    /* shown as it is */
  }
  el.requestBody.textContent = text;
}

function scrollToEnd() {
  el.messages.lastElementChild?.scrollIntoView({ block: 'end' });
}

// ---------------------------------------------------------------- errors

function showError(err) {
  console.warn(err);
  const code = err && typeof err.code === 'string' ? err.code : err?.name || 'Error';
  let message = err && err.message ? err.message : String(err);
  if (err?.status !== undefined && !message.includes(String(err.status))) message += ` (HTTP ${err.status})`;
  if (err?.cause?.message && !message.includes(err.cause.message)) message += ` — ${err.cause.message}`;
  el.errorCode.textContent = code;
  el.errorMessage.textContent = message;
  el.error.hidden = false;
}

// What a provider reports without failing the run (a memory extraction or a
// summary that did not work out): shown in the status line, as the run
// itself went on.
function showWarning(message) {
  console.warn(message);
  el.status.textContent = message;
  el.status.classList.add('status-warning');
}

function clearError() {
  el.error.hidden = true;
  el.errorCode.textContent = '';
  el.errorMessage.textContent = '';
}

// ---------------------------------------------------------------- wiring

function wire() {
  el.newThread.addEventListener('click', () => newThread().catch(showError));
  el.threadTitle.addEventListener('change', () => renameCurrent().catch(showError));
  el.threadTitle.addEventListener('keydown', (e) => {
    if (e.key === 'Enter') el.threadTitle.blur();
  });
  el.deleteThread.addEventListener('click', () => deleteCurrent().catch(showError));
  el.exportThread.addEventListener('click', () => exportCurrent());
  el.importFile.addEventListener('change', () => {
    const file = el.importFile.files?.[0];
    el.importFile.value = '';
    if (file) importFile(file);
  });
  el.errorDismiss.addEventListener('click', clearError);

  el.composer.addEventListener('submit', (e) => {
    e.preventDefault();
    send(el.input.value).catch(showError);
  });
  el.input.addEventListener('keydown', (e) => {
    if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
      e.preventDefault();
      el.composer.requestSubmit();
    }
  });
  for (const b of document.querySelectorAll('.suggestion')) {
    b.addEventListener('click', () => {
      el.input.value = b.textContent;
      el.composer.requestSubmit();
    });
  }

  el.settingsForm.addEventListener('submit', (e) => e.preventDefault());
  el.settingsForm.addEventListener('input', () => {
    showEndpointFields();
    saveSettings();
  });
  el.settingsForm.addEventListener('change', (e) => {
    showEndpointFields();
    saveSettings();
    // Another storage: its own threads, loaded fresh.
    if (e.target === el.storage) location.reload();
  });
  el.memoryForm.addEventListener('submit', (e) => {
    e.preventDefault();
    const text = el.memoryInput.value.trim();
    if (!text) return;
    memory.add(text).then(() => {
      el.memoryInput.value = '';
      return renderMemory();
    }).catch(showError);
  });
}

async function main() {
  const settings = loadSettings();
  fillForm(settings);
  memory = new MemoryProvider({
    userId: 'demo-user',
    applicationId: 'threadmem-demo',
    storage: memoryStorage(settings.storage),
    contextPrompt: 'Known facts about the user (long-term memory):',
    onWarning: showWarning,
  });
  wire();
  try {
    currentAgent();
  } catch (err) {
    showError(err); // saved settings the client refuses: the page starts, to change them
  }
  threads = new ThreadList({ backend: settings.storage });
  await threads.load();
  const saved = storageGet(localStorage, CURRENT_KEY);
  const all = await threads.list();
  setCurrent(all.some((e) => e.id === saved) ? saved : all.length ? all[all.length - 1].id : (await threads.create()).id);
  await render();
  for (const c of [el.newThread, el.importFile, el.threadTitle, el.exportThread, el.deleteThread, el.input, el.send]) {
    c.disabled = false;
  }
  const where = settings.storage === 'localstorage' ? 'localStorage' : 'IndexedDB';
  el.status.textContent = `Ready. Threads and long-term memory are kept in ${where}.`;
  document.body.dataset.ready = 'true';
  el.input.focus();
}

main().catch((err) => {
  showError(err);
  el.status.textContent = 'The demo failed to start.';
  el.status.classList.add('status-error');
});
