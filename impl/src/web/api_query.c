/* api_query.c — /api/v1/query and /api/v1/query_range: the PromQL engine
 * over the server's queryable, answered in Prometheus's JSON. */
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
 * limit > 0) and the annotations. */
static void write_query_result(http_response_t *r, promql_result_t *res, size_t limit, const char *query, web_t *w,
                               web_request_reader_t *rr) {
    const char *const *extra;
    size_t nextra = web_reader_warnings(w, rr, &extra);
    if (limit && res->nseries > limit) res->nseries = limit;
    jsonw_t jw;
    api_begin(r, &jw);
    promql_result_write_json(res, &jw);
    write_annotations(&jw, "warnings", query, res->warnings, res->warning_pos, res->nwarnings, extra, nextra);
    write_annotations(&jw, "infos", query, res->infos, res->info_pos, res->ninfos, NULL, 0);
    api_end(&jw);
}

void web_handle_query(web_t *w, const http_request_t *req, http_response_t *r) {
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
    web_request_reader_t rr;
    web_reader_begin(w, req, &rr);
    if (promql_exec_instant(w->engine, &rr.q, q, t, &res, &perr) < 0) {
        web_reader_end(w, &rr);
        query_error(r, &perr);
        return;
    }
    write_query_result(r, &res, limit, q, w, &rr);
    web_reader_end(w, &rr);
    promql_result_free(&res);
}

void web_handle_query_range(web_t *w, const http_request_t *req, http_response_t *r) {
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
    web_request_reader_t rr;
    web_reader_begin(w, req, &rr);
    if (promql_exec_range(w->engine, &rr.q, q, vals[0], vals[1], vals[2], &res, &perr) < 0) {
        web_reader_end(w, &rr);
        query_error(r, &perr);
        return;
    }
    write_query_result(r, &res, 0, q, w, &rr);
    web_reader_end(w, &rr);
    promql_result_free(&res);
}

