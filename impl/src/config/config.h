/* config.h — prometheus.yml, parsed strictly with libyaml.
 *
 * Every key of Prometheus's schema that promlab knows is checked for type and
 * range; unknown keys and bad values are refused with "FILE:LINE:COL: reason"
 * as Prometheus's strict YAML parsing does. Defaults are Prometheus's. The
 * struct owns all its memory; config_free releases it. */
#ifndef PL_CONFIG_H
#define PL_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "model/labels.h"
#include "util/err.h"
#include "util/strbuf.h"

typedef struct config_labels {
    label_t *v; /* owned strings, sorted by name */
    size_t n;
} config_labels_t;

typedef struct static_config {
    char **targets; /* "host:port" */
    size_t ntargets;
    config_labels_t labels;
} static_config_t;

typedef struct file_sd_config {
    char **files; /* globs */
    size_t nfiles;
    int64_t refresh_interval_ms; /* default 5m */
} file_sd_config_t;

enum relabel_action {
    RELABEL_REPLACE = 0, RELABEL_KEEP, RELABEL_DROP, RELABEL_KEEPEQUAL, RELABEL_DROPEQUAL, RELABEL_HASHMOD,
    RELABEL_LABELMAP, RELABEL_LABELDROP, RELABEL_LABELKEEP, RELABEL_LOWERCASE, RELABEL_UPPERCASE,
};
const char *relabel_action_str(enum relabel_action a);

typedef struct relabel_config {
    char **source_labels;
    size_t nsource_labels;
    char *separator;    /* default ";" */
    char *regex;        /* default "(.*)"; validated (compiles, anchored) */
    uint64_t modulus;
    char *target_label;
    char *replacement;  /* default "$1" */
    enum relabel_action action; /* default replace */
    int line;
} relabel_config_t;

typedef struct scrape_param {
    char *name;
    char **values;
    size_t nvalues;
} scrape_param_t;

typedef struct scrape_config {
    char *job_name;
    int64_t scrape_interval_ms; /* defaults from global */
    int64_t scrape_timeout_ms;
    char *metrics_path;         /* default "/metrics" */
    char *scheme;               /* "http" (default) or "https" */
    bool honor_labels;          /* default false */
    bool honor_timestamps;      /* default true */
    bool track_timestamps_staleness;
    scrape_param_t *params;
    size_t nparams;
    static_config_t *static_configs;
    size_t nstatic_configs;
    file_sd_config_t *file_sd_configs;
    size_t nfile_sd_configs;
    relabel_config_t *relabel_configs;
    size_t nrelabel_configs;
    relabel_config_t *metric_relabel_configs;
    size_t nmetric_relabel_configs;
    /* limits: 0 = none; defaults inherited from global */
    uint64_t sample_limit, label_limit, label_name_length_limit, label_value_length_limit, target_limit;
    int64_t body_size_limit; /* bytes */
    char *basic_auth_username, *basic_auth_password; /* optional */
    int line;
} scrape_config_t;

typedef struct alertmanager_config {
    char *scheme;       /* default http */
    char *path_prefix;  /* default "/" */
    int64_t timeout_ms; /* default 10s */
    char *api_version;  /* "v2" */
    static_config_t *static_configs;
    size_t nstatic_configs;
    relabel_config_t *relabel_configs;
    size_t nrelabel_configs;
} alertmanager_config_t;

typedef struct config {
    char *filename;  /* as given */
    char *source;    /* the file's bytes */
    struct {
        int64_t scrape_interval_ms;     /* default 1m */
        int64_t scrape_timeout_ms;      /* default 10s */
        int64_t evaluation_interval_ms; /* default 1m */
        int64_t rule_query_offset_ms;   /* default 0 */
        config_labels_t external_labels;
        uint64_t sample_limit, label_limit, label_name_length_limit, label_value_length_limit, target_limit;
        int64_t body_size_limit;
    } global;
    char **rule_files; /* as written (globs), relative paths resolved against the config's dir */
    size_t nrule_files;
    scrape_config_t *scrape_configs;
    size_t nscrape_configs;
    alertmanager_config_t *alertmanagers;
    size_t nalertmanagers;
    relabel_config_t *alert_relabel_configs;
    size_t nalert_relabel_configs;
} config_t;

/* Loads and validates. On error returns -1 and err says "FILE:LINE:COL: reason"
 * (or "FILE: reason" when no position applies). */
int config_load_file(const char *path, config_t **out, pl_err_t *err);
/* Same for bytes in memory; filename is used in messages and for relative paths. */
int config_load_string(const char *yaml, size_t len, const char *filename, config_t **out, pl_err_t *err);
void config_free(config_t *c);

/* The effective configuration as YAML, in Prometheus's key order with defaults
 * filled in, as /api/v1/status/config returns it (data.yaml). Secrets are
 * written as <secret>. */
void config_render_yaml(const config_t *c, strbuf_t *sb);

/* Finds a scrape config by job name, or NULL. */
const scrape_config_t *config_find_job(const config_t *c, const char *job);

#endif
