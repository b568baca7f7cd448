/* parser.h — PromQL text to syntax tree.
 *
 * A recursive-descent parser over lexer.h with Prometheus 3's grammar,
 * precedence (or < and/unless < comparisons < +,- < *,/,%,atan2 < ^, with ^
 * right-associative and unary minus binding like *) and its type checks.
 * Errors read as Prometheus's: "1:5: parse error: unexpected ..." where
 * line:column is 1-based. */
#ifndef PL_PROMQL_PARSER_H
#define PL_PROMQL_PARSER_H

#include "promql/ast.h"
#include "util/err.h"

/* On success *out owns the tree (promql_expr_free). On failure returns -1, *out = NULL. */
int promql_parse(const char *query, promql_expr_t **out, pl_err_t *err);

#endif
