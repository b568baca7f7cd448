/* fuzz_remote_read.c — libFuzzer harness for the remote-read decoders.
 *
 * The first byte picks the decoder, the rest is its input, exactly as it
 * arrives over HTTP: a snappy-compressed ReadRequest (what POST
 * /api/v1/read of `promlab server` decodes from anyone), a snappy'd
 * ReadResponse, or a stream of ChunkedReadResponse frames (what the client
 * in `promlab query` decodes from a leaf). None may crash, leak or read out
 * of bounds; a decoded request must encode again and decode to the same
 * number of queries and matchers. Run by `make fuzz`. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "remote/remote_read.h"

static int count_series(void *ctx, size_t qi, const label_t *ls, size_t n, const sample_t *s, size_t ns) {
    (void)qi;
    (void)ls;
    (void)s;
    *(size_t *)ctx += n + ns;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    pl_err_t err;
    size_t seen = 0;
    switch (data[0] % 3) {
    case 0: {
        rr_request_t r;
        if (rr_request_decode(data + 1, size - 1, &r, &err) == 0) {
            strbuf_t again = STRBUF_INIT;
            if (rr_request_encode(&r, &again, &err) != 0) abort();
            rr_request_t r2;
            if (rr_request_decode(again.data, again.len, &r2, &err) != 0) abort();
            if (r2.nqueries != r.nqueries) abort();
            for (size_t i = 0; i < r.nqueries; i++)
                if (r2.queries[i].nmatchers != r.queries[i].nmatchers) abort();
            rr_request_free(&r2);
            strbuf_free(&again);
        }
        rr_request_free(&r);
        break;
    }
    case 1: (void)rr_samples_decode(data + 1, size - 1, count_series, &seen, &err); break;
    default: (void)rr_stream_decode(data + 1, size - 1, count_series, &seen, &err); break;
    }
    return 0;
}
