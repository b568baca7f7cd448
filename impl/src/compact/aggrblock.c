/* aggrblock.c — a block writer that accepts aggregate chunks, and a
 * chunk-copying merge of non-overlapping blocks. See aggrblock.h. */
#include "compact/aggrblock.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "tsdb/aggrchunk.h"
#include "tsdb/block.h"
#include "tsdb/chunkenc.h"
#include "tsdb/index.h"
#include "tsdb/tombstones.h"

struct aggrblock_writer {
    char ulid[ULID_LEN + 1];
    char *parent, *tmp;
    chunk_writer_t *cw;
    index_writer_t *iw;
    uint64_t nsamples, nseries, nchunks;
};

void aggrblock_writer_abort(aggrblock_writer_t *w) {
    if (!w) return;
    if (w->cw) chunk_writer_close(w->cw, NULL);
    if (w->iw) index_writer_abort(w->iw);
    if (w->tmp) block_rm_rf(w->tmp);
    free(w->tmp);
    free(w->parent);
    free(w);
}

aggrblock_writer_t *aggrblock_writer_open(const char *parent_dir, pl_err_t *err) {
    aggrblock_writer_t *w = calloc(1, sizeof *w);
    char path[4200];
    if (!w || !(w->parent = strdup(parent_dir))) {
        free(w);
        pl_err_set(err, "out of memory");
        return NULL;
    }
    if (!(w->tmp = block_tmp_dir_create(parent_dir, w->ulid, err))) {
        aggrblock_writer_abort(w);
        return NULL;
    }
    snprintf(path, sizeof path, "%s/chunks", w->tmp);
    if (!(w->cw = chunk_writer_open(path, 0, err))) goto fail;
    snprintf(path, sizeof path, "%s/index", w->tmp);
    if (!(w->iw = index_writer_open(path, err))) goto fail;
    return w;
fail:
    aggrblock_writer_abort(w);
    return NULL;
}

const char *aggrblock_writer_ulid(const aggrblock_writer_t *w) { return w->ulid; }

int aggrblock_writer_add_symbol(aggrblock_writer_t *w, const char *s, pl_err_t *err) {
    return index_writer_add_symbol(w->iw, s, err);
}

int aggrblock_writer_add_series(aggrblock_writer_t *w, const label_t *ls, size_t n, chunk_meta_t *chks, size_t nchks,
                                pl_err_t *err) {
    if (nchks == 0) return 0;
    uint64_t ns = 0;
    for (size_t i = 0; i < nchks; i++) {
        if (i > 0 && chks[i].mint <= chks[i - 1].maxt)
            return pl_err_set(err, "block: chunks %zu and %zu of a series overlap ([%lld, %lld] and [%lld, %lld])", i - 1,
                              i, (long long)chks[i - 1].mint, (long long)chks[i - 1].maxt, (long long)chks[i].mint,
                              (long long)chks[i].maxt);
        if (chks[i].encoding == CHUNKENC_XOR) {
            if (chks[i].len < XOR_HEADER_BYTES) return pl_err_set(err, "block: XOR chunk %zu too short", i);
            ns += xor_chunk_count_bytes(chks[i].data);
        } else if (chks[i].encoding == AGGRCHUNK_ENCODING) {
            aggrchunk_t ac;
            if (aggrchunk_parse(chks[i].data, chks[i].len, &ac, err) != 0) return -1;
            ns += aggrchunk_num_samples(&ac);
        } else {
            return pl_err_set(err, "block: chunk %zu: unsupported encoding %u", i, chks[i].encoding);
        }
    }
    if (chunk_writer_write_series(w->cw, chks, nchks, err) != 0) return -1;
    if (index_writer_add_series(w->iw, ls, n, chks, nchks, NULL, err) != 0) return -1;
    w->nsamples += ns;
    w->nchunks += nchks;
    w->nseries++;
    return 0;
}

int aggrblock_writer_commit(aggrblock_writer_t *w, const block_meta_t *tmpl, char ulid_out[ULID_LEN + 1],
                            pl_err_t *err) {
    ulid_out[0] = '\0';
    int rc = -1;
    chunk_writer_t *cw = w->cw;
    index_writer_t *iw = w->iw;
    w->cw = NULL;
    w->iw = NULL;
    int crc = chunk_writer_close(cw, err);
    if (index_writer_close(iw, crc == 0 ? err : NULL) != 0 || crc != 0) goto out;
    if (block_tmp_dir_commit(w->parent, &w->tmp, w->ulid, tmpl, w->nsamples, w->nseries, w->nchunks, err) != 0)
        goto out;
    memcpy(ulid_out, w->ulid, ULID_LEN + 1);
    rc = 0;
out:
    aggrblock_writer_abort(w);
    return rc;
}

/* ---- merge ----------------------------------------------------------------------- */

typedef struct cursor {
    block_t *b;
    uint32_t *ids;
    size_t nids, pos;
    index_series_t cur;
} cursor_t;

static int cmp_cstr(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }
static int cmp_chunk(const void *a, const void *b) {
    const chunk_meta_t *x = a, *y = b;
    return (x->mint > y->mint) - (x->mint < y->mint);
}

static int load(cursor_t *c, pl_err_t *err) {
    if (c->pos >= c->nids) return 0;
    if (index_reader_series(c->b->index, c->ids[c->pos], &c->cur, err) != 0)
        return pl_err_prefix(err, "block %s: series %u", c->b->dir, c->ids[c->pos]);
    return 0;
}

int aggrblock_merge(const char *parent_dir, char *const *dirs, size_t ndirs, const block_meta_t *tmpl,
                    char ulid_out[ULID_LEN + 1], pl_err_t *err) {
    ulid_out[0] = '\0';
    int rc = -1;
    cursor_t *cur = calloc(ndirs + 1, sizeof *cur);
    size_t *sel = calloc(ndirs + 1, sizeof *sel);
    const char **syms = NULL;
    chunk_meta_t *chks = NULL;
    size_t capchks = 0;
    aggrblock_writer_t *w = NULL;
    if (!cur || !sel) {
        pl_err_set(err, "out of memory");
        goto out;
    }
    size_t nsyms_all = 0;
    for (size_t i = 0; i < ndirs; i++) {
        if (!(cur[i].b = block_open(dirs[i], err))) goto out;
        if (index_reader_postings(cur[i].b->index, "", "", &cur[i].ids, &cur[i].nids, err) != 0) goto out;
        if (load(&cur[i], err) != 0) goto out;
        nsyms_all += index_reader_num_symbols(cur[i].b->index);
    }
    /* The union of the symbol tables, "" first. */
    if (!(syms = malloc((nsyms_all + 1) * sizeof *syms))) {
        pl_err_set(err, "out of memory");
        goto out;
    }
    size_t ns = 0;
    syms[ns++] = "";
    for (size_t i = 0; i < ndirs; i++)
        for (size_t k = 0; k < index_reader_num_symbols(cur[i].b->index); k++)
            syms[ns++] = index_reader_symbol(cur[i].b->index, (uint32_t)k);
    qsort(syms, ns, sizeof *syms, cmp_cstr);
    if (!(w = aggrblock_writer_open(parent_dir, err))) goto out;
    for (size_t i = 0; i < ns; i++)
        if ((i == 0 || strcmp(syms[i], syms[i - 1]) != 0) && aggrblock_writer_add_symbol(w, syms[i], err) != 0) goto out;

    for (;;) {
        size_t nsel = 0;
        const index_series_t *min = NULL;
        for (size_t i = 0; i < ndirs; i++) {
            cursor_t *c = &cur[i];
            if (c->pos >= c->nids) continue;
            int cmp = min ? labels_compare(c->cur.labels, c->cur.nlabels, min->labels, min->nlabels) : -1;
            if (cmp < 0) {
                min = &c->cur;
                nsel = 0;
            }
            if (cmp <= 0) sel[nsel++] = i;
        }
        if (nsel == 0) break;
        size_t nchks = 0;
        for (size_t k = 0; k < nsel; k++) {
            cursor_t *c = &cur[sel[k]];
            for (size_t j = 0; j < c->cur.nchks; j++) {
                if (nchks == capchks) {
                    size_t nc = capchks ? capchks * 2 : 64;
                    chunk_meta_t *nv = realloc(chks, nc * sizeof *nv);
                    if (!nv) {
                        pl_err_set(err, "out of memory");
                        goto out;
                    }
                    chks = nv;
                    capchks = nc;
                }
                chunk_meta_t *m = &chks[nchks++];
                *m = c->cur.chks[j];
                const uint8_t *data;
                size_t len;
                if (chunk_reader_get(c->b->chunks, m->ref, &m->encoding, &data, &len, err) != 0) {
                    pl_err_prefix(err, "block %s", c->b->dir);
                    goto out;
                }
                m->data = data;
                m->len = (uint32_t)len;
            }
        }
        if (nchks > 1) qsort(chks, nchks, sizeof *chks, cmp_chunk);
        const index_series_t *s = &cur[sel[0]].cur;
        if (aggrblock_writer_add_series(w, s->labels, s->nlabels, chks, nchks, err) != 0) {
            strbuf_t lb = STRBUF_INIT;
            labels_format(&lb, s->labels, s->nlabels);
            pl_err_prefix(err, "series %s", lb.data ? lb.data : "{}");
            strbuf_free(&lb);
            goto out;
        }
        for (size_t k = 0; k < nsel; k++) {
            cursor_t *c = &cur[sel[k]];
            c->pos++;
            if (load(c, err) != 0) goto out;
        }
    }
    aggrblock_writer_t *wc = w;
    w = NULL;
    rc = aggrblock_writer_commit(wc, tmpl, ulid_out, err);
out:
    aggrblock_writer_abort(w);
    if (cur)
        for (size_t i = 0; i < ndirs; i++) {
            free(cur[i].ids);
            index_series_free(&cur[i].cur);
            if (cur[i].b) block_close(cur[i].b);
        }
    free(cur);
    free(sel);
    free(syms);
    free(chks);
    return rc;
}
