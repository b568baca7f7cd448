/* compact.c — the leveled planner and the streaming block merge. See compact.h.
 *
 * The merge keeps, per input block, its sorted series ids (the ("", "")
 * postings, which are in label order) and a cursor with the current series
 * decoded. Each step takes the smallest label set among the cursors, gathers
 * that series' chunks from every block holding it, writes them, and advances
 * those cursors. Per series the chunks are sorted by mint and split into
 * runs of overlapping chunks: a run of one chunk with no tombstone over it
 * is copied (its bytes point into the input's mapping); any other run is
 * decoded into a scratch sample buffer, sorted by (t, block), de-duplicated
 * and re-encoded. Memory is one series' samples at most, plus the inputs'
 * index readers and all-series postings (the output index writer keeps no
 * per-series state, index.h). */
#include "tsdb/compact.h"

#include <dirent.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tsdb/block.h"
#include "tsdb/chunkenc.h"

void compact_free_dirs(char **dirs, size_t n) {
    for (size_t i = 0; i < n; i++)
        free(dirs[i]);
    free(dirs);
}

/* ---- planner -------------------------------------------------------------------- */

typedef struct dir_meta {
    char *dir;
    block_meta_t meta;
} dir_meta_t;

static int cmp_dm_mint(const void *a, const void *b) {
    const dir_meta_t *x = a, *y = b;
    if (x->meta.min_time != y->meta.min_time) return x->meta.min_time < y->meta.min_time ? -1 : 1;
    return strcmp(x->meta.ulid, y->meta.ulid);
}

/* The first run of blocks overlapping in time (dms sorted by minTime):
 * [*from, *to), or from == to. */
static void select_overlapping(const dir_meta_t *dms, size_t n, size_t *from, size_t *to) {
    *from = *to = 0;
    if (n < 2) return;
    int64_t global_maxt = dms[0].meta.max_time;
    for (size_t i = 1; i < n; i++) {
        const block_meta_t *m = &dms[i].meta;
        if (m->min_time < global_maxt) {
            if (*to == 0) *from = i - 1;
            *to = i + 1;
        } else if (*to > 0) {
            break;
        }
        if (m->max_time > global_maxt) global_maxt = m->max_time;
    }
}

/* Start of the range-aligned window holding t (floor division, as Go's
 * splitByRange computes it for negative times too). */
static int64_t range_start(int64_t t, int64_t tr) { return t >= 0 ? tr * (t / tr) : tr * ((t - tr + 1) / tr); }

/* Prometheus's selectDirs over dms[0, n) (the newest block already left
 * out): [*from, *to) or from == to. */
static void select_dirs(const dir_meta_t *dms, size_t n, const int64_t *ranges, size_t nranges, size_t *from,
                        size_t *to) {
    *from = *to = 0;
    if (nranges < 2 || n < 1) return;
    int64_t high_time = dms[n - 1].meta.min_time;
    for (size_t r = 1; r < nranges; r++) {
        int64_t tr = ranges[r];
        if (tr <= 0) continue;
        /* splitByRange, one group at a time. */
        for (size_t i = 0; i < n;) {
            int64_t t0 = range_start(dms[i].meta.min_time, tr);
            if (dms[i].meta.max_time > t0 + tr) { /* does not fit any window of this range */
                i++;
                continue;
            }
            size_t g0 = i;
            while (i < n && dms[i].meta.max_time <= t0 + tr)
                i++;
            size_t g1 = i;
            bool failed = false;
            for (size_t k = g0; k < g1; k++)
                if (dms[k].meta.failed) failed = true;
            if (failed) continue;
            int64_t mint = dms[g0].meta.min_time, maxt = dms[g1 - 1].meta.max_time;
            if ((maxt - mint == tr || maxt <= high_time) && g1 - g0 > 1) {
                *from = g0;
                *to = g1;
                return;
            }
        }
    }
}

int compact_plan(const char *dbdir, const int64_t *ranges, size_t nranges, char ***dirs, size_t *ndirs,
                 pl_err_t *err) {
    *dirs = NULL;
    *ndirs = 0;
    char **names;
    size_t nnames;
    if (block_dir_list(dbdir, &names, &nnames, err) != 0) return -1;
    int rc = -1;
    dir_meta_t *dms = calloc(nnames + 1, sizeof *dms);
    size_t n = 0;
    if (!dms) {
        pl_err_set(err, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < nnames; i++) {
        char p[4200];
        snprintf(p, sizeof p, "%s/%s", dbdir, names[i]);
        block_meta_t m;
        if (block_meta_read(p, &m, err) != 0) goto out;
        if (m.deletable) { /* waiting for the caller to delete it */
            block_meta_free(&m);
            continue;
        }
        if (!(dms[n].dir = strdup(p))) {
            block_meta_free(&m);
            pl_err_set(err, "out of memory");
            goto out;
        }
        dms[n++].meta = m;
    }
    if (n > 1) qsort(dms, n, sizeof *dms, cmp_dm_mint);

    size_t from = 0, to = 0;
    select_overlapping(dms, n, &from, &to);
    if (to == from && n > 0) {
        size_t m = n - 1; /* leave out the newest block, as Prometheus does */
        select_dirs(dms, m, ranges, nranges, &from, &to);
        if (to == from && nranges > 0) {
            int64_t big = ranges[nranges / 2];
            for (size_t k = m; k-- > 0;) {
                const block_meta_t *bm = &dms[k].meta;
                if (bm->max_time - bm->min_time < big) {
                    /* Wholly deleted blocks qualify whatever their size. */
                    if (bm->num_tombstones > 0 && bm->num_tombstones >= bm->num_series) from = k, to = k + 1;
                    break;
                }
                if ((double)bm->num_tombstones / (double)(bm->num_series + 1) > 0.05) {
                    from = k, to = k + 1;
                    break;
                }
            }
        }
    }
    if (to > from) {
        if (!(*dirs = calloc(to - from, sizeof **dirs))) {
            pl_err_set(err, "out of memory");
            goto out;
        }
        for (size_t k = from; k < to; k++) {
            (*dirs)[k - from] = dms[k].dir;
            dms[k].dir = NULL;
        }
        *ndirs = to - from;
    }
    rc = 0;
out:
    for (size_t i = 0; i < n; i++) {
        free(dms[i].dir);
        block_meta_free(&dms[i].meta);
    }
    free(dms);
    block_dir_list_free(names, nnames);
    return rc;
}

/* ---- merge ---------------------------------------------------------------------- */

typedef struct cursor {
    block_t *b;
    uint32_t *ids;
    size_t nids, pos;
    index_series_t cur; /* series ids[pos] when pos < nids */
    uint64_t last_ref, released_ref; /* chunk refs read so far; pages released below */
} cursor_t;

/* One input chunk of the series being merged. */
typedef struct piece {
    int64_t mint, maxt;
    const uint8_t *data;
    size_t len;
    uint32_t src;     /* index of the block in dirs order */
    uint32_t seq;     /* order of arrival, for a stable sort */
    bool tombstoned;  /* a deleted interval touches it */
    uint32_t series;  /* series id in its block (for tombstones) */
} piece_t;

typedef struct msample {
    int64_t t;
    double v;
    uint32_t src;
} msample_t;

typedef struct seg {
    size_t at, end;
} seg_t;

/* An output chunk: data in the input mapping (copied chunk) or at an
 * offset in the scratch arena (re-encoded). */
typedef struct out_chunk {
    int64_t mint, maxt;
    const uint8_t *data; /* NULL: arena + off */
    size_t off, len;
} out_chunk_t;

typedef struct merger {
    cursor_t *cur;
    size_t ncur;
    block_writer_t *w;
    piece_t *pieces;
    size_t npieces, cappieces;
    msample_t *samples;
    size_t nsamples, capsamples;
    msample_t *merged; /* merge_segments' output buffer */
    size_t capmerged;
    seg_t *segs; /* [at, end) of each decoded chunk in samples */
    size_t nsegs, capsegs;
    out_chunk_t *outs;
    size_t nouts, capouts;
    chunk_meta_t *metas;
    size_t capmetas;
    strbuf_t arena;
} merger_t;

#define GROW(p, n, cap, init)                                     \
    do {                                                          \
        if ((n) >= (cap)) {                                       \
            size_t nc_ = (cap) ? (cap) * 2 : (init);              \
            while (nc_ <= (n))                                    \
                nc_ *= 2;                                         \
            void *nv_ = realloc((p), nc_ * sizeof *(p));          \
            if (!nv_) return pl_err_set(err, "out of memory");    \
            (p) = nv_;                                            \
            (cap) = nc_;                                          \
        }                                                         \
    } while (0)

static int cursor_load(cursor_t *c, pl_err_t *err) {
    if (c->pos >= c->nids) return 0;
    if (index_reader_series(c->b->index, c->ids[c->pos], &c->cur, err) != 0) {
        pl_err_prefix(err, "block %s: series %u", c->b->dir, c->ids[c->pos]);
        return -1;
    }
    return 0;
}

static int cmp_piece(const void *a, const void *b) {
    const piece_t *x = a, *y = b;
    if (x->mint != y->mint) return x->mint < y->mint ? -1 : 1;
    if (x->src != y->src) return x->src < y->src ? -1 : 1;
    return (x->seq > y->seq) - (x->seq < y->seq);
}

static int cmp_msample(const void *a, const void *b) {
    const msample_t *x = a, *y = b;
    if (x->t != y->t) return x->t < y->t ? -1 : 1;
    return (x->src > y->src) - (x->src < y->src);
}

static bool interval_deleted(const tombstones_t *ts, uint32_t id, int64_t mint, int64_t maxt) {
    size_t lo = 0, hi = ts->n; /* ts is normalized: sorted by (series, mint) */
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (ts->v[mid].series_id < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    for (size_t i = lo; i < ts->n && ts->v[i].series_id == id; i++)
        if (ts->v[i].mint <= maxt && ts->v[i].maxt >= mint) return true;
    return false;
}

/* Decodes pieces [p0, p1) into m->samples (tombstoned samples dropped). */
static int decode_run(merger_t *m, size_t p0, size_t p1, pl_err_t *err) {
    m->nsamples = 0;
    m->nsegs = 0;
    for (size_t i = p0; i < p1; i++) {
        const piece_t *p = &m->pieces[i];
        GROW(m->segs, m->nsegs, m->capsegs, 16);
        m->segs[m->nsegs].at = m->nsamples;
        const tombstones_t *ts = &m->cur[p->src].b->tombstones;
        xor_iter_t it;
        xor_iter_init(&it, p->data, p->len);
        while (xor_iter_next(&it)) {
            msample_t s = {.src = p->src};
            xor_iter_at(&it, &s.t, &s.v);
            if (p->tombstoned && tombstones_deleted(ts, p->series, s.t)) continue;
            GROW(m->samples, m->nsamples, m->capsamples, 256);
            m->samples[m->nsamples++] = s;
        }
        m->segs[m->nsegs++].end = m->nsamples;
        if (xor_iter_err(&it)) return pl_err_set(err, "block %s: series %u: malformed chunk", m->cur[p->src].b->dir, p->series);
    }
    return 0;
}

/* Merges the sorted segments of m->samples (one per decoded chunk) by
 * (t, src) into one sorted run: a k-way merge over a handful of heads
 * (the chunks of a series that overlap), swapped back into m->samples. */
static int merge_segments(merger_t *m, pl_err_t *err) {
    if (m->nsegs <= 1 || m->nsamples <= 1) return 0;
    GROW(m->merged, m->nsamples, m->capmerged, 256);
    for (size_t o = 0; o < m->nsamples; o++) {
        size_t best = SIZE_MAX;
        for (size_t k = 0; k < m->nsegs; k++) {
            const seg_t *s = &m->segs[k];
            if (s->at == s->end) continue;
            if (best == SIZE_MAX || cmp_msample(&m->samples[s->at], &m->samples[m->segs[best].at]) < 0) best = k;
        }
        m->merged[o] = m->samples[m->segs[best].at++];
    }
    msample_t *t = m->samples;
    m->samples = m->merged;
    m->merged = t;
    size_t c = m->capsamples;
    m->capsamples = m->capmerged;
    m->capmerged = c;
    return 0;
}

/* Re-encodes m->samples (sorted by (t, src)) keeping the first sample of
 * each timestamp, into chunks of at most COMPACT_SAMPLES_PER_CHUNK. */
static int encode_samples(merger_t *m, pl_err_t *err) {
    xor_chunk_t c;
    size_t i = 0;
    while (i < m->nsamples) {
        if (xor_chunk_init(&c) != 0) return pl_err_set(err, "out of memory");
        int64_t mint = m->samples[i].t, maxt = mint;
        unsigned k = 0;
        for (; i < m->nsamples && k < COMPACT_SAMPLES_PER_CHUNK; i++) {
            if (k > 0 && m->samples[i].t == maxt) continue; /* duplicate timestamp: the first block's wins */
            if (xor_chunk_append(&c, m->samples[i].t, m->samples[i].v) != 0) {
                xor_chunk_free(&c);
                return pl_err_set(err, "out of memory");
            }
            maxt = m->samples[i].t;
            k++;
        }
        /* Skip duplicates of the chunk's last timestamp before the next chunk starts. */
        while (i < m->nsamples && m->samples[i].t == maxt)
            i++;
        size_t len;
        const uint8_t *p = xor_chunk_bytes(&c, &len);
        bool extra = block_xor_go_trailing_byte(p, len, c.app.nbits);
        if (m->nouts >= m->capouts) {
            size_t nc = m->capouts ? m->capouts * 2 : 64;
            out_chunk_t *nv = realloc(m->outs, nc * sizeof *nv);
            if (!nv) {
                xor_chunk_free(&c);
                return pl_err_set(err, "out of memory");
            }
            m->outs = nv;
            m->capouts = nc;
        }
        m->outs[m->nouts++] = (out_chunk_t){mint, maxt, NULL, m->arena.len, len + extra};
        strbuf_append(&m->arena, p, len);
        if (extra) strbuf_putc(&m->arena, 0);
        xor_chunk_free(&c);
    }
    return 0;
}

/* Writes the series whose label set is ls, held by the cursors in sel[0, nsel). */
static int merge_series(merger_t *m, const size_t *sel, size_t nsel, pl_err_t *err) {
    m->npieces = 0;
    m->nouts = 0;
    strbuf_reset(&m->arena);
    uint32_t seq = 0;
    for (size_t k = 0; k < nsel; k++) {
        cursor_t *c = &m->cur[sel[k]];
        uint32_t id = c->ids[c->pos];
        for (size_t j = 0; j < c->cur.nchks; j++) {
            const chunk_meta_t *cm = &c->cur.chks[j];
            if (cm->ref > c->last_ref) c->last_ref = cm->ref;
            uint8_t enc;
            const uint8_t *data;
            size_t len;
            if (chunk_reader_get(c->b->chunks, cm->ref, &enc, &data, &len, err) != 0) {
                pl_err_prefix(err, "block %s", c->b->dir);
                return -1;
            }
            if (enc != CHUNKENC_XOR)
                return pl_err_set(err, "block %s: chunk ref %llu: unsupported encoding %u", c->b->dir,
                                  (unsigned long long)cm->ref, enc);
            if (len < XOR_HEADER_BYTES)
                return pl_err_set(err, "block %s: chunk ref %llu: too short", c->b->dir, (unsigned long long)cm->ref);
            GROW(m->pieces, m->npieces, m->cappieces, 64);
            m->pieces[m->npieces++] = (piece_t){cm->mint, cm->maxt, data, len, (uint32_t)sel[k], seq++,
                                                interval_deleted(&c->b->tombstones, id, cm->mint, cm->maxt), id};
        }
    }
    if (m->npieces > 1) qsort(m->pieces, m->npieces, sizeof *m->pieces, cmp_piece);

    for (size_t i = 0; i < m->npieces;) {
        size_t j = i + 1;
        int64_t run_maxt = m->pieces[i].maxt;
        while (j < m->npieces && m->pieces[j].mint <= run_maxt) {
            if (m->pieces[j].maxt > run_maxt) run_maxt = m->pieces[j].maxt;
            j++;
        }
        if (j == i + 1 && !m->pieces[i].tombstoned) { /* the chunk-copy path */
            GROW(m->outs, m->nouts, m->capouts, 64);
            m->outs[m->nouts++] = (out_chunk_t){m->pieces[i].mint, m->pieces[i].maxt, m->pieces[i].data, 0,
                                                m->pieces[i].len};
        } else {
            if (decode_run(m, i, j, err) != 0) return -1;
            if (merge_segments(m, err) != 0) return -1;
            for (size_t k = 1; k < m->nsamples; k++) /* a chunk out of order inside (malformed): sort it all */
                if (cmp_msample(&m->samples[k - 1], &m->samples[k]) > 0) {
                    qsort(m->samples, m->nsamples, sizeof *m->samples, cmp_msample);
                    break;
                }
            if (encode_samples(m, err) != 0) return -1;
        }
        i = j;
    }
    if (m->nouts == 0) return 0; /* every sample deleted: the series goes */

    GROW(m->metas, m->nouts, m->capmetas, 64);
    for (size_t i = 0; i < m->nouts; i++) {
        const out_chunk_t *o = &m->outs[i];
        m->metas[i] = (chunk_meta_t){o->mint, o->maxt, 0, o->data ? o->data : (const uint8_t *)m->arena.data + o->off,
                                     (uint32_t)o->len, CHUNKENC_XOR};
    }
    const index_series_t *s = &m->cur[sel[0]].cur;
    return block_writer_add_series(m->w, s->labels, s->nlabels, m->metas, m->nouts, err);
}

/* Adds the union of the inputs' symbol tables (each sorted), "" included. */
static int merge_symbols(merger_t *m, pl_err_t *err) {
    size_t *pos = calloc(m->ncur, sizeof *pos);
    if (!pos) return pl_err_set(err, "out of memory");
    const char *last = NULL;
    int rc = 0;
    if (block_writer_add_symbol(m->w, "", err) != 0) rc = -1;
    last = "";
    while (rc == 0) {
        const char *min = NULL;
        for (size_t i = 0; i < m->ncur; i++) {
            const index_reader_t *ir = m->cur[i].b->index;
            if (pos[i] >= index_reader_num_symbols(ir)) continue;
            const char *s = index_reader_symbol(ir, (uint32_t)pos[i]);
            if (!min || strcmp(s, min) < 0) min = s;
        }
        if (!min) break;
        if (strcmp(min, last) > 0) {
            if (block_writer_add_symbol(m->w, min, err) != 0) {
                rc = -1;
                break;
            }
            last = min;
        }
        for (size_t i = 0; i < m->ncur; i++) {
            const index_reader_t *ir = m->cur[i].b->index;
            while (pos[i] < index_reader_num_symbols(ir) && strcmp(index_reader_symbol(ir, (uint32_t)pos[i]), last) <= 0)
                pos[i]++;
        }
    }
    free(pos);
    return rc;
}

static int merge_all(merger_t *m, pl_err_t *err) {
    if (merge_symbols(m, err) != 0) return -1;
    size_t *sel = malloc((m->ncur + 1) * sizeof *sel);
    if (!sel) return pl_err_set(err, "out of memory");
    int rc = 0;
    for (;;) {
        size_t nsel = 0;
        const index_series_t *min = NULL;
        for (size_t i = 0; i < m->ncur; i++) {
            cursor_t *c = &m->cur[i];
            if (c->pos >= c->nids) continue;
            int cmp = min ? labels_compare(c->cur.labels, c->cur.nlabels, min->labels, min->nlabels) : -1;
            if (cmp < 0) {
                min = &c->cur;
                nsel = 0;
            }
            if (cmp <= 0) sel[nsel++] = i;
        }
        if (nsel == 0) break;
        if (merge_series(m, sel, nsel, err) != 0) {
            rc = -1;
            break;
        }
        for (size_t k = 0; k < nsel; k++) {
            cursor_t *c = &m->cur[sel[k]];
            /* The series is written (its chunk bytes copied out): let the input's
             * pages before it go, so the RSS stays flat however big the block. */
            if ((c->last_ref >> 32) != (c->released_ref >> 32) || c->last_ref - c->released_ref >= (16u << 20)) {
                chunk_reader_release_before(c->b->chunks, c->last_ref);
                c->released_ref = c->last_ref;
            }
            c->pos++;
            if (cursor_load(c, err) != 0) {
                rc = -1;
                break;
            }
        }
        if (rc != 0) break;
    }
    free(sel);
    return rc;
}

static int cmp_source(const void *a, const void *b) { return strcmp((const char *)a, (const char *)b); }

/* meta.json of the new block: CompactBlockMetas. */
static int compacted_meta(block_t *const *bs, size_t n, block_meta_t *out, pl_err_t *err) {
    memset(out, 0, sizeof *out);
    out->min_time = bs[0]->meta.min_time;
    out->max_time = bs[0]->meta.max_time;
    if (!(out->parents = calloc(n, sizeof *out->parents))) return pl_err_set(err, "out of memory");
    for (size_t i = 0; i < n; i++) {
        const block_meta_t *bm = &bs[i]->meta;
        if (bm->min_time < out->min_time) out->min_time = bm->min_time;
        if (bm->max_time > out->max_time) out->max_time = bm->max_time;
        if (bm->level > out->level) out->level = bm->level;
        for (size_t k = 0; k < bm->nsources; k++) {
            bool seen = false;
            for (size_t j = 0; j < out->nsources && !seen; j++)
                seen = strcmp(out->sources[j], bm->sources[k]) == 0;
            if (!seen && block_meta_add_source(out, bm->sources[k]) != 0) return pl_err_set(err, "out of memory");
        }
        block_desc_t *d = &out->parents[out->nparents++];
        memcpy(d->ulid, bm->ulid, sizeof d->ulid);
        d->min_time = bm->min_time;
        d->max_time = bm->max_time;
    }
    out->level++;
    if (out->nsources > 1) qsort(out->sources, out->nsources, sizeof *out->sources, cmp_source);
    out->version = 1;
    return 0;
}

/* Rewrites a block's meta.json with deletable or failed set. */
static int mark_block(const char *dir, bool deletable, bool failed, pl_err_t *err) {
    block_meta_t m;
    if (block_meta_read(dir, &m, err) != 0) return -1;
    if (deletable) m.deletable = true;
    if (failed) m.failed = true;
    int rc = block_meta_write(dir, &m, err);
    block_meta_free(&m);
    return rc;
}

int compact_blocks(const char *dbdir, char *const *dirs, size_t ndirs, char out_ulid[27], pl_err_t *err) {
    out_ulid[0] = '\0';
    if (ndirs == 0) return pl_err_set(err, "compact: no blocks given");
    int rc = -1;
    bool write_failed = false;
    merger_t m = {0};
    block_t **bs = calloc(ndirs, sizeof *bs);
    block_meta_t meta = {0};
    strbuf_init(&m.arena);
    if (!bs || !(m.cur = calloc(ndirs, sizeof *m.cur))) {
        pl_err_set(err, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < ndirs; i++) {
        if (!(bs[i] = block_open(dirs[i], err))) goto out;
        for (size_t k = 0; k < i; k++)
            if (strcmp(bs[k]->meta.ulid, bs[i]->meta.ulid) == 0) {
                pl_err_set(err, "compact: block %s given twice", bs[i]->meta.ulid);
                goto out;
            }
    }
    m.ncur = ndirs;
    for (size_t i = 0; i < ndirs; i++) {
        cursor_t *c = &m.cur[i];
        c->b = bs[i];
        if (index_reader_postings(c->b->index, "", "", &c->ids, &c->nids, err) != 0) {
            pl_err_prefix(err, "block %s", c->b->dir);
            goto out;
        }
        if (cursor_load(c, err) != 0) goto out;
    }
    if (compacted_meta(bs, ndirs, &meta, err) != 0) goto out;

    write_failed = true;
    if (!(m.w = block_writer_open(dbdir, 0, err))) goto out;
    if (merge_all(&m, err) != 0) goto out;
    block_writer_t *w = m.w;
    m.w = NULL;
    if (block_writer_commit(w, &meta, out_ulid, err) != 0) goto out;
    write_failed = false;
    if (out_ulid[0] == '\0') { /* nothing left: the inputs can go */
        for (size_t i = 0; i < ndirs; i++)
            if (mark_block(dirs[i], true, false, err) != 0) goto out;
    }
    rc = 0;
out:
    if (rc != 0 && write_failed) {
        for (size_t i = 0; i < ndirs; i++)
            mark_block(dirs[i], false, true, NULL);
    }
    block_writer_abort(m.w);
    if (m.cur)
        for (size_t i = 0; i < ndirs; i++) {
            free(m.cur[i].ids);
            index_series_free(&m.cur[i].cur);
        }
    if (bs)
        for (size_t i = 0; i < ndirs; i++)
            block_close(bs[i]);
    free(bs);
    free(m.cur);
    free(m.pieces);
    free(m.samples);
    free(m.merged);
    free(m.segs);
    free(m.outs);
    free(m.metas);
    strbuf_free(&m.arena);
    block_meta_free(&meta);
    return rc;
}

/* ---- leftovers ------------------------------------------------------------------ */

#define TMP_DELETION_SUFFIX ".tmp-for-deletion"

int compact_delete_block(const char *dir, pl_err_t *err) {
    char tmp[4200];
    size_t n = strlen(dir);
    while (n > 1 && dir[n - 1] == '/')
        n--;
    snprintf(tmp, sizeof tmp, "%.*s" TMP_DELETION_SUFFIX, (int)n, dir);
    if (rename(dir, tmp) != 0) return pl_err_set(err, "rename %s: %s", dir, strerror(errno));
    if (block_rm_rf(tmp) != 0) return pl_err_set(err, "remove %s: %s", tmp, strerror(errno));
    return 0;
}

static bool has_suffix(const char *s, const char *suf) {
    size_t n = strlen(s), k = strlen(suf);
    return n >= k && strcmp(s + n - k, suf) == 0;
}

static int note_removed(char ***removed, size_t *n, const char *name) {
    if (!removed) return 0;
    char **nv = realloc(*removed, (*n + 1) * sizeof *nv);
    if (!nv) return -1;
    *removed = nv;
    if (!(nv[*n] = strdup(name))) return -1;
    (*n)++;
    return 0;
}

int compact_remove_leftovers(const char *dbdir, char ***removed, size_t *nremoved, pl_err_t *err) {
    size_t dummy = 0;
    if (!nremoved) nremoved = &dummy;
    DIR *d = opendir(dbdir);
    if (!d) return pl_err_set(err, "open %s: %s", dbdir, strerror(errno));
    struct dirent *de;
    char p[4200];
    int rc = 0;
    while ((de = readdir(d)) != NULL && rc == 0) {
        const char *nm = de->d_name;
        if (strlen(nm) < ULID_LEN) continue;
        char ul[ULID_LEN + 1];
        memcpy(ul, nm, ULID_LEN);
        ul[ULID_LEN] = '\0';
        if (!block_ulid_valid(ul) || (!has_suffix(nm, BLOCK_TMP_CREATION_SUFFIX) && !has_suffix(nm, TMP_DELETION_SUFFIX)))
            continue;
        if (strlen(nm) != ULID_LEN + strlen(BLOCK_TMP_CREATION_SUFFIX)) continue;
        snprintf(p, sizeof p, "%s/%s", dbdir, nm);
        if (block_rm_rf(p) != 0) rc = pl_err_set(err, "remove %s: %s", p, strerror(errno));
        else if (note_removed(removed, nremoved, nm) != 0) rc = pl_err_set(err, "out of memory");
    }
    closedir(d);
    if (rc != 0) return rc;

    char **names;
    size_t n;
    if (block_dir_list(dbdir, &names, &n, err) != 0) return -1;
    block_meta_t *ms = calloc(n + 1, sizeof *ms);
    bool *ok = calloc(n + 1, sizeof *ok), *gone = calloc(n + 1, sizeof *gone);
    if (!ms || !ok || !gone) {
        rc = pl_err_set(err, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        snprintf(p, sizeof p, "%s/%s", dbdir, names[i]);
        ok[i] = block_meta_read(p, &ms[i], NULL) == 0; /* an unreadable block is the db's to report */
        if (ok[i] && ms[i].deletable) gone[i] = true;
    }
    for (size_t i = 0; i < n; i++) {
        if (!ok[i] || gone[i]) continue;
        for (size_t k = 0; k < ms[i].nparents; k++)
            for (size_t j = 0; j < n; j++)
                if (j != i && strcmp(names[j], ms[i].parents[k].ulid) == 0) gone[j] = true;
    }
    for (size_t i = 0; i < n && rc == 0; i++) {
        if (!gone[i]) continue;
        snprintf(p, sizeof p, "%s/%s", dbdir, names[i]);
        if (compact_delete_block(p, err) != 0) rc = -1;
        else if (note_removed(removed, nremoved, names[i]) != 0) rc = pl_err_set(err, "out of memory");
    }
out:
    for (size_t i = 0; i < n && ms; i++)
        block_meta_free(&ms[i]);
    free(ms);
    free(ok);
    free(gone);
    block_dir_list_free(names, n);
    return rc;
}
