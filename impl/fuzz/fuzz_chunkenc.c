/* fuzz_chunkenc.c — libFuzzer harness for XOR chunk decoding.
 *
 * Arbitrary bytes are read as a chunk: the iterator must stop (with or
 * without its error flag) and never read out of bounds. Every sample it
 * decodes is re-encoded into a fresh chunk, which must decode to the same
 * (t, value bits) sequence; resuming an appender over the input must not
 * crash either. Run by `make fuzz`. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tsdb/chunkenc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    xor_iter_t it;
    xor_iter_init(&it, data, size);
    xor_chunk_t c;
    if (xor_chunk_init(&c) < 0) return 0;
    int64_t ts[512];
    uint64_t bits[512];
    size_t n = 0;
    while (n < 512 && xor_iter_next(&it)) {
        double v;
        xor_iter_at(&it, &ts[n], &v);
        bits[n] = xor_iter_at_bits(&it);
        if (xor_chunk_append(&c, ts[n], v) < 0) break;
        n++;
    }
    size_t len;
    const uint8_t *enc = xor_chunk_bytes(&c, &len);
    xor_iter_t back;
    xor_iter_init(&back, enc, len);
    for (size_t i = 0; i < n; i++) {
        if (!xor_iter_next(&back)) abort();
        int64_t t;
        double v;
        xor_iter_at(&back, &t, &v);
        if (t != ts[i] || xor_iter_at_bits(&back) != bits[i]) abort();
    }
    xor_chunk_free(&c);

    /* Seeking in arbitrary bytes. */
    if (size >= 8) {
        int64_t target;
        memcpy(&target, data, sizeof target);
        xor_iter_init(&it, data, size);
        (void)xor_iter_seek(&it, target);
    }
    /* Resuming an appender over arbitrary bytes. */
    xor_appender_t a;
    (void)xor_appender_resume(&a, data, size);
    return 0;
}
