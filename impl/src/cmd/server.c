/* server.c — `promlab server`: the Prometheus role.
 *
 * Flags carry Prometheus's names and defaults (hidden ones too, so
 * /api/v1/status/flags reads as a Prometheus's does). Start-up order: flags,
 * config, head, scrape manager, web; then the main thread waits for signals:
 * SIGHUP reloads the config (a bad one is refused and the running one stays),
 * SIGINT/SIGTERM shut down. */
#include <errno.h>
#include <inttypes.h>
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cmd/cmd.h"
#include "config/config.h"
#include "rules/rules.h"
#include "scrape/scrape.h"
#include "tsdb/db.h"
#include "tsdb/head.h"
#include "util/flags.h"
#include "util/log.h"
#include "util/timeutil.h"
#include "web/web.h"

static flag_def_t server_flags[] = {
    {"config.file", FLAG_STRING, "prometheus.yml", "Prometheus configuration file path.", false},
    {"config.auto-reload-interval", FLAG_DURATION, "30s", "Interval for checking the config file for changes (with the auto-reload-config feature).", false},
    {"web.listen-address", FLAG_STRINGS, "0.0.0.0:9090", "Address to listen on for UI, API, and telemetry.", false},
    {"web.config.file", FLAG_STRING, "", "[EXPERIMENTAL] Path to configuration file that can enable TLS or authentication.", false},
    {"web.read-timeout", FLAG_DURATION, "5m", "Maximum duration before timing out read of the request, and closing idle connections.", false},
    {"web.max-connections", FLAG_INT, "512", "Maximum number of simultaneous connections across all listeners.", false},
    {"web.max-notifications-subscribers", FLAG_INT, "16", "Limits the maximum number of subscribers that can concurrently receive live notifications.", false},
    {"web.external-url", FLAG_STRING, "", "The URL under which Prometheus is externally reachable.", false},
    {"web.route-prefix", FLAG_STRING, "", "Prefix for the internal routes of web endpoints.", false},
    {"web.user-assets", FLAG_STRING, "", "Path to static asset directory, available at /user.", false},
    {"web.enable-lifecycle", FLAG_BOOL, "false", "Enable shutdown and reload via HTTP request.", false},
    {"web.enable-admin-api", FLAG_BOOL, "false", "Enable API endpoints for admin control actions.", false},
    {"web.enable-remote-write-receiver", FLAG_BOOL, "false", "Enable API endpoint accepting remote write requests.", false},
    {"web.enable-otlp-receiver", FLAG_BOOL, "false", "Enable API endpoint accepting OTLP write requests.", false},
    {"web.console.templates", FLAG_STRING, "consoles", "Path to the console template directory, available at /consoles.", false},
    {"web.console.libraries", FLAG_STRING, "console_libraries", "Path to the console library directory.", false},
    {"web.page-title", FLAG_STRING, "Prometheus Time Series Collection and Processing Server", "Document title of Prometheus instance.", false},
    {"web.cors.origin", FLAG_STRING, ".*", "Regex for CORS origin. It is fully anchored.", false},
    {"storage.tsdb.path", FLAG_STRING, "data/", "Base path for metrics storage.", false},
    {"storage.tsdb.retention.time", FLAG_DURATION, "", "How long to retain samples in storage. If neither this flag nor \"storage.tsdb.retention.size\" is set, the retention time defaults to 15d. Units Supported: y, w, d, h, m, s, ms.", false},
    {"storage.tsdb.retention.size", FLAG_SIZE, "0B", "Maximum number of bytes that can be stored for blocks. A unit is required, supported units: B, KB, MB, GB, TB, PB, EB. Ex: \"512MB\". Based on powers-of-2, so 1KB is 1024B.", false},
    {"storage.tsdb.no-lockfile", FLAG_BOOL, "false", "Do not create lockfile in data directory.", false},
    {"storage.tsdb.head-chunks-write-queue-size", FLAG_INT, "0", "Size of the queue through which head chunks are written to the disk to be m-mapped, 0 disables the queue completely. Experimental.", false},
    {"storage.tsdb.min-block-duration", FLAG_DURATION, "2h", "Minimum duration of a data block before being persisted. For use in testing.", true},
    {"storage.tsdb.max-block-duration", FLAG_DURATION, "", "Maximum duration compacted blocks may span. For use in testing. (Default: 10% of the retention period.)", true},
    {"storage.tsdb.wal-segment-size", FLAG_SIZE, "", "Size at which to split the tsdb WAL segment files. Example: 100MB", true},
    {"storage.tsdb.wal-compression", FLAG_BOOL, "true", "Compress the tsdb WAL.", false},
    {"storage.tsdb.wal-compression-type", FLAG_STRING, "zstd", "Compression algorithm for the tsdb WAL (none, snappy, zstd).", true},
    {"storage.tsdb.samples-per-chunk", FLAG_INT, "120", "Target number of samples per chunk.", true},
    {"storage.tsdb.allow-overlapping-blocks", FLAG_BOOL, "true", "[DEPRECATED] This flag has no effect. Overlapping blocks are enabled by default now.", true},
    {"storage.agent.path", FLAG_STRING, "data-agent/", "Base path for metrics storage (agent mode).", false},
    {"storage.remote.flush-deadline", FLAG_DURATION, "1m", "How long to wait flushing sample on shutdown or config reload.", false},
    {"storage.remote.read-sample-limit", FLAG_INT, "50000000", "Maximum overall number of samples to return via the remote read interface, in a single query. 0 means no limit.", false},
    {"storage.remote.read-concurrent-limit", FLAG_INT, "10", "Maximum number of concurrent remote read calls. 0 means no limit.", false},
    {"storage.remote.read-max-bytes-in-frame", FLAG_INT, "1048576", "Maximum number of bytes in a single frame for streaming remote read response types before marshalling.", false},
    {"rules.alert.for-outage-tolerance", FLAG_DURATION, "1h", "Max time to tolerate prometheus outage for restoring \"for\" state of alert.", false},
    {"rules.alert.for-grace-period", FLAG_DURATION, "10m", "Minimum duration between alert and restored \"for\" state.", false},
    {"rules.alert.resend-delay", FLAG_DURATION, "1m", "Minimum amount of time to wait before resending an alert to Alertmanager.", false},
    {"rules.max-concurrent-evals", FLAG_INT, "4", "Global concurrency limit for independent rules that can run concurrently.", false},
    {"alertmanager.notification-queue-capacity", FLAG_INT, "10000", "The capacity of the queue for pending Alertmanager notifications.", false},
    {"alertmanager.drain-notification-queue-on-shutdown", FLAG_BOOL, "true", "Send any outstanding Alertmanager notifications when shutting down.", false},
    {"query.lookback-delta", FLAG_DURATION, "5m", "The maximum lookback duration for retrieving metrics during expression evaluations and federation.", false},
    {"query.timeout", FLAG_DURATION, "2m", "Maximum time a query may take before being aborted.", false},
    {"query.max-concurrency", FLAG_INT, "20", "Maximum number of queries executed concurrently.", false},
    {"query.max-samples", FLAG_INT, "50000000", "Maximum number of samples a single query can load into memory.", false},
    {"enable-feature", FLAG_STRINGS, "", "Comma separated feature names to enable.", false},
    {"agent", FLAG_BOOL, "false", "Run Prometheus in 'Agent mode'.", false},
    {"scrape.adjust-timestamps", FLAG_BOOL, "true", "Adjust scrape timestamps by up to scrape.timestamp-tolerance to align them to the intended schedule.", true},
    {"scrape.timestamp-tolerance", FLAG_DURATION, "2ms", "Timestamp tolerance.", true},
    {"scrape.discovery-reload-interval", FLAG_DURATION, "5s", "Interval used by scrape manager to throttle target groups updates.", true},
    {"log.level", FLAG_STRING, "info", "Only log messages with the given severity or above. One of: [debug, info, warn, error]", false},
    {"log.format", FLAG_STRING, "logfmt", "Output format of log messages. One of: [logfmt, json]", false},
};
#define N_SERVER_FLAGS (sizeof server_flags / sizeof server_flags[0])

typedef struct server {
    pthread_mutex_t config_mu; /* guards config and reload */
    config_t *config;
    const char *config_path;
    db_t *db;
    head_t *head; /* the db's */
    scrape_manager_t *scrape;
    rules_manager_t *rules;
    notifier_t *notifier;
    promql_engine_t *rule_engine;
    _Atomic int last_reload_ok;
    _Atomic int64_t last_reload_success_ms;
    _Atomic uint64_t reloads_total, reload_failures_total;
    _Atomic(web_t *) web; /* set once the web listener runs (query log on reload) */
} server_t;

static int reload_config(void *ctx, pl_err_t *err) {
    server_t *s = ctx;
    pthread_mutex_lock(&s->config_mu);
    config_t *nc = NULL;
    atomic_fetch_add(&s->reloads_total, 1);
    int rc = config_load_file(s->config_path, &nc, err);
    /* Rules first: an error in a rule file refuses the whole reload. */
    if (rc == 0 && s->rules && (rc = rules_manager_update(s->rules, nc, err)) < 0)
        pl_err_prefix(err, "error loading rules, previous rule set restored");
    if (rc == 0 && s->notifier) rc = notifier_apply_config(s->notifier, nc, err);
    web_t *web = atomic_load(&s->web);
    if (rc == 0 && web) rc = web_set_query_log(web, nc->global.query_log_file, err);
    if (rc == 0) rc = scrape_manager_apply_config(s->scrape, nc, err);
    if (rc == 0) {
        config_free(s->config);
        s->config = nc;
        atomic_store(&s->last_reload_ok, 1);
        atomic_store(&s->last_reload_success_ms, pl_now_ms());
        log_info("config", "Completed loading of configuration file", "filename=%s", s->config_path);
    } else {
        config_free(nc);
        atomic_store(&s->last_reload_ok, 0);
        atomic_fetch_add(&s->reload_failures_total, 1);
        log_error("config", "Error reloading config; the running configuration stays", "err=\"%s\"",
                  err ? err->msg : "");
    }
    pthread_mutex_unlock(&s->config_mu);
    return rc;
}

static void config_yaml(void *ctx, strbuf_t *out) {
    server_t *s = ctx;
    pthread_mutex_lock(&s->config_mu);
    config_render_yaml(s->config, out);
    pthread_mutex_unlock(&s->config_mu);
}

/* /-/quit answers first and stops a moment later: signalling at once would
 * let shutdown close the connection before the answer leaves. */
static void *quit_later(void *arg) {
    (void)arg;
    struct timespec ts = {0, 200 * 1000 * 1000};
    nanosleep(&ts, NULL);
    kill(getpid(), SIGTERM);
    return NULL;
}

static void request_quit(void *ctx) {
    (void)ctx;
    pthread_t th;
    if (pthread_create(&th, NULL, quit_later, NULL) == 0) pthread_detach(th);
    else kill(getpid(), SIGTERM);
}

static void reload_status(void *ctx, bool *ok, int64_t *last_success_ms, uint64_t *wal_corruptions) {
    server_t *s = ctx;
    db_stats_t ds;
    db_get_stats(s->db, &ds);
    *wal_corruptions = ds.wal_corruptions;
    *ok = atomic_load(&s->last_reload_ok) != 0;
    *last_success_ms = atomic_load(&s->last_reload_success_ms);
}

/* A copy of global.external_labels (for /federate). */
static int external_labels(void *ctx, label_t **out, size_t *n) {
    server_t *s = ctx;
    pthread_mutex_lock(&s->config_mu);
    const config_labels_t *el = &s->config->global.external_labels;
    label_t *v = calloc(el->n ? el->n : 1, sizeof *v);
    size_t k = 0;
    for (; v && k < el->n; k++) {
        v[k].name = strdup(el->v[k].name);
        v[k].value = strdup(el->v[k].value);
        if (!v[k].name || !v[k].value) break;
    }
    pthread_mutex_unlock(&s->config_mu);
    if (!v || k < el->n) {
        for (size_t i = 0; v && i <= k && i < el->n; i++) {
            free((char *)v[i].name);
            free((char *)v[i].value);
        }
        free(v);
        return -1;
    }
    *out = v;
    *n = k;
    return 0;
}

static void write_server_metrics(void *ctx, strbuf_t *sb) {
    server_t *s = ctx;
    strbuf_puts(sb, "# HELP prometheus_config_last_reload_successful Whether the last configuration reload attempt was successful.\n"
                    "# TYPE prometheus_config_last_reload_successful gauge\n");
    strbuf_printf(sb, "prometheus_config_last_reload_successful %d\n", atomic_load(&s->last_reload_ok));
    strbuf_puts(sb, "# HELP prometheus_config_last_reload_success_timestamp_seconds Timestamp of the last successful configuration reload.\n"
                    "# TYPE prometheus_config_last_reload_success_timestamp_seconds gauge\n");
    strbuf_printf(sb, "prometheus_config_last_reload_success_timestamp_seconds %" PRId64 "\n",
                  atomic_load(&s->last_reload_success_ms) / 1000);
    strbuf_puts(sb, "# HELP promlab_config_reloads_total Configuration reload attempts.\n"
                    "# TYPE promlab_config_reloads_total counter\n");
    strbuf_printf(sb, "promlab_config_reloads_total %" PRIu64 "\n", atomic_load(&s->reloads_total));
    strbuf_puts(sb, "# HELP promlab_config_reload_failures_total Configuration reload attempts that were refused.\n"
                    "# TYPE promlab_config_reload_failures_total counter\n");
    strbuf_printf(sb, "promlab_config_reload_failures_total %" PRIu64 "\n", atomic_load(&s->reload_failures_total));
    db_write_metrics(s->db, sb);
    if (s->rules) rules_manager_write_metrics(s->rules, sb);
    if (s->notifier) notifier_write_metrics(s->notifier, sb);
}

/* --web.external-url, or Prometheus's default http://<hostname>:<port>/. */
static char *external_url(const char *listen) {
    const char *flag = flags_str(server_flags, N_SERVER_FLAGS, "web.external-url");
    if (flag && *flag) return strdup(flag);
    char host[256] = "localhost";
    gethostname(host, sizeof host - 1);
    const char *colon = listen ? strrchr(listen, ':') : NULL;
    strbuf_t sb = STRBUF_INIT;
    strbuf_printf(&sb, "http://%s:%s/", host, colon ? colon + 1 : "9090");
    return strbuf_detach(&sb);
}

static int mkdir_p(const char *path) {
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s", path);
    for (char *p = tmp + 1; *p; p++) {
        if (*p != '/') continue;
        *p = '\0';
        if (mkdir(tmp, 0755) < 0 && errno != EEXIST) return -1;
        *p = '/';
    }
    if (mkdir(tmp, 0755) < 0 && errno != EEXIST) return -1;
    return 0;
}

/* Block range and retention from the storage flags, with Prometheus's
 * defaults: 15d of time retention when neither limit is given. */
static int storage_flags(db_opts_t *o, pl_err_t *err) {
    int64_t v = 0;
    if (flags_duration(server_flags, N_SERVER_FLAGS, "storage.tsdb.min-block-duration", &v, err) < 0) return -1;
    if (v <= 0) return pl_err_set(err, "--storage.tsdb.min-block-duration: must be positive");
    o->block_range_ms = v;
    const char *s = flags_str(server_flags, N_SERVER_FLAGS, "storage.tsdb.max-block-duration");
    if (s && *s) {
        if (flags_duration(server_flags, N_SERVER_FLAGS, "storage.tsdb.max-block-duration", &v, err) < 0) return -1;
        o->max_block_duration_ms = v < o->block_range_ms ? o->block_range_ms : v;
    }
    s = flags_str(server_flags, N_SERVER_FLAGS, "storage.tsdb.retention.time");
    if (s && *s && flags_duration(server_flags, N_SERVER_FLAGS, "storage.tsdb.retention.time", &o->retention_ms, err) < 0)
        return -1;
    if (flags_size(server_flags, N_SERVER_FLAGS, "storage.tsdb.retention.size", &o->retention_bytes, err) < 0) return -1;
    if (o->retention_ms == 0 && o->retention_bytes == 0) o->retention_ms = 15LL * 24 * 3600 * 1000;
    return 0;
}

/* Validates the flags whose values have a syntax. */
static int check_flags(int64_t *lookback_ms, pl_err_t *err) {
    int64_t v;
    for (size_t i = 0; i < N_SERVER_FLAGS; i++) {
        flag_def_t *f = &server_flags[i];
        if (!f->value || !*f->value) continue;
        int rc = 0;
        if (f->kind == FLAG_DURATION) rc = flags_duration(server_flags, N_SERVER_FLAGS, f->name, &v, err);
        else if (f->kind == FLAG_SIZE) rc = flags_size(server_flags, N_SERVER_FLAGS, f->name, &v, err);
        else if (f->kind == FLAG_INT) rc = flags_int(server_flags, N_SERVER_FLAGS, f->name, &v, err);
        if (rc < 0) return -1;
    }
    const char *wct = flags_str(server_flags, N_SERVER_FLAGS, "storage.tsdb.wal-compression-type");
    if (strcmp(wct, "none") && strcmp(wct, "snappy") && strcmp(wct, "zstd"))
        return pl_err_set(err, "--storage.tsdb.wal-compression-type: must be one of none, snappy, zstd, got \"%s\"", wct);
    if (flags_duration(server_flags, N_SERVER_FLAGS, "query.lookback-delta", lookback_ms, err) < 0) return -1;
    if (*lookback_ms <= 0) return pl_err_set(err, "--query.lookback-delta: must be positive");
    return 0;
}

int cmd_server(int argc, char **argv) {
    /* A fixed mmap threshold: buffers of a MiB and more (scrape bodies, API
     * answers) are mmap'd and go back to the kernel when freed, instead of
     * glibc raising the threshold and keeping them in its heap. */
    mallopt(M_MMAP_THRESHOLD, 1 << 20);
    pl_err_t err = {{0}};
    int rc = flags_parse_cli(server_flags, N_SERVER_FLAGS, argc, argv, "promlab server", "promlab server [<flags>]");
    if (rc >= 0) return rc;
    int64_t lookback_ms = 0;
    if (flags_apply_log(server_flags, N_SERVER_FLAGS, &err) < 0 || check_flags(&lookback_ms, &err) < 0)
        return flags_cli_error(server_flags, N_SERVER_FLAGS, "promlab server", err.msg);

    server_t s;
    memset(&s, 0, sizeof s);
    pthread_mutex_init(&s.config_mu, NULL);
    s.config_path = flags_str(server_flags, N_SERVER_FLAGS, "config.file");
    log_info("main", "Starting promlab server", "version=%s mode=server", PROMLAB_VERSION);
    if (config_load_file(s.config_path, &s.config, &err) < 0) {
        log_error("main", "Error loading config", "file=%s err=\"%s\"", s.config_path, err.msg);
        fprintf(stderr, "promlab server: error loading config (--config.file=%s): %s\n", s.config_path, err.msg);
        flags_free(server_flags, N_SERVER_FLAGS);
        return 1;
    }
    atomic_store(&s.last_reload_ok, 1);
    atomic_store(&s.last_reload_success_ms, pl_now_ms());
    const char *data_dir = flags_str(server_flags, N_SERVER_FLAGS, "storage.tsdb.path");
    if (mkdir_p(data_dir) < 0) {
        fprintf(stderr, "promlab server: error: cannot create --storage.tsdb.path %s: %s\n", data_dir, strerror(errno));
        config_free(s.config);
        flags_free(server_flags, N_SERVER_FLAGS);
        return 1;
    }

    /* Signals are taken by the main thread alone: block them before any thread starts. */
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGHUP);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    signal(SIGPIPE, SIG_IGN);

    int exit_code = 0;
    web_t *web = NULL;
    db_opts_t dbo = {
        .no_lockfile = flags_bool(server_flags, N_SERVER_FLAGS, "storage.tsdb.no-lockfile"),
        .wal_compression = WAL_COMPRESSION_NONE,
    };
    if (flags_bool(server_flags, N_SERVER_FLAGS, "storage.tsdb.wal-compression"))
        (void)wal_compression_parse(flags_str(server_flags, N_SERVER_FLAGS, "storage.tsdb.wal-compression-type"),
                                    &dbo.wal_compression);
    const char *segsz = flags_str(server_flags, N_SERVER_FLAGS, "storage.tsdb.wal-segment-size");
    if (segsz && *segsz) {
        int64_t v = 0;
        if (flags_size(server_flags, N_SERVER_FLAGS, "storage.tsdb.wal-segment-size", &v, &err) < 0 ||
            v < WAL_PAGE_SIZE || v > (int64_t)1 << 40) {
            fprintf(stderr, "promlab server: error: --storage.tsdb.wal-segment-size: must be at least 32KB\n");
            exit_code = 2;
            goto out;
        }
        dbo.wal_segment_size = (size_t)(v / WAL_PAGE_SIZE) * WAL_PAGE_SIZE;
    }
    if (storage_flags(&dbo, &err) < 0) {
        fprintf(stderr, "promlab server: error: %s\n", err.msg);
        exit_code = 2;
        goto out;
    }
    if (db_open(data_dir, &dbo, &s.db, &err) < 0) {
        log_error("main", "Opening storage failed", "err=\"%s\"", err.msg);
        fprintf(stderr, "promlab server: error: opening storage failed: %s\n", err.msg);
        exit_code = 1;
        goto out;
    }
    s.head = db_head(s.db);
    if (db_start_background(s.db, 60 * 1000, &err) < 0) log_error("tsdb", "No background compaction", "err=\"%s\"", err.msg);
    queryable_t dbq;
    db_queryable(s.db, &dbq);
    appendable_t storage;
    db_appendable(s.db, &storage);
    s.scrape = scrape_manager_new(&storage);
    if (!s.scrape) {
        fprintf(stderr, "promlab server: error: out of memory\n");
        exit_code = 1;
        goto out;
    }
    if (scrape_manager_apply_config(s.scrape, s.config, &err) < 0 || scrape_manager_start(s.scrape, &err) < 0) {
        fprintf(stderr, "promlab server: error starting scrape manager: %s\n", err.msg);
        exit_code = 1;
        goto out;
    }
    flag_def_t *listen = flags_find(server_flags, N_SERVER_FLAGS, "web.listen-address");
    /* Rules and notifications (Prometheus's rule manager and notifier). */
    char *ext_url = external_url(listen->value);
    {
        int64_t resend = 60000, outage = 3600000, grace = 600000, cap = 10000;
        (void)flags_duration(server_flags, N_SERVER_FLAGS, "rules.alert.resend-delay", &resend, &err);
        (void)flags_duration(server_flags, N_SERVER_FLAGS, "rules.alert.for-outage-tolerance", &outage, &err);
        (void)flags_duration(server_flags, N_SERVER_FLAGS, "rules.alert.for-grace-period", &grace, &err);
        (void)flags_int(server_flags, N_SERVER_FLAGS, "alertmanager.notification-queue-capacity", &cap, &err);
        notifier_opts_t no = {
            .queue_capacity = cap > 0 ? (size_t)cap : 10000,
            .drain_on_shutdown = flags_bool(server_flags, N_SERVER_FLAGS, "alertmanager.drain-notification-queue-on-shutdown"),
        };
        s.notifier = notifier_new(&no);
        promql_engine_opts_t eo = {.lookback_ms = lookback_ms, .max_samples = 50000000};
        s.rule_engine = promql_engine_new(&eo);
        rules_manager_opts_t ro = {
            .engine = s.rule_engine,
            .appendable = storage,
            .notifier = s.notifier,
            .external_url = ext_url,
            .resend_delay_ms = resend,
            .outage_tolerance_ms = outage,
            .for_grace_period_ms = grace,
        };
        ro.queryable = dbq; /* rules read blocks + head, as queries do */
        s.rules = s.notifier && s.rule_engine ? rules_manager_new(&ro) : NULL;
    }
    free(ext_url);
    if (!s.rules || notifier_apply_config(s.notifier, s.config, &err) < 0 ||
        notifier_start(s.notifier, &err) < 0 || rules_manager_update(s.rules, s.config, &err) < 0) {
        log_error("main", "Error loading rules or starting the notifier", "err=\"%s\"", s.rules ? err.msg : "out of memory");
        fprintf(stderr, "promlab server: error loading rules: %s\n", s.rules ? err.msg : "out of memory");
        exit_code = 1;
        goto out;
    }
    web_opts_t wo = {
        .listen_address = listen->value,
        .head = s.head,
        .queryable = dbq,
        .tsdb = s.db,
        .scrape = s.scrape,
        .rules = s.rules,
        .notifier = s.notifier,
        .enable_lifecycle = flags_bool(server_flags, N_SERVER_FLAGS, "web.enable-lifecycle"),
        .enable_admin_api = flags_bool(server_flags, N_SERVER_FLAGS, "web.enable-admin-api"),
        .lookback_delta_ms = lookback_ms,
        .query_log_file = s.config->global.query_log_file,
        .flags = server_flags,
        .nflags = N_SERVER_FLAGS,
        .cb_ctx = &s,
        .reload = reload_config,
        .config_yaml = config_yaml,
        .quit = request_quit,
        .write_metrics = write_server_metrics,
        .reload_status = reload_status,
        .external_labels = external_labels,
    };
    (void)flags_duration(server_flags, N_SERVER_FLAGS, "query.timeout", &wo.query_timeout_ms, &err);
    (void)flags_int(server_flags, N_SERVER_FLAGS, "query.max-samples", &wo.query_max_samples, &err);
    int64_t max_conc = 0;
    (void)flags_int(server_flags, N_SERVER_FLAGS, "query.max-concurrency", &max_conc, &err);
    wo.query_max_concurrency = max_conc > 0 && max_conc < INT32_MAX ? (int)max_conc : 0;
    int64_t v = 0;
    if (flags_int(server_flags, N_SERVER_FLAGS, "storage.remote.read-sample-limit", &v, &err) == 0) wo.remote_read_sample_limit = v;
    if (flags_int(server_flags, N_SERVER_FLAGS, "storage.remote.read-concurrent-limit", &v, &err) == 0) wo.remote_read_concurrent_limit = v;
    if (flags_int(server_flags, N_SERVER_FLAGS, "storage.remote.read-max-bytes-in-frame", &v, &err) == 0) wo.remote_read_max_bytes_in_frame = v;
    web = web_start(&wo, &err);
    if (!web) {
        log_error("web", "Unable to start web listener", "err=\"%s\"", err.msg);
        fprintf(stderr, "promlab server: error: %s\n", err.msg);
        exit_code = 1;
        goto out;
    }
    atomic_store(&s.web, web);
    log_info("web", "Listening", "address=%s", listen->value);
    rules_manager_start(s.rules);
    web_set_ready(web, true);
    log_info("main", "Server is ready to receive web requests.", NULL);

    for (;;) {
        int sig = 0;
        if (sigwait(&sigs, &sig) != 0) continue;
        if (sig == SIGHUP) {
            pl_err_t rerr = {{0}};
            reload_config(&s, &rerr);
            continue;
        }
        log_warn("main", "Received termination request, exiting gracefully...", "signal=%d", sig);
        break;
    }

out:
    if (web) {
        web_set_ready(web, false);
        web_stop(web);
    }
    if (s.rules) rules_manager_stop(s.rules);
    if (s.scrape) {
        scrape_manager_stop(s.scrape);
        scrape_manager_free(s.scrape);
    }
    rules_manager_free(s.rules);
    notifier_free(s.notifier); /* drains the queue when asked to */
    if (s.rule_engine) promql_engine_free(s.rule_engine);
    pl_err_t cerr = {{0}};
    if (db_close(s.db, &cerr) != 0) log_error("main", "Error closing storage", "err=\"%s\"", cerr.msg);
    config_free(s.config);
    pthread_mutex_destroy(&s.config_mu);
    flags_free(server_flags, N_SERVER_FLAGS);
    log_info("main", "See you next time!", NULL);
    return exit_code;
}
