/* test_scrape.c — the scrape manager against a small HTTP server running in
 * the test (loopback only) and a real head.
 *
 * The server is a thread with a listening socket on 127.0.0.1, port 0, that
 * answers each request from a table of routes (path -> body, Content-Type,
 * status, delay, gzip) which a test may change between scrapes, and keeps the
 * last request so headers can be checked. Scrape intervals are 300 ms; tests
 * poll the head with a deadline instead of sleeping fixed times. */
#include "testutil.h"

#include <arpa/inet.h>
#include <errno.h>
#include <math.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <sys/socket.h>
#include <unistd.h>
#include <zlib.h>

#include "config/config.h"
#include "model/matcher.h"
#include "scrape/cache.h"
#include "scrape/internal.h"
#include "scrape/scrape.h"
#include "tsdb/db.h"
#include "tsdb/head.h"
#include "util/timeutil.h"

/* ---- the test HTTP server ------------------------------------------------------ */

#define MAX_ROUTES 8

typedef struct route {
    char path[64];
    char *body;
    size_t len;
    char content_type[128]; /* "" sends no Content-Type */
    int status;
    int delay_ms;
    bool gzip;
    bool served_gzip; /* a gzip'd answer was sent for this route */
} route_t;

typedef struct test_server {
    int fd, port;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t idle;
    int active; /* connections being served */
    bool stop;
    route_t routes[MAX_ROUTES];
    int nroutes;
    char last_request[8192];
    int nrequests;
} test_server_t;

static void server_route(test_server_t *s, const char *path, const char *body, const char *content_type, int status,
                         int delay_ms, bool gz) {
    pthread_mutex_lock(&s->mu);
    route_t *r = NULL;
    for (int i = 0; i < s->nroutes; i++)
        if (strcmp(s->routes[i].path, path) == 0) r = &s->routes[i];
    if (!r) {
        assert_true(s->nroutes < MAX_ROUTES);
        r = &s->routes[s->nroutes++];
        snprintf(r->path, sizeof r->path, "%s", path);
    }
    free(r->body);
    r->len = strlen(body);
    r->body = strdup(body);
    snprintf(r->content_type, sizeof r->content_type, "%s", content_type);
    r->status = status;
    r->delay_ms = delay_ms;
    r->gzip = gz;
    pthread_mutex_unlock(&s->mu);
}

static void server_text(test_server_t *s, const char *path, const char *body) {
    server_route(s, path, body, "text/plain; version=0.0.4; charset=utf-8", 200, 0, false);
}

static char *gzip_bytes(const char *in, size_t len, size_t *out_len) {
    z_stream z;
    memset(&z, 0, sizeof z);
    /* Runs on a server thread: no cmocka asserts here. */
    if (deflateInit2(&z, Z_BEST_SPEED, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) abort();
    size_t cap = deflateBound(&z, len) + 64;
    char *out = malloc(cap);
    z.next_in = (Bytef *)in;
    z.avail_in = (uInt)len;
    z.next_out = (Bytef *)out;
    z.avail_out = (uInt)cap;
    if (deflate(&z, Z_FINISH) != Z_STREAM_END) abort();
    *out_len = cap - z.avail_out;
    deflateEnd(&z);
    return out;
}

static void send_all(int fd, const char *p, size_t n) {
    while (n) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w <= 0) return; /* the client gave up (a timeout test) */
        p += w;
        n -= (size_t)w;
    }
}

static const char *reason_of(int status) {
    switch (status) {
    case 200: return "OK";
    case 404: return "Not Found";
    case 500: return "Internal Server Error";
    default: return "Whatever";
    }
}

static void serve_conn(test_server_t *s, int c) {
    char req[8192];
    size_t n = 0;
    req[0] = '\0';
    while (n < sizeof req - 1) {
        struct pollfd p = {c, POLLIN, 0};
        if (poll(&p, 1, 2000) <= 0) break;
        ssize_t r = recv(c, req + n, sizeof req - 1 - n, 0);
        if (r <= 0) break;
        n += (size_t)r;
        req[n] = '\0';
        if (strstr(req, "\r\n\r\n")) break;
    }
    char target[512] = "";
    if (sscanf(req, "GET %511s", target) != 1) {
        close(c);
        return;
    }
    char path[512];
    snprintf(path, sizeof path, "%s", target);
    char *q = strchr(path, '?');
    if (q) *q = '\0';

    route_t r = {.status = 404};
    char *body = strdup("404 page not found\n");
    size_t len = strlen(body);
    snprintf(r.content_type, sizeof r.content_type, "text/plain; charset=utf-8");
    pthread_mutex_lock(&s->mu);
    snprintf(s->last_request, sizeof s->last_request, "%s", req);
    s->nrequests++;
    for (int i = 0; i < s->nroutes; i++) {
        if (strcmp(s->routes[i].path, path) != 0) continue;
        r = s->routes[i];
        free(body);
        body = malloc(r.len + 1);
        memcpy(body, s->routes[i].body, r.len + 1);
        len = r.len;
    }
    pthread_mutex_unlock(&s->mu);

    for (int waited = 0; waited < r.delay_ms; waited += 10) {
        pthread_mutex_lock(&s->mu);
        bool stop = s->stop;
        pthread_mutex_unlock(&s->mu);
        if (stop) break;
        usleep(10000);
    }
    bool gz = r.gzip && strstr(req, "Accept-Encoding: gzip") != NULL;
    if (gz) {
        size_t zl;
        char *z = gzip_bytes(body, len, &zl);
        free(body);
        body = z;
        len = zl;
    }
    pthread_mutex_lock(&s->mu);
    for (int i = 0; i < s->nroutes; i++)
        if (gz && strcmp(s->routes[i].path, path) == 0) s->routes[i].served_gzip = true;
    pthread_mutex_unlock(&s->mu);
    char hdr[512];
    int hl = snprintf(hdr, sizeof hdr, "HTTP/1.1 %d %s\r\n%s%s%sContent-Length: %zu\r\n%sConnection: close\r\n\r\n",
                      r.status, reason_of(r.status), r.content_type[0] ? "Content-Type: " : "", r.content_type,
                      r.content_type[0] ? "\r\n" : "", len, gz ? "Content-Encoding: gzip\r\n" : "");
    send_all(c, hdr, (size_t)hl);
    send_all(c, body, len);
    free(body);
    shutdown(c, SHUT_WR);
    close(c);
}

typedef struct conn_arg {
    test_server_t *s;
    int fd;
} conn_arg_t;

/* One thread per connection, so a slow route does not hold up the others. */
static void *conn_main(void *arg) {
    conn_arg_t *a = arg;
    serve_conn(a->s, a->fd);
    pthread_mutex_lock(&a->s->mu);
    a->s->active--;
    pthread_cond_broadcast(&a->s->idle);
    pthread_mutex_unlock(&a->s->mu);
    free(a);
    return NULL;
}

static void *server_main(void *arg) {
    test_server_t *s = arg;
    for (;;) {
        pthread_mutex_lock(&s->mu);
        bool stop = s->stop;
        pthread_mutex_unlock(&s->mu);
        if (stop) break;
        struct pollfd p = {s->fd, POLLIN, 0};
        if (poll(&p, 1, 20) <= 0) continue;
        int c = accept(s->fd, NULL, NULL);
        if (c < 0) continue;
        conn_arg_t *a = malloc(sizeof *a);
        a->s = s;
        a->fd = c;
        pthread_mutex_lock(&s->mu);
        s->active++;
        pthread_mutex_unlock(&s->mu);
        pthread_t th;
        pthread_attr_t attr;
        pthread_attr_init(&attr);
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        if (pthread_create(&th, &attr, conn_main, a) != 0) {
            close(c);
            free(a);
            pthread_mutex_lock(&s->mu);
            s->active--;
            pthread_mutex_unlock(&s->mu);
        }
        pthread_attr_destroy(&attr);
    }
    return NULL;
}

static void server_start(test_server_t *s) {
    memset(s, 0, sizeof *s);
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->idle, NULL);
    s->fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(s->fd >= 0);
    int one = 1;
    setsockopt(s->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = 0};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(s->fd, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(listen(s->fd, 64), 0);
    socklen_t al = sizeof a;
    assert_int_equal(getsockname(s->fd, (struct sockaddr *)&a, &al), 0);
    s->port = ntohs(a.sin_port);
    assert_int_equal(pthread_create(&s->thread, NULL, server_main, s), 0);
}

static void server_stop(test_server_t *s) {
    pthread_mutex_lock(&s->mu);
    s->stop = true;
    pthread_mutex_unlock(&s->mu);
    pthread_join(s->thread, NULL);
    pthread_mutex_lock(&s->mu);
    while (s->active > 0)
        pthread_cond_wait(&s->idle, &s->mu);
    pthread_mutex_unlock(&s->mu);
    close(s->fd);
    for (int i = 0; i < s->nroutes; i++)
        free(s->routes[i].body);
    pthread_cond_destroy(&s->idle);
    pthread_mutex_destroy(&s->mu);
}

static void server_last_request(test_server_t *s, char *out, size_t outsz) {
    pthread_mutex_lock(&s->mu);
    snprintf(out, outsz, "%s", s->last_request);
    pthread_mutex_unlock(&s->mu);
}

/* ---- reading the head ------------------------------------------------------------ */

typedef struct qres {
    int nseries;
    size_t nsamples;
    sample_t *samples; /* of the first series */
    char labels[1024];
} qres_t;

static int collect(void *ctx, const label_t *ls, size_t n, const sample_t *ss, size_t ns) {
    qres_t *q = ctx;
    if (q->nseries++ == 0) {
        q->samples = malloc((ns ? ns : 1) * sizeof *ss);
        memcpy(q->samples, ss, ns * sizeof *ss);
        q->nsamples = ns;
        strbuf_t sb = STRBUF_INIT;
        labels_format(&sb, ls, n);
        snprintf(q->labels, sizeof q->labels, "%s", sb.data ? sb.data : "");
        strbuf_free(&sb);
    }
    return 0;
}

static qres_t query(head_t *h, const char *selector) {
    matcher_t *ms = NULL;
    size_t n = 0;
    pl_err_t err;
    if (selector_parse(selector, &ms, &n, &err) != 0) fail_msg("bad selector %s: %s", selector, err.msg);
    qres_t q;
    memset(&q, 0, sizeof q);
    assert_true(head_select(h, ms, n, INT64_MIN, INT64_MAX, collect, &q, &err) >= 0);
    matchers_free(ms, n);
    return q;
}

static void qres_free(qres_t *q) { free(q->samples); }

static int nseries(head_t *h, const char *selector) {
    qres_t q = query(h, selector);
    qres_free(&q);
    return q.nseries;
}

/* Last sample of the one series matching selector; false when there is none. */
static bool last_sample(head_t *h, const char *selector, sample_t *out) {
    qres_t q = query(h, selector);
    bool ok = q.nseries >= 1 && q.nsamples > 0;
    if (ok) *out = q.samples[q.nsamples - 1];
    qres_free(&q);
    return ok;
}

static size_t nsamples(head_t *h, const char *selector) {
    qres_t q = query(h, selector);
    size_t n = q.nsamples;
    qres_free(&q);
    return n;
}

static bool last_is(head_t *h, const char *selector, double v) {
    sample_t s;
    return last_sample(h, selector, &s) && s.v == v;
}

static bool is_stale_bits(double v) {
    uint64_t b;
    memcpy(&b, &v, sizeof b);
    return b == PL_STALE_NAN_BITS;
}

static bool last_is_stale(head_t *h, const char *selector) {
    sample_t s;
    return last_sample(h, selector, &s) && is_stale_bits(s.v);
}

static int64_t mono_ms(void) { return pl_monotonic_ns() / 1000000; }

/* Polls cond every 10 ms until it holds or timeout_ms passes; its value. */
#define WAIT_FOR(cond, timeout_ms)                                                                                     \
    __extension__({                                                                                                    \
        int64_t deadline_ = mono_ms() + (timeout_ms);                                                                  \
        bool ok_;                                                                                                      \
        while (!(ok_ = (cond)) && mono_ms() < deadline_)                                                               \
            usleep(10000);                                                                                             \
        ok_;                                                                                                           \
    })

/* ---- fixtures --------------------------------------------------------------------------- */

static config_t *load_config(const char *yaml) {
    config_t *c = NULL;
    pl_err_t err;
    if (config_load_string(yaml, strlen(yaml), "test.yml", &c, &err) != 0) fail_msg("config: %s\n%s", err.msg, yaml);
    return c;
}

typedef struct fx {
    test_server_t srv;
    head_t *head;
    db_t *db; /* the head wrapped as storage, without a WAL */
    scrape_manager_t *m;
} fx_t;

/* A head, the DB appender over it, and a manager storing into it. */
static void fx_open(fx_t *f) {
    f->head = head_new();
    f->db = db_wrap_head(f->head);
    assert_non_null(f->db);
    appendable_t app;
    db_appendable(f->db, &app);
    f->m = scrape_manager_new(&app);
    assert_non_null(f->m);
}

static void fx_stop(fx_t *f) {
    scrape_manager_free(f->m);
    db_close(f->db, NULL);
    head_free(f->head);
    server_stop(&f->srv);
}

static const char *GLOBAL_300MS = "global:\n"
                                  "  scrape_interval: 300ms\n"
                                  "  scrape_timeout: 300ms\n";

/* The one target of job (with its status), copied out of a snapshot. */
typedef struct tstatus {
    int found;
    char health[16];
    char last_error[512];
    char url[512];
    int64_t interval_ms, timeout_ms, last_scrape_ms;
    char labels[512];
} tstatus_t;

static tstatus_t target_status(scrape_manager_t *m, const char *job) {
    tstatus_t st;
    memset(&st, 0, sizeof st);
    target_info_t *ts = NULL;
    size_t n = scrape_manager_targets(m, &ts);
    for (size_t i = 0; i < n; i++) {
        if (strcmp(ts[i].scrape_pool, job) != 0) continue;
        st.found++;
        snprintf(st.health, sizeof st.health, "%s", ts[i].health);
        snprintf(st.last_error, sizeof st.last_error, "%s", ts[i].last_error);
        snprintf(st.url, sizeof st.url, "%s", ts[i].scrape_url);
        st.interval_ms = ts[i].interval_ms;
        st.timeout_ms = ts[i].timeout_ms;
        st.last_scrape_ms = ts[i].last_scrape_ms;
        strbuf_t sb = STRBUF_INIT;
        labels_format_braces(&sb, ts[i].labels, ts[i].nlabels);
        snprintf(st.labels, sizeof st.labels, "%s", sb.data ? sb.data : "");
        strbuf_free(&sb);
    }
    scrape_targets_free(ts, n);
    return st;
}

/* Value of a sample line `line_prefix value` in the manager's metrics, or -1. */
static double metric_value(scrape_manager_t *m, const char *line_prefix) {
    strbuf_t sb = STRBUF_INIT;
    scrape_manager_write_metrics(m, &sb);
    double v = -1;
    size_t pl = strlen(line_prefix);
    for (const char *p = sb.data; p && *p;) {
        const char *nl = strchr(p, '\n');
        if (strncmp(p, line_prefix, pl) == 0 && p[pl] == ' ') v = strtod(p + pl + 1, NULL);
        if (!nl) break;
        p = nl + 1;
    }
    strbuf_free(&sb);
    return v;
}

/* ---- unit tests of the parts ------------------------------------------------------------- */

static void test_cache_table(void **state) {
    (void)state;
    assert_int_equal(sizeof(scrape_cache_entry_t), 24);
    scrape_cache_t c;
    scrape_cache_init(&c);
    assert_null(scrape_cache_get(&c, 42));
    const uint64_t n = 100000;
    for (uint64_t i = 1; i <= n; i++) {
        uint64_t h = i * 0x9E3779B97F4A7C15ull;
        assert_null(scrape_cache_get(&c, h));
        scrape_cache_entry_t *e = scrape_cache_put(&c, h);
        assert_non_null(e);
        e->ref = i;
    }
    assert_int_equal(c.live, n);
    assert_true(c.cap >= n * 4 / 3);
    for (uint64_t i = 1; i <= n; i++) {
        scrape_cache_entry_t *e = scrape_cache_get(&c, i * 0x9E3779B97F4A7C15ull);
        assert_non_null(e);
        assert_int_equal(e->ref, i);
    }
    /* Delete the odd ones; the even ones stay findable across tombstones. */
    for (uint64_t i = 1; i <= n; i += 2)
        scrape_cache_del(&c, scrape_cache_get(&c, i * 0x9E3779B97F4A7C15ull));
    assert_int_equal(c.live, n / 2);
    for (uint64_t i = 1; i <= n; i++) {
        scrape_cache_entry_t *e = scrape_cache_get(&c, i * 0x9E3779B97F4A7C15ull);
        if (i % 2)
            assert_null(e);
        else
            assert_true(e && e->ref == i);
    }
    /* Most entries gone: compacting shrinks the table and keeps the rest. */
    size_t before = c.cap;
    for (uint64_t i = 2; i <= n; i += 2)
        if (i > 2000) scrape_cache_del(&c, scrape_cache_get(&c, i * 0x9E3779B97F4A7C15ull));
    scrape_cache_compact(&c);
    assert_true(c.cap < before);
    assert_int_equal(c.tombs, 0);
    assert_int_equal(c.live, 1000);
    for (uint64_t i = 2; i <= 2000; i += 2)
        assert_non_null(scrape_cache_get(&c, i * 0x9E3779B97F4A7C15ull));
    /* Hash 0 and colliding slots work too. */
    scrape_cache_entry_t *z = scrape_cache_put(&c, 0);
    assert_non_null(z);
    z->ref = 7;
    assert_int_equal(scrape_cache_get(&c, 0)->ref, 7);
    uint64_t iter = c.iter;
    for (uint64_t i = 2; i <= 2000; i += 2)
        scrape_cache_del(&c, scrape_cache_get(&c, i * 0x9E3779B97F4A7C15ull));
    scrape_cache_del(&c, scrape_cache_get(&c, 0));
    scrape_cache_compact(&c);
    assert_int_equal(c.live, 0);
    assert_int_equal(c.iter, iter); /* emptying keeps the iteration count */
    scrape_cache_free(&c);
}

static void test_helpers(void **state) {
    (void)state;
    char b[64];
    scrape_go_duration(b, sizeof b, 15000);
    assert_string_equal(b, "15s");
    scrape_go_duration(b, sizeof b, 60000);
    assert_string_equal(b, "1m0s");
    scrape_go_duration(b, sizeof b, 90000);
    assert_string_equal(b, "1m30s");
    scrape_go_duration(b, sizeof b, 300);
    assert_string_equal(b, "300ms");
    scrape_go_duration(b, sizeof b, 3600000);
    assert_string_equal(b, "1h0m0s");
    scrape_go_duration(b, sizeof b, 1500);
    assert_string_equal(b, "1.5s");
    scrape_go_duration(b, sizeof b, 61250);
    assert_string_equal(b, "1m1.25s");
    scrape_seconds_string(b, sizeof b, 10000);
    assert_string_equal(b, "10");
    scrape_seconds_string(b, sizeof b, 500);
    assert_string_equal(b, "0.5");
    scrape_seconds_string(b, sizeof b, 1250);
    assert_string_equal(b, "1.25");

    label_t q[] = {{"z", "1"}, {"a", "x y"}, {"z", "2&3"}, {"a", "é/"}};
    char *url = scrape_build_url("http", "127.0.0.1:9100", "/probe", q, 4);
    assert_string_equal(url, "http://127.0.0.1:9100/probe?a=x+y&a=%C3%A9%2F&z=1&z=2%263");
    free(url);
    url = scrape_build_url("https", "h:1", "/metrics", NULL, 0);
    assert_string_equal(url, "https://h:1/metrics");
    free(url);

    /* Prometheus 3's defaults, and a custom list as its acceptHeader builds it. */
    char *const defaults[] = {"OpenMetricsText1.0.0", "OpenMetricsText0.0.1", "PrometheusText1.0.0",
                              "PrometheusText0.0.4"};
    char *a = scrape_accept_header(defaults, 4, "allow-utf-8");
    assert_string_equal(a, SCRAPE_ACCEPT_HEADER);
    assert_string_equal(a, "application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.6,"
                           "application/openmetrics-text;version=0.0.1;q=0.5,"
                           "text/plain;version=1.0.0;escaping=allow-utf-8;q=0.4,"
                           "text/plain;version=0.0.4;q=0.3,*/*;q=0.2");
    free(a);
    char *const two[] = {"PrometheusText0.0.4", "OpenMetricsText1.0.0"};
    a = scrape_accept_header(two, 2, "underscores");
    assert_string_equal(a, "text/plain;version=0.0.4;q=0.6,"
                           "application/openmetrics-text;version=1.0.0;escaping=underscores;q=0.5,*/*;q=0.4");
    free(a);

    /* First scrape: the target's phase within the interval, reached within one interval. */
    for (int64_t now = 1700000000000; now < 1700000000000 + 20000; now += 777) {
        int64_t d = scrape_first_due(now, 15000, 123456789);
        assert_true(d >= 0 && d < 15000);
        assert_int_equal((now + d) % 15000, 123456789 % 15000);
    }
}

/* ---- scraping -------------------------------------------------------------------------------- */

static void test_basic_scrape(void **state) {
    (void)state;
    fx_t f;
    char yaml[2048];
    snprintf(yaml, sizeof yaml,
             "%s"
             "scrape_configs:\n"
             "  - job_name: j\n"
             "    metrics_path: /m1\n"
             "    params:\n"
             "      z: [last]\n"
             "      foo: [a, 'b c']\n"
             "    basic_auth:\n"
             "      username: u\n"
             "      password: p\n"
             "    static_configs:\n"
             "      - targets: ['127.0.0.1:%%d']\n"
             "        labels:\n"
             "          env: test\n"
             "          empty: ''\n",
             GLOBAL_300MS);
    server_start(&f.srv);
    server_text(&f.srv, "/m1",
                "# HELP foo_total A counter.\n# TYPE foo_total counter\nfoo_total{a=\"1\"} 3\nbar 5.5\n");
    fx_open(&f);
    char full[2048];
    snprintf(full, sizeof full, yaml, f.srv.port);
    config_t *c = load_config(full);
    pl_err_t err;
    assert_int_equal(scrape_manager_apply_config(f.m, c, &err), 0);
    config_free(c);

    /* Before the thread runs, the target is known and unknown-health. */
    tstatus_t st = target_status(f.m, "j");
    assert_int_equal(st.found, 1);
    assert_string_equal(st.health, "unknown");
    assert_int_equal(st.interval_ms, 300);
    assert_int_equal(st.timeout_ms, 300);
    char want_url[256];
    snprintf(want_url, sizeof want_url, "http://127.0.0.1:%d/m1?foo=a&foo=b+c&z=last", f.srv.port);
    assert_string_equal(st.url, want_url);
    char want_labels[256];
    snprintf(want_labels, sizeof want_labels, "{env=\"test\", instance=\"127.0.0.1:%d\", job=\"j\"}", f.srv.port);
    assert_string_equal(st.labels, want_labels);

    assert_int_equal(scrape_manager_start(f.m, &err), 0);
    assert_true(WAIT_FOR(nsamples(f.head, "up{job=\"j\"}") >= 2 && last_is(f.head, "up{job=\"j\"}", 1), 5000));

    char sel[256];
    snprintf(sel, sizeof sel, "foo_total{a=\"1\",env=\"test\",instance=\"127.0.0.1:%d\",job=\"j\"}", f.srv.port);
    sample_t foo, bar, up, s;
    assert_true(last_sample(f.head, sel, &foo));
    assert_true(foo.v == 3);
    assert_int_equal(nseries(f.head, "foo_total"), 1);
    /* The empty static label is not attached. */
    assert_int_equal(nseries(f.head, "{empty!=\"\"}"), 0);
    assert_true(last_sample(f.head, "bar{job=\"j\"}", &bar));
    assert_true(bar.v == 5.5);

    /* Synthetic series, with the target labels, at the scrape's timestamp. */
    qres_t q = query(f.head, "up");
    assert_int_equal(q.nseries, 1);
    char want_up[256];
    snprintf(want_up, sizeof want_up, "up{env=\"test\", instance=\"127.0.0.1:%d\", job=\"j\"}", f.srv.port);
    assert_string_equal(q.labels, want_up);
    qres_free(&q);
    /* Take a consistent moment: up and the samples of one scrape share a timestamp. */
    assert_true(last_sample(f.head, "up{job=\"j\"}", &up));
    assert_true(up.v == 1);
    q = query(f.head, "scrape_series_added{job=\"j\"}");
    assert_true(q.nsamples >= 2);
    assert_true(q.samples[0].v == 2); /* first scrape: both series new */
    assert_true(q.samples[1].v == 0); /* then: cache hits */
    int64_t first_ts = q.samples[0].t;
    qres_free(&q);
    q = query(f.head, "foo_total");
    assert_int_equal(q.samples[0].t, first_ts);
    qres_free(&q);
    assert_true(last_sample(f.head, "scrape_samples_scraped{job=\"j\"}", &s) && s.v == 2);
    assert_true(last_sample(f.head, "scrape_samples_post_metric_relabeling{job=\"j\"}", &s) && s.v == 2);
    assert_true(last_sample(f.head, "scrape_duration_seconds{job=\"j\"}", &s));
    assert_true(s.v > 0 && s.v < 5);

    /* What the target saw. */
    char req[8192];
    server_last_request(&f.srv, req, sizeof req);
    assert_non_null(strstr(req, "GET /m1?foo=a&foo=b+c&z=last HTTP/1.1\r\n"));
    assert_non_null(strstr(req, "\r\nAccept: " SCRAPE_ACCEPT_HEADER "\r\n"));
    assert_non_null(strstr(req, "\r\nUser-Agent: " SCRAPE_USER_AGENT "\r\n"));
    assert_non_null(strstr(req, "\r\nAccept-Encoding: gzip\r\n"));
    assert_non_null(strstr(req, "\r\nX-Prometheus-Scrape-Timeout-Seconds: 0.3\r\n"));
    assert_non_null(strstr(req, "\r\nAuthorization: Basic dTpw\r\n")); /* u:p */

    st = target_status(f.m, "j");
    assert_string_equal(st.health, "up");
    assert_string_equal(st.last_error, "");
    assert_true(st.last_scrape_ms > 0);

    /* stop() joins the thread and marks nothing stale. */
    scrape_manager_stop(f.m);
    assert_true(last_sample(f.head, sel, &foo) && foo.v == 3);
    assert_true(last_is(f.head, "up{job=\"j\"}", 1));
    fx_stop(&f);
}

static void test_honor_labels(void **state) {
    (void)state;
    fx_t f;
    char yaml[2048];
    snprintf(yaml, sizeof yaml,
             "%s"
             "scrape_configs:\n"
             "  - job_name: plain\n"
             "    metrics_path: /c\n"
             "    static_configs: [{targets: ['127.0.0.1:%%d']}]\n"
             "  - job_name: honor\n"
             "    honor_labels: true\n"
             "    metrics_path: /c\n"
             "    static_configs: [{targets: ['127.0.0.1:%%d']}]\n",
             GLOBAL_300MS);
    memset(&f, 0, sizeof f);
    server_start(&f.srv);
    server_text(&f.srv, "/c", "m{job=\"other\",instance=\"x\",exported_job=\"e\",dropped=\"\"} 1\n");
    fx_open(&f);
    char full[2048];
    snprintf(full, sizeof full, yaml, f.srv.port, f.srv.port);
    config_t *c = load_config(full);
    pl_err_t err;
    assert_int_equal(scrape_manager_apply_config(f.m, c, &err), 0);
    config_free(c);
    assert_int_equal(scrape_manager_start(f.m, &err), 0);
    assert_true(WAIT_FOR(nseries(f.head, "up") == 2, 5000));

    /* honor_labels false: the target's labels win; the clashing scraped ones
     * are kept as exported_*, and exported_job being taken by the target's
     * own exported_job pushes job to exported_exported_job. */
    char want[512];
    snprintf(want, sizeof want,
             "m{exported_exported_job=\"other\", exported_instance=\"x\", exported_job=\"e\", "
             "instance=\"127.0.0.1:%d\", job=\"plain\"}",
             f.srv.port);
    qres_t q = query(f.head, "m{job=\"plain\"}");
    assert_int_equal(q.nseries, 1);
    assert_string_equal(q.labels, want);
    qres_free(&q);

    /* honor_labels true: the scraped values win. */
    q = query(f.head, "m{job=\"other\"}");
    assert_int_equal(q.nseries, 1);
    assert_string_equal(q.labels, "m{exported_job=\"e\", instance=\"x\", job=\"other\"}");
    qres_free(&q);
    assert_int_equal(nseries(f.head, "m"), 2);
    /* The synthetic series always carry the target's own labels. */
    assert_int_equal(nseries(f.head, "up{job=\"honor\"}"), 1);
    assert_int_equal(nseries(f.head, "{dropped!=\"\"}"), 0);
    fx_stop(&f);
}

static void test_honor_timestamps(void **state) {
    (void)state;
    fx_t f;
    memset(&f, 0, sizeof f);
    server_start(&f.srv);
    int64_t exposed = pl_now_ms() - 60000;
    char body[128];
    snprintf(body, sizeof body, "m 7 %lld\n", (long long)exposed);
    server_text(&f.srv, "/t", body);
    char yaml[2048];
    snprintf(yaml, sizeof yaml,
             "%s"
             "scrape_configs:\n"
             "  - job_name: honor\n"
             "    metrics_path: /t\n"
             "    static_configs: [{targets: ['127.0.0.1:%d']}]\n"
             "  - job_name: ignore\n"
             "    honor_timestamps: false\n"
             "    metrics_path: /t\n"
             "    static_configs: [{targets: ['127.0.0.1:%d']}]\n",
             GLOBAL_300MS, f.srv.port, f.srv.port);
    fx_open(&f);
    config_t *c = load_config(yaml);
    pl_err_t err;
    assert_int_equal(scrape_manager_apply_config(f.m, c, &err), 0);
    config_free(c);
    assert_int_equal(scrape_manager_start(f.m, &err), 0);
    assert_true(
        WAIT_FOR(nsamples(f.head, "up{job=\"ignore\"}") >= 2 && nsamples(f.head, "up{job=\"honor\"}") >= 2, 5000));

    sample_t s, up;
    assert_true(last_sample(f.head, "m{job=\"honor\"}", &s));
    assert_int_equal(s.t, exposed);
    assert_true(s.v == 7);
    /* Same timestamp and value every scrape: one sample. */
    assert_int_equal(nsamples(f.head, "m{job=\"honor\"}"), 1);

    qres_t q = query(f.head, "m{job=\"ignore\"}");
    assert_true(q.nsamples >= 2);
    assert_true(q.samples[0].t > exposed + 30000);
    qres_free(&q);
    assert_true(last_sample(f.head, "up{job=\"ignore\"}", &up));
    /* The ignored timestamp is replaced by the scrape's. */
    q = query(f.head, "m{job=\"ignore\"}");
    bool found = false;
    for (size_t i = 0; i < q.nsamples; i++)
        found |= q.samples[i].t == up.t;
    qres_free(&q);
    assert_true(found);
    fx_stop(&f);
}

static void test_stale_marker_for_vanished_series(void **state) {
    (void)state;
    fx_t f;
    memset(&f, 0, sizeof f);
    server_start(&f.srv);
    server_text(&f.srv, "/s", "a 1\nb 2\n");
    char yaml[1024];
    snprintf(yaml, sizeof yaml,
             "%sscrape_configs:\n  - job_name: s\n    metrics_path: /s\n"
             "    static_configs: [{targets: ['127.0.0.1:%d']}]\n",
             GLOBAL_300MS, f.srv.port);
    fx_open(&f);
    config_t *c = load_config(yaml);
    pl_err_t err;
    assert_int_equal(scrape_manager_apply_config(f.m, c, &err), 0);
    config_free(c);
    assert_int_equal(scrape_manager_start(f.m, &err), 0);
    assert_true(WAIT_FOR(last_is(f.head, "b", 2), 5000));

    server_text(&f.srv, "/s", "a 1\n");
    assert_true(WAIT_FOR(last_is_stale(f.head, "b"), 5000));
    /* Bit-exact stale NaN at the timestamp of the scrape that missed b. */
    sample_t b;
    assert_true(last_sample(f.head, "b", &b));
    assert_true(is_stale_bits(b.v));
    qres_t q = query(f.head, "up");
    bool at_scrape = false;
    for (size_t i = 0; i < q.nsamples; i++)
        at_scrape |= q.samples[i].t == b.t && q.samples[i].v == 1;
    qres_free(&q);
    assert_true(at_scrape);
    /* a goes on; b gets one marker only, and nothing after it. */
    size_t nb = nsamples(f.head, "b");
    size_t na = nsamples(f.head, "a");
    assert_true(WAIT_FOR(nsamples(f.head, "a") >= na + 2, 5000));
    assert_int_equal(nsamples(f.head, "b"), nb);
    assert_true(last_is(f.head, "a", 1));

    /* b comes back: a normal value after the marker. */
    server_text(&f.srv, "/s", "a 1\nb 3\n");
    assert_true(WAIT_FOR(last_is(f.head, "b", 3), 5000));
    fx_stop(&f);
}

static void test_malformed_body(void **state) {
    (void)state;
    fx_t f;
    memset(&f, 0, sizeof f);
    server_start(&f.srv);
    server_text(&f.srv, "/x", "a 1\nb 2\n");
    char yaml[1024];
    snprintf(yaml, sizeof yaml,
             "%sscrape_configs:\n  - job_name: x\n    metrics_path: /x\n"
             "    static_configs: [{targets: ['127.0.0.1:%d']}]\n",
             GLOBAL_300MS, f.srv.port);
    fx_open(&f);
    config_t *c = load_config(yaml);
    pl_err_t err;
    assert_int_equal(scrape_manager_apply_config(f.m, c, &err), 0);
    config_free(c);
    assert_int_equal(scrape_manager_start(f.m, &err), 0);
    assert_true(WAIT_FOR(last_is(f.head, "a", 1) && last_is(f.head, "up", 1), 5000));

    /* Valid lines first, then garbage: none of it may be stored. */
    server_text(&f.srv, "/x", "a 99\nbrand_new 5\nb{ 3\n");
    assert_true(WAIT_FOR(last_is(f.head, "up", 0), 5000));
    assert_true(last_is_stale(f.head, "a"));
    assert_true(last_is_stale(f.head, "b"));
    assert_int_equal(nseries(f.head, "brand_new"), 0);
    qres_t q = query(f.head, "a");
    for (size_t i = 0; i < q.nsamples; i++)
        assert_false(q.samples[i].v == 99);
    qres_free(&q);
    /* Synthetic series still written; samples_scraped counts what parsed before the error. */
    sample_t s;
    assert_true(last_sample(f.head, "scrape_samples_scraped", &s));
    assert_true(s.v == 2);
    tstatus_t st = target_status(f.m, "x");
    assert_string_equal(st.health, "down");
    assert_true(strlen(st.last_error) > 0);

    /* Each failed scrape marks the series once, not again. */
    size_t na = nsamples(f.head, "a"), nup = nsamples(f.head, "up");
    assert_true(WAIT_FOR(nsamples(f.head, "up") >= nup + 2, 5000));
    assert_int_equal(nsamples(f.head, "a"), na);

    /* Healthy again: the series come back (from the cache: nothing new). */
    server_text(&f.srv, "/x", "a 1\nb 2\n");
    assert_true(WAIT_FOR(last_is(f.head, "up", 1), 5000));
    assert_true(last_is(f.head, "a", 1));
    assert_true(last_is(f.head, "scrape_series_added", 0));
    st = target_status(f.m, "x");
    assert_string_equal(st.health, "up");
    assert_string_equal(st.last_error, "");
    fx_stop(&f);
}

static void test_sample_limit(void **state) {
    (void)state;
    fx_t f;
    memset(&f, 0, sizeof f);
    server_start(&f.srv);
    server_text(&f.srv, "/l", "a 1\nb 2\n");
    char yaml[1024];
    snprintf(yaml, sizeof yaml,
             "%sscrape_configs:\n  - job_name: l\n    metrics_path: /l\n    sample_limit: 2\n"
             "    static_configs: [{targets: ['127.0.0.1:%d']}]\n",
             GLOBAL_300MS, f.srv.port);
    fx_open(&f);
    config_t *c = load_config(yaml);
    pl_err_t err;
    assert_int_equal(scrape_manager_apply_config(f.m, c, &err), 0);
    config_free(c);
    assert_int_equal(scrape_manager_start(f.m, &err), 0);
    /* At the limit is fine. */
    assert_true(WAIT_FOR(last_is(f.head, "up", 1) && last_is(f.head, "b", 2), 5000));
    assert_true(metric_value(f.m, "prometheus_target_scrapes_exceeded_sample_limit_total") == 0);

    server_text(&f.srv, "/l", "a 10\nb 20\nc 30\n");
    assert_true(WAIT_FOR(last_is(f.head, "up", 0), 5000));
    tstatus_t st = target_status(f.m, "l");
    assert_string_equal(st.last_error, "sample limit exceeded");
    assert_true(last_is(f.head, "scrape_samples_scraped", 3));
    assert_int_equal(nseries(f.head, "c"), 0);
    assert_true(last_is_stale(f.head, "a"));
    qres_t q = query(f.head, "{__name__=~\"a|b\"}");
    for (size_t i = 0; i < q.nsamples; i++)
        assert_false(q.samples[i].v >= 10);
    qres_free(&q);
    assert_true(metric_value(f.m, "prometheus_target_scrapes_exceeded_sample_limit_total") >= 1);
    fx_stop(&f);
}

static void test_http_errors(void **state) {
    (void)state;
    fx_t f;
    memset(&f, 0, sizeof f);
    server_start(&f.srv);
    server_route(&f.srv, "/slow", "a 1\n", "text/plain", 200, 1500, false);
    server_route(&f.srv, "/boom", "oops\n", "text/plain", 500, 0, false);
    char yaml[2048];
    snprintf(yaml, sizeof yaml,
             "%sscrape_configs:\n"
             "  - job_name: missing\n    metrics_path: /nothing-here\n"
             "    static_configs: [{targets: ['127.0.0.1:%d']}]\n"
             "  - job_name: fivehundred\n    metrics_path: /boom\n"
             "    static_configs: [{targets: ['127.0.0.1:%d']}]\n"
             "  - job_name: slow\n    metrics_path: /slow\n    scrape_timeout: 200ms\n"
             "    static_configs: [{targets: ['127.0.0.1:%d']}]\n",
             GLOBAL_300MS, f.srv.port, f.srv.port, f.srv.port);
    fx_open(&f);
    config_t *c = load_config(yaml);
    pl_err_t err;
    assert_int_equal(scrape_manager_apply_config(f.m, c, &err), 0);
    config_free(c);
    assert_int_equal(scrape_manager_start(f.m, &err), 0);
    assert_true(WAIT_FOR(nseries(f.head, "up") == 3 && nsamples(f.head, "up{job=\"slow\"}") >= 1, 8000));

    assert_true(last_is(f.head, "up{job=\"missing\"}", 0));
    tstatus_t st = target_status(f.m, "missing");
    assert_string_equal(st.health, "down");
    assert_string_equal(st.last_error, "server returned HTTP status 404 Not Found");

    assert_true(last_is(f.head, "up{job=\"fivehundred\"}", 0));
    st = target_status(f.m, "fivehundred");
    assert_string_equal(st.last_error, "server returned HTTP status 500 Internal Server Error");

    assert_true(last_is(f.head, "up{job=\"slow\"}", 0));
    st = target_status(f.m, "slow");
    char want[256];
    snprintf(want, sizeof want, "Get \"http://127.0.0.1:%d/slow\": context deadline exceeded", f.srv.port);
    assert_string_equal(st.last_error, want);
    /* The scrape gave up at its timeout, not when the server answered. */
    sample_t d;
    assert_true(last_sample(f.head, "scrape_duration_seconds{job=\"slow\"}", &d));
    assert_true(d.v >= 0.15 && d.v < 1.2);
    assert_int_equal(nseries(f.head, "a"), 0);
    assert_int_equal(nseries(f.head, "oops"), 0);
    fx_stop(&f);
}

static void test_reload(void **state) {
    (void)state;
    test_server_t s2;
    fx_t f;
    memset(&f, 0, sizeof f);
    server_start(&f.srv);
    server_start(&s2);
    server_text(&f.srv, "/metrics", "m 1\n");
    server_text(&s2, "/metrics", "m 2\n");
    char yaml[1024];
    snprintf(yaml, sizeof yaml,
             "%sscrape_configs:\n  - job_name: r\n"
             "    static_configs: [{targets: ['127.0.0.1:%d', '127.0.0.1:%d']}]\n",
             GLOBAL_300MS, f.srv.port, s2.port);
    fx_open(&f);
    config_t *c = load_config(yaml);
    pl_err_t err;
    assert_int_equal(scrape_manager_apply_config(f.m, c, &err), 0);
    config_free(c);
    assert_int_equal(scrape_manager_start(f.m, &err), 0);
    char sel1[128], sel2[128], up2[128], added1[128];
    snprintf(sel1, sizeof sel1, "m{instance=\"127.0.0.1:%d\"}", f.srv.port);
    snprintf(sel2, sizeof sel2, "m{instance=\"127.0.0.1:%d\"}", s2.port);
    snprintf(up2, sizeof up2, "up{instance=\"127.0.0.1:%d\"}", s2.port);
    snprintf(added1, sizeof added1, "scrape_series_added{instance=\"127.0.0.1:%d\"}", f.srv.port);
    assert_true(WAIT_FOR(last_is(f.head, sel1, 1) && last_is(f.head, sel2, 2), 5000));
    assert_true(metric_value(f.m, "prometheus_target_scrape_pool_targets{scrape_job=\"r\"}") == 2);

    /* Reload while running: the second target goes, the first stays (with a
     * new interval) and keeps its cache. */
    snprintf(yaml, sizeof yaml,
             "global:\n  scrape_interval: 200ms\n  scrape_timeout: 150ms\n"
             "scrape_configs:\n  - job_name: r\n"
             "    static_configs: [{targets: ['127.0.0.1:%d']}]\n",
             f.srv.port);
    c = load_config(yaml);
    int64_t reload_at = pl_now_ms();
    assert_int_equal(scrape_manager_apply_config(f.m, c, &err), 0);
    config_free(c);
    target_info_t *ts = NULL;
    size_t n = scrape_manager_targets(f.m, &ts);
    assert_int_equal(n, 1);
    assert_int_equal(ts[0].interval_ms, 200);
    assert_int_equal(ts[0].timeout_ms, 150);
    /* The same target: its state survived (a new one would show no scrape yet). */
    assert_true(ts[0].last_scrape_ms > 0);
    assert_string_not_equal(ts[0].health, "unknown");
    scrape_targets_free(ts, n);
    assert_true(metric_value(f.m, "prometheus_target_scrape_pool_targets{scrape_job=\"r\"}") == 1);

    /* The removed target's series and its synthetic series go stale (after
     * about two intervals, as in Prometheus). */
    assert_true(WAIT_FOR(last_is_stale(f.head, sel2) && last_is_stale(f.head, up2), 5000));
    sample_t st2;
    assert_true(last_sample(f.head, sel2, &st2));
    assert_true(st2.t >= reload_at - 400);
    /* The kept one goes on without re-creating anything (three scrapes of
     * it, however slowly a loaded machine runs them). */
    assert_true(WAIT_FOR(nsamples(f.head, added1) >= 3, 5000));
    qres_t q = query(f.head, added1);
    assert_true(q.nsamples >= 3);
    assert_true(q.samples[0].v == 1);
    for (size_t i = 1; i < q.nsamples; i++)
        assert_true(q.samples[i].v == 0);
    qres_free(&q);
    sample_t s1;
    assert_true(last_sample(f.head, sel1, &s1));
    assert_true(s1.v == 1 && s1.t > reload_at);
    assert_false(last_is_stale(f.head, sel1));

    /* A reload that changes nothing keeps everything. */
    c = load_config(yaml);
    assert_int_equal(scrape_manager_apply_config(f.m, c, &err), 0);
    config_free(c);
    assert_false(last_is_stale(f.head, sel1));
    assert_true(metric_value(f.m, "prometheus_target_scrape_pools_total") == 1);
    assert_true(metric_value(f.m, "prometheus_target_scrape_pool_reloads_total") == 2); /* the two reloads */
    fx_stop(&f);
    server_stop(&s2);
}

static void test_gzip_and_openmetrics(void **state) {
    (void)state;
    fx_t f;
    memset(&f, 0, sizeof f);
    server_start(&f.srv);
    /* A body big enough that gzip matters. */
    strbuf_t big = STRBUF_INIT;
    for (int i = 0; i < 500; i++)
        strbuf_printf(&big, "g{i=\"%d\"} %d\n", i, i);
    server_route(&f.srv, "/gz", big.data, "text/plain; version=0.0.4", 200, 0, true);
    strbuf_free(&big);
    /* OpenMetrics: timestamps are seconds with a fraction, and # EOF ends the body. */
    int64_t secs = pl_now_ms() / 1000 - 30;
    char om[256];
    snprintf(om, sizeof om, "# TYPE x counter\n# HELP x An OM counter.\nx_total 3 %lld.250\n# EOF\n", (long long)secs);
    server_route(&f.srv, "/om", om, "application/openmetrics-text; version=1.0.0; charset=utf-8", 200, 0, false);
    char yaml[1024];
    snprintf(yaml, sizeof yaml,
             "%sscrape_configs:\n"
             "  - job_name: gz\n    metrics_path: /gz\n"
             "    static_configs: [{targets: ['127.0.0.1:%d']}]\n"
             "  - job_name: om\n    metrics_path: /om\n"
             "    static_configs: [{targets: ['127.0.0.1:%d']}]\n",
             GLOBAL_300MS, f.srv.port, f.srv.port);
    fx_open(&f);
    config_t *c = load_config(yaml);
    pl_err_t err;
    assert_int_equal(scrape_manager_apply_config(f.m, c, &err), 0);
    config_free(c);
    assert_int_equal(scrape_manager_start(f.m, &err), 0);
    assert_true(WAIT_FOR(last_is(f.head, "up{job=\"gz\"}", 1) && last_is(f.head, "up{job=\"om\"}", 1), 5000));

    assert_int_equal(nseries(f.head, "g"), 500);
    assert_true(last_is(f.head, "g{i=\"499\"}", 499));
    assert_true(last_is(f.head, "scrape_samples_scraped{job=\"gz\"}", 500));
    /* The server answered /gz with gzip (it does only when asked with
     * Accept-Encoding: gzip), so what landed was decoded by libcurl. */
    pthread_mutex_lock(&f.srv.mu);
    bool gz = false, om_gz = true;
    for (int i = 0; i < f.srv.nroutes; i++) {
        if (strcmp(f.srv.routes[i].path, "/gz") == 0) gz = f.srv.routes[i].served_gzip;
        if (strcmp(f.srv.routes[i].path, "/om") == 0) om_gz = f.srv.routes[i].served_gzip;
    }
    pthread_mutex_unlock(&f.srv.mu);
    assert_true(gz);
    assert_false(om_gz);

    sample_t s;
    assert_true(last_sample(f.head, "x_total{job=\"om\"}", &s));
    assert_true(s.v == 3);
    assert_int_equal(s.t, secs * 1000 + 250);
    fx_stop(&f);
}

static void test_content_type_rules(void **state) {
    (void)state;
    fx_t f;
    memset(&f, 0, sizeof f);
    server_start(&f.srv);
    server_route(&f.srv, "/blank", "a 1\n", "", 200, 0, false);
    server_route(&f.srv, "/html", "a 1\n", "text/html; charset=utf-8", 200, 0, false);
    server_route(&f.srv, "/empty", "", "", 200, 0, false);
    char yaml[2048];
    snprintf(yaml, sizeof yaml,
             "%sscrape_configs:\n"
             "  - job_name: blank\n    metrics_path: /blank\n"
             "    static_configs: [{targets: ['127.0.0.1:%d']}]\n"
             "  - job_name: fallback\n    metrics_path: /blank\n    fallback_scrape_protocol: PrometheusText0.0.4\n"
             "    static_configs: [{targets: ['127.0.0.1:%d']}]\n"
             "  - job_name: html\n    metrics_path: /html\n"
             "    static_configs: [{targets: ['127.0.0.1:%d']}]\n"
             "  - job_name: empty\n    metrics_path: /empty\n"
             "    static_configs: [{targets: ['127.0.0.1:%d']}]\n",
             GLOBAL_300MS, f.srv.port, f.srv.port, f.srv.port, f.srv.port);
    fx_open(&f);
    config_t *c = load_config(yaml);
    pl_err_t err;
    assert_int_equal(scrape_manager_apply_config(f.m, c, &err), 0);
    config_free(c);
    assert_int_equal(scrape_manager_start(f.m, &err), 0);
    assert_true(WAIT_FOR(nseries(f.head, "up") == 4, 5000));

    assert_true(last_is(f.head, "up{job=\"blank\"}", 0));
    assert_string_equal(target_status(f.m, "blank").last_error,
                        "non-compliant scrape target sending blank Content-Type and no fallback_scrape_protocol "
                        "specified for target");
    assert_true(last_is(f.head, "up{job=\"fallback\"}", 1));
    assert_true(last_is(f.head, "a{job=\"fallback\"}", 1));
    assert_int_equal(nseries(f.head, "a{job=\"blank\"}"), 0);
    assert_true(last_is(f.head, "up{job=\"html\"}", 0));
    assert_string_equal(target_status(f.m, "html").last_error,
                        "received unsupported Content-Type \"text/html; charset=utf-8\" and no "
                        "fallback_scrape_protocol specified for target");
    /* An empty body is an empty scrape, not an error. */
    assert_true(last_is(f.head, "up{job=\"empty\"}", 1));
    assert_true(last_is(f.head, "scrape_samples_scraped{job=\"empty\"}", 0));
    fx_stop(&f);
}

static void test_duplicates_and_limits(void **state) {
    (void)state;
    fx_t f;
    memset(&f, 0, sizeof f);
    server_start(&f.srv);
    server_text(&f.srv, "/dup", "d 1\nd 2\nother 3\n");
    server_text(&f.srv, "/labels", "m{a=\"1\",b=\"2\"} 1\n");
    server_text(&f.srv, "/long", "m{a=\"a-rather-long-value\"} 1\n");
    strbuf_t big = STRBUF_INIT;
    for (int i = 0; i < 20; i++)
        strbuf_printf(&big, "big_series_number_%d 1\n", i);
    server_text(&f.srv, "/big", big.data);
    strbuf_free(&big);
    char yaml[2048];
    snprintf(yaml, sizeof yaml,
             "%sscrape_configs:\n"
             "  - job_name: dup\n    metrics_path: /dup\n"
             "    static_configs: [{targets: ['127.0.0.1:%d']}]\n"
             "  - job_name: labels\n    metrics_path: /labels\n    label_limit: 4\n"
             "    static_configs: [{targets: ['127.0.0.1:%d']}]\n"
             "  - job_name: long\n    metrics_path: /long\n    label_value_length_limit: 10\n"
             "    static_configs: [{targets: ['127.0.0.1:%d']}]\n"
             "  - job_name: big\n    metrics_path: /big\n    body_size_limit: 100B\n"
             "    static_configs: [{targets: ['127.0.0.1:%d']}]\n",
             GLOBAL_300MS, f.srv.port, f.srv.port, f.srv.port, f.srv.port);
    fx_open(&f);
    config_t *c = load_config(yaml);
    pl_err_t err;
    assert_int_equal(scrape_manager_apply_config(f.m, c, &err), 0);
    config_free(c);
    assert_int_equal(scrape_manager_start(f.m, &err), 0);
    assert_true(WAIT_FOR(nseries(f.head, "up") == 4, 5000));

    /* A series twice without timestamps: the first is kept, the scrape is fine. */
    assert_true(last_is(f.head, "up{job=\"dup\"}", 1));
    assert_true(last_is(f.head, "d", 1));
    qres_t q = query(f.head, "d");
    for (size_t i = 0; i < q.nsamples; i++)
        assert_true(q.samples[i].v == 1);
    qres_free(&q);
    assert_true(last_is(f.head, "other", 3));
    assert_true(last_is(f.head, "scrape_samples_scraped{job=\"dup\"}", 3));
    assert_true(metric_value(f.m, "prometheus_target_scrapes_sample_duplicate_timestamp_total") >= 1);

    /* __name__, a, b, instance, job: 5 labels over a limit of 4. */
    assert_true(last_is(f.head, "up{job=\"labels\"}", 0));
    assert_string_equal(target_status(f.m, "labels").last_error,
                        "label_limit exceeded (metric: m, number of labels: 5, limit: 4)");
    assert_true(last_is(f.head, "up{job=\"long\"}", 0));
    assert_string_equal(target_status(f.m, "long").last_error,
                        "label_value_length_limit exceeded (metric: m, label name: a, value: \"a-rather-long-value\", "
                        "length: 19, limit: 10)");
    assert_int_equal(nseries(f.head, "m"), 0);
    assert_true(metric_value(f.m, "prometheus_target_scrape_pool_exceeded_label_limits_total") >= 2);

    assert_true(last_is(f.head, "up{job=\"big\"}", 0));
    assert_string_equal(target_status(f.m, "big").last_error, "body size limit exceeded");
    assert_int_equal(nseries(f.head, "{__name__=~\"big_series.*\"}"), 0);
    assert_true(metric_value(f.m, "prometheus_target_scrapes_exceeded_body_size_limit_total") >= 1);
    fx_stop(&f);
}

static void test_target_limit_and_metrics(void **state) {
    (void)state;
    fx_t f;
    memset(&f, 0, sizeof f);
    server_start(&f.srv);
    server_text(&f.srv, "/metrics", "a 1\n");
    char yaml[2048];
    snprintf(yaml, sizeof yaml,
             "%sscrape_configs:\n"
             "  - job_name: limited\n    target_limit: 1\n"
             "    static_configs: [{targets: ['127.0.0.1:%d', 'localhost:%d']}]\n"
             "  - job_name: fine\n"
             "    static_configs: [{targets: ['127.0.0.1:%d', '127.0.0.1:%d']}]\n", /* listed twice: one target */
             GLOBAL_300MS, f.srv.port, f.srv.port, f.srv.port, f.srv.port);
    fx_open(&f);
    config_t *c = load_config(yaml);
    pl_err_t err;
    assert_int_equal(scrape_manager_apply_config(f.m, c, &err), 0);
    config_free(c);
    assert_int_equal(scrape_manager_start(f.m, &err), 0);
    assert_true(WAIT_FOR(nseries(f.head, "up") == 3 && nsamples(f.head, "up{job=\"fine\"}") >= 3, 5000));

    assert_int_equal(nseries(f.head, "up{job=\"limited\"}"), 2);
    qres_t q = query(f.head, "up{job=\"limited\"}");
    for (size_t i = 0; i < q.nsamples; i++)
        assert_true(q.samples[i].v == 0);
    qres_free(&q);
    assert_int_equal(nseries(f.head, "a{job=\"limited\"}"), 0);
    tstatus_t st = target_status(f.m, "limited");
    assert_int_equal(st.found, 2);
    assert_string_equal(st.last_error, "target_limit exceeded (number of targets: 2, limit: 1)");
    assert_int_equal(target_status(f.m, "fine").found, 1);

    assert_true(metric_value(f.m, "prometheus_target_scrape_pools_total") == 2);
    assert_true(metric_value(f.m, "prometheus_target_scrape_pool_exceeded_target_limit_total") == 1);
    assert_true(metric_value(f.m, "prometheus_sd_discovered_targets{config=\"fine\",name=\"scrape\"}") == 2);
    assert_true(metric_value(f.m, "prometheus_target_scrape_pool_targets{scrape_job=\"fine\"}") == 1);
    assert_true(metric_value(f.m, "prometheus_target_interval_length_seconds_count{interval=\"300ms\"}") >= 2);
    double median = metric_value(f.m, "prometheus_target_interval_length_seconds{interval=\"300ms\",quantile=\"0.5\"}");
    assert_true(median > 0.1 && median < 1.0);

    strbuf_t sb = STRBUF_INIT;
    scrape_manager_write_metrics(f.m, &sb);
    assert_non_null(strstr(sb.data, "# HELP prometheus_target_interval_length_seconds Actual intervals between "
                                    "scrapes.\n# TYPE prometheus_target_interval_length_seconds summary\n"));
    assert_non_null(strstr(sb.data, "# TYPE prometheus_target_scrapes_exceeded_sample_limit_total counter\n"));
    assert_non_null(strstr(sb.data, "# TYPE prometheus_target_scrape_pool_targets gauge\n"));
    assert_non_null(strstr(sb.data, "prometheus_target_scrapes_sample_out_of_order_total 0\n"));
    strbuf_free(&sb);
    fx_stop(&f);
}

static void test_apply_before_start_and_restart(void **state) {
    (void)state;
    /* Reloads with no thread running, removal of a never-scraped target,
     * a second start after stop, and free without stop. */
    fx_t f;
    memset(&f, 0, sizeof f);
    server_start(&f.srv);
    server_text(&f.srv, "/metrics", "a 1\n");
    fx_open(&f);
    char yaml[1024];
    snprintf(yaml, sizeof yaml,
             "%sscrape_configs:\n  - job_name: one\n    static_configs: [{targets: ['127.0.0.1:%d']}]\n", GLOBAL_300MS,
             f.srv.port);
    config_t *c = load_config(yaml);
    pl_err_t err;
    assert_int_equal(scrape_manager_apply_config(f.m, c, &err), 0);
    config_free(c);
    c = load_config("scrape_configs: []\n");
    assert_int_equal(scrape_manager_apply_config(f.m, c, &err), 0);
    config_free(c);
    target_info_t *ts = NULL;
    assert_int_equal(scrape_manager_targets(f.m, &ts), 0);
    scrape_targets_free(ts, 0);

    c = load_config(yaml);
    assert_int_equal(scrape_manager_apply_config(f.m, c, &err), 0);
    config_free(c);
    assert_int_equal(scrape_manager_start(f.m, &err), 0);
    assert_true(WAIT_FOR(last_is(f.head, "a", 1), 5000));
    scrape_manager_stop(f.m);
    size_t n = nsamples(f.head, "a");
    assert_int_equal(scrape_manager_start(f.m, &err), 0);
    assert_true(WAIT_FOR(nsamples(f.head, "a") > n, 5000));
    /* free() stops the thread itself. */
    scrape_manager_free(f.m);
    db_close(f.db, NULL);
    head_free(f.head);
    server_stop(&f.srv);
}


/* ---- relabeling, discovery, metadata (issue 5) ------------------------------------------------- */

/* The labels of the one dropped target of job, braces-formatted, or "" (and the count). */
static int dropped_of(scrape_manager_t *m, const char *job, char *out, size_t outsz, size_t *count) {
    dropped_target_info_t *d = NULL;
    scrape_pool_count_t *pools = NULL;
    size_t np = 0;
    size_t n = scrape_manager_dropped(m, &d, &pools, &np);
    int found = 0;
    out[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        if (strcmp(d[i].scrape_pool, job) != 0) continue;
        if (found++ == 0) {
            strbuf_t sb = STRBUF_INIT;
            labels_format_braces(&sb, d[i].discovered_labels, d[i].ndiscovered);
            snprintf(out, outsz, "%s", sb.data ? sb.data : "");
            strbuf_free(&sb);
        }
    }
    *count = 0;
    for (size_t i = 0; i < np; i++)
        if (strcmp(pools[i].scrape_pool, job) == 0) *count = pools[i].ndropped;
    scrape_dropped_free(d, n, pools, np);
    return found;
}

static void test_target_relabel(void **state) {
    (void)state;
    fx_t f;
    memset(&f, 0, sizeof f);
    server_start(&f.srv);
    server_text(&f.srv, "/probe", "probe_ok 1\n");
    server_text(&f.srv, "/metrics", "plain 1\n");
    char yaml[4096];
    snprintf(yaml, sizeof yaml,
             "%sscrape_configs:\n"
             /* blackbox style: the listed address becomes a param, the scrape goes elsewhere */
             "  - job_name: bb\n"
             "    metrics_path: /probe\n"
             "    params: {module: [http_2xx]}\n"
             "    static_configs: [{targets: ['example.org:80'], labels: {team: a}}]\n"
             "    relabel_configs:\n"
             "      - source_labels: [__address__]\n"
             "        target_label: __param_target\n"
             "      - source_labels: [__param_target]\n"
             "        target_label: instance\n"
             "      - target_label: __address__\n"
             "        replacement: 127.0.0.1:%d\n"
             "      - source_labels: [__scrape_interval__]\n"
             "        target_label: interval\n"
             "      - target_label: __param_module\n"
             "        replacement: tcp\n"
             "      - source_labels: [team]\n"
             "        regex: (.*)\n"
             "        target_label: __tmp_team\n"
             "      - regex: team\n"
             "        action: labeldrop\n"
             "      - regex: __tmp_(.*)\n"
             "        action: labelmap\n"
             "        replacement: owner_$1\n"
             /* keep/drop: only the target labeled keep=yes survives */
             "  - job_name: filt\n"
             "    static_configs:\n"
             "      - targets: ['127.0.0.1:%d']\n"
             "        labels: {keep: 'yes'}\n"
             "      - targets: ['localhost:%d', 'localhost:1']\n"
             "        labels: {keep: 'no'}\n"
             "    relabel_configs:\n"
             "      - source_labels: [keep]\n"
             "        regex: 'yes'\n"
             "        action: keep\n"
             /* interval and timeout through the meta labels; keep_dropped_targets bounds the list */
             "  - job_name: meta\n"
             "    keep_dropped_targets: 1\n"
             "    static_configs: [{targets: ['127.0.0.1:%d', 'a:1', 'b:1', 'c:1']}]\n"
             "    relabel_configs:\n"
             "      - source_labels: [__address__]\n"
             "        regex: '127.*'\n"
             "        action: keep\n"
             "      - target_label: __scrape_interval__\n"
             "        replacement: 600ms\n"
             "      - target_label: __scrape_timeout__\n"
             "        replacement: 200ms\n"
             "      - target_label: __scheme__\n"
             "        replacement: http\n"
             "      - source_labels: [__metrics_path__]\n"
             "        target_label: path\n",
             GLOBAL_300MS, f.srv.port, f.srv.port, f.srv.port, f.srv.port);
    fx_open(&f);
    config_t *c = load_config(yaml);
    pl_err_t err;
    assert_int_equal(scrape_manager_apply_config(f.m, c, &err), 0);
    config_free(c);

    tstatus_t st = target_status(f.m, "bb");
    assert_int_equal(st.found, 1);
    char want[512];
    /* __param_module replaced the config's module; __param_target became a new param. */
    snprintf(want, sizeof want, "http://127.0.0.1:%d/probe?module=tcp&target=example.org%%3A80", f.srv.port);
    assert_string_equal(st.url, want);
    /* __-prefixed labels are gone; instance is the relabeled one, not __address__. */
    assert_string_equal(st.labels,
                        "{instance=\"example.org:80\", interval=\"300ms\", job=\"bb\", owner_team=\"a\"}");

    /* Discovered labels: before relabeling, with the meta labels. */
    target_info_t *ts = NULL;
    size_t n = scrape_manager_targets(f.m, &ts);
    bool seen = false;
    for (size_t i = 0; i < n; i++) {
        if (strcmp(ts[i].scrape_pool, "bb") != 0) continue;
        seen = true;
        strbuf_t sb = STRBUF_INIT;
        labels_format_braces(&sb, ts[i].discovered_labels, ts[i].ndiscovered);
        assert_string_equal(sb.data, "{__address__=\"example.org:80\", __metrics_path__=\"/probe\", "
                                     "__param_module=\"http_2xx\", __scheme__=\"http\", __scrape_interval__=\"300ms\", "
                                     "__scrape_timeout__=\"300ms\", job=\"bb\", team=\"a\"}");
        strbuf_free(&sb);
    }
    scrape_targets_free(ts, n);
    assert_true(seen);

    st = target_status(f.m, "filt");
    assert_int_equal(st.found, 1);
    snprintf(want, sizeof want, "{instance=\"127.0.0.1:%d\", job=\"filt\", keep=\"yes\"}", f.srv.port);
    assert_string_equal(st.labels, want);
    char dl[512];
    size_t ndropped = 0;
    assert_int_equal(dropped_of(f.m, "filt", dl, sizeof dl, &ndropped), 2);
    assert_int_equal(ndropped, 2);
    snprintf(want, sizeof want,
             "{__address__=\"localhost:%d\", __metrics_path__=\"/metrics\", __scheme__=\"http\", "
             "__scrape_interval__=\"300ms\", __scrape_timeout__=\"300ms\", job=\"filt\", keep=\"no\"}",
             f.srv.port);
    assert_string_equal(dl, want);

    st = target_status(f.m, "meta");
    assert_int_equal(st.interval_ms, 600);
    assert_int_equal(st.timeout_ms, 200);
    snprintf(want, sizeof want, "{instance=\"127.0.0.1:%d\", job=\"meta\", path=\"/metrics\"}", f.srv.port);
    assert_string_equal(st.labels, want);
    /* Three dropped, one kept in the list (keep_dropped_targets: 1), all three counted. */
    assert_int_equal(dropped_of(f.m, "meta", dl, sizeof dl, &ndropped), 1);
    assert_int_equal(ndropped, 3);

    /* The scrape goes where relabeling sent it and carries the target labels. */
    assert_int_equal(scrape_manager_start(f.m, &err), 0);
    assert_true(WAIT_FOR(last_is(f.head, "probe_ok{instance=\"example.org:80\",owner_team=\"a\"}", 1), 5000));
    char req[8192];
    assert_true(WAIT_FOR((server_last_request(&f.srv, req, sizeof req), strstr(req, "GET /probe?") != NULL), 5000));
    assert_non_null(strstr(req, "GET /probe?module=tcp&target=example.org%3A80 HTTP/1.1"));
    assert_true(WAIT_FOR(last_is(f.head, "up{job=\"filt\"}", 1), 5000));
    assert_int_equal(nseries(f.head, "up{job=\"filt\"}"), 1);
    fx_stop(&f);
}

static size_t cache_flag_count(scrape_manager_t *m, const char *job, uint32_t flag) {
    size_t n = 0;
    for (size_t i = 0; i < m->ntargets; i++) {
        const scrape_target_t *t = m->targets[i];
        if (strcmp(t->job, job) != 0) continue;
        for (size_t k = 0; k < t->cache.cap; k++)
            if ((t->cache.slots[k].flags & SCRAPE_CACHE_USED) && (t->cache.slots[k].flags & flag)) n++;
    }
    return n;
}

static void test_metric_relabel(void **state) {
    (void)state;
    fx_t f;
    memset(&f, 0, sizeof f);
    server_start(&f.srv);
    /* 30 user ids over 3 endpoints, plus a metric to drop and one to rename. */
    strbuf_t body = STRBUF_INIT;
    strbuf_puts(&body, "# TYPE http_requests_total counter\n");
    for (int u = 0; u < 30; u++)
        strbuf_printf(&body, "http_requests_total{user_id=\"u%d\",endpoint=\"/e%d\"} %d\n", u, u % 3, u);
    strbuf_puts(&body, "debug_noise{x=\"1\"} 1\ndebug_noise{x=\"2\"} 2\nold_name{a=\"b\"} 5\n");
    server_text(&f.srv, "/m", body.data);
    strbuf_free(&body);
    char yaml[2048];
    snprintf(yaml, sizeof yaml,
             "%sscrape_configs:\n"
             "  - job_name: mr\n"
             "    metrics_path: /m\n"
             "    sample_limit: 32\n" /* 30 + 2 would be 35 before relabeling */
             "    static_configs: [{targets: ['127.0.0.1:%d']}]\n"
             "    metric_relabel_configs:\n"
             "      - source_labels: [__name__]\n"
             "        regex: debug_.*\n"
             "        action: drop\n"
             "      - source_labels: [__name__]\n"
             "        regex: old_name\n"
             "        target_label: __name__\n"
             "        replacement: new_name\n"
             "      - regex: user_id\n"
             "        action: labeldrop\n",
             GLOBAL_300MS, f.srv.port);
    fx_open(&f);
    config_t *c = load_config(yaml);
    pl_err_t err;
    assert_int_equal(scrape_manager_apply_config(f.m, c, &err), 0);
    config_free(c);
    assert_int_equal(scrape_manager_start(f.m, &err), 0);
    assert_true(WAIT_FOR(nsamples(f.head, "up") >= 3, 5000));

    assert_true(last_is(f.head, "up", 1));
    /* 30 series collapse onto 3 (the first of each endpoint is kept; the
     * rest are duplicates of it within the scrape). */
    assert_int_equal(nseries(f.head, "http_requests_total"), 3);
    assert_int_equal(nseries(f.head, "{user_id!=\"\"}"), 0);
    assert_true(last_is(f.head, "http_requests_total{endpoint=\"/e1\"}", 1));
    assert_int_equal(nseries(f.head, "{__name__=~\"debug_.*\"}"), 0);
    assert_int_equal(nseries(f.head, "old_name"), 0);
    assert_true(last_is(f.head, "new_name{a=\"b\",job=\"mr\"}", 5));
    /* Scraped 33; 31 left after relabeling (the 2 debug_noise dropped). */
    assert_true(last_is(f.head, "scrape_samples_scraped", 33));
    assert_true(last_is(f.head, "scrape_samples_post_metric_relabeling", 31));
    assert_true(metric_value(f.m, "prometheus_target_scrapes_sample_duplicate_timestamp_total") >= 27);

    /* The decisions are cached: the dropped series stay in the cache as
     * dropped, the kept ones with their refs; a steady scrape adds nothing. */
    scrape_manager_stop(f.m);
    assert_int_equal(cache_flag_count(f.m, "mr", SCRAPE_CACHE_DROPPED), 2);
    assert_true(last_is(f.head, "scrape_series_added", 0));
    /* The type of the family is known per target. */
    target_metadata_t *rows = NULL;
    size_t nr = scrape_manager_metadata(f.m, "http_requests_total", &rows);
    assert_int_equal(nr, 1);
    assert_string_equal(rows[0].type, "counter");
    assert_string_equal(rows[0].scrape_pool, "mr");
    scrape_metadata_free(rows, nr);
    fx_stop(&f);
}

static void test_metric_relabel_errors_and_limits(void **state) {
    (void)state;
    fx_t f;
    memset(&f, 0, sizeof f);
    server_start(&f.srv);
    server_text(&f.srv, "/a", "a 1\nb 2\n");
    server_text(&f.srv, "/n", "m{a_rather_long_label_name=\"1\"} 1\n");
    char yaml[2048];
    snprintf(yaml, sizeof yaml,
             "%s"
             "  sample_limit: 1\n" /* global, inherited by the jobs */
             "scrape_configs:\n"
             "  - job_name: noname\n"
             "    metrics_path: /a\n"
             "    sample_limit: 0\n"
             "    static_configs: [{targets: ['127.0.0.1:%d']}]\n"
             "    metric_relabel_configs:\n"
             "      - regex: __name__\n"
             "        action: labeldrop\n"
             "  - job_name: global_limit\n"
             "    metrics_path: /a\n"
             "    static_configs: [{targets: ['127.0.0.1:%d']}]\n"
             "  - job_name: namelen\n"
             "    metrics_path: /n\n"
             "    label_name_length_limit: 10\n"
             "    static_configs: [{targets: ['127.0.0.1:%d']}]\n",
             GLOBAL_300MS, f.srv.port, f.srv.port, f.srv.port);
    fx_open(&f);
    config_t *c = load_config(yaml);
    pl_err_t err;
    assert_int_equal(scrape_manager_apply_config(f.m, c, &err), 0);
    config_free(c);
    assert_int_equal(scrape_manager_start(f.m, &err), 0);
    assert_true(WAIT_FOR(nseries(f.head, "up") == 3 && target_status(f.m, "namelen").last_scrape_ms > 0 &&
                             target_status(f.m, "noname").last_scrape_ms > 0 &&
                             target_status(f.m, "global_limit").last_scrape_ms > 0,
                         5000));
    assert_true(last_is(f.head, "up{job=\"noname\"}", 0));
    assert_string_equal(target_status(f.m, "noname").last_error, "missing metric name (__name__ label)");
    assert_true(last_is(f.head, "up{job=\"global_limit\"}", 0));
    assert_string_equal(target_status(f.m, "global_limit").last_error, "sample limit exceeded");
    assert_true(last_is(f.head, "up{job=\"namelen\"}", 0));
    assert_string_equal(target_status(f.m, "namelen").last_error,
                        "label_name_length_limit exceeded (metric: m, label name: a_rather_long_label_name, length: "
                        "24, limit: 10)");
    assert_int_equal(nseries(f.head, "{__name__=~\"a|b|m\"}"), 0);
    fx_stop(&f);
}

/* ---- file_sd ------------------------------------------------------------------------------------ */

static void test_file_sd_parse(void **state) {
    (void)state;
    sd_groups_t g = {0};
    pl_err_t err;
    const char *json = "[{\"targets\": [\"a:1\", \"b:2\"], \"labels\": {\"env\": \"prod\", \"z\": \"\"}},"
                       " {\"targets\": [\"c:3\"]}, {\"labels\": {\"only\": \"labels\"}}]";
    assert_int_equal(file_sd_parse(json, strlen(json), false, "/x/t.json", &g, &err), 0);
    assert_int_equal(g.n, 3);
    assert_int_equal(g.v[0].ntargets, 2);
    assert_string_equal(g.v[0].targets[1], "b:2");
    strbuf_t sb = STRBUF_INIT;
    labels_format_braces(&sb, g.v[0].labels, g.v[0].nlabels);
    assert_string_equal(sb.data, "{__meta_filepath=\"/x/t.json\", env=\"prod\", z=\"\"}");
    strbuf_reset(&sb);
    labels_format_braces(&sb, g.v[1].labels, g.v[1].nlabels);
    assert_string_equal(sb.data, "{__meta_filepath=\"/x/t.json\"}");
    assert_int_equal(g.v[2].ntargets, 0);
    sd_groups_free(&g);

    const char *yaml = "- targets: ['h:9100', \"i:9100\"]\n"
                       "  labels:\n"
                       "    env: dev\n"
                       "    n: 5\n"
                       "- targets: []\n";
    assert_int_equal(file_sd_parse(yaml, strlen(yaml), true, "t.yml", &g, &err), 0);
    assert_int_equal(g.n, 2);
    assert_int_equal(g.v[0].ntargets, 2);
    assert_string_equal(g.v[0].targets[1], "i:9100");
    strbuf_reset(&sb);
    labels_format_braces(&sb, g.v[0].labels, g.v[0].nlabels);
    assert_string_equal(sb.data, "{__meta_filepath=\"t.yml\", env=\"dev\", n=\"5\"}");
    sd_groups_free(&g);

    /* An empty YAML file has no groups; an empty JSON file is an error. */
    assert_int_equal(file_sd_parse("", 0, true, "e.yml", &g, &err), 0);
    assert_int_equal(g.n, 0);
    assert_int_equal(file_sd_parse("", 0, false, "e.json", &g, &err), -1);

    /* Bad files: nothing appended, the reason given. */
    static const struct {
        const char *text;
        bool yaml;
        const char *want;
    } bad[] = {
        {"{\"targets\": []}", false, "list of target groups"},
        {"[{\"targets\": \"a:1\"}]", false, "targets must be a list"},
        {"[{\"targets\": [1]}]", false, "targets must be a list"},
        {"[{\"labels\": {\"1x\": \"v\"}}]", false, "\"1x\" is not a valid label name"},
        {"[{\"labels\": {\"a\": 1}}]", false, "is not a string"},
        {"[{\"target\": [\"a:1\"]}]", false, "unknown field \"target\""},
        {"[{\"targets\": [\"a:1\"]", false, "t.json:"},
        {"targets: [a]\n", true, "list of target groups"},
        {"- targets: [a]\n  lables: {a: b}\n", true, "field lables not found"},
        {"- labels: {bad-name: x}\n", true, "\"bad-name\" is not a valid label name"},
        {"- targets: [[a]]\n", true, "targets must be a list of strings"},
        {"- targets: [a\n", true, "t.json:"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        memset(&err, 0, sizeof err);
        int rc = file_sd_parse(bad[i].text, strlen(bad[i].text), bad[i].yaml, "t.json", &g, &err);
        if (rc != -1 || !strstr(err.msg, bad[i].want))
            fail_msg("bad file %zu: rc %d, err \"%s\", want \"%s\"", i, rc, err.msg, bad[i].want);
        assert_int_equal(g.n, 0);
    }
    strbuf_free(&sb);
}

static int count_groups(void *ctx, const sd_group_t *g) {
    *(size_t *)ctx += g->ntargets;
    return 0;
}

static size_t sd_targets(const file_sd_t *sd) {
    size_t n = 0;
    file_sd_foreach(sd, count_groups, &n);
    return n;
}

static void write_file(const char *path, const char *text) {
    FILE *fp = fopen(path, "w");
    assert_non_null(fp);
    fputs(text, fp);
    fclose(fp);
}

static void test_file_sd_refresh(void **state) {
    (void)state;
    char dir[] = "/tmp/pl-filesd-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char glob_json[256], glob_yml[256], p1[256], p2[256], p3[256];
    snprintf(glob_json, sizeof glob_json, "%s/*.json", dir);
    snprintf(glob_yml, sizeof glob_yml, "%s/*.yml", dir);
    snprintf(p1, sizeof p1, "%s/a.json", dir);
    snprintf(p2, sizeof p2, "%s/b.yml", dir);
    snprintf(p3, sizeof p3, "%s/c.txt", dir);
    write_file(p1, "[{\"targets\": [\"a:1\"]}]");
    write_file(p2, "- targets: ['b:1', 'b:2']\n");
    write_file(p3, "not a target file"); /* not matched */
    char *globs[2] = {glob_json, glob_yml};
    file_sd_config_t cfg = {.files = globs, .nfiles = 2, .refresh_interval_ms = 60000};
    file_sd_t *sd = file_sd_new(&cfg);
    assert_non_null(sd);
    assert_true(file_sd_refresh(sd, 1000, true));
    assert_int_equal(sd_targets(sd), 3);
    /* Nothing changed: no change reported. */
    assert_false(file_sd_refresh(sd, 2000, false));

    /* An edit (another size) is seen without waiting for refresh_interval. */
    write_file(p1, "[{\"targets\": [\"a:1\", \"a:2\", \"a:3\"]}]");
    assert_true(file_sd_refresh(sd, 3000, false));
    assert_int_equal(sd_targets(sd), 5);

    /* A broken file keeps its last good groups and counts a read error. */
    uint64_t errors = file_sd_read_errors_total();
    write_file(p1, "[{\"targets\": [");
    assert_false(file_sd_refresh(sd, 4000, false));
    assert_int_equal(sd_targets(sd), 5);
    assert_int_equal(file_sd_read_errors_total(), errors + 1);
    /* Not re-read (and not logged again) while it stays the same. */
    assert_false(file_sd_refresh(sd, 5000, false));
    assert_int_equal(file_sd_read_errors_total(), errors + 1);

    /* A file that disappears takes its targets with it. */
    assert_int_equal(unlink(p2), 0);
    assert_true(file_sd_refresh(sd, 6000, false));
    assert_int_equal(sd_targets(sd), 3);
    write_file(p1, "[{\"targets\": [\"a:1\", \"a:2\", \"a:3\"]}]");
    /* Fixed to the last good bytes: the groups are what they were. */
    assert_false(file_sd_refresh(sd, 7000, false));
    /* The full re-read at refresh_interval finds the same bytes: no change. */
    assert_false(file_sd_refresh(sd, 70000, false));
    file_sd_free(sd);
    unlink(p1);
    unlink(p3);
    rmdir(dir);
}

static void test_file_sd_targets(void **state) {
    (void)state;
    fx_t f;
    memset(&f, 0, sizeof f);
    server_start(&f.srv);
    server_text(&f.srv, "/metrics", "# HELP fsd_value A value.\n# TYPE fsd_value gauge\nfsd_value 1\n");
    char dir[] = "/tmp/pl-filesd-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[256], body[512], yaml[1024];
    snprintf(path, sizeof path, "%s/targets.json", dir);
    snprintf(body, sizeof body, "[{\"targets\": [\"127.0.0.1:%d\"], \"labels\": {\"env\": \"one\"}}]", f.srv.port);
    write_file(path, body);
    snprintf(yaml, sizeof yaml,
             "%sscrape_configs:\n"
             "  - job_name: fsd\n"
             "    file_sd_configs: [{files: ['%s/*.json'], refresh_interval: 1h}]\n"
             "    relabel_configs:\n"
             "      - source_labels: [__meta_filepath]\n"
             "        regex: '.*/(.*)'\n"
             "        target_label: file\n",
             GLOBAL_300MS, dir);
    fx_open(&f);
    config_t *c = load_config(yaml);
    pl_err_t err;
    assert_int_equal(scrape_manager_apply_config(f.m, c, &err), 0);
    config_free(c);
    char want[256];
    snprintf(want, sizeof want, "{env=\"one\", file=\"targets.json\", instance=\"127.0.0.1:%d\", job=\"fsd\"}",
             f.srv.port);
    assert_string_equal(target_status(f.m, "fsd").labels, want);
    assert_true(metric_value(f.m, "prometheus_sd_discovered_targets{config=\"fsd\",name=\"scrape\"}") == 1);
    assert_int_equal(scrape_manager_start(f.m, &err), 0);
    assert_true(WAIT_FOR(last_is(f.head, "fsd_value{env=\"one\"}", 1), 5000));

    /* Edited while running: the target's labels change (a new target), the old series go stale. */
    snprintf(body, sizeof body,
             "[{\"targets\": [\"127.0.0.1:%d\"], \"labels\": {\"env\": \"two\"}},"
             " {\"targets\": [\"localhost:%d\"], \"labels\": {\"env\": \"three\"}}]",
             f.srv.port, f.srv.port);
    write_file(path, body);
    assert_true(WAIT_FOR(last_is(f.head, "fsd_value{env=\"two\"}", 1) && last_is(f.head, "fsd_value{env=\"three\"}", 1),
                         8000));
    assert_true(WAIT_FOR(last_is_stale(f.head, "fsd_value{env=\"one\"}"), 8000));
    assert_int_equal(target_status(f.m, "fsd").found, 2);
    assert_true(metric_value(f.m, "prometheus_target_scrape_pool_sync_total{scrape_job=\"fsd\"}") >= 2);

    /* Metadata per target, as /api/v1/targets/metadata shows it. */
    target_metadata_t *rows = NULL;
    size_t nr = scrape_manager_metadata(f.m, NULL, &rows);
    assert_int_equal(nr, 2);
    assert_string_equal(rows[0].metric, "fsd_value");
    assert_string_equal(rows[0].type, "gauge");
    assert_string_equal(rows[0].help, "A value.");
    assert_string_equal(rows[0].unit, "");
    scrape_metadata_free(rows, nr);
    fx_stop(&f);
    unlink(path);
    rmdir(dir);
}
PL_TEST_MAIN(cmocka_unit_test(test_cache_table), cmocka_unit_test(test_helpers), cmocka_unit_test(test_basic_scrape),
             cmocka_unit_test(test_honor_labels), cmocka_unit_test(test_honor_timestamps),
             cmocka_unit_test(test_stale_marker_for_vanished_series), cmocka_unit_test(test_malformed_body),
             cmocka_unit_test(test_sample_limit), cmocka_unit_test(test_http_errors), cmocka_unit_test(test_reload),
             cmocka_unit_test(test_gzip_and_openmetrics), cmocka_unit_test(test_content_type_rules),
             cmocka_unit_test(test_duplicates_and_limits), cmocka_unit_test(test_target_limit_and_metrics),
             cmocka_unit_test(test_apply_before_start_and_restart), cmocka_unit_test(test_target_relabel),
             cmocka_unit_test(test_metric_relabel), cmocka_unit_test(test_metric_relabel_errors_and_limits),
             cmocka_unit_test(test_file_sd_parse), cmocka_unit_test(test_file_sd_refresh),
             cmocka_unit_test(test_file_sd_targets))
