/* main.c — promlab-loadgen: load and measurement for Prometheus-compatible
 * servers. See loadgen.h for the pieces and README.md for the tour. */
#include <curl/curl.h>
#include <stdio.h>
#include <string.h>

#include "loadgen.h"

static void usage(FILE *f) {
    fprintf(f, "usage: promlab-loadgen <command> [<flags>]   (--help after a command for its flags)\n\n"
               "  serve     an avalanche-compatible exporter (many targets, text and OpenMetrics, gzip)\n"
               "  query     run a query set at a rate or concurrency; p50/p90/p99/max, errors, QPS\n"
               "  backfill  history of N days as OpenMetrics or as TSDB blocks\n"
               "  run       a scenario: targets, server under test, cardinality steps, report\n"
               "  gate      compare a report with a baseline; exit 1 on a regression\n"
               "  compare   side-by-side Markdown of reports\n");
}

int main(int argc, char **argv) {
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    curl_global_init(CURL_GLOBAL_DEFAULT);
    const char *cmd = argv[1];
    int rc;
    if (!strcmp(cmd, "serve")) rc = lg_cmd_serve(argc - 2, argv + 2);
    else if (!strcmp(cmd, "query")) rc = lg_cmd_query(argc - 2, argv + 2);
    else if (!strcmp(cmd, "backfill")) rc = lg_cmd_backfill(argc - 2, argv + 2);
    else if (!strcmp(cmd, "run")) rc = lg_cmd_run(argc - 2, argv + 2);
    else if (!strcmp(cmd, "gate")) rc = lg_cmd_gate(argc - 2, argv + 2);
    else if (!strcmp(cmd, "compare")) rc = lg_cmd_compare(argc - 2, argv + 2);
    else {
        fprintf(stderr, "promlab-loadgen: unknown command %s\n", cmd);
        usage(stderr);
        rc = 2;
    }
    curl_global_cleanup();
    return rc;
}
