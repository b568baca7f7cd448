/* api_targets.c — /api/v1/targets: the scrape manager's targets with their
 * health, as Prometheus answers. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/timeutil.h"
#include "web/internal.h"

void web_handle_targets(web_t *w, const http_request_t *req, http_response_t *r) {
    const char *state = http_param(req, "state");
    bool want_active = !state || !*state || strcmp(state, "active") == 0 || strcmp(state, "any") == 0;
    const char *pool = http_param(req, "scrapePool");
    target_info_t *ts = NULL;
    size_t n = w->opts.scrape ? scrape_manager_targets(w->opts.scrape, &ts) : 0;
    jsonw_t jw;
    api_begin(r, &jw);
    jw_obj_begin(&jw);
    jw_key(&jw, "activeTargets");
    jw_arr_begin(&jw);
    for (size_t i = 0; want_active && i < n; i++) {
        target_info_t *t = &ts[i];
        if (pool && *pool && strcmp(pool, t->scrape_pool) != 0) continue;
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
        if (t->last_scrape_ms) pl_format_rfc3339(buf, sizeof buf, t->last_scrape_ms);
        else snprintf(buf, sizeof buf, "0001-01-01T00:00:00Z");
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
    jw_arr_end(&jw);
    jw_key(&jw, "droppedTargetCounts");
    jw_obj_begin(&jw);
    for (size_t i = 0; i < n; i++) {
        bool seen = false;
        for (size_t k = 0; k < i; k++)
            if (strcmp(ts[k].scrape_pool, ts[i].scrape_pool) == 0) seen = true;
        if (seen) continue;
        jw_key(&jw, ts[i].scrape_pool);
        jw_int(&jw, 0);
    }
    jw_obj_end(&jw);
    jw_obj_end(&jw);
    api_end(&jw);
    scrape_targets_free(ts, n);
}

