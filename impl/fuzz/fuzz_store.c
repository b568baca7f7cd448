/* fuzz_store.c — libFuzzer harness for what the store and `promlab query`
 * read from untrusted peers: bytes of a downsampled chunk from a bucket
 * (store_aggr_chunk_samples, every aggregate, AVG included), a leaf's info
 * document, and a max_source_resolution parameter. Nothing may crash or
 * read out of bounds; every error leaves no allocation behind. Run by
 * `make fuzz`. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "query/query.h"
#include "store/store.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    for (int a = STORE_AGGR_COUNT; a <= STORE_AGGR_AVG; a++) {
        sample_t *out = NULL;
        size_t n = 0, cap = 0;
        pl_err_t err = {{0}};
        (void)store_aggr_chunk_samples(data, size, (store_aggr_t)a, INT64_MIN, INT64_MAX, &out, &n, &cap, &err);
        free(out);
    }
    query_leaf_info_t li;
    pl_err_t err = {{0}};
    if (query_parse_leaf_info((const char *)data, size, &li, &err) == 0) query_leaf_info_free(&li);
    char *s = malloc(size + 1);
    if (s) {
        memcpy(s, data, size);
        s[size] = '\0';
        int64_t ms;
        (void)query_max_source_resolution(s, "60", true, &ms, &err);
        (void)store_parse_resolution(s, &ms, &err);
        free(s);
    }
    return 0;
}
