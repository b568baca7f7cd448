/* fuzz_wal.c — libFuzzer harness for WAL segments and records.
 *
 * Arbitrary bytes are read as a WAL segment (wal_reader_from_bytes): the
 * reader must end cleanly or with a corruption, never read out of bounds,
 * and the good-end offset it reports must lie within the input. Every
 * record it yields, and the raw input itself, is decoded as a series,
 * samples or tombstones record; decoded samples are re-encoded and must
 * decode to the same values bit for bit. Seeds: impl/tests/data/wal/ (a
 * segment Prometheus 2.42 wrote). Run by `make fuzz`. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tsdb/record.h"
#include "tsdb/wal.h"

static int on_series(void *ctx, uint64_t ref, const label_t *ls, size_t n) {
    (void)ref;
    size_t *total = ctx;
    for (size_t i = 0; i < n; i++)
        *total += strlen(ls[i].name) + strlen(ls[i].value);
    return 0;
}

static void decode_record(record_decoder_t *d, const uint8_t *rec, size_t len) {
    pl_err_t err;
    size_t total = 0, n = 0;
    switch (record_type(rec, len)) {
    case RECORD_SERIES: (void)record_decode_series(d, rec, len, on_series, &total, &err); break;
    case RECORD_SAMPLES: {
        const record_sample_t *s;
        if (record_decode_samples(d, rec, len, &s, &n, &err) != 0 || n == 0) break;
        record_sample_t *copy = malloc(n * sizeof *copy);
        if (!copy) abort();
        memcpy(copy, s, n * sizeof *copy);
        strbuf_t sb = STRBUF_INIT;
        record_samples_encode(&sb, copy, n);
        const record_sample_t *again;
        size_t m;
        if (record_decode_samples(d, (const uint8_t *)sb.data, sb.len, &again, &m, &err) != 0 || m != n) abort();
        for (size_t i = 0; i < n; i++)
            if (again[i].ref != copy[i].ref || again[i].t != copy[i].t || memcmp(&again[i].v, &copy[i].v, 8) != 0)
                abort();
        strbuf_free(&sb);
        free(copy);
        break;
    }
    case RECORD_TOMBSTONES: {
        const record_tombstone_t *t;
        (void)record_decode_tombstones(d, rec, len, &t, &n, &err);
        break;
    }
    default: break;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    record_decoder_t d;
    record_decoder_init(&d);
    decode_record(&d, data, size);
    wal_reader_t *r = wal_reader_from_bytes(data, size);
    if (!r) abort();
    const uint8_t *rec;
    size_t len;
    pl_err_t err;
    int rc;
    while ((rc = wal_reader_next(r, &rec, &len, &err)) == 1)
        decode_record(&d, rec, len);
    int seg;
    uint64_t off;
    wal_reader_good_end(r, &seg, &off);
    if (seg != 0 || off > size) abort();
    wal_reader_free(r);
    record_decoder_free(&d);
    return 0;
}
