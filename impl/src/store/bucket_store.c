/* bucket_store.c — the store gateway's block set, sync and select (store.h).
 *
 * Ownership: a store_block_t is created by a sync and reference counted by
 * the block sets holding it and the selects running over it; the last
 * release closes its index (and removes its local files when the block
 * left the bucket). A block set is an immutable array swapped in whole by
 * a sync; selects take a reference on the current set under set_mu.
 *
 * A select walks, per planned part (block, [mint, maxt]), the block's
 * matching series in batches (SERIES_BATCH, fewer with many parts): the
 * chunks a batch needs are fetched with as few range reads as the gaps
 * allow, decoded at once, and the batch's bytes freed. Parts advance
 * together by label set (a k-way merge), so a series present in several
 * blocks comes out once, its parts merged in time order; memory stays one
 * batch per part. */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "model/strset.h"
#include "store/store.h"
#include "tsdb/aggrchunk.h"
#include "tsdb/block.h"
#include "tsdb/chunkenc.h"
#include "tsdb/chunks.h"
#include "tsdb/index.h"
#include "tsdb/meta.h"
#include "tsdb/querier.h"
#include "util/json.h"
#include "util/log.h"
#include "util/timeutil.h"

#define SERIES_BATCH 256
/* Series decoded at once over all parts of a select: with many parts (a
 * bucket of uncompacted 2h blocks) each part's batch shrinks, down to
 * SERIES_BATCH_MIN, so memory stays bounded by about this many series. */
#define SERIES_IN_FLIGHT 4096
#define SERIES_BATCH_MIN 8
/* Bytes read past a chunk's start when its length is not known yet; a
 * chunk that turns out longer is read again whole. */
#define FETCH_TAIL (16 * 1024)
/* Thanos's encoding byte of aggregate chunks. */
#define CHUNKENC_AGGR AGGRCHUNK_ENCODING

typedef struct store_block {
    char ulid[ULID_LEN + 1];
    int64_t min_time, max_time, resolution;
    label_t *ext; /* sorted; strings owned */
    size_t next;
    char *dir; /* <data-dir>/<ULID> */
    index_reader_t *ir;
    uint64_t index_bytes;
    _Atomic int refs;
    _Atomic bool drop; /* left the bucket: remove dir on last release */
} store_block_t;

typedef struct block_set {
    store_block_t **v;
    size_t n;
    _Atomic int refs;
} block_set_t;

enum sync_state { ST_LOADED, ST_PARTIAL, ST_MARKED, ST_FAILED, ST_EXCLUDED, ST_N };
static const char *const state_names[ST_N] = {"loaded", "partial", "marked-for-deletion", "failed", "time-excluded"};

struct store {
    objstore_t *bucket;
    pthread_mutex_t bucket_mu; /* objstore_t is single-threaded */
    char *data_dir;
    int64_t ignore_marks_ms, min_time, max_time;
    pthread_mutex_t set_mu;
    block_set_t *set;
    pthread_mutex_t sync_mu; /* one sync at a time */
    /* metrics */
    _Atomic uint64_t syncs, sync_failures, sync_ns, loads, load_failures, drops;
    _Atomic uint64_t synced[ST_N];
    _Atomic uint64_t series_returned, chunks_fetched, range_reads, selects, select_failures;
    _Atomic uint64_t bytes_meta, bytes_index, bytes_chunks;
    _Atomic uint64_t parts_by_res[3]; /* raw, 5m, 1h parts planned */
};

/* ---- blocks and sets ---- */

static void block_release(store_block_t *b) {
    if (!b || atomic_fetch_sub(&b->refs, 1) != 1) return;
    index_reader_close(b->ir);
    if (atomic_load(&b->drop) && b->dir) block_rm_rf(b->dir);
    for (size_t i = 0; i < b->next; i++) {
        free((char *)b->ext[i].name);
        free((char *)b->ext[i].value);
    }
    free(b->ext);
    free(b->dir);
    free(b);
}

static void set_release(block_set_t *s) {
    if (!s || atomic_fetch_sub(&s->refs, 1) != 1) return;
    for (size_t i = 0; i < s->n; i++) block_release(s->v[i]);
    free(s->v);
    free(s);
}

static block_set_t *set_acquire(store_t *st) {
    pthread_mutex_lock(&st->set_mu);
    block_set_t *s = st->set;
    atomic_fetch_add(&s->refs, 1);
    pthread_mutex_unlock(&st->set_mu);
    return s;
}

store_t *store_new(const store_opts_t *o, pl_err_t *err) {
    if (mkdir(o->data_dir, 0755) < 0 && errno != EEXIST) {
        pl_err_set(err, "data dir %s: %s", o->data_dir, strerror(errno));
        return NULL;
    }
    store_t *s = calloc(1, sizeof *s);
    block_set_t *set = calloc(1, sizeof *set);
    if (!s || !set || !(s->data_dir = strdup(o->data_dir))) {
        free(s);
        free(set);
        pl_err_set(err, "out of memory");
        return NULL;
    }
    atomic_store(&set->refs, 1);
    s->set = set;
    s->bucket = o->bucket;
    s->ignore_marks_ms = o->ignore_deletion_marks_delay_ms;
    s->min_time = o->min_time;
    s->max_time = o->max_time;
    pthread_mutex_init(&s->bucket_mu, NULL);
    pthread_mutex_init(&s->set_mu, NULL);
    pthread_mutex_init(&s->sync_mu, NULL);
    return s;
}

void store_free(store_t *s) {
    if (!s) return;
    set_release(s->set);
    pthread_mutex_destroy(&s->bucket_mu);
    pthread_mutex_destroy(&s->set_mu);
    pthread_mutex_destroy(&s->sync_mu);
    free(s->data_dir);
    free(s);
}

/* ---- bucket access (serialised) ---- */

static int bucket_get(store_t *s, const char *name, int64_t off, int64_t len, strbuf_t *out, _Atomic uint64_t *bytes,
                      bool *not_found, pl_err_t *err) {
    size_t before = out->len;
    pthread_mutex_lock(&s->bucket_mu);
    int rc = objstore_get(s->bucket, name, off, len, out, err);
    if (not_found) *not_found = rc != 0 && objstore_is_not_found(s->bucket);
    pthread_mutex_unlock(&s->bucket_mu);
    if (bytes) atomic_fetch_add(bytes, out->len - before);
    return rc;
}

/* ---- sync ---- */

typedef struct name_list {
    char **v;
    size_t n, cap;
} name_list_t;

static int collect_dirs(void *ctx, const char *name) {
    name_list_t *l = ctx;
    size_t len = strlen(name);
    if (len != ULID_LEN + 1 || name[len - 1] != '/') return 0;
    char u[ULID_LEN + 1];
    memcpy(u, name, ULID_LEN);
    u[ULID_LEN] = '\0';
    if (!block_ulid_valid(u)) return 0;
    if (l->n == l->cap) {
        size_t nc = l->cap ? l->cap * 2 : 64;
        char **nv = realloc(l->v, nc * sizeof *nv);
        if (!nv) return -1;
        l->v = nv;
        l->cap = nc;
    }
    if (!(l->v[l->n] = strdup(u))) return -1;
    l->n++;
    return 0;
}

/* 1 when the block carries a deletion mark older than the delay, 0 if not,
 * -1 on a bucket error. */
static int marked_for_deletion(store_t *s, const char *ulid, pl_err_t *err) {
    char name[ULID_LEN + 32];
    snprintf(name, sizeof name, "%s/deletion-mark.json", ulid);
    strbuf_t body = STRBUF_INIT;
    bool nf = false;
    int rc = bucket_get(s, name, 0, -1, &body, &s->bytes_meta, &nf, err);
    if (rc != 0) {
        strbuf_free(&body);
        return nf ? 0 : -1;
    }
    json_error_t je;
    json_t *root = json_loadb(body.data ? body.data : "", body.len, 0, &je);
    strbuf_free(&body);
    json_t *dt = root ? json_object_get(root, "deletion_time") : NULL;
    int64_t when = json_is_integer(dt) ? json_integer_value(dt) : -1;
    json_decref(root);
    /* A mark we cannot read counts as fresh: the block stays served until
     * a readable mark says otherwise. */
    if (when < 0) {
        log_warn("store", "unreadable deletion-mark.json; block kept", "block=%s", ulid);
        return 0;
    }
    return pl_now_ms() - when * 1000 >= s->ignore_marks_ms ? 1 : 0;
}

/* Fills ext/resolution from the thanos section of meta.json. */
static int block_thanos(store_block_t *b, const block_meta_t *m, pl_err_t *err) {
    json_t *t = m->thanos;
    json_t *labels = t ? json_object_get(t, "labels") : NULL;
    json_t *ds = t ? json_object_get(t, "downsample") : NULL;
    json_t *res = ds ? json_object_get(ds, "resolution") : NULL;
    b->resolution = json_is_integer(res) ? json_integer_value(res) : 0;
    if (b->resolution < 0) return pl_err_set(err, "meta.json: negative thanos.downsample.resolution");
    size_t n = json_is_object(labels) ? json_object_size(labels) : 0;
    b->ext = calloc(n + 1, sizeof *b->ext);
    if (!b->ext) return pl_err_set(err, "out of memory");
    const char *k;
    json_t *v;
    if (n)
        json_object_foreach(labels, k, v) {
            if (!json_is_string(v)) return pl_err_set(err, "meta.json: thanos.labels.%s is not a string", k);
            b->ext[b->next].name = strdup(k);
            b->ext[b->next].value = strdup(json_string_value(v));
            b->next++;
            if (!b->ext[b->next - 1].name || !b->ext[b->next - 1].value) return pl_err_set(err, "out of memory");
        }
    labels_sort(b->ext, b->next);
    return 0;
}

/* Loads a block new to this store. Returns the block, or NULL with *state
 * saying why not (and err for ST_FAILED). */
static store_block_t *block_load(store_t *s, const char *ulid, enum sync_state *state, pl_err_t *err) {
    char name[ULID_LEN + 32];
    snprintf(name, sizeof name, "%s/meta.json", ulid);
    strbuf_t body = STRBUF_INIT;
    bool nf = false;
    if (bucket_get(s, name, 0, -1, &body, &s->bytes_meta, &nf, err) != 0) {
        strbuf_free(&body);
        *state = nf ? ST_PARTIAL : ST_FAILED;
        return NULL;
    }
    block_meta_t m;
    memset(&m, 0, sizeof m);
    int rc = block_meta_parse(body.data ? body.data : "", body.len, &m, err);
    strbuf_free(&body);
    if (rc != 0) {
        pl_err_prefix(err, "%s", name);
        block_meta_free(&m);
        *state = ST_FAILED;
        return NULL;
    }
    if (m.max_time <= s->min_time || m.min_time > s->max_time) {
        block_meta_free(&m);
        *state = ST_EXCLUDED;
        return NULL;
    }
    store_block_t *b = calloc(1, sizeof *b);
    strbuf_t path = STRBUF_INIT, ipath = STRBUF_INIT;
    *state = ST_FAILED;
    if (!b) {
        pl_err_set(err, "out of memory");
        goto fail;
    }
    memcpy(b->ulid, ulid, ULID_LEN + 1);
    b->min_time = m.min_time;
    b->max_time = m.max_time;
    atomic_store(&b->refs, 1);
    if (block_thanos(b, &m, err) != 0) {
        pl_err_prefix(err, "%s", ulid);
        goto fail;
    }
    strbuf_printf(&path, "%s/%s", s->data_dir, ulid);
    strbuf_printf(&ipath, "%s/index", path.data);
    if (!(b->dir = strdup(path.data))) {
        pl_err_set(err, "out of memory");
        goto fail;
    }
    if (mkdir(path.data, 0755) < 0 && errno != EEXIST) {
        pl_err_set(err, "%s: %s", path.data, strerror(errno));
        goto fail;
    }
    /* The index: reused from an earlier run when its size matches the bucket's. */
    snprintf(name, sizeof name, "%s/index", ulid);
    objstore_attrs_t at = {0};
    pthread_mutex_lock(&s->bucket_mu);
    rc = objstore_attributes(s->bucket, name, &at, err);
    pthread_mutex_unlock(&s->bucket_mu);
    if (rc != 0) {
        pl_err_prefix(err, "%s", name);
        goto fail;
    }
    struct stat sb;
    if (stat(ipath.data, &sb) != 0 || (int64_t)sb.st_size != at.size) {
        strbuf_t tmp = STRBUF_INIT;
        strbuf_printf(&tmp, "%s.tmp", ipath.data);
        pthread_mutex_lock(&s->bucket_mu);
        rc = objstore_get_to_file(s->bucket, name, tmp.data, err);
        pthread_mutex_unlock(&s->bucket_mu);
        if (rc == 0 && rename(tmp.data, ipath.data) != 0) rc = pl_err_set(err, "rename %s: %s", tmp.data, strerror(errno));
        if (rc != 0) unlink(tmp.data);
        strbuf_free(&tmp);
        if (rc != 0) goto fail;
        atomic_fetch_add(&s->bytes_index, (uint64_t)at.size);
    }
    b->index_bytes = (uint64_t)at.size;
    if (!(b->ir = index_reader_open(ipath.data, err))) {
        pl_err_prefix(err, "%s", name);
        atomic_store(&b->drop, true);
        goto fail;
    }
    block_meta_free(&m);
    strbuf_free(&path);
    strbuf_free(&ipath);
    *state = ST_LOADED;
    return b;
fail:
    block_meta_free(&m);
    strbuf_free(&path);
    strbuf_free(&ipath);
    if (b) atomic_store(&b->drop, true);
    block_release(b);
    return NULL;
}

static store_block_t *set_find(const block_set_t *set, const char *ulid) {
    for (size_t i = 0; i < set->n; i++)
        if (!strcmp(set->v[i]->ulid, ulid)) return set->v[i];
    return NULL;
}

/* Removes local block dirs that no loaded block owns (left by an earlier run). */
static void remove_strays(store_t *s, const block_set_t *set) {
    DIR *d = opendir(s->data_dir);
    if (!d) return;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (!block_ulid_valid(e->d_name) || set_find(set, e->d_name)) continue;
        strbuf_t p = STRBUF_INIT;
        strbuf_printf(&p, "%s/%s", s->data_dir, e->d_name);
        block_rm_rf(p.data);
        strbuf_free(&p);
    }
    closedir(d);
}

int store_sync(store_t *s, pl_err_t *err) {
    pthread_mutex_lock(&s->sync_mu);
    int64_t t0 = pl_monotonic_ns();
    name_list_t names = {0};
    pthread_mutex_lock(&s->bucket_mu);
    int rc = objstore_iter(s->bucket, "", false, collect_dirs, &names, err);
    pthread_mutex_unlock(&s->bucket_mu);
    atomic_fetch_add(&s->syncs, 1);
    if (rc != 0) {
        if (!err->msg[0]) pl_err_set(err, "out of memory");
        atomic_fetch_add(&s->sync_failures, 1);
        for (size_t i = 0; i < names.n; i++) free(names.v[i]);
        free(names.v);
        pthread_mutex_unlock(&s->sync_mu);
        return -1;
    }
    block_set_t *old = set_acquire(s);
    block_set_t *nset = calloc(1, sizeof *nset);
    store_block_t **v = calloc(names.n + 1, sizeof *v);
    uint64_t counts[ST_N] = {0};
    if (!nset || !v) {
        free(nset);
        free(v);
        set_release(old);
        for (size_t i = 0; i < names.n; i++) free(names.v[i]);
        free(names.v);
        atomic_fetch_add(&s->sync_failures, 1);
        pthread_mutex_unlock(&s->sync_mu);
        return pl_err_set(err, "out of memory");
    }
    size_t n = 0;
    for (size_t i = 0; i < names.n; i++) {
        const char *u = names.v[i];
        pl_err_t berr = {{0}};
        int mk = marked_for_deletion(s, u, &berr);
        if (mk < 0) { /* keep what we have; retry next time */
            store_block_t *b = set_find(old, u);
            log_warn("store", "reading deletion mark failed", "block=%s err=\"%s\"", u, berr.msg);
            if (b) {
                atomic_fetch_add(&b->refs, 1);
                v[n++] = b;
                counts[ST_LOADED]++;
            } else {
                counts[ST_FAILED]++;
            }
            continue;
        }
        if (mk == 1) {
            counts[ST_MARKED]++;
            continue;
        }
        store_block_t *b = set_find(old, u);
        if (b) {
            atomic_fetch_add(&b->refs, 1);
            v[n++] = b;
            counts[ST_LOADED]++;
            continue;
        }
        enum sync_state stt;
        b = block_load(s, u, &stt, &berr);
        counts[stt]++;
        if (b) {
            v[n++] = b;
            atomic_fetch_add(&s->loads, 1);
            log_info("store", "loaded new block", "block=%s resolution=%" PRId64 " mint=%" PRId64 " maxt=%" PRId64, u,
                     b->resolution, b->min_time, b->max_time);
        } else if (stt == ST_FAILED) {
            atomic_fetch_add(&s->load_failures, 1);
            log_warn("store", "loading block failed; skipped until the next sync", "block=%s err=\"%s\"", u, berr.msg);
        } else if (stt == ST_PARTIAL) {
            log_debug("store", "skipping partial block (no meta.json)", "block=%s", u);
        }
    }
    nset->v = v;
    nset->n = n;
    atomic_store(&nset->refs, 1);
    /* Blocks of the old set not in the new one: dropped. */
    for (size_t i = 0; i < old->n; i++)
        if (!set_find(nset, old->v[i]->ulid)) {
            atomic_store(&old->v[i]->drop, true);
            atomic_fetch_add(&s->drops, 1);
            log_info("store", "dropped block (deleted or marked for deletion)", "block=%s", old->v[i]->ulid);
        }
    pthread_mutex_lock(&s->set_mu);
    block_set_t *prev = s->set;
    s->set = nset;
    pthread_mutex_unlock(&s->set_mu);
    set_release(prev);
    set_release(old);
    remove_strays(s, nset);
    for (int k = 0; k < ST_N; k++) atomic_store(&s->synced[k], counts[k]);
    for (size_t i = 0; i < names.n; i++) free(names.v[i]);
    free(names.v);
    atomic_fetch_add(&s->sync_ns, (uint64_t)(pl_monotonic_ns() - t0));
    pthread_mutex_unlock(&s->sync_mu);
    return 0;
}

/* ---- chunk fetching ---- */

typedef struct fetched {
    uint32_t seg;
    uint64_t start;
    strbuf_t data;
} fetched_t;

static int cmp_u64(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static void segment_name(const char *ulid, uint32_t seg, char *out, size_t n) {
    snprintf(out, n, "%s/chunks/%06u", ulid, seg + 1);
}

/* Reads the ranges covering refs (sorted, unique). */
static int fetch_ranges(store_t *s, const store_block_t *b, const uint64_t *refs, size_t n, fetched_t **out,
                        size_t *nout, pl_err_t *err) {
    *out = NULL;
    *nout = 0;
    fetched_t *f = calloc(n + 1, sizeof *f);
    if (!f) return pl_err_set(err, "out of memory");
    size_t nf = 0;
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0;) {
        uint32_t seg = (uint32_t)(refs[i] >> 32);
        uint64_t first = refs[i] & 0xffffffffu, last = first;
        size_t j = i + 1;
        while (j < n && (uint32_t)(refs[j] >> 32) == seg && (refs[j] & 0xffffffffu) - last <= STORE_FETCH_GAP)
            last = refs[j++] & 0xffffffffu;
        char name[ULID_LEN + 32];
        segment_name(b->ulid, seg, name, sizeof name);
        f[nf].seg = seg;
        f[nf].start = first;
        rc = bucket_get(s, name, (int64_t)first, (int64_t)(last - first + FETCH_TAIL), &f[nf].data, &s->bytes_chunks,
                        NULL, err);
        if (rc != 0) pl_err_prefix(err, "%s", name);
        atomic_fetch_add(&s->range_reads, 1);
        nf++;
        i = j;
    }
    *out = f;
    *nout = nf;
    return rc;
}

static void fetched_free(fetched_t *f, size_t n) {
    for (size_t i = 0; f && i < n; i++) strbuf_free(&f[i].data);
    free(f);
}

/* The chunk at ref: from a fetched range, or read on its own when it runs
 * past the range's end (extra holds those bytes). */
static int chunk_at(store_t *s, const store_block_t *b, const fetched_t *f, size_t nf, uint64_t ref, uint8_t *enc,
                    const uint8_t **data, size_t *len, strbuf_t *extra, pl_err_t *err) {
    uint32_t seg = (uint32_t)(ref >> 32);
    uint64_t off = ref & 0xffffffffu;
    const uint8_t *p = NULL;
    size_t avail = 0;
    for (size_t i = 0; i < nf; i++)
        if (f[i].seg == seg && off >= f[i].start && off < f[i].start + f[i].data.len) {
            p = (const uint8_t *)f[i].data.data + (off - f[i].start);
            avail = f[i].data.len - (size_t)(off - f[i].start);
            break;
        }
    for (int attempt = 0; attempt < 2; attempt++) {
        if (p) {
            decbuf_t d;
            dec_init(&d, p, avail);
            uint64_t dlen = dec_uvarint(&d);
            size_t hdr = avail - dec_len(&d);
            if (!d.err && dlen <= (64u << 20) && hdr + 1 + dlen + 4 <= avail) {
                const uint8_t *q = p + hdr;
                uint32_t want = get_be32(q + 1 + dlen);
                if (chunks_crc32c(0, q, 1 + (size_t)dlen) != want)
                    return pl_err_set(err, "block %s: chunk ref %" PRIu64 ": checksum mismatch", b->ulid, ref);
                *enc = q[0];
                *data = q + 1;
                *len = (size_t)dlen;
                return 0;
            }
            if (d.err && avail >= 10)
                return pl_err_set(err, "block %s: chunk ref %" PRIu64 ": malformed length", b->ulid, ref);
            if (attempt == 1 || (!d.err && dlen > (64u << 20)))
                return pl_err_set(err, "block %s: chunk ref %" PRIu64 ": truncated segment", b->ulid, ref);
            /* Longer than what was read: read it whole. */
            size_t need = d.err ? FETCH_TAIL : hdr + 1 + (size_t)dlen + 4;
            char name[ULID_LEN + 32];
            segment_name(b->ulid, seg, name, sizeof name);
            strbuf_reset(extra);
            if (bucket_get(s, name, (int64_t)off, (int64_t)need, extra, &s->bytes_chunks, NULL, err) != 0) return -1;
            atomic_fetch_add(&s->range_reads, 1);
            p = (const uint8_t *)extra->data;
            avail = extra->len;
        } else {
            return pl_err_set(err, "block %s: chunk ref %" PRIu64 ": not fetched", b->ulid, ref);
        }
    }
    return pl_err_set(err, "block %s: chunk ref %" PRIu64 ": unreadable", b->ulid, ref);
}

/* ---- a part's cursor ---- */

typedef struct bseries {
    label_t *ls; /* series labels + external labels, sorted; the array is owned */
    size_t n;
    sample_t *s; /* owned */
    size_t ns;
} bseries_t;

typedef struct cursor {
    store_block_t *b;
    int64_t mint, maxt;
    size_t group; /* index of the label-set group (parts of one group never overlap) */
    uint32_t *ids;
    size_t nids, next_id;
    size_t batch_size; /* series per batch (see SERIES_IN_FLIGHT) */
    bseries_t *batch;
    size_t nbatch, pos;
    index_series_t *is; /* per batch slot: the decoded index entries (own label strings' arrays) */
} cursor_t;

static void batch_clear(cursor_t *c) {
    for (size_t i = 0; i < c->nbatch; i++) {
        free(c->batch[i].ls);
        free(c->batch[i].s);
    }
    c->nbatch = c->pos = 0;
}

static int append_sample(bseries_t *bs, size_t *cap, int64_t t, double v) {
    if (bs->ns == *cap) {
        size_t nc = *cap ? *cap * 2 : 128;
        sample_t *nv = realloc(bs->s, nc * sizeof *nv);
        if (!nv) return -1;
        bs->s = nv;
        *cap = nc;
    }
    bs->s[bs->ns++] = (sample_t){t, v};
    return 0;
}

/* Labels of a series with the block's external labels (a series label wins). */
static label_t *with_external(const store_block_t *b, const label_t *ls, size_t n, size_t *out_n) {
    label_t *m = malloc((n + b->next + 1) * sizeof *m);
    if (!m) return NULL;
    size_t i = 0, j = 0, o = 0;
    while (i < n || j < b->next) {
        int cmp = i == n ? 1 : j == b->next ? -1 : strcmp(ls[i].name, b->ext[j].name);
        if (cmp <= 0) {
            m[o++] = ls[i++];
            if (cmp == 0) j++;
        } else {
            m[o++] = b->ext[j++];
        }
    }
    *out_n = o;
    return m;
}

/* Loads the next batch of series with samples in the part. 0 ok (nbatch 0 at the end). */
static int cursor_fill(store_t *s, cursor_t *c, store_aggr_t aggr, pl_err_t *err) {
    batch_clear(c);
    while (c->nbatch == 0 && c->next_id < c->nids) {
        size_t take = c->nids - c->next_id < c->batch_size ? c->nids - c->next_id : c->batch_size;
        uint64_t *refs = NULL;
        size_t nrefs = 0, caprefs = 0;
        int rc = 0;
        for (size_t k = 0; k < take && rc == 0; k++) {
            rc = index_reader_series(c->b->ir, c->ids[c->next_id + k], &c->is[k], err);
            if (rc != 0) {
                pl_err_prefix(err, "block %s", c->b->ulid);
                break;
            }
            for (size_t ci = 0; ci < c->is[k].nchks; ci++) {
                const chunk_meta_t *cm = &c->is[k].chks[ci];
                if (cm->maxt < c->mint || cm->mint > c->maxt) continue;
                if (nrefs == caprefs) {
                    caprefs = caprefs ? caprefs * 2 : 256;
                    uint64_t *nr = realloc(refs, caprefs * sizeof *nr);
                    if (!nr) {
                        rc = pl_err_set(err, "out of memory");
                        break;
                    }
                    refs = nr;
                }
                refs[nrefs++] = cm->ref;
            }
        }
        if (rc != 0) {
            free(refs);
            return -1;
        }
        if (nrefs > 1) qsort(refs, nrefs, sizeof *refs, cmp_u64);
        fetched_t *f = NULL;
        size_t nf = 0;
        if (nrefs) rc = fetch_ranges(s, c->b, refs, nrefs, &f, &nf, err);
        atomic_fetch_add(&s->chunks_fetched, nrefs);
        free(refs);
        strbuf_t extra = STRBUF_INIT;
        sample_t *tmp = NULL;
        size_t ntmp = 0, captmp = 0;
        for (size_t k = 0; k < take && rc == 0; k++) {
            index_series_t *is = &c->is[k];
            bseries_t bs = {0};
            size_t cap = 0;
            for (size_t ci = 0; ci < is->nchks && rc == 0; ci++) {
                const chunk_meta_t *cm = &is->chks[ci];
                if (cm->maxt < c->mint || cm->mint > c->maxt) continue;
                uint8_t enc = 0;
                const uint8_t *data = NULL;
                size_t len = 0;
                rc = chunk_at(s, c->b, f, nf, cm->ref, &enc, &data, &len, &extra, err);
                if (rc != 0) break;
                if (enc == CHUNKENC_XOR) {
                    xor_iter_t it;
                    xor_iter_init(&it, data, len);
                    if (xor_iter_seek(&it, c->mint)) {
                        do {
                            int64_t t;
                            double v;
                            xor_iter_at(&it, &t, &v);
                            if (t > c->maxt) break;
                            if (append_sample(&bs, &cap, t, v) < 0) rc = pl_err_set(err, "out of memory");
                        } while (rc == 0 && xor_iter_next(&it));
                    }
                    if (rc == 0 && xor_iter_err(&it))
                        rc = pl_err_set(err, "block %s: chunk ref %" PRIu64 ": malformed XOR chunk", c->b->ulid,
                                        cm->ref);
                } else if (enc == CHUNKENC_AGGR && c->b->resolution > 0) {
                    ntmp = 0;
                    rc = store_aggr_chunk_samples(data, len, aggr, c->mint, c->maxt, &tmp, &ntmp, &captmp, err);
                    if (rc != 0) pl_err_prefix(err, "block %s: chunk ref %" PRIu64, c->b->ulid, cm->ref);
                    for (size_t q = 0; rc == 0 && q < ntmp; q++)
                        if (append_sample(&bs, &cap, tmp[q].t, tmp[q].v) < 0) rc = pl_err_set(err, "out of memory");
                } else {
                    rc = pl_err_set(err, "block %s: chunk ref %" PRIu64 ": unsupported encoding %u", c->b->ulid,
                                    cm->ref, enc);
                }
            }
            if (rc == 0 && bs.ns > 0) {
                bs.ls = with_external(c->b, is->labels, is->nlabels, &bs.n);
                if (!bs.ls) rc = pl_err_set(err, "out of memory");
            }
            if (rc != 0 || bs.ns == 0) {
                free(bs.s);
                free(bs.ls);
                continue;
            }
            c->batch[c->nbatch++] = bs;
        }
        free(tmp);
        strbuf_free(&extra);
        fetched_free(f, nf);
        c->next_id += take;
        if (rc != 0) return -1;
    }
    return 0;
}

static void cursor_free(cursor_t *c) {
    batch_clear(c);
    if (c->is)
        for (size_t k = 0; k < c->batch_size; k++) index_series_free(&c->is[k]);
    free(c->is);
    free(c->batch);
    free(c->ids);
}

/* ---- select ---- */

/* Whether the block's external labels satisfy the matchers on their names. */
static bool block_matches(const store_block_t *b, const matcher_t *ms, size_t nms) {
    for (size_t i = 0; i < nms; i++) {
        const char *v = labels_get(b->ext, b->next, ms[i].name);
        if (v && !matcher_matches(&ms[i], v)) return false;
    }
    return true;
}

static int cmp_block_group(const void *a, const void *b) {
    const store_block_t *x = *(store_block_t *const *)a, *y = *(store_block_t *const *)b;
    return labels_compare(x->ext, x->next, y->ext, y->next);
}

int store_select(store_t *s, const matcher_t *ms, size_t nms, int64_t mint, int64_t maxt,
                 const store_select_opts_t *o, storage_series_fn fn, void *ctx, pl_err_t *err) {
    store_select_opts_t def = {0};
    if (!o) o = &def;
    store_aggr_t aggr = store_aggr_for_func(o->func);
    block_set_t *set = set_acquire(s);
    atomic_fetch_add(&s->selects, 1);
    store_block_t **sel = calloc(set->n + 1, sizeof *sel);
    matcher_t *ims = calloc(nms + 1, sizeof *ims);
    cursor_t *cur = NULL;
    size_t ncur = 0, nsel = 0;
    sample_t *merged = NULL;
    int rc = 0;
    if (!sel || !ims) {
        rc = pl_err_set(err, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < set->n; i++)
        if (set->v[i]->max_time > mint && set->v[i]->min_time <= maxt && block_matches(set->v[i], ms, nms))
            sel[nsel++] = set->v[i];
    qsort(sel, nsel, sizeof *sel, cmp_block_group);
    /* Plan each group of equal external labels; one cursor per part. */
    cur = calloc(nsel + 1, sizeof *cur);
    if (!cur) {
        rc = pl_err_set(err, "out of memory");
        goto out;
    }
    size_t ngroup = 0;
    for (size_t g = 0; g < nsel && rc == 0;) {
        size_t h = g + 1;
        while (h < nsel && cmp_block_group(&sel[g], &sel[h]) == 0) h++;
        store_plan_block_t *pb = calloc(h - g, sizeof *pb);
        store_plan_part_t *parts = NULL;
        size_t nparts = 0;
        if (!pb) {
            rc = pl_err_set(err, "out of memory");
            break;
        }
        for (size_t k = g; k < h; k++)
            pb[k - g] = (store_plan_block_t){sel[k]->min_time, sel[k]->max_time, sel[k]->resolution};
        if (store_plan(pb, h - g, mint, maxt, o->max_resolution, &parts, &nparts) < 0)
            rc = pl_err_set(err, "out of memory");
        for (size_t p = 0; rc == 0 && p < nparts; p++) {
            cursor_t *c = &cur[ncur++];
            c->b = sel[g + parts[p].block];
            c->mint = parts[p].mint;
            c->maxt = parts[p].maxt;
            c->group = ngroup;
            int64_t r = c->b->resolution;
            atomic_fetch_add(&s->parts_by_res[r >= STORE_RES_1H ? 2 : r >= STORE_RES_5M ? 1 : 0], 1);
        }
        free(parts);
        free(pb);
        ngroup++;
        g = h;
    }
    /* Postings: matchers on a block's external labels were checked above. */
    size_t batch_size = ncur ? SERIES_IN_FLIGHT / ncur : SERIES_BATCH;
    if (batch_size > SERIES_BATCH) batch_size = SERIES_BATCH;
    if (batch_size < SERIES_BATCH_MIN) batch_size = SERIES_BATCH_MIN;
    for (size_t i = 0; rc == 0 && i < ncur; i++) {
        cursor_t *c = &cur[i];
        c->batch_size = batch_size;
        size_t nims = 0;
        for (size_t k = 0; k < nms; k++)
            if (!labels_get(c->b->ext, c->b->next, ms[k].name)) ims[nims++] = ms[k];
        if (nims == 0) {
            rc = index_reader_postings(c->b->ir, "", "", &c->ids, &c->nids, err);
        } else {
            rc = block_postings_for_matchers(c->b->ir, ims, nims, &c->ids, &c->nids, err);
        }
        c->batch = calloc(c->batch_size, sizeof *c->batch);
        c->is = calloc(c->batch_size, sizeof *c->is);
        if (rc == 0 && (!c->batch || !c->is)) rc = pl_err_set(err, "out of memory");
        if (rc == 0) rc = cursor_fill(s, c, aggr, err);
    }
    /* k-way merge by label set. */
    size_t mcap = 0, fcap = 0;
    sample_t *fed = NULL;
    bool counter_feed = false;
    for (size_t i = 0; i < ncur; i++)
        if (aggr == STORE_AGGR_COUNTER && cur[i].b->resolution > 0) counter_feed = true;
    while (rc == 0) {
        cursor_t *min = NULL;
        for (size_t i = 0; i < ncur; i++) {
            cursor_t *c = &cur[i];
            if (c->pos >= c->nbatch) continue;
            if (!min || labels_compare(c->batch[c->pos].ls, c->batch[c->pos].n, min->batch[min->pos].ls,
                                       min->batch[min->pos].n) < 0)
                min = c;
        }
        if (!min) break;
        bseries_t *m = &min->batch[min->pos];
        size_t total = 0, nsrc = 0;
        for (size_t i = 0; i < ncur; i++) {
            cursor_t *c = &cur[i];
            if (c->pos < c->nbatch && labels_equal(c->batch[c->pos].ls, c->batch[c->pos].n, m->ls, m->n)) {
                total += c->batch[c->pos].ns;
                nsrc++;
            }
        }
        const sample_t *out = m->s;
        size_t nout = m->ns;
        if (nsrc > 1) {
            if (total > mcap) {
                sample_t *nm = realloc(merged, total * sizeof *nm);
                if (!nm) {
                    rc = pl_err_set(err, "out of memory");
                    break;
                }
                merged = nm;
                mcap = total;
            }
            size_t k = 0;
            for (size_t i = 0; i < ncur; i++) { /* cursors are in (group, time) order */
                cursor_t *c = &cur[i];
                if (c->pos < c->nbatch && labels_equal(c->batch[c->pos].ls, c->batch[c->pos].n, m->ls, m->n)) {
                    bseries_t *bs = &c->batch[c->pos];
                    if (k == 0 || bs->ns == 0 || bs->s[0].t > merged[k - 1].t) { /* the usual case: later data */
                        memcpy(merged + k, bs->s, bs->ns * sizeof *merged);
                        k += bs->ns;
                        continue;
                    }
                    /* Overlapping blocks: a merge, the earlier part winning a shared timestamp. */
                    sample_t *tmp = malloc((k + bs->ns) * sizeof *tmp);
                    if (!tmp) {
                        rc = pl_err_set(err, "out of memory");
                        break;
                    }
                    size_t x = 0, y = 0, w = 0;
                    while (x < k || y < bs->ns) {
                        if (y == bs->ns || (x < k && merged[x].t <= bs->s[y].t)) {
                            while (y < bs->ns && x < k && bs->s[y].t == merged[x].t) y++;
                            tmp[w++] = merged[x++];
                        } else {
                            tmp[w++] = bs->s[y++];
                        }
                    }
                    memcpy(merged, tmp, w * sizeof *tmp);
                    free(tmp);
                    k = w;
                }
            }
            if (rc != 0) break;
            out = merged;
            nout = k;
        }
        if (counter_feed && nout > 0) { /* reset-adjusted across chunks and parts */
            if (nout > fcap) {
                sample_t *nf = realloc(fed, nout * sizeof *nf);
                if (!nf) {
                    rc = pl_err_set(err, "out of memory");
                    break;
                }
                fed = nf;
                fcap = nout;
            }
            aggr_counter_state_t cst = {0};
            size_t nfed = 0;
            for (size_t q = 0; q < nout; q++)
                if (aggr_counter_feed(&cst, out[q].t, out[q].v, &fed[nfed].t, &fed[nfed].v)) nfed++;
            out = fed;
            nout = nfed;
        }
        rc = fn(ctx, m->ls, m->n, out, nout);
        atomic_fetch_add(&s->series_returned, 1);
        if (rc != 0) break;
        /* Advance every cursor that held this label set (m is invalid after the first refill). */
        label_t *key = m->ls;
        size_t nkey = m->n;
        bool refill_min = false;
        for (size_t i = 0; i < ncur && rc == 0; i++) {
            cursor_t *c = &cur[i];
            if (c == min || c->pos >= c->nbatch) continue;
            if (labels_equal(c->batch[c->pos].ls, c->batch[c->pos].n, key, nkey)) {
                c->pos++;
                if (c->pos >= c->nbatch) rc = cursor_fill(s, c, aggr, err);
            }
        }
        min->pos++;
        refill_min = min->pos >= min->nbatch;
        if (rc == 0 && refill_min) rc = cursor_fill(s, min, aggr, err);
    }
    free(fed);
out:
    if (rc != 0) atomic_fetch_add(&s->select_failures, 1);
    free(merged);
    for (size_t i = 0; cur && i < ncur; i++) cursor_free(&cur[i]);
    free(cur);
    free(ims);
    free(sel);
    set_release(set);
    return rc;
}

/* ---- labels ---- */

static int store_labels(store_t *s, const char *name, storage_string_fn fn, void *ctx, pl_err_t *err) {
    block_set_t *set = set_acquire(s);
    strset_t ss = {0};
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < set->n; i++) {
        store_block_t *b = set->v[i];
        const char *ev = name ? labels_get(b->ext, b->next, name) : NULL;
        if (ev) {
            rc = strset_add(&ss, ev);
            continue;
        }
        rc = name ? index_reader_label_values(b->ir, name, strset_add, &ss) : index_reader_label_names(b->ir, strset_add, &ss);
        for (size_t k = 0; rc == 0 && !name && k < b->next; k++) rc = strset_add(&ss, b->ext[k].name);
    }
    if (rc != 0) {
        strset_free(&ss);
        rc = pl_err_set(err, "out of memory");
    } else {
        rc = strset_emit(&ss, fn, ctx, err);
    }
    set_release(set);
    return rc;
}

int store_label_names(store_t *s, storage_string_fn fn, void *ctx, pl_err_t *err) {
    return store_labels(s, NULL, fn, ctx, err);
}

int store_label_values(store_t *s, const char *name, storage_string_fn fn, void *ctx, pl_err_t *err) {
    return store_labels(s, name, fn, ctx, err);
}

/* ---- info and metrics ---- */

static void write_labels_obj(jsonw_t *w, const label_t *ls, size_t n) {
    jw_obj_begin(w);
    for (size_t i = 0; i < n; i++) {
        jw_key(w, ls[i].name);
        jw_str(w, ls[i].value);
    }
    jw_obj_end(w);
}

void store_write_info(store_t *s, strbuf_t *out) {
    block_set_t *set = set_acquire(s);
    store_block_t **v = calloc(set->n + 1, sizeof *v);
    if (v && set->n) memcpy(v, set->v, set->n * sizeof *v);
    size_t n = v ? set->n : 0;
    if (n > 1) qsort(v, n, sizeof *v, cmp_block_group);
    jsonw_t w;
    jw_init(&w, out);
    jw_obj_begin(&w);
    int64_t mn = INT64_MAX, mx = INT64_MIN;
    for (size_t i = 0; i < n; i++) {
        if (v[i]->min_time < mn) mn = v[i]->min_time;
        if (v[i]->max_time - 1 > mx) mx = v[i]->max_time - 1;
    }
    jw_key(&w, "minTime");
    jw_int(&w, n ? mn : 0);
    jw_key(&w, "maxTime");
    jw_int(&w, n ? mx : -1);
    jw_key(&w, "labelSets");
    jw_arr_begin(&w);
    for (size_t i = 0; i < n; i++)
        if (i == 0 || cmp_block_group(&v[i - 1], &v[i]) != 0) write_labels_obj(&w, v[i]->ext, v[i]->next);
    jw_arr_end(&w);
    jw_key(&w, "resolutions");
    jw_arr_begin(&w);
    const int64_t res[3] = {STORE_RES_RAW, STORE_RES_5M, STORE_RES_1H};
    for (int r = 0; r < 3; r++) {
        int64_t a = INT64_MAX, b = INT64_MIN;
        size_t cnt = 0;
        for (size_t i = 0; i < n; i++)
            if (v[i]->resolution == res[r]) {
                cnt++;
                if (v[i]->min_time < a) a = v[i]->min_time;
                if (v[i]->max_time - 1 > b) b = v[i]->max_time - 1;
            }
        if (!cnt) continue;
        jw_obj_begin(&w);
        jw_key(&w, "resolution");
        jw_int(&w, res[r]);
        jw_key(&w, "minTime");
        jw_int(&w, a);
        jw_key(&w, "maxTime");
        jw_int(&w, b);
        jw_key(&w, "blocks");
        jw_uint(&w, cnt);
        jw_obj_end(&w);
    }
    jw_arr_end(&w);
    jw_key(&w, "blocks");
    jw_arr_begin(&w);
    for (size_t i = 0; i < n; i++) {
        jw_obj_begin(&w);
        jw_key(&w, "ulid");
        jw_str(&w, v[i]->ulid);
        jw_key(&w, "labels");
        write_labels_obj(&w, v[i]->ext, v[i]->next);
        jw_key(&w, "minTime");
        jw_int(&w, v[i]->min_time);
        jw_key(&w, "maxTime");
        jw_int(&w, v[i]->max_time);
        jw_key(&w, "resolution");
        jw_int(&w, v[i]->resolution);
        jw_key(&w, "indexBytes");
        jw_uint(&w, v[i]->index_bytes);
        jw_obj_end(&w);
    }
    jw_arr_end(&w);
    jw_obj_end(&w);
    free(v);
    set_release(set);
}

static void metric(strbuf_t *out, const char *name, const char *type, const char *help) {
    strbuf_printf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

void store_write_metrics(store_t *s, strbuf_t *out) {
    block_set_t *set = set_acquire(s);
    size_t nblocks = set->n;
    set_release(set);
    metric(out, "thanos_bucket_store_blocks_loaded", "gauge", "Number of currently loaded blocks.");
    strbuf_printf(out, "thanos_bucket_store_blocks_loaded %zu\n", nblocks);
    metric(out, "thanos_bucket_store_block_loads_total", "counter", "Total number of remote block loading attempts that succeeded.");
    strbuf_printf(out, "thanos_bucket_store_block_loads_total %" PRIu64 "\n", atomic_load(&s->loads));
    metric(out, "thanos_bucket_store_block_load_failures_total", "counter", "Total number of failed remote block loading attempts.");
    strbuf_printf(out, "thanos_bucket_store_block_load_failures_total %" PRIu64 "\n", atomic_load(&s->load_failures));
    metric(out, "thanos_bucket_store_block_drops_total", "counter", "Total number of local blocks that were dropped.");
    strbuf_printf(out, "thanos_bucket_store_block_drops_total %" PRIu64 "\n", atomic_load(&s->drops));
    metric(out, "thanos_blocks_meta_syncs_total", "counter", "Total blocks metadata synchronization attempts.");
    strbuf_printf(out, "thanos_blocks_meta_syncs_total %" PRIu64 "\n", atomic_load(&s->syncs));
    metric(out, "thanos_blocks_meta_sync_failures_total", "counter", "Total blocks metadata synchronization failures.");
    strbuf_printf(out, "thanos_blocks_meta_sync_failures_total %" PRIu64 "\n", atomic_load(&s->sync_failures));
    metric(out, "thanos_blocks_meta_sync_duration_seconds", "summary", "Duration of the blocks metadata synchronization in seconds.");
    strbuf_printf(out, "thanos_blocks_meta_sync_duration_seconds_sum %.6f\nthanos_blocks_meta_sync_duration_seconds_count %" PRIu64 "\n",
                  (double)atomic_load(&s->sync_ns) / 1e9, atomic_load(&s->syncs) - atomic_load(&s->sync_failures));
    metric(out, "thanos_blocks_meta_synced", "gauge", "Number of block metadata synced, by state.");
    for (int k = 0; k < ST_N; k++)
        strbuf_printf(out, "thanos_blocks_meta_synced{state=\"%s\"} %" PRIu64 "\n", state_names[k], atomic_load(&s->synced[k]));
    metric(out, "thanos_bucket_store_series_requests_total", "counter", "Selects served, by result (promlab).");
    strbuf_printf(out, "thanos_bucket_store_series_requests_total{result=\"success\"} %" PRIu64 "\n",
                  atomic_load(&s->selects) - atomic_load(&s->select_failures));
    strbuf_printf(out, "thanos_bucket_store_series_requests_total{result=\"error\"} %" PRIu64 "\n", atomic_load(&s->select_failures));
    metric(out, "thanos_bucket_store_series_returned_total", "counter", "Series returned by selects (after merging blocks).");
    strbuf_printf(out, "thanos_bucket_store_series_returned_total %" PRIu64 "\n", atomic_load(&s->series_returned));
    metric(out, "thanos_bucket_store_chunks_fetched_total", "counter", "Chunks fetched from the bucket.");
    strbuf_printf(out, "thanos_bucket_store_chunks_fetched_total %" PRIu64 "\n", atomic_load(&s->chunks_fetched));
    metric(out, "thanos_bucket_store_range_reads_total", "counter", "Range reads of chunk segments sent to the bucket.");
    strbuf_printf(out, "thanos_bucket_store_range_reads_total %" PRIu64 "\n", atomic_load(&s->range_reads));
    metric(out, "thanos_bucket_store_bytes_fetched_total", "counter", "Bytes read from the bucket, by kind of object.");
    strbuf_printf(out, "thanos_bucket_store_bytes_fetched_total{kind=\"meta\"} %" PRIu64 "\n", atomic_load(&s->bytes_meta));
    strbuf_printf(out, "thanos_bucket_store_bytes_fetched_total{kind=\"index\"} %" PRIu64 "\n", atomic_load(&s->bytes_index));
    strbuf_printf(out, "thanos_bucket_store_bytes_fetched_total{kind=\"chunks\"} %" PRIu64 "\n", atomic_load(&s->bytes_chunks));
    metric(out, "thanos_bucket_store_parts_total", "counter", "Block parts planned for selects, by resolution (ms).");
    strbuf_printf(out, "thanos_bucket_store_parts_total{resolution=\"0\"} %" PRIu64 "\n", atomic_load(&s->parts_by_res[0]));
    strbuf_printf(out, "thanos_bucket_store_parts_total{resolution=\"300000\"} %" PRIu64 "\n", atomic_load(&s->parts_by_res[1]));
    strbuf_printf(out, "thanos_bucket_store_parts_total{resolution=\"3600000\"} %" PRIu64 "\n", atomic_load(&s->parts_by_res[2]));
}

uint64_t store_blocks_loaded(store_t *s) {
    block_set_t *set = set_acquire(s);
    uint64_t n = set->n;
    set_release(set);
    return n;
}

uint64_t store_bytes_fetched(store_t *s, const char *kind) {
    if (!strcmp(kind, "meta")) return atomic_load(&s->bytes_meta);
    if (!strcmp(kind, "index")) return atomic_load(&s->bytes_index);
    if (!strcmp(kind, "chunks")) return atomic_load(&s->bytes_chunks);
    return 0;
}
