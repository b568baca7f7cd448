/* fuzz_aggrchunk.c — libFuzzer harness for Thanos's aggregate chunk
 * (tsdb/aggrchunk.h). Arbitrary bytes are parsed as an aggregate chunk:
 * the parser must accept or refuse without reading out of bounds; when it
 * accepts, every aggregate decodes (to its header's count), re-encoding the
 * decoded samples gives a chunk that parses to the same samples, and the
 * counter reader runs over the counter aggregate. Seeds:
 * impl/tests/data/aggrchunk/. Run by `make fuzz`. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tsdb/aggrchunk.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    aggrchunk_t c;
    if (aggrchunk_parse(data, size, &c, NULL) != 0) return 0;
    sample_t *s[AGGR_N] = {0};
    size_t n[AGGR_N] = {0}, cap[AGGR_N] = {0};
    for (int t = 0; t < AGGR_N; t++)
        if (aggrchunk_append_samples(&c, (enum aggr_type)t, &s[t], &n[t], &cap[t], NULL) != 0) abort();
    const sample_t *in[AGGR_N];
    for (int t = 0; t < AGGR_N; t++)
        in[t] = c.sub[t].present ? (s[t] ? s[t] : (const sample_t *)&c) : NULL;
    strbuf_t sb = STRBUF_INIT;
    if (aggrchunk_encode(in, n, &sb, NULL) == 0) {
        aggrchunk_t r;
        if (aggrchunk_parse((const uint8_t *)sb.data, sb.len, &r, NULL) != 0) abort();
        for (int t = 0; t < AGGR_N; t++) {
            sample_t *x = NULL;
            size_t m = 0, mc = 0;
            if (aggrchunk_append_samples(&r, (enum aggr_type)t, &x, &m, &mc, NULL) != 0 || m != n[t]) abort();
            for (size_t i = 0; i < m; i++)
                if (x[i].t != s[t][i].t || memcmp(&x[i].v, &s[t][i].v, 8) != 0) abort();
            free(x);
        }
    }
    strbuf_free(&sb);
    aggr_counter_state_t st = {0};
    for (size_t i = 0; i < n[AGGR_COUNTER]; i++) {
        int64_t ot;
        double ov;
        aggr_counter_feed(&st, s[AGGR_COUNTER][i].t, s[AGGR_COUNTER][i].v, &ot, &ov);
    }
    for (int t = 0; t < AGGR_N; t++) free(s[t]);
    return 0;
}
