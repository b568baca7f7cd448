/* main.c — promlab-lab: run a guided lab natively.
 *
 *   promlab-lab up    labs/phase1   start the services, wait until healthy, leave them running
 *   promlab-lab check labs/phase1   run checks.yml against the running lab
 *   promlab-lab down  labs/phase1   stop what `up` started (from .data/state.json)
 *   promlab-lab run   labs/phase1   up + check + down; the exit status is the checks'
 *
 * Whatever happens after the first service starts — a failed check, a
 * service that will not come up, Ctrl-C, SIGTERM — `run` stops every
 * service before it exits, and its children die with it if it is killed. */
#include <curl/curl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lab.h"
#include "util/flags.h"
#include "util/strbuf.h"

static flag_def_t lab_flags[] = {
    {"checks", FLAG_STRING, "", "Checks file (default: <lab>/checks.yml).", false},
    {"promlab", FLAG_STRING, "", "promlab binary for services with a promlab image (default: $PROMLAB_BIN, else promlab next to promlab-lab).", false},
    {"health-timeout", FLAG_DURATION, "30s", "How long each service may take to become healthy.", false},
    {"grace", FLAG_DURATION, "10s", "How long services get between SIGTERM and SIGKILL.", false},
};
#define N_LAB_FLAGS (sizeof lab_flags / sizeof lab_flags[0])

static const char *USAGE = "promlab-lab [flags] up|check|down|run <lab dir>";

static char *default_promlab(void)
{
    const char *env = getenv("PROMLAB_BIN");
    if (env && *env) return strdup(env);
    char self[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n <= 0) return strdup("promlab");
    self[n] = '\0';
    char *slash = strrchr(self, '/');
    strbuf_t sb = STRBUF_INIT;
    strbuf_printf(&sb, "%.*s/promlab", (int)(slash - self), self);
    return strbuf_detach(&sb);
}

static char *checks_file(const lab_t *lab)
{
    const char *f = flags_str(lab_flags, N_LAB_FLAGS, "checks");
    if (f && *f) return strdup(f);
    strbuf_t sb = STRBUF_INIT;
    strbuf_printf(&sb, "%s/checks.yml", lab->dir);
    return strbuf_detach(&sb);
}

/* True if a previous `up` left services running. */
static bool already_up(lab_t *lab)
{
    pl_err_t err;
    if (procs_read_state(lab, &err) != 0) return false;
    bool any = false;
    for (size_t i = 0; i < lab->n; i++)
        if (lab->svcs[i].pid > 0) {
            fprintf(stderr, "promlab-lab: %s is already running (pid %d): `promlab-lab down %s` first\n",
                    lab->svcs[i].name, (int)lab->svcs[i].pid, lab->dir);
            lab->svcs[i].pid = 0; /* not ours to stop */
            any = true;
        }
    return any;
}

static int cmd_run_checks(lab_t *lab)
{
    char *path = checks_file(lab);
    pl_err_t err = {{0}};
    int failed = checks_run(lab, path, &err);
    free(path);
    if (failed < 0) fprintf(stderr, "promlab-lab: %s\n", err.msg);
    return failed == 0 ? 0 : 1;
}

int main(int argc, char **argv)
{
    const char **pos = NULL;
    size_t npos = 0;
    pl_err_t err = {{0}};
    int pr = flags_parse(lab_flags, N_LAB_FLAGS, argc - 1, argv + 1, &pos, &npos, &err);
    if (pr != 0 || npos != 2) {
        strbuf_t sb = STRBUF_INIT;
        flags_usage(lab_flags, N_LAB_FLAGS, USAGE, &sb);
        if (pr < 0) fprintf(stderr, "promlab-lab: %s\n", err.msg);
        fputs(sb.data ? sb.data : "", pr == 1 ? stdout : stderr);
        strbuf_free(&sb);
        free(pos);
        flags_free(lab_flags, N_LAB_FLAGS);
        return pr == 1 ? 0 : 2;
    }
    const char *cmd = pos[0], *dir = pos[1];
    if (strcmp(cmd, "up") != 0 && strcmp(cmd, "check") != 0 && strcmp(cmd, "down") != 0 && strcmp(cmd, "run") != 0) {
        fprintf(stderr, "promlab-lab: unknown command \"%s\" (up, check, down, run)\n", cmd);
        free(pos);
        flags_free(lab_flags, N_LAB_FLAGS);
        return 2;
    }
    int64_t health_ms = 30000, grace_ms = 10000;
    if (flags_duration(lab_flags, N_LAB_FLAGS, "health-timeout", &health_ms, &err) != 0 ||
        flags_duration(lab_flags, N_LAB_FLAGS, "grace", &grace_ms, &err) != 0) {
        fprintf(stderr, "promlab-lab: %s\n", err.msg);
        free(pos);
        flags_free(lab_flags, N_LAB_FLAGS);
        return 2;
    }
    const char *pflag = flags_str(lab_flags, N_LAB_FLAGS, "promlab");
    char *promlab = pflag && *pflag ? strdup(pflag) : default_promlab();
    if (!promlab) abort();

    curl_global_init(CURL_GLOBAL_DEFAULT);
    procs_install_signals();
    setvbuf(stdout, NULL, _IOLBF, 0);
    lab_t lab;
    int status = 0;
    if (lab_load(dir, promlab, &lab, &err) != 0) {
        fprintf(stderr, "promlab-lab: %s\n", err.msg);
        status = 2;
        goto out;
    }
    if (strcmp(cmd, "up") == 0 || strcmp(cmd, "run") == 0) {
        bool run = strcmp(cmd, "run") == 0;
        if (already_up(&lab)) {
            status = 2;
        } else if (procs_up(&lab, run, (double)health_ms / 1000, &err) != 0) {
            fprintf(stderr, "promlab-lab: %s; stopping the lab\n", err.msg);
            procs_down(&lab, (double)grace_ms / 1000);
            procs_remove_state(&lab);
            status = 1;
        } else if (run) {
            status = cmd_run_checks(&lab);
            procs_down(&lab, (double)grace_ms / 1000);
            procs_remove_state(&lab);
            if (lab_interrupted) {
                fprintf(stderr, "promlab-lab: interrupted by signal %d; the lab is stopped\n", (int)lab_interrupted);
                status = 130;
            }
        } else {
            printf("lab is up; `promlab-lab check %s`, then `promlab-lab down %s`\n", dir, dir);
        }
    } else if (strcmp(cmd, "check") == 0) {
        status = cmd_run_checks(&lab);
    } else if (strcmp(cmd, "down") == 0) {
        if (procs_read_state(&lab, &err) != 0) fprintf(stderr, "promlab-lab: %s\n", err.msg);
        procs_down(&lab, (double)grace_ms / 1000);
        procs_remove_state(&lab);
        printf("lab is down\n");
    }
    lab_free(&lab);
out:
    free(promlab);
    free(pos);
    flags_free(lab_flags, N_LAB_FLAGS);
    curl_global_cleanup();
    return status;
}
