/* api_tsdb_status.c — /api/v1/status/tsdb (the cardinality report) and
 * /api/v1/status/runtimeinfo.
 *
 * The TSDB report is built from one walk over the head's postings index
 * (head_label_pairs): every (name, value) pair arrives with its number of
 * series, which is all the four top-N lists need, so no series is read and
 * a million-series head answers in the time it takes to visit its distinct
 * label pairs. The top N of each list is kept in a min-heap of N entries;
 * strings are the head's interned symbols (valid as long as the head). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tsdb/head.h"
#include "util/timeutil.h"
#include "web/internal.h"

/* ---- top N -------------------------------------------------------------------- */

typedef struct top_entry {
    uint64_t count;
    const char *a, *b; /* name; for label pairs a=name, b=value */
} top_entry_t;

typedef struct top {
    top_entry_t *v;
    size_t n, cap; /* cap = the limit */
} top_t;

/* x ranks below y: smaller count, or on a tie the later name (so that the
 * output is deterministic: count descending, then name ascending). */
static bool ranks_below(const top_entry_t *x, const top_entry_t *y) {
    if (x->count != y->count) return x->count < y->count;
    int c = strcmp(x->a, y->a);
    if (c == 0 && x->b && y->b) c = strcmp(x->b, y->b);
    return c > 0;
}

static void sift_down(top_t *t, size_t i) {
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < t->n && ranks_below(&t->v[l], &t->v[m])) m = l;
        if (r < t->n && ranks_below(&t->v[r], &t->v[m])) m = r;
        if (m == i) return;
        top_entry_t tmp = t->v[i];
        t->v[i] = t->v[m];
        t->v[m] = tmp;
        i = m;
    }
}

static void top_push(top_t *t, uint64_t count, const char *a, const char *b) {
    if (!t->cap) return;
    top_entry_t e = {count, a, b};
    if (t->n < t->cap) {
        size_t i = t->n++;
        t->v[i] = e;
        while (i > 0) {
            size_t p = (i - 1) / 2;
            if (!ranks_below(&t->v[i], &t->v[p])) break;
            top_entry_t tmp = t->v[i];
            t->v[i] = t->v[p];
            t->v[p] = tmp;
            i = p;
        }
        return;
    }
    if (!ranks_below(&t->v[0], &e)) return;
    t->v[0] = e;
    sift_down(t, 0);
}

static int cmp_rank_desc(const void *x, const void *y) {
    const top_entry_t *a = x, *b = y;
    return ranks_below(a, b) ? 1 : ranks_below(b, a) ? -1 : 0;
}

static void top_write(jsonw_t *jw, const char *key, top_t *t) {
    qsort(t->v, t->n, sizeof *t->v, cmp_rank_desc);
    jw_key(jw, key);
    jw_arr_begin(jw);
    strbuf_t sb = STRBUF_INIT;
    for (size_t i = 0; i < t->n; i++) {
        jw_obj_begin(jw);
        jw_key(jw, "name");
        if (t->v[i].b) {
            strbuf_reset(&sb);
            strbuf_printf(&sb, "%s=%s", t->v[i].a, t->v[i].b);
            jw_str(jw, sb.data);
        } else {
            jw_str(jw, t->v[i].a);
        }
        jw_key(jw, "value");
        jw_uint(jw, t->v[i].count);
        jw_obj_end(jw);
    }
    strbuf_free(&sb);
    jw_arr_end(jw);
}

/* ---- the walk --------------------------------------------------------------------- */

typedef struct tsdb_walk {
    top_t metrics, value_counts, memory, pairs;
    uint64_t num_pairs;
    const char *cur_name; /* pairs of one name arrive together */
    uint64_t cur_values, cur_bytes;
} tsdb_walk_t;

static void flush_name(tsdb_walk_t *w) {
    if (!w->cur_name) return;
    top_push(&w->value_counts, w->cur_values, w->cur_name, NULL);
    top_push(&w->memory, w->cur_bytes, w->cur_name, NULL);
    w->cur_name = NULL;
    w->cur_values = w->cur_bytes = 0;
}

static int on_pair(void *ctx, const char *name, const char *value, size_t nseries) {
    tsdb_walk_t *w = ctx;
    if (nseries == 0) return 0; /* a list emptied by series removal */
    if (w->cur_name != name) {
        flush_name(w);
        w->cur_name = name;
    }
    w->num_pairs++;
    w->cur_values++;
    w->cur_bytes += (uint64_t)strlen(value) * nseries;
    if (strcmp(name, LABEL_METRIC_NAME) == 0) top_push(&w->metrics, nseries, value, NULL);
    top_push(&w->pairs, nseries, name, value);
    return 0;
}

int web_tsdb_status_json(head_t *h, size_t limit, strbuf_t *out) {
    tsdb_walk_t w;
    memset(&w, 0, sizeof w);
    top_t *tops[4] = {&w.metrics, &w.value_counts, &w.memory, &w.pairs};
    int rc = 0;
    for (int i = 0; i < 4; i++) {
        tops[i]->cap = limit;
        tops[i]->v = calloc(limit ? limit : 1, sizeof(top_entry_t));
        if (!tops[i]->v) rc = -1;
    }
    if (rc == 0 && head_label_pairs(h, on_pair, &w) != 0) rc = -1;
    flush_name(&w);
    if (rc == 0) {
        head_stats_t st;
        head_get_stats(h, &st);
        jsonw_t jw;
        jw_init(&jw, out);
        jw_obj_begin(&jw);
        jw_key(&jw, "headStats");
        jw_obj_begin(&jw);
        jw_key(&jw, "numSeries");
        jw_uint(&jw, st.num_series);
        jw_key(&jw, "numLabelPairs");
        jw_uint(&jw, w.num_pairs);
        jw_key(&jw, "chunkCount");
        jw_uint(&jw, st.num_chunks);
        jw_key(&jw, "minTime");
        jw_int(&jw, st.min_time);
        jw_key(&jw, "maxTime");
        jw_int(&jw, st.max_time);
        jw_obj_end(&jw);
        top_write(&jw, "seriesCountByMetricName", &w.metrics);
        top_write(&jw, "labelValueCountByLabelName", &w.value_counts);
        top_write(&jw, "memoryInBytesByLabelName", &w.memory);
        top_write(&jw, "seriesCountByLabelValuePair", &w.pairs);
        jw_obj_end(&jw);
    }
    for (int i = 0; i < 4; i++)
        free(tops[i]->v);
    return rc;
}

void web_handle_tsdb_status(web_t *w, const http_request_t *req, http_response_t *r) {
    size_t limit = 10;
    const char *ls = http_param(req, "limit");
    if (ls && *ls) {
        char *end = NULL;
        long long v = strtoll(ls, &end, 10);
        if (!end || *end || v <= 0) {
            api_error(r, 400, "bad_data", "limit must be a positive number");
            return;
        }
        if (v > 10000) {
            api_error(r, 400, "bad_data", "limit must not exceed 10000");
            return;
        }
        limit = (size_t)v;
    }
    if (!w->opts.head) {
        api_error(r, 500, "internal", "no head");
        return;
    }
    strbuf_t data = STRBUF_INIT;
    if (web_tsdb_status_json(w->opts.head, limit, &data) != 0) {
        strbuf_free(&data);
        api_error(r, 500, "internal", "out of memory");
        return;
    }
    jsonw_t jw;
    api_begin(r, &jw);
    jw_raw(&jw, data.data);
    api_end(&jw);
    strbuf_free(&data);
}

/* ---- runtimeinfo --------------------------------------------------------------------- */

/* Go's time.Time in JSON (RFC 3339 with the fraction only when there is one). */
static void go_time(char *buf, size_t n, int64_t ms) {
    pl_format_rfc3339(buf, n, ms);
    size_t l = strlen(buf);
    if (l > 5 && strcmp(buf + l - 5, ".000Z") == 0) memcpy(buf + l - 5, "Z", 2);
}

static const char *flag_value(const web_t *w, const char *name) {
    for (size_t i = 0; i < w->opts.nflags; i++)
        if (strcmp(w->opts.flags[i].name, name) == 0) return w->opts.flags[i].value;
    return NULL;
}

/* The number of threads of this process (Prometheus reports goroutines). */
static long thread_count(void) {
    FILE *f = fopen("/proc/self/status", "r");
    if (!f) return 0;
    char line[256];
    long n = 0;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "Threads: %ld", &n) == 1) break;
    fclose(f);
    return n;
}

void web_handle_runtimeinfo(web_t *w, const http_request_t *req, http_response_t *r) {
    (void)req;
    char buf[64], cwd[4096];
    jsonw_t jw;
    api_begin(r, &jw);
    jw_obj_begin(&jw);
    jw_key(&jw, "startTime");
    go_time(buf, sizeof buf, w->start_ms);
    jw_str(&jw, buf);
    jw_key(&jw, "CWD");
    jw_str(&jw, getcwd(cwd, sizeof cwd) ? cwd : "<unknown>");
    char host[256] = "";
    gethostname(host, sizeof host - 1);
    jw_key(&jw, "hostname");
    jw_str(&jw, host);
    jw_key(&jw, "serverTime");
    go_time(buf, sizeof buf, pl_now_ms());
    jw_str(&jw, buf);
    bool reload_ok = true;
    int64_t last_config_ms = w->start_ms;
    uint64_t corruptions = 0;
    if (w->opts.reload_status) w->opts.reload_status(w->opts.cb_ctx, &reload_ok, &last_config_ms, &corruptions);
    jw_key(&jw, "reloadConfigSuccess");
    jw_bool(&jw, reload_ok);
    jw_key(&jw, "lastConfigTime");
    go_time(buf, sizeof buf, last_config_ms);
    jw_str(&jw, buf);
    jw_key(&jw, "corruptionCount"); /* WAL corruptions found (and repaired) at start */
    jw_uint(&jw, corruptions);
    /* Go's fields, answered with promlab's nearest truth: threads, CPUs; no GC knobs. */
    jw_key(&jw, "goroutineCount");
    jw_int(&jw, thread_count());
    jw_key(&jw, "GOMAXPROCS");
    jw_int(&jw, sysconf(_SC_NPROCESSORS_ONLN));
    jw_key(&jw, "GOMEMLIMIT");
    jw_int(&jw, INT64_MAX);
    jw_key(&jw, "GOGC");
    jw_str(&jw, "");
    jw_key(&jw, "GODEBUG");
    jw_str(&jw, "");
    jw_key(&jw, "storageRetention");
    const char *rt = flag_value(w, "storage.tsdb.retention.time");
    const char *rs = flag_value(w, "storage.tsdb.retention.size");
    strbuf_t sb = STRBUF_INIT;
    /* Prometheus: "15d", "5GB", "15d or 5GB"; the time defaults to 15d when neither is set. */
    bool has_time = rt && *rt && strcmp(rt, "0s") != 0;
    bool has_size = rs && *rs && strcmp(rs, "0B") != 0 && strcmp(rs, "0") != 0;
    if (has_time) strbuf_puts(&sb, rt);
    if (has_size) strbuf_printf(&sb, "%s%s", has_time ? " or " : "", rs);
    if (!has_time && !has_size) strbuf_puts(&sb, "15d");
    jw_str(&jw, sb.data);
    strbuf_free(&sb);
    jw_obj_end(&jw);
    api_end(&jw);
}
