/* compactor.h — the Thanos compactor over a bucket (`promlab compact`).
 *
 * One iteration (compactor_run_once), in Thanos's order:
 *
 *  1. Sync: list the bucket's block directories and read each meta.json
 *     and deletion-mark.json. A directory without meta.json is a partial
 *     upload and is skipped. Blocks with a deletion mark are not used;
 *     blocks whose ULID is younger than the consistency delay are not used
 *     either (an upload may still be in flight), except blocks the
 *     compactor itself wrote (thanos.source "compactor"/"compactor.repair"/
 *     "bucket.repair"), as Thanos does.
 *  2. Groups: blocks with the same thanos.labels (external labels) and
 *     thanos.downsample.resolution form a group; groups never mix.
 *     A block whose compaction.sources are all contained in another block of
 *     its group is garbage (left by a compaction whose inputs were not
 *     marked yet) and gets a deletion mark.
 *  3. Overlap check: two blocks of one group overlapping in time is the
 *     duplicate-external-labels mistake (two producers that Thanos cannot
 *     tell apart). The compactor halts: compactor_run_once returns
 *     COMPACTOR_HALTED with a message naming the group, its labels and the
 *     overlapping blocks, and does nothing more (no compaction, downsampling,
 *     retention or deletion).
 *  4. Compaction, per group, until nothing is left to plan: Prometheus's
 *     leveled planner (tsdb/compact.h compact_plan, over the group's
 *     meta.json files) with Thanos's ranges 1h, 2h, 8h, 2d, 14d; the
 *     chosen blocks are downloaded to <data-dir>/compact/, merged (raw:
 *     tsdb/compact.h compact_blocks; downsampled: compact/aggrblock.h
 *     aggrblock_merge, chunks copied), the result uploaded (chunks, index,
 *     then meta.json with the thanos section: the group's labels and
 *     resolution, source "compactor", the files list), and each input gets a
 *     deletion-mark.json.
 *  5. Downsampling, two passes (so a 5m block made in the first gets its
 *     1h in the second), unless disabled: a raw block spanning >= 40h whose
 *     sources are not all covered by 5m blocks already is downsampled to 5m;
 *     a 5m block spanning >= 10d not covered by 1h blocks, to 1h
 *     (compact/downsample.h); the result is uploaded like a compaction's.
 *  6. Retention per resolution: a block whose maxTime is older than its
 *     resolution's retention (0 = keep forever) gets a deletion mark.
 *  7. Deletion: blocks whose deletion mark is older than the delete delay
 *     are deleted — meta.json first (so a half-deleted block is a partial
 *     upload no reader uses), then the other files, the mark last.
 *     Partial uploads whose ULID is older than max(consistency delay, 48h)
 *     are aborted uploads: their objects are deleted too.
 *
 * Not thread-safe, except compactor_write_metrics, which may run beside an
 * iteration (the HTTP thread). */
#ifndef PL_COMPACT_COMPACTOR_H
#define PL_COMPACT_COMPACTOR_H

#include <stdbool.h>
#include <stdint.h>

#include "objstore/objstore.h"
#include "util/err.h"
#include "util/strbuf.h"

#define COMPACTOR_HALTED 1

typedef struct compactor_opts {
    objstore_t *bucket;   /* borrowed */
    const char *data_dir; /* local scratch space for downloads and new blocks */
    int64_t consistency_delay_ms;
    int64_t delete_delay_ms;
    int64_t retention_ms[3]; /* raw, 5m, 1h; 0 = keep */
    bool downsampling_disable;
} compactor_opts_t;

typedef struct compactor compactor_t;

compactor_t *compactor_new(const compactor_opts_t *o, pl_err_t *err);
void compactor_free(compactor_t *c);

/* One iteration. 0 on success; COMPACTOR_HALTED when an overlap in a group
 * stopped it (err holds the message; the compactor stays halted: later calls
 * return COMPACTOR_HALTED at once); -1 on another error (e.g. the bucket is
 * unreachable), which a later iteration may retry. */
int compactor_run_once(compactor_t *c, pl_err_t *err);

bool compactor_halted(const compactor_t *c);

/* thanos_compact_* metrics in text format. */
void compactor_write_metrics(compactor_t *c, strbuf_t *sb);

/* Counters, for tests. */
uint64_t compactor_compactions_total(const compactor_t *c);
uint64_t compactor_downsamples_total(const compactor_t *c);
uint64_t compactor_marked_total(const compactor_t *c);
uint64_t compactor_deleted_total(const compactor_t *c);

#endif
