/* internal.h — what objstore.c needs from a backend (filesystem.c, s3.c).
 * Backends see full keys (the bucket prefix already applied) and return
 * 0, -1 (error, err filled) or OBJ_NOT_FOUND. */
#ifndef PL_OBJSTORE_INTERNAL_H
#define PL_OBJSTORE_INTERNAL_H

#include <stdio.h>

#include "objstore/objstore.h"

#define OBJ_NOT_FOUND (-2)

typedef struct objstore_backend {
    int (*upload_file)(void *impl, const char *key, const char *path, pl_err_t *err);
    int (*upload_buf)(void *impl, const char *key, const void *data, size_t len, pl_err_t *err);
    /* Appends [off, off+len) (len < 0: to the end) to out, or writes it to f when f != NULL. */
    int (*get)(void *impl, const char *key, int64_t off, int64_t len, strbuf_t *out, FILE *f, pl_err_t *err);
    int (*attributes)(void *impl, const char *key, objstore_attrs_t *a, pl_err_t *err);
    int (*del)(void *impl, const char *key, pl_err_t *err);
    /* Lists under dir_key ("" or ending in '/'); fn gets full keys, directories ending in '/'. */
    int (*iter)(void *impl, const char *dir_key, bool recursive, objstore_iter_fn fn, void *ctx, pl_err_t *err);
    void (*close)(void *impl);
} objstore_backend_t;

extern const objstore_backend_t objstore_fs_backend;
extern const objstore_backend_t objstore_s3_backend;
void *objstore_fs_open(const objstore_config_t *cfg, pl_err_t *err);
void *objstore_s3_open(const objstore_config_t *cfg, pl_err_t *err);

/* S3 XML answers (s3xml.c), exposed for the tests and the fuzz harness. */
typedef struct s3_list_result {
    char **keys;       /* Contents/Key */
    int64_t *sizes;    /* Contents/Size */
    size_t nkeys;
    char **prefixes;   /* CommonPrefixes/Prefix */
    size_t nprefixes;
    bool truncated;    /* IsTruncated */
    char *next_token;  /* NextContinuationToken, or NULL */
} s3_list_result_t;

int s3_parse_list(const char *xml, size_t len, s3_list_result_t *out, pl_err_t *err);
void s3_list_result_free(s3_list_result_t *r);
/* The text of the first <tag>…</tag> element, entities decoded; NULL if absent. Caller frees. */
char *s3_xml_text(const char *xml, size_t len, const char *tag);

#endif
