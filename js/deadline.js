// The time limit of one request, and the abort that stops it: fired by the
// timer or by the caller's signal. `expired` tells a timeout from an abort.

import { checkSignal } from './errors.js';

export class Deadline {
  constructor(ms, signal) {
    checkSignal(signal);
    this.ms = ms;
    this.signal = signal;
    this.controller = new AbortController();
    this.expired = false;
    this._timer = null;
    this._onAbort = () => this.controller.abort();
    if (signal?.aborted) this._onAbort();
    else signal?.addEventListener('abort', this._onAbort, { once: true });
    this.arm();
  }

  /** Starts (again) the wait that must not exceed `ms`. */
  arm() {
    clearTimeout(this._timer);
    this._timer = setTimeout(() => {
      this.expired = true;
      this.controller.abort();
    }, this.ms);
  }

  /** Stops the clock between waits (while the reader is busy elsewhere). */
  pause() {
    clearTimeout(this._timer);
  }

  stop() {
    clearTimeout(this._timer);
    this.signal?.removeEventListener('abort', this._onAbort);
  }
}
