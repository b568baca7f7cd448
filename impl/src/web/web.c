/* web.c — routes and handlers of the server's HTTP interface. See web.h.
 *
 * Every handler writes its whole answer into a strbuf (the http layer adds
 * gzip). API answers use Prometheus's envelope:
 *   {"status":"success","data":...}  or
 *   {"status":"error","errorType":"bad_data","error":"..."}            */
#include "web/web.h"

#include <dirent.h>
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "model/matcher.h"
#include "promql/engine.h"
#include "textparse/textparse.h"
#include "util/json.h"
#include "util/log.h"
#include "util/timeutil.h"
#include "web/http.h"

/* ---- request accounting (prometheus_http_*) ----------------------------- */

static const char *handler_names[] = {
    "/metrics", "/-/healthy", "/-/ready", "/-/reload", "/-/quit", "/api/v1/query", "/api/v1/query_range",
    "/api/v1/status/config", "/api/v1/status/flags", "/api/v1/status/buildinfo", "/api/v1/targets", "/",
    "other",
};
#define N_HANDLERS (sizeof handler_names / sizeof handler_names[0])
static const int status_codes[] = {200, 204, 302, 400, 403, 404, 405, 413, 422, 500, 503};
#define N_CODES (sizeof status_codes / sizeof status_codes[0])
static const double duration_buckets[] = {0.1, 0.2, 0.4, 1, 3, 8, 20, 60, 120};
#define N_BUCKETS (sizeof duration_buckets / sizeof duration_buckets[0])

typedef struct {
    _Atomic uint64_t requests[N_CODES];
    _Atomic uint64_t buckets[N_BUCKETS + 1]; /* last is +Inf */
    _Atomic uint64_t duration_ns_sum;
} handler_stats_t;

struct web {
    web_opts_t opts;
    promql_engine_t *engine;
    queryable_t queryable;
    http_server_t *http;
    _Atomic bool ready;
    handler_stats_t stats[N_HANDLERS];
    int64_t start_ms;
};

static size_t handler_index(const char *path) {
    for (size_t i = 0; i < N_HANDLERS - 1; i++)
        if (strcmp(path, handler_names[i]) == 0) return i;
    return N_HANDLERS - 1;
}

static void record_request(web_t *w, size_t h, int status, int64_t ns) {
    handler_stats_t *st = &w->stats[h];
    for (size_t i = 0; i < N_CODES; i++)
        if (status_codes[i] == status) atomic_fetch_add(&st->requests[i], 1);
    double s = (double)ns / 1e9;
    size_t b = 0;
    while (b < N_BUCKETS && s > duration_buckets[b]) b++;
    atomic_fetch_add(&st->buckets[b], 1);
    atomic_fetch_add(&st->duration_ns_sum, (uint64_t)ns);
}

/* ---- API envelope helpers ---------------------------------------------- */

static void api_error(http_response_t *r, int status, const char *type, const char *msg) {
    r->status = status;
    r->content_type = "application/json";
    strbuf_reset(&r->body);
    jsonw_t w;
    jw_init(&w, &r->body);
    jw_obj_begin(&w);
    jw_key(&w, "status");
    jw_str(&w, "error");
    jw_key(&w, "errorType");
    jw_str(&w, type);
    jw_key(&w, "error");
    jw_str(&w, msg);
    jw_obj_end(&w);
}

/* Starts {"status":"success","data": and leaves the writer before the data value. */
static void api_begin(http_response_t *r, jsonw_t *w) {
    r->content_type = "application/json";
    jw_init(w, &r->body);
    jw_obj_begin(w);
    jw_key(w, "status");
    jw_str(w, "success");
    jw_key(w, "data");
}

static void api_end(jsonw_t *w) { jw_obj_end(w); }

/* ---- /api/v1/query ------------------------------------------------------ */

/* Maps an engine error to Prometheus's status code and errorType. */
static void query_error(http_response_t *r, const promql_error_t *e) {
    char msg[PL_ERR_MAX + 64];
    switch (e->type) {
    case PROMQL_ERR_BAD_DATA:
        snprintf(msg, sizeof msg, "invalid parameter \"query\": %s", e->msg);
        api_error(r, 400, "bad_data", msg);
        return;
    case PROMQL_ERR_TIMEOUT: api_error(r, 503, "timeout", e->msg); return;
    case PROMQL_ERR_CANCELED: api_error(r, 499, "canceled", e->msg); return;
    default: api_error(r, 422, "execution", e->msg); return;
    }
}

/* Writes "key": [annotation, ...] when there are any. */
static void write_annotations(jsonw_t *jw, const char *key, const char *query, const char **msgs, const int *pos,
                              size_t n) {
    if (!n) return;
    jw_key(jw, key);
    jw_arr_begin(jw);
    strbuf_t a = STRBUF_INIT;
    for (size_t i = 0; i < n; i++) {
        strbuf_reset(&a);
        promql_annotation_format(&a, query, msgs[i], pos[i]);
        jw_str(jw, a.data);
    }
    strbuf_free(&a);
    jw_arr_end(jw);
}

/* Writes the success envelope with the result (first `limit` series when
 * limit > 0) and the annotations. */
static void write_query_result(http_response_t *r, promql_result_t *res, size_t limit, const char *query) {
    if (limit && res->nseries > limit) res->nseries = limit;
    jsonw_t jw;
    api_begin(r, &jw);
    promql_result_write_json(res, &jw);
    write_annotations(&jw, "warnings", query, res->warnings, res->warning_pos, res->nwarnings);
    write_annotations(&jw, "infos", query, res->infos, res->info_pos, res->ninfos);
    api_end(&jw);
}

static void handle_query(web_t *w, const http_request_t *req, http_response_t *r) {
    const char *q = http_param(req, "query");
    pl_err_t err = {{0}};
    char msg[PL_ERR_MAX + 64];
    if (!q || !*q) {
        api_error(r, 400, "bad_data", "invalid parameter \"query\": unknown position: parse error: no expression found in input");
        return;
    }
    int64_t t = pl_now_ms();
    const char *ts = http_param(req, "time");
    if (ts && *ts && pl_parse_time(ts, &t, &err) < 0) {
        snprintf(msg, sizeof msg, "invalid parameter \"time\": %s", err.msg);
        api_error(r, 400, "bad_data", msg);
        return;
    }
    const char *limit_s = http_param(req, "limit");
    size_t limit = 0;
    if (limit_s && *limit_s) {
        char *end;
        long long l = strtoll(limit_s, &end, 10);
        if (*end || l < 0) {
            api_error(r, 400, "bad_data", "invalid parameter \"limit\": limit must be a non-negative number");
            return;
        }
        limit = (size_t)l;
    }
    promql_result_t res;
    promql_error_t perr;
    if (promql_exec_instant(w->engine, &w->queryable, q, t, &res, &perr) < 0) {
        query_error(r, &perr);
        return;
    }
    write_query_result(r, &res, limit, q);
    promql_result_free(&res);
}

static void handle_query_range(web_t *w, const http_request_t *req, http_response_t *r) {
    const char *q = http_param(req, "query");
    pl_err_t err = {{0}};
    char msg[PL_ERR_MAX + 64];
    if (!q || !*q) {
        api_error(r, 400, "bad_data", "invalid parameter \"query\": unknown position: parse error: no expression found in input");
        return;
    }
    static const char *names[] = {"start", "end", "step"};
    int64_t vals[3];
    for (int i = 0; i < 3; i++) {
        const char *v = http_param(req, names[i]);
        if (!v || !*v) {
            snprintf(msg, sizeof msg, "invalid parameter \"%s\": cannot parse \"\" to a valid %s", names[i],
                     i == 2 ? "duration" : "timestamp");
            api_error(r, 400, "bad_data", msg);
            return;
        }
        int rc = i == 2 ? pl_parse_duration_or_seconds(v, &vals[i], &err) : pl_parse_time(v, &vals[i], &err);
        if (rc < 0) {
            snprintf(msg, sizeof msg, "invalid parameter \"%s\": %s", names[i], err.msg);
            api_error(r, 400, "bad_data", msg);
            return;
        }
    }
    if (vals[1] < vals[0]) {
        api_error(r, 400, "bad_data", "invalid parameter \"end\": end timestamp must not be before start time");
        return;
    }
    if (vals[2] <= 0) {
        api_error(r, 400, "bad_data",
                  "invalid parameter \"step\": zero or negative query resolution step widths are not accepted. Try a "
                  "positive integer");
        return;
    }
    if ((vals[1] - vals[0]) / vals[2] > 11000) {
        api_error(r, 400, "bad_data",
                  "exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the query resolution "
                  "(?step=XX)");
        return;
    }
    promql_result_t res;
    promql_error_t perr;
    if (promql_exec_range(w->engine, &w->queryable, q, vals[0], vals[1], vals[2], &res, &perr) < 0) {
        query_error(r, &perr);
        return;
    }
    write_query_result(r, &res, 0, q);
    promql_result_free(&res);
}

/* ---- status endpoints --------------------------------------------------- */

static void handle_config(web_t *w, http_response_t *r) {
    strbuf_t yaml = STRBUF_INIT;
    w->opts.config_yaml(w->opts.cb_ctx, &yaml);
    jsonw_t jw;
    api_begin(r, &jw);
    jw_obj_begin(&jw);
    jw_key(&jw, "yaml");
    jw_strn(&jw, yaml.data ? yaml.data : "", yaml.len);
    jw_obj_end(&jw);
    api_end(&jw);
    strbuf_free(&yaml);
}

static void handle_flags(web_t *w, http_response_t *r) {
    jsonw_t jw;
    api_begin(r, &jw);
    jw_obj_begin(&jw);
    for (size_t i = 0; i < w->opts.nflags; i++) {
        const flag_def_t *f = &w->opts.flags[i];
        jw_key(&jw, f->name);
        if (f->kind == FLAG_STRINGS && f->nvalues > 1) {
            strbuf_t joined = STRBUF_INIT;
            for (size_t k = 0; k < f->nvalues; k++) {
                if (k) strbuf_putc(&joined, ',');
                strbuf_puts(&joined, f->values[k]);
            }
            jw_str(&jw, joined.data);
            strbuf_free(&joined);
        } else {
            jw_str(&jw, f->value ? f->value : "");
        }
    }
    jw_obj_end(&jw);
    api_end(&jw);
}

static void handle_buildinfo(http_response_t *r) {
    jsonw_t jw;
    api_begin(r, &jw);
    jw_obj_begin(&jw);
    jw_key(&jw, "version");
    jw_str(&jw, PROMLAB_PROMETHEUS_COMPAT "+promlab." PROMLAB_VERSION);
    jw_key(&jw, "revision");
    jw_str(&jw, "promlab");
    jw_key(&jw, "branch");
    jw_str(&jw, "main");
    jw_key(&jw, "buildUser");
    jw_str(&jw, "promlab");
    jw_key(&jw, "buildDate");
    jw_str(&jw, __DATE__);
    jw_key(&jw, "goVersion");
    jw_str(&jw, "n/a (C17)");
    jw_obj_end(&jw);
    api_end(&jw);
}

static void write_label_object(jsonw_t *jw, const label_t *ls, size_t n) {
    jw_obj_begin(jw);
    for (size_t i = 0; i < n; i++) {
        jw_key(jw, ls[i].name);
        jw_str(jw, ls[i].value);
    }
    jw_obj_end(jw);
}

static void handle_targets(web_t *w, const http_request_t *req, http_response_t *r) {
    const char *state = http_param(req, "state");
    bool want_active = !state || !*state || strcmp(state, "active") == 0 || strcmp(state, "any") == 0;
    const char *pool = http_param(req, "scrapePool");
    target_info_t *ts = NULL;
    size_t n = scrape_manager_targets(w->opts.scrape, &ts);
    jsonw_t jw;
    api_begin(r, &jw);
    jw_obj_begin(&jw);
    jw_key(&jw, "activeTargets");
    jw_arr_begin(&jw);
    for (size_t i = 0; want_active && i < n; i++) {
        target_info_t *t = &ts[i];
        if (pool && *pool && strcmp(pool, t->scrape_pool) != 0) continue;
        char buf[64];
        jw_obj_begin(&jw);
        jw_key(&jw, "discoveredLabels");
        write_label_object(&jw, t->discovered_labels, t->ndiscovered);
        jw_key(&jw, "labels");
        write_label_object(&jw, t->labels, t->nlabels);
        jw_key(&jw, "scrapePool");
        jw_str(&jw, t->scrape_pool);
        jw_key(&jw, "scrapeUrl");
        jw_str(&jw, t->scrape_url);
        jw_key(&jw, "globalUrl");
        jw_str(&jw, t->scrape_url);
        jw_key(&jw, "lastError");
        jw_str(&jw, t->last_error ? t->last_error : "");
        jw_key(&jw, "lastScrape");
        if (t->last_scrape_ms) pl_format_rfc3339(buf, sizeof buf, t->last_scrape_ms);
        else snprintf(buf, sizeof buf, "0001-01-01T00:00:00Z");
        jw_str(&jw, buf);
        jw_key(&jw, "lastScrapeDuration");
        jw_double(&jw, t->last_scrape_duration_s);
        jw_key(&jw, "health");
        jw_str(&jw, t->health);
        jw_key(&jw, "scrapeInterval");
        pl_format_duration(buf, sizeof buf, t->interval_ms);
        jw_str(&jw, buf);
        jw_key(&jw, "scrapeTimeout");
        pl_format_duration(buf, sizeof buf, t->timeout_ms);
        jw_str(&jw, buf);
        jw_obj_end(&jw);
    }
    jw_arr_end(&jw);
    jw_key(&jw, "droppedTargets");
    jw_arr_begin(&jw);
    jw_arr_end(&jw);
    jw_key(&jw, "droppedTargetCounts");
    jw_obj_begin(&jw);
    for (size_t i = 0; i < n; i++) {
        bool seen = false;
        for (size_t k = 0; k < i; k++)
            if (strcmp(ts[k].scrape_pool, ts[i].scrape_pool) == 0) seen = true;
        if (seen) continue;
        jw_key(&jw, ts[i].scrape_pool);
        jw_int(&jw, 0);
    }
    jw_obj_end(&jw);
    jw_obj_end(&jw);
    api_end(&jw);
    scrape_targets_free(ts, n);
}

/* ---- /metrics ------------------------------------------------------------ */

static void metric_header(strbuf_t *sb, const char *name, const char *type, const char *help) {
    textparse_write_help(sb, name, help);
    strbuf_printf(sb, "# TYPE %s %s\n", name, type);
}

static void write_head_metrics(web_t *w, strbuf_t *sb) {
    head_stats_t st;
    head_get_stats(w->opts.head, &st);
    metric_header(sb, "prometheus_tsdb_head_series", "gauge", "Total number of series in the head block.");
    strbuf_printf(sb, "prometheus_tsdb_head_series %" PRIu64 "\n", st.num_series);
    metric_header(sb, "prometheus_tsdb_head_chunks", "gauge", "Total number of chunks in the head block.");
    strbuf_printf(sb, "prometheus_tsdb_head_chunks %" PRIu64 "\n", st.num_chunks);
    metric_header(sb, "prometheus_tsdb_head_samples_appended_total", "counter", "Total number of appended samples.");
    strbuf_printf(sb, "prometheus_tsdb_head_samples_appended_total{type=\"float\"} %" PRIu64 "\n", st.samples_appended);
    metric_header(sb, "prometheus_tsdb_head_series_created_total", "counter", "Total number of series created in the head");
    strbuf_printf(sb, "prometheus_tsdb_head_series_created_total %" PRIu64 "\n", st.series_created);
    metric_header(sb, "prometheus_tsdb_out_of_order_samples_total", "counter",
                  "Total number of out of order samples ingestion failed attempts due to out of order being disabled.");
    strbuf_printf(sb, "prometheus_tsdb_out_of_order_samples_total{type=\"float\"} %" PRIu64 "\n", st.out_of_order_samples);
    metric_header(sb, "prometheus_tsdb_head_min_time", "gauge", "Minimum time bound of the head block.");
    strbuf_printf(sb, "prometheus_tsdb_head_min_time %" PRId64 "\n", st.num_series ? st.min_time : (int64_t)INT64_MAX);
    metric_header(sb, "prometheus_tsdb_head_max_time", "gauge", "Maximum timestamp of the head block.");
    strbuf_printf(sb, "prometheus_tsdb_head_max_time %" PRId64 "\n", st.num_series ? st.max_time : (int64_t)INT64_MIN);
    metric_header(sb, "prometheus_tsdb_symbol_table_size_bytes", "gauge",
                  "Size of symbol table in memory for loaded blocks");
    strbuf_printf(sb, "prometheus_tsdb_symbol_table_size_bytes %" PRIu64 "\n", st.bytes_symbols);
    metric_header(sb, "promlab_tsdb_head_memory_bytes", "gauge", "Bytes the head holds, by part.");
    strbuf_printf(sb, "promlab_tsdb_head_memory_bytes{part=\"symbols\"} %" PRIu64 "\n", st.bytes_symbols);
    strbuf_printf(sb, "promlab_tsdb_head_memory_bytes{part=\"series\"} %" PRIu64 "\n", st.bytes_series);
    strbuf_printf(sb, "promlab_tsdb_head_memory_bytes{part=\"postings\"} %" PRIu64 "\n", st.bytes_postings);
    strbuf_printf(sb, "promlab_tsdb_head_memory_bytes{part=\"chunks\"} %" PRIu64 "\n", st.bytes_chunks);
}

static void write_http_metrics(web_t *w, strbuf_t *sb) {
    metric_header(sb, "prometheus_http_requests_total", "counter", "Counter of HTTP requests.");
    for (size_t h = 0; h < N_HANDLERS; h++)
        for (size_t c = 0; c < N_CODES; c++) {
            uint64_t v = atomic_load(&w->stats[h].requests[c]);
            if (v) strbuf_printf(sb, "prometheus_http_requests_total{code=\"%d\",handler=\"%s\"} %" PRIu64 "\n",
                                 status_codes[c], handler_names[h], v);
        }
    metric_header(sb, "prometheus_http_request_duration_seconds", "histogram", "Histogram of latencies for HTTP requests.");
    for (size_t h = 0; h < N_HANDLERS; h++) {
        uint64_t cum = 0;
        for (size_t b = 0; b <= N_BUCKETS; b++) cum += atomic_load(&w->stats[h].buckets[b]);
        if (!cum) continue;
        uint64_t acc = 0;
        for (size_t b = 0; b < N_BUCKETS; b++) {
            acc += atomic_load(&w->stats[h].buckets[b]);
            char le[64];
            pl_format_float(le, duration_buckets[b]);
            strbuf_printf(sb, "prometheus_http_request_duration_seconds_bucket{handler=\"%s\",le=\"%s\"} %" PRIu64 "\n",
                          handler_names[h], le, acc);
        }
        strbuf_printf(sb, "prometheus_http_request_duration_seconds_bucket{handler=\"%s\",le=\"+Inf\"} %" PRIu64 "\n",
                      handler_names[h], cum);
        strbuf_printf(sb, "prometheus_http_request_duration_seconds_sum{handler=\"%s\"} ", handler_names[h]);
        strbuf_put_float(sb, (double)atomic_load(&w->stats[h].duration_ns_sum) / 1e9);
        strbuf_printf(sb, "\nprometheus_http_request_duration_seconds_count{handler=\"%s\"} %" PRIu64 "\n",
                      handler_names[h], cum);
    }
}

void web_write_process_metrics(strbuf_t *sb) {
    long ticks = sysconf(_SC_CLK_TCK), page = sysconf(_SC_PAGESIZE);
    FILE *f = fopen("/proc/self/stat", "r");
    unsigned long utime = 0, stime = 0, vsize = 0;
    unsigned long long starttime = 0;
    long rss = 0;
    if (f) {
        char buf[1024];
        size_t n = fread(buf, 1, sizeof buf - 1, f);
        buf[n] = '\0';
        fclose(f);
        char *p = strrchr(buf, ')'); /* the command name may hold spaces */
        if (p)
            sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu %*d %*d %*d %*d %*d %*d %llu %lu %ld",
                   &utime, &stime, &starttime, &vsize, &rss);
    }
    unsigned long long btime = 0;
    f = fopen("/proc/stat", "r");
    if (f) {
        char line[256];
        while (fgets(line, sizeof line, f))
            if (sscanf(line, "btime %llu", &btime) == 1) break;
        fclose(f);
    }
    int fds = 0;
    DIR *d = opendir("/proc/self/fd");
    if (d) {
        struct dirent *e;
        while ((e = readdir(d)))
            if (e->d_name[0] != '.') fds++;
        closedir(d);
        fds--; /* the directory handle itself */
    }
    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    metric_header(sb, "process_cpu_seconds_total", "counter", "Total user and system CPU time spent in seconds.");
    strbuf_puts(sb, "process_cpu_seconds_total ");
    strbuf_put_float(sb, (double)(utime + stime) / (double)ticks);
    strbuf_putc(sb, '\n');
    metric_header(sb, "process_max_fds", "gauge", "Maximum number of open file descriptors.");
    strbuf_printf(sb, "process_max_fds %llu\n", (unsigned long long)rl.rlim_cur);
    metric_header(sb, "process_open_fds", "gauge", "Number of open file descriptors.");
    strbuf_printf(sb, "process_open_fds %d\n", fds);
    metric_header(sb, "process_resident_memory_bytes", "gauge", "Resident memory size in bytes.");
    strbuf_printf(sb, "process_resident_memory_bytes %lld\n", (long long)rss * page);
    metric_header(sb, "process_start_time_seconds", "gauge", "Start time of the process since unix epoch in seconds.");
    strbuf_puts(sb, "process_start_time_seconds ");
    strbuf_put_float(sb, (double)btime + (double)starttime / (double)ticks);
    strbuf_putc(sb, '\n');
    metric_header(sb, "process_virtual_memory_bytes", "gauge", "Virtual memory size in bytes.");
    strbuf_printf(sb, "process_virtual_memory_bytes %lu\n", vsize);
}

static void handle_metrics(web_t *w, http_response_t *r) {
    strbuf_t *sb = &r->body;
    r->content_type = "text/plain; version=0.0.4; charset=utf-8";
    metric_header(sb, "prometheus_build_info", "gauge",
                  "A metric with a constant '1' value labeled by version, revision, branch, goversion from which "
                  "prometheus was built, and the goos and goarch for the build.");
    strbuf_puts(sb, "prometheus_build_info{branch=\"main\",goarch=\"amd64\",goos=\"linux\",goversion=\"n/a\","
                    "revision=\"promlab\",tags=\"\",version=\"" PROMLAB_PROMETHEUS_COMPAT "+promlab." PROMLAB_VERSION
                    "\"} 1\n");
    metric_header(sb, "prometheus_ready", "gauge", "Whether Prometheus startup was fully completed and the server is ready for normal operation.");
    strbuf_printf(sb, "prometheus_ready %d\n", atomic_load(&w->ready) ? 1 : 0);
    write_head_metrics(w, sb);
    write_http_metrics(w, sb);
    if (w->opts.scrape) scrape_manager_write_metrics(w->opts.scrape, sb);
    if (w->opts.write_metrics) w->opts.write_metrics(w->opts.cb_ctx, sb);
    web_write_process_metrics(sb);
}

/* ---- routing ------------------------------------------------------------ */

static bool is_method(const http_request_t *req, const char *m) { return strcmp(req->method, m) == 0; }

static void route(void *ctx, const http_request_t *req, http_response_t *r) {
    web_t *w = ctx;
    int64_t t0 = pl_monotonic_ns();
    const char *p = req->path;
    bool get = is_method(req, "GET") || is_method(req, "HEAD");
    bool post = is_method(req, "POST") || is_method(req, "PUT");

    if (strcmp(p, "/-/healthy") == 0) {
        strbuf_puts(&r->body, "Prometheus Server is Healthy.\n");
    } else if (strcmp(p, "/-/ready") == 0) {
        if (atomic_load(&w->ready)) {
            strbuf_puts(&r->body, "Prometheus Server is Ready.\n");
        } else {
            r->status = 503;
            strbuf_puts(&r->body, "Service Unavailable");
        }
    } else if (strcmp(p, "/-/reload") == 0 || strcmp(p, "/-/quit") == 0) {
        bool reload = strcmp(p, "/-/reload") == 0;
        if (!w->opts.enable_lifecycle) {
            r->status = 403;
            strbuf_puts(&r->body, "Lifecycle API is not enabled.");
        } else if (!post) {
            r->status = 405;
            strbuf_printf(&r->body, "Only POST or PUT requests allowed");
        } else if (reload) {
            pl_err_t err = {{0}};
            if (w->opts.reload(w->opts.cb_ctx, &err) < 0) {
                r->status = 500;
                strbuf_printf(&r->body, "failed to reload config: %s\n", err.msg);
            }
        } else {
            strbuf_puts(&r->body, "Requesting termination... Goodbye!");
            w->opts.quit(w->opts.cb_ctx);
        }
    } else if (strcmp(p, "/metrics") == 0 && get) {
        handle_metrics(w, r);
    } else if (strncmp(p, "/api/v1/", 8) == 0) {
        if (!get && !post) {
            api_error(r, 405, "bad_data", "method not allowed");
        } else if (strcmp(p, "/api/v1/query") == 0) {
            handle_query(w, req, r);
        } else if (strcmp(p, "/api/v1/query_range") == 0) {
            handle_query_range(w, req, r);
        } else if (strcmp(p, "/api/v1/status/config") == 0) {
            handle_config(w, r);
        } else if (strcmp(p, "/api/v1/status/flags") == 0) {
            handle_flags(w, r);
        } else if (strcmp(p, "/api/v1/status/buildinfo") == 0) {
            handle_buildinfo(r);
        } else if (strcmp(p, "/api/v1/targets") == 0) {
            handle_targets(w, req, r);
        } else {
            r->status = 404;
            r->content_type = "text/plain; charset=utf-8";
            strbuf_puts(&r->body, "404 page not found\n");
        }
    } else if (strcmp(p, "/") == 0) {
        r->status = 302;
        r->location = strdup("/query");
        strbuf_puts(&r->body, "<a href=\"/query\">Found</a>.\n");
    } else {
        r->status = 404;
        strbuf_puts(&r->body, "404 page not found\n");
    }
    record_request(w, handler_index(p), r->status, pl_monotonic_ns() - t0);
}

web_t *web_start(const web_opts_t *opts, pl_err_t *err) {
    web_t *w = calloc(1, sizeof *w);
    if (!w) {
        pl_err_set(err, "out of memory");
        return NULL;
    }
    w->opts = *opts;
    w->start_ms = pl_now_ms();
    promql_engine_opts_t eo = {.lookback_ms = opts->lookback_delta_ms, .max_samples = 50000000};
    w->engine = promql_engine_new(&eo);
    if (opts->head) head_queryable(opts->head, &w->queryable);
    w->http = http_server_start(opts->listen_address, 4, route, w, err);
    if (!w->http) {
        promql_engine_free(w->engine);
        free(w);
        return NULL;
    }
    return w;
}

void web_set_ready(web_t *w, bool ready) { atomic_store(&w->ready, ready); }
unsigned web_port(const web_t *w) { return http_server_port(w->http); }

void web_stop(web_t *w) {
    if (!w) return;
    http_server_stop(w->http);
    promql_engine_free(w->engine);
    free(w);
}
