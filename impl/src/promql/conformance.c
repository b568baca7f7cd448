/* conformance.c — the promqltest engine callbacks over promql/engine.h and a
 * memstore. See conformance.h. */
#include "promql/conformance.h"

#include <stdlib.h>
#include <string.h>

#include "promql/engine.h"
#include "promql/functions.h"
#include "promql/memstore.h"

typedef struct conf_ctx {
    memstore_t *store;
    queryable_t q;
    promql_engine_t *eng;
} conf_ctx_t;

typedef struct conf_owner {
    promql_result_t res;
    promqltest_result_series_t *series;
} conf_owner_t;

static int c_reset(void *ctx, pl_err_t *err) {
    (void)err;
    conf_ctx_t *c = ctx;
    memstore_reset(c->store);
    return 0;
}

static int c_append(void *ctx, const label_t *ls, size_t nls, const sample_t *s, size_t n, pl_err_t *err) {
    conf_ctx_t *c = ctx;
    return memstore_append(c->store, ls, nls, s, n, err);
}

static int c_append_hist(void *ctx, const label_t *ls, size_t nls, const int64_t *ts, size_t n, pl_err_t *err) {
    conf_ctx_t *c = ctx;
    return memstore_mark_histograms(c->store, ls, nls, ts, n, err);
}

static size_t c_hist_read(void *ctx) {
    conf_ctx_t *c = ctx;
    return memstore_histograms_read(c->store);
}

static int fill(promql_result_t *r, promqltest_result_t *out) {
    conf_owner_t *o = calloc(1, sizeof *o);
    if (!o) abort();
    o->res = *r;
    memset(out, 0, sizeof *out);
    switch (r->type) {
    case PROMQL_TYPE_SCALAR: out->type = PROMQLTEST_VAL_SCALAR; break;
    case PROMQL_TYPE_STRING: out->type = PROMQLTEST_VAL_STRING; break;
    case PROMQL_TYPE_VECTOR: out->type = PROMQLTEST_VAL_VECTOR; break;
    default: out->type = PROMQLTEST_VAL_MATRIX; break;
    }
    out->scalar = r->scalar;
    out->string = r->string;
    o->series = calloc(r->nseries + 1, sizeof *o->series);
    for (size_t i = 0; i < r->nseries; i++) {
        o->series[i].labels = r->series[i].labels;
        o->series[i].nlabels = r->series[i].nlabels;
        o->series[i].samples = r->series[i].samples;
        o->series[i].nsamples = r->series[i].nsamples;
    }
    out->series = o->series;
    out->nseries = r->nseries;
    out->warnings = r->warnings;
    out->nwarnings = r->nwarnings;
    out->infos = r->infos;
    out->ninfos = r->ninfos;
    out->owner = o;
    return 0;
}

static int c_instant(void *ctx, const char *expr, int64_t t, promqltest_result_t *res, pl_err_t *err) {
    conf_ctx_t *c = ctx;
    promql_result_t r;
    promql_error_t e;
    if (promql_exec_instant(c->eng, &c->q, expr, t, &r, &e) < 0) {
        promql_result_free(&r);
        return pl_err_set(err, "%s", e.msg);
    }
    return fill(&r, res);
}

static int c_range(void *ctx, const char *expr, int64_t start, int64_t end, int64_t step, promqltest_result_t *res,
                   pl_err_t *err) {
    conf_ctx_t *c = ctx;
    promql_result_t r;
    promql_error_t e;
    if (promql_exec_range(c->eng, &c->q, expr, start, end, step, &r, &e) < 0) {
        promql_result_free(&r);
        return pl_err_set(err, "%s", e.msg);
    }
    return fill(&r, res);
}

static void c_free(void *ctx, promqltest_result_t *res) {
    (void)ctx;
    conf_owner_t *o = res->owner;
    if (!o) return;
    promql_result_free(&o->res);
    free(o->series);
    free(o);
    res->owner = NULL;
}

static bool time_dependent(const promql_expr_t *e) {
    if (!e) return false;
    if (e->kind == PROMQL_CALL) {
        static const char *names[] = {"time",           "timestamp",   "minute",        "hour",  "day_of_week",
                                      "day_of_month",   "day_of_year", "days_in_month", "month", "year",
                                      "predict_linear", "start",       "end",           "range", "step"};
        for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
            if (strcmp(e->func->name, names[i]) == 0) return true;
    }
    if (time_dependent(e->inner) || time_dependent(e->lhs) || time_dependent(e->rhs) || time_dependent(e->param))
        return true;
    for (size_t i = 0; i < e->nargs; i++)
        if (time_dependent(e->args[i])) return true;
    return false;
}

static void set_at(promql_expr_t *e, int64_t t) {
    if (!e) return;
    switch (e->kind) {
    case PROMQL_VECTOR_SELECTOR:
        if (e->at == PROMQL_AT_NONE) e->at = PROMQL_AT_TIMESTAMP, e->at_ms = t;
        return;
    case PROMQL_MATRIX_SELECTOR: set_at(e->inner, t); return;
    case PROMQL_SUBQUERY:
        if (e->at == PROMQL_AT_NONE) e->at = PROMQL_AT_TIMESTAMP, e->at_ms = t;
        return; /* not inside subqueries */
    default: break;
    }
    set_at(e->inner, t);
    set_at(e->lhs, t);
    set_at(e->rhs, t);
    set_at(e->param, t);
    for (size_t i = 0; i < e->nargs; i++)
        set_at(e->args[i], t);
}

static int c_at_rewrite(void *ctx, const char *expr, int64_t t_ms, char **out, pl_err_t *err) {
    (void)ctx;
    promql_expr_t *e;
    if (promql_parse(expr, &e, err) < 0) return -1;
    if (time_dependent(e)) {
        promql_expr_free(e);
        return 1;
    }
    set_at(e, t_ms);
    strbuf_t sb = STRBUF_INIT;
    promql_expr_format(&sb, e);
    promql_expr_free(e);
    *out = strbuf_detach(&sb);
    return 0;
}

int promql_conformance_run(const char **paths, size_t n, FILE *out, promqltest_counts_t *counts) {
    return promql_conformance_run_flags(paths, n, 0, out, counts);
}

int promql_conformance_run_flags(const char **paths, size_t n, unsigned flags, FILE *out, promqltest_counts_t *counts) {
    conf_ctx_t c;
    c.store = memstore_new();
    memstore_queryable(c.store, &c.q);
    promql_engine_opts_t opts = {0};
    c.eng = promql_engine_new(&opts);
    promqltest_engine_t eng = {
        .ctx = &c,
        .reset = c_reset,
        .append = c_append,
        .instant = c_instant,
        .range = c_range,
        .free_result = c_free,
        .at_rewrite = c_at_rewrite,
        .append_histograms = c_append_hist,
        .histograms_read = c_hist_read,
        .flags = flags,
    };
    int rc = promqltest_run_paths(paths, n, &eng, out, counts);
    promql_engine_free(c.eng);
    memstore_free(c.store);
    return rc;
}
