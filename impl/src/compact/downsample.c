/* downsample.c — Thanos's downsampling: raw -> 5m, 5m -> 1h. See downsample.h.
 *
 * The window logic is one function, batch(), shared by every aggregate: it
 * walks samples in time order, closes a window when a sample lies past its
 * end (res-aligned, clipped to the batch's last timestamp) and hands the
 * window's aggregator to an emit callback. The aggregator keeps, besides the
 * per-window count/sum/min/max, the running counter of the whole batch. */
#include "compact/downsample.h"

#include <float.h>
#include <jansson.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "compact/aggrblock.h"
#include "tsdb/block.h"
#include "tsdb/chunkenc.h"
#include "tsdb/index.h"

#define STALE_NAN_BITS 0x7ff0000000000002ull

void ds_chunks_reset(ds_chunks_t *c) {
    for (size_t i = 0; i < c->n; i++)
        free(c->v[i].data);
    c->n = 0;
}

void ds_chunks_free(ds_chunks_t *c) {
    ds_chunks_reset(c);
    free(c->v);
    c->v = NULL;
    c->cap = 0;
}

int64_t downsample_window_end(int64_t t, int64_t res) { return t - (t % res) + res - 1; }

static bool is_stale(double v) {
    uint64_t b;
    memcpy(&b, &v, 8);
    return b == STALE_NAN_BITS;
}

/* ---- sample buffers ------------------------------------------------------------- */

typedef struct sbuf {
    sample_t *v;
    size_t n, cap;
} sbuf_t;

static int sbuf_push(sbuf_t *b, int64_t t, double v, pl_err_t *err) {
    if (b->n == b->cap) {
        size_t nc = b->cap ? b->cap * 2 : 256;
        sample_t *nv = realloc(b->v, nc * sizeof *nv);
        if (!nv) return pl_err_set(err, "out of memory");
        b->v = nv;
        b->cap = nc;
    }
    b->v[b->n++] = (sample_t){t, v};
    return 0;
}

/* ---- the aggregator and the window walk ------------------------------------------ */

typedef struct aggregator {
    uint64_t total; /* samples since the start of the batch */
    uint64_t count; /* in the current window */
    double sum, min, max;
    double counter; /* running counter since the start of the batch */
    double last;
} aggregator_t;

static void aggr_reset(aggregator_t *a) {
    a->count = 0;
    a->sum = 0;
    a->min = DBL_MAX;
    a->max = -DBL_MAX;
}

static void aggr_add(aggregator_t *a, double v) {
    if (a->total > 0)
        a->counter += v < a->last ? v : v - a->last; /* below the last value: a reset */
    else
        a->counter = v;
    a->last = v;
    a->sum += v;
    a->count++;
    a->total++;
    if (v < a->min) a->min = v;
    if (v > a->max) a->max = v;
}

typedef int (*emit_fn)(void *ctx, int64_t t, const aggregator_t *a, pl_err_t *err);

/* Thanos's downsampleBatch: returns the last window's timestamp in *last_t. */
static int batch(const sample_t *s, size_t n, int64_t res, emit_fn emit, void *ctx, int64_t *last_t, pl_err_t *err) {
    aggregator_t a = {0};
    aggr_reset(&a);
    int64_t next_t = -1;
    bool open = false;
    int64_t end_t = s[n - 1].t;
    for (size_t i = 0; i < n; i++) {
        if (is_stale(s[i].v)) continue;
        if (!open || s[i].t > next_t) {
            if (open && emit(ctx, next_t, &a, err) != 0) return -1;
            aggr_reset(&a);
            next_t = downsample_window_end(s[i].t, res);
            if (next_t > end_t) next_t = end_t;
            open = true;
        }
        aggr_add(&a, s[i].v);
    }
    if (open && emit(ctx, next_t, &a, err) != 0) return -1;
    *last_t = next_t;
    return 0;
}

/* Thanos's targetChunkCount: enough chunks for at most ~140 windows each. */
static size_t target_chunk_count(int64_t mint, int64_t maxt, int64_t in_res, int64_t out_res, size_t count) {
    double max_samples = (double)((maxt - mint) / out_res);
    double full = maxt > mint ? (double)count / ((double)(maxt - mint) / (double)in_res) : 1;
    if (full > 1) full = 1;
    long exp = (long)(max_samples * full) + 1;
    size_t x = 1;
    while (exp / (long)x > 140)
        x++;
    return x;
}

/* ---- building one output chunk ---------------------------------------------------- */

typedef struct builder {
    sbuf_t a[AGGR_N];
    bool present[AGGR_N];
    int64_t mint, maxt;
    enum aggr_type only; /* for the per-aggregate emitters */
    int which;           /* 0: sum of values; 1: sum; 2: min; 3: max; 4: counter */
} builder_t;

static void builder_reset(builder_t *b) {
    for (int t = 0; t < AGGR_N; t++) {
        b->a[t].n = 0;
        b->present[t] = false;
    }
    b->mint = INT64_MAX;
    b->maxt = INT64_MIN;
}

static void builder_free(builder_t *b) {
    for (int t = 0; t < AGGR_N; t++)
        free(b->a[t].v);
}

static void note_time(builder_t *b, int64_t t) {
    if (t < b->mint) b->mint = t;
    if (t > b->maxt) b->maxt = t;
}

/* Raw downsampling: every aggregate at once. */
static int emit_all(void *ctx, int64_t t, const aggregator_t *a, pl_err_t *err) {
    builder_t *b = ctx;
    note_time(b, t);
    if (sbuf_push(&b->a[AGGR_COUNT], t, (double)a->count, err) != 0 || sbuf_push(&b->a[AGGR_SUM], t, a->sum, err) != 0 ||
        sbuf_push(&b->a[AGGR_MIN], t, a->min, err) != 0 || sbuf_push(&b->a[AGGR_MAX], t, a->max, err) != 0 ||
        sbuf_push(&b->a[AGGR_COUNTER], t, a->counter, err) != 0)
        return -1;
    return 0;
}

/* Aggregate downsampling: one aggregate at a time. */
static int emit_one(void *ctx, int64_t t, const aggregator_t *a, pl_err_t *err) {
    builder_t *b = ctx;
    note_time(b, t);
    double v;
    switch (b->only) {
    case AGGR_COUNT:
    case AGGR_SUM: v = a->sum; break;
    case AGGR_MIN: v = a->min; break;
    case AGGR_MAX: v = a->max; break;
    default: v = a->counter; break;
    }
    return sbuf_push(&b->a[b->only], t, v, err);
}

static int builder_encode(builder_t *b, ds_chunks_t *out, pl_err_t *err) {
    const sample_t *s[AGGR_N];
    size_t n[AGGR_N];
    for (int t = 0; t < AGGR_N; t++) {
        s[t] = b->present[t] ? b->a[t].v : NULL;
        n[t] = b->present[t] ? b->a[t].n : 0;
        if (b->present[t] && n[t] > XOR_MAX_SAMPLES)
            return pl_err_set(err, "downsample: %zu windows in one chunk", n[t]);
    }
    strbuf_t sb = STRBUF_INIT;
    if (aggrchunk_encode(s, n, &sb, err) != 0) {
        strbuf_free(&sb);
        return -1;
    }
    if (out->n == out->cap) {
        size_t nc = out->cap ? out->cap * 2 : 16;
        ds_chunk_t *nv = realloc(out->v, nc * sizeof *nv);
        if (!nv) {
            strbuf_free(&sb);
            return pl_err_set(err, "out of memory");
        }
        out->v = nv;
        out->cap = nc;
    }
    out->v[out->n].mint = b->mint;
    out->v[out->n].maxt = b->maxt;
    out->v[out->n].len = sb.len;
    out->v[out->n].data = (uint8_t *)strbuf_detach(&sb);
    out->n++;
    return 0;
}

/* ---- raw -> aggregates -------------------------------------------------------------- */

int downsample_raw(const sample_t *s, size_t n, int64_t res, ds_chunks_t *out, pl_err_t *err) {
    if (n == 0) return 0;
    /* Thanos assumes a 1m raw interval for the chunk count */
    return downsample_raw_n(s, n, res, target_chunk_count(s[0].t, s[n - 1].t, 60 * 1000, res, n), out, err);
}

int downsample_raw_n(const sample_t *s, size_t n, int64_t res, size_t nchunks, ds_chunks_t *out, pl_err_t *err) {
    if (res <= 0) return pl_err_set(err, "downsample: resolution must be positive");
    if (n == 0) return 0;
    if (nchunks == 0) nchunks = 1;
    size_t batch_size = n / nchunks + 1;
    builder_t b = {0};
    sbuf_t clean = {0};
    int rc = 0;
    size_t at = 0;
    while (at < n && rc == 0) {
        size_t j = at + batch_size > n ? n : at + batch_size;
        int64_t cur_w = downsample_window_end(s[j - 1].t, res);
        while (j < n && s[j].t <= cur_w) /* finish the window the batch ends in */
            j++;
        clean.n = 0;
        for (size_t i = at; i < j && rc == 0; i++)
            if (!isnan(s[i].v)) rc = sbuf_push(&clean, s[i].t, s[i].v, err);
        at = j;
        if (rc != 0 || clean.n == 0) continue;
        builder_reset(&b);
        for (int t = 0; t < AGGR_N; t++)
            b.present[t] = true;
        /* The counter starts with the first raw sample. */
        rc = sbuf_push(&b.a[AGGR_COUNTER], clean.v[0].t, clean.v[0].v, err);
        int64_t last_t = 0;
        if (rc == 0) rc = batch(clean.v, clean.n, res, emit_all, &b, &last_t, err);
        /* ... and ends with the last raw value at the last window's timestamp. */
        if (rc == 0) rc = sbuf_push(&b.a[AGGR_COUNTER], last_t, clean.v[clean.n - 1].v, err);
        if (rc == 0) rc = builder_encode(&b, out, err);
    }
    builder_free(&b);
    free(clean.v);
    return rc;
}

/* ---- aggregates -> aggregates ------------------------------------------------------- */

/* Thanos's expandChunkIterator: no stale markers, never back in time. */
static int expand(const aggrchunk_t *c, enum aggr_type t, sbuf_t *buf, int64_t *last, pl_err_t *err) {
    xor_iter_t it;
    if (!aggrchunk_iter(c, t, &it)) return 0;
    while (xor_iter_next(&it)) {
        int64_t ts;
        double v;
        xor_iter_at(&it, &ts, &v);
        if (is_stale(v) || ts < *last) continue;
        if (sbuf_push(buf, ts, v, err) != 0) return -1;
        *last = ts;
    }
    if (xor_iter_err(&it)) return pl_err_set(err, "aggregate chunk: %s: malformed", aggr_type_name(t));
    return 0;
}

static int aggr_batch(const aggrchunk_t *in, size_t nin, int64_t res, builder_t *b, sbuf_t *buf, ds_chunks_t *out,
                      pl_err_t *err) {
    builder_reset(b);
    int64_t last_t = 0;
    for (int t = AGGR_COUNT; t <= AGGR_MAX; t++) {
        buf->n = 0;
        int64_t last = INT64_MIN;
        for (size_t i = 0; i < nin; i++)
            if (expand(&in[i], (enum aggr_type)t, buf, &last, err) != 0) return -1;
        if (buf->n == 0) continue;
        b->present[t] = true;
        b->only = (enum aggr_type)t;
        if (batch(buf->v, buf->n, res, emit_one, b, &last_t, err) != 0) return -1;
    }
    /* Counters: resets applied across the batch's chunks first. */
    buf->n = 0;
    aggr_counter_state_t st = {0};
    for (size_t i = 0; i < nin; i++) {
        xor_iter_t it;
        if (!aggrchunk_iter(&in[i], AGGR_COUNTER, &it)) continue;
        while (xor_iter_next(&it)) {
            int64_t ts, ot;
            double v, ov;
            xor_iter_at(&it, &ts, &v);
            if (aggr_counter_feed(&st, ts, v, &ot, &ov) && !is_stale(ov) && sbuf_push(buf, ot, ov, err) != 0) return -1;
        }
        if (xor_iter_err(&it)) return pl_err_set(err, "aggregate chunk: counter: malformed");
    }
    if (buf->n > 0) {
        b->present[AGGR_COUNTER] = true;
        b->only = AGGR_COUNTER;
        if (sbuf_push(&b->a[AGGR_COUNTER], buf->v[0].t, buf->v[0].v, err) != 0) return -1;
        if (batch(buf->v, buf->n, res, emit_one, b, &last_t, err) != 0) return -1;
        if (sbuf_push(&b->a[AGGR_COUNTER], last_t, st.last_v, err) != 0) return -1;
    }
    bool any = false;
    for (int t = 0; t < AGGR_N; t++)
        any |= b->present[t];
    if (!any) return 0;
    return builder_encode(b, out, err);
}

int downsample_aggr(const aggrchunk_t *in, size_t nin, int64_t mint, int64_t maxt, int64_t in_res, int64_t out_res,
                    ds_chunks_t *out, pl_err_t *err) {
    if (out_res <= in_res || in_res <= 0) return pl_err_set(err, "downsample: cannot go from %lld to %lld ms", (long long)in_res, (long long)out_res);
    if (nin == 0) return 0;
    size_t count = 0;
    for (size_t i = 0; i < nin; i++)
        count += aggrchunk_num_samples(&in[i]);
    return downsample_aggr_n(in, nin, out_res, target_chunk_count(mint, maxt, in_res, out_res, count), out, err);
}

int downsample_aggr_n(const aggrchunk_t *in, size_t nin, int64_t out_res, size_t nchunks, ds_chunks_t *out, pl_err_t *err) {
    if (out_res <= 0) return pl_err_set(err, "downsample: resolution must be positive");
    if (nin == 0) return 0;
    if (nchunks == 0) nchunks = 1;
    size_t batch_size = nin / nchunks;
    if (batch_size == 0) batch_size = 1;
    builder_t b = {0};
    sbuf_t buf = {0};
    int rc = 0;
    for (size_t at = 0; at < nin && rc == 0; at += batch_size) {
        size_t j = at + batch_size > nin ? nin : at + batch_size;
        rc = aggr_batch(in + at, j - at, out_res, &b, &buf, out, err);
    }
    builder_free(&b);
    free(buf.v);
    return rc;
}

/* ---- blocks --------------------------------------------------------------------------- */

int64_t downsample_meta_resolution(const block_meta_t *m) {
    if (!m->thanos) return 0;
    json_t *r = json_object_get(json_object_get((json_t *)m->thanos, "downsample"), "resolution");
    return json_is_integer(r) ? (int64_t)json_integer_value(r) : 0;
}

static int series_error(pl_err_t *err, const index_series_t *s) {
    strbuf_t lb = STRBUF_INIT;
    labels_format(&lb, s->labels, s->nlabels);
    pl_err_prefix(err, "series %s", lb.data ? lb.data : "{}");
    strbuf_free(&lb);
    return -1;
}

int downsample_block(const char *src_dir, int64_t res, const char *dst_parent, char out_ulid[ULID_LEN + 1],
                     pl_err_t *err) {
    out_ulid[0] = '\0';
    block_t *b = block_open(src_dir, err);
    if (!b) return -1;
    int rc = -1;
    int64_t src_res = downsample_meta_resolution(&b->meta);
    aggrblock_writer_t *w = NULL;
    uint32_t *ids = NULL;
    size_t nids = 0;
    index_series_t s = {0};
    sbuf_t raw = {0};
    ds_chunks_t ds = {0};
    aggrchunk_t *aggr = NULL;
    size_t capaggr = 0;
    chunk_meta_t *metas = NULL;
    size_t capmetas = 0;
    block_meta_t tmpl = {0};
    if (res != DOWNSAMPLE_RES_5M && res != DOWNSAMPLE_RES_1H) {
        pl_err_set(err, "downsample: resolution %lld ms is neither 5m nor 1h", (long long)res);
        goto out;
    }
    if (src_res >= res) {
        pl_err_set(err, "downsample: block %s already has resolution %lld ms", b->meta.ulid, (long long)src_res);
        goto out;
    }
    if (!(w = aggrblock_writer_open(dst_parent, err))) goto out;
    for (size_t i = 0; i < index_reader_num_symbols(b->index); i++)
        if (aggrblock_writer_add_symbol(w, index_reader_symbol(b->index, (uint32_t)i), err) != 0) goto out;
    if (index_reader_postings(b->index, "", "", &ids, &nids, err) != 0) goto out;
    for (size_t k = 0; k < nids; k++) {
        if (index_reader_series(b->index, ids[k], &s, err) != 0) goto out;
        bool tomb = tombstones_has_series(&b->tombstones, ids[k]);
        for (size_t i = 1; i < s.nchks; i++)
            if (s.chks[i - 1].maxt >= s.chks[i].mint) {
                pl_err_set(err, "found overlapping chunks within the series (chunk %zu [%lld, %lld], chunk %zu [%lld, %lld])",
                           i - 1, (long long)s.chks[i - 1].mint, (long long)s.chks[i - 1].maxt, i,
                           (long long)s.chks[i].mint, (long long)s.chks[i].maxt);
                series_error(err, &s);
                goto out;
            }
        ds_chunks_reset(&ds);
        raw.n = 0;
        size_t naggr = 0;
        int64_t last = INT64_MIN;
        for (size_t i = 0; i < s.nchks; i++) {
            uint8_t enc;
            const uint8_t *data;
            size_t len;
            if (chunk_reader_get(b->chunks, s.chks[i].ref, &enc, &data, &len, err) != 0) {
                series_error(err, &s);
                goto out;
            }
            if (src_res == 0) {
                if (enc != CHUNKENC_XOR) {
                    pl_err_set(err, "raw block holds a chunk of encoding %u", enc);
                    series_error(err, &s);
                    goto out;
                }
                xor_iter_t it;
                xor_iter_init(&it, data, len);
                while (xor_iter_next(&it)) {
                    int64_t t;
                    double v;
                    xor_iter_at(&it, &t, &v);
                    if (is_stale(v) || t < last) continue;
                    if (tomb && tombstones_deleted(&b->tombstones, ids[k], t)) continue; /* deleted stays deleted */
                    if (sbuf_push(&raw, t, v, err) != 0) goto out;
                    last = t;
                }
                if (xor_iter_err(&it)) {
                    pl_err_set(err, "malformed XOR chunk at ref %llu", (unsigned long long)s.chks[i].ref);
                    series_error(err, &s);
                    goto out;
                }
            } else {
                if (enc == CHUNKENC_XOR && len >= XOR_HEADER_BYTES && xor_chunk_count_bytes(data) == 0)
                    continue; /* an empty XOR chunk in a downsampled block (thanos#5272): skipped as Thanos does */
                if (enc != AGGRCHUNK_ENCODING) {
                    pl_err_set(err, "downsampled block holds a chunk of encoding %u", enc);
                    series_error(err, &s);
                    goto out;
                }
                if (naggr == capaggr) {
                    size_t nc = capaggr ? capaggr * 2 : 64;
                    aggrchunk_t *nv = realloc(aggr, nc * sizeof *nv);
                    if (!nv) {
                        pl_err_set(err, "out of memory");
                        goto out;
                    }
                    aggr = nv;
                    capaggr = nc;
                }
                if (aggrchunk_parse(data, len, &aggr[naggr], err) != 0) {
                    series_error(err, &s);
                    goto out;
                }
                naggr++;
            }
        }
        int drc = src_res == 0 ? downsample_raw(raw.v, raw.n, res, &ds, err)
                               : downsample_aggr(aggr, naggr, s.nchks ? s.chks[0].mint : 0,
                                                 s.nchks ? s.chks[s.nchks - 1].maxt : 0, src_res, res, &ds, err);
        if (drc != 0) {
            series_error(err, &s);
            goto out;
        }
        if (ds.n == 0) continue;
        if (ds.n > capmetas) {
            chunk_meta_t *nv = realloc(metas, ds.n * sizeof *nv);
            if (!nv) {
                pl_err_set(err, "out of memory");
                goto out;
            }
            metas = nv;
            capmetas = ds.n;
        }
        for (size_t i = 0; i < ds.n; i++)
            metas[i] = (chunk_meta_t){ds.v[i].mint, ds.v[i].maxt, 0, ds.v[i].data, (uint32_t)ds.v[i].len,
                                      AGGRCHUNK_ENCODING};
        if (aggrblock_writer_add_series(w, s.labels, s.nlabels, metas, ds.n, err) != 0) {
            series_error(err, &s);
            goto out;
        }
    }
    /* meta: the source's, with the new resolution and source. */
    tmpl.min_time = b->meta.min_time;
    tmpl.max_time = b->meta.max_time;
    tmpl.level = b->meta.level;
    tmpl.sources = b->meta.sources;
    tmpl.nsources = b->meta.nsources;
    tmpl.parents = b->meta.parents;
    tmpl.nparents = b->meta.nparents;
    json_t *th = b->meta.thanos ? json_deep_copy((json_t *)b->meta.thanos) : json_object();
    if (!th) {
        pl_err_set(err, "out of memory");
        goto out;
    }
    if (!json_object_get(th, "version")) json_object_set_new(th, "version", json_integer(1));
    if (!json_object_get(th, "labels")) json_object_set_new(th, "labels", json_object());
    json_t *dsj = json_object();
    json_object_set_new(dsj, "resolution", json_integer(res));
    json_object_set_new(th, "downsample", dsj);
    json_object_set_new(th, "source", json_string("compactor"));
    json_object_del(th, "files");
    json_object_del(th, "segment_files");
    tmpl.thanos = th;
    aggrblock_writer_t *wc = w;
    w = NULL;
    rc = aggrblock_writer_commit(wc, &tmpl, out_ulid, err);
    json_decref(th);
out:
    aggrblock_writer_abort(w);
    index_series_free(&s);
    free(ids);
    free(raw.v);
    ds_chunks_free(&ds);
    free(aggr);
    free(metas);
    block_close(b);
    if (rc != 0) pl_err_prefix(err, "downsample %s", src_dir);
    return rc;
}
