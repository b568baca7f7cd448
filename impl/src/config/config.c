/* config.c — loading and validating prometheus.yml (see config.h).
 *
 * libyaml's document API turns the bytes into a graph of nodes, each of which
 * remembers its line and column. The decoders below walk that graph guided by
 * Prometheus's schema, one function per Go type of Prometheus's config
 * package (decode_global for config.GlobalConfig, decode_relabel for
 * relabel.Config, ...), so an unknown key or a value of the wrong type is
 * reported at the node that holds it, in Prometheus's words ("field X not
 * found in type config.ScrapeConfig", "cannot unmarshal !!str `x` into
 * bool") with "FILE:LINE:COL: " in front.
 *
 * Semantics follow go-yaml v2 as Prometheus uses it (UnmarshalStrict):
 *   - YAML 1.1 scalars: yes/no/on/off are booleans, 0x1F is an int;
 *   - a null value sets the Go zero value ("" for a string, false, 0), and
 *     zero durations and limits mean "inherit";
 *   - a repeated key is an error; merge keys ("<<") are honoured, explicit
 *     keys winning over merged ones;
 *   - only the first document of the stream is read.
 *
 * A walk over a YAML graph must be guarded: aliases let a tiny file name the
 * same subtree millions of times ("billion laughs"), and a merge key can name
 * the mapping it sits in. Every node visit is counted against a budget
 * proportional to the document's size, and merges nest at most
 * MAX_MERGE_DEPTH deep. The schema bounds the depth of everything else.
 *
 * Allocation failures are reported as "out of memory" and unwind like any
 * other error; the partly built config is freed by config_free.
 */
#define PCRE2_CODE_UNIT_WIDTH 8
#include "config/config.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <pcre2.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "util/timeutil.h"

#define MAX_MERGE_DEPTH 16
#define DEFAULT_SCRAPE_INTERVAL_MS (60 * 1000)
#define DEFAULT_SCRAPE_TIMEOUT_MS (10 * 1000)
#define DEFAULT_EVALUATION_INTERVAL_MS (60 * 1000)
#define DEFAULT_FILE_SD_REFRESH_MS (5 * 60 * 1000)
#define DEFAULT_ALERTMANAGER_TIMEOUT_MS (10 * 1000)

/* ---- context and errors -------------------------------------------------- */

typedef struct ctx {
    const char *filename;
    char *dir; /* directory relative paths are joined to */
    yaml_document_t *doc;
    pl_err_t *err;
    size_t visits, max_visits;
    char *global_escaping;  /* global metric_name_escaping_scheme as written ("" when unset) */
    char quote_buf[4][160]; /* for q() */
    unsigned quote_next;
} ctx_t;

/* "FILE:LINE:COL: message", or "FILE: message" when n is NULL. Returns -1. */
static int ferr(ctx_t *x, const yaml_node_t *n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int ferr(ctx_t *x, const yaml_node_t *n, const char *fmt, ...) {
    char msg[PL_ERR_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (n)
        return pl_err_set(x->err, "%s:%zu:%zu: %s", x->filename, n->start_mark.line + 1, n->start_mark.column + 1, msg);
    return pl_err_set(x->err, "%s: %s", x->filename, msg);
}

static int oom(ctx_t *x) { return ferr(x, NULL, "out of memory"); }

/* Quotes s as Go's %q does, for messages; long strings are cut with "...".
 * The result lives in one of four rotating buffers of the context. */
static const char *q(ctx_t *x, const char *s) {
    char *out = x->quote_buf[x->quote_next++ % 4];
    size_t cap = sizeof x->quote_buf[0], o = 0;
    out[o++] = '"';
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        char tmp[8];
        size_t tl;
        switch (*p) {
        case '"': tl = (size_t)snprintf(tmp, sizeof tmp, "\\\""); break;
        case '\\': tl = (size_t)snprintf(tmp, sizeof tmp, "\\\\"); break;
        case '\n': tl = (size_t)snprintf(tmp, sizeof tmp, "\\n"); break;
        case '\t': tl = (size_t)snprintf(tmp, sizeof tmp, "\\t"); break;
        case '\r': tl = (size_t)snprintf(tmp, sizeof tmp, "\\r"); break;
        default:
            if (*p < 0x20 || *p == 0x7f)
                tl = (size_t)snprintf(tmp, sizeof tmp, "\\x%02x", *p);
            else
                tmp[0] = (char)*p, tl = 1;
        }
        if (o + tl + 5 > cap) {
            memcpy(out + o, "...", 3);
            o += 3;
            break;
        }
        memcpy(out + o, tmp, tl);
        o += tl;
    }
    out[o++] = '"';
    out[o] = '\0';
    return out;
}

static int visit(ctx_t *x, const yaml_node_t *n) {
    if (++x->visits > x->max_visits) return ferr(x, n, "yaml: document contains excessive aliasing");
    return 0;
}

static char *xstrndup(ctx_t *x, const char *s, size_t n) {
    char *d = malloc(n + 1);
    if (!d) {
        oom(x);
        return NULL;
    }
    memcpy(d, s, n);
    d[n] = '\0';
    return d;
}
static char *xstrdup(ctx_t *x, const char *s) { return xstrndup(x, s, strlen(s)); }

static void *xcalloc(ctx_t *x, size_t n, size_t size) {
    void *p = calloc(n ? n : 1, size);
    if (!p) oom(x);
    return p;
}

/* Replaces *slot with a copy of s. */
static int set_str(ctx_t *x, char **slot, const char *s) {
    char *d = xstrdup(x, s);
    if (!d) return -1;
    free(*slot);
    *slot = d;
    return 0;
}

static void free_strv(char **v, size_t n) {
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

/* ---- nodes and scalar resolution ----------------------------------------- */

static yaml_node_t *node(ctx_t *x, int index) { return yaml_document_get_node(x->doc, index); }

static const char *scalar_value(const yaml_node_t *n) { return (const char *)n->data.scalar.value; }

static bool matches_any(const char *s, size_t n, const char *const *list) {
    for (; *list; list++)
        if (strlen(*list) == n && memcmp(*list, s, n) == 0) return true;
    return false;
}

static const char *const yaml_nulls[] = {"~", "null", "Null", "NULL", NULL};
static const char *const yaml_trues[] = {"y", "Y", "yes", "Yes", "YES", "true", "True", "TRUE", "on", "On", "ON", NULL};
static const char *const yaml_falses[] = {"n",     "N",     "no",  "No",  "NO",  "false",
                                          "False", "FALSE", "off", "Off", "OFF", NULL};
static const char *const yaml_float_words[] = {".inf",  ".Inf",  ".INF", "+.inf", "+.Inf", "+.INF", "-.inf",
                                               "-.Inf", "-.INF", ".nan", ".NaN",  ".NAN",  NULL};

/* Go's strconv.ParseInt(s, 0, 64) || ParseUint(s, 0, 64): an optional sign
 * (ParseInt only), then 0x / 0o / 0b / leading-0 octal / decimal digits.
 * On success *neg and *mag describe the value. */
static bool go_parse_int(const char *s, size_t n, bool *neg, uint64_t *mag) {
    size_t i = 0;
    bool minus = false, plus = false;
    if (i < n && (s[i] == '+' || s[i] == '-')) minus = s[i] == '-', plus = s[i] == '+', i++;
    unsigned base = 10;
    if (n - i >= 2 && s[i] == '0' && (s[i + 1] == 'x' || s[i + 1] == 'X'))
        base = 16, i += 2;
    else if (n - i >= 2 && s[i] == '0' && (s[i + 1] == 'o' || s[i + 1] == 'O'))
        base = 8, i += 2;
    else if (n - i >= 2 && s[i] == '0' && (s[i + 1] == 'b' || s[i + 1] == 'B'))
        base = 2, i += 2;
    else if (n - i >= 2 && s[i] == '0')
        base = 8, i += 1;
    if (i >= n) return false;
    uint64_t v = 0;
    bool overflow = false;
    for (; i < n; i++) {
        int c = (unsigned char)s[i], d;
        if (c >= '0' && c <= '9')
            d = c - '0';
        else if (c >= 'a' && c <= 'f')
            d = c - 'a' + 10;
        else if (c >= 'A' && c <= 'F')
            d = c - 'A' + 10;
        else
            return false;
        if ((unsigned)d >= base) return false;
        if (v > (UINT64_MAX - (uint64_t)d) / base)
            overflow = true;
        else
            v = v * base + (uint64_t)d;
    }
    if (overflow) return false;
    if (minus) {
        if (v > (uint64_t)INT64_MAX + 1) return false;
    } else if (plus && v > (uint64_t)INT64_MAX) {
        return false; /* ParseInt overflows; ParseUint refuses the sign */
    }
    *neg = minus && v != 0;
    *mag = v;
    return true;
}

/* go-yaml's float pattern: ^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$ */
static bool yaml_float_syntax(const char *s, size_t n) {
    size_t i = 0;
    if (i < n && (s[i] == '+' || s[i] == '-')) i++;
    if (i < n && s[i] == '.') {
        i++;
        size_t d = i;
        while (i < n && isdigit((unsigned char)s[i]))
            i++;
        if (i == d) return false;
    } else {
        size_t d = i;
        while (i < n && isdigit((unsigned char)s[i]))
            i++;
        if (i == d) return false;
        if (i < n && s[i] == '.') {
            i++;
            while (i < n && isdigit((unsigned char)s[i]))
                i++;
        }
    }
    if (i < n && (s[i] == 'e' || s[i] == 'E')) {
        i++;
        if (i < n && (s[i] == '+' || s[i] == '-')) i++;
        size_t d = i;
        while (i < n && isdigit((unsigned char)s[i]))
            i++;
        if (i == d) return false;
    }
    return i == n;
}

/* A float that strconv.ParseFloat takes without a range error. */
static bool yaml_float_value(const char *s, size_t n) {
    if (!yaml_float_syntax(s, n)) return false;
    char buf[512];
    if (n >= sizeof buf)
        return true; /* only digits and an exponent: long mantissas are finite unless the exponent is huge */
    memcpy(buf, s, n);
    buf[n] = '\0';
    errno = 0;
    double v = strtod(buf, NULL);
    return !isinf(v);
}

/* go-yaml's quick check for a timestamp: YYYY-M-D, optionally followed by a
 * time. Over-approximates, which only makes the renderer quote a little more. */
static bool yaml_timestamp_like(const char *s, size_t n) {
    size_t i = 0;
    while (i < n && isdigit((unsigned char)s[i]))
        i++;
    if (i != 4 || i == n || s[i] != '-') return false;
    i++;
    size_t d = i;
    while (i < n && isdigit((unsigned char)s[i]))
        i++;
    if (i == d || i - d > 2 || i == n || s[i] != '-') return false;
    i++;
    d = i;
    while (i < n && isdigit((unsigned char)s[i]))
        i++;
    if (i == d || i - d > 2) return false;
    return i == n || s[i] == 'T' || s[i] == 't' || s[i] == ' ';
}

const char *config_yaml_resolve(const char *s, size_t n) {
    if (n == 0 || matches_any(s, n, yaml_nulls)) return "!!null";
    if (matches_any(s, n, yaml_trues) || matches_any(s, n, yaml_falses)) return "!!bool";
    if (matches_any(s, n, yaml_float_words)) return "!!float";
    char c = s[0];
    if (c == '.') return yaml_float_syntax(s, n) ? "!!float" : "!!str";
    if (!(isdigit((unsigned char)c) || c == '+' || c == '-')) return "!!str";
    if (isdigit((unsigned char)c) && yaml_timestamp_like(s, n)) return "!!timestamp";
    /* go-yaml drops every '_' before trying numbers. */
    char small[128] = {0};
    char *plain = n < sizeof small ? small : malloc(n + 1);
    if (!plain) return "!!str";
    size_t m = 0;
    for (size_t i = 0; i < n; i++)
        if (s[i] != '_') plain[m++] = s[i];
    bool neg;
    uint64_t mag;
    const char *tag = "!!str";
    if (go_parse_int(plain, m, &neg, &mag))
        tag = "!!int";
    else if (yaml_float_value(plain, m))
        tag = "!!float";
    if (plain != small) free(plain);
    return tag;
}

/* The tag of a node: explicit tags win; plain scalars resolve; quoted ones are strings. */
static const char *node_tag(const yaml_node_t *n) {
    switch (n->type) {
    case YAML_SEQUENCE_NODE: return "!!seq";
    case YAML_MAPPING_NODE: return "!!map";
    case YAML_SCALAR_NODE: break;
    default: return "!!null";
    }
    const char *t = (const char *)n->tag;
    if (t && strcmp(t, YAML_STR_TAG) != 0) {
        static const char *const known[] = {"null", "bool", "int", "float", "timestamp", "binary", "str", NULL};
        static const char *const short_tags[] = {"!!null",      "!!bool",   "!!int", "!!float",
                                                 "!!timestamp", "!!binary", "!!str"};
        const char *prefix = "tag:yaml.org,2002:";
        if (strncmp(t, prefix, strlen(prefix)) == 0)
            for (int i = 0; known[i]; i++)
                if (strcmp(t + strlen(prefix), known[i]) == 0) return short_tags[i];
        return t;
    }
    if (n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE) return "!!str";
    return config_yaml_resolve(scalar_value(n), n->data.scalar.length);
}

static bool is_null(const yaml_node_t *n) { return n->type == YAML_SCALAR_NODE && strcmp(node_tag(n), "!!null") == 0; }

/* "cannot unmarshal !!str `x` into bool", as go-yaml words a type mismatch. */
static int type_err(ctx_t *x, const yaml_node_t *n, const char *go_type) {
    const char *tag = node_tag(n);
    if (n->type == YAML_SCALAR_NODE) {
        char v[64];
        size_t len = n->data.scalar.length;
        if (len > 40)
            snprintf(v, sizeof v, "%.37s...", scalar_value(n));
        else
            snprintf(v, sizeof v, "%s", scalar_value(n));
        return ferr(x, n, "cannot unmarshal %s `%s` into %s", tag, v, go_type);
    }
    return ferr(x, n, "cannot unmarshal %s into %s", tag, go_type);
}

/* The text of a scalar, refusing NUL bytes (C strings could not hold them). */
static int scalar_text(ctx_t *x, const yaml_node_t *n, const char **out) {
    if (strlen(scalar_value(n)) != n->data.scalar.length)
        return ferr(x, n, "string contains a NUL character, which promlab does not support");
    *out = scalar_value(n);
    return 0;
}

/* ---- mappings: collecting key/value pairs ---------------------------------- */

typedef struct field {
    const char *name;
    yaml_node_t *key, *val;
} field_t;

/* Open-addressing set of names -> index, for duplicate detection and merges. */
typedef struct nameset {
    const char **keys;
    size_t *vals;
    size_t cap, n;
} nameset_t;

static uint64_t name_hash(const char *s) {
    uint64_t h = 1469598103934665603ULL;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return h;
}

static void nameset_free(nameset_t *ns) {
    free(ns->keys);
    free(ns->vals);
    memset(ns, 0, sizeof *ns);
}

/* Inserts name -> val unless present. Returns 1 and sets *found when present,
 * 0 when inserted, -1 on allocation failure. */
static int nameset_put(nameset_t *ns, const char *name, size_t val, size_t *found) {
    if ((ns->n + 1) * 2 > ns->cap) {
        size_t cap = ns->cap ? ns->cap * 2 : 16;
        const char **keys = calloc(cap, sizeof *keys);
        size_t *vals = calloc(cap, sizeof *vals);
        if (!keys || !vals) {
            free(keys);
            free(vals);
            return -1;
        }
        for (size_t i = 0; i < ns->cap; i++) {
            if (!ns->keys[i]) continue;
            size_t j = name_hash(ns->keys[i]) & (cap - 1);
            while (keys[j])
                j = (j + 1) & (cap - 1);
            keys[j] = ns->keys[i];
            vals[j] = ns->vals[i];
        }
        free(ns->keys);
        free(ns->vals);
        ns->keys = keys, ns->vals = vals, ns->cap = cap;
    }
    size_t j = name_hash(name) & (ns->cap - 1);
    while (ns->keys[j]) {
        if (strcmp(ns->keys[j], name) == 0) {
            if (found) *found = ns->vals[j];
            return 1;
        }
        j = (j + 1) & (ns->cap - 1);
    }
    ns->keys[j] = name;
    ns->vals[j] = val;
    ns->n++;
    return 0;
}

typedef struct fields {
    field_t *v;
    size_t n, cap;
    nameset_t names;
} fields_t;

static void fields_free(fields_t *fs) {
    free(fs->v);
    nameset_free(&fs->names);
    memset(fs, 0, sizeof *fs);
}

static int fields_push(ctx_t *x, fields_t *fs, const char *name, yaml_node_t *k, yaml_node_t *v) {
    if (fs->n == fs->cap) {
        size_t cap = fs->cap ? fs->cap * 2 : 8;
        field_t *nv = realloc(fs->v, cap * sizeof *nv);
        if (!nv) return oom(x);
        fs->v = nv, fs->cap = cap;
    }
    fs->v[fs->n++] = (field_t){name, k, v};
    return 0;
}

static bool is_merge_key(const yaml_node_t *k) {
    return k->type == YAML_SCALAR_NODE && k->data.scalar.style == YAML_PLAIN_SCALAR_STYLE &&
           k->data.scalar.length == 2 && memcmp(k->data.scalar.value, "<<", 2) == 0;
}

/* Collects the pairs of mapping n into fs. A repeated explicit key is an
 * error, worded for a struct ("field X already set in type T") or a map
 * ("key \"X\" already set in map"). Pairs brought in by "<<" fill in only
 * the names not given explicitly; of several merged mappings the first wins. */
static int collect(ctx_t *x, yaml_node_t *n, fields_t *fs, const char *struct_type, int merge_depth) {
    if (merge_depth > MAX_MERGE_DEPTH) return ferr(x, n, "yaml: merge keys nest too deeply");
    yaml_node_t *merges[8];
    size_t nmerges = 0;
    for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
        yaml_node_t *k = node(x, p->key), *v = node(x, p->value);
        if (visit(x, k) < 0) return -1;
        if (is_merge_key(k)) {
            if (nmerges == sizeof merges / sizeof merges[0])
                return ferr(x, k, "yaml: too many merge keys in one mapping");
            merges[nmerges++] = v;
            continue;
        }
        if (k->type != YAML_SCALAR_NODE) return type_err(x, k, "string");
        const char *name = NULL;
        if (scalar_text(x, k, &name) < 0) return -1;
        size_t prev;
        int rc = nameset_put(&fs->names, name, fs->n, &prev);
        if (rc < 0) return oom(x);
        if (rc == 1) {
            if (struct_type) return ferr(x, k, "field %s already set in type %s", name, struct_type);
            return ferr(x, k, "key %s already set in map", q(x, name));
        }
        if (fields_push(x, fs, name, k, v) < 0) return -1;
    }
    for (size_t m = 0; m < nmerges; m++) {
        yaml_node_t *src = merges[m];
        if (visit(x, src) < 0) return -1;
        size_t nsrc = 1;
        if (src->type == YAML_SEQUENCE_NODE)
            nsrc = (size_t)(src->data.sequence.items.top - src->data.sequence.items.start);
        else if (src->type != YAML_MAPPING_NODE)
            return ferr(x, src, "map merge requires map or sequence of maps as the value");
        for (size_t i = 0; i < nsrc; i++) {
            yaml_node_t *mn = src->type == YAML_SEQUENCE_NODE ? node(x, src->data.sequence.items.start[i]) : src;
            if (mn->type != YAML_MAPPING_NODE)
                return ferr(x, mn, "map merge requires map or sequence of maps as the value");
            fields_t sub = {0};
            if (collect(x, mn, &sub, struct_type, merge_depth + 1) < 0) {
                fields_free(&sub);
                return -1;
            }
            for (size_t j = 0; j < sub.n; j++) {
                int rc = nameset_put(&fs->names, sub.v[j].name, fs->n, NULL);
                if (rc < 0 || (rc == 0 && fields_push(x, fs, sub.v[j].name, sub.v[j].key, sub.v[j].val) < 0)) {
                    fields_free(&sub);
                    return rc < 0 ? oom(x) : -1;
                }
            }
            fields_free(&sub);
        }
    }
    return 0;
}

/* Starts decoding a struct-typed node: null leaves the defaults (returns 0
 * with fs empty), a mapping is collected, anything else is a type error. */
static int begin_struct(ctx_t *x, yaml_node_t *n, fields_t *fs, const char *type) {
    memset(fs, 0, sizeof *fs);
    if (visit(x, n) < 0) return -1;
    if (is_null(n)) return 0;
    if (n->type != YAML_MAPPING_NODE) return type_err(x, n, type);
    if (collect(x, n, fs, type, 0) < 0) {
        fields_free(fs);
        return -1;
    }
    return 0;
}

static int unknown_field(ctx_t *x, const field_t *f, const char *type) {
    return ferr(x, f->key, "field %s not found in type %s", f->name, type);
}

static const field_t *fields_get(const fields_t *fs, const char *name) {
    for (size_t i = 0; i < fs->n; i++)
        if (strcmp(fs->v[i].name, name) == 0) return &fs->v[i];
    return NULL;
}

/* ---- scalar decoders ------------------------------------------------------ */

/* Go string: any scalar's text; null is "". */
static int dec_string(ctx_t *x, yaml_node_t *n, char **out) {
    if (visit(x, n) < 0) return -1;
    if (n->type != YAML_SCALAR_NODE) return type_err(x, n, "string");
    const char *s = "";
    if (!is_null(n) && scalar_text(x, n, &s) < 0) return -1;
    return set_str(x, out, s);
}

static int dec_bool(ctx_t *x, yaml_node_t *n, bool *out) {
    if (visit(x, n) < 0) return -1;
    if (is_null(n)) return (*out = false), 0;
    if (n->type == YAML_SCALAR_NODE && strcmp(node_tag(n), "!!bool") == 0) {
        const char *s = scalar_value(n);
        size_t len = n->data.scalar.length;
        if (matches_any(s, len, yaml_trues)) return (*out = true), 0;
        if (matches_any(s, len, yaml_falses)) return (*out = false), 0;
    }
    return type_err(x, n, "bool");
}

/* Go uint: a non-negative YAML int. (go-yaml would also truncate floats; a
 * limit of 1.5 samples is a mistake worth reporting.) */
static int dec_uint(ctx_t *x, yaml_node_t *n, uint64_t *out) {
    if (visit(x, n) < 0) return -1;
    if (is_null(n)) return (*out = 0), 0;
    if (n->type == YAML_SCALAR_NODE && strcmp(node_tag(n), "!!int") == 0) {
        const char *s = scalar_value(n);
        size_t len = n->data.scalar.length, m = 0;
        char buf[128] = {0};
        for (size_t i = 0; i < len && m < sizeof buf; i++)
            if (s[i] != '_') buf[m++] = s[i];
        bool neg;
        uint64_t mag;
        if (m < sizeof buf && go_parse_int(buf, m, &neg, &mag) && !neg) return (*out = mag), 0;
    }
    return type_err(x, n, "uint");
}

/* model.Duration: the scalar's text in Prometheus's duration syntax. */
static int dec_duration(ctx_t *x, yaml_node_t *n, int64_t *out) {
    if (visit(x, n) < 0) return -1;
    if (is_null(n)) return (*out = 0), 0;
    if (n->type != YAML_SCALAR_NODE) return type_err(x, n, "model.Duration");
    const char *s = NULL;
    if (scalar_text(x, n, &s) < 0) return -1;
    pl_err_t e;
    if (pl_parse_duration(s, out, &e) < 0) return ferr(x, n, "%s", e.msg);
    return 0;
}

/* units.Base2Bytes: "512MB", "1GiB", "0". */
static int dec_size(ctx_t *x, yaml_node_t *n, int64_t *out) {
    if (visit(x, n) < 0) return -1;
    if (is_null(n)) return (*out = 0), 0;
    if (n->type != YAML_SCALAR_NODE) return type_err(x, n, "units.Base2Bytes");
    const char *s = NULL;
    if (scalar_text(x, n, &s) < 0) return -1;
    pl_err_t e;
    if (pl_parse_size(s, out, &e) < 0) return ferr(x, n, "%s", e.msg);
    return 0;
}

/* []string: null is empty; each item any scalar (null item is ""). */
static int dec_string_list(ctx_t *x, yaml_node_t *n, char ***out, size_t *nout) {
    if (visit(x, n) < 0) return -1;
    free_strv(*out, *nout);
    *out = NULL, *nout = 0;
    if (is_null(n)) return 0;
    if (n->type != YAML_SEQUENCE_NODE) return type_err(x, n, "[]string");
    size_t cnt = (size_t)(n->data.sequence.items.top - n->data.sequence.items.start);
    char **v = xcalloc(x, cnt, sizeof *v);
    if (!v) return -1;
    *out = v;
    for (size_t i = 0; i < cnt; i++) {
        if (dec_string(x, node(x, n->data.sequence.items.start[i]), &v[i]) < 0) return -1;
        *nout = i + 1;
    }
    return 0;
}

/* Checks a node is null or of the given kind, for keys promlab accepts but
 * does not act on. kind: 'm' mapping, 's' scalar, 'l' sequence, 'b' bool,
 * 'u' uint, 'f' number. */
static int dec_ignored(ctx_t *x, yaml_node_t *n, char kind, const char *go_type) {
    if (visit(x, n) < 0) return -1;
    if (is_null(n)) return 0;
    switch (kind) {
    case 'm': return n->type == YAML_MAPPING_NODE ? 0 : type_err(x, n, go_type);
    case 'l': return n->type == YAML_SEQUENCE_NODE ? 0 : type_err(x, n, go_type);
    case 's': return n->type == YAML_SCALAR_NODE ? 0 : type_err(x, n, go_type);
    case 'b': {
        bool b;
        return dec_bool(x, n, &b);
    }
    case 'u': {
        uint64_t u;
        return dec_uint(x, n, &u);
    }
    case 'f': {
        const char *t = node_tag(n);
        return strcmp(t, "!!int") == 0 || strcmp(t, "!!float") == 0 ? 0 : type_err(x, n, go_type);
    }
    }
    return 0;
}

/* ---- labels -------------------------------------------------------------- */

static void labels_free_owned(config_labels_t *l) {
    for (size_t i = 0; i < l->n; i++) {
        free((char *)l->v[i].name);
        free((char *)l->v[i].value);
    }
    free(l->v);
    l->v = NULL, l->n = 0;
}

/* A map of label name -> value (model.LabelSet / labels.Labels), sorted. */
static int dec_labels(ctx_t *x, yaml_node_t *n, config_labels_t *out) {
    labels_free_owned(out);
    if (visit(x, n) < 0) return -1;
    if (is_null(n)) return 0;
    if (n->type != YAML_MAPPING_NODE) return type_err(x, n, "model.LabelSet");
    fields_t fs = {0};
    int rc = -1;
    if (collect(x, n, &fs, NULL, 0) < 0) goto done;
    out->v = xcalloc(x, fs.n, sizeof *out->v);
    if (!out->v) goto done;
    for (size_t i = 0; i < fs.n; i++) {
        const field_t *f = &fs.v[i];
        if (!label_name_valid(f->name, strlen(f->name))) {
            ferr(x, f->key, "%s is not a valid label name", q(x, f->name));
            goto done;
        }
        if (visit(x, f->val) < 0) goto done;
        if (f->val->type != YAML_SCALAR_NODE) {
            type_err(x, f->val, "model.LabelValue");
            goto done;
        }
        const char *v = "";
        if (!is_null(f->val) && scalar_text(x, f->val, &v) < 0) goto done;
        char *name = xstrdup(x, f->name), *value = name ? xstrdup(x, v) : NULL;
        if (!value) {
            free(name);
            goto done;
        }
        out->v[out->n++] = (label_t){name, value};
    }
    labels_sort(out->v, out->n);
    rc = 0;
done:
    fields_free(&fs);
    return rc;
}

/* os.Expand with Prometheus's mapping: "$$" is "$", $NAME and ${NAME} come
 * from the environment (unset is ""). Returns a malloc'd string or NULL. */
static char *expand_env(const char *s) {
    strbuf_t sb = STRBUF_INIT;
    strbuf_reserve(&sb, strlen(s));
    for (size_t j = 0; s[j]; j++) {
        if (s[j] != '$' || !s[j + 1]) {
            strbuf_putc(&sb, s[j]);
            continue;
        }
        const char *r = s + j + 1;
        char name[256];
        size_t w = 0, nl = 0;
        bool bad = false;
        if (r[0] == '{') {
            if (r[1] && strchr("*#$@!?-0123456789", r[1]) && r[2] == '}') {
                nl = 1, w = 3;
                name[0] = r[1];
            } else {
                size_t i = 1;
                while (r[i] && r[i] != '}')
                    i++;
                if (!r[i])
                    bad = true, w = 1; /* "${" without "}": eaten */
                else if (i == 1)
                    bad = true, w = 2; /* "${}": eaten */
                else {
                    nl = i - 1 < sizeof name - 1 ? i - 1 : sizeof name - 1;
                    memcpy(name, r + 1, nl);
                    w = i + 1;
                }
            }
        } else if (strchr("*#$@!?-0123456789", r[0])) {
            name[0] = r[0], nl = 1, w = 1;
        } else {
            while (isalnum((unsigned char)r[w]) || r[w] == '_')
                w++;
            nl = w < sizeof name - 1 ? w : sizeof name - 1;
            memcpy(name, r, nl);
        }
        name[nl] = '\0';
        if (bad) {
            /* nothing */
        } else if (nl == 0) {
            strbuf_putc(&sb, '$');
        } else if (strcmp(name, "$") == 0) {
            strbuf_putc(&sb, '$');
        } else {
            const char *v = getenv(name);
            if (v) strbuf_puts(&sb, v);
        }
        j += w;
    }
    return strbuf_detach(&sb);
}

/* ---- paths ---------------------------------------------------------------- */

char *config_path_clean(const char *path) {
    size_t n = strlen(path);
    if (n == 0) return strdup(".");
    bool rooted = path[0] == '/';
    char *out = malloc(n + 2);
    if (!out) return NULL;
    size_t w = 0, dotdot = 0; /* dotdot: where ".." may no longer backtrack */
    if (rooted) out[w++] = '/', dotdot = 1;
    size_t r = 0;
    while (r < n) {
        if (path[r] == '/') {
            r++;
        } else if (path[r] == '.' && (r + 1 == n || path[r + 1] == '/')) {
            r++;
        } else if (path[r] == '.' && path[r + 1] == '.' && (r + 2 == n || path[r + 2] == '/')) {
            r += 2;
            if (w > dotdot) {
                w--;
                while (w > dotdot && out[w] != '/')
                    w--;
            } else if (!rooted) {
                if (w > 0) out[w++] = '/';
                out[w++] = '.', out[w++] = '.';
                dotdot = w;
            }
        } else {
            if ((rooted && w != 1) || (!rooted && w != 0)) out[w++] = '/';
            while (r < n && path[r] != '/')
                out[w++] = path[r++];
        }
    }
    if (w == 0) out[w++] = '.';
    out[w] = '\0';
    return out;
}

char *config_join_dir(const char *dir, const char *path) {
    if (path[0] == '\0' || path[0] == '/') return strdup(path);
    size_t dl = strlen(dir), pl = strlen(path);
    char *joined = malloc(dl + pl + 2);
    if (!joined) return NULL;
    memcpy(joined, dir, dl);
    joined[dl] = '/';
    memcpy(joined + dl + 1, path, pl + 1);
    char *clean = config_path_clean(joined);
    free(joined);
    return clean;
}

/* filepath.Dir. */
static char *path_dir(const char *path) {
    const char *slash = strrchr(path, '/');
    if (!slash) return strdup(".");
    size_t n = (size_t)(slash - path);
    char *d = malloc(n + 2);
    if (!d) return NULL;
    if (n == 0)
        d[n++] = '/';
    else
        memcpy(d, path, n);
    d[n] = '\0';
    char *c = config_path_clean(d);
    free(d);
    return c;
}

static int resolve_path(ctx_t *x, char **p) {
    if (!*p) return 0;
    char *j = config_join_dir(x->dir, *p);
    if (!j) return oom(x);
    free(*p);
    *p = j;
    return 0;
}

/* ---- relabel -------------------------------------------------------------- */

const char *relabel_action_str(enum relabel_action a) {
    static const char *const names[] = {"replace",  "keep",      "drop",      "keepequal", "dropequal", "hashmod",
                                        "labelmap", "labeldrop", "labelkeep", "lowercase", "uppercase"};
    if ((unsigned)a >= sizeof names / sizeof names[0]) return "unknown";
    return names[a];
}

static bool is_word(char c) { return isalnum((unsigned char)c) || c == '_'; }

/* Prometheus's relabelTarget: ^(?:(?:[a-zA-Z_]|\$(?:\{\w+\}|\w+))+\w*)+$ —
 * a label name in which "$1", "$name" and "${name}" references may stand. */
static bool relabel_target_valid(const char *s) {
    if (!*s || isdigit((unsigned char)*s)) return false;
    while (*s) {
        if (*s == '$') {
            s++;
            if (*s == '{') {
                s++;
                if (!is_word(*s)) return false;
                while (is_word(*s))
                    s++;
                if (*s != '}') return false;
                s++;
            } else {
                if (!is_word(*s)) return false;
                while (is_word(*s))
                    s++;
            }
        } else if (is_word(*s)) {
            s++;
        } else {
            return false;
        }
    }
    return true;
}

static bool valid_name(const char *s) { return label_name_valid(s, strlen(s)); }

/* PCRE2 accepts constructs Go's RE2 (Prometheus's engine) refuses; a rule
 * using them would load here and not in Prometheus. Returns the offending
 * construct's length and sets *what, or 0. Character classes and escapes
 * are skipped so that "[(?=]" or "\\(?=" stay literal. */
static size_t re2_unsupported(const char *re, const char **at, const char **what) {
    bool in_class = false;
    for (const char *p = re; *p; p++) {
        if (*p == '\\') {
            if (!p[1]) return 0;
            if (!in_class && p[1] >= '1' && p[1] <= '9') return (*at = p), (*what = "invalid escape sequence"), 2;
            p++;
            continue;
        }
        if (in_class) {
            if (*p == ']') in_class = false;
            continue;
        }
        if (*p == '[') {
            in_class = true;
            if (p[1] == '^') p++;
            if (p[1] == ']') p++; /* a leading ']' is literal */
            continue;
        }
        if (p[0] == '(' && p[1] == '?') {
            static const char *const perl[] = {"(?=", "(?!", "(?<=", "(?<!", "(?>", "(?(", "(?R", "(?|", "(?#", NULL};
            for (int i = 0; perl[i]; i++)
                if (strncmp(p, perl[i], strlen(perl[i])) == 0)
                    return (*at = p), (*what = "invalid or unsupported Perl syntax"), p[2] == '<' ? 3 : strlen(perl[i]);
        }
        if ((*p == '*' || *p == '+' || *p == '?' || *p == '}') && p[1] == '+')
            return (*at = p), (*what = "invalid nested repetition operator"), 2;
    }
    return 0;
}

/* Compiles "^(?:re)$" as the relabel engine and matchers do. */
static int check_regex(ctx_t *x, const yaml_node_t *at, const char *re) {
    const char *bad, *what;
    size_t bad_len = re2_unsupported(re, &bad, &what);
    if (bad_len) return ferr(x, at, "error parsing regexp: %s: `%.*s`", what, (int)bad_len, bad);
    strbuf_t src = STRBUF_INIT;
    strbuf_printf(&src, "^(?:%s)$", re);
    int code;
    PCRE2_SIZE off;
    pcre2_code *c = pcre2_compile((PCRE2_SPTR)src.data, src.len, PCRE2_DOTALL | PCRE2_UTF, &code, &off, NULL);
    strbuf_free(&src);
    if (!c) {
        PCRE2_UCHAR msg[256];
        pcre2_get_error_message(code, msg, sizeof msg);
        char shown[96];
        snprintf(shown, sizeof shown, "%s", re);
        return ferr(x, at, "error parsing regexp: %s: `%s`", (char *)msg, shown);
    }
    pcre2_code_free(c);
    return 0;
}

static void relabel_free(relabel_config_t *r) {
    free_strv(r->source_labels, r->nsource_labels);
    free(r->separator);
    free(r->regex);
    free(r->target_label);
    free(r->replacement);
    memset(r, 0, sizeof *r);
}

static void relabels_free(relabel_config_t *v, size_t n) {
    for (size_t i = 0; i < n; i++)
        relabel_free(&v[i]);
    free(v);
}

/* relabel.Config, with Prometheus's per-action rules (relabel.Config.Validate). */
static int decode_relabel(ctx_t *x, yaml_node_t *n, relabel_config_t *r, const char *null_msg) {
    r->action = RELABEL_REPLACE;
    if (set_str(x, &r->separator, ";") < 0 || set_str(x, &r->regex, "(.*)") < 0 ||
        set_str(x, &r->replacement, "$1") < 0)
        return -1;
    r->line = (int)n->start_mark.line + 1;
    if (is_null(n)) return ferr(x, n, "%s", null_msg);
    fields_t fs;
    if (begin_struct(x, n, &fs, "relabel.Config") < 0) return -1;
    int rc = -1;
    bool source_set = false, action_empty = false;
    char *action = NULL;
    for (size_t i = 0; i < fs.n; i++) {
        field_t *f = &fs.v[i];
        const char *k = f->name;
        if (!strcmp(k, "source_labels")) {
            if (dec_string_list(x, f->val, &r->source_labels, &r->nsource_labels) < 0) goto done;
            source_set = !is_null(f->val);
            for (size_t j = 0; j < r->nsource_labels; j++)
                if (!valid_name(r->source_labels[j])) {
                    ferr(x, node(x, f->val->data.sequence.items.start[j]), "%s is not a valid label name",
                         q(x, r->source_labels[j]));
                    goto done;
                }
        } else if (!strcmp(k, "separator")) {
            if (dec_string(x, f->val, &r->separator) < 0) goto done;
        } else if (!strcmp(k, "regex")) {
            if (dec_string(x, f->val, &r->regex) < 0) goto done;
            r->regex_set = true;
            if (check_regex(x, f->val, r->regex) < 0) goto done;
        } else if (!strcmp(k, "modulus")) {
            if (dec_uint(x, f->val, &r->modulus) < 0) goto done;
        } else if (!strcmp(k, "target_label")) {
            if (dec_string(x, f->val, &r->target_label) < 0) goto done;
        } else if (!strcmp(k, "replacement")) {
            if (dec_string(x, f->val, &r->replacement) < 0) goto done;
        } else if (!strcmp(k, "action")) {
            if (dec_string(x, f->val, &action) < 0) goto done;
            if (!action || !*action) {
                action_empty = true;
                continue;
            }
            char lower[32];
            size_t al = strlen(action);
            bool found = false;
            if (al < sizeof lower) {
                for (size_t j = 0; j <= al; j++)
                    lower[j] = (char)tolower((unsigned char)action[j]);
                for (int a = RELABEL_REPLACE; a <= RELABEL_UPPERCASE; a++)
                    if (!strcmp(lower, relabel_action_str((enum relabel_action)a))) {
                        r->action = (enum relabel_action)a;
                        found = true;
                    }
            }
            if (!found) {
                ferr(x, f->val, "unknown relabel action %s", q(x, action));
                goto done;
            }
            action_empty = false;
        } else {
            unknown_field(x, f, "relabel.Config");
            goto done;
        }
    }
    enum relabel_action a = r->action;
    const char *an = relabel_action_str(a);
    const char *tl = r->target_label ? r->target_label : "";
    bool default_replacement = strcmp(r->replacement, "$1") == 0;
    if (action_empty) {
        ferr(x, n, "relabel action cannot be empty");
        goto done;
    }
    if (a == RELABEL_HASHMOD && r->modulus == 0) {
        ferr(x, n, "relabel configuration for hashmod requires non-zero modulus");
        goto done;
    }
    if ((a == RELABEL_REPLACE || a == RELABEL_HASHMOD || a == RELABEL_LOWERCASE || a == RELABEL_UPPERCASE ||
         a == RELABEL_KEEPEQUAL || a == RELABEL_DROPEQUAL) &&
        !*tl) {
        ferr(x, n, "relabel configuration for %s action requires 'target_label' value", an);
        goto done;
    }
    if (a == RELABEL_REPLACE &&
        ((!strchr(tl, '$') && !valid_name(tl)) || (strchr(tl, '$') && !relabel_target_valid(tl)))) {
        ferr(x, n, "%s is invalid 'target_label' for %s action", q(x, tl), an);
        goto done;
    }
    if ((a == RELABEL_LOWERCASE || a == RELABEL_UPPERCASE || a == RELABEL_KEEPEQUAL || a == RELABEL_DROPEQUAL) &&
        !valid_name(tl)) {
        ferr(x, n, "%s is invalid 'target_label' for %s action", q(x, tl), an);
        goto done;
    }
    if ((a == RELABEL_LOWERCASE || a == RELABEL_UPPERCASE || a == RELABEL_KEEPEQUAL || a == RELABEL_DROPEQUAL) &&
        !default_replacement) {
        ferr(x, n, "'replacement' can not be set for %s action", an);
        goto done;
    }
    if (a == RELABEL_LABELMAP && !relabel_target_valid(r->replacement)) {
        ferr(x, n, "%s is invalid 'replacement' for %s action", q(x, r->replacement), an);
        goto done;
    }
    if (a == RELABEL_HASHMOD && !valid_name(tl)) {
        ferr(x, n, "%s is invalid 'target_label' for %s action", q(x, tl), an);
        goto done;
    }
    if ((a == RELABEL_KEEPEQUAL || a == RELABEL_DROPEQUAL) &&
        (r->regex_set || r->modulus != 0 || strcmp(r->separator, ";") != 0 || !default_replacement)) {
        ferr(x, n, "%s action requires only 'source_labels' and `target_label`, and no other fields", an);
        goto done;
    }
    if ((a == RELABEL_LABELDROP || a == RELABEL_LABELKEEP) &&
        (source_set || *tl || r->modulus != 0 || strcmp(r->separator, ";") != 0 || !default_replacement)) {
        ferr(x, n, "%s action requires only 'regex', and no other fields", an);
        goto done;
    }
    rc = 0;
done:
    free(action);
    fields_free(&fs);
    return rc;
}

/* A list of relabel.Config; null items are refused with null_msg. */
static int dec_relabels(ctx_t *x, yaml_node_t *n, relabel_config_t **out, size_t *nout, const char *null_msg) {
    relabels_free(*out, *nout);
    *out = NULL, *nout = 0;
    if (visit(x, n) < 0) return -1;
    if (is_null(n)) return 0;
    if (n->type != YAML_SEQUENCE_NODE) return type_err(x, n, "[]*relabel.Config");
    size_t cnt = (size_t)(n->data.sequence.items.top - n->data.sequence.items.start);
    relabel_config_t *v = xcalloc(x, cnt, sizeof *v);
    if (!v) return -1;
    *out = v;
    for (size_t i = 0; i < cnt; i++) {
        *nout = i + 1;
        if (decode_relabel(x, node(x, n->data.sequence.items.start[i]), &v[i], null_msg) < 0) return -1;
    }
    return 0;
}

/* ---- service discovery ------------------------------------------------------ */

static void static_configs_free(static_config_t *v, size_t n) {
    for (size_t i = 0; i < n; i++) {
        free_strv(v[i].targets, v[i].ntargets);
        labels_free_owned(&v[i].labels);
    }
    free(v);
}

static void file_sds_free(file_sd_config_t *v, size_t n) {
    for (size_t i = 0; i < n; i++)
        free_strv(v[i].files, v[i].nfiles);
    free(v);
}

/* static_configs: a list of targetgroup.Group. check_hosts refuses targets
 * that look like URLs (Prometheus does so when there is no relabeling that
 * could make sense of them). */
static int dec_static_configs(ctx_t *x, yaml_node_t *n, static_config_t **out, size_t *nout, bool check_hosts) {
    if (visit(x, n) < 0) return -1;
    if (is_null(n)) return 0;
    if (n->type != YAML_SEQUENCE_NODE) return type_err(x, n, "discovery.StaticConfig");
    size_t cnt = (size_t)(n->data.sequence.items.top - n->data.sequence.items.start);
    static_config_t *v = xcalloc(x, cnt, sizeof *v);
    if (!v) return -1;
    *out = v;
    for (size_t i = 0; i < cnt; i++) {
        *nout = i + 1;
        yaml_node_t *item = node(x, n->data.sequence.items.start[i]);
        if (is_null(item)) return ferr(x, item, "empty or null section in static_configs");
        fields_t fs;
        if (begin_struct(x, item, &fs, "targetgroup.Group") < 0) return -1;
        for (size_t j = 0; j < fs.n; j++) {
            field_t *f = &fs.v[j];
            int rc;
            if (!strcmp(f->name, "targets")) {
                rc = dec_string_list(x, f->val, &v[i].targets, &v[i].ntargets);
                for (size_t t = 0; rc == 0 && check_hosts && t < v[i].ntargets; t++)
                    if (strchr(v[i].targets[t], '/'))
                        rc = ferr(x, node(x, f->val->data.sequence.items.start[t]), "%s is not a valid hostname",
                                  q(x, v[i].targets[t]));
            } else if (!strcmp(f->name, "labels")) {
                rc = dec_labels(x, f->val, &v[i].labels);
            } else {
                rc = unknown_field(x, f, "targetgroup.Group");
            }
            if (rc < 0) {
                fields_free(&fs);
                return -1;
            }
        }
        fields_free(&fs);
    }
    return 0;
}

/* file.SDConfig's pattern: ^[^*]*(\*[^/]*)?\.(json|yml|yaml|JSON|YML|YAML)$ */
static bool file_sd_path_valid(const char *p) {
    static const char *const exts[] = {".json", ".yml", ".yaml", ".JSON", ".YML", ".YAML", NULL};
    size_t n = strlen(p);
    bool ext = false;
    for (int i = 0; exts[i]; i++) {
        size_t el = strlen(exts[i]);
        if (n >= el && strcmp(p + n - el, exts[i]) == 0) ext = true;
    }
    if (!ext) return false;
    const char *star = strchr(p, '*');
    return !star || !strchr(star, '/');
}

static int dec_file_sd_configs(ctx_t *x, yaml_node_t *n, file_sd_config_t **out, size_t *nout) {
    if (visit(x, n) < 0) return -1;
    if (is_null(n)) return 0;
    if (n->type != YAML_SEQUENCE_NODE) return type_err(x, n, "[]*file.SDConfig");
    size_t cnt = (size_t)(n->data.sequence.items.top - n->data.sequence.items.start);
    file_sd_config_t *v = xcalloc(x, cnt, sizeof *v);
    if (!v) return -1;
    *out = v;
    for (size_t i = 0; i < cnt; i++) {
        *nout = i + 1;
        yaml_node_t *item = node(x, n->data.sequence.items.start[i]);
        v[i].refresh_interval_ms = DEFAULT_FILE_SD_REFRESH_MS;
        if (is_null(item)) return ferr(x, item, "empty or null section in file_sd_configs");
        fields_t fs;
        if (begin_struct(x, item, &fs, "file.SDConfig") < 0) return -1;
        yaml_node_t *files_node = NULL;
        int rc = 0;
        for (size_t j = 0; rc == 0 && j < fs.n; j++) {
            field_t *f = &fs.v[j];
            if (!strcmp(f->name, "files"))
                rc = dec_string_list(x, f->val, &v[i].files, &v[i].nfiles), files_node = f->val;
            else if (!strcmp(f->name, "refresh_interval"))
                rc = dec_duration(x, f->val, &v[i].refresh_interval_ms);
            else
                rc = unknown_field(x, f, "file.SDConfig");
        }
        fields_free(&fs);
        if (rc < 0) return -1;
        if (v[i].nfiles == 0) return ferr(x, item, "file service discovery config must contain at least one path name");
        for (size_t j = 0; j < v[i].nfiles; j++) {
            if (!file_sd_path_valid(v[i].files[j]))
                return ferr(x, node(x, files_node->data.sequence.items.start[j]),
                            "path name %s is not valid for file discovery", q(x, v[i].files[j]));
            if (resolve_path(x, &v[i].files[j]) < 0) return -1;
        }
    }
    return 0;
}

/* Discovery mechanisms of Prometheus that promlab does not implement. */
static const char *const unsupported_sd[] = {"azure_sd_configs",
                                             "consul_sd_configs",
                                             "digitalocean_sd_configs",
                                             "docker_sd_configs",
                                             "dockerswarm_sd_configs",
                                             "dns_sd_configs",
                                             "ec2_sd_configs",
                                             "eureka_sd_configs",
                                             "gce_sd_configs",
                                             "hetzner_sd_configs",
                                             "http_sd_configs",
                                             "ionos_sd_configs",
                                             "kubernetes_sd_configs",
                                             "kuma_sd_configs",
                                             "lightsail_sd_configs",
                                             "linode_sd_configs",
                                             "marathon_sd_configs",
                                             "nerve_sd_configs",
                                             "nomad_sd_configs",
                                             "openstack_sd_configs",
                                             "ovhcloud_sd_configs",
                                             "puppetdb_sd_configs",
                                             "scaleway_sd_configs",
                                             "serverset_sd_configs",
                                             "stackit_sd_configs",
                                             "triton_sd_configs",
                                             "uyuni_sd_configs",
                                             "vultr_sd_configs",
                                             NULL};

static bool is_unsupported_sd(const char *k) { return matches_any(k, strlen(k), unsupported_sd); }

static int unsupported_sd_err(ctx_t *x, const field_t *f) {
    return ferr(x, f->key, "%s is not supported by promlab (only static_configs and file_sd_configs are)", f->name);
}

/* ---- HTTP client settings (common config.HTTPClientConfig) ------------------ */

typedef struct http_client {
    char *username, *password, *username_file, *password_file;
    bool basic_auth, oauth2, authorization, bearer_token, bearer_token_file;
    bool follow_redirects, enable_http2;
} http_client_t;

static void http_client_free(http_client_t *h) {
    free(h->username);
    free(h->password);
    free(h->username_file);
    free(h->password_file);
}

static int dec_basic_auth(ctx_t *x, yaml_node_t *n, http_client_t *h) {
    fields_t fs;
    if (begin_struct(x, n, &fs, "config.BasicAuth") < 0) return -1;
    h->basic_auth = !is_null(n);
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < fs.n; i++) {
        field_t *f = &fs.v[i];
        if (!strcmp(f->name, "username"))
            rc = dec_string(x, f->val, &h->username);
        else if (!strcmp(f->name, "password"))
            rc = dec_string(x, f->val, &h->password);
        else if (!strcmp(f->name, "username_file"))
            rc = dec_string(x, f->val, &h->username_file);
        else if (!strcmp(f->name, "password_file"))
            rc = dec_string(x, f->val, &h->password_file);
        else if (!strcmp(f->name, "username_ref") || !strcmp(f->name, "password_ref"))
            rc = dec_ignored(x, f->val, 's', "string");
        else
            rc = unknown_field(x, f, "config.BasicAuth");
    }
    fields_free(&fs);
    if (rc < 0) return -1;
    /* Empty strings are "unset", as in Go. */
    char **slots[] = {&h->username, &h->password, &h->username_file, &h->password_file};
    for (size_t i = 0; i < 4; i++)
        if (*slots[i] && !**slots[i]) free(*slots[i]), *slots[i] = NULL;
    if (h->username && h->username_file)
        return ferr(x, n, "at most one of basic_auth username & username_file must be configured");
    if (h->password && h->password_file)
        return ferr(x, n, "at most one of basic_auth password & password_file must be configured");
    if (resolve_path(x, &h->username_file) < 0 || resolve_path(x, &h->password_file) < 0) return -1;
    return 0;
}

/* Handles one key of the inlined HTTP client config. *handled says whether
 * the key belonged to it. */
static int http_client_field(ctx_t *x, field_t *f, http_client_t *h, bool *handled) {
    static const struct {
        const char *name;
        char kind;
        const char *go_type;
    } ignored[] = {
        {"authorization", 'm', "config.Authorization"},
        {"oauth2", 'm', "config.OAuth2"},
        {"bearer_token", 's', "config.Secret"},
        {"bearer_token_file", 's', "string"},
        {"tls_config", 'm', "config.TLSConfig"},
        {"proxy_url", 's', "config.URL"},
        {"no_proxy", 's', "string"},
        {"proxy_from_environment", 'b', "bool"},
        {"proxy_connect_header", 'm', "config.ProxyHeader"},
        {"http_headers", 'm', "config.Headers"},
    };
    *handled = true;
    if (!strcmp(f->name, "basic_auth")) return dec_basic_auth(x, f->val, h);
    if (!strcmp(f->name, "follow_redirects")) return dec_bool(x, f->val, &h->follow_redirects);
    if (!strcmp(f->name, "enable_http2")) return dec_bool(x, f->val, &h->enable_http2);
    for (size_t i = 0; i < sizeof ignored / sizeof ignored[0]; i++) {
        if (strcmp(f->name, ignored[i].name) != 0) continue;
        if (dec_ignored(x, f->val, ignored[i].kind, ignored[i].go_type) < 0) return -1;
        bool present = !is_null(f->val);
        if (ignored[i].kind == 's' && present) present = f->val->data.scalar.length > 0;
        if (!strcmp(f->name, "authorization")) h->authorization = present;
        if (!strcmp(f->name, "oauth2")) h->oauth2 = present;
        if (!strcmp(f->name, "bearer_token")) h->bearer_token = present;
        if (!strcmp(f->name, "bearer_token_file")) h->bearer_token_file = present;
        return 0;
    }
    *handled = false;
    return 0;
}

/* HTTPClientConfig.Validate's mutual exclusions. */
static int http_client_validate(ctx_t *x, yaml_node_t *n, const http_client_t *h) {
    bool bearer = h->bearer_token || h->bearer_token_file;
    if (h->bearer_token && h->bearer_token_file)
        return ferr(x, n, "at most one of bearer_token & bearer_token_file must be configured");
    if ((h->basic_auth || h->oauth2) && bearer)
        return ferr(x, n, "at most one of basic_auth, oauth2, bearer_token & bearer_token_file must be configured");
    if (h->authorization && bearer)
        return ferr(x, n, "authorization is not compatible with bearer_token & bearer_token_file");
    if (h->authorization && (h->basic_auth || h->oauth2))
        return ferr(x, n, "at most one of basic_auth, oauth2 & authorization must be configured");
    return 0;
}

/* ---- scrape protocols and name validation --------------------------------- */

static const char *const scrape_protocols_known[] = {"OpenMetricsText0.0.1", "OpenMetricsText1.0.0", "PrometheusProto",
                                                     "PrometheusText0.0.4",  "PrometheusText1.0.0",  NULL};
static const char *const scrape_protocols_default[] = {"OpenMetricsText1.0.0", "OpenMetricsText0.0.1",
                                                       "PrometheusText1.0.0", "PrometheusText0.0.4", NULL};
#define SUPPORTED_PROTOCOLS                                                                                            \
    "[OpenMetricsText0.0.1 OpenMetricsText1.0.0 PrometheusProto PrometheusText0.0.4 PrometheusText1.0.0]"

/* validateAcceptScrapeProtocols; `where` is "global config" or "scrape config
 * with job name \"x\"". list is the node the protocols came from. */
static int check_scrape_protocols(ctx_t *x, yaml_node_t *list, char **v, size_t n, const char *where) {
    if (n == 0) return ferr(x, list, "scrape_protocols cannot be empty for %s", where);
    for (size_t i = 0; i < n; i++) {
        yaml_node_t *at = node(x, list->data.sequence.items.start[i]);
        if (!matches_any(v[i], strlen(v[i]), scrape_protocols_known))
            return ferr(x, at,
                        "scrape_protocols: unknown scrape protocol %s, supported: " SUPPORTED_PROTOCOLS " for %s", v[i],
                        where);
        for (size_t j = 0; j < i; j++)
            if (strcasecmp(v[i], v[j]) == 0) {
                strbuf_t sb = STRBUF_INIT;
                for (size_t k = 0; k < n; k++)
                    strbuf_printf(&sb, "%s%s", k ? " " : "", v[k]);
                ferr(x, at, "duplicated protocol in scrape_protocols, got [%s] for %s", sb.data, where);
                strbuf_free(&sb);
                return -1;
            }
    }
    return 0;
}

static int copy_strv(ctx_t *x, char ***out, size_t *nout, char *const *v, size_t n) {
    char **c = xcalloc(x, n, sizeof *c);
    if (!c) return -1;
    for (size_t i = 0; i < n; i++)
        if (!(c[i] = xstrdup(x, v[i]))) {
            free_strv(c, i);
            return -1;
        }
    *out = c, *nout = n;
    return 0;
}

static bool escaping_known(const char *s) {
    return !strcmp(s, "allow-utf-8") || !strcmp(s, "underscores") || !strcmp(s, "dots") || !strcmp(s, "values");
}

/* ---- global ----------------------------------------------------------------- */

/* n may be NULL when the file has no global section. */
static int decode_global(ctx_t *x, yaml_node_t *n, config_t *c) {
    fields_t fs = {0};
    /* As GlobalConfig.UnmarshalYAML: start from zero, fill defaults after,
     * so that "scrape_interval: 5s" alone brings the timeout down to 5s. */
    c->global.scrape_interval_ms = c->global.scrape_timeout_ms = c->global.evaluation_interval_ms = 0;
    if (n && begin_struct(x, n, &fs, "config.GlobalConfig") < 0) return -1;
    int rc = -1;
    yaml_node_t *timeout_node = NULL, *protocols_node = NULL, *validation_node = NULL, *escaping_node = NULL;
    char *validation = NULL;
    for (size_t i = 0; i < fs.n; i++) {
        field_t *f = &fs.v[i];
        const char *k = f->name;
        int r;
        if (!strcmp(k, "scrape_interval"))
            r = dec_duration(x, f->val, &c->global.scrape_interval_ms);
        else if (!strcmp(k, "scrape_timeout"))
            r = dec_duration(x, f->val, &c->global.scrape_timeout_ms), timeout_node = f->val;
        else if (!strcmp(k, "evaluation_interval"))
            r = dec_duration(x, f->val, &c->global.evaluation_interval_ms);
        else if (!strcmp(k, "rule_query_offset"))
            r = dec_duration(x, f->val, &c->global.rule_query_offset_ms);
        else if (!strcmp(k, "external_labels"))
            r = dec_labels(x, f->val, &c->global.external_labels);
        else if (!strcmp(k, "query_log_file"))
            r = dec_string(x, f->val, &c->global.query_log_file);
        else if (!strcmp(k, "scrape_protocols")) {
            r = dec_string_list(x, f->val, &c->global.scrape_protocols, &c->global.nscrape_protocols);
            protocols_node = is_null(f->val) ? NULL : f->val;
        } else if (!strcmp(k, "sample_limit"))
            r = dec_uint(x, f->val, &c->global.sample_limit);
        else if (!strcmp(k, "label_limit"))
            r = dec_uint(x, f->val, &c->global.label_limit);
        else if (!strcmp(k, "label_name_length_limit"))
            r = dec_uint(x, f->val, &c->global.label_name_length_limit);
        else if (!strcmp(k, "label_value_length_limit"))
            r = dec_uint(x, f->val, &c->global.label_value_length_limit);
        else if (!strcmp(k, "target_limit"))
            r = dec_uint(x, f->val, &c->global.target_limit);
        else if (!strcmp(k, "keep_dropped_targets"))
            r = dec_uint(x, f->val, &c->global.keep_dropped_targets);
        else if (!strcmp(k, "body_size_limit"))
            r = dec_size(x, f->val, &c->global.body_size_limit);
        else if (!strcmp(k, "always_scrape_classic_histograms"))
            r = dec_bool(x, f->val, &c->global.always_scrape_classic_histograms);
        else if (!strcmp(k, "convert_classic_histograms_to_nhcb"))
            r = dec_bool(x, f->val, &c->global.convert_classic_histograms_to_nhcb);
        else if (!strcmp(k, "metric_name_validation_scheme"))
            r = dec_string(x, f->val, &validation), validation_node = f->val;
        else if (!strcmp(k, "metric_name_escaping_scheme"))
            r = dec_string(x, f->val, &x->global_escaping), escaping_node = f->val;
        /* Accepted, not acted on. */
        else if (!strcmp(k, "scrape_failure_log_file"))
            r = dec_ignored(x, f->val, 's', "string");
        else if (!strcmp(k, "scrape_native_histograms") || !strcmp(k, "extra_scrape_metrics"))
            r = dec_ignored(x, f->val, 'b', "bool");
        else
            r = unknown_field(x, f, "config.GlobalConfig");
        if (r < 0) goto done;
    }
    if (validation && *validation) {
        if (strcmp(validation, "utf8") != 0 && strcmp(validation, "legacy") != 0) {
            ferr(x, validation_node,
                 "unknown global name validation method specified, must be either '', 'legacy' or 'utf8', got %s",
                 validation);
            goto done;
        }
        if (set_str(x, &c->global.metric_name_validation_scheme, validation) < 0) goto done;
    }
    if (x->global_escaping && *x->global_escaping && !escaping_known(x->global_escaping)) {
        ferr(x, escaping_node,
             "unknown global name escaping method specified, must be one of 'allow-utf-8', 'underscores', 'dots', or "
             "'values', got %s",
             q(x, x->global_escaping));
        goto done;
    }
    for (size_t i = 0; i < c->global.external_labels.n; i++) {
        label_t *l = &c->global.external_labels.v[i];
        char *v = expand_env(l->value);
        free((char *)l->value);
        l->value = v;
    }
    if (c->global.query_log_file && !*c->global.query_log_file) {
        free(c->global.query_log_file);
        c->global.query_log_file = NULL;
    }
    if (resolve_path(x, &c->global.query_log_file) < 0) goto done;
    if (c->global.scrape_interval_ms == 0) c->global.scrape_interval_ms = DEFAULT_SCRAPE_INTERVAL_MS;
    if (c->global.scrape_timeout_ms > c->global.scrape_interval_ms) {
        ferr(x, timeout_node, "global scrape timeout greater than scrape interval");
        goto done;
    }
    if (c->global.scrape_timeout_ms == 0)
        c->global.scrape_timeout_ms = c->global.scrape_interval_ms < DEFAULT_SCRAPE_TIMEOUT_MS
                                          ? c->global.scrape_interval_ms
                                          : DEFAULT_SCRAPE_TIMEOUT_MS;
    if (c->global.evaluation_interval_ms == 0) c->global.evaluation_interval_ms = DEFAULT_EVALUATION_INTERVAL_MS;
    if (protocols_node && check_scrape_protocols(x, protocols_node, c->global.scrape_protocols,
                                                 c->global.nscrape_protocols, "global config") < 0)
        goto done;
    rc = 0;
done:
    free(validation);
    fields_free(&fs);
    return rc;
}

/* ---- scrape configs ----------------------------------------------------------- */

static void scrape_config_free(scrape_config_t *s) {
    free(s->job_name);
    free(s->metrics_path);
    free(s->scheme);
    for (size_t i = 0; i < s->nparams; i++) {
        free(s->params[i].name);
        free_strv(s->params[i].values, s->params[i].nvalues);
    }
    free(s->params);
    static_configs_free(s->static_configs, s->nstatic_configs);
    file_sds_free(s->file_sd_configs, s->nfile_sd_configs);
    relabels_free(s->relabel_configs, s->nrelabel_configs);
    relabels_free(s->metric_relabel_configs, s->nmetric_relabel_configs);
    free(s->basic_auth_username);
    free(s->basic_auth_password);
    free(s->basic_auth_username_file);
    free(s->basic_auth_password_file);
    free_strv(s->scrape_protocols, s->nscrape_protocols);
    free(s->fallback_scrape_protocol);
    free(s->metric_name_validation_scheme);
    free(s->metric_name_escaping_scheme);
}

static int param_cmp(const void *a, const void *b) {
    return strcmp(((const scrape_param_t *)a)->name, ((const scrape_param_t *)b)->name);
}

/* params: url.Values, a map of name -> list of values. */
static int dec_params(ctx_t *x, yaml_node_t *n, scrape_config_t *s) {
    if (visit(x, n) < 0) return -1;
    if (is_null(n)) return 0;
    if (n->type != YAML_MAPPING_NODE) return type_err(x, n, "url.Values");
    fields_t fs = {0};
    int rc = -1;
    if (collect(x, n, &fs, NULL, 0) < 0) goto done;
    s->params = xcalloc(x, fs.n, sizeof *s->params);
    if (!s->params) goto done;
    for (size_t i = 0; i < fs.n; i++) {
        scrape_param_t *p = &s->params[s->nparams++];
        if (!(p->name = xstrdup(x, fs.v[i].name))) goto done;
        if (dec_string_list(x, fs.v[i].val, &p->values, &p->nvalues) < 0) goto done;
    }
    qsort(s->params, s->nparams, sizeof *s->params, param_cmp);
    rc = 0;
done:
    fields_free(&fs);
    return rc;
}

/* config.ScrapeConfig, validated against the (already decoded) global
 * section as ScrapeConfig.Validate does. *job_node gets the job_name value. */
static int decode_scrape_config(ctx_t *x, yaml_node_t *n, const config_t *c, scrape_config_t *s,
                                yaml_node_t **job_node) {
    s->line = (int)n->start_mark.line + 1;
    *job_node = n;
    if (is_null(n)) return ferr(x, n, "empty or null scrape config section");
    s->honor_timestamps = true;
    s->enable_compression = true;
    if (set_str(x, &s->metrics_path, "/metrics") < 0 || set_str(x, &s->scheme, "http") < 0) return -1;
    http_client_t h = {.follow_redirects = true, .enable_http2 = true};
    fields_t fs;
    if (begin_struct(x, n, &fs, "config.ScrapeConfig") < 0) return -1;
    int rc = -1;
    yaml_node_t *timeout_node = n, *protocols_node = NULL, *fallback_node = NULL, *validation_node = n,
                *escaping_node = n, *scheme_node = n;
    bool have_always_classic = false, have_convert_nhcb = false;
    char *validation = NULL, *escaping = NULL;
    /* Prometheus checks static targets for URLs only when no relabeling
     * could turn them into addresses. */
    const field_t *rl = fields_get(&fs, "relabel_configs");
    bool has_relabel = rl && rl->val->type == YAML_SEQUENCE_NODE &&
                       rl->val->data.sequence.items.top > rl->val->data.sequence.items.start;
    for (size_t i = 0; i < fs.n; i++) {
        field_t *f = &fs.v[i];
        const char *k = f->name;
        yaml_node_t *v = f->val;
        int r = 0;
        bool handled;
        if (!strcmp(k, "job_name"))
            r = dec_string(x, v, &s->job_name), *job_node = v;
        else if (!strcmp(k, "honor_labels"))
            r = dec_bool(x, v, &s->honor_labels);
        else if (!strcmp(k, "honor_timestamps"))
            r = dec_bool(x, v, &s->honor_timestamps);
        else if (!strcmp(k, "track_timestamps_staleness"))
            r = dec_bool(x, v, &s->track_timestamps_staleness);
        else if (!strcmp(k, "params"))
            r = dec_params(x, v, s);
        else if (!strcmp(k, "scrape_interval"))
            r = dec_duration(x, v, &s->scrape_interval_ms);
        else if (!strcmp(k, "scrape_timeout"))
            r = dec_duration(x, v, &s->scrape_timeout_ms), timeout_node = v;
        else if (!strcmp(k, "scrape_protocols")) {
            r = dec_string_list(x, v, &s->scrape_protocols, &s->nscrape_protocols);
            protocols_node = is_null(v) ? NULL : v;
        } else if (!strcmp(k, "fallback_scrape_protocol"))
            r = dec_string(x, v, &s->fallback_scrape_protocol), fallback_node = v;
        else if (!strcmp(k, "always_scrape_classic_histograms") || !strcmp(k, "scrape_classic_histograms"))
            r = dec_bool(x, v, &s->always_scrape_classic_histograms), have_always_classic = true;
        else if (!strcmp(k, "convert_classic_histograms_to_nhcb"))
            r = dec_bool(x, v, &s->convert_classic_histograms_to_nhcb), have_convert_nhcb = true;
        else if (!strcmp(k, "metrics_path"))
            r = dec_string(x, v, &s->metrics_path);
        else if (!strcmp(k, "scheme"))
            r = dec_string(x, v, &s->scheme), scheme_node = v;
        else if (!strcmp(k, "enable_compression"))
            r = dec_bool(x, v, &s->enable_compression);
        else if (!strcmp(k, "body_size_limit"))
            r = dec_size(x, v, &s->body_size_limit);
        else if (!strcmp(k, "sample_limit"))
            r = dec_uint(x, v, &s->sample_limit);
        else if (!strcmp(k, "target_limit"))
            r = dec_uint(x, v, &s->target_limit);
        else if (!strcmp(k, "label_limit"))
            r = dec_uint(x, v, &s->label_limit);
        else if (!strcmp(k, "label_name_length_limit"))
            r = dec_uint(x, v, &s->label_name_length_limit);
        else if (!strcmp(k, "label_value_length_limit"))
            r = dec_uint(x, v, &s->label_value_length_limit);
        else if (!strcmp(k, "keep_dropped_targets"))
            r = dec_uint(x, v, &s->keep_dropped_targets);
        else if (!strcmp(k, "metric_name_validation_scheme"))
            r = dec_string(x, v, &validation), validation_node = v;
        else if (!strcmp(k, "metric_name_escaping_scheme"))
            r = dec_string(x, v, &escaping), escaping_node = v;
        else if (!strcmp(k, "relabel_configs"))
            r = dec_relabels(x, v, &s->relabel_configs, &s->nrelabel_configs,
                             "empty or null target relabeling rule in scrape config");
        else if (!strcmp(k, "metric_relabel_configs"))
            r = dec_relabels(x, v, &s->metric_relabel_configs, &s->nmetric_relabel_configs,
                             "empty or null metric relabeling rule in scrape config");
        else if (!strcmp(k, "static_configs"))
            r = dec_static_configs(x, v, &s->static_configs, &s->nstatic_configs, !has_relabel);
        else if (!strcmp(k, "file_sd_configs"))
            r = dec_file_sd_configs(x, v, &s->file_sd_configs, &s->nfile_sd_configs);
        /* Accepted, not acted on. */
        else if (!strcmp(k, "native_histogram_bucket_limit"))
            r = dec_ignored(x, v, 'u', "uint");
        else if (!strcmp(k, "native_histogram_min_bucket_factor"))
            r = dec_ignored(x, v, 'f', "float64");
        else if (!strcmp(k, "scrape_native_histograms") || !strcmp(k, "extra_scrape_metrics"))
            r = dec_ignored(x, v, 'b', "bool");
        else if (!strcmp(k, "scrape_failure_log_file"))
            r = dec_ignored(x, v, 's', "string");
        else if (is_unsupported_sd(k))
            r = unsupported_sd_err(x, f);
        else if ((r = http_client_field(x, f, &h, &handled)) == 0 && !handled)
            r = unknown_field(x, f, "config.ScrapeConfig");
        if (r < 0) goto done;
    }
    const char *job = s->job_name ? s->job_name : "";
    if (!*job) {
        ferr(x, n, "job_name is empty");
        goto done;
    }
    if (http_client_validate(x, n, &h) < 0) goto done;
    if (strcmp(s->scheme, "http") != 0 && strcmp(s->scheme, "https") != 0) {
        ferr(x, scheme_node, "invalid scheme %s for scrape config with job name %s: must be \"http\" or \"https\"",
             q(x, s->scheme), q(x, job));
        goto done;
    }
    /* Interval first, then the timeout (inferred or explicit) against it. */
    if (s->scrape_interval_ms == 0) s->scrape_interval_ms = c->global.scrape_interval_ms;
    if (s->scrape_timeout_ms > s->scrape_interval_ms) {
        ferr(x, timeout_node, "scrape timeout greater than scrape interval for scrape config with job name %s",
             q(x, job));
        goto done;
    }
    if (s->scrape_timeout_ms == 0)
        s->scrape_timeout_ms =
            c->global.scrape_timeout_ms < s->scrape_interval_ms ? c->global.scrape_timeout_ms : s->scrape_interval_ms;
    if (s->body_size_limit == 0) s->body_size_limit = c->global.body_size_limit;
    if (s->sample_limit == 0) s->sample_limit = c->global.sample_limit;
    if (s->target_limit == 0) s->target_limit = c->global.target_limit;
    if (s->label_limit == 0) s->label_limit = c->global.label_limit;
    if (s->label_name_length_limit == 0) s->label_name_length_limit = c->global.label_name_length_limit;
    if (s->label_value_length_limit == 0) s->label_value_length_limit = c->global.label_value_length_limit;
    if (s->keep_dropped_targets == 0) s->keep_dropped_targets = c->global.keep_dropped_targets;
    if (!have_always_classic) s->always_scrape_classic_histograms = c->global.always_scrape_classic_histograms;
    if (!have_convert_nhcb) s->convert_classic_histograms_to_nhcb = c->global.convert_classic_histograms_to_nhcb;

    char where[PL_ERR_MAX / 2];
    snprintf(where, sizeof where, "scrape config with job name %s", q(x, job));
    if (protocols_node) {
        if (check_scrape_protocols(x, protocols_node, s->scrape_protocols, s->nscrape_protocols, where) < 0) goto done;
    } else {
        free_strv(s->scrape_protocols, s->nscrape_protocols);
        s->scrape_protocols = NULL, s->nscrape_protocols = 0;
        int r;
        if (c->global.scrape_protocols && c->global.nscrape_protocols)
            r = copy_strv(x, &s->scrape_protocols, &s->nscrape_protocols, c->global.scrape_protocols,
                          c->global.nscrape_protocols);
        else
            r = copy_strv(x, &s->scrape_protocols, &s->nscrape_protocols, (char *const *)scrape_protocols_default, 4);
        if (r < 0) goto done;
    }
    if (s->fallback_scrape_protocol && !*s->fallback_scrape_protocol) {
        free(s->fallback_scrape_protocol);
        s->fallback_scrape_protocol = NULL;
    }
    if (s->fallback_scrape_protocol &&
        !matches_any(s->fallback_scrape_protocol, strlen(s->fallback_scrape_protocol), scrape_protocols_known)) {
        ferr(x, fallback_node,
             "invalid fallback_scrape_protocol for scrape config with job name %s: unknown scrape protocol %s, "
             "supported: " SUPPORTED_PROTOCOLS,
             q(x, job), s->fallback_scrape_protocol);
        goto done;
    }

    /* Name validation and escaping, as ScrapeConfig.Validate derives them. */
    const char *global_validation = c->global.metric_name_validation_scheme;
    bool local_unset = !validation || !*validation;
    if (local_unset) {
        if (set_str(x, &s->metric_name_validation_scheme, global_validation) < 0) goto done;
    } else if (!strcmp(validation, "utf8") || !strcmp(validation, "legacy")) {
        if (set_str(x, &s->metric_name_validation_scheme, validation) < 0) goto done;
    } else {
        ferr(x, validation_node,
             "unknown scrape config name validation method specified, must be either '', 'legacy' or 'utf8', got %s",
             validation);
        goto done;
    }
    const char *global_escaping = x->global_escaping && *x->global_escaping
                                      ? x->global_escaping
                                      : (!strcmp(global_validation, "legacy") ? "underscores" : "allow-utf-8");
    if (!escaping || !*escaping) {
        const char *e = local_unset                                           ? global_escaping
                        : !strcmp(s->metric_name_validation_scheme, "legacy") ? "underscores"
                                                                              : "allow-utf-8";
        if (set_str(x, &s->metric_name_escaping_scheme, e) < 0) goto done;
    } else if (set_str(x, &s->metric_name_escaping_scheme, escaping) < 0) {
        goto done;
    }
    if (!escaping_known(s->metric_name_escaping_scheme)) {
        ferr(x, escaping_node,
             "unknown scrape config name escaping method specified, must be one of 'allow-utf-8', 'underscores', "
             "'dots', or 'values', got %s",
             q(x, s->metric_name_escaping_scheme));
        goto done;
    }
    if (!strcmp(s->metric_name_escaping_scheme, "allow-utf-8") &&
        strcmp(s->metric_name_validation_scheme, "utf8") != 0) {
        ferr(x, escaping_node, "utf8 metric names requested but validation scheme is not set to UTF8");
        goto done;
    }

    s->basic_auth_username = h.username, h.username = NULL;
    s->basic_auth_password = h.password, h.password = NULL;
    s->basic_auth_username_file = h.username_file, h.username_file = NULL;
    s->basic_auth_password_file = h.password_file, h.password_file = NULL;
    s->follow_redirects = h.follow_redirects;
    s->enable_http2 = h.enable_http2;
    rc = 0;
done:
    free(validation);
    free(escaping);
    http_client_free(&h);
    fields_free(&fs);
    return rc;
}

/* ---- alerting ----------------------------------------------------------------- */

static void alertmanager_free(alertmanager_config_t *a) {
    free(a->scheme);
    free(a->path_prefix);
    free(a->api_version);
    static_configs_free(a->static_configs, a->nstatic_configs);
    relabels_free(a->relabel_configs, a->nrelabel_configs);
    file_sds_free(a->file_sd_configs, a->nfile_sd_configs);
    relabels_free(a->alert_relabel_configs, a->nalert_relabel_configs);
    free(a->basic_auth_username);
    free(a->basic_auth_password);
    free(a->basic_auth_username_file);
    free(a->basic_auth_password_file);
}

static int decode_alertmanager(ctx_t *x, yaml_node_t *n, alertmanager_config_t *a) {
    a->line = (int)n->start_mark.line + 1;
    a->timeout_ms = DEFAULT_ALERTMANAGER_TIMEOUT_MS;
    if (set_str(x, &a->scheme, "http") < 0 || set_str(x, &a->path_prefix, "/") < 0 ||
        set_str(x, &a->api_version, "v2") < 0)
        return -1;
    if (is_null(n)) return ferr(x, n, "empty or null Alertmanager config section");
    http_client_t h = {.follow_redirects = true, .enable_http2 = true};
    fields_t fs;
    if (begin_struct(x, n, &fs, "config.AlertmanagerConfig") < 0) return -1;
    int rc = -1;
    yaml_node_t *scheme_node = n, *api_node = n;
    const field_t *rl = fields_get(&fs, "relabel_configs");
    bool has_relabel = rl && rl->val->type == YAML_SEQUENCE_NODE &&
                       rl->val->data.sequence.items.top > rl->val->data.sequence.items.start;
    for (size_t i = 0; i < fs.n; i++) {
        field_t *f = &fs.v[i];
        const char *k = f->name;
        yaml_node_t *v = f->val;
        int r;
        bool handled;
        if (!strcmp(k, "scheme"))
            r = dec_string(x, v, &a->scheme), scheme_node = v;
        else if (!strcmp(k, "path_prefix"))
            r = dec_string(x, v, &a->path_prefix);
        else if (!strcmp(k, "timeout"))
            r = dec_duration(x, v, &a->timeout_ms);
        else if (!strcmp(k, "api_version"))
            r = dec_string(x, v, &a->api_version), api_node = v;
        else if (!strcmp(k, "static_configs"))
            r = dec_static_configs(x, v, &a->static_configs, &a->nstatic_configs, !has_relabel);
        else if (!strcmp(k, "file_sd_configs"))
            r = dec_file_sd_configs(x, v, &a->file_sd_configs, &a->nfile_sd_configs);
        else if (!strcmp(k, "relabel_configs"))
            r = dec_relabels(x, v, &a->relabel_configs, &a->nrelabel_configs,
                             "empty or null Alertmanager target relabeling rule");
        else if (!strcmp(k, "alert_relabel_configs"))
            r = dec_relabels(x, v, &a->alert_relabel_configs, &a->nalert_relabel_configs,
                             "empty or null Alertmanager alert relabeling rule");
        else if (!strcmp(k, "sigv4"))
            r = dec_ignored(x, v, 'm', "sigv4.SigV4Config");
        else if (is_unsupported_sd(k))
            r = unsupported_sd_err(x, f);
        else if ((r = http_client_field(x, f, &h, &handled)) == 0 && !handled)
            r = unknown_field(x, f, "config.AlertmanagerConfig");
        if (r < 0) goto done;
    }
    if (http_client_validate(x, n, &h) < 0) goto done;
    if (strcmp(a->api_version, "v2") != 0) {
        ferr(x, api_node, "expected Alertmanager api version to be one of [v2] but got %s", a->api_version);
        goto done;
    }
    if (strcmp(a->scheme, "http") != 0 && strcmp(a->scheme, "https") != 0) {
        ferr(x, scheme_node, "invalid scheme %s for Alertmanager config: must be \"http\" or \"https\"",
             q(x, a->scheme));
        goto done;
    }
    if (a->timeout_ms == 0) a->timeout_ms = DEFAULT_ALERTMANAGER_TIMEOUT_MS;
    a->basic_auth_username = h.username, h.username = NULL;
    a->basic_auth_password = h.password, h.password = NULL;
    a->basic_auth_username_file = h.username_file, h.username_file = NULL;
    a->basic_auth_password_file = h.password_file, h.password_file = NULL;
    a->follow_redirects = h.follow_redirects;
    a->enable_http2 = h.enable_http2;
    rc = 0;
done:
    http_client_free(&h);
    fields_free(&fs);
    return rc;
}

static int decode_alerting(ctx_t *x, yaml_node_t *n, config_t *c) {
    fields_t fs;
    if (begin_struct(x, n, &fs, "config.AlertingConfig") < 0) return -1;
    int rc = -1;
    for (size_t i = 0; i < fs.n; i++) {
        field_t *f = &fs.v[i];
        if (!strcmp(f->name, "alert_relabel_configs")) {
            if (dec_relabels(x, f->val, &c->alert_relabel_configs, &c->nalert_relabel_configs,
                             "empty or null alert relabeling rule") < 0)
                goto done;
        } else if (!strcmp(f->name, "alertmanagers")) {
            yaml_node_t *v = f->val;
            if (visit(x, v) < 0) goto done;
            if (is_null(v)) continue;
            if (v->type != YAML_SEQUENCE_NODE) {
                type_err(x, v, "config.AlertmanagerConfigs");
                goto done;
            }
            size_t cnt = (size_t)(v->data.sequence.items.top - v->data.sequence.items.start);
            c->alertmanagers = xcalloc(x, cnt, sizeof *c->alertmanagers);
            if (!c->alertmanagers) goto done;
            for (size_t j = 0; j < cnt; j++) {
                c->nalertmanagers = j + 1;
                if (decode_alertmanager(x, node(x, v->data.sequence.items.start[j]), &c->alertmanagers[j]) < 0)
                    goto done;
            }
        } else {
            unknown_field(x, f, "config.AlertingConfig");
            goto done;
        }
    }
    rc = 0;
done:
    fields_free(&fs);
    return rc;
}

/* ---- the whole file ------------------------------------------------------------ */

/* Prometheus's patRulePath: ^[^*]*(\*[^/]*)?$ */
static bool rule_path_valid(const char *p) {
    const char *star = strchr(p, '*');
    return !star || !strchr(star, '/');
}

static int decode_root(ctx_t *x, yaml_node_t *root, config_t *c) {
    if (!root) return 0; /* empty document: all defaults */
    fields_t fs;
    if (begin_struct(x, root, &fs, "config.Config") < 0) return -1;
    int rc = -1;
    nameset_t jobs = {0};
    /* global first: scrape configs inherit from it wherever it is written. */
    const field_t *g = fields_get(&fs, "global");
    if (g && decode_global(x, g->val, c) < 0) goto done;
    if (!g && decode_global(x, NULL, c) < 0) goto done;
    for (size_t i = 0; i < fs.n; i++) {
        field_t *f = &fs.v[i];
        const char *k = f->name;
        yaml_node_t *v = f->val;
        if (!strcmp(k, "global")) continue;
        if (!strcmp(k, "rule_files")) {
            if (dec_string_list(x, v, &c->rule_files, &c->nrule_files) < 0) goto done;
            for (size_t j = 0; j < c->nrule_files; j++) {
                if (!rule_path_valid(c->rule_files[j])) {
                    ferr(x, node(x, v->data.sequence.items.start[j]), "invalid rule file path %s",
                         q(x, c->rule_files[j]));
                    goto done;
                }
                if (resolve_path(x, &c->rule_files[j]) < 0) goto done;
            }
        } else if (!strcmp(k, "scrape_configs")) {
            if (visit(x, v) < 0) goto done;
            if (is_null(v)) continue;
            if (v->type != YAML_SEQUENCE_NODE) {
                type_err(x, v, "[]*config.ScrapeConfig");
                goto done;
            }
            size_t cnt = (size_t)(v->data.sequence.items.top - v->data.sequence.items.start);
            c->scrape_configs = xcalloc(x, cnt, sizeof *c->scrape_configs);
            if (!c->scrape_configs) goto done;
            for (size_t j = 0; j < cnt; j++) {
                c->nscrape_configs = j + 1;
                yaml_node_t *job_node;
                scrape_config_t *s = &c->scrape_configs[j];
                if (decode_scrape_config(x, node(x, v->data.sequence.items.start[j]), c, s, &job_node) < 0) goto done;
                int put = nameset_put(&jobs, s->job_name, j, NULL);
                if (put < 0) {
                    oom(x);
                    goto done;
                }
                if (put == 1) {
                    ferr(x, job_node, "found multiple scrape configs with job name %s", q(x, s->job_name));
                    goto done;
                }
            }
        } else if (!strcmp(k, "alerting")) {
            if (decode_alerting(x, v, c) < 0) goto done;
        } else if (!strcmp(k, "remote_write") || !strcmp(k, "remote_read") || !strcmp(k, "storage") ||
                   !strcmp(k, "tracing") || !strcmp(k, "scrape_config_files") || !strcmp(k, "otlp") ||
                   !strcmp(k, "runtime")) {
            /* Prometheus sections promlab does not implement yet: accepted with
             * any content so that real prometheus.yml files load, not validated,
             * and left out of the rendered configuration. */
        } else {
            unknown_field(x, f, "config.Config");
            goto done;
        }
    }
    rc = 0;
done:
    nameset_free(&jobs);
    fields_free(&fs);
    return rc;
}

void config_free(config_t *c) {
    if (!c) return;
    free(c->filename);
    free(c->source);
    labels_free_owned(&c->global.external_labels);
    free(c->global.query_log_file);
    free_strv(c->global.scrape_protocols, c->global.nscrape_protocols);
    free(c->global.metric_name_validation_scheme);
    free_strv(c->rule_files, c->nrule_files);
    for (size_t i = 0; i < c->nscrape_configs; i++)
        scrape_config_free(&c->scrape_configs[i]);
    free(c->scrape_configs);
    for (size_t i = 0; i < c->nalertmanagers; i++)
        alertmanager_free(&c->alertmanagers[i]);
    free(c->alertmanagers);
    relabels_free(c->alert_relabel_configs, c->nalert_relabel_configs);
    free(c);
}

static config_t *config_new_defaults(void) {
    config_t *c = calloc(1, sizeof *c);
    if (!c) return NULL;
    c->global.scrape_interval_ms = DEFAULT_SCRAPE_INTERVAL_MS;
    c->global.scrape_timeout_ms = DEFAULT_SCRAPE_TIMEOUT_MS;
    c->global.evaluation_interval_ms = DEFAULT_EVALUATION_INTERVAL_MS;
    c->global.metric_name_validation_scheme = strdup("utf8");
    if (!c->global.metric_name_validation_scheme) {
        free(c);
        return NULL;
    }
    return c;
}

/* libyaml's own wording for a syntax error, with the position it reports. */
static int yaml_syntax_err(ctx_t *x, const yaml_parser_t *p, const char *src, size_t len) {
    if (p->error == YAML_MEMORY_ERROR) return oom(x);
    const char *problem = p->problem ? p->problem : "unknown problem parsing YAML content";
    yaml_mark_t m = p->problem_mark;
    if (p->error == YAML_READER_ERROR) {
        /* The reader reports a byte offset only: count lines up to it. */
        m.line = 0, m.column = 0;
        for (size_t i = 0; i < p->problem_offset && i < len; i++) {
            if (src[i] == '\n')
                m.line++, m.column = 0;
            else
                m.column++;
        }
    }
    if (p->context)
        return pl_err_set(x->err, "%s:%zu:%zu: yaml: %s (%s at line %zu column %zu)", x->filename, m.line + 1,
                          m.column + 1, problem, p->context, p->context_mark.line + 1, p->context_mark.column + 1);
    return pl_err_set(x->err, "%s:%zu:%zu: yaml: %s", x->filename, m.line + 1, m.column + 1, problem);
}

int config_load_string(const char *yaml, size_t len, const char *filename, config_t **out, pl_err_t *err) {
    *out = NULL;
    if (!filename) filename = "";
    ctx_t x = {.filename = filename, .err = err};
    config_t *c = config_new_defaults();
    if (!c) return oom(&x);
    c->filename = strdup(filename);
    c->source = malloc(len + 1);
    x.dir = path_dir(filename);
    if (!c->filename || !c->source || !x.dir) {
        free(x.dir);
        config_free(c);
        return oom(&x);
    }
    if (len) memcpy(c->source, yaml, len);
    c->source[len] = '\0';

    yaml_parser_t parser;
    yaml_document_t doc;
    if (!yaml_parser_initialize(&parser)) {
        free(x.dir);
        config_free(c);
        return oom(&x);
    }
    yaml_parser_set_input_string(&parser, (const unsigned char *)c->source, len);
    int rc = -1;
    if (!yaml_parser_load(&parser, &doc)) {
        yaml_syntax_err(&x, &parser, c->source, len);
        yaml_parser_delete(&parser);
        goto out;
    }
    x.doc = &doc;
    size_t nodes = (size_t)(doc.nodes.top - doc.nodes.start);
    x.max_visits = 64 * nodes + 4096;
    rc = decode_root(&x, yaml_document_get_root_node(&doc), c);
    yaml_document_delete(&doc);
    yaml_parser_delete(&parser);
out:
    free(x.dir);
    free(x.global_escaping);
    if (rc < 0) {
        config_free(c);
        return -1;
    }
    *out = c;
    return 0;
}

int config_load_file(const char *path, config_t **out, pl_err_t *err) {
    *out = NULL;
    FILE *f = fopen(path, "rb");
    if (!f) return pl_err_set(err, "%s: open %s: %s", path, path, strerror(errno));
    strbuf_t sb = STRBUF_INIT;
    char buf[65536];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, f)) > 0)
        strbuf_append(&sb, buf, n);
    int read_err = ferror(f);
    fclose(f);
    if (read_err) {
        strbuf_free(&sb);
        return pl_err_set(err, "%s: read %s: I/O error", path, path);
    }
    int rc = config_load_string(sb.data ? sb.data : "", sb.len, path, out, err);
    strbuf_free(&sb);
    return rc;
}

const scrape_config_t *config_find_job(const config_t *c, const char *job) {
    if (!c || !job) return NULL;
    for (size_t i = 0; i < c->nscrape_configs; i++)
        if (c->scrape_configs[i].job_name && strcmp(c->scrape_configs[i].job_name, job) == 0)
            return &c->scrape_configs[i];
    return NULL;
}
