/* wal.c — the write-ahead log: segments, pages, fragments (see wal.h).
 *
 * Writer invariant: the page buffer always has room for a fragment header
 * (at least 7 free bytes) between records; when fewer are left the page is
 * padded with zeros, written out and counted as completed. `flushed` bytes of
 * the page are already in the file, so wal_flush appends only page[flushed,
 * alloc) and a page is never rewritten: the segment file is append-only and
 * a crash can only lose or tear its tail, which the reader detects by CRC
 * and sequence and wal_repair cuts.
 *
 * Reader: segments are mmap'd whole (startup replay reads everything once
 * anyway, and the kernel pages them in as needed). */
#include "tsdb/wal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <snappy-c.h>
#include <zstd.h>

#include "util/crc32c.h"

uint32_t wal_crc32c(const void *data, size_t len) { return pl_crc32c(0, data, len); }

/* ---- small helpers ------------------------------------------------------------ */

int wal_compression_parse(const char *s, wal_compression_t *out) {
    if (strcmp(s, "none") == 0)
        *out = WAL_COMPRESSION_NONE;
    else if (strcmp(s, "snappy") == 0)
        *out = WAL_COMPRESSION_SNAPPY;
    else if (strcmp(s, "zstd") == 0)
        *out = WAL_COMPRESSION_ZSTD;
    else
        return -1;
    return 0;
}

const char *wal_compression_name(wal_compression_t c) {
    switch (c) {
    case WAL_COMPRESSION_SNAPPY: return "snappy";
    case WAL_COMPRESSION_ZSTD: return "zstd";
    default: return "none";
    }
}

static double now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void put_be16(uint8_t *p, uint16_t v) {
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}
static void put_be32(uint8_t *p, uint32_t v) {
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}
static uint32_t get_be32(const uint8_t *p) {
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static bool all_digits(const char *s) {
    if (!*s) return false;
    for (; *s; s++)
        if (*s < '0' || *s > '9') return false;
    return true;
}

void wal_segment_path(char *out, size_t outsz, const char *dir, int index) {
    snprintf(out, outsz, "%s/%08d", dir, index);
}

int wal_segment_range(const char *dir, int *first, int *last, pl_err_t *err) {
    DIR *d = opendir(dir);
    if (!d) {
        if (errno == ENOENT) return 0;
        return pl_err_set(err, "open WAL dir %s: %s", dir, strerror(errno));
    }
    int lo = INT_MAX, hi = -1;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (!all_digits(e->d_name) || strlen(e->d_name) > 9) continue;
        int k = atoi(e->d_name);
        if (k < lo) lo = k;
        if (k > hi) hi = k;
    }
    closedir(d);
    if (hi < 0) return 0;
    *first = lo;
    *last = hi;
    return 1;
}

static int fsync_dir(const char *dir) {
    int fd = open(dir, O_RDONLY | O_DIRECTORY);
    if (fd < 0) return -1;
    int rc = fsync(fd);
    close(fd);
    return rc;
}

static int write_all(int fd, const uint8_t *p, size_t n) {
    while (n > 0) {
        ssize_t k = write(fd, p, n);
        if (k < 0) {
            if (errno == EINTR) continue;
            return -1;
        }
        p += k;
        n -= (size_t)k;
    }
    return 0;
}

/* ---- writer ---------------------------------------------------------------------- */

struct wal {
    char dir[PATH_MAX];
    int fd;
    int segment;
    size_t pages_per_segment;
    size_t done_pages; /* pages of the current segment written out in full */
    wal_compression_t compression;
    ZSTD_CCtx *zctx;
    uint8_t *cbuf; /* compression output */
    size_t ccap;
    size_t alloc;   /* bytes of page in use */
    size_t flushed; /* bytes of page already written to the file */
    wal_stats_t st;
    uint8_t page[WAL_PAGE_SIZE];
};

static int create_segment(wal_t *w, int index, pl_err_t *err) {
    char path[PATH_MAX + 16];
    wal_segment_path(path, sizeof path, w->dir, index);
    int fd = open(path, O_CREAT | O_WRONLY | O_APPEND | O_CLOEXEC, 0666);
    if (fd < 0) return pl_err_set(err, "create WAL segment %s: %s", path, strerror(errno));
    w->fd = fd;
    w->segment = index;
    w->done_pages = 0;
    w->alloc = w->flushed = 0;
    w->st.segment_current = index;
    fsync_dir(w->dir);
    return 0;
}

static int timed_fsync(wal_t *w) {
    double t0 = now_seconds();
    int rc = fsync(w->fd);
    w->st.fsync_seconds += now_seconds() - t0;
    w->st.fsyncs++;
    return rc;
}

/* Writes the unwritten part of the page. With clear, the page is first
 * padded to its end, then counted as completed and reset. */
static int flush_page(wal_t *w, bool clear, pl_err_t *err) {
    if (clear) w->alloc = WAL_PAGE_SIZE; /* the unused tail is already zero */
    w->st.page_flushes++;
    if (w->alloc > w->flushed) {
        if (write_all(w->fd, w->page + w->flushed, w->alloc - w->flushed) != 0) {
            w->st.writes_failed++;
            return pl_err_set(err, "write WAL segment %08d: %s", w->segment, strerror(errno));
        }
        w->st.written_bytes += w->alloc - w->flushed;
        w->flushed = w->alloc;
    }
    if (clear) {
        memset(w->page, 0, sizeof w->page);
        w->alloc = w->flushed = 0;
        w->done_pages++;
        w->st.completed_pages++;
    }
    return 0;
}

int wal_open(const char *dir, const wal_opts_t *opts, wal_t **out, pl_err_t *err) {
    size_t seg = opts && opts->segment_size ? opts->segment_size : WAL_DEFAULT_SEGMENT_SIZE;
    if (seg % WAL_PAGE_SIZE != 0 || seg < WAL_PAGE_SIZE)
        return pl_err_set(err, "invalid WAL segment size %zu: must be a multiple of %d", seg, WAL_PAGE_SIZE);
    if (strlen(dir) >= PATH_MAX - 32) return pl_err_set(err, "WAL dir path too long");
    if (mkdir(dir, 0777) < 0 && errno != EEXIST) return pl_err_set(err, "create WAL dir %s: %s", dir, strerror(errno));
    wal_t *w = calloc(1, sizeof *w);
    if (!w) return pl_err_set(err, "out of memory");
    snprintf(w->dir, sizeof w->dir, "%s", dir);
    w->fd = -1;
    w->pages_per_segment = seg / WAL_PAGE_SIZE;
    w->compression = opts ? opts->compression : WAL_COMPRESSION_NONE;
    if (w->compression == WAL_COMPRESSION_ZSTD) {
        w->zctx = ZSTD_createCCtx();
        if (!w->zctx) {
            free(w);
            return pl_err_set(err, "out of memory");
        }
    }
    int first = 0, last = -1;
    int r = wal_segment_range(dir, &first, &last, err);
    if (r < 0 || create_segment(w, r > 0 ? last + 1 : 0, err) != 0) {
        ZSTD_freeCCtx(w->zctx);
        free(w);
        return -1;
    }
    *out = w;
    return 0;
}

int wal_next_segment(wal_t *w, pl_err_t *err) {
    int rc = 0;
    if (w->alloc > 0 && flush_page(w, true, err) != 0) rc = -1;
    if (timed_fsync(w) != 0 && rc == 0) rc = pl_err_set(err, "fsync WAL segment %08d: %s", w->segment, strerror(errno));
    close(w->fd);
    w->fd = -1;
    if (create_segment(w, w->segment + 1, rc == 0 ? err : NULL) != 0) return -1;
    return rc == 0 ? w->segment : -1;
}

/* Compresses rec into w->cbuf when that makes it smaller. Returns the flag
 * for the header (0 = stored as is). */
static uint8_t compress_record(wal_t *w, const uint8_t *rec, size_t len, const uint8_t **out, size_t *outlen) {
    *out = rec;
    *outlen = len;
    if (w->compression == WAL_COMPRESSION_NONE || len == 0) return 0;
    size_t need =
        w->compression == WAL_COMPRESSION_SNAPPY ? snappy_max_compressed_length(len) : ZSTD_compressBound(len);
    if (need > w->ccap) {
        uint8_t *p = realloc(w->cbuf, need);
        if (!p) return 0; /* store it uncompressed */
        w->cbuf = p;
        w->ccap = need;
    }
    size_t clen = w->ccap;
    uint8_t flag;
    if (w->compression == WAL_COMPRESSION_SNAPPY) {
        if (snappy_compress((const char *)rec, len, (char *)w->cbuf, &clen) != SNAPPY_OK) return 0;
        flag = WAL_FLAG_SNAPPY;
    } else {
        clen = ZSTD_compressCCtx(w->zctx, w->cbuf, w->ccap, rec, len, ZSTD_CLEVEL_DEFAULT);
        if (ZSTD_isError(clen)) return 0;
        flag = WAL_FLAG_ZSTD;
    }
    if (clen >= len) return 0;
    *out = w->cbuf;
    *outlen = clen;
    return flag;
}

int wal_log(wal_t *w, const void *rec_in, size_t len_in, pl_err_t *err) {
    const uint8_t *rec;
    size_t len;
    uint8_t flag = compress_record(w, rec_in, len_in, &rec, &len);

    /* A record never crosses segments: cut one if it does not fit in the rest. */
    int64_t left = (int64_t)(WAL_PAGE_SIZE - w->alloc) - WAL_RECORD_HEADER_SIZE;
    left += (int64_t)(WAL_PAGE_SIZE - WAL_RECORD_HEADER_SIZE) *
            ((int64_t)w->pages_per_segment - (int64_t)w->done_pages - 1);
    if ((int64_t)len > left && (w->done_pages > 0 || w->alloc > 0)) {
        if (wal_next_segment(w, err) < 0) {
            w->st.writes_failed++;
            return -1;
        }
    }

    for (size_t i = 0;; i++) {
        size_t room = WAL_PAGE_SIZE - w->alloc - WAL_RECORD_HEADER_SIZE;
        size_t l = len < room ? len : room;
        uint8_t type;
        if (i == 0 && l == len)
            type = WAL_FRAG_FULL;
        else if (l == len)
            type = WAL_FRAG_LAST;
        else if (i == 0)
            type = WAL_FRAG_FIRST;
        else
            type = WAL_FRAG_MIDDLE;
        uint8_t *h = w->page + w->alloc;
        h[0] = type | flag;
        put_be16(h + 1, (uint16_t)l);
        put_be32(h + 3, wal_crc32c(rec, l));
        if (l) memcpy(h + WAL_RECORD_HEADER_SIZE, rec, l);
        w->alloc += WAL_RECORD_HEADER_SIZE + l;
        if (WAL_PAGE_SIZE - w->alloc < WAL_RECORD_HEADER_SIZE && flush_page(w, true, err) != 0) return -1;
        rec += l;
        len -= l;
        if (len == 0) break;
    }
    w->st.records++;
    w->st.record_bytes += len_in;
    return 0;
}

int wal_flush(wal_t *w, pl_err_t *err) {
    if (w->alloc == w->flushed) return 0;
    return flush_page(w, false, err);
}

int wal_close(wal_t *w, pl_err_t *err) {
    if (!w) return 0;
    int rc = 0;
    if (w->fd >= 0) {
        if (w->alloc > 0 && flush_page(w, true, err) != 0) rc = -1;
        if (timed_fsync(w) != 0 && rc == 0) rc = pl_err_set(err, "fsync WAL: %s", strerror(errno));
        close(w->fd);
    }
    ZSTD_freeCCtx(w->zctx);
    free(w->cbuf);
    free(w);
    return rc;
}

const char *wal_dir(const wal_t *w) { return w->dir; }

int wal_get_segment(const wal_t *w) { return w->segment; }

void wal_get_stats(const wal_t *w, wal_stats_t *out) { *out = w->st; }

/* ---- reader -------------------------------------------------------------------------- */

struct wal_reader {
    char dir[PATH_MAX];
    int first, last, cur; /* segment range; cur is mapped in buf */
    const uint8_t *buf;
    size_t size, pos;
    bool mapped;     /* buf is an mmap of segment cur */
    bool from_bytes; /* one borrowed buffer */
    int good_seg;
    uint64_t good_off;
    int err_seg;
    uint64_t err_off;
    uint8_t *rec; /* assembled record */
    size_t rec_len, rec_cap;
    uint8_t *dbuf; /* decompressed record */
    size_t dcap;
    ZSTD_DCtx *dctx;
};

static void unmap_segment(wal_reader_t *r) {
    if (r->mapped && r->size > 0) munmap((void *)r->buf, r->size);
    r->mapped = false;
    r->buf = NULL;
    r->size = r->pos = 0;
}

static int map_segment(wal_reader_t *r, int index, pl_err_t *err) {
    unmap_segment(r);
    char path[PATH_MAX + 16];
    wal_segment_path(path, sizeof path, r->dir, index);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return pl_err_set(err, "open WAL segment %s: %s", path, strerror(errno));
    struct stat sb;
    if (fstat(fd, &sb) != 0) {
        close(fd);
        return pl_err_set(err, "stat WAL segment %s: %s", path, strerror(errno));
    }
    r->cur = index;
    r->size = (size_t)sb.st_size;
    r->pos = 0;
    if (r->size > 0) {
        void *p = mmap(NULL, r->size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (p == MAP_FAILED) {
            close(fd);
            r->size = 0;
            return pl_err_set(err, "mmap WAL segment %s: %s", path, strerror(errno));
        }
        madvise(p, r->size, MADV_SEQUENTIAL);
        r->buf = p;
        r->mapped = true;
    }
    close(fd);
    return 0;
}

int wal_reader_open(const char *dir, int first, int last, wal_reader_t **out, pl_err_t *err) {
    wal_reader_t *r = calloc(1, sizeof *r);
    if (!r) return pl_err_set(err, "out of memory");
    snprintf(r->dir, sizeof r->dir, "%s", dir);
    r->first = first;
    r->last = last;
    r->cur = first - 1;
    r->good_seg = first;
    *out = r;
    return 0;
}

wal_reader_t *wal_reader_from_bytes(const uint8_t *buf, size_t len) {
    wal_reader_t *r = calloc(1, sizeof *r);
    if (!r) return NULL;
    r->from_bytes = true;
    r->buf = buf;
    r->size = len;
    return r;
}

void wal_reader_free(wal_reader_t *r) {
    if (!r) return;
    if (!r->from_bytes) unmap_segment(r);
    free(r->rec);
    free(r->dbuf);
    ZSTD_freeDCtx(r->dctx);
    free(r);
}

void wal_reader_good_end(const wal_reader_t *r, int *segment, uint64_t *offset) {
    *segment = r->good_seg;
    *offset = r->good_off;
}

void wal_reader_error_at(const wal_reader_t *r, int *segment, uint64_t *offset) {
    *segment = r->err_seg;
    *offset = r->err_off;
}

static int corrupt(wal_reader_t *r, size_t at, pl_err_t *err, const char *what) {
    r->err_seg = r->cur;
    r->err_off = at;
    return pl_err_set(err, "corruption in WAL segment %08d at offset %zu: %s", r->cur, at, what);
}

static bool zeros(const uint8_t *p, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (p[i]) return false;
    return true;
}

static int rec_append(wal_reader_t *r, const uint8_t *p, size_t n) {
    if (r->rec_len + n > r->rec_cap) {
        size_t c = r->rec_cap ? r->rec_cap : 65536;
        while (c < r->rec_len + n)
            c *= 2;
        uint8_t *q = realloc(r->rec, c);
        if (!q) return -1;
        r->rec = q;
        r->rec_cap = c;
    }
    if (n) memcpy(r->rec + r->rec_len, p, n);
    r->rec_len += n;
    return 0;
}

static int grow_dbuf(wal_reader_t *r, size_t need) {
    if (need <= r->dcap) return 0;
    size_t c = r->dcap ? r->dcap : 65536;
    while (c < need)
        c *= 2;
    uint8_t *q = realloc(r->dbuf, c);
    if (!q) return -1;
    r->dbuf = q;
    r->dcap = c;
    return 0;
}

/* Decompresses the assembled record per flag. Returns 0 with *out set. */
static int decompress(wal_reader_t *r, uint8_t flag, const uint8_t **out, size_t *outlen) {
    if (flag == 0) {
        *out = r->rec;
        *outlen = r->rec_len;
        return 0;
    }
    if (flag == WAL_FLAG_SNAPPY) {
        size_t n;
        if (snappy_uncompressed_length((const char *)r->rec, r->rec_len, &n) != SNAPPY_OK) return -1;
        if (n > (size_t)1 << 31 || grow_dbuf(r, n ? n : 1) != 0) return -1;
        if (snappy_uncompress((const char *)r->rec, r->rec_len, (char *)r->dbuf, &n) != SNAPPY_OK) return -1;
        *out = r->dbuf;
        *outlen = n;
        return 0;
    }
    if (flag == WAL_FLAG_ZSTD) {
        if (!r->dctx && !(r->dctx = ZSTD_createDCtx())) return -1;
        unsigned long long n = ZSTD_getFrameContentSize(r->rec, r->rec_len);
        if (n == ZSTD_CONTENTSIZE_ERROR) return -1;
        if (n != ZSTD_CONTENTSIZE_UNKNOWN) {
            if (n > (1ull << 31) || grow_dbuf(r, n ? (size_t)n : 1) != 0) return -1;
            size_t got = ZSTD_decompressDCtx(r->dctx, r->dbuf, r->dcap, r->rec, r->rec_len);
            if (ZSTD_isError(got) || got != n) return -1;
            *out = r->dbuf;
            *outlen = got;
            return 0;
        }
        /* No size in the frame header: stream into a growing buffer. */
        ZSTD_DCtx_reset(r->dctx, ZSTD_reset_session_only);
        ZSTD_inBuffer in = {r->rec, r->rec_len, 0};
        size_t produced = 0;
        for (;;) {
            if (grow_dbuf(r, produced + 65536) != 0 || r->dcap > ((size_t)1 << 31)) return -1;
            ZSTD_outBuffer o = {r->dbuf, r->dcap, produced};
            size_t rc = ZSTD_decompressStream(r->dctx, &o, &in);
            if (ZSTD_isError(rc)) return -1;
            produced = o.pos;
            if (rc == 0) break;
            if (in.pos == in.size && o.pos < o.size) return -1; /* truncated frame */
        }
        *out = r->dbuf;
        *outlen = produced;
        return 0;
    }
    return -1;
}

int wal_reader_next(wal_reader_t *r, const uint8_t **rec_out, size_t *len_out, pl_err_t *err) {
    bool pending = false; /* inside a FIRST..LAST run */
    uint8_t flag = 0;
    size_t rec_start = 0;
    r->rec_len = 0;
    for (;;) {
        if (r->pos >= r->size) {
            /* End of this segment's bytes: a short tail counts as padding. */
            if (pending) return corrupt(r, rec_start, err, "torn record at the end of the segment");
            if (r->from_bytes || r->cur >= r->last) return 0;
            if (map_segment(r, r->cur + 1, err) != 0) {
                r->err_seg = r->cur + 1;
                r->err_off = 0;
                return -1;
            }
            r->good_seg = r->cur;
            r->good_off = 0;
            continue;
        }
        size_t page_end = (r->pos / WAL_PAGE_SIZE + 1) * WAL_PAGE_SIZE;
        size_t stop = page_end < r->size ? page_end : r->size;
        if (page_end - r->pos < WAL_RECORD_HEADER_SIZE || r->buf[r->pos] == WAL_FRAG_PAGE_TERM) {
            /* Padding to the end of the page: must be zeros. */
            if (!zeros(r->buf + r->pos, stop - r->pos))
                return corrupt(r, r->pos, err, "non-zero bytes in page padding");
            r->pos = stop;
            continue;
        }
        const uint8_t *h = r->buf + r->pos;
        uint8_t type = h[0] & WAL_TYPE_MASK, flags = h[0] & (uint8_t)~WAL_TYPE_MASK;
        if (flags & ~(WAL_FLAG_SNAPPY | WAL_FLAG_ZSTD) || flags == (WAL_FLAG_SNAPPY | WAL_FLAG_ZSTD) ||
            type > WAL_FRAG_LAST)
            return corrupt(r, r->pos, err, "invalid fragment header");
        if (r->pos + WAL_RECORD_HEADER_SIZE > r->size) return corrupt(r, r->pos, err, "torn fragment header");
        size_t len = (size_t)h[1] << 8 | h[2];
        if (r->pos + WAL_RECORD_HEADER_SIZE + len > page_end)
            return corrupt(r, r->pos, err, "fragment crosses a page boundary");
        if (r->pos + WAL_RECORD_HEADER_SIZE + len > r->size) return corrupt(r, r->pos, err, "torn fragment");
        const uint8_t *data = h + WAL_RECORD_HEADER_SIZE;
        if (wal_crc32c(data, len) != get_be32(h + 3)) return corrupt(r, r->pos, err, "fragment checksum mismatch");
        if ((type == WAL_FRAG_FULL || type == WAL_FRAG_FIRST) == pending)
            return corrupt(r, pending ? rec_start : r->pos, err,
                           pending ? "record interrupted by a new one" : "fragment without a first fragment");
        if (type == WAL_FRAG_FULL || type == WAL_FRAG_FIRST) {
            rec_start = r->pos;
            flag = flags;
        }
        if (rec_append(r, data, len) != 0) return pl_err_set(err, "out of memory reading the WAL");
        r->pos += WAL_RECORD_HEADER_SIZE + len;
        if (type == WAL_FRAG_FIRST || type == WAL_FRAG_MIDDLE) {
            pending = true;
            continue;
        }
        if (decompress(r, flag, rec_out, len_out) != 0) return corrupt(r, rec_start, err, "record does not decompress");
        r->good_seg = r->cur;
        r->good_off = r->pos;
        return 1;
    }
}

/* ---- repair -------------------------------------------------------------------------- */

int wal_repair(const char *dir, int segment, uint64_t offset, pl_err_t *err) {
    int first = 0, last = -1;
    int r = wal_segment_range(dir, &first, &last, err);
    if (r < 0) return -1;
    char path[PATH_MAX + 16];
    for (int k = last; r > 0 && k > segment; k--) {
        wal_segment_path(path, sizeof path, dir, k);
        if (unlink(path) != 0 && errno != ENOENT)
            return pl_err_set(err, "delete WAL segment %s: %s", path, strerror(errno));
    }
    wal_segment_path(path, sizeof path, dir, segment);
    if (truncate(path, (off_t)offset) != 0 && errno != ENOENT)
        return pl_err_set(err, "truncate WAL segment %s: %s", path, strerror(errno));
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd >= 0) {
        fsync(fd);
        close(fd);
    }
    fsync_dir(dir);
    return 0;
}

static int64_t dir_files_size(const char *dir, bool recurse) {
    DIR *d = opendir(dir);
    if (!d) return 0;
    int64_t total = 0;
    struct dirent *e;
    char path[PATH_MAX];
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.') continue;
        if ((size_t)snprintf(path, sizeof path, "%s/%s", dir, e->d_name) >= sizeof path) continue;
        struct stat sb;
        if (stat(path, &sb) != 0) continue;
        if (S_ISREG(sb.st_mode))
            total += sb.st_size;
        else if (S_ISDIR(sb.st_mode) && recurse && strncmp(e->d_name, "checkpoint.", 11) == 0)
            total += dir_files_size(path, false);
    }
    closedir(d);
    return total;
}

int64_t wal_dir_size(const char *dir) { return dir_files_size(dir, true); }
