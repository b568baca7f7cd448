/* test_relabel.c — the relabeling engine against Prometheus's semantics.
 *
 * Vectors marked "Prometheus 2.42" were produced by the real Prometheus
 * (/usr/bin/prometheus, 2.42.0+ds) on 127.0.0.1: a static target list with
 * the same labels and relabel_configs, read back from /api/v1/targets
 * (labels). They cover hashmod (moduli 7, 1000003, 2^64-1, two sources with
 * a separator), lowercase/uppercase on non-ASCII text, replace templates
 * ($1, ${1}, $name, $$, "$1x", "$01", "${1-"), target templating, labelmap
 * (including two names mapping to one), "." against a newline and an
 * expanded target that is not a label name. */
#include "testutil.h"

#include "config/config.h"
#include "relabel/relabel.h"

/* ---- helpers ---------------------------------------------------------------- */

typedef struct {
    enum relabel_action action;
    const char *src[4]; /* NULL-terminated */
    const char *separator, *regex, *target, *replacement;
    uint64_t modulus;
} rule_t;

/* Compiles rules written as rule_t (NULL fields take Prometheus's defaults). */
static relabel_rules_t *compile_n(const rule_t *rs, size_t n, pl_err_t *err) {
    relabel_config_t cfg[16];
    assert_true(n <= 16);
    memset(cfg, 0, sizeof cfg);
    for (size_t i = 0; i < n; i++) {
        size_t ns = 0;
        while (ns < 4 && rs[i].src[ns])
            ns++;
        cfg[i].source_labels = (char **)rs[i].src;
        cfg[i].nsource_labels = ns;
        cfg[i].separator = (char *)(rs[i].separator ? rs[i].separator : ";");
        cfg[i].regex = (char *)(rs[i].regex ? rs[i].regex : "(.*)");
        cfg[i].target_label = (char *)rs[i].target;
        cfg[i].replacement = (char *)(rs[i].replacement ? rs[i].replacement : "$1");
        cfg[i].modulus = rs[i].modulus;
        cfg[i].action = rs[i].action;
        cfg[i].line = (int)i + 1;
    }
    return relabel_compile(cfg, n, err);
}

static relabel_rules_t *compile1(rule_t r) {
    pl_err_t err = {{0}};
    relabel_rules_t *rules = compile_n(&r, 1, &err);
    if (!rules) fail_msg("compile: %s", err.msg);
    return rules;
}

/* Runs rules over labels given as name, value, ..., NULL and returns the
 * result as `{a="1", b="2"}` (malloc'd), or "DROP". */
static char *run(const relabel_rules_t *rules, const char *const *kv) {
    label_t in[32];
    size_t n = 0;
    for (; kv[2 * n]; n++)
        in[n] = (label_t){kv[2 * n], kv[2 * n + 1]};
    relabel_labels_t b = RELABEL_LABELS_INIT;
    assert_int_equal(relabel_labels_reset(&b, in, n), 0);
    int rc = relabel_process(rules, &b);
    assert_true(rc == RELABEL_KEPT || rc == RELABEL_DROPPED);
    char *s;
    if (rc == RELABEL_DROPPED) {
        s = strdup("DROP");
    } else {
        size_t nout;
        const label_t *out = relabel_labels_result(&b, &nout);
        strbuf_t sb = STRBUF_INIT;
        labels_format_braces(&sb, out, nout);
        s = strbuf_detach(&sb);
    }
    relabel_labels_free(&b);
    return s;
}

#define L(...) ((const char *const[]){__VA_ARGS__, NULL})

#define EXPECT(rules, kv, want)                                                                                        \
    do {                                                                                                               \
        char *got_ = run((rules), (kv));                                                                               \
        if (strcmp(got_, (want)) != 0) fail_msg("line %d:\n  got  %s\n  want %s", __LINE__, got_, (want));             \
        free(got_);                                                                                                    \
    } while (0)

/* One rule, one input, one expectation. */
static void check1(rule_t r, const char *const *kv, const char *want, int line) {
    relabel_rules_t *rules = compile1(r);
    char *got = run(rules, kv);
    if (strcmp(got, want) != 0) fail_msg("line %d:\n  got  %s\n  want %s", line, got, want);
    free(got);
    relabel_rules_free(rules);
}
#define CHECK1(r, kv, want) check1((r), (kv), (want), __LINE__)

/* ---- replace ---------------------------------------------------------------- */

static void test_replace_defaults(void **state) {
    (void)state;
    /* Default regex (.*) and replacement $1 copy the joined value. */
    CHECK1(((rule_t){RELABEL_REPLACE, {"a"}, .target = "b"}), L("a", "foo"), "{a=\"foo\", b=\"foo\"}");
    /* Separator ";" between the values; a missing label joins as "". */
    CHECK1(((rule_t){RELABEL_REPLACE, {"a", "missing", "c"}, .target = "d"}), L("a", "x", "c", "z"),
           "{a=\"x\", c=\"z\", d=\"x;;z\"}");
    /* An empty joined value through the default rule deletes the target. */
    CHECK1(((rule_t){RELABEL_REPLACE, {"missing"}, .target = "a"}), L("a", "1", "b", "2"), "{b=\"2\"}");
    /* No source labels: the value is "", a literal replacement is still written. */
    CHECK1(((rule_t){RELABEL_REPLACE, .target = "env", .replacement = "prod"}), L("a", "1"), "{a=\"1\", env=\"prod\"}");
    /* Overwrites an existing label. */
    CHECK1(((rule_t){RELABEL_REPLACE, {"a"}, .target = "b", .replacement = "x$1"}), L("a", "1", "b", "old"),
           "{a=\"1\", b=\"x1\"}");
}

static void test_replace_no_match_no_change(void **state) {
    (void)state;
    CHECK1(((rule_t){RELABEL_REPLACE, {"a"}, .regex = "b.*", .target = "a", .replacement = "zzz"}), L("a", "abc"),
           "{a=\"abc\"}");
    /* Fully anchored: "b" does not match inside "abc", nor "abc\n". */
    CHECK1(((rule_t){RELABEL_REPLACE, {"a"}, .regex = "b", .target = "t", .replacement = "y"}), L("a", "abc"),
           "{a=\"abc\"}");
    CHECK1(((rule_t){RELABEL_REPLACE, {"a"}, .regex = "a(b)c", .target = "t", .replacement = "y"}), L("a", "abc\n"),
           "{a=\"abc\\n\"}");
    /* "." does not match a newline (no (?s) in Prometheus's relabel regex),
     * both through the (.*) fast path and through PCRE2. */
    CHECK1(((rule_t){RELABEL_REPLACE, {"a"}, .target = "t"}), L("a", "x\ny"), "{a=\"x\\ny\"}");
    CHECK1(((rule_t){RELABEL_REPLACE, {"a"}, .regex = "(.+)", .target = "t"}), L("a", "x\ny"), "{a=\"x\\ny\"}");
    CHECK1(((rule_t){RELABEL_REPLACE, {"a"}, .regex = "(?s)(.+)", .target = "t"}), L("a", "x\ny"),
           "{a=\"x\\ny\", t=\"x\\ny\"}");
}

static void test_replace_templates(void **state) {
    (void)state;
    /* Prometheus 2.42: __address__ "a:1", regex ([a-z]+):(?P<port>.*),
     * target_label t_${1}, replacement p$port-$2-$$-${1}x. */
    rule_t r = {RELABEL_REPLACE,
                {"__address__"},
                .regex = "([a-z]+):(?P<port>.*)",
                .target = "t_${1}",
                .replacement = "p$port-$2-$$-${1}x"};
    CHECK1(r, L("__address__", "a:1"), "{__address__=\"a:1\", t_a=\"p1-1-$-ax\"}");
    CHECK1(r, L("__address__", "localhost:9090"),
           "{__address__=\"localhost:9090\", t_localhost=\"p9090-9090-$-localhostx\"}");
    CHECK1(r, L("__address__", "10.0.0.1:80"), "{__address__=\"10.0.0.1:80\"}");

    /* Go's Expand: "$1x" names group "1x", which does not exist: empty. */
    CHECK1(((rule_t){RELABEL_REPLACE, {"a"}, .regex = "(a)", .target = "t", .replacement = "$1x"}),
           L("a", "a", "t", "old"), "{a=\"a\"}");
    CHECK1(((rule_t){RELABEL_REPLACE, {"a"}, .regex = "(a)", .target = "t", .replacement = "${1}x"}), L("a", "a"),
           "{a=\"a\", t=\"ax\"}");
    /* A '$' without a name stays text; so does an unclosed brace. */
    CHECK1(((rule_t){RELABEL_REPLACE, {"a"}, .regex = "(a)", .target = "t", .replacement = "$-${1-$"}), L("a", "a"),
           "{a=\"a\", t=\"$-${1-$\"}");
    /* $0 is the whole match; groups past the last one expand to nothing;
     * "$01" has a leading zero, so it is a name, not a number. */
    CHECK1(((rule_t){RELABEL_REPLACE, {"a"}, .regex = "(b)(c)?", .target = "t", .replacement = "<$0|$2|$9|$01>"}),
           L("a", "b"), "{a=\"b\", t=\"<b|||>\"}");
    /* Named groups, both syntaxes of reference. */
    CHECK1(((rule_t){RELABEL_REPLACE,
                     {"a"},
                     .regex = "(?P<host>[^:]+):(?P<port>\\d+)",
                     .target = "t",
                     .replacement = "${port}@$host"}),
           L("a", "db:5432"), "{a=\"db:5432\", t=\"5432@db\"}");
    /* Separator and template together. */
    CHECK1(((rule_t){RELABEL_REPLACE,
                     {"a", "b"},
                     .separator = "/",
                     .regex = "(.*)/(.*)",
                     .target = "t",
                     .replacement = "$2.$1"}),
           L("a", "x", "b", "y"), "{a=\"x\", b=\"y\", t=\"y.x\"}");
    /* A literal replacement with '$$' is still expanded. */
    CHECK1(((rule_t){RELABEL_REPLACE, {"a"}, .target = "t", .replacement = "$$5"}), L("a", "v"), "{a=\"v\", t=\"$5\"}");
}

static void test_replace_invalid_target(void **state) {
    (void)state;
    /* The expanded target is not a label name: no change at all. */
    rule_t r = {RELABEL_REPLACE, {"a"}, .regex = "(.*)", .target = "${1}", .replacement = "v"};
    CHECK1(r, L("a", "foo-bar"), "{a=\"foo-bar\"}");
    CHECK1(r, L("a", "9lives"), "{a=\"9lives\"}");
    CHECK1(r, L("a", "ok_name"), "{a=\"ok_name\", ok_name=\"v\"}");
    /* Expanding to an empty name is invalid too. */
    CHECK1(((rule_t){RELABEL_REPLACE, {"a"}, .regex = "x(.*)", .target = "${1}", .replacement = "v"}), L("a", "x"),
           "{a=\"x\"}");
    /* A target that expands from a group, with a literal prefix. */
    CHECK1(((rule_t){RELABEL_REPLACE, {"a"}, .regex = "(\\w+)=(\\w+)", .target = "tag_$1", .replacement = "$2"}),
           L("a", "env=prod"), "{a=\"env=prod\", tag_env=\"prod\"}");
}

static void test_replace_empty_result_deletes(void **state) {
    (void)state;
    /* An unmatched optional group leaves an empty result: the target goes. */
    CHECK1(((rule_t){RELABEL_REPLACE, {"a"}, .regex = "x(y)?", .target = "b", .replacement = "$1"}),
           L("a", "x", "b", "was"), "{a=\"x\"}");
    /* Deleting an absent label is harmless. */
    CHECK1(((rule_t){RELABEL_REPLACE, {"a"}, .regex = "x(y)?", .target = "b", .replacement = "$1"}), L("a", "x"),
           "{a=\"x\"}");
    /* Empty input values count as absent and vanish from the result. */
    CHECK1(((rule_t){RELABEL_REPLACE, {"e"}, .regex = "", .target = "t", .replacement = "was_empty"}),
           L("a", "1", "e", ""), "{a=\"1\", t=\"was_empty\"}");
}

/* ---- keep / drop ------------------------------------------------------------ */

static void test_keep_drop(void **state) {
    (void)state;
    rule_t keep = {RELABEL_KEEP, {"__name__"}, .regex = "http_.*|up"};
    CHECK1(keep, L("__name__", "http_requests_total", "a", "1"), "{__name__=\"http_requests_total\", a=\"1\"}");
    CHECK1(keep, L("__name__", "up"), "{__name__=\"up\"}");
    CHECK1(keep, L("__name__", "go_goroutines"), "DROP");
    CHECK1(keep, L("a", "1"), "DROP"); /* "" does not match */

    rule_t drop = {RELABEL_DROP, {"__name__", "code"}, .separator = "@", .regex = "http_.*@5.."};
    CHECK1(drop, L("__name__", "http_x", "code", "503"), "DROP");
    CHECK1(drop, L("__name__", "http_x", "code", "200"), "{__name__=\"http_x\", code=\"200\"}");
    /* Literal regexes take a fast path; anchoring still applies. */
    CHECK1(((rule_t){RELABEL_DROP, {"job"}, .regex = "node"}), L("job", "node"), "DROP");
    CHECK1(((rule_t){RELABEL_DROP, {"job"}, .regex = "node"}), L("job", "node2"), "{job=\"node2\"}");
    CHECK1(((rule_t){RELABEL_DROP, {"job"}, .regex = "a|node|b"}), L("job", "node"), "DROP");
    /* An empty regex matches only the empty value. */
    CHECK1(((rule_t){RELABEL_DROP, {"x"}, .regex = ""}), L("job", "node"), "DROP");
    CHECK1(((rule_t){RELABEL_DROP, {"job"}, .regex = ""}), L("job", "node"), "{job=\"node\"}");
    /* A repeated group over a long value goes past the JIT stack; the
     * interpreter finishes the match instead of reporting no match. */
    {
        size_t n = 200000;
        char *big = malloc(n + 2);
        memset(big, 'a', n);
        big[n] = 'c';
        big[n + 1] = '\0';
        relabel_rules_t *deep = compile1((rule_t){RELABEL_DROP, {"v"}, .regex = "(a|b)*c"});
        label_t in[] = {{"v", big}};
        relabel_labels_t b = RELABEL_LABELS_INIT;
        assert_int_equal(relabel_labels_reset(&b, in, 1), 0);
        assert_int_equal(relabel_process(deep, &b), RELABEL_DROPPED);
        relabel_labels_free(&b);
        relabel_rules_free(deep);
        free(big);
    }
    /* Case-insensitive flag, as RE2 writes it. */
    CHECK1(((rule_t){RELABEL_KEEP, {"env"}, .regex = "(?i)prod"}), L("env", "PrOd"), "{env=\"PrOd\"}");
}

static void test_keepequal_dropequal(void **state) {
    (void)state;
    rule_t ke = {RELABEL_KEEPEQUAL, {"__meta_port"}, .target = "port"};
    CHECK1(ke, L("__meta_port", "80", "port", "80"), "{__meta_port=\"80\", port=\"80\"}");
    CHECK1(ke, L("__meta_port", "80", "port", "81"), "DROP");
    CHECK1(ke, L("__meta_port", "80"), "DROP");
    CHECK1(ke, L("x", "1"), "{x=\"1\"}"); /* both absent: "" == "" */

    rule_t de = {RELABEL_DROPEQUAL, {"a", "b"}, .target = "c"};
    CHECK1(de, L("a", "1", "b", "2", "c", "1;2"), "DROP");
    CHECK1(de, L("a", "1", "b", "2", "c", "1;3"), "{a=\"1\", b=\"2\", c=\"1;3\"}");
}

/* ---- hashmod ---------------------------------------------------------------- */

/* Prometheus 2.42, target labels of a static target list with hashmod rules
 * on __address__ (modulus 7, 1000003, 2^64-1) and on __address__ "/" job
 * (job "hm", modulus 13). */
static const struct {
    const char *address;
    uint64_t h7, hbig, hmax, hj;
} hash_vectors[] = {
    {"a:1", 5, 45634, 2014116905846636176ULL, 2},
    {"b:2", 3, 768514, 911193230757260069ULL, 1},
    {"host-3.example.com:9100", 2, 892769, 15655077160327478477ULL, 7},
    {"10.0.0.1:80", 2, 17653, 11097921703657247629ULL, 2},
    {"localhost:9090", 4, 253033, 4380205326771811618ULL, 9},
    {"x", 4, 400752, 17710500428000290726ULL, 7},
};

static void test_hashmod_prometheus_vectors(void **state) {
    (void)state;
    rule_t rs[] = {
        {RELABEL_HASHMOD, {"__address__"}, .target = "h7", .modulus = 7},
        {RELABEL_HASHMOD, {"__address__"}, .target = "hbig", .modulus = 1000003},
        {RELABEL_HASHMOD, {"__address__"}, .target = "hmax", .modulus = UINT64_MAX},
        {RELABEL_HASHMOD, {"__address__", "job"}, .separator = "/", .target = "hj", .modulus = 13},
    };
    pl_err_t err;
    relabel_rules_t *rules = compile_n(rs, 4, &err);
    assert_non_null(rules);
    for (size_t i = 0; i < sizeof hash_vectors / sizeof hash_vectors[0]; i++) {
        char want[512];
        snprintf(want, sizeof want,
                 "{__address__=\"%s\", h7=\"%llu\", hbig=\"%llu\", hj=\"%llu\", hmax=\"%llu\", job=\"hm\"}",
                 hash_vectors[i].address, (unsigned long long)hash_vectors[i].h7,
                 (unsigned long long)hash_vectors[i].hbig, (unsigned long long)hash_vectors[i].hj,
                 (unsigned long long)hash_vectors[i].hmax);
        EXPECT(rules, L("__address__", hash_vectors[i].address, "job", "hm"), want);
    }
    relabel_rules_free(rules);

    /* The raw value is the low 8 bytes of md5, big-endian:
     * md5("") = d41d8cd98f00b204 e9800998ecf8427e. */
    assert_true(relabel_hashmod("", 0, UINT64_MAX) == 0xe9800998ecf8427eULL % UINT64_MAX);
    /* md5("The quick brown fox jumps over the lazy dog") = 9e107d9d372bb682 6bd81d3542a419d6;
     * 56..64-byte inputs exercise the two-block padding. */
    const char *fox = "The quick brown fox jumps over the lazy dog";
    assert_true(relabel_hashmod(fox, strlen(fox), UINT64_MAX) == 0x6bd81d3542a419d6ULL);
    /* RFC 1321 vectors; 55, 56 and 64 bytes straddle the padding cases. */
    assert_true(relabel_hashmod("abc", 3, UINT64_MAX) == 0xd6963f7d28e17f72ULL);
    const char *s56 = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    assert_true(relabel_hashmod(s56, 56, UINT64_MAX) == 0xaae116d3876c664aULL);
    const char *s80 = "12345678901234567890123456789012345678901234567890123456789012345678901234567890";
    assert_true(relabel_hashmod(s80, 80, UINT64_MAX) == 0xac49da2e2107b67aULL);
    char a64[65];
    memset(a64, 'a', 64);
    a64[64] = 0;
    assert_true(relabel_hashmod(a64, 55, UINT64_MAX) == 0x358552954ad0df65ULL);
    assert_true(relabel_hashmod(a64, 64, UINT64_MAX) == 0x5a4a0363793f7367ULL);
    /* Modulus 1 always gives 0. */
    CHECK1(((rule_t){RELABEL_HASHMOD, {"a"}, .target = "h", .modulus = 1}), L("a", "zzz"), "{a=\"zzz\", h=\"0\"}");
}

/* ---- labelmap / labeldrop / labelkeep --------------------------------------- */

static void test_labelmap(void **state) {
    (void)state;
    /* Prometheus 2.42: regex src_(.+), replacement dst_${1}; originals stay. */
    CHECK1(((rule_t){RELABEL_LABELMAP, .regex = "src_(.+)", .replacement = "dst_${1}"}),
           L("src_foo", "x", "src_bar", "y", "other", "z"),
           "{dst_bar=\"y\", dst_foo=\"x\", other=\"z\", src_bar=\"y\", src_foo=\"x\"}");
    /* The usual Kubernetes form: default replacement $1. */
    CHECK1(((rule_t){RELABEL_LABELMAP, .regex = "__meta_kubernetes_pod_label_(.+)"}),
           L("__meta_kubernetes_pod_label_app", "web", "__meta_kubernetes_namespace", "ns"),
           "{__meta_kubernetes_namespace=\"ns\", __meta_kubernetes_pod_label_app=\"web\", app=\"web\"}");
    /* A mapped name overwrites an existing label; with two sources mapping
     * to one name the later one in name order wins. */
    CHECK1(((rule_t){RELABEL_LABELMAP, .regex = "[ab]_(x)"}), L("a_x", "1", "b_x", "2", "x", "0"),
           "{a_x=\"1\", b_x=\"2\", x=\"2\"}");
    /* Two groups, reordered. */
    CHECK1(((rule_t){RELABEL_LABELMAP, .regex = "(\\w+?)_to_(\\w+)", .replacement = "${2}_from_$1"}), L("a_to_b", "v"),
           "{a_to_b=\"v\", b_from_a=\"v\"}");
    /* Labels created by the rule are not mapped again in the same rule. */
    CHECK1(((rule_t){RELABEL_LABELMAP, .regex = "(.*)", .replacement = "x_$1"}), L("a", "1"), "{a=\"1\", x_a=\"1\"}");
}

static void test_labeldrop_labelkeep(void **state) {
    (void)state;
    const char *const *in = L("__name__", "http_requests_total", "user_id", "123", "session_id", "s", "endpoint",
                              "/api", "instance", "h:1", "job", "j");
    const char *dropped = "{__name__=\"http_requests_total\", endpoint=\"/api\", instance=\"h:1\", job=\"j\"}";
    /* The literal-alternation fast path and PCRE2 agree. */
    CHECK1(((rule_t){RELABEL_LABELDROP, .regex = "user_id|session_id"}), in, dropped);
    CHECK1(((rule_t){RELABEL_LABELDROP, .regex = "(?:user_id|session_id)"}), in, dropped);
    CHECK1(((rule_t){RELABEL_LABELDROP, .regex = ".*_id"}), in, dropped);
    /* Anchored: "id" matches no name. */
    CHECK1(((rule_t){RELABEL_LABELDROP, .regex = "id"}), L("user_id", "1"), "{user_id=\"1\"}");
    /* labelkeep: everything else goes, __name__ too unless kept. */
    CHECK1(((rule_t){RELABEL_LABELKEEP, .regex = "__name__|job|instance"}), in,
           "{__name__=\"http_requests_total\", instance=\"h:1\", job=\"j\"}");
    CHECK1(((rule_t){RELABEL_LABELKEEP, .regex = "job"}), in, "{job=\"j\"}");
}

static void test_labeldrop_after_set(void **state) {
    (void)state;
    /* Labels added by an earlier rule are dropped and kept like the others. */
    rule_t rs[] = {
        {RELABEL_REPLACE, {"a"}, .target = "tmp_copy"},
        {RELABEL_REPLACE, {"a"}, .target = "keepme"},
        {RELABEL_LABELDROP, .regex = "tmp_.*"},
        {RELABEL_LABELKEEP, .regex = "keepme|b"},
    };
    pl_err_t err;
    relabel_rules_t *rules = compile_n(rs, 4, &err);
    assert_non_null(rules);
    EXPECT(rules, L("a", "1", "b", "2"), "{b=\"2\", keepme=\"1\"}");
    relabel_rules_free(rules);
}

/* ---- lowercase / uppercase --------------------------------------------------- */

static void test_lowercase_uppercase(void **state) {
    (void)state;
    /* Prometheus 2.42 on "ÄbC-ſ-ǅ-ß" (Go's simple case mapping per rune). */
    rule_t rs[] = {
        {RELABEL_LOWERCASE, {"mixed"}, .target = "lc"},
        {RELABEL_UPPERCASE, {"mixed"}, .target = "uc"},
    };
    pl_err_t err;
    relabel_rules_t *rules = compile_n(rs, 2, &err);
    assert_non_null(rules);
    EXPECT(rules, L("mixed", "ÄbC-ſ-ǅ-ß"), "{lc=\"äbc-ſ-ǆ-ß\", mixed=\"ÄbC-ſ-ǅ-ß\", uc=\"ÄBC-S-Ǆ-ß\"}");
    /* Invalid UTF-8 becomes U+FFFD, as Go's strings.Map does. */
    EXPECT(rules, L("mixed", "A\xff"), "{lc=\"a\xef\xbf\xbd\", mixed=\"A\xff\", uc=\"A\xef\xbf\xbd\"}");
    /* An empty source deletes the target. */
    EXPECT(rules, L("lc", "old", "x", "1"), "{x=\"1\"}");
    relabel_rules_free(rules);
    /* Joined sources, written over the source itself. */
    CHECK1(((rule_t){RELABEL_LOWERCASE, {"a", "b"}, .target = "a"}), L("a", "HeLLo", "b", "WORLD"),
           "{a=\"hello;world\", b=\"WORLD\"}");
}

/* ---- chains, builder, compile --------------------------------------------------- */

static void test_chained_rules(void **state) {
    (void)state;
    /* A target-relabeling style chain: keep by a meta label, build the
     * address, copy a meta label, drop by the new label. */
    rule_t rs[] = {
        {RELABEL_KEEP, {"__meta_scrape"}, .regex = "true"},
        {RELABEL_REPLACE, {"__meta_ip", "__meta_port"}, .separator = ":", .target = "__address__"},
        {RELABEL_REPLACE, {"__meta_zone"}, .regex = "(.+)[a-z]", .target = "region"},
        {RELABEL_UPPERCASE, {"region"}, .target = "REGION"},
        {RELABEL_DROP, {"region"}, .regex = "eu-west-1"},
        {RELABEL_LABELDROP, .regex = "__meta_.*"},
    };
    pl_err_t err;
    relabel_rules_t *rules = compile_n(rs, 6, &err);
    assert_non_null(rules);
    assert_int_equal(relabel_rules_count(rules), 6);
    EXPECT(rules,
           L("__meta_scrape", "true", "__meta_ip", "10.1.2.3", "__meta_port", "9100", "__meta_zone", "us-east-1b"),
           "{REGION=\"US-EAST-1\", __address__=\"10.1.2.3:9100\", region=\"us-east-1\"}");
    EXPECT(rules, L("__meta_scrape", "false", "__meta_ip", "10.1.2.3"), "DROP");
    EXPECT(rules, L("__meta_scrape", "true", "__meta_zone", "eu-west-1a"), "DROP");
    relabel_rules_free(rules);

    /* A later rule sees what an earlier one wrote. */
    rule_t rs2[] = {
        {RELABEL_REPLACE, .target = "stage", .replacement = "1"},
        {RELABEL_REPLACE, {"stage"}, .target = "stage", .replacement = "${1}2"},
        {RELABEL_KEEPEQUAL, {"stage"}, .target = "want"},
    };
    rules = compile_n(rs2, 3, &err);
    assert_non_null(rules);
    EXPECT(rules, L("want", "12"), "{stage=\"12\", want=\"12\"}");
    EXPECT(rules, L("want", "1"), "DROP");
    relabel_rules_free(rules);
}

static void test_builder_api(void **state) {
    (void)state;
    relabel_labels_t b = RELABEL_LABELS_INIT;
    /* Unsorted input comes out sorted; empty values are dropped. */
    label_t in[] = {{"z", "26"}, {"a", "1"}, {"m", ""}, {"c", "3"}};
    assert_int_equal(relabel_labels_reset(&b, in, 4), 0);
    assert_string_equal(relabel_labels_get(&b, "a"), "1");
    assert_string_equal(relabel_labels_get(&b, "m"), "");
    assert_string_equal(relabel_labels_get(&b, "nope"), "");
    assert_int_equal(relabel_labels_set(&b, "b", "2"), 0);
    assert_int_equal(relabel_labels_set(&b, "a", "one"), 0);
    relabel_labels_del(&b, "z");
    assert_int_equal(relabel_labels_set(&b, "c", ""), 0); /* "" deletes */
    size_t n;
    const label_t *out = relabel_labels_result(&b, &n);
    strbuf_t sb = STRBUF_INIT;
    labels_format_braces(&sb, out, n);
    assert_string_equal(sb.data, "{a=\"one\", b=\"2\"}");
    /* NULL rules keep everything. */
    assert_int_equal(relabel_process(NULL, &b), RELABEL_KEPT);
    /* Reuse: a new set replaces the old one entirely. */
    assert_int_equal(relabel_labels_reset(&b, in, 2), 0);
    out = relabel_labels_result(&b, &n);
    strbuf_reset(&sb);
    labels_format_braces(&sb, out, n);
    assert_string_equal(sb.data, "{a=\"1\", z=\"26\"}");
    /* The one-call form the scrape hooks use. */
    relabel_rules_t *dropper = compile1((rule_t){RELABEL_DROP, {"a"}, .regex = "1"});
    const label_t *res;
    assert_int_equal(relabel_apply(dropper, &b, in, 4, &res, &n), RELABEL_DROPPED);
    assert_null(res);
    label_t keep_in[] = {{"b", "2"}, {"a", "0"}};
    assert_int_equal(relabel_apply(dropper, &b, keep_in, 2, &res, &n), RELABEL_KEPT);
    assert_int_equal(n, 2);
    assert_string_equal(res[0].name, "a");
    assert_string_equal(res[1].value, "2");
    relabel_rules_free(dropper);
    /* Empty set, empty rule list. */
    pl_err_t err;
    relabel_rules_t *none = relabel_compile(NULL, 0, &err);
    assert_non_null(none);
    assert_int_equal(relabel_labels_reset(&b, NULL, 0), 0);
    assert_int_equal(relabel_process(none, &b), RELABEL_KEPT);
    out = relabel_labels_result(&b, &n);
    assert_int_equal(n, 0);
    relabel_rules_free(none);
    strbuf_free(&sb);
    relabel_labels_free(&b);
    relabel_labels_free(&b); /* idempotent */
}

static void test_compile_errors(void **state) {
    (void)state;
    pl_err_t err = {{0}};
    rule_t bad_re[] = {{RELABEL_KEEP, {"a"}, .regex = "ok"}, {RELABEL_DROP, {"a"}, .regex = "(unclosed"}};
    assert_null(compile_n(bad_re, 2, &err));
    assert_non_null(strstr(err.msg, "relabel rule 2 (line 2)"));
    assert_non_null(strstr(err.msg, "error parsing regexp"));
    rule_t zero_mod = {RELABEL_HASHMOD, {"a"}, .target = "h", .modulus = 0};
    assert_null(compile_n(&zero_mod, 1, &err));
    assert_non_null(strstr(err.msg, "non-zero modulus"));
    /* target_label rules of Prometheus's Config.Validate. */
    rule_t no_target = {RELABEL_LOWERCASE, {"a"}, .target = NULL};
    assert_null(compile_n(&no_target, 1, &err));
    assert_non_null(strstr(err.msg, "requires 'target_label' value"));
    rule_t bad_target = {RELABEL_HASHMOD, {"a"}, .target = "not-a-name", .modulus = 3};
    assert_null(compile_n(&bad_target, 1, &err));
    assert_non_null(strstr(err.msg, "is invalid 'target_label' for hashmod action"));
    rule_t bad_literal = {RELABEL_REPLACE, {"a"}, .target = "1abc"};
    assert_null(compile_n(&bad_literal, 1, &err));
    rule_t templated = {RELABEL_REPLACE, {"a"}, .target = "x-$1"}; /* checked per use, after expansion */
    relabel_rules_t *ok = compile_n(&templated, 1, &err);
    assert_non_null(ok);
    relabel_rules_free(ok);
}

/* Rules as the config loader hands them over, defaults applied there. */
static void test_from_config_file(void **state) {
    (void)state;
    static const char yaml[] = "scrape_configs:\n"
                               "  - job_name: app\n"
                               "    static_configs: [{targets: ['h:1']}]\n"
                               "    metric_relabel_configs:\n"
                               "      - source_labels: [__name__]\n"
                               "        regex: 'go_.*'\n"
                               "        action: drop\n"
                               "      - regex: user_id\n"
                               "        action: labeldrop\n"
                               "      - source_labels: [endpoint]\n"
                               "        target_label: ep\n"
                               "      - source_labels: [__address__]\n"
                               "        modulus: 7\n"
                               "        target_label: shard\n"
                               "        action: hashmod\n";
    config_t *c = NULL;
    pl_err_t err;
    if (config_load_string(yaml, sizeof yaml - 1, "t.yml", &c, &err) != 0) fail_msg("%s", err.msg);
    const scrape_config_t *sc = config_find_job(c, "app");
    relabel_rules_t *rules = relabel_compile(sc->metric_relabel_configs, sc->nmetric_relabel_configs, &err);
    config_free(c); /* the rules own copies */
    assert_non_null(rules);
    EXPECT(rules, L("__name__", "go_goroutines"), "DROP");
    EXPECT(rules, L("__name__", "http_requests_total", "user_id", "42", "endpoint", "/a", "__address__", "a:1"),
           "{__address__=\"a:1\", __name__=\"http_requests_total\", endpoint=\"/a\", ep=\"/a\", shard=\"5\"}");
    relabel_rules_free(rules);
}

/* Prometheus 2.42, one static target with these labels and rules; the
 * target's labels as /api/v1/targets showed them (before Prometheus added
 * instance and removed __address__). Covers Go's template corner cases, the
 * labelmap collision order, "." against a newline, an invalid expanded
 * target, and lowercase over joined sources. */
static void test_prometheus_242_semantics(void **state) {
    (void)state;
    rule_t rs[] = {
        {RELABEL_REPLACE, {"v"}, .regex = "(a)", .target = "t", .replacement = "$1x"},
        {RELABEL_REPLACE, {"v"}, .regex = "(a)", .target = "t2", .replacement = "$-${1-$"},
        {RELABEL_REPLACE, {"w"}, .regex = "(b)(c)?", .target = "t3", .replacement = "<$0|$2|$9|$01>"},
        {RELABEL_LABELMAP, .regex = "[ab]_(x)"},
        {RELABEL_REPLACE, {"nl"}, .target = "t_nl"},
        {RELABEL_REPLACE, {"inv"}, .regex = "(.*)", .target = "${1}", .replacement = "v"},
        {RELABEL_LOWERCASE, {"up", "w"}, .target = "low"},
    };
    pl_err_t err;
    relabel_rules_t *rules = compile_n(rs, sizeof rs / sizeof rs[0], &err);
    assert_non_null(rules);
    EXPECT(rules,
           L("__address__", "a:1", "job", "sem", "v", "a", "w", "b", "t", "old", "a_x", "1", "b_x", "2", "x", "0", "nl",
             "x\ny", "inv", "foo-bar", "up", "HeLLo"),
           "{__address__=\"a:1\", a_x=\"1\", b_x=\"2\", inv=\"foo-bar\", job=\"sem\", low=\"hello;b\", "
           "nl=\"x\\ny\", t2=\"$-${1-$\", t3=\"<b|||>\", up=\"HeLLo\", v=\"a\", w=\"b\", x=\"2\"}");
    relabel_rules_free(rules);
}

/* ---- steady state allocates nothing ---------------------------------------------- */

#if defined(__SANITIZE_ADDRESS__)
int __sanitizer_install_malloc_and_free_hooks(void (*malloc_hook)(const volatile void *, size_t),
                                              void (*free_hook)(const volatile void *));
static volatile size_t nmallocs;
static void count_malloc(const volatile void *p, size_t n) {
    (void)p;
    (void)n;
    nmallocs++;
}
static void count_free(const volatile void *p) { (void)p; }
#endif

static void test_steady_state_no_malloc(void **state) {
    (void)state;
#if defined(__SANITIZE_ADDRESS__)
    /* Every action, a PCRE2 regex, a template into the arena, case mapping. */
    rule_t rs[] = {
        {RELABEL_KEEP, {"__name__"}, .regex = "http_.+"},
        {RELABEL_REPLACE,
         {"instance"},
         .regex = "([a-z]+)-(\\d+):(?P<port>\\d+)",
         .target = "host_$1",
         .replacement = "$2-${port}"},
        {RELABEL_HASHMOD, {"instance", "job"}, .target = "shard", .modulus = 16},
        {RELABEL_LOWERCASE, {"method"}, .target = "method"},
        {RELABEL_UPPERCASE, {"job"}, .target = "JOB"},
        {RELABEL_LABELMAP, .regex = "src_(.+)"},
        {RELABEL_LABELDROP, .regex = "user_id|session_id"},
        {RELABEL_LABELKEEP, .regex = "[a-zA-Z_].*"},
        {RELABEL_KEEPEQUAL, {"job"}, .target = "job"},
        {RELABEL_DROPEQUAL, {"job"}, .target = "instance"},
    };
    pl_err_t err;
    relabel_rules_t *rules = compile_n(rs, sizeof rs / sizeof rs[0], &err);
    assert_non_null(rules);
    label_t in[] = {{"__name__", "http_requests_total"},
                    {"instance", "web-1:8080"},
                    {"job", "api"},
                    {"method", "GET"},
                    {"src_team", "core"},
                    {"user_id", "123"},
                    {"session_id", "abc"},
                    {"endpoint", "/v1/things"}};
    relabel_labels_t b = RELABEL_LABELS_INIT;
    size_t n = 0;
    for (int warm = 0; warm < 3; warm++) {
        assert_int_equal(relabel_labels_reset(&b, in, 8), 0);
        assert_int_equal(relabel_process(rules, &b), RELABEL_KEPT);
        assert_non_null(relabel_labels_result(&b, &n));
    }
    __sanitizer_install_malloc_and_free_hooks(count_malloc, count_free);
    /* The hook sees allocations (so a zero below means something). */
    nmallocs = 0;
    void *probe = malloc(16);
    assert_int_equal(nmallocs, 1);
    free(probe);
    nmallocs = 0;
    for (int i = 0; i < 1000; i++) {
        relabel_labels_reset(&b, in, 8);
        relabel_process(rules, &b);
        relabel_labels_result(&b, &n);
    }
    size_t seen = nmallocs;
    __sanitizer_install_malloc_and_free_hooks(NULL, NULL);
    assert_int_equal(seen, 0);
    const label_t *out = relabel_labels_result(&b, &n);
    strbuf_t sb = STRBUF_INIT;
    labels_format_braces(&sb, out, n);
    assert_string_equal(sb.data, "{JOB=\"API\", __name__=\"http_requests_total\", endpoint=\"/v1/things\", "
                                 "host_web=\"1-8080\", instance=\"web-1:8080\", job=\"api\", method=\"get\", "
                                 "shard=\"9\", src_team=\"core\", team=\"core\"}");
    strbuf_free(&sb);
    relabel_labels_free(&b);
    relabel_rules_free(rules);
#else
    skip();
#endif
}

PL_TEST_MAIN(cmocka_unit_test(test_replace_defaults), cmocka_unit_test(test_replace_no_match_no_change),
             cmocka_unit_test(test_replace_templates), cmocka_unit_test(test_replace_invalid_target),
             cmocka_unit_test(test_replace_empty_result_deletes), cmocka_unit_test(test_keep_drop),
             cmocka_unit_test(test_keepequal_dropequal), cmocka_unit_test(test_hashmod_prometheus_vectors),
             cmocka_unit_test(test_labelmap), cmocka_unit_test(test_labeldrop_labelkeep),
             cmocka_unit_test(test_labeldrop_after_set), cmocka_unit_test(test_lowercase_uppercase),
             cmocka_unit_test(test_chained_rules), cmocka_unit_test(test_builder_api),
             cmocka_unit_test(test_compile_errors), cmocka_unit_test(test_from_config_file),
             cmocka_unit_test(test_prometheus_242_semantics), cmocka_unit_test(test_steady_state_no_malloc))
