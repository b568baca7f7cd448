/* querier.c — see querier.h.
 *
 * Postings are plain sorted uint32 arrays: intersection walks two lists,
 * subtraction likewise, a union of many lists is a concatenation sorted and
 * de-duplicated (the lists of one regex matcher). Several sources are merged
 * by walking every block's matching series in step (series ids ascend in
 * label order), so only one series per block is held at a time; the other
 * queryables (the head) are collected, sorted and merged in. One source
 * alone is streamed as it is. */
#include "tsdb/querier.h"

#include <stdlib.h>
#include <string.h>

#include "model/strset.h"
#include "tsdb/postings.h"

struct querier {
    block_t *const *blocks;
    size_t nblocks;
    const queryable_t *others;
    size_t nothers;
};

/* ---- postings algebra ------------------------------------------------------ */

static int cmp_u32(const void *a, const void *b) {
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

static size_t intersect(uint32_t *a, size_t na, const uint32_t *b, size_t nb) {
    size_t i = 0, j = 0, o = 0;
    while (i < na && j < nb) {
        if (a[i] < b[j])
            i++;
        else if (a[i] > b[j])
            j++;
        else {
            a[o++] = a[i++];
            j++;
        }
    }
    return o;
}

static size_t subtract(uint32_t *a, size_t na, const uint32_t *b, size_t nb) {
    size_t i = 0, j = 0, o = 0;
    while (i < na) {
        while (j < nb && b[j] < a[i])
            j++;
        if (j < nb && b[j] == a[i])
            i++;
        else
            a[o++] = a[i++];
    }
    return o;
}

static size_t sort_unique(uint32_t *a, size_t n) {
    if (n < 2) return n;
    qsort(a, n, sizeof *a, cmp_u32);
    size_t o = 1;
    for (size_t i = 1; i < n; i++)
        if (a[i] != a[o - 1]) a[o++] = a[i];
    return o;
}

typedef struct union_ctx {
    const index_reader_t *ir;
    const matcher_t *m;
    bool want; /* collect values the matcher matches (true) or rejects (false) */
    const char *name;
    idvec_t out;
    pl_err_t *err;
    int failed;
} union_ctx_t;

static int union_value(void *ctx, const char *v) {
    union_ctx_t *u = ctx;
    if (matcher_matches(u->m, v) != u->want) return 0;
    uint32_t *ids;
    size_t n;
    if (index_reader_postings(u->ir, u->name, v, &ids, &n, u->err) != 0) {
        u->failed = 1;
        return 1;
    }
    int rc = idvec_append(&u->out, ids, n);
    free(ids);
    if (rc != 0) {
        pl_err_set(u->err, "out of memory");
        u->failed = 1;
        return 1;
    }
    return 0;
}

/* The union of the postings of the values of m->name that m matches (want)
 * or rejects (!want). */
static int postings_union(const index_reader_t *ir, const matcher_t *m, bool want, idvec_t *out, pl_err_t *err) {
    union_ctx_t u = {ir, m, want, m->name, {0}, err, 0};
    index_reader_label_values(ir, m->name, union_value, &u);
    if (u.failed) {
        idvec_free(&u.out);
        return -1;
    }
    u.out.n = sort_unique(u.out.v, u.out.n);
    *out = u.out;
    return 0;
}

int block_postings_for_matchers(const index_reader_t *ir, const matcher_t *ms, size_t nms, uint32_t **ids_out,
                                size_t *n_out, pl_err_t *err) {
    *ids_out = NULL;
    *n_out = 0;
    idvec_t res = {0};
    bool have = false;
    int rc = -1;
    /* Positive matchers first: they narrow the set. */
    for (size_t i = 0; i < nms; i++) {
        const matcher_t *m = &ms[i];
        if (matcher_matches_empty(m)) continue;
        idvec_t cur = {0};
        if (m->type == MATCH_EQUAL) {
            uint32_t *v;
            size_t n;
            if (index_reader_postings(ir, m->name, m->value, &v, &n, err) != 0) goto out;
            cur.v = v;
            cur.n = cur.cap = n;
        } else if (postings_union(ir, m, true, &cur, err) != 0) {
            goto out;
        }
        if (!have) {
            res = cur;
            have = true;
        } else {
            res.n = intersect(res.v, res.n, cur.v, cur.n);
            idvec_free(&cur);
        }
        if (res.n == 0) {
            rc = 0;
            goto out;
        }
    }
    if (!have) {
        uint32_t *v;
        size_t n;
        if (index_reader_postings(ir, "", "", &v, &n, err) != 0) goto out;
        res.v = v;
        res.n = res.cap = n;
    }
    for (size_t i = 0; i < nms && res.n > 0; i++) {
        const matcher_t *m = &ms[i];
        if (!matcher_matches_empty(m)) continue;
        idvec_t neg = {0};
        if (postings_union(ir, m, false, &neg, err) != 0) goto out;
        res.n = subtract(res.v, res.n, neg.v, neg.n);
        idvec_free(&neg);
    }
    rc = 0;
out:
    if (rc == 0 && res.n > 0) {
        *ids_out = res.v;
        *n_out = res.n;
    } else {
        idvec_free(&res);
    }
    return rc;
}

int block_select(const block_t *b, const matcher_t *ms, size_t nms, int64_t mint, int64_t maxt, storage_series_fn fn,
                 void *ctx, pl_err_t *err) {
    if (nms == 0) return pl_err_set(err, "select: at least one matcher is required");
    if (mint > maxt || maxt < b->meta.min_time || mint >= b->meta.max_time) return 0;
    uint32_t *ids;
    size_t n;
    if (block_postings_for_matchers(b->index, ms, nms, &ids, &n, err) != 0) return -1;
    index_series_t s = {0};
    block_sample_buf_t buf = {0};
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        if (index_reader_series(b->index, ids[i], &s, err) != 0 ||
            block_series_samples(b, ids[i], &s, mint, maxt, &buf, err) != 0) {
            rc = -1;
            break;
        }
        if (buf.n == 0) continue;
        rc = fn(ctx, s.labels, s.nlabels, buf.v, buf.n);
    }
    free(ids);
    index_series_free(&s);
    free(buf.v);
    return rc;
}

/* ---- merging sources ------------------------------------------------------- */

typedef struct owned_series {
    label_t *ls; /* ls and the strings in one allocation */
    size_t n;
    sample_t *s;
    size_t ns;
    size_t order; /* arrival order, for a stable sort */
} owned_series_t;

typedef struct collect {
    owned_series_t *v;
    size_t n, cap;
} collect_t;

static int collect_series(void *ctx, const label_t *ls, size_t n, const sample_t *s, size_t ns) {
    collect_t *c = ctx;
    if (c->n == c->cap) {
        size_t nc = c->cap ? c->cap * 2 : 256;
        owned_series_t *nv = realloc(c->v, nc * sizeof *nv);
        if (!nv) return -2;
        c->v = nv;
        c->cap = nc;
    }
    size_t bytes = n * sizeof(label_t);
    for (size_t i = 0; i < n; i++)
        bytes += strlen(ls[i].name) + strlen(ls[i].value) + 2;
    label_t *copy = malloc(bytes ? bytes : 1);
    sample_t *sc = malloc((ns ? ns : 1) * sizeof *sc);
    if (!copy || !sc) {
        free(copy);
        free(sc);
        return -2;
    }
    char *p = (char *)(copy + n);
    for (size_t i = 0; i < n; i++) {
        size_t a = strlen(ls[i].name) + 1, b = strlen(ls[i].value) + 1;
        memcpy(p, ls[i].name, a);
        copy[i].name = p;
        p += a;
        memcpy(p, ls[i].value, b);
        copy[i].value = p;
        p += b;
    }
    memcpy(sc, s, ns * sizeof *sc);
    c->v[c->n] = (owned_series_t){copy, n, sc, ns, c->n};
    c->n++;
    return 0;
}

static int cmp_owned(const void *a, const void *b) {
    const owned_series_t *x = a, *y = b;
    int c = labels_compare(x->ls, x->n, y->ls, y->n);
    if (c) return c;
    return (x->order > y->order) - (x->order < y->order);
}

/* Stable by construction: ties keep source order via the index. */
typedef struct tsample {
    sample_t s;
    size_t order;
} tsample_t;

static int cmp_tsample(const void *a, const void *b) {
    const tsample_t *x = a, *y = b;
    if (x->s.t != y->s.t) return x->s.t < y->s.t ? -1 : 1;
    return (x->order > y->order) - (x->order < y->order);
}

/* The samples of one label set from several sources (runs), merged in time
 * order and de-duplicated by timestamp, the earlier run winning: what a
 * stable sort of their concatenation by time followed by keeping the first
 * of equal timestamps gives, without the sort. Each run must be in
 * non-decreasing time order (merge_runs_sorted checks). Runs that follow
 * each other (the usual case: blocks by time, then the head) are copied;
 * overlapping ones are merged, k at a time. out has room for the total;
 * returns the count written. */
#define MERGE_MAX_RUNS 64

static bool merge_runs_sorted(const sample_t *const *run, const size_t *n, size_t k) {
    for (size_t r = 0; r < k; r++)
        for (size_t i = 1; i < n[r]; i++)
            if (run[r][i].t < run[r][i - 1].t) return false;
    return true;
}

static size_t merge_runs(const sample_t *const *run, const size_t *n, size_t k, sample_t *out) {
    size_t o = 0;
    bool disjoint = true;
    int64_t prev_last = 0;
    bool have_prev = false;
    for (size_t r = 0; r < k && disjoint; r++) {
        if (!n[r]) continue;
        if (have_prev && run[r][0].t <= prev_last) disjoint = false;
        prev_last = run[r][n[r] - 1].t;
        have_prev = true;
    }
    if (disjoint) {
        for (size_t r = 0; r < k; r++)
            for (size_t i = 0; i < n[r]; i++)
                if (o == 0 || out[o - 1].t != run[r][i].t) out[o++] = run[r][i];
        return o;
    }
    size_t pos[MERGE_MAX_RUNS] = {0};
    for (;;) {
        size_t best = k;
        for (size_t r = 0; r < k; r++)
            if (pos[r] < n[r] && (best == k || run[r][pos[r]].t < run[best][pos[best]].t)) best = r;
        if (best == k) break;
        const sample_t *s = &run[best][pos[best]++];
        if (o == 0 || out[o - 1].t != s->t) out[o++] = *s;
    }
    return o;
}

/* One block's side of the merge: its matching series ids, walked in order
 * (ids ascend in label order); `has` when the current series has samples
 * in range, loaded into s and buf. */
typedef struct block_cursor {
    const block_t *b;
    uint32_t *ids;
    size_t nids, pos;
    index_series_t s;
    block_sample_buf_t buf;
    bool has;
} block_cursor_t;

static int cursor_next(block_cursor_t *c, int64_t mint, int64_t maxt, pl_err_t *err) {
    c->has = false;
    while (c->pos < c->nids) {
        uint32_t id = c->ids[c->pos++];
        if (index_reader_series(c->b->index, id, &c->s, err) != 0 ||
            block_series_samples(c->b, id, &c->s, mint, maxt, &c->buf, err) != 0)
            return -1;
        if (c->buf.n > 0) {
            c->has = true;
            return 0;
        }
    }
    return 0;
}

/* Merges the sources by label set without holding more than one series per
 * block: blocks are walked in step; the other queryables (the head) are
 * collected and sorted first. Samples of equal label sets are concatenated
 * in source order, sorted stably by time and de-duplicated (first wins). */
static int q_select(void *impl, const matcher_t *ms, size_t nms, int64_t mint, int64_t maxt, storage_series_fn fn,
                    void *ctx, pl_err_t *err) {
    querier_t *q = impl;
    if (nms == 0) return pl_err_set(err, "select: at least one matcher is required");
    size_t nsrc = q->nblocks + q->nothers;
    if (nsrc == 1) {
        if (q->nblocks) return block_select(q->blocks[0], ms, nms, mint, maxt, fn, ctx, err);
        return q->others[0].select(q->others[0].impl, ms, nms, mint, maxt, fn, ctx, err);
    }
    collect_t c = {0};
    block_cursor_t *cur = calloc(q->nblocks + 1, sizeof *cur);
    tsample_t *tmp = NULL;
    sample_t *out = NULL;
    size_t tcap = 0;
    int rc = 0;
    if (!cur) return pl_err_set(err, "select: out of memory");
    for (size_t i = 0; i < q->nothers && rc == 0; i++)
        rc = q->others[i].select(q->others[i].impl, ms, nms, mint, maxt, collect_series, &c, err);
    if (rc == -2) rc = pl_err_set(err, "select: out of memory");
    if (rc == 0 && c.n > 1) qsort(c.v, c.n, sizeof *c.v, cmp_owned);
    for (size_t i = 0; i < q->nblocks && rc == 0; i++) {
        const block_t *b = q->blocks[i];
        cur[i].b = b;
        if (mint > maxt || maxt < b->meta.min_time || mint >= b->meta.max_time) continue;
        if (block_postings_for_matchers(b->index, ms, nms, &cur[i].ids, &cur[i].nids, err) != 0 ||
            cursor_next(&cur[i], mint, maxt, err) != 0)
            rc = -1;
    }
    size_t cpos = 0;
    while (rc == 0) {
        /* The smallest label set among the sources' current series. */
        const label_t *ls = NULL;
        size_t n = 0;
        for (size_t i = 0; i < q->nblocks; i++)
            if (cur[i].has && (!ls || labels_compare(cur[i].s.labels, cur[i].s.nlabels, ls, n) < 0)) {
                ls = cur[i].s.labels;
                n = cur[i].s.nlabels;
            }
        if (cpos < c.n && (!ls || labels_compare(c.v[cpos].ls, c.v[cpos].n, ls, n) < 0)) {
            ls = c.v[cpos].ls;
            n = c.v[cpos].n;
        }
        if (!ls) break;
        /* Gather the samples of every source holding that label set. */
        size_t total = 0, contributors = 0;
        const sample_t *only = NULL;
        size_t only_n = 0;
        for (size_t i = 0; i < q->nblocks; i++)
            if (cur[i].has && labels_equal(cur[i].s.labels, cur[i].s.nlabels, ls, n)) {
                total += cur[i].buf.n;
                contributors++;
                only = cur[i].buf.v;
                only_n = cur[i].buf.n;
            }
        size_t cend = cpos;
        while (cend < c.n && labels_equal(c.v[cend].ls, c.v[cend].n, ls, n)) {
            total += c.v[cend].ns;
            contributors++;
            only = c.v[cend].s;
            only_n = c.v[cend].ns;
            cend++;
        }
        const sample_t *runs[MERGE_MAX_RUNS];
        size_t nrun[MERGE_MAX_RUNS], nruns = 0;
        if (contributors > 1 && contributors <= MERGE_MAX_RUNS) {
            for (size_t i = 0; i < q->nblocks; i++)
                if (cur[i].has && labels_equal(cur[i].s.labels, cur[i].s.nlabels, ls, n)) {
                    runs[nruns] = cur[i].buf.v;
                    nrun[nruns++] = cur[i].buf.n;
                }
            for (size_t j = cpos; j < cend; j++) {
                runs[nruns] = c.v[j].s;
                nrun[nruns++] = c.v[j].ns;
            }
            if (!merge_runs_sorted(runs, nrun, nruns)) nruns = 0; /* the general sort below */
        }
        if (contributors == 1) {
            rc = fn(ctx, ls, n, only, only_n);
        } else if (nruns) {
            if (total > tcap) {
                tsample_t *nt = realloc(tmp, total * sizeof *nt);
                sample_t *no = realloc(out, total * sizeof *no);
                if (nt) tmp = nt;
                if (no) out = no;
                if (!nt || !no) {
                    rc = pl_err_set(err, "select: out of memory");
                    break;
                }
                tcap = total;
            }
            rc = fn(ctx, ls, n, out, merge_runs(runs, nrun, nruns, out));
        } else {
            if (total > tcap) {
                tsample_t *nt = realloc(tmp, total * sizeof *nt);
                sample_t *no = realloc(out, total * sizeof *no);
                if (nt) tmp = nt;
                if (no) out = no;
                if (!nt || !no) {
                    rc = pl_err_set(err, "select: out of memory");
                    break;
                }
                tcap = total;
            }
            size_t o = 0;
            for (size_t i = 0; i < q->nblocks; i++)
                if (cur[i].has && labels_equal(cur[i].s.labels, cur[i].s.nlabels, ls, n))
                    for (size_t x = 0; x < cur[i].buf.n; x++, o++)
                        tmp[o] = (tsample_t){cur[i].buf.v[x], o};
            for (size_t k = cpos; k < cend; k++)
                for (size_t x = 0; x < c.v[k].ns; x++, o++)
                    tmp[o] = (tsample_t){c.v[k].s[x], o};
            if (total > 1) qsort(tmp, total, sizeof *tmp, cmp_tsample);
            size_t no = 0;
            for (size_t k = 0; k < total; k++)
                if (no == 0 || out[no - 1].t != tmp[k].s.t) out[no++] = tmp[k].s;
            rc = fn(ctx, ls, n, out, no);
        }
        if (rc != 0) break;
        /* Advance every contributor (ls may point into a cursor: compare first, then move). */
        bool moved[64];
        size_t nb = q->nblocks;
        bool *mv = nb <= 64 ? moved : calloc(nb, sizeof *mv);
        if (!mv) {
            rc = pl_err_set(err, "select: out of memory");
            break;
        }
        for (size_t i = 0; i < nb; i++)
            mv[i] = cur[i].has && labels_equal(cur[i].s.labels, cur[i].s.nlabels, ls, n);
        cpos = cend;
        for (size_t i = 0; i < nb && rc == 0; i++)
            if (mv[i]) rc = cursor_next(&cur[i], mint, maxt, err);
        if (mv != moved) free(mv);
    }
    for (size_t i = 0; i < q->nblocks; i++) {
        free(cur[i].ids);
        index_series_free(&cur[i].s);
        free(cur[i].buf.v);
    }
    free(cur);
    free(tmp);
    free(out);
    for (size_t i = 0; i < c.n; i++) {
        free(c.v[i].ls);
        free(c.v[i].s);
    }
    free(c.v);
    return rc;
}

static int q_label_names(void *impl, storage_string_fn fn, void *ctx, pl_err_t *err) {
    querier_t *q = impl;
    strset_t ss = {0};
    for (size_t i = 0; i < q->nblocks && !ss.oom; i++)
        index_reader_label_names(q->blocks[i]->index, strset_add, &ss);
    for (size_t i = 0; i < q->nothers && !ss.oom; i++)
        if (q->others[i].label_names(q->others[i].impl, strset_add, &ss, err) != 0 && !ss.oom) {
            strset_free(&ss);
            return -1;
        }
    return strset_emit(&ss, fn, ctx, err);
}

static int q_label_values(void *impl, const char *name, storage_string_fn fn, void *ctx, pl_err_t *err) {
    querier_t *q = impl;
    strset_t ss = {0};
    for (size_t i = 0; i < q->nblocks && !ss.oom; i++)
        index_reader_label_values(q->blocks[i]->index, name, strset_add, &ss);
    for (size_t i = 0; i < q->nothers && !ss.oom; i++)
        if (q->others[i].label_values(q->others[i].impl, name, strset_add, &ss, err) != 0 && !ss.oom) {
            strset_free(&ss);
            return -1;
        }
    return strset_emit(&ss, fn, ctx, err);
}

querier_t *querier_new(block_t *const *blocks, size_t nblocks, const queryable_t *others, size_t nothers) {
    querier_t *q = calloc(1, sizeof *q);
    if (!q) return NULL;
    q->blocks = blocks;
    q->nblocks = nblocks;
    q->others = others;
    q->nothers = nothers;
    return q;
}

void querier_free(querier_t *q) { free(q); }

void querier_queryable(querier_t *q, queryable_t *out) {
    out->impl = q;
    out->select = q_select;
    out->label_names = q_label_names;
    out->label_values = q_label_values;
    out->select_hinted = NULL; /* merges sources: always sorted, all samples */
}
