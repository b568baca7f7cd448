/* web/internal.h — what the files of the web module share: the server
 * state, the route handler signature and the API envelope helpers.
 *
 * One file per group of endpoints (api_query.c, api_status.c, ...); each
 * exports its handlers here and web.c's route table names them. Adding an
 * endpoint is: write the handler in the file of its group, declare it
 * below, add one line to the table in web.c. */
#ifndef PL_WEB_INTERNAL_H
#define PL_WEB_INTERNAL_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "model/labels.h"
#include "model/storage.h"
#include "promql/engine.h"
#include "tsdb/head.h"
#include "util/json.h"
#include "web/http.h"
#include "web/web.h"

#define WEB_MAX_ROUTES 64 /* request accounting slots; web.c checks its table fits */
#define WEB_N_CODES 11
#define WEB_N_BUCKETS 9

typedef struct web_handler_stats {
    _Atomic uint64_t requests[WEB_N_CODES];
    _Atomic uint64_t buckets[WEB_N_BUCKETS + 1]; /* last is +Inf */
    _Atomic uint64_t duration_ns_sum;
} web_handler_stats_t;

struct web {
    web_opts_t opts;
    promql_engine_t *engine;
    queryable_t queryable; /* what the API reads: opts.queryable, or the head's */
    http_server_t *http;
    _Atomic bool ready;
    web_handler_stats_t stats[WEB_MAX_ROUTES + 1]; /* +1: "other" */
    int64_t start_ms;
    struct rr_gate *read_gate; /* --storage.remote.read-concurrent-limit */
};

typedef void (*web_handler_fn)(web_t *w, const http_request_t *req, http_response_t *r);

/* ---- API envelope (web.c) ---- */
/* {"status":"error","errorType":type,"error":msg} with the HTTP status. */
void api_error(http_response_t *r, int status, const char *type, const char *msg);
/* Starts {"status":"success","data": and leaves the writer before the data value. */
void api_begin(http_response_t *r, jsonw_t *jw);
/* Closes the envelope opened by api_begin. */
void api_end(jsonw_t *jw);
/* {"name":"value",...} */
void api_write_labels(jsonw_t *jw, const label_t *ls, size_t n);
/* # HELP / # TYPE lines. */
void metric_header(strbuf_t *sb, const char *name, const char *type, const char *help);
/* api_meta.c: a time parameter (RFC 3339 or unix seconds; def when absent)
 * and limit (0 when absent). False when answered with Prometheus's error. */
bool api_time_param(const http_request_t *req, http_response_t *r, const char *name, int64_t def, int64_t *out);
bool api_limit_param(const http_request_t *req, http_response_t *r, size_t *out);

/* ---- handlers ---- */
/* api_query.c */
void web_handle_query(web_t *w, const http_request_t *req, http_response_t *r);
void web_handle_query_range(web_t *w, const http_request_t *req, http_response_t *r);
/* api_meta.c */
void web_handle_series(web_t *w, const http_request_t *req, http_response_t *r);
void web_handle_labels(web_t *w, const http_request_t *req, http_response_t *r);
void web_handle_label_values(web_t *w, const http_request_t *req, http_response_t *r);
void web_handle_metadata(web_t *w, const http_request_t *req, http_response_t *r);
void web_handle_format_query(web_t *w, const http_request_t *req, http_response_t *r);
/* api_status.c */
void web_handle_config(web_t *w, const http_request_t *req, http_response_t *r);
void web_handle_flags(web_t *w, const http_request_t *req, http_response_t *r);
void web_handle_buildinfo(web_t *w, const http_request_t *req, http_response_t *r);
/* ui.c: the single-page UI under each UI route, and /assets/<file> */
void web_handle_ui_page(web_t *w, const http_request_t *req, http_response_t *r);
void web_handle_ui_asset(web_t *w, const http_request_t *req, http_response_t *r);
/* api_targets.c */
void web_handle_targets(web_t *w, const http_request_t *req, http_response_t *r);
/* api_read.c */
void web_handle_read(web_t *w, const http_request_t *req, http_response_t *r);

/* ---- per-request storage (web.c) ---- */
/* What one API request reads: web_opts.reader's queryable, or the server's. */
typedef struct web_request_reader {
    queryable_t q;
    void *state;
} web_request_reader_t;
void web_reader_begin(web_t *w, const http_request_t *req, web_request_reader_t *rr);
/* Warnings the request's reads raised (valid until web_reader_end). */
size_t web_reader_warnings(web_t *w, web_request_reader_t *rr, const char *const **out);
/* A bad request parameter the reader found (NULL: none); valid until web_reader_end. */
const char *web_reader_error(web_t *w, web_request_reader_t *rr);
/* The lookback delta the reader asks for the request's queries (0: the engine's). */
int64_t web_reader_lookback(web_t *w, web_request_reader_t *rr);
void web_reader_end(web_t *w, web_request_reader_t *rr);
/* api_admin.c (behind --web.enable-admin-api) */
void web_handle_admin_snapshot(web_t *w, const http_request_t *req, http_response_t *r);
void web_handle_admin_delete_series(web_t *w, const http_request_t *req, http_response_t *r);
void web_handle_admin_clean_tombstones(web_t *w, const http_request_t *req, http_response_t *r);
void web_handle_targets_metadata(web_t *w, const http_request_t *req, http_response_t *r);
/* api_tsdb_status.c */
void web_handle_tsdb_status(web_t *w, const http_request_t *req, http_response_t *r);
void web_handle_runtimeinfo(web_t *w, const http_request_t *req, http_response_t *r);
/* The data object of /api/v1/status/tsdb for h with top-`limit` lists. -1 when out of memory. */
int web_tsdb_status_json(head_t *h, size_t limit, strbuf_t *out);
/* federate.c */
void web_handle_federate(web_t *w, const http_request_t *req, http_response_t *r);
/* The /federate body for selectors (match[] values) over q at now_ms: 0, or
 * -1 with err and *status (400 bad selector, 500 storage/memory). */
int web_federate_write(const queryable_t *q, const char *const *selectors, size_t nsel, const label_t *external,
                       size_t nexternal, int64_t now_ms, int64_t lookback_ms, bool openmetrics, strbuf_t *out,
                       int *status, pl_err_t *err);
/* pprof.c */
typedef struct web_mem_component {
    const char *name; /* static, "promlab.head.series" */
    uint64_t bytes, objects;
} web_mem_component_t;
/* The memory components (head, scrape, the unaccounted rest of the RSS). */
size_t web_mem_components(web_t *w, web_mem_component_t *out, size_t cap);
/* A gzip'd pprof profile (profile.proto) of the components, appended to out. */
int web_heap_profile(const web_mem_component_t *comps, size_t n, int64_t now_ms, strbuf_t *out);
void web_handle_pprof_index(web_t *w, const http_request_t *req, http_response_t *r);
void web_handle_pprof_heap(web_t *w, const http_request_t *req, http_response_t *r);
void web_handle_pprof_cmdline(web_t *w, const http_request_t *req, http_response_t *r);
/* api_rules.c */
void web_handle_rules(web_t *w, const http_request_t *req, http_response_t *r);
void web_handle_alerts(web_t *w, const http_request_t *req, http_response_t *r);
void web_handle_alertmanagers(web_t *w, const http_request_t *req, http_response_t *r);

#endif
