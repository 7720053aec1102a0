/* The yara sensor: rules compile once with errors naming file and line;
 * each shipped rule matches a sample built here and leaves benign files
 * alone; buffers, bad targets, timeouts and threads. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <linux/filter.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/core.h"
#include "fixtures.h"
#include "sensor/sensor.h"

typedef struct ctx {
    char *dir;
    char *bpfdoor_rules;
    char *webshell_rules;
    collected_events events;
} ctx;

static int setup(void **state) {
    ctx *c = calloc(1, sizeof *c);
    const char *src = getenv("HAETAE_SOURCE_DIR");
    if (!c || !src) return -1;
    c->dir = fixture_tempdir("yara");
    if (!c->dir || asprintf(&c->bpfdoor_rules, "%s/rules/yara/bpfdoor.yar", src) < 0 ||
        asprintf(&c->webshell_rules, "%s/rules/yara/webshell.yar", src) < 0) {
        return -1;
    }
    *state = c;
    return 0;
}

static int teardown(void **state) {
    ctx *c = *state;
    collector_free(&c->events);
    fixture_rmtree(c->dir);
    free(c->dir);
    free(c->bpfdoor_rules);
    free(c->webshell_rules);
    free(c);
    return 0;
}

static yara_scanner *open_rules(const char *path) {
    yara_scanner *s = NULL;
    hae_err err = {0};
    const char *paths[] = {path};
    if (yara_scanner_open(&s, paths, 1, &err) != HAE_OK) fail_msg("%s", err.msg);
    return s;
}

static char *write_sample(const ctx *c, const char *name, const void *data, size_t len) {
    char *path = NULL;
    assert_true(asprintf(&path, "%s/%s", c->dir, name) > 0);
    assert_int_equal(fixture_write_file(path, data, len), 0);
    return path;
}

static void scan_file(ctx *c, yara_scanner *s, const char *path) {
    hae_sink sink = collector_sink(&c->events);
    hae_err err = {0};
    if (yara_scan_file(s, path, &sink, &err) != HAE_OK) fail_msg("%s", err.msg);
}

/* Exactly one yara.match, for rule, in namespace ns, at severity. */
static const hae_event *assert_one_match(const ctx *c, const char *rule, const char *ns,
                                         const char *severity) {
    assert_int_equal(collector_count(&c->events, "rule", "yara.match"), 1);
    const hae_event *ev = collector_find(&c->events, "YaraRule", rule);
    if (!ev) fail_msg("no match of %s", rule);
    assert_string_equal(hae_event_get_str(ev, "YaraNamespace"), ns);
    assert_string_equal(hae_event_get_str(ev, "severity"), severity);
    assert_string_equal(ev->service, "yara");
    return ev;
}

/* An ELF header's first bytes, then whatever the sample needs. */
static size_t elf_with(unsigned char *out, size_t cap, const void *body, size_t len) {
    static const unsigned char elf[64] = {0x7f, 'E', 'L', 'F', 2, 1, 1};
    assert_true(sizeof elf + len <= cap);
    memcpy(out, elf, sizeof elf);
    memcpy(out + sizeof elf, body, len);
    return sizeof elf + len;
}

static void test_compile_error_names_file_and_line(void **state) {
    ctx *c = *state;
    const char *text = "rule ok { condition: true }\n\nrule broken {\n  strings: $a = \"x\"\n"
                       "  condition: $a and\n}\n";
    char *path = write_sample(c, "broken.yar", text, strlen(text));
    yara_scanner *s = NULL;
    hae_err err = {0};
    const char *paths[] = {c->bpfdoor_rules, path};
    assert_int_equal(yara_scanner_open(&s, paths, 2, &err), HAE_EINVAL);
    assert_null(s);
    char *expected = NULL;
    assert_true(asprintf(&expected, "%s:6: syntax error", path) > 0);
    if (!strstr(err.msg, expected)) fail_msg("'%s' lacks '%s'", err.msg, expected);
    free(expected);
    free(path);
}

static void test_missing_rule_file_is_named(void **state) {
    ctx *c = *state;
    yara_scanner *s = NULL;
    hae_err err = {0};
    const char *paths[] = {"/nonexistent/rules.yar"};
    assert_int_equal(yara_scanner_open(&s, paths, 1, &err), HAE_ENOENT);
    assert_non_null(strstr(err.msg, "/nonexistent/rules.yar"));
    (void)c;
}

static void test_bpfdoor_filter_magic_matches_with_offsets(void **state) {
    ctx *c = *state;
    /* The shape of BPFDoor's filter [rules/yara/bpfdoor.yar, ref 1]:
     * IPv4 only, then a payload halfword against 0x7255 or 0x5293. */
    const struct sock_filter filter[] = {
        {0x28, 0, 0, 0x0000000c}, {0x15, 0, 5, 0x00000800}, {0x30, 0, 0, 0x00000017},
        {0x48, 0, 0, 0x00000016}, {0x15, 2, 0, 0x00007255}, {0x48, 0, 0, 0x0000000e},
        {0x15, 0, 1, 0x00005293}, {0x06, 0, 0, 0x0000ffff}, {0x06, 0, 0, 0x00000000},
    };
    unsigned char sample[512];
    size_t len = elf_with(sample, sizeof sample, filter, sizeof filter);
    char *path = write_sample(c, "implant", sample, len);
    yara_scanner *s = open_rules(c->bpfdoor_rules);
    scan_file(c, s, path);
    const hae_event *ev = assert_one_match(c, "BPFDoor_Filter_Magic", "bpfdoor", "critical");
    assert_string_equal(hae_event_get_str(ev, "TargetFilename"), path);
    assert_int_equal(collector_count(&c->events, "YaraTags", "bpfdoor"), 1);
    assert_int_equal(collector_count(&c->events, "YaraStrings", "$jeq_7255"), 1);
    assert_int_equal(collector_count(&c->events, "YaraStrings", "$jeq_5293"), 1);
    /* 64-byte header, fifth instruction: 64 + 4 * 8 = 0x60 */
    assert_int_equal(collector_count(&c->events, "YaraMatches",
                                     "$jeq_7255@0x60 len=8 hex=1500020055720000"), 1);
    assert_non_null(strstr(hae_event_get_str(ev, "message"), "bpfdoor:BPFDoor_Filter_Magic"));
    yara_scanner_close(s);
    free(path);
}

static void test_bpfdoor_strings_match_and_single_disguise_does_not(void **state) {
    ctx *c = *state;
    static const char implant[] = "kdmtmpflush\0/sbin/udevd -d\0dbus-daemon --system\0";
    unsigned char sample[512];
    size_t len = elf_with(sample, sizeof sample, implant, sizeof implant);
    char *bad = write_sample(c, "implant", sample, len);
    static const char daemon[] = "dbus-daemon --system\0/var/run/dbus/pid\0";
    len = elf_with(sample, sizeof sample, daemon, sizeof daemon);
    char *good = write_sample(c, "dbus-daemon", sample, len);
    yara_scanner *s = open_rules(c->bpfdoor_rules);
    scan_file(c, s, good);
    assert_int_equal(c->events.count, 0);
    scan_file(c, s, bad);
    assert_one_match(c, "BPFDoor_Implant_Strings", "bpfdoor", "critical");
    assert_int_equal(collector_count(&c->events, "YaraStrings", "$dropper"), 1);
    yara_scanner_close(s);
    free(bad);
    free(good);
}

static void test_system_binaries_do_not_match(void **state) {
    ctx *c = *state;
    const char *rules[] = {c->bpfdoor_rules, c->webshell_rules};
    yara_scanner *s = NULL;
    hae_err err = {0};
    assert_int_equal(yara_scanner_open(&s, rules, 2, &err), HAE_OK);
    const char *benign[] = {"/bin/sh", "/bin/ls", "/usr/bin/env", "/usr/sbin/sshd"};
    for (size_t i = 0; i < sizeof benign / sizeof *benign; i++) {
        if (access(benign[i], R_OK) == 0) scan_file(c, s, benign[i]);
    }
    assert_int_equal(c->events.count, 0);
    yara_scanner_close(s);
}

static void test_each_webshell_rule_matches_its_sample(void **state) {
    ctx *c = *state;
    static const struct { const char *name, *text, *rule; } samples[] = {
        {"cmd.php", "<?php if (isset($_GET['c'])) { system($_GET['c']); } ?>",
         "Webshell_PHP_Exec_Of_Request_Input"},
        {"a.php", "<?php @assert( $_POST['pass']); ?>", "Webshell_PHP_Exec_Of_Request_Input"},
        {"dyn.php", "<?php $_REQUEST['f']($_REQUEST['a']); ?>", "Webshell_PHP_Exec_Of_Request_Input"},
        {"b64.php", "<?php eval(base64_decode('ZWNobyAnaGknOw==')); ?>",
         "Webshell_PHP_Eval_Of_Decoded_Payload"},
        {"gz.php", "<?php EVAL(gzinflate(str_rot13(base64_decode($x)))); ?>",
         "Webshell_PHP_Eval_Of_Decoded_Payload"},
        {"cmd.jsp",
         "<%@ page import=\"java.io.*\" %><% Process p = "
         "Runtime.getRuntime().exec(request.getParameter(\"cmd\")); %>",
         "Webshell_JSP_Exec_Of_Request_Parameter"},
        {"pb.jsp", "<% new ProcessBuilder(\"sh\", \"-c\", request.getParameter(\"c\")).start(); %>",
         "Webshell_JSP_Exec_Of_Request_Parameter"},
        {"chopper.aspx", "<%@ Page Language=\"Jscript\"%><%eval(Request.Item[\"z\"],\"unsafe\");%>",
         "Webshell_ASP_Eval_Of_Request"},
        {"vb.asp", "<% execute request(\"x\") %>", "Webshell_ASP_Eval_Of_Request"},
    };
    yara_scanner *s = open_rules(c->webshell_rules);
    for (size_t i = 0; i < sizeof samples / sizeof *samples; i++) {
        char *path = write_sample(c, samples[i].name, samples[i].text, strlen(samples[i].text));
        collector_free(&c->events);
        scan_file(c, s, path);
        if (collector_count(&c->events, "rule", "yara.match") != 1 ||
            !collector_find(&c->events, "YaraRule", samples[i].rule)) {
            fail_msg("%s: expected exactly %s", samples[i].name, samples[i].rule);
        }
        assert_non_null(collector_find(&c->events, "YaraNamespace", "webshell"));
        free(path);
    }
    yara_scanner_close(s);
}

static void test_benign_scripts_do_not_match_webshell_rules(void **state) {
    ctx *c = *state;
    static const char *const benign[] = {
        "<?php echo htmlspecialchars($_GET['q'], ENT_QUOTES); $n = intval($_POST['n']); ?>",
        "<?php $data = base64_decode($_POST['blob']); file_put_contents('/tmp/x', $data); ?>",
        "<?php $r = curl_exec($_GET['h']); eval('return 1;'); ?>",
        "<%@ page contentType=\"text/html\" %><p><%= request.getParameter(\"name\") %></p>",
        "<% Response.Write(Server.HTMLEncode(Request.QueryString(\"q\"))) %>",
    };
    yara_scanner *s = open_rules(c->webshell_rules);
    for (size_t i = 0; i < sizeof benign / sizeof *benign; i++) {
        hae_sink sink = collector_sink(&c->events);
        hae_err err = {0};
        assert_int_equal(yara_scan_buffer(s, benign[i], strlen(benign[i]), "benign", &sink, &err),
                         HAE_OK);
        if (c->events.count) fail_msg("benign sample %zu matched", i);
    }
    yara_scanner_close(s);
}

static void test_buffer_scan_uses_the_label(void **state) {
    ctx *c = *state;
    static const char shell[] = "<?php passthru($_REQUEST['cmd']); ?>";
    yara_scanner *s = open_rules(c->webshell_rules);
    hae_sink sink = collector_sink(&c->events);
    hae_err err = {0};
    assert_int_equal(yara_scan_buffer(s, shell, sizeof shell - 1, "upload body", &sink, &err),
                     HAE_OK);
    const hae_event *ev = assert_one_match(c, "Webshell_PHP_Exec_Of_Request_Input", "webshell",
                                           "high");
    assert_string_equal(hae_event_get_str(ev, "TargetFilename"), "upload body");
    assert_int_equal(collector_count(&c->events, "YaraMatches",
                                     "$call@0x6 len=19 hex=706173737468727528245f5245515545..."),
                     1);
    yara_scanner_close(s);
}

static void test_meta_severity_and_level_are_honoured(void **state) {
    ctx *c = *state;
    const char *text = "rule quiet { meta: level = \"low\" condition: true }\n"
                       "rule loud { meta: severity = \"critical\" condition: true }\n"
                       "rule plain { meta: severity = 7 condition: true }\n";
    char *path = write_sample(c, "levels.yar", text, strlen(text));
    yara_scanner *s = open_rules(path);
    hae_sink sink = collector_sink(&c->events);
    hae_err err = {0};
    assert_int_equal(yara_scan_buffer(s, "x", 1, NULL, &sink, &err), HAE_OK);
    assert_int_equal(c->events.count, 3);
    assert_string_equal(hae_event_get_str(collector_find(&c->events, "YaraRule", "quiet"),
                                          "severity"), "low");
    assert_string_equal(hae_event_get_str(collector_find(&c->events, "YaraRule", "loud"),
                                          "severity"), "critical");
    assert_string_equal(hae_event_get_str(collector_find(&c->events, "YaraRule", "plain"),
                                          "severity"), "high");
    assert_string_equal(hae_event_get_str(&c->events.events[0], "TargetFilename"), "(buffer)");
    yara_scanner_close(s);
    free(path);
}

static void test_unscannable_targets_are_yara_errors_and_scanning_goes_on(void **state) {
    ctx *c = *state;
    char *fifo = NULL;
    assert_true(asprintf(&fifo, "%s/pipe", c->dir) > 0);
    assert_int_equal(mkfifo(fifo, 0600), 0);
    yara_scanner *s = open_rules(c->webshell_rules);
    scan_file(c, s, "/nonexistent/vanished.php");
    scan_file(c, s, c->dir);
    scan_file(c, s, fifo); /* must not block on a FIFO without a writer */
    assert_int_equal(collector_count(&c->events, "rule", "yara.error"), 3);
    assert_int_equal(collector_count(&c->events, "severity", "informational"), 3);
    assert_non_null(collector_find(&c->events, "Reason", "No such file or directory"));
    assert_non_null(collector_find(&c->events, "Reason", "a directory"));
    assert_non_null(collector_find(&c->events, "Reason", "not a regular file"));
    yara_scanner_close(s);
    free(fifo);
}

static void test_slow_rule_times_out_as_yara_error(void **state) {
    ctx *c = *state;
    const char *text = "rule slow { condition: for all i in (0..filesize) : "
                       "(for all j in (0..filesize) : (uint8(i) == uint8(j))) }\n";
    char *path = write_sample(c, "slow.yar", text, strlen(text));
    yara_scanner *s = open_rules(path);
    yara_scanner_set_timeout(s, 1);
    size_t len = 1 << 20;
    char *zeros = calloc(1, len);
    assert_non_null(zeros);
    hae_sink sink = collector_sink(&c->events);
    hae_err err = {0};
    int64_t start = hae_time_monotonic_ns();
    assert_int_equal(yara_scan_buffer(s, zeros, len, "big", &sink, &err), HAE_OK);
    assert_true(hae_time_monotonic_ns() - start < 30 * 1000000000LL);
    const hae_event *ev = collector_find(&c->events, "rule", "yara.error");
    assert_non_null(ev);
    assert_non_null(strstr(hae_event_get_str(ev, "Reason"), "timed out after 1 s"));
    free(zeros);
    yara_scanner_close(s);
    free(path);
}

typedef struct worker {
    yara_scanner *scanner;
    size_t matches;
    int rc;
} worker;

static void *scan_many(void *arg) {
    worker *w = arg;
    static const char shell[] = "<?php system($_GET['c']); ?>";
    for (int i = 0; i < 200 && w->rc == HAE_OK; i++) {
        collected_events got = {0};
        hae_sink sink = collector_sink(&got);
        hae_err err = {0};
        w->rc = yara_scan_buffer(w->scanner, shell, sizeof shell - 1, "t", &sink, &err);
        w->matches += got.count;
        collector_free(&got);
    }
    return NULL;
}

static void test_threads_scan_with_one_scanner_and_scanners_share_libyara(void **state) {
    ctx *c = *state;
    yara_scanner *first = open_rules(c->bpfdoor_rules);
    yara_scanner *s = open_rules(c->webshell_rules);
    yara_scanner_close(first); /* libyara stays initialised for s */
    worker workers[4] = {{.scanner = s}, {.scanner = s}, {.scanner = s}, {.scanner = s}};
    pthread_t threads[4];
    for (int i = 0; i < 4; i++) {
        assert_int_equal(pthread_create(&threads[i], NULL, scan_many, &workers[i]), 0);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(threads[i], NULL);
        assert_int_equal(workers[i].rc, HAE_OK);
        assert_int_equal(workers[i].matches, 200);
    }
    yara_scanner_close(s);
}

int main(void) {
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_compile_error_names_file_and_line),
        T(test_missing_rule_file_is_named),
        T(test_bpfdoor_filter_magic_matches_with_offsets),
        T(test_bpfdoor_strings_match_and_single_disguise_does_not),
        T(test_system_binaries_do_not_match),
        T(test_each_webshell_rule_matches_its_sample),
        T(test_benign_scripts_do_not_match_webshell_rules),
        T(test_buffer_scan_uses_the_label),
        T(test_meta_severity_and_level_are_honoured),
        T(test_unscannable_targets_are_yara_errors_and_scanning_goes_on),
        T(test_slow_rule_times_out_as_yara_error),
        T(test_threads_scan_with_one_scanner_and_scanners_share_libyara),
    };
#undef T
    return cmocka_run_group_tests(tests, NULL, NULL);
}
