/* cache.h — the per-target scrape cache (private to scrape/).
 *
 * Maps the hash of a series as the target wrote it (textparse_sample_t.raw:
 * name and labels, before target labels are attached) to the head ref it was
 * stored under, plus the scrape iteration that last saw it. A steady target
 * therefore appends by ref without building a label set.
 *
 * Why a hash and not the string: a target with a million series would keep a
 * million copies of its series text (~100 B each) alive just to look them up.
 * An entry here is 24 bytes. The price is that two different series whose
 * 64-bit xxh3 hashes collide would be merged; at a million series per target
 * the odds are about 3 in 10^8 per target, which we accept (documented in
 * scrape.h's module comment).
 *
 * Open addressing with linear probing; deletions leave tombstones, which a
 * rehash clears once they pile up (each scrape sweeps the whole table anyway,
 * so the table is compacted at the end of a sweep). */
#ifndef PL_SCRAPE_CACHE_H
#define PL_SCRAPE_CACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tsdb/head.h"

enum scrape_cache_flag {
    SCRAPE_CACHE_USED = 1u << 0,       /* slot holds an entry */
    SCRAPE_CACHE_TOMB = 1u << 1,       /* slot held an entry that was deleted */
    SCRAPE_CACHE_TRACK = 1u << 2,      /* series of the last successful scrape that gets a stale
                                          marker when it disappears (no explicit timestamp, or
                                          track_timestamps_staleness) */
    SCRAPE_CACHE_TRACK_NEXT = 1u << 3, /* what TRACK becomes if the scrape being parsed commits */
    SCRAPE_CACHE_DROPPED = 1u << 4,    /* series dropped by metric relabeling: ref unused */
};

typedef struct scrape_cache_entry {
    uint64_t hash;    /* xxh3 of the raw series bytes */
    series_ref_t ref; /* head ref; 0 while the series is new in the scrape being parsed */
    uint32_t iter;    /* scrape iteration that last saw the series */
    uint32_t flags;   /* enum scrape_cache_flag */
} scrape_cache_entry_t;

typedef struct scrape_cache {
    scrape_cache_entry_t *slots; /* cap slots, or NULL */
    size_t cap;                  /* 0 or a power of two */
    size_t live;                 /* USED entries */
    size_t tombs;                /* TOMB slots */
    uint32_t iter;               /* current scrape iteration, starts at 1 */
} scrape_cache_t;

void scrape_cache_init(scrape_cache_t *c);
void scrape_cache_free(scrape_cache_t *c);
/* Entry for hash, or NULL. The pointer is valid until the next put or compact. */
scrape_cache_entry_t *scrape_cache_get(scrape_cache_t *c, uint64_t hash);
/* Inserts a new entry for hash (which must not be present) with ref 0, the
 * current iteration and flags USED. May grow the table, which invalidates
 * earlier entry pointers. NULL when out of memory. */
scrape_cache_entry_t *scrape_cache_put(scrape_cache_t *c, uint64_t hash);
/* Deletes e (a pointer from get/put or a sweep over slots). Never moves other entries. */
void scrape_cache_del(scrape_cache_t *c, scrape_cache_entry_t *e);
/* Rehashes when tombstones are many or the table is mostly empty. Invalidates
 * entry pointers. A failed allocation leaves the table as it was. */
void scrape_cache_compact(scrape_cache_t *c);
/* Bytes held by the table. */
size_t scrape_cache_bytes(const scrape_cache_t *c);

#endif
