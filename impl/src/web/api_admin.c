/* api_admin.c — /api/v1/admin/tsdb/{snapshot,delete_series,clean_tombstones},
 * behind --web.enable-admin-api, answered as Prometheus answers them:
 * without the flag every one is {"status":"error","errorType":"unavailable",
 * "error":"admin APIs disabled"} with HTTP 500 (Prometheus's "unavailable"
 * error type has no status of its own); a snapshot answers its name; the
 * other two answer 204 No Content. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "model/matcher.h"
#include "tsdb/db.h"
#include "util/timeutil.h"
#include "web/internal.h"

/* False (and the error answered) when the admin API is off. */
static bool admin_enabled(web_t *w, http_response_t *r) {
    if (w->opts.enable_admin_api && w->opts.tsdb) return true;
    api_error(r, 500, "unavailable", "admin APIs disabled");
    return false;
}

/* Go's strconv.ParseBool. */
static int parse_bool(const char *s, bool *out) {
    static const char *t[] = {"1", "t", "T", "TRUE", "true", "True"}, *f[] = {"0", "f", "F", "FALSE", "false", "False"};
    for (size_t i = 0; i < 6; i++) {
        if (!strcmp(s, t[i])) return *out = true, 0;
        if (!strcmp(s, f[i])) return *out = false, 0;
    }
    return -1;
}

void web_handle_admin_snapshot(web_t *w, const http_request_t *req, http_response_t *r) {
    if (!admin_enabled(w, r)) return;
    bool skip_head = false;
    const char *sh = http_param(req, "skip_head");
    char msg[PL_ERR_MAX + 128];
    if (sh && *sh && parse_bool(sh, &skip_head) != 0) {
        snprintf(msg, sizeof msg, "unable to parse boolean 'skip_head' argument: strconv.ParseBool: parsing \"%s\": invalid syntax", sh);
        api_error(r, 400, "bad_data", msg);
        return;
    }
    /* <data>/snapshots/<UTC time>-<16 hex digits>, as Prometheus names them. */
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    char stamp[32];
    strftime(stamp, sizeof stamp, "%Y%m%dT%H%M%SZ", &tm);
    uint64_t rnd = 0;
    if (getrandom(&rnd, sizeof rnd, 0) != (ssize_t)sizeof rnd) rnd = (uint64_t)now * 0x9E3779B97F4A7C15ull;
    rnd &= INT64_MAX;
    char name[64];
    snprintf(name, sizeof name, "%s-%016llx", stamp, (unsigned long long)rnd);
    char dir[PATH_MAX];
    snprintf(dir, sizeof dir, "%s/snapshots/%s", db_dir(w->opts.tsdb), name);
    pl_err_t err = {{0}};
    if (db_snapshot(w->opts.tsdb, dir, skip_head, &err) != 0) {
        snprintf(msg, sizeof msg, "create snapshot: %s", err.msg);
        api_error(r, 500, "internal", msg);
        return;
    }
    jsonw_t jw;
    api_begin(r, &jw);
    jw_obj_begin(&jw);
    jw_key(&jw, "name");
    jw_str(&jw, name);
    jw_obj_end(&jw);
    api_end(&jw);
}

/* start/end: Prometheus's parseTimeParam with the widest range as default. */
static bool time_param(const http_request_t *req, http_response_t *r, const char *name, int64_t dflt, int64_t *out) {
    const char *v = http_param(req, name);
    *out = dflt;
    if (!v || !*v) return true;
    pl_err_t err = {{0}};
    if (pl_parse_time(v, out, &err) == 0) return true;
    char msg[PL_ERR_MAX + 128];
    snprintf(msg, sizeof msg, "invalid time value for '%s': %s", name, err.msg);
    api_error(r, 400, "bad_data", msg);
    return false;
}

void web_handle_admin_delete_series(web_t *w, const http_request_t *req, http_response_t *r) {
    if (!admin_enabled(w, r)) return;
    size_t nmatch = 0;
    for (size_t i = 0; i < req->nparams; i++)
        if (!strcmp(req->params[i].name, "match[]")) nmatch++;
    if (nmatch == 0) {
        api_error(r, 400, "bad_data", "no match[] parameter provided");
        return;
    }
    int64_t start, end;
    if (!time_param(req, r, "start", INT64_MIN, &start) || !time_param(req, r, "end", INT64_MAX, &end)) return;
    /* Every selector is parsed before anything is deleted. */
    matcher_t **sets = calloc(nmatch, sizeof *sets);
    size_t *lens = calloc(nmatch, sizeof *lens);
    size_t k = 0;
    bool failed = !sets || !lens;
    if (failed) api_error(r, 500, "internal", "out of memory");
    for (size_t i = 0; i < req->nparams && !failed; i++) {
        if (strcmp(req->params[i].name, "match[]") != 0) continue;
        pl_err_t err = {{0}};
        if (selector_parse(req->params[i].value, &sets[k], &lens[k], &err) != 0) {
            api_error(r, 400, "bad_data", err.msg);
            failed = true;
            break;
        }
        k++;
    }
    for (size_t i = 0; i < k && !failed; i++) {
        pl_err_t err = {{0}};
        if (db_delete(w->opts.tsdb, sets[i], lens[i], start, end, &err) != 0) {
            api_error(r, 500, "internal", err.msg);
            failed = true;
        }
    }
    for (size_t i = 0; i < k; i++) matchers_free(sets[i], lens[i]);
    free(sets);
    free(lens);
    if (failed) return;
    r->status = 204;
    strbuf_reset(&r->body);
}

void web_handle_admin_clean_tombstones(web_t *w, const http_request_t *req, http_response_t *r) {
    (void)req;
    if (!admin_enabled(w, r)) return;
    pl_err_t err = {{0}};
    if (db_clean_tombstones(w->opts.tsdb, &err) != 0) {
        api_error(r, 500, "internal", err.msg);
        return;
    }
    r->status = 204;
    strbuf_reset(&r->body);
}
