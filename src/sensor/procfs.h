/* procfs: thin reader of /proc shared by the sock and proc sensors.
 * Every function tolerates a process that exits while being read: it
 * returns HAE_ENOENT and the caller moves on. Private to src/sensor. */
#ifndef HAETAE_SENSOR_PROCFS_H
#define HAETAE_SENSOR_PROCFS_H

#include <stdbool.h>
#include <sys/types.h>

#include "core/core.h"

typedef struct procfs_process {
    pid_t pid;
    pid_t ppid;
    uid_t uid;
    char comm[17];       /* /proc/PID/comm: the kernel's task name */
    char *exe;           /* readlink /proc/PID/exe, " (deleted)" stripped; NULL if unknown */
    bool exe_deleted;
    char *cmdline;       /* argv joined by spaces; NULL for kernel threads */
    char *argv0;
    char *cwd;
} procfs_process;

/* The root to read: "/proc" unless HAETAE_PROC_ROOT is set (tests). */
const char *procfs_root(void);

int procfs_read(pid_t pid, procfs_process *out, hae_err *err);

/* Appends the whole of /proc/PID/<name> ("stat", "environ"...) to out.
 * HAE_ENOENT when the process is gone, HAE_EPERM when not ours to read. */
int procfs_read_file(pid_t pid, const char *name, hae_buf *out, hae_err *err);
void procfs_process_free(procfs_process *p);

/* Reads /proc/PID/environ and returns the value of name in *value
 * (malloc'd, caller frees) or NULL when absent. */
int procfs_getenv(pid_t pid, const char *name, char **value, hae_err *err);

/* Calls fn for every numeric entry of /proc; stops when fn returns < 0. */
int procfs_each_pid(int (*fn)(void *ctx, pid_t pid), void *ctx, hae_err *err);

/* Socket inode -> owning pids, from /proc/PID/fd links "socket:[INODE]". */
typedef struct procfs_socket_owners procfs_socket_owners;
int procfs_socket_owners_load(procfs_socket_owners **out, hae_err *err);
/* Returns the number of owners; fills up to max pids. */
size_t procfs_socket_owners_find(const procfs_socket_owners *o, uint64_t inode, pid_t *pids,
                                 size_t max);
void procfs_socket_owners_free(procfs_socket_owners *o);

/* User name for uid ("1000" when unknown); out has room for 64 bytes. */
void procfs_user_name(uid_t uid, char out[64]);

#endif
