/* backfill.c — history for retention scenarios: the generator's series
 * stepped through [start, end) at a resolution, written as OpenMetrics (for
 * `promtool tsdb create-blocks-from openmetrics` or promlab's) or straight
 * into TSDB blocks through libpromlab's block writer.
 *
 * Time is simulated: every step draws new values; the series cycle (churn)
 * and metric cycle advance when the simulated time crosses --series-interval
 * and --metric-interval. A series that ends with its cycle is flushed then.
 *
 * Blocks are cut as promtool's create-blocks-from does: aligned to the 2h
 * block range, [k*2h, (k+1)*2h), chunks cut at twice the block range, one
 * block per window that has samples. Only one window's samples are in memory.
 * OpenMetrics must keep each metric family in one piece, so that path holds
 * the whole history in memory and refuses spans over 200M samples (use
 * --output-blocks for larger ones). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "loadgen.h"
#include "model/storage.h"
#include "tsdb/block.h"
#include "util/json.h"

typedef struct series_buf {
    size_t family;
    label_t *ls; /* owned copies */
    size_t nls;
    sample_t *s;
    size_t n, cap;
} series_buf_t;

typedef struct {
    series_buf_t *open; /* the current cycle's series, in foreach order */
    size_t nopen, capopen;
    series_buf_t *done; /* flushed series */
    size_t ndone, capdone;
    size_t cursor;      /* foreach index within one step */
    int64_t ts;
    uint64_t samples;
} collect_t;

static void buf_free(series_buf_t *b) {
    for (size_t i = 0; i < b->nls; i++) {
        free((char *)b->ls[i].name);
        free((char *)b->ls[i].value);
    }
    free(b->ls);
    free(b->s);
}

static void on_sample(void *ctx, size_t family, const label_t *ls, size_t n, double v) {
    collect_t *c = ctx;
    if (c->cursor == c->nopen) {
        if (c->nopen == c->capopen) {
            c->capopen = c->capopen ? c->capopen * 2 : 1024;
            c->open = realloc(c->open, c->capopen * sizeof *c->open);
            if (!c->open) abort();
        }
        series_buf_t *b = &c->open[c->nopen++];
        memset(b, 0, sizeof *b);
        b->family = family;
        b->ls = calloc(n, sizeof *b->ls);
        b->nls = n;
        for (size_t i = 0; i < n; i++) b->ls[i] = (label_t){strdup(ls[i].name), strdup(ls[i].value)};
    }
    series_buf_t *b = &c->open[c->cursor++];
    if (b->n == b->cap) {
        b->cap = b->cap ? b->cap * 2 : 64;
        b->s = realloc(b->s, b->cap * sizeof *b->s);
        if (!b->s) abort();
    }
    b->s[b->n++] = (sample_t){c->ts, v};
    c->samples++;
}

/* Moves the open series to done (their cycle ended, or the window did). */
static void flush_open(collect_t *c) {
    for (size_t i = 0; i < c->nopen; i++) {
        if (c->ndone == c->capdone) {
            c->capdone = c->capdone ? c->capdone * 2 : 1024;
            c->done = realloc(c->done, c->capdone * sizeof *c->done);
            if (!c->done) abort();
        }
        c->done[c->ndone++] = c->open[i];
    }
    c->nopen = 0;
}

static void collect_clear(collect_t *c) {
    for (size_t i = 0; i < c->nopen; i++) buf_free(&c->open[i]);
    for (size_t i = 0; i < c->ndone; i++) buf_free(&c->done[i]);
    c->nopen = c->ndone = 0;
}

typedef struct {
    lg_gen_t *g;
    const lg_config_t *c;
    int64_t start;
    int64_t last_series_cycle, last_metric_cycle;
} sim_t;

/* Advances the simulation to time t (draws values; cycles as time says). */
static void sim_step(sim_t *s, collect_t *c, int64_t t) {
    int64_t el = (t - s->start) / 1000;
    bool changed = false;
    if (s->c->metric_interval > 0 && el / s->c->metric_interval != s->last_metric_cycle) {
        s->last_metric_cycle = el / s->c->metric_interval;
        flush_open(c);
        lg_gen_tick_metric(s->g);
        changed = true;
    }
    if (s->c->series_interval > 0 && el / s->c->series_interval != s->last_series_cycle) {
        s->last_series_cycle = el / s->c->series_interval;
        flush_open(c);
        lg_gen_tick_series(s->g);
        changed = true;
    }
    if (!changed) lg_gen_tick_values(s->g);
    c->cursor = 0;
    c->ts = t;
    lg_gen_foreach(s->g, on_sample, c);
}

static void put_om_value(FILE *f, double v) {
    char b[400];
    pl_format_float(b, v);
    fputs(b, f);
}

static int cmp_family(const void *a, const void *b) {
    const series_buf_t *x = a, *y = b;
    return (x->family > y->family) - (x->family < y->family);
}

static int write_om(sim_t *sim, collect_t *c, const char *path, pl_err_t *err) {
    if (!path) return pl_err_set(err, "no output file");
    FILE *f = fopen(path, "w");
    if (!f) return pl_err_set(err, "%s: %s", path, strerror(errno));
    if (c->ndone) qsort(c->done, c->ndone, sizeof *c->done, cmp_family); /* a family in one piece; glibc's qsort is a merge sort: stable */
    size_t last = (size_t)-1;
    for (size_t i = 0; i < c->ndone; i++) {
        series_buf_t *b = &c->done[i];
        if (b->family != last) {
            const char *name, *type;
            if (lg_gen_family(sim->g, b->family, &name, &type)) fprintf(f, "# TYPE %s %s\n", name, type);
            last = b->family;
        }
        strbuf_t lb = STRBUF_INIT;
        const char *mn = labels_get(b->ls, b->nls, LABEL_METRIC_NAME);
        strbuf_puts(&lb, mn ? mn : "");
        strbuf_putc(&lb, '{');
        bool first = true;
        for (size_t k = 0; k < b->nls; k++) {
            if (!strcmp(b->ls[k].name, LABEL_METRIC_NAME)) continue;
            if (!first) strbuf_putc(&lb, ',');
            first = false;
            strbuf_printf(&lb, "%s=", b->ls[k].name);
            json_escape(&lb, b->ls[k].value, strlen(b->ls[k].value));
        }
        strbuf_puts(&lb, "} ");
        for (size_t k = 0; k < b->n; k++) {
            fwrite(lb.data, 1, lb.len, f);
            put_om_value(f, b->s[k].v);
            fprintf(f, " %lld.%03d\n", (long long)(b->s[k].t / 1000), (int)(b->s[k].t % 1000));
        }
        strbuf_free(&lb);
    }
    fputs("# EOF\n", f);
    if (fclose(f) != 0) return pl_err_set(err, "%s: write failed", path);
    return 0;
}

int lg_backfill(const lg_config_t *cfg, const lg_backfill_opts_t *o, lg_backfill_result_t *r, pl_err_t *err) {
    memset(r, 0, sizeof *r);
    if (o->resolution_ms <= 0) return pl_err_set(err, "--resolution must be positive");
    if (o->end_ms <= o->start_ms) return pl_err_set(err, "the span is empty (end <= start)");
    if (!!o->out_openmetrics == !!o->out_blocks) return pl_err_set(err, "give exactly one of --output-openmetrics, --output-blocks");
    lg_config_t c = *cfg;
    c.mode = LG_MODE_DEFAULT;
    if (c.scenario == LG_SCN_SPIKE) c.scenario = LG_SCN_AVALANCHE;
    lg_gen_t *g = lg_gen_new(&c, err);
    if (!g) return -1;
    uint64_t steps = (uint64_t)((o->end_ms - o->start_ms + o->resolution_ms - 1) / o->resolution_ms);
    uint64_t total = steps * lg_gen_exposed_series(g);
    sim_t sim = {g, &c, o->start_ms, 0, 0};
    collect_t col = {0};
    int rc = 0;
    if (o->out_openmetrics) {
        if (total > 200000000ULL) {
            lg_gen_free(g);
            return pl_err_set(err, "%llu samples: too many to hold for OpenMetrics (at most 200M); use --output-blocks",
                              (unsigned long long)total);
        }
        for (int64_t t = o->start_ms; t < o->end_ms && !lg_interrupted; t += o->resolution_ms) sim_step(&sim, &col, t);
        flush_open(&col);
        rc = write_om(&sim, &col, o->out_openmetrics, err);
        r->samples = col.samples;
        r->series = col.ndone;
    } else {
        if (lg_mkdirs(o->out_blocks) < 0) {
            lg_gen_free(g);
            return pl_err_set(err, "mkdir %s: %s", o->out_blocks, strerror(errno));
        }
        const int64_t range = BLOCK_DEFAULT_RANGE_MS;
        int64_t t = o->start_ms;
        while (rc == 0 && t < o->end_ms && !lg_interrupted) {
            int64_t wstart = t >= 0 ? t / range * range : -((-t + range - 1) / range) * range;
            int64_t wend = wstart + range;
            for (; t < wend && t < o->end_ms; t += o->resolution_ms) sim_step(&sim, &col, t);
            /* the window ends: every open series is cut here (it goes on in the next block) */
            flush_open(&col);
            block_builder_t *b = block_builder_new(2 * range);
            int64_t mint = INT64_MAX, maxt = INT64_MIN;
            for (size_t i = 0; rc == 0 && i < col.ndone; i++) {
                series_buf_t *s = &col.done[i];
                if (!s->n) continue;
                if (s->s[0].t < mint) mint = s->s[0].t;
                if (s->s[s->n - 1].t > maxt) maxt = s->s[s->n - 1].t;
                rc = block_builder_add_series(b, s->ls, s->nls, s->s, s->n, err);
                r->series++;
                r->samples += s->n;
            }
            if (rc == 0 && maxt >= mint) {
                char ulid[ULID_LEN + 1];
                block_write_opts_t wo = {.min_time = mint, .max_time = maxt + 1};
                rc = block_builder_write(b, o->out_blocks, &wo, ulid, err);
                if (rc == 0 && ulid[0]) r->blocks++;
            }
            block_builder_free(b);
            collect_clear(&col);
        }
    }
    collect_clear(&col);
    free(col.open);
    free(col.done);
    lg_gen_free(g);
    return rc;
}
