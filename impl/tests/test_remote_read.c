/* test_remote_read.c — the remote-read codec (requests, SAMPLES responses,
 * STREAMED_XOR_CHUNKS frames) round trip and refuse malformed input with a
 * clear message; the server's POST /api/v1/read and the remote-read client
 * meet over real HTTP (external labels, limits, both response types). */
#include "testutil.h"

#include <math.h>
#include <snappy-c.h>

#include "promql/memstore.h"
#include "remote.pb-c.h"
#include "remote/remote_client.h"
#include "remote/remote_read.h"
#include "util/crc32c.h"
#include "util/strbuf.h"
#include "web/web.h"

/* ---- collecting decoded series ---- */

typedef struct got_series {
    size_t qi;
    strbuf_t labels; /* rendered {a="b", ...} */
    sample_t *s;
    size_t ns;
} got_series_t;

typedef struct got {
    got_series_t v[64];
    size_t n;
} got_t;

static int collect(void *ctx, size_t qi, const label_t *ls, size_t n, const sample_t *s, size_t ns) {
    got_t *g = ctx;
    assert_true(g->n < 64);
    got_series_t *x = &g->v[g->n++];
    x->qi = qi;
    strbuf_init(&x->labels);
    labels_format_braces(&x->labels, ls, n);
    x->s = malloc((ns + 1) * sizeof *x->s);
    if (ns) memcpy(x->s, s, ns * sizeof *s);
    x->ns = ns;
    return 0;
}

static void got_free(got_t *g) {
    for (size_t i = 0; i < g->n; i++) {
        strbuf_free(&g->v[i].labels);
        free(g->v[i].s);
    }
    g->n = 0;
}

static void snappy_wrap(const void *raw, size_t len, strbuf_t *out) {
    size_t max = snappy_max_compressed_length(len);
    strbuf_reserve(out, max);
    size_t clen = max;
    assert_int_equal(snappy_compress(raw, len, out->data + out->len, &clen), SNAPPY_OK);
    out->len += clen;
}

/* ---- requests ---- */

static void test_request_round_trip(void **state) {
    (void)state;
    pl_err_t err = {{0}};
    rr_query_t qs[2] = {{.start_ms = 1000, .end_ms = 2000}, {.start_ms = -5, .end_ms = INT64_MAX}};
    qs[0].matchers = calloc(2, sizeof(matcher_t));
    assert_int_equal(matcher_init(&qs[0].matchers[0], MATCH_EQUAL, "__name__", "up", &err), 0);
    assert_int_equal(matcher_init(&qs[0].matchers[1], MATCH_NOT_REGEX, "job", "node|prom.*", &err), 0);
    qs[0].nmatchers = 2;
    qs[1].matchers = calloc(1, sizeof(matcher_t));
    assert_int_equal(matcher_init(&qs[1].matchers[0], MATCH_NOT_EQUAL, "instance", "", &err), 0);
    qs[1].nmatchers = 1;
    char *grouping[] = {"job", "instance"};
    qs[1].has_hints = true;
    qs[1].hints = (rr_hints_t){.step_ms = 15000, .start_ms = 1, .end_ms = 2, .range_ms = 300000, .func = "rate",
                               .by = true, .grouping = grouping, .ngrouping = 2};
    int accepted[] = {RR_STREAMED_XOR_CHUNKS, RR_SAMPLES};
    rr_request_t in = {.queries = qs, .nqueries = 2, .accepted = accepted, .naccepted = 2};
    strbuf_t body = STRBUF_INIT;
    assert_int_equal(rr_request_encode(&in, &body, &err), 0);

    rr_request_t out;
    assert_int_equal(rr_request_decode(body.data, body.len, &out, &err), 0);
    assert_int_equal(out.nqueries, 2);
    assert_int_equal(out.queries[0].start_ms, 1000);
    assert_int_equal(out.queries[0].end_ms, 2000);
    assert_int_equal(out.queries[0].nmatchers, 2);
    assert_int_equal(out.queries[0].matchers[1].type, MATCH_NOT_REGEX);
    assert_string_equal(out.queries[0].matchers[1].name, "job");
    assert_string_equal(out.queries[0].matchers[1].value, "node|prom.*");
    assert_true(matcher_matches(&out.queries[0].matchers[1], "x"));
    assert_false(matcher_matches(&out.queries[0].matchers[1], "prometheus"));
    assert_false(out.queries[0].has_hints);
    assert_int_equal(out.queries[1].start_ms, -5);
    assert_true(out.queries[1].end_ms == INT64_MAX);
    assert_true(out.queries[1].has_hints);
    assert_string_equal(out.queries[1].hints.func, "rate");
    assert_int_equal(out.queries[1].hints.step_ms, 15000);
    assert_int_equal(out.queries[1].hints.range_ms, 300000);
    assert_true(out.queries[1].hints.by);
    assert_int_equal(out.queries[1].hints.ngrouping, 2);
    assert_string_equal(out.queries[1].hints.grouping[1], "instance");
    assert_int_equal(out.naccepted, 2);
    enum rr_response_type t;
    assert_int_equal(rr_negotiate(&out, &t, &err), 0);
    assert_int_equal(t, RR_STREAMED_XOR_CHUNKS);
    rr_request_free(&out);
    strbuf_free(&body);
    matchers_free(qs[0].matchers, 2);
    matchers_free(qs[1].matchers, 1);
}

static void test_negotiate(void **state) {
    (void)state;
    pl_err_t err = {{0}};
    enum rr_response_type t = RR_STREAMED_XOR_CHUNKS;
    rr_request_t none = {0};
    assert_int_equal(rr_negotiate(&none, &t, &err), 0);
    assert_int_equal(t, RR_SAMPLES); /* no accepted types: SAMPLES */
    int unknown_then_samples[] = {7, RR_SAMPLES};
    rr_request_t r = {.accepted = unknown_then_samples, .naccepted = 2};
    assert_int_equal(rr_negotiate(&r, &t, &err), 0);
    assert_int_equal(t, RR_SAMPLES);
    int only_unknown[] = {7};
    r = (rr_request_t){.accepted = only_unknown, .naccepted = 1};
    assert_int_equal(rr_negotiate(&r, &t, &err), -1);
    assert_non_null(strstr(err.msg, "does not support any of the requested response types"));
}

static void test_request_malformed(void **state) {
    (void)state;
    pl_err_t err = {{0}};
    rr_request_t out;
    /* Not snappy at all. */
    assert_int_equal(rr_request_decode("\xff\xff\xff\xff\xff\xff", 6, &out, &err), -1);
    assert_non_null(strstr(err.msg, "snappy"));
    rr_request_free(&out);
    /* Empty body: snappy cannot read a length. */
    assert_int_equal(rr_request_decode("", 0, &out, &err), -1);
    assert_non_null(strstr(err.msg, "snappy"));
    /* Valid snappy, broken protobuf (field 1 length-delimited, length 100, 2 bytes). */
    strbuf_t b = STRBUF_INIT;
    snappy_wrap("\x0a\x64\x01\x02", 4, &b);
    assert_int_equal(rr_request_decode(b.data, b.len, &out, &err), -1);
    assert_non_null(strstr(err.msg, "protobuf"));
    rr_request_free(&out);
    strbuf_reset(&b);
    /* A matcher type outside the enum, built with the generated structs. */
    Prometheus__LabelMatcher m = PROMETHEUS__LABEL_MATCHER__INIT;
    m.type = (Prometheus__LabelMatcher__Type)9;
    m.name = "job";
    m.value = "x";
    Prometheus__LabelMatcher *mp = &m;
    Prometheus__Query q = PROMETHEUS__QUERY__INIT;
    q.matchers = &mp;
    q.n_matchers = 1;
    Prometheus__Query *qp = &q;
    Prometheus__ReadRequest rq = PROMETHEUS__READ_REQUEST__INIT;
    rq.queries = &qp;
    rq.n_queries = 1;
    uint8_t raw[256];
    size_t rawlen = prometheus__read_request__pack(&rq, raw);
    snappy_wrap(raw, rawlen, &b);
    assert_int_equal(rr_request_decode(b.data, b.len, &out, &err), -1);
    assert_non_null(strstr(err.msg, "invalid matcher type 9"));
    rr_request_free(&out);
    strbuf_reset(&b);
    /* A regex that does not compile. */
    m.type = PROMETHEUS__LABEL_MATCHER__TYPE__RE;
    m.value = "a(b";
    rawlen = prometheus__read_request__pack(&rq, raw);
    snappy_wrap(raw, rawlen, &b);
    assert_int_equal(rr_request_decode(b.data, b.len, &out, &err), -1);
    assert_non_null(strstr(err.msg, "query 0: matcher 0"));
    rr_request_free(&out);
    strbuf_free(&b);
}

/* ---- SAMPLES ---- */

static void test_samples_round_trip(void **state) {
    (void)state;
    pl_err_t err = {{0}};
    rr_samples_writer_t *w = rr_samples_writer_new(2);
    label_t a[] = {{"__name__", "up"}, {"job", "node"}};
    label_t b[] = {{"__name__", "x"}, {"a", "\"quoted\"\n"}};
    sample_t sa[] = {{1000, 1}, {2000, pl_stale_nan()}, {3000, -0.5}};
    sample_t sb[] = {{5, INFINITY}};
    assert_int_equal(rr_samples_writer_add(w, 0, a, 2, sa, 3), 0);
    assert_int_equal(rr_samples_writer_add(w, 1, b, 2, sb, 1), 0);
    assert_int_equal(rr_samples_writer_add(w, 1, a, 2, NULL, 0), 0);
    assert_int_equal(rr_samples_writer_add(w, 2, a, 2, NULL, 0), -1); /* no query 2 */
    strbuf_t body = STRBUF_INIT;
    assert_int_equal(rr_samples_writer_finish(w, &body, &err), 0);
    rr_samples_writer_free(w);

    got_t g = {0};
    assert_int_equal(rr_samples_decode(body.data, body.len, collect, &g, &err), 0);
    assert_int_equal(g.n, 3);
    assert_int_equal(g.v[0].qi, 0);
    assert_string_equal(g.v[0].labels.data, "{__name__=\"up\", job=\"node\"}");
    assert_int_equal(g.v[0].ns, 3);
    assert_int_equal(g.v[0].s[0].t, 1000);
    assert_true(pl_is_stale_nan(g.v[0].s[1].v)); /* the stale marker's bits survive */
    assert_true(g.v[0].s[2].v == -0.5);
    assert_int_equal(g.v[1].qi, 1);
    assert_true(isinf(g.v[1].s[0].v));
    assert_int_equal(g.v[2].qi, 1);
    assert_int_equal(g.v[2].ns, 0);
    got_free(&g);
    /* Truncated body: a clear error, no crash. */
    assert_int_equal(rr_samples_decode(body.data, body.len / 2, collect, &g, &err), -1);
    assert_non_null(strstr(err.msg, "snappy"));
    got_free(&g);
    strbuf_free(&body);
}

/* ---- STREAMED_XOR_CHUNKS ---- */

static sample_t *ramp(size_t n, int64_t t0, int64_t step) {
    sample_t *s = malloc(n * sizeof *s);
    for (size_t i = 0; i < n; i++) s[i] = (sample_t){t0 + (int64_t)i * step, (double)i * 1.5};
    return s;
}

static void test_stream_round_trip(void **state) {
    (void)state;
    pl_err_t err = {{0}};
    label_t a[] = {{"__name__", "a"}, {"replica", "A"}};
    label_t b[] = {{"__name__", "b"}};
    sample_t *sa = ramp(300, 1000, 15000);
    sample_t *sb = ramp(5, 0, 1);
    strbuf_t body = STRBUF_INIT;
    /* A big frame budget: one frame holds all three chunks of a. */
    assert_int_equal(rr_stream_write_series(&body, 0, a, 2, sa, 300, 1 << 20, &err), 1);
    /* A tiny budget: one frame per chunk (Prometheus's split of a series by time). */
    assert_int_equal(rr_stream_write_series(&body, 1, a, 2, sa, 300, 1, &err), 3);
    assert_int_equal(rr_stream_write_series(&body, 1, b, 1, sb, 5, 1, &err), 1);

    got_t g = {0};
    assert_int_equal(rr_stream_decode(body.data, body.len, collect, &g, &err), 0);
    assert_int_equal(g.n, 3); /* the three frames of a in query 1 are joined */
    assert_int_equal(g.v[0].qi, 0);
    assert_int_equal(g.v[0].ns, 300);
    assert_int_equal(g.v[1].qi, 1);
    assert_string_equal(g.v[1].labels.data, "{__name__=\"a\", replica=\"A\"}");
    assert_int_equal(g.v[1].ns, 300);
    for (size_t i = 0; i < 300; i++) {
        assert_int_equal(g.v[1].s[i].t, sa[i].t);
        assert_true(g.v[1].s[i].v == sa[i].v);
    }
    assert_int_equal(g.v[2].ns, 5);
    got_free(&g);

    /* The frame layout: uvarint length, big-endian CRC-32C, message. */
    strbuf_t one = STRBUF_INIT;
    assert_int_equal(rr_stream_write_series(&one, 0, b, 1, sb, 5, 1 << 20, &err), 1);
    size_t len = (uint8_t)one.data[0];
    assert_true(len < 128);
    assert_int_equal(one.len, 1 + 4 + len);
    Prometheus__ChunkedReadResponse *m =
        prometheus__chunked_read_response__unpack(NULL, len, (const uint8_t *)one.data + 5);
    assert_non_null(m);
    assert_int_equal(m->n_chunked_series, 1);
    assert_int_equal(m->chunked_series[0]->n_chunks, 1);
    assert_int_equal(m->chunked_series[0]->chunks[0]->type, PROMETHEUS__CHUNK__ENCODING__XOR);
    assert_int_equal(m->chunked_series[0]->chunks[0]->min_time_ms, 0);
    assert_int_equal(m->chunked_series[0]->chunks[0]->max_time_ms, 4);
    prometheus__chunked_read_response__free_unpacked(m, NULL);

    /* Malformed streams. */
    strbuf_t bad = STRBUF_INIT;
    strbuf_append(&bad, one.data, one.len);
    bad.data[one.len - 1] ^= 0x40; /* a flipped bit in the message */
    assert_int_equal(rr_stream_decode(bad.data, bad.len, collect, &g, &err), -1);
    assert_non_null(strstr(err.msg, "frame 0: checksum mismatch"));
    got_free(&g);
    assert_int_equal(rr_stream_decode(one.data, one.len - 1, collect, &g, &err), -1);
    assert_non_null(strstr(err.msg, "exceeds"));
    got_free(&g);
    assert_int_equal(rr_stream_decode(one.data, 3, collect, &g, &err), -1);
    assert_non_null(strstr(err.msg, "truncated before its checksum"));
    assert_int_equal(rr_stream_decode("\xff\xff", 2, collect, &g, &err), -1);
    assert_non_null(strstr(err.msg, "varint"));
    got_free(&g);
    strbuf_free(&bad);

    /* A chunk in another encoding, and XOR bytes that lie about their count. */
    uint8_t junk[] = {0x00, 0x05, 0xff};
    Prometheus__Chunk ch = PROMETHEUS__CHUNK__INIT;
    ch.type = PROMETHEUS__CHUNK__ENCODING__HISTOGRAM;
    ch.data.data = junk;
    ch.data.len = sizeof junk;
    Prometheus__Chunk *chp = &ch;
    Prometheus__ChunkedSeries cs = PROMETHEUS__CHUNKED_SERIES__INIT;
    cs.chunks = &chp;
    cs.n_chunks = 1;
    Prometheus__ChunkedSeries *csp = &cs;
    Prometheus__ChunkedReadResponse msg = PROMETHEUS__CHUNKED_READ_RESPONSE__INIT;
    msg.chunked_series = &csp;
    msg.n_chunked_series = 1;
    for (int round = 0; round < 2; round++) {
        if (round == 1) ch.type = PROMETHEUS__CHUNK__ENCODING__XOR;
        uint8_t raw[128];
        size_t rl = prometheus__chunked_read_response__pack(&msg, raw);
        uint32_t crc = pl_crc32c(0, raw, rl);
        uint8_t frame[160] = {(uint8_t)rl, (uint8_t)(crc >> 24), (uint8_t)(crc >> 16), (uint8_t)(crc >> 8), (uint8_t)crc};
        memcpy(frame + 5, raw, rl);
        assert_int_equal(rr_stream_decode(frame, 5 + rl, collect, &g, &err), -1);
        assert_non_null(strstr(err.msg, round == 0 ? "chunk encoding 2 is not supported" : "malformed XOR chunk"));
        got_free(&g);
    }
    strbuf_free(&one);
    strbuf_free(&body);
    free(sa);
    free(sb);
}

/* ---- external labels in a config ---- */

static void test_parse_external_labels(void **state) {
    (void)state;
    const char *yaml = "global:\n"
                       "  scrape_interval: 15s\n"
                       "  external_labels:\n"
                       "    cluster: eu-1\n"
                       "    replica: \"A\"\n"
                       "  evaluation_interval: 1m\n"
                       "scrape_configs:\n"
                       "- job_name: x\n"
                       "  static_configs:\n"
                       "  - targets: [a, b]\n"
                       "    labels: {external_labels: no}\n"
                       "remote_read:\n"
                       "- url: http://x/api/v1/read\n";
    strbuf_t st = STRBUF_INIT;
    size_t n = 0;
    pl_err_t err = {{0}};
    assert_int_equal(remote_parse_external_labels(yaml, strlen(yaml), &st, &n, &err), 0);
    assert_int_equal(n, 2);
    assert_string_equal(st.data, "cluster");
    assert_string_equal(st.data + 8, "eu-1");
    assert_string_equal(st.data + 13, "replica");
    assert_string_equal(st.data + 21, "A");
    strbuf_reset(&st);
    const char *none = "global:\n  scrape_interval: 1m\n";
    assert_int_equal(remote_parse_external_labels(none, strlen(none), &st, &n, &err), 0);
    assert_int_equal(n, 0);
    const char *broken = "global: [\n";
    assert_int_equal(remote_parse_external_labels(broken, strlen(broken), &st, &n, &err), -1);
    assert_non_null(strstr(err.msg, "yaml"));
    strbuf_free(&st);
}

/* ---- server and client over HTTP ---- */

typedef struct fixture {
    memstore_t *ms;
    web_t *web;
    char url[64];
} fixture_t;

static int ext_labels(void *ctx, label_t **out, size_t *n) {
    (void)ctx;
    label_t *v = calloc(2, sizeof *v);
    v[0] = (label_t){strdup("replica"), strdup("B")};
    v[1] = (label_t){strdup("cluster"), strdup("c1")};
    *out = v;
    *n = 2;
    return 0;
}

static void start_server(fixture_t *f, int64_t sample_limit) {
    pl_err_t err = {{0}};
    f->ms = memstore_new();
    label_t up_a[] = {{"__name__", "up"}, {"job", "node"}};
    label_t up_b[] = {{"__name__", "up"}, {"job", "prom"}, {"replica", "own"}};
    sample_t *s = ramp(250, 0, 1000);
    assert_int_equal(memstore_append(f->ms, up_a, 2, s, 250, &err), 0);
    assert_int_equal(memstore_append(f->ms, up_b, 3, s, 10, &err), 0);
    free(s);
    web_opts_t wo = {.listen_address = "127.0.0.1:0", .external_labels = ext_labels,
                     .remote_read_sample_limit = sample_limit, .remote_read_concurrent_limit = 2};
    memstore_queryable(f->ms, &wo.queryable);
    f->web = web_start(&wo, &err);
    assert_non_null(f->web);
    snprintf(f->url, sizeof f->url, "http://127.0.0.1:%u", web_port(f->web));
}

static void stop_server(fixture_t *f) {
    web_stop(f->web);
    memstore_free(f->ms);
}

typedef struct sel {
    strbuf_t out;
    size_t nseries, nsamples;
} sel_t;

static int sel_fn(void *ctx, const label_t *ls, size_t n, const sample_t *s, size_t ns) {
    sel_t *x = ctx;
    labels_format_braces(&x->out, ls, n);
    strbuf_printf(&x->out, " %zu\n", ns);
    x->nseries++;
    x->nsamples += ns;
    return 0;
}

static void test_client_server(void **state) {
    (void)state;
    fixture_t f;
    start_server(&f, 0);
    pl_err_t err = {{0}};
    for (int samples_only = 0; samples_only < 2; samples_only++) {
        remote_client_opts_t co = {.samples_only = samples_only};
        remote_client_t *c = remote_client_new(f.url, &co, &err);
        assert_non_null(c);
        queryable_t q;
        remote_client_queryable(c, &q);
        matcher_t m[2];
        assert_int_equal(matcher_init(&m[0], MATCH_EQUAL, "__name__", "up", &err), 0);
        sel_t x = {STRBUF_INIT, 0, 0};
        assert_int_equal(q.select(q.impl, m, 1, 5000, 200000, sel_fn, &x, &err), 0);
        /* External labels added; a label of the series wins over one of them. */
        assert_string_equal(x.out.data, "{__name__=\"up\", cluster=\"c1\", job=\"node\", replica=\"B\"} 196\n"
                                        "{__name__=\"up\", cluster=\"c1\", job=\"prom\", replica=\"own\"} 5\n");
        /* A matcher on an external label: the server drops it, the client applies it. */
        strbuf_reset(&x.out);
        assert_int_equal(matcher_init(&m[1], MATCH_EQUAL, "replica", "B", &err), 0);
        assert_int_equal(q.select(q.impl, m, 2, 0, 1000000, sel_fn, &x, &err), 0);
        assert_string_equal(x.out.data, "{__name__=\"up\", cluster=\"c1\", job=\"node\", replica=\"B\"} 250\n");
        matcher_free(&m[1]);
        matcher_free(&m[0]);
        strbuf_free(&x.out);
        remote_client_free(c);
    }
    stop_server(&f);

    /* The sample limit applies to SAMPLES answers: 400 with Prometheus's text. */
    start_server(&f, 100);
    remote_client_opts_t co = {.samples_only = true};
    remote_client_t *c = remote_client_new(f.url, &co, &err);
    queryable_t q;
    remote_client_queryable(c, &q);
    matcher_t m;
    assert_int_equal(matcher_init(&m, MATCH_EQUAL, "__name__", "up", &err), 0);
    sel_t x = {STRBUF_INIT, 0, 0};
    assert_int_equal(q.select(q.impl, &m, 1, 0, 1000000, sel_fn, &x, &err), -1);
    assert_non_null(strstr(err.msg, "HTTP status 400"));
    assert_non_null(strstr(err.msg, "exceeded sample limit (100)"));
    remote_client_free(c);
    /* Streamed answers are not bound by it. */
    c = remote_client_new(f.url, NULL, &err);
    remote_client_queryable(c, &q);
    assert_int_equal(q.select(q.impl, &m, 1, 0, 1000000, sel_fn, &x, &err), 0);
    assert_int_equal(x.nsamples, 260);
    remote_client_free(c);
    matcher_free(&m);
    strbuf_free(&x.out);
    stop_server(&f);
}

static void test_client_unreachable(void **state) {
    (void)state;
    pl_err_t err = {{0}};
    assert_null(remote_client_new("127.0.0.1:9090", NULL, &err));
    assert_non_null(strstr(err.msg, "not an http"));
    remote_client_t *c = remote_client_new("http://127.0.0.1:1/", NULL, &err);
    assert_string_equal(remote_client_url(c), "http://127.0.0.1:1");
    queryable_t q;
    remote_client_queryable(c, &q);
    matcher_t m;
    assert_int_equal(matcher_init(&m, MATCH_EQUAL, "__name__", "up", &err), 0);
    sel_t x = {STRBUF_INIT, 0, 0};
    assert_int_equal(q.select(q.impl, &m, 1, 0, 1, sel_fn, &x, &err), -1);
    assert_non_null(strstr(err.msg, "http://127.0.0.1:1/api/v1/read"));
    matcher_free(&m);
    remote_client_free(c);
}

PL_TEST_MAIN(cmocka_unit_test(test_request_round_trip), cmocka_unit_test(test_negotiate),
             cmocka_unit_test(test_request_malformed), cmocka_unit_test(test_samples_round_trip),
             cmocka_unit_test(test_stream_round_trip), cmocka_unit_test(test_parse_external_labels),
             cmocka_unit_test(test_client_server), cmocka_unit_test(test_client_unreachable))
