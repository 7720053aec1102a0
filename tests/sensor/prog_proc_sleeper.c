/* Helper for the proc sensor tests: optionally renames its task
 * (HAETAE_PROG_COMM, like BPFDoor's prctl(PR_SET_NAME)), prints "ready" on
 * stdout once it is in place, then sleeps until killed. An alarm ends it
 * after 120 s so a crashed test never leaves it behind. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <unistd.h>

int main(void) {
    alarm(120);
    const char *comm = getenv("HAETAE_PROG_COMM");
    if (comm && prctl(PR_SET_NAME, (unsigned long)comm, 0, 0, 0) != 0) {
        perror("prctl(PR_SET_NAME)");
        return 1;
    }
    if (printf("ready\n") < 0 || fflush(stdout) != 0) return 1;
    for (;;) pause();
}
