/* ytree.c — a YAML document as a tree of nodes with line and column, over
 * libyaml's event parser. Scenario and query set files are small, and a tree
 * lets the readers report unknown keys and bad values with file:line:col. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "loadgen.h"

static ynode_t *node_new(enum ynode_kind kind, const yaml_mark_t *m) {
    ynode_t *n = calloc(1, sizeof *n);
    if (!n) abort();
    n->kind = kind;
    n->line = (int)m->line + 1;
    n->col = (int)m->column + 1;
    return n;
}

static void node_push(ynode_t *parent, ynode_t *child) {
    ynode_t **items = realloc(parent->items, (parent->n + 1) * sizeof *items);
    if (!items) abort();
    parent->items = items;
    parent->items[parent->n++] = child;
}

void lg_yaml_free(ynode_t *n) {
    if (!n) return;
    for (size_t i = 0; i < n->n; i++) lg_yaml_free(n->items[i]);
    free(n->items);
    free(n->value);
    free(n);
}

static int syntax_error(yaml_parser_t *p, const char *name, pl_err_t *err) {
    return pl_err_set(err, "%s:%zu:%zu: %s", name, p->problem_mark.line + 1, p->problem_mark.column + 1,
                      p->problem ? p->problem : "YAML syntax error");
}

/* Builds the node starting at *ev (consumed). */
static ynode_t *parse_node(yaml_parser_t *p, yaml_event_t *ev, const char *name, int depth, pl_err_t *err) {
    ynode_t *node;
    yaml_event_type_t end;
    if (depth > 64) {
        pl_err_set(err, "%s:%zu: nesting too deep", name, ev->start_mark.line + 1);
        yaml_event_delete(ev);
        return NULL;
    }
    switch (ev->type) {
    case YAML_SCALAR_EVENT:
        node = node_new(YN_SCALAR, &ev->start_mark);
        node->value = strndup((const char *)ev->data.scalar.value, ev->data.scalar.length);
        yaml_event_delete(ev);
        return node;
    case YAML_SEQUENCE_START_EVENT:
        node = node_new(YN_SEQ, &ev->start_mark);
        end = YAML_SEQUENCE_END_EVENT;
        break;
    case YAML_MAPPING_START_EVENT:
        node = node_new(YN_MAP, &ev->start_mark);
        end = YAML_MAPPING_END_EVENT;
        break;
    default:
        pl_err_set(err, "%s:%zu:%zu: unsupported YAML (aliases and tags are not)", name, ev->start_mark.line + 1,
                   ev->start_mark.column + 1);
        yaml_event_delete(ev);
        return NULL;
    }
    yaml_event_delete(ev);
    for (;;) {
        yaml_event_t child;
        if (!yaml_parser_parse(p, &child)) {
            syntax_error(p, name, err);
            lg_yaml_free(node);
            return NULL;
        }
        if (child.type == end) {
            yaml_event_delete(&child);
            return node;
        }
        ynode_t *c = parse_node(p, &child, name, depth + 1, err);
        if (!c) {
            lg_yaml_free(node);
            return NULL;
        }
        if (node->kind == YN_MAP && node->n % 2 == 0 && c->kind != YN_SCALAR) {
            pl_err_set(err, "%s:%d:%d: mapping keys must be scalars", name, c->line, c->col);
            lg_yaml_free(c);
            lg_yaml_free(node);
            return NULL;
        }
        node_push(node, c);
    }
}

static int load(yaml_parser_t *p, const char *name, ynode_t **out, pl_err_t *err) {
    *out = NULL;
    yaml_event_t ev;
    int rc = 0;
    for (;;) {
        if (!yaml_parser_parse(p, &ev)) return syntax_error(p, name, err);
        yaml_event_type_t t = ev.type;
        if (t == YAML_STREAM_END_EVENT) {
            yaml_event_delete(&ev);
            break;
        }
        if (t == YAML_STREAM_START_EVENT || t == YAML_DOCUMENT_START_EVENT || t == YAML_DOCUMENT_END_EVENT) {
            yaml_event_delete(&ev);
            continue;
        }
        if (*out) {
            yaml_event_delete(&ev);
            lg_yaml_free(*out);
            *out = NULL;
            return pl_err_set(err, "%s: more than one YAML document", name);
        }
        *out = parse_node(p, &ev, name, 0, err);
        if (!*out) return -1;
    }
    if (!*out) rc = pl_err_set(err, "%s: empty document", name);
    return rc;
}

int lg_yaml_load(const char *path, ynode_t **out, pl_err_t *err) {
    FILE *f = fopen(path, "rb");
    if (!f) return pl_err_set(err, "%s: cannot open", path);
    yaml_parser_t p;
    yaml_parser_initialize(&p);
    yaml_parser_set_input_file(&p, f);
    int rc = load(&p, path, out, err);
    yaml_parser_delete(&p);
    fclose(f);
    return rc;
}

int lg_yaml_load_string(const char *name, const char *text, ynode_t **out, pl_err_t *err) {
    yaml_parser_t p;
    yaml_parser_initialize(&p);
    yaml_parser_set_input_string(&p, (const unsigned char *)text, strlen(text));
    int rc = load(&p, name, out, err);
    yaml_parser_delete(&p);
    return rc;
}

const ynode_t *lg_ymap_get(const ynode_t *m, const char *key) {
    if (!m || m->kind != YN_MAP) return NULL;
    for (size_t i = 0; i + 1 < m->n; i += 2)
        if (strcmp(m->items[i]->value, key) == 0) return m->items[i + 1];
    return NULL;
}

const char *lg_yscalar(const ynode_t *n) { return n && n->kind == YN_SCALAR ? n->value : NULL; }
