/* record.h — WAL record payloads as Prometheus's tsdb/record package writes
 * them (reference/tsdb-format.md §7.2). The first byte is the type:
 *
 *   1 series      { BE64 ref ; uvarint nlabels ; (uvarint-str name, uvarint-str value) x n }*
 *   2 samples     BE64 base_ref ; BE64 base_t ; { varint ref-base_ref ; varint t-base_t ; BE64 float bits }*
 *                 (every sample, the first too, carries its deltas; signed varints)
 *   3 tombstones  { BE64 ref ; varint mint ; varint maxt }*
 *
 * Types 4..8 (exemplars, mmap markers, metadata, histograms) are recognised
 * by record_type and skipped by the DB for now; promlab does not write them.
 * A writer that Prometheus 2.42 must read writes only these types.
 *
 * Encoders append to a strbuf (the caller resets it). Decoders are strict:
 * truncated fields, trailing bytes or an implausible count fail with a
 * message, never read out of bounds. A record_decoder_t owns the scratch
 * memory decoded labels and samples live in; it is reused across records so
 * replay allocates nothing per record in the steady state. */
#ifndef PL_TSDB_RECORD_H
#define PL_TSDB_RECORD_H

#include <stddef.h>
#include <stdint.h>

#include "model/labels.h"
#include "util/err.h"
#include "util/strbuf.h"

enum record_type {
    RECORD_UNKNOWN = 255,
    RECORD_SERIES = 1,
    RECORD_SAMPLES = 2,
    RECORD_TOMBSTONES = 3,
    RECORD_EXEMPLARS = 4,
    RECORD_MMAP_MARKERS = 5,
    RECORD_METADATA = 6,
    RECORD_HISTOGRAM_SAMPLES = 7,
    RECORD_FLOAT_HISTOGRAM_SAMPLES = 8,
};

typedef struct record_sample {
    uint64_t ref;
    int64_t t;
    double v;
} record_sample_t;

typedef struct record_tombstone {
    uint64_t ref;
    int64_t mint, maxt; /* closed interval */
} record_tombstone_t;

/* The type byte, or RECORD_UNKNOWN for an empty record or a type > 8. */
enum record_type record_type(const uint8_t *rec, size_t len);

/* Series: start with record_series_begin, then one add per series. */
void record_series_begin(strbuf_t *out);
void record_series_add(strbuf_t *out, uint64_t ref, const label_t *ls, size_t n);
/* Samples / tombstones: the whole record from an array. n == 0 writes just the type byte. */
void record_samples_encode(strbuf_t *out, const record_sample_t *s, size_t n);
void record_tombstones_encode(strbuf_t *out, const record_tombstone_t *t, size_t n);

/* Varints as Go's encoding/binary (exposed for the index and tests). */
void record_put_uvarint(strbuf_t *out, uint64_t x);
void record_put_varint(strbuf_t *out, int64_t x);

typedef struct record_decoder {
    strbuf_t strs;   /* NUL-terminated label strings of the series being decoded */
    label_t *labels; /* pointers into strs */
    size_t cap_labels;
    uint32_t *offs; /* string offsets while strs may move */
    size_t cap_offs;
    record_sample_t *samples;
    size_t cap_samples;
    record_tombstone_t *tombstones;
    size_t cap_tombstones;
} record_decoder_t;

void record_decoder_init(record_decoder_t *d);
void record_decoder_free(record_decoder_t *d);

/* Calls fn once per series of a series record; the labels are valid during
 * the call. fn returns 0 to go on. Returns 0, fn's non-zero value, or -1
 * (malformed) with err. */
typedef int (*record_series_fn)(void *ctx, uint64_t ref, const label_t *ls, size_t n);
int record_decode_series(record_decoder_t *d, const uint8_t *rec, size_t len, record_series_fn fn, void *ctx,
                         pl_err_t *err);
/* Fills *out (owned by d, valid until the next decode) with the samples. */
int record_decode_samples(record_decoder_t *d, const uint8_t *rec, size_t len, const record_sample_t **out, size_t *n,
                          pl_err_t *err);
int record_decode_tombstones(record_decoder_t *d, const uint8_t *rec, size_t len, const record_tombstone_t **out,
                             size_t *n, pl_err_t *err);

#endif
