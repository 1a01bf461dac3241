/*
 * The host imports of the core, for the package (Emscripten --js-library).
 *
 * This table must match src/host.h exactly, and tests/c/host_native.c (the
 * native implementation used by the C tests) must match it too. Every
 * import is synchronous: what takes time (the model, tools, stores,
 * providers) is an action of the run loop that js/agent.js performs between
 * steps (tm_run_step), so the module never suspends and needs no Asyncify.
 *
 * Every import delegates to the object the JS package installs on the module
 * instance, Module.tmHost:
 *   now() -> number (ms since the epoch)       random(n) -> Uint8Array(n)
 *   count(text) -> integer: the current token counter (keeps its own
 *     failure for the call that made it current)
 *
 * No exception ever reaches C: a throw becomes a fallback or TM_EHOST.
 */

mergeInto(LibraryManager.library, {
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
      // The text as it is: UTF8ToString would drop a leading U+FEFF from
      // texts of more than 16 bytes (TextDecoder's default), not from others.
      var utf8 = Module['tmUtf8'] || (Module['tmUtf8'] = new TextDecoder('utf-8', { ignoreBOM: true }));
      n = Module['tmHost']['count'](utf8.decode(HEAPU8.subarray(text, text + (len >>> 0))));
    } catch (e) {
      n = -1;
    }
    if (!(n >= 0 && n <= 0xffffffff && Math.floor(n) === n)) return 7; // TM_EHOST
    HEAPU32[out >> 2] = n;
    return 0;
  },
});
