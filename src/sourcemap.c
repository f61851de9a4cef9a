/* evy's native hub: source-map lookups for the blocking watchdog's stacks.
 *
 * The stack is taken while JS is blocked, so no JS can map it: this reads the
 * inline map that evy run's TypeScript compile appends (a base64 data: URL)
 * and walks its "mappings" (base64 VLQ, source map v3) to the generated line.
 * Only inline maps; a stack frame of a file without one stays as V8 gave it. */
#include "watchdog.h"

#include <stdlib.h>
#include <string.h>

static int b64(int c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+' || c == '-') return 62;
  if (c == '/' || c == '_') return 63;
  return -1;
}

/* Decodes base64 (padding and junk skipped); returns a NUL-terminated buffer to free. */
static char *unbase64(const char *s, size_t n) {
  char *out = malloc(n / 4 * 3 + 4);
  if (!out) return NULL;
  size_t o = 0;
  unsigned acc = 0;
  int bits = 0;
  for (size_t i = 0; i < n; i++) {
    int v = b64((unsigned char)s[i]);
    if (v < 0) continue;
    acc = (acc << 6) | (unsigned)v;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out[o++] = (char)((acc >> bits) & 0xff);
    }
  }
  out[o] = 0;
  return out;
}

/* One VLQ value from *p; 0 at the end of the segment. */
static int vlq(const char **p, int *out) {
  int shift = 0, value = 0;
  for (;;) {
    int c = (unsigned char)**p;
    int d = b64(c);
    if (c == 0 || c == ',' || c == ';' || d < 0) return 0;
    (*p)++;
    value |= (d & 31) << shift;
    shift += 5;
    if (!(d & 32)) break;
    if (shift > 30) return 0;
  }
  *out = (value & 1) ? -(value >> 1) : (value >> 1);
  return 1;
}

int evy_sourcemap_lookup(const char *url, size_t url_len, int *line, int *col) {
  static const char prefix[] = "data:application/json";
  if (url_len < sizeof prefix - 1 || strncmp(url, prefix, sizeof prefix - 1) != 0) return 0;
  const char *comma = memchr(url, ',', url_len);
  if (!comma) return 0;
  char *json = unbase64(comma + 1, url_len - (size_t)(comma + 1 - url));
  if (!json) return 0;
  int mapped = 0;
  const char *m = strstr(json, "\"mappings\"");
  if (m) m = strchr(m + 10, '"');
  if (m) {
    const char *p = m + 1;
    int gen_line = 1, src = 0, src_line = 0, src_col = 0, name = 0;
    int best_line = -1, best_col = -1, gen_col = 0;
    while (*p && *p != '"' && gen_line <= *line) {
      if (*p == ';') {
        gen_line++;
        gen_col = 0;
        p++;
        continue;
      }
      if (*p == ',') {
        p++;
        continue;
      }
      int gen_col_delta, v;
      if (!vlq(&p, &gen_col_delta)) {
        p++;
        continue;
      }
      gen_col += gen_col_delta;
      int has_src = 0;
      if (vlq(&p, &v)) {
        src += v;
        if (vlq(&p, &v)) src_line += v;
        if (vlq(&p, &v)) src_col += v;
        if (vlq(&p, &v)) name += v;
        has_src = 1;
      }
      if (gen_line == *line && has_src && gen_col <= *col - 1) {
        best_line = src_line;
        best_col = src_col;
      } else if (gen_line == *line && has_src && best_line < 0) {
        /* the first segment of the line is past the column: take it anyway */
        best_line = src_line;
        best_col = src_col;
      }
    }
    (void)name;
    (void)src;
    if (best_line >= 0) {
      *line = best_line + 1;
      *col = best_col + 1;
      mapped = 1;
    }
  }
  free(json);
  return mapped;
}
