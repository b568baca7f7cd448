/* test_timeutil.c — Prometheus's duration, size and time syntaxes. */
#include "testutil.h"

#include "util/timeutil.h"

#define SEC 1000LL
#define MIN (60 * SEC)
#define HOUR (60 * MIN)
#define DAY (24 * HOUR)
#define WEEK (7 * DAY)
#define YEAR (365 * DAY)

static void duration_ok(const char *s, int64_t want) {
    int64_t got = -12345;
    pl_err_t err = {{0}};
    if (pl_parse_duration(s, &got, &err) != 0) fail_msg("pl_parse_duration(\"%s\"): %s", s, err.msg);
    if (got != want) fail_msg("pl_parse_duration(\"%s\") = %lld, want %lld", s, (long long)got, (long long)want);
}

static void duration_err(const char *s, const char *want) {
    int64_t got = -12345;
    pl_err_t err = {{0}};
    if (pl_parse_duration(s, &got, &err) == 0) fail_msg("pl_parse_duration(\"%s\") accepted: %lld", s, (long long)got);
    assert_int_equal(got, -12345); /* untouched on error */
    assert_string_equal(err.msg, want);
}

static void test_parse_duration(void **state) {
    (void)state;
    duration_ok("0", 0);
    duration_ok("0s", 0);
    duration_ok("15s", 15 * SEC);
    duration_ok("1m", MIN);
    duration_ok("1h30m", HOUR + 30 * MIN);
    duration_ok("500ms", 500);
    duration_ok("15d", 15 * DAY);
    duration_ok("2w", 2 * WEEK);
    duration_ok("1y2w", YEAR + 2 * WEEK);
    duration_ok("1y1w1d1h1m1s1ms", YEAR + WEEK + DAY + HOUR + MIN + SEC + 1);
    duration_ok("90m", 90 * MIN); /* a unit may exceed the next one up */
    duration_ok("0001s", SEC);
    duration_ok("292y", 292 * YEAR); /* fits in Go's int64 nanoseconds */

    duration_err("", "empty duration string");
    duration_err("1x", "not a valid duration string: \"1x\"");
    duration_err("15", "not a valid duration string: \"15\"");
    duration_err("s", "not a valid duration string: \"s\"");
    duration_err("1m1h", "not a valid duration string: \"1m1h\""); /* largest unit first */
    duration_err("1s1s", "not a valid duration string: \"1s1s\""); /* each unit once */
    duration_err("1ms1s", "not a valid duration string: \"1ms1s\"");
    duration_err("-1s", "not a valid duration string: \"-1s\"");
    duration_err("1.5s", "not a valid duration string: \"1.5s\"");
    duration_err(" 1s", "not a valid duration string: \" 1s\"");
    duration_err("1s ", "not a valid duration string: \"1s \"");
    duration_err("1S", "not a valid duration string: \"1S\"");
    duration_err("1mss", "not a valid duration string: \"1mss\"");
    duration_err("293y", "duration out of range: \"293y\"");
    duration_err("9223372036854775807ms", "duration out of range: \"9223372036854775807ms\"");
    duration_err("99999999999999999999s", "duration out of range: \"99999999999999999999s\"");
    int64_t v;
    assert_int_equal(pl_parse_duration(NULL, &v, NULL), -1);
    assert_int_equal(pl_parse_duration("bad", &v, NULL), -1); /* err may be NULL */
}

static void format_is(int64_t ms, const char *want) {
    char buf[64];
    pl_format_duration(buf, sizeof buf, ms);
    if (strcmp(buf, want) != 0) fail_msg("pl_format_duration(%lld) = \"%s\", want \"%s\"", (long long)ms, buf, want);
}

static void test_format_duration(void **state) {
    (void)state;
    format_is(0, "0s");
    format_is(1, "1ms");
    format_is(15 * SEC, "15s");
    format_is(MIN, "1m");
    format_is(HOUR + 30 * MIN, "1h30m");
    format_is(HOUR + 1, "1h1ms");
    format_is(DAY + 2 * HOUR + 3 * MIN + 4 * SEC + 5, "1d2h3m4s5ms");
    /* Years and weeks only when they divide exactly, as Prometheus prints. */
    format_is(90 * DAY, "90d");
    format_is(14 * DAY, "2w");
    format_is(YEAR, "1y");
    format_is(2 * YEAR, "2y");
    format_is(366 * DAY, "366d");
    format_is(372 * DAY, "372d");
    format_is(WEEK + HOUR, "7d1h");
    format_is(-15 * SEC, "-15s");
    char small[4];
    pl_format_duration(small, sizeof small, HOUR + 30 * MIN); /* truncates, stays terminated */
    assert_int_equal(strlen(small), 3);

    /* Whatever is formatted parses back to the same value. */
    const int64_t values[] = {1,         999,      SEC,       59 * SEC,   61 * SEC, HOUR - 1,
                              25 * HOUR, 13 * DAY, WEEK * 52, YEAR + DAY, 3 * YEAR, 123456789012LL};
    for (size_t i = 0; i < sizeof values / sizeof values[0]; i++) {
        char buf[64];
        pl_format_duration(buf, sizeof buf, values[i]);
        duration_ok(buf, values[i]);
    }
}

static void size_ok(const char *s, int64_t want) {
    int64_t got = -1;
    pl_err_t err = {{0}};
    if (pl_parse_size(s, &got, &err) != 0) fail_msg("pl_parse_size(\"%s\"): %s", s, err.msg);
    if (got != want) fail_msg("pl_parse_size(\"%s\") = %lld, want %lld", s, (long long)got, (long long)want);
}

static void size_err(const char *s, const char *want) {
    int64_t got = -1;
    pl_err_t err = {{0}};
    if (pl_parse_size(s, &got, &err) == 0) fail_msg("pl_parse_size(\"%s\") accepted: %lld", s, (long long)got);
    assert_int_equal(got, -1);
    assert_string_equal(err.msg, want);
}

static void test_parse_size(void **state) {
    (void)state;
    size_ok("0", 0);
    size_ok("0B", 0);
    size_ok("1B", 1);
    size_ok("1KB", 1024);
    size_ok("1KiB", 1024);
    size_ok("10MB", 10LL << 20);
    size_ok("5GB", 5LL << 30); /* base 2, as Prometheus's --storage.tsdb.retention.size */
    size_ok("5GiB", 5LL << 30);
    size_ok("2TB", 2LL << 40);
    size_ok("1PB", 1LL << 50);
    size_ok("7EB", 7LL << 60);
    size_ok("1KB512B", 1536);
    size_ok("1GiB512MiB", (1LL << 30) + (512LL << 20));
    size_ok("1.5GB", 3LL << 29);
    size_ok(".5KB", 512);
    size_ok("2.KB", 2048);
    size_ok("0.001KB", 1); /* truncated, as Go's int64(float) */

    size_err("", "empty size string");
    size_err("100", "invalid size \"100\": unit must be one of B, KB, MB, GB, TB, PB, EB");
    size_err("1XB", "invalid size \"1XB\": unit must be one of B, KB, MB, GB, TB, PB, EB");
    size_err("1K", "invalid size \"1K\": unit must be one of B, KB, MB, GB, TB, PB, EB");
    size_err("1kb", "invalid size \"1kb\": unit must be one of B, KB, MB, GB, TB, PB, EB");
    size_err("KB", "invalid size \"KB\"");
    size_err("-1KB", "invalid size \"-1KB\"");
    size_err(".KB", "invalid size \".KB\"");
    size_err(" 1KB", "invalid size \" 1KB\"");
    size_err("1KB ", "invalid size \"1KB \"");
    size_err("8EB", "size out of range \"8EB\"");
    size_err("99999999999999999999B", "size out of range \"99999999999999999999B\"");
    size_err("4EB4EB", "size out of range \"4EB4EB\"");
}

static void time_ok(const char *s, int64_t want) {
    int64_t got = -1;
    pl_err_t err = {{0}};
    if (pl_parse_time(s, &got, &err) != 0) fail_msg("pl_parse_time(\"%s\"): %s", s, err.msg);
    if (got != want) fail_msg("pl_parse_time(\"%s\") = %lld, want %lld", s, (long long)got, (long long)want);
}

static void time_err(const char *s) {
    int64_t got = -1;
    pl_err_t err = {{0}};
    if (pl_parse_time(s, &got, &err) == 0) fail_msg("pl_parse_time(\"%s\") accepted: %lld", s, (long long)got);
    char want[128];
    snprintf(want, sizeof want, "cannot parse \"%s\" to a valid timestamp", s);
    assert_string_equal(err.msg, want);
}

static void test_parse_time(void **state) {
    (void)state;
    /* Unix seconds, with a fraction rounded to the millisecond. */
    time_ok("0", 0);
    time_ok("1700000000", 1700000000000LL);
    time_ok("1700000000.5", 1700000000500LL);
    time_ok("1700000000.123", 1700000000123LL);
    time_ok("1700000000.1234", 1700000000123LL);
    time_ok("-1.5", -1500);
    time_ok("1e9", 1000000000000LL);
    /* RFC 3339. */
    time_ok("1970-01-01T00:00:00Z", 0);
    time_ok("2023-11-14T22:13:20Z", 1700000000000LL);
    time_ok("2023-11-14T22:13:20.123Z", 1700000000123LL);
    time_ok("2023-11-14T22:13:20.123456789Z", 1700000000123LL);
    time_ok("2023-11-14T22:13:20.5Z", 1700000000500LL);
    time_ok("2023-11-14T23:13:20+01:00", 1700000000000LL);
    time_ok("2023-11-14T17:43:20-04:30", 1700000000000LL);
    time_ok("2024-02-29T00:00:00Z", 1709164800000LL); /* leap day */

    time_err("");
    time_err("abc");
    time_err(" 1700000000");
    time_err("1700000000 ");
    time_err("inf");
    time_err("NaN");
    time_err("1e400");
    time_err("2023-11-14");
    time_err("2023-11-14T22:13:20");      /* no zone */
    time_err("2023-11-14T22:13:20.Z");    /* empty fraction */
    time_err("2023-11-14T22:13:20+1:00"); /* short offset: once read past the end */
    time_err("2023-11-14T22:13:20+01:0");
    time_err("2023-11-14T22:13:20+01");
    time_err("2023-11-14T22:13:20+");
    time_err("2023-11-14T22:13:20+0100");
    time_err("2023-11-14T22:13:20+24:00");
    time_err("2023-11-14T22:13:20Zjunk");
    time_err("2023-02-30T00:00:00Z"); /* no 30th of February */
    time_err("2023-02-29T00:00:00Z");
    time_err("2023-11-14T24:00:00Z");
    time_err("2023-13-01T00:00:00Z");
}

static void test_format_rfc3339(void **state) {
    (void)state;
    char buf[40];
    pl_format_rfc3339(buf, sizeof buf, 0);
    assert_string_equal(buf, "1970-01-01T00:00:00.000Z");
    pl_format_rfc3339(buf, sizeof buf, 1700000000123LL);
    assert_string_equal(buf, "2023-11-14T22:13:20.123Z");
    pl_format_rfc3339(buf, sizeof buf, -1);
    assert_string_equal(buf, "1969-12-31T23:59:59.999Z");
    /* What it writes, pl_parse_time reads back. */
    const int64_t values[] = {0, 1, 999, 1700000000123LL, 1709164800000LL, -1500, 4102444800000LL};
    for (size_t i = 0; i < sizeof values / sizeof values[0]; i++) {
        pl_format_rfc3339(buf, sizeof buf, values[i]);
        time_ok(buf, values[i]);
    }
}

static void test_parse_duration_or_seconds(void **state) {
    (void)state;
    int64_t v = 0;
    pl_err_t err = {{0}};
    assert_int_equal(pl_parse_duration_or_seconds("15", &v, &err), 0);
    assert_int_equal(v, 15000);
    assert_int_equal(pl_parse_duration_or_seconds("1.5", &v, &err), 0);
    assert_int_equal(v, 1500);
    assert_int_equal(pl_parse_duration_or_seconds("0.001", &v, &err), 0);
    assert_int_equal(v, 1);
    assert_int_equal(pl_parse_duration_or_seconds("1m30s", &v, &err), 0);
    assert_int_equal(v, 90000);
    assert_int_equal(pl_parse_duration_or_seconds("x", &v, &err), -1);
    assert_string_equal(err.msg, "cannot parse \"x\" to a valid duration");
    assert_int_equal(pl_parse_duration_or_seconds("", &v, &err), -1);
    assert_string_equal(err.msg, "cannot parse \"\" to a valid duration");
    assert_int_equal(pl_parse_duration_or_seconds("1e300", &v, &err), -1);
    assert_string_equal(err.msg, "cannot parse \"1e300\" to a valid duration. It overflows int64");
}

static void test_clocks(void **state) {
    (void)state;
    int64_t now = pl_now_ms();
    assert_true(now > 1700000000000LL); /* after November 2023 */
    assert_true(now < 4102444800000LL); /* before 2100 */
    int64_t a = pl_monotonic_ns(), b = pl_monotonic_ns();
    assert_true(b >= a);
}

PL_TEST_MAIN(cmocka_unit_test(test_parse_duration), cmocka_unit_test(test_format_duration),
             cmocka_unit_test(test_parse_size), cmocka_unit_test(test_parse_time),
             cmocka_unit_test(test_format_rfc3339), cmocka_unit_test(test_parse_duration_or_seconds),
             cmocka_unit_test(test_clocks))
