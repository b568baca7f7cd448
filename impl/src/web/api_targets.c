/* api_targets.c — /api/v1/targets (the scrape manager's active targets with
 * their health, and the targets relabeling dropped) and
 * /api/v1/targets/metadata (the TYPE/HELP/UNIT each target exposed), as
 * Prometheus answers them. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/matcher.h"
#include "util/timeutil.h"
#include "web/internal.h"

void web_handle_targets(web_t *w, const http_request_t *req, http_response_t *r) {
    const char *state = http_param(req, "state");
    bool any = !state || !*state || strcmp(state, "any") == 0;
    bool want_active = any || strcmp(state, "active") == 0;
    bool want_dropped = any || strcmp(state, "dropped") == 0;
    const char *pool = http_param(req, "scrapePool");
    if (pool && !*pool) pool = NULL;
    target_info_t *ts = NULL;
    size_t n = w->opts.scrape ? scrape_manager_targets(w->opts.scrape, &ts) : 0;
    dropped_target_info_t *dt = NULL;
    scrape_pool_count_t *pools = NULL;
    size_t npools = 0;
    size_t nd = w->opts.scrape ? scrape_manager_dropped(w->opts.scrape, &dt, &pools, &npools) : 0;
    jsonw_t jw;
    api_begin(r, &jw);
    jw_obj_begin(&jw);
    jw_key(&jw, "activeTargets");
    jw_arr_begin(&jw);
    for (size_t i = 0; want_active && i < n; i++) {
        target_info_t *t = &ts[i];
        if (pool && strcmp(pool, t->scrape_pool) != 0) continue;
        char buf[64];
        jw_obj_begin(&jw);
        jw_key(&jw, "discoveredLabels");
        api_write_labels(&jw, t->discovered_labels, t->ndiscovered);
        jw_key(&jw, "labels");
        api_write_labels(&jw, t->labels, t->nlabels);
        jw_key(&jw, "scrapePool");
        jw_str(&jw, t->scrape_pool);
        jw_key(&jw, "scrapeUrl");
        jw_str(&jw, t->scrape_url);
        jw_key(&jw, "globalUrl");
        jw_str(&jw, t->scrape_url);
        jw_key(&jw, "lastError");
        jw_str(&jw, t->last_error ? t->last_error : "");
        jw_key(&jw, "lastScrape");
        if (t->last_scrape_ms)
            pl_format_rfc3339(buf, sizeof buf, t->last_scrape_ms);
        else
            snprintf(buf, sizeof buf, "0001-01-01T00:00:00Z");
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
    for (size_t i = 0; want_dropped && i < nd; i++) {
        if (pool && strcmp(pool, dt[i].scrape_pool) != 0) continue;
        jw_obj_begin(&jw);
        jw_key(&jw, "discoveredLabels");
        api_write_labels(&jw, dt[i].discovered_labels, dt[i].ndiscovered);
        jw_key(&jw, "scrapePool");
        jw_str(&jw, dt[i].scrape_pool);
        jw_obj_end(&jw);
    }
    jw_arr_end(&jw);
    jw_key(&jw, "droppedTargetCounts");
    jw_obj_begin(&jw);
    for (size_t i = 0; i < npools; i++) {
        if (pool && strcmp(pool, pools[i].scrape_pool) != 0) continue;
        jw_key(&jw, pools[i].scrape_pool);
        jw_int(&jw, (int64_t)pools[i].ndropped);
    }
    jw_obj_end(&jw);
    jw_obj_end(&jw);
    api_end(&jw);
    scrape_targets_free(ts, n);
    scrape_dropped_free(dt, nd, pools, npools);
}

static bool labels_match(const matcher_t *ms, size_t nms, const label_t *ls, size_t n) {
    for (size_t i = 0; i < nms; i++) {
        const char *v = labels_get(ls, n, ms[i].name);
        if (!matcher_matches(&ms[i], v ? v : "")) return false;
    }
    return true;
}

void web_handle_targets_metadata(web_t *w, const http_request_t *req, http_response_t *r) {
    const char *match = http_param(req, "match_target");
    const char *metric = http_param(req, "metric");
    const char *limit_s = http_param(req, "limit");
    long long limit = -1;
    if (limit_s && *limit_s) {
        char *end = NULL;
        limit = strtoll(limit_s, &end, 10);
        if (!end || *end) {
            api_error(r, 400, "bad_data", "limit must be a number");
            return;
        }
    }
    matcher_t *ms = NULL;
    size_t nms = 0;
    if (match && *match) {
        pl_err_t err = {{0}};
        if (selector_parse(match, &ms, &nms, &err) != 0) {
            api_error(r, 400, "bad_data", err.msg);
            return;
        }
    }
    target_metadata_t *rows = NULL;
    size_t n = w->opts.scrape ? scrape_manager_metadata(w->opts.scrape, metric, &rows) : 0;
    jsonw_t jw;
    api_begin(r, &jw);
    jw_arr_begin(&jw);
    long long written = 0;
    for (size_t i = 0; i < n && (limit < 0 || written < limit); i++) {
        if (nms && !labels_match(ms, nms, rows[i].target, rows[i].ntarget)) continue;
        jw_obj_begin(&jw);
        jw_key(&jw, "target");
        api_write_labels(&jw, rows[i].target, rows[i].ntarget);
        if (!metric || !*metric) {
            jw_key(&jw, "metric");
            jw_str(&jw, rows[i].metric);
        }
        jw_key(&jw, "type");
        jw_str(&jw, rows[i].type);
        jw_key(&jw, "help");
        jw_str(&jw, rows[i].help);
        jw_key(&jw, "unit");
        jw_str(&jw, rows[i].unit);
        jw_obj_end(&jw);
        written++;
    }
    jw_arr_end(&jw);
    api_end(&jw);
    scrape_metadata_free(rows, n);
    matchers_free(ms, nms);
}
