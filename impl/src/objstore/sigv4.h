/* sigv4.h — AWS Signature Version 4 for requests signed in the
 * Authorization header (the only form promlab's S3 client sends).
 *
 * The caller lists the headers to sign (host and x-amz-date at least; for S3
 * also x-amz-content-sha256) with their values exactly as they go on the
 * wire, and gives the path already percent-encoded the S3 way (each segment
 * encoded once, '/' kept: sigv4_uri_encode with encode_slash=false). Query
 * parameters are given raw and encoded here. Nothing in this module logs or
 * keeps the secret key. */
#ifndef PL_OBJSTORE_SIGV4_H
#define PL_OBJSTORE_SIGV4_H

#include <stdbool.h>
#include <stddef.h>

#include "util/strbuf.h"

typedef struct sigv4_pair {
    const char *name;
    const char *value;
} sigv4_pair_t;

typedef struct sigv4_input {
    const char *method;
    const char *encoded_path;          /* "/bucket/key%20x" */
    const sigv4_pair_t *query;         /* raw names and values (value "" for "?uploads") */
    size_t nquery;
    const sigv4_pair_t *headers;       /* any case; repeated names are joined with ',' */
    size_t nheaders;
    const char *payload_sha256_hex;    /* hex SHA-256 of the body, or "UNSIGNED-PAYLOAD" */
    const char *amz_date;              /* "20150830T123600Z" (the x-amz-date value) */
    const char *region, *service;
    const char *access_key, *secret_key;
} sigv4_input_t;

/* RFC 3986 unreserved characters kept, everything else %XX (upper-case hex). */
void sigv4_uri_encode(strbuf_t *out, const char *s, size_t n, bool encode_slash);
/* The canonical query string: encoded pairs sorted by name then value. */
void sigv4_canonical_query(const sigv4_input_t *in, strbuf_t *out);
void sigv4_canonical_request(const sigv4_input_t *in, strbuf_t *out);
void sigv4_string_to_sign(const sigv4_input_t *in, strbuf_t *out);
/* The Authorization header's value:
 * "AWS4-HMAC-SHA256 Credential=AK/DATE/REGION/SERVICE/aws4_request, SignedHeaders=..., Signature=..." */
void sigv4_authorization(const sigv4_input_t *in, strbuf_t *out);
/* Formats a Unix time (seconds) as an x-amz-date value; out holds 17 bytes. */
void sigv4_amz_date(long long unix_seconds, char out[17]);

#endif
