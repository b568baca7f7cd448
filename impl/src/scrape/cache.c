/* cache.c — the per-target scrape cache: see cache.h. */
#include "scrape/cache.h"

#include <stdlib.h>
#include <string.h>

_Static_assert(sizeof(scrape_cache_entry_t) == 24, "a scrape cache entry is meant to be 24 bytes");

#define SCRAPE_CACHE_MIN_CAP 16

void scrape_cache_init(scrape_cache_t *c) {
    memset(c, 0, sizeof *c);
    c->iter = 1;
}

void scrape_cache_free(scrape_cache_t *c) {
    free(c->slots);
    c->slots = NULL;
    c->cap = c->live = c->tombs = 0;
}

scrape_cache_entry_t *scrape_cache_get(scrape_cache_t *c, uint64_t hash) {
    if (c->cap == 0) return NULL;
    size_t mask = c->cap - 1;
    /* The load factor stays below 3/4 including tombstones, so an empty slot
     * always ends the probe. */
    for (size_t i = (size_t)hash & mask;; i = (i + 1) & mask) {
        scrape_cache_entry_t *e = &c->slots[i];
        if (e->flags & SCRAPE_CACHE_USED) {
            if (e->hash == hash) return e;
        } else if (!(e->flags & SCRAPE_CACHE_TOMB)) {
            return NULL;
        }
    }
}

/* Places an entry known to be absent into a table with room and no need to
 * check tombstones for a match; used by rehash. */
static scrape_cache_entry_t *place(scrape_cache_entry_t *slots, size_t cap, uint64_t hash) {
    size_t mask = cap - 1;
    size_t i = (size_t)hash & mask;
    while (slots[i].flags & SCRAPE_CACHE_USED)
        i = (i + 1) & mask;
    return &slots[i];
}

static int rehash(scrape_cache_t *c, size_t new_cap) {
    scrape_cache_entry_t *ns = calloc(new_cap, sizeof *ns);
    if (!ns) return -1;
    for (size_t i = 0; i < c->cap; i++) {
        const scrape_cache_entry_t *e = &c->slots[i];
        if (!(e->flags & SCRAPE_CACHE_USED)) continue;
        *place(ns, new_cap, e->hash) = *e;
    }
    free(c->slots);
    c->slots = ns;
    c->cap = new_cap;
    c->tombs = 0;
    return 0;
}

/* Smallest power of two that keeps n entries under a load of 1/2. */
static size_t cap_for(size_t n) {
    size_t cap = SCRAPE_CACHE_MIN_CAP;
    while (cap < n * 2)
        cap *= 2;
    return cap;
}

scrape_cache_entry_t *scrape_cache_put(scrape_cache_t *c, uint64_t hash) {
    if ((c->live + c->tombs + 1) * 4 > c->cap * 3) {
        /* Grow when live entries alone are heavy; otherwise a same-size
         * rehash is enough to clear the tombstones. */
        size_t want = cap_for(c->live + 1);
        if (want < c->cap) want = c->cap;
        if (rehash(c, want) != 0) return NULL;
    }
    size_t mask = c->cap - 1;
    size_t i = (size_t)hash & mask;
    while (c->slots[i].flags & SCRAPE_CACHE_USED)
        i = (i + 1) & mask;
    scrape_cache_entry_t *e = &c->slots[i];
    if (e->flags & SCRAPE_CACHE_TOMB) c->tombs--;
    e->hash = hash;
    e->ref = 0;
    e->iter = c->iter;
    e->flags = SCRAPE_CACHE_USED;
    c->live++;
    return e;
}

void scrape_cache_del(scrape_cache_t *c, scrape_cache_entry_t *e) {
    if (!(e->flags & SCRAPE_CACHE_USED)) return;
    e->flags = SCRAPE_CACHE_TOMB;
    e->ref = 0;
    e->hash = 0;
    c->live--;
    c->tombs++;
}

void scrape_cache_compact(scrape_cache_t *c) {
    if (c->cap == 0) return;
    if (c->live == 0) {
        scrape_cache_free(c);
        return;
    }
    /* Shrink when a target lost most of its series (to a load under 1/2, so a
     * few new series do not grow it straight back); otherwise clear the
     * tombstones once they take more than a quarter of the table. */
    size_t want = cap_for(c->live);
    if (want * 4 <= c->cap)
        (void)rehash(c, want);
    else if (c->tombs * 4 > c->cap)
        (void)rehash(c, c->cap);
}

size_t scrape_cache_bytes(const scrape_cache_t *c) { return c->cap * sizeof(scrape_cache_entry_t); }
