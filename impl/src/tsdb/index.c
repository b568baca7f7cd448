/* index.c — index file v2 writer and reader. See index.h.
 *
 * Writer. Symbols are kept as a sorted array so a label string maps to its
 * reference by binary search. Each series entry is written as it arrives;
 * (name ref, value ref, series id) triples are collected and sorted at close,
 * which gives, in file order, exactly what Prometheus 2.x emits: one label
 * index per name (the sorted value refs), the postings lists with ("", "")
 * first, the label offset table, the postings offset table, then the TOC.
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

typedef struct triple {
    uint32_t name, value, id;
} triple_t;

struct index_writer {
    char *path;
    FILE *f;
    uint64_t pos;
    index_toc_t toc;
    char **syms;
    size_t nsyms, capsyms;
    bool symbols_done;
    triple_t *tr;
    size_t ntr, captr;
    uint32_t *all; /* every series id in order */
    size_t nall, capall;
    label_t *last; /* previous series' labels (pointers into syms) for the order check */
    size_t nlast, caplast;
    strbuf_t buf;
};

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

index_writer_t *index_writer_open(const char *path, pl_err_t *err) {
    index_writer_t *w = calloc(1, sizeof *w);
    if (!w || !(w->path = strdup(path))) {
        free(w);
        pl_err_set(err, "out of memory");
        return NULL;
    }
    w->f = fopen(path, "wb");
    if (!w->f) {
        pl_err_set(err, "create %s: %s", path, strerror(errno));
        free(w->path);
        free(w);
        return NULL;
    }
    setvbuf(w->f, NULL, _IOFBF, 1 << 20);
    strbuf_init(&w->buf);
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
    for (size_t i = 0; i < w->nsyms; i++)
        free(w->syms[i]);
    free(w->syms);
    free(w->tr);
    free(w->all);
    free(w->last);
    strbuf_free(&w->buf);
    free(w->path);
    free(w);
}

int index_writer_add_symbol(index_writer_t *w, const char *s, pl_err_t *err) {
    if (w->symbols_done) return pl_err_set(err, "index: symbol %s added after the first series", s);
    if (w->nsyms > 0 && strcmp(w->syms[w->nsyms - 1], s) >= 0)
        return pl_err_set(err, "index: symbol \"%s\" out of order", s);
    if (w->nsyms == w->capsyms) {
        size_t nc = w->capsyms ? w->capsyms * 2 : 256;
        char **nv = realloc(w->syms, nc * sizeof *nv);
        if (!nv) return pl_err_set(err, "out of memory");
        w->syms = nv;
        w->capsyms = nc;
    }
    if (!(w->syms[w->nsyms] = strdup(s))) return pl_err_set(err, "out of memory");
    w->nsyms++;
    return 0;
}

static int iw_finish_symbols(index_writer_t *w, pl_err_t *err) {
    if (w->symbols_done) return 0;
    w->symbols_done = true;
    strbuf_reset(&w->buf);
    enc_be32(&w->buf, (uint32_t)w->nsyms);
    for (size_t i = 0; i < w->nsyms; i++)
        enc_uvarint_str(&w->buf, w->syms[i], strlen(w->syms[i]));
    if (iw_frame(w, &w->buf, err) != 0) return -1;
    w->toc.series = w->pos;
    return 0;
}

static bool sym_find(const index_writer_t *w, const char *s, uint32_t *ref) {
    size_t lo = 0, hi = w->nsyms;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(w->syms[mid], s);
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

int index_writer_add_series(index_writer_t *w, const label_t *ls, size_t n, const chunk_meta_t *chks, size_t nchks,
                            uint32_t *series_id, pl_err_t *err) {
    if (iw_finish_symbols(w, err) != 0) return -1;
    if (w->nall > 0 && labels_compare(w->last, w->nlast, ls, n) >= 0)
        return pl_err_set(err, "index: series added out of order");
    for (size_t i = 1; i < n; i++)
        if (strcmp(ls[i - 1].name, ls[i].name) >= 0) return pl_err_set(err, "index: labels not sorted by name");
    for (size_t i = 1; i < nchks; i++)
        if (chks[i].mint <= chks[i - 1].maxt || chks[i].ref <= chks[i - 1].ref)
            return pl_err_set(err, "index: chunks out of order or overlapping");
    if (iw_pad(w, 16, err) != 0) return -1;
    if (w->pos / 16 > UINT32_MAX) return pl_err_set(err, "index: series offset exceeds 64 GiB");
    uint32_t id = (uint32_t)(w->pos / 16);

    if (w->ntr + n > w->captr) {
        size_t nc = w->captr ? w->captr * 2 : 1024;
        while (nc < w->ntr + n)
            nc *= 2;
        triple_t *nv = realloc(w->tr, nc * sizeof *nv);
        if (!nv) return pl_err_set(err, "out of memory");
        w->tr = nv;
        w->captr = nc;
    }
    if (w->nall == w->capall) {
        size_t nc = w->capall ? w->capall * 2 : 1024;
        uint32_t *nv = realloc(w->all, nc * sizeof *nv);
        if (!nv) return pl_err_set(err, "out of memory");
        w->all = nv;
        w->capall = nc;
    }
    if (n > w->caplast) {
        label_t *nv = realloc(w->last, n * sizeof *nv);
        if (!nv) return pl_err_set(err, "out of memory");
        w->last = nv;
        w->caplast = n;
    }

    strbuf_reset(&w->buf);
    enc_uvarint(&w->buf, n);
    for (size_t i = 0; i < n; i++) {
        uint32_t nr, vr;
        if (!sym_find(w, ls[i].name, &nr) || !sym_find(w, ls[i].value, &vr))
            return pl_err_set(err, "index: label %s=\"%s\" has no symbol", ls[i].name, ls[i].value);
        enc_uvarint(&w->buf, nr);
        enc_uvarint(&w->buf, vr);
        w->tr[w->ntr + i] = (triple_t){nr, vr, id};
        w->last[i] = (label_t){w->syms[nr], w->syms[vr]};
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
    strbuf_t hdr = STRBUF_INIT;
    enc_uvarint(&hdr, w->buf.len);
    int rc = iw_write(w, hdr.data, hdr.len, err);
    strbuf_free(&hdr);
    if (rc != 0 || iw_write(w, w->buf.data, w->buf.len, err) != 0) return -1;
    uint8_t c4[4];
    put_be32(c4, chunks_crc32c(0, w->buf.data, w->buf.len));
    if (iw_write(w, c4, 4, err) != 0) return -1;

    w->ntr += n;
    w->nlast = n;
    w->all[w->nall++] = id;
    if (series_id) *series_id = id;
    return 0;
}

static int cmp_triple(const void *a, const void *b) {
    const triple_t *x = a, *y = b;
    if (x->name != y->name) return x->name < y->name ? -1 : 1;
    if (x->value != y->value) return x->value < y->value ? -1 : 1;
    return x->id < y->id ? -1 : x->id > y->id;
}

typedef struct offset_entry {
    uint32_t name, value; /* symbol refs; UINT32_MAX for the ("", "") key */
    uint64_t offset;
} offset_entry_t;

static int iw_postings_list(index_writer_t *w, const uint32_t *ids, size_t n, size_t stride, pl_err_t *err) {
    if (iw_pad(w, 4, err) != 0) return -1;
    strbuf_reset(&w->buf);
    enc_be32(&w->buf, (uint32_t)n);
    for (size_t i = 0; i < n; i++)
        enc_be32(&w->buf, ids[i * stride]);
    return iw_frame(w, &w->buf, err);
}

int index_writer_close(index_writer_t *w, pl_err_t *err) {
    int rc = -1;
    offset_entry_t *po = NULL; /* postings offset table entries */
    uint64_t *li_off = NULL;   /* label index offset per name */
    uint32_t *names = NULL, *ids = NULL;
    size_t npo = 0, nnames = 0;
    if (iw_finish_symbols(w, err) != 0) goto out;
    if (w->ntr > 1) qsort(w->tr, w->ntr, sizeof *w->tr, cmp_triple);
    names = malloc((w->ntr + 1) * sizeof *names);
    li_off = malloc((w->ntr + 1) * sizeof *li_off);
    po = malloc((w->ntr + 1) * sizeof *po);
    ids = malloc((w->ntr + 1) * sizeof *ids);
    if (!names || !li_off || !po || !ids) {
        pl_err_set(err, "out of memory");
        goto out;
    }

    /* Label indices: per name, the sorted distinct value refs. */
    w->toc.label_indices = w->pos;
    for (size_t i = 0; i < w->ntr;) {
        size_t j = i;
        uint32_t name = w->tr[i].name;
        strbuf_reset(&w->buf);
        enc_be32(&w->buf, 1);
        enc_be32(&w->buf, 0); /* count, patched below */
        uint32_t nvals = 0;
        while (j < w->ntr && w->tr[j].name == name) {
            uint32_t v = w->tr[j].value;
            enc_be32(&w->buf, v);
            nvals++;
            while (j < w->ntr && w->tr[j].name == name && w->tr[j].value == v)
                j++;
        }
        put_be32((uint8_t *)w->buf.data + 4, nvals);
        if (iw_pad(w, 4, err) != 0) goto out;
        names[nnames] = name;
        li_off[nnames++] = w->pos;
        if (iw_frame(w, &w->buf, err) != 0) goto out;
        i = j;
    }

    /* Postings: ("", "") over all series, then each (name, value). */
    w->toc.postings = w->pos;
    if (iw_pad(w, 4, err) != 0) goto out;
    po[npo++] = (offset_entry_t){UINT32_MAX, UINT32_MAX, w->pos};
    if (iw_postings_list(w, w->all, w->nall, 1, err) != 0) goto out;
    for (size_t i = 0; i < w->ntr;) {
        size_t j = i, k = 0;
        while (j < w->ntr && w->tr[j].name == w->tr[i].name && w->tr[j].value == w->tr[i].value)
            ids[k++] = w->tr[j++].id;
        if (iw_pad(w, 4, err) != 0) goto out;
        po[npo++] = (offset_entry_t){w->tr[i].name, w->tr[i].value, w->pos};
        if (iw_postings_list(w, ids, k, 1, err) != 0) goto out;
        i = j;
    }

    /* Label offset table. */
    w->toc.label_indices_table = w->pos;
    strbuf_reset(&w->buf);
    enc_be32(&w->buf, (uint32_t)nnames);
    for (size_t i = 0; i < nnames; i++) {
        enc_uvarint(&w->buf, 1);
        enc_uvarint_str(&w->buf, w->syms[names[i]], strlen(w->syms[names[i]]));
        enc_uvarint(&w->buf, li_off[i]);
    }
    if (iw_frame(w, &w->buf, err) != 0) goto out;

    /* Postings offset table. */
    w->toc.postings_table = w->pos;
    strbuf_reset(&w->buf);
    enc_be32(&w->buf, (uint32_t)npo);
    for (size_t i = 0; i < npo; i++) {
        enc_uvarint(&w->buf, 2);
        const char *n = po[i].name == UINT32_MAX ? "" : w->syms[po[i].name];
        const char *v = po[i].value == UINT32_MAX ? "" : w->syms[po[i].value];
        enc_uvarint_str(&w->buf, n, strlen(n));
        enc_uvarint_str(&w->buf, v, strlen(v));
        enc_uvarint(&w->buf, po[i].offset);
    }
    if (iw_frame(w, &w->buf, err) != 0) goto out;

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
out:
    free(po);
    free(li_off);
    free(names);
    free(ids);
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
