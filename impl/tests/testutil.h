/* testutil.h — shared includes for the cmocka unit tests.
 * Every test file: #include "testutil.h", write `static void test_x(void **state)`,
 * and end with PL_TEST_MAIN(cmocka_unit_test(test_x), ...). */
#ifndef PL_TESTUTIL_H
#define PL_TESTUTIL_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#define PL_TEST_MAIN(...)                                                 \
    int main(void) {                                                      \
        const struct CMUnitTest tests[] = {__VA_ARGS__};                  \
        return cmocka_run_group_tests_name(__FILE__, tests, NULL, NULL);  \
    }

/* Reads a whole file into a malloc'd NUL-terminated buffer; NULL on error. */
static inline char *pl_test_read_file(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    if (n > 0 && fread(buf, 1, (size_t)n, f) != (size_t)n) {
        free(buf);
        fclose(f);
        return NULL;
    }
    buf[n] = '\0';
    fclose(f);
    if (len) *len = (size_t)n;
    return buf;
}

#endif
