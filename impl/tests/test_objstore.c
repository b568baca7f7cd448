/* test_objstore.c — the objstore YAML (good and bad, with file:line:col),
 * the FILESYSTEM bucket's operations, prefixes and metrics, and the S3 XML
 * answers the client reads. */
#include "testutil.h"

#include <sys/stat.h>
#include <unistd.h>

#include "objstore/internal.h"
#include "objstore/objstore.h"

/* ---- config ------------------------------------------------------------------ */

static int parse(const char *y, objstore_config_t *c, pl_err_t *e) {
    return objstore_config_parse(y, strlen(y), "bucket.yml", c, e);
}

static void test_config_filesystem(void **state) {
    (void)state;
    objstore_config_t c;
    pl_err_t e = {{0}};
    assert_int_equal(parse("type: FILESYSTEM\nconfig:\n  directory: /data/thanos\nprefix: /tenant-a/\n", &c, &e), 0);
    assert_int_equal(c.type, OBJSTORE_FILESYSTEM);
    assert_string_equal(c.directory, "/data/thanos");
    assert_string_equal(c.prefix, "tenant-a");
    objstore_config_free(&c);
    /* type is case-insensitive, as in Thanos; no prefix = "" */
    assert_int_equal(parse("type: filesystem\nconfig: {directory: b}\n", &c, &e), 0);
    assert_string_equal(c.prefix, "");
    objstore_config_free(&c);
}

static void test_config_s3(void **state) {
    (void)state;
    objstore_config_t c;
    pl_err_t e = {{0}};
    const char *y = "type: S3\n"
                    "config:\n"
                    "  bucket: thanos\n"
                    "  endpoint: 127.0.0.1:9000\n"
                    "  region: eu-west-1\n"
                    "  access_key: AK\n"
                    "  secret_key: \"SK/x+y\"\n"
                    "  insecure: true\n"
                    "  signature_version2: false\n"
                    "  bucket_lookup_type: path\n"
                    "  part_size: 5242880\n"
                    "  max_retries: 2\n"
                    "  put_user_metadata: {team: obs}\n"
                    "  http_config:\n"
                    "    idle_conn_timeout: 1m30s\n"
                    "    insecure_skip_verify: false\n"
                    "    tls_config: {insecure_skip_verify: false}\n"
                    "  trace: {enable: false}\n"
                    "  sse_config: {type: \"\"}\n"
                    "  list_objects_version: v2\n"
                    "prefix: p\n";
    assert_int_equal(parse(y, &c, &e), 0);
    assert_int_equal(c.type, OBJSTORE_S3);
    assert_string_equal(c.s3.bucket, "thanos");
    assert_string_equal(c.s3.endpoint, "127.0.0.1:9000");
    assert_string_equal(c.s3.region, "eu-west-1");
    assert_string_equal(c.s3.secret_key, "SK/x+y");
    assert_true(c.s3.insecure);
    assert_int_equal(c.s3.part_size, 5242880);
    assert_int_equal(c.s3.max_retries, 2);
    assert_string_equal(c.prefix, "p");
    objstore_config_free(&c);
    /* defaults: part_size 64 MiB */
    assert_int_equal(parse("type: S3\nconfig: {bucket: b, endpoint: 'h:1'}\n", &c, &e), 0);
    assert_int_equal(c.s3.part_size, 64 * 1024 * 1024);
    assert_false(c.s3.insecure);
    objstore_config_free(&c);
}

static void bad(const char *y, const char *want) {
    objstore_config_t c;
    pl_err_t e = {{0}};
    assert_int_equal(parse(y, &c, &e), -1);
    if (!strstr(e.msg, want)) fail_msg("error \"%s\" lacks \"%s\"", e.msg, want);
    /* a refused config leaves nothing allocated and never echoes a secret */
    assert_null(strstr(e.msg, "TOPSECRET"));
}

static void test_config_bad(void **state) {
    (void)state;
    bad("type: FILESYSTEM\nconfig:\n  directory: /d\n  dir: x\n", "bucket.yml:4:3: field dir not found in type filesystem.Config");
    bad("type: FILESYSTEM\nconfig:\n  directry: /d\n", "bucket.yml:3:3: field directry not found");
    bad("type: FILESYSTEM\nconfig: {}\n", "missing directory for filesystem bucket");
    bad("type: FILESYSTEM\n", "missing directory");
    bad("config:\n  directory: /d\n", "type: missing");
    bad("typ: FILESYSTEM\n", "bucket.yml:1:1: field typ not found in type client.BucketConfig");
    bad("type: GCS\nconfig: {bucket: b}\n", "bucket.yml:1:7: type: GCS is a Thanos bucket type promlab does not implement");
    bad("type: NFS\n", "unsupported bucket type \"NFS\"");
    bad("type: S3\nconfig:\n  bucket: b\n  endpoint: h:1\n  signature_version2: true\n",
        "bucket.yml:5:23: signature_version2: true is not supported");
    bad("type: S3\nconfig:\n  bucket: b\n  endpoint: h:1\n  insecure: maybe\n", "bucket.yml:5:13: insecure: expected a boolean");
    bad("type: S3\nconfig:\n  bucket: b\n  endpoint: h:1\n  part_size: 12x\n", "bucket.yml:5:14: part_size: expected an integer");
    bad("type: S3\nconfig:\n  bucket: b\n  endpoint: h:1\n  part_size: 100\n", "part_size: must be at least 5120");
    bad("type: S3\nconfig:\n  bucket: b\n  endpoint: http://h:1\n", "without a scheme");
    bad("type: S3\nconfig:\n  endpoint: h:1\n", "missing s3 bucket name");
    bad("type: S3\nconfig:\n  bucket: b\n", "missing s3 endpoint");
    bad("type: S3\nconfig:\n  bucket: b\n  endpoint: h:1\n  secret_key: TOPSECRET\n", "access_key: missing while secret_key is set");
    bad("type: S3\nconfig:\n  bucket: b\n  endpoint: h:1\n  bucket_lookup_type: virtual-hosted\n", "virtual-hosted is not supported");
    bad("type: S3\nconfig:\n  bucket: b\n  endpoint: h:1\n  sse_config: {type: SSE-S3}\n", "server-side encryption is not supported");
    bad("type: S3\nconfig:\n  bucket: b\n  endpoint: h:1\n  http_config: {idle_conn_timeout: 5 minutes}\n", "bucket.yml:5:36: idle_conn_timeout");
    bad("type: S3\nconfig:\n  bucket: b\n  bucket: c\n  endpoint: h:1\n", "bucket.yml:4:3: config: key \"bucket\" already set");
    bad("type: S3\nconfig:\n  bucket: [a, b]\n", "bucket.yml:3:11: bucket: expected a string, got a sequence");
    bad("type: S3\nconfig:\n  secret_key: TOPSECRET\n  bucket: b\n  endpoint: h:1\n  access_key: AK\n  foo: 1\n", "field foo not found in type s3.Config");
    bad("- a\n- b\n", "bucket configuration: expected a mapping");
    bad("type: S3\nconfig: [\n", "bucket.yml:3:1:");
    bad("", "empty bucket configuration");
    bad("type: FILESYSTEM\nconfig: {directory: a}\n---\ntype: S3\n", "more than one YAML document");
}

static void test_config_file(void **state) {
    (void)state;
    char dir[] = "/tmp/pl-objcfg-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[256];
    snprintf(path, sizeof path, "%s/bucket.yml", dir);
    FILE *f = fopen(path, "w");
    fputs("type: FILESYSTEM\nconfig:\n  directory: /x\n  bogus: 1\n", f);
    fclose(f);
    objstore_config_t c;
    pl_err_t e = {{0}};
    assert_int_equal(objstore_config_load_file(path, &c, &e), -1);
    char want[300];
    snprintf(want, sizeof want, "%s:4:3: field bogus not found", path);
    assert_non_null(strstr(e.msg, want));
    unlink(path);
    assert_int_equal(objstore_config_load_file(path, &c, &e), -1);
    assert_non_null(strstr(e.msg, "No such file"));
    rmdir(dir);
}

/* ---- filesystem bucket --------------------------------------------------------- */

typedef struct names {
    char buf[2048];
} names_t;

static int collect(void *ctx, const char *name) {
    names_t *n = ctx;
    strncat(n->buf, name, sizeof n->buf - strlen(n->buf) - 2);
    strcat(n->buf, " ");
    return 0;
}

static int stop_at_second(void *ctx, const char *name) {
    int *count = ctx;
    (void)name;
    return ++*count == 2 ? 7 : 0;
}

static objstore_t *open_fs(const char *dir, const char *prefix) {
    objstore_config_t c = {0};
    c.type = OBJSTORE_FILESYSTEM;
    c.directory = (char *)dir;
    c.prefix = (char *)prefix;
    pl_err_t e = {{0}};
    objstore_t *b = objstore_open(&c, &e);
    assert_non_null(b);
    return b;
}

static void rm_rf(const char *dir) {
    char cmd[512];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
}

static void test_fs_ops(void **state) {
    (void)state;
    char dir[] = "/tmp/pl-objfs-XXXXXX";
    assert_non_null(mkdtemp(dir));
    objstore_t *b = open_fs(dir, "");
    pl_err_t e = {{0}};
    char fname[300];
    snprintf(fname, sizeof fname, "%s.src", dir);
    FILE *f = fopen(fname, "w");
    for (int i = 0; i < 10000; i++) fprintf(f, "%04d", i % 10000);
    fclose(f);

    assert_int_equal(objstore_upload_file(b, "01A/chunks/000001", fname, &e), 0);
    assert_int_equal(objstore_upload_buf(b, "01A/index", "INDEX", 5, &e), 0);
    assert_int_equal(objstore_upload_buf(b, "01A/meta.json", "{}", 2, &e), 0);
    assert_int_equal(objstore_upload_buf(b, "01B/meta.json", "{}", 2, &e), 0);
    assert_int_equal(objstore_upload_buf(b, "top", "t", 1, &e), 0);

    /* the objects are plain files under the directory */
    char p[400];
    snprintf(p, sizeof p, "%s/01A/chunks/000001", dir);
    struct stat st;
    assert_int_equal(stat(p, &st), 0);
    assert_int_equal(st.st_size, 40000);

    strbuf_t sb = STRBUF_INIT;
    assert_int_equal(objstore_get(b, "01A/index", 0, -1, &sb, &e), 0);
    assert_string_equal(sb.data, "INDEX");
    strbuf_reset(&sb);
    assert_int_equal(objstore_get(b, "01A/chunks/000001", 8, 8, &sb, &e), 0); /* range: bytes 8..15 */
    assert_int_equal(sb.len, 8);
    assert_memory_equal(sb.data, "00020003", 8);
    strbuf_reset(&sb);
    assert_int_equal(objstore_get(b, "01A/chunks/000001", 39996, 100, &sb, &e), 0); /* clipped at the end */
    assert_memory_equal(sb.data, "9999", 4);
    assert_int_equal(sb.len, 4);
    strbuf_reset(&sb);
    assert_int_equal(objstore_get(b, "01A/nope", 0, -1, &sb, &e), -1);
    assert_true(objstore_is_not_found(b));
    strbuf_free(&sb);

    char out[320];
    snprintf(out, sizeof out, "%s.out", dir);
    assert_int_equal(objstore_get_to_file(b, "01A/chunks/000001", out, &e), 0);
    char *a = pl_test_read_file(fname, NULL), *c = pl_test_read_file(out, NULL);
    assert_string_equal(a, c);
    free(a);
    free(c);
    unlink(out);

    bool ex = false;
    assert_int_equal(objstore_exists(b, "01A/meta.json", &ex, &e), 0);
    assert_true(ex);
    assert_int_equal(objstore_exists(b, "01C/meta.json", &ex, &e), 0);
    assert_false(ex);
    assert_int_equal(objstore_exists(b, "01A", &ex, &e), 0); /* a "directory" is not an object */
    assert_false(ex);
    objstore_attrs_t at;
    assert_int_equal(objstore_attributes(b, "01A/chunks/000001", &at, &e), 0);
    assert_int_equal(at.size, 40000);
    assert_true(at.last_modified_ms > 0);

    names_t n = {{0}};
    assert_int_equal(objstore_iter(b, "", false, collect, &n, &e), 0);
    assert_string_equal(n.buf, "01A/ 01B/ top ");
    memset(&n, 0, sizeof n);
    assert_int_equal(objstore_iter(b, "01A", false, collect, &n, &e), 0);
    assert_string_equal(n.buf, "01A/chunks/ 01A/index 01A/meta.json ");
    memset(&n, 0, sizeof n);
    assert_int_equal(objstore_iter(b, "01A/", true, collect, &n, &e), 0);
    assert_string_equal(n.buf, "01A/chunks/000001 01A/index 01A/meta.json ");
    memset(&n, 0, sizeof n);
    assert_int_equal(objstore_iter(b, "nothing-here", false, collect, &n, &e), 0);
    assert_string_equal(n.buf, "");
    int count = 0;
    assert_int_equal(objstore_iter(b, "", false, stop_at_second, &count, &e), 7);

    /* delete removes the emptied parents; an empty directory is not listed */
    assert_int_equal(objstore_delete(b, "01B/meta.json", &e), 0);
    snprintf(p, sizeof p, "%s/01B", dir);
    assert_int_equal(access(p, F_OK), -1);
    assert_int_equal(objstore_delete(b, "01B/meta.json", &e), -1);
    assert_true(objstore_is_not_found(b));
    snprintf(p, sizeof p, "%s/empty", dir);
    assert_int_equal(mkdir(p, 0755), 0);
    memset(&n, 0, sizeof n);
    assert_int_equal(objstore_iter(b, "", false, collect, &n, &e), 0);
    assert_string_equal(n.buf, "01A/ top ");

    /* bad names are refused before touching the disk */
    assert_int_equal(objstore_upload_buf(b, "../escape", "x", 1, &e), -1);
    assert_non_null(strstr(e.msg, ".."));
    assert_int_equal(objstore_upload_buf(b, "/abs", "x", 1, &e), -1);
    /* an unreadable source fails the upload */
    assert_int_equal(objstore_upload_file(b, "x", "/nonexistent/file", &e), -1);
    assert_non_null(strstr(e.msg, "/nonexistent/file"));

    /* metrics: operations counted, the not-found delete is not a failure */
    assert_int_equal(objstore_op_count(b, "upload"), 6);
    assert_int_equal(objstore_op_failures(b, "upload"), 1);
    assert_int_equal(objstore_op_count(b, "delete"), 2);
    assert_int_equal(objstore_op_failures(b, "delete"), 0);
    assert_int_equal(objstore_op_count(b, "get_range"), 2);
    strbuf_t m = STRBUF_INIT;
    objstore_write_metrics(b, &m);
    char want[512];
    snprintf(want, sizeof want, "thanos_objstore_bucket_operations_total{bucket=\"fs: %s\",operation=\"upload\"} 6\n", dir);
    assert_non_null(strstr(m.data, want));
    snprintf(want, sizeof want,
             "thanos_objstore_bucket_operation_duration_seconds_count{bucket=\"fs: %s\",operation=\"exists\"} 3\n", dir);
    assert_non_null(strstr(m.data, want));
    strbuf_free(&m);
    objstore_close(b);
    unlink(fname);
    rm_rf(dir);
}

static void test_fs_prefix(void **state) {
    (void)state;
    char dir[] = "/tmp/pl-objpfx-XXXXXX";
    assert_non_null(mkdtemp(dir));
    objstore_t *b = open_fs(dir, "tenant/a");
    pl_err_t e = {{0}};
    assert_int_equal(objstore_upload_buf(b, "01X/meta.json", "{}", 2, &e), 0);
    char p[400];
    snprintf(p, sizeof p, "%s/tenant/a/01X/meta.json", dir);
    assert_int_equal(access(p, F_OK), 0);
    names_t n = {{0}};
    assert_int_equal(objstore_iter(b, "", true, collect, &n, &e), 0);
    assert_string_equal(n.buf, "01X/meta.json "); /* names come back without the prefix */
    objstore_close(b);
    b = open_fs(dir, "");
    memset(&n, 0, sizeof n);
    assert_int_equal(objstore_iter(b, "", false, collect, &n, &e), 0);
    assert_string_equal(n.buf, "tenant/ ");
    objstore_close(b);
    rm_rf(dir);
}

/* ---- S3 XML ---------------------------------------------------------------------- */

static void test_s3_list_xml(void **state) {
    (void)state;
    const char *x =
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
        "<ListBucketResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
        "<Name>thanos</Name><Prefix>01A/</Prefix><KeyCount>3</KeyCount><MaxKeys>1000</MaxKeys>"
        "<Delimiter>/</Delimiter><IsTruncated>true</IsTruncated>"
        "<NextContinuationToken>tok+/=&amp;1</NextContinuationToken>"
        "<Contents><Key>01A/index</Key><LastModified>2026-01-01T00:00:00.000Z</LastModified>"
        "<ETag>&quot;abc&quot;</ETag><Size>1930</Size><StorageClass>STANDARD</StorageClass></Contents>"
        "<Contents><Key>01A/a&amp;b&lt;c&#62;&#x41;</Key><Size>0</Size></Contents>"
        "<CommonPrefixes><Prefix>01A/chunks/</Prefix></CommonPrefixes>"
        "</ListBucketResult>";
    s3_list_result_t r;
    pl_err_t e = {{0}};
    assert_int_equal(s3_parse_list(x, strlen(x), &r, &e), 0);
    assert_int_equal(r.nkeys, 2);
    assert_string_equal(r.keys[0], "01A/index");
    assert_int_equal(r.sizes[0], 1930);
    assert_string_equal(r.keys[1], "01A/a&b<c>A");
    assert_int_equal(r.nprefixes, 1);
    assert_string_equal(r.prefixes[0], "01A/chunks/");
    assert_true(r.truncated);
    assert_string_equal(r.next_token, "tok+/=&1");
    s3_list_result_free(&r);

    const char *empty = "<ListBucketResult><Name>b</Name><Prefix/><IsTruncated>false</IsTruncated></ListBucketResult>";
    assert_int_equal(s3_parse_list(empty, strlen(empty), &r, &e), 0);
    assert_int_equal(r.nkeys, 0);
    assert_false(r.truncated);
    s3_list_result_free(&r);

    const char *trunc_no_token = "<ListBucketResult><IsTruncated>true</IsTruncated></ListBucketResult>";
    assert_int_equal(s3_parse_list(trunc_no_token, strlen(trunc_no_token), &r, &e), -1);
    assert_int_equal(s3_parse_list("<Error/>", 8, &r, &e), -1);
    const char *cut = "<ListBucketResult><Contents><Key>a</Key>";
    assert_int_equal(s3_parse_list(cut, strlen(cut), &r, &e), -1);
    const char *nokey = "<ListBucketResult><Contents><Size>1</Size></Contents></ListBucketResult>";
    assert_int_equal(s3_parse_list(nokey, strlen(nokey), &r, &e), -1);
}

static void test_s3_error_xml(void **state) {
    (void)state;
    const char *x = "<?xml version=\"1.0\"?><Error><Code>SignatureDoesNotMatch</Code>"
                    "<Message>The request signature we calculated does not match</Message>"
                    "<UploadId>u-1</UploadId></Error>";
    char *c = s3_xml_text(x, strlen(x), "Code"), *u = s3_xml_text(x, strlen(x), "UploadId");
    assert_string_equal(c, "SignatureDoesNotMatch");
    assert_string_equal(u, "u-1");
    free(c);
    free(u);
    assert_null(s3_xml_text(x, strlen(x), "Missing"));
    assert_null(s3_xml_text(x, 20, "Code")); /* never reads past len */
    assert_null(s3_xml_text(NULL, 0, "Code"));
}

PL_TEST_MAIN(cmocka_unit_test(test_config_filesystem), cmocka_unit_test(test_config_s3),
             cmocka_unit_test(test_config_bad), cmocka_unit_test(test_config_file), cmocka_unit_test(test_fs_ops),
             cmocka_unit_test(test_fs_prefix), cmocka_unit_test(test_s3_list_xml), cmocka_unit_test(test_s3_error_xml))
