/* chunks.h — a block's chunk segment files (chunks/000001, 000002, ...), and
 * the byte-level helpers every on-disk TSDB file shares (CRC-32C, varints,
 * big-endian integers, a bounds-checked decoder).
 *
 * Segment layout (reference/tsdb-format.md §4):
 *   BE32 magic 0x85BD40DD, u8 version 1, 3 zero bytes        (8-byte header)
 *   chunk*: uvarint data_len, u8 encoding, data, BE32 CRC32C(encoding + data)
 * A chunk ref is (0-based segment index << 32) | byte offset of data_len.
 * Segments are at most 512 MiB; all chunks of one series go to one segment,
 * as Prometheus's chunks.Writer does. Readers mmap every segment. */
#ifndef PL_TSDB_CHUNKS_H
#define PL_TSDB_CHUNKS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/err.h"
#include "util/strbuf.h"

#define CHUNKS_MAGIC 0x85BD40DDu
#define CHUNKS_HEADER_BYTES 8
#define CHUNKS_DEFAULT_SEGMENT_SIZE (512ull * 1024 * 1024)

/* ---- shared encoding helpers ----------------------------------------------- */

/* CRC-32C (Castagnoli) continuing from crc (start with 0). */
uint32_t chunks_crc32c(uint32_t crc, const void *buf, size_t n);

static inline void enc_be32(strbuf_t *sb, uint32_t v) {
    uint8_t b[4] = {(uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v};
    strbuf_append(sb, b, 4);
}
static inline void enc_be64(strbuf_t *sb, uint64_t v) {
    enc_be32(sb, (uint32_t)(v >> 32));
    enc_be32(sb, (uint32_t)v);
}
static inline void enc_uvarint(strbuf_t *sb, uint64_t v) {
    uint8_t b[10];
    size_t n = 0;
    while (v >= 0x80) {
        b[n++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    b[n++] = (uint8_t)v;
    strbuf_append(sb, b, n);
}
static inline void enc_varint(strbuf_t *sb, int64_t v) {
    enc_uvarint(sb, ((uint64_t)v << 1) ^ (v < 0 ? UINT64_MAX : 0)); /* zig-zag */
}
static inline void enc_uvarint_str(strbuf_t *sb, const char *s, size_t n) {
    enc_uvarint(sb, n);
    strbuf_append(sb, s, n);
}
static inline uint32_t get_be32(const uint8_t *p) {
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}
static inline uint64_t get_be64(const uint8_t *p) { return ((uint64_t)get_be32(p) << 32) | get_be32(p + 4); }
static inline void put_be32(uint8_t *p, uint32_t v) {
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

/* A bounds-checked reader over bytes: every getter returns 0 / empty once
 * the bytes run out or a varint is malformed, and sets err. */
typedef struct decbuf {
    const uint8_t *p, *end;
    bool err;
} decbuf_t;

static inline void dec_init(decbuf_t *d, const uint8_t *p, size_t n) {
    d->p = p;
    d->end = p + n;
    d->err = false;
}
static inline size_t dec_len(const decbuf_t *d) { return (size_t)(d->end - d->p); }
static inline uint64_t dec_uvarint(decbuf_t *d) {
    uint64_t v = 0;
    for (unsigned shift = 0; shift < 70; shift += 7) {
        if (d->p >= d->end || d->err) {
            d->err = true;
            return 0;
        }
        uint8_t b = *d->p++;
        if (shift == 63 && b > 1) break;
        v |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) return v;
    }
    d->err = true;
    return 0;
}
static inline int64_t dec_varint(decbuf_t *d) {
    uint64_t u = dec_uvarint(d);
    return (int64_t)(u >> 1) ^ -(int64_t)(u & 1);
}
static inline uint32_t dec_be32(decbuf_t *d) {
    if (d->err || dec_len(d) < 4) {
        d->err = true;
        return 0;
    }
    uint32_t v = get_be32(d->p);
    d->p += 4;
    return v;
}
static inline uint64_t dec_be64(decbuf_t *d) {
    if (d->err || dec_len(d) < 8) {
        d->err = true;
        return 0;
    }
    uint64_t v = get_be64(d->p);
    d->p += 8;
    return v;
}
/* A uvarint-prefixed string: returns a pointer into the bytes (not NUL-terminated). */
static inline const char *dec_uvarint_str(decbuf_t *d, size_t *len) {
    uint64_t n = dec_uvarint(d);
    if (d->err || n > dec_len(d)) {
        d->err = true;
        *len = 0;
        return "";
    }
    const char *s = (const char *)d->p;
    d->p += n;
    *len = (size_t)n;
    return s;
}
static inline void dec_skip(decbuf_t *d, size_t n) {
    if (d->err || n > dec_len(d)) {
        d->err = true;
        return;
    }
    d->p += n;
}

/* ---- chunk metadata --------------------------------------------------------- */

/* One chunk of a series: its time range (both inclusive), where it lives,
 * and (while writing) its bytes. */
typedef struct chunk_meta {
    int64_t mint, maxt;
    uint64_t ref;        /* BlockChunkRef */
    const uint8_t *data; /* chunk bytes (XOR: BE16 count + bitstream); borrowed */
    uint32_t len;
    uint8_t encoding; /* CHUNKENC_XOR */
} chunk_meta_t;

/* ---- writer ----------------------------------------------------------------- */

typedef struct chunk_writer chunk_writer_t;

/* Creates dir (the block's chunks/ directory) and writes segments into it.
 * segment_size 0 means 512 MiB. */
chunk_writer_t *chunk_writer_open(const char *dir, uint64_t segment_size, pl_err_t *err);
/* Writes all chunks of one series into one segment (cutting a new segment
 * first if they do not fit in the current one) and fills each chks[i].ref. */
int chunk_writer_write_series(chunk_writer_t *w, chunk_meta_t *chks, size_t n, pl_err_t *err);
/* Flushes, fsyncs and closes the last segment, frees w (also on error). */
int chunk_writer_close(chunk_writer_t *w, pl_err_t *err);
/* Bytes written so far over all segments. */
uint64_t chunk_writer_bytes(const chunk_writer_t *w);

/* ---- reader ----------------------------------------------------------------- */

typedef struct chunk_reader chunk_reader_t;

/* mmaps every NNNNNN file in dir (sorted by name) and checks their headers. */
chunk_reader_t *chunk_reader_open(const char *dir, pl_err_t *err);
void chunk_reader_close(chunk_reader_t *r);
/* The chunk at ref: its encoding and bytes (pointing into the mapping, valid
 * until close). Checks bounds and the CRC. */
int chunk_reader_get(const chunk_reader_t *r, uint64_t ref, uint8_t *encoding, const uint8_t **data, size_t *len,
                     pl_err_t *err);
/* Total bytes of the segment files. */
uint64_t chunk_reader_size(const chunk_reader_t *r);
/* Drops the pages before ref (the earlier segments, and ref's segment up to
 * the page holding ref) from this process's resident memory (MADV_DONTNEED:
 * the file is unchanged, a later read faults the page back in). For readers
 * that walk the chunks once in ref order (compaction), so their RSS does not
 * grow with the size of the block. Pointers from chunk_reader_get below ref
 * stay valid. */
void chunk_reader_release_before(const chunk_reader_t *r, uint64_t ref);

/* ---- small file helpers shared by the block files -------------------------- */

/* Writes buf to path.tmp, fsyncs, renames to path. */
int tsdb_write_file_atomic(const char *path, const void *buf, size_t n, pl_err_t *err);
/* fsyncs a directory (so renames in it are durable). */
int tsdb_fsync_dir(const char *path);

#endif
