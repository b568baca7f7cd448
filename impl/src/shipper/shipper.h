/* shipper.h — ships a TSDB directory's finished blocks to a bucket, as the
 * Thanos sidecar's shipper does (pkg/shipper):
 *
 *  - each sync lists the block directories (<ULID>/meta.json) oldest minTime
 *    first and uploads every block not yet recorded in
 *    <tsdb>/thanos.shipper.json ({"version":1,"uploaded":[ULID…]});
 *  - skipped: blocks without samples; blocks of compaction level > 1 unless
 *    upload_compacted (then, as in Thanos, a compacted block overlapping a
 *    block of the same producer in the bucket stops the pass); a block
 *    whose <ULID>/meta.json is already in the
 *    bucket is recorded as uploaded without uploading it again;
 *  - a block is uploaded from hard links under <tsdb>/thanos/upload/<ULID>
 *    (so retention deleting it meanwhile does not break the upload), with the
 *    "thanos" section added to its meta.json (external labels,
 *    downsample.resolution 0, source, segment_files, files with sizes):
 *    the chunk segments first, then index, then meta.json last — a block directory in
 *    the bucket without meta.json is a partial upload no reader uses;
 *  - the first failed upload ends the pass (later blocks wait, so blocks
 *    reach the bucket in minTime order) and is retried at the next sync;
 *  - thanos.shipper.json is rewritten (atomically) after every upload, so a
 *    restart neither uploads a block twice nor skips one;
 *  - a block seen but not yet uploaded that disappears from the directory
 *    (local retention ran first) is logged as lost.
 *
 * The shipper needs external labels (shipper_set_labels) before it uploads:
 * without them shipper_sync refuses. Not thread-safe except
 * shipper_write_metrics, which may run beside a sync. */
#ifndef PL_SHIPPER_H
#define PL_SHIPPER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "model/labels.h"
#include "objstore/objstore.h"
#include "util/err.h"
#include "util/strbuf.h"

#define SHIPPER_META_FILE "thanos.shipper.json"

typedef struct shipper_opts {
    const char *tsdb_path;
    objstore_t *bucket;     /* borrowed */
    bool upload_compacted;  /* also ship blocks of level > 1 */
    const char *meta_file;  /* default SHIPPER_META_FILE */
    const char *source;     /* thanos.source; default "sidecar" */
} shipper_opts_t;

typedef struct shipper shipper_t;

shipper_t *shipper_new(const shipper_opts_t *opts, pl_err_t *err);
void shipper_free(shipper_t *s);
/* Copies the external labels (any order; sorted here). */
int shipper_set_labels(shipper_t *s, const label_t *ls, size_t n, pl_err_t *err);

/* One pass. *uploaded (may be NULL) gets the number of blocks uploaded.
 * Returns -1 if listing failed or any upload failed (err says why). */
int shipper_sync(shipper_t *s, int *uploaded, pl_err_t *err);

/* Reads a thanos.shipper.json; a missing file gives an empty list. The
 * ULIDs are written to *ulids (owned array of 27-byte strings). */
int shipper_read_meta_file(const char *path, char (**ulids)[27], size_t *n, pl_err_t *err);

void shipper_write_metrics(shipper_t *s, strbuf_t *sb);
uint64_t shipper_uploads_total(const shipper_t *s);
uint64_t shipper_upload_failures_total(const shipper_t *s);
uint64_t shipper_dir_syncs_total(const shipper_t *s);
uint64_t shipper_dir_sync_failures_total(const shipper_t *s);
uint64_t shipper_blocks_lost_total(const shipper_t *s);

#endif
