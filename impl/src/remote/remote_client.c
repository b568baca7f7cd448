/* remote_client.c — remote read over HTTP with libcurl (see remote_client.h). */
#include "remote/remote_client.h"

#include <curl/curl.h>
#include <jansson.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <yaml.h>

#include "remote/remote_read.h"

/* ---- series sets ---- */

int remote_series_set_add(remote_series_set_t *set, const label_t *ls, size_t n, const sample_t *s, size_t ns) {
    size_t strbytes = 0;
    for (size_t i = 0; i < n; i++) strbytes += strlen(ls[i].name) + strlen(ls[i].value) + 2;
    char *block = malloc(ns * sizeof(sample_t) + n * sizeof(label_t) + strbytes + 1);
    if (!block) return -1;
    sample_t *sv = (sample_t *)block;
    label_t *lv = (label_t *)(sv + ns);
    char *p = (char *)(lv + n);
    if (ns) memcpy(sv, s, ns * sizeof *sv);
    for (size_t i = 0; i < n; i++) {
        size_t a = strlen(ls[i].name) + 1, b = strlen(ls[i].value) + 1;
        memcpy(p, ls[i].name, a);
        lv[i].name = p;
        p += a;
        memcpy(p, ls[i].value, b);
        lv[i].value = p;
        p += b;
    }
    if (set->n == set->cap) {
        size_t nc = set->cap ? set->cap * 2 : 64;
        remote_series_t *nv = realloc(set->v, nc * sizeof *nv);
        if (!nv) {
            free(block);
            return -1;
        }
        set->v = nv;
        set->cap = nc;
    }
    set->v[set->n++] = (remote_series_t){lv, n, sv, ns};
    return 0;
}

static int cmp_series(const void *a, const void *b) {
    const remote_series_t *x = a, *y = b;
    return labels_compare(x->ls, x->n, y->ls, y->n);
}

void remote_series_set_sort(remote_series_set_t *set) {
    if (set->n > 1) qsort(set->v, set->n, sizeof *set->v, cmp_series);
}

void remote_series_set_free(remote_series_set_t *set) {
    /* The block starts at the samples. */
    for (size_t i = 0; i < set->n; i++) free(set->v[i].s);
    free(set->v);
    memset(set, 0, sizeof *set);
}

/* ---- HTTP ---- */

/* Idle curl handles are kept (up to POOL_MAX) so that their connections
 * stay open between selects: a fan-out query sends many small requests. */
#define POOL_MAX 16

struct remote_client {
    char *base; /* without a trailing slash */
    remote_client_opts_t opts;
    pthread_mutex_t mu;
    CURL *pool[POOL_MAX];
    size_t npool;
};

static CURL *handle_get(remote_client_t *c) {
    CURL *e = NULL;
    pthread_mutex_lock(&c->mu);
    if (c->npool) e = c->pool[--c->npool];
    pthread_mutex_unlock(&c->mu);
    if (e) curl_easy_reset(e);
    else e = curl_easy_init();
    return e;
}

static void handle_put(remote_client_t *c, CURL *e) {
    pthread_mutex_lock(&c->mu);
    if (c->npool < POOL_MAX) {
        c->pool[c->npool++] = e;
        e = NULL;
    }
    pthread_mutex_unlock(&c->mu);
    if (e) curl_easy_cleanup(e);
}

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static void curl_init_once(void) { curl_global_init(CURL_GLOBAL_DEFAULT); }

remote_client_t *remote_client_new(const char *base_url, const remote_client_opts_t *opts, pl_err_t *err) {
    pthread_once(&curl_once, curl_init_once);
    if (strncmp(base_url, "http://", 7) != 0 && strncmp(base_url, "https://", 8) != 0) {
        pl_err_set(err, "endpoint %s: not an http:// or https:// URL", base_url);
        return NULL;
    }
    remote_client_t *c = calloc(1, sizeof *c);
    if (!c || !(c->base = strdup(base_url))) {
        free(c);
        pl_err_set(err, "out of memory");
        return NULL;
    }
    size_t l = strlen(c->base);
    while (l > 0 && c->base[l - 1] == '/') c->base[--l] = '\0';
    pthread_mutex_init(&c->mu, NULL);
    if (opts) c->opts = *opts;
    if (c->opts.timeout_ms <= 0) c->opts.timeout_ms = 120000;
    return c;
}

void remote_client_free(remote_client_t *c) {
    if (!c) return;
    for (size_t i = 0; i < c->npool; i++) curl_easy_cleanup(c->pool[i]);
    pthread_mutex_destroy(&c->mu);
    free(c->base);
    free(c);
}

const char *remote_client_url(const remote_client_t *c) { return c->base; }

typedef struct http_reply {
    long status;
    strbuf_t body;
    char content_type[128];
} http_reply_t;

static size_t on_body(char *p, size_t size, size_t n, void *ud) {
    strbuf_append(&((http_reply_t *)ud)->body, p, size * n);
    return size * n;
}

static size_t on_header(char *p, size_t size, size_t n, void *ud) {
    http_reply_t *r = ud;
    size_t len = size * n;
    if (len > 13 && strncasecmp(p, "Content-Type:", 13) == 0) {
        size_t i = 13;
        while (i < len && (p[i] == ' ' || p[i] == '\t')) i++;
        size_t e = len;
        while (e > i && (p[e - 1] == '\r' || p[e - 1] == '\n' || p[e - 1] == ' ')) e--;
        size_t m = e - i < sizeof r->content_type - 1 ? e - i : sizeof r->content_type - 1;
        memcpy(r->content_type, p + i, m);
        r->content_type[m] = '\0';
    }
    return len;
}

/* GET (body NULL) or POST of a remote-read request. */
static int http_do(remote_client_t *c, const char *path, const strbuf_t *body, http_reply_t *r, pl_err_t *err) {
    CURL *e = handle_get(c);
    if (!e) return pl_err_set(err, "curl: cannot create a handle");
    strbuf_t url = STRBUF_INIT;
    strbuf_printf(&url, "%s%s", c->base, path);
    struct curl_slist *hdr = NULL;
    curl_easy_setopt(e, CURLOPT_URL, url.data);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)c->opts.timeout_ms);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, 5000L);
    curl_easy_setopt(e, CURLOPT_USERAGENT, "promlab-query/0.1");
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, r);
    if (body) {
        hdr = curl_slist_append(hdr, "Content-Type: application/x-protobuf");
        hdr = curl_slist_append(hdr, "Content-Encoding: snappy");
        hdr = curl_slist_append(hdr, "X-Prometheus-Remote-Read-Version: 0.1.0");
        hdr = curl_slist_append(hdr, "Expect:");
        curl_easy_setopt(e, CURLOPT_HTTPHEADER, hdr);
        curl_easy_setopt(e, CURLOPT_POST, 1L);
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, body->data);
        curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body->len);
    } else {
        curl_easy_setopt(e, CURLOPT_ACCEPT_ENCODING, ""); /* gzip for JSON answers */
    }
    CURLcode cc = curl_easy_perform(e);
    int rc = 0;
    if (cc != CURLE_OK) rc = pl_err_set(err, "%s: %s", url.data, curl_easy_strerror(cc));
    else curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &r->status);
    curl_slist_free_all(hdr);
    if (cc == CURLE_OK) handle_put(c, e);
    else curl_easy_cleanup(e);
    strbuf_free(&url);
    return rc;
}

/* "HTTP 500: first line of the body" */
static int http_status_error(const remote_client_t *c, const char *path, const http_reply_t *r, pl_err_t *err) {
    char line[200] = "";
    if (r->body.len) {
        size_t n = 0;
        while (n < r->body.len && n < sizeof line - 1 && r->body.data[n] != '\n') {
            line[n] = r->body.data[n];
            n++;
        }
        line[n] = '\0';
    }
    return pl_err_set(err, "%s%s: server returned HTTP status %ld%s%s", c->base, path, r->status, line[0] ? ": " : "",
                      line);
}

/* ---- select ---- */

typedef struct select_ctx {
    const matcher_t *ms;
    size_t nms;
    int64_t mint, maxt;
    remote_series_set_t set;
} select_ctx_t;

static int on_series(void *ctx, size_t qi, const label_t *ls, size_t n, const sample_t *s, size_t ns) {
    (void)qi;
    select_ctx_t *c = ctx;
    for (size_t i = 0; i < c->nms; i++) {
        const char *v = labels_get(ls, n, c->ms[i].name);
        if (!matcher_matches(&c->ms[i], v ? v : "")) return 0;
    }
    size_t lo = 0, hi = ns;
    while (lo < hi && s[lo].t < c->mint) lo++;
    while (hi > lo && s[hi - 1].t > c->maxt) hi--;
    if (lo == hi) return 0;
    return remote_series_set_add(&c->set, ls, n, s + lo, hi - lo) < 0 ? -1 : 0;
}

/* Reads the matching series into set (unsorted). */
static int remote_read(remote_client_t *c, const matcher_t *ms, size_t nms, int64_t mint, int64_t maxt,
                       const storage_select_hints_t *hints, select_ctx_t *sc, pl_err_t *err) {
    rr_query_t q = {.start_ms = mint, .end_ms = maxt, .matchers = (matcher_t *)ms, .nmatchers = nms};
    /* The hints a store uses to pick a downsampled aggregate (Prometheus sends
     * them too); the resolution rides on the URL, which Prometheus ignores. */
    char path[96] = "/api/v1/read";
    if (hints && hints->func && *hints->func) {
        q.has_hints = true;
        q.hints = (rr_hints_t){.step_ms = hints->step_ms, .start_ms = mint, .end_ms = maxt, .range_ms = hints->range_ms,
                               .func = (char *)hints->func};
    }
    if (hints && hints->max_resolution_ms > 0)
        snprintf(path, sizeof path, "/api/v1/read?max_source_resolution=%lld", (long long)hints->max_resolution_ms);
    int accepted_both[] = {RR_STREAMED_XOR_CHUNKS, RR_SAMPLES}, accepted_samples[] = {RR_SAMPLES};
    rr_request_t req = {.queries = &q, .nqueries = 1};
    req.accepted = c->opts.samples_only ? accepted_samples : accepted_both;
    req.naccepted = c->opts.samples_only ? 1 : 2;
    strbuf_t body = STRBUF_INIT;
    http_reply_t r = {0};
    int rc = rr_request_encode(&req, &body, err);
    if (rc == 0) rc = http_do(c, path, &body, &r, err);
    if (rc == 0 && r.status / 100 != 2) rc = http_status_error(c, "/api/v1/read", &r, err);
    sc->ms = ms;
    sc->nms = nms;
    sc->mint = mint;
    sc->maxt = maxt;
    if (rc == 0) {
        if (strncmp(r.content_type, "application/x-streamed-protobuf", 31) == 0)
            rc = rr_stream_decode(r.body.data, r.body.len, on_series, sc, err);
        else if (strncmp(r.content_type, "application/x-protobuf", 22) == 0)
            rc = rr_samples_decode(r.body.data, r.body.len, on_series, sc, err);
        else
            rc = pl_err_set(err, "unexpected Content-Type \"%s\"", r.content_type);
        if (rc != 0) pl_err_prefix(err, "%s/api/v1/read", c->base);
    }
    strbuf_free(&body);
    strbuf_free(&r.body);
    return rc;
}

static int client_select_hinted(void *impl, const matcher_t *ms, size_t nms, int64_t mint, int64_t maxt,
                                const storage_select_hints_t *hints, storage_series_fn fn, void *ctx, pl_err_t *err) {
    remote_client_t *c = impl;
    select_ctx_t sc = {0};
    int rc = remote_read(c, ms, nms, mint, maxt, hints, &sc, err);
    if (rc == 0) {
        remote_series_set_sort(&sc.set);
        for (size_t i = 0; rc == 0 && i < sc.set.n; i++)
            rc = fn(ctx, sc.set.v[i].ls, sc.set.v[i].n, sc.set.v[i].s, sc.set.v[i].ns);
    }
    remote_series_set_free(&sc.set);
    return rc;
}

static int client_select(void *impl, const matcher_t *ms, size_t nms, int64_t mint, int64_t maxt, storage_series_fn fn,
                         void *ctx, pl_err_t *err) {
    return client_select_hinted(impl, ms, nms, mint, maxt, NULL, fn, ctx, err);
}

/* ---- labels ---- */

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* Emits the sorted unique strings of arr. */
static int emit_sorted(char **arr, size_t n, storage_string_fn fn, void *ctx) {
    qsort(arr, n, sizeof *arr, cmp_str);
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < n; i++)
        if (i == 0 || strcmp(arr[i - 1], arr[i]) != 0) rc = fn(ctx, arr[i]);
    return rc;
}

/* Fallback: every series over all time, by remote read. */
static int labels_by_read(remote_client_t *c, const char *name, storage_string_fn fn, void *ctx, pl_err_t *err) {
    matcher_t all;
    if (matcher_init(&all, MATCH_NOT_EQUAL, LABEL_METRIC_NAME, "", err) < 0) return -1;
    select_ctx_t sc = {0};
    int rc = remote_read(c, &all, 1, INT64_MIN, INT64_MAX, NULL, &sc, err);
    char **arr = NULL;
    size_t n = 0, cap = 0;
    for (size_t i = 0; rc == 0 && i < sc.set.n; i++)
        for (size_t j = 0; j < sc.set.v[i].n; j++) {
            const label_t *l = &sc.set.v[i].ls[j];
            if (name && strcmp(l->name, name) != 0) continue;
            if (n == cap) {
                cap = cap ? cap * 2 : 64;
                char **na = realloc(arr, cap * sizeof *na);
                if (!na) {
                    rc = pl_err_set(err, "out of memory");
                    break;
                }
                arr = na;
            }
            arr[n++] = (char *)(name ? l->value : l->name);
        }
    if (rc == 0) rc = emit_sorted(arr, n, fn, ctx);
    free(arr);
    remote_series_set_free(&sc.set);
    matcher_free(&all);
    return rc;
}

/* GETs a JSON API path whose data is an array of strings. 1 when the
 * endpoint does not have the path (404). */
static int labels_by_api(remote_client_t *c, const char *path, storage_string_fn fn, void *ctx, pl_err_t *err) {
    http_reply_t r = {0};
    int rc = http_do(c, path, NULL, &r, err);
    if (rc == 0 && r.status == 404) rc = 1;
    else if (rc == 0 && r.status != 200) rc = http_status_error(c, path, &r, err);
    if (rc != 0) {
        strbuf_free(&r.body);
        return rc;
    }
    json_error_t je;
    json_t *root = json_loadb(r.body.data ? r.body.data : "", r.body.len, 0, &je);
    strbuf_free(&r.body);
    json_t *data = root ? json_object_get(root, "data") : NULL;
    if (!json_is_array(data)) {
        json_decref(root);
        return pl_err_set(err, "%s%s: answer is not an API array", c->base, path);
    }
    size_t n = json_array_size(data);
    char **arr = calloc(n + 1, sizeof *arr);
    size_t k = 0;
    for (size_t i = 0; arr && i < n; i++) {
        const char *s = json_string_value(json_array_get(data, i));
        if (s) arr[k++] = (char *)s;
    }
    rc = arr ? emit_sorted(arr, k, fn, ctx) : pl_err_set(err, "out of memory");
    free(arr);
    json_decref(root);
    return rc;
}

static int client_label_names(void *impl, storage_string_fn fn, void *ctx, pl_err_t *err) {
    remote_client_t *c = impl;
    int rc = labels_by_api(c, "/api/v1/labels", fn, ctx, err);
    return rc == 1 ? labels_by_read(c, NULL, fn, ctx, err) : rc;
}

static int client_label_values(void *impl, const char *name, storage_string_fn fn, void *ctx, pl_err_t *err) {
    remote_client_t *c = impl;
    if (!label_name_valid(name, strlen(name))) return pl_err_set(err, "invalid label name: \"%s\"", name);
    strbuf_t path = STRBUF_INIT;
    strbuf_printf(&path, "/api/v1/label/%s/values", name);
    int rc = labels_by_api(c, path.data, fn, ctx, err);
    strbuf_free(&path);
    return rc == 1 ? labels_by_read(c, name, fn, ctx, err) : rc;
}

void remote_client_queryable(remote_client_t *c, queryable_t *out) {
    out->impl = c;
    out->select = client_select;
    out->label_names = client_label_names;
    out->label_values = client_label_values;
    out->select_hinted = client_select_hinted; /* passes func/range/step and the resolution on; always sorted, all samples */
}

/* ---- external labels ---- */

/* Walks the YAML events: top-level mapping, key "global", its mapping, key
 * "external_labels", a mapping of scalar pairs. Anything else is skipped. */
int remote_parse_external_labels(const char *text, size_t len, strbuf_t *store, size_t *n, pl_err_t *err) {
    *n = 0;
    yaml_parser_t p;
    if (!yaml_parser_initialize(&p)) return pl_err_set(err, "yaml: out of memory");
    yaml_parser_set_input_string(&p, (const unsigned char *)text, len);
    int depth = 0, rc = 0;
    /* state: 0 looking at top-level keys, 1 inside global, 2 inside external_labels */
    int state = 0, in_global_depth = -1, in_ext_depth = -1;
    bool expect_key = false, want_global = false, want_ext = false;
    char *pending_name = NULL;
    for (;;) {
        yaml_event_t ev;
        if (!yaml_parser_parse(&p, &ev)) {
            rc = pl_err_set(err, "yaml: %s at line %zu", p.problem ? p.problem : "parse error", p.problem_mark.line + 1);
            break;
        }
        yaml_event_type_t t = ev.type;
        if (t == YAML_STREAM_END_EVENT) {
            yaml_event_delete(&ev);
            break;
        }
        if (t == YAML_MAPPING_START_EVENT || t == YAML_SEQUENCE_START_EVENT) {
            depth++;
            if (t == YAML_MAPPING_START_EVENT && want_global && depth == 2) {
                state = 1;
                in_global_depth = depth;
            } else if (t == YAML_MAPPING_START_EVENT && want_ext && state == 1 && depth == in_global_depth + 1) {
                state = 2;
                in_ext_depth = depth;
            }
            want_global = want_ext = false;
            expect_key = t == YAML_MAPPING_START_EVENT;
            if (state == 2 && depth > in_ext_depth) { /* nested value under external_labels: not a label */
            }
        } else if (t == YAML_MAPPING_END_EVENT || t == YAML_SEQUENCE_END_EVENT) {
            if (state == 2 && depth == in_ext_depth) state = 1;
            else if (state == 1 && depth == in_global_depth) state = 0;
            depth--;
            expect_key = true; /* after a nested value, the parent mapping expects a key */
        } else if (t == YAML_SCALAR_EVENT) {
            const char *v = (const char *)ev.data.scalar.value;
            if (expect_key) {
                if (depth == 1 && strcmp(v, "global") == 0) want_global = true;
                else if (state == 1 && depth == in_global_depth && strcmp(v, "external_labels") == 0) want_ext = true;
                if (state == 2 && depth == in_ext_depth) {
                    free(pending_name);
                    pending_name = strdup(v);
                }
                expect_key = false;
            } else {
                if (state == 2 && depth == in_ext_depth && pending_name) {
                    strbuf_append(store, pending_name, strlen(pending_name) + 1);
                    strbuf_append(store, v, strlen(v) + 1);
                    (*n)++;
                }
                free(pending_name);
                pending_name = NULL;
                want_global = want_ext = false;
                expect_key = true;
            }
        }
        yaml_event_delete(&ev);
    }
    free(pending_name);
    yaml_parser_delete(&p);
    return rc;
}

int remote_client_external_labels(remote_client_t *c, strbuf_t *store, size_t *n, pl_err_t *err) {
    *n = 0;
    http_reply_t r = {0};
    int rc = http_do(c, "/api/v1/status/config", NULL, &r, err);
    if (rc == 0 && r.status != 200) rc = http_status_error(c, "/api/v1/status/config", &r, err);
    if (rc != 0) {
        strbuf_free(&r.body);
        return -1;
    }
    json_error_t je;
    json_t *root = json_loadb(r.body.data ? r.body.data : "", r.body.len, 0, &je);
    strbuf_free(&r.body);
    const char *yaml = json_string_value(json_object_get(json_object_get(root, "data"), "yaml"));
    if (!yaml) rc = pl_err_set(err, "%s/api/v1/status/config: no data.yaml in the answer", c->base);
    else rc = remote_parse_external_labels(yaml, strlen(yaml), store, n, err);
    json_decref(root);
    return rc;
}

int remote_client_get(remote_client_t *c, const char *path, strbuf_t *body, long *status, pl_err_t *err) {
    http_reply_t r = {0};
    int rc = http_do(c, path, NULL, &r, err);
    *status = r.status;
    if (rc == 0 && r.body.len) strbuf_append(body, r.body.data, r.body.len);
    strbuf_free(&r.body);
    return rc;
}
