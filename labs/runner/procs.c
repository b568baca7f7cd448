/* procs.c — running a lab's services as local processes.
 *
 * Each service runs in its own session (setsid), so its pid is also its
 * process-group id and stopping it reaches everything it forked: SIGTERM to
 * the group, then SIGKILL to whatever is left after the grace period. Its
 * stdout and stderr go to .data/logs/<service>.log.
 *
 * `run` keeps the children and asks the kernel to SIGTERM them if the runner
 * itself dies (PR_SET_PDEATHSIG), so even a crashed or SIGKILLed runner
 * leaves nothing behind. `up` leaves them running and records the pids in
 * .data/state.json for a later `down`, which checks that each pid still
 * leads its group and runs the recorded program before signalling it. */
#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "lab.h"
#include "util/json.h"
#include "util/strbuf.h"
#include "util/timeutil.h"

volatile int lab_interrupted;

static void on_signal(int sig)
{
    lab_interrupted = sig;
}

void procs_install_signals(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static pid_t spawn(const lab_t *lab, const service_t *s, bool die_with_parent, pl_err_t *err)
{
    strbuf_t log = STRBUF_INIT;
    strbuf_printf(&log, "%s/logs", lab->data_dir);
    if (lab_mkdirs(log.data) != 0) {
        pl_err_set(err, "%s: %m", log.data);
        strbuf_free(&log);
        return -1;
    }
    strbuf_printf(&log, "/%s.log", s->name);
    int fd = open(log.data, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        pl_err_set(err, "%s: %m", log.data);
        strbuf_free(&log);
        return -1;
    }
    strbuf_free(&log);
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0) {
        close(fd);
        return pl_err_set(err, "fork: %m");
    }
    if (pid == 0) {
        setsid();
        if (die_with_parent) {
            prctl(PR_SET_PDEATHSIG, SIGTERM);
            if (getppid() != parent) _exit(1); /* the runner died before prctl */
        }
        signal(SIGPIPE, SIG_DFL);
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        int in = open("/dev/null", O_RDONLY);
        if (in >= 0) dup2(in, 0);
        dup2(fd, 1);
        dup2(fd, 2);
        if (chdir(lab->dir) != 0) _exit(126);
        execvp(s->argv[0], s->argv);
        dprintf(2, "promlab-lab: cannot run %s: %s\n", s->argv[0], strerror(errno));
        _exit(127);
    }
    close(fd);
    return pid;
}

/* 1 if the process has exited (and reaps it when it is our child). */
static int has_exited(pid_t pid, int *status)
{
    int st = 0;
    pid_t r = waitpid(pid, &st, WNOHANG);
    if (r == pid) {
        if (status) *status = st;
        return 1;
    }
    if (r < 0 && errno == ECHILD) return kill(pid, 0) != 0 && errno == ESRCH;
    return 0;
}

static size_t discard(char *p, size_t sz, size_t n, void *ud)
{
    (void)p;
    (void)ud;
    return sz * n;
}

static bool probe_http(const char *url)
{
    CURL *c = curl_easy_init();
    if (!c) return false;
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 2000L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard);
    long code = 0;
    bool ok = curl_easy_perform(c) == CURLE_OK && curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code) == CURLE_OK &&
              code >= 200 && code < 300;
    curl_easy_cleanup(c);
    return ok;
}

static bool probe_tcp(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return false;
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bool ok = connect(fd, (struct sockaddr *)&a, sizeof a) == 0;
    close(fd);
    return ok;
}

static int wait_healthy(const lab_t *lab, service_t *s, double timeout_s, pl_err_t *err)
{
    int64_t deadline = pl_monotonic_ns() + (int64_t)(timeout_s * 1e9);
    /* With no probe, a service counts as up when it is still running after a second. */
    int64_t settle = pl_monotonic_ns() + 1000000000LL;
    for (;;) {
        int st = 0;
        if (has_exited(s->pid, &st)) {
            s->pid = 0;
            if (WIFEXITED(st))
                return pl_err_set(err, "service %s exited with status %d (see %s/logs/%s.log)", s->name,
                                  WEXITSTATUS(st), lab->data_dir, s->name);
            return pl_err_set(err, "service %s died (see %s/logs/%s.log)", s->name, lab->data_dir, s->name);
        }
        if (s->health_url ? probe_http(s->health_url)
                          : s->port ? probe_tcp(s->port) : pl_monotonic_ns() >= settle)
            return 0;
        if (lab_interrupted) return pl_err_set(err, "interrupted");
        if (pl_monotonic_ns() >= deadline) {
            if (s->health_url) return pl_err_set(err, "service %s: %s not healthy after %.0fs", s->name, s->health_url, timeout_s);
            return pl_err_set(err, "service %s: port %d not accepting after %.0fs", s->name, s->port, timeout_s);
        }
        sleep_ms(200);
    }
}

int procs_up(lab_t *lab, bool die_with_parent, double health_timeout_s, pl_err_t *err)
{
    for (size_t i = 0; i < lab->n; i++) {
        service_t *s = &lab->svcs[i];
        if (!s->native) {
            printf("skip %s: %s\n", s->name, s->skip_reason);
            continue;
        }
        /* A port already taken means another lab or demo is running: starting
         * would probe the wrong server. */
        if (s->port && probe_tcp(s->port))
            return pl_err_set(err, "service %s: port %d is already in use on 127.0.0.1", s->name, s->port);
        pid_t pid = spawn(lab, s, die_with_parent, err);
        if (pid < 0) return -1;
        s->pid = pid;
        s->started = true;
        if (!die_with_parent && procs_write_state(lab, err) != 0) return -1;
        if (wait_healthy(lab, s, health_timeout_s, err) != 0) return -1;
        if (s->port) printf("up   %s (pid %d, port %d)\n", s->name, (int)s->pid, s->port);
        else printf("up   %s (pid %d)\n", s->name, (int)s->pid);
        fflush(stdout);
    }
    return 0;
}

void procs_down(lab_t *lab, double grace_s)
{
    bool any = false;
    for (size_t i = 0; i < lab->n; i++) {
        service_t *s = &lab->svcs[i];
        if (s->pid <= 0) continue;
        if (has_exited(s->pid, NULL) && kill(-s->pid, 0) != 0) {
            s->pid = 0;
            continue;
        }
        kill(-s->pid, SIGTERM);
        any = true;
    }
    if (!any) return;
    int64_t deadline = pl_monotonic_ns() + (int64_t)(grace_s * 1e9);
    for (;;) {
        bool alive = false;
        for (size_t i = 0; i < lab->n; i++) {
            service_t *s = &lab->svcs[i];
            if (s->pid <= 0) continue;
            has_exited(s->pid, NULL);
            /* The group is gone once no member is left (the leader reaped). */
            if (kill(-s->pid, 0) != 0 && errno == ESRCH) {
                s->pid = 0;
                continue;
            }
            alive = true;
        }
        if (!alive) return;
        if (pl_monotonic_ns() >= deadline) break;
        sleep_ms(100);
    }
    for (size_t i = 0; i < lab->n; i++) {
        service_t *s = &lab->svcs[i];
        if (s->pid <= 0) continue;
        fprintf(stderr, "promlab-lab: %s did not stop in %.0fs, SIGKILL\n", s->name, grace_s);
        kill(-s->pid, SIGKILL);
    }
    for (int tries = 0; tries < 50; tries++) {
        bool alive = false;
        for (size_t i = 0; i < lab->n; i++) {
            service_t *s = &lab->svcs[i];
            if (s->pid <= 0) continue;
            has_exited(s->pid, NULL);
            if (kill(-s->pid, 0) != 0 && errno == ESRCH) s->pid = 0;
            else alive = true;
        }
        if (!alive) return;
        sleep_ms(100);
    }
}

static char *state_path(const lab_t *lab)
{
    strbuf_t sb = STRBUF_INIT;
    strbuf_printf(&sb, "%s/state.json", lab->data_dir);
    return strbuf_detach(&sb);
}

int procs_write_state(const lab_t *lab, pl_err_t *err)
{
    strbuf_t sb = STRBUF_INIT;
    jsonw_t w;
    jw_init(&w, &sb);
    jw_obj_begin(&w);
    jw_key(&w, "lab");
    jw_str(&w, lab->dir);
    jw_key(&w, "services");
    jw_arr_begin(&w);
    for (size_t i = 0; i < lab->n; i++) {
        const service_t *s = &lab->svcs[i];
        if (s->pid <= 0) continue;
        jw_obj_begin(&w);
        jw_key(&w, "name");
        jw_str(&w, s->name);
        jw_key(&w, "pid");
        jw_int(&w, s->pid);
        jw_key(&w, "program");
        jw_str(&w, s->argv[0]);
        jw_obj_end(&w);
    }
    jw_arr_end(&w);
    jw_obj_end(&w);
    strbuf_putc(&sb, '\n');
    char *path = state_path(lab);
    strbuf_t tmp = STRBUF_INIT;
    strbuf_printf(&tmp, "%s.tmp", path);
    FILE *f = fopen(tmp.data, "w");
    int rc = 0;
    if (!f || fwrite(sb.data, 1, sb.len, f) != sb.len || fclose(f) != 0 || rename(tmp.data, path) != 0)
        rc = pl_err_set(err, "%s: cannot write: %m", path);
    free(path);
    strbuf_free(&tmp);
    strbuf_free(&sb);
    return rc;
}

/* True if pid leads its own group and its /proc/<pid>/cmdline starts with program. */
static bool pid_is_ours(pid_t pid, const char *program)
{
    if (pid <= 1 || getpgid(pid) != pid) return false;
    char path[64], buf[4096];
    snprintf(path, sizeof path, "/proc/%d/cmdline", (int)pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return false;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0) return false;
    buf[n] = '\0';
    const char *base_rec = strrchr(program, '/') ? strrchr(program, '/') + 1 : program;
    const char *base_run = strrchr(buf, '/') ? strrchr(buf, '/') + 1 : buf;
    return strcmp(base_rec, base_run) == 0;
}

int procs_read_state(lab_t *lab, pl_err_t *err)
{
    char *path = state_path(lab);
    json_error_t jerr;
    json_t *root = json_load_file(path, 0, &jerr);
    if (!root) {
        int rc = access(path, F_OK) == 0 ? pl_err_set(err, "%s: %s", path, jerr.text) : 0;
        free(path);
        return rc;
    }
    free(path);
    json_t *arr = json_object_get(root, "services");
    size_t i;
    json_t *e;
    json_array_foreach(arr, i, e) {
        const char *name = json_string_value(json_object_get(e, "name"));
        const char *program = json_string_value(json_object_get(e, "program"));
        json_int_t pid = json_integer_value(json_object_get(e, "pid"));
        if (!name || !program || pid <= 1) continue;
        for (size_t k = 0; k < lab->n; k++)
            if (strcmp(lab->svcs[k].name, name) == 0 && pid_is_ours((pid_t)pid, program)) lab->svcs[k].pid = (pid_t)pid;
    }
    json_decref(root);
    return 0;
}

void procs_remove_state(const lab_t *lab)
{
    char *path = state_path(lab);
    unlink(path);
    free(path);
}
