/* relabel.h — Prometheus's relabeling engine (model/relabel in Prometheus).
 *
 * Two halves:
 *  - relabel_rules_t: the compiled form of a list of relabel_config_t (one
 *    compile per config load). Regexes are compiled once with PCRE2 as
 *    "^(?:regex)$" and JIT-compiled; replacement and target_label templates
 *    are pre-parsed. Immutable after compile, so one rules object may be used
 *    by many threads at once (each with its own relabel_labels_t).
 *  - relabel_labels_t: a label-set builder owned by the caller and reused
 *    across calls. It mirrors Prometheus's labels.Builder (base labels + an
 *    ordered list of additions), keeps its memory between calls, and holds
 *    the strings relabeling produces in its own arena. After the first few
 *    calls have grown its buffers, relabel_process allocates nothing.
 *
 * Typical use (one builder per thread, e.g. per scrape batch):
 *
 *     relabel_labels_t lb = RELABEL_LABELS_INIT;
 *     relabel_labels_reset(&lb, in, nin);           // borrowed strings
 *     int keep = relabel_process(rules, &lb);       // 1 keep, 0 drop, -1 OOM
 *     size_t n; const label_t *out = relabel_labels_result(&lb, &n);
 *     ... copy out[0..n) somewhere durable ...
 *     relabel_labels_free(&lb);                     // at shutdown
 *
 * Semantics are Prometheus's (model/relabel/relabel.go) with label names
 * checked by the legacy rule ([a-zA-Z_][a-zA-Z0-9_]*), as promlab's config
 * does. Values are C strings: a NUL inside a value is not representable. */
#ifndef PL_RELABEL_H
#define PL_RELABEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config/config.h"
#include "model/labels.h"
#include "util/err.h"

typedef struct relabel_rules relabel_rules_t;

/* Compiles n configs (as the config loader produced them, defaults applied;
 * a NULL separator, regex or replacement also takes Prometheus's default).
 * The rules copy everything they need: cfgs may be freed afterwards.
 * Returns NULL with err set ("relabel rule N (line L): reason") when a regex
 * does not compile or a field is out of range, or on allocation failure.
 * n == 0 gives a valid, empty rule list (relabel_process keeps everything). */
relabel_rules_t *relabel_compile(const relabel_config_t *cfgs, size_t n, pl_err_t *err);
void relabel_rules_free(relabel_rules_t *r);
size_t relabel_rules_count(const relabel_rules_t *r);

/* ---- the builder ----------------------------------------------------------- */

struct relabel_entry {
    const char *name, *value;
    bool hidden; /* base entries only: set or deleted since the reset */
};

struct relabel_chunk; /* arena block */

/* Treat the fields as private; they are here so that a builder can live on
 * the stack or inside another struct without an allocation. */
typedef struct relabel_labels {
    struct relabel_entry *base; /* input labels, sorted by name */
    size_t nbase, cap_base;
    struct relabel_entry *add; /* labels set since the reset, in order */
    size_t nadd, cap_add;
    struct relabel_entry *snap; /* labelmap/labeldrop snapshot */
    size_t cap_snap;
    label_t *out; /* the result */
    size_t nout, cap_out;
    char *join; /* joined source values */
    size_t cap_join;
    struct relabel_chunk *arena; /* newest first */
    size_t arena_total;          /* bytes in all chunks */
    void *match;                 /* pcre2_match_data_8 */
    uint32_t match_pairs;
} relabel_labels_t;

#define RELABEL_LABELS_INIT                                                                                            \
    { 0 }

/* Starts a new label set from ls[0..n) (any order; empty values count as
 * absent, as in Prometheus). The strings are borrowed: they must outlive the
 * use of the result. Invalidates the previous result and the arena's strings.
 * Returns -1 on allocation failure. */
int relabel_labels_reset(relabel_labels_t *b, const label_t *ls, size_t n);
/* Sets (value "" deletes) or deletes one label, as labels.Builder does. The
 * strings are borrowed. Returns -1 on allocation failure. */
int relabel_labels_set(relabel_labels_t *b, const char *name, const char *value);
void relabel_labels_del(relabel_labels_t *b, const char *name);
/* Current value of name, or "" when absent (Prometheus's Builder.Get). */
const char *relabel_labels_get(const relabel_labels_t *b, const char *name);

/* The current label set, sorted by name, without empty values. Strings point
 * into the input, the builder's arena, or the rules (literal target labels):
 * valid until the next reset/free of the builder and while the rules live.
 * The array itself is owned by the builder. NULL with *n = 0 on allocation
 * failure of a non-empty set. */
const label_t *relabel_labels_result(relabel_labels_t *b, size_t *n);

void relabel_labels_free(relabel_labels_t *b);

/* ---- processing ------------------------------------------------------------ */

enum { RELABEL_DROPPED = 0, RELABEL_KEPT = 1 };

/* Applies every rule in order to the builder's label set. Returns
 * RELABEL_KEPT (1) or RELABEL_DROPPED (0) — a drop stops at the rule that
 * dropped, leaving the set as it was then — or -1 when an allocation failed
 * (the set is then in an unspecified but valid state; treat as an error, not
 * as a keep). r == NULL keeps everything unchanged. */
int relabel_process(const relabel_rules_t *r, relabel_labels_t *b);

/* reset + process + result in one call, for the scrape hooks: returns
 * RELABEL_KEPT with *out and *nout set to the sorted result (lifetime as for
 * relabel_labels_result), RELABEL_DROPPED, or -1 on allocation failure. */
int relabel_apply(const relabel_rules_t *r, relabel_labels_t *b, const label_t *in, size_t n, const label_t **out,
                  size_t *nout);

/* Prometheus's hashmod: md5(s), the last 8 bytes as a big-endian uint64,
 * modulo modulus (which must not be 0). */
uint64_t relabel_hashmod(const char *s, size_t len, uint64_t modulus);

#endif
