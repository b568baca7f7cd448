/* json.h — a small streaming JSON writer over a strbuf.
 *
 * The writer tracks nesting and inserts commas itself, so callers write
 * values in order: jw_obj_begin, jw_key, value, jw_key, value, jw_obj_end.
 * Reading JSON is jansson's job; writing is ours because every API answer is
 * written on a hot path and jansson would build a tree first. */
#ifndef PL_UTIL_JSON_H
#define PL_UTIL_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/strbuf.h"

#define JW_MAX_DEPTH 64

typedef struct jsonw {
    strbuf_t *sb;
    int depth;
    bool first[JW_MAX_DEPTH]; /* no value written yet at this depth */
    bool after_key;
} jsonw_t;

void jw_init(jsonw_t *w, strbuf_t *sb);
void jw_obj_begin(jsonw_t *w);
void jw_obj_end(jsonw_t *w);
void jw_arr_begin(jsonw_t *w);
void jw_arr_end(jsonw_t *w);
void jw_key(jsonw_t *w, const char *key);
void jw_str(jsonw_t *w, const char *s);
void jw_strn(jsonw_t *w, const char *s, size_t n);
void jw_int(jsonw_t *w, int64_t v);
void jw_uint(jsonw_t *w, uint64_t v);
void jw_double(jsonw_t *w, double v);      /* bare JSON number (finite only; else null) */
void jw_sample_value(jsonw_t *w, double v); /* Prometheus's quoted value: "1.5", "NaN", "+Inf" */
void jw_timestamp(jsonw_t *w, int64_t ms);  /* Prometheus's [ <unix seconds>, ...] time: 1700000000.123 */
void jw_bool(jsonw_t *w, bool v);
void jw_null(jsonw_t *w);
void jw_raw(jsonw_t *w, const char *json); /* a pre-rendered value */

/* Appends s as a JSON string literal (with quotes) to sb. */
void json_escape(strbuf_t *sb, const char *s, size_t n);

#endif
