/* downsample.h — Thanos's downsampling (pkg/compact/downsample), in C.
 *
 * A downsampled block holds, per series, aggregate chunks (tsdb/aggrchunk.h)
 * instead of raw samples: per window of the resolution (5m = 300000 ms or
 * 1h = 3600000 ms; windows aligned to the resolution since the epoch,
 * [k*res, (k+1)*res)) the count, sum, min and max of the raw samples in the
 * window, and the counter aggregate, each written at the window's last
 * millisecond (k+1)*res - 1 — except the last window of a chunk, which is
 * written at the chunk's last raw timestamp (so a chunk never reaches past
 * its data, and consecutive chunks never overlap).
 *
 * Raw -> 5m (downsample_raw), as Thanos's DownsampleRaw:
 *  - NaN samples (stale markers included) are dropped first;
 *  - the series is cut into a number of chunks chosen so that each holds at
 *    most ~140 windows (targetChunkCount, assuming a 1m raw interval), each
 *    chunk ending on a window boundary (a batch is extended to the end of
 *    the window its last sample is in);
 *  - the counter aggregate of a chunk starts with the chunk's first raw
 *    sample, then per window the running counter: the first raw value plus
 *    every increase since, where a value below the previous one is a reset
 *    and counts in full (v, not v - prev); then the last window's timestamp
 *    again with the chunk's last raw value. A reader
 *    (aggr_counter_feed) compares that last raw value with the next chunk's
 *    first raw value to detect a reset between chunks, so rate() and
 *    increase() over the counter aggregate see every reset the raw data had.
 *
 * 5m -> 1h (downsample_aggr), as Thanos's downsampleAggr: input chunks are
 * taken in batches (never split, so each output chunk still starts and ends
 * on raw samples); per batch count = the sum of the counts, sum = the sum of
 * the sums, min = the min of the mins, max = the max of the maxes, per 1h
 * window; the counter aggregates of the batch are run through the reset
 * adjustment (aggr_counter_feed) and re-windowed the same way, with the first
 * adjusted sample in front and the last raw value at the end. So for count,
 * sum, min and max, raw -> 5m -> 1h gives exactly raw -> 1h (up to float
 * rounding of sums).
 *
 * downsample_block applies this to every series of a block (a raw block's
 * tombstones applied first: deleted samples stay deleted), as Thanos's
 * Downsample: the new block keeps the source's minTime, maxTime and
 * compaction (level, sources, parents), gets a new ULID, and its thanos
 * section is the source's with downsample.resolution set and source
 * "compactor" (the files list is dropped: the uploader writes it). */
#ifndef PL_COMPACT_DOWNSAMPLE_H
#define PL_COMPACT_DOWNSAMPLE_H

#include <stddef.h>
#include <stdint.h>

#include "model/storage.h"
#include "tsdb/aggrchunk.h"
#include "tsdb/meta.h"
#include "util/err.h"

#define DOWNSAMPLE_RES_RAW 0
#define DOWNSAMPLE_RES_5M (5 * 60 * 1000LL)
#define DOWNSAMPLE_RES_1H (60 * 60 * 1000LL)
/* Blocks at least this long are downsampled (Thanos's ResLevel1DownsampleRange / ResLevel2DownsampleRange). */
#define DOWNSAMPLE_RANGE_5M (40 * 3600 * 1000LL)
#define DOWNSAMPLE_RANGE_1H (10 * 24 * 3600 * 1000LL)

/* Output of the per-series functions: aggregate chunks with their time
 * ranges (mint/maxt inclusive, the first and last window timestamps). */
typedef struct ds_chunk {
    int64_t mint, maxt;
    uint8_t *data; /* owned */
    size_t len;
} ds_chunk_t;

typedef struct ds_chunks {
    ds_chunk_t *v;
    size_t n, cap;
} ds_chunks_t;

/* Frees the chunks' bytes and sets n = 0 (keeps the array). */
void ds_chunks_reset(ds_chunks_t *c);
void ds_chunks_free(ds_chunks_t *c);

/* The end timestamp (inclusive) of the window t falls in: t - t%res + res - 1. */
int64_t downsample_window_end(int64_t t, int64_t resolution);

/* Raw samples of one series (time order) -> aggregate chunks appended to out. */
int downsample_raw(const sample_t *s, size_t n, int64_t resolution, ds_chunks_t *out, pl_err_t *err);

/* Aggregate chunks of one series (time order; parsed) at in_res ->
 * aggregate chunks at out_res appended to out. mint/maxt: the first
 * chunk's mint and the last chunk's maxt. */
int downsample_aggr(const aggrchunk_t *in, size_t nin, int64_t mint, int64_t maxt, int64_t in_res, int64_t out_res,
                    ds_chunks_t *out, pl_err_t *err);

/* The same with the number of output chunks given instead of Thanos's
 * targetChunkCount (its downsampleRawLoop / downsampleAggrLoop): raw
 * samples are cut into batches of n/nchunks+1 samples, each extended to the
 * end of the window it ends in; aggregate chunks into batches of
 * nin/nchunks chunks (at least 1). For tests against Thanos's vectors. */
int downsample_raw_n(const sample_t *s, size_t n, int64_t resolution, size_t nchunks, ds_chunks_t *out, pl_err_t *err);
int downsample_aggr_n(const aggrchunk_t *in, size_t nin, int64_t out_res, size_t nchunks, ds_chunks_t *out,
                      pl_err_t *err);

/* The thanos.downsample.resolution of a meta (0 when absent). */
int64_t downsample_meta_resolution(const block_meta_t *m);

/* Downsamples the block in src_dir (raw, or downsampled at a resolution
 * below `resolution`) into a new block in dst_parent_dir; out_ulid gets its
 * ULID. Chunks of a series that overlap, chunks of an unexpected encoding,
 * or malformed chunks are an error naming the series; nothing is left
 * behind in dst_parent_dir on error. */
int downsample_block(const char *src_dir, int64_t resolution, const char *dst_parent_dir, char out_ulid[ULID_LEN + 1],
                     pl_err_t *err);

#endif
