/* postings.h — the head's inverted index: for each label (name, value) pair
 * the sorted ids of the series that carry it (private to tsdb/).
 *
 * Names and values are symbol ids (symbols.h). Per label name there is one
 * table of its values, under the name's rwlock; a table of names sits on top
 * under its own rwlock. A value's list of series ids is kept inline when it
 * has at most two ids (the common case for unique labels such as an
 * instance or series id), else in an array that grows by 2x while small and
 * by 1/8 when large (mremap from 64 KiB up, so growth never copies a big
 * list). Ids are appended in increasing order in the common case; a smaller
 * id (two series created concurrently) is inserted in place. Thread-safe. */
#ifndef PL_TSDB_POSTINGS_H
#define PL_TSDB_POSTINGS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct postings_index postings_index_t;

/* A growable array of series ids. */
typedef struct idvec {
    uint32_t *v;
    size_t n, cap;
} idvec_t;

int idvec_push(idvec_t *iv, uint32_t id);
int idvec_append(idvec_t *iv, const uint32_t *ids, size_t n);
void idvec_free(idvec_t *iv);

postings_index_t *postings_new(void);
void postings_free(postings_index_t *pi);
/* Adds series id to the list of (name, value). -1 on allocation failure. */
int postings_add(postings_index_t *pi, uint32_t name, uint32_t value, uint32_t id);
/* True if some series has label name. */
bool postings_has_name(postings_index_t *pi, uint32_t name);
/* Appends the ids of (name, value) to out (sorted, as stored). Returns the
 * number appended, or -1 on allocation failure. */
long postings_get(postings_index_t *pi, uint32_t name, uint32_t value, idvec_t *out);
/* Calls fn for each value of name, in no particular order, with that value's
 * ids, under the name's read lock: fn must not call back into the index.
 * fn returns 0 to go on. Returns fn's non-zero value or 0. */
typedef int (*postings_value_fn)(void *ctx, uint32_t value, const uint32_t *ids, size_t n);
int postings_foreach_value(postings_index_t *pi, uint32_t name, postings_value_fn fn, void *ctx);
/* Calls fn with each label name (a symbol id), under the index's read lock. */
typedef int (*postings_name_fn)(void *ctx, uint32_t name);
int postings_foreach_name(postings_index_t *pi, postings_name_fn fn, void *ctx);
/* Removes every id for which dead(ctx, id) is true from every list; values
 * left without ids and names left without values go, and their memory with
 * them. Returns how many ids were removed. Takes the index's locks, but the
 * head calls it only under its GC lock, with no reader or writer inside. */
typedef bool (*postings_dead_fn)(void *ctx, uint32_t id);
uint64_t postings_remove(postings_index_t *pi, postings_dead_fn dead, void *ctx);
size_t postings_bytes(const postings_index_t *pi); /* memory held */
uint64_t postings_entries(const postings_index_t *pi); /* ids stored, over all lists */

#endif
