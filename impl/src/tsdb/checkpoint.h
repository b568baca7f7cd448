/* checkpoint.h — WAL checkpoints (Prometheus's wlog.Checkpoint), so the WAL
 * can be truncated after the head is (reference/tsdb-format.md §7.3).
 *
 * A checkpoint is a directory wal/checkpoint.NNNNNNNN holding ordinary WAL
 * segments: a reduced copy of the previous checkpoint plus segments
 * from..N. Kept: series records of series still in the head (keep(ref)),
 * samples with t >= mint, tombstones of kept series whose interval ends at
 * or after mint. Other record types (exemplars, metadata, histograms, which
 * promlab does not write) are dropped. It is written as
 * checkpoint.NNNNNNNN.tmp, fsync'd, then renamed; replay (db.c) reads the
 * newest complete checkpoint, then the segments after N.
 *
 * Who calls it: head truncation after a block is cut (db_wal_truncate in
 * db.h), which then deletes the segments <= N and the older checkpoints. */
#ifndef PL_TSDB_CHECKPOINT_H
#define PL_TSDB_CHECKPOINT_H

#include <stdbool.h>
#include <stdint.h>

#include "tsdb/wal.h"
#include "util/err.h"

typedef bool (*checkpoint_keep_fn)(void *ctx, uint64_t ref);

typedef struct checkpoint_stats {
    uint64_t series_kept, series_dropped;
    uint64_t samples_kept, samples_dropped;
    uint64_t tombstones_kept, tombstones_dropped;
    uint64_t records_dropped; /* of other types */
} checkpoint_stats_t;

/* Writes wal_dir/checkpoint.<to> from the newest existing checkpoint and the
 * segments from..to (segments at or below that checkpoint are skipped).
 * stats may be NULL. Returns 0, or -1 with err (nothing is left behind but
 * a .tmp dir, which the next open removes). A corrupt source fails it. */
int checkpoint_create(const char *wal_dir, int from, int to, checkpoint_keep_fn keep, void *ctx, int64_t mint,
                      wal_compression_t compression, checkpoint_stats_t *stats, pl_err_t *err);

/* Index of the newest complete checkpoint in wal_dir (path filled when
 * path is non-NULL), or -1 when there is none. */
int checkpoint_last(const char *wal_dir, char *path, size_t pathsz);

/* Deletes the checkpoints older than index, and leftover .tmp ones. Returns
 * how many were deleted, or -1 with err. */
int checkpoint_delete_before(const char *wal_dir, int index, pl_err_t *err);

/* Deletes the WAL segments below index. Returns how many, or -1 with err. */
int wal_delete_segments_before(const char *wal_dir, int index, pl_err_t *err);

#endif
