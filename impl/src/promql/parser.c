/* parser.c — PromQL recursive-descent parser. See parser.h.
 *
 * Binary operators are parsed by precedence climbing; everything else is a
 * primary expression followed by postfix modifiers ([range], [range:step],
 * offset, @). Type checks run as each node is built, so the first error is the
 * leftmost one, as Prometheus reports. */
#include "promql/parser.h"

#include <ctype.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/labels.h"
#include "promql/functions.h"
#include "promql/lexer.h"

typedef struct parser {
    promql_lexer_t lx;
    promql_token_t tok;  /* current */
    promql_token_t peek; /* valid when has_peek */
    bool has_peek;
    const char *query;
    bool failed;
    int err_pos;
    char err[PL_ERR_MAX];
} parser_t;

enum { PREC_OR = 1, PREC_AND, PREC_CMP, PREC_ADD, PREC_MUL, PREC_POW };

static void advance(parser_t *p) {
    if (p->has_peek) {
        p->tok = p->peek;
        p->has_peek = false;
    } else {
        promql_lex_next(&p->lx, &p->tok);
    }
}

static const promql_token_t *peek(parser_t *p) {
    if (!p->has_peek) {
        promql_lex_next(&p->lx, &p->peek);
        p->has_peek = true;
    }
    return &p->peek;
}

__attribute__((format(printf, 3, 4))) static void *fail(parser_t *p, int pos, const char *fmt, ...) {
    if (p->failed) return NULL;
    p->failed = true;
    p->err_pos = pos;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(p->err, sizeof p->err, fmt, ap);
    va_end(ap);
    return NULL;
}

static void *unexpected(parser_t *p, const char *context) {
    char d[200];
    if (p->tok.type == PROMQL_TOK_ERROR) return fail(p, p->tok.pos, "%s", p->tok.text);
    promql_token_describe(&p->tok, d, sizeof d);
    if (context) return fail(p, p->tok.pos, "unexpected %s %s", d, context);
    return fail(p, p->tok.pos, "unexpected %s", d);
}

static bool tok_is_kw(const promql_token_t *t, const char *kw) {
    return t->type == PROMQL_TOK_IDENT && (int)strlen(kw) == t->len && strncasecmp(t->text, kw, (size_t)t->len) == 0;
}

static promql_expr_t *new_node(enum promql_node_kind k, int start, int end) {
    promql_expr_t *e = calloc(1, sizeof *e);
    if (!e) abort();
    e->kind = k;
    e->pos_start = start;
    e->pos_end = end;
    return e;
}

static char *dupn(const char *s, size_t n) {
    char *d = malloc(n + 1);
    if (!d) abort();
    memcpy(d, s, n);
    d[n] = '\0';
    return d;
}

static int tok_end(const promql_token_t *t) { return t->pos + t->len; }

static promql_expr_t *parse_expr(parser_t *p, int min_prec);

/* ---- numbers and durations --------------------------------------------- */

static bool number_value_buf(const promql_token_t *t, double *v, char *buf);

static bool number_value(const promql_token_t *t, double *v) {
    char small[128];
    char *buf = t->len < (int)sizeof small ? small : malloc((size_t)t->len + 1);
    if (!buf) return false;
    memcpy(buf, t->text, (size_t)t->len);
    buf[t->len] = '\0';
    bool ok = number_value_buf(t, v, buf);
    if (buf != small) free(buf);
    return ok;
}

static bool number_value_buf(const promql_token_t *t, double *v, char *buf) {
    if (t->type == PROMQL_TOK_DURATION) {
        int64_t ms;
        if (promql_parse_duration_token(buf, (size_t)t->len, &ms) < 0) return false;
        *v = (double)ms / 1000.0;
        return true;
    }
    if (strcasecmp(buf, "inf") == 0) {
        *v = INFINITY;
        return true;
    }
    if (strcasecmp(buf, "nan") == 0) {
        *v = NAN;
        return true;
    }
    char *end;
    if ((buf[0] == '0') && (buf[1] == 'x' || buf[1] == 'X'))
        *v = (double)strtoull(buf, &end, 16);
    else
        *v = strtod(buf, &end);
    return *end == '\0';
}

/* A duration inside [..], after offset: a duration token or a number of seconds. */
static bool parse_duration_arg(parser_t *p, int64_t *ms, const char *what) {
    double v;
    if ((p->tok.type == PROMQL_TOK_DURATION || p->tok.type == PROMQL_TOK_NUMBER) && number_value(&p->tok, &v)) {
        if (p->tok.type == PROMQL_TOK_NUMBER) {
            if (!(v * 1000.0 < 9.2e18 && v * 1000.0 > -9.2e18)) {
                fail(p, p->tok.pos, "duration out of range");
                return false;
            }
            *ms = (int64_t)llround(v * 1000.0);
        } else {
            *ms = (int64_t)llround(v * 1000.0);
        }
        advance(p);
        return true;
    }
    char ctx[64];
    snprintf(ctx, sizeof ctx, "in %s", what);
    unexpected(p, ctx);
    return false;
}

/* ---- label lists and matchers ------------------------------------------ */

static bool parse_label_list(parser_t *p, char ***out, size_t *n_out, const char *ctx) {
    if (p->tok.type != PROMQL_TOK_LPAREN) {
        unexpected(p, ctx);
        return false;
    }
    advance(p);
    char **ls = NULL;
    size_t n = 0;
    while (p->tok.type != PROMQL_TOK_RPAREN) {
        char *name = NULL;
        if (p->tok.type == PROMQL_TOK_IDENT) {
            name = dupn(p->tok.text, (size_t)p->tok.len);
            if (strchr(name, ':')) {
                free(name);
                goto bad;
            }
        } else if (p->tok.type == PROMQL_TOK_STRING) {
            char e[128];
            name = promql_unquote(p->tok.text, (size_t)p->tok.len, e, sizeof e);
            if (!name) {
                fail(p, p->tok.pos, "%s", e);
                goto err;
            }
        } else {
            goto bad;
        }
        char **nls = realloc(ls, (n + 1) * sizeof *nls);
        if (!nls) abort();
        ls = nls;
        ls[n++] = name;
        advance(p);
        if (p->tok.type == PROMQL_TOK_COMMA)
            advance(p);
        else if (p->tok.type != PROMQL_TOK_RPAREN)
            goto bad;
    }
    advance(p);
    *out = ls;
    *n_out = n;
    return true;
bad:
    unexpected(p, ctx);
err:
    for (size_t i = 0; i < n; i++)
        free(ls[i]);
    free(ls);
    return false;
}

static bool add_matcher(parser_t *p, promql_expr_t *e, enum matcher_type t, const char *name, const char *value,
                        int pos) {
    matcher_t *nm = realloc(e->matchers, (e->nmatchers + 1) * sizeof *nm);
    if (!nm) abort();
    e->matchers = nm;
    pl_err_t err;
    if (matcher_init(&e->matchers[e->nmatchers], t, name, value, &err) < 0) {
        fail(p, pos, "%s", err.msg);
        return false;
    }
    e->nmatchers++;
    return true;
}

/* Parses `{...}` into e's matchers. p->tok is at '{'. */
static bool parse_matchers(parser_t *p, promql_expr_t *e) {
    advance(p);
    while (p->tok.type != PROMQL_TOK_RBRACE) {
        char *name = NULL, *value = NULL;
        int npos = p->tok.pos;
        if (p->tok.type == PROMQL_TOK_IDENT) {
            name = dupn(p->tok.text, (size_t)p->tok.len);
        } else if (p->tok.type == PROMQL_TOK_STRING) {
            char err[128];
            name = promql_unquote(p->tok.text, (size_t)p->tok.len, err, sizeof err);
            if (!name) {
                fail(p, p->tok.pos, "%s", err);
                return false;
            }
        } else {
            unexpected(p, "in label matching, expected label");
            return false;
        }
        advance(p);
        enum matcher_type t;
        switch (p->tok.type) {
        case PROMQL_TOK_ASSIGN: t = MATCH_EQUAL; break;
        case PROMQL_TOK_NEQ: t = MATCH_NOT_EQUAL; break;
        case PROMQL_TOK_EQL_REGEX: t = MATCH_REGEX; break;
        case PROMQL_TOK_NEQ_REGEX: t = MATCH_NOT_REGEX; break;
        case PROMQL_TOK_COMMA:
        case PROMQL_TOK_RBRACE:
            /* A bare quoted string is the metric name (Prometheus 3 UTF-8 syntax). */
            if (name && e->metric_name == NULL && p->query[npos] == '"') {
                e->metric_name = name;
                if (!add_matcher(p, e, MATCH_EQUAL, LABEL_METRIC_NAME, name, npos)) return false;
                if (p->tok.type == PROMQL_TOK_COMMA) advance(p);
                continue;
            }
            free(name);
            unexpected(p, "in label matching, expected label matching operator");
            return false;
        default:
            free(name);
            unexpected(p, "in label matching, expected label matching operator");
            return false;
        }
        advance(p);
        if (p->tok.type != PROMQL_TOK_STRING) {
            free(name);
            unexpected(p, "in label matching, expected string");
            return false;
        }
        char err[128];
        value = promql_unquote(p->tok.text, (size_t)p->tok.len, err, sizeof err);
        if (!value) {
            free(name);
            fail(p, p->tok.pos, "%s", err);
            return false;
        }
        bool ok = add_matcher(p, e, t, name, value, npos);
        free(name);
        free(value);
        if (!ok) return false;
        advance(p);
        if (p->tok.type == PROMQL_TOK_COMMA)
            advance(p);
        else if (p->tok.type != PROMQL_TOK_RBRACE) {
            unexpected(p, "in label matching, expected \",\" or \"}\"");
            return false;
        }
    }
    e->pos_end = tok_end(&p->tok);
    advance(p);
    return true;
}

static bool check_selector(parser_t *p, promql_expr_t *e) {
    int named = 0;
    for (size_t i = 0; i < e->nmatchers; i++)
        if (strcmp(e->matchers[i].name, LABEL_METRIC_NAME) == 0) named++;
    if (e->metric_name && named > 1) {
        for (size_t i = 0; i < e->nmatchers; i++)
            if (strcmp(e->matchers[i].name, LABEL_METRIC_NAME) == 0 &&
                strcmp(e->matchers[i].value, e->metric_name) != 0) {
                fail(p, e->pos_start, "metric name must not be set twice: \"%s\" or \"%s\"", e->metric_name,
                     e->matchers[i].value);
                return false;
            }
    }
    for (size_t i = 0; i < e->nmatchers; i++)
        if (!matcher_matches_empty(&e->matchers[i])) return true;
    fail(p, e->pos_start, "vector selector must contain at least one non-empty matcher");
    return false;
}

/* ---- primaries ---------------------------------------------------------- */

static promql_expr_t *parse_call(parser_t *p, const promql_function_t *fn, int start) {
    promql_expr_t *e = new_node(PROMQL_CALL, start, 0);
    e->func = fn;
    advance(p); /* name */
    advance(p); /* ( */
    while (p->tok.type != PROMQL_TOK_RPAREN) {
        promql_expr_t *a = parse_expr(p, 0);
        if (!a) goto err;
        promql_expr_t **na = realloc(e->args, (e->nargs + 1) * sizeof *na);
        if (!na) abort();
        e->args = na;
        e->args[e->nargs++] = a;
        if (p->tok.type == PROMQL_TOK_COMMA)
            advance(p);
        else if (p->tok.type != PROMQL_TOK_RPAREN) {
            unexpected(p, "in call to function, expected \",\" or \")\"");
            goto err;
        }
    }
    e->pos_end = tok_end(&p->tok);
    advance(p);
    int nargs = fn->nargs, got = (int)e->nargs;
    if (fn->variadic == 0) {
        if (nargs != got) {
            fail(p, e->pos_start, "expected %d argument(s) in call to \"%s\", got %d", nargs, fn->name, got);
            goto err;
        }
    } else {
        int na = nargs - 1;
        if (na > got) {
            fail(p, e->pos_start, "expected at least %d argument(s) in call to \"%s\", got %d", na, fn->name, got);
            goto err;
        }
        if (fn->variadic > 0 && na + fn->variadic < got) {
            fail(p, e->pos_start, "expected at most %d argument(s) in call to \"%s\", got %d", na + fn->variadic,
                 fn->name, got);
            goto err;
        }
    }
    for (int i = 0; i < got; i++) {
        enum promql_type want = fn->args[i < nargs ? i : nargs - 1];
        enum promql_type have = promql_expr_type(e->args[i]);
        if (want != have) {
            fail(p, e->args[i]->pos_start, "expected type %s in call to function \"%s\", got %s",
                 promql_type_name(want), fn->name, promql_type_name(have));
            goto err;
        }
    }
    return e;
err:
    promql_expr_free(e);
    return NULL;
}

static bool parse_grouping(parser_t *p, promql_expr_t *e) {
    if (e->ngrouping || e->without || e->by_given) {
        unexpected(p, "in aggregation");
        return false;
    }
    if (tok_is_kw(&p->tok, "without"))
        e->without = true;
    else
        e->by_given = true;
    advance(p);
    return parse_label_list(p, &e->grouping, &e->ngrouping, "in grouping opts, expected label");
}

static promql_expr_t *parse_aggregate(parser_t *p, int op, int start) {
    promql_expr_t *e = new_node(PROMQL_AGGREGATE, start, 0);
    e->agg = (enum promql_agg_op)op;
    advance(p);
    if (tok_is_kw(&p->tok, "by") || tok_is_kw(&p->tok, "without")) {
        if (!parse_grouping(p, e)) goto err;
    }
    if (p->tok.type != PROMQL_TOK_LPAREN) {
        unexpected(p, "in aggregation, expected \"(\"");
        goto err;
    }
    int lparen = p->tok.pos;
    advance(p);
    if (p->tok.type == PROMQL_TOK_RPAREN) {
        fail(p, lparen, "no arguments for aggregate expression provided");
        goto err;
    }
    promql_expr_t *a = parse_expr(p, 0);
    if (!a) goto err;
    promql_expr_t *b = NULL;
    if (p->tok.type == PROMQL_TOK_COMMA) {
        advance(p);
        if (p->tok.type != PROMQL_TOK_RPAREN) {
            b = parse_expr(p, 0);
            if (!b) {
                promql_expr_free(a);
                goto err;
            }
        }
    }
    if (p->tok.type != PROMQL_TOK_RPAREN) {
        promql_expr_free(a);
        promql_expr_free(b);
        unexpected(p, "in aggregation, expected \")\"");
        goto err;
    }
    e->pos_end = tok_end(&p->tok);
    advance(p);
    if (promql_agg_has_param(e->agg)) {
        if (!b) {
            promql_expr_free(a);
            fail(p, e->pos_start, "wrong number of arguments for aggregate expression provided, expected 2, got 1");
            goto err;
        }
        e->param = a;
        e->inner = b;
    } else {
        if (b) {
            promql_expr_free(a);
            promql_expr_free(b);
            fail(p, e->pos_start, "wrong number of arguments for aggregate expression provided, expected 1, got 2");
            goto err;
        }
        e->inner = a;
    }
    if (tok_is_kw(&p->tok, "by") || tok_is_kw(&p->tok, "without")) {
        if (!parse_grouping(p, e)) goto err;
        e->pos_end = p->tok.pos;
    }
    enum promql_type it = promql_expr_type(e->inner);
    if (it != PROMQL_TYPE_VECTOR) {
        fail(p, e->inner->pos_start, "expected type instant vector in aggregation expression, got %s",
             promql_type_name(it));
        goto err;
    }
    if (e->param) {
        enum promql_type pt = promql_expr_type(e->param);
        enum promql_type want = e->agg == PROMQL_AGG_COUNT_VALUES ? PROMQL_TYPE_STRING : PROMQL_TYPE_SCALAR;
        if (pt != want) {
            fail(p, e->param->pos_start, "expected type %s in aggregation parameter, got %s", promql_type_name(want),
                 promql_type_name(pt));
            goto err;
        }
    }
    return e;
err:
    promql_expr_free(e);
    return NULL;
}

static promql_expr_t *parse_primary(parser_t *p) {
    promql_token_t t = p->tok;
    switch (t.type) {
    case PROMQL_TOK_NUMBER:
    case PROMQL_TOK_DURATION: {
        promql_expr_t *e = new_node(PROMQL_NUMBER, t.pos, tok_end(&t));
        if (!number_value(&t, &e->number)) {
            promql_expr_free(e);
            return fail(p, t.pos, "error parsing number: %.*s", t.len, t.text);
        }
        e->number_is_duration = t.type == PROMQL_TOK_DURATION;
        advance(p);
        return e;
    }
    case PROMQL_TOK_STRING: {
        char err[128];
        char *s = promql_unquote(t.text, (size_t)t.len, err, sizeof err);
        if (!s) return fail(p, t.pos, "%s", err);
        promql_expr_t *e = new_node(PROMQL_STRING_LIT, t.pos, tok_end(&t));
        e->string = s;
        advance(p);
        return e;
    }
    case PROMQL_TOK_LPAREN: {
        advance(p);
        promql_expr_t *in = parse_expr(p, 0);
        if (!in) return NULL;
        if (p->tok.type != PROMQL_TOK_RPAREN) {
            promql_expr_free(in);
            return unexpected(p, "in paren expression");
        }
        promql_expr_t *e = new_node(PROMQL_PAREN, t.pos, tok_end(&p->tok));
        e->inner = in;
        advance(p);
        return e;
    }
    case PROMQL_TOK_LBRACE: {
        promql_expr_t *e = new_node(PROMQL_VECTOR_SELECTOR, t.pos, 0);
        if (!parse_matchers(p, e) || !check_selector(p, e)) {
            promql_expr_free(e);
            return NULL;
        }
        return e;
    }
    case PROMQL_TOK_IDENT: {
        if ((t.len == 3 && (strncasecmp(t.text, "inf", 3) == 0 || strncasecmp(t.text, "nan", 3) == 0))) {
            promql_expr_t *e = new_node(PROMQL_NUMBER, t.pos, tok_end(&t));
            number_value(&t, &e->number);
            advance(p);
            return e;
        }
        const promql_token_t *nx = peek(p);
        int agg = promql_agg_lookup(t.text, (size_t)t.len);
        if (agg >= 0 && (nx->type == PROMQL_TOK_LPAREN || tok_is_kw(nx, "by") || tok_is_kw(nx, "without")))
            return parse_aggregate(p, agg, t.pos);
        if (nx->type == PROMQL_TOK_LPAREN) {
            const promql_function_t *fn = promql_function_lookup(t.text, (size_t)t.len);
            if (!fn) return fail(p, t.pos, "unknown function with name \"%.*s\"", t.len, t.text);
            return parse_call(p, fn, t.pos);
        }
        static const char *reserved[] = {"and",      "or",         "unless",      "atan2", "by",     "without", "on",
                                         "ignoring", "group_left", "group_right", "bool",  "offset", "start",   "end"};
        for (size_t i = 0; i < sizeof reserved / sizeof reserved[0]; i++)
            if (tok_is_kw(&t, reserved[i])) return unexpected(p, NULL);
        if (agg >= 0) return unexpected(p, NULL);
        promql_expr_t *e = new_node(PROMQL_VECTOR_SELECTOR, t.pos, tok_end(&t));
        e->metric_name = dupn(t.text, (size_t)t.len);
        if (!add_matcher(p, e, MATCH_EQUAL, LABEL_METRIC_NAME, e->metric_name, t.pos)) {
            promql_expr_free(e);
            return NULL;
        }
        advance(p);
        if (p->tok.type == PROMQL_TOK_LBRACE) {
            if (!parse_matchers(p, e) || !check_selector(p, e)) {
                promql_expr_free(e);
                return NULL;
            }
        }
        return e;
    }
    case PROMQL_TOK_EOF: return unexpected(p, NULL);
    default: return unexpected(p, NULL);
    }
}

/* ---- postfix: [range], [range:step], offset, @ -------------------------- */

static promql_expr_t *modifier_target(promql_expr_t *e) {
    if (e->kind == PROMQL_VECTOR_SELECTOR || e->kind == PROMQL_SUBQUERY) return e;
    if (e->kind == PROMQL_MATRIX_SELECTOR) return e->inner;
    return NULL;
}

static promql_expr_t *parse_postfix(parser_t *p, promql_expr_t *e) {
    for (;;) {
        if (p->tok.type == PROMQL_TOK_LBRACKET) {
            int lb = p->tok.pos;
            advance(p);
            int64_t range;
            if (!parse_duration_arg(p, &range, "subquery or range")) goto err;
            if (p->tok.type == PROMQL_TOK_RBRACKET) {
                if (e->kind != PROMQL_VECTOR_SELECTOR) {
                    fail(p, e->pos_start, "ranges only allowed for vector selectors");
                    goto err;
                }
                if (e->offset_ms != 0 || e->at != PROMQL_AT_NONE) {
                    fail(p, lb, "no offset or @ modifiers allowed before range");
                    goto err;
                }
                if (range <= 0) {
                    fail(p, lb, "range duration must be greater than 0");
                    goto err;
                }
                promql_expr_t *m = new_node(PROMQL_MATRIX_SELECTOR, e->pos_start, tok_end(&p->tok));
                m->inner = e;
                m->range_ms = range;
                advance(p);
                e = m;
                continue;
            }
            if (p->tok.type != PROMQL_TOK_COLON) {
                unexpected(p, "in subquery or range, expected \":\" or \"]\"");
                goto err;
            }
            advance(p);
            int64_t step = 0;
            if (p->tok.type != PROMQL_TOK_RBRACKET) {
                if (!parse_duration_arg(p, &step, "subquery")) goto err;
                if (step <= 0) {
                    fail(p, lb, "step duration must be greater than 0");
                    goto err;
                }
            }
            if (p->tok.type != PROMQL_TOK_RBRACKET) {
                unexpected(p, "in subquery, expected \"]\"");
                goto err;
            }
            if (range <= 0) {
                fail(p, lb, "range duration must be greater than 0");
                goto err;
            }
            enum promql_type it = promql_expr_type(e);
            if (it != PROMQL_TYPE_VECTOR) {
                fail(p, e->pos_start, "subquery is only allowed on instant vector, got %s instead",
                     promql_type_name(it));
                goto err;
            }
            promql_expr_t *s = new_node(PROMQL_SUBQUERY, e->pos_start, tok_end(&p->tok));
            s->inner = e;
            s->range_ms = range;
            s->step_ms = step;
            advance(p);
            e = s;
            continue;
        }
        if (tok_is_kw(&p->tok, "offset")) {
            int opos = p->tok.pos;
            promql_expr_t *tgt = modifier_target(e);
            if (!tgt) {
                fail(p, opos,
                     "offset modifier must be preceded by an instant vector selector or range vector "
                     "selector or a subquery");
                goto err;
            }
            if (tgt->offset_ms != 0) {
                fail(p, opos, "offset may not be set multiple times");
                goto err;
            }
            advance(p);
            int sign = 1;
            if (p->tok.type == PROMQL_TOK_SUB) {
                sign = -1;
                advance(p);
            } else if (p->tok.type == PROMQL_TOK_ADD) {
                advance(p);
            }
            int64_t off;
            if (!parse_duration_arg(p, &off, "offset")) goto err;
            tgt->offset_ms = sign * off;
            e->pos_end = p->tok.pos;
            continue;
        }
        if (p->tok.type == PROMQL_TOK_AT) {
            int apos = p->tok.pos;
            promql_expr_t *tgt = modifier_target(e);
            if (!tgt) {
                fail(p, apos,
                     "@ modifier must be preceded by an instant vector selector or range vector selector or "
                     "a subquery");
                goto err;
            }
            if (tgt->at != PROMQL_AT_NONE) {
                fail(p, apos, "@ <timestamp> may not be set multiple times");
                goto err;
            }
            advance(p);
            if (tok_is_kw(&p->tok, "start") || tok_is_kw(&p->tok, "end")) {
                bool st = tok_is_kw(&p->tok, "start");
                advance(p);
                if (p->tok.type != PROMQL_TOK_LPAREN) {
                    unexpected(p, "in @, expected \"(\"");
                    goto err;
                }
                advance(p);
                if (p->tok.type != PROMQL_TOK_RPAREN) {
                    unexpected(p, "in @, expected \")\"");
                    goto err;
                }
                advance(p);
                tgt->at = st ? PROMQL_AT_START : PROMQL_AT_END;
                e->pos_end = p->tok.pos;
                continue;
            }
            double sign = 1;
            if (p->tok.type == PROMQL_TOK_SUB) {
                sign = -1;
                advance(p);
            } else if (p->tok.type == PROMQL_TOK_ADD) {
                advance(p);
            }
            double v;
            if ((p->tok.type != PROMQL_TOK_NUMBER && p->tok.type != PROMQL_TOK_DURATION) ||
                !number_value(&p->tok, &v)) {
                unexpected(p, "in @, expected timestamp");
                goto err;
            }
            v *= sign;
            if (!(v * 1000.0 <= 9.2e18 && v * 1000.0 >= -9.2e18)) {
                fail(p, p->tok.pos, "timestamp out of bounds for @ modifier: %g", v);
                goto err;
            }
            tgt->at = PROMQL_AT_TIMESTAMP;
            tgt->at_ms = (int64_t)llround(v * 1000.0);
            advance(p);
            e->pos_end = p->tok.pos;
            continue;
        }
        return e;
    }
err:
    promql_expr_free(e);
    return NULL;
}

/* ---- unary and binary --------------------------------------------------- */

static int binop_of(const promql_token_t *t, enum promql_op *op) {
    switch (t->type) {
    case PROMQL_TOK_ADD: *op = PROMQL_OP_ADD; return PREC_ADD;
    case PROMQL_TOK_SUB: *op = PROMQL_OP_SUB; return PREC_ADD;
    case PROMQL_TOK_MUL: *op = PROMQL_OP_MUL; return PREC_MUL;
    case PROMQL_TOK_DIV: *op = PROMQL_OP_DIV; return PREC_MUL;
    case PROMQL_TOK_MOD: *op = PROMQL_OP_MOD; return PREC_MUL;
    case PROMQL_TOK_POW: *op = PROMQL_OP_POW; return PREC_POW;
    case PROMQL_TOK_EQLC: *op = PROMQL_OP_EQL; return PREC_CMP;
    case PROMQL_TOK_NEQ: *op = PROMQL_OP_NEQ; return PREC_CMP;
    case PROMQL_TOK_GTR: *op = PROMQL_OP_GTR; return PREC_CMP;
    case PROMQL_TOK_LSS: *op = PROMQL_OP_LSS; return PREC_CMP;
    case PROMQL_TOK_GTE: *op = PROMQL_OP_GTE; return PREC_CMP;
    case PROMQL_TOK_LTE: *op = PROMQL_OP_LTE; return PREC_CMP;
    case PROMQL_TOK_IDENT:
        if (tok_is_kw(t, "and")) return *op = PROMQL_OP_AND, PREC_AND;
        if (tok_is_kw(t, "unless")) return *op = PROMQL_OP_UNLESS, PREC_AND;
        if (tok_is_kw(t, "or")) return *op = PROMQL_OP_OR, PREC_OR;
        if (tok_is_kw(t, "atan2")) return *op = PROMQL_OP_ATAN2, PREC_MUL;
        return 0;
    default: return 0;
    }
}

static promql_expr_t *parse_unary(parser_t *p) {
    if (p->tok.type == PROMQL_TOK_SUB || p->tok.type == PROMQL_TOK_ADD) {
        promql_token_t t = p->tok;
        advance(p);
        promql_expr_t *in = parse_expr(p, PREC_POW);
        if (!in) return NULL;
        if (in->kind == PROMQL_NUMBER) {
            if (t.type == PROMQL_TOK_SUB) in->number = -in->number;
            in->pos_start = t.pos;
            return in;
        }
        enum promql_type it = promql_expr_type(in);
        if (it != PROMQL_TYPE_SCALAR && it != PROMQL_TYPE_VECTOR) {
            fail(p, in->pos_start,
                 "unary expression only allowed on expressions of type scalar or instant vector, got %s",
                 promql_type_name(it));
            promql_expr_free(in);
            return NULL;
        }
        promql_expr_t *e = new_node(PROMQL_UNARY, t.pos, in->pos_end);
        e->op = t.type == PROMQL_TOK_SUB ? PROMQL_OP_SUB : PROMQL_OP_ADD;
        e->inner = in;
        return e;
    }
    promql_expr_t *e = parse_primary(p);
    if (!e) return NULL;
    return parse_postfix(p, e);
}

static bool check_binary(parser_t *p, promql_expr_t *e, int oppos) {
    enum promql_type lt = promql_expr_type(e->lhs), rt = promql_expr_type(e->rhs);
    if (e->return_bool && !promql_op_is_comparison(e->op)) {
        fail(p, oppos, "bool modifier can only be used on comparison operators");
        return false;
    }
    if (promql_op_is_comparison(e->op) && !e->return_bool && lt == PROMQL_TYPE_SCALAR && rt == PROMQL_TYPE_SCALAR) {
        fail(p, oppos, "comparisons between scalars must use BOOL modifier");
        return false;
    }
    if (promql_op_is_set(e->op) && e->card == PROMQL_CARD_ONE_TO_ONE) e->card = PROMQL_CARD_MANY_TO_MANY;
    if (e->matching_on)
        for (size_t i = 0; i < e->nmatching_labels; i++)
            for (size_t j = 0; j < e->ninclude_labels; j++)
                if (strcmp(e->matching_labels[i], e->include_labels[j]) == 0) {
                    fail(p, oppos, "label \"%s\" must not occur in ON and GROUP clause at once", e->include_labels[j]);
                    return false;
                }
    if (lt != PROMQL_TYPE_SCALAR && lt != PROMQL_TYPE_VECTOR) {
        fail(p, e->lhs->pos_start, "binary expression must contain only scalar and instant vector types");
        return false;
    }
    if (rt != PROMQL_TYPE_SCALAR && rt != PROMQL_TYPE_VECTOR) {
        fail(p, e->rhs->pos_start, "binary expression must contain only scalar and instant vector types");
        return false;
    }
    if (lt != PROMQL_TYPE_VECTOR || rt != PROMQL_TYPE_VECTOR) {
        if (e->has_matching && e->nmatching_labels > 0) {
            fail(p, oppos, "vector matching only allowed between instant vectors");
            return false;
        }
        e->has_matching = false;
        e->card = PROMQL_CARD_ONE_TO_ONE;
    } else if (promql_op_is_set(e->op)) {
        if (e->card == PROMQL_CARD_ONE_TO_MANY || e->card == PROMQL_CARD_MANY_TO_ONE) {
            fail(p, oppos, "no grouping allowed for \"%s\" operation", promql_op_str(e->op));
            return false;
        }
    }
    if ((lt == PROMQL_TYPE_SCALAR || rt == PROMQL_TYPE_SCALAR) && promql_op_is_set(e->op)) {
        fail(p, oppos, "set operator \"%s\" not allowed in binary scalar expression", promql_op_str(e->op));
        return false;
    }
    return true;
}

static promql_expr_t *parse_expr(parser_t *p, int min_prec) {
    promql_expr_t *lhs = parse_unary(p);
    if (!lhs) return NULL;
    for (;;) {
        enum promql_op op;
        int prec = binop_of(&p->tok, &op);
        if (prec == 0 || prec < min_prec) return lhs;
        int oppos = p->tok.pos;
        advance(p);
        promql_expr_t *e = new_node(PROMQL_BINARY, lhs->pos_start, 0);
        e->op = op;
        e->lhs = lhs;
        if (tok_is_kw(&p->tok, "bool")) {
            e->return_bool = true;
            advance(p);
        }
        if (tok_is_kw(&p->tok, "on") || tok_is_kw(&p->tok, "ignoring")) {
            e->has_matching = true;
            e->matching_on = tok_is_kw(&p->tok, "on");
            advance(p);
            if (!parse_label_list(p, &e->matching_labels, &e->nmatching_labels, "in grouping opts, expected label"))
                goto err;
            if (tok_is_kw(&p->tok, "group_left") || tok_is_kw(&p->tok, "group_right")) {
                e->card = tok_is_kw(&p->tok, "group_left") ? PROMQL_CARD_MANY_TO_ONE : PROMQL_CARD_ONE_TO_MANY;
                advance(p);
                if (p->tok.type == PROMQL_TOK_LPAREN &&
                    !parse_label_list(p, &e->include_labels, &e->ninclude_labels, "in grouping opts, expected label"))
                    goto err;
            }
        } else if (tok_is_kw(&p->tok, "group_left") || tok_is_kw(&p->tok, "group_right")) {
            unexpected(p, NULL);
            goto err;
        }
        e->rhs = parse_expr(p, op == PROMQL_OP_POW ? prec : prec + 1);
        if (!e->rhs) goto err;
        e->pos_end = e->rhs->pos_end;
        if (!check_binary(p, e, oppos)) goto err;
        lhs = e;
        continue;
    err:
        promql_expr_free(e);
        return NULL;
    }
}

int promql_parse(const char *query, promql_expr_t **out, pl_err_t *err) {
    parser_t p;
    memset(&p, 0, sizeof p);
    p.query = query;
    *out = NULL;
    promql_lex_init(&p.lx, query);
    advance(&p);
    promql_expr_t *e = NULL;
    if (p.tok.type == PROMQL_TOK_EOF) {
        fail(&p, 0, "no expression found in input");
    } else {
        e = parse_expr(&p, 0);
        if (e && p.tok.type != PROMQL_TOK_EOF) unexpected(&p, NULL);
    }
    if (p.failed) {
        promql_expr_free(e);
        int line = 1, col;
        int last_nl = -1;
        for (int i = 0; i < p.err_pos && query[i]; i++)
            if (query[i] == '\n') {
                line++;
                last_nl = i;
            }
        col = p.err_pos - last_nl;
        if (strcmp(p.err, "no expression found in input") == 0 && p.lx.len == 0)
            return pl_err_set(err, "unknown position: parse error: %s", p.err);
        return pl_err_set(err, "%d:%d: parse error: %s", line, col, p.err);
    }
    *out = e;
    return 0;
}
