/* tool_rules.c — promtool's rule commands:
 *
 *   promlab tool check config FILE...   prometheus.yml, and the rule files it names
 *   promlab tool check rules FILE...    rule files
 *   promlab tool test rules FILE...     rule unit tests in promtool's format
 *
 * Output and exit status follow promtool 2.42 (stdout for the progress
 * lines, stderr for the failures, exit 1 when anything failed), so CI
 * scripts written against promtool keep working.
 *
 * Unit tests run the way promtool runs them: the input series are loaded
 * (promqltest's expanding notation, shared with promqltest.c), every rule
 * group is evaluated at 0, interval, 2*interval, ... up to the largest
 * eval_time, recording rule output is appended to the same storage, and at
 * each alert_rule_test's eval_time the firing alerts of the named rule are
 * compared with exp_alerts; promql_expr_test queries run afterwards against
 * everything stored. */
#include <errno.h>
#include <glob.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <yaml.h>

#include "cmd/cmd.h"
#include "config/config.h"
#include "model/matcher.h"
#include "promql/engine.h"
#include "promql/memstore.h"
#include "promql/promqltest.h"
#include "rules/rules.h"
#include "util/timeutil.h"

/* ---- check ---------------------------------------------------------------------- */

/* promtool's duplicate-rule lint (recording rules with the same name and labels). */
static void lint_duplicates(const rule_file_t *f) {
    size_t dups = 0;
    strbuf_t sb = STRBUF_INIT;
    for (size_t g = 0; g < f->ngroups; g++)
        for (size_t i = 0; i < f->groups[g].nrules; i++) {
            const rule_def_t *a = &f->groups[g].rules[i];
            if (!a->record) continue;
            for (size_t h = g; h < f->ngroups; h++)
                for (size_t j = (h == g ? i + 1 : 0); j < f->groups[h].nrules; j++) {
                    const rule_def_t *b = &f->groups[h].rules[j];
                    if (!b->record || strcmp(a->record, b->record) ||
                        !labels_equal(a->labels.v, a->labels.n, b->labels.v, b->labels.n))
                        continue;
                    dups++;
                    strbuf_printf(&sb, "Metric: %s\nLabel(s):\n", a->record);
                    for (size_t k = 0; k < a->labels.n; k++)
                        strbuf_printf(&sb, "\t%s: %s\n", a->labels.v[k].name, a->labels.v[k].value);
                }
        }
    if (dups) {
        fprintf(stderr, "  FAILED:\nlint error %zu duplicate rule(s) found.\n%sMight cause inconsistency while recording "
                        "expressions\n",
                dups, sb.data);
    }
    strbuf_free(&sb);
}

/* Returns the number of rules, or -1 (errors printed with indent). */
static long check_rule_file(const char *path, const char *indent, bool *linted) {
    rule_file_t f;
    rules_errors_t errs = {0};
    if (rulefile_load(path, &f, &errs) < 0) {
        fprintf(stderr, "  FAILED:\n");
        for (size_t i = 0; i < errs.n; i++)
            fprintf(stderr, "%s%s\n", indent, errs.msgs[i]);
        rules_errors_free(&errs);
        return -1;
    }
    long n = (long)rulefile_count_rules(&f);
    size_t before = 0;
    (void)before;
    lint_duplicates(&f);
    *linted = false;
    for (size_t g = 0; g < f.ngroups && !*linted; g++)
        for (size_t i = 0; i < f.groups[g].nrules; i++) {
            const rule_def_t *a = &f.groups[g].rules[i];
            for (size_t h = g; h < f.ngroups && a->record; h++)
                for (size_t j = (h == g ? i + 1 : 0); j < f.groups[h].nrules; j++) {
                    const rule_def_t *b = &f.groups[h].rules[j];
                    if (b->record && !strcmp(a->record, b->record) &&
                        labels_equal(a->labels.v, a->labels.n, b->labels.v, b->labels.n))
                        *linted = true;
                }
        }
    rulefile_free(&f);
    return n;
}

static int check_rules(int argc, char **argv) {
    bool failed = false;
    for (int i = 0; i < argc; i++) {
        printf("Checking %s\n", argv[i]);
        fflush(stdout);
        bool linted = false;
        long n = check_rule_file(argv[i], "", &linted);
        if (n < 0) failed = true;
        else if (!linted) printf("  SUCCESS: %ld rules found\n", n);
        printf("\n");
        fflush(stdout);
    }
    return failed ? 1 : 0;
}

static int check_config(int argc, char **argv) {
    bool failed = false;
    for (int i = 0; i < argc; i++) {
        printf("Checking %s\n", argv[i]);
        fflush(stdout);
        config_t *c = NULL;
        pl_err_t err;
        if (config_load_file(argv[i], &c, &err) < 0) {
            fprintf(stderr, "  FAILED: %s\n", err.msg);
            printf("\n");
            failed = true;
            continue;
        }
        char **files = NULL;
        size_t nfiles = 0;
        if (rules_expand_globs(c->rule_files, c->nrule_files, &files, &nfiles, &err) < 0) {
            fprintf(stderr, "  FAILED: %s\n", err.msg);
            printf("\n");
            failed = true;
            config_free(c);
            continue;
        }
        printf("  SUCCESS: %zu rule files found\n", nfiles);
        printf(" SUCCESS: %s is valid prometheus config file syntax\n\n", argv[i]);
        fflush(stdout);
        for (size_t j = 0; j < nfiles; j++) {
            printf("Checking %s\n", files[j]);
            fflush(stdout);
            bool linted = false;
            long n = check_rule_file(files[j], "     ", &linted);
            if (n < 0) failed = true;
            else if (!linted) printf("  SUCCESS: %ld rules found\n", n);
            printf("\n");
            fflush(stdout);
        }
        rules_free_strv(files, nfiles);
        config_free(c);
    }
    return failed ? 1 : 0;
}

/* ---- unit tests: the file ---------------------------------------------------------- */

typedef struct exp_alert {
    config_labels_t labels, annotations;
} exp_alert_t;

typedef struct alert_test {
    int64_t eval_time;
    char *alertname;
    exp_alert_t *exp;
    size_t nexp;
} alert_test_t;

typedef struct exp_sample {
    char *labels;
    double value;
} exp_sample_t;

typedef struct expr_test {
    char *expr;
    int64_t eval_time;
    exp_sample_t *exp;
    size_t nexp;
} expr_test_t;

typedef struct input_series {
    char *series, *values;
} input_series_t;

typedef struct test_group {
    int64_t interval;
    input_series_t *input;
    size_t ninput;
    alert_test_t *alerts;
    size_t nalerts;
    expr_test_t *exprs;
    size_t nexprs;
    config_labels_t external_labels;
    char *external_url;
    char *name;
} test_group_t;

typedef struct test_file {
    char **rule_files;
    size_t nrule_files;
    int64_t evaluation_interval;
    char **group_eval_order;
    size_t ngroup_eval_order;
    test_group_t *tests;
    size_t ntests;
} test_file_t;

typedef struct ydoc {
    yaml_document_t doc;
    const char *path;
    char err[512];
} ydoc_t;

static yaml_node_t *ynode(ydoc_t *d, yaml_node_item_t i) { return yaml_document_get_node(&d->doc, i); }

static int yerr(ydoc_t *d, const yaml_node_t *n, const char *fmt, const char *what) {
    if (!d->err[0])
        snprintf(d->err, sizeof d->err, "%s:%zu:%zu: %s%s", d->path, n ? n->start_mark.line + 1 : 0,
                 n ? n->start_mark.column + 1 : 0, fmt, what ? what : "");
    return -1;
}

static char *yscalar(ydoc_t *d, yaml_node_t *n) {
    if (n->type != YAML_SCALAR_NODE) {
        yerr(d, n, "expected a string", NULL);
        return NULL;
    }
    char *s = strndup((const char *)n->data.scalar.value, n->data.scalar.length);
    if (!s) abort();
    return s;
}

static int ydur(ydoc_t *d, yaml_node_t *n, int64_t *out) {
    char *s = yscalar(d, n);
    if (!s) return -1;
    int rc = pl_parse_duration(s, out, NULL);
    if (rc < 0) yerr(d, n, "not a valid duration string: ", s);
    free(s);
    return rc;
}

static int ystrmap(ydoc_t *d, yaml_node_t *n, config_labels_t *out) {
    if (n->type == YAML_SCALAR_NODE && n->data.scalar.length == 0) return 0;
    if (n->type != YAML_MAPPING_NODE) return yerr(d, n, "expected a mapping", NULL);
    size_t cnt = (size_t)(n->data.mapping.pairs.top - n->data.mapping.pairs.start);
    out->v = calloc(cnt + 1, sizeof *out->v);
    if (!out->v) abort();
    for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
        char *k = yscalar(d, ynode(d, p->key)), *v = k ? yscalar(d, ynode(d, p->value)) : NULL;
        if (!k || !v) {
            free(k);
            return -1;
        }
        out->v[out->n++] = (label_t){k, v};
    }
    labels_sort(out->v, out->n);
    return 0;
}

typedef int (*item_fn)(ydoc_t *d, yaml_node_t *n, void *out);

static int yseq(ydoc_t *d, yaml_node_t *n, void **arr, size_t *narr, size_t size, item_fn fn) {
    if (n->type == YAML_SCALAR_NODE && n->data.scalar.length == 0) return 0;
    if (n->type != YAML_SEQUENCE_NODE) return yerr(d, n, "expected a sequence", NULL);
    size_t cnt = (size_t)(n->data.sequence.items.top - n->data.sequence.items.start);
    *arr = calloc(cnt + 1, size);
    if (!*arr) abort();
    for (size_t i = 0; i < cnt; i++) {
        *narr = i + 1;
        if (fn(d, ynode(d, n->data.sequence.items.start[i]), (char *)*arr + i * size) < 0) return -1;
    }
    return 0;
}

#define FOR_KEYS(d, n, tname)                                                                                         \
    if ((n)->type != YAML_MAPPING_NODE) return yerr(d, n, "expected a mapping for ", tname);                          \
    for (yaml_node_pair_t *p = (n)->data.mapping.pairs.start; p < (n)->data.mapping.pairs.top; p++)

#define KEY(d, p) ((const char *)ynode(d, (p)->key)->data.scalar.value)
#define VAL(d, p) ynode(d, (p)->value)

static int unknown(ydoc_t *d, yaml_node_pair_t *p, const char *type) {
    char what[160];
    snprintf(what, sizeof what, "%s not found in type %s", KEY(d, p), type);
    return yerr(d, ynode(d, p->key), "field ", what);
}

static int str_item(ydoc_t *d, yaml_node_t *n, void *out) { return (*(char **)out = yscalar(d, n)) ? 0 : -1; }

static int input_item(ydoc_t *d, yaml_node_t *n, void *out) {
    input_series_t *s = out;
    FOR_KEYS(d, n, "main.series") {
        const char *k = KEY(d, p);
        if (!strcmp(k, "series")) {
            if (!(s->series = yscalar(d, VAL(d, p)))) return -1;
        } else if (!strcmp(k, "values")) {
            if (!(s->values = yscalar(d, VAL(d, p)))) return -1;
        } else return unknown(d, p, "main.series");
    }
    return 0;
}

static int exp_alert_item(ydoc_t *d, yaml_node_t *n, void *out) {
    exp_alert_t *a = out;
    FOR_KEYS(d, n, "main.alert") {
        const char *k = KEY(d, p);
        if (!strcmp(k, "exp_labels")) {
            if (ystrmap(d, VAL(d, p), &a->labels) < 0) return -1;
        } else if (!strcmp(k, "exp_annotations")) {
            if (ystrmap(d, VAL(d, p), &a->annotations) < 0) return -1;
        } else return unknown(d, p, "main.alert");
    }
    return 0;
}

static int alert_test_item(ydoc_t *d, yaml_node_t *n, void *out) {
    alert_test_t *t = out;
    FOR_KEYS(d, n, "main.alertTestCase") {
        const char *k = KEY(d, p);
        if (!strcmp(k, "eval_time")) {
            if (ydur(d, VAL(d, p), &t->eval_time) < 0) return -1;
        } else if (!strcmp(k, "alertname")) {
            if (!(t->alertname = yscalar(d, VAL(d, p)))) return -1;
        } else if (!strcmp(k, "exp_alerts")) {
            if (yseq(d, VAL(d, p), (void **)&t->exp, &t->nexp, sizeof *t->exp, exp_alert_item) < 0) return -1;
        } else return unknown(d, p, "main.alertTestCase");
    }
    if (!t->alertname) t->alertname = strdup("");
    return 0;
}

static int exp_sample_item(ydoc_t *d, yaml_node_t *n, void *out) {
    exp_sample_t *s = out;
    FOR_KEYS(d, n, "main.sample") {
        const char *k = KEY(d, p);
        if (!strcmp(k, "labels")) {
            if (!(s->labels = yscalar(d, VAL(d, p)))) return -1;
        } else if (!strcmp(k, "value")) {
            char *v = yscalar(d, VAL(d, p)), *end;
            if (!v) return -1;
            s->value = strtod(v, &end);
            if (!strcasecmp(v, ".nan") || !strcmp(v, "NaN")) s->value = NAN;
            else if (!strcasecmp(v, ".inf") || !strcasecmp(v, "+.inf")) s->value = INFINITY;
            else if (!strcasecmp(v, "-.inf")) s->value = -INFINITY;
            else if (*end || end == v) {
                free(v);
                return yerr(d, VAL(d, p), "cannot unmarshal into float64", NULL);
            }
            free(v);
        } else return unknown(d, p, "main.sample");
    }
    if (!s->labels) s->labels = strdup("{}");
    return 0;
}

static int expr_test_item(ydoc_t *d, yaml_node_t *n, void *out) {
    expr_test_t *t = out;
    FOR_KEYS(d, n, "main.promqlTestCase") {
        const char *k = KEY(d, p);
        if (!strcmp(k, "expr")) {
            if (!(t->expr = yscalar(d, VAL(d, p)))) return -1;
        } else if (!strcmp(k, "eval_time")) {
            if (ydur(d, VAL(d, p), &t->eval_time) < 0) return -1;
        } else if (!strcmp(k, "exp_samples")) {
            if (yseq(d, VAL(d, p), (void **)&t->exp, &t->nexp, sizeof *t->exp, exp_sample_item) < 0) return -1;
        } else return unknown(d, p, "main.promqlTestCase");
    }
    if (!t->expr) t->expr = strdup("");
    return 0;
}

static int test_group_item(ydoc_t *d, yaml_node_t *n, void *out) {
    test_group_t *t = out;
    FOR_KEYS(d, n, "main.testGroup") {
        const char *k = KEY(d, p);
        yaml_node_t *v = VAL(d, p);
        int rc = 0;
        if (!strcmp(k, "interval")) rc = ydur(d, v, &t->interval);
        else if (!strcmp(k, "input_series"))
            rc = yseq(d, v, (void **)&t->input, &t->ninput, sizeof *t->input, input_item);
        else if (!strcmp(k, "alert_rule_test"))
            rc = yseq(d, v, (void **)&t->alerts, &t->nalerts, sizeof *t->alerts, alert_test_item);
        else if (!strcmp(k, "promql_expr_test"))
            rc = yseq(d, v, (void **)&t->exprs, &t->nexprs, sizeof *t->exprs, expr_test_item);
        else if (!strcmp(k, "external_labels")) rc = ystrmap(d, v, &t->external_labels);
        else if (!strcmp(k, "external_url")) rc = (t->external_url = yscalar(d, v)) ? 0 : -1;
        else if (!strcmp(k, "name")) rc = (t->name = yscalar(d, v)) ? 0 : -1;
        else rc = unknown(d, p, "main.testGroup");
        if (rc < 0) return -1;
    }
    return 0;
}

static void labels_free_owned(config_labels_t *l) {
    for (size_t i = 0; i < l->n; i++) {
        free((char *)l->v[i].name);
        free((char *)l->v[i].value);
    }
    free(l->v);
}

static void test_file_free(test_file_t *f) {
    rules_free_strv(f->rule_files, f->nrule_files);
    rules_free_strv(f->group_eval_order, f->ngroup_eval_order);
    for (size_t i = 0; i < f->ntests; i++) {
        test_group_t *t = &f->tests[i];
        for (size_t j = 0; j < t->ninput; j++) {
            free(t->input[j].series);
            free(t->input[j].values);
        }
        free(t->input);
        for (size_t j = 0; j < t->nalerts; j++) {
            free(t->alerts[j].alertname);
            for (size_t k = 0; k < t->alerts[j].nexp; k++) {
                labels_free_owned(&t->alerts[j].exp[k].labels);
                labels_free_owned(&t->alerts[j].exp[k].annotations);
            }
            free(t->alerts[j].exp);
        }
        free(t->alerts);
        for (size_t j = 0; j < t->nexprs; j++) {
            free(t->exprs[j].expr);
            for (size_t k = 0; k < t->exprs[j].nexp; k++)
                free(t->exprs[j].exp[k].labels);
            free(t->exprs[j].exp);
        }
        free(t->exprs);
        labels_free_owned(&t->external_labels);
        free(t->external_url);
        free(t->name);
    }
    free(f->tests);
}

static int load_test_file(const char *path, test_file_t *f, char *err, size_t errcap) {
    memset(f, 0, sizeof *f);
    f->evaluation_interval = 60000;
    FILE *fp = fopen(path, "rb");
    if (!fp) return snprintf(err, errcap, "open %s: %s", path, strerror(errno)), -1;
    yaml_parser_t parser;
    yaml_parser_initialize(&parser);
    yaml_parser_set_input_file(&parser, fp);
    ydoc_t d = {.path = path};
    if (!yaml_parser_load(&parser, &d.doc)) {
        snprintf(err, errcap, "%s: yaml: line %zu: %s", path, parser.problem_mark.line + 1,
                 parser.problem ? parser.problem : "syntax error");
        yaml_parser_delete(&parser);
        fclose(fp);
        return -1;
    }
    yaml_parser_delete(&parser);
    fclose(fp);
    yaml_node_t *root = yaml_document_get_root_node(&d.doc);
    int rc = 0;
    if (root && root->type == YAML_MAPPING_NODE) {
        for (yaml_node_pair_t *p = root->data.mapping.pairs.start; p < root->data.mapping.pairs.top && rc == 0; p++) {
            const char *k = KEY(&d, p);
            yaml_node_t *v = VAL(&d, p);
            if (!strcmp(k, "rule_files"))
                rc = yseq(&d, v, (void **)&f->rule_files, &f->nrule_files, sizeof(char *), str_item);
            else if (!strcmp(k, "evaluation_interval")) rc = ydur(&d, v, &f->evaluation_interval);
            else if (!strcmp(k, "group_eval_order"))
                rc = yseq(&d, v, (void **)&f->group_eval_order, &f->ngroup_eval_order, sizeof(char *), str_item);
            else if (!strcmp(k, "tests"))
                rc = yseq(&d, v, (void **)&f->tests, &f->ntests, sizeof *f->tests, test_group_item);
            else rc = unknown(&d, p, "main.unitTestFile");
        }
    } else if (root) {
        rc = yerr(&d, root, "expected a mapping for main.unitTestFile", NULL);
    }
    yaml_document_delete(&d.doc);
    if (rc < 0) {
        snprintf(err, errcap, "%s", d.err);
        test_file_free(f);
        return -1;
    }
    for (size_t i = 0; i < f->ntests; i++)
        if (!f->tests[i].interval) f->tests[i].interval = f->evaluation_interval;
    return 0;
}

/* ---- unit tests: running ------------------------------------------------------------ */

/* `name{a="b"}` -> sorted labels (owned strings in *out). */
static int parse_metric(const char *s, config_labels_t *out, pl_err_t *err) {
    matcher_t *ms = NULL;
    size_t n = 0;
    memset(out, 0, sizeof *out);
    if (selector_parse(s, &ms, &n, err) < 0) return -1;
    out->v = calloc(n + 1, sizeof *out->v);
    if (!out->v) abort();
    for (size_t i = 0; i < n; i++) {
        if (ms[i].type != MATCH_EQUAL) {
            matchers_free(ms, n);
            labels_free_owned(out);
            return pl_err_set(err, "%s: only label=\"value\" pairs are allowed in a series", s);
        }
        if (!ms[i].value[0]) continue;
        out->v[out->n++] = (label_t){strdup(ms[i].name), strdup(ms[i].value)};
    }
    matchers_free(ms, n);
    labels_sort(out->v, out->n);
    return 0;
}

static void go_duration_str(strbuf_t *sb, int64_t ms) {
    char b[64];
    pl_format_duration(b, sizeof b, ms);
    strbuf_puts(sb, b);
}

/* labels.Labels.String(): {a="b", c="d"} */
static void labels_str(strbuf_t *sb, const label_t *ls, size_t n) {
    strbuf_putc(sb, '{');
    for (size_t i = 0; i < n; i++) {
        strbuf_printf(sb, "%s%s=", i ? ", " : "", ls[i].name);
        json_escape(sb, ls[i].value, strlen(ls[i].value));
    }
    strbuf_putc(sb, '}');
}

/* strconv.FormatFloat(v, 'E', -1, 64) */
static void go_Efmt(strbuf_t *sb, double v) {
    if (isnan(v)) {
        strbuf_puts(sb, "NaN");
        return;
    }
    if (isinf(v)) {
        strbuf_puts(sb, v > 0 ? "+Inf" : "-Inf");
        return;
    }
    char b[64];
    for (int p = 0; p < 17; p++) {
        snprintf(b, sizeof b, "%.*E", p, v);
        if (strtod(b, NULL) == v) break;
    }
    strbuf_puts(sb, b);
}

typedef struct la {
    const label_t *labels;
    size_t nlabels;
    const label_t *annotations;
    size_t nannotations;
} la_t;

static int cmp_la(const void *a, const void *b) {
    const la_t *x = a, *y = b;
    return labels_compare(x->labels, x->nlabels, y->labels, y->nlabels);
}

/* labelsAndAnnotations.String(), indented as promtool indents it. */
static void la_str(strbuf_t *sb, const la_t *v, size_t n) {
    if (!n) {
        strbuf_puts(sb, "[]");
        return;
    }
    const char *ind = "            ";
    strbuf_puts(sb, "[\n");
    for (size_t i = 0; i < n; i++) {
        strbuf_printf(sb, "%s%zu:\n%s  Labels:", ind, i, ind);
        labels_str(sb, v[i].labels, v[i].nlabels);
        strbuf_printf(sb, "\n%s  Annotations:", ind);
        labels_str(sb, v[i].annotations, v[i].nannotations);
        if (i + 1 < n) strbuf_putc(sb, ',');
        strbuf_putc(sb, '\n');
    }
    strbuf_printf(sb, "%s]", ind);
}

static bool la_equal(const la_t *a, size_t na, const la_t *b, size_t nb) {
    if (na != nb) return false;
    for (size_t i = 0; i < na; i++)
        if (!labels_equal(a[i].labels, a[i].nlabels, b[i].labels, b[i].nlabels) ||
            !labels_equal(a[i].annotations, a[i].nannotations, b[i].annotations, b[i].nannotations))
            return false;
    return true;
}

typedef struct psample {
    config_labels_t ls;
    double v;
} psample_t;

static int cmp_ps(const void *a, const void *b) {
    const psample_t *x = a, *y = b;
    return labels_compare(x->ls.v, x->ls.n, y->ls.v, y->ls.n);
}

static void ps_str(strbuf_t *sb, const psample_t *v, size_t n) {
    if (!n) {
        strbuf_puts(sb, "nil");
        return;
    }
    for (size_t i = 0; i < n; i++) {
        if (i) strbuf_puts(sb, ", ");
        labels_str(sb, v[i].ls.v, v[i].ls.n);
        strbuf_putc(sb, ' ');
        go_Efmt(sb, v[i].v);
    }
}

static char *dir_of(const char *path) {
    const char *s = strrchr(path, '/');
    if (!s) return strdup(".");
    return strndup(path, (size_t)(s - path) ? (size_t)(s - path) : 1);
}

/* Runs one test group; failures are appended to errs (one message each). */
static void run_test_group(const test_file_t *tf, const test_group_t *tg, rule_file_t *rfs, size_t nrfs,
                           char **rf_names, rules_errors_t *errs) {
    memstore_t *store = memstore_new();
    queryable_t q;
    memstore_queryable(store, &q);
    promql_engine_opts_t eo = {0};
    promql_engine_t *eng = promql_engine_new(&eo);
    pl_err_t err;
    strbuf_t sb = STRBUF_INIT;
    /* input series */
    for (size_t i = 0; i < tg->ninput; i++) {
        config_labels_t ls;
        if (parse_metric(tg->input[i].series ? tg->input[i].series : "", &ls, &err) < 0) {
            rules_errors_add(errs, "    %s", err.msg);
            continue;
        }
        promqltest_series_t s;
        memset(&s, 0, sizeof s);
        const char *vals = tg->input[i].values ? tg->input[i].values : "";
        if (promqltest_parse_values(vals, strlen(vals), &s, &err) < 0) {
            rules_errors_add(errs, "    %s", err.msg);
            labels_free_owned(&ls);
            continue;
        }
        for (size_t k = 0; k < s.nsamples; k++)
            s.samples[k].t *= tg->interval;
        memstore_append(store, ls.v, ls.n, s.samples, s.nsamples, &err);
        free(s.samples);
        labels_free_owned(&ls);
    }
    /* groups, in file order (or group_eval_order) */
    rules_env_t env = {.engine = eng, .queryable = q};
    memstore_appendable(store, &env.appendable);
    rule_group_t **groups = NULL;
    size_t ng = 0;
    for (size_t f = 0; f < nrfs; f++)
        for (size_t j = 0; j < rfs[f].ngroups; j++) {
            const rule_group_def_t *d = &rfs[f].groups[j];
            rule_group_t *g = rule_group_new(&env, rf_names[f], d, d->interval_ms ? d->interval_ms : tg->interval,
                                             d->query_offset_ms, &tg->external_labels,
                                             tg->external_url ? tg->external_url : "", false, &err);
            if (!g) continue;
            rule_group_t **ng2 = realloc(groups, (ng + 1) * sizeof *groups);
            if (!ng2) abort();
            groups = ng2;
            groups[ng++] = g;
        }
    if (tf->ngroup_eval_order) {
        rule_group_t **ordered = calloc(ng + 1, sizeof *ordered);
        size_t o = 0;
        for (size_t k = 0; k < tf->ngroup_eval_order; k++)
            for (size_t j = 0; j < ng; j++)
                if (groups[j] && !strcmp(rule_group_name(groups[j]), tf->group_eval_order[k])) {
                    ordered[o++] = groups[j];
                    groups[j] = NULL;
                }
        for (size_t j = 0; j < ng; j++)
            if (groups[j]) ordered[o++] = groups[j];
        free(groups);
        groups = ordered;
    }
    /* evaluation loop */
    int64_t maxt = 0;
    for (size_t i = 0; i < tg->nalerts; i++)
        if (tg->alerts[i].eval_time > maxt) maxt = tg->alerts[i].eval_time;
    for (size_t i = 0; i < tg->nexprs; i++)
        if (tg->exprs[i].eval_time > maxt) maxt = tg->exprs[i].eval_time;
    int64_t step = tf->evaluation_interval > 0 ? tf->evaluation_interval : 60000;
    /* alert tests sorted by eval time (stable) */
    size_t *order = calloc(tg->nalerts + 1, sizeof *order);
    for (size_t i = 0; i < tg->nalerts; i++)
        order[i] = i;
    for (size_t i = 1; i < tg->nalerts; i++)
        for (size_t j = i; j > 0 && tg->alerts[order[j]].eval_time < tg->alerts[order[j - 1]].eval_time; j--) {
            size_t t = order[j];
            order[j] = order[j - 1];
            order[j - 1] = t;
        }
    size_t cur = 0;
    bool eval_failed = false;
    for (int64_t ts = 0; ts <= maxt && !eval_failed; ts += step) {
        for (size_t j = 0; j < ng; j++) {
            rule_group_eval(groups[j], ts);
            for (size_t r = 0; r < rule_group_nrules(groups[j]); r++) {
                const char *e = rule_group_rule_error(groups[j], r);
                if (*e) {
                    strbuf_reset(&sb);
                    go_duration_str(&sb, ts);
                    rules_errors_add(errs, "    rule: %s, time: %s, err: %s", rule_group_rule_name(groups[j], r),
                                     sb.data, e);
                    eval_failed = true; /* promtool stops this test group at the first failing evaluation */
                }
            }
        }
        if (eval_failed) break;
        while (cur < tg->nalerts && ts <= tg->alerts[order[cur]].eval_time &&
               tg->alerts[order[cur]].eval_time < ts + step) {
            const alert_test_t *at = &tg->alerts[order[cur]];
            la_t *got = NULL;
            size_t ngot = 0;
            for (size_t j = 0; j < ng; j++)
                for (size_t r = 0; r < rule_group_nrules(groups[j]); r++) {
                    size_t na = 0;
                    const rules_alert_t *as = rule_group_alerts(groups[j], r, &na);
                    for (size_t k = 0; k < na; k++) {
                        if (as[k].state != ALERT_FIRING) continue;
                        const char *an = labels_get(as[k].labels, as[k].nlabels, "alertname");
                        if (!an || strcmp(an, at->alertname)) continue;
                        la_t *ng2 = realloc(got, (ngot + 1) * sizeof *got);
                        if (!ng2) abort();
                        got = ng2;
                        got[ngot++] = (la_t){as[k].labels, as[k].nlabels, as[k].annotations, as[k].nannotations};
                    }
                }
            la_t *exp = calloc(at->nexp + 1, sizeof *exp);
            label_t **expl = calloc(at->nexp + 1, sizeof *expl);
            for (size_t k = 0; k < at->nexp; k++) {
                label_t an = {"alertname", at->alertname};
                size_t n = at->exp[k].labels.n;
                expl[k] = calloc(n + 2, sizeof *expl[k]);
                size_t o = 0;
                for (size_t m = 0; m < n; m++)
                    if (strcmp(at->exp[k].labels.v[m].name, "alertname")) expl[k][o++] = at->exp[k].labels.v[m];
                expl[k][o++] = an;
                labels_sort(expl[k], o);
                exp[k] = (la_t){expl[k], o, at->exp[k].annotations.v, at->exp[k].annotations.n};
            }
            qsort(exp, at->nexp, sizeof *exp, cmp_la);
            if (ngot) qsort(got, ngot, sizeof *got, cmp_la);
            if (!la_equal(exp, at->nexp, got, ngot)) {
                strbuf_reset(&sb);
                if (tg->name && *tg->name) strbuf_printf(&sb, "    name: %s,\n", tg->name);
                strbuf_printf(&sb, "    alertname: %s, time: ", at->alertname);
                go_duration_str(&sb, at->eval_time);
                strbuf_puts(&sb, ", \n        exp:");
                la_str(&sb, exp, at->nexp);
                strbuf_puts(&sb, ", \n        got:");
                la_str(&sb, got, ngot);
                rules_errors_add(errs, "%s", sb.data);
            }
            for (size_t k = 0; k < at->nexp; k++)
                free(expl[k]);
            free(expl);
            free(exp);
            free(got);
            cur++;
        }
    }
    free(order);
    /* promql_expr_test */
    for (size_t i = 0; i < tg->nexprs && !eval_failed; i++) {
        const expr_test_t *et = &tg->exprs[i];
        promql_result_t res;
        memset(&res, 0, sizeof res);
        promql_error_t perr;
        memset(&perr, 0, sizeof perr);
        strbuf_reset(&sb);
        strbuf_puts(&sb, "    expr: ");
        json_escape(&sb, et->expr, strlen(et->expr));
        strbuf_puts(&sb, ", time: ");
        go_duration_str(&sb, et->eval_time);
        if (promql_exec_instant(eng, &q, et->expr, et->eval_time, &res, &perr) < 0) {
            rules_errors_add(errs, "%s, err: %s", sb.data, perr.msg);
            promql_result_free(&res);
            continue;
        }
        size_t ngot = res.type == PROMQL_TYPE_SCALAR ? 1 : res.nseries;
        psample_t *got = calloc(ngot + 1, sizeof *got);
        for (size_t k = 0; k < ngot; k++) {
            if (res.type == PROMQL_TYPE_SCALAR) {
                got[k].v = res.scalar;
            } else {
                got[k].ls.v = res.series[k].labels;
                got[k].ls.n = res.series[k].nlabels;
                got[k].v = res.series[k].nsamples ? res.series[k].samples[0].v : NAN;
            }
        }
        psample_t *exp = calloc(et->nexp + 1, sizeof *exp);
        bool bad = false;
        for (size_t k = 0; k < et->nexp; k++) {
            if (parse_metric(et->exp[k].labels, &exp[k].ls, &err) < 0) {
                rules_errors_add(errs, "%s, err: %s", sb.data, err.msg);
                bad = true;
            }
            exp[k].v = et->exp[k].value;
        }
        if (!bad) {
            qsort(exp, et->nexp, sizeof *exp, cmp_ps);
            qsort(got, ngot, sizeof *got, cmp_ps);
            bool eq = et->nexp == ngot;
            for (size_t k = 0; eq && k < ngot; k++) {
                bool veq = exp[k].v == got[k].v || (isnan(exp[k].v) && isnan(got[k].v)) ||
                           fabs(exp[k].v - got[k].v) <= 1e-6 * fmax(fabs(exp[k].v), fabs(got[k].v));
                eq = veq && labels_equal(exp[k].ls.v, exp[k].ls.n, got[k].ls.v, got[k].ls.n);
            }
            if (!eq) {
                strbuf_puts(&sb, ",\n        exp: ");
                ps_str(&sb, exp, et->nexp);
                strbuf_puts(&sb, "\n        got: ");
                ps_str(&sb, got, ngot);
                rules_errors_add(errs, "%s", sb.data);
            }
        }
        for (size_t k = 0; k < et->nexp; k++)
            labels_free_owned(&exp[k].ls);
        free(exp);
        free(got);
        promql_result_free(&res);
    }
    for (size_t j = 0; j < ng; j++)
        rule_group_free(groups[j]);
    free(groups);
    strbuf_free(&sb);
    promql_engine_free(eng);
    memstore_free(store);
}

static void unit_test_file(const char *path, rules_errors_t *errs) {
    test_file_t tf;
    char emsg[600];
    if (load_test_file(path, &tf, emsg, sizeof emsg) < 0) {
        rules_errors_add(errs, "%s", emsg);
        return;
    }
    char *dir = dir_of(path);
    /* rule files relative to the test file, globbed */
    char **pats = calloc(tf.nrule_files + 1, sizeof *pats);
    for (size_t i = 0; i < tf.nrule_files; i++)
        pats[i] = tf.rule_files[i][0] == '/' ? strdup(tf.rule_files[i]) : config_join_dir(dir, tf.rule_files[i]);
    char **files = NULL;
    size_t nfiles = 0;
    pl_err_t err;
    rule_file_t *rfs = NULL;
    if (rules_expand_globs(pats, tf.nrule_files, &files, &nfiles, &err) < 0) {
        rules_errors_add(errs, "    %s", err.msg);
        goto out;
    }
    rfs = calloc(nfiles + 1, sizeof *rfs);
    bool bad = false;
    for (size_t i = 0; i < nfiles; i++) {
        rules_errors_t e = {0};
        if (rulefile_load(files[i], &rfs[i], &e) < 0) {
            for (size_t k = 0; k < e.n; k++)
                rules_errors_add(errs, "    %s", e.msgs[k]);
            bad = true;
        }
        rules_errors_free(&e);
    }
    if (!bad)
        for (size_t i = 0; i < tf.ntests; i++)
            run_test_group(&tf, &tf.tests[i], rfs, nfiles, files, errs);
    for (size_t i = 0; i < nfiles; i++)
        rulefile_free(&rfs[i]);
out:
    free(rfs);
    rules_free_strv(files, nfiles);
    rules_free_strv(pats, tf.nrule_files);
    free(dir);
    test_file_free(&tf);
}

static int test_rules(int argc, char **argv) {
    bool failed = false;
    for (int i = 0; i < argc; i++) {
        if (access(argv[i], F_OK) != 0) {
            fprintf(stderr, "promtool: error: path '%s' does not exist, try --help\n", argv[i]);
            return 1;
        }
    }
    for (int i = 0; i < argc; i++) {
        printf("Unit Testing:  %s\n", argv[i]);
        fflush(stdout);
        rules_errors_t errs = {0};
        unit_test_file(argv[i], &errs);
        if (errs.n) {
            fprintf(stderr, "  FAILED:\n");
            fflush(stderr);
            for (size_t k = 0; k < errs.n; k++) {
                fprintf(stderr, "%s\n", errs.msgs[k]);
                fflush(stderr);
                printf("\n");
                fflush(stdout);
            }
            failed = true;
        } else {
            printf("  SUCCESS\n");
        }
        printf("\n");
        fflush(stdout);
        rules_errors_free(&errs);
    }
    return failed ? 1 : 0;
}

int cmd_tool_rules(int argc, char **argv) {
    /* argv[0] is "check" or "test" */
    if (argc < 2) {
        fprintf(stderr, "usage: promlab tool check config|rules FILE... | promlab tool test rules FILE...\n");
        return 2;
    }
    if (argc < 3) {
        fprintf(stderr, "promlab tool %s %s: at least one file is required\n", argv[0], argv[1]);
        return 2;
    }
    if (!strcmp(argv[0], "check") && !strcmp(argv[1], "rules")) return check_rules(argc - 2, argv + 2);
    if (!strcmp(argv[0], "check") && !strcmp(argv[1], "config")) return check_config(argc - 2, argv + 2);
    if (!strcmp(argv[0], "test") && !strcmp(argv[1], "rules")) return test_rules(argc - 2, argv + 2);
    fprintf(stderr, "promlab tool: unknown command %s %s\n", argv[0], argv[1]);
    return 2;
}
