/* wal.h — the write-ahead log (Prometheus's tsdb/wlog), byte for byte.
 *
 * A WAL is a directory of segments named by 8 decimal digits (00000000,
 * 00000001, ...), 128 MiB each by default. A segment is a run of 32 KiB
 * pages; a record is written as one FULL fragment or as FIRST, MIDDLE...,
 * LAST fragments that never cross a page, and never crosses into another
 * segment. Each fragment has a 7-byte header:
 *
 *   u8   type   bits 2..0 fragment type (0 page padding, 1 full, 2 first,
 *               3 middle, 4 last), bit 3 snappy, bit 4 zstd, 7..5 zero
 *   BE16 length of the fragment data
 *   BE32 CRC-32C (Castagnoli) of the fragment data
 *
 * Fewer than 7 bytes left in a page are zero-filled. A record is compressed
 * as a whole before it is cut into fragments (snappy block format or a zstd
 * frame), and written uncompressed when compressing does not make it smaller.
 * See reference/tsdb-format.md §7.
 *
 * Writer: full pages are written out as soon as they fill; wal_flush writes
 * the partial last page (appending only the bytes not yet written, so the
 * file is append-only). A segment is padded to a whole page and fsync'd when
 * it is cut and on close. Opening a WAL for writing always starts a new
 * segment after the last one, as Prometheus does.
 *
 * Reader: iterates records over a contiguous range of segments (a WAL dir
 * or a checkpoint dir). A short segment counts as zero-padded (Prometheus
 * does the same), so a segment cut by repair is still valid. At the first
 * corruption (bad CRC, bad header, torn record, a fragment out of sequence,
 * non-zero padding, a record that does not decompress) the reader stops and
 * reports where the last good record ended; wal_repair cuts there.
 *
 * Thread safety: a wal_t is not locked; the DB serialises its appenders. */
#ifndef PL_TSDB_WAL_H
#define PL_TSDB_WAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/err.h"

#define WAL_PAGE_SIZE 32768
#define WAL_RECORD_HEADER_SIZE 7
#define WAL_DEFAULT_SEGMENT_SIZE (128u * 1024 * 1024)

/* Fragment types and compression flags of the header's type byte. */
enum wal_fragment_type {
    WAL_FRAG_PAGE_TERM = 0,
    WAL_FRAG_FULL = 1,
    WAL_FRAG_FIRST = 2,
    WAL_FRAG_MIDDLE = 3,
    WAL_FRAG_LAST = 4,
};
#define WAL_FLAG_SNAPPY 0x08
#define WAL_FLAG_ZSTD 0x10
#define WAL_TYPE_MASK 0x07

typedef enum wal_compression {
    WAL_COMPRESSION_NONE = 0,
    WAL_COMPRESSION_SNAPPY,
    WAL_COMPRESSION_ZSTD,
} wal_compression_t;

/* "none", "snappy", "zstd" -> 0, or -1. */
int wal_compression_parse(const char *s, wal_compression_t *out);
const char *wal_compression_name(wal_compression_t c);

/* CRC-32C (Castagnoli) as Go's crc32.Checksum(b, castagnoliTable). */
uint32_t wal_crc32c(const void *data, size_t len);

/* ---- segments in a directory ---- */

/* First and last segment index in dir (files whose whole name is decimal
 * digits). Returns 1 if there are segments, 0 if none, -1 on error. */
int wal_segment_range(const char *dir, int *first, int *last, pl_err_t *err);
/* Writes "dir/%08d" into out (PATH_MAX). */
void wal_segment_path(char *out, size_t outsz, const char *dir, int index);

/* ---- writer ---- */

typedef struct wal_opts {
    size_t segment_size;           /* bytes, a multiple of WAL_PAGE_SIZE; 0 = 128 MiB */
    wal_compression_t compression; /* per record */
} wal_opts_t;

/* Counters for prometheus_tsdb_wal_* (read without a lock: approximate). */
typedef struct wal_stats {
    uint64_t page_flushes;                         /* prometheus_tsdb_wal_page_flushes_total */
    uint64_t completed_pages;                      /* prometheus_tsdb_wal_completed_pages_total */
    uint64_t writes_failed;                        /* prometheus_tsdb_wal_writes_failed_total */
    uint64_t fsyncs;                               /* count of prometheus_tsdb_wal_fsync_duration_seconds */
    double fsync_seconds;                          /* sum of it */
    uint64_t records, record_bytes, written_bytes; /* records logged, their size before/after compression+framing */
    int segment_current;                           /* prometheus_tsdb_wal_segment_current */
} wal_stats_t;

typedef struct wal wal_t;

/* Opens dir (created if missing) for writing: a new segment after the last
 * existing one. Does not read or repair the existing segments (the DB replays
 * and repairs them first). */
int wal_open(const char *dir, const wal_opts_t *opts, wal_t **out, pl_err_t *err);
/* Appends one record (compressed per the options). Full pages are written
 * at once; the partial page waits for wal_flush. On error the record may be
 * partly written; the WAL stays usable and writes_failed counts it. */
int wal_log(wal_t *w, const void *rec, size_t len, pl_err_t *err);
/* Writes the partial last page (what a commit must do). */
int wal_flush(wal_t *w, pl_err_t *err);
/* Pads the current segment, fsyncs it and starts the next one; returns its
 * index (the seam for checkpointing: everything before it is closed). */
int wal_next_segment(wal_t *w, pl_err_t *err);
/* Flushes, pads the last page, fsyncs and closes. NULL is a no-op. */
int wal_close(wal_t *w, pl_err_t *err);
const char *wal_dir(const wal_t *w);
int wal_get_segment(const wal_t *w); /* the segment being written */
void wal_get_stats(const wal_t *w, wal_stats_t *out);

/* ---- reader ---- */

typedef struct wal_reader wal_reader_t;

/* Records of segments first..last of dir, in order. */
int wal_reader_open(const char *dir, int first, int last, wal_reader_t **out, pl_err_t *err);
/* Reader over one byte buffer as if it were segment 0 (tests, fuzzing).
 * The buffer is borrowed. */
wal_reader_t *wal_reader_from_bytes(const uint8_t *buf, size_t len);
/* Next record: 1 with *rec and *len set (valid until the next call; already
 * decompressed), 0 at the clean end, -1 on corruption (err says what and
 * where; wal_reader_good_end gives the cut point). */
int wal_reader_next(wal_reader_t *r, const uint8_t **rec, size_t *len, pl_err_t *err);
/* Segment and byte offset just past the last complete, valid record (or
 * the start of the first segment when there is none). */
void wal_reader_good_end(const wal_reader_t *r, int *segment, uint64_t *offset);
/* Segment and offset of the fragment that failed (for messages). */
void wal_reader_error_at(const wal_reader_t *r, int *segment, uint64_t *offset);
void wal_reader_free(wal_reader_t *r);

/* ---- repair ---- */

/* Cuts segment `segment` of dir at offset and deletes every later segment,
 * then fsyncs the dir. */
int wal_repair(const char *dir, int segment, uint64_t offset, pl_err_t *err);

/* Total bytes of the files in dir and its checkpoint.N subdirs
 * (prometheus_tsdb_wal_storage_size_bytes). */
int64_t wal_dir_size(const char *dir);

#endif
