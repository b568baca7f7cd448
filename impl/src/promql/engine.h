/* engine.h — evaluating PromQL: instant and range queries over a queryable.
 *
 * The engine reads storage only through model/storage.h's queryable_t. A
 * query runs in its own arena: every label string, sample array and
 * intermediate value lives there and goes away with promql_result_free.
 *
 * Evaluation is step-wise over a grid of timestamps (an instant query is a
 * grid of one step): every node produces, for each of its series, one value
 * slot per step. Series identities are fixed per node, so matching work
 * (binary-operator signatures, aggregation groups) is done once per node and
 * then reused at every step. Semantics are Prometheus 3's for floats:
 * left-open lookback and range windows, staleness markers ending a series,
 * delayed metric-name removal, Prometheus's error and annotation texts. */
#ifndef PL_PROMQL_ENGINE_H
#define PL_PROMQL_ENGINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "model/labels.h"
#include "model/storage.h"
#include "promql/ast.h"
#include "promql/parser.h"
#include "util/err.h"
#include "util/json.h"

typedef struct promql_engine_opts {
    int64_t lookback_ms;      /* default 5m when 0 */
    size_t max_samples;       /* 0: unlimited (Prometheus's default is 50000000) */
    int64_t timeout_ms;       /* 0: none */
    int64_t subquery_step_ms; /* step of subqueries without one; default 1m when 0 */
    /* Polled during evaluation; returning true cancels the query. May be NULL. */
    bool (*canceled)(void *ctx);
    void *cancel_ctx;
} promql_engine_opts_t;

typedef struct promql_engine promql_engine_t;

promql_engine_t *promql_engine_new(const promql_engine_opts_t *opts);
void promql_engine_free(promql_engine_t *e);

/* Error classes as the HTTP API maps them (errorType). */
enum promql_errtype {
    PROMQL_ERR_NONE = 0,
    PROMQL_ERR_BAD_DATA,  /* parse errors, invalid parameters */
    PROMQL_ERR_EXECUTION, /* evaluation errors */
    PROMQL_ERR_TIMEOUT,
    PROMQL_ERR_CANCELED,
};
const char *promql_errtype_str(enum promql_errtype t); /* "bad_data", "execution", "timeout", "canceled" */

typedef struct promql_error {
    enum promql_errtype type;
    char msg[PL_ERR_MAX];
} promql_error_t;

typedef struct promql_series {
    label_t *labels; /* sorted; strings owned by the result */
    size_t nlabels;
    sample_t *samples; /* vector: one sample at the evaluation time */
    size_t nsamples;
} promql_series_t;

typedef struct promql_result {
    enum promql_type type; /* SCALAR, VECTOR, MATRIX or STRING */
    promql_series_t *series;
    size_t nseries;
    double scalar; /* SCALAR */
    int64_t t;     /* SCALAR / STRING: the evaluation time */
    const char *string;
    /* Annotations, de-duplicated, in the order first raised:
     * "PromQL warning: ..." and "PromQL info: ...". */
    const char **warnings;
    const int *warning_pos; /* byte offset in the query of what each is about */
    size_t nwarnings;
    const char **infos;
    const int *info_pos;
    size_t ninfos;
    void *arena; /* private */
} promql_result_t;

/* Parses and evaluates at t_ms. On error fills err and returns -1 (res is
 * then empty but must still be freed with promql_result_free). */
int promql_exec_instant(promql_engine_t *eng, const queryable_t *q, const char *query, int64_t t_ms,
                        promql_result_t *res, promql_error_t *err);
int promql_exec_instant_expr(promql_engine_t *eng, const queryable_t *q, const promql_expr_t *expr, int64_t t_ms,
                             promql_result_t *res, promql_error_t *err);
/* Range query: steps start, start+step, ... <= end. The result is a matrix
 * (a scalar expression gives one series without labels). */
int promql_exec_range(promql_engine_t *eng, const queryable_t *q, const char *query, int64_t start_ms, int64_t end_ms,
                      int64_t step_ms, promql_result_t *res, promql_error_t *err);
int promql_exec_range_expr(promql_engine_t *eng, const queryable_t *q, const promql_expr_t *expr, int64_t start_ms,
                           int64_t end_ms, int64_t step_ms, promql_result_t *res, promql_error_t *err);
void promql_result_free(promql_result_t *res);

/* An annotation as the HTTP API shows it: the text, then " (line:col)" of
 * its expression in query (Prometheus's AsStrings). */
void promql_annotation_format(strbuf_t *sb, const char *query, const char *text, int pos);

/* Writes {"resultType":..., "result":...} as /api/v1/query(_range) "data". */
void promql_result_write_json(const promql_result_t *res, jsonw_t *w);

#endif
