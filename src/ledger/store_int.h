/* Private to src/ledger: the log handle, shared by the files that read it. */
#ifndef HAETAE_LEDGER_STORE_INT_H
#define HAETAE_LEDGER_STORE_INT_H

#include "ledger/ledger.h"

typedef struct ledger_state {
    uint64_t seq;          /* commit record sequence */
    uint64_t size;         /* committed leaves */
    uint64_t entries_len;  /* committed bytes of the entries file */
    ledger_hash root;      /* MTH at size */
} ledger_state;

struct ledger {
    char *dir;
    int lock_fd, entries_fd, tree_fd, state_fd;
    ledger_state state;
    ledger_hash frontier[64]; /* frontier[k]: the right-edge subtree of 2^k leaves, when bit k of size is set */
    bool is_sync;
    bool is_snapshot;
    int64_t time_skew_ns;     /* < 0: no time guard */
    int64_t last_time_ns;     /* the newest entry time seen, once has_last_time */
    bool has_last_time;
    int64_t pending_time_ns;  /* the batch being appended */
    bool has_pending_time;         /* read-only: never written, never locked */
    const uint8_t *map;       /* tree, mapped read-only */
    size_t map_len;
    hae_buf entries_buf, tree_buf; /* a batch before it is written */
    hae_buf snapshot_checkpoint;   /* a snapshot's signed checkpoint, read before its state */
};

uint64_t ledger_store_tree_nodes(uint64_t size);
int ledger_store_node(void *ctx, unsigned level, uint64_t index, ledger_hash *out, hae_err *err);
void ledger_store_frontier_root(const ledger *l, ledger_hash *out);
int ledger_store_pread(int fd, void *buf, size_t len, uint64_t off);

#endif
