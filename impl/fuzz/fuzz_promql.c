/* fuzz_promql.c — libFuzzer harness for the PromQL parser and engine.
 *
 * Arbitrary bytes are parsed as a query. A query that parses must print
 * (Prometheus's String()) to text that parses again and prints identically;
 * it is then evaluated at t=0 and as a short range query over a tiny
 * in-memory store with a sample limit, which must end in a result or an
 * error, never a crash. Run by `make fuzz`; seeds in impl/tests/data/promql/. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "promql/engine.h"
#include "promql/memstore.h"

static memstore_t *store;
static queryable_t q;
static promql_engine_t *eng;

static void init(void) {
    store = memstore_new();
    memstore_queryable(store, &q);
    static const char *jobs[] = {"api", "web"};
    for (int j = 0; j < 2; j++) {
        label_t ls[3] = {{"__name__", "http_requests_total"}, {"job", jobs[j]}, {"le", j ? "+Inf" : "0.5"}};
        sample_t s[20];
        for (int i = 0; i < 20; i++)
            s[i] = (sample_t){i * 15000, (double)(i * (j + 1))};
        memstore_append(store, ls, 3, s, 20, NULL);
    }
    promql_engine_opts_t opts = {.max_samples = 20000, .timeout_ms = 2000};
    eng = promql_engine_new(&opts);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (!eng) init();
    char *s = malloc(size + 1);
    if (!s) return 0;
    memcpy(s, data, size);
    s[size] = '\0';
    promql_expr_t *e;
    pl_err_t err;
    if (promql_parse(s, &e, &err) == 0) {
        strbuf_t a = STRBUF_INIT, b = STRBUF_INIT;
        promql_expr_format(&a, e);
        promql_expr_t *e2;
        if (promql_parse(a.data, &e2, &err) != 0) {
            fprintf(stderr, "printed form does not parse: %s -> %s: %s\n", s, a.data, err.msg);
            abort();
        }
        promql_expr_format(&b, e2);
        if (strcmp(a.data, b.data) != 0) {
            fprintf(stderr, "print not stable: %s -> %s -> %s\n", s, a.data, b.data);
            abort();
        }
        promql_result_t res;
        promql_error_t perr;
        promql_exec_instant_expr(eng, &q, e, 120000, &res, &perr);
        promql_result_free(&res);
        if (promql_expr_type(e) == PROMQL_TYPE_SCALAR || promql_expr_type(e) == PROMQL_TYPE_VECTOR) {
            promql_exec_range_expr(eng, &q, e, 0, 300000, 30000, &res, &perr);
            promql_result_free(&res);
        }
        promql_expr_free(e2);
        promql_expr_free(e);
        strbuf_free(&a);
        strbuf_free(&b);
    }
    free(s);
    return 0;
}
