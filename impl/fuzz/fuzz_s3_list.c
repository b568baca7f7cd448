/* fuzz_s3_list.c — libFuzzer harness for the S3 XML answers the S3 client
 * reads (ListObjectsV2's ListBucketResult, Error, InitiateMultipartUpload).
 * Any input must parse or be refused without reading outside the input,
 * crashing or leaking. Seeds: impl/tests/data/s3_list/ (make fuzz). */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "objstore/internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    /* Copy without a terminator: the parser must respect the length. */
    char *buf = malloc(size ? size : 1);
    if (!buf) return 0;
    memcpy(buf, data, size);
    s3_list_result_t r;
    pl_err_t err;
    if (s3_parse_list(buf, size, &r, &err) == 0) {
        for (size_t i = 0; i < r.nkeys; i++)
            if (!r.keys[i] || r.sizes[i] < -1) abort();
        if (r.truncated && (!r.next_token || !*r.next_token)) abort();
        s3_list_result_free(&r);
    }
    free(s3_xml_text(buf, size, "Code"));
    free(s3_xml_text(buf, size, "UploadId"));
    free(buf);
    return 0;
}
