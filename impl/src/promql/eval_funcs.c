/* eval_funcs.c — PromQL function calls.
 *
 * Range-vector functions pick each step's window out of the matrix argument
 * with two pointers (windows only move forward) and hand it to the kernels
 * in functions_range.h. Instant-vector functions map values in place;
 * label functions rewrite label sets; histogram_quantile/fraction group
 * classic buckets once per node and gather them per step. */
#define PCRE2_CODE_UNIT_WIDTH 8
#include <math.h>
#include <pcre2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "promql/engine_internal.h"
#include "promql/functions.h"
#include "promql/functions_range.h"

value_t eval_vector_selector_ts(query_t *q, const promql_expr_t *e, const grid_t *g);

static const promql_expr_t *unparen(const promql_expr_t *e) {
    while (e->kind == PROMQL_PAREN)
        e = e->inner;
    return e;
}

static bool keeps_name(enum promql_func_id id) {
    switch (id) {
    case FN_LAST_OVER_TIME:
    case FN_FIRST_OVER_TIME:
    case FN_SORT:
    case FN_SORT_DESC:
    case FN_SORT_BY_LABEL:
    case FN_SORT_BY_LABEL_DESC:
    case FN_LABEL_REPLACE:
    case FN_LABEL_JOIN: return true;
    default: return false;
    }
}

static bool has_suffix(const char *s, const char *suf) {
    size_t n = strlen(s), m = strlen(suf);
    return n >= m && strcmp(s + n - m, suf) == 0;
}

/* ---- range-vector functions -------------------------------------------- */

/* What the per-series work of a range function needs. */
typedef struct range_ctx {
    query_t *q;
    const promql_expr_t *e, *marg;
    const grid_t *g;
    enum promql_func_id id;
    value_t sc1, sc2;
    bool keep;
    bool copy_labels; /* series come from storage (streaming): copy their labels */
    vseries_t *out;
    size_t n, cap;
    double *scratch;
    size_t scratch_n;
} range_ctx_t;

static vseries_t *range_out_slot(range_ctx_t *rc) {
    if (rc->n == rc->cap) {
        size_t nc = rc->cap ? rc->cap * 2 : 64;
        vseries_t *no = arena_alloc(&rc->q->arena, nc * sizeof *no);
        if (rc->n) memcpy(no, rc->out, rc->n * sizeof *no);
        rc->out = no;
        rc->cap = nc;
    }
    return &rc->out[rc->n];
}

static double *range_scratch(range_ctx_t *rc, size_t n) {
    if (n + 1 > rc->scratch_n) {
        rc->scratch_n = 2 * (n + 1);
        rc->scratch = arena_alloc(&rc->q->arena, rc->scratch_n * sizeof(double));
    }
    return rc->scratch;
}

/* Evaluates the function over one series at every step; appends an output
 * series when any step has a value. Never longjmps (it runs inside storage's
 * select when streaming). */
static void range_series(range_ctx_t *rc, const matrix_t *m, const mseries_t *s) {
    query_t *q = rc->q;
    const promql_expr_t *e = rc->e, *marg = rc->marg;
    const grid_t *g = rc->g;
    enum promql_func_id id = rc->id;
    bool keep = rc->keep;
    vseries_t *o = range_out_slot(rc);
    o->ls = NULL;
    o->nls = s->nls;
    o->drop_name = keep ? s->drop_name : true;
    o->v = NULL;
    o->has = NULL;
    size_t lo = 0, hi = 0;
    bool any = false;
    for (size_t j = 0; j < g->n; j++) {
        int64_t T = m->t_end[j];
        int64_t wstart = T - m->range_ms;
        if (j > 0 && T < m->t_end[j - 1]) lo = hi = 0;
        while (lo < s->ns && s->s[lo].t <= wstart)
            lo++;
        if (hi < lo) hi = lo;
        while (hi < s->ns && s->s[hi].t <= T)
            hi++;
        const sample_t *w = s->s + lo;
        size_t n = hi - lo;
        if (n == 0) continue;
        bool ok = true;
        double v;
        switch (id) {
        case FN_RATE: v = prom_rate(w, n, wstart, T, &ok); break;
        case FN_INCREASE: v = prom_increase(w, n, wstart, T, &ok); break;
        case FN_DELTA: v = prom_delta(w, n, wstart, T, &ok); break;
        case FN_IRATE: v = prom_irate(w, n, &ok); break;
        case FN_IDELTA: v = prom_idelta(w, n, &ok); break;
        case FN_DERIV: v = prom_deriv(w, n, &ok); break;
        case FN_PREDICT_LINEAR:
            /* the line is anchored at the evaluation time, not the offset window end */
            v = prom_predict_linear(w, n, grid_t_at(g, j), rc->sc1.sv[j], &ok);
            break;
        case FN_CHANGES: v = prom_changes(w, n, &ok); break;
        case FN_RESETS: v = prom_resets(w, n, &ok); break;
        case FN_AVG_OVER_TIME: v = prom_avg_over_time(w, n, &ok); break;
        case FN_SUM_OVER_TIME: v = prom_sum_over_time(w, n, &ok); break;
        case FN_COUNT_OVER_TIME: v = prom_count_over_time(w, n, &ok); break;
        case FN_MIN_OVER_TIME: v = prom_min_over_time(w, n, &ok); break;
        case FN_MAX_OVER_TIME: v = prom_max_over_time(w, n, &ok); break;
        case FN_LAST_OVER_TIME: v = prom_last_over_time(w, n, &ok); break;
        case FN_FIRST_OVER_TIME: v = prom_first_over_time(w, n, &ok); break;
        case FN_PRESENT_OVER_TIME: v = prom_present_over_time(w, n, &ok); break;
        case FN_STDVAR_OVER_TIME: v = prom_stdvar_over_time(w, n, &ok); break;
        case FN_STDDEV_OVER_TIME: v = prom_stddev_over_time(w, n, &ok); break;
        case FN_QUANTILE_OVER_TIME: {
            double qq = rc->sc1.sv[j];
            if (!(qq >= 0 && qq <= 1)) {
                char b[64];
                pl_format_float(b, qq);
                q_warn(q, e->args[0]->pos_start, "quantile value should be between 0 and 1, got %s", b);
            }
            v = prom_quantile_over_time(qq, w, n, range_scratch(rc, s->ns), &ok);
            break;
        }
        case FN_MAD_OVER_TIME: v = prom_mad_over_time(w, n, range_scratch(rc, s->ns), &ok); break;
        case FN_TS_OF_MIN_OVER_TIME: v = prom_ts_of_min_over_time(w, n, &ok); break;
        case FN_TS_OF_MAX_OVER_TIME: v = prom_ts_of_max_over_time(w, n, &ok); break;
        case FN_TS_OF_FIRST_OVER_TIME: v = prom_ts_of_first_over_time(w, n, &ok); break;
        case FN_TS_OF_LAST_OVER_TIME: v = prom_ts_of_last_over_time(w, n, &ok); break;
        case FN_DOUBLE_EXPONENTIAL_SMOOTHING:
            v = prom_double_exponential_smoothing(w, n, rc->sc1.sv[j], rc->sc2.sv[j], &ok);
            break;
        default:
            ok = false;
            v = 0;
            break;
        }
        if (!ok) continue;
        if (!o->v) {
            o->v = arena_alloc(&q->arena, g->n * sizeof(double));
            o->has = arena_calloc(&q->arena, g->n);
        }
        o->v[j] = v;
        o->has[j] = 1;
        any = true;
    }
    if ((id == FN_RATE || id == FN_INCREASE) && any) {
        const char *name = labels_get(s->ls, s->nls, LABEL_METRIC_NAME);
        if (name && !has_suffix(name, "_total") && !has_suffix(name, "_sum") && !has_suffix(name, "_count") &&
            !has_suffix(name, "_bucket"))
            q_info(q, marg->pos_start,
                   "metric might not be a counter, name does not end in _total/_sum/_count/_bucket: \"%s\"", name);
    }
    if (any) {
        rc->n++;
        o->ls = rc->copy_labels ? labels_copy_arena(q, s->ls, s->nls) : s->ls;
    }
}

static int range_hook(void *ctx, const matrix_t *m, const mseries_t *s) {
    range_series(ctx, m, s);
    return 0;
}

static value_t eval_range_func(query_t *q, const promql_expr_t *e, const grid_t *g) {
    enum promql_func_id id = e->func->id;
    const promql_expr_t *marg = NULL;
    value_t sc1 = {0}, sc2 = {0};
    switch (id) {
    case FN_QUANTILE_OVER_TIME:
        sc1 = eval_expr(q, e->args[0], g);
        marg = e->args[1];
        break;
    case FN_PREDICT_LINEAR:
        marg = e->args[0];
        sc1 = eval_expr(q, e->args[1], g);
        break;
    case FN_DOUBLE_EXPONENTIAL_SMOOTHING:
        marg = e->args[0];
        sc1 = eval_expr(q, e->args[1], g);
        sc2 = eval_expr(q, e->args[2], g);
        break;
    default: marg = e->args[0]; break;
    }
    if (id == FN_DOUBLE_EXPONENTIAL_SMOOTHING) {
        for (size_t j = 0; j < g->n; j++) {
            if (!(sc1.sv[j] > 0 && sc1.sv[j] < 1))
                q_fail(q, PROMQL_ERR_EXECUTION, "invalid smoothing factor. Expected: 0 < sf < 1, got: %f", sc1.sv[j]);
            if (!(sc2.sv[j] > 0 && sc2.sv[j] < 1))
                q_fail(q, PROMQL_ERR_EXECUTION, "invalid trend factor. Expected: 0 < tf < 1, got: %f", sc2.sv[j]);
        }
    }
    range_ctx_t rc = {.q = q, .e = e, .marg = marg, .g = g, .id = id, .sc1 = sc1, .sc2 = sc2, .keep = keeps_name(id)};
    /* Straight over a selector: each series is evaluated as storage passes
     * it, so its samples are never copied and kept. */
    if (id != FN_ABSENT_OVER_TIME && unparen(marg)->kind == PROMQL_MATRIX_SELECTOR) {
        rc.copy_labels = true;
        q->sel_func = e->func->name;
        (void)eval_matrix_hooked(q, marg, g, range_hook, &rc);
        q->sel_func = NULL;
        return (value_t){.type = PROMQL_TYPE_VECTOR, .vs = rc.out, .nvs = rc.n};
    }
    q->sel_func = unparen(marg)->kind == PROMQL_MATRIX_SELECTOR ? e->func->name : NULL;
    matrix_t m = eval_matrix(q, marg, g);
    q->sel_func = NULL;
    if (id == FN_ABSENT_OVER_TIME) {
        value_t out = {.type = PROMQL_TYPE_VECTOR, .vs = vseries_new(q, 1, g->n), .nvs = 1};
        vseries_t *o = &out.vs[0];
        o->v = arena_alloc(&q->arena, g->n * sizeof(double));
        o->has = arena_calloc(&q->arena, g->n);
        size_t *lo = arena_calloc(&q->arena, (m.nms + 1) * sizeof(size_t));
        for (size_t j = 0; j < g->n; j++) {
            bool any = false;
            for (size_t i = 0; i < m.nms && !any; i++) {
                const mseries_t *s = &m.ms[i];
                while (lo[i] < s->ns && s->s[lo[i]].t <= m.t_end[j] - m.range_ms)
                    lo[i]++;
                if (lo[i] < s->ns && s->s[lo[i]].t <= m.t_end[j]) any = true;
            }
            if (!any) {
                o->v[j] = 1;
                o->has[j] = 1;
            }
        }
        /* labels from the selector's equality matchers */
        const promql_expr_t *sel = unparen(marg);
        if (sel->kind == PROMQL_MATRIX_SELECTOR)
            sel = sel->inner;
        else
            sel = NULL;
        label_t *ls = arena_alloc(&q->arena, (sel ? sel->nmatchers : 0) * sizeof(label_t) + sizeof(label_t));
        size_t k = 0;
        if (sel) {
            for (size_t a = 0; a < sel->nmatchers; a++) {
                const matcher_t *mt = &sel->matchers[a];
                if (mt->type != MATCH_EQUAL || strcmp(mt->name, LABEL_METRIC_NAME) == 0) continue;
                bool dup = false;
                for (size_t b = 0; b < sel->nmatchers; b++)
                    if (b != a && strcmp(sel->matchers[b].name, mt->name) == 0) dup = true;
                if (dup) continue;
                ls[k++] = (label_t){arena_strdup(&q->arena, mt->name), arena_strdup(&q->arena, mt->value)};
            }
        }
        labels_sort(ls, k);
        o->ls = ls;
        o->nls = (uint32_t)k;
        return out;
    }

    for (size_t i = 0; i < m.nms; i++)
        range_series(&rc, &m, &m.ms[i]);
    return (value_t){.type = PROMQL_TYPE_VECTOR, .vs = rc.out, .nvs = rc.n};
}

/* ---- instant-vector math ------------------------------------------------ */

static double go_min(double a, double b) {
    if (a != a || b != b) return NAN;
    return a < b ? a : b;
}
static double go_max(double a, double b) {
    if (a != a || b != b) return NAN;
    return a > b ? a : b;
}

static double math_fn(enum promql_func_id id, double f, double a1, double a2) {
    switch (id) {
    case FN_ABS: return fabs(f);
    case FN_CEIL: return ceil(f);
    case FN_FLOOR: return floor(f);
    case FN_EXP: return exp(f);
    case FN_SQRT: return sqrt(f);
    case FN_LN: return log(f);
    case FN_LOG2: return log2(f);
    case FN_LOG10: return log10(f);
    case FN_SIN: return sin(f);
    case FN_COS: return cos(f);
    case FN_TAN: return tan(f);
    case FN_ASIN: return asin(f);
    case FN_ACOS: return acos(f);
    case FN_ATAN: return atan(f);
    case FN_SINH: return sinh(f);
    case FN_COSH: return cosh(f);
    case FN_TANH: return tanh(f);
    case FN_ASINH: return asinh(f);
    case FN_ACOSH: return acosh(f);
    case FN_ATANH: return atanh(f);
    case FN_DEG: return f * 180 / M_PI;
    case FN_RAD: return f * M_PI / 180;
    case FN_SGN: return f > 0 ? 1 : f < 0 ? -1 : f;
    case FN_CLAMP: return go_max(a1, go_min(a2, f));
    case FN_CLAMP_MAX: return go_min(a1, f);
    case FN_CLAMP_MIN: return go_max(a1, f);
    case FN_ROUND: {
        double inv = 1.0 / a1;
        return floor(f * inv + 0.5) / inv;
    }
    case FN_TIMESTAMP: return f;
    default: break;
    }
    /* date functions */
    if (f != f || isinf(f)) return NAN;
    time_t secs = (time_t)(int64_t)f;
    struct tm tm;
    gmtime_r(&secs, &tm);
    switch (id) {
    case FN_DAY_OF_MONTH: return tm.tm_mday;
    case FN_DAY_OF_WEEK: return tm.tm_wday;
    case FN_DAY_OF_YEAR: return tm.tm_yday + 1;
    case FN_HOUR: return tm.tm_hour;
    case FN_MINUTE: return tm.tm_min;
    case FN_MONTH: return tm.tm_mon + 1;
    case FN_YEAR: return tm.tm_year + 1900;
    case FN_DAYS_IN_MONTH: {
        static const int dim[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
        int y = tm.tm_year + 1900;
        int d = dim[tm.tm_mon];
        if (tm.tm_mon == 1 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0)) d = 29;
        return d;
    }
    default: return NAN;
    }
}

static bool is_date_fn(enum promql_func_id id) {
    return id == FN_DAY_OF_MONTH || id == FN_DAY_OF_WEEK || id == FN_DAY_OF_YEAR || id == FN_HOUR || id == FN_MINUTE ||
           id == FN_MONTH || id == FN_YEAR || id == FN_DAYS_IN_MONTH;
}

static value_t map_values(query_t *q, const promql_expr_t *e, value_t v, const grid_t *g, const double *a1,
                          const double *a2) {
    enum promql_func_id id = e->func->id;
    size_t k = 0;
    for (size_t i = 0; i < v.nvs; i++) {
        vseries_t *s = &v.vs[i];
        bool any = false;
        for (size_t j = 0; j < g->n; j++) {
            if (!s->has[j]) continue;
            if (id == FN_CLAMP && a1 && a2 && a2[j] < a1[j]) {
                s->has[j] = 0;
                continue;
            }
            s->v[j] = math_fn(id, s->v[j], a1 ? a1[j] : 0, a2 ? a2[j] : 0);
            any = true;
        }
        if (!any) continue;
        s->drop_name = true;
        v.vs[k++] = *s;
    }
    v.nvs = k;
    return v;
}

/* ---- label functions ---------------------------------------------------- */

static void set_label(query_t *q, vseries_t *s, const char *name, const char *value) {
    label_t *ls = arena_alloc(&q->arena, (s->nls + 1) * sizeof(label_t));
    size_t k = 0;
    for (size_t i = 0; i < s->nls; i++)
        if (strcmp(s->ls[i].name, name) != 0) ls[k++] = s->ls[i];
    if (value && *value) ls[k++] = (label_t){arena_strdup(&q->arena, name), arena_strdup(&q->arena, value)};
    labels_sort(ls, k);
    s->ls = ls;
    s->nls = (uint32_t)k;
    if (strcmp(name, LABEL_METRIC_NAME) == 0) s->drop_name = false;
}

static void expand_template(strbuf_t *out, const char *tmpl, const char *subject, pcre2_code *re,
                            pcre2_match_data *md) {
    PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
    uint32_t ngroups = pcre2_get_ovector_count(md);
    for (const char *p = tmpl; *p;) {
        if (*p != '$') {
            strbuf_putc(out, *p++);
            continue;
        }
        p++;
        if (*p == '$') {
            strbuf_putc(out, '$');
            p++;
            continue;
        }
        char name[128];
        size_t n = 0;
        if (*p == '{') {
            const char *q2 = strchr(p, '}');
            if (!q2) {
                strbuf_putc(out, '$');
                continue;
            }
            n = (size_t)(q2 - p - 1);
            if (n >= sizeof name) n = sizeof name - 1;
            memcpy(name, p + 1, n);
            p = q2 + 1;
        } else {
            while ((p[n] >= 'a' && p[n] <= 'z') || (p[n] >= 'A' && p[n] <= 'Z') || (p[n] >= '0' && p[n] <= '9') ||
                   p[n] == '_') {
                if (n < sizeof name - 1) name[n] = p[n];
                n++;
            }
            if (n == 0) {
                strbuf_putc(out, '$');
                continue;
            }
            p += n;
            if (n >= sizeof name) n = sizeof name - 1;
        }
        name[n] = '\0';
        int idx = -1;
        char *end;
        long num = strtol(name, &end, 10);
        if (n > 0 && *end == '\0')
            idx = (int)num;
        else if (n > 0)
            idx = pcre2_substring_number_from_name(re, (PCRE2_SPTR)name);
        if (idx >= 0 && (uint32_t)idx < ngroups && ov[2 * idx] != PCRE2_UNSET)
            strbuf_append(out, subject + ov[2 * idx], ov[2 * idx + 1] - ov[2 * idx]);
    }
}

static value_t label_replace(query_t *q, const promql_expr_t *e, value_t v, const grid_t *g) {
    (void)g;
    for (int i = 1; i <= 4; i++)
        if (unparen(e->args[i])->kind != PROMQL_STRING_LIT)
            q_fail(q, PROMQL_ERR_EXECUTION, "label_replace needs string literals");
    const char *dst = unparen(e->args[1])->string, *repl = unparen(e->args[2])->string,
               *src = unparen(e->args[3])->string, *regex = unparen(e->args[4])->string;
    strbuf_t pat = STRBUF_INIT;
    strbuf_printf(&pat, "^(?:%s)$", regex);
    int code;
    PCRE2_SIZE off;
    pcre2_code *re = pcre2_compile((PCRE2_SPTR)pat.data, pat.len, PCRE2_DOTALL | PCRE2_UTF, &code, &off, NULL);
    strbuf_free(&pat);
    if (!re) {
        PCRE2_UCHAR msg[256];
        pcre2_get_error_message(code, msg, sizeof msg);
        q_fail(q, PROMQL_ERR_EXECUTION, "invalid regular expression in label_replace(): %s", regex);
    }
    if (!label_name_valid(dst, strlen(dst))) {
        pcre2_code_free(re);
        q_fail(q, PROMQL_ERR_EXECUTION, "invalid destination label name in label_replace(): %s", dst);
    }
    pcre2_match_data *md = pcre2_match_data_create_from_pattern(re, NULL);
    strbuf_t out = STRBUF_INIT;
    for (size_t i = 0; i < v.nvs; i++) {
        vseries_t *s = &v.vs[i];
        const char *sv = labels_get(s->ls, s->nls, src);
        if (!sv) sv = "";
        int rc = pcre2_match(re, (PCRE2_SPTR)sv, strlen(sv), 0, 0, md, NULL);
        if (rc < 0) continue;
        strbuf_reset(&out);
        strbuf_putc(&out, '\0');
        strbuf_reset(&out);
        expand_template(&out, repl, sv, re, md);
        set_label(q, s, dst, out.data ? out.data : "");
    }
    strbuf_free(&out);
    pcre2_match_data_free(md);
    pcre2_code_free(re);
    return v;
}

static value_t label_join(query_t *q, const promql_expr_t *e, value_t v) {
    const char *dst = unparen(e->args[1])->string, *sep = unparen(e->args[2])->string;
    if (!label_name_valid(dst, strlen(dst)))
        q_fail(q, PROMQL_ERR_EXECUTION, "invalid destination label name in label_join(): %s", dst);
    strbuf_t out = STRBUF_INIT;
    for (size_t i = 0; i < v.nvs; i++) {
        vseries_t *s = &v.vs[i];
        strbuf_reset(&out);
        strbuf_putc(&out, '\0');
        strbuf_reset(&out);
        for (size_t a = 3; a < e->nargs; a++) {
            const char *val = labels_get(s->ls, s->nls, unparen(e->args[a])->string);
            if (a > 3) strbuf_puts(&out, sep);
            if (val) strbuf_puts(&out, val);
        }
        set_label(q, s, dst, out.data ? out.data : "");
    }
    strbuf_free(&out);
    return v;
}

/* ---- sorting ------------------------------------------------------------ */

typedef struct sort_ctx {
    const promql_expr_t *e;
    enum promql_func_id id;
} sort_ctx_t;

static int natcmp(const char *a, const char *b) {
    while (*a && *b) {
        if (*a >= '0' && *a <= '9' && *b >= '0' && *b <= '9') {
            const char *a0 = a, *b0 = b;
            while (*a0 == '0')
                a0++;
            while (*b0 == '0')
                b0++;
            const char *a1 = a0, *b1 = b0;
            while (*a1 >= '0' && *a1 <= '9')
                a1++;
            while (*b1 >= '0' && *b1 <= '9')
                b1++;
            if (a1 - a0 != b1 - b0) return (a1 - a0) < (b1 - b0) ? -1 : 1;
            int c = strncmp(a0, b0, (size_t)(a1 - a0));
            if (c) return c;
            a = a1;
            b = b1;
            continue;
        }
        if (*a != *b) return (unsigned char)*a < (unsigned char)*b ? -1 : 1;
        a++;
        b++;
    }
    return *a ? 1 : *b ? -1 : 0;
}

static _Thread_local const sort_ctx_t *g_sort; /* sort comparators have no context argument in C17 */

static int cmp_by_value(const void *x, const void *y) {
    const vseries_t *a = x, *b = y;
    double av = a->v[0], bv = b->v[0];
    bool an = av != av, bn = bv != bv;
    if (an != bn) return an ? -1 : 1;
    if (an) return 0;
    if (av == bv) return 0;
    if (g_sort->id == FN_SORT) return av < bv ? -1 : 1;
    return av > bv ? -1 : 1;
}

static int cmp_by_label(const void *x, const void *y) {
    const vseries_t *a = x, *b = y;
    for (size_t i = 1; i < g_sort->e->nargs; i++) {
        const char *name = unparen(g_sort->e->args[i])->string;
        const char *av = labels_get(a->ls, a->nls, name), *bv = labels_get(b->ls, b->nls, name);
        int c = natcmp(av ? av : "", bv ? bv : "");
        if (c) return g_sort->id == FN_SORT_BY_LABEL_DESC ? -c : c;
    }
    int c = labels_compare(a->ls, a->nls, b->ls, b->nls);
    return g_sort->id == FN_SORT_BY_LABEL_DESC ? -c : c;
}

/* Stable merge sort (qsort is not stable). */
static void stable_sort(query_t *q, vseries_t *a, size_t n, int (*cmp)(const void *, const void *)) {
    if (n < 2) return;
    vseries_t *tmp = arena_alloc(&q->arena, n * sizeof *tmp);
    for (size_t w = 1; w < n; w *= 2) {
        for (size_t lo = 0; lo < n; lo += 2 * w) {
            size_t mid = lo + w < n ? lo + w : n, hi = lo + 2 * w < n ? lo + 2 * w : n;
            size_t i = lo, j = mid, k = lo;
            while (i < mid && j < hi)
                tmp[k++] = cmp(&a[j], &a[i]) < 0 ? a[j++] : a[i++];
            while (i < mid)
                tmp[k++] = a[i++];
            while (j < hi)
                tmp[k++] = a[j++];
        }
        memcpy(a, tmp, n * sizeof *a);
    }
}

/* ---- histograms --------------------------------------------------------- */

/* A quantile as a label value: shortest decimal, always with a fraction ("0.0", "0.25"). */
static void format_q(char *buf, size_t n, double v) {
    if (v != v) {
        snprintf(buf, n, "NaN");
        return;
    }
    if (isinf(v)) {
        snprintf(buf, n, v > 0 ? "+Inf" : "-Inf");
        return;
    }
    for (int prec = 0; prec < 340; prec++) {
        snprintf(buf, n, "%.*f", prec, v);
        if (strtod(buf, NULL) == v) break;
    }
    if (!strchr(buf, '.')) strncat(buf, ".0", n - strlen(buf) - 1);
}

static value_t histogram_fn(query_t *q, const promql_expr_t *e, const grid_t *g) {
    bool frac = e->func->id == FN_HISTOGRAM_FRACTION;
    bool multi = e->func->id == FN_HISTOGRAM_QUANTILES;
    value_t a1 = {0}, a2 = {0}, v;
    size_t nq = 1;
    value_t *qs = NULL;
    const char *qlabel = NULL;
    if (multi) {
        v = eval_expr(q, e->args[0], g);
        qlabel = unparen(e->args[1])->string;
        nq = e->nargs - 2;
        qs = arena_alloc(&q->arena, nq * sizeof *qs);
        for (size_t i = 0; i < nq; i++)
            qs[i] = eval_expr(q, e->args[i + 2], g);
        a1 = qs[0];
    } else {
        a1 = eval_expr(q, e->args[0], g);
        if (frac) a2 = eval_expr(q, e->args[1], g);
        v = eval_expr(q, e->args[frac ? 2 : 1], g);
    }
    size_t ns = v.nvs;
    int vpos = e->args[multi ? 0 : frac ? 2 : 1]->pos_start;
    double *le = arena_alloc(&q->arena, (ns + 1) * sizeof(double));
    int32_t *gid = arena_alloc(&q->arena, (ns + 1) * sizeof(int32_t));
    size_t ngroups = 0;
    label_t *scratch = arena_alloc(&q->arena, 64 * sizeof(label_t));
    size_t scap = 64;
    outset_t o;
    outset_init(&o, q, g->n);
    for (size_t i = 0; i < ns; i++) {
        vseries_t *s = &v.vs[i];
        const char *lv = labels_get(s->ls, s->nls, "le");
        char *end = NULL;
        double b = lv ? strtod(lv, &end) : NAN;
        if (lv && end && *end == '\0' && end != lv) {
            /* ok */
        } else if (lv && (strcmp(lv, "+Inf") == 0 || strcmp(lv, "Inf") == 0 || strcmp(lv, "+inf") == 0)) {
            b = INFINITY;
        } else {
            q_warn(q, vpos, "bucket label \"le\" is missing or has a malformed value of \"%s\" for metric name \"%s\"",
                   lv ? lv : "", labels_metric_name(s->ls, s->nls));
            gid[i] = -1;
            continue;
        }
        le[i] = b;
        if (s->nls > scap) {
            scap = s->nls * 2;
            scratch = arena_alloc(&q->arena, scap * sizeof(label_t));
        }
        size_t k = 0;
        for (size_t a = 0; a < s->nls; a++)
            if (strcmp(s->ls[a].name, "le") != 0) scratch[k++] = s->ls[a];
        size_t before = o.n;
        size_t idx = outset_get(&o, scratch, k, true);
        if (idx == before) {
            o.vs[idx].drop_name = true;
            ngroups++;
        }
        gid[i] = (int32_t)idx;
    }
    /* gather per group per step */
    size_t *gcnt = arena_alloc(&q->arena, (ngroups + 1) * sizeof(size_t));
    size_t *goff = arena_calloc(&q->arena, (ngroups + 2) * sizeof(size_t));
    for (size_t i = 0; i < ns; i++)
        if (gid[i] >= 0) goff[gid[i] + 1]++;
    for (size_t k = 0; k < ngroups; k++)
        goff[k + 1] += goff[k];
    prom_bucket_t *buckets = arena_alloc(&q->arena, (ns + 1) * sizeof(prom_bucket_t));
    outset_t mo;
    outset_init(&mo, q, g->n);
    for (size_t j = 0; j < g->n; j++) {
        q_check(q);
        memset(gcnt, 0, (ngroups + 1) * sizeof(size_t));
        for (size_t i = 0; i < ns; i++) {
            if (gid[i] < 0 || !v.vs[i].has[j]) continue;
            size_t k = (size_t)gid[i];
            buckets[goff[k] + gcnt[k]++] = (prom_bucket_t){le[i], v.vs[i].v[j]};
        }
        for (size_t qi = 0; qi < nq; qi++) {
            double qv = multi ? qs[qi].sv[j] : a1.sv[j];
            if (!frac && !(qv >= 0 && qv <= 1)) {
                char b[64];
                pl_format_float(b, qv);
                q_warn(q, multi ? e->args[qi + 2]->pos_start : e->args[0]->pos_start,
                       "quantile value should be between 0 and 1, got %s", b);
            }
            if (multi) {
                /* buckets are sorted in place by the kernel; re-gather per quantile */
                memset(gcnt, 0, (ngroups + 1) * sizeof(size_t));
                for (size_t i = 0; i < ns; i++) {
                    if (gid[i] < 0 || !v.vs[i].has[j]) continue;
                    size_t k = (size_t)gid[i];
                    buckets[goff[k] + gcnt[k]++] = (prom_bucket_t){le[i], v.vs[i].v[j]};
                }
            }
            for (size_t k = 0; k < ngroups; k++) {
                if (!gcnt[k]) continue;
                size_t n = gcnt[k];
                double r;
                if (frac) {
                    r = prom_bucket_fraction(qv, a2.sv[j], buckets + goff[k], &n);
                } else {
                    prom_bucket_fix_t fix = {0};
                    r = prom_bucket_quantile(qv, buckets + goff[k], &n, &fix);
                    if (fix.forced_monotonic)
                        q_info(q, vpos, "%s for metric name \"%s\"", PROM_INFO_HISTOGRAM_MONOTONICITY,
                               labels_metric_name(o.vs[k].ls, o.vs[k].nls));
                }
                if (!multi) {
                    outset_set(&o, k, j, r);
                    continue;
                }
                char qb[400];
                format_q(qb, sizeof qb, qv);
                label_t *ls = arena_alloc(&q->arena, (o.vs[k].nls + 1) * sizeof(label_t));
                size_t nl = 0;
                for (size_t a = 0; a < o.vs[k].nls; a++)
                    if (strcmp(o.vs[k].ls[a].name, qlabel) != 0) ls[nl++] = o.vs[k].ls[a];
                ls[nl++] = (label_t){qlabel, qb};
                labels_sort(ls, nl);
                size_t before = mo.n;
                size_t idx = outset_get(&mo, ls, nl, true);
                if (idx == before) mo.vs[idx].drop_name = true;
                if (!outset_set(&mo, idx, j, r)) {
                    free(o.slots);
                    free(o.hashes);
                    free(mo.slots);
                    free(mo.hashes);
                    q_fail(q, PROMQL_ERR_EXECUTION, "vector cannot contain metrics with the same labelset");
                }
            }
        }
    }
    if (multi) {
        outset_value(&o);
        return outset_value(&mo);
    }
    value_t r = outset_value(&o);
    /* drop groups without values */
    size_t k = 0;
    for (size_t i = 0; i < r.nvs; i++) {
        bool any = false;
        for (size_t j = 0; j < g->n && !any; j++)
            any = r.vs[i].has[j];
        if (any) r.vs[k++] = r.vs[i];
    }
    r.nvs = k;
    return r;
}

/* ---- dispatch ----------------------------------------------------------- */

static value_t time_vector(query_t *q, const grid_t *g) {
    value_t v = {.type = PROMQL_TYPE_VECTOR, .vs = vseries_new(q, 1, g->n), .nvs = 1};
    v.vs[0].ls = NULL;
    v.vs[0].nls = 0;
    v.vs[0].v = arena_alloc(&q->arena, g->n * sizeof(double));
    v.vs[0].has = arena_alloc(&q->arena, g->n);
    for (size_t j = 0; j < g->n; j++) {
        v.vs[0].v[j] = (double)grid_t_at(g, j) / 1000.0;
        v.vs[0].has[j] = 1;
    }
    return v;
}

value_t eval_call(query_t *q, const promql_expr_t *e, const grid_t *g) {
    enum promql_func_id id = e->func->id;
    for (size_t i = 0; i < e->nargs; i++)
        if (promql_expr_type(e->args[i]) == PROMQL_TYPE_MATRIX) return eval_range_func(q, e, g);
    switch (id) {
    case FN_TIME: {
        value_t r = {.type = PROMQL_TYPE_SCALAR, .sv = arena_alloc(&q->arena, (g->n + 1) * sizeof(double))};
        for (size_t j = 0; j < g->n; j++)
            r.sv[j] = (double)grid_t_at(g, j) / 1000.0;
        return r;
    }
    case FN_PI: {
        value_t r = {.type = PROMQL_TYPE_SCALAR, .sv = arena_alloc(&q->arena, (g->n + 1) * sizeof(double))};
        for (size_t j = 0; j < g->n; j++)
            r.sv[j] = M_PI;
        return r;
    }
    case FN_SCALAR: {
        value_t v = eval_expr(q, e->args[0], g);
        value_t r = {.type = PROMQL_TYPE_SCALAR, .sv = arena_alloc(&q->arena, (g->n + 1) * sizeof(double))};
        for (size_t j = 0; j < g->n; j++) {
            size_t cnt = 0;
            double val = NAN;
            for (size_t i = 0; i < v.nvs; i++)
                if (v.vs[i].has[j]) {
                    cnt++;
                    val = v.vs[i].v[j];
                }
            r.sv[j] = cnt == 1 ? val : NAN;
        }
        return r;
    }
    case FN_VECTOR: {
        value_t s = eval_expr(q, e->args[0], g);
        value_t v = time_vector(q, g);
        memcpy(v.vs[0].v, s.sv, g->n * sizeof(double));
        return v;
    }
    case FN_ABSENT: {
        value_t v = eval_expr(q, e->args[0], g);
        value_t out = {.type = PROMQL_TYPE_VECTOR, .vs = vseries_new(q, 1, g->n), .nvs = 1};
        vseries_t *o = &out.vs[0];
        o->v = arena_alloc(&q->arena, g->n * sizeof(double));
        o->has = arena_calloc(&q->arena, g->n);
        for (size_t j = 0; j < g->n; j++) {
            bool any = false;
            for (size_t i = 0; i < v.nvs && !any; i++)
                any = v.vs[i].has[j];
            if (!any) o->v[j] = 1, o->has[j] = 1;
        }
        const promql_expr_t *sel = unparen(e->args[0]);
        size_t k = 0;
        label_t *ls = arena_alloc(
            &q->arena, (sel->kind == PROMQL_VECTOR_SELECTOR ? sel->nmatchers : 0) * sizeof(label_t) + sizeof(label_t));
        if (sel->kind == PROMQL_VECTOR_SELECTOR) {
            for (size_t a = 0; a < sel->nmatchers; a++) {
                const matcher_t *mt = &sel->matchers[a];
                if (mt->type != MATCH_EQUAL || strcmp(mt->name, LABEL_METRIC_NAME) == 0) continue;
                bool dup = false;
                for (size_t b = 0; b < sel->nmatchers; b++)
                    if (b != a && strcmp(sel->matchers[b].name, mt->name) == 0) dup = true;
                if (dup) continue;
                ls[k++] = (label_t){arena_strdup(&q->arena, mt->name), arena_strdup(&q->arena, mt->value)};
            }
        }
        labels_sort(ls, k);
        o->ls = ls;
        o->nls = (uint32_t)k;
        return out;
    }
    case FN_TIMESTAMP: {
        const promql_expr_t *a = unparen(e->args[0]);
        value_t v;
        if (a->kind == PROMQL_VECTOR_SELECTOR) {
            v = eval_vector_selector_ts(q, a, g);
        } else {
            v = eval_expr(q, e->args[0], g);
            for (size_t i = 0; i < v.nvs; i++)
                for (size_t j = 0; j < g->n; j++)
                    v.vs[i].v[j] = (double)grid_t_at(g, j) / 1000.0;
        }
        for (size_t i = 0; i < v.nvs; i++)
            v.vs[i].drop_name = true;
        return v;
    }
    case FN_LABEL_REPLACE: return label_replace(q, e, eval_expr(q, e->args[0], g), g);
    case FN_LABEL_JOIN: return label_join(q, e, eval_expr(q, e->args[0], g));
    case FN_SORT:
    case FN_SORT_DESC:
    case FN_SORT_BY_LABEL:
    case FN_SORT_BY_LABEL_DESC: {
        value_t v = eval_expr(q, e->args[0], g);
        if (g->n > 1) {
            if (q->query_start != q->query_end)
                q_warn(q, e->pos_start,
                       "sort is ineffective for range queries since results are always ordered by labels");
            return v;
        }
        sort_ctx_t sc = {e, id};
        g_sort = &sc;
        stable_sort(q, v.vs, v.nvs, (id == FN_SORT || id == FN_SORT_DESC) ? cmp_by_value : cmp_by_label);
        g_sort = NULL;
        return v;
    }
    case FN_HISTOGRAM_QUANTILE:
    case FN_HISTOGRAM_QUANTILES:
    case FN_HISTOGRAM_FRACTION: return histogram_fn(q, e, g);
    case FN_STEP:
    case FN_RANGE:
    case FN_START:
    case FN_END: {
        double c = id == FN_STEP    ? (double)q->query_step / 1000.0
                   : id == FN_RANGE ? (double)(q->query_end - q->query_start) / 1000.0
                   : id == FN_START ? (double)q->query_start / 1000.0
                                    : (double)q->query_end / 1000.0;
        value_t r = {.type = PROMQL_TYPE_SCALAR, .sv = arena_alloc(&q->arena, (g->n + 1) * sizeof(double))};
        for (size_t j = 0; j < g->n; j++)
            r.sv[j] = c;
        return r;
    }
    case FN_MIN_OF:
    case FN_MAX_OF: {
        value_t a = eval_expr(q, e->args[0], g), b = eval_expr(q, e->args[1], g);
        for (size_t j = 0; j < g->n; j++)
            a.sv[j] = id == FN_MIN_OF ? go_min(a.sv[j], b.sv[j]) : go_max(a.sv[j], b.sv[j]);
        return a;
    }
    case FN_HISTOGRAM_COUNT:
    case FN_HISTOGRAM_SUM:
    case FN_HISTOGRAM_AVG:
    case FN_HISTOGRAM_STDDEV:
    case FN_HISTOGRAM_STDVAR: {
        (void)eval_expr(q, e->args[0], g);
        value_t r = {.type = PROMQL_TYPE_VECTOR}; /* native histograms only */
        return r;
    }
    default: break;
    }
    /* element-wise math, with optional scalar arguments */
    value_t v;
    if (is_date_fn(id) && e->nargs == 0)
        v = time_vector(q, g);
    else
        v = eval_expr(q, e->args[0], g);
    const double *a1 = NULL, *a2 = NULL;
    if (e->nargs > 1) a1 = eval_expr(q, e->args[1], g).sv;
    if (e->nargs > 2) a2 = eval_expr(q, e->args[2], g).sv;
    if (id == FN_ROUND && e->nargs == 1) {
        double *ones = arena_alloc(&q->arena, (g->n + 1) * sizeof(double));
        for (size_t j = 0; j < g->n; j++)
            ones[j] = 1;
        a1 = ones;
    }
    return map_values(q, e, v, g, a1, a2);
}
