/* Real-time fim through fanotify file system marks. Needs root
 * (CAP_SYS_ADMIN) and Linux >= 5.9 with a file system that has file
 * handles; returns 77 (skip) and says which is missing otherwise. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "fim_watch_cases.h"

/* Opens a watch the way the sensor does and reports what it chose. */
static bool fanotify_available(void) {
    char *dir = fixture_tempdir("fimw-probe");
    if (!dir) return false;
    const char *roots[] = {dir};
    fim_options opt = {.roots = roots, .root_count = 1};
    collected_events events = {0};
    hae_sink sink = collector_sink(&events);
    fim_watch *w = NULL;
    hae_err err = {0};
    bool ok = false;
    if (fim_watch_open(&w, &opt, &sink, &err) == HAE_OK) {
        const hae_event *ev = collector_find(&events, "rule", "fim.watcher");
        ok = ev && strcmp(hae_event_get_str(ev, "Mechanism"), "fanotify") == 0;
        if (!ok && ev) printf("fanotify unavailable: %s\n", hae_event_get_str(ev, "message"));
        fim_watch_close(w);
    } else {
        printf("watch failed: %s\n", err.msg);
    }
    collector_free(&events);
    fixture_rmtree(dir);
    free(dir);
    return ok;
}

int main(void) {
    if (!fixture_is_root()) {
        printf("skip: fanotify file system marks need root (CAP_SYS_ADMIN)\n");
        return 77;
    }
    if (!fanotify_available()) return 77;
    use_fanotify = true;
    const struct CMUnitTest tests[] = {FIM_WATCH_TESTS};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
