/* pretty.c — Prometheus's PromQL prettifier (promql/parser/prettier.go's
 * rules), for /api/v1/format_query.
 *
 * A node whose String() is at most 100 characters is written as it is,
 * indented two spaces per level. A longer one is split: an aggregation as
 * `sum by (job) (` / param, / expr / `)`, a call as `name(` / args joined by
 * ",\n" / `)`, a binary operation as lhs / operator with its matching / rhs,
 * a parenthesis as `(` / expr / `)`, a subquery as its expression followed by
 * the `[range:step]` suffix; a unary minus is put in front of its operand's
 * (trimmed) text. Selectors and literals never split. */
#include <string.h>

#include "promql/ast.h"
#include "promql/functions.h"

#define MAX_CHARS_PER_LINE 100

static void indent(strbuf_t *sb, int level) {
    for (int i = 0; i < level; i++)
        strbuf_puts(sb, "  ");
}

static bool needs_split(const promql_expr_t *e) {
    strbuf_t s = STRBUF_INIT;
    promql_expr_format(&s, e);
    bool split = s.len > MAX_CHARS_PER_LINE;
    strbuf_free(&s);
    return split;
}

static void pretty(strbuf_t *sb, const promql_expr_t *e, int level) {
    if (e->kind == PROMQL_UNARY) {
        strbuf_t child = STRBUF_INIT;
        pretty(&child, e->inner, level);
        const char *c = child.data ? child.data : "";
        while (*c == ' ')
            c++;
        indent(sb, level);
        strbuf_puts(sb, promql_op_str(e->op));
        strbuf_puts(sb, c);
        strbuf_free(&child);
        return;
    }
    bool splittable = e->kind == PROMQL_AGGREGATE || e->kind == PROMQL_BINARY || e->kind == PROMQL_CALL ||
                      e->kind == PROMQL_PAREN || e->kind == PROMQL_SUBQUERY;
    if (!splittable || !needs_split(e)) {
        indent(sb, level);
        promql_expr_format(sb, e);
        return;
    }
    switch (e->kind) {
    case PROMQL_AGGREGATE:
        indent(sb, level);
        promql_expr_format_agg_head(sb, e);
        strbuf_puts(sb, "(\n");
        if (e->param) {
            pretty(sb, e->param, level + 1);
            strbuf_puts(sb, ",\n");
        }
        pretty(sb, e->inner, level + 1);
        strbuf_putc(sb, '\n');
        indent(sb, level);
        strbuf_putc(sb, ')');
        break;
    case PROMQL_BINARY:
        pretty(sb, e->lhs, level + 1);
        strbuf_putc(sb, '\n');
        indent(sb, level);
        promql_expr_format_binop(sb, e);
        strbuf_putc(sb, '\n');
        pretty(sb, e->rhs, level + 1);
        break;
    case PROMQL_CALL:
        indent(sb, level);
        strbuf_puts(sb, e->func->name);
        strbuf_puts(sb, "(\n");
        for (size_t i = 0; i < e->nargs; i++) {
            if (i) strbuf_puts(sb, ",\n");
            pretty(sb, e->args[i], level + 1);
        }
        strbuf_putc(sb, '\n');
        indent(sb, level);
        strbuf_putc(sb, ')');
        break;
    case PROMQL_PAREN:
        indent(sb, level);
        strbuf_puts(sb, "(\n");
        pretty(sb, e->inner, level + 1);
        strbuf_putc(sb, '\n');
        indent(sb, level);
        strbuf_putc(sb, ')');
        break;
    case PROMQL_SUBQUERY:
        pretty(sb, e->inner, level);
        promql_expr_format_subquery_suffix(sb, e);
        break;
    default: break;
    }
}

void promql_expr_pretty(strbuf_t *sb, const promql_expr_t *e) { pretty(sb, e, 0); }
