/* A FIM baseline is tied to its roots: checking with a root the baseline
 * never covered records it quietly (one fim.root_baselined finding, no
 * fim.created per file), and checking without a root it covers reports no
 * deletions there; a change inside a root both cover is still found. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "fim_test_util.h"

static void run(fim_tree *t, const char *root, bool build) {
    hae_err err = {0};
    t->roots[0] = root;
    collector_free(&t->events);
    int rc = build ? fim_baseline_build(&t->opt, t->baseline, &t->sink, &err)
                   : fim_baseline_check(&t->opt, t->baseline, &t->sink, &err);
    if (rc != HAE_OK) fail_msg("%s: %s", build ? "baseline" : "check", err.msg);
}

static void test_root_added_later_is_baselined_quietly(void **state) {
    (void)state;
    fim_tree *t = fim_tree_new("fim-roots-add");
    run(t, t->www, true);
    run(t, t->root, false); /* the whole tree now: etc/ and notes.txt are new ground */
    assert_int_equal(fim_count(t, "fim.created", NULL), 0);
    assert_int_equal(fim_count(t, "fim.root_baselined", NULL), 1);
    assert_int_equal(fim_count_above_info(t), 0);
    run(t, t->root, false); /* recorded: nothing again */
    assert_int_equal(t->events.count, 0);
    fim_tree_write(t, "notes.txt", "bye\n");
    run(t, t->root, false);
    char *notes = fim_tree_path(t, "notes.txt");
    assert_non_null(fim_find(t, "fim.modified", notes));
    free(notes);
    fim_tree_free(t);
}

static void test_root_dropped_is_not_a_mass_deletion(void **state) {
    (void)state;
    fim_tree *t = fim_tree_new("fim-roots-drop");
    run(t, t->root, true);
    fim_tree_write(t, "notes.txt", "changed outside the root checked now\n");
    run(t, t->www, false);
    assert_int_equal(fim_count(t, "fim.deleted", NULL), 0);
    assert_int_equal(t->events.count, 0);
    fim_tree_write(t, "www/shell.php", "<?php system($_GET['c']); ?>\n");
    run(t, t->www, false);
    char *shell = fim_tree_path(t, "www/shell.php");
    assert_non_null(fim_find(t, "fim.webshell", shell));
    free(shell);
    /* back to the whole tree: the change made meanwhile is still reported */
    run(t, t->root, false);
    char *notes = fim_tree_path(t, "notes.txt");
    assert_non_null(fim_find(t, "fim.modified", notes));
    free(notes);
    fim_tree_free(t);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_root_added_later_is_baselined_quietly),
        cmocka_unit_test(test_root_dropped_is_not_a_mass_deletion),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
