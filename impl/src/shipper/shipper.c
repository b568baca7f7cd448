/* shipper.c — see shipper.h. */
#include "shipper/shipper.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tsdb/block.h"
#include "tsdb/chunks.h"
#include "tsdb/meta.h"
#include "util/json.h"
#include "util/log.h"
#include "util/timeutil.h"

typedef char ulid_str_t[ULID_LEN + 1];

struct shipper {
    char *tsdb_path, *meta_file, *source;
    objstore_t *bucket;
    bool upload_compacted;
    label_t *labels; /* owned strings, sorted */
    size_t nlabels;
    ulid_str_t *pending; /* eligible blocks seen last pass and not uploaded */
    size_t npending;
    _Atomic uint64_t uploads, upload_failures, dir_syncs, dir_sync_failures, lost;
};

static char *xstrdup(const char *s) {
    char *d = strdup(s);
    if (!d) abort();
    return d;
}

shipper_t *shipper_new(const shipper_opts_t *o, pl_err_t *err) {
    if (!o->tsdb_path || !o->bucket) return pl_err_set(err, "shipper: tsdb path and bucket are required"), NULL;
    shipper_t *s = calloc(1, sizeof *s);
    if (!s) return pl_err_set(err, "out of memory"), NULL;
    s->tsdb_path = xstrdup(o->tsdb_path);
    strbuf_t mf = STRBUF_INIT;
    strbuf_printf(&mf, "%s/%s", o->tsdb_path, o->meta_file && *o->meta_file ? o->meta_file : SHIPPER_META_FILE);
    s->meta_file = strbuf_detach(&mf);
    s->source = xstrdup(o->source && *o->source ? o->source : "sidecar");
    s->bucket = o->bucket;
    s->upload_compacted = o->upload_compacted;
    return s;
}

static void free_labels(shipper_t *s) {
    for (size_t i = 0; i < s->nlabels; i++) {
        free((char *)s->labels[i].name);
        free((char *)s->labels[i].value);
    }
    free(s->labels);
    s->labels = NULL;
    s->nlabels = 0;
}

void shipper_free(shipper_t *s) {
    if (!s) return;
    free_labels(s);
    free(s->pending);
    free(s->tsdb_path);
    free(s->meta_file);
    free(s->source);
    free(s);
}

int shipper_set_labels(shipper_t *s, const label_t *ls, size_t n, pl_err_t *err) {
    label_t *v = n ? calloc(n, sizeof *v) : NULL;
    if (n && !v) return pl_err_set(err, "out of memory");
    for (size_t i = 0; i < n; i++) v[i] = (label_t){xstrdup(ls[i].name), xstrdup(ls[i].value)};
    labels_sort(v, n);
    free_labels(s);
    s->labels = v;
    s->nlabels = n;
    return 0;
}

/* ---- thanos.shipper.json ---------------------------------------------------- */

int shipper_read_meta_file(const char *path, char (**ulids)[27], size_t *n, pl_err_t *err) {
    *ulids = NULL;
    *n = 0;
    json_error_t je;
    FILE *f = fopen(path, "rb");
    if (!f) {
        if (errno == ENOENT) return 0;
        return pl_err_set(err, "open %s: %s", path, strerror(errno));
    }
    json_t *root = json_loadf(f, 0, &je);
    fclose(f);
    if (!root) return pl_err_set(err, "%s: %s at line %d", path, je.text, je.line);
    int rc = -1;
    json_t *ver = json_object_get(root, "version"), *up = json_object_get(root, "uploaded");
    if (!json_is_integer(ver) || json_integer_value(ver) != 1) {
        pl_err_set(err, "%s: unexpected meta file version", path);
        goto out;
    }
    if (!json_is_null(up) && up && !json_is_array(up)) {
        pl_err_set(err, "%s: \"uploaded\" is not a list", path);
        goto out;
    }
    size_t cnt = json_array_size(up);
    if (cnt) {
        *ulids = calloc(cnt, sizeof **ulids);
        if (!*ulids) {
            pl_err_set(err, "out of memory");
            goto out;
        }
    }
    for (size_t i = 0; i < cnt; i++) {
        const char *u = json_string_value(json_array_get(up, i));
        if (!u || !block_ulid_valid(u)) {
            pl_err_set(err, "%s: uploaded[%zu] is not a ULID", path, i);
            free(*ulids);
            *ulids = NULL;
            goto out;
        }
        snprintf((*ulids)[(*n)++], 27, "%s", u);
    }
    rc = 0;
out:
    json_decref(root);
    return rc;
}

/* As Thanos writes it: json.MarshalIndent(meta, "", "\t"). */
static int write_meta_file(shipper_t *s, ulid_str_t *u, size_t n, pl_err_t *err) {
    strbuf_t sb = STRBUF_INIT;
    strbuf_puts(&sb, "{\n\t\"version\": 1,\n\t\"uploaded\": ");
    if (!n) strbuf_puts(&sb, "[]");
    else {
        strbuf_putc(&sb, '[');
        for (size_t i = 0; i < n; i++) strbuf_printf(&sb, "%s\n\t\t\"%s\"", i ? "," : "", u[i]);
        strbuf_puts(&sb, "\n\t]");
    }
    strbuf_puts(&sb, "\n}");
    int rc = tsdb_write_file_atomic(s->meta_file, sb.data, sb.len, err);
    strbuf_free(&sb);
    return rc;
}

/* ---- local blocks ------------------------------------------------------------ */

typedef struct local_block {
    block_meta_t meta;
} local_block_t;

static int block_cmp(const void *a, const void *b) {
    const block_meta_t *x = &((const local_block_t *)a)->meta, *y = &((const local_block_t *)b)->meta;
    if (x->min_time != y->min_time) return x->min_time < y->min_time ? -1 : 1;
    return strcmp(x->ulid, y->ulid);
}

static int list_blocks(shipper_t *s, local_block_t **out, size_t *nout, pl_err_t *err) {
    *out = NULL;
    *nout = 0;
    DIR *d = opendir(s->tsdb_path);
    if (!d) return pl_err_set(err, "read dir %s: %s", s->tsdb_path, strerror(errno));
    local_block_t *v = NULL;
    size_t n = 0, cap = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (!block_ulid_valid(e->d_name)) continue; /* also skips <ULID>.tmp-for-creation */
        strbuf_t p = STRBUF_INIT;
        strbuf_printf(&p, "%s/%s", s->tsdb_path, e->d_name);
        struct stat st;
        if (stat(p.data, &st) < 0 || !S_ISDIR(st.st_mode)) {
            strbuf_free(&p);
            continue;
        }
        block_meta_t m;
        pl_err_t merr = {{0}};
        if (block_meta_read(p.data, &m, &merr) < 0) {
            /* Prometheus publishes blocks by renaming a finished directory, so a
             * block without a readable meta.json is broken or being deleted. */
            log_warn("shipper", "Skipping block with unreadable meta.json", "block=%s err=\"%s\"", e->d_name, merr.msg);
            strbuf_free(&p);
            continue;
        }
        strbuf_free(&p);
        if (strcmp(m.ulid, e->d_name) != 0) {
            log_warn("shipper", "Skipping block whose meta.json names another ULID", "block=%s meta_ulid=%s", e->d_name,
                     m.ulid);
            block_meta_free(&m);
            continue;
        }
        if (n == cap) {
            cap = cap ? 2 * cap : 16;
            local_block_t *nv = realloc(v, cap * sizeof *v);
            if (!nv) abort();
            v = nv;
        }
        v[n++].meta = m;
    }
    closedir(d);
    if (n) qsort(v, n, sizeof *v, block_cmp);
    *out = v;
    *nout = n;
    return 0;
}

static void free_blocks(local_block_t *v, size_t n) {
    for (size_t i = 0; i < n; i++) block_meta_free(&v[i].meta);
    free(v);
}

/* ---- one block's upload ------------------------------------------------------ */

static int remove_all(const char *path) {
    struct stat st;
    if (lstat(path, &st) < 0) return errno == ENOENT ? 0 : -1;
    if (S_ISDIR(st.st_mode)) {
        DIR *d = opendir(path);
        if (!d) return -1;
        struct dirent *e;
        while ((e = readdir(d))) {
            if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
            strbuf_t p = STRBUF_INIT;
            strbuf_printf(&p, "%s/%s", path, e->d_name);
            remove_all(p.data);
            strbuf_free(&p);
        }
        closedir(d);
        return rmdir(path);
    }
    return unlink(path);
}

static int mkdir_p(const char *path) {
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s", path);
    for (char *p = tmp + 1; *p; p++) {
        if (*p != '/') continue;
        *p = '\0';
        if (mkdir(tmp, 0755) < 0 && errno != EEXIST) return -1;
        *p = '/';
    }
    return mkdir(tmp, 0755) < 0 && errno != EEXIST ? -1 : 0;
}

/* Hard-links src to dst; copies when linking is not possible (another file system). */
static int link_or_copy(const char *src, const char *dst, pl_err_t *err) {
    if (link(src, dst) == 0) return 0;
    if (errno != EXDEV && errno != EPERM && errno != EMLINK)
        return pl_err_set(err, "hard link %s: %s", src, strerror(errno));
    int in = open(src, O_RDONLY | O_CLOEXEC), out = -1, rc = -1;
    if (in < 0) return pl_err_set(err, "open %s: %s", src, strerror(errno));
    if ((out = open(dst, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644)) < 0) {
        pl_err_set(err, "create %s: %s", dst, strerror(errno));
        goto done;
    }
    char buf[1 << 16];
    ssize_t k;
    while ((k = read(in, buf, sizeof buf)) > 0)
        if (write(out, buf, (size_t)k) != k) {
            pl_err_set(err, "write %s: %s", dst, strerror(errno));
            goto done;
        }
    if (k < 0) {
        pl_err_set(err, "read %s: %s", src, strerror(errno));
        goto done;
    }
    rc = 0;
done:
    close(in);
    if (out >= 0) close(out);
    return rc;
}

static int name_cmp(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* The chunk segment names of dir/chunks, sorted. */
static int list_segments(const char *chunks_dir, char ***out, size_t *nout, pl_err_t *err) {
    *out = NULL;
    *nout = 0;
    DIR *d = opendir(chunks_dir);
    if (!d) return pl_err_set(err, "read dir %s: %s", chunks_dir, strerror(errno));
    char **v = NULL;
    size_t n = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        char **nv = realloc(v, (n + 1) * sizeof *v);
        if (!nv) abort();
        v = nv;
        v[n++] = xstrdup(e->d_name);
    }
    closedir(d);
    if (n) qsort(v, n, sizeof *v, name_cmp);
    *out = v;
    *nout = n;
    return 0;
}

static int64_t file_size(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 ? (int64_t)st.st_size : -1;
}

/* The "thanos" section, keys in Thanos's struct order (Go marshals fields in
 * declaration order and map keys sorted). */
static json_t *thanos_section(shipper_t *s, const char *updir, char **segs, size_t nsegs, pl_err_t *err) {
    json_t *t = json_object(), *lbl = json_object(), *ds = json_object(), *sf = json_array(), *files = json_array();
    json_object_set_new(t, "version", json_integer(1));
    for (size_t i = 0; i < s->nlabels; i++) json_object_set_new(lbl, s->labels[i].name, json_string(s->labels[i].value));
    json_object_set_new(t, "labels", lbl);
    json_object_set_new(ds, "resolution", json_integer(0));
    json_object_set_new(t, "downsample", ds);
    json_object_set_new(t, "source", json_string(s->source));
    for (size_t i = 0; i < nsegs; i++) json_array_append_new(sf, json_string(segs[i]));
    json_object_set_new(t, "segment_files", sf);
    strbuf_t p = STRBUF_INIT;
    for (size_t i = 0; i <= nsegs; i++) {
        strbuf_reset(&p);
        const char *rel = NULL;
        strbuf_t r = STRBUF_INIT;
        if (i < nsegs) strbuf_printf(&r, "chunks/%s", segs[i]);
        else strbuf_puts(&r, "index");
        rel = r.data;
        strbuf_printf(&p, "%s/%s", updir, rel);
        int64_t sz = file_size(p.data);
        if (sz < 0) {
            pl_err_set(err, "stat %s: %s", p.data, strerror(errno));
            strbuf_free(&r);
            strbuf_free(&p);
            json_decref(files);
            json_decref(t);
            return NULL;
        }
        json_t *f = json_object();
        json_object_set_new(f, "rel_path", json_string(rel));
        if (sz > 0) json_object_set_new(f, "size_bytes", json_integer(sz)); /* omitempty */
        json_array_append_new(files, f);
        strbuf_free(&r);
    }
    strbuf_free(&p);
    json_t *mf = json_object();
    json_object_set_new(mf, "rel_path", json_string("meta.json"));
    json_array_append_new(files, mf);
    json_object_set_new(t, "files", files);
    return t;
}

static int upload_block(shipper_t *s, const block_meta_t *local, pl_err_t *err) {
    strbuf_t src = STRBUF_INIT, updir = STRBUF_INIT, a = STRBUF_INIT, b = STRBUF_INIT, name = STRBUF_INIT;
    char **segs = NULL;
    size_t nsegs = 0;
    int rc = -1;
    block_meta_t m = {0};
    strbuf_printf(&src, "%s/%s", s->tsdb_path, local->ulid);
    strbuf_printf(&updir, "%s/thanos/upload/%s", s->tsdb_path, local->ulid);
    if (remove_all(updir.data) < 0) {
        pl_err_set(err, "clean %s: %s", updir.data, strerror(errno));
        goto out;
    }
    strbuf_printf(&a, "%s/chunks", updir.data);
    if (mkdir_p(a.data) < 0) {
        pl_err_set(err, "create %s: %s", a.data, strerror(errno));
        goto out;
    }
    strbuf_reset(&a);
    strbuf_printf(&a, "%s/chunks", src.data);
    if (list_segments(a.data, &segs, &nsegs, err) < 0) goto out;
    for (size_t i = 0; i <= nsegs; i++) {
        strbuf_reset(&a);
        strbuf_reset(&b);
        if (i < nsegs) {
            strbuf_printf(&a, "%s/chunks/%s", src.data, segs[i]);
            strbuf_printf(&b, "%s/chunks/%s", updir.data, segs[i]);
        } else {
            strbuf_printf(&a, "%s/index", src.data);
            strbuf_printf(&b, "%s/index", updir.data);
        }
        if (link_or_copy(a.data, b.data, err) < 0) goto out;
    }
    /* Re-read meta.json from the source: what is uploaded is what is on disk. */
    if (block_meta_read(src.data, &m, err) < 0) goto out;
    if (m.thanos) json_decref((json_t *)m.thanos);
    m.thanos = thanos_section(s, updir.data, segs, nsegs, err);
    if (!m.thanos) goto out;
    {
        strbuf_t js = STRBUF_INIT;
        block_meta_render(&m, &js);
        strbuf_putc(&js, '\n'); /* Thanos writes meta.json with json.Encoder, which ends it with a newline */
        strbuf_reset(&a);
        strbuf_printf(&a, "%s/meta.json", updir.data);
        int wrc = tsdb_write_file_atomic(a.data, js.data, js.len, err);
        strbuf_free(&js);
        if (wrc < 0) goto out;
    }
    /* Upload: chunks first, then index, then meta.json. */
    for (size_t i = 0; i <= nsegs + 1; i++) {
        strbuf_reset(&a);
        strbuf_reset(&name);
        const char *rel = i < nsegs ? NULL : i == nsegs ? "index" : "meta.json";
        if (rel) {
            strbuf_printf(&a, "%s/%s", updir.data, rel);
            strbuf_printf(&name, "%s/%s", local->ulid, rel);
        } else {
            strbuf_printf(&a, "%s/chunks/%s", updir.data, segs[i]);
            strbuf_printf(&name, "%s/chunks/%s", local->ulid, segs[i]);
        }
        if (objstore_upload_file(s->bucket, name.data, a.data, err) < 0) goto out;
    }
    rc = 0;
out:
    remove_all(updir.data);
    block_meta_free(&m);
    for (size_t i = 0; i < nsegs; i++) free(segs[i]);
    free(segs);
    strbuf_free(&src);
    strbuf_free(&updir);
    strbuf_free(&a);
    strbuf_free(&b);
    strbuf_free(&name);
    return rc;
}


/* ---- overlap check for --shipper.upload-compacted ------------------------------ */

/* The blocks of this producer already in the bucket (same external labels,
 * raw resolution), loaded once per pass and only when a compacted block is
 * about to go: shipping a compacted block that overlaps one of them would
 * make the compactor halt, so Thanos refuses, and so do we. */
typedef struct bucket_block {
    ulid_str_t ulid;
    int64_t min_time, max_time;
} bucket_block_t;

typedef struct bucket_scan {
    shipper_t *s;
    bucket_block_t *v;
    size_t n;
    pl_err_t *err;
} bucket_scan_t;

static bool same_labels(const shipper_t *s, json_t *labels) {
    if (!json_is_object(labels) || json_object_size(labels) != s->nlabels) return false;
    for (size_t i = 0; i < s->nlabels; i++) {
        const char *v = json_string_value(json_object_get(labels, s->labels[i].name));
        if (!v || strcmp(v, s->labels[i].value) != 0) return false;
    }
    return true;
}

static int scan_one(void *ctx, const char *name) {
    bucket_scan_t *sc = ctx;
    size_t n = strlen(name);
    if (n != ULID_LEN + 1 || name[ULID_LEN] != '/') return 0;
    char ulid[ULID_LEN + 1];
    memcpy(ulid, name, ULID_LEN);
    ulid[ULID_LEN] = '\0';
    if (!block_ulid_valid(ulid)) return 0;
    strbuf_t key = STRBUF_INIT, body = STRBUF_INIT;
    strbuf_printf(&key, "%s/meta.json", ulid);
    pl_err_t e = {{0}};
    int rc = objstore_get(sc->s->bucket, key.data, 0, -1, &body, &e);
    strbuf_free(&key);
    if (rc < 0) {
        strbuf_free(&body);
        if (objstore_is_not_found(sc->s->bucket)) return 0; /* partial upload: not a block */
        pl_err_set(sc->err, "read %s/meta.json from the bucket: %s", ulid, e.msg);
        return 1;
    }
    block_meta_t m;
    if (block_meta_parse(body.data ? body.data : "", body.len, &m, &e) == 0) {
        json_t *t = m.thanos;
        json_t *res = t ? json_object_get(json_object_get(t, "downsample"), "resolution") : NULL;
        if (t && same_labels(sc->s, json_object_get(t, "labels")) && json_integer_value(res) == 0) {
            bucket_block_t *nv = realloc(sc->v, (sc->n + 1) * sizeof *nv);
            if (!nv) abort();
            sc->v = nv;
            snprintf(sc->v[sc->n].ulid, sizeof sc->v[sc->n].ulid, "%s", ulid);
            sc->v[sc->n].min_time = m.min_time;
            sc->v[sc->n].max_time = m.max_time;
            sc->n++;
        }
        block_meta_free(&m);
    } else {
        log_warn("shipper", "Ignoring a block in the bucket with an unreadable meta.json", "block=%s err=\"%s\"", ulid, e.msg);
    }
    strbuf_free(&body);
    return 0;
}

/* 0: no overlap; -1: overlap found or the bucket could not be read (err says which). */
static int check_overlap(shipper_t *s, bucket_scan_t *sc, bool *loaded, const block_meta_t *m, pl_err_t *err) {
    if (!*loaded) {
        sc->s = s;
        sc->err = err;
        int rc = objstore_iter(s->bucket, "", false, scan_one, sc, err);
        if (rc != 0) return -1;
        *loaded = true;
    }
    for (size_t i = 0; i < sc->n; i++) {
        const bucket_block_t *b = &sc->v[i];
        if (!strcmp(b->ulid, m->ulid)) continue;
        if (b->min_time < m->max_time && m->min_time < b->max_time)
            return pl_err_set(err,
                              "shipping compacted block %s is blocked; overlap spotted: its [%lld, %lld) overlaps "
                              "[%lld, %lld) of block %s in the bucket",
                              m->ulid, (long long)m->min_time, (long long)m->max_time, (long long)b->min_time,
                              (long long)b->max_time, b->ulid);
    }
    return 0;
}

/* ---- the pass ------------------------------------------------------------------ */

static bool has_ulid(ulid_str_t *v, size_t n, const char *u) {
    for (size_t i = 0; i < n; i++)
        if (!strcmp(v[i], u)) return true;
    return false;
}

int shipper_sync(shipper_t *s, int *uploaded_out, pl_err_t *err) {
    atomic_fetch_add(&s->dir_syncs, 1);
    if (uploaded_out) *uploaded_out = 0;
    if (s->nlabels == 0) {
        atomic_fetch_add(&s->dir_sync_failures, 1);
        return pl_err_set(err, "no external labels configured: refusing to upload blocks without labels that identify their producer");
    }
    ulid_str_t *prev = NULL;
    size_t nprev = 0;
    pl_err_t merr = {{0}};
    if (shipper_read_meta_file(s->meta_file, &prev, &nprev, &merr) < 0) {
        /* As Thanos: start over; blocks already complete in the bucket are
         * recognised by their meta.json and not uploaded again. */
        log_warn("shipper", "Reading shipper meta file failed, will check the bucket for each block", "err=\"%s\"", merr.msg);
    }
    local_block_t *blocks;
    size_t nblocks;
    if (list_blocks(s, &blocks, &nblocks, err) < 0) {
        free(prev);
        atomic_fetch_add(&s->dir_sync_failures, 1);
        return -1;
    }
    /* Blocks we were waiting to upload that are gone: local retention won. */
    for (size_t i = 0; i < s->npending; i++) {
        bool present = false;
        for (size_t j = 0; j < nblocks && !present; j++) present = !strcmp(blocks[j].meta.ulid, s->pending[i]);
        if (!present) {
            atomic_fetch_add(&s->lost, 1);
            log_warn("shipper", "Block was deleted locally before it was uploaded; its data is not in the bucket",
                     "block=%s", s->pending[i]);
        }
    }
    free(s->pending);
    s->pending = NULL;
    s->npending = 0;

    ulid_str_t *done = nblocks ? calloc(nblocks, sizeof *done) : NULL;
    ulid_str_t *pend = nblocks ? calloc(nblocks, sizeof *pend) : NULL;
    if (nblocks && (!done || !pend)) abort();
    size_t ndone = 0, npend = 0;
    int uploaded = 0, rc = 0;
    bool stopped = false, scanned = false;
    bucket_scan_t scan = {0};
    for (size_t i = 0; i < nblocks; i++) {
        const block_meta_t *m = &blocks[i].meta;
        if (m->num_samples == 0) {
            log_debug("shipper", "Ignoring empty block", "block=%s", m->ulid);
            continue;
        }
        if (has_ulid(prev, nprev, m->ulid)) {
            snprintf(done[ndone++], sizeof done[0], "%s", m->ulid);
            continue;
        }
        if (m->level > 1 && !s->upload_compacted) {
            log_debug("shipper", "Skipping compacted block (level > 1); use --shipper.upload-compacted to ship it",
                      "block=%s level=%d", m->ulid, m->level);
            continue;
        }
        if (stopped) {
            snprintf(pend[npend++], sizeof pend[0], "%s", m->ulid);
            continue;
        }
        if (m->level > 1) {
            pl_err_t oe = {{0}};
            if (check_overlap(s, &scan, &scanned, m, &oe) < 0) {
                log_error("shipper", "Found overlap or error during sync, cannot upload compacted block", "block=%s err=\"%s\"",
                          m->ulid, oe.msg);
                if (rc == 0) pl_err_set(err, "%s", oe.msg);
                rc = -1;
                stopped = true;
                snprintf(pend[npend++], sizeof pend[0], "%s", m->ulid);
                continue;
            }
        }
        strbuf_t mk = STRBUF_INIT;
        strbuf_printf(&mk, "%s/meta.json", m->ulid);
        bool exists = false;
        pl_err_t e = {{0}};
        int erc = objstore_exists(s->bucket, mk.data, &exists, &e);
        strbuf_free(&mk);
        if (erc == 0 && exists) {
            log_info("shipper", "Block is already complete in the bucket; recording it as uploaded", "block=%s", m->ulid);
            snprintf(done[ndone++], sizeof done[0], "%s", m->ulid);
            if (write_meta_file(s, done, ndone, &e) < 0) log_warn("shipper", "Writing shipper meta file failed", "err=\"%s\"", e.msg);
            continue;
        }
        int64_t t0 = pl_monotonic_ns();
        if (erc < 0 || upload_block(s, m, &e) < 0) {
            atomic_fetch_add(&s->upload_failures, 1);
            log_error("shipper", "Shipping block failed; will retry at the next sync", "block=%s err=\"%s\"", m->ulid, e.msg);
            if (rc == 0) pl_err_set(err, "upload of block %s failed: %s", m->ulid, e.msg);
            rc = -1;
            stopped = true; /* keep minTime order: later blocks wait for this one */
            snprintf(pend[npend++], sizeof pend[0], "%s", m->ulid);
            continue;
        }
        atomic_fetch_add(&s->uploads, 1);
        uploaded++;
        log_info("shipper", "Upload new block", "block=%s mint=%lld maxt=%lld duration_ms=%lld", m->ulid,
                 (long long)m->min_time, (long long)m->max_time, (long long)((pl_monotonic_ns() - t0) / 1000000));
        snprintf(done[ndone++], sizeof done[0], "%s", m->ulid);
        if (write_meta_file(s, done, ndone, &e) < 0) {
            log_warn("shipper", "Writing shipper meta file failed", "err=\"%s\"", e.msg);
        }
    }
    pl_err_t werr = {{0}};
    if (write_meta_file(s, done, ndone, &werr) < 0) {
        log_warn("shipper", "Writing shipper meta file failed", "err=\"%s\"", werr.msg);
        if (rc == 0) pl_err_set(err, "%s", werr.msg);
        rc = -1;
    }
    s->pending = pend;
    s->npending = npend;
    free(scan.v);
    free(done);
    free(prev);
    free_blocks(blocks, nblocks);
    if (rc < 0) atomic_fetch_add(&s->dir_sync_failures, 1);
    if (uploaded_out) *uploaded_out = uploaded;
    return rc;
}

uint64_t shipper_uploads_total(const shipper_t *s) { return atomic_load(&s->uploads); }
uint64_t shipper_upload_failures_total(const shipper_t *s) { return atomic_load(&s->upload_failures); }
uint64_t shipper_dir_syncs_total(const shipper_t *s) { return atomic_load(&s->dir_syncs); }
uint64_t shipper_dir_sync_failures_total(const shipper_t *s) { return atomic_load(&s->dir_sync_failures); }
uint64_t shipper_blocks_lost_total(const shipper_t *s) { return atomic_load(&s->lost); }

void shipper_write_metrics(shipper_t *s, strbuf_t *sb) {
    const struct {
        const char *name, *help;
        uint64_t v;
    } m[] = {
        {"thanos_shipper_dir_syncs_total", "Total number of dir syncs", atomic_load(&s->dir_syncs)},
        {"thanos_shipper_dir_sync_failures_total", "Total number of failed dir syncs", atomic_load(&s->dir_sync_failures)},
        {"thanos_shipper_uploads_total", "Total number of uploaded blocks", atomic_load(&s->uploads)},
        {"thanos_shipper_upload_failures_total", "Total number of block upload failures", atomic_load(&s->upload_failures)},
        {"promlab_shipper_blocks_lost_total", "Blocks deleted locally (by retention) before they were uploaded",
         atomic_load(&s->lost)},
    };
    for (size_t i = 0; i < sizeof m / sizeof m[0]; i++)
        strbuf_printf(sb, "# HELP %s %s.\n# TYPE %s counter\n%s %llu\n", m[i].name, m[i].help, m[i].name, m[i].name,
                      (unsigned long long)m[i].v);
}
