/* Allowlists: entries load from YAML with errors naming file, line and
 * field; a finding is allowed by the content hash of its program, by a
 * copy of an installed binary, or by its exact image path; the filter
 * forwards the rest; every allowed finding is counted and reported. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "allow/allow.h"
#include "fixtures.h"
#include "sensor/sensor.h"

static allowlist *load_text(const char *text) {
    allowlist *a = NULL;
    hae_err err = {0};
    assert_int_equal(allowlist_new(&a, &err), HAE_OK);
    if (allowlist_add_text(a, "t.yml", text, strlen(text), &err) != HAE_OK) fail_msg("%s", err.msg);
    return a;
}

static void assert_rejected(const char *text, const char *needle) {
    allowlist *a = NULL;
    hae_err err = {0};
    assert_int_equal(allowlist_new(&a, &err), HAE_OK);
    assert_int_equal(allowlist_add_text(a, "bad.yml", text, strlen(text), &err), HAE_EINVAL);
    if (!strstr(err.msg, needle)) fail_msg("'%s' does not say '%s'", err.msg, needle);
    assert_int_equal(allowlist_entry_count(a), 0);
    allowlist_free(a);
}

static void finding(hae_event *ev, const char *rule, const char *image, const char *sha) {
    assert_int_equal(hae_finding_init(ev, "proc", rule, HAE_SEV_CRITICAL, "test"), HAE_OK);
    if (image) assert_int_equal(hae_event_add_str(ev, "Image", image), HAE_OK);
    if (sha) assert_int_equal(hae_event_add_str(ev, "ImageSha256", sha), HAE_OK);
}

static void test_bad_entries_name_file_line_and_field(void **state) {
    (void)state;
    assert_rejected("- rule: proc.memfd_exe\n  copy_of: [/usr/bin/runc]\n", "bad.yml:1: reason");
    assert_rejected("- rule: proc.memfd_exe\n  reason: r\n", "a rule alone would allow");
    assert_rejected("- rule: x\n  reason: r\n  sha256: [abc]\n", "bad.yml:3: sha256: not 64");
    assert_rejected("- rule: x\n  reason: r\n  image: relative/path\n", "not an absolute path");
    assert_rejected("- rule: x\n  reason: r\n  image: /a\n  imagee: /b\n", "bad.yml:4: imagee: unknown field");
    assert_rejected("rule: x\n", "expected a sequence");
    assert_rejected("- [unclosed\n", "bad.yml:");
    /* a good entry before a bad one in the same file is not kept either */
    assert_rejected("- {rule: a, reason: r, image: /a}\n- {rule: b, image: /b}\n", "reason");
}

static void test_hash_copy_and_image_allow_and_count(void **state) {
    (void)state;
    char *dir = fixture_tempdir("allow");
    char *runtime = NULL, *yaml = NULL;
    assert_true(asprintf(&runtime, "%s/runc", dir) > 0);
    assert_int_equal(fixture_write_file(runtime, "runtime binary", 14), 0);
    char sha[65];
    assert_int_equal(sensor_sha256_file(runtime, UINT64_MAX, sha), HAE_OK);
    assert_true(asprintf(&yaml,
                         "- rule: proc.memfd_exe\n  reason: the runtime's own copy\n  copy_of: [%s]\n"
                         "- rule: proc.*\n  reason: a known tool\n  image: /opt/tool/bin/tool\n",
                         runtime) > 0);
    allowlist *a = load_text(yaml);
    assert_int_equal(allowlist_entry_count(a), 2);
    hae_event ev;
    finding(&ev, "proc.memfd_exe", "/memfd:runc_cloned", sha);
    assert_string_equal(allowlist_check(a, &ev), "the runtime's own copy");
    hae_event_clear(&ev);
    /* the same name with other content is not the runtime */
    finding(&ev, "proc.memfd_exe", "/memfd:runc_cloned",
            "0000000000000000000000000000000000000000000000000000000000000000");
    assert_null(allowlist_check(a, &ev));
    hae_event_clear(&ev);
    /* the right content under another rule is not allowed by that entry */
    finding(&ev, "fim.created", NULL, sha);
    assert_null(allowlist_check(a, &ev));
    hae_event_clear(&ev);
    finding(&ev, "proc.tmp_exe", "/opt/tool/bin/tool", NULL);
    assert_string_equal(allowlist_check(a, &ev), "a known tool");
    hae_event_clear(&ev);
    finding(&ev, "procx.tmp_exe", "/opt/tool/bin/tool", NULL); /* "proc.*" is a family, not a prefix */
    assert_null(allowlist_check(a, &ev));
    hae_event_clear(&ev);

    collected_events out = {0};
    hae_sink sink = collector_sink(&out);
    hae_err err = {0};
    assert_int_equal(allowlist_report(a, &sink, &err), HAE_OK);
    assert_int_equal(collector_count(&out, "rule", "agent.allowlisted"), 2);
    assert_non_null(collector_find(&out, "Count", "1"));
    assert_non_null(collector_find(&out, "AllowEntry", "t.yml:1"));
    collector_free(&out);
    assert_int_equal(allowlist_report(a, &sink, &err), HAE_OK); /* counts restarted */
    assert_int_equal(out.count, 0);
    allowlist_free(a);
    fixture_rmtree(dir);
    free(runtime);
    free(yaml);
    free(dir);
}

static void test_filter_forwards_what_is_not_allowed(void **state) {
    (void)state;
    allowlist *a = load_text("- {rule: proc.tmp_exe, reason: ok, image: /tmp/known}\n");
    collected_events out = {0};
    hae_sink next = collector_sink(&out);
    allow_filter f = {.list = a, .next = &next};
    hae_sink sink = allow_filter_sink(&f);
    hae_err err = {0};
    hae_event ev;
    finding(&ev, "proc.tmp_exe", "/tmp/known", NULL);
    assert_int_equal(hae_emit(&sink, &ev, &err), HAE_OK);
    hae_event_clear(&ev);
    finding(&ev, "proc.tmp_exe", "/tmp/unknown", NULL);
    assert_int_equal(hae_emit(&sink, &ev, &err), HAE_OK);
    hae_event_clear(&ev);
    assert_int_equal(out.count, 1);
    assert_string_equal(hae_event_get_str(&out.events[0], "Image"), "/tmp/unknown");
    collector_free(&out);
    allowlist_free(a);
}

static void test_shipped_allowlists_load(void **state) {
    (void)state;
    const char *src = getenv("HAETAE_SOURCE_DIR");
    assert_non_null(src);
    char *dir = NULL;
    assert_true(asprintf(&dir, "%s/rules/allow", src) > 0);
    allowlist *a = NULL;
    hae_err err = {0};
    const char *paths[] = {dir};
    if (allowlist_load(&a, paths, 1, &err) != HAE_OK) fail_msg("%s", err.msg);
    assert_true(allowlist_entry_count(a) >= 4);
    allowlist_free(a);
    free(dir);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bad_entries_name_file_line_and_field),
        cmocka_unit_test(test_hash_copy_and_image_allow_and_count),
        cmocka_unit_test(test_filter_forwards_what_is_not_allowed),
        cmocka_unit_test(test_shipped_allowlists_load),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
