/* fuzz_textparse.c — libFuzzer harness for the exposition parsers.
 *
 * For each input:
 *  1. both parsers (text 0.0.4, OpenMetrics; the latter with hex floats
 *     allowed when the size is odd) run over it in a buffer of
 *     exactly its size (ASan catches any read past the end);
 *  2. every sample is checked for sanity (raw lies inside the body, names
 *     are non-empty, errors carry "line N: ");
 *  3. the samples and HELP texts read are written back with the text
 *     writer and parsed again: the result must be identical (samples with
 *     negative timestamps are left out: the text format cannot read them);
 *  4. short inputs also go to textparse_parse_float, whose answer must match
 *     strtod's bit for bit whenever the input is a plain decimal number.
 * Any mismatch aborts, which libFuzzer reports as a crash.
 *
 * Build with clang -fsanitize=fuzzer,address,undefined (-std=c17 -D_GNU_SOURCE
 * -Iimpl/src) from this file and the .c files of impl/src/textparse, util and
 * model, linking libxxhash and -lm; run over impl/tests/data/textparse/valid
 * and .../malformed as seed corpora. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "textparse/textparse.h"

#define CHECK(cond)                                                                                                    \
    do {                                                                                                               \
        if (!(cond)) {                                                                                                 \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);                                   \
            abort();                                                                                                   \
        }                                                                                                              \
    } while (0)

/* The samples of one parse, flattened into one string buffer:
 * per sample "name\0nlabels-as-text\0l1\0v1\0...". Values and timestamps
 * go in a parallel array. */
typedef struct {
    strbuf_t strings;
    double *values;
    int64_t *ts;
    bool *has_ts;
    size_t n, cap;
    strbuf_t helps; /* HELP texts, NUL-separated */
    size_t nhelps;
} record_t;

static void record_init(record_t *r) {
    memset(r, 0, sizeof *r);
    strbuf_init(&r->strings);
    strbuf_init(&r->helps);
}

static void record_free(record_t *r) {
    strbuf_free(&r->strings);
    strbuf_free(&r->helps);
    free(r->values);
    free(r->ts);
    free(r->has_ts);
}

static void record_sample(record_t *r, const textparse_sample_t *s) {
    if (r->n == r->cap) {
        r->cap = r->cap ? r->cap * 2 : 64;
        double *values = realloc(r->values, r->cap * sizeof *values);
        CHECK(values);
        r->values = values;
        int64_t *ts = realloc(r->ts, r->cap * sizeof *ts);
        CHECK(ts);
        r->ts = ts;
        bool *has_ts = realloc(r->has_ts, r->cap * sizeof *has_ts);
        CHECK(has_ts);
        r->has_ts = has_ts;
    }
    strbuf_append(&r->strings, s->name, strlen(s->name) + 1);
    strbuf_printf(&r->strings, "%zu", s->nlabels);
    strbuf_putc(&r->strings, '\0');
    for (size_t i = 0; i < s->nlabels; i++) {
        strbuf_append(&r->strings, s->labels[i].name, strlen(s->labels[i].name) + 1);
        strbuf_append(&r->strings, s->labels[i].value, strlen(s->labels[i].value) + 1);
    }
    r->values[r->n] = s->value;
    r->ts[r->n] = s->timestamp_ms;
    r->has_ts[r->n] = s->has_timestamp;
    r->n++;
}

static bool same_value(double a, double b) {
    if (isnan(a) || isnan(b)) return isnan(a) && isnan(b);
    return memcmp(&a, &b, sizeof a) == 0;
}

/* Parses body; records what it reads into rec and, if out is non-NULL,
 * writes it back as text 0.0.4. */
static void parse_body(enum textparse_format fmt, const char *body, size_t len, record_t *rec, strbuf_t *out,
                       bool expect_clean, bool hex) {
    textparse_t *p = textparse_new(fmt, body, len);
    CHECK(p);
    textparse_set_hex_floats(p, hex);
    textparse_sample_t s;
    pl_err_t err;
    for (size_t guard = 0;; guard++) {
        CHECK(guard <= len + 2); /* every entry consumes input */
        enum textparse_entry e = textparse_next(p, &s, &err);
        if (e == TEXTPARSE_EOF) break;
        if (e == TEXTPARSE_ERROR) {
            CHECK(!expect_clean);
            CHECK(strncmp(err.msg, "line ", 5) == 0);
            pl_err_t again;
            CHECK(textparse_next(p, &s, &again) == TEXTPARSE_ERROR); /* sticky */
            CHECK(strcmp(again.msg, err.msg) == 0);
            break;
        }
        if (e == TEXTPARSE_HELP) {
            strbuf_append(&rec->helps, textparse_meta_text(p), strlen(textparse_meta_text(p)) + 1);
            rec->nhelps++;
            if (out) textparse_write_help(out, textparse_meta_name(p), textparse_meta_text(p));
        } else if (e == TEXTPARSE_TYPE) {
            if (out) textparse_write_type(out, textparse_meta_name(p), textparse_meta_type(p));
        } else if (e == TEXTPARSE_SAMPLE) {
            CHECK(s.raw >= body && s.raw + s.raw_len <= body + len && s.raw_len > 0);
            CHECK(s.name[0] != '\0');
            for (size_t i = 0; i < s.nlabels; i++)
                CHECK(s.labels[i].name[0] != '\0');
            if (s.has_timestamp && s.timestamp_ms < 0) continue;
            record_sample(rec, &s);
            if (out) textparse_write_sample(out, s.name, s.labels, s.nlabels, s.value, s.has_timestamp, s.timestamp_ms);
        }
    }
    textparse_free(p);
}

static void round_trip(enum textparse_format fmt, const char *body, size_t len, bool hex) {
    record_t first, second;
    record_init(&first);
    record_init(&second);
    strbuf_t out = STRBUF_INIT;
    parse_body(fmt, body, len, &first, &out, false, hex);
    /* The writer's output, in an exactly sized copy, must parse cleanly to the same. */
    char *copy = malloc(out.len ? out.len : 1);
    CHECK(copy);
    if (out.len) memcpy(copy, out.data, out.len);
    parse_body(TEXTPARSE_PROM, copy, out.len, &second, NULL, true, false);
    CHECK(first.n == second.n);
    CHECK(first.strings.len == second.strings.len);
    CHECK(first.strings.len == 0 || memcmp(first.strings.data, second.strings.data, first.strings.len) == 0);
    for (size_t i = 0; i < first.n; i++) {
        CHECK(same_value(first.values[i], second.values[i]));
        CHECK(first.has_ts[i] == second.has_ts[i]);
        CHECK(!first.has_ts[i] || first.ts[i] == second.ts[i]);
    }
    CHECK(first.nhelps == second.nhelps);
    CHECK(first.helps.len == second.helps.len);
    CHECK(first.helps.len == 0 || memcmp(first.helps.data, second.helps.data, first.helps.len) == 0);
    free(copy);
    strbuf_free(&out);
    record_free(&first);
    record_free(&second);
}

/* Plain decimal: [+-]? digits [. digits] [eE [+-] digits], at least one digit. */
static bool plain_decimal(const char *s, size_t n) {
    size_t i = 0, digits = 0;
    if (i < n && (s[i] == '+' || s[i] == '-')) i++;
    for (; i < n && s[i] >= '0' && s[i] <= '9'; i++)
        digits++;
    if (i < n && s[i] == '.')
        for (i++; i < n && s[i] >= '0' && s[i] <= '9'; i++)
            digits++;
    if (!digits) return false;
    if (i < n && (s[i] == 'e' || s[i] == 'E')) {
        i++;
        if (i < n && (s[i] == '+' || s[i] == '-')) i++;
        size_t ed = 0;
        for (; i < n && s[i] >= '0' && s[i] <= '9'; i++)
            ed++;
        if (!ed) return false;
    }
    return i == n;
}

static void check_float(const char *s, size_t n) {
    double v;
    int r = textparse_parse_float(s, n, &v);
    if (!plain_decimal(s, n)) return;
    char buf[80];
    memcpy(buf, s, n);
    buf[n] = '\0';
    double want = strtod(buf, NULL);
    if (isinf(want)) {
        CHECK(r == -2);
        return;
    }
    CHECK(r == 0);
    CHECK(memcmp(&v, &want, sizeof v) == 0);
}

/* Counts samples and the final entry of a whole-body parse, or of the same
 * body streamed in pieces of a few lines (re-feeding what the parser left),
 * each piece in an exact-size heap block. The two must agree. */
static void stream_vs_whole(enum textparse_format fmt, const char *body, size_t size) {
    size_t whole_n = 0, stream_n = 0;
    pl_err_t err;
    textparse_sample_t s;
    textparse_t *p = textparse_new(fmt, body, size);
    enum textparse_entry whole_last;
    while ((whole_last = textparse_next(p, &s, &err)) > 0) whole_n += whole_last == TEXTPARSE_SAMPLE;
    textparse_free(p);

    p = textparse_new_stream(fmt);
    enum textparse_entry last = TEXTPARSE_EOF;
    size_t off = 0, prev_end = 0;
    for (int lines = 1;; lines = lines % 3 + 1) {
        size_t end = prev_end; /* a piece always takes new lines after what was fed before */
        for (int k = 0; k < lines && end < size; k++) {
            const char *nl = memchr(body + end, '\n', size - end);
            end = nl ? (size_t)(nl - body) + 1 : size;
        }
        bool final = end >= size;
        prev_end = end;
        char *piece = malloc(end - off ? end - off : 1);
        if (!piece) break;
        memcpy(piece, body + off, end - off);
        textparse_feed(p, piece, end - off, final);
        while ((last = textparse_next(p, &s, &err)) > 0 && last != TEXTPARSE_NEED_MORE)
            stream_n += last == TEXTPARSE_SAMPLE;
        size_t used = textparse_consumed(p);
        free(piece);
        if (last != TEXTPARSE_NEED_MORE) {
            if (last == TEXTPARSE_EOF && end < size) { /* data after OpenMetrics "# EOF" */
                textparse_feed(p, body + end, size - end, true);
                last = textparse_next(p, &s, &err);
            }
            break;
        }
        if (final) abort(); /* NEED_MORE after the final piece */
        off += used;
    }
    textparse_free(p);
    if (last != whole_last || stream_n != whole_n) abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char *body = malloc(size ? size : 1);
    if (!body) return 0;
    if (size) memcpy(body, data, size);
    round_trip(TEXTPARSE_PROM, body, size, false);
    round_trip(TEXTPARSE_OPENMETRICS, body, size, size & 1); /* odd sizes also take hex floats */
    if (size < 64) check_float(body, size);
    stream_vs_whole(TEXTPARSE_PROM, body, size);
    stream_vs_whole(TEXTPARSE_OPENMETRICS, body, size);
    free(body);
    return 0;
}
