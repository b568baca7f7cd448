/* memstore.h — a small in-memory queryable_t for tests and tools.
 *
 * Series are kept as sorted label sets with their samples in time order;
 * select scans every series (fine for test data, not for production use —
 * the head is the real store). Owns copies of everything appended. */
#ifndef PL_PROMQL_MEMSTORE_H
#define PL_PROMQL_MEMSTORE_H

#include <stddef.h>

#include "model/storage.h"

typedef struct memstore memstore_t;

memstore_t *memstore_new(void);
void memstore_free(memstore_t *m);
void memstore_reset(memstore_t *m);
/* Appends samples (later than any already held) to the series ls (any label order). */
int memstore_append(memstore_t *m, const label_t *ls, size_t n, const sample_t *s, size_t ns, pl_err_t *err);
void memstore_queryable(memstore_t *m, queryable_t *q);
/* An appendable_t over the store (for rule evaluation in tests and tools).
 * A commit appends every staged sample; a sample not later than its
 * series' last one is dropped (same time: replaced). */
void memstore_appendable(memstore_t *m, appendable_t *out);

/* Records that the series ls has native histogram samples at the times ts.
 * Their values are not kept and select never passes them on, but a select
 * whose range holds one counts in memstore_histograms_read: the promqltest
 * runner skips exactly the evals that read native histograms. */
int memstore_mark_histograms(memstore_t *m, const label_t *ls, size_t n, const int64_t *ts, size_t nts,
                             pl_err_t *err);
/* Selected series with a histogram time in the selected range since the last call. */
size_t memstore_histograms_read(memstore_t *m);

#endif
