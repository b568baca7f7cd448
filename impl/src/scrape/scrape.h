/* scrape.h — the scrape manager: targets from the config, one scrape loop per
 * target, all driven by a single libcurl multi handle on one thread.
 *
 * Each target is scraped every scrape_interval, its first scrape offset
 * within the interval by a hash of the target (as Prometheus spreads
 * targets), with scrape_timeout, gzip, and Prometheus's Accept header. The
 * body is parsed (text 0.0.4 or OpenMetrics by Content-Type), job/instance
 * and target labels are attached (honor_labels decides conflicts), and the
 * samples are stored through an appendable (model/storage.h), one commit
 * per scrape. A per-target cache maps the raw series text to its series
 * ref, so a steady scrape appends by ref. Series that
 * vanish from a target's scrape, and all series of a target that goes away,
 * get staleness markers.
 *
 * Behaviour worth knowing (all as Prometheus 3 does it unless said):
 * - A scrape is all or nothing: the body is parsed completely before anything
 *   is stored. A malformed body, sample_limit, a label limit, body_size_limit
 *   or a non-200 status fails the scrape: up=0, none of its samples stored,
 *   and every series of the last successful scrape gets a stale marker.
 * - The Accept header is built from scrape_protocols and
 *   metric_name_escaping_scheme as Prometheus 3.14's acceptHeader() does; for
 *   the defaults it is SCRAPE_ACCEPT_HEADER in scrape/internal.h
 *   ("application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.6,...").
 * - The parser follows Content-Type; a blank or unsupported one fails the
 *   scrape unless fallback_scrape_protocol is set (protobuf is not supported).
 * - A target removed by a reload writes its stale markers a little over two
 *   intervals later (so a target that merely moved is not interrupted), or
 *   never if it comes back first. scrape_manager_stop writes none.
 * - The cache keys series by a 64-bit xxh3 of the raw series text (24 bytes
 *   per series instead of a copy of the text). Two series of one target whose
 *   hashes collide would be merged; at a million series the odds are about
 *   3 in 10^8 per target (n^2 / 2^65).
 * - relabel_configs run on each target's discovered labels (with the meta
 *   labels __address__, __scheme__, __metrics_path__, __param_<name>,
 *   __scrape_interval__, __scrape_timeout__ and job); __-prefixed labels are
 *   then removed and instance defaults to __address__. Dropped targets are
 *   kept for the targets API.
 * - metric_relabel_configs run once per new series of a target: the
 *   decision (a ref, or "dropped") is cached with the series, so a steady
 *   scrape pays nothing for them. Changing them makes new targets (fresh
 *   caches), as Prometheus restarts the pool.
 * - file_sd_configs: see scrape/file_sd.h (files polled about once a second). */
#ifndef PL_SCRAPE_H
#define PL_SCRAPE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config/config.h"
#include "model/storage.h"
#include "tsdb/head.h"
#include "util/err.h"
#include "util/strbuf.h"

typedef struct scrape_manager scrape_manager_t;

/* Scrapes are stored through storage (copied; its impl must outlive the
 * manager). NULL when out of memory. */
scrape_manager_t *scrape_manager_new(const appendable_t *storage);
/* Applies a (new) config: targets that stay keep their loop and cache; new
 * ones start; removed ones stop and get their series marked stale. Safe to
 * call while running (config reload). The manager keeps no pointer into c
 * after returning. */
int scrape_manager_apply_config(scrape_manager_t *m, const config_t *c, pl_err_t *err);
int scrape_manager_start(scrape_manager_t *m, pl_err_t *err); /* starts the scrape thread */
void scrape_manager_stop(scrape_manager_t *m);                /* joins it; marks nothing stale */
void scrape_manager_free(scrape_manager_t *m);

/* A snapshot of one target, for /api/v1/targets. Strings owned by the snapshot. */
typedef struct target_info {
    char *scrape_pool; /* job name */
    char *scrape_url;
    char *health;           /* "up", "down", "unknown" */
    char *last_error;       /* "" when none */
    int64_t last_scrape_ms; /* 0 if never */
    double last_scrape_duration_s;
    uint64_t last_samples;
    int64_t interval_ms, timeout_ms;
    label_t *labels; /* target labels after relabeling (job, instance, static labels) */
    size_t nlabels;
    label_t *discovered_labels; /* __address__, __scheme__, __metrics_path__, job, ... */
    size_t ndiscovered;
} target_info_t;

/* Fills a malloc'd array of snapshots (free with scrape_targets_free). */
size_t scrape_manager_targets(scrape_manager_t *m, target_info_t **out);
void scrape_targets_free(target_info_t *ts, size_t n);

/* Targets that relabel_configs dropped (at most keep_dropped_targets per
 * pool when set), for /api/v1/targets's droppedTargets; and per pool the
 * number dropped (all of them), for droppedTargetCounts. Strings owned by
 * the snapshot. */
typedef struct dropped_target_info {
    char *scrape_pool;
    label_t *discovered_labels; /* sorted */
    size_t ndiscovered;
} dropped_target_info_t;
typedef struct scrape_pool_count {
    char *scrape_pool;
    size_t ndropped;
} scrape_pool_count_t;
/* Fills malloc'd arrays (free with scrape_dropped_free); returns the number
 * of dropped targets, *npools the number of pools (every configured pool). */
size_t scrape_manager_dropped(scrape_manager_t *m, dropped_target_info_t **out, scrape_pool_count_t **pools,
                              size_t *npools);
void scrape_dropped_free(dropped_target_info_t *d, size_t n, scrape_pool_count_t *pools, size_t npools);

/* Metric metadata the targets exposed (TYPE, HELP, UNIT per metric family
 * per target), for /api/v1/targets/metadata and /api/v1/metadata. metric
 * NULL or "" means every metric. Rows are sorted by target (pool, URL) and
 * then metric name. type is Prometheus's word ("counter", "gauge",
 * "histogram", "summary", "unknown", ...); help and unit are "" when the
 * target gave none. Free with scrape_metadata_free. */
typedef struct target_metadata {
    char *scrape_pool, *scrape_url;
    label_t *target; /* the target's labels, sorted */
    size_t ntarget;
    char *metric, *type, *help, *unit;
} target_metadata_t;
size_t scrape_manager_metadata(scrape_manager_t *m, const char *metric, target_metadata_t **out);
void scrape_metadata_free(target_metadata_t *rows, size_t n);

/* Memory the scrape manager holds, for /debug/pprof/heap (figures from the
 * end of each target's last scrape). */
typedef struct scrape_memory {
    uint64_t targets;
    uint64_t cache_bytes, cache_entries; /* series caches (24 B per series + table slack) */
    uint64_t batch_bytes;                /* the shared parse batch */
    uint64_t body_bytes;                 /* response buffers (a body over 1 MiB is freed after each scrape) */
    uint64_t metadata_bytes, metadata_entries;
} scrape_memory_t;
void scrape_manager_memory(scrape_manager_t *m, scrape_memory_t *out);

/* Writes the manager's own metrics in text format: prometheus_target_interval_length_seconds
 * (summary with quantiles 0.01 0.05 0.5 0.9 0.99 per interval), prometheus_target_scrape_pools_total,
 * prometheus_target_scrapes_*_total, prometheus_sd_discovered_targets, ... */
void scrape_manager_write_metrics(scrape_manager_t *m, strbuf_t *sb);

#endif
