/* ast.h — the PromQL syntax tree and its printer.
 *
 * The parser (parser.h) builds a tree of promql_expr_t nodes; the engine
 * (engine.h) evaluates it. Every node owns its children and strings; one
 * promql_expr_free releases the whole tree. Positions are byte offsets into
 * the query text (start inclusive, end exclusive), used in error messages.
 *
 * promql_expr_format writes a node as Prometheus's String() does (the
 * format_query API endpoint and error messages use it). */
#ifndef PL_PROMQL_AST_H
#define PL_PROMQL_AST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "model/matcher.h"
#include "util/strbuf.h"

enum promql_type {
    PROMQL_TYPE_NONE = 0,
    PROMQL_TYPE_SCALAR,
    PROMQL_TYPE_VECTOR,
    PROMQL_TYPE_MATRIX,
    PROMQL_TYPE_STRING
};
const char *promql_type_name(enum promql_type t);     /* "scalar", "instant vector", "range vector", "string" */
const char *promql_type_api_name(enum promql_type t); /* "scalar", "vector", "matrix", "string" */

enum promql_node_kind {
    PROMQL_NUMBER,
    PROMQL_STRING_LIT,
    PROMQL_VECTOR_SELECTOR,
    PROMQL_MATRIX_SELECTOR, /* .inner is the vector selector, .range_ms the range */
    PROMQL_SUBQUERY,        /* .inner, .range_ms, .step_ms (0: the query's step) */
    PROMQL_UNARY,           /* .op is PROMQL_OP_SUB or PROMQL_OP_ADD, .inner */
    PROMQL_BINARY,
    PROMQL_PAREN,
    PROMQL_CALL,
    PROMQL_AGGREGATE,
};

enum promql_op {
    PROMQL_OP_NONE = 0,
    /* arithmetic */
    PROMQL_OP_ADD,
    PROMQL_OP_SUB,
    PROMQL_OP_MUL,
    PROMQL_OP_DIV,
    PROMQL_OP_MOD,
    PROMQL_OP_POW,
    PROMQL_OP_ATAN2,
    /* comparison */
    PROMQL_OP_EQL,
    PROMQL_OP_NEQ,
    PROMQL_OP_GTR,
    PROMQL_OP_LSS,
    PROMQL_OP_GTE,
    PROMQL_OP_LTE,
    /* set */
    PROMQL_OP_AND,
    PROMQL_OP_OR,
    PROMQL_OP_UNLESS,
};
const char *promql_op_str(enum promql_op op);
bool promql_op_is_comparison(enum promql_op op);
bool promql_op_is_set(enum promql_op op);

enum promql_agg_op {
    PROMQL_AGG_SUM,
    PROMQL_AGG_AVG,
    PROMQL_AGG_MIN,
    PROMQL_AGG_MAX,
    PROMQL_AGG_COUNT,
    PROMQL_AGG_GROUP,
    PROMQL_AGG_STDDEV,
    PROMQL_AGG_STDVAR,
    PROMQL_AGG_TOPK,
    PROMQL_AGG_BOTTOMK,
    PROMQL_AGG_QUANTILE,
    PROMQL_AGG_COUNT_VALUES,
    PROMQL_AGG_LIMITK,
    PROMQL_AGG_LIMIT_RATIO,
};
const char *promql_agg_name(enum promql_agg_op op);
bool promql_agg_has_param(enum promql_agg_op op);
/* Looks up an aggregation by name; -1 if none. */
int promql_agg_lookup(const char *name, size_t n);

enum promql_card { PROMQL_CARD_ONE_TO_ONE, PROMQL_CARD_MANY_TO_ONE, PROMQL_CARD_ONE_TO_MANY, PROMQL_CARD_MANY_TO_MANY };
enum promql_at { PROMQL_AT_NONE, PROMQL_AT_TIMESTAMP, PROMQL_AT_START, PROMQL_AT_END };

typedef struct promql_function promql_function_t; /* see functions.h */

typedef struct promql_expr promql_expr_t;
struct promql_expr {
    enum promql_node_kind kind;
    int pos_start, pos_end;

    double number; /* PROMQL_NUMBER */
    bool number_is_duration;
    char *string; /* PROMQL_STRING_LIT (owned) */

    /* selectors */
    char *metric_name;   /* may be NULL */
    matcher_t *matchers; /* includes __name__="metric_name" when a name is given */
    size_t nmatchers;
    /* selectors and subqueries */
    int64_t offset_ms;
    enum promql_at at;
    int64_t at_ms;
    int64_t range_ms; /* matrix selector, subquery */
    int64_t step_ms;  /* subquery */

    enum promql_op op; /* unary, binary */
    bool return_bool;
    bool has_matching; /* on/ignoring/group_* given */
    bool matching_on;  /* on(...) rather than ignoring(...) */
    enum promql_card card;
    char **matching_labels;
    size_t nmatching_labels;
    char **include_labels; /* group_left/right(...) */
    size_t ninclude_labels;

    promql_expr_t *inner; /* matrix selector's vector selector, subquery, unary, paren, aggregation */
    promql_expr_t *lhs, *rhs;

    const promql_function_t *func; /* call */
    promql_expr_t **args;
    size_t nargs;

    enum promql_agg_op agg;
    promql_expr_t *param;
    char **grouping;
    size_t ngrouping;
    bool without;
    bool by_given; /* "by ()" was written */
};

void promql_expr_free(promql_expr_t *e);
enum promql_type promql_expr_type(const promql_expr_t *e);
/* Prometheus's String() of the node. */
void promql_expr_format(strbuf_t *sb, const promql_expr_t *e);
/* Pieces of it: a binary node's operator with bool and matching
 * ("+ on (a) group_left (b)"), an aggregation's name and grouping
 * ("sum by (job) "), a subquery's "[5m:1m] @ ... offset ...". */
void promql_expr_format_binop(strbuf_t *sb, const promql_expr_t *e);
void promql_expr_format_agg_head(strbuf_t *sb, const promql_expr_t *e);
void promql_expr_format_subquery_suffix(strbuf_t *sb, const promql_expr_t *e);
/* Prometheus's Prettify (what /api/v1/format_query answers): String() when
 * it fits in 100 characters, else split over indented lines node by node. */
void promql_expr_pretty(strbuf_t *sb, const promql_expr_t *e);

#endif
