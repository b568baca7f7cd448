/* web.c — the server's HTTP interface: the route table, request accounting,
 * the API envelope, /metrics and the lifecycle endpoints. See web.h.
 *
 * Every handler writes its whole answer into a strbuf (the http layer adds
 * gzip). API answers use Prometheus's envelope:
 *   {"status":"success","data":...}  or
 *   {"status":"error","errorType":"bad_data","error":"..."}
 * Handlers of each group of endpoints live in their own file (internal.h). */
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

#include "remote/remote_read.h"
#include "textparse/textparse.h"
#include "util/log.h"
#include "util/timeutil.h"
#include "web/internal.h"

/* ---- routes --------------------------------------------------------------- */

enum {
    ROUTE_GET = 1,    /* GET and HEAD */
    ROUTE_POST = 2,   /* POST and PUT */
    ROUTE_API = 4,    /* a method outside the set is answered with the API's JSON 405 */
    ROUTE_PREFIX = 8, /* path is a prefix (e.g. /api/v1/label/) */
};

static void handle_healthy(web_t *w, const http_request_t *req, http_response_t *r);
static void handle_ready(web_t *w, const http_request_t *req, http_response_t *r);
static void handle_reload(web_t *w, const http_request_t *req, http_response_t *r);
static void handle_quit(web_t *w, const http_request_t *req, http_response_t *r);
static void handle_metrics(web_t *w, const http_request_t *req, http_response_t *r);
static void handle_root(web_t *w, const http_request_t *req, http_response_t *r);

typedef struct web_route {
    const char *path;
    const char *name; /* the handler label of prometheus_http_*; NULL = path */
    unsigned flags;
    web_handler_fn fn;
} web_route_t;

#define API (ROUTE_GET | ROUTE_POST | ROUTE_API)
/* Matched in order; the first match wins. */
static const web_route_t routes[] = {
    {"/metrics", NULL, ROUTE_GET, handle_metrics},
    {"/-/healthy", NULL, ROUTE_GET | ROUTE_POST, handle_healthy},
    {"/-/ready", NULL, ROUTE_GET | ROUTE_POST, handle_ready},
    {"/-/reload", NULL, ROUTE_GET | ROUTE_POST, handle_reload},
    {"/-/quit", NULL, ROUTE_GET | ROUTE_POST, handle_quit},
    {"/api/v1/query", NULL, API, web_handle_query},
    {"/api/v1/query_range", NULL, API, web_handle_query_range},
    {"/api/v1/series", NULL, API, web_handle_series},
    {"/api/v1/labels", NULL, API, web_handle_labels},
    {"/api/v1/label/", "/api/v1/label/:name/values", API | ROUTE_PREFIX, web_handle_label_values},
    {"/api/v1/metadata", NULL, API, web_handle_metadata},
    {"/api/v1/format_query", NULL, API, web_handle_format_query},
    {"/api/v1/status/config", NULL, API, web_handle_config},
    {"/api/v1/status/flags", NULL, API, web_handle_flags},
    {"/api/v1/status/buildinfo", NULL, API, web_handle_buildinfo},
    {"/api/v1/targets", NULL, API, web_handle_targets},
    {"/api/v1/read", NULL, ROUTE_POST, web_handle_read},
    {"/query", NULL, ROUTE_GET, web_handle_ui_page},
    {"/graph", NULL, ROUTE_GET, web_handle_ui_page},
    {"/targets", NULL, ROUTE_GET, web_handle_ui_page},
    {"/rules", NULL, ROUTE_GET, web_handle_ui_page},
    {"/alerts", NULL, ROUTE_GET, web_handle_ui_page},
    {"/tsdb-status", NULL, ROUTE_GET, web_handle_ui_page},
    {"/config", NULL, ROUTE_GET, web_handle_ui_page},
    {"/flags", NULL, ROUTE_GET, web_handle_ui_page},
    {"/status", NULL, ROUTE_GET, web_handle_ui_page},
    {"/assets/", "/assets/*filepath", ROUTE_GET | ROUTE_PREFIX, web_handle_ui_asset},
    {"/api/v1/admin/tsdb/snapshot", NULL, ROUTE_POST | ROUTE_API, web_handle_admin_snapshot},
    {"/api/v1/admin/tsdb/delete_series", NULL, ROUTE_POST | ROUTE_API, web_handle_admin_delete_series},
    {"/api/v1/admin/tsdb/clean_tombstones", NULL, ROUTE_POST | ROUTE_API, web_handle_admin_clean_tombstones},
    {"/api/v1/targets/metadata", NULL, API, web_handle_targets_metadata},
    {"/api/v1/status/tsdb", NULL, API, web_handle_tsdb_status},
    {"/api/v1/status/runtimeinfo", NULL, API, web_handle_runtimeinfo},
    {"/federate", NULL, ROUTE_GET | ROUTE_POST, web_handle_federate},
    {"/debug/pprof/heap", NULL, ROUTE_GET | ROUTE_POST, web_handle_pprof_heap},
    {"/debug/pprof/cmdline", NULL, ROUTE_GET | ROUTE_POST, web_handle_pprof_cmdline},
    {"/debug/pprof/", NULL, ROUTE_GET | ROUTE_POST, web_handle_pprof_index},
    {"/api/v1/rules", NULL, API, web_handle_rules},
    {"/api/v1/alerts", NULL, API, web_handle_alerts},
    {"/api/v1/alertmanagers", NULL, API, web_handle_alertmanagers},
    {"/", NULL, ROUTE_GET, handle_root},
};
#undef API
#define N_ROUTES (sizeof routes / sizeof routes[0])
_Static_assert(N_ROUTES <= WEB_MAX_ROUTES, "raise WEB_MAX_ROUTES");

static const web_route_t *find_route(const char *path, size_t *index) {
    for (size_t i = 0; i < N_ROUTES; i++) {
        const web_route_t *rt = &routes[i];
        bool hit = (rt->flags & ROUTE_PREFIX) ? strncmp(path, rt->path, strlen(rt->path)) == 0
                                               : strcmp(path, rt->path) == 0;
        if (hit) {
            *index = i;
            return rt;
        }
    }
    *index = N_ROUTES;
    return NULL;
}

static const char *route_name(size_t i) {
    if (i >= N_ROUTES) return "other";
    return routes[i].name ? routes[i].name : routes[i].path;
}

/* ---- request accounting (prometheus_http_*) ----------------------------- */

static const int status_codes[WEB_N_CODES] = {200, 204, 302, 400, 403, 404, 405, 413, 422, 500, 503};
static const double duration_buckets[WEB_N_BUCKETS] = {0.1, 0.2, 0.4, 1, 3, 8, 20, 60, 120};

static void record_request(web_t *w, size_t h, int status, int64_t ns) {
    web_handler_stats_t *st = &w->stats[h];
    for (size_t i = 0; i < WEB_N_CODES; i++)
        if (status_codes[i] == status) atomic_fetch_add(&st->requests[i], 1);
    double s = (double)ns / 1e9;
    size_t b = 0;
    while (b < WEB_N_BUCKETS && s > duration_buckets[b]) b++;
    atomic_fetch_add(&st->buckets[b], 1);
    atomic_fetch_add(&st->duration_ns_sum, (uint64_t)ns);
}

/* ---- API envelope helpers ---------------------------------------------- */

void api_error(http_response_t *r, int status, const char *type, const char *msg) {
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
void api_begin(http_response_t *r, jsonw_t *w) {
    r->content_type = "application/json";
    jw_init(w, &r->body);
    jw_obj_begin(w);
    jw_key(w, "status");
    jw_str(w, "success");
    jw_key(w, "data");
}

void api_end(jsonw_t *w) { jw_obj_end(w); }

void api_write_labels(jsonw_t *jw, const label_t *ls, size_t n) {
    jw_obj_begin(jw);
    for (size_t i = 0; i < n; i++) {
        jw_key(jw, ls[i].name);
        jw_str(jw, ls[i].value);
    }
    jw_obj_end(jw);
}

/* ---- /metrics ------------------------------------------------------------ */

void metric_header(strbuf_t *sb, const char *name, const char *type, const char *help) {
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
    for (size_t h = 0; h <= N_ROUTES; h++)
        for (size_t c = 0; c < WEB_N_CODES; c++) {
            uint64_t v = atomic_load(&w->stats[h].requests[c]);
            if (v) strbuf_printf(sb, "prometheus_http_requests_total{code=\"%d\",handler=\"%s\"} %" PRIu64 "\n",
                                 status_codes[c], route_name(h), v);
        }
    metric_header(sb, "prometheus_http_request_duration_seconds", "histogram", "Histogram of latencies for HTTP requests.");
    for (size_t h = 0; h <= N_ROUTES; h++) {
        uint64_t cum = 0;
        for (size_t b = 0; b <= WEB_N_BUCKETS; b++) cum += atomic_load(&w->stats[h].buckets[b]);
        if (!cum) continue;
        uint64_t acc = 0;
        for (size_t b = 0; b < WEB_N_BUCKETS; b++) {
            acc += atomic_load(&w->stats[h].buckets[b]);
            char le[64];
            pl_format_float(le, duration_buckets[b]);
            strbuf_printf(sb, "prometheus_http_request_duration_seconds_bucket{handler=\"%s\",le=\"%s\"} %" PRIu64 "\n",
                          route_name(h), le, acc);
        }
        strbuf_printf(sb, "prometheus_http_request_duration_seconds_bucket{handler=\"%s\",le=\"+Inf\"} %" PRIu64 "\n",
                      route_name(h), cum);
        strbuf_printf(sb, "prometheus_http_request_duration_seconds_sum{handler=\"%s\"} ", route_name(h));
        strbuf_put_float(sb, (double)atomic_load(&w->stats[h].duration_ns_sum) / 1e9);
        strbuf_printf(sb, "\nprometheus_http_request_duration_seconds_count{handler=\"%s\"} %" PRIu64 "\n",
                      route_name(h), cum);
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


static void handle_metrics(web_t *w, const http_request_t *req, http_response_t *r) {
    (void)req;
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
    if (w->opts.head) write_head_metrics(w, sb);
    write_http_metrics(w, sb);
    if (w->opts.scrape) scrape_manager_write_metrics(w->opts.scrape, sb);
    promql_engine_write_metrics(w->engine, sb);
    if (w->opts.write_metrics) w->opts.write_metrics(w->opts.cb_ctx, sb);
    web_write_process_metrics(sb);
}

/* ---- lifecycle and probes ------------------------------------------------ */

static bool is_method(const http_request_t *req, const char *m) { return strcmp(req->method, m) == 0; }

static void handle_healthy(web_t *w, const http_request_t *req, http_response_t *r) {
    (void)w;
    (void)req;
    strbuf_puts(&r->body, "Prometheus Server is Healthy.\n");
}

static void handle_ready(web_t *w, const http_request_t *req, http_response_t *r) {
    (void)req;
    if (atomic_load(&w->ready)) {
        strbuf_puts(&r->body, "Prometheus Server is Ready.\n");
    } else {
        r->status = 503;
        strbuf_puts(&r->body, "Service Unavailable");
    }
}

/* Both lifecycle endpoints: 403 unless --web.enable-lifecycle, POST/PUT only. */
static bool lifecycle_allowed(web_t *w, const http_request_t *req, http_response_t *r) {
    if (!w->opts.enable_lifecycle) {
        r->status = 403;
        strbuf_puts(&r->body, "Lifecycle API is not enabled.");
        return false;
    }
    if (!is_method(req, "POST") && !is_method(req, "PUT")) {
        r->status = 405;
        strbuf_printf(&r->body, "Only POST or PUT requests allowed");
        return false;
    }
    return true;
}

static void handle_reload(web_t *w, const http_request_t *req, http_response_t *r) {
    if (!lifecycle_allowed(w, req, r)) return;
    pl_err_t err = {{0}};
    if (!w->opts.reload || w->opts.reload(w->opts.cb_ctx, &err) < 0) {
        r->status = 500;
        strbuf_printf(&r->body, "failed to reload config: %s\n", err.msg);
    }
}

static void handle_quit(web_t *w, const http_request_t *req, http_response_t *r) {
    if (!lifecycle_allowed(w, req, r)) return;
    strbuf_puts(&r->body, "Requesting termination... Goodbye!");
    w->opts.quit(w->opts.cb_ctx);
}

static void handle_root(web_t *w, const http_request_t *req, http_response_t *r) {
    (void)w;
    (void)req;
    r->status = 302;
    r->location = strdup("/query");
    strbuf_puts(&r->body, "<a href=\"/query\">Found</a>.\n");
}

/* ---- routing ------------------------------------------------------------ */

static void not_found(http_response_t *r) {
    r->status = 404;
    r->content_type = "text/plain; charset=utf-8";
    strbuf_puts(&r->body, "404 page not found\n");
}

static void route(void *ctx, const http_request_t *req, http_response_t *r) {
    web_t *w = ctx;
    int64_t t0 = pl_monotonic_ns();
    bool get = is_method(req, "GET") || is_method(req, "HEAD");
    bool post = is_method(req, "POST") || is_method(req, "PUT");
    size_t idx;
    const web_route_t *rt = find_route(req->path, &idx);
    if (!rt) {
        not_found(r);
    } else if ((get && (rt->flags & ROUTE_GET)) || (post && (rt->flags & ROUTE_POST))) {
        rt->fn(w, req, r);
    } else if (rt->flags & ROUTE_API) {
        api_error(r, 405, "bad_data", "method not allowed");
    } else {
        r->status = 405;
        strbuf_puts(&r->body, "Method Not Allowed\n");
    }
    record_request(w, idx, r->status, pl_monotonic_ns() - t0);
}

web_t *web_start(const web_opts_t *opts, pl_err_t *err) {
    web_t *w = calloc(1, sizeof *w);
    if (!w) {
        pl_err_set(err, "out of memory");
        return NULL;
    }
    w->opts = *opts;
    w->start_ms = pl_now_ms();
    promql_engine_opts_t eo = {
        .lookback_ms = opts->lookback_delta_ms,
        .max_samples = opts->query_max_samples > 0 ? (size_t)opts->query_max_samples : 50000000,
        .timeout_ms = opts->query_timeout_ms,
        .max_concurrency = opts->query_max_concurrency,
    };
    w->engine = promql_engine_new(&eo);
    if (!w->engine || promql_engine_set_query_log(w->engine, opts->query_log_file, err) < 0) {
        promql_engine_free(w->engine);
        free(w);
        return NULL;
    }
    if (opts->queryable.select) w->queryable = opts->queryable;
    else if (opts->head) head_queryable(opts->head, &w->queryable);
    w->read_gate = rr_gate_new(opts->remote_read_concurrent_limit);
    w->http = http_server_start(opts->listen_address, 4, route, w, err);
    if (!w->http) {
        rr_gate_free(w->read_gate);
        promql_engine_free(w->engine);
        free(w);
        return NULL;
    }
    return w;
}

/* ---- per-request storage ---------------------------------------------- */

void web_reader_begin(web_t *w, const http_request_t *req, web_request_reader_t *rr) {
    rr->q = w->queryable;
    rr->state = NULL;
    if (w->opts.reader) rr->state = w->opts.reader->begin(w->opts.reader->ctx, req, &rr->q);
}

size_t web_reader_warnings(web_t *w, web_request_reader_t *rr, const char *const **out) {
    *out = NULL;
    if (!w->opts.reader || !w->opts.reader->warnings) return 0;
    return w->opts.reader->warnings(rr->state, out);
}

const char *web_reader_error(web_t *w, web_request_reader_t *rr) {
    if (!w->opts.reader || !w->opts.reader->error) return NULL;
    return w->opts.reader->error(rr->state);
}

int64_t web_reader_lookback(web_t *w, web_request_reader_t *rr) {
    if (!w->opts.reader || !w->opts.reader->lookback_ms) return 0;
    return w->opts.reader->lookback_ms(rr->state);
}

void web_reader_end(web_t *w, web_request_reader_t *rr) {
    if (w->opts.reader && w->opts.reader->end) w->opts.reader->end(rr->state);
    rr->state = NULL;
}

void web_set_ready(web_t *w, bool ready) { atomic_store(&w->ready, ready); }
int web_set_query_log(web_t *w, const char *path, pl_err_t *err) {
    return promql_engine_set_query_log(w->engine, path, err);
}
unsigned web_port(const web_t *w) { return http_server_port(w->http); }

void web_stop(web_t *w) {
    if (!w) return;
    http_server_stop(w->http);
    promql_engine_free(w->engine);
    rr_gate_free(w->read_gate);
    free(w);
}

bool web_component_probe(const http_request_t *req, http_response_t *r, bool ready) {
    if (!strcmp(req->path, "/-/healthy")) {
        r->status = 200;
        strbuf_puts(&r->body, "OK");
    } else if (!strcmp(req->path, "/-/ready")) {
        r->status = ready ? 200 : 503;
        strbuf_puts(&r->body, ready ? "OK" : "NOT READY");
    } else {
        return false;
    }
    r->content_type = "text/plain; charset=utf-8";
    return true;
}

void web_component_fallback(const http_request_t *req, http_response_t *r, const char *index_text) {
    r->content_type = "text/plain; charset=utf-8";
    if (!strcmp(req->path, "/")) {
        r->status = 200;
        strbuf_puts(&r->body, index_text);
    } else {
        r->status = 404;
        strbuf_puts(&r->body, "404 page not found\n");
    }
}
