/* The log's durable storage (docs/LEDGER.md "Files" and "Durability").
 *
 *   entries  every entry as uint16 big-endian length || bytes, in order (the
 *            tlog-tiles entry-bundle encoding, so bundles are byte ranges)
 *   tree     every complete subtree hash, 32 bytes each, in post-order: a
 *            leaf and then the parents it completes. The node at level k,
 *            index i sits at 2m - popcount(m) + k, m = (i + 1) * 2^k - 1.
 *   state    two 64-byte commit records at offsets 0 and 4096 (separate
 *            sectors), written alternately: magic, sequence, size, bytes of
 *            entries, root, SHA-256 check. The valid one with the highest
 *            sequence is the commit point.
 *
 * Commit order: entries and tree are written and fdatasync'd, then the
 * state record is written and fdatasync'd. A crash before the state write
 * leaves tails past the committed lengths, which open cuts; a crash during
 * it leaves the other record valid. Nothing is acknowledged before the
 * state record is durable. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ledger/ledger_int.h"
#include "ledger/store_int.h"

static const uint8_t STATE_MAGIC[4] = {'H', 'L', 'S', '1'};
#define STATE_RECORD 64
#define STATE_SLOT_STRIDE 4096

static uint64_t node_position(unsigned level, uint64_t index) {
    uint64_t m = ((index + 1) << level) - 1;
    return 2 * m - (uint64_t)__builtin_popcountll(m) + level;
}

uint64_t ledger_store_tree_nodes(uint64_t size) {
    return 2 * size - (uint64_t)__builtin_popcountll(size);
}

static void put_be64(uint8_t *p, uint64_t v) {
    for (int i = 7; i >= 0; i--, v >>= 8) p[i] = (uint8_t)v;
}
static uint64_t get_be64(const uint8_t *p) {
    uint64_t v = 0;
    for (int i = 0; i < 8; i++) v = v << 8 | p[i];
    return v;
}

static void state_encode(uint8_t rec[STATE_RECORD], uint64_t seq, uint64_t size,
                         uint64_t entries_len, const ledger_hash *root) {
    memcpy(rec, STATE_MAGIC, sizeof STATE_MAGIC);
    put_be64(rec + 4, seq);
    put_be64(rec + 12, size);
    put_be64(rec + 20, entries_len);
    memcpy(rec + 28, root->bytes, LEDGER_HASH_LEN);
    uint8_t digest[32];
    SHA256(rec, 60, digest);
    memcpy(rec + 60, digest, 4);
}

static bool state_decode(const uint8_t rec[STATE_RECORD], ledger_state *out) {
    uint8_t digest[32];
    if (memcmp(rec, STATE_MAGIC, sizeof STATE_MAGIC) != 0) return false;
    SHA256(rec, 60, digest);
    if (memcmp(rec + 60, digest, 4) != 0) return false;
    out->seq = get_be64(rec + 4);
    out->size = get_be64(rec + 12);
    out->entries_len = get_be64(rec + 20);
    memcpy(out->root.bytes, rec + 28, LEDGER_HASH_LEN);
    return true;
}

static int pwrite_all(int fd, const void *data, size_t len, uint64_t off) {
    const char *p = data;
    while (len > 0) {
        ssize_t n = pwrite(fd, p, len, (off_t)off);
        if (n < 0) {
            if (errno == EINTR) continue;
            return -1;
        }
        p += n, len -= (size_t)n, off += (uint64_t)n;
    }
    return 0;
}

int ledger_store_pread(int fd, void *buf, size_t len, uint64_t off) {
    char *p = buf;
    while (len > 0) {
        ssize_t n = pread(fd, p, len, (off_t)off);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return -1;
        p += n, len -= (size_t)n, off += (uint64_t)n;
    }
    return 0;
}

static int write_state(ledger *l, uint64_t size, uint64_t entries_len, const ledger_hash *root,
                       hae_err *err) {
    uint8_t rec[STATE_RECORD];
    uint64_t seq = l->state.seq + 1;
    state_encode(rec, seq, size, entries_len, root);
    if (pwrite_all(l->state_fd, rec, sizeof rec, (seq % 2) * STATE_SLOT_STRIDE) < 0 ||
        (l->is_sync && fdatasync(l->state_fd) < 0)) {
        return hae_err_errno(err, errno, "%s/state: cannot commit", l->dir);
    }
    l->state.seq = seq;
    return HAE_OK;
}

/* ---- reading nodes ---------------------------------------------------- */

static int remap(ledger *l, hae_err *err) {
    struct stat st;
    if (fstat(l->tree_fd, &st) < 0) return hae_err_errno(err, errno, "%s/tree", l->dir);
    if (l->map) munmap((void *)l->map, l->map_len);
    l->map = NULL;
    l->map_len = 0;
    if (st.st_size == 0) return HAE_OK;
    void *m = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_SHARED, l->tree_fd, 0);
    if (m == MAP_FAILED) return hae_err_errno(err, errno, "%s/tree: mmap", l->dir);
    l->map = m;
    l->map_len = (size_t)st.st_size;
    return HAE_OK;
}

int ledger_store_node(void *ctx, unsigned level, uint64_t index, ledger_hash *out, hae_err *err) {
    ledger *l = ctx;
    uint64_t pos = node_position(level, index);
    if (pos >= ledger_store_tree_nodes(l->state.size)) {
        return hae_err_set(err, HAE_EINVAL, "ledger: node %u/%" PRIu64 " is beyond the tree", level, index);
    }
    uint64_t off = pos * LEDGER_HASH_LEN;
    if (off + LEDGER_HASH_LEN > l->map_len) {
        int rc = remap(l, err);
        if (rc < 0) return rc;
        if (off + LEDGER_HASH_LEN > l->map_len) {
            return hae_err_set(err, HAE_EIO, "%s/tree: shorter than its committed size", l->dir);
        }
    }
    memcpy(out->bytes, l->map + off, LEDGER_HASH_LEN);
    return HAE_OK;
}

/* ---- open and recovery ------------------------------------------------ */

static int open_file(ledger *l, const char *name, int *fd, bool *is_new, hae_err *err) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", l->dir, name);
    *fd = open(path, (l->is_snapshot ? O_RDONLY : O_RDWR) | O_CLOEXEC);
    if (*fd < 0 && errno == ENOENT && is_new) {
        *fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
        *is_new = true;
    }
    if (*fd < 0) return hae_err_errno(err, errno, "%s", path);
    return HAE_OK;
}

static int cut_tail(ledger *l, int fd, const char *name, uint64_t want, hae_err *err) {
    struct stat st;
    if (fstat(fd, &st) < 0) return hae_err_errno(err, errno, "%s/%s", l->dir, name);
    uint64_t have = (uint64_t)st.st_size;
    if (have < want) {
        return hae_err_set(err, HAE_EINVAL,
                           "%s/%s: %" PRIu64 " bytes, but %" PRIu64 " were committed: "
                           "committed data is missing (truncated or deleted)",
                           l->dir, name, have, want);
    }
    /* A snapshot reads up to the commit point; what lies past it is the
     * writer's next append (or a torn tail the writer will cut). */
    if (have > want && !l->is_snapshot) {
        hae_log(HAE_LOG_WARN, "ledger %s/%s: cutting %" PRIu64 " bytes written after the last commit",
                l->dir, name, have - want);
        if (ftruncate(fd, (off_t)want) < 0 || fsync(fd) < 0) {
            return hae_err_errno(err, errno, "%s/%s: cannot cut the torn tail", l->dir, name);
        }
    }
    return HAE_OK;
}

static int load_state(ledger *l, bool is_new, hae_err *err) {
    if (is_new) {
        ledger_hash empty;
        ledger_hash_empty(&empty);
        l->state.seq = 0;
        int rc = write_state(l, 0, 0, &empty, err);
        if (rc == HAE_OK && fsync(l->state_fd) < 0) rc = hae_err_errno(err, errno, "%s/state", l->dir);
        if (rc == HAE_OK) rc = ledger_fsync_dir(l->dir, err);
        if (rc < 0) return rc;
        l->state.size = 0;
        l->state.entries_len = 0;
        l->state.root = empty;
        return HAE_OK;
    }
    uint8_t rec[2][STATE_RECORD];
    ledger_state slots[2];
    bool ok[2];
    for (int i = 0; i < 2; i++) {
        ok[i] = ledger_store_pread(l->state_fd, rec[i], STATE_RECORD, (uint64_t)i * STATE_SLOT_STRIDE) == 0 &&
                state_decode(rec[i], &slots[i]);
    }
    if (!ok[0] && !ok[1] && l->is_snapshot) {
        return hae_err_set(err, HAE_EINVAL, "%s/state: no valid commit record (damaged or not a ledger)", l->dir);
    }
    if (!ok[0] && !ok[1]) {
        /* The first record is written before any entry; a crash before it
         * was durable leaves an empty ledger to start again. */
        struct stat st_e, st_t;
        if (fstat(l->entries_fd, &st_e) == 0 && fstat(l->tree_fd, &st_t) == 0 &&
            st_e.st_size == 0 && st_t.st_size == 0) {
            return load_state(l, true, err);
        }
        return hae_err_set(err, HAE_EINVAL, "%s/state: no valid commit record (damaged or not a ledger)", l->dir);
    }
    int best = (!ok[0] || (ok[1] && slots[1].seq > slots[0].seq)) ? 1 : 0;
    l->state = slots[best];
    return HAE_OK;
}

static int load_frontier(ledger *l, hae_err *err) {
    uint64_t begin = 0;
    for (int k = 63; k >= 0; k--) {
        if (!((l->state.size >> k) & 1)) continue;
        uint64_t off = node_position((unsigned)k, begin >> k) * LEDGER_HASH_LEN;
        if (ledger_store_pread(l->tree_fd, l->frontier[k].bytes, LEDGER_HASH_LEN, off) < 0) {
            return hae_err_errno(err, errno ? errno : EIO, "%s/tree: cannot read node %d", l->dir, k);
        }
        begin += (uint64_t)1 << k;
    }
    return HAE_OK;
}

void ledger_store_frontier_root(const ledger *l, ledger_hash *out) {
    bool has = false;
    for (int k = 0; k < 64; k++) {
        if (!((l->state.size >> k) & 1)) continue;
        if (!has) {
            *out = l->frontier[k];
            has = true;
        } else {
            ledger_hash_node(&l->frontier[k], out, out);
        }
    }
    if (!has) ledger_hash_empty(out);
}

static int recover(ledger *l, bool is_new, hae_err *err) {
    int rc = load_state(l, is_new, err);
    if (rc == HAE_OK) rc = cut_tail(l, l->entries_fd, "entries", l->state.entries_len, err);
    if (rc == HAE_OK) {
        rc = cut_tail(l, l->tree_fd, "tree", ledger_store_tree_nodes(l->state.size) * LEDGER_HASH_LEN, err);
    }
    if (rc == HAE_OK) rc = load_frontier(l, err);
    if (rc < 0) return rc;
    ledger_hash root;
    ledger_store_frontier_root(l, &root);
    if (!ledger_hash_equal(&root, &l->state.root)) {
        return hae_err_set(err, HAE_EINVAL,
                           "%s/tree: the stored hashes do not give the committed root at size %" PRIu64
                           " (tree modified)", l->dir, l->state.size);
    }
    return remap(l, err);
}

static ledger *alloc_handle(const char *dir) {
    ledger *l = calloc(1, sizeof *l);
    if (!l || !(l->dir = strdup(dir))) {
        free(l);
        return NULL;
    }
    l->lock_fd = l->entries_fd = l->tree_fd = l->state_fd = -1;
    l->is_sync = true;
    l->time_skew_ns = -1;
    return l;
}

/* The commit record is one 64-byte write into the slot the last commit did
 * not use, after the data it covers is written: whichever valid record the
 * snapshot reads, everything it counts is already in entries and tree, and
 * a writer never rewrites bytes below a commit point. */
int ledger_open_snapshot(ledger **out, const char *dir, hae_err *err) {
    *out = NULL;
    ledger *l = alloc_handle(dir);
    if (!l) return hae_err_set(err, HAE_ENOMEM, "ledger: out of memory");
    l->is_snapshot = true;
    /* The checkpoint first: a writer signs only trees it committed, so the
     * commit point read after it is never behind it. */
    char path[4096];
    snprintf(path, sizeof path, "%s/checkpoint", dir);
    int rc = ledger_file_read(path, LEDGER_NOTE_MAX, &l->snapshot_checkpoint, err);
    if (rc == HAE_OK) rc = open_file(l, "entries", &l->entries_fd, NULL, err);
    if (rc == HAE_OK) rc = open_file(l, "tree", &l->tree_fd, NULL, err);
    if (rc == HAE_OK) rc = open_file(l, "state", &l->state_fd, NULL, err);
    if (rc == HAE_OK) rc = recover(l, false, err);
    if (rc < 0) {
        ledger_close(l);
        return rc;
    }
    *out = l;
    return HAE_OK;
}

int ledger_open(ledger **out, const char *dir, hae_err *err) {
    *out = NULL;
    int rc = ledger_mkdir_p(dir, err);
    if (rc < 0) return rc;
    ledger *l = alloc_handle(dir);
    if (!l) return hae_err_set(err, HAE_ENOMEM, "ledger: out of memory");
    bool is_new = false, ignored = false;
    rc = open_file(l, "lock", &l->lock_fd, &ignored, err);
    if (rc == HAE_OK && flock(l->lock_fd, LOCK_EX | LOCK_NB) < 0) {
        rc = errno == EWOULDBLOCK
                 ? hae_err_set(err, HAE_EPERM, "%s: another process has this ledger open", dir)
                 : hae_err_errno(err, errno, "%s/lock", dir);
    }
    /* state decides whether this is a new ledger: created last, it exists
     * only once entries and tree do. */
    if (rc == HAE_OK) rc = open_file(l, "entries", &l->entries_fd, &ignored, err);
    if (rc == HAE_OK) rc = open_file(l, "tree", &l->tree_fd, &ignored, err);
    if (rc == HAE_OK) rc = open_file(l, "state", &l->state_fd, &is_new, err);
    if (rc == HAE_OK) rc = recover(l, is_new, err);
    if (rc < 0) {
        ledger_close(l);
        return rc;
    }
    *out = l;
    return HAE_OK;
}

void ledger_close(ledger *l) {
    if (!l) return;
    if (l->map) munmap((void *)l->map, l->map_len);
    int fds[] = {l->entries_fd, l->tree_fd, l->state_fd, l->lock_fd};
    for (size_t i = 0; i < sizeof fds / sizeof fds[0]; i++) {
        if (fds[i] >= 0) close(fds[i]);
    }
    hae_buf_free(&l->entries_buf);
    hae_buf_free(&l->tree_buf);
    hae_buf_free(&l->snapshot_checkpoint);
    free(l->dir);
    free(l);
}

uint64_t ledger_size(const ledger *l) {
    return l->state.size;
}

const char *ledger_dir(const ledger *l) {
    return l->dir;
}

void ledger_set_sync(ledger *l, bool is_sync) {
    l->is_sync = is_sync;
}

void ledger_set_time_guard(ledger *l, int64_t skew_ns) {
    l->time_skew_ns = skew_ns;
}

static int remember_time(void *ctx, uint64_t index, const void *entry, size_t len, hae_err *err) {
    (void)index, (void)err;
    ledger *l = ctx;
    int64_t t = 0;
    if (ledger_entry_time(entry, len, &t) == HAE_OK) {
        l->last_time_ns = t;
        l->has_last_time = true;
    }
    return HAE_OK;
}

/* The batch in order, each entry against the newest time before it. The
 * log's last entry is read once, on the first guarded append. */
static int check_times(ledger *l, const ledger_entry_ref *entries, size_t count, hae_err *err) {
    if (l->time_skew_ns < 0) return HAE_OK;
    if (!l->has_last_time && l->state.size > 0) {
        int rc = ledger_scan(l, l->state.size - 1, 1, remember_time, l, err);
        if (rc < 0) return rc;
    }
    int64_t newest = l->last_time_ns;
    bool has = l->has_last_time;
    for (size_t i = 0; i < count; i++) {
        int64_t t = 0;
        if (ledger_entry_time(entries[i].data, entries[i].len, &t) != HAE_OK) continue;
        if (has) {
            int rc = ledger_time_check(newest, t, l->time_skew_ns, err);
            if (rc < 0) return hae_err_prefix(err, "batch entry %zu: ", i);
        }
        if (!has || t > newest) newest = t;
        has = true;
    }
    l->pending_time_ns = newest;
    l->has_pending_time = has;
    return HAE_OK;
}

/* ---- appending -------------------------------------------------------- */

/* Adds one leaf to the frontier and emits it and the parents it completes
 * to the tree buffer, in post-order. */
static int push_leaf(ledger *l, uint64_t *size, const ledger_hash *leaf) {
    ledger_hash carry = *leaf;
    int rc = hae_buf_append(&l->tree_buf, carry.bytes, LEDGER_HASH_LEN);
    unsigned level = 0;
    while (rc == HAE_OK && ((*size >> level) & 1)) {
        ledger_hash_node(&l->frontier[level], &carry, &carry);
        rc = hae_buf_append(&l->tree_buf, carry.bytes, LEDGER_HASH_LEN);
        level++;
    }
    l->frontier[level] = carry;
    (*size)++;
    return rc;
}

int ledger_append_batch(ledger *l, const ledger_entry_ref *entries, size_t count,
                        uint64_t *first_index, hae_err *err) {
    if (l->is_snapshot) return hae_err_set(err, HAE_EPERM, "%s: opened read-only", l->dir);
    for (size_t i = 0; i < count; i++) {
        if (entries[i].len > LEDGER_ENTRY_MAX) {
            return hae_err_set(err, HAE_EINVAL, "ledger: entry %zu of the batch has %zu bytes, at most %u fit",
                               i, entries[i].len, LEDGER_ENTRY_MAX);
        }
    }
    if (first_index) *first_index = l->state.size;
    if (count == 0) return HAE_OK;
    int trc = check_times(l, entries, count, err);
    if (trc < 0) return trc;
    ledger_hash saved[64];
    memcpy(saved, l->frontier, sizeof saved);
    hae_buf_reset(&l->entries_buf);
    hae_buf_reset(&l->tree_buf);
    uint64_t size = l->state.size;
    int rc = HAE_OK;
    for (size_t i = 0; rc == HAE_OK && i < count; i++) {
        uint8_t len_be[2] = {(uint8_t)(entries[i].len >> 8), (uint8_t)entries[i].len};
        ledger_hash leaf;
        ledger_hash_leaf(entries[i].data, entries[i].len, &leaf);
        rc = hae_buf_append(&l->entries_buf, len_be, 2);
        if (rc == HAE_OK && entries[i].len) rc = hae_buf_append(&l->entries_buf, entries[i].data, entries[i].len);
        if (rc == HAE_OK) rc = push_leaf(l, &size, &leaf);
    }
    if (rc < 0) {
        memcpy(l->frontier, saved, sizeof saved);
        return hae_err_set(err, rc, "ledger: out of memory");
    }
    uint64_t tree_off = ledger_store_tree_nodes(l->state.size) * LEDGER_HASH_LEN;
    if (pwrite_all(l->entries_fd, l->entries_buf.data, l->entries_buf.len, l->state.entries_len) < 0 ||
        pwrite_all(l->tree_fd, l->tree_buf.data, l->tree_buf.len, tree_off) < 0 ||
        (l->is_sync && (fdatasync(l->entries_fd) < 0 || fdatasync(l->tree_fd) < 0))) {
        rc = hae_err_errno(err, errno, "%s: cannot write entries", l->dir);
    }
    ledger_state next = {.size = size, .entries_len = l->state.entries_len + l->entries_buf.len};
    if (rc == HAE_OK) {
        ledger_state old = l->state;
        l->state.size = size; /* frontier_root reads the bits of the new size */
        ledger_store_frontier_root(l, &next.root);
        l->state = old;
        rc = write_state(l, next.size, next.entries_len, &next.root, err);
    }
    if (rc < 0) {
        memcpy(l->frontier, saved, sizeof saved);
        return rc;
    }
    next.seq = l->state.seq;
    l->state = next;
    if (l->time_skew_ns >= 0 && l->has_pending_time) {
        l->last_time_ns = l->pending_time_ns;
        l->has_last_time = true;
    }
    return HAE_OK;
}

int ledger_append(ledger *l, const void *entry, size_t len, uint64_t *index, hae_err *err) {
    ledger_entry_ref ref = {entry, len};
    return ledger_append_batch(l, &ref, 1, index, err);
}
