/* storage.h — the interfaces between storage and its readers and writers.
 *
 * The PromQL engine, the API's series/labels endpoints and federation read
 * series only through a queryable_t; scrapes (and later rules) write through
 * an appendable_t. The server hands them one over its head
 * (and, once the on-disk TSDB lands, over head + blocks); `promlab query`
 * hands them one over remote leaves. The shapes mirror head_select so the
 * head is a queryable without glue beyond a cast.
 *
 * All callbacks: the pointers they receive are valid only during the call;
 * returning non-zero stops the iteration and is passed back. */
#ifndef PL_MODEL_STORAGE_H
#define PL_MODEL_STORAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "model/labels.h"
#include "model/matcher.h"
#include "util/err.h"

typedef struct sample {
    int64_t t;
    double v;
} sample_t;

/* One series: its sorted labels and its samples within [mint, maxt], in time order. */
typedef int (*storage_series_fn)(void *ctx, const label_t *ls, size_t n, const sample_t *samples, size_t nsamples);
typedef int (*storage_string_fn)(void *ctx, const char *s);

/* What a reader needs of a select, so storage may do less (select_hinted). */
typedef struct storage_select_hints {
    bool unsorted;  /* series may come in any order */
    bool last_only; /* only the newest sample in [mint, maxt] of each series is needed */
    /* For remote leaves (Prometheus's remote-read hints; storage may ignore them): the
     * function applied to a range selector ("rate", "max_over_time"; NULL: none), its
     * range and the query step, and how coarse downsampled data may be (ms; 0 = raw). */
    const char *func;
    int64_t range_ms, step_ms;
    int64_t max_resolution_ms;
} storage_select_hints_t;

typedef struct queryable {
    void *impl;
    /* Series matching all matchers (at least one given), sorted by label set,
     * with their samples in [mint, maxt]; series without samples there are skipped. */
    int (*select)(void *impl, const matcher_t *ms, size_t nms, int64_t mint, int64_t maxt, storage_series_fn fn,
                  void *ctx, pl_err_t *err);
    /* Sorted, de-duplicated label names / values of one name (over all series). */
    int (*label_names)(void *impl, storage_string_fn fn, void *ctx, pl_err_t *err);
    int (*label_values)(void *impl, const char *name, storage_string_fn fn, void *ctx, pl_err_t *err);
    /* Optional (NULL: callers use select). As select, but with hints: storage
     * may pass series unsorted, and only the newest sample in range. */
    int (*select_hinted)(void *impl, const matcher_t *ms, size_t nms, int64_t mint, int64_t maxt,
                         const storage_select_hints_t *hints, storage_series_fn fn, void *ctx, pl_err_t *err);
} queryable_t;


/* ---- the write interface ----------------------------------------------------
 *
 * Scrapes (and later rules and remote write) store samples through an
 * appender: a reusable transaction. Stage samples with add (a new or unknown
 * series, by label set) or add_ref (a ref an earlier commit returned), then
 * commit or roll back. Nothing staged is visible or stored before commit;
 * a rollback stores nothing. A commit stores the batch as one unit: in the
 * DB, one WAL series record for the series it creates and one samples
 * record, then the head. An appender is used by one thread at a time; any
 * number of appenders may commit concurrently. */

/* Series refs: 0 is never valid. (head.h uses the same typedef.) */
typedef uint64_t series_ref_t;

/* Per-sample outcome of a commit (the values of head.h's HEAD_* codes). */
enum storage_append_result {
    STORAGE_OK = 0,
    STORAGE_ERR_OUT_OF_ORDER = -1, /* older than the series' last sample */
    STORAGE_ERR_DUPLICATE = -2,    /* same timestamp, another value */
    STORAGE_ERR_NOT_FOUND = -3,    /* add_ref with a ref storage does not know */
    STORAGE_ERR_INVALID = -4,      /* bad label set */
    STORAGE_ERR_OUT_OF_BOUNDS = -5, /* older than what the storage still accepts (in a block already) */
};

typedef struct storage_append_status {
    series_ref_t ref; /* the series' ref (0 when no series was stored) */
    int result;       /* enum storage_append_result */
} storage_append_status_t;

typedef struct appender {
    void *impl;
    /* Stages a sample of the series with the sorted, unique-named label set
     * ls (strings are copied). Returns 0, or -1 when out of memory (nothing
     * staged). */
    int (*add)(void *impl, const label_t *ls, size_t n, int64_t t, double v);
    int (*add_ref)(void *impl, series_ref_t ref, int64_t t, double v);
    /* Stores everything staged. *status (may be NULL) gets an array with one
     * entry per staged sample, in staging order, owned by the appender and
     * valid until its next add/add_ref/commit/rollback/free. Returns 0, or -1
     * when the batch could not be made durable (err says why; the samples may
     * still be in memory). The transaction is empty afterwards either way. */
    int (*commit)(void *impl, const storage_append_status_t **status, pl_err_t *err);
    void (*rollback)(void *impl); /* drops everything staged */
    void (*free)(void *impl);     /* rolls back and releases the appender */
} appender_t;

typedef struct appendable {
    void *impl;
    /* Fills *out with a new appender. Returns 0, or -1 when out of memory. */
    int (*appender)(void *impl, appender_t *out);
} appendable_t;

#endif
