/* engine_internal.h — types shared by the engine's .c files (not public).
 *
 * A value is a set of series over a grid of steps: series i has a value at
 * step j when has[j]. Scalars carry one value per step. Range vectors
 * (arguments of range functions) are mseries: all samples a query needs,
 * each window picked out per step by the caller. Everything is allocated in
 * the query's arena; errors unwind with longjmp to the query entry point. */
#ifndef PL_PROMQL_ENGINE_INTERNAL_H
#define PL_PROMQL_ENGINE_INTERNAL_H

#include <setjmp.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "model/labels.h"
#include "model/storage.h"
#include "promql/ast.h"
#include "promql/engine.h"

typedef struct arena_block {
    struct arena_block *next;
    size_t used, cap;
    _Alignas(16) char data[];
} arena_block_t;

typedef struct arena {
    arena_block_t *head;
} arena_t;

void *arena_alloc(arena_t *a, size_t n);
void *arena_calloc(arena_t *a, size_t n);
char *arena_strdup(arena_t *a, const char *s);
void arena_free(arena_t *a);

typedef struct grid {
    int64_t start, step;
    size_t n;
} grid_t;
static inline int64_t grid_t_at(const grid_t *g, size_t i) { return g->start + (int64_t)i * g->step; }

typedef struct vseries {
    label_t *ls;
    uint32_t nls;
    bool drop_name; /* __name__ is removed when the query finishes (delayed name removal) */
    double *v;
    uint8_t *has;
} vseries_t;

typedef struct mseries {
    label_t *ls;
    uint32_t nls;
    bool drop_name;
    sample_t *s;
    size_t ns;
} mseries_t;

typedef struct value {
    enum promql_type type;
    vseries_t *vs;
    size_t nvs;
    double *sv;      /* SCALAR: per step */
    const char *str; /* STRING */
} value_t;

/* A matrix argument: its series and how to find the window at a step. */
typedef struct matrix {
    mseries_t *ms;
    size_t nms;
    int64_t range_ms;
    int64_t *t_end; /* per outer step: the window is (t_end - range, t_end] */
} matrix_t;

typedef struct annots {
    const char **items;
    int *pos;
    size_t n, cap;
} annots_t;

typedef struct query {
    promql_engine_t *eng;
    const queryable_t *qb;
    arena_t arena;
    jmp_buf jb;
    promql_error_t *err;
    int64_t query_start, query_end; /* for @ start() / end() */
    int64_t query_step;             /* 0 for instant queries */
    int64_t lookback_ms;
    int64_t subquery_step_ms;
    size_t max_samples;
    size_t cur_samples;
    uint64_t queryable_samples; /* samples read from storage, counted per step as Prometheus */
    int64_t select_ns;          /* time spent in storage selects (the prepare time) */
    /* Set by eval_aggregate while it evaluates a vector selector that is its
     * direct operand and it needs no more than the grouping labels: the
     * selector keeps only those labels (proj_names; none for count(x)) and,
     * when proj_unsorted, lets storage pass series in any order. */
    const promql_expr_t *proj_sel;
    char *const *proj_names;
    size_t proj_n;
    bool proj_unsorted;
    /* The range function whose matrix argument is being selected (a remote-read
     * hint for leaves that serve downsampled data); NULL otherwise. */
    const char *sel_func;
    int64_t deadline_ns; /* 0: none */
    unsigned poll;
    annots_t warnings, infos;
    /* cleanup list: regexes compiled during evaluation */
    matcher_t *tmp_matchers;
    size_t ntmp_matchers, cap_tmp_matchers;
} query_t;

/* engine_monitor.c: the concurrency gate, metrics and query log. */
typedef struct engine_monitor engine_monitor_t;
engine_monitor_t *monitor_new(int max_concurrency);
void monitor_free(engine_monitor_t *m);
/* Waits for a slot until deadline_ns (pl_monotonic_ns clock; 0 = forever).
 * Returns 0 holding a slot, -1 when the deadline passed first. */
int monitor_enter(engine_monitor_t *m, int64_t deadline_ns);
void monitor_leave(engine_monitor_t *m);
/* Counts a finished query (evaluated: it got past the queue). */
void monitor_observe(engine_monitor_t *m, const promql_query_stats_t *st, bool evaluated);
void monitor_write_metrics(engine_monitor_t *m, strbuf_t *sb);
int monitor_set_log(engine_monitor_t *m, const char *path, pl_err_t *err);
bool monitor_log_enabled(engine_monitor_t *m);
void monitor_log_query(engine_monitor_t *m, const char *query, int64_t start_ms, int64_t end_ms, int64_t step_ms,
                       const promql_exec_opts_t *o, const promql_query_stats_t *st, const promql_error_t *err);

struct promql_engine {
    promql_engine_opts_t opts;
    engine_monitor_t *mon;
};

__attribute__((noreturn, format(printf, 3, 4))) void q_fail(query_t *q, enum promql_errtype t, const char *fmt, ...);
void q_check(query_t *q); /* timeout / cancellation */
void q_add_samples(query_t *q, size_t n);
/* Annotations; pos is the byte offset of the expression they are about. */
void q_warn(query_t *q, int pos, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
void q_info(query_t *q, int pos, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Output builder: series keyed by label set, one slot per step. */
typedef struct outset {
    query_t *q;
    size_t nsteps;
    vseries_t *vs;
    size_t n, cap;
    uint32_t *slots; /* hash table of index+1 */
    uint64_t *hashes;
    size_t nslots;
} outset_t;
void outset_init(outset_t *o, query_t *q, size_t nsteps);
/* Finds or adds the series with labels ls (copied into the arena unless already arena-owned: pass copy=false). */
size_t outset_get(outset_t *o, const label_t *ls, size_t n, bool copy);
/* Sets a value; returns false if the slot was already set at this step. */
bool outset_set(outset_t *o, size_t idx, size_t step, double v);
value_t outset_value(outset_t *o);

label_t *labels_copy_arena(query_t *q, const label_t *ls, size_t n);
/* Labels without __name__ (pointer into arena, may share strings). */
label_t *labels_without_name(query_t *q, const label_t *ls, size_t n, uint32_t *nout);
vseries_t *vseries_new(query_t *q, size_t n, size_t nsteps);
const char *labels_metric_name(const label_t *ls, size_t n);

value_t eval_expr(query_t *q, const promql_expr_t *e, const grid_t *g);
matrix_t eval_matrix(query_t *q, const promql_expr_t *e, const grid_t *g);
/* For a matrix selector only: each series is passed to hook as it comes from
 * storage (its labels and samples valid during the call only) instead of
 * being kept; the returned matrix has no series. hook returns non-zero to
 * stop, and must not longjmp (q_fail): it runs inside storage's select. */
typedef int (*matrix_hook_fn)(void *ctx, const matrix_t *m, const mseries_t *s);
matrix_t eval_matrix_hooked(query_t *q, const promql_expr_t *e, const grid_t *g, matrix_hook_fn hook, void *hook_ctx);
value_t eval_call(query_t *q, const promql_expr_t *e, const grid_t *g);
value_t eval_aggregate(query_t *q, const promql_expr_t *e, const grid_t *g);
value_t eval_binary(query_t *q, const promql_expr_t *e, const grid_t *g);

#endif
