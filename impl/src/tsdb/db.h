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
 * Seams for what comes next (blocks, compaction, retention — other parts of
 * issue 3): db_head() is where a block writer reads the head; head
 * truncation (once the head can drop series and samples before a time)
 * calls db_wal_truncate(), which writes wal/checkpoint.NNNNNNNN (read by
 * replay) and deletes the segments it covers; blocks will be opened in
 * db_open next to the head. */
#ifndef PL_TSDB_DB_H
#define PL_TSDB_DB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "model/storage.h"
#include "tsdb/head.h"
#include "tsdb/wal.h"
#include "util/err.h"
#include "util/strbuf.h"

typedef struct db_opts {
    bool no_lockfile; /* --storage.tsdb.no-lockfile */
    wal_compression_t wal_compression;
    size_t wal_segment_size; /* 0 = 128 MiB */
    size_t commit_window;    /* staged samples per WAL series+samples record pair; 0 = 32768 (tests set less) */
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

/* Writes the prometheus_tsdb_wal_* and replay metrics in text format. */
void db_write_metrics(db_t *db, strbuf_t *sb);

#endif
