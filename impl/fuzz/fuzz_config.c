/* fuzz_config.c — libFuzzer harness for the prometheus.yml loader.
 *
 * Any input must load or be refused without a crash, a leak or undefined
 * behaviour. A config that loads must render to YAML that loads again and
 * renders to the same text (the /api/v1/status/config round trip).
 * Build and run from the repository root (the seeds are the test fixtures): */
//   clang -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined -D_GNU_SOURCE -Iimpl/src
//     impl/fuzz/fuzz_config.c impl/src/config/*.c impl/src/util/*.c impl/src/model/*.c
//     $(pkg-config --cflags --libs yaml-0.1 libpcre2-8 libxxhash) -lm -o fuzz_config
//   mkdir -p corpus && ./fuzz_config -max_total_time=120 corpus impl/tests/data/config/good impl/tests/data/config/bad
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/config.h"

/* External label values are expanded from the environment ("$$" becomes
 * "$"), so a value holding '$' legitimately changes when read again. */
static bool has_dollar_label(const config_t *c) {
    for (size_t i = 0; i < c->global.external_labels.n; i++)
        if (strchr(c->global.external_labels.v[i].value, '$')) return true;
    return false;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    config_t *c = NULL;
    pl_err_t err;
    if (config_load_string((const char *)data, size, "fuzz.yml", &c, &err) != 0) {
        if (c) abort();                     /* a failed load hands nothing back */
        if (!strchr(err.msg, ':')) abort(); /* every message names the file */
        return 0;
    }
    strbuf_t first = STRBUF_INIT, second = STRBUF_INIT;
    config_render_yaml(c, &first);
    config_t *again = NULL;
    if (config_load_string(first.data, first.len, "fuzz.yml", &again, &err) != 0) {
        fprintf(stderr, "rendered config does not load again: %s\n--- rendered ---\n%s\n", err.msg, first.data);
        abort();
    }
    config_render_yaml(again, &second);
    if (!has_dollar_label(c) && strcmp(first.data, second.data) != 0) {
        fprintf(stderr, "rendering is not stable\n--- first ---\n%s\n--- second ---\n%s\n", first.data, second.data);
        abort();
    }
    strbuf_free(&first);
    strbuf_free(&second);
    config_free(again);
    config_free(c);
    return 0;
}
