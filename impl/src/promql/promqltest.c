/* promqltest.c — parser and runner for Prometheus's PromQL .test scripts.
 *
 * The parser works line by line as the reference harness does: every line
 * is trimmed, a line starting with '#' becomes empty, and an empty line ends
 * the current block. Series lines ("name{l="v"} 1+2x3 _ stale") are parsed
 * here without the PromQL parser, so the format can be read (and the runner
 * tested) independently of the engine.
 *
 * The runner replays the commands in order against callbacks; see
 * promqltest.h for what it checks. Its messages follow the reference
 * harness's wording where that helps someone comparing the two.
 *
 * Allocation: parsed files are small; allocation failure aborts (the same
 * policy as strbuf_t), which keeps the many small parse steps readable. */
#include "promql/promqltest.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "promql/functions_range.h"
#include "util/strbuf.h"
#include "util/timeutil.h"

#define FLOAT_EPSILON 1e-6

/* ------------------------------------------------------------------ */
/* small helpers                                                        */
/* ------------------------------------------------------------------ */

static void *xmalloc(size_t n) {
    void *p = malloc(n ? n : 1);
    if (!p) abort();
    return p;
}

static void *xrealloc(void *p, size_t n) {
    p = realloc(p, n ? n : 1);
    if (!p) abort();
    return p;
}

static char *xstrndup(const char *s, size_t n) {
    char *p = xmalloc(n + 1);
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

/* Appends one element to a growable array (*arr, *n), returning it zeroed. */
#define PUSH(arr, n)                                                                                                   \
    (*(arr) = xrealloc(*(arr), (*(n) + 1) * sizeof **(arr)), memset(&(*(arr))[*(n)], 0, sizeof **(arr)),               \
     &(*(arr))[(*(n))++])

static bool is_space(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f'; }
static bool is_ident_start(char c) { return isalpha((unsigned char)c) || c == '_' || c == ':'; }
static bool is_ident_char(char c) { return isalnum((unsigned char)c) || c == '_' || c == ':'; }

static const char *skip_space(const char *p, const char *end) {
    while (p < end && is_space(*p))
        p++;
    return p;
}

/* Case-insensitive "does [p,end) start with word". */
static bool has_prefix_ci(const char *p, const char *end, const char *word) {
    size_t n = strlen(word);
    return (size_t)(end - p) >= n && strncasecmp(p, word, n) == 0;
}

/* ------------------------------------------------------------------ */
/* strings and numbers                                                  */
/* ------------------------------------------------------------------ */

static void put_utf8(strbuf_t *sb, uint32_t cp) {
    char b[4];
    size_t n;
    if (cp < 0x80) {
        b[0] = (char)cp;
        n = 1;
    } else if (cp < 0x800) {
        b[0] = (char)(0xC0 | (cp >> 6));
        b[1] = (char)(0x80 | (cp & 0x3F));
        n = 2;
    } else if (cp < 0x10000) {
        b[0] = (char)(0xE0 | (cp >> 12));
        b[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        b[2] = (char)(0x80 | (cp & 0x3F));
        n = 3;
    } else {
        b[0] = (char)(0xF0 | (cp >> 18));
        b[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
        b[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
        b[3] = (char)(0x80 | (cp & 0x3F));
        n = 4;
    }
    strbuf_append(sb, b, n);
}

static int hexval(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Reads a PromQL string literal ("...", '...' with Go escapes, or `raw`)
 * starting at *pp. On success *pp is past the closing quote and *out is a
 * malloc'd string. */
static int parse_quoted(const char **pp, const char *end, char **out, pl_err_t *err) {
    const char *p = *pp;
    char q = *p++;
    strbuf_t sb = STRBUF_INIT;
    strbuf_reserve(&sb, 16);
    while (p < end && *p != q) {
        if (q == '`' || *p != '\\') {
            strbuf_putc(&sb, *p++);
            continue;
        }
        p++;
        if (p >= end) break;
        char c = *p++;
        switch (c) {
        case 'a': strbuf_putc(&sb, '\a'); break;
        case 'b': strbuf_putc(&sb, '\b'); break;
        case 'f': strbuf_putc(&sb, '\f'); break;
        case 'n': strbuf_putc(&sb, '\n'); break;
        case 'r': strbuf_putc(&sb, '\r'); break;
        case 't': strbuf_putc(&sb, '\t'); break;
        case 'v': strbuf_putc(&sb, '\v'); break;
        case '\\':
        case '\'':
        case '"': strbuf_putc(&sb, c); break;
        case 'x':
        case 'u':
        case 'U': {
            int digits = c == 'x' ? 2 : c == 'u' ? 4 : 8;
            uint32_t v = 0;
            for (int i = 0; i < digits; i++) {
                int h = p < end ? hexval(*p) : -1;
                if (h < 0) {
                    strbuf_free(&sb);
                    return pl_err_set(err, "invalid escape sequence in string");
                }
                v = v * 16 + (uint32_t)h;
                p++;
            }
            if (c == 'x')
                strbuf_putc(&sb, (char)v);
            else
                put_utf8(&sb, v);
            break;
        }
        default:
            if (c >= '0' && c <= '7') {
                uint32_t v = (uint32_t)(c - '0');
                for (int i = 0; i < 2; i++) {
                    if (p >= end || *p < '0' || *p > '7') {
                        strbuf_free(&sb);
                        return pl_err_set(err, "invalid octal escape in string");
                    }
                    v = v * 8 + (uint32_t)(*p++ - '0');
                }
                strbuf_putc(&sb, (char)v);
                break;
            }
            strbuf_free(&sb);
            return pl_err_set(err, "unknown escape sequence \\%c in string", c);
        }
    }
    if (p >= end) {
        strbuf_free(&sb);
        return pl_err_set(err, "unterminated quoted string");
    }
    *pp = p + 1;
    *out = strbuf_detach(&sb);
    return 0;
}

/* A number as the PromQL lexer reads one in a series description: decimal
 * with optional fraction and exponent, or Inf/NaN (any case). No sign and no
 * hexadecimal: "0x5" in a value sequence is 0 repeated 5 more times. */
static bool scan_unsigned_number(const char **pp, const char *end, double *v) {
    const char *p = *pp;
    if (has_prefix_ci(p, end, "inf") && !(p + 3 < end && is_ident_char(p[3]))) {
        *v = INFINITY;
        *pp = p + 3;
        return true;
    }
    if (has_prefix_ci(p, end, "nan") && !(p + 3 < end && is_ident_char(p[3]))) {
        *v = NAN;
        *pp = p + 3;
        return true;
    }
    const char *s = p;
    bool digits = false;
    while (p < end && isdigit((unsigned char)*p))
        p++, digits = true;
    if (p < end && *p == '.') {
        p++;
        while (p < end && isdigit((unsigned char)*p))
            p++, digits = true;
    }
    if (!digits) return false;
    if (p < end && (*p == 'e' || *p == 'E')) {
        const char *q = p + 1;
        if (q < end && (*q == '+' || *q == '-')) q++;
        if (q < end && isdigit((unsigned char)*q)) {
            while (q < end && isdigit((unsigned char)*q))
                q++;
            p = q;
        }
    }
    char buf[128];
    size_t n = (size_t)(p - s);
    if (n >= sizeof buf) return false;
    memcpy(buf, s, n);
    buf[n] = '\0';
    *v = strtod(buf, NULL);
    *pp = p;
    return true;
}

static bool scan_signed_number(const char **pp, const char *end, double *v) {
    const char *p = *pp;
    double sign = 1;
    if (p < end && (*p == '+' || *p == '-')) {
        if (*p == '-') sign = -1;
        p++;
    }
    if (!scan_unsigned_number(&p, end, v)) return false;
    *v *= sign;
    *pp = p;
    return true;
}

static bool scan_uint(const char **pp, const char *end, uint64_t *v) {
    const char *p = *pp;
    uint64_t n = 0;
    if (p >= end || !isdigit((unsigned char)*p)) return false;
    while (p < end && isdigit((unsigned char)*p)) {
        if (n > (UINT64_MAX - 9) / 10) return false;
        n = n * 10 + (uint64_t)(*p++ - '0');
    }
    *v = n;
    *pp = p;
    return true;
}

/* The harness's parseNumber for a bare scalar line: Go's ParseInt with base
 * prefix (0x.., 0o.., 0b.., leading-0 octal), else ParseFloat. The whole
 * text must be consumed. */
static bool parse_whole_number(const char *s, size_t n, double *v) {
    char buf[128];
    if (n == 0 || n >= sizeof buf) return false;
    memcpy(buf, s, n);
    buf[n] = '\0';
    for (size_t i = 0; i < n; i++)
        if (buf[i] == '_' || is_space(buf[i])) return false;
    char *e;
    errno = 0;
    const char *digits = buf + (buf[0] == '+' || buf[0] == '-');
    bool prefixed = digits[0] == '0' && (digits[1] == 'o' || digits[1] == 'O' || digits[1] == 'b' || digits[1] == 'B');
    if (prefixed) {
        int base = (digits[1] == 'o' || digits[1] == 'O') ? 8 : 2;
        long long x = strtoll(digits + 2, &e, base);
        if (*e == '\0' && e != digits + 2 && errno == 0) {
            *v = (double)(buf[0] == '-' ? -x : x);
            return true;
        }
        return false;
    }
    long long x = strtoll(buf, &e, 0);
    if (*e == '\0' && errno == 0) {
        *v = (double)x;
        return true;
    }
    errno = 0;
    double d = strtod(buf, &e);
    if (*e != '\0') return false;
    /* strtod also reads hex floats and "infinity"; so does Go's ParseFloat,
     * except the "nan(...)" payload form, which nobody writes. */
    *v = d;
    return true;
}

/* A duration as the harness reads times and steps (model.ParseDuration);
 * a plain number of seconds is accepted too. */
static int parse_time(const char *s, size_t n, int64_t *ms, pl_err_t *err) {
    char buf[64];
    if (n == 0 || n >= sizeof buf) return pl_err_set(err, "invalid duration %.*s", (int)n, s);
    memcpy(buf, s, n);
    buf[n] = '\0';
    pl_err_t e2;
    if (pl_parse_duration(buf, ms, &e2) == 0) return 0;
    char *e;
    double secs = strtod(buf, &e);
    if (*e == '\0' && isfinite(secs)) {
        *ms = (int64_t)llround(secs * 1000);
        return 0;
    }
    return pl_err_set(err, "invalid duration \"%s\": %s", buf, e2.msg);
}

/* ------------------------------------------------------------------ */
/* value sequences                                                      */
/* ------------------------------------------------------------------ */

static void add_sample(promqltest_series_t *s, double v) {
    s->samples = xrealloc(s->samples, (s->nsamples + 1) * sizeof *s->samples);
    s->samples[s->nsamples].t = (int64_t)s->nslots;
    s->samples[s->nsamples].v = v;
    s->nsamples++;
    s->nslots++;
}

/* Skips a `{{ ... }}` histogram literal; *pp is at the first '{'. */
static int skip_histogram(const char **pp, const char *end, pl_err_t *err) {
    const char *p = *pp + 2;
    while (p + 1 < end && !(p[0] == '}' && p[1] == '}'))
        p++;
    if (p + 1 >= end) return pl_err_set(err, "unterminated histogram literal {{...}}");
    *pp = p + 2;
    return 0;
}

/* Upper bound on how many slots one item may expand to: a typo such as
 * 1x1000000000000 must not exhaust memory. */
#define MAX_REPEAT 10000000ULL

static int parse_item(const char **pp, const char *end, promqltest_series_t *s, pl_err_t *err) {
    const char *p = *pp;
    uint64_t times;
    if (*p == '_') {
        p++;
        uint64_t k = 1;
        if (p < end && *p == 'x') {
            p++;
            if (!scan_uint(&p, end, &k)) return pl_err_set(err, "expected a count after \"_x\"");
        }
        if (k > MAX_REPEAT) return pl_err_set(err, "repeat count too large");
        s->nslots += (size_t)k;
        *pp = p;
        return 0;
    }
    if (p + 1 < end && p[0] == '{' && p[1] == '{') {
        if (skip_histogram(&p, end, err) < 0) return -1;
        s->has_histogram = true;
        uint64_t k = 0;
        if (p < end && (*p == '+' || *p == '-')) {
            p++;
            if (!(p + 1 < end && p[0] == '{' && p[1] == '{'))
                return pl_err_set(err, "expected a histogram after +/- in a histogram sequence");
            if (skip_histogram(&p, end, err) < 0) return -1;
            if (!(p < end && *p == 'x')) return pl_err_set(err, "expected x<count> after {{...}}+{{...}}");
        }
        if (p < end && *p == 'x') {
            p++;
            if (!scan_uint(&p, end, &k)) return pl_err_set(err, "expected a count after \"x\"");
        }
        if (k >= MAX_REPEAT) return pl_err_set(err, "repeat count too large");
        for (uint64_t i = 0; i <= k; i++)
            *PUSH(&s->hist_slots, &s->nhist) = (int64_t)s->nslots + (int64_t)i;
        s->nslots += (size_t)k + 1;
        *pp = p;
        return 0;
    }
    double a;
    if ((size_t)(end - p) >= 5 && strncmp(p, "stale", 5) == 0 && !(p + 5 < end && is_ident_char(p[5]))) {
        p += 5;
        a = pl_stale_nan();
    } else if (!scan_signed_number(&p, end, &a)) {
        return pl_err_set(err, "invalid value \"%.*s\" in value sequence", (int)(end - *pp), *pp);
    }
    if (p < end && *p == 'x') {
        p++;
        if (!scan_uint(&p, end, &times)) return pl_err_set(err, "expected a count after \"x\"");
        if (times >= MAX_REPEAT) return pl_err_set(err, "repeat count too large");
        for (uint64_t i = 0; i <= times; i++)
            add_sample(s, a);
    } else if (p < end && (*p == '+' || *p == '-')) {
        double step;
        if (!scan_signed_number(&p, end, &step)) return pl_err_set(err, "expected a number after +/-");
        if (!(p < end && *p == 'x')) return pl_err_set(err, "expected x<count> after a+b");
        p++;
        if (!scan_uint(&p, end, &times)) return pl_err_set(err, "expected a count after \"x\"");
        if (times >= MAX_REPEAT) return pl_err_set(err, "repeat count too large");
        /* Repeated addition, not a + i*step: the rounding must match. */
        add_sample(s, a);
        for (uint64_t i = 1; i <= times; i++) {
            a += step;
            add_sample(s, a);
        }
    } else {
        add_sample(s, a);
    }
    if (p < end && !is_space(*p)) return pl_err_set(err, "unexpected \"%.*s\" in value sequence", (int)(end - p), p);
    *pp = p;
    return 0;
}

int promqltest_parse_values(const char *text, size_t len, promqltest_series_t *s, pl_err_t *err) {
    const char *p = text, *end = text + len;
    for (;;) {
        p = skip_space(p, end);
        if (p >= end) return 0;
        if (parse_item(&p, end, s, err) < 0) return -1;
    }
}

/* ------------------------------------------------------------------ */
/* series descriptors                                                   */
/* ------------------------------------------------------------------ */

static int cmp_label(const void *a, const void *b) {
    return strcmp(((const label_t *)a)->name, ((const label_t *)b)->name);
}

static void add_label(promqltest_series_t *s, char *name, char *value) {
    label_t *l = PUSH(&s->labels, &s->nlabels);
    l->name = name;
    l->value = value;
}

static void series_free(promqltest_series_t *s) {
    for (size_t i = 0; i < s->nlabels; i++) {
        free((char *)s->labels[i].name);
        free((char *)s->labels[i].value);
    }
    free(s->labels);
    free(s->samples);
    free(s->hist_slots);
    memset(s, 0, sizeof *s);
}

/* Parses `name`, `name{a="b",...}` or `{...}` at *pp into s->labels. */
static int parse_series_desc(const char **pp, const char *end, promqltest_series_t *s, pl_err_t *err) {
    const char *p = *pp;
    if (p < end && is_ident_start(*p)) {
        const char *n0 = p;
        while (p < end && is_ident_char(*p))
            p++;
        add_label(s, xstrndup(LABEL_METRIC_NAME, strlen(LABEL_METRIC_NAME)), xstrndup(n0, (size_t)(p - n0)));
        /* `name {a="b"}` is one descriptor, but `name {{...}}` is a name and a histogram. */
        const char *q = skip_space(p, end);
        if (q < end && *q == '{' && !(q + 1 < end && q[1] == '{')) p = q;
    }
    if (p < end && *p == '{' && !(p + 1 < end && p[1] == '{')) {
        p++;
        for (;;) {
            p = skip_space(p, end);
            if (p < end && *p == '}') {
                p++;
                break;
            }
            char *name = NULL, *value = NULL;
            if (p < end && (*p == '"' || *p == '\'' || *p == '`')) {
                if (parse_quoted(&p, end, &name, err) < 0) return -1;
            } else if (p < end && is_ident_start(*p)) {
                const char *n0 = p;
                while (p < end && is_ident_char(*p))
                    p++;
                name = xstrndup(n0, (size_t)(p - n0));
            } else {
                return pl_err_set(err, "expected a label name in series description");
            }
            p = skip_space(p, end);
            if (p < end && *p == '=') {
                p = skip_space(p + 1, end);
                if (!(p < end && (*p == '"' || *p == '\'' || *p == '`'))) {
                    free(name);
                    return pl_err_set(err, "expected a quoted label value in series description");
                }
                if (parse_quoted(&p, end, &value, err) < 0) {
                    free(name);
                    return -1;
                }
                add_label(s, name, value);
            } else {
                /* A lone quoted string is the metric name: {"my.metric", a="b"}. */
                add_label(s, xstrndup(LABEL_METRIC_NAME, strlen(LABEL_METRIC_NAME)), name);
            }
            p = skip_space(p, end);
            if (p < end && *p == ',') {
                p++;
                continue;
            }
            if (p < end && *p == '}') {
                p++;
                break;
            }
            return pl_err_set(err, "expected ',' or '}' in series description");
        }
    }
    if (s->nlabels == 0 && p == *pp) return pl_err_set(err, "expected a series description");
    if (s->nlabels > 1) qsort(s->labels, s->nlabels, sizeof *s->labels, cmp_label);
    for (size_t i = 1; i < s->nlabels; i++)
        if (strcmp(s->labels[i - 1].name, s->labels[i].name) == 0)
            return pl_err_set(err, "label %s given twice in series description", s->labels[i].name);
    *pp = p;
    return 0;
}

/* A whole series line: descriptor, then the value sequence. *is_st is set
 * for a start-timestamp line (`desc@st values`), whose values are not read. */
static int parse_series_line(const char *line, size_t len, promqltest_series_t *s, bool *is_st, pl_err_t *err) {
    const char *p = line, *end = line + len;
    *is_st = false;
    if (parse_series_desc(&p, end, s, err) < 0) return -1;
    if ((size_t)(end - p) >= 3 && strncmp(p, "@st", 3) == 0) {
        *is_st = true;
        return 0;
    }
    if (p < end && !is_space(*p)) return pl_err_set(err, "expected whitespace after the series description");
    return promqltest_parse_values(p, (size_t)(end - p), s, err);
}

static const char *series_name(const promqltest_series_t *s) {
    for (size_t i = 0; i < s->nlabels; i++)
        if (strcmp(s->labels[i].name, LABEL_METRIC_NAME) == 0) return s->labels[i].value;
    return NULL;
}

/* ------------------------------------------------------------------ */
/* files                                                                */
/* ------------------------------------------------------------------ */

static int regex_search_fwd(const char *pattern, const char *text, strbuf_t *why);

typedef struct line {
    const char *s;
    size_t n;
} line_t;

typedef struct name_set {
    char **names;
    size_t n;
} name_set_t;

static bool name_set_has(const name_set_t *ns, const char *s, size_t n) {
    for (size_t i = 0; i < ns->n; i++)
        if (strlen(ns->names[i]) == n && memcmp(ns->names[i], s, n) == 0) return true;
    return false;
}

static void name_set_add(name_set_t *ns, const char *s, size_t n) {
    if (name_set_has(ns, s, n)) return;
    char **slot = PUSH(&ns->names, &ns->n);
    *slot = xstrndup(s, n);
}

static void name_set_clear(name_set_t *ns) {
    for (size_t i = 0; i < ns->n; i++)
        free(ns->names[i]);
    free(ns->names);
    ns->names = NULL;
    ns->n = 0;
}

/* For a selector without a metric name ("{...}", *pp at the '{'): can its
 * __name__ matcher select a metric in hist? `__name__="x"` and
 * `__name__=~"re"` are checked against the names (the regex fully
 * anchored); any other selector is assumed to. *pp is left after the '}'. */
static bool nameless_selector_touches(const char **pp, const char *end, const name_set_t *hist) {
    const char *p = *pp + 1;
    bool decided = false, touches = true;
    while (p < end && *p != '}') {
        if (*p == '"' || *p == '\'' || *p == '`') {
            char *skip = NULL;
            if (parse_quoted(&p, end, &skip, NULL) < 0) break;
            free(skip);
            continue;
        }
        if (!decided && (size_t)(end - p) > 8 && strncmp(p, "__name__", 8) == 0 && !is_ident_char(p[8])) {
            const char *q = skip_space(p + 8, end);
            bool eq = q < end && *q == '=' && !(q + 1 < end && q[1] == '~');
            bool re = q + 1 < end && q[0] == '=' && q[1] == '~';
            if (eq || re) {
                q = skip_space(q + (eq ? 1 : 2), end);
                char *val = NULL;
                if (q < end && (*q == '"' || *q == '\'' || *q == '`') && parse_quoted(&q, end, &val, NULL) == 0) {
                    decided = true;
                    touches = false;
                    if (eq) {
                        touches = name_set_has(hist, val, strlen(val));
                    } else {
                        strbuf_t anchored = STRBUF_INIT;
                        strbuf_printf(&anchored, "^(?:%s)$", val);
                        strbuf_t ignore = STRBUF_INIT;
                        for (size_t i = 0; i < hist->n && !touches; i++)
                            touches = regex_search_fwd(anchored.data, hist->names[i], &ignore) != 0;
                        strbuf_free(&ignore);
                        strbuf_free(&anchored);
                    }
                    free(val);
                    p = q;
                    continue;
                }
            }
        }
        p++;
    }
    *pp = p < end ? p + 1 : end;
    return touches;
}

/* Does the query touch a metric in hist, or select without a metric name
 * while any histogram data is loaded? A lexical approximation of the
 * reference inventory's rule: identifiers outside strings, comments and
 * durations are taken as possible metric names, and a '{' not preceded by
 * an identifier is a selector without a name. */
static bool query_touches(const char *q, const name_set_t *hist) {
    if (hist->n == 0) return false;
    const char *p = q, *end = q + strlen(q);
    bool prev_ident = false;
    while (p < end) {
        char c = *p;
        if (c == '"' || c == '\'' || c == '`') {
            const char *s0 = ++p;
            while (p < end && *p != c) {
                if (c != '`' && *p == '\\' && p + 1 < end) p++;
                p++;
            }
            /* {__name__="histogram_metric"} */
            if (name_set_has(hist, s0, (size_t)(p - s0))) return true;
            if (p < end) p++;
            prev_ident = false;
        } else if (c == '#') {
            break;
        } else if (isdigit((unsigned char)c) || c == '.') {
            while (p < end && (isalnum((unsigned char)*p) || *p == '.' || *p == '_'))
                p++;
            prev_ident = false;
        } else if (is_ident_start(c)) {
            const char *s0 = p;
            while (p < end && is_ident_char(*p))
                p++;
            if (name_set_has(hist, s0, (size_t)(p - s0))) return true;
            prev_ident = true;
        } else if (c == '{') {
            if (!prev_ident && nameless_selector_touches(&p, end, hist)) return true;
            if (prev_ident) p++;
            prev_ident = false;
        } else {
            if (!is_space(c)) prev_ident = false;
            p++;
        }
    }
    return false;
}

static void eval_free(promqltest_eval_t *e) {
    free(e->expr);
    free(e->fail_msg);
    free(e->fail_regex);
    for (size_t i = 0; i < e->nwarns; i++)
        free(e->warns[i].text);
    for (size_t i = 0; i < e->ninfos; i++)
        free(e->infos[i].text);
    free(e->warns);
    free(e->infos);
    free(e->string);
    for (size_t i = 0; i < e->nexpected; i++)
        series_free(&e->expected[i]);
    free(e->expected);
}

void promqltest_file_free(promqltest_file_t *f) {
    if (!f) return;
    for (size_t i = 0; i < f->ncmds; i++) {
        promqltest_cmd_t *c = &f->cmds[i];
        if (c->kind == PROMQLTEST_CMD_LOAD) {
            for (size_t j = 0; j < c->load.nseries; j++)
                series_free(&c->load.series[j]);
            free(c->load.series);
        } else if (c->kind == PROMQLTEST_CMD_EVAL) {
            eval_free(&c->eval);
        }
    }
    free(f->cmds);
    free(f->path);
    memset(f, 0, sizeof *f);
}

/* Splits [s, s+n) at whitespace: the first word and the rest (trimmed). */
static void split_word(const char *s, size_t n, line_t *word, line_t *rest) {
    const char *p = s, *end = s + n;
    while (p < end && !is_space(*p))
        p++;
    word->s = s;
    word->n = (size_t)(p - s);
    p = skip_space(p, end);
    rest->s = p;
    rest->n = (size_t)(end - p);
}

static bool word_is(line_t w, const char *lit) { return w.n == strlen(lit) && memcmp(w.s, lit, w.n) == 0; }

static bool same_labels(const label_t *a, size_t na, const label_t *b, size_t nb);

static int parse_load(const line_t *lines, size_t nlines, size_t *i, promqltest_cmd_t *cmd, name_set_t *hist,
                      pl_err_t *err) {
    line_t kw, rest;
    split_word(lines[*i].s, lines[*i].n, &kw, &rest);
    promqltest_load_t *ld = &cmd->load;
    ld->with_nhcb = word_is(kw, "load_with_nhcb");
    line_t iv, extra;
    split_word(rest.s, rest.n, &iv, &extra);
    if (iv.n == 0 || extra.n != 0) return pl_err_set(err, "invalid load command. (load[_with_nhcb] <step:duration>)");
    if (parse_time(iv.s, iv.n, &ld->interval_ms, err) < 0) return -1;
    while (*i + 1 < nlines && lines[*i + 1].n != 0) {
        (*i)++;
        promqltest_series_t s = {0};
        s.line = (int)*i + 1;
        bool is_st;
        if (parse_series_line(lines[*i].s, lines[*i].n, &s, &is_st, err) < 0) {
            series_free(&s);
            return -1;
        }
        if (is_st) {
            ld->nst_lines++;
            series_free(&s);
            continue;
        }
        const char *name = series_name(&s);
        if (s.has_histogram) {
            ld->has_histogram = true;
            if (name) name_set_add(hist, name, strlen(name));
        }
        if (ld->with_nhcb && name) {
            size_t nl = strlen(name);
            if (nl > 7 && strcmp(name + nl - 7, "_bucket") == 0) {
                name_set_add(hist, name, nl - 7);
                ld->has_histogram = true;
            }
        }
        /* The harness keys a load's series by label set: a repeat replaces. */
        bool replaced = false;
        for (size_t j = 0; j < ld->nseries; j++) {
            if (same_labels(ld->series[j].labels, ld->series[j].nlabels, s.labels, s.nlabels)) {
                series_free(&ld->series[j]);
                ld->series[j] = s;
                replaced = true;
                break;
            }
        }
        if (!replaced) *PUSH(&ld->series, &ld->nseries) = s;
    }
    return 0;
}

static int parse_expect(line_t rest, promqltest_eval_t *ev, pl_err_t *err) {
    line_t what, arg;
    split_word(rest.s, rest.n, &what, &arg);
    if (word_is(what, "ordered")) {
        if (ev->is_range) return pl_err_set(err, "expect ordered is not allowed in a range eval");
        ev->ordered = true;
        return 0;
    }
    if (word_is(what, "no_warn")) {
        ev->no_warn = true;
        return 0;
    }
    if (word_is(what, "no_info")) {
        ev->no_info = true;
        return 0;
    }
    if (word_is(what, "string")) {
        const char *p = arg.s, *end = arg.s + arg.n;
        if (!(p < end && (*p == '"' || *p == '`' || *p == '\'')))
            return pl_err_set(err, "expected a quoted string after expect string");
        free(ev->string);
        ev->string = NULL;
        if (parse_quoted(&p, end, &ev->string, err) < 0) return -1;
        if (skip_space(p, end) != end) return pl_err_set(err, "unexpected text after the expected string");
        ev->kind = PROMQLTEST_EXPECT_STRING;
        return 0;
    }
    if (word_is(what, "range")) {
        /* expect range vector from <t> to <t> step <d> */
        line_t w[7];
        line_t r = arg;
        for (int k = 0; k < 7; k++)
            split_word(r.s, r.n, &w[k], &r);
        if (!word_is(w[0], "vector") || !word_is(w[1], "from") || !word_is(w[3], "to") || !word_is(w[5], "step") ||
            r.n != 0)
            return pl_err_set(err, "invalid expect range vector line");
        if (parse_time(w[2].s, w[2].n, &ev->rv_start_ms, err) < 0 ||
            parse_time(w[4].s, w[4].n, &ev->rv_end_ms, err) < 0 || parse_time(w[6].s, w[6].n, &ev->rv_step_ms, err) < 0)
            return -1;
        if (ev->rv_step_ms <= 0) return pl_err_set(err, "step of expect range vector must be positive");
        ev->range_vector = true;
        ev->kind = PROMQLTEST_EXPECT_MATRIX;
        return 0;
    }
    bool is_fail = word_is(what, "fail"), is_warn = word_is(what, "warn"), is_info = word_is(what, "info");
    if (!is_fail && !is_warn && !is_info) return pl_err_set(err, "unknown expect \"%.*s\"", (int)what.n, what.s);
    promqltest_match_t m = PROMQLTEST_MATCH_ANY;
    char *text = NULL;
    if (arg.n) {
        const char *colon = memchr(arg.s, ':', arg.n);
        line_t key = {arg.s, colon ? (size_t)(colon - arg.s) : 0};
        if (colon && word_is(key, "msg"))
            m = PROMQLTEST_MATCH_MSG;
        else if (colon && word_is(key, "regex"))
            m = PROMQLTEST_MATCH_REGEX;
        else
            return pl_err_set(err, "expected msg: or regex: after expect %.*s", (int)what.n, what.s);
        const char *t = skip_space(colon + 1, arg.s + arg.n);
        text = xstrndup(t, (size_t)(arg.s + arg.n - t));
    }
    if (is_fail) {
        if (ev->expect_fail) {
            free(text);
            return pl_err_set(err, "only one expect fail is allowed per eval");
        }
        ev->expect_fail = true;
        if (m == PROMQLTEST_MATCH_MSG) ev->fail_msg = text;
        if (m == PROMQLTEST_MATCH_REGEX) ev->fail_regex = text;
        return 0;
    }
    promqltest_annot_t *a = is_warn ? PUSH(&ev->warns, &ev->nwarns) : PUSH(&ev->infos, &ev->ninfos);
    a->match = m;
    a->text = text;
    return 0;
}

static int parse_eval(const line_t *lines, size_t nlines, size_t *i, promqltest_cmd_t *cmd, const name_set_t *hist,
                      pl_err_t *err) {
    promqltest_eval_t *ev = &cmd->eval;
    line_t kw, rest;
    split_word(lines[*i].s, lines[*i].n, &kw, &rest);
    /* eval, or the deprecated eval_fail / eval_warn / eval_info / eval_ordered */
    bool old_warn = false, old_info = false;
    if (word_is(kw, "eval_fail"))
        ev->expect_fail = true;
    else if (word_is(kw, "eval_warn"))
        old_warn = true;
    else if (word_is(kw, "eval_info"))
        old_info = true;
    else if (word_is(kw, "eval_ordered"))
        ev->ordered = true;
    else if (!word_is(kw, "eval"))
        return pl_err_set(err, "invalid command \"%.*s\"", (int)kw.n, kw.s);

    line_t mode;
    split_word(rest.s, rest.n, &mode, &rest);
    if (word_is(mode, "instant")) {
        line_t at, t;
        split_word(rest.s, rest.n, &at, &rest);
        if (!word_is(at, "at")) return pl_err_set(err, "invalid eval instant command, expected \"at <time>\"");
        split_word(rest.s, rest.n, &t, &rest);
        if (parse_time(t.s, t.n, &ev->start_ms, err) < 0) return -1;
        ev->end_ms = ev->start_ms;
    } else if (word_is(mode, "range")) {
        if (ev->ordered) return pl_err_set(err, "eval_ordered is not allowed for range queries");
        line_t w[6];
        for (int k = 0; k < 6; k++)
            split_word(rest.s, rest.n, &w[k], &rest);
        if (!word_is(w[0], "from") || !word_is(w[2], "to") || !word_is(w[4], "step"))
            return pl_err_set(err, "invalid eval range command, expected \"from <t> to <t> step <d>\"");
        if (parse_time(w[1].s, w[1].n, &ev->start_ms, err) < 0 || parse_time(w[3].s, w[3].n, &ev->end_ms, err) < 0)
            return -1;
        line_t st = w[5];
        if (parse_time(st.s, st.n, &ev->step_ms, err) < 0) return -1;
        if (ev->step_ms <= 0) return pl_err_set(err, "step must be positive");
        if (ev->end_ms < ev->start_ms) return pl_err_set(err, "end of range before its start");
        ev->is_range = true;
        ev->kind = PROMQLTEST_EXPECT_MATRIX;
    } else {
        return pl_err_set(err, "invalid eval command, expected \"instant\" or \"range\"");
    }
    if (rest.n == 0) return pl_err_set(err, "eval command without a query");
    ev->expr = xstrndup(rest.s, rest.n);
    if (old_warn) PUSH(&ev->warns, &ev->nwarns)->match = PROMQLTEST_MATCH_ANY;
    if (old_info) PUSH(&ev->infos, &ev->ninfos)->match = PROMQLTEST_MATCH_ANY;

    bool any_histogram = false;
    while (*i + 1 < nlines && lines[*i + 1].n != 0) {
        (*i)++;
        const char *s = lines[*i].s;
        size_t n = lines[*i].n;
        line_t w, r;
        split_word(s, n, &w, &r);
        if (word_is(w, "expect")) {
            if (parse_expect(r, ev, err) < 0) return -1;
            continue;
        }
        if (word_is(w, "expected_fail_message") || word_is(w, "expected_fail_regexp")) {
            if (!ev->expect_fail) return pl_err_set(err, "%.*s is only allowed after eval_fail", (int)w.n, w.s);
            char **dst = word_is(w, "expected_fail_message") ? &ev->fail_msg : &ev->fail_regex;
            free(*dst);
            *dst = xstrndup(r.s, r.n);
            continue;
        }
        double v;
        if (parse_whole_number(s, n, &v)) {
            /* As in the reference harness, a scalar line ends the block. */
            ev->kind = PROMQLTEST_EXPECT_SCALAR;
            ev->scalar = v;
            break;
        }
        promqltest_series_t ser = {0};
        ser.line = (int)*i + 1;
        bool is_st;
        if (parse_series_line(s, n, &ser, &is_st, err) < 0) {
            series_free(&ser);
            return -1;
        }
        if (is_st) {
            series_free(&ser);
            return pl_err_set(err, "start timestamps are not allowed in expected results");
        }
        if (ser.has_histogram) any_histogram = true;
        if (!ev->is_range && !ev->range_vector && ser.nslots > 1) {
            series_free(&ser);
            return pl_err_set(err, "expecting multiple values in instant evaluation not allowed");
        }
        *PUSH(&ev->expected, &ev->nexpected) = ser;
    }
    if (ev->no_warn && ev->nwarns) return pl_err_set(err, "expect no_warn cannot be combined with expect warn");
    if (ev->no_info && ev->ninfos) return pl_err_set(err, "expect no_info cannot be combined with expect info");
    if (ev->range_vector && ev->is_range) return pl_err_set(err, "expect range vector is only for instant evals");
    ev->expects_histograms = any_histogram;
    ev->involves_histograms = any_histogram || query_touches(ev->expr, hist);
    return 0;
}

static bool same_labels(const label_t *a, size_t na, const label_t *b, size_t nb) {
    if (na != nb) return false;
    for (size_t i = 0; i < na; i++) {
        bool found = false;
        for (size_t j = 0; j < nb; j++) {
            if (strcmp(a[i].name, b[j].name) == 0) {
                if (strcmp(a[i].value, b[j].value) != 0) return false;
                found = true;
                break;
            }
        }
        if (!found) return false;
    }
    return true;
}

int promqltest_parse(const char *path, const char *text, size_t len, promqltest_file_t *out, pl_err_t *err) {
    memset(out, 0, sizeof *out);
    out->path = xstrndup(path, strlen(path));
    /* Split into trimmed lines; comment lines become empty. */
    line_t *lines = NULL;
    size_t nlines = 0;
    const char *p = text, *end = text + len;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *le = nl ? nl : end;
        const char *a = p, *b = le;
        while (a < b && is_space(*a))
            a++;
        while (b > a && is_space(b[-1]))
            b--;
        line_t *l = PUSH(&lines, &nlines);
        l->s = a;
        l->n = (a < b && *a == '#') ? 0 : (size_t)(b - a);
        p = nl ? nl + 1 : end;
    }

    name_set_t hist = {0};
    int rc = 0;
    for (size_t i = 0; i < nlines; i++) {
        if (lines[i].n == 0) continue;
        line_t kw, rest;
        split_word(lines[i].s, lines[i].n, &kw, &rest);
        promqltest_cmd_t cmd;
        memset(&cmd, 0, sizeof cmd);
        cmd.line = (int)i + 1;
        if (word_is(kw, "clear")) {
            if (rest.n) {
                rc = pl_err_set(err, "%s:%zu: unexpected text after clear", path, i + 1);
                break;
            }
            cmd.kind = PROMQLTEST_CMD_CLEAR;
            name_set_clear(&hist);
            out->nclears++;
        } else if (word_is(kw, "load") || word_is(kw, "load_with_nhcb")) {
            cmd.kind = PROMQLTEST_CMD_LOAD;
            if (parse_load(lines, nlines, &i, &cmd, &hist, err) < 0) {
                for (size_t j = 0; j < cmd.load.nseries; j++)
                    series_free(&cmd.load.series[j]);
                free(cmd.load.series);
                rc = pl_err_prefix(err, "%s:%zu", path, i + 1);
                break;
            }
            out->nloads++;
        } else if (kw.n >= 4 && memcmp(kw.s, "eval", 4) == 0) {
            cmd.kind = PROMQLTEST_CMD_EVAL;
            if (parse_eval(lines, nlines, &i, &cmd, &hist, err) < 0) {
                eval_free(&cmd.eval);
                rc = pl_err_prefix(err, "%s:%zu", path, i + 1);
                break;
            }
            out->nevals++;
            if (cmd.eval.involves_histograms) out->nevals_histogram++;
        } else {
            rc = pl_err_set(err, "%s:%zu: invalid command \"%.*s\"", path, i + 1, (int)kw.n, kw.s);
            break;
        }
        *PUSH(&out->cmds, &out->ncmds) = cmd;
    }
    name_set_clear(&hist);
    free(lines);
    if (rc < 0) {
        promqltest_file_free(out);
        return -1;
    }
    return 0;
}

int promqltest_parse_file(const char *path, promqltest_file_t *out, pl_err_t *err) {
    memset(out, 0, sizeof *out);
    FILE *f = fopen(path, "rb");
    if (!f) return pl_err_set(err, "%s: %s", path, strerror(errno));
    strbuf_t sb = STRBUF_INIT;
    char buf[65536];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, f)) > 0)
        strbuf_append(&sb, buf, n);
    bool bad = ferror(f);
    fclose(f);
    if (bad) {
        strbuf_free(&sb);
        return pl_err_set(err, "%s: read error", path);
    }
    int rc = promqltest_parse(path, sb.data ? sb.data : "", sb.len, out, err);
    strbuf_free(&sb);
    return rc;
}

/* ------------------------------------------------------------------ */
/* runner: comparisons                                                  */
/* ------------------------------------------------------------------ */

#define WARN_PREFIX "PromQL warning: "
#define INFO_PREFIX "PromQL info: "

/* Float equality as the harness sees it: relative 1e-6 (almost.Equal),
 * NaN equals NaN, and a stale marker only equals a stale marker. */
static bool floats_match(double expected, double got) {
    bool se = pl_is_stale_nan(expected), sg = pl_is_stale_nan(got);
    if (se || sg) return se && sg;
    return prom_almost_equal(expected, got, FLOAT_EPSILON);
}

/* Unanchored regex search (Go's MatchString). Returns 1 match, 0 no match,
 * -1 if the pattern does not compile (message in why). */
static int regex_search(const char *pattern, const char *text, strbuf_t *why) {
    int ec;
    PCRE2_SIZE eo;
    pcre2_code *re = pcre2_compile((PCRE2_SPTR)pattern, PCRE2_ZERO_TERMINATED, PCRE2_UTF, &ec, &eo, NULL);
    if (!re) {
        PCRE2_UCHAR msg[256];
        pcre2_get_error_message(ec, msg, sizeof msg);
        strbuf_printf(why, "invalid regex %s: %s", pattern, (const char *)msg);
        return -1;
    }
    pcre2_match_data *md = pcre2_match_data_create_from_pattern(re, NULL);
    int rc = pcre2_match(re, (PCRE2_SPTR)text, strlen(text), 0, 0, md, NULL);
    pcre2_match_data_free(md);
    pcre2_code_free(re);
    return rc >= 0 ? 1 : 0;
}

static int regex_search_fwd(const char *pattern, const char *text, strbuf_t *why) {
    return regex_search(pattern, text, why);
}

static const char *value_type_name(promqltest_value_type_t t) {
    switch (t) {
    case PROMQLTEST_VAL_SCALAR: return "scalar";
    case PROMQLTEST_VAL_STRING: return "string";
    case PROMQLTEST_VAL_VECTOR: return "vector";
    case PROMQLTEST_VAL_MATRIX: return "matrix";
    }
    return "?";
}

static void put_float(strbuf_t *sb, double v) {
    if (pl_is_stale_nan(v)) {
        strbuf_puts(sb, "stale");
        return;
    }
    strbuf_put_float(sb, v);
}

/* A short rendering of a result for "got ..." messages. */
static void put_result(strbuf_t *sb, const promqltest_result_t *res) {
    switch (res->type) {
    case PROMQLTEST_VAL_SCALAR:
        strbuf_puts(sb, "scalar ");
        put_float(sb, res->scalar);
        return;
    case PROMQLTEST_VAL_STRING: strbuf_printf(sb, "string \"%s\"", res->string ? res->string : ""); return;
    case PROMQLTEST_VAL_VECTOR:
    case PROMQLTEST_VAL_MATRIX: break;
    }
    strbuf_printf(sb, "%s [", value_type_name(res->type));
    for (size_t i = 0; i < res->nseries && i < 10; i++) {
        const promqltest_result_series_t *rs = &res->series[i];
        if (i) strbuf_puts(sb, ", ");
        labels_format(sb, rs->labels, rs->nlabels);
        strbuf_puts(sb, " =>");
        for (size_t k = 0; k < rs->nsamples && k < 12; k++) {
            strbuf_putc(sb, ' ');
            put_float(sb, rs->samples[k].v);
            if (res->type == PROMQLTEST_VAL_MATRIX) strbuf_printf(sb, "@%lld", (long long)rs->samples[k].t);
        }
        if (rs->nsamples > 12) strbuf_puts(sb, " ...");
        if (rs->nhistograms) strbuf_printf(sb, " (+%zu histograms)", rs->nhistograms);
    }
    if (res->nseries > 10) strbuf_printf(sb, ", ... %zu series in all", res->nseries);
    strbuf_putc(sb, ']');
}

static void put_expected_values(strbuf_t *sb, const promqltest_series_t *s) {
    strbuf_putc(sb, '[');
    for (size_t k = 0; k < s->nsamples && k < 12; k++) {
        if (k) strbuf_putc(sb, ' ');
        put_float(sb, s->samples[k].v);
    }
    if (s->nsamples > 12) strbuf_puts(sb, " ...");
    strbuf_putc(sb, ']');
}

/* The expected series with these labels; the last one wins if a label set
 * was written twice, as with the harness's map. */
static long find_expected(const promqltest_eval_t *ev, const label_t *ls, size_t n) {
    long found = -1;
    for (size_t j = 0; j < ev->nexpected; j++)
        if (same_labels(ev->expected[j].labels, ev->expected[j].nlabels, ls, n)) found = (long)j;
    return found;
}

static bool annot_matches(const promqltest_annot_t *a, const char *text, const char *prefix, strbuf_t *why, bool *bad) {
    if (a->match == PROMQLTEST_MATCH_ANY) return true;
    strbuf_t full = STRBUF_INIT;
    if (strncmp(text, prefix, strlen(prefix)) != 0) strbuf_puts(&full, prefix);
    strbuf_puts(&full, text);
    bool ok;
    if (a->match == PROMQLTEST_MATCH_MSG) {
        ok = strcmp(full.data, a->text) == 0;
    } else {
        int r = regex_search(a->text, full.data, why);
        if (r < 0) *bad = true;
        ok = r == 1;
    }
    strbuf_free(&full);
    return ok;
}

static int check_annotation_kind(const char *kind, const char *prefix, bool no_kind, const promqltest_annot_t *exp,
                                 size_t nexp, const char *const *got, size_t ngot, strbuf_t *why) {
    if (no_kind && ngot > 0) {
        strbuf_printf(why, "unexpected %ss: %s", kind, got[0]);
        if (ngot > 1) strbuf_printf(why, " (and %zu more)", ngot - 1);
        return -1;
    }
    if (nexp == 0) return 0; /* no expectation: annotations are ignored */
    if (ngot == 0) {
        strbuf_printf(why, "expected %ss but got none", kind);
        return -1;
    }
    bool bad = false;
    for (size_t i = 0; i < nexp; i++) {
        bool any = false;
        for (size_t j = 0; j < ngot && !any; j++)
            any = annot_matches(&exp[i], got[j], prefix, why, &bad);
        if (bad) return -1;
        if (!any) {
            strbuf_printf(why, "expected %s %s \"%s\" but got: %s", kind,
                          exp[i].match == PROMQLTEST_MATCH_MSG ? "message" : "matching", exp[i].text, got[0]);
            if (ngot > 1) strbuf_printf(why, " (and %zu more)", ngot - 1);
            return -1;
        }
    }
    for (size_t j = 0; j < ngot; j++) {
        bool any = false;
        for (size_t i = 0; i < nexp && !any; i++)
            any = annot_matches(&exp[i], got[j], prefix, why, &bad);
        if (bad) return -1;
        if (!any) {
            strbuf_printf(why, "unexpected %s: %s", kind, got[j]);
            return -1;
        }
    }
    return 0;
}

static int check_annotations(const promqltest_eval_t *ev, const promqltest_result_t *res, strbuf_t *why) {
    if (check_annotation_kind("warning", WARN_PREFIX, ev->no_warn, ev->warns, ev->nwarns, res->warnings, res->nwarnings,
                              why) < 0)
        return -1;
    return check_annotation_kind("info", INFO_PREFIX, ev->no_info, ev->infos, ev->ninfos, res->infos, res->ninfos, why);
}

static int check_failure(const promqltest_eval_t *ev, const char *msg, strbuf_t *why) {
    if (ev->fail_msg && strcmp(ev->fail_msg, msg) != 0) {
        strbuf_printf(why, "expected error \"%s\" but got: %s", ev->fail_msg, msg);
        return -1;
    }
    if (ev->fail_regex) {
        int r = regex_search(ev->fail_regex, msg, why);
        if (r < 0) return -1;
        if (r == 0) {
            strbuf_printf(why, "expected error matching \"%s\" but got: %s", ev->fail_regex, msg);
            return -1;
        }
    }
    return 0;
}

static int check_sorted(const promqltest_result_t *res, strbuf_t *why) {
    for (size_t i = 1; i < res->nseries; i++) {
        const promqltest_result_series_t *a = &res->series[i - 1], *b = &res->series[i];
        if (labels_compare(a->labels, a->nlabels, b->labels, b->nlabels) > 0) {
            strbuf_puts(why, "matrix results should always be sorted by labels, but series ");
            labels_format(why, b->labels, b->nlabels);
            strbuf_printf(why, " at index %zu sorts before ", i);
            labels_format(why, a->labels, a->nlabels);
            strbuf_printf(why, " at index %zu", i - 1);
            return -1;
        }
    }
    return 0;
}

/* Compares a matrix with the expected series, slot k at start + k*step. */
static int check_matrix(const promqltest_eval_t *ev, const promqltest_result_t *res, int64_t start, int64_t end,
                        int64_t step, strbuf_t *why) {
    if (res->type != PROMQLTEST_VAL_MATRIX) {
        strbuf_puts(why, "expected a matrix but got ");
        put_result(why, res);
        return -1;
    }
    if (ev->ordered) {
        strbuf_puts(why, "expected ordered result, but query returned a matrix");
        return -1;
    }
    if (check_sorted(res, why) < 0) return -1;
    bool *seen = calloc(ev->nexpected ? ev->nexpected : 1, 1);
    if (!seen) abort();
    int rc = -1;
    for (size_t i = 0; i < res->nseries; i++) {
        const promqltest_result_series_t *rs = &res->series[i];
        long j = find_expected(ev, rs->labels, rs->nlabels);
        if (j < 0) {
            strbuf_puts(why, "unexpected metric ");
            labels_format(why, rs->labels, rs->nlabels);
            strbuf_puts(why, " in result; got ");
            put_result(why, res);
            goto out;
        }
        const promqltest_series_t *es = &ev->expected[j];
        seen[j] = true;
        if (es->nslots > 0 && start + (int64_t)(es->nslots - 1) * step > end) {
            strbuf_printf(why, "expected %zu points for ", es->nslots);
            labels_format(why, es->labels, es->nlabels);
            strbuf_puts(why, ", but query time range cannot return this many points");
            goto out;
        }
        size_t exp_hist = es->has_histogram ? es->nslots - es->nsamples : 0; /* upper bound; such evals are skipped */
        if (es->nsamples != rs->nsamples || exp_hist != rs->nhistograms) {
            strbuf_printf(why, "expected %zu float points and %zu histogram points for ", es->nsamples, exp_hist);
            labels_format(why, es->labels, es->nlabels);
            strbuf_printf(why, ", but got %zu float points and %zu histogram points; expected ", rs->nsamples,
                          rs->nhistograms);
            put_expected_values(why, es);
            strbuf_puts(why, ", got ");
            put_result(why, res);
            goto out;
        }
        for (size_t k = 0; k < es->nsamples; k++) {
            int64_t t = start + es->samples[k].t * step;
            if (rs->samples[k].t != t) {
                strbuf_printf(why, "expected float value at index %zu for ", k);
                labels_format(why, es->labels, es->nlabels);
                strbuf_printf(why, " to have timestamp %lld, but it had timestamp %lld; got ", (long long)t,
                              (long long)rs->samples[k].t);
                put_result(why, res);
                goto out;
            }
            if (!floats_match(es->samples[k].v, rs->samples[k].v)) {
                strbuf_printf(why, "expected float value at index %zu (t=%lld) for ", k, (long long)t);
                labels_format(why, es->labels, es->nlabels);
                strbuf_puts(why, " to be ");
                put_float(why, es->samples[k].v);
                strbuf_puts(why, ", but got ");
                put_float(why, rs->samples[k].v);
                goto out;
            }
        }
    }
    for (size_t j = 0; j < ev->nexpected; j++) {
        if (seen[j] || find_expected(ev, ev->expected[j].labels, ev->expected[j].nlabels) != (long)j) continue;
        strbuf_puts(why, "expected metric ");
        labels_format(why, ev->expected[j].labels, ev->expected[j].nlabels);
        strbuf_puts(why, " not found; got ");
        put_result(why, res);
        goto out;
    }
    rc = 0;
out:
    free(seen);
    return rc;
}

/* Compares an instant result (vector, scalar or string) with the eval's
 * expectation. */
static int check_instant(const promqltest_eval_t *ev, const promqltest_result_t *res, strbuf_t *why) {
    if (ev->kind == PROMQLTEST_EXPECT_MATRIX)
        return check_matrix(ev, res, ev->rv_start_ms, ev->rv_end_ms, ev->rv_step_ms, why);
    if (res->type == PROMQLTEST_VAL_MATRIX) return check_matrix(ev, res, ev->start_ms, ev->end_ms, 0, why);
    if (ev->kind == PROMQLTEST_EXPECT_STRING) {
        if (res->type != PROMQLTEST_VAL_STRING) {
            strbuf_printf(why, "expected string \"%s\" but got ", ev->string);
            put_result(why, res);
            return -1;
        }
        if (strcmp(ev->string, res->string ? res->string : "") != 0) {
            strbuf_printf(why, "expected string \"%s\" but got \"%s\"", ev->string, res->string ? res->string : "");
            return -1;
        }
        return 0;
    }
    if (ev->kind == PROMQLTEST_EXPECT_SCALAR) {
        if (res->type != PROMQLTEST_VAL_SCALAR) {
            strbuf_puts(why, "expected scalar result, but got ");
            put_result(why, res);
            return -1;
        }
        if (!floats_match(ev->scalar, res->scalar)) {
            strbuf_puts(why, "expected scalar ");
            put_float(why, ev->scalar);
            strbuf_puts(why, " but got ");
            put_float(why, res->scalar);
            return -1;
        }
        return 0;
    }
    if (res->type != PROMQLTEST_VAL_VECTOR) {
        strbuf_puts(why, "expected vector or matrix result, but got ");
        put_result(why, res);
        return -1;
    }
    bool *seen = calloc(ev->nexpected ? ev->nexpected : 1, 1);
    if (!seen) abort();
    int rc = -1;
    for (size_t pos = 0; pos < res->nseries; pos++) {
        const promqltest_result_series_t *rs = &res->series[pos];
        long j = find_expected(ev, rs->labels, rs->nlabels);
        if (j < 0) {
            strbuf_puts(why, "unexpected metric ");
            labels_format(why, rs->labels, rs->nlabels);
            strbuf_puts(why, " in result, has value ");
            if (rs->nsamples)
                put_float(why, rs->samples[0].v);
            else
                strbuf_puts(why, "(histogram)");
            strbuf_puts(why, "; got ");
            put_result(why, res);
            goto out;
        }
        const promqltest_series_t *es = &ev->expected[j];
        if (ev->ordered && (size_t)j != pos) {
            strbuf_puts(why, "expected metric ");
            labels_format(why, es->labels, es->nlabels);
            strbuf_printf(why, " at position %ld but was at %zu; got ", j + 1, pos + 1);
            put_result(why, res);
            goto out;
        }
        if (es->nsamples == 0 || rs->nsamples == 0) {
            strbuf_puts(why, es->nsamples ? "expected float value for " : "expected histogram or no value for ");
            labels_format(why, rs->labels, rs->nlabels);
            strbuf_puts(why, rs->nsamples ? " but got a float" : " but got a histogram");
            goto out;
        }
        if (!floats_match(es->samples[0].v, rs->samples[0].v)) {
            strbuf_puts(why, "expected ");
            put_float(why, es->samples[0].v);
            strbuf_puts(why, " for ");
            labels_format(why, es->labels, es->nlabels);
            strbuf_puts(why, " but got ");
            put_float(why, rs->samples[0].v);
            goto out;
        }
        seen[j] = true;
    }
    for (size_t j = 0; j < ev->nexpected; j++) {
        if (seen[j] || find_expected(ev, ev->expected[j].labels, ev->expected[j].nlabels) != (long)j) continue;
        strbuf_puts(why, "expected metric ");
        labels_format(why, ev->expected[j].labels, ev->expected[j].nlabels);
        strbuf_puts(why, " with ");
        put_expected_values(why, &ev->expected[j]);
        strbuf_puts(why, " not found; got ");
        put_result(why, res);
        goto out;
    }
    rc = 0;
out:
    free(seen);
    return rc;
}

/* ------------------------------------------------------------------ */
/* runner: evaluation                                                   */
/* ------------------------------------------------------------------ */

/* Does the query call start(), end(), range() or step()? Their value
 * differs between an instant query and a range query around it. */
static bool uses_range_functions(const char *q) {
    static const char *const names[] = {"start", "end", "range", "step"};
    const char *p = q;
    while (*p) {
        if (*p == '"' || *p == '\'' || *p == '`') {
            char c = *p++;
            while (*p && *p != c) {
                if (c != '`' && *p == '\\' && p[1]) p++;
                p++;
            }
            if (*p) p++;
            continue;
        }
        if (is_ident_start(*p)) {
            const char *s = p;
            while (is_ident_char(*p))
                p++;
            const char *after = p;
            while (is_space(*after))
                after++;
            if (*after != '(') continue;
            for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
                if ((size_t)(p - s) == strlen(names[i]) && memcmp(s, names[i], (size_t)(p - s)) == 0) return true;
            continue;
        }
        p++;
    }
    return false;
}

static void release(const promqltest_engine_t *eng, promqltest_result_t *res) {
    if (eng->free_result) eng->free_result(eng->ctx, res);
}

/* The instant result re-derived from a range query t-1m..t+1m step 1m: the
 * point of each series at t. */
static int check_range_mode(const promqltest_engine_t *eng, const promqltest_eval_t *ev, const char *expr, int64_t t,
                            const promqltest_result_t *inst, strbuf_t *why) {
    promqltest_result_t rr;
    memset(&rr, 0, sizeof rr);
    pl_err_t qerr = {{0}};
    if (eng->range(eng->ctx, expr, t - 60000, t + 60000, 60000, &rr, &qerr) < 0) {
        strbuf_printf(why, "error evaluating query in range mode: %s", qerr.msg);
        return -1;
    }
    int rc = -1;
    promqltest_result_series_t *vec = NULL;
    if (ev->ordered) {
        /* Range results are sorted by labels, so only the absence of an
         * error is checked for evals that expect an order. */
        rc = 0;
        goto out;
    }
    if (rr.type != PROMQLTEST_VAL_MATRIX) {
        strbuf_puts(why, "range mode: expected a matrix but got ");
        put_result(why, &rr);
        goto out;
    }
    if (check_sorted(&rr, why) < 0) goto out;
    vec = calloc(rr.nseries ? rr.nseries : 1, sizeof *vec);
    if (!vec) abort();
    size_t nvec = 0;
    for (size_t i = 0; i < rr.nseries; i++) {
        const promqltest_result_series_t *rs = &rr.series[i];
        for (size_t k = 0; k < rs->nsamples; k++) {
            if (rs->samples[k].t == t) {
                vec[nvec] = *rs;
                vec[nvec].samples = &rs->samples[k];
                vec[nvec].nsamples = 1;
                vec[nvec].nhistograms = 0;
                nvec++;
                break;
            }
        }
    }
    promqltest_result_t as_instant;
    memset(&as_instant, 0, sizeof as_instant);
    if (inst->type == PROMQLTEST_VAL_SCALAR) {
        if (nvec == 0) {
            strbuf_puts(why, "range mode: no point at the eval time for a scalar result");
            goto out;
        }
        as_instant.type = PROMQLTEST_VAL_SCALAR;
        as_instant.scalar = vec[0].samples[0].v;
    } else {
        as_instant.type = PROMQLTEST_VAL_VECTOR;
        as_instant.series = vec;
        as_instant.nseries = nvec;
    }
    strbuf_t sub = STRBUF_INIT;
    if (check_instant(ev, &as_instant, &sub) < 0) {
        strbuf_printf(why, "range mode: %s", sub.data ? sub.data : "");
        strbuf_free(&sub);
        goto out;
    }
    strbuf_free(&sub);
    rc = 0;
out:
    free(vec);
    release(eng, &rr);
    return rc;
}

static int run_instant_case(const promqltest_engine_t *eng, const promqltest_eval_t *ev, const char *expr, int64_t t,
                            strbuf_t *why) {
    promqltest_result_t res;
    memset(&res, 0, sizeof res);
    pl_err_t qerr = {{0}};
    if (eng->instant(eng->ctx, expr, t, &res, &qerr) < 0) {
        if (ev->expect_fail) return check_failure(ev, qerr.msg, why);
        strbuf_printf(why, "error evaluating query: %s", qerr.msg);
        return -1;
    }
    int rc = -1;
    if (ev->expect_fail) {
        strbuf_puts(why, "expected error evaluating query but got none; got ");
        put_result(why, &res);
        goto out;
    }
    if (check_annotations(ev, &res, why) < 0) goto out;
    if (check_instant(ev, &res, why) < 0) goto out;
    bool range_check = !(eng->flags & PROMQLTEST_NO_RANGE_MODE_CHECK) && eng->range && !ev->range_vector &&
                       ev->kind != PROMQLTEST_EXPECT_STRING && !uses_range_functions(expr);
    if (range_check && check_range_mode(eng, ev, expr, t, &res, why) < 0) goto out;
    rc = 0;
out:
    release(eng, &res);
    return rc;
}

/* Runs one eval with all its derived queries. Returns 0 pass, -1 fail. */
static int run_eval(const promqltest_engine_t *eng, const promqltest_eval_t *ev, strbuf_t *why) {
    if (ev->is_range) {
        promqltest_result_t res;
        memset(&res, 0, sizeof res);
        pl_err_t qerr = {{0}};
        if (!eng->range) {
            strbuf_puts(why, "engine has no range queries");
            return -1;
        }
        if (eng->range(eng->ctx, ev->expr, ev->start_ms, ev->end_ms, ev->step_ms, &res, &qerr) < 0) {
            if (ev->expect_fail) return check_failure(ev, qerr.msg, why);
            strbuf_printf(why, "error evaluating query: %s", qerr.msg);
            return -1;
        }
        int rc = -1;
        if (ev->expect_fail) {
            strbuf_puts(why, "expected error evaluating query but got none; got ");
            put_result(why, &res);
        } else if (check_annotations(ev, &res, why) == 0 &&
                   check_matrix(ev, &res, ev->start_ms, ev->end_ms, ev->step_ms, why) == 0) {
            rc = 0;
        }
        release(eng, &res);
        return rc;
    }

    if (run_instant_case(eng, ev, ev->expr, ev->start_ms, why) < 0) return -1;
    if (!eng->at_rewrite) return 0;
    char *rewritten = NULL;
    pl_err_t perr = {{0}};
    int r = eng->at_rewrite(eng->ctx, ev->expr, ev->start_ms, &rewritten, &perr);
    if (r < 0) {
        if (ev->expect_fail) return 0; /* the query itself failed as expected above */
        strbuf_printf(why, "cannot add @ modifiers: %s", perr.msg);
        return -1;
    }
    if (r > 0 || !rewritten) {
        free(rewritten);
        return 0;
    }
    int64_t t = ev->start_ms;
    int64_t times[5];
    size_t ntimes;
    if (t == 0) {
        times[0] = -1000, times[1] = 0, times[2] = 1000;
        ntimes = 3;
    } else {
        times[0] = -10 * t, times[1] = 0, times[2] = t / 5, times[3] = t, times[4] = 10 * t;
        ntimes = 5;
    }
    int rc = 0;
    for (size_t i = 0; i < ntimes && rc == 0; i++) {
        strbuf_t sub = STRBUF_INIT;
        if (run_instant_case(eng, ev, rewritten, times[i], &sub) < 0) {
            strbuf_printf(why, "with @ modifier (%s at t=%lldms): %s", rewritten, (long long)times[i],
                          sub.data ? sub.data : "");
            rc = -1;
        }
        strbuf_free(&sub);
    }
    free(rewritten);
    return rc;
}

static void print_line(FILE *out, const char *path, int line, const char *expr, const char *why) {
    if (!out) return;
    fprintf(out, "%s:%d: ", path, line);
    if (expr) fprintf(out, "%s: ", expr);
    for (const char *p = why; *p; p++)
        fputc(*p == '\n' ? ' ' : *p, out);
    fputc('\n', out);
}

static int load_series(const promqltest_engine_t *eng, const promqltest_load_t *ld, pl_err_t *err, int *bad_line) {
    for (size_t i = 0; i < ld->nseries; i++) {
        const promqltest_series_t *s = &ld->series[i];
        if (s->nsamples == 0) continue;
        sample_t *buf = xmalloc(s->nsamples * sizeof *buf);
        for (size_t k = 0; k < s->nsamples; k++) {
            buf[k].t = s->samples[k].t * ld->interval_ms;
            buf[k].v = s->samples[k].v;
        }
        int rc = eng->append(eng->ctx, s->labels, s->nlabels, buf, s->nsamples, err);
        free(buf);
        if (rc < 0) {
            *bad_line = s->line;
            return -1;
        }
    }
    return 0;
}

/* Tells the engine where the load's native histogram samples are: the
 * {{...}} slots of each series, and for load_with_nhcb the histogram with
 * custom buckets the harness derives from each X_bucket{le=...} series (at
 * the bucket samples' times, under the labels without le and the name X). */
static int load_histograms(const promqltest_engine_t *eng, const promqltest_load_t *ld, pl_err_t *err,
                           int *bad_line) {
    if (!eng->append_histograms) return 0;
    for (size_t i = 0; i < ld->nseries; i++) {
        const promqltest_series_t *s = &ld->series[i];
        if (s->nhist) {
            int64_t *ts = xmalloc(s->nhist * sizeof *ts);
            for (size_t k = 0; k < s->nhist; k++)
                ts[k] = s->hist_slots[k] * ld->interval_ms;
            int rc = eng->append_histograms(eng->ctx, s->labels, s->nlabels, ts, s->nhist, err);
            free(ts);
            if (rc < 0) {
                *bad_line = s->line;
                return -1;
            }
        }
        const char *name = series_name(s);
        size_t nl = name ? strlen(name) : 0;
        if (!ld->with_nhcb || nl <= 7 || strcmp(name + nl - 7, "_bucket") != 0 || s->nsamples == 0) continue;
        label_t *ls = xmalloc((s->nlabels ? s->nlabels : 1) * sizeof *ls);
        size_t n = 0;
        char *base = xstrndup(name, nl - 7);
        for (size_t j = 0; j < s->nlabels; j++) {
            if (strcmp(s->labels[j].name, "le") == 0) continue;
            ls[n] = s->labels[j];
            if (strcmp(ls[n].name, "__name__") == 0) ls[n].value = base;
            n++;
        }
        int64_t *ts = xmalloc(s->nsamples * sizeof *ts);
        for (size_t k = 0; k < s->nsamples; k++)
            ts[k] = s->samples[k].t * ld->interval_ms;
        int rc = eng->append_histograms(eng->ctx, ls, n, ts, s->nsamples, err);
        free(ts);
        free(base);
        free(ls);
        if (rc < 0) {
            *bad_line = s->line;
            return -1;
        }
    }
    return 0;
}

/* Whether the eval involves native histograms, the one reason the runner
 * skips an eval: its expected output holds one, or (when storage can tell)
 * its query, run once as written, selects a series with a histogram sample
 * in the time range it reads. Without storage's help: the static check. */
static bool involves_histograms(const promqltest_engine_t *eng, const promqltest_eval_t *ev) {
    if (ev->expects_histograms) return true;
    if (!eng->append_histograms || !eng->histograms_read || (ev->is_range && !eng->range)) return ev->involves_histograms;
    eng->histograms_read(eng->ctx);
    promqltest_result_t res;
    memset(&res, 0, sizeof res);
    pl_err_t qerr = {{0}};
    int rc = ev->is_range ? eng->range(eng->ctx, ev->expr, ev->start_ms, ev->end_ms, ev->step_ms, &res, &qerr)
                          : eng->instant(eng->ctx, ev->expr, ev->start_ms, &res, &qerr);
    if (rc == 0) release(eng, &res);
    return eng->histograms_read(eng->ctx) > 0;
}

int promqltest_run_file(const promqltest_file_t *f, const promqltest_engine_t *eng, FILE *out,
                        promqltest_counts_t *counts) {
    promqltest_counts_t c = {0, 0, 0};
    pl_err_t err = {{0}};
    if (eng->reset(eng->ctx, &err) < 0) {
        print_line(out, f->path, 1, NULL, err.msg);
        c.failed++;
        goto done;
    }
    for (size_t i = 0; i < f->ncmds; i++) {
        const promqltest_cmd_t *cmd = &f->cmds[i];
        switch (cmd->kind) {
        case PROMQLTEST_CMD_CLEAR:
            if (eng->reset(eng->ctx, &err) < 0) {
                print_line(out, f->path, cmd->line, NULL, err.msg);
                c.failed++;
            }
            break;
        case PROMQLTEST_CMD_LOAD: {
            int line = cmd->line;
            if (load_series(eng, &cmd->load, &err, &line) < 0 || load_histograms(eng, &cmd->load, &err, &line) < 0) {
                strbuf_t sb = STRBUF_INIT;
                strbuf_printf(&sb, "loading series failed: %s", err.msg);
                print_line(out, f->path, line, NULL, sb.data);
                strbuf_free(&sb);
                c.failed++;
            }
            break;
        }
        case PROMQLTEST_CMD_EVAL: {
            const promqltest_eval_t *ev = &cmd->eval;
            if (involves_histograms(eng, ev)) {
                if (eng->flags & PROMQLTEST_VERBOSE) print_line(out, f->path, cmd->line, ev->expr, "skipped: native histograms");
                c.skipped++;
                break;
            }
            strbuf_t why = STRBUF_INIT;
            if (run_eval(eng, ev, &why) < 0) {
                print_line(out, f->path, cmd->line, ev->expr, why.data ? why.data : "failed");
                c.failed++;
            } else {
                c.passed++;
            }
            strbuf_free(&why);
            break;
        }
        }
    }
done:
    if (out) fprintf(out, "%s: %zu passed, %zu failed, %zu skipped\n", f->path, c.passed, c.failed, c.skipped);
    if (counts) {
        counts->passed += c.passed;
        counts->failed += c.failed;
        counts->skipped += c.skipped;
    }
    return c.failed ? 1 : 0;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static void run_one_path(const char *path, const promqltest_engine_t *eng, FILE *out, promqltest_counts_t *c) {
    promqltest_file_t f;
    pl_err_t err = {{0}};
    if (promqltest_parse_file(path, &f, &err) < 0) {
        if (out) fprintf(out, "%s\n", err.msg);
        c->failed++;
        return;
    }
    promqltest_run_file(&f, eng, out, c);
    promqltest_file_free(&f);
}

int promqltest_run_paths(const char **paths, size_t n, const promqltest_engine_t *eng, FILE *out,
                         promqltest_counts_t *counts) {
    promqltest_counts_t c = {0, 0, 0};
    for (size_t i = 0; i < n; i++) {
        DIR *d = opendir(paths[i]);
        if (!d) {
            if (errno == ENOTDIR || errno == ENOENT) {
                run_one_path(paths[i], eng, out, &c);
            } else {
                if (out) fprintf(out, "%s: %s\n", paths[i], strerror(errno));
                c.failed++;
            }
            continue;
        }
        char **names = NULL;
        size_t nnames = 0;
        struct dirent *de;
        while ((de = readdir(d)) != NULL) {
            size_t l = strlen(de->d_name);
            if (l > 5 && strcmp(de->d_name + l - 5, ".test") == 0) {
                strbuf_t sb = STRBUF_INIT;
                strbuf_printf(&sb, "%s/%s", paths[i], de->d_name);
                *PUSH(&names, &nnames) = strbuf_detach(&sb);
            }
        }
        closedir(d);
        if (nnames > 1) qsort(names, nnames, sizeof *names, cmp_str);
        for (size_t j = 0; j < nnames; j++) {
            run_one_path(names[j], eng, out, &c);
            free(names[j]);
        }
        free(names);
    }
    if (out) fprintf(out, "%zu passed, %zu failed, %zu skipped\n", c.passed, c.failed, c.skipped);
    if (counts) {
        counts->passed += c.passed;
        counts->failed += c.failed;
        counts->skipped += c.skipped;
    }
    return c.failed ? 1 : 0;
}
