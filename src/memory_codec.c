/*
 * The memory index's small codecs: ISO 8601 times in, and embeddings as
 * base64 of little-endian float32 (exact and a third of the size of decimal
 * numbers in a serialized index).
 */
#include <math.h>
#include <string.h>

#include "memory.h"

/* Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's
 * algorithm, the inverse of message.c's civil_from_days). */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  int64_t era = (y >= 0 ? y : y - 399) / 400;
  unsigned yoe = (unsigned)(y - era * 400);
  unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
  unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + (int64_t)doe - 719468;
}

static bool digits(const char *s, size_t n, unsigned *out) {
  unsigned v = 0;
  for (size_t i = 0; i < n; i++) {
    if (s[i] < '0' || s[i] > '9') return false;
    v = v * 10 + (unsigned)(s[i] - '0');
  }
  *out = v;
  return true;
}

bool tm_iso_to_ms(const char *s, double *ms) {
  unsigned y, mo, d, h, mi, se, frac = 0;
  if (strlen(s) < 20 || !digits(s, 4, &y) || s[4] != '-' || !digits(s + 5, 2, &mo) ||
      s[7] != '-' || !digits(s + 8, 2, &d) || s[10] != 'T' || !digits(s + 11, 2, &h) ||
      s[13] != ':' || !digits(s + 14, 2, &mi) || s[16] != ':' || !digits(s + 17, 2, &se))
    return false;
  const char *p = s + 19;
  if (*p == '.') {
    size_t n = 0;
    p++;
    while (p[n] >= '0' && p[n] <= '9') n++;
    if (n < 1 || n > 9) return false;
    unsigned f;
    if (!digits(p, n < 3 ? n : 3, &f)) return false;
    frac = n == 1 ? f * 100 : n == 2 ? f * 10 : f;
    p += n;
  }
  if (p[0] != 'Z' || p[1] != '\0') return false;
  static const unsigned mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  if (mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] || h > 23 || mi > 59 || se > 59) return false;
  bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
  if (mo == 2 && d == 29 && !leap) return false;
  int64_t days = days_from_civil((int64_t)y, mo, d);
  *ms = (double)days * 86400000.0 + (double)(h * 3600000u + mi * 60000u + se * 1000u + frac);
  return true;
}

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

char *tm_floats_to_base64(const float *v, size_t n) {
  size_t bytes = n * 4, len = (bytes + 2) / 3 * 4;
  char *out = tm_malloc(len + 1);
  if (!out) return NULL;
  size_t o = 0;
  uint8_t chunk[3];
  size_t k = 0;
  for (size_t i = 0; i < bytes; i++) {
    uint32_t u;
    memcpy(&u, &v[i / 4], 4);
    chunk[k++] = (uint8_t)(u >> (8 * (i % 4))); /* little-endian on any host */
    if (k == 3 || i == bytes - 1) {
      uint32_t w = (uint32_t)chunk[0] << 16 | (k > 1 ? (uint32_t)chunk[1] << 8 : 0) |
                   (k > 2 ? chunk[2] : 0);
      out[o++] = b64[w >> 18];
      out[o++] = b64[(w >> 12) & 63];
      out[o++] = k > 1 ? b64[(w >> 6) & 63] : '=';
      out[o++] = k > 2 ? b64[w & 63] : '=';
      k = 0;
    }
  }
  out[o] = '\0';
  return out;
}

static int b64_value(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+') return 62;
  if (c == '/') return 63;
  return -1;
}

bool tm_floats_from_base64(const char *text, float **out, size_t *n, bool *oom) {
  *out = NULL;
  *n = 0;
  *oom = false;
  size_t len = strlen(text);
  if (len % 4) return false;
  size_t pad = len && text[len - 1] == '=' ? (text[len - 2] == '=' ? 2 : 1) : 0;
  size_t bytes = len / 4 * 3 - pad;
  if (bytes % 4) return false;
  float *v = tm_malloc(bytes ? bytes : 1);
  if (!v) {
    *oom = true;
    return false;
  }
  uint32_t word = 0;
  size_t got = 0;
  for (size_t i = 0; i < len; i += 4) {
    int q[4];
    for (int j = 0; j < 4; j++) {
      char c = text[i + (size_t)j];
      q[j] = c == '=' && i + 4 == len && (size_t)j >= 4 - pad ? 0 : b64_value(c);
      if (q[j] < 0) goto bad;
    }
    uint32_t w = (uint32_t)q[0] << 18 | (uint32_t)q[1] << 12 | (uint32_t)q[2] << 6 | (uint32_t)q[3];
    for (int j = 0; j < 3 && got < bytes; j++) {
      word |= ((w >> (16 - 8 * j)) & 0xFFu) << (8 * (got % 4));
      if (++got % 4 == 0) {
        float f;
        memcpy(&f, &word, 4);
        if (!isfinite(f)) goto bad;
        v[got / 4 - 1] = f;
        word = 0;
      }
    }
  }
  *out = v;
  *n = bytes / 4;
  return true;
bad:
  tm_free(v);
  return false;
}
