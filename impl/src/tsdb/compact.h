/* compact.h — compaction of persistent blocks, as Prometheus's
 * LeveledCompactor does it (tsdb/compact.go): a planner that picks which
 * blocks of a data dir to merge now, and the merge itself.
 *
 * Planning (compact_plan), over the blocks' meta.json sorted by minTime
 * (blocks already marked deletable are ignored: the caller deletes them):
 *  1. Overlapping blocks first (vertical compaction): the first run of blocks
 *     whose time ranges overlap.
 *  2. Otherwise the newest block (the greatest minTime) is left out, and for
 *     each range ranges[1], ranges[2], ... the blocks are split into groups
 *     aligned on that range ([t0, t0+range), t0 a multiple of the range; a
 *     block that does not fit in one is skipped); the first group of two or
 *     more blocks that spans the whole range, or ends before the newest
 *     block's minTime, is the plan. Groups holding a block whose compaction
 *     failed are passed over.
 *  3. Otherwise, going from the newest remaining block back: a block at
 *     least ranges[n/2] long with tombstones over 5% of its series
 *     (numTombstones / (numSeries + 1) > 0.05) is compacted alone; a
 *     shorter one only when its tombstones cover every series, and the walk
 *     stops at the first shorter one.
 *
 * Merging (compact_blocks) streams series by series: the inputs are mmap'd,
 * their postings walked in label order and merged, so only one series'
 * chunks are in memory at a time (the inputs' chunk pages already merged are
 * released every 16 MiB, so the RSS does not grow with the blocks; the
 * output index's postings are built at its close from the series section
 * read back, a batch of label names at a time, index.h; what does grow is
 * the inputs' index readers and all-series postings). A chunk without
 * deleted samples that
 * overlaps no other chunk of its series is copied byte for byte; chunks that
 * overlap (vertical compaction) or lose samples to tombstones are decoded,
 * merged by timestamp (for one timestamp the sample of the first block in
 * `dirs` order is kept) and re-encoded into XOR chunks of at most
 * COMPACT_SAMPLES_PER_CHUNK samples. The output goes through the block
 * writer shared with the head (block.h): <dbdir>/<ULID>.tmp-for-creation,
 * fsync'd, renamed into place. */
#ifndef PL_TSDB_COMPACT_H
#define PL_TSDB_COMPACT_H

#include <stddef.h>
#include <stdint.h>

#include "util/err.h"

#define COMPACT_SAMPLES_PER_CHUNK 120

/* The block dirs (full paths "<dbdir>/<ULID>", in time order) to compact
 * together now, or *ndirs = 0 (then *dirs = NULL). ranges: ranges[0] is the
 * block range (e.g. 2h), then the larger ones (ExponentialBlockRanges:
 * x3 each). Free with compact_free_dirs. */
int compact_plan(const char *dbdir, const int64_t *ranges, size_t nranges, char ***dirs, size_t *ndirs,
                 pl_err_t *err);

/* Merges the blocks (full paths) into one new block in dbdir: meta.json
 * minTime/maxTime span the inputs, compaction.level = max(parent levels)+1,
 * sources = the sorted union of the parents' sources, parents = the inputs
 * in the order given, stats of what was written. Tombstones are applied.
 * out_ulid gets the new block's ULID. When nothing is left (every sample
 * deleted), no block is written, out_ulid[0] = 0 and every input's meta.json
 * gets compaction.deletable = true. On failure the inputs get
 * compaction.failed = true (the planner then passes them over), as
 * Prometheus does. The caller deletes the inputs afterwards. */
int compact_blocks(const char *dbdir, char *const *dirs, size_t ndirs, char out_ulid[27], pl_err_t *err);

void compact_free_dirs(char **dirs, size_t n);

/* Extras for callers that own a data dir (the db at open, the tool). */

/* What Prometheus removes when it opens a data dir: <ULID>.tmp-for-creation
 * and <ULID>.tmp-for-deletion dirs (a torn block write or deletion), blocks
 * marked deletable, and blocks that are parents of another block present (a
 * compaction that completed but whose inputs were not deleted yet). The
 * removed names are appended to *removed (caller frees with
 * compact_free_dirs; removed may be NULL). */
int compact_remove_leftovers(const char *dbdir, char ***removed, size_t *nremoved, pl_err_t *err);

/* Deletes a block dir as Prometheus does: rename to <dir>.tmp-for-deletion,
 * then remove the tree, so a crash never leaves half a block under a ULID. */
int compact_delete_block(const char *dir, pl_err_t *err);

#endif
