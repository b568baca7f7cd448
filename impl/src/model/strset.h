/* strset.h — strings gathered from several sources through storage_string_fn
 * callbacks (the label names or values of blocks, the head, leaves), handed
 * out sorted and once each: how every union of label names/values is built. */
#ifndef PL_MODEL_STRSET_H
#define PL_MODEL_STRSET_H

#include <stdbool.h>
#include <stddef.h>

#include "model/storage.h"
#include "util/err.h"

typedef struct strset {
    char **v; /* owned copies */
    size_t n, cap;
    bool oom; /* an add failed: the set is incomplete */
} strset_t;

/* A storage_string_fn: adds a copy of s (ctx is the strset_t). Returns 1,
 * with oom set, when out of memory. */
int strset_add(void *ctx, const char *s);
/* Sorts the strings and drops duplicates, in place. */
void strset_sort_uniq(strset_t *ss);
/* Calls fn for each distinct string in order (stopping at fn's first
 * non-zero return, which it returns), or fails with "out of memory" when an
 * add failed. Frees the set either way. */
int strset_emit(strset_t *ss, storage_string_fn fn, void *ctx, pl_err_t *err);
void strset_free(strset_t *ss);

#endif
