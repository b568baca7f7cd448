/* index.h — a block's `index` file, format v2, as Prometheus writes and reads it.
 *
 * Layout (reference/tsdb-format.md §3): header (magic 0xBAAAD700, version 2),
 * symbol table, series (16-byte aligned; a series id is its offset / 16),
 * label indices (one per label name, as Prometheus 2.x writes them), postings
 * lists (4-byte aligned; the all-series list under ("", "") first), label
 * offset table, postings offset table, 52-byte TOC. CRC-32C over every section.
 *
 * The writer takes the symbols (sorted, unique) and then the series (sorted by
 * label set), writing each series entry at once; at close it reads the series
 * section back in batches of label names to write the label indices and
 * postings, so its memory does not grow with the series (index.c). It uses
 * two temp files beside the index while closing (<path>_tmp_p, _tmp_po).
 * The reader works over an
 * mmap'd file or any byte buffer and never reads out of bounds: malformed
 * bytes give an error, never a crash (fuzz/fuzz_index.c). */
#ifndef PL_TSDB_INDEX_H
#define PL_TSDB_INDEX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "model/labels.h"
#include "tsdb/chunks.h"
#include "util/err.h"

#define INDEX_MAGIC 0xBAAAD700u
#define INDEX_TOC_BYTES 52

typedef struct index_toc {
    uint64_t symbols, series, label_indices, label_indices_table, postings, postings_table;
} index_toc_t;

/* ---- writer ------------------------------------------------------------------- */

typedef struct index_writer index_writer_t;

index_writer_t *index_writer_open(const char *path, pl_err_t *err);
/* Symbols must come first, strictly ascending (byte order), every label name
 * and value of the series to come; Prometheus also adds "" first. */
int index_writer_add_symbol(index_writer_t *w, const char *s, pl_err_t *err);
/* Series in strictly ascending label-set order; labels sorted by name; chunk
 * refs from the chunk writer, chunks in time order and not overlapping.
 * *series_id (may be NULL) gets the series' id (offset / 16). */
int index_writer_add_series(index_writer_t *w, const label_t *ls, size_t n, const chunk_meta_t *chks, size_t nchks,
                            uint32_t *series_id, pl_err_t *err);
/* Whether every name and value of ls is a symbol (binary searches). Once the
 * first series was added, the refs found are kept for the next
 * index_writer_add_series of these very labels (same pointer and count,
 * unchanged), which then does not look them up again. */
bool index_writer_has_symbols(index_writer_t *w, const label_t *ls, size_t n);
/* Writes label indices, postings, the tables and the TOC; fsyncs; frees w
 * (also on error). */
int index_writer_close(index_writer_t *w, pl_err_t *err);
/* Frees w without finishing the file (after an error). */
void index_writer_abort(index_writer_t *w);
/* Test hook: the (value, series id) entries one read-back pass of the series
 * section gathers at most (0: the default, 256k). Process-wide. */
void index_writer_set_batch_entries(size_t n);

/* ---- reader ------------------------------------------------------------------- */

typedef struct index_reader index_reader_t;

/* mmaps path. */
index_reader_t *index_reader_open(const char *path, pl_err_t *err);
/* Reads an index held in memory (borrowed: b must outlive the reader). */
index_reader_t *index_reader_open_bytes(const uint8_t *b, size_t n, pl_err_t *err);
void index_reader_close(index_reader_t *r);

const index_toc_t *index_reader_toc(const index_reader_t *r);
uint8_t index_reader_version(const index_reader_t *r);
uint64_t index_reader_size(const index_reader_t *r);

/* Symbol by reference (0-based position); NULL if out of range. NUL-terminated. */
size_t index_reader_num_symbols(const index_reader_t *r);
const char *index_reader_symbol(const index_reader_t *r, uint32_t ref);

/* The series ids of (name, value), ascending, malloc'd into *ids (caller
 * frees; NULL with *n = 0 when the pair is absent). ("", "") gives every
 * series. */
int index_reader_postings(const index_reader_t *r, const char *name, const char *value, uint32_t **ids, size_t *n,
                          pl_err_t *err);

/* Label names (without ""), and the values of one name, in byte order. fn
 * returns non-zero to stop (that value is returned). Strings are valid during
 * the call. */
typedef int (*index_string_fn)(void *ctx, const char *s);
int index_reader_label_names(const index_reader_t *r, index_string_fn fn, void *ctx);
int index_reader_label_values(const index_reader_t *r, const char *name, index_string_fn fn, void *ctx);
/* Number of values of a name (0 if unknown). */
size_t index_reader_num_label_values(const index_reader_t *r, const char *name);

/* One series: labels (strings owned by the reader) and chunk metas (data NULL). */
typedef struct index_series {
    label_t *labels;
    size_t nlabels, cap_labels;
    chunk_meta_t *chks;
    size_t nchks, cap_chks;
} index_series_t;

/* Decodes series id into s (reusing its arrays; index_series_free releases them).
 * Checks the entry's CRC. */
int index_reader_series(const index_reader_t *r, uint32_t id, index_series_t *s, pl_err_t *err);
void index_series_free(index_series_t *s);

/* Calls fn for every series id in the file (walks the series section),
 * for readers that want them all without the postings. */
int index_reader_all_series(const index_reader_t *r, uint32_t **ids, size_t *n, pl_err_t *err);

#endif
