/* Allowlist entries as loaded, shared by loading and matching. Private to
 * src/allow. */
#ifndef HAETAE_ALLOW_INT_H
#define HAETAE_ALLOW_INT_H

#include <stdlib.h>

#include "allow/allow.h"

typedef struct string_list {
    const char **items;
    size_t count;
} string_list;

typedef struct allow_entry {
    const char *rule;       /* exact, or a prefix when it ends in ".*" */
    const char *reason;
    const char *file;
    int line;
    string_list copy_of, sha256, image;
    char (*copy_hashes)[65]; /* SHA-256 of each copy_of file, "" when unreadable */
    bool hashed;
    uint64_t hits;
} allow_entry;

struct allowlist {
    hae_arena arena;
    allow_entry *entries;
    size_t count, cap;
};

#endif
