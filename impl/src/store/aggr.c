/* aggr.c — samples of one aggregate out of a downsampled chunk (store.h).
 * Decoding is tsdb/aggrchunk's (Thanos's AggrChunk codec); this file picks
 * the aggregate a query asked for and clips it to the part's time range.
 *
 * COUNTER returns the counter sub-chunk as stored, its repeated last
 * timestamp included: the store applies aggr_counter_feed over a whole
 * series (all its parts in time order), since a reset can only be judged
 * against the previous chunk's true last value. AVG divides the sum by the
 * count of the same window. */
#include <stdlib.h>

#include "store/store.h"
#include "tsdb/aggrchunk.h"

static const enum aggr_type aggr_of[] = {
    [STORE_AGGR_COUNT] = AGGR_COUNT, [STORE_AGGR_SUM] = AGGR_SUM,         [STORE_AGGR_MIN] = AGGR_MIN,
    [STORE_AGGR_MAX] = AGGR_MAX,     [STORE_AGGR_COUNTER] = AGGR_COUNTER,
};

static int push(sample_t **out, size_t *n, size_t *cap, int64_t t, double v) {
    if (*n == *cap) {
        size_t nc = *cap ? *cap * 2 : 128;
        sample_t *nv = realloc(*out, nc * sizeof *nv);
        if (!nv) return -1;
        *out = nv;
        *cap = nc;
    }
    (*out)[(*n)++] = (sample_t){t, v};
    return 0;
}

int store_aggr_chunk_samples(const uint8_t *data, size_t len, store_aggr_t a, int64_t mint, int64_t maxt,
                             sample_t **out, size_t *n, size_t *cap, pl_err_t *err) {
    aggrchunk_t c;
    if (aggrchunk_parse(data, len, &c, err) != 0) return -1;
    if (a == STORE_AGGR_AVG) {
        xor_iter_t is, ic;
        if (!aggrchunk_iter(&c, AGGR_SUM, &is) || !aggrchunk_iter(&c, AGGR_COUNT, &ic))
            return pl_err_set(err, "aggregate chunk lacks sum or count");
        while (xor_iter_next(&is)) {
            if (!xor_iter_next(&ic)) return pl_err_set(err, "aggregate chunk: sum and count differ in length");
            int64_t ts, tc;
            double vs, vc;
            xor_iter_at(&is, &ts, &vs);
            xor_iter_at(&ic, &tc, &vc);
            if (ts != tc) return pl_err_set(err, "aggregate chunk: sum and count timestamps differ");
            if (ts < mint || ts > maxt || vc == 0) continue;
            if (push(out, n, cap, ts, vs / vc) < 0) return pl_err_set(err, "out of memory");
        }
        if (xor_iter_err(&is) || xor_iter_err(&ic)) return pl_err_set(err, "aggregate chunk: malformed sub-chunk");
        return 0;
    }
    if ((unsigned)a > STORE_AGGR_COUNTER) return pl_err_set(err, "unknown aggregate %d", (int)a);
    xor_iter_t it;
    if (!aggrchunk_iter(&c, aggr_of[a], &it))
        return pl_err_set(err, "aggregate chunk lacks the %s aggregate", store_aggr_name(a));
    while (xor_iter_next(&it)) {
        int64_t t;
        double v;
        xor_iter_at(&it, &t, &v);
        if (t < mint || t > maxt) continue;
        if (push(out, n, cap, t, v) < 0) return pl_err_set(err, "out of memory");
    }
    if (xor_iter_err(&it)) return pl_err_set(err, "aggregate chunk: malformed %s sub-chunk", store_aggr_name(a));
    return 0;
}
