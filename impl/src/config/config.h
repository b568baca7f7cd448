/* config.h — prometheus.yml, parsed strictly with libyaml.
 *
 * Every key of Prometheus's schema that promlab knows is checked for type and
 * range; unknown keys and bad values are refused with "FILE:LINE:COL: reason"
 * as Prometheus's strict YAML parsing does. Defaults are Prometheus's. The
 * struct owns all its memory; config_free releases it.
 *
 * Keys of Prometheus's schema that promlab accepts but does not act on (TLS,
 * authorization, OAuth2, proxies, native-histogram knobs) are type-checked
 * and dropped; the sections remote_write, remote_read, storage, tracing,
 * otlp, runtime and scrape_config_files are accepted with any content.
 * Service discoveries other than static_configs and file_sd_configs are
 * refused with a message saying so, rather than silently finding no target.
 * Label names are checked with the legacy rule ([a-zA-Z_][a-zA-Z0-9_]*). */
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
    char **files; /* globs, relative ones resolved against the config's dir */
    size_t nfiles;
    int64_t refresh_interval_ms; /* default 5m */
} file_sd_config_t;

enum relabel_action {
    RELABEL_REPLACE = 0,
    RELABEL_KEEP,
    RELABEL_DROP,
    RELABEL_KEEPEQUAL,
    RELABEL_DROPEQUAL,
    RELABEL_HASHMOD,
    RELABEL_LABELMAP,
    RELABEL_LABELDROP,
    RELABEL_LABELKEEP,
    RELABEL_LOWERCASE,
    RELABEL_UPPERCASE,
};
const char *relabel_action_str(enum relabel_action a);

typedef struct relabel_config {
    char **source_labels;
    size_t nsource_labels;
    char *separator; /* default ";" */
    char *regex;     /* default "(.*)"; validated (compiles as "^(?:" regex ")$" with PCRE2) */
    uint64_t modulus;
    char *target_label;
    char *replacement;          /* default "$1" */
    enum relabel_action action; /* default replace */
    int line;
    bool regex_set; /* regex was written in the file (rendering omits the default) */
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
    char *metrics_path;    /* default "/metrics" */
    char *scheme;          /* "http" (default) or "https" */
    bool honor_labels;     /* default false */
    bool honor_timestamps; /* default true */
    bool track_timestamps_staleness;
    scrape_param_t *params; /* sorted by name */
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
    int64_t body_size_limit;                         /* bytes */
    char *basic_auth_username, *basic_auth_password; /* optional */
    int line;

    /* Additions beyond the first draft of this header. */
    char *basic_auth_username_file, *basic_auth_password_file; /* optional, resolved against the config's dir */
    bool enable_compression;                                   /* default true: ask for gzip */
    bool follow_redirects;                                     /* default true */
    bool enable_http2;                                         /* default true */
    uint64_t keep_dropped_targets;                             /* 0 = all; inherited from global */
    /* Accept-header preference, most wanted first: from the job, else global,
     * else Prometheus's default (OpenMetricsText1.0.0, OpenMetricsText0.0.1,
     * PrometheusText1.0.0, PrometheusText0.0.4). Never empty. */
    char **scrape_protocols;
    size_t nscrape_protocols;
    char *fallback_scrape_protocol;                                            /* NULL when unset */
    bool always_scrape_classic_histograms, convert_classic_histograms_to_nhcb; /* inherited from global */
    char *metric_name_validation_scheme;                                       /* "utf8" (default) or "legacy" */
    char *metric_name_escaping_scheme; /* "allow-utf-8", "underscores", "dots" or "values" */
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

    /* Additions. */
    file_sd_config_t *file_sd_configs;
    size_t nfile_sd_configs;
    relabel_config_t *alert_relabel_configs; /* applied to alerts sent to this Alertmanager only */
    size_t nalert_relabel_configs;
    char *basic_auth_username, *basic_auth_password, *basic_auth_username_file, *basic_auth_password_file;
    bool follow_redirects, enable_http2; /* default true */
    int line;
} alertmanager_config_t;

typedef struct config {
    char *filename; /* as given */
    char *source;   /* the file's bytes */
    struct {
        int64_t scrape_interval_ms;      /* default 1m */
        int64_t scrape_timeout_ms;       /* default 10s */
        int64_t evaluation_interval_ms;  /* default 1m */
        int64_t rule_query_offset_ms;    /* default 0 */
        config_labels_t external_labels; /* ${VAR} / $VAR expanded from the environment, as Prometheus 3 does */
        uint64_t sample_limit, label_limit, label_name_length_limit, label_value_length_limit, target_limit;
        int64_t body_size_limit;

        /* Additions. */
        char *query_log_file;    /* NULL when unset; resolved against the config's dir */
        char **scrape_protocols; /* NULL/0 when unset */
        size_t nscrape_protocols;
        uint64_t keep_dropped_targets;
        bool always_scrape_classic_histograms, convert_classic_histograms_to_nhcb;
        char *metric_name_validation_scheme; /* "utf8" (default) or "legacy" */
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

/* ---- YAML helpers shared by the loaders in config/ ---------------------- */

/* The tag a plain (unquoted) YAML scalar resolves to under the YAML 1.1 rules
 * that Prometheus's parser (go-yaml v2) applies: "!!null", "!!bool", "!!int",
 * "!!float" or "!!str". The renderer quotes every string that would not
 * resolve to "!!str", so that what it writes reads back as the same string. */
const char *config_yaml_resolve(const char *s, size_t n);

/* Go's filepath.Clean: lexical cleanup of a path ("a//b/../c/." -> "a/c",
 * "" -> "."). Returns a malloc'd string or NULL on allocation failure. */
char *config_path_clean(const char *path);
/* Prometheus's config.JoinDir: path unchanged when empty or absolute, else
 * Clean(dir + "/" + path). malloc'd; NULL on allocation failure. */
char *config_join_dir(const char *dir, const char *path);

#endif
