/* test_api_meta.c — the metadata endpoints and the query endpoints' extras
 * over a real head behind the HTTP server: /api/v1/series, /api/v1/labels,
 * /api/v1/label/<name>/values, /api/v1/metadata (scraped from the server's
 * own /metrics), /api/v1/format_query, stats=all, limits, the query log,
 * prometheus_engine_* metrics and Prometheus's error JSON. Answers are
 * compared as whole JSON documents. */
#include "testutil.h"

#include <curl/curl.h>
#include <pthread.h>
#include <unistd.h>

#include "config/config.h"
#include "promql/engine.h"
#include "promql/parser.h"
#include "tsdb/db.h"
#include "tsdb/head.h"
#include "util/strbuf.h"
#include "web/web.h"

typedef struct {
    head_t *head;
    db_t *db;
    scrape_manager_t *scrape;
    web_t *web;
    char base[64];
    char logpath[64];
} fixture_t;

static const int64_t T = 1700000000000;

static size_t collect(char *p, size_t sz, size_t n, void *ud) {
    strbuf_append(ud, p, sz * n);
    return sz * n;
}

/* GET path (or POST the form body when post is not NULL); fills body. */
static long req(fixture_t *f, const char *path, const char *post, strbuf_t *body) {
    char url[1024];
    snprintf(url, sizeof url, "%s%s", f->base, path);
    strbuf_reset(body);
    CURL *c = curl_easy_init();
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, body);
    if (post) curl_easy_setopt(c, CURLOPT_POSTFIELDS, post);
    long code = 0;
    if (curl_easy_perform(c) == CURLE_OK) curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
    curl_easy_cleanup(c);
    strbuf_putc(body, '\0');
    body->len--;
    return code;
}

static void expect(fixture_t *f, const char *path, const char *post, long status, const char *want) {
    strbuf_t b = STRBUF_INIT;
    long code = req(f, path, post, &b);
    if (code != status || strcmp(b.data ? b.data : "", want) != 0)
        fprintf(stderr, "%s%s%s\n got %ld %s\nwant %ld %s\n", path, post ? " POST " : "", post ? post : "", code,
                b.data, status, want);
    assert_int_equal(code, status);
    assert_string_equal(b.data ? b.data : "", want);
    strbuf_free(&b);
}

static void add(head_t *h, const char *name, const char *job, const char *inst, int64_t t, double v) {
    label_t ls[3] = {{"__name__", name}, {"instance", inst}, {"job", job}};
    assert_int_equal(head_append(h, ls, 3, t, v, NULL, NULL), HEAD_OK);
}

static int setup(void **state) {
    fixture_t *f = calloc(1, sizeof *f);
    f->head = head_new();
    f->db = db_wrap_head(f->head);
    appendable_t storage;
    db_appendable(f->db, &storage);
    f->scrape = scrape_manager_new(&storage);
    /* up: two targets; http_requests_total: a counter sampled every minute;
     * old_metric: only long before T */
    for (int i = 0; i <= 10; i++) {
        add(f->head, "up", "node", "a:9100", T - 600000 + i * 60000, 1);
        add(f->head, "up", "prom", "b:9090", T - 600000 + i * 60000, 1);
        add(f->head, "http_requests_total", "prom", "b:9090", T - 600000 + i * 60000, 10.0 * i);
    }
    add(f->head, "old_metric", "node", "a:9100", T - 86400000, 5);
    snprintf(f->logpath, sizeof f->logpath, "/tmp/promlab-qlog-XXXXXX");
    int fd = mkstemp(f->logpath);
    assert_true(fd >= 0);
    close(fd);
    web_opts_t o = {.listen_address = "127.0.0.1:0", .head = f->head, .scrape = f->scrape, .lookback_delta_ms = 300000,
                    .query_max_samples = 50, .query_max_concurrency = 3, .query_log_file = f->logpath};
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
    unlink(f->logpath);
    free(f);
    return 0;
}

static void test_series(void **state) {
    fixture_t *f = *state;
    /* the union of the match[] sets, sorted by label set, each once */
    expect(f, "/api/v1/series?match[]=up&match[]=%7Bjob%3D%22prom%22%7D&start=1699999000&end=1700000000", NULL, 200,
           "{\"status\":\"success\",\"data\":["
           "{\"__name__\":\"http_requests_total\",\"instance\":\"b:9090\",\"job\":\"prom\"},"
           "{\"__name__\":\"up\",\"instance\":\"a:9100\",\"job\":\"node\"},"
           "{\"__name__\":\"up\",\"instance\":\"b:9090\",\"job\":\"prom\"}]}");
    /* form-encoded POST, RFC 3339 times; a series with no sample in range is left out */
    expect(f, "/api/v1/series",
           "match%5B%5D=%7Bjob%3D%22node%22%7D&start=2023-11-14T22:00:00Z&end=2023-11-14T22:13:20.000Z", 200,
           "{\"status\":\"success\",\"data\":[{\"__name__\":\"up\",\"instance\":\"a:9100\",\"job\":\"node\"}]}");
    /* without start/end: all time */
    expect(f, "/api/v1/series?match[]=old_metric", NULL, 200,
           "{\"status\":\"success\",\"data\":[{\"__name__\":\"old_metric\",\"instance\":\"a:9100\",\"job\":\"node\"}]}");
    /* limit: truncated, with Prometheus 3's warning */
    expect(f, "/api/v1/series?match[]=%7B__name__%3D~%22.%2B%22%7D&limit=1", NULL, 200,
           "{\"status\":\"success\",\"data\":[{\"__name__\":\"http_requests_total\",\"instance\":\"b:9090\",\"job\":"
           "\"prom\"}],\"warnings\":[\"results truncated due to limit\"]}");
    expect(f, "/api/v1/series", NULL, 400,
           "{\"status\":\"error\",\"errorType\":\"bad_data\",\"error\":\"no match[] parameter provided\"}");
    expect(f, "/api/v1/series?match[]=up%7B", NULL, 400,
           "{\"status\":\"error\",\"errorType\":\"bad_data\",\"error\":\"invalid parameter \\\"match[]\\\": 1:4: parse "
           "error: unexpected end of input inside braces\"}");
    expect(f, "/api/v1/series?match[]=up&start=yesterday", NULL, 400,
           "{\"status\":\"error\",\"errorType\":\"bad_data\",\"error\":\"invalid parameter \\\"start\\\": cannot parse "
           "\\\"yesterday\\\" to a valid timestamp\"}");
}

static void test_labels_and_values(void **state) {
    fixture_t *f = *state;
    expect(f, "/api/v1/labels", NULL, 200, "{\"status\":\"success\",\"data\":[\"__name__\",\"instance\",\"job\"]}");
    expect(f, "/api/v1/labels", "limit=2", 200,
           "{\"status\":\"success\",\"data\":[\"__name__\",\"instance\"],\"warnings\":[\"results truncated due to "
           "limit\"]}");
    expect(f, "/api/v1/label/__name__/values", NULL, 200,
           "{\"status\":\"success\",\"data\":[\"http_requests_total\",\"old_metric\",\"up\"]}");
    expect(f, "/api/v1/label/job/values?match[]=http_requests_total", NULL, 200,
           "{\"status\":\"success\",\"data\":[\"prom\"]}");
    expect(f, "/api/v1/label/instance/values?match[]=up&match[]=old_metric&limit=1", NULL, 200,
           "{\"status\":\"success\",\"data\":[\"a:9100\"],\"warnings\":[\"results truncated due to limit\"]}");
    /* a name no series has: an empty list, not null */
    expect(f, "/api/v1/label/nope/values", NULL, 200, "{\"status\":\"success\",\"data\":[]}");
    expect(f, "/api/v1/label/job/values?limit=-1", NULL, 400,
           "{\"status\":\"error\",\"errorType\":\"bad_data\",\"error\":\"invalid parameter \\\"limit\\\": limit must be "
           "a non-negative number\"}");
    expect(f, "/api/v1/label/%FF/values", NULL, 400,
           "{\"status\":\"error\",\"errorType\":\"bad_data\",\"error\":\"invalid label name: \\\"\xff\\\"\"}");
    /* with match[] and a time range: labels of the series sampled in it */
    expect(f, "/api/v1/labels?match[]=%7Bjob%3D%22node%22%7D&start=1699900000&end=1699999999", NULL, 200,
           "{\"status\":\"success\",\"data\":[\"__name__\",\"instance\",\"job\"]}");
}

static void test_format_query(void **state) {
    fixture_t *f = *state;
    expect(f, "/api/v1/format_query?query=sum(rate(x%5B5m%5D))by(job)", NULL, 200,
           "{\"status\":\"success\",\"data\":\"sum by (job) (rate(x[5m]))\"}");
    /* over 100 characters: split node by node as Prometheus's prettifier */
    const char *longq =
        "query=sum+by+(job)+(rate(http_requests_total%7Bjob%3D%22apiserver%22,code%3D~%225..%22%7D%5B5m%5D))+/+"
        "sum+by+(job)+(rate(http_requests_total%7Bjob%3D%22apiserver%22%7D%5B5m%5D))";
    expect(f, "/api/v1/format_query", longq, 200,
           "{\"status\":\"success\",\"data\":\""
           "  sum by (job) (rate(http_requests_total{code=~\\\"5..\\\",job=\\\"apiserver\\\"}[5m]))\\n"
           "/\\n"
           "  sum by (job) (rate(http_requests_total{job=\\\"apiserver\\\"}[5m]))\"}");
    expect(f, "/api/v1/format_query?query=1%2B", NULL, 400,
           "{\"status\":\"error\",\"errorType\":\"bad_data\",\"error\":\"invalid parameter \\\"query\\\": 1:3: parse "
           "error: unexpected end of input\"}");
}

/* The prettifier on its own: nesting levels, parameters, calls. */
static void test_pretty_printer(void **state) {
    (void)state;
    const char *q = "topk(5, sum by (instance, job) (rate(node_network_receive_bytes_total{device!~\"lo|veth.*\"}[5m])) "
                    "+ on (instance) group_left (nodename) node_uname_info)";
    promql_expr_t *e;
    pl_err_t err;
    assert_int_equal(promql_parse(q, &e, &err), 0);
    strbuf_t sb = STRBUF_INIT;
    promql_expr_pretty(&sb, e);
    assert_string_equal(sb.data, "topk(\n"
                                 "  5,\n"
                                 "    sum by (instance, job) (rate(node_network_receive_bytes_total{device!~\"lo|veth.*\"}[5m]))\n"
                                 "  + on (instance) group_left (nodename)\n"
                                 "    node_uname_info\n"
                                 ")");
    strbuf_free(&sb);
    promql_expr_free(e);
}

static void test_stats(void **state) {
    fixture_t *f = *state;
    strbuf_t b = STRBUF_INIT;
    /* rate over 5m at 1m samples: 5 samples in (T-5m, T] for the one series */
    assert_int_equal(req(f, "/api/v1/query?query=rate(http_requests_total%5B5m%5D)&time=1700000000&stats=all", NULL, &b),
                     200);
    assert_non_null(strstr(b.data, "\"stats\":{\"timings\":{\"evalTotalTime\":"));
    assert_non_null(strstr(b.data, "\"resultSortTime\":"));
    assert_non_null(strstr(b.data, "\"queryPreparationTime\":"));
    assert_non_null(strstr(b.data, "\"innerEvalTime\":"));
    assert_non_null(strstr(b.data, "\"execQueueTime\":"));
    assert_non_null(strstr(b.data, "\"execTotalTime\":"));
    assert_non_null(strstr(b.data, "\"samples\":{\"totalQueryableSamples\":5,\"peakSamples\":"));
    /* stats sit inside data, after the result */
    assert_true(strstr(b.data, "\"result\":") < strstr(b.data, "\"stats\":"));
    /* range query: each step counts its own window (3 steps x 5 samples) */
    assert_int_equal(req(f,
                         "/api/v1/query_range?query=rate(http_requests_total%5B5m%5D)&start=1699999880&end=1700000000"
                         "&step=60&stats=all",
                         NULL, &b),
                     200);
    assert_non_null(strstr(b.data, "\"totalQueryableSamples\":15,"));
    /* without stats: none */
    assert_int_equal(req(f, "/api/v1/query?query=up&time=1700000000", NULL, &b), 200);
    assert_null(strstr(b.data, "\"stats\""));
    strbuf_free(&b);
}

static void test_limits_and_errors(void **state) {
    fixture_t *f = *state;
    /* --query.max-samples is 50 here: 11 steps x 3 series of `up`... */
    expect(f, "/api/v1/query_range?query=up%20or%20http_requests_total&start=1699999400&end=1700000000&step=30", NULL,
           422,
           "{\"status\":\"error\",\"errorType\":\"execution\",\"error\":\"query processing would load too many samples "
           "into memory in query execution\"}");
    /* ... and the server carries on */
    expect(f, "/api/v1/query?query=up%7Bjob%3D%22node%22%7D&time=1700000000", NULL, 200,
           "{\"status\":\"success\",\"data\":{\"resultType\":\"vector\",\"result\":[{\"metric\":{\"__name__\":\"up\","
           "\"instance\":\"a:9100\",\"job\":\"node\"},\"value\":[1700000000,\"1\"]}]}}");
    /* limit on an instant query: Prometheus 3's warning */
    expect(f, "/api/v1/query", "query=up&time=1700000000&limit=1", 200,
           "{\"status\":\"success\",\"data\":{\"resultType\":\"vector\",\"result\":[{\"metric\":{\"__name__\":\"up\","
           "\"instance\":\"a:9100\",\"job\":\"node\"},\"value\":[1700000000,\"1\"]}]},\"warnings\":[\"results "
           "truncated due to limit\"]}");
    expect(f, "/api/v1/query?query=up&time=soon", NULL, 400,
           "{\"status\":\"error\",\"errorType\":\"bad_data\",\"error\":\"invalid parameter \\\"time\\\": cannot parse "
           "\\\"soon\\\" to a valid timestamp\"}");
    expect(f, "/api/v1/query?query=up&timeout=never", NULL, 400,
           "{\"status\":\"error\",\"errorType\":\"bad_data\",\"error\":\"invalid parameter \\\"timeout\\\": cannot "
           "parse \\\"never\\\" to a valid duration\"}");
    expect(f, "/api/v1/query?query=sum(", NULL, 400,
           "{\"status\":\"error\",\"errorType\":\"bad_data\",\"error\":\"invalid parameter \\\"query\\\": 1:5: parse "
           "error: unexpected end of input\"}");
    expect(f, "/api/v1/metadata?limit=x", NULL, 400,
           "{\"status\":\"error\",\"errorType\":\"bad_data\",\"error\":\"limit must be a number\"}");
    expect(f, "/api/v1/labels", NULL, 200, "{\"status\":\"success\",\"data\":[\"__name__\",\"instance\",\"job\"]}");
}

/* The query log: one JSON line per query with params, stats, ts and the
 * HTTP request; reopened (here: moved to a new file) by web_set_query_log. */
static void test_query_log(void **state) {
    fixture_t *f = *state;
    strbuf_t b = STRBUF_INIT;
    assert_int_equal(req(f, "/api/v1/query", "query=vector(42)&time=1700000000", &b), 200);
    FILE *fp = fopen(f->logpath, "r");
    assert_non_null(fp);
    char line[4096], last[4096] = "";
    while (fgets(line, sizeof line, fp))
        snprintf(last, sizeof last, "%s", line);
    fclose(fp);
    assert_non_null(strstr(last, "{\"httpRequest\":{\"clientIP\":\"127.0.0.1\",\"method\":\"POST\",\"path\":"
                                 "\"/api/v1/query\"},\"params\":{\"end\":\"2023-11-14T22:13:20.000Z\",\"query\":"
                                 "\"vector(42)\",\"start\":\"2023-11-14T22:13:20.000Z\",\"step\":0},\"stats\":{"
                                 "\"timings\":{"));
    assert_non_null(strstr(last, "\"ts\":\""));
    /* a failed query logs its error first */
    assert_int_equal(req(f, "/api/v1/query_range?query=up%20or%20http_requests_total&start=1699999400&end=1700000000"
                            "&step=30",
                         NULL, &b),
                     422);
    fp = fopen(f->logpath, "r");
    while (fgets(line, sizeof line, fp))
        snprintf(last, sizeof last, "%s", line);
    fclose(fp);
    static const char err_start[] = "{\"error\":\"query processing would load too many samples";
    assert_true(strncmp(last, err_start, strlen(err_start)) == 0);
    assert_non_null(strstr(last, "\"step\":30}"));
    /* switched off: the gauge says so and nothing more is written */
    pl_err_t err = {{0}};
    assert_int_equal(web_set_query_log(f->web, NULL, &err), 0);
    long before = 0;
    fp = fopen(f->logpath, "r");
    fseek(fp, 0, SEEK_END);
    before = ftell(fp);
    fclose(fp);
    assert_int_equal(req(f, "/api/v1/query?query=1", NULL, &b), 200);
    fp = fopen(f->logpath, "r");
    fseek(fp, 0, SEEK_END);
    assert_int_equal(ftell(fp), before);
    fclose(fp);
    assert_int_equal(req(f, "/metrics", NULL, &b), 200);
    assert_non_null(strstr(b.data, "\nprometheus_engine_query_log_enabled 0\n"));
    /* a path that cannot be opened is refused */
    assert_int_equal(web_set_query_log(f->web, "/nonexistent-dir/q.log", &err), -1);
    assert_non_null(strstr(err.msg, "/nonexistent-dir/q.log"));
    assert_int_equal(web_set_query_log(f->web, f->logpath, &err), 0);
    assert_int_equal(req(f, "/metrics", NULL, &b), 200);
    assert_non_null(strstr(b.data, "\nprometheus_engine_query_log_enabled 1\n"));
    strbuf_free(&b);
}

static void test_engine_metrics(void **state) {
    fixture_t *f = *state;
    strbuf_t b = STRBUF_INIT;
    assert_int_equal(req(f, "/api/v1/query?query=up&time=1700000000", NULL, &b), 200);
    assert_int_equal(req(f, "/metrics", NULL, &b), 200);
    assert_non_null(strstr(b.data, "# TYPE prometheus_engine_query_duration_seconds summary\n"));
    static const char *slices[] = {"inner_eval", "prepare_time", "queue_time", "result_sort"};
    for (size_t i = 0; i < 4; i++) {
        char want[160];
        for (int k = 0; k < 3; k++) {
            snprintf(want, sizeof want, "prometheus_engine_query_duration_seconds{slice=\"%s\",quantile=\"%s\"} ",
                     slices[i], k == 0 ? "0.5" : k == 1 ? "0.9" : "0.99");
            assert_non_null(strstr(b.data, want));
        }
        snprintf(want, sizeof want, "prometheus_engine_query_duration_seconds_count{slice=\"%s\"} ", slices[i]);
        assert_non_null(strstr(b.data, want));
    }
    assert_non_null(strstr(b.data, "\nprometheus_engine_queries 0\n"));
    assert_non_null(strstr(b.data, "\nprometheus_engine_queries_concurrent_max 3\n"));
    assert_non_null(strstr(b.data, "\nprometheus_engine_query_samples_total "));
    assert_null(strstr(b.data, "\nprometheus_engine_query_samples_total 0\n"));
    assert_non_null(strstr(b.data, "\nprometheus_engine_query_log_failures_total 0\n"));
    strbuf_free(&b);
}

/* /api/v1/metadata from a real scrape of the server's own /metrics. */
static void test_metadata_endpoint(void **state) {
    fixture_t *f = *state;
    char yaml[512];
    snprintf(yaml, sizeof yaml,
             "global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: self\n    static_configs:\n"
             "      - targets: ['127.0.0.1:%u']\n",
             web_port(f->web));
    config_t *c = NULL;
    pl_err_t err = {{0}};
    assert_int_equal(config_load_string(yaml, strlen(yaml), "t.yml", &c, &err), 0);
    assert_int_equal(scrape_manager_apply_config(f->scrape, c, &err), 0);
    config_free(c);
    assert_int_equal(scrape_manager_start(f->scrape, &err), 0);
    strbuf_t b = STRBUF_INIT;
    const char *want = "{\"status\":\"success\",\"data\":{\"prometheus_ready\":[{\"type\":\"gauge\",\"help\":\"Whether "
                       "Prometheus startup was fully completed and the server is ready for normal operation.\","
                       "\"unit\":\"\"}]}}";
    /* wait for the first scrape (up to 30 s; it comes within ~1 s) */
    for (int i = 0; i < 300; i++) {
        req(f, "/api/v1/metadata?metric=prometheus_ready", NULL, &b);
        if (strcmp(b.data, want) == 0) break;
        usleep(100000);
    }
    assert_string_equal(b.data, want);
    /* limit: that many metrics, in name order */
    assert_int_equal(req(f, "/api/v1/metadata?limit=1", NULL, &b), 200);
    static const char ok_start[] = "{\"status\":\"success\",\"data\":{\"";
    assert_true(strncmp(b.data, ok_start, strlen(ok_start)) == 0);
    assert_null(strstr(b.data, "]},"));
    assert_int_equal(req(f, "/api/v1/metadata?limit_per_metric=0&metric=prometheus_ready", NULL, &b), 200);
    assert_string_equal(b.data, "{\"status\":\"success\",\"data\":{\"prometheus_ready\":[]}}");
    scrape_manager_stop(f->scrape);
    strbuf_free(&b);
}

/* The concurrency gate queues: with max_concurrency 1 two threads' queries
 * both succeed. */
typedef struct {
    promql_engine_t *e;
    const queryable_t *q;
    int ok;
} gate_arg_t;
static void *gate_worker(void *p) {
    gate_arg_t *a = p;
    for (int i = 0; i < 50; i++) {
        promql_result_t r;
        promql_error_t e;
        if (promql_exec_instant(a->e, a->q, "sum(rate(http_requests_total[5m]))", T, &r, &e) == 0) a->ok++;
        promql_result_free(&r);
    }
    return NULL;
}

static void test_concurrency_gate(void **state) {
    fixture_t *f = *state;
    promql_engine_opts_t o = {.max_concurrency = 1};
    promql_engine_t *e = promql_engine_new(&o);
    queryable_t q;
    head_queryable(f->head, &q);
    gate_arg_t a[3] = {{e, &q, 0}, {e, &q, 0}, {e, &q, 0}};
    pthread_t th[3];
    for (int i = 0; i < 3; i++)
        pthread_create(&th[i], NULL, gate_worker, &a[i]);
    for (int i = 0; i < 3; i++)
        pthread_join(th[i], NULL);
    for (int i = 0; i < 3; i++)
        assert_int_equal(a[i].ok, 50);
    strbuf_t sb = STRBUF_INIT;
    promql_engine_write_metrics(e, &sb);
    assert_non_null(strstr(sb.data, "\nprometheus_engine_queries 0\n"));
    assert_non_null(strstr(sb.data, "prometheus_engine_query_duration_seconds_count{slice=\"queue_time\"} 150\n"));
    strbuf_free(&sb);
    promql_engine_free(e);
}

int main(void) {
    curl_global_init(CURL_GLOBAL_ALL);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_series),          cmocka_unit_test(test_labels_and_values),
        cmocka_unit_test(test_format_query),    cmocka_unit_test(test_pretty_printer),
        cmocka_unit_test(test_stats),           cmocka_unit_test(test_limits_and_errors),
        cmocka_unit_test(test_query_log),       cmocka_unit_test(test_engine_metrics),
        cmocka_unit_test(test_metadata_endpoint),
        cmocka_unit_test(test_concurrency_gate),
    };
    int rc = cmocka_run_group_tests_name("test_api_meta", tests, setup, teardown);
    curl_global_cleanup();
    return rc;
}
