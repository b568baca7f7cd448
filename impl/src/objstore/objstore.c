/* objstore.c — the bucket front: applies the prefix, times and counts every
 * operation under Thanos's metric names, and hands the call to a backend.
 * A "not found" answer is an expected outcome, not a failure, as in Thanos
 * (isOpFailureExpected), so it is counted as an operation only. */
#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "objstore/internal.h"
#include "util/json.h"
#include "util/timeutil.h"

enum op { OP_GET, OP_GET_RANGE, OP_EXISTS, OP_UPLOAD, OP_DELETE, OP_ITER, OP_ATTRIBUTES, N_OPS };
static const char *op_names[N_OPS] = {"get", "get_range", "exists", "upload", "delete", "iter", "attributes"};
static const double dur_buckets[] = {0.01, 0.1, 0.3, 0.6, 1, 3, 6, 9, 20, 30, 60, 90, 120};
#define N_DUR (sizeof dur_buckets / sizeof dur_buckets[0])

struct objstore {
    const objstore_backend_t *be;
    void *impl;
    char *name;
    char *prefix; /* "" or "p/" */
    bool not_found;
    _Atomic uint64_t ops[N_OPS], failures[N_OPS];
    _Atomic uint64_t dur_count[N_OPS][N_DUR]; /* non-cumulative; summed on render */
    _Atomic uint64_t dur_sum_us[N_OPS];
    _Atomic int64_t last_upload_ms;
};

objstore_t *objstore_open(const objstore_config_t *cfg, pl_err_t *err) {
    objstore_t *b = calloc(1, sizeof *b);
    if (!b) return pl_err_set(err, "out of memory"), NULL;
    strbuf_t nm = STRBUF_INIT;
    if (cfg->type == OBJSTORE_FILESYSTEM) {
        b->be = &objstore_fs_backend;
        b->impl = objstore_fs_open(cfg, err);
        strbuf_printf(&nm, "fs: %s", cfg->directory);
    } else if (cfg->type == OBJSTORE_S3) {
        b->be = &objstore_s3_backend;
        b->impl = objstore_s3_open(cfg, err);
        strbuf_puts(&nm, cfg->s3.bucket);
    } else {
        pl_err_set(err, "objstore: no bucket type configured");
    }
    b->name = strbuf_detach(&nm);
    strbuf_t pf = STRBUF_INIT;
    if (cfg->prefix && *cfg->prefix) strbuf_printf(&pf, "%s/", cfg->prefix);
    strbuf_putc(&pf, '\0');
    b->prefix = strbuf_detach(&pf);
    if (!b->impl) {
        free(b->name);
        free(b->prefix);
        free(b);
        return NULL;
    }
    return b;
}

void objstore_close(objstore_t *b) {
    if (!b) return;
    b->be->close(b->impl);
    free(b->name);
    free(b->prefix);
    free(b);
}

const char *objstore_name(const objstore_t *b) { return b->name; }
bool objstore_is_not_found(const objstore_t *b) { return b->not_found; }

static int check_name(const char *name, bool allow_empty, pl_err_t *err) {
    if (!name || (!allow_empty && !*name)) return pl_err_set(err, "objstore: empty object name");
    if (name[0] == '/') return pl_err_set(err, "objstore: object name \"%s\" must not start with '/'", name);
    for (const char *p = name; *p; p++) {
        if ((p == name || p[-1] == '/') && p[0] == '.' && p[1] == '.' && (p[2] == '/' || !p[2]))
            return pl_err_set(err, "objstore: object name \"%s\" must not contain \"..\"", name);
    }
    return 0;
}

static char *full_key(objstore_t *b, const char *name) {
    size_t np = strlen(b->prefix), nn = strlen(name);
    char *k = malloc(np + nn + 1);
    if (!k) abort();
    memcpy(k, b->prefix, np);
    memcpy(k + np, name, nn + 1);
    return k;
}

static int64_t begin(void) { return pl_monotonic_ns(); }

static int finish(objstore_t *b, enum op op, int64_t t0, int rc) {
    double secs = (double)(pl_monotonic_ns() - t0) / 1e9;
    atomic_fetch_add(&b->ops[op], 1);
    b->not_found = rc == OBJ_NOT_FOUND;
    if (rc == -1) atomic_fetch_add(&b->failures[op], 1);
    size_t i = 0;
    while (i < N_DUR && secs > dur_buckets[i]) i++;
    if (i < N_DUR) atomic_fetch_add(&b->dur_count[op][i], 1);
    atomic_fetch_add(&b->dur_sum_us[op], (uint64_t)(secs * 1e6));
    if (op == OP_UPLOAD && rc == 0) atomic_store(&b->last_upload_ms, pl_now_ms());
    return rc == 0 ? 0 : -1;
}

int objstore_upload_file(objstore_t *b, const char *name, const char *path, pl_err_t *err) {
    if (check_name(name, false, err) < 0) return -1;
    char *k = full_key(b, name);
    int64_t t0 = begin();
    int rc = b->be->upload_file(b->impl, k, path, err);
    free(k);
    return finish(b, OP_UPLOAD, t0, rc);
}

int objstore_upload_buf(objstore_t *b, const char *name, const void *data, size_t len, pl_err_t *err) {
    if (check_name(name, false, err) < 0) return -1;
    char *k = full_key(b, name);
    int64_t t0 = begin();
    int rc = b->be->upload_buf(b->impl, k, data, len, err);
    free(k);
    return finish(b, OP_UPLOAD, t0, rc);
}

int objstore_get(objstore_t *b, const char *name, int64_t off, int64_t len, strbuf_t *out, pl_err_t *err) {
    if (check_name(name, false, err) < 0) return -1;
    if (off < 0) return pl_err_set(err, "objstore: negative offset");
    char *k = full_key(b, name);
    int64_t t0 = begin();
    int rc = b->be->get(b->impl, k, off, len, out, NULL, err);
    free(k);
    return finish(b, off > 0 || len >= 0 ? OP_GET_RANGE : OP_GET, t0, rc);
}

int objstore_get_to_file(objstore_t *b, const char *name, const char *path, pl_err_t *err) {
    if (check_name(name, false, err) < 0) return -1;
    FILE *f = fopen(path, "wb");
    if (!f) return pl_err_set(err, "objstore: create %s: %s", path, strerror(errno));
    char *k = full_key(b, name);
    int64_t t0 = begin();
    int rc = b->be->get(b->impl, k, 0, -1, NULL, f, err);
    free(k);
    if (fclose(f) != 0 && rc == 0) rc = pl_err_set(err, "objstore: write %s: %s", path, strerror(errno));
    if (rc != 0) remove(path);
    return finish(b, OP_GET, t0, rc);
}

int objstore_attributes(objstore_t *b, const char *name, objstore_attrs_t *attrs, pl_err_t *err) {
    if (check_name(name, false, err) < 0) return -1;
    char *k = full_key(b, name);
    int64_t t0 = begin();
    int rc = b->be->attributes(b->impl, k, attrs, err);
    if (rc == OBJ_NOT_FOUND) pl_err_set(err, "objstore: %s: object not found", name);
    free(k);
    return finish(b, OP_ATTRIBUTES, t0, rc);
}

int objstore_exists(objstore_t *b, const char *name, bool *exists, pl_err_t *err) {
    if (check_name(name, false, err) < 0) return -1;
    char *k = full_key(b, name);
    objstore_attrs_t a;
    int64_t t0 = begin();
    int rc = b->be->attributes(b->impl, k, &a, err);
    free(k);
    *exists = rc == 0;
    if (rc == OBJ_NOT_FOUND) rc = 0;
    return finish(b, OP_EXISTS, t0, rc);
}

int objstore_delete(objstore_t *b, const char *name, pl_err_t *err) {
    if (check_name(name, false, err) < 0) return -1;
    char *k = full_key(b, name);
    int64_t t0 = begin();
    int rc = b->be->del(b->impl, k, err);
    if (rc == OBJ_NOT_FOUND) pl_err_set(err, "objstore: %s: object not found", name);
    free(k);
    return finish(b, OP_DELETE, t0, rc);
}

typedef struct strip_ctx {
    size_t skip;
    objstore_iter_fn fn;
    void *ctx;
} strip_ctx_t;

static int strip_prefix(void *ctx, const char *key) {
    strip_ctx_t *s = ctx;
    return s->fn(s->ctx, key + s->skip);
}

int objstore_iter(objstore_t *b, const char *dir, bool recursive, objstore_iter_fn fn, void *ctx, pl_err_t *err) {
    if (check_name(dir, true, err) < 0) return -1;
    strbuf_t d = STRBUF_INIT;
    strbuf_puts(&d, b->prefix);
    strbuf_puts(&d, dir);
    if (*dir && dir[strlen(dir) - 1] != '/') strbuf_putc(&d, '/');
    strbuf_putc(&d, '\0');
    strip_ctx_t s = {strlen(b->prefix), fn, ctx};
    int64_t t0 = begin();
    int rc = b->be->iter(b->impl, d.data, recursive, strip_prefix, &s, err);
    strbuf_free(&d);
    if (rc > 0) { /* stopped by fn */
        finish(b, OP_ITER, t0, 0);
        return rc;
    }
    return finish(b, OP_ITER, t0, rc);
}

static int op_index(const char *op) {
    for (int i = 0; i < N_OPS; i++)
        if (!strcmp(op, op_names[i])) return i;
    return -1;
}

uint64_t objstore_op_count(objstore_t *b, const char *op) {
    int i = op_index(op);
    return i < 0 ? 0 : atomic_load(&b->ops[i]);
}

uint64_t objstore_op_failures(objstore_t *b, const char *op) {
    int i = op_index(op);
    return i < 0 ? 0 : atomic_load(&b->failures[i]);
}

static void label_value(strbuf_t *sb, const char *v) {
    for (const char *p = v; *p; p++) {
        if (*p == '\\' || *p == '"') strbuf_putc(sb, '\\');
        if (*p == '\n') {
            strbuf_puts(sb, "\\n");
            continue;
        }
        strbuf_putc(sb, *p);
    }
}

void objstore_write_metrics(objstore_t *b, strbuf_t *sb) {
    strbuf_puts(sb, "# HELP thanos_objstore_bucket_operations_total Total number of all attempted operations against a bucket.\n"
                    "# TYPE thanos_objstore_bucket_operations_total counter\n");
    for (int i = 0; i < N_OPS; i++) {
        strbuf_puts(sb, "thanos_objstore_bucket_operations_total{bucket=\"");
        label_value(sb, b->name);
        strbuf_printf(sb, "\",operation=\"%s\"} %llu\n", op_names[i], (unsigned long long)atomic_load(&b->ops[i]));
    }
    strbuf_puts(sb, "# HELP thanos_objstore_bucket_operation_failures_total Total number of operations against a bucket that failed, but were not expected to fail in certain way from caller perspective. Those errors have to be investigated.\n"
                    "# TYPE thanos_objstore_bucket_operation_failures_total counter\n");
    for (int i = 0; i < N_OPS; i++) {
        strbuf_puts(sb, "thanos_objstore_bucket_operation_failures_total{bucket=\"");
        label_value(sb, b->name);
        strbuf_printf(sb, "\",operation=\"%s\"} %llu\n", op_names[i], (unsigned long long)atomic_load(&b->failures[i]));
    }
    strbuf_puts(sb, "# HELP thanos_objstore_bucket_operation_duration_seconds Duration of operations against the bucket per operation - iter operations include time spent on each callback.\n"
                    "# TYPE thanos_objstore_bucket_operation_duration_seconds histogram\n");
    for (int i = 0; i < N_OPS; i++) {
        uint64_t cum = 0;
        for (size_t j = 0; j <= N_DUR; j++) {
            if (j < N_DUR) cum += atomic_load(&b->dur_count[i][j]);
            strbuf_puts(sb, "thanos_objstore_bucket_operation_duration_seconds_bucket{bucket=\"");
            label_value(sb, b->name);
            if (j < N_DUR) {
                char le[400];
                pl_format_float(le, dur_buckets[j]);
                strbuf_printf(sb, "\",operation=\"%s\",le=\"%s\"} %llu\n", op_names[i], le, (unsigned long long)cum);
            } else {
                strbuf_printf(sb, "\",operation=\"%s\",le=\"+Inf\"} %llu\n", op_names[i],
                              (unsigned long long)atomic_load(&b->ops[i]));
            }
        }
        strbuf_puts(sb, "thanos_objstore_bucket_operation_duration_seconds_sum{bucket=\"");
        label_value(sb, b->name);
        strbuf_printf(sb, "\",operation=\"%s\"} %.6f\n", op_names[i], (double)atomic_load(&b->dur_sum_us[i]) / 1e6);
        strbuf_puts(sb, "thanos_objstore_bucket_operation_duration_seconds_count{bucket=\"");
        label_value(sb, b->name);
        strbuf_printf(sb, "\",operation=\"%s\"} %llu\n", op_names[i], (unsigned long long)atomic_load(&b->ops[i]));
    }
    strbuf_puts(sb, "# HELP thanos_objstore_bucket_last_successful_upload_time Second timestamp of the last successful upload to the bucket.\n"
                    "# TYPE thanos_objstore_bucket_last_successful_upload_time gauge\n"
                    "thanos_objstore_bucket_last_successful_upload_time{bucket=\"");
    label_value(sb, b->name);
    strbuf_printf(sb, "\"} %lld\n", (long long)(atomic_load(&b->last_upload_ms) / 1000));
}
