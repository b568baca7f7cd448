/* record.c — WAL record encoding and decoding (see record.h). */
#include "tsdb/record.h"

#include <stdlib.h>
#include <string.h>

enum record_type record_type(const uint8_t *rec, size_t len) {
    if (len == 0 || rec[0] < RECORD_SERIES || rec[0] > RECORD_FLOAT_HISTOGRAM_SAMPLES) return RECORD_UNKNOWN;
    return (enum record_type)rec[0];
}

/* ---- encoding ---------------------------------------------------------------- */

/* Writers into reserved space; each returns the advanced pointer. */
static uint8_t *put_uvarint(uint8_t *p, uint64_t x) {
    while (x >= 0x80) {
        *p++ = (uint8_t)(x | 0x80);
        x >>= 7;
    }
    *p++ = (uint8_t)x;
    return p;
}

static uint8_t *put_varint(uint8_t *p, int64_t x) {
    uint64_t ux = (uint64_t)x << 1;
    if (x < 0) ux = ~ux;
    return put_uvarint(p, ux);
}

static uint8_t *put_be64(uint8_t *p, uint64_t x) {
    for (int i = 7; i >= 0; i--)
        *p++ = (uint8_t)(x >> (8 * i));
    return p;
}

void record_put_uvarint(strbuf_t *out, uint64_t x) {
    strbuf_reserve(out, 10);
    uint8_t *p = (uint8_t *)out->data + out->len;
    out->len = (size_t)(put_uvarint(p, x) - (uint8_t *)out->data);
    out->data[out->len] = '\0';
}

void record_put_varint(strbuf_t *out, int64_t x) {
    strbuf_reserve(out, 10);
    uint8_t *p = (uint8_t *)out->data + out->len;
    out->len = (size_t)(put_varint(p, x) - (uint8_t *)out->data);
    out->data[out->len] = '\0';
}

static void put_type(strbuf_t *out, enum record_type t) { strbuf_putc(out, (char)t); }

void record_series_begin(strbuf_t *out) { put_type(out, RECORD_SERIES); }

void record_series_add(strbuf_t *out, uint64_t ref, const label_t *ls, size_t n) {
    size_t need = 8 + 10;
    for (size_t i = 0; i < n; i++)
        need += 20 + strlen(ls[i].name) + strlen(ls[i].value);
    strbuf_reserve(out, need);
    uint8_t *base = (uint8_t *)out->data, *p = base + out->len;
    p = put_be64(p, ref);
    p = put_uvarint(p, n);
    for (size_t i = 0; i < n; i++) {
        for (int k = 0; k < 2; k++) {
            const char *s = k ? ls[i].value : ls[i].name;
            size_t l = strlen(s);
            p = put_uvarint(p, l);
            memcpy(p, s, l);
            p += l;
        }
    }
    out->len = (size_t)(p - base);
    out->data[out->len] = '\0';
}

void record_samples_encode(strbuf_t *out, const record_sample_t *s, size_t n) {
    put_type(out, RECORD_SAMPLES);
    if (n == 0) return;
    strbuf_reserve(out, 16 + n * 28);
    uint8_t *base = (uint8_t *)out->data, *p = base + out->len;
    p = put_be64(p, s[0].ref);
    p = put_be64(p, (uint64_t)s[0].t);
    for (size_t i = 0; i < n; i++) {
        /* Differences wrap as Go's int64 arithmetic does. */
        p = put_varint(p, (int64_t)(s[i].ref - s[0].ref));
        p = put_varint(p, (int64_t)((uint64_t)s[i].t - (uint64_t)s[0].t));
        uint64_t bits;
        memcpy(&bits, &s[i].v, 8);
        p = put_be64(p, bits);
    }
    out->len = (size_t)(p - base);
    out->data[out->len] = '\0';
}

void record_tombstones_encode(strbuf_t *out, const record_tombstone_t *t, size_t n) {
    put_type(out, RECORD_TOMBSTONES);
    strbuf_reserve(out, n * 28);
    uint8_t *base = (uint8_t *)out->data, *p = base + out->len;
    for (size_t i = 0; i < n; i++) {
        p = put_be64(p, t[i].ref);
        p = put_varint(p, t[i].mint);
        p = put_varint(p, t[i].maxt);
    }
    out->len = (size_t)(p - base);
    out->data[out->len] = '\0';
}

/* ---- decoding ----------------------------------------------------------------- */

typedef struct cursor {
    const uint8_t *p, *end;
    const char *err; /* first problem, or NULL */
} cursor_t;

static uint64_t get_uvarint(cursor_t *c) {
    uint64_t x = 0;
    for (unsigned shift = 0; shift < 70; shift += 7) {
        if (c->p >= c->end) {
            c->err = c->err ? c->err : "truncated varint";
            return 0;
        }
        uint8_t b = *c->p++;
        if (shift == 63 && b > 1) break;
        x |= (uint64_t)(b & 0x7f) << shift;
        if (b < 0x80) return x;
    }
    c->err = c->err ? c->err : "varint overflows 64 bits";
    return 0;
}

static int64_t get_varint(cursor_t *c) {
    uint64_t ux = get_uvarint(c);
    int64_t x = (int64_t)(ux >> 1);
    if (ux & 1) x = ~x;
    return x;
}

static uint64_t get_be64(cursor_t *c) {
    if (c->end - c->p < 8) {
        c->err = c->err ? c->err : "truncated 64-bit field";
        c->p = c->end;
        return 0;
    }
    uint64_t x = 0;
    for (int i = 0; i < 8; i++)
        x = x << 8 | c->p[i];
    c->p += 8;
    return x;
}

void record_decoder_init(record_decoder_t *d) { memset(d, 0, sizeof *d); }

void record_decoder_free(record_decoder_t *d) {
    strbuf_free(&d->strs);
    free(d->labels);
    free(d->offs);
    free(d->samples);
    free(d->tombstones);
    memset(d, 0, sizeof *d);
}

static int grow(void **arr, size_t *cap, size_t need, size_t elem) {
    if (need <= *cap) return 0;
    size_t n = *cap ? *cap : 64;
    while (n < need)
        n *= 2;
    void *p = realloc(*arr, n * elem);
    if (!p) return -1;
    *arr = p;
    *cap = n;
    return 0;
}

static int check_type(const uint8_t *rec, size_t len, enum record_type want, const char *name, pl_err_t *err) {
    if (len == 0 || rec[0] != want) return pl_err_set(err, "not a %s record (type %d)", name, len ? rec[0] : -1);
    return 0;
}

int record_decode_series(record_decoder_t *d, const uint8_t *rec, size_t len, record_series_fn fn, void *ctx,
                         pl_err_t *err) {
    if (check_type(rec, len, RECORD_SERIES, "series", err) != 0) return -1;
    cursor_t c = {rec + 1, rec + len, NULL};
    while (c.p < c.end) {
        uint64_t ref = get_be64(&c);
        uint64_t n = get_uvarint(&c);
        if (c.err) break;
        /* Each label takes at least two bytes. */
        if (n > (uint64_t)(c.end - c.p) / 2) {
            c.err = "label count larger than the record";
            break;
        }
        if (grow((void **)&d->offs, &d->cap_offs, 2 * n, sizeof *d->offs) != 0 ||
            grow((void **)&d->labels, &d->cap_labels, n ? n : 1, sizeof *d->labels) != 0)
            return pl_err_set(err, "out of memory");
        strbuf_reset(&d->strs);
        for (uint64_t i = 0; i < 2 * n && !c.err; i++) {
            uint64_t l = get_uvarint(&c);
            if (c.err) break;
            if (l > (uint64_t)(c.end - c.p)) {
                c.err = "label string longer than the record";
                break;
            }
            d->offs[i] = (uint32_t)d->strs.len;
            strbuf_append(&d->strs, c.p, (size_t)l);
            strbuf_putc(&d->strs, '\0');
            c.p += l;
        }
        if (c.err) break;
        for (uint64_t i = 0; i < n; i++) {
            d->labels[i].name = d->strs.data + d->offs[2 * i];
            d->labels[i].value = d->strs.data + d->offs[2 * i + 1];
        }
        int rc = fn(ctx, ref, d->labels, (size_t)n);
        if (rc != 0) return rc;
    }
    if (c.err) return pl_err_set(err, "decode series record: %s", c.err);
    return 0;
}

int record_decode_samples(record_decoder_t *d, const uint8_t *rec, size_t len, const record_sample_t **out, size_t *n,
                          pl_err_t *err) {
    if (check_type(rec, len, RECORD_SAMPLES, "samples", err) != 0) return -1;
    cursor_t c = {rec + 1, rec + len, NULL};
    size_t k = 0;
    *out = d->samples;
    *n = 0;
    if (c.p == c.end) return 0;
    uint64_t base_ref = get_be64(&c);
    int64_t base_t = (int64_t)get_be64(&c);
    /* A sample takes at least 10 bytes: bounds the array before decoding. */
    size_t max = (size_t)(c.end - c.p) / 10;
    if (grow((void **)&d->samples, &d->cap_samples, max ? max : 1, sizeof *d->samples) != 0)
        return pl_err_set(err, "out of memory");
    while (c.p < c.end && !c.err) {
        int64_t dref = get_varint(&c);
        int64_t dt = get_varint(&c);
        uint64_t bits = get_be64(&c);
        if (c.err) break;
        if (k >= max) {
            c.err = "more samples than the record can hold";
            break;
        }
        record_sample_t *s = &d->samples[k++];
        s->ref = base_ref + (uint64_t)dref;
        s->t = (int64_t)((uint64_t)base_t + (uint64_t)dt);
        memcpy(&s->v, &bits, 8);
    }
    if (c.err) return pl_err_set(err, "decode samples record: %s", c.err);
    *out = d->samples;
    *n = k;
    return 0;
}

int record_decode_tombstones(record_decoder_t *d, const uint8_t *rec, size_t len, const record_tombstone_t **out,
                             size_t *n, pl_err_t *err) {
    if (check_type(rec, len, RECORD_TOMBSTONES, "tombstones", err) != 0) return -1;
    cursor_t c = {rec + 1, rec + len, NULL};
    size_t k = 0, max = (len - 1) / 10;
    *out = d->tombstones;
    *n = 0;
    if (grow((void **)&d->tombstones, &d->cap_tombstones, max ? max : 1, sizeof *d->tombstones) != 0)
        return pl_err_set(err, "out of memory");
    while (c.p < c.end && !c.err) {
        uint64_t ref = get_be64(&c);
        int64_t mint = get_varint(&c);
        int64_t maxt = get_varint(&c);
        if (c.err) break;
        if (k >= max) {
            c.err = "more entries than the record can hold";
            break;
        }
        d->tombstones[k++] = (record_tombstone_t){ref, mint, maxt};
    }
    if (c.err) return pl_err_set(err, "decode tombstones record: %s", c.err);
    *out = d->tombstones;
    *n = k;
    return 0;
}
