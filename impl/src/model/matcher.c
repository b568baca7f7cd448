/* matcher.c — see matcher.h. */
#define PCRE2_CODE_UNIT_WIDTH 8
#include "model/matcher.h"

#include <ctype.h>
#include <pcre2.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "model/labels.h"
#include "util/strbuf.h"

const char *matcher_type_str(enum matcher_type t) {
    static const char *s[] = {"=", "!=", "=~", "!~"};
    return s[t];
}

int matcher_init(matcher_t *m, enum matcher_type type, const char *name, const char *value, pl_err_t *err) {
    memset(m, 0, sizeof *m);
    m->type = type;
    if (type == MATCH_REGEX || type == MATCH_NOT_REGEX) {
        strbuf_t src = STRBUF_INIT;
        strbuf_printf(&src, "^(?:%s)$", value);
        int code;
        PCRE2_SIZE off;
        pcre2_code *re = pcre2_compile((PCRE2_SPTR)src.data, src.len, PCRE2_DOTALL | PCRE2_UTF | PCRE2_NO_UTF_CHECK,
                                       &code, &off, NULL);
        strbuf_free(&src);
        if (!re) {
            PCRE2_UCHAR msg[256];
            pcre2_get_error_message(code, msg, sizeof msg);
            return pl_err_set(err, "error parsing regexp: %s: `%s`", (char *)msg, value);
        }
        pcre2_jit_compile(re, PCRE2_JIT_COMPLETE); /* best effort */
        m->re = re;
    }
    m->name = strdup(name);
    m->value = strdup(value);
    return 0;
}

void matcher_free(matcher_t *m) {
    if (!m) return;
    free(m->name);
    free(m->value);
    if (m->re) pcre2_code_free(m->re);
    memset(m, 0, sizeof *m);
}

void matchers_free(matcher_t *ms, size_t n) {
    for (size_t i = 0; i < n; i++) matcher_free(&ms[i]);
    free(ms);
}

/* One match-data block per thread, created on first use and freed by a
 * thread-exit destructor (threads of the HTTP pool come and go). */
static pthread_key_t md_key;
static pthread_once_t md_once = PTHREAD_ONCE_INIT;
static void md_free(void *p) { pcre2_match_data_free(p); }
static void md_key_init(void) { pthread_key_create(&md_key, md_free); }

static bool re_match(const matcher_t *m, const char *value) {
    pthread_once(&md_once, md_key_init);
    pcre2_match_data *md = pthread_getspecific(md_key);
    if (!md) {
        md = pcre2_match_data_create(4, NULL);
        if (!md) return false;
        pthread_setspecific(md_key, md);
    }
    int rc = pcre2_match(m->re, (PCRE2_SPTR)value, strlen(value), 0, 0, md, NULL);
    return rc >= 0;
}

bool matcher_matches(const matcher_t *m, const char *value) {
    switch (m->type) {
    case MATCH_EQUAL: return strcmp(m->value, value) == 0;
    case MATCH_NOT_EQUAL: return strcmp(m->value, value) != 0;
    case MATCH_REGEX: return re_match(m, value);
    case MATCH_NOT_REGEX: return !re_match(m, value);
    }
    return false;
}

bool matcher_matches_empty(const matcher_t *m) { return matcher_matches(m, ""); }

/* ---- selector parsing ------------------------------------------------ */

typedef struct {
    const char *s;
    size_t pos;
    pl_err_t *err;
} sel_parser_t;

static void skip_ws(sel_parser_t *p) {
    while (p->s[p->pos] && isspace((unsigned char)p->s[p->pos])) p->pos++;
}

static int perr(sel_parser_t *p, const char *what) {
    return pl_err_set(p->err, "1:%zu: parse error: %s", p->pos + 1, what);
}

static bool is_ident_start(char c, bool metric) {
    return isalpha((unsigned char)c) || c == '_' || (metric && c == ':');
}
static bool is_ident(char c, bool metric) { return is_ident_start(c, metric) || isdigit((unsigned char)c); }

static char *read_ident(sel_parser_t *p, bool metric) {
    size_t start = p->pos;
    if (!is_ident_start(p->s[p->pos], metric)) return NULL;
    while (is_ident(p->s[p->pos], metric)) p->pos++;
    return strndup(p->s + start, p->pos - start);
}

/* Reads a PromQL string literal: "..." or '...' with Go escapes, or `raw`. */
static char *read_string(sel_parser_t *p) {
    char q = p->s[p->pos];
    if (q != '"' && q != '\'' && q != '`') return NULL;
    p->pos++;
    strbuf_t sb = STRBUF_INIT;
    strbuf_reserve(&sb, 16);
    for (;;) {
        char c = p->s[p->pos];
        if (!c) {
            strbuf_free(&sb);
            perr(p, "unterminated quoted string");
            return NULL;
        }
        p->pos++;
        if (c == q) break;
        if (c == '\\' && q != '`') {
            char e = p->s[p->pos++];
            switch (e) {
            case 'n': strbuf_putc(&sb, '\n'); break;
            case 't': strbuf_putc(&sb, '\t'); break;
            case 'r': strbuf_putc(&sb, '\r'); break;
            case 'a': strbuf_putc(&sb, '\a'); break;
            case 'b': strbuf_putc(&sb, '\b'); break;
            case 'f': strbuf_putc(&sb, '\f'); break;
            case 'v': strbuf_putc(&sb, '\v'); break;
            case '\\': strbuf_putc(&sb, '\\'); break;
            case '"': strbuf_putc(&sb, '"'); break;
            case '\'': strbuf_putc(&sb, '\''); break;
            case 'x': case 'u': case 'U': {
                int nd = e == 'x' ? 2 : e == 'u' ? 4 : 8;
                unsigned long cp = 0;
                for (int i = 0; i < nd; i++) {
                    char h = p->s[p->pos];
                    if (!isxdigit((unsigned char)h)) {
                        strbuf_free(&sb);
                        perr(p, "invalid escape sequence");
                        return NULL;
                    }
                    cp = cp * 16 + (unsigned long)(isdigit((unsigned char)h) ? h - '0' : (tolower(h) - 'a' + 10));
                    p->pos++;
                }
                if (e == 'x') {
                    strbuf_putc(&sb, (char)cp);
                } else if (cp < 0x80) {
                    strbuf_putc(&sb, (char)cp);
                } else if (cp < 0x800) {
                    strbuf_putc(&sb, (char)(0xC0 | (cp >> 6)));
                    strbuf_putc(&sb, (char)(0x80 | (cp & 0x3F)));
                } else if (cp < 0x10000) {
                    strbuf_putc(&sb, (char)(0xE0 | (cp >> 12)));
                    strbuf_putc(&sb, (char)(0x80 | ((cp >> 6) & 0x3F)));
                    strbuf_putc(&sb, (char)(0x80 | (cp & 0x3F)));
                } else {
                    strbuf_putc(&sb, (char)(0xF0 | (cp >> 18)));
                    strbuf_putc(&sb, (char)(0x80 | ((cp >> 12) & 0x3F)));
                    strbuf_putc(&sb, (char)(0x80 | ((cp >> 6) & 0x3F)));
                    strbuf_putc(&sb, (char)(0x80 | (cp & 0x3F)));
                }
                break;
            }
            default:
                strbuf_free(&sb);
                p->pos--;
                perr(p, "unknown escape sequence");
                return NULL;
            }
            continue;
        }
        strbuf_putc(&sb, c);
    }
    return strbuf_detach(&sb);
}

static int push(matcher_t **ms, size_t *n, size_t *cap, enum matcher_type t, const char *name, const char *value,
                pl_err_t *err) {
    if (*n == *cap) {
        *cap = *cap ? *cap * 2 : 4;
        *ms = realloc(*ms, *cap * sizeof **ms);
    }
    if (matcher_init(&(*ms)[*n], t, name, value, err) < 0) return -1;
    (*n)++;
    return 0;
}

int selector_parse(const char *s, matcher_t **out, size_t *n_out, pl_err_t *err) {
    sel_parser_t p = {s, 0, err};
    matcher_t *ms = NULL;
    size_t n = 0, cap = 0;
    char *name = NULL, *value = NULL;
    skip_ws(&p);
    char *metric = read_ident(&p, true);
    if (metric) {
        int rc = push(&ms, &n, &cap, MATCH_EQUAL, LABEL_METRIC_NAME, metric, err);
        free(metric);
        if (rc < 0) goto fail;
    }
    skip_ws(&p);
    if (s[p.pos] == '{') {
        p.pos++;
        for (;;) {
            skip_ws(&p);
            if (s[p.pos] == '}') {
                p.pos++;
                break;
            }
            if (s[p.pos] == '"' || s[p.pos] == '\'' || s[p.pos] == '`') {
                /* Quoted label name (Prometheus 3 UTF-8 names), or a quoted metric name alone. */
                name = read_string(&p);
                if (!name) goto fail;
                skip_ws(&p);
                if (s[p.pos] == ',' || s[p.pos] == '}') {
                    if (push(&ms, &n, &cap, MATCH_EQUAL, LABEL_METRIC_NAME, name, err) < 0) goto fail;
                    free(name), name = NULL;
                    if (s[p.pos] == ',') p.pos++;
                    continue;
                }
            } else {
                name = read_ident(&p, false);
                if (!name) {
                    perr(&p, s[p.pos] ? "unexpected character inside braces" : "unexpected end of input inside braces");
                    goto fail;
                }
            }
            skip_ws(&p);
            enum matcher_type t;
            if (s[p.pos] == '=' && s[p.pos + 1] == '~') t = MATCH_REGEX, p.pos += 2;
            else if (s[p.pos] == '!' && s[p.pos + 1] == '~') t = MATCH_NOT_REGEX, p.pos += 2;
            else if (s[p.pos] == '!' && s[p.pos + 1] == '=') t = MATCH_NOT_EQUAL, p.pos += 2;
            else if (s[p.pos] == '=') t = MATCH_EQUAL, p.pos += 1;
            else {
                perr(&p, "unexpected character inside braces, expected a label matching operator");
                goto fail;
            }
            skip_ws(&p);
            value = read_string(&p);
            if (!value) {
                if (!err || !strstr(err->msg, "quoted")) perr(&p, "expected a quoted string as label value");
                goto fail;
            }
            if (strcmp(name, LABEL_METRIC_NAME) == 0 && metric && n > 0) {
                /* metric{__name__="x"} is allowed by the grammar; keep both. */
            }
            if (push(&ms, &n, &cap, t, name, value, err) < 0) goto fail;
            free(name), name = NULL;
            free(value), value = NULL;
            skip_ws(&p);
            if (s[p.pos] == ',') {
                p.pos++;
                continue;
            }
            if (s[p.pos] == '}') {
                p.pos++;
                break;
            }
            perr(&p, s[p.pos] ? "unexpected character inside braces, expected \",\" or \"}\""
                              : "unexpected end of input inside braces");
            goto fail;
        }
    } else if (n == 0) {
        perr(&p, s[p.pos] ? "unexpected character, expected a metric name or \"{\"" : "unexpected end of input");
        goto fail;
    }
    skip_ws(&p);
    if (s[p.pos]) {
        perr(&p, "unexpected characters after the selector");
        goto fail;
    }
    /* Prometheus refuses selectors that match everything. */
    bool any_nonempty = false;
    for (size_t i = 0; i < n; i++)
        if (!matcher_matches_empty(&ms[i])) any_nonempty = true;
    if (!any_nonempty) {
        pl_err_set(err, "1:1: parse error: vector selector must contain at least one non-empty matcher");
        goto fail;
    }
    *out = ms;
    *n_out = n;
    return 0;
fail:
    free(name);
    free(value);
    matchers_free(ms, n);
    *out = NULL;
    *n_out = 0;
    return -1;
}
