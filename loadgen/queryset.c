/* queryset.c — query set files and the query load.
 *
 * A query set is YAML:
 *   queries:
 *     - name: up                 # optional, defaults to the expression
 *       expr: up
 *       weight: 3                # relative share of the load (default 1)
 *     - expr: sum(rate(http_requests_total[5m])) by (endpoint)
 *       type: range              # instant (default) or range
 *       range: 1h                # range queries: [now-range, now] ...
 *       step: 15s                # ... at this step (default range/250)
 *
 * The load runs for a duration either closed-loop (`concurrency` workers,
 * each sending its next query when the last one answered) or open-loop at a
 * fixed `rate`: query k is due at start + k/rate whatever happened before,
 * taken by the next free worker, so a slow server shows as a lower achieved
 * rate rather than hiding it. Latency is measured from send to the last byte,
 * over every query sent: a failed one counts with its time to failure (a
 * timeout as the timeout), so errors cannot flatter the tail.
 * A query counts as an error unless the answer is HTTP 200 with
 * "status":"success". */
#include <curl/curl.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "loadgen.h"
#include "util/json.h"
#include "util/timeutil.h"

void lg_queryset_free(lg_queryset_t *qs) {
    for (size_t i = 0; i < qs->n; i++) {
        free(qs->q[i].name);
        free(qs->q[i].expr);
    }
    free(qs->q);
    qs->q = NULL;
    qs->n = 0;
}

static int bad(pl_err_t *err, const char *path, const ynode_t *n, const char *fmt, const char *arg) {
    char msg[300];
    snprintf(msg, sizeof msg, fmt, arg);
    return pl_err_set(err, "%s:%d:%d: %s", path, n->line, n->col, msg);
}

int lg_queryset_from_node(const char *path, const ynode_t *seq, lg_queryset_t *qs, pl_err_t *err) {
    memset(qs, 0, sizeof *qs);
    if (!seq || seq->kind != YN_SEQ) return seq ? bad(err, path, seq, "queries must be a list%s", "") : pl_err_set(err, "%s: no queries", path);
    if (seq->n == 0) return bad(err, path, seq, "queries: the list is empty%s", "");
    qs->q = calloc(seq->n, sizeof *qs->q);
    for (size_t i = 0; i < seq->n; i++) {
        const ynode_t *m = seq->items[i];
        lg_query_t *q = &qs->q[qs->n++];
        q->weight = 1;
        if (m->kind != YN_MAP) return bad(err, path, m, "a query must be a mapping%s", ""), lg_queryset_free(qs), -1;
        for (size_t k = 0; k + 1 < m->n; k += 2) {
            const char *key = m->items[k]->value;
            const ynode_t *vn = m->items[k + 1];
            const char *v = lg_yscalar(vn);
            int rc = 0;
            if (!v) rc = bad(err, path, vn, "%s: must be a scalar", key);
            else if (!strcmp(key, "name")) { free(q->name); q->name = strdup(v); }
            else if (!strcmp(key, "expr") || !strcmp(key, "query")) { free(q->expr); q->expr = strdup(v); }
            else if (!strcmp(key, "type")) {
                if (!strcmp(v, "range")) q->range = true;
                else if (!strcmp(v, "instant")) q->range = false;
                else rc = bad(err, path, vn, "type: %s is neither instant nor range", v);
            } else if (!strcmp(key, "weight")) {
                char *end;
                q->weight = strtod(v, &end);
                if (*end || !(q->weight > 0) || !isfinite(q->weight)) rc = bad(err, path, vn, "weight: %s is not a positive number", v);
            } else if (!strcmp(key, "range")) {
                pl_err_t e2;
                if (pl_parse_duration(v, &q->range_ms, &e2) < 0 || q->range_ms <= 0) rc = bad(err, path, vn, "range: bad duration %s", v);
            } else if (!strcmp(key, "step")) {
                pl_err_t e2;
                if (pl_parse_duration(v, &q->step_ms, &e2) < 0 || q->step_ms <= 0) rc = bad(err, path, vn, "step: bad duration %s", v);
            } else {
                rc = bad(err, path, m->items[k], "unknown key %s (expected name, expr, type, weight, range, step)", key);
            }
            if (rc < 0) {
                lg_queryset_free(qs);
                return -1;
            }
        }
        if (!q->expr) {
            bad(err, path, m, "a query needs expr%s", "");
            lg_queryset_free(qs);
            return -1;
        }
        if (!q->name) q->name = strdup(q->expr);
        if (q->range) {
            if (!q->range_ms) q->range_ms = 3600 * 1000;
            if (!q->step_ms) q->step_ms = q->range_ms / 250 > 1000 ? q->range_ms / 250 : 1000;
        } else if (q->range_ms || q->step_ms) {
            bad(err, path, m, "range and step need type: range%s", "");
            lg_queryset_free(qs);
            return -1;
        }
    }
    return 0;
}

int lg_queryset_load(const char *path, lg_queryset_t *qs, pl_err_t *err) {
    ynode_t *root;
    memset(qs, 0, sizeof *qs);
    if (lg_yaml_load(path, &root, err) < 0) return -1;
    int rc;
    if (root->kind != YN_MAP) rc = bad(err, path, root, "the query set must be a mapping with queries:%s", "");
    else {
        rc = 0;
        for (size_t k = 0; k + 1 < root->n; k += 2)
            if (strcmp(root->items[k]->value, "queries") != 0)
                rc = bad(err, path, root->items[k], "unknown key %s (expected queries)", root->items[k]->value);
        if (rc == 0) rc = lg_queryset_from_node(path, lg_ymap_get(root, "queries"), qs, err);
    }
    lg_yaml_free(root);
    return rc;
}

size_t lg_queryset_pick(const lg_queryset_t *qs, double u) {
    double total = 0;
    for (size_t i = 0; i < qs->n; i++) total += qs->q[i].weight;
    double x = u * total, acc = 0;
    for (size_t i = 0; i < qs->n; i++) {
        acc += qs->q[i].weight;
        if (x < acc) return i;
    }
    return qs->n - 1;
}

/* ---- the load ---------------------------------------------------------------- */

typedef struct {
    const lg_queryset_t *qs;
    const lg_query_opts_t *o;
    int64_t t0_ns, end_ns;
    atomic_uint_fast64_t next_slot;
    pthread_mutex_t mu;
    lg_latencies_t lat;
    uint64_t count, errors;
    char first_error[256];
} load_t;

typedef struct {
    load_t *l;
    int id;
} worker_arg_t;

static size_t on_body(char *p, size_t size, size_t n, void *ud) {
    strbuf_t *sb = ud;
    if (sb->len < 4096) strbuf_append(sb, p, size * n); /* the status is at the start */
    return size * n;
}

static void sleep_until_ns(int64_t t) {
    for (;;) {
        int64_t now = pl_monotonic_ns();
        if (now >= t || lg_interrupted) return;
        int64_t d = t - now;
        struct timespec ts = {d / 1000000000, d % 1000000000};
        nanosleep(&ts, NULL);
    }
}

static void *worker(void *arg) {
    worker_arg_t *wa = arg;
    load_t *l = wa->l;
    CURL *h = curl_easy_init();
    strbuf_t body = STRBUF_INIT, url = STRBUF_INIT;
    uint64_t rng = 0x9e3779b97f4a7c15ULL * (uint64_t)(wa->id + 1);
    lg_latencies_t mine = {0};
    uint64_t count = 0, errors = 0;
    char first_error[256] = "";
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &body);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)(l->o->timeout_ms > 0 ? l->o->timeout_ms : 30000));
    curl_easy_setopt(h, CURLOPT_ACCEPT_ENCODING, "");
    while (!lg_interrupted) {
        if (l->o->rate > 0) {
            uint64_t k = atomic_fetch_add(&l->next_slot, 1);
            int64_t due = l->t0_ns + (int64_t)((double)k * 1e9 / l->o->rate);
            if (due >= l->end_ns) break;
            sleep_until_ns(due);
        } else if (pl_monotonic_ns() >= l->end_ns) {
            break;
        }
        rng ^= rng >> 12, rng ^= rng << 25, rng ^= rng >> 27;
        double u = (double)((rng * 0x2545F4914F6CDD1DULL) >> 11) / 9007199254740992.0;
        const lg_query_t *q = &l->qs->q[lg_queryset_pick(l->qs, u)];
        char *e = curl_easy_escape(h, q->expr, 0);
        strbuf_reset(&url);
        int64_t now_ms = pl_now_ms();
        if (q->range)
            strbuf_printf(&url, "%s/api/v1/query_range?query=%s&start=%.3f&end=%.3f&step=%.3f", l->o->url, e,
                          (double)(now_ms - q->range_ms) / 1000.0, (double)now_ms / 1000.0, (double)q->step_ms / 1000.0);
        else
            strbuf_printf(&url, "%s/api/v1/query?query=%s&time=%.3f", l->o->url, e, (double)now_ms / 1000.0);
        curl_free(e);
        curl_easy_setopt(h, CURLOPT_URL, url.data);
        strbuf_reset(&body);
        int64_t t0 = pl_monotonic_ns();
        CURLcode rc = curl_easy_perform(h);
        double secs = (double)(pl_monotonic_ns() - t0) / 1e9;
        long status = 0;
        if (rc == CURLE_OK) curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
        count++;
        bool ok = rc == CURLE_OK && status == 200 && body.data && strstr(body.data, "\"status\":\"success\"");
        lg_lat_add(&mine, secs); /* failures too: a timeout must show in the tail, not vanish from it */
        if (!ok) {
            errors++;
            if (!first_error[0]) {
                if (rc != CURLE_OK) snprintf(first_error, sizeof first_error, "%s: %s", q->name, curl_easy_strerror(rc));
                else snprintf(first_error, sizeof first_error, "%s: HTTP %ld %.150s", q->name, status, body.data ? body.data : "");
            }
        }
    }
    pthread_mutex_lock(&l->mu);
    for (size_t i = 0; i < mine.n; i++) lg_lat_add(&l->lat, mine.v[i]);
    l->count += count;
    l->errors += errors;
    if (!l->first_error[0] && first_error[0]) snprintf(l->first_error, sizeof l->first_error, "%s", first_error);
    pthread_mutex_unlock(&l->mu);
    lg_lat_free(&mine);
    strbuf_free(&body);
    strbuf_free(&url);
    curl_easy_cleanup(h);
    return NULL;
}

int lg_query_run(const lg_queryset_t *qs, const lg_query_opts_t *o, lg_query_result_t *res, pl_err_t *err) {
    memset(res, 0, sizeof *res);
    if (!qs->n) return pl_err_set(err, "empty query set");
    if (o->duration_ms <= 0) return pl_err_set(err, "--duration must be positive");
    int workers = o->concurrency > 0 ? o->concurrency : 1;
    if (o->rate > 0 && o->concurrency <= 0) workers = (int)ceil(o->rate / 10) < 4 ? 4 : (int)ceil(o->rate / 10);
    if (workers > 512) workers = 512;
    load_t l = {.qs = qs, .o = o};
    pthread_mutex_init(&l.mu, NULL);
    atomic_init(&l.next_slot, 0);
    l.t0_ns = pl_monotonic_ns();
    l.end_ns = l.t0_ns + o->duration_ms * 1000000LL;
    pthread_t *th = calloc((size_t)workers, sizeof *th);
    worker_arg_t *args = calloc((size_t)workers, sizeof *args);
    int started = 0;
    for (int i = 0; i < workers; i++) {
        args[i] = (worker_arg_t){&l, i};
        if (pthread_create(&th[i], NULL, worker, &args[i]) == 0) started++;
        else break;
    }
    for (int i = 0; i < started; i++) pthread_join(th[i], NULL);
    res->elapsed_s = (double)(pl_monotonic_ns() - l.t0_ns) / 1e9;
    res->count = l.count;
    res->errors = l.errors;
    res->achieved_qps = res->elapsed_s > 0 ? (double)l.count / res->elapsed_s : 0;
    res->p50 = lg_quantile(&l.lat, 0.5);
    res->p90 = lg_quantile(&l.lat, 0.9);
    res->p99 = lg_quantile(&l.lat, 0.99);
    res->max = lg_lat_max(&l.lat);
    snprintf(res->first_error, sizeof res->first_error, "%s", l.first_error);
    lg_lat_free(&l.lat);
    pthread_mutex_destroy(&l.mu);
    free(th);
    free(args);
    return 0;
}

static void fmt_ms(strbuf_t *sb, double s) {
    if (isnan(s)) strbuf_puts(sb, "-");
    else strbuf_printf(sb, "%.2f ms", s * 1000);
}

void lg_query_result_text(const lg_query_result_t *r, strbuf_t *sb) {
    strbuf_printf(sb, "queries    %llu (%llu errors) in %.1f s: %.1f queries/s\n", (unsigned long long)r->count,
                  (unsigned long long)r->errors, r->elapsed_s, r->achieved_qps);
    strbuf_puts(sb, "latency    p50 ");
    fmt_ms(sb, r->p50);
    strbuf_puts(sb, "  p90 ");
    fmt_ms(sb, r->p90);
    strbuf_puts(sb, "  p99 ");
    fmt_ms(sb, r->p99);
    strbuf_puts(sb, "  max ");
    fmt_ms(sb, r->max);
    strbuf_putc(sb, '\n');
    if (r->first_error[0]) strbuf_printf(sb, "first error: %s\n", r->first_error);
}

void lg_query_result_json(const lg_query_result_t *r, strbuf_t *sb) {
    jsonw_t w;
    jw_init(&w, sb);
    jw_obj_begin(&w);
    jw_key(&w, "queries");
    jw_uint(&w, r->count);
    jw_key(&w, "errors");
    jw_uint(&w, r->errors);
    jw_key(&w, "elapsed_seconds");
    jw_double(&w, r->elapsed_s);
    jw_key(&w, "achieved_qps");
    jw_double(&w, r->achieved_qps);
    jw_key(&w, "p50_seconds");
    jw_double(&w, r->p50);
    jw_key(&w, "p90_seconds");
    jw_double(&w, r->p90);
    jw_key(&w, "p99_seconds");
    jw_double(&w, r->p99);
    jw_key(&w, "max_seconds");
    jw_double(&w, r->max);
    if (r->first_error[0]) {
        jw_key(&w, "first_error");
        jw_str(&w, r->first_error);
    }
    jw_obj_end(&w);
}
