/* fuzz_template.c — libFuzzer harness for the alert template engine.
 *
 * The input is a template; it must parse or be refused with Go's
 * "template: NAME:LINE: ..." wording, and a template that parses must
 * execute (successfully or with an error) without a crash, a leak, undefined
 * behaviour or runaway output. Seeds: impl/tests/data/template/.
 * Built and run by scripts/fuzz.sh. */
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "rules/rules.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char *text = malloc(size + 1);
    if (!text) return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    tmpl_t *t = NULL;
    pl_err_t err;
    if (tmpl_parse("__alert_F", text, &t, &err) != 0) {
        if (t) abort();
        if (strncmp(err.msg, "template: __alert_F:", 20) != 0) abort();
        free(text);
        return 0;
    }
    label_t ls[] = {{"__name__", "up"}, {"instance", "h:9100"}, {"job", "node"}};
    label_t ext[] = {{"lab", "fuzz"}};
    double values[] = {0, 1.5, -1e300, NAN, INFINITY};
    for (size_t i = 0; i < sizeof values / sizeof values[0]; i++) {
        tmpl_data_t d = {ls, 3, ext, 1, "http://fuzz:9090", values[i]};
        strbuf_t sb = STRBUF_INIT;
        (void)tmpl_exec(t, &d, &sb, &err);
        strbuf_free(&sb);
    }
    tmpl_free(t);
    free(text);
    return 0;
}
