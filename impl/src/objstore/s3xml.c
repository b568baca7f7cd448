/* s3xml.c — the few S3 XML answers promlab reads: ListObjectsV2
 * (ListBucketResult), InitiateMultipartUploadResult and Error. S3 answers
 * are flat, machine-written XML without repeated nested names, so a scanner
 * that finds <Tag>…</Tag> pairs inside a range is enough; it never reads
 * outside [xml, xml+len) and treats anything malformed as absent or as an
 * error. Fuzzed by impl/fuzz/fuzz_s3_list.c. */
#include <stdlib.h>
#include <string.h>

#include "objstore/internal.h"

typedef struct span {
    const char *p, *end;
} span_t;

static const char *memfind(const char *p, const char *end, const char *needle) {
    size_t n = strlen(needle);
    for (; p && end - p >= (ptrdiff_t)n; p++) {
        p = memchr(p, needle[0], (size_t)(end - p));
        if (!p || end - p < (ptrdiff_t)n) return NULL;
        if (!memcmp(p, needle, n)) return p;
    }
    return NULL;
}

/* Finds the next <tag>…</tag> (or <tag/>, or <tag attr="…">) in *in; sets
 * the content span and advances *in past the element. */
static bool next_element(span_t *in, const char *tag, span_t *content) {
    size_t tl = strlen(tag);
    const char *p = in->p;
    for (;;) {
        const char *lt = p < in->end ? memchr(p, '<', (size_t)(in->end - p)) : NULL;
        if (!lt) return false;
        p = lt + 1;
        if ((size_t)(in->end - p) < tl + 1 || memcmp(p, tag, tl) != 0) continue;
        char c = p[tl];
        if (c != '>' && c != ' ' && c != '/' && c != '\t' && c != '\n' && c != '\r') continue;
        const char *gt = memchr(p, '>', (size_t)(in->end - p));
        if (!gt) return false;
        if (gt[-1] == '/') { /* <tag/> */
            content->p = content->end = gt + 1;
            in->p = gt + 1;
            return true;
        }
        const char *body = gt + 1;
        char close[128];
        if (tl + 4 > sizeof close) return false;
        close[0] = '<';
        close[1] = '/';
        memcpy(close + 2, tag, tl);
        close[tl + 2] = '>';
        close[tl + 3] = '\0';
        const char *ce = memfind(body, in->end, close);
        if (!ce) return false;
        content->p = body;
        content->end = ce;
        in->p = ce + tl + 3;
        return true;
    }
}

static void put_utf8(strbuf_t *sb, unsigned long cp) {
    char b[4];
    if (cp < 0x80) {
        strbuf_putc(sb, (char)cp);
    } else if (cp < 0x800) {
        b[0] = (char)(0xC0 | (cp >> 6));
        b[1] = (char)(0x80 | (cp & 0x3F));
        strbuf_append(sb, b, 2);
    } else if (cp < 0x10000) {
        b[0] = (char)(0xE0 | (cp >> 12));
        b[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        b[2] = (char)(0x80 | (cp & 0x3F));
        strbuf_append(sb, b, 3);
    } else if (cp < 0x110000) {
        b[0] = (char)(0xF0 | (cp >> 18));
        b[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
        b[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
        b[3] = (char)(0x80 | (cp & 0x3F));
        strbuf_append(sb, b, 4);
    }
}

/* Decodes the five predefined entities and numeric references. */
static char *decode(span_t s) {
    strbuf_t sb = STRBUF_INIT;
    strbuf_putc(&sb, '\0');
    sb.len = 0;
    for (const char *p = s.p; p < s.end; p++) {
        if (*p != '&') {
            strbuf_putc(&sb, *p);
            continue;
        }
        const char *semi = memchr(p, ';', (size_t)(s.end - p));
        if (!semi || semi - p > 12) {
            strbuf_putc(&sb, *p);
            continue;
        }
        size_t n = (size_t)(semi - p - 1);
        const char *e = p + 1;
        static const struct {
            const char *name;
            char c;
        } ents[] = {{"amp", '&'}, {"lt", '<'}, {"gt", '>'}, {"quot", '"'}, {"apos", '\''}};
        bool done = false;
        for (size_t i = 0; i < 5 && !done; i++)
            if (strlen(ents[i].name) == n && !memcmp(e, ents[i].name, n)) {
                strbuf_putc(&sb, ents[i].c);
                done = true;
            }
        if (!done && n >= 2 && e[0] == '#') {
            unsigned long cp = 0;
            bool hex = e[1] == 'x' || e[1] == 'X', ok = true;
            for (const char *q = e + (hex ? 2 : 1); q < semi; q++) {
                int d = (*q >= '0' && *q <= '9') ? *q - '0'
                        : hex && (*q | 32) >= 'a' && (*q | 32) <= 'f' ? (*q | 32) - 'a' + 10
                                                                      : -1;
                if (d < 0 || cp > 0x10FFFF) {
                    ok = false;
                    break;
                }
                cp = cp * (hex ? 16 : 10) + (unsigned long)d;
            }
            if (ok && e + (hex ? 2 : 1) < semi && cp > 0 && cp < 0x110000) {
                put_utf8(&sb, cp);
                done = true;
            }
        }
        if (!done) {
            strbuf_putc(&sb, '&');
            continue;
        }
        p = semi;
    }
    return strbuf_detach(&sb);
}

char *s3_xml_text(const char *xml, size_t len, const char *tag) {
    if (!xml) return NULL;
    span_t in = {xml, xml + len}, c;
    if (!next_element(&in, tag, &c)) return NULL;
    return decode(c);
}

static bool push(char ***v, size_t *n, char *s) {
    char **nv = realloc(*v, (*n + 1) * sizeof **v);
    if (!nv) return false;
    *v = nv;
    (*v)[(*n)++] = s;
    return true;
}

void s3_list_result_free(s3_list_result_t *r) {
    for (size_t i = 0; i < r->nkeys; i++) free(r->keys[i]);
    for (size_t i = 0; i < r->nprefixes; i++) free(r->prefixes[i]);
    free(r->keys);
    free(r->sizes);
    free(r->prefixes);
    free(r->next_token);
    memset(r, 0, sizeof *r);
}

int s3_parse_list(const char *xml, size_t len, s3_list_result_t *out, pl_err_t *err) {
    memset(out, 0, sizeof *out);
    if (!xml) return pl_err_set(err, "s3: empty list answer");
    span_t all = {xml, xml + len}, root;
    if (!next_element(&all, "ListBucketResult", &root))
        return pl_err_set(err, "s3: list answer has no ListBucketResult element");
    span_t in = root, c;
    while (next_element(&in, "Contents", &c)) {
        span_t cc = c, k, s;
        if (!next_element(&cc, "Key", &k)) {
            s3_list_result_free(out);
            return pl_err_set(err, "s3: list answer has a Contents element without Key");
        }
        char *key = decode(k);
        int64_t size = -1;
        cc = c;
        if (next_element(&cc, "Size", &s)) {
            char *t = decode(s), *end;
            long long v = strtoll(t, &end, 10);
            if (*t && !*end && v >= 0) size = v;
            free(t);
        }
        int64_t *ns = realloc(out->sizes, (out->nkeys + 1) * sizeof *ns);
        if (!ns) {
            free(key);
            s3_list_result_free(out);
            return pl_err_set(err, "out of memory");
        }
        out->sizes = ns;
        out->sizes[out->nkeys] = size;
        if (!push(&out->keys, &out->nkeys, key)) {
            free(key);
            s3_list_result_free(out);
            return pl_err_set(err, "out of memory");
        }
    }
    in = root;
    while (next_element(&in, "CommonPrefixes", &c)) {
        span_t cc = c, pfx;
        if (!next_element(&cc, "Prefix", &pfx)) continue;
        char *p = decode(pfx);
        if (!push(&out->prefixes, &out->nprefixes, p)) {
            free(p);
            s3_list_result_free(out);
            return pl_err_set(err, "out of memory");
        }
    }
    in = root;
    if (next_element(&in, "IsTruncated", &c)) {
        char *t = decode(c);
        out->truncated = !strcmp(t, "true");
        free(t);
    }
    in = root;
    if (next_element(&in, "NextContinuationToken", &c)) out->next_token = decode(c);
    if (out->truncated && (!out->next_token || !*out->next_token)) {
        s3_list_result_free(out);
        return pl_err_set(err, "s3: list answer is truncated but has no NextContinuationToken");
    }
    return 0;
}
