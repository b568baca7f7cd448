/* lab.h — the lab runner's internal interface (promlab-lab).
 *
 * The runner reads a lab directory (compose.yml, checks.yml), starts each
 * compose service as a local process, checks the lab's assertions and stops
 * everything again. Pieces:
 *   yamltree.c  a small YAML document tree over libyaml (compose and checks
 *               files are small; a tree is simpler to walk than events)
 *   compose.c   compose.yml -> services with host argv, health probe, deps
 *   procs.c     start, health-wait, stop (process groups), state.json
 *   checks.c    checks.yml: query / http / files / relation with `within:`
 *   main.c      up | check | down | run
 * Every string in these structs is owned by the struct that holds it. */
#ifndef PL_LAB_H
#define PL_LAB_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "util/err.h"

/* ---- yamltree.c ---- */
enum ynode_kind { YNODE_SCALAR, YNODE_SEQ, YNODE_MAP };

typedef struct ynode {
    enum ynode_kind kind;
    char *value;          /* YNODE_SCALAR */
    struct ynode **items; /* SEQ: items; MAP: key, value, key, value, ... */
    size_t n;             /* number of entries in items */
    int line;             /* 1-based, for error messages */
} ynode_t;

int ytree_load_file(const char *path, ynode_t **out, pl_err_t *err);
void ytree_free(ynode_t *n);
/* The value under key in a mapping, or NULL (also NULL if m is not a map). */
const ynode_t *ymap_get(const ynode_t *m, const char *key);
/* The scalar text, or NULL if n is NULL or not a scalar. */
const char *yscalar(const ynode_t *n);

/* ---- compose.c ---- */
typedef struct service {
    char *name;
    bool native;       /* false: not run natively (skip_reason says why) */
    char *skip_reason;
    char **argv;       /* NULL-terminated, container paths rewritten to host paths */
    size_t argc;
    char **deps;       /* depends_on service names */
    size_t ndeps;
    char *health_url;  /* HTTP GET must answer 2xx; NULL if none */
    int port;          /* else a TCP connect to 127.0.0.1:port; 0 if unknown */
    pid_t pid;         /* leader of the service's process group; 0 if not running */
    bool started;
} service_t;

typedef struct lab {
    char *dir;       /* absolute lab directory */
    char *data_dir;  /* <dir>/.data */
    service_t *svcs; /* in start order (dependencies first) */
    size_t n;
} lab_t;

/* Loads <dir>/compose.yml. promlab_bin runs services whose image is promlab's. */
int lab_load(const char *dir, const char *promlab_bin, lab_t *lab, pl_err_t *err);
void lab_free(lab_t *lab);
/* mkdir -p; returns 0 or -1 with errno. */
int lab_mkdirs(const char *path);

/* ---- procs.c ---- */
/* Set by SIGINT/SIGTERM; long waits give up when it is set. */
extern volatile int lab_interrupted;
void procs_install_signals(void);
/* Starts every native service in order and waits for each to be healthy.
 * die_with_parent: children get SIGTERM if the runner dies (used by `run`).
 * On failure the services already started are left running: the caller stops them. */
int procs_up(lab_t *lab, bool die_with_parent, double health_timeout_s, pl_err_t *err);
/* SIGTERM to each process group, SIGKILL after grace_s. Safe on services not started. */
void procs_down(lab_t *lab, double grace_s);
int procs_write_state(const lab_t *lab, pl_err_t *err);
/* Reads .data/state.json into the lab's pids (services not found stay 0). */
int procs_read_state(lab_t *lab, pl_err_t *err);
void procs_remove_state(const lab_t *lab);

/* ---- checks.c ---- */
/* Runs <checks_path>; prints one line per check and the summary.
 * Returns the number of failed checks, or -1 if the file cannot be used. */
int checks_run(const lab_t *lab, const char *checks_path, pl_err_t *err);

#endif
