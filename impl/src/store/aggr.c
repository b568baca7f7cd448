/* aggr.c — samples of one aggregate out of a downsampled chunk (store.h).
 * Decoding is tsdb/aggrchunk's (Thanos's AggrChunk codec); this file only
 * picks the aggregate a query asked for. */
#include "store/store.h"

int store_aggr_chunk_samples(const uint8_t *data, size_t len, store_aggr_t a, int64_t mint, int64_t maxt,
                             sample_t **out, size_t *n, size_t *cap, pl_err_t *err) {
    (void)data, (void)len, (void)a, (void)mint, (void)maxt, (void)out, (void)n, (void)cap;
    return pl_err_set(err, "downsampled chunks are not readable yet (aggrchunk codec missing)");
}
