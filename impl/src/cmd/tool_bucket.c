/* tool_bucket.c — `promlab tool bucket ls|inspect|verify`, after Thanos's
 * `thanos tools bucket`: reads a bucket configured by the objstore YAML and
 * reports the blocks in it.
 *
 *   ls       one ULID per complete block (meta.json present); -o wide adds the
 *            time range, labels, resolution, level and size; -o json prints
 *            each meta.json on one line
 *   inspect  a table: ULID, FROM, UNTIL, RANGE, #SERIES, #SAMPLES, #CHUNKS,
 *            COMP-LEVEL, RESOLUTION, SOURCE, SIZE, LABELS (by minTime)
 *   verify   partial uploads (a block directory without meta.json),
 *            unreadable meta.json, files missing or of the wrong size against
 *            the thanos section's list, blocks without an index or chunks,
 *            and overlapping blocks of one producer (same labels and
 *            resolution). Exit status 1 when it found an issue.
 *   upload-blocks  ships the blocks of a TSDB directory with --label external labels
 *   dump     the samples of one block (--id), aggregates of a downsampled one (--aggr) */
#include <errno.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cmd/cmd.h"
#include "objstore/objstore.h"
#include "shipper/shipper.h"
#include "tsdb/aggrchunk.h"
#include "tsdb/block.h"
#include "tsdb/meta.h"
#include "util/timeutil.h"

typedef struct bblock {
    char ulid[ULID_LEN + 1];
    bool has_meta;
    block_meta_t meta; /* when has_meta and parsed */
    bool meta_ok;
    char meta_err[PL_ERR_MAX];
    int64_t size; /* sum of the objects under the block */
    char **files; /* object names under the block, relative */
    int64_t *sizes;
    size_t nfiles;
} bblock_t;

typedef struct scan {
    objstore_t *b;
    bblock_t *v;
    size_t n;
    pl_err_t *err;
} scan_t;

typedef struct files_ctx {
    objstore_t *b;
    bblock_t *blk;
    pl_err_t *err;
} files_ctx_t;

static int add_file(void *ctx, const char *name) {
    files_ctx_t *f = ctx;
    objstore_attrs_t a = {0};
    if (objstore_attributes(f->b, name, &a, f->err) < 0) return 1;
    bblock_t *k = f->blk;
    char **nf = realloc(k->files, (k->nfiles + 1) * sizeof *nf);
    int64_t *ns = realloc(k->sizes, (k->nfiles + 1) * sizeof *ns);
    if (!nf || !ns) abort();
    k->files = nf;
    k->sizes = ns;
    k->files[k->nfiles] = strdup(name + ULID_LEN + 1);
    k->sizes[k->nfiles++] = a.size;
    k->size += a.size;
    if (!strcmp(name + ULID_LEN + 1, "meta.json")) k->has_meta = true;
    return 0;
}

static int add_block(void *ctx, const char *name) {
    scan_t *s = ctx;
    if (strlen(name) != ULID_LEN + 1 || name[ULID_LEN] != '/') return 0;
    char ulid[ULID_LEN + 1];
    memcpy(ulid, name, ULID_LEN);
    ulid[ULID_LEN] = '\0';
    if (!block_ulid_valid(ulid)) return 0;
    bblock_t *nv = realloc(s->v, (s->n + 1) * sizeof *nv);
    if (!nv) abort();
    s->v = nv;
    bblock_t *k = &s->v[s->n++];
    memset(k, 0, sizeof *k);
    memcpy(k->ulid, ulid, sizeof k->ulid);
    files_ctx_t fc = {s->b, k, s->err};
    if (objstore_iter(s->b, ulid, true, add_file, &fc, s->err) != 0) return 1;
    if (k->has_meta) {
        strbuf_t key = STRBUF_INIT, body = STRBUF_INIT;
        strbuf_printf(&key, "%s/meta.json", ulid);
        pl_err_t e = {{0}};
        if (objstore_get(s->b, key.data, 0, -1, &body, &e) < 0) {
            snprintf(k->meta_err, sizeof k->meta_err, "%s", e.msg);
        } else if (block_meta_parse(body.data ? body.data : "", body.len, &k->meta, &e) < 0) {
            snprintf(k->meta_err, sizeof k->meta_err, "%s", e.msg);
        } else {
            k->meta_ok = true;
        }
        strbuf_free(&key);
        strbuf_free(&body);
    }
    return 0;
}

static void free_blocks(scan_t *s) {
    for (size_t i = 0; i < s->n; i++) {
        if (s->v[i].meta_ok) block_meta_free(&s->v[i].meta);
        for (size_t j = 0; j < s->v[i].nfiles; j++) free(s->v[i].files[j]);
        free(s->v[i].files);
        free(s->v[i].sizes);
    }
    free(s->v);
}

static int by_mint(const void *a, const void *b) {
    const bblock_t *x = a, *y = b;
    int64_t mx = x->meta_ok ? x->meta.min_time : INT64_MAX, my = y->meta_ok ? y->meta.min_time : INT64_MAX;
    if (mx != my) return mx < my ? -1 : 1;
    return strcmp(x->ulid, y->ulid);
}

static void labels_of(const bblock_t *k, strbuf_t *sb) {
    json_t *l = k->meta_ok && k->meta.thanos ? json_object_get((json_t *)k->meta.thanos, "labels") : NULL;
    const char *key;
    json_t *v;
    bool first = true;
    strbuf_putc(sb, '{');
    json_object_foreach(l, key, v) {
        strbuf_printf(sb, "%s%s=\"%s\"", first ? "" : ",", key, json_string_value(v) ? json_string_value(v) : "");
        first = false;
    }
    strbuf_putc(sb, '}');
}

static int64_t resolution_of(const bblock_t *k) {
    json_t *t = k->meta_ok ? k->meta.thanos : NULL;
    return t ? json_integer_value(json_object_get(json_object_get(t, "downsample"), "resolution")) : 0;
}

static const char *source_of(const bblock_t *k) {
    json_t *t = k->meta_ok ? k->meta.thanos : NULL;
    const char *s = t ? json_string_value(json_object_get(t, "source")) : NULL;
    return s ? s : "";
}

static int find_file(const bblock_t *k, const char *rel) {
    for (size_t i = 0; i < k->nfiles; i++)
        if (!strcmp(k->files[i], rel)) return (int)i;
    return -1;
}

static int verify(scan_t *s) {
    int issues = 0;
    for (size_t i = 0; i < s->n; i++) {
        bblock_t *k = &s->v[i];
        if (!k->has_meta) {
            printf("issue=partial_upload block=%s msg=\"no meta.json: an upload in progress or interrupted; not a block\"\n", k->ulid);
            issues++;
            continue;
        }
        if (!k->meta_ok) {
            printf("issue=bad_meta block=%s msg=\"%s\"\n", k->ulid, k->meta_err);
            issues++;
            continue;
        }
        json_t *files = k->meta.thanos ? json_object_get((json_t *)k->meta.thanos, "files") : NULL, *f;
        if (json_array_size(files) == 0 && find_file(k, "index") < 0) /* else the list below reports it */
            printf("issue=missing_file block=%s file=index\n", k->ulid), issues++;
        bool chunks = false;
        for (size_t j = 0; j < k->nfiles; j++) chunks |= !strncmp(k->files[j], "chunks/", 7);
        if (!chunks && k->meta.num_samples > 0) printf("issue=missing_file block=%s file=chunks/\n", k->ulid), issues++;
        size_t j;
        json_array_foreach(files, j, f) {
            const char *rel = json_string_value(json_object_get(f, "rel_path"));
            if (!rel) continue;
            int at = find_file(k, rel);
            json_t *sz = json_object_get(f, "size_bytes");
            if (at < 0) {
                printf("issue=missing_file block=%s file=%s\n", k->ulid, rel);
                issues++;
            } else if (json_is_integer(sz) && json_integer_value(sz) != k->sizes[at]) {
                printf("issue=size_mismatch block=%s file=%s want=%lld got=%lld\n", k->ulid, rel,
                       (long long)json_integer_value(sz), (long long)k->sizes[at]);
                issues++;
            }
        }
    }
    for (size_t i = 0; i < s->n; i++) {
        for (size_t j = i + 1; j < s->n; j++) {
            bblock_t *a = &s->v[i], *b = &s->v[j];
            if (!a->meta_ok || !b->meta_ok || resolution_of(a) != resolution_of(b)) continue;
            /* blocks marked for deletion (compaction inputs waiting for --delete-delay) overlap their successor by design */
            if (find_file(a, "deletion-mark.json") >= 0 || find_file(b, "deletion-mark.json") >= 0) continue;
            strbuf_t la = STRBUF_INIT, lb = STRBUF_INIT;
            labels_of(a, &la);
            labels_of(b, &lb);
            if (!strcmp(la.data, lb.data) && a->meta.min_time < b->meta.max_time && b->meta.min_time < a->meta.max_time) {
                printf("issue=overlap blocks=%s,%s labels=%s ranges=[%lld,%lld),[%lld,%lld)\n", a->ulid, b->ulid, la.data,
                       (long long)a->meta.min_time, (long long)a->meta.max_time, (long long)b->meta.min_time,
                       (long long)b->meta.max_time);
                issues++;
            }
            strbuf_free(&la);
            strbuf_free(&lb);
        }
    }
    printf("%zu blocks checked, %d issues\n", s->n, issues);
    return issues ? 1 : 0;
}

static void usage(FILE *out) {
    fprintf(out, "usage: promlab tool bucket ls|inspect|verify (--objstore.config-file=FILE | --objstore.config=YAML) [-o wide|json]\n"
                 "       promlab tool bucket upload-blocks (--objstore.config-file=FILE | --objstore.config=YAML) --path=DIR "
                 "--label=NAME=VALUE...\n"
                 "       promlab tool bucket dump (--objstore.config-file=FILE | --objstore.config=YAML) --id=ULID "
                 "[--aggr=count|sum|min|max|counter]\n");
}

/* upload-blocks (Thanos's `tools bucket upload-blocks`): ships every block of
 * a TSDB directory (any compaction level) with the given external labels, as
 * the sidecar's shipper does (source "bucket.upload"); records them in
 * DIR/thanos.shipper.json so a second run uploads nothing twice. */
static int upload_blocks(objstore_t *b, const char *path, const char **labels, size_t nlabels) {
    pl_err_t err = {{0}};
    if (!path || nlabels == 0) {
        fprintf(stderr, "promlab tool bucket upload-blocks: --path and at least one --label are required\n");
        return 2;
    }
    label_t *ls = calloc(nlabels, sizeof *ls);
    char **copies = calloc(nlabels, sizeof *copies);
    int rc = 0;
    for (size_t i = 0; i < nlabels && rc == 0; i++) {
        copies[i] = strdup(labels[i]);
        char *eq = copies[i] ? strchr(copies[i], '=') : NULL;
        if (!eq || eq == copies[i]) {
            fprintf(stderr, "promlab tool bucket upload-blocks: --label %s: want NAME=VALUE\n", labels[i]);
            rc = 2;
            break;
        }
        *eq = '\0';
        ls[i].name = copies[i];
        ls[i].value = eq + 1;
    }
    shipper_t *s = NULL;
    if (rc == 0) {
        shipper_opts_t o = {.tsdb_path = path, .bucket = b, .upload_compacted = true, .source = "bucket.upload"};
        if (!(s = shipper_new(&o, &err)) || shipper_set_labels(s, ls, nlabels, &err) != 0) rc = 1;
    }
    int n = 0;
    if (rc == 0 && shipper_sync(s, &n, &err) != 0) rc = 1;
    if (rc == 1) fprintf(stderr, "promlab tool bucket upload-blocks: %s\n", err.msg);
    if (rc == 0) printf("uploaded %d blocks from %s\n", n, path);
    shipper_free(s);
    for (size_t i = 0; i < nlabels; i++)
        free(copies[i]);
    free(copies);
    free(ls);
    return rc;
}

static bool has_deletion_mark(const bblock_t *k) { return find_file(k, "deletion-mark.json") >= 0; }

/* dump: every sample of one block, downloaded to a temporary directory, one
 * line each as promtool tsdb dump prints them: {labels} value timestamp.
 * Downsampled blocks (aggregate chunks) print one aggregate, --aggr
 * count|sum|min|max|counter (default count); counter with resets applied
 * across the series' chunks (aggr_counter_feed), as a querier reads it. */
static void print_series_labels(const index_series_t *s) {
    putchar('{');
    for (size_t i = 0; i < s->nlabels; i++)
        printf("%s%s=\"%s\"", i ? ", " : "", s->labels[i].name, s->labels[i].value);
    putchar('}');
}

static int dump_block(objstore_t *b, const bblock_t *k, const char *aggr) {
    int at = -1;
    for (int t = 0; t < AGGR_N; t++)
        if (!strcmp(aggr, aggr_type_name((enum aggr_type)t))) at = t;
    if (at < 0) {
        fprintf(stderr, "promlab tool bucket dump: --aggr must be count, sum, min, max or counter\n");
        return 2;
    }
    signal(SIGPIPE, SIG_IGN); /* a reader that stops early (| head) must not leave the temporary dir behind */
    char dir[] = "/tmp/promlab-dump.XXXXXX";
    if (!mkdtemp(dir)) {
        fprintf(stderr, "promlab tool bucket dump: mkdtemp: %s\n", strerror(errno));
        return 1;
    }
    pl_err_t err = {{0}};
    int rc = 0;
    char path[4200], obj[128];
    snprintf(path, sizeof path, "%s/chunks", dir);
    mkdir(path, 0700);
    for (size_t i = 0; i < k->nfiles && rc == 0; i++) {
        const char *rel = k->files[i];
        if (strcmp(rel, "meta.json") && strcmp(rel, "index") && strncmp(rel, "chunks/", 7)) continue;
        snprintf(obj, sizeof obj, "%s/%s", k->ulid, rel);
        snprintf(path, sizeof path, "%s/%s", dir, rel);
        if (objstore_get_to_file(b, obj, path, &err) != 0) rc = 1;
    }
    block_t *blk = rc == 0 ? block_open(dir, &err) : NULL;
    uint32_t *ids = NULL;
    size_t nids = 0;
    index_series_t s = {0};
    if (!blk || index_reader_postings(blk->index, "", "", &ids, &nids, &err) != 0) rc = 1;
    for (size_t i = 0; i < nids && rc == 0; i++) {
        if (index_reader_series(blk->index, ids[i], &s, &err) != 0) {
            rc = 1;
            break;
        }
        aggr_counter_state_t st = {0};
        for (size_t c = 0; c < s.nchks && rc == 0; c++) {
            uint8_t enc;
            const uint8_t *data;
            size_t len;
            if (chunk_reader_get(blk->chunks, s.chks[c].ref, &enc, &data, &len, &err) != 0) {
                rc = 1;
                break;
            }
            xor_iter_t it;
            aggrchunk_t ac;
            if (enc == CHUNKENC_XOR) {
                xor_iter_init(&it, data, len);
            } else if (enc == AGGRCHUNK_ENCODING) {
                if (aggrchunk_parse(data, len, &ac, &err) != 0) {
                    rc = 1;
                    break;
                }
                if (!aggrchunk_iter(&ac, (enum aggr_type)at, &it)) continue;
            } else {
                pl_err_set(&err, "chunk of unknown encoding %u", enc);
                rc = 1;
                break;
            }
            while (xor_iter_next(&it)) {
                int64_t t;
                double v;
                xor_iter_at(&it, &t, &v);
                if (enc == AGGRCHUNK_ENCODING && at == AGGR_COUNTER && !aggr_counter_feed(&st, t, v, &t, &v)) continue;
                char num[400];
                pl_format_float(num, v);
                print_series_labels(&s);
                printf(" %s %lld\n", num, (long long)t);
                if (ferror(stdout)) {
                    pl_err_set(&err, "write to stdout failed");
                    rc = 1;
                    break;
                }
            }
            if (xor_iter_err(&it)) {
                pl_err_set(&err, "malformed chunk at ref %llu", (unsigned long long)s.chks[c].ref);
                rc = 1;
            }
        }
    }
    if (rc != 0) fprintf(stderr, "promlab tool bucket dump: block %s: %s\n", k->ulid, err.msg);
    index_series_free(&s);
    free(ids);
    block_close(blk);
    block_rm_rf(dir);
    return rc;
}

int cmd_tool_bucket(int argc, char **argv) {
    if (argc < 1 || !strcmp(argv[0], "--help") || !strcmp(argv[0], "-h")) {
        usage(argc < 1 ? stderr : stdout);
        return argc < 1 ? 2 : 0;
    }
    const char *sub = argv[0], *file = NULL, *inline_cfg = NULL, *output = "", *path = NULL, *id = NULL, *aggr = "count";
    const char **labels = calloc((size_t)argc + 1, sizeof *labels);
    size_t nlabels = 0;
    if (!labels) return 1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strncmp(a, "--objstore.config-file=", 23)) file = a + 23;
        else if (!strcmp(a, "--objstore.config-file") && i + 1 < argc) file = argv[++i];
        else if (!strncmp(a, "--objstore.config=", 18)) inline_cfg = a + 18;
        else if (!strcmp(a, "--objstore.config") && i + 1 < argc) inline_cfg = argv[++i];
        else if (!strncmp(a, "--output=", 9)) output = a + 9;
        else if ((!strcmp(a, "-o") || !strcmp(a, "--output")) && i + 1 < argc) output = argv[++i];
        else if (!strncmp(a, "--id=", 5)) id = a + 5;
        else if (!strcmp(a, "--id") && i + 1 < argc) id = argv[++i];
        else if (!strncmp(a, "--aggr=", 7)) aggr = a + 7;
        else if (!strcmp(a, "--aggr") && i + 1 < argc) aggr = argv[++i];
        else if (!strncmp(a, "--path=", 7)) path = a + 7;
        else if (!strcmp(a, "--path") && i + 1 < argc) path = argv[++i];
        else if (!strncmp(a, "--label=", 8)) labels[nlabels++] = a + 8;
        else if (!strcmp(a, "--label") && i + 1 < argc) labels[nlabels++] = argv[++i];
        else {
            free(labels);
            fprintf(stderr, "promlab tool bucket %s: unknown argument %s\n", sub, a);
            usage(stderr);
            return 2;
        }
    }
    if (strcmp(sub, "ls") && strcmp(sub, "inspect") && strcmp(sub, "verify") && strcmp(sub, "upload-blocks") && strcmp(sub, "dump")) {
        free(labels);
        fprintf(stderr, "promlab tool bucket: unknown command %s\n", sub);
        usage(stderr);
        return 2;
    }
    if (!file == !inline_cfg) {
        free(labels);
        fprintf(stderr, "promlab tool bucket %s: give exactly one of --objstore.config-file and --objstore.config\n", sub);
        return 2;
    }
    if (*output && strcmp(output, "wide") && strcmp(output, "json")) {
        free(labels);
        fprintf(stderr, "promlab tool bucket %s: -o must be wide or json\n", sub);
        return 2;
    }
    pl_err_t err = {{0}};
    int rc;
    objstore_t *b = objstore_open_flags(file, inline_cfg, &err);
    if (!b) {
        fprintf(stderr, "promlab tool bucket %s: %s\n", sub, err.msg);
        free(labels);
        return 1;
    }
    if (!strcmp(sub, "upload-blocks")) {
        rc = upload_blocks(b, path, labels, nlabels);
        free(labels);
        objstore_close(b);
        return rc;
    }
    free(labels);
    scan_t s = {.b = b, .err = &err};
    char one[ULID_LEN + 2];
    snprintf(one, sizeof one, "%.*s/", ULID_LEN, id ? id : "");
    if (!strcmp(sub, "dump") ? (id && strlen(id) == ULID_LEN && add_block(&s, one) != 0) /* only that block */
                             : objstore_iter(b, "", false, add_block, &s, &err) != 0) {
        fprintf(stderr, "promlab tool bucket %s: %s\n", sub, err.msg);
        free_blocks(&s);
        objstore_close(b);
        return 1;
    }
    if (s.n) qsort(s.v, s.n, sizeof *s.v, by_mint);
    rc = 0;
    if (!strcmp(sub, "dump")) {
        const bblock_t *k = NULL;
        for (size_t i = 0; i < s.n && !k; i++)
            if (id && !strcmp(s.v[i].ulid, id) && s.v[i].meta_ok) k = &s.v[i];
        if (!k) {
            fprintf(stderr, "promlab tool bucket dump: no block %s in the bucket (give --id=ULID)\n", id ? id : "");
            rc = 2;
        } else {
            rc = dump_block(b, k, aggr);
        }
    } else if (!strcmp(sub, "verify")) {
        rc = verify(&s);
    } else {
        bool table = !strcmp(sub, "inspect");
        if (table)
            printf("%-26s  %-24s  %-24s  %-14s  %8s  %10s  %8s  %10s  %10s  %-9s  %12s  %s\n", "ULID", "FROM", "UNTIL", "RANGE",
                   "#SERIES", "#SAMPLES", "#CHUNKS", "COMP-LEVEL", "RESOLUTION", "SOURCE", "SIZE", "LABELS");
        for (size_t i = 0; i < s.n; i++) {
            bblock_t *k = &s.v[i];
            if (!k->meta_ok) continue; /* partial uploads and broken metas are not blocks (see verify) */
            if (!table && !*output) {
                printf("%s\n", k->ulid);
                continue;
            }
            if (!strcmp(output, "json") && !table) {
                strbuf_t js = STRBUF_INIT;
                block_meta_render(&k->meta, &js);
                json_t *j = json_loadb(js.data, js.len, 0, NULL);
                char *c = j ? json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
                printf("%s\n", c ? c : "{}");
                free(c);
                json_decref(j);
                strbuf_free(&js);
                continue;
            }
            char from[40], until[40], range[64];
            pl_format_rfc3339(from, sizeof from, k->meta.min_time);
            pl_format_rfc3339(until, sizeof until, k->meta.max_time);
            pl_format_duration(range, sizeof range, k->meta.max_time - k->meta.min_time);
            strbuf_t l = STRBUF_INIT;
            labels_of(k, &l);
            if (table)
                printf("%-26s  %-24s  %-24s  %-14s  %8llu  %10llu  %8llu  %10d  %10lld  %-9s  %12lld  %s\n", k->ulid, from,
                       until, range, (unsigned long long)k->meta.num_series, (unsigned long long)k->meta.num_samples,
                       (unsigned long long)k->meta.num_chunks, k->meta.level, (long long)resolution_of(k), source_of(k),
                       (long long)k->size, l.data);
            else
                printf("%s -- %s - %s (%s) -- labels %s, resolution %lld, level %d, %lld bytes%s\n", k->ulid, from, until,
                       range, l.data, (long long)resolution_of(k), k->meta.level, (long long)k->size,
                       has_deletion_mark(k) ? ", marked for deletion" : "");
            strbuf_free(&l);
        }
    }
    free_blocks(&s);
    objstore_close(b);
    return rc;
}
