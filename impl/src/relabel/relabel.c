/* relabel.c — Prometheus's relabeling (model/relabel/relabel.go), compiled.
 *
 * Why it is built this way:
 *  - Relabeling runs once per new series (metric_relabel_configs) and once
 *    per target (relabel_configs), so the rules are compiled once per config
 *    load: PCRE2 with JIT for the regex, and the "$1"/"${name}" templates of
 *    replacement and target_label parsed into literal and group parts, with
 *    group names resolved to numbers. Two regex shapes that dominate real
 *    configs skip PCRE2 entirely: the default "(.*)" and plain literals or
 *    alternations of literals ("user_id|session_id", typical for labeldrop).
 *  - The builder copies labels.Builder's model exactly: the input ("base")
 *    stays sorted and is never moved; Set/Del hide the base entry and keep
 *    additions in insertion order. The order matters for labelmap, where two
 *    source labels may map to one name and the later one in Prometheus's
 *    Range order (visible base labels, then additions) wins.
 *  - Go's regexp and PCRE2 differ in details that matter here; the compile
 *    options close the gaps: "$" means end of text only (DOLLAR_ENDONLY),
 *    "." does not match "\n" (no DOTALL: Prometheus's relabel regex has no
 *    (?s)), UTF-8 mode with invalid input allowed (MATCH_INVALID_UTF; Go
 *    would match an invalid byte with "." as U+FFFD, PCRE2 matches nothing
 *    there — the only known difference, and only for invalid UTF-8).
 *  - Everything per call lives in the caller's relabel_labels_t: the PCRE2
 *    match data, the joined source value, and an arena of chunks that never
 *    move (so pointers into it stay valid while it grows) and is coalesced
 *    into one chunk on reset, so a warmed-up builder allocates nothing. */
#define PCRE2_CODE_UNIT_WIDTH 8
#include "relabel/relabel.h"

#include <ctype.h>
#include <locale.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <wctype.h>

#include <pcre2.h>

/* ---- compiled rules ----------------------------------------------------------- */

enum { PART_LITERAL, PART_GROUP };

struct tmpl_part {
    int kind;
    uint32_t group;
    const char *lit; /* into the rule's copy of the template */
    size_t len;
};

struct tmpl {
    const char *text; /* the template as written (owned by the rule) */
    struct tmpl_part *parts;
    size_t nparts;
    bool has_var; /* contains '$' (Prometheus's varInRegexTemplate) */
};

enum regex_kind {
    REGEX_PCRE,     /* general case */
    REGEX_ANY,      /* exactly "(.*)": matches any text without '\n', group 1 = all */
    REGEX_LITERALS, /* "a|b|c" with plain characters only: string equality */
};

struct rule {
    enum relabel_action action;
    char **source;
    size_t nsource;
    char *separator;
    size_t separator_len;
    char *target;
    char *replacement;
    struct tmpl target_tmpl, replacement_tmpl;
    bool target_valid; /* target is a valid label name as written */
    uint64_t modulus;
    enum regex_kind regex_kind;
    pcre2_code *code;
    uint32_t ncaptures;
    char *literal_text; /* REGEX_LITERALS: the regex with '|' turned into NULs */
    const char **literals;
    size_t *literal_lens;
    size_t nliterals;
};

struct relabel_rules {
    struct rule *v;
    size_t n;
    uint32_t max_pairs; /* ovector pairs any rule needs */
};

size_t relabel_rules_count(const relabel_rules_t *r) { return r ? r->n : 0; }

/* ---- Unicode helpers (Go's unicode tables via glibc's C.UTF-8) ---------------- */

static locale_t utf8_loc;
static pthread_once_t utf8_once = PTHREAD_ONCE_INIT;
static void utf8_loc_init(void) { utf8_loc = newlocale(LC_CTYPE_MASK, "C.UTF-8", (locale_t)0); }
static locale_t get_utf8_loc(void) {
    pthread_once(&utf8_once, utf8_loc_init);
    return utf8_loc;
}

/* Go's utf8.DecodeRune: invalid input gives U+FFFD with width 1. */
static uint32_t utf8_decode(const unsigned char *s, size_t n, size_t *width) {
    unsigned c = s[0];
    *width = 1;
    if (c < 0x80) return c;
    uint32_t r;
    size_t need;
    uint32_t min;
    if (c >= 0xc2 && c <= 0xdf) {
        r = c & 0x1f, need = 1, min = 0x80;
    } else if (c >= 0xe0 && c <= 0xef) {
        r = c & 0x0f, need = 2, min = 0x800;
    } else if (c >= 0xf0 && c <= 0xf4) {
        r = c & 0x07, need = 3, min = 0x10000;
    } else {
        return 0xfffd;
    }
    if (n < need + 1) return 0xfffd;
    for (size_t i = 1; i <= need; i++) {
        if ((s[i] & 0xc0) != 0x80) return 0xfffd;
        r = (r << 6) | (s[i] & 0x3f);
    }
    if (r < min || r > 0x10ffff || (r >= 0xd800 && r <= 0xdfff)) return 0xfffd;
    *width = need + 1;
    return r;
}

static size_t utf8_encode(char *out, uint32_t r) {
    if (r >= 0xd800 && r <= 0xdfff) r = 0xfffd;
    if (r < 0x80) {
        out[0] = (char)r;
        return 1;
    }
    if (r < 0x800) {
        out[0] = (char)(0xc0 | (r >> 6));
        out[1] = (char)(0x80 | (r & 0x3f));
        return 2;
    }
    if (r < 0x10000) {
        out[0] = (char)(0xe0 | (r >> 12));
        out[1] = (char)(0x80 | ((r >> 6) & 0x3f));
        out[2] = (char)(0x80 | (r & 0x3f));
        return 3;
    }
    if (r > 0x10ffff) return utf8_encode(out, 0xfffd);
    out[0] = (char)(0xf0 | (r >> 18));
    out[1] = (char)(0x80 | ((r >> 12) & 0x3f));
    out[2] = (char)(0x80 | ((r >> 6) & 0x3f));
    out[3] = (char)(0x80 | (r & 0x3f));
    return 4;
}

/* A character of a $name in a template: Go's unicode.IsLetter || IsDigit || '_'. */
static bool template_name_rune(uint32_t r) {
    if (r < 0x80) return isalnum((int)r) || r == '_';
    if (r == 0xfffd) return false;
    locale_t loc = get_utf8_loc();
    return loc != (locale_t)0 && iswalnum_l((wint_t)r, loc);
}

/* strings.ToLower / strings.ToUpper: per-rune simple case mapping; invalid
 * bytes become U+FFFD. out must hold 3 * n + 1 bytes. Returns the length. */
static size_t change_case(char *out, const char *in, size_t n, bool upper) {
    const unsigned char *s = (const unsigned char *)in;
    size_t o = 0;
    locale_t loc = (locale_t)0;
    for (size_t i = 0; i < n;) {
        if (s[i] < 0x80) {
            out[o++] = (char)(upper ? toupper(s[i]) : tolower(s[i]));
            i++;
            continue;
        }
        size_t w;
        uint32_t r = utf8_decode(s + i, n - i, &w);
        if (r != 0xfffd) {
            if (!loc) loc = get_utf8_loc();
            if (loc) r = (uint32_t)(upper ? towupper_l((wint_t)r, loc) : towlower_l((wint_t)r, loc));
        }
        o += utf8_encode(out + o, r);
        i += w;
    }
    out[o] = '\0';
    return o;
}

/* ---- MD5 (RFC 1321), for hashmod ------------------------------------------------- */

static const uint32_t md5_k[64] = {
    0xd76aa478, 0xe8c7b756, 0x242070db, 0xc1bdceee, 0xf57c0faf, 0x4787c62a, 0xa8304613, 0xfd469501,
    0x698098d8, 0x8b44f7af, 0xffff5bb1, 0x895cd7be, 0x6b901122, 0xfd987193, 0xa679438e, 0x49b40821,
    0xf61e2562, 0xc040b340, 0x265e5a51, 0xe9b6c7aa, 0xd62f105d, 0x02441453, 0xd8a1e681, 0xe7d3fbc8,
    0x21e1cde6, 0xc33707d6, 0xf4d50d87, 0x455a14ed, 0xa9e3e905, 0xfcefa3f8, 0x676f02d9, 0x8d2a4c8a,
    0xfffa3942, 0x8771f681, 0x6d9d6122, 0xfde5380c, 0xa4beea44, 0x4bdecfa9, 0xf6bb4b60, 0xbebfbc70,
    0x289b7ec6, 0xeaa127fa, 0xd4ef3085, 0x04881d05, 0xd9d4d039, 0xe6db99e5, 0x1fa27cf8, 0xc4ac5665,
    0xf4292244, 0x432aff97, 0xab9423a7, 0xfc93a039, 0x655b59c3, 0x8f0ccc92, 0xffeff47d, 0x85845dd1,
    0x6fa87e4f, 0xfe2ce6e0, 0xa3014314, 0x4e0811a1, 0xf7537e82, 0xbd3af235, 0x2ad7d2bb, 0xeb86d391,
};
static const uint8_t md5_s[64] = {7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22,
                                  5, 9,  14, 20, 5, 9,  14, 20, 5, 9,  14, 20, 5, 9,  14, 20,
                                  4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23,
                                  6, 10, 15, 21, 6, 10, 15, 21, 6, 10, 15, 21, 6, 10, 15, 21};

static uint32_t rotl32(uint32_t x, unsigned c) { return (x << c) | (x >> (32 - c)); }

static void md5_block(uint32_t h[4], const unsigned char *p) {
    uint32_t m[16];
    for (int i = 0; i < 16; i++)
        m[i] = (uint32_t)p[4 * i] | (uint32_t)p[4 * i + 1] << 8 | (uint32_t)p[4 * i + 2] << 16 |
               (uint32_t)p[4 * i + 3] << 24;
    uint32_t a = h[0], b = h[1], c = h[2], d = h[3];
    for (int i = 0; i < 64; i++) {
        uint32_t f;
        int g;
        if (i < 16) {
            f = (b & c) | (~b & d);
            g = i;
        } else if (i < 32) {
            f = (d & b) | (~d & c);
            g = (5 * i + 1) & 15;
        } else if (i < 48) {
            f = b ^ c ^ d;
            g = (3 * i + 5) & 15;
        } else {
            f = c ^ (b | ~d);
            g = (7 * i) & 15;
        }
        uint32_t t = d;
        d = c;
        c = b;
        b = b + rotl32(a + f + md5_k[i] + m[g], md5_s[i]);
        a = t;
    }
    h[0] += a, h[1] += b, h[2] += c, h[3] += d;
}

static void md5(const void *data, size_t len, unsigned char out[16]) {
    uint32_t h[4] = {0x67452301, 0xefcdab89, 0x98badcfe, 0x10325476};
    const unsigned char *p = data;
    size_t left = len;
    while (left >= 64) {
        md5_block(h, p);
        p += 64, left -= 64;
    }
    unsigned char tail[128] = {0};
    memcpy(tail, p, left);
    tail[left] = 0x80;
    size_t tlen = left < 56 ? 64 : 128;
    uint64_t bits = (uint64_t)len * 8;
    for (int i = 0; i < 8; i++)
        tail[tlen - 8 + i] = (unsigned char)(bits >> (8 * i));
    md5_block(h, tail);
    if (tlen == 128) md5_block(h, tail + 64);
    for (int i = 0; i < 4; i++)
        for (int j = 0; j < 4; j++)
            out[4 * i + j] = (unsigned char)(h[i] >> (8 * j));
}

uint64_t relabel_hashmod(const char *s, size_t len, uint64_t modulus) {
    unsigned char sum[16];
    md5(s, len, sum);
    uint64_t v = 0;
    for (int i = 8; i < 16; i++)
        v = (v << 8) | sum[i];
    return modulus ? v % modulus : 0;
}

/* ---- templates (Go's regexp.Expand, resolved at compile time) ------------------ */

/* Group number of name in the compiled regex, or -1. */
static long group_by_name(const struct rule *r, const char *name, size_t len) {
    if (r->regex_kind != REGEX_PCRE) return -1;
    uint32_t count = 0, size = 0;
    PCRE2_SPTR table = NULL;
    pcre2_pattern_info(r->code, PCRE2_INFO_NAMECOUNT, &count);
    if (!count) return -1;
    pcre2_pattern_info(r->code, PCRE2_INFO_NAMEENTRYSIZE, &size);
    pcre2_pattern_info(r->code, PCRE2_INFO_NAMETABLE, &table);
    for (uint32_t i = 0; i < count; i++) {
        PCRE2_SPTR e = table + (size_t)i * size;
        const char *n = (const char *)e + 2;
        if (strlen(n) == len && memcmp(n, name, len) == 0) return (long)((e[0] << 8) | e[1]);
    }
    return -1;
}

static int tmpl_push(struct tmpl *t, size_t *cap, struct tmpl_part p) {
    if (p.kind == PART_LITERAL && p.len == 0) return 0;
    if (t->nparts == *cap) {
        size_t nc = *cap ? 2 * *cap : 4;
        struct tmpl_part *np = realloc(t->parts, nc * sizeof *np);
        if (!np) return -1;
        t->parts = np;
        *cap = nc;
    }
    t->parts[t->nparts++] = p;
    return 0;
}

/* Parses text as Go's Regexp.Expand reads a template: "$$" is "$"; "$name"
 * and "${name}" take the longest run of letters, digits and '_' as name; a
 * name of decimal digits (no leading zero, below 1e8) is a group number,
 * other names are looked up as named groups; a reference to a group that
 * does not exist expands to nothing; a '$' not followed by a name is kept. */
static int tmpl_parse(struct rule *r, struct tmpl *t, const char *text) {
    size_t cap = 0;
    t->text = text;
    t->has_var = strchr(text, '$') != NULL;
    const char *p = text;
    while (*p) {
        const char *dollar = strchr(p, '$');
        if (!dollar) {
            if (tmpl_push(t, &cap, (struct tmpl_part){PART_LITERAL, 0, p, strlen(p)}) < 0) return -1;
            break;
        }
        if (tmpl_push(t, &cap, (struct tmpl_part){PART_LITERAL, 0, p, (size_t)(dollar - p)}) < 0) return -1;
        p = dollar + 1;
        if (*p == '$') {
            if (tmpl_push(t, &cap, (struct tmpl_part){PART_LITERAL, 0, p, 1}) < 0) return -1;
            p++;
            continue;
        }
        const char *s = p;
        bool brace = *s == '{';
        if (brace) s++;
        size_t i = 0, slen = strlen(s);
        while (i < slen) {
            size_t w;
            uint32_t rune = utf8_decode((const unsigned char *)s + i, slen - i, &w);
            if (!template_name_rune(rune)) break;
            i += w;
        }
        if (i == 0 || (brace && s[i] != '}')) { /* malformed: the '$' is text */
            if (tmpl_push(t, &cap, (struct tmpl_part){PART_LITERAL, 0, dollar, 1}) < 0) return -1;
            continue;
        }
        const char *name = s;
        size_t nlen = i;
        p = s + i + (brace ? 1 : 0);
        long num = 0;
        for (size_t k = 0; k < nlen; k++) {
            if (name[k] < '0' || name[k] > '9' || num >= 100000000) {
                num = -1;
                break;
            }
            num = num * 10 + (name[k] - '0');
        }
        if (name[0] == '0' && nlen > 1) num = -1;
        if (num < 0) num = group_by_name(r, name, nlen);
        if (num >= 0 && (uint64_t)num <= r->ncaptures)
            if (tmpl_push(t, &cap, (struct tmpl_part){PART_GROUP, (uint32_t)num, NULL, 0}) < 0) return -1;
    }
    return 0;
}

/* ---- compile ----------------------------------------------------------------------- */

static bool literal_char(char c) { return isalnum((unsigned char)c) || (c && strchr("_:/,=@ !%&'\"<>;~`#-", c)); }

static int compile_regex(struct rule *r, const char *re, pl_err_t *err) {
    if (strcmp(re, "(.*)") == 0) {
        r->regex_kind = REGEX_ANY;
        r->ncaptures = 1;
        return 0;
    }
    bool plain = true;
    for (const char *p = re; *p && plain; p++)
        plain = literal_char(*p) || *p == '|';
    if (plain) {
        r->regex_kind = REGEX_LITERALS;
        r->literal_text = strdup(re);
        size_t n = 1;
        for (const char *p = re; *p; p++)
            n += *p == '|';
        r->literals = calloc(n, sizeof *r->literals);
        r->literal_lens = calloc(n, sizeof *r->literal_lens);
        if (!r->literal_text || !r->literals || !r->literal_lens) return pl_err_set(err, "out of memory");
        char *s = r->literal_text;
        for (;;) {
            char *bar = strchr(s, '|');
            if (bar) *bar = '\0';
            r->literals[r->nliterals] = s;
            r->literal_lens[r->nliterals++] = strlen(s);
            if (!bar) break;
            s = bar + 1;
        }
        return 0;
    }
    r->regex_kind = REGEX_PCRE;
    size_t len = strlen(re);
    char *src = malloc(len + 7);
    if (!src) return pl_err_set(err, "out of memory");
    memcpy(src, "^(?:", 4);
    memcpy(src + 4, re, len);
    memcpy(src + 4 + len, ")$", 3);
    pcre2_compile_context *cc = pcre2_compile_context_create(NULL);
    if (!cc) {
        free(src);
        return pl_err_set(err, "out of memory");
    }
    pcre2_set_newline(cc, PCRE2_NEWLINE_LF);
    int code;
    PCRE2_SIZE off;
    r->code = pcre2_compile((PCRE2_SPTR)src, len + 6, PCRE2_UTF | PCRE2_MATCH_INVALID_UTF | PCRE2_DOLLAR_ENDONLY, &code,
                            &off, cc);
    pcre2_compile_context_free(cc);
    free(src);
    if (!r->code) {
        PCRE2_UCHAR msg[256];
        pcre2_get_error_message(code, msg, sizeof msg);
        return pl_err_set(err, "error parsing regexp: %s: `%.100s`", (const char *)msg, re);
    }
    (void)pcre2_jit_compile(r->code, PCRE2_JIT_COMPLETE); /* the interpreter is the fallback */
    pcre2_pattern_info(r->code, PCRE2_INFO_CAPTURECOUNT, &r->ncaptures);
    return 0;
}

static void rule_free(struct rule *r) {
    for (size_t i = 0; i < r->nsource; i++)
        free(r->source[i]);
    free(r->source);
    free(r->separator);
    free(r->target);
    free(r->replacement);
    free(r->target_tmpl.parts);
    free(r->replacement_tmpl.parts);
    if (r->code) pcre2_code_free(r->code);
    free(r->literal_text);
    free(r->literals);
    free(r->literal_lens);
}

void relabel_rules_free(relabel_rules_t *r) {
    if (!r) return;
    for (size_t i = 0; i < r->n; i++)
        rule_free(&r->v[i]);
    free(r->v);
    free(r);
}

static int rule_compile(struct rule *r, const relabel_config_t *c, pl_err_t *err) {
    r->action = c->action;
    if ((unsigned)c->action > RELABEL_UPPERCASE) return pl_err_set(err, "unknown relabel action %d", (int)c->action);
    r->modulus = c->modulus;
    if (r->action == RELABEL_HASHMOD && r->modulus == 0)
        return pl_err_set(err, "relabel configuration for hashmod requires non-zero modulus");
    if (c->nsource_labels) {
        r->source = calloc(c->nsource_labels, sizeof *r->source);
        if (!r->source) return pl_err_set(err, "out of memory");
        for (size_t i = 0; i < c->nsource_labels; i++, r->nsource++)
            if (!(r->source[i] = strdup(c->source_labels[i] ? c->source_labels[i] : "")))
                return pl_err_set(err, "out of memory");
    }
    r->separator = strdup(c->separator ? c->separator : ";");
    r->target = strdup(c->target_label ? c->target_label : "");
    r->replacement = strdup(c->replacement ? c->replacement : "$1");
    if (!r->separator || !r->target || !r->replacement) return pl_err_set(err, "out of memory");
    r->separator_len = strlen(r->separator);
    r->target_valid = label_name_valid(r->target, strlen(r->target));
    /* What Prometheus's Config.Validate refuses about target_label; the
     * loader checks it too, this keeps a hand-built config from creating a
     * label without a valid name. */
    const char *an = relabel_action_str(r->action);
    switch (r->action) {
    case RELABEL_REPLACE:
        if (!r->target[0])
            return pl_err_set(err, "relabel configuration for %s action requires 'target_label' value", an);
        if (!strchr(r->target, '$') && !r->target_valid)
            return pl_err_set(err, "\"%.200s\" is invalid 'target_label' for %s action", r->target, an);
        break;
    case RELABEL_HASHMOD:
    case RELABEL_LOWERCASE:
    case RELABEL_UPPERCASE:
    case RELABEL_KEEPEQUAL:
    case RELABEL_DROPEQUAL:
        if (!r->target[0])
            return pl_err_set(err, "relabel configuration for %s action requires 'target_label' value", an);
        if (!r->target_valid)
            return pl_err_set(err, "\"%.200s\" is invalid 'target_label' for %s action", r->target, an);
        break;
    default: break;
    }
    if (compile_regex(r, c->regex ? c->regex : "(.*)", err) < 0) return -1;
    if (tmpl_parse(r, &r->target_tmpl, r->target) < 0 || tmpl_parse(r, &r->replacement_tmpl, r->replacement) < 0)
        return pl_err_set(err, "out of memory");
    return 0;
}

relabel_rules_t *relabel_compile(const relabel_config_t *cfgs, size_t n, pl_err_t *err) {
    relabel_rules_t *r = calloc(1, sizeof *r);
    if (!r) return pl_err_set(err, "out of memory"), NULL;
    r->max_pairs = 2;
    if (n) {
        r->v = calloc(n, sizeof *r->v);
        if (!r->v) {
            free(r);
            return pl_err_set(err, "out of memory"), NULL;
        }
    }
    for (size_t i = 0; i < n; i++) {
        r->n = i + 1;
        if (rule_compile(&r->v[i], &cfgs[i], err) < 0) {
            pl_err_prefix(err, "relabel rule %zu (line %d)", i + 1, cfgs[i].line);
            relabel_rules_free(r);
            return NULL;
        }
        if (r->v[i].ncaptures + 1 > r->max_pairs) r->max_pairs = r->v[i].ncaptures + 1;
    }
    return r;
}

/* ---- the builder ---------------------------------------------------------------- */

struct relabel_chunk {
    struct relabel_chunk *next;
    size_t cap, used;
    char data[];
};

static char *arena_alloc(relabel_labels_t *b, size_t n) {
    struct relabel_chunk *c = b->arena;
    if (!c || c->cap - c->used < n) {
        size_t cap = c ? 2 * c->cap : 1024;
        if (cap < n) cap = n;
        struct relabel_chunk *nc = malloc(sizeof *nc + cap);
        if (!nc) return NULL;
        nc->next = c;
        nc->cap = cap;
        nc->used = 0;
        b->arena = nc;
        b->arena_total += cap;
        c = nc;
    }
    char *p = c->data + c->used;
    c->used += n;
    return p;
}

/* Gives back the tail of the last allocation (size was an upper bound). */
static void arena_trim(relabel_labels_t *b, const char *p, size_t used) {
    struct relabel_chunk *c = b->arena;
    c->used = (size_t)(p - c->data) + used;
}

static void arena_free_all(relabel_labels_t *b) {
    for (struct relabel_chunk *c = b->arena, *next; c; c = next) {
        next = c->next;
        free(c);
    }
    b->arena = NULL;
    b->arena_total = 0;
}

/* Empties the arena; more than one chunk becomes one chunk of the total, so
 * the next call of the same shape fits without allocating. */
static void arena_reset(relabel_labels_t *b) {
    if (!b->arena) return;
    if (b->arena->next) {
        size_t total = b->arena_total;
        arena_free_all(b);
        struct relabel_chunk *c = malloc(sizeof *c + total);
        if (!c) return; /* not an error: the next alloc retries */
        c->next = NULL;
        c->cap = total;
        c->used = 0;
        b->arena = c;
        b->arena_total = total;
    }
    b->arena->used = 0;
}

static int grow(void **p, size_t *cap, size_t need, size_t elem) {
    if (need <= *cap) return 0;
    size_t nc = *cap ? *cap : 8;
    while (nc < need)
        nc *= 2;
    void *np = realloc(*p, nc * elem);
    if (!np) return -1;
    *p = np;
    *cap = nc;
    return 0;
}

static int entry_cmp(const void *a, const void *b) {
    return strcmp(((const struct relabel_entry *)a)->name, ((const struct relabel_entry *)b)->name);
}

int relabel_labels_reset(relabel_labels_t *b, const label_t *ls, size_t n) {
    b->nbase = b->nadd = b->nout = 0;
    arena_reset(b);
    if (grow((void **)&b->base, &b->cap_base, n, sizeof *b->base) < 0) return -1;
    bool sorted = true;
    for (size_t i = 0; i < n; i++) {
        b->base[i] = (struct relabel_entry){ls[i].name, ls[i].value, ls[i].value[0] == '\0'};
        if (i && strcmp(ls[i - 1].name, ls[i].name) > 0) sorted = false;
    }
    b->nbase = n;
    if (!sorted) {
        if (n <= 32) {
            for (size_t i = 1; i < n; i++) {
                struct relabel_entry x = b->base[i];
                size_t j = i;
                while (j > 0 && strcmp(b->base[j - 1].name, x.name) > 0) {
                    b->base[j] = b->base[j - 1];
                    j--;
                }
                b->base[j] = x;
            }
        } else {
            qsort(b->base, n, sizeof *b->base, entry_cmp);
        }
    }
    return 0;
}

/* Index of the first base entry named name, or nbase. */
static size_t base_lower_bound(const relabel_labels_t *b, const char *name) {
    size_t lo = 0, hi = b->nbase;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (strcmp(b->base[mid].name, name) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static void base_hide(relabel_labels_t *b, const char *name) {
    for (size_t i = base_lower_bound(b, name); i < b->nbase && strcmp(b->base[i].name, name) == 0; i++)
        b->base[i].hidden = true;
}

static struct relabel_entry *add_find(const relabel_labels_t *b, const char *name) {
    for (size_t i = 0; i < b->nadd; i++)
        if (strcmp(b->add[i].name, name) == 0) return &b->add[i];
    return NULL;
}

const char *relabel_labels_get(const relabel_labels_t *b, const char *name) {
    const struct relabel_entry *e = add_find(b, name);
    if (e) return e->value;
    for (size_t i = base_lower_bound(b, name); i < b->nbase && strcmp(b->base[i].name, name) == 0; i++)
        if (!b->base[i].hidden) return b->base[i].value;
    return "";
}

void relabel_labels_del(relabel_labels_t *b, const char *name) {
    for (size_t i = 0; i < b->nadd; i++)
        if (strcmp(b->add[i].name, name) == 0) {
            memmove(&b->add[i], &b->add[i + 1], (b->nadd - i - 1) * sizeof *b->add);
            b->nadd--;
            break;
        }
    base_hide(b, name);
}

int relabel_labels_set(relabel_labels_t *b, const char *name, const char *value) {
    if (!value[0]) {
        relabel_labels_del(b, name);
        return 0;
    }
    struct relabel_entry *e = add_find(b, name);
    if (e) {
        e->value = value;
        return 0;
    }
    if (grow((void **)&b->add, &b->cap_add, b->nadd + 1, sizeof *b->add) < 0) return -1;
    b->add[b->nadd++] = (struct relabel_entry){name, value, false};
    base_hide(b, name);
    return 0;
}

const label_t *relabel_labels_result(relabel_labels_t *b, size_t *n) {
    *n = 0;
    if (grow((void **)&b->out, &b->cap_out, b->nbase + b->nadd + 1, sizeof *b->out) < 0) return NULL;
    size_t k = 0;
    for (size_t i = 0; i < b->nbase; i++)
        if (!b->base[i].hidden) b->out[k++] = (label_t){b->base[i].name, b->base[i].value};
    for (size_t i = 0; i < b->nadd; i++) {
        /* Insert each addition into the sorted run (additions are few). */
        label_t x = {b->add[i].name, b->add[i].value};
        size_t j = k++;
        while (j > 0 && strcmp(b->out[j - 1].name, x.name) > 0) {
            b->out[j] = b->out[j - 1];
            j--;
        }
        b->out[j] = x;
    }
    b->nout = k;
    *n = k;
    return b->out;
}

void relabel_labels_free(relabel_labels_t *b) {
    free(b->base);
    free(b->add);
    free(b->snap);
    free(b->out);
    free(b->join);
    arena_free_all(b);
    if (b->match) pcre2_match_data_free((pcre2_match_data *)b->match);
    memset(b, 0, sizeof *b);
}

/* ---- processing ------------------------------------------------------------------- */

/* The match of one rule: ovector pairs (PCRE2_UNSET for groups that did not
 * take part) and how many of them are meaningful. */
struct match {
    const PCRE2_SIZE *ov;
    uint32_t npairs;
    PCRE2_SIZE local[4];
};

/* 1 match, 0 no match, -1 out of memory. */
static int regex_match(const struct rule *r, relabel_labels_t *b, const char *s, size_t len, struct match *m) {
    switch (r->regex_kind) {
    case REGEX_ANY:
        if (memchr(s, '\n', len)) return 0;
        m->local[0] = m->local[2] = 0;
        m->local[1] = m->local[3] = len;
        m->ov = m->local;
        m->npairs = 2;
        return 1;
    case REGEX_LITERALS:
        for (size_t i = 0; i < r->nliterals; i++)
            if (r->literal_lens[i] == len && memcmp(r->literals[i], s, len) == 0) {
                m->local[0] = 0;
                m->local[1] = len;
                m->ov = m->local;
                m->npairs = 1;
                return 1;
            }
        return 0;
    case REGEX_PCRE: break;
    }
    int rc = pcre2_match(r->code, (PCRE2_SPTR)s, len, 0, 0, (pcre2_match_data *)b->match, NULL);
    /* JIT code runs on a 32 KiB stack; a deep match (a repeated group over
     * a long value) retries in the interpreter, whose frames are on the heap. */
    if (rc == PCRE2_ERROR_JIT_STACKLIMIT)
        rc = pcre2_match(r->code, (PCRE2_SPTR)s, len, 0, PCRE2_NO_JIT, (pcre2_match_data *)b->match, NULL);
    if (rc == PCRE2_ERROR_NOMEMORY) return -1;
    if (rc <= 0) return 0; /* no match; a match-limit error counts as none (Go has no such limit) */
    m->ov = pcre2_get_ovector_pointer((pcre2_match_data *)b->match);
    m->npairs = (uint32_t)rc;
    return 1;
}

static size_t tmpl_len(const struct tmpl *t, const struct match *m) {
    size_t n = 0;
    for (size_t i = 0; i < t->nparts; i++) {
        const struct tmpl_part *p = &t->parts[i];
        if (p->kind == PART_LITERAL)
            n += p->len;
        else if (p->group < m->npairs && m->ov[2 * p->group] != PCRE2_UNSET)
            n += m->ov[2 * p->group + 1] - m->ov[2 * p->group];
    }
    return n;
}

/* Expands t into the arena, or returns the template itself when it has no
 * reference. NULL on allocation failure. */
static const char *tmpl_expand(relabel_labels_t *b, const struct tmpl *t, const struct match *m, const char *s) {
    if (!t->has_var) return t->text;
    size_t n = tmpl_len(t, m);
    char *out = arena_alloc(b, n + 1);
    if (!out) return NULL;
    char *o = out;
    for (size_t i = 0; i < t->nparts; i++) {
        const struct tmpl_part *p = &t->parts[i];
        if (p->kind == PART_LITERAL) {
            memcpy(o, p->lit, p->len);
            o += p->len;
        } else if (p->group < m->npairs && m->ov[2 * p->group] != PCRE2_UNSET) {
            size_t gl = m->ov[2 * p->group + 1] - m->ov[2 * p->group];
            memcpy(o, s + m->ov[2 * p->group], gl);
            o += gl;
        }
    }
    *o = '\0';
    return out;
}

/* The source values joined by the separator. Points at the label's own
 * value for a single source label. NULL on allocation failure. */
static const char *join_sources(relabel_labels_t *b, const struct rule *r, size_t *len) {
    if (r->nsource == 0) {
        *len = 0;
        return "";
    }
    if (r->nsource == 1) {
        const char *v = relabel_labels_get(b, r->source[0]);
        *len = strlen(v);
        return v;
    }
    size_t total = r->separator_len * (r->nsource - 1) + 1;
    for (size_t i = 0; i < r->nsource; i++)
        total += strlen(relabel_labels_get(b, r->source[i]));
    if (grow((void **)&b->join, &b->cap_join, total, 1) < 0) return NULL;
    char *o = b->join;
    for (size_t i = 0; i < r->nsource; i++) {
        if (i) {
            memcpy(o, r->separator, r->separator_len);
            o += r->separator_len;
        }
        const char *v = relabel_labels_get(b, r->source[i]);
        size_t vl = strlen(v);
        memcpy(o, v, vl);
        o += vl;
    }
    *o = '\0';
    *len = (size_t)(o - b->join);
    return b->join;
}

/* Copies the visible labels in Prometheus's Range order (base, additions). */
static int snapshot(relabel_labels_t *b, size_t *n) {
    if (grow((void **)&b->snap, &b->cap_snap, b->nbase + b->nadd + 1, sizeof *b->snap) < 0) return -1;
    size_t k = 0;
    for (size_t i = 0; i < b->nbase; i++)
        if (!b->base[i].hidden) b->snap[k++] = b->base[i];
    for (size_t i = 0; i < b->nadd; i++)
        b->snap[k++] = b->add[i];
    *n = k;
    return 0;
}

/* labeldrop (keep_matching false) and labelkeep (true). */
static int filter_names(const struct rule *r, relabel_labels_t *b, bool keep_matching) {
    struct match m;
    for (size_t i = 0; i < b->nbase; i++) {
        struct relabel_entry *e = &b->base[i];
        if (e->hidden) continue;
        int rc = regex_match(r, b, e->name, strlen(e->name), &m);
        if (rc < 0) return -1;
        if ((rc == 1) != keep_matching) e->hidden = true;
    }
    size_t k = 0;
    for (size_t i = 0; i < b->nadd; i++) {
        int rc = regex_match(r, b, b->add[i].name, strlen(b->add[i].name), &m);
        if (rc < 0) return -1;
        if ((rc == 1) == keep_matching) b->add[k++] = b->add[i];
    }
    b->nadd = k;
    return 0;
}

static int apply_rule(const struct rule *r, relabel_labels_t *b) {
    size_t vlen;
    const char *val = join_sources(b, r, &vlen);
    if (!val) return -1;
    struct match m;
    int rc;
    switch (r->action) {
    case RELABEL_DROP:
        rc = regex_match(r, b, val, vlen, &m);
        return rc < 0 ? -1 : rc == 1 ? RELABEL_DROPPED : RELABEL_KEPT;
    case RELABEL_KEEP:
        rc = regex_match(r, b, val, vlen, &m);
        return rc < 0 ? -1 : rc == 1 ? RELABEL_KEPT : RELABEL_DROPPED;
    case RELABEL_DROPEQUAL: return strcmp(relabel_labels_get(b, r->target), val) == 0 ? RELABEL_DROPPED : RELABEL_KEPT;
    case RELABEL_KEEPEQUAL: return strcmp(relabel_labels_get(b, r->target), val) != 0 ? RELABEL_DROPPED : RELABEL_KEPT;
    case RELABEL_REPLACE: {
        rc = regex_match(r, b, val, vlen, &m);
        if (rc <= 0) return rc < 0 ? -1 : RELABEL_KEPT; /* no match: no change */
        const char *target = r->target;
        if (r->target_tmpl.has_var) {
            if (!(target = tmpl_expand(b, &r->target_tmpl, &m, val))) return -1;
            if (!label_name_valid(target, strlen(target))) return RELABEL_KEPT;
        } else if (!r->target_valid) {
            return RELABEL_KEPT;
        }
        const char *res = tmpl_expand(b, &r->replacement_tmpl, &m, val);
        if (!res) return -1;
        if (!res[0]) {
            relabel_labels_del(b, target);
            return RELABEL_KEPT;
        }
        return relabel_labels_set(b, target, res) < 0 ? -1 : RELABEL_KEPT;
    }
    case RELABEL_LOWERCASE:
    case RELABEL_UPPERCASE: {
        char *out = arena_alloc(b, 3 * vlen + 1);
        if (!out) return -1;
        size_t n = change_case(out, val, vlen, r->action == RELABEL_UPPERCASE);
        arena_trim(b, out, n + 1);
        return relabel_labels_set(b, r->target, out) < 0 ? -1 : RELABEL_KEPT;
    }
    case RELABEL_HASHMOD: {
        char *out = arena_alloc(b, 24);
        if (!out) return -1;
        int n = snprintf(out, 24, "%llu", (unsigned long long)relabel_hashmod(val, vlen, r->modulus));
        arena_trim(b, out, (size_t)n + 1);
        return relabel_labels_set(b, r->target, out) < 0 ? -1 : RELABEL_KEPT;
    }
    case RELABEL_LABELMAP: {
        size_t n;
        if (snapshot(b, &n) < 0) return -1;
        for (size_t i = 0; i < n; i++) {
            const char *name = b->snap[i].name;
            size_t nlen = strlen(name);
            rc = regex_match(r, b, name, nlen, &m);
            if (rc < 0) return -1;
            if (rc == 0) continue;
            const char *res = tmpl_expand(b, &r->replacement_tmpl, &m, name);
            if (!res) return -1;
            /* Prometheus would create a label with an empty name here; such a
             * set cannot be stored, so the empty result is skipped. */
            if (!res[0]) continue;
            if (relabel_labels_set(b, res, b->snap[i].value) < 0) return -1;
        }
        return RELABEL_KEPT;
    }
    case RELABEL_LABELDROP: return filter_names(r, b, false) < 0 ? -1 : RELABEL_KEPT;
    case RELABEL_LABELKEEP: return filter_names(r, b, true) < 0 ? -1 : RELABEL_KEPT;
    }
    return RELABEL_KEPT;
}

int relabel_process(const relabel_rules_t *r, relabel_labels_t *b) {
    if (!r) return RELABEL_KEPT;
    if (b->match_pairs < r->max_pairs) {
        pcre2_match_data *md = pcre2_match_data_create(r->max_pairs, NULL);
        if (!md) return -1;
        if (b->match) pcre2_match_data_free((pcre2_match_data *)b->match);
        b->match = md;
        b->match_pairs = r->max_pairs;
    }
    for (size_t i = 0; i < r->n; i++) {
        int rc = apply_rule(&r->v[i], b);
        if (rc != RELABEL_KEPT) return rc;
    }
    return RELABEL_KEPT;
}

int relabel_apply(const relabel_rules_t *r, relabel_labels_t *b, const label_t *in, size_t n, const label_t **out,
                  size_t *nout) {
    *out = NULL;
    *nout = 0;
    if (relabel_labels_reset(b, in, n) < 0) return -1;
    int rc = relabel_process(r, b);
    if (rc != RELABEL_KEPT) return rc;
    *out = relabel_labels_result(b, nout);
    return *out ? RELABEL_KEPT : -1;
}
