/* chunkenc.h — Prometheus's XOR (Gorilla) float chunk, byte for byte.
 *
 * A chunk is the byte string Prometheus stores with encoding 1 (XOR):
 *   BE16 num_samples, then an MSB-first bitstream:
 *     sample 0:  varint t0, 64 raw bits of v0
 *     sample 1:  uvarint (t1 - t0), XOR-encoded value
 *     sample n:  delta-of-delta of t with the prefix codes 0 / 10+14 / 110+17 /
 *                1110+20 / 1111+64 bits, then the XOR-encoded value
 *   padded with zero bits to a whole byte.
 * See reference/tsdb-format.md §4.1. The bytes are never re-encoded: what an
 * appender writes is what a block or chunks_head file stores.
 *
 * Two levels of API:
 *  - xor_appender_t: a 32-byte appender state over a buffer the caller owns
 *    and grows (the head keeps one per series and places the bytes in its own
 *    slab allocator). Ask xor_appender_size_after() how many bytes the next
 *    sample needs, make the buffer that large, then xor_appender_append().
 *  - xor_chunk_t: a self-contained chunk owning a malloc'd buffer that grows
 *    geometrically from 32 bytes (tests, tools, block writers).
 * xor_iter_t reads any chunk bytes and never reads past the length it is
 * given: malformed bytes end the iteration with xor_iter_err() set.
 *
 * Timestamps are any int64 (differences wrap as Go's uint64 arithmetic does,
 * so a chunk with decreasing timestamps round-trips exactly as in Prometheus).
 * Values are stored as bit patterns: every NaN payload, the stale marker
 * 0x7ff0000000000002 included, comes back bit for bit. */
#ifndef PL_TSDB_CHUNKENC_H
#define PL_TSDB_CHUNKENC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "model/storage.h" /* sample_t */

#define CHUNKENC_XOR 1            /* the encoding byte of XOR chunks in chunk files */
#define XOR_HEADER_BYTES 2        /* BE16 sample count */
#define XOR_MAX_SAMPLES 65535     /* the count must fit the header */
#define XOR_FIRST_SAMPLE_BYTES 20 /* header + longest varint + 8 bytes: room for sample 0 */

/* Appender state: everything needed to add the next sample. Invariant: the
 * buffer holds exactly (nbits + 7) / 8 meaningful bytes, the unused low bits
 * of the last byte are zero, and its first two bytes hold the sample count. */
typedef struct xor_appender {
    int64_t t;        /* last timestamp */
    uint64_t tdelta;  /* last timestamp delta (wrapping, as Go computes it) */
    uint64_t vbits;   /* bit pattern of the last value */
    uint32_t nbits;   /* bits used so far, the 16 header bits included */
    uint8_t leading;  /* leading zeros of the current XOR window; 0xff = no window yet */
    uint8_t trailing; /* trailing zeros of the current XOR window */
} xor_appender_t;

/* Starts an empty chunk in buf (at least XOR_HEADER_BYTES long). */
void xor_appender_init(xor_appender_t *a, uint8_t *buf);
/* Rebuilds the appender state of existing chunk bytes (e.g. a chunk read
 * back from disk) so that more samples can be appended. -1 if the bytes are
 * malformed. */
int xor_appender_resume(xor_appender_t *a, const uint8_t *buf, size_t len);
/* Bytes the chunk occupies after appending (t, v). */
size_t xor_appender_size_after(const xor_appender_t *a, const uint8_t *buf, int64_t t, double v);
/* Appends (t, v). buf must hold xor_appender_size_after(a, buf, t, v) bytes,
 * and the chunk must hold fewer than XOR_MAX_SAMPLES samples. Bytes past the
 * current length need not be zero. Allocates nothing. */
void xor_appender_append(xor_appender_t *a, uint8_t *buf, int64_t t, double v);
/* Length in bytes of the chunk written so far. */
static inline size_t xor_appender_len(const xor_appender_t *a) { return (a->nbits + 7) / 8; }

/* Sample count from the first two bytes of chunk bytes (len >= 2). */
uint16_t xor_chunk_count_bytes(const uint8_t *buf);

/* A chunk that owns its bytes. */
typedef struct xor_chunk {
    uint8_t *data; /* owned; malloc'd */
    size_t cap;
    xor_appender_t app;
} xor_chunk_t;

/* Returns -1 on allocation failure. */
int xor_chunk_init(xor_chunk_t *c);
void xor_chunk_free(xor_chunk_t *c);
/* Appends a sample; -1 on allocation failure or when the chunk already holds
 * XOR_MAX_SAMPLES samples. Any timestamp order is accepted (ordering rules
 * belong to the head). */
int xor_chunk_append(xor_chunk_t *c, int64_t t, double v);
/* The chunk bytes exactly as Prometheus stores them; valid until the next append. */
const uint8_t *xor_chunk_bytes(const xor_chunk_t *c, size_t *len);
uint16_t xor_chunk_num_samples(const xor_chunk_t *c);

/* Iterator over chunk bytes. The bytes must stay unchanged while it is used. */
typedef struct xor_iter {
    const uint8_t *data;
    size_t len;       /* bytes */
    size_t pos;       /* bit position of the next read */
    uint16_t total;   /* samples in the chunk */
    uint16_t nread;   /* samples decoded so far */
    int64_t t;
    uint64_t tdelta;
    uint64_t vbits;
    uint8_t leading, trailing;
    bool err;
} xor_iter_t;

void xor_iter_init(xor_iter_t *it, const uint8_t *data, size_t len);
/* Moves to the next sample; false at the end or on malformed bytes. */
bool xor_iter_next(xor_iter_t *it);
/* Moves to the first sample with timestamp >= t, staying put if the current
 * sample already qualifies (Prometheus's Seek). false if there is none. */
bool xor_iter_seek(xor_iter_t *it, int64_t t);
/* The current sample (after next/seek returned true). */
static inline void xor_iter_at(const xor_iter_t *it, int64_t *t, double *v) {
    if (t) *t = it->t;
    if (v) memcpy(v, &it->vbits, sizeof *v);
}
/* The current value's bit pattern. */
static inline uint64_t xor_iter_at_bits(const xor_iter_t *it) { return it->vbits; }
/* Decodes a whole chunk at once, faster than an iterator: the samples with
 * mint <= t <= maxt into out, which must have room for the chunk's sample
 * count (xor_chunk_count_bytes), or with last_only only the newest of them
 * into out[0]. Stops at the first sample after maxt (the head's and blocks'
 * chunks are in time order). Returns how many were written (0 or 1 with
 * last_only); *err tells whether the bytes were malformed (what was decoded
 * before that is still written). */
size_t xor_chunk_decode(const uint8_t *data, size_t len, int64_t mint, int64_t maxt, sample_t *out, bool last_only,
                        bool *err);
/* True if iteration stopped on malformed bytes. */
static inline bool xor_iter_err(const xor_iter_t *it) { return it->err; }

#endif
