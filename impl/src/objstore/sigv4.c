/* sigv4.c — see sigv4.h. Follows AWS's "Create a canonical request" steps:
 * canonical request -> string to sign -> signing key (HMAC chain over date,
 * region, service, "aws4_request") -> signature. */
#include "objstore/sigv4.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "util/sha256.h"

void sigv4_uri_encode(strbuf_t *out, const char *s, size_t n, bool encode_slash) {
    static const char hex[] = "0123456789ABCDEF";
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~' || (c == '/' && !encode_slash)) {
            strbuf_putc(out, (char)c);
        } else {
            char e[3] = {'%', hex[c >> 4], hex[c & 15]};
            strbuf_append(out, e, 3);
        }
    }
}

typedef struct kv {
    char *k, *v;
} kv_t;

static int kv_cmp(const void *a, const void *b) {
    const kv_t *x = a, *y = b;
    int c = strcmp(x->k, y->k);
    return c ? c : strcmp(x->v, y->v);
}

void sigv4_canonical_query(const sigv4_input_t *in, strbuf_t *out) {
    if (!in->nquery) return;
    kv_t *v = calloc(in->nquery, sizeof *v);
    if (!v) abort(); /* as strbuf: OOM is fatal */
    for (size_t i = 0; i < in->nquery; i++) {
        strbuf_t k = STRBUF_INIT, x = STRBUF_INIT;
        const char *qn = in->query[i].name, *qv = in->query[i].value ? in->query[i].value : "";
        sigv4_uri_encode(&k, qn, strlen(qn), true);
        sigv4_uri_encode(&x, qv, strlen(qv), true);
        strbuf_putc(&k, '\0'); /* ensure data != NULL for empty strings */
        strbuf_putc(&x, '\0');
        v[i].k = strbuf_detach(&k);
        v[i].v = strbuf_detach(&x);
    }
    qsort(v, in->nquery, sizeof *v, kv_cmp);
    for (size_t i = 0; i < in->nquery; i++) {
        if (i) strbuf_putc(out, '&');
        strbuf_puts(out, v[i].k);
        strbuf_putc(out, '=');
        strbuf_puts(out, v[i].v);
        free(v[i].k);
        free(v[i].v);
    }
    free(v);
}

typedef struct hdr {
    char *name;   /* lower-case */
    strbuf_t val; /* trimmed, inner runs of spaces collapsed, repeats joined by ',' */
} hdr_t;

static int hdr_cmp(const void *a, const void *b) { return strcmp(((const hdr_t *)a)->name, ((const hdr_t *)b)->name); }

static void put_trimmed(strbuf_t *sb, const char *s) {
    while (*s == ' ' || *s == '\t') s++;
    size_t n = strlen(s);
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t')) n--;
    bool space = false;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == ' ' || s[i] == '\t') {
            space = true;
            continue;
        }
        if (space) strbuf_putc(sb, ' ');
        space = false;
        strbuf_putc(sb, s[i]);
    }
}

/* Builds the sorted, merged header list; returns its length. */
static size_t canonical_headers(const sigv4_input_t *in, hdr_t **out) {
    hdr_t *h = calloc(in->nheaders ? in->nheaders : 1, sizeof *h);
    if (!h) abort();
    size_t n = 0;
    for (size_t i = 0; i < in->nheaders; i++) {
        size_t j;
        for (j = 0; j < n; j++)
            if (strcasecmp(h[j].name, in->headers[i].name) == 0) break;
        if (j == n) {
            h[n].name = strdup(in->headers[i].name);
            if (!h[n].name) abort();
            for (char *p = h[n].name; *p; p++) *p = (char)tolower((unsigned char)*p);
            strbuf_init(&h[n].val);
            strbuf_putc(&h[n].val, '\0');
            h[n].val.len = 0;
            n++;
        } else {
            strbuf_putc(&h[j].val, ',');
        }
        put_trimmed(&h[j].val, in->headers[i].value ? in->headers[i].value : "");
    }
    qsort(h, n, sizeof *h, hdr_cmp);
    *out = h;
    return n;
}

static void free_headers(hdr_t *h, size_t n) {
    for (size_t i = 0; i < n; i++) {
        free(h[i].name);
        strbuf_free(&h[i].val);
    }
    free(h);
}

static void signed_headers(const hdr_t *h, size_t n, strbuf_t *out) {
    for (size_t i = 0; i < n; i++) {
        if (i) strbuf_putc(out, ';');
        strbuf_puts(out, h[i].name);
    }
}

void sigv4_canonical_request(const sigv4_input_t *in, strbuf_t *out) {
    strbuf_puts(out, in->method);
    strbuf_putc(out, '\n');
    strbuf_puts(out, in->encoded_path && *in->encoded_path ? in->encoded_path : "/");
    strbuf_putc(out, '\n');
    sigv4_canonical_query(in, out);
    strbuf_putc(out, '\n');
    hdr_t *h;
    size_t n = canonical_headers(in, &h);
    for (size_t i = 0; i < n; i++) {
        strbuf_puts(out, h[i].name);
        strbuf_putc(out, ':');
        strbuf_append(out, h[i].val.data, h[i].val.len);
        strbuf_putc(out, '\n');
    }
    strbuf_putc(out, '\n');
    signed_headers(h, n, out);
    strbuf_putc(out, '\n');
    strbuf_puts(out, in->payload_sha256_hex);
    free_headers(h, n);
}

static void scope(const sigv4_input_t *in, strbuf_t *out) {
    strbuf_append(out, in->amz_date, 8);
    strbuf_printf(out, "/%s/%s/aws4_request", in->region, in->service);
}

void sigv4_string_to_sign(const sigv4_input_t *in, strbuf_t *out) {
    strbuf_t creq = STRBUF_INIT;
    sigv4_canonical_request(in, &creq);
    uint8_t d[SHA256_LEN];
    char hex[SHA256_HEX_LEN + 1];
    sha256(creq.data, creq.len, d);
    pl_hex(d, SHA256_LEN, hex);
    strbuf_free(&creq);
    strbuf_puts(out, "AWS4-HMAC-SHA256\n");
    strbuf_puts(out, in->amz_date);
    strbuf_putc(out, '\n');
    scope(in, out);
    strbuf_putc(out, '\n');
    strbuf_puts(out, hex);
}

void sigv4_authorization(const sigv4_input_t *in, strbuf_t *out) {
    /* signing key = HMAC(HMAC(HMAC(HMAC("AWS4"+secret, date), region), service), "aws4_request") */
    strbuf_t k0 = STRBUF_INIT;
    strbuf_puts(&k0, "AWS4");
    strbuf_puts(&k0, in->secret_key);
    uint8_t k[SHA256_LEN];
    hmac_sha256(k0.data, k0.len, in->amz_date, 8, k);
    memset(k0.data, 0, k0.len);
    strbuf_free(&k0);
    hmac_sha256(k, SHA256_LEN, in->region, strlen(in->region), k);
    hmac_sha256(k, SHA256_LEN, in->service, strlen(in->service), k);
    hmac_sha256(k, SHA256_LEN, "aws4_request", 12, k);
    strbuf_t sts = STRBUF_INIT;
    sigv4_string_to_sign(in, &sts);
    uint8_t sig[SHA256_LEN];
    hmac_sha256(k, SHA256_LEN, sts.data, sts.len, sig);
    memset(k, 0, sizeof k);
    strbuf_free(&sts);
    char hex[SHA256_HEX_LEN + 1];
    pl_hex(sig, SHA256_LEN, hex);

    strbuf_puts(out, "AWS4-HMAC-SHA256 Credential=");
    strbuf_puts(out, in->access_key);
    strbuf_putc(out, '/');
    scope(in, out);
    strbuf_puts(out, ", SignedHeaders=");
    hdr_t *h;
    size_t n = canonical_headers(in, &h);
    signed_headers(h, n, out);
    free_headers(h, n);
    strbuf_puts(out, ", Signature=");
    strbuf_puts(out, hex);
}

void sigv4_amz_date(long long unix_seconds, char out[17]) {
    time_t t = (time_t)unix_seconds;
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, 17, "%Y%m%dT%H%M%SZ", &tm);
}
