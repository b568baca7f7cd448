/* fanout.c — one queryable over many leaves, replicas deduplicated (query.h).
 *
 * Each select copies what the leaves return (remote_series_set_t): the
 * leaves answer on their own threads, and merging needs every replica of a
 * series at hand. Leaf state that a probe thread updates (external labels,
 * time range, health) sits behind one mutex; a select takes a snapshot of
 * the leaves it will ask and releases it before any I/O. */
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/strset.h"
#include "query/query.h"
#include "remote/remote_client.h"

typedef struct leaf {
    char *name;
    queryable_t q;
    /* guarded by fanout.mu */
    strbuf_t ext;  /* the label sets, one after another: name\0value\0... */
    size_t *set_n; /* labels in each set */
    size_t nsets;  /* 0: unknown (every select asks the leaf) */
    int64_t mint, maxt;
    bool up;
    /* counters */
    _Atomic uint64_t selects_ok, selects_failed;
} leaf_t;

struct query_fanout {
    leaf_t *leaves;
    size_t n;
    char **replica; /* replica label names */
    size_t nreplica;
    pthread_mutex_t mu;
};

query_fanout_t *query_fanout_new(const query_leaf_t *leaves, size_t n, const char *const *replica_labels,
                                 size_t nreplica_labels) {
    query_fanout_t *f = calloc(1, sizeof *f);
    if (!f) return NULL;
    pthread_mutex_init(&f->mu, NULL);
    f->leaves = calloc(n + 1, sizeof *f->leaves);
    f->replica = calloc(nreplica_labels + 1, sizeof *f->replica);
    if (!f->leaves || !f->replica) goto oom;
    for (size_t i = 0; i < n; i++) {
        leaf_t *l = &f->leaves[i];
        f->n = i + 1;
        l->name = strdup(leaves[i].name ? leaves[i].name : "");
        if (!l->name) goto oom;
        l->q = leaves[i].q;
        l->mint = INT64_MIN;
        l->maxt = INT64_MAX;
        l->up = true;
    }
    for (size_t i = 0; i < nreplica_labels; i++) {
        f->replica[i] = strdup(replica_labels[i]);
        if (!f->replica[i]) goto oom;
        f->nreplica = i + 1;
    }
    return f;
oom:
    query_fanout_free(f);
    return NULL;
}

void query_fanout_free(query_fanout_t *f) {
    if (!f) return;
    for (size_t i = 0; f->leaves && i < f->n; i++) {
        free(f->leaves[i].name);
        strbuf_free(&f->leaves[i].ext);
        free(f->leaves[i].set_n);
    }
    for (size_t i = 0; f->replica && i < f->nreplica; i++) free(f->replica[i]);
    free(f->leaves);
    free(f->replica);
    pthread_mutex_destroy(&f->mu);
    free(f);
}

size_t query_fanout_nleaves(const query_fanout_t *f) { return f->n; }

void query_fanout_set_leaf_info(query_fanout_t *f, size_t i, const char *ext_pairs, size_t next, int64_t mint,
                                int64_t maxt, bool up) {
    query_fanout_set_leaf_sets(f, i, ext_pairs, ext_pairs ? &next : NULL, ext_pairs ? 1 : 0, !ext_pairs, mint, maxt,
                               up);
}

void query_fanout_set_leaf_sets(query_fanout_t *f, size_t i, const char *pairs, const size_t *counts, size_t nsets,
                                bool keep_labels, int64_t mint, int64_t maxt, bool up) {
    if (i >= f->n) return;
    pthread_mutex_lock(&f->mu);
    leaf_t *l = &f->leaves[i];
    size_t *sn = keep_labels ? NULL : calloc(nsets + 1, sizeof *sn);
    if (sn) {
        strbuf_reset(&l->ext);
        const char *p = pairs ? pairs : "";
        for (size_t s = 0; s < nsets; s++) {
            for (size_t k = 0; k < 2 * counts[s]; k++) {
                size_t len = strlen(p) + 1;
                strbuf_append(&l->ext, p, len);
                p += len;
            }
            sn[s] = counts[s];
        }
        free(l->set_n);
        l->set_n = sn;
        l->nsets = nsets;
    }
    l->mint = mint;
    l->maxt = maxt;
    l->up = up;
    pthread_mutex_unlock(&f->mu);
}

/* A label value in the text format: backslash, quote and newline escaped. */
static void write_escaped(strbuf_t *sb, const char *s) {
    for (; *s; s++) {
        if (*s == '\\' || *s == '"') strbuf_putc(sb, '\\');
        if (*s == '\n') strbuf_puts(sb, "\\n");
        else strbuf_putc(sb, *s);
    }
}

void query_fanout_write_metrics(query_fanout_t *f, strbuf_t *sb) {
    strbuf_puts(sb, "# HELP promlab_query_endpoint_up Whether the endpoint answered the last probe of its external labels.\n"
                    "# TYPE promlab_query_endpoint_up gauge\n");
    pthread_mutex_lock(&f->mu);
    for (size_t i = 0; i < f->n; i++) {
        strbuf_puts(sb, "promlab_query_endpoint_up{endpoint=\"");
        write_escaped(sb, f->leaves[i].name);
        strbuf_printf(sb, "\"} %d\n", f->leaves[i].up ? 1 : 0);
    }
    pthread_mutex_unlock(&f->mu);
    strbuf_puts(sb, "# HELP promlab_query_endpoint_selects_total Selects sent to each endpoint, by result.\n"
                    "# TYPE promlab_query_endpoint_selects_total counter\n");
    for (size_t i = 0; i < f->n; i++) {
        for (int ok = 1; ok >= 0; ok--) {
            strbuf_puts(sb, "promlab_query_endpoint_selects_total{endpoint=\"");
            write_escaped(sb, f->leaves[i].name);
            strbuf_printf(sb, "\",result=\"%s\"} %" PRIu64 "\n", ok ? "success" : "error",
                          atomic_load(ok ? &f->leaves[i].selects_ok : &f->leaves[i].selects_failed));
        }
    }
}

/* ---- per-request ---- */

/* A request is normally used by one thread; the mutex covers the warnings
 * for a view shared by several (the default one of `promlab query`). */
struct query_request {
    query_fanout_t *f;
    bool dedup, partial;
    int64_t max_resolution_ms;
    pthread_mutex_t mu;
    char **warnings;
    size_t nwarnings;
};

query_request_t *query_request_new(query_fanout_t *f, bool dedup, bool partial_response) {
    query_request_t *r = calloc(1, sizeof *r);
    if (!r) return NULL;
    r->f = f;
    r->dedup = dedup;
    r->partial = partial_response;
    pthread_mutex_init(&r->mu, NULL);
    return r;
}

void query_request_set_max_resolution(query_request_t *r, int64_t ms) { r->max_resolution_ms = ms > 0 ? ms : 0; }

size_t query_request_warnings(const query_request_t *r, const char *const **out) {
    *out = (const char *const *)r->warnings;
    return r->nwarnings;
}

void query_request_free(query_request_t *r) {
    if (!r) return;
    for (size_t i = 0; i < r->nwarnings; i++) free(r->warnings[i]);
    free(r->warnings);
    pthread_mutex_destroy(&r->mu);
    free(r);
}

static void add_warning(query_request_t *r, const char *msg) {
    pthread_mutex_lock(&r->mu);
    bool seen = false;
    for (size_t i = 0; i < r->nwarnings && !seen; i++) seen = strcmp(r->warnings[i], msg) == 0;
    char **nw = seen ? NULL : realloc(r->warnings, (r->nwarnings + 1) * sizeof *nw);
    if (nw) {
        r->warnings = nw;
        if ((r->warnings[r->nwarnings] = strdup(msg))) r->nwarnings++;
    }
    pthread_mutex_unlock(&r->mu);
}

/* One leaf's part of a select, run on its own thread. */
typedef struct job {
    leaf_t *leaf;
    const matcher_t *ms;
    size_t nms;
    int64_t mint, maxt;
    storage_select_hints_t hints;
    remote_series_set_t set;
    int rc;
    pl_err_t err;
} job_t;

static int job_collect(void *ctx, const label_t *ls, size_t n, const sample_t *s, size_t ns) {
    job_t *j = ctx;
    for (size_t i = 0; i < j->nms; i++) { /* a leaf may not filter on its external labels */
        const char *v = labels_get(ls, n, j->ms[i].name);
        if (!matcher_matches(&j->ms[i], v ? v : "")) return 0;
    }
    if (ns == 0) return 0;
    return remote_series_set_add(&j->set, ls, n, s, ns) < 0 ? pl_err_set(&j->err, "out of memory") : 0;
}

static void *job_run(void *arg) {
    job_t *j = arg;
    const queryable_t *q = &j->leaf->q;
    j->rc = q->select_hinted
                ? q->select_hinted(q->impl, j->ms, j->nms, j->mint, j->maxt, &j->hints, job_collect, j, &j->err)
                : q->select(q->impl, j->ms, j->nms, j->mint, j->maxt, job_collect, j, &j->err);
    atomic_fetch_add(j->rc == 0 ? &j->leaf->selects_ok : &j->leaf->selects_failed, 1);
    return NULL;
}

/* Whether the leaf's external labels and time range allow an answer. */
static bool leaf_selected(const leaf_t *l, const matcher_t *ms, size_t nms, int64_t mint, int64_t maxt) {
    if (l->maxt < mint || l->mint > maxt) return false;
    if (l->nsets == 0) return true;
    /* Selected when any of its label sets (a store holds several) allows the matchers. */
    const char *p = l->ext.data ? l->ext.data : "";
    for (size_t s = 0; s < l->nsets; s++) {
        bool ok = true;
        for (size_t k = 0; k < l->set_n[s]; k++) {
            const char *name = p, *value = p + strlen(p) + 1;
            p = value + strlen(value) + 1;
            for (size_t i = 0; ok && i < nms; i++)
                if (strcmp(ms[i].name, name) == 0 && !matcher_matches(&ms[i], value)) ok = false;
        }
        if (ok) return true;
    }
    return false;
}

/* A series of the merged answer: its labels without the replica labels
 * (dedup) or all of them, and the series it came from. */
typedef struct entry {
    label_t *key; /* malloc'd array of borrowed strings */
    size_t nkey;
    const remote_series_t *s;
} entry_t;

static int cmp_entry(const void *a, const void *b) {
    const entry_t *x = a, *y = b;
    int c = labels_compare(x->key, x->nkey, y->key, y->nkey);
    if (c) return c;
    return labels_compare(x->s->ls, x->s->n, y->s->ls, y->s->n); /* replicas in label order */
}

static bool is_replica(const query_fanout_t *f, const char *name) {
    for (size_t i = 0; i < f->nreplica; i++)
        if (strcmp(f->replica[i], name) == 0) return true;
    return false;
}

/* Union of two sample lists in time order; a shared timestamp keeps a's. */
static size_t chain_merge(const sample_t *a, size_t na, const sample_t *b, size_t nb, sample_t *out) {
    size_t i = 0, j = 0, n = 0;
    while (i < na || j < nb) {
        if (j == nb || (i < na && a[i].t <= b[j].t)) {
            if (j < nb && i < na && a[i].t == b[j].t) j++;
            out[n++] = a[i++];
        } else {
            out[n++] = b[j++];
        }
    }
    return n;
}

static int req_select_hinted(void *impl, const matcher_t *ms, size_t nms, int64_t mint, int64_t maxt,
                             const storage_select_hints_t *hints, storage_series_fn fn, void *ctx, pl_err_t *err) {
    query_request_t *r = impl;
    /* Leaves get the function hint and this request's resolution; they answer
     * sorted with every sample (unsorted/last_only are not passed on). */
    storage_select_hints_t lh = {.max_resolution_ms = r->max_resolution_ms};
    if (hints) {
        lh.func = hints->func;
        lh.range_ms = hints->range_ms;
        lh.step_ms = hints->step_ms;
    }
    /* Thanos adjusts replicas' counters when the query applies a counter
     * function; the name convention covers selects without the hint. */
    bool counter_func = dedup_is_counter_func(lh.func);
    query_fanout_t *f = r->f;
    job_t *jobs = calloc(f->n + 1, sizeof *jobs);
    pthread_t *th = calloc(f->n + 1, sizeof *th);
    bool *started = calloc(f->n + 1, sizeof *started);
    entry_t *es = NULL;
    int rc = 0;
    if (!jobs || !th || !started) {
        rc = pl_err_set(err, "out of memory");
        goto out;
    }
    size_t nj = 0;
    pthread_mutex_lock(&f->mu);
    for (size_t i = 0; i < f->n; i++)
        if (leaf_selected(&f->leaves[i], ms, nms, mint, maxt))
            jobs[nj++] = (job_t){.leaf = &f->leaves[i], .ms = ms, .nms = nms, .mint = mint, .maxt = maxt, .hints = lh};
    pthread_mutex_unlock(&f->mu);
    /* The last leaf runs on this thread; the others on their own. */
    for (size_t i = 0; i + 1 < nj; i++) started[i] = pthread_create(&th[i], NULL, job_run, &jobs[i]) == 0;
    for (size_t i = 0; i < nj; i++)
        if (i + 1 == nj || !started[i]) job_run(&jobs[i]);
    for (size_t i = 0; i + 1 < nj; i++)
        if (started[i]) pthread_join(th[i], NULL);

    size_t total = 0;
    for (size_t i = 0; i < nj; i++) {
        if (jobs[i].rc != 0) {
            char msg[PL_ERR_MAX + 300];
            snprintf(msg, sizeof msg, "endpoint %s: %s", jobs[i].leaf->name,
                     jobs[i].err.msg[0] ? jobs[i].err.msg : "select failed");
            if (!r->partial) {
                rc = pl_err_set(err, "%s", msg);
                goto out;
            }
            add_warning(r, msg);
            continue;
        }
        total += jobs[i].set.n;
    }
    es = calloc(total + 1, sizeof *es);
    if (!es) {
        rc = pl_err_set(err, "out of memory");
        goto out;
    }
    bool dedup = r->dedup && f->nreplica > 0;
    size_t ne = 0;
    for (size_t i = 0; i < nj; i++) {
        if (jobs[i].rc != 0) continue;
        for (size_t k = 0; k < jobs[i].set.n; k++) {
            const remote_series_t *s = &jobs[i].set.v[k];
            entry_t *e = &es[ne++];
            e->s = s;
            e->key = malloc((s->n + 1) * sizeof *e->key);
            if (!e->key) {
                rc = pl_err_set(err, "out of memory");
                goto out;
            }
            for (size_t l = 0; l < s->n; l++)
                if (!dedup || !is_replica(f, s->ls[l].name)) e->key[e->nkey++] = s->ls[l];
        }
    }
    qsort(es, ne, sizeof *es, cmp_entry);
    sample_t *buf = NULL, *tmp = NULL;
    for (size_t i = 0; rc == 0 && i < ne;) {
        size_t j = i + 1;
        while (j < ne && labels_equal(es[i].key, es[i].nkey, es[j].key, es[j].nkey)) j++;
        if (j == i + 1) {
            rc = fn(ctx, es[i].key, es[i].nkey, es[i].s->s, es[i].s->ns);
            i = j;
            continue;
        }
        /* Several replicas (dedup) or the same series from several leaves. */
        size_t cap = 0;
        for (size_t k = i; k < j; k++) cap += es[k].s->ns;
        free(buf);
        free(tmp);
        buf = malloc((cap + 1) * sizeof *buf);
        tmp = malloc((cap + 1) * sizeof *tmp);
        if (!buf || !tmp) {
            rc = pl_err_set(err, "out of memory");
            break;
        }
        bool counter =
            dedup && (counter_func || dedup_is_counter_name(labels_get(es[i].key, es[i].nkey, LABEL_METRIC_NAME)));
        size_t nbuf = es[i].s->ns;
        memcpy(buf, es[i].s->s, nbuf * sizeof *buf);
        for (size_t k = i + 1; k < j; k++) {
            size_t nt = dedup ? dedup_penalty(buf, nbuf, es[k].s->s, es[k].s->ns, counter, tmp)
                              : chain_merge(buf, nbuf, es[k].s->s, es[k].s->ns, tmp);
            sample_t *sw = buf;
            buf = tmp;
            tmp = sw;
            nbuf = nt;
        }
        rc = fn(ctx, es[i].key, es[i].nkey, buf, nbuf);
        i = j;
    }
    free(buf);
    free(tmp);
out:
    if (es)
        for (size_t i = 0; i < total; i++) free(es[i].key);
    free(es);
    if (jobs)
        for (size_t i = 0; i < f->n; i++) remote_series_set_free(&jobs[i].set);
    free(jobs);
    free(th);
    free(started);
    return rc;
}

static int req_select(void *impl, const matcher_t *ms, size_t nms, int64_t mint, int64_t maxt, storage_series_fn fn,
                      void *ctx, pl_err_t *err) {
    return req_select_hinted(impl, ms, nms, mint, maxt, NULL, fn, ctx, err);
}

/* ---- label names and values: the union over the leaves ---- */

/* name NULL: label names. Replica labels are hidden when deduplicating. */
static int req_labels(query_request_t *r, const char *name, storage_string_fn fn, void *ctx, pl_err_t *err) {
    query_fanout_t *f = r->f;
    strset_t ss = {0};
    int rc = 0;
    bool dedup = r->dedup && f->nreplica > 0;
    if (name && dedup && is_replica(f, name)) return 0;
    for (size_t i = 0; i < f->n; i++) {
        leaf_t *l = &f->leaves[i];
        pl_err_t lerr = {{0}};
        int lrc = name ? l->q.label_values(l->q.impl, name, strset_add, &ss, &lerr)
                       : l->q.label_names(l->q.impl, strset_add, &ss, &lerr);
        if (lrc != 0) {
            char msg[PL_ERR_MAX + 300];
            snprintf(msg, sizeof msg, "endpoint %s: %s", l->name, lerr.msg[0] ? lerr.msg : "label request failed");
            if (!r->partial) {
                rc = pl_err_set(err, "%s", msg);
                break;
            }
            add_warning(r, msg);
            continue;
        }
        /* Every series of a leaf carries its external labels. */
        pthread_mutex_lock(&f->mu);
        const char *p = l->ext.data;
        size_t nlabels = 0;
        for (size_t s = 0; s < l->nsets; s++) nlabels += l->set_n[s];
        for (size_t k = 0; rc == 0 && k < nlabels; k++) {
            const char *en = p, *ev = p + strlen(p) + 1;
            p = ev + strlen(ev) + 1;
            if (!name) rc = strset_add(&ss, en);
            else if (strcmp(name, en) == 0) rc = strset_add(&ss, ev);
        }
        pthread_mutex_unlock(&f->mu);
        if (rc != 0) rc = pl_err_set(err, "out of memory");
    }
    if (rc == 0) {
        strset_sort_uniq(&ss);
        for (size_t i = 0; rc == 0 && i < ss.n; i++)
            if (name || !dedup || !is_replica(f, ss.v[i])) rc = fn(ctx, ss.v[i]);
    }
    strset_free(&ss);
    return rc;
}

static int req_label_names(void *impl, storage_string_fn fn, void *ctx, pl_err_t *err) {
    return req_labels(impl, NULL, fn, ctx, err);
}

static int req_label_values(void *impl, const char *name, storage_string_fn fn, void *ctx, pl_err_t *err) {
    return req_labels(impl, name, fn, ctx, err);
}

void query_request_queryable(query_request_t *r, queryable_t *out) {
    out->impl = r;
    out->select = req_select;
    out->label_names = req_label_names;
    out->label_values = req_label_values;
    out->select_hinted = req_select_hinted; /* hints go on to the leaves; answers stay sorted, every sample */
}
