/* web.h — the server's HTTP interface: Prometheus's endpoints.
 *
 *   /metrics                 self-monitoring in text format 0.0.4
 *   /-/healthy, /-/ready     probes
 *   /-/reload, /-/quit       lifecycle (POST/PUT, with --web.enable-lifecycle)
 *   /api/v1/query, _range    PromQL queries
 *   /api/v1/status/config    the effective config as YAML
 *   /api/v1/status/flags     the command-line flags
 *   /api/v1/status/buildinfo version information (Grafana reads it)
 *   /api/v1/targets          scrape targets and their health
 *   /api/v1/read             remote read (snappy protobuf, SAMPLES and STREAMED_XOR_CHUNKS)
 *   /api/v1/rules, /alerts   rule groups and alerts; /api/v1/alertmanagers
 *
 * web sits on top of everything: nothing below includes it. */
#ifndef PL_WEB_H
#define PL_WEB_H

#include <stdbool.h>
#include <stdint.h>

#include "rules/rules.h"
#include "scrape/scrape.h"
#include "model/storage.h"
#include "tsdb/head.h"
#include "util/err.h"
#include "util/flags.h"
#include "util/strbuf.h"
#include "web/http.h"

typedef struct web_opts {
    const char *listen_address;
    head_t *head;           /* the head (its stats for /metrics) */
    queryable_t queryable;  /* what the API queries; zero = the head alone */
    struct db *tsdb;        /* the TSDB, for the admin API (NULL: admin endpoints answer unavailable) */
    scrape_manager_t *scrape;
    rules_manager_t *rules; /* /api/v1/rules, /api/v1/alerts (may be NULL) */
    notifier_t *notifier;   /* /api/v1/alertmanagers (may be NULL) */
    bool enable_lifecycle;
    bool enable_admin_api;
    int64_t lookback_delta_ms;
    /* Query limits (--query.*; 0 = none) and the global query_log_file (NULL: off). */
    int64_t query_timeout_ms;
    int64_t query_max_samples;
    int query_max_concurrency;
    const char *query_log_file;
    flag_def_t *flags; /* shown by /api/v1/status/flags */
    size_t nflags;
    /* Callbacks into the server (ctx is cb_ctx). */
    void *cb_ctx;
    int (*reload)(void *ctx, pl_err_t *err);        /* reload the config; -1 keeps the old one */
    void (*config_yaml)(void *ctx, strbuf_t *out);  /* the effective config */
    void (*quit)(void *ctx);                        /* begin shutdown */
    void (*write_metrics)(void *ctx, strbuf_t *sb); /* server-level metrics (reload status, ...) */
    /* Remote read (POST /api/v1/read), Prometheus's --storage.remote.read-* flags (0: no limit). */
    int64_t remote_read_sample_limit;
    int64_t remote_read_concurrent_limit;
    int64_t remote_read_max_bytes_in_frame; /* 0: 1 MiB */
    /* Per-request storage (may be NULL): `promlab query` reads its request
     * parameters (dedup, partial_response) and reports leaf warnings here. */
    const struct web_reader *reader;
    /* Last reload's outcome, the time of the last successful one, WAL corruptions seen (runtimeinfo). */
    void (*reload_status)(void *ctx, bool *ok, int64_t *last_success_ms, uint64_t *wal_corruptions);
    /* A malloc'd copy of global.external_labels (strings owned; /federate and remote read,
     * which add them to every series); -1 when out of memory. */
    int (*external_labels)(void *ctx, label_t **out, size_t *n);
} web_opts_t;

typedef struct web web_t;

/* A queryable chosen per API request. begin returns a state (NULL allowed)
 * and fills *out with what the request reads; warnings lists the warnings
 * the reads raised (owned by the state), added to the answer's "warnings";
 * lookback_ms (optional) is the lookback delta for the request's queries
 * (0: the engine's); end releases the state. */
typedef struct web_reader {
    void *ctx;
    void *(*begin)(void *ctx, const http_request_t *req, queryable_t *out);
    size_t (*warnings)(void *state, const char *const **out);
    int64_t (*lookback_ms)(void *state);
    const char *(*error)(void *state); /* optional: a bad request parameter (answered 400 bad_data) */
    void (*end)(void *state);
} web_reader_t;

web_t *web_start(const web_opts_t *opts, pl_err_t *err);
void web_set_ready(web_t *w, bool ready);
unsigned web_port(const web_t *w);
void web_stop(web_t *w);
/* (Re)opens the query log at path, or closes it (NULL or ""): on every
 * config reload, as Prometheus does. -1 with err when it cannot be opened. */
int web_set_query_log(web_t *w, const char *path, pl_err_t *err);

/* Prometheus's version string that promlab reports (buildinfo, prometheus_build_info). */
#define PROMLAB_VERSION "0.1.0"
#define PROMLAB_PROMETHEUS_COMPAT "3.0.0"

/* Writes process_* metrics (cpu, memory, fds, start time) in text format. */
void web_write_process_metrics(strbuf_t *sb);

/* The routes every Thanos-style component (sidecar, store, compact) serves
 * beside its own. web_component_probe answers /-/healthy (200 OK) and
 * /-/ready (200 OK or 503 NOT READY) and returns true, or returns false for
 * any other path. web_component_fallback answers what no route took: "/"
 * with the index text, anything else 404. Both set a text/plain answer. */
bool web_component_probe(const http_request_t *req, http_response_t *r, bool ready);
void web_component_fallback(const http_request_t *req, http_response_t *r, const char *index_text);

#endif
