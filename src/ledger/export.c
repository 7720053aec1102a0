/* The C2SP tlog-tiles static tree (c2sp.org/tlog-tiles "APIs"): the
 * checkpoint, hash tiles tile/<L>/<N>[.p/<W>] and entry bundles
 * tile/entries/<N>[.p/<W>], as files any web server can serve. */
#include <errno.h>
#include <inttypes.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "ledger/ledger_int.h"
#include "ledger/store_int.h"

#define TILE_WIDTH 256

int ledger_tile_index_path(uint64_t n, hae_buf *out) {
    /* Zero-padded 3-digit elements, all but the last prefixed with 'x'. */
    char groups[8][4];
    int count = 0;
    do {
        snprintf(groups[count++], sizeof groups[0], "%03u", (unsigned)(n % 1000));
        n /= 1000;
    } while (n > 0);
    int rc = HAE_OK;
    for (int i = count - 1; rc == HAE_OK && i >= 0; i--) {
        rc = hae_buf_printf(out, "%s%s%s", i == count - 1 ? "" : "/", i > 0 ? "x" : "", groups[i]);
    }
    return rc;
}

int ledger_node(ledger *l, unsigned level, uint64_t index, ledger_hash *out, hae_err *err) {
    if (level > 63 || index >= (UINT64_MAX >> level) || ((index + 1) << level) > l->state.size) {
        return hae_err_set(err, HAE_EINVAL, "ledger: no complete subtree at level %u index %" PRIu64,
                           level, index);
    }
    return ledger_store_node(l, level, index, out, err);
}

static int tile_path(const char *out_dir, const char *level, uint64_t n, unsigned width,
                     hae_buf *path) {
    hae_buf_reset(path);
    int rc = hae_buf_printf(path, "%s/tile/%s/", out_dir, level);
    if (rc == HAE_OK) rc = ledger_tile_index_path(n, path);
    if (rc == HAE_OK && width < TILE_WIDTH) rc = hae_buf_printf(path, ".p/%u", width);
    return rc;
}

static int write_file(const char *path, const void *data, size_t len, hae_err *err) {
    char dir[PATH_MAX];
    snprintf(dir, sizeof dir, "%s", path);
    int rc = ledger_mkdir_p(dirname(dir), err);
    if (rc < 0) return rc;
    FILE *f = fopen(path, "wbe");
    if (!f) return hae_err_errno(err, errno, "%s", path);
    bool ok = fwrite(data, 1, len, f) == len;
    if (fclose(f) != 0) ok = false;
    return ok ? HAE_OK : hae_err_errno(err, errno ? errno : EIO, "%s", path);
}

static int export_level(ledger *l, const char *out_dir, unsigned level, uint64_t count,
                        hae_err *err) {
    uint8_t tile[TILE_WIDTH * LEDGER_HASH_LEN];
    char name[8];
    snprintf(name, sizeof name, "%u", level);
    hae_buf path = {0};
    int rc = HAE_OK;
    for (uint64_t n = 0; rc == HAE_OK && n * TILE_WIDTH < count; n++) {
        uint64_t left = count - n * TILE_WIDTH;
        unsigned width = left < TILE_WIDTH ? (unsigned)left : TILE_WIDTH;
        for (unsigned i = 0; rc == HAE_OK && i < width; i++) {
            ledger_hash h;
            rc = ledger_store_node(l, level * 8, n * TILE_WIDTH + i, &h, err);
            memcpy(tile + (size_t)i * LEDGER_HASH_LEN, h.bytes, LEDGER_HASH_LEN);
        }
        if (rc == HAE_OK) rc = tile_path(out_dir, name, n, width, &path);
        if (rc == HAE_OK) rc = write_file(path.data, tile, (size_t)width * LEDGER_HASH_LEN, err);
    }
    hae_buf_free(&path);
    return rc;
}

typedef struct bundle_writer {
    const char *out_dir;
    uint64_t size;
    hae_buf bundle;
    hae_buf path;
} bundle_writer;

static int bundle_entry(void *ctx, uint64_t index, const void *entry, size_t len, hae_err *err) {
    bundle_writer *w = ctx;
    uint8_t len_be[2] = {(uint8_t)(len >> 8), (uint8_t)len};
    int rc = hae_buf_append(&w->bundle, len_be, 2);
    if (rc == HAE_OK && len) rc = hae_buf_append(&w->bundle, entry, len);
    if (rc < 0) return hae_err_set(err, rc, "export: out of memory");
    bool is_full = (index + 1) % TILE_WIDTH == 0;
    if (!is_full && index + 1 != w->size) return HAE_OK;
    unsigned width = (unsigned)(index % TILE_WIDTH) + 1;
    rc = tile_path(w->out_dir, "entries", index / TILE_WIDTH, width, &w->path);
    if (rc == HAE_OK) rc = write_file(w->path.data, w->bundle.data, w->bundle.len, err);
    hae_buf_reset(&w->bundle);
    return rc;
}

int ledger_export_tiles(ledger *l, const char *out_dir, hae_err *err) {
    hae_buf note = {0};
    ledger_verifier key;
    ledger_checkpoint cp = {.size = 0};
    int rc = ledger_read_checkpoint(l, 0, &note, err);
    if (rc == HAE_OK) rc = ledger_read_verifier(l, &key, err);
    if (rc == HAE_OK) rc = ledger_checkpoint_open(note.data, note.len, &key, 1, &cp, NULL, err);
    if (rc == HAE_OK && cp.size > l->state.size) {
        rc = hae_err_set(err, HAE_EINVAL, "export: checkpoint size %" PRIu64 " exceeds the log", cp.size);
    }
    if (rc == HAE_OK) rc = ledger_mkdir_p(out_dir, err);
    /* Level L holds the hashes of tree level 8L; a level exists while it
     * has at least one hash (tlog-tiles "Partial Tiles"). */
    for (unsigned level = 0; rc == HAE_OK && level < 8 && (cp.size >> (level * 8)) > 0; level++) {
        rc = export_level(l, out_dir, level, cp.size >> (level * 8), err);
    }
    bundle_writer w = {.out_dir = out_dir, .size = cp.size};
    if (rc == HAE_OK) rc = ledger_scan(l, 0, cp.size, bundle_entry, &w, err);
    hae_buf_free(&w.bundle);
    hae_buf_free(&w.path);
    /* The checkpoint goes last: a reader never sees one whose tiles are
     * not there yet. */
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/checkpoint", out_dir);
    if (rc == HAE_OK) rc = ledger_file_write_atomic(path, note.data, note.len, 0644, err);
    hae_buf_free(&note);
    return rc;
}
