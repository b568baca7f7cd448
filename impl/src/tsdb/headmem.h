/* headmem.h — memory building blocks of the head (private to tsdb/).
 *
 * The head must hold millions of series in ~0.5 KB each and never double its
 * footprint while growing, so it avoids the two usual culprits: many small
 * mallocs (8-16 bytes of overhead each, fragmentation) and big arrays that
 * grow by copying (old + new alive at once). Three tools:
 *
 *  hm_alloc / hm_realloc / hm_free: zeroed blocks; from 64 KiB up they are
 *    private mmaps, so freeing returns memory to the kernel at once and
 *    growing uses mremap (no copy, no second copy alive).
 *
 *  hm_pages_t: an array of fixed-size elements in pages that are never moved.
 *    A fixed directory of page pointers is reserved up front (zero pages, not
 *    resident until touched); pages are allocated on first use with a CAS.
 *    Readers may index any element published to them without a lock.
 *
 *  slab_alloc_t: a size-class allocator for variable small buffers (chunk
 *    bytes, chunk lists). Classes step by <= 25% from 32 to 2048 bytes; larger
 *    requests go to malloc. Slabs are 16 KiB, carved from 4 MiB mappings
 *    shared through a slab_pool_t; a slab whose last slot is freed goes back
 *    to the pool and, past a small reserve, is returned to the kernel with
 *    MADV_DONTNEED. Not thread-safe: the caller serialises each slab_alloc_t
 *    (the head keeps 16, each behind a mutex); the pool has its own mutex.
 *    Callers pass the requested size back to slab_free. */
#ifndef PL_TSDB_HEADMEM_H
#define PL_TSDB_HEADMEM_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define HM_MMAP_MIN (64 * 1024)

void *hm_alloc(size_t size); /* zeroed; NULL on failure */
void hm_free(void *p, size_t size);

/* Open-addressing tables of u64 slots whose high 32 bits are the hash tag
 * (0 = empty slot): allocates a table of ncap (a power of two) slots and
 * re-inserts the old table's slots by tag with linear probing. The old
 * table is left to the caller. NULL on allocation failure. */
uint64_t *hm_rehash_tagged(const uint64_t *old, uint32_t oldcap, uint32_t ncap);
/* Grows or shrinks; bytes past old are NOT zeroed. NULL on failure (p is kept). */
void *hm_realloc(void *p, size_t old, size_t size);

typedef struct hm_pages {
    _Atomic(char *) *dir;
    size_t ndir;    /* directory slots = max pages */
    unsigned shift; /* log2 of elements per page */
    size_t elem;    /* element size */
    _Atomic size_t npages;
} hm_pages_t;

int hm_pages_init(hm_pages_t *pa, size_t elem, unsigned shift, uint64_t max_elems);
void hm_pages_free(hm_pages_t *pa);
/* Element i, whose page must exist (i was published by hm_pages_ensure). */
static inline void *hm_pages_at(const hm_pages_t *pa, uint64_t i) {
    char *pg = atomic_load_explicit(&pa->dir[i >> pa->shift], memory_order_acquire);
    return pg + (i & (((uint64_t)1 << pa->shift) - 1)) * pa->elem;
}
/* Element i, or NULL if its page does not exist (yet). */
static inline void *hm_pages_try(const hm_pages_t *pa, uint64_t i) {
    if ((i >> pa->shift) >= pa->ndir) return NULL;
    char *pg = atomic_load_explicit(&pa->dir[i >> pa->shift], memory_order_acquire);
    return pg ? pg + (i & (((uint64_t)1 << pa->shift) - 1)) * pa->elem : NULL;
}
/* Element i, allocating its (zeroed) page if needed; NULL past the maximum or
 * on allocation failure. Thread-safe. */
void *hm_pages_ensure(hm_pages_t *pa, uint64_t i);
size_t hm_pages_bytes(const hm_pages_t *pa); /* pages allocated, in bytes */
/* Frees page number `page` (elements [page << shift, (page + 1) << shift)).
 * The caller guarantees no one reads it any more and no one will ensure an
 * element of it again (the head: under its GC lock, ids below the next id). */
void hm_pages_release(hm_pages_t *pa, uint64_t page);

/* ---- slabs ---------------------------------------------------------- */

#define SLAB_BYTES (16 * 1024)
#define SLAB_MAX_CLASS 2048
#define SLAB_NCLASSES 25

typedef struct slab slab_t;

typedef struct slab_pool {
    pthread_mutex_t lock;
    bool use_malloc; /* debugging mode: every allocation is a malloc (lets ASan see bounds) */
    struct {
        void *base;
        size_t len;
    } *regions;
    size_t nregions, regions_cap;
    char *carve, *carve_end; /* unused part of the newest region */
    slab_t **kept;           /* free slabs still resident */
    size_t nkept, kept_cap;
    slab_t **released; /* free slabs given back with MADV_DONTNEED */
    size_t nreleased, released_cap;
    _Atomic size_t held_bytes;  /* slabs in use or kept: what the pool costs in RSS */
    _Atomic size_t large_bytes; /* allocations above SLAB_MAX_CLASS (malloc'd) */
    _Atomic size_t live_bytes;  /* bytes in live slots (class sizes) */
    bool defer_release;         /* under lock: free slabs stay kept (no madvise) until slab_pool_trim */
} slab_pool_t;

typedef struct slab_alloc {
    slab_pool_t *pool;
    slab_t *partial[SLAB_NCLASSES]; /* slabs with a free slot, per class */
} slab_alloc_t;

int slab_pool_init(slab_pool_t *p, bool use_malloc);
void slab_pool_destroy(slab_pool_t *p); /* unmaps everything; live slots die with it */
void slab_alloc_init(slab_alloc_t *a, slab_pool_t *p);
/* Bulk freeing (head truncation): while deferred, emptied slabs are kept
 * resident instead of each being given back with its own madvise (a TLB
 * shootdown each, slow under a hypervisor); slab_pool_trim then gives back
 * all but the usual reserve, sorted and coalesced into few madvise calls,
 * outside the pool lock. */
void slab_pool_defer_release(slab_pool_t *p, bool defer);
void slab_pool_trim(slab_pool_t *p);

/* The capacity a request of size bytes gets (size itself above SLAB_MAX_CLASS). */
size_t slab_size_class(size_t size);
/* Memory for size bytes (size > 0); contents undefined. NULL on failure. */
void *slab_malloc(slab_alloc_t *a, size_t size);
/* Frees p, which came from slab_malloc(a, size) with this very allocator. */
void slab_free(slab_alloc_t *a, void *p, size_t size);

#endif
