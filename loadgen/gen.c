/* gen.c — the series generator: avalanche 0.7's metric families and the
 * named bad-metric scenarios, rendered as text 0.0.4 or OpenMetrics.
 *
 * avalanche's shape (what a recipe written for avalanche 0.7 gets here):
 *   avalanche_gauge_metric_mmmmm_<metric cycle>_<id>            gauges
 *   avalanche_counter_metric_mmmmm_<metric cycle>_<id>_total    counters
 *   avalanche_histogram_metric_mmmmm_<mc>_<id>{..,le=..}          classic histograms,
 *       buckets 0.0001 * 10^i (i < bucket count) and +Inf, with _sum and _count
 *   avalanche_summary_metric_mmmmm_<mc>_<id>{..,quantile=..}      summaries, objectives
 *       q = (100/n)*(i+1) percent (100 becomes 99), with _sum and _count
 * each with --series-count series labelled
 *   {cycle_id="<series cycle>",label_key_kkkkk_<i>="label_val_vvvvv_<i>",...,series_id="<n>"}
 * (labels sorted by name as client_golang writes them; --const-label pairs
 * sorted in among them). Values are integers drawn from [0,100): gauges are
 * set to one, counters add one, histograms and summaries observe one.
 *
 * Where this differs from avalanche, on purpose: after a series, metric or
 * mode change every series exists at once with one observation (avalanche
 * shows some only after the next value tick); a summary's quantiles are the
 * last observation (avalanche keeps a sliding window). Neither changes the
 * series count or churn, which is what a load test measures.
 *
 * Rendering is the hot path (a 1M-series body is ~100-400 MB): the label
 * text around cycle_id and series_id is built once per configuration, and a
 * line is then a handful of memcpy's and an integer formatting. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "loadgen.h"

enum fam_type { F_GAUGE, F_COUNTER, F_HISTOGRAM, F_SUMMARY };

typedef struct family {
    enum fam_type type;
    char name[176];  /* full name (counters end in _total) */
    char fname[160]; /* family name (OpenMetrics: counters without _total) */
    size_t state_off; /* first state slot of series 0; each series has `width` slots */
    int width;
} family_t;

struct lg_gen {
    lg_config_t c;
    int series_count, initial_series_count;
    int series_cycle, metric_cycle;
    bool increasing; /* gradual-change / double-halve direction */
    uint64_t rng;
    family_t *fams;
    size_t nfams;
    double *state; /* per family, per series: `width` doubles */
    size_t state_len;
    /* avalanche label text: {<before>cycle_id="C"<mid>series_id="S"<after> (no closing brace) */
    char *lab_pre, *lab_mid, *lab_post;
    size_t lab_pre_len, lab_mid_len, lab_post_len;
    /* bucket bounds and their text; summary objectives */
    double *bounds;
    char (*bound_txt)[32];
    int nbuckets;
    double objectives[64];
    char obj_txt[64][16];
    int nobj;
    /* fixed label names for foreach */
    char **label_names, **label_values;
    size_t nlabels;
};

/* ---- config --------------------------------------------------------------- */

void lg_config_defaults(lg_config_t *c) {
    memset(c, 0, sizeof *c);
    c->gauge_count = 500;
    c->histogram_buckets = 7;
    c->summary_objectives = 2;
    c->series_count = 100;
    c->max_series_count = 1000;
    c->min_series_count = 100;
    c->series_change_rate = 100;
    c->label_count = 10;
    c->metricname_length = 5;
    c->labelname_length = 5;
    c->value_interval = 30;
    c->series_interval = 60;
    c->metric_interval = 0;
    c->series_change_interval = 30;
    c->spike_multiplier = 1.5;
    c->seed = 1;
}

void lg_config_free(lg_config_t *c) {
    for (size_t i = 0; i < c->nconst; i++) {
        free(c->const_names[i]);
        free(c->const_values[i]);
    }
    free(c->const_names);
    free(c->const_values);
    c->const_names = c->const_values = NULL;
    c->nconst = 0;
}

static bool valid_label_name(const char *s) { return label_name_valid(s, strlen(s)); }

int lg_config_add_const_label(lg_config_t *c, const char *spec, pl_err_t *err) {
    const char *eq = strchr(spec, '=');
    if (!eq || strchr(eq + 1, '=') || eq == spec)
        return pl_err_set(err, "constant label argument must have format labelName=labelValue but got %s", spec);
    char *name = strndup(spec, (size_t)(eq - spec));
    if (!valid_label_name(name)) {
        pl_err_set(err, "constant label %s: invalid label name", spec);
        free(name);
        return -1;
    }
    char **nn = realloc(c->const_names, (c->nconst + 1) * sizeof *nn);
    if (nn) c->const_names = nn;
    char **nv = realloc(c->const_values, (c->nconst + 1) * sizeof *nv);
    if (nv) c->const_values = nv;
    if (!nn || !nv) {
        free(name);
        return pl_err_set(err, "out of memory");
    }
    c->const_names[c->nconst] = name;
    c->const_values[c->nconst] = strdup(eq + 1);
    c->nconst++;
    return 0;
}

static void config_copy(lg_config_t *dst, const lg_config_t *src) {
    *dst = *src;
    dst->const_names = dst->const_values = NULL;
    dst->nconst = 0;
    for (size_t i = 0; i < src->nconst; i++) {
        char spec[1024];
        snprintf(spec, sizeof spec, "%s=%s", src->const_names[i], src->const_values[i]);
        lg_config_add_const_label(dst, spec, NULL);
    }
}

int lg_config_validate(const lg_config_t *c, pl_err_t *err) {
    if (c->max_series_count <= c->min_series_count)
        return pl_err_set(err, "--max-series-count (%d) must be greater than --min-series-count (%d)",
                          c->max_series_count, c->min_series_count);
    if (c->min_series_count < 0) return pl_err_set(err, "--min-series-count must be 0 or higher");
    if (c->gauge_count < 0 || c->counter_count < 0 || c->histogram_count < 0 || c->summary_count < 0)
        return pl_err_set(err, "metric counts must be 0 or higher");
    if (c->series_count < 0) return pl_err_set(err, "--series-count must be 0 or higher");
    if (c->label_count < 0 || c->label_count > 1000) return pl_err_set(err, "--label-count must be in [0, 1000]");
    if (c->metricname_length < 0 || c->metricname_length > 100 || c->labelname_length < 0 ||
        c->labelname_length > 100)
        return pl_err_set(err, "--metricname-length and --labelname-length must be in [0, 100]");
    if (c->histogram_buckets < 0 || c->histogram_buckets > 1000)
        return pl_err_set(err, "--histogram-metric-bucket-count must be in [0, 1000]");
    if (c->summary_objectives < 0 || c->summary_objectives > 60)
        return pl_err_set(err, "--summary-metric-objective-count must be in [0, 60]");
    if (c->mode == LG_MODE_GRADUAL && c->series_change_rate <= 0)
        return pl_err_set(err, "--series-change-rate must be greater than 0, got %d", c->series_change_rate);
    if ((c->mode == LG_MODE_SPIKE || c->scenario == LG_SCN_SPIKE) && c->spike_multiplier < 1)
        return pl_err_set(err, "--spike-multiplier must be greater than or equal to 1, got %g", c->spike_multiplier);
    if (c->nconst > 50) return pl_err_set(err, "at most 50 --const-label");
    for (size_t i = 0; i < c->nconst; i++)
        if (strcmp(c->const_names[i], "cycle_id") == 0 || strcmp(c->const_names[i], "series_id") == 0 ||
            strncmp(c->const_names[i], "label_key_", 10) == 0 || strcmp(c->const_names[i], "le") == 0 ||
            strcmp(c->const_names[i], "quantile") == 0)
            return pl_err_set(err, "constant label %s clashes with a generated label", c->const_names[i]);
    return 0;
}

int lg_parse_mode(const char *s, enum lg_mode *out) {
    if (!strcmp(s, "default") || !strcmp(s, "")) *out = LG_MODE_DEFAULT;
    else if (!strcmp(s, "gradual-change")) *out = LG_MODE_GRADUAL;
    else if (!strcmp(s, "double-halve")) *out = LG_MODE_DOUBLE_HALVE;
    else if (!strcmp(s, "spike")) *out = LG_MODE_SPIKE;
    else return -1;
    return 0;
}

static const char *scenario_names[] = {"avalanche", "http_requests_user_id", "session_id", "histogram_buckets",
                                       "spike"};

int lg_parse_scenario(const char *s, enum lg_scenario *out) {
    for (size_t i = 0; i < sizeof scenario_names / sizeof *scenario_names; i++)
        if (!strcmp(s, scenario_names[i])) {
            *out = (enum lg_scenario)i;
            return 0;
        }
    return -1;
}

const char *lg_scenario_name(enum lg_scenario s) { return scenario_names[s]; }

/* ---- random numbers (xorshift64*; deterministic per seed) ------------------ */

static uint64_t mix64(uint64_t z) {
    z += 0x9e3779b97f4a7c15ULL;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static int rand100(lg_gen_t *g) {
    g->rng ^= g->rng >> 12;
    g->rng ^= g->rng << 25;
    g->rng ^= g->rng >> 27;
    return (int)(((g->rng * 0x2545F4914F6CDD1DULL) >> 33) % 100);
}

/* ---- families and state ----------------------------------------------------- */

static int fam_width(const lg_gen_t *g, enum fam_type t) {
    switch (t) {
    case F_GAUGE:
    case F_COUNTER: return 1;
    case F_HISTOGRAM: return g->nbuckets + 1 + 2; /* per-bucket counts incl. +Inf, sum, count */
    case F_SUMMARY: return 3;                      /* last, sum, count */
    }
    return 1;
}

static void add_family(lg_gen_t *g, enum fam_type t, const char *fmt_kind, int id) {
    family_t *f = &g->fams[g->nfams++];
    f->type = t;
    char m[128];
    int ml = g->c.metricname_length < 100 ? g->c.metricname_length : 100;
    memset(m, 'm', (size_t)ml);
    m[ml] = '\0';
    if (fmt_kind) {
        snprintf(f->fname, sizeof f->fname, "avalanche_%s_metric_%s_%d_%d", fmt_kind, m, g->metric_cycle, id);
    } else {
        const char *n = g->c.scenario == LG_SCN_HTTP_USER_ID ? "http_requests"
                        : g->c.scenario == LG_SCN_SESSION_ID ? "app_session_active"
                                                              : "http_request_duration_seconds";
        snprintf(f->fname, sizeof f->fname, "%s", n);
    }
    if (t == F_COUNTER) snprintf(f->name, sizeof f->name, "%s_total", f->fname);
    else snprintf(f->name, sizeof f->name, "%s", f->fname);
    f->width = fam_width(g, t);
}

static bool is_avalanche(const lg_gen_t *g) {
    return g->c.scenario == LG_SCN_AVALANCHE || g->c.scenario == LG_SCN_SPIKE;
}

static void build_families(lg_gen_t *g) {
    g->nfams = 0;
    if (is_avalanche(g)) {
        for (int i = 0; i < g->c.gauge_count; i++) add_family(g, F_GAUGE, "gauge", i);
        for (int i = 0; i < g->c.counter_count; i++) add_family(g, F_COUNTER, "counter", i);
        for (int i = 0; i < g->c.histogram_count; i++) add_family(g, F_HISTOGRAM, "histogram", i);
        for (int i = 0; i < g->c.summary_count; i++) add_family(g, F_SUMMARY, "summary", i);
    } else if (g->c.scenario == LG_SCN_HTTP_USER_ID) {
        add_family(g, F_COUNTER, NULL, 0);
    } else if (g->c.scenario == LG_SCN_SESSION_ID) {
        add_family(g, F_GAUGE, NULL, 0);
    } else {
        add_family(g, F_HISTOGRAM, NULL, 0);
    }
}

/* Zeroes the state for the current series count and observes once. */
static void reset_state(lg_gen_t *g) {
    size_t need = 0;
    for (size_t f = 0; f < g->nfams; f++) {
        g->fams[f].state_off = need;
        need += (size_t)g->fams[f].width * (size_t)g->series_count;
    }
    if (need > g->state_len || !g->state) {
        free(g->state);
        g->state = calloc(need ? need : 1, sizeof *g->state);
        if (!g->state) abort();
        g->state_len = need;
    } else {
        memset(g->state, 0, need * sizeof *g->state);
    }
    lg_gen_tick_values(g);
}

static void put_esc(strbuf_t *sb, const char *s) {
    for (; *s; s++) {
        if (*s == '\\') strbuf_puts(sb, "\\\\");
        else if (*s == '"') strbuf_puts(sb, "\\\"");
        else if (*s == '\n') strbuf_puts(sb, "\\n");
        else strbuf_putc(sb, *s);
    }
}

static int cmp_idx_names(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Builds the avalanche label text and the fixed label list. */
static void build_labels(lg_gen_t *g) {
    size_t n = (size_t)g->c.label_count + g->c.nconst + 2;
    /* entries are "name\0value" pairs sorted by name; cycle_id/series_id marked by value NULL */
    char **names = calloc(n, sizeof *names), **values = calloc(n, sizeof *values);
    size_t k = 0;
    char kk[128];
    int ll = g->c.labelname_length < 100 ? g->c.labelname_length : 100;
    memset(kk, 'k', (size_t)ll);
    kk[ll] = '\0';
    char vv[128];
    memset(vv, 'v', (size_t)ll);
    vv[ll] = '\0';
    for (int i = 0; i < g->c.label_count; i++) {
        char b[300];
        snprintf(b, sizeof b, "label_key_%s_%d", kk, i);
        names[k] = strdup(b);
        snprintf(b, sizeof b, "label_val_%s_%d", vv, i);
        values[k++] = strdup(b);
    }
    for (size_t i = 0; i < g->c.nconst; i++) {
        names[k] = strdup(g->c.const_names[i]);
        values[k++] = strdup(g->c.const_values[i]);
    }
    names[k] = strdup("cycle_id");
    values[k++] = NULL;
    names[k] = strdup("series_id");
    values[k++] = NULL;
    /* sort names with their values: sort an index by name */
    char **pairs = calloc(n, sizeof *pairs);
    for (size_t i = 0; i < n; i++) {
        size_t nl = strlen(names[i]);
        size_t vl = values[i] ? strlen(values[i]) : 0;
        pairs[i] = malloc(nl + vl + 3);
        memcpy(pairs[i], names[i], nl + 1);
        pairs[i][nl + 1] = values[i] ? 1 : 0;
        if (values[i]) memcpy(pairs[i] + nl + 2, values[i], vl + 1);
        else pairs[i][nl + 2] = '\0';
        free(names[i]);
        free(values[i]);
    }
    qsort(pairs, n, sizeof *pairs, cmp_idx_names);
    strbuf_t seg[3] = {STRBUF_INIT, STRBUF_INIT, STRBUF_INIT};
    int cur = 0;
    strbuf_putc(&seg[0], '{');
    bool first = true;
    g->label_names = calloc(n, sizeof *g->label_names);
    g->label_values = calloc(n, sizeof *g->label_values);
    g->nlabels = n;
    for (size_t i = 0; i < n; i++) {
        const char *name = pairs[i];
        size_t nl = strlen(name);
        bool fixed = pairs[i][nl + 1] == 1;
        const char *value = pairs[i] + nl + 2;
        g->label_names[i] = strdup(name);
        g->label_values[i] = fixed ? strdup(value) : NULL;
        if (!first) strbuf_putc(&seg[cur], ',');
        first = false;
        strbuf_puts(&seg[cur], name);
        strbuf_puts(&seg[cur], "=\"");
        if (fixed) {
            put_esc(&seg[cur], value);
            strbuf_putc(&seg[cur], '"');
        } else {
            cur++; /* the variable value goes between this segment and the next */
            strbuf_putc(&seg[cur], '"');
        }
        free(pairs[i]);
    }
    free(pairs);
    free(names);
    free(values);
    g->lab_pre_len = seg[0].len;
    g->lab_pre = strbuf_detach(&seg[0]);
    g->lab_mid_len = seg[1].len;
    g->lab_mid = strbuf_detach(&seg[1]);
    g->lab_post_len = seg[2].len;
    g->lab_post = strbuf_detach(&seg[2]);
}

lg_gen_t *lg_gen_new(const lg_config_t *c, pl_err_t *err) {
    if (lg_config_validate(c, err) < 0) return NULL;
    lg_gen_t *g = calloc(1, sizeof *g);
    config_copy(&g->c, c);
    g->rng = mix64(c->seed ? c->seed : 1) | 1;
    if (g->c.scenario == LG_SCN_SPIKE) g->c.mode = LG_MODE_SPIKE;
    g->series_count = c->mode == LG_MODE_GRADUAL ? c->min_series_count : c->series_count;
    g->initial_series_count = g->series_count;
    g->increasing = true;
    g->nbuckets = g->c.histogram_buckets;
    g->bounds = calloc((size_t)g->nbuckets + 1, sizeof *g->bounds);
    g->bound_txt = calloc((size_t)g->nbuckets + 1, sizeof *g->bound_txt);
    for (int i = 0; i < g->nbuckets; i++) {
        /* avalanche: 0.0001 * 10^i; the many-bucket scenario: 1 ms growing by 1.25x */
        g->bounds[i] = is_avalanche(g) ? 0.0001 * pow(10, i) : 0.001 * pow(1.25, i);
        pl_format_float(g->bound_txt[i], g->bounds[i]);
    }
    g->nobj = g->c.summary_objectives;
    if (g->nobj > 0) {
        int parts = 100 / g->nobj;
        for (int i = 0; i < g->nobj; i++) {
            int q = parts * (i + 1);
            if (q == 100) q = 99;
            g->objectives[i] = q / 100.0;
            pl_format_float(g->obj_txt[i], g->objectives[i]);
        }
    }
    size_t maxf = (size_t)c->gauge_count + (size_t)c->counter_count + (size_t)c->histogram_count +
                  (size_t)c->summary_count + 1;
    g->fams = calloc(maxf, sizeof *g->fams);
    build_families(g);
    build_labels(g);
    reset_state(g);
    return g;
}

void lg_gen_free(lg_gen_t *g) {
    if (!g) return;
    lg_config_free(&g->c);
    free(g->fams);
    free(g->state);
    free(g->lab_pre);
    free(g->lab_mid);
    free(g->lab_post);
    free(g->bounds);
    free(g->bound_txt);
    for (size_t i = 0; i < g->nlabels; i++) {
        free(g->label_names[i]);
        free(g->label_values[i]);
    }
    free(g->label_names);
    free(g->label_values);
    free(g);
}

/* ---- ticks ------------------------------------------------------------------- */

void lg_gen_tick_values(lg_gen_t *g) {
    for (size_t f = 0; f < g->nfams; f++) {
        family_t *fm = &g->fams[f];
        double *st = g->state + fm->state_off;
        for (int s = 0; s < g->series_count; s++, st += fm->width) {
            int r = rand100(g);
            switch (fm->type) {
            case F_GAUGE: st[0] = r; break;
            case F_COUNTER: st[0] += r; break;
            case F_HISTOGRAM: {
                double v = is_avalanche(g) ? r : r * 0.01;
                int b = 0;
                while (b < g->nbuckets && v > g->bounds[b]) b++;
                st[b] += 1;
                st[g->nbuckets + 1] += v;
                st[g->nbuckets + 2] += 1;
                break;
            }
            case F_SUMMARY:
                st[0] = r;
                st[1] += r;
                st[2] += 1;
                break;
            }
        }
    }
}

void lg_gen_tick_series(lg_gen_t *g) {
    g->series_cycle++;
    reset_state(g);
}

void lg_gen_tick_metric(lg_gen_t *g) {
    g->metric_cycle++;
    build_families(g);
    reset_state(g);
}

void lg_gen_tick_change(lg_gen_t *g) {
    int n = g->series_count;
    switch (g->c.mode) {
    case LG_MODE_DEFAULT: return;
    case LG_MODE_GRADUAL:
        if (g->increasing) {
            n += g->c.series_change_rate;
            if (n >= g->c.max_series_count) {
                n = g->c.max_series_count;
                g->increasing = false;
            }
        } else {
            n -= g->c.series_change_rate;
            if (n < g->c.min_series_count) {
                n = g->c.min_series_count;
                g->increasing = true;
            }
        }
        break;
    case LG_MODE_DOUBLE_HALVE:
        if (g->increasing) n *= 2;
        else n = n / 2 < 1 ? 1 : n / 2;
        g->increasing = !g->increasing;
        break;
    case LG_MODE_SPIKE:
        if (n > g->initial_series_count) n = g->initial_series_count;
        else n = (int)(g->initial_series_count * g->c.spike_multiplier);
        break;
    }
    g->series_count = n;
    reset_state(g);
}

void lg_gen_set_series_count(lg_gen_t *g, int n) {
    g->series_count = n < 0 ? 0 : n;
    g->initial_series_count = g->series_count;
    reset_state(g);
}

int lg_gen_series_count(const lg_gen_t *g) { return g->series_count; }
int lg_gen_series_cycle(const lg_gen_t *g) { return g->series_cycle; }

uint64_t lg_config_exposed_series(const lg_config_t *c, int n) {
    uint64_t per;
    if (c->scenario == LG_SCN_AVALANCHE || c->scenario == LG_SCN_SPIKE)
        per = (uint64_t)c->gauge_count + (uint64_t)c->counter_count +
              (uint64_t)c->histogram_count * (uint64_t)(c->histogram_buckets + 3) +
              (uint64_t)c->summary_count * (uint64_t)(c->summary_objectives + 2);
    else if (c->scenario == LG_SCN_HISTOGRAM_BUCKETS) per = (uint64_t)c->histogram_buckets + 3;
    else per = 1;
    return per * (uint64_t)(n < 0 ? 0 : n);
}

uint64_t lg_gen_exposed_series(const lg_gen_t *g) { return lg_config_exposed_series(&g->c, g->series_count); }

/* ---- rendering ------------------------------------------------------------------ */

static inline void put_u64(strbuf_t *sb, uint64_t v) {
    char b[24];
    int i = 24;
    do {
        b[--i] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    strbuf_append(sb, b + i, (size_t)(24 - i));
}

static inline void put_value(strbuf_t *sb, double v) {
    if (v >= 0 && v < 1e15 && v == (double)(uint64_t)v) put_u64(sb, (uint64_t)v);
    else strbuf_put_float(sb, v);
}

/* The label set of series s, "{..." without the closing brace. */
static void put_labels(lg_gen_t *g, int s, strbuf_t *sb) {
    uint64_t k = (uint64_t)g->series_cycle * (uint64_t)(g->series_count ? g->series_count : 1) + (uint64_t)s;
    static const char *methods[] = {"GET", "POST"};
    static const char *statuses[] = {"200", "404", "500"};
    switch (g->c.scenario) {
    case LG_SCN_AVALANCHE:
    case LG_SCN_SPIKE:
        strbuf_append(sb, g->lab_pre, g->lab_pre_len);
        put_u64(sb, (uint64_t)g->series_cycle);
        strbuf_append(sb, g->lab_mid, g->lab_mid_len);
        put_u64(sb, (uint64_t)s);
        strbuf_append(sb, g->lab_post, g->lab_post_len);
        return;
    case LG_SCN_HTTP_USER_ID:
        strbuf_puts(sb, "{endpoint=\"/api/e");
        put_u64(sb, k % 8);
        strbuf_puts(sb, "\",method=\"");
        strbuf_puts(sb, methods[(k / 8) % 2]);
        strbuf_puts(sb, "\",status=\"");
        strbuf_puts(sb, statuses[(k / 16) % 3]);
        strbuf_puts(sb, "\",user_id=\"");
        put_u64(sb, 10000 + k / 48);
        strbuf_putc(sb, '"');
        return;
    case LG_SCN_SESSION_ID:
        strbuf_puts(sb, "{region=\"r");
        put_u64(sb, k % 4);
        strbuf_printf(sb, "\",session_id=\"%016llx\"", (unsigned long long)mix64(g->c.seed ^ (k * 2654435761u)));
        return;
    case LG_SCN_HISTOGRAM_BUCKETS:
        strbuf_puts(sb, "{endpoint=\"/api/e");
        put_u64(sb, k % 8);
        strbuf_puts(sb, "\",pod=\"pod-");
        put_u64(sb, k / 8);
        strbuf_putc(sb, '"');
        return;
    }
}

static void put_ts(strbuf_t *sb, enum textparse_format fmt, int64_t ts_ms) {
    if (ts_ms < 0) return;
    strbuf_putc(sb, ' ');
    if (fmt == TEXTPARSE_OPENMETRICS) strbuf_printf(sb, "%lld.%03d", (long long)(ts_ms / 1000), (int)(ts_ms % 1000));
    else put_u64(sb, (uint64_t)ts_ms);
}

static void put_line_end(strbuf_t *sb, double v, enum textparse_format fmt, int64_t ts_ms) {
    strbuf_append(sb, "} ", 2);
    put_value(sb, v);
    put_ts(sb, fmt, ts_ms);
    strbuf_putc(sb, '\n');
}

static const char *type_word(enum fam_type t) {
    switch (t) {
    case F_GAUGE: return "gauge";
    case F_COUNTER: return "counter";
    case F_HISTOGRAM: return "histogram";
    case F_SUMMARY: return "summary";
    }
    return "untyped";
}

void lg_gen_render(lg_gen_t *g, enum textparse_format fmt, int64_t ts_ms, bool om_no_eof, strbuf_t *sb) {
    for (size_t f = 0; f < g->nfams; f++) {
        family_t *fm = &g->fams[f];
        const char *hn = fmt == TEXTPARSE_OPENMETRICS ? fm->fname : fm->name;
        strbuf_printf(sb,
                      "# HELP %s Metric %s is generated by promlab-loadgen to load-test Prometheus-compatible "
                      "servers; the help text is as long as a real one.\n# TYPE %s %s\n",
                      hn, hn, hn, type_word(fm->type));
        size_t nl = strlen(fm->name);
        const double *st = g->state + fm->state_off;
        for (int s = 0; s < g->series_count; s++, st += fm->width) {
            switch (fm->type) {
            case F_GAUGE:
            case F_COUNTER:
                strbuf_append(sb, fm->name, nl);
                put_labels(g, s, sb);
                put_line_end(sb, st[0], fmt, ts_ms);
                break;
            case F_HISTOGRAM: {
                double cum = 0;
                for (int b = 0; b <= g->nbuckets; b++) {
                    cum += st[b];
                    strbuf_append(sb, fm->name, nl);
                    strbuf_append(sb, "_bucket", 7);
                    put_labels(g, s, sb);
                    strbuf_append(sb, ",le=\"", 5);
                    strbuf_puts(sb, b < g->nbuckets ? g->bound_txt[b] : "+Inf");
                    strbuf_putc(sb, '"');
                    put_line_end(sb, cum, fmt, ts_ms);
                }
                strbuf_append(sb, fm->name, nl);
                strbuf_append(sb, "_sum", 4);
                put_labels(g, s, sb);
                put_line_end(sb, st[g->nbuckets + 1], fmt, ts_ms);
                strbuf_append(sb, fm->name, nl);
                strbuf_append(sb, "_count", 6);
                put_labels(g, s, sb);
                put_line_end(sb, st[g->nbuckets + 2], fmt, ts_ms);
                break;
            }
            case F_SUMMARY:
                for (int q = 0; q < g->nobj; q++) {
                    strbuf_append(sb, fm->name, nl);
                    put_labels(g, s, sb);
                    strbuf_append(sb, ",quantile=\"", 11);
                    strbuf_puts(sb, g->obj_txt[q]);
                    strbuf_putc(sb, '"');
                    put_line_end(sb, st[0], fmt, ts_ms);
                }
                strbuf_append(sb, fm->name, nl);
                strbuf_append(sb, "_sum", 4);
                put_labels(g, s, sb);
                put_line_end(sb, st[1], fmt, ts_ms);
                strbuf_append(sb, fm->name, nl);
                strbuf_append(sb, "_count", 6);
                put_labels(g, s, sb);
                put_line_end(sb, st[2], fmt, ts_ms);
                break;
            }
        }
    }
    if (fmt == TEXTPARSE_OPENMETRICS && !om_no_eof) strbuf_puts(sb, "# EOF\n");
}

/* ---- foreach: label sets as label_t arrays ------------------------------------ */

typedef struct {
    label_t ls[1100];
    char buf[8][64];
    size_t n;
} scratch_t;

static void emit(lg_gen_t *g, size_t fam, scratch_t *sc, size_t base, const char *name, const char *extra_name,
                 const char *extra_value, double v, lg_sample_fn fn, void *ctx) {
    size_t n = base;
    sc->ls[n++] = (label_t){LABEL_METRIC_NAME, name};
    if (extra_name) sc->ls[n++] = (label_t){extra_name, extra_value};
    label_t tmp[1100];
    memcpy(tmp, sc->ls, n * sizeof *tmp);
    labels_sort(tmp, n);
    (void)g;
    fn(ctx, fam, tmp, n, v);
}

void lg_gen_foreach(lg_gen_t *g, lg_sample_fn fn, void *ctx) {
    scratch_t *sc = malloc(sizeof *sc);
    if (!sc) abort();
    static const char *methods[] = {"GET", "POST"};
    static const char *statuses[] = {"200", "404", "500"};
    for (size_t f = 0; f < g->nfams; f++) {
        family_t *fm = &g->fams[f];
        const double *st = g->state + fm->state_off;
        char nb[200], ns[200], nc[200];
        snprintf(nb, sizeof nb, "%s_bucket", fm->name);
        snprintf(ns, sizeof ns, "%s_sum", fm->name);
        snprintf(nc, sizeof nc, "%s_count", fm->name);
        for (int s = 0; s < g->series_count; s++, st += fm->width) {
            uint64_t k = (uint64_t)g->series_cycle * (uint64_t)g->series_count + (uint64_t)s;
            size_t n = 0;
            if (is_avalanche(g)) {
                for (size_t i = 0; i < g->nlabels; i++) {
                    const char *v = g->label_values[i];
                    if (!v) {
                        bool cyc = strcmp(g->label_names[i], "cycle_id") == 0;
                        char *b = sc->buf[cyc ? 0 : 1];
                        snprintf(b, 64, "%d", cyc ? g->series_cycle : s);
                        v = b;
                    }
                    sc->ls[n++] = (label_t){g->label_names[i], v};
                }
            } else if (g->c.scenario == LG_SCN_HTTP_USER_ID) {
                snprintf(sc->buf[0], 64, "/api/e%llu", (unsigned long long)(k % 8));
                snprintf(sc->buf[1], 64, "%llu", (unsigned long long)(10000 + k / 48));
                sc->ls[n++] = (label_t){"endpoint", sc->buf[0]};
                sc->ls[n++] = (label_t){"method", methods[(k / 8) % 2]};
                sc->ls[n++] = (label_t){"status", statuses[(k / 16) % 3]};
                sc->ls[n++] = (label_t){"user_id", sc->buf[1]};
            } else if (g->c.scenario == LG_SCN_SESSION_ID) {
                snprintf(sc->buf[0], 64, "r%llu", (unsigned long long)(k % 4));
                snprintf(sc->buf[1], 64, "%016llx", (unsigned long long)mix64(g->c.seed ^ (k * 2654435761u)));
                sc->ls[n++] = (label_t){"region", sc->buf[0]};
                sc->ls[n++] = (label_t){"session_id", sc->buf[1]};
            } else {
                snprintf(sc->buf[0], 64, "/api/e%llu", (unsigned long long)(k % 8));
                snprintf(sc->buf[1], 64, "pod-%llu", (unsigned long long)(k / 8));
                sc->ls[n++] = (label_t){"endpoint", sc->buf[0]};
                sc->ls[n++] = (label_t){"pod", sc->buf[1]};
            }
            switch (fm->type) {
            case F_GAUGE:
            case F_COUNTER: emit(g, f, sc, n, fm->name, NULL, NULL, st[0], fn, ctx); break;
            case F_HISTOGRAM: {
                double cum = 0;
                for (int b = 0; b <= g->nbuckets; b++) {
                    cum += st[b];
                    emit(g, f, sc, n, nb, "le", b < g->nbuckets ? g->bound_txt[b] : "+Inf", cum, fn, ctx);
                }
                emit(g, f, sc, n, ns, NULL, NULL, st[g->nbuckets + 1], fn, ctx);
                emit(g, f, sc, n, nc, NULL, NULL, st[g->nbuckets + 2], fn, ctx);
                break;
            }
            case F_SUMMARY:
                for (int q = 0; q < g->nobj; q++) emit(g, f, sc, n, fm->name, "quantile", g->obj_txt[q], st[0], fn, ctx);
                emit(g, f, sc, n, ns, NULL, NULL, st[1], fn, ctx);
                emit(g, f, sc, n, nc, NULL, NULL, st[2], fn, ctx);
                break;
            }
        }
    }
    free(sc);
}

bool lg_gen_family(const lg_gen_t *g, size_t i, const char **name, const char **type) {
    if (i >= g->nfams) return false;
    *name = g->fams[i].fname;
    *type = type_word(g->fams[i].type);
    return true;
}
