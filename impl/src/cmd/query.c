/* query.c — `promlab query`: the Thanos Query role, the global view.
 *
 * Flags carry Thanos query's names and defaults. Each --endpoint is the
 * base URL of a remote-read endpoint (a promlab server, a real Prometheus,
 * later sidecars and stores): a remote_client_t over it becomes a leaf of
 * the fan-out (query/query.h), and the web module serves Prometheus's HTTP
 * API over it exactly as the server does (web_opts.reader supplies, per
 * request, the fan-out view with that request's `dedup` and
 * `partial_response` parameters, and hands back the leaves' warnings).
 *
 * At start, and every --endpoint.refresh-interval, each endpoint is probed:
 * stores and sidecars advertise label sets and a time range at
 * /api/v1/store/info; other endpoints (servers) their external labels in
 * /api/v1/status/config. They decide which leaves a select needs. The server
 * is ready once every endpoint was probed once.
 *
 * Downsampling: a request's max_source_resolution (or step/5 with "auto" or
 * --query.auto-downsampling) goes to every leaf with each select, together
 * with the range function as the remote-read hint (query/query.h); the
 * lookback delta grows with it (--query.dynamic-lookback-delta), and a value
 * that does not parse is answered 400 bad_data. */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "cmd/cmd.h"
#include "query/query.h"
#include "remote/remote_client.h"
#include "remote/remote_read.h"
#include "util/flags.h"
#include "util/log.h"
#include "util/timeutil.h"
#include "web/web.h"

static flag_def_t query_flags[] = {
    {"http-address", FLAG_STRING, "0.0.0.0:10902", "Listen host:port for HTTP endpoints.", false},
    {"endpoint", FLAG_STRINGS, "", "Addresses of statically configured endpoints (repeatable): base URLs of remote-read APIs (promlab server, Prometheus, sidecars, stores).", false},
    {"query.replica-label", FLAG_STRINGS, "", "Labels to treat as a replica indicator along which data is deduplicated (repeatable).", false},
    {"query.timeout", FLAG_DURATION, "2m", "Maximum time to process query by query node.", false},
    {"query.max-concurrent", FLAG_INT, "20", "Maximum number of queries processed concurrently by query node.", false},
    {"query.lookback-delta", FLAG_DURATION, "5m", "The maximum lookback duration for retrieving metrics during expression evaluations.", false},
    {"query.partial-response", FLAG_BOOL, "true", "Enable partial response for queries if no partial_response param is specified. --no-query.partial-response for disabling.", false},
    {"query.auto-downsampling", FLAG_BOOL, "false", "Enable automatic adjustment (step / 5) to what source of data should be used in store gateways if no max_source_resolution param is specified.", false},
    {"query.dynamic-lookback-delta", FLAG_BOOL, "true", "Allow for larger lookback duration for queries based on resolution.", true},
    {"endpoint.refresh-interval", FLAG_DURATION, "30s", "How often the external labels of every endpoint are read again (promlab).", false},
    {"log.level", FLAG_STRING, "info", "Log filtering level. One of: [debug, info, warn, error]", false},
    {"log.format", FLAG_STRING, "logfmt", "Log format to use. Possible options: logfmt or json.", false},
};
#define N_QUERY_FLAGS (sizeof query_flags / sizeof query_flags[0])

typedef struct query_server {
    query_fanout_t *fanout;
    remote_client_t **clients;
    size_t nclients;
    bool partial_default;
    bool auto_downsampling;
    bool dynamic_lookback;  /* --query.dynamic-lookback-delta */
    int64_t lookback_ms;    /* --query.lookback-delta */
    rr_gate_t *gate; /* --query.max-concurrent */
    int64_t refresh_ms;
    pthread_mutex_t stop_mu;
    pthread_cond_t stop_cv;
    bool stopping;
} query_server_t;

/* ---- per request ---- */

typedef struct req_state {
    query_server_t *qs;
    query_request_t *r;
    int64_t max_res_ms; /* the request's max_source_resolution */
    char *bad_param;    /* why a parameter was refused; NULL when none */
} req_state_t;

/* A boolean request parameter: "true"/"1" or "false"/"0" (anything else keeps def). */
static bool param_bool(const http_request_t *req, const char *name, bool def) {
    const char *v = http_param(req, name);
    if (!v || !*v) return def;
    if (!strcasecmp(v, "false") || !strcmp(v, "0")) return false;
    if (!strcasecmp(v, "true") || !strcmp(v, "1")) return true;
    return def;
}

/* The request's max_source_resolution (ms), as Thanos reads it: "auto" (or
 * no parameter with --query.auto-downsampling) is step / 5, 0 for an
 * instant query; "raw"/"0s" raw; else a duration ("5m", "1h"). A value that
 * does not parse is refused (st->bad_param; the API answers 400 bad_data). */
static int64_t request_resolution(const query_server_t *qs, const http_request_t *req, req_state_t *st) {
    pl_err_t err = {{0}};
    int64_t ms = 0;
    if (query_max_source_resolution(http_param(req, "max_source_resolution"), http_param(req, "step"),
                                    qs->auto_downsampling, &ms, &err) < 0) {
        strbuf_t sb = STRBUF_INIT;
        strbuf_printf(&sb, "invalid parameter \"max_source_resolution\": %s", err.msg);
        st->bad_param = strbuf_detach(&sb);
        return 0;
    }
    return ms;
}

static const char *reader_error(void *state) {
    req_state_t *st = state;
    return st ? st->bad_param : NULL;
}

static void *reader_begin(void *ctx, const http_request_t *req, queryable_t *out) {
    query_server_t *qs = ctx;
    req_state_t *st = calloc(1, sizeof *st);
    query_request_t *r = st ? query_request_new(qs->fanout, param_bool(req, "dedup", true),
                                                param_bool(req, "partial_response", qs->partial_default))
                            : NULL;
    if (!r) {
        free(st);
        return NULL; /* out keeps the default queryable (deduplicating, partial) */
    }
    st->max_res_ms = request_resolution(qs, req, st);
    query_request_set_max_resolution(r, st->max_res_ms);
    rr_gate_enter(qs->gate);
    st->qs = qs;
    st->r = r;
    query_request_queryable(r, out);
    return st;
}

/* Downsampled data has one point per 5m or 1h: the lookback reaches back that far. */
static int64_t reader_lookback(void *state) {
    req_state_t *st = state;
    if (!st) return 0;
    return query_lookback_for_resolution(st->qs->lookback_ms, st->max_res_ms, st->qs->dynamic_lookback);
}

static size_t reader_warnings(void *state, const char *const **out) {
    req_state_t *st = state;
    if (!st) {
        *out = NULL;
        return 0;
    }
    return query_request_warnings(st->r, out);
}

static void reader_end(void *state) {
    req_state_t *st = state;
    if (!st) return;
    rr_gate_leave(st->qs->gate);
    query_request_free(st->r);
    free(st->bad_param);
    free(st);
}

static void write_metrics(void *ctx, strbuf_t *sb) {
    query_server_t *qs = ctx;
    query_fanout_write_metrics(qs->fanout, sb);
}

/* ---- endpoint probes ---- */

/* A store or sidecar advertises label sets and a time range at
 * /api/v1/store/info: 1 when it did (leaf info set), 0 when the endpoint
 * has no such path (a Prometheus or promlab server), -1 when it is down. */
static int probe_info(query_server_t *qs, size_t i, pl_err_t *err) {
    strbuf_t body = STRBUF_INIT;
    long status = 0;
    int rc = remote_client_get(qs->clients[i], "/api/v1/store/info", &body, &status, err);
    if (rc == 0 && status == 200) {
        query_leaf_info_t li;
        rc = query_parse_leaf_info(body.data, body.len, &li, err);
        if (rc == 0) {
            query_fanout_set_leaf_sets(qs->fanout, i, li.pairs.data ? li.pairs.data : "", li.counts, li.nsets, false,
                                       li.mint, li.maxt, true);
            log_debug("query", "Endpoint info read", "endpoint=%s label_sets=%zu mint=%lld maxt=%lld",
                      remote_client_url(qs->clients[i]), li.nsets, (long long)li.mint, (long long)li.maxt);
            query_leaf_info_free(&li);
            rc = 1;
        }
    } else if (rc == 0 && status != 404) {
        rc = pl_err_set(err, "/api/v1/store/info: HTTP status %ld", status); /* e.g. a store still syncing */
    } /* 404: no info path, a server: rc 0 */
    strbuf_free(&body);
    return rc;
}

static void probe_endpoints(query_server_t *qs) {
    for (size_t i = 0; i < qs->nclients; i++) {
        pl_err_t ierr = {{0}};
        int irc = probe_info(qs, i, &ierr);
        if (irc == 1) continue;
        if (irc < 0) {
            query_fanout_set_leaf_info(qs->fanout, i, NULL, 0, INT64_MIN, INT64_MAX, false);
            log_warn("query", "Endpoint probe failed; it stays a leaf, selected by its last known labels",
                     "endpoint=%s err=\"%s\"", remote_client_url(qs->clients[i]), ierr.msg);
            continue;
        }
        strbuf_t store = STRBUF_INIT;
        size_t n = 0;
        pl_err_t err = {{0}};
        if (remote_client_external_labels(qs->clients[i], &store, &n, &err) == 0) {
            query_fanout_set_leaf_info(qs->fanout, i, store.data ? store.data : "", n, INT64_MIN, INT64_MAX, true);
            log_debug("query", "Endpoint external labels read", "endpoint=%s labels=%zu",
                      remote_client_url(qs->clients[i]), n);
        } else {
            query_fanout_set_leaf_info(qs->fanout, i, NULL, 0, INT64_MIN, INT64_MAX, false);
            log_warn("query", "Endpoint probe failed; it stays a leaf, selected by its last known labels",
                     "endpoint=%s err=\"%s\"", remote_client_url(qs->clients[i]), err.msg);
        }
        strbuf_free(&store);
    }
}

static void *probe_loop(void *arg) {
    query_server_t *qs = arg;
    pthread_mutex_lock(&qs->stop_mu);
    while (!qs->stopping) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_sec += qs->refresh_ms / 1000;
        ts.tv_nsec += (qs->refresh_ms % 1000) * 1000000;
        if (ts.tv_nsec >= 1000000000) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000;
        }
        int rc = 0;
        while (!qs->stopping && rc != ETIMEDOUT) rc = pthread_cond_timedwait(&qs->stop_cv, &qs->stop_mu, &ts);
        if (qs->stopping) break;
        pthread_mutex_unlock(&qs->stop_mu);
        probe_endpoints(qs);
        pthread_mutex_lock(&qs->stop_mu);
    }
    pthread_mutex_unlock(&qs->stop_mu);
    return NULL;
}

static int usage_error(const char *msg) { return flags_cli_error(query_flags, N_QUERY_FLAGS, "promlab query", msg); }

int cmd_query(int argc, char **argv) {
    pl_err_t err = {{0}};
    int rc = flags_parse_cli(query_flags, N_QUERY_FLAGS, argc, argv, "promlab query", "promlab query [<flags>]");
    if (rc >= 0) return rc;
    if (flags_apply_log(query_flags, N_QUERY_FLAGS, &err) < 0) return usage_error(err.msg);
    int64_t timeout_ms, lookback_ms, max_concurrent, refresh_ms;
    if (flags_duration(query_flags, N_QUERY_FLAGS, "query.timeout", &timeout_ms, &err) < 0 ||
        flags_duration(query_flags, N_QUERY_FLAGS, "query.lookback-delta", &lookback_ms, &err) < 0 ||
        flags_duration(query_flags, N_QUERY_FLAGS, "endpoint.refresh-interval", &refresh_ms, &err) < 0 ||
        flags_int(query_flags, N_QUERY_FLAGS, "query.max-concurrent", &max_concurrent, &err) < 0)
        return usage_error(err.msg);
    if (lookback_ms <= 0) return usage_error("--query.lookback-delta: must be positive");
    if (refresh_ms <= 0) return usage_error("--endpoint.refresh-interval: must be positive");
    if (max_concurrent <= 0) return usage_error("--query.max-concurrent: must be positive");
    flag_def_t *ep = flags_find(query_flags, N_QUERY_FLAGS, "endpoint");
    flag_def_t *rl = flags_find(query_flags, N_QUERY_FLAGS, "query.replica-label");
    if (ep->nvalues == 0) return usage_error("no --endpoint given: the global view needs at least one");

    query_server_t qs;
    memset(&qs, 0, sizeof qs);
    pthread_mutex_init(&qs.stop_mu, NULL);
    pthread_cond_init(&qs.stop_cv, NULL);
    qs.partial_default = flags_bool(query_flags, N_QUERY_FLAGS, "query.partial-response");
    qs.auto_downsampling = flags_bool(query_flags, N_QUERY_FLAGS, "query.auto-downsampling");
    qs.dynamic_lookback = flags_bool(query_flags, N_QUERY_FLAGS, "query.dynamic-lookback-delta");
    qs.lookback_ms = lookback_ms;
    qs.refresh_ms = refresh_ms;
    qs.gate = rr_gate_new(max_concurrent);
    qs.clients = calloc(ep->nvalues, sizeof *qs.clients);
    query_leaf_t *leaves = calloc(ep->nvalues, sizeof *leaves);
    int exit_code = 0;
    web_t *web = NULL;
    pthread_t prober;
    bool prober_started = false;
    if (!qs.gate || !qs.clients || !leaves) {
        fprintf(stderr, "promlab query: error: out of memory\n");
        exit_code = 1;
        goto out;
    }
    remote_client_opts_t co = {.timeout_ms = timeout_ms};
    for (size_t i = 0; i < ep->nvalues; i++) {
        qs.clients[i] = remote_client_new(ep->values[i], &co, &err);
        if (!qs.clients[i]) {
            fprintf(stderr, "promlab query: error: --endpoint: %s\n", err.msg);
            exit_code = 2;
            goto out;
        }
        qs.nclients = i + 1;
        leaves[i].name = remote_client_url(qs.clients[i]);
        remote_client_queryable(qs.clients[i], &leaves[i].q);
    }
    qs.fanout = query_fanout_new(leaves, ep->nvalues, rl->values, rl->nvalues);
    if (!qs.fanout) {
        fprintf(stderr, "promlab query: error: out of memory\n");
        exit_code = 1;
        goto out;
    }
    log_info("main", "Starting promlab query", "version=%s endpoints=%zu replica_labels=%zu", PROMLAB_VERSION,
             ep->nvalues, rl->nvalues);

    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    signal(SIGPIPE, SIG_IGN);

    /* A default request (dedup on, the flag's partial response) for
     * requests the reader hook does not see. */
    static const web_reader_t reader = {
        .begin = reader_begin, .warnings = reader_warnings, .lookback_ms = reader_lookback, .error = reader_error, .end = reader_end};
    web_reader_t rd = reader;
    rd.ctx = &qs;
    query_request_t *default_req = query_request_new(qs.fanout, true, qs.partial_default);
    queryable_t defq = {0};
    if (default_req) query_request_queryable(default_req, &defq);
    web_opts_t wo = {
        .listen_address = flags_str(query_flags, N_QUERY_FLAGS, "http-address"),
        .queryable = defq,
        .lookback_delta_ms = lookback_ms,
        .query_timeout_ms = timeout_ms,
        .flags = query_flags,
        .nflags = N_QUERY_FLAGS,
        .cb_ctx = &qs,
        .write_metrics = write_metrics,
        .reader = &rd,
    };
    web = web_start(&wo, &err);
    if (!web) {
        log_error("web", "Unable to start web listener", "err=\"%s\"", err.msg);
        fprintf(stderr, "promlab query: error: %s\n", err.msg);
        query_request_free(default_req);
        exit_code = 1;
        goto out;
    }
    log_info("web", "Listening", "address=%s", wo.listen_address);
    probe_endpoints(&qs);
    prober_started = pthread_create(&prober, NULL, probe_loop, &qs) == 0;
    web_set_ready(web, true);
    log_info("main", "Query is ready to receive web requests.", NULL);

    for (;;) {
        int sig = 0;
        if (sigwait(&sigs, &sig) != 0) continue;
        log_warn("main", "Received termination request, exiting gracefully...", "signal=%d", sig);
        break;
    }
    web_set_ready(web, false);
    web_stop(web);
    web = NULL;
    query_request_free(default_req);

out:
    if (prober_started) {
        pthread_mutex_lock(&qs.stop_mu);
        qs.stopping = true;
        pthread_cond_signal(&qs.stop_cv);
        pthread_mutex_unlock(&qs.stop_mu);
        pthread_join(prober, NULL);
    }
    query_fanout_free(qs.fanout);
    for (size_t i = 0; qs.clients && i < qs.nclients; i++) remote_client_free(qs.clients[i]);
    free(qs.clients);
    free(leaves);
    rr_gate_free(qs.gate);
    pthread_mutex_destroy(&qs.stop_mu);
    pthread_cond_destroy(&qs.stop_cv);
    flags_free(query_flags, N_QUERY_FLAGS);
    return exit_code;
}
