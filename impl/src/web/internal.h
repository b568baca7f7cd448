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
/* api_targets.c */
void web_handle_targets(web_t *w, const http_request_t *req, http_response_t *r);

#endif
