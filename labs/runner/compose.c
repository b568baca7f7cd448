/* compose.c — a lab's compose.yml turned into processes to run natively.
 *
 * The same file is valid `docker compose` input; the runner reads the part
 * of it that says what to run and where its files live:
 *   image       promlab's own (promlab:TAG, REGISTRY/promlab:TAG) runs <promlab_bin> <command...>
 *   x-native    {command: [...], port: N, health: URL}: how a non-promlab
 *               service runs from its Debian package; without it the
 *               service is Docker-only and skipped with a note
 *   command     list, or a string split on blanks (single/double quotes kept)
 *   volumes     "./file:/container/path" bind mounts and "name:/path" named
 *               volumes (-> .data/<name>/); arguments that mention a
 *               container path are rewritten to the host path
 *   depends_on  list or map form; dependencies start (and are healthy) first
 *   healthcheck the first http:// URL in `test` is probed
 * Every service uses network_mode: host, so ports are the same both ways. */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lab.h"
#include "util/strbuf.h"

typedef struct mount {
    char *container; /* /etc/prometheus/prometheus.yml */
    char *host;      /* /abs/labs/phase1/prometheus.yml */
} mount_t;

static char *xstrdup(const char *s)
{
    char *d = strdup(s);
    if (!d) abort();
    return d;
}

static void push_str(char ***arr, size_t *n, const char *s)
{
    char **a = realloc(*arr, (*n + 2) * sizeof *a);
    if (!a) abort();
    a[(*n)++] = xstrdup(s);
    a[*n] = NULL;
    *arr = a;
}

static void free_strs(char **arr, size_t n)
{
    for (size_t i = 0; i < n; i++) free(arr[i]);
    free(arr);
}

int lab_mkdirs(const char *path)
{
    char buf[PATH_MAX];
    if (strlen(path) >= sizeof buf) {
        errno = ENAMETOOLONG;
        return -1;
    }
    strcpy(buf, path);
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/') continue;
        *p = '\0';
        if (mkdir(buf, 0755) != 0 && errno != EEXIST) return -1;
        *p = '/';
    }
    if (mkdir(buf, 0755) != 0 && errno != EEXIST) return -1;
    return 0;
}

/* Splits a compose string command: blanks separate words, quotes group. */
static void split_command(const char *s, char ***argv, size_t *argc)
{
    strbuf_t word = STRBUF_INIT;
    bool in_word = false;
    char quote = 0;
    for (const char *p = s;; p++) {
        char c = *p;
        if (c == '\0' || (!quote && isspace((unsigned char)c))) {
            if (in_word) {
                push_str(argv, argc, word.data ? word.data : "");
                strbuf_reset(&word);
                in_word = false;
            }
            if (c == '\0') break;
            continue;
        }
        in_word = true;
        if (quote) {
            if (c == quote) quote = 0;
            else strbuf_putc(&word, c);
        } else if (c == '\'' || c == '"') {
            quote = c;
        } else {
            strbuf_putc(&word, c);
        }
    }
    strbuf_free(&word);
}

/* Appends a scalar-or-sequence command node to argv. */
static int add_command(const ynode_t *cmd, char ***argv, size_t *argc, const char *what, pl_err_t *err)
{
    if (!cmd) return 0;
    if (cmd->kind == YNODE_SCALAR) {
        split_command(cmd->value, argv, argc);
        return 0;
    }
    if (cmd->kind != YNODE_SEQ) return pl_err_set(err, "line %d: %s must be a list or a string", cmd->line, what);
    for (size_t i = 0; i < cmd->n; i++) {
        const char *s = yscalar(cmd->items[i]);
        if (!s) return pl_err_set(err, "line %d: %s entries must be strings", cmd->items[i]->line, what);
        push_str(argv, argc, s);
    }
    return 0;
}

/* A bare program name in x-native.command that is one of promlab's own
 * programs (promlab-loadgen) is run from the directory promlab-lab itself
 * was started from (build/bin), so labs work without installing anything;
 * anything else is looked up on PATH as usual. Returns a malloc'd path or NULL. */
static char *sibling_program(const char *name)
{
    if (strchr(name, '/') || strncmp(name, "promlab", 7) != 0) return NULL;
    char self[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n <= 0) return NULL;
    self[n] = '\0';
    char *slash = strrchr(self, '/');
    if (!slash) return NULL;
    slash[1] = '\0';
    strbuf_t p = STRBUF_INIT;
    strbuf_printf(&p, "%s%s", self, name);
    if (access(p.data, X_OK) != 0) {
        strbuf_free(&p);
        return NULL;
    }
    return strbuf_detach(&p);
}

/* Replaces container paths by host paths where a path starts: at the start
 * of the argument or right after '='. The longest mount wins. */
static char *rewrite_arg(const char *arg, const mount_t *mounts, size_t nmounts)
{
    strbuf_t out = STRBUF_INIT;
    const char *p = arg;
    while (*p) {
        bool at_start = (p == arg) || p[-1] == '=';
        const mount_t *best = NULL;
        size_t best_len = 0;
        if (at_start && *p == '/') {
            for (size_t i = 0; i < nmounts; i++) {
                size_t l = strlen(mounts[i].container);
                if (l > best_len && strncmp(p, mounts[i].container, l) == 0 && (p[l] == '\0' || p[l] == '/')) {
                    best = &mounts[i];
                    best_len = l;
                }
            }
        }
        if (best) {
            strbuf_puts(&out, best->host);
            p += best_len;
        } else {
            strbuf_putc(&out, *p++);
        }
    }
    if (!out.data) strbuf_puts(&out, "");
    return strbuf_detach(&out);
}

/* Port from --web.listen-address=host:port / --http-address=host:port. */
static int port_from_args(char **argv, size_t argc)
{
    static const char *keys[] = {"--web.listen-address=", "--http-address=", "--listen-address="};
    for (size_t i = 0; i < argc; i++)
        for (size_t k = 0; k < sizeof keys / sizeof keys[0]; k++)
            if (strncmp(argv[i], keys[k], strlen(keys[k])) == 0) {
                const char *colon = strrchr(argv[i], ':');
                if (colon) return atoi(colon + 1);
            }
    return 0;
}

static bool is_promlab_image(const char *image)
{
    if (!image) return false;
    const char *slash = strrchr(image, '/');
    const char *name = slash ? slash + 1 : image;
    return strncmp(name, "promlab", 7) == 0 && (name[7] == '\0' || name[7] == ':' || name[7] == '@');
}

static void mounts_free(mount_t *m, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(m[i].container);
        free(m[i].host);
    }
    free(m);
}

/* On error, frees what it collected and leaves *out NULL. */
static int load_mounts(lab_t *lab, const ynode_t *vols, mount_t **out, size_t *nout, pl_err_t *err)
{
    *out = NULL;
    *nout = 0;
    if (!vols) return 0;
    if (vols->kind != YNODE_SEQ) return pl_err_set(err, "line %d: volumes must be a list", vols->line);
    for (size_t i = 0; i < vols->n; i++) {
        const ynode_t *v = vols->items[i];
        const char *src = NULL, *dst = NULL;
        char *tmp = NULL;
        if (v->kind == YNODE_MAP) { /* long syntax */
            src = yscalar(ymap_get(v, "source"));
            dst = yscalar(ymap_get(v, "target"));
        } else if (v->kind == YNODE_SCALAR) {
            tmp = xstrdup(v->value);
            char *colon = strchr(tmp, ':');
            if (colon) {
                *colon = '\0';
                src = tmp;
                dst = colon + 1;
                char *mode = strchr(colon + 1, ':');
                if (mode) *mode = '\0';
            }
        }
        if (!src || !dst || dst[0] != '/') {
            free(tmp);
            mounts_free(*out, *nout);
            *out = NULL;
            *nout = 0;
            return pl_err_set(err, "line %d: volume needs source:/container/path", v->line);
        }
        strbuf_t host = STRBUF_INIT;
        if (src[0] == '/') {
            strbuf_puts(&host, src);
        } else if (src[0] == '.') {
            strbuf_printf(&host, "%s/%s", lab->dir, src[1] == '/' ? src + 2 : src);
        } else { /* named volume */
            strbuf_printf(&host, "%s/%s", lab->data_dir, src);
            if (lab_mkdirs(host.data) != 0) {
                free(tmp);
                pl_err_set(err, "%s: cannot create: %m", host.data);
                strbuf_free(&host);
                mounts_free(*out, *nout);
                *out = NULL;
                *nout = 0;
                return -1;
            }
        }
        mount_t *m = realloc(*out, (*nout + 1) * sizeof *m);
        if (!m) abort();
        *out = m;
        m[*nout].container = xstrdup(dst);
        m[*nout].host = strbuf_detach(&host);
        (*nout)++;
        free(tmp);
    }
    return 0;
}

static int load_service(lab_t *lab, const char *name, const ynode_t *def, const char *promlab_bin, service_t *s,
                        pl_err_t *err)
{
    s->name = xstrdup(name);
    if (def->kind != YNODE_MAP) return pl_err_set(err, "line %d: service %s must be a mapping", def->line, name);
    const char *image = yscalar(ymap_get(def, "image"));
    const ynode_t *xn = ymap_get(def, "x-native");
    char **raw = NULL;
    size_t nraw = 0;
    int port = 0;
    const char *health = NULL;

    if (xn) {
        if (add_command(ymap_get(xn, "command"), &raw, &nraw, "x-native.command", err) != 0) goto fail;
        char *own = nraw ? sibling_program(raw[0]) : NULL;
        if (own) {
            free(raw[0]);
            raw[0] = own;
        }
        const char *p = yscalar(ymap_get(xn, "port"));
        if (p) port = atoi(p);
        health = yscalar(ymap_get(xn, "health"));
        const char *skip = yscalar(ymap_get(xn, "skip"));
        if (skip) s->skip_reason = xstrdup(skip);
    } else if (is_promlab_image(image)) {
        push_str(&raw, &nraw, promlab_bin);
        if (add_command(ymap_get(def, "command"), &raw, &nraw, "command", err) != 0) goto fail;
    } else {
        strbuf_t why = STRBUF_INIT;
        strbuf_printf(&why, "image %s has no x-native entry: runs under docker compose only", image ? image : "(none)");
        s->skip_reason = strbuf_detach(&why);
    }
    if (!s->skip_reason && nraw == 0) {
        pl_err_set(err, "service %s: nothing to run (empty command)", name);
        goto fail;
    }
    s->native = !s->skip_reason;

    mount_t *mounts = NULL;
    size_t nmounts = 0;
    if (load_mounts(lab, ymap_get(def, "volumes"), &mounts, &nmounts, err) != 0) goto fail;
    for (size_t i = 0; i < nraw; i++) {
        char *a = rewrite_arg(raw[i], mounts, nmounts);
        push_str(&s->argv, &s->argc, a);
        free(a);
    }
    mounts_free(mounts, nmounts);

    const ynode_t *deps = ymap_get(def, "depends_on");
    if (deps && (deps->kind == YNODE_SEQ || deps->kind == YNODE_MAP)) {
        size_t step = deps->kind == YNODE_MAP ? 2 : 1;
        for (size_t i = 0; i < deps->n; i += step)
            if (yscalar(deps->items[i])) push_str(&s->deps, &s->ndeps, deps->items[i]->value);
    }

    if (!health) { /* healthcheck: test: ["CMD", "wget", "-qO-", "http://..."] or a string */
        const ynode_t *test = ymap_get(ymap_get(def, "healthcheck"), "test");
        if (test && test->kind == YNODE_SEQ) {
            for (size_t i = 0; i < test->n && !health; i++) {
                const char *t = yscalar(test->items[i]);
                if (t && strncmp(t, "http://", 7) == 0) health = t;
            }
        } else if (yscalar(test)) {
            const char *h = strstr(yscalar(test), "http://");
            if (h) {
                size_t l = strcspn(h, " \t'\"");
                s->health_url = strndup(h, l);
            }
        }
    }
    if (health && !s->health_url) s->health_url = xstrdup(health);
    s->port = port ? port : port_from_args(s->argv, s->argc);
    free_strs(raw, nraw);
    return 0;
fail:
    free_strs(raw, nraw);
    return -1;
}

static void service_free(service_t *s)
{
    free(s->name);
    free(s->skip_reason);
    free_strs(s->argv, s->argc);
    free_strs(s->deps, s->ndeps);
    free(s->health_url);
}

void lab_free(lab_t *lab)
{
    for (size_t i = 0; i < lab->n; i++) service_free(&lab->svcs[i]);
    free(lab->svcs);
    free(lab->dir);
    free(lab->data_dir);
    memset(lab, 0, sizeof *lab);
}

static ssize_t find_service(const service_t *s, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(s[i].name, name) == 0) return (ssize_t)i;
    return -1;
}

/* Orders services so that each comes after its dependencies (stable:
 * otherwise file order). Refuses unknown names and cycles. */
static int order_services(lab_t *lab, pl_err_t *err)
{
    service_t *sorted = calloc(lab->n ? lab->n : 1, sizeof *sorted);
    bool *done = calloc(lab->n ? lab->n : 1, sizeof *done);
    if (!sorted || !done) abort();
    for (size_t i = 0; i < lab->n; i++)
        for (size_t d = 0; d < lab->svcs[i].ndeps; d++)
            if (find_service(lab->svcs, lab->n, lab->svcs[i].deps[d]) < 0) {
                pl_err_set(err, "service %s depends on unknown service %s", lab->svcs[i].name, lab->svcs[i].deps[d]);
                free(sorted);
                free(done);
                return -1;
            }
    size_t out = 0;
    while (out < lab->n) {
        bool progress = false;
        for (size_t i = 0; i < lab->n; i++) {
            if (done[i]) continue;
            bool ready = true;
            for (size_t d = 0; d < lab->svcs[i].ndeps && ready; d++)
                ready = done[find_service(lab->svcs, lab->n, lab->svcs[i].deps[d])];
            if (!ready) continue;
            sorted[out++] = lab->svcs[i];
            done[i] = true;
            progress = true;
        }
        if (!progress) {
            free(sorted);
            free(done);
            return pl_err_set(err, "depends_on has a cycle");
        }
    }
    free(lab->svcs);
    lab->svcs = sorted;
    free(done);
    return 0;
}

int lab_load(const char *dir, const char *promlab_bin, lab_t *lab, pl_err_t *err)
{
    memset(lab, 0, sizeof *lab);
    char abs[PATH_MAX];
    if (!realpath(dir, abs)) return pl_err_set(err, "%s: %m", dir);
    lab->dir = xstrdup(abs);
    strbuf_t sb = STRBUF_INIT;
    strbuf_printf(&sb, "%s/.data", abs);
    lab->data_dir = strbuf_detach(&sb);
    if (lab_mkdirs(lab->data_dir) != 0) {
        pl_err_set(err, "%s: cannot create: %m", lab->data_dir);
        lab_free(lab);
        return -1;
    }

    strbuf_printf(&sb, "%s/compose.yml", abs);
    ynode_t *root = NULL;
    int rc = ytree_load_file(sb.data, &root, err);
    if (rc == 0) {
        const ynode_t *svcs = ymap_get(root, "services");
        if (!svcs || svcs->kind != YNODE_MAP || svcs->n == 0) {
            rc = pl_err_set(err, "%s: no services", sb.data);
        } else {
            lab->svcs = calloc(svcs->n / 2, sizeof *lab->svcs);
            if (!lab->svcs) abort();
            for (size_t i = 0; i + 1 < svcs->n && rc == 0; i += 2) {
                service_t *s = &lab->svcs[lab->n++];
                rc = load_service(lab, svcs->items[i]->value, svcs->items[i + 1], promlab_bin, s, err);
                if (rc != 0) pl_err_prefix(err, "%s: service %s", sb.data, svcs->items[i]->value);
            }
            if (rc == 0) rc = order_services(lab, err);
        }
    }
    ytree_free(root);
    strbuf_free(&sb);
    if (rc != 0) lab_free(lab);
    return rc;
}
