/* yaml: YAML read through libfyaml into a small tree of our own (maps,
 * sequences, scalars with their lines), with what libfyaml 0.8 mishandles
 * refused up front with the file and line. Sigma rules (collections are
 * merged documents) and allowlists are read through it; nobody else links
 * libfyaml. */
#ifndef HAETAE_YAML_H
#define HAETAE_YAML_H

#include <stdbool.h>
#include <stddef.h>

#include "core/core.h"

typedef enum { Y_SCALAR, Y_MAP, Y_SEQ } ynode_type;
typedef struct ynode ynode;
typedef struct ypair {
    const char *key;
    int line;
    ynode *value;
} ypair;
struct ynode {
    ynode_type type;
    int line;              /* 1-based */
    const char *text;      /* Y_SCALAR */
    size_t len;
    bool is_null;          /* plain null, ~ or nothing */
    ypair *pairs;          /* Y_MAP */
    ynode **items;         /* Y_SEQ */
    size_t count;
};

typedef struct ydoc {
    ynode *root;
    int line;
} ydoc;

/* Parses every document; on a YAML error returns HAE_EINVAL naming the line. */
int yaml_parse_documents(hae_arena *arena, const char *name, const char *text, size_t len,
                         ydoc **docs, size_t *count, hae_err *err);
const ynode *yaml_get(const ynode *map, const char *key);
const char *yaml_scalar(const ynode *n); /* NULL unless a non-null scalar */
/* Deep merge of Sigma rule collections: maps key by key, else over wins. */
ynode *yaml_merge(hae_arena *arena, const ynode *base, const ynode *over);

#endif
