/* aggrchunk.h — Thanos's downsampled "aggregate chunk" (AggrChunk), byte
 * for byte, so real Thanos (store, query, compactor) reads the downsampled
 * blocks promlab writes and promlab reads Thanos's.
 *
 * In a chunk segment file (chunks.h) an aggregate chunk is stored with the
 * encoding byte 0xff (Thanos picked the highest value so it never collides
 * with a Prometheus encoding). Its data is five entries, one per aggregate,
 * always in this order:
 *
 *   count, sum, min, max, counter            (AGGR_COUNT .. AGGR_COUNTER)
 *
 * and each entry is
 *
 *   uvarint len        bytes of the sub-chunk, 0 = the aggregate is absent
 *   u8      encoding   (only when len > 0) the sub-chunk's encoding: 1, XOR
 *   len     bytes      the sub-chunk (an XOR chunk: BE16 count + bitstream)
 *
 * Nothing else: no header, no count, no CRC (the segment file's CRC covers
 * the whole chunk). Verified against thanos-io/thanos
 * pkg/compact/downsample/aggr.go (EncodeAggrChunk / Get).
 *
 * One quirk of Thanos's reader (AggrChunk.Get) is worth knowing: it checks
 * that at least len+1 bytes follow every length it passes, even a zero
 * length, so an absent aggregate as the very last entry makes Thanos's
 * Get(counter) fail with "invalid size" instead of "aggregate does not
 * exist". Writers here therefore always write all five aggregates when the
 * chunk has any data (as Thanos's raw downsampling does); the reader here
 * accepts a trailing absent entry.
 *
 * What the aggregates hold, per window of the resolution (5m or 1h, windows
 * aligned to the resolution, each sample at the window's last millisecond
 * (window end - 1), or at the chunk's last raw timestamp for the last
 * window): the number of raw samples (count), their sum, min and max, and
 * the counter aggregate — see compact/downsample.h for its exact rules. The
 * counter sub-chunk also carries the chunk's first raw sample before the
 * first window and repeats the last window's timestamp with the last raw
 * value at its end; aggr_counter_feed undoes that to give a reset-adjusted,
 * monotonic series that rate()/increase() read correctly.
 *
 * Every function checks bounds: malformed bytes give an error, never a read
 * past the end. */
#ifndef PL_TSDB_AGGRCHUNK_H
#define PL_TSDB_AGGRCHUNK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "model/storage.h"
#include "tsdb/chunkenc.h"
#include "util/err.h"
#include "util/strbuf.h"

#define AGGRCHUNK_ENCODING 0xff /* the encoding byte of an aggregate chunk in a chunk file */

enum aggr_type { AGGR_COUNT = 0, AGGR_SUM, AGGR_MIN, AGGR_MAX, AGGR_COUNTER, AGGR_N };
/* Not stored: sum / count per window, what a reader serves by default. */
#define AGGR_AVERAGE AGGR_N

/* The aggregate a reader of downsampled data serves for a selector wrapped
 * in the PromQL function func (Thanos's querier does the same): min and
 * min_* -> min; max, max_* -> max; count, count_* -> count; sum_* -> sum;
 * rate, increase, irate, resets -> counter; anything else (plain sum, no
 * function, avg_over_time, ...) -> AGGR_AVERAGE. func may be NULL. */
enum aggr_type aggr_for_function(const char *func);

/* "count", "sum", "min", "max", "counter" (Thanos's AggrType.String). */
const char *aggr_type_name(enum aggr_type t);

/* A parsed aggregate chunk: views into the bytes given to aggrchunk_parse
 * (borrowed; they must outlive the views). */
typedef struct aggrchunk {
    struct {
        bool present;
        uint8_t encoding;    /* CHUNKENC_XOR */
        const uint8_t *data; /* the XOR chunk bytes */
        size_t len;
    } sub[AGGR_N];
} aggrchunk_t;

/* Splits aggregate chunk bytes into its five entries and validates them:
 * every length within the bytes, no bytes left over, only XOR sub-chunks,
 * every sub-chunk decodes to exactly its sample count with timestamps never
 * going back (the counter's last sample repeats a timestamp, so equal is
 * fine). Returns -1 with a reason on malformed bytes. */
int aggrchunk_parse(const uint8_t *data, size_t len, aggrchunk_t *c, pl_err_t *err);

/* Samples of the count aggregate (Thanos's AggrChunk.NumSamples); 0 if absent. */
uint16_t aggrchunk_num_samples(const aggrchunk_t *c);

/* Starts an iterator over one aggregate; false (it untouched) if absent. */
bool aggrchunk_iter(const aggrchunk_t *c, enum aggr_type t, xor_iter_t *it);

/* Decodes one aggregate, appending its samples to *out (grown with realloc;
 * *n and *cap track it; an absent aggregate appends nothing). */
int aggrchunk_append_samples(const aggrchunk_t *c, enum aggr_type t, sample_t **out, size_t *n, size_t *cap,
                             pl_err_t *err);

/* Encodes sub-chunks into aggregate chunk bytes appended to out. sub[i] is
 * the XOR bytes of aggregate i, or NULL (absent). */
void aggrchunk_encode_raw(const uint8_t *const sub[AGGR_N], const size_t sublen[AGGR_N], strbuf_t *out);

/* Encodes five sample arrays (s[i] NULL = absent; samples in time order,
 * at most XOR_MAX_SAMPLES each) as XOR sub-chunks into an aggregate chunk
 * appended to out. */
int aggrchunk_encode(const sample_t *const s[AGGR_N], const size_t n[AGGR_N], strbuf_t *out, pl_err_t *err);

/* ---- reading the counter aggregate ------------------------------------------ */

/* Thanos's ApplyCounterResetsSeriesIterator, one sample at a time: feed the
 * counter aggregate's samples of consecutive chunks of a series, in order
 * (or raw counter samples); it emits a monotonic series whose differences
 * are the counter's increases, resets included:
 *  - NaN values are skipped;
 *  - the first sample starts the total at its value;
 *  - a later timestamp adds v - last (or v after a reset, v < last) and is
 *    emitted;
 *  - a repeated timestamp only sets the "true last raw value" that the next
 *    chunk's first sample is compared with (not emitted);
 *  - an earlier timestamp is skipped.
 * Start from a zeroed state. Returns true when (*t, *v) is a new sample. */
typedef struct aggr_counter_state {
    uint64_t total; /* samples emitted */
    int64_t last_t;
    double last_v;  /* last raw value seen */
    double total_v; /* the reset-adjusted counter */
} aggr_counter_state_t;

bool aggr_counter_feed(aggr_counter_state_t *st, int64_t t, double v, int64_t *out_t, double *out_v);

/* The samples of aggregate t over one series' aggregate chunks (consecutive,
 * in time order), appended to *out (grown with realloc; *n and *cap track
 * it), as a reader of downsampled data wants them: count, sum, min and max
 * as stored; the counter with aggr_counter_feed applied across the chunks
 * (monotonic, for rate() and increase()); t == AGGR_AVERAGE: sum / count of
 * each window (the two aggregates must have the same timestamps). Chunks
 * without that aggregate add nothing. */
int aggrchunk_series_samples(const aggrchunk_t *chunks, size_t nchunks, enum aggr_type t, sample_t **out, size_t *n,
                             size_t *cap, pl_err_t *err);

#endif
