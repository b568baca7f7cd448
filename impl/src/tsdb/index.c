/* index.c — index file v2 writer and reader. See index.h.
 *
 * Writer. Symbols are kept back to back in one buffer, sorted, so a label
 * string maps to its reference by binary search. Each series entry is written
 * as it arrives, and only a count per label name is kept of it: memory does
 * not grow with the series. At close the series section is read back from
 * the file (as Prometheus's writer does), once per batch of label names
 * whose (value, series id) entries fit in IW_BATCH_ENTRIES (256k; a name with more
 * series gets a batch of its own); sorted, they give each name's label index,
 * written to the index at once, and its postings lists, written to a temp
 * file beside it with their offset-table entries, since in the file the
 * postings follow every label index. The result is, in file order, exactly
 * what Prometheus 2.x emits: one label index per name (the sorted value refs),
 * the postings lists with ("", "") first, the label offset table, the
 * postings offset table, then the TOC. Memory at close: the symbols, 8 bytes
 * per entry of the batch (about 8 bytes per series when one name is on every
 * series, as __name__ is) and 1 MiB of read buffer.
 *
 * Reader. The symbol table is copied once into NUL-terminated strings (a
 * label_t can then point at them). The postings offset table is decoded
 * fully into an array sorted by (name, value), plus one range per name; a
 * postings lookup is a binary search there, then a bounds-checked decode of
 * the list. Every offset read from the file is checked against its size. */
#include "tsdb/index.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- writer ------------------------------------------------------------------- */

/* Entries (value ref << 32 | series id) gathered per scan of the series
 * section: a batch of label names is scanned at once while their entries fit
 * in this many (a single name with more series gets a scan of its own). */
#define IW_BATCH_ENTRIES (1u << 18)
static size_t iw_batch_entries = IW_BATCH_ENTRIES;

void index_writer_set_batch_entries(size_t n) { iw_batch_entries = n ? n : IW_BATCH_ENTRIES; }
/* Read buffer over the series section. */
#define IW_READ_BUF (1u << 20)

/* A label name seen in the series, with the number of series carrying it. */
typedef struct iw_name {
    uint32_t ref;
    uint64_t count;
} iw_name_t;

struct index_writer {
    char *path;
    FILE *f;
    uint64_t pos;
    index_toc_t toc;
    /* Symbols: NUL-terminated strings back to back in symdata; symoff[i] is
     * where symbol i starts. One allocation instead of one per string. */
    char *symdata;
    size_t symlen, symcap;
    uint32_t *symoff;
    size_t nsyms, capsyms;
    bool symbols_done;
    /* Label names: an open-addressing table (ref + 1, 0 = empty slot) of
     * indices into names. */
    iw_name_t *names;
    size_t nnames, capnames;
    uint32_t *name_slots;
    size_t name_cap;
    uint64_t nseries;
    label_t *last; /* previous series' labels (pointers into symdata) for the order check */
    size_t nlast, caplast;
    /* The name and value refs of resolved_ls (2 * resolved_n), looked up by
     * index_writer_has_symbols for the next index_writer_add_series. */
    uint32_t *refs;
    size_t caprefs;
    const label_t *resolved_ls;
    size_t resolved_n;
    strbuf_t buf;
    /* At close: the postings and the postings offset table entries go to
     * two temporary files beside the index (<path>_tmp_p, <path>_tmp_po). */
    char *tmp_p_path, *tmp_po_path;
};

static const char *sym_at(const index_writer_t *w, size_t i) { return w->symdata + w->symoff[i]; }

static int iw_write(index_writer_t *w, const void *p, size_t n, pl_err_t *err) {
    if (n && fwrite(p, 1, n, w->f) != n) return pl_err_set(err, "write %s: %s", w->path, strerror(errno));
    w->pos += n;
    return 0;
}

static int iw_pad(index_writer_t *w, unsigned align, pl_err_t *err) {
    static const uint8_t zeros[16];
    size_t k = (size_t)((align - w->pos % align) % align);
    return iw_write(w, zeros, k, err);
}

/* Writes len-prefixed body + CRC (the frame of most sections). */
static int iw_frame(index_writer_t *w, const strbuf_t *body, pl_err_t *err) {
    uint8_t b[4];
    if (body->len > UINT32_MAX) return pl_err_set(err, "index section too large");
    put_be32(b, (uint32_t)body->len);
    if (iw_write(w, b, 4, err) || iw_write(w, body->data, body->len, err)) return -1;
    put_be32(b, chunks_crc32c(0, body->data, body->len));
    return iw_write(w, b, 4, err);
}

static char *path_with_suffix(const char *path, const char *suffix) {
    size_t n = strlen(path) + strlen(suffix) + 1;
    char *p = malloc(n);
    if (p) snprintf(p, n, "%s%s", path, suffix);
    return p;
}

index_writer_t *index_writer_open(const char *path, pl_err_t *err) {
    index_writer_t *w = calloc(1, sizeof *w);
    if (!w || !(w->path = strdup(path)) || !(w->tmp_p_path = path_with_suffix(path, "_tmp_p")) ||
        !(w->tmp_po_path = path_with_suffix(path, "_tmp_po"))) {
        if (w) {
            free(w->path);
            free(w->tmp_p_path);
        }
        free(w);
        pl_err_set(err, "out of memory");
        return NULL;
    }
    strbuf_init(&w->buf);
    w->f = fopen(path, "wb");
    if (!w->f) {
        pl_err_set(err, "create %s: %s", path, strerror(errno));
        index_writer_abort(w);
        return NULL;
    }
    setvbuf(w->f, NULL, _IOFBF, 1 << 20);
    uint8_t hdr[5];
    put_be32(hdr, INDEX_MAGIC);
    hdr[4] = 2;
    if (iw_write(w, hdr, 5, err) != 0) {
        index_writer_abort(w);
        return NULL;
    }
    w->toc.symbols = w->pos;
    return w;
}

void index_writer_abort(index_writer_t *w) {
    if (!w) return;
    if (w->f) fclose(w->f);
    if (w->tmp_p_path) unlink(w->tmp_p_path);
    if (w->tmp_po_path) unlink(w->tmp_po_path);
    free(w->tmp_p_path);
    free(w->tmp_po_path);
    free(w->symdata);
    free(w->symoff);
    free(w->names);
    free(w->name_slots);
    free(w->last);
    free(w->refs);
    strbuf_free(&w->buf);
    free(w->path);
    free(w);
}

int index_writer_add_symbol(index_writer_t *w, const char *s, pl_err_t *err) {
    if (w->symbols_done) return pl_err_set(err, "index: symbol %s added after the first series", s);
    if (w->nsyms > 0 && strcmp(sym_at(w, w->nsyms - 1), s) >= 0)
        return pl_err_set(err, "index: symbol \"%s\" out of order", s);
    size_t len = strlen(s) + 1;
    if (w->symlen + len > UINT32_MAX) return pl_err_set(err, "index: symbol table exceeds 4 GiB");
    if (w->nsyms == w->capsyms) {
        size_t nc = w->capsyms ? w->capsyms * 2 : 256;
        uint32_t *nv = realloc(w->symoff, nc * sizeof *nv);
        if (!nv) return pl_err_set(err, "out of memory");
        w->symoff = nv;
        w->capsyms = nc;
    }
    if (w->symlen + len > w->symcap) {
        size_t nc = w->symcap ? w->symcap * 2 : 4096;
        while (nc < w->symlen + len)
            nc *= 2;
        char *nv = realloc(w->symdata, nc);
        if (!nv) return pl_err_set(err, "out of memory");
        w->symdata = nv;
        w->symcap = nc;
    }
    memcpy(w->symdata + w->symlen, s, len);
    w->symoff[w->nsyms++] = (uint32_t)w->symlen;
    w->symlen += len;
    return 0;
}

static size_t uvarint_len(uint64_t v) {
    size_t n = 1;
    while (v >= 0x80) {
        v >>= 7;
        n++;
    }
    return n;
}

/* The symbol table, encoded a piece at a time (it is as large as the
 * strings). */
static int iw_finish_symbols(index_writer_t *w, pl_err_t *err) {
    if (w->symbols_done) return 0;
    w->symbols_done = true;
    uint64_t body = 4;
    for (size_t i = 0; i < w->nsyms; i++) {
        size_t n = strlen(sym_at(w, i));
        body += uvarint_len(n) + n;
    }
    if (body > UINT32_MAX) return pl_err_set(err, "index section too large");
    uint8_t b[4];
    put_be32(b, (uint32_t)body);
    if (iw_write(w, b, 4, err) != 0) return -1;
    strbuf_reset(&w->buf);
    enc_be32(&w->buf, (uint32_t)w->nsyms);
    uint32_t crc = 0;
    for (size_t i = 0; i <= w->nsyms; i++) {
        if (i == w->nsyms || w->buf.len >= 1 << 16) {
            crc = chunks_crc32c(crc, w->buf.data, w->buf.len);
            if (iw_write(w, w->buf.data, w->buf.len, err) != 0) return -1;
            strbuf_reset(&w->buf);
            if (i == w->nsyms) break;
        }
        const char *s = sym_at(w, i);
        enc_uvarint_str(&w->buf, s, strlen(s));
    }
    put_be32(b, crc);
    if (iw_write(w, b, 4, err) != 0) return -1;
    w->toc.series = w->pos;
    return 0;
}

static bool sym_find(const index_writer_t *w, const char *s, uint32_t *ref) {
    size_t lo = 0, hi = w->nsyms;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(sym_at(w, mid), s);
        if (c == 0) {
            *ref = (uint32_t)mid;
            return true;
        }
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return false;
}

static uint32_t hash_u32(uint32_t x) {
    x ^= x >> 16;
    x *= 0x7feb352dU;
    x ^= x >> 15;
    x *= 0x846ca68bU;
    x ^= x >> 16;
    return x;
}

/* Counts one more series carrying label name ref. */
static int iw_count_name(index_writer_t *w, uint32_t ref) {
    if (w->nnames * 2 >= w->name_cap) {
        size_t nc = w->name_cap ? w->name_cap * 2 : 64;
        uint32_t *slots = calloc(nc, sizeof *slots);
        if (!slots) return -1;
        for (size_t i = 0; i < w->nnames; i++) {
            size_t h = hash_u32(w->names[i].ref) & (nc - 1);
            while (slots[h])
                h = (h + 1) & (nc - 1);
            slots[h] = (uint32_t)i + 1;
        }
        free(w->name_slots);
        w->name_slots = slots;
        w->name_cap = nc;
    }
    size_t h = hash_u32(ref) & (w->name_cap - 1);
    while (w->name_slots[h]) {
        iw_name_t *nm = &w->names[w->name_slots[h] - 1];
        if (nm->ref == ref) {
            nm->count++;
            return 0;
        }
        h = (h + 1) & (w->name_cap - 1);
    }
    if (w->nnames == w->capnames) {
        size_t nc = w->capnames ? w->capnames * 2 : 32;
        iw_name_t *nv = realloc(w->names, nc * sizeof *nv);
        if (!nv) return -1;
        w->names = nv;
        w->capnames = nc;
    }
    w->names[w->nnames] = (iw_name_t){ref, 1};
    w->name_slots[h] = (uint32_t)++w->nnames;
    return 0;
}

/* Looks up the refs of ls into w->refs: 0, 1 if a string is no symbol, -1
 * when out of memory. */
static int iw_resolve(index_writer_t *w, const label_t *ls, size_t n) {
    w->resolved_ls = NULL;
    if (n > w->caprefs) {
        uint32_t *nr = realloc(w->refs, 2 * n * sizeof *nr);
        if (!nr) return -1;
        w->refs = nr;
        w->caprefs = n;
    }
    for (size_t i = 0; i < n; i++)
        if (!sym_find(w, ls[i].name, &w->refs[2 * i]) || !sym_find(w, ls[i].value, &w->refs[2 * i + 1])) return 1;
    return 0;
}

bool index_writer_has_symbols(index_writer_t *w, const label_t *ls, size_t n) {
    if (w->resolved_ls && w->resolved_ls == ls && w->resolved_n == n) return true;
    if (iw_resolve(w, ls, n) != 0) return false;
    if (w->symbols_done) { /* refs are final: keep them for the next add */
        w->resolved_ls = ls;
        w->resolved_n = n;
    }
    return true;
}

int index_writer_add_series(index_writer_t *w, const label_t *ls, size_t n, const chunk_meta_t *chks, size_t nchks,
                            uint32_t *series_id, pl_err_t *err) {
    bool resolved = w->resolved_ls && w->resolved_ls == ls && w->resolved_n == n;
    w->resolved_ls = NULL;
    if (iw_finish_symbols(w, err) != 0) return -1;
    if (w->nseries > 0 && labels_compare(w->last, w->nlast, ls, n) >= 0)
        return pl_err_set(err, "index: series added out of order");
    for (size_t i = 1; i < n; i++)
        if (strcmp(ls[i - 1].name, ls[i].name) >= 0) return pl_err_set(err, "index: labels not sorted by name");
    for (size_t i = 1; i < nchks; i++)
        if (chks[i].mint <= chks[i - 1].maxt || chks[i].ref <= chks[i - 1].ref)
            return pl_err_set(err, "index: chunks out of order or overlapping");
    if (iw_pad(w, 16, err) != 0) return -1;
    if (w->pos / 16 > UINT32_MAX) return pl_err_set(err, "index: series offset exceeds 64 GiB");
    uint32_t id = (uint32_t)(w->pos / 16);

    if (n > w->caplast) {
        label_t *nv = realloc(w->last, n * sizeof *nv);
        if (!nv) return pl_err_set(err, "out of memory");
        w->last = nv;
        w->caplast = n;
    }

    strbuf_reset(&w->buf);
    enc_uvarint(&w->buf, n);
    int rr = resolved ? 0 : iw_resolve(w, ls, n);
    if (rr < 0) return pl_err_set(err, "out of memory");
    if (rr > 0) {
        for (size_t i = 0; i < n; i++) {
            uint32_t ref;
            if (!sym_find(w, ls[i].name, &ref) || !sym_find(w, ls[i].value, &ref))
                return pl_err_set(err, "index: label %s=\"%s\" has no symbol", ls[i].name, ls[i].value);
        }
    }
    for (size_t i = 0; i < n; i++) {
        enc_uvarint(&w->buf, w->refs[2 * i]);
        enc_uvarint(&w->buf, w->refs[2 * i + 1]);
    }
    enc_uvarint(&w->buf, nchks);
    for (size_t i = 0; i < nchks; i++) {
        const chunk_meta_t *c = &chks[i];
        if (i == 0) {
            enc_varint(&w->buf, c->mint);
            enc_uvarint(&w->buf, (uint64_t)(c->maxt - c->mint));
            enc_uvarint(&w->buf, c->ref);
        } else {
            enc_uvarint(&w->buf, (uint64_t)(c->mint - chks[i - 1].maxt));
            enc_uvarint(&w->buf, (uint64_t)(c->maxt - c->mint));
            enc_varint(&w->buf, (int64_t)(c->ref - chks[i - 1].ref));
        }
    }
    uint8_t hdr[10 + 4];
    size_t hl = 0;
    for (uint64_t v = w->buf.len; v >= 0x80; v >>= 7)
        hdr[hl++] = (uint8_t)(v | 0x80);
    hdr[hl] = (uint8_t)(w->buf.len >> (7 * hl));
    hl++;
    if (iw_write(w, hdr, hl, err) != 0 || iw_write(w, w->buf.data, w->buf.len, err) != 0) return -1;
    put_be32(hdr, chunks_crc32c(0, w->buf.data, w->buf.len));
    if (iw_write(w, hdr, 4, err) != 0) return -1;

    /* Only now that the entry is written: the names' counts and the order
     * check see series that are in the file. */
    for (size_t i = 0; i < n; i++) {
        uint32_t nr = w->refs[2 * i], vr = w->refs[2 * i + 1];
        if (iw_count_name(w, nr) != 0) return pl_err_set(err, "out of memory");
        w->last[i] = (label_t){sym_at(w, nr), sym_at(w, vr)};
    }
    w->nlast = n;
    w->nseries++;
    if (series_id) *series_id = id;
    return 0;
}

/* ---- close: label indices and postings from the series section --------------- */

/* A buffered reader over [start, end) of the index file being written. */
typedef struct iw_reader {
    int fd;
    uint8_t *buf;
    size_t cap, len;
    uint64_t at; /* file offset of buf[0] */
    uint64_t end;
} iw_reader_t;

/* Points *p at n bytes from file offset pos (n <= end - pos), reading them
 * into the buffer when they are not there. */
static int rd_view(iw_reader_t *r, uint64_t pos, size_t n, const uint8_t **p) {
    if (pos >= r->at && pos + n <= r->at + r->len) {
        *p = r->buf + (pos - r->at);
        return 0;
    }
    if (n > r->cap) {
        uint8_t *nb = realloc(r->buf, n);
        if (!nb) return -1;
        r->buf = nb;
        r->cap = n;
    }
    size_t want = r->cap;
    if (want > r->end - pos) want = (size_t)(r->end - pos);
    size_t got = 0;
    while (got < want) {
        ssize_t k = pread(r->fd, r->buf + got, want - got, (off_t)(pos + got));
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) return -1;
        got += (size_t)k;
    }
    r->at = pos;
    r->len = got;
    if (n > got) return -1;
    *p = r->buf;
    return 0;
}

/* One series entry of the section: its id and its label refs (pairs). */
typedef struct iw_entry {
    uint32_t id;
    size_t nlabels;
    decbuf_t d; /* at the first (name ref, value ref) pair */
} iw_entry_t;

/* Reads the series entry at or after *pos (16-aligned starts); 1 with e
 * filled and *pos past it, 0 at the end, -1 on error. */
static int rd_next_series(iw_reader_t *r, uint64_t *pos, iw_entry_t *e) {
    uint64_t p = (*pos + 15) / 16 * 16;
    if (p >= r->end) return 0;
    size_t hn = r->end - p < 10 ? (size_t)(r->end - p) : 10;
    const uint8_t *h;
    if (rd_view(r, p, hn, &h) != 0) return -1;
    decbuf_t d;
    dec_init(&d, h, hn);
    uint64_t len = dec_uvarint(&d);
    size_t vl = (size_t)(d.p - h);
    if (d.err || p + vl + len + 4 > r->end) return -1;
    const uint8_t *body;
    if (rd_view(r, p + vl, (size_t)len, &body) != 0) return -1;
    dec_init(&e->d, body, (size_t)len);
    e->nlabels = (size_t)dec_uvarint(&e->d);
    if (e->d.err) return -1;
    e->id = (uint32_t)(p / 16);
    *pos = p + vl + len + 4;
    return 1;
}

static int cmp_name_ref(const void *a, const void *b) {
    const iw_name_t *x = a, *y = b;
    return (x->ref > y->ref) - (x->ref < y->ref);
}

static int cmp_u64(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

/* fwrite to a temp file, with its byte count. */
static int tmp_write(FILE *f, const char *path, const void *p, size_t n, uint64_t *pos, pl_err_t *err) {
    if (n && fwrite(p, 1, n, f) != n) return pl_err_set(err, "write %s: %s", path, strerror(errno));
    *pos += n;
    return 0;
}

/* A postings offset table entry as kept in the temp file until the
 * postings' place in the index is known: refs and the offset in the
 * postings section. */
typedef struct po_rec {
    uint32_t name, value; /* UINT32_MAX for the ("", "") key */
    uint64_t offset;
} po_rec_t;

/* Copies the file at path to the index. */
static int iw_copy_file(index_writer_t *w, const char *path, uint8_t *buf, size_t cap, pl_err_t *err) {
    FILE *in = fopen(path, "rb");
    if (!in) return pl_err_set(err, "open %s: %s", path, strerror(errno));
    size_t k;
    int rc = 0;
    while (rc == 0 && (k = fread(buf, 1, cap, in)) > 0)
        rc = iw_write(w, buf, k, err);
    if (rc == 0 && ferror(in)) rc = pl_err_set(err, "read %s: %s", path, strerror(errno));
    fclose(in);
    return rc;
}

int index_writer_close(index_writer_t *w, pl_err_t *err) {
    int rc = -1;
    iw_reader_t rd = {.fd = -1};
    FILE *fp = NULL, *fpo = NULL;
    uint64_t *ents = NULL;
    uint64_t *li_off = NULL; /* label index offset per name */
    uint64_t ppos = 0;       /* bytes in the postings temp file */
    uint64_t npo = 0;
    if (iw_finish_symbols(w, err) != 0) goto out;
    const uint64_t series_end = w->pos;
    if (fflush(w->f) != 0) {
        pl_err_set(err, "write %s: %s", w->path, strerror(errno));
        goto out;
    }
    rd.fd = open(w->path, O_RDONLY | O_CLOEXEC);
    if (rd.fd < 0) {
        pl_err_set(err, "open %s: %s", w->path, strerror(errno));
        goto out;
    }
    rd.end = series_end;
    rd.cap = IW_READ_BUF;
    if (!(rd.buf = malloc(rd.cap))) goto oom;
    if (!(fp = fopen(w->tmp_p_path, "w+b"))) {
        pl_err_set(err, "create %s: %s", w->tmp_p_path, strerror(errno));
        goto out;
    }
    if (!(fpo = fopen(w->tmp_po_path, "w+b"))) {
        pl_err_set(err, "create %s: %s", w->tmp_po_path, strerror(errno));
        goto out;
    }
    setvbuf(fp, NULL, _IOFBF, 1 << 20);
    setvbuf(fpo, NULL, _IOFBF, 1 << 16);

    /* Names in symbol order (= byte order); the largest count sizes the
     * batch buffer. */
    if (w->nnames > 1) qsort(w->names, w->nnames, sizeof *w->names, cmp_name_ref);
    uint64_t maxcount = 0;
    for (size_t i = 0; i < w->nnames; i++)
        if (w->names[i].count > maxcount) maxcount = w->names[i].count;
    size_t ents_cap = maxcount > iw_batch_entries ? (size_t)maxcount : iw_batch_entries;
    if (!(ents = malloc(ents_cap * sizeof *ents)) || !(li_off = calloc(w->nnames + 1, sizeof *li_off))) goto oom;

    /* The postings of ("", "") first: every series id, in file order. */
    {
        uint8_t b[8];
        put_be32(b, (uint32_t)(4 + 4 * w->nseries));
        put_be32(b + 4, (uint32_t)w->nseries);
        if (4 + 4 * w->nseries > UINT32_MAX) {
            pl_err_set(err, "index section too large");
            goto out;
        }
        po_rec_t pr = {UINT32_MAX, UINT32_MAX, 0};
        if (tmp_write(fpo, w->tmp_po_path, &pr, sizeof pr, &npo, err) != 0) goto out;
        if (tmp_write(fp, w->tmp_p_path, b, 8, &ppos, err) != 0) goto out;
        uint32_t crc = chunks_crc32c(0, b + 4, 4);
        uint64_t pos = w->toc.series;
        iw_entry_t e;
        int k;
        while ((k = rd_next_series(&rd, &pos, &e)) == 1) {
            put_be32(b, e.id);
            crc = chunks_crc32c(crc, b, 4);
            if (tmp_write(fp, w->tmp_p_path, b, 4, &ppos, err) != 0) goto out;
        }
        if (k < 0) {
            pl_err_set(err, "index: reading back the series of %s failed", w->path);
            goto out;
        }
        put_be32(b, crc);
        if (tmp_write(fp, w->tmp_p_path, b, 4, &ppos, err) != 0) goto out;
    }

    /* Per batch of names: one scan of the series section gathers their
     * (value, id) entries; sorted, they give each name's label index
     * (written to the index now: label indices come first) and its postings
     * lists (to the temp file, with their offset table entries). */
    w->toc.label_indices = w->pos;
    for (size_t a = 0; a < w->nnames;) {
        size_t bn = a;
        uint64_t total = 0;
        while (bn < w->nnames && (bn == a || total + w->names[bn].count <= ents_cap))
            total += w->names[bn++].count;
        /* Per name of the batch, where its entries go in ents. */
        uint64_t *fill = malloc(2 * (bn - a) * sizeof *fill); /* next slot, then the end of its slots */
        if (!fill) goto oom;
        uint64_t o = 0;
        for (size_t i = a; i < bn; i++) {
            fill[i - a] = o;
            o += w->names[i].count;
            fill[bn - a + i - a] = o;
        }
        uint32_t lo = w->names[a].ref, hi = w->names[bn - 1].ref;
        uint64_t pos = w->toc.series;
        iw_entry_t e;
        int k;
        bool bad = false;
        while (!bad && (k = rd_next_series(&rd, &pos, &e)) == 1) {
            for (size_t i = 0; i < e.nlabels; i++) {
                uint64_t nr = dec_uvarint(&e.d), vr = dec_uvarint(&e.d);
                if (e.d.err) break;
                if (nr < lo || nr > hi) continue;
                /* names of the batch are names[a..bn), sorted: find nr */
                size_t l = a, h = bn;
                while (l < h) {
                    size_t m = l + (h - l) / 2;
                    if (w->names[m].ref < nr)
                        l = m + 1;
                    else
                        h = m;
                }
                if (l == bn || w->names[l].ref != nr || fill[l - a] >= fill[bn - a + l - a]) {
                    bad = true;
                    break;
                }
                ents[fill[l - a]++] = (uint64_t)vr << 32 | e.id;
            }
            if (e.d.err) bad = true;
        }
        free(fill);
        if (bad || k < 0) {
            pl_err_set(err, "index: reading back the series of %s failed", w->path);
            goto out;
        }
        o = 0;
        for (size_t i = a; i < bn; i++) {
            uint64_t *v = ents + o;
            size_t n = (size_t)w->names[i].count;
            o += n;
            if (n > 1) qsort(v, n, sizeof *v, cmp_u64);
            /* Label index: the distinct values. */
            strbuf_reset(&w->buf);
            enc_be32(&w->buf, 1);
            enc_be32(&w->buf, 0); /* count, patched below */
            uint32_t nvals = 0;
            for (size_t j = 0; j < n; j++)
                if (j == 0 || v[j] >> 32 != v[j - 1] >> 32) {
                    enc_be32(&w->buf, (uint32_t)(v[j] >> 32));
                    nvals++;
                }
            put_be32((uint8_t *)w->buf.data + 4, nvals);
            if (iw_pad(w, 4, err) != 0) goto out;
            li_off[i] = w->pos;
            if (iw_frame(w, &w->buf, err) != 0) goto out;
            /* Postings: one list per value, 4-aligned. */
            for (size_t j = 0; j < n;) {
                size_t j2 = j;
                while (j2 < n && v[j2] >> 32 == v[j] >> 32)
                    j2++;
                static const uint8_t zeros[4];
                if (tmp_write(fp, w->tmp_p_path, zeros, (size_t)((4 - ppos % 4) % 4), &ppos, err) != 0) goto out;
                po_rec_t pr = {w->names[i].ref, (uint32_t)(v[j] >> 32), ppos};
                if (tmp_write(fpo, w->tmp_po_path, &pr, sizeof pr, &npo, err) != 0) goto out;
                strbuf_reset(&w->buf);
                enc_be32(&w->buf, (uint32_t)(4 * (j2 - j) + 4));
                enc_be32(&w->buf, (uint32_t)(j2 - j));
                for (size_t x = j; x < j2; x++)
                    enc_be32(&w->buf, (uint32_t)v[x]);
                enc_be32(&w->buf, chunks_crc32c(0, w->buf.data + 4, w->buf.len - 4));
                if (tmp_write(fp, w->tmp_p_path, w->buf.data, w->buf.len, &ppos, err) != 0) goto out;
                j = j2;
            }
        }
        a = bn;
    }
    free(ents);
    ents = NULL;

    /* The postings, copied from the temp file (4-aligned there and here). */
    w->toc.postings = w->pos;
    if (iw_pad(w, 4, err) != 0) goto out;
    const uint64_t pbase = w->pos;
    if (fflush(fp) != 0 || fflush(fpo) != 0) {
        pl_err_set(err, "write %s: %s", w->tmp_p_path, strerror(errno));
        goto out;
    }
    if (iw_copy_file(w, w->tmp_p_path, rd.buf, rd.cap, err) != 0) goto out;
    fclose(fp);
    fp = NULL;
    unlink(w->tmp_p_path);

    /* Label offset table. */
    w->toc.label_indices_table = w->pos;
    strbuf_reset(&w->buf);
    enc_be32(&w->buf, (uint32_t)w->nnames);
    for (size_t i = 0; i < w->nnames; i++) {
        const char *nm = sym_at(w, w->names[i].ref);
        enc_uvarint(&w->buf, 1);
        enc_uvarint_str(&w->buf, nm, strlen(nm));
        enc_uvarint(&w->buf, li_off[i]);
    }
    if (iw_frame(w, &w->buf, err) != 0) goto out;

    /* Postings offset table, streamed from the temp file's records; its
     * length is patched in once known. */
    w->toc.postings_table = w->pos;
    {
        npo /= sizeof(po_rec_t);
        uint8_t b[4] = {0};
        if (iw_write(w, b, 4, err) != 0) goto out;
        strbuf_reset(&w->buf);
        enc_be32(&w->buf, (uint32_t)npo);
        uint64_t body = 0;
        uint32_t crc = 0;
        rewind(fpo);
        po_rec_t pr;
        for (uint64_t i = 0; i <= npo; i++) {
            if (i == npo || w->buf.len >= 1 << 16) {
                crc = chunks_crc32c(crc, w->buf.data, w->buf.len);
                body += w->buf.len;
                if (iw_write(w, w->buf.data, w->buf.len, err) != 0) goto out;
                strbuf_reset(&w->buf);
                if (i == npo) break;
            }
            if (fread(&pr, sizeof pr, 1, fpo) != 1) {
                pl_err_set(err, "read %s: %s", w->tmp_po_path, ferror(fpo) ? strerror(errno) : "short file");
                goto out;
            }
            const char *n = pr.name == UINT32_MAX ? "" : sym_at(w, pr.name);
            const char *v = pr.value == UINT32_MAX ? "" : sym_at(w, pr.value);
            enc_uvarint(&w->buf, 2);
            enc_uvarint_str(&w->buf, n, strlen(n));
            enc_uvarint_str(&w->buf, v, strlen(v));
            enc_uvarint(&w->buf, pbase + pr.offset);
        }
        if (body > UINT32_MAX) {
            pl_err_set(err, "index section too large");
            goto out;
        }
        put_be32(b, crc);
        if (iw_write(w, b, 4, err) != 0) goto out;
        put_be32(b, (uint32_t)body);
        if (fflush(w->f) != 0 || pwrite(fileno(w->f), b, 4, (off_t)w->toc.postings_table) != 4) {
            pl_err_set(err, "write %s: %s", w->path, strerror(errno));
            goto out;
        }
    }
    fclose(fpo);
    fpo = NULL;
    unlink(w->tmp_po_path);

    /* TOC. */
    strbuf_reset(&w->buf);
    enc_be64(&w->buf, w->toc.symbols);
    enc_be64(&w->buf, w->toc.series);
    enc_be64(&w->buf, w->toc.label_indices);
    enc_be64(&w->buf, w->toc.label_indices_table);
    enc_be64(&w->buf, w->toc.postings);
    enc_be64(&w->buf, w->toc.postings_table);
    enc_be32(&w->buf, chunks_crc32c(0, w->buf.data, w->buf.len));
    if (iw_write(w, w->buf.data, w->buf.len, err) != 0) goto out;
    if (fflush(w->f) != 0 || fsync(fileno(w->f)) != 0) {
        pl_err_set(err, "sync %s: %s", w->path, strerror(errno));
        goto out;
    }
    rc = fclose(w->f);
    w->f = NULL;
    if (rc != 0) pl_err_set(err, "close %s: %s", w->path, strerror(errno));
    goto out;
oom:
    pl_err_set(err, "out of memory");
out:
    if (fp) fclose(fp);
    if (fpo) fclose(fpo);
    if (rd.fd >= 0) close(rd.fd);
    free(rd.buf);
    free(ents);
    free(li_off);
    index_writer_abort(w);
    return rc;
}

/* ---- reader ------------------------------------------------------------------- */

typedef struct po_entry {
    const char *name, *value; /* NUL-terminated copies in r->strs */
    uint64_t offset;
} po_entry_t;

typedef struct name_range {
    const char *name;
    size_t start, end; /* [start, end) in r->po */
} name_range_t;

struct index_reader {
    const uint8_t *b;
    size_t len;
    bool mapped;
    uint8_t version;
    index_toc_t toc;
    char **syms; /* into strs */
    size_t nsyms;
    char *strs;
    po_entry_t *po;
    size_t npo;
    char *postr;
    name_range_t *names;
    size_t nnames;
};

void index_reader_close(index_reader_t *r) {
    if (!r) return;
    if (r->mapped && r->len) munmap((void *)r->b, r->len);
    free(r->syms);
    free(r->strs);
    free(r->po);
    free(r->postr);
    free(r->names);
    free(r);
}

/* Checks the frame at off: BE32 len, body, CRC. Sets body to the len bytes. */
static int read_frame(const index_reader_t *r, uint64_t off, decbuf_t *body, const char *what, pl_err_t *err) {
    if (off > r->len || r->len - off < 8)
        return pl_err_set(err, "index: %s at %llu out of bounds", what, (unsigned long long)off);
    uint32_t n = get_be32(r->b + off);
    if (n > r->len - off - 8) return pl_err_set(err, "index: %s length %u runs past the end", what, n);
    const uint8_t *p = r->b + off + 4;
    if (chunks_crc32c(0, p, n) != get_be32(p + n)) return pl_err_set(err, "index: %s checksum mismatch", what);
    dec_init(body, p, n);
    return 0;
}

static int read_symbols(index_reader_t *r, pl_err_t *err) {
    decbuf_t d;
    if (read_frame(r, r->toc.symbols, &d, "symbol table", err) != 0) return -1;
    uint32_t n = dec_be32(&d);
    /* Each symbol takes at least one byte. */
    if (d.err || n > dec_len(&d)) return pl_err_set(err, "index: symbol count %u too large", n);
    r->syms = malloc((n ? n : 1) * sizeof *r->syms);
    r->strs = malloc(dec_len(&d) + n + 1);
    if (!r->syms || !r->strs) return pl_err_set(err, "out of memory");
    char *out = r->strs;
    for (uint32_t i = 0; i < n; i++) {
        size_t len;
        const char *s = dec_uvarint_str(&d, &len);
        if (d.err) return pl_err_set(err, "index: symbol %u malformed", i);
        memcpy(out, s, len);
        out[len] = '\0';
        r->syms[i] = out;
        out += len + 1;
    }
    r->nsyms = n;
    return 0;
}

static int read_postings_table(index_reader_t *r, pl_err_t *err) {
    decbuf_t d;
    if (read_frame(r, r->toc.postings_table, &d, "postings offset table", err) != 0) return -1;
    uint32_t n = dec_be32(&d);
    if (d.err || n > dec_len(&d) / 4) return pl_err_set(err, "index: postings table count %u too large", n);
    r->po = malloc((n ? n : 1) * sizeof *r->po);
    r->postr = malloc(dec_len(&d) + 2 * (size_t)n + 1);
    r->names = malloc((n ? n : 1) * sizeof *r->names);
    if (!r->po || !r->postr || !r->names) return pl_err_set(err, "out of memory");
    char *out = r->postr;
    for (uint32_t i = 0; i < n; i++) {
        if (dec_uvarint(&d) != 2 || d.err) return pl_err_set(err, "index: postings table entry %u: bad key count", i);
        size_t nl, vl;
        const char *name = dec_uvarint_str(&d, &nl);
        const char *value = dec_uvarint_str(&d, &vl);
        uint64_t off = dec_uvarint(&d);
        if (d.err) return pl_err_set(err, "index: postings table entry %u malformed", i);
        po_entry_t *e = &r->po[i];
        memcpy(out, name, nl);
        out[nl] = '\0';
        e->name = out;
        out += nl + 1;
        memcpy(out, value, vl);
        out[vl] = '\0';
        e->value = out;
        out += vl + 1;
        e->offset = off;
        if (i > 0) {
            int c = strcmp(r->po[i - 1].name, e->name);
            if (c > 0 || (c == 0 && strcmp(r->po[i - 1].value, e->value) >= 0))
                return pl_err_set(err, "index: postings table not sorted at entry %u", i);
        }
        if (e->name[0] == '\0') continue;
        if (r->nnames == 0 || strcmp(r->names[r->nnames - 1].name, e->name) != 0)
            r->names[r->nnames++] = (name_range_t){e->name, i, i};
        r->names[r->nnames - 1].end = i + 1;
    }
    r->npo = n;
    return 0;
}

static index_reader_t *open_common(index_reader_t *r, pl_err_t *err) {
    if (r->len < 5 + INDEX_TOC_BYTES) {
        pl_err_set(err, "index: file too short (%zu bytes)", r->len);
        goto fail;
    }
    if (get_be32(r->b) != INDEX_MAGIC) {
        pl_err_set(err, "index: invalid magic number %08x", get_be32(r->b));
        goto fail;
    }
    r->version = r->b[4];
    if (r->version != 2 && r->version != 3) {
        pl_err_set(err, "index: unsupported format version %u", r->version);
        goto fail;
    }
    const uint8_t *t = r->b + r->len - INDEX_TOC_BYTES;
    if (chunks_crc32c(0, t, 48) != get_be32(t + 48)) {
        pl_err_set(err, "index: TOC checksum mismatch");
        goto fail;
    }
    r->toc = (index_toc_t){get_be64(t),      get_be64(t + 8),  get_be64(t + 16),
                           get_be64(t + 24), get_be64(t + 32), get_be64(t + 40)};
    if (read_symbols(r, err) != 0 || read_postings_table(r, err) != 0) goto fail;
    return r;
fail:
    index_reader_close(r);
    return NULL;
}

index_reader_t *index_reader_open_bytes(const uint8_t *b, size_t n, pl_err_t *err) {
    index_reader_t *r = calloc(1, sizeof *r);
    if (!r) {
        pl_err_set(err, "out of memory");
        return NULL;
    }
    r->b = b;
    r->len = n;
    return open_common(r, err);
}

index_reader_t *index_reader_open(const char *path, pl_err_t *err) {
    int fd = open(path, O_RDONLY);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0) {
        pl_err_set(err, "open %s: %s", path, strerror(errno));
        if (fd >= 0) close(fd);
        return NULL;
    }
    if (st.st_size == 0) {
        close(fd);
        pl_err_set(err, "index %s: empty file", path);
        return NULL;
    }
    void *m = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_SHARED, fd, 0);
    close(fd);
    if (m == MAP_FAILED) {
        pl_err_set(err, "mmap %s: %s", path, strerror(errno));
        return NULL;
    }
    index_reader_t *r = calloc(1, sizeof *r);
    if (!r) {
        munmap(m, (size_t)st.st_size);
        pl_err_set(err, "out of memory");
        return NULL;
    }
    r->b = m;
    r->len = (size_t)st.st_size;
    r->mapped = true;
    r = open_common(r, err);
    if (!r) pl_err_prefix(err, "%s", path);
    return r;
}

const index_toc_t *index_reader_toc(const index_reader_t *r) { return &r->toc; }
uint8_t index_reader_version(const index_reader_t *r) { return r->version; }
uint64_t index_reader_size(const index_reader_t *r) { return r->len; }
size_t index_reader_num_symbols(const index_reader_t *r) { return r->nsyms; }
const char *index_reader_symbol(const index_reader_t *r, uint32_t ref) { return ref < r->nsyms ? r->syms[ref] : NULL; }

static const name_range_t *find_name(const index_reader_t *r, const char *name) {
    size_t lo = 0, hi = r->nnames;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(r->names[mid].name, name);
        if (c == 0) return &r->names[mid];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

int index_reader_postings(const index_reader_t *r, const char *name, const char *value, uint32_t **ids, size_t *n,
                          pl_err_t *err) {
    *ids = NULL;
    *n = 0;
    size_t lo, hi;
    if (name[0] == '\0') {
        if (value[0] != '\0' || r->npo == 0 || r->po[0].name[0] != '\0') return 0;
        lo = 0;
        hi = 1;
    } else {
        const name_range_t *nr = find_name(r, name);
        if (!nr) return 0;
        lo = nr->start;
        hi = nr->end;
    }
    const po_entry_t *e = NULL;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(r->po[mid].value, value);
        if (c == 0) {
            e = &r->po[mid];
            break;
        }
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (!e) return 0;
    if (e->offset > r->len || r->len - e->offset < 8)
        return pl_err_set(err, "index: postings list at %llu out of bounds", (unsigned long long)e->offset);
    uint32_t len = get_be32(r->b + e->offset);
    if (len < 4 || len > r->len - e->offset - 4)
        return pl_err_set(err, "index: postings list at %llu runs past the end", (unsigned long long)e->offset);
    const uint8_t *p = r->b + e->offset + 4;
    uint32_t cnt = get_be32(p);
    if ((uint64_t)cnt * 4 != (uint64_t)len - 4)
        return pl_err_set(err, "index: postings list at %llu: count %u does not match length %u",
                          (unsigned long long)e->offset, cnt, len);
    if (cnt == 0) return 0;
    uint32_t *v = malloc((size_t)cnt * sizeof *v);
    if (!v) return pl_err_set(err, "out of memory");
    for (uint32_t i = 0; i < cnt; i++)
        v[i] = get_be32(p + 4 + 4 * (size_t)i);
    *ids = v;
    *n = cnt;
    return 0;
}

int index_reader_label_names(const index_reader_t *r, index_string_fn fn, void *ctx) {
    for (size_t i = 0; i < r->nnames; i++) {
        int rc = fn(ctx, r->names[i].name);
        if (rc) return rc;
    }
    return 0;
}

int index_reader_label_values(const index_reader_t *r, const char *name, index_string_fn fn, void *ctx) {
    const name_range_t *nr = find_name(r, name);
    if (!nr) return 0;
    for (size_t i = nr->start; i < nr->end; i++) {
        int rc = fn(ctx, r->po[i].value);
        if (rc) return rc;
    }
    return 0;
}

size_t index_reader_num_label_values(const index_reader_t *r, const char *name) {
    const name_range_t *nr = find_name(r, name);
    return nr ? nr->end - nr->start : 0;
}

void index_series_free(index_series_t *s) {
    free(s->labels);
    free(s->chks);
    memset(s, 0, sizeof *s);
}

int index_reader_series(const index_reader_t *r, uint32_t id, index_series_t *s, pl_err_t *err) {
    uint64_t off = (uint64_t)id * 16;
    s->nlabels = s->nchks = 0;
    if (off >= r->len) return pl_err_set(err, "index: series %u out of bounds", id);
    decbuf_t d;
    dec_init(&d, r->b + off, r->len - off);
    uint64_t n = dec_uvarint(&d);
    if (d.err || n > dec_len(&d) || dec_len(&d) - n < 4)
        return pl_err_set(err, "index: series %u runs past the end", id);
    if (chunks_crc32c(0, d.p, n) != get_be32(d.p + n)) return pl_err_set(err, "index: series %u checksum mismatch", id);
    d.end = d.p + n;
    uint64_t nl = dec_uvarint(&d);
    if (d.err || nl > dec_len(&d) / 2) return pl_err_set(err, "index: series %u: bad label count", id);
    if (nl > s->cap_labels) {
        label_t *nv = realloc(s->labels, nl * sizeof *nv);
        if (!nv) return pl_err_set(err, "out of memory");
        s->labels = nv;
        s->cap_labels = nl;
    }
    for (uint64_t i = 0; i < nl; i++) {
        uint64_t nr = dec_uvarint(&d), vr = dec_uvarint(&d);
        if (d.err || nr >= r->nsyms || vr >= r->nsyms)
            return pl_err_set(err, "index: series %u: label symbol out of range", id);
        s->labels[i] = (label_t){r->syms[nr], r->syms[vr]};
    }
    s->nlabels = (size_t)nl;
    uint64_t nc = dec_uvarint(&d);
    if (d.err || nc > dec_len(&d) / 3) return pl_err_set(err, "index: series %u: bad chunk count", id);
    if (nc > s->cap_chks) {
        chunk_meta_t *nv = realloc(s->chks, nc * sizeof *nv);
        if (!nv) return pl_err_set(err, "out of memory");
        s->chks = nv;
        s->cap_chks = nc;
    }
    int64_t prev_maxt = 0;
    uint64_t prev_ref = 0;
    for (uint64_t i = 0; i < nc; i++) {
        chunk_meta_t *c = &s->chks[i];
        memset(c, 0, sizeof *c);
        if (i == 0) {
            c->mint = dec_varint(&d);
            c->maxt = (int64_t)((uint64_t)c->mint + dec_uvarint(&d));
            c->ref = dec_uvarint(&d);
        } else {
            c->mint = (int64_t)((uint64_t)prev_maxt + dec_uvarint(&d));
            c->maxt = (int64_t)((uint64_t)c->mint + dec_uvarint(&d));
            c->ref = prev_ref + (uint64_t)dec_varint(&d);
        }
        prev_maxt = c->maxt;
        prev_ref = c->ref;
    }
    if (d.err) return pl_err_set(err, "index: series %u: malformed chunk metas", id);
    s->nchks = (size_t)nc;
    return 0;
}

int index_reader_all_series(const index_reader_t *r, uint32_t **ids, size_t *n, pl_err_t *err) {
    return index_reader_postings(r, "", "", ids, n, err);
}
