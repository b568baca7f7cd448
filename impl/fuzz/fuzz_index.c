/* fuzz_index.c — libFuzzer harness for the index v2 reader.
 *
 * Arbitrary bytes are opened as an index file: the reader must refuse them
 * with an error or answer every call (symbols, label names and values, the
 * postings of every entry of the postings table, every series those list)
 * without reading out of bounds. The same bytes are also decoded as a
 * tombstones file. Seeds: impl/tests/data/index/ (indexes promtool 2.42 and
 * promlab wrote). Run by `make fuzz`. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tsdb/index.h"
#include "tsdb/tombstones.h"

typedef struct walk {
    const index_reader_t *r;
    const char *name;
    index_series_t s;
    int budget;
} walk_t;

static int on_value(void *ctx, const char *v) {
    walk_t *w = ctx;
    uint32_t *ids;
    size_t n;
    pl_err_t err;
    if (index_reader_postings(w->r, w->name, v, &ids, &n, &err) != 0) return 0;
    for (size_t i = 0; i < n && w->budget > 0; i++, w->budget--)
        index_reader_series(w->r, ids[i], &w->s, &err);
    free(ids);
    return w->budget <= 0;
}

static int on_name(void *ctx, const char *name) {
    walk_t *w = ctx;
    w->name = name;
    index_reader_label_values(w->r, name, on_value, w);
    return w->budget <= 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    pl_err_t err;
    tombstones_t ts = {0};
    tombstones_decode(data, size, &ts, &err);
    tombstones_free(&ts);

    index_reader_t *r = index_reader_open_bytes(data, size, &err);
    if (!r) return 0;
    for (uint32_t i = 0; i < index_reader_num_symbols(r) && i < 4096; i++)
        (void)index_reader_symbol(r, i);
    walk_t w = {r, "", {0}, 10000};
    on_value(&w, ""); /* the all-series list */
    index_reader_label_names(r, on_name, &w);
    index_series_free(&w.s);
    index_reader_close(r);
    return 0;
}
