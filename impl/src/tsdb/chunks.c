/* chunks.c — chunk segment files of a block, and CRC-32C. See chunks.h.
 *
 * The writer buffers through stdio and never seeks: a chunk's ref is known
 * before it is written (segment index, current offset). The reader maps each
 * segment read-only and hands out pointers into the mapping, so reading a
 * chunk copies nothing. */
#include "tsdb/chunks.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/crc32c.h"
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

uint32_t chunks_crc32c(uint32_t crc, const void *buf, size_t n) { return pl_crc32c(crc, buf, n); }

/* ---- file helpers -------------------------------------------------------------- */

int tsdb_fsync_dir(const char *path) {
    int fd = open(path, O_RDONLY | O_DIRECTORY);
    if (fd < 0) return -1;
    int rc = fsync(fd);
    close(fd);
    return rc;
}

int tsdb_write_file_atomic(const char *path, const void *buf, size_t n, pl_err_t *err) {
    char tmp[4096];
    if (snprintf(tmp, sizeof tmp, "%s.tmp", path) >= (int)sizeof tmp) return pl_err_set(err, "path too long: %s", path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) return pl_err_set(err, "create %s: %s", tmp, strerror(errno));
    const uint8_t *p = buf;
    size_t left = n;
    while (left > 0) {
        ssize_t k = write(fd, p, left);
        if (k < 0) {
            if (errno == EINTR) continue;
            int e = errno;
            close(fd);
            unlink(tmp);
            return pl_err_set(err, "write %s: %s", tmp, strerror(e));
        }
        p += k;
        left -= (size_t)k;
    }
    if (fsync(fd) != 0 || close(fd) != 0) {
        unlink(tmp);
        return pl_err_set(err, "sync %s: %s", tmp, strerror(errno));
    }
    if (rename(tmp, path) != 0) {
        unlink(tmp);
        return pl_err_set(err, "rename %s: %s", tmp, strerror(errno));
    }
    return 0;
}

/* ---- writer ------------------------------------------------------------------- */

struct chunk_writer {
    char *dir;
    uint64_t segment_size;
    FILE *f; /* current segment, NULL before the first */
    char *fpath;
    uint32_t seq;   /* number of segments opened; the current one is seq-1 (0-based index) */
    uint64_t n;     /* bytes in the current segment */
    uint64_t total; /* bytes over all segments */
};

static int cw_finish_segment(chunk_writer_t *w, pl_err_t *err) {
    if (!w->f) return 0;
    int rc = 0;
    if (fflush(w->f) != 0 || fsync(fileno(w->f)) != 0) rc = pl_err_set(err, "sync %s: %s", w->fpath, strerror(errno));
    if (fclose(w->f) != 0 && rc == 0) rc = pl_err_set(err, "close %s: %s", w->fpath, strerror(errno));
    w->f = NULL;
    return rc;
}

static int cw_cut(chunk_writer_t *w, pl_err_t *err) {
    if (cw_finish_segment(w, err) != 0) return -1;
    free(w->fpath);
    size_t n = strlen(w->dir) + 16;
    w->fpath = malloc(n);
    if (!w->fpath) return pl_err_set(err, "out of memory");
    snprintf(w->fpath, n, "%s/%06u", w->dir, w->seq + 1);
    w->f = fopen(w->fpath, "wb");
    if (!w->f) return pl_err_set(err, "create %s: %s", w->fpath, strerror(errno));
    setvbuf(w->f, NULL, _IOFBF, 1 << 20);
    uint8_t hdr[CHUNKS_HEADER_BYTES] = {0};
    put_be32(hdr, CHUNKS_MAGIC);
    hdr[4] = 1;
    if (fwrite(hdr, 1, sizeof hdr, w->f) != sizeof hdr)
        return pl_err_set(err, "write %s: %s", w->fpath, strerror(errno));
    w->seq++;
    w->n = CHUNKS_HEADER_BYTES;
    w->total += CHUNKS_HEADER_BYTES;
    return 0;
}

chunk_writer_t *chunk_writer_open(const char *dir, uint64_t segment_size, pl_err_t *err) {
    if (mkdir(dir, 0777) != 0 && errno != EEXIST) {
        pl_err_set(err, "mkdir %s: %s", dir, strerror(errno));
        return NULL;
    }
    chunk_writer_t *w = calloc(1, sizeof *w);
    if (!w || !(w->dir = strdup(dir))) {
        free(w);
        pl_err_set(err, "out of memory");
        return NULL;
    }
    w->segment_size = segment_size ? segment_size : CHUNKS_DEFAULT_SEGMENT_SIZE;
    return w;
}

int chunk_writer_write_series(chunk_writer_t *w, chunk_meta_t *chks, size_t n, pl_err_t *err) {
    if (n == 0) return 0;
    /* Size bound as Prometheus computes it: a 5-byte length field per chunk. */
    uint64_t need = 0;
    for (size_t i = 0; i < n; i++)
        need += 5 + 1 + (uint64_t)chks[i].len + 4;
    if (!w->f || (w->n > CHUNKS_HEADER_BYTES && w->n + need > w->segment_size)) {
        if (cw_cut(w, err) != 0) return -1;
    }
    for (size_t i = 0; i < n; i++) {
        uint8_t hdr[11];
        size_t hl = 0;
        uint64_t v = chks[i].len;
        while (v >= 0x80) {
            hdr[hl++] = (uint8_t)(v | 0x80);
            v >>= 7;
        }
        hdr[hl++] = (uint8_t)v;
        hdr[hl++] = chks[i].encoding;
        uint32_t crc = chunks_crc32c(0, hdr + hl - 1, 1); /* the encoding byte */
        crc = chunks_crc32c(crc, chks[i].data, chks[i].len);
        uint8_t c4[4];
        put_be32(c4, crc);
        chks[i].ref = ((uint64_t)(w->seq - 1) << 32) | w->n;
        if (fwrite(hdr, 1, hl, w->f) != hl ||
            (chks[i].len && fwrite(chks[i].data, 1, chks[i].len, w->f) != chks[i].len) || fwrite(c4, 1, 4, w->f) != 4)
            return pl_err_set(err, "write %s: %s", w->fpath, strerror(errno));
        uint64_t k = hl + chks[i].len + 4;
        w->n += k;
        w->total += k;
        if (w->n > UINT32_MAX) return pl_err_set(err, "chunk segment %s exceeds 4 GiB", w->fpath);
    }
    return 0;
}

uint64_t chunk_writer_bytes(const chunk_writer_t *w) { return w->total; }

int chunk_writer_close(chunk_writer_t *w, pl_err_t *err) {
    if (!w) return 0;
    int rc = cw_finish_segment(w, err);
    if (rc == 0 && tsdb_fsync_dir(w->dir) != 0) rc = pl_err_set(err, "sync dir %s: %s", w->dir, strerror(errno));
    free(w->fpath);
    free(w->dir);
    free(w);
    return rc;
}

/* ---- reader ------------------------------------------------------------------- */

typedef struct segment {
    const uint8_t *b;
    size_t len;
} segment_t;

struct chunk_reader {
    segment_t *segs;
    size_t n;
    uint64_t size;
};

static int name_is_segment(const char *s) {
    size_t n = strlen(s);
    if (n < 6) return 0;
    for (size_t i = 0; i < n; i++)
        if (s[i] < '0' || s[i] > '9') return 0;
    return 1;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

void chunk_reader_close(chunk_reader_t *r) {
    if (!r) return;
    for (size_t i = 0; i < r->n; i++)
        if (r->segs[i].b && r->segs[i].len) munmap((void *)r->segs[i].b, r->segs[i].len);
    free(r->segs);
    free(r);
}

chunk_reader_t *chunk_reader_open(const char *dir, pl_err_t *err) {
    DIR *d = opendir(dir);
    if (!d) {
        pl_err_set(err, "open %s: %s", dir, strerror(errno));
        return NULL;
    }
    char **names = NULL;
    size_t nn = 0, cap = 0;
    struct dirent *de;
    chunk_reader_t *r = calloc(1, sizeof *r);
    int failed = !r;
    while (!failed && (de = readdir(d)) != NULL) {
        if (!name_is_segment(de->d_name)) continue;
        if (nn == cap) {
            cap = cap ? cap * 2 : 8;
            char **nv = realloc(names, cap * sizeof *nv);
            if (!nv) {
                failed = 1;
                break;
            }
            names = nv;
        }
        if (!(names[nn] = strdup(de->d_name))) {
            failed = 1;
            break;
        }
        nn++;
    }
    closedir(d);
    if (failed) {
        pl_err_set(err, "out of memory");
        goto fail;
    }
    if (nn > 1) qsort(names, nn, sizeof *names, cmp_str);
    r->segs = calloc(nn ? nn : 1, sizeof *r->segs);
    if (!r->segs) {
        pl_err_set(err, "out of memory");
        goto fail;
    }
    for (size_t i = 0; i < nn; i++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        int fd = open(path, O_RDONLY);
        struct stat st;
        if (fd < 0 || fstat(fd, &st) != 0) {
            pl_err_set(err, "open %s: %s", path, strerror(errno));
            if (fd >= 0) close(fd);
            goto fail;
        }
        if (st.st_size < CHUNKS_HEADER_BYTES) {
            close(fd);
            pl_err_set(err, "%s: segment too short (%lld bytes)", path, (long long)st.st_size);
            goto fail;
        }
        void *m = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_SHARED, fd, 0);
        close(fd);
        if (m == MAP_FAILED) {
            pl_err_set(err, "mmap %s: %s", path, strerror(errno));
            goto fail;
        }
        r->segs[r->n].b = m;
        r->segs[r->n].len = (size_t)st.st_size;
        r->n++;
        r->size += (uint64_t)st.st_size;
        if (get_be32(m) != CHUNKS_MAGIC) {
            pl_err_set(err, "%s: invalid magic number %08x", path, get_be32(m));
            goto fail;
        }
        if (((const uint8_t *)m)[4] != 1) {
            pl_err_set(err, "%s: invalid chunk format version %u", path, ((const uint8_t *)m)[4]);
            goto fail;
        }
    }
    for (size_t i = 0; i < nn; i++)
        free(names[i]);
    free(names);
    return r;
fail:
    for (size_t i = 0; i < nn; i++)
        free(names[i]);
    free(names);
    chunk_reader_close(r);
    return NULL;
}

uint64_t chunk_reader_size(const chunk_reader_t *r) { return r->size; }

int chunk_reader_get(const chunk_reader_t *r, uint64_t ref, uint8_t *encoding, const uint8_t **data, size_t *len,
                     pl_err_t *err) {
    uint64_t seg = ref >> 32, off = ref & 0xffffffffu;
    if (seg >= r->n)
        return pl_err_set(err, "chunk ref %llu: segment index %llu out of range (%zu segments)",
                          (unsigned long long)ref, (unsigned long long)seg, r->n);
    const segment_t *s = &r->segs[seg];
    if (off < CHUNKS_HEADER_BYTES || off >= s->len)
        return pl_err_set(err, "chunk ref %llu: offset %llu out of range", (unsigned long long)ref,
                          (unsigned long long)off);
    decbuf_t d;
    dec_init(&d, s->b + off, s->len - off);
    uint64_t n = dec_uvarint(&d);
    if (d.err || dec_len(&d) < 1 || n > dec_len(&d) - 1 || dec_len(&d) - 1 - n < 4)
        return pl_err_set(err, "chunk ref %llu: chunk runs past the end of the segment", (unsigned long long)ref);
    const uint8_t *enc = d.p;
    uint32_t want = get_be32(enc + 1 + n);
    if (chunks_crc32c(0, enc, 1 + n) != want)
        return pl_err_set(err, "chunk ref %llu: checksum mismatch", (unsigned long long)ref);
    *encoding = enc[0];
    *data = enc + 1;
    *len = (size_t)n;
    return 0;
}

void chunk_reader_release_before(const chunk_reader_t *r, uint64_t ref) {
    uint64_t seg = ref >> 32, off = ref & 0xffffffffu;
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    for (uint64_t i = 0; i < seg && i < r->n; i++)
        if (r->segs[i].len) madvise((void *)r->segs[i].b, r->segs[i].len, MADV_DONTNEED);
    if (seg < r->n && page > 0) {
        size_t upto = (size_t)off < r->segs[seg].len ? (size_t)off : r->segs[seg].len;
        upto -= upto % page; /* the mapping starts on a page; keep the page holding ref */
        if (upto) madvise((void *)r->segs[seg].b, upto, MADV_DONTNEED);
    }
}
