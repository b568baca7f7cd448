/* store.h — the store gateway: the blocks of a bucket served as series
 * (the heart of `promlab store`, Thanos Store's role).
 *
 * Local data (--data-dir): at sync each block's `index` is downloaded into
 * <data-dir>/<ULID>/index and mmap'd; chunks stay in the bucket and are
 * range-read on demand, a select fetching only the chunks of the series
 * it matched that overlap its time range (nearby chunks of one segment are
 * fetched in one read, a gap of up to STORE_FETCH_GAP bytes joined). This
 * is Thanos's split with the whole index in place of its index-header: the
 * index is what every select needs (postings, series), the chunks are most
 * of a block's bytes and a query touches few of them. The bytes read from
 * the bucket are counted per kind (meta, index, chunks) in /metrics.
 *
 * Sync (store_sync): lists the bucket's <ULID>/ directories; skips partial
 * blocks (no meta.json), blocks whose deletion-mark.json is older than
 * ignore_deletion_marks_delay, blocks outside [min_time, max_time], and
 * broken ones (meta.json or index unreadable: logged, counted, retried at
 * the next sync); loads new ones and drops the ones that left the bucket
 * (or got a mark), removing their local files.
 *
 * Select (store_select): blocks are grouped by their external labels
 * (meta.json thanos.labels); within a group the plan (store_plan) picks
 * ONE resolution per time range: the coarsest <= max_resolution that
 * covers it, finer blocks filling the gaps, each block clipped to its part
 * so nothing is counted twice. Series get their block's external labels
 * (a series' own label wins), and the parts of one label set are merged in
 * time order (a shared timestamp keeps the earlier part's sample).
 * Downsampled blocks hold aggregate chunks; the aggregate returned
 * follows the remote-read hint's function (store_aggr_for_func).
 *
 * Threads: selects run concurrently with each other and with a sync
 * (the block set is reference counted: a sync swaps in a new set; a
 * running select keeps the old one alive). */
#ifndef PL_STORE_H
#define PL_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "model/labels.h"
#include "model/matcher.h"
#include "model/storage.h"
#include "objstore/objstore.h"
#include "util/err.h"
#include "util/strbuf.h"

#define STORE_RES_RAW 0
#define STORE_RES_5M 300000
#define STORE_RES_1H 3600000
/* Two chunk reads of one segment closer than this become one read. */
#define STORE_FETCH_GAP (64 * 1024)

/* ---- aggregate selection and resolution plan (plan.c; pure) ---- */

/* The aggregates of Thanos's AggrChunk, in its order, and AVG = SUM / COUNT. */
typedef enum store_aggr {
    STORE_AGGR_COUNT = 0,
    STORE_AGGR_SUM = 1,
    STORE_AGGR_MIN = 2,
    STORE_AGGR_MAX = 3,
    STORE_AGGR_COUNTER = 4,
    STORE_AGGR_AVG = 5,
} store_aggr_t;

/* The aggregate a downsampled series is answered with, by the function the
 * query applies to it (the remote-read hint's func): min/min_* -> MIN,
 * max/max_* -> MAX, count/count_* -> COUNT, sum_* -> SUM, rate, increase,
 * irate, resets -> COUNTER; anything else (avg_over_time, a plain selector,
 * no hint) -> AVG. */
store_aggr_t store_aggr_for_func(const char *func);
const char *store_aggr_name(store_aggr_t a);

typedef struct store_plan_block {
    int64_t min_time, max_time; /* meta.json: [min_time, max_time) */
    int64_t resolution;         /* ms; 0 = raw */
} store_plan_block_t;

typedef struct store_plan_part {
    size_t block;       /* index into the blocks given */
    int64_t mint, maxt; /* inclusive: the samples this block answers for */
} store_plan_part_t;

/* Covers [mint, maxt] with the blocks of ONE group: the coarsest resolution
 * <= max_resolution first, each gap it leaves filled from the next finer
 * resolution, recursively. Parts come in time order; parts of different
 * resolutions never overlap (nothing is counted twice), while blocks of one
 * resolution that overlap each other (a compacted block beside its sources
 * until they are deleted) all get a part and the select merges them, a
 * shared timestamp taken once.
 * *out is malloc'd (free it; NULL when *nout is 0). -1 when out of memory. */
int store_plan(const store_plan_block_t *blocks, size_t n, int64_t mint, int64_t maxt, int64_t max_resolution,
               store_plan_part_t **out, size_t *nout);

/* Parses a max_source_resolution value: "raw", "0", "0s", "5m", "1h", any
 * Prometheus duration or a number of milliseconds ("300000", as `promlab
 * query` passes it to leaves). "auto" is the caller's business. */
int store_parse_resolution(const char *s, int64_t *ms, pl_err_t *err);

/* ---- downsampled chunks (aggr.c) ---- */

/* Appends the samples of aggregate a (AVG: sum / count per timestamp) of
 * the aggregate chunk bytes data within [mint, maxt] to *out. -1 with err
 * on malformed bytes or when the chunk lacks the aggregate. */
int store_aggr_chunk_samples(const uint8_t *data, size_t len, store_aggr_t a, int64_t mint, int64_t maxt,
                             sample_t **out, size_t *n, size_t *cap, pl_err_t *err);

/* ---- the bucket store (bucket_store.c) ---- */

typedef struct store_opts {
    objstore_t *bucket; /* borrowed; the store serialises its use */
    const char *data_dir;
    int64_t ignore_deletion_marks_delay_ms;
    int64_t min_time, max_time; /* blocks outside are not served (INT64_MIN/MAX: all) */
} store_opts_t;

typedef struct store store_t;

store_t *store_new(const store_opts_t *o, pl_err_t *err);
void store_free(store_t *s);

/* One pass over the bucket. 0 when the block list was read (individual
 * blocks may still have failed to load: counted and logged); -1 when the
 * bucket could not be listed (the block set is unchanged). */
int store_sync(store_t *s, pl_err_t *err);

typedef struct store_select_opts {
    int64_t max_resolution; /* ms; 0 = raw only */
    const char *func;       /* the hint's function (NULL or "": none) */
} store_select_opts_t;

/* Series matching all matchers (matchers on a block's external labels are
 * applied to them), their samples within [mint, maxt], with the external
 * labels added, each label set once (its blocks merged). Series come in
 * label order (a k-way merge of the blocks' index order; a series label that
 * overrides an external label can break it, so readers that need the order
 * sort, as remote_client does); fn's pointers are valid during the call.
 * With several groups, a series of one group whose labels equal another
 * group's after the external labels are added is merged with it too. */
int store_select(store_t *s, const matcher_t *ms, size_t nms, int64_t mint, int64_t maxt,
                 const store_select_opts_t *o, storage_series_fn fn, void *ctx, pl_err_t *err);

/* Label names / values over every block (external labels included), sorted
 * and unique. */
int store_label_names(store_t *s, storage_string_fn fn, void *ctx, pl_err_t *err);
int store_label_values(store_t *s, const char *name, storage_string_fn fn, void *ctx, pl_err_t *err);

/* The info document (JSON object, no envelope): labelSets, minTime,
 * maxTime, resolutions [{resolution, minTime, maxTime}], blocks [{ulid,
 * labels, minTime, maxTime, resolution}]. */
void store_write_info(store_t *s, strbuf_t *out);
/* thanos_bucket_store_* / thanos_blocks_meta_* metrics in text format. */
void store_write_metrics(store_t *s, strbuf_t *out);
/* Counters for tests and benchmarks. */
uint64_t store_blocks_loaded(store_t *s);
uint64_t store_bytes_fetched(store_t *s, const char *kind); /* "meta", "index", "chunks" */

#endif
