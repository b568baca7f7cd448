/* flags.c — see flags.h. */
#include "util/flags.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/log.h"
#include "util/timeutil.h"

flag_def_t *flags_find(flag_def_t *defs, size_t n, const char *name) {
    for (size_t i = 0; i < n; i++)
        if (strcmp(defs[i].name, name) == 0) return &defs[i];
    return NULL;
}

static flag_def_t *find_n(flag_def_t *defs, size_t n, const char *name, size_t len) {
    for (size_t i = 0; i < n; i++)
        if (strlen(defs[i].name) == len && strncmp(defs[i].name, name, len) == 0) return &defs[i];
    return NULL;
}

static int set_value(flag_def_t *f, const char *v, pl_err_t *err) {
    if (f->kind == FLAG_STRINGS) {
        const char **nv = realloc(f->values, (f->nvalues + 1) * sizeof *nv);
        if (!nv) return pl_err_set(err, "out of memory");
        f->values = nv;
        f->values[f->nvalues++] = v;
    }
    f->value = v;
    f->set = true;
    return 0;
}

int flags_parse(flag_def_t *defs, size_t n, int argc, char **argv, const char ***pos, size_t *npos, pl_err_t *err) {
    for (size_t i = 0; i < n; i++) {
        defs[i].value = defs[i].def ? defs[i].def : "";
        defs[i].set = false;
        defs[i].values = NULL;
        defs[i].nvalues = 0;
    }
    if (pos) *pos = NULL, *npos = 0;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) return 1;
        if (strncmp(a, "--", 2) != 0 || a[2] == '\0') {
            if (!pos) return pl_err_set(err, "unexpected argument %s", a);
            const char **np = realloc(*pos, (*npos + 1) * sizeof *np);
            if (!np) return pl_err_set(err, "out of memory");
            *pos = np;
            (*pos)[(*npos)++] = a;
            continue;
        }
        const char *name = a + 2;
        const char *eq = strchr(name, '=');
        size_t len = eq ? (size_t)(eq - name) : strlen(name);
        flag_def_t *f = find_n(defs, n, name, len);
        if (!f && !eq && strncmp(name, "no-", 3) == 0) {
            flag_def_t *b = find_n(defs, n, name + 3, len - 3);
            if (b && b->kind == FLAG_BOOL) {
                if (set_value(b, "false", err) < 0) return -1;
                continue;
            }
        }
        if (!f) return pl_err_set(err, "unknown long flag '--%.*s'", (int)len, name);
        const char *v;
        if (eq) {
            v = eq + 1;
        } else if (f->kind == FLAG_BOOL) {
            v = "true";
        } else {
            if (i + 1 >= argc) return pl_err_set(err, "expected argument for flag '--%s'", f->name);
            v = argv[++i];
        }
        if (f->kind == FLAG_BOOL && strcmp(v, "true") != 0 && strcmp(v, "false") != 0)
            return pl_err_set(err, "--%s: invalid boolean value '%s'", f->name, v);
        if (set_value(f, v, err) < 0) return -1;
    }
    return 0;
}

void flags_free(flag_def_t *defs, size_t n) {
    for (size_t i = 0; i < n; i++) {
        free(defs[i].values);
        defs[i].values = NULL;
        defs[i].nvalues = 0;
    }
}

void flags_usage(const flag_def_t *defs, size_t n, const char *usage_line, strbuf_t *sb) {
    strbuf_printf(sb, "usage: %s\n\nFlags:\n", usage_line);
    strbuf_printf(sb, "%-56s %s\n", "  -h, --help", "Show context-sensitive help.");
    for (size_t i = 0; i < n; i++) {
        const flag_def_t *f = &defs[i];
        if (f->hidden) continue;
        strbuf_t left = STRBUF_INIT;
        if (f->kind == FLAG_BOOL) strbuf_printf(&left, "      --[no-]%s", f->name);
        else strbuf_printf(&left, "      --%s=%s", f->name,
                             f->kind == FLAG_DURATION ? "DURATION" : f->kind == FLAG_SIZE ? "SIZE" :
                             f->kind == FLAG_INT ? "INT" : f->kind == FLAG_STRINGS ? "VALUE ..." : "VALUE");
        strbuf_printf(sb, "%-56s %s", left.data, f->help);
        if (f->def && *f->def) strbuf_printf(sb, " (default: %s)", f->def);
        strbuf_putc(sb, '\n');
        strbuf_free(&left);
    }
}

const char *flags_str(flag_def_t *defs, size_t n, const char *name) {
    flag_def_t *f = flags_find(defs, n, name);
    return f ? f->value : NULL;
}

bool flags_bool(flag_def_t *defs, size_t n, const char *name) {
    const char *v = flags_str(defs, n, name);
    return v && strcmp(v, "true") == 0;
}

int flags_duration(flag_def_t *defs, size_t n, const char *name, int64_t *ms, pl_err_t *err) {
    const char *v = flags_str(defs, n, name);
    if (!v) return pl_err_set(err, "--%s: no such flag", name);
    if (pl_parse_duration(v, ms, err) < 0) return pl_err_prefix(err, "--%s", name);
    return 0;
}

int flags_size(flag_def_t *defs, size_t n, const char *name, int64_t *bytes, pl_err_t *err) {
    const char *v = flags_str(defs, n, name);
    if (!v) return pl_err_set(err, "--%s: no such flag", name);
    if (pl_parse_size(v, bytes, err) < 0) return pl_err_prefix(err, "--%s", name);
    return 0;
}

int flags_int(flag_def_t *defs, size_t n, const char *name, int64_t *out, pl_err_t *err) {
    const char *v = flags_str(defs, n, name);
    if (!v) return pl_err_set(err, "--%s: no such flag", name);
    char *end;
    errno = 0;
    long long x = strtoll(v, &end, 10);
    if (errno || *end || end == v) return pl_err_set(err, "--%s: invalid integer '%s'", name, v);
    *out = x;
    return 0;
}

int flags_parse_cli(flag_def_t *defs, size_t n, int argc, char **argv, const char *prog, const char *usage_line) {
    pl_err_t err = {{0}};
    int rc = flags_parse(defs, n, argc, argv, NULL, NULL, &err);
    if (rc == 0) return -1;
    strbuf_t sb = STRBUF_INIT;
    flags_usage(defs, n, usage_line, &sb);
    if (rc < 0) fprintf(stderr, "%s: error: %s\n\n%s", prog, err.msg, sb.data);
    else fputs(sb.data, stdout);
    strbuf_free(&sb);
    flags_free(defs, n);
    return rc < 0 ? 2 : 0;
}

int flags_apply_log(flag_def_t *defs, size_t n, pl_err_t *err) {
    if (flags_find(defs, n, "log.level")) {
        const char *s = flags_str(defs, n, "log.level");
        enum log_level lvl;
        if (log_parse_level(s, &lvl) < 0)
            return pl_err_set(err, "--log.level: must be one of debug, info, warn, error, got \"%s\"", s);
        log_set_level(lvl);
    }
    if (flags_find(defs, n, "log.format")) {
        const char *s = flags_str(defs, n, "log.format");
        enum log_format f;
        if (log_parse_format(s, &f) < 0) return pl_err_set(err, "--log.format: must be logfmt or json, got \"%s\"", s);
        log_set_format(f);
    }
    return 0;
}

int flags_cli_error(flag_def_t *defs, size_t n, const char *prog, const char *msg) {
    fprintf(stderr, "%s: error: %s\n", prog, msg);
    flags_free(defs, n);
    return 2;
}
