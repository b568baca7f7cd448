/* fuzz_relabel.c — libFuzzer harness for the relabeling engine.
 *
 * The input is read as lines: a first line "<rules><action><modulus...>"
 * style header per rule, then for each rule the regex, separator,
 * target_label, replacement and comma-separated source labels, then the
 * label set as "name=value" lines. Any rule set either compiles or is
 * refused with a message; any label set must come out sorted, with unique
 * non-empty names and non-empty values, and processing the same input twice
 * with a reused builder must give the same answer.
 * Build and run from the repository root (or `make fuzz`): */
//   clang -g -O1 -fsanitize=fuzzer,address,undefined -D_GNU_SOURCE -Iimpl/src impl/fuzz/fuzz_relabel.c
//     impl/src/relabel/*.c impl/src/config/*.c impl/src/model/*.c impl/src/util/*.c
//     $(pkg-config --cflags --libs libpcre2-8 libxxhash yaml-0.1 jansson) -lm -o fuzz_relabel
//   mkdir -p corpus && ./fuzz_relabel -max_total_time=120 corpus
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "relabel/relabel.h"

#define MAX_RULES 4
#define MAX_LABELS 32
#define MAX_SOURCES 4

/* Next '\n'-terminated line as a NUL-terminated copy in buf. */
static const char *next_line(const char **p, const char *end, char *buf, size_t cap) {
    size_t n = 0;
    while (*p < end && **p != '\n') {
        if (n + 1 < cap && **p != '\0') buf[n++] = **p;
        (*p)++;
    }
    if (*p < end) (*p)++;
    buf[n] = '\0';
    return buf;
}

static char *dup_line(const char **p, const char *end) {
    char buf[256];
    return strdup(next_line(p, end, buf, sizeof buf));
}

/* Duplicate input names pass through (the caller reports them, as
 * Prometheus's scrape loop does after relabeling); otherwise names must be
 * strictly increasing. */
static void check_result(relabel_labels_t *b, char *out, size_t cap, bool input_unique) {
    size_t n;
    const label_t *ls = relabel_labels_result(b, &n);
    if (!ls) abort();
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        if (!ls[i].name[0] || !ls[i].value[0]) abort();
        int c = i ? strcmp(ls[i - 1].name, ls[i].name) : -1;
        if (c > 0 || (c == 0 && input_unique)) abort();
        int w = snprintf(out + o, cap - o, "%s=%s\n", ls[i].name, ls[i].value);
        if (w > 0) o = o + (size_t)w < cap ? o + (size_t)w : cap - 1;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *p = (const char *)data, *end = p + size;
    if (size < 2) return 0;
    size_t nrules = (size_t)(data[0] % MAX_RULES) + 1;
    p++;
    relabel_config_t cfg[MAX_RULES];
    char *sources[MAX_RULES][MAX_SOURCES];
    memset(cfg, 0, sizeof cfg);
    memset(sources, 0, sizeof sources);
    for (size_t r = 0; r < nrules; r++) {
        char head[32];
        next_line(&p, end, head, sizeof head);
        cfg[r].action = (enum relabel_action)((unsigned char)head[0] % (RELABEL_UPPERCASE + 1));
        cfg[r].modulus = strtoull(head[0] ? head + 1 : head, NULL, 10);
        cfg[r].regex = dup_line(&p, end);
        cfg[r].separator = dup_line(&p, end);
        cfg[r].target_label = dup_line(&p, end);
        cfg[r].replacement = dup_line(&p, end);
        char buf[256];
        next_line(&p, end, buf, sizeof buf);
        for (char *tok = strtok(buf, ","); tok && cfg[r].nsource_labels < MAX_SOURCES; tok = strtok(NULL, ","))
            sources[r][cfg[r].nsource_labels++] = strdup(tok);
        cfg[r].source_labels = sources[r];
    }
    /* Labels: "name=value" lines; the strings live in one buffer. */
    char *store = malloc(size + 1);
    label_t in[MAX_LABELS];
    size_t nin = 0, used = 0;
    while (p < end && nin < MAX_LABELS && store) {
        char buf[256];
        next_line(&p, end, buf, sizeof buf);
        char *eq = strchr(buf, '=');
        if (!eq || eq == buf) continue;
        *eq = '\0';
        size_t ln = strlen(buf) + 1, lv = strlen(eq + 1) + 1;
        if (used + ln + lv > size + 1) break;
        char *name = memcpy(store + used, buf, ln);
        char *value = memcpy(store + used + ln, eq + 1, lv);
        used += ln + lv;
        in[nin++] = (label_t){name, value};
    }

    bool unique = true;
    for (size_t i = 0; i < nin; i++)
        for (size_t j = i + 1; j < nin; j++)
            if (strcmp(in[i].name, in[j].name) == 0) unique = false;
    pl_err_t err;
    relabel_rules_t *rules = relabel_compile(cfg, nrules, &err);
    if (!rules) {
        if (!err.msg[0]) abort();
    } else {
        relabel_labels_t b = RELABEL_LABELS_INIT;
        static char first[8192], second[8192];
        int rc1 = -2, rc2 = -2;
        first[0] = second[0] = '\0';
        for (int pass = 0; pass < 2; pass++) {
            if (relabel_labels_reset(&b, in, nin) != 0) abort();
            int rc = relabel_process(rules, &b);
            if (rc < 0) abort();
            if (pass == 0)
                rc1 = rc;
            else
                rc2 = rc;
            if (rc == RELABEL_KEPT) check_result(&b, pass ? second : first, sizeof first, unique);
        }
        if (rc1 != rc2 || strcmp(first, second) != 0) abort();
        relabel_labels_free(&b);
        relabel_rules_free(rules);
    }

    for (size_t r = 0; r < nrules; r++) {
        free(cfg[r].regex);
        free(cfg[r].separator);
        free(cfg[r].target_label);
        free(cfg[r].replacement);
        for (size_t s = 0; s < cfg[r].nsource_labels; s++)
            free(sources[r][s]);
    }
    free(store);
    return 0;
}
