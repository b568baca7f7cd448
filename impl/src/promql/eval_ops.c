/* eval_ops.c — binary operators (arithmetic, comparison, set, vector
 * matching) and aggregations.
 *
 * Both work on fixed series sets: matching signatures and aggregation groups
 * are computed once per node from the labels, then every step only walks
 * arrays indexed by series and group. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "promql/engine_internal.h"
#include "promql/functions_range.h"

/* ---- a small uint64 -> index map --------------------------------------- */

typedef struct u64map {
    uint64_t *keys;
    int32_t *vals; /* -1 empty */
    size_t cap;
    size_t n;
} u64map_t;

static void u64map_init(u64map_t *m, size_t expect) {
    size_t cap = 16;
    while (cap < expect * 2 + 1)
        cap *= 2;
    m->keys = malloc(cap * sizeof *m->keys);
    m->vals = malloc(cap * sizeof *m->vals);
    if (!m->keys || !m->vals) abort();
    for (size_t i = 0; i < cap; i++)
        m->vals[i] = -1;
    m->cap = cap;
    m->n = 0;
}

static void u64map_free(u64map_t *m) {
    free(m->keys);
    free(m->vals);
}

/* Returns the index for key, inserting next_val if absent (*added set). */
static int32_t u64map_get_or_add(u64map_t *m, uint64_t key, int32_t next_val, bool *added) {
    if ((m->n + 1) * 2 > m->cap) {
        u64map_t nm;
        u64map_init(&nm, m->cap);
        for (size_t i = 0; i < m->cap; i++)
            if (m->vals[i] >= 0) {
                bool a;
                u64map_get_or_add(&nm, m->keys[i], m->vals[i], &a);
            }
        u64map_free(m);
        *m = nm;
    }
    size_t h = (size_t)(key ^ (key >> 29)) & (m->cap - 1);
    while (m->vals[h] >= 0) {
        if (m->keys[h] == key) {
            if (added) *added = false;
            return m->vals[h];
        }
        h = (h + 1) & (m->cap - 1);
    }
    if (next_val < 0) {
        if (added) *added = false;
        return -1;
    }
    m->keys[h] = key;
    m->vals[h] = next_val;
    m->n++;
    if (added) *added = true;
    return next_val;
}

/* ---- label helpers ------------------------------------------------------ */

static bool name_in(const char *name, char **list, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (strcmp(list[i], name) == 0) return true;
    return false;
}

/* The labels a matching signature covers: on(list) keeps list, else all but list and __name__. */
static size_t match_labels(const label_t *ls, size_t n, bool on, char **list, size_t nl, label_t *out) {
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        bool in = name_in(ls[i].name, list, nl);
        if (on ? in : (!in && strcmp(ls[i].name, LABEL_METRIC_NAME) != 0)) out[k++] = ls[i];
    }
    return k;
}

static uint64_t signature(const vseries_t *s, bool on, char **list, size_t nl, label_t *scratch) {
    size_t k = match_labels(s->ls, s->nls, on, list, nl, scratch);
    return labels_hash(scratch, k);
}

static size_t max_labels(const value_t *v) {
    size_t m = 1;
    for (size_t i = 0; i < v->nvs; i++)
        if (v->vs[i].nls + 1 > m) m = v->vs[i].nls + 1;
    return m;
}

/* ---- binary operators --------------------------------------------------- */

static bool op_is_arith(enum promql_op op) { return op >= PROMQL_OP_ADD && op <= PROMQL_OP_ATAN2; }

/* Returns the value; *keep false when a comparison filters it out. */
static double binop(enum promql_op op, double l, double r, bool *keep) {
    *keep = true;
    switch (op) {
    case PROMQL_OP_ADD: return l + r;
    case PROMQL_OP_SUB: return l - r;
    case PROMQL_OP_MUL: return l * r;
    case PROMQL_OP_DIV: return l / r;
    case PROMQL_OP_MOD: return fmod(l, r);
    case PROMQL_OP_POW: return pow(l, r);
    case PROMQL_OP_ATAN2: return atan2(l, r);
    case PROMQL_OP_EQL: *keep = l == r; return l;
    case PROMQL_OP_NEQ: *keep = l != r; return l;
    case PROMQL_OP_GTR: *keep = l > r; return l;
    case PROMQL_OP_LSS: *keep = l < r; return l;
    case PROMQL_OP_GTE: *keep = l >= r; return l;
    case PROMQL_OP_LTE: *keep = l <= r; return l;
    default: *keep = false; return 0;
    }
}

static value_t binary_scalar_scalar(query_t *q, const promql_expr_t *e, value_t l, value_t r, const grid_t *g) {
    (void)q;
    for (size_t i = 0; i < g->n; i++) {
        bool keep;
        double v = binop(e->op, l.sv[i], r.sv[i], &keep);
        if (promql_op_is_comparison(e->op)) v = keep ? 1 : 0;
        l.sv[i] = v;
    }
    return l;
}

static value_t binary_vector_scalar(query_t *q, const promql_expr_t *e, value_t vec, value_t sc, bool swap,
                                    const grid_t *g) {
    bool cmp = promql_op_is_comparison(e->op);
    value_t out = {.type = PROMQL_TYPE_VECTOR, .vs = vseries_new(q, vec.nvs, g->n), .nvs = 0};
    for (size_t i = 0; i < vec.nvs; i++) {
        vseries_t *s = &vec.vs[i];
        vseries_t *o = &out.vs[out.nvs];
        *o = *s;
        o->v = arena_alloc(&q->arena, g->n * sizeof(double));
        o->has = arena_calloc(&q->arena, g->n);
        bool any = false;
        for (size_t j = 0; j < g->n; j++) {
            if (!s->has[j]) continue;
            double lv = s->v[j], rv = sc.sv[j];
            if (swap) {
                double t = lv;
                lv = rv;
                rv = t;
            }
            bool keep;
            double v = binop(e->op, lv, rv, &keep);
            if (cmp && swap) v = rv;
            if (e->return_bool) {
                v = keep ? 1 : 0;
                keep = true;
            }
            if (!keep) continue;
            o->v[j] = v;
            o->has[j] = 1;
            any = true;
        }
        if (!any) continue;
        if (op_is_arith(e->op) || e->return_bool) o->drop_name = true;
        out.nvs++;
    }
    return out;
}

static void format_match_group(strbuf_t *sb, const vseries_t *s, const promql_expr_t *e, label_t *scratch) {
    size_t k = match_labels(s->ls, s->nls, e->matching_on, e->matching_labels, e->nmatching_labels, scratch);
    labels_format_braces(sb, scratch, k);
}

static value_t binary_set(query_t *q, const promql_expr_t *e, value_t l, value_t r, const grid_t *g) {
    size_t ml = max_labels(&l), mr = max_labels(&r);
    label_t *scratch = arena_alloc(&q->arena, (ml > mr ? ml : mr) * sizeof(label_t));
    u64map_t m;
    u64map_init(&m, l.nvs + r.nvs);
    int32_t ngroups = 0;
    int32_t *lg = arena_alloc(&q->arena, (l.nvs + 1) * sizeof *lg);
    int32_t *rg = arena_alloc(&q->arena, (r.nvs + 1) * sizeof *rg);
    bool on = e->has_matching && e->matching_on;
    for (size_t i = 0; i < l.nvs; i++) {
        bool added;
        lg[i] = u64map_get_or_add(&m, signature(&l.vs[i], on, e->matching_labels, e->nmatching_labels, scratch),
                                  ngroups, &added);
        if (added) ngroups++;
    }
    for (size_t i = 0; i < r.nvs; i++) {
        bool added;
        rg[i] = u64map_get_or_add(&m, signature(&r.vs[i], on, e->matching_labels, e->nmatching_labels, scratch),
                                  ngroups, &added);
        if (added) ngroups++;
    }
    u64map_free(&m);
    uint8_t *mark = arena_calloc(&q->arena, (size_t)ngroups + 1);
    outset_t o;
    outset_init(&o, q, g->n);
    int32_t *lo = arena_alloc(&q->arena, (l.nvs + 1) * sizeof *lo);
    int32_t *ro = arena_alloc(&q->arena, (r.nvs + 1) * sizeof *ro);
    for (size_t i = 0; i < l.nvs; i++)
        lo[i] = -1;
    for (size_t i = 0; i < r.nvs; i++)
        ro[i] = -1;
#define EMIT(side, outidx, i, j)                                                                                       \
    do {                                                                                                               \
        if (outidx[i] < 0) {                                                                                           \
            outidx[i] = (int32_t)outset_get(&o, side.vs[i].ls, side.vs[i].nls, false);                                 \
            o.vs[outidx[i]].drop_name = side.vs[i].drop_name;                                                          \
        }                                                                                                              \
        if (!outset_set(&o, (size_t)outidx[i], j, side.vs[i].v[j]))                                                    \
            q_fail(q, PROMQL_ERR_EXECUTION, "vector cannot contain metrics with the same labelset");                   \
    } while (0)
    for (size_t j = 0; j < g->n; j++) {
        memset(mark, 0, (size_t)ngroups + 1);
        switch (e->op) {
        case PROMQL_OP_AND:
            for (size_t i = 0; i < r.nvs; i++)
                if (r.vs[i].has[j]) mark[rg[i]] = 1;
            for (size_t i = 0; i < l.nvs; i++)
                if (l.vs[i].has[j] && mark[lg[i]]) EMIT(l, lo, i, j);
            break;
        case PROMQL_OP_UNLESS:
            for (size_t i = 0; i < r.nvs; i++)
                if (r.vs[i].has[j]) mark[rg[i]] = 1;
            for (size_t i = 0; i < l.nvs; i++)
                if (l.vs[i].has[j] && !mark[lg[i]]) EMIT(l, lo, i, j);
            break;
        default: /* or */
            for (size_t i = 0; i < l.nvs; i++)
                if (l.vs[i].has[j]) {
                    mark[lg[i]] = 1;
                    EMIT(l, lo, i, j);
                }
            for (size_t i = 0; i < r.nvs; i++)
                if (r.vs[i].has[j] && !mark[rg[i]]) EMIT(r, ro, i, j);
            break;
        }
    }
#undef EMIT
    return outset_value(&o);
}

/* Result labels of a matched pair (many side first). */
static size_t result_labels(const promql_expr_t *e, const vseries_t *many, const vseries_t *one, label_t *out) {
    size_t k = 0;
    for (size_t i = 0; i < many->nls; i++) {
        const label_t *l = &many->ls[i];
        if (e->card == PROMQL_CARD_ONE_TO_ONE && e->has_matching) {
            bool in = name_in(l->name, e->matching_labels, e->nmatching_labels);
            if (e->matching_on ? !in : in) continue;
        }
        if (name_in(l->name, e->include_labels, e->ninclude_labels)) continue;
        out[k++] = *l;
    }
    for (size_t i = 0; i < e->ninclude_labels; i++) {
        const char *v = labels_get(one->ls, one->nls, e->include_labels[i]);
        if (v && *v) out[k++] = (label_t){e->include_labels[i], v};
    }
    if (e->ninclude_labels) labels_sort(out, k);
    return k;
}

static value_t binary_vector_vector(query_t *q, const promql_expr_t *e, value_t l, value_t r, const grid_t *g) {
    bool swap = e->card == PROMQL_CARD_ONE_TO_MANY;
    value_t many = swap ? r : l, one = swap ? l : r;
    size_t ml = max_labels(&l), mr = max_labels(&r);
    size_t maxl = (ml > mr ? ml : mr) + e->ninclude_labels + 1;
    label_t *scratch = arena_alloc(&q->arena, maxl * sizeof(label_t));
    bool on = e->has_matching && e->matching_on;
    u64map_t m;
    u64map_init(&m, one.nvs);
    int32_t ngroups = 0;
    int32_t *og = arena_alloc(&q->arena, (one.nvs + 1) * sizeof *og);
    int32_t *mg = arena_alloc(&q->arena, (many.nvs + 1) * sizeof *mg);
    for (size_t i = 0; i < one.nvs; i++) {
        bool added;
        og[i] = u64map_get_or_add(&m, signature(&one.vs[i], on, e->matching_labels, e->nmatching_labels, scratch),
                                  ngroups, &added);
        if (added) ngroups++;
    }
    for (size_t i = 0; i < many.nvs; i++)
        mg[i] = u64map_get_or_add(&m, signature(&many.vs[i], on, e->matching_labels, e->nmatching_labels, scratch), -1,
                                  NULL);
    u64map_free(&m);
    int32_t *one_at = arena_alloc(&q->arena, ((size_t)ngroups + 1) * sizeof *one_at);
    uint8_t *matched = arena_alloc(&q->arena, (size_t)ngroups + 1);
    int32_t *outidx = arena_alloc(&q->arena, (many.nvs + 1) * sizeof *outidx);
    for (size_t i = 0; i < many.nvs; i++)
        outidx[i] = -1;
    bool drop = op_is_arith(e->op) || e->return_bool;
    outset_t o;
    outset_init(&o, q, g->n);
    for (size_t j = 0; j < g->n; j++) {
        q_check(q);
        for (int32_t k = 0; k < ngroups; k++)
            one_at[k] = -1;
        memset(matched, 0, (size_t)ngroups + 1);
        for (size_t i = 0; i < one.nvs; i++) {
            if (!one.vs[i].has[j]) continue;
            int32_t gid = og[i];
            if (one_at[gid] >= 0) {
                strbuf_t a = STRBUF_INIT, b = STRBUF_INIT, c = STRBUF_INIT;
                format_match_group(&a, &one.vs[i], e, scratch);
                labels_format(&b, one.vs[i].ls, one.vs[i].nls);
                labels_format(&c, one.vs[one_at[gid]].ls, one.vs[one_at[gid]].nls);
                char msg[PL_ERR_MAX];
                snprintf(msg, sizeof msg,
                         "found duplicate series for the match group %s on the %s hand-side of the operation: [%s, "
                         "%s];many-to-many matching not allowed: matching labels must be unique on one side",
                         a.data, swap ? "left" : "right", b.data, c.data);
                strbuf_free(&a);
                strbuf_free(&b);
                strbuf_free(&c);
                free(o.slots);
                free(o.hashes);
                q_fail(q, PROMQL_ERR_EXECUTION, "%s", msg);
            }
            one_at[gid] = (int32_t)i;
        }
        for (size_t i = 0; i < many.nvs; i++) {
            if (!many.vs[i].has[j] || mg[i] < 0) continue;
            int32_t k = one_at[mg[i]];
            if (k < 0) continue;
            if (e->card == PROMQL_CARD_ONE_TO_ONE) {
                if (matched[mg[i]]) {
                    free(o.slots);
                    free(o.hashes);
                    q_fail(
                        q, PROMQL_ERR_EXECUTION,
                        "multiple matches for labels: many-to-one matching must be explicit (group_left/group_right)");
                }
                matched[mg[i]] = 1;
            }
            double fl = many.vs[i].v[j], fr = one.vs[k].v[j];
            if (swap) {
                double t = fl;
                fl = fr;
                fr = t;
            }
            bool keep;
            double v = binop(e->op, fl, fr, &keep);
            if (e->return_bool) {
                v = keep ? 1 : 0;
                keep = true;
            }
            if (!keep) continue;
            size_t idx;
            if (e->ninclude_labels == 0 && outidx[i] >= 0) {
                idx = (size_t)outidx[i];
            } else {
                size_t n = result_labels(e, &many.vs[i], &one.vs[k], scratch);
                idx = outset_get(&o, scratch, n, false);
                if (o.vs[idx].ls == scratch) {
                    /* newly added: give it stable storage */
                    o.vs[idx].ls = e->ninclude_labels ? labels_copy_arena(q, scratch, n)
                                                      : arena_alloc(&q->arena, (n ? n : 1) * sizeof(label_t));
                    if (!e->ninclude_labels) memcpy(o.vs[idx].ls, scratch, n * sizeof(label_t));
                    o.vs[idx].drop_name = drop || many.vs[i].drop_name;
                }
                if (e->ninclude_labels == 0) outidx[i] = (int32_t)idx;
            }
            if (!outset_set(&o, idx, j, v)) {
                free(o.slots);
                free(o.hashes);
                if (e->card == PROMQL_CARD_ONE_TO_ONE)
                    q_fail(q, PROMQL_ERR_EXECUTION, "vector cannot contain metrics with the same labelset");
                q_fail(q, PROMQL_ERR_EXECUTION,
                       "multiple matches for matching labels in many-to-one matching: grouping labels must ensure "
                       "unique results");
            }
        }
    }
    return outset_value(&o);
}

value_t eval_binary(query_t *q, const promql_expr_t *e, const grid_t *g) {
    value_t l = eval_expr(q, e->lhs, g);
    value_t r = eval_expr(q, e->rhs, g);
    if (l.type == PROMQL_TYPE_SCALAR && r.type == PROMQL_TYPE_SCALAR) return binary_scalar_scalar(q, e, l, r, g);
    if (l.type == PROMQL_TYPE_VECTOR && r.type == PROMQL_TYPE_SCALAR) return binary_vector_scalar(q, e, l, r, false, g);
    if (l.type == PROMQL_TYPE_SCALAR && r.type == PROMQL_TYPE_VECTOR) return binary_vector_scalar(q, e, r, l, true, g);
    if (promql_op_is_set(e->op)) return binary_set(q, e, l, r, g);
    return binary_vector_vector(q, e, l, r, g);
}

/* ---- aggregations ------------------------------------------------------- */

typedef struct agg_group {
    label_t *ls;
    uint32_t nls;
    bool drop_name;
} agg_group_t;

static int cmp_group_idx(const void *a, const void *b, void *arg) {
    const agg_group_t *g = arg, *x = &g[*(const size_t *)a], *y = &g[*(const size_t *)b];
    return labels_compare(x->ls, x->nls, y->ls, y->nls);
}

static void format_f(char *buf, size_t n, double v) {
    /* strconv.FormatFloat(v, 'f', -1, 64) */
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
        if (strtod(buf, NULL) == v) return;
    }
}

static int cmp_top(double a, double b, bool top) {
    /* >0 if a ranks before b */
    bool an = a != a, bn = b != b;
    if (an && bn) return 0;
    if (an) return -1;
    if (bn) return 1;
    if (a == b) return 0;
    return top ? (a > b ? 1 : -1) : (a < b ? 1 : -1);
}

value_t eval_aggregate(query_t *q, const promql_expr_t *e, const grid_t *g) {
    value_t param = {0};
    if (e->param) param = eval_expr(q, e->param, g);
    /* An aggregation that outputs only its grouping labels, straight over a
     * selector: the selector need not keep the other labels; for count and
     * group (whose result does not depend on the order of the input), storage
     * need not sort the series either (the groups are sorted below). */
    const promql_expr_t *operand = e->inner;
    while (operand->kind == PROMQL_PAREN)
        operand = operand->inner;
    enum promql_agg_op op0 = e->agg;
    bool unsorted_input = false;
    if (operand->kind == PROMQL_VECTOR_SELECTOR && !e->without && e->ngrouping <= 64 &&
        (op0 == PROMQL_AGG_COUNT || op0 == PROMQL_AGG_GROUP))
        return eval_count_selector(q, operand, g, e->grouping, e->ngrouping, op0 == PROMQL_AGG_GROUP);
    if (g->n > 1 && operand->kind == PROMQL_CALL && !e->without && e->ngrouping <= 64 &&
        !name_in(LABEL_METRIC_NAME, e->grouping, e->ngrouping) &&
        (op0 == PROMQL_AGG_SUM || op0 == PROMQL_AGG_COUNT || op0 == PROMQL_AGG_GROUP || op0 == PROMQL_AGG_MIN ||
         op0 == PROMQL_AGG_MAX)) {
        value_t r;
        if (eval_range_func_aggregated(q, operand, g, op0, e->grouping, e->ngrouping, &r)) return r;
    }
    if (operand->kind == PROMQL_VECTOR_SELECTOR && !e->without && e->ngrouping <= 64 &&
        (op0 == PROMQL_AGG_COUNT || op0 == PROMQL_AGG_GROUP || op0 == PROMQL_AGG_SUM || op0 == PROMQL_AGG_AVG ||
         op0 == PROMQL_AGG_MIN || op0 == PROMQL_AGG_MAX || op0 == PROMQL_AGG_STDDEV || op0 == PROMQL_AGG_STDVAR)) {
        q->proj_sel = operand;
        q->proj_names = e->grouping;
        q->proj_n = e->ngrouping;
        q->proj_unsorted = unsorted_input = op0 == PROMQL_AGG_COUNT || op0 == PROMQL_AGG_GROUP;
    }
    value_t in = eval_expr(q, e->inner, g);
    q->proj_sel = NULL;
    size_t ns = in.nvs;
    label_t *scratch = arena_alloc(&q->arena, (max_labels(&in) + 1) * sizeof(label_t));
    /* group ids */
    int32_t *gid = arena_alloc(&q->arena, (ns + 1) * sizeof *gid);
    agg_group_t *groups = arena_alloc(&q->arena, (ns + 1) * sizeof *groups);
    size_t ngroups = 0;
    u64map_t m;
    u64map_init(&m, ns);
    for (size_t i = 0; i < ns; i++) {
        const vseries_t *s = &in.vs[i];
        size_t k = 0;
        for (size_t a = 0; a < s->nls; a++) {
            bool listed = name_in(s->ls[a].name, e->grouping, e->ngrouping);
            if (e->without ? (!listed && strcmp(s->ls[a].name, LABEL_METRIC_NAME) != 0) : listed)
                scratch[k++] = s->ls[a];
        }
        bool added;
        gid[i] = u64map_get_or_add(&m, labels_hash(scratch, k), (int32_t)ngroups, &added);
        if (added) {
            agg_group_t *gr = &groups[ngroups++];
            gr->ls = arena_alloc(&q->arena, (k ? k : 1) * sizeof(label_t));
            memcpy(gr->ls, scratch, k * sizeof(label_t));
            gr->nls = (uint32_t)k;
            gr->drop_name = false;
        }
        if (s->drop_name && labels_get(groups[gid[i]].ls, groups[gid[i]].nls, LABEL_METRIC_NAME))
            groups[gid[i]].drop_name = true;
    }
    u64map_free(&m);
    if (unsorted_input && ngroups > 1) {
        /* A deterministic group order whatever order storage chose: by label set. */
        size_t *perm = arena_alloc(&q->arena, ngroups * sizeof *perm);
        for (size_t k = 0; k < ngroups; k++)
            perm[k] = k;
        qsort_r(perm, ngroups, sizeof *perm, cmp_group_idx, groups);
        int32_t *rank = arena_alloc(&q->arena, ngroups * sizeof *rank);
        agg_group_t *sorted = arena_alloc(&q->arena, (ngroups + 1) * sizeof *sorted);
        for (size_t k = 0; k < ngroups; k++) {
            rank[perm[k]] = (int32_t)k;
            sorted[k] = groups[perm[k]];
        }
        for (size_t i = 0; i < ns; i++)
            gid[i] = rank[gid[i]];
        groups = sorted;
    }

    enum promql_agg_op op = e->agg;
    if (op == PROMQL_AGG_TOPK || op == PROMQL_AGG_BOTTOMK || op == PROMQL_AGG_LIMITK || op == PROMQL_AGG_LIMIT_RATIO) {
        /* Outputs are input series. */
        int32_t *outidx = arena_alloc(&q->arena, (ns + 1) * sizeof *outidx);
        for (size_t i = 0; i < ns; i++)
            outidx[i] = -1;
        size_t *cnt = arena_alloc(&q->arena, (ngroups + 1) * sizeof *cnt);
        /* per group selection buffer: indices of series */
        size_t *first = arena_alloc(&q->arena, (ngroups + 1) * sizeof *first);
        size_t *sel = arena_alloc(&q->arena, (ns + 1) * sizeof *sel);
        size_t *members = arena_alloc(&q->arena, (ns + 1) * sizeof *members);
        size_t *gstart = arena_alloc(&q->arena, (ngroups + 2) * sizeof *gstart);
        /* members sorted by group, keeping input order */
        memset(gstart, 0, (ngroups + 2) * sizeof *gstart);
        for (size_t i = 0; i < ns; i++)
            gstart[gid[i] + 1]++;
        for (size_t k = 0; k < ngroups; k++)
            gstart[k + 1] += gstart[k];
        memset(first, 0, (ngroups + 1) * sizeof *first);
        for (size_t i = 0; i < ns; i++)
            members[gstart[gid[i]] + first[gid[i]]++] = i;
        outset_t o;
        outset_init(&o, q, g->n);
        for (size_t j = 0; j < g->n; j++) {
            q_check(q);
            double pv = param.sv ? param.sv[j] : 0;
            if (op == PROMQL_AGG_LIMIT_RATIO) {
                if (pv != pv) q_fail(q, PROMQL_ERR_EXECUTION, "Ratio value is NaN");
                if (pv < -1 || pv > 1) {
                    char b[64];
                    pl_format_float(b, pv);
                    q_warn(q, e->param->pos_start, "ratio value should be between -1 and 1, got %s", b);
                    pv = pv < -1 ? -1 : 1;
                }
            } else {
                if (pv != pv) q_fail(q, PROMQL_ERR_EXECUTION, "Parameter value is NaN");
                if (pv >= 9.2e18) pv = 9.2e18;
                if (pv <= -9.2e18) pv = -9.2e18;
            }
            int64_t k = op == PROMQL_AGG_LIMIT_RATIO ? 0 : (int64_t)pv;
            if (op != PROMQL_AGG_LIMIT_RATIO && k < 1) continue;
            for (size_t gi = 0; gi < ngroups; gi++) {
                size_t n = 0;
                for (size_t a = gstart[gi]; a < gstart[gi + 1]; a++) {
                    size_t i = members[a];
                    if (!in.vs[i].has[j]) continue;
                    if (op == PROMQL_AGG_LIMITK) {
                        if ((int64_t)n < k) sel[n++] = i;
                    } else if (op == PROMQL_AGG_LIMIT_RATIO) {
                        double off = (double)labels_hash(in.vs[i].ls, in.vs[i].nls) / 18446744073709551615.0;
                        if ((pv >= 0 && off < pv) || (pv < 0 && off >= 1.0 + pv)) sel[n++] = i;
                    } else {
                        bool top = op == PROMQL_AGG_TOPK;
                        double v = in.vs[i].v[j];
                        /* insertion into the sorted selection (best first), ties keep earlier */
                        size_t pos = n;
                        while (pos > 0 && cmp_top(v, in.vs[sel[pos - 1]].v[j], top) > 0)
                            pos--;
                        if ((int64_t)pos >= k) continue;
                        size_t end = (int64_t)n < k ? n : n - 1;
                        memmove(&sel[pos + 1], &sel[pos], (end - pos) * sizeof *sel);
                        sel[pos] = i;
                        if ((int64_t)n < k) n++;
                    }
                }
                cnt[gi] = n;
                for (size_t a = 0; a < n; a++) {
                    size_t i = sel[a];
                    if (outidx[i] < 0) {
                        outidx[i] = (int32_t)outset_get(&o, in.vs[i].ls, in.vs[i].nls, false);
                        o.vs[outidx[i]].drop_name = in.vs[i].drop_name;
                    }
                    outset_set(&o, (size_t)outidx[i], j, in.vs[i].v[j]);
                }
            }
        }
        return outset_value(&o);
    }

    if (op == PROMQL_AGG_COUNT_VALUES) {
        const char *lname = param.str ? param.str : "";
        if (!label_name_valid(lname, strlen(lname)))
            q_fail(q, PROMQL_ERR_EXECUTION, "invalid label name \"%s\"", lname);
        outset_t o;
        outset_init(&o, q, g->n);
        char buf[400];
        label_t *ls = arena_alloc(&q->arena, (max_labels(&in) + 2) * sizeof(label_t));
        for (size_t j = 0; j < g->n; j++) {
            for (size_t i = 0; i < ns; i++) {
                if (!in.vs[i].has[j]) continue;
                agg_group_t *gr = &groups[gid[i]];
                format_f(buf, sizeof buf, in.vs[i].v[j]);
                size_t k = 0;
                for (size_t a = 0; a < gr->nls; a++)
                    if (strcmp(gr->ls[a].name, lname) != 0) ls[k++] = gr->ls[a];
                ls[k++] = (label_t){lname, buf};
                labels_sort(ls, k);
                size_t before = o.n;
                size_t idx = outset_get(&o, ls, k, true);
                if (idx == before) o.vs[idx].has[j] = 0, o.vs[idx].v[j] = 0;
                if (!o.vs[idx].has[j]) {
                    o.vs[idx].has[j] = 1;
                    o.vs[idx].v[j] = 0;
                }
                o.vs[idx].v[j] += 1;
            }
        }
        return outset_value(&o);
    }

    value_t out = {.type = PROMQL_TYPE_VECTOR, .vs = vseries_new(q, ngroups, g->n), .nvs = ngroups};
    for (size_t k = 0; k < ngroups; k++) {
        out.vs[k].ls = groups[k].ls;
        out.vs[k].nls = groups[k].nls;
        out.vs[k].drop_name = groups[k].drop_name;
        out.vs[k].v = arena_alloc(&q->arena, g->n * sizeof(double));
        out.vs[k].has = arena_calloc(&q->arena, g->n);
    }
    /* Range queries: for the simple operators, walk each input series along
     * its steps (its arrays are contiguous) instead of every series at each
     * step, with an accumulator per group and step. The series still add up
     * in input order at every step, so the results are the same. */
    if ((op == PROMQL_AGG_SUM || op == PROMQL_AGG_COUNT || op == PROMQL_AGG_GROUP || op == PROMQL_AGG_MIN ||
         op == PROMQL_AGG_MAX) &&
        g->n > 1 && (uint64_t)ngroups * g->n <= ((uint64_t)1 << 23)) {
        size_t nst = g->n, cells = ngroups * nst;
        double *A = arena_alloc(&q->arena, cells * sizeof(double));
        double *C = arena_alloc(&q->arena, cells * sizeof(double));
        uint32_t *N = arena_calloc(&q->arena, cells * sizeof(uint32_t));
        for (size_t i = 0; i < ns; i++) {
            q_check(q);
            const vseries_t *s = &in.vs[i];
            size_t base = (size_t)gid[i] * nst;
            double *Ak = A + base, *Ck = C + base;
            uint32_t *Nk = N + base;
            for (size_t j = 0; j < nst; j++) {
                if (!s->has[j]) continue;
                double f = s->v[j];
                if (++Nk[j] == 1) {
                    Ak[j] = f;
                    Ck[j] = 0;
                    continue;
                }
                switch (op) {
                case PROMQL_AGG_SUM: Ak[j] = prom_kahan_inc(f, Ak[j], &Ck[j]); break;
                case PROMQL_AGG_MIN:
                    if (Ak[j] > f || Ak[j] != Ak[j]) Ak[j] = f;
                    break;
                case PROMQL_AGG_MAX:
                    if (Ak[j] < f || Ak[j] != Ak[j]) Ak[j] = f;
                    break;
                default: break;
                }
            }
        }
        for (size_t k = 0; k < ngroups; k++)
            for (size_t j = 0; j < nst; j++) {
                q_check(q);
                size_t x = k * nst + j;
                if (!N[x]) continue;
                double v;
                switch (op) {
                case PROMQL_AGG_SUM: v = isinf(A[x]) ? A[x] : A[x] + C[x]; break;
                case PROMQL_AGG_COUNT: v = N[x]; break;
                case PROMQL_AGG_GROUP: v = 1; break;
                default: v = A[x]; break;
                }
                out.vs[k].v[j] = v;
                out.vs[k].has[j] = 1;
            }
        return out;
    }
    double *a = arena_alloc(&q->arena, (ngroups + 1) * sizeof(double)); /* value / sum / mean */
    double *c = arena_alloc(&q->arena, (ngroups + 1) * sizeof(double)); /* kahan compensation */
    double *cntv = arena_alloc(&q->arena, (ngroups + 1) * sizeof(double));
    double *mean = arena_alloc(&q->arena, (ngroups + 1) * sizeof(double));
    uint8_t *incr = arena_alloc(&q->arena, ngroups + 1);
    /* quantile: values grouped */
    double *qvals = NULL;
    size_t *qoff = NULL, *qn = NULL;
    if (op == PROMQL_AGG_QUANTILE) {
        qvals = arena_alloc(&q->arena, (ns + 1) * sizeof(double));
        qoff = arena_calloc(&q->arena, (ngroups + 2) * sizeof(size_t));
        qn = arena_alloc(&q->arena, (ngroups + 1) * sizeof(size_t));
        for (size_t i = 0; i < ns; i++)
            qoff[gid[i] + 1]++;
        for (size_t k = 0; k < ngroups; k++)
            qoff[k + 1] += qoff[k];
    }
    for (size_t j = 0; j < g->n; j++) {
        q_check(q);
        memset(cntv, 0, ngroups * sizeof(double));
        if (op == PROMQL_AGG_QUANTILE) memset(qn, 0, ngroups * sizeof(size_t));
        for (size_t i = 0; i < ns; i++) {
            if (!in.vs[i].has[j]) continue;
            size_t k = (size_t)gid[i];
            double f = in.vs[i].v[j];
            double n = ++cntv[k];
            if (n == 1) {
                a[k] = f;
                c[k] = 0;
                mean[k] = f;
                incr[k] = 0;
                if (op == PROMQL_AGG_STDDEV || op == PROMQL_AGG_STDVAR) a[k] = (f != f || isinf(f)) ? NAN : 0;
                if (op == PROMQL_AGG_QUANTILE) qvals[qoff[k] + qn[k]++] = f;
                continue;
            }
            switch (op) {
            case PROMQL_AGG_SUM: a[k] = prom_kahan_inc(f, a[k], &c[k]); break;
            case PROMQL_AGG_AVG:
                if (!incr[k]) {
                    double cc = c[k];
                    double nv = prom_kahan_inc(f, a[k], &cc);
                    if (!isinf(nv)) {
                        a[k] = nv;
                        c[k] = cc;
                        break;
                    }
                    incr[k] = 1;
                    mean[k] = a[k] / (n - 1);
                    c[k] = c[k] / (n - 1);
                }
                {
                    double qq = (n - 1) / n;
                    double cc = qq * c[k];
                    mean[k] = prom_kahan_inc(f / n, qq * mean[k], &cc);
                    c[k] = cc;
                }
                break;
            case PROMQL_AGG_MIN:
                if (a[k] > f || a[k] != a[k]) a[k] = f;
                break;
            case PROMQL_AGG_MAX:
                if (a[k] < f || a[k] != a[k]) a[k] = f;
                break;
            case PROMQL_AGG_STDDEV:
            case PROMQL_AGG_STDVAR: {
                if (f != f || isinf(f)) {
                    a[k] = NAN;
                    break;
                }
                double d = f - mean[k];
                mean[k] += d / n;
                a[k] += d * (f - mean[k]);
                break;
            }
            case PROMQL_AGG_QUANTILE: qvals[qoff[k] + qn[k]++] = f; break;
            default: break;
            }
        }
        for (size_t k = 0; k < ngroups; k++) {
            if (cntv[k] == 0) continue;
            double v;
            switch (op) {
            case PROMQL_AGG_SUM: v = isinf(a[k]) ? a[k] : a[k] + c[k]; break;
            case PROMQL_AGG_AVG:
                if (incr[k])
                    v = isinf(mean[k]) ? mean[k] : mean[k] + c[k];
                else
                    v = isinf(a[k]) ? a[k] / cntv[k] : (a[k] + c[k]) / cntv[k];
                if (cntv[k] == 1) v = a[k];
                break;
            case PROMQL_AGG_COUNT: v = cntv[k]; break;
            case PROMQL_AGG_GROUP: v = 1; break;
            case PROMQL_AGG_STDVAR: v = a[k] / cntv[k]; break;
            case PROMQL_AGG_STDDEV: v = sqrt(a[k] / cntv[k]); break;
            case PROMQL_AGG_QUANTILE: v = prom_quantile(param.sv ? param.sv[j] : NAN, qvals + qoff[k], qn[k]); break;
            default: v = a[k]; break;
            }
            out.vs[k].v[j] = v;
            out.vs[k].has[j] = 1;
        }
        if (op == PROMQL_AGG_QUANTILE) {
            double qv = param.sv ? param.sv[j] : NAN;
            if (!(qv >= 0 && qv <= 1)) {
                char b[64];
                pl_format_float(b, qv);
                q_warn(q, e->param->pos_start, "quantile value should be between 0 and 1, got %s", b);
            }
        }
    }
    return out;
}
