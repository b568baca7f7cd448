/* exporter.c — serves the generator over HTTP, fast enough never to be the
 * bottleneck of a scrape.
 *
 * A body is rendered once per state change (value, series, metric or mode
 * tick) by a background thread, and every scrape until the next tick gets the
 * same bytes: a reference-counted buffer handed to libmicrohttpd, released
 * when the last response using it is sent. Four variants exist per state:
 * text 0.0.4 or OpenMetrics (Accept), plain or gzip (Accept-Encoding). The
 * thread pre-renders the variants that have been asked for at least once;
 * another is rendered on its first request and kept for the state.
 *
 * This talks to libmicrohttpd directly rather than through web/http.h: that
 * server copies each handler's body into a response and gzips per request,
 * which for a 300 MB body is what this file exists to avoid.
 *
 * Many targets: every target serves the same bytes (like avalanche replicas,
 * they differ only in the instance label the scraper adds), either one port
 * each (port, port+1, ...) or all on one port as /target/<N>/metrics. */
#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "loadgen.h"
#include "util/log.h"
#include "util/timeutil.h"

typedef struct body {
    atomic_int refs;
    char *data;
    size_t len, cap;
    struct lg_exporter *owner; /* its buffer goes back to owner's pool when the last reference drops */
} body_t;

/* Spare body buffers: a fresh 300 MB malloc is an mmap whose every page
 * faults on first write, which costs more than rendering into it; reusing
 * the buffers of bodies no longer served avoids that. */
#define POOL_MAX 4

enum { V_TEXT = 0, V_TEXT_GZ, V_OM, V_OM_GZ, NVARIANTS };

typedef struct target {
    struct lg_exporter *e;
    int index;
    struct MHD_Daemon *daemon;
    int port;
} target_t;

struct lg_exporter {
    lg_config_t cfg;
    lg_exporter_opts_t o;
    lg_gen_t *gen;             /* guarded by gen_mu */
    pthread_mutex_t gen_mu;    /* held while the state changes or a body renders */
    pthread_mutex_t cache_mu;  /* held only to take or swap body pointers */
    body_t *cache[NVARIANTS];  /* guarded by cache_mu; NULL = not rendered for this state */
    atomic_bool wanted[NVARIANTS];
    pthread_t thread;
    pthread_mutex_t wake_mu;
    pthread_cond_t wake;
    bool stop;                 /* guarded by wake_mu */
    target_t *targets;
    int ntargets;
    atomic_uint_fast64_t requests, bytes_sent, renders;
    _Atomic double last_render_ms, last_gzip_ms;
    atomic_size_t last_body_bytes;
    pthread_mutex_t pool_mu;
    char *pool[POOL_MAX];
    size_t pool_cap[POOL_MAX];
};

static void pool_put(struct lg_exporter *e, char *data, size_t cap);

static void body_unref(body_t *b) {
    if (b && atomic_fetch_sub(&b->refs, 1) == 1) {
        if (b->owner) pool_put(b->owner, b->data, b->cap);
        else free(b->data);
        free(b);
    }
}

static void body_free_cb(void *cls) { body_unref(cls); }

static void pool_put(struct lg_exporter *e, char *data, size_t cap) {
    pthread_mutex_lock(&e->pool_mu);
    for (int i = 0; i < POOL_MAX; i++)
        if (!e->pool[i]) {
            e->pool[i] = data;
            e->pool_cap[i] = cap;
            data = NULL;
            break;
        }
    pthread_mutex_unlock(&e->pool_mu);
    free(data); /* the pool was full */
}

/* A spare buffer as an empty strbuf, the largest one (or an empty strbuf). */
static void pool_get(struct lg_exporter *e, strbuf_t *sb) {
    strbuf_init(sb);
    pthread_mutex_lock(&e->pool_mu);
    int best = -1;
    for (int i = 0; i < POOL_MAX; i++)
        if (e->pool[i] && (best < 0 || e->pool_cap[i] > e->pool_cap[best])) best = i;
    if (best >= 0) {
        sb->data = e->pool[best];
        sb->cap = e->pool_cap[best];
        sb->data[0] = '\0';
        e->pool[best] = NULL;
    }
    pthread_mutex_unlock(&e->pool_mu);
}

static body_t *body_from(struct lg_exporter *e, strbuf_t *sb) {
    body_t *b = calloc(1, sizeof *b);
    if (!b) abort();
    atomic_init(&b->refs, 1);
    b->len = sb->len;
    b->cap = sb->cap;
    b->owner = e;
    b->data = strbuf_detach(sb);
    return b;
}

static body_t *gzip_body(const body_t *in) {
    z_stream zs;
    memset(&zs, 0, sizeof zs);
    if (deflateInit2(&zs, 1, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) return NULL;
    size_t cap = deflateBound(&zs, in->len) + 64;
    char *out = malloc(cap);
    if (!out) abort();
    zs.next_in = (Bytef *)in->data;
    zs.next_out = (Bytef *)out;
    /* zlib counts in uInt: feed and drain in pieces so bodies over 4 GiB work */
    size_t in_left = in->len, out_left = cap;
    int rc;
    do {
        uInt ain = in_left > (1u << 30) ? (1u << 30) : (uInt)in_left;
        uInt aout = out_left > (1u << 30) ? (1u << 30) : (uInt)out_left;
        zs.avail_in = ain;
        zs.avail_out = aout;
        rc = deflate(&zs, ain == in_left ? Z_FINISH : Z_NO_FLUSH);
        in_left -= ain - zs.avail_in;
        out_left -= aout - zs.avail_out;
    } while (rc == Z_OK || (rc == Z_BUF_ERROR && out_left > 0 && in_left > 0));
    size_t outlen = cap - out_left;
    deflateEnd(&zs);
    if (rc != Z_STREAM_END) {
        free(out);
        return NULL;
    }
    body_t *b = calloc(1, sizeof *b);
    if (!b) abort();
    atomic_init(&b->refs, 1);
    b->data = out;
    b->len = outlen;
    return b;
}

static double ms_since(int64_t t0) { return (double)(pl_monotonic_ns() - t0) / 1e6; }

/* Renders variant v of the current state. Caller holds gen_mu. plain: the
 * matching plain variant if already rendered (for gzip), may be NULL. */
static body_t *render_variant(lg_exporter_t *e, int v, body_t *plain) {
    enum textparse_format fmt = (v == V_OM || v == V_OM_GZ) ? TEXTPARSE_OPENMETRICS : TEXTPARSE_PROM;
    bool gz = v == V_TEXT_GZ || v == V_OM_GZ;
    body_t *p = plain;
    if (!p) {
        strbuf_t sb;
        pool_get(e, &sb);
        size_t guess = atomic_load(&e->last_body_bytes);
        if (guess) strbuf_reserve(&sb, guess + guess / 8);
        int64_t t0 = pl_monotonic_ns();
        lg_gen_render(e->gen, fmt, -1, false, &sb);
        atomic_store(&e->last_render_ms, ms_since(t0));
        atomic_store(&e->last_body_bytes, sb.len);
        atomic_fetch_add(&e->renders, 1);
        p = body_from(e, &sb);
        if (!gz) return p;
    }
    int64_t t0 = pl_monotonic_ns();
    body_t *z = gzip_body(p);
    atomic_store(&e->last_gzip_ms, ms_since(t0));
    if (p != plain) body_unref(p);
    return z;
}

/* Drops every cached body (the state changed). Caller holds gen_mu. Then
 * renders the wanted variants and publishes them together. */
static void rerender(lg_exporter_t *e) {
    body_t *fresh[NVARIANTS] = {0};
    for (int v = 0; v < NVARIANTS; v += 2) {
        bool want_plain = atomic_load(&e->wanted[v]), want_gz = atomic_load(&e->wanted[v + 1]);
        if (!want_plain && !want_gz) continue;
        body_t *p = render_variant(e, v, NULL);
        if (want_gz) fresh[v + 1] = render_variant(e, v + 1, p);
        if (want_plain) fresh[v] = p;
        else body_unref(p);
    }
    body_t *old[NVARIANTS];
    pthread_mutex_lock(&e->cache_mu);
    for (int v = 0; v < NVARIANTS; v++) {
        old[v] = e->cache[v];
        e->cache[v] = fresh[v];
    }
    pthread_mutex_unlock(&e->cache_mu);
    for (int v = 0; v < NVARIANTS; v++) body_unref(old[v]);
}

/* A reference to variant v of the current state, rendering it if needed. */
static body_t *get_body(lg_exporter_t *e, int v) {
    atomic_store(&e->wanted[v], true);
    pthread_mutex_lock(&e->cache_mu);
    body_t *b = e->cache[v];
    if (b) atomic_fetch_add(&b->refs, 1);
    pthread_mutex_unlock(&e->cache_mu);
    if (b) return b;
    pthread_mutex_lock(&e->gen_mu);
    pthread_mutex_lock(&e->cache_mu);
    b = e->cache[v]; /* another request may have rendered it meanwhile */
    body_t *plain = (v & 1) ? e->cache[v - 1] : NULL;
    if (plain) atomic_fetch_add(&plain->refs, 1);
    pthread_mutex_unlock(&e->cache_mu);
    if (!b) {
        b = render_variant(e, v, plain);
        if (b) {
            pthread_mutex_lock(&e->cache_mu);
            if (e->cache[v]) body_unref(e->cache[v]);
            e->cache[v] = b;
            pthread_mutex_unlock(&e->cache_mu);
        }
    }
    if (b) atomic_fetch_add(&b->refs, 1);
    body_unref(plain);
    pthread_mutex_unlock(&e->gen_mu);
    return b;
}

static int64_t next_due(int64_t now, int interval_s) { return interval_s > 0 ? now + interval_s * 1000LL : INT64_MAX; }

static void *ticker(void *arg) {
    lg_exporter_t *e = arg;
    int64_t now = pl_monotonic_ns() / 1000000;
    int64_t due_v = next_due(now, e->cfg.value_interval), due_s = next_due(now, e->cfg.series_interval),
            due_m = next_due(now, e->cfg.metric_interval),
            due_c = e->cfg.mode != LG_MODE_DEFAULT || e->cfg.scenario == LG_SCN_SPIKE
                        ? next_due(now, e->cfg.series_change_interval)
                        : INT64_MAX;
    pthread_mutex_lock(&e->wake_mu);
    while (!e->stop) {
        int64_t due = due_v;
        if (due_s < due) due = due_s;
        if (due_m < due) due = due_m;
        if (due_c < due) due = due_c;
        now = pl_monotonic_ns() / 1000000;
        if (due > now) {
            int64_t wait = due - now;
            if (wait > 1000) wait = 1000;
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            ts.tv_sec += wait / 1000;
            ts.tv_nsec += (wait % 1000) * 1000000L;
            if (ts.tv_nsec >= 1000000000L) {
                ts.tv_sec++;
                ts.tv_nsec -= 1000000000L;
            }
            pthread_cond_timedwait(&e->wake, &e->wake_mu, &ts);
            continue;
        }
        pthread_mutex_unlock(&e->wake_mu);
        pthread_mutex_lock(&e->gen_mu);
        const char *what = "values";
        if (now >= due_c) {
            lg_gen_tick_change(e->gen);
            due_c = next_due(now, e->cfg.series_change_interval);
            what = "series count";
        }
        if (now >= due_m) {
            lg_gen_tick_metric(e->gen);
            due_m = next_due(now, e->cfg.metric_interval);
            what = "metric cycle";
        }
        if (now >= due_s) {
            lg_gen_tick_series(e->gen);
            due_s = next_due(now, e->cfg.series_interval);
            what = "series cycle";
        }
        if (now >= due_v) {
            lg_gen_tick_values(e->gen);
            due_v = next_due(now, e->cfg.value_interval);
        }
        rerender(e);
        if (!e->o.quiet)
            log_info("loadgen", "refreshed", "what=\"%s\" series_count=%d exposed=%llu render_ms=%.1f", what,
                     lg_gen_series_count(e->gen), (unsigned long long)lg_gen_exposed_series(e->gen),
                     atomic_load(&e->last_render_ms));
        pthread_mutex_unlock(&e->gen_mu);
        pthread_mutex_lock(&e->wake_mu);
    }
    pthread_mutex_unlock(&e->wake_mu);
    return NULL;
}

static enum MHD_Result respond_static(struct MHD_Connection *conn, unsigned status, const char *ct, const char *text) {
    struct MHD_Response *r =
        MHD_create_response_from_buffer(strlen(text), (void *)(uintptr_t)text, MHD_RESPMEM_PERSISTENT);
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, ct);
    enum MHD_Result ret = MHD_queue_response(conn, status, r);
    MHD_destroy_response(r);
    return ret;
}

static bool path_is_metrics(const lg_exporter_t *e, const char *url) {
    if (strcmp(url, "/metrics") == 0) return true;
    if (strncmp(url, "/target/", 8) != 0) return false;
    char *end;
    long n = strtol(url + 8, &end, 10);
    return end != url + 8 && n >= 0 && n < e->ntargets && strcmp(end, "/metrics") == 0;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
                                  const char *version, const char *upload_data, size_t *upload_data_size,
                                  void **con_cls) {
    (void)version, (void)upload_data;
    target_t *t = cls;
    lg_exporter_t *e = t->e;
    if (!*con_cls) { /* first call: headers only */
        *con_cls = (void *)1;
        return MHD_YES;
    }
    if (*upload_data_size) {
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (e->o.api_latency_ms > 0 && (strcmp(url, "/api/v1/query") == 0 || strcmp(url, "/api/v1/query_range") == 0)) {
        lg_sleep_ms(e->o.api_latency_ms);
        return respond_static(conn, 200, "application/json",
                              strcmp(url, "/api/v1/query") == 0
                                  ? "{\"status\":\"success\",\"data\":{\"resultType\":\"vector\",\"result\":[]}}"
                                  : "{\"status\":\"success\",\"data\":{\"resultType\":\"matrix\",\"result\":[]}}");
    }
    if (strcmp(url, "/health") == 0 || strcmp(url, "/-/healthy") == 0)
        return respond_static(conn, 200, "text/plain", "OK\n");
    if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0)
        return respond_static(conn, 405, "text/plain", "method not allowed\n");
    if (!path_is_metrics(e, url)) return respond_static(conn, 404, "text/plain", "404 page not found\n");

    const char *accept = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_ACCEPT);
    const char *ae = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_ACCEPT_ENCODING);
    bool om = accept && strstr(accept, "application/openmetrics-text");
    bool gz = ae && strstr(ae, "gzip");
    int v = (om ? V_OM : V_TEXT) + (gz ? 1 : 0);
    body_t *b = get_body(e, v);
    if (!b) return respond_static(conn, 500, "text/plain", "render failed\n");
    struct MHD_Response *r = MHD_create_response_from_buffer_with_free_callback_cls(b->len, b->data, body_free_cb, b);
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE,
                            om ? "application/openmetrics-text; version=1.0.0; charset=utf-8"
                               : "text/plain; version=0.0.4; charset=utf-8");
    if (gz) MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_ENCODING, "gzip");
    atomic_fetch_add(&e->requests, 1);
    atomic_fetch_add(&e->bytes_sent, b->len);
    enum MHD_Result ret = MHD_queue_response(conn, 200, r);
    MHD_destroy_response(r);
    return ret;
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls, enum MHD_RequestTerminationCode toe) {
    (void)cls, (void)conn, (void)toe;
    *con_cls = NULL;
}

static struct MHD_Daemon *start_daemon(target_t *t, const char *host, int port) {
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)port);
    if (inet_pton(AF_INET, host, &sa.sin_addr) != 1) return NULL;
    return MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL, 0, NULL, NULL, on_request, t,
                            MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa, MHD_OPTION_THREAD_POOL_SIZE, 2u,
                            MHD_OPTION_NOTIFY_COMPLETED, on_completed, NULL, MHD_OPTION_CONNECTION_TIMEOUT, 300u,
                            MHD_OPTION_LISTENING_ADDRESS_REUSE, 1u, MHD_OPTION_END);
}

lg_exporter_t *lg_exporter_start(const lg_config_t *c, const lg_exporter_opts_t *o, pl_err_t *err) {
    if (o->targets < 1) {
        pl_err_set(err, "--targets must be at least 1");
        return NULL;
    }
    lg_exporter_t *e = calloc(1, sizeof *e);
    e->cfg = *c;
    e->cfg.const_names = e->cfg.const_values = NULL; /* the generator keeps its own copy */
    e->cfg.nconst = 0;
    e->o = *o;
    if (!e->o.listen_host) e->o.listen_host = "127.0.0.1";
    e->gen = lg_gen_new(c, err);
    if (!e->gen) {
        free(e);
        return NULL;
    }
    pthread_mutex_init(&e->gen_mu, NULL);
    pthread_mutex_init(&e->cache_mu, NULL);
    pthread_mutex_init(&e->pool_mu, NULL);
    pthread_mutex_init(&e->wake_mu, NULL);
    pthread_cond_init(&e->wake, NULL);
    e->ntargets = o->targets;
    e->targets = calloc((size_t)o->targets, sizeof *e->targets);
    for (int i = 0; i < o->targets; i++) {
        target_t *t = &e->targets[i];
        t->e = e;
        t->index = i;
        if (o->one_port && i > 0) {
            t->port = e->targets[0].port;
            continue;
        }
        int port = o->port > 0 ? o->port + i : 0;
        t->daemon = start_daemon(t, e->o.listen_host, port);
        if (!t->daemon) {
            pl_err_set(err, "listen tcp %s:%d: cannot bind (address in use?)", e->o.listen_host, port);
            lg_exporter_stop(e);
            return NULL;
        }
        const union MHD_DaemonInfo *info = MHD_get_daemon_info(t->daemon, MHD_DAEMON_INFO_BIND_PORT);
        t->port = info ? info->port : port;
    }
    pthread_create(&e->thread, NULL, ticker, e);
    return e;
}

void lg_exporter_stop(lg_exporter_t *e) {
    if (!e) return;
    if (e->thread) {
        pthread_mutex_lock(&e->wake_mu);
        e->stop = true;
        pthread_cond_signal(&e->wake);
        pthread_mutex_unlock(&e->wake_mu);
        pthread_join(e->thread, NULL);
    }
    for (int i = 0; i < e->ntargets; i++)
        if (e->targets[i].daemon) MHD_stop_daemon(e->targets[i].daemon);
    free(e->targets);
    for (int v = 0; v < NVARIANTS; v++) body_unref(e->cache[v]);
    for (int i = 0; i < POOL_MAX; i++) free(e->pool[i]);
    pthread_mutex_destroy(&e->pool_mu);
    lg_gen_free(e->gen);
    pthread_mutex_destroy(&e->gen_mu);
    pthread_mutex_destroy(&e->cache_mu);
    pthread_mutex_destroy(&e->wake_mu);
    pthread_cond_destroy(&e->wake);
    free(e);
}

int lg_exporter_port(const lg_exporter_t *e, int i) { return e->targets[i].port; }

void lg_exporter_set_series_count(lg_exporter_t *e, int n) {
    pthread_mutex_lock(&e->gen_mu);
    lg_gen_set_series_count(e->gen, n);
    rerender(e);
    pthread_mutex_unlock(&e->gen_mu);
}

uint64_t lg_exporter_exposed_series(lg_exporter_t *e) {
    pthread_mutex_lock(&e->gen_mu);
    uint64_t n = lg_gen_exposed_series(e->gen);
    pthread_mutex_unlock(&e->gen_mu);
    return n;
}

void lg_exporter_stats(lg_exporter_t *e, lg_exporter_stats_t *out) {
    out->requests = atomic_load(&e->requests);
    out->bytes_sent = atomic_load(&e->bytes_sent);
    out->renders = atomic_load(&e->renders);
    out->last_render_ms = atomic_load(&e->last_render_ms);
    out->last_gzip_ms = atomic_load(&e->last_gzip_ms);
    out->last_body_bytes = atomic_load(&e->last_body_bytes);
}
