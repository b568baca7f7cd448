/* engine_monitor.c — what the engine keeps about the queries it runs: the
 * concurrency gate (Prometheus's active query tracker: a query over
 * --query.max-concurrency waits in a queue, it is not refused), the
 * prometheus_engine_* metrics and the query log (query_log_file).
 *
 * The duration summary per slice is a pl_summary_t (util/summary.h): the
 * 0.5, 0.9 and 0.99 quantiles of the last 10 minutes, as Prometheus's
 * summary objectives and max age; sum and count over the engine's life.
 * Everything is under one mutex: a query takes it a few times, never while
 * evaluating. */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "promql/engine_internal.h"
#include "util/json.h"
#include "util/summary.h"
#include "util/timeutil.h"

enum { SLICE_INNER_EVAL, SLICE_PREPARE, SLICE_QUEUE, SLICE_RESULT_SORT, NSLICES };
static const char *const slice_names[NSLICES] = {"inner_eval", "prepare_time", "queue_time", "result_sort"};

struct engine_monitor {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int max_concurrency;
    int active;  /* evaluating */
    int waiting; /* in the queue */
    uint64_t samples_total;
    pl_summary_t slices[NSLICES];
    FILE *log;
    uint64_t log_failures;
};

engine_monitor_t *monitor_new(int max_concurrency) {
    engine_monitor_t *m = calloc(1, sizeof *m);
    if (!m) return NULL;
    pthread_mutex_init(&m->mu, NULL);
    pthread_cond_init(&m->cv, NULL);
    m->max_concurrency = max_concurrency;
    return m;
}

void monitor_free(engine_monitor_t *m) {
    if (!m) return;
    if (m->log) fclose(m->log);
    pthread_cond_destroy(&m->cv);
    pthread_mutex_destroy(&m->mu);
    free(m);
}

int monitor_enter(engine_monitor_t *m, int64_t deadline_ns) {
    pthread_mutex_lock(&m->mu);
    if (m->max_concurrency > 0 && m->active >= m->max_concurrency) {
        m->waiting++;
        struct timespec ts;
        if (deadline_ns) {
            /* pl_monotonic_ns is CLOCK_MONOTONIC: wait on the same clock. */
            int64_t left = deadline_ns - pl_monotonic_ns();
            clock_gettime(CLOCK_REALTIME, &ts);
            int64_t abs_ns = (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec + (left > 0 ? left : 0);
            ts.tv_sec = abs_ns / 1000000000LL;
            ts.tv_nsec = abs_ns % 1000000000LL;
        }
        while (m->active >= m->max_concurrency) {
            if (deadline_ns) {
                if (pthread_cond_timedwait(&m->cv, &m->mu, &ts) != 0 && m->active >= m->max_concurrency) {
                    m->waiting--;
                    pthread_mutex_unlock(&m->mu);
                    return -1;
                }
            } else {
                pthread_cond_wait(&m->cv, &m->mu);
            }
        }
        m->waiting--;
    }
    m->active++;
    pthread_mutex_unlock(&m->mu);
    return 0;
}

void monitor_leave(engine_monitor_t *m) {
    pthread_mutex_lock(&m->mu);
    m->active--;
    pthread_cond_signal(&m->cv);
    pthread_mutex_unlock(&m->mu);
}

void monitor_observe(engine_monitor_t *m, const promql_query_stats_t *st, bool evaluated) {
    int64_t now = pl_monotonic_ns() / 1000000;
    pthread_mutex_lock(&m->mu);
    pl_summary_observe(&m->slices[SLICE_QUEUE], st->exec_queue_s, now);
    if (evaluated) {
        pl_summary_observe(&m->slices[SLICE_PREPARE], st->prepare_s, now);
        pl_summary_observe(&m->slices[SLICE_INNER_EVAL], st->inner_eval_s, now);
        pl_summary_observe(&m->slices[SLICE_RESULT_SORT], st->result_sort_s, now);
    }
    m->samples_total += st->total_queryable_samples;
    pthread_mutex_unlock(&m->mu);
}

void monitor_write_metrics(engine_monitor_t *m, strbuf_t *sb) {
    static const double qs[] = {0.5, 0.9, 0.99};
    int64_t now = pl_monotonic_ns() / 1000000;
    pthread_mutex_lock(&m->mu);
    strbuf_puts(sb, "# HELP prometheus_engine_queries The current number of queries being executed or waiting.\n"
                    "# TYPE prometheus_engine_queries gauge\n");
    strbuf_printf(sb, "prometheus_engine_queries %d\n", m->active + m->waiting);
    strbuf_puts(sb, "# HELP prometheus_engine_queries_concurrent_max The max number of concurrent queries.\n"
                    "# TYPE prometheus_engine_queries_concurrent_max gauge\n");
    strbuf_printf(sb, "prometheus_engine_queries_concurrent_max %d\n", m->max_concurrency > 0 ? m->max_concurrency : -1);
    strbuf_puts(sb, "# HELP prometheus_engine_query_duration_seconds Query timings\n"
                    "# TYPE prometheus_engine_query_duration_seconds summary\n");
    for (int s = 0; s < NSLICES; s++) {
        char labels[64];
        snprintf(labels, sizeof labels, "slice=\"%s\"", slice_names[s]);
        pl_summary_write(sb, "prometheus_engine_query_duration_seconds", labels, &m->slices[s], now, qs, 3);
    }
    strbuf_puts(sb, "# HELP prometheus_engine_query_log_enabled State of the query log.\n"
                    "# TYPE prometheus_engine_query_log_enabled gauge\n");
    strbuf_printf(sb, "prometheus_engine_query_log_enabled %d\n", m->log ? 1 : 0);
    strbuf_puts(sb, "# HELP prometheus_engine_query_log_failures_total The number of query log failures.\n"
                    "# TYPE prometheus_engine_query_log_failures_total counter\n");
    strbuf_printf(sb, "prometheus_engine_query_log_failures_total %" PRIu64 "\n", m->log_failures);
    strbuf_puts(sb, "# HELP prometheus_engine_query_samples_total The total number of samples loaded by all queries.\n"
                    "# TYPE prometheus_engine_query_samples_total counter\n");
    strbuf_printf(sb, "prometheus_engine_query_samples_total %" PRIu64 "\n", m->samples_total);
    pthread_mutex_unlock(&m->mu);
}

int monitor_set_log(engine_monitor_t *m, const char *path, pl_err_t *err) {
    FILE *f = NULL;
    if (path && *path) {
        f = fopen(path, "a");
        if (!f) {
            pl_err_set(err, "can't initialize query log: open %s: %s", path, strerror(errno));
        } else {
            setvbuf(f, NULL, _IOLBF, 0);
        }
    }
    pthread_mutex_lock(&m->mu);
    FILE *old = m->log;
    m->log = f;
    pthread_mutex_unlock(&m->mu);
    if (old) fclose(old);
    return path && *path && !f ? -1 : 0;
}

bool monitor_log_enabled(engine_monitor_t *m) {
    pthread_mutex_lock(&m->mu);
    bool on = m->log != NULL;
    pthread_mutex_unlock(&m->mu);
    return on;
}

void promql_stats_write_json(const promql_query_stats_t *st, jsonw_t *w) {
    jw_obj_begin(w);
    jw_key(w, "timings");
    jw_obj_begin(w);
    jw_key(w, "evalTotalTime");
    jw_double(w, st->eval_total_s);
    jw_key(w, "resultSortTime");
    jw_double(w, st->result_sort_s);
    jw_key(w, "queryPreparationTime");
    jw_double(w, st->prepare_s);
    jw_key(w, "innerEvalTime");
    jw_double(w, st->inner_eval_s);
    jw_key(w, "execQueueTime");
    jw_double(w, st->exec_queue_s);
    jw_key(w, "execTotalTime");
    jw_double(w, st->exec_total_s);
    jw_obj_end(w);
    jw_key(w, "samples");
    jw_obj_begin(w);
    jw_key(w, "totalQueryableSamples");
    jw_uint(w, st->total_queryable_samples);
    jw_key(w, "peakSamples");
    jw_uint(w, st->peak_samples);
    jw_obj_end(w);
    jw_obj_end(w);
}

/* One line as Prometheus 2.x's query logger writes it (go-kit JSON, keys in
 * byte order): {"error"?,"httpRequest"?,"params","stats","ts"}. */
void monitor_log_query(engine_monitor_t *m, const char *query, int64_t start_ms, int64_t end_ms, int64_t step_ms,
                       const promql_exec_opts_t *o, const promql_query_stats_t *st, const promql_error_t *err) {
    strbuf_t sb = STRBUF_INIT;
    jsonw_t w;
    jw_init(&w, &sb);
    char ts[64];
    jw_obj_begin(&w);
    if (err && err->type != PROMQL_ERR_NONE) {
        jw_key(&w, "error");
        jw_str(&w, err->msg);
    }
    if (o && (o->client_ip || o->method || o->path)) {
        jw_key(&w, "httpRequest");
        jw_obj_begin(&w);
        jw_key(&w, "clientIP");
        jw_str(&w, o->client_ip ? o->client_ip : "");
        jw_key(&w, "method");
        jw_str(&w, o->method ? o->method : "");
        jw_key(&w, "path");
        jw_str(&w, o->path ? o->path : "");
        jw_obj_end(&w);
    }
    jw_key(&w, "params");
    jw_obj_begin(&w);
    pl_format_rfc3339(ts, sizeof ts, end_ms);
    jw_key(&w, "end");
    jw_str(&w, ts);
    jw_key(&w, "query");
    jw_str(&w, query);
    pl_format_rfc3339(ts, sizeof ts, start_ms);
    jw_key(&w, "start");
    jw_str(&w, ts);
    jw_key(&w, "step");
    jw_int(&w, step_ms / 1000);
    jw_obj_end(&w);
    jw_key(&w, "stats");
    promql_stats_write_json(st, &w);
    pl_format_rfc3339(ts, sizeof ts, pl_now_ms());
    jw_key(&w, "ts");
    jw_str(&w, ts);
    jw_obj_end(&w);
    strbuf_putc(&sb, '\n');
    pthread_mutex_lock(&m->mu);
    if (m->log && fwrite(sb.data, 1, sb.len, m->log) != sb.len) m->log_failures++;
    pthread_mutex_unlock(&m->mu);
    strbuf_free(&sb);
}
