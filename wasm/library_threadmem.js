/*
 * The host imports of the core, for the package (Emscripten --js-library).
 *
 * This table must match src/host.h exactly, and tests/c/host_native.c (the
 * native implementation used by the C tests) must match it too. The async
 * imports are also listed in wasm/asyncify_imports.json.
 *
 * Every import delegates to the object the JS package installs on the module
 * instance, Module.tmHost:
 *   now() -> number (ms since the epoch)       random(n) -> Uint8Array(n)
 *   llm(ctx, requestJson) -> Promise<string>    tools(ctx, callsJson) -> Promise<string>
 *   llmOpen(ctx, requestJson) -> Promise<void>  llmNext(ctx) -> Promise<string|null>
 *   emit(ctx, eventJson): an update of a streamed run (sync, queued by the host)
 *   storeList(ctx) -> Promise<string>           storeAdd(ctx, messagesJson) -> Promise<void>
 *   invoking(ctx, json) -> Promise<string>      invoked(ctx, json) -> Promise<void>
 *   fail(ctx, error): keeps the cause of a failed import for the public call
 *   count(text) -> integer: the current token counter (sync; keeps its own
 *     failure, as it is called outside any run too)
 *
 * No exception ever reaches C: a throw or a rejection is handed to
 * tmHost.fail() and the import returns TM_EHOST. Exceptions thrown through
 * suspended C frames would leave the core's state half-changed.
 *
 * Asyncify rules followed here:
 *  - Everything that must happen once (reading arguments, clearing *out)
 *    happens inside the function given to Asyncify.handleAsync: the import
 *    itself is called a second time when the core resumes, and code outside
 *    that function would run again then.
 *  - The promise given to handleAsync never rejects (this Emscripten has no
 *    rejection path there; a rejection would hang the run).
 *  - No view of the heap is kept across an await: memory may grow meanwhile.
 *    Results are written through HEAP32 as it is after the await.
 */

mergeInto(LibraryManager.library, {
  // Result codes of src/threadmem.h used here.
  $TM_CODES: {OK: 0, ENOMEM: 1, EHOST: 7},

  // Hands a failure to the host; never throws.
  $tmHostFail__deps: ['$TM_CODES'],
  $tmHostFail: function(ctx, error) {
    try {
      var host = Module['tmHost'];
      if (host && typeof host['fail'] == 'function') host['fail'](ctx, error);
    } catch (e) {
      // The failure is still reported to C as TM_EHOST.
    }
    return TM_CODES.EHOST;
  },

  // Copies a JS string into memory from tm_malloc and stores the pointer in
  // *out. Called after the await, so it reads the current heap.
  $tmWriteOut__deps: ['$TM_CODES', 'tm_malloc'],
  $tmWriteOut: function(out, text) {
    var size = lengthBytesUTF8(text) + 1;
    var ptr = _tm_malloc(size);
    if (!ptr) return TM_CODES.ENOMEM;
    stringToUTF8(text, ptr, size);
    {{{ makeSetValue('out', 0, 'ptr', 'i32') }}};
    return TM_CODES.OK;
  },

  // Runs one async host method under Asyncify. `args` is a function that
  // reads the C arguments (called once, before the core suspends). When
  // `out` is not 0 the method must resolve to a string, written to *out;
  // with `nullable`, null is allowed too and leaves *out NULL.
  $tmHostAsync__deps: ['$Asyncify', '$tmCallAsync', '$TM_CODES', '$tmHostFail', '$tmWriteOut'],
  $tmHostAsync: function(ctx, method, out, args, nullable) {
    return Asyncify.handleAsync(async function() {
      ctx = ctx >>> 0;
      var result;
      try {
        if (out) {{{ makeSetValue('out', 0, '0', 'i32') }}};
        var host = Module['tmHost'];
        if (!host || typeof host[method] != 'function') {
          throw new Error('threadmem: the host has no ' + method + '()');
        }
        result = await host[method].apply(host, [ctx].concat(args()));
        if (out && typeof result != 'string' && !(nullable && result === null)) {
          throw new TypeError('threadmem: host ' + method + '() must resolve to a JSON string, got ' +
                              (result === null ? 'null' : typeof result));
        }
      } catch (e) {
        return tmHostFail(ctx, e);
      }
      return out && result !== null ? tmWriteOut(out, result) : TM_CODES.OK;
    });
  },

  // Module.tmCallAsync(name, args) -> Promise<number>: calls the export
  // `_<name>` with numeric arguments (pointers from tm_malloc, never stack
  // strings) and resolves with its result once the core has finished, however
  // often it suspended on the way. The JS layer runs only one such call at a
  // time per module.
  //
  // Why not ccall(..., {async: true}) for everything: ccall decides that a
  // call went async by looking at Asyncify's global state, so a *sync* ccall
  // made while another call is suspended (from inside a host method) takes
  // over that call's completion and the suspended call never resolves. Raw
  // `_tm_*` exports are safe to call while suspended; ccall/cwrap are not.
  $tmCallAsync__deps: ['$Asyncify'],
  $tmCallAsync__postset: "Module['tmCallAsync'] = tmCallAsync;",
  $tmCallAsync: function(name, args) {
    var fn = Module['_' + name];
    if (typeof fn != 'function') return Promise.reject(new Error('threadmem: no export ' + name));
    if (Asyncify.currData) {
      return Promise.reject(new Error('threadmem: ' + name + ' called while another call is suspended'));
    }
    var ret;
    try {
      ret = fn.apply(null, args || []);
    } catch (e) {
      return Promise.reject(e);
    }
    return Asyncify.currData ? Asyncify.whenDone() : Promise.resolve(ret);
  },

  // double tm_host_now_ms(void). Sync.
  tm_host_now_ms: function() {
    try {
      var host = Module['tmHost'];
      if (host && typeof host['now'] == 'function') {
        var t = Number(host['now']());
        if (isFinite(t)) return t;
      }
    } catch (e) {
      // Fall back to the platform clock.
    }
    return Date.now();
  },

  // void tm_host_random(uint8_t *buf, size_t n). Sync.
  tm_host_random: function(buf, n) {
    buf = buf >>> 0;
    n = n >>> 0;
    if (n === 0) return;
    var bytes = null;
    try {
      var host = Module['tmHost'];
      if (host && typeof host['random'] == 'function') {
        bytes = host['random'](n);
        if (!bytes || bytes.length !== n) bytes = null;
      }
    } catch (e) {
      bytes = null;
    }
    if (!bytes) {
      // getRandomValues fills at most 65536 bytes per call.
      bytes = new Uint8Array(n);
      for (var i = 0; i < n; i += 65536) {
        crypto.getRandomValues(bytes.subarray(i, Math.min(n, i + 65536)));
      }
    }
    HEAPU8.set(bytes, buf);
  },

  // int tm_host_count(const char *text, size_t len, size_t *out). Sync.
  // The host's counter decides; what it throws, or a result that is not a
  // non-negative integer, is kept by host.count and reported as TM_EHOST.
  tm_host_count: function(text, len, out) {
    var n = -1;
    try {
      n = Module['tmHost']['count'](UTF8ToString(text, len >>> 0));
    } catch (e) {
      n = -1;
    }
    if (!(n >= 0 && n <= 0xffffffff && Math.floor(n) === n)) return 7; // TM_EHOST
    HEAPU32[out >> 2] = n;
    return 0;
  },

  // int tm_host_llm(uint32_t ctx, const char *request_json, char **out). Async.
  tm_host_llm__deps: ['$tmHostAsync'],
  tm_host_llm: function(ctx, request, out) {
    return tmHostAsync(ctx, 'llm', out, function() { return [UTF8ToString(request)]; });
  },

  // int tm_host_llm_open(uint32_t ctx, const char *request_json). Async.
  tm_host_llm_open__deps: ['$tmHostAsync'],
  tm_host_llm_open: function(ctx, request) {
    return tmHostAsync(ctx, 'llmOpen', 0, function() { return [UTF8ToString(request)]; });
  },

  // int tm_host_llm_next(uint32_t ctx, char **out). Async. Resolves to the
  // next chunk's JSON text, or null at the end of the stream.
  tm_host_llm_next__deps: ['$tmHostAsync'],
  tm_host_llm_next: function(ctx, out) {
    return tmHostAsync(ctx, 'llmNext', out, function() { return []; }, true);
  },

  // void tm_host_emit(uint32_t ctx, const char *event_json). Sync: the host
  // only queues the update for its consumer.
  tm_host_emit: function(ctx, event) {
    try {
      Module['tmHost']['emit'](ctx >>> 0, UTF8ToString(event));
    } catch (e) {
      // Queuing an update does not fail; should it, the run goes on and
      // its own result still reaches the caller.
    }
  },

  // int tm_host_tools(uint32_t ctx, const char *calls_json, char **out). Async.
  tm_host_tools__deps: ['$tmHostAsync'],
  tm_host_tools: function(ctx, calls, out) {
    return tmHostAsync(ctx, 'tools', out, function() { return [UTF8ToString(calls)]; });
  },

  // int tm_host_store_list(uint32_t ctx, char **out). Async.
  tm_host_store_list__deps: ['$tmHostAsync'],
  tm_host_store_list: function(ctx, out) {
    return tmHostAsync(ctx, 'storeList', out, function() { return []; });
  },

  // int tm_host_store_add(uint32_t ctx, const char *messages_json). Async.
  tm_host_store_add__deps: ['$tmHostAsync'],
  tm_host_store_add: function(ctx, messages) {
    return tmHostAsync(ctx, 'storeAdd', 0, function() { return [UTF8ToString(messages)]; });
  },

  // int tm_host_invoking(uint32_t ctx, const char *request_json, char **out). Async.
  tm_host_invoking__deps: ['$tmHostAsync'],
  tm_host_invoking: function(ctx, request, out) {
    return tmHostAsync(ctx, 'invoking', out, function() { return [UTF8ToString(request)]; });
  },

  // int tm_host_invoked(uint32_t ctx, const char *json). Async.
  tm_host_invoked__deps: ['$tmHostAsync'],
  tm_host_invoked: function(ctx, json) {
    return tmHostAsync(ctx, 'invoked', 0, function() { return [UTF8ToString(json)]; });
  },
});
