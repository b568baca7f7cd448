/* meta.c — see meta.h. */
#include "tsdb/meta.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tsdb/chunks.h"
#include "util/json.h"

void block_meta_free(block_meta_t *m) {
    free(m->sources);
    free(m->parents);
    for (size_t i = 0; i < m->nhints; i++)
        free(m->hints[i]);
    free(m->hints);
    if (m->thanos) json_decref((json_t *)m->thanos);
    memset(m, 0, sizeof *m);
}

int block_meta_add_source(block_meta_t *m, const char *ulid) {
    void *nv = realloc(m->sources, (m->nsources + 1) * sizeof *m->sources);
    if (!nv) return -1;
    m->sources = nv;
    snprintf(m->sources[m->nsources++], ULID_LEN + 1, "%s", ulid);
    return 0;
}

static int get_ulid(json_t *v, char out[ULID_LEN + 1]) {
    const char *s = json_string_value(v);
    if (!s || strlen(s) != ULID_LEN) return -1;
    memcpy(out, s, ULID_LEN + 1);
    return 0;
}

static uint64_t get_u64(json_t *o, const char *k) {
    json_t *v = json_object_get(o, k);
    return json_is_integer(v) && json_integer_value(v) > 0 ? (uint64_t)json_integer_value(v) : 0;
}

int block_meta_parse(const char *json, size_t len, block_meta_t *m, pl_err_t *err) {
    memset(m, 0, sizeof *m);
    json_error_t je;
    json_t *root = json_loadb(json, len, 0, &je);
    if (!root) return pl_err_set(err, "meta.json: %s at line %d", je.text, je.line);
    int rc = -1;
    if (!json_is_object(root)) {
        pl_err_set(err, "meta.json: not an object");
        goto out;
    }
    json_t *ver = json_object_get(root, "version");
    if (!json_is_integer(ver) || json_integer_value(ver) != 1) {
        pl_err_set(err, "meta.json: unexpected meta file version %lld", (long long)json_integer_value(ver));
        goto out;
    }
    m->version = 1;
    if (get_ulid(json_object_get(root, "ulid"), m->ulid) != 0) {
        pl_err_set(err, "meta.json: missing or invalid ulid");
        goto out;
    }
    json_t *mi = json_object_get(root, "minTime"), *ma = json_object_get(root, "maxTime");
    if (!json_is_integer(mi) || !json_is_integer(ma)) {
        pl_err_set(err, "meta.json: minTime/maxTime missing");
        goto out;
    }
    m->min_time = json_integer_value(mi);
    m->max_time = json_integer_value(ma);
    json_t *st = json_object_get(root, "stats");
    if (json_is_object(st)) {
        m->num_samples = get_u64(st, "numSamples");
        m->num_float_samples = get_u64(st, "numFloatSamples");
        m->num_histogram_samples = get_u64(st, "numHistogramSamples");
        m->num_series = get_u64(st, "numSeries");
        m->num_chunks = get_u64(st, "numChunks");
        m->num_tombstones = get_u64(st, "numTombstones");
    }
    json_t *c = json_object_get(root, "compaction");
    if (json_is_object(c)) {
        m->level = (int)json_integer_value(json_object_get(c, "level"));
        json_t *src = json_object_get(c, "sources"), *v;
        size_t i;
        json_array_foreach(src, i, v) {
            char u[ULID_LEN + 1];
            if (get_ulid(v, u) != 0 || block_meta_add_source(m, u) != 0) {
                pl_err_set(err, "meta.json: bad source ulid");
                goto out;
            }
        }
        json_t *par = json_object_get(c, "parents");
        if (json_array_size(par) > 0) {
            m->parents = calloc(json_array_size(par), sizeof *m->parents);
            if (!m->parents) goto oom;
            json_array_foreach(par, i, v) {
                block_desc_t *d = &m->parents[m->nparents];
                if (get_ulid(json_object_get(v, "ulid"), d->ulid) != 0) {
                    pl_err_set(err, "meta.json: bad parent ulid");
                    goto out;
                }
                d->min_time = json_integer_value(json_object_get(v, "minTime"));
                d->max_time = json_integer_value(json_object_get(v, "maxTime"));
                m->nparents++;
            }
        }
        m->deletable = json_is_true(json_object_get(c, "deletable"));
        m->failed = json_is_true(json_object_get(c, "failed"));
        json_t *h = json_object_get(c, "hints");
        if (json_array_size(h) > 0) {
            m->hints = calloc(json_array_size(h), sizeof *m->hints);
            if (!m->hints) goto oom;
            json_array_foreach(h, i, v) {
                const char *s = json_string_value(v);
                if (!s) continue;
                if (!(m->hints[m->nhints] = strdup(s))) goto oom;
                m->nhints++;
            }
        }
    }
    json_t *th = json_object_get(root, "thanos");
    if (th) m->thanos = json_incref(th);
    rc = 0;
    goto out;
oom:
    pl_err_set(err, "out of memory");
out:
    json_decref(root);
    if (rc != 0) block_meta_free(m);
    return rc;
}

int block_meta_read(const char *dir, block_meta_t *m, pl_err_t *err) {
    char path[4096];
    snprintf(path, sizeof path, "%s/meta.json", dir);
    FILE *f = fopen(path, "rb");
    if (!f) return pl_err_set(err, "open %s: %s", path, strerror(errno));
    strbuf_t sb = STRBUF_INIT;
    char buf[8192];
    size_t k;
    while ((k = fread(buf, 1, sizeof buf, f)) > 0)
        strbuf_append(&sb, buf, k);
    fclose(f);
    int rc = block_meta_parse(sb.data ? sb.data : "", sb.len, m, err);
    strbuf_free(&sb);
    if (rc != 0) pl_err_prefix(err, "%s", path);
    return rc;
}

/* ---- writing, as Go's json.MarshalIndent(v, "", "\t") ------------------------ */

static void nl(strbuf_t *sb, int depth) {
    strbuf_putc(sb, '\n');
    for (int i = 0; i < depth; i++)
        strbuf_putc(sb, '\t');
}

static void key(strbuf_t *sb, int depth, bool *first, const char *k) {
    if (!*first) strbuf_putc(sb, ',');
    *first = false;
    nl(sb, depth);
    json_escape(sb, k, strlen(k));
    strbuf_puts(sb, ": ");
}

static void put_json(strbuf_t *sb, json_t *v, int depth) {
    switch (json_typeof(v)) {
    case JSON_OBJECT: {
        if (json_object_size(v) == 0) {
            strbuf_puts(sb, "{}");
            break;
        }
        strbuf_putc(sb, '{');
        bool first = true;
        const char *k;
        json_t *x;
        json_object_foreach(v, k, x) {
            key(sb, depth + 1, &first, k);
            put_json(sb, x, depth + 1);
        }
        nl(sb, depth);
        strbuf_putc(sb, '}');
        break;
    }
    case JSON_ARRAY: {
        if (json_array_size(v) == 0) {
            strbuf_puts(sb, "[]");
            break;
        }
        strbuf_putc(sb, '[');
        size_t i;
        json_t *x;
        json_array_foreach(v, i, x) {
            if (i) strbuf_putc(sb, ',');
            nl(sb, depth + 1);
            put_json(sb, x, depth + 1);
        }
        nl(sb, depth);
        strbuf_putc(sb, ']');
        break;
    }
    case JSON_STRING: json_escape(sb, json_string_value(v), json_string_length(v)); break;
    case JSON_INTEGER: strbuf_printf(sb, "%lld", (long long)json_integer_value(v)); break;
    case JSON_REAL: {
        char b[400];
        pl_format_float_json(b, json_real_value(v));
        strbuf_puts(sb, b);
        break;
    }
    case JSON_TRUE: strbuf_puts(sb, "true"); break;
    case JSON_FALSE: strbuf_puts(sb, "false"); break;
    default: strbuf_puts(sb, "null"); break;
    }
}

void block_meta_render(const block_meta_t *m, strbuf_t *sb) {
    bool first = true;
    strbuf_putc(sb, '{');
    key(sb, 1, &first, "ulid");
    json_escape(sb, m->ulid, strlen(m->ulid));
    key(sb, 1, &first, "minTime");
    strbuf_printf(sb, "%lld", (long long)m->min_time);
    key(sb, 1, &first, "maxTime");
    strbuf_printf(sb, "%lld", (long long)m->max_time);
    key(sb, 1, &first, "stats");
    {
        bool f2 = true;
        const struct {
            const char *k;
            uint64_t v;
        } st[] = {{"numSamples", m->num_samples},
                  {"numFloatSamples", m->num_float_samples},
                  {"numHistogramSamples", m->num_histogram_samples},
                  {"numSeries", m->num_series},
                  {"numChunks", m->num_chunks},
                  {"numTombstones", m->num_tombstones}};
        strbuf_putc(sb, '{');
        for (size_t i = 0; i < sizeof st / sizeof st[0]; i++) {
            if (!st[i].v) continue;
            key(sb, 2, &f2, st[i].k);
            strbuf_printf(sb, "%llu", (unsigned long long)st[i].v);
        }
        if (!f2) nl(sb, 1);
        strbuf_putc(sb, '}');
    }
    key(sb, 1, &first, "compaction");
    {
        bool f2 = true;
        strbuf_putc(sb, '{');
        key(sb, 2, &f2, "level");
        strbuf_printf(sb, "%d", m->level);
        if (m->nsources) {
            key(sb, 2, &f2, "sources");
            strbuf_putc(sb, '[');
            for (size_t i = 0; i < m->nsources; i++) {
                if (i) strbuf_putc(sb, ',');
                nl(sb, 3);
                json_escape(sb, m->sources[i], strlen(m->sources[i]));
            }
            nl(sb, 2);
            strbuf_putc(sb, ']');
        }
        if (m->deletable) {
            key(sb, 2, &f2, "deletable");
            strbuf_puts(sb, "true");
        }
        if (m->nparents) {
            key(sb, 2, &f2, "parents");
            strbuf_putc(sb, '[');
            for (size_t i = 0; i < m->nparents; i++) {
                if (i) strbuf_putc(sb, ',');
                nl(sb, 3);
                bool f3 = true;
                strbuf_putc(sb, '{');
                key(sb, 4, &f3, "ulid");
                json_escape(sb, m->parents[i].ulid, strlen(m->parents[i].ulid));
                key(sb, 4, &f3, "minTime");
                strbuf_printf(sb, "%lld", (long long)m->parents[i].min_time);
                key(sb, 4, &f3, "maxTime");
                strbuf_printf(sb, "%lld", (long long)m->parents[i].max_time);
                nl(sb, 3);
                strbuf_putc(sb, '}');
            }
            nl(sb, 2);
            strbuf_putc(sb, ']');
        }
        if (m->failed) {
            key(sb, 2, &f2, "failed");
            strbuf_puts(sb, "true");
        }
        if (m->nhints) {
            key(sb, 2, &f2, "hints");
            strbuf_putc(sb, '[');
            for (size_t i = 0; i < m->nhints; i++) {
                if (i) strbuf_putc(sb, ',');
                nl(sb, 3);
                json_escape(sb, m->hints[i], strlen(m->hints[i]));
            }
            nl(sb, 2);
            strbuf_putc(sb, ']');
        }
        nl(sb, 1);
        strbuf_putc(sb, '}');
    }
    key(sb, 1, &first, "version");
    strbuf_printf(sb, "%d", m->version ? m->version : 1);
    if (m->thanos) {
        key(sb, 1, &first, "thanos");
        put_json(sb, (json_t *)m->thanos, 1);
    }
    strbuf_puts(sb, "\n}"); /* no trailing newline, as Go writes it */
}

int block_meta_write(const char *dir, const block_meta_t *m, pl_err_t *err) {
    char path[4096];
    snprintf(path, sizeof path, "%s/meta.json", dir);
    strbuf_t sb = STRBUF_INIT;
    block_meta_render(m, &sb);
    int rc = tsdb_write_file_atomic(path, sb.data, sb.len, err);
    strbuf_free(&sb);
    return rc;
}
