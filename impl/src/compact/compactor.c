/* compactor.c — Thanos's compactor over a bucket. See compactor.h.
 *
 * State of an iteration: the bucket's blocks (bblk_t: parsed meta.json,
 * its raw bytes, resolution, a canonical label string, deletion mark),
 * kept up to date in memory as the iteration uploads, marks and deletes, so
 * one listing of the bucket serves the whole iteration. */
#include "compact/compactor.h"

#include <errno.h>
#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "compact/aggrblock.h"
#include "compact/downsample.h"
#include "tsdb/block.h"
#include "tsdb/compact.h"
#include "tsdb/meta.h"
#include "util/log.h"
#include "util/timeutil.h"

#define DELETION_MARK "deletion-mark.json"
/* Thanos's PartialUploadThresholdAge: a block dir without meta.json this old is an upload that died. */
#define PARTIAL_UPLOAD_AGE_MS (48 * 3600 * 1000LL)

/* Thanos's default compaction levels: the first is the block range the
 * planner's ranges[0] stands for, the rest are the merge ranges. */
static const int64_t compact_ranges[] = {3600000LL, 2 * 3600000LL, 8 * 3600000LL, 2 * 24 * 3600000LL,
                                         14 * 24 * 3600000LL};
#define N_RANGES (sizeof compact_ranges / sizeof compact_ranges[0])

enum { RES_RAW = 0, RES_5M, RES_1H, N_RES };

static int res_index(int64_t res) {
    return res == DOWNSAMPLE_RES_5M ? RES_5M : res == DOWNSAMPLE_RES_1H ? RES_1H : res == 0 ? RES_RAW : -1;
}

typedef struct bblk {
    block_meta_t m;
    char *meta_json; /* the bytes read from the bucket */
    size_t meta_len;
    int64_t res;
    char *labels; /* {a="1",b="2"}: sorted, the group identity */
    bool marked;
    int64_t mark_time_s;
    bool gone; /* deleted in this iteration */
    bool no_compact, no_downsample; /* no-compact-mark.json, no-downsample-mark.json */
} bblk_t;

typedef struct blist {
    bblk_t *v;
    size_t n, cap;
    char (*partial)[ULID_LEN + 1]; /* block dirs without meta.json */
    size_t npartial;
} blist_t;

struct compactor {
    compactor_opts_t o;
    char *data_dir;
    _Atomic int halted;
    _Atomic uint64_t iterations, compactions[N_RES], compaction_failures, downsamples[N_RES], downsample_failures,
        marked_compaction, marked_retention, marked_garbage, deleted, halts;
    _Atomic uint64_t partial_deleted;
    _Atomic int64_t last_success_s;
    /* per-group counters (Thanos labels them by group): guarded by gmu, read by the metrics writer */
    pthread_mutex_t gmu;
    struct gstat {
        char *key; /* <resolution>@{labels} */
        uint64_t compactions, failures, downsamples, downsample_failures;
    } *gs;
    size_t ngs;
};

enum { GS_NONE = 0, GS_COMPACTION, GS_FAILURE, GS_DOWNSAMPLE, GS_DOWNSAMPLE_FAILURE };

/* Counts one event for the group res@labels (GS_NONE: just makes it known, at 0). */
static void gstat_add(compactor_t *c, int64_t res, const char *labels, int what) {
    char key[1024];
    snprintf(key, sizeof key, "%lld@%s", (long long)res, labels);
    pthread_mutex_lock(&c->gmu);
    struct gstat *g = NULL;
    for (size_t i = 0; i < c->ngs && !g; i++)
        if (!strcmp(c->gs[i].key, key)) g = &c->gs[i];
    if (!g) {
        struct gstat *nv = realloc(c->gs, (c->ngs + 1) * sizeof *nv);
        char *k = strdup(key);
        if (nv) c->gs = nv;
        if (nv && k) {
            g = &c->gs[c->ngs++];
            memset(g, 0, sizeof *g);
            g->key = k;
        } else {
            free(k);
        }
    }
    if (g) {
        if (what == GS_COMPACTION) g->compactions++;
        if (what == GS_FAILURE) g->failures++;
        if (what == GS_DOWNSAMPLE) g->downsamples++;
        if (what == GS_DOWNSAMPLE_FAILURE) g->downsample_failures++;
    }
    pthread_mutex_unlock(&c->gmu);
}

/* ---- small helpers ----------------------------------------------------------------- */

static int mkdir_p(const char *path) {
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s", path);
    for (char *p = tmp + 1; *p; p++) {
        if (*p != '/') continue;
        *p = '\0';
        if (mkdir(tmp, 0777) != 0 && errno != EEXIST) return -1;
        *p = '/';
    }
    if (mkdir(tmp, 0777) != 0 && errno != EEXIST) return -1;
    return 0;
}

static int cmp_ulid(const void *a, const void *b) { return strcmp((const char *)a, (const char *)b); }
static int cmp_key(const void *a, const void *b) { return strcmp(*(const char *const *)a, *(const char *const *)b); }

/* {a="1",b="2"} from a thanos.labels object, keys sorted. */
static char *labels_string(json_t *labels) {
    strbuf_t sb = STRBUF_INIT;
    size_t n = json_is_object(labels) ? json_object_size(labels) : 0;
    const char **keys = calloc(n + 1, sizeof *keys);
    size_t k = 0;
    const char *key;
    json_t *v;
    if (n)
        json_object_foreach(labels, key, v) keys[k++] = key;
    qsort(keys, k, sizeof *keys, cmp_key);
    strbuf_putc(&sb, '{');
    for (size_t i = 0; i < k; i++) {
        const char *val = json_string_value(json_object_get(labels, keys[i]));
        strbuf_printf(&sb, "%s%s=\"%s\"", i ? "," : "", keys[i], val ? val : "");
    }
    strbuf_putc(&sb, '}');
    free(keys);
    return strbuf_detach(&sb);
}

static void bblk_free(bblk_t *b) {
    block_meta_free(&b->m);
    free(b->meta_json);
    free(b->labels);
}

static void blist_free(blist_t *l) {
    for (size_t i = 0; i < l->n; i++)
        bblk_free(&l->v[i]);
    free(l->v);
    free(l->partial);
    memset(l, 0, sizeof *l);
}

static bblk_t *blist_add(blist_t *l, pl_err_t *err) {
    if (l->n == l->cap) {
        size_t nc = l->cap ? l->cap * 2 : 64;
        bblk_t *nv = realloc(l->v, nc * sizeof *nv);
        if (!nv) {
            pl_err_set(err, "out of memory");
            return NULL;
        }
        l->v = nv;
        l->cap = nc;
    }
    bblk_t *b = &l->v[l->n++];
    memset(b, 0, sizeof *b);
    return b;
}

/* Fills the derived fields of a block from its meta. */
static int bblk_derive(bblk_t *b, pl_err_t *err) {
    b->res = downsample_meta_resolution(&b->m);
    json_t *t = b->m.thanos;
    b->labels = labels_string(t ? json_object_get(t, "labels") : NULL);
    if (!b->labels) return pl_err_set(err, "out of memory");
    return 0;
}

static const char *bblk_source(const bblk_t *b) {
    json_t *t = b->m.thanos;
    const char *s = t ? json_string_value(json_object_get(t, "source")) : NULL;
    return s ? s : "";
}

/* ---- sync ---------------------------------------------------------------------------- */

typedef struct sync_ctx {
    compactor_t *c;
    blist_t *l;
    size_t partial;
    pl_err_t *err;
} sync_ctx_t;

static int sync_one(void *ctx, const char *name) {
    sync_ctx_t *s = ctx;
    size_t n = strlen(name);
    if (n != ULID_LEN + 1 || name[ULID_LEN] != '/') return 0;
    char ulid[ULID_LEN + 1];
    memcpy(ulid, name, ULID_LEN);
    ulid[ULID_LEN] = '\0';
    if (!block_ulid_valid(ulid)) return 0;
    objstore_t *bk = s->c->o.bucket;
    char obj[64];
    strbuf_t body = STRBUF_INIT;
    snprintf(obj, sizeof obj, "%s/meta.json", ulid);
    pl_err_t e = {{0}};
    if (objstore_get(bk, obj, 0, -1, &body, &e) != 0) {
        strbuf_free(&body);
        if (objstore_is_not_found(bk)) {
            s->partial++;
            void *nv = realloc(s->l->partial, (s->l->npartial + 1) * sizeof *s->l->partial);
            if (!nv) return pl_err_set(s->err, "out of memory");
            s->l->partial = nv;
            memcpy(s->l->partial[s->l->npartial++], ulid, ULID_LEN + 1);
            log_debug("compactor", "skipping partial block (no meta.json)", "block=%s", ulid);
            return 0;
        }
        pl_err_set(s->err, "read %s: %s", obj, e.msg);
        return -1;
    }
    bblk_t *b = blist_add(s->l, s->err);
    if (!b) {
        strbuf_free(&body);
        return -1;
    }
    if (block_meta_parse(body.data ? body.data : "", body.len, &b->m, &e) != 0) {
        log_warn("compactor", "skipping block with an unreadable meta.json", "block=%s err=\"%s\"", ulid, e.msg);
        s->l->n--;
        strbuf_free(&body);
        return 0;
    }
    b->meta_len = body.len;
    b->meta_json = strbuf_detach(&body);
    if (bblk_derive(b, s->err) != 0) return -1;
    /* deletion mark */
    strbuf_t mk = STRBUF_INIT;
    snprintf(obj, sizeof obj, "%s/" DELETION_MARK, ulid);
    if (objstore_get(bk, obj, 0, -1, &mk, &e) == 0) {
        b->marked = true;
        json_error_t je;
        json_t *j = json_loadb(mk.data ? mk.data : "", mk.len, 0, &je);
        json_t *dt = j ? json_object_get(j, "deletion_time") : NULL;
        b->mark_time_s = json_is_integer(dt) ? (int64_t)json_integer_value(dt) : 0;
        if (!json_is_integer(dt))
            log_warn("compactor", "unreadable deletion-mark.json; treating the block as marked now", "block=%s", ulid);
        if (!j || !json_is_integer(dt)) b->mark_time_s = pl_now_ms() / 1000;
        json_decref(j);
    } else if (!objstore_is_not_found(bk)) {
        strbuf_free(&mk);
        pl_err_set(s->err, "read %s: %s", obj, e.msg);
        return -1;
    }
    strbuf_free(&mk);
    /* the operator's opt-outs (Thanos's markers): kept out of compaction / downsampling */
    bool ex = false;
    snprintf(obj, sizeof obj, "%s/no-compact-mark.json", ulid);
    if (objstore_exists(bk, obj, &ex, &e) != 0) return pl_err_set(s->err, "read %s: %s", obj, e.msg);
    b->no_compact = ex;
    snprintf(obj, sizeof obj, "%s/no-downsample-mark.json", ulid);
    if (objstore_exists(bk, obj, &ex, &e) != 0) return pl_err_set(s->err, "read %s: %s", obj, e.msg);
    b->no_downsample = ex;
    return 0;
}

static int sync_metas(compactor_t *c, blist_t *l, pl_err_t *err) {
    blist_free(l);
    sync_ctx_t s = {c, l, 0, err};
    pl_err_t e = {{0}};
    int rc = objstore_iter(c->o.bucket, "", false, sync_one, &s, &e);
    if (rc < 0) return pl_err_set(err, "list bucket: %s", e.msg);
    if (rc > 0) return -1;
    size_t marked = 0;
    for (size_t i = 0; i < l->n; i++) {
        marked += l->v[i].marked;
        gstat_add(c, l->v[i].res, l->v[i].labels, GS_NONE);
    }
    log_info("compactor", "successfully synchronized block metadata", "blocks=%zu partial=%zu marked_for_deletion=%zu",
             l->n, s.partial, marked);
    return 0;
}

/* A block the planner may use now. */
static bool usable(const compactor_t *c, const bblk_t *b, int64_t now_ms) {
    if (b->marked || b->gone) return false;
    const char *src = bblk_source(b);
    if (!strcmp(src, "compactor") || !strcmp(src, "compactor.repair") || !strcmp(src, "bucket.repair")) return true;
    int64_t born = block_ulid_time(b->m.ulid);
    return now_ms - born >= c->o.consistency_delay_ms;
}

/* ---- bucket writes ------------------------------------------------------------------------ */

static int mark_deletion(compactor_t *c, bblk_t *b, const char *why, pl_err_t *err) {
    char obj[64];
    snprintf(obj, sizeof obj, "%s/" DELETION_MARK, b->m.ulid);
    int64_t now_s = pl_now_ms() / 1000;
    strbuf_t sb = STRBUF_INIT;
    /* Thanos's DeletionMark, fields in its order */
    strbuf_printf(&sb, "{\n\t\"id\": \"%s\",\n\t\"version\": 1,\n\t\"details\": \"%s\",\n\t\"deletion_time\": %lld\n}",
                  b->m.ulid, why, (long long)now_s);
    int rc = objstore_upload_buf(c->o.bucket, obj, sb.data, sb.len, err);
    strbuf_free(&sb);
    if (rc != 0) return pl_err_prefix(err, "mark %s for deletion", b->m.ulid);
    b->marked = true;
    b->mark_time_s = now_s;
    log_info("compactor", "block has been marked for deletion", "block=%s labels=%s resolution=%lld reason=\"%s\"",
             b->m.ulid, b->labels, (long long)b->res, why);
    return 0;
}

typedef struct names {
    char **v;
    size_t n, cap;
} names_t;

static int collect_name(void *ctx, const char *name) {
    names_t *ns = ctx;
    if (ns->n == ns->cap) {
        size_t nc = ns->cap ? ns->cap * 2 : 16;
        char **nv = realloc(ns->v, nc * sizeof *nv);
        if (!nv) return -1;
        ns->v = nv;
        ns->cap = nc;
    }
    if (!(ns->v[ns->n] = strdup(name))) return -1;
    ns->n++;
    return 0;
}

static void names_free(names_t *ns) {
    for (size_t i = 0; i < ns->n; i++)
        free(ns->v[i]);
    free(ns->v);
    memset(ns, 0, sizeof *ns);
}

/* Thanos's block.Delete order: meta.json first, the deletion mark last. */
static int delete_objects(compactor_t *c, const char *ulid, pl_err_t *err) {
    char pre[64], obj[64];
    snprintf(pre, sizeof pre, "%s/", ulid);
    names_t ns = {0};
    pl_err_t e = {{0}};
    if (objstore_iter(c->o.bucket, pre, true, collect_name, &ns, &e) != 0) {
        names_free(&ns);
        return pl_err_set(err, "list %s: %s", pre, e.msg);
    }
    snprintf(obj, sizeof obj, "%s/meta.json", ulid);
    int rc = 0;
    if (objstore_delete(c->o.bucket, obj, &e) != 0 && !objstore_is_not_found(c->o.bucket)) rc = -1;
    char mark[64];
    snprintf(mark, sizeof mark, "%s/" DELETION_MARK, ulid);
    for (size_t i = 0; i < ns.n && rc == 0; i++) {
        if (!strcmp(ns.v[i], obj) || !strcmp(ns.v[i], mark)) continue;
        if (objstore_delete(c->o.bucket, ns.v[i], &e) != 0 && !objstore_is_not_found(c->o.bucket)) rc = -1;
    }
    if (rc == 0 && objstore_delete(c->o.bucket, mark, &e) != 0 && !objstore_is_not_found(c->o.bucket)) rc = -1;
    names_free(&ns);
    if (rc != 0) return pl_err_set(err, "delete block %s: %s", ulid, e.msg);
    return 0;
}

static int delete_block(compactor_t *c, bblk_t *b, pl_err_t *err) {
    if (delete_objects(c, b->m.ulid, err) != 0) return -1;
    b->gone = true;
    atomic_fetch_add(&c->deleted, 1);
    log_info("compactor", "deleted block marked for deletion", "block=%s", b->m.ulid);
    return 0;
}

/* Uploads the local block dir/<ulid>: chunks, index, then meta.json with
 * thanos.files filled in, last. */
static int upload_block(compactor_t *c, const char *dir, block_meta_t *m, pl_err_t *err) {
    char path[4200], obj[128];
    snprintf(path, sizeof path, "%s/chunks", dir);
    int rc = -1;
    json_t *files = json_array(), *sf = json_array();
    /* chunk segments: 000001.. */
    for (unsigned k = 1;; k++) {
        char name[16];
        snprintf(name, sizeof name, "%06u", k);
        snprintf(path, sizeof path, "%s/chunks/%s", dir, name);
        struct stat st;
        if (stat(path, &st) != 0) break;
        snprintf(obj, sizeof obj, "%s/chunks/%s", m->ulid, name);
        if (objstore_upload_file(c->o.bucket, obj, path, err) != 0) goto out;
        json_t *f = json_object();
        char rel[32];
        snprintf(rel, sizeof rel, "chunks/%s", name);
        json_object_set_new(f, "rel_path", json_string(rel));
        if (st.st_size > 0) json_object_set_new(f, "size_bytes", json_integer(st.st_size));
        json_array_append_new(files, f);
        json_array_append_new(sf, json_string(name));
    }
    snprintf(path, sizeof path, "%s/index", dir);
    struct stat st;
    if (stat(path, &st) != 0) {
        pl_err_set(err, "block %s has no index", dir);
        goto out;
    }
    snprintf(obj, sizeof obj, "%s/index", m->ulid);
    if (objstore_upload_file(c->o.bucket, obj, path, err) != 0) goto out;
    json_t *f = json_object();
    json_object_set_new(f, "rel_path", json_string("index"));
    json_object_set_new(f, "size_bytes", json_integer(st.st_size));
    json_array_append_new(files, f);
    f = json_object();
    json_object_set_new(f, "rel_path", json_string("meta.json"));
    json_array_append_new(files, f);
    json_t *th = m->thanos;
    json_object_set(th, "files", files);
    json_object_set(th, "segment_files", sf);
    if (block_meta_write(dir, m, err) != 0) goto out;
    snprintf(path, sizeof path, "%s/meta.json", dir);
    snprintf(obj, sizeof obj, "%s/meta.json", m->ulid);
    if (objstore_upload_file(c->o.bucket, obj, path, err) != 0) goto out;
    rc = 0;
out:
    json_decref(files);
    json_decref(sf);
    if (rc != 0) pl_err_prefix(err, "upload block %s", m->ulid);
    return rc;
}

/* Downloads meta.json, index, chunks/NNNNNN and tombstones of a block into dst/<ulid>. */
static int download_block(compactor_t *c, const char *ulid, const char *dst, pl_err_t *err) {
    char pre[64], path[4200];
    snprintf(pre, sizeof pre, "%s/", ulid);
    names_t ns = {0};
    pl_err_t e = {{0}};
    if (objstore_iter(c->o.bucket, pre, true, collect_name, &ns, &e) != 0) {
        names_free(&ns);
        return pl_err_set(err, "list %s: %s", pre, e.msg);
    }
    snprintf(path, sizeof path, "%s/%s/chunks", dst, ulid);
    int rc = mkdir_p(path) == 0 ? 0 : pl_err_set(err, "mkdir %s: %s", path, strerror(errno));
    for (size_t i = 0; i < ns.n && rc == 0; i++) {
        const char *rel = ns.v[i] + strlen(pre);
        if (strcmp(rel, "meta.json") && strcmp(rel, "index") && strcmp(rel, "tombstones") && strncmp(rel, "chunks/", 7))
            continue;
        snprintf(path, sizeof path, "%s/%s", dst, ns.v[i]);
        if (objstore_get_to_file(c->o.bucket, ns.v[i], path, &e) != 0) rc = pl_err_set(err, "download %s: %s", ns.v[i], e.msg);
    }
    names_free(&ns);
    return rc;
}

/* ---- groups ------------------------------------------------------------------------------ */

static int cmp_mint(const void *a, const void *b) {
    const bblk_t *x = *(bblk_t *const *)a, *y = *(bblk_t *const *)b;
    if (x->m.min_time != y->m.min_time) return x->m.min_time < y->m.min_time ? -1 : 1;
    return strcmp(x->m.ulid, y->m.ulid);
}

/* The usable blocks of the group of g (same labels and resolution), by minTime. */
static size_t group_members(compactor_t *c, blist_t *l, const bblk_t *g, bblk_t **out, int64_t now_ms) {
    size_t n = 0;
    for (size_t i = 0; i < l->n; i++) {
        bblk_t *b = &l->v[i];
        if (usable(c, b, now_ms) && b->res == g->res && !strcmp(b->labels, g->labels)) out[n++] = b;
    }
    if (n > 1) qsort(out, n, sizeof *out, cmp_mint);
    return n;
}

static bool sources_subset(const block_meta_t *a, const block_meta_t *b) {
    for (size_t i = 0; i < a->nsources; i++) {
        bool found = false;
        for (size_t k = 0; k < b->nsources && !found; k++)
            found = !strcmp(a->sources[i], b->sources[k]);
        if (!found) return false;
    }
    return a->nsources > 0;
}

static void fmt_time(char *out, size_t n, int64_t ms) {
    time_t s = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&s, &tm);
    strftime(out, n, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* Halts on the first group holding overlapping blocks. */
static int check_overlaps(compactor_t *c, blist_t *l, bblk_t **buf, int64_t now_ms, pl_err_t *err) {
    for (size_t i = 0; i < l->n; i++) {
        bblk_t *g = &l->v[i];
        if (!usable(c, g, now_ms)) continue;
        size_t n = group_members(c, l, g, buf, now_ms);
        if (buf[0] != g) continue; /* each group once: from its first member */
        for (size_t k = 1; k < n; k++) {
            size_t prev = k - 1;
            for (size_t j = 0; j < k; j++)
                if (buf[j]->m.max_time > buf[prev]->m.max_time) prev = j;
            if (buf[k]->m.min_time < buf[prev]->m.max_time) {
                char a0[32], a1[32], b0[32], b1[32];
                fmt_time(a0, sizeof a0, buf[prev]->m.min_time);
                fmt_time(a1, sizeof a1, buf[prev]->m.max_time);
                fmt_time(b0, sizeof b0, buf[k]->m.min_time);
                fmt_time(b1, sizeof b1, buf[k]->m.max_time);
                return pl_err_set(
                    err,
                    "compaction halted: overlapping blocks in group %lld@%s: %s [%s, %s) source %s and %s [%s, %s) "
                    "source %s. Two producers upload with the same external labels (e.g. replicas without a "
                    "distinct replica label): give each a unique external label set, then move or delete the "
                    "duplicates. Nothing is compacted until then",
                    (long long)g->res, g->labels, buf[prev]->m.ulid, a0, a1, bblk_source(buf[prev]), buf[k]->m.ulid, b0,
                    b1, bblk_source(buf[k]));
            }
        }
    }
    return 0;
}

/* Marks blocks whose sources another block of the group already holds. */
static int collect_garbage(compactor_t *c, blist_t *l, int64_t now_ms, pl_err_t *err) {
    for (size_t i = 0; i < l->n; i++) {
        bblk_t *a = &l->v[i];
        if (!usable(c, a, now_ms)) continue;
        for (size_t k = 0; k < l->n; k++) {
            bblk_t *b = &l->v[k];
            if (k == i || !usable(c, b, now_ms) || b->res != a->res || strcmp(b->labels, a->labels)) continue;
            if (!sources_subset(&a->m, &b->m)) continue;
            if (a->m.nsources == b->m.nsources && strcmp(a->m.ulid, b->m.ulid) > 0) continue; /* same sources: keep the newer */
            if (mark_deletion(c, a, "outdated block: its sources are all in another block of its group", err) != 0)
                return -1;
            atomic_fetch_add(&c->marked_garbage, 1);
            break;
        }
    }
    return 0;
}

/* Keeps planning/<ULID>/meta.json in step with the group's members (new
 * members written, gone ones removed: the directory lives for the whole
 * group, so each round writes only what changed) and asks the leveled
 * planner. *plan gets pointers into members. */
static int plan_group(compactor_t *c, bblk_t **members, size_t n, bblk_t **plan, size_t *nplan, pl_err_t *err) {
    *nplan = 0;
    char pdir[4200], p[4300];
    snprintf(pdir, sizeof pdir, "%s/planning", c->data_dir);
    if (mkdir_p(pdir) != 0) return pl_err_set(err, "mkdir %s: %s", pdir, strerror(errno));
    char **names = NULL;
    size_t nnames = 0;
    if (block_dir_list(pdir, &names, &nnames, err) != 0) return -1;
    for (size_t i = 0; i < nnames; i++) {
        bool member = false;
        for (size_t k = 0; k < n && !member; k++)
            member = !strcmp(members[k]->m.ulid, names[i]);
        if (member) continue;
        snprintf(p, sizeof p, "%s/%s", pdir, names[i]);
        block_rm_rf(p);
    }
    block_dir_list_free(names, nnames);
    for (size_t i = 0; i < n; i++) {
        snprintf(p, sizeof p, "%s/%s/meta.json", pdir, members[i]->m.ulid);
        struct stat st;
        if (stat(p, &st) == 0) continue;
        snprintf(p, sizeof p, "%s/%s", pdir, members[i]->m.ulid);
        if (mkdir(p, 0777) != 0 && errno != EEXIST) return pl_err_set(err, "mkdir %s: %s", p, strerror(errno));
        snprintf(p, sizeof p, "%s/%s/meta.json", pdir, members[i]->m.ulid);
        /* scratch copies for the planner: no fsync (they are thrown away) */
        FILE *f = fopen(p, "wb");
        if (!f) return pl_err_set(err, "create %s: %s", p, strerror(errno));
        size_t wn = fwrite(members[i]->meta_json, 1, members[i]->meta_len, f);
        if (fclose(f) != 0 || wn != members[i]->meta_len) return pl_err_set(err, "write %s: %s", p, strerror(errno));
    }
    char **dirs = NULL;
    size_t ndirs = 0;
    if (compact_plan(pdir, compact_ranges, N_RANGES, &dirs, &ndirs, err) != 0) return -1;
    for (size_t i = 0; i < ndirs; i++) {
        const char *u = strrchr(dirs[i], '/');
        u = u ? u + 1 : dirs[i];
        for (size_t k = 0; k < n; k++)
            if (!strcmp(members[k]->m.ulid, u)) plan[(*nplan)++] = members[k];
    }
    compact_free_dirs(dirs, ndirs);
    return 0;
}

/* The thanos section of a block the compactor writes for group g. */
static json_t *thanos_for(const bblk_t *g, int64_t res) {
    json_t *t = json_object();
    json_object_set_new(t, "version", json_integer(1));
    json_t *src = g->m.thanos ? json_object_get(g->m.thanos, "labels") : NULL;
    json_object_set_new(t, "labels", src ? json_deep_copy(src) : json_object());
    json_t *ds = json_object();
    json_object_set_new(ds, "resolution", json_integer(res));
    json_object_set_new(t, "downsample", ds);
    json_object_set_new(t, "source", json_string("compactor"));
    return t;
}

/* Reads the new local block's meta, adds the thanos section, uploads it and
 * appends it to the list. */
static int publish(compactor_t *c, blist_t *l, const char *dir, json_t *thanos, bblk_t **out, pl_err_t *err) {
    block_meta_t m = {0};
    if (block_meta_read(dir, &m, err) != 0) return -1;
    if (m.thanos) json_decref(m.thanos);
    m.thanos = json_incref(thanos);
    if (upload_block(c, dir, &m, err) != 0) {
        block_meta_free(&m);
        return -1;
    }
    bblk_t *b = blist_add(l, err);
    if (!b) {
        block_meta_free(&m);
        return -1;
    }
    b->m = m;
    strbuf_t sb = STRBUF_INIT;
    block_meta_render(&b->m, &sb);
    b->meta_len = sb.len;
    b->meta_json = strbuf_detach(&sb);
    if (bblk_derive(b, err) != 0) return -1;
    *out = b;
    return 0;
}

/* Compacts one group until the planner has nothing left. Returns the number
 * of compactions done, or -1. l may be reallocated: blocks are re-looked-up. */
static int compact_group(compactor_t *c, blist_t *l, size_t gi, int64_t now_ms, pl_err_t *err) {
    int done = 0;
    char wdir[4200];
    snprintf(wdir, sizeof wdir, "%s/compact", c->data_dir);
    char pdir[4200];
    snprintf(pdir, sizeof pdir, "%s/planning", c->data_dir);
    block_rm_rf(pdir);
    char *labels = strdup(l->v[gi].labels);
    int64_t res = l->v[gi].res;
    if (!labels) return pl_err_set(err, "out of memory");
    int rc = 0;
    for (;;) {
        /* find a current member (gi may be marked now) */
        bblk_t *g = NULL;
        for (size_t i = 0; i < l->n && !g; i++)
            if (usable(c, &l->v[i], now_ms) && l->v[i].res == res && !strcmp(l->v[i].labels, labels)) g = &l->v[i];
        if (!g) break;
        bblk_t **members = calloc(l->n + 1, sizeof *members), **plan = calloc(l->n + 1, sizeof *plan);
        if (!members || !plan) {
            free(members);
            free(plan);
            rc = pl_err_set(err, "out of memory");
            break;
        }
        size_t n = group_members(c, l, g, members, now_ms), np = 0;
        size_t kept = 0; /* blocks with a no-compact mark stay out of the plan */
        for (size_t i = 0; i < n; i++)
            if (!members[i]->no_compact) members[kept++] = members[i];
        n = kept;
        if (plan_group(c, members, n, plan, &np, err) != 0) {
            free(members);
            free(plan);
            rc = -1;
            break;
        }
        if (np < 2) {
            free(members);
            free(plan);
            break;
        }
        block_rm_rf(wdir);
        if (mkdir_p(wdir) != 0) {
            free(members);
            free(plan);
            rc = pl_err_set(err, "mkdir %s: %s", wdir, strerror(errno));
            break;
        }
        char **dirs = calloc(np, sizeof *dirs);
        if (!dirs) {
            free(members);
            free(plan);
            rc = pl_err_set(err, "out of memory");
            break;
        }
        strbuf_t ids = STRBUF_INIT;
        for (size_t i = 0; i < np && rc == 0; i++) {
            strbuf_printf(&ids, "%s%s", i ? "," : "", plan[i]->m.ulid);
            if (download_block(c, plan[i]->m.ulid, wdir, err) != 0) rc = -1;
            strbuf_t p = STRBUF_INIT;
            strbuf_printf(&p, "%s/%s", wdir, plan[i]->m.ulid);
            dirs[i] = strbuf_detach(&p);
        }
        log_info("compactor", "compact blocks", "group=%lld@%s count=%zu blocks=%s", (long long)res, labels, np,
                 ids.data ? ids.data : "");
        strbuf_free(&ids);
        char out[ULID_LEN + 1] = "";
        if (rc == 0) {
            if (res == 0) {
                rc = compact_blocks(wdir, dirs, np, out, err);
            } else {
                block_meta_t tmpl = {0};
                tmpl.min_time = INT64_MAX;
                tmpl.max_time = INT64_MIN;
                tmpl.parents = calloc(np, sizeof *tmpl.parents);
                for (size_t i = 0; i < np; i++) {
                    const block_meta_t *pm = &plan[i]->m;
                    if (pm->min_time < tmpl.min_time) tmpl.min_time = pm->min_time;
                    if (pm->max_time > tmpl.max_time) tmpl.max_time = pm->max_time;
                    if (pm->level > tmpl.level) tmpl.level = pm->level;
                    for (size_t s = 0; s < pm->nsources; s++) {
                        bool seen = false;
                        for (size_t k = 0; k < tmpl.nsources && !seen; k++)
                            seen = !strcmp(tmpl.sources[k], pm->sources[s]);
                        if (!seen) block_meta_add_source(&tmpl, pm->sources[s]);
                    }
                    if (tmpl.parents) {
                        block_desc_t *d = &tmpl.parents[tmpl.nparents++];
                        memcpy(d->ulid, pm->ulid, sizeof d->ulid);
                        d->min_time = pm->min_time;
                        d->max_time = pm->max_time;
                    }
                }
                tmpl.level++;
                if (tmpl.nsources > 1) qsort(tmpl.sources, tmpl.nsources, sizeof *tmpl.sources, cmp_ulid);
                tmpl.thanos = thanos_for(g, res);
                rc = aggrblock_merge(wdir, dirs, np, &tmpl, out, err);
                block_meta_free(&tmpl);
            }
        }
        if (rc == 0 && out[0]) {
            char nd[4300];
            snprintf(nd, sizeof nd, "%s/%s", wdir, out);
            json_t *th = thanos_for(g, res);
            bblk_t *nb = NULL;
            rc = publish(c, l, nd, th, &nb, err);
            json_decref(th);
            if (rc == 0)
                log_info("compactor", "compacted blocks uploaded", "group=%lld@%s new_block=%s minTime=%lld maxTime=%lld level=%d",
                         (long long)res, labels, out, (long long)nb->m.min_time, (long long)nb->m.max_time, nb->m.level);
        }
        if (rc == 0) {
            /* plan[] pointers may be stale after publish reallocated the list: find by ULID */
            for (size_t i = 0; i < np && rc == 0; i++) {
                const char *u = strrchr(dirs[i], '/') + 1;
                for (size_t k = 0; k < l->n; k++)
                    if (!strcmp(l->v[k].m.ulid, u) && !l->v[k].marked) {
                        rc = mark_deletion(c, &l->v[k], "source of compacted block", err);
                        if (rc == 0) atomic_fetch_add(&c->marked_compaction, 1);
                        break;
                    }
            }
        }
        for (size_t i = 0; i < np; i++)
            free(dirs[i]);
        free(dirs);
        free(members);
        free(plan);
        block_rm_rf(wdir);
        if (rc != 0) {
            atomic_fetch_add(&c->compaction_failures, 1);
            gstat_add(c, res, labels, GS_FAILURE);
            pl_err_prefix(err, "compaction of group %lld@%s", (long long)res, labels);
            break;
        }
        int ri = res_index(res);
        if (ri >= 0) atomic_fetch_add(&c->compactions[ri], 1);
        gstat_add(c, res, labels, GS_COMPACTION);
        done++;
    }
    block_rm_rf(pdir);
    free(labels);
    return rc == 0 ? done : -1;
}

/* ---- downsampling -------------------------------------------------------------------------- */

static bool covered(const blist_t *l, const bblk_t *b, int64_t res) {
    for (size_t s = 0; s < b->m.nsources; s++) {
        bool found = false;
        for (size_t i = 0; i < l->n && !found; i++) {
            const bblk_t *d = &l->v[i];
            if (d->gone || d->res != res || strcmp(d->labels, b->labels)) continue;
            for (size_t k = 0; k < d->m.nsources && !found; k++)
                found = !strcmp(d->m.sources[k], b->m.sources[s]);
        }
        if (!found) return false;
    }
    return true;
}

static int downsample_pass(compactor_t *c, blist_t *l, int64_t now_ms, pl_err_t *err) {
    char wdir[4200];
    snprintf(wdir, sizeof wdir, "%s/downsample", c->data_dir);
    size_t n0 = l->n;
    for (size_t i = 0; i < n0; i++) {
        bblk_t *b = &l->v[i];
        if (!usable(c, b, now_ms) || b->no_downsample) continue;
        int64_t to;
        if (b->res == 0 && b->m.max_time - b->m.min_time >= DOWNSAMPLE_RANGE_5M)
            to = DOWNSAMPLE_RES_5M;
        else if (b->res == DOWNSAMPLE_RES_5M && b->m.max_time - b->m.min_time >= DOWNSAMPLE_RANGE_1H)
            to = DOWNSAMPLE_RES_1H;
        else
            continue;
        if (covered(l, b, to)) continue;
        char ulid[ULID_LEN + 1];
        memcpy(ulid, b->m.ulid, sizeof ulid);
        int64_t src_res = b->res;
        char *src_labels = strdup(b->labels);
        if (!src_labels) return pl_err_set(err, "out of memory");
        block_rm_rf(wdir);
        if (mkdir_p(wdir) != 0) {
            free(src_labels);
            return pl_err_set(err, "mkdir %s: %s", wdir, strerror(errno));
        }
        int64_t t0 = pl_monotonic_ns();
        char src[4300], out[ULID_LEN + 1] = "";
        snprintf(src, sizeof src, "%s/%s", wdir, ulid);
        int rc = download_block(c, ulid, wdir, err);
        if (rc == 0) rc = downsample_block(src, to, wdir, out, err);
        bblk_t *nb = NULL;
        if (rc == 0) {
            char nd[4300];
            snprintf(nd, sizeof nd, "%s/%s", wdir, out);
            block_meta_t m = {0};
            rc = block_meta_read(nd, &m, err);
            if (rc == 0) {
                json_t *th = json_incref(m.thanos);
                block_meta_free(&m);
                rc = publish(c, l, nd, th, &nb, err);
                json_decref(th);
            }
        }
        block_rm_rf(wdir);
        if (rc != 0) {
            atomic_fetch_add(&c->downsample_failures, 1);
            gstat_add(c, src_res, src_labels, GS_DOWNSAMPLE_FAILURE);
            free(src_labels);
            return pl_err_prefix(err, "downsample block %s to %lld ms", ulid, (long long)to);
        }
        atomic_fetch_add(&c->downsamples[res_index(to)], 1);
        gstat_add(c, src_res, src_labels, GS_DOWNSAMPLE);
        free(src_labels);
        log_info("compactor", "downsampled and uploaded block", "from=%s to=%s resolution=%lld duration_ms=%lld", ulid,
                 out, (long long)to, (long long)((pl_monotonic_ns() - t0) / 1000000));
    }
    return 0;
}

/* ---- the iteration ---------------------------------------------------------------------------- */

compactor_t *compactor_new(const compactor_opts_t *o, pl_err_t *err) {
    compactor_t *c = calloc(1, sizeof *c);
    if (!c || !(c->data_dir = strdup(o->data_dir))) {
        free(c);
        pl_err_set(err, "out of memory");
        return NULL;
    }
    c->o = *o;
    c->o.data_dir = c->data_dir;
    pthread_mutex_init(&c->gmu, NULL);
    if (mkdir_p(c->data_dir) != 0) {
        pl_err_set(err, "mkdir %s: %s", c->data_dir, strerror(errno));
        compactor_free(c);
        return NULL;
    }
    return c;
}

void compactor_free(compactor_t *c) {
    if (!c) return;
    for (size_t i = 0; i < c->ngs; i++)
        free(c->gs[i].key);
    free(c->gs);
    pthread_mutex_destroy(&c->gmu);
    free(c->data_dir);
    free(c);
}

bool compactor_halted(const compactor_t *c) { return atomic_load(&c->halted) != 0; }

int compactor_run_once(compactor_t *c, pl_err_t *err) {
    if (atomic_load(&c->halted)) return pl_err_set(err, "compactor is halted"), COMPACTOR_HALTED;
    atomic_fetch_add(&c->iterations, 1);
    blist_t l = {0};
    bblk_t **buf = NULL;
    int rc = -1;
    int64_t now_ms = pl_now_ms();
    if (sync_metas(c, &l, err) != 0) goto out;
    if (collect_garbage(c, &l, now_ms, err) != 0) goto out;
    if (!(buf = calloc(l.n + 1, sizeof *buf))) {
        pl_err_set(err, "out of memory");
        goto out;
    }
    if (check_overlaps(c, &l, buf, now_ms, err) != 0) {
        atomic_store(&c->halted, 1);
        atomic_fetch_add(&c->halts, 1);
        log_error("compactor", "critical error detected; halting", "err=\"%s\"", err->msg);
        rc = COMPACTOR_HALTED;
        goto out;
    }
    /* compaction, group by group */
    size_t total = 0;
    for (size_t i = 0; i < l.n; i++) {
        if (!usable(c, &l.v[i], now_ms)) continue;
        bool first = true; /* only from the group's first block in list order */
        for (size_t k = 0; k < i && first; k++)
            if (l.v[k].res == l.v[i].res && !strcmp(l.v[k].labels, l.v[i].labels) && usable(c, &l.v[k], now_ms))
                first = false;
        if (!first) continue;
        int d = compact_group(c, &l, i, now_ms, err);
        if (d < 0) goto out;
        total += (size_t)d;
    }
    log_info("compactor", "compaction iterations done", "compactions=%zu", total);
    if (!c->o.downsampling_disable) {
        log_info("compactor", "start first pass of downsampling", NULL);
        if (downsample_pass(c, &l, now_ms, err) != 0) goto out;
        log_info("compactor", "start second pass of downsampling", NULL);
        if (downsample_pass(c, &l, now_ms, err) != 0) goto out;
        log_info("compactor", "downsampling iterations done", NULL);
    } else {
        log_info("compactor", "downsampling was explicitly disabled", NULL);
    }
    /* retention per resolution */
    for (size_t i = 0; i < l.n; i++) {
        bblk_t *b = &l.v[i];
        int ri = res_index(b->res);
        if (b->marked || b->gone || ri < 0 || c->o.retention_ms[ri] <= 0) continue;
        if (now_ms > b->m.max_time + c->o.retention_ms[ri]) {
            char why[128];
            snprintf(why, sizeof why, "retention: maxTime older than the %s retention", ri == 0 ? "raw" : ri == 1 ? "5m" : "1h");
            if (mark_deletion(c, b, why, err) != 0) goto out;
            atomic_fetch_add(&c->marked_retention, 1);
        }
    }
    /* deletion of marked blocks past the delay */
    for (size_t i = 0; i < l.n; i++) {
        bblk_t *b = &l.v[i];
        if (!b->marked || b->gone) continue;
        if ((pl_now_ms() - b->mark_time_s * 1000) < c->o.delete_delay_ms) continue;
        if (delete_block(c, b, err) != 0) goto out;
    }
    /* partial uploads older than max(consistency delay, 48h): an upload that died (Thanos deletes them too) */
    int64_t partial_age = c->o.consistency_delay_ms > PARTIAL_UPLOAD_AGE_MS ? c->o.consistency_delay_ms : PARTIAL_UPLOAD_AGE_MS;
    for (size_t i = 0; i < l.npartial; i++) {
        int64_t born = block_ulid_time(l.partial[i]);
        if (born < 0 || pl_now_ms() - born <= partial_age) continue;
        if (delete_objects(c, l.partial[i], err) != 0) goto out;
        atomic_fetch_add(&c->partial_deleted, 1);
        log_info("compactor", "deleted aborted partial upload", "block=%s", l.partial[i]);
    }
    atomic_store(&c->last_success_s, pl_now_ms() / 1000);
    rc = 0;
out:
    free(buf);
    blist_free(&l);
    return rc;
}

/* ---- metrics -------------------------------------------------------------------------------- */

/* A label value with \ " and newline escaped, as the text format wants. */
static void put_label_value(strbuf_t *sb, const char *v) {
    for (; *v; v++) {
        if (*v == '\\' || *v == '"') strbuf_putc(sb, '\\');
        if (*v == '\n') {
            strbuf_puts(sb, "\\n");
            continue;
        }
        strbuf_putc(sb, *v);
    }
}

static void write_group_metrics(compactor_t *c, strbuf_t *sb) {
    static const struct {
        const char *name, *help;
    } fams[4] = {
        {"thanos_compact_group_compactions_total", "Total number of group compaction attempts that resulted in a new block."},
        {"thanos_compact_group_compactions_failures_total", "Total number of failed group compactions."},
        {"thanos_compact_downsample_total", "Total number of downsampling attempts."},
        {"thanos_compact_downsample_failures_total", "Total number of failed downsampling attempts."},
    };
    pthread_mutex_lock(&c->gmu);
    for (int f = 0; f < 4; f++) {
        strbuf_printf(sb, "# HELP %s %s\n# TYPE %s counter\n", fams[f].name, fams[f].help, fams[f].name);
        for (size_t i = 0; i < c->ngs; i++) {
            const struct gstat *g = &c->gs[i];
            uint64_t v = f == 0 ? g->compactions : f == 1 ? g->failures : f == 2 ? g->downsamples : g->downsample_failures;
            strbuf_printf(sb, "%s{group=\"", fams[f].name);
            put_label_value(sb, g->key);
            strbuf_printf(sb, "\"} %llu\n", (unsigned long long)v);
        }
    }
    pthread_mutex_unlock(&c->gmu);
}

void compactor_write_metrics(compactor_t *c, strbuf_t *sb) {
    strbuf_puts(sb, "# HELP thanos_compact_halted Set to 1 if the compactor halted due to an unexpected error.\n"
                    "# TYPE thanos_compact_halted gauge\n");
    strbuf_printf(sb, "thanos_compact_halted %d\n", atomic_load(&c->halted));
    strbuf_puts(sb, "# HELP thanos_compact_iterations_total Total number of iterations that were executed.\n"
                    "# TYPE thanos_compact_iterations_total counter\n");
    strbuf_printf(sb, "thanos_compact_iterations_total %llu\n", (unsigned long long)atomic_load(&c->iterations));
    write_group_metrics(c, sb);
    strbuf_puts(sb, "# HELP thanos_compact_blocks_marked_total Total number of blocks marked in compactor.\n"
                    "# TYPE thanos_compact_blocks_marked_total counter\n");
    strbuf_printf(sb, "thanos_compact_blocks_marked_total{marker=\"deletion-mark.json\",reason=\"compaction\"} %llu\n",
                  (unsigned long long)atomic_load(&c->marked_compaction));
    strbuf_printf(sb, "thanos_compact_blocks_marked_total{marker=\"deletion-mark.json\",reason=\"retention\"} %llu\n",
                  (unsigned long long)atomic_load(&c->marked_retention));
    strbuf_printf(sb, "thanos_compact_blocks_marked_total{marker=\"deletion-mark.json\",reason=\"duplicate\"} %llu\n",
                  (unsigned long long)atomic_load(&c->marked_garbage));
    strbuf_puts(sb, "# HELP thanos_compact_blocks_cleaned_total Total number of blocks deleted in compactor.\n"
                    "# TYPE thanos_compact_blocks_cleaned_total counter\n");
    strbuf_printf(sb, "thanos_compact_blocks_cleaned_total %llu\n", (unsigned long long)atomic_load(&c->deleted));
    strbuf_puts(sb, "# HELP thanos_compact_aborted_partial_uploads_deletion_attempts_total Total number of started deletions of blocks that are assumed aborted and only partially uploaded.\n"
                    "# TYPE thanos_compact_aborted_partial_uploads_deletion_attempts_total counter\n");
    strbuf_printf(sb, "thanos_compact_aborted_partial_uploads_deletion_attempts_total %llu\n",
                  (unsigned long long)atomic_load(&c->partial_deleted));
    strbuf_puts(sb, "# HELP thanos_compact_last_successful_run_timestamp_seconds Unix timestamp of the last successful iteration.\n"
                    "# TYPE thanos_compact_last_successful_run_timestamp_seconds gauge\n");
    strbuf_printf(sb, "thanos_compact_last_successful_run_timestamp_seconds %lld\n", (long long)atomic_load(&c->last_success_s));
}

uint64_t compactor_compactions_total(const compactor_t *c) {
    uint64_t s = 0;
    for (int r = 0; r < N_RES; r++)
        s += atomic_load(&c->compactions[r]);
    return s;
}
uint64_t compactor_downsamples_total(const compactor_t *c) {
    return atomic_load(&c->downsamples[RES_5M]) + atomic_load(&c->downsamples[RES_1H]);
}
uint64_t compactor_marked_total(const compactor_t *c) {
    return atomic_load(&c->marked_compaction) + atomic_load(&c->marked_retention) + atomic_load(&c->marked_garbage);
}
uint64_t compactor_deleted_total(const compactor_t *c) { return atomic_load(&c->deleted); }
