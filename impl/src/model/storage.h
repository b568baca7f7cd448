/* storage.h — the one read interface between the query side and storage.
 *
 * The PromQL engine, the API's series/labels endpoints and federation read
 * series only through a queryable_t. The server hands them one over its head
 * (and, once the on-disk TSDB lands, over head + blocks); `promlab query`
 * hands them one over remote leaves. The shapes mirror head_select so the
 * head is a queryable without glue beyond a cast.
 *
 * All callbacks: the pointers they receive are valid only during the call;
 * returning non-zero stops the iteration and is passed back. */
#ifndef PL_MODEL_STORAGE_H
#define PL_MODEL_STORAGE_H

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

typedef struct queryable {
    void *impl;
    /* Series matching all matchers (at least one given), sorted by label set,
     * with their samples in [mint, maxt]; series without samples there are skipped. */
    int (*select)(void *impl, const matcher_t *ms, size_t nms, int64_t mint, int64_t maxt, storage_series_fn fn,
                  void *ctx, pl_err_t *err);
    /* Sorted, de-duplicated label names / values of one name (over all series). */
    int (*label_names)(void *impl, storage_string_fn fn, void *ctx, pl_err_t *err);
    int (*label_values)(void *impl, const char *name, storage_string_fn fn, void *ctx, pl_err_t *err);
} queryable_t;

#endif
