/* fuzz_meta.c — libFuzzer harness for meta.json (tsdb/meta.h).
 *
 * Arbitrary bytes are parsed as a block's meta.json: the parser must refuse
 * them with an error or fill a block_meta_t. What it accepts must render
 * (as Prometheus writes meta.json) into text that parses again to the same
 * rendering: render(parse(render(parse(x)))) == render(parse(x)), so a
 * meta.json promlab rewrites (compaction marking a block deletable or
 * failed, a Thanos section carried over) never drifts or breaks. Seeds:
 * impl/tests/data/meta/. Run by `make fuzz`. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tsdb/meta.h"
#include "util/strbuf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    pl_err_t err;
    block_meta_t m;
    if (block_meta_parse((const char *)data, size, &m, &err) != 0) return 0;
    /* What compaction does to an input's meta.json. */
    m.deletable = !m.deletable;
    strbuf_t a = STRBUF_INIT, b = STRBUF_INIT;
    block_meta_render(&m, &a);
    block_meta_t m2;
    if (block_meta_parse(a.data, a.len, &m2, &err) != 0) {
        fprintf(stderr, "rendered meta.json does not parse: %s\n%.*s\n", err.msg, (int)a.len, a.data);
        abort();
    }
    block_meta_render(&m2, &b);
    if (a.len != b.len || memcmp(a.data, b.data, a.len) != 0) {
        fprintf(stderr, "meta.json round trip differs:\n%.*s\n---\n%.*s\n", (int)a.len, a.data, (int)b.len, b.data);
        abort();
    }
    block_meta_free(&m2);
    block_meta_free(&m);
    strbuf_free(&a);
    strbuf_free(&b);
    return 0;
}
