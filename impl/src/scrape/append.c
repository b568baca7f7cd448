/* append.c — from one finished scrape to storage.
 *
 * A scrape is all or nothing, as in Prometheus (which appends through a
 * transaction and rolls it back): the body is parsed completely into a
 * pending batch first, and only if it parsed, stayed within sample_limit and
 * the label limits is the batch staged in the manager's appender
 * (model/storage.h). So a malformed body or a target over its limit stores
 * none of its samples; instead every series of the last successful scrape
 * gets a staleness marker, and up=0.
 *
 * Per sample the parse phase does one hash of the raw series text and one
 * cache probe. A hit (the series was seen before) costs a 24-byte entry in
 * the batch and is staged by ref. A miss builds the label set (target labels
 * attached, conflicts renamed exported_*, limits checked), copies its strings
 * into the batch's byte arena and is staged by labels; the ref the commit
 * returns for it is stored in the cache. Nothing is allocated per sample:
 * the batch's arrays and arena are reused and grow by doubling.
 *
 * One scrape is one commit: the batch, the stale markers of the series it
 * no longer contains (found by one sweep over the cache, which they leave)
 * and the synthetic series (up, scrape_duration_seconds, ...). In the DB
 * that is one WAL series record for its new series and one samples record. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define XXH_STATIC_LINKING_ONLY
#include <xxhash.h>

#include "scrape/internal.h"
#include "textparse/textparse.h"
#include "util/log.h"
#include "util/timeutil.h"

/* Samples further in the future than this are rejected (Prometheus's maxAheadTime). */
#define SCRAPE_MAX_AHEAD_MS (10 * 60 * 1000)

static const char *const report_names[SCRAPE_REPORT_N] = {
    [SCRAPE_REPORT_UP] = "up",
    [SCRAPE_REPORT_DURATION] = "scrape_duration_seconds",
    [SCRAPE_REPORT_SAMPLES_SCRAPED] = "scrape_samples_scraped",
    [SCRAPE_REPORT_SAMPLES_POST_RELABEL] = "scrape_samples_post_metric_relabeling",
    [SCRAPE_REPORT_SERIES_ADDED] = "scrape_series_added",
};

/* What one scrape counted. */
typedef struct scrape_stats {
    uint64_t total;        /* samples in the body */
    uint64_t added;        /* samples left after metric relabeling */
    uint64_t series_added; /* cache misses: series new to this target */
    uint64_t duplicate;    /* same series twice without timestamps, or head said duplicate */
    uint64_t out_of_order;
    uint64_t out_of_bounds;
    bool sample_limit_hit;
    bool label_limit_hit;
    bool body_size_limit_hit;
} scrape_stats_t;

/* ---- the batch ------------------------------------------------------------ */

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

static void batch_reset(scrape_batch_t *b) {
    b->nhits = b->nmisses = b->nlabel_offs = 0;
    strbuf_reset(&b->bytes);
}

/* Gives memory back after an unusually large scrape, so one big target does
 * not pin its peak for every target after it. */
static void batch_trim(scrape_batch_t *b) {
    const size_t keep = 1u << 20;
    if (b->cap_hits * sizeof(scrape_hit_t) > keep && b->nhits * 4 < b->cap_hits) {
        free(b->hits);
        b->hits = NULL;
        b->cap_hits = 0;
    }
    if (b->cap_misses * sizeof(scrape_miss_t) > keep && b->nmisses * 4 < b->cap_misses) {
        free(b->misses);
        b->misses = NULL;
        b->cap_misses = 0;
    }
    if (b->cap_label_offs * sizeof(uint32_t) > keep && b->nlabel_offs * 4 < b->cap_label_offs) {
        free(b->label_offs);
        b->label_offs = NULL;
        b->cap_label_offs = 0;
    }
    if (b->bytes.cap > keep && b->bytes.len * 4 < b->bytes.cap) strbuf_free(&b->bytes);
}

void scrape_batch_free(scrape_batch_t *b) {
    free(b->hits);
    free(b->misses);
    free(b->label_offs);
    free(b->scratch);
    strbuf_free(&b->bytes);
    strbuf_free(&b->names);
    relabel_labels_free(&b->rb);
    memset(b, 0, sizeof *b);
}

/* ---- label sets of new series --------------------------------------------- */


static bool has_name(const label_t *ls, size_t n, const char *name) {
    for (size_t i = 0; i < n; i++)
        if (strcmp(ls[i].name, name) == 0) return true;
    return false;
}

enum { BUILD_ERROR = -1, BUILD_DROPPED = 0, BUILD_OK = 1 };
/* metric_relabel_configs on the label set of a new series (target labels
 * attached, unsorted, strings borrowed from the parser and the target).
 * Returns BUILD_OK with *ls / *n replaced by the result (in b->scratch;
 * strings borrowed from the input, the rules or b->rb's arena, all valid
 * until the next series), BUILD_DROPPED, or BUILD_ERROR when out of memory.
 * Only cache misses get here: a series' decision is cached (a ref, or the
 * DROPPED flag), so the rules run once per series, not once per scrape. */
static int apply_metric_relabel(const scrape_target_t *t, scrape_batch_t *b, label_t **ls, size_t *n) {
    if (!t->metric_rules) return BUILD_OK;
    const label_t *out = NULL;
    size_t nout = 0;
    int rc = relabel_apply(t->metric_rules->rules, &b->rb, *ls, *n, &out, &nout);
    if (rc < 0) return BUILD_ERROR;
    if (rc == RELABEL_DROPPED || nout == 0) return BUILD_DROPPED; /* an empty set is dropped too */
    /* The input lives in scratch; the builder holds its own copy of the
     * result, so scratch may be regrown and overwritten. */
    if (grow((void **)&b->scratch, &b->cap_scratch, nout, sizeof(label_t)) != 0) return BUILD_ERROR;
    memcpy(b->scratch, out, nout * sizeof *out);
    *ls = b->scratch;
    *n = nout;
    return BUILD_OK;
}

/* Builds the stored label set of a new series into the batch: the scraped
 * labels (empty values dropped), the target labels, and with honor_labels
 * false the scraped labels that clash with a target label renamed to
 * exported_<name> (exported_exported_<name>... while that is taken too;
 * shorter names are renamed first, as Prometheus does). Checks the label
 * limits. On BUILD_OK the set is sorted and its strings are in the arena at
 * label_offs[*start .. *start + 2 * *n). */
static int build_labels(const scrape_target_t *t, scrape_batch_t *b, const textparse_sample_t *s, uint32_t *start,
                        uint32_t *nout, scrape_stats_t *st, char *err, size_t errsz) {
    const size_t nmax = 1 + s->nlabels + t->nlabels;
    /* The lower half of scratch is the label set, the upper half the conflicts. */
    if (grow((void **)&b->scratch, &b->cap_scratch, 2 * nmax, sizeof(label_t)) != 0) {
        snprintf(err, errsz, "out of memory");
        return BUILD_ERROR;
    }
    label_t *ls = b->scratch;
    label_t *conflicts = b->scratch + nmax;
    size_t n = 0, nconf = 0;
    ls[n++] = (label_t){LABEL_METRIC_NAME, s->name};

    if (t->opts.honor_labels) {
        for (size_t i = 0; i < s->nlabels; i++)
            if (s->labels[i].value[0]) ls[n++] = s->labels[i];
        /* A target label fills in only where the target did not expose the
         * name at all (as Prometheus's lset.Has). */
        for (size_t i = 0; i < t->nlabels; i++)
            if (!has_name(s->labels, s->nlabels, t->labels[i].name)) ls[n++] = t->labels[i];
    } else {
        for (size_t i = 0; i < s->nlabels; i++) {
            if (!s->labels[i].value[0]) continue;
            if (has_name(t->labels, t->nlabels, s->labels[i].name))
                conflicts[nconf++] = s->labels[i];
            else
                ls[n++] = s->labels[i];
        }
        for (size_t i = 0; i < t->nlabels; i++)
            ls[n++] = t->labels[i];
        if (nconf) {
            /* Stable insertion sort by name length. */
            for (size_t i = 1; i < nconf; i++) {
                label_t x = conflicts[i];
                size_t j = i;
                while (j > 0 && strlen(conflicts[j - 1].name) > strlen(x.name)) {
                    conflicts[j] = conflicts[j - 1];
                    j--;
                }
                conflicts[j] = x;
            }
            /* Reserve the worst case up front so the names buffer does not
             * move while ls points into it: each conflict is prefixed at most
             * (labels in the set + conflicts + 1) times. */
            static const char prefix[] = "exported_";
            const size_t plen = sizeof prefix - 1;
            size_t need = 0;
            for (size_t i = 0; i < nconf; i++)
                need += strlen(conflicts[i].name) + 1 + plen * (n + nconf + 1);
            strbuf_reset(&b->names);
            strbuf_reserve(&b->names, need);
            for (size_t i = 0; i < nconf; i++) {
                size_t base = b->names.len, nlen = strlen(conflicts[i].name);
                for (size_t k = 1;; k++) {
                    b->names.len = base;
                    for (size_t r = 0; r < k; r++)
                        strbuf_append(&b->names, prefix, plen);
                    strbuf_append(&b->names, conflicts[i].name, nlen);
                    const char *cand = b->names.data + base;
                    if (!has_name(ls, n, cand)) {
                        strbuf_putc(&b->names, '\0');
                        ls[n++] = (label_t){cand, conflicts[i].value};
                        break;
                    }
                }
            }
        }
    }

    int mr = apply_metric_relabel(t, b, &ls, &n);
    if (mr == BUILD_ERROR) {
        snprintf(err, errsz, "out of memory");
        return BUILD_ERROR;
    }
    if (mr == BUILD_DROPPED) return BUILD_DROPPED;
    if (!has_name(ls, n, LABEL_METRIC_NAME)) {
        /* As Prometheus: a relabeling that removes the name fails the scrape. */
        snprintf(err, errsz, "missing metric name (__name__ label)");
        return BUILD_ERROR;
    }

    labels_sort(ls, n);
    const char *dup = NULL;
    if (labels_has_duplicate(ls, n, &dup)) {
        snprintf(err, errsz, "label name \"%s\" is not unique: invalid sample", dup);
        return BUILD_ERROR;
    }
    if (t->opts.legacy_names) {
        bool valid = true;
        for (size_t i = 0; i < n && valid; i++) {
            const char *v = ls[i].value;
            valid = strcmp(ls[i].name, LABEL_METRIC_NAME) == 0 ? metric_name_valid(v, strlen(v))
                                                               : label_name_valid(ls[i].name, strlen(ls[i].name));
        }
        if (!valid) {
            strbuf_t sb = STRBUF_INIT;
            labels_format_braces(&sb, ls, n);
            snprintf(err, errsz, "invalid metric name or label names: %s", sb.data ? sb.data : "");
            strbuf_free(&sb);
            return BUILD_ERROR;
        }
    }
    const uint64_t label_limit = t->opts.label_limit;
    if (label_limit && n > label_limit) {
        snprintf(err, errsz, "label_limit exceeded (metric: %.50s, number of labels: %zu, limit: %llu)", s->name, n,
                 (unsigned long long)label_limit);
        st->label_limit_hit = true;
        return BUILD_ERROR;
    }
    const uint64_t name_limit = t->opts.label_name_length_limit, value_limit = t->opts.label_value_length_limit;
    if (name_limit || value_limit) {
        for (size_t i = 0; i < n; i++) {
            size_t nl = strlen(ls[i].name), vl = strlen(ls[i].value);
            if (name_limit && nl > name_limit) {
                snprintf(
                    err, errsz,
                    "label_name_length_limit exceeded (metric: %.50s, label name: %.50s, length: %zu, limit: %llu)",
                    s->name, ls[i].name, nl, (unsigned long long)name_limit);
                st->label_limit_hit = true;
                return BUILD_ERROR;
            }
            if (value_limit && vl > value_limit) {
                snprintf(err, errsz,
                         "label_value_length_limit exceeded (metric: %.50s, label name: %.50s, value: \"%.50s\", "
                         "length: %zu, limit: %llu)",
                         s->name, ls[i].name, ls[i].value, vl, (unsigned long long)value_limit);
                st->label_limit_hit = true;
                return BUILD_ERROR;
            }
        }
    }

    if (grow((void **)&b->label_offs, &b->cap_label_offs, b->nlabel_offs + 2 * n, sizeof(uint32_t)) != 0) {
        snprintf(err, errsz, "out of memory");
        return BUILD_ERROR;
    }
    *start = (uint32_t)b->nlabel_offs;
    for (size_t i = 0; i < n; i++) {
        for (int part = 0; part < 2; part++) {
            const char *str = part ? ls[i].value : ls[i].name;
            if (b->bytes.len > UINT32_MAX - 1 - strlen(str)) {
                snprintf(err, errsz, "scrape too large: new series' labels exceed 4 GiB");
                return BUILD_ERROR;
            }
            b->label_offs[b->nlabel_offs++] = (uint32_t)b->bytes.len;
            strbuf_append(&b->bytes, str, strlen(str) + 1);
        }
    }
    *nout = (uint32_t)n;
    return BUILD_OK;
}

/* ---- choosing the parser ------------------------------------------------------ */

static bool token_char(char ch) {
    return (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || strchr("!#$%&'*+-.^_`|~", ch) != NULL;
}

/* Prometheus 3's rule: the media type of Content-Type picks the parser; a
 * blank, unparsable or unsupported one falls back to fallback_scrape_protocol
 * when it is set, and fails the scrape when it is not. */
static int choose_format(const scrape_target_t *t, const char *content_type, enum textparse_format *out, char *err,
                         size_t errsz) {
    char media[128] = "";
    size_t n = 0;
    const char *p = content_type ? content_type : "";
    while (*p == ' ' || *p == '\t')
        p++;
    while (*p && *p != ';' && n + 1 < sizeof media) {
        char ch = *p++;
        media[n++] = (ch >= 'A' && ch <= 'Z') ? (char)(ch - 'A' + 'a') : ch;
    }
    while (n && (media[n - 1] == ' ' || media[n - 1] == '\t'))
        n--;
    media[n] = '\0';

    const char *problem = NULL;
    if (n == 0) {
        problem = "blank";
    } else {
        const char *slash = strchr(media, '/');
        bool ok = slash && slash != media && slash[1];
        for (const char *q = media; ok && *q; q++)
            ok = q == slash || token_char(*q);
        if (!ok)
            problem = "unparsable";
        else if (strcmp(media, "application/openmetrics-text") == 0) {
            *out = TEXTPARSE_OPENMETRICS;
            return 0;
        } else if (strcmp(media, "text/plain") == 0) {
            *out = TEXTPARSE_PROM;
            return 0;
        } else {
            problem = "unsupported";
        }
    }
    if (t->opts.fallback_format == TEXTPARSE_PROM || t->opts.fallback_format == TEXTPARSE_OPENMETRICS) {
        *out = (enum textparse_format)t->opts.fallback_format;
        return 0;
    }
    if (t->opts.fallback_format == SCRAPE_FALLBACK_PROTOBUF)
        snprintf(err, errsz,
                 "fallback_scrape_protocol PrometheusProto is not supported by promlab (Content-Type \"%s\")",
                 content_type ? content_type : "");
    else if (strcmp(problem, "blank") == 0)
        snprintf(err, errsz,
                 "non-compliant scrape target sending blank Content-Type and no fallback_scrape_protocol specified for "
                 "target");
    else if (strcmp(problem, "unparsable") == 0)
        snprintf(err, errsz, "cannot parse Content-Type \"%s\" and no fallback_scrape_protocol for target",
                 content_type);
    else
        snprintf(err, errsz,
                 "received unsupported Content-Type \"%s\" and no fallback_scrape_protocol specified for target",
                 content_type);
    return -1;
}

/* ---- parse ------------------------------------------------------------------ */

/* Parses the whole body into the batch. Returns 0, or -1 with err filled when
 * the scrape must fail (malformed body, a limit, out of memory). */
static int parse_body(scrape_manager_t *m, scrape_target_t *t, scrape_batch_t *b, const char *body, size_t len, const char *content_type,
                      scrape_stats_t *st, char *err, size_t errsz) {
    scrape_cache_t *c = &t->cache;
    const uint32_t cur = c->iter;
    const int64_t ts = t->scrape_ts_ms;
    const int64_t max_t = pl_now_ms() + SCRAPE_MAX_AHEAD_MS;
    const uint64_t sample_limit = t->opts.sample_limit;
    uint64_t appended = 0;

    /* An empty body is an empty scrape whatever its type (every series goes stale). */
    if (len == 0) return 0;
    enum textparse_format fmt;
    if (choose_format(t, content_type, &fmt, err, errsz) != 0) return -1;
    textparse_t *p = textparse_new(fmt, body, len);
    if (!p) {
        snprintf(err, errsz, "out of memory");
        return -1;
    }
    int rc = 0;
    textparse_sample_t s;
    pl_err_t perr;
    for (;;) {
        memset(&s, 0, sizeof s);
        enum textparse_entry ent = textparse_next(p, &s, &perr);
        if (ent == TEXTPARSE_EOF) break;
        if (ent == TEXTPARSE_ERROR) {
            snprintf(err, errsz, "%s", perr.msg);
            rc = -1;
            break;
        }
        if (ent == TEXTPARSE_TYPE || ent == TEXTPARSE_HELP || ent == TEXTPARSE_UNIT) {
            const char *mn = textparse_meta_name(p);
            if (mn && scrape_meta_note(&t->meta, &m->mu, (int)ent, mn, textparse_meta_type(p), textparse_meta_text(p),
                                       cur) != 0) {
                snprintf(err, errsz, "out of memory");
                rc = -1;
                break;
            }
            continue;
        }
        if (ent != TEXTPARSE_SAMPLE) continue;
        st->total++;

        const bool explicit_ts = s.has_timestamp && t->opts.honor_timestamps;
        const int64_t sample_ts = explicit_ts ? s.timestamp_ms : ts;
        const uint64_t hash = XXH3_64bits(s.raw, s.raw_len);
        scrape_cache_entry_t *e = scrape_cache_get(c, hash);

        if (e && (e->flags & SCRAPE_CACHE_DROPPED)) {
            e->iter = cur;
            continue;
        }
        /* The same series a second time in one body and without a timestamp:
         * Prometheus keeps the first and counts the rest as duplicates. */
        if (e && e->iter == cur && !explicit_ts) {
            st->duplicate++;
            st->added++;
            continue;
        }
        const bool hit = e && e->ref != 0;
        uint32_t label_start = 0, nlabels = 0;
        const size_t saved_offs = b->nlabel_offs, saved_bytes = b->bytes.len;
        if (!hit) {
            int r = build_labels(t, b, &s, &label_start, &nlabels, st, err, errsz);
            if (r == BUILD_ERROR) {
                rc = -1;
                break;
            }
            if (r == BUILD_DROPPED) {
                if (!e) {
                    e = scrape_cache_put(c, hash);
                    if (!e) {
                        snprintf(err, errsz, "out of memory");
                        rc = -1;
                        break;
                    }
                    e->flags |= SCRAPE_CACHE_DROPPED;
                }
                continue;
            }
        }
        st->added++;

        bool keep = true;
        if (!pl_is_stale_nan(s.value) && sample_limit && ++appended > sample_limit) {
            /* Go on parsing so scrape_samples_scraped reports the true count. */
            st->sample_limit_hit = true;
            keep = false;
        } else if (explicit_ts && sample_ts > max_t) {
            st->out_of_bounds++;
            keep = false;
        }
        if (!keep) {
            b->nlabel_offs = saved_offs;
            b->bytes.len = saved_bytes;
            if (b->bytes.data) b->bytes.data[saved_bytes] = '\0';
            continue;
        }

        /* Series with an explicit timestamp get no stale marker when they
         * vanish, unless track_timestamps_staleness says so. */
        const uint32_t track = (!explicit_ts || t->opts.track_timestamps_staleness) ? SCRAPE_CACHE_TRACK_NEXT : 0;
        if (hit) {
            if (grow((void **)&b->hits, &b->cap_hits, b->nhits + 1, sizeof *b->hits) != 0) {
                snprintf(err, errsz, "out of memory");
                rc = -1;
                break;
            }
            b->hits[b->nhits++] = (scrape_hit_t){e->ref, sample_ts, s.value};
            e->iter = cur;
            e->flags = (e->flags & ~(uint32_t)SCRAPE_CACHE_TRACK_NEXT) | track;
        } else {
            if (grow((void **)&b->misses, &b->cap_misses, b->nmisses + 1, sizeof *b->misses) != 0) {
                snprintf(err, errsz, "out of memory");
                rc = -1;
                break;
            }
            b->misses[b->nmisses++] = (scrape_miss_t){hash, sample_ts, s.value, label_start, nlabels};
            if (!e) {
                e = scrape_cache_put(c, hash);
                if (!e) {
                    b->nmisses--;
                    snprintf(err, errsz, "out of memory");
                    rc = -1;
                    break;
                }
                if (!st->sample_limit_hit) st->series_added++;
            }
            e->iter = cur;
            e->flags |= track;
        }
    }
    textparse_free(p);
    if (rc == 0 && st->sample_limit_hit) {
        snprintf(err, errsz, "sample limit exceeded");
        rc = -1;
    }
    return rc;
}

/* ---- commit / roll back ------------------------------------------------------ */

/* Where each kind of sample sits in the transaction, so the statuses of a
 * commit can be matched back: [hits][misses][stale markers][reports]. */
typedef struct staged_layout {
    size_t nhits, nmisses, nstale;
    bool reports[SCRAPE_REPORT_N]; /* staged */
    bool failed;                   /* staging ran out of memory: everything is rolled back */
} staged_layout_t;

static void stage_ref(scrape_manager_t *m, staged_layout_t *l, series_ref_t ref, int64_t t, double v) {
    if (!l->failed && m->tx.add_ref(m->tx.impl, ref, t, v) != 0) l->failed = true;
}

static void count_append_error(int r, scrape_stats_t *st) {
    if (r == STORAGE_ERR_OUT_OF_ORDER)
        st->out_of_order++;
    else if (r == STORAGE_ERR_DUPLICATE)
        st->duplicate++;
}

/* A ref the head no longer knows: forget it so the next scrape re-creates the
 * series by labels. Rare (the head dropped the series), so a scan is fine. */
static void forget_ref(scrape_cache_t *c, series_ref_t ref) {
    for (size_t i = 0; i < c->cap; i++)
        if ((c->slots[i].flags & SCRAPE_CACHE_USED) && c->slots[i].ref == ref) scrape_cache_del(c, &c->slots[i]);
}

/* Stages the parsed batch, then the stale markers of the series this scrape
 * did not contain (they leave the cache). New series stay cached with ref 0
 * until the commit tells their ref (finish_batch). */
static void stage_batch(scrape_manager_t *m, scrape_target_t *t, scrape_batch_t *b, staged_layout_t *l) {
    scrape_cache_t *c = &t->cache;
    const uint32_t cur = c->iter;
    const int64_t ts = t->scrape_ts_ms;

    for (size_t i = 0; i < b->nhits && !l->failed; i++)
        stage_ref(m, l, b->hits[i].ref, b->hits[i].t, b->hits[i].v);
    l->nhits = b->nhits;

    size_t maxl = 0;
    for (size_t i = 0; i < b->nmisses; i++)
        if (b->misses[i].nlabels > maxl) maxl = b->misses[i].nlabels;
    label_t *ls = NULL;
    if (maxl && !(ls = malloc(maxl * sizeof *ls))) l->failed = true; /* once per scrape that has new series */
    for (size_t i = 0; i < b->nmisses && !l->failed; i++) {
        const scrape_miss_t *ms = &b->misses[i];
        for (uint32_t j = 0; j < ms->nlabels; j++) {
            ls[j].name = b->bytes.data + b->label_offs[ms->label_start + 2 * j];
            ls[j].value = b->bytes.data + b->label_offs[ms->label_start + 2 * j + 1];
        }
        if (m->tx.add(m->tx.impl, ls, ms->nlabels, ms->t, ms->v) != 0) l->failed = true;
    }
    free(ls);
    l->nmisses = b->nmisses;
    if (l->failed) return;

    /* Sweep: series this scrape did not contain go stale and leave the cache. */
    const double stale = pl_stale_nan();
    for (size_t i = 0; i < c->cap; i++) {
        scrape_cache_entry_t *e = &c->slots[i];
        if (!(e->flags & SCRAPE_CACHE_USED)) continue;
        if (e->flags & SCRAPE_CACHE_DROPPED) {
            if (e->iter != cur) scrape_cache_del(c, e);
            continue;
        }
        if (e->iter == cur) {
            if (e->flags & SCRAPE_CACHE_TRACK_NEXT)
                e->flags |= SCRAPE_CACHE_TRACK;
            else
                e->flags &= ~(uint32_t)SCRAPE_CACHE_TRACK;
            e->flags &= ~(uint32_t)SCRAPE_CACHE_TRACK_NEXT;
            continue;
        }
        if ((e->flags & SCRAPE_CACHE_TRACK) && e->ref != 0) {
            /* Out of order / duplicate here means the series got a newer
             * sample from elsewhere; Prometheus ignores that too. */
            stage_ref(m, l, e->ref, ts, stale);
            l->nstale++;
        }
        scrape_cache_del(c, e);
    }
}

/* Matches the commit's statuses back to the batch: refs of new series into
 * the cache, errors counted, refs the head no longer knows forgotten. */
static void finish_batch(scrape_target_t *t, scrape_batch_t *b, const staged_layout_t *l,
                         const storage_append_status_t *status, scrape_stats_t *st) {
    scrape_cache_t *c = &t->cache;
    for (size_t i = 0; i < l->nhits; i++) {
        const storage_append_status_t *s = &status[i];
        if (s->result == STORAGE_OK) continue;
        count_append_error(s->result, st);
        if (s->result == STORAGE_ERR_NOT_FOUND) {
            log_warn("scrape", "series vanished from the head; it is re-created on the next scrape",
                     "target=%s ref=%llu", t->url, (unsigned long long)b->hits[i].ref);
            forget_ref(c, b->hits[i].ref);
        }
    }
    for (size_t i = 0; i < l->nmisses; i++) {
        const scrape_miss_t *ms = &b->misses[i];
        const storage_append_status_t *s = &status[l->nhits + i];
        scrape_cache_entry_t *e = scrape_cache_get(c, ms->hash);
        if (s->ref != 0 && (s->result == STORAGE_OK || s->result == STORAGE_ERR_DUPLICATE ||
                            s->result == STORAGE_ERR_OUT_OF_ORDER)) {
            /* A sample the head refused of a series it has (two raw series that
             * relabeling made one, say) still gives the ref: cached, so the
             * series is not built and relabeled again every scrape. */
            if (e && e->ref == 0) e->ref = s->ref;
            if (s->result != STORAGE_OK) count_append_error(s->result, st);
            continue;
        }
        count_append_error(s->result, st);
        if (s->result == STORAGE_ERR_INVALID) {
            strbuf_t sb = STRBUF_INIT;
            label_t *ls = malloc(ms->nlabels * sizeof *ls + 1);
            if (ls) {
                for (uint32_t j = 0; j < ms->nlabels; j++) {
                    ls[j].name = b->bytes.data + b->label_offs[ms->label_start + 2 * j];
                    ls[j].value = b->bytes.data + b->label_offs[ms->label_start + 2 * j + 1];
                }
                labels_format(&sb, ls, ms->nlabels);
                free(ls);
            }
            log_warn("scrape", "head refused a series", "target=%s series=%s", t->url, sb.data ? sb.data : "");
            strbuf_free(&sb);
        }
        /* Not stored, so not cached: it gets no stale marker when it goes. */
        if (e && e->ref == 0) scrape_cache_del(c, e);
    }
}

/* New-series entries of a scrape that stores nothing: nothing of them was
 * stored, so they go. */
static void drop_uncommitted(scrape_cache_t *c) {
    for (size_t i = 0; i < c->cap; i++) {
        scrape_cache_entry_t *e = &c->slots[i];
        if ((e->flags & SCRAPE_CACHE_USED) && e->ref == 0 && !(e->flags & SCRAPE_CACHE_DROPPED)) scrape_cache_del(c, e);
    }
}

/* Stages stale markers for every series of the last successful scrape; they
 * stay cached (a ref is worth keeping) but are no longer tracked, so they
 * are not marked again. */
static void stage_all_stale(scrape_manager_t *m, scrape_cache_t *c, int64_t ts, staged_layout_t *l) {
    const double stale = pl_stale_nan();
    for (size_t i = 0; i < c->cap; i++) {
        scrape_cache_entry_t *e = &c->slots[i];
        if (!(e->flags & SCRAPE_CACHE_USED)) continue;
        if ((e->flags & SCRAPE_CACHE_TRACK) && e->ref != 0) {
            stage_ref(m, l, e->ref, ts, stale);
            l->nstale++;
        }
        e->flags &= ~(uint32_t)(SCRAPE_CACHE_TRACK | SCRAPE_CACHE_TRACK_NEXT);
    }
}

/* ---- the synthetic series ----------------------------------------------------- */

static void stage_report(scrape_manager_t *m, scrape_target_t *t, staged_layout_t *l, int which, int64_t ts, double v) {
    if (l->failed) return;
    series_ref_t ref = t->report_refs[which];
    if (ref) {
        stage_ref(m, l, ref, ts, v);
        l->reports[which] = !l->failed;
        return;
    }
    /* Target labels plus __name__; 1 + nlabels is small. */
    label_t stack[32];
    label_t *ls = t->nlabels + 1 <= 32 ? stack : malloc((t->nlabels + 1) * sizeof *ls);
    if (!ls) {
        l->failed = true;
        return;
    }
    size_t n = 0;
    ls[n++] = (label_t){LABEL_METRIC_NAME, report_names[which]};
    for (size_t i = 0; i < t->nlabels; i++)
        ls[n++] = t->labels[i];
    labels_sort(ls, n);
    if (m->tx.add(m->tx.impl, ls, n, ts, v) != 0) l->failed = true;
    l->reports[which] = !l->failed;
    if (ls != stack) free(ls);
}

/* The statuses of the reports follow the batch and the stale markers. A
 * report whose ref the head no longer knows is re-created by labels next time. */
static void finish_reports(scrape_target_t *t, const staged_layout_t *l, const storage_append_status_t *status) {
    size_t k = l->nhits + l->nmisses + l->nstale;
    for (int i = 0; i < SCRAPE_REPORT_N; i++) {
        if (!l->reports[i]) continue;
        const storage_append_status_t *s = &status[k++];
        t->report_refs[i] = s->result == STORAGE_ERR_NOT_FOUND || s->result == STORAGE_ERR_INVALID ? 0 : s->ref;
    }
}

/* Commits the transaction; returns the statuses, or NULL when staging failed
 * (then everything staged is rolled back). */
static const storage_append_status_t *commit_tx(scrape_manager_t *m, scrape_target_t *t, staged_layout_t *l) {
    if (l->failed) {
        m->tx.rollback(m->tx.impl);
        log_error("scrape", "out of memory staging a scrape; nothing of it was stored", "target=%s", t->url);
        return NULL;
    }
    const storage_append_status_t *status = NULL;
    pl_err_t err = {{0}};
    if (m->tx.commit(m->tx.impl, &status, &err) != 0)
        log_error("scrape", "Error committing a scrape", "target=%s err=\"%s\"", t->url, err.msg);
    return status;
}

/* ---- entry points ---------------------------------------------------------------- */

void scrape_process(scrape_manager_t *m, scrape_target_t *t, const char *err, const char *body, size_t len,
                    const char *content_type) {
    scrape_batch_t *b = &m->batch;
    scrape_cache_t *c = &t->cache;
    scrape_stats_t st = {0};
    staged_layout_t l;
    memset(&l, 0, sizeof l);
    char errbuf[PL_ERR_MAX];
    const char *fail = err;

    /* A new iteration; 0 is skipped so that no entry looks "seen now" by accident. */
    if (++c->iter == 0) c->iter = 1;
    batch_reset(b);

    if (!fail) {
        errbuf[0] = '\0';
        if (parse_body(m, t, b, body, len, content_type, &st, errbuf, sizeof errbuf) != 0) fail = errbuf;
    }
    /* One transaction for the scrape: its samples (or, when it failed, the
     * stale markers of the last good one) and the synthetic series. */
    if (!fail) {
        stage_batch(m, t, b, &l);
        scrape_meta_expire(&t->meta, &m->mu, c->iter);
    } else {
        drop_uncommitted(c);
        stage_all_stale(m, c, t->scrape_ts_ms, &l);
    }
    t->ever_scraped = true;

    const int64_t ts = t->scrape_ts_ms;
    const double duration = (double)(pl_monotonic_ns() - t->start_ns) / 1e9;
    stage_report(m, t, &l, SCRAPE_REPORT_UP, ts, fail ? 0.0 : 1.0);
    stage_report(m, t, &l, SCRAPE_REPORT_DURATION, ts, duration);
    stage_report(m, t, &l, SCRAPE_REPORT_SAMPLES_SCRAPED, ts, (double)st.total);
    stage_report(m, t, &l, SCRAPE_REPORT_SAMPLES_POST_RELABEL, ts, (double)st.added);
    stage_report(m, t, &l, SCRAPE_REPORT_SERIES_ADDED, ts, (double)st.series_added);

    const storage_append_status_t *status = commit_tx(m, t, &l);
    if (status) {
        if (!fail) finish_batch(t, b, &l, status, &st);
        finish_reports(t, &l, status);
    } else {
        drop_uncommitted(c);
    }
    scrape_cache_compact(c);
    batch_trim(b);

    if (fail) log_debug("scrape", "Scrape failed", "target=%s err=\"%s\"", t->url, fail);
    if (st.out_of_order)
        log_warn("scrape", "Error on ingesting out-of-order samples", "target=%s num_dropped=%llu", t->url,
                 (unsigned long long)st.out_of_order);
    if (st.out_of_bounds)
        log_warn("scrape", "Error on ingesting samples that are too old or are too far into the future",
                 "target=%s num_dropped=%llu", t->url, (unsigned long long)st.out_of_bounds);

    char *last_error = strdup(fail ? fail : "");
    pthread_mutex_lock(&m->mu);
    t->health = fail ? SCRAPE_HEALTH_DOWN : SCRAPE_HEALTH_UP;
    if (last_error) {
        free(t->last_error);
        t->last_error = last_error;
    }
    t->last_scrape_ms = ts;
    t->last_duration_s = duration;
    t->last_samples = st.total;
    t->mem_cache = scrape_cache_bytes(c);
    t->mem_cache_entries = c->live;
    t->mem_body = t->body.cap > (1u << 20) ? 0 : t->body.cap; /* a bigger one is freed after the scrape */
    m->mem_batch = b->cap_hits * sizeof *b->hits + b->cap_misses * sizeof *b->misses +
                   b->cap_label_offs * sizeof *b->label_offs + b->bytes.cap + b->cap_scratch * sizeof *b->scratch +
                   b->names.cap + b->rb.arena_total;
    m->counters.sample_duplicate += st.duplicate;
    m->counters.sample_out_of_order += st.out_of_order;
    m->counters.sample_out_of_bounds += st.out_of_bounds;
    if (st.sample_limit_hit) m->counters.exceeded_sample_limit++;
    if (st.label_limit_hit) m->counters.exceeded_label_limits++;
    pthread_mutex_unlock(&m->mu);
}

void scrape_end_of_run_staleness(scrape_manager_t *m, scrape_target_t *t, int64_t ts) {
    if (!t->ever_scraped) return;
    staged_layout_t l;
    memset(&l, 0, sizeof l);
    stage_all_stale(m, &t->cache, ts, &l);
    const double stale = pl_stale_nan();
    for (int i = 0; i < SCRAPE_REPORT_N; i++)
        if (t->report_refs[i]) stage_ref(m, &l, t->report_refs[i], ts, stale);
    (void)commit_tx(m, t, &l);
}
