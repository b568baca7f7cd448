/* postings.c — see postings.h.
 *
 * Per label name: a dense array of its values (16 bytes each: value id,
 * count, and either two inline ids or a pointer to the id array) and an
 * open-addressing index of 4-byte positions into it, at most 75% full. The
 * dense array grows by mremap when large, so a name with a million values
 * (a unique label) costs about 16 + 4/0.5 bytes per value and never holds
 * two copies of itself. An id array keeps its capacity in its first word. */
#include "tsdb/postings.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "tsdb/headmem.h"

typedef struct pvalue {
    uint32_t value; /* symbol id */
    uint32_t n;     /* ids in the list */
    union {
        uint32_t ids[2]; /* n <= 2 */
        uint32_t *list;  /* n > 2: list[0] = capacity, ids from list[1] */
    } u;
} pvalue_t;

typedef struct pname {
    pthread_rwlock_t lock;
    uint32_t name;
    uint32_t nvals, vals_cap;
    pvalue_t *vals;
    uint32_t index_cap, pad;
    uint32_t *index; /* position + 1 in vals; 0 = empty */
} pname_t;

struct postings_index {
    pthread_rwlock_t lock; /* guards the table of names */
    uint32_t cap, count;
    pname_t **names; /* open addressing by name id */
    _Atomic size_t bytes;
    _Atomic uint64_t entries;
};

/* ---- idvec ---------------------------------------------------------- */

static int idvec_reserve(idvec_t *iv, size_t extra) {
    if (iv->n + extra <= iv->cap) return 0;
    size_t nc = iv->cap ? iv->cap : 64;
    while (nc < iv->n + extra) nc *= 2;
    uint32_t *v = realloc(iv->v, nc * sizeof *v);
    if (!v) return -1;
    iv->v = v;
    iv->cap = nc;
    return 0;
}

int idvec_push(idvec_t *iv, uint32_t id) {
    if (idvec_reserve(iv, 1) != 0) return -1;
    iv->v[iv->n++] = id;
    return 0;
}

int idvec_append(idvec_t *iv, const uint32_t *ids, size_t n) {
    if (n == 0) return 0;
    if (idvec_reserve(iv, n) != 0) return -1;
    memcpy(iv->v + iv->n, ids, n * sizeof *ids);
    iv->n += n;
    return 0;
}

void idvec_free(idvec_t *iv) {
    free(iv->v);
    memset(iv, 0, sizeof *iv);
}

/* ---- index ---------------------------------------------------------- */

static uint32_t hash32(uint32_t x) { return (uint32_t)(((uint64_t)x * 0x9E3779B97F4A7C15ull) >> 32); }

postings_index_t *postings_new(void) {
    postings_index_t *pi = calloc(1, sizeof *pi);
    if (!pi) return NULL;
    pthread_rwlock_init(&pi->lock, NULL);
    atomic_init(&pi->bytes, sizeof *pi);
    atomic_init(&pi->entries, 0);
    return pi;
}

static size_t list_bytes(uint32_t cap) { return ((size_t)cap + 1) * sizeof(uint32_t); }

void postings_free(postings_index_t *pi) {
    if (!pi) return;
    for (uint32_t i = 0; i < pi->cap; i++) {
        pname_t *pn = pi->names[i];
        if (!pn) continue;
        for (uint32_t v = 0; v < pn->nvals; v++)
            if (pn->vals[v].n > 2) hm_free(pn->vals[v].u.list, list_bytes(pn->vals[v].u.list[0]));
        hm_free(pn->vals, (size_t)pn->vals_cap * sizeof *pn->vals);
        hm_free(pn->index, (size_t)pn->index_cap * sizeof *pn->index);
        pthread_rwlock_destroy(&pn->lock);
        free(pn);
    }
    free(pi->names);
    pthread_rwlock_destroy(&pi->lock);
    free(pi);
}

static void add_bytes(postings_index_t *pi, long delta) {
    if (delta >= 0)
        atomic_fetch_add_explicit(&pi->bytes, (size_t)delta, memory_order_relaxed);
    else
        atomic_fetch_sub_explicit(&pi->bytes, (size_t)-delta, memory_order_relaxed);
}

/* Slot of name in the names table, or the empty slot where it goes. Caller holds pi->lock. */
static uint32_t name_slot(const postings_index_t *pi, uint32_t name) {
    uint32_t mask = pi->cap - 1;
    for (uint32_t i = hash32(name) & mask;; i = (i + 1) & mask)
        if (!pi->names[i] || pi->names[i]->name == name) return i;
}

static pname_t *find_name(postings_index_t *pi, uint32_t name) {
    pname_t *pn = NULL;
    pthread_rwlock_rdlock(&pi->lock);
    if (pi->cap) pn = pi->names[name_slot(pi, name)];
    pthread_rwlock_unlock(&pi->lock);
    return pn;
}

static pname_t *get_name(postings_index_t *pi, uint32_t name) {
    pname_t *pn = find_name(pi, name);
    if (pn) return pn;
    pthread_rwlock_wrlock(&pi->lock);
    if ((pi->count + 1) * 4 > pi->cap * 3) {
        uint32_t ncap = pi->cap ? pi->cap * 2 : 16;
        pname_t **nn = calloc(ncap, sizeof *nn);
        if (!nn) goto out;
        for (uint32_t i = 0; i < pi->cap; i++) {
            pname_t *x = pi->names[i];
            if (!x) continue;
            uint32_t j = hash32(x->name) & (ncap - 1);
            while (nn[j]) j = (j + 1) & (ncap - 1);
            nn[j] = x;
        }
        add_bytes(pi, ((long)ncap - (long)pi->cap) * (long)sizeof *nn);
        free(pi->names);
        pi->names = nn;
        pi->cap = ncap;
    }
    uint32_t i = name_slot(pi, name);
    pn = pi->names[i];
    if (!pn) {
        pn = calloc(1, sizeof *pn);
        if (!pn) goto out;
        pthread_rwlock_init(&pn->lock, NULL);
        pn->name = name;
        pi->names[i] = pn;
        pi->count++;
        add_bytes(pi, (long)sizeof *pn);
    }
out:
    pthread_rwlock_unlock(&pi->lock);
    return pn;
}

/* Position of value in pn->vals, or -1; *slot gets the index slot where it is or would go. */
static long value_pos(const pname_t *pn, uint32_t value, uint32_t *slot) {
    if (pn->index_cap == 0) return -1;
    uint32_t mask = pn->index_cap - 1;
    for (uint32_t i = hash32(value) & mask;; i = (i + 1) & mask) {
        uint32_t p = pn->index[i];
        if (p == 0 || pn->vals[p - 1].value == value) {
            if (slot) *slot = i;
            return p ? (long)p - 1 : -1;
        }
    }
}

static int grow_index(postings_index_t *pi, pname_t *pn) {
    uint32_t ncap = pn->index_cap ? pn->index_cap * 2 : 8;
    uint32_t *ni = hm_alloc((size_t)ncap * sizeof *ni);
    if (!ni) return -1;
    for (uint32_t p = 0; p < pn->nvals; p++) {
        uint32_t j = hash32(pn->vals[p].value) & (ncap - 1);
        while (ni[j]) j = (j + 1) & (ncap - 1);
        ni[j] = p + 1;
    }
    hm_free(pn->index, (size_t)pn->index_cap * sizeof *pn->index);
    add_bytes(pi, ((long)ncap - (long)pn->index_cap) * (long)sizeof *ni);
    pn->index = ni;
    pn->index_cap = ncap;
    return 0;
}

static int grow_vals(postings_index_t *pi, pname_t *pn) {
    uint32_t ncap = pn->vals_cap < 4096 ? (pn->vals_cap ? pn->vals_cap * 2 : 4) : pn->vals_cap + pn->vals_cap / 8;
    pvalue_t *nv = hm_realloc(pn->vals, (size_t)pn->vals_cap * sizeof *nv, (size_t)ncap * sizeof *nv);
    if (!nv) return -1;
    add_bytes(pi, ((long)ncap - (long)pn->vals_cap) * (long)sizeof *nv);
    pn->vals = nv;
    pn->vals_cap = ncap;
    return 0;
}

/* Inserts id into the sorted ids[0..n) (room for n + 1), from the back:
 * ids nearly always arrive in order, so this is an append. */
static void insert_sorted(uint32_t *ids, uint32_t n, uint32_t id) {
    uint32_t i = n;
    while (i > 0 && ids[i - 1] > id) {
        ids[i] = ids[i - 1];
        i--;
    }
    ids[i] = id;
}

static int add_id(postings_index_t *pi, pvalue_t *pv, uint32_t id) {
    if (pv->n < 2) {
        insert_sorted(pv->u.ids, pv->n, id);
    } else {
        if (pv->n == 2) {
            uint32_t *l = hm_alloc(list_bytes(4));
            if (!l) return -1;
            l[0] = 4;
            l[1] = pv->u.ids[0];
            l[2] = pv->u.ids[1];
            pv->u.list = l;
            add_bytes(pi, (long)list_bytes(4));
        } else if (pv->n == pv->u.list[0]) {
            uint32_t cap = pv->u.list[0];
            uint32_t ncap = cap < 4096 ? cap * 2 : cap + cap / 8;
            uint32_t *l = hm_realloc(pv->u.list, list_bytes(cap), list_bytes(ncap));
            if (!l) return -1;
            l[0] = ncap;
            pv->u.list = l;
            add_bytes(pi, (long)list_bytes(ncap) - (long)list_bytes(cap));
        }
        insert_sorted(pv->u.list + 1, pv->n, id);
    }
    pv->n++;
    atomic_fetch_add_explicit(&pi->entries, 1, memory_order_relaxed);
    return 0;
}

int postings_add(postings_index_t *pi, uint32_t name, uint32_t value, uint32_t id) {
    pname_t *pn = get_name(pi, name);
    if (!pn) return -1;
    int rc = -1;
    pthread_rwlock_wrlock(&pn->lock);
    uint32_t slot = 0;
    long pos = value_pos(pn, value, &slot);
    if (pos < 0) {
        if ((uint64_t)(pn->nvals + 1) * 4 > (uint64_t)pn->index_cap * 3) {
            if (grow_index(pi, pn) != 0) goto out;
            value_pos(pn, value, &slot);
        }
        if (pn->nvals == pn->vals_cap && grow_vals(pi, pn) != 0) goto out;
        pos = pn->nvals++;
        memset(&pn->vals[pos], 0, sizeof pn->vals[pos]);
        pn->vals[pos].value = value;
        pn->index[slot] = (uint32_t)pos + 1;
    }
    rc = add_id(pi, &pn->vals[pos], id);
out:
    pthread_rwlock_unlock(&pn->lock);
    return rc;
}

static const uint32_t *value_ids(const pvalue_t *pv) { return pv->n <= 2 ? pv->u.ids : pv->u.list + 1; }

bool postings_has_name(postings_index_t *pi, uint32_t name) { return find_name(pi, name) != NULL; }

long postings_get(postings_index_t *pi, uint32_t name, uint32_t value, idvec_t *out) {
    pname_t *pn = find_name(pi, name);
    if (!pn) return 0;
    long n = 0;
    pthread_rwlock_rdlock(&pn->lock);
    long pos = value_pos(pn, value, NULL);
    if (pos >= 0) {
        const pvalue_t *pv = &pn->vals[pos];
        n = idvec_append(out, value_ids(pv), pv->n) == 0 ? (long)pv->n : -1;
    }
    pthread_rwlock_unlock(&pn->lock);
    return n;
}

int postings_foreach_value(postings_index_t *pi, uint32_t name, postings_value_fn fn, void *ctx) {
    pname_t *pn = find_name(pi, name);
    if (!pn) return 0;
    int rc = 0;
    pthread_rwlock_rdlock(&pn->lock);
    for (uint32_t p = 0; p < pn->nvals && rc == 0; p++)
        rc = fn(ctx, pn->vals[p].value, value_ids(&pn->vals[p]), pn->vals[p].n);
    pthread_rwlock_unlock(&pn->lock);
    return rc;
}

int postings_foreach_name(postings_index_t *pi, postings_name_fn fn, void *ctx) {
    int rc = 0;
    pthread_rwlock_rdlock(&pi->lock);
    for (uint32_t i = 0; i < pi->cap && rc == 0; i++)
        if (pi->names[i]) rc = fn(ctx, pi->names[i]->name);
    pthread_rwlock_unlock(&pi->lock);
    return rc;
}

size_t postings_bytes(const postings_index_t *pi) { return atomic_load_explicit(&pi->bytes, memory_order_relaxed); }

uint64_t postings_entries(const postings_index_t *pi) {
    return atomic_load_explicit(&pi->entries, memory_order_relaxed);
}

/* ---- removal (head GC) ------------------------------------------------ */

/* Rebuilds pn's value index at capacity ncap (a power of two, > nvals * 4/3),
 * or in place at its old capacity when memory is short. */
static void rebuild_index(postings_index_t *pi, pname_t *pn, uint32_t ncap) {
    uint32_t *ni = ncap < pn->index_cap ? hm_alloc((size_t)ncap * sizeof *ni) : NULL;
    if (!ni) {
        memset(pn->index, 0, (size_t)pn->index_cap * sizeof *pn->index);
        for (uint32_t p = 0; p < pn->nvals; p++) {
            uint32_t j = hash32(pn->vals[p].value) & (pn->index_cap - 1);
            while (pn->index[j]) j = (j + 1) & (pn->index_cap - 1);
            pn->index[j] = p + 1;
        }
        return;
    }
    for (uint32_t p = 0; p < pn->nvals; p++) {
        uint32_t j = hash32(pn->vals[p].value) & (ncap - 1);
        while (ni[j]) j = (j + 1) & (ncap - 1);
        ni[j] = p + 1;
    }
    hm_free(pn->index, (size_t)pn->index_cap * sizeof *pn->index);
    add_bytes(pi, ((long)ncap - (long)pn->index_cap) * (long)sizeof *ni);
    pn->index = ni;
    pn->index_cap = ncap;
}

/* Filters one value's ids; returns how many were removed. */
static uint32_t filter_value(postings_index_t *pi, pvalue_t *pv, postings_dead_fn dead, void *ctx) {
    uint32_t *ids = pv->n <= 2 ? pv->u.ids : pv->u.list + 1;
    uint32_t k = 0, n = pv->n;
    for (uint32_t i = 0; i < n; i++)
        if (!dead(ctx, ids[i])) ids[k++] = ids[i];
    if (k == n) return 0;
    if (n > 2) {
        uint32_t *l = pv->u.list, cap = l[0];
        if (k <= 2) {
            uint32_t a = k > 0 ? l[1] : 0, b = k > 1 ? l[2] : 0;
            hm_free(l, list_bytes(cap));
            add_bytes(pi, -(long)list_bytes(cap));
            pv->u.ids[0] = a;
            pv->u.ids[1] = b;
        } else if (cap > 16 && (uint64_t)k * 4 < cap) {
            /* Mostly empty now: give the memory back. */
            uint32_t ncap = k * 2;
            uint32_t *nl = hm_alloc(list_bytes(ncap));
            if (nl) {
                memcpy(nl + 1, l + 1, (size_t)k * sizeof *nl);
                nl[0] = ncap;
                hm_free(l, list_bytes(cap));
                add_bytes(pi, (long)list_bytes(ncap) - (long)list_bytes(cap));
                pv->u.list = nl;
            }
        }
    }
    pv->n = k;
    atomic_fetch_sub_explicit(&pi->entries, n - k, memory_order_relaxed);
    return n - k;
}

static void free_name(postings_index_t *pi, pname_t *pn) {
    for (uint32_t v = 0; v < pn->nvals; v++)
        if (pn->vals[v].n > 2) hm_free(pn->vals[v].u.list, list_bytes(pn->vals[v].u.list[0]));
    hm_free(pn->vals, (size_t)pn->vals_cap * sizeof *pn->vals);
    hm_free(pn->index, (size_t)pn->index_cap * sizeof *pn->index);
    add_bytes(pi, -(long)((size_t)pn->vals_cap * sizeof *pn->vals + (size_t)pn->index_cap * sizeof *pn->index +
                          sizeof *pn));
    pthread_rwlock_destroy(&pn->lock);
    free(pn);
}

uint64_t postings_remove(postings_index_t *pi, postings_dead_fn dead, void *ctx) {
    uint64_t removed = 0;
    bool names_changed = false;
    pthread_rwlock_wrlock(&pi->lock);
    /* The names table is rebuilt when names go (open addressing has no
     * tombstones); without memory for it, empty names simply stay. */
    pname_t **nn = pi->cap ? calloc(pi->cap, sizeof *nn) : NULL;
    for (uint32_t i = 0; i < pi->cap; i++) {
        pname_t *pn = pi->names[i];
        if (!pn) continue;
        pthread_rwlock_wrlock(&pn->lock);
        uint32_t k = 0;
        bool dropped = false;
        for (uint32_t p = 0; p < pn->nvals; p++) {
            removed += filter_value(pi, &pn->vals[p], dead, ctx);
            if (pn->vals[p].n == 0) {
                dropped = true;
                continue;
            }
            if (k != p) pn->vals[k] = pn->vals[p];
            k++;
        }
        pn->nvals = k;
        if (dropped) {
            uint32_t ncap = 8;
            while ((uint64_t)k * 4 > (uint64_t)ncap * 3) ncap *= 2;
            rebuild_index(pi, pn, ncap);
            if (pn->vals_cap > 64 && (uint64_t)k * 4 < pn->vals_cap) {
                uint32_t ncap2 = k * 2;
                pvalue_t *nv = hm_alloc((size_t)ncap2 * sizeof *nv);
                if (nv) {
                    memcpy(nv, pn->vals, (size_t)k * sizeof *nv);
                    hm_free(pn->vals, (size_t)pn->vals_cap * sizeof *pn->vals);
                    add_bytes(pi, ((long)ncap2 - (long)pn->vals_cap) * (long)sizeof *nv);
                    pn->vals = nv;
                    pn->vals_cap = ncap2;
                }
            }
        }
        pthread_rwlock_unlock(&pn->lock);
        if (k == 0 && nn) {
            free_name(pi, pn);
            pi->names[i] = NULL;
            pi->count--;
            names_changed = true;
        }
    }
    if (names_changed) {
        for (uint32_t i = 0; i < pi->cap; i++) {
            pname_t *x = pi->names[i];
            if (!x) continue;
            uint32_t j = hash32(x->name) & (pi->cap - 1);
            while (nn[j]) j = (j + 1) & (pi->cap - 1);
            nn[j] = x;
        }
        free(pi->names);
        pi->names = nn;
        nn = NULL;
    }
    free(nn);
    pthread_rwlock_unlock(&pi->lock);
    return removed;
}
