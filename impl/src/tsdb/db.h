/* db.h — the TSDB: the head plus its write-ahead log, in a data directory
 * laid out as Prometheus's (reference/tsdb-format.md §1):
 *
 *   <dir>/lock         flock'd while open (unless no_lockfile)
 *   <dir>/wal/         segments 00000000... and checkpoint.NNNNNNNN/ (wal.h)
 *
 * db_open takes the lock, replays the newest checkpoint and the WAL segments
 * after it into a fresh head, repairs a corrupted or torn tail (cut at the
 * last good record, later segments deleted, logged, counted in
 * prometheus_tsdb_wal_corruptions_total: the DB always opens), then starts a
 * new segment and accepts appends.
 *
 * Writes go through appendable_t (model/storage.h). A commit takes the DB's
 * commit lock, appends the staged samples to the head (creating new series),
 * then logs one series record for the series it created and one samples
 * record for the samples the head accepted (per window of 32768 staged
 * samples, so a huge first scrape does not become one huge record), and
 * flushes the partial WAL page.
 * Holding one lock across head and WAL keeps the WAL in head order: a
 * series record always precedes the first sample that uses its ref, whichever
 * appender created the series.
 *
 * Refs: WAL refs are head refs. Replay maps the refs of the records it reads
 * to the refs the new head hands out (usually the same; when not, the series
 * whose ref changed are logged again at the start of the new segment, so the
 * next replay and a real Prometheus resolve the new refs).
 *
 * Blocks (the second half of this header): db_open opens the data dir's
 * blocks before replay; db_compact cuts the head into blocks, truncates the
 * head and the WAL (db_wal_truncate: wal/checkpoint.NNNNNNNN, read by
 * replay), merges blocks (compact.h) and applies retention; db_queryable
 * reads blocks + head. Locks, outermost first: compact_mu (one operation
 * that changes the block list at a time), then mu (commits, WAL, stats) or
 * blocks_mu (the block list and its refcounts), never both; the head has its
 * own (head.h). */
#ifndef PL_TSDB_DB_H
#define PL_TSDB_DB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "model/storage.h"
#include "model/matcher.h"
#include "tsdb/head.h"
#include "tsdb/meta.h"
#include "tsdb/wal.h"
#include "util/err.h"
#include "util/strbuf.h"

typedef struct db_opts {
    bool no_lockfile; /* --storage.tsdb.no-lockfile */
    wal_compression_t wal_compression;
    size_t wal_segment_size; /* 0 = 128 MiB */
    size_t commit_window;    /* staged samples per WAL series+samples record pair; 0 = 32768 (tests set less) */
    int64_t block_range_ms;  /* --storage.tsdb.min-block-duration; 0 = 2h */
    int64_t max_block_duration_ms; /* --storage.tsdb.max-block-duration; 0 = as Prometheus: min(31d, retention/10) */
    int64_t retention_ms;    /* --storage.tsdb.retention.time; 0 = no time limit */
    int64_t retention_bytes; /* --storage.tsdb.retention.size; 0 = no size limit */
} db_opts_t;

typedef struct db db_t;

/* Opens (creating) the data dir. Fails only when the dir cannot be created,
 * the lock is held by another process, or the WAL dir cannot be written;
 * never because of what the WAL contains. */
int db_open(const char *dir, const db_opts_t *opts, db_t **out, pl_err_t *err);
/* A DB without a directory over a head the caller owns (tests, tools): same
 * appender, no WAL. NULL when out of memory. */
db_t *db_wrap_head(head_t *head);
/* Closes the WAL (padding, fsync), releases the lock, frees the head unless
 * wrapped. NULL is a no-op. */
int db_close(db_t *db, pl_err_t *err);

head_t *db_head(db_t *db);
const char *db_dir(const db_t *db); /* the data dir ("" for a wrapped head) */
void db_appendable(db_t *db, appendable_t *out);

/* Closes the current segment and starts a new one; returns the index of the
 * last closed segment. */
int db_wal_cut(db_t *db, pl_err_t *err);

/* After the head dropped everything before mint (head truncation, once a
 * block holds it): checkpoints the first two thirds of the closed segments
 * (series for which keep(ctx, ref) is true, samples at or after mint; see
 * checkpoint.h), deletes those segments and the older checkpoints, and
 * counts it in prometheus_tsdb_wal_truncations_total and
 * prometheus_tsdb_checkpoint_*. Nothing to do (too few segments) is 0. */
int db_wal_truncate(db_t *db, int64_t mint, bool (*keep)(void *ctx, uint64_t ref), void *ctx, pl_err_t *err);

typedef struct db_stats {
    double replay_seconds;        /* prometheus_tsdb_data_replay_duration_seconds */
    uint64_t wal_corruptions;     /* prometheus_tsdb_wal_corruptions_total */
    uint64_t replay_records;      /* records read at open */
    uint64_t replay_series;       /* series records entries read */
    uint64_t replay_samples;      /* samples appended to the head by replay */
    uint64_t replay_rejected;     /* out of order / duplicate at replay */
    uint64_t replay_unknown_refs; /* samples whose series record was missing */
    uint64_t replay_skipped;      /* records of types the head does not hold yet (tombstones, exemplars, ...) */
    uint64_t relogged_series;     /* series logged again because their ref changed */
    uint64_t commit_wal_errors;   /* commits whose WAL write failed */
    uint64_t wal_truncations, wal_truncations_failed;
    uint64_t checkpoint_creations, checkpoint_creations_failed;
    uint64_t checkpoint_deletions, checkpoint_deletions_failed;
    wal_stats_t wal;
} db_stats_t;
void db_get_stats(db_t *db, db_stats_t *out);

/* Writes the prometheus_tsdb_* metrics (WAL, replay, blocks, compaction,
 * head truncation, retention) in text format. */
void db_write_metrics(db_t *db, strbuf_t *sb);

/* ---- blocks, compaction, retention ----------------------------------------------
 *
 * db_open opens the blocks of the data dir before replaying the WAL: a dir
 * whose meta.json or index does not read is skipped with a log line; leftover
 * *.tmp-for-creation, *.tmp-for-deletion and *.tmp dirs, blocks marked
 * deletable, and blocks that are parents of another loaded block (a
 * compaction that finished but did not delete its sources) are deleted; the
 * head then refuses samples before the newest block's maxTime, so replay
 * does not duplicate what a block holds. Retention runs at open. */

/* A queryable over the blocks and the head (querier.h). Each call takes a
 * snapshot of the block list with a reference on every block in it, so a
 * block that compaction or retention drops meanwhile stays mapped until the
 * call returns. Valid while the db is open. */
void db_queryable(db_t *db, queryable_t *out);

/* Head compaction: while the head spans more than 1.5 block ranges (head
 * maxt - mint > range * 3/2), [mint, end of mint's range) is written as a
 * level-1 block (tmp dir, fsync, rename), opened, the head truncated to its
 * maxTime and the WAL checkpointed and truncated. Then block compaction
 * (when built in), then retention. Serialised with every other change of
 * the block list. Returns the number of blocks written, or -1 with err. */
int db_compact(db_t *db, pl_err_t *err);

/* Retention now (it also runs after each compaction and at open). Returns
 * the number of blocks deleted, or -1 with err. */
int db_apply_retention(db_t *db, pl_err_t *err);

/* A thread that runs db_compact every interval_ms, and soon after a commit
 * made the head compactable. db_close stops it. */
int db_start_background(db_t *db, int64_t interval_ms, pl_err_t *err);
void db_stop_background(db_t *db);

typedef struct db_block_info {
    char ulid[ULID_LEN + 1];
    char dir[4096];
    int64_t min_time, max_time;
    uint64_t num_samples, num_series, num_tombstones, size_bytes;
    int level;
} db_block_info_t;
/* The loaded blocks, by minTime. Caller frees *out. */
int db_blocks(db_t *db, db_block_info_t **out, size_t *n);

/* Prometheus's compaction ranges: min_block x 1, x3, x9, ... (10 steps),
 * cut at max_block. Returns how many were written to out. */
size_t db_compaction_ranges(int64_t min_block, int64_t max_block, int64_t *out, size_t cap);

/* Retention selection (pure, for tests): which blocks go, as Prometheus
 * decides it. Blocks are considered newest maxTime first; by time, every
 * block whose maxTime is more than retention_ms before the newest block's
 * maxTime goes; by size, head_bytes (WAL + head chunks) plus the blocks from
 * the newest on are summed and the block where the sum first exceeds
 * retention_bytes goes with every older one. del[i] is set for blocks[i];
 * *by_time / *by_size tell which rule deleted something. Returns the count. */
typedef struct db_retention_block {
    int64_t min_time, max_time;
    uint64_t size_bytes;
} db_retention_block_t;
size_t db_retention_select(const db_retention_block_t *blocks, size_t n, int64_t retention_ms, int64_t retention_bytes,
                           uint64_t head_bytes, bool *del, bool *by_time, bool *by_size);

/* ---- admin operations (the /api/v1/admin/tsdb/ endpoints) ---- */

/* Hard-links every block into dir (created), and writes the head as a block
 * there unless skip_head. */
int db_snapshot(db_t *db, const char *dir, bool skip_head, pl_err_t *err);
/* Deletes the samples in [mint, maxt] of the series matching all matchers:
 * tombstones in the blocks (tombstones file rewritten) and in the head
 * (logged to the WAL as a tombstones record). Queries stop returning them. */
int db_delete(db_t *db, const matcher_t *ms, size_t nms, int64_t mint, int64_t maxt, pl_err_t *err);
/* Rewrites every block that has tombstones without the deleted samples
 * (new ULID, same level and sources), deleting the old one. */
int db_clean_tombstones(db_t *db, pl_err_t *err);

#endif
