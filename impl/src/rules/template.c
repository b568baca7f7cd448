/* template.c — the part of Go's text/template that alert templates use.
 *
 * Prometheus expands alert labels and annotations with text/template,
 * prepending "{{$labels := .Labels}}{{$externalLabels := .ExternalLabels}}
 * {{$externalURL := .ExternalURL}}{{$value := .Value}}" (on the same line,
 * so line numbers in messages are the user's) and option missingkey=zero.
 * Here those four variables are simply predefined.
 *
 * Supported: text; actions with pipelines (`a | f b`), parenthesised
 * pipelines, variables ($x, $x := ..., $x = ...), field chains (.Labels.x,
 * $labels.instance), string/raw-string/number/bool/nil constants, comments,
 * trim markers ({{- -}}), if / else if / else / end, with, range over a map
 * (sorted by key) with optional $k, $v. Functions: Go's and, or, not, eq,
 * ne, lt, le, gt, ge, len, index, print, printf, println, urlquery, html, js;
 * Prometheus's humanize, humanize1024, humanizeDuration, humanizePercentage,
 * humanizeTimestamp, toUpper, toLower, title, match, reReplaceAll, stripPort,
 * stripDomain, parseDuration, safeHtml, tableLink, graphLink, externalURL,
 * pathPrefix. Not supported (refused at parse time as "function not
 * defined"): query, first, label, value, sortByLabel, args, tmpl and
 * define/template blocks.
 *
 * Values are a small tagged union; a label map is borrowed from the data.
 * Everything a template allocates while executing lives in an arena freed
 * at the end of tmpl_exec. */
#define PCRE2_CODE_UNIT_WIDTH 8
#include <ctype.h>
#include <math.h>
#include <pcre2.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "rules/rules.h"
#include "util/timeutil.h"

/* ---- values ---------------------------------------------------------------- */

enum vkind { V_NIL, V_STR, V_FLOAT, V_INT, V_BOOL, V_MAP, V_DATA };

typedef struct value {
    enum vkind k;
    const char *s; /* V_STR (arena or borrowed) */
    double f;
    long long i;
    bool b;
    const label_t *m; /* V_MAP */
    size_t mn;
} value_t;

/* ---- syntax tree ---------------------------------------------------------- */

enum nkind { N_TEXT, N_ACTION, N_IF, N_RANGE, N_WITH };
enum akind { A_FIELD, A_VAR, A_STR, A_FLOAT, A_INT, A_BOOL, A_NIL, A_PIPE, A_FUNC, A_DOT };

struct pipe;

typedef struct arg {
    enum akind k;
    char *name;    /* A_VAR ($x), A_FUNC (name) */
    char **fields; /* field chain after the operand */
    size_t nfields;
    char *s; /* A_STR */
    double f;
    long long i;
    bool b;
    struct pipe *pipe; /* A_PIPE */
} arg_t;

typedef struct cmd {
    arg_t *args;
    size_t nargs;
} cmd_t;

typedef struct pipe {
    char *decl[2]; /* $x := (one) or $k, $v := (range) */
    size_t ndecl;
    bool assign; /* = instead of := */
    cmd_t *cmds;
    size_t ncmds;
    int line;
} pipe_t;

typedef struct tnode {
    enum nkind k;
    char *text; /* N_TEXT */
    size_t textlen;
    pipe_t *pipe;
    struct tnode **list, **elselist;
    size_t nlist, nelse;
} tnode_t;

struct tmpl {
    char *name;
    tnode_t **list;
    size_t nlist;
};

/* ---- lexer ---------------------------------------------------------------- */

enum tok {
    T_EOF,
    T_ERR,
    T_TEXT,
    T_LDELIM, /* {{ */
    T_RDELIM, /* }} */
    T_IDENT,
    T_VAR,
    T_FIELD, /* .Name */
    T_DOT,
    T_STR,
    T_RAWSTR,
    T_NUM,
    T_PIPE,
    T_LPAREN,
    T_RPAREN,
    T_DECLARE, /* := */
    T_ASSIGN,  /* = */
    T_COMMA,
};

typedef struct lexer {
    const char *src;
    size_t len, pos;
    int line;
    bool in_action;
    bool trim_next_text; /* after -}} */
    /* current token */
    enum tok t;
    const char *ts;
    size_t tl;
    int tline;
    char err[256];
} lexer_t;

static bool is_space(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }
static bool is_alnum_(char c) { return isalnum((unsigned char)c) || c == '_'; }

static void adv(lexer_t *l, size_t n) {
    for (size_t i = 0; i < n && l->pos < l->len; i++)
        if (l->src[l->pos++] == '\n') l->line++;
}

static enum tok lex_err(lexer_t *l, const char *msg) {
    snprintf(l->err, sizeof l->err, "%s", msg);
    return l->t = T_ERR;
}

static enum tok next(lexer_t *l) {
    l->tline = l->line;
    if (!l->in_action) {
        size_t start = l->pos;
        if (l->trim_next_text) {
            while (l->pos < l->len && is_space(l->src[l->pos]))
                adv(l, 1);
            start = l->pos;
            l->trim_next_text = false;
        }
        if (l->pos >= l->len) return l->t = T_EOF;
        const char *d = NULL;
        for (size_t i = l->pos; i + 1 < l->len; i++)
            if (l->src[i] == '{' && l->src[i + 1] == '{') {
                d = l->src + i;
                break;
            }
        size_t end = d ? (size_t)(d - l->src) : l->len;
        if (end > start) {
            l->ts = l->src + start;
            l->tl = end - start;
            /* "{{- " trims the text before it */
            if (d && end + 3 < l->len && l->src[end + 2] == '-' && is_space(l->src[end + 3]))
                while (l->tl && is_space(l->ts[l->tl - 1]))
                    l->tl--;
            adv(l, end - l->pos);
            if (l->tl == 0) return next(l);
            return l->t = T_TEXT;
        }
        /* at {{ */
        adv(l, 2);
        if (l->pos + 1 < l->len && l->src[l->pos] == '-' && is_space(l->src[l->pos + 1])) adv(l, 2);
        /* comment */
        size_t p = l->pos;
        while (p < l->len && is_space(l->src[p]))
            p++;
        if (p + 1 < l->len && l->src[p] == '/' && l->src[p + 1] == '*') {
            const char *e = NULL;
            for (size_t i = p + 2; i + 1 < l->len; i++)
                if (l->src[i] == '*' && l->src[i + 1] == '/') {
                    e = l->src + i;
                    break;
                }
            if (!e) return lex_err(l, "unclosed comment");
            size_t q = (size_t)(e - l->src) + 2;
            while (q < l->len && is_space(l->src[q]))
                q++;
            if (q + 2 < l->len + 1 && q + 1 < l->len && l->src[q] == '-' ) q++;
            if (q + 1 >= l->len || l->src[q] != '}' || l->src[q + 1] != '}')
                return lex_err(l, "comment ends before closing delimiter");
            if (q > 0 && l->src[q - 1] == '-' && q >= 2 && is_space(l->src[q - 2])) l->trim_next_text = true;
            adv(l, q + 2 - l->pos);
            return next(l);
        }
        l->in_action = true;
        return l->t = T_LDELIM;
    }
    /* inside an action */
    while (l->pos < l->len && is_space(l->src[l->pos])) {
        /* " -}}" */
        if (l->pos + 3 < l->len && l->src[l->pos + 1] == '-' && l->src[l->pos + 2] == '}' && l->src[l->pos + 3] == '}') {
            adv(l, 4);
            l->in_action = false;
            l->trim_next_text = true;
            return l->t = T_RDELIM;
        }
        adv(l, 1);
    }
    if (l->pos >= l->len) return lex_err(l, "unclosed action");
    const char *s = l->src + l->pos;
    size_t rem = l->len - l->pos;
    l->ts = s;
    if (rem >= 2 && s[0] == '}' && s[1] == '}') {
        adv(l, 2);
        l->in_action = false;
        return l->t = T_RDELIM;
    }
    switch (s[0]) {
    case '|': adv(l, 1); return l->t = T_PIPE;
    case '(': adv(l, 1); return l->t = T_LPAREN;
    case ')': adv(l, 1); return l->t = T_RPAREN;
    case ',': adv(l, 1); return l->t = T_COMMA;
    case '=': adv(l, 1); return l->t = T_ASSIGN;
    case ':':
        if (rem >= 2 && s[1] == '=') {
            adv(l, 2);
            return l->t = T_DECLARE;
        }
        return lex_err(l, "expected :=");
    case '"': {
        size_t i = 1;
        while (i < rem && s[i] != '"') {
            if (s[i] == '\\') i++;
            if (i < rem && s[i] == '\n') return lex_err(l, "unterminated quoted string");
            i++;
        }
        if (i >= rem) return lex_err(l, "unterminated quoted string");
        l->tl = i + 1;
        adv(l, i + 1);
        return l->t = T_STR;
    }
    case '`': {
        size_t i = 1;
        while (i < rem && s[i] != '`')
            i++;
        if (i >= rem) return lex_err(l, "unterminated raw quoted string");
        l->tl = i + 1;
        adv(l, i + 1);
        return l->t = T_RAWSTR;
    }
    case '$': {
        size_t i = 1;
        while (i < rem && is_alnum_(s[i]))
            i++;
        l->tl = i;
        adv(l, i);
        return l->t = T_VAR;
    }
    case '.': {
        if (rem >= 2 && is_alnum_(s[1]) && !isdigit((unsigned char)s[1])) {
            size_t i = 1;
            while (i < rem && is_alnum_(s[i]))
                i++;
            l->tl = i;
            adv(l, i);
            return l->t = T_FIELD;
        }
        if (rem >= 2 && isdigit((unsigned char)s[1])) break; /* a number */
        l->tl = 1;
        adv(l, 1);
        return l->t = T_DOT;
    }
    default: break;
    }
    if (isdigit((unsigned char)s[0]) || s[0] == '-' || s[0] == '+' || s[0] == '.') {
        size_t i = 1;
        while (i < rem && (isalnum((unsigned char)s[i]) || s[i] == '.' || s[i] == '_' ||
                           ((s[i] == '-' || s[i] == '+') && (s[i - 1] == 'e' || s[i - 1] == 'E'))))
            i++;
        l->tl = i;
        adv(l, i);
        return l->t = T_NUM;
    }
    if (isalpha((unsigned char)s[0]) || s[0] == '_') {
        size_t i = 1;
        while (i < rem && is_alnum_(s[i]))
            i++;
        l->tl = i;
        adv(l, i);
        return l->t = T_IDENT;
    }
    char m[64];
    snprintf(m, sizeof m, "unexpected \"%c\" in command", s[0]);
    return lex_err(l, m);
}

/* ---- parser --------------------------------------------------------------- */

typedef struct parser {
    lexer_t lx;
    const char *name;
    pl_err_t *err;
    bool failed;
    char **vars; /* declared variable names in scope */
    size_t nvars, capvars;
} parser_t;

static int perr(parser_t *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int perr(parser_t *p, const char *fmt, ...) {
    if (p->failed) return -1;
    p->failed = true;
    char m[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(m, sizeof m, fmt, ap);
    va_end(ap);
    return pl_err_set(p->err, "template: %s:%d: %s", p->name, p->lx.tline, m);
}

static char *xstrndup(const char *s, size_t n) {
    char *d = malloc(n + 1);
    if (!d) abort();
    memcpy(d, s, n);
    d[n] = '\0';
    return d;
}

static void *xrealloc(void *p, size_t n) {
    void *q = realloc(p, n ? n : 1);
    if (!q) abort();
    return q;
}

static const char *const known_funcs[] = {
    "and", "or", "not", "eq", "ne", "lt", "le", "gt", "ge", "len", "index", "print", "printf", "println",
    "urlquery", "html", "js", "humanize", "humanize1024", "humanizeDuration", "humanizePercentage",
    "humanizeTimestamp", "toUpper", "toLower", "title", "match", "reReplaceAll", "stripPort", "stripDomain",
    "parseDuration", "safeHtml", "tableLink", "graphLink", "externalURL", "pathPrefix", NULL,
};

static bool func_known(const char *s, size_t n) {
    for (size_t i = 0; known_funcs[i]; i++)
        if (strlen(known_funcs[i]) == n && !memcmp(known_funcs[i], s, n)) return true;
    return false;
}

static void var_push(parser_t *p, const char *name) {
    if (p->nvars == p->capvars) {
        p->capvars = p->capvars ? p->capvars * 2 : 16;
        p->vars = xrealloc(p->vars, p->capvars * sizeof *p->vars);
    }
    p->vars[p->nvars++] = (char *)name; /* borrowed from the tree */
}

static bool var_known(parser_t *p, const char *s, size_t n) {
    static const char *const pre[] = {"$", "$labels", "$externalLabels", "$externalURL", "$value"};
    for (size_t i = 0; i < 5; i++)
        if (strlen(pre[i]) == n && !memcmp(pre[i], s, n)) return true;
    for (size_t i = 0; i < p->nvars; i++)
        if (strlen(p->vars[i]) == n && !memcmp(p->vars[i], s, n)) return true;
    return false;
}

static void pipe_free(pipe_t *pp);

static void arg_free(arg_t *a) {
    free(a->name);
    for (size_t i = 0; i < a->nfields; i++)
        free(a->fields[i]);
    free(a->fields);
    free(a->s);
    pipe_free(a->pipe);
}

static void pipe_free(pipe_t *pp) {
    if (!pp) return;
    for (size_t i = 0; i < pp->ndecl; i++)
        free(pp->decl[i]);
    for (size_t i = 0; i < pp->ncmds; i++) {
        for (size_t j = 0; j < pp->cmds[i].nargs; j++)
            arg_free(&pp->cmds[i].args[j]);
        free(pp->cmds[i].args);
    }
    free(pp->cmds);
    free(pp);
}

static void list_free(tnode_t **l, size_t n);
static void node_free(tnode_t *nd) {
    if (!nd) return;
    free(nd->text);
    pipe_free(nd->pipe);
    list_free(nd->list, nd->nlist);
    list_free(nd->elselist, nd->nelse);
    free(nd);
}
static void list_free(tnode_t **l, size_t n) {
    for (size_t i = 0; i < n; i++)
        node_free(l[i]);
    free(l);
}

/* Go string literal unquoting (the common escapes). */
static char *unquote(const char *s, size_t n, bool raw) {
    if (raw) return xstrndup(s + 1, n - 2);
    strbuf_t sb = STRBUF_INIT;
    strbuf_reserve(&sb, n);
    for (size_t i = 1; i + 1 < n; i++) {
        char c = s[i];
        if (c != '\\') {
            strbuf_putc(&sb, c);
            continue;
        }
        c = s[++i];
        switch (c) {
        case 'n': strbuf_putc(&sb, '\n'); break;
        case 't': strbuf_putc(&sb, '\t'); break;
        case 'r': strbuf_putc(&sb, '\r'); break;
        case '\\': strbuf_putc(&sb, '\\'); break;
        case '"': strbuf_putc(&sb, '"'); break;
        case '\'': strbuf_putc(&sb, '\''); break;
        default:
            strbuf_putc(&sb, '\\');
            strbuf_putc(&sb, c);
        }
    }
    if (!sb.data) strbuf_puts(&sb, "");
    return strbuf_detach(&sb);
}

static pipe_t *parse_pipeline(parser_t *p, bool in_paren, bool allow_decl2);

/* Field chain after an operand: .a.b */
static void parse_fields(parser_t *p, arg_t *a) {
    while (p->lx.t == T_FIELD && p->lx.ts[-1] != ' ') {
        a->fields = xrealloc(a->fields, (a->nfields + 1) * sizeof *a->fields);
        a->fields[a->nfields++] = xstrndup(p->lx.ts + 1, p->lx.tl - 1);
        next(&p->lx);
    }
}

/* One operand; the lexer is on its first token. Returns 0, 1 when the
 * token does not start an operand, -1 on error. */
static int parse_operand(parser_t *p, arg_t *a, bool first) {
    lexer_t *l = &p->lx;
    memset(a, 0, sizeof *a);
    switch (l->t) {
    case T_FIELD:
        a->k = A_FIELD;
        a->fields = xrealloc(NULL, sizeof *a->fields);
        a->fields[0] = xstrndup(l->ts + 1, l->tl - 1);
        a->nfields = 1;
        next(l);
        parse_fields(p, a);
        return 0;
    case T_DOT:
        a->k = A_DOT;
        next(l);
        return 0;
    case T_VAR:
        if (!var_known(p, l->ts, l->tl)) return perr(p, "undefined variable \"%.*s\"", (int)l->tl, l->ts);
        a->k = A_VAR;
        a->name = xstrndup(l->ts, l->tl);
        next(l);
        parse_fields(p, a);
        return 0;
    case T_STR:
    case T_RAWSTR:
        a->k = A_STR;
        a->s = unquote(l->ts, l->tl, l->t == T_RAWSTR);
        next(l);
        return 0;
    case T_NUM: {
        char buf[128];
        size_t n = l->tl < sizeof buf - 1 ? l->tl : sizeof buf - 1;
        memcpy(buf, l->ts, n);
        buf[n] = '\0';
        char *end;
        if (!strpbrk(buf, ".eE") || (buf[0] == '0' && (buf[1] == 'x' || buf[1] == 'X'))) {
            long long v = strtoll(buf, &end, 0);
            if (*end == '\0') {
                a->k = A_INT;
                a->i = v;
                next(l);
                return 0;
            }
        }
        double d = strtod(buf, &end);
        if (*end != '\0' || n == 0) return perr(p, "bad number syntax: \"%s\"", buf);
        a->k = A_FLOAT;
        a->f = d;
        next(l);
        return 0;
    }
    case T_IDENT:
        if (l->tl == 4 && !memcmp(l->ts, "true", 4)) {
            a->k = A_BOOL, a->b = true;
        } else if (l->tl == 5 && !memcmp(l->ts, "false", 5)) {
            a->k = A_BOOL, a->b = false;
        } else if (l->tl == 3 && !memcmp(l->ts, "nil", 3)) {
            a->k = A_NIL;
        } else {
            if (!func_known(l->ts, l->tl)) return perr(p, "function \"%.*s\" not defined", (int)l->tl, l->ts);
            a->k = A_FUNC;
            a->name = xstrndup(l->ts, l->tl);
            (void)first;
        }
        next(l);
        return 0;
    case T_LPAREN:
        next(l);
        a->k = A_PIPE;
        a->pipe = parse_pipeline(p, true, false);
        if (!a->pipe) return -1;
        if (l->t != T_RPAREN) return perr(p, "unclosed left paren");
        next(l);
        parse_fields(p, a);
        return 0;
    case T_ERR: return perr(p, "%s", l->err);
    default: return 1;
    }
}

/* pipeline: [decl :=] command { '|' command }, ending at }} (or ')' in parens). */
static pipe_t *parse_pipeline(parser_t *p, bool in_paren, bool allow_decl2) {
    lexer_t *l = &p->lx;
    pipe_t *pp = calloc(1, sizeof *pp);
    if (!pp) abort();
    pp->line = l->tline;
    /* declarations: $x := / $x = / $k, $v := */
    if (l->t == T_VAR && !in_paren) {
        lexer_t save = *l;
        char *v1 = xstrndup(l->ts, l->tl);
        next(l);
        if (l->t == T_COMMA && allow_decl2) {
            next(l);
            if (l->t == T_VAR) {
                char *v2 = xstrndup(l->ts, l->tl);
                next(l);
                if (l->t == T_DECLARE) {
                    pp->decl[0] = v1, pp->decl[1] = v2, pp->ndecl = 2;
                    next(l);
                    goto cmds;
                }
                free(v2);
            }
            free(v1);
            perr(p, "too many declarations in command");
            pipe_free(pp);
            return NULL;
        }
        if (l->t == T_DECLARE || l->t == T_ASSIGN) {
            pp->assign = l->t == T_ASSIGN;
            if (pp->assign && !var_known(p, v1, strlen(v1))) {
                perr(p, "undefined variable \"%s\"", v1);
                free(v1);
                pipe_free(pp);
                return NULL;
            }
            pp->decl[0] = v1, pp->ndecl = 1;
            next(l);
            goto cmds;
        }
        free(v1);
        *l = save;
    }
cmds:
    for (;;) {
        cmd_t c = {0};
        for (;;) {
            arg_t a;
            int rc = parse_operand(p, &a, c.nargs == 0);
            if (rc < 0) {
                arg_free(&a);
                for (size_t j = 0; j < c.nargs; j++)
                    arg_free(&c.args[j]);
                free(c.args);
                pipe_free(pp);
                return NULL;
            }
            if (rc == 1) break;
            c.args = xrealloc(c.args, (c.nargs + 1) * sizeof *c.args);
            c.args[c.nargs++] = a;
        }
        if (c.nargs == 0) {
            free(c.args);
            if (l->t == T_ERR) perr(p, "%s", l->err);
            else perr(p, "missing value for command");
            pipe_free(pp);
            return NULL;
        }
        pp->cmds = xrealloc(pp->cmds, (pp->ncmds + 1) * sizeof *pp->cmds);
        pp->cmds[pp->ncmds++] = c;
        if (l->t == T_PIPE) {
            next(l);
            continue;
        }
        if ((in_paren && l->t == T_RPAREN) || (!in_paren && l->t == T_RDELIM)) break;
        if (l->t == T_ERR) perr(p, "%s", l->err);
        else if (l->t == T_RPAREN) perr(p, "unexpected right paren");
        else perr(p, "unexpected %.*s in operand", (int)(l->tl ? l->tl : 1), l->ts);
        pipe_free(pp);
        return NULL;
    }
    for (size_t i = 0; i < pp->ndecl; i++)
        if (!pp->assign) var_push(p, pp->decl[i]);
    return pp;
}

/* Parses a list of nodes up to {{end}} / {{else}} (returned in *stop:
 * 0 EOF, 1 end, 2 else, 3 "else if"/"else with"). */
static int parse_list(parser_t *p, tnode_t ***out, size_t *nout, int *stop);

static tnode_t *parse_control(parser_t *p, enum nkind k) {
    lexer_t *l = &p->lx;
    size_t vars0 = p->nvars;
    tnode_t *nd = calloc(1, sizeof *nd);
    if (!nd) abort();
    nd->k = k;
    nd->pipe = parse_pipeline(p, false, k == N_RANGE);
    if (!nd->pipe) goto fail;
    next(l); /* past }} */
    int stop = 0;
    if (parse_list(p, &nd->list, &nd->nlist, &stop) < 0) goto fail;
    if (stop == 2) {
        if (parse_list(p, &nd->elselist, &nd->nelse, &stop) < 0) goto fail;
        if (stop != 1) {
            perr(p, "unexpected EOF");
            goto fail;
        }
    } else if (stop == 3) {
        /* {{else if ...}}: a nested if that consumes the {{end}} */
        tnode_t *inner = parse_control(p, k);
        if (!inner) goto fail;
        nd->elselist = xrealloc(NULL, sizeof *nd->elselist);
        nd->elselist[0] = inner;
        nd->nelse = 1;
    } else if (stop != 1) {
        perr(p, "unexpected EOF");
        goto fail;
    }
    p->nvars = vars0;
    return nd;
fail:
    p->nvars = vars0;
    node_free(nd);
    return NULL;
}

static int parse_list(parser_t *p, tnode_t ***out, size_t *nout, int *stop) {
    lexer_t *l = &p->lx;
    *stop = 0;
    size_t vars0 = p->nvars;
    for (;;) {
        if (l->t == T_EOF) break;
        if (l->t == T_ERR) return perr(p, "%s", l->err);
        if (l->t == T_TEXT) {
            tnode_t *nd = calloc(1, sizeof *nd);
            if (!nd) abort();
            nd->k = N_TEXT;
            nd->text = xstrndup(l->ts, l->tl);
            nd->textlen = l->tl;
            *out = xrealloc(*out, (*nout + 1) * sizeof **out);
            (*out)[(*nout)++] = nd;
            next(l);
            continue;
        }
        /* T_LDELIM */
        next(l);
        if (l->t == T_RDELIM) return perr(p, "missing value for command");
        tnode_t *nd = NULL;
        if (l->t == T_IDENT) {
            size_t n = l->tl;
            const char *s = l->ts;
            if (n == 3 && !memcmp(s, "end", 3)) {
                next(l);
                if (l->t != T_RDELIM) return perr(p, "unexpected %.*s in end", (int)l->tl, l->ts);
                if (!p->nvars && false) return -1;
                p->nvars = vars0;
                *stop = 1;
                next(l);
                return 0;
            }
            if (n == 4 && !memcmp(s, "else", 4)) {
                next(l);
                p->nvars = vars0;
                if (l->t == T_IDENT && ((l->tl == 2 && !memcmp(l->ts, "if", 2)) ||
                                        (l->tl == 4 && !memcmp(l->ts, "with", 4)))) {
                    next(l);
                    *stop = 3;
                    return 0;
                }
                if (l->t != T_RDELIM) return perr(p, "unexpected %.*s in else", (int)l->tl, l->ts);
                next(l);
                *stop = 2;
                return 0;
            }
            enum nkind k = N_ACTION;
            if (n == 2 && !memcmp(s, "if", 2)) k = N_IF;
            else if (n == 5 && !memcmp(s, "range", 5)) k = N_RANGE;
            else if (n == 4 && !memcmp(s, "with", 4)) k = N_WITH;
            else if ((n == 6 && !memcmp(s, "define", 6)) || (n == 8 && !memcmp(s, "template", 8)) ||
                     (n == 5 && !memcmp(s, "block", 5)) || (n == 5 && !memcmp(s, "break", 5)) ||
                     (n == 8 && !memcmp(s, "continue", 8)))
                return perr(p, "%.*s is not supported by promlab's templates", (int)n, s);
            if (k != N_ACTION) {
                next(l);
                nd = parse_control(p, k);
                if (!nd) return -1;
                *out = xrealloc(*out, (*nout + 1) * sizeof **out);
                (*out)[(*nout)++] = nd; /* parse_list consumed the {{end}} */
                continue;
            }
        }
        nd = calloc(1, sizeof *nd);
        if (!nd) abort();
        nd->k = N_ACTION;
        nd->pipe = parse_pipeline(p, false, false);
        if (!nd->pipe) {
            node_free(nd);
            return -1;
        }
        *out = xrealloc(*out, (*nout + 1) * sizeof **out);
        (*out)[(*nout)++] = nd;
        next(l);
    }
    return 0;
}

int tmpl_parse(const char *name, const char *text, tmpl_t **out, pl_err_t *err) {
    *out = NULL;
    parser_t p = {.name = name, .err = err};
    p.lx.src = text;
    p.lx.len = strlen(text);
    p.lx.line = 1;
    tmpl_t *t = calloc(1, sizeof *t);
    if (!t) abort();
    t->name = strdup(name);
    if (!t->name) abort();
    next(&p.lx);
    int stop = 0;
    int rc = parse_list(&p, &t->list, &t->nlist, &stop);
    if (rc == 0 && stop == 1) rc = perr(&p, "unexpected {{end}}");
    if (rc == 0 && stop >= 2) rc = perr(&p, "unexpected {{else}}");
    free(p.vars);
    if (rc < 0) {
        tmpl_free(t);
        return -1;
    }
    *out = t;
    return 0;
}

void tmpl_free(tmpl_t *t) {
    if (!t) return;
    list_free(t->list, t->nlist);
    free(t->name);
    free(t);
}

/* ---- humanize and friends -------------------------------------------------- */

void tmpl_go_gfmt(strbuf_t *sb, double v, int prec) {
    if (isnan(v)) strbuf_puts(sb, "NaN");
    else if (isinf(v)) strbuf_puts(sb, v > 0 ? "+Inf" : "-Inf");
    else strbuf_printf(sb, "%.*g", prec, v);
}

void tmpl_humanize(strbuf_t *sb, double v) {
    if (v == 0 || isnan(v) || isinf(v)) {
        tmpl_go_gfmt(sb, v, 4);
        return;
    }
    static const char *big[] = {"k", "M", "G", "T", "P", "E", "Z", "Y"};
    static const char *small[] = {"m", "u", "n", "p", "f", "a", "z", "y"};
    const char *prefix = "";
    if (fabs(v) >= 1) {
        for (int i = 0; i < 8 && fabs(v) >= 1000; i++) {
            prefix = big[i];
            v /= 1000;
        }
    } else {
        for (int i = 0; i < 8 && fabs(v) < 1; i++) {
            prefix = small[i];
            v *= 1000;
        }
    }
    tmpl_go_gfmt(sb, v, 4);
    strbuf_puts(sb, prefix);
}

void tmpl_humanize1024(strbuf_t *sb, double v) {
    if (fabs(v) <= 1 || isnan(v) || isinf(v)) {
        tmpl_go_gfmt(sb, v, 4);
        return;
    }
    static const char *pre[] = {"ki", "Mi", "Gi", "Ti", "Pi", "Ei", "Zi", "Yi"};
    const char *prefix = "";
    for (int i = 0; i < 8 && fabs(v) >= 1024; i++) {
        prefix = pre[i];
        v /= 1024;
    }
    tmpl_go_gfmt(sb, v, 4);
    strbuf_puts(sb, prefix);
}

void tmpl_humanize_duration(strbuf_t *sb, double v) {
    if (isnan(v) || isinf(v)) {
        tmpl_go_gfmt(sb, v, 4);
        return;
    }
    if (v == 0) {
        tmpl_go_gfmt(sb, v, 4);
        strbuf_putc(sb, 's');
        return;
    }
    if (fabs(v) >= 1) {
        const char *sign = "";
        if (v < 0) sign = "-", v = -v;
        long long d = (long long)v;
        long long seconds = d % 60, minutes = d / 60 % 60, hours = d / 3600 % 24, days = d / 86400;
        if (days) strbuf_printf(sb, "%s%lldd %lldh %lldm %llds", sign, days, hours, minutes, seconds);
        else if (hours) strbuf_printf(sb, "%s%lldh %lldm %llds", sign, hours, minutes, seconds);
        else if (minutes) strbuf_printf(sb, "%s%lldm %llds", sign, minutes, seconds);
        else {
            strbuf_puts(sb, sign);
            tmpl_go_gfmt(sb, v, 4);
            strbuf_putc(sb, 's');
        }
        return;
    }
    static const char *small[] = {"m", "u", "n", "p", "f", "a", "z", "y"};
    const char *prefix = "";
    for (int i = 0; i < 8 && fabs(v) < 1; i++) {
        prefix = small[i];
        v *= 1000;
    }
    tmpl_go_gfmt(sb, v, 4);
    strbuf_printf(sb, "%ss", prefix);
}

void tmpl_humanize_percentage(strbuf_t *sb, double v) {
    tmpl_go_gfmt(sb, v * 100, 4);
    strbuf_putc(sb, '%');
}

/* Go's time.Time.String() of the ms-precision UTC time:
 * "2006-01-02 15:04:05.999 +0000 UTC" (fraction without trailing zeros). */
int tmpl_humanize_timestamp(strbuf_t *sb, double v) {
    if (isnan(v) || isinf(v)) {
        tmpl_go_gfmt(sb, v, 4);
        return 0;
    }
    double ns = v * 1e9;
    if (ns >= 9.2e18 || ns <= -9.2e18) return -1;
    long long ms = (long long)ns / 1000000;
    long long secs = ms / 1000, frac = ms % 1000;
    if (frac < 0) frac += 1000, secs--;
    time_t tt = (time_t)secs;
    struct tm tm;
    gmtime_r(&tt, &tm);
    char b[64];
    strftime(b, sizeof b, "%Y-%m-%d %H:%M:%S", &tm);
    strbuf_puts(sb, b);
    if (frac) {
        char f[8];
        snprintf(f, sizeof f, "%03lld", frac);
        for (int i = 2; i > 0 && f[i] == '0'; i--)
            f[i] = '\0';
        strbuf_printf(sb, ".%s", f);
    }
    strbuf_puts(sb, " +0000 UTC");
    return 0;
}

/* ---- execution ------------------------------------------------------------- */

typedef struct var {
    const char *name;
    value_t v;
} var_t;

typedef struct exec {
    const tmpl_t *t;
    const tmpl_data_t *d;
    strbuf_t *out;
    pl_err_t *err;
    var_t *vars;
    size_t nvars, capvars;
    char **arena; /* strings made while executing */
    size_t narena;
    int depth;
} exec_t;

static int xerr(exec_t *x, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int xerr(exec_t *x, const char *fmt, ...) {
    char m[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(m, sizeof m, fmt, ap);
    va_end(ap);
    return pl_err_set(x->err, "template: %s: executing \"%s\": %s", x->t->name, x->t->name, m);
}

static const char *keep(exec_t *x, strbuf_t *sb) {
    if (!sb->data) strbuf_puts(sb, "");
    x->arena = xrealloc(x->arena, (x->narena + 1) * sizeof *x->arena);
    return x->arena[x->narena++] = strbuf_detach(sb);
}

static value_t vstr(const char *s) { return (value_t){.k = V_STR, .s = s}; }

static void var_set(exec_t *x, const char *name, value_t v, bool declare) {
    if (!declare)
        for (size_t i = x->nvars; i-- > 0;)
            if (!strcmp(x->vars[i].name, name)) {
                x->vars[i].v = v;
                return;
            }
    if (x->nvars == x->capvars) {
        x->capvars = x->capvars ? x->capvars * 2 : 16;
        x->vars = xrealloc(x->vars, x->capvars * sizeof *x->vars);
    }
    x->vars[x->nvars++] = (var_t){name, v};
}

static const char *kind_name(const value_t *v) {
    switch (v->k) {
    case V_STR: return "string";
    case V_FLOAT: return "float64";
    case V_INT: return "int";
    case V_BOOL: return "bool";
    case V_MAP: return "map[string]string";
    case V_DATA: return "template.tmplData"; /* Prometheus's type name */
    default: return "<nil>";
    }
}

static void print_value(strbuf_t *sb, const value_t *v) {
    char b[400];
    switch (v->k) {
    case V_STR: strbuf_puts(sb, v->s); break;
    case V_FLOAT:
        pl_format_float(b, v->f);
        strbuf_puts(sb, b);
        break;
    case V_INT: strbuf_printf(sb, "%lld", v->i); break;
    case V_BOOL: strbuf_puts(sb, v->b ? "true" : "false"); break;
    case V_MAP:
        strbuf_puts(sb, "map[");
        for (size_t i = 0; i < v->mn; i++)
            strbuf_printf(sb, "%s%s:%s", i ? " " : "", v->m[i].name, v->m[i].value);
        strbuf_putc(sb, ']');
        break;
    case V_DATA: strbuf_puts(sb, "{map[] map[]  0}"); break;
    default: strbuf_puts(sb, "<no value>");
    }
}

static bool truth(const value_t *v) {
    switch (v->k) {
    case V_STR: return v->s[0] != '\0';
    case V_FLOAT: return v->f != 0;
    case V_INT: return v->i != 0;
    case V_BOOL: return v->b;
    case V_MAP: return v->mn > 0;
    case V_DATA: return true;
    default: return false;
    }
}

static int field_of(exec_t *x, value_t *v, const char *f) {
    if (v->k == V_DATA) {
        if (!strcmp(f, "Labels")) *v = (value_t){.k = V_MAP, .m = x->d->labels, .mn = x->d->nlabels};
        else if (!strcmp(f, "ExternalLabels"))
            *v = (value_t){.k = V_MAP, .m = x->d->external_labels, .mn = x->d->nexternal_labels};
        else if (!strcmp(f, "ExternalURL")) *v = vstr(x->d->external_url ? x->d->external_url : "");
        else if (!strcmp(f, "Value")) *v = (value_t){.k = V_FLOAT, .f = x->d->value};
        else return xerr(x, "can't evaluate field %s in type template.tmplData", f);
        return 0;
    }
    if (v->k == V_MAP) {
        const char *s = labels_get(v->m, v->mn, f);
        *v = vstr(s ? s : ""); /* missingkey=zero */
        return 0;
    }
    if (v->k == V_NIL) return xerr(x, "nil pointer evaluating interface {}.%s", f);
    return xerr(x, "can't evaluate field %s in type %s", f, kind_name(v));
}

static int to_float(exec_t *x, const value_t *v, double *out) {
    switch (v->k) {
    case V_FLOAT: *out = v->f; return 0;
    case V_INT: *out = (double)v->i; return 0;
    case V_STR: {
        char *end;
        const char *s = v->s;
        if (!strcmp(s, "NaN")) return (*out = NAN), 0;
        if (!strcmp(s, "+Inf") || !strcmp(s, "Inf")) return (*out = INFINITY), 0;
        if (!strcmp(s, "-Inf")) return (*out = -INFINITY), 0;
        *out = strtod(s, &end);
        if (!*s || *end || isspace((unsigned char)*s))
            return xerr(x, "strconv.ParseFloat: parsing \"%s\": invalid syntax", s);
        return 0;
    }
    default: return xerr(x, "can't convert %s to float", kind_name(v));
    }
}

/* Go's basic comparison for eq/ne/lt/...: same-kind values. */
static int compare(exec_t *x, const value_t *a, const value_t *b, int *cmp) {
    bool an = a->k == V_INT || a->k == V_FLOAT, bn = b->k == V_INT || b->k == V_FLOAT;
    if (an && bn) {
        if (a->k != b->k) return xerr(x, "incompatible types for comparison");
        double fa = a->k == V_INT ? (double)a->i : a->f, fb = b->k == V_INT ? (double)b->i : b->f;
        *cmp = fa < fb ? -1 : fa > fb ? 1 : 0;
        return 0;
    }
    if (a->k == V_STR && b->k == V_STR) {
        int c = strcmp(a->s, b->s);
        *cmp = c < 0 ? -1 : c > 0;
        return 0;
    }
    if (a->k == V_BOOL && b->k == V_BOOL) {
        *cmp = a->b == b->b ? 0 : 1;
        return 0;
    }
    return xerr(x, "incompatible types for comparison");
}

/* fmt.Sprintf with Go's verbs over template values. */
static void go_sprintf(exec_t *x, strbuf_t *sb, const char *fmt, const value_t *args, size_t nargs) {
    size_t ai = 0;
    for (const char *p = fmt; *p; p++) {
        if (*p != '%') {
            strbuf_putc(sb, *p);
            continue;
        }
        const char *start = p++;
        if (*p == '%') {
            strbuf_putc(sb, '%');
            continue;
        }
        while (*p && strchr("+-# 0", *p))
            p++;
        while (isdigit((unsigned char)*p))
            p++;
        if (*p == '.') {
            p++;
            while (isdigit((unsigned char)*p))
                p++;
        }
        if (!*p) {
            strbuf_puts(sb, "%!(NOVERB)");
            break;
        }
        char verb = *p;
        char spec[32];
        size_t sl = (size_t)(p - start);
        if (sl > 20) sl = 20;
        memcpy(spec, start, sl);
        spec[sl] = '\0';
        if (ai >= nargs) {
            strbuf_printf(sb, "%%!%c(MISSING)", verb);
            continue;
        }
        const value_t *a = &args[ai++];
        char fs[40];
        strbuf_t tmp = STRBUF_INIT;
        switch (verb) {
        case 'v':
        case 's':
            if (verb == 's' && a->k != V_STR && a->k != V_MAP && a->k != V_NIL) {
                strbuf_printf(sb, "%%!s(%s=", kind_name(a));
                print_value(sb, a);
                strbuf_putc(sb, ')');
                break;
            }
            print_value(&tmp, a);
            snprintf(fs, sizeof fs, "%ss", spec);
            strbuf_printf(sb, fs, tmp.data ? tmp.data : "");
            break;
        case 'q':
            print_value(&tmp, a);
            json_escape(sb, tmp.data ? tmp.data : "", tmp.len);
            break;
        case 'd':
        case 'x':
        case 'X':
        case 'o':
        case 'c':
            if (a->k == V_INT) {
                snprintf(fs, sizeof fs, "%sll%c", spec, verb);
                strbuf_printf(sb, fs, a->i);
            } else if ((verb == 'x' || verb == 'X') && a->k == V_STR) {
                for (const char *c = a->s; *c; c++)
                    strbuf_printf(sb, verb == 'x' ? "%02x" : "%02X", (unsigned char)*c);
            } else {
                strbuf_printf(sb, "%%!%c(%s=", verb, kind_name(a));
                print_value(sb, a);
                strbuf_putc(sb, ')');
            }
            break;
        case 'f':
        case 'F':
        case 'e':
        case 'E':
        case 'g':
        case 'G':
            if (a->k == V_FLOAT) {
                if (isnan(a->f) || isinf(a->f)) {
                    strbuf_puts(sb, isnan(a->f) ? "NaN" : a->f > 0 ? "+Inf" : "-Inf");
                } else if ((verb == 'g' || verb == 'G') && !strchr(spec, '.')) {
                    char b[400];
                    pl_format_float(b, a->f);
                    strbuf_puts(sb, b);
                } else {
                    snprintf(fs, sizeof fs, "%s%c", spec, verb);
                    strbuf_printf(sb, fs, a->f);
                }
            } else {
                strbuf_printf(sb, "%%!%c(%s=", verb, kind_name(a));
                print_value(sb, a);
                strbuf_putc(sb, ')');
            }
            break;
        case 't':
            if (a->k == V_BOOL) strbuf_puts(sb, a->b ? "true" : "false");
            else {
                strbuf_printf(sb, "%%!t(%s=", kind_name(a));
                print_value(sb, a);
                strbuf_putc(sb, ')');
            }
            break;
        default:
            strbuf_printf(sb, "%%!%c(%s=", verb, kind_name(a));
            print_value(sb, a);
            strbuf_putc(sb, ')');
        }
        strbuf_free(&tmp);
    }
    if (ai < nargs) {
        strbuf_puts(sb, "%!(EXTRA ");
        for (size_t i = ai; i < nargs; i++) {
            strbuf_printf(sb, "%s%s=", i > ai ? ", " : "", kind_name(&args[i]));
            print_value(sb, &args[i]);
        }
        strbuf_putc(sb, ')');
    }
}

static void url_escape(strbuf_t *sb, const char *s, bool plus_for_space) {
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (isalnum(*p) || *p == '-' || *p == '_' || *p == '.' || *p == '~') strbuf_putc(sb, (char)*p);
        else if (*p == ' ' && plus_for_space) strbuf_putc(sb, '+');
        else strbuf_printf(sb, "%%%02X", *p);
    }
}

void rules_table_link(strbuf_t *sb, const char *expr) {
    strbuf_puts(sb, "/graph?g0.expr=");
    url_escape(sb, expr, true);
    strbuf_puts(sb, "&g0.tab=1");
}

static int regex_op(exec_t *x, const char *pattern, const char *repl, const char *text, value_t *out, bool replace) {
    strbuf_t re = STRBUF_INIT;
    strbuf_printf(&re, "^(?:%s)$", pattern);
    int ec;
    PCRE2_SIZE eo;
    pcre2_code *code = pcre2_compile((PCRE2_SPTR)(replace ? pattern : re.data), PCRE2_ZERO_TERMINATED, PCRE2_UTF, &ec,
                                     &eo, NULL);
    strbuf_free(&re);
    if (!code) return xerr(x, "error parsing regexp: %s", pattern);
    int rc = 0;
    if (!replace) {
        pcre2_match_data *md = pcre2_match_data_create_from_pattern(code, NULL);
        /* Go's regexp.MatchString is unanchored. */
        pcre2_code_free(code);
        code = pcre2_compile((PCRE2_SPTR)pattern, PCRE2_ZERO_TERMINATED, PCRE2_UTF, &ec, &eo, NULL);
        pcre2_match_data_free(md);
        if (!code) return xerr(x, "error parsing regexp: %s", pattern);
        md = pcre2_match_data_create_from_pattern(code, NULL);
        int m = pcre2_match(code, (PCRE2_SPTR)text, PCRE2_ZERO_TERMINATED, 0, 0, md, NULL);
        pcre2_match_data_free(md);
        *out = (value_t){.k = V_BOOL, .b = m >= 0};
    } else {
        /* Go's ReplaceAllString: $1 / ${1} expansion; PCRE2's substitute uses the same $n syntax. */
        PCRE2_SIZE outlen = strlen(text) * 2 + strlen(repl) * 4 + 64;
        for (int tries = 0; tries < 4; tries++) {
            PCRE2_UCHAR *buf = malloc(outlen);
            if (!buf) abort();
            PCRE2_SIZE l = outlen;
            int n = pcre2_substitute(code, (PCRE2_SPTR)text, PCRE2_ZERO_TERMINATED, 0,
                                     PCRE2_SUBSTITUTE_GLOBAL | PCRE2_SUBSTITUTE_OVERFLOW_LENGTH |
                                         PCRE2_SUBSTITUTE_UNSET_EMPTY | PCRE2_SUBSTITUTE_UNKNOWN_UNSET,
                                     NULL, NULL, (PCRE2_SPTR)repl, PCRE2_ZERO_TERMINATED, buf, &l);
            if (n == PCRE2_ERROR_NOMEMORY) {
                free(buf);
                outlen = l + 1;
                continue;
            }
            if (n < 0) {
                free(buf);
                rc = xerr(x, "reReplaceAll: bad replacement %s", repl);
                break;
            }
            strbuf_t sb = STRBUF_INIT;
            strbuf_append(&sb, buf, l);
            free(buf);
            *out = vstr(keep(x, &sb));
            break;
        }
    }
    pcre2_code_free(code);
    return rc;
}

static int need_args(exec_t *x, const char *fn, size_t got, size_t want) {
    if (got != want) return xerr(x, "wrong number of args for %s: want %zu got %zu", fn, want, got);
    return 0;
}

static int call_func(exec_t *x, const char *fn, value_t *a, size_t n, value_t *out) {
    strbuf_t sb = STRBUF_INIT;
    double f = 0;
    *out = (value_t){.k = V_NIL};
    if (!strncmp(fn, "humanize", 8)) {
        if (need_args(x, fn, n, 1) < 0 || to_float(x, &a[0], &f) < 0) return -1;
        if (!strcmp(fn, "humanize")) tmpl_humanize(&sb, f);
        else if (!strcmp(fn, "humanize1024")) tmpl_humanize1024(&sb, f);
        else if (!strcmp(fn, "humanizeDuration")) tmpl_humanize_duration(&sb, f);
        else if (!strcmp(fn, "humanizePercentage")) tmpl_humanize_percentage(&sb, f);
        else if (tmpl_humanize_timestamp(&sb, f) < 0) {
            strbuf_free(&sb);
            return xerr(x, "error calling %s: %g cannot be represented as a nanoseconds timestamp since it overflows int64",
                        fn, f);
        }
        *out = vstr(keep(x, &sb));
        return 0;
    }
    if (!strcmp(fn, "printf") || !strcmp(fn, "print") || !strcmp(fn, "println")) {
        if (!strcmp(fn, "printf")) {
            if (n < 1 || a[0].k != V_STR) return xerr(x, "wrong type for value; expected string");
            go_sprintf(x, &sb, a[0].s, a + 1, n - 1);
        } else {
            for (size_t i = 0; i < n; i++) {
                /* print adds spaces between operands when neither is a string */
                if (i && (!strcmp(fn, "println") || (a[i].k != V_STR && a[i - 1].k != V_STR))) strbuf_putc(&sb, ' ');
                print_value(&sb, &a[i]);
            }
            if (!strcmp(fn, "println")) strbuf_putc(&sb, '\n');
        }
        *out = vstr(keep(x, &sb));
        return 0;
    }
    if (!strcmp(fn, "toUpper") || !strcmp(fn, "toLower") || !strcmp(fn, "title") || !strcmp(fn, "stripPort") ||
        !strcmp(fn, "stripDomain") || !strcmp(fn, "safeHtml") || !strcmp(fn, "urlquery") || !strcmp(fn, "html") ||
        !strcmp(fn, "js") || !strcmp(fn, "tableLink") || !strcmp(fn, "graphLink")) {
        if (need_args(x, fn, n, 1) < 0) return -1;
        strbuf_t in = STRBUF_INIT;
        print_value(&in, &a[0]);
        const char *s = in.data ? in.data : "";
        if (!strcmp(fn, "toUpper") || !strcmp(fn, "toLower")) {
            for (const char *c = s; *c; c++)
                strbuf_putc(&sb, (char)(fn[2] == 'U' ? toupper((unsigned char)*c) : tolower((unsigned char)*c)));
        } else if (!strcmp(fn, "title")) {
            bool start = true;
            for (const char *c = s; *c; c++) {
                strbuf_putc(&sb, (char)(start ? toupper((unsigned char)*c) : *c));
                start = !isalnum((unsigned char)*c) && *c != '_' && *c != '\'';
            }
        } else if (!strcmp(fn, "stripPort")) {
            const char *colon = strrchr(s, ':');
            if (s[0] == '[' && strchr(s, ']')) {
                const char *rb = strchr(s, ']');
                strbuf_append(&sb, s + 1, (size_t)(rb - s - 1));
            } else if (colon && strchr(s, ':') == colon) {
                strbuf_append(&sb, s, (size_t)(colon - s));
            } else {
                strbuf_puts(&sb, s);
            }
        } else if (!strcmp(fn, "stripDomain")) {
            const char *colon = strrchr(s, ':');
            const char *dot = strchr(s, '.');
            if (dot && (!colon || dot < colon)) {
                strbuf_append(&sb, s, (size_t)(dot - s));
                if (colon) strbuf_puts(&sb, colon);
            } else {
                strbuf_puts(&sb, s);
            }
        } else if (!strcmp(fn, "urlquery")) {
            url_escape(&sb, s, true);
        } else if (!strcmp(fn, "html")) {
            for (const char *c = s; *c; c++) {
                switch (*c) {
                case '<': strbuf_puts(&sb, "&lt;"); break;
                case '>': strbuf_puts(&sb, "&gt;"); break;
                case '&': strbuf_puts(&sb, "&amp;"); break;
                case '"': strbuf_puts(&sb, "&#34;"); break;
                case '\'': strbuf_puts(&sb, "&#39;"); break;
                default: strbuf_putc(&sb, *c);
                }
            }
        } else if (!strcmp(fn, "js")) {
            for (const char *c = s; *c; c++) {
                if (*c == '\\' || *c == '\'' || *c == '"') strbuf_printf(&sb, "\\%c", *c);
                else if (*c == '<') strbuf_puts(&sb, "\\u003C");
                else if (*c == '>') strbuf_puts(&sb, "\\u003E");
                else strbuf_putc(&sb, *c);
            }
        } else if (!strcmp(fn, "tableLink")) {
            rules_table_link(&sb, s);
        } else if (!strcmp(fn, "graphLink")) {
            strbuf_puts(&sb, "/graph?g0.expr=");
            url_escape(&sb, s, true);
            strbuf_puts(&sb, "&g0.tab=0");
        } else {
            strbuf_puts(&sb, s);
        }
        strbuf_free(&in);
        *out = vstr(keep(x, &sb));
        return 0;
    }
    if (!strcmp(fn, "externalURL") || !strcmp(fn, "pathPrefix")) {
        if (need_args(x, fn, n, 0) < 0) return -1;
        const char *u = x->d->external_url ? x->d->external_url : "";
        if (fn[0] == 'e') {
            *out = vstr(u);
        } else {
            const char *p = strstr(u, "://");
            p = p ? strchr(p + 3, '/') : NULL;
            *out = vstr(p ? p : "");
        }
        return 0;
    }
    if (!strcmp(fn, "parseDuration")) {
        if (need_args(x, fn, n, 1) < 0) return -1;
        if (a[0].k != V_STR) return xerr(x, "error calling parseDuration: not a string");
        int64_t ms;
        if (pl_parse_duration(a[0].s, &ms, NULL) < 0)
            return xerr(x, "error calling parseDuration: not a valid duration string: \"%s\"", a[0].s);
        *out = (value_t){.k = V_FLOAT, .f = (double)ms / 1000.0};
        return 0;
    }
    if (!strcmp(fn, "match") || !strcmp(fn, "reReplaceAll")) {
        bool rep = fn[0] == 'r';
        if (need_args(x, fn, n, rep ? 3 : 2) < 0) return -1;
        for (size_t i = 0; i < n; i++)
            if (a[i].k != V_STR) return xerr(x, "wrong type for value; expected string; got %s", kind_name(&a[i]));
        return regex_op(x, a[0].s, rep ? a[1].s : NULL, rep ? a[2].s : a[1].s, out, rep);
    }
    if (!strcmp(fn, "not")) {
        if (need_args(x, fn, n, 1) < 0) return -1;
        *out = (value_t){.k = V_BOOL, .b = !truth(&a[0])};
        return 0;
    }
    if (!strcmp(fn, "and") || !strcmp(fn, "or")) {
        if (n < 1) return xerr(x, "wrong number of args for %s: want at least 1 got 0", fn);
        bool is_and = fn[0] == 'a';
        for (size_t i = 0; i < n; i++) {
            if (truth(&a[i]) != is_and || i + 1 == n) {
                *out = a[i];
                return 0;
            }
        }
        return 0;
    }
    if (!strcmp(fn, "len")) {
        if (need_args(x, fn, n, 1) < 0) return -1;
        if (a[0].k == V_STR) *out = (value_t){.k = V_INT, .i = (long long)strlen(a[0].s)};
        else if (a[0].k == V_MAP) *out = (value_t){.k = V_INT, .i = (long long)a[0].mn};
        else return xerr(x, "error calling len: len of type %s", kind_name(&a[0]));
        return 0;
    }
    if (!strcmp(fn, "index")) {
        if (n < 1) return xerr(x, "wrong number of args for index");
        value_t v = a[0];
        for (size_t i = 1; i < n; i++) {
            if (v.k != V_MAP || a[i].k != V_STR) return xerr(x, "error calling index: can't index item of type %s",
                                                              kind_name(&v));
            const char *s = labels_get(v.m, v.mn, a[i].s);
            v = vstr(s ? s : "");
        }
        *out = v;
        return 0;
    }
    /* comparisons */
    int cmp = 0;
    if (n < 2) return xerr(x, "wrong number of args for %s: want 2 got %zu", fn, n);
    if (!strcmp(fn, "eq")) {
        for (size_t i = 1; i < n; i++) {
            if (compare(x, &a[0], &a[i], &cmp) < 0) return -1;
            if (cmp == 0) {
                *out = (value_t){.k = V_BOOL, .b = true};
                return 0;
            }
        }
        *out = (value_t){.k = V_BOOL, .b = false};
        return 0;
    }
    if (need_args(x, fn, n, 2) < 0 || compare(x, &a[0], &a[1], &cmp) < 0) return -1;
    bool r = false;
    if (!strcmp(fn, "ne")) r = cmp != 0;
    else if (a[0].k == V_BOOL) return xerr(x, "invalid type for comparison");
    else if (!strcmp(fn, "lt")) r = cmp < 0;
    else if (!strcmp(fn, "le")) r = cmp <= 0;
    else if (!strcmp(fn, "gt")) r = cmp > 0;
    else if (!strcmp(fn, "ge")) r = cmp >= 0;
    *out = (value_t){.k = V_BOOL, .b = r};
    return 0;
}

static int eval_pipe(exec_t *x, const pipe_t *pp, value_t dot, value_t *out);

static int eval_arg(exec_t *x, const arg_t *a, value_t dot, value_t *out) {
    value_t v = {.k = V_NIL};
    switch (a->k) {
    case A_DOT: v = dot; break;
    case A_FIELD: v = dot; break;
    case A_VAR:
        if (!strcmp(a->name, "$")) v = (value_t){.k = V_DATA};
        else if (!strcmp(a->name, "$labels")) v = (value_t){.k = V_MAP, .m = x->d->labels, .mn = x->d->nlabels};
        else if (!strcmp(a->name, "$externalLabels"))
            v = (value_t){.k = V_MAP, .m = x->d->external_labels, .mn = x->d->nexternal_labels};
        else if (!strcmp(a->name, "$externalURL")) v = vstr(x->d->external_url ? x->d->external_url : "");
        else if (!strcmp(a->name, "$value")) v = (value_t){.k = V_FLOAT, .f = x->d->value};
        for (size_t i = x->nvars; i-- > 0;)
            if (!strcmp(x->vars[i].name, a->name)) {
                v = x->vars[i].v;
                break;
            }
        break;
    case A_STR: v = vstr(a->s); break;
    case A_FLOAT: v = (value_t){.k = V_FLOAT, .f = a->f}; break;
    case A_INT: v = (value_t){.k = V_INT, .i = a->i}; break;
    case A_BOOL: v = (value_t){.k = V_BOOL, .b = a->b}; break;
    case A_NIL: return xerr(x, "nil is not a command");
    case A_PIPE:
        if (eval_pipe(x, a->pipe, dot, &v) < 0) return -1;
        break;
    case A_FUNC: {
        value_t r;
        if (call_func(x, a->name, NULL, 0, &r) < 0) return -1;
        v = r;
        break;
    }
    }
    for (size_t i = 0; i < a->nfields; i++)
        if (field_of(x, &v, a->fields[i]) < 0) return -1;
    *out = v;
    return 0;
}

static int eval_cmd(exec_t *x, const cmd_t *c, value_t dot, const value_t *prev, value_t *out) {
    const arg_t *first = &c->args[0];
    if (first->k == A_FUNC) {
        size_t n = c->nargs - 1 + (prev ? 1 : 0);
        value_t *args = calloc(n ? n : 1, sizeof *args);
        if (!args) abort();
        for (size_t i = 1; i < c->nargs; i++)
            if (eval_arg(x, &c->args[i], dot, &args[i - 1]) < 0) {
                free(args);
                return -1;
            }
        if (prev) args[n - 1] = *prev;
        /* and/or evaluate lazily in Go; the difference is invisible without side effects */
        int rc = call_func(x, first->name, args, n, out);
        free(args);
        return rc;
    }
    if (c->nargs > 1 || prev) return xerr(x, "can't give argument to non-function");
    return eval_arg(x, first, dot, out);
}

static int eval_pipe(exec_t *x, const pipe_t *pp, value_t dot, value_t *out) {
    if (++x->depth > 100) return xerr(x, "exceeded maximum template depth (100000)");
    value_t v = {.k = V_NIL};
    for (size_t i = 0; i < pp->ncmds; i++)
        if (eval_cmd(x, &pp->cmds[i], dot, i ? &v : NULL, &v) < 0) {
            x->depth--;
            return -1;
        }
    x->depth--;
    if (pp->ndecl == 1) var_set(x, pp->decl[0], v, !pp->assign);
    *out = v;
    return 0;
}

static int exec_list(exec_t *x, tnode_t *const *l, size_t n, value_t dot);

static int exec_node(exec_t *x, const tnode_t *nd, value_t dot) {
    value_t v;
    size_t vars0 = x->nvars;
    int rc = 0;
    switch (nd->k) {
    case N_TEXT: strbuf_append(x->out, nd->text, nd->textlen); return 0;
    case N_ACTION:
        if (eval_pipe(x, nd->pipe, dot, &v) < 0) return -1;
        if (nd->pipe->ndecl == 0) print_value(x->out, &v);
        return 0;
    case N_IF:
    case N_WITH:
        if (eval_pipe(x, nd->pipe, dot, &v) < 0) return -1;
        if (truth(&v)) rc = exec_list(x, nd->list, nd->nlist, nd->k == N_WITH ? v : dot);
        else rc = exec_list(x, nd->elselist, nd->nelse, dot);
        break;
    case N_RANGE: {
        pipe_t tmp = *nd->pipe;
        tmp.ndecl = 0;
        if (eval_pipe(x, &tmp, dot, &v) < 0) return -1;
        if (v.k == V_MAP && v.mn > 0) {
            for (size_t i = 0; i < v.mn && rc == 0; i++) {
                value_t elem = vstr(v.m[i].value);
                if (nd->pipe->ndecl == 1) var_set(x, nd->pipe->decl[0], elem, true);
                if (nd->pipe->ndecl == 2) {
                    var_set(x, nd->pipe->decl[0], vstr(v.m[i].name), true);
                    var_set(x, nd->pipe->decl[1], elem, true);
                }
                rc = exec_list(x, nd->list, nd->nlist, elem);
                x->nvars = vars0;
            }
        } else if (v.k == V_MAP || v.k == V_NIL) {
            rc = exec_list(x, nd->elselist, nd->nelse, dot);
        } else if (v.k == V_INT) {
            for (long long i = 0; i < v.i && rc == 0 && i < 100000; i++) {
                value_t elem = {.k = V_INT, .i = i};
                if (nd->pipe->ndecl >= 1) var_set(x, nd->pipe->decl[nd->pipe->ndecl - 1], elem, true);
                rc = exec_list(x, nd->list, nd->nlist, elem);
                x->nvars = vars0;
            }
        } else {
            return xerr(x, "range can't iterate over %s", kind_name(&v));
        }
        break;
    }
    }
    x->nvars = vars0;
    return rc;
}

static int exec_list(exec_t *x, tnode_t *const *l, size_t n, value_t dot) {
    for (size_t i = 0; i < n; i++) {
        size_t vars0 = x->nvars;
        (void)vars0;
        if (exec_node(x, l[i], dot) < 0) return -1;
    }
    return 0;
}

int tmpl_exec(const tmpl_t *t, const tmpl_data_t *d, strbuf_t *out, pl_err_t *err) {
    exec_t x = {.t = t, .d = d, .out = out, .err = err};
    int rc = exec_list(&x, t->list, t->nlist, (value_t){.k = V_DATA});
    for (size_t i = 0; i < x.narena; i++)
        free(x.arena[i]);
    free(x.arena);
    free(x.vars);
    if (!out->data) strbuf_puts(out, "");
    return rc;
}

int tmpl_expand(const char *name, const char *text, const tmpl_data_t *d, strbuf_t *out) {
    tmpl_t *t = NULL;
    pl_err_t err;
    size_t len0 = out->len;
    int rc = tmpl_parse(name, text, &t, &err);
    if (rc == 0) rc = tmpl_exec(t, d, out, &err);
    tmpl_free(t);
    if (rc < 0) {
        out->len = len0;
        if (out->data) out->data[len0] = '\0';
        strbuf_printf(out, "<error expanding template: %s>", err.msg);
    }
    if (!out->data) strbuf_puts(out, "");
    return rc;
}
