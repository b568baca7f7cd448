/* block.c — block writer (builder → temp dir → rename) and block reader.
 * See block.h.
 *
 * The builder interns every label string once (an open-addressing set of
 * strdup'd strings) and stores a series as an array of string pointers plus
 * a run of chunk metas whose bytes live in one growing arena; a chunk's data
 * is an offset into that arena until the block is written. */
#include "tsdb/block.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <xxhash.h>

#include "tsdb/chunkenc.h"

/* ---- ULIDs ------------------------------------------------------------------- */

static const char crockford[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

void block_ulid_new(char out[ULID_LEN + 1]) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    uint64_t ms = (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
    uint8_t rnd[10];
    if (getrandom(rnd, sizeof rnd, 0) != (ssize_t)sizeof rnd) {
        /* No entropy source: fall back to time-seeded bits (uniqueness only matters locally). */
        uint64_t x = (uint64_t)ts.tv_nsec * 0x9E3779B97F4A7C15ull ^ (uint64_t)getpid();
        for (size_t i = 0; i < sizeof rnd; i++) {
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            rnd[i] = (uint8_t)x;
        }
    }
    unsigned __int128 v = (unsigned __int128)(ms & 0xFFFFFFFFFFFFull) << 80;
    for (int i = 0; i < 10; i++)
        v |= (unsigned __int128)rnd[i] << (8 * (9 - i));
    for (int i = 0; i < ULID_LEN; i++)
        out[ULID_LEN - 1 - i] = crockford[(unsigned)(v >> (5 * i)) & 31];
    out[ULID_LEN] = '\0';
}

static int crockford_val(char c) {
    const char *p = c ? strchr(crockford, c >= 'a' && c <= 'z' ? c - 32 : c) : NULL;
    return p ? (int)(p - crockford) : -1;
}

bool block_ulid_valid(const char *s) {
    if (strlen(s) != ULID_LEN || crockford_val(s[0]) > 7) return false;
    for (int i = 0; i < ULID_LEN; i++)
        if (crockford_val(s[i]) < 0) return false;
    return true;
}

int64_t block_ulid_time(const char *s) {
    if (!block_ulid_valid(s)) return -1;
    unsigned __int128 v = 0;
    for (int i = 0; i < ULID_LEN; i++)
        v = (v << 5) | (unsigned)crockford_val(s[i]);
    return (int64_t)(uint64_t)(v >> 80);
}

/* ---- builder ------------------------------------------------------------------ */

typedef struct bseries {
    const char **strs; /* 2n interned strings: name0, value0, name1, ... */
    size_t n;
    size_t chunk0, nchunks; /* run in b->chunks */
    uint64_t nsamples;
} bseries_t;

typedef struct bchunk {
    int64_t mint, maxt;
    size_t off; /* into b->arena */
    uint32_t len;
} bchunk_t;

struct block_builder {
    int64_t chunk_range;
    char **set; /* interned strings, open addressing */
    size_t set_cap, set_n;
    bseries_t *series;
    size_t nseries, capseries;
    bchunk_t *chunks;
    size_t nchunks, capchunks;
    strbuf_t arena;
    uint64_t nsamples;
    xor_chunk_t cur;
};

block_builder_t *block_builder_new(int64_t chunk_range) {
    block_builder_t *b = calloc(1, sizeof *b);
    if (!b) return NULL;
    b->chunk_range = chunk_range > 0 ? chunk_range : BLOCK_DEFAULT_RANGE_MS;
    strbuf_init(&b->arena);
    if (xor_chunk_init(&b->cur) != 0) {
        free(b);
        return NULL;
    }
    return b;
}

void block_builder_free(block_builder_t *b) {
    if (!b) return;
    for (size_t i = 0; i < b->set_cap; i++)
        free(b->set[i]);
    free(b->set);
    for (size_t i = 0; i < b->nseries; i++)
        free(b->series[i].strs);
    free(b->series);
    free(b->chunks);
    strbuf_free(&b->arena);
    xor_chunk_free(&b->cur);
    free(b);
}

uint64_t block_builder_num_samples(const block_builder_t *b) { return b->nsamples; }
uint64_t block_builder_num_series(const block_builder_t *b) { return b->nseries; }

static const char *intern(block_builder_t *b, const char *s) {
    if (b->set_n * 2 >= b->set_cap) {
        size_t nc = b->set_cap ? b->set_cap * 2 : 1024;
        char **ns = calloc(nc, sizeof *ns);
        if (!ns) return NULL;
        for (size_t i = 0; i < b->set_cap; i++) {
            if (!b->set[i]) continue;
            size_t h = (size_t)XXH3_64bits(b->set[i], strlen(b->set[i])) & (nc - 1);
            while (ns[h])
                h = (h + 1) & (nc - 1);
            ns[h] = b->set[i];
        }
        free(b->set);
        b->set = ns;
        b->set_cap = nc;
    }
    size_t len = strlen(s);
    size_t h = (size_t)XXH3_64bits(s, len) & (b->set_cap - 1);
    while (b->set[h]) {
        if (strcmp(b->set[h], s) == 0) return b->set[h];
        h = (h + 1) & (b->set_cap - 1);
    }
    if (!(b->set[h] = strdup(s))) return NULL;
    b->set_n++;
    return b->set[h];
}

/* The end of the chunk range holding t (Prometheus rounds toward zero). */
static int64_t range_for_timestamp(int64_t t, int64_t width) { return (t / width) * width + width; }

/* Prometheus's computeChunkEndTime: at a quarter of a full chunk, spread the
 * remaining range evenly over chunks of the observed rate. */
static int64_t chunk_end_time(int64_t start, int64_t cur, int64_t max) {
    int64_t n = (max - start) / ((cur - start + 1) * 4);
    if (n <= 1) return max;
    return start + (max - start) / n;
}

/* Go's bstream keeps an empty byte at the end when its last write was a
 * whole byte landing on a byte boundary (writeByte always opens the next
 * byte), and Prometheus stores the stream as is. The bits are the same;
 * to write the very bytes Prometheus writes, add that byte back. It happens
 * when the chunk ends byte-aligned and its last sample wrote its value bits
 * as whole bytes: a single-sample chunk (64 raw bits), or a changed value
 * whose significant-bit count is a multiple of 8. */
bool block_xor_go_trailing_byte(const uint8_t *p, size_t len, uint32_t nbits) {
    if (nbits % 8 != 0) return false;
    xor_iter_t it;
    xor_iter_init(&it, p, len);
    uint64_t prev = 0, last = 0;
    size_t n = 0;
    while (xor_iter_next(&it)) {
        prev = last;
        last = xor_iter_at_bits(&it);
        n++;
    }
    if (n <= 1) return n == 1;
    if (last == prev) return false;
    return (64 - it.leading - it.trailing) % 8 == 0;
}

/* Where chunks being cut go: their records and, in arena, their bytes. */
typedef struct chunk_sink {
    bchunk_t **v;
    size_t *n, *cap;
    strbuf_t *arena;
    xor_chunk_t *cur;
} chunk_sink_t;

static int flush_chunk(const chunk_sink_t *k, int64_t mint, int64_t maxt) {
    size_t len;
    const uint8_t *p = xor_chunk_bytes(k->cur, &len);
    bool extra = block_xor_go_trailing_byte(p, len, k->cur->app.nbits);
    if (*k->n == *k->cap) {
        size_t nc = *k->cap ? *k->cap * 2 : 1024;
        bchunk_t *nv = realloc(*k->v, nc * sizeof *nv);
        if (!nv) return -1;
        *k->v = nv;
        *k->cap = nc;
    }
    (*k->v)[(*k->n)++] = (bchunk_t){mint, maxt, k->arena->len, (uint32_t)(len + extra)};
    strbuf_append(k->arena, p, len);
    if (extra) strbuf_putc(k->arena, 0);
    xor_chunk_free(k->cur);
    return xor_chunk_init(k->cur);
}

/* Cuts samples (strictly increasing times, ns > 0) into XOR chunks as
 * Prometheus's head appender does; -1 when out of memory. */
static int cut_chunks(const chunk_sink_t *k, int64_t chunk_range, const sample_t *s, size_t ns) {
    int64_t cmint = s[0].t, cmaxt = s[0].t;
    int64_t next_at = range_for_timestamp(s[0].t, chunk_range);
    uint32_t cnt = 0;
    for (size_t i = 0; i < ns; i++) {
        int64_t t = s[i].t;
        if (cnt == BLOCK_SAMPLES_PER_CHUNK / 4) next_at = chunk_end_time(cmint, cmaxt, next_at);
        if (cnt > 0 && (t >= next_at || cnt >= BLOCK_MAX_SAMPLES_PER_CHUNK)) {
            if (flush_chunk(k, cmint, cmaxt) != 0) return -1;
            cnt = 0;
            cmint = t;
            next_at = range_for_timestamp(t, chunk_range);
        }
        if (xor_chunk_append(k->cur, t, s[i].v) != 0) return -1;
        cmaxt = t;
        cnt++;
    }
    return flush_chunk(k, cmint, cmaxt);
}

int block_builder_add_series(block_builder_t *b, const label_t *ls, size_t n, const sample_t *s, size_t ns,
                             pl_err_t *err) {
    if (ns == 0) return 0;
    for (size_t i = 1; i < ns; i++)
        if (s[i].t <= s[i - 1].t) return pl_err_set(err, "block: samples of a series not in increasing time order");
    if (b->nseries == b->capseries) {
        size_t nc = b->capseries ? b->capseries * 2 : 1024;
        bseries_t *nv = realloc(b->series, nc * sizeof *nv);
        if (!nv) return pl_err_set(err, "out of memory");
        b->series = nv;
        b->capseries = nc;
    }
    bseries_t *se = &b->series[b->nseries];
    se->n = n;
    se->strs = malloc((2 * n + 1) * sizeof *se->strs);
    if (!se->strs) return pl_err_set(err, "out of memory");
    for (size_t i = 0; i < n; i++) {
        se->strs[2 * i] = intern(b, ls[i].name);
        se->strs[2 * i + 1] = intern(b, ls[i].value);
        if (!se->strs[2 * i] || !se->strs[2 * i + 1]) {
            free(se->strs);
            return pl_err_set(err, "out of memory");
        }
    }
    se->chunk0 = b->nchunks;
    se->nsamples = ns;

    chunk_sink_t k = {&b->chunks, &b->nchunks, &b->capchunks, &b->arena, &b->cur};
    if (cut_chunks(&k, b->chunk_range, s, ns) != 0) goto oom;
    se->nchunks = b->nchunks - se->chunk0;
    b->nseries++;
    b->nsamples += ns;
    return 0;
oom:
    b->nchunks = se->chunk0;
    free(se->strs);
    return pl_err_set(err, "out of memory");
}

static int cmp_series(const void *a, const void *c) {
    const bseries_t *x = a, *y = c;
    size_t n = x->n < y->n ? x->n : y->n;
    for (size_t i = 0; i < n; i++) {
        int r = strcmp(x->strs[2 * i], y->strs[2 * i]);
        if (r) return r;
        r = strcmp(x->strs[2 * i + 1], y->strs[2 * i + 1]);
        if (r) return r;
    }
    return (x->n > y->n) - (x->n < y->n);
}

static int cmp_cstr(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

int block_rm_rf(const char *path) {
    DIR *d = opendir(path);
    if (d) {
        struct dirent *de;
        while ((de = readdir(d)) != NULL) {
            if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..")) continue;
            char p[4096];
            snprintf(p, sizeof p, "%s/%s", path, de->d_name);
            struct stat st;
            if (lstat(p, &st) == 0 && S_ISDIR(st.st_mode))
                block_rm_rf(p);
            else
                unlink(p);
        }
        closedir(d);
        return rmdir(path);
    }
    return unlink(path);
}

/* ---- streaming writer ---------------------------------------------------------- */

struct block_writer {
    char ulid[ULID_LEN + 1];
    char *parent, *tmp;
    chunk_writer_t *cw;
    index_writer_t *iw;
    uint64_t nsamples, nseries, nchunks;
};

void block_writer_abort(block_writer_t *w) {
    if (!w) return;
    if (w->cw) chunk_writer_close(w->cw, NULL);
    if (w->iw) index_writer_abort(w->iw);
    if (w->tmp) block_rm_rf(w->tmp);
    free(w->tmp);
    free(w->parent);
    free(w);
}

char *block_tmp_dir_create(const char *parent_dir, char ulid[ULID_LEN + 1], pl_err_t *err) {
    char path[4200];
    block_ulid_new(ulid);
    snprintf(path, sizeof path, "%s/%s" BLOCK_TMP_CREATION_SUFFIX, parent_dir, ulid);
    if (mkdir(path, 0777) != 0) {
        pl_err_set(err, "mkdir %s: %s", path, strerror(errno));
        return NULL;
    }
    char *tmp = strdup(path);
    if (!tmp) {
        block_rm_rf(path);
        pl_err_set(err, "out of memory");
    }
    return tmp;
}

block_writer_t *block_writer_open(const char *parent_dir, uint64_t segment_size, pl_err_t *err) {
    block_writer_t *w = calloc(1, sizeof *w);
    char path[4200];
    if (!w || !(w->parent = strdup(parent_dir))) {
        free(w);
        pl_err_set(err, "out of memory");
        return NULL;
    }
    if (!(w->tmp = block_tmp_dir_create(parent_dir, w->ulid, err))) {
        block_writer_abort(w);
        return NULL;
    }
    snprintf(path, sizeof path, "%s/chunks", w->tmp);
    if (!(w->cw = chunk_writer_open(path, segment_size, err))) goto fail;
    snprintf(path, sizeof path, "%s/index", w->tmp);
    if (!(w->iw = index_writer_open(path, err))) goto fail;
    return w;
fail:
    block_writer_abort(w);
    return NULL;
}

const char *block_writer_ulid(const block_writer_t *w) { return w->ulid; }
uint64_t block_writer_num_samples(const block_writer_t *w) { return w->nsamples; }
uint64_t block_writer_num_series(const block_writer_t *w) { return w->nseries; }
uint64_t block_writer_num_chunks(const block_writer_t *w) { return w->nchunks; }

int block_writer_add_symbol(block_writer_t *w, const char *s, pl_err_t *err) {
    return index_writer_add_symbol(w->iw, s, err);
}

bool block_writer_has_symbols(block_writer_t *w, const label_t *ls, size_t n) {
    return index_writer_has_symbols(w->iw, ls, n);
}

int block_writer_add_series(block_writer_t *w, const label_t *ls, size_t n, chunk_meta_t *chks, size_t nchks,
                            pl_err_t *err) {
    if (nchks == 0) return 0;
    if (!index_writer_has_symbols(w->iw, ls, n)) return pl_err_set(err, "block: a label of the series is no symbol");
    uint64_t ns = 0;
    for (size_t i = 0; i < nchks; i++) {
        if (chks[i].encoding != CHUNKENC_XOR || chks[i].len < XOR_HEADER_BYTES)
            return pl_err_set(err, "block: chunk %zu of a series is not an XOR chunk", i);
        ns += xor_chunk_count_bytes(chks[i].data);
    }
    if (chunk_writer_write_series(w->cw, chks, nchks, err) != 0) return -1;
    if (index_writer_add_series(w->iw, ls, n, chks, nchks, NULL, err) != 0) return -1;
    w->nsamples += ns;
    w->nchunks += nchks;
    w->nseries++;
    return 0;
}

int block_tmp_dir_commit(const char *parent_dir, char **tmp, const char *ulid, const block_meta_t *tmpl,
                         uint64_t nsamples, uint64_t nseries, uint64_t nchunks, pl_err_t *err) {
    int rc = -1;
    block_meta_t meta = {0};
    char path[4200], final[4200];
    meta.level = tmpl->level > 0 ? tmpl->level : 1;
    for (size_t i = 0; i < tmpl->nsources; i++)
        if (block_meta_add_source(&meta, tmpl->sources[i]) != 0) goto oom;
    if (tmpl->nparents) {
        if (!(meta.parents = malloc(tmpl->nparents * sizeof *meta.parents))) goto oom;
        memcpy(meta.parents, tmpl->parents, tmpl->nparents * sizeof *meta.parents);
        meta.nparents = tmpl->nparents;
    }
    memcpy(meta.ulid, ulid, sizeof meta.ulid);
    meta.min_time = tmpl->min_time;
    meta.max_time = tmpl->max_time;
    meta.num_samples = nsamples;
    meta.num_series = nseries;
    meta.num_chunks = nchunks;
    meta.version = 1;
    if (meta.nsources == 0 && block_meta_add_source(&meta, ulid) != 0) goto oom;
    meta.thanos = tmpl->thanos; /* borrowed for the write */
    int wrc = block_meta_write(*tmp, &meta, err);
    meta.thanos = NULL;
    if (wrc != 0) goto out;
    tombstones_t none = {0};
    snprintf(path, sizeof path, "%s/tombstones", *tmp);
    if (tombstones_write(path, &none, err) != 0) goto out;
    if (tsdb_fsync_dir(*tmp) != 0) {
        pl_err_set(err, "sync %s: %s", *tmp, strerror(errno));
        goto out;
    }
    snprintf(final, sizeof final, "%s/%s", parent_dir, ulid);
    if (rename(*tmp, final) != 0) {
        pl_err_set(err, "rename %s: %s", *tmp, strerror(errno));
        goto out;
    }
    free(*tmp);
    *tmp = NULL; /* renamed: nothing left to remove */
    tsdb_fsync_dir(parent_dir);
    rc = 0;
    goto out;
oom:
    pl_err_set(err, "out of memory");
out:
    block_meta_free(&meta);
    return rc;
}

int block_writer_commit(block_writer_t *w, const block_meta_t *tmpl, char ulid_out[ULID_LEN + 1], pl_err_t *err) {
    ulid_out[0] = '\0';
    int rc = -1;
    chunk_writer_t *cw = w->cw;
    index_writer_t *iw = w->iw;
    w->cw = NULL;
    w->iw = NULL;
    int crc = chunk_writer_close(cw, err);
    if (index_writer_close(iw, crc == 0 ? err : NULL) != 0 || crc != 0) goto out;
    if (w->nsamples == 0) { /* as Prometheus: an empty block is not written */
        rc = 0;
        goto out;
    }
    if (block_tmp_dir_commit(w->parent, &w->tmp, w->ulid, tmpl, w->nsamples, w->nseries, w->nchunks, err) != 0)
        goto out;
    memcpy(ulid_out, w->ulid, ULID_LEN + 1);
    rc = 0;
out:
    block_writer_abort(w);
    return rc;
}

int block_builder_write(block_builder_t *b, const char *parent_dir, const block_write_opts_t *o,
                        char ulid_out[ULID_LEN + 1], pl_err_t *err) {
    ulid_out[0] = '\0';
    if (b->nsamples == 0) return 0;
    int rc = -1;
    chunk_meta_t *metas = NULL;
    char **syms = NULL;
    label_t *ls = NULL;
    size_t maxl = 0;
    block_writer_t *w = NULL;
    if (b->nseries > 1) qsort(b->series, b->nseries, sizeof *b->series, cmp_series);
    for (size_t i = 0; i < b->nseries; i++) {
        if (b->series[i].n > maxl) maxl = b->series[i].n;
        if (i > 0 && cmp_series(&b->series[i - 1], &b->series[i]) == 0) {
            pl_err_set(err, "block: a label set was added twice");
            goto out;
        }
    }
    metas = malloc((b->nchunks + 1) * sizeof *metas);
    syms = malloc((b->set_n + 1) * sizeof *syms);
    ls = malloc((maxl + 1) * sizeof *ls);
    if (!metas || !syms || !ls) {
        pl_err_set(err, "out of memory");
        goto out;
    }
    if (!(w = block_writer_open(parent_dir, o->segment_size, err))) goto out;

    /* Symbols: "" and every interned string. */
    size_t nsyms = 0;
    bool has_empty = false;
    for (size_t i = 0; i < b->set_cap; i++)
        if (b->set[i]) {
            syms[nsyms++] = b->set[i];
            if (b->set[i][0] == '\0') has_empty = true;
        }
    qsort(syms, nsyms, sizeof *syms, cmp_cstr);
    if (!has_empty && block_writer_add_symbol(w, "", err) != 0) goto out;
    for (size_t i = 0; i < nsyms; i++)
        if (block_writer_add_symbol(w, syms[i], err) != 0) goto out;

    /* Series in label order, each with its chunks. */
    for (size_t i = 0; i < b->nseries; i++) {
        const bseries_t *se = &b->series[i];
        for (size_t k = 0; k < se->nchunks; k++) {
            const bchunk_t *c = &b->chunks[se->chunk0 + k];
            metas[se->chunk0 + k] =
                (chunk_meta_t){c->mint, c->maxt, 0, (const uint8_t *)b->arena.data + c->off, c->len, CHUNKENC_XOR};
        }
        for (size_t k = 0; k < se->n; k++)
            ls[k] = (label_t){se->strs[2 * k], se->strs[2 * k + 1]};
        if (block_writer_add_series(w, ls, se->n, &metas[se->chunk0], se->nchunks, err) != 0) goto out;
    }

    block_meta_t tmpl = {0};
    if (o->meta_base) tmpl = *o->meta_base; /* shallow: level, sources, parents, thanos are only read */
    tmpl.min_time = o->min_time;
    tmpl.max_time = o->max_time;
    rc = block_writer_commit(w, &tmpl, ulid_out, err);
    w = NULL;
out:
    block_writer_abort(w);
    free(metas);
    free(syms);
    free(ls);
    return rc;
}

/* ---- streaming a queryable into a block -------------------------------------- */

/* A set of strings kept back to back in one buffer, indexed by an
 * open-addressing table of offsets + 1 (0 = empty slot). */
typedef struct symset {
    char *data;
    size_t len, cap;
    uint32_t *slots;
    size_t nslots, n;
} symset_t;

static void symset_free(symset_t *ss) {
    free(ss->data);
    free(ss->slots);
    memset(ss, 0, sizeof *ss);
}

static int symset_add(symset_t *ss, const char *s) {
    size_t len = strlen(s);
    if (ss->n * 2 >= ss->nslots) {
        size_t nc = ss->nslots ? ss->nslots * 2 : 4096;
        uint32_t *slots = calloc(nc, sizeof *slots);
        if (!slots) return -1;
        for (size_t i = 0; i < ss->nslots; i++) {
            if (!ss->slots[i]) continue;
            const char *x = ss->data + ss->slots[i] - 1;
            size_t h = (size_t)XXH3_64bits(x, strlen(x)) & (nc - 1);
            while (slots[h])
                h = (h + 1) & (nc - 1);
            slots[h] = ss->slots[i];
        }
        free(ss->slots);
        ss->slots = slots;
        ss->nslots = nc;
    }
    size_t h = (size_t)XXH3_64bits(s, len) & (ss->nslots - 1);
    while (ss->slots[h]) {
        if (strcmp(ss->data + ss->slots[h] - 1, s) == 0) return 0;
        h = (h + 1) & (ss->nslots - 1);
    }
    if (ss->len + len + 1 >= UINT32_MAX) return -1;
    if (ss->len + len + 1 > ss->cap) {
        size_t nc = ss->cap ? ss->cap * 2 : 65536;
        while (nc < ss->len + len + 1)
            nc *= 2;
        char *nd = realloc(ss->data, nc);
        if (!nd) return -1;
        ss->data = nd;
        ss->cap = nc;
    }
    memcpy(ss->data + ss->len, s, len + 1);
    ss->slots[h] = (uint32_t)ss->len + 1;
    ss->len += len + 1;
    ss->n++;
    return 0;
}

static int cmp_symoff(const void *a, const void *b, void *data) {
    return strcmp((const char *)data + *(const uint32_t *)a, (const char *)data + *(const uint32_t *)b);
}

typedef struct fromq_ctx {
    int64_t chunk_range;
    symset_t syms;
    uint64_t nseries;
    block_writer_t *w;
    /* one series' chunks */
    bchunk_t *chunks;
    size_t nchunks, capchunks;
    chunk_meta_t *metas;
    size_t capmetas;
    strbuf_t arena;
    xor_chunk_t cur;
    pl_err_t *err;
} fromq_ctx_t;

/* Pass 1: the label strings of every series with samples in range. */
static int fromq_symbols(void *ctx, const label_t *ls, size_t n, const sample_t *s, size_t ns) {
    fromq_ctx_t *c = ctx;
    (void)s;
    if (ns == 0) return 0;
    for (size_t i = 0; i < n; i++)
        if (symset_add(&c->syms, ls[i].name) != 0 || symset_add(&c->syms, ls[i].value) != 0) {
            pl_err_set(c->err, "out of memory");
            return -2;
        }
    c->nseries++;
    return 0;
}

/* Pass 2: series in label order, each cut into chunks and written at once. */
static int fromq_series(void *ctx, const label_t *ls, size_t n, const sample_t *s, size_t ns) {
    fromq_ctx_t *c = ctx;
    if (ns == 0) return 0;
    for (size_t i = 1; i < ns; i++)
        if (s[i].t <= s[i - 1].t) {
            pl_err_set(c->err, "block: samples of a series not in increasing time order");
            return -2;
        }
    /* A series the first pass did not see (created since: a snapshot of a head
     * still appended to) has labels that are no symbols: it is left out. */
    if (!block_writer_has_symbols(c->w, ls, n)) return 0;
    c->nchunks = 0;
    strbuf_reset(&c->arena);
    chunk_sink_t k = {&c->chunks, &c->nchunks, &c->capchunks, &c->arena, &c->cur};
    if (cut_chunks(&k, c->chunk_range, s, ns) != 0) goto oom;
    if (c->nchunks > c->capmetas) {
        chunk_meta_t *nv = realloc(c->metas, c->nchunks * sizeof *nv);
        if (!nv) goto oom;
        c->metas = nv;
        c->capmetas = c->nchunks;
    }
    for (size_t i = 0; i < c->nchunks; i++) {
        const bchunk_t *b = &c->chunks[i];
        c->metas[i] =
            (chunk_meta_t){b->mint, b->maxt, 0, (const uint8_t *)c->arena.data + b->off, b->len, CHUNKENC_XOR};
    }
    return block_writer_add_series(c->w, ls, n, c->metas, c->nchunks, c->err) != 0 ? -2 : 0;
oom:
    pl_err_set(c->err, "out of memory");
    return -2;
}

typedef struct name_check {
    bool before_name; /* a label name sorts before __name__ */
    char **values;
    size_t n, cap;
} name_check_t;

static int note_name(void *ctx, const char *s) {
    if (strcmp(s, LABEL_METRIC_NAME) < 0) ((name_check_t *)ctx)->before_name = true;
    return 0;
}

static int note_value(void *ctx, const char *s) {
    name_check_t *nc = ctx;
    if (nc->n == nc->cap) {
        size_t c = nc->cap ? nc->cap * 2 : 64;
        char **nv = realloc(nc->values, c * sizeof *nv);
        if (!nv) return -1;
        nc->values = nv;
        nc->cap = c;
    }
    if (!(nc->values[nc->n] = strdup(s))) return -1;
    nc->n++;
    return 0;
}

static int select_one(const queryable_t *q, enum matcher_type type, const char *value, int64_t mint, int64_t maxt,
                      fromq_ctx_t *c, pl_err_t *err) {
    matcher_t m;
    if (matcher_init(&m, type, LABEL_METRIC_NAME, value, err) != 0) return -1;
    int rc = q->select(q->impl, &m, 1, mint, maxt, fromq_series, c, err);
    matcher_free(&m);
    return rc != 0 ? -1 : 0;
}

/* Streams the series of [mint, maxt] in label order into the writer. The
 * select behind a queryable sorts the series it returns (the head holds a
 * sort entry per series meanwhile), so when every series starts with
 * __name__ (no label name sorts before it) the series are selected one
 * metric name at a time, in byte order: the same order, with sort entries
 * for the largest metric only. */
static int fromq_write_series(const queryable_t *q, int64_t mint, int64_t maxt, fromq_ctx_t *c, pl_err_t *err) {
    name_check_t nc = {0};
    int rc = -1;
    if (!q->label_names || !q->label_values || q->label_names(q->impl, note_name, &nc, err) != 0 || nc.before_name) {
        rc = select_one(q, MATCH_REGEX, ".+", mint, maxt, c, err);
        goto out;
    }
    if (q->label_values(q->impl, LABEL_METRIC_NAME, note_value, &nc, err) != 0) {
        pl_err_set(err, "out of memory");
        goto out;
    }
    rc = 0;
    for (size_t i = 0; i < nc.n && rc == 0; i++)
        if (nc.values[i][0]) rc = select_one(q, MATCH_EQUAL, nc.values[i], mint, maxt, c, err);
out:
    for (size_t i = 0; i < nc.n; i++)
        free(nc.values[i]);
    free(nc.values);
    return rc;
}

int block_write_from_queryable(const queryable_t *q, const char *parent_dir, int64_t mint, int64_t maxt,
                               int64_t chunk_range, char ulid_out[ULID_LEN + 1], pl_err_t *err) {
    ulid_out[0] = '\0';
    if (maxt <= mint) return pl_err_set(err, "block: empty range [%lld, %lld)", (long long)mint, (long long)maxt);
    fromq_ctx_t c = {.chunk_range = chunk_range > 0 ? chunk_range : BLOCK_DEFAULT_RANGE_MS, .err = err};
    strbuf_init(&c.arena);
    if (xor_chunk_init(&c.cur) != 0) return pl_err_set(err, "out of memory");
    uint32_t *order = NULL;
    int rc = -1;

    /* Pass 1: the symbols. Order does not matter and one sample per series
     * tells it has some in range. */
    matcher_t m;
    if (matcher_init(&m, MATCH_REGEX, LABEL_METRIC_NAME, ".+", err) != 0) goto out;
    storage_select_hints_t hints = {.unsorted = true, .last_only = true};
    int src = q->select_hinted ? q->select_hinted(q->impl, &m, 1, mint, maxt - 1, &hints, fromq_symbols, &c, err)
                               : q->select(q->impl, &m, 1, mint, maxt - 1, fromq_symbols, &c, err);
    matcher_free(&m);
    if (src != 0) goto out;
    if (c.nseries == 0) { /* no samples: no block, as Prometheus */
        rc = 0;
        goto out;
    }
    free(c.syms.slots); /* only the strings are needed from here */
    c.syms.slots = NULL;
    c.syms.nslots = 0;
    if (!(order = malloc(c.syms.n * sizeof *order))) {
        pl_err_set(err, "out of memory");
        goto out;
    }
    size_t nsyms = 0;
    bool has_empty = false;
    for (size_t off = 0; off < c.syms.len; off += strlen(c.syms.data + off) + 1) {
        if (c.syms.data[off] == '\0') has_empty = true;
        order[nsyms++] = (uint32_t)off;
    }
    qsort_r(order, nsyms, sizeof *order, cmp_symoff, c.syms.data);
    if (!(c.w = block_writer_open(parent_dir, 0, err))) goto out;
    if (!has_empty && block_writer_add_symbol(c.w, "", err) != 0) goto out;
    for (size_t i = 0; i < nsyms; i++)
        if (block_writer_add_symbol(c.w, c.syms.data + order[i], err) != 0) goto out;
    free(order);
    order = NULL;
    symset_free(&c.syms); /* the index writer holds its own copy */

    /* Pass 2: the series. */
    if (fromq_write_series(q, mint, maxt - 1, &c, err) != 0) goto out;
    block_meta_t tmpl = {.min_time = mint, .max_time = maxt};
    rc = block_writer_commit(c.w, &tmpl, ulid_out, err);
    c.w = NULL;
out:
    block_writer_abort(c.w);
    free(order);
    symset_free(&c.syms);
    free(c.chunks);
    free(c.metas);
    strbuf_free(&c.arena);
    xor_chunk_free(&c.cur);
    return rc;
}

/* ---- reading ------------------------------------------------------------------ */

static uint64_t file_size(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 ? (uint64_t)st.st_size : 0;
}

void block_close(block_t *b) {
    if (!b) return;
    index_reader_close(b->index);
    chunk_reader_close(b->chunks);
    tombstones_free(&b->tombstones);
    block_meta_free(&b->meta);
    free(b->dir);
    free(b);
}

block_t *block_open(const char *dir, pl_err_t *err) {
    block_t *b = calloc(1, sizeof *b);
    if (!b || !(b->dir = strdup(dir))) {
        free(b);
        pl_err_set(err, "out of memory");
        return NULL;
    }
    char path[4200];
    if (block_meta_read(dir, &b->meta, err) != 0) goto fail;
    snprintf(path, sizeof path, "%s/index", dir);
    if (!(b->index = index_reader_open(path, err))) goto fail;
    b->size_bytes += index_reader_size(b->index);
    snprintf(path, sizeof path, "%s/chunks", dir);
    if (!(b->chunks = chunk_reader_open(path, err))) goto fail;
    b->size_bytes += chunk_reader_size(b->chunks);
    snprintf(path, sizeof path, "%s/tombstones", dir);
    if (tombstones_read(path, &b->tombstones, err) != 0) goto fail;
    b->size_bytes += file_size(path);
    snprintf(path, sizeof path, "%s/meta.json", dir);
    b->size_bytes += file_size(path);
    return b;
fail:
    pl_err_prefix(err, "block %s", dir);
    block_close(b);
    return NULL;
}

void block_dir_list_free(char **names, size_t n) {
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
}

int block_dir_list(const char *data_dir, char ***names, size_t *n, pl_err_t *err) {
    *names = NULL;
    *n = 0;
    DIR *d = opendir(data_dir);
    if (!d) return pl_err_set(err, "open %s: %s", data_dir, strerror(errno));
    size_t cap = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (!block_ulid_valid(de->d_name)) continue;
        char p[4200];
        snprintf(p, sizeof p, "%s/%s/meta.json", data_dir, de->d_name);
        if (access(p, R_OK) != 0) continue;
        if (*n == cap) {
            cap = cap ? cap * 2 : 16;
            char **nv = realloc(*names, cap * sizeof *nv);
            if (!nv) goto oom;
            *names = nv;
        }
        if (!((*names)[*n] = strdup(de->d_name))) goto oom;
        (*n)++;
    }
    closedir(d);
    if (*n > 1) qsort(*names, *n, sizeof **names, cmp_cstr);
    return 0;
oom:
    closedir(d);
    block_dir_list_free(*names, *n);
    *names = NULL;
    *n = 0;
    return pl_err_set(err, "out of memory");
}

int block_series_samples(const block_t *b, uint32_t series_id, const index_series_t *s, int64_t mint, int64_t maxt,
                         block_sample_buf_t *out, pl_err_t *err) {
    out->n = 0;
    bool tomb = tombstones_has_series(&b->tombstones, series_id);
    for (size_t i = 0; i < s->nchks; i++) {
        const chunk_meta_t *c = &s->chks[i];
        if (c->maxt < mint || c->mint > maxt) continue;
        uint8_t enc;
        const uint8_t *data;
        size_t len;
        if (chunk_reader_get(b->chunks, c->ref, &enc, &data, &len, err) != 0) return -1;
        if (enc != CHUNKENC_XOR)
            return pl_err_set(err, "chunk ref %llu: unsupported encoding %u", (unsigned long long)c->ref, enc);
        xor_iter_t it;
        xor_iter_init(&it, data, len);
        if (!xor_iter_seek(&it, mint)) {
            if (xor_iter_err(&it)) return pl_err_set(err, "chunk ref %llu: malformed", (unsigned long long)c->ref);
            continue;
        }
        do {
            sample_t sm;
            xor_iter_at(&it, &sm.t, &sm.v);
            if (sm.t > maxt) break;
            if (tomb && tombstones_deleted(&b->tombstones, series_id, sm.t)) continue;
            if (out->n == out->cap) {
                size_t nc = out->cap ? out->cap * 2 : 256;
                sample_t *nv = realloc(out->v, nc * sizeof *nv);
                if (!nv) return pl_err_set(err, "out of memory");
                out->v = nv;
                out->cap = nc;
            }
            out->v[out->n++] = sm;
        } while (xor_iter_next(&it));
        if (xor_iter_err(&it)) return pl_err_set(err, "chunk ref %llu: malformed", (unsigned long long)c->ref);
    }
    return 0;
}
