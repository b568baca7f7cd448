/* ast.c — freeing, typing and printing PromQL syntax trees. See ast.h. */
#include "promql/ast.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/labels.h"
#include "promql/functions.h"
#include "util/timeutil.h"

static const char *type_names[] = {"none", "scalar", "instant vector", "range vector", "string"};
static const char *type_api_names[] = {"none", "scalar", "vector", "matrix", "string"};
const char *promql_type_name(enum promql_type t) { return type_names[t]; }
const char *promql_type_api_name(enum promql_type t) { return type_api_names[t]; }

static const char *op_names[] = {
    "", "+", "-", "*", "/", "%", "^", "atan2", "==", "!=", ">", "<", ">=", "<=", "and", "or", "unless"};
const char *promql_op_str(enum promql_op op) { return op_names[op]; }
bool promql_op_is_comparison(enum promql_op op) { return op >= PROMQL_OP_EQL && op <= PROMQL_OP_LTE; }
bool promql_op_is_set(enum promql_op op) { return op >= PROMQL_OP_AND && op <= PROMQL_OP_UNLESS; }

static const char *agg_names[] = {"sum",    "avg",  "min",     "max",      "count",        "group",  "stddev",
                                  "stdvar", "topk", "bottomk", "quantile", "count_values", "limitk", "limit_ratio"};
const char *promql_agg_name(enum promql_agg_op op) { return agg_names[op]; }
bool promql_agg_has_param(enum promql_agg_op op) {
    return op == PROMQL_AGG_TOPK || op == PROMQL_AGG_BOTTOMK || op == PROMQL_AGG_QUANTILE ||
           op == PROMQL_AGG_COUNT_VALUES || op == PROMQL_AGG_LIMITK || op == PROMQL_AGG_LIMIT_RATIO;
}
int promql_agg_lookup(const char *name, size_t n) {
    for (size_t i = 0; i < sizeof agg_names / sizeof agg_names[0]; i++)
        if (strlen(agg_names[i]) == n && strncasecmp(agg_names[i], name, n) == 0) return (int)i;
    return -1;
}

static void free_strs(char **s, size_t n) {
    for (size_t i = 0; i < n; i++)
        free(s[i]);
    free(s);
}

void promql_expr_free(promql_expr_t *e) {
    if (!e) return;
    free(e->string);
    free(e->metric_name);
    matchers_free(e->matchers, e->nmatchers);
    free_strs(e->matching_labels, e->nmatching_labels);
    free_strs(e->include_labels, e->ninclude_labels);
    promql_expr_free(e->inner);
    promql_expr_free(e->lhs);
    promql_expr_free(e->rhs);
    for (size_t i = 0; i < e->nargs; i++)
        promql_expr_free(e->args[i]);
    free(e->args);
    promql_expr_free(e->param);
    free_strs(e->grouping, e->ngrouping);
    free(e);
}

enum promql_type promql_expr_type(const promql_expr_t *e) {
    switch (e->kind) {
    case PROMQL_NUMBER: return PROMQL_TYPE_SCALAR;
    case PROMQL_STRING_LIT: return PROMQL_TYPE_STRING;
    case PROMQL_VECTOR_SELECTOR: return PROMQL_TYPE_VECTOR;
    case PROMQL_MATRIX_SELECTOR:
    case PROMQL_SUBQUERY: return PROMQL_TYPE_MATRIX;
    case PROMQL_UNARY:
    case PROMQL_PAREN: return promql_expr_type(e->inner);
    case PROMQL_BINARY:
        if (promql_expr_type(e->lhs) == PROMQL_TYPE_SCALAR && promql_expr_type(e->rhs) == PROMQL_TYPE_SCALAR)
            return PROMQL_TYPE_SCALAR;
        return PROMQL_TYPE_VECTOR;
    case PROMQL_CALL: return e->func->ret;
    case PROMQL_AGGREGATE: return PROMQL_TYPE_VECTOR;
    }
    return PROMQL_TYPE_NONE;
}

/* Go's strconv.Quote for the printable ASCII and UTF-8 we meet in queries. */
static void go_quote(strbuf_t *sb, const char *s) {
    strbuf_putc(sb, '"');
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        switch (*p) {
        case '"': strbuf_puts(sb, "\\\""); break;
        case '\\': strbuf_puts(sb, "\\\\"); break;
        case '\n': strbuf_puts(sb, "\\n"); break;
        case '\r': strbuf_puts(sb, "\\r"); break;
        case '\t': strbuf_puts(sb, "\\t"); break;
        case '\a': strbuf_puts(sb, "\\a"); break;
        case '\b': strbuf_puts(sb, "\\b"); break;
        case '\f': strbuf_puts(sb, "\\f"); break;
        case '\v': strbuf_puts(sb, "\\v"); break;
        default:
            if (*p < 0x20 || *p == 0x7f)
                strbuf_printf(sb, "\\x%02x", *p);
            else
                strbuf_putc(sb, (char)*p);
        }
    }
    strbuf_putc(sb, '"');
}

static void write_label_name(strbuf_t *sb, const char *s) {
    if (label_name_valid(s, strlen(s)))
        strbuf_puts(sb, s);
    else
        go_quote(sb, s);
}

static void write_labels(strbuf_t *sb, char **ls, size_t n) {
    for (size_t i = 0; i < n; i++) {
        if (i) strbuf_puts(sb, ", ");
        write_label_name(sb, ls[i]);
    }
}

static void write_duration(strbuf_t *sb, int64_t ms) {
    char buf[64];
    pl_format_duration(buf, sizeof buf, ms);
    strbuf_puts(sb, buf);
}

static void write_at_offset(strbuf_t *sb, const promql_expr_t *e) {
    switch (e->at) {
    case PROMQL_AT_TIMESTAMP: strbuf_printf(sb, " @ %.3f", (double)e->at_ms / 1000.0); break;
    case PROMQL_AT_START: strbuf_puts(sb, " @ start()"); break;
    case PROMQL_AT_END: strbuf_puts(sb, " @ end()"); break;
    default: break;
    }
    if (e->offset_ms > 0) {
        strbuf_puts(sb, " offset ");
        write_duration(sb, e->offset_ms);
    } else if (e->offset_ms < 0) {
        strbuf_puts(sb, " offset -");
        write_duration(sb, -e->offset_ms);
    }
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* A metric name that would not read back as a bare name: not a legacy
 * name, or a keyword / aggregation / number word of the grammar. */
static bool name_needs_quotes(const char *name) {
    static const char *words[] = {"and",         "or",   "unless", "atan2", "by",  "without", "on",  "ignoring",
                                  "group_left", "group_right", "bool", "offset", "start", "end", "inf", "nan"};
    size_t n = strlen(name);
    if (!metric_name_valid(name, n)) return true;
    for (size_t i = 0; i < sizeof words / sizeof words[0]; i++)
        if (strcasecmp(name, words[i]) == 0) return true;
    return promql_agg_lookup(name, n) >= 0;
}

static void write_selector_body(strbuf_t *sb, const promql_expr_t *e) {
    bool quoted_name = e->metric_name && name_needs_quotes(e->metric_name);
    if (e->metric_name && !quoted_name) strbuf_puts(sb, e->metric_name);
    char **strs = calloc(e->nmatchers + 1, sizeof *strs);
    size_t n = 0;
    for (size_t i = 0; i < e->nmatchers; i++) {
        const matcher_t *m = &e->matchers[i];
        if (e->metric_name && strcmp(m->name, LABEL_METRIC_NAME) == 0 && m->type == MATCH_EQUAL &&
            strcmp(m->value, e->metric_name) == 0 && m->value[0])
            continue;
        strbuf_t tmp = STRBUF_INIT;
        write_label_name(&tmp, m->name);
        strbuf_puts(&tmp, matcher_type_str(m->type));
        go_quote(&tmp, m->value);
        strs[n++] = strbuf_detach(&tmp);
    }
    if (quoted_name) {
        strbuf_putc(sb, '{');
        go_quote(sb, e->metric_name);
        if (n) qsort(strs, n, sizeof *strs, cmp_str);
        for (size_t i = 0; i < n; i++) {
            strbuf_putc(sb, ',');
            strbuf_puts(sb, strs[i]);
        }
        strbuf_putc(sb, '}');
    } else if (n) {
        qsort(strs, n, sizeof *strs, cmp_str);
        strbuf_putc(sb, '{');
        for (size_t i = 0; i < n; i++) {
            if (i) strbuf_putc(sb, ',');
            strbuf_puts(sb, strs[i]);
        }
        strbuf_putc(sb, '}');
    }
    free_strs(strs, n);
}

void promql_expr_format_binop(strbuf_t *sb, const promql_expr_t *e) {
    strbuf_puts(sb, promql_op_str(e->op));
    if (e->return_bool) strbuf_puts(sb, " bool");
    if (e->has_matching) {
        bool grouped = e->card == PROMQL_CARD_MANY_TO_ONE || e->card == PROMQL_CARD_ONE_TO_MANY;
        if (e->nmatching_labels > 0 || e->matching_on || grouped) {
            strbuf_puts(sb, e->matching_on ? " on (" : " ignoring (");
            write_labels(sb, e->matching_labels, e->nmatching_labels);
            strbuf_putc(sb, ')');
        }
        if (grouped) {
            strbuf_puts(sb, e->card == PROMQL_CARD_MANY_TO_ONE ? " group_left (" : " group_right (");
            write_labels(sb, e->include_labels, e->ninclude_labels);
            strbuf_putc(sb, ')');
        }
    }
}

void promql_expr_format_agg_head(strbuf_t *sb, const promql_expr_t *e) {
    strbuf_puts(sb, promql_agg_name(e->agg));
    if (e->without) {
        strbuf_puts(sb, " without (");
        write_labels(sb, e->grouping, e->ngrouping);
        strbuf_puts(sb, ") ");
    } else if (e->ngrouping > 0) {
        strbuf_puts(sb, " by (");
        write_labels(sb, e->grouping, e->ngrouping);
        strbuf_puts(sb, ") ");
    }
}

void promql_expr_format_subquery_suffix(strbuf_t *sb, const promql_expr_t *e) {
    strbuf_putc(sb, '[');
    write_duration(sb, e->range_ms);
    strbuf_putc(sb, ':');
    if (e->step_ms) write_duration(sb, e->step_ms);
    strbuf_putc(sb, ']');
    write_at_offset(sb, e);
}

void promql_expr_format(strbuf_t *sb, const promql_expr_t *e) {
    switch (e->kind) {
    case PROMQL_NUMBER: {
        if (e->number_is_duration && e->number == e->number) {
            int64_t ms = (int64_t)(e->number * 1000.0);
            if (ms < 0) {
                strbuf_putc(sb, '-');
                ms = -ms;
            }
            write_duration(sb, ms);
            break;
        }
        if (e->number != e->number)
            strbuf_puts(sb, "NaN");
        else if (e->number > 1e308)
            /* after a unary sign, "+Inf" would read back as one more unary plus */
            strbuf_puts(sb, sb->len && (sb->data[sb->len - 1] == '+' || sb->data[sb->len - 1] == '-') ? "Inf" : "+Inf");
        else if (e->number < -1e308)
            strbuf_puts(sb, "-Inf");
        else {
            /* strconv.FormatFloat(v, 'f', -1, 64): shortest digits, no exponent. */
            char buf[400];
            for (int prec = 0; prec < 330; prec++) {
                snprintf(buf, sizeof buf, "%.*f", prec, e->number);
                if (strtod(buf, NULL) == e->number) break;
            }
            strbuf_puts(sb, buf);
        }
        break;
    }
    case PROMQL_STRING_LIT: go_quote(sb, e->string); break;
    case PROMQL_VECTOR_SELECTOR:
        write_selector_body(sb, e);
        write_at_offset(sb, e);
        break;
    case PROMQL_MATRIX_SELECTOR:
        write_selector_body(sb, e->inner);
        strbuf_putc(sb, '[');
        write_duration(sb, e->range_ms);
        strbuf_putc(sb, ']');
        write_at_offset(sb, e->inner);
        break;
    case PROMQL_SUBQUERY:
        promql_expr_format(sb, e->inner);
        promql_expr_format_subquery_suffix(sb, e);
        break;
    case PROMQL_UNARY:
        strbuf_puts(sb, promql_op_str(e->op));
        promql_expr_format(sb, e->inner);
        break;
    case PROMQL_PAREN:
        strbuf_putc(sb, '(');
        promql_expr_format(sb, e->inner);
        strbuf_putc(sb, ')');
        break;
    case PROMQL_BINARY:
        promql_expr_format(sb, e->lhs);
        strbuf_putc(sb, ' ');
        promql_expr_format_binop(sb, e);
        strbuf_putc(sb, ' ');
        promql_expr_format(sb, e->rhs);
        break;
    case PROMQL_CALL:
        strbuf_puts(sb, e->func->name);
        strbuf_putc(sb, '(');
        for (size_t i = 0; i < e->nargs; i++) {
            if (i) strbuf_puts(sb, ", ");
            promql_expr_format(sb, e->args[i]);
        }
        strbuf_putc(sb, ')');
        break;
    case PROMQL_AGGREGATE:
        promql_expr_format_agg_head(sb, e);
        strbuf_putc(sb, '(');
        if (e->param) {
            promql_expr_format(sb, e->param);
            strbuf_puts(sb, ", ");
        }
        promql_expr_format(sb, e->inner);
        strbuf_putc(sb, ')');
        break;
    }
}
