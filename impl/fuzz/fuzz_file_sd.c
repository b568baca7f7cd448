/* fuzz_file_sd.c — libFuzzer harness for file_sd target files.
 *
 * The first byte picks the format (even: JSON, odd: YAML), the rest is the
 * file. Any input either parses into groups whose labels are sorted, carry
 * __meta_filepath and have valid names, or is refused with a message and
 * leaves the output empty. Run with `make fuzz` (seeds: impl/tests/data/file_sd/). */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "scrape/file_sd.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    bool yaml = data[0] & 1;
    sd_groups_t g = {0};
    pl_err_t err = {{0}};
    int rc = file_sd_parse((const char *)data + 1, size - 1, yaml, "fuzz.json", &g, &err);
    if (rc != 0) {
        if (g.n != 0 || err.msg[0] == '\0') abort();
        return 0;
    }
    for (size_t i = 0; i < g.n; i++) {
        bool meta = false;
        for (size_t k = 0; k < g.v[i].nlabels; k++) {
            if (k && strcmp(g.v[i].labels[k - 1].name, g.v[i].labels[k].name) >= 0) abort();
            if (!label_name_valid(g.v[i].labels[k].name, strlen(g.v[i].labels[k].name))) abort();
            if (strcmp(g.v[i].labels[k].name, "__meta_filepath") == 0) meta = true;
        }
        if (!meta) abort();
        for (size_t k = 0; k < g.v[i].ntargets; k++)
            if (!g.v[i].targets[k]) abort();
    }
    sd_groups_free(&g);
    return 0;
}
