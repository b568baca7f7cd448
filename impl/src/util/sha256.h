/* sha256.h — SHA-256 (FIPS 180-4) and HMAC-SHA256 (RFC 2104), what AWS
 * Signature Version 4 needs. Written here rather than taken from libcrypto so
 * the build keeps its dependency list; tested against the FIPS and RFC 4231
 * vectors. Not constant-time with respect to message length (nothing here
 * compares secrets). */
#ifndef PL_UTIL_SHA256_H
#define PL_UTIL_SHA256_H

#include <stddef.h>
#include <stdint.h>

#define SHA256_LEN 32
#define SHA256_HEX_LEN 64

typedef struct sha256_ctx {
    uint32_t h[8];
    uint64_t total; /* bytes hashed so far */
    uint8_t buf[64];
    size_t nbuf;
} sha256_ctx_t;

void sha256_init(sha256_ctx_t *c);
void sha256_update(sha256_ctx_t *c, const void *data, size_t n);
void sha256_final(sha256_ctx_t *c, uint8_t out[SHA256_LEN]);
void sha256(const void *data, size_t n, uint8_t out[SHA256_LEN]);
void hmac_sha256(const void *key, size_t keylen, const void *msg, size_t n, uint8_t out[SHA256_LEN]);
/* Lower-case hex of n bytes; out holds 2n+1. */
void pl_hex(const uint8_t *in, size_t n, char *out);

#endif
