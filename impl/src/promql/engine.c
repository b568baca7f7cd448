/* engine.c — query entry points, the arena, selectors, subqueries and
 * results. Operators live in eval_ops.c, functions in eval_funcs.c. See
 * engine.h for the evaluation model. */
#include "promql/engine.h"

#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "promql/engine_internal.h"
#include "promql/functions.h"
#include "util/timeutil.h"

/* ---- arena -------------------------------------------------------------- */

/* Freed blocks of the standard sizes (64 KiB << k, k < POOL_CLASSES) are kept
 * for the next queries, up to POOL_MAX_BYTES in all: big blocks are mmap'd
 * fresh by malloc, and touching new pages costs more at a million series
 * than the evaluation itself. Shared by all engines, under a mutex. */
#define POOL_CLASSES 9
#define POOL_MAX_BYTES ((size_t)256 << 20)
static pthread_mutex_t pool_mu = PTHREAD_MUTEX_INITIALIZER;
static arena_block_t *pool[POOL_CLASSES];
static size_t pool_bytes;
static int pool_engines; /* engines alive: the pool is emptied when the last goes */

static void pool_engine_ref(int delta) {
    pthread_mutex_lock(&pool_mu);
    pool_engines += delta;
    if (pool_engines == 0)
        for (int k = 0; k < POOL_CLASSES; k++)
            while (pool[k]) {
                arena_block_t *b = pool[k];
                pool[k] = b->next;
                free(b);
            }
    if (pool_engines == 0) pool_bytes = 0;
    pthread_mutex_unlock(&pool_mu);
}

static int pool_class(size_t cap) {
    for (int k = 0; k < POOL_CLASSES; k++)
        if (cap == ((size_t)65536 << k)) return k;
    return -1;
}

static arena_block_t *block_new(size_t cap) {
    int k = pool_class(cap);
    if (k >= 0) {
        pthread_mutex_lock(&pool_mu);
        arena_block_t *b = pool[k];
        if (b) {
            pool[k] = b->next;
            pool_bytes -= cap;
        }
        pthread_mutex_unlock(&pool_mu);
        if (b) return b;
    }
    arena_block_t *b = malloc(sizeof *b + cap);
    if (!b) abort();
    return b;
}

static void block_free(arena_block_t *b) {
    int k = pool_class(b->cap);
    if (k >= 0) {
        pthread_mutex_lock(&pool_mu);
        if (pool_engines > 0 && pool_bytes + b->cap <= POOL_MAX_BYTES) {
            b->next = pool[k];
            pool[k] = b;
            pool_bytes += b->cap;
            b = NULL;
        }
        pthread_mutex_unlock(&pool_mu);
    }
    free(b);
}

void *arena_alloc(arena_t *a, size_t n) {
    n = (n + 15) & ~(size_t)15;
    arena_block_t *b = a->head;
    if (!b || b->cap - b->used < n) {
        size_t cap = n > 65536 ? n : 65536;
        if (b && b->cap * 2 > cap && b->cap < (1u << 24)) cap = b->cap * 2 > n ? b->cap * 2 : cap;
        b = block_new(cap);
        b->cap = cap;
        b->used = 0;
        b->next = a->head;
        a->head = b;
    }
    void *p = b->data + b->used;
    b->used += n;
    return p;
}

void *arena_calloc(arena_t *a, size_t n) {
    void *p = arena_alloc(a, n);
    memset(p, 0, n);
    return p;
}

char *arena_strdup(arena_t *a, const char *s) {
    size_t n = strlen(s) + 1;
    char *d = arena_alloc(a, n);
    memcpy(d, s, n);
    return d;
}

void arena_free(arena_t *a) {
    arena_block_t *b = a->head;
    while (b) {
        arena_block_t *n = b->next;
        block_free(b);
        b = n;
    }
    a->head = NULL;
}

/* ---- errors, limits, annotations --------------------------------------- */

void q_fail(query_t *q, enum promql_errtype t, const char *fmt, ...) {
    q->err->type = t;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(q->err->msg, sizeof q->err->msg, fmt, ap);
    va_end(ap);
    longjmp(q->jb, 1);
}

void q_check(query_t *q) {
    if ((++q->poll & 63) != 0) return;
    if (q->deadline_ns && pl_monotonic_ns() > q->deadline_ns)
        q_fail(q, PROMQL_ERR_TIMEOUT, "query timed out in expression evaluation");
    if (q->eng->opts.canceled && q->eng->opts.canceled(q->eng->opts.cancel_ctx))
        q_fail(q, PROMQL_ERR_CANCELED, "query was canceled in expression evaluation");
}

int q_poll_cb(query_t *q) {
    if ((++q->poll & 63) != 0) return 0;
    if (q->deadline_ns && pl_monotonic_ns() > q->deadline_ns) {
        q->err->type = PROMQL_ERR_TIMEOUT;
        snprintf(q->err->msg, sizeof q->err->msg, "%s", "query timed out in expression evaluation");
        return -1;
    }
    if (q->eng->opts.canceled && q->eng->opts.canceled(q->eng->opts.cancel_ctx)) {
        q->err->type = PROMQL_ERR_CANCELED;
        snprintf(q->err->msg, sizeof q->err->msg, "%s", "query was canceled in expression evaluation");
        return -1;
    }
    return 0;
}

/* For storage callbacks: never longjmp across storage code (it would leak
 * its buffers); record the error and stop the iteration instead. */
static int q_add_samples_cb(query_t *q, size_t n) {
    q->cur_samples += n;
    if (q->max_samples && q->cur_samples > q->max_samples) {
        q->err->type = PROMQL_ERR_EXECUTION;
        snprintf(q->err->msg, sizeof q->err->msg, "%s",
                 "query processing would load too many samples into memory in query execution");
        return -1;
    }
    return 0;
}

void q_add_samples(query_t *q, size_t n) {
    q->cur_samples += n;
    if (q->max_samples && q->cur_samples > q->max_samples)
        q_fail(q, PROMQL_ERR_EXECUTION, "query processing would load too many samples into memory in query execution");
}

static void annot_add(query_t *q, annots_t *a, int pos, const char *prefix, const char *fmt, va_list ap) {
    char buf[1024];
    int n = snprintf(buf, sizeof buf, "%s", prefix);
    vsnprintf(buf + n, sizeof buf - (size_t)n, fmt, ap);
    for (size_t i = 0; i < a->n; i++)
        if (strcmp(a->items[i], buf) == 0) return;
    if (a->n == a->cap) {
        size_t nc = a->cap ? a->cap * 2 : 8;
        const char **ni = arena_alloc(&q->arena, nc * sizeof *ni);
        int *np = arena_alloc(&q->arena, nc * sizeof *np);
        if (a->n) {
            memcpy(ni, a->items, a->n * sizeof *ni);
            memcpy(np, a->pos, a->n * sizeof *np);
        }
        a->items = ni;
        a->pos = np;
        a->cap = nc;
    }
    a->pos[a->n] = pos;
    a->items[a->n++] = arena_strdup(&q->arena, buf);
}

void q_warn(query_t *q, int pos, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    annot_add(q, &q->warnings, pos, "PromQL warning: ", fmt, ap);
    va_end(ap);
}

void q_info(query_t *q, int pos, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    annot_add(q, &q->infos, pos, "PromQL info: ", fmt, ap);
    va_end(ap);
}

void promql_annotation_format(strbuf_t *sb, const char *query, const char *text, int pos) {
    strbuf_puts(sb, text);
    if (!query || !*query || pos < 0) return;
    if ((size_t)pos > strlen(query)) {
        strbuf_puts(sb, " (invalid position)");
        return;
    }
    int line = 1, last_nl = -1;
    for (int i = 0; i < pos; i++)
        if (query[i] == '\n') {
            line++;
            last_nl = i;
        }
    strbuf_printf(sb, " (%d:%d)", line, pos - last_nl);
}

/* ---- labels ------------------------------------------------------------- */

/* One allocation per label set: the array, then the strings. */
label_t *labels_copy_arena(query_t *q, const label_t *ls, size_t n) {
    size_t bytes = (n ? n : 1) * sizeof(label_t);
    size_t lens[64];
    for (size_t i = 0; i < n; i++) {
        size_t a = strlen(ls[i].name) + 1, b = strlen(ls[i].value) + 1;
        if (i < 32) lens[2 * i] = a, lens[2 * i + 1] = b;
        bytes += a + b;
    }
    label_t *out = arena_alloc(&q->arena, bytes);
    char *p = (char *)(out + (n ? n : 1));
    for (size_t i = 0; i < n; i++) {
        size_t a = i < 32 ? lens[2 * i] : strlen(ls[i].name) + 1;
        size_t b = i < 32 ? lens[2 * i + 1] : strlen(ls[i].value) + 1;
        memcpy(p, ls[i].name, a);
        out[i].name = p;
        p += a;
        memcpy(p, ls[i].value, b);
        out[i].value = p;
        p += b;
    }
    return out;
}

label_t *labels_without_name(query_t *q, const label_t *ls, size_t n, uint32_t *nout) {
    label_t *out = arena_alloc(&q->arena, (n ? n : 1) * sizeof *out);
    uint32_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (strcmp(ls[i].name, LABEL_METRIC_NAME) != 0) out[k++] = ls[i];
    *nout = k;
    return out;
}

const char *labels_metric_name(const label_t *ls, size_t n) {
    const char *v = labels_get(ls, n, LABEL_METRIC_NAME);
    return v ? v : "";
}

vseries_t *vseries_new(query_t *q, size_t n, size_t nsteps) {
    vseries_t *vs = arena_calloc(&q->arena, (n ? n : 1) * sizeof *vs);
    (void)nsteps;
    return vs;
}

/* ---- output builder ----------------------------------------------------- */

void outset_init(outset_t *o, query_t *q, size_t nsteps) {
    memset(o, 0, sizeof *o);
    o->q = q;
    o->nsteps = nsteps;
}

static void outset_rehash(outset_t *o) {
    size_t ns = o->nslots ? o->nslots * 2 : 64;
    uint32_t *slots = calloc(ns, sizeof *slots);
    if (!slots) abort();
    for (size_t i = 0; i < o->n; i++) {
        size_t h = (size_t)o->hashes[i] & (ns - 1);
        while (slots[h])
            h = (h + 1) & (ns - 1);
        slots[h] = (uint32_t)i + 1;
    }
    free(o->slots);
    o->slots = slots;
    o->nslots = ns;
}

size_t outset_get(outset_t *o, const label_t *ls, size_t n, bool copy) {
    uint64_t hv = labels_hash(ls, n);
    if (o->nslots) {
        size_t h = (size_t)hv & (o->nslots - 1);
        while (o->slots[h]) {
            size_t i = o->slots[h] - 1;
            if (o->hashes[i] == hv && labels_equal(o->vs[i].ls, o->vs[i].nls, ls, n)) return i;
            h = (h + 1) & (o->nslots - 1);
        }
    }
    if (o->n == o->cap) {
        size_t nc = o->cap ? o->cap * 2 : 16;
        vseries_t *nv = arena_alloc(&o->q->arena, nc * sizeof *nv);
        if (o->n) memcpy(nv, o->vs, o->n * sizeof *nv);
        uint64_t *nh = realloc(o->hashes, nc * sizeof *nh);
        if (!nh) abort();
        o->vs = nv;
        o->hashes = nh;
        o->cap = nc;
    }
    size_t i = o->n++;
    vseries_t *s = &o->vs[i];
    memset(s, 0, sizeof *s);
    s->ls = copy ? labels_copy_arena(o->q, ls, n) : (label_t *)ls;
    s->nls = (uint32_t)n;
    s->v = arena_alloc(&o->q->arena, o->nsteps * sizeof(double));
    s->has = arena_calloc(&o->q->arena, o->nsteps);
    o->hashes[i] = hv;
    if (o->n * 2 > o->nslots)
        outset_rehash(o);
    else {
        size_t h = (size_t)hv & (o->nslots - 1);
        while (o->slots[h])
            h = (h + 1) & (o->nslots - 1);
        o->slots[h] = (uint32_t)i + 1;
    }
    return i;
}

bool outset_set(outset_t *o, size_t idx, size_t step, double v) {
    vseries_t *s = &o->vs[idx];
    if (s->has[step]) return false;
    s->has[step] = 1;
    s->v[step] = v;
    return true;
}

value_t outset_value(outset_t *o) {
    value_t r = {.type = PROMQL_TYPE_VECTOR, .vs = o->vs, .nvs = o->n};
    free(o->slots);
    free(o->hashes);
    o->slots = NULL;
    o->hashes = NULL;
    return r;
}

/* ---- selectors ---------------------------------------------------------- */

static int64_t at_time(query_t *q, const promql_expr_t *sel, int64_t t) {
    switch (sel->at) {
    case PROMQL_AT_TIMESTAMP: return sel->at_ms;
    case PROMQL_AT_START: return q->query_start;
    case PROMQL_AT_END: return q->query_end;
    default: return t;
    }
}

typedef struct vsel_ctx {
    query_t *q;
    const grid_t *g;
    const int64_t *T; /* per step evaluation time (after @ and offset) */
    bool ts_mode;     /* values are the samples' timestamps in seconds */
    vseries_t *out;
    size_t n, cap;
    bool proj; /* keep only the labels named in proj_names (query_t.proj_sel) */
    char *const *proj_names;
    size_t proj_n;
} vsel_ctx_t;

static int vsel_series(void *ctx, const label_t *ls, size_t nls, const sample_t *s, size_t ns) {
    vsel_ctx_t *c = ctx;
    query_t *q = c->q;
    size_t nsteps = c->g->n;
    double *v = NULL;
    uint8_t *has = NULL;
    size_t j = 0; /* first sample with t > T */
    size_t points = 0;
    for (size_t i = 0; i < nsteps; i++) {
        int64_t T = c->T[i];
        while (j < ns && s[j].t <= T)
            j++;
        if (j == 0) continue;
        const sample_t *last = &s[j - 1];
        if (last->t <= T - q->lookback_ms || pl_is_stale_nan(last->v)) continue;
        if (!v) {
            v = arena_alloc(&q->arena, nsteps * sizeof *v);
            has = arena_calloc(&q->arena, nsteps);
        }
        v[i] = c->ts_mode ? (double)last->t / 1000.0 : last->v;
        has[i] = 1;
        points++;
    }
    if (!v) return 0;
    q->queryable_samples += points;
    if (q_add_samples_cb(q, points) < 0) return -1;
    if (c->n == c->cap) {
        size_t nc = c->cap ? c->cap * 2 : 64;
        vseries_t *no = arena_alloc(&q->arena, nc * sizeof *no);
        if (c->n) memcpy(no, c->out, c->n * sizeof *no);
        c->out = no;
        c->cap = nc;
    }
    vseries_t *o = &c->out[c->n++];
    if (c->proj) {
        label_t kept[64];
        size_t k = 0;
        for (size_t i = 0; i < nls && k < 64; i++)
            for (size_t p = 0; p < c->proj_n; p++)
                if (strcmp(ls[i].name, c->proj_names[p]) == 0) {
                    kept[k++] = ls[i];
                    break;
                }
        o->ls = labels_copy_arena(q, kept, k);
        o->nls = (uint32_t)k;
    } else {
        o->ls = labels_copy_arena(q, ls, nls);
        o->nls = (uint32_t)nls;
    }
    o->drop_name = false;
    o->v = v;
    o->has = has;
    return 0;
}

static void select_or_fail(query_t *q, const promql_expr_t *sel, int64_t mint, int64_t maxt,
                           const storage_select_hints_t *hints, storage_series_fn fn, void *ctx) {
    pl_err_t err = {{0}};
    int64_t t0 = pl_monotonic_ns();
    int rc = hints && q->qb->select_hinted
                 ? q->qb->select_hinted(q->qb->impl, sel->matchers, sel->nmatchers, mint, maxt, hints, fn, ctx, &err)
                 : q->qb->select(q->qb->impl, sel->matchers, sel->nmatchers, mint, maxt, fn, ctx, &err);
    q->select_ns += pl_monotonic_ns() - t0;
    if (rc != 0) {
        if (q->err->type != PROMQL_ERR_NONE) longjmp(q->jb, 1);
        q_fail(q, PROMQL_ERR_EXECUTION, "%s", err.msg[0] ? err.msg : "select failed");
    }
}

/* Evaluation times of a selector or subquery at every step. */
static int64_t *eval_times(query_t *q, const promql_expr_t *node, const grid_t *g, int64_t *tmin, int64_t *tmax) {
    int64_t *T = arena_alloc(&q->arena, (g->n ? g->n : 1) * sizeof *T);
    *tmin = INT64_MAX;
    *tmax = INT64_MIN;
    for (size_t i = 0; i < g->n; i++) {
        T[i] = at_time(q, node, grid_t_at(g, i)) - node->offset_ms;
        if (T[i] < *tmin) *tmin = T[i];
        if (T[i] > *tmax) *tmax = T[i];
    }
    return T;
}

static value_t eval_vector_selector(query_t *q, const promql_expr_t *e, const grid_t *g, bool ts_mode) {
    int64_t tmin, tmax;
    vsel_ctx_t c = {.q = q, .g = g, .ts_mode = ts_mode};
    value_t r = {.type = PROMQL_TYPE_VECTOR};
    if (g->n == 0) return r;
    c.T = eval_times(q, e, g, &tmin, &tmax);
    /* One evaluation time: only each series' newest sample in the lookback
     * window matters. */
    storage_select_hints_t hints = {.last_only = tmin == tmax};
    if (q->proj_sel == e) {
        c.proj = true;
        c.proj_names = q->proj_names;
        c.proj_n = q->proj_n;
        hints.unsorted = q->proj_unsorted;
    }
    select_or_fail(q, e, tmin - q->lookback_ms + 1, tmax, hints.last_only || hints.unsorted ? &hints : NULL,
                   vsel_series, &c);
    r.vs = c.out;
    r.nvs = c.n;
    return r;
}


/* ---- count and group over a selector, streamed --------------------------
 *
 * `count by (l...) (selector)` and `group by (l...) (selector)` need of each
 * series only its grouping labels and the steps at which it has a value, not
 * its value: at a million series, keeping a vseries per series (labels
 * copied, a value array each) cost more than reading storage. Here each
 * series is counted into its group as storage passes it, in any order, and
 * storage is asked for the grouping labels only. Groups are keyed by the
 * hash of their labels, as eval_aggregate keys them, and come out sorted by
 * label set, as eval_aggregate sorts the groups of unsorted input; samples
 * are counted against the limits exactly as eval_vector_selector counts
 * them. */

typedef struct count_group {
    label_t *ls;
    uint32_t nls;
    uint64_t hash;
    uint32_t *n; /* series with a value, per step */
} count_group_t;

typedef struct count_ctx {
    query_t *q;
    const grid_t *g;
    const int64_t *T;
    char *const *by;
    size_t nby;
    count_group_t *groups;
    size_t ngroups, cap;
    uint32_t *slots; /* index + 1; open addressing on the hash */
    size_t nslots;
    uint32_t *hit; /* scratch: the steps of the current series */
    bool oom;
} count_ctx_t;

static int count_rehash(count_ctx_t *c) {
    size_t ns = c->nslots ? c->nslots * 2 : 64;
    uint32_t *slots = calloc(ns, sizeof *slots);
    if (!slots) return -1;
    for (size_t i = 0; i < c->ngroups; i++) {
        size_t h = (size_t)c->groups[i].hash & (ns - 1);
        while (slots[h])
            h = (h + 1) & (ns - 1);
        slots[h] = (uint32_t)i + 1;
    }
    free(c->slots);
    c->slots = slots;
    c->nslots = ns;
    return 0;
}

static int count_series(void *ctx, const label_t *ls, size_t nls, const sample_t *s, size_t ns) {
    count_ctx_t *c = ctx;
    query_t *q = c->q;
    size_t j = 0, points = 0; /* j: first sample with t > T */
    for (size_t i = 0; i < c->g->n; i++) {
        int64_t T = c->T[i];
        while (j < ns && s[j].t <= T)
            j++;
        if (j == 0) continue;
        const sample_t *last = &s[j - 1];
        if (last->t <= T - q->lookback_ms || pl_is_stale_nan(last->v)) continue;
        c->hit[points++] = (uint32_t)i;
    }
    if (!points) return 0;
    q->queryable_samples += points;
    if (q_add_samples_cb(q, points) < 0) return -1;
    label_t kept[64];
    size_t k = 0;
    for (size_t i = 0; i < nls && k < 64; i++)
        for (size_t p = 0; p < c->nby; p++)
            if (strcmp(ls[i].name, c->by[p]) == 0) {
                kept[k++] = ls[i];
                break;
            }
    uint64_t hv = labels_hash(kept, k);
    count_group_t *gr = NULL;
    size_t h = c->nslots ? (size_t)hv & (c->nslots - 1) : 0;
    if (c->nslots)
        for (; c->slots[h]; h = (h + 1) & (c->nslots - 1))
            if (c->groups[c->slots[h] - 1].hash == hv) {
                gr = &c->groups[c->slots[h] - 1];
                break;
            }
    if (!gr) {
        if (c->ngroups == c->cap) {
            size_t nc = c->cap ? c->cap * 2 : 16;
            count_group_t *ng = realloc(c->groups, nc * sizeof *ng);
            if (!ng) goto oom;
            c->groups = ng;
            c->cap = nc;
        }
        gr = &c->groups[c->ngroups++];
        gr->ls = labels_copy_arena(q, kept, k);
        gr->nls = (uint32_t)k;
        gr->hash = hv;
        gr->n = arena_calloc(&q->arena, c->g->n * sizeof *gr->n);
        if (c->ngroups * 2 > c->nslots) {
            if (count_rehash(c) != 0) goto oom;
        } else {
            c->slots[h] = (uint32_t)c->ngroups;
        }
    }
    for (size_t p = 0; p < points; p++)
        gr->n[c->hit[p]]++;
    return 0;
oom:
    c->oom = true;
    return -1;
}

static int cmp_count_groups(const void *a, const void *b) {
    const count_group_t *x = a, *y = b;
    return labels_compare(x->ls, x->nls, y->ls, y->nls);
}

value_t eval_count_selector(query_t *q, const promql_expr_t *sel, const grid_t *g, char *const *by, size_t nby,
                            bool group) {
    value_t r = {.type = PROMQL_TYPE_VECTOR};
    if (g->n == 0) return r;
    int64_t tmin, tmax;
    count_ctx_t c = {.q = q, .g = g, .by = by, .nby = nby};
    c.T = eval_times(q, sel, g, &tmin, &tmax);
    c.hit = arena_alloc(&q->arena, g->n * sizeof *c.hit);
    storage_select_hints_t hints = {.last_only = tmin == tmax, .unsorted = true, .labels = (const char *const *)by,
                                    .nlabels = nby, .only_labels = true};
    pl_err_t err = {{0}};
    int64_t t0 = pl_monotonic_ns();
    int rc = q->qb->select_hinted
                 ? q->qb->select_hinted(q->qb->impl, sel->matchers, sel->nmatchers, tmin - q->lookback_ms + 1, tmax,
                                        &hints, count_series, &c, &err)
                 : q->qb->select(q->qb->impl, sel->matchers, sel->nmatchers, tmin - q->lookback_ms + 1, tmax,
                                 count_series, &c, &err);
    q->select_ns += pl_monotonic_ns() - t0;
    free(c.slots);
    if (rc != 0) {
        free(c.groups);
        if (q->err->type != PROMQL_ERR_NONE) longjmp(q->jb, 1);
        q_fail(q, PROMQL_ERR_EXECUTION, "%s", c.oom ? "out of memory" : err.msg[0] ? err.msg : "select failed");
    }
    if (c.ngroups > 1) qsort(c.groups, c.ngroups, sizeof *c.groups, cmp_count_groups);
    r.vs = vseries_new(q, c.ngroups, g->n);
    r.nvs = c.ngroups;
    for (size_t k = 0; k < c.ngroups; k++) {
        vseries_t *o = &r.vs[k];
        o->ls = c.groups[k].ls;
        o->nls = c.groups[k].nls;
        o->drop_name = false;
        o->v = arena_alloc(&q->arena, g->n * sizeof(double));
        o->has = arena_calloc(&q->arena, g->n);
        for (size_t j = 0; j < g->n; j++)
            if (c.groups[k].n[j]) {
                o->v[j] = group ? 1 : (double)c.groups[k].n[j];
                o->has[j] = 1;
            }
    }
    free(c.groups);
    return r;
}

typedef struct msel_ctx {
    query_t *q;
    /* Streaming (eval_matrix_hooked): each series goes to hook, samples in
     * buf (reused), labels as storage passed them; nothing is kept. */
    matrix_hook_fn hook;
    void *hook_ctx;
    const matrix_t *m;
    sample_t *buf;
    size_t bufcap;
    bool oom;
    const int64_t *T; /* window ends per step, non-decreasing */
    size_t nT;
    int64_t range_ms;
    mseries_t *out;
    size_t n, cap;
} msel_ctx_t;

static int msel_series(void *ctx, const label_t *ls, size_t nls, const sample_t *s, size_t ns) {
    msel_ctx_t *c = ctx;
    query_t *q = c->q;
    sample_t *copy;
    if (c->hook) {
        if (ns > c->bufcap) {
            sample_t *nb = realloc(c->buf, ns * sizeof *nb);
            if (!nb) {
                c->oom = true;
                return -1;
            }
            c->buf = nb;
            c->bufcap = ns;
        }
        copy = c->buf;
    } else {
        copy = arena_alloc(&q->arena, (ns ? ns : 1) * sizeof *copy);
    }
    size_t k = 0;
    for (size_t i = 0; i < ns; i++)
        if (!pl_is_stale_nan(s[i].v)) copy[k++] = s[i];
    if (k == 0) return 0;
    /* Prometheus counts the samples of every step's window (t - range, t]. */
    size_t lo = 0, hi = 0;
    for (size_t i = 0; i < c->nT; i++) {
        while (hi < k && copy[hi].t <= c->T[i])
            hi++;
        while (lo < hi && copy[lo].t <= c->T[i] - c->range_ms)
            lo++;
        q->queryable_samples += hi - lo;
    }
    if (q_add_samples_cb(q, k) < 0) return -1;
    if (c->hook) {
        mseries_t tmp = {.ls = (label_t *)ls, .nls = (uint32_t)nls, .drop_name = false, .s = copy, .ns = k};
        return c->hook(c->hook_ctx, c->m, &tmp);
    }
    if (c->n == c->cap) {
        size_t nc = c->cap ? c->cap * 2 : 64;
        mseries_t *no = arena_alloc(&q->arena, nc * sizeof *no);
        if (c->n) memcpy(no, c->out, c->n * sizeof *no);
        c->out = no;
        c->cap = nc;
    }
    mseries_t *o = &c->out[c->n++];
    o->ls = labels_copy_arena(q, ls, nls);
    o->nls = (uint32_t)nls;
    o->drop_name = false;
    o->s = copy;
    o->ns = k;
    return 0;
}

/* Go's integer division truncates toward zero; subquery alignment relies on it. */
static int64_t div_trunc(int64_t a, int64_t b) { return a / b; }

matrix_t eval_matrix(query_t *q, const promql_expr_t *e, const grid_t *g) { return eval_matrix_hooked(q, e, g, NULL, NULL); }

matrix_t eval_matrix_hooked(query_t *q, const promql_expr_t *e, const grid_t *g, matrix_hook_fn hook, void *hook_ctx) {
    while (e->kind == PROMQL_PAREN)
        e = e->inner;
    matrix_t m = {0};
    int64_t tmin, tmax;
    if (e->kind == PROMQL_MATRIX_SELECTOR) {
        const promql_expr_t *sel = e->inner;
        m.range_ms = e->range_ms;
        m.t_end = eval_times(q, sel, g, &tmin, &tmax);
        if (g->n == 0) return m;
        msel_ctx_t c = {.q = q, .T = m.t_end, .nT = g->n, .range_ms = e->range_ms, .hook = hook,
                        .hook_ctx = hook_ctx, .m = &m};
        pl_err_t err = {{0}};
        int64_t t0 = pl_monotonic_ns();
        /* A range function passes its name down as remote read's hints do. */
        storage_select_hints_t hints = {.func = q->sel_func, .range_ms = e->range_ms, .step_ms = q->query_step};
        int rc = q->sel_func && q->qb->select_hinted
                     ? q->qb->select_hinted(q->qb->impl, sel->matchers, sel->nmatchers, tmin - e->range_ms + 1, tmax,
                                            &hints, msel_series, &c, &err)
                     : q->qb->select(q->qb->impl, sel->matchers, sel->nmatchers, tmin - e->range_ms + 1, tmax,
                                     msel_series, &c, &err);
        q->select_ns += pl_monotonic_ns() - t0;
        free(c.buf);
        if (rc != 0) {
            if (q->hook_stopped) { /* the hook stopped the select on purpose: no error */
                q->hook_stopped = false;
                return m;
            }
            if (q->err->type != PROMQL_ERR_NONE) longjmp(q->jb, 1);
            q_fail(q, PROMQL_ERR_EXECUTION, "%s", c.oom ? "out of memory" : err.msg[0] ? err.msg : "select failed");
        }
        m.ms = c.out;
        m.nms = c.n;
        return m;
    }
    if (hook) q_fail(q, PROMQL_ERR_EXECUTION, "internal error: streaming over a subquery");
    if (e->kind != PROMQL_SUBQUERY) q_fail(q, PROMQL_ERR_EXECUTION, "expected range vector");
    m.range_ms = e->range_ms;
    m.t_end = eval_times(q, e, g, &tmin, &tmax);
    if (g->n == 0) return m;
    int64_t interval = e->step_ms ? e->step_ms : q->subquery_step_ms;
    int64_t lo = tmin - e->range_ms;
    int64_t start = interval * div_trunc(lo, interval);
    if (start <= lo) start += interval;
    grid_t sg = {.start = start, .step = interval, .n = 0};
    if (tmax >= start) {
        uint64_t n = (uint64_t)(tmax - start) / (uint64_t)interval + 1;
        /* Every node of the inner query holds a slot per step: bound it like samples. */
        if (n > 100000000ULL || (q->max_samples && n > q->max_samples))
            q_fail(q, PROMQL_ERR_EXECUTION,
                   "query processing would load too many samples into memory in query execution");
        sg.n = (size_t)n;
    }
    value_t v = eval_expr(q, e->inner, &sg);
    m.ms = arena_alloc(&q->arena, (v.nvs ? v.nvs : 1) * sizeof *m.ms);
    for (size_t i = 0; i < v.nvs; i++) {
        const vseries_t *s = &v.vs[i];
        size_t cnt = 0;
        for (size_t j = 0; j < sg.n; j++)
            cnt += s->has[j];
        if (!cnt) continue;
        mseries_t *o = &m.ms[m.nms++];
        o->ls = s->ls;
        o->nls = s->nls;
        o->drop_name = s->drop_name;
        o->s = arena_alloc(&q->arena, cnt * sizeof *o->s);
        o->ns = 0;
        for (size_t j = 0; j < sg.n; j++)
            if (s->has[j]) o->s[o->ns++] = (sample_t){grid_t_at(&sg, j), s->v[j]};
    }
    return m;
}

/* ---- expression dispatch ----------------------------------------------- */

static value_t scalar_const(query_t *q, const grid_t *g, double v) {
    value_t r = {.type = PROMQL_TYPE_SCALAR};
    r.sv = arena_alloc(&q->arena, (g->n ? g->n : 1) * sizeof(double));
    for (size_t i = 0; i < g->n; i++)
        r.sv[i] = v;
    return r;
}

value_t eval_vector_selector_ts(query_t *q, const promql_expr_t *e, const grid_t *g);
value_t eval_vector_selector_ts(query_t *q, const promql_expr_t *e, const grid_t *g) {
    return eval_vector_selector(q, e, g, true);
}

value_t eval_expr(query_t *q, const promql_expr_t *e, const grid_t *g) {
    q_check(q);
    switch (e->kind) {
    case PROMQL_NUMBER: return scalar_const(q, g, e->number);
    case PROMQL_STRING_LIT: {
        value_t r = {.type = PROMQL_TYPE_STRING, .str = e->string};
        return r;
    }
    case PROMQL_PAREN: return eval_expr(q, e->inner, g);
    case PROMQL_VECTOR_SELECTOR: return eval_vector_selector(q, e, g, false);
    case PROMQL_UNARY: {
        value_t v = eval_expr(q, e->inner, g);
        if (e->op != PROMQL_OP_SUB) return v;
        if (v.type == PROMQL_TYPE_SCALAR) {
            for (size_t i = 0; i < g->n; i++)
                v.sv[i] = -v.sv[i];
            return v;
        }
        for (size_t i = 0; i < v.nvs; i++) {
            v.vs[i].drop_name = true;
            for (size_t j = 0; j < g->n; j++)
                if (v.vs[i].has[j]) v.vs[i].v[j] = -v.vs[i].v[j];
        }
        return v;
    }
    case PROMQL_BINARY: return eval_binary(q, e, g);
    case PROMQL_CALL: return eval_call(q, e, g);
    case PROMQL_AGGREGATE: return eval_aggregate(q, e, g);
    case PROMQL_MATRIX_SELECTOR:
    case PROMQL_SUBQUERY: q_fail(q, PROMQL_ERR_EXECUTION, "range vector in a place that needs an instant vector");
    }
    q_fail(q, PROMQL_ERR_EXECUTION, "unknown expression");
}

/* ---- results ------------------------------------------------------------ */

const char *promql_errtype_str(enum promql_errtype t) {
    switch (t) {
    case PROMQL_ERR_BAD_DATA: return "bad_data";
    case PROMQL_ERR_EXECUTION: return "execution";
    case PROMQL_ERR_TIMEOUT: return "timeout";
    case PROMQL_ERR_CANCELED: return "canceled";
    default: return "";
    }
}

promql_engine_t *promql_engine_new(const promql_engine_opts_t *opts) {
    promql_engine_t *e = calloc(1, sizeof *e);
    if (!e) return NULL;
    if (opts) e->opts = *opts;
    if (e->opts.lookback_ms <= 0) e->opts.lookback_ms = 5 * 60 * 1000;
    if (e->opts.subquery_step_ms <= 0) e->opts.subquery_step_ms = 60 * 1000;
    e->mon = monitor_new(e->opts.max_concurrency);
    if (!e->mon) {
        free(e);
        return NULL;
    }
    pool_engine_ref(1);
    return e;
}

void promql_engine_free(promql_engine_t *e) {
    if (!e) return;
    monitor_free(e->mon);
    free(e);
    pool_engine_ref(-1);
}

void promql_engine_write_metrics(promql_engine_t *eng, strbuf_t *sb) { monitor_write_metrics(eng->mon, sb); }

int promql_engine_set_query_log(promql_engine_t *eng, const char *path, pl_err_t *err) {
    return monitor_set_log(eng->mon, path, err);
}

static int cmp_series(const void *a, const void *b) {
    const promql_series_t *x = a, *y = b;
    return labels_compare(x->labels, x->nlabels, y->labels, y->nlabels);
}

/* Delayed name removal: drop __name__ where flagged, then merge series that
 * became equal (a collision at one step is an error). */
static value_t cleanup_names(query_t *q, value_t v, size_t nsteps) {
    outset_t o;
    outset_init(&o, q, nsteps);
    for (size_t i = 0; i < v.nvs; i++) {
        vseries_t *s = &v.vs[i];
        label_t *ls = s->ls;
        uint32_t n = s->nls;
        if (s->drop_name) ls = labels_without_name(q, s->ls, s->nls, &n);
        size_t before = o.n;
        size_t idx = outset_get(&o, ls, n, false);
        if (idx == before) {
            /* reuse the series' own arrays when it is the first with these labels */
            o.vs[idx].v = s->v;
            o.vs[idx].has = s->has;
            continue;
        }
        for (size_t j = 0; j < nsteps; j++)
            if (s->has[j] && !outset_set(&o, idx, j, s->v[j])) {
                free(o.slots);
                free(o.hashes);
                q_fail(q, PROMQL_ERR_EXECUTION, "vector cannot contain metrics with the same labelset");
            }
    }
    return outset_value(&o);
}

/* Evaluates (no gate, no accounting). deadline_ns: 0 = none. Fills
 * res->stats' evaluation fields. */
static int run(promql_engine_t *eng, const queryable_t *qb, const promql_expr_t *expr, int64_t start, int64_t end,
               int64_t step, bool instant, int64_t deadline_ns, int64_t lookback_ms, promql_result_t *res,
               promql_error_t *err) {
    memset(res, 0, sizeof *res);
    memset(err, 0, sizeof *err);
    int64_t t_eval0 = pl_monotonic_ns(), sort_ns = 0;
    query_t *q = calloc(1, sizeof *q);
    if (!q) abort();
    q->eng = eng;
    q->qb = qb;
    q->err = err;
    q->query_start = start;
    q->query_end = end;
    q->query_step = instant ? 0 : step;
    q->lookback_ms = lookback_ms > 0 ? lookback_ms : eng->opts.lookback_ms;
    q->subquery_step_ms = eng->opts.subquery_step_ms;
    q->max_samples = eng->opts.max_samples;
    q->deadline_ns = deadline_ns;
    int rc = 0;
    if (setjmp(q->jb) != 0) {
        rc = -1;
        goto done;
    }
    enum promql_type t = promql_expr_type(expr);
    if (!instant && t != PROMQL_TYPE_SCALAR && t != PROMQL_TYPE_VECTOR)
        q_fail(q, PROMQL_ERR_BAD_DATA,
               "invalid expression type \"%s\" for range query, must be Scalar or instant Vector", promql_type_name(t));
    grid_t g = {.start = start, .step = instant ? 1 : step, .n = instant ? 1 : (size_t)((end - start) / step) + 1};
    res->t = start;
    if (t == PROMQL_TYPE_MATRIX) {
        matrix_t m = eval_matrix(q, expr, &g);
        res->type = PROMQL_TYPE_MATRIX;
        res->series = arena_calloc(&q->arena, (m.nms ? m.nms : 1) * sizeof *res->series);
        for (size_t i = 0; i < m.nms; i++) {
            mseries_t *s = &m.ms[i];
            size_t lo = 0, hi = 0;
            while (lo < s->ns && s->s[lo].t <= m.t_end[0] - m.range_ms)
                lo++;
            hi = lo;
            while (hi < s->ns && s->s[hi].t <= m.t_end[0])
                hi++;
            if (hi == lo) continue;
            promql_series_t *o = &res->series[res->nseries++];
            o->labels = s->ls;
            o->nlabels = s->nls;
            if (s->drop_name) {
                uint32_t n;
                o->labels = labels_without_name(q, s->ls, s->nls, &n);
                o->nlabels = n;
            }
            o->samples = s->s + lo;
            o->nsamples = hi - lo;
        }
        int64_t ts0 = pl_monotonic_ns();
        qsort(res->series, res->nseries, sizeof *res->series, cmp_series);
        sort_ns += pl_monotonic_ns() - ts0;
    } else {
        value_t v = eval_expr(q, expr, &g);
        if (v.type == PROMQL_TYPE_STRING) {
            res->type = PROMQL_TYPE_STRING;
            res->string = arena_strdup(&q->arena, v.str);
        } else if (v.type == PROMQL_TYPE_SCALAR && instant) {
            res->type = PROMQL_TYPE_SCALAR;
            res->scalar = v.sv[0];
        } else if (v.type == PROMQL_TYPE_SCALAR) {
            res->type = PROMQL_TYPE_MATRIX;
            res->series = arena_calloc(&q->arena, sizeof *res->series);
            res->nseries = 1;
            res->series[0].labels = NULL;
            res->series[0].samples = arena_alloc(&q->arena, g.n * sizeof(sample_t));
            for (size_t j = 0; j < g.n; j++)
                res->series[0].samples[j] = (sample_t){grid_t_at(&g, j), v.sv[j]};
            res->series[0].nsamples = g.n;
        } else {
            v = cleanup_names(q, v, g.n);
            res->type = instant ? PROMQL_TYPE_VECTOR : PROMQL_TYPE_MATRIX;
            res->series = arena_calloc(&q->arena, (v.nvs ? v.nvs : 1) * sizeof *res->series);
            for (size_t i = 0; i < v.nvs; i++) {
                vseries_t *s = &v.vs[i];
                size_t cnt = 0;
                for (size_t j = 0; j < g.n; j++)
                    cnt += s->has[j];
                if (!cnt) continue;
                promql_series_t *o = &res->series[res->nseries++];
                o->labels = s->ls;
                o->nlabels = s->nls;
                o->samples = arena_alloc(&q->arena, cnt * sizeof(sample_t));
                for (size_t j = 0; j < g.n; j++)
                    if (s->has[j]) o->samples[o->nsamples++] = (sample_t){grid_t_at(&g, j), s->v[j]};
            }
            if (!instant) {
                int64_t ts0 = pl_monotonic_ns();
                qsort(res->series, res->nseries, sizeof *res->series, cmp_series);
                sort_ns += pl_monotonic_ns() - ts0;
            }
        }
    }
    res->warnings = q->warnings.items;
    res->warning_pos = q->warnings.pos;
    res->nwarnings = q->warnings.n;
    res->infos = q->infos.items;
    res->info_pos = q->infos.pos;
    res->ninfos = q->infos.n;
done:
    for (size_t i = 0; i < q->ntmp_matchers; i++)
        matcher_free(&q->tmp_matchers[i]);
    free(q->tmp_matchers);
    promql_query_stats_t st = {0};
    st.eval_total_s = (double)(pl_monotonic_ns() - t_eval0) / 1e9;
    st.prepare_s = (double)q->select_ns / 1e9;
    st.result_sort_s = (double)sort_ns / 1e9;
    st.inner_eval_s = st.eval_total_s - st.prepare_s - st.result_sort_s;
    if (st.inner_eval_s < 0) st.inner_eval_s = 0;
    st.total_queryable_samples = q->queryable_samples;
    st.peak_samples = q->cur_samples;
    if (rc < 0) {
        arena_free(&q->arena);
        memset(res, 0, sizeof *res);
        res->stats = st;
        free(q);
        return -1;
    }
    res->stats = st;
    arena_t *a = malloc(sizeof *a);
    if (!a) abort();
    *a = q->arena;
    res->arena = a;
    free(q);
    return 0;
}

/* Every query: the gate, evaluation, the metrics and the query log. query is
 * the text for the log (NULL: printed from expr when the log is on). */
static int exec_common(promql_engine_t *eng, const queryable_t *qb, const promql_expr_t *expr, const char *query,
                       int64_t start, int64_t end, int64_t step, bool instant, const promql_exec_opts_t *o,
                       promql_result_t *res, promql_error_t *err) {
    int64_t t0 = pl_monotonic_ns();
    int64_t timeout_ms = eng->opts.timeout_ms;
    if (o && o->timeout_ms > 0 && (timeout_ms <= 0 || o->timeout_ms < timeout_ms)) timeout_ms = o->timeout_ms;
    int64_t deadline = timeout_ms > 0 ? t0 + timeout_ms * 1000000 : 0;
    int rc;
    bool evaluated = false;
    int64_t t_queued;
    if (monitor_enter(eng->mon, deadline) < 0) {
        t_queued = pl_monotonic_ns();
        memset(res, 0, sizeof *res);
        memset(err, 0, sizeof *err);
        err->type = PROMQL_ERR_TIMEOUT;
        snprintf(err->msg, sizeof err->msg, "%s", "query timed out in query queue");
        rc = -1;
    } else {
        t_queued = pl_monotonic_ns();
        rc = run(eng, qb, expr, start, end, step, instant, deadline, o ? o->lookback_ms : 0, res, err);
        monitor_leave(eng->mon);
        evaluated = true;
    }
    res->stats.exec_queue_s = (double)(t_queued - t0) / 1e9;
    res->stats.exec_total_s = (double)(pl_monotonic_ns() - t0) / 1e9;
    monitor_observe(eng->mon, &res->stats, evaluated);
    if (monitor_log_enabled(eng->mon)) {
        strbuf_t sb = STRBUF_INIT;
        if (!query) {
            promql_expr_format(&sb, expr);
            query = sb.data ? sb.data : "";
        }
        monitor_log_query(eng->mon, query, start, end, instant ? 0 : step, o, &res->stats, rc < 0 ? err : NULL);
        strbuf_free(&sb);
    }
    return rc;
}

int promql_exec_instant_expr(promql_engine_t *eng, const queryable_t *q, const promql_expr_t *expr, int64_t t_ms,
                             promql_result_t *res, promql_error_t *err) {
    return exec_common(eng, q, expr, NULL, t_ms, t_ms, 0, true, NULL, res, err);
}

static int check_range(int64_t start_ms, int64_t end_ms, int64_t step_ms, promql_result_t *res, promql_error_t *err) {
    if (step_ms <= 0 || end_ms < start_ms) {
        memset(res, 0, sizeof *res);
        err->type = PROMQL_ERR_BAD_DATA;
        snprintf(err->msg, sizeof err->msg, "%s",
                 step_ms <= 0 ? "zero or negative query resolution step widths are not accepted. Try a positive integer"
                              : "end timestamp must not be before start time");
        return -1;
    }
    return 0;
}

int promql_exec_range_expr(promql_engine_t *eng, const queryable_t *q, const promql_expr_t *expr, int64_t start_ms,
                           int64_t end_ms, int64_t step_ms, promql_result_t *res, promql_error_t *err) {
    if (check_range(start_ms, end_ms, step_ms, res, err) < 0) return -1;
    return exec_common(eng, q, expr, NULL, start_ms, end_ms, step_ms, false, NULL, res, err);
}

static int parse_or_fail(const char *query, promql_expr_t **e, promql_result_t *res, promql_error_t *err) {
    pl_err_t perr;
    memset(res, 0, sizeof *res);
    if (promql_parse(query, e, &perr) < 0) {
        err->type = PROMQL_ERR_BAD_DATA;
        snprintf(err->msg, sizeof err->msg, "%s", perr.msg);
        return -1;
    }
    return 0;
}

int promql_exec(promql_engine_t *eng, const queryable_t *q, const char *query, int64_t start_ms, int64_t end_ms,
                int64_t step_ms, const promql_exec_opts_t *o, promql_result_t *res, promql_error_t *err) {
    memset(err, 0, sizeof *err);
    bool instant = step_ms == 0;
    if (instant) end_ms = start_ms;
    else if (check_range(start_ms, end_ms, step_ms, res, err) < 0) return -1;
    promql_expr_t *e;
    if (parse_or_fail(query, &e, res, err) < 0) return -1;
    int rc = exec_common(eng, q, e, query, start_ms, end_ms, step_ms, instant, o, res, err);
    promql_expr_free(e);
    return rc;
}

int promql_exec_instant(promql_engine_t *eng, const queryable_t *q, const char *query, int64_t t_ms,
                        promql_result_t *res, promql_error_t *err) {
    return promql_exec(eng, q, query, t_ms, t_ms, 0, NULL, res, err);
}

int promql_exec_range(promql_engine_t *eng, const queryable_t *q, const char *query, int64_t start_ms, int64_t end_ms,
                      int64_t step_ms, promql_result_t *res, promql_error_t *err) {
    if (check_range(start_ms, end_ms, step_ms, res, err) < 0) return -1;
    return promql_exec(eng, q, query, start_ms, end_ms, step_ms, NULL, res, err);
}

void promql_result_free(promql_result_t *res) {
    if (!res) return;
    if (res->arena) {
        arena_free(res->arena);
        free(res->arena);
    }
    memset(res, 0, sizeof *res);
}

static void write_metric(jsonw_t *w, const promql_series_t *s) {
    jw_key(w, "metric");
    jw_obj_begin(w);
    for (size_t i = 0; i < s->nlabels; i++) {
        jw_key(w, s->labels[i].name);
        jw_str(w, s->labels[i].value);
    }
    jw_obj_end(w);
}

void promql_result_write_json(const promql_result_t *res, jsonw_t *w) { promql_result_write_json_ex(res, NULL, w); }

void promql_result_write_json_ex(const promql_result_t *res, const promql_query_stats_t *stats, jsonw_t *w) {
    jw_obj_begin(w);
    jw_key(w, "resultType");
    jw_str(w, promql_type_api_name(res->type));
    jw_key(w, "result");
    switch (res->type) {
    case PROMQL_TYPE_SCALAR:
        jw_arr_begin(w);
        jw_timestamp(w, res->t);
        jw_sample_value(w, res->scalar);
        jw_arr_end(w);
        break;
    case PROMQL_TYPE_STRING:
        jw_arr_begin(w);
        jw_timestamp(w, res->t);
        jw_str(w, res->string ? res->string : "");
        jw_arr_end(w);
        break;
    case PROMQL_TYPE_VECTOR:
        jw_arr_begin(w);
        for (size_t i = 0; i < res->nseries; i++) {
            const promql_series_t *s = &res->series[i];
            jw_obj_begin(w);
            write_metric(w, s);
            jw_key(w, "value");
            jw_arr_begin(w);
            jw_timestamp(w, s->samples[0].t);
            jw_sample_value(w, s->samples[0].v);
            jw_arr_end(w);
            jw_obj_end(w);
        }
        jw_arr_end(w);
        break;
    default:
        jw_arr_begin(w);
        for (size_t i = 0; i < res->nseries; i++) {
            const promql_series_t *s = &res->series[i];
            jw_obj_begin(w);
            write_metric(w, s);
            jw_key(w, "values");
            jw_arr_begin(w);
            for (size_t j = 0; j < s->nsamples; j++) {
                jw_arr_begin(w);
                jw_timestamp(w, s->samples[j].t);
                jw_sample_value(w, s->samples[j].v);
                jw_arr_end(w);
            }
            jw_arr_end(w);
            jw_obj_end(w);
        }
        jw_arr_end(w);
        break;
    }
    if (stats) {
        jw_key(w, "stats");
        promql_stats_write_json(stats, w);
    }
    jw_obj_end(w);
}
