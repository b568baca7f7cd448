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
 * - relabel_configs and metric_relabel_configs are not applied yet: the hooks
 *   are apply_target_relabel (manager.c) and apply_metric_relabel (append.c). */
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

/* Every (target, metric family) metadata entry of the current targets, as
 * scrape/metadata.h's scrape_metadata_each (duplicates across targets are
 * the caller's to merge). */
#include "scrape/metadata.h"
int scrape_manager_metadata(scrape_manager_t *m, scrape_metadata_fn fn, void *ctx);

/* Fills a malloc'd array of snapshots (free with scrape_targets_free). */
size_t scrape_manager_targets(scrape_manager_t *m, target_info_t **out);
void scrape_targets_free(target_info_t *ts, size_t n);

/* Writes the manager's own metrics in text format: prometheus_target_interval_length_seconds
 * (summary with quantiles 0.01 0.05 0.5 0.9 0.99 per interval), prometheus_target_scrape_pools_total,
 * prometheus_target_scrapes_*_total, prometheus_sd_discovered_targets, ... */
void scrape_manager_write_metrics(scrape_manager_t *m, strbuf_t *sb);

#endif
