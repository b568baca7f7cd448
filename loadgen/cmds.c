/* cmds.c — promlab-loadgen's subcommands: flags in, work done by the other
 * files, results out. The generator flags are avalanche 0.7's names and
 * defaults, so an avalanche command line works unchanged after `serve`. */
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "loadgen.h"
#include "util/log.h"
#include "util/timeutil.h"

volatile int lg_interrupted;

static void on_signal(int sig) {
    (void)sig;
    lg_interrupted = 1;
}

void lg_install_signals(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
}

void lg_sleep_ms(int64_t ms) {
    int64_t end = pl_monotonic_ns() + ms * 1000000LL;
    while (!lg_interrupted) {
        int64_t left = end - pl_monotonic_ns();
        if (left <= 0) return;
        if (left > 100000000LL) left = 100000000LL;
        struct timespec ts = {0, (long)left};
        nanosleep(&ts, NULL);
    }
}

size_t lg_gen_flag_defs(flag_def_t *out) {
    const flag_def_t defs[] = {
        {"metric-count", FLAG_INT, "0", "Number of gauge metrics to serve. DEPRECATED use --gauge-metric-count instead"},
        {"gauge-metric-count", FLAG_INT, "500", "Number of gauge metrics to serve."},
        {"counter-metric-count", FLAG_INT, "0", "Number of counter metrics to serve."},
        {"histogram-metric-count", FLAG_INT, "0", "Number of explicit (classic) histogram metrics to serve."},
        {"histogram-metric-bucket-count", FLAG_INT, "7",
         "Number of explicit buckets (classic) histogram metrics, excluding +Inf bucket."},
        {"summary-metric-count", FLAG_INT, "0", "Number of summary metrics to serve."},
        {"summary-metric-objective-count", FLAG_INT, "2", "Number of objectives in the summary metrics to serve."},
        {"label-count", FLAG_INT, "10", "Number of labels per-metric."},
        {"series-count", FLAG_INT, "100", "Number of series per-metric (histogram buckets etc. come on top)."},
        {"max-series-count", FLAG_INT, "1000", "Maximum number of series to serve. Applies to 'gradual-change' mode."},
        {"min-series-count", FLAG_INT, "100", "Minimum number of series to serve. Applies to 'gradual-change' mode."},
        {"spike-multiplier", FLAG_STRING, "1.5", "Multiplier for the spike mode."},
        {"metricname-length", FLAG_INT, "5", "Modify length of metric names."},
        {"labelname-length", FLAG_INT, "5", "Modify length of label names."},
        {"const-label", FLAG_STRINGS, "", "Constant label to add to every metric. Format is labelName=labelValue."},
        {"value-interval", FLAG_INT, "30", "Change series values every {interval} seconds. 0 means no change."},
        {"series-interval", FLAG_INT, "60", "Change series_id label values every {interval} seconds. 0 means no change."},
        {"metric-interval", FLAG_INT, "0", "Change __name__ label values every {interval} seconds. 0 means no change."},
        {"series-change-interval", FLAG_INT, "30", "Change the number of series every {interval} seconds (modes)."},
        {"series-change-rate", FLAG_INT, "100", "The rate at which the number of active series changes (gradual-change)."},
        {"series-operation-mode", FLAG_STRING, "default", "Mode of operation: 'gradual-change', 'double-halve', 'spike'"},
        {"scenario", FLAG_STRING, "avalanche",
         "Metric shape: avalanche | http_requests_user_id | session_id | histogram_buckets | spike"},
        {"seed", FLAG_INT, "1", "Seed of the value generator."},
    };
    memcpy(out, defs, sizeof defs);
    return sizeof defs / sizeof *defs;
}

static int int_flag(flag_def_t *d, size_t n, const char *name, int *out, pl_err_t *err) {
    int64_t v;
    if (flags_int(d, n, name, &v, err) < 0) return -1;
    if (v < -1000000000LL || v > 1000000000LL) return pl_err_set(err, "--%s: out of range", name);
    *out = (int)v;
    return 0;
}

int lg_config_from_flags(flag_def_t *d, size_t n, lg_config_t *c, pl_err_t *err) {
    int metric_count = 0, seed = 1;
    struct {
        const char *name;
        int *p;
    } ints[] = {
        {"metric-count", &metric_count},
        {"gauge-metric-count", &c->gauge_count},
        {"counter-metric-count", &c->counter_count},
        {"histogram-metric-count", &c->histogram_count},
        {"histogram-metric-bucket-count", &c->histogram_buckets},
        {"summary-metric-count", &c->summary_count},
        {"summary-metric-objective-count", &c->summary_objectives},
        {"label-count", &c->label_count},
        {"series-count", &c->series_count},
        {"max-series-count", &c->max_series_count},
        {"min-series-count", &c->min_series_count},
        {"metricname-length", &c->metricname_length},
        {"labelname-length", &c->labelname_length},
        {"value-interval", &c->value_interval},
        {"series-interval", &c->series_interval},
        {"metric-interval", &c->metric_interval},
        {"series-change-interval", &c->series_change_interval},
        {"series-change-rate", &c->series_change_rate},
        {"seed", &seed},
    };
    for (size_t i = 0; i < sizeof ints / sizeof *ints; i++)
        if (int_flag(d, n, ints[i].name, ints[i].p, err) < 0) return -1;
    c->seed = (uint64_t)seed;
    if (metric_count > 0) {
        flag_def_t *g = flags_find(d, n, "gauge-metric-count");
        if (g && g->set)
            return pl_err_set(err, "--metric-count (set to %d) is deprecated and it means the same as "
                                   "--gauge-metric-count (set to %d); both can't be used in the same time",
                              metric_count, c->gauge_count);
        c->gauge_count = metric_count;
    }
    char *end;
    const char *sm = flags_str(d, n, "spike-multiplier");
    c->spike_multiplier = strtod(sm, &end);
    if (*end || end == sm) return pl_err_set(err, "--spike-multiplier: %s is not a number", sm);
    if (lg_parse_mode(flags_str(d, n, "series-operation-mode"), &c->mode) < 0)
        return pl_err_set(err, "--series-operation-mode: %s is not one of default, gradual-change, double-halve, spike",
                          flags_str(d, n, "series-operation-mode"));
    const char *scn = flags_str(d, n, "scenario");
    if (lg_parse_scenario(scn, &c->scenario) < 0)
        return pl_err_set(err, "--scenario: unknown scenario %s (avalanche, http_requests_user_id, session_id, "
                               "histogram_buckets, spike)", scn);
    /* scenario defaults where the flag was not given */
    flag_def_t *hb = flags_find(d, n, "histogram-metric-bucket-count");
    if (c->scenario == LG_SCN_HISTOGRAM_BUCKETS && hb && !hb->set) c->histogram_buckets = 60;
    flag_def_t *sp = flags_find(d, n, "spike-multiplier");
    if (c->scenario == LG_SCN_SPIKE && sp && !sp->set) c->spike_multiplier = 10;
    flag_def_t *cl = flags_find(d, n, "const-label");
    for (size_t i = 0; cl && i < cl->nvalues; i++)
        if (lg_config_add_const_label(c, cl->values[i], err) < 0) return -1;
    return lg_config_validate(c, err);
}

/* Parses flags; prints usage on --help or error. Returns 0 to go on, else the exit code + 1. */
static int parse_or_usage(flag_def_t *d, size_t n, int argc, char **argv, const char *usage, const char ***pos,
                          size_t *npos) {
    pl_err_t err = {{0}};
    int rc = flags_parse(d, n, argc, argv, pos, npos, &err);
    if (rc == 0) return 0;
    strbuf_t u = STRBUF_INIT;
    flags_usage(d, n, usage, &u);
    if (rc < 0) fprintf(stderr, "promlab-loadgen: %s\n\n%s", err.msg, u.data);
    else printf("%s", u.data);
    strbuf_free(&u);
    return rc < 0 ? 3 : 1;
}

/* ---- serve ---------------------------------------------------------------------- */

int lg_cmd_serve(int argc, char **argv) {
    flag_def_t d[48];
    size_t n = lg_gen_flag_defs(d);
    d[n++] = (flag_def_t){"port", FLAG_INT, "9001", "Port to serve at (the first target's; target i gets port+i)"};
    d[n++] = (flag_def_t){"listen-host", FLAG_STRING, "127.0.0.1", "Address to bind."};
    d[n++] = (flag_def_t){"targets", FLAG_INT, "1", "Number of targets served by this process."};
    d[n++] = (flag_def_t){"one-port", FLAG_BOOL, "false",
                          "Serve every target on --port as /target/<N>/metrics instead of one port each."};
    d[n++] = (flag_def_t){"api-latency", FLAG_DURATION, "0s",
                          "Also answer /api/v1/query and /api/v1/query_range with an empty result after this "
                          "delay: a server of known latency to check a query load against.",
                          true};
    d[n++] = (flag_def_t){"duration", FLAG_DURATION, "0s", "Stop after this long (0: until SIGINT/SIGTERM)."};
    int rc = parse_or_usage(d, n, argc, argv, "promlab-loadgen serve [<flags>]", NULL, NULL);
    if (rc) return rc - 1;
    pl_err_t err = {{0}};
    lg_config_t c;
    lg_config_defaults(&c);
    int port = 0, targets = 1;
    int64_t api_ms = 0, dur_ms = 0;
    if (lg_config_from_flags(d, n, &c, &err) < 0 || int_flag(d, n, "port", &port, &err) < 0 ||
        int_flag(d, n, "targets", &targets, &err) < 0 || flags_duration(d, n, "api-latency", &api_ms, &err) < 0 ||
        flags_duration(d, n, "duration", &dur_ms, &err) < 0) {
        fprintf(stderr, "promlab-loadgen serve: %s\n", err.msg);
        lg_config_free(&c);
        flags_free(d, n);
        return 2;
    }
    lg_install_signals();
    lg_exporter_opts_t o = {.listen_host = flags_str(d, n, "listen-host"),
                            .port = port,
                            .targets = targets,
                            .one_port = flags_bool(d, n, "one-port"),
                            .api_latency_ms = api_ms};
    lg_exporter_t *e = lg_exporter_start(&c, &o, &err);
    if (!e) {
        fprintf(stderr, "promlab-loadgen serve: %s\n", err.msg);
        lg_config_free(&c);
        flags_free(d, n);
        return 1;
    }
    uint64_t exposed = lg_exporter_exposed_series(e);
    if (o.one_port)
        printf("Serving %d target(s) of %llu series at %s:%d/target/<0..%d>/metrics (and /metrics)\n", targets,
               (unsigned long long)exposed, o.listen_host, lg_exporter_port(e, 0), targets - 1);
    else
        printf("Serving %d target(s) of %llu series at %s:%d..%d/metrics\n", targets, (unsigned long long)exposed,
               o.listen_host, lg_exporter_port(e, 0), lg_exporter_port(e, targets - 1));
    fflush(stdout);
    int64_t t0 = pl_monotonic_ns();
    while (!lg_interrupted && (dur_ms <= 0 || pl_monotonic_ns() - t0 < dur_ms * 1000000LL)) lg_sleep_ms(200);
    lg_exporter_stats_t st;
    lg_exporter_stats(e, &st);
    printf("served %llu scrapes, %.1f MB; %llu renders, last %.1f ms for %zu bytes (gzip %.1f ms)\n",
           (unsigned long long)st.requests, (double)st.bytes_sent / 1e6, (unsigned long long)st.renders,
           st.last_render_ms, st.last_body_bytes, st.last_gzip_ms);
    lg_exporter_stop(e);
    lg_config_free(&c);
    flags_free(d, n);
    return 0;
}

/* ---- query ---------------------------------------------------------------------- */

int lg_cmd_query(int argc, char **argv) {
    flag_def_t d[] = {
        {"url", FLAG_STRING, "http://127.0.0.1:9090", "Base URL of a Prometheus-compatible server."},
        {"queries", FLAG_STRING, "", "Query set file (YAML: queries: [{expr, type, weight, range, step}])."},
        {"rate", FLAG_STRING, "0", "Queries per second, open loop (0: closed loop at --concurrency)."},
        {"concurrency", FLAG_INT, "0", "Workers (default 1 in closed loop; enough for --rate otherwise)."},
        {"duration", FLAG_DURATION, "30s", "How long to run."},
        {"timeout", FLAG_DURATION, "30s", "Per-query timeout."},
        {"json", FLAG_STRING, "", "Also write the result as JSON to this file ('-' for stdout only)."},
    };
    size_t n = sizeof d / sizeof *d;
    const char **pos = NULL;
    size_t npos = 0;
    int rc = parse_or_usage(d, n, argc, argv, "promlab-loadgen query --queries=FILE [<flags>]", &pos, &npos);
    if (rc) return rc - 1;
    pl_err_t err = {{0}};
    const char *qfile = flags_str(d, n, "queries");
    if (!*qfile && npos == 1) qfile = pos[0];
    free(pos);
    lg_query_opts_t o = {.url = flags_str(d, n, "url")};
    int64_t conc = 0;
    char *end;
    o.rate = strtod(flags_str(d, n, "rate"), &end);
    int ret = 0;
    lg_queryset_t qs = {0};
    if (*end || o.rate < 0) {
        fprintf(stderr, "promlab-loadgen query: --rate: not a number\n");
        ret = 2;
    } else if (!*qfile) {
        fprintf(stderr, "promlab-loadgen query: --queries is required\n");
        ret = 2;
    } else if (flags_int(d, n, "concurrency", &conc, &err) < 0 || flags_duration(d, n, "duration", &o.duration_ms, &err) < 0 ||
               flags_duration(d, n, "timeout", &o.timeout_ms, &err) < 0 || lg_queryset_load(qfile, &qs, &err) < 0) {
        fprintf(stderr, "promlab-loadgen query: %s\n", err.msg);
        ret = 2;
    }
    if (ret == 0) {
        o.concurrency = (int)conc;
        lg_install_signals();
        lg_query_result_t r;
        if (lg_query_run(&qs, &o, &r, &err) < 0) {
            fprintf(stderr, "promlab-loadgen query: %s\n", err.msg);
            ret = 1;
        } else {
            strbuf_t sb = STRBUF_INIT;
            const char *jf = flags_str(d, n, "json");
            if (strcmp(jf, "-") == 0) {
                lg_query_result_json(&r, &sb);
                printf("%s\n", sb.data);
            } else {
                lg_query_result_text(&r, &sb);
                printf("%s", sb.data);
                if (*jf) {
                    strbuf_reset(&sb);
                    lg_query_result_json(&r, &sb);
                    strbuf_putc(&sb, '\n');
                    if (lg_write_file(jf, sb.data, sb.len, &err) < 0) {
                        fprintf(stderr, "promlab-loadgen query: %s\n", err.msg);
                        ret = 1;
                    }
                }
            }
            strbuf_free(&sb);
            if (r.count == 0 || r.errors == r.count) ret = 1;
        }
    }
    lg_queryset_free(&qs);
    flags_free(d, n);
    return ret;
}

/* ---- backfill ------------------------------------------------------------------- */

int lg_cmd_backfill(int argc, char **argv) {
    flag_def_t d[48];
    size_t n = lg_gen_flag_defs(d);
    d[n++] = (flag_def_t){"days", FLAG_STRING, "1", "History length in days (fractions allowed), ending now (or --end)."};
    d[n++] = (flag_def_t){"end", FLAG_STRING, "", "End time (RFC 3339 or Unix seconds; default now)."};
    d[n++] = (flag_def_t){"resolution", FLAG_DURATION, "60s", "Time between samples (the scrape interval it mimics)."};
    d[n++] = (flag_def_t){"output-openmetrics", FLAG_STRING, "", "Write OpenMetrics to this file."};
    d[n++] = (flag_def_t){"output-blocks", FLAG_STRING, "", "Write 2h-aligned TSDB blocks into this data directory."};
    int rc = parse_or_usage(d, n, argc, argv, "promlab-loadgen backfill --output-openmetrics=FILE|--output-blocks=DIR [<flags>]",
                            NULL, NULL);
    if (rc) return rc - 1;
    pl_err_t err = {{0}};
    lg_config_t c;
    lg_config_defaults(&c);
    /* backfill has no ticker: by default no churn unless asked */
    lg_backfill_opts_t o = {0};
    int ret = 0;
    char *end;
    double days = strtod(flags_str(d, n, "days"), &end);
    if (lg_config_from_flags(d, n, &c, &err) < 0 || flags_duration(d, n, "resolution", &o.resolution_ms, &err) < 0) {
        ret = 2;
    } else if (*end || !(days > 0)) {
        pl_err_set(&err, "--days: %s is not a positive number", flags_str(d, n, "days"));
        ret = 2;
    } else {
        o.end_ms = pl_now_ms();
        const char *e = flags_str(d, n, "end");
        if (*e && pl_parse_time(e, &o.end_ms, &err) < 0) ret = 2;
        o.end_ms = o.end_ms / o.resolution_ms * o.resolution_ms;
        o.start_ms = o.end_ms - (int64_t)(days * 86400000.0);
        if (*flags_str(d, n, "output-openmetrics")) o.out_openmetrics = flags_str(d, n, "output-openmetrics");
        if (*flags_str(d, n, "output-blocks")) o.out_blocks = flags_str(d, n, "output-blocks");
    }
    if (ret == 0) {
        lg_install_signals();
        lg_backfill_result_t r;
        int64_t t0 = pl_monotonic_ns();
        if (lg_backfill(&c, &o, &r, &err) < 0) ret = 1;
        else
            printf("backfill: %llu samples of %llu series%s in %.1f s\n", (unsigned long long)r.samples,
                   (unsigned long long)r.series, o.out_blocks ? " (a series counted once per block)" : "",
                   (double)(pl_monotonic_ns() - t0) / 1e9);
        if (ret == 0 && o.out_blocks) printf("backfill: %llu block(s) in %s\n", (unsigned long long)r.blocks, o.out_blocks);
    }
    if (ret) fprintf(stderr, "promlab-loadgen backfill: %s\n", err.msg);
    lg_config_free(&c);
    flags_free(d, n);
    return ret;
}

/* ---- run -------------------------------------------------------------------------- */

/* The promlab binary next to this one (build/bin/promlab), for {promlab}. */
static void sibling_promlab(char *out, size_t n) {
    char self[4096];
    ssize_t l = readlink("/proc/self/exe", self, sizeof self - 1);
    snprintf(out, n, "promlab");
    if (l <= 0) return;
    self[l] = '\0';
    char *slash = strrchr(self, '/');
    if (slash) {
        *slash = '\0';
        snprintf(out, n, "%.4000s/promlab", self);
    }
}

int lg_cmd_run(int argc, char **argv) {
    flag_def_t d[] = {
        {"reports", FLAG_STRING, "reports", "Reports go to <reports>/<scenario name>/."},
        {"out", FLAG_STRING, "", "Write the report into exactly this directory instead."},
        {"promlab", FLAG_STRING, "", "The promlab binary for {promlab} in a server command (default: beside this one)."},
        {"server-command", FLAG_STRING, "", "Override the scenario's server command."},
        {"server-kind", FLAG_STRING, "", "Override the scenario's server kind (report label)."},
    };
    size_t n = sizeof d / sizeof *d;
    const char **pos = NULL;
    size_t npos = 0;
    int rc = parse_or_usage(d, n, argc, argv, "promlab-loadgen run [<flags>] SCENARIO.yaml", &pos, &npos);
    if (rc) return rc - 1;
    if (npos != 1) {
        fprintf(stderr, "promlab-loadgen run: one scenario file expected\n");
        free(pos);
        flags_free(d, n);
        return 2;
    }
    pl_err_t err = {{0}};
    lg_scenario_file_t s;
    if (lg_scenario_load(pos[0], &s, &err) < 0) {
        fprintf(stderr, "promlab-loadgen run: %s\n", err.msg);
        free(pos);
        flags_free(d, n);
        return 2;
    }
    free(pos);
    if (*flags_str(d, n, "server-command")) {
        free(s.server_command);
        free(s.server_url);
        s.server_url = NULL;
        s.server_command = strdup(flags_str(d, n, "server-command"));
    }
    if (*flags_str(d, n, "server-kind")) {
        free(s.server_kind);
        s.server_kind = strdup(flags_str(d, n, "server-kind"));
    }
    char promlab[4096];
    if (*flags_str(d, n, "promlab")) snprintf(promlab, sizeof promlab, "%s", flags_str(d, n, "promlab"));
    else sibling_promlab(promlab, sizeof promlab);
    char dir[4096];
    if (*flags_str(d, n, "out")) snprintf(dir, sizeof dir, "%s", flags_str(d, n, "out"));
    else snprintf(dir, sizeof dir, "%s/%s", flags_str(d, n, "reports"), s.name);
    int ret = 0;
    if (lg_mkdirs(dir) < 0) {
        fprintf(stderr, "promlab-loadgen run: mkdir %s: %s\n", dir, strerror(errno));
        ret = 1;
    }
    lg_run_result_t r;
    memset(&r, 0, sizeof r);
    if (ret == 0) {
        lg_install_signals();
        if (lg_run(&s, promlab, dir, &r, &err) < 0) {
            fprintf(stderr, "promlab-loadgen run: %s\n", err.msg);
            ret = 1;
        }
        if (r.nsteps > 0) {
            pl_err_t e2;
            if (lg_report_write(&r, dir, &e2) < 0) {
                fprintf(stderr, "promlab-loadgen run: %s\n", e2.msg);
                ret = 1;
            } else {
                strbuf_t md = STRBUF_INIT;
                lg_report_md(&r, &md);
                printf("%s\nreport: %s/report.md, report.json, memory.svg, latency.svg, timeline.svg\n", md.data, dir);
                strbuf_free(&md);
            }
        }
    }
    lg_run_result_free(&r);
    lg_scenario_free(&s);
    flags_free(d, n);
    return ret;
}

/* ---- gate, compare ---------------------------------------------------------------- */

static char *slurp(const char *path, pl_err_t *err) {
    FILE *f = fopen(path, "rb");
    if (!f) return pl_err_set(err, "%s: %s", path, strerror(errno)), NULL;
    strbuf_t sb = STRBUF_INIT;
    char buf[65536];
    size_t k;
    while ((k = fread(buf, 1, sizeof buf, f)) > 0) strbuf_append(&sb, buf, k);
    fclose(f);
    strbuf_putc(&sb, '\0');
    return strbuf_detach(&sb);
}

int lg_cmd_gate(int argc, char **argv) {
    flag_def_t d[] = {
        {"baseline", FLAG_STRING, "", "The baseline report.json."},
        {"current", FLAG_STRING, "", "The report.json of the run to judge."},
        {"tolerance", FLAG_STRING, "10%", "Largest allowed worsening of any figure (10% or 0.1)."},
        {"max-regression", FLAG_STRING, "", "Same as --tolerance."},
    };
    size_t n = sizeof d / sizeof *d;
    int rc = parse_or_usage(d, n, argc, argv, "promlab-loadgen gate --baseline=B.json --current=C.json [--tolerance=10%]",
                            NULL, NULL);
    if (rc) return rc - 1;
    pl_err_t err = {{0}};
    double tol;
    const char *ts = *flags_str(d, n, "max-regression") ? flags_str(d, n, "max-regression") : flags_str(d, n, "tolerance");
    int ret = 0;
    char *b = NULL, *c = NULL;
    if (!*flags_str(d, n, "baseline") || !*flags_str(d, n, "current")) {
        pl_err_set(&err, "--baseline and --current are required");
        ret = 2;
    } else if (lg_parse_tolerance(ts, &tol, &err) < 0 || !(b = slurp(flags_str(d, n, "baseline"), &err)) ||
               !(c = slurp(flags_str(d, n, "current"), &err))) {
        ret = 2;
    } else {
        lg_gate_t g;
        if (lg_gate_compare(b, c, tol, &g, &err) < 0) ret = 2;
        else {
            strbuf_t sb = STRBUF_INIT;
            lg_gate_table(&g, tol, &sb);
            printf("%s", sb.data);
            strbuf_free(&sb);
            ret = g.failed ? 1 : 0;
            lg_gate_free(&g);
        }
    }
    if (ret == 2) fprintf(stderr, "promlab-loadgen gate: %s\n", err.msg);
    free(b);
    free(c);
    flags_free(d, n);
    return ret;
}

int lg_cmd_compare(int argc, char **argv) {
    flag_def_t d[] = {{"out", FLAG_STRING, "", "Also write the Markdown to this file."}};
    size_t n = 1;
    const char **pos = NULL;
    size_t npos = 0;
    int rc = parse_or_usage(d, n, argc, argv, "promlab-loadgen compare [--out=FILE] A.json B.json ...", &pos, &npos);
    if (rc) return rc - 1;
    pl_err_t err = {{0}};
    int ret = 0;
    if (npos < 2) {
        fprintf(stderr, "promlab-loadgen compare: two or more report.json files expected\n");
        ret = 2;
    }
    char **texts = calloc(npos + 1, sizeof *texts);
    const char **names = calloc(npos + 1, sizeof *names);
    for (size_t i = 0; ret == 0 && i < npos; i++) {
        names[i] = pos[i];
        if (!(texts[i] = slurp(pos[i], &err))) ret = 2;
    }
    if (ret == 0) {
        strbuf_t sb = STRBUF_INIT;
        if (lg_compare_md(names, (const char **)texts, npos, &sb, &err) < 0) ret = 2;
        else {
            printf("%s", sb.data);
            if (*flags_str(d, n, "out") && lg_write_file(flags_str(d, n, "out"), sb.data, sb.len, &err) < 0) ret = 1;
        }
        strbuf_free(&sb);
    }
    if (ret) fprintf(stderr, "promlab-loadgen compare: %s\n", err.msg);
    for (size_t i = 0; i < npos; i++) free(texts[i]);
    free(texts);
    free(names);
    free(pos);
    flags_free(d, n);
    return ret;
}
