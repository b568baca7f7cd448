/* file_sd.h — file-based service discovery (Prometheus's file_sd_configs).
 *
 * A file_sd_config names target files by glob (*.json, *.yml, *.yaml); each
 * file holds a list of target groups:
 *
 *     [{"targets": ["host:9100", ...], "labels": {"env": "prod"}}, ...]   (JSON)
 *     - targets: ['host:9100']                                             (YAML)
 *       labels: {env: prod}
 *
 * Every group found gets the label __meta_filepath (the file's path).
 *
 * Re-reading, as Prometheus does with fsnotify plus refresh_interval: the
 * scrape thread calls file_sd_refresh about once a second; it re-expands the
 * globs and stats each file (cheap), re-reads a file whose inode, size or
 * mtime changed, and re-reads every file each refresh_interval. A file that
 * cannot be read or parsed is logged (and counted in
 * prometheus_sd_file_read_errors_total) and keeps its last good groups; a
 * file that no longer matches any glob loses its groups.
 *
 * Not thread-safe: one owner (the scrape manager: apply_config before it
 * hands the discovery to the scrape thread, then the scrape thread). */
#ifndef PL_SCRAPE_FILE_SD_H
#define PL_SCRAPE_FILE_SD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config/config.h"
#include "model/labels.h"
#include "util/err.h"

/* One target group: addresses and labels (owned strings; labels sorted and
 * including __meta_filepath when read from a file). */
typedef struct sd_group {
    char **targets;
    size_t ntargets;
    label_t *labels;
    size_t nlabels;
} sd_group_t;

typedef struct sd_groups {
    sd_group_t *v;
    size_t n;
} sd_groups_t;

void sd_groups_free(sd_groups_t *g);

/* Parses the content of one target file (YAML when yaml, else JSON) into
 * out (appended; path becomes each group's __meta_filepath). Returns 0, or
 * -1 with err saying why (nothing appended then). */
int file_sd_parse(const char *data, size_t len, bool yaml, const char *path, sd_groups_t *out, pl_err_t *err);

typedef struct file_sd file_sd_t;

/* A discovery over cfg's globs (copied). Reads nothing yet. NULL when out of memory. */
file_sd_t *file_sd_new(const file_sd_config_t *cfg);
void file_sd_free(file_sd_t *sd);

/* Re-expands the globs and re-reads what changed (everything when force or
 * when refresh_interval has passed since the last full read). Returns true
 * when the set of groups changed. */
bool file_sd_refresh(file_sd_t *sd, int64_t now_ms, bool force);

/* The current groups of every file, in file name order then file order. The
 * pointers stay valid until the next refresh or free. Calls fn for each. */
typedef int (*file_sd_group_fn)(void *ctx, const sd_group_t *g);
int file_sd_foreach(const file_sd_t *sd, file_sd_group_fn fn, void *ctx);

/* Read/parse failures since start (all discoveries together). */
uint64_t file_sd_read_errors_total(void);

#endif
