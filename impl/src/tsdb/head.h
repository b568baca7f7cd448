/* head.h — the in-memory head block: the series being written now.
 *
 * Series are identified by their sorted label set. Label strings are interned
 * in a symbol table and a series holds 32-bit symbol ids; a postings index
 * maps each (name, value) pair to the sorted ids of its series; samples live
 * in XOR chunks (chunkenc.h) of about 120 samples. Sized for millions of
 * series: see DESIGN.md "The head, sized for millions of series".
 *
 * Thread safety: any number of threads may append and query at once. */
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

/* head_select with storage_select_hints_t (model/storage.h): unsorted skips
 * sorting by label set (series come in id order); last_only passes only the
 * newest sample in [mint, maxt], read from the open chunk's appender without
 * decoding when it is not after maxt. */
int head_select_hinted(head_t *h, const matcher_t *ms, size_t nms, int64_t mint, int64_t maxt,
                       const storage_select_hints_t *hints, head_series_fn fn, void *ctx, pl_err_t *err);

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
} head_stats_t;
void head_get_stats(head_t *h, head_stats_t *out);

#endif
