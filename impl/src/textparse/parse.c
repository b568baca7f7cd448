/* parse.c — the pull parser for Prometheus text 0.0.4 and OpenMetrics 1.0.
 *
 * Behaviour follows Prometheus's model/textparse (promparse.go, promlex.l,
 * openmetricsparse.go, openmetricslex.l), which is what decides whether a
 * real Prometheus accepts a scrape, plus the Prometheus 3 quoted names.
 * The two formats differ mostly in whitespace:
 *
 *   text 0.0.4   spaces and tabs may stand between any two tokens, even
 *                inside braces and between label pairs without a comma;
 *                no space is needed between '}' and the value; blank lines
 *                and any '#' line that is not "# HELP"/"# TYPE" are skipped;
 *                a label value may hold a raw newline; timestamps are
 *                non-negative integer milliseconds; the last line may lack
 *                its newline.
 *   OpenMetrics  exactly one space before the value, the timestamp and the
 *                exemplar; none anywhere else; no blank lines and no other
 *                comments; timestamps are float seconds; exemplars follow
 *                " # {"; the body must end with "# EOF" and an optional
 *                newline, nothing after.
 *
 * Both accept a trailing comma in a label set, reject '\r' wherever it is
 * not plain data (so CRLF bodies fail, as in Prometheus), unescape \\ \" \n
 * in label values and keep any other backslash pair as written.
 *
 * Quirks of Prometheus kept on purpose, so that promlab accepts and refuses
 * the same scrapes: in the text format the bytes right after a bare metric
 * name are its value even without a blank ("a-1" is a = -1), and a HELP or
 * TYPE text starts one byte after the name whatever that byte is; values
 * take Go float syntax without p, P or _ (no hex floats; see
 * textparse_set_hex_floats).
 *
 * Deliberate differences: a NUL byte in a label value or HELP text is an
 * error (Prometheus keeps it; a C string cannot), a NUL at the start of a
 * line is an error (Prometheus stops parsing there, silently), "__name__"
 * inside a label set is an error here rather than later in the scrape, and
 * an OpenMetrics timestamp too large for int64 milliseconds is an error
 * (Go converts it to an unspecified value).
 *
 * Memory: the body is never written and never read past len (it is not
 * NUL-terminated). Unescaped names and values are copied into one scratch
 * buffer, recorded as offsets while the line is parsed (the buffer may move
 * when it grows) and turned into pointers once the line is complete. The
 * scratch buffer and the label arrays are reused from line to line, so the
 * steady state allocates nothing. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "textparse/textparse.h"

/* ---- character classes ---------------------------------------------------- */

enum {
    CC_LNAME_START = 1 << 0, /* [a-zA-Z_]    first byte of a label name */
    CC_LNAME = 1 << 1,       /* [a-zA-Z0-9_] */
    CC_MNAME_START = 1 << 2, /* [a-zA-Z_:]   first byte of a metric name */
    CC_MNAME = 1 << 3,       /* [a-zA-Z0-9_:] */
    CC_TEXT_VEND = 1 << 4,   /* ' ' '\t' '\n' '{': end a text-format value token */
    CC_OM_VEND = 1 << 5,     /* ' ' '\n': end an OpenMetrics value token */
    CC_NOT_FLOAT = 1 << 6,   /* 'p' 'P' '_': Prometheus refuses these in floats */
};

#define TP_ALPHA(c) (((c) >= 'a' && (c) <= 'z') || ((c) >= 'A' && (c) <= 'Z'))
#define TP_DIGIT(c) ((c) >= '0' && (c) <= '9')
#define TP_CLASS(c)                                                                                                    \
    ((TP_ALPHA(c) || (c) == '_' ? CC_LNAME_START | CC_LNAME | CC_MNAME_START | CC_MNAME : 0) |                         \
     (TP_DIGIT(c) ? CC_LNAME | CC_MNAME : 0) | ((c) == ':' ? CC_MNAME_START | CC_MNAME : 0) |                          \
     ((c) == ' ' || (c) == '\t' || (c) == '\n' || (c) == '{' ? CC_TEXT_VEND : 0) |                                     \
     ((c) == ' ' || (c) == '\n' ? CC_OM_VEND : 0) | ((c) == 'p' || (c) == 'P' || (c) == '_' ? CC_NOT_FLOAT : 0))
#define TP_C4(b) TP_CLASS(b), TP_CLASS((b) + 1), TP_CLASS((b) + 2), TP_CLASS((b) + 3)
#define TP_C16(b) TP_C4(b), TP_C4((b) + 4), TP_C4((b) + 8), TP_C4((b) + 12)
#define TP_C64(b) TP_C16(b), TP_C16((b) + 16), TP_C16((b) + 32), TP_C16((b) + 48)

/* The label-name classes are exactly label_name_valid's grammar (the unit
 * test checks every byte against it), so lexing a name validates it. */
static const uint8_t cls[256] = {TP_C64(0), TP_C64(64), TP_C64(128), TP_C64(192)};

#define CLS(c) cls[(unsigned char)(c)]

/* ---- parser state --------------------------------------------------------- */

/* A label of the line being parsed: offsets into scratch, plus a digest of
 * the name (length, first and last byte) that makes the duplicate check a
 * few integer compares in the common case. */
struct label_ref {
    size_t name, value, name_len;
    uint32_t key;
};

/* Label sets up to this size are checked for duplicates pair by pair as
 * they are read; larger ones once more, by sorting, at the end of the line
 * (so a hostile 100k-label line costs n log n, not n^2). */
#define DUP_PAIRWISE_MAX 32

enum { ST_RUNNING, ST_EOF, ST_ERROR };

struct textparse {
    enum textparse_format fmt;
    const char *b;
    size_t len;
    size_t pos;        /* next byte to read */
    size_t line;       /* 1-based line number of b[pos] */
    size_t line_start; /* offset where the current entry began (error context) */
    int state;
    bool hex_floats;
    bool final;        /* no input will follow b[0..len) (always true unless streaming) */
    bool rewound;      /* streaming: the entry ran past the piece; retry it with more input */
    size_t entry_line; /* line of b[line_start] */
    pl_err_t err; /* the sticky error once state == ST_ERROR */

    strbuf_t scratch; /* NUL-separated unescaped strings of the current line */
    struct label_ref *refs;
    size_t nrefs, refs_cap;
    label_t *labels;
    size_t labels_cap;
    const char **sorted; /* duplicate check of large label sets */
    size_t sorted_cap;
    size_t name_off;
    bool has_name;

    strbuf_t meta_name; /* name of the last HELP/TYPE/UNIT = the current family */
    strbuf_t meta_text;
    enum metric_type meta_type;
};

/* ---- errors --------------------------------------------------------------- */

/* Appends s[0..n) to out (room outsz) quoted the way Go's %q would. */
static void quote_bytes(char *out, size_t outsz, const char *s, size_t n) {
    size_t o = 0;
    if (outsz < 8) {
        if (outsz) out[0] = '\0';
        return;
    }
    out[o++] = '"';
    for (size_t i = 0; i < n && o + 6 < outsz; i++) {
        unsigned char c = (unsigned char)s[i];
        switch (c) {
        case '\n': out[o++] = '\\', out[o++] = 'n'; break;
        case '\r': out[o++] = '\\', out[o++] = 'r'; break;
        case '\t': out[o++] = '\\', out[o++] = 't'; break;
        case '"': out[o++] = '\\', out[o++] = '"'; break;
        case '\\': out[o++] = '\\', out[o++] = '\\'; break;
        default:
            if (c >= 0x20 && c < 0x7f) {
                out[o++] = (char)c;
            } else {
                o += (size_t)snprintf(out + o, outsz - o, "\\x%02x", c);
            }
        }
    }
    out[o++] = '"';
    out[o] = '\0';
}

static enum textparse_entry fail(textparse_t *p, pl_err_t *err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static enum textparse_entry fail(textparse_t *p, pl_err_t *err, const char *fmt, ...) {
    if (!p->final && p->pos >= p->len) {
        /* Streaming: the entry may just be cut by the end of the piece (a raw
         * newline inside a quoted label value is legal). Not an error yet:
         * textparse_next rewinds to the entry and asks for more input. */
        p->rewound = true;
        return TEXTPARSE_ERROR;
    }
    pl_err_t reason;
    va_list ap;
    va_start(ap, fmt);
    pl_err_vset(&reason, fmt, ap);
    va_end(ap);
    snprintf(p->err.msg, sizeof p->err.msg, "line %zu: %.*s", p->line, PL_ERR_MAX - 32, reason.msg);
    p->state = ST_ERROR;
    if (err) *err = p->err;
    return TEXTPARSE_ERROR;
}

/* End of the token that starts at b[pos], for "got ..." in errors: a run of
 * word-like bytes (letters, digits, _ : . + - and non-ASCII), else the one
 * byte. */
static size_t token_end(const textparse_t *p) {
    size_t i = p->pos;
    for (; i < p->len && i - p->pos < 24; i++) {
        unsigned char c = (unsigned char)p->b[i];
        if (!((CLS(c) & CC_MNAME) || c == '.' || c == '+' || c == '-' || c >= 0x80)) break;
    }
    return i > p->pos ? i : p->pos + 1;
}

/* "expected X, got "tok" while parsing "line so far"", or "unexpected end
 * of input, expected X" when the body ran out. */
static enum textparse_entry fail_expected(textparse_t *p, pl_err_t *err, const char *what) {
    if (p->pos >= p->len) return fail(p, err, "unexpected end of input, expected %s", what);
    size_t end = token_end(p);
    char got[128], ctx[160];
    quote_bytes(got, sizeof got, p->b + p->pos, end - p->pos);
    size_t cstart = p->line_start;
    size_t cend = p->pos + 1;
    if (cend - cstart > 40) cstart = cend - 40;
    quote_bytes(ctx, sizeof ctx, p->b + cstart, cend - cstart);
    return fail(p, err, "expected %s, got %s while parsing %s%s", what, got, cstart > p->line_start ? "..." : "", ctx);
}

/* ---- scanning helpers ----------------------------------------------------- */

static inline void skip_blanks(textparse_t *p) {
    while (p->pos < p->len && (p->b[p->pos] == ' ' || p->b[p->pos] == '\t'))
        p->pos++;
}

/* Length of the valid UTF-8 sequence (2..4 bytes, as Go's utf8.Valid
 * accepts: no overlong forms, no surrogates, nothing above U+10FFFF)
 * starting at s, or 0. s[0] >= 0x80. */
static size_t utf8_seq(const unsigned char *s, size_t n) {
    unsigned char c = s[0];
    size_t need;
    unsigned char lo = 0x80, hi = 0xbf;
    if (c >= 0xc2 && c <= 0xdf) {
        need = 2;
    } else if (c >= 0xe0 && c <= 0xef) {
        need = 3;
        if (c == 0xe0) lo = 0xa0;
        if (c == 0xed) hi = 0x9f;
    } else if (c >= 0xf0 && c <= 0xf4) {
        need = 4;
        if (c == 0xf0) lo = 0x90;
        if (c == 0xf4) hi = 0x8f;
    } else {
        return 0;
    }
    if (n < need) return 0;
    if (s[1] < lo || s[1] > hi) return 0;
    for (size_t i = 2; i < need; i++)
        if (s[i] < 0x80 || s[i] > 0xbf) return 0;
    return need;
}

static bool utf8_valid(const char *s, size_t n) {
    const unsigned char *u = (const unsigned char *)s;
    for (size_t i = 0; i < n;) {
        if (u[i] < 0x80) {
            i++;
            continue;
        }
        size_t k = utf8_seq(u + i, n - i);
        if (!k) return false;
        i += k;
    }
    return true;
}

/* Index of the first byte in s[i..n) that a quoted string must look at:
 * '"', '\\', '\n', NUL or a non-ASCII byte; n if there is none. Eight bytes
 * at a time: a byte of x is zero iff its bit 7 survives (x - 0x01..) & ~x,
 * and the lowest flagged byte is always a true match (a false flag needs a
 * borrow from a true zero below it). */
static inline size_t find_special(const char *s, size_t i, size_t n) {
#if defined(__GNUC__) && defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    const uint64_t ones = 0x0101010101010101ULL, highs = 0x8080808080808080ULL;
    while (i + 8 <= n) {
        uint64_t w;
        memcpy(&w, s + i, 8);
        uint64_t q = w ^ (ones * '"'), bs = w ^ (ones * '\\'), nl = w ^ (ones * '\n');
        uint64_t m = ((q - ones) & ~q) | ((bs - ones) & ~bs) | ((nl - ones) & ~nl) | ((w - ones) & ~w) | w;
        m &= highs;
        if (m) return i + ((size_t)__builtin_ctzll(m) >> 3);
        i += 8;
    }
#endif
    for (; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\' || c == '\n' || c == 0 || c >= 0x80) return i;
    }
    return n;
}

/* Index of the first byte in s[i..n) that is not a name byte: not
 * [a-zA-Z0-9_], nor ':' when colon is set. Eight bytes at a time: on 7-bit
 * values x, x >= c is bit 7 of x + (0x80 - c) and x <= c is bit 7 clear in
 * x + (0x7f - c), and no byte can carry into the next; bytes with bit 7 set
 * (non-ASCII) are never name bytes. */
static inline size_t scan_name(const char *s, size_t i, size_t n, bool colon) {
#if defined(__GNUC__) && defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    const uint64_t ones = 0x0101010101010101ULL, highs = 0x8080808080808080ULL, lows = 0x7f7f7f7f7f7f7f7fULL;
    while (i + 8 <= n) {
        uint64_t w;
        memcpy(&w, s + i, 8);
        uint64_t x = w & lows;
        uint64_t digit = (x + ones * (0x80 - '0')) & ~(x + ones * (0x7f - '9'));
        uint64_t y = x | ones * 0x20; /* folds A-Z onto a-z and nothing else onto a-z */
        uint64_t alpha = (y + ones * (0x80 - 'a')) & ~(y + ones * (0x7f - 'z'));
        uint64_t under = ~((x ^ ones * '_') + lows);
        uint64_t ok = digit | alpha | under;
        if (colon) ok |= ~((x ^ ones * ':') + lows);
        uint64_t bad = ~(ok & ~w) & highs;
        if (bad) return i + ((size_t)__builtin_ctzll(bad) >> 3);
        i += 8;
    }
#endif
    const unsigned mask = colon ? CC_MNAME : CC_LNAME;
    while (i < n && (CLS(s[i]) & mask))
        i++;
    return i;
}

/* ---- scratch strings ------------------------------------------------------ */

/* Makes room for n bytes and a NUL at the end of scratch; returns where to write. */
static inline char *scratch_room(textparse_t *p, size_t n) {
    if (p->scratch.len + n + 1 > p->scratch.cap) strbuf_reserve(&p->scratch, n + 1);
    return p->scratch.data + p->scratch.len;
}

/* Copies s[0..n) plus a NUL into scratch; returns its offset. */
static inline size_t scratch_copy(textparse_t *p, const char *s, size_t n) {
    char *d = scratch_room(p, n);
    /* Names and values are mostly short: two overlapping fixed-size moves
     * (inlined) beat a call to memcpy. Both stay inside s[0..n). */
    if (n >= 16 && n <= 32) {
        memcpy(d, s, 16);
        memcpy(d + n - 16, s + n - 16, 16);
    } else if (n >= 8 && n < 16) {
        memcpy(d, s, 8);
        memcpy(d + n - 8, s + n - 8, 8);
    } else {
        memcpy(d, s, n);
    }
    d[n] = '\0';
    size_t off = p->scratch.len;
    p->scratch.len += n + 1;
    return off;
}

/* Copies s[0..n) into scratch, replacing \\ by \, \n by a newline and, if
 * quote_escape, \" by ". Any other backslash stays, as Prometheus's
 * strings.Replacer leaves it. Returns the offset; *outlen the length. */
static size_t scratch_unescape(textparse_t *p, const char *s, size_t n, bool quote_escape, size_t *outlen) {
    char *d = scratch_room(p, n);
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c == '\\' && i + 1 < n) {
            char e = s[i + 1];
            if (e == '\\' || e == 'n' || (quote_escape && e == '"')) {
                d[o++] = e == 'n' ? '\n' : e;
                i++;
                continue;
            }
        }
        d[o++] = c;
    }
    d[o] = '\0';
    size_t off = p->scratch.len;
    p->scratch.len += o + 1;
    *outlen = o;
    return off;
}

/* Reads the quoted string at b[pos] (which is '"') into scratch, unescaped.
 * what names it in errors ("label value", ...). A raw newline is part of
 * the string in the text format and an error in OpenMetrics. */
static int scan_quoted(textparse_t *p, pl_err_t *err, const char *what, size_t *off, size_t *outlen) {
    const char *b = p->b;
    const size_t n = p->len;
    const bool allow_newline = p->fmt == TEXTPARSE_PROM;
    size_t i = p->pos + 1, start = i;
    bool escaped = false;
    for (;;) {
        i = find_special(b, i, n);
        if (i >= n) {
            p->pos = n;
            fail(p, err, "unexpected end of input inside quoted %s", what);
            return -1;
        }
        unsigned char c = (unsigned char)b[i];
        if (c == '"') break;
        if (c == '\\') {
            if (i + 1 >= n) {
                p->pos = n;
                fail(p, err, "unexpected end of input inside quoted %s", what);
                return -1;
            }
            unsigned char e = (unsigned char)b[i + 1];
            if (e == '\n') {
                p->pos = i;
                fail(p, err, "invalid escape in %s: backslash at end of line", what);
                return -1;
            }
            escaped = true;
            /* \" and \\ are consumed whole; for anything else only the
             * backslash is, so the next byte still gets its checks. */
            i += (e == '"' || e == '\\') ? 2 : 1;
            continue;
        }
        if (c == '\n') {
            if (!allow_newline) {
                p->pos = i;
                fail(p, err, "newline inside quoted %s (OpenMetrics needs it escaped as \\n)", what);
                return -1;
            }
            p->line++;
            i++;
            continue;
        }
        if (c == 0) {
            p->pos = i;
            fail(p, err, "NUL byte inside quoted %s", what);
            return -1;
        }
        size_t k = utf8_seq((const unsigned char *)b + i, n - i);
        if (!k) {
            p->pos = i;
            fail(p, err, "invalid UTF-8 in %s", what);
            return -1;
        }
        i += k;
    }
    if (escaped) {
        *off = scratch_unescape(p, b + start, i - start, true, outlen);
    } else {
        *off = scratch_copy(p, b + start, i - start);
        *outlen = i - start;
    }
    p->pos = i + 1;
    return 0;
}

/* ---- labels --------------------------------------------------------------- */

static inline uint32_t name_key(const char *s, size_t n) {
    return (uint32_t)(n & 0xffff) | (uint32_t)(unsigned char)s[n - 1] << 16 | (uint32_t)(unsigned char)s[0] << 24;
}

static int add_label(textparse_t *p, pl_err_t *err, size_t noff, size_t nlen, size_t voff) {
    const char *d = p->scratch.data;
    const char *name = d + noff;
    uint32_t key = name_key(name, nlen);
    if (nlen == 8 && memcmp(name, LABEL_METRIC_NAME, 8) == 0) {
        fail(p, err, "label name \"__name__\" is reserved for the metric name");
        return -1;
    }
    size_t n = p->nrefs;
    if (n < DUP_PAIRWISE_MAX) {
        for (size_t i = 0; i < n; i++) {
            const struct label_ref *r = &p->refs[i];
            if (r->key == key && r->name_len == nlen && memcmp(d + r->name, name, nlen) == 0) {
                char q[96];
                quote_bytes(q, sizeof q, name, nlen);
                fail(p, err, "duplicate label name %s", q);
                return -1;
            }
        }
    }
    if (n == p->refs_cap) {
        size_t cap = p->refs_cap ? p->refs_cap * 2 : 16;
        struct label_ref *r = realloc(p->refs, cap * sizeof *r);
        if (!r) {
            fail(p, err, "out of memory");
            return -1;
        }
        p->refs = r;
        p->refs_cap = cap;
    }
    p->refs[n] = (struct label_ref){.name = noff, .value = voff, .name_len = nlen, .key = key};
    p->nrefs = n + 1;
    return 0;
}

static int cmp_cstr(const void *a, const void *b) { return strcmp(*(const char *const *)a, *(const char *const *)b); }

/* The duplicate check for label sets past DUP_PAIRWISE_MAX. */
static int check_duplicates_sorted(textparse_t *p, pl_err_t *err) {
    if (p->nrefs > p->sorted_cap) {
        const char **s = realloc(p->sorted, p->nrefs * sizeof *s);
        if (!s) {
            fail(p, err, "out of memory");
            return -1;
        }
        p->sorted = s;
        p->sorted_cap = p->nrefs;
    }
    for (size_t i = 0; i < p->nrefs; i++)
        p->sorted[i] = p->scratch.data + p->refs[i].name;
    qsort(p->sorted, p->nrefs, sizeof *p->sorted, cmp_cstr);
    for (size_t i = 1; i < p->nrefs; i++)
        if (strcmp(p->sorted[i - 1], p->sorted[i]) == 0) {
            char q[96];
            quote_bytes(q, sizeof q, p->sorted[i], strlen(p->sorted[i]));
            fail(p, err, "duplicate label name %s", q);
            return -1;
        }
    return 0;
}

/* Parses a label set; b[pos] is just past '{'. For an exemplar the labels
 * are checked but not kept, and a bare quoted string (a metric name) is
 * not allowed. */
static int parse_labels(textparse_t *p, pl_err_t *err, bool exemplar) {
    const bool text = p->fmt == TEXTPARSE_PROM;
    const char *b = p->b;
    const size_t n = p->len;
    for (;;) {
        if (text) skip_blanks(p);
        if (p->pos >= n) {
            fail_expected(p, err, "label name or '}'");
            return -1;
        }
        unsigned char c = (unsigned char)b[p->pos];
        if (c == '}') {
            p->pos++;
            return 0;
        }
        size_t noff, nlen;
        bool quoted = false;
        if (CLS(c) & CC_LNAME_START) {
            size_t i = scan_name(b, p->pos + 1, n, false);
            nlen = i - p->pos;
            noff = scratch_copy(p, b + p->pos, nlen);
            p->pos = i;
        } else if (c == '"') {
            if (scan_quoted(p, err, "name", &noff, &nlen)) return -1;
            quoted = true;
        } else {
            fail_expected(p, err, "label name");
            return -1;
        }
        if (text) skip_blanks(p);
        /* A quoted string followed by ',' or '}' is the metric name
         * (Prometheus 3: {"my.metric", label="x"}). */
        if (quoted && !exemplar && p->pos < n && (b[p->pos] == ',' || b[p->pos] == '}')) {
            if (p->has_name) {
                char q[96];
                quote_bytes(q, sizeof q, p->scratch.data + noff, nlen);
                fail(p, err, "metric name already set, got a second one: %s", q);
                return -1;
            }
            if (nlen == 0) {
                fail(p, err, "invalid metric name: empty");
                return -1;
            }
            p->has_name = true;
            p->name_off = noff;
            if (b[p->pos] == ',') p->pos++;
            continue;
        }
        if (quoted && nlen == 0) {
            fail(p, err, "invalid label name: empty");
            return -1;
        }
        if (p->pos >= n || b[p->pos] != '=') {
            fail_expected(p, err, "equal");
            return -1;
        }
        p->pos++;
        if (text) skip_blanks(p);
        if (p->pos >= n || b[p->pos] != '"') {
            fail_expected(p, err, "label value");
            return -1;
        }
        size_t voff, vlen;
        if (scan_quoted(p, err, "label value", &voff, &vlen)) return -1;
        if (!exemplar && add_label(p, err, noff, nlen, voff)) return -1;
        if (text) {
            /* Text: a comma is optional (Prometheus accepts label pairs
             * separated by blanks alone). */
            skip_blanks(p);
            if (p->pos < n && b[p->pos] == ',') p->pos++;
        } else if (p->pos < n && b[p->pos] == ',') {
            p->pos++;
        } else if (p->pos >= n || b[p->pos] != '}') {
            fail_expected(p, err, "comma or '}'");
            return -1;
        }
    }
}

/* ---- numbers -------------------------------------------------------------- */

/* Reads the value token at pos (it ends at a byte of class vend); what
 * names it in errors. */
static int parse_number(textparse_t *p, pl_err_t *err, const char *what, double *out) {
    const bool om = p->fmt == TEXTPARSE_OPENMETRICS;
    const unsigned vend = om ? CC_OM_VEND : CC_TEXT_VEND;
    const char *b = p->b;
    size_t start = p->pos, i = start;
    unsigned seen = 0;
    while (i < p->len) {
        unsigned k = CLS(b[i]);
        if (k & vend) break;
        seen |= k;
        i++;
    }
    if (i == start) {
        fail_expected(p, err, what);
        return -1;
    }
    p->pos = i;
    char q[96];
    if ((seen & CC_NOT_FLOAT) && !p->hex_floats) {
        quote_bytes(q, sizeof q, b + start, i - start);
        fail(p, err, "unsupported character in float: %s %s", what, q);
        return -1;
    }
    int r = textparse_parse_float(b + start, i - start, out);
    if (r) {
        quote_bytes(q, sizeof q, b + start, i - start);
        fail(p, err, "invalid %s %s: %s", what, q, r == -2 ? "out of range" : "not a number");
        return -1;
    }
    if (*out != *out) { /* canonical NaN, as Prometheus's value.NormalNaN */
        uint64_t bits = 0x7ff8000000000001ULL;
        memcpy(out, &bits, sizeof *out);
    }
    return 0;
}

/* OpenMetrics timestamp: float seconds -> int64 ms, truncating as Go's
 * int64(ts * 1000) does. */
static int parse_om_timestamp(textparse_t *p, pl_err_t *err, const char *what, int64_t *ms) {
    double ts;
    if (parse_number(p, err, what, &ts)) return -1;
    if (ts != ts || ts == INFINITY || ts == -INFINITY) {
        fail(p, err, "invalid %s: %s", what, ts != ts ? "NaN" : "infinite");
        return -1;
    }
    double v = ts * 1000.0;
    /* Go's conversion of an out-of-range float is merely unspecified; C's
     * is undefined, so refuse it. */
    if (!(v > -9223372036854775808.0 && v < 9223372036854775808.0)) {
        fail(p, err, "invalid %s: out of range", what);
        return -1;
    }
    *ms = (int64_t)v;
    return 0;
}

/* Text timestamp: digits only (Prometheus's lexer takes no sign). */
static int parse_text_timestamp(textparse_t *p, pl_err_t *err, int64_t *ms) {
    const char *b = p->b;
    size_t i = p->pos;
    uint64_t v = 0;
    bool overflow = false;
    for (; i < p->len && TP_DIGIT(b[i]); i++) {
        unsigned d = (unsigned)(b[i] - '0');
        if (v > (UINT64_C(9223372036854775807) - d) / 10)
            overflow = true;
        else
            v = v * 10 + d;
    }
    if (overflow) {
        char q[96];
        quote_bytes(q, sizeof q, b + p->pos, i - p->pos);
        p->pos = i;
        fail(p, err, "invalid timestamp %s: out of range", q);
        return -1;
    }
    p->pos = i;
    *ms = (int64_t)v;
    return 0;
}

/* OpenMetrics " # {labels} value [timestamp]"; pos is at the space. Checked
 * as Prometheus checks it, then dropped. Leaves pos at the line's end. */
static int parse_exemplar(textparse_t *p, pl_err_t *err) {
    const char *b = p->b;
    size_t keep = p->scratch.len;
    p->pos += 4; /* " # {" */
    if (parse_labels(p, err, true)) return -1;
    p->scratch.len = keep;
    if (p->pos >= p->len || b[p->pos] != ' ') {
        fail_expected(p, err, "value after exemplar labels");
        return -1;
    }
    p->pos++;
    double v;
    if (parse_number(p, err, "exemplar value", &v)) return -1;
    if (p->pos < p->len && b[p->pos] == ' ') {
        p->pos++;
        int64_t ts;
        if (parse_om_timestamp(p, err, "exemplar timestamp", &ts)) return -1;
    }
    return 0;
}

/* ---- samples -------------------------------------------------------------- */

static enum textparse_entry parse_series(textparse_t *p, textparse_sample_t *s, pl_err_t *err) {
    const bool om = p->fmt == TEXTPARSE_OPENMETRICS;
    const char *b = p->b;
    const size_t n = p->len;
    p->scratch.len = 0;
    p->nrefs = 0;
    p->has_name = false;

    size_t raw_start = p->pos, raw_end;
    unsigned char c = (unsigned char)b[p->pos];
    if (CLS(c) & CC_MNAME_START) {
        size_t i = scan_name(b, p->pos + 1, n, true);
        p->name_off = scratch_copy(p, b + p->pos, i - p->pos);
        p->has_name = true;
        p->pos = raw_end = i;
        if (!om) skip_blanks(p);
        if (p->pos < n && b[p->pos] == '{') {
            p->pos++;
            if (parse_labels(p, err, false)) return TEXTPARSE_ERROR;
            raw_end = p->pos;
        }
    } else if (c == '{') {
        p->pos++;
        if (parse_labels(p, err, false)) return TEXTPARSE_ERROR;
        raw_end = p->pos;
    } else {
        size_t end = token_end(p);
        char q[128];
        quote_bytes(q, sizeof q, b + p->pos, end - p->pos);
        return fail(p, err, "invalid metric name, got %s", q);
    }
    if (!p->has_name) return fail(p, err, "metric name not set: no name before '{' and no quoted name inside");
    if (p->nrefs > DUP_PAIRWISE_MAX && check_duplicates_sorted(p, err)) return TEXTPARSE_ERROR;

    /* value */
    if (om) {
        if (p->pos >= n || b[p->pos] != ' ') return fail_expected(p, err, "space and value after metric");
        p->pos++;
    } else {
        skip_blanks(p);
        if (p->pos >= n || b[p->pos] == '\n') return fail_expected(p, err, "value after metric");
    }
    double value;
    if (parse_number(p, err, "value", &value)) return TEXTPARSE_ERROR;

    /* timestamp, exemplar, end of line */
    bool has_ts = false;
    int64_t ts = 0;
    bool exemplar = false;
    if (om) {
        if (p->pos < n && b[p->pos] == ' ' &&
            !(p->pos + 3 < n && b[p->pos + 1] == '#' && b[p->pos + 2] == ' ' && b[p->pos + 3] == '{')) {
            p->pos++;
            if (parse_om_timestamp(p, err, "timestamp", &ts)) return TEXTPARSE_ERROR;
            has_ts = true;
        }
        if (p->pos + 3 < n && b[p->pos] == ' ' && b[p->pos + 1] == '#' && b[p->pos + 2] == ' ' &&
            b[p->pos + 3] == '{') {
            if (parse_exemplar(p, err)) return TEXTPARSE_ERROR;
            exemplar = true;
        }
        if (p->pos >= n) return fail(p, err, "data does not end with # EOF");
        if (b[p->pos] != '\n')
            return fail_expected(p, err,
                                 exemplar ? "end of line after exemplar"
                                 : has_ts ? "end of line after timestamp"
                                          : "timestamp, exemplar or end of line");
    } else {
        skip_blanks(p);
        if (p->pos < n && b[p->pos] != '\n') {
            if (!TP_DIGIT(b[p->pos])) return fail_expected(p, err, "timestamp or end of line");
            if (parse_text_timestamp(p, err, &ts)) return TEXTPARSE_ERROR;
            has_ts = true;
            skip_blanks(p);
            if (p->pos < n && b[p->pos] != '\n') return fail_expected(p, err, "end of line after timestamp");
        }
    }
    if (p->pos < n) { /* the newline */
        p->pos++;
        p->line++;
    }

    if (p->nrefs > p->labels_cap) {
        size_t cap = p->labels_cap ? p->labels_cap : 16;
        while (cap < p->nrefs)
            cap *= 2;
        label_t *l = realloc(p->labels, cap * sizeof *l);
        if (!l) return fail(p, err, "out of memory");
        p->labels = l;
        p->labels_cap = cap;
    }
    const char *d = p->scratch.data;
    for (size_t i = 0; i < p->nrefs; i++) {
        p->labels[i].name = d + p->refs[i].name;
        p->labels[i].value = d + p->refs[i].value;
    }
    s->raw = b + raw_start;
    s->raw_len = raw_end - raw_start;
    s->name = d + p->name_off;
    s->labels = p->labels;
    s->nlabels = p->nrefs;
    s->value = value;
    s->has_timestamp = has_ts;
    s->timestamp_ms = has_ts ? ts : 0;
    return TEXTPARSE_SAMPLE;
}

/* ---- metadata ------------------------------------------------------------- */

static bool parse_type_word(const char *s, size_t n, bool om, enum metric_type *t) {
    static const struct {
        const char *word;
        enum metric_type type;
        int formats; /* 1 text, 2 OpenMetrics */
    } words[] = {
        {"counter", METRIC_TYPE_COUNTER, 3},     {"gauge", METRIC_TYPE_GAUGE, 3},
        {"histogram", METRIC_TYPE_HISTOGRAM, 3}, {"summary", METRIC_TYPE_SUMMARY, 3},
        {"untyped", METRIC_TYPE_UNTYPED, 1},     {"gaugehistogram", METRIC_TYPE_GAUGE_HISTOGRAM, 2},
        {"info", METRIC_TYPE_INFO, 2},           {"stateset", METRIC_TYPE_STATESET, 2},
        {"unknown", METRIC_TYPE_UNKNOWN, 2},
    };
    for (size_t i = 0; i < sizeof words / sizeof words[0]; i++)
        if ((words[i].formats & (om ? 2 : 1)) && strlen(words[i].word) == n && memcmp(words[i].word, s, n) == 0) {
            *t = words[i].type;
            return true;
        }
    return false;
}

/* The metric name of a HELP/TYPE/UNIT line, bare or quoted, into scratch. */
static int parse_meta_name(textparse_t *p, pl_err_t *err, const char *kw, size_t *off, size_t *len) {
    const char *b = p->b;
    char what[48];
    snprintf(what, sizeof what, "metric name after %s", kw);
    if (p->pos < p->len && b[p->pos] == '"') {
        if (scan_quoted(p, err, "metric name", off, len)) return -1;
        if (*len == 0) {
            fail(p, err, "invalid metric name in %s: empty", kw);
            return -1;
        }
        return 0;
    }
    if (p->pos >= p->len || !(CLS(b[p->pos]) & CC_MNAME_START)) {
        fail_expected(p, err, what);
        return -1;
    }
    size_t i = scan_name(b, p->pos + 1, p->len, true);
    *len = i - p->pos;
    *off = scratch_copy(p, b + p->pos, *len);
    p->pos = i;
    return 0;
}

/* Finishes a HELP/TYPE/UNIT entry whose name is in scratch at noff and whose
 * text is b[ts..te). Leaves pos for the caller. */
static enum textparse_entry finish_meta(textparse_t *p, pl_err_t *err, enum textparse_entry kind, const char *kw,
                                        size_t noff, size_t nlen, size_t ts, size_t te) {
    const bool om = p->fmt == TEXTPARSE_OPENMETRICS;
    const char *name = p->scratch.data + noff;
    const char *text = p->b + ts;
    size_t tlen = te - ts;
    char q[160];
    enum metric_type type = METRIC_TYPE_UNKNOWN;

    if (memchr(text, '\0', tlen)) return fail(p, err, "NUL byte in %s text", kw);
    if (kind == TEXTPARSE_HELP && !utf8_valid(text, tlen)) {
        quote_bytes(q, sizeof q, text, tlen);
        return fail(p, err, "help text %s is not valid UTF-8", q);
    }
    if (kind == TEXTPARSE_TYPE && !parse_type_word(text, tlen, om, &type)) {
        quote_bytes(q, sizeof q, text, tlen);
        return fail(p, err, "invalid metric type %s", q);
    }
    if (kind == TEXTPARSE_UNIT && tlen > 0) {
        if (!(nlen > tlen && memcmp(name + nlen - tlen, text, tlen) == 0 && name[nlen - tlen - 1] == '_')) {
            quote_bytes(q, sizeof q, text, tlen);
            return fail(p, err, "unit %s not a suffix of metric \"%s\"", q, name);
        }
    }
    /* A new family name forgets the previous family's type. */
    if (p->meta_name.len != nlen || memcmp(p->meta_name.data, name, nlen) != 0) {
        strbuf_reset(&p->meta_name);
        strbuf_append(&p->meta_name, name, nlen);
        p->meta_type = METRIC_TYPE_UNKNOWN;
    }
    strbuf_reset(&p->meta_text);
    if (kind == TEXTPARSE_HELP) {
        /* Text HELP unescapes \\ and \n only; OpenMetrics also \". */
        size_t ulen;
        size_t uoff = scratch_unescape(p, text, tlen, om, &ulen);
        strbuf_append(&p->meta_text, p->scratch.data + uoff, ulen);
    } else {
        strbuf_append(&p->meta_text, text, tlen);
    }
    if (kind == TEXTPARSE_TYPE) p->meta_type = type;
    return kind;
}

/* Text format: b[pos] is '#'. Returns HELP/TYPE, ERROR, or EOF meaning
 * "a comment, skipped" (the caller loops). */
static enum textparse_entry text_comment(textparse_t *p, pl_err_t *err) {
    const char *b = p->b;
    const size_t n = p->len;
    p->pos++;
    size_t ws = p->pos;
    skip_blanks(p);
    enum textparse_entry kind = TEXTPARSE_EOF;
    if (p->pos > ws && p->pos + 4 < n && (b[p->pos + 4] == ' ' || b[p->pos + 4] == '\t')) {
        if (memcmp(b + p->pos, "HELP", 4) == 0)
            kind = TEXTPARSE_HELP;
        else if (memcmp(b + p->pos, "TYPE", 4) == 0)
            kind = TEXTPARSE_TYPE;
    }
    if (kind == TEXTPARSE_EOF) { /* a plain comment: skip the line */
        const char *nl = memchr(b + p->pos, '\n', n - p->pos);
        p->pos = nl ? (size_t)(nl - b) + 1 : n;
        if (nl) p->line++;
        return TEXTPARSE_EOF;
    }
    const char *kw = kind == TEXTPARSE_HELP ? "HELP" : "TYPE";
    p->pos += 4;
    skip_blanks(p);
    p->scratch.len = 0;
    size_t noff, nlen;
    if (parse_meta_name(p, err, kw, &noff, &nlen)) return TEXTPARSE_ERROR;
    /* The text is the rest of the line less its first byte, which is
     * normally the separating blank (Prometheus drops it whatever it is). */
    const char *nl = memchr(b + p->pos, '\n', n - p->pos);
    size_t te = nl ? (size_t)(nl - b) : n;
    size_t ts = p->pos < te ? p->pos + 1 : te;
    enum textparse_entry r = finish_meta(p, err, kind, kw, noff, nlen, ts, te);
    if (r == TEXTPARSE_ERROR) return r;
    p->pos = nl ? te + 1 : n;
    if (nl) p->line++;
    return r;
}

static enum textparse_entry next_text(textparse_t *p, textparse_sample_t *s, pl_err_t *err) {
    for (;;) {
        p->line_start = p->pos;
        p->entry_line = p->line;
        skip_blanks(p);
        if (p->pos >= p->len) {
            if (!p->final) return TEXTPARSE_NEED_MORE;
            p->state = ST_EOF;
            return TEXTPARSE_EOF;
        }
        char c = p->b[p->pos];
        if (c == '\n') {
            p->pos++;
            p->line++;
            continue;
        }
        if (c == '#') {
            enum textparse_entry r = text_comment(p, err);
            if (r == TEXTPARSE_EOF) continue;
            return r;
        }
        return parse_series(p, s, err);
    }
}

static enum textparse_entry om_meta(textparse_t *p, pl_err_t *err, enum textparse_entry kind, const char *kw) {
    const char *b = p->b;
    const size_t n = p->len;
    p->scratch.len = 0;
    size_t noff, nlen;
    if (parse_meta_name(p, err, kw, &noff, &nlen)) return TEXTPARSE_ERROR;
    if (p->pos >= n || b[p->pos] != ' ') {
        char what[64];
        snprintf(what, sizeof what, "space and text after the metric name in %s", kw);
        return fail_expected(p, err, what);
    }
    p->pos++;
    const char *nl = memchr(b + p->pos, '\n', n - p->pos);
    if (!nl) {
        p->pos = n;
        return fail(p, err, "unexpected end of input in # %s line", kw);
    }
    size_t te = (size_t)(nl - b);
    enum textparse_entry r = finish_meta(p, err, kind, kw, noff, nlen, p->pos, te);
    if (r == TEXTPARSE_ERROR) return r;
    p->pos = te + 1;
    p->line++;
    return r;
}

static enum textparse_entry next_om(textparse_t *p, textparse_sample_t *s, pl_err_t *err) {
    const char *b = p->b;
    const size_t n = p->len;
    p->line_start = p->pos;
    p->entry_line = p->line;
    if (p->pos >= n) {
        if (!p->final) return TEXTPARSE_NEED_MORE;
        return fail(p, err, "data does not end with # EOF");
    }
    char c = b[p->pos];
    if (c == '#') {
        if (p->pos + 1 < n && b[p->pos + 1] == ' ') {
            const char *w = b + p->pos + 2;
            size_t left = n - p->pos - 2;
            if (left >= 5 && w[4] == ' ') {
                if (memcmp(w, "HELP", 4) == 0) return p->pos += 7, om_meta(p, err, TEXTPARSE_HELP, "HELP");
                if (memcmp(w, "TYPE", 4) == 0) return p->pos += 7, om_meta(p, err, TEXTPARSE_TYPE, "TYPE");
                if (memcmp(w, "UNIT", 4) == 0) return p->pos += 7, om_meta(p, err, TEXTPARSE_UNIT, "UNIT");
            }
            if (left >= 3 && memcmp(w, "EOF", 3) == 0) {
                p->pos += 5;
                if (p->pos < n && b[p->pos] == '\n') {
                    p->pos++;
                    p->line++;
                }
                if (p->pos != n) return fail(p, err, "unexpected data after # EOF");
                /* Streaming: more input may still arrive; textparse_feed refuses it. */
                p->state = ST_EOF;
                return TEXTPARSE_EOF;
            }
        }
        return fail(p, err,
                    "invalid comment: OpenMetrics allows only \"# HELP\", \"# TYPE\", \"# UNIT\" and \"# EOF\"");
    }
    if (c == '\n') return fail(p, err, "empty line (not allowed in OpenMetrics)");
    return parse_series(p, s, err);
}

/* ---- public --------------------------------------------------------------- */

textparse_t *textparse_new(enum textparse_format fmt, const char *body, size_t len) {
    textparse_t *p = calloc(1, sizeof *p);
    if (!p) return NULL;
    p->fmt = fmt == TEXTPARSE_OPENMETRICS ? TEXTPARSE_OPENMETRICS : TEXTPARSE_PROM;
    p->b = body ? body : "";
    p->len = body ? len : 0;
    p->final = true;
    p->line = 1;
    p->state = ST_RUNNING;
    p->meta_type = METRIC_TYPE_UNKNOWN;
    strbuf_init(&p->scratch);
    strbuf_init(&p->meta_name);
    strbuf_init(&p->meta_text);
    /* meta getters return "" before the first metadata entry */
    strbuf_reserve(&p->meta_name, 32);
    strbuf_reserve(&p->meta_text, 64);
    strbuf_reset(&p->meta_name); /* reserve alone leaves no terminator */
    strbuf_reset(&p->meta_text);
    p->labels = malloc(16 * sizeof *p->labels);
    p->labels_cap = p->labels ? 16 : 0;
    return p;
}

void textparse_free(textparse_t *p) {
    if (!p) return;
    strbuf_free(&p->scratch);
    strbuf_free(&p->meta_name);
    strbuf_free(&p->meta_text);
    free(p->refs);
    free(p->labels);
    free(p->sorted);
    free(p);
}

void textparse_set_hex_floats(textparse_t *p, bool allow) { p->hex_floats = allow; }

enum textparse_entry textparse_next(textparse_t *p, textparse_sample_t *s, pl_err_t *err) {
    if (p->state == ST_EOF) return TEXTPARSE_EOF;
    if (p->state == ST_ERROR) {
        if (err) *err = p->err;
        return TEXTPARSE_ERROR;
    }
    textparse_sample_t dummy;
    if (!s) s = &dummy;
    enum textparse_entry e = p->fmt == TEXTPARSE_OPENMETRICS ? next_om(p, s, err) : next_text(p, s, err);
    if (p->rewound) {
        p->rewound = false;
        p->pos = p->line_start;
        p->line = p->entry_line;
        return TEXTPARSE_NEED_MORE;
    }
    return e;
}

const char *textparse_meta_name(const textparse_t *p) { return p->meta_name.data; }
const char *textparse_meta_text(const textparse_t *p) { return p->meta_text.data; }
enum metric_type textparse_meta_type(const textparse_t *p) { return p->meta_type; }

/* ---- streaming ------------------------------------------------------------ */

textparse_t *textparse_new_stream(enum textparse_format fmt) {
    textparse_t *p = textparse_new(fmt, NULL, 0);
    if (p) p->final = false;
    return p;
}

void textparse_feed(textparse_t *p, const char *piece, size_t len, bool final) {
    if (p->state == ST_ERROR) return;
    if (p->state == ST_EOF) {
        /* Only OpenMetrics ends before the input does ("# EOF"): anything after it is an error. */
        if (len > 0) {
            p->b = piece;
            p->len = len;
            p->pos = 0;
            p->line_start = 0;
            fail(p, NULL, "unexpected data after # EOF");
        }
        return;
    }
    p->b = piece ? piece : "";
    p->len = piece ? len : 0;
    p->pos = 0;
    p->line_start = 0;
    p->final = final;
}

size_t textparse_consumed(const textparse_t *p) { return p->pos; }
