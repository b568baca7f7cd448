/* memstore.c — in-memory queryable for tests. See memstore.h. */
#include "promql/memstore.h"

#include <stdlib.h>
#include <string.h>

typedef struct mem_series {
    label_t *ls;
    size_t nls;
    sample_t *s;
    size_t ns, cap;
    int64_t *hist_ts; /* times of native histogram samples (their values are not kept) */
    size_t nhist;
} mem_series_t;

struct memstore {
    mem_series_t *series;
    size_t n, cap;
    bool sorted;
    size_t hist_reads; /* selected series with a histogram time in the selected range */
};

memstore_t *memstore_new(void) { return calloc(1, sizeof(memstore_t)); }

void memstore_reset(memstore_t *m) {
    for (size_t i = 0; i < m->n; i++) {
        for (size_t j = 0; j < m->series[i].nls; j++) {
            free((char *)m->series[i].ls[j].name);
            free((char *)m->series[i].ls[j].value);
        }
        free(m->series[i].ls);
        free(m->series[i].s);
        free(m->series[i].hist_ts);
    }
    free(m->series);
    m->series = NULL;
    m->n = m->cap = 0;
    m->hist_reads = 0;
}

void memstore_free(memstore_t *m) {
    if (!m) return;
    memstore_reset(m);
    free(m);
}

static int cmp_series(const void *a, const void *b) {
    const mem_series_t *x = a, *y = b;
    return labels_compare(x->ls, x->nls, y->ls, y->nls);
}

/* The series ls (any label order), created empty when new; NULL when out of memory. */
static mem_series_t *get_series(memstore_t *m, const label_t *ls, size_t n) {
    label_t *sorted = malloc((n ? n : 1) * sizeof *sorted);
    if (!sorted) return NULL;
    memcpy(sorted, ls, n * sizeof *sorted);
    labels_sort(sorted, n);
    mem_series_t *ser = NULL;
    for (size_t i = 0; i < m->n && !ser; i++)
        if (labels_equal(m->series[i].ls, m->series[i].nls, sorted, n)) ser = &m->series[i];
    if (!ser) {
        if (m->n == m->cap) {
            size_t nc = m->cap ? m->cap * 2 : 16;
            mem_series_t *nsr = realloc(m->series, nc * sizeof *nsr);
            if (!nsr) {
                free(sorted);
                return NULL;
            }
            m->series = nsr;
            m->cap = nc;
        }
        label_t *copy = malloc((n ? n : 1) * sizeof *copy);
        if (!copy) {
            free(sorted);
            return NULL;
        }
        ser = &m->series[m->n++];
        memset(ser, 0, sizeof *ser);
        ser->ls = copy;
        for (size_t i = 0; i < n; i++) {
            ser->ls[i].name = strdup(sorted[i].name);
            ser->ls[i].value = strdup(sorted[i].value);
        }
        ser->nls = n;
        m->sorted = false;
    }
    free(sorted);
    return ser;
}

int memstore_append(memstore_t *m, const label_t *ls, size_t n, const sample_t *s, size_t ns, pl_err_t *err) {
    mem_series_t *ser = get_series(m, ls, n);
    if (!ser) return pl_err_set(err, "out of memory");
    if (ser->ns + ns > ser->cap) {
        size_t nc = (ser->ns + ns) * 2;
        sample_t *nsm = realloc(ser->s, nc * sizeof *nsm);
        if (!nsm) return pl_err_set(err, "out of memory");
        ser->s = nsm;
        ser->cap = nc;
    }
    for (size_t i = 0; i < ns; i++) {
        if (ser->ns && s[i].t <= ser->s[ser->ns - 1].t) {
            if (s[i].t == ser->s[ser->ns - 1].t) ser->s[ser->ns - 1] = s[i];
            continue;
        }
        ser->s[ser->ns++] = s[i];
    }
    return 0;
}

int memstore_mark_histograms(memstore_t *m, const label_t *ls, size_t n, const int64_t *ts, size_t nts,
                             pl_err_t *err) {
    mem_series_t *ser = get_series(m, ls, n);
    if (!ser) return pl_err_set(err, "out of memory");
    int64_t *h = realloc(ser->hist_ts, (ser->nhist + nts + 1) * sizeof *h);
    if (!h) return pl_err_set(err, "out of memory");
    ser->hist_ts = h;
    memcpy(h + ser->nhist, ts, nts * sizeof *ts);
    ser->nhist += nts;
    return 0;
}

size_t memstore_histograms_read(memstore_t *m) {
    size_t n = m->hist_reads;
    m->hist_reads = 0;
    return n;
}

static int q_select(void *impl, const matcher_t *ms, size_t nms, int64_t mint, int64_t maxt, storage_series_fn fn,
                    void *ctx, pl_err_t *err) {
    (void)err;
    memstore_t *m = impl;
    if (!m->sorted && m->n > 0) {
        qsort(m->series, m->n, sizeof *m->series, cmp_series);
        m->sorted = true;
    }
    for (size_t i = 0; i < m->n; i++) {
        mem_series_t *s = &m->series[i];
        bool ok = true;
        for (size_t k = 0; k < nms && ok; k++) {
            const char *v = labels_get(s->ls, s->nls, ms[k].name);
            ok = matcher_matches(&ms[k], v ? v : "");
        }
        if (!ok) continue;
        for (size_t k = 0; k < s->nhist; k++)
            if (s->hist_ts[k] >= mint && s->hist_ts[k] <= maxt) {
                m->hist_reads++;
                break;
            }
        size_t lo = 0;
        while (lo < s->ns && s->s[lo].t < mint)
            lo++;
        size_t hi = lo;
        while (hi < s->ns && s->s[hi].t <= maxt)
            hi++;
        if (hi == lo) continue;
        int rc = fn(ctx, s->ls, s->nls, s->s + lo, hi - lo);
        if (rc) return rc;
    }
    return 0;
}

static int cmp_cstr(const void *a, const void *b) { return strcmp(*(const char *const *)a, *(const char *const *)b); }

/* Sorted, de-duplicated strings: the label names, or the values of one name. */
static int emit_strings(memstore_t *m, const char *name, storage_string_fn fn, void *ctx) {
    const char **v = NULL;
    size_t n = 0, cap = 0;
    for (size_t i = 0; i < m->n; i++)
        for (size_t j = 0; j < m->series[i].nls; j++) {
            const label_t *l = &m->series[i].ls[j];
            if (name && strcmp(l->name, name) != 0) continue;
            if (n == cap) {
                cap = cap ? cap * 2 : 64;
                const char **nv = realloc(v, cap * sizeof *nv);
                if (!nv) {
                    free(v);
                    return -1;
                }
                v = nv;
            }
            v[n++] = name ? l->value : l->name;
        }
    qsort(v, n, sizeof *v, cmp_cstr);
    int rc = 0;
    for (size_t i = 0; i < n && !rc; i++)
        if (i == 0 || strcmp(v[i], v[i - 1]) != 0) rc = fn(ctx, v[i]);
    free(v);
    return rc;
}

static int q_label_names(void *impl, storage_string_fn fn, void *ctx, pl_err_t *err) {
    (void)err;
    return emit_strings(impl, NULL, fn, ctx);
}

static int q_label_values(void *impl, const char *name, storage_string_fn fn, void *ctx, pl_err_t *err) {
    (void)err;
    return emit_strings(impl, name, fn, ctx);
}

void memstore_queryable(memstore_t *m, queryable_t *q) {
    q->impl = m;
    q->select = q_select;
    q->label_names = q_label_names;
    q->label_values = q_label_values;
    q->select_hinted = NULL; /* every select is sorted, with all samples */
}

/* ---- the appendable: stages samples, appends them to the store on commit ---- */
typedef struct mem_app {
    memstore_t *store;
    label_t **ls;
    size_t *n;
    sample_t *s;
    storage_append_status_t *st;
    size_t count, cap;
} mem_app_t;

static int mem_add(void *impl, const label_t *ls, size_t n, int64_t t, double v) {
    mem_app_t *a = impl;
    if (a->count == a->cap) {
        a->cap = a->cap ? a->cap * 2 : 16;
        a->ls = realloc(a->ls, a->cap * sizeof *a->ls);
        a->n = realloc(a->n, a->cap * sizeof *a->n);
        a->s = realloc(a->s, a->cap * sizeof *a->s);
        a->st = realloc(a->st, a->cap * sizeof *a->st);
        if (!a->ls || !a->n || !a->s || !a->st) abort();
    }
    label_t *c = calloc(n + 1, sizeof *c);
    if (!c) abort();
    for (size_t i = 0; i < n; i++) {
        c[i].name = strdup(ls[i].name);
        c[i].value = strdup(ls[i].value);
    }
    a->ls[a->count] = c;
    a->n[a->count] = n;
    a->s[a->count] = (sample_t){t, v};
    a->count++;
    return 0;
}

static int mem_add_ref(void *impl, series_ref_t ref, int64_t t, double v) {
    (void)impl, (void)ref, (void)t, (void)v;
    return -1;
}

static void mem_rollback(void *impl) {
    mem_app_t *a = impl;
    for (size_t i = 0; i < a->count; i++) {
        for (size_t j = 0; j < a->n[i]; j++) {
            free((char *)a->ls[i][j].name);
            free((char *)a->ls[i][j].value);
        }
        free(a->ls[i]);
    }
    a->count = 0;
}

static int mem_commit(void *impl, const storage_append_status_t **status, pl_err_t *err) {
    mem_app_t *a = impl;
    for (size_t i = 0; i < a->count; i++) {
        pl_err_t e;
        int rc = memstore_append(a->store, a->ls[i], a->n[i], &a->s[i], 1, &e);
        a->st[i] = (storage_append_status_t){1, rc == 0 ? STORAGE_OK : STORAGE_ERR_OUT_OF_ORDER};
    }
    if (status) *status = a->st;
    (void)err;
    mem_rollback(a);
    return 0;
}

static void mem_free(void *impl) {
    mem_app_t *a = impl;
    mem_rollback(a);
    free(a->ls);
    free(a->n);
    free(a->s);
    free(a->st);
    free(a);
}

static int mem_appender(void *impl, appender_t *out) {
    mem_app_t *a = calloc(1, sizeof *a);
    if (!a) return -1;
    a->store = impl;
    *out = (appender_t){a, mem_add, mem_add_ref, mem_commit, mem_rollback, mem_free};
    return 0;
}

void memstore_appendable(memstore_t *m, appendable_t *out) {
    out->impl = m;
    out->appender = mem_appender;
}
