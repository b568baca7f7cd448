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
    /* Queries evaluated at once (Prometheus's --query.max-concurrency); more
     * wait in a queue (counted against their timeout). 0: no limit. */
    int max_concurrency;
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

/* Per-query statistics (Prometheus's stats=all and the query log). Times in
 * seconds: exec_queue waiting for a concurrency slot; prepare in storage
 * selects; inner_eval evaluating the rest; result_sort sorting the result;
 * eval_total = prepare + inner_eval + result_sort; exec_total from entry to
 * exit. total_queryable_samples counts the samples read from storage for
 * every step (a sample in the windows of 5 steps counts 5 times), as
 * Prometheus does; peak_samples is the most samples the query held (here an
 * upper bound: the engine keeps every node's values until the end). */
typedef struct promql_query_stats {
    double exec_queue_s, prepare_s, inner_eval_s, result_sort_s, eval_total_s, exec_total_s;
    uint64_t total_queryable_samples, peak_samples;
} promql_query_stats_t;

/* Writes {"timings":{...},"samples":{...}} as Prometheus's stats object. */
void promql_stats_write_json(const promql_query_stats_t *st, jsonw_t *w);

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
    promql_query_stats_t stats; /* filled on success and on failure */
    void *arena;                /* private */
} promql_result_t;

/* Who asked, for the query log (all may be NULL), and a per-query timeout
 * (the API's timeout parameter; the engine's own still applies when shorter). */
typedef struct promql_exec_opts {
    const char *client_ip, *method, *path;
    int64_t timeout_ms;  /* 0: the engine's */
    int64_t lookback_ms; /* 0: the engine's (--query.lookback-delta) */
} promql_exec_opts_t;

/* The general entry point: an instant query at start_ms when step_ms is 0,
 * else a range query. Waits for a concurrency slot, counts the query in the
 * engine's metrics and writes the query log line. (The other promql_exec_*
 * functions do the same with o = NULL.) */
int promql_exec(promql_engine_t *eng, const queryable_t *q, const char *query, int64_t start_ms, int64_t end_ms,
                int64_t step_ms, const promql_exec_opts_t *o, promql_result_t *res, promql_error_t *err);

/* prometheus_engine_* metrics in text format. */
void promql_engine_write_metrics(promql_engine_t *eng, strbuf_t *sb);
/* Opens (path), reopens or closes (NULL or "") the query log: one JSON line
 * per query, as Prometheus's query_log_file. Returns -1 with err when the
 * file cannot be opened (the log is then off). */
int promql_engine_set_query_log(promql_engine_t *eng, const char *path, pl_err_t *err);

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
/* The same with "stats" (stats=all) after "result" when stats is not NULL. */
void promql_result_write_json_ex(const promql_result_t *res, const promql_query_stats_t *stats, jsonw_t *w);

#endif
