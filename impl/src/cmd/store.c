/* store.c — `promlab store`: the Thanos Store gateway's role over a bucket.
 *
 * Flags carry Thanos store's names and defaults. At start the bucket is
 * synced once (the store is ready only after that sync succeeded), then
 * again every --sync-block-duration (store/store.h says what a sync does).
 *
 * HTTP on --http-address (Thanos serves the StoreAPI over gRPC; promlab's
 * leaves speak Prometheus's remote read instead):
 *   POST /api/v1/read             remote read over the bucket's blocks,
 *                                 SAMPLES and STREAMED_XOR_CHUNKS;
 *                                 ?max_source_resolution=MS (raw when absent)
 *                                 and the request hints' func choose
 *                                 downsampled data and its aggregate
 *   GET  /api/v1/store/info       label sets, time ranges per resolution,
 *                                 the block list (what `promlab query` probes)
 *   GET  /api/v1/labels, /api/v1/label/<name>/values
 *   /metrics, /-/healthy, /-/ready */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cmd/cmd.h"
#include "objstore/objstore.h"
#include "remote/remote_read.h"
#include "store/store.h"
#include "util/flags.h"
#include "util/json.h"
#include "util/log.h"
#include "util/timeutil.h"
#include "web/http.h"
#include "web/web.h"

static flag_def_t store_flags[] = {
    {"http-address", FLAG_STRING, "0.0.0.0:10902", "Listen host:port for HTTP endpoints.", false},
    {"grpc-address", FLAG_STRING, "0.0.0.0:10901", "Listen ip:port address for gRPC endpoints (StoreAPI). promlab does not serve gRPC: accepted and ignored.", false},
    {"data-dir", FLAG_STRING, "./data", "Local data directory used for caching purposes (index files of the blocks).", false},
    {"objstore.config-file", FLAG_STRING, "", "Path to YAML file that contains object store configuration. See format details: https://thanos.io/tip/thanos/storage.md/#configuration", false},
    {"objstore.config", FLAG_STRING, "", "Alternative to 'objstore.config-file' flag (mutually exclusive). Content of YAML file that contains object store configuration.", false},
    {"sync-block-duration", FLAG_DURATION, "15m", "Repeat interval for syncing the blocks between local and remote view.", false},
    {"ignore-deletion-marks-delay", FLAG_DURATION, "24h", "Duration after which the blocks marked for deletion will be filtered out while fetching blocks.", false},
    {"min-time", FLAG_STRING, "0000-01-01T00:00:00Z", "Start of time range limit to serve. Option can be a constant time in RFC3339 format or time duration relative to current time, such as -1d or 2h45m.", false},
    {"max-time", FLAG_STRING, "9999-12-31T23:59:59Z", "End of time range limit to serve. Option can be a constant time in RFC3339 format or time duration relative to current time, such as -1d or 2h45m.", false},
    {"store.grpc.series-sample-limit", FLAG_INT, "0", "Maximum amount of samples returned via a single read request (0: no limit).", false},
    {"log.level", FLAG_STRING, "info", "Log filtering level.", false},
    {"log.format", FLAG_STRING, "logfmt", "Log format to use. Possible options: logfmt or json.", false},
};
#define N_FLAGS (sizeof store_flags / sizeof store_flags[0])

typedef struct store_server {
    store_t *store;
    objstore_t *bucket;
    int64_t sync_ms, sample_limit;
    pthread_mutex_t mu;
    pthread_cond_t cond;
    bool stop;
    _Atomic int ready;
} store_server_t;

/* ---- remote read ---- */

typedef struct read_ctx {
    size_t qi;
    enum rr_response_type type;
    rr_samples_writer_t *sw;
    strbuf_t *out;
    int64_t limit, samples;
    bool over_limit;
    pl_err_t *err;
} read_ctx_t;

static int on_series(void *ctx, const label_t *ls, size_t n, const sample_t *s, size_t ns) {
    read_ctx_t *c = ctx;
    c->samples += (int64_t)ns;
    if (c->limit > 0 && c->samples > c->limit) {
        c->over_limit = true;
        return pl_err_set(c->err, "exceeded sample limit (%" PRId64 ")", c->limit);
    }
    if (c->type == RR_SAMPLES)
        return rr_samples_writer_add(c->sw, c->qi, ls, n, s, ns) < 0 ? pl_err_set(c->err, "out of memory") : 0;
    return rr_stream_write_series(c->out, (int64_t)c->qi, ls, n, s, ns, (size_t)1 << 20, c->err) < 0 ? -1 : 0;
}

static void plain(http_response_t *r, int status, const char *msg) {
    r->status = status;
    r->content_type = "text/plain; charset=utf-8";
    strbuf_reset(&r->body);
    strbuf_printf(&r->body, "%s\n", msg);
}

static void handle_read(store_server_t *ss, const http_request_t *req, http_response_t *r) {
    pl_err_t err = {{0}};
    int64_t max_res = 0;
    const char *mr = http_param(req, "max_source_resolution");
    if (mr && store_parse_resolution(mr, &max_res, &err) < 0) {
        plain(r, 400, err.msg);
        return;
    }
    rr_request_t rq;
    if (rr_request_decode(req->body ? req->body : "", req->body_len, &rq, &err) < 0) {
        rr_request_free(&rq);
        plain(r, 400, err.msg);
        return;
    }
    enum rr_response_type type;
    if (rr_negotiate(&rq, &type, &err) < 0) {
        rr_request_free(&rq);
        plain(r, 400, err.msg);
        return;
    }
    log_debug("store", "remote read", "queries=%zu response_type=%s max_source_resolution_ms=%" PRId64, rq.nqueries,
              type == RR_SAMPLES ? "SAMPLES" : "STREAMED_XOR_CHUNKS", max_res);
    read_ctx_t c = {.type = type, .out = &r->body, .limit = ss->sample_limit, .err = &err};
    if (type == RR_SAMPLES) c.sw = rr_samples_writer_new(rq.nqueries);
    int rc = type == RR_SAMPLES && !c.sw ? pl_err_set(&err, "out of memory") : 0;
    for (size_t qi = 0; rc == 0 && qi < rq.nqueries; qi++) {
        rr_query_t *q = &rq.queries[qi];
        store_select_opts_t so = {.max_resolution = max_res, .func = q->has_hints ? q->hints.func : NULL};
        c.qi = qi;
        rc = store_select(ss->store, q->matchers, q->nmatchers, q->start_ms, q->end_ms, &so, on_series, &c, &err);
    }
    if (rc == 0 && type == RR_SAMPLES) {
        strbuf_reset(&r->body);
        rc = rr_samples_writer_finish(c.sw, &r->body, &err);
    }
    if (rc != 0) {
        log_warn("store", "remote read failed", "err=\"%s\"", err.msg);
        plain(r, c.over_limit ? 400 : 500, err.msg[0] ? err.msg : "remote read failed");
    } else if (type == RR_SAMPLES) {
        r->status = 200;
        r->content_type = RR_CONTENT_TYPE_SAMPLES;
        r->extra_header_name = strdup("Content-Encoding");
        r->extra_header_value = strdup("snappy");
        r->identity = true;
    } else {
        r->status = 200;
        r->content_type = RR_CONTENT_TYPE_STREAMED;
        r->identity = true;
    }
    rr_samples_writer_free(c.sw);
    rr_request_free(&rq);
}

/* ---- JSON answers ---- */

typedef struct strings_json {
    jsonw_t *w;
} strings_json_t;

static int put_string(void *ctx, const char *s) {
    jw_str(((strings_json_t *)ctx)->w, s);
    return 0;
}

static void handle_labels(store_server_t *ss, const char *name, http_response_t *r) {
    pl_err_t err = {{0}};
    r->content_type = "application/json";
    if (name && !label_name_valid(name, strlen(name))) {
        r->status = 400;
        strbuf_printf(&r->body, "{\"status\":\"error\",\"errorType\":\"bad_data\",\"error\":\"invalid label name\"}");
        return;
    }
    jsonw_t w;
    strbuf_t data = STRBUF_INIT;
    jw_init(&w, &data);
    jw_arr_begin(&w);
    strings_json_t sj = {&w};
    int rc = name ? store_label_values(ss->store, name, put_string, &sj, &err)
                  : store_label_names(ss->store, put_string, &sj, &err);
    jw_arr_end(&w);
    if (rc != 0) {
        r->status = 500;
        strbuf_puts(&r->body, "{\"status\":\"error\",\"errorType\":\"internal\",\"error\":");
        json_escape(&r->body, err.msg, strlen(err.msg));
        strbuf_puts(&r->body, "}");
    } else {
        r->status = 200;
        strbuf_puts(&r->body, "{\"status\":\"success\",\"data\":");
        strbuf_append(&r->body, data.data, data.len);
        strbuf_puts(&r->body, "}");
    }
    strbuf_free(&data);
}

static void handle(void *ctx, const http_request_t *req, http_response_t *r) {
    store_server_t *ss = ctx;
    r->content_type = "text/plain; charset=utf-8";
    const char *p = req->path;
    if (web_component_probe(req, r, atomic_load(&ss->ready))) return;
    if (!strcmp(p, "/metrics")) {
        r->status = 200;
        r->content_type = "text/plain; version=0.0.4; charset=utf-8";
        strbuf_puts(&r->body, "# HELP thanos_status Represents status (0 indicates failure, 1 indicates success) of the component.\n"
                              "# TYPE thanos_status gauge\n");
        strbuf_printf(&r->body, "thanos_status{check=\"ready\",component=\"store\"} %d\n", atomic_load(&ss->ready));
        store_write_metrics(ss->store, &r->body);
        objstore_write_metrics(ss->bucket, &r->body);
        web_write_process_metrics(&r->body);
    } else if (!strcmp(p, "/api/v1/read")) {
        if (strcmp(req->method, "POST") != 0) {
            r->status = 405;
            strbuf_puts(&r->body, "method not allowed: POST a remote-read request\n");
            return;
        }
        if (!atomic_load(&ss->ready)) {
            plain(r, 503, "store is not ready: the first bucket sync has not finished");
            return;
        }
        handle_read(ss, req, r);
    } else if (!strcmp(p, "/api/v1/store/info")) {
        if (!atomic_load(&ss->ready)) { /* an empty block list now would read as "holds nothing" */
            plain(r, 503, "store is not ready: the first bucket sync has not finished");
            return;
        }
        r->status = 200;
        r->content_type = "application/json";
        strbuf_puts(&r->body, "{\"status\":\"success\",\"data\":");
        store_write_info(ss->store, &r->body);
        strbuf_puts(&r->body, "}");
    } else if (!strcmp(p, "/api/v1/labels")) {
        handle_labels(ss, NULL, r);
    } else if (!strncmp(p, "/api/v1/label/", 14) && strlen(p) > 21 && !strcmp(p + strlen(p) - 7, "/values")) {
        char name[256];
        size_t n = strlen(p) - 21;
        if (n >= sizeof name) n = sizeof name - 1;
        memcpy(name, p + 14, n);
        name[n] = '\0';
        handle_labels(ss, name, r);
    } else {
        web_component_fallback(
            req, r, "promlab store: POST /api/v1/read, /api/v1/store/info, /api/v1/labels, /metrics, /-/healthy, /-/ready\n");
    }
}

/* ---- sync loop ---- */

static bool wait_or_stop(store_server_t *ss, int64_t ms) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += ms / 1000;
    ts.tv_nsec += (ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) ts.tv_sec++, ts.tv_nsec -= 1000000000L;
    pthread_mutex_lock(&ss->mu);
    while (!ss->stop)
        if (pthread_cond_timedwait(&ss->cond, &ss->mu, &ts) == ETIMEDOUT) break;
    bool stop = ss->stop;
    pthread_mutex_unlock(&ss->mu);
    return stop;
}

static void *sync_loop(void *arg) {
    store_server_t *ss = arg;
    for (;;) {
        pl_err_t err = {{0}};
        int64_t t0 = pl_monotonic_ns();
        if (store_sync(ss->store, &err) == 0) {
            if (!atomic_load(&ss->ready))
                log_info("store", "initial synchronization done; store is ready", "blocks=%" PRIu64 " duration_ms=%" PRId64,
                         store_blocks_loaded(ss->store), (pl_monotonic_ns() - t0) / 1000000);
            atomic_store(&ss->ready, 1);
        } else {
            log_warn("store", "syncing blocks failed", "err=\"%s\"", err.msg);
        }
        /* Until the first sync succeeds, retry soon. */
        int64_t wait = atomic_load(&ss->ready) ? ss->sync_ms : (ss->sync_ms < 5000 ? ss->sync_ms : 5000);
        if (wait_or_stop(ss, wait)) break;
    }
    return NULL;
}

/* --min-time / --max-time: RFC 3339, a Unix time, or a duration relative to now ("-2w", "2h45m"). */
static int parse_time_flag(const char *s, int64_t *out, pl_err_t *err) {
    const char *d = s;
    bool neg = false;
    if (*d == '-' || *d == '+') neg = *d++ == '-';
    int64_t ms;
    pl_err_t e2 = {{0}};
    if (*d && pl_parse_duration(d, &ms, &e2) == 0) {
        *out = pl_now_ms() + (neg ? -ms : ms);
        return 0;
    }
    if (!strcmp(s, "0000-01-01T00:00:00Z")) {
        *out = INT64_MIN;
        return 0;
    }
    if (!strcmp(s, "9999-12-31T23:59:59Z")) {
        *out = INT64_MAX;
        return 0;
    }
    return pl_parse_time(s, out, err);
}

static int usage_error(const char *msg) { return flags_cli_error(store_flags, N_FLAGS, "promlab store", msg); }

int cmd_store(int argc, char **argv) {
    pl_err_t err = {{0}};
    int rc = flags_parse_cli(store_flags, N_FLAGS, argc, argv, "promlab store", "promlab store [<flags>]");
    if (rc >= 0) return rc;
    if (flags_apply_log(store_flags, N_FLAGS, &err) < 0) return usage_error(err.msg);
    store_server_t ss;
    memset(&ss, 0, sizeof ss);
    int64_t delay_ms, mint, maxt;
    if (flags_duration(store_flags, N_FLAGS, "sync-block-duration", &ss.sync_ms, &err) < 0 ||
        flags_duration(store_flags, N_FLAGS, "ignore-deletion-marks-delay", &delay_ms, &err) < 0 ||
        flags_int(store_flags, N_FLAGS, "store.grpc.series-sample-limit", &ss.sample_limit, &err) < 0)
        return usage_error(err.msg);
    if (ss.sync_ms <= 0) return usage_error("--sync-block-duration: must be positive");
    if (parse_time_flag(flags_str(store_flags, N_FLAGS, "min-time"), &mint, &err) < 0) {
        pl_err_prefix(&err, "--min-time");
        return usage_error(err.msg);
    }
    if (parse_time_flag(flags_str(store_flags, N_FLAGS, "max-time"), &maxt, &err) < 0) {
        pl_err_prefix(&err, "--max-time");
        return usage_error(err.msg);
    }
    if (mint > maxt) return usage_error("--min-time is after --max-time");
    const char *cfg_file = flags_str(store_flags, N_FLAGS, "objstore.config-file");
    const char *cfg_inline = flags_str(store_flags, N_FLAGS, "objstore.config");
    if (*cfg_file && *cfg_inline) return usage_error("--objstore.config-file and --objstore.config are mutually exclusive");
    if (!*cfg_file && !*cfg_inline) return usage_error("no bucket: give --objstore.config-file or --objstore.config");
    if (!(ss.bucket = objstore_open_flags(cfg_file, cfg_inline, &err))) {
        fprintf(stderr, "promlab store: error: %s\n", err.msg);
        flags_free(store_flags, N_FLAGS);
        return 1;
    }
    store_opts_t so = {
        .bucket = ss.bucket,
        .data_dir = flags_str(store_flags, N_FLAGS, "data-dir"),
        .ignore_deletion_marks_delay_ms = delay_ms,
        .min_time = mint,
        .max_time = maxt,
    };
    ss.store = store_new(&so, &err);
    if (!ss.store) {
        fprintf(stderr, "promlab store: error: %s\n", err.msg);
        objstore_close(ss.bucket);
        flags_free(store_flags, N_FLAGS);
        return 1;
    }
    log_info("main", "Starting promlab store", "version=%s bucket=\"%s\" data_dir=%s", PROMLAB_VERSION,
             objstore_name(ss.bucket), so.data_dir);
    log_info("store", "gRPC StoreAPI is not served by promlab; --grpc-address is ignored", "address=%s",
             flags_str(store_flags, N_FLAGS, "grpc-address"));

    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    signal(SIGPIPE, SIG_IGN);
    pthread_mutex_init(&ss.mu, NULL);
    pthread_cond_init(&ss.cond, NULL);
    int exit_code = 0;
    pthread_t th;
    bool started = false;
    const char *addr = flags_str(store_flags, N_FLAGS, "http-address");
    http_server_t *http = http_server_start(addr, 4, handle, &ss, &err);
    if (!http) {
        fprintf(stderr, "promlab store: error: listen on %s: %s\n", addr, err.msg);
        exit_code = 1;
        goto out;
    }
    log_info("http", "Listening for HTTP", "address=%s", addr);
    started = pthread_create(&th, NULL, sync_loop, &ss) == 0;
    if (!started) {
        fprintf(stderr, "promlab store: error: cannot start the sync thread\n");
        exit_code = 1;
        goto out;
    }
    for (;;) {
        int sig = 0;
        if (sigwait(&sigs, &sig) == 0) break;
    }
    log_info("main", "Received termination request, exiting gracefully...", NULL);
out:
    if (started) {
        pthread_mutex_lock(&ss.mu);
        ss.stop = true;
        pthread_cond_broadcast(&ss.cond);
        pthread_mutex_unlock(&ss.mu);
        pthread_join(th, NULL);
    }
    if (http) http_server_stop(http);
    store_free(ss.store);
    objstore_close(ss.bucket);
    pthread_cond_destroy(&ss.cond);
    pthread_mutex_destroy(&ss.mu);
    flags_free(store_flags, N_FLAGS);
    log_info("main", "exiting", "code=%d", exit_code);
    return exit_code;
}
