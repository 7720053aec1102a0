/* Growable buffers and arenas: the two ways core hands out memory. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"

int hae_buf_reserve(hae_buf *b, size_t extra) {
    /* +1 keeps room for the NUL terminator every append maintains. */
    if (extra > SIZE_MAX - b->len - 1) {
        return HAE_ENOMEM;
    }
    size_t need = b->len + extra + 1;
    if (need <= b->cap) {
        return HAE_OK;
    }
    size_t cap = b->cap ? b->cap : 64;
    while (cap < need) {
        cap = cap > SIZE_MAX / 2 ? need : cap * 2;
    }
    char *data = realloc(b->data, cap);
    if (!data) {
        return HAE_ENOMEM;
    }
    b->data = data;
    b->cap = cap;
    return HAE_OK;
}

int hae_buf_append(hae_buf *b, const void *bytes, size_t len) {
    int rc = hae_buf_reserve(b, len);
    if (rc < 0) {
        return rc;
    }
    if (len) {
        memcpy(b->data + b->len, bytes, len);
    }
    b->len += len;
    b->data[b->len] = '\0';
    return HAE_OK;
}

int hae_buf_append_str(hae_buf *b, const char *s) {
    return hae_buf_append(b, s, strlen(s));
}

int hae_buf_append_char(hae_buf *b, char c) {
    return hae_buf_append(b, &c, 1);
}

int hae_buf_vprintf(hae_buf *b, const char *fmt, va_list ap) {
    va_list measure;
    va_copy(measure, ap);
    int n = vsnprintf(NULL, 0, fmt, measure);
    va_end(measure);
    if (n < 0) {
        return HAE_EINVAL;
    }
    int rc = hae_buf_reserve(b, (size_t)n);
    if (rc < 0) {
        return rc;
    }
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    b->len += (size_t)n;
    return HAE_OK;
}

int hae_buf_printf(hae_buf *b, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int rc = hae_buf_vprintf(b, fmt, ap);
    va_end(ap);
    return rc;
}

void hae_buf_reset(hae_buf *b) {
    b->len = 0;
    if (b->data) {
        b->data[0] = '\0';
    }
}

void hae_buf_free(hae_buf *b) {
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

/* ---- arena ----------------------------------------------------------- */

struct hae_arena_chunk {
    hae_arena_chunk *next;
    size_t used;
    size_t cap;
    _Alignas(16) unsigned char data[];
};

enum { ARENA_CHUNK_MIN = 4096 - sizeof(hae_arena_chunk) };

void *hae_arena_alloc(hae_arena *a, size_t size) {
    size_t rounded = (size + 15u) & ~(size_t)15u;
    if (rounded < size) {
        return NULL;
    }
    hae_arena_chunk *c = a->head;
    if (!c || c->cap - c->used < rounded) {
        size_t cap = rounded > ARENA_CHUNK_MIN ? rounded : ARENA_CHUNK_MIN;
        if (c && c->cap * 2 > cap && c->cap < (1u << 20)) {
            cap = c->cap * 2; /* grow chunks so big events need few mallocs */
        }
        hae_arena_chunk *fresh = malloc(sizeof *fresh + cap);
        if (!fresh) {
            return NULL;
        }
        fresh->next = c;
        fresh->used = 0;
        fresh->cap = cap;
        a->head = c = fresh;
    }
    void *p = c->data + c->used;
    c->used += rounded;
    return p;
}

char *hae_arena_strndup(hae_arena *a, const char *s, size_t len) {
    if (len == SIZE_MAX) {
        return NULL;
    }
    char *copy = hae_arena_alloc(a, len + 1);
    if (!copy) {
        return NULL;
    }
    if (len) {
        memcpy(copy, s, len);
    }
    copy[len] = '\0';
    return copy;
}

char *hae_arena_strdup(hae_arena *a, const char *s) {
    return hae_arena_strndup(a, s, strlen(s));
}

void hae_arena_reset(hae_arena *a) {
    hae_arena_chunk *c = a->head;
    if (!c) {
        return;
    }
    /* Keep the newest (largest) chunk so steady-state reuse does not malloc. */
    hae_arena_chunk *rest = c->next;
    while (rest) {
        hae_arena_chunk *next = rest->next;
        free(rest);
        rest = next;
    }
    c->next = NULL;
    c->used = 0;
}

void hae_arena_free(hae_arena *a) {
    hae_arena_chunk *c = a->head;
    while (c) {
        hae_arena_chunk *next = c->next;
        free(c);
        c = next;
    }
    a->head = NULL;
}
