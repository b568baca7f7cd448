/* scenario.c — scenario files (loadgen/scenarios/NAME.yaml).
 *
 *   name: cardinality-explosion
 *   description: free text for the report
 *   server:
 *     kind: promlab                 # label in the report (promlab, prometheus, ...)
 *     command: "{promlab} server --config.file={config} --storage.tsdb.path={data}
 *               --web.listen-address=127.0.0.1:{port}"   # run through sh -c
 *     url: http://127.0.0.1:9090    # instead of command: a server already running
 *     head_series_metric: prometheus_tsdb_head_series     # defaults; another server's names
 *     samples_metric: prometheus_tsdb_head_samples_appended_total   # (summed over its series)
 *     ready_path: /-/ready
 *   scrape_interval: 5s
 *   targets: 4                      # exporter targets served by this process
 *   exporter:                       # avalanche flag names, as on `serve`
 *     gauge-metric-count: 100
 *     label-count: 5
 *   steps:                          # total series across all targets, and how long to hold
 *     - {series: 10000, hold: 30s}
 *   queries:
 *     concurrency: 2                # or rate: 10 (queries per second)
 *     duration: 10s
 *     set: [{expr: up}, ...]        # as in a query set file
 *   settle_timeout: 120s            # at most this long for the head to reach a step
 *   rate_window: 10s                # ingestion rate measured over this
 *
 * Every error names file:line:col. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "loadgen.h"
#include "util/timeutil.h"

void lg_scenario_free(lg_scenario_file_t *s) {
    free(s->path);
    free(s->name);
    free(s->description);
    free(s->server_command);
    free(s->server_url);
    free(s->server_kind);
    free(s->head_series_metric);
    free(s->samples_metric);
    free(s->ready_path);
    free(s->steps);
    lg_config_free(&s->exporter);
    lg_queryset_free(&s->queries);
    memset(s, 0, sizeof *s);
}

static int at(pl_err_t *err, const char *path, const ynode_t *n, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int at(pl_err_t *err, const char *path, const ynode_t *n, const char *fmt, ...) {
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return pl_err_set(err, "%s:%d:%d: %s", path, n->line, n->col, msg);
}

static int scalar(const char *path, const ynode_t *n, const char *key, const char **out, pl_err_t *err) {
    *out = lg_yscalar(n);
    if (!*out) return at(err, path, n, "%s: must be a scalar", key);
    return 0;
}

static int duration(const char *path, const ynode_t *n, const char *key, int64_t *ms, pl_err_t *err) {
    const char *v;
    if (scalar(path, n, key, &v, err) < 0) return -1;
    pl_err_t e2;
    if (pl_parse_duration(v, ms, &e2) < 0 || *ms <= 0) return at(err, path, n, "%s: bad duration %s", key, v);
    return 0;
}

static int integer(const char *path, const ynode_t *n, const char *key, int64_t min, int64_t *out, pl_err_t *err) {
    const char *v;
    if (scalar(path, n, key, &v, err) < 0) return -1;
    char *end;
    long long x = strtoll(v, &end, 10);
    if (*end || end == v || x < min) return at(err, path, n, "%s: %s is not an integer >= %lld", key, v, (long long)min);
    *out = x;
    return 0;
}

/* Checks that every key of map m is in allowed (NULL-terminated). */
static int keys_known(const char *path, const ynode_t *m, const char *what, const char *const *allowed, pl_err_t *err) {
    for (size_t i = 0; i + 1 < m->n; i += 2) {
        bool ok = false;
        for (const char *const *a = allowed; *a; a++)
            if (!strcmp(*a, m->items[i]->value)) ok = true;
        if (!ok) return at(err, path, m->items[i], "unknown key %s in %s", m->items[i]->value, what);
    }
    return 0;
}

static int load_exporter(const char *path, const ynode_t *m, lg_config_t *c, pl_err_t *err) {
    flag_def_t d[48];
    size_t n = lg_gen_flag_defs(d);
    /* one parse over every key, so flags that depend on each other see each other;
     * each key is first checked alone to point an error at its line */
    char **argv = calloc(m->n / 2 + 1, sizeof *argv);
    int argc = 0, rc = 0;
    for (size_t i = 0; i + 1 < m->n && rc == 0; i += 2) {
        const char *key = m->items[i]->value, *v = lg_yscalar(m->items[i + 1]);
        if (!v) {
            rc = at(err, path, m->items[i + 1], "exporter.%s: must be a scalar", key);
            break;
        }
        size_t len = strlen(key) + strlen(v) + 4;
        argv[argc] = malloc(len);
        snprintf(argv[argc], len, "--%s=%s", key, v);
        pl_err_t e1 = {{0}};
        if (!flags_find(d, n, key)) rc = at(err, path, m->items[i], "exporter: unknown flag %s", key);
        else if (flags_parse(d, n, 1, &argv[argc], NULL, NULL, &e1) != 0) rc = at(err, path, m->items[i + 1], "exporter.%s: %s", key, e1.msg);
        else {
            flag_def_t *f = flags_find(d, n, key); /* typed check of this one value */
            if (f->kind == FLAG_INT) {
                int64_t x = 0;
                if (flags_int(d, n, key, &x, &e1) < 0) rc = at(err, path, m->items[i + 1], "exporter.%s: %s", key, e1.msg);
            }
            flags_free(d, n);
        }
        argc++;
    }
    if (rc == 0) {
        pl_err_t e1 = {{0}};
        if (flags_parse(d, n, argc, argv, NULL, NULL, &e1) != 0 || lg_config_from_flags(d, n, c, &e1) < 0)
            rc = at(err, path, m, "exporter: %s", e1.msg);
        flags_free(d, n);
    }
    for (int i = 0; i < argc; i++) free(argv[i]);
    free(argv);
    return rc;
}

static int load_steps(const char *path, const ynode_t *seq, lg_scenario_file_t *s, pl_err_t *err) {
    if (seq->kind != YN_SEQ || seq->n == 0) return at(err, path, seq, "steps: must be a non-empty list");
    s->steps = calloc(seq->n, sizeof *s->steps);
    static const char *const allowed[] = {"series", "hold", NULL};
    for (size_t i = 0; i < seq->n; i++) {
        const ynode_t *m = seq->items[i];
        if (m->kind != YN_MAP) return at(err, path, m, "a step must be a mapping {series, hold}");
        if (keys_known(path, m, "a step", allowed, err) < 0) return -1;
        const ynode_t *sv = lg_ymap_get(m, "series"), *hv = lg_ymap_get(m, "hold");
        if (!sv) return at(err, path, m, "a step needs series");
        int64_t series = 0;
        if (integer(path, sv, "series", 1, &series, err) < 0) return -1;
        s->steps[i].series = (uint64_t)series;
        s->steps[i].hold_ms = 30000;
        if (hv && duration(path, hv, "hold", &s->steps[i].hold_ms, err) < 0) return -1;
        s->nsteps++;
    }
    return 0;
}

static int load_queries(const char *path, const ynode_t *m, lg_scenario_file_t *s, pl_err_t *err) {
    if (m->kind != YN_MAP) return at(err, path, m, "queries: must be a mapping {concurrency|rate, duration, set}");
    static const char *const allowed[] = {"concurrency", "rate", "duration", "set", "file", NULL};
    if (keys_known(path, m, "queries", allowed, err) < 0) return -1;
    const ynode_t *n;
    int64_t x = 0;
    if ((n = lg_ymap_get(m, "concurrency"))) {
        if (integer(path, n, "queries.concurrency", 1, &x, err) < 0) return -1;
        s->query_concurrency = (int)x;
    }
    if ((n = lg_ymap_get(m, "rate"))) {
        const char *v;
        if (scalar(path, n, "queries.rate", &v, err) < 0) return -1;
        char *end;
        s->query_rate = strtod(v, &end);
        if (*end || !(s->query_rate > 0)) return at(err, path, n, "queries.rate: %s is not a positive number", v);
    }
    if ((n = lg_ymap_get(m, "duration")) && duration(path, n, "queries.duration", &s->query_duration_ms, err) < 0)
        return -1;
    const ynode_t *set = lg_ymap_get(m, "set"), *file = lg_ymap_get(m, "file");
    if (set && file) return at(err, path, file, "queries: set and file exclude each other");
    if (file) {
        const char *v;
        if (scalar(path, file, "queries.file", &v, err) < 0) return -1;
        /* relative to the scenario file's directory */
        char full[4096];
        const char *slash = strrchr(path, '/');
        if (v[0] != '/' && slash) snprintf(full, sizeof full, "%.*s/%s", (int)(slash - path), path, v);
        else snprintf(full, sizeof full, "%s", v);
        return lg_queryset_load(full, &s->queries, err);
    }
    if (!set) return at(err, path, m, "queries: needs set (a list of queries) or file");
    return lg_queryset_from_node(path, set, &s->queries, err);
}

int lg_scenario_load(const char *path, lg_scenario_file_t *s, pl_err_t *err) {
    memset(s, 0, sizeof *s);
    lg_config_defaults(&s->exporter);
    s->path = strdup(path);
    s->scrape_interval_ms = 5000;
    s->targets = 1;
    s->query_concurrency = 1;
    s->query_duration_ms = 10000;
    s->settle_timeout_ms = 120000;
    s->rate_window_ms = 10000;
    ynode_t *root;
    if (lg_yaml_load(path, &root, err) < 0) {
        lg_scenario_free(s);
        return -1;
    }
    int rc = 0;
    static const char *const allowed[] = {"name", "description", "server", "scrape_interval", "targets", "exporter",
                                          "steps", "queries", "settle_timeout", "rate_window", NULL};
    if (root->kind != YN_MAP) rc = at(err, path, root, "a scenario must be a mapping");
    else rc = keys_known(path, root, "the scenario", allowed, err);
    for (size_t i = 0; rc == 0 && i + 1 < root->n; i += 2) {
        const char *key = root->items[i]->value;
        const ynode_t *v = root->items[i + 1];
        const char *sv;
        int64_t x = 0;
        if (!strcmp(key, "name")) {
            if ((rc = scalar(path, v, key, &sv, err)) == 0) {
                for (const char *p = sv; *p; p++)
                    if (!(*p == '-' || *p == '_' || *p == '.' || (*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'z') ||
                          (*p >= 'A' && *p <= 'Z')))
                        rc = at(err, path, v, "name: %s: only letters, digits, '-', '_' and '.' (it names a directory)", sv);
                if (rc == 0) s->name = strdup(sv);
            }
        } else if (!strcmp(key, "description")) {
            if ((rc = scalar(path, v, key, &sv, err)) == 0) s->description = strdup(sv);
        } else if (!strcmp(key, "scrape_interval")) {
            rc = duration(path, v, key, &s->scrape_interval_ms, err);
        } else if (!strcmp(key, "settle_timeout")) {
            rc = duration(path, v, key, &s->settle_timeout_ms, err);
        } else if (!strcmp(key, "rate_window")) {
            rc = duration(path, v, key, &s->rate_window_ms, err);
        } else if (!strcmp(key, "targets")) {
            if ((rc = integer(path, v, key, 1, &x, err)) == 0) {
                if (x > 1000) rc = at(err, path, v, "targets: at most 1000");
                s->targets = (int)x;
            }
        } else if (!strcmp(key, "exporter")) {
            if (v->kind != YN_MAP) rc = at(err, path, v, "exporter: must be a mapping of avalanche flags");
            else rc = load_exporter(path, v, &s->exporter, err);
        } else if (!strcmp(key, "steps")) {
            rc = load_steps(path, v, s, err);
        } else if (!strcmp(key, "queries")) {
            rc = load_queries(path, v, s, err);
        } else if (!strcmp(key, "server")) {
            static const char *const sk[] = {"kind", "command", "url", "head_series_metric", "samples_metric", "ready_path", NULL};
            if (v->kind != YN_MAP) rc = at(err, path, v, "server: must be a mapping {kind, command | url}");
            else rc = keys_known(path, v, "server", sk, err);
            for (size_t j = 0; rc == 0 && j + 1 < v->n; j += 2) {
                const char *k2 = v->items[j]->value;
                if ((rc = scalar(path, v->items[j + 1], k2, &sv, err)) < 0) break;
                if (!strcmp(k2, "kind")) s->server_kind = strdup(sv);
                else if (!strcmp(k2, "command")) s->server_command = strdup(sv);
                else if (!strcmp(k2, "url")) s->server_url = strdup(sv);
                else if (!strcmp(k2, "ready_path")) s->ready_path = strdup(sv);
                else {
                    lg_metric_want_t w;
                    char buf[256];
                    if (lg_metric_selector(sv, buf, sizeof buf, &w) < 0)
                        rc = at(err, path, v->items[j + 1], "%s: %s is not a metric name or name{label=\"value\"}", k2, sv);
                    else if (!strcmp(k2, "head_series_metric")) s->head_series_metric = strdup(sv);
                    else s->samples_metric = strdup(sv);
                }
            }
            if (rc == 0 && !s->server_command && !s->server_url) rc = at(err, path, v, "server: needs command or url");
            if (rc == 0 && s->server_command && s->server_url)
                rc = at(err, path, v, "server: command and url exclude each other (the command's server gets {port})");
        }
    }
    if (rc == 0 && !s->name) rc = at(err, path, root, "the scenario needs a name");
    if (rc == 0 && !s->steps) rc = at(err, path, root, "the scenario needs steps");
    if (rc == 0 && !s->server_command && !s->server_url) rc = at(err, path, root, "the scenario needs a server");
    if (rc == 0 && !s->queries.n) rc = at(err, path, root, "the scenario needs queries");
    if (rc == 0 && !s->server_kind) s->server_kind = strdup("promlab");
    lg_yaml_free(root);
    if (rc < 0) {
        lg_scenario_free(s);
    }
    return rc;
}
