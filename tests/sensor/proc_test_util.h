/* Helpers shared by the proc sensor tests: start prog_proc_sleeper (or a
 * copy of it) with a chosen argv, environment and working directory, wait
 * until it says "ready", and stop it again. Included after cmocka. */
#ifndef HAETAE_TEST_PROC_UTIL_H
#define HAETAE_TEST_PROC_UTIL_H

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/core.h"
#include "fixtures.h"

/* exec_fd >= 0 runs that file descriptor (fexecve), else path. Returns the
 * child's pid once it printed "ready", or -1 if it never did. */
__attribute__((unused)) static pid_t proc_test_spawn(const char *path, int exec_fd, char *const argv[],
                             char *const envp[], const char *cwd) {
    int pipefd[2];
    if (pipe2(pipefd, O_CLOEXEC) != 0) return -1;
    pid_t pid = fork();
    if (pid < 0) return -1;
    if (pid == 0) {
        if (dup2(pipefd[1], STDOUT_FILENO) < 0) _exit(126);
        if (cwd && chdir(cwd) != 0) _exit(126);
        if (exec_fd >= 0) {
            fexecve(exec_fd, argv, envp);
        } else {
            execve(path, argv, envp);
        }
        _exit(127);
    }
    close(pipefd[1]);
    char line[16] = {0};
    size_t got = 0;
    while (got < 6) {
        ssize_t n = read(pipefd[0], line + got, 6 - got);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        got += (size_t)n;
    }
    close(pipefd[0]);
    if (got != 6 || memcmp(line, "ready\n", 6) != 0) {
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
        return -1;
    }
    return pid;
}

__attribute__((unused)) static void proc_test_stop(pid_t pid) {
    if (pid > 0) {
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
    }
}

/* The first collected event with rule == rule and ProcessId == pid. */
__attribute__((unused)) static const hae_event *proc_test_find(const collected_events *c, const char *rule, pid_t pid) {
    char pid_text[16];
    snprintf(pid_text, sizeof pid_text, "%d", (int)pid);
    for (size_t i = 0; i < c->count; i++) {
        const char *r = hae_event_get_str(&c->events[i], "rule");
        const char *p = hae_event_get_str(&c->events[i], "ProcessId");
        if ((!rule || (r && strcmp(r, rule) == 0)) && p && strcmp(p, pid_text) == 0) {
            return &c->events[i];
        }
    }
    return NULL;
}

#endif
