/* fuzz_objstore_config.c — libFuzzer harness for the objstore YAML parser.
 * Any input must parse or be refused with a "name:line:col"-style message,
 * without a crash, a leak or undefined behaviour; a refused input leaves the
 * config zeroed. Seeds: impl/tests/data/objstore_config/ (make fuzz). */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "objstore/objstore.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    objstore_config_t c;
    pl_err_t err = {{0}};
    if (objstore_config_parse((const char *)data, size, "fuzz.yml", &c, &err) == 0) {
        if (c.type != OBJSTORE_FILESYSTEM && c.type != OBJSTORE_S3) abort();
        if (c.type == OBJSTORE_FILESYSTEM && (!c.directory || !*c.directory)) abort();
        if (c.type == OBJSTORE_S3 && (!c.s3.bucket || !*c.s3.bucket || c.s3.part_size < 5120)) abort();
        if (!c.prefix || (c.prefix[0] == '/')) abort();
        objstore_config_free(&c);
    } else {
        if (strncmp(err.msg, "fuzz.yml", 8) != 0) abort();
        if (c.type != 0 || c.prefix || c.directory || c.s3.bucket) abort();
    }
    return 0;
}
