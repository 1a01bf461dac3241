/*
 * The persistent record layout: one record per message, the unit every
 * persistent backend stores (a file appends them, a Redis list or an
 * IndexedDB object store keeps one per entry). Backends never look inside.
 *
 * A record is a fixed header followed by the payload: the message's
 * canonical JSON, or, with TM_RECORD_F_ENCRYPTED, that JSON sealed by the
 * host (encryption at rest). Every integer is little-endian:
 *
 *   offset size field
 *        0    4 magic    "TMR1" (TM_RECORD_MAGIC)
 *        4    1 version  TM_RECORD_VERSION
 *        5    1 flags    TM_RECORD_F_* (unknown bits are a format error)
 *        6    2 reserved zero
 *        8    8 seq      per-thread sequence number, +1 per record
 *       16    4 length   payload bytes, at most TM_MAX_MESSAGE_BYTES (plus
 *                        TM_RECORD_SEAL_BYTES when encrypted)
 *       20    4 crc32    CRC-32 (IEEE) of bytes 0..19 and the payload
 *       24    n payload
 *
 * The checksum covers the header, so a record cut or altered anywhere
 * fails it; the sequence number lets a reader see a lost or repeated
 * record, and lets two writers detect that the other appended first.
 *
 * An encrypted payload is the host's sealed envelope (js/encryption.js:
 * PBKDF2 salt, AES-GCM nonce, ciphertext, tag; the thread id and seq as
 * additional data). The core frames and checks it like any payload, but
 * never parses it: the host decrypts it and hands the plaintext back to be
 * read as a message (tm_log_read_unsealed).
 */
#ifndef THREADMEM_RECORD_H
#define THREADMEM_RECORD_H

#include <stddef.h>
#include <stdint.h>

#include "core.h"

#define TM_RECORD_MAGIC 0x31524D54u /* "TMR1" read as little-endian */
#define TM_RECORD_VERSION 1u
#define TM_RECORD_HEADER_BYTES 24u
/* The record carries a message (the only kind in format version 1). */
#define TM_RECORD_F_MESSAGE 0x01u
/* The payload is sealed by the host (see above), not the message's JSON. */
#define TM_RECORD_F_ENCRYPTED 0x02u
#define TM_RECORD_F_KNOWN (TM_RECORD_F_MESSAGE | TM_RECORD_F_ENCRYPTED)
/* What sealing adds to a payload: salt (16), nonce (12) and tag (16). An
 * encrypted payload shorter than this cannot be one. */
#define TM_RECORD_SEAL_BYTES 44u

/* A growable byte buffer: a batch of encoded records (one host write per
 * turn). Zero-initialize; release with tm_recbuf_free. Growth doubles. */
typedef struct tm_recbuf {
  uint8_t *data;
  size_t len;
  size_t cap;
} tm_recbuf;

void tm_recbuf_free(tm_recbuf *b);

/* CRC-32 (IEEE 802.3, as zlib) of n bytes, continuing from `crc` (0 to
 * start). */
uint32_t tm_crc32(uint32_t crc, const uint8_t *p, size_t n);

/* Appends one record (seq, flags, payload of n bytes) to `out`. On failure
 * `out` is unchanged: TM_EINVAL for unknown flags or an encrypted payload
 * shorter than TM_RECORD_SEAL_BYTES, TM_ERANGE when n is above
 * TM_MAX_MESSAGE_BYTES (plus TM_RECORD_SEAL_BYTES when encrypted), TM_ENOMEM. */
int tm_record_encode(tm_base *err, tm_recbuf *out, uint64_t seq, uint8_t flags,
                     const char *payload, size_t n);

/* One decoded record: `payload` points into the decoded bytes (borrowed,
 * not NUL-terminated). */
typedef struct tm_record {
  uint64_t seq;
  uint8_t flags;
  const uint8_t *payload;
  size_t len;
} tm_record;

/* What lies after the last whole record of a log. */
typedef enum tm_record_tail {
  TM_TAIL_CLEAN = 0,   /* nothing: the log ends on a record boundary */
  TM_TAIL_TORN = 1,    /* a record cut short (a write that did not finish) */
  TM_TAIL_CORRUPT = 2  /* whole-length bytes that fail the checksum or the
                          header checks, with nothing valid after them */
} tm_record_tail;

/* Decodes the record at the start of buf[0..n). TM_OK fills *rec and
 * *used (header + payload bytes). When the bytes are a prefix of a record,
 * returns TM_OK with *used = 0 (torn: more bytes needed). A bad magic,
 * version, flags, reserved field, length or checksum is TM_EFORMAT, with
 * the reason on `err`. Allocates nothing. */
int tm_record_decode(tm_base *err, const uint8_t *buf, size_t n, tm_record *rec,
                     size_t *used);

/* The result of scanning a whole log. */
typedef struct tm_record_scan_result {
  size_t count;          /* whole valid records */
  size_t valid_bytes;    /* bytes they take: truncate the log to this */
  uint64_t first_seq;    /* seq of the first record (0 when count is 0) */
  uint64_t last_seq;     /* seq of the last record (0 when count is 0) */
  tm_record_tail tail;   /* what follows valid_bytes */
  size_t tail_bytes;     /* n - valid_bytes */
} tm_record_scan_result;

/* Calls `each` for every valid record of the log buf[0..n), in order, then
 * fills *res. Sequence numbers must go up by exactly one from record to
 * record. A torn or corrupt tail (nothing valid after it) is reported in
 * res->tail, not an error: the caller repairs it by truncating to
 * res->valid_bytes and reports it. Damage followed by a valid record, or a
 * sequence gap, is TM_EFORMAT (the log is not silently cut). A non-zero
 * result of `each` stops the scan and is returned. `each` may be NULL. */
int tm_record_scan(tm_base *err, const uint8_t *buf, size_t n,
                   int (*each)(void *arg, const tm_record *rec), void *arg,
                   tm_record_scan_result *res);

#endif /* THREADMEM_RECORD_H */
