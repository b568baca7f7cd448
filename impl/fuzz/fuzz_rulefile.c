/* fuzz_rulefile.c — libFuzzer harness for the rule file parser.
 *
 * Any input must parse or be refused without a crash, a leak or undefined
 * behaviour; a refusal always carries at least one message naming the file,
 * and a file that parses has exactly one of record/alert per rule and
 * expressions that parse. Seeds: impl/tests/data/rulefile/ (good and bad).
 * Built and run by scripts/fuzz.sh. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "rules/rules.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    rule_file_t f;
    rules_errors_t errs = {0};
    if (rulefile_parse("fuzz.yml", (const char *)data, size, &f, &errs) != 0) {
        if (errs.n == 0) abort();
        for (size_t i = 0; i < errs.n; i++)
            if (strncmp(errs.msgs[i], "fuzz.yml: ", 10) != 0) abort();
        if (f.groups || f.ngroups) abort(); /* a refusal hands nothing back */
        rules_errors_free(&errs);
        return 0;
    }
    if (errs.n) abort();
    for (size_t g = 0; g < f.ngroups; g++)
        for (size_t i = 0; i < f.groups[g].nrules; i++) {
            const rule_def_t *r = &f.groups[g].rules[i];
            if ((r->record == NULL) == (r->alert == NULL)) abort();
            if (!r->expr || !*r->expr) abort();
        }
    strbuf_t sb = STRBUF_INIT;
    for (size_t g = 0; g < f.ngroups; g++)
        for (size_t i = 0; i < f.groups[g].nrules; i++)
            rule_def_format(&sb, &f.groups[g].rules[i]);
    strbuf_free(&sb);
    rulefile_free(&f);
    return 0;
}
