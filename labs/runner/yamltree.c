/* yamltree.c — a whole YAML document as a tree of scalars, sequences and
 * mappings, built from libyaml's event stream.
 *
 * compose.yml and checks.yml are a few kilobytes, and both are walked by
 * key lookups in no fixed order, so a tree is the simple shape. Anchors and
 * merge keys are not supported (an alias is refused with its line). */
#include <stdlib.h>
#include <string.h>
#include <stdio.h>
#include <yaml.h>

#include "lab.h"

static ynode_t *ynode_new(enum ynode_kind kind, int line)
{
    ynode_t *n = calloc(1, sizeof *n);
    if (!n) abort();
    n->kind = kind;
    n->line = line;
    return n;
}

static void ynode_push(ynode_t *parent, ynode_t *child)
{
    ynode_t **items = realloc(parent->items, (parent->n + 1) * sizeof *items);
    if (!items) abort();
    parent->items = items;
    parent->items[parent->n++] = child;
}

void ytree_free(ynode_t *n)
{
    if (!n) return;
    for (size_t i = 0; i < n->n; i++) ytree_free(n->items[i]);
    free(n->items);
    free(n->value);
    free(n);
}

/* Builds the node that starts with *ev (already parsed; this function
 * deletes it). Returns NULL with err set on a parse error. */
static ynode_t *parse_node(yaml_parser_t *p, yaml_event_t *ev, const char *path, pl_err_t *err)
{
    int line = (int)ev->start_mark.line + 1;
    ynode_t *node = NULL;
    enum yaml_event_type_e end;
    switch (ev->type) {
    case YAML_SCALAR_EVENT:
        node = ynode_new(YNODE_SCALAR, line);
        node->value = strndup((const char *)ev->data.scalar.value, ev->data.scalar.length);
        if (!node->value) abort();
        yaml_event_delete(ev);
        return node;
    case YAML_SEQUENCE_START_EVENT:
        node = ynode_new(YNODE_SEQ, line);
        end = YAML_SEQUENCE_END_EVENT;
        break;
    case YAML_MAPPING_START_EVENT:
        node = ynode_new(YNODE_MAP, line);
        end = YAML_MAPPING_END_EVENT;
        break;
    case YAML_ALIAS_EVENT:
        yaml_event_delete(ev);
        pl_err_set(err, "%s:%d: YAML aliases are not supported", path, line);
        return NULL;
    default:
        yaml_event_delete(ev);
        pl_err_set(err, "%s:%d: unexpected YAML event", path, line);
        return NULL;
    }
    yaml_event_delete(ev);
    for (;;) {
        yaml_event_t child;
        if (!yaml_parser_parse(p, &child)) {
            pl_err_set(err, "%s:%zu:%zu: %s", path, p->problem_mark.line + 1, p->problem_mark.column + 1,
                       p->problem ? p->problem : "YAML syntax error");
            ytree_free(node);
            return NULL;
        }
        if (child.type == end) {
            yaml_event_delete(&child);
            return node;
        }
        ynode_t *c = parse_node(p, &child, path, err);
        if (!c) {
            ytree_free(node);
            return NULL;
        }
        if (node->kind == YNODE_MAP && node->n % 2 == 0 && c->kind != YNODE_SCALAR) {
            pl_err_set(err, "%s:%d: mapping keys must be scalars", path, c->line);
            ytree_free(c);
            ytree_free(node);
            return NULL;
        }
        ynode_push(node, c);
    }
}

int ytree_load_file(const char *path, ynode_t **out, pl_err_t *err)
{
    *out = NULL;
    FILE *f = fopen(path, "rb");
    if (!f) return pl_err_set(err, "%s: cannot open: %m", path);
    yaml_parser_t p;
    if (!yaml_parser_initialize(&p)) {
        fclose(f);
        return pl_err_set(err, "%s: cannot initialise the YAML parser", path);
    }
    yaml_parser_set_input_file(&p, f);
    ynode_t *root = NULL;
    int rc = 0;
    for (;;) {
        yaml_event_t ev;
        if (!yaml_parser_parse(&p, &ev)) {
            rc = pl_err_set(err, "%s:%zu:%zu: %s", path, p.problem_mark.line + 1, p.problem_mark.column + 1,
                            p.problem ? p.problem : "YAML syntax error");
            break;
        }
        if (ev.type == YAML_STREAM_END_EVENT) {
            yaml_event_delete(&ev);
            break;
        }
        if (ev.type == YAML_SCALAR_EVENT || ev.type == YAML_SEQUENCE_START_EVENT ||
            ev.type == YAML_MAPPING_START_EVENT || ev.type == YAML_ALIAS_EVENT) {
            if (root) { /* a second document: use the first only */
                yaml_event_delete(&ev);
                break;
            }
            root = parse_node(&p, &ev, path, err);
            if (!root) {
                rc = -1;
                break;
            }
            continue;
        }
        yaml_event_delete(&ev);
    }
    yaml_parser_delete(&p);
    fclose(f);
    if (rc == 0 && !root) rc = pl_err_set(err, "%s: empty document", path);
    if (rc != 0) {
        ytree_free(root);
        return -1;
    }
    *out = root;
    return 0;
}

const ynode_t *ymap_get(const ynode_t *m, const char *key)
{
    if (!m || m->kind != YNODE_MAP) return NULL;
    for (size_t i = 0; i + 1 < m->n; i += 2)
        if (strcmp(m->items[i]->value, key) == 0) return m->items[i + 1];
    return NULL;
}

const char *yscalar(const ynode_t *n)
{
    return n && n->kind == YNODE_SCALAR ? n->value : NULL;
}
