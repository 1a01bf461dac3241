// What the persistent stores call to turn messages into records and back:
// the core's record log (js/log.js), with each payload sealed when the store
// has an `encryption` option (js/encryption.js). A store makes one codec and
// never looks inside a record.

import { concatBytes, encodeLog, frameSealed, readUnsealed, scanLog, stampLog } from './log.js';
import { Sealer } from './encryption.js';

const utf8 = new TextEncoder();

export class RecordCodec {
  #sealer;

  /** @param {{key: CryptoKey|string}} [encryption] none: plaintext records */
  constructor(encryption) {
    this.#sealer = encryption == null ? null : new Sealer(encryption);
  }

  /** True when records are sealed: encode and read then wait on WebCrypto. */
  get encrypted() {
    return this.#sealer !== null;
  }

  /** Records for messages numbered from firstSeq, one per message:
   *  { records: Uint8Array[], bytes: all of them, messages: canonical, as written }. */
  async encode(messages, firstSeq, threadId) {
    const records = [];
    const canonical = [];
    if (!this.#sealer) {
      // No await before this returns: an IndexedDB transaction stays active.
      messages.forEach((m, i) => {
        const { bytes, messages: [c] } = encodeLog([m], firstSeq + i);
        records.push(bytes);
        canonical.push(c);
      });
    } else {
      const texts = stampLog(messages);
      const sealed = await Promise.all(texts.map((t, i) => this.#sealer.seal(utf8.encode(t), threadId, firstSeq + i)));
      sealed.forEach((payload, i) => records.push(frameSealed(firstSeq + i, payload)));
      for (const t of texts) canonical.push(JSON.parse(t));
    }
    return { records, bytes: records.length === 1 ? records[0] : concatBytes(records), messages: canonical };
  }

  /** Reads a log (the bytes of a file, or of records back to back), as scanLog;
   *  the core's journal (js/journal.js) then judges it. */
  async read(bytes, threadId) {
    return this.#open(scanLog(bytes, { sealed: this.encrypted }), threadId);
  }

  async #open(log, threadId) {
    if (!this.#sealer) return log;
    const plain = await Promise.all(log.payloads.map((p, i) => this.#sealer.open(p, threadId, log.first_seq + i)));
    delete log.payloads;
    log.messages = readUnsealed(plain, log.count ? log.first_seq : 1);
    return log;
  }

  toJSON() {
    return { encrypted: this.encrypted };
  }
}
