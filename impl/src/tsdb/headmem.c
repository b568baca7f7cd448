/* headmem.c — big blocks, paged arrays and the slab allocator (see headmem.h). */
#include "tsdb/headmem.h"

#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

/* ---- big blocks ----------------------------------------------------- */

static size_t page_round(size_t n) {
    size_t pg = 4096;
    return (n + pg - 1) & ~(pg - 1);
}

void *hm_alloc(size_t size) {
    if (size < HM_MMAP_MIN) return calloc(1, size ? size : 1);
    void *p = mmap(NULL, page_round(size), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    return p == MAP_FAILED ? NULL : p;
}

void hm_free(void *p, size_t size) {
    if (!p) return;
    if (size < HM_MMAP_MIN)
        free(p);
    else
        munmap(p, page_round(size));
}

void *hm_realloc(void *p, size_t old, size_t size) {
    if (!p) return hm_alloc(size);
    bool was_map = old >= HM_MMAP_MIN, is_map = size >= HM_MMAP_MIN;
    if (!was_map && !is_map) return realloc(p, size ? size : 1);
    if (was_map && is_map) {
        if (page_round(old) == page_round(size)) return p;
        void *q = mremap(p, page_round(old), page_round(size), MREMAP_MAYMOVE);
        return q == MAP_FAILED ? NULL : q;
    }
    void *q = hm_alloc(size);
    if (!q) return NULL;
    memcpy(q, p, old < size ? old : size);
    hm_free(p, old);
    return q;
}

/* ---- paged arrays --------------------------------------------------- */

int hm_pages_init(hm_pages_t *pa, size_t elem, unsigned shift, uint64_t max_elems) {
    pa->elem = elem;
    pa->shift = shift;
    pa->ndir = (size_t)((max_elems + ((uint64_t)1 << shift) - 1) >> shift);
    pa->dir = hm_alloc(pa->ndir * sizeof *pa->dir);
    atomic_init(&pa->npages, 0);
    return pa->dir ? 0 : -1;
}

void hm_pages_free(hm_pages_t *pa) {
    if (!pa->dir) return;
    size_t page_bytes = pa->elem << pa->shift;
    for (size_t i = 0; i < pa->ndir; i++) {
        char *pg = atomic_load_explicit(&pa->dir[i], memory_order_relaxed);
        if (pg) hm_free(pg, page_bytes);
    }
    hm_free((void *)pa->dir, pa->ndir * sizeof *pa->dir);
    pa->dir = NULL;
}

void *hm_pages_ensure(hm_pages_t *pa, uint64_t i) {
    uint64_t pi = i >> pa->shift;
    if (pi >= pa->ndir) return NULL;
    char *pg = atomic_load_explicit(&pa->dir[pi], memory_order_acquire);
    if (!pg) {
        size_t page_bytes = pa->elem << pa->shift;
        char *fresh = hm_alloc(page_bytes);
        if (!fresh) return NULL;
        char *expected = NULL;
        if (atomic_compare_exchange_strong_explicit(&pa->dir[pi], &expected, fresh, memory_order_acq_rel,
                                                    memory_order_acquire)) {
            pg = fresh;
            atomic_fetch_add_explicit(&pa->npages, 1, memory_order_relaxed);
        } else {
            hm_free(fresh, page_bytes); /* another thread won the race */
            pg = expected;
        }
    }
    return pg + (i & (((uint64_t)1 << pa->shift) - 1)) * pa->elem;
}

size_t hm_pages_bytes(const hm_pages_t *pa) {
    return atomic_load_explicit(&pa->npages, memory_order_relaxed) * (pa->elem << pa->shift) +
           pa->ndir * sizeof *pa->dir;
}

void hm_pages_release(hm_pages_t *pa, uint64_t page) {
    if (page >= pa->ndir) return;
    char *pg = atomic_exchange_explicit(&pa->dir[page], NULL, memory_order_acq_rel);
    if (!pg) return;
    hm_free(pg, pa->elem << pa->shift);
    atomic_fetch_sub_explicit(&pa->npages, 1, memory_order_relaxed);
}

/* ---- slabs ---------------------------------------------------------- */

#define SLAB_REGION_BYTES (4u << 20)
#define SLAB_HEADER 64
#define SLAB_KEEP 128 /* free slabs (2 MiB) kept resident before giving them back */

static const uint16_t class_bytes[SLAB_NCLASSES] = {32,  40,  48,  56,  64,  80,  96,   112,  128,
                                                    160, 192, 224, 256, 320, 384, 448,  512,  640,
                                                    768, 896, 1024, 1280, 1536, 1792, 2048};

struct slab {
    slab_t *next, *prev; /* links in the allocator's partial list */
    void *free;          /* freed slots, linked through their first word */
    uint32_t live;       /* slots handed out */
    uint32_t bump;       /* slots ever handed out fresh; the rest were never touched */
    uint16_t cls;
    bool listed; /* on the partial list */
};
_Static_assert(sizeof(slab_t) <= SLAB_HEADER, "slab header too big");

static int class_of(size_t size) {
    int lo = 0, hi = SLAB_NCLASSES - 1;
    while (lo < hi) {
        int mid = (lo + hi) / 2;
        if (class_bytes[mid] >= size)
            hi = mid;
        else
            lo = mid + 1;
    }
    return lo;
}

static uint32_t class_slots(int cls) { return (SLAB_BYTES - SLAB_HEADER) / class_bytes[cls]; }

size_t slab_size_class(size_t size) {
    if (size > SLAB_MAX_CLASS) return size;
    return class_bytes[class_of(size)];
}

int slab_pool_init(slab_pool_t *p, bool use_malloc) {
    memset(p, 0, sizeof *p);
    p->use_malloc = use_malloc;
    atomic_init(&p->held_bytes, 0);
    atomic_init(&p->large_bytes, 0);
    atomic_init(&p->live_bytes, 0);
    return pthread_mutex_init(&p->lock, NULL) ? -1 : 0;
}

void slab_pool_destroy(slab_pool_t *p) {
    for (size_t i = 0; i < p->nregions; i++) munmap(p->regions[i].base, p->regions[i].len);
    free(p->regions);
    free(p->kept);
    free(p->released);
    pthread_mutex_destroy(&p->lock);
    memset(p, 0, sizeof *p);
}

void slab_alloc_init(slab_alloc_t *a, slab_pool_t *p) {
    memset(a, 0, sizeof *a);
    a->pool = p;
}

static bool push_slab(slab_t ***arr, size_t *n, size_t *cap, slab_t *s) {
    if (*n == *cap) {
        size_t nc = *cap ? *cap * 2 : 64;
        slab_t **q = realloc(*arr, nc * sizeof *q);
        if (!q) return false;
        *arr = q;
        *cap = nc;
    }
    (*arr)[(*n)++] = s;
    return true;
}

static slab_t *pool_get(slab_pool_t *p) {
    slab_t *s = NULL;
    pthread_mutex_lock(&p->lock);
    if (p->nkept) {
        s = p->kept[--p->nkept];
    } else if (p->nreleased) {
        s = p->released[--p->nreleased];
        atomic_fetch_add_explicit(&p->held_bytes, SLAB_BYTES, memory_order_relaxed);
    } else {
        if (p->carve == p->carve_end) {
            if (p->nregions == p->regions_cap) {
                size_t nc = p->regions_cap ? p->regions_cap * 2 : 16;
                void *q = realloc(p->regions, nc * sizeof *p->regions);
                if (!q) goto out;
                p->regions = q;
                p->regions_cap = nc;
            }
            /* Over-map by one slab so the slabs can be aligned to their size:
             * a slot finds its slab header by masking its address. */
            size_t len = SLAB_REGION_BYTES + SLAB_BYTES;
            char *base = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
            if (base == MAP_FAILED) goto out;
            p->regions[p->nregions].base = base;
            p->regions[p->nregions].len = len;
            p->nregions++;
            p->carve = (char *)(((uintptr_t)base + SLAB_BYTES - 1) & ~(uintptr_t)(SLAB_BYTES - 1));
            p->carve_end = p->carve + SLAB_REGION_BYTES;
        }
        s = (slab_t *)p->carve;
        p->carve += SLAB_BYTES;
        atomic_fetch_add_explicit(&p->held_bytes, SLAB_BYTES, memory_order_relaxed);
    }
out:
    pthread_mutex_unlock(&p->lock);
    return s;
}

static void pool_put(slab_pool_t *p, slab_t *s) {
    pthread_mutex_lock(&p->lock);
    if ((p->defer_release || p->nkept < SLAB_KEEP) && push_slab(&p->kept, &p->nkept, &p->kept_cap, s)) {
        pthread_mutex_unlock(&p->lock);
        return;
    }
    madvise(s, SLAB_BYTES, MADV_DONTNEED);
    if (push_slab(&p->released, &p->nreleased, &p->released_cap, s))
        atomic_fetch_sub_explicit(&p->held_bytes, SLAB_BYTES, memory_order_relaxed);
    /* else: the slab is lost for reuse but stays mapped; it is unmapped with the pool */
    pthread_mutex_unlock(&p->lock);
}

static void list_push(slab_alloc_t *a, slab_t *s) {
    s->prev = NULL;
    s->next = a->partial[s->cls];
    if (s->next) s->next->prev = s;
    a->partial[s->cls] = s;
    s->listed = true;
}

static void list_remove(slab_alloc_t *a, slab_t *s) {
    if (s->prev)
        s->prev->next = s->next;
    else
        a->partial[s->cls] = s->next;
    if (s->next) s->next->prev = s->prev;
    s->next = s->prev = NULL;
    s->listed = false;
}

void *slab_malloc(slab_alloc_t *a, size_t size) {
    slab_pool_t *p = a->pool;
    if (size > SLAB_MAX_CLASS || p->use_malloc) {
        void *q = malloc(size);
        if (q) atomic_fetch_add_explicit(size > SLAB_MAX_CLASS ? &p->large_bytes : &p->live_bytes, size,
                                         memory_order_relaxed);
        return q;
    }
    int cls = class_of(size);
    slab_t *s = a->partial[cls];
    if (!s) {
        s = pool_get(p);
        if (!s) return NULL;
        memset(s, 0, sizeof *s);
        s->cls = (uint16_t)cls;
        list_push(a, s);
    }
    void *q;
    if (s->free) {
        q = s->free;
        memcpy(&s->free, q, sizeof s->free);
    } else {
        q = (char *)s + SLAB_HEADER + (size_t)s->bump * class_bytes[cls];
        s->bump++;
    }
    s->live++;
    if (!s->free && s->bump == class_slots(cls)) list_remove(a, s);
    atomic_fetch_add_explicit(&p->live_bytes, class_bytes[cls], memory_order_relaxed);
    return q;
}

void slab_free(slab_alloc_t *a, void *q, size_t size) {
    if (!q) return;
    slab_pool_t *p = a->pool;
    if (size > SLAB_MAX_CLASS || p->use_malloc) {
        free(q);
        atomic_fetch_sub_explicit(size > SLAB_MAX_CLASS ? &p->large_bytes : &p->live_bytes, size,
                                  memory_order_relaxed);
        return;
    }
    slab_t *s = (slab_t *)((uintptr_t)q & ~(uintptr_t)(SLAB_BYTES - 1));
    memcpy(q, &s->free, sizeof s->free);
    s->free = q;
    s->live--;
    atomic_fetch_sub_explicit(&p->live_bytes, class_bytes[s->cls], memory_order_relaxed);
    if (!s->listed) {
        /* The list head may be an empty slab kept because it was the only
         * one; now that it will not be, give it back. */
        slab_t *head = a->partial[s->cls];
        if (head && head->live == 0) {
            list_remove(a, head);
            pool_put(p, head);
        }
        list_push(a, s);
    }
    /* An empty slab goes back to the pool, unless it is the class's only one
     * (alloc/free at a boundary would otherwise bounce it through the pool). */
    if (s->live == 0 && !(a->partial[s->cls] == s && s->next == NULL)) {
        list_remove(a, s);
        pool_put(p, s);
    }
}

uint64_t *hm_rehash_tagged(const uint64_t *old, uint32_t oldcap, uint32_t ncap) {
    uint64_t *ns = hm_alloc((size_t)ncap * sizeof *ns);
    if (!ns) return NULL;
    for (uint32_t i = 0; i < oldcap; i++) {
        uint64_t slot = old[i];
        if (!slot) continue;
        uint32_t j = (uint32_t)(slot >> 32) & (ncap - 1);
        while (ns[j]) j = (j + 1) & (ncap - 1);
        ns[j] = slot;
    }
    return ns;
}

void slab_pool_defer_release(slab_pool_t *p, bool defer) {
    pthread_mutex_lock(&p->lock);
    p->defer_release = defer;
    pthread_mutex_unlock(&p->lock);
}

static int cmp_slab_addr(const void *a, const void *b) {
    uintptr_t x = (uintptr_t)*(slab_t *const *)a, y = (uintptr_t)*(slab_t *const *)b;
    return x < y ? -1 : x > y;
}

void slab_pool_trim(slab_pool_t *p) {
    pthread_mutex_lock(&p->lock);
    size_t extra = p->nkept > SLAB_KEEP ? p->nkept - SLAB_KEEP : 0;
    slab_t **v = extra ? malloc(extra * sizeof *v) : NULL;
    if (v) {
        memcpy(v, p->kept + SLAB_KEEP, extra * sizeof *v);
        p->nkept = SLAB_KEEP;
    }
    pthread_mutex_unlock(&p->lock);
    if (!v) return; /* nothing extra, or no memory to sort them: they stay kept */
    qsort(v, extra, sizeof *v, cmp_slab_addr);
    for (size_t i = 0; i < extra;) {
        size_t j = i + 1;
        while (j < extra && (char *)v[j] == (char *)v[j - 1] + SLAB_BYTES) j++;
        madvise(v[i], (j - i) * SLAB_BYTES, MADV_DONTNEED);
        i = j;
    }
    pthread_mutex_lock(&p->lock);
    for (size_t i = 0; i < extra; i++) {
        if (push_slab(&p->released, &p->nreleased, &p->released_cap, v[i]))
            atomic_fetch_sub_explicit(&p->held_bytes, SLAB_BYTES, memory_order_relaxed);
        /* else: lost for reuse, unmapped with the pool (as in pool_put) */
    }
    pthread_mutex_unlock(&p->lock);
    free(v);
}
