/* gate.c — `gate` compares a run with a baseline, figure by figure and step
 * by step, and fails (exit 1) when any figure got worse by more than the
 * tolerance; `compare` puts reports side by side.
 *
 * Figures, and which way is worse:
 *   bytes_per_series            memory per head series       higher is worse
 *   query.p99_seconds           query latency p99            higher is worse
 *   ingest_samples_per_second   ingestion rate               lower is worse
 *   cpu_us_per_sample           CPU per appended sample      higher is worse
 * change = (current - baseline) / baseline, sign flipped for "lower is worse",
 * so a positive change is always a regression; it fails when change >
 * tolerance (a change of exactly the tolerance passes). A figure missing or
 * zero in the baseline is shown and not judged. Steps are matched by position;
 * a current run with fewer steps than its baseline fails. */
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "loadgen.h"

int lg_parse_tolerance(const char *s, double *frac, pl_err_t *err) {
    char *end;
    double v = strtod(s, &end);
    if (end == s || !isfinite(v) || v < 0) return pl_err_set(err, "tolerance %s: not a non-negative number", s);
    if (*end == '%' && end[1] == '\0') v /= 100;
    else if (*end) return pl_err_set(err, "tolerance %s: expected e.g. 10%% or 0.1", s);
    else if (v >= 1) v /= 100; /* "10" means 10% */
    *frac = v;
    return 0;
}

typedef struct {
    const char *figure, *key, *sub;
    bool lower_is_worse;
} figure_t;

static const figure_t figures[] = {
    {"bytes/series", "bytes_per_series", NULL, false},
    {"query p99 s", "query", "p99_seconds", false},
    {"samples/s", "ingest_samples_per_second", NULL, true},
    {"CPU us/sample", "cpu_us_per_sample", NULL, false},
};

static double fig(json_t *step, const figure_t *f) {
    json_t *v = json_object_get(step, f->key);
    if (f->sub) v = json_object_get(v, f->sub);
    return json_is_number(v) ? json_number_value(v) : NAN;
}

static json_t *load_steps(const char *text, const char *what, json_t **root, pl_err_t *err) {
    json_error_t je;
    *root = json_loads(text, 0, &je);
    if (!*root) return pl_err_set(err, "%s: line %d: %s", what, je.line, je.text), NULL;
    json_t *steps = json_object_get(*root, "steps");
    if (!json_is_array(steps)) {
        json_decref(*root);
        *root = NULL;
        return pl_err_set(err, "%s: no steps array (not a loadgen report.json)", what), NULL;
    }
    return steps;
}

static void add_row(lg_gate_t *g, const lg_gate_row_t *r) {
    lg_gate_row_t *rows = realloc(g->rows, (g->n + 1) * sizeof *rows);
    if (!rows) abort();
    g->rows = rows;
    g->rows[g->n++] = *r;
}

int lg_gate_compare(const char *baseline_json, const char *current_json, double tolerance, lg_gate_t *g,
                    pl_err_t *err) {
    memset(g, 0, sizeof *g);
    json_t *br, *cr;
    json_t *bs = load_steps(baseline_json, "baseline", &br, err);
    if (!bs) return -1;
    json_t *cs = load_steps(current_json, "current", &cr, err);
    if (!cs) {
        json_decref(br);
        return -1;
    }
    size_t nb = json_array_size(bs), nc = json_array_size(cs);
    for (size_t i = 0; i < nb; i++) {
        json_t *b = json_array_get(bs, i), *c = i < nc ? json_array_get(cs, i) : NULL;
        char step[32];
        json_t *ts = json_object_get(b, "target_series");
        snprintf(step, sizeof step, "%zu (%lld)", i + 1, (long long)json_integer_value(ts));
        if (!c) {
            lg_gate_row_t r = {.baseline = NAN, .current = NAN, .change = NAN, .regression = true};
            snprintf(r.step, sizeof r.step, "%s", step);
            snprintf(r.figure, sizeof r.figure, "step missing");
            add_row(g, &r);
            g->failed = true;
            continue;
        }
        for (size_t f = 0; f < sizeof figures / sizeof *figures; f++) {
            lg_gate_row_t r = {0};
            snprintf(r.step, sizeof r.step, "%s", step);
            snprintf(r.figure, sizeof r.figure, "%s", figures[f].figure);
            r.baseline = fig(b, &figures[f]);
            r.current = fig(c, &figures[f]);
            r.change = NAN;
            if (isfinite(r.baseline) && r.baseline != 0 && isfinite(r.current)) {
                r.change = (r.current - r.baseline) / fabs(r.baseline);
                if (figures[f].lower_is_worse) r.change = -r.change;
                r.regression = r.change > tolerance + 1e-12;
            } else if (isfinite(r.baseline) && r.baseline != 0 && !isfinite(r.current)) {
                r.regression = true; /* the figure vanished: the run failed to measure it */
            }
            if (r.regression) g->failed = true;
            add_row(g, &r);
        }
    }
    json_decref(br);
    json_decref(cr);
    return 0;
}

static void num(strbuf_t *sb, double v) {
    if (isnan(v)) strbuf_printf(sb, "%14s", "-");
    else if (fabs(v) >= 1000 || v == 0) strbuf_printf(sb, "%14.0f", v);
    else strbuf_printf(sb, "%14.4g", v);
}

void lg_gate_table(const lg_gate_t *g, double tolerance, strbuf_t *sb) {
    strbuf_printf(sb, "%-16s %-16s %14s %14s %9s  %s\n", "step (series)", "figure", "baseline", "current", "change",
                  "verdict");
    size_t bad = 0;
    for (size_t i = 0; i < g->n; i++) {
        const lg_gate_row_t *r = &g->rows[i];
        strbuf_printf(sb, "%-16s %-16s ", r->step, r->figure);
        num(sb, r->baseline);
        strbuf_putc(sb, ' ');
        num(sb, r->current);
        if (isnan(r->change)) strbuf_printf(sb, " %9s", "-");
        else strbuf_printf(sb, " %+8.1f%%", r->change * 100);
        strbuf_printf(sb, "  %s\n", r->regression ? "REGRESSION" : (isnan(r->change) ? "not judged" : "ok"));
        if (r->regression) bad++;
    }
    strbuf_printf(sb, "%s: %zu regression(s) beyond %.1f%% (positive change = worse)\n", g->failed ? "FAIL" : "PASS",
                  bad, tolerance * 100);
}

void lg_gate_free(lg_gate_t *g) {
    free(g->rows);
    memset(g, 0, sizeof *g);
}

static void mdnum(strbuf_t *sb, const char *fmt, double v) {
    if (isnan(v)) strbuf_puts(sb, " - |");
    else {
        strbuf_putc(sb, ' ');
        strbuf_printf(sb, fmt, v);
        strbuf_puts(sb, " |");
    }
}

int lg_compare_md(const char **names, const char **jsons, size_t n, strbuf_t *sb, pl_err_t *err) {
    json_t **roots = calloc(n, sizeof *roots), **steps = calloc(n, sizeof *steps);
    int rc = 0;
    size_t maxsteps = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        steps[i] = load_steps(jsons[i], names[i], &roots[i], err);
        if (!steps[i]) rc = -1;
        else if (json_array_size(steps[i]) > maxsteps) maxsteps = json_array_size(steps[i]);
    }
    if (rc == 0) {
        strbuf_puts(sb, "# loadgen comparison\n\n| run | server | version | scenario |\n|---|---|---|---|\n");
        for (size_t i = 0; i < n; i++) {
            json_t *srv = json_object_get(roots[i], "server");
            strbuf_printf(sb, "| %s | %s | %s | %s |\n", names[i], json_string_value(json_object_get(srv, "kind")) ?: "",
                          json_string_value(json_object_get(srv, "version")) ?: "",
                          json_string_value(json_object_get(roots[i], "scenario")) ?: "");
        }
        strbuf_puts(sb, "\n| step | run | head series | RSS MB | bytes/series | samples/s | CPU µs/sample | p50 ms | p99 ms | errors |\n"
                        "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|\n");
        for (size_t s = 0; s < maxsteps; s++)
            for (size_t i = 0; i < n; i++) {
                json_t *st = json_array_get(steps[i], s);
                if (!st) continue;
                json_t *q = json_object_get(st, "query");
                double vm = json_number_value(json_object_get(st, "vmrss_bytes"));
                if (!json_is_number(json_object_get(st, "vmrss_bytes"))) vm = json_number_value(json_object_get(st, "rss_bytes"));
                strbuf_printf(sb, "| %zu | %s |", s + 1, names[i]);
                mdnum(sb, "%.0f", json_number_value(json_object_get(st, "head_series")));
                mdnum(sb, "%.1f", vm / 1e6);
                mdnum(sb, "%.0f", json_is_number(json_object_get(st, "bytes_per_series")) ? json_number_value(json_object_get(st, "bytes_per_series")) : NAN);
                mdnum(sb, "%.0f", json_is_number(json_object_get(st, "ingest_samples_per_second")) ? json_number_value(json_object_get(st, "ingest_samples_per_second")) : NAN);
                mdnum(sb, "%.2f", json_is_number(json_object_get(st, "cpu_us_per_sample")) ? json_number_value(json_object_get(st, "cpu_us_per_sample")) : NAN);
                mdnum(sb, "%.2f", json_is_number(json_object_get(q, "p50_seconds")) ? json_number_value(json_object_get(q, "p50_seconds")) * 1000 : NAN);
                mdnum(sb, "%.2f", json_is_number(json_object_get(q, "p99_seconds")) ? json_number_value(json_object_get(q, "p99_seconds")) * 1000 : NAN);
                strbuf_printf(sb, " %lld |\n", (long long)json_integer_value(json_object_get(q, "errors")));
            }
        strbuf_puts(sb, "\nTo rerun:\n\n");
        for (size_t i = 0; i < n; i++)
            strbuf_printf(sb, "    promlab-loadgen run loadgen/scenarios/%s.yaml\n",
                          json_string_value(json_object_get(roots[i], "scenario")) ?: "?");
        strbuf_puts(sb, "    promlab-loadgen compare");
        for (size_t i = 0; i < n; i++) strbuf_printf(sb, " %s", names[i]);
        strbuf_putc(sb, '\n');
    }
    for (size_t i = 0; i < n; i++) json_decref(roots[i]);
    free(roots);
    free(steps);
    return rc;
}
