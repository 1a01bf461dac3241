/*
 * The persistent record layout (record.h): encoding, decoding and the scan
 * that recovers a log after a torn write.
 */
#include "record.h"

#include <string.h>

/* CRC-32 four bits at a time: a 16-entry table is small and fast enough
 * for records of a few kilobytes. */
static const uint32_t crc_nibble[16] = {
    0x00000000u, 0x1DB71064u, 0x3B6E20C8u, 0x26D930ACu, 0x76DC4190u, 0x6B6B51F4u,
    0x4DB26158u, 0x5005713Cu, 0xEDB88320u, 0xF00F9344u, 0xD6D6A3E8u, 0xCB61B38Cu,
    0x9B64C2B0u, 0x86D3D2D4u, 0xA00AE278u, 0xBDBDF21Cu};

uint32_t tm_crc32(uint32_t crc, const uint8_t *p, size_t n) {
  crc = ~crc;
  for (size_t i = 0; i < n; i++) {
    crc ^= p[i];
    crc = (crc >> 4) ^ crc_nibble[crc & 0x0Fu];
    crc = (crc >> 4) ^ crc_nibble[crc & 0x0Fu];
  }
  return ~crc;
}

static void put32(uint8_t *p, uint32_t v) {
  for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i));
}
static void put64(uint8_t *p, uint64_t v) {
  for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i));
}
static uint32_t get32(const uint8_t *p) {
  uint32_t v = 0;
  for (int i = 3; i >= 0; i--) v = (v << 8) | p[i];
  return v;
}
static uint64_t get64(const uint8_t *p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; i--) v = (v << 8) | p[i];
  return v;
}

void tm_recbuf_free(tm_recbuf *b) {
  if (!b) return;
  tm_free(b->data);
  b->data = NULL;
  b->len = b->cap = 0;
}

static int recbuf_reserve(tm_base *err, tm_recbuf *b, size_t extra) {
  if (extra > TM_MAX_JSON_BYTES || b->len > TM_MAX_JSON_BYTES - extra)
    return tm_fail(err, TM_ERANGE, "record batch above %zu bytes", TM_MAX_JSON_BYTES);
  size_t need = b->len + extra;
  if (need <= b->cap) return TM_OK;
  size_t cap = b->cap ? b->cap : 256;
  while (cap < need) cap *= 2;
  uint8_t *data = tm_realloc(b->data, cap);
  if (!data) return tm_fail(err, TM_ENOMEM, "out of memory");
  b->data = data;
  b->cap = cap;
  return TM_OK;
}

/* Sealing adds its envelope to a message of up to TM_MAX_MESSAGE_BYTES. */
static size_t max_payload(uint8_t flags) {
  return TM_MAX_MESSAGE_BYTES + ((flags & TM_RECORD_F_ENCRYPTED) ? TM_RECORD_SEAL_BYTES : 0);
}

int tm_record_encode(tm_base *err, tm_recbuf *out, uint64_t seq, uint8_t flags,
                     const char *payload, size_t n) {
  if (!out || (!payload && n))
    return tm_fail(err, TM_EINVAL, "record: NULL argument");
  if (flags & ~TM_RECORD_F_KNOWN)
    return tm_fail(err, TM_EINVAL, "record: unknown flags 0x%02x", (unsigned)flags);
  if ((flags & TM_RECORD_F_ENCRYPTED) && n < TM_RECORD_SEAL_BYTES)
    return tm_fail(err, TM_EINVAL, "record: an encrypted payload of %zu bytes is too short", n);
  if (n > max_payload(flags))
    return tm_fail(err, TM_ERANGE, "record payload of %zu bytes is above %zu", n,
                   max_payload(flags));
  int rc = recbuf_reserve(err, out, TM_RECORD_HEADER_BYTES + n);
  if (rc) return rc;
  uint8_t *h = out->data + out->len;
  put32(h, TM_RECORD_MAGIC);
  h[4] = (uint8_t)TM_RECORD_VERSION;
  h[5] = flags;
  h[6] = h[7] = 0;
  put64(h + 8, seq);
  put32(h + 16, (uint32_t)n);
  if (n) memcpy(h + TM_RECORD_HEADER_BYTES, payload, n);
  uint32_t crc = tm_crc32(0, h, 20);
  crc = tm_crc32(crc, h + TM_RECORD_HEADER_BYTES, n);
  put32(h + 20, crc);
  out->len += TM_RECORD_HEADER_BYTES + n;
  return TM_OK;
}

int tm_record_decode(tm_base *err, const uint8_t *buf, size_t n, tm_record *rec,
                     size_t *used) {
  if (!buf || !rec || !used) return tm_fail(err, TM_EINVAL, "record: NULL argument");
  *used = 0;
  uint8_t magic[4];
  put32(magic, TM_RECORD_MAGIC);
  if (n < TM_RECORD_HEADER_BYTES) {
    /* A prefix of a header is torn only if what is there could start one. */
    size_t k = n < 4 ? n : 4;
    if (memcmp(buf, magic, k) != 0) return tm_fail(err, TM_EFORMAT, "record: bad magic");
    if (n > 4 && buf[4] != TM_RECORD_VERSION)
      return tm_fail(err, TM_EFORMAT, "record: unknown format version %u", (unsigned)buf[4]);
    return TM_OK;
  }
  if (memcmp(buf, magic, 4) != 0) return tm_fail(err, TM_EFORMAT, "record: bad magic");
  if (buf[4] != TM_RECORD_VERSION)
    return tm_fail(err, TM_EFORMAT, "record: unknown format version %u", (unsigned)buf[4]);
  if (buf[5] & ~TM_RECORD_F_KNOWN)
    return tm_fail(err, TM_EFORMAT, "record: unknown flags 0x%02x", (unsigned)buf[5]);
  if (buf[6] || buf[7]) return tm_fail(err, TM_EFORMAT, "record: reserved bytes are set");
  size_t len = get32(buf + 16);
  if (len > max_payload(buf[5]))
    return tm_fail(err, TM_EFORMAT, "record: length %zu is above %zu", len,
                   max_payload(buf[5]));
  if ((buf[5] & TM_RECORD_F_ENCRYPTED) && len < TM_RECORD_SEAL_BYTES)
    return tm_fail(err, TM_EFORMAT, "record: an encrypted payload of %zu bytes is too short",
                   len);
  if (n - TM_RECORD_HEADER_BYTES < len) return TM_OK; /* torn */
  uint32_t crc = tm_crc32(0, buf, 20);
  crc = tm_crc32(crc, buf + TM_RECORD_HEADER_BYTES, len);
  if (crc != get32(buf + 20)) return tm_fail(err, TM_EFORMAT, "record: checksum mismatch");
  rec->seq = get64(buf + 8);
  rec->flags = buf[5];
  rec->payload = buf + TM_RECORD_HEADER_BYTES;
  rec->len = len;
  *used = TM_RECORD_HEADER_BYTES + len;
  return TM_OK;
}

/* The offset of the first whole valid record at or after `from`, or n. */
static size_t next_valid(const uint8_t *buf, size_t n, size_t from) {
  tm_base scratch = {0, NULL, false};
  size_t found = n;
  for (size_t at = from; at + TM_RECORD_HEADER_BYTES <= n; at++) {
    if (get32(buf + at) != TM_RECORD_MAGIC) continue;
    tm_record rec;
    size_t used = 0;
    if (tm_record_decode(&scratch, buf + at, n - at, &rec, &used) == TM_OK && used) {
      found = at;
      break;
    }
  }
  tm_base_free(&scratch);
  return found;
}

int tm_record_scan(tm_base *err, const uint8_t *buf, size_t n,
                   int (*each)(void *arg, const tm_record *rec), void *arg,
                   tm_record_scan_result *res) {
  if ((!buf && n) || !res) return tm_fail(err, TM_EINVAL, "record scan: NULL argument");
  memset(res, 0, sizeof *res);
  size_t off = 0;
  while (off < n) {
    tm_record rec;
    size_t used = 0;
    tm_base why = {0, NULL, false};
    int rc = tm_record_decode(&why, buf + off, n - off, &rec, &used);
    if (rc != TM_OK || used == 0) {
      size_t later = next_valid(buf, n, off + 1);
      if (later < n) {
        rc = tm_fail(err, TM_EFORMAT,
                     "log damaged at byte %zu (%s) with a valid record after it at byte %zu",
                     off, why.msg ? why.msg : "record cut short", later);
        tm_base_free(&why);
        return rc;
      }
      tm_base_free(&why);
      res->tail = rc != TM_OK ? TM_TAIL_CORRUPT : TM_TAIL_TORN;
      break;
    }
    tm_base_free(&why);
    if (res->count && rec.seq != res->last_seq + 1)
      return tm_fail(err, TM_EFORMAT,
                     "log sequence jumps from %llu to %llu at byte %zu",
                     (unsigned long long)res->last_seq, (unsigned long long)rec.seq, off);
    if (each) {
      rc = each(arg, &rec);
      if (rc) return rc;
    }
    if (!res->count) res->first_seq = rec.seq;
    res->last_seq = rec.seq;
    res->count++;
    off += used;
    res->valid_bytes = off;
  }
  res->tail_bytes = n - res->valid_bytes;
  return TM_OK;
}
