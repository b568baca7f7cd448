/* chunkenc.c — XOR float chunks (see chunkenc.h and tsdb-format.md §4.1).
 *
 * The writer computes the exact number of bits a sample needs before writing
 * it, so that callers can size the buffer first and the appender never
 * allocates. Bits are written MSB-first; every write clears the bits after it
 * in its last byte, which keeps the padding zero without the caller having to
 * zero grown buffers. The reader checks every read against the length, so a
 * truncated or corrupted chunk ends with an error instead of an over-read. */
#include "tsdb/chunkenc.h"

#include <stdlib.h>
#include <string.h>

/* ---- bit writing ---------------------------------------------------- */

/* Writes the low n bits of v (1 <= n <= 64), most significant first, at bit
 * position *pos of buf. Bits after them in their last byte become zero. */
static void put_bits(uint8_t *buf, uint32_t *pos, uint64_t v, unsigned n) {
    uint8_t *b = buf + (*pos >> 3);
    unsigned used = *pos & 7u;
    *pos += n;
    if (n < 64) v &= ((uint64_t)1 << n) - 1;
    if (used) { /* finish the partly written byte, keeping its high bits */
        unsigned room = 8 - used; /* 1..7 */
        uint8_t keep = (uint8_t)(*b & (uint8_t)(0xffu << room));
        if (n <= room) {
            *b = (uint8_t)(keep | (uint8_t)(v << (room - n)));
            return;
        }
        n -= room; /* now 1..63 */
        *b++ = (uint8_t)(keep | (uint8_t)(v >> n));
    }
    while (n >= 8) {
        n -= 8;
        *b++ = (uint8_t)(v >> n);
    }
    if (n) *b = (uint8_t)(v << (8 - n));
}

static unsigned uvarint_len(uint64_t x) {
    unsigned n = 1;
    while (x >= 0x80) {
        x >>= 7;
        n++;
    }
    return n;
}

static void put_uvarint(uint8_t *buf, uint32_t *pos, uint64_t x) {
    while (x >= 0x80) {
        put_bits(buf, pos, (x & 0x7f) | 0x80, 8);
        x >>= 7;
    }
    put_bits(buf, pos, x, 8);
}

static uint64_t zigzag(int64_t x) { return ((uint64_t)x << 1) ^ (0 - ((uint64_t)x >> 63)); }

static uint64_t f64_bits(double v) {
    uint64_t b;
    memcpy(&b, &v, sizeof b);
    return b;
}

/* Prometheus's bitRange: -(2^(n-1) - 1) <= x <= 2^(n-1). */
static bool dod_fits(int64_t x, unsigned n) {
    int64_t half = (int64_t)1 << (n - 1);
    return -(half - 1) <= x && x <= half;
}

/* Bits the timestamp delta-of-delta takes (samples 2 and later). */
static unsigned dod_bits(int64_t dod) {
    if (dod == 0) return 1;
    if (dod_fits(dod, 14)) return 2 + 14;
    if (dod_fits(dod, 17)) return 3 + 17;
    if (dod_fits(dod, 20)) return 4 + 20;
    return 4 + 64;
}

static void put_dod(uint8_t *buf, uint32_t *pos, int64_t dod) {
    uint64_t u = (uint64_t)dod;
    if (dod == 0) {
        put_bits(buf, pos, 0, 1);
    } else if (dod_fits(dod, 14)) {
        put_bits(buf, pos, 0x2, 2);
        put_bits(buf, pos, u & 0x3fff, 14);
    } else if (dod_fits(dod, 17)) {
        put_bits(buf, pos, 0x6, 3);
        put_bits(buf, pos, u & 0x1ffff, 17);
    } else if (dod_fits(dod, 20)) {
        put_bits(buf, pos, 0xe, 4);
        put_bits(buf, pos, u & 0xfffff, 20);
    } else {
        put_bits(buf, pos, 0xf, 4);
        put_bits(buf, pos, u, 64);
    }
}

/* The XOR value code: how the window for x = new ^ old is chosen. */
typedef struct xor_plan {
    unsigned bits;     /* total bits written */
    bool reuse;        /* fits the current window */
    uint8_t lz, tz;    /* the new window when !reuse */
} xor_plan_t;

static xor_plan_t plan_xor(uint64_t x, uint8_t leading, uint8_t trailing) {
    xor_plan_t p = {1, false, 0, 0};
    if (x == 0) return p;
    unsigned lz = (unsigned)__builtin_clzll(x), tz = (unsigned)__builtin_ctzll(x);
    if (lz >= 32) lz = 31; /* the field has 5 bits */
    if (leading != 0xff && lz >= leading && tz >= trailing) {
        p.reuse = true;
        p.bits = 2 + (64 - leading - trailing);
    } else {
        p.lz = (uint8_t)lz;
        p.tz = (uint8_t)tz;
        p.bits = 2 + 5 + 6 + (64 - lz - tz);
    }
    return p;
}

static void put_xor(xor_appender_t *a, uint8_t *buf, uint64_t vbits) {
    uint64_t x = vbits ^ a->vbits;
    xor_plan_t p = plan_xor(x, a->leading, a->trailing);
    if (x == 0) {
        put_bits(buf, &a->nbits, 0, 1);
    } else if (p.reuse) {
        put_bits(buf, &a->nbits, 0x2, 2);
        put_bits(buf, &a->nbits, x >> a->trailing, 64u - a->leading - a->trailing);
    } else {
        unsigned sig = 64u - p.lz - p.tz;
        put_bits(buf, &a->nbits, 0x3, 2);
        put_bits(buf, &a->nbits, p.lz, 5);
        put_bits(buf, &a->nbits, sig & 63, 6); /* 64 is written as 0 */
        put_bits(buf, &a->nbits, x >> p.tz, sig);
        a->leading = p.lz;
        a->trailing = p.tz;
    }
    a->vbits = vbits;
}

/* ---- appender ------------------------------------------------------- */

uint16_t xor_chunk_count_bytes(const uint8_t *buf) { return (uint16_t)((buf[0] << 8) | buf[1]); }

static void set_count(uint8_t *buf, uint16_t n) {
    buf[0] = (uint8_t)(n >> 8);
    buf[1] = (uint8_t)n;
}

void xor_appender_init(xor_appender_t *a, uint8_t *buf) {
    memset(a, 0, sizeof *a);
    a->nbits = XOR_HEADER_BYTES * 8;
    a->leading = 0xff;
    buf[0] = buf[1] = 0;
}

size_t xor_appender_size_after(const xor_appender_t *a, const uint8_t *buf, int64_t t, double v) {
    uint16_t n = xor_chunk_count_bytes(buf);
    size_t bits = a->nbits;
    if (n == 0) {
        bits += 8u * uvarint_len(zigzag(t)) + 64;
    } else {
        uint64_t tdelta = (uint64_t)t - (uint64_t)a->t;
        if (n == 1)
            bits += 8u * uvarint_len(tdelta);
        else
            bits += dod_bits((int64_t)(tdelta - a->tdelta));
        bits += plan_xor(f64_bits(v) ^ a->vbits, a->leading, a->trailing).bits;
    }
    return (bits + 7) / 8;
}

void xor_appender_append(xor_appender_t *a, uint8_t *buf, int64_t t, double v) {
    uint16_t n = xor_chunk_count_bytes(buf);
    uint64_t vbits = f64_bits(v);
    if (n == 0) {
        put_uvarint(buf, &a->nbits, zigzag(t));
        put_bits(buf, &a->nbits, vbits, 64);
        a->vbits = vbits;
    } else {
        uint64_t tdelta = (uint64_t)t - (uint64_t)a->t;
        if (n == 1)
            put_uvarint(buf, &a->nbits, tdelta);
        else
            put_dod(buf, &a->nbits, (int64_t)(tdelta - a->tdelta));
        put_xor(a, buf, vbits);
        a->tdelta = tdelta;
    }
    a->t = t;
    set_count(buf, (uint16_t)(n + 1));
}

int xor_appender_resume(xor_appender_t *a, const uint8_t *buf, size_t len) {
    xor_iter_t it;
    xor_iter_init(&it, buf, len);
    while (xor_iter_next(&it)) {
    }
    if (it.err || it.pos > UINT32_MAX) return -1;
    a->t = it.t;
    a->tdelta = it.tdelta;
    a->vbits = it.vbits;
    a->nbits = (uint32_t)it.pos;
    /* The iterator starts with "no window" too, so this is exact even for
     * chunks whose values never changed. */
    a->leading = it.leading;
    a->trailing = it.trailing;
    return 0;
}

/* ---- self-contained chunk -------------------------------------------- */

int xor_chunk_init(xor_chunk_t *c) {
    c->cap = 32;
    c->data = malloc(c->cap);
    if (!c->data) return -1;
    xor_appender_init(&c->app, c->data);
    return 0;
}

void xor_chunk_free(xor_chunk_t *c) {
    free(c->data);
    memset(c, 0, sizeof *c);
}

int xor_chunk_append(xor_chunk_t *c, int64_t t, double v) {
    if (xor_chunk_count_bytes(c->data) == XOR_MAX_SAMPLES) return -1;
    size_t need = xor_appender_size_after(&c->app, c->data, t, v);
    if (need > c->cap) {
        size_t cap = c->cap + c->cap / 2;
        if (cap < need) cap = need;
        uint8_t *p = realloc(c->data, cap);
        if (!p) return -1;
        c->data = p;
        c->cap = cap;
    }
    xor_appender_append(&c->app, c->data, t, v);
    return 0;
}

const uint8_t *xor_chunk_bytes(const xor_chunk_t *c, size_t *len) {
    *len = xor_appender_len(&c->app);
    return c->data;
}

uint16_t xor_chunk_num_samples(const xor_chunk_t *c) { return xor_chunk_count_bytes(c->data); }

/* ---- iterator ------------------------------------------------------- */

void xor_iter_init(xor_iter_t *it, const uint8_t *data, size_t len) {
    memset(it, 0, sizeof *it);
    it->data = data;
    it->len = len;
    it->leading = 0xff;
    if (len < XOR_HEADER_BYTES) {
        it->err = true;
        return;
    }
    it->total = xor_chunk_count_bytes(data);
    it->pos = XOR_HEADER_BYTES * 8;
}

/* Reads n bits (1 <= n <= 64) into *out; false past the end. */
static inline __attribute__((always_inline)) bool get_bits(xor_iter_t *it, unsigned n, uint64_t *out) {
    size_t pos = it->pos;
    if (n == 0 || n > 64) return false; /* never asked for; keeps every shift below in range */
    if (pos + n > it->len * 8) return false;
    size_t byte = pos >> 3;
    unsigned off = pos & 7;
    if (n <= 56 && byte + 8 <= it->len) {
        /* Fast path: one big-endian load covers off + n <= 63 bits. */
        uint64_t w;
        memcpy(&w, it->data + byte, 8);
        w = __builtin_bswap64(w);
        *out = (w << off) >> (64 - n);
    } else {
        /* Near the end of the bytes, or a read too wide for one load. */
        const uint8_t *b = it->data + byte;
        unsigned left = n;
        uint64_t v = 0;
        if (off) {
            unsigned room = 8 - off; /* 1..7 */
            uint64_t first = *b++ & (0xffu >> off);
            if (left <= room) {
                *out = first >> (room - left);
                it->pos += n;
                return true;
            }
            v = first;
            left -= room;
        }
        while (left >= 8) {
            v = (v << 8) | *b++;
            left -= 8;
        }
        if (left) v = (v << left) | (uint64_t)(*b >> (8 - left));
        *out = v;
    }
    it->pos += n;
    return true;
}

static bool get_uvarint(xor_iter_t *it, uint64_t *out) {
    uint64_t x = 0;
    unsigned shift = 0;
    for (int i = 0; i < 10; i++) {
        uint64_t b;
        if (!get_bits(it, 8, &b)) return false;
        if (b < 0x80) {
            if (i == 9 && b > 1) return false; /* overflows 64 bits */
            *out = x | b << shift;
            return true;
        }
        x |= (b & 0x7f) << shift;
        shift += 7;
    }
    return false;
}

static bool get_xor(xor_iter_t *it) {
    uint64_t bit, x;
    if (!get_bits(it, 1, &bit)) return false;
    if (bit == 0) return true; /* value unchanged */
    if (!get_bits(it, 1, &bit)) return false;
    unsigned sig;
    if (bit == 0) {
        if (it->leading == 0xff) return false; /* reuse before any window */
        sig = 64u - it->leading - it->trailing;
    } else {
        uint64_t l, s;
        if (!get_bits(it, 5, &l) || !get_bits(it, 6, &s)) return false;
        unsigned lz = (unsigned)l;
        sig = s == 0 ? 64 : (unsigned)s;
        if (lz + sig > 64) return false;
        it->leading = (uint8_t)lz;
        it->trailing = (uint8_t)(64 - lz - sig);
    }
    if (!get_bits(it, sig, &x)) return false;
    it->vbits ^= x << it->trailing;
    return true;
}

static bool get_dod(xor_iter_t *it, int64_t *dod) {
    unsigned ones = 0;
    uint64_t bit;
    while (ones < 4) {
        if (!get_bits(it, 1, &bit)) return false;
        if (bit == 0) break;
        ones++;
    }
    static const unsigned width[5] = {0, 14, 17, 20, 64};
    unsigned n = width[ones];
    if (n == 0) {
        *dod = 0;
        return true;
    }
    uint64_t u;
    if (!get_bits(it, n, &u)) return false;
    if (n < 64 && u > ((uint64_t)1 << (n - 1))) u -= (uint64_t)1 << n; /* negative, two's complement */
    *dod = (int64_t)u;
    return true;
}

/* ---- the decoding fast path --------------------------------------------
 *
 * One sample after the second takes at most 4 + 64 bits of timestamp and
 * 2 + 5 + 6 + 64 bits of value: 145 bits, and the reads below load 8 bytes
 * at a time, none starting more than 15 bytes after the sample's first
 * byte. While at least FAST_SLACK bytes follow the read position, a whole
 * sample is decoded with unchecked loads and no call per field.
 * xor_iter_next then falls back to the checked reads above for the last
 * bytes; xor_chunk_decode copies them once into a zero-padded buffer and
 * checks the position after each sample instead (a read past the end shows
 * as a position past it). Both decode the same bits the same way, and refuse
 * the same malformed ones. */
#define FAST_SLACK 32

static inline uint64_t load_be64(const uint8_t *p) {
    uint64_t w;
    memcpy(&w, p, sizeof w);
    return __builtin_bswap64(w);
}

/* At least 57 bits from bit position pos, most significant first. */
static inline uint64_t peek_bits(const uint8_t *d, size_t pos) { return load_be64(d + (pos >> 3)) << (pos & 7); }

/* n bits (1 <= n <= 64) at *pos, advancing it. */
static inline uint64_t take_bits(const uint8_t *d, size_t *pos, unsigned n) {
    uint64_t v;
    if (n <= 56) {
        v = peek_bits(d, *pos) >> (64 - n);
    } else {
        uint64_t hi = peek_bits(d, *pos) >> 32;
        v = hi << (n - 32) | peek_bits(d, *pos + 32) >> (96 - n);
    }
    *pos += n;
    return v;
}

/* The state of a decoder between samples, kept in locals by the loops. */
typedef struct dec_state {
    size_t pos;
    int64_t t;
    uint64_t tdelta, vbits;
    uint8_t leading, trailing;
} dec_state_t;

/* Decodes sample 2 or later at s->pos without bounds checks (see above).
 * false on bits no encoder writes. */
static inline __attribute__((always_inline)) bool step_fast(const uint8_t *d, dec_state_t *s) {
    size_t pos = s->pos;
    /* delta of delta: up to four 1 bits then a width */
    uint64_t w = peek_bits(d, pos);
    unsigned ones = (unsigned)__builtin_clzll(~w | (1ULL << 59)); /* capped at 4 */
    if (ones == 0) {
        pos += 1;
    } else {
        static const unsigned width[5] = {0, 14, 17, 20, 64};
        unsigned n = width[ones];
        pos += ones == 4 ? 4 : ones + 1;
        uint64_t u = take_bits(d, &pos, n);
        if (n < 64 && u > ((uint64_t)1 << (n - 1))) u -= (uint64_t)1 << n; /* negative, two's complement */
        s->tdelta += u;
    }
    /* value: 0 = unchanged; 10 = XOR in the current window; 11 = new window */
    w = peek_bits(d, pos);
    if (!(w >> 63)) {
        pos += 1;
    } else {
        unsigned sig;
        if (!((w >> 62) & 1)) {
            if (s->leading == 0xff) return false; /* reuse before any window */
            pos += 2;
            sig = 64u - s->leading - s->trailing;
        } else {
            unsigned lz = (unsigned)(w >> 57) & 31, n = (unsigned)(w >> 51) & 63;
            pos += 13;
            sig = n == 0 ? 64 : n;
            if (lz + sig > 64) return false;
            s->leading = (uint8_t)lz;
            s->trailing = (uint8_t)(64 - lz - sig);
        }
        s->vbits ^= take_bits(d, &pos, sig) << s->trailing;
    }
    s->t = (int64_t)((uint64_t)s->t + s->tdelta);
    s->pos = pos;
    return true;
}

static bool next_fast(xor_iter_t *it) {
    dec_state_t s = {it->pos, it->t, it->tdelta, it->vbits, it->leading, it->trailing};
    if (!step_fast(it->data, &s)) return false;
    it->pos = s.pos;
    it->t = s.t;
    it->tdelta = s.tdelta;
    it->vbits = s.vbits;
    it->leading = s.leading;
    it->trailing = s.trailing;
    return true;
}

size_t xor_chunk_decode(const uint8_t *data, size_t len, int64_t mint, int64_t maxt, sample_t *out, bool last_only,
                        bool *err) {
    xor_iter_t it;
    size_t n = 0;
    *err = false;
    xor_iter_init(&it, data, len);
    /* the first two samples, checked */
    while (it.nread < 2) {
        if (!xor_iter_next(&it)) {
            *err = it.err;
            return n;
        }
        if (it.t > maxt) return n;
        if (it.t >= mint) {
            size_t k = last_only ? 0 : n;
            out[k].t = it.t;
            memcpy(&out[k].v, &it.vbits, sizeof(double));
            n = k + 1;
        }
    }
    dec_state_t s = {it.pos, it.t, it.tdelta, it.vbits, it.leading, it.trailing};
    const uint8_t *d = data;
    size_t end_bits = len * 8, fast_end = len >= FAST_SLACK ? (len - FAST_SLACK) * 8 : 0;
    uint8_t tail[2 * FAST_SLACK];
    bool in_tail = false;
    for (uint32_t i = it.nread; i < it.total; i++) {
        if (!in_tail && s.pos >= fast_end) {
            /* the last bytes, once, into a zero-padded buffer */
            size_t b = s.pos >> 3;
            memset(tail, 0, sizeof tail);
            if (len > b) memcpy(tail, data + b, len - b);
            d = tail;
            s.pos -= b * 8;
            end_bits -= b * 8;
            in_tail = true;
        }
        if (!step_fast(d, &s) || s.pos > end_bits) {
            *err = true;
            return n;
        }
        if (s.t > maxt) break;
        if (s.t >= mint) {
            size_t k = last_only ? 0 : n;
            out[k].t = s.t;
            memcpy(&out[k].v, &s.vbits, sizeof(double));
            n = k + 1;
        }
    }
    return n;
}

bool xor_iter_next(xor_iter_t *it) {
    if (it->err || it->nread >= it->total) return false;
    if (it->nread >= 2 && (it->pos >> 3) + FAST_SLACK <= it->len) {
        if (!next_fast(it)) {
            it->err = true;
            return false;
        }
        it->nread++;
        return true;
    }
    bool ok;
    if (it->nread == 0) {
        uint64_t zz;
        ok = get_uvarint(it, &zz) && get_bits(it, 64, &it->vbits);
        if (ok) it->t = (int64_t)((zz >> 1) ^ (0 - (zz & 1)));
    } else if (it->nread == 1) {
        ok = get_uvarint(it, &it->tdelta) && get_xor(it);
        if (ok) it->t = (int64_t)((uint64_t)it->t + it->tdelta);
    } else {
        int64_t dod;
        ok = get_dod(it, &dod) && get_xor(it);
        if (ok) {
            it->tdelta += (uint64_t)dod;
            it->t = (int64_t)((uint64_t)it->t + it->tdelta);
        }
    }
    if (!ok) {
        it->err = true;
        return false;
    }
    it->nread++;
    return true;
}

bool xor_iter_seek(xor_iter_t *it, int64_t t) {
    if (it->err) return false;
    while (it->nread == 0 || it->t < t)
        if (!xor_iter_next(it)) return false;
    return true;
}
