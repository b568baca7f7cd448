/* checks.c — a lab's checks.yml: declarative assertions over the running lab.
 *
 *   server: http://127.0.0.1:9090      # default for query checks and relative http urls
 *   checks:
 *     - name: node target is up
 *       query: 'up{job="node"}'        # PromQL via /api/v1/query
 *       value: 1                       # every series equals 1 (tolerance: 1e-9 unless given)
 *       within: 30s                    # retry until true or the time is up
 *     - name: cpu series exist
 *       query: node_cpu_seconds_total
 *       series: {op: '>', value: 0}    # or series: N (exact count)
 *     - name: head has series
 *       query: prometheus_tsdb_head_series
 *       compare: {op: '>', value: 0}   # every series satisfies ({op, measure: NAME} compares
 *                                      # with an earlier measurement)
 *       measure: head_before           # remember the (first) value for a relation
 *     - name: targets healthy
 *       http: {url: /api/v1/targets, method: GET, status: 200,
 *              json: {path: data.activeTargets.*.health, equals: up}}
 *     - name: WAL segments written
 *       files: 'prometheus-data/wal/0*' # glob under .data
 *       compare: {op: '>=', value: 1}  # or count: N
 *     - name: blocks of replica b in the bucket
 *       files: 'thanos-bucket/[0-9A-Z]*[0-9A-Z]/meta.json'
 *       json: {path: thanos.labels.replica, equals: b}   # count only files whose JSON matches
 *       compare: {op: '>=', value: 1}
 *     - name: the moment to ask about again later
 *       query: time()
 *       measure: t0
 *     - name: replicas side by side (Thanos query's dedup=false), at that moment
 *       query: count(up{job="node"})
 *       params: dedup=false            # extra URL parameters, already encoded
 *       at: t0                         # evaluate at a measured Unix time
 *     - name: series dropped
 *       relation: {left: head_after, op: '<', factor: 0.1, right: head_before}
 *
 * A json path is dotted (`*` = every array element, a number = that index);
 * a key with dots in it is written as a YAML list of segments instead.
 * A query check without expectation passes on a non-empty result. */
#include <curl/curl.h>
#include <glob.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lab.h"
#include "util/strbuf.h"
#include "util/timeutil.h"

#define MAX_MEASURES 64

typedef struct measures {
    char *name[MAX_MEASURES];
    double value[MAX_MEASURES];
    size_t n;
} measures_t;

static void measure_set(measures_t *m, const char *name, double v)
{
    for (size_t i = 0; i < m->n; i++)
        if (strcmp(m->name[i], name) == 0) {
            m->value[i] = v;
            return;
        }
    if (m->n == MAX_MEASURES) return;
    m->name[m->n] = strdup(name);
    if (!m->name[m->n]) abort();
    m->value[m->n++] = v;
}

static const double *measure_get(const measures_t *m, const char *name)
{
    for (size_t i = 0; i < m->n; i++)
        if (strcmp(m->name[i], name) == 0) return &m->value[i];
    return NULL;
}

static int parse_number(const char *s, double *out)
{
    if (!s) return -1;
    char *end;
    *out = strtod(s, &end);
    return end != s && *end == '\0' ? 0 : -1;
}

static int compare(double a, const char *op, double b, bool *out)
{
    if (strcmp(op, ">") == 0) *out = a > b;
    else if (strcmp(op, ">=") == 0) *out = a >= b;
    else if (strcmp(op, "<") == 0) *out = a < b;
    else if (strcmp(op, "<=") == 0) *out = a <= b;
    else if (strcmp(op, "==") == 0) *out = a == b;
    else if (strcmp(op, "!=") == 0) *out = a != b;
    else return -1;
    return 0;
}

/* An expectation on one number: {op, value} or a bare number (==). */
typedef struct expect {
    bool set;
    char op[3];
    double value;
    double tolerance;
} expect_t;

/* value: N, or measure: NAME (a number an earlier check remembered). */
static int parse_expect(const ynode_t *n, const char *what, const measures_t *ms, expect_t *e, pl_err_t *err)
{
    memset(e, 0, sizeof *e);
    if (!n) return 0;
    e->set = true;
    strcpy(e->op, "==");
    if (n->kind == YNODE_SCALAR) {
        if (parse_number(n->value, &e->value) != 0)
            return pl_err_set(err, "line %d: %s: %s is not a number", n->line, what, n->value);
        return 0;
    }
    const char *op = yscalar(ymap_get(n, "op"));
    const char *mref = yscalar(ymap_get(n, "measure"));
    const double *mv = mref ? measure_get(ms, mref) : NULL;
    if (mref && !mv) return pl_err_set(err, "line %d: %s: no earlier measurement named %s", n->line, what, mref);
    if (mv) e->value = *mv;
    if (!op || strlen(op) > 2 || (!mv && parse_number(yscalar(ymap_get(n, "value")), &e->value) != 0))
        return pl_err_set(err, "line %d: %s needs {op: '>', value: N} or {op: '>', measure: NAME}", n->line, what);
    bool dummy;
    if (compare(0, op, 0, &dummy) != 0) return pl_err_set(err, "line %d: %s: unknown op %s", n->line, what, op);
    strcpy(e->op, op);
    return 0;
}

static bool expect_holds(const expect_t *e, double v)
{
    if (strcmp(e->op, "==") == 0) return fabs(v - e->value) <= e->tolerance || v == e->value;
    bool r = false;
    compare(v, e->op, e->value, &r);
    return r;
}

/* ---- HTTP ---- */
static size_t collect(char *p, size_t sz, size_t n, void *ud)
{
    strbuf_append(ud, p, sz * n);
    return sz * n;
}

static int http_do(const char *method, const char *url, long *status, strbuf_t *body, pl_err_t *err)
{
    CURL *c = curl_easy_init();
    if (!c) return pl_err_set(err, "curl_easy_init failed");
    strbuf_reset(body);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 10000L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, body);
    curl_easy_setopt(c, CURLOPT_ACCEPT_ENCODING, "");
    if (strcmp(method, "GET") != 0) {
        curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
        if (strcmp(method, "POST") == 0) curl_easy_setopt(c, CURLOPT_POSTFIELDS, "");
    }
    CURLcode rc = curl_easy_perform(c);
    if (rc == CURLE_OK) curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, status);
    curl_easy_cleanup(c);
    if (rc != CURLE_OK) return pl_err_set(err, "%s %s: %s", method, url, curl_easy_strerror(rc));
    if (!body->data) strbuf_puts(body, "");
    return 0;
}

static char *url_join(const char *server, const char *url)
{
    strbuf_t sb = STRBUF_INIT;
    if (strncmp(url, "http://", 7) == 0 || strncmp(url, "https://", 8) == 0 || !server) {
        strbuf_puts(&sb, url);
    } else {
        size_t l = strlen(server);
        while (l > 0 && server[l - 1] == '/') l--;
        strbuf_append(&sb, server, l);
        if (url[0] != '/') strbuf_putc(&sb, '/');
        strbuf_puts(&sb, url);
    }
    return strbuf_detach(&sb);
}

/* ---- one attempt of each kind; 0 = pass, -1 = fail with err ---- */

static int sample_value(json_t *pair, double *v)
{
    const char *s = json_string_value(json_array_get(pair, 1));
    if (!s) return -1;
    char *end;
    *v = strtod(s, &end); /* accepts NaN, +Inf, -Inf */
    return end != s ? 0 : -1;
}

static int attempt_query(const ynode_t *c, const char *server, measures_t *ms, pl_err_t *err)
{
    const char *expr = yscalar(ymap_get(c, "query"));
    const char *srv = yscalar(ymap_get(c, "server"));
    if (srv) server = srv;
    if (!server) return pl_err_set(err, "no server: set `server:` in checks.yml or on the check");
    expect_t val, cmp, ser;
    if (parse_expect(ymap_get(c, "value"), "value", ms, &val, err) != 0 ||
        parse_expect(ymap_get(c, "compare"), "compare", ms, &cmp, err) != 0 ||
        parse_expect(ymap_get(c, "series"), "series", ms, &ser, err) != 0)
        return -1;
    val.tolerance = 1e-9;
    double tol;
    if (parse_number(yscalar(ymap_get(c, "tolerance")), &tol) == 0) val.tolerance = tol;

    /* at: NAME evaluates the query at a time an earlier check measured (in
     * Unix seconds, e.g. from `query: time()`), so a later check can ask
     * again about the same moment. params: extra URL parameters, written
     * already encoded (dedup=false&partial_response=false). */
    const char *at = yscalar(ymap_get(c, "at"));
    const double *at_v = at ? measure_get(ms, at) : NULL;
    if (at && !at_v) return pl_err_set(err, "line %d: at: no earlier measurement named %s", c->line, at);
    const char *params = yscalar(ymap_get(c, "params"));
    CURL *esc = curl_easy_init();
    char *q = esc ? curl_easy_escape(esc, expr, 0) : NULL;
    strbuf_t sb = STRBUF_INIT;
    char *base = url_join(server, "/api/v1/query?query=");
    strbuf_printf(&sb, "%s%s", base, q ? q : "");
    if (at_v) strbuf_printf(&sb, "&time=%.3f", *at_v);
    if (params && *params) strbuf_printf(&sb, "&%s", params);
    free(base);
    curl_free(q);
    curl_easy_cleanup(esc);
    strbuf_t body = STRBUF_INIT;
    long status = 0;
    int rc = http_do("GET", sb.data, &status, &body, err);
    strbuf_free(&sb);
    json_t *root = NULL;
    if (rc == 0) {
        json_error_t jerr;
        root = json_loads(body.data, 0, &jerr);
        if (!root) rc = pl_err_set(err, "HTTP %ld, answer is not JSON: %.80s", status, body.data);
    }
    strbuf_free(&body);
    if (rc != 0) return -1;

    if (strcmp(json_string_value(json_object_get(root, "status")) ?: "", "success") != 0) {
        pl_err_set(err, "query failed (HTTP %ld): %s", status,
                   json_string_value(json_object_get(root, "error")) ?: "no error text");
        json_decref(root);
        return -1;
    }
    json_t *data = json_object_get(root, "data");
    const char *type = json_string_value(json_object_get(data, "resultType")) ?: "";
    json_t *result = json_object_get(data, "result");
    double values[4096];
    size_t n = 0, nv = 0; /* n: series in the answer; nv: values parsed into values[] */
    if (strcmp(type, "scalar") == 0) {
        if (sample_value(result, &values[0]) == 0) n = nv = 1;
    } else if (strcmp(type, "vector") == 0) {
        size_t i;
        json_t *e;
        json_array_foreach(result, i, e) {
            if (nv < sizeof values / sizeof values[0] && sample_value(json_object_get(e, "value"), &values[nv]) == 0) nv++;
        }
        n = json_array_size(result);
    } else {
        pl_err_set(err, "result type %s: use an instant vector or scalar", type);
        json_decref(root);
        return -1;
    }
    json_decref(root);

    const char *mname = yscalar(ymap_get(c, "measure"));
    if (ser.set) {
        if (mname) measure_set(ms, mname, (double)n);
        if (!expect_holds(&ser, (double)n)) return pl_err_set(err, "%zu series, want %s %g", n, ser.op, ser.value);
        return 0;
    }
    if (n == 0) return pl_err_set(err, "empty result");
    if (nv == 0) return pl_err_set(err, "no sample values in the answer");
    if (mname) measure_set(ms, mname, values[0]);
    const expect_t *e = val.set ? &val : cmp.set ? &cmp : NULL;
    if (!e) return 0;
    for (size_t i = 0; i < nv; i++)
        if (!expect_holds(e, values[i]))
            return pl_err_set(err, "value %g, want %s %g%s", values[i], e->op, e->value,
                              nv > 1 ? " (for every series)" : "");
    return 0;
}

/* Walks a dotted path (or a list of segments) and tests every match. */
static int json_path_test(json_t *node, char **segs, size_t nseg, const char *want, size_t *matched, pl_err_t *err)
{
    if (nseg == 0) {
        char buf[64];
        const char *got = NULL;
        if (json_is_string(node)) got = json_string_value(node);
        else if (json_is_integer(node)) snprintf(buf, sizeof buf, "%lld", (long long)json_integer_value(node)), got = buf;
        else if (json_is_real(node)) snprintf(buf, sizeof buf, "%g", json_real_value(node)), got = buf;
        else if (json_is_true(node)) got = "true";
        else if (json_is_false(node)) got = "false";
        else if (json_is_null(node)) got = "null";
        (*matched)++;
        if (!got) return pl_err_set(err, "value is an object or array, want \"%s\"", want);
        if (strcmp(got, want) != 0) return pl_err_set(err, "got \"%s\", want \"%s\"", got, want);
        return 0;
    }
    const char *seg = segs[0];
    if (json_is_array(node) && strcmp(seg, "*") == 0) {
        size_t i;
        json_t *e;
        json_array_foreach(node, i, e) if (json_path_test(e, segs + 1, nseg - 1, want, matched, err) != 0) return -1;
        return 0;
    }
    json_t *next = NULL;
    if (json_is_array(node)) {
        char *end;
        long idx = strtol(seg, &end, 10);
        if (*end == '\0' && idx >= 0) next = json_array_get(node, (size_t)idx);
    } else if (json_is_object(node)) {
        next = json_object_get(node, seg);
    }
    if (!next) return pl_err_set(err, "no %s in the answer", seg);
    return json_path_test(next, segs + 1, nseg - 1, want, matched, err);
}

/* A json: {path, equals} spec: the path split into segments (pointing into
 * *copy, which the caller frees). Returns 0, or -1 if path or equals is missing. */
static int json_spec(const ynode_t *jp, char **segs, size_t *nseg, char **copy, const char **want)
{
    const ynode_t *path = ymap_get(jp, "path");
    *want = yscalar(ymap_get(jp, "equals"));
    *nseg = 0;
    *copy = NULL;
    if (yscalar(path)) {
        *copy = strdup(path->value);
        if (!*copy) abort();
        for (char *save = NULL, *t = strtok_r(*copy, ".", &save); t && *nseg < 32; t = strtok_r(NULL, ".", &save))
            segs[(*nseg)++] = t;
    } else if (path && path->kind == YNODE_SEQ) {
        for (size_t i = 0; i < path->n && *nseg < 32; i++)
            if (yscalar(path->items[i])) segs[(*nseg)++] = path->items[i]->value;
    }
    return *want && *nseg > 0 ? 0 : -1;
}

static int attempt_http(const ynode_t *c, const char *server, pl_err_t *err)
{
    const ynode_t *h = ymap_get(c, "http");
    const char *url = yscalar(h) ? yscalar(h) : yscalar(ymap_get(h, "url"));
    if (!url) return pl_err_set(err, "line %d: http needs a url", h->line);
    const char *method = yscalar(ymap_get(h, "method")) ?: "GET";
    double want_status = 200;
    parse_number(yscalar(ymap_get(h, "status")), &want_status);
    char *full = url_join(yscalar(ymap_get(c, "server")) ?: server, url);
    strbuf_t body = STRBUF_INIT;
    long status = 0;
    int rc = http_do(method, full, &status, &body, err);
    free(full);
    if (rc == 0 && status != (long)want_status)
        rc = pl_err_set(err, "HTTP %ld, want %.0f: %.100s", status, want_status, body.data);
    const ynode_t *jp = ymap_get(h, "json");
    if (rc == 0 && jp) {
        const char *want;
        char *segs[32], *copy;
        size_t nseg;
        if (json_spec(jp, segs, &nseg, &copy, &want) != 0) {
            rc = pl_err_set(err, "line %d: json needs path and equals", jp->line);
        } else {
            json_error_t jerr;
            json_t *root = json_loads(body.data, 0, &jerr);
            size_t matched = 0;
            if (!root) rc = pl_err_set(err, "answer is not JSON: %.80s", body.data);
            else rc = json_path_test(root, segs, nseg, want, &matched, err);
            if (rc == 0 && matched == 0) rc = pl_err_set(err, "path matched nothing");
            json_decref(root);
        }
        free(copy);
    }
    strbuf_free(&body);
    return rc;
}

static int attempt_files(const lab_t *lab, const ynode_t *c, measures_t *ms, pl_err_t *err)
{
    const char *pattern = yscalar(ymap_get(c, "files"));
    if (!pattern) return pl_err_set(err, "line %d: files needs a glob", c->line);
    expect_t cnt, cmp;
    if (parse_expect(ymap_get(c, "count"), "count", ms, &cnt, err) != 0 ||
        parse_expect(ymap_get(c, "compare"), "compare", ms, &cmp, err) != 0)
        return -1;
    strbuf_t sb = STRBUF_INIT;
    strbuf_printf(&sb, "%s/%s", lab->data_dir, pattern);
    /* json: {path, equals}: count only the files whose JSON content matches
     * (e.g. the blocks whose meta.json says thanos.labels.replica is b). */
    const ynode_t *jp = ymap_get(c, "json");
    const char *want = NULL;
    char *segs[32], *copy = NULL;
    size_t nseg = 0;
    if (jp && json_spec(jp, segs, &nseg, &copy, &want) != 0) {
        free(copy);
        strbuf_free(&sb);
        return pl_err_set(err, "line %d: json needs path and equals", jp->line);
    }
    glob_t g;
    memset(&g, 0, sizeof g);
    size_t n = glob(sb.data, 0, NULL, &g) == 0 ? g.gl_pathc : 0;
    if (jp) {
        size_t total = n;
        n = 0;
        for (size_t i = 0; i < total; i++) {
            json_error_t jerr;
            json_t *root = json_load_file(g.gl_pathv[i], 0, &jerr);
            pl_err_t ignored;
            size_t matched = 0;
            if (root && json_path_test(root, segs, nseg, want, &matched, &ignored) == 0 && matched > 0) n++;
            json_decref(root);
        }
    }
    globfree(&g);
    free(copy);
    strbuf_free(&sb);
    const char *mname = yscalar(ymap_get(c, "measure"));
    if (mname) measure_set(ms, mname, (double)n);
    const expect_t *e = cnt.set ? &cnt : cmp.set ? &cmp : NULL;
    if (!e) return n > 0 ? 0 : pl_err_set(err, "no file matches .data/%s%s", pattern, jp ? " with that JSON value" : "");
    if (!expect_holds(e, (double)n)) return pl_err_set(err, "%zu files match .data/%s%s, want %s %g", n, pattern, jp ? " with that JSON value" : "", e->op, e->value);
    return 0;
}

static int attempt_relation(const ynode_t *c, const measures_t *ms, pl_err_t *err)
{
    const ynode_t *r = ymap_get(c, "relation");
    const char *left = yscalar(ymap_get(r, "left")), *right = yscalar(ymap_get(r, "right"));
    const char *op = yscalar(ymap_get(r, "op"));
    double factor = 1;
    if (ymap_get(r, "factor") && parse_number(yscalar(ymap_get(r, "factor")), &factor) != 0)
        return pl_err_set(err, "line %d: factor is not a number", r->line);
    if (!left || !right || !op) return pl_err_set(err, "line %d: relation needs left, op, right", r ? r->line : c->line);
    const double *l = measure_get(ms, left), *rv = measure_get(ms, right);
    if (!l) return pl_err_set(err, "no measurement named %s (an earlier check must `measure:` it)", left);
    if (!rv) return pl_err_set(err, "no measurement named %s (an earlier check must `measure:` it)", right);
    bool holds;
    if (compare(*l, op, factor * *rv, &holds) != 0) return pl_err_set(err, "unknown op %s", op);
    if (!holds) return pl_err_set(err, "%s=%g is not %s %g * %s=%g", left, *l, op, factor, right, *rv);
    return 0;
}

int checks_run(const lab_t *lab, const char *checks_path, pl_err_t *err)
{
    ynode_t *root = NULL;
    if (ytree_load_file(checks_path, &root, err) != 0) return -1;
    const ynode_t *list = root->kind == YNODE_SEQ ? root : ymap_get(root, "checks");
    const char *server = yscalar(ymap_get(root, "server"));
    if (!list || list->kind != YNODE_SEQ) {
        pl_err_set(err, "%s: expected a list of checks (or checks: [...])", checks_path);
        ytree_free(root);
        return -1;
    }
    measures_t ms = {0};
    int passed = 0, failed = 0;
    for (size_t i = 0; i < list->n; i++) {
        const ynode_t *c = list->items[i];
        const char *name = yscalar(ymap_get(c, "name"));
        char fallback[32];
        if (!name) {
            snprintf(fallback, sizeof fallback, "check %zu", i + 1);
            name = fallback;
        }
        int64_t within_ms = 0;
        const char *within = yscalar(ymap_get(c, "within"));
        pl_err_t e = {{0}};
        int rc = 0;
        if (within && pl_parse_duration(within, &within_ms, &e) != 0) rc = -1;
        int64_t deadline = pl_monotonic_ns() + within_ms * 1000000LL;
        while (rc == 0) {
            e.msg[0] = '\0';
            if (ymap_get(c, "query")) rc = attempt_query(c, server, &ms, &e);
            else if (ymap_get(c, "http")) rc = attempt_http(c, server, &e);
            else if (ymap_get(c, "files")) rc = attempt_files(lab, c, &ms, &e);
            else if (ymap_get(c, "relation")) rc = attempt_relation(c, &ms, &e);
            else {
                pl_err_set(&e, "line %d: needs one of query, http, files, relation", c->line);
                break;
            }
            if (rc == 0 || lab_interrupted || pl_monotonic_ns() >= deadline) break;
            rc = 0;
            struct timespec ts = {0, 500000000L};
            nanosleep(&ts, NULL);
        }
        if (rc == 0 && e.msg[0] == '\0') {
            printf("ok   %s\n", name);
            passed++;
        } else {
            if (within_ms > 0 && !lab_interrupted) printf("FAIL %s: %s (still false after %s)\n", name, e.msg, within);
            else printf("FAIL %s: %s\n", name, e.msg);
            failed++;
        }
        fflush(stdout);
        if (lab_interrupted) break;
    }
    printf("%d passed, %d failed\n", passed, failed);
    fflush(stdout);
    for (size_t i = 0; i < ms.n; i++) free(ms.name[i]);
    ytree_free(root);
    return failed;
}
