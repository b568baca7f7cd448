/* file_sd.c — file-based service discovery: target files in JSON or YAML,
 * found by globs, re-read when they change. See file_sd.h.
 *
 * Change detection is by polling (glob + stat about once a second, from the
 * scrape thread) rather than inotify: it needs no extra thread or fd per
 * directory, sees files that appear under a glob the same way as edits, and
 * a second of delay is well inside any scrape interval. Each file's content
 * hash is kept, so touching a file without changing it is not a change. */
#include "scrape/file_sd.h"

#include <errno.h>
#include <glob.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <jansson.h>
#include <yaml.h>
#define XXH_STATIC_LINKING_ONLY
#include <xxhash.h>

#include "util/log.h"
#include "util/strbuf.h"

static _Atomic uint64_t read_errors;

uint64_t file_sd_read_errors_total(void) { return atomic_load(&read_errors); }

/* ---- groups ------------------------------------------------------------------ */

static void group_free(sd_group_t *g) {
    for (size_t i = 0; i < g->ntargets; i++)
        free(g->targets[i]);
    free(g->targets);
    for (size_t i = 0; i < g->nlabels; i++) {
        free((char *)g->labels[i].name);
        free((char *)g->labels[i].value);
    }
    free(g->labels);
    memset(g, 0, sizeof *g);
}

void sd_groups_free(sd_groups_t *g) {
    for (size_t i = 0; i < g->n; i++)
        group_free(&g->v[i]);
    free(g->v);
    g->v = NULL;
    g->n = 0;
}

static int group_add_target(sd_group_t *g, const char *s, size_t len) {
    char **p = realloc(g->targets, (g->ntargets + 1) * sizeof *p);
    if (!p) return -1;
    g->targets = p;
    char *t = strndup(s, len);
    if (!t) return -1;
    g->targets[g->ntargets++] = t;
    return 0;
}

/* Adds a label; a name given twice keeps the last value (as a Go map would). */
static int group_add_label(sd_group_t *g, const char *name, const char *value, size_t vlen) {
    char *v = strndup(value, vlen);
    if (!v) return -1;
    for (size_t i = 0; i < g->nlabels; i++)
        if (strcmp(g->labels[i].name, name) == 0) {
            free((char *)g->labels[i].value);
            g->labels[i].value = v;
            return 0;
        }
    label_t *p = realloc(g->labels, (g->nlabels + 1) * sizeof *p);
    char *n = strdup(name);
    if (!p || !n) {
        if (p) g->labels = p;
        free(v);
        free(n);
        return -1;
    }
    g->labels = p;
    g->labels[g->nlabels++] = (label_t){n, v};
    return 0;
}

static bool legacy_label_name(const char *s) {
    if (!s[0]) return false;
    for (const char *p = s; *p; p++) {
        char c = *p;
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || (p != s && c >= '0' && c <= '9');
        if (!ok) return false;
    }
    return true;
}

static int groups_push(sd_groups_t *out, sd_group_t *g) {
    sd_group_t *p = realloc(out->v, (out->n + 1) * sizeof *p);
    if (!p) return -1;
    out->v = p;
    out->v[out->n++] = *g;
    memset(g, 0, sizeof *g);
    return 0;
}

/* ---- JSON ------------------------------------------------------------------------ */

static int parse_json(const char *data, size_t len, const char *path, sd_groups_t *out, pl_err_t *err) {
    json_error_t jerr;
    json_t *root = json_loadb(data, len, 0, &jerr);
    if (!root) return pl_err_set(err, "%s:%d:%d: %s", path, jerr.line, jerr.column, jerr.text);
    int rc = 0;
    sd_group_t g = {0};
    if (!json_is_array(root)) {
        rc = pl_err_set(err, "%s: a target file holds a list of target groups", path);
        goto done;
    }
    size_t i;
    json_t *item;
    json_array_foreach(root, i, item) {
        if (!json_is_object(item)) {
            rc = pl_err_set(err, "%s: target group %zu is not an object", path, i);
            goto done;
        }
        const char *key;
        json_t *val;
        json_object_foreach(item, key, val) {
            if (strcmp(key, "targets") == 0) {
                if (json_is_null(val)) continue;
                if (!json_is_array(val)) {
                    rc = pl_err_set(err, "%s: group %zu: targets must be a list of strings", path, i);
                    goto done;
                }
                size_t k;
                json_t *tv;
                json_array_foreach(val, k, tv) {
                    if (!json_is_string(tv)) {
                        rc = pl_err_set(err, "%s: group %zu: targets must be a list of strings", path, i);
                        goto done;
                    }
                    if (group_add_target(&g, json_string_value(tv), json_string_length(tv)) != 0) goto oom;
                }
            } else if (strcmp(key, "labels") == 0) {
                if (json_is_null(val)) continue;
                if (!json_is_object(val)) {
                    rc = pl_err_set(err, "%s: group %zu: labels must be a map of strings", path, i);
                    goto done;
                }
                const char *ln;
                json_t *lv;
                json_object_foreach(val, ln, lv) {
                    if (!legacy_label_name(ln)) {
                        rc = pl_err_set(err, "%s: group %zu: \"%s\" is not a valid label name", path, i, ln);
                        goto done;
                    }
                    if (!json_is_string(lv)) {
                        rc = pl_err_set(err, "%s: group %zu: the value of label \"%s\" is not a string", path, i, ln);
                        goto done;
                    }
                    if (group_add_label(&g, ln, json_string_value(lv), json_string_length(lv)) != 0) goto oom;
                }
            } else {
                rc = pl_err_set(err, "%s: group %zu: unknown field \"%s\"", path, i, key);
                goto done;
            }
        }
        if (groups_push(out, &g) != 0) goto oom;
    }
    goto done;
oom:
    rc = pl_err_set(err, "out of memory");
done:
    group_free(&g);
    json_decref(root);
    return rc;
}

/* ---- YAML ------------------------------------------------------------------------ */

static const char *yscalar(yaml_node_t *n, size_t *len) {
    *len = n->data.scalar.length;
    return (const char *)n->data.scalar.value;
}

/* A plain scalar that YAML 1.1 reads as null (go-yaml v2 does). */
static bool yaml_is_null(yaml_node_t *n) {
    if (!n || n->type != YAML_SCALAR_NODE || n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE) return false;
    const char *s = (const char *)n->data.scalar.value;
    return n->data.scalar.length == 0 || strcmp(s, "~") == 0 || strcmp(s, "null") == 0 || strcmp(s, "Null") == 0 ||
           strcmp(s, "NULL") == 0;
}

static int parse_yaml(const char *data, size_t len, const char *path, sd_groups_t *out, pl_err_t *err) {
    yaml_parser_t parser;
    yaml_document_t doc;
    if (!yaml_parser_initialize(&parser)) return pl_err_set(err, "out of memory");
    yaml_parser_set_input_string(&parser, (const unsigned char *)data, len);
    if (!yaml_parser_load(&parser, &doc)) {
        int rc = pl_err_set(err, "%s:%zu:%zu: %s", path, parser.problem_mark.line + 1, parser.problem_mark.column + 1,
                            parser.problem ? parser.problem : "YAML syntax error");
        yaml_parser_delete(&parser);
        return rc;
    }
    yaml_parser_delete(&parser);
    int rc = 0;
    sd_group_t g = {0};
    yaml_node_t *root = yaml_document_get_root_node(&doc);
    if (!root || yaml_is_null(root)) goto done; /* an empty file: no groups */
    if (root->type != YAML_SEQUENCE_NODE) {
        rc = pl_err_set(err, "%s:%zu:%zu: a target file holds a list of target groups", path,
                        root->start_mark.line + 1, root->start_mark.column + 1);
        goto done;
    }
    for (yaml_node_item_t *it = root->data.sequence.items.start; it < root->data.sequence.items.top; it++) {
        yaml_node_t *item = yaml_document_get_node(&doc, *it);
        if (!item || item->type != YAML_MAPPING_NODE) {
            rc = pl_err_set(err, "%s:%zu:%zu: a target group must be a map", path,
                            item ? item->start_mark.line + 1 : 0, item ? item->start_mark.column + 1 : 0);
            goto done;
        }
        for (yaml_node_pair_t *pr = item->data.mapping.pairs.start; pr < item->data.mapping.pairs.top; pr++) {
            yaml_node_t *k = yaml_document_get_node(&doc, pr->key);
            yaml_node_t *v = yaml_document_get_node(&doc, pr->value);
            if (!k || k->type != YAML_SCALAR_NODE) {
                rc = pl_err_set(err, "%s: a target group's keys must be strings", path);
                goto done;
            }
            const char *key = (const char *)k->data.scalar.value;
            if (yaml_is_null(v)) continue;
            if (strcmp(key, "targets") == 0) {
                if (v->type != YAML_SEQUENCE_NODE) {
                    rc = pl_err_set(err, "%s:%zu:%zu: targets must be a list of strings", path,
                                    v->start_mark.line + 1, v->start_mark.column + 1);
                    goto done;
                }
                for (yaml_node_item_t *ti = v->data.sequence.items.start; ti < v->data.sequence.items.top; ti++) {
                    yaml_node_t *tn = yaml_document_get_node(&doc, *ti);
                    if (!tn || tn->type != YAML_SCALAR_NODE) {
                        rc = pl_err_set(err, "%s:%zu:%zu: targets must be a list of strings", path,
                                        v->start_mark.line + 1, v->start_mark.column + 1);
                        goto done;
                    }
                    size_t sl;
                    const char *s = yscalar(tn, &sl);
                    if (group_add_target(&g, s, sl) != 0) goto oom;
                }
            } else if (strcmp(key, "labels") == 0) {
                if (v->type != YAML_MAPPING_NODE) {
                    rc = pl_err_set(err, "%s:%zu:%zu: labels must be a map of strings", path,
                                    v->start_mark.line + 1, v->start_mark.column + 1);
                    goto done;
                }
                for (yaml_node_pair_t *lp = v->data.mapping.pairs.start; lp < v->data.mapping.pairs.top; lp++) {
                    yaml_node_t *ln = yaml_document_get_node(&doc, lp->key);
                    yaml_node_t *lv = yaml_document_get_node(&doc, lp->value);
                    if (!ln || ln->type != YAML_SCALAR_NODE || !lv || lv->type != YAML_SCALAR_NODE) {
                        rc = pl_err_set(err, "%s:%zu:%zu: labels must be a map of strings", path,
                                        v->start_mark.line + 1, v->start_mark.column + 1);
                        goto done;
                    }
                    const char *name = (const char *)ln->data.scalar.value;
                    if (!legacy_label_name(name)) {
                        rc = pl_err_set(err, "%s:%zu:%zu: \"%s\" is not a valid label name", path,
                                        ln->start_mark.line + 1, ln->start_mark.column + 1, name);
                        goto done;
                    }
                    size_t vl;
                    const char *val = yaml_is_null(lv) ? "" : yscalar(lv, &vl);
                    if (yaml_is_null(lv)) vl = 0;
                    if (group_add_label(&g, name, val, vl) != 0) goto oom;
                }
            } else {
                rc = pl_err_set(err, "%s:%zu:%zu: field %s not found in type targetgroup", path,
                                k->start_mark.line + 1, k->start_mark.column + 1, key);
                goto done;
            }
        }
        if (groups_push(out, &g) != 0) goto oom;
    }
    goto done;
oom:
    rc = pl_err_set(err, "out of memory");
done:
    group_free(&g);
    yaml_document_delete(&doc);
    return rc;
}

static int cmp_label(const void *a, const void *b) {
    return strcmp(((const label_t *)a)->name, ((const label_t *)b)->name);
}

int file_sd_parse(const char *data, size_t len, bool yaml, const char *path, sd_groups_t *out, pl_err_t *err) {
    sd_groups_t got = {0};
    int rc = yaml ? parse_yaml(data, len, path, &got, err) : parse_json(data, len, path, &got, err);
    if (rc != 0) {
        sd_groups_free(&got);
        return -1;
    }
    for (size_t i = 0; i < got.n; i++) {
        if (group_add_label(&got.v[i], "__meta_filepath", path, strlen(path)) != 0) {
            sd_groups_free(&got);
            return pl_err_set(err, "out of memory");
        }
        qsort(got.v[i].labels, got.v[i].nlabels, sizeof(label_t), cmp_label);
    }
    if (got.n == 0) {
        free(got.v);
        return 0;
    }
    sd_group_t *p = realloc(out->v, (out->n + got.n) * sizeof *p);
    if (!p) {
        sd_groups_free(&got);
        return pl_err_set(err, "out of memory");
    }
    out->v = p;
    if (got.n) memcpy(out->v + out->n, got.v, got.n * sizeof *got.v);
    out->n += got.n;
    free(got.v);
    return 0;
}

/* ---- the discovery ------------------------------------------------------------------ */

typedef struct sd_file {
    char *path;
    bool seen; /* matched by the globs in the current refresh */
    bool read_ok;    /* groups hold a successful read */
    bool stat_known; /* dev..mtime describe the file as last read (successfully or not) */
    dev_t dev;
    ino_t ino;
    off_t size;
    struct timespec mtime;
    uint64_t hash; /* of the bytes last parsed successfully */
    sd_groups_t groups;
} sd_file_t;

struct file_sd {
    char **globs;
    size_t nglobs;
    int64_t refresh_ms;
    int64_t next_full_ms; /* 0: never read */
    sd_file_t *files;     /* sorted by path */
    size_t nfiles;
};

file_sd_t *file_sd_new(const file_sd_config_t *cfg) {
    file_sd_t *sd = calloc(1, sizeof *sd);
    if (!sd) return NULL;
    sd->globs = calloc(cfg->nfiles ? cfg->nfiles : 1, sizeof *sd->globs);
    if (!sd->globs) {
        free(sd);
        return NULL;
    }
    for (size_t i = 0; i < cfg->nfiles; i++) {
        sd->globs[i] = strdup(cfg->files[i]);
        if (!sd->globs[i]) {
            sd->nglobs = i;
            file_sd_free(sd);
            return NULL;
        }
    }
    sd->nglobs = cfg->nfiles;
    sd->refresh_ms = cfg->refresh_interval_ms > 0 ? cfg->refresh_interval_ms : 5 * 60 * 1000;
    return sd;
}

static void sd_file_free(sd_file_t *f) {
    free(f->path);
    sd_groups_free(&f->groups);
}

void file_sd_free(file_sd_t *sd) {
    if (!sd) return;
    for (size_t i = 0; i < sd->nglobs; i++)
        free(sd->globs[i]);
    free(sd->globs);
    for (size_t i = 0; i < sd->nfiles; i++)
        sd_file_free(&sd->files[i]);
    free(sd->files);
    free(sd);
}

static bool has_suffix(const char *s, const char *suf) {
    size_t n = strlen(s), m = strlen(suf);
    return n >= m && strcmp(s + n - m, suf) == 0;
}

static sd_file_t *find_file(file_sd_t *sd, const char *path) {
    for (size_t i = 0; i < sd->nfiles; i++)
        if (strcmp(sd->files[i].path, path) == 0) return &sd->files[i];
    return NULL;
}

static int cmp_file(const void *a, const void *b) {
    return strcmp(((const sd_file_t *)a)->path, ((const sd_file_t *)b)->path);
}

/* Reads and parses f. Returns true when its groups changed. */
static bool read_file(sd_file_t *f, const struct stat *st) {
    FILE *fp = fopen(f->path, "rb");
    pl_err_t err = {{0}};
    strbuf_t sb = STRBUF_INIT;
    bool changed = false;
    if (!fp) {
        pl_err_set(&err, "open %s: %s", f->path, strerror(errno));
        goto fail;
    }
    char buf[8192];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, fp)) > 0)
        strbuf_append(&sb, buf, n);
    bool ioerr = ferror(fp);
    fclose(fp);
    if (ioerr) {
        pl_err_set(&err, "read %s: I/O error", f->path);
        goto fail;
    }
    const char *data = sb.data ? sb.data : "";
    uint64_t h = XXH3_64bits(data, sb.len);
    f->dev = st->st_dev;
    f->ino = st->st_ino;
    f->size = st->st_size;
    f->mtime = st->st_mtim;
    f->stat_known = true;
    if (f->read_ok && h == f->hash) goto out; /* same bytes */
    sd_groups_t g = {0};
    bool yaml = !has_suffix(f->path, ".json");
    if (file_sd_parse(data, sb.len, yaml, f->path, &g, &err) != 0) goto fail;
    sd_groups_free(&f->groups);
    f->groups = g;
    f->hash = h;
    f->read_ok = true;
    changed = true;
    goto out;
fail:
    atomic_fetch_add(&read_errors, 1);
    log_error("discovery", "Error reading file", "path=%s err=\"%s\"", f->path, err.msg);
out:
    strbuf_free(&sb);
    return changed;
}

bool file_sd_refresh(file_sd_t *sd, int64_t now_ms, bool force) {
    bool full = force || sd->next_full_ms == 0 || now_ms >= sd->next_full_ms;
    if (full) sd->next_full_ms = now_ms + sd->refresh_ms;
    bool changed = false;
    for (size_t i = 0; i < sd->nfiles; i++)
        sd->files[i].seen = false;
    for (size_t gi = 0; gi < sd->nglobs; gi++) {
        glob_t gl;
        memset(&gl, 0, sizeof gl);
        int grc = glob(sd->globs[gi], 0, NULL, &gl);
        if (grc != 0 && grc != GLOB_NOMATCH) {
            log_error("discovery", "Error expanding glob", "glob=%s", sd->globs[gi]);
            globfree(&gl);
            continue;
        }
        for (size_t k = 0; k < gl.gl_pathc; k++) {
            const char *p = gl.gl_pathv[k];
            if (!has_suffix(p, ".json") && !has_suffix(p, ".yml") && !has_suffix(p, ".yaml")) continue;
            struct stat st;
            if (stat(p, &st) != 0 || !S_ISREG(st.st_mode)) continue;
            sd_file_t *f = find_file(sd, p);
            if (!f) {
                sd_file_t *nf = realloc(sd->files, (sd->nfiles + 1) * sizeof *nf);
                if (!nf) continue;
                sd->files = nf;
                f = &sd->files[sd->nfiles];
                memset(f, 0, sizeof *f);
                f->path = strdup(p);
                if (!f->path) continue;
                sd->nfiles++;
            }
            if (f->seen) continue; /* two globs matched it */
            f->seen = true;
            bool stat_changed = !f->stat_known || f->dev != st.st_dev || f->ino != st.st_ino || f->size != st.st_size ||
                                f->mtime.tv_sec != st.st_mtim.tv_sec || f->mtime.tv_nsec != st.st_mtim.tv_nsec;
            if (full || stat_changed) changed |= read_file(f, &st);
        }
        globfree(&gl);
    }
    /* Files gone from the globs lose their groups. */
    size_t w = 0;
    for (size_t i = 0; i < sd->nfiles; i++) {
        if (!sd->files[i].seen) {
            if (sd->files[i].groups.n) changed = true;
            sd_file_free(&sd->files[i]);
            continue;
        }
        sd->files[w++] = sd->files[i];
    }
    sd->nfiles = w;
    if (w > 1) qsort(sd->files, w, sizeof *sd->files, cmp_file);
    return changed;
}

int file_sd_foreach(const file_sd_t *sd, file_sd_group_fn fn, void *ctx) {
    for (size_t i = 0; i < sd->nfiles; i++)
        for (size_t k = 0; k < sd->files[i].groups.n; k++) {
            int rc = fn(ctx, &sd->files[i].groups.v[k]);
            if (rc) return rc;
        }
    return 0;
}
