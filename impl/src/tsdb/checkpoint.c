/* checkpoint.c — writing, finding and deleting WAL checkpoints (checkpoint.h). */
#include "tsdb/checkpoint.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tsdb/record.h"

#define CP_PREFIX "checkpoint."

/* Parses "checkpoint.NNNNNNNN" (tmp = with a ".tmp" suffix). Returns the index or -1. */
static int parse_name(const char *name, bool *tmp) {
    if (strncmp(name, CP_PREFIX, sizeof CP_PREFIX - 1) != 0) return -1;
    const char *num = name + sizeof CP_PREFIX - 1;
    char *end;
    errno = 0;
    long k = strtol(num, &end, 10);
    if (end == num || errno || k < 0 || k > INT_MAX) return -1;
    *tmp = strcmp(end, ".tmp") == 0;
    if (*end && !*tmp) return -1;
    return (int)k;
}

static int rm_dir_flat(const char *dir) {
    DIR *d = opendir(dir);
    if (d) {
        struct dirent *e;
        char p[PATH_MAX];
        while ((e = readdir(d)) != NULL) {
            if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
            if ((size_t)snprintf(p, sizeof p, "%s/%s", dir, e->d_name) < sizeof p) unlink(p);
        }
        closedir(d);
    }
    return rmdir(dir);
}

static void fsync_path(const char *path, int flags) {
    int fd = open(path, flags);
    if (fd >= 0) {
        fsync(fd);
        close(fd);
    }
}

int checkpoint_last(const char *wal_dir, char *path, size_t pathsz) {
    DIR *d = opendir(wal_dir);
    if (!d) return -1;
    int best = -1;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        bool tmp;
        int k = parse_name(e->d_name, &tmp);
        if (k > best && !tmp) best = k;
    }
    closedir(d);
    if (best >= 0 && path) snprintf(path, pathsz, "%s/" CP_PREFIX "%08d", wal_dir, best);
    return best;
}

int checkpoint_delete_before(const char *wal_dir, int index, pl_err_t *err) {
    DIR *d = opendir(wal_dir);
    if (!d) return pl_err_set(err, "open %s: %s", wal_dir, strerror(errno));
    int n = 0, rc = 0;
    struct dirent *e;
    char p[PATH_MAX];
    while ((e = readdir(d)) != NULL) {
        bool tmp;
        int k = parse_name(e->d_name, &tmp);
        if (k < 0 || (!tmp && k >= index)) continue;
        if ((size_t)snprintf(p, sizeof p, "%s/%s", wal_dir, e->d_name) >= sizeof p) continue;
        if (rm_dir_flat(p) != 0)
            rc = pl_err_set(err, "delete %s: %s", p, strerror(errno));
        else
            n++;
    }
    closedir(d);
    return rc < 0 ? -1 : n;
}

int wal_delete_segments_before(const char *wal_dir, int index, pl_err_t *err) {
    int first = 0, last = -1;
    int r = wal_segment_range(wal_dir, &first, &last, err);
    if (r <= 0) return r;
    int n = 0;
    char p[PATH_MAX + 16];
    for (int k = first; k < index && k <= last; k++) {
        wal_segment_path(p, sizeof p, wal_dir, k);
        if (unlink(p) == 0)
            n++;
        else if (errno != ENOENT)
            return pl_err_set(err, "delete %s: %s", p, strerror(errno));
    }
    return n;
}

/* ---- writing --------------------------------------------------------------------- */

typedef struct cp {
    checkpoint_keep_fn keep;
    void *ctx;
    int64_t mint;
    wal_t *out;
    strbuf_t buf;
    record_decoder_t dec;
    size_t nseries;
    checkpoint_stats_t st;
} cp_t;

static int keep_series(void *ctx, uint64_t ref, const label_t *ls, size_t n) {
    cp_t *c = ctx;
    if (!c->keep(c->ctx, ref)) {
        c->st.series_dropped++;
        return 0;
    }
    record_series_add(&c->buf, ref, ls, n);
    c->nseries++;
    c->st.series_kept++;
    return 0;
}

/* Filters one record into c->out. */
static int filter_record(cp_t *c, const uint8_t *rec, size_t len, pl_err_t *err) {
    strbuf_reset(&c->buf);
    switch (record_type(rec, len)) {
    case RECORD_SERIES:
        c->nseries = 0;
        record_series_begin(&c->buf);
        if (record_decode_series(&c->dec, rec, len, keep_series, c, err) != 0) return -1;
        if (c->nseries == 0) return 0;
        break;
    case RECORD_SAMPLES: {
        const record_sample_t *s;
        size_t n, k = 0;
        if (record_decode_samples(&c->dec, rec, len, &s, &n, err) != 0) return -1;
        /* s is the decoder's own array: filter it in place. */
        record_sample_t *keep = c->dec.samples;
        for (size_t i = 0; i < n; i++) {
            if (s[i].t >= c->mint)
                keep[k++] = s[i];
            else
                c->st.samples_dropped++;
        }
        c->st.samples_kept += k;
        if (k == 0) return 0;
        record_samples_encode(&c->buf, keep, k);
        break;
    }
    case RECORD_TOMBSTONES: {
        const record_tombstone_t *t;
        size_t n, k = 0;
        if (record_decode_tombstones(&c->dec, rec, len, &t, &n, err) != 0) return -1;
        record_tombstone_t *keep = c->dec.tombstones; /* the decoder's own array, as above */
        for (size_t i = 0; i < n; i++) {
            if (t[i].maxt >= c->mint && c->keep(c->ctx, t[i].ref))
                keep[k++] = t[i];
            else
                c->st.tombstones_dropped++;
        }
        c->st.tombstones_kept += k;
        if (k == 0) return 0;
        record_tombstones_encode(&c->buf, keep, k);
        break;
    }
    default: c->st.records_dropped++; return 0;
    }
    return wal_log(c->out, c->buf.data, c->buf.len, err);
}

static int copy_dir(cp_t *c, const char *dir, int from, int to, pl_err_t *err) {
    wal_reader_t *r;
    if (wal_reader_open(dir, from, to, &r, err) != 0) return -1;
    const uint8_t *rec;
    size_t len;
    int k;
    while ((k = wal_reader_next(r, &rec, &len, err)) == 1)
        if (filter_record(c, rec, len, err) != 0) {
            k = -1;
            break;
        }
    wal_reader_free(r);
    return k < 0 ? -1 : 0;
}

int checkpoint_create(const char *wal_dir, int from, int to, checkpoint_keep_fn keep, void *ctx, int64_t mint,
                      wal_compression_t compression, checkpoint_stats_t *stats, pl_err_t *err) {
    char prev[PATH_MAX], tmp[PATH_MAX], final[PATH_MAX];
    if ((size_t)snprintf(tmp, sizeof tmp, "%s/" CP_PREFIX "%08d.tmp", wal_dir, to) >= sizeof tmp ||
        (size_t)snprintf(final, sizeof final, "%s/" CP_PREFIX "%08d", wal_dir, to) >= sizeof final)
        return pl_err_set(err, "WAL dir path too long");
    int last_cp = checkpoint_last(wal_dir, prev, sizeof prev);
    if (last_cp >= to) return pl_err_set(err, "checkpoint %08d exists already", last_cp);
    if (last_cp >= from) from = last_cp + 1;
    rm_dir_flat(tmp); /* a leftover of an interrupted attempt */

    cp_t c;
    memset(&c, 0, sizeof c);
    c.keep = keep;
    c.ctx = ctx;
    c.mint = mint;
    record_decoder_init(&c.dec);
    wal_opts_t o = {0, compression};
    int rc = wal_open(tmp, &o, &c.out, err);
    if (rc == 0 && last_cp >= 0) {
        int f, l;
        int k = wal_segment_range(prev, &f, &l, err);
        if (k < 0 || (k > 0 && copy_dir(&c, prev, f, l, err) != 0)) rc = pl_err_prefix(err, "read checkpoint %s", prev);
    }
    if (rc == 0 && from <= to && copy_dir(&c, wal_dir, from, to, err) != 0)
        rc = pl_err_prefix(err, "read WAL segments");
    if (c.out && wal_close(c.out, rc == 0 ? err : NULL) != 0) rc = -1;
    if (rc == 0 && rename(tmp, final) != 0) rc = pl_err_set(err, "rename %s: %s", tmp, strerror(errno));
    if (rc != 0)
        rm_dir_flat(tmp);
    else
        fsync_path(wal_dir, O_RDONLY | O_DIRECTORY);
    strbuf_free(&c.buf);
    record_decoder_free(&c.dec);
    if (stats) *stats = c.st;
    return rc;
}
