/* config.c — Thanos's objstore YAML (bucket config), parsed strictly with
 * libyaml's document API. Like Thanos (yaml.UnmarshalStrict), unknown keys
 * and duplicate keys are errors; promlab also refuses values it would not
 * honour (signature_version2: true, virtual-hosted addressing, server-side
 * encryption, aws_sdk_auth) instead of silently ignoring them. Keys that only
 * tune Go's HTTP client (timeouts, connection pools) are type-checked and
 * dropped. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <yaml.h>

#include "objstore/objstore.h"
#include "util/timeutil.h"

typedef struct ctx {
    yaml_document_t doc;
    const char *name;
    pl_err_t *err;
} ctx_t;

static int ferr(ctx_t *x, const yaml_node_t *n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int ferr(ctx_t *x, const yaml_node_t *n, const char *fmt, ...) {
    char msg[PL_ERR_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (n) return pl_err_set(x->err, "%s:%zu:%zu: %s", x->name, n->start_mark.line + 1, n->start_mark.column + 1, msg);
    return pl_err_set(x->err, "%s: %s", x->name, msg);
}

static yaml_node_t *node(ctx_t *x, int i) { return yaml_document_get_node(&x->doc, i); }
static const char *sval(const yaml_node_t *n) { return (const char *)n->data.scalar.value; }

static bool is_null(const yaml_node_t *n) {
    if (n->type != YAML_SCALAR_NODE || n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE) return false;
    const char *s = sval(n);
    return !*s || !strcmp(s, "~") || !strcmp(s, "null") || !strcmp(s, "Null") || !strcmp(s, "NULL");
}

static const char *kind_name(const yaml_node_t *n) {
    return n->type == YAML_MAPPING_NODE ? "a mapping" : n->type == YAML_SEQUENCE_NODE ? "a sequence" : "a scalar";
}

static int dec_string(ctx_t *x, yaml_node_t *n, const char *key, char **out) {
    if (is_null(n)) {
        free(*out);
        *out = strdup("");
        return *out ? 0 : ferr(x, n, "out of memory");
    }
    if (n->type != YAML_SCALAR_NODE) return ferr(x, n, "%s: expected a string, got %s", key, kind_name(n));
    free(*out);
    *out = strdup(sval(n));
    return *out ? 0 : ferr(x, n, "out of memory");
}

static int dec_bool(ctx_t *x, yaml_node_t *n, const char *key, bool *out) {
    if (is_null(n)) return (*out = false), 0;
    if (n->type == YAML_SCALAR_NODE && n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE) {
        const char *s = sval(n);
        static const char *t[] = {"true", "True", "TRUE", "yes", "Yes", "YES", "on", "On", "ON", "y", "Y"};
        static const char *f[] = {"false", "False", "FALSE", "no", "No", "NO", "off", "Off", "OFF", "n", "N"};
        for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
            if (!strcmp(s, t[i])) return (*out = true), 0;
            if (!strcmp(s, f[i])) return (*out = false), 0;
        }
    }
    return ferr(x, n, "%s: expected a boolean (true or false), got %s%s%s", key,
                n->type == YAML_SCALAR_NODE ? "\"" : "", n->type == YAML_SCALAR_NODE ? sval(n) : kind_name(n),
                n->type == YAML_SCALAR_NODE ? "\"" : "");
}

static int dec_int(ctx_t *x, yaml_node_t *n, const char *key, int64_t min, int64_t *out) {
    if (is_null(n)) return (*out = 0), 0;
    if (n->type != YAML_SCALAR_NODE || n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
        return ferr(x, n, "%s: expected an integer, got %s", key, kind_name(n));
    const char *s = sval(n);
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (!*s || *end || errno) return ferr(x, n, "%s: expected an integer, got \"%s\"", key, s);
    if (v < min) return ferr(x, n, "%s: must be at least %lld, got %lld", key, (long long)min, v);
    *out = v;
    return 0;
}

static int dec_duration(ctx_t *x, yaml_node_t *n, const char *key) {
    if (is_null(n)) return 0;
    if (n->type != YAML_SCALAR_NODE) return ferr(x, n, "%s: expected a duration, got %s", key, kind_name(n));
    int64_t ms;
    pl_err_t e = {{0}};
    if (pl_parse_duration(sval(n), &ms, &e) < 0) return ferr(x, n, "%s: %s", key, e.msg);
    return 0;
}

/* Walks a mapping: checks it is one (null = empty), refuses non-scalar and
 * duplicate keys, and calls fn for each pair. */
typedef int (*pair_fn)(ctx_t *x, const char *key, yaml_node_t *k, yaml_node_t *v, void *arg);

static int walk_map(ctx_t *x, yaml_node_t *n, const char *what, pair_fn fn, void *arg) {
    if (is_null(n)) return 0;
    if (n->type != YAML_MAPPING_NODE) return ferr(x, n, "%s: expected a mapping, got %s", what, kind_name(n));
    for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
        yaml_node_t *k = node(x, p->key), *v = node(x, p->value);
        if (!k || !v) return ferr(x, n, "%s: malformed mapping", what);
        if (k->type != YAML_SCALAR_NODE) return ferr(x, k, "%s: keys must be strings", what);
        for (yaml_node_pair_t *q = n->data.mapping.pairs.start; q < p; q++) {
            yaml_node_t *k2 = node(x, q->key);
            if (k2 && k2->type == YAML_SCALAR_NODE && !strcmp(sval(k2), sval(k)))
                return ferr(x, k, "%s: key \"%s\" already set in this mapping", what, sval(k));
        }
        if (fn(x, sval(k), k, v, arg) < 0) return -1;
    }
    return 0;
}

static int unknown(ctx_t *x, yaml_node_t *k, const char *key, const char *type) {
    return ferr(x, k, "field %s not found in type %s", key, type);
}

/* ---- FILESYSTEM ------------------------------------------------------------ */

static int fs_pair(ctx_t *x, const char *key, yaml_node_t *k, yaml_node_t *v, void *arg) {
    objstore_config_t *c = arg;
    if (!strcmp(key, "directory")) return dec_string(x, v, key, &c->directory);
    return unknown(x, k, key, "filesystem.Config");
}

/* ---- S3 ------------------------------------------------------------------- */

static int ignore_durations_pair(ctx_t *x, const char *key, yaml_node_t *k, yaml_node_t *v, void *arg);

static int tls_pair(ctx_t *x, const char *key, yaml_node_t *k, yaml_node_t *v, void *arg) {
    objstore_s3_config_t *s = arg;
    char *tmp = NULL;
    int rc;
    if (!strcmp(key, "insecure_skip_verify")) return dec_bool(x, v, key, &s->insecure_skip_verify);
    if (!strcmp(key, "ca_file") || !strcmp(key, "cert_file") || !strcmp(key, "key_file") ||
        !strcmp(key, "server_name")) {
        rc = dec_string(x, v, key, &tmp);
        bool set = tmp && *tmp;
        free(tmp);
        if (rc < 0) return -1;
        if (set) return ferr(x, v, "%s: custom TLS files are not supported by promlab's S3 client", key);
        return 0;
    }
    return unknown(x, k, key, "exthttp.TLSConfig");
}

static int http_pair(ctx_t *x, const char *key, yaml_node_t *k, yaml_node_t *v, void *arg) {
    objstore_s3_config_t *s = arg;
    int64_t iv;
    bool b;
    if (!strcmp(key, "idle_conn_timeout") || !strcmp(key, "response_header_timeout") ||
        !strcmp(key, "tls_handshake_timeout") || !strcmp(key, "expect_continue_timeout"))
        return dec_duration(x, v, key);
    if (!strcmp(key, "max_idle_conns") || !strcmp(key, "max_idle_conns_per_host") || !strcmp(key, "max_conns_per_host"))
        return dec_int(x, v, key, 0, &iv);
    if (!strcmp(key, "insecure_skip_verify")) return dec_bool(x, v, key, &s->insecure_skip_verify);
    if (!strcmp(key, "disable_compression")) return dec_bool(x, v, key, &b);
    if (!strcmp(key, "tls_config")) return walk_map(x, v, key, tls_pair, s);
    return unknown(x, k, key, "exthttp.HTTPConfig");
}

static int ignore_durations_pair(ctx_t *x, const char *key, yaml_node_t *k, yaml_node_t *v, void *arg) {
    (void)arg;
    bool b;
    if (!strcmp(key, "enable")) return dec_bool(x, v, key, &b);
    return unknown(x, k, key, "s3.TraceConfig");
}

static int sse_pair(ctx_t *x, const char *key, yaml_node_t *k, yaml_node_t *v, void *arg) {
    (void)arg;
    char *tmp = NULL;
    if (!strcmp(key, "type") || !strcmp(key, "kms_key_id") || !strcmp(key, "encryption_key")) {
        int rc = dec_string(x, v, key, &tmp);
        bool set = tmp && *tmp;
        free(tmp);
        if (rc < 0) return -1;
        if (set) return ferr(x, v, "sse_config.%s: server-side encryption is not supported by promlab's S3 client", key);
        return 0;
    }
    if (!strcmp(key, "kms_encryption_context")) {
        if (is_null(v) || (v->type == YAML_MAPPING_NODE && v->data.mapping.pairs.top == v->data.mapping.pairs.start))
            return 0;
        return ferr(x, v, "sse_config.%s: server-side encryption is not supported by promlab's S3 client", key);
    }
    return unknown(x, k, key, "s3.SSEConfig");
}

static int any_string_map_pair(ctx_t *x, const char *key, yaml_node_t *k, yaml_node_t *v, void *arg) {
    (void)k;
    char *tmp = NULL;
    int rc = dec_string(x, v, key, &tmp);
    free(tmp);
    (void)arg;
    return rc;
}

static int s3_pair(ctx_t *x, const char *key, yaml_node_t *k, yaml_node_t *v, void *arg) {
    objstore_s3_config_t *s = arg;
    bool b = false;
    int64_t iv = 0;
    char *tmp = NULL;
    int rc;
    if (!strcmp(key, "bucket")) return dec_string(x, v, key, &s->bucket);
    if (!strcmp(key, "endpoint")) return dec_string(x, v, key, &s->endpoint);
    if (!strcmp(key, "region")) return dec_string(x, v, key, &s->region);
    if (!strcmp(key, "access_key")) return dec_string(x, v, key, &s->access_key);
    if (!strcmp(key, "secret_key")) return dec_string(x, v, key, &s->secret_key);
    if (!strcmp(key, "session_token")) return dec_string(x, v, key, &s->session_token);
    if (!strcmp(key, "insecure")) return dec_bool(x, v, key, &s->insecure);
    if (!strcmp(key, "send_content_md5")) return dec_bool(x, v, key, &s->send_content_md5);
    if (!strcmp(key, "disable_multipart")) return dec_bool(x, v, key, &s->disable_multipart);
    if (!strcmp(key, "disable_dualstack")) return dec_bool(x, v, key, &b);
    if (!strcmp(key, "signature_version2")) {
        if (dec_bool(x, v, key, &b) < 0) return -1;
        if (b) return ferr(x, v, "signature_version2: true is not supported: promlab signs with AWS Signature Version 4 only");
        return 0;
    }
    if (!strcmp(key, "aws_sdk_auth")) {
        if (dec_bool(x, v, key, &b) < 0) return -1;
        if (b) return ferr(x, v, "aws_sdk_auth: true is not supported: give access_key and secret_key");
        return 0;
    }
    if (!strcmp(key, "part_size")) {
        if (dec_int(x, v, key, 0, &iv) < 0) return -1;
        if (iv != 0 && iv < 5 * 1024) return ferr(x, v, "part_size: must be at least 5120 bytes, got %lld", (long long)iv);
        s->part_size = iv;
        return 0;
    }
    if (!strcmp(key, "max_retries")) {
        if (dec_int(x, v, key, 0, &iv) < 0) return -1;
        if (iv > 100) return ferr(x, v, "max_retries: at most 100, got %lld", (long long)iv);
        s->max_retries = (int)iv;
        return 0;
    }
    if (!strcmp(key, "list_objects_version")) {
        if ((rc = dec_string(x, v, key, &tmp)) == 0 && tmp && *tmp && strcmp(tmp, "v2") && strcmp(tmp, "v1"))
            rc = ferr(x, v, "list_objects_version: must be v1 or v2, got \"%s\"", tmp);
        else if (rc == 0 && !strcmp(tmp, "v1"))
            rc = ferr(x, v, "list_objects_version: v1 is not supported by promlab's S3 client (it lists with v2)");
        free(tmp);
        return rc;
    }
    if (!strcmp(key, "bucket_lookup_type")) {
        if ((rc = dec_string(x, v, key, &tmp)) == 0 && tmp && *tmp && strcmp(tmp, "auto") && strcmp(tmp, "path")) {
            if (!strcmp(tmp, "virtual-hosted"))
                rc = ferr(x, v, "bucket_lookup_type: virtual-hosted is not supported: promlab addresses buckets path-style (use auto or path)");
            else
                rc = ferr(x, v, "bucket_lookup_type: must be auto, virtual-hosted or path, got \"%s\"", tmp);
        }
        free(tmp);
        return rc;
    }
    if (!strcmp(key, "sts_endpoint")) {
        rc = dec_string(x, v, key, &tmp);
        free(tmp);
        return rc;
    }
    if (!strcmp(key, "put_user_metadata")) return walk_map(x, v, key, any_string_map_pair, NULL);
    if (!strcmp(key, "http_config")) return walk_map(x, v, key, http_pair, s);
    if (!strcmp(key, "trace")) return walk_map(x, v, key, ignore_durations_pair, NULL);
    if (!strcmp(key, "sse_config")) return walk_map(x, v, key, sse_pair, NULL);
    return unknown(x, k, key, "s3.Config");
}

/* ---- top level ------------------------------------------------------------- */

typedef struct top {
    objstore_config_t *cfg;
    yaml_node_t *type_node, *config_node;
    char *type;
} top_t;

static int top_pair(ctx_t *x, const char *key, yaml_node_t *k, yaml_node_t *v, void *arg) {
    top_t *t = arg;
    if (!strcmp(key, "type")) {
        t->type_node = v;
        return dec_string(x, v, key, &t->type);
    }
    if (!strcmp(key, "config")) {
        t->config_node = v;
        return 0;
    }
    if (!strcmp(key, "prefix")) return dec_string(x, v, key, &t->cfg->prefix);
    return unknown(x, k, key, "client.BucketConfig");
}

static int normalize_prefix(objstore_config_t *c) {
    char *p = c->prefix ? c->prefix : "";
    while (*p == '/') p++;
    size_t n = strlen(p);
    while (n && p[n - 1] == '/') n--;
    char *np = strndup(p, n);
    if (!np) return -1;
    free(c->prefix);
    c->prefix = np;
    return 0;
}

static int validate(ctx_t *x, top_t *t, yaml_node_t *root) {
    objstore_config_t *c = t->cfg;
    if (!t->type || !*t->type) return ferr(x, t->type_node ? t->type_node : root, "type: missing (FILESYSTEM or S3)");
    static const char *thanos_types[] = {"GCS", "AZURE", "SWIFT", "COS", "ALIYUNOSS", "BOS", "OCI", "OBS"};
    if (!strcasecmp(t->type, "FILESYSTEM")) {
        c->type = OBJSTORE_FILESYSTEM;
        if (t->config_node && walk_map(x, t->config_node, "config", fs_pair, c) < 0) return -1;
        if (!c->directory || !*c->directory)
            return ferr(x, t->config_node ? t->config_node : root, "config.directory: missing directory for filesystem bucket");
    } else if (!strcasecmp(t->type, "S3")) {
        c->type = OBJSTORE_S3;
        objstore_s3_config_t *s = &c->s3;
        if (t->config_node && walk_map(x, t->config_node, "config", s3_pair, s) < 0) return -1;
        yaml_node_t *at = t->config_node ? t->config_node : root;
        if (!s->bucket || !*s->bucket) return ferr(x, at, "config.bucket: missing s3 bucket name");
        if (!s->endpoint || !*s->endpoint) return ferr(x, at, "config.endpoint: missing s3 endpoint (host:port)");
        if (strstr(s->endpoint, "://"))
            return ferr(x, at, "config.endpoint: must be host[:port] without a scheme (set insecure: true for http), got \"%s\"", s->endpoint);
        if (strchr(s->endpoint, '/')) return ferr(x, at, "config.endpoint: must not contain a path, got \"%s\"", s->endpoint);
        bool ak = s->access_key && *s->access_key, sk = s->secret_key && *s->secret_key;
        if (ak && !sk) return ferr(x, at, "config.secret_key: missing while access_key is set");
        if (!ak && sk) return ferr(x, at, "config.access_key: missing while secret_key is set");
        if (!s->part_size) s->part_size = 64LL * 1024 * 1024;
        if (!s->region) s->region = strdup("");
        if (!s->region) return ferr(x, NULL, "out of memory");
    } else {
        for (size_t i = 0; i < sizeof thanos_types / sizeof thanos_types[0]; i++)
            if (!strcasecmp(t->type, thanos_types[i]))
                return ferr(x, t->type_node, "type: %s is a Thanos bucket type promlab does not implement (FILESYSTEM and S3 are)", t->type);
        return ferr(x, t->type_node, "type: unsupported bucket type \"%s\" (FILESYSTEM or S3)", t->type);
    }
    if (normalize_prefix(c) < 0) return ferr(x, NULL, "out of memory");
    return 0;
}

int objstore_config_parse(const char *yaml, size_t len, const char *name, objstore_config_t *cfg, pl_err_t *err) {
    memset(cfg, 0, sizeof *cfg);
    ctx_t x = {.name = name ? name : "<objstore.config>", .err = err};
    yaml_parser_t p;
    if (!yaml_parser_initialize(&p)) return pl_err_set(err, "%s: out of memory", x.name);
    yaml_parser_set_input_string(&p, (const unsigned char *)yaml, len);
    if (!yaml_parser_load(&p, &x.doc)) {
        pl_err_set(err, "%s:%zu:%zu: %s%s%s", x.name, p.problem_mark.line + 1, p.problem_mark.column + 1,
                   p.problem ? p.problem : "invalid YAML", p.context ? " " : "", p.context ? p.context : "");
        yaml_parser_delete(&p);
        return -1;
    }
    /* A second document is refused: Thanos reads exactly one. */
    yaml_document_t extra;
    int more = 0;
    if (yaml_parser_load(&p, &extra)) {
        more = yaml_document_get_root_node(&extra) != NULL;
        yaml_document_delete(&extra);
    }
    yaml_parser_delete(&p);
    int rc = -1;
    top_t t = {.cfg = cfg};
    yaml_node_t *root = yaml_document_get_root_node(&x.doc);
    if (!root || is_null(root)) {
        pl_err_set(err, "%s: empty bucket configuration", x.name);
        goto out;
    }
    if (more) {
        ferr(&x, root, "more than one YAML document");
        goto out;
    }
    if (walk_map(&x, root, "bucket configuration", top_pair, &t) < 0) goto out;
    if (validate(&x, &t, root) < 0) goto out;
    rc = 0;
out:
    free(t.type);
    yaml_document_delete(&x.doc);
    if (rc < 0) objstore_config_free(cfg);
    return rc;
}

int objstore_config_load_file(const char *path, objstore_config_t *cfg, pl_err_t *err) {
    memset(cfg, 0, sizeof *cfg);
    FILE *f = fopen(path, "rb");
    if (!f) return pl_err_set(err, "open %s: %s", path, strerror(errno));
    strbuf_t sb = STRBUF_INIT;
    char buf[8192];
    size_t k;
    while ((k = fread(buf, 1, sizeof buf, f)) > 0) strbuf_append(&sb, buf, k);
    int ioerr = ferror(f);
    fclose(f);
    if (ioerr) {
        strbuf_free(&sb);
        return pl_err_set(err, "read %s: I/O error", path);
    }
    int rc = objstore_config_parse(sb.data ? sb.data : "", sb.len, path, cfg, err);
    strbuf_free(&sb);
    return rc;
}

static void wipe_free(char *s) {
    if (!s) return;
    memset(s, 0, strlen(s));
    free(s);
}

void objstore_config_free(objstore_config_t *c) {
    free(c->prefix);
    free(c->directory);
    free(c->s3.bucket);
    free(c->s3.endpoint);
    free(c->s3.region);
    wipe_free(c->s3.access_key);
    wipe_free(c->s3.secret_key);
    wipe_free(c->s3.session_token);
    memset(c, 0, sizeof *c);
}

objstore_t *objstore_open_flags(const char *file, const char *inline_yaml, pl_err_t *err) {
    bool f = file && *file, in = inline_yaml && *inline_yaml;
    if (f == in) {
        pl_err_set(err, "give exactly one of --objstore.config-file and --objstore.config");
        return NULL;
    }
    objstore_config_t oc = {0};
    pl_err_t e = {{0}};
    int rc = f ? objstore_config_load_file(file, &oc, &e)
               : objstore_config_parse(inline_yaml, strlen(inline_yaml), "<objstore.config>", &oc, &e);
    if (rc < 0) {
        objstore_config_free(&oc);
        pl_err_set(err, "objstore config: %s", e.msg);
        return NULL;
    }
    objstore_t *b = objstore_open(&oc, &e);
    objstore_config_free(&oc);
    if (!b) pl_err_set(err, "objstore: %s", e.msg);
    return b;
}
