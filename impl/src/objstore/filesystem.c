/* filesystem.c — the FILESYSTEM bucket: objects are files under a root
 * directory, as Thanos's filesystem provider lays them out (so real Thanos
 * tools and promtool read the same directory). An upload is written to a
 * hidden temporary file beside its target and renamed into place, so a
 * reader never sees half an object; the iterator skips those temporaries
 * and, like Thanos, empty directories. Deleting removes the directories the
 * delete left empty. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "objstore/internal.h"

#define TMP_PREFIX ".promlab-upload-"

typedef struct fsb {
    char *root;
} fsb_t;

void *objstore_fs_open(const objstore_config_t *cfg, pl_err_t *err) {
    fsb_t *f = calloc(1, sizeof *f);
    if (!f || !(f->root = strdup(cfg->directory))) {
        free(f);
        pl_err_set(err, "out of memory");
        return NULL;
    }
    size_t n = strlen(f->root);
    while (n > 1 && f->root[n - 1] == '/') f->root[--n] = '\0';
    return f;
}

static void fs_close(void *impl) {
    fsb_t *f = impl;
    free(f->root);
    free(f);
}

static char *path_of(fsb_t *f, const char *key) {
    strbuf_t sb = STRBUF_INIT;
    strbuf_printf(&sb, "%s/%s", f->root, key);
    return strbuf_detach(&sb);
}

static int mkdir_parents(char *path) {
    for (char *p = path + 1; *p; p++) {
        if (*p != '/') continue;
        *p = '\0';
        int rc = mkdir(path, 0755);
        *p = '/';
        if (rc < 0 && errno != EEXIST) return -1;
    }
    return 0;
}

/* Writes data (or the file at src) to key through a temporary and a rename. */
static int fs_write(fsb_t *f, const char *key, const char *src, const void *data, size_t len, pl_err_t *err) {
    char *dst = path_of(f, key);
    int rc = -1, in = -1, out = -1;
    strbuf_t tmp = STRBUF_INIT;
    if (mkdir_parents(dst) < 0) {
        pl_err_set(err, "upload %s: create directories: %s", key, strerror(errno));
        goto done;
    }
    const char *slash = strrchr(dst, '/');
    strbuf_printf(&tmp, "%.*s" TMP_PREFIX "%s.%d", (int)(slash + 1 - dst), dst, slash + 1, (int)getpid());
    if (src && (in = open(src, O_RDONLY | O_CLOEXEC)) < 0) {
        pl_err_set(err, "upload %s: open %s: %s", key, src, strerror(errno));
        goto done;
    }
    if ((out = open(tmp.data, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644)) < 0) {
        pl_err_set(err, "upload %s: create: %s", key, strerror(errno));
        goto done;
    }
    char buf[1 << 16];
    size_t off = 0;
    for (;;) {
        const char *p;
        ssize_t n;
        if (src) {
            n = read(in, buf, sizeof buf);
            if (n < 0 && errno == EINTR) continue;
            if (n < 0) {
                pl_err_set(err, "upload %s: read %s: %s", key, src, strerror(errno));
                goto done;
            }
            p = buf;
        } else {
            n = (ssize_t)(len - off < sizeof buf ? len - off : sizeof buf);
            p = (const char *)data + off;
            off += (size_t)n;
        }
        if (n == 0) break;
        for (ssize_t w = 0; w < n;) {
            ssize_t k = write(out, p + w, (size_t)(n - w));
            if (k < 0 && errno == EINTR) continue;
            if (k < 0) {
                pl_err_set(err, "upload %s: write: %s", key, strerror(errno));
                goto done;
            }
            w += k;
        }
    }
    if (fsync(out) < 0) {
        pl_err_set(err, "upload %s: fsync: %s", key, strerror(errno));
        goto done;
    }
    if (close(out) < 0) {
        out = -1;
        pl_err_set(err, "upload %s: close: %s", key, strerror(errno));
        goto done;
    }
    out = -1;
    if (rename(tmp.data, dst) < 0) {
        pl_err_set(err, "upload %s: rename: %s", key, strerror(errno));
        goto done;
    }
    rc = 0;
done:
    if (in >= 0) close(in);
    if (out >= 0) close(out);
    if (rc != 0 && tmp.data) unlink(tmp.data);
    strbuf_free(&tmp);
    free(dst);
    return rc;
}

static int fs_upload_file(void *impl, const char *key, const char *path, pl_err_t *err) {
    return fs_write(impl, key, path, NULL, 0, err);
}

static int fs_upload_buf(void *impl, const char *key, const void *data, size_t len, pl_err_t *err) {
    return fs_write(impl, key, NULL, data, len, err);
}

static int fs_get(void *impl, const char *key, int64_t off, int64_t len, strbuf_t *out, FILE *to, pl_err_t *err) {
    char *p = path_of(impl, key);
    int fd = open(p, O_RDONLY | O_CLOEXEC);
    free(p);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) < 0 || S_ISDIR(st.st_mode)) {
        int e = errno;
        if (fd >= 0) close(fd);
        if (fd < 0 && e != ENOENT && e != ENOTDIR) return pl_err_set(err, "get %s: %s", key, strerror(e));
        return OBJ_NOT_FOUND;
    }
    int rc = 0;
    int64_t end = len < 0 || off + len > st.st_size ? st.st_size : off + len;
    char buf[1 << 16];
    for (int64_t pos = off; pos < end;) {
        size_t want = (size_t)(end - pos < (int64_t)sizeof buf ? end - pos : (int64_t)sizeof buf);
        ssize_t n = pread(fd, buf, want, pos);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
            rc = pl_err_set(err, "get %s: read: %s", key, n < 0 ? strerror(errno) : "unexpected end of file");
            break;
        }
        if (to) {
            if (fwrite(buf, 1, (size_t)n, to) != (size_t)n) {
                rc = pl_err_set(err, "get %s: write: %s", key, strerror(errno));
                break;
            }
        } else {
            strbuf_append(out, buf, (size_t)n);
        }
        pos += n;
    }
    close(fd);
    return rc;
}

static int fs_attributes(void *impl, const char *key, objstore_attrs_t *a, pl_err_t *err) {
    char *p = path_of(impl, key);
    struct stat st;
    int rc = stat(p, &st);
    free(p);
    if (rc < 0) {
        if (errno == ENOENT || errno == ENOTDIR) return OBJ_NOT_FOUND;
        return pl_err_set(err, "stat %s: %s", key, strerror(errno));
    }
    if (S_ISDIR(st.st_mode)) return OBJ_NOT_FOUND;
    a->size = st.st_size;
    a->last_modified_ms = (int64_t)st.st_mtim.tv_sec * 1000 + st.st_mtim.tv_nsec / 1000000;
    return 0;
}

static int fs_del(void *impl, const char *key, pl_err_t *err) {
    fsb_t *f = impl;
    char *p = path_of(f, key);
    struct stat st;
    if (stat(p, &st) < 0 || S_ISDIR(st.st_mode)) {
        free(p);
        return OBJ_NOT_FOUND;
    }
    if (unlink(p) < 0) {
        int e = errno;
        free(p);
        return pl_err_set(err, "delete %s: %s", key, strerror(e));
    }
    /* Remove the parents the delete left empty, up to (not including) the root. */
    size_t rootlen = strlen(f->root);
    for (char *s = strrchr(p, '/'); s && (size_t)(s - p) > rootlen; s = strrchr(p, '/')) {
        *s = '\0';
        if (rmdir(p) < 0) break;
    }
    free(p);
    return 0;
}

static int name_cmp(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static bool dir_empty(const char *path) {
    DIR *d = opendir(path);
    if (!d) return true;
    struct dirent *e;
    bool empty = true;
    while ((e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..") || !strncmp(e->d_name, TMP_PREFIX, strlen(TMP_PREFIX)))
            continue;
        empty = false;
        break;
    }
    closedir(d);
    return empty;
}

/* Lists dir_key's entries sorted (directories with '/'); recursive descends. */
static int fs_walk(fsb_t *f, const char *dir_key, bool recursive, objstore_iter_fn fn, void *ctx, pl_err_t *err) {
    char *dpath = path_of(f, dir_key);
    DIR *d = opendir(dpath);
    if (!d) {
        int e = errno;
        free(dpath);
        if (e == ENOENT || e == ENOTDIR) return 0; /* nothing under it: an empty listing, as in Thanos */
        return pl_err_set(err, "iter %s: %s", dir_key, strerror(e));
    }
    char **names = NULL;
    size_t n = 0, cap = 0;
    struct dirent *e;
    int rc = 0;
    while ((e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..") || !strncmp(e->d_name, TMP_PREFIX, strlen(TMP_PREFIX)))
            continue;
        strbuf_t full = STRBUF_INIT;
        strbuf_printf(&full, "%s/%s", dpath, e->d_name);
        struct stat st;
        if (stat(full.data, &st) < 0) {
            strbuf_free(&full);
            continue; /* vanished meanwhile */
        }
        bool isdir = S_ISDIR(st.st_mode);
        if (isdir && dir_empty(full.data)) {
            strbuf_free(&full);
            continue;
        }
        strbuf_free(&full);
        strbuf_t nm = STRBUF_INIT;
        strbuf_printf(&nm, "%s%s%s", dir_key, e->d_name, isdir ? "/" : "");
        if (n == cap) {
            cap = cap ? 2 * cap : 16;
            char **nv = realloc(names, cap * sizeof *names);
            if (!nv) abort();
            names = nv;
        }
        names[n++] = strbuf_detach(&nm);
    }
    closedir(d);
    free(dpath);
    if (n) qsort(names, n, sizeof *names, name_cmp);
    for (size_t i = 0; i < n && rc == 0; i++) {
        size_t l = strlen(names[i]);
        if (recursive && names[i][l - 1] == '/') rc = fs_walk(f, names[i], true, fn, ctx, err);
        else rc = fn(ctx, names[i]);
    }
    for (size_t i = 0; i < n; i++) free(names[i]);
    free(names);
    return rc;
}

static int fs_iter(void *impl, const char *dir_key, bool recursive, objstore_iter_fn fn, void *ctx, pl_err_t *err) {
    return fs_walk(impl, dir_key, recursive, fn, ctx, err);
}

const objstore_backend_t objstore_fs_backend = {
    .upload_file = fs_upload_file,
    .upload_buf = fs_upload_buf,
    .get = fs_get,
    .attributes = fs_attributes,
    .del = fs_del,
    .iter = fs_iter,
    .close = fs_close,
};
