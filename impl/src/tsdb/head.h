/* head.h — the in-memory head block: the series being written now.
 *
 * Series are identified by their sorted label set. Label strings are interned
 * in a symbol table and a series holds 32-bit symbol ids; a postings index
 * maps each (name, value) pair to the sorted ids of its series; samples live
 * in XOR chunks (chunkenc.h) of about 120 samples. Sized for millions of
 * series: see DESIGN.md "The head, sized for millions of series".
 *
 * Thread safety: any number of threads may append and query at once; a
 * truncation (head_truncate) waits for them and holds them off while it
 * frees memory (the GC lock, head.c). A head_select callback must not call
 * back into the head. */
#ifndef PL_TSDB_HEAD_H
#define PL_TSDB_HEAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "model/labels.h"
#include "model/matcher.h"
#include "model/storage.h"
#include "util/err.h"

typedef struct head head_t;
typedef uint64_t series_ref_t; /* 0 is never a valid ref */

/* sample_t comes from model/storage.h. */

enum head_append_result {
    HEAD_OK = 0,
    HEAD_ERR_OUT_OF_ORDER = -1, /* t older than the series' last sample */
    HEAD_ERR_DUPLICATE = -2,    /* same t as the last sample, different value */
    HEAD_ERR_NOT_FOUND = -3,    /* unknown ref */
    HEAD_ERR_INVALID = -4,      /* bad label set (unsorted, duplicate names, no __name__...) */
    HEAD_ERR_OUT_OF_BOUNDS = -5, /* t before the head's minimum valid time (already in a block) */
};

head_t *head_new(void);
void head_free(head_t *h);

/* Appends (t, v) to the series with label set ls (sorted by name, unique
 * names; strings are copied/interned, the caller keeps ownership). Creates the
 * series on first sight; *created (may be NULL) says whether it did. *ref_out
 * (may be NULL) gets the series ref for head_append_ref. A sample with the
 * same timestamp and the same value as the last one is accepted and ignored
 * (HEAD_OK), as Prometheus does. */
int head_append(head_t *h, const label_t *ls, size_t n, int64_t t, double v, series_ref_t *ref_out, bool *created);
/* Fast path when the caller cached the ref. */
int head_append_ref(head_t *h, series_ref_t ref, int64_t t, double v);

/* Calls fn once per series matching all matchers, in label-set order, with
 * the samples in [mint, maxt] (series with none in range are skipped). The
 * pointers passed to fn are valid only during the call. fn returns 0 to go
 * on, non-zero to stop (head_select then returns that value). Matchers are
 * ANDed; a label the series lacks matches as "". At least one matcher must
 * be given. Returns 0, fn's non-zero value, or -1 with err. */
typedef int (*head_series_fn)(void *ctx, const label_t *ls, size_t n, const sample_t *samples, size_t nsamples);
int head_select(head_t *h, const matcher_t *ms, size_t nms, int64_t mint, int64_t maxt, head_series_fn fn, void *ctx,
                pl_err_t *err);

/* Label set of a series (for callers that hold refs). Calls fn with the
 * series' labels; returns HEAD_ERR_NOT_FOUND for an unknown ref. */
typedef void (*head_labels_fn)(void *ctx, const label_t *ls, size_t n);
int head_series_labels(head_t *h, series_ref_t ref, head_labels_fn fn, void *ctx);

/* Label names, or the values of one label name, present in the head: each
 * passed to fn once, in byte order (strings valid during the call). fn
 * returns 0 to go on. Returns 0, fn's non-zero value, or -1 on allocation
 * failure. An unknown name has no values. */
typedef int (*head_string_fn)(void *ctx, const char *s);
int head_label_names(head_t *h, head_string_fn fn, void *ctx);
int head_label_values(head_t *h, const char *name, head_string_fn fn, void *ctx);

/* Every label pair of the head with the number of series carrying it: fn
 * gets (name, value, nseries) for each, names and values in no particular
 * order. One pass over the postings index (no series is read), so it is
 * cheap enough for /api/v1/status/tsdb at millions of series. fn runs under
 * a postings lock and must not call into the head; it returns 0 to go on.
 * Returns 0, fn's non-zero value, or -1 on allocation failure. */
typedef int (*head_pair_fn)(void *ctx, const char *name, const char *value, size_t nseries);
int head_label_pairs(head_t *h, head_pair_fn fn, void *ctx);

/* The chunks of a series, oldest first, the open one last: fn gets each
 * chunk's first and last timestamp and its bytes exactly as a block stores
 * them (XOR encoding, chunkenc.h). fn runs with the series locked and must
 * not call into the head. Returns HEAD_ERR_NOT_FOUND for an unknown ref. */
typedef void (*head_chunk_fn)(void *ctx, int64_t mint, int64_t maxt, const uint8_t *data, size_t len);
int head_series_chunks(head_t *h, series_ref_t ref, head_chunk_fn fn, void *ctx);

/* Fills q with a queryable_t (model/storage.h) over this head. */
void head_queryable(head_t *h, queryable_t *q);

typedef struct head_stats {
    uint64_t num_series;
    uint64_t num_chunks;            /* chunks held in memory, including open head chunks */
    uint64_t samples_appended;      /* prometheus_tsdb_head_samples_appended_total */
    uint64_t series_created;        /* prometheus_tsdb_head_series_created_total */
    uint64_t out_of_order_samples;  /* rejected as out of order */
    uint64_t duplicate_samples;     /* rejected as duplicates with another value */
    uint64_t num_symbols;
    int64_t min_time, max_time;     /* INT64_MAX / INT64_MIN when empty */
    uint64_t bytes_symbols, bytes_series, bytes_postings, bytes_chunks; /* memory by part */
    uint64_t series_removed;        /* prometheus_tsdb_head_series_removed_total */
    uint64_t chunks_removed;        /* prometheus_tsdb_head_chunks_removed_total */
    uint64_t out_of_bounds_samples; /* refused: before min_valid_time */
    int64_t min_valid_time;         /* INT64_MIN until the first truncation */
} head_stats_t;
void head_get_stats(head_t *h, head_stats_t *out);

/* Chunks are cut on multiples of range_ms (the block range; 2h by default),
 * so no chunk straddles two blocks. Call before the first append. */
void head_set_chunk_range(head_t *h, int64_t range_ms);

/* Samples before the minimum valid time are refused (HEAD_ERR_OUT_OF_BOUNDS)
 * and never returned by head_select: they belong to a block. It only moves
 * forward. The DB sets it to the newest block's maxTime before replay. */
int64_t head_min_valid(head_t *h);
void head_set_min_valid(head_t *h, int64_t t);

/* The head's first and last sample times (INT64_MAX / INT64_MIN when empty),
 * from two atomic loads: cheap enough to call after every commit. */
void head_time_range(head_t *h, int64_t *mint, int64_t *maxt);

/* Deletion: head_delete adds a tombstone [mint, maxt] (closed) to every
 * series matching all matchers that has samples in it, and returns their
 * refs (ascending order not guaranteed; owned by the caller) for the WAL.
 * head_add_tombstone adds one by ref (WAL replay). Selects no longer return
 * the deleted samples; a truncation drops tombstones before its mint. */
int head_delete(head_t *h, const matcher_t *ms, size_t nms, int64_t mint, int64_t maxt, series_ref_t **refs,
                size_t *nrefs, pl_err_t *err);
int head_add_tombstone(head_t *h, series_ref_t ref, int64_t mint, int64_t maxt);

/* True if ref names a live series. */
bool head_series_exists(head_t *h, series_ref_t ref);

/* Truncation (after [.., mint) was written to a block): raises the minimum
 * valid time to mint, frees every chunk whose last sample is before mint and
 * deletes the series left without samples: their lookup slots, postings,
 * series record pages and label pages once wholly dead, and the symbol
 * table is rebuilt when at least half of its strings are no longer used, so
 * the memory goes back. Refs are never reused. Appends and queries wait
 * while it runs (the head's GC lock, held exclusive). */
typedef struct head_truncate_result {
    series_ref_t *deleted; /* refs of the deleted series, ascending (owned) */
    size_t ndeleted;
    bool deleted_overflow; /* out of memory listing them: deleted is incomplete */
    uint64_t series_removed, chunks_removed;
    bool symbols_rebuilt;
} head_truncate_result_t;
int head_truncate(head_t *h, int64_t mint, head_truncate_result_t *res, pl_err_t *err);
void head_truncate_result_free(head_truncate_result_t *res);

#endif
