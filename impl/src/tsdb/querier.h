/* querier.h — a queryable_t (model/storage.h) over persistent blocks plus
 * any number of other queryables (the head).
 *
 * Per block, matchers are resolved on the index postings as Prometheus's
 * PostingsForMatchers does: a matcher that cannot match "" intersects the
 * union of the postings of its matching values; one that matches "" (so it
 * also selects series lacking the label) subtracts the postings of the
 * values it rejects; with no intersecting matcher the all-series list
 * ("", "") is the start. Series of all sources are then merged by label
 * set, their samples sorted by time and de-duplicated by timestamp (the
 * first source in order wins: blocks in the order given, then the others). */
#ifndef PL_TSDB_QUERIER_H
#define PL_TSDB_QUERIER_H

#include <stddef.h>
#include <stdint.h>

#include "model/storage.h"
#include "tsdb/block.h"

typedef struct querier querier_t;

/* Borrows the blocks and queryables (they must outlive the querier). */
querier_t *querier_new(block_t *const *blocks, size_t nblocks, const queryable_t *others, size_t nothers);
void querier_free(querier_t *q);
void querier_queryable(querier_t *q, queryable_t *out);

/* The same select over one block alone (series in label order). */
int block_select(const block_t *b, const matcher_t *ms, size_t nms, int64_t mint, int64_t maxt, storage_series_fn fn,
                 void *ctx, pl_err_t *err);
/* Series ids of a block's index matching all matchers (sorted, malloc'd). */
int block_postings_for_matchers(const index_reader_t *ir, const matcher_t *ms, size_t nms, uint32_t **ids, size_t *n,
                                pl_err_t *err);

#endif
