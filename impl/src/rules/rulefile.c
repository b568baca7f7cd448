/* rulefile.c — Prometheus rule files: parsing and validation (see rules.h).
 *
 * Prometheus (rulefmt.Parse) decodes a rule file twice with go-yaml v3 —
 * once strictly into its Go types, once into raw nodes for positions — and
 * then validates. Its messages come in three kinds, all reproduced here:
 *
 *   FILE: yaml: line 5: found unexpected end of stream      (syntax; twice)
 *   FILE: yaml: unmarshal errors:\n  line 3: field foo not found in type rulefmt.RuleGroup
 *   FILE: not a valid duration string: "5x"                  (stops decoding)
 *   FILE: 5:11: group "g", rule 1, "x": could not parse expression: ...
 *   FILE: group "g", rule 1, "x": invalid label name: bad-l  (no position)
 *   FILE: 21:3: groupname: "a" is repeated in the same file
 *
 * Decode errors (unknown fields, wrong types, repeated keys) are gathered
 * into one "unmarshal errors" message, as go-yaml does; validation runs only
 * when decoding succeeded. Positions are those of the value nodes, and
 * "0:0" when the key is missing (Prometheus's zero yaml.Node). Labels are
 * validated in name order (Prometheus iterates a Go map: random order).
 *
 * Aliases are expanded by libyaml's document loader; every node visit is
 * counted against a budget so that "billion laughs" documents are refused. */
#include <errno.h>
#include <glob.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "promql/parser.h"
#include "rules/rules.h"
#include "util/timeutil.h"

/* ---- error lists ---------------------------------------------------------- */

void rules_errors_add(rules_errors_t *e, const char *fmt, ...) {
    strbuf_t sb = STRBUF_INIT;
    va_list ap;
    va_start(ap, fmt);
    strbuf_vprintf(&sb, fmt, ap);
    va_end(ap);
    char **v = realloc(e->msgs, (e->n + 1) * sizeof *v);
    if (!v) abort(); /* as strbuf: OOM while reporting is fatal */
    e->msgs = v;
    e->msgs[e->n++] = strbuf_detach(&sb);
}

void rules_errors_free(rules_errors_t *e) {
    for (size_t i = 0; i < e->n; i++)
        free(e->msgs[i]);
    free(e->msgs);
    e->msgs = NULL, e->n = 0;
}

void rules_free_strv(char **v, size_t n) {
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

/* ---- decoding ------------------------------------------------------------- */

typedef struct pos {
    int line, col; /* 0:0 = absent */
} pos_t;

typedef struct dctx {
    const char *path;
    yaml_document_t *doc;
    strbuf_t unmarshal; /* "  line N: ..." lines */
    size_t visits, max_visits;
    char *fatal; /* a decode error that stops everything (durations) */
} dctx_t;

/* Per-rule positions for the validation messages. */
typedef struct rule_pos {
    pos_t record, alert, expr;
    bool has_record, has_alert; /* key present (even with an empty value) */
} rule_pos_t;

typedef struct group_pos {
    pos_t at;
    rule_pos_t *rules;
} group_pos_t;

static yaml_node_t *node(dctx_t *x, yaml_node_item_t i) { return yaml_document_get_node(x->doc, i); }

static pos_t pos_of(const yaml_node_t *n) {
    return (pos_t){(int)n->start_mark.line + 1, (int)n->start_mark.column + 1};
}

static bool is_null(const yaml_node_t *n) {
    if (n->type != YAML_SCALAR_NODE) return false;
    if (n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE) return false;
    const char *s = (const char *)n->data.scalar.value;
    size_t l = n->data.scalar.length;
    if (n->tag && strcmp((const char *)n->tag, YAML_NULL_TAG) == 0) return true;
    return l == 0 || (l == 1 && s[0] == '~') || (l == 4 && (!memcmp(s, "null", 4) || !memcmp(s, "Null", 4) ||
                                                           !memcmp(s, "NULL", 4)));
}

static bool visit(dctx_t *x) { return ++x->visits <= x->max_visits; }

/* The tag go-yaml v3 gives a scalar (for its messages). */
static const char *scalar_tag(const yaml_node_t *n) {
    if (n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE) return "!!str";
    return config_yaml_resolve((const char *)n->data.scalar.value, n->data.scalar.length);
}

static void unmarshal_err(dctx_t *x, const yaml_node_t *n, const char *go_type) {
    if (n->type == YAML_SCALAR_NODE) {
        const char *tag = scalar_tag(n);
        strbuf_printf(&x->unmarshal, "\n  line %zu: cannot unmarshal %s `%.*s` into %s", n->start_mark.line + 1, tag,
                      (int)n->data.scalar.length, (const char *)n->data.scalar.value, go_type);
    } else {
        strbuf_printf(&x->unmarshal, "\n  line %zu: cannot unmarshal %s into %s", n->start_mark.line + 1,
                      n->type == YAML_MAPPING_NODE ? "!!map" : "!!seq", go_type);
    }
}

static char *dup_scalar(const yaml_node_t *n) {
    char *s = malloc(n->data.scalar.length + 1);
    if (!s) abort();
    memcpy(s, n->data.scalar.value, n->data.scalar.length);
    s[n->data.scalar.length] = '\0';
    return s;
}

/* string: any scalar; null is "". */
static void dec_string(dctx_t *x, yaml_node_t *n, char **out) {
    free(*out);
    *out = NULL;
    if (!visit(x)) return;
    if (n->type != YAML_SCALAR_NODE) {
        unmarshal_err(x, n, "string");
        return;
    }
    *out = is_null(n) ? strdup("") : dup_scalar(n);
    if (!*out) abort();
}

/* yaml.Node fields (record, alert, expr): any node; the value of a scalar. */
static void dec_node_string(dctx_t *x, yaml_node_t *n, char **out, pos_t *p) {
    free(*out);
    *out = NULL;
    *p = pos_of(n);
    if (!visit(x)) return;
    if (n->type == YAML_SCALAR_NODE && !is_null(n)) *out = dup_scalar(n);
}

/* model.Duration */
static void dec_duration(dctx_t *x, yaml_node_t *n, int64_t *out) {
    *out = 0;
    if (!visit(x) || is_null(n)) return;
    if (n->type != YAML_SCALAR_NODE) {
        unmarshal_err(x, n, "model.Duration");
        return;
    }
    char *s = dup_scalar(n);
    if (pl_parse_duration(s, out, NULL) < 0 || s[0] == '-') {
        if (!x->fatal) {
            strbuf_t sb = STRBUF_INIT;
            strbuf_printf(&sb, "not a valid duration string: \"%s\"", s);
            x->fatal = strbuf_detach(&sb);
        }
        *out = 0;
    }
    free(s);
}

/* int (limit): a YAML int; negative values pass decoding (Prometheus then
 * treats a limit <= 0 as none). */
static void dec_limit(dctx_t *x, yaml_node_t *n, uint64_t *out) {
    *out = 0;
    if (!visit(x) || is_null(n)) return;
    if (n->type != YAML_SCALAR_NODE || strcmp(scalar_tag(n), "!!int") != 0) {
        unmarshal_err(x, n, "int");
        return;
    }
    char *s = dup_scalar(n), *end;
    errno = 0;
    long long v = strtoll(s, &end, 0);
    if (errno || *end) unmarshal_err(x, n, "int");
    else if (v > 0) *out = (uint64_t)v;
    free(s);
}

static void labels_clear(config_labels_t *l) {
    for (size_t i = 0; i < l->n; i++) {
        free((char *)l->v[i].name);
        free((char *)l->v[i].value);
    }
    free(l->v);
    l->v = NULL, l->n = 0;
}

/* Repeated keys of a mapping: go-yaml's "mapping key "k" already defined at line N".
 * Returns true when key i repeats an earlier one. */
static bool repeated_key(dctx_t *x, yaml_node_t *map, yaml_node_pair_t *p) {
    yaml_node_t *k = node(x, p->key);
    if (k->type != YAML_SCALAR_NODE) return false;
    for (yaml_node_pair_t *q = map->data.mapping.pairs.start; q < p; q++) {
        yaml_node_t *k2 = node(x, q->key);
        if (k2->type == YAML_SCALAR_NODE && k2->data.scalar.length == k->data.scalar.length &&
            !memcmp(k2->data.scalar.value, k->data.scalar.value, k->data.scalar.length)) {
            strbuf_printf(&x->unmarshal, "\n  line %zu: mapping key \"%.*s\" already defined at line %zu",
                          k->start_mark.line + 1, (int)k->data.scalar.length, (const char *)k->data.scalar.value,
                          k2->start_mark.line + 1);
            return true;
        }
    }
    return false;
}

/* map[string]string, sorted by name afterwards. */
static void dec_string_map(dctx_t *x, yaml_node_t *n, config_labels_t *out) {
    labels_clear(out);
    if (!visit(x) || is_null(n)) return;
    if (n->type != YAML_MAPPING_NODE) {
        unmarshal_err(x, n, "map[string]string");
        return;
    }
    size_t cnt = (size_t)(n->data.mapping.pairs.top - n->data.mapping.pairs.start);
    out->v = calloc(cnt ? cnt : 1, sizeof *out->v);
    if (!out->v) abort();
    for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
        yaml_node_t *k = node(x, p->key), *v = node(x, p->value);
        if (!visit(x)) return;
        if (repeated_key(x, n, p)) continue;
        char *name = NULL, *value = NULL;
        dec_string(x, k, &name);
        dec_string(x, v, &value);
        if (!name || !value) {
            free(name);
            free(value);
            continue;
        }
        out->v[out->n++] = (label_t){name, value};
    }
    labels_sort(out->v, out->n);
}

static void rule_def_clear(rule_def_t *r) {
    free(r->record);
    free(r->alert);
    free(r->expr);
    labels_clear(&r->labels);
    labels_clear(&r->annotations);
    memset(r, 0, sizeof *r);
}

static void dec_rule(dctx_t *x, yaml_node_t *n, rule_def_t *r, rule_pos_t *rp) {
    r->line = (int)n->start_mark.line + 1;
    if (!visit(x)) return;
    if (n->type != YAML_MAPPING_NODE) {
        if (!is_null(n)) unmarshal_err(x, n, "rulefmt.RuleNode");
        return;
    }
    for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
        yaml_node_t *k = node(x, p->key), *v = node(x, p->value);
        if (repeated_key(x, n, p)) continue;
        const char *key = k->type == YAML_SCALAR_NODE ? (const char *)k->data.scalar.value : "";
        if (!strcmp(key, "record")) {
            dec_node_string(x, v, &r->record, &rp->record);
            rp->has_record = true;
        } else if (!strcmp(key, "alert")) {
            dec_node_string(x, v, &r->alert, &rp->alert);
            rp->has_alert = true;
        } else if (!strcmp(key, "expr")) {
            dec_node_string(x, v, &r->expr, &rp->expr);
        } else if (!strcmp(key, "for")) {
            dec_duration(x, v, &r->for_ms);
        } else if (!strcmp(key, "keep_firing_for")) {
            dec_duration(x, v, &r->keep_firing_for_ms);
        } else if (!strcmp(key, "labels")) {
            dec_string_map(x, v, &r->labels);
        } else if (!strcmp(key, "annotations")) {
            dec_string_map(x, v, &r->annotations);
        } else {
            strbuf_printf(&x->unmarshal, "\n  line %zu: field %s not found in type rulefmt.RuleNode",
                          k->start_mark.line + 1, key);
        }
    }
}

static void group_def_clear(rule_group_def_t *g) {
    free(g->name);
    labels_clear(&g->labels);
    for (size_t i = 0; i < g->nrules; i++)
        rule_def_clear(&g->rules[i]);
    free(g->rules);
    memset(g, 0, sizeof *g);
}

static void dec_group(dctx_t *x, yaml_node_t *n, rule_group_def_t *g, group_pos_t *gp) {
    g->line = (int)n->start_mark.line + 1;
    gp->at = pos_of(n);
    if (!visit(x)) return;
    if (n->type != YAML_MAPPING_NODE) {
        if (!is_null(n)) unmarshal_err(x, n, "rulefmt.RuleGroup");
        return;
    }
    for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
        yaml_node_t *k = node(x, p->key), *v = node(x, p->value);
        if (repeated_key(x, n, p)) continue;
        const char *key = k->type == YAML_SCALAR_NODE ? (const char *)k->data.scalar.value : "";
        if (!strcmp(key, "name")) {
            dec_string(x, v, &g->name);
        } else if (!strcmp(key, "interval")) {
            dec_duration(x, v, &g->interval_ms);
        } else if (!strcmp(key, "query_offset")) {
            dec_duration(x, v, &g->query_offset_ms);
            g->has_query_offset = !is_null(v);
        } else if (!strcmp(key, "limit")) {
            dec_limit(x, v, &g->limit);
        } else if (!strcmp(key, "labels")) {
            dec_string_map(x, v, &g->labels);
        } else if (!strcmp(key, "rules")) {
            if (is_null(v)) continue;
            if (v->type != YAML_SEQUENCE_NODE) {
                unmarshal_err(x, v, "[]rulefmt.RuleNode");
                continue;
            }
            size_t cnt = (size_t)(v->data.sequence.items.top - v->data.sequence.items.start);
            g->rules = calloc(cnt ? cnt : 1, sizeof *g->rules);
            gp->rules = calloc(cnt ? cnt : 1, sizeof *gp->rules);
            if (!g->rules || !gp->rules) abort();
            for (size_t i = 0; i < cnt; i++) {
                yaml_node_t *item = node(x, v->data.sequence.items.start[i]);
                if (is_null(item)) continue; /* go-yaml drops a null item of a slice of structs */
                dec_rule(x, item, &g->rules[g->nrules], &gp->rules[g->nrules]);
                g->nrules++;
            }
        } else {
            strbuf_printf(&x->unmarshal, "\n  line %zu: field %s not found in type rulefmt.RuleGroup",
                          k->start_mark.line + 1, key);
        }
    }
    if (!g->name) {
        g->name = strdup("");
        if (!g->name) abort();
    }
}

/* ---- validation ----------------------------------------------------------- */

static bool utf8_valid(const char *s) {
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        if (*p < 0x80) {
            p++;
            continue;
        }
        int n = (*p & 0xE0) == 0xC0 ? 1 : (*p & 0xF0) == 0xE0 ? 2 : (*p & 0xF8) == 0xF0 ? 3 : -1;
        if (n < 0 || (*p == 0xC0 || *p == 0xC1) || *p > 0xF4) return false;
        for (int i = 1; i <= n; i++)
            if ((p[i] & 0xC0) != 0x80) return false;
        p += n + 1;
    }
    return true;
}

static void rule_err(rules_errors_t *e, const char *path, const pos_t *p, const pos_t *alt, const rule_group_def_t *g,
                     size_t i, const char *msg) {
    const rule_def_t *r = &g->rules[i];
    const char *name = r->alert && *r->alert ? r->alert : r->record ? r->record : "";
    strbuf_t sb = STRBUF_INIT;
    if (alt) strbuf_printf(&sb, "%d:%d: %d:%d: ", p->line, p->col, alt->line, alt->col);
    else if (p) strbuf_printf(&sb, "%d:%d: ", p->line, p->col);
    rules_errors_add(e, "%s: %sgroup \"%s\", rule %zu, \"%s\": %s", path, sb.data ? sb.data : "", g->name, i + 1,
                     name, msg);
    strbuf_free(&sb);
}

static void validate_templates(rules_errors_t *e, const char *path, const rule_group_def_t *g, size_t i) {
    const rule_def_t *r = &g->rules[i];
    if (!r->alert || !*r->alert) return;
    strbuf_t name = STRBUF_INIT, msg = STRBUF_INIT;
    strbuf_printf(&name, "__alert_%s", r->alert);
    for (int pass = 0; pass < 2; pass++) {
        const config_labels_t *ls = pass == 0 ? &r->labels : &r->annotations;
        for (size_t j = 0; j < ls->n; j++) {
            tmpl_t *t = NULL;
            pl_err_t err;
            if (tmpl_parse(name.data, ls->v[j].value, &t, &err) < 0) {
                strbuf_reset(&msg);
                strbuf_printf(&msg, "%s \"%s\": %s", pass == 0 ? "label" : "annotation", ls->v[j].name, err.msg);
                rule_err(e, path, NULL, NULL, g, i, msg.data);
            }
            tmpl_free(t);
        }
    }
    strbuf_free(&name);
    strbuf_free(&msg);
}

static void validate_rule(rules_errors_t *e, const char *path, const rule_group_def_t *g, const group_pos_t *gp,
                          size_t i) {
    const rule_def_t *r = &g->rules[i];
    const rule_pos_t *rp = &gp->rules[i];
    bool rec = r->record && *r->record, alert = r->alert && *r->alert;
    if (rec && alert) rule_err(e, path, &rp->record, &rp->alert, g, i, "only one of 'record' and 'alert' must be set");
    if (!rec && !alert) rule_err(e, path, &rp->record, NULL, g, i, "one of 'record' or 'alert' must be set");
    if (!r->expr || !*r->expr) {
        rule_err(e, path, &rp->expr, NULL, g, i, "field 'expr' must be set in rule");
    } else {
        promql_expr_t *ex = NULL;
        pl_err_t err;
        if (promql_parse(r->expr, &ex, &err) < 0) {
            strbuf_t sb = STRBUF_INIT;
            strbuf_printf(&sb, "could not parse expression: %s", err.msg);
            rule_err(e, path, &rp->expr, NULL, g, i, sb.data);
            strbuf_free(&sb);
        }
        promql_expr_free(ex);
    }
    if (rec) {
        if (r->annotations.n > 0)
            rule_err(e, path, &rp->record, NULL, g, i, "invalid field 'annotations' in recording rule");
        if (r->for_ms != 0) rule_err(e, path, &rp->record, NULL, g, i, "invalid field 'for' in recording rule");
        if (r->keep_firing_for_ms != 0)
            rule_err(e, path, &rp->record, NULL, g, i, "invalid field 'keep_firing_for' in recording rule");
        if (!metric_name_valid(r->record, strlen(r->record))) {
            strbuf_t sb = STRBUF_INIT;
            strbuf_printf(&sb, "invalid recording rule name: %s", r->record);
            rule_err(e, path, &rp->record, NULL, g, i, sb.data);
            strbuf_free(&sb);
        }
    }
    strbuf_t sb = STRBUF_INIT;
    for (size_t j = 0; j < r->labels.n; j++) {
        const label_t *l = &r->labels.v[j];
        if (!label_name_valid(l->name, strlen(l->name)) || !strcmp(l->name, LABEL_METRIC_NAME)) {
            strbuf_reset(&sb);
            strbuf_printf(&sb, "invalid label name: %s", l->name);
            rule_err(e, path, NULL, NULL, g, i, sb.data);
        }
        if (!utf8_valid(l->value)) {
            strbuf_reset(&sb);
            strbuf_printf(&sb, "invalid label value: %s", l->value);
            rule_err(e, path, NULL, NULL, g, i, sb.data);
        }
    }
    for (size_t j = 0; j < r->annotations.n; j++) {
        const label_t *l = &r->annotations.v[j];
        if (!label_name_valid(l->name, strlen(l->name))) {
            strbuf_reset(&sb);
            strbuf_printf(&sb, "invalid annotation name: %s", l->name);
            rule_err(e, path, NULL, NULL, g, i, sb.data);
        }
    }
    strbuf_free(&sb);
    validate_templates(e, path, g, i);
}

/* ---- entry points --------------------------------------------------------- */

void rulefile_free(rule_file_t *f) {
    if (!f) return;
    free(f->path);
    for (size_t i = 0; i < f->ngroups; i++)
        group_def_clear(&f->groups[i]);
    free(f->groups);
    memset(f, 0, sizeof *f);
}

size_t rulefile_count_rules(const rule_file_t *f) {
    size_t n = 0;
    for (size_t i = 0; i < f->ngroups; i++)
        n += f->groups[i].nrules;
    return n;
}

/* go-yaml v3's wording of a syntax error ("yaml: line N: problem"). */
static void syntax_err(rules_errors_t *e, const char *path, const yaml_parser_t *p) {
    size_t line = 0;
    if (p->context_mark.line != 0) line = p->context_mark.line + (p->error == YAML_SCANNER_ERROR);
    else if (p->problem_mark.line != 0) line = p->problem_mark.line + (p->error == YAML_SCANNER_ERROR);
    const char *problem = p->problem ? p->problem : "unknown problem parsing YAML content";
    for (int i = 0; i < 2; i++) { /* Prometheus decodes twice and reports both */
        if (line) rules_errors_add(e, "%s: yaml: line %zu: %s", path, line, problem);
        else rules_errors_add(e, "%s: yaml: %s", path, problem);
    }
}

int rulefile_parse(const char *path, const char *data, size_t len, rule_file_t *out, rules_errors_t *errs) {
    memset(out, 0, sizeof *out);
    size_t nerr0 = errs->n;
    yaml_parser_t parser;
    yaml_document_t doc;
    if (!yaml_parser_initialize(&parser)) abort();
    yaml_parser_set_input_string(&parser, (const unsigned char *)data, len);
    if (!yaml_parser_load(&parser, &doc)) {
        syntax_err(errs, path, &parser);
        yaml_parser_delete(&parser);
        return -1;
    }
    dctx_t x = {.path = path, .doc = &doc};
    x.max_visits = 64 * (size_t)(doc.nodes.top - doc.nodes.start) + 4096;
    out->path = strdup(path);
    if (!out->path) abort();
    group_pos_t *gps = NULL;
    size_t ngps = 0;
    yaml_node_t *root = yaml_document_get_root_node(&doc);
    if (root && !is_null(root)) {
        if (root->type != YAML_MAPPING_NODE) {
            /* both decodes fail; the second one names Prometheus's node type */
            unmarshal_err(&x, root, "rulefmt.RuleGroups");
            rules_errors_add(errs, "%s: yaml: unmarshal errors:%s", path, x.unmarshal.data);
            strbuf_reset(&x.unmarshal);
            unmarshal_err(&x, root, "rulefmt.ruleGroups");
        } else {
            for (yaml_node_pair_t *p = root->data.mapping.pairs.start; p < root->data.mapping.pairs.top; p++) {
                yaml_node_t *k = node(&x, p->key), *v = node(&x, p->value);
                if (repeated_key(&x, root, p)) continue;
                const char *key = k->type == YAML_SCALAR_NODE ? (const char *)k->data.scalar.value : "";
                if (strcmp(key, "groups") != 0) {
                    strbuf_printf(&x.unmarshal, "\n  line %zu: field %s not found in type rulefmt.RuleGroups",
                                  k->start_mark.line + 1, key);
                    continue;
                }
                if (is_null(v)) continue;
                if (v->type != YAML_SEQUENCE_NODE) {
                    unmarshal_err(&x, v, "[]rulefmt.RuleGroup");
                    /* the second decode (into []yaml.Node) fails the same way */
                    strbuf_t second = STRBUF_INIT;
                    strbuf_printf(&second, "yaml: unmarshal errors:\n  line %zu: cannot unmarshal %s into []yaml.Node",
                                  v->start_mark.line + 1,
                                  v->type == YAML_MAPPING_NODE ? "!!map" : "!!str");
                    rules_errors_add(errs, "%s: yaml: unmarshal errors:%s", path, x.unmarshal.data);
                    rules_errors_add(errs, "%s: %s", path, second.data);
                    strbuf_free(&second);
                    strbuf_reset(&x.unmarshal);
                    continue;
                }
                size_t cnt = (size_t)(v->data.sequence.items.top - v->data.sequence.items.start);
                out->groups = calloc(cnt ? cnt : 1, sizeof *out->groups);
                gps = calloc(cnt ? cnt : 1, sizeof *gps);
                if (!out->groups || !gps) abort();
                /* Null items are dropped from the decoded groups but not from the
                 * raw nodes that positions come from: Prometheus then reports a
                 * group's errors at the position of the item with the same index. */
                for (size_t i = 0; i < cnt; i++) {
                    yaml_node_t *item = node(&x, v->data.sequence.items.start[i]);
                    gps[i].at = pos_of(item);
                    ngps = i + 1;
                    if (is_null(item)) continue;
                    group_pos_t tmp = {0};
                    dec_group(&x, item, &out->groups[out->ngroups], &tmp);
                    free(gps[out->ngroups].rules);
                    gps[out->ngroups].rules = tmp.rules;
                    out->ngroups++;
                }
            }
        }
    }
    if (x.visits > x.max_visits) {
        rules_errors_add(errs, "%s: yaml: document contains excessive aliasing", path);
    } else if (x.fatal) {
        rules_errors_add(errs, "%s: %s", path, x.fatal);
    } else if (x.unmarshal.len) {
        rules_errors_add(errs, "%s: yaml: unmarshal errors:%s", path, x.unmarshal.data);
    } else if (errs->n == nerr0) {
        /* Validation (rulefmt.RuleGroups.Validate). */
        for (size_t j = 0; j < out->ngroups; j++) {
            rule_group_def_t *g = &out->groups[j];
            if (!*g->name)
                rules_errors_add(errs, "%s: %d:%d: Groupname must not be empty", path, gps[j].at.line, gps[j].at.col);
            for (size_t k = 0; k < j; k++)
                if (!strcmp(out->groups[k].name, g->name)) {
                    rules_errors_add(errs, "%s: %d:%d: groupname: \"%s\" is repeated in the same file", path,
                                     gps[j].at.line, gps[j].at.col, g->name);
                    break;
                }
            for (size_t i = 0; i < g->nrules; i++)
                validate_rule(errs, path, g, &gps[j], i);
        }
    }
    for (size_t i = 0; i < ngps; i++)
        free(gps[i].rules);
    free(gps);
    free(x.fatal);
    strbuf_free(&x.unmarshal);
    yaml_document_delete(&doc);
    yaml_parser_delete(&parser);
    if (errs->n != nerr0) {
        rulefile_free(out);
        return -1;
    }
    /* A rule's empty record/alert strings become NULL so exactly one is set. */
    for (size_t j = 0; j < out->ngroups; j++)
        for (size_t i = 0; i < out->groups[j].nrules; i++) {
            rule_def_t *r = &out->groups[j].rules[i];
            if (r->record && !*r->record) {
                free(r->record);
                r->record = NULL;
            }
            if (r->alert && !*r->alert) {
                free(r->alert);
                r->alert = NULL;
            }
        }
    return 0;
}

int rulefile_load(const char *path, rule_file_t *out, rules_errors_t *errs) {
    memset(out, 0, sizeof *out);
    FILE *f = fopen(path, "rb");
    if (!f) {
        rules_errors_add(errs, "%s: open %s: %s", path, path,
                         errno == ENOENT ? "no such file or directory" : strerror(errno));
        return -1;
    }
    strbuf_t sb = STRBUF_INIT;
    char buf[65536];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, f)) > 0)
        strbuf_append(&sb, buf, n);
    bool bad = ferror(f);
    fclose(f);
    if (bad) {
        strbuf_free(&sb);
        rules_errors_add(errs, "%s: read error", path);
        return -1;
    }
    int rc = rulefile_parse(path, sb.data ? sb.data : "", sb.len, out, errs);
    strbuf_free(&sb);
    return rc;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

int rules_expand_globs(char *const *patterns, size_t n, char ***files, size_t *nfiles, pl_err_t *err) {
    char **v = NULL;
    size_t nv = 0, cap = 0;
    for (size_t i = 0; i < n; i++) {
        glob_t g;
        int rc = glob(patterns[i], 0, NULL, &g);
        if (rc == GLOB_NOMATCH) continue;
        if (rc != 0) {
            rules_free_strv(v, nv);
            return pl_err_set(err, "error retrieving rule files for %s: bad pattern", patterns[i]);
        }
        for (size_t j = 0; j < g.gl_pathc; j++) {
            if (nv == cap) {
                cap = cap ? cap * 2 : 8;
                char **nvv = realloc(v, cap * sizeof *v);
                if (!nvv) abort();
                v = nvv;
            }
            v[nv] = strdup(g.gl_pathv[j]);
            if (!v[nv]) abort();
            nv++;
        }
        globfree(&g);
    }
    if (nv) qsort(v, nv, sizeof *v, cmp_str);
    size_t o = 0;
    for (size_t i = 0; i < nv; i++) {
        if (o && !strcmp(v[o - 1], v[i])) {
            free(v[i]);
            continue;
        }
        v[o++] = v[i];
    }
    *files = v;
    *nfiles = o;
    return 0;
}

/* Go's yaml-ish rendering of a rule, as Prometheus's Rule.String() (used to
 * decide whether a rule changed on reload). */
static void put_map(strbuf_t *sb, const char *key, const config_labels_t *l) {
    if (!l->n) return;
    strbuf_printf(sb, "%s:\n", key);
    for (size_t i = 0; i < l->n; i++) {
        strbuf_printf(sb, "  %s: ", l->v[i].name);
        json_escape(sb, l->v[i].value, strlen(l->v[i].value));
        strbuf_putc(sb, '\n');
    }
}

void rule_def_format(strbuf_t *sb, const rule_def_t *r) {
    if (r->record) strbuf_printf(sb, "record: %s\n", r->record);
    else strbuf_printf(sb, "alert: %s\n", r->alert ? r->alert : "");
    strbuf_puts(sb, "expr: ");
    json_escape(sb, r->expr ? r->expr : "", r->expr ? strlen(r->expr) : 0);
    strbuf_putc(sb, '\n');
    char d[64];
    if (r->for_ms) {
        pl_format_duration(d, sizeof d, r->for_ms);
        strbuf_printf(sb, "for: %s\n", d);
    }
    if (r->keep_firing_for_ms) {
        pl_format_duration(d, sizeof d, r->keep_firing_for_ms);
        strbuf_printf(sb, "keep_firing_for: %s\n", d);
    }
    put_map(sb, "labels", &r->labels);
    put_map(sb, "annotations", &r->annotations);
}
