/* head.c — the in-memory head block (see head.h and DESIGN.md "The head,
 * sized for millions of series").
 *
 * Memory layout, per series:
 *   series record  56 B  in a paged array indexed by series id (the ref):
 *                        XOR appender state (32), open chunk pointer, closed
 *                        chunk list pointer, label offset, chunk capacity,
 *                        label count (0 until the series is published).
 *   labels          8 B  per label: (name id, value id) in a paged arena of
 *                        u32 pairs; the strings live once in the symbol table.
 *   lookup        ~12 B  an open-addressing table of (32-bit hash tag, id)
 *                        slots split in 256 shards by the labels' xxh3, so a
 *                        resize copies 1/256 of it.
 *   postings       4 B   per label in postings.c (lists of 1-2 ids inline).
 *   samples              XOR chunk bytes in slab allocators (headmem.h), 16
 *                        of them, picked by id; the open chunk starts at 32
 *                        bytes and steps up through ~25% size classes.
 * No per-series malloc: records, labels, chunks and strings all sit in
 * pages, arenas or slabs.
 *
 * Concurrency. A series' chunks are guarded by one of 128 striped mutexes
 * picked by its id; the appender fast path (head_append_ref) takes only
 * that mutex (and, when a chunk grows, its allocator's). Ids come from an atomic counter; a record is built, gets its
 * first sample, and is published by a release store of its label count
 * before it is entered in the lookup table (under the shard's write lock) and
 * then in the postings. Readers find records through the lookup table, the
 * postings, or by scanning ids and skipping unpublished ones. The symbol
 * table and the postings have their own sharded / per-name rwlocks. Lock
 * order: lookup shard -> stripe -> chunk allocator -> slab pool; lookup shard -> symbol
 * shard; postings locks are never held while taking another.
 *
 * Chunks are cut at 120 samples, at 1024 bytes (as Prometheus 2.5x+ does
 * for XOR), or when a sample crosses a 2h boundary of the chunk's start, so
 * that no chunk straddles two blocks cut from the head. Full chunks stay in
 * memory in a per-series chunk list for now: only cut_chunk() and the list
 * walkers know where they live, so that they can move to chunks_head/ files. */
#include "tsdb/head.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tsdb/chunkenc.h"
#include "tsdb/headmem.h"
#include "tsdb/postings.h"
#include "tsdb/symbols.h"

#define HEAD_STRIPE_BITS 7
#define HEAD_STRIPES (1u << HEAD_STRIPE_BITS)
#define HEAD_SHARD_BITS 8
#define HEAD_ALLOC_BITS 4 /* chunk allocators, each shared by 8 stripes */
#define HEAD_ALLOCS (1u << HEAD_ALLOC_BITS)
#define HEAD_SHARDS (1u << HEAD_SHARD_BITS)
#define HEAD_MAX_SERIES (1u << 28)
#define SERIES_PAGE_SHIFT 14 /* 16384 records (896 KiB) per page */
#define PAIR_PAGE_SHIFT 16   /* 65536 label pairs (512 KiB) per page */
#define MAX_PAIRS ((uint64_t)1 << 32)
#define MAX_LABELS UINT16_MAX

#define HEAD_SAMPLES_PER_CHUNK 120
#define HEAD_CHUNK_MAX_BYTES 1024
#define HEAD_CHUNK_RANGE_MS (2 * 3600 * 1000LL)
#define HEAD_FIRST_CHUNK_BYTES 32

/* Under AddressSanitizer every chunk buffer is its own malloc so that ASan
 * checks its bounds; the slab code is then exercised by its own test and by
 * the non-ASan builds (TSan, release, bench). */
#if defined(__SANITIZE_ADDRESS__)
#define HEAD_SLAB_MALLOC true
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define HEAD_SLAB_MALLOC true
#endif
#endif
#ifndef HEAD_SLAB_MALLOC
#define HEAD_SLAB_MALLOC false
#endif

typedef struct head_tomb {
    uint32_t id;
    int64_t mint, maxt;
} head_tomb_t;

/* A full chunk. Where its bytes live is known only here and in cut_chunk(). */
typedef struct mem_chunk {
    int64_t mint, maxt;
    uint8_t *data;
    uint32_t len;   /* chunk bytes */
    uint32_t alloc; /* size given to slab_malloc */
} mem_chunk_t;

typedef struct chunk_list {
    uint32_t n, cap;
    mem_chunk_t c[];
} chunk_list_t;

typedef struct mem_series {
    xor_appender_t app;       /* state of the open chunk; app.t is the last timestamp */
    uint8_t *chunk;           /* open chunk bytes; NULL before the first sample */
    chunk_list_t *closed;     /* full chunks, oldest first; NULL if none */
    uint32_t labels;          /* first pair in the label arena */
    uint16_t chunk_cap;       /* bytes allocated for chunk */
    _Atomic uint16_t nlabels; /* 0 until the series is published */
} mem_series_t;
_Static_assert(sizeof(mem_series_t) == 56, "series record grew");

typedef struct stripe {
    _Alignas(64) pthread_mutex_t lock; /* guards the chunks of series id % HEAD_STRIPES */
    _Atomic uint64_t samples, ooo, dup, chunks;
} stripe_t;

/* Slab allocators for chunk bytes. Fewer than the stripes, because each holds
 * a partly used slab per size class: 16 of them waste at most ~16 x 25 x 16
 * KiB, 128 would waste 8 times that. */
typedef struct chunk_alloc {
    _Alignas(64) pthread_mutex_t lock;
    slab_alloc_t a;
} chunk_alloc_t;

typedef struct series_shard {
    pthread_rwlock_t lock;
    uint32_t cap, count;
    uint64_t *slots; /* (hash tag << 32) | id; 0 = empty */
} series_shard_t;

struct head {
    /* The GC lock. Appenders and readers hold it shared for the length of one
     * public call; head_truncate holds it exclusive while it frees chunks,
     * series records, label pairs, lookup slots, postings and symbols. It is
     * what keeps a series record, its labels and its symbol strings in place
     * while anyone looks at them. Writer-preferring, so a truncation is not
     * starved by a steady stream of appends; never taken twice by a thread
     * (the public functions call only unlocked internals). */
    pthread_rwlock_t gc_lock;
    stripe_t stripes[HEAD_STRIPES];
    chunk_alloc_t allocs[HEAD_ALLOCS];
    series_shard_t shards[HEAD_SHARDS];
    symtab_t *syms;
    postings_index_t *postings;
    slab_pool_t pool;
    hm_pages_t series; /* id -> mem_series_t */
    hm_pages_t pairs;  /* label arena: u32 (name, value) pairs */
    _Atomic uint32_t next_id;
    _Atomic uint64_t next_pair;
    _Atomic uint64_t series_created;
    _Atomic int64_t min_time, max_time;
    _Atomic size_t lookup_bytes;
    _Atomic int64_t min_valid; /* samples before it are refused (out of bounds); selects start there */
    int64_t chunk_range;        /* chunks end on multiples of it (the block range) */
    _Atomic uint64_t series_removed, chunks_removed, out_of_bounds;
    /* Deleted intervals (closed) of head series, sorted by (id, mint), from
     * the admin API's delete_series and WAL tombstone records. tomb_mu
     * guards them; ntombs is also read without it to skip the filtering
     * when there are none. */
    pthread_mutex_t tomb_mu;
    struct head_tomb *tombs;
    size_t tombs_cap;
    _Atomic size_t ntombs;
};

/* ---- small helpers ---------------------------------------------------- */

static stripe_t *stripe_of(head_t *h, uint32_t id) { return &h->stripes[id & (HEAD_STRIPES - 1)]; }

static chunk_alloc_t *alloc_of(head_t *h, uint32_t id) { return &h->allocs[id & (HEAD_ALLOCS - 1)]; }

static void *chunk_malloc(chunk_alloc_t *ca, size_t size) {
    pthread_mutex_lock(&ca->lock);
    void *p = slab_malloc(&ca->a, size);
    pthread_mutex_unlock(&ca->lock);
    return p;
}

static void chunk_free(chunk_alloc_t *ca, void *p, size_t size) {
    pthread_mutex_lock(&ca->lock);
    slab_free(&ca->a, p, size);
    pthread_mutex_unlock(&ca->lock);
}

/* A published series, or NULL. */
static mem_series_t *series_get(head_t *h, uint64_t ref) {
    if (ref == 0 || ref >= atomic_load_explicit(&h->next_id, memory_order_acquire)) return NULL;
    mem_series_t *s = hm_pages_try(&h->series, ref);
    if (!s || atomic_load_explicit(&s->nlabels, memory_order_acquire) == 0) return NULL;
    return s;
}

static const uint32_t *series_pairs(head_t *h, const mem_series_t *s) { return hm_pages_at(&h->pairs, s->labels); }

static uint64_t f64_bits(double v) {
    uint64_t b;
    memcpy(&b, &v, sizeof b);
    return b;
}

/* First timestamp of chunk bytes we wrote (a varint right after the count). */
static int64_t chunk_first_t(const uint8_t *data) {
    uint64_t x = 0;
    unsigned shift = 0;
    for (int i = 0; i < 10; i++) {
        uint8_t b = data[XOR_HEADER_BYTES + i];
        x |= (uint64_t)(b & 0x7f) << shift;
        if (b < 0x80) break;
        shift += 7;
    }
    return (int64_t)((x >> 1) ^ (0 - (x & 1)));
}

/* End (exclusive) of the 2h range holding t. */
static int64_t range_end(int64_t t, int64_t range) {
    int64_t q = t / range;
    if (t % range < 0) q--;
    if (q + 1 > INT64_MAX / range) return INT64_MAX;
    return (q + 1) * range;
}

static void note_time(head_t *h, int64_t t) {
    int64_t cur = atomic_load_explicit(&h->max_time, memory_order_relaxed);
    while (t > cur && !atomic_compare_exchange_weak_explicit(&h->max_time, &cur, t, memory_order_relaxed,
                                                             memory_order_relaxed)) {
    }
    cur = atomic_load_explicit(&h->min_time, memory_order_relaxed);
    while (t < cur && !atomic_compare_exchange_weak_explicit(&h->min_time, &cur, t, memory_order_relaxed,
                                                             memory_order_relaxed)) {
    }
}

static void bump(_Atomic uint64_t *c) { atomic_fetch_add_explicit(c, 1, memory_order_relaxed); }

/* ---- lifecycle -------------------------------------------------------- */

head_t *head_new(void) {
    void *mem = NULL;
    if (posix_memalign(&mem, 64, sizeof(head_t)) != 0) return NULL;
    head_t *h = mem;
    memset(h, 0, sizeof *h);
    if (slab_pool_init(&h->pool, HEAD_SLAB_MALLOC) != 0) {
        free(h);
        return NULL;
    }
    for (unsigned i = 0; i < HEAD_STRIPES; i++) {
        stripe_t *st = &h->stripes[i];
        pthread_mutex_init(&st->lock, NULL);
        atomic_init(&st->samples, 0);
        atomic_init(&st->ooo, 0);
        atomic_init(&st->dup, 0);
        atomic_init(&st->chunks, 0);
    }
    for (unsigned i = 0; i < HEAD_SHARDS; i++) pthread_rwlock_init(&h->shards[i].lock, NULL);
    for (unsigned i = 0; i < HEAD_ALLOCS; i++) {
        pthread_mutex_init(&h->allocs[i].lock, NULL);
        slab_alloc_init(&h->allocs[i].a, &h->pool);
    }
    atomic_init(&h->next_id, 1);
    atomic_init(&h->next_pair, 0);
    atomic_init(&h->series_created, 0);
    atomic_init(&h->min_time, INT64_MAX);
    atomic_init(&h->max_time, INT64_MIN);
    atomic_init(&h->lookup_bytes, 0);
    atomic_init(&h->min_valid, INT64_MIN);
    atomic_init(&h->series_removed, 0);
    atomic_init(&h->chunks_removed, 0);
    atomic_init(&h->out_of_bounds, 0);
    h->chunk_range = HEAD_CHUNK_RANGE_MS;
    pthread_rwlockattr_t ra;
    pthread_rwlockattr_init(&ra);
    pthread_rwlockattr_setkind_np(&ra, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
    pthread_rwlock_init(&h->gc_lock, &ra);
    pthread_mutex_init(&h->tomb_mu, NULL);
    atomic_init(&h->ntombs, 0);
    pthread_rwlockattr_destroy(&ra);
    h->syms = symtab_new();
    h->postings = postings_new();
    bool ok = h->syms && h->postings &&
              hm_pages_init(&h->series, sizeof(mem_series_t), SERIES_PAGE_SHIFT, HEAD_MAX_SERIES) == 0 &&
              hm_pages_init(&h->pairs, 2 * sizeof(uint32_t), PAIR_PAGE_SHIFT, MAX_PAIRS) == 0;
    if (!ok) {
        head_free(h);
        return NULL;
    }
    return h;
}

static size_t list_size(uint32_t cap) { return sizeof(chunk_list_t) + (size_t)cap * sizeof(mem_chunk_t); }

void head_free(head_t *h) {
    if (!h) return;
    uint32_t next = atomic_load(&h->next_id);
    /* Slab memory goes with the pool; only what was malloc'd is freed one by
     * one: allocations above the largest class and, in the sanitizer build,
     * everything. */
    bool all = h->pool.use_malloc;
    for (uint32_t id = 1; id < next && h->series.dir; id++) {
        mem_series_t *s = hm_pages_try(&h->series, id);
        if (!s) continue;
        slab_alloc_t *a = &alloc_of(h, id)->a;
        if (s->chunk && all) slab_free(a, s->chunk, s->chunk_cap);
        if (!s->closed) continue;
        for (uint32_t i = 0; i < s->closed->n; i++)
            if (all || s->closed->c[i].alloc > SLAB_MAX_CLASS) slab_free(a, s->closed->c[i].data, s->closed->c[i].alloc);
        if (all || list_size(s->closed->cap) > SLAB_MAX_CLASS) slab_free(a, s->closed, list_size(s->closed->cap));
    }
    for (unsigned i = 0; i < HEAD_STRIPES; i++) pthread_mutex_destroy(&h->stripes[i].lock);
    pthread_rwlock_destroy(&h->gc_lock);
    pthread_mutex_destroy(&h->tomb_mu);
    free(h->tombs);
    for (unsigned i = 0; i < HEAD_ALLOCS; i++) pthread_mutex_destroy(&h->allocs[i].lock);
    for (unsigned i = 0; i < HEAD_SHARDS; i++) {
        hm_free(h->shards[i].slots, (size_t)h->shards[i].cap * sizeof(uint64_t));
        pthread_rwlock_destroy(&h->shards[i].lock);
    }
    slab_pool_destroy(&h->pool);
    hm_pages_free(&h->series);
    hm_pages_free(&h->pairs);
    symtab_free(h->syms);
    postings_free(h->postings);
    free(h);
}

/* ---- appending -------------------------------------------------------- */

/* Moves the open chunk to the series' list of full chunks, shrunk to the
 * smallest size class that holds it. Caller holds the stripe lock. */
static int cut_chunk(chunk_alloc_t *ca, mem_series_t *s) {
    chunk_list_t *cl = s->closed;
    if (!cl || cl->n == cl->cap) {
        uint32_t ncap = cl ? cl->cap * 2 : 2;
        chunk_list_t *ncl = chunk_malloc(ca, list_size(ncap));
        if (!ncl) return -1;
        if (cl) {
            memcpy(ncl, cl, list_size(cl->n));
            chunk_free(ca, cl, list_size(cl->cap));
        } else {
            ncl->n = 0;
        }
        ncl->cap = ncap;
        cl = s->closed = ncl;
    }
    uint32_t len = (uint32_t)xor_appender_len(&s->app);
    uint8_t *data = s->chunk;
    uint32_t alloc = s->chunk_cap;
    if (slab_size_class(len) < s->chunk_cap) {
        uint8_t *d = chunk_malloc(ca, len);
        if (d) { /* on failure the chunk simply keeps its slack */
            memcpy(d, data, len);
            chunk_free(ca, data, s->chunk_cap);
            data = d;
            alloc = len;
        }
    }
    cl->c[cl->n++] = (mem_chunk_t){chunk_first_t(data), s->app.t, data, len, alloc};
    s->chunk = NULL;
    s->chunk_cap = 0;
    return 0;
}

/* Appends (t, v) to s. Caller holds the stripe lock. */
static int series_append(head_t *h, uint32_t id, mem_series_t *s, int64_t t, double v) {
    stripe_t *st = stripe_of(h, id);
    chunk_alloc_t *ca = alloc_of(h, id);
    uint64_t vbits = f64_bits(v);
    if (t < atomic_load_explicit(&h->min_valid, memory_order_relaxed)) {
        bump(&h->out_of_bounds);
        return HEAD_ERR_OUT_OF_BOUNDS;
    }
    if (s->chunk || s->closed) {
        if (t < s->app.t) {
            bump(&st->ooo);
            return HEAD_ERR_OUT_OF_ORDER;
        }
        if (t == s->app.t) {
            if (vbits == s->app.vbits) return HEAD_OK; /* an exact repeat is accepted and dropped */
            bump(&st->dup);
            return HEAD_ERR_DUPLICATE;
        }
    }
    if (s->chunk && (xor_chunk_count_bytes(s->chunk) >= HEAD_SAMPLES_PER_CHUNK ||
                     xor_appender_len(&s->app) >= HEAD_CHUNK_MAX_BYTES || t >= range_end(chunk_first_t(s->chunk), h->chunk_range))) {
        if (cut_chunk(ca, s) != 0) return HEAD_ERR_INVALID;
    }
    if (!s->chunk) {
        uint8_t *c = chunk_malloc(ca, HEAD_FIRST_CHUNK_BYTES);
        if (!c) return HEAD_ERR_INVALID;
        s->chunk = c;
        s->chunk_cap = HEAD_FIRST_CHUNK_BYTES;
        xor_appender_init(&s->app, c);
        bump(&st->chunks);
    }
    size_t need = xor_appender_size_after(&s->app, s->chunk, t, v);
    if (need > s->chunk_cap) {
        size_t cap = slab_size_class(need);
        uint8_t *c = chunk_malloc(ca, cap);
        if (!c) return HEAD_ERR_INVALID;
        memcpy(c, s->chunk, xor_appender_len(&s->app));
        chunk_free(ca, s->chunk, s->chunk_cap);
        s->chunk = c;
        s->chunk_cap = (uint16_t)cap;
    }
    xor_appender_append(&s->app, s->chunk, t, v);
    bump(&st->samples);
    note_time(h, t);
    return HEAD_OK;
}

/* head_append_ref without the GC lock (the caller holds it). */
static int append_ref(head_t *h, series_ref_t ref, int64_t t, double v) {
    mem_series_t *s = series_get(h, ref);
    if (!s) return HEAD_ERR_NOT_FOUND;
    stripe_t *st = stripe_of(h, (uint32_t)ref);
    pthread_mutex_lock(&st->lock);
    int rc = series_append(h, (uint32_t)ref, s, t, v);
    pthread_mutex_unlock(&st->lock);
    return rc;
}

int head_append_ref(head_t *h, series_ref_t ref, int64_t t, double v) {
    pthread_rwlock_rdlock(&h->gc_lock);
    int rc = append_ref(h, ref, t, v);
    pthread_rwlock_unlock(&h->gc_lock);
    return rc;
}

/* ---- lookup by label set ---------------------------------------------- */

static bool series_has_labels(head_t *h, const mem_series_t *s, const label_t *ls, size_t n) {
    if (atomic_load_explicit(&s->nlabels, memory_order_acquire) != n) return false;
    const uint32_t *p = series_pairs(h, s);
    for (size_t i = 0; i < n; i++)
        if (strcmp(symtab_str(h->syms, p[2 * i]), ls[i].name) != 0 ||
            strcmp(symtab_str(h->syms, p[2 * i + 1]), ls[i].value) != 0)
            return false;
    return true;
}

/* The id of the series with labels ls in shard sh, or 0. Caller holds sh->lock. */
static uint32_t shard_find(head_t *h, const series_shard_t *sh, uint64_t hash, const label_t *ls, size_t n) {
    if (sh->cap == 0) return 0;
    uint32_t mask = sh->cap - 1, tag = (uint32_t)hash;
    for (uint32_t i = tag & mask;; i = (i + 1) & mask) {
        uint64_t slot = sh->slots[i];
        if (slot == 0) return 0;
        if ((uint32_t)(slot >> 32) == tag) {
            uint32_t id = (uint32_t)slot;
            if (series_has_labels(h, hm_pages_at(&h->series, id), ls, n)) return id;
        }
    }
}

/* Makes room for one more entry (at most 75% full). Caller holds the write lock. */
static int shard_reserve(head_t *h, series_shard_t *sh) {
    if ((uint64_t)(sh->count + 1) * 4 <= (uint64_t)sh->cap * 3) return 0;
    uint32_t ncap = sh->cap ? sh->cap * 2 : 16;
    uint64_t *ns = hm_rehash_tagged(sh->slots, sh->cap, ncap);
    if (!ns) return -1;
    hm_free(sh->slots, (size_t)sh->cap * sizeof *sh->slots);
    atomic_fetch_add_explicit(&h->lookup_bytes, ((size_t)ncap - sh->cap) * sizeof *ns, memory_order_relaxed);
    sh->slots = ns;
    sh->cap = ncap;
    return 0;
}

static void shard_insert(series_shard_t *sh, uint64_t hash, uint32_t id) {
    uint32_t mask = sh->cap - 1, tag = (uint32_t)hash;
    uint32_t i = tag & mask;
    while (sh->slots[i]) i = (i + 1) & mask;
    sh->slots[i] = ((uint64_t)tag << 32) | id;
    sh->count++;
}

/* Sorted by name, unique names, non-empty names, a non-empty __name__. */
static bool labels_ok(const label_t *ls, size_t n) {
    if (n == 0 || n > MAX_LABELS) return false;
    bool has_name = false;
    for (size_t i = 0; i < n; i++) {
        if (!ls[i].name || !ls[i].name[0] || !ls[i].value) return false;
        if (i > 0 && strcmp(ls[i - 1].name, ls[i].name) >= 0) return false;
        if (strcmp(ls[i].name, LABEL_METRIC_NAME) == 0) has_name = true;
    }
    return has_name;
}

/* Takes n pairs from the label arena; a label set never straddles a page. */
static int alloc_pairs(head_t *h, size_t n, uint64_t *off_out) {
    for (;;) {
        uint64_t off = atomic_fetch_add_explicit(&h->next_pair, n, memory_order_relaxed);
        uint64_t last = off + n - 1;
        if (last >= MAX_PAIRS) return -1;
        if ((off >> PAIR_PAGE_SHIFT) != (last >> PAIR_PAGE_SHIFT)) continue; /* skip the page's tail */
        if (!hm_pages_ensure(&h->pairs, off)) return -1;
        *off_out = off;
        return 0;
    }
}

/* Builds a series for ls with its first sample and publishes it in shard sh.
 * Caller holds sh's write lock and has checked ls is absent and valid. */
static int create_series(head_t *h, series_shard_t *sh, uint64_t hash, const label_t *ls, size_t n, int64_t t,
                         double v, uint32_t *id_out, int *append_rc) {
    if (shard_reserve(h, sh) != 0) return -1;
    uint32_t id = atomic_fetch_add_explicit(&h->next_id, 1, memory_order_acq_rel);
    if (id >= HEAD_MAX_SERIES) return -1;
    /* From here on the id is taken; on failure it stays an unpublished hole. */
    mem_series_t *s = hm_pages_ensure(&h->series, id);
    uint64_t off;
    if (!s || alloc_pairs(h, n, &off) != 0) return -1;
    uint32_t *p = hm_pages_at(&h->pairs, off);
    for (size_t i = 0; i < n; i++)
        if (symtab_intern(h->syms, ls[i].name, strlen(ls[i].name), &p[2 * i]) != 0 ||
            symtab_intern(h->syms, ls[i].value, strlen(ls[i].value), &p[2 * i + 1]) != 0)
            return -1;
    s->labels = (uint32_t)off;
    stripe_t *st = stripe_of(h, id);
    pthread_mutex_lock(&st->lock);
    *append_rc = series_append(h, id, s, t, v);
    pthread_mutex_unlock(&st->lock);
    if (*append_rc != HEAD_OK) return -1;
    atomic_store_explicit(&s->nlabels, (uint16_t)n, memory_order_release);
    shard_insert(sh, hash, id);
    atomic_fetch_add_explicit(&h->series_created, 1, memory_order_relaxed);
    *id_out = id;
    return 0;
}

static int append_labels(head_t *h, const label_t *ls, size_t n, int64_t t, double v, series_ref_t *ref_out,
                         bool *created) {
    if (t < atomic_load_explicit(&h->min_valid, memory_order_relaxed)) {
        bump(&h->out_of_bounds);
        return HEAD_ERR_OUT_OF_BOUNDS;
    }
    uint64_t hash = labels_hash(ls, n);
    series_shard_t *sh = &h->shards[hash >> (64 - HEAD_SHARD_BITS)];
    pthread_rwlock_rdlock(&sh->lock);
    uint32_t id = shard_find(h, sh, hash, ls, n);
    pthread_rwlock_unlock(&sh->lock);
    if (!id) {
        if (!labels_ok(ls, n)) return HEAD_ERR_INVALID;
        pthread_rwlock_wrlock(&sh->lock);
        id = shard_find(h, sh, hash, ls, n);
        if (!id) {
            int append_rc = HEAD_OK;
            int rc = create_series(h, sh, hash, ls, n, t, v, &id, &append_rc);
            pthread_rwlock_unlock(&sh->lock);
            if (rc != 0) return append_rc != HEAD_OK ? append_rc : HEAD_ERR_INVALID;
            if (created) *created = true;
            if (ref_out) *ref_out = id;
            /* Index it last: a query that misses a series being created is fine. */
            const uint32_t *p = series_pairs(h, hm_pages_at(&h->series, id));
            for (size_t i = 0; i < n; i++)
                if (postings_add(h->postings, p[2 * i], p[2 * i + 1], id) != 0) return HEAD_ERR_INVALID;
            return HEAD_OK;
        }
        pthread_rwlock_unlock(&sh->lock);
    }
    if (ref_out) *ref_out = id;
    return append_ref(h, id, t, v);
}

static int append_locked(head_t *h, const label_t *ls, size_t n, int64_t t, double v, series_ref_t *ref_out,
                         bool *created) {
    if (created) *created = false;
    if (!ls || n == 0) return HEAD_ERR_INVALID;
    /* A label with an empty value is the same as no label (Prometheus drops
     * them), so the identity of a series never includes one. */
    size_t empty = 0;
    for (size_t i = 0; i < n; i++) {
        if (!ls[i].name || !ls[i].value) return HEAD_ERR_INVALID;
        if (!ls[i].value[0]) empty++;
    }
    if (empty == 0) return append_labels(h, ls, n, t, v, ref_out, created);
    label_t stackbuf[32];
    label_t *kept = n - empty <= 32 ? stackbuf : malloc((n - empty) * sizeof *kept);
    if (!kept) return HEAD_ERR_INVALID;
    size_t m = 0;
    for (size_t i = 0; i < n; i++)
        if (ls[i].value[0]) kept[m++] = ls[i];
    int rc = m ? append_labels(h, kept, m, t, v, ref_out, created) : HEAD_ERR_INVALID;
    if (kept != stackbuf) free(kept);
    return rc;
}

int head_append(head_t *h, const label_t *ls, size_t n, int64_t t, double v, series_ref_t *ref_out, bool *created) {
    pthread_rwlock_rdlock(&h->gc_lock);
    int rc = append_locked(h, ls, n, t, v, ref_out, created);
    pthread_rwlock_unlock(&h->gc_lock);
    return rc;
}

/* ---- reading ---------------------------------------------------------- */

typedef struct label_buf {
    label_t *ls;
    size_t cap;
    label_t stack[32];
} label_buf_t;

/* Fills lb with the labels of s; the strings belong to the symbol table. */
static label_t *series_labels(head_t *h, const mem_series_t *s, size_t n, label_buf_t *lb) {
    if (!lb->ls) {
        lb->ls = lb->stack;
        lb->cap = 32;
    }
    if (n > lb->cap) {
        label_t *nl = malloc(n * sizeof *nl);
        if (!nl) return NULL;
        if (lb->ls != lb->stack) free(lb->ls);
        lb->ls = nl;
        lb->cap = n;
    }
    const uint32_t *p = series_pairs(h, s);
    for (size_t i = 0; i < n; i++) {
        lb->ls[i].name = symtab_str(h->syms, p[2 * i]);
        lb->ls[i].value = symtab_str(h->syms, p[2 * i + 1]);
    }
    return lb->ls;
}

/* Labels a select passes: all of a series', or with a projection
 * (storage_select_hints_t.only_labels) those whose name symbols are in
 * only[0..nonly), in the series' (name) order. */
typedef struct label_proj {
    bool on;
    uint32_t only[64];
    size_t nonly;
} label_proj_t;

static label_t *series_labels_proj(head_t *h, const mem_series_t *s, size_t n, const label_proj_t *pj, label_buf_t *lb,
                                   size_t *nout) {
    *nout = n;
    if (!pj->on) return series_labels(h, s, n, lb);
    if (!lb->ls) {
        lb->ls = lb->stack;
        lb->cap = 32;
    }
    const uint32_t *p = series_pairs(h, s);
    size_t k = 0;
    for (size_t i = 0; i < n && k < lb->cap; i++)
        for (size_t j = 0; j < pj->nonly; j++)
            if (p[2 * i] == pj->only[j]) {
                lb->ls[k].name = symtab_str(h->syms, p[2 * i]);
                lb->ls[k++].value = symtab_str(h->syms, p[2 * i + 1]);
                break;
            }
    *nout = k;
    return lb->ls;
}

static void label_buf_free(label_buf_t *lb) {
    if (lb->ls && lb->ls != lb->stack) free(lb->ls);
}

static int series_labels_unlocked(head_t *h, series_ref_t ref, head_labels_fn fn, void *ctx) {
    mem_series_t *s = series_get(h, ref);
    if (!s) return HEAD_ERR_NOT_FOUND;
    size_t n = atomic_load_explicit(&s->nlabels, memory_order_acquire);
    label_buf_t lb = {0};
    label_t *ls = series_labels(h, s, n, &lb);
    if (!ls) return HEAD_ERR_INVALID;
    fn(ctx, ls, n);
    label_buf_free(&lb);
    return HEAD_OK;
}

static int series_chunks_unlocked(head_t *h, series_ref_t ref, head_chunk_fn fn, void *ctx) {
    mem_series_t *s = series_get(h, ref);
    if (!s) return HEAD_ERR_NOT_FOUND;
    stripe_t *st = stripe_of(h, (uint32_t)ref);
    pthread_mutex_lock(&st->lock);
    if (s->closed)
        for (uint32_t i = 0; i < s->closed->n; i++) {
            const mem_chunk_t *c = &s->closed->c[i];
            fn(ctx, c->mint, c->maxt, c->data, c->len);
        }
    if (s->chunk) fn(ctx, chunk_first_t(s->chunk), s->app.t, s->chunk, xor_appender_len(&s->app));
    pthread_mutex_unlock(&st->lock);
    return HEAD_OK;
}

typedef struct sample_buf {
    sample_t *v;
    size_t n, cap;
} sample_buf_t;

/* Room for n more samples in out. */
static int sample_buf_reserve(sample_buf_t *out, size_t n) {
    if (out->cap - out->n >= n) return 0;
    size_t nc = out->cap ? out->cap : 256;
    while (nc - out->n < n)
        nc *= 2;
    sample_t *nv = realloc(out->v, nc * sizeof *nv);
    if (!nv) return -1;
    out->v = nv;
    out->cap = nc;
    return 0;
}

/* Appends the samples of chunk bytes that fall in [mint, maxt]. */
static int decode_range(const uint8_t *data, size_t len, int64_t mint, int64_t maxt, sample_buf_t *out) {
    if (len < XOR_HEADER_BYTES) return 0;
    if (sample_buf_reserve(out, xor_chunk_count_bytes(data)) != 0) return -1;
    bool malformed; /* never, for chunks the head wrote; the samples before it stand */
    out->n += xor_chunk_decode(data, len, mint, maxt, out->v + out->n, false, &malformed);
    return 0;
}

/* Index of the first tombstone of id (tomb_mu held). */
static size_t tomb_first(const head_t *h, uint32_t id) {
    size_t lo = 0, hi = atomic_load_explicit(&h->ntombs, memory_order_relaxed);
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (h->tombs[mid].id < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* Removes the samples of series id that a tombstone covers. */
static void drop_deleted(head_t *h, uint32_t id, sample_buf_t *out) {
    pthread_mutex_lock(&h->tomb_mu);
    size_t n = atomic_load_explicit(&h->ntombs, memory_order_relaxed);
    size_t first = tomb_first(h, id);
    if (first < n && h->tombs[first].id == id) {
        size_t k = 0;
        for (size_t i = 0; i < out->n; i++) {
            bool del = false;
            for (size_t j = first; j < n && h->tombs[j].id == id && !del; j++)
                del = out->v[i].t >= h->tombs[j].mint && out->v[i].t <= h->tombs[j].maxt;
            if (!del) out->v[k++] = out->v[i];
        }
        out->n = k;
    }
    pthread_mutex_unlock(&h->tomb_mu);
}

/* Copies the samples of s in [mint, maxt] into out (emptied first). */
static int series_samples(head_t *h, uint32_t id, const mem_series_t *s, int64_t mint, int64_t maxt,
                          sample_buf_t *out) {
    int rc = 0;
    out->n = 0;
    stripe_t *st = stripe_of(h, id);
    pthread_mutex_lock(&st->lock);
    if (s->closed)
        for (uint32_t i = 0; i < s->closed->n && rc == 0; i++) {
            const mem_chunk_t *c = &s->closed->c[i];
            if (c->maxt >= mint && c->mint <= maxt) rc = decode_range(c->data, c->len, mint, maxt, out);
        }
    if (rc == 0 && s->chunk && s->app.t >= mint && chunk_first_t(s->chunk) <= maxt)
        rc = decode_range(s->chunk, xor_appender_len(&s->app), mint, maxt, out);
    pthread_mutex_unlock(&st->lock);
    if (rc == 0 && out->n && atomic_load_explicit(&h->ntombs, memory_order_acquire)) drop_deleted(h, id, out);
    return rc;
}

/* ---- select ----------------------------------------------------------- */

static void sort_small(uint32_t *v, size_t n) {
    for (size_t i = 1; i < n; i++) {
        uint32_t x = v[i];
        size_t j = i;
        while (j > 0 && v[j - 1] > x) {
            v[j] = v[j - 1];
            j--;
        }
        v[j] = x;
    }
}

static int cmp_u32(const void *a, const void *b) {
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

/* Sorts ids: LSD radix sort by bytes, skipping bytes that are all equal. */
static void sort_ids(idvec_t *iv) {
    size_t n = iv->n;
    if (n < 64) {
        sort_small(iv->v, n);
        return;
    }
    uint32_t *tmp = malloc(n * sizeof *tmp);
    if (!tmp) {
        qsort(iv->v, n, sizeof *iv->v, cmp_u32);
        return;
    }
    uint32_t *src = iv->v, *dst = tmp;
    for (unsigned shift = 0; shift < 32; shift += 8) {
        size_t count[257] = {0};
        for (size_t i = 0; i < n; i++) count[((src[i] >> shift) & 0xff) + 1]++;
        if (count[((src[0] >> shift) & 0xff) + 1] == n) continue;
        for (int b = 0; b < 256; b++) count[b + 1] += count[b];
        for (size_t i = 0; i < n; i++) dst[count[(src[i] >> shift) & 0xff]++] = src[i];
        uint32_t *x = src;
        src = dst;
        dst = x;
    }
    if (src != iv->v) memcpy(iv->v, src, n * sizeof *src);
    free(tmp);
}

/* First index >= from in v[0..n) whose value is >= x (v sorted). */
static size_t gallop(const uint32_t *v, size_t from, size_t n, uint32_t x) {
    size_t step = 1, lo = from, hi = from;
    while (hi < n && v[hi] < x) {
        lo = hi + 1;
        hi += step;
        step *= 2;
    }
    if (hi > n) hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (v[mid] < x)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* a = a ∩ b (both sorted). */
static void intersect_into(idvec_t *a, const idvec_t *b) {
    size_t i = 0, j = 0, k = 0;
    while (i < a->n && j < b->n) {
        if (a->v[i] == b->v[j]) {
            a->v[k++] = a->v[i++];
            j++;
        } else if (a->v[i] < b->v[j]) {
            i++;
        } else {
            j = gallop(b->v, j, b->n, a->v[i]);
        }
    }
    a->n = k;
}

/* a = a \ b (both sorted). */
static void subtract_into(idvec_t *a, const idvec_t *b) {
    size_t j = 0, k = 0;
    for (size_t i = 0; i < a->n; i++) {
        j = gallop(b->v, j, b->n, a->v[i]);
        if (j < b->n && b->v[j] == a->v[i]) continue;
        a->v[k++] = a->v[i];
    }
    a->n = k;
}

typedef struct collect_ctx {
    head_t *h;
    const matcher_t *m;
    bool want; /* collect values for which the matcher says this */
    idvec_t *out;
} collect_ctx_t;

static int collect_values(void *ctx, uint32_t value, const uint32_t *ids, size_t n) {
    collect_ctx_t *c = ctx;
    if (matcher_matches(c->m, symtab_str(c->h->syms, value)) != c->want) return 0;
    return idvec_append(c->out, ids, n) == 0 ? 0 : -1;
}

/* The ids of series whose value of name satisfies (matcher == want), sorted.
 * Only values present count: series without the label are never included. */
static int ids_for(head_t *h, const matcher_t *m, uint32_t name, bool want, idvec_t *out) {
    if (m->type == MATCH_EQUAL || m->type == MATCH_NOT_EQUAL) {
        /* Exactly one value can be equal to m->value: look it up directly
         * when we want the equal ones (= wanted, or != unwanted). */
        bool want_equal = (m->type == MATCH_EQUAL) == want;
        if (want_equal) {
            uint32_t value;
            if (!symtab_find(h->syms, m->value, strlen(m->value), &value)) return 0;
            return postings_get(h->postings, name, value, out) < 0 ? -1 : 0;
        }
    }
    collect_ctx_t c = {h, m, want, out};
    if (postings_foreach_value(h->postings, name, collect_values, &c) != 0) return -1;
    sort_ids(out); /* one value per series and name: the lists are disjoint */
    return 0;
}

/* Sorting a selection by label set chases each series' pairs and symbol
 * strings, two or three cache misses a comparison at a million series. The
 * strings of the first labels are resolved once into the entry, where most
 * comparisons are decided (interned strings: same pointer, same string). */
#define SORT_KEY_LABELS 3

typedef struct sel_entry {
    const char *key[2 * SORT_KEY_LABELS]; /* name, value of the first labels */
    const uint32_t *pairs;
    uint32_t id;
    uint16_t n;
} sel_entry_t;

static int cmp_entries(const void *a, const void *b, void *arg) {
    const sel_entry_t *x = a, *y = b;
    const symtab_t *syms = arg;
    size_t n = x->n < y->n ? x->n : y->n;
    size_t k = n < SORT_KEY_LABELS ? n : SORT_KEY_LABELS;
    for (size_t i = 0; i < 2 * k; i++) {
        if (x->key[i] == y->key[i]) continue;
        int c = strcmp(x->key[i], y->key[i]);
        if (c) return c;
    }
    for (size_t i = 2 * k; i < 2 * n; i++) {
        if (x->pairs[i] == y->pairs[i]) continue; /* same symbol, same string */
        int c = strcmp(symtab_str(syms, x->pairs[i]), symtab_str(syms, y->pairs[i]));
        if (c) return c;
    }
    return x->n < y->n ? -1 : x->n > y->n;
}


/* The newest sample of a series in [mint, maxt] into out (n = 0 or 1): the
 * open chunk's appender holds it whenever it is not after maxt, so no chunk
 * is decoded then; otherwise the chunks are decoded newest first, each only
 * up to maxt, until one has a sample in range. (With tombstones, whose
 * samples may hide the newest one, all of them are read as series_samples
 * does.) */
static int series_last_sample(head_t *h, uint32_t id, const mem_series_t *s, int64_t mint, int64_t maxt,
                              sample_buf_t *out) {
    out->n = 0;
    if (!out->cap && sample_buf_reserve(out, 16) != 0) return -1;
    if (atomic_load_explicit(&h->ntombs, memory_order_acquire)) {
        if (series_samples(h, id, s, mint, maxt, out) != 0) return -1;
        if (out->n > 1) {
            out->v[0] = out->v[out->n - 1];
            out->n = 1;
        }
        return 0;
    }
    stripe_t *st = stripe_of(h, id);
    pthread_mutex_lock(&st->lock);
    if (s->chunk && s->app.t <= maxt) {
        if (s->app.t >= mint) {
            double d;
            memcpy(&d, &s->app.vbits, sizeof d);
            out->v[0] = (sample_t){s->app.t, d};
            out->n = 1;
        }
        goto unlock;
    }
    bool malformed;
    if (s->chunk && s->app.t >= mint && chunk_first_t(s->chunk) <= maxt) {
        out->n = xor_chunk_decode(s->chunk, xor_appender_len(&s->app), mint, maxt, out->v, true, &malformed);
        if (out->n) goto unlock;
    }
    for (uint32_t i = s->closed ? s->closed->n : 0; i-- > 0;) {
        const mem_chunk_t *c = &s->closed->c[i];
        if (c->maxt < mint) break; /* older chunks end earlier still */
        if (c->mint > maxt) continue;
        out->n = xor_chunk_decode(c->data, c->len, mint, maxt, out->v, true, &malformed);
        if (out->n) break;
    }
unlock:
    pthread_mutex_unlock(&st->lock);
    return 0;
}

/* ---- newest samples on several threads ----------------------------------
 *
 * An instant query over a million series spends most of its time finding
 * each series' newest sample (decoding its chunk when the evaluation time
 * is before the last sample). Those lookups are independent and read-only:
 * with last_only and at least PAR_MIN_SERIES series, they run on up to
 * PAR_MAX_THREADS threads (one per online CPU) into an array, and the
 * calling thread then passes the series to the callback in the same order
 * as ever. The caller holds the GC lock (read) for all of them. */
#define PAR_MIN_SERIES 32768
#define PAR_MAX_THREADS 4

typedef struct last_job {
    head_t *h;
    const uint32_t *ids;
    size_t lo, hi;
    int64_t mint, maxt;
    sample_t *out;
    uint8_t *has;
    int rc;
} last_job_t;

#define PREFETCH_AHEAD 8

static void *last_job_run(void *arg) {
    last_job_t *j = arg;
    sample_buf_t sb = {0};
    for (size_t i = j->lo; i < j->hi; i++) {
        /* Chunk bytes are scattered over the slabs: each series' open chunk
         * is fetched a few series ahead (its record further ahead still).
         * The pointer is read without the stripe lock, as a hint only: a
         * prefetch of memory freed meanwhile does no harm. */
        if (i + PREFETCH_AHEAD < j->hi) __builtin_prefetch(hm_pages_at(&j->h->series, j->ids[i + PREFETCH_AHEAD]));
        if (i + PREFETCH_AHEAD / 2 < j->hi) {
            mem_series_t *ahead = hm_pages_at(&j->h->series, j->ids[i + PREFETCH_AHEAD / 2]);
            uint8_t *c = __atomic_load_n(&ahead->chunk, __ATOMIC_RELAXED);
            if (c) __builtin_prefetch(c);
        }
        j->has[i] = 0;
        mem_series_t *s = series_get(j->h, j->ids[i]);
        if (!s) continue;
        if (series_last_sample(j->h, j->ids[i], s, j->mint, j->maxt, &sb) != 0) {
            j->rc = -1;
            break;
        }
        if (sb.n) {
            j->out[i] = sb.v[0];
            j->has[i] = 1;
        }
    }
    free(sb.v);
    return NULL;
}

/* The newest sample in [mint, maxt] of each of ids[0..n) into out[i]
 * (has[i] says whether there is one). Returns 0, or -1 out of memory. */
static int last_samples(head_t *h, const uint32_t *ids, size_t n, int64_t mint, int64_t maxt, sample_t *out,
                        uint8_t *has) {
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    size_t nt = cpus < 1 ? 1 : cpus > PAR_MAX_THREADS ? PAR_MAX_THREADS : (size_t)cpus;
    if (n < PAR_MIN_SERIES) nt = 1;
    last_job_t jobs[PAR_MAX_THREADS] = {{0}};
    pthread_t th[PAR_MAX_THREADS];
    bool started[PAR_MAX_THREADS] = {false};
    for (size_t k = 0; k < nt; k++) {
        jobs[k] = (last_job_t){h, ids, n * k / nt, n * (k + 1) / nt, mint, maxt, out, has, 0};
        /* job 0 runs on this thread; a thread that cannot start runs here too */
        if (k > 0) started[k] = pthread_create(&th[k], NULL, last_job_run, &jobs[k]) == 0;
    }
    last_job_run(&jobs[0]);
    int rc = jobs[0].rc;
    for (size_t k = 1; k < nt; k++) {
        if (started[k])
            pthread_join(th[k], NULL);
        else
            last_job_run(&jobs[k]);
        if (jobs[k].rc) rc = jobs[k].rc;
    }
    return rc;
}

static int select_unlocked_hinted(head_t *h, const matcher_t *ms, size_t nms, int64_t mint, int64_t maxt,
                                  const storage_select_hints_t *hints, head_series_fn fn, void *ctx, pl_err_t *err);

static int select_unlocked(head_t *h, const matcher_t *ms, size_t nms, int64_t mint, int64_t maxt, head_series_fn fn,
                           void *ctx, pl_err_t *err) {
    return select_unlocked_hinted(h, ms, nms, mint, maxt, NULL, fn, ctx, err);
}

int head_select_hinted(head_t *h, const matcher_t *ms, size_t nms, int64_t mint, int64_t maxt,
                       const storage_select_hints_t *hints, head_series_fn fn, void *ctx, pl_err_t *err) {
    pthread_rwlock_rdlock(&h->gc_lock);
    /* as head_select: samples before min_valid belong to a block now */
    int64_t mv = atomic_load_explicit(&h->min_valid, memory_order_relaxed);
    if (mint < mv) mint = mv;
    int rc = select_unlocked_hinted(h, ms, nms, mint, maxt, hints, fn, ctx, err);
    pthread_rwlock_unlock(&h->gc_lock);
    return rc;
}

/* last_only over ids[0..n) in that order: the newest samples first
 * (last_samples), then fn for each series that has one. Returns fn's
 * non-zero value or 0; *oom when memory ran out. */
static int emit_last(head_t *h, const uint32_t *ids, size_t n, int64_t mint, int64_t maxt, const label_proj_t *pj,
                     label_buf_t *lb, head_series_fn fn, void *ctx, bool *oom) {
    sample_t *out = malloc(n * sizeof *out);
    uint8_t *has = malloc(n);
    int rc = 0;
    *oom = !out || !has || last_samples(h, ids, n, mint, maxt, out, has) != 0;
    for (size_t i = 0; i < n && rc == 0 && !*oom; i++) {
        if (!has[i]) continue;
        const mem_series_t *s = hm_pages_at(&h->series, ids[i]);
        size_t nls, nl = atomic_load_explicit(&s->nlabels, memory_order_acquire);
        label_t *ls = series_labels_proj(h, s, nl, pj, lb, &nls);
        if (!ls) *oom = true;
        else rc = fn(ctx, ls, nls, &out[i], 1);
    }
    free(out);
    free(has);
    return rc;
}

static int select_unlocked_hinted(head_t *h, const matcher_t *ms, size_t nms, int64_t mint, int64_t maxt,
                                  const storage_select_hints_t *hints, head_series_fn fn, void *ctx, pl_err_t *err) {
    if (nms == 0) return pl_err_set(err, "head_select: at least one matcher is required");
    const bool sorted = !(hints && hints->unsorted), last_only = hints && hints->last_only;
    int rc = 0;
    idvec_t *pos = calloc(nms, sizeof *pos), *neg = calloc(nms, sizeof *neg);
    size_t npos = 0, nneg = 0;
    idvec_t all = {0};
    sel_entry_t *ents = NULL;
    sample_buf_t sb = {0};
    label_buf_t lb = {0};
    if (!pos || !neg) goto oom;
    if (mint > maxt) goto done;
    /* a projection: the symbols of the names wanted (at most 64; names no
     * series has are left out) */
    label_proj_t pj = {.on = hints && hints->only_labels && hints->nlabels <= 64};
    for (size_t i = 0; pj.on && i < hints->nlabels; i++) {
        uint32_t sym;
        if (symtab_find(h->syms, hints->labels[i], strlen(hints->labels[i]), &sym)) pj.only[pj.nonly++] = sym;
    }

    for (size_t i = 0; i < nms; i++) {
        const matcher_t *m = &ms[i];
        uint32_t name;
        bool known = symtab_find(h->syms, m->name, strlen(m->name), &name) && postings_has_name(h->postings, name);
        if (!matcher_matches_empty(m)) {
            /* Only series with a matching value of the label qualify. */
            if (!known) goto done;
            if (ids_for(h, m, name, true, &pos[npos]) != 0) goto oom;
            if (pos[npos++].n == 0) goto done;
        } else if (known) {
            /* Series lacking the label qualify; drop those whose value fails. */
            if (ids_for(h, m, name, false, &neg[nneg]) != 0) goto oom;
            nneg++;
        }
    }

    idvec_t *cur;
    if (npos == 0) {
        uint32_t next = atomic_load_explicit(&h->next_id, memory_order_acquire);
        for (uint32_t id = 1; id < next; id++)
            if (series_get(h, id) && idvec_push(&all, id) != 0) goto oom;
        cur = &all;
    } else {
        /* Intersect from the smallest list up. */
        size_t smallest = 0;
        for (size_t i = 1; i < npos; i++)
            if (pos[i].n < pos[smallest].n) smallest = i;
        cur = &pos[smallest];
        for (size_t i = 0; i < npos && cur->n; i++)
            if (i != smallest) intersect_into(cur, &pos[i]);
    }
    for (size_t i = 0; i < nneg && cur->n; i++) subtract_into(cur, &neg[i]);
    if (cur->n == 0) goto done;

    if (last_only && cur->n >= PAR_MIN_SERIES && !sorted) {
        bool oom;
        rc = emit_last(h, cur->v, cur->n, mint, maxt, &pj, &lb, fn, ctx, &oom);
        if (oom) goto oom;
        goto done;
    }
    if (!sorted) {
        /* In id order, straight from the postings: no sort entries. */
        for (size_t i = 0; i < cur->n && rc == 0; i++) {
            mem_series_t *s = series_get(h, cur->v[i]);
            if (!s) continue;
            if ((last_only ? series_last_sample(h, cur->v[i], s, mint, maxt, &sb)
                           : series_samples(h, cur->v[i], s, mint, maxt, &sb)) != 0)
                goto oom;
            if (sb.n == 0) continue;
            size_t n = atomic_load_explicit(&s->nlabels, memory_order_acquire), nls;
            label_t *ls = series_labels_proj(h, s, n, &pj, &lb, &nls);
            if (!ls) goto oom;
            rc = fn(ctx, ls, nls, sb.v, sb.n);
        }
        goto done;
    }

    ents = malloc(cur->n * sizeof *ents);
    if (!ents) goto oom;
    size_t nents = 0;
    for (size_t i = 0; i < cur->n; i++) {
        mem_series_t *s = series_get(h, cur->v[i]);
        if (!s) continue;
        ents[nents].id = cur->v[i];
        ents[nents].n = atomic_load_explicit(&s->nlabels, memory_order_acquire);
        ents[nents].pairs = series_pairs(h, s);
        if (sorted)
            for (size_t k = 0; k < 2 * SORT_KEY_LABELS; k++)
                ents[nents].key[k] = k < 2u * ents[nents].n ? symtab_str(h->syms, ents[nents].pairs[k]) : NULL;
        nents++;
    }
    if (nents > 1 && sorted) qsort_r(ents, nents, sizeof *ents, cmp_entries, h->syms);
    if (last_only && nents >= PAR_MIN_SERIES) {
        /* the ids in label order, over the id list (no longer needed) */
        for (size_t i = 0; i < nents; i++)
            cur->v[i] = ents[i].id;
        bool oom;
        rc = emit_last(h, cur->v, nents, mint, maxt, &pj, &lb, fn, ctx, &oom);
        if (oom) goto oom;
        goto done;
    }

    for (size_t i = 0; i < nents && rc == 0; i++) {
        const mem_series_t *s = hm_pages_at(&h->series, ents[i].id);
        if ((last_only ? series_last_sample(h, ents[i].id, s, mint, maxt, &sb)
                       : series_samples(h, ents[i].id, s, mint, maxt, &sb)) != 0)
            goto oom;
        if (sb.n == 0) continue;
        size_t nls;
        label_t *ls = series_labels_proj(h, s, ents[i].n, &pj, &lb, &nls);
        if (!ls) goto oom;
        rc = fn(ctx, ls, nls, sb.v, sb.n);
    }
    goto done;
oom:
    rc = pl_err_set(err, "head_select: out of memory");
done:
    for (size_t i = 0; i < npos; i++) idvec_free(&pos[i]);
    for (size_t i = 0; i < nneg; i++) idvec_free(&neg[i]);
    free(pos);
    free(neg);
    idvec_free(&all);
    free(ents);
    free(sb.v);
    label_buf_free(&lb);
    return rc;
}

/* ---- label names and values ------------------------------------------- */

typedef struct str_list {
    head_t *h;
    const char **v;
    size_t n, cap;
} str_list_t;

static int str_push(str_list_t *sl, uint32_t sym) {
    if (sl->n == sl->cap) {
        size_t nc = sl->cap ? sl->cap * 2 : 64;
        const char **nv = realloc(sl->v, nc * sizeof *nv);
        if (!nv) return -1;
        sl->v = nv;
        sl->cap = nc;
    }
    sl->v[sl->n++] = symtab_str(sl->h->syms, sym);
    return 0;
}

static int push_name(void *ctx, uint32_t name) { return str_push(ctx, name); }

static int push_value(void *ctx, uint32_t value, const uint32_t *ids, size_t n) {
    (void)ids;
    (void)n;
    return str_push(ctx, value);
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(const char *const *)a, *(const char *const *)b); }

static int emit_sorted(str_list_t *sl, int collect_rc, head_string_fn fn, void *ctx) {
    int rc = collect_rc ? -1 : 0;
    if (rc == 0) {
        if (sl->n > 1) qsort(sl->v, sl->n, sizeof *sl->v, cmp_str);
        for (size_t i = 0; i < sl->n && rc == 0; i++) rc = fn(ctx, sl->v[i]);
    }
    free(sl->v);
    return rc;
}

static int label_names_unlocked(head_t *h, head_string_fn fn, void *ctx) {
    str_list_t sl = {h, NULL, 0, 0};
    return emit_sorted(&sl, postings_foreach_name(h->postings, push_name, &sl), fn, ctx);
}

static int label_values_unlocked(head_t *h, const char *name, head_string_fn fn, void *ctx) {
    uint32_t id;
    if (!symtab_find(h->syms, name, strlen(name), &id)) return 0;
    str_list_t sl = {h, NULL, 0, 0};
    return emit_sorted(&sl, postings_foreach_value(h->postings, id, push_value, &sl), fn, ctx);
}

/* For /api/v1/status/tsdb: one pass over the postings, no series touched. */
typedef struct pair_walk {
    head_t *h;
    const char *name;
    head_pair_fn fn;
    void *ctx;
} pair_walk_t;

static int walk_value(void *ctx, uint32_t value, const uint32_t *ids, size_t n) {
    (void)ids;
    pair_walk_t *pw = ctx;
    return pw->fn(pw->ctx, pw->name, symtab_str(pw->h->syms, value), n);
}

int head_label_pairs(head_t *h, head_pair_fn fn, void *ctx) {
    str_list_t names = {h, NULL, 0, 0};
    int rc = postings_foreach_name(h->postings, push_name, &names);
    if (rc != 0) {
        free(names.v);
        return -1;
    }
    pair_walk_t pw = {h, NULL, fn, ctx};
    for (size_t i = 0; i < names.n && rc == 0; i++) {
        pw.name = names.v[i];
        uint32_t id;
        if (!symtab_find(h->syms, pw.name, strlen(pw.name), &id)) continue;
        rc = postings_foreach_value(h->postings, id, walk_value, &pw);
    }
    free(names.v);
    return rc;
}

/* ---- stats ------------------------------------------------------------ */

static void get_stats_unlocked(head_t *h, head_stats_t *out) {
    memset(out, 0, sizeof *out);
    for (unsigned i = 0; i < HEAD_STRIPES; i++) {
        stripe_t *st = &h->stripes[i];
        out->samples_appended += atomic_load_explicit(&st->samples, memory_order_relaxed);
        out->out_of_order_samples += atomic_load_explicit(&st->ooo, memory_order_relaxed);
        out->duplicate_samples += atomic_load_explicit(&st->dup, memory_order_relaxed);
        out->num_chunks += atomic_load_explicit(&st->chunks, memory_order_relaxed);
    }
    out->series_created = atomic_load_explicit(&h->series_created, memory_order_relaxed);
    out->series_removed = atomic_load_explicit(&h->series_removed, memory_order_relaxed);
    out->chunks_removed = atomic_load_explicit(&h->chunks_removed, memory_order_relaxed);
    out->out_of_bounds_samples = atomic_load_explicit(&h->out_of_bounds, memory_order_relaxed);
    out->min_valid_time = atomic_load_explicit(&h->min_valid, memory_order_relaxed);
    out->num_series = out->series_created - out->series_removed;
    out->num_symbols = symtab_count(h->syms);
    out->min_time = atomic_load_explicit(&h->min_time, memory_order_relaxed);
    out->max_time = atomic_load_explicit(&h->max_time, memory_order_relaxed);
    out->bytes_symbols = symtab_bytes(h->syms);
    out->bytes_series = sizeof *h + hm_pages_bytes(&h->series) + hm_pages_bytes(&h->pairs) +
                        atomic_load_explicit(&h->lookup_bytes, memory_order_relaxed);
    out->bytes_postings = postings_bytes(h->postings);
    out->bytes_chunks = atomic_load_explicit(&h->pool.held_bytes, memory_order_relaxed) +
                        atomic_load_explicit(&h->pool.large_bytes, memory_order_relaxed);
    if (h->pool.use_malloc) out->bytes_chunks += atomic_load_explicit(&h->pool.live_bytes, memory_order_relaxed);
}

/* ---- the head as a queryable_t -------------------------------------------- */

static int q_select(void *impl, const matcher_t *ms, size_t nms, int64_t mint, int64_t maxt, storage_series_fn fn,
                    void *ctx, pl_err_t *err) {
    return head_select(impl, ms, nms, mint, maxt, fn, ctx, err);
}

static int q_select_hinted(void *impl, const matcher_t *ms, size_t nms, int64_t mint, int64_t maxt,
                           const storage_select_hints_t *hints, storage_series_fn fn, void *ctx, pl_err_t *err) {
    return head_select_hinted(impl, ms, nms, mint, maxt, hints, fn, ctx, err);
}

static int q_label_names(void *impl, storage_string_fn fn, void *ctx, pl_err_t *err) {
    (void)err;
    return head_label_names(impl, fn, ctx);
}

static int q_label_values(void *impl, const char *name, storage_string_fn fn, void *ctx, pl_err_t *err) {
    (void)err;
    return head_label_values(impl, name, fn, ctx);
}

void head_queryable(head_t *h, queryable_t *q) {
    q->impl = h;
    q->select = q_select;
    q->label_names = q_label_names;
    q->label_values = q_label_values;
    q->select_hinted = q_select_hinted;
}

/* ---- the public readers: each holds the GC lock shared ---------------------- */

int head_series_labels(head_t *h, series_ref_t ref, head_labels_fn fn, void *ctx) {
    pthread_rwlock_rdlock(&h->gc_lock);
    int rc = series_labels_unlocked(h, ref, fn, ctx);
    pthread_rwlock_unlock(&h->gc_lock);
    return rc;
}

int head_series_chunks(head_t *h, series_ref_t ref, head_chunk_fn fn, void *ctx) {
    pthread_rwlock_rdlock(&h->gc_lock);
    int rc = series_chunks_unlocked(h, ref, fn, ctx);
    pthread_rwlock_unlock(&h->gc_lock);
    return rc;
}

bool head_series_exists(head_t *h, series_ref_t ref) {
    pthread_rwlock_rdlock(&h->gc_lock);
    bool ok = series_get(h, ref) != NULL;
    pthread_rwlock_unlock(&h->gc_lock);
    return ok;
}

int head_select(head_t *h, const matcher_t *ms, size_t nms, int64_t mint, int64_t maxt, head_series_fn fn, void *ctx,
                pl_err_t *err) {
    pthread_rwlock_rdlock(&h->gc_lock);
    /* Samples before min_valid may still sit in a chunk that straddles it;
     * they belong to a block now. */
    int64_t mv = atomic_load_explicit(&h->min_valid, memory_order_relaxed);
    if (mint < mv) mint = mv;
    int rc = select_unlocked(h, ms, nms, mint, maxt, fn, ctx, err);
    pthread_rwlock_unlock(&h->gc_lock);
    return rc;
}

int head_label_names(head_t *h, head_string_fn fn, void *ctx) {
    pthread_rwlock_rdlock(&h->gc_lock);
    int rc = label_names_unlocked(h, fn, ctx);
    pthread_rwlock_unlock(&h->gc_lock);
    return rc;
}

int head_label_values(head_t *h, const char *name, head_string_fn fn, void *ctx) {
    pthread_rwlock_rdlock(&h->gc_lock);
    int rc = label_values_unlocked(h, name, fn, ctx);
    pthread_rwlock_unlock(&h->gc_lock);
    return rc;
}

void head_get_stats(head_t *h, head_stats_t *out) {
    pthread_rwlock_rdlock(&h->gc_lock);
    get_stats_unlocked(h, out);
    pthread_rwlock_unlock(&h->gc_lock);
}

void head_set_chunk_range(head_t *h, int64_t range_ms) {
    if (range_ms > 0) h->chunk_range = range_ms;
}

int64_t head_min_valid(head_t *h) { return atomic_load_explicit(&h->min_valid, memory_order_relaxed); }

void head_set_min_valid(head_t *h, int64_t t) {
    pthread_rwlock_wrlock(&h->gc_lock);
    if (t > atomic_load_explicit(&h->min_valid, memory_order_relaxed))
        atomic_store_explicit(&h->min_valid, t, memory_order_relaxed);
    pthread_rwlock_unlock(&h->gc_lock);
}

/* ---- truncation and garbage collection ------------------------------------------ */

typedef struct gc_state {
    head_t *h;
    uint8_t *dead; /* bitmap over ids */
} gc_state_t;

static bool id_dead(void *ctx, uint32_t id) {
    const gc_state_t *g = ctx;
    return (g->dead[id >> 3] >> (id & 7)) & 1;
}

/* Deletes the dead ids from one lookup shard in place (backward-shift
 * deletion: linear probing has no tombstones), then shrinks a mostly
 * empty table. */
static void shard_gc(head_t *h, series_shard_t *sh, const gc_state_t *g) {
    if (sh->cap == 0) return;
    uint32_t mask = sh->cap - 1;
    for (uint32_t i = 0; i < sh->cap;) {
        uint64_t slot = sh->slots[i];
        if (!slot || !id_dead((void *)g, (uint32_t)slot)) {
            i++;
            continue;
        }
        /* Empty slot i, then pull back every later entry of the cluster
         * whose home is not in (i, j]. Slot i is looked at again: an entry
         * may have moved into it. */
        uint32_t hole = i, j = i;
        sh->slots[hole] = 0;
        sh->count--;
        for (;;) {
            j = (j + 1) & mask;
            uint64_t x = sh->slots[j];
            if (!x) break;
            uint32_t home = (uint32_t)(x >> 32) & mask;
            bool stays = hole <= j ? (hole < home && home <= j) : (hole < home || home <= j);
            if (stays) continue;
            sh->slots[hole] = x;
            sh->slots[j] = 0;
            hole = j;
        }
    }
    if (sh->cap > 16 && (uint64_t)sh->count * 8 < sh->cap) {
        uint32_t ncap = 16;
        while ((uint64_t)(sh->count + 1) * 4 > (uint64_t)ncap * 3) ncap *= 2;
        uint64_t *ns = hm_rehash_tagged(sh->slots, sh->cap, ncap);
        if (ns) {
            hm_free(sh->slots, (size_t)sh->cap * sizeof *sh->slots);
            atomic_fetch_sub_explicit(&h->lookup_bytes, ((size_t)sh->cap - ncap) * sizeof *ns, memory_order_relaxed);
            sh->slots = ns;
            sh->cap = ncap;
        }
    }
}

/* Rebuilds the symbol table with the live series' strings only, and the
 * postings with the new ids. Returns 0, or -1 (out of memory) with nothing
 * changed. Caller holds the GC lock exclusive. */
static int rebuild_symbols(head_t *h, uint32_t next) {
    uint32_t nsyms = symtab_count(h->syms);
    uint32_t *remap = malloc((size_t)nsyms * sizeof *remap);
    symtab_t *ns = symtab_new();
    postings_index_t *np = postings_new();
    if (!remap || !ns || !np) goto fail;
    memset(remap, 0xff, (size_t)nsyms * sizeof *remap);
    for (uint32_t id = 1; id < next; id++) {
        mem_series_t *s = series_get(h, id);
        if (!s) continue;
        uint32_t n = atomic_load_explicit(&s->nlabels, memory_order_relaxed);
        const uint32_t *p = series_pairs(h, s);
        for (uint32_t k = 0; k < 2 * n; k++) {
            if (remap[p[k]] != UINT32_MAX) continue;
            const char *str = symtab_str(h->syms, p[k]);
            if (symtab_intern(ns, str, strlen(str), &remap[p[k]]) != 0) goto fail;
        }
        for (uint32_t k = 0; k < n; k++)
            if (postings_add(np, remap[p[2 * k]], remap[p[2 * k + 1]], id) != 0) goto fail;
    }
    /* Everything is built: switch the pairs over. */
    for (uint32_t id = 1; id < next; id++) {
        mem_series_t *s = series_get(h, id);
        if (!s) continue;
        uint32_t n = atomic_load_explicit(&s->nlabels, memory_order_relaxed);
        uint32_t *p = hm_pages_at(&h->pairs, s->labels);
        for (uint32_t k = 0; k < 2 * n; k++) p[k] = remap[p[k]];
    }
    symtab_free(h->syms);
    postings_free(h->postings);
    h->syms = ns;
    h->postings = np;
    free(remap);
    return 0;
fail:
    free(remap);
    symtab_free(ns);
    postings_free(np);
    return -1;
}

static void tombs_truncate(head_t *h, int64_t mint, const gc_state_t *g);

int head_truncate(head_t *h, int64_t mint, head_truncate_result_t *res, pl_err_t *err) {
    memset(res, 0, sizeof *res);
    pthread_rwlock_wrlock(&h->gc_lock);
    if (mint > atomic_load_explicit(&h->min_valid, memory_order_relaxed))
        atomic_store_explicit(&h->min_valid, mint, memory_order_relaxed);
    /* No appender or reader is inside: next_id and next_pair stand still. */
    uint32_t next = atomic_load_explicit(&h->next_id, memory_order_relaxed);
    uint64_t next_pair = atomic_load_explicit(&h->next_pair, memory_order_relaxed);
    size_t npair_pages = (size_t)(next_pair >> PAIR_PAGE_SHIFT) + 1;
    gc_state_t g = {h, calloc((size_t)next / 8 + 1, 1)};
    uint32_t *pair_live = calloc(npair_pages, sizeof *pair_live);
    idvec_t deleted = {0};
    if (!g.dead || !pair_live) {
        free(g.dead);
        free(pair_live);
        pthread_rwlock_unlock(&h->gc_lock);
        return pl_err_set(err, "head truncation: out of memory");
    }
    slab_pool_defer_release(&h->pool, true); /* one batch of madvise calls after, not one per slab */
    int64_t new_min = INT64_MAX;
    uint64_t live = 0;
    for (uint32_t id = 1; id < next; id++) {
        mem_series_t *s = series_get(h, id);
        if (!s) continue;
        chunk_alloc_t *ca = alloc_of(h, id);
        stripe_t *st = stripe_of(h, id);
        uint64_t dropped = 0;
        bool dead = s->app.t < mint; /* app.t: the series' last sample */
        chunk_list_t *cl = s->closed;
        if (cl) {
            uint32_t k = 0;
            for (uint32_t i = 0; i < cl->n; i++) {
                if (dead || cl->c[i].maxt < mint) {
                    chunk_free(ca, cl->c[i].data, cl->c[i].alloc);
                    dropped++;
                } else {
                    cl->c[k++] = cl->c[i];
                }
            }
            cl->n = k;
            if (k == 0) {
                chunk_free(ca, cl, list_size(cl->cap));
                s->closed = NULL;
            }
        }
        if (dead) {
            if (s->chunk) {
                chunk_free(ca, s->chunk, s->chunk_cap);
                dropped++;
            }
            s->chunk = NULL;
            s->chunk_cap = 0;
            atomic_store_explicit(&s->nlabels, 0, memory_order_relaxed);
            g.dead[id >> 3] |= (uint8_t)(1u << (id & 7));
            if (idvec_push(&deleted, id) != 0) res->deleted_overflow = true;
        } else {
            live++;
            pair_live[s->labels >> PAIR_PAGE_SHIFT]++;
            int64_t first = s->closed ? s->closed->c[0].mint : chunk_first_t(s->chunk);
            if (first < new_min) new_min = first;
        }
        if (dropped) {
            atomic_fetch_sub_explicit(&st->chunks, dropped, memory_order_relaxed);
            res->chunks_removed += dropped;
        }
    }
    size_t ndead = deleted.n;
    if (ndead) {
        for (unsigned i = 0; i < HEAD_SHARDS; i++) shard_gc(h, &h->shards[i], &g);
        /* Series record pages wholly below next_id with nothing live. */
        uint32_t per_page = 1u << SERIES_PAGE_SHIFT;
        for (uint64_t pg = 0; (pg + 1) * per_page <= next; pg++) {
            if (!hm_pages_try(&h->series, pg * per_page)) continue;
            bool any = false;
            for (uint32_t id = (uint32_t)(pg * per_page); id < (pg + 1) * per_page && !any; id++)
                any = series_get(h, id) != NULL;
            if (!any) hm_pages_release(&h->series, pg);
        }
        /* Label pair pages before the one being filled with no live set. */
        for (size_t pg = 0; pg + 1 < npair_pages; pg++)
            if (pair_live[pg] == 0) hm_pages_release(&h->pairs, pg);
        /* Symbols: rebuilt (with the postings) once at least half are dead;
         * otherwise the dead ids just leave the postings. */
        uint32_t nsyms = symtab_count(h->syms);
        uint8_t *used = calloc((size_t)nsyms / 8 + 1, 1);
        uint32_t nused = 0;
        if (used) {
            for (uint32_t id = 1; id < next; id++) {
                mem_series_t *s = series_get(h, id);
                if (!s) continue;
                uint32_t n = atomic_load_explicit(&s->nlabels, memory_order_relaxed);
                const uint32_t *p = series_pairs(h, s);
                for (uint32_t k = 0; k < 2 * n; k++)
                    if (!((used[p[k] >> 3] >> (p[k] & 7)) & 1)) {
                        used[p[k] >> 3] |= (uint8_t)(1u << (p[k] & 7));
                        nused++;
                    }
            }
            free(used);
        }
        if (used && nsyms >= 256 && (uint64_t)nused * 2 < nsyms && rebuild_symbols(h, next) == 0)
            res->symbols_rebuilt = true;
        else
            postings_remove(h->postings, id_dead, &g);
        atomic_fetch_add_explicit(&h->series_removed, ndead, memory_order_relaxed);
    }
    if (atomic_load_explicit(&h->ntombs, memory_order_relaxed)) tombs_truncate(h, mint, &g);
    atomic_fetch_add_explicit(&h->chunks_removed, res->chunks_removed, memory_order_relaxed);
    if (new_min != INT64_MAX && new_min < mint) new_min = mint;
    atomic_store_explicit(&h->min_time, new_min, memory_order_relaxed);
    if (live == 0) atomic_store_explicit(&h->max_time, INT64_MIN, memory_order_relaxed);
    pthread_rwlock_unlock(&h->gc_lock);
    slab_pool_defer_release(&h->pool, false);
    slab_pool_trim(&h->pool);
    free(g.dead);
    free(pair_live);
    /* Ids ascend: the refs come out sorted. */
    if (ndead) {
        res->deleted = malloc(ndead * sizeof *res->deleted);
        if (res->deleted) {
            for (size_t i = 0; i < ndead; i++) res->deleted[i] = deleted.v[i];
            res->ndeleted = ndead;
        } else {
            res->deleted_overflow = true;
        }
    }
    res->series_removed = ndead;
    idvec_free(&deleted);
    return 0;
}

void head_truncate_result_free(head_truncate_result_t *res) {
    free(res->deleted);
    res->deleted = NULL;
    res->ndeleted = 0;
}

void head_time_range(head_t *h, int64_t *mint, int64_t *maxt) {
    *mint = atomic_load_explicit(&h->min_time, memory_order_relaxed);
    *maxt = atomic_load_explicit(&h->max_time, memory_order_relaxed);
    int64_t mv = atomic_load_explicit(&h->min_valid, memory_order_relaxed);
    if (*mint != INT64_MAX && *mint < mv) *mint = mv;
}

/* ---- deletion (tombstones) --------------------------------------------------------- */

static int tomb_add_locked(head_t *h, uint32_t id, int64_t mint, int64_t maxt) {
    size_t n = atomic_load_explicit(&h->ntombs, memory_order_relaxed);
    if (n == h->tombs_cap) {
        size_t nc = h->tombs_cap ? h->tombs_cap * 2 : 16;
        head_tomb_t *nt = realloc(h->tombs, nc * sizeof *nt);
        if (!nt) return -1;
        h->tombs = nt;
        h->tombs_cap = nc;
    }
    size_t i = n;
    while (i > 0 && (h->tombs[i - 1].id > id || (h->tombs[i - 1].id == id && h->tombs[i - 1].mint > mint))) {
        h->tombs[i] = h->tombs[i - 1];
        i--;
    }
    h->tombs[i] = (head_tomb_t){id, mint, maxt};
    atomic_store_explicit(&h->ntombs, n + 1, memory_order_release);
    return 0;
}

int head_add_tombstone(head_t *h, series_ref_t ref, int64_t mint, int64_t maxt) {
    if (mint > maxt) return HEAD_OK;
    pthread_rwlock_rdlock(&h->gc_lock);
    int rc = series_get(h, ref) ? HEAD_OK : HEAD_ERR_NOT_FOUND;
    if (rc == HEAD_OK) {
        pthread_mutex_lock(&h->tomb_mu);
        if (tomb_add_locked(h, (uint32_t)ref, mint, maxt) != 0) rc = HEAD_ERR_INVALID;
        pthread_mutex_unlock(&h->tomb_mu);
    }
    pthread_rwlock_unlock(&h->gc_lock);
    return rc;
}

typedef struct delete_ctx {
    head_t *h;
    idvec_t ids;
} delete_ctx_t;

/* select callback: the id of the series with these labels. */
static int delete_collect(void *ctx, const label_t *ls, size_t n, const sample_t *s, size_t ns) {
    (void)s;
    (void)ns;
    delete_ctx_t *d = ctx;
    uint64_t hash = labels_hash(ls, n);
    series_shard_t *sh = &d->h->shards[hash >> (64 - HEAD_SHARD_BITS)];
    pthread_rwlock_rdlock(&sh->lock);
    uint32_t id = shard_find(d->h, sh, hash, ls, n);
    pthread_rwlock_unlock(&sh->lock);
    return id && idvec_push(&d->ids, id) != 0 ? -1 : 0;
}

int head_delete(head_t *h, const matcher_t *ms, size_t nms, int64_t mint, int64_t maxt, series_ref_t **refs,
                size_t *nrefs, pl_err_t *err) {
    *refs = NULL;
    *nrefs = 0;
    pthread_rwlock_rdlock(&h->gc_lock);
    delete_ctx_t d = {h, {0}};
    /* Series with samples in the interval only, as Prometheus. */
    int rc = select_unlocked(h, ms, nms, mint, maxt, delete_collect, &d, err);
    if (rc == 0 && d.ids.n) {
        *refs = malloc(d.ids.n * sizeof **refs);
        if (!*refs) rc = pl_err_set(err, "head delete: out of memory");
        pthread_mutex_lock(&h->tomb_mu);
        for (size_t i = 0; i < d.ids.n && rc == 0; i++) {
            if (tomb_add_locked(h, d.ids.v[i], mint, maxt) != 0) rc = pl_err_set(err, "head delete: out of memory");
            else (*refs)[(*nrefs)++] = d.ids.v[i];
        }
        pthread_mutex_unlock(&h->tomb_mu);
    } else if (rc != 0 && rc != -1) {
        rc = pl_err_set(err, "head delete: out of memory");
    }
    pthread_rwlock_unlock(&h->gc_lock);
    idvec_free(&d.ids);
    return rc;
}

/* At truncation (GC lock held exclusive): tombstones wholly before mint or of
 * deleted series go. */
static void tombs_truncate(head_t *h, int64_t mint, const gc_state_t *g) {
    pthread_mutex_lock(&h->tomb_mu);
    size_t n = atomic_load_explicit(&h->ntombs, memory_order_relaxed), k = 0;
    for (size_t i = 0; i < n; i++) {
        const head_tomb_t *t = &h->tombs[i];
        if (t->maxt < mint || id_dead((void *)g, t->id)) continue;
        h->tombs[k++] = *t;
    }
    atomic_store_explicit(&h->ntombs, k, memory_order_release);
    pthread_mutex_unlock(&h->tomb_mu);
}
