/* fim internals shared by the fim_*.c files: the entry list a walk
 * produces and a baseline stores, the on-disk format's parser (a pure
 * function over bytes, so the fuzzer can feed it), hashing, and the rules
 * that turn a change into findings. Private to src/sensor. */
#ifndef HAETAE_SENSOR_FIM_INTERNAL_H
#define HAETAE_SENSOR_FIM_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "core/core.h"
#include "sensor/sensor.h"

#define FIM_SHA256_LEN 32

/* File types as stored in the baseline (stable numbers, not S_IF*). */
enum {
    FIM_TYPE_REGULAR = 1,
    FIM_TYPE_DIRECTORY = 2,
    FIM_TYPE_SYMLINK = 3,
    FIM_TYPE_CHAR = 4,
    FIM_TYPE_BLOCK = 5,
    FIM_TYPE_FIFO = 6,
    FIM_TYPE_SOCKET = 7,
};

/* Entry flags. */
enum {
    FIM_HAS_HASH = 1u << 0,    /* sha256 holds the content hash */
    FIM_UNREADABLE = 1u << 1,  /* could not be hashed; reason was reported */
};

/* One file system object. path and link_target live in the list's arena,
 * are NUL-terminated (a POSIX name holds no NUL) and may hold any other
 * byte, newlines and invalid UTF-8 included. */
typedef struct fim_entry {
    const char *path;
    const char *link_target;  /* symlinks only, else NULL; never followed */
    uint32_t path_len;
    uint32_t link_len;
    uint8_t type;
    uint8_t flags;
    uint32_t mode;            /* st_mode permission and special bits (07777) */
    uint32_t uid;
    uint32_t gid;
    uint64_t size;
    int64_t mtime_ns;
    uint64_t inode;
    uint64_t device;
    unsigned char sha256[FIM_SHA256_LEN];
} fim_entry;

/* A growable list: memory grows linearly with the tree, no fixed cap. */
typedef struct fim_entries {
    fim_entry *items;
    size_t count;
    size_t cap;
    hae_arena arena;
    const char **roots;  /* a parsed baseline's roots (in arena); NULL for a scan */
    size_t root_count;
} fim_entries;

fim_entry *fim_entries_push(fim_entries *list);  /* zeroed slot; NULL on OOM */
void fim_entries_sort(fim_entries *list);         /* byte order of path */
const fim_entry *fim_entries_find(const fim_entries *sorted, const char *path);
void fim_entries_free(fim_entries *list);
uint8_t fim_type_from_mode(mode_t mode);
const char *fim_type_name(uint8_t type);

/* ---- walk and hash (fim_walk.c, fim_hash.c) -------------------------- */

/* Walks every root without following symlinks and hashes regular files
 * with opt->threads workers. Files that cannot be read or vanish are kept
 * (flag FIM_UNREADABLE or dropped when gone) and reported as fim.error. */
int fim_scan(const fim_options *opt, fim_entries *out, const hae_sink *sink, hae_err *err);
/* Walk only: lstat data, no hashing. */
int fim_walk(const char *const *roots, size_t root_count, fim_entries *out,
             const hae_sink *sink, hae_err *err);
/* Hashes the regular files of list in parallel; threads 0 = one per core. */
int fim_hash_entries(fim_entries *list, unsigned threads, const hae_sink *sink, hae_err *err);
/* SHA-256 of an open file read from its start; HAE_EIO with errno text. */
int fim_hash_fd(int fd, unsigned char *buffer, size_t buffer_len,
                unsigned char digest[FIM_SHA256_LEN], hae_err *err);
void fim_hex(const unsigned char *bytes, size_t len, char *out); /* out: 2*len+1 */

/* Emits fim.error (informational) for path with reason; the scan goes on. */
int fim_report_error(const hae_sink *sink, const char *path, size_t path_len, const char *reason);

/* ---- the baseline file (fim_baseline.c) ------------------------------ */

/* Parses a whole baseline held in memory; name labels errors
 * ("base.db: record 12 at offset 4096: ..."). Entries are appended to out. */
int fim_baseline_parse(const unsigned char *data, size_t len, const char *name,
                       fim_entries *out, hae_err *err);
/* Serialises entries (already sorted) into out. */
int fim_baseline_serialize(const fim_entries *list, const char *const *roots,
                           size_t root_count, hae_buf *out);
int fim_baseline_load(const char *path, fim_entries *out, hae_err *err);
uint32_t fim_crc32(uint32_t crc, const void *bytes, size_t len);

/* ---- roots across runs (fim_roots.c) --------------------------------- */

/* Moves the entries of list that no root covers to uncovered (copies that
 * share list's strings); list keeps the rest, in order. */
int fim_entries_split_uncovered(fim_entries *list, const char *const *roots, size_t n,
                                fim_entries *uncovered) HAE_MUST_USE;
/* When opt has roots the baseline loaded from path does not cover:
 * rewrites path with the baseline's entries (base, split into those this
 * run compared and those elsewhere), the new roots and their entries
 * (added), and says so in one fim.root_baselined finding. */
int fim_baseline_add_roots(const fim_options *opt, const char *path, const fim_entries *base,
                           const fim_entries *elsewhere, const fim_entries *added,
                           const hae_sink *sink, hae_err *err) HAE_MUST_USE;

/* ---- rules (fim_rules.c) --------------------------------------------- */

bool fim_path_under(const char *path, const char *prefix);
bool fim_is_web_path(const fim_options *opt, const char *path);
bool fim_is_etc_path(const fim_options *opt, const char *path);
/* A script extension served by web servers, or any executable bit. */
bool fim_is_webshell_candidate(const char *path, uint32_t mode, uint8_t type);
bool fim_is_setid(uint32_t mode, uint8_t type);

/* Adds the evidence fields of an entry with a prefix ("Old"/"New"). */
int fim_add_entry_evidence(hae_event *ev, const char *prefix, const fim_entry *e);
/* Emits one finding about a change: message "<what>: <path>", fields
 * TargetFilename and the Old and New evidence of whichever entries exist;
 * note_field/note_value (may be NULL) add one more field. */
int fim_emit_finding(const hae_sink *sink, const char *rule, hae_severity sev, const char *what,
                     const fim_entry *old, const fim_entry *now, const char *note_field,
                     const char *note_value, hae_err *err);
/* Fills e from lstat data; path is borrowed, not copied. */
void fim_entry_from_stat(fim_entry *e, const char *path, size_t path_len, const struct stat *st);

/* ---- canaries (fim_canary.c) ----------------------------------------- */

typedef struct fim_canaries {
    char **paths;
    size_t count;
} fim_canaries;

/* Reads opt->canary_list; an absent list (or NULL option) is empty. */
int fim_canaries_load(const fim_options *opt, fim_canaries *out, hae_err *err);
bool fim_canaries_contains(const fim_canaries *c, const char *path);
void fim_canaries_free(fim_canaries *c);
int fim_canary_report(const hae_sink *sink, const char *path, const char *action,
                      hae_err *err);

/* ---- ransomware signal (fim_ransom.c) -------------------------------- */

#define FIM_ENTROPY_SAMPLE (64 * 1024)
#define FIM_ENTROPY_THRESHOLD 7.2
#define FIM_BURST_SAMPLES 5

typedef struct fim_burst {
    unsigned threshold;
    int64_t window_ns;
    int64_t *times;       /* ring of event times within the window */
    char *samples[FIM_BURST_SAMPLES];
    size_t count;
    size_t head;
    int64_t quiet_until;  /* after a burst finding, hold off for one window */
} fim_burst;

int fim_burst_init(fim_burst *b, unsigned threshold, unsigned window_ms);
void fim_burst_free(fim_burst *b);
/* Entropy of the first FIM_ENTROPY_SAMPLE bytes of path; <0 if unreadable. */
double fim_file_entropy(const char *path);
/* Records a high-entropy write at now_ns; emits fim.ransomware_burst when
 * threshold such writes fall within the window. */
int fim_burst_note(fim_burst *b, const char *path, int64_t now_ns, const hae_sink *sink,
                   hae_err *err);

/* ---- real-time watch (fim_watch.c, fim_fanotify.c, fim_inotify.c) ---- */

/* A recently reported (rule, path): a file dropped by create + write +
 * chmod raises one web shell finding, not three. */
#define FIM_RECENT_SLOTS 64
typedef struct fim_recent {
    char *path;
    const char *rule;
    int64_t at_ns;
} fim_recent;

typedef struct fim_dir_cache fim_dir_cache;

struct fim_watch {
    fim_options opt;         /* deep copy in strings: the caller's arrays may go away */
    hae_arena strings;
    int fd;
    bool is_fanotify;
    /* fanotify: one O_PATH fd per distinct file system, for open_by_handle_at */
    int *fs_fds;
    uint64_t *fs_ids;
    size_t fs_count;
    fim_dir_cache *dir_cache;
    /* inotify: watch descriptor -> directory path */
    char **wd_paths;
    size_t wd_cap;
    size_t wd_count;
    /* a rename's first half, waiting for its second (inotify cookie) */
    char *pending_from;
    uint32_t pending_cookie;
    fim_canaries canaries;
    fim_burst burst;
    fim_recent recent[FIM_RECENT_SLOTS];
    size_t recent_next;
};

/* One change seen by either mechanism: emits the file_event event and
 * the findings that apply. source is the old name of a rename, or NULL. */
int fim_watch_change(fim_watch *w, const char *path, const char *action, const char *source,
                     const hae_sink *sink, hae_err *err);
/* Pairs rename halves: a from-half waits for the next event. */
int fim_watch_moved_from(fim_watch *w, const char *path, uint32_t cookie, const hae_sink *sink,
                         hae_err *err);
int fim_watch_moved_to(fim_watch *w, const char *path, uint32_t cookie, const hae_sink *sink,
                       hae_err *err);
int fim_watch_flush_rename(fim_watch *w, const hae_sink *sink, hae_err *err);
bool fim_watch_in_roots(const fim_watch *w, const char *path);
int fim_watch_overflow(fim_watch *w, const char *mechanism, const hae_sink *sink, hae_err *err);

/* Mechanisms: open returns HAE_ENOTSUP/HAE_EPERM with reason in err when
 * the kernel or privileges do not allow it. */
int fim_fanotify_open(fim_watch *w, hae_err *err);
int fim_fanotify_read(fim_watch *w, const hae_sink *sink, hae_err *err);
void fim_fanotify_close(fim_watch *w);
int fim_inotify_open(fim_watch *w, const hae_sink *sink, hae_err *err);
int fim_inotify_read(fim_watch *w, const hae_sink *sink, hae_err *err);
void fim_inotify_close(fim_watch *w);

#endif
