/* tool.c — `promlab tool`: promtool's TSDB commands over Prometheus-format
 * data directories.
 *
 *   promlab tool tsdb list [-r] DIR
 *   promlab tool tsdb analyze [--limit=N] DIR [ULID]
 *   promlab tool tsdb dump [--min-time=T] [--max-time=T] [--match=SELECTOR] DIR
 *   promlab tool tsdb create-blocks-from openmetrics [-r] [-q] [--max-block-duration=D] INPUT [OUTDIR]
 *   promlab tool tsdb compact [--max-block-duration=D] DIR      (not in promtool)
 *
 * Output follows promtool 2.42 line for line (tables laid out as Go's
 * tabwriter with padding 2, durations as Go prints them, samples as
 * `{labels} value timestamp`), so scripts written against promtool work.
 * Ties in analyze's rankings, which promtool leaves to Go's map order, are
 * broken by name here. dump reads the blocks only (not the WAL). */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <xxhash.h>

#include "cmd/cmd.h"
#include "model/labels.h"
#include "model/matcher.h"
#include "textparse/textparse.h"
#include "promql/conformance.h"
#include "tsdb/block.h"
#include "tsdb/compact.h"
#include "tsdb/querier.h"
#include "util/strbuf.h"
#include "util/timeutil.h"

/* ---- formatting as Go does --------------------------------------------------- */

/* time.Duration(ms * 1e6).String() */
static void go_duration_ms(strbuf_t *sb, int64_t ms) {
    if (ms == 0) {
        strbuf_puts(sb, "0s");
        return;
    }
    if (ms < 0) {
        strbuf_putc(sb, '-');
        ms = -ms;
    }
    if (ms < 1000) {
        strbuf_printf(sb, "%" PRId64 "ms", ms);
        return;
    }
    int64_t h = ms / 3600000, m = ms / 60000 % 60, s = ms / 1000 % 60, frac = ms % 1000;
    if (h) strbuf_printf(sb, "%" PRId64 "h", h);
    if (h || m) strbuf_printf(sb, "%" PRId64 "m", m);
    strbuf_printf(sb, "%" PRId64, s);
    if (frac) {
        char f[8];
        snprintf(f, sizeof f, "%03" PRId64, frac);
        for (int i = 2; i > 0 && f[i] == '0'; i--)
            f[i] = '\0';
        strbuf_printf(sb, ".%s", f);
    }
    strbuf_putc(sb, 's');
}

/* alecthomas/units Base2Bytes.String(): "870B", "1KiB512B", "2MiB". */
static void go_base2_bytes(strbuf_t *sb, uint64_t n) {
    static const char *u[] = {"EiB", "PiB", "TiB", "GiB", "MiB", "KiB", "B"};
    if (n == 0) {
        strbuf_puts(sb, "0B");
        return;
    }
    for (int i = 0; i < 7; i++) {
        uint64_t unit = 1ull << (10 * (6 - i));
        if (n >= unit) {
            strbuf_printf(sb, "%" PRIu64 "%s", n / unit, u[i]);
            n %= unit;
        }
    }
}

/* time.Unix(ms / 1000, 0).UTC().String(): promtool drops the milliseconds */
static void go_time_utc(strbuf_t *sb, int64_t ms) {
    time_t s = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&s, &tm);
    char b[64];
    strftime(b, sizeof b, "%Y-%m-%d %H:%M:%S", &tm);
    strbuf_puts(sb, b);
    strbuf_puts(sb, " +0000 UTC");
}

/* A table laid out as text/tabwriter.NewWriter(out, 0, 0, 2, ' ', 0). */
typedef struct table {
    char **cells;
    size_t ncols, nrows, cap;
    size_t minwidth; /* a column is at least this wide, padding included */
} table_t;

static void table_row(table_t *t, char **cells) {
    if (t->nrows == t->cap) {
        t->cap = t->cap ? t->cap * 2 : 16;
        t->cells = realloc(t->cells, t->cap * t->ncols * sizeof *t->cells);
        if (!t->cells) abort();
    }
    for (size_t i = 0; i < t->ncols; i++)
        t->cells[t->nrows * t->ncols + i] = cells[i];
    t->nrows++;
}

static void table_print(table_t *t, FILE *out) {
    size_t *w = calloc(t->ncols, sizeof *w);
    for (size_t r = 0; r < t->nrows; r++)
        for (size_t c = 0; c + 1 < t->ncols; c++) {
            size_t l = strlen(t->cells[r * t->ncols + c]);
            if (l > w[c]) w[c] = l;
        }
    for (size_t r = 0; r < t->nrows; r++) {
        for (size_t c = 0; c < t->ncols; c++) {
            const char *s = t->cells[r * t->ncols + c];
            if (c + 1 < t->ncols)
                fprintf(out, "%-*s", (int)(w[c] + 2 > t->minwidth ? w[c] + 2 : t->minwidth), s);
            else
                fputs(s, out);
        }
        fputc('\n', out);
    }
    for (size_t i = 0; i < t->nrows * t->ncols; i++)
        free(t->cells[i]);
    free(t->cells);
    free(w);
}

static char *xstrdup_sb(strbuf_t *sb) {
    char *s = strbuf_detach(sb);
    return s ? s : strdup("");
}

/* ---- opening a data dir -------------------------------------------------------- */

typedef struct blocks {
    block_t **v;
    size_t n;
} blocks_t;

static int cmp_block_time(const void *a, const void *b) {
    const block_t *x = *(block_t *const *)a, *y = *(block_t *const *)b;
    if (x->meta.min_time != y->meta.min_time) return x->meta.min_time < y->meta.min_time ? -1 : 1;
    return strcmp(x->meta.ulid, y->meta.ulid);
}

static void blocks_close(blocks_t *bs) {
    for (size_t i = 0; i < bs->n; i++)
        block_close(bs->v[i]);
    free(bs->v);
    bs->v = NULL;
    bs->n = 0;
}

static int blocks_open(const char *dir, blocks_t *bs, pl_err_t *err) {
    char **names;
    size_t n;
    bs->v = NULL;
    bs->n = 0;
    if (block_dir_list(dir, &names, &n, err) != 0) return -1;
    bs->v = calloc(n ? n : 1, sizeof *bs->v);
    if (!bs->v) {
        block_dir_list_free(names, n);
        return pl_err_set(err, "out of memory");
    }
    for (size_t i = 0; i < n; i++) {
        char p[4200];
        snprintf(p, sizeof p, "%s/%s", dir, names[i]);
        block_t *b = block_open(p, err);
        if (!b) {
            block_dir_list_free(names, n);
            blocks_close(bs);
            return -1;
        }
        bs->v[bs->n++] = b;
    }
    block_dir_list_free(names, n);
    qsort(bs->v, bs->n, sizeof *bs->v, cmp_block_time);
    return 0;
}

/* ---- list ----------------------------------------------------------------------- */

static void print_blocks(block_t *const *v, size_t n, bool human, FILE *out) {
    table_t t = {.ncols = 8, .minwidth = 13};
    char *hdr[8] = {strdup("BLOCK ULID"),  strdup("MIN TIME"),   strdup("MAX TIME"),   strdup("DURATION"),
                    strdup("NUM SAMPLES"), strdup("NUM CHUNKS"), strdup("NUM SERIES"), strdup("SIZE")};
    table_row(&t, hdr);
    for (size_t i = 0; i < n; i++) {
        const block_meta_t *m = &v[i]->meta;
        strbuf_t sb = STRBUF_INIT;
        char *row[8];
        row[0] = strdup(m->ulid);
        if (human) {
            go_time_utc(&sb, m->min_time);
            row[1] = xstrdup_sb(&sb);
            go_time_utc(&sb, m->max_time);
            row[2] = xstrdup_sb(&sb);
        } else {
            strbuf_printf(&sb, "%" PRId64, m->min_time);
            row[1] = xstrdup_sb(&sb);
            strbuf_printf(&sb, "%" PRId64, m->max_time);
            row[2] = xstrdup_sb(&sb);
        }
        go_duration_ms(&sb, m->max_time - m->min_time);
        row[3] = xstrdup_sb(&sb);
        strbuf_printf(&sb, "%" PRIu64, m->num_samples);
        row[4] = xstrdup_sb(&sb);
        strbuf_printf(&sb, "%" PRIu64, m->num_chunks);
        row[5] = xstrdup_sb(&sb);
        strbuf_printf(&sb, "%" PRIu64, m->num_series);
        row[6] = xstrdup_sb(&sb);
        if (human)
            go_base2_bytes(&sb, v[i]->size_bytes);
        else
            strbuf_printf(&sb, "%" PRIu64, v[i]->size_bytes);
        row[7] = xstrdup_sb(&sb);
        table_row(&t, row);
    }
    table_print(&t, out);
}

static int tsdb_list(const char *dir, bool human) {
    blocks_t bs;
    pl_err_t err = {{0}};
    if (blocks_open(dir, &bs, &err) != 0) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    print_blocks(bs.v, bs.n, human, stdout);
    blocks_close(&bs);
    return 0;
}

/* ---- analyze ----------------------------------------------------------------- */

typedef struct kv {
    char *key;
    uint64_t metric;
} kv_t;

typedef struct kvmap {
    kv_t *v;
    size_t cap, n;
} kvmap_t;

static kv_t *kv_get(kvmap_t *m, const char *key) {
    if (m->n * 2 >= m->cap) {
        size_t nc = m->cap ? m->cap * 2 : 256;
        kv_t *nv = calloc(nc, sizeof *nv);
        if (!nv) abort();
        for (size_t i = 0; i < m->cap; i++) {
            if (!m->v[i].key) continue;
            size_t h = XXH3_64bits(m->v[i].key, strlen(m->v[i].key)) & (nc - 1);
            while (nv[h].key)
                h = (h + 1) & (nc - 1);
            nv[h] = m->v[i];
        }
        free(m->v);
        m->v = nv;
        m->cap = nc;
    }
    size_t h = XXH3_64bits(key, strlen(key)) & (m->cap - 1);
    while (m->v[h].key) {
        if (strcmp(m->v[h].key, key) == 0) return &m->v[h];
        h = (h + 1) & (m->cap - 1);
    }
    m->v[h].key = strdup(key);
    m->v[h].metric = 0;
    m->n++;
    return &m->v[h];
}

static void kvmap_free(kvmap_t *m) {
    for (size_t i = 0; i < m->cap; i++)
        free(m->v[i].key);
    free(m->v);
    memset(m, 0, sizeof *m);
}

static int cmp_kv(const void *a, const void *b) {
    const kv_t *x = a, *y = b;
    if (x->metric != y->metric) return x->metric > y->metric ? -1 : 1;
    return strcmp(x->key, y->key);
}

static void print_ranked(kv_t *v, size_t n, size_t limit) {
    qsort(v, n, sizeof *v, cmp_kv);
    for (size_t i = 0; i < n && i < limit; i++)
        printf("%" PRIu64 " %s\n", v[i].metric, v[i].key);
}

/* Ranks a map: metric transformed by scale (churn) if span > 0. */
static void print_map(kvmap_t *m, size_t limit, int64_t span) {
    kv_t *v = malloc((m->n + 1) * sizeof *v);
    size_t k = 0;
    for (size_t i = 0; i < m->cap; i++)
        if (m->v[i].key) {
            v[k] = m->v[i];
            if (span > 0) v[k].metric = (uint64_t)((double)v[k].metric / (double)span);
            k++;
        }
    print_ranked(v, k, limit);
    free(v);
}

typedef struct names_ctx {
    char **v;
    size_t n, cap;
} names_ctx_t;

static int names_add(void *ctx, const char *s) {
    names_ctx_t *c = ctx;
    if (c->n == c->cap) {
        c->cap = c->cap ? c->cap * 2 : 32;
        c->v = realloc(c->v, c->cap * sizeof *c->v);
        if (!c->v) abort();
    }
    c->v[c->n++] = strdup(s);
    return 0;
}

static void names_free(names_ctx_t *c) {
    for (size_t i = 0; i < c->n; i++)
        free(c->v[i]);
    free(c->v);
    memset(c, 0, sizeof *c);
}

static int tsdb_analyze(const char *dir, const char *ulid, size_t limit) {
    blocks_t bs;
    pl_err_t err = {{0}};
    if (blocks_open(dir, &bs, &err) != 0) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    block_t *b = NULL;
    if (ulid) {
        for (size_t i = 0; i < bs.n; i++)
            if (strcmp(bs.v[i]->meta.ulid, ulid) == 0) b = bs.v[i];
        if (!b) fprintf(stderr, "block %s not found\n", ulid);
    } else if (bs.n > 0) {
        b = bs.v[bs.n - 1];
    } else {
        fprintf(stderr, "no blocks found\n");
    }
    if (!b) {
        blocks_close(&bs);
        return 1;
    }
    const block_meta_t *m = &b->meta;
    index_reader_t *ir = b->index;
    strbuf_t sb = STRBUF_INIT;
    go_duration_ms(&sb, m->max_time - m->min_time);
    printf("Block ID: %s\nDuration: %s\nSeries: %" PRIu64 "\n", m->ulid, sb.data, m->num_series);
    strbuf_free(&sb);
    names_ctx_t names = {0};
    index_reader_label_names(ir, names_add, &names);
    printf("Label names: %zu\n", names.n);

    kvmap_t uncov_names = {0}, uncov_pairs = {0}, pair_count = {0};
    uint64_t entries = 0;
    uint32_t *ids;
    size_t nids;
    int rc = 0;
    if (index_reader_postings(ir, "", "", &ids, &nids, &err) != 0) {
        fprintf(stderr, "%s\n", err.msg);
        rc = 1;
        nids = 0;
    }
    index_series_t s = {0};
    uint64_t span = (uint64_t)(m->max_time - m->min_time);
    strbuf_t key = STRBUF_INIT;
    for (size_t i = 0; i < nids; i++) {
        if (index_reader_series(ir, ids[i], &s, &err) != 0) {
            fprintf(stderr, "%s\n", err.msg);
            rc = 1;
            break;
        }
        if (s.nchks == 0) continue;
        uint64_t uncovered = span - (uint64_t)(s.chks[s.nchks - 1].maxt - s.chks[0].mint);
        for (size_t k = 0; k < s.nlabels; k++) {
            strbuf_reset(&key);
            strbuf_printf(&key, "%s=%s", s.labels[k].name, s.labels[k].value);
            kv_get(&uncov_names, s.labels[k].name)->metric += uncovered;
            kv_get(&uncov_pairs, key.data)->metric += uncovered;
            kv_get(&pair_count, key.data)->metric++;
            entries++;
        }
    }
    strbuf_free(&key);
    index_series_free(&s);
    free(ids);
    printf("Postings (unique label pairs): %zu\n", uncov_pairs.n);
    printf("Postings entries (total label pairs): %" PRIu64 "\n", entries);
    printf("\nLabel pairs most involved in churning:\n");
    print_map(&uncov_pairs, limit, (int64_t)span);
    printf("\nLabel names most involved in churning:\n");
    print_map(&uncov_names, limit, (int64_t)span);
    printf("\nMost common label pairs:\n");
    print_map(&pair_count, limit, 0);

    kv_t *v = malloc((names.n + 1) * sizeof *v);
    for (size_t i = 0; i < names.n; i++) {
        names_ctx_t vals = {0};
        index_reader_label_values(ir, names.v[i], names_add, &vals);
        uint64_t cum = 0;
        for (size_t k = 0; k < vals.n; k++)
            cum += strlen(vals.v[k]);
        v[i] = (kv_t){names.v[i], cum};
        names_free(&vals);
    }
    printf("\nLabel names with highest cumulative label value length:\n");
    print_ranked(v, names.n, limit);
    for (size_t i = 0; i < names.n; i++)
        v[i] = (kv_t){names.v[i], index_reader_num_label_values(ir, names.v[i])};
    printf("\nHighest cardinality labels:\n");
    print_ranked(v, names.n, limit);
    free(v);

    names_ctx_t metrics = {0};
    index_reader_label_values(ir, LABEL_METRIC_NAME, names_add, &metrics);
    v = malloc((metrics.n + 1) * sizeof *v);
    for (size_t i = 0; i < metrics.n; i++) {
        uint32_t *p;
        size_t np = 0;
        if (index_reader_postings(ir, LABEL_METRIC_NAME, metrics.v[i], &p, &np, &err) == 0) free(p);
        v[i] = (kv_t){metrics.v[i], np};
    }
    printf("\nHighest cardinality metric names:\n");
    print_ranked(v, metrics.n, limit);
    free(v);
    names_free(&metrics);
    names_free(&names);
    kvmap_free(&uncov_names);
    kvmap_free(&uncov_pairs);
    kvmap_free(&pair_count);
    blocks_close(&bs);
    return rc;
}

/* ---- dump ----------------------------------------------------------------------- */

typedef struct dump_ctx {
    strbuf_t sb;
    FILE *out;
} dump_ctx_t;

static int dump_series(void *ctx, const label_t *ls, size_t n, const sample_t *s, size_t ns) {
    dump_ctx_t *d = ctx;
    strbuf_reset(&d->sb);
    labels_format_braces(&d->sb, ls, n);
    size_t base = d->sb.len;
    for (size_t i = 0; i < ns; i++) {
        d->sb.len = base;
        strbuf_putc(&d->sb, ' ');
        strbuf_put_float(&d->sb, s[i].v);
        strbuf_printf(&d->sb, " %" PRId64 "\n", s[i].t);
        fwrite(d->sb.data, 1, d->sb.len, d->out);
    }
    return 0;
}

static int tsdb_dump(const char *dir, int64_t mint, int64_t maxt, const char *match) {
    blocks_t bs;
    pl_err_t err = {{0}};
    if (blocks_open(dir, &bs, &err) != 0) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    matcher_t *ms = NULL;
    size_t nms = 0;
    if (!match) {
        /* promtool's default, {__name__=~"(?s:.*)"}: every series. */
        ms = calloc(1, sizeof *ms);
        if (!ms || matcher_init(ms, MATCH_REGEX, LABEL_METRIC_NAME, "(?s:.*)", &err) != 0) {
            fprintf(stderr, "dump: %s\n", err.msg);
            free(ms);
            blocks_close(&bs);
            return 1;
        }
        nms = 1;
    } else if (selector_parse(match, &ms, &nms, &err) != 0) {
        fprintf(stderr, "invalid --match %s: %s\n", match, err.msg);
        blocks_close(&bs);
        return 1;
    }
    querier_t *q = querier_new(bs.v, bs.n, NULL, 0);
    queryable_t qq;
    querier_queryable(q, &qq);
    dump_ctx_t d = {STRBUF_INIT, stdout};
    int rc = qq.select(qq.impl, ms, nms, mint, maxt, dump_series, &d, &err);
    if (rc != 0) fprintf(stderr, "dump: %s\n", err.msg);
    strbuf_free(&d.sb);
    querier_free(q);
    matchers_free(ms, nms);
    blocks_close(&bs);
    return rc != 0;
}

/* ---- create-blocks-from openmetrics ------------------------------------------------- */

typedef struct bf_series {
    char *strs;  /* the label strings, NUL-separated */
    label_t *ls; /* into strs */
    size_t n;
    uint64_t hash;
    sample_t *s;
    size_t ns, cap;
} bf_series_t;

/* Series of one window by label set: open addressing over indexes into v. */
typedef struct bf_map {
    size_t *slots; /* index+1 into v; 0 = empty */
    size_t cap;
    bf_series_t *v;
    size_t n, capv;
} bf_map_t;

static void bf_map_free(bf_map_t *m) {
    for (size_t i = 0; i < m->n; i++) {
        free(m->v[i].strs);
        free(m->v[i].ls);
        free(m->v[i].s);
    }
    free(m->v);
    free(m->slots);
    memset(m, 0, sizeof *m);
}

static uint64_t bf_hash(const label_t *ls, size_t n, strbuf_t *key) {
    strbuf_reset(key);
    for (size_t i = 0; i < n; i++) {
        strbuf_puts(key, ls[i].name);
        strbuf_putc(key, '\xff');
        strbuf_puts(key, ls[i].value);
        strbuf_putc(key, '\xff');
    }
    return XXH3_64bits(key->data, key->len);
}

/* The series with label set ls, created if new; NULL on allocation failure. */
static bf_series_t *bf_get(bf_map_t *m, const label_t *ls, size_t n, strbuf_t *key) {
    uint64_t hash = bf_hash(ls, n, key);
    if (m->cap) {
        size_t h = hash & (m->cap - 1);
        while (m->slots[h]) {
            bf_series_t *s = &m->v[m->slots[h] - 1];
            if (s->hash == hash && labels_equal(s->ls, s->n, ls, n)) return s;
            h = (h + 1) & (m->cap - 1);
        }
    }
    if (m->n * 2 >= m->cap) {
        size_t nc = m->cap ? m->cap * 2 : 1024;
        size_t *ns = calloc(nc, sizeof *ns);
        if (!ns) return NULL;
        for (size_t i = 0; i < m->n; i++) {
            size_t h = m->v[i].hash & (nc - 1);
            while (ns[h])
                h = (h + 1) & (nc - 1);
            ns[h] = i + 1;
        }
        free(m->slots);
        m->slots = ns;
        m->cap = nc;
    }
    if (m->n == m->capv) {
        size_t nc = m->capv ? m->capv * 2 : 1024;
        bf_series_t *nv = realloc(m->v, nc * sizeof *nv);
        if (!nv) return NULL;
        m->v = nv;
        m->capv = nc;
    }
    bf_series_t *s = &m->v[m->n];
    memset(s, 0, sizeof *s);
    size_t bytes = 1;
    for (size_t i = 0; i < n; i++)
        bytes += strlen(ls[i].name) + strlen(ls[i].value) + 2;
    s->strs = malloc(bytes);
    s->ls = malloc((n + 1) * sizeof *s->ls);
    if (!s->strs || !s->ls) {
        free(s->strs);
        free(s->ls);
        return NULL;
    }
    char *p = s->strs;
    for (size_t i = 0; i < n; i++) {
        size_t a = strlen(ls[i].name) + 1, b = strlen(ls[i].value) + 1;
        memcpy(p, ls[i].name, a);
        s->ls[i].name = p;
        p += a;
        memcpy(p, ls[i].value, b);
        s->ls[i].value = p;
        p += b;
    }
    s->n = n;
    s->hash = hash;
    size_t h = hash & (m->cap - 1);
    while (m->slots[h])
        h = (h + 1) & (m->cap - 1);
    m->slots[h] = ++m->n;
    return s;
}

typedef struct bf_sample {
    label_t *ls;
    size_t n, cap;
} bf_labels_t;

/* Builds the sorted label set of a parsed sample into lb. */
static int bf_labels(const textparse_sample_t *ps, bf_labels_t *lb, pl_err_t *err) {
    size_t need = ps->nlabels + 1;
    if (need > lb->cap) {
        label_t *nv = realloc(lb->ls, need * sizeof *nv);
        if (!nv) return pl_err_set(err, "out of memory");
        lb->ls = nv;
        lb->cap = need;
    }
    lb->ls[0] = (label_t){LABEL_METRIC_NAME, ps->name};
    for (size_t i = 0; i < ps->nlabels; i++)
        lb->ls[i + 1] = ps->labels[i];
    lb->n = need;
    labels_sort(lb->ls, lb->n);
    const char *dup;
    if (labels_has_duplicate(lb->ls, lb->n, &dup)) return pl_err_set(err, "duplicate label name %s", dup);
    return 0;
}

static int bf_pass_minmax(const char *body, size_t len, int64_t *mint, int64_t *maxt, pl_err_t *err) {
    textparse_t *p = textparse_new(TEXTPARSE_OPENMETRICS, body, len);
    if (!p) return pl_err_set(err, "out of memory");
    *mint = INT64_MAX;
    *maxt = INT64_MIN;
    textparse_sample_t s;
    enum textparse_entry e;
    int rc = 0;
    while ((e = textparse_next(p, &s, err)) != TEXTPARSE_EOF) {
        if (e == TEXTPARSE_ERROR) {
            rc = -1;
            break;
        }
        if (e != TEXTPARSE_SAMPLE) continue;
        if (!s.has_timestamp) {
            rc = pl_err_set(err, "expected timestamp for series got none");
            break;
        }
        if (s.timestamp_ms < *mint) *mint = s.timestamp_ms;
        if (s.timestamp_ms > *maxt) *maxt = s.timestamp_ms;
    }
    textparse_free(p);
    return rc;
}

static int cmp_block_ptr_ulid(const void *a, const void *b) {
    return strcmp((*(block_t *const *)a)->meta.ulid, (*(block_t *const *)b)->meta.ulid);
}

/* Backfill as promtool's createBlocks: one pass for the time range, then one
 * pass per 2h-aligned window collecting its samples into a block. */
/* promtool's getCompatibleBlockDuration: the largest of Prometheus's
 * compaction ranges (2h, 6h, 18h, ...) not above --max-block-duration. */
static int64_t compatible_block_duration(int64_t max_block_duration) {
    int64_t d = BLOCK_DEFAULT_RANGE_MS, best = d;
    if (max_block_duration <= d) return d;
    for (int i = 0; i < 10; i++, d *= 3) {
        if (d > max_block_duration) break;
        best = d;
    }
    return best;
}

static int create_blocks_openmetrics(const char *input, const char *outdir, int64_t max_block_duration, bool human,
                                     bool quiet) {
    pl_err_t err = {{0}};
    FILE *f = fopen(input, "rb");
    if (!f) {
        fprintf(stderr, "open %s: %s\n", input, strerror(errno));
        return 1;
    }
    strbuf_t body = STRBUF_INIT;
    char buf[1 << 16];
    size_t k;
    while ((k = fread(buf, 1, sizeof buf, f)) > 0)
        strbuf_append(&body, buf, k);
    fclose(f);
    if (mkdir(outdir, 0777) != 0 && errno != EEXIST) {
        fprintf(stderr, "create output dir %s: %s\n", outdir, strerror(errno));
        strbuf_free(&body);
        return 1;
    }
    const char *data = body.data ? body.data : "";
    int64_t mint = 0, maxt = -1;
    if (bf_pass_minmax(data, body.len, &mint, &maxt, &err) != 0) {
        fprintf(stderr, "getting min and max timestamp: %s\n", err.msg);
        strbuf_free(&body);
        return 1;
    }
    const int64_t dur = compatible_block_duration(max_block_duration);
    int rc = 0;
    char **made = NULL;
    size_t nmade = 0;
    bf_labels_t lb = {0};
    strbuf_t key = STRBUF_INIT;
    if (mint <= maxt) mint = dur * (mint / dur);
    for (int64_t t = mint; t <= maxt && rc == 0; t += dur) {
        int64_t upper = t + dur;
        bf_map_t map = {0};
        textparse_t *p = textparse_new(TEXTPARSE_OPENMETRICS, data, body.len);
        textparse_sample_t s;
        enum textparse_entry e;
        int64_t bmin = INT64_MAX, bmax = INT64_MIN;
        while (rc == 0 && (e = textparse_next(p, &s, &err)) != TEXTPARSE_EOF) {
            if (e == TEXTPARSE_ERROR) {
                pl_err_prefix(&err, "parse");
                rc = -1;
                break;
            }
            if (e != TEXTPARSE_SAMPLE || s.timestamp_ms < t || s.timestamp_ms >= upper) continue;
            if (bf_labels(&s, &lb, &err) != 0) {
                rc = -1;
                break;
            }
            bf_series_t *se = bf_get(&map, lb.ls, lb.n, &key);
            if (!se) {
                rc = pl_err_set(&err, "out of memory");
                break;
            }
            if (se->ns > 0) {
                const sample_t *last = &se->s[se->ns - 1];
                if (s.timestamp_ms < last->t) {
                    rc = pl_err_set(&err, "add sample: out of order sample");
                    break;
                }
                if (s.timestamp_ms == last->t) {
                    if (memcmp(&last->v, &s.value, sizeof s.value) != 0) {
                        rc = pl_err_set(&err, "add sample: duplicate sample for timestamp");
                        break;
                    }
                    continue;
                }
            }
            if (se->ns == se->cap) {
                size_t nc = se->cap ? se->cap * 2 : 16;
                sample_t *nv = realloc(se->s, nc * sizeof *nv);
                if (!nv) {
                    rc = pl_err_set(&err, "out of memory");
                    break;
                }
                se->s = nv;
                se->cap = nc;
            }
            se->s[se->ns++] = (sample_t){s.timestamp_ms, s.value};
            if (s.timestamp_ms < bmin) bmin = s.timestamp_ms;
            if (s.timestamp_ms > bmax) bmax = s.timestamp_ms;
        }
        textparse_free(p);
        if (rc == 0 && map.n > 0) {
            /* promtool's block writer pretends the block is twice as large. */
            block_builder_t *b = block_builder_new(2 * dur);
            for (size_t i = 0; i < map.n && rc == 0; i++)
                rc = block_builder_add_series(b, map.v[i].ls, map.v[i].n, map.v[i].s, map.v[i].ns, &err);
            char ulid[ULID_LEN + 1];
            block_write_opts_t o = {.min_time = bmin, .max_time = bmax + 1};
            if (rc == 0) rc = block_builder_write(b, outdir, &o, ulid, &err);
            block_builder_free(b);
            if (rc == 0 && ulid[0]) {
                char **nm = realloc(made, (nmade + 1) * sizeof *made);
                if (nm) {
                    made = nm;
                    if ((made[nmade] = strdup(ulid)) != NULL) nmade++;
                }
            }
        }
        bf_map_free(&map);
    }
    free(lb.ls);
    strbuf_free(&key);
    strbuf_free(&body);
    if (rc != 0) {
        fprintf(stderr, "block generation failed: %s\n", err.msg);
    } else if (!quiet) {
        block_t **bv = calloc(nmade ? nmade : 1, sizeof *bv);
        size_t nb = 0;
        for (size_t i = 0; i < nmade; i++) {
            char path[4200];
            snprintf(path, sizeof path, "%s/%s", outdir, made[i]);
            block_t *b = block_open(path, &err);
            if (b) bv[nb++] = b;
        }
        qsort(bv, nb, sizeof *bv, cmp_block_ptr_ulid);
        print_blocks(bv, nb, human, stdout);
        for (size_t i = 0; i < nb; i++)
            block_close(bv[i]);
        free(bv);
    }
    for (size_t i = 0; i < nmade; i++)
        free(made[i]);
    free(made);
    return rc != 0;
}

/* ---- compact (not in promtool) ------------------------------------------------------ */

/* promlab tool tsdb compact DIR: what Prometheus does to its blocks in the
 * background, run to completion: remove leftovers (torn writes, deletable
 * blocks, parents of merged blocks), then plan and compact until the
 * planner has nothing more, deleting the inputs of each merge. ranges:
 * "2h,6h,18h" (hidden --ranges), else 2h x3 up to max_block_duration. */
static int tsdb_compact(const char *dir, const char *ranges_arg, int64_t max_block_duration) {
    pl_err_t err = {{0}};
    int64_t ranges[16];
    size_t nr = 0;
    if (ranges_arg) {
        char *copy = strdup(ranges_arg), *save = NULL;
        for (char *t = copy ? strtok_r(copy, ",", &save) : NULL; t; t = strtok_r(NULL, ",", &save)) {
            if (nr == 16 || pl_parse_duration(t, &ranges[nr], NULL) != 0 || ranges[nr] <= 0 ||
                (nr > 0 && ranges[nr] <= ranges[nr - 1])) {
                fprintf(stderr, "promlab tool tsdb compact: bad --ranges %s (ascending durations)\n", ranges_arg);
                free(copy);
                return 2;
            }
            nr++;
        }
        free(copy);
    } else {
        for (int64_t r = BLOCK_DEFAULT_RANGE_MS; nr < 10 && r <= max_block_duration; r *= 3)
            ranges[nr++] = r;
    }
    if (nr == 0) {
        fprintf(stderr, "promlab tool tsdb compact: no block ranges\n");
        return 2;
    }
    char **removed = NULL;
    size_t nremoved = 0;
    int rc = compact_remove_leftovers(dir, &removed, &nremoved, &err);
    for (size_t i = 0; i < nremoved; i++)
        printf("removed %s\n", removed[i]);
    compact_free_dirs(removed, nremoved);
    if (rc != 0) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    int merges = 0;
    for (;;) {
        char **dirs;
        size_t nd;
        if (compact_plan(dir, ranges, nr, &dirs, &nd, &err) != 0) break;
        if (nd == 0) {
            printf("nothing left to compact (%d compaction%s)\n", merges, merges == 1 ? "" : "s");
            fflush(stdout);
            return 0;
        }
        struct timespec t0, t1;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        char ulid[ULID_LEN + 1];
        rc = compact_blocks(dir, dirs, nd, ulid, &err);
        clock_gettime(CLOCK_MONOTONIC, &t1);
        if (rc == 0) {
            printf("compacted");
            for (size_t i = 0; i < nd; i++) {
                const char *b = strrchr(dirs[i], '/');
                printf("%s %s", i ? "," : "", b ? b + 1 : dirs[i]);
            }
            double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
            if (ulid[0]) {
                char path[4200];
                snprintf(path, sizeof path, "%s/%s", dir, ulid);
                block_meta_t m;
                if (block_meta_read(path, &m, &err) == 0) {
                    printf(" -> %s (level %d, %" PRId64 "-%" PRId64 ", %" PRIu64 " series, %" PRIu64
                           " samples, %" PRIu64 " chunks) in %.3fs\n",
                           ulid, m.level, m.min_time, m.max_time, m.num_series, m.num_samples, m.num_chunks, secs);
                    block_meta_free(&m);
                } else {
                    printf(" -> %s\n", ulid);
                }
            } else {
                printf(" -> nothing left (every sample deleted); inputs marked deletable\n");
            }
            fflush(stdout);
            for (size_t i = 0; i < nd && rc == 0; i++)
                rc = compact_delete_block(dirs[i], &err);
        }
        compact_free_dirs(dirs, nd);
        if (rc != 0) break;
        merges++;
    }
    fprintf(stderr, "compaction failed: %s\n", err.msg);
    return 1;
}

/* ---- argument handling ------------------------------------------------------------ */

static void usage(FILE *out) {
    fprintf(out, "usage: promlab tool tsdb <command> [<flags>] [<args>]\n\n"
                 "Commands (as promtool tsdb):\n"
                 "  list [-r|--human-readable] [DIR]\n"
                 "  analyze [--limit=20] [DIR] [ULID]\n"
                 "  dump [--min-time=MS] [--max-time=MS] [--match=SELECTOR] [DIR]\n"
                 "  create-blocks-from openmetrics [-r] [-q] [--max-block-duration=2h] INPUT [OUTDIR]\n"
                 "Not in promtool:\n"
                 "  compact [--max-block-duration=31d] [DIR]   plan and compact blocks until nothing is left\n"
                 "DIR defaults to data/.\n\n"
                 "Also (as promtool): check config FILE..., check rules FILE..., test rules FILE...,\n"
                 "promqltest FILE|DIR...\n");
}

static const char *flag_value(const char *arg, const char *name, int *i, int argc, char **argv) {
    size_t n = strlen(name);
    if (strncmp(arg, name, n) != 0) return NULL;
    if (arg[n] == '=') return arg + n + 1;
    if (arg[n] == '\0' && *i + 1 < argc) return argv[++*i];
    return NULL;
}

static int parse_i64(const char *s, int64_t *out) {
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || end == s || *end) return -1;
    *out = v;
    return 0;
}

int cmd_tool(int argc, char **argv) {
    if (argc < 1 || !strcmp(argv[0], "--help") || !strcmp(argv[0], "-h")) {
        usage(argc < 1 ? stderr : stdout);
        return argc < 1 ? 2 : 0;
    }
    if (strcmp(argv[0], "promqltest") == 0) {
        /* promlab tool promqltest PATH...: Prometheus's promqltest files against
         * this engine; one line per failing eval, per file, and the total. */
        if (argc < 2) {
            fprintf(stderr, "usage: promlab tool promqltest FILE|DIR...\n");
            return 2;
        }
        promqltest_counts_t counts;
        memset(&counts, 0, sizeof counts);
        int rc = promql_conformance_run((const char **)argv + 1, (size_t)(argc - 1), stdout, &counts);
        return rc == 0 ? 0 : 1;
    }
    if (strcmp(argv[0], "bucket") == 0) return cmd_tool_bucket(argc - 1, argv + 1);
    if (!strcmp(argv[0], "check") || !strcmp(argv[0], "test")) return cmd_tool_rules(argc, argv);
    if (strcmp(argv[0], "tsdb") != 0) {
        fprintf(stderr, "promlab tool: command %s is not built yet (tsdb, bucket, check, test and promqltest are)\n", argv[0]);
        return 2;
    }
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    const char *sub = argv[1];
    const char *pos[4] = {0};
    int npos = 0;
    bool human = false, quiet = false;
    int64_t mint = INT64_MIN, maxt = INT64_MAX, limit = 20, max_block_duration = BLOCK_DEFAULT_RANGE_MS;
    const char *match = NULL, *ranges = NULL;
    bool max_block_duration_set = false;
    int start = 2;
    if (!strcmp(sub, "create-blocks-from")) {
        if (argc < 3 || strcmp(argv[2], "openmetrics") != 0) {
            fprintf(stderr, "promlab tool tsdb create-blocks-from: only openmetrics is supported\n");
            return 2;
        }
        start = 3;
    }
    for (int i = start; i < argc; i++) {
        const char *a = argv[i], *v;
        if (!strcmp(a, "-r") || !strcmp(a, "--human-readable"))
            human = true;
        else if (!strcmp(a, "-q") || !strcmp(a, "--quiet"))
            quiet = true;
        else if ((v = flag_value(a, "--min-time", &i, argc, argv))) {
            if (parse_i64(v, &mint) != 0) goto bad;
        } else if ((v = flag_value(a, "--max-time", &i, argc, argv))) {
            if (parse_i64(v, &maxt) != 0) goto bad;
        } else if ((v = flag_value(a, "--limit", &i, argc, argv))) {
            if (parse_i64(v, &limit) != 0 || limit < 0) goto bad;
        } else if ((v = flag_value(a, "--match", &i, argc, argv))) {
            match = v;
        } else if ((v = flag_value(a, "--max-block-duration", &i, argc, argv))) {
            if (pl_parse_duration(v, &max_block_duration, NULL) != 0 || max_block_duration <= 0) goto bad;
            max_block_duration_set = true;
        } else if ((v = flag_value(a, "--ranges", &i, argc, argv))) { /* hidden: compact's block ranges */
            ranges = v;
        } else if (a[0] == '-' && a[1]) {
            fprintf(stderr, "promlab tool tsdb %s: unknown flag %s\n", sub, a);
            return 2;
        } else if (npos < 4) {
            pos[npos++] = a;
        } else {
            goto bad;
        }
    }
    const char *dir = npos > 0 ? pos[0] : "data/";
    if (!strcmp(sub, "list")) return tsdb_list(dir, human);
    if (!strcmp(sub, "analyze")) return tsdb_analyze(dir, npos > 1 ? pos[1] : NULL, (size_t)limit);
    if (!strcmp(sub, "dump")) return tsdb_dump(dir, mint, maxt, match);
    if (!strcmp(sub, "compact"))
        return tsdb_compact(dir, ranges, max_block_duration_set ? max_block_duration : 31 * 24 * 3600 * 1000LL);
    if (!strcmp(sub, "create-blocks-from")) {
        if (npos < 1) goto bad;
        return create_blocks_openmetrics(pos[0], npos > 1 ? pos[1] : "data/", max_block_duration, human, quiet);
    }
    fprintf(stderr, "promlab tool tsdb: unknown command %s\n", sub);
    usage(stderr);
    return 2;
bad:
    fprintf(stderr, "promlab tool tsdb %s: bad arguments\n", sub);
    usage(stderr);
    return 2;
}
