/* internal.h — what the scrape module's files share (private to scrape/).
 *
 * manager.c owns the scrape thread, the libcurl multi handle, the target list
 * and config reloads; append.c turns one finished HTTP response into one
 * storage transaction (parse into a pending batch, commit or roll back, staleness, the
 * synthetic series, metric relabeling of new series); cache.c is the
 * per-target series cache; metadata.c the per-target TYPE/HELP/UNIT table;
 * file_sd.c the file discovery (polled by the scrape thread, which rebuilds
 * the targets from the manager's own copy of the config when a file changed).
 *
 * Ownership and threads: a scrape_target_t belongs to the manager. Only the
 * scrape thread (or apply_config while no thread runs) changes the target
 * list, a target's options and its transfer and cache state. Fields marked
 * "under mu" are also read by other threads (targets snapshot, metrics) and
 * are written with scrape_manager.mu held. */
#ifndef PL_SCRAPE_INTERNAL_H
#define PL_SCRAPE_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include <curl/curl.h>

#include "relabel/relabel.h"
#include "scrape/cache.h"
#include "scrape/file_sd.h"
#include "scrape/metadata.h"
#include "scrape/scrape.h"
#include "util/summary.h"

/* fallback_scrape_protocol values besides the text formats. */
enum { SCRAPE_FALLBACK_NONE = -1, SCRAPE_FALLBACK_PROTOBUF = -2 };

/* Compiled metric_relabel_configs of a pool, shared by its targets. */
typedef struct scrape_rules {
    _Atomic int refs;
    relabel_rules_t *rules;
} scrape_rules_t;

scrape_rules_t *scrape_rules_ref(scrape_rules_t *r); /* NULL-safe */
void scrape_rules_unref(scrape_rules_t *r);          /* NULL-safe */

/* Options of a target that a reload may change without restarting it. */
typedef struct scrape_opts {
    int64_t interval_ms, timeout_ms;
    uint64_t sample_limit, label_limit, label_name_length_limit, label_value_length_limit;
    int64_t body_size_limit; /* bytes, 0 = none */
    bool honor_labels, honor_timestamps, track_timestamps_staleness;
    char *basic_auth_username, *basic_auth_password;           /* owned, may be NULL */
    char *basic_auth_username_file, *basic_auth_password_file; /* owned, may be NULL: read at each scrape */
    char *accept_header;     /* owned: built from scrape_protocols and the escaping scheme */
    bool enable_compression; /* ask for gzip (else identity) */
    bool follow_redirects;
    int fallback_format; /* enum textparse_format for fallback_scrape_protocol, or a SCRAPE_FALLBACK_* */
    bool legacy_names;   /* metric_name_validation_scheme: legacy */
    char *forced_error;  /* owned; set when the pool exceeds target_limit: scrapes fail with it */
} scrape_opts_t;

enum scrape_report_series {
    SCRAPE_REPORT_UP = 0,
    SCRAPE_REPORT_DURATION,
    SCRAPE_REPORT_SAMPLES_SCRAPED,
    SCRAPE_REPORT_SAMPLES_POST_RELABEL,
    SCRAPE_REPORT_SERIES_ADDED,
    SCRAPE_REPORT_N,
};

enum scrape_health { SCRAPE_HEALTH_UNKNOWN = 0, SCRAPE_HEALTH_UP, SCRAPE_HEALTH_DOWN };

typedef struct scrape_target {
    /* Identity: fixed for the target's life. */
    char *job, *url, *address;
    uint64_t key;         /* hash of everything that, when changed, makes it another target */
    uint64_t offset_hash; /* hash of URL and job: the phase of its scrapes within the interval */
    scrape_rules_t *metric_rules; /* metric_relabel_configs (a reference), NULL when none */
    label_t *labels;      /* public target labels (job, instance, static labels), sorted, owned strings */
    size_t nlabels;
    label_t *discovered; /* labels before relabeling (__address__, __scheme__, ...), sorted, owned */
    size_t ndiscovered;

    scrape_opts_t opts; /* interval_ms/timeout_ms under mu */
    bool opts_dirty;    /* request headers/options must be rebuilt before the next scrape */

    /* Schedule (wall-clock ms). */
    int64_t next_due_ms;
    bool in_flight;
    bool retiring;         /* removed by a reload: waiting to write end-of-run stale markers */
    int64_t retire_at_ms;  /* when to write them */
    int64_t stale_ts_ms;   /* the timestamp they get (when the next scrape would have been) */
    int64_t last_start_ns; /* monotonic start of the previous scrape, 0 before the first */

    /* The transfer. */
    CURL *easy;
    struct curl_slist *headers;
    strbuf_t body;
    size_t body_hint; /* last body's size: reserved up front, freed after each scrape */
    bool body_exceeded;
    char status_line[128]; /* reason phrase of the last HTTP status line */
    char curl_err[CURL_ERROR_SIZE];
    int64_t scrape_ts_ms; /* timestamp of the samples of the scrape in flight */
    int64_t start_ns;     /* monotonic start of the scrape in flight */

    /* Storage state. */
    scrape_cache_t cache;
    scrape_meta_t meta; /* TYPE/HELP/UNIT seen; written by the scrape thread, read under mu */
    series_ref_t report_refs[SCRAPE_REPORT_N];
    bool ever_scraped; /* a scrape result was processed (there is something to mark stale) */

    /* Status, under mu. */
    enum scrape_health health;
    char *last_error; /* owned, "" when none */
    int64_t last_scrape_ms;
    double last_duration_s;
    uint64_t last_samples;
    size_t mem_cache, mem_cache_entries, mem_body; /* memory snapshot after the last scrape, under mu */
} scrape_target_t;

/* A target that relabeling dropped: kept for /api/v1/targets (droppedTargets). */
typedef struct scrape_dropped {
    char *pool;      /* owned (NULL while being built) */
    label_t *labels; /* discovered labels, sorted, owned strings */
    size_t nlabels;
} scrape_dropped_t;

/* What building one pool's targets needs: the config and its compiled
 * relabel_configs with a builder for them (target construction only). */
typedef struct scrape_pool_build {
    const scrape_config_t *sc;
    const relabel_rules_t *rules; /* NULL: no relabel_configs */
    relabel_labels_t *rb;
    scrape_rules_t *metric_rules; /* NULL: no metric_relabel_configs */
} scrape_pool_build_t;

/* A scrape pool (job) as the last applied config describes it. */
typedef struct scrape_pool_info {
    char *name;
    size_t ndiscovered; /* targets listed in its static configs and found by its file_sd_configs */
    size_t ntargets;    /* distinct targets kept */
    size_t ndropped;    /* targets relabeling dropped (all of them, also those not kept) */
    bool over_target_limit;
    double sync_seconds; /* how long building its targets took (this sync) */
    double sync_sum;     /* over every sync since the pool appeared (prometheus_target_sync_length_seconds) */
    uint64_t sync_count;
} scrape_pool_info_t;

/* What apply_config hands to the scrape thread: candidate targets (not yet
 * holding curl handles) and the pools. */
typedef struct scrape_target_set {
    scrape_target_t **targets;
    size_t ntargets;
    scrape_pool_info_t *pools;
    size_t npools;
    scrape_dropped_t *dropped; /* in pool order, at most keep_dropped_targets per pool (0 = all) */
    size_t ndropped;
    /* Set by apply_config only (a reload): the manager's own copy of the
     * config and the file discoveries of its pools, adopted by apply_locked.
     * NULL for a rebuild after file_sd found a change. */
    bool adopt_discovery; /* from apply_config: cfg and sds replace the manager's */
    config_t *cfg;
    file_sd_t **sds;
    size_t nsds;
} scrape_target_set_t;

/* How often the scrape thread looks at file_sd target files for changes. */
#define SCRAPE_SD_POLL_MS 1000

/* Observations of prometheus_target_interval_length_seconds for one interval. */
typedef struct scrape_interval_summary {
    char interval[32]; /* Go duration string, e.g. "15s", "1m0s" */
    pl_summary_t s;
} scrape_interval_summary_t;

/* Counters, under mu. */
typedef struct scrape_counters {
    uint64_t pools_total;
    uint64_t pool_reloads; /* a config reload found the pool already running */
    uint64_t exceeded_sample_limit;
    uint64_t exceeded_body_size_limit;
    uint64_t exceeded_label_limits;
    uint64_t exceeded_target_limit;
    uint64_t sample_duplicate;
    uint64_t sample_out_of_order;
    uint64_t sample_out_of_bounds;
} scrape_counters_t;

/* The pending batch of one scrape: everything parsed, nothing stored yet.
 * Reused across scrapes; grows by doubling, so a steady state allocates
 * nothing. Label strings of new series are copied into `bytes` and referred
 * to by offset (the arena may move while it grows). */
typedef struct scrape_hit {
    series_ref_t ref;
    int64_t t;
    double v;
} scrape_hit_t;

typedef struct scrape_miss {
    uint64_t hash;
    int64_t t;
    double v;
    uint32_t label_start; /* index into label_offs (pairs) */
    uint32_t nlabels;
} scrape_miss_t;

typedef struct scrape_batch {
    scrape_hit_t *hits;
    size_t nhits, cap_hits;
    scrape_miss_t *misses;
    size_t nmisses, cap_misses;
    uint32_t *label_offs; /* name offset, value offset, ... into bytes */
    size_t nlabel_offs, cap_label_offs;
    strbuf_t bytes;
    label_t *scratch; /* label building */
    size_t cap_scratch;
    strbuf_t names; /* "exported_..." names being built */
    relabel_labels_t rb; /* metric_relabel_configs builder */
} scrape_batch_t;

struct scrape_manager {
    appendable_t storage; /* where scrapes are stored */
    appender_t tx;        /* scrape thread only (or apply_config with no thread running) */
    pthread_mutex_t mu;
    pthread_cond_t cond;

    scrape_target_t **targets; /* list changes under mu, by the scrape thread or with no thread running */
    size_t ntargets, cap_targets;
    scrape_pool_info_t *pools; /* under mu */
    size_t npools;
    scrape_dropped_t *dropped; /* under mu: targets relabeling dropped */
    size_t ndropped;

    /* Discovery: the applied config (the manager's own copy) and its file
     * discoveries; scrape thread only (or apply_config with no thread running). */
    config_t *cfg;
    file_sd_t **sds;
    size_t nsds;
    int64_t sd_next_poll_ms;

    scrape_target_set_t *pending; /* config waiting for the scrape thread, under mu */
    uint64_t pending_gen, applied_gen;

    CURLM *multi;
    pthread_t thread;
    bool running;  /* thread started and not joined, under mu */
    bool stopping; /* asked to stop, under mu */

    scrape_batch_t batch; /* scrape thread only */
    size_t mem_batch; /* the batch's capacity after the last scrape, under mu */

    scrape_counters_t counters;            /* under mu */
    scrape_interval_summary_t **summaries; /* under mu */
    size_t nsummaries;
};

/* append.c */
void scrape_batch_free(scrape_batch_t *b);
/* Handles one finished scrape of t: err is NULL for a successful response
 * (body/content_type then hold it) or the reason it failed. Stores samples,
 * stale markers and the synthetic series, and updates t's status. */
void scrape_process(scrape_manager_t *m, scrape_target_t *t, const char *err, const char *body, size_t len,
                    const char *content_type);
/* Writes stale markers for every series of t's last successful scrape and
 * its synthetic series, at ts (a target that went away). */
void scrape_end_of_run_staleness(scrape_manager_t *m, scrape_target_t *t, int64_t ts);

/* manager.c helpers used by tests through this header. */
/* Go's time.Duration.String() for whole milliseconds ("15s", "1m30s", "500ms", "1h0m0s"). */
void scrape_go_duration(char *out, size_t outsz, int64_t ms);
/* strconv.FormatFloat(ms/1000, 'f', -1, 64): "10", "0.5", "1.25". */
void scrape_seconds_string(char *out, size_t outsz, int64_t ms);
/* scheme://address + path + ?query: the (name, value) pairs URL-encoded as Go's
 * url.Values.Encode writes them (names sorted, each name's values in order).
 * Caller frees. */
char *scrape_build_url(const char *scheme, const char *address, const char *path, const label_t *query, size_t nquery);
/* Delay until the first scrape: the target's scrapes fall at times t with
 * t mod interval == offset_hash mod interval. */
int64_t scrape_first_due(int64_t now_ms, int64_t interval_ms, uint64_t offset_hash);

/* The Accept header for scrape_protocols (names as in the config, most wanted
 * first) and metric_name_escaping_scheme, as Prometheus builds it: q from 0.6
 * down, the 1.0.0 text formats carrying the escaping scheme. Caller frees. */
char *scrape_accept_header(char *const *protocols, size_t n, const char *escaping);
/* What it gives for Prometheus 3's defaults. */
#define SCRAPE_ACCEPT_HEADER                                                                                           \
    "application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.6,"                                           \
    "application/openmetrics-text;version=0.0.1;q=0.5,"                                                                \
    "text/plain;version=1.0.0;escaping=allow-utf-8;q=0.4,"                                                             \
    "text/plain;version=0.0.4;q=0.3,*/*;q=0.2"
#define SCRAPE_USER_AGENT "Prometheus/3.x-promlab"

#endif
