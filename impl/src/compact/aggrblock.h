/* aggrblock.h — writing and merging blocks whose chunks may be Thanos
 * aggregate chunks (encoding 0xff, tsdb/aggrchunk.h), for the compactor.
 *
 * tsdb/block.h's writer takes XOR chunks only (it counts samples from the
 * XOR header); downsampled blocks need the same files with 0xff chunks.
 * This writer sits on the same public pieces (chunk_writer, index_writer,
 * block_meta_write, tombstones_write) and publishes the block the same way:
 * <parent>/<ULID>.tmp-for-creation, fsync'd, renamed into place.
 *
 * Stats in meta.json count, for an aggregate chunk, the samples of its count
 * aggregate (Thanos's AggrChunk.NumSamples), so numSamples of a 5m block is
 * the number of 5m windows written. */
#ifndef PL_COMPACT_AGGRBLOCK_H
#define PL_COMPACT_AGGRBLOCK_H

#include <stddef.h>
#include <stdint.h>

#include "model/labels.h"
#include "tsdb/chunks.h"
#include "tsdb/meta.h"
#include "util/err.h"

typedef struct aggrblock_writer aggrblock_writer_t;

aggrblock_writer_t *aggrblock_writer_open(const char *parent_dir, pl_err_t *err);
const char *aggrblock_writer_ulid(const aggrblock_writer_t *w);
/* Symbols first: strictly ascending, "" included if wanted. */
int aggrblock_writer_add_symbol(aggrblock_writer_t *w, const char *s, pl_err_t *err);
/* One series, in label order, chunks in time order without overlap; each
 * chunk XOR (CHUNKENC_XOR) or aggregate (AGGRCHUNK_ENCODING, validated
 * here). refs are filled in. A series without chunks is skipped. */
int aggrblock_writer_add_series(aggrblock_writer_t *w, const label_t *ls, size_t n, chunk_meta_t *chks, size_t nchks,
                                pl_err_t *err);
/* Finishes the files and publishes the block: meta.json from tmpl (times,
 * level, sources, parents, thanos section; ulid and stats are the writer's),
 * an empty tombstones file. Unlike block.h's writer it publishes a block
 * even with no series (so a downsampling is never retried forever). Frees w. */
int aggrblock_writer_commit(aggrblock_writer_t *w, const block_meta_t *tmpl, char ulid_out[ULID_LEN + 1],
                            pl_err_t *err);
void aggrblock_writer_abort(aggrblock_writer_t *w);

/* Merges blocks whose series' chunks do not overlap in time (a compaction
 * group of downsampled blocks: the compactor halts on overlaps before) into
 * one new block in parent_dir, copying every chunk byte for byte. Chunks of
 * one series that overlap are an error. meta from tmpl as above. */
int aggrblock_merge(const char *parent_dir, char *const *dirs, size_t ndirs, const block_meta_t *tmpl,
                    char ulid_out[ULID_LEN + 1], pl_err_t *err);

#endif
