/* Real-time fim through inotify (forced, so it runs on any kernel and
 * without privileges). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "fim_watch_cases.h"

int main(void) {
    use_fanotify = false;
    const struct CMUnitTest tests[] = {FIM_WATCH_TESTS};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
