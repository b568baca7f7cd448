/* run.c — the orchestrator behind `promlab-loadgen run SCENARIO.yaml`.
 *
 * It serves the scenario's exporter targets from this process, starts the
 * server under test with a generated prometheus.yml (or uses one already
 * running), and walks the steps: set the series count, wait until the
 * server's head holds them (prometheus_tsdb_head_series), hold, then measure
 *   memory      process_resident_memory_bytes from the server's /metrics, and
 *               VmRSS / VmHWM from /proc/<pid>/status when it started the server
 *   ingestion   the rate of prometheus_tsdb_head_samples_appended_total over
 *               rate_window, and process CPU seconds per appended sample
 *   queries     the scenario's query set for queries.duration
 * A line of progress per second goes to stderr; the timeline (head series and
 * RSS every second) goes into the report. */
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "loadgen.h"
#include "util/timeutil.h"

void lg_run_result_free(lg_run_result_t *r) {
    free(r->scenario);
    free(r->server_kind);
    free(r->server_version);
    free(r->started_at);
    free(r->command);
    free(r->steps);
    free(r->timeline);
    memset(r, 0, sizeof *r);
}

static int free_port(void) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) return 0;
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof sa;
    int port = 0;
    if (bind(fd, (struct sockaddr *)&sa, sizeof sa) == 0 && getsockname(fd, (struct sockaddr *)&sa, &len) == 0)
        port = ntohs(sa.sin_port);
    close(fd);
    return port;
}

/* Replaces {name} placeholders. */
static char *expand(const char *tmpl, const char *const *keys, const char *const *vals, size_t n) {
    strbuf_t sb = STRBUF_INIT;
    for (const char *p = tmpl; *p;) {
        bool done = false;
        if (*p == '{')
            for (size_t i = 0; i < n; i++) {
                size_t kl = strlen(keys[i]);
                if (!strncmp(p + 1, keys[i], kl) && p[1 + kl] == '}') {
                    strbuf_puts(&sb, vals[i]);
                    p += kl + 2;
                    done = true;
                    break;
                }
            }
        if (!done) strbuf_putc(&sb, *p++);
    }
    strbuf_putc(&sb, '\0');
    sb.len--;
    return strbuf_detach(&sb);
}

static pid_t spawn(const char *cmd, const char *log_path) {
    pid_t pid = fork();
    if (pid != 0) return pid;
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    setpgid(0, 0);
    FILE *f = fopen(log_path, "w");
    if (f) {
        dup2(fileno(f), 1);
        dup2(fileno(f), 2);
    }
    /* exec through the shell so the command may quote; `exec` keeps the pid the server's */
    char *full = malloc(strlen(cmd) + 8);
    sprintf(full, "exec %s", cmd);
    execl("/bin/sh", "sh", "-c", full, (char *)NULL);
    _exit(127);
}

static void stop_child(pid_t pid) {
    if (pid <= 0) return;
    kill(pid, SIGTERM);
    for (int i = 0; i < 300; i++) {
        if (waitpid(pid, NULL, WNOHANG) == pid) return;
        struct timespec ts = {0, 50000000};
        nanosleep(&ts, NULL);
    }
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
}

static bool child_alive(pid_t pid) { return pid > 0 && waitpid(pid, NULL, WNOHANG) == 0; }

/* VmRSS and VmHWM in bytes (NaN when unknown). */
static void proc_mem(pid_t pid, double *rss, double *hwm) {
    *rss = *hwm = NAN;
    if (pid <= 0) return;
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f) return;
    while (fgets(line, sizeof line, f)) {
        long long kb;
        if (sscanf(line, "VmRSS: %lld kB", &kb) == 1) *rss = (double)kb * 1024;
        if (sscanf(line, "VmHWM: %lld kB", &kb) == 1) *hwm = (double)kb * 1024;
    }
    fclose(f);
}

typedef struct {
    double head_series, appended, cpu, rss, scrapes_ok;
} server_sample_t;

/* The figures to read, from the scenario (defaults: Prometheus's names). */
static lg_metric_want_t wants[4];
static char want_bufs[2][256];

static int set_wants(const lg_scenario_file_t *s, pl_err_t *err) {
    memset(wants, 0, sizeof wants);
    const char *head = s->head_series_metric ? s->head_series_metric : "prometheus_tsdb_head_series";
    const char *app = s->samples_metric ? s->samples_metric : "prometheus_tsdb_head_samples_appended_total";
    if (lg_metric_selector(head, want_bufs[0], sizeof want_bufs[0], &wants[0]) < 0)
        return pl_err_set(err, "server.head_series_metric: bad selector %s", head);
    if (lg_metric_selector(app, want_bufs[1], sizeof want_bufs[1], &wants[1]) < 0)
        return pl_err_set(err, "server.samples_metric: bad selector %s", app);
    wants[1].sum = true; /* summed over its series (e.g. per-type ingestion counters) */
    wants[2].name = "process_cpu_seconds_total";
    wants[3].name = "process_resident_memory_bytes";
    return 0;
}

static int sample_server(const char *url, server_sample_t *s, pl_err_t *err) {
    char murl[700];
    snprintf(murl, sizeof murl, "%s/metrics", url);
    lg_metric_want_t *w = wants;
    int rc = lg_scrape_values(murl, w, 4, err);
    s->head_series = w[0].value;
    s->appended = w[1].value;
    s->cpu = w[2].value;
    s->rss = w[3].value;
    return rc;
}

static void timeline_add(lg_run_result_t *r, double t, double head, double rss) {
    if (r->ntimeline == r->timeline_cap) {
        size_t cap = r->timeline_cap ? r->timeline_cap * 2 : 256;
        lg_timeline_point_t *p = realloc(r->timeline, cap * sizeof *p);
        if (!p) return;
        r->timeline = p;
        r->timeline_cap = cap;
    }
    r->timeline[r->ntimeline++] = (lg_timeline_point_t){t, head, rss};
}

static char *server_version(const char *url) {
    char u[700];
    snprintf(u, sizeof u, "%s/api/v1/status/buildinfo", url);
    strbuf_t body = STRBUF_INIT;
    char *v = NULL;
    if (lg_http_get(u, &body, 5000, NULL) == 200) {
        json_t *j = json_loadb(body.data, body.len, 0, NULL);
        const char *s = json_string_value(json_object_get(json_object_get(j, "data"), "version"));
        if (s) v = strdup(s);
        json_decref(j);
    }
    strbuf_free(&body);
    return v ? v : strdup("unknown");
}

static const char *ready_path = "/-/ready";

static bool ready(const char *url) {
    char u[900];
    snprintf(u, sizeof u, "%s%s", url, ready_path);
    strbuf_t body = STRBUF_INIT;
    int st = lg_http_get(u, &body, 2000, NULL);
    strbuf_free(&body);
    return st == 200;
}

/* Progress: rewritten in place on a terminal; one line every 10th call otherwise (logs). */
static void progress(bool tty, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void progress(bool tty, const char *fmt, ...) {
    static unsigned calls;
    if (!tty && calls++ % 10 != 0) return;
    va_list ap;
    va_start(ap, fmt);
    if (tty) fputs("\r\033[K", stderr);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    if (!tty) fputc('\n', stderr);
}

static double mono_s(int64_t t0) { return (double)(pl_monotonic_ns() - t0) / 1e9; }

int lg_run(const lg_scenario_file_t *s, const char *promlab_bin, const char *out_dir, lg_run_result_t *r,
           pl_err_t *err) {
    memset(r, 0, sizeof *r);
    r->scenario = strdup(s->name);
    r->server_kind = strdup(s->server_kind);
    r->targets = s->targets;
    r->scrape_interval_ms = s->scrape_interval_ms;
    char ts[40];
    pl_format_rfc3339(ts, sizeof ts, pl_now_ms());
    r->started_at = strdup(ts);
    r->steps = calloc(s->nsteps, sizeof *r->steps);

    if (set_wants(s, err) < 0) return -1;
    if (s->ready_path) ready_path = s->ready_path;
    uint64_t per_metric_unit = lg_config_exposed_series(&s->exporter, 1);
    if (per_metric_unit == 0) return pl_err_set(err, "the exporter exposes no series (every metric count is 0)");
    lg_config_t c = s->exporter;
    c.value_interval = (int)((s->scrape_interval_ms + 999) / 1000); /* a new value every scrape */
    c.mode = LG_MODE_DEFAULT; /* the steps own the series count */
    if (c.scenario == LG_SCN_SPIKE) c.scenario = LG_SCN_AVALANCHE;
    uint64_t first = s->steps[0].series / ((uint64_t)s->targets * per_metric_unit);
    c.series_count = first ? (int)first : 1;
    lg_exporter_opts_t eo = {.listen_host = "127.0.0.1", .port = 0, .targets = s->targets, .quiet = true};
    lg_exporter_t *e = lg_exporter_start(&c, &eo, err);
    if (!e) return -1;

    char work[] = "/tmp/promlab-loadgen.XXXXXX";
    if (!mkdtemp(work)) {
        lg_exporter_stop(e);
        return pl_err_set(err, "mkdtemp: %s", strerror(errno));
    }
    char cfg_path[256], data_path[256], log_path[4096], port_s[16], url[512];
    snprintf(cfg_path, sizeof cfg_path, "%s/prometheus.yml", work);
    snprintf(data_path, sizeof data_path, "%s/data", work);
    snprintf(log_path, sizeof log_path, "%s/server.log", out_dir);
    strbuf_t yml = STRBUF_INIT;
    char interval[64];
    pl_format_duration(interval, sizeof interval, s->scrape_interval_ms);
    int64_t timeout_ms = s->scrape_interval_ms < 10000 ? s->scrape_interval_ms : 10000;
    char timeout[64];
    pl_format_duration(timeout, sizeof timeout, timeout_ms);
    strbuf_printf(&yml, "# written by promlab-loadgen run %s\nglobal:\n  scrape_interval: %s\n  scrape_timeout: %s\n"
                        "scrape_configs:\n  - job_name: loadgen\n    static_configs:\n      - targets:\n",
                  s->path, interval, timeout);
    for (int i = 0; i < s->targets; i++) strbuf_printf(&yml, "        - 127.0.0.1:%d\n", lg_exporter_port(e, i));
    int rc = lg_write_file(cfg_path, yml.data, yml.len, err);
    strbuf_free(&yml);

    pid_t pid = 0;
    if (rc == 0 && s->server_command) {
        snprintf(port_s, sizeof port_s, "%d", free_port());
        const char *keys[] = {"promlab", "config", "data", "port"};
        const char *vals[] = {promlab_bin, cfg_path, data_path, port_s};
        r->command = expand(s->server_command, keys, vals, 4);
        snprintf(url, sizeof url, "http://127.0.0.1:%s", port_s);
        fprintf(stderr, "loadgen: starting %s\n", r->command);
        pid = spawn(r->command, log_path);
        int64_t t0 = pl_monotonic_ns();
        while (!ready(url)) {
            if (!child_alive(pid) || mono_s(t0) > 60 || lg_interrupted) {
                rc = pl_err_set(err, "the server did not become ready (see %s)", log_path);
                break;
            }
            lg_sleep_ms(250);
        }
    } else if (rc == 0) {
        snprintf(url, sizeof url, "%s", s->server_url);
        r->command = strdup("(already running)");
        if (!ready(url)) rc = pl_err_set(err, "%s%s does not answer 200", url, ready_path);
        else fprintf(stderr, "loadgen: server %s; add these targets to its scrape config: see %s\n", url, cfg_path);
    }
    if (rc == 0) r->server_version = server_version(url);

    int64_t run_t0 = pl_monotonic_ns();
    bool tty = isatty(2);
    for (size_t i = 0; rc == 0 && i < s->nsteps && !lg_interrupted; i++) {
        const lg_step_t *st = &s->steps[i];
        lg_step_result_t *sr = &r->steps[i];
        uint64_t per = st->series / ((uint64_t)s->targets * per_metric_unit);
        if (per == 0) per = 1;
        lg_exporter_set_series_count(e, (int)per);
        sr->target_series = st->series;
        sr->exposed_series = lg_exporter_exposed_series(e) * (uint64_t)s->targets;
        fprintf(stderr, "loadgen: step %zu/%zu: %llu series (%llu per target)\n", i + 1, s->nsteps,
                (unsigned long long)sr->exposed_series, (unsigned long long)(sr->exposed_series / (uint64_t)s->targets));
        /* settle: the head holds at least the exposed series */
        int64_t t0 = pl_monotonic_ns();
        server_sample_t ss = {0};
        sr->settle_s = NAN;
        while (!lg_interrupted) {
            pl_err_t e2;
            if (sample_server(url, &ss, &e2) == 0) {
                timeline_add(r, mono_s(run_t0), ss.head_series, ss.rss);
                if (ss.head_series >= 0.99 * (double)sr->exposed_series) {
                    sr->settle_s = mono_s(t0);
                    break;
                }
            }
            if (pid && !child_alive(pid)) {
                rc = pl_err_set(err, "the server exited during step %zu (see %s)", i + 1, log_path);
                break;
            }
            if (mono_s(t0) * 1000 > (double)s->settle_timeout_ms) {
                fprintf(stderr, "loadgen: step %zu: the head did not reach %llu series in %.0f s (has %.0f)\n", i + 1,
                        (unsigned long long)sr->exposed_series, mono_s(t0), ss.head_series);
                break;
            }
            progress(tty, "loadgen: step %zu/%zu settling: head %.0f / %llu series, rss %.1f MB", i + 1, s->nsteps,
                     ss.head_series, (unsigned long long)sr->exposed_series, ss.rss / 1e6);
            lg_sleep_ms(1000);
        }
        if (rc < 0) break;
        /* hold, sampling the timeline */
        int64_t h0 = pl_monotonic_ns();
        while (!lg_interrupted && mono_s(h0) * 1000 < (double)st->hold_ms) {
            pl_err_t e2;
            if (sample_server(url, &ss, &e2) == 0) timeline_add(r, mono_s(run_t0), ss.head_series, ss.rss);
            progress(tty, "loadgen: step %zu/%zu holding %.0f/%.0f s: head %.0f series, rss %.1f MB", i + 1, s->nsteps,
                     mono_s(h0), (double)st->hold_ms / 1000, ss.head_series, ss.rss / 1e6);
            lg_sleep_ms(1000);
        }
        if (tty) fprintf(stderr, "\n");
        /* ingestion rate and CPU per sample over the rate window */
        server_sample_t a = {0}, b = {0};
        pl_err_t e2;
        int64_t w0 = pl_monotonic_ns();
        if (sample_server(url, &a, &e2) < 0) {
            rc = pl_err_set(err, "step %zu: reading %s/metrics: %s", i + 1, url, e2.msg);
            break;
        }
        lg_sleep_ms(s->rate_window_ms);
        double win = mono_s(w0);
        if (sample_server(url, &b, &e2) < 0) {
            rc = pl_err_set(err, "step %zu: reading %s/metrics: %s", i + 1, url, e2.msg);
            break;
        }
        timeline_add(r, mono_s(run_t0), b.head_series, b.rss);
        sr->head_series = b.head_series;
        sr->rss_bytes = b.rss;
        double appended = b.appended - a.appended;
        sr->ingest_rate = appended / win;
        sr->cpu_per_sample_us = appended > 0 ? (b.cpu - a.cpu) / appended * 1e6 : NAN;
        proc_mem(pid, &sr->vmrss_bytes, &sr->vmhwm_bytes);
        double mem = !isnan(sr->vmrss_bytes) ? sr->vmrss_bytes : sr->rss_bytes;
        sr->bytes_per_series = sr->head_series > 0 ? mem / sr->head_series : NAN;
        /* the query load */
        lg_query_opts_t qo = {.url = url,
                              .rate = s->query_rate,
                              .concurrency = s->query_rate > 0 ? 0 : s->query_concurrency,
                              .duration_ms = s->query_duration_ms,
                              .timeout_ms = 30000};
        if (lg_query_run(&s->queries, &qo, &sr->query, &e2) < 0) {
            rc = pl_err_set(err, "step %zu: queries: %s", i + 1, e2.msg);
            break;
        }
        r->nsteps = i + 1;
        fprintf(stderr,
                "loadgen: step %zu/%zu: head %.0f series, %.1f MB (%.0f B/series), %.0f samples/s, query p50 %.1f ms "
                "p99 %.1f ms (%llu queries, %llu errors)\n",
                i + 1, s->nsteps, sr->head_series, mem / 1e6, sr->bytes_per_series, sr->ingest_rate,
                sr->query.p50 * 1000, sr->query.p99 * 1000, (unsigned long long)sr->query.count,
                (unsigned long long)sr->query.errors);
    }
    if (rc == 0 && lg_interrupted) rc = pl_err_set(err, "interrupted");
    lg_exporter_stats_t es;
    lg_exporter_stats(e, &es);
    r->serve_render_ms_max = es.last_render_ms;
    r->serve_body_bytes_max = es.last_body_bytes;
    stop_child(pid);
    lg_exporter_stop(e);
    /* the work dir: config and data of the server under test */
    char rm[400];
    snprintf(rm, sizeof rm, "rm -rf '%s'", work);
    if (system(rm) != 0) fprintf(stderr, "loadgen: could not remove %s\n", work);
    return rc;
}
