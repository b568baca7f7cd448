/* info.c — what `promlab query` reads about leaves and requests (query.h):
 * a leaf's info document (GET /api/v1/store/info of `promlab store` and
 * `promlab sidecar`) and a request's max_source_resolution. */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "query/query.h"
#include "util/timeutil.h"

void query_leaf_info_free(query_leaf_info_t *li) {
    strbuf_free(&li->pairs);
    free(li->counts);
    memset(li, 0, sizeof *li);
}

int query_parse_leaf_info(const char *json, size_t len, query_leaf_info_t *li, pl_err_t *err) {
    memset(li, 0, sizeof *li);
    json_error_t je;
    json_t *root = json_loadb(json ? json : "", len, 0, &je);
    json_t *data = root ? json_object_get(root, "data") : NULL;
    json_t *sets = data ? json_object_get(data, "labelSets") : NULL;
    json_t *mn = data ? json_object_get(data, "minTime") : NULL, *mx = data ? json_object_get(data, "maxTime") : NULL;
    if (!json_is_array(sets) || !json_is_integer(mn) || !json_is_integer(mx)) {
        json_decref(root);
        return pl_err_set(err, "info: not an info document (data.labelSets, data.minTime, data.maxTime)");
    }
    li->mint = json_integer_value(mn);
    li->maxt = json_integer_value(mx);
    size_t n = json_array_size(sets);
    li->counts = calloc(n + 1, sizeof *li->counts);
    if (!li->counts) {
        json_decref(root);
        return pl_err_set(err, "out of memory");
    }
    for (size_t i = 0; i < n; i++) {
        json_t *set = json_array_get(sets, i);
        if (!json_is_object(set)) {
            json_decref(root);
            query_leaf_info_free(li);
            return pl_err_set(err, "info: labelSets[%zu] is not an object", i);
        }
        const char *k;
        json_t *v;
        json_object_foreach(set, k, v) {
            if (!json_is_string(v)) continue;
            strbuf_append(&li->pairs, k, strlen(k) + 1);
            strbuf_append(&li->pairs, json_string_value(v), strlen(json_string_value(v)) + 1);
            li->counts[i]++;
        }
        li->nsets = i + 1;
    }
    json_decref(root);
    return 0;
}

int query_max_source_resolution(const char *value, const char *step, bool auto_downsampling, int64_t *ms,
                                pl_err_t *err) {
    *ms = 0;
    if ((!value || !*value) && !auto_downsampling) return 0;
    if (!value || !*value || !strcmp(value, "auto")) {
        int64_t st = 0;
        if (!step || !*step) return 0; /* an instant query: raw */
        if (pl_parse_duration_or_seconds(step, &st, err) < 0) return -1;
        *ms = st / 5;
        return 0;
    }
    if (!strcmp(value, "raw")) return 0;
    bool digits = true;
    for (const char *p = value; *p; p++)
        if (*p < '0' || *p > '9') digits = false;
    if (digits && strlen(value) <= 15) { /* milliseconds, as leaves get it */
        *ms = strtoll(value, NULL, 10);
        return 0;
    }
    if (pl_parse_duration(value, ms, err) < 0)
        return pl_err_set(err, "max_source_resolution \"%s\": want raw, auto, or a duration such as 5m or 1h", value);
    return 0;
}

int64_t query_lookback_for_resolution(int64_t lookback_ms, int64_t max_res_ms, bool dynamic) {
    static const int64_t res[] = {0, 5 * 60 * 1000, 60 * 60 * 1000};
    if (!dynamic) return lookback_ms;
    for (int i = 2; i >= 1; i--) {
        int64_t below = res[i - 1] > lookback_ms ? res[i - 1] : lookback_ms;
        if (below < max_res_ms) {
            /* the lookback grows to each resolution above it, up to r */
            int64_t lb = lookback_ms;
            for (int k = 1; k <= i; k++)
                if (lookback_ms < res[k]) lb = res[k];
            return lb;
        }
    }
    return lookback_ms;
}
