/* compact.c — `promlab compact`: the Thanos compactor over a bucket
 * (compact/compactor.h): compaction per group of external labels and
 * resolution, downsampling to 5m and 1h, retention per resolution, deletion
 * through deletion-mark.json after --delete-delay.
 *
 * Run once (the default) exits 0 when the iteration succeeded, and 1 on an
 * error or when it halted on overlapping blocks, with the message on stderr
 * (2 for bad flags). With --wait it repeats every --wait-interval,
 * serving /metrics, /-/healthy and /-/ready on --http-address; a halt sets
 * thanos_compact_halted 1 and stops the iterations, the process keeps
 * serving (as Thanos does, so the alert can fire) until SIGINT/SIGTERM.
 * Flags are Thanos compact's names; --compact.concurrency is accepted and
 * must be 1 or more (groups are compacted one at a time). */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cmd/cmd.h"
#include "compact/compactor.h"
#include "objstore/objstore.h"
#include "util/flags.h"
#include "util/log.h"
#include "util/timeutil.h"
#include "web/http.h"
#include "web/web.h"

static flag_def_t compact_flags[] = {
    {"data-dir", FLAG_STRING, "./data", "Data directory in which to cache blocks and process compactions.", false},
    {"objstore.config-file", FLAG_STRING, "", "Path to YAML file that contains object store configuration. See format details: https://thanos.io/tip/thanos/storage.md/#configuration", false},
    {"objstore.config", FLAG_STRING, "", "Alternative to 'objstore.config-file' flag (mutually exclusive). Content of YAML file that contains object store configuration.", false},
    {"http-address", FLAG_STRING, "0.0.0.0:10902", "Listen host:port for HTTP endpoints.", false},
    {"http-grace-period", FLAG_DURATION, "2m", "Time to wait after an interrupt received for HTTP Server.", false},
    {"wait", FLAG_BOOL, "false", "Do not exit after all compactions have been processed and wait for new work.", false},
    {"wait-interval", FLAG_DURATION, "5m", "Wait interval between consecutive compaction runs and bucket refreshes. Only works when --wait flag specified.", false},
    {"consistency-delay", FLAG_DURATION, "30m", "Minimum age of fresh (non-compacted) blocks before they are being processed. Malformed blocks older than the maximum of consistency-delay and 48h0m0s will be removed.", false},
    {"delete-delay", FLAG_DURATION, "48h", "Time before a block marked for deletion is deleted from bucket. If delete-delay is non zero, blocks will be marked for deletion and compactor component will delete blocks marked for deletion from the bucket. If delete-delay is 0, blocks will be deleted straight away.", false},
    {"retention.resolution-raw", FLAG_DURATION, "0d", "How long to retain raw samples in bucket. Setting this to 0d will retain samples of this resolution forever", false},
    {"retention.resolution-5m", FLAG_DURATION, "0d", "How long to retain samples of resolution 1 (5 minutes) in bucket. Setting this to 0d will retain samples of this resolution forever", false},
    {"retention.resolution-1h", FLAG_DURATION, "0d", "How long to retain samples of resolution 2 (1 hour) in bucket. Setting this to 0d will retain samples of this resolution forever", false},
    {"downsampling.disable", FLAG_BOOL, "false", "Disables downsampling. This is not recommended as querying long time ranges without non-downsampled data is not efficient and useful e.g it is not possible to render all samples for a human eye anyway", false},
    {"compact.concurrency", FLAG_INT, "1", "Number of goroutines to use when compacting groups. promlab compacts one group at a time.", false},
    {"log.level", FLAG_STRING, "info", "Log filtering level.", false},
    {"log.format", FLAG_STRING, "logfmt", "Log format to use. Possible options: logfmt or json.", false},
};
#define N_FLAGS (sizeof compact_flags / sizeof compact_flags[0])

typedef struct compact_srv {
    compactor_t *c;
    objstore_t *bucket;
    _Atomic int ready;
} compact_srv_t;

static void handle(void *ctx, const http_request_t *req, http_response_t *r) {
    compact_srv_t *s = ctx;
    r->content_type = "text/plain; charset=utf-8";
    if (web_component_probe(req, r, atomic_load(&s->ready))) return;
    if (!strcmp(req->path, "/metrics")) {
        r->status = 200;
        r->content_type = "text/plain; version=0.0.4; charset=utf-8";
        compactor_write_metrics(s->c, &r->body);
        objstore_write_metrics(s->bucket, &r->body);
        web_write_process_metrics(&r->body);
    } else {
        web_component_fallback(req, r, "promlab compact: /metrics /-/healthy /-/ready\n");
    }
}

static int usage_error(const char *msg) { return flags_cli_error(compact_flags, N_FLAGS, "promlab compact", msg); }

int cmd_compact(int argc, char **argv) {
    pl_err_t err = {{0}};
    int rc = flags_parse_cli(compact_flags, N_FLAGS, argc, argv, "promlab compact", "promlab compact [<flags>]");
    if (rc >= 0) return rc;
    if (flags_apply_log(compact_flags, N_FLAGS, &err) < 0) return usage_error(err.msg);
    compactor_opts_t o = {0};
    int64_t wait_interval = 0, grace = 0, conc = 0;
    if (flags_duration(compact_flags, N_FLAGS, "wait-interval", &wait_interval, &err) < 0 ||
        flags_duration(compact_flags, N_FLAGS, "http-grace-period", &grace, &err) < 0 ||
        flags_duration(compact_flags, N_FLAGS, "consistency-delay", &o.consistency_delay_ms, &err) < 0 ||
        flags_duration(compact_flags, N_FLAGS, "delete-delay", &o.delete_delay_ms, &err) < 0 ||
        flags_duration(compact_flags, N_FLAGS, "retention.resolution-raw", &o.retention_ms[0], &err) < 0 ||
        flags_duration(compact_flags, N_FLAGS, "retention.resolution-5m", &o.retention_ms[1], &err) < 0 ||
        flags_duration(compact_flags, N_FLAGS, "retention.resolution-1h", &o.retention_ms[2], &err) < 0 ||
        flags_int(compact_flags, N_FLAGS, "compact.concurrency", &conc, &err) < 0)
        return usage_error(err.msg);
    if (conc < 1) return usage_error("--compact.concurrency: must be at least 1");
    bool wait = flags_bool(compact_flags, N_FLAGS, "wait");
    if (wait && wait_interval <= 0) return usage_error("--wait-interval: must be positive");
    o.downsampling_disable = flags_bool(compact_flags, N_FLAGS, "downsampling.disable");
    /* Thanos's start-up checks: downsampling needs the finer data long enough to be built from. */
    if (!o.downsampling_disable) {
        if (o.retention_ms[0] > 0 && o.retention_ms[0] < 40 * 3600 * 1000LL)
            return usage_error("raw resolution retention must be at least 40h (--retention.resolution-raw), or "
                               "downsampling disabled: 5m blocks are made from raw blocks spanning 40h");
        if (o.retention_ms[1] > 0 && o.retention_ms[1] < 10 * 24 * 3600 * 1000LL)
            return usage_error("5m resolution retention must be at least 10d (--retention.resolution-5m), or "
                               "downsampling disabled: 1h blocks are made from 5m blocks spanning 10d");
    }
    const char *cfg_file = flags_str(compact_flags, N_FLAGS, "objstore.config-file");
    const char *cfg_inline = flags_str(compact_flags, N_FLAGS, "objstore.config");
    if (*cfg_file && *cfg_inline) return usage_error("--objstore.config-file and --objstore.config are mutually exclusive");
    if (!*cfg_file && !*cfg_inline) return usage_error("an object store is required: --objstore.config-file or --objstore.config");
    log_info("main", "Starting promlab compact", "version=%s", PROMLAB_VERSION);

    compact_srv_t s = {0};
    if (!(s.bucket = objstore_open_flags(cfg_file, cfg_inline, &err))) {
        fprintf(stderr, "promlab compact: error: %s\n", err.msg);
        flags_free(compact_flags, N_FLAGS);
        return 1;
    }
    o.bucket = s.bucket;
    o.data_dir = flags_str(compact_flags, N_FLAGS, "data-dir");
    int exit_code = 0;
    http_server_t *http = NULL;
    if (!(s.c = compactor_new(&o, &err))) {
        fprintf(stderr, "promlab compact: error: %s\n", err.msg);
        exit_code = 1;
        goto out;
    }
    char r0[32], r1[32], r2[32];
    pl_format_duration(r0, sizeof r0, o.retention_ms[0]);
    pl_format_duration(r1, sizeof r1, o.retention_ms[1]);
    pl_format_duration(r2, sizeof r2, o.retention_ms[2]);
    log_info("compactor", "bucket configured", "bucket=\"%s\" retention_raw=%s retention_5m=%s retention_1h=%s downsampling=%s",
             objstore_name(s.bucket), r0, r1, r2, o.downsampling_disable ? "disabled" : "enabled");

    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    signal(SIGPIPE, SIG_IGN);
    const char *addr = flags_str(compact_flags, N_FLAGS, "http-address");
    http = http_server_start(addr, 2, handle, &s, &err);
    if (!http) {
        fprintf(stderr, "promlab compact: error: listen on %s: %s\n", addr, err.msg);
        exit_code = 1;
        goto out;
    }
    log_info("http", "Listening for HTTP", "address=%s", addr);
    atomic_store(&s.ready, 1);
    for (;;) {
        pl_err_t e = {{0}};
        int r = compactor_run_once(s.c, &e);
        if (r == COMPACTOR_HALTED) {
            fprintf(stderr, "promlab compact: error: %s\n", e.msg);
            if (!wait) {
                exit_code = 1;
                break;
            }
            log_error("compactor", "compactor halted; serving metrics until stopped", NULL);
            int sig = 0;
            sigwait(&sigs, &sig);
            break;
        }
        if (r != 0) {
            log_error("compactor", "compaction iteration failed", "err=\"%s\"", e.msg);
            if (!wait) {
                fprintf(stderr, "promlab compact: error: %s\n", e.msg);
                exit_code = 1;
                break;
            }
        } else {
            log_info("compactor", "compaction iteration done", NULL);
        }
        if (!wait) break;
        /* wait-interval, or a signal */
        struct timespec ts = {(time_t)(wait_interval / 1000), (long)(wait_interval % 1000) * 1000000L};
        int sig = sigtimedwait(&sigs, NULL, &ts);
        if (sig == SIGINT || sig == SIGTERM) {
            log_info("main", "Received termination request, exiting gracefully...", NULL);
            break;
        }
    }
out:
    if (http) http_server_stop(http);
    compactor_free(s.c);
    objstore_close(s.bucket);
    flags_free(compact_flags, N_FLAGS);
    log_info("main", "exiting", "code=%d", exit_code);
    return exit_code;
}
