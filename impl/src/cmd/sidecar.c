/* sidecar.c — `promlab sidecar`: the Thanos sidecar's shipping role.
 *
 * Beside a Prometheus (the real one or promlab's server) it relies only on
 * the TSDB directory and the HTTP API: at start it reads
 * /api/v1/status/flags (refusing min-block-duration != max-block-duration,
 * as Thanos does, since local compaction would merge blocks before they are
 * shipped) and /api/v1/status/config (external labels; without them it
 * waits --prometheus.get_config_timeout and then refuses, as Thanos does).
 * Then, every --shipper.sync-interval (30 s, Thanos's fixed period), it
 * refreshes the external labels and runs one shipper pass (shipper.h).
 *
 * Flags are Thanos sidecar's. The StoreAPI (gRPC) is not built: --grpc-address
 * is accepted and logged as not served. HTTP on --http-address: /metrics,
 * /-/healthy, /-/ready (ready once Prometheus answered and labels are known),
 * and the read API Thanos's sidecar builds its StoreAPI on, over remote read:
 * POST /api/v1/read forwarded to the server's /api/v1/read with the external
 * labels applied and attached (sidecar/read.h), GET /api/v1/store/info (the
 * labels, and the time range from the oldest local block on) for `promlab query`.
 *
 * Threads: the main thread waits for SIGINT/SIGTERM; one worker runs the
 * start-up checks and the sync loop; the HTTP server's threads only read
 * atomics and the metric writers. */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cmd/cmd.h"
#include "objstore/objstore.h"
#include "shipper/shipper.h"
#include "remote/remote_client.h"
#include "sidecar/promapi.h"
#include "sidecar/read.h"
#include "tsdb/block.h"
#include "util/json.h"
#include "util/flags.h"
#include "util/log.h"
#include "util/timeutil.h"
#include "web/http.h"
#include "web/web.h"

static flag_def_t sidecar_flags[] = {
    {"tsdb.path", FLAG_STRING, "./data", "Data directory of TSDB.", false},
    {"prometheus.url", FLAG_STRING, "http://localhost:9090", "URL at which to reach Prometheus's API. For better performance use local network.", false},
    {"prometheus.ready_timeout", FLAG_DURATION, "10m", "Maximum time to wait for the Prometheus instance to start up", false},
    {"prometheus.get_config_interval", FLAG_DURATION, "30s", "How often to get Prometheus config", false},
    {"prometheus.get_config_timeout", FLAG_DURATION, "5s", "Timeout for getting Prometheus config", false},
    {"objstore.config-file", FLAG_STRING, "", "Path to YAML file that contains object store configuration. See format details: https://thanos.io/tip/thanos/storage.md/#configuration", false},
    {"objstore.config", FLAG_STRING, "", "Alternative to 'objstore.config-file' flag (mutually exclusive). Content of YAML file that contains object store configuration.", false},
    {"http-address", FLAG_STRING, "0.0.0.0:10902", "Listen host:port for HTTP endpoints.", false},
    {"http-grace-period", FLAG_DURATION, "2m", "Time to wait after an interrupt received for HTTP Server.", false},
    {"http.config", FLAG_STRING, "", "[EXPERIMENTAL] Path to the configuration file that can enable TLS or authentication for all HTTP endpoints.", false},
    {"grpc-address", FLAG_STRING, "0.0.0.0:10901", "Listen ip:port address for gRPC endpoints (StoreAPI). promlab does not serve gRPC: accepted and ignored.", false},
    {"grpc-grace-period", FLAG_DURATION, "2m", "Time to wait after an interrupt received for GRPC Server.", false},
    {"shipper.upload-compacted", FLAG_BOOL, "false", "If true shipper will try to upload compacted blocks as well. Useful for migration purposes. Works only if compaction is disabled on Prometheus. Do it once and then disable the flag when done.", false},
    {"shipper.ignore-unequal-block-size", FLAG_BOOL, "false", "If true shipper will not require prometheus min and max block size flags to be set to the same value. Only use this if you want to keep long retention and compaction enabled on your Prometheus instance, as in the worst case it can result in ~2h data loss for your Thanos bucket storage.", false},
    {"shipper.meta-file-name", FLAG_STRING, "thanos.shipper.json", "the file to store shipper metadata in", false},
    {"shipper.sync-interval", FLAG_DURATION, "30s", "How often the shipper looks for new blocks (Thanos: fixed 30s; for tests).", true},
    {"log.level", FLAG_STRING, "info", "Log filtering level.", false},
    {"log.format", FLAG_STRING, "logfmt", "Log format to use. Possible options: logfmt or json.", false},
};
#define N_FLAGS (sizeof sidecar_flags / sizeof sidecar_flags[0])

typedef struct sidecar {
    const char *prom_url;
    int64_t get_config_interval_ms, get_config_timeout_ms, sync_interval_ms;
    bool ignore_unequal;
    objstore_t *bucket; /* NULL: uploads disabled */
    shipper_t *shipper;
    pthread_mutex_t mu; /* guards stop + cond */
    pthread_cond_t cond;
    bool stop;
    _Atomic int ready, prometheus_up, fatal;
    /* The read API: the server as a remote-read leaf, and the external
     * labels last read (a copy the HTTP threads read under lab_mu). */
    const char *tsdb_path;
    remote_client_t *prom;
    pthread_mutex_t lab_mu;
    label_t *ext;
    size_t next;
    _Atomic uint64_t reads_ok, reads_failed;
} sidecar_t;

/* Keeps a copy of the labels for the read API. */
static void share_labels(sidecar_t *s, const promapi_labels_t *l) {
    label_t *v = calloc(l->n + 1, sizeof *v);
    size_t n = 0;
    for (size_t i = 0; v && i < l->n; i++) {
        v[i].name = strdup(l->v[i].name);
        v[i].value = strdup(l->v[i].value);
        n = i + 1;
        if (!v[i].name || !v[i].value) break;
    }
    pthread_mutex_lock(&s->lab_mu);
    label_t *old = s->ext;
    size_t nold = s->next;
    if (v && n == l->n) {
        s->ext = v;
        s->next = n;
        v = NULL;
    }
    pthread_mutex_unlock(&s->lab_mu);
    if (v) {
        old = v;
        nold = n;
    }
    for (size_t i = 0; old && i < nold; i++) {
        free((char *)old[i].name);
        free((char *)old[i].value);
    }
    free(old);
}

/* A copy of the shared labels (sorted); NULL with *n = 0 when none yet. */
static label_t *copy_labels(sidecar_t *s, size_t *n) {
    pthread_mutex_lock(&s->lab_mu);
    label_t *v = s->next ? calloc(s->next, sizeof *v) : NULL;
    *n = 0;
    for (size_t i = 0; v && i < s->next; i++) {
        v[i].name = strdup(s->ext[i].name);
        v[i].value = strdup(s->ext[i].value);
        *n = i + 1;
    }
    pthread_mutex_unlock(&s->lab_mu);
    if (v) labels_sort(v, *n);
    return v;
}

static void free_labels(label_t *v, size_t n) {
    for (size_t i = 0; v && i < n; i++) {
        free((char *)v[i].name);
        free((char *)v[i].value);
    }
    free(v);
}

/* Sleeps ms or until stop; returns true if stopping. */
static bool wait_or_stop(sidecar_t *s, int64_t ms) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += ms / 1000;
    ts.tv_nsec += (ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) ts.tv_sec++, ts.tv_nsec -= 1000000000L;
    pthread_mutex_lock(&s->mu);
    while (!s->stop) {
        if (pthread_cond_timedwait(&s->cond, &s->mu, &ts) == ETIMEDOUT) break;
    }
    bool stop = s->stop;
    pthread_mutex_unlock(&s->mu);
    return stop;
}

static int fetch_labels(sidecar_t *s, promapi_labels_t *l, pl_err_t *err) {
    strbuf_t body = STRBUF_INIT;
    int rc = promapi_get(s->prom_url, "/api/v1/status/config", 5000, &body, err);
    if (rc == 0) rc = promapi_parse_config(body.data ? body.data : "", body.len, l, err);
    if (rc == 0 && l->n > 0) share_labels(s, l);
    strbuf_free(&body);
    atomic_store(&s->prometheus_up, rc == 0);
    return rc;
}

/* Start-up: flags, then external labels. Returns 0 ready, 1 stopping, -1 fatal. */
static int startup(sidecar_t *s, promapi_labels_t *labels) {
    pl_err_t err = {{0}};
    /* Prometheus reachable with acceptable flags (retry every 2 s while unreachable). */
    if (s->bucket) {
        for (;;) {
            strbuf_t body = STRBUF_INIT;
            int64_t mn = 0, mx = 0;
            int rc = promapi_get(s->prom_url, "/api/v1/status/flags", 5000, &body, &err);
            atomic_store(&s->prometheus_up, rc == 0);
            if (rc == 0) rc = promapi_parse_flags(body.data ? body.data : "", body.len, &mn, &mx, &err);
            strbuf_free(&body);
            if (rc == 0) {
                char a[64], b[64];
                pl_format_duration(a, sizeof a, mn);
                pl_format_duration(b, sizeof b, mx);
                if (mn != mx && !s->ignore_unequal) {
                    log_error("sidecar", "Refusing to ship blocks: Prometheus compacts blocks locally",
                              "err=\"found that TSDB Max time is %s and Min time is %s. Compaction needs to be disabled "
                              "(storage.tsdb.min-block-duration = storage.tsdb.max-block-duration)\"", b, a);
                    fprintf(stderr,
                            "promlab sidecar: error: validate Prometheus flags: found that TSDB Max time is %s and Min time "
                            "is %s. Compaction needs to be disabled: start Prometheus with "
                            "--storage.tsdb.min-block-duration=2h --storage.tsdb.max-block-duration=2h\n", b, a);
                    return -1;
                }
                if (mn != 2 * 3600 * 1000LL)
                    log_warn("sidecar", "found that TSDB block time is not 2h. Only 2h block time is recommended.",
                             "block-time=%s", a);
                break;
            }
            log_warn("sidecar", "Failed to validate Prometheus flags. Is Prometheus running? Retrying", "err=\"%s\"", err.msg);
            if (wait_or_stop(s, 2000)) return 1;
        }
    }
    /* External labels: retry while unreachable; once reachable, wait at most
     * get_config_timeout for labels to appear, then refuse. */
    int64_t first_empty = -1;
    for (;;) {
        promapi_labels_t l;
        if (fetch_labels(s, &l, &err) == 0) {
            if (l.n > 0) {
                *labels = l;
                return 0;
            }
            int64_t now = pl_monotonic_ns() / 1000000;
            if (first_empty < 0) first_empty = now;
            if (now - first_empty >= s->get_config_timeout_ms) {
                log_error("sidecar", "no external labels configured on Prometheus server, uniquely identifying external labels must be configured",
                          "url=%s", s->prom_url);
                fprintf(stderr,
                        "promlab sidecar: error: no external labels configured on Prometheus server (%s), uniquely "
                        "identifying external labels must be configured; see "
                        "https://thanos.io/tip/thanos/storage.md#external-labels. Add them to the server's prometheus.yml:\n"
                        "  global:\n    external_labels:\n      cluster: eu1\n      replica: a\n"
                        "and reload it (SIGHUP or POST /-/reload).\n", s->prom_url);
                return -1;
            }
            log_warn("sidecar", "not uploading as no external labels are configured yet - is Prometheus healthy/reachable?", NULL);
            int64_t wait = s->get_config_interval_ms;
            if (wait > s->get_config_timeout_ms) wait = s->get_config_timeout_ms / 4 + 1;
            if (wait_or_stop(s, wait)) return 1;
            continue;
        }
        log_warn("sidecar", "failed to fetch initial external labels. Is Prometheus running? Retrying", "err=\"%s\"", err.msg);
        if (wait_or_stop(s, 2000)) return 1;
    }
}

static void *worker(void *arg) {
    sidecar_t *s = arg;
    promapi_labels_t labels = {0};
    int rc = startup(s, &labels);
    if (rc != 0) {
        if (rc < 0) {
            atomic_store(&s->fatal, 1);
            kill(getpid(), SIGTERM);
        }
        return NULL;
    }
    strbuf_t ls = STRBUF_INIT;
    labels_format_braces(&ls, labels.v, labels.n);
    log_info("sidecar", "successfully loaded prometheus external labels", "external_labels=\"%s\"", ls.data);
    strbuf_free(&ls);
    atomic_store(&s->ready, 1);
    if (!s->bucket) {
        log_info("sidecar", "no supported bucket was configured, uploads will be disabled", NULL);
        promapi_labels_free(&labels);
        return NULL;
    }
    int64_t last_config = pl_monotonic_ns() / 1000000;
    for (;;) {
        int64_t now = pl_monotonic_ns() / 1000000;
        if (now - last_config >= s->get_config_interval_ms) {
            promapi_labels_t nl;
            pl_err_t err = {{0}};
            if (fetch_labels(s, &nl, &err) == 0) {
                if (nl.n > 0) {
                    promapi_labels_free(&labels);
                    labels = nl;
                } else {
                    log_warn("sidecar", "Prometheus now reports no external labels; keeping the last ones", NULL);
                    promapi_labels_free(&nl);
                }
            } else {
                log_warn("sidecar", "heartbeat failed", "err=\"%s\"", err.msg);
            }
            last_config = now;
        }
        pl_err_t err = {{0}};
        shipper_set_labels(s->shipper, labels.v, labels.n, &err);
        int n = 0;
        if (shipper_sync(s->shipper, &n, &err) < 0) log_warn("shipper", "shipper sync failed", "err=\"%s\"", err.msg);
        else if (n > 0) log_info("shipper", "Shipper sync done", "uploaded=%d", n);
        if (wait_or_stop(s, s->sync_interval_ms)) break;
    }
    promapi_labels_free(&labels);
    return NULL;
}

static void handle(void *ctx, const http_request_t *req, http_response_t *r) {
    sidecar_t *s = ctx;
    r->content_type = "text/plain; charset=utf-8";
    if (web_component_probe(req, r, atomic_load(&s->ready))) return;
    if (!strcmp(req->path, "/metrics")) {
        r->status = 200;
        r->content_type = "text/plain; version=0.0.4; charset=utf-8";
        strbuf_puts(&r->body, "# HELP thanos_sidecar_prometheus_up Boolean indicator whether the sidecar can reach its Prometheus peer.\n"
                              "# TYPE thanos_sidecar_prometheus_up gauge\n");
        strbuf_printf(&r->body, "thanos_sidecar_prometheus_up %d\n", atomic_load(&s->prometheus_up));
        strbuf_puts(&r->body, "# HELP thanos_status Represents status (0 indicates failure, 1 indicates success) of the component.\n"
                              "# TYPE thanos_status gauge\n");
        strbuf_printf(&r->body, "thanos_status{check=\"ready\",component=\"sidecar\"} %d\n", atomic_load(&s->ready));
        strbuf_puts(&r->body, "# HELP promlab_sidecar_remote_reads_total Remote reads served for the server, by result.\n"
                              "# TYPE promlab_sidecar_remote_reads_total counter\n");
        strbuf_printf(&r->body, "promlab_sidecar_remote_reads_total{result=\"success\"} %llu\n",
                      (unsigned long long)atomic_load(&s->reads_ok));
        strbuf_printf(&r->body, "promlab_sidecar_remote_reads_total{result=\"error\"} %llu\n",
                      (unsigned long long)atomic_load(&s->reads_failed));
        if (s->shipper) shipper_write_metrics(s->shipper, &r->body);
        if (s->bucket) objstore_write_metrics(s->bucket, &r->body);
        web_write_process_metrics(&r->body);
    } else if (!strcmp(req->path, "/api/v1/read")) {
        size_t next = 0;
        label_t *ext = copy_labels(s, &next);
        if (strcmp(req->method, "POST") != 0) {
            r->status = 405;
            strbuf_puts(&r->body, "method not allowed: POST a remote-read request\n");
        } else if (!next) {
            r->status = 503;
            strbuf_puts(&r->body, "sidecar is not ready: no external labels read from Prometheus yet\n");
        } else {
            queryable_t q;
            remote_client_queryable(s->prom, &q);
            sidecar_read_reply_t rep = {0};
            sidecar_serve_read(&q, ext, next, req->body, req->body_len, &rep);
            atomic_fetch_add(rep.status == 200 ? &s->reads_ok : &s->reads_failed, 1);
            if (rep.status != 200) log_warn("sidecar", "remote read failed", "status=%d err=\"%.*s\"", rep.status,
                                            (int)(rep.body.len ? rep.body.len - 1 : 0), rep.body.data ? rep.body.data : "");
            r->status = rep.status;
            r->content_type = rep.content_type;
            r->identity = true;
            if (rep.snappy) {
                r->extra_header_name = strdup("Content-Encoding");
                r->extra_header_value = strdup("snappy");
            }
            strbuf_free(&r->body);
            r->body = rep.body;
        }
        free_labels(ext, next);
    } else if (!strcmp(req->path, "/api/v1/store/info")) {
        /* What `promlab query` probes: the labels, and the time range the
         * server holds (from its oldest local block on; the head has the rest). */
        size_t next = 0;
        label_t *ext = copy_labels(s, &next);
        int64_t mint = INT64_MAX;
        char **names = NULL;
        size_t nb = 0;
        pl_err_t err = {{0}};
        if (block_dir_list(s->tsdb_path, &names, &nb, &err) == 0) {
            for (size_t i = 0; i < nb; i++) {
                block_meta_t m;
                memset(&m, 0, sizeof m);
                strbuf_t p = STRBUF_INIT;
                strbuf_printf(&p, "%s/%s", s->tsdb_path, names[i]);
                if (block_meta_read(p.data, &m, &err) == 0 && m.min_time < mint) mint = m.min_time;
                block_meta_free(&m);
                strbuf_free(&p);
            }
            block_dir_list_free(names, nb);
        }
        r->status = 200;
        r->content_type = "application/json";
        strbuf_printf(&r->body, "{\"status\":\"success\",\"data\":{\"minTime\":%lld,\"maxTime\":%lld,\"labelSets\":[",
                      (long long)(mint == INT64_MAX ? INT64_MIN : mint), (long long)INT64_MAX);
        if (next) {
            strbuf_puts(&r->body, "{");
            for (size_t i = 0; i < next; i++) {
                if (i) strbuf_puts(&r->body, ",");
                json_escape(&r->body, ext[i].name, strlen(ext[i].name));
                strbuf_puts(&r->body, ":");
                json_escape(&r->body, ext[i].value, strlen(ext[i].value));
            }
            strbuf_puts(&r->body, "}");
        }
        strbuf_puts(&r->body, "]}}");
        free_labels(ext, next);
    } else {
        web_component_fallback(req, r,
                               "promlab sidecar: /metrics /-/healthy /-/ready, POST /api/v1/read, /api/v1/store/info\n");
    }
}

static int usage_error(const char *msg) { return flags_cli_error(sidecar_flags, N_FLAGS, "promlab sidecar", msg); }

int cmd_sidecar(int argc, char **argv) {
    pl_err_t err = {{0}};
    int rc = flags_parse_cli(sidecar_flags, N_FLAGS, argc, argv, "promlab sidecar", "promlab sidecar [<flags>]");
    if (rc >= 0) return rc;
    if (flags_apply_log(sidecar_flags, N_FLAGS, &err) < 0) return usage_error(err.msg);
    sidecar_t s;
    memset(&s, 0, sizeof s);
    s.prom_url = flags_str(sidecar_flags, N_FLAGS, "prometheus.url");
    s.ignore_unequal = flags_bool(sidecar_flags, N_FLAGS, "shipper.ignore-unequal-block-size");
    int64_t v;
    const char *durs[] = {"prometheus.ready_timeout", "http-grace-period", "grpc-grace-period"};
    for (size_t i = 0; i < sizeof durs / sizeof durs[0]; i++)
        if (flags_duration(sidecar_flags, N_FLAGS, durs[i], &v, &err) < 0) return usage_error(err.msg);
    if (flags_duration(sidecar_flags, N_FLAGS, "prometheus.get_config_interval", &s.get_config_interval_ms, &err) < 0 ||
        flags_duration(sidecar_flags, N_FLAGS, "prometheus.get_config_timeout", &s.get_config_timeout_ms, &err) < 0 ||
        flags_duration(sidecar_flags, N_FLAGS, "shipper.sync-interval", &s.sync_interval_ms, &err) < 0)
        return usage_error(err.msg);
    if (s.sync_interval_ms <= 0 || s.get_config_interval_ms <= 0) return usage_error("intervals must be positive");
    if (strncmp(s.prom_url, "http://", 7) && strncmp(s.prom_url, "https://", 8))
        return usage_error("--prometheus.url: must be an http:// or https:// URL");
    const char *tsdb_path = flags_str(sidecar_flags, N_FLAGS, "tsdb.path");
    const char *cfg_file = flags_str(sidecar_flags, N_FLAGS, "objstore.config-file");
    const char *cfg_inline = flags_str(sidecar_flags, N_FLAGS, "objstore.config");
    if (*cfg_file && *cfg_inline)
        return usage_error("--objstore.config-file and --objstore.config are mutually exclusive");
    if (*flags_str(sidecar_flags, N_FLAGS, "http.config"))
        return usage_error("--http.config: TLS and authentication for the HTTP endpoints are not supported by promlab");
    log_info("main", "Starting promlab sidecar", "version=%s", PROMLAB_VERSION);

    int exit_code = 0;
    http_server_t *http = NULL;
    bool have_cfg = *cfg_file || *cfg_inline;
    if (have_cfg) {
        if (!(s.bucket = objstore_open_flags(cfg_file, cfg_inline, &err))) {
            fprintf(stderr, "promlab sidecar: error: %s\n", err.msg);
            flags_free(sidecar_flags, N_FLAGS);
            return 1;
        }
        shipper_opts_t so = {
            .tsdb_path = tsdb_path,
            .bucket = s.bucket,
            .upload_compacted = flags_bool(sidecar_flags, N_FLAGS, "shipper.upload-compacted"),
            .meta_file = flags_str(sidecar_flags, N_FLAGS, "shipper.meta-file-name"),
        };
        s.shipper = shipper_new(&so, &err);
        if (!s.shipper) {
            fprintf(stderr, "promlab sidecar: error: %s\n", err.msg);
            objstore_close(s.bucket);
            flags_free(sidecar_flags, N_FLAGS);
            return 1;
        }
        log_info("sidecar", "Bucket configured", "bucket=\"%s\" upload_compacted=%s", objstore_name(s.bucket),
                 flags_bool(sidecar_flags, N_FLAGS, "shipper.upload-compacted") ? "true" : "false");
    }
    log_info("sidecar", "gRPC StoreAPI is not served by promlab; --grpc-address is ignored", "address=%s",
             flags_str(sidecar_flags, N_FLAGS, "grpc-address"));

    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    signal(SIGPIPE, SIG_IGN);
    pthread_mutex_init(&s.mu, NULL);
    pthread_cond_init(&s.cond, NULL);
    pthread_mutex_init(&s.lab_mu, NULL);
    s.tsdb_path = tsdb_path;
    remote_client_opts_t co = {.timeout_ms = 120000};
    s.prom = remote_client_new(s.prom_url, &co, &err);
    if (!s.prom) {
        fprintf(stderr, "promlab sidecar: error: --prometheus.url: %s\n", err.msg);
        exit_code = 1;
        goto out;
    }

    const char *addr = flags_str(sidecar_flags, N_FLAGS, "http-address");
    http = http_server_start(addr, 4, handle, &s, &err);
    if (!http) {
        fprintf(stderr, "promlab sidecar: error: listen on %s: %s\n", addr, err.msg);
        exit_code = 1;
        goto out;
    }
    log_info("http", "Listening for HTTP", "address=%s", addr);
    pthread_t th;
    if (pthread_create(&th, NULL, worker, &s) != 0) {
        fprintf(stderr, "promlab sidecar: error: cannot start worker thread\n");
        exit_code = 1;
        goto out;
    }
    for (;;) {
        int sig = 0;
        if (sigwait(&sigs, &sig) == 0) break;
    }
    if (!atomic_load(&s.fatal)) log_info("main", "Received termination request, exiting gracefully...", NULL);
    pthread_mutex_lock(&s.mu);
    s.stop = true;
    pthread_cond_broadcast(&s.cond);
    pthread_mutex_unlock(&s.mu);
    pthread_join(th, NULL);
    if (atomic_load(&s.fatal)) exit_code = 1;
out:
    if (http) http_server_stop(http);
    shipper_free(s.shipper);
    objstore_close(s.bucket);
    remote_client_free(s.prom);
    free_labels(s.ext, s.next);
    pthread_mutex_destroy(&s.lab_mu);
    pthread_cond_destroy(&s.cond);
    pthread_mutex_destroy(&s.mu);
    flags_free(sidecar_flags, N_FLAGS);
    log_info("main", "exiting", "code=%d", exit_code);
    return exit_code;
}
