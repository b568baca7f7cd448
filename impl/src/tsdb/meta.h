/* meta.h — a block's meta.json, as Prometheus writes it (Go's
 * json.MarshalIndent with tabs) and Thanos extends it (the top-level
 * "thanos" object, kept verbatim across a read/rewrite).
 *
 * Reading uses jansson; writing is a small hand-written emitter so the bytes
 * match Prometheus's (field order, omitempty rules, tab indentation, no
 * trailing newline). */
#ifndef PL_TSDB_META_H
#define PL_TSDB_META_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/err.h"
#include "util/strbuf.h"

#define ULID_LEN 26

typedef struct block_desc {
    char ulid[ULID_LEN + 1];
    int64_t min_time, max_time;
} block_desc_t;

typedef struct block_meta {
    char ulid[ULID_LEN + 1];
    int64_t min_time, max_time; /* [min_time, max_time) */
    uint64_t num_samples, num_float_samples, num_histogram_samples, num_series, num_chunks, num_tombstones;
    int level;
    char (*sources)[ULID_LEN + 1]; /* owned */
    size_t nsources;
    block_desc_t *parents; /* owned */
    size_t nparents;
    bool deletable, failed;
    char **hints; /* owned */
    size_t nhints;
    int version;  /* always 1 */
    void *thanos; /* owned jansson json_t* of the "thanos" object, or NULL */
} block_meta_t;

void block_meta_free(block_meta_t *m);
int block_meta_add_source(block_meta_t *m, const char *ulid);
/* Parses meta.json bytes; rejects version != 1. */
int block_meta_parse(const char *json, size_t len, block_meta_t *m, pl_err_t *err);
int block_meta_read(const char *dir, block_meta_t *m, pl_err_t *err);
/* Renders as Prometheus does (thanos section last, if present). */
void block_meta_render(const block_meta_t *m, strbuf_t *out);
/* Writes dir/meta.json atomically. */
int block_meta_write(const char *dir, const block_meta_t *m, pl_err_t *err);

#endif
