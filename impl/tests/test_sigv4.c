/* test_sigv4.c — SHA-256 (FIPS 180-4 examples), HMAC-SHA256 (RFC 4231) and
 * AWS Signature Version 4: vectors from AWS's aws-sig-v4-test-suite
 * (service "service", us-east-1, 20150830T123600Z) and the worked S3 examples
 * of AWS's "Signature Calculations for the Authorization Header" page
 * (examplebucket, 20130524T000000Z). */
#include "testutil.h"

#include "objstore/sigv4.h"
#include "util/sha256.h"

static void hex_of(const void *d, size_t n, char *out) {
    uint8_t h[SHA256_LEN];
    sha256(d, n, h);
    pl_hex(h, SHA256_LEN, out);
}

static void test_sha256_vectors(void **state) {
    (void)state;
    char hex[65];
    hex_of("", 0, hex);
    assert_string_equal(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    hex_of("abc", 3, hex);
    assert_string_equal(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    const char *m448 = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    hex_of(m448, strlen(m448), hex);
    assert_string_equal(hex, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
    const char *m896 = "abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu";
    hex_of(m896, strlen(m896), hex);
    assert_string_equal(hex, "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1");
    /* one million 'a', fed in uneven pieces to exercise the buffering */
    sha256_ctx_t c;
    sha256_init(&c);
    char buf[997];
    memset(buf, 'a', sizeof buf);
    size_t left = 1000000;
    for (size_t step = 1; left; step = step % 900 + 13) {
        size_t k = step < left ? step : left;
        sha256_update(&c, buf, k);
        left -= k;
    }
    uint8_t d[SHA256_LEN];
    sha256_final(&c, d);
    pl_hex(d, SHA256_LEN, hex);
    assert_string_equal(hex, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
    hex_of("Welcome to Amazon S3.", 21, hex);
    assert_string_equal(hex, "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072");
}

static void hmac_hex(const void *k, size_t kl, const void *m, size_t ml, char *out) {
    uint8_t h[SHA256_LEN];
    hmac_sha256(k, kl, m, ml, h);
    pl_hex(h, SHA256_LEN, out);
}

static void test_hmac_rfc4231(void **state) {
    (void)state;
    char hex[65];
    uint8_t k1[20];
    memset(k1, 0x0b, sizeof k1);
    hmac_hex(k1, 20, "Hi There", 8, hex);
    assert_string_equal(hex, "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
    hmac_hex("Jefe", 4, "what do ya want for nothing?", 28, hex);
    assert_string_equal(hex, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
    uint8_t k3[20], m3[50];
    memset(k3, 0xaa, sizeof k3);
    memset(m3, 0xdd, sizeof m3);
    hmac_hex(k3, 20, m3, 50, hex);
    assert_string_equal(hex, "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe");
    /* test case 6: a 131-byte key (longer than the block: hashed first) */
    uint8_t k6[131];
    memset(k6, 0xaa, sizeof k6);
    const char *m6 = "Test Using Larger Than Block-Size Key - Hash Key First";
    hmac_hex(k6, sizeof k6, m6, strlen(m6), hex);
    assert_string_equal(hex, "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
}

/* ---- the generic test suite ------------------------------------------------- */

#define SUITE_AK "AKIDEXAMPLE"
#define SUITE_SK "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
#define EMPTY "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

static void suite_case(const char *method, const char *path, const sigv4_pair_t *q, size_t nq,
                       const sigv4_pair_t *extra, size_t nextra, const char *payload_hash, const char *want_signed,
                       const char *want_sig) {
    sigv4_pair_t h[8];
    size_t nh = 0;
    h[nh++] = (sigv4_pair_t){"Host", "example.amazonaws.com"};
    h[nh++] = (sigv4_pair_t){"X-Amz-Date", "20150830T123600Z"};
    for (size_t i = 0; i < nextra; i++) h[nh++] = extra[i];
    strbuf_t enc = STRBUF_INIT;
    sigv4_uri_encode(&enc, path, strlen(path), false);
    sigv4_input_t in = {
        .method = method,
        .encoded_path = enc.data,
        .query = q,
        .nquery = nq,
        .headers = h,
        .nheaders = nh,
        .payload_sha256_hex = payload_hash,
        .amz_date = "20150830T123600Z",
        .region = "us-east-1",
        .service = "service",
        .access_key = SUITE_AK,
        .secret_key = SUITE_SK,
    };
    strbuf_t auth = STRBUF_INIT, want = STRBUF_INIT;
    sigv4_authorization(&in, &auth);
    strbuf_printf(&want,
                  "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=%s, "
                  "Signature=%s",
                  want_signed, want_sig);
    assert_string_equal(auth.data, want.data);
    strbuf_free(&auth);
    strbuf_free(&want);
    strbuf_free(&enc);
}

static void test_suite_get_vanilla(void **state) {
    (void)state;
    suite_case("GET", "/", NULL, 0, NULL, 0, EMPTY, "host;x-amz-date",
               "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31");
    /* get-vanilla-query-order-key-case: parameters sorted by name */
    sigv4_pair_t q[] = {{"Param2", "value2"}, {"Param1", "value1"}};
    suite_case("GET", "/", q, 2, NULL, 0, EMPTY, "host;x-amz-date",
               "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500");
    /* get-vanilla-empty-query-key */
    suite_case("GET", "/", q + 1, 1, NULL, 0, EMPTY, "host;x-amz-date",
               "a67d582fa61cc504c4bae71f336f98b97f1ea3c7a6bfe1b6e45aec72011b9aeb");
}

static void test_suite_encoding(void **state) {
    (void)state;
    const char *unres = "-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    sigv4_pair_t q[] = {{unres, unres}};
    suite_case("GET", "/", q, 1, NULL, 0, EMPTY, "host;x-amz-date",
               "9c3e54bfcdf0b19771a7f523ee5669cdf59bc7cc0884027167c21bb143a40197");
    strbuf_t p = STRBUF_INIT;
    strbuf_printf(&p, "/%s", unres);
    suite_case("GET", p.data, NULL, 0, NULL, 0, EMPTY, "host;x-amz-date",
               "07ef7494c76fa4850883e2b006601f940f8a34d404d0cfa977f52a65bbf5f24f");
    strbuf_free(&p);
    /* get-utf8 and get-vanilla-utf8-query: U+1234 as UTF-8 */
    suite_case("GET", "/\xe1\x88\xb4", NULL, 0, NULL, 0, EMPTY, "host;x-amz-date",
               "8318018e0b0f223aa2bbf98705b62bb787dc9c0e678f255a891fd03141be5d85");
    sigv4_pair_t uq[] = {{"\xe1\x88\xb4", "bar"}};
    suite_case("GET", "/", uq, 1, NULL, 0, EMPTY, "host;x-amz-date",
               "2cdec8eed098649ff3a119c94853b13c643bcf08f8b0a1d91e12c9027818dd04");
    /* post-vanilla-query-nonunreserved */
    sigv4_pair_t nq[] = {{"@#$%^", ""}, {"+", "/,?><`\";:\\|][{}"}};
    suite_case("POST", "/", nq, 2, NULL, 0, EMPTY, "host;x-amz-date",
               "66c82657c86e26fb25238d0e69f011edc4c6df5ae71119d7cb98ed9b87393c1e");
    /* post-vanilla-query-space: "p" with an empty value */
    sigv4_pair_t sq[] = {{"p", ""}};
    suite_case("POST", "/", sq, 1, NULL, 0, EMPTY, "host;x-amz-date",
               "e71688addb58a26418614085fb730ba3faa623b461c17f48f2fbdb9361b94a9b");
}

static void test_suite_headers(void **state) {
    (void)state;
    /* get-header-value-trim: surrounding and inner runs of spaces */
    sigv4_pair_t trim[] = {{"My-Header1", " value1"}, {"My-Header2", " \"a   b   c\""}};
    suite_case("GET", "/", NULL, 0, trim, 2, EMPTY, "host;my-header1;my-header2;x-amz-date",
               "acc3ed3afb60bb290fc8d2dd0098b9911fcaa05412b367055dee359757a9c736");
    /* get-header-key-duplicate: repeated header, values joined in order */
    sigv4_pair_t dup[] = {{"My-Header1", "value2"}, {"My-Header1", "value2"}, {"My-Header1", "value1"}};
    suite_case("GET", "/", NULL, 0, dup, 3, EMPTY, "host;my-header1;x-amz-date",
               "c9d5ea9f3f72853aea855b47ea873832890dbdd183b4468f858259531a5138ea");
    /* get-header-value-order */
    sigv4_pair_t ord[] = {{"My-Header1", "value4"}, {"My-Header1", "value1"}, {"My-Header1", "value3"}, {"My-Header1", "value2"}};
    suite_case("GET", "/", NULL, 0, ord, 4, EMPTY, "host;my-header1;x-amz-date",
               "08c7e5a9acfcfeb3ab6b2185e75ce8b1deb5e634ec47601a50643f830c755c01");
    suite_case("POST", "/", NULL, 0, NULL, 0, EMPTY, "host;x-amz-date",
               "5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b");
    sigv4_pair_t vc[] = {{"My-Header1", "VALUE1"}};
    suite_case("POST", "/", NULL, 0, vc, 1, EMPTY, "host;my-header1;x-amz-date",
               "cdbc9802e29d2942e5e10b5bccfdd67c5f22c7c4e8ae67b53629efa58b974b7d");
    /* post-x-www-form-urlencoded: a body, so a real payload hash */
    char ph[65];
    hex_of("Param1=value1", 13, ph);
    assert_string_equal(ph, "9095672bbd1f56dfc5b65f3e153adc8731a4a654192329106275f4c7b24d0b6e");
    sigv4_pair_t ct[] = {{"Content-Type", "application/x-www-form-urlencoded"}};
    suite_case("POST", "/", NULL, 0, ct, 1, ph, "content-type;host;x-amz-date",
               "ff11897932ad3f4e8b18135d722051e5ac45fc38421b1da7b9d196a0fe09473a");
}

/* ---- S3's worked examples --------------------------------------------------- */

#define S3_AK "AKIAIOSFODNN7EXAMPLE"
#define S3_SK "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
#define S3_HOST "examplebucket.s3.amazonaws.com"

static void s3_case(const char *method, const char *key, const sigv4_pair_t *q, size_t nq, const sigv4_pair_t *extra,
                    size_t nextra, const char *payload, const char *want_sig, strbuf_t *creq_out) {
    sigv4_pair_t h[8];
    size_t nh = 0;
    h[nh++] = (sigv4_pair_t){"Host", S3_HOST};
    h[nh++] = (sigv4_pair_t){"x-amz-date", "20130524T000000Z"};
    h[nh++] = (sigv4_pair_t){"x-amz-content-sha256", payload};
    for (size_t i = 0; i < nextra; i++) h[nh++] = extra[i];
    strbuf_t enc = STRBUF_INIT;
    sigv4_uri_encode(&enc, key, strlen(key), false);
    sigv4_input_t in = {
        .method = method, .encoded_path = enc.data, .query = q, .nquery = nq, .headers = h, .nheaders = nh,
        .payload_sha256_hex = payload, .amz_date = "20130524T000000Z", .region = "us-east-1", .service = "s3",
        .access_key = S3_AK, .secret_key = S3_SK,
    };
    strbuf_t auth = STRBUF_INIT;
    sigv4_authorization(&in, &auth);
    const char *sig = strstr(auth.data, "Signature=");
    assert_non_null(sig);
    assert_string_equal(sig + 10, want_sig);
    assert_non_null(strstr(auth.data, "Credential=" S3_AK "/20130524/us-east-1/s3/aws4_request, "));
    if (creq_out) sigv4_canonical_request(&in, creq_out);
    strbuf_free(&auth);
    strbuf_free(&enc);
}

static void test_s3_examples(void **state) {
    (void)state;
    /* GET Object with a Range header */
    sigv4_pair_t range[] = {{"Range", "bytes=0-9"}};
    strbuf_t creq = STRBUF_INIT;
    s3_case("GET", "/test.txt", NULL, 0, range, 1, EMPTY,
            "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41", &creq);
    assert_string_equal(creq.data, "GET\n/test.txt\n\nhost:" S3_HOST "\nrange:bytes=0-9\n"
                                   "x-amz-content-sha256:" EMPTY "\nx-amz-date:20130524T000000Z\n\n"
                                   "host;range;x-amz-content-sha256;x-amz-date\n" EMPTY);
    strbuf_free(&creq);
    /* PUT Object: a '$' in the key, extra headers */
    char ph[65];
    hex_of("Welcome to Amazon S3.", 21, ph);
    sigv4_pair_t put[] = {{"Date", "Fri, 24 May 2013 00:00:00 GMT"}, {"x-amz-storage-class", "REDUCED_REDUNDANCY"}};
    s3_case("PUT", "/test$file.text", NULL, 0, put, 2, ph,
            "98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd", NULL);
    /* GET Bucket lifecycle: a value-less sub-resource becomes "lifecycle=" */
    sigv4_pair_t lc[] = {{"lifecycle", ""}};
    s3_case("GET", "/", lc, 1, NULL, 0, EMPTY, "fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543", NULL);
    /* GET Bucket (list objects) */
    sigv4_pair_t lo[] = {{"prefix", "J"}, {"max-keys", "2"}};
    s3_case("GET", "/", lo, 2, NULL, 0, EMPTY, "34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7", NULL);
}

static void test_secret_changes_signature(void **state) {
    (void)state;
    sigv4_pair_t h[] = {{"host", "h"}, {"x-amz-date", "20130524T000000Z"}};
    sigv4_input_t in = {.method = "GET", .encoded_path = "/b/k", .headers = h, .nheaders = 2,
                        .payload_sha256_hex = EMPTY, .amz_date = "20130524T000000Z", .region = "us-east-1",
                        .service = "s3", .access_key = "AK", .secret_key = "one"};
    strbuf_t a = STRBUF_INIT, b = STRBUF_INIT;
    sigv4_authorization(&in, &a);
    in.secret_key = "two";
    sigv4_authorization(&in, &b);
    assert_string_not_equal(a.data, b.data);
    /* the secret never appears in what is sent */
    assert_null(strstr(a.data, "one"));
    assert_null(strstr(b.data, "two"));
    strbuf_free(&a);
    strbuf_free(&b);
}

static void test_uri_encode_and_date(void **state) {
    (void)state;
    strbuf_t sb = STRBUF_INIT;
    const char *k = "01ABC/chunks/000001 a+b=c&d~e";
    sigv4_uri_encode(&sb, k, strlen(k), false);
    assert_string_equal(sb.data, "01ABC/chunks/000001%20a%2Bb%3Dc%26d~e");
    strbuf_reset(&sb);
    sigv4_uri_encode(&sb, "a/b", 3, true);
    assert_string_equal(sb.data, "a%2Fb");
    strbuf_free(&sb);
    char d[17];
    sigv4_amz_date(1369353600LL, d);
    assert_string_equal(d, "20130524T000000Z");
    sigv4_amz_date(1440938160LL, d);
    assert_string_equal(d, "20150830T123600Z");
}

PL_TEST_MAIN(cmocka_unit_test(test_sha256_vectors), cmocka_unit_test(test_hmac_rfc4231),
             cmocka_unit_test(test_suite_get_vanilla), cmocka_unit_test(test_suite_encoding),
             cmocka_unit_test(test_suite_headers), cmocka_unit_test(test_s3_examples),
             cmocka_unit_test(test_secret_changes_signature), cmocka_unit_test(test_uri_encode_and_date))
