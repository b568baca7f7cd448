/* block.h — persistent blocks in Prometheus's on-disk format: writing one
 * from any source of series, and opening one for reading.
 *
 * A block is a directory named by a ULID holding meta.json, index,
 * chunks/000001.. and tombstones (reference/tsdb-format.md §1-6). It is
 * written into `<ULID>.tmp-for-creation` and renamed into place, so a reader
 * never sees half a block.
 *
 * Writing goes through a block_builder_t: series are added in any order with
 * their samples in time order; the builder cuts and XOR-encodes chunks as it
 * goes, the way Prometheus's head cuts them (a chunk ends at the chunk-range
 * boundary, at a predicted time once it holds 30 samples, and after at most
 * BLOCK_MAX_SAMPLES_PER_CHUNK samples), so only chunk bytes are held in
 * memory. block_builder_write then sorts the series and writes the files.
 *
 * Seams for the db layer: block_write_from_queryable cuts [mint, maxt) of any
 * queryable_t (the head, for head compaction and snapshots) into a new block
 * without a builder: it streams, as Prometheus's head compaction does, so
 * the memory it adds is a small part of the head's (see its comment);
 * block_dir_list lists the blocks of a data directory. */
#ifndef PL_TSDB_BLOCK_H
#define PL_TSDB_BLOCK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "model/labels.h"
#include "model/storage.h"
#include "tsdb/chunks.h"
#include "tsdb/index.h"
#include "tsdb/meta.h"
#include "tsdb/tombstones.h"
#include "util/err.h"

#define BLOCK_DEFAULT_RANGE_MS (2 * 3600 * 1000LL)
/* Chunks target 120 samples (the end time is predicted at 30). Prometheus
 * 2.42 has no hard cap, so a chunk of a block that does not start on the
 * chunk-range grid can hold more (e.g. 143 at 15s); 2.44+ cut at 2x120,
 * which is the cap here (only irregular sample rates reach it). */
#define BLOCK_SAMPLES_PER_CHUNK 120
#define BLOCK_MAX_SAMPLES_PER_CHUNK 240
#define BLOCK_TMP_CREATION_SUFFIX ".tmp-for-creation"

/* A new ULID: 48-bit ms timestamp (now) + 80 random bits, Crockford base32. */
void block_ulid_new(char out[ULID_LEN + 1]);
/* The directory a block is written in before it is renamed into place:
 * <parent_dir>/<new ULID>.tmp-for-creation, created; the ULID goes to ulid.
 * Returns the path (malloc'd), or NULL with err (nothing left behind). */
char *block_tmp_dir_create(const char *parent_dir, char ulid[ULID_LEN + 1], pl_err_t *err);
/* Finishes a block written in tmp (from block_tmp_dir_create, chunks and index
 * closed): meta.json from tmpl (level at least 1, sources default to the
 * ULID, thanos section kept) with the given counts, empty tombstones, fsync,
 * rename to <parent_dir>/<ulid>. On success *tmp is freed and NULL. */
int block_tmp_dir_commit(const char *parent_dir, char **tmp, const char *ulid, const block_meta_t *tmpl,
                         uint64_t nsamples, uint64_t nseries, uint64_t nchunks, pl_err_t *err);
/* The ms timestamp of a ULID string; -1 if it is not a valid ULID. */
int64_t block_ulid_time(const char *ulid);
bool block_ulid_valid(const char *s);

/* ---- writing ------------------------------------------------------------------ */

typedef struct block_builder block_builder_t;

/* chunk_range: the range chunks are cut at (Prometheus's head chunk range:
 * the block range for a head block; promtool's backfill uses twice it). */
block_builder_t *block_builder_new(int64_t chunk_range);
void block_builder_free(block_builder_t *b);
/* Adds a series (labels sorted by name; strings copied) with samples in
 * strictly increasing time order. A label set may be added once. */
int block_builder_add_series(block_builder_t *b, const label_t *ls, size_t n, const sample_t *s, size_t ns,
                             pl_err_t *err);
/* Totals so far. */
uint64_t block_builder_num_samples(const block_builder_t *b);
uint64_t block_builder_num_series(const block_builder_t *b);

typedef struct block_write_opts {
    int64_t min_time, max_time;    /* meta.json [minTime, maxTime) */
    uint64_t segment_size;         /* chunk segment size; 0 = 512 MiB */
    const block_meta_t *meta_base; /* optional: level, sources, parents, thanos section to carry */
} block_write_opts_t;

/* Writes the block into parent_dir/<ULID> and fills ulid_out. Writes no
 * block (ulid_out = "") when there are no samples, as Prometheus. */
int block_builder_write(block_builder_t *b, const char *parent_dir, const block_write_opts_t *o,
                        char ulid_out[ULID_LEN + 1], pl_err_t *err);

/* Cuts [mint, maxt) of q (every series with a __name__) into a block in
 * parent_dir, chunks cut at chunk_range (0: BLOCK_DEFAULT_RANGE_MS). meta
 * minTime/maxTime are mint/maxt. ulid_out = "" if there were no samples.
 * The same bytes as block_builder_write given the same series, but streamed:
 * a first pass (select_hinted unsorted + last_only when q has it) gathers the
 * label strings of the series with samples in range, which become the
 * symbols; a second pass selects the series in label order (one metric name
 * at a time when no label name sorts before __name__, so the select sorts
 * one metric's series at a time), cuts each one's chunks and writes them and
 * its index entry at once. Memory: the symbols, one series' chunks, and the
 * index writer's (index.h); q must not change between the passes (the DB
 * holds its compaction lock and an append floor). */
int block_write_from_queryable(const queryable_t *q, const char *parent_dir, int64_t mint, int64_t maxt,
                               int64_t chunk_range, char ulid_out[ULID_LEN + 1], pl_err_t *err);


/* ---- streaming writer (shared by the builder and compaction) ------------------ */

/* Writes a block series by series without holding it in memory: symbols
 * first (ascending, unique), then series in label order with their chunks'
 * bytes; the chunks go to chunks/ and the series entry to the index at once.
 * Everything goes to <parent_dir>/<ULID>.tmp-for-creation until commit. */
typedef struct block_writer block_writer_t;

/* Creates the temporary block dir (with a new ULID). segment_size 0 = 512 MiB. */
block_writer_t *block_writer_open(const char *parent_dir, uint64_t segment_size, pl_err_t *err);
const char *block_writer_ulid(const block_writer_t *w);
int block_writer_add_symbol(block_writer_t *w, const char *s, pl_err_t *err);
/* One series (strictly after the previous one in label order): writes its
 * chunks (data and len set, XOR only; refs are filled in) and its index
 * entry. A series without chunks is skipped. */
int block_writer_add_series(block_writer_t *w, const label_t *ls, size_t n, chunk_meta_t *chks, size_t nchks,
                            pl_err_t *err);
/* Whether every label string of ls is a symbol of the block; a series with
 * one that is not cannot be added (block_writer_add_series checks it before
 * writing any chunk). */
bool block_writer_has_symbols(block_writer_t *w, const label_t *ls, size_t n);
/* Samples / series / chunks written so far (from the XOR chunk headers). */
uint64_t block_writer_num_samples(const block_writer_t *w);
uint64_t block_writer_num_series(const block_writer_t *w);
uint64_t block_writer_num_chunks(const block_writer_t *w);
/* Finishes the files, writes meta.json from tmpl (minTime, maxTime, level
 * (0 means 1), sources (none means the block's own ULID), parents, thanos
 * section; ulid and stats are the writer's), an empty tombstones file, fsyncs,
 * and renames the dir into place; ulid_out gets the ULID. With no samples
 * written it removes the temporary dir instead and ulid_out = "". Frees w in
 * every case. */
int block_writer_commit(block_writer_t *w, const block_meta_t *tmpl, char ulid_out[ULID_LEN + 1], pl_err_t *err);
/* Frees w and removes the temporary dir. */
void block_writer_abort(block_writer_t *w);

/* Go's bstream leaves one zero byte after a chunk whose bits end on a byte
 * boundary right after a whole-byte write (see block.c); Prometheus stores
 * it. True if the XOR chunk bytes p (nbits bits) need that byte to be
 * byte-identical with Prometheus's. */
bool block_xor_go_trailing_byte(const uint8_t *p, size_t len, uint32_t nbits);

/* Removes a directory tree (best effort); 0 on success. */
int block_rm_rf(const char *path);

/* ---- reading ------------------------------------------------------------------ */

typedef struct block {
    char *dir;
    block_meta_t meta;
    index_reader_t *index;   /* mmap'd */
    chunk_reader_t *chunks;  /* mmap'd */
    tombstones_t tombstones; /* normalized */
    uint64_t size_bytes;     /* index + chunks + tombstones + meta.json */
} block_t;

block_t *block_open(const char *dir, pl_err_t *err);
void block_close(block_t *b);

/* Names of the block directories (valid ULID names holding a meta.json) of
 * a data dir, sorted (= by creation time). Caller frees with block_dir_list_free. */
int block_dir_list(const char *data_dir, char ***names, size_t *n, pl_err_t *err);
void block_dir_list_free(char **names, size_t n);

/* Calls fn for every sample of a block series' chunks within [mint, maxt],
 * skipping tombstoned samples; used by the querier and tools. Chunks with
 * another encoding than XOR are an error. */
typedef struct block_sample_buf {
    sample_t *v;
    size_t n, cap;
} block_sample_buf_t;
int block_series_samples(const block_t *b, uint32_t series_id, const index_series_t *s, int64_t mint, int64_t maxt,
                         block_sample_buf_t *out, pl_err_t *err);

#endif
