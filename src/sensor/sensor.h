/* sensor: what the agent sees on one host. Five sensors, each emitting
 * events and findings (see core.h) into an hae_sink:
 *   sock  sockets via NETLINK_SOCK_DIAG, packet sockets and their classic
 *         BPF filters (the BPFDoor class), raw sockets, listening ports
 *   proc  process execution in real time (proc connector) and a stealth scan
 *   fim   file integrity: baseline, check, real-time watch, ransomware signal
 *   log   log files followed across rotation and truncation; journald
 *   yara  files scanned with YARA rules (libyara)
 * Owns no network and no storage beyond the files it is told to use.
 * Every sensor keeps going past a file or process it cannot read: it says
 * so in an event (rule "<sensor>.error" or a debug log) and moves on.
 * Real-time parts expose a file descriptor so the agent can poll them all. */
#ifndef HAETAE_SENSOR_H
#define HAETAE_SENSOR_H

#include <linux/filter.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "core/core.h"

/* ---- sock ------------------------------------------------------------ */

/* One pass over every socket on the host (all network namespaces reachable
 * through /proc/PID/ns/net are not entered: the host's namespace only).
 * Findings: sock.packet_filter, sock.bpfdoor_magic, sock.packet_socket,
 * sock.raw_socket, sock.listen. Each names the owning pid, exe, cmdline. */
int sock_scan(const hae_sink *sink, hae_err *err);

/* A BPFDoor magic constant found in a classic BPF program. */
typedef struct sock_bpf_magic {
    uint32_t value;
    const char *name;   /* e.g. "BPFDoor TCP magic 0x5293" */
    size_t insn_index;  /* first instruction comparing against it */
} sock_bpf_magic;

/* Pure analysis of a filter: fills up to max matches, returns the count. */
size_t sock_bpf_find_magic(const struct sock_filter *prog, size_t insn_count,
                           sock_bpf_magic *out, size_t max);
/* Appends a tcpdump -d like listing of prog to out. */
int sock_bpf_disassemble(const struct sock_filter *prog, size_t insn_count, hae_buf *out);

/* ---- proc ------------------------------------------------------------ */

/* Fills ev (initialised by the caller) with the process_creation fields of
 * pid: Image, CommandLine, ParentImage, ParentCommandLine, User,
 * CurrentDirectory, ProcessId, ParentProcessId. HAE_ENOENT if it exited. */
int proc_describe(pid_t pid, hae_event *ev, hae_err *err);

/* Stealth scan over every process. Findings: proc.deleted_exe,
 * proc.tmp_exe, proc.memfd_exe, proc.masquerade, proc.histfile_null,
 * proc.home_tmp, proc.bpfdoor_mutex. */
int proc_scan(const hae_sink *sink, hae_err *err);

/* Real-time process execution through the netlink proc connector. */
typedef struct proc_watch proc_watch;
int proc_watch_open(proc_watch **out, hae_err *err); /* HAE_ENOTSUP/HAE_EPERM if unavailable */
int proc_watch_fd(const proc_watch *w);
/* Drains pending notifications; emits one process_creation event per exec,
 * and proc.watch_overrun when the kernel dropped notifications. */
int proc_watch_read(proc_watch *w, const hae_sink *sink, hae_err *err);
void proc_watch_close(proc_watch *w); /* NULL is fine */

/* ---- fim ------------------------------------------------------------- */

typedef struct fim_options {
    const char *const *roots;      /* trees to baseline and watch */
    size_t root_count;
    const char *const *web_roots;  /* trees where new scripts are web shells */
    size_t web_root_count;
    unsigned threads;              /* hashing workers; 0 = one per core */
    /* ransomware signal: this many high-entropy modifications or renames
     * within burst_window_ms in the watched trees */
    unsigned burst_threshold;      /* 0 = default (20) */
    unsigned burst_window_ms;      /* 0 = default (10000) */
    const char *etc_prefix;        /* changes below it are fim.etc_changed; NULL = "/etc" */
    const char *canary_list;       /* file listing planted canaries; NULL = none */
    bool force_inotify;            /* skip fanotify (also env HAETAE_FIM_INOTIFY=1) */
} fim_options;

/* Walks the roots, hashes every regular file (SHA-256) and writes the
 * baseline atomically to path. Unreadable files are recorded and reported. */
int fim_baseline_build(const fim_options *opt, const char *path, const hae_sink *sink,
                       hae_err *err);
/* Compares the roots with the baseline at path. Findings: fim.created,
 * fim.modified, fim.deleted, fim.permissions, fim.suid, fim.webshell,
 * fim.etc_changed, fim.canary, fim.error (docs/findings/fim.md). A corrupt
 * or truncated baseline is HAE_EINVAL naming the file, record and offset. */
int fim_baseline_check(const fim_options *opt, const char *path, const hae_sink *sink,
                       hae_err *err);

/* Real-time watching: fanotify with file ids where the kernel allows, else
 * inotify. Opening emits fim.watcher naming the mechanism in use. */
typedef struct fim_watch fim_watch;
int fim_watch_open(fim_watch **out, const fim_options *opt, const hae_sink *sink, hae_err *err);
int fim_watch_fd(const fim_watch *w);
/* Drains pending notifications: file_event events (Action created,
 * modified, deleted, renamed, attrib) and the findings that apply. */
int fim_watch_read(fim_watch *w, const hae_sink *sink, hae_err *err);
void fim_watch_close(fim_watch *w); /* NULL is fine */
/* Canary files: planted in each root and listed in opt->canary_list (which
 * fim_watch_open and fim_baseline_check read); any change, rename or delete
 * of one is fim.canary. Emits fim.canary_planted per file. */
int fim_canary_plant(const fim_options *opt, const hae_sink *sink, hae_err *err);

/* Shannon entropy of bytes in bits per byte (0..8). */
double fim_entropy(const unsigned char *bytes, size_t len);

/* ---- hashes ------------------------------------------------------- */

/* SHA-256 of the file at path (a /proc/PID/exe link works) as 64 lowercase
 * hex digits, as findings report it; HAE_ELIMIT past max_bytes, HAE_ENOENT
 * or HAE_EIO when it cannot be read. */
int sensor_sha256_file(const char *path, uint64_t max_bytes, char hex[65]) HAE_MUST_USE;

/* ---- log ------------------------------------------------------------- */

/* Follows files across rotation (new inode at the path: the old descriptor
 * is read to its end first), truncation (size below the read offset: read
 * again from 0) and files that appear later. Each line is parsed with
 * hae_log_parse_line(HAE_LOGFMT_AUTO) and gains an id, LogFile and
 * FileOffset (a byte offset: line numbers mean nothing once a file
 * rotates); logsource service is the parser's or else the file's name.
 * Lines over 64 KiB come in parts marked LinePart and Truncated; a last
 * line without '\n' waits for its end or for rotation. Findings: log.error. */
typedef struct log_tail log_tail;
int log_tail_open(log_tail **out, const char *const *paths, size_t count, bool from_start,
                  hae_err *err);
int log_tail_fd(const log_tail *t); /* inotify fd, or -1: poll with a timeout */
int log_tail_read(log_tail *t, const hae_sink *sink, hae_err *err);
void log_tail_close(log_tail *t);
/* Where each file was read up to (a text line per file: device, inode,
 * offset, a hash of its first bytes, path), to be saved once the events
 * before it are durable. */
int log_tail_positions(log_tail *t, hae_buf *out) HAE_MUST_USE;
/* Before the first read, picks each file up at its saved position: a file
 * rotated while the agent was down is finished from its rotated name first;
 * what cannot be read back (truncated, compressed, deleted, or a damaged
 * saved line) becomes a log.gap finding on sink. */
int log_tail_resume(log_tail *t, const char *saved, size_t len, const hae_sink *sink,
                    hae_err *err) HAE_MUST_USE;

/* journald through libsystemd when built with it; HAE_ENOTSUP otherwise. */
typedef struct log_journal log_journal;
int log_journal_open(log_journal **out, bool from_start, hae_err *err);
/* The journal files in dir: a journal collected from another host
 * (/var/log/journal/<machine-id>), read like the live one. */
int log_journal_open_directory(log_journal **out, const char *dir, bool from_start,
                               hae_err *err);
int log_journal_fd(const log_journal *j);
int log_journal_read(log_journal *j, const hae_sink *sink, hae_err *err);
/* The cursor of the last entry read (NULL before the first), to be saved
 * once the events before it are durable. */
const char *log_journal_cursor(const log_journal *j);
/* Before the first read, continues after the entry at cursor; when that
 * entry is gone (vacuumed), says so with a log.gap finding and reads from
 * the nearest later one. */
int log_journal_resume(log_journal *j, const char *cursor, const hae_sink *sink,
                       hae_err *err) HAE_MUST_USE;
void log_journal_close(log_journal *j);

/* ---- yara ------------------------------------------------------------ */

/* A compiled rule set. Read-only once open: threads may scan with one
 * scanner at the same time. */
typedef struct yara_scanner yara_scanner;
/* Compiles the rule files once (each file its own namespace, named after
 * the file); errors name file and line ("rules/x.yar:14: syntax error"). */
int yara_scanner_open(yara_scanner **out, const char *const *rule_paths, size_t count,
                      hae_err *err);
void yara_scanner_set_timeout(yara_scanner *s, int seconds); /* per scan; default 60 */
/* Emits one finding yara.match per matching rule (severity from the rule's
 * meta severity/level, else high). A file that cannot be scanned (gone,
 * unreadable, not regular, timed out) is a yara.error finding and HAE_OK:
 * the caller goes on. Errors are the sink's or out of memory. */
int yara_scan_file(yara_scanner *s, const char *path, const hae_sink *sink, hae_err *err);
/* label names the buffer in TargetFilename (NULL: "(buffer)"). */
int yara_scan_buffer(yara_scanner *s, const void *data, size_t len, const char *label,
                     const hae_sink *sink, hae_err *err);
void yara_scanner_close(yara_scanner *s); /* NULL is fine */
size_t yara_scanner_rule_count(const yara_scanner *s);
/* Each matching rule to on_match (its identifier, the file's namespace,
 * tags, severity as yara_scan_file gives it) instead of a finding; a negative return stops the scan and is
 * passed up. A file that cannot be scanned is an error naming it (HAE_EIO;
 * HAE_ELIMIT on timeout). For callers with their own output (hunt). */
typedef int (*yara_match_fn)(void *ctx, const char *rule, const char *ns,
                             const char *const *tags, size_t tag_count, hae_severity severity,
                             hae_err *err);
int yara_scan_file_matches(yara_scanner *s, const char *path, yara_match_fn on_match, void *ctx,
                           hae_err *err);
int yara_scan_buffer_matches(yara_scanner *s, const void *data, size_t len,
                             yara_match_fn on_match, void *ctx, hae_err *err);

#endif
