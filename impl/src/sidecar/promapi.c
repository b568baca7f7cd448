/* promapi.c — see promapi.h. */
#include "sidecar/promapi.h"

#include <curl/curl.h>
#include <jansson.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "util/timeutil.h"

void promapi_labels_free(promapi_labels_t *l) {
    for (size_t i = 0; i < l->n; i++) {
        free((char *)l->v[i].name);
        free((char *)l->v[i].value);
    }
    free(l->v);
    l->v = NULL;
    l->n = 0;
}

/* The "data" object of a {"status":"success","data":...} answer. */
static json_t *envelope(const char *json, size_t len, json_t **root, pl_err_t *err) {
    json_error_t je;
    *root = json_loadb(json, len, 0, &je);
    if (!*root) return pl_err_set(err, "invalid JSON answer: %s", je.text), NULL;
    const char *status = json_string_value(json_object_get(*root, "status"));
    if (!status || strcmp(status, "success") != 0) {
        const char *e = json_string_value(json_object_get(*root, "error"));
        pl_err_set(err, "answer status is not success%s%s", e ? ": " : "", e ? e : "");
        return NULL;
    }
    json_t *data = json_object_get(*root, "data");
    if (!json_is_object(data)) return pl_err_set(err, "answer has no data object"), NULL;
    return data;
}

static yaml_node_t *map_get(yaml_document_t *d, yaml_node_t *m, const char *key) {
    if (!m || m->type != YAML_MAPPING_NODE) return NULL;
    for (yaml_node_pair_t *p = m->data.mapping.pairs.start; p < m->data.mapping.pairs.top; p++) {
        yaml_node_t *k = yaml_document_get_node(d, p->key);
        if (k && k->type == YAML_SCALAR_NODE && !strcmp((const char *)k->data.scalar.value, key))
            return yaml_document_get_node(d, p->value);
    }
    return NULL;
}

int promapi_parse_config(const char *json, size_t len, promapi_labels_t *l, pl_err_t *err) {
    memset(l, 0, sizeof *l);
    json_t *root;
    json_t *data = envelope(json, len, &root, err);
    if (!data) {
        json_decref(root);
        return -1;
    }
    const char *y = json_string_value(json_object_get(data, "yaml"));
    if (!y) {
        json_decref(root);
        return pl_err_set(err, "config answer has no data.yaml");
    }
    yaml_parser_t p;
    yaml_document_t doc;
    int rc = -1;
    if (!yaml_parser_initialize(&p)) {
        json_decref(root);
        return pl_err_set(err, "out of memory");
    }
    yaml_parser_set_input_string(&p, (const unsigned char *)y, strlen(y));
    if (!yaml_parser_load(&p, &doc)) {
        pl_err_set(err, "config YAML line %zu: %s", p.problem_mark.line + 1, p.problem ? p.problem : "invalid");
        yaml_parser_delete(&p);
        json_decref(root);
        return -1;
    }
    yaml_node_t *el = map_get(&doc, map_get(&doc, yaml_document_get_root_node(&doc), "global"), "external_labels");
    if (el && el->type == YAML_MAPPING_NODE) {
        size_t n = (size_t)(el->data.mapping.pairs.top - el->data.mapping.pairs.start);
        l->v = n ? calloc(n, sizeof *l->v) : NULL;
        for (yaml_node_pair_t *q = el->data.mapping.pairs.start; q < el->data.mapping.pairs.top; q++) {
            yaml_node_t *k = yaml_document_get_node(&doc, q->key), *v = yaml_document_get_node(&doc, q->value);
            if (!k || !v || k->type != YAML_SCALAR_NODE || v->type != YAML_SCALAR_NODE) {
                pl_err_set(err, "config YAML: global.external_labels must map names to strings");
                goto out;
            }
            l->v[l->n].name = strdup((const char *)k->data.scalar.value);
            l->v[l->n].value = strdup((const char *)v->data.scalar.value);
            l->n++;
        }
        labels_sort(l->v, l->n);
    } else if (el && !(el->type == YAML_SCALAR_NODE && el->data.scalar.length == 0) &&
               !(el->type == YAML_SCALAR_NODE && !strcmp((const char *)el->data.scalar.value, "null"))) {
        pl_err_set(err, "config YAML: global.external_labels is not a mapping");
        goto out;
    }
    rc = 0;
out:
    if (rc != 0) promapi_labels_free(l);
    yaml_document_delete(&doc);
    yaml_parser_delete(&p);
    json_decref(root);
    return rc;
}

int promapi_parse_flags(const char *json, size_t len, int64_t *min_ms, int64_t *max_ms, pl_err_t *err) {
    json_t *root;
    json_t *data = envelope(json, len, &root, err);
    int rc = -1;
    if (!data) goto out;
    const char *names[2] = {"storage.tsdb.min-block-duration", "storage.tsdb.max-block-duration"};
    int64_t *outs[2] = {min_ms, max_ms};
    for (int i = 0; i < 2; i++) {
        const char *v = json_string_value(json_object_get(data, names[i]));
        if (!v) {
            pl_err_set(err, "flags answer has no %s", names[i]);
            goto out;
        }
        pl_err_t e = {{0}};
        if (!*v || pl_parse_duration(v, outs[i], &e) < 0) {
            pl_err_set(err, "flag %s=\"%s\" is not a duration", names[i], v);
            goto out;
        }
    }
    rc = 0;
out:
    json_decref(root);
    return rc;
}

static size_t collect(char *data, size_t size, size_t nmemb, void *arg) {
    strbuf_append(arg, data, size * nmemb);
    return size * nmemb;
}

static pthread_once_t once = PTHREAD_ONCE_INIT;
static void init_curl(void) { curl_global_init(CURL_GLOBAL_DEFAULT); }

int promapi_get(const char *base_url, const char *path, int64_t timeout_ms, strbuf_t *body, pl_err_t *err) {
    pthread_once(&once, init_curl);
    CURL *c = curl_easy_init();
    if (!c) return pl_err_set(err, "cannot initialise libcurl");
    strbuf_t url = STRBUF_INIT;
    size_t bl = strlen(base_url);
    while (bl && base_url[bl - 1] == '/') bl--;
    strbuf_append(&url, base_url, bl);
    strbuf_puts(&url, path);
    char eb[CURL_ERROR_SIZE] = {0};
    curl_easy_setopt(c, CURLOPT_URL, url.data);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)timeout_ms);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, body);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, eb);
    curl_easy_setopt(c, CURLOPT_ACCEPT_ENCODING, "");
    CURLcode cc = curl_easy_perform(c);
    long code = 0;
    int rc = 0;
    if (cc != CURLE_OK) {
        rc = pl_err_set(err, "GET %s: %s", url.data, eb[0] ? eb : curl_easy_strerror(cc));
    } else {
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
        if (code / 100 != 2) rc = pl_err_set(err, "GET %s: HTTP %ld", url.data, code);
    }
    curl_easy_cleanup(c);
    strbuf_free(&url);
    return rc;
}
