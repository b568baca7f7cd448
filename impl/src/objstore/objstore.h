/* objstore.h — object storage behind one small interface, configured by
 * Thanos's objstore YAML (the same file real Thanos components read):
 *
 *   type: FILESYSTEM            type: S3
 *   config:                     config:
 *     directory: /data/bucket     bucket: thanos
 *   prefix: ""                    endpoint: 127.0.0.1:9000
 *                                 access_key: ...
 *                                 secret_key: ...
 *                                 insecure: true
 *
 * Object names are '/'-separated paths relative to the bucket (and its
 * prefix). A bucket counts every operation in Thanos's metrics
 * (thanos_objstore_bucket_operations_total{bucket,operation}, ..._failures_total,
 * ..._duration_seconds); objstore_write_metrics renders them.
 *
 * Credentials: the secret and access keys live only in the config struct and
 * in the Authorization header of S3 requests. No error message, log line or
 * metric this module produces contains them; objstore_config_render_safe
 * shows a config with both replaced by "<secret>".
 *
 * Thread safety: one objstore_t may be used by one thread at a time, except
 * objstore_write_metrics, which may run concurrently with operations. */
#ifndef PL_OBJSTORE_H
#define PL_OBJSTORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/err.h"
#include "util/strbuf.h"

enum objstore_type { OBJSTORE_FILESYSTEM = 1, OBJSTORE_S3 };

typedef struct objstore_s3_config {
    char *bucket, *endpoint, *region;
    char *access_key, *secret_key, *session_token; /* secrets: never print */
    bool insecure;                                 /* http:// instead of https:// */
    bool insecure_skip_verify;                     /* http_config.insecure_skip_verify */
    int64_t part_size;                             /* multipart threshold and part size; default 64 MiB */
    bool disable_multipart;
    int max_retries;                               /* 0 = the default (3) */
    bool send_content_md5;                         /* accepted; SigV4 already signs the body hash */
} objstore_s3_config_t;

typedef struct objstore_config {
    enum objstore_type type;
    char *prefix;    /* "" or a path without leading/trailing '/' */
    char *directory; /* FILESYSTEM */
    objstore_s3_config_t s3;
} objstore_config_t;

/* Parses the YAML text; name is what errors call the source ("bucket.yml"
 * or "<objstore.config>"). Strict: unknown keys, wrong types, missing
 * required keys and unsupported values are refused with "name:line:col: reason". */
int objstore_config_parse(const char *yaml, size_t len, const char *name, objstore_config_t *cfg, pl_err_t *err);
int objstore_config_load_file(const char *path, objstore_config_t *cfg, pl_err_t *err);
void objstore_config_free(objstore_config_t *cfg);

typedef struct objstore objstore_t;

typedef struct objstore_attrs {
    int64_t size;
    int64_t last_modified_ms; /* 0 if unknown */
} objstore_attrs_t;

/* Takes a copy of cfg's values. */
objstore_t *objstore_open(const objstore_config_t *cfg, pl_err_t *err);
/* The bucket that Thanos's --objstore.config-file / --objstore.config flags
 * name: exactly one of file and inline_yaml is non-empty (NULL counts as
 * empty). Errors say which step failed: "objstore config: ..." (the YAML,
 * with file:line:col) or "objstore: ..." (opening the bucket). */
objstore_t *objstore_open_flags(const char *file, const char *inline_yaml, pl_err_t *err);
void objstore_close(objstore_t *b);
/* Thanos's Name(): the bucket name for S3, "fs: <dir>" for a filesystem bucket. */
const char *objstore_name(const objstore_t *b);

/* Return 0 on success, -1 on error. Operations on a missing object fail
 * with objstore_is_not_found(b) true afterwards. */
int objstore_upload_file(objstore_t *b, const char *name, const char *path, pl_err_t *err);
int objstore_upload_buf(objstore_t *b, const char *name, const void *data, size_t len, pl_err_t *err);
/* Reads [off, off+len) (len < 0: to the end) and appends it to out. */
int objstore_get(objstore_t *b, const char *name, int64_t off, int64_t len, strbuf_t *out, pl_err_t *err);
int objstore_get_to_file(objstore_t *b, const char *name, const char *path, pl_err_t *err);
int objstore_exists(objstore_t *b, const char *name, bool *exists, pl_err_t *err);
int objstore_attributes(objstore_t *b, const char *name, objstore_attrs_t *attrs, pl_err_t *err);
/* Deleting a missing object is an error (not found), as in Thanos. */
int objstore_delete(objstore_t *b, const char *name, pl_err_t *err);
bool objstore_is_not_found(const objstore_t *b);

/* Calls fn for each entry directly under dir ("" = the top; a trailing '/' is
 * optional), in lexical order: objects by name, "directories" by name with a
 * trailing '/'. With recursive, every object under dir instead. Names are
 * full names (dir included). fn returning non-zero stops the walk and is
 * returned. */
typedef int (*objstore_iter_fn)(void *ctx, const char *name);
int objstore_iter(objstore_t *b, const char *dir, bool recursive, objstore_iter_fn fn, void *ctx, pl_err_t *err);

/* thanos_objstore_bucket_* metrics in text format. */
void objstore_write_metrics(objstore_t *b, strbuf_t *sb);
/* Counters for tests: operations and failures of one kind ("upload", ...). */
uint64_t objstore_op_count(objstore_t *b, const char *op);
uint64_t objstore_op_failures(objstore_t *b, const char *op);

#endif
