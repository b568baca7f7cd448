/* bench_relabel.c — relabeling throughput, printed, never asserted.
 *
 * Label sets shaped like the cardinality lab: http_requests_total
 * with endpoint, method, code, instance, job and a unique user_id (7 labels).
 * 100,000 distinct sets are built up front and run through the rules in ten
 * passes (1,000,000 label sets per case). Each case resets one reused
 * builder, processes, and reads the sorted result, as the scrape hook will.
 * Cases: labeldrop with a literal regex (the fast path), the same drop
 * through PCRE2 JIT, and a five-rule chain (keep, replace with templates,
 * hashmod, labelmap, labeldrop).
 *
 *   make BUILD=build-relabel build-relabel/bin/bench_relabel
 *   ./build-relabel/bin/bench_relabel [label_sets] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "relabel/relabel.h"

#define DISTINCT 100000
#define NLABELS 7

static double now_s(clockid_t which) {
    struct timespec ts;
    clock_gettime(which, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

typedef struct {
    const char *name;
    relabel_config_t cfg[5];
    size_t n;
} bench_case_t;

int main(int argc, char **argv) {
    size_t total = argc > 1 ? strtoull(argv[1], NULL, 10) : 1000000;
    static const char *endpoints[] = {"/api/v1/users", "/api/v1/orders", "/api/v1/items", "/health",   "/login",
                                      "/logout",       "/search",        "/cart",         "/checkout", "/static"};
    static const char *methods[] = {"GET", "POST", "PUT", "DELETE"};
    static const char *codes[] = {"200", "201", "404", "500"};
    label_t *sets = calloc((size_t)DISTINCT * NLABELS, sizeof *sets);
    char *ids = calloc(DISTINCT, 16);
    if (!sets || !ids) return 1;
    for (size_t i = 0; i < DISTINCT; i++) {
        snprintf(ids + 16 * i, 16, "u%zu", i * 7919 % 1000003);
        label_t *s = sets + i * NLABELS;
        s[0] = (label_t){"__name__", "http_requests_total"};
        s[1] = (label_t){"code", codes[i % 4]};
        s[2] = (label_t){"endpoint", endpoints[i % 10]};
        s[3] = (label_t){"instance", "app-7:8080"};
        s[4] = (label_t){"job", "app"};
        s[5] = (label_t){"method", methods[(i / 10) % 4]};
        s[6] = (label_t){"user_id", ids + 16 * i};
    }

    char *src_name[] = {"__name__"}, *src_inst[] = {"instance"}, *src_uid[] = {"user_id"};
/* NULL separator, regex and replacement take the defaults in relabel_compile. */
#define RC(...) ((relabel_config_t){__VA_ARGS__})
    bench_case_t cases[] = {
        {"labeldrop user_id (literal fast path)", {RC(.regex = "user_id", .action = RELABEL_LABELDROP)}, 1},
        {"labeldrop user_.+ (PCRE2 JIT)", {RC(.regex = "user_.+", .action = RELABEL_LABELDROP)}, 1},
        {"5-rule chain",
         {RC(.source_labels = src_name, .nsource_labels = 1, .regex = "http_.+", .action = RELABEL_KEEP),
          RC(.source_labels = src_inst, .nsource_labels = 1, .regex = "([a-z]+)-(\\d+):(\\d+)", .target_label = "host",
             .replacement = "$1.$2"),
          RC(.source_labels = src_uid, .nsource_labels = 1, .modulus = 64, .target_label = "shard",
             .action = RELABEL_HASHMOD),
          RC(.regex = "(end)point", .replacement = "${1}", .action = RELABEL_LABELMAP),
          RC(.regex = "user_id", .action = RELABEL_LABELDROP)},
         5},
    };
    printf("relabel throughput, %zu label sets of %d labels per case\n", total, NLABELS);
    printf("%-40s %12s %12s %10s\n", "case", "ns/set", "cpu ns/set", "kept");
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        pl_err_t err;
        relabel_rules_t *rules = relabel_compile(cases[c].cfg, cases[c].n, &err);
        if (!rules) {
            fprintf(stderr, "%s: %s\n", cases[c].name, err.msg);
            return 1;
        }
        relabel_labels_t b = RELABEL_LABELS_INIT;
        size_t kept = 0, checksum = 0;
        double w0 = now_s(CLOCK_MONOTONIC), c0 = now_s(CLOCK_PROCESS_CPUTIME_ID);
        for (size_t i = 0; i < total; i++) {
            relabel_labels_reset(&b, sets + (i % DISTINCT) * NLABELS, NLABELS);
            if (relabel_process(rules, &b) == RELABEL_KEPT) {
                size_t n;
                const label_t *out = relabel_labels_result(&b, &n);
                kept++;
                checksum += n + (size_t)out[n - 1].value[0];
            }
        }
        double w1 = now_s(CLOCK_MONOTONIC), c1 = now_s(CLOCK_PROCESS_CPUTIME_ID);
        printf("%-40s %12.1f %12.1f %10zu\n", cases[c].name, (w1 - w0) * 1e9 / (double)total,
               (c1 - c0) * 1e9 / (double)total, kept);
        if (checksum == 0) printf("(checksum 0)\n");
        relabel_labels_free(&b);
        relabel_rules_free(rules);
    }
    free(sets);
    free(ids);
    return 0;
}
