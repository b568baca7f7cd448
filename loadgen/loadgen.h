/* loadgen.h — promlab-loadgen's internal interface.
 *
 * promlab-loadgen makes load and measures it, against any Prometheus-
 * compatible server. Pieces (one file each):
 *   gen.c       the series generator: avalanche 0.7's shape (gauges, counters,
 *               classic histograms, summaries; series_id / cycle_id churn;
 *               gradual-change, double-halve and spike modes) and named
 *               scenarios of real-world bad metrics; renders text 0.0.4 and
 *               OpenMetrics bodies fast (no per-series allocation)
 *   exporter.c  serves the generator over HTTP: bodies pre-rendered per tick
 *               in a background thread, swapped under a short lock, served as
 *               shared reference-counted bytes (optionally pre-gzipped)
 *   ytree.c     a small YAML tree over libyaml with line numbers
 *   queryset.c  query set files and the query load (rate or concurrency)
 *   stats.c     latency quantiles
 *   scenario.c  scenario files
 *   run.c       the orchestrator: targets, server under test, steps, sampling
 *   report.c    report.json, report.md and the SVG charts
 *   gate.c      gate (baseline vs current) and compare (side by side)
 *   backfill.c  history as OpenMetrics or as TSDB blocks
 *   httpc.c     a libcurl GET helper
 *   main.c      the subcommands
 * Strings in these structs are owned by the struct that holds them. */
#ifndef PL_LOADGEN_H
#define PL_LOADGEN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "textparse/textparse.h"
#include "util/err.h"
#include "util/strbuf.h"

/* ---- gen.c ----------------------------------------------------------------- */

enum lg_mode { LG_MODE_DEFAULT = 0, LG_MODE_GRADUAL, LG_MODE_DOUBLE_HALVE, LG_MODE_SPIKE };

enum lg_scenario {
    LG_SCN_AVALANCHE = 0,     /* avalanche's metric families */
    LG_SCN_HTTP_USER_ID,      /* http_requests_total{endpoint,method,status,user_id} */
    LG_SCN_SESSION_ID,        /* app_session_active{region,session_id}: ids change every series cycle */
    LG_SCN_HISTOGRAM_BUCKETS, /* http_request_duration_seconds with many buckets */
    LG_SCN_SPIKE,             /* avalanche's shape in spike mode (x10 unless told) */
};

typedef struct lg_config {
    int gauge_count, counter_count, histogram_count, histogram_buckets, summary_count, summary_objectives;
    int series_count, max_series_count, min_series_count, series_change_rate;
    int label_count, metricname_length, labelname_length;
    char **const_names, **const_values; /* --const-label name=value, sorted into place */
    size_t nconst;
    int value_interval, series_interval, metric_interval, series_change_interval; /* seconds; 0 = never */
    double spike_multiplier;
    enum lg_mode mode;
    enum lg_scenario scenario;
    uint64_t seed;
} lg_config_t;

/* avalanche 0.7's defaults. */
void lg_config_defaults(lg_config_t *c);
void lg_config_free(lg_config_t *c);
/* Adds a "name=value" const label; -1 with err on bad syntax. */
int lg_config_add_const_label(lg_config_t *c, const char *spec, pl_err_t *err);
int lg_config_validate(const lg_config_t *c, pl_err_t *err);
int lg_parse_mode(const char *s, enum lg_mode *out);
int lg_parse_scenario(const char *s, enum lg_scenario *out);
const char *lg_scenario_name(enum lg_scenario s);

typedef struct lg_gen lg_gen_t;

lg_gen_t *lg_gen_new(const lg_config_t *c, pl_err_t *err); /* copies c */
void lg_gen_free(lg_gen_t *g);
/* State changes, as avalanche's tickers make them (the caller owns the clock). */
void lg_gen_tick_values(lg_gen_t *g); /* new values: gauges set, counters add, histograms/summaries observe */
void lg_gen_tick_series(lg_gen_t *g); /* cycle_id + 1: every series is replaced (churn) */
void lg_gen_tick_metric(lg_gen_t *g); /* metric names' cycle + 1 */
void lg_gen_tick_change(lg_gen_t *g); /* the series-operation-mode's change of the series count */
/* Sets the per-metric series count (the orchestrator's steps); resets state. */
void lg_gen_set_series_count(lg_gen_t *g, int n);
int lg_gen_series_count(const lg_gen_t *g);
int lg_gen_series_cycle(const lg_gen_t *g);
/* Series exposed per scrape (with histogram buckets, sums, counts, quantiles). */
uint64_t lg_gen_exposed_series(const lg_gen_t *g);
/* Exposed series for a per-metric series count n under config c. */
uint64_t lg_config_exposed_series(const lg_config_t *c, int n);
/* Renders the whole body; appends to sb. ts_ms >= 0 writes sample timestamps
 * (backfill); OpenMetrics ends with "# EOF" unless om_no_eof. */
void lg_gen_render(lg_gen_t *g, enum textparse_format fmt, int64_t ts_ms, bool om_no_eof, strbuf_t *sb);

/* Every exposed series: label set (sorted, __name__ first by sort order) and value.
 * The labels point into scratch memory valid during the call. */
typedef void (*lg_sample_fn)(void *ctx, size_t family, const label_t *ls, size_t n, double value);
void lg_gen_foreach(lg_gen_t *g, lg_sample_fn fn, void *ctx);
/* Family i's name as OpenMetrics writes it in TYPE and its type word; false past the last. */
bool lg_gen_family(const lg_gen_t *g, size_t i, const char **name, const char **type);

/* ---- exporter.c ------------------------------------------------------------ */

typedef struct lg_exporter lg_exporter_t;

typedef struct lg_exporter_opts {
    const char *listen_host; /* "127.0.0.1" */
    int port;                /* first port; 0 = any free port (each target) */
    int targets;             /* >= 1 */
    bool one_port;           /* all targets on `port` as /target/N/metrics (else one port each) */
    int64_t api_latency_ms;  /* > 0: answer /api/v1/query{,_range} with an empty result after this delay */
    bool quiet;
} lg_exporter_opts_t;

lg_exporter_t *lg_exporter_start(const lg_config_t *c, const lg_exporter_opts_t *o, pl_err_t *err);
void lg_exporter_stop(lg_exporter_t *e);
/* The port of target i (every target has one, equal in one_port mode). */
int lg_exporter_port(const lg_exporter_t *e, int i);
/* Changes the per-metric series count and re-renders before returning. */
void lg_exporter_set_series_count(lg_exporter_t *e, int n);
uint64_t lg_exporter_exposed_series(lg_exporter_t *e); /* per target */
typedef struct lg_exporter_stats {
    uint64_t requests, bytes_sent, renders;
    double last_render_ms, last_gzip_ms;
    size_t last_body_bytes;
} lg_exporter_stats_t;
void lg_exporter_stats(lg_exporter_t *e, lg_exporter_stats_t *out);

/* ---- ytree.c ---------------------------------------------------------------- */

enum ynode_kind { YN_SCALAR, YN_SEQ, YN_MAP };
typedef struct ynode {
    enum ynode_kind kind;
    char *value;          /* scalar */
    struct ynode **items; /* SEQ: items; MAP: key, value, key, value ... */
    size_t n;
    int line, col;        /* 1-based */
} ynode_t;
/* Parses a file (or, with path_is_text, the text itself; then `name` labels errors). */
int lg_yaml_load(const char *path, ynode_t **out, pl_err_t *err);
int lg_yaml_load_string(const char *name, const char *text, ynode_t **out, pl_err_t *err);
void lg_yaml_free(ynode_t *n);
const ynode_t *lg_ymap_get(const ynode_t *m, const char *key);
const char *lg_yscalar(const ynode_t *n);

/* ---- stats.c ---------------------------------------------------------------- */

typedef struct lg_latencies {
    double *v; /* seconds */
    size_t n, cap;
} lg_latencies_t;
void lg_lat_add(lg_latencies_t *l, double seconds);
void lg_lat_free(lg_latencies_t *l);
/* Sorts in place, then: q in [0,1], nearest-rank (the smallest value with at
 * least q of the samples at or below it); NaN when empty. */
double lg_quantile(lg_latencies_t *l, double q);
double lg_lat_max(const lg_latencies_t *l);

/* ---- queryset.c ------------------------------------------------------------- */

typedef struct lg_query {
    char *name;
    char *expr;
    bool range;      /* query_range */
    int64_t range_ms, step_ms;
    double weight;
} lg_query_t;

typedef struct lg_queryset {
    lg_query_t *q;
    size_t n;
} lg_queryset_t;

int lg_queryset_load(const char *path, lg_queryset_t *qs, pl_err_t *err);
int lg_queryset_from_node(const char *path, const ynode_t *seq, lg_queryset_t *qs, pl_err_t *err);
void lg_queryset_free(lg_queryset_t *qs);
/* Picks a query by weight for a uniform u in [0,1). */
size_t lg_queryset_pick(const lg_queryset_t *qs, double u);

typedef struct lg_query_opts {
    const char *url;       /* server base URL */
    double rate;           /* queries per second (open loop); 0 = closed loop at `concurrency` */
    int concurrency;       /* workers */
    int64_t duration_ms;
    int64_t timeout_ms;
} lg_query_opts_t;

typedef struct lg_query_result {
    uint64_t count, errors;
    double elapsed_s, achieved_qps;
    double p50, p90, p99, max; /* seconds, over every query sent (failures at their time to failure); NaN if none */
    char first_error[256];
} lg_query_result_t;

int lg_query_run(const lg_queryset_t *qs, const lg_query_opts_t *o, lg_query_result_t *res, pl_err_t *err);
void lg_query_result_text(const lg_query_result_t *r, strbuf_t *sb);
void lg_query_result_json(const lg_query_result_t *r, strbuf_t *sb);

/* ---- httpc.c ---------------------------------------------------------------- */

/* GET url into body; returns the HTTP status (0 and err on transport failure). */
int lg_http_get(const char *url, strbuf_t *body, int64_t timeout_ms, pl_err_t *err);
/* Reads a server's /metrics: the value of the first sample named `name` (NaN if absent). */
typedef struct lg_metric_want {
    const char *name;
    const char *label, *label_value; /* optional: only samples with this label value */
    double value; /* filled; NaN when absent (summed over series when sum) */
    bool sum;
} lg_metric_want_t;
int lg_scrape_values(const char *url, lg_metric_want_t *w, size_t n, pl_err_t *err);
/* Splits "name{label=\"value\"}" (or a bare name) into w's name, label and label_value,
 * pointing into buf (a copy of spec). -1 on bad syntax. */
int lg_metric_selector(const char *spec, char *buf, size_t bufsz, lg_metric_want_t *w);

/* ---- scenario.c ------------------------------------------------------------- */

typedef struct lg_step {
    uint64_t series; /* target total across all targets */
    int64_t hold_ms;
} lg_step_t;

typedef struct lg_scenario_file {
    char *path, *name, *description;
    char *server_command; /* may be NULL: server_url is then used as it is */
    char *server_url;     /* may be NULL when a command is given (then a port is picked) */
    char *server_kind;    /* "promlab" | "prometheus" | other (label in reports) */
    /* what to read from the server's /metrics (defaults: Prometheus's names); a name may
     * carry one label matcher, name{label="value"} */
    char *head_series_metric, *samples_metric, *ready_path;
    int64_t scrape_interval_ms;
    int targets;
    lg_config_t exporter;
    lg_step_t *steps;
    size_t nsteps;
    lg_queryset_t queries;
    double query_rate;
    int query_concurrency;
    int64_t query_duration_ms;
    int64_t settle_timeout_ms; /* how long to wait for the head to reach a step's series */
    int64_t rate_window_ms;    /* ingestion rate measured over this */
} lg_scenario_file_t;

int lg_scenario_load(const char *path, lg_scenario_file_t *s, pl_err_t *err);
void lg_scenario_free(lg_scenario_file_t *s);

/* ---- run.c ------------------------------------------------------------------ */

typedef struct lg_step_result {
    uint64_t target_series, exposed_series;
    double head_series;
    double rss_bytes;       /* process_resident_memory_bytes */
    double vmrss_bytes, vmhwm_bytes; /* /proc (NaN when the server was not started here) */
    double bytes_per_series;
    double ingest_rate;     /* samples/s appended */
    double cpu_per_sample_us; /* process CPU seconds per appended sample, microseconds */
    double settle_s;        /* time until the head held the step's series */
    lg_query_result_t query;
} lg_step_result_t;

typedef struct lg_timeline_point {
    double t_s, head_series, rss_bytes;
} lg_timeline_point_t;

typedef struct lg_run_result {
    char *scenario, *server_kind, *server_version, *started_at, *command;
    int targets;
    int64_t scrape_interval_ms;
    lg_step_result_t *steps;
    size_t nsteps;
    lg_timeline_point_t *timeline;
    size_t ntimeline, timeline_cap;
    double serve_render_ms_max; /* exporter: slowest body render seen */
    size_t serve_body_bytes_max;
} lg_run_result_t;

int lg_run(const lg_scenario_file_t *s, const char *promlab_bin, const char *out_dir, lg_run_result_t *r,
           pl_err_t *err);
void lg_run_result_free(lg_run_result_t *r);

/* ---- report.c --------------------------------------------------------------- */

void lg_report_json(const lg_run_result_t *r, strbuf_t *sb);
void lg_report_md(const lg_run_result_t *r, strbuf_t *sb);
/* Charts: memory per series vs series, query latency per step, series over time. */
void lg_svg_memory(const lg_run_result_t *r, strbuf_t *sb);
void lg_svg_latency(const lg_run_result_t *r, strbuf_t *sb);
void lg_svg_timeline(const lg_run_result_t *r, strbuf_t *sb);
int lg_report_write(const lg_run_result_t *r, const char *dir, pl_err_t *err);
int lg_write_file(const char *path, const char *data, size_t len, pl_err_t *err);
int lg_mkdirs(const char *path);

/* ---- gate.c ----------------------------------------------------------------- */

/* One figure of one step, baseline vs current. */
typedef struct lg_gate_row {
    char step[32], figure[48];
    double baseline, current, change; /* change: relative, + = worse */
    bool regression;
} lg_gate_row_t;

typedef struct lg_gate {
    lg_gate_row_t *rows;
    size_t n;
    bool failed;
} lg_gate_t;

/* Parses "10%", "10", "0.1" (a fraction when < 1 and no %). */
int lg_parse_tolerance(const char *s, double *frac, pl_err_t *err);
/* Compares two report.json texts. tolerance: fraction (0.1 = 10%). */
int lg_gate_compare(const char *baseline_json, const char *current_json, double tolerance, lg_gate_t *g,
                    pl_err_t *err);
void lg_gate_table(const lg_gate_t *g, double tolerance, strbuf_t *sb);
void lg_gate_free(lg_gate_t *g);
/* Side-by-side Markdown of two or more reports. */
int lg_compare_md(const char **names, const char **jsons, size_t n, strbuf_t *sb, pl_err_t *err);

/* ---- backfill.c ------------------------------------------------------------- */

typedef struct lg_backfill_opts {
    int64_t start_ms, end_ms, resolution_ms;
    const char *out_openmetrics; /* file, or NULL */
    const char *out_blocks;      /* data dir, or NULL */
} lg_backfill_opts_t;

typedef struct lg_backfill_result {
    uint64_t samples, series, blocks;
} lg_backfill_result_t;

int lg_backfill(const lg_config_t *c, const lg_backfill_opts_t *o, lg_backfill_result_t *r, pl_err_t *err);

/* ---- cmds.c: the subcommands ------------------------------------------------- */
#include "util/flags.h"
/* The generator flags (avalanche 0.7 names): writes them to out (room for 40), returns the count. */
size_t lg_gen_flag_defs(flag_def_t *out);
/* Fills c (after lg_config_defaults) from parsed generator flags. */
int lg_config_from_flags(flag_def_t *defs, size_t n, lg_config_t *c, pl_err_t *err);
int lg_cmd_serve(int argc, char **argv);
int lg_cmd_query(int argc, char **argv);
int lg_cmd_backfill(int argc, char **argv);
int lg_cmd_run(int argc, char **argv);
int lg_cmd_gate(int argc, char **argv);
int lg_cmd_compare(int argc, char **argv);

extern volatile int lg_interrupted;
void lg_install_signals(void);
void lg_sleep_ms(int64_t ms); /* returns early when interrupted */

#endif
