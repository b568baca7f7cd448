/* json.c — see json.h. */
#include "util/json.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

void jw_init(jsonw_t *w, strbuf_t *sb) {
    memset(w, 0, sizeof *w);
    w->sb = sb;
    w->first[0] = true;
}

/* Writes the comma that separates this value from the previous sibling. */
static void sep(jsonw_t *w) {
    if (w->after_key) {
        w->after_key = false;
        return;
    }
    if (!w->first[w->depth]) strbuf_putc(w->sb, ',');
    w->first[w->depth] = false;
}

static void open(jsonw_t *w, char c) {
    sep(w);
    strbuf_putc(w->sb, c);
    if (w->depth < JW_MAX_DEPTH - 1) w->depth++;
    w->first[w->depth] = true;
}

static void close_(jsonw_t *w, char c) {
    strbuf_putc(w->sb, c);
    if (w->depth > 0) w->depth--;
}

void jw_obj_begin(jsonw_t *w) { open(w, '{'); }
void jw_obj_end(jsonw_t *w) { close_(w, '}'); }
void jw_arr_begin(jsonw_t *w) { open(w, '['); }
void jw_arr_end(jsonw_t *w) { close_(w, ']'); }

void json_escape(strbuf_t *sb, const char *s, size_t n) {
    static const char hex[] = "0123456789abcdef";
    strbuf_reserve(sb, n + 2);
    strbuf_putc(sb, '"');
    size_t start = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c != '"' && c != '\\') continue;
        strbuf_append(sb, s + start, i - start);
        start = i + 1;
        switch (c) {
        case '"': strbuf_append(sb, "\\\"", 2); break;
        case '\\': strbuf_append(sb, "\\\\", 2); break;
        case '\n': strbuf_append(sb, "\\n", 2); break;
        case '\r': strbuf_append(sb, "\\r", 2); break;
        case '\t': strbuf_append(sb, "\\t", 2); break;
        default: {
            char u[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
            strbuf_append(sb, u, 6);
        }
        }
    }
    strbuf_append(sb, s + start, n - start);
    strbuf_putc(sb, '"');
}

void jw_key(jsonw_t *w, const char *key) {
    sep(w);
    json_escape(w->sb, key, strlen(key));
    strbuf_putc(w->sb, ':');
    w->after_key = true;
}

void jw_strn(jsonw_t *w, const char *s, size_t n) {
    sep(w);
    json_escape(w->sb, s, n);
}

void jw_str(jsonw_t *w, const char *s) {
    if (!s) {
        jw_null(w);
        return;
    }
    jw_strn(w, s, strlen(s));
}

void jw_int(jsonw_t *w, int64_t v) {
    sep(w);
    strbuf_printf(w->sb, "%" PRId64, v);
}

void jw_uint(jsonw_t *w, uint64_t v) {
    sep(w);
    strbuf_printf(w->sb, "%" PRIu64, v);
}

void jw_double(jsonw_t *w, double v) {
    sep(w);
    if (!isfinite(v)) {
        strbuf_puts(w->sb, "null");
        return;
    }
    char tmp[400];
    int n = pl_format_float_json(tmp, v);
    strbuf_append(w->sb, tmp, (size_t)n);
}

void jw_sample_value(jsonw_t *w, double v) {
    sep(w);
    char tmp[400];
    int n = pl_format_float_json(tmp, v);
    strbuf_putc(w->sb, '"');
    strbuf_append(w->sb, tmp, (size_t)n);
    strbuf_putc(w->sb, '"');
}

void jw_timestamp(jsonw_t *w, int64_t ms) {
    sep(w);
    /* Prometheus writes seconds with up to 3 decimals and no trailing zeros. */
    int64_t sec = ms / 1000, frac = ms % 1000;
    if (frac < 0) {
        frac += 1000;
        sec -= 1;
    }
    if (ms < 0 && frac) {
        /* e.g. -1500 ms -> -1.5 */
        int64_t a = -ms;
        int64_t s2 = a / 1000, f2 = a % 1000;
        char fb[8];
        snprintf(fb, sizeof fb, "%03" PRId64, f2);
        for (int i = 2; i > 0 && fb[i] == '0'; i--) fb[i] = '\0';
        strbuf_printf(w->sb, "-%" PRId64 ".%s", s2, fb);
        return;
    }
    if (frac == 0) {
        strbuf_printf(w->sb, "%" PRId64, sec);
        return;
    }
    char fb[8];
    snprintf(fb, sizeof fb, "%03" PRId64, frac);
    for (int i = 2; i > 0 && fb[i] == '0'; i--) fb[i] = '\0';
    strbuf_printf(w->sb, "%" PRId64 ".%s", sec, fb);
}

void jw_bool(jsonw_t *w, bool v) {
    sep(w);
    strbuf_puts(w->sb, v ? "true" : "false");
}

void jw_null(jsonw_t *w) {
    sep(w);
    strbuf_puts(w->sb, "null");
}

void jw_raw(jsonw_t *w, const char *json) {
    sep(w);
    strbuf_puts(w->sb, json);
}
