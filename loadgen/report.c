/* report.c — a run's report: report.json (what gate and compare read),
 * report.md (tables for people) and three SVG charts drawn here by hand
 * (memory per series vs series, query latency per step, series and memory
 * over time), so a report needs nothing but a browser to read. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "loadgen.h"
#include "util/json.h"

int lg_mkdirs(const char *path) {
    char buf[4096];
    snprintf(buf, sizeof buf, "%s", path);
    for (char *p = buf + 1; *p; p++)
        if (*p == '/') {
            *p = '\0';
            if (mkdir(buf, 0755) < 0 && errno != EEXIST) return -1;
            *p = '/';
        }
    if (mkdir(buf, 0755) < 0 && errno != EEXIST) return -1;
    return 0;
}

int lg_write_file(const char *path, const char *data, size_t len, pl_err_t *err) {
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "wb");
    if (!f) return pl_err_set(err, "%s: %s", tmp, strerror(errno));
    size_t w = fwrite(data, 1, len, f);
    int rc = fclose(f);
    if (w != len || rc != 0) {
        remove(tmp);
        return pl_err_set(err, "%s: write failed", tmp);
    }
    if (rename(tmp, path) < 0) return pl_err_set(err, "rename %s: %s", path, strerror(errno));
    return 0;
}

static void kd(jsonw_t *w, const char *k, double v) {
    jw_key(w, k);
    jw_double(w, v);
}

void lg_report_json(const lg_run_result_t *r, strbuf_t *sb) {
    jsonw_t w;
    jw_init(&w, sb);
    jw_obj_begin(&w);
    jw_key(&w, "scenario");
    jw_str(&w, r->scenario);
    jw_key(&w, "started_at");
    jw_str(&w, r->started_at ? r->started_at : "");
    jw_key(&w, "server");
    jw_obj_begin(&w);
    jw_key(&w, "kind");
    jw_str(&w, r->server_kind ? r->server_kind : "");
    jw_key(&w, "version");
    jw_str(&w, r->server_version ? r->server_version : "unknown");
    jw_key(&w, "command");
    jw_str(&w, r->command ? r->command : "");
    jw_obj_end(&w);
    jw_key(&w, "targets");
    jw_int(&w, r->targets);
    kd(&w, "scrape_interval_seconds", (double)r->scrape_interval_ms / 1000);
    jw_key(&w, "exporter");
    jw_obj_begin(&w);
    kd(&w, "last_render_ms", r->serve_render_ms_max);
    jw_key(&w, "last_body_bytes");
    jw_uint(&w, r->serve_body_bytes_max);
    jw_obj_end(&w);
    jw_key(&w, "steps");
    jw_arr_begin(&w);
    for (size_t i = 0; i < r->nsteps; i++) {
        const lg_step_result_t *s = &r->steps[i];
        jw_obj_begin(&w);
        jw_key(&w, "target_series");
        jw_uint(&w, s->target_series);
        jw_key(&w, "exposed_series");
        jw_uint(&w, s->exposed_series);
        kd(&w, "head_series", s->head_series);
        kd(&w, "settle_seconds", s->settle_s);
        kd(&w, "rss_bytes", s->rss_bytes);
        kd(&w, "vmrss_bytes", s->vmrss_bytes);
        kd(&w, "vmhwm_bytes", s->vmhwm_bytes);
        kd(&w, "bytes_per_series", s->bytes_per_series);
        kd(&w, "ingest_samples_per_second", s->ingest_rate);
        kd(&w, "cpu_us_per_sample", s->cpu_per_sample_us);
        jw_key(&w, "query");
        strbuf_t q = STRBUF_INIT;
        lg_query_result_json(&s->query, &q);
        jw_raw(&w, q.data);
        strbuf_free(&q);
        jw_obj_end(&w);
    }
    jw_arr_end(&w);
    jw_key(&w, "timeline");
    jw_arr_begin(&w);
    for (size_t i = 0; i < r->ntimeline; i++) {
        jw_arr_begin(&w);
        jw_double(&w, round(r->timeline[i].t_s * 10) / 10);
        jw_double(&w, r->timeline[i].head_series);
        jw_double(&w, r->timeline[i].rss_bytes);
        jw_arr_end(&w);
    }
    jw_arr_end(&w);
    jw_obj_end(&w);
    strbuf_putc(sb, '\n');
}

static void cell(strbuf_t *sb, const char *fmt, double v) {
    if (isnan(v)) strbuf_puts(sb, " - |");
    else {
        strbuf_putc(sb, ' ');
        strbuf_printf(sb, fmt, v);
        strbuf_puts(sb, " |");
    }
}

void lg_report_md(const lg_run_result_t *r, strbuf_t *sb) {
    strbuf_printf(sb, "# loadgen report: %s\n\n", r->scenario);
    strbuf_printf(sb, "- server: %s %s\n- command: `%s`\n- started: %s\n- targets: %d, scrape interval %.0f s\n",
                  r->server_kind, r->server_version ? r->server_version : "unknown", r->command ? r->command : "",
                  r->started_at, r->targets, (double)r->scrape_interval_ms / 1000);
    strbuf_printf(sb, "- exporter: last body %.1f MB rendered in %.0f ms\n\n", (double)r->serve_body_bytes_max / 1e6,
                  r->serve_render_ms_max);
    strbuf_puts(sb, "## Memory and ingestion per step\n\n"
                    "| step | series exposed | head series | settle s | RSS MB | VmHWM MB | bytes/series | samples/s | CPU µs/sample |\n"
                    "|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
    for (size_t i = 0; i < r->nsteps; i++) {
        const lg_step_result_t *s = &r->steps[i];
        strbuf_printf(sb, "| %zu | %llu |", i + 1, (unsigned long long)s->exposed_series);
        cell(sb, "%.0f", s->head_series);
        cell(sb, "%.1f", s->settle_s);
        cell(sb, "%.1f", (!isnan(s->vmrss_bytes) ? s->vmrss_bytes : s->rss_bytes) / 1e6);
        cell(sb, "%.1f", s->vmhwm_bytes / 1e6);
        cell(sb, "%.0f", s->bytes_per_series);
        cell(sb, "%.0f", s->ingest_rate);
        cell(sb, "%.2f", s->cpu_per_sample_us);
        strbuf_putc(sb, '\n');
    }
    strbuf_puts(sb, "\n## Query latency per step\n\n"
                    "| step | head series | queries | errors | QPS | p50 ms | p90 ms | p99 ms | max ms |\n"
                    "|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
    for (size_t i = 0; i < r->nsteps; i++) {
        const lg_step_result_t *s = &r->steps[i];
        strbuf_printf(sb, "| %zu |", i + 1);
        cell(sb, "%.0f", s->head_series);
        strbuf_printf(sb, " %llu | %llu |", (unsigned long long)s->query.count, (unsigned long long)s->query.errors);
        cell(sb, "%.1f", s->query.achieved_qps);
        cell(sb, "%.2f", s->query.p50 * 1000);
        cell(sb, "%.2f", s->query.p90 * 1000);
        cell(sb, "%.2f", s->query.p99 * 1000);
        cell(sb, "%.2f", s->query.max * 1000);
        strbuf_putc(sb, '\n');
    }
    for (size_t i = 0; i < r->nsteps; i++)
        if (r->steps[i].query.first_error[0])
            strbuf_printf(sb, "\nstep %zu, first query error: `%s`\n", i + 1, r->steps[i].query.first_error);
    strbuf_puts(sb, "\nRSS is VmRSS from /proc when loadgen started the server, else process_resident_memory_bytes;\n"
                    "bytes/series = that RSS / prometheus_tsdb_head_series. samples/s is the rate of\n"
                    "prometheus_tsdb_head_samples_appended_total; CPU µs/sample divides process_cpu_seconds_total's\n"
                    "increase by the samples appended over the same window.\n\n"
                    "![memory](memory.svg)\n\n![latency](latency.svg)\n\n![timeline](timeline.svg)\n");
}

/* ---- SVG ------------------------------------------------------------------------ */

typedef struct {
    const char *name, *color;
    const double *x, *y;
    size_t n;
    bool right; /* on the right-hand axis (its own scale, ylabel2) */
} line_t;

static double nice_ceil(double v) {
    if (!(v > 0) || !isfinite(v)) return 1;
    double p = pow(10, floor(log10(v)));
    static const double steps[] = {1, 1.5, 2, 3, 4, 5, 6, 7, 8, 9, 10};
    for (size_t i = 0; i < sizeof steps / sizeof *steps; i++)
        if (steps[i] * p >= v) return steps[i] * p;
    return 10 * p;
}

static void fmt_num(char *out, size_t n, double v) {
    double a = fabs(v);
    if (a >= 1e9) snprintf(out, n, "%.3gG", v / 1e9);
    else if (a >= 1e6) snprintf(out, n, "%.3gM", v / 1e6);
    else if (a >= 1e3) snprintf(out, n, "%.3gk", v / 1e3);
    else snprintf(out, n, "%.3g", v);
}

static void chart(strbuf_t *sb, const char *title, const char *xlabel, const char *ylabel, const char *ylabel2,
                  const line_t *lines, size_t nl) {
    const double W = 760, H = 400, L = 80, R = 210, T = 40, B = 50;
    double xmax = 0, ymaxs[2] = {0, 0};
    for (size_t l = 0; l < nl; l++)
        for (size_t i = 0; i < lines[l].n; i++) {
            if (isfinite(lines[l].x[i]) && lines[l].x[i] > xmax) xmax = lines[l].x[i];
            double *ym = &ymaxs[lines[l].right];
            if (isfinite(lines[l].y[i]) && lines[l].y[i] > *ym) *ym = lines[l].y[i];
        }
    xmax = nice_ceil(xmax);
    double ymax = nice_ceil(ymaxs[0]), ymax2 = nice_ceil(ymaxs[1]);
    double pw = W - L - R, ph = H - T - B;
    strbuf_printf(sb,
                  "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" height=\"%.0f\" viewBox=\"0 0 %.0f %.0f\" "
                  "font-family=\"sans-serif\" font-size=\"12\">\n<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n"
                  "<text x=\"%.0f\" y=\"22\" font-size=\"15\" font-weight=\"bold\">%s</text>\n",
                  W, H, W, H, L, title);
    for (int i = 0; i <= 5; i++) {
        double y = T + ph - ph * i / 5, x = L + pw * i / 5;
        char b[32];
        fmt_num(b, sizeof b, ymax * i / 5);
        strbuf_printf(sb,
                      "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#ddd\"/>"
                      "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">%s</text>\n",
                      L, y, L + pw, y, L - 6, y + 4, b);
        if (ylabel2) {
            fmt_num(b, sizeof b, ymax2 * i / 5);
            strbuf_printf(sb, "<text x=\"%.1f\" y=\"%.1f\">%s</text>\n", L + pw + 6, y + 4, b);
        }
        fmt_num(b, sizeof b, xmax * i / 5);
        strbuf_printf(sb, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%s</text>\n", x, T + ph + 18, b);
    }
    strbuf_printf(sb,
                  "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"black\"/>"
                  "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"black\"/>\n"
                  "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%s</text>\n"
                  "<text x=\"16\" y=\"%.1f\" text-anchor=\"middle\" transform=\"rotate(-90 16 %.1f)\">%s</text>\n",
                  L, T + ph, L + pw, T + ph, L, T, L, T + ph, L + pw / 2, H - 10, xlabel, T + ph / 2, T + ph / 2, ylabel);
    if (ylabel2)
        strbuf_printf(sb,
                      "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"black\"/>"
                      "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\" transform=\"rotate(90 %.1f %.1f)\">%s</text>\n",
                      L + pw, T, L + pw, T + ph, L + pw + 52, T + ph / 2, L + pw + 52, T + ph / 2, ylabel2);
    for (size_t l = 0; l < nl; l++) {
        strbuf_printf(sb, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"2\" points=\"", lines[l].color);
        double ym = lines[l].right ? ymax2 : ymax;
        for (size_t i = 0; i < lines[l].n; i++) {
            if (!isfinite(lines[l].x[i]) || !isfinite(lines[l].y[i])) continue;
            strbuf_printf(sb, "%.1f,%.1f ", L + pw * lines[l].x[i] / xmax, T + ph - ph * lines[l].y[i] / ym);
        }
        strbuf_puts(sb, "\"/>\n");
        for (size_t i = 0; i < lines[l].n && lines[l].n <= 50; i++) {
            if (!isfinite(lines[l].x[i]) || !isfinite(lines[l].y[i])) continue;
            strbuf_printf(sb, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3.5\" fill=\"%s\"/>\n",
                          L + pw * lines[l].x[i] / xmax, T + ph - ph * lines[l].y[i] / ym, lines[l].color);
        }
        strbuf_printf(sb,
                      "<rect x=\"%.1f\" y=\"%.1f\" width=\"14\" height=\"4\" fill=\"%s\"/>"
                      "<text x=\"%.1f\" y=\"%.1f\">%s</text>\n",
                      L + pw + 70, T + 10 + 20.0 * (double)l, lines[l].color, L + pw + 90, T + 15 + 20.0 * (double)l,
                      lines[l].name);
    }
    strbuf_puts(sb, "</svg>\n");
}

void lg_svg_memory(const lg_run_result_t *r, strbuf_t *sb) {
    size_t n = r->nsteps;
    double *x = calloc(n + 1, sizeof *x), *y = calloc(n + 1, sizeof *y), *m = calloc(n + 1, sizeof *m);
    for (size_t i = 0; i < n; i++) {
        x[i] = r->steps[i].head_series;
        y[i] = r->steps[i].bytes_per_series;
        m[i] = (!isnan(r->steps[i].vmrss_bytes) ? r->steps[i].vmrss_bytes : r->steps[i].rss_bytes) / 1e6;
    }
    char title[200];
    snprintf(title, sizeof title, "%s (%s): memory vs head series", r->scenario, r->server_kind);
    line_t l[] = {{"bytes/series", "#1f77b4", x, y, n, false}, {"RSS MB (right)", "#9467bd", x, m, n, true}};
    chart(sb, title, "head series", "bytes per series", "RSS (MB)", l, 2);
    free(x);
    free(y);
    free(m);
}

void lg_svg_latency(const lg_run_result_t *r, strbuf_t *sb) {
    size_t n = r->nsteps;
    double *x = calloc(n + 1, sizeof *x), *p50 = calloc(n + 1, sizeof *x), *p90 = calloc(n + 1, sizeof *x),
           *p99 = calloc(n + 1, sizeof *x);
    for (size_t i = 0; i < n; i++) {
        x[i] = r->steps[i].head_series;
        p50[i] = r->steps[i].query.p50 * 1000;
        p90[i] = r->steps[i].query.p90 * 1000;
        p99[i] = r->steps[i].query.p99 * 1000;
    }
    char title[200];
    snprintf(title, sizeof title, "%s (%s): query latency per step", r->scenario, r->server_kind);
    line_t l[] = {{"p50", "#2ca02c", x, p50, n, false}, {"p90", "#ff7f0e", x, p90, n, false}, {"p99", "#d62728", x, p99, n, false}};
    chart(sb, title, "head series", "latency (ms)", NULL, l, 3);
    free(x);
    free(p50);
    free(p90);
    free(p99);
}

void lg_svg_timeline(const lg_run_result_t *r, strbuf_t *sb) {
    size_t n = r->ntimeline;
    double *t = calloc(n + 1, sizeof *t), *h = calloc(n + 1, sizeof *h), *m = calloc(n + 1, sizeof *m);
    for (size_t i = 0; i < n; i++) {
        t[i] = r->timeline[i].t_s;
        h[i] = r->timeline[i].head_series;
        m[i] = r->timeline[i].rss_bytes / 1e6;
    }
    char title[200];
    snprintf(title, sizeof title, "%s (%s): head series and RSS over time", r->scenario, r->server_kind);
    line_t l[] = {{"head series", "#1f77b4", t, h, n, false}, {"RSS MB (right)", "#9467bd", t, m, n, true}};
    chart(sb, title, "seconds since start", "head series", "RSS (MB)", l, 2);
    free(t);
    free(h);
    free(m);
}

int lg_report_write(const lg_run_result_t *r, const char *dir, pl_err_t *err) {
    if (lg_mkdirs(dir) < 0) return pl_err_set(err, "mkdir %s: %s", dir, strerror(errno));
    struct {
        const char *file;
        void (*fn)(const lg_run_result_t *, strbuf_t *);
    } outs[] = {{"report.json", lg_report_json}, {"report.md", lg_report_md}, {"memory.svg", lg_svg_memory},
                {"latency.svg", lg_svg_latency}, {"timeline.svg", lg_svg_timeline}};
    for (size_t i = 0; i < sizeof outs / sizeof *outs; i++) {
        strbuf_t sb = STRBUF_INIT;
        outs[i].fn(r, &sb);
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", dir, outs[i].file);
        int rc = lg_write_file(path, sb.data, sb.len, err);
        strbuf_free(&sb);
        if (rc < 0) return -1;
    }
    return 0;
}
