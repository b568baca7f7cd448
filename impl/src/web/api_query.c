/* api_query.c — /api/v1/query and /api/v1/query_range: the PromQL engine
 * over the server's queryable, answered in Prometheus's JSON.
 *
 * Parameters as Prometheus 3 reads them (GET query string or form-encoded
 * POST body alike): query; time (instant) or start, end, step (range), all
 * RFC 3339 or unix seconds; timeout (a duration or seconds, capped by
 * --query.timeout); limit (instant: at most that many series, with the
 * "results truncated due to limit" warning); stats (any value: the stats
 * object in "data"). */
#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/timeutil.h"
#include "web/internal.h"

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

/* Writes "key": [annotation, ...] when there are any; extra (storage
 * warnings: a leaf that did not answer) come first, as they are. */
static void write_annotations(jsonw_t *jw, const char *key, const char *query, const char **msgs, const int *pos,
                              size_t n, const char *const *extra, size_t nextra) {
    if (!n && !nextra) return;
    jw_key(jw, key);
    jw_arr_begin(jw);
    for (size_t i = 0; i < nextra; i++) jw_str(jw, extra[i]);
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
 * limit > 0, with Prometheus 3's warning when that cut any), the stats when
 * asked for, and the annotations: storage's warnings (a leaf that did not
 * answer) first, as they are. */
static void write_query_result(http_response_t *r, promql_result_t *res, size_t limit, bool stats, const char *query,
                               web_t *w, web_request_reader_t *rr) {
    const char *const *extra;
    size_t nextra = web_reader_warnings(w, rr, &extra);
    const char *all[65];
    size_t nall = 0;
    for (size_t i = 0; i < nextra && nall < 64; i++)
        all[nall++] = extra[i];
    if (limit && res->nseries > limit && (res->type == PROMQL_TYPE_VECTOR || res->type == PROMQL_TYPE_MATRIX)) {
        res->nseries = limit;
        all[nall++] = "results truncated due to limit";
    }
    jsonw_t jw;
    api_begin(r, &jw);
    promql_result_write_json_ex(res, stats ? &res->stats : NULL, &jw);
    write_annotations(&jw, "warnings", query, res->warnings, res->warning_pos, res->nwarnings, all, nall);
    write_annotations(&jw, "infos", query, res->infos, res->info_pos, res->ninfos, NULL, 0);
    api_end(&jw);
}

/* The client's address for the query log ("" when unknown). */
static void client_ip(const http_request_t *req, char *out, size_t n) {
    out[0] = '\0';
    if (!req->conn) return;
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(req->conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    if (!ci || !ci->client_addr) return;
    const struct sockaddr *sa = ci->client_addr;
    if (sa->sa_family == AF_INET)
        inet_ntop(AF_INET, &((const struct sockaddr_in *)(const void *)sa)->sin_addr, out, (socklen_t)n);
    else if (sa->sa_family == AF_INET6)
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr, out, (socklen_t)n);
}

/* The query parameter and the options every query shares (timeout, origin). */
static const char *common_params(const http_request_t *req, http_response_t *r, promql_exec_opts_t *o, char *ip,
                                 size_t ipsz) {
    const char *q = http_param(req, "query");
    if (!q || !*q) {
        api_error(r, 400, "bad_data",
                  "invalid parameter \"query\": unknown position: parse error: no expression found in input");
        return NULL;
    }
    memset(o, 0, sizeof *o);
    const char *to = http_param(req, "timeout");
    if (to && *to) {
        pl_err_t err = {{0}};
        char msg[PL_ERR_MAX + 64];
        if (pl_parse_duration_or_seconds(to, &o->timeout_ms, &err) < 0) {
            snprintf(msg, sizeof msg, "invalid parameter \"timeout\": %s", err.msg);
            api_error(r, 400, "bad_data", msg);
            return NULL;
        }
    }
    client_ip(req, ip, ipsz);
    o->client_ip = ip;
    o->method = req->method;
    o->path = req->path;
    return q;
}

static bool want_stats(const http_request_t *req) {
    const char *s = http_param(req, "stats");
    return s && *s;
}

void web_handle_query(web_t *w, const http_request_t *req, http_response_t *r) {
    promql_exec_opts_t o;
    char ip[64];
    const char *q = common_params(req, r, &o, ip, sizeof ip);
    if (!q) return;
    int64_t t = pl_now_ms();
    if (!api_time_param(req, r, "time", t, &t)) return;
    size_t limit;
    if (!api_limit_param(req, r, &limit)) return;
    promql_result_t res;
    promql_error_t perr;
    web_request_reader_t rr;
    web_reader_begin(w, req, &rr);
    const char *bad = web_reader_error(w, &rr);
    if (bad) {
        api_error(r, 400, "bad_data", bad);
        web_reader_end(w, &rr);
        return;
    }
    o.lookback_ms = web_reader_lookback(w, &rr);
    if (promql_exec(w->engine, &rr.q, q, t, t, 0, &o, &res, &perr) < 0) {
        web_reader_end(w, &rr);
        query_error(r, &perr);
        return;
    }
    write_query_result(r, &res, limit, want_stats(req), q, w, &rr);
    web_reader_end(w, &rr);
    promql_result_free(&res);
}

void web_handle_query_range(web_t *w, const http_request_t *req, http_response_t *r) {
    promql_exec_opts_t o;
    char ip[64];
    const char *q = common_params(req, r, &o, ip, sizeof ip);
    if (!q) return;
    pl_err_t err = {{0}};
    char msg[PL_ERR_MAX + 64];
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
    web_request_reader_t rr;
    web_reader_begin(w, req, &rr);
    const char *bad = web_reader_error(w, &rr);
    if (bad) {
        api_error(r, 400, "bad_data", bad);
        web_reader_end(w, &rr);
        return;
    }
    o.lookback_ms = web_reader_lookback(w, &rr);
    if (promql_exec(w->engine, &rr.q, q, vals[0], vals[1], vals[2], &o, &res, &perr) < 0) {
        web_reader_end(w, &rr);
        query_error(r, &perr);
        return;
    }
    write_query_result(r, &res, 0, want_stats(req), q, w, &rr);
    web_reader_end(w, &rr);
    promql_result_free(&res);
}
