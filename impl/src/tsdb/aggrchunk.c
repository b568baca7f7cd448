/* aggrchunk.c — Thanos's aggregate chunk (encoding 0xff). See aggrchunk.h. */
#include "tsdb/aggrchunk.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "tsdb/chunks.h"

static const char *const aggr_names[AGGR_N] = {"count", "sum", "min", "max", "counter"};

const char *aggr_type_name(enum aggr_type t) { return (unsigned)t < AGGR_N ? aggr_names[t] : "<unknown>"; }

/* Walks an XOR sub-chunk to its end: it must hold exactly its header's
 * count and its timestamps must never decrease. */
static int check_sub(const uint8_t *p, size_t len, enum aggr_type t, pl_err_t *err) {
    if (len < XOR_HEADER_BYTES) return pl_err_set(err, "aggregate chunk: %s: sub-chunk of %zu bytes", aggr_names[t], len);
    xor_iter_t it;
    xor_iter_init(&it, p, len);
    uint32_t n = 0;
    int64_t last = INT64_MIN;
    while (xor_iter_next(&it)) {
        int64_t ts;
        double v;
        xor_iter_at(&it, &ts, &v);
        if (ts < last)
            return pl_err_set(err, "aggregate chunk: %s: timestamps go back (%lld after %lld)", aggr_names[t],
                              (long long)ts, (long long)last);
        last = ts;
        n++;
    }
    if (xor_iter_err(&it) || n != xor_chunk_count_bytes(p))
        return pl_err_set(err, "aggregate chunk: %s: malformed XOR sub-chunk (%u of %u samples decoded)", aggr_names[t], n,
                          xor_chunk_count_bytes(p));
    return 0;
}

int aggrchunk_parse(const uint8_t *data, size_t len, aggrchunk_t *c, pl_err_t *err) {
    memset(c, 0, sizeof *c);
    decbuf_t d;
    dec_init(&d, data, len);
    for (int t = 0; t < AGGR_N; t++) {
        uint64_t l = dec_uvarint(&d);
        if (d.err) return pl_err_set(err, "aggregate chunk: %s: truncated length (%zu bytes in all)", aggr_names[t], len);
        if (l == 0) continue; /* absent */
        if (l > dec_len(&d) || l + 1 > dec_len(&d))
            return pl_err_set(err, "aggregate chunk: %s: length %llu exceeds the %zu bytes left", aggr_names[t],
                              (unsigned long long)l, dec_len(&d));
        uint8_t enc = d.p[0];
        if (enc != CHUNKENC_XOR)
            return pl_err_set(err, "aggregate chunk: %s: unsupported sub-chunk encoding %u", aggr_names[t], enc);
        c->sub[t].present = true;
        c->sub[t].encoding = enc;
        c->sub[t].data = d.p + 1;
        c->sub[t].len = (size_t)l;
        if (check_sub(c->sub[t].data, c->sub[t].len, (enum aggr_type)t, err) != 0) return -1;
        d.p += l + 1;
    }
    if (dec_len(&d) != 0) return pl_err_set(err, "aggregate chunk: %zu bytes after the five aggregates", dec_len(&d));
    return 0;
}

uint16_t aggrchunk_num_samples(const aggrchunk_t *c) {
    return c->sub[AGGR_COUNT].present ? xor_chunk_count_bytes(c->sub[AGGR_COUNT].data) : 0;
}

bool aggrchunk_iter(const aggrchunk_t *c, enum aggr_type t, xor_iter_t *it) {
    if ((unsigned)t >= AGGR_N || !c->sub[t].present) return false;
    xor_iter_init(it, c->sub[t].data, c->sub[t].len);
    return true;
}

int aggrchunk_append_samples(const aggrchunk_t *c, enum aggr_type t, sample_t **out, size_t *n, size_t *cap,
                             pl_err_t *err) {
    xor_iter_t it;
    if (!aggrchunk_iter(c, t, &it)) return 0;
    while (xor_iter_next(&it)) {
        if (*n == *cap) {
            size_t nc = *cap ? *cap * 2 : 256;
            sample_t *nv = realloc(*out, nc * sizeof *nv);
            if (!nv) return pl_err_set(err, "out of memory");
            *out = nv;
            *cap = nc;
        }
        xor_iter_at(&it, &(*out)[*n].t, &(*out)[*n].v);
        (*n)++;
    }
    if (xor_iter_err(&it)) return pl_err_set(err, "aggregate chunk: %s: malformed XOR sub-chunk", aggr_names[t]);
    return 0;
}

void aggrchunk_encode_raw(const uint8_t *const sub[AGGR_N], const size_t sublen[AGGR_N], strbuf_t *out) {
    for (int t = 0; t < AGGR_N; t++) {
        if (!sub[t]) {
            enc_uvarint(out, 0);
            continue;
        }
        enc_uvarint(out, sublen[t]);
        uint8_t e = CHUNKENC_XOR;
        strbuf_append(out, &e, 1);
        strbuf_append(out, sub[t], sublen[t]);
    }
}

int aggrchunk_encode(const sample_t *const s[AGGR_N], const size_t n[AGGR_N], strbuf_t *out, pl_err_t *err) {
    xor_chunk_t ch[AGGR_N];
    const uint8_t *sub[AGGR_N] = {0};
    size_t sublen[AGGR_N] = {0};
    int rc = 0, ninit = 0;
    for (; ninit < AGGR_N; ninit++)
        if (xor_chunk_init(&ch[ninit]) != 0) {
            rc = pl_err_set(err, "out of memory");
            break;
        }
    for (int t = 0; t < AGGR_N && rc == 0; t++) {
        if (!s[t]) continue;
        if (n[t] > XOR_MAX_SAMPLES) {
            rc = pl_err_set(err, "aggregate chunk: %s: %zu samples exceed %d", aggr_names[t], n[t], XOR_MAX_SAMPLES);
            break;
        }
        for (size_t i = 0; i < n[t] && rc == 0; i++)
            if (xor_chunk_append(&ch[t], s[t][i].t, s[t][i].v) != 0) rc = pl_err_set(err, "out of memory");
        if (rc == 0) sub[t] = xor_chunk_bytes(&ch[t], &sublen[t]);
    }
    if (rc == 0) aggrchunk_encode_raw(sub, sublen, out);
    for (int t = 0; t < ninit; t++)
        xor_chunk_free(&ch[t]);
    return rc;
}

bool aggr_counter_feed(aggr_counter_state_t *st, int64_t t, double v, int64_t *out_t, double *out_v) {
    if (isnan(v)) return false;
    if (st->total == 0) {
        st->total = 1;
        st->last_t = t;
        st->last_v = v;
        st->total_v = v;
    } else if (t > st->last_t) {
        st->total_v += v >= st->last_v ? v - st->last_v : v;
        st->last_t = t;
        st->last_v = v;
        st->total++;
    } else {
        if (t == st->last_t) st->last_v = v; /* the chunk's true last raw value */
        return false;
    }
    *out_t = st->last_t;
    *out_v = st->total_v;
    return true;
}

int aggrchunk_series_samples(const aggrchunk_t *chunks, size_t nchunks, enum aggr_type t, sample_t **out, size_t *n,
                             size_t *cap, pl_err_t *err) {
    if ((unsigned)t > AGGR_AVERAGE) return pl_err_set(err, "aggregate chunk: no aggregate %d", (int)t);
    if ((int)t == AGGR_AVERAGE) {
        for (size_t i = 0; i < nchunks; i++) {
            xor_iter_t si, ci;
            if (!aggrchunk_iter(&chunks[i], AGGR_SUM, &si) || !aggrchunk_iter(&chunks[i], AGGR_COUNT, &ci)) continue;
            bool hs, hc;
            while ((hs = xor_iter_next(&si)) & (hc = xor_iter_next(&ci))) {
                int64_t ts, tc;
                double vs, vc;
                xor_iter_at(&si, &ts, &vs);
                xor_iter_at(&ci, &tc, &vc);
                if (ts != tc) return pl_err_set(err, "aggregate chunk: sum and count timestamps differ (%lld, %lld)", (long long)ts, (long long)tc);
                if (*n == *cap) {
                    size_t nc = *cap ? *cap * 2 : 256;
                    sample_t *nv = realloc(*out, nc * sizeof *nv);
                    if (!nv) return pl_err_set(err, "out of memory");
                    *out = nv;
                    *cap = nc;
                }
                (*out)[(*n)++] = (sample_t){ts, vs / vc};
            }
            if (hs != hc || xor_iter_err(&si) || xor_iter_err(&ci))
                return pl_err_set(err, "aggregate chunk: sum and count hold different windows");
        }
        return 0;
    }
    if (t != AGGR_COUNTER) {
        for (size_t i = 0; i < nchunks; i++)
            if (aggrchunk_append_samples(&chunks[i], t, out, n, cap, err) != 0) return -1;
        return 0;
    }
    aggr_counter_state_t st = {0};
    for (size_t i = 0; i < nchunks; i++) {
        xor_iter_t it;
        if (!aggrchunk_iter(&chunks[i], AGGR_COUNTER, &it)) continue;
        while (xor_iter_next(&it)) {
            int64_t ts, ot;
            double v, ov;
            xor_iter_at(&it, &ts, &v);
            if (!aggr_counter_feed(&st, ts, v, &ot, &ov)) continue;
            if (*n == *cap) {
                size_t nc = *cap ? *cap * 2 : 256;
                sample_t *nv = realloc(*out, nc * sizeof *nv);
                if (!nv) return pl_err_set(err, "out of memory");
                *out = nv;
                *cap = nc;
            }
            (*out)[(*n)++] = (sample_t){ot, ov};
        }
        if (xor_iter_err(&it)) return pl_err_set(err, "aggregate chunk: counter: malformed XOR sub-chunk");
    }
    return 0;
}

static bool has_prefix(const char *s, const char *p) { return strncmp(s, p, strlen(p)) == 0; }

enum aggr_type aggr_for_function(const char *f) {
    if (!f) return (enum aggr_type)AGGR_AVERAGE;
    if (!strcmp(f, "min") || has_prefix(f, "min_")) return AGGR_MIN;
    if (!strcmp(f, "max") || has_prefix(f, "max_")) return AGGR_MAX;
    if (!strcmp(f, "count") || has_prefix(f, "count_")) return AGGR_COUNT;
    if (has_prefix(f, "sum_")) return AGGR_SUM; /* plain sum wants the samples: the average */
    if (!strcmp(f, "rate") || !strcmp(f, "increase") || !strcmp(f, "irate") || !strcmp(f, "resets")) return AGGR_COUNTER;
    return (enum aggr_type)AGGR_AVERAGE;
}
