/* test_web.c — the HTTP layer and API handlers over a real head: Prometheus's
 * JSON envelope, the lookback window's left-open boundary, staleness, errors,
 * form POSTs, lifecycle switches, readiness, gzip, /metrics. */
#include "testutil.h"

#include <curl/curl.h>
#include <math.h>

#include "tsdb/db.h"
#include "tsdb/head.h"
#include "util/strbuf.h"
#include "web/http.h"
#include "web/web.h"

typedef struct {
    head_t *head;
    db_t *db; /* the head wrapped as storage for the scrape manager */
    scrape_manager_t *scrape;
    web_t *web;
    char base[64];
    int reloads;
    int quits;
} fixture_t;

static int fake_reload(void *ctx, pl_err_t *err) {
    fixture_t *f = ctx;
    f->reloads++;
    return pl_err_set(err, "test reload refused");
}
static void fake_yaml(void *ctx, strbuf_t *out) { strbuf_puts(out, "global:\n  external_labels:\n    a: b\n"); }
static void fake_quit(void *ctx) { ((fixture_t *)ctx)->quits++; }

static size_t collect(char *p, size_t sz, size_t n, void *ud) {
    strbuf_append(ud, p, sz * n);
    return sz * n;
}

/* Performs a request; returns the status, fills body. post may be NULL. */
static long request(const char *url, const char *post, bool gzip, strbuf_t *body, strbuf_t *headers) {
    CURL *c = curl_easy_init();
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, body);
    if (headers) {
        curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, collect);
        curl_easy_setopt(c, CURLOPT_HEADERDATA, headers);
    }
    if (post) curl_easy_setopt(c, CURLOPT_POSTFIELDS, post);
    if (gzip) curl_easy_setopt(c, CURLOPT_ACCEPT_ENCODING, "gzip");
    long code = 0;
    if (curl_easy_perform(c) == CURLE_OK) curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
    curl_easy_cleanup(c);
    return code;
}

static const int64_t T = 1700000000000; /* query time used by the tests */

static int setup(void **state) {
    fixture_t *f = calloc(1, sizeof *f);
    f->head = head_new();
    f->db = db_wrap_head(f->head);
    appendable_t storage;
    db_appendable(f->db, &storage);
    f->scrape = scrape_manager_new(&storage);
    label_t a[] = {{"__name__", "m"}, {"job", "a"}};
    label_t b[] = {{"__name__", "m"}, {"job", "b"}};
    label_t c[] = {{"__name__", "m"}, {"job", "c"}};
    label_t d[] = {{"__name__", "m"}, {"job", "d"}};
    /* a: last sample 4m before T (inside the 5m lookback) */
    head_append(f->head, a, 2, T - 600000, 1, NULL, NULL);
    head_append(f->head, a, 2, T - 240000, 2.5, NULL, NULL);
    /* b: last sample exactly 5m before T: outside the left-open window */
    head_append(f->head, b, 2, T - 300000, 7, NULL, NULL);
    /* c: went stale 1m before T */
    head_append(f->head, c, 2, T - 120000, 3, NULL, NULL);
    head_append(f->head, c, 2, T - 60000, pl_stale_nan(), NULL, NULL);
    /* d: a sample after T must not be used */
    head_append(f->head, d, 2, T - 30000, 4, NULL, NULL);
    head_append(f->head, d, 2, T + 30000, 5, NULL, NULL);
    web_opts_t o = {.listen_address = "127.0.0.1:0", .head = f->head, .scrape = f->scrape,
                    .lookback_delta_ms = 300000, .cb_ctx = f, .reload = fake_reload, .config_yaml = fake_yaml,
                    .quit = fake_quit, .enable_lifecycle = false};
    pl_err_t err = {{0}};
    f->web = web_start(&o, &err);
    if (!f->web) fail_msg("web_start: %s", err.msg);
    snprintf(f->base, sizeof f->base, "http://127.0.0.1:%u", web_port(f->web));
    *state = f;
    return 0;
}

static int teardown(void **state) {
    fixture_t *f = *state;
    web_stop(f->web);
    scrape_manager_free(f->scrape);
    db_close(f->db, NULL);
    head_free(f->head);
    free(f);
    return 0;
}

static long get(fixture_t *f, const char *path, strbuf_t *body) {
    char url[512];
    snprintf(url, sizeof url, "%s%s", f->base, path);
    strbuf_reset(body);
    return request(url, NULL, false, body, NULL);
}

static void test_ready_and_health(void **state) {
    fixture_t *f = *state;
    strbuf_t b = STRBUF_INIT;
    assert_int_equal(get(f, "/-/ready", &b), 503);
    web_set_ready(f->web, true);
    assert_int_equal(get(f, "/-/ready", &b), 200);
    assert_string_equal(b.data, "Prometheus Server is Ready.\n");
    assert_int_equal(get(f, "/-/healthy", &b), 200);
    assert_int_equal(get(f, "/nope", &b), 404);
    strbuf_free(&b);
}

static void test_query_lookback_window(void **state) {
    fixture_t *f = *state;
    strbuf_t b = STRBUF_INIT;
    assert_int_equal(get(f, "/api/v1/query?query=m&time=1700000000", &b), 200);
    /* a (2.5) and d (4) only: b is exactly at t-5m (left-open), c is stale, d's later sample is ignored. */
    assert_string_equal(b.data,
                        "{\"status\":\"success\",\"data\":{\"resultType\":\"vector\",\"result\":["
                        "{\"metric\":{\"__name__\":\"m\",\"job\":\"a\"},\"value\":[1700000000,\"2.5\"]},"
                        "{\"metric\":{\"__name__\":\"m\",\"job\":\"d\"},\"value\":[1700000000,\"4\"]}]}}");
    /* One ms later b's sample is gone too, a fortiori; one ms earlier b is in. */
    assert_int_equal(get(f, "/api/v1/query?query=m%7Bjob%3D%22b%22%7D&time=1699999999.999", &b), 200);
    assert_non_null(strstr(b.data, "\"value\":[1699999999.999,\"7\"]"));
    /* RFC 3339 time, regex matcher */
    assert_int_equal(get(f, "/api/v1/query?query=%7B__name__%3D~%22m%22,job%3D~%22a%7Cd%22%7D&time=2023-11-14T22:13:20Z", &b), 200);
    assert_non_null(strstr(b.data, "\"job\":\"a\""));
    assert_non_null(strstr(b.data, "\"job\":\"d\""));
    assert_null(strstr(b.data, "\"job\":\"b\""));
    /* limit */
    assert_int_equal(get(f, "/api/v1/query?query=m&time=1700000000&limit=1", &b), 200);
    assert_null(strstr(b.data, "\"job\":\"d\""));
    strbuf_free(&b);
}

static void test_query_post_form(void **state) {
    fixture_t *f = *state;
    strbuf_t b = STRBUF_INIT;
    char url[256];
    snprintf(url, sizeof url, "%s/api/v1/query", f->base);
    assert_int_equal(request(url, "query=m%7Bjob%3D%22a%22%7D&time=1700000000", false, &b, NULL), 200);
    assert_non_null(strstr(b.data, "\"value\":[1700000000,\"2.5\"]"));
    strbuf_free(&b);
}

static void test_query_errors(void **state) {
    fixture_t *f = *state;
    strbuf_t b = STRBUF_INIT;
    assert_int_equal(get(f, "/api/v1/query?query=m%7Bjob%3D", &b), 400);
    assert_non_null(strstr(b.data, "\"status\":\"error\",\"errorType\":\"bad_data\",\"error\":\"invalid parameter \\\"query\\\": 1:"));
    assert_int_equal(get(f, "/api/v1/query", &b), 400);
    assert_non_null(strstr(b.data, "bad_data"));
    assert_int_equal(get(f, "/api/v1/query?query=m&time=yesterday", &b), 400);
    assert_non_null(strstr(b.data, "invalid parameter \\\"time\\\""));
    assert_int_equal(get(f, "/api/v1/query?query=42&time=10", &b), 200);
    assert_string_equal(b.data, "{\"status\":\"success\",\"data\":{\"resultType\":\"scalar\",\"result\":[10,\"42\"]}}");
    strbuf_free(&b);
}

static void test_lifecycle_disabled(void **state) {
    fixture_t *f = *state;
    strbuf_t b = STRBUF_INIT;
    char url[256];
    snprintf(url, sizeof url, "%s/-/reload", f->base);
    assert_int_equal(request(url, "", false, &b, NULL), 403);
    assert_int_equal(f->reloads, 0);
    snprintf(url, sizeof url, "%s/-/quit", f->base);
    strbuf_reset(&b);
    assert_int_equal(request(url, "", false, &b, NULL), 403);
    assert_int_equal(f->quits, 0);
    strbuf_free(&b);
}

static void test_status_and_metrics(void **state) {
    fixture_t *f = *state;
    strbuf_t b = STRBUF_INIT, h = STRBUF_INIT;
    assert_int_equal(get(f, "/api/v1/status/config", &b), 200);
    assert_string_equal(b.data, "{\"status\":\"success\",\"data\":{\"yaml\":\"global:\\n  external_labels:\\n    a: b\\n\"}}");
    assert_int_equal(get(f, "/api/v1/status/buildinfo", &b), 200);
    assert_non_null(strstr(b.data, "\"version\":\"3."));
    assert_int_equal(get(f, "/metrics", &b), 200);
    assert_non_null(strstr(b.data, "\nprometheus_tsdb_head_series 4\n"));
    assert_non_null(strstr(b.data, "# TYPE prometheus_tsdb_head_samples_appended_total counter\n"));
    assert_non_null(strstr(b.data, "process_resident_memory_bytes "));
    /* gzip: the client asks, the server compresses, curl decodes to the same text */
    char url[256];
    snprintf(url, sizeof url, "%s/metrics", f->base);
    strbuf_reset(&b);
    assert_int_equal(request(url, NULL, true, &b, &h), 200);
    assert_non_null(strcasestr(h.data, "Content-Encoding: gzip"));
    assert_non_null(strstr(b.data, "prometheus_tsdb_head_series 4\n"));
    strbuf_free(&b);
    strbuf_free(&h);
}

static void test_form_parsing(void **state) {
    http_param_t *ps = NULL;
    size_t n = 0;
    const char *form = "match%5B%5D=up%7Bjob%3D%22a%22%7D&match[]=b+c&empty=&flag";
    http_parse_form(form, strlen(form), &ps, &n);
    assert_int_equal(n, 4);
    assert_string_equal(ps[0].name, "match[]");
    assert_string_equal(ps[0].value, "up{job=\"a\"}");
    assert_string_equal(ps[1].value, "b c");
    assert_string_equal(ps[2].value, "");
    assert_string_equal(ps[3].name, "flag");
    for (size_t i = 0; i < n; i++) free(ps[i].name), free(ps[i].value);
    free(ps);
}

int main(void) {
    curl_global_init(CURL_GLOBAL_ALL);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ready_and_health), cmocka_unit_test(test_query_lookback_window),
        cmocka_unit_test(test_query_post_form),  cmocka_unit_test(test_query_errors),
        cmocka_unit_test(test_lifecycle_disabled), cmocka_unit_test(test_status_and_metrics),
        cmocka_unit_test(test_form_parsing),
    };
    int rc = cmocka_run_group_tests_name("test_web", tests, setup, teardown);
    curl_global_cleanup();
    return rc;
}
