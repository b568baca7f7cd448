/* symbols.c — see symbols.h.
 *
 * Layout per symbol: the string bytes + NUL in a shard's arena page, 8 bytes
 * in the id -> string page array, and an 8-byte hash slot (32-bit hash tag,
 * id + 1) in an open-addressing table kept at most 75% full. Each shard grows
 * its own table, so a resize copies 1/64 of the whole, not all of it. */
#include "tsdb/symbols.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#define XXH_INLINE_ALL
#include <xxhash.h>

#include "tsdb/headmem.h"

#define SYM_SHARD_BITS 6
#define SYM_SHARDS (1u << SYM_SHARD_BITS)
#define SYM_MAX (1u << 28)
#define SYM_PAGE_SHIFT 15           /* ids per page of the id -> string array */
#define SYM_ARENA_PAGE (64u << 10) /* string arena page (mmap'd, resident as it fills) */
#define SYM_BIG (SYM_ARENA_PAGE / 8) /* strings at least this long get their own block */

typedef struct sym_block {
    char *p;
    size_t size;
} sym_block_t;

typedef struct sym_shard {
    pthread_rwlock_t lock;
    uint32_t cap, count; /* slots, used slots */
    uint64_t *slots;     /* (tag << 32) | (id + 1); 0 = empty */
    char *page;          /* current arena page */
    size_t page_used;
    sym_block_t *blocks; /* every page and big string, for freeing */
    size_t nblocks, blocks_cap;
    size_t bytes; /* string bytes stored (what is resident of the arena) */
} sym_shard_t;

struct symtab {
    sym_shard_t shards[SYM_SHARDS];
    hm_pages_t strs; /* id -> const char * */
    _Atomic uint32_t next;
};

symtab_t *symtab_new(void) {
    symtab_t *st = calloc(1, sizeof *st);
    if (!st) return NULL;
    if (hm_pages_init(&st->strs, sizeof(char *), SYM_PAGE_SHIFT, SYM_MAX) != 0) {
        free(st);
        return NULL;
    }
    for (unsigned i = 0; i < SYM_SHARDS; i++) pthread_rwlock_init(&st->shards[i].lock, NULL);
    atomic_init(&st->next, 0);
    return st;
}

void symtab_free(symtab_t *st) {
    if (!st) return;
    for (unsigned i = 0; i < SYM_SHARDS; i++) {
        sym_shard_t *sh = &st->shards[i];
        for (size_t b = 0; b < sh->nblocks; b++) hm_free(sh->blocks[b].p, sh->blocks[b].size);
        free(sh->blocks);
        hm_free(sh->slots, (size_t)sh->cap * sizeof *sh->slots);
        pthread_rwlock_destroy(&sh->lock);
    }
    hm_pages_free(&st->strs);
    free(st);
}

const char *symtab_str(const symtab_t *st, uint32_t id) { return *(const char **)hm_pages_at(&st->strs, id); }

uint32_t symtab_count(const symtab_t *st) { return atomic_load_explicit(&st->next, memory_order_relaxed); }

size_t symtab_bytes(const symtab_t *st) {
    size_t b = hm_pages_bytes(&st->strs) + sizeof *st;
    /* Shard fields change under their locks; these sums are for statistics
     * and tolerate being a moment old, so read them without locking. */
    for (unsigned i = 0; i < SYM_SHARDS; i++) {
        const sym_shard_t *sh = &st->shards[i];
        b += __atomic_load_n(&sh->bytes, __ATOMIC_RELAXED) +
             (size_t)__atomic_load_n(&sh->cap, __ATOMIC_RELAXED) * sizeof(uint64_t);
    }
    return b;
}

static uint64_t sym_hash(const char *s, size_t len) { return XXH3_64bits(s, len); }

/* Slot index of s in sh, or the empty slot where it would go (*found false). */
static uint32_t probe(const symtab_t *st, const sym_shard_t *sh, uint64_t h, const char *s, size_t len,
                      bool *found) {
    uint32_t mask = sh->cap - 1, tag = (uint32_t)h;
    for (uint32_t i = tag & mask;; i = (i + 1) & mask) {
        uint64_t slot = sh->slots[i];
        if (slot == 0) {
            *found = false;
            return i;
        }
        if ((uint32_t)(slot >> 32) == tag) {
            const char *str = symtab_str(st, (uint32_t)slot - 1);
            if (strncmp(str, s, len) == 0 && str[len] == '\0') {
                *found = true;
                return i;
            }
        }
    }
}

static bool lookup(const symtab_t *st, const sym_shard_t *sh, uint64_t h, const char *s, size_t len,
                   uint32_t *id) {
    if (sh->cap == 0) return false;
    bool found;
    uint32_t i = probe(st, sh, h, s, len, &found);
    if (found) *id = (uint32_t)sh->slots[i] - 1;
    return found;
}

bool symtab_find(symtab_t *st, const char *s, size_t len, uint32_t *id) {
    uint64_t h = sym_hash(s, len);
    sym_shard_t *sh = &st->shards[h >> (64 - SYM_SHARD_BITS)];
    pthread_rwlock_rdlock(&sh->lock);
    bool ok = lookup(st, sh, h, s, len, id);
    pthread_rwlock_unlock(&sh->lock);
    return ok;
}

static bool add_block(sym_shard_t *sh, char *p, size_t size) {
    if (sh->nblocks == sh->blocks_cap) {
        size_t nc = sh->blocks_cap ? sh->blocks_cap * 2 : 8;
        sym_block_t *b = realloc(sh->blocks, nc * sizeof *b);
        if (!b) return false;
        sh->blocks = b;
        sh->blocks_cap = nc;
    }
    sh->blocks[sh->nblocks].p = p;
    sh->blocks[sh->nblocks].size = size;
    sh->nblocks++;
    return true;
}

/* Copies s into the shard's arena; the copy is NUL-terminated. */
static char *store(sym_shard_t *sh, const char *s, size_t len) {
    char *dst;
    if (len + 1 >= SYM_BIG) {
        dst = hm_alloc(len + 1);
        if (!dst || !add_block(sh, dst, len + 1)) {
            hm_free(dst, len + 1);
            return NULL;
        }
    } else {
        if (!sh->page || sh->page_used + len + 1 > SYM_ARENA_PAGE) {
            char *pg = hm_alloc(SYM_ARENA_PAGE);
            if (!pg || !add_block(sh, pg, SYM_ARENA_PAGE)) {
                hm_free(pg, SYM_ARENA_PAGE);
                return NULL;
            }
            sh->page = pg;
            sh->page_used = 0;
        }
        dst = sh->page + sh->page_used;
        sh->page_used += len + 1;
    }
    memcpy(dst, s, len);
    dst[len] = '\0';
    __atomic_store_n(&sh->bytes, sh->bytes + len + 1, __ATOMIC_RELAXED);
    return dst;
}

static int grow(symtab_t *st, sym_shard_t *sh) {
    uint32_t ncap = sh->cap ? sh->cap * 2 : 64;
    uint64_t *ns = hm_rehash_tagged(sh->slots, sh->cap, ncap);
    if (!ns) return -1;
    (void)st;
    hm_free(sh->slots, (size_t)sh->cap * sizeof *sh->slots);
    sh->slots = ns;
    __atomic_store_n(&sh->cap, ncap, __ATOMIC_RELAXED);
    return 0;
}

int symtab_intern(symtab_t *st, const char *s, size_t len, uint32_t *id) {
    uint64_t h = sym_hash(s, len);
    sym_shard_t *sh = &st->shards[h >> (64 - SYM_SHARD_BITS)];
    pthread_rwlock_rdlock(&sh->lock);
    bool ok = lookup(st, sh, h, s, len, id);
    pthread_rwlock_unlock(&sh->lock);
    if (ok) return 0;

    int rc = -1;
    pthread_rwlock_wrlock(&sh->lock);
    if (lookup(st, sh, h, s, len, id)) {
        rc = 0;
        goto out;
    }
    if ((uint64_t)(sh->count + 1) * 4 > (uint64_t)sh->cap * 3 && grow(st, sh) != 0) goto out;
    uint32_t nid = atomic_load_explicit(&st->next, memory_order_relaxed);
    do {
        if (nid >= SYM_MAX) goto out;
    } while (!atomic_compare_exchange_weak_explicit(&st->next, &nid, nid + 1, memory_order_relaxed,
                                                    memory_order_relaxed));
    /* From here on the id is taken; on failure it stays a hole no one sees. */
    const char **slot = hm_pages_ensure(&st->strs, nid);
    char *copy = slot ? store(sh, s, len) : NULL;
    if (!copy) goto out;
    *slot = copy;
    bool found;
    uint32_t i = probe(st, sh, h, s, len, &found);
    sh->slots[i] = ((uint64_t)(uint32_t)h << 32) | ((uint64_t)nid + 1);
    sh->count++;
    *id = nid;
    rc = 0;
out:
    pthread_rwlock_unlock(&sh->lock);
    return rc;
}
