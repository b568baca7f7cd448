/* tombstones.c — see tombstones.h. */
#include "tsdb/tombstones.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tsdb/chunks.h"

void tombstones_free(tombstones_t *ts) {
    free(ts->v);
    memset(ts, 0, sizeof *ts);
}

int tombstones_add(tombstones_t *ts, uint32_t series_id, int64_t mint, int64_t maxt) {
    if (ts->n == ts->cap) {
        size_t nc = ts->cap ? ts->cap * 2 : 16;
        tombstone_t *nv = realloc(ts->v, nc * sizeof *nv);
        if (!nv) return -1;
        ts->v = nv;
        ts->cap = nc;
    }
    ts->v[ts->n++] = (tombstone_t){series_id, mint, maxt};
    return 0;
}

static int cmp_ts(const void *a, const void *b) {
    const tombstone_t *x = a, *y = b;
    if (x->series_id != y->series_id) return x->series_id < y->series_id ? -1 : 1;
    if (x->mint != y->mint) return x->mint < y->mint ? -1 : 1;
    return (x->maxt > y->maxt) - (x->maxt < y->maxt);
}

void tombstones_normalize(tombstones_t *ts) {
    if (ts->n == 0) return;
    if (ts->n > 1) qsort(ts->v, ts->n, sizeof *ts->v, cmp_ts);
    size_t o = 0;
    for (size_t i = 1; i < ts->n; i++) {
        tombstone_t *last = &ts->v[o];
        const tombstone_t *c = &ts->v[i];
        if (c->series_id == last->series_id && (c->mint <= last->maxt || c->mint - 1 == last->maxt)) {
            if (c->maxt > last->maxt) last->maxt = c->maxt;
        } else {
            ts->v[++o] = *c;
        }
    }
    ts->n = o + 1;
}

static size_t first_of(const tombstones_t *ts, uint32_t id) {
    size_t lo = 0, hi = ts->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (ts->v[mid].series_id < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

bool tombstones_has_series(const tombstones_t *ts, uint32_t series_id) {
    size_t i = first_of(ts, series_id);
    return i < ts->n && ts->v[i].series_id == series_id;
}

bool tombstones_deleted(const tombstones_t *ts, uint32_t series_id, int64_t t) {
    for (size_t i = first_of(ts, series_id); i < ts->n && ts->v[i].series_id == series_id; i++) {
        if (t < ts->v[i].mint) return false;
        if (t <= ts->v[i].maxt) return true;
    }
    return false;
}

int tombstones_decode(const uint8_t *b, size_t n, tombstones_t *ts, pl_err_t *err) {
    if (n < 9) return pl_err_set(err, "tombstones: file too short (%zu bytes)", n);
    if (get_be32(b) != TOMBSTONES_MAGIC) return pl_err_set(err, "tombstones: invalid magic number %08x", get_be32(b));
    if (b[4] != 1) return pl_err_set(err, "tombstones: unsupported version %u", b[4]);
    const uint8_t *body = b + 5;
    size_t blen = n - 9;
    if (chunks_crc32c(0, body, blen) != get_be32(b + n - 4)) return pl_err_set(err, "tombstones: checksum mismatch");
    decbuf_t d;
    dec_init(&d, body, blen);
    while (dec_len(&d) > 0) {
        uint64_t id = dec_uvarint(&d);
        int64_t mint = dec_varint(&d), maxt = dec_varint(&d);
        if (d.err || id > UINT32_MAX) return pl_err_set(err, "tombstones: malformed entry");
        if (tombstones_add(ts, (uint32_t)id, mint, maxt) != 0) return pl_err_set(err, "out of memory");
    }
    tombstones_normalize(ts);
    return 0;
}

int tombstones_read(const char *path, tombstones_t *ts, pl_err_t *err) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        if (errno == ENOENT) return 0;
        return pl_err_set(err, "open %s: %s", path, strerror(errno));
    }
    strbuf_t sb = STRBUF_INIT;
    char buf[65536];
    size_t k;
    while ((k = fread(buf, 1, sizeof buf, f)) > 0)
        strbuf_append(&sb, buf, k);
    int bad = ferror(f);
    fclose(f);
    int rc = bad ? pl_err_set(err, "read %s", path) : tombstones_decode((const uint8_t *)sb.data, sb.len, ts, err);
    strbuf_free(&sb);
    return rc;
}

int tombstones_write(const char *path, const tombstones_t *ts, pl_err_t *err) {
    strbuf_t sb = STRBUF_INIT;
    enc_be32(&sb, TOMBSTONES_MAGIC);
    strbuf_putc(&sb, 1);
    for (size_t i = 0; i < ts->n; i++) {
        enc_uvarint(&sb, ts->v[i].series_id);
        enc_varint(&sb, ts->v[i].mint);
        enc_varint(&sb, ts->v[i].maxt);
    }
    enc_be32(&sb, chunks_crc32c(0, sb.data + 5, sb.len - 5));
    int rc = tsdb_write_file_atomic(path, sb.data, sb.len, err);
    strbuf_free(&sb);
    return rc;
}
