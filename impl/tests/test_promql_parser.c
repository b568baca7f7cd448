/* test_promql_parser.c — PromQL lexer/parser/printer: precedence, every
 * syntax element, Prometheus's error texts with positions, and the printer
 * round trip (print(parse(print(parse(q)))) == print(parse(q))). */
#include "testutil.h"

#include <math.h>

#include "promql/lexer.h"
#include "promql/parser.h"

static char *fmt(const char *q) {
    promql_expr_t *e;
    pl_err_t err;
    if (promql_parse(q, &e, &err) < 0) {
        fprintf(stderr, "unexpected parse error for %s: %s\n", q, err.msg);
        return NULL;
    }
    strbuf_t sb = STRBUF_INIT;
    promql_expr_format(&sb, e);
    promql_expr_free(e);
    return strbuf_detach(&sb);
}

static void check_fmt(const char *q, const char *want) {
    char *got = fmt(q);
    assert_non_null(got);
    if (strcmp(got, want) != 0) fprintf(stderr, "query %s: got %s want %s\n", q, got, want);
    assert_string_equal(got, want);
    /* round trip: the printed form parses to the same print */
    char *again = fmt(got);
    assert_non_null(again);
    assert_string_equal(again, got);
    free(got);
    free(again);
}

static void check_err(const char *q, const char *want) {
    promql_expr_t *e = NULL;
    pl_err_t err;
    int rc = promql_parse(q, &e, &err);
    if (rc == 0) fprintf(stderr, "query %s parsed, want error %s\n", q, want);
    assert_int_equal(rc, -1);
    assert_null(e);
    if (strcmp(err.msg, want) != 0) fprintf(stderr, "query %s: got %s want %s\n", q, err.msg, want);
    assert_string_equal(err.msg, want);
}

static promql_expr_t *parse_ok(const char *q) {
    promql_expr_t *e;
    pl_err_t err;
    assert_int_equal(promql_parse(q, &e, &err), 0);
    return e;
}

static void test_precedence(void **state) {
    (void)state;
    promql_expr_t *e = parse_ok("1 + 2 * 3");
    assert_int_equal(e->kind, PROMQL_BINARY);
    assert_int_equal(e->op, PROMQL_OP_ADD);
    assert_int_equal(e->rhs->op, PROMQL_OP_MUL);
    promql_expr_free(e);
    /* ^ is right-associative */
    e = parse_ok("2 ^ 3 ^ 2");
    assert_int_equal(e->op, PROMQL_OP_POW);
    assert_int_equal(e->lhs->kind, PROMQL_NUMBER);
    assert_int_equal(e->rhs->op, PROMQL_OP_POW);
    promql_expr_free(e);
    /* - is left-associative */
    e = parse_ok("1 - 2 - 3");
    assert_int_equal(e->lhs->kind, PROMQL_BINARY);
    promql_expr_free(e);
    /* unary minus binds looser than ^: -2^2 is -(2^2) */
    e = parse_ok("-2 ^ 2");
    assert_int_equal(e->kind, PROMQL_UNARY);
    assert_int_equal(e->inner->op, PROMQL_OP_POW);
    promql_expr_free(e);
    /* ... and like *: -a * b is (-a) * b */
    e = parse_ok("-a * b");
    assert_int_equal(e->kind, PROMQL_BINARY);
    assert_int_equal(e->lhs->kind, PROMQL_UNARY);
    promql_expr_free(e);
    /* or < and/unless < comparison < + < * */
    e = parse_ok("a or b and c unless d");
    assert_int_equal(e->op, PROMQL_OP_OR);
    assert_int_equal(e->rhs->op, PROMQL_OP_UNLESS);
    assert_int_equal(e->rhs->lhs->op, PROMQL_OP_AND);
    promql_expr_free(e);
    e = parse_ok("a + b > bool c * d");
    assert_int_equal(e->op, PROMQL_OP_GTR);
    assert_true(e->return_bool);
    assert_int_equal(e->lhs->op, PROMQL_OP_ADD);
    assert_int_equal(e->rhs->op, PROMQL_OP_MUL);
    promql_expr_free(e);
    e = parse_ok("a atan2 b + c");
    assert_int_equal(e->op, PROMQL_OP_ADD);
    assert_int_equal(e->lhs->op, PROMQL_OP_ATAN2);
    promql_expr_free(e);
    /* a negative number literal is folded */
    e = parse_ok("-1");
    assert_int_equal(e->kind, PROMQL_NUMBER);
    assert_true(e->number == -1);
    promql_expr_free(e);
}

static void test_numbers_and_strings(void **state) {
    (void)state;
    promql_expr_t *e = parse_ok("0x1F");
    assert_true(e->number == 31);
    promql_expr_free(e);
    e = parse_ok("1.5e3");
    assert_true(e->number == 1500);
    promql_expr_free(e);
    e = parse_ok(".5");
    assert_true(e->number == 0.5);
    promql_expr_free(e);
    e = parse_ok("InF");
    assert_true(isinf(e->number) && e->number > 0);
    promql_expr_free(e);
    e = parse_ok("nan");
    assert_true(isnan(e->number));
    promql_expr_free(e);
    e = parse_ok("1h30m");
    assert_true(e->number == 5400);
    promql_expr_free(e);
    e = parse_ok("\"a\\tb\\u00e9\\x41\\101\"");
    assert_string_equal(e->string, "a\tb\xc3\xa9"
                                   "AA");
    promql_expr_free(e);
    e = parse_ok("`raw\\n`");
    assert_string_equal(e->string, "raw\\n");
    promql_expr_free(e);
    e = parse_ok("'it\\'s'");
    assert_string_equal(e->string, "it's");
    promql_expr_free(e);
}

static void test_selectors(void **state) {
    (void)state;
    promql_expr_t *e = parse_ok("foo{a=\"b\", c!=\"d\", e=~\"f.*\", g!~\"h\",}");
    assert_int_equal(e->kind, PROMQL_VECTOR_SELECTOR);
    assert_string_equal(e->metric_name, "foo");
    assert_int_equal(e->nmatchers, 5);
    assert_int_equal(e->matchers[3].type, MATCH_REGEX);
    promql_expr_free(e);
    e = parse_ok("foo[5m] offset -1h @ 123.5");
    assert_int_equal(e->kind, PROMQL_MATRIX_SELECTOR);
    assert_int_equal(e->range_ms, 300000);
    assert_int_equal(e->inner->offset_ms, -3600000);
    assert_int_equal(e->inner->at, PROMQL_AT_TIMESTAMP);
    assert_int_equal(e->inner->at_ms, 123500);
    promql_expr_free(e);
    e = parse_ok("rate(foo[5m])[1h:] @ end()");
    assert_int_equal(e->kind, PROMQL_SUBQUERY);
    assert_int_equal(e->step_ms, 0);
    assert_int_equal(e->at, PROMQL_AT_END);
    promql_expr_free(e);
    /* label names that are keywords are fine inside braces */
    e = parse_ok("foo{on=\"x\", by=\"y\", offset=\"z\"}");
    assert_int_equal(e->nmatchers, 4);
    promql_expr_free(e);
    /* metric names may be function names when no call follows */
    e = parse_ok("rate");
    assert_int_equal(e->kind, PROMQL_VECTOR_SELECTOR);
    promql_expr_free(e);
    /* quoted metric name (UTF-8 syntax) */
    e = parse_ok("{\"my.metric\", a=\"b\"}");
    assert_string_equal(e->metric_name, "my.metric");
    promql_expr_free(e);
}

static void test_printer(void **state) {
    (void)state;
    check_fmt("1 + 2 * 3", "1 + 2 * 3");
    check_fmt("(1 + 2) * 3", "(1 + 2) * 3");
    check_fmt("-2 ^ 2", "-2 ^ 2");
    check_fmt("a   +   on(x,y) group_left(z)   b", "a + on (x, y) group_left (z) b");
    check_fmt("a * ignoring(x) group_right b", "a * ignoring (x) group_right () b");
    check_fmt("a and on() b", "a and on () b");
    check_fmt("a > bool b", "a > bool b");
    check_fmt("foo{c=\"d\", a=\"b\"}", "foo{a=\"b\",c=\"d\"}");
    check_fmt("{__name__=\"foo\"}", "{__name__=\"foo\"}");
    check_fmt("foo offset 1m @ 10", "foo @ 10.000 offset 1m");
    check_fmt("foo offset -90s", "foo offset -1m30s");
    check_fmt("foo @ start()", "foo @ start()");
    check_fmt("foo[300s] @ end() offset 1h", "foo[5m] @ end() offset 1h");
    check_fmt("rate(foo[5m])[30m:1m]", "rate(foo[5m])[30m:1m]");
    check_fmt("max_over_time(foo[30m:])", "max_over_time(foo[30m:])");
    check_fmt("sum(rate(foo[5m])) by (job)", "sum by (job) (rate(foo[5m]))");
    check_fmt("sum without(a, b)(foo)", "sum without (a, b) (foo)");
    check_fmt("topk(3, foo)", "topk(3, foo)");
    check_fmt("count_values('v', foo)", "count_values(\"v\", foo)");
    check_fmt("quantile(0.9, foo)", "quantile(0.9, foo)");
    check_fmt("0x10", "16");
    check_fmt("1e3", "1000");
    check_fmt("0.000001", "0.000001");
    check_fmt("Inf", "+Inf");
    check_fmt("-Inf", "-Inf");
    check_fmt("5m", "5m");
    check_fmt("\"a\\nb\\\"\"", "\"a\\nb\\\"\"");
    check_fmt("label_replace(up, \"a\", \"$1\", \"b\", \"(.*)\")", "label_replace(up, \"a\", \"$1\", \"b\", \"(.*)\")");
    check_fmt("foo:bar:rate5m", "foo:bar:rate5m");
    check_fmt("-foo", "-foo");
    check_fmt("time()", "time()");
    check_fmt("sum by (\"a.b\") (foo)", "sum by (\"a.b\") (foo)");
    /* names that would not read back bare are quoted inside the braces */
    check_fmt("{\"by\"}", "{\"by\"}");
    check_fmt("{\"sum\", b=\"c\", a=\"b\"}", "{\"sum\",a=\"b\",b=\"c\"}");
    check_fmt("{\"my.metric\"}", "{\"my.metric\"}");
}

static void test_errors(void **state) {
    (void)state;
    check_err("", "unknown position: parse error: no expression found in input");
    check_err("foo +", "1:6: parse error: unexpected end of input");
    check_err("1 < 2", "1:3: parse error: comparisons between scalars must use BOOL modifier");
    check_err("rate(foo)",
              "1:6: parse error: expected type range vector in call to function \"rate\", got instant vector");
    check_err("abs(foo[5m])",
              "1:5: parse error: expected type instant vector in call to function \"abs\", got range vector");
    check_err("rate(foo[5m], 1)", "1:1: parse error: expected 1 argument(s) in call to \"rate\", got 2");
    check_err("label_join(foo)", "1:1: parse error: expected at least 3 argument(s) in call to \"label_join\", got 1");
    check_err("round(foo, 1, 2)", "1:1: parse error: expected at most 2 argument(s) in call to \"round\", got 3");
    check_err("foo[5m][5m]", "1:1: parse error: ranges only allowed for vector selectors");
    check_err("1 + \"a\"", "1:5: parse error: binary expression must contain only scalar and instant vector types");
    check_err("foo and 1", "1:5: parse error: set operator \"and\" not allowed in binary scalar expression");
    check_err("foo + bool bar", "1:5: parse error: bool modifier can only be used on comparison operators");
    check_err("{a=\"\"}", "1:1: parse error: vector selector must contain at least one non-empty matcher");
    check_err("foo bar", "1:5: parse error: unexpected identifier \"bar\"");
    check_err("sum(foo[5m])",
              "1:5: parse error: expected type instant vector in aggregation expression, got range vector");
    check_err("topk(foo, bar)", "1:6: parse error: expected type scalar in aggregation parameter, got instant vector");
    check_err("unknownfn(foo)", "1:1: parse error: unknown function with name \"unknownfn\"");
    check_err("foo @ 1 @ 2", "1:9: parse error: @ <timestamp> may not be set multiple times");
    check_err("foo offset 1m offset 2m", "1:15: parse error: offset may not be set multiple times");
    check_err("foo{a=\"b\"", "1:10: parse error: unexpected end of input in label matching, expected \",\" or \"}\"");
    check_err("foo ~ bar", "1:5: parse error: unexpected character: '~'");
    check_err("foo\n  + )", "2:5: parse error: unexpected right parenthesis ')'");
    check_err("\"abc", "1:1: parse error: unterminated quoted string");
    check_err("foo{a=~\"(\"}", "1:5: parse error: error parsing regexp: missing closing parenthesis: `(`");
    check_err("foo{a=\"b\"} + on(a) group_left(a) bar",
              "1:12: parse error: label \"a\" must not occur in ON and GROUP clause at once");
    check_err("foo and on(a) group_left bar", "1:5: parse error: no grouping allowed for \"and\" operation");
    check_err("foo[5m:1m][1m]", "1:1: parse error: ranges only allowed for vector selectors");
    check_err("(foo + bar) offset 5m",
              "1:13: parse error: offset modifier must be preceded by an instant vector selector or range vector "
              "selector or a subquery");
    check_err("1 + 2)", "1:6: parse error: unexpected right parenthesis ')'");
    check_err("foo{bar}",
              "1:8: parse error: unexpected right brace '}' in label matching, expected label matching operator");
    check_err("3x", "1:1: parse error: bad number or duration syntax: \"3x\"");
}

static void test_fuzz_corpus(void **state) {
    (void)state;
    /* Malformed inputs must fail cleanly (no crash, no leak under ASan). */
    static const char *bad[] = {
        "(((((",
        ")",
        "}",
        "{",
        "[",
        "foo[",
        "foo[5m",
        "foo[5m:",
        "foo @",
        "foo offset",
        "sum by",
        "sum(",
        "topk(",
        "a + on(",
        "a + on(b",
        "a + on(b) group_left(",
        "\"\\",
        "'\\u12'",
        "\"\\xZZ\"",
        "`",
        "0x",
        "1e",
        "foo{a=",
        "foo{a=\"b\",,}",
        "rate(foo[5m]",
        "label_replace(",
        "@ 5",
        "foo @ start(",
        "---",
        "foo[-5m]",
        "count_values(1, foo)",
        "quantile(\"a\", foo)",
        "sum(foo) by (a) by (b)",
        "a ! b",
        "foo{\"a\"=}",
        "\x01",
        "\xff\xfe",
        "1 +\n\n\n*",
        "foo[1y2y]",
        "foo offset 9999999999999999999999y",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        promql_expr_t *e = NULL;
        pl_err_t err;
        int rc = promql_parse(bad[i], &e, &err);
        if (rc == 0) fprintf(stderr, "unexpectedly parsed: %s\n", bad[i]);
        assert_int_equal(rc, -1);
        assert_non_null(strstr(err.msg, "parse error"));
    }
}

static void test_lexer(void **state) {
    (void)state;
    promql_lexer_t lx;
    promql_token_t t;
    promql_lex_init(&lx, "foo{a=~\"x\"}[5m:1m] >= bool # comment\n 0x1f != 1.5e-3");
    enum promql_tok want[] = {PROMQL_TOK_IDENT,  PROMQL_TOK_LBRACE,   PROMQL_TOK_IDENT,    PROMQL_TOK_EQL_REGEX,
                              PROMQL_TOK_STRING, PROMQL_TOK_RBRACE,   PROMQL_TOK_LBRACKET, PROMQL_TOK_DURATION,
                              PROMQL_TOK_COLON,  PROMQL_TOK_DURATION, PROMQL_TOK_RBRACKET, PROMQL_TOK_GTE,
                              PROMQL_TOK_IDENT,  PROMQL_TOK_NUMBER,   PROMQL_TOK_NEQ,      PROMQL_TOK_NUMBER,
                              PROMQL_TOK_EOF};
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        promql_lex_next(&lx, &t);
        assert_int_equal(t.type, want[i]);
    }
    int64_t ms;
    assert_int_equal(promql_parse_duration_token("1h30m", 5, &ms), 0);
    assert_int_equal(ms, 5400000);
    assert_int_equal(promql_parse_duration_token("30m1h", 5, &ms), -1);
    assert_int_equal(promql_parse_duration_token("5", 1, &ms), -1);
}

PL_TEST_MAIN(cmocka_unit_test(test_precedence), cmocka_unit_test(test_numbers_and_strings),
             cmocka_unit_test(test_selectors), cmocka_unit_test(test_printer), cmocka_unit_test(test_errors),
             cmocka_unit_test(test_fuzz_corpus), cmocka_unit_test(test_lexer))
