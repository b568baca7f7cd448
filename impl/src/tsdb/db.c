/* db.c — the head plus its WAL: open, lock, replay, repair, append (db.h).
 *
 * Replay and the head's API. The head creates a series only together with
 * its first sample (head_append), so a series record read at replay cannot
 * create the series yet: its labels wait in a pending arena until the first
 * sample that names its ref arrives. In a WAL promlab wrote, every series
 * record is followed by the samples record of the same commit, which names
 * every series it created, so the pending set empties after each commit and
 * the arena is reset: replay memory stays small. A WAL whose series records
 * come long before their samples (a checkpoint) holds the labels until then.
 * Series that never get a sample are not created (Prometheus would keep an
 * empty series until the next head GC). */
#include "tsdb/db.h"

#include <errno.h>
#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <malloc.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "tsdb/block.h"
#include "tsdb/checkpoint.h"
#include "tsdb/compact.h"
#include "tsdb/querier.h"
#include "tsdb/record.h"
#include "util/log.h"

_Static_assert((int)STORAGE_OK == (int)HEAD_OK && (int)STORAGE_ERR_OUT_OF_ORDER == (int)HEAD_ERR_OUT_OF_ORDER &&
                   (int)STORAGE_ERR_DUPLICATE == (int)HEAD_ERR_DUPLICATE &&
                   (int)STORAGE_ERR_NOT_FOUND == (int)HEAD_ERR_NOT_FOUND &&
                   (int)STORAGE_ERR_INVALID == (int)HEAD_ERR_INVALID &&
                   (int)STORAGE_ERR_OUT_OF_BOUNDS == (int)HEAD_ERR_OUT_OF_BOUNDS,
               "storage and head result codes differ");

/* A commit is logged as one series record (the series it created) and one
 * samples record per window of this many staged samples, each window's
 * series record right before its samples. Scrapes of ordinary size are one
 * window: one series record and one samples record per commit. A million-
 * series first scrape is ~30 windows of a few MB instead of one 500 MB
 * record, which the reader would have to hold whole (twice: assembled and
 * decompressed) and whose labels replay would hold until its samples came. */
#define DB_COMMIT_WINDOW 32768

/* prometheus_tsdb_compaction_duration_seconds buckets: 1, 2, 4, ... 8192 s. */
#define DB_COMPACTION_BUCKETS 14

typedef struct db_metrics {
    uint64_t compactions, compactions_failed;
    uint64_t compaction_buckets[DB_COMPACTION_BUCKETS];
    double compaction_seconds_sum;
    uint64_t compaction_count;
    uint64_t head_truncations, head_truncations_failed;
    double gc_seconds_sum;
    uint64_t gc_count;
    uint64_t reloads, reloads_failed;
    uint64_t time_retentions, size_retentions;
    uint64_t blocks_skipped; /* unreadable block dirs at open */
} db_metrics_t;

/* A loaded block and its references (see blocks_mu). */
typedef struct db_block {
    block_t *b;
    int refs;
} db_block_t;

struct db {
    char dir[PATH_MAX];
    char wal_dir[PATH_MAX];
    head_t *head;
    bool owns_head;
    wal_t *wal; /* NULL for a wrapped head */
    int lock_fd;
    char lock_path[PATH_MAX + 8];
    wal_compression_t wal_compression;
    size_t commit_window; /* DB_COMMIT_WINDOW unless the options say otherwise */

    pthread_mutex_t mu; /* commits: head order == WAL order; also guards the fields below */
    strbuf_t series_rec, samples_rec;
    record_sample_t *samples;
    size_t cap_samples;
    db_stats_t st;
    db_metrics_t m; /* also under mu */
    int64_t append_floor; /* under mu: commits refuse samples before it (the range being compacted) */

    /* Blocks. blocks_mu guards the list (blocks, nblocks, sorted by minTime)
     * and every db_block_t's refs: the list holds one reference per block, a
     * query one more on each block of its snapshot, and whoever drops the last
     * one closes (unmaps) the block. Held only for those few instructions:
     * never across I/O, never while calling into the head. */
    pthread_mutex_t blocks_mu;
    struct db_block **blocks;
    size_t nblocks, cap_blocks;
    /* One operation that changes the block list at a time (head compaction,
     * block compaction, retention, snapshot, delete, clean_tombstones); held
     * across their I/O. Taken before blocks_mu or mu, never after them. */
    pthread_mutex_t compact_mu;
    int64_t block_range, max_block_duration, retention_ms, retention_bytes;

    /* The background compaction thread. bg_mu guards bg_stop and bg_kick. */
    pthread_mutex_t bg_mu;
    pthread_cond_t bg_cond;
    pthread_t bg_thread;
    bool bg_stop, bg_kick;
    _Atomic bool bg_running; /* read by committers (maybe_kick) */
    int64_t bg_interval_ms;
    _Atomic bool compactable_signalled; /* a commit already kicked the thread */
};

static double now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
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

/* ---- ref map: WAL ref -> head ref or pending labels --------------------------------- */

#define MAP_PENDING (1ull << 63) /* value: pending index in the low bits */
#define MAP_INVALID (1ull << 62) /* value: the head refused the series; its samples are dropped */

typedef struct ref_map {
    uint64_t *keys, *vals; /* key 0 = empty (0 is never a ref) */
    size_t cap, count;
} ref_map_t;

static size_t map_slot(const ref_map_t *m, uint64_t key) {
    uint64_t h = key * 0x9E3779B97F4A7C15ull;
    size_t i = (size_t)(h >> 17) & (m->cap - 1);
    while (m->keys[i] != 0 && m->keys[i] != key)
        i = (i + 1) & (m->cap - 1);
    return i;
}

static uint64_t *map_get(ref_map_t *m, uint64_t key) {
    if (!m->cap || key == 0) return NULL;
    size_t i = map_slot(m, key);
    return m->keys[i] ? &m->vals[i] : NULL;
}

static int map_put(ref_map_t *m, uint64_t key, uint64_t val) {
    if (key == 0) return 0;
    if ((m->count + 1) * 2 > m->cap) {
        ref_map_t n = {0};
        n.cap = m->cap ? m->cap * 2 : 4096;
        n.keys = calloc(n.cap, sizeof *n.keys);
        n.vals = malloc(n.cap * sizeof *n.vals);
        if (!n.keys || !n.vals) {
            free(n.keys);
            free(n.vals);
            return -1;
        }
        for (size_t i = 0; i < m->cap; i++) {
            if (!m->keys[i]) continue;
            size_t j = map_slot(&n, m->keys[i]);
            n.keys[j] = m->keys[i];
            n.vals[j] = m->vals[i];
        }
        n.count = m->count;
        free(m->keys);
        free(m->vals);
        *m = n;
    }
    size_t i = map_slot(m, key);
    if (!m->keys[i]) {
        m->keys[i] = key;
        m->count++;
    }
    m->vals[i] = val;
    return 0;
}

static void map_free(ref_map_t *m) {
    free(m->keys);
    free(m->vals);
    memset(m, 0, sizeof *m);
}

/* ---- replay ---------------------------------------------------------------------------- */

typedef struct replay {
    db_t *db;
    ref_map_t map;
    /* Pending series: labels as "name\0value\0..." in bytes, from offs[i]. */
    strbuf_t bytes;
    uint64_t *pending_off;
    uint32_t *pending_n;
    size_t npending, cap_pending, live_pending;
    label_t *ls;
    size_t cap_ls;
    uint64_t max_head_ref;
    record_decoder_t dec;
} replay_t;

static int replay_series(void *ctx, uint64_t ref, const label_t *ls, size_t n) {
    replay_t *r = ctx;
    r->db->st.replay_series++;
    uint64_t *old = map_get(&r->map, ref);
    if (old && (*old & MAP_PENDING)) r->live_pending--;
    if (grow((void **)&r->pending_off, &r->cap_pending, r->npending + 1, sizeof *r->pending_off) != 0) return -1;
    size_t cap = r->cap_pending;
    uint32_t *pn = realloc(r->pending_n, cap * sizeof *pn);
    if (!pn) return -1;
    r->pending_n = pn;
    r->pending_off[r->npending] = r->bytes.len;
    r->pending_n[r->npending] = (uint32_t)n;
    for (size_t i = 0; i < n; i++) {
        strbuf_append(&r->bytes, ls[i].name, strlen(ls[i].name) + 1);
        strbuf_append(&r->bytes, ls[i].value, strlen(ls[i].value) + 1);
    }
    if (map_put(&r->map, ref, MAP_PENDING | r->npending) != 0) return -1;
    r->npending++;
    r->live_pending++;
    return 0;
}

/* Creates a pending series with its first sample. Returns the map value to store. */
static size_t pending_labels(replay_t *r, uint64_t idx);

static uint64_t replay_create(replay_t *r, uint64_t idx, int64_t t, double v, int *result) {
    size_t n = pending_labels(r, idx);
    if (n == SIZE_MAX) {
        *result = HEAD_ERR_INVALID;
        return MAP_INVALID;
    }
    series_ref_t ref = 0;
    *result = head_append(r->db->head, r->ls, n, t, v, &ref, NULL);
    if (ref == 0) return MAP_INVALID;
    if (ref > r->max_head_ref) r->max_head_ref = ref;
    return ref;
}

static void replay_samples(replay_t *r, const record_sample_t *s, size_t n) {
    db_stats_t *st = &r->db->st;
    for (size_t i = 0; i < n; i++) {
        uint64_t *val = map_get(&r->map, s[i].ref);
        if (!val) {
            st->replay_unknown_refs++;
            continue;
        }
        int res;
        if (*val & MAP_INVALID) continue;
        if (*val & MAP_PENDING) {
            uint64_t created = replay_create(r, *val & ~MAP_PENDING, s[i].t, s[i].v, &res);
            /* A sample already in a block creates nothing: the series stays
             * pending for its next sample. */
            if (res != HEAD_ERR_OUT_OF_BOUNDS) {
                *val = created;
                r->live_pending--;
            }
        } else {
            res = head_append_ref(r->db->head, *val, s[i].t, s[i].v);
        }
        if (res == HEAD_OK)
            st->replay_samples++;
        else
            st->replay_rejected++;
    }
    if (r->live_pending == 0) {
        /* Nothing waits for its first sample: start the arena over. */
        strbuf_reset(&r->bytes);
        r->npending = 0;
    }
}

/* Reads one directory of segments; on corruption fills *bad_seg and *bad_off
 * with the cut point and returns 1; 0 when it read to the end; -1 on an
 * error that is not the data's fault (out of memory). */
static int replay_dir(replay_t *r, const char *dir, int first, int last, int *bad_seg, uint64_t *bad_off) {
    wal_reader_t *rd = NULL;
    pl_err_t err = {{0}};
    if (wal_reader_open(dir, first, last, &rd, &err) != 0) return -1;
    int rc = 0;
    for (;;) {
        const uint8_t *rec;
        size_t len;
        int k = wal_reader_next(rd, &rec, &len, &err);
        if (k == 0) break;
        if (k < 0) {
            int eseg;
            uint64_t eoff;
            wal_reader_error_at(rd, &eseg, &eoff);
            wal_reader_good_end(rd, bad_seg, bad_off);
            log_warn("tsdb", "Encountered WAL read error, attempting repair",
                     "dir=%s segment=%d offset=%llu err=\"%s\"", dir, eseg, (unsigned long long)eoff, err.msg);
            rc = 1;
            break;
        }
        r->db->st.replay_records++;
        pl_err_t derr = {{0}};
        switch (record_type(rec, len)) {
        case RECORD_SERIES: {
            int d = record_decode_series(&r->dec, rec, len, replay_series, r, &derr);
            if (d < 0 && derr.msg[0]) {
                /* A record that passed its CRC but does not decode: written by
                 * something else; skip it rather than cut the log. */
                log_warn("tsdb", "Skipping undecodable WAL record", "err=\"%s\"", derr.msg);
            } else if (d != 0) {
                rc = -1;
            }
            break;
        }
        case RECORD_SAMPLES: {
            const record_sample_t *s;
            size_t n;
            if (record_decode_samples(&r->dec, rec, len, &s, &n, &derr) != 0)
                log_warn("tsdb", "Skipping undecodable WAL record", "err=\"%s\"", derr.msg);
            else
                replay_samples(r, s, n);
            break;
        }
        case RECORD_TOMBSTONES: {
            const record_tombstone_t *t;
            size_t n;
            if (record_decode_tombstones(&r->dec, rec, len, &t, &n, &derr) != 0) {
                log_warn("tsdb", "Skipping undecodable WAL record", "err=\"%s\"", derr.msg);
                break;
            }
            for (size_t i = 0; i < n; i++) {
                uint64_t *val = map_get(&r->map, t[i].ref);
                /* A series not created yet (pending) has no samples the tombstone could hide. */
                if (val && !(*val & (MAP_PENDING | MAP_INVALID))) head_add_tombstone(r->db->head, *val, t[i].mint, t[i].maxt);
            }
            break;
        }
        default:
            /* Tombstones (the head has no deletion yet), exemplars, metadata,
             * histograms: not held by the head yet. */
            r->db->st.replay_skipped++;
            break;
        }
        if (rc < 0) break;
    }
    wal_reader_free(rd);
    return rc;
}

/* The newest complete checkpoint in the WAL dir: its index, or -1. Removes
 * leftovers of interrupted checkpoints (checkpoint.N.tmp). */
static int find_checkpoint(const char *wal_dir, char *path, size_t pathsz) {
    (void)checkpoint_delete_before(wal_dir, 0, NULL);
    return checkpoint_last(wal_dir, path, pathsz);
}

typedef struct relog_ctx {
    db_t *db;
    uint64_t ref;
    const label_t *want; /* pending labels to compare with, or NULL */
    size_t nwant;
    bool equal;
} relog_ctx_t;

static void compare_labels(void *ctx, const label_t *ls, size_t n) {
    relog_ctx_t *c = ctx;
    c->equal = labels_equal(ls, n, c->want, c->nwant);
}

/* Labels of pending series idx, into r->ls. Returns the count. */
static size_t pending_labels(replay_t *r, uint64_t idx) {
    uint32_t n = r->pending_n[idx];
    if (grow((void **)&r->ls, &r->cap_ls, n ? n : 1, sizeof *r->ls) != 0) return SIZE_MAX;
    const char *p = r->bytes.data + r->pending_off[idx];
    for (uint32_t i = 0; i < n; i++) {
        r->ls[i].name = p;
        p += strlen(p) + 1;
        r->ls[i].value = p;
        p += strlen(p) + 1;
    }
    return n;
}

static void relog_labels(void *ctx, const label_t *ls, size_t n) {
    relog_ctx_t *c = ctx;
    record_series_add(&c->db->series_rec, c->ref, ls, n);
}

/* After replay: every head ref h must resolve to its own series when the
 * WAL is read again, i.e. the last series record for h named h's labels. Logs
 * again the series for which that is not so. */
static int relog_changed_refs(replay_t *r, pl_err_t *err) {
    db_t *db = r->db;
    strbuf_reset(&db->series_rec);
    record_series_begin(&db->series_rec);
    uint64_t n = 0;
    for (uint64_t h = 1; h <= r->max_head_ref; h++) {
        uint64_t *v = map_get(&r->map, h);
        if (v && *v == h) continue;
        if (v && (*v & MAP_PENDING)) {
            /* The last record for h named a series that got no sample since:
             * fine if it is the series the head has under h (a relog of an
             * earlier start with no appends after it). */
            size_t nl = pending_labels(r, *v & ~MAP_PENDING);
            relog_ctx_t cmp = {db, h, r->ls, nl, false};
            if (nl != SIZE_MAX && head_series_labels(db->head, h, compare_labels, &cmp) == HEAD_OK && cmp.equal)
                continue;
        }
        relog_ctx_t c = {db, h, NULL, 0, false};
        if (head_series_labels(db->head, h, relog_labels, &c) == HEAD_OK) n++;
    }
    db->st.relogged_series = n;
    if (n == 0) return 0;
    log_info("tsdb", "Series refs changed at replay; logged their series again", "series=%llu", (unsigned long long)n);
    if (wal_log(db->wal, db->series_rec.data, db->series_rec.len, err) != 0 || wal_flush(db->wal, err) != 0) return -1;
    return 0;
}

static int replay(db_t *db, const wal_opts_t *wopts, pl_err_t *err) {
    replay_t r;
    memset(&r, 0, sizeof r);
    r.db = db;
    record_decoder_init(&r.dec);
    int rc = 0;

    char cp_path[PATH_MAX + 32];
    int cp = find_checkpoint(db->wal_dir, cp_path, sizeof cp_path);
    if (cp >= 0) {
        int first, last, bad_seg;
        uint64_t bad_off;
        int k = wal_segment_range(cp_path, &first, &last, err);
        if (k > 0) {
            int c = replay_dir(&r, cp_path, first, last, &bad_seg, &bad_off);
            if (c < 0) rc = pl_err_set(err, "replaying checkpoint %s: out of memory", cp_path);
            if (c > 0) {
                /* Prometheus refuses to start here; we go on with what we read. */
                db->st.wal_corruptions++;
                log_error("tsdb", "Corrupted checkpoint: its records after the damage are lost", "dir=%s", cp_path);
            }
        }
    }

    int first, last;
    int k = rc == 0 ? wal_segment_range(db->wal_dir, &first, &last, err) : 0;
    if (k < 0) rc = -1;
    if (k > 0 && cp >= 0) {
        if (first > cp + 1)
            log_warn("tsdb", "WAL segments do not follow the checkpoint", "checkpoint=%d first_segment=%d", cp, first);
        if (first <= cp) first = cp + 1;
    }
    if (k > 0 && first <= last) {
        int bad_seg;
        uint64_t bad_off;
        int c = replay_dir(&r, db->wal_dir, first, last, &bad_seg, &bad_off);
        if (c < 0) rc = pl_err_set(err, "replaying the WAL: out of memory");
        if (c > 0) {
            db->st.wal_corruptions++;
            pl_err_t rerr = {{0}};
            if (wal_repair(db->wal_dir, bad_seg, bad_off, &rerr) != 0) {
                rc = pl_err_set(err, "repair WAL: %s", rerr.msg);
            } else {
                log_warn("tsdb", "WAL repaired: cut at the last good record, later segments deleted",
                         "segment=%d offset=%llu", bad_seg, (unsigned long long)bad_off);
            }
        }
    }

    /* The writer starts a new segment after whatever is left; series whose
     * ref changed are logged at its start. */
    if (rc == 0 && wal_open(db->wal_dir, wopts, &db->wal, err) != 0) rc = -1;
    if (rc == 0 && relog_changed_refs(&r, err) != 0) rc = -1;
    map_free(&r.map);
    strbuf_free(&r.bytes);
    free(r.pending_off);
    free(r.pending_n);
    free(r.ls);
    record_decoder_free(&r.dec);
    return rc;
}

/* ---- open / close ------------------------------------------------------------------------ */

static void db_configure(db_t *db, const db_opts_t *o);
static void open_blocks(db_t *db);
static int64_t blocks_max_time(db_t *db);

static int take_lock(db_t *db, pl_err_t *err) {
    snprintf(db->lock_path, sizeof db->lock_path, "%s/lock", db->dir);
    int fd = open(db->lock_path, O_CREAT | O_RDWR | O_CLOEXEC, 0644);
    if (fd < 0) return pl_err_set(err, "lock DB directory: open %s: %s", db->lock_path, strerror(errno));
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        int e = errno;
        close(fd);
        if (e == EWOULDBLOCK)
            return pl_err_set(err,
                              "lock DB directory: %s is locked by another process (another server on the same "
                              "--storage.tsdb.path?): resource temporarily unavailable",
                              db->lock_path);
        return pl_err_set(err, "lock DB directory %s: %s", db->lock_path, strerror(e));
    }
    db->lock_fd = fd;
    return 0;
}

static db_t *db_alloc(void) {
    db_t *db = calloc(1, sizeof *db);
    if (!db) return NULL;
    db->lock_fd = -1;
    db->commit_window = DB_COMMIT_WINDOW;
    db->block_range = BLOCK_DEFAULT_RANGE_MS;
    db->append_floor = INT64_MIN;
    pthread_mutex_init(&db->mu, NULL);
    pthread_mutex_init(&db->blocks_mu, NULL);
    pthread_mutex_init(&db->compact_mu, NULL);
    pthread_mutex_init(&db->bg_mu, NULL);
    pthread_cond_init(&db->bg_cond, NULL);
    atomic_init(&db->compactable_signalled, false);
    return db;
}

static void db_release(db_t *db) {
    if (db->lock_fd >= 0) {
        unlink(db->lock_path);
        close(db->lock_fd); /* releases the flock */
    }
    for (size_t i = 0; i < db->nblocks; i++) {
        block_close(db->blocks[i]->b);
        free(db->blocks[i]);
    }
    free(db->blocks);
    if (db->owns_head) head_free(db->head);
    strbuf_free(&db->series_rec);
    strbuf_free(&db->samples_rec);
    free(db->samples);
    pthread_mutex_destroy(&db->mu);
    pthread_mutex_destroy(&db->blocks_mu);
    pthread_mutex_destroy(&db->compact_mu);
    pthread_mutex_destroy(&db->bg_mu);
    pthread_cond_destroy(&db->bg_cond);
    free(db);
}

int db_open(const char *dir, const db_opts_t *opts, db_t **out, pl_err_t *err) {
    db_opts_t o = opts ? *opts : (db_opts_t){0};
    if (strlen(dir) > PATH_MAX - 64) return pl_err_set(err, "data dir path too long");
    if (mkdir(dir, 0777) < 0 && errno != EEXIST) return pl_err_set(err, "create data dir %s: %s", dir, strerror(errno));
    db_t *db = db_alloc();
    if (!db) return pl_err_set(err, "out of memory");
    snprintf(db->dir, sizeof db->dir, "%s", dir);
    snprintf(db->wal_dir, sizeof db->wal_dir, "%s/wal", dir);
    if (!o.no_lockfile && take_lock(db, err) != 0) {
        db_release(db);
        return -1;
    }
    db->head = head_new();
    db->owns_head = true;
    if (!db->head) {
        db_release(db);
        return pl_err_set(err, "out of memory");
    }
    if (mkdir(db->wal_dir, 0777) < 0 && errno != EEXIST) {
        pl_err_set(err, "create WAL dir %s: %s", db->wal_dir, strerror(errno));
        db_release(db);
        return -1;
    }
    db_configure(db, &o);
    head_set_chunk_range(db->head, db->block_range);
    open_blocks(db);
    /* Replay does not bring back what a block already holds. */
    int64_t newest = blocks_max_time(db);
    if (newest != INT64_MIN) head_set_min_valid(db->head, newest);
    double t0 = now_seconds();
    log_info("tsdb", "Replaying WAL, this may take a while", "dir=%s", db->wal_dir);
    wal_opts_t wo = {o.wal_segment_size, o.wal_compression};
    db->wal_compression = o.wal_compression;
    if (o.commit_window) db->commit_window = o.commit_window;
    if (replay(db, &wo, err) != 0) {
        wal_close(db->wal, NULL);
        db_release(db);
        return -1;
    }
    db->st.replay_seconds = now_seconds() - t0;
    head_stats_t hs;
    head_get_stats(db->head, &hs);
    log_info("tsdb", "WAL replay completed",
             "duration=%.3fs records=%llu series=%llu samples=%llu rejected=%llu unknown_refs=%llu corruptions=%llu",
             db->st.replay_seconds, (unsigned long long)db->st.replay_records, (unsigned long long)hs.num_series,
             (unsigned long long)db->st.replay_samples, (unsigned long long)db->st.replay_rejected,
             (unsigned long long)db->st.replay_unknown_refs, (unsigned long long)db->st.wal_corruptions);
    *out = db;
    pl_err_t rerr = {{0}};
    if (db_apply_retention(db, &rerr) < 0) log_error("tsdb", "Retention failed", "err=\"%s\"", rerr.msg);
    return 0;
}

db_t *db_wrap_head(head_t *head) {
    db_t *db = db_alloc();
    if (!db) return NULL;
    db->head = head;
    return db;
}

int db_close(db_t *db, pl_err_t *err) {
    if (!db) return 0;
    db_stop_background(db);
    int rc = wal_close(db->wal, err);
    db_release(db);
    return rc;
}

head_t *db_head(db_t *db) { return db->head; }
const char *db_dir(const db_t *db) { return db->dir; }

int db_wal_cut(db_t *db, pl_err_t *err) {
    if (!db->wal) return pl_err_set(err, "no WAL");
    pthread_mutex_lock(&db->mu);
    int k = wal_next_segment(db->wal, err);
    pthread_mutex_unlock(&db->mu);
    return k < 0 ? -1 : k - 1;
}

int db_wal_truncate(db_t *db, int64_t mint, bool (*keep)(void *ctx, uint64_t ref), void *ctx, pl_err_t *err) {
    if (!db->wal) return 0;
    int first = 0, last = -1;
    if (wal_segment_range(db->wal_dir, &first, &last, err) <= 0) return 0;
    pthread_mutex_lock(&db->mu);
    int current = db->wal ? wal_get_segment(db->wal) : last;
    pthread_mutex_unlock(&db->mu);
    /* Never the segment being written; of the rest, the first two thirds
     * (the newest third is likely to hold samples the head still needs), as
     * Prometheus does. */
    last = current - 1;
    if (last < first) return 0;
    last = first + (last - first) * 2 / 3;
    if (last <= first) return 0;
    double t0 = now_seconds();
    pthread_mutex_lock(&db->mu);
    db->st.wal_truncations++;
    pthread_mutex_unlock(&db->mu);
    checkpoint_stats_t cs;
    pl_err_t cerr = {{0}};
    int rc = checkpoint_create(db->wal_dir, first, last, keep, ctx, mint, db->wal_compression, &cs, &cerr);
    pthread_mutex_lock(&db->mu);
    db->st.checkpoint_creations++;
    if (rc != 0) {
        db->st.checkpoint_creations_failed++;
        db->st.wal_truncations_failed++;
    }
    pthread_mutex_unlock(&db->mu);
    if (rc != 0) return pl_err_set(err, "create checkpoint: %s", cerr.msg);
    int ns = wal_delete_segments_before(db->wal_dir, last + 1, &cerr);
    int nc = ns < 0 ? -1 : checkpoint_delete_before(db->wal_dir, last, &cerr);
    pthread_mutex_lock(&db->mu);
    if (ns < 0) db->st.wal_truncations_failed++;
    if (nc > 0) db->st.checkpoint_deletions += (uint64_t)nc;
    if (nc < 0) db->st.checkpoint_deletions_failed++;
    pthread_mutex_unlock(&db->mu);
    if (ns < 0 || nc < 0) return pl_err_set(err, "truncate WAL: %s", cerr.msg);
    log_info("tsdb", "WAL checkpoint complete",
             "first=%d last=%d duration=%.3fs series_kept=%llu samples_kept=%llu samples_dropped=%llu", first, last,
             now_seconds() - t0, (unsigned long long)cs.series_kept, (unsigned long long)cs.samples_kept,
             (unsigned long long)cs.samples_dropped);
    return 0;
}

/* ---- the appender -------------------------------------------------------------------------- */

typedef struct staged {
    series_ref_t ref; /* by ref when nlabels == 0 */
    int64_t t;
    double v;
    uint32_t label_start; /* index into offs */
    uint32_t nlabels;
} staged_t;

typedef struct db_appender {
    db_t *db;
    staged_t *s;
    size_t n, cap;
    uint32_t *offs; /* name, value offsets into bytes */
    size_t noffs, cap_offs;
    strbuf_t bytes;
    label_t *ls;
    size_t cap_ls;
    storage_append_status_t *status;
    size_t cap_status;
} db_appender_t;

static int app_add(void *impl, const label_t *ls, size_t n, int64_t t, double v) {
    db_appender_t *a = impl;
    if (grow((void **)&a->s, &a->cap, a->n + 1, sizeof *a->s) != 0 ||
        grow((void **)&a->offs, &a->cap_offs, a->noffs + 2 * n, sizeof *a->offs) != 0)
        return -1;
    size_t start = a->noffs;
    for (size_t i = 0; i < n; i++) {
        a->offs[a->noffs++] = (uint32_t)a->bytes.len;
        strbuf_append(&a->bytes, ls[i].name, strlen(ls[i].name) + 1);
        a->offs[a->noffs++] = (uint32_t)a->bytes.len;
        strbuf_append(&a->bytes, ls[i].value, strlen(ls[i].value) + 1);
    }
    /* nlabels 0 means "by ref": an empty label set is staged with the
     * UINT32_MAX marker, which commit reports as invalid. */
    a->s[a->n++] = (staged_t){0, t, v, (uint32_t)start, (uint32_t)(n ? n : UINT32_MAX)};
    return 0;
}

static int app_add_ref(void *impl, series_ref_t ref, int64_t t, double v) {
    db_appender_t *a = impl;
    if (grow((void **)&a->s, &a->cap, a->n + 1, sizeof *a->s) != 0) return -1;
    a->s[a->n++] = (staged_t){ref, t, v, 0, 0};
    return 0;
}

static void app_rollback(void *impl) {
    db_appender_t *a = impl;
    a->n = a->noffs = 0;
    strbuf_reset(&a->bytes);
}

static void app_trim(db_appender_t *a, size_t used, size_t used_offs, size_t used_bytes);

/* Gives memory back after an unusually large batch (the last one used under
 * a quarter of it), so one big scrape does not pin its peak; a steady load
 * keeps its arrays and allocates nothing. */
static void app_trim(db_appender_t *a, size_t used, size_t used_offs, size_t used_bytes) {
    const size_t keep = 1u << 20;
    if (a->cap * sizeof *a->s > keep && used * 4 < a->cap) {
        free(a->s);
        a->s = NULL;
        a->cap = 0;
    }
    if (a->cap_offs * sizeof *a->offs > keep && used_offs * 4 < a->cap_offs) {
        free(a->offs);
        a->offs = NULL;
        a->cap_offs = 0;
    }
    if (a->bytes.cap > keep && used_bytes * 4 < a->bytes.cap) strbuf_free(&a->bytes);
}

static void maybe_kick(db_t *db);

static int app_commit(void *impl, const storage_append_status_t **status_out, pl_err_t *err) {
    db_appender_t *a = impl;
    db_t *db = a->db;
    if (status_out) *status_out = NULL;
    /* The previous commit's statuses are no longer readable: shrink them
     * when they are far larger than this batch. */
    if (a->cap_status * sizeof *a->status > (1u << 20) && a->n * 4 < a->cap_status) {
        free(a->status);
        a->status = NULL;
        a->cap_status = 0;
    }
    if (grow((void **)&a->status, &a->cap_status, a->n ? a->n : 1, sizeof *a->status) != 0) {
        app_rollback(a);
        return pl_err_set(err, "out of memory committing %zu samples", a->n);
    }
    int rc = 0;
    pthread_mutex_lock(&db->mu);
    const size_t win = db->commit_window;
    size_t window = a->n < win ? a->n : win;
    if (grow((void **)&db->samples, &db->cap_samples, window ? window : 1, sizeof *db->samples) != 0) {
        pthread_mutex_unlock(&db->mu);
        app_rollback(a);
        return pl_err_set(err, "out of memory committing %zu samples", a->n);
    }
    pl_err_t werr = {{0}};
    bool wal_ok = true;
    for (size_t start = 0; start < a->n; start += win) {
        size_t end = a->n - start > win ? start + win : a->n;
        strbuf_reset(&db->series_rec);
        record_series_begin(&db->series_rec);
        size_t nseries = 0, nsamples = 0;
        for (size_t i = start; i < end; i++) {
            const staged_t *s = &a->s[i];
            series_ref_t ref = s->ref;
            int r;
            if (s->t < db->append_floor) {
                /* In a range being (or already) written to a block. */
                r = HEAD_ERR_OUT_OF_BOUNDS;
            } else if (s->nlabels == 0) {
                r = head_append_ref(db->head, ref, s->t, s->v);
                if (r == HEAD_ERR_NOT_FOUND) ref = 0;
            } else if (s->nlabels == UINT32_MAX) {
                r = HEAD_ERR_INVALID;
            } else if (grow((void **)&a->ls, &a->cap_ls, s->nlabels, sizeof *a->ls) != 0) {
                r = HEAD_ERR_INVALID;
            } else {
                for (uint32_t j = 0; j < s->nlabels; j++) {
                    a->ls[j].name = a->bytes.data + a->offs[s->label_start + 2 * j];
                    a->ls[j].value = a->bytes.data + a->offs[s->label_start + 2 * j + 1];
                }
                bool created = false;
                ref = 0;
                r = head_append(db->head, a->ls, s->nlabels, s->t, s->v, &ref, &created);
                if (created && ref) {
                    record_series_add(&db->series_rec, ref, a->ls, s->nlabels);
                    nseries++;
                }
            }
            a->status[i] = (storage_append_status_t){ref, r};
            if (r == HEAD_OK) db->samples[nsamples++] = (record_sample_t){ref, s->t, s->v};
        }
        if (!db->wal || !wal_ok) continue;
        if (nseries && wal_log(db->wal, db->series_rec.data, db->series_rec.len, &werr) != 0) wal_ok = false;
        if (wal_ok && nsamples) {
            strbuf_reset(&db->samples_rec);
            record_samples_encode(&db->samples_rec, db->samples, nsamples);
            if (wal_log(db->wal, db->samples_rec.data, db->samples_rec.len, &werr) != 0) wal_ok = false;
        }
    }
    if (db->wal && wal_ok && wal_flush(db->wal, &werr) != 0) wal_ok = false;
    if (!wal_ok) {
        db->st.commit_wal_errors++;
        rc = pl_err_set(err, "write to WAL: %s", werr.msg);
    }
    /* Encoding buffers sized for one window; a huge first record does not stay. */
    if (db->series_rec.cap > (8u << 20)) strbuf_free(&db->series_rec);
    pthread_mutex_unlock(&db->mu);
    if (rc != 0)
        log_error("tsdb", "WAL write failed; the samples are in memory only", "err=\"%s\"", err ? err->msg : "");
    size_t used = a->n, used_offs = a->noffs, used_bytes = a->bytes.len;
    a->n = a->noffs = 0;
    strbuf_reset(&a->bytes);
    app_trim(a, used, used_offs, used_bytes); /* not the statuses: the caller reads them */
    maybe_kick(db);
    if (status_out) *status_out = a->status;
    return rc;
}

static void app_free(void *impl) {
    db_appender_t *a = impl;
    if (!a) return;
    free(a->s);
    free(a->offs);
    strbuf_free(&a->bytes);
    free(a->ls);
    free(a->status);
    free(a);
}

static int db_new_appender(void *impl, appender_t *out) {
    db_appender_t *a = calloc(1, sizeof *a);
    if (!a) return -1;
    a->db = impl;
    out->add = app_add;
    out->add_ref = app_add_ref;
    out->commit = app_commit;
    out->rollback = app_rollback;
    out->free = app_free;
    out->impl = a; /* owned by the caller from here: freed through out->free */
    return 0;
}

void db_appendable(db_t *db, appendable_t *out) { *out = (appendable_t){db, db_new_appender}; }

/* ---- stats and metrics ------------------------------------------------------------------ */

void db_get_stats(db_t *db, db_stats_t *out) {
    pthread_mutex_lock(&db->mu);
    *out = db->st;
    if (db->wal) wal_get_stats(db->wal, &out->wal);
    pthread_mutex_unlock(&db->mu);
}

static void metric(strbuf_t *sb, const char *name, const char *type, const char *help) {
    strbuf_printf(sb, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void write_block_metrics(db_t *db, strbuf_t *sb);

void db_write_metrics(db_t *db, strbuf_t *sb) {
    db_stats_t st;
    db_get_stats(db, &st);
    int64_t size = db->wal ? wal_dir_size(db->wal_dir) : 0;
    metric(sb, "prometheus_tsdb_wal_corruptions_total", "counter", "Total number of WAL corruptions.");
    strbuf_printf(sb, "prometheus_tsdb_wal_corruptions_total %llu\n", (unsigned long long)st.wal_corruptions);
    metric(sb, "prometheus_tsdb_wal_fsync_duration_seconds", "summary", "Duration of write log fsync.");
    strbuf_printf(sb, "prometheus_tsdb_wal_fsync_duration_seconds_sum %.9g\n", st.wal.fsync_seconds);
    strbuf_printf(sb, "prometheus_tsdb_wal_fsync_duration_seconds_count %llu\n", (unsigned long long)st.wal.fsyncs);
    metric(sb, "prometheus_tsdb_wal_page_flushes_total", "counter", "Total number of page flushes.");
    strbuf_printf(sb, "prometheus_tsdb_wal_page_flushes_total %llu\n", (unsigned long long)st.wal.page_flushes);
    metric(sb, "prometheus_tsdb_wal_completed_pages_total", "counter", "Total number of completed pages.");
    strbuf_printf(sb, "prometheus_tsdb_wal_completed_pages_total %llu\n", (unsigned long long)st.wal.completed_pages);
    metric(sb, "prometheus_tsdb_wal_truncations_failed_total", "counter",
           "Total number of write log truncations that failed.");
    strbuf_printf(sb, "prometheus_tsdb_wal_truncations_failed_total %llu\n",
                  (unsigned long long)st.wal_truncations_failed);
    metric(sb, "prometheus_tsdb_wal_truncations_total", "counter", "Total number of write log truncations attempted.");
    strbuf_printf(sb, "prometheus_tsdb_wal_truncations_total %llu\n", (unsigned long long)st.wal_truncations);
    metric(sb, "prometheus_tsdb_checkpoint_creations_failed_total", "counter",
           "Total number of checkpoint creations that failed.");
    strbuf_printf(sb, "prometheus_tsdb_checkpoint_creations_failed_total %llu\n",
                  (unsigned long long)st.checkpoint_creations_failed);
    metric(sb, "prometheus_tsdb_checkpoint_creations_total", "counter",
           "Total number of checkpoint creations attempted.");
    strbuf_printf(sb, "prometheus_tsdb_checkpoint_creations_total %llu\n", (unsigned long long)st.checkpoint_creations);
    metric(sb, "prometheus_tsdb_checkpoint_deletions_failed_total", "counter",
           "Total number of checkpoint deletions that failed.");
    strbuf_printf(sb, "prometheus_tsdb_checkpoint_deletions_failed_total %llu\n",
                  (unsigned long long)st.checkpoint_deletions_failed);
    metric(sb, "prometheus_tsdb_checkpoint_deletions_total", "counter",
           "Total number of checkpoint deletions attempted.");
    strbuf_printf(sb, "prometheus_tsdb_checkpoint_deletions_total %llu\n", (unsigned long long)st.checkpoint_deletions);
    metric(sb, "prometheus_tsdb_wal_writes_failed_total", "counter", "Total number of write log writes that failed.");
    strbuf_printf(sb, "prometheus_tsdb_wal_writes_failed_total %llu\n", (unsigned long long)st.wal.writes_failed);
    metric(sb, "prometheus_tsdb_wal_segment_current", "gauge",
           "Write log segment index that TSDB is currently writing to.");
    strbuf_printf(sb, "prometheus_tsdb_wal_segment_current %d\n", db->wal ? st.wal.segment_current : 0);
    metric(sb, "prometheus_tsdb_wal_storage_size_bytes", "gauge", "Size of the write log directory.");
    strbuf_printf(sb, "prometheus_tsdb_wal_storage_size_bytes %lld\n", (long long)size);
    metric(sb, "prometheus_tsdb_data_replay_duration_seconds", "gauge", "Time taken to replay the data on disk.");
    strbuf_printf(sb, "prometheus_tsdb_data_replay_duration_seconds %.9g\n", st.replay_seconds);
    write_block_metrics(db, sb);
}

/* ---- blocks ---------------------------------------------------------------------------------- */

#define DB_MAX_BLOCK_DURATION_MS (31LL * 24 * 3600 * 1000)

static void db_configure(db_t *db, const db_opts_t *o) {
    if (o->block_range_ms > 0) db->block_range = o->block_range_ms;
    db->retention_ms = o->retention_ms > 0 ? o->retention_ms : 0;
    db->retention_bytes = o->retention_bytes > 0 ? o->retention_bytes : 0;
    /* Prometheus: the max block duration defaults to 31d, or to a tenth of
     * the time retention when that is smaller. */
    int64_t maxd = o->max_block_duration_ms;
    if (maxd <= 0) {
        maxd = DB_MAX_BLOCK_DURATION_MS;
        if (db->retention_ms > 0 && db->retention_ms / 10 < maxd) maxd = db->retention_ms / 10;
    }
    if (maxd < db->block_range) maxd = db->block_range;
    db->max_block_duration = maxd;
}

size_t db_compaction_ranges(int64_t min_block, int64_t max_block, int64_t *out, size_t cap) {
    size_t n = 0;
    int64_t r = min_block;
    for (int i = 0; i < 10 && n < cap && r > 0; i++) {
        if (max_block > 0 && r > max_block) break;
        out[n++] = r;
        if (r > INT64_MAX / 3) break;
        r *= 3;
    }
    return n;
}

static int64_t range_end_of(int64_t t, int64_t range) {
    int64_t q = t / range;
    if (t % range < 0) q--;
    return (q + 1) * range;
}

/* Deletes a block dir as Prometheus does (compact.h: renamed to
 * <dir>.tmp-for-deletion first, so a crash midway leaves something db_open
 * recognises and removes). */
static int delete_block_dir(const char *dir) {
    pl_err_t err = {{0}};
    if (compact_delete_block(dir, &err) == 0) return 0;
    errno = EIO;
    return -1;
}

static void block_unref(db_t *db, db_block_t *blk) {
    pthread_mutex_lock(&db->blocks_mu);
    bool last = --blk->refs == 0;
    pthread_mutex_unlock(&db->blocks_mu);
    if (last) {
        block_close(blk->b);
        free(blk);
    }
}

static int cmp_blocks(const void *a, const void *b) {
    const block_t *x = (*(db_block_t *const *)a)->b, *y = (*(db_block_t *const *)b)->b;
    if (x->meta.min_time != y->meta.min_time) return x->meta.min_time < y->meta.min_time ? -1 : 1;
    return strcmp(x->meta.ulid, y->meta.ulid);
}

/* Adds an opened block to the list (which takes the reference). */
static int add_block(db_t *db, block_t *b) {
    db_block_t *blk = malloc(sizeof *blk);
    if (!blk) return -1;
    blk->b = b;
    blk->refs = 1;
    pthread_mutex_lock(&db->blocks_mu);
    if (db->nblocks == db->cap_blocks) {
        size_t nc = db->cap_blocks ? db->cap_blocks * 2 : 16;
        db_block_t **nv = realloc(db->blocks, nc * sizeof *nv);
        if (!nv) {
            pthread_mutex_unlock(&db->blocks_mu);
            free(blk);
            return -1;
        }
        db->blocks = nv;
        db->cap_blocks = nc;
    }
    db->blocks[db->nblocks++] = blk;
    qsort(db->blocks, db->nblocks, sizeof *db->blocks, cmp_blocks);
    pthread_mutex_unlock(&db->blocks_mu);
    return 0;
}

/* Takes the block with that ULID out of the list and deletes its dir; the
 * mapping goes with the last reference. Returns 0 if it was there. */
static int remove_block(db_t *db, const char *ulid) {
    db_block_t *found = NULL;
    pthread_mutex_lock(&db->blocks_mu);
    for (size_t i = 0; i < db->nblocks; i++) {
        if (strcmp(db->blocks[i]->b->meta.ulid, ulid) != 0) continue;
        found = db->blocks[i];
        memmove(&db->blocks[i], &db->blocks[i + 1], (db->nblocks - i - 1) * sizeof *db->blocks);
        db->nblocks--;
        break;
    }
    pthread_mutex_unlock(&db->blocks_mu);
    if (!found) return -1;
    /* Unlinking a mapped file is fine: queries holding it keep reading. */
    if (delete_block_dir(found->b->dir) != 0)
        log_error("tsdb", "Deleting block dir failed", "dir=%s err=\"%s\"", found->b->dir, strerror(errno));
    block_unref(db, found);
    return 0;
}

/* The list with a reference on every block; release with snap_release. */
typedef struct snap {
    db_block_t **v;
    block_t **b;
    size_t n;
} snap_t;

static int snap_take(db_t *db, snap_t *s) {
    memset(s, 0, sizeof *s);
    pthread_mutex_lock(&db->blocks_mu);
    size_t n = db->nblocks;
    if (n) {
        s->v = malloc(n * sizeof *s->v);
        s->b = malloc(n * sizeof *s->b);
        if (!s->v || !s->b) {
            pthread_mutex_unlock(&db->blocks_mu);
            free(s->v);
            free(s->b);
            return -1;
        }
        for (size_t i = 0; i < n; i++) {
            s->v[i] = db->blocks[i];
            s->b[i] = db->blocks[i]->b;
            db->blocks[i]->refs++;
        }
    }
    s->n = n;
    pthread_mutex_unlock(&db->blocks_mu);
    return 0;
}

static void snap_release(db_t *db, snap_t *s) {
    for (size_t i = 0; i < s->n; i++) block_unref(db, s->v[i]);
    free(s->v);
    free(s->b);
    memset(s, 0, sizeof *s);
}

static int64_t blocks_max_time(db_t *db) {
    int64_t m = INT64_MIN;
    pthread_mutex_lock(&db->blocks_mu);
    for (size_t i = 0; i < db->nblocks; i++)
        if (db->blocks[i]->b->meta.max_time > m) m = db->blocks[i]->b->meta.max_time;
    pthread_mutex_unlock(&db->blocks_mu);
    return m;
}

/* Opens the blocks of the data dir (at open; the list is empty), after
 * removing what Prometheus removes at open (compact.h): torn block writes
 * and deletions, blocks marked deletable, blocks already compacted into
 * another one. A block that does not open is skipped and logged. */
static void open_blocks(db_t *db) {
    char **removed = NULL;
    size_t nremoved = 0;
    pl_err_t lerr = {{0}};
    if (compact_remove_leftovers(db->dir, &removed, &nremoved, &lerr) != 0)
        log_error("tsdb", "Removing leftover block dirs failed", "err=\"%s\"", lerr.msg);
    for (size_t i = 0; i < nremoved; i++) log_info("tsdb", "Removed leftover block dir", "dir=%s", removed[i]);
    compact_free_dirs(removed, nremoved);
    DIR *d = opendir(db->dir);
    if (!d) return;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.') continue;
        char p[PATH_MAX + 256];
        snprintf(p, sizeof p, "%s/%s", db->dir, de->d_name);
        struct stat st;
        if (lstat(p, &st) != 0 || !S_ISDIR(st.st_mode)) continue;
        if (!block_ulid_valid(de->d_name)) continue;
        pl_err_t err = {{0}};
        block_t *b = block_open(p, &err);
        if (!b) {
            db->m.blocks_skipped++;
            log_error("tsdb", "Skipping unreadable block", "dir=%s err=\"%s\"", p, err.msg);
            continue;
        }
        if (add_block(db, b) != 0) {
            log_error("tsdb", "Out of memory loading blocks", "dir=%s", p);
            block_close(b);
        }
    }
    closedir(d);
    db->m.reloads++;
    log_info("tsdb", "Blocks loaded", "blocks=%zu skipped=%llu", db->nblocks, (unsigned long long)db->m.blocks_skipped);
}

int db_blocks(db_t *db, db_block_info_t **out, size_t *n) {
    *out = NULL;
    *n = 0;
    pthread_mutex_lock(&db->blocks_mu);
    if (db->nblocks) {
        *out = calloc(db->nblocks, sizeof **out);
        if (!*out) {
            pthread_mutex_unlock(&db->blocks_mu);
            return -1;
        }
        for (size_t i = 0; i < db->nblocks; i++) {
            const block_t *b = db->blocks[i]->b;
            db_block_info_t *o = &(*out)[i];
            memcpy(o->ulid, b->meta.ulid, sizeof o->ulid);
            snprintf(o->dir, sizeof o->dir, "%s", b->dir);
            o->min_time = b->meta.min_time;
            o->max_time = b->meta.max_time;
            o->num_samples = b->meta.num_samples;
            o->num_series = b->meta.num_series;
            o->num_tombstones = b->tombstones.n;
            o->size_bytes = b->size_bytes;
            o->level = b->meta.level;
        }
        *n = db->nblocks;
    }
    pthread_mutex_unlock(&db->blocks_mu);
    return 0;
}

/* ---- the queryable over blocks + head ------------------------------------------------------- */

static int dbq_select(void *impl, const matcher_t *ms, size_t nms, int64_t mint, int64_t maxt, storage_series_fn fn,
                      void *ctx, pl_err_t *err) {
    db_t *db = impl;
    snap_t s;
    if (snap_take(db, &s) != 0) return pl_err_set(err, "out of memory");
    /* Only the blocks that overlap the range. */
    size_t k = 0;
    for (size_t i = 0; i < s.n; i++)
        if (s.b[i]->meta.max_time > mint && s.b[i]->meta.min_time <= maxt) s.b[k++] = s.b[i];
    queryable_t hq, qq;
    head_queryable(db->head, &hq);
    int rc;
    querier_t *q = querier_new(s.b, k, &hq, 1);
    if (!q) {
        rc = pl_err_set(err, "out of memory");
    } else {
        querier_queryable(q, &qq);
        rc = qq.select(qq.impl, ms, nms, mint, maxt, fn, ctx, err);
        querier_free(q);
    }
    snap_release(db, &s);
    return rc;
}

/* With hints (model/storage.h): when no block overlaps the range the head
 * alone answers, and its fast paths apply; otherwise as dbq_select. */
static int dbq_select_hinted(void *impl, const matcher_t *ms, size_t nms, int64_t mint, int64_t maxt,
                             const storage_select_hints_t *hints, storage_series_fn fn, void *ctx, pl_err_t *err) {
    db_t *db = impl;
    snap_t s;
    if (snap_take(db, &s) != 0) return pl_err_set(err, "out of memory");
    bool blocks = false;
    for (size_t i = 0; i < s.n && !blocks; i++)
        blocks = s.b[i]->meta.max_time > mint && s.b[i]->meta.min_time <= maxt;
    int rc = blocks ? dbq_select(impl, ms, nms, mint, maxt, fn, ctx, err)
                    : head_select_hinted(db->head, ms, nms, mint, maxt, hints, fn, ctx, err);
    snap_release(db, &s);
    return rc;
}

/* Label names (name == NULL) or one label's values over a querier of the
 * blocks + head snapshot held for the call. */
static int dbq_labels(db_t *db, const char *name, storage_string_fn fn, void *ctx, pl_err_t *err) {
    snap_t s;
    if (snap_take(db, &s) != 0) return pl_err_set(err, "out of memory");
    queryable_t hq, qq;
    head_queryable(db->head, &hq);
    int rc;
    querier_t *q = querier_new(s.b, s.n, &hq, 1);
    if (!q) {
        rc = pl_err_set(err, "out of memory");
    } else {
        querier_queryable(q, &qq);
        rc = name ? qq.label_values(qq.impl, name, fn, ctx, err) : qq.label_names(qq.impl, fn, ctx, err);
        querier_free(q);
    }
    snap_release(db, &s);
    return rc;
}

static int dbq_label_names(void *impl, storage_string_fn fn, void *ctx, pl_err_t *err) {
    return dbq_labels(impl, NULL, fn, ctx, err);
}

static int dbq_label_values(void *impl, const char *name, storage_string_fn fn, void *ctx, pl_err_t *err) {
    return dbq_labels(impl, name, fn, ctx, err);
}

void db_queryable(db_t *db, queryable_t *out) {
    out->impl = db;
    out->select = dbq_select;
    out->label_names = dbq_label_names;
    out->label_values = dbq_label_values;
    out->select_hinted = dbq_select_hinted;
}

/* ---- retention ------------------------------------------------------------------------------ */

typedef struct ret_idx {
    const db_retention_block_t *b;
    size_t i;
} ret_idx_t;

static int cmp_newest_first(const void *a, const void *b) {
    const ret_idx_t *x = a, *y = b;
    if (x->b->max_time != y->b->max_time) return x->b->max_time > y->b->max_time ? -1 : 1;
    return x->i < y->i ? -1 : x->i > y->i;
}

size_t db_retention_select(const db_retention_block_t *blocks, size_t n, int64_t retention_ms, int64_t retention_bytes,
                           uint64_t head_bytes, bool *del, bool *by_time, bool *by_size) {
    *by_time = *by_size = false;
    for (size_t i = 0; i < n; i++) del[i] = false;
    if (n == 0) return 0;
    ret_idx_t *v = malloc(n * sizeof *v);
    if (!v) return 0;
    for (size_t i = 0; i < n; i++) v[i] = (ret_idx_t){&blocks[i], i};
    qsort(v, n, sizeof *v, cmp_newest_first);
    if (retention_ms > 0)
        for (size_t i = 1; i < n; i++)
            if (v[0].b->max_time - v[i].b->max_time > retention_ms) {
                for (size_t k = i; k < n; k++) del[v[k].i] = true;
                *by_time = true;
                break;
            }
    if (retention_bytes > 0) {
        uint64_t sum = head_bytes;
        for (size_t i = 0; i < n; i++) {
            sum += v[i].b->size_bytes;
            if (sum > (uint64_t)retention_bytes) {
                for (size_t k = i; k < n; k++) del[v[k].i] = true;
                *by_size = true;
                break;
            }
        }
    }
    free(v);
    size_t c = 0;
    for (size_t i = 0; i < n; i++) c += del[i];
    return c;
}

static int64_t dir_bytes(const char *path) {
    DIR *d = opendir(path);
    if (!d) return 0;
    int64_t sum = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..")) continue;
        char p[PATH_MAX];
        snprintf(p, sizeof p, "%s/%s", path, de->d_name);
        struct stat st;
        if (lstat(p, &st) != 0) continue;
        sum += S_ISDIR(st.st_mode) ? dir_bytes(p) : st.st_size;
    }
    closedir(d);
    return sum;
}

/* WAL + chunks_head: what Prometheus counts as the head's size. */
static uint64_t head_disk_bytes(db_t *db) {
    if (!db->dir[0]) return 0;
    char p[PATH_MAX + 16];
    snprintf(p, sizeof p, "%s/chunks_head", db->dir);
    return (uint64_t)(wal_dir_size(db->wal_dir) + dir_bytes(p));
}

static int retention_locked(db_t *db) {
    if (db->retention_ms <= 0 && db->retention_bytes <= 0) return 0;
    snap_t s;
    if (snap_take(db, &s) != 0) return -1;
    db_retention_block_t *rb = calloc(s.n ? s.n : 1, sizeof *rb);
    bool *del = calloc(s.n ? s.n : 1, sizeof *del);
    int deleted = -1;
    if (rb && del) {
        for (size_t i = 0; i < s.n; i++)
            rb[i] = (db_retention_block_t){s.b[i]->meta.min_time, s.b[i]->meta.max_time, s.b[i]->size_bytes};
        bool by_time, by_size;
        db_retention_select(rb, s.n, db->retention_ms, db->retention_bytes, head_disk_bytes(db), del, &by_time,
                            &by_size);
        deleted = 0;
        for (size_t i = 0; i < s.n; i++) {
            if (!del[i]) continue;
            log_info("tsdb", by_time ? "Deleting block beyond the time retention" : "Deleting block beyond the size retention",
                     "block=%s mint=%lld maxt=%lld", s.b[i]->meta.ulid, (long long)s.b[i]->meta.min_time,
                     (long long)s.b[i]->meta.max_time);
            if (remove_block(db, s.b[i]->meta.ulid) == 0) deleted++;
        }
        pthread_mutex_lock(&db->mu);
        if (by_time) db->m.time_retentions++;
        if (by_size) db->m.size_retentions++;
        if (deleted) db->m.reloads++;
        pthread_mutex_unlock(&db->mu);
    }
    free(rb);
    free(del);
    snap_release(db, &s);
    return deleted;
}

int db_apply_retention(db_t *db, pl_err_t *err) {
    pthread_mutex_lock(&db->compact_mu);
    int rc = retention_locked(db);
    pthread_mutex_unlock(&db->compact_mu);
    if (rc < 0) return pl_err_set(err, "retention: out of memory");
    return rc;
}

/* ---- head compaction --------------------------------------------------------------------- */

static bool keep_live_series(void *ctx, uint64_t ref) { return head_series_exists(ctx, ref); }

static void observe_compaction(db_t *db, double secs, bool ok) {
    pthread_mutex_lock(&db->mu);
    db->m.compactions++;
    if (!ok) db->m.compactions_failed++;
    double le = 1;
    for (int i = 0; i < DB_COMPACTION_BUCKETS; i++, le *= 2)
        if (secs <= le) db->m.compaction_buckets[i]++;
    db->m.compaction_seconds_sum += secs;
    db->m.compaction_count++;
    pthread_mutex_unlock(&db->mu);
}

/* Truncates the head to mint and the WAL after it. Caller holds compact_mu. */
static int truncate_head(db_t *db, int64_t mint, pl_err_t *err) {
    double t0 = now_seconds();
    head_truncate_result_t res;
    int rc = head_truncate(db->head, mint, &res, err);
    double gc = now_seconds() - t0;
    pthread_mutex_lock(&db->mu);
    db->m.head_truncations++;
    if (rc != 0) db->m.head_truncations_failed++;
    db->m.gc_seconds_sum += gc;
    db->m.gc_count++;
    pthread_mutex_unlock(&db->mu);
    if (rc != 0) return -1;
    log_info("tsdb", "Head GC completed", "duration=%.3fs series_removed=%llu chunks_removed=%llu symbols_rebuilt=%d",
             gc, (unsigned long long)res.series_removed, (unsigned long long)res.chunks_removed, res.symbols_rebuilt);
    head_truncate_result_free(&res);
    if (!db->wal) return 0;
    /* A new segment first, so that a quiet server does not keep more WAL
     * than it needs (Prometheus does the same), then checkpoint. */
    if (db_wal_cut(db, err) < 0) return -1;
    return db_wal_truncate(db, mint, keep_live_series, db->head, err);
}

/* One head compaction if the head is compactable: 1 if a range was cut
 * (written as a block or empty), 0 if there was nothing to do, -1 on error. */
static int compact_head_once(db_t *db, pl_err_t *err) {
    head_stats_t hs;
    head_get_stats(db->head, &hs);
    int64_t mint = hs.min_time, maxt = hs.max_time;
    if (mint == INT64_MAX || maxt == INT64_MIN) return 0;
    if (mint < hs.min_valid_time) mint = hs.min_valid_time;
    if (maxt - mint <= db->block_range / 2 * 3) return 0;
    int64_t bmaxt = range_end_of(mint, db->block_range);
    /* From here on no commit may add to [mint, bmaxt): a commit holds mu
     * for its whole batch, so every sample committed before this point is in
     * the head when the block is written, and none after it falls inside. */
    pthread_mutex_lock(&db->mu);
    if (bmaxt > db->append_floor) db->append_floor = bmaxt;
    pthread_mutex_unlock(&db->mu);
    double t0 = now_seconds();
    char ulid[ULID_LEN + 1] = "";
    queryable_t hq;
    head_queryable(db->head, &hq);
    int rc = block_write_from_queryable(&hq, db->dir, mint, bmaxt, db->block_range, ulid, err);
    if (rc == 0 && ulid[0]) {
        char path[PATH_MAX + 32];
        snprintf(path, sizeof path, "%s/%s", db->dir, ulid);
        block_t *b = block_open(path, err);
        if (!b || add_block(db, b) != 0) {
            if (b) block_close(b);
            else pl_err_prefix(err, "open the new block");
            delete_block_dir(path);
            rc = -1;
        }
    }
    observe_compaction(db, now_seconds() - t0, rc == 0);
    if (rc != 0) {
        pthread_mutex_lock(&db->mu);
        db->m.reloads_failed++;
        pthread_mutex_unlock(&db->mu);
        return -1;
    }
    pthread_mutex_lock(&db->mu);
    db->m.reloads++;
    pthread_mutex_unlock(&db->mu);
    log_info("tsdb", ulid[0] ? "Head compacted into a block" : "Head range had no samples; nothing written",
             "block=%s mint=%lld maxt=%lld duration=%.3fs", ulid, (long long)mint, (long long)bmaxt,
             now_seconds() - t0);
    if (truncate_head(db, bmaxt, err) != 0) return -1;
    return 1;
}

static int compact_blocks_locked(db_t *db, pl_err_t *err);

int db_compact(db_t *db, pl_err_t *err) {
    if (!db->dir[0]) return 0; /* a wrapped head has no directory for blocks */
    pthread_mutex_lock(&db->compact_mu);
    atomic_store(&db->compactable_signalled, false);
    int written = 0, rc = 0;
    for (int guard = 0; guard < 1000; guard++) {
        int k = compact_head_once(db, err);
        if (k < 0) {
            rc = -1;
            break;
        }
        if (k == 0) break;
        written++;
    }
    if (rc == 0 && compact_blocks_locked(db, err) < 0) rc = -1;
    if (retention_locked(db) < 0 && rc == 0) rc = pl_err_set(err, "retention: out of memory");
    pthread_mutex_unlock(&db->compact_mu);
    /* The block writer's buffers and the freed head memory sit in malloc's
     * free lists: hand them back to the kernel. */
    if (written) malloc_trim(0);
    return rc < 0 ? -1 : written;
}

/* Block compaction (compact.h: Prometheus's leveled planner, overlapping
 * blocks, blocks heavy with tombstones) over the exponential ranges, until
 * the planner has nothing left; the merged block is opened before its
 * sources are deleted, so queries see the data throughout (the querier
 * de-duplicates the moment both are loaded). Caller holds compact_mu. */
static int compact_blocks_locked(db_t *db, pl_err_t *err) {
    int64_t ranges[10];
    size_t nr = db_compaction_ranges(db->block_range, db->max_block_duration, ranges, 10);
    for (int guard = 0; guard < 1000; guard++) {
        char **dirs = NULL;
        size_t n = 0;
        if (compact_plan(db->dir, ranges, nr, &dirs, &n, err) != 0) return -1;
        if (n == 0) return 0;
        char ulid[ULID_LEN + 1] = "";
        double t0 = now_seconds();
        int rc = compact_blocks(db->dir, dirs, n, ulid, err);
        if (rc == 0 && ulid[0]) {
            char path[PATH_MAX + 32];
            snprintf(path, sizeof path, "%s/%s", db->dir, ulid);
            block_t *b = block_open(path, err);
            if (!b || add_block(db, b) != 0) {
                if (b) block_close(b);
                delete_block_dir(path);
                rc = -1;
            }
        }
        observe_compaction(db, now_seconds() - t0, rc == 0);
        if (rc != 0) {
            compact_free_dirs(dirs, n);
            return -1;
        }
        log_info("tsdb", "Blocks compacted", "sources=%zu block=%s duration=%.3fs", n, ulid[0] ? ulid : "(empty)",
                 now_seconds() - t0);
        for (size_t i = 0; i < n; i++) {
            const char *slash = strrchr(dirs[i], '/');
            const char *name = slash ? slash + 1 : dirs[i];
            /* Not loaded (skipped at open, say): delete the dir directly. */
            if (remove_block(db, name) != 0) delete_block_dir(dirs[i]);
        }
        compact_free_dirs(dirs, n);
        pthread_mutex_lock(&db->mu);
        db->m.reloads++;
        pthread_mutex_unlock(&db->mu);
    }
    return 0;
}

/* ---- background thread ------------------------------------------------------------------- */

static void *bg_main(void *arg) {
    db_t *db = arg;
    pthread_mutex_lock(&db->bg_mu);
    while (!db->bg_stop) {
        if (!db->bg_kick) {
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            int64_t ns = ts.tv_nsec + (db->bg_interval_ms % 1000) * 1000000;
            ts.tv_sec += db->bg_interval_ms / 1000 + ns / 1000000000;
            ts.tv_nsec = ns % 1000000000;
            pthread_cond_timedwait(&db->bg_cond, &db->bg_mu, &ts);
        }
        if (db->bg_stop) break;
        db->bg_kick = false;
        pthread_mutex_unlock(&db->bg_mu);
        pl_err_t err = {{0}};
        if (db_compact(db, &err) < 0) log_error("tsdb", "Compaction failed", "err=\"%s\"", err.msg);
        pthread_mutex_lock(&db->bg_mu);
    }
    pthread_mutex_unlock(&db->bg_mu);
    return NULL;
}

int db_start_background(db_t *db, int64_t interval_ms, pl_err_t *err) {
    if (db->bg_running) return 0;
    db->bg_interval_ms = interval_ms > 0 ? interval_ms : 60000;
    db->bg_stop = false;
    /* A first run at once: the head may be compactable after replay. */
    db->bg_kick = true;
    if (pthread_create(&db->bg_thread, NULL, bg_main, db) != 0)
        return pl_err_set(err, "start the compaction thread: %s", strerror(errno));
    db->bg_running = true;
    return 0;
}

void db_stop_background(db_t *db) {
    if (!db->bg_running) return;
    pthread_mutex_lock(&db->bg_mu);
    db->bg_stop = true;
    pthread_cond_signal(&db->bg_cond);
    pthread_mutex_unlock(&db->bg_mu);
    pthread_join(db->bg_thread, NULL);
    db->bg_running = false;
}

/* After a commit: if the head just became compactable, wake the thread
 * (two atomic loads in the common case). */
static void maybe_kick(db_t *db) {
    if (!db->bg_running || atomic_load_explicit(&db->compactable_signalled, memory_order_relaxed)) return;
    int64_t mint, maxt;
    head_time_range(db->head, &mint, &maxt);
    if (mint == INT64_MAX || maxt == INT64_MIN || maxt - mint <= db->block_range / 2 * 3) return;
    atomic_store(&db->compactable_signalled, true);
    pthread_mutex_lock(&db->bg_mu);
    db->bg_kick = true;
    pthread_cond_signal(&db->bg_cond);
    pthread_mutex_unlock(&db->bg_mu);
}

/* ---- metrics of blocks, compaction, retention -------------------------------------------- */

static void write_block_metrics(db_t *db, strbuf_t *sb) {
    db_metrics_t m;
    pthread_mutex_lock(&db->mu);
    m = db->m;
    pthread_mutex_unlock(&db->mu);
    uint64_t bytes = 0;
    size_t nblocks;
    int64_t lowest = INT64_MAX;
    pthread_mutex_lock(&db->blocks_mu);
    nblocks = db->nblocks;
    for (size_t i = 0; i < db->nblocks; i++) {
        bytes += db->blocks[i]->b->size_bytes;
        if (db->blocks[i]->b->meta.min_time < lowest) lowest = db->blocks[i]->b->meta.min_time;
    }
    pthread_mutex_unlock(&db->blocks_mu);
    head_stats_t hs;
    head_get_stats(db->head, &hs);
    if (lowest == INT64_MAX) lowest = hs.min_time;
    if (lowest == INT64_MAX) lowest = INT64_MAX; /* empty: Prometheus reports MaxInt64 too */

    metric(sb, "prometheus_tsdb_blocks_loaded", "gauge", "Number of currently loaded data blocks");
    strbuf_printf(sb, "prometheus_tsdb_blocks_loaded %zu\n", nblocks);
    metric(sb, "prometheus_tsdb_storage_blocks_bytes", "gauge",
           "The number of bytes that are currently used for local storage by all blocks.");
    strbuf_printf(sb, "prometheus_tsdb_storage_blocks_bytes %llu\n", (unsigned long long)bytes);
    metric(sb, "prometheus_tsdb_retention_limit_bytes", "gauge",
           "Max number of bytes to be retained in the tsdb blocks, configured 0 means disabled");
    strbuf_printf(sb, "prometheus_tsdb_retention_limit_bytes %lld\n", (long long)db->retention_bytes);
    metric(sb, "prometheus_tsdb_retention_limit_seconds", "gauge", "How long to retain samples in storage.");
    strbuf_printf(sb, "prometheus_tsdb_retention_limit_seconds %lld\n", (long long)(db->retention_ms / 1000));
    metric(sb, "prometheus_tsdb_time_retentions_total", "counter",
           "The number of times that blocks were deleted because the maximum time limit was exceeded.");
    strbuf_printf(sb, "prometheus_tsdb_time_retentions_total %llu\n", (unsigned long long)m.time_retentions);
    metric(sb, "prometheus_tsdb_size_retentions_total", "counter",
           "The number of times that blocks were deleted because the maximum number of bytes was exceeded.");
    strbuf_printf(sb, "prometheus_tsdb_size_retentions_total %llu\n", (unsigned long long)m.size_retentions);
    metric(sb, "prometheus_tsdb_lowest_timestamp", "gauge",
           "Lowest timestamp value stored in the database. The unit is decided by the library consumer.");
    strbuf_printf(sb, "prometheus_tsdb_lowest_timestamp %lld\n", (long long)lowest);
    metric(sb, "prometheus_tsdb_lowest_timestamp_seconds", "gauge", "Lowest timestamp value stored in the database.");
    strbuf_printf(sb, "prometheus_tsdb_lowest_timestamp_seconds %lld\n", (long long)(lowest / 1000));
    metric(sb, "prometheus_tsdb_compactions_total", "counter",
           "Total number of compactions that were executed for the partition.");
    strbuf_printf(sb, "prometheus_tsdb_compactions_total %llu\n", (unsigned long long)m.compactions);
    metric(sb, "prometheus_tsdb_compactions_failed_total", "counter",
           "Total number of compactions that failed for the partition.");
    strbuf_printf(sb, "prometheus_tsdb_compactions_failed_total %llu\n", (unsigned long long)m.compactions_failed);
    metric(sb, "prometheus_tsdb_compaction_duration_seconds", "histogram", "Duration of compaction runs");
    double le = 1;
    for (int i = 0; i < DB_COMPACTION_BUCKETS; i++, le *= 2)
        strbuf_printf(sb, "prometheus_tsdb_compaction_duration_seconds_bucket{le=\"%g\"} %llu\n", le,
                      (unsigned long long)m.compaction_buckets[i]);
    strbuf_printf(sb, "prometheus_tsdb_compaction_duration_seconds_bucket{le=\"+Inf\"} %llu\n",
                  (unsigned long long)m.compaction_count);
    strbuf_printf(sb, "prometheus_tsdb_compaction_duration_seconds_sum %.9g\n", m.compaction_seconds_sum);
    strbuf_printf(sb, "prometheus_tsdb_compaction_duration_seconds_count %llu\n", (unsigned long long)m.compaction_count);
    metric(sb, "prometheus_tsdb_head_truncations_total", "counter", "Total number of head truncations attempted.");
    strbuf_printf(sb, "prometheus_tsdb_head_truncations_total %llu\n", (unsigned long long)m.head_truncations);
    metric(sb, "prometheus_tsdb_head_truncations_failed_total", "counter",
           "Total number of head truncations that failed.");
    strbuf_printf(sb, "prometheus_tsdb_head_truncations_failed_total %llu\n",
                  (unsigned long long)m.head_truncations_failed);
    metric(sb, "prometheus_tsdb_head_gc_duration_seconds", "summary", "Runtime of garbage collection in the head block.");
    strbuf_printf(sb, "prometheus_tsdb_head_gc_duration_seconds_sum %.9g\n", m.gc_seconds_sum);
    strbuf_printf(sb, "prometheus_tsdb_head_gc_duration_seconds_count %llu\n", (unsigned long long)m.gc_count);
    metric(sb, "prometheus_tsdb_head_series_removed_total", "counter", "Total number of series removed in the head");
    strbuf_printf(sb, "prometheus_tsdb_head_series_removed_total %llu\n", (unsigned long long)hs.series_removed);
    metric(sb, "prometheus_tsdb_head_chunks_removed_total", "counter", "Total number of chunks removed in the head");
    strbuf_printf(sb, "prometheus_tsdb_head_chunks_removed_total %llu\n", (unsigned long long)hs.chunks_removed);
    metric(sb, "prometheus_tsdb_out_of_bound_samples_total", "counter",
           "Total number of out of bound samples ingestion failed attempts with out of order support disabled.");
    strbuf_printf(sb, "prometheus_tsdb_out_of_bound_samples_total{type=\"float\"} %llu\n",
                  (unsigned long long)hs.out_of_bounds_samples);
    metric(sb, "prometheus_tsdb_reloads_total", "counter", "Number of times the database reloaded block data from disk.");
    strbuf_printf(sb, "prometheus_tsdb_reloads_total %llu\n", (unsigned long long)m.reloads);
    metric(sb, "prometheus_tsdb_reloads_failures_total", "counter",
           "Number of times the database failed to reloadBlocks block data from disk.");
    strbuf_printf(sb, "prometheus_tsdb_reloads_failures_total %llu\n", (unsigned long long)m.reloads_failed);
}

/* ---- admin operations -------------------------------------------------------------------- */

typedef struct fill_ctx {
    block_builder_t *b;
    pl_err_t *err;
} fill_ctx_t;

static int fill_builder(void *ctx, const label_t *ls, size_t n, const sample_t *s, size_t ns) {
    fill_ctx_t *c = ctx;
    return block_builder_add_series(c->b, ls, n, s, ns, c->err) != 0 ? -2 : 0;
}

static int mkdir_all(const char *path) {
    char tmp[PATH_MAX];
    snprintf(tmp, sizeof tmp, "%s", path);
    for (char *p = tmp + 1; *p; p++) {
        if (*p != '/') continue;
        *p = '\0';
        if (mkdir(tmp, 0777) < 0 && errno != EEXIST) return -1;
        *p = '/';
    }
    return mkdir(tmp, 0777) < 0 && errno != EEXIST ? -1 : 0;
}

/* Hard-links every regular file of src (one level of subdirs: chunks/) into dst. */
static int link_tree(const char *src, const char *dst, pl_err_t *err) {
    if (mkdir(dst, 0777) < 0 && errno != EEXIST) return pl_err_set(err, "mkdir %s: %s", dst, strerror(errno));
    DIR *d = opendir(src);
    if (!d) return pl_err_set(err, "open %s: %s", src, strerror(errno));
    struct dirent *de;
    int rc = 0;
    while (rc == 0 && (de = readdir(d)) != NULL) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..")) continue;
        char s[PATH_MAX + 256], t[PATH_MAX + 256];
        snprintf(s, sizeof s, "%s/%s", src, de->d_name);
        snprintf(t, sizeof t, "%s/%s", dst, de->d_name);
        struct stat st;
        if (lstat(s, &st) != 0) continue;
        if (S_ISDIR(st.st_mode))
            rc = link_tree(s, t, err);
        else if (link(s, t) != 0)
            rc = pl_err_set(err, "link %s: %s", s, strerror(errno));
    }
    closedir(d);
    return rc;
}

int db_snapshot(db_t *db, const char *dir, bool skip_head, pl_err_t *err) {
    if (mkdir_all(dir) != 0) return pl_err_set(err, "create snapshot dir %s: %s", dir, strerror(errno));
    pthread_mutex_lock(&db->compact_mu);
    snap_t s;
    int rc = snap_take(db, &s) == 0 ? 0 : pl_err_set(err, "out of memory");
    for (size_t i = 0; i < s.n && rc == 0; i++) {
        char dst[PATH_MAX + 64];
        snprintf(dst, sizeof dst, "%s/%s", dir, s.b[i]->meta.ulid);
        rc = link_tree(s.b[i]->dir, dst, err);
    }
    snap_release(db, &s);
    if (rc == 0 && !skip_head) {
        int64_t mint, maxt;
        head_time_range(db->head, &mint, &maxt);
        if (mint != INT64_MAX && maxt != INT64_MIN) {
            queryable_t hq;
            head_queryable(db->head, &hq);
            char ulid[ULID_LEN + 1];
            rc = block_write_from_queryable(&hq, dir, mint, maxt + 1, db->block_range, ulid, err);
        }
    }
    pthread_mutex_unlock(&db->compact_mu);
    if (rc == 0) tsdb_fsync_dir(dir);
    return rc;
}

/* Swaps the list's block with that ULID for a freshly opened one (the old
 * mapping goes with its last reader). */
static int replace_block(db_t *db, const char *ulid, block_t *nb) {
    db_block_t *blk = malloc(sizeof *blk);
    if (!blk) return -1;
    blk->b = nb;
    blk->refs = 1;
    db_block_t *old = NULL;
    pthread_mutex_lock(&db->blocks_mu);
    for (size_t i = 0; i < db->nblocks; i++)
        if (strcmp(db->blocks[i]->b->meta.ulid, ulid) == 0) {
            old = db->blocks[i];
            db->blocks[i] = blk;
            break;
        }
    pthread_mutex_unlock(&db->blocks_mu);
    if (!old) {
        free(blk);
        return -1;
    }
    block_unref(db, old);
    return 0;
}

/* Tombstones for the matching series of one block that have chunks in
 * [mint, maxt]; rewrites its tombstones file and meta.json and reloads it. */
static int delete_in_block(db_t *db, const block_t *b, const matcher_t *ms, size_t nms, int64_t mint, int64_t maxt,
                           pl_err_t *err) {
    uint32_t *ids = NULL;
    size_t n = 0;
    if (block_postings_for_matchers(b->index, ms, nms, &ids, &n, err) != 0) return -1;
    tombstones_t ts = {0};
    index_series_t se = {0};
    int rc = 0;
    size_t added = 0;
    for (size_t i = 0; i < b->tombstones.n && rc == 0; i++)
        if (tombstones_add(&ts, b->tombstones.v[i].series_id, b->tombstones.v[i].mint, b->tombstones.v[i].maxt) != 0)
            rc = pl_err_set(err, "out of memory");
    for (size_t i = 0; i < n && rc == 0; i++) {
        if (index_reader_series(b->index, ids[i], &se, err) != 0) {
            rc = -1;
            break;
        }
        for (size_t k = 0; k < se.nchks; k++)
            if (se.chks[k].maxt >= mint && se.chks[k].mint <= maxt) {
                if (tombstones_add(&ts, ids[i], mint, maxt) != 0) rc = pl_err_set(err, "out of memory");
                added++;
                break;
            }
    }
    index_series_free(&se);
    free(ids);
    if (rc == 0 && added) {
        tombstones_normalize(&ts);
        char path[PATH_MAX + 32];
        snprintf(path, sizeof path, "%s/tombstones", b->dir);
        block_meta_t m = {0};
        if (tombstones_write(path, &ts, err) != 0 || block_meta_read(b->dir, &m, err) != 0) {
            rc = -1;
        } else {
            m.num_tombstones = ts.n;
            if (block_meta_write(b->dir, &m, err) != 0) rc = -1;
        }
        block_meta_free(&m);
        block_t *nb = rc == 0 ? block_open(b->dir, err) : NULL;
        if (rc == 0 && (!nb || replace_block(db, b->meta.ulid, nb) != 0)) {
            if (nb) block_close(nb);
            rc = -1;
        }
    }
    tombstones_free(&ts);
    return rc;
}

int db_delete(db_t *db, const matcher_t *ms, size_t nms, int64_t mint, int64_t maxt, pl_err_t *err) {
    if (nms == 0) return pl_err_set(err, "delete: at least one matcher is required");
    pthread_mutex_lock(&db->compact_mu);
    series_ref_t *refs = NULL;
    size_t nrefs = 0;
    int rc = head_delete(db->head, ms, nms, mint, maxt, &refs, &nrefs, err);
    if (rc == 0 && nrefs && db->wal) {
        record_tombstone_t *t = malloc(nrefs * sizeof *t);
        if (!t) {
            rc = pl_err_set(err, "out of memory");
        } else {
            for (size_t i = 0; i < nrefs; i++) t[i] = (record_tombstone_t){refs[i], mint, maxt};
            strbuf_t rec = STRBUF_INIT;
            record_tombstones_encode(&rec, t, nrefs);
            pthread_mutex_lock(&db->mu);
            if (wal_log(db->wal, rec.data, rec.len, err) != 0 || wal_flush(db->wal, err) != 0) rc = -1;
            pthread_mutex_unlock(&db->mu);
            strbuf_free(&rec);
            free(t);
        }
    }
    free(refs);
    snap_t s;
    if (rc == 0 && snap_take(db, &s) != 0) rc = pl_err_set(err, "out of memory");
    if (rc == 0) {
        for (size_t i = 0; i < s.n && rc == 0; i++)
            if (s.b[i]->meta.min_time <= maxt && s.b[i]->meta.max_time > mint)
                rc = delete_in_block(db, s.b[i], ms, nms, mint, maxt, err);
        snap_release(db, &s);
    }
    pthread_mutex_unlock(&db->compact_mu);
    return rc;
}

int db_clean_tombstones(db_t *db, pl_err_t *err) {
    pthread_mutex_lock(&db->compact_mu);
    snap_t s;
    int rc = snap_take(db, &s) == 0 ? 0 : pl_err_set(err, "out of memory");
    for (size_t i = 0; i < s.n && rc == 0; i++) {
        const block_t *b = s.b[i];
        if (b->tombstones.n == 0) continue;
        /* The block read through its own querier skips the deleted samples. */
        block_builder_t *bb = block_builder_new(db->block_range);
        querier_t *q = querier_new(&s.b[i], 1, NULL, 0);
        matcher_t m;
        if (!bb || !q || matcher_init(&m, MATCH_REGEX, LABEL_METRIC_NAME, ".+", err) != 0) {
            block_builder_free(bb);
            querier_free(q);
            rc = bb && q ? -1 : pl_err_set(err, "out of memory");
            break;
        }
        queryable_t qq;
        querier_queryable(q, &qq);
        fill_ctx_t fc = {bb, err};
        rc = qq.select(qq.impl, &m, 1, b->meta.min_time, b->meta.max_time - 1, fill_builder, &fc, err) == 0 ? 0 : -1;
        matcher_free(&m);
        querier_free(q);
        char ulid[ULID_LEN + 1] = "";
        if (rc == 0) {
            block_write_opts_t o = {.min_time = b->meta.min_time, .max_time = b->meta.max_time, .meta_base = &b->meta};
            rc = block_builder_write(bb, db->dir, &o, ulid, err);
        }
        block_builder_free(bb);
        if (rc != 0) break;
        if (ulid[0]) {
            char path[PATH_MAX + 32];
            snprintf(path, sizeof path, "%s/%s", db->dir, ulid);
            block_t *nb = block_open(path, err);
            if (!nb || add_block(db, nb) != 0) {
                if (nb) block_close(nb);
                delete_block_dir(path);
                rc = -1;
                break;
            }
        }
        log_info("tsdb", "Block rewritten without its deleted samples", "old=%s new=%s", b->meta.ulid,
                 ulid[0] ? ulid : "(empty: dropped)");
        remove_block(db, b->meta.ulid);
    }
    snap_release(db, &s);
    pthread_mutex_unlock(&db->compact_mu);
    return rc;
}
