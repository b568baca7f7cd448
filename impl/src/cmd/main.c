/* main.c — `promlab`: one binary, subcommands in the manner of `thanos`. */
#include <stdio.h>
#include <string.h>

#include "cmd/cmd.h"
#include "web/web.h"

static const struct {
    const char *name;
    const char *role;
    int (*run)(int, char **);
} subcommands[] = {
    {"server", "Prometheus server: scrape, store, rules, HTTP API (flags as prometheus)", cmd_server},
    {"sidecar", "Thanos-style sidecar shipping TSDB blocks to object storage (FILESYSTEM, S3)", cmd_sidecar},
    {"query", "Thanos-style global query view over remote-read endpoints, replicas deduplicated", cmd_query},
    {"store", "Thanos-style store gateway serving the blocks of a bucket over remote read", cmd_store},
    {"compact", "Thanos-style compactor: compaction, downsampling (5m, 1h), retention per resolution, in a bucket", cmd_compact},
    {"tool", "promtool: tsdb list/analyze/dump/create-blocks-from openmetrics", cmd_tool},
};
#define N_SUB (sizeof subcommands / sizeof subcommands[0])

static void usage(FILE *out) {
    fprintf(out,
            "usage: promlab <command> [<flags>]\n\n"
            "promlab " PROMLAB_VERSION ": a reference implementation of Prometheus and the Thanos model, in C.\n\n"
            "Commands:\n");
    for (size_t i = 0; i < N_SUB; i++) fprintf(out, "  %-9s %s\n", subcommands[i].name, subcommands[i].role);
    fprintf(out, "\nRun 'promlab <command> --help' for the flags of a command.\n");
}

int main(int argc, char **argv) {
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "help") == 0) {
        usage(stdout);
        return argc < 2 ? 2 : 0;
    }
    if (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "version") == 0) {
        printf("promlab, version " PROMLAB_VERSION " (Prometheus API " PROMLAB_PROMETHEUS_COMPAT ")\n");
        return 0;
    }
    for (size_t i = 0; i < N_SUB; i++) {
        if (strcmp(argv[1], subcommands[i].name) != 0) continue;
        if (!subcommands[i].run) {
            fprintf(stderr, "promlab: command %s is not built yet in this version\n", argv[1]);
            return 2;
        }
        return subcommands[i].run(argc - 2, argv + 2);
    }
    fprintf(stderr, "promlab: unknown command \"%s\"\n\n", argv[1]);
    usage(stderr);
    return 2;
}
