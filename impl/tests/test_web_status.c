/* test_web_status.c — the cardinality report (/api/v1/status/tsdb),
 * /federate, /api/v1/status/runtimeinfo, /api/v1/targets and
 * /debug/pprof/heap over a real head, both through their functions and over
 * HTTP. */
#include "testutil.h"

#include <curl/curl.h>
#include <jansson.h>
#include <zlib.h>

#include "tsdb/db.h"
#include "tsdb/head.h"
#include "util/strbuf.h"
#include "util/timeutil.h"
#include "web/internal.h"
#include "web/web.h"

static const int64_t T = 1700000000000;

static void add(head_t *h, const char *name, const char *k1, const char *v1, const char *k2, const char *v2, int64_t t,
                double v) {
    label_t ls[3];
    size_t n = 0;
    ls[n++] = (label_t){"__name__", name};
    if (k1) ls[n++] = (label_t){k1, v1};
    if (k2) ls[n++] = (label_t){k2, v2};
    labels_sort(ls, n);
    assert_int_equal(head_append(h, ls, n, t, v, NULL, NULL), HEAD_OK);
}

/* A head with a known shape: 6 series of http_requests_total over 3 users
 * and 2 endpoints, 2 of up, 1 of build_info. */
static head_t *known_head(void) {
    head_t *h = head_new();
    const char *users[] = {"u1", "u2", "u3"};
    const char *eps[] = {"/a", "/bb"};
    for (int u = 0; u < 3; u++)
        for (int e = 0; e < 2; e++)
            add(h, "http_requests_total", "user_id", users[u], "endpoint", eps[e], T - 1000, u + e);
    add(h, "up", "job", "x", NULL, NULL, T - 2000, 1);
    add(h, "up", "job", "yy", NULL, NULL, T - 2000, 0);
    add(h, "build_info", NULL, NULL, NULL, NULL, T - 3000, 1);
    return h;
}

static void test_tsdb_status_json(void **state) {
    (void)state;
    head_t *h = known_head();
    strbuf_t sb = STRBUF_INIT;
    assert_int_equal(web_tsdb_status_json(h, 3, &sb), 0);
    /* Pairs: __name__ x3, user_id x3, endpoint x2, job x2 = 10.
     * Memory by label name = sum over values of len(value) * series:
     * __name__: 19*6 + 2*2 + 10 = 128; endpoint: 2*3 + 3*3 = 15; user_id: 2*6 = 12; job: 1 + 2 = 3.
     * Ties are broken by name. */
    assert_string_equal(
        sb.data,
        "{\"headStats\":{\"numSeries\":9,\"numLabelPairs\":10,\"chunkCount\":9,\"minTime\":1699999997000,"
        "\"maxTime\":1699999999000},"
        "\"seriesCountByMetricName\":[{\"name\":\"http_requests_total\",\"value\":6},{\"name\":\"up\",\"value\":2},"
        "{\"name\":\"build_info\",\"value\":1}],"
        "\"labelValueCountByLabelName\":[{\"name\":\"__name__\",\"value\":3},{\"name\":\"user_id\",\"value\":3},"
        "{\"name\":\"endpoint\",\"value\":2}],"
        "\"memoryInBytesByLabelName\":[{\"name\":\"__name__\",\"value\":128},{\"name\":\"endpoint\",\"value\":15},"
        "{\"name\":\"user_id\",\"value\":12}],"
        "\"seriesCountByLabelValuePair\":[{\"name\":\"__name__=http_requests_total\",\"value\":6},"
        "{\"name\":\"endpoint=/a\",\"value\":3},{\"name\":\"endpoint=/bb\",\"value\":3}]}");
    strbuf_free(&sb);

    /* An empty head: Prometheus's empty-head times, empty lists. */
    head_t *e = head_new();
    assert_int_equal(web_tsdb_status_json(e, 10, &sb), 0);
    assert_string_equal(sb.data, "{\"headStats\":{\"numSeries\":0,\"numLabelPairs\":0,\"chunkCount\":0,"
                                 "\"minTime\":9223372036854775807,\"maxTime\":-9223372036854775808},"
                                 "\"seriesCountByMetricName\":[],\"labelValueCountByLabelName\":[],"
                                 "\"memoryInBytesByLabelName\":[],\"seriesCountByLabelValuePair\":[]}");
    strbuf_free(&sb);
    head_free(e);
    head_free(h);
}

/* ---- federate ---------------------------------------------------------------------------- */

static void test_federate_write(void **state) {
    (void)state;
    head_t *h = head_new();
    add(h, "up", "job", "x", "instance", "a", T - 60000, 1);
    add(h, "up", "job", "x", "instance", "a", T - 30000, 0);   /* the newest wins */
    add(h, "up", "job", "x", "instance", "b", T - 400000, 1);  /* outside the 5m lookback */
    add(h, "up", "job", "x", "instance", "c", T - 20000, 1);
    add(h, "up", "job", "x", "instance", "c", T - 10000, pl_stale_nan()); /* stale: left out */
    add(h, "up", "job", "x", "instance", "d", T + 10000, 1);   /* after now */
    add(h, "aaa_total", "job", "x", "lab", "own", T - 5000, 2.5); /* has the external label already */
    add(h, "zzz", "job", "other", NULL, NULL, T - 5000, 3);
    queryable_t q;
    head_queryable(h, &q);
    label_t ext[] = {{"dc", "eu"}, {"lab", "ext"}};
    const char *sel[] = {"{job=\"x\"}", "up{instance=\"a\"}"}; /* the second selects a series again */
    strbuf_t sb = STRBUF_INIT;
    pl_err_t err;
    int status = 0;
    assert_int_equal(web_federate_write(&q, sel, 2, ext, 2, T, 300000, false, &sb, &status, &err), 0);
    assert_int_equal(status, 200);
    assert_string_equal(sb.data, "# TYPE aaa_total untyped\n"
                                 "aaa_total{job=\"x\",lab=\"own\",dc=\"eu\"} 2.5 1699999995000\n"
                                 "# TYPE up untyped\n"
                                 "up{instance=\"a\",job=\"x\",dc=\"eu\",lab=\"ext\"} 0 1699999970000\n");
    strbuf_reset(&sb);

    /* OpenMetrics: unknown type, seconds, # EOF. */
    assert_int_equal(web_federate_write(&q, sel + 1, 1, NULL, 0, T, 300000, true, &sb, &status, &err), 0);
    assert_string_equal(sb.data, "# TYPE up unknown\nup{instance=\"a\",job=\"x\"} 0 1699999970.000\n# EOF\n");
    strbuf_reset(&sb);

    /* A bad selector is the client's error. */
    const char *bad[] = {"up{"};
    assert_int_equal(web_federate_write(&q, bad, 1, NULL, 0, T, 300000, false, &sb, &status, &err), -1);
    assert_int_equal(status, 400);
    const char *empty[] = {"{job=~\".*\"}"};
    assert_int_equal(web_federate_write(&q, empty, 1, NULL, 0, T, 300000, false, &sb, &status, &err), -1);
    assert_int_equal(status, 400);
    assert_non_null(strstr(err.msg, "non-empty matcher"));
    strbuf_free(&sb);
    head_free(h);
}

/* ---- over HTTP --------------------------------------------------------------------------- */

static size_t collect(char *p, size_t sz, size_t n, void *ud) {
    strbuf_append(ud, p, sz * n);
    return sz * n;
}

static long get(const char *url, strbuf_t *body, const char *header) {
    CURL *c = curl_easy_init();
    struct curl_slist *hs = header ? curl_slist_append(NULL, header) : NULL;
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, body);
    if (hs) curl_easy_setopt(c, CURLOPT_HTTPHEADER, hs);
    long code = 0;
    if (curl_easy_perform(c) == CURLE_OK) curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
    curl_slist_free_all(hs);
    curl_easy_cleanup(c);
    return code;
}

static int ext_labels(void *ctx, label_t **out, size_t *n) {
    (void)ctx;
    *out = calloc(1, sizeof **out);
    (*out)[0].name = strdup("lab");
    (*out)[0].value = strdup("x");
    *n = 1;
    return 0;
}

static void status_cb(void *ctx, bool *ok, int64_t *last, uint64_t *corruptions) {
    (void)ctx;
    *ok = false;
    *last = 1700000000000;
    *corruptions = 2;
}

typedef struct fx {
    head_t *head;
    db_t *db;
    scrape_manager_t *scrape;
    web_t *web;
    char base[64];
} fx_t;

static void fx_open(fx_t *f) {
    f->head = head_new();
    int64_t now = pl_now_ms();
    add(f->head, "up", "job", "x", NULL, NULL, now - 1000, 1);
    add(f->head, "up", "job", "y", NULL, NULL, now - 1000, 1);
    f->db = db_wrap_head(f->head);
    appendable_t app;
    db_appendable(f->db, &app);
    f->scrape = scrape_manager_new(&app);
    const char *yaml = "scrape_configs:\n"
                       "  - job_name: j\n"
                       "    static_configs: [{targets: ['127.0.0.1:1', '127.0.0.1:2']}]\n"
                       "    relabel_configs: [{source_labels: [__address__], regex: '.*:2', action: drop}]\n";
    config_t *c = NULL;
    pl_err_t err;
    assert_int_equal(config_load_string(yaml, strlen(yaml), "t.yml", &c, &err), 0);
    assert_int_equal(scrape_manager_apply_config(f->scrape, c, &err), 0);
    config_free(c);
    static flag_def_t flags[] = {
        {"storage.tsdb.retention.time", FLAG_DURATION, "15d", "", false, .value = "15d"},
        {"storage.tsdb.retention.size", FLAG_STRING, "0B", "", false, .value = "5GB"},
    };
    web_opts_t o = {.listen_address = "127.0.0.1:0",
                    .head = f->head,
                    .scrape = f->scrape,
                    .lookback_delta_ms = 300000,
                    .flags = flags,
                    .nflags = 2,
                    .external_labels = ext_labels,
                    .reload_status = status_cb};
    f->web = web_start(&o, &err);
    assert_non_null(f->web);
    snprintf(f->base, sizeof f->base, "http://127.0.0.1:%u", web_port(f->web));
}

static void fx_close(fx_t *f) {
    web_stop(f->web);
    scrape_manager_free(f->scrape);
    db_close(f->db, NULL);
    head_free(f->head);
}

static json_t *get_json(fx_t *f, const char *path, long *code) {
    char url[512];
    snprintf(url, sizeof url, "%s%s", f->base, path);
    strbuf_t b = STRBUF_INIT;
    *code = get(url, &b, NULL);
    json_t *j = json_loadb(b.data ? b.data : "", b.len, 0, NULL);
    strbuf_free(&b);
    return j;
}

static void test_http_endpoints(void **state) {
    (void)state;
    fx_t f;
    fx_open(&f);
    long code;
    json_t *j = get_json(&f, "/api/v1/status/tsdb?limit=1", &code);
    assert_int_equal(code, 200);
    assert_non_null(j);
    json_t *d = json_object_get(j, "data");
    assert_int_equal(json_integer_value(json_object_get(json_object_get(d, "headStats"), "numSeries")), 2);
    assert_int_equal(json_array_size(json_object_get(d, "seriesCountByLabelValuePair")), 1);
    /* Exactly Prometheus's keys. */
    const char *keys[] = {"headStats", "seriesCountByMetricName", "labelValueCountByLabelName",
                          "memoryInBytesByLabelName", "seriesCountByLabelValuePair"};
    assert_int_equal(json_object_size(d), 5);
    for (size_t i = 0; i < 5; i++)
        assert_non_null(json_object_get(d, keys[i]));
    json_decref(j);
    j = get_json(&f, "/api/v1/status/tsdb?limit=0", &code);
    assert_int_equal(code, 400);
    assert_string_equal(json_string_value(json_object_get(j, "errorType")), "bad_data");
    json_decref(j);

    j = get_json(&f, "/api/v1/status/runtimeinfo", &code);
    assert_int_equal(code, 200);
    d = json_object_get(j, "data");
    assert_true(json_is_false(json_object_get(d, "reloadConfigSuccess")));
    assert_string_equal(json_string_value(json_object_get(d, "lastConfigTime")), "2023-11-14T22:13:20Z");
    assert_int_equal(json_integer_value(json_object_get(d, "corruptionCount")), 2);
    assert_string_equal(json_string_value(json_object_get(d, "storageRetention")), "15d or 5GB");
    assert_true(json_integer_value(json_object_get(d, "goroutineCount")) >= 1);
    assert_non_null(json_object_get(d, "CWD"));
    assert_non_null(json_object_get(d, "startTime"));
    json_decref(j);

    /* Targets: the relabel-dropped one is listed as dropped, with a count. */
    j = get_json(&f, "/api/v1/targets", &code);
    d = json_object_get(j, "data");
    assert_int_equal(json_array_size(json_object_get(d, "activeTargets")), 1);
    json_t *dt = json_object_get(d, "droppedTargets");
    assert_int_equal(json_array_size(dt), 1);
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(json_array_get(dt, 0), "discoveredLabels"), "__address__")),
        "127.0.0.1:2");
    assert_int_equal(json_integer_value(json_object_get(json_object_get(d, "droppedTargetCounts"), "j")), 1);
    json_decref(j);
    j = get_json(&f, "/api/v1/targets?state=dropped", &code);
    d = json_object_get(j, "data");
    assert_int_equal(json_array_size(json_object_get(d, "activeTargets")), 0);
    assert_int_equal(json_array_size(json_object_get(d, "droppedTargets")), 1);
    json_decref(j);
    j = get_json(&f, "/api/v1/targets?state=active", &code);
    d = json_object_get(j, "data");
    assert_int_equal(json_array_size(json_object_get(d, "droppedTargets")), 0);
    json_decref(j);
    j = get_json(&f, "/api/v1/targets/metadata?match_target={job=", &code);
    assert_int_equal(code, 400);
    json_decref(j);
    j = get_json(&f, "/api/v1/targets/metadata", &code);
    assert_int_equal(code, 200);
    assert_int_equal(json_array_size(json_object_get(j, "data")), 0); /* nothing scraped */
    json_decref(j);

    /* /federate over HTTP: nothing without match[] (an empty 200, as
     * Prometheus), external labels, text format. */
    char url[512];
    strbuf_t b = STRBUF_INIT;
    snprintf(url, sizeof url, "%s/federate", f.base);
    assert_int_equal(get(url, &b, NULL), 200);
    assert_int_equal(b.len, 0);
    strbuf_reset(&b);
    snprintf(url, sizeof url, "%s/federate?match[]=%%7Bjob%%3D%%22x%%22%%7D", f.base);
    assert_int_equal(get(url, &b, NULL), 200);
    assert_non_null(strstr(b.data, "# TYPE up untyped\nup{job=\"x\",lab=\"x\"} 1 "));
    assert_null(strstr(b.data, "job=\"y\""));
    strbuf_reset(&b);
    assert_int_equal(get(url, &b, "Accept: application/openmetrics-text;version=1.0.0"), 200);
    assert_non_null(strstr(b.data, "# EOF\n"));
    strbuf_free(&b);
    fx_close(&f);
}

/* ---- pprof ---------------------------------------------------------------------------------- */

typedef struct pb_reader {
    const uint8_t *p, *end;
} pb_reader_t;

static bool pb_varint(pb_reader_t *r, uint64_t *v) {
    *v = 0;
    for (int shift = 0; r->p < r->end && shift < 64; shift += 7) {
        uint8_t b = *r->p++;
        *v |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) return true;
    }
    return false;
}

static void test_heap_profile(void **state) {
    (void)state;
    web_mem_component_t comps[] = {
        {"promlab.head.series", 1000, 10}, {"promlab.head.chunks", 5000, 3}, {"promlab.unaccounted", 24, 0}};
    strbuf_t gz = STRBUF_INIT;
    assert_int_equal(web_heap_profile(comps, 3, T, &gz), 0);
    /* gzip'd (1f 8b), then a valid protobuf. */
    assert_true(gz.len > 2 && (uint8_t)gz.data[0] == 0x1f && (uint8_t)gz.data[1] == 0x8b);
    uint8_t raw[8192];
    z_stream z;
    memset(&z, 0, sizeof z);
    assert_int_equal(inflateInit2(&z, 15 + 16), Z_OK);
    z.next_in = (Bytef *)gz.data;
    z.avail_in = (uInt)gz.len;
    z.next_out = raw;
    z.avail_out = sizeof raw;
    assert_int_equal(inflate(&z, Z_FINISH), Z_STREAM_END);
    size_t len = sizeof raw - z.avail_out;
    inflateEnd(&z);
    strbuf_free(&gz);

    /* Walk the Profile message: sum the sample values, collect the strings. */
    pb_reader_t r = {raw, raw + len};
    uint64_t sum_space = 0, sum_objects = 0, nsamples = 0, nstrings = 0, nfunctions = 0, ntypes = 0;
    bool have_series_name = false, have_empty_first = false;
    while (r.p < r.end) {
        uint64_t key, v;
        assert_true(pb_varint(&r, &key));
        unsigned field = (unsigned)(key >> 3), wire = (unsigned)(key & 7);
        if (wire == 0) {
            assert_true(pb_varint(&r, &v));
            continue;
        }
        assert_int_equal(wire, 2);
        assert_true(pb_varint(&r, &v));
        assert_true(v <= (uint64_t)(r.end - r.p));
        pb_reader_t sub = {r.p, r.p + v};
        r.p += v;
        if (field == 1) ntypes++;
        if (field == 5) nfunctions++;
        if (field == 6) {
            if (nstrings == 0) have_empty_first = v == 0;
            if (v == strlen("promlab.head.series") && memcmp(sub.p, "promlab.head.series", v) == 0)
                have_series_name = true;
            nstrings++;
        }
        if (field == 2) {
            nsamples++;
            while (sub.p < sub.end) {
                uint64_t k2, l2;
                assert_true(pb_varint(&sub, &k2));
                assert_int_equal(k2 & 7, 2);
                assert_true(pb_varint(&sub, &l2));
                pb_reader_t packed = {sub.p, sub.p + l2};
                sub.p += l2;
                if ((k2 >> 3) != 2) continue;
                uint64_t objects, space;
                assert_true(pb_varint(&packed, &objects));
                assert_true(pb_varint(&packed, &space));
                sum_objects += objects;
                sum_space += space;
            }
        }
    }
    assert_int_equal(ntypes, 2);
    assert_int_equal(nsamples, 3);
    assert_int_equal(nfunctions, 4); /* the root and the three components */
    assert_int_equal(sum_space, 6024);
    assert_int_equal(sum_objects, 13);
    assert_true(have_empty_first);
    assert_true(have_series_name);
}

PL_TEST_MAIN(cmocka_unit_test(test_tsdb_status_json), cmocka_unit_test(test_federate_write),
             cmocka_unit_test(test_http_endpoints), cmocka_unit_test(test_heap_profile))
