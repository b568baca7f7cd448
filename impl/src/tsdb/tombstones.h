/* tombstones.h — a block's `tombstones` file: deleted time ranges per series.
 *
 * Layout (reference/tsdb-format.md §6): BE32 magic 0x0130BA30, u8 version 1,
 * then entries { uvarint series_id, varint mint, varint maxt } (closed
 * intervals), then BE32 CRC-32C over the entries only. A missing file means
 * no tombstones; an empty one is 9 bytes. */
#ifndef PL_TSDB_TOMBSTONES_H
#define PL_TSDB_TOMBSTONES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/err.h"

#define TOMBSTONES_MAGIC 0x0130BA30u

typedef struct tombstone {
    uint32_t series_id;
    int64_t mint, maxt; /* closed interval */
} tombstone_t;

/* Sorted by (series_id, mint). */
typedef struct tombstones {
    tombstone_t *v;
    size_t n, cap;
} tombstones_t;

void tombstones_free(tombstones_t *ts);
int tombstones_add(tombstones_t *ts, uint32_t series_id, int64_t mint, int64_t maxt);
/* Sorts by (series, mint) and merges overlapping or adjacent intervals of a series. */
void tombstones_normalize(tombstones_t *ts);
/* True if t of series_id is deleted (ts normalized). */
bool tombstones_deleted(const tombstones_t *ts, uint32_t series_id, int64_t t);
/* True if the series has any tombstone (ts normalized). */
bool tombstones_has_series(const tombstones_t *ts, uint32_t series_id);

/* Reads dir/tombstones; a missing file gives an empty set. */
int tombstones_read(const char *path, tombstones_t *ts, pl_err_t *err);
int tombstones_decode(const uint8_t *b, size_t n, tombstones_t *ts, pl_err_t *err);
/* Writes path atomically (path.tmp, fsync, rename). */
int tombstones_write(const char *path, const tombstones_t *ts, pl_err_t *err);

#endif
