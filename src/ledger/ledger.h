/* ledger: append-only RFC 9162 Merkle log with signed checkpoints.
 * Owns its files under the directory it is opened on. Knows nothing of
 * incidents, the store or the server: an entry is opaque bytes (see
 * ledger_entry_encode for the canonical entry haetae writes), a checkpoint is
 * a C2SP signed note, proofs are RFC 9162 audit paths.
 *
 * Layers, each usable alone:
 *   hashing and proofs   pure functions over a source of subtree hashes
 *   notes and keys       C2SP signed-note, tlog-checkpoint, tlog-cosignature
 *   the log              durable storage in a directory, proofs from it
 *   export               the C2SP tlog-tiles static tree
 * docs/LEDGER.md describes the files, the formats and the fsync policy. */
#ifndef HAETAE_LEDGER_H
#define HAETAE_LEDGER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/core.h"

#define LEDGER_HASH_LEN 32
#define LEDGER_ENTRY_MAX 65535u   /* tlog-tiles entry bundles use uint16 lengths */
#define LEDGER_PROOF_MAX 130      /* > 2 * 64: the longest consistency proof */
#define LEDGER_NAME_MAX 255       /* key names and checkpoint origins */
#define LEDGER_NOTE_MAX 65536     /* bytes in a signed note we accept */
#define LEDGER_NOTE_SIGS_MAX 64   /* signature lines in a note (spec: at least 16) */

typedef struct ledger_hash {
    uint8_t bytes[LEDGER_HASH_LEN];
} ledger_hash;

/* An audit path: hashes in RFC 9162 order (nearest the leaf first). */
typedef struct ledger_proof {
    size_t count;
    ledger_hash hashes[LEDGER_PROOF_MAX];
} ledger_proof;

/* ---- hashing and proofs (RFC 9162 section 2.1), pure ------------------ */

void ledger_hash_leaf(const void *entry, size_t len, ledger_hash *out); /* SHA-256(0x00||e) */
void ledger_hash_node(const ledger_hash *left, const ledger_hash *right, ledger_hash *out);
void ledger_hash_empty(ledger_hash *out);                              /* SHA-256("") */
bool ledger_hash_equal(const ledger_hash *a, const ledger_hash *b);    /* constant time */

/* A source of complete subtree hashes: the subtree at `level`, `index`
 * covers leaves [index * 2^level, (index + 1) * 2^level). */
typedef int (*ledger_node_fn)(void *ctx, unsigned level, uint64_t index, ledger_hash *out,
                              hae_err *err);

/* MTH(D[0:size]) and the proofs of RFC 9162 2.1.3.1 and 2.1.4.1, computed
 * from complete subtrees only (so a store of them answers in O(log^2 n)). */
int ledger_tree_root(ledger_node_fn nodes, void *ctx, uint64_t size, ledger_hash *out,
                     hae_err *err);
int ledger_tree_inclusion(ledger_node_fn nodes, void *ctx, uint64_t index, uint64_t size,
                          ledger_proof *out, hae_err *err);
int ledger_tree_consistency(ledger_node_fn nodes, void *ctx, uint64_t old_size, uint64_t size,
                            ledger_proof *out, hae_err *err);

/* RFC 9162 2.1.3.2 and 2.1.4.2. 0 when the proof holds, HAE_EINVAL with the
 * reason otherwise. Consistency needs 0 < old_size <= size (a proof from the
 * empty tree proves nothing); equal sizes need an empty proof, equal roots. */
int ledger_verify_inclusion(uint64_t index, uint64_t size, const ledger_hash *leaf,
                            const ledger_proof *proof, const ledger_hash *root, hae_err *err);
int ledger_verify_consistency(uint64_t old_size, uint64_t size, const ledger_hash *old_root,
                              const ledger_hash *root, const ledger_proof *proof, hae_err *err);

/* ---- keys (C2SP signed-note) ------------------------------------------ */

enum {
    LEDGER_KEY_ED25519 = 0x01,     /* signed-note Ed25519: logs sign checkpoints */
    LEDGER_KEY_COSIGNATURE = 0x04, /* tlog-cosignature/v1 Ed25519: witnesses */
};

typedef struct ledger_verifier {
    char name[LEDGER_NAME_MAX + 1];
    uint32_t key_id; /* SHA-256(name || 0x0A || type || public key)[:4] */
    uint8_t type;
    uint8_t public_key[32];
} ledger_verifier;

typedef struct ledger_signer {
    ledger_verifier verifier;
    uint8_t secret_key[64]; /* libsodium's seed || public key */
} ledger_signer;

/* vkey: <name>+<hex key id>+<base64(type || public key)>.
 * skey: PRIVATE+KEY+<name>+<hex key id>+<base64(type || 32-byte seed)>.
 * Both are appended to the buffers, without newline. */
int ledger_key_generate(const char *name, uint8_t type, hae_buf *skey, hae_buf *vkey,
                        hae_err *err);
int ledger_verifier_parse(const char *vkey, size_t len, ledger_verifier *out, hae_err *err);
int ledger_signer_parse(const char *skey, size_t len, ledger_signer *out, hae_err *err);
int ledger_verifier_format(const ledger_verifier *key, hae_buf *out);
void ledger_signer_wipe(ledger_signer *s);

/* ---- signed notes ----------------------------------------------------- */

typedef struct ledger_note_sig {
    char *name;
    uint32_t key_id;
    uint8_t *sig; /* after the key id */
    size_t sig_len;
} ledger_note_sig;

/* A parsed note; every pointer lives in its arena. */
typedef struct ledger_note {
    char *text; /* the note text, with its final newline */
    size_t text_len;
    ledger_note_sig *sigs;
    size_t sig_count;
    hae_arena arena;
} ledger_note;

typedef struct ledger_sig_result {
    bool is_verified;
    uint64_t timestamp; /* cosignatures: the witness's POSIX time; else 0 */
} ledger_sig_result;

/* Syntax only: text, blank line, signature lines. Errors name the line. */
int ledger_note_parse(ledger_note *out, const char *data, size_t len, hae_err *err);
void ledger_note_free(ledger_note *note);
/* Signature lines from unknown keys are ignored; one from a known key that
 * fails rejects the note. Returns how many keys verified (>= 1) or an error
 * when none did. results (key_count slots) may be NULL. */
int ledger_note_verify(const ledger_note *note, const ledger_verifier *keys, size_t key_count,
                       ledger_sig_result *results, hae_err *err);
/* Appends a signature line over text (Ed25519 key) to out. */
int ledger_note_sign(const char *text, size_t len, const ledger_signer *key, hae_buf *out,
                     hae_err *err);
/* Appends note (text, blank line, its signatures) plus a tlog-cosignature/v1
 * line by witness at timestamp to out. */
int ledger_note_cosign(const ledger_note *note, const ledger_signer *witness, uint64_t timestamp,
                       hae_buf *out, hae_err *err);

/* ---- checkpoints (C2SP tlog-checkpoint) ------------------------------- */

typedef struct ledger_checkpoint {
    char origin[LEDGER_NAME_MAX + 1];
    uint64_t size;
    ledger_hash root;
} ledger_checkpoint;

/* Parses a note text: origin, size, base64 root, optional extension lines. */
int ledger_checkpoint_parse(const char *text, size_t len, ledger_checkpoint *out, hae_err *err);
int ledger_checkpoint_format(const ledger_checkpoint *cp, hae_buf *out);
/* Parses a signed checkpoint, checks its signatures against keys (the
 * origin must match the first key's name), fills cp; note may be NULL. */
int ledger_checkpoint_open(const char *data, size_t len, const ledger_verifier *keys,
                           size_t key_count, ledger_checkpoint *cp, ledger_note *note,
                           hae_err *err);

/* ---- proof files (docs/LEDGER.md) ------------------------------------- */

/* Inclusion: c2sp.org/tlog-proof@v1 (index, hashes, blank, checkpoint).
 * Consistency: haetae.dev/consistency-proof@v1 (old, size, hashes). */
int ledger_inclusion_format(uint64_t index, const ledger_proof *proof, const char *checkpoint,
                            size_t checkpoint_len, hae_buf *out);
/* checkpoint points into data (NULL when absent). */
int ledger_inclusion_parse(const char *data, size_t len, uint64_t *index, ledger_proof *proof,
                           const char **checkpoint, size_t *checkpoint_len, hae_err *err);
int ledger_consistency_format(uint64_t old_size, uint64_t size, const ledger_proof *proof,
                              hae_buf *out);
int ledger_consistency_parse(const char *data, size_t len, uint64_t *old_size, uint64_t *size,
                             ledger_proof *proof, hae_err *err);

/* ---- entries: what haetae logs (no personal data) --------------------- */

typedef struct ledger_meta {
    const char *key;
    const char *value;
} ledger_meta;

/* Canonical JSON {"event_sha256":hex,"kind":..,"logged":RFC3339,"metadata":{sorted},
 * "time":RFC3339}: members sorted by name, no spaces, so equal inputs give
 * equal bytes. kind is [a-z0-9_.]+; metadata keys are unique. time is the
 * record's (it may be a time someone claims); logged, when logged_ns is not
 * 0, is the server's clock when the entry reached the ledger. */
int ledger_entry_encode(const char *kind, int64_t time_ns, int64_t logged_ns,
                        const uint8_t event_sha256[32], const ledger_meta *meta, size_t meta_count,
                        hae_buf *out, hae_err *err);
/* The ledger time of a canonical entry: "logged", else "time".
 * HAE_ENOENT for entries of another form (they carry no time we know). */
int ledger_entry_time(const void *entry, size_t len, int64_t *ns);

/* Ledger time only moves forward: an entry may be earlier than the one
 * before it by at most the skew (clocks of one host jitter; NTP slews).
 * HAE_EINVAL, naming both times, otherwise. */
#define LEDGER_CLOCK_SKEW_DEFAULT_NS (2LL * 1000000000)
int ledger_time_check(int64_t previous_ns, int64_t t_ns, int64_t skew_ns, hae_err *err);

/* ---- the log ---------------------------------------------------------- */

typedef struct ledger ledger;

/* Opens (creating when absent) the log in dir, takes its lock and recovers:
 * tails written after the last commit are cut; a committed byte missing or
 * a frontier hash that does not match the committed root is an error. */
int ledger_open(ledger **out, const char *dir, hae_err *err);
/* Opens the log in dir read-only for an audit: no lock, nothing created,
 * cut or written, so it runs beside the writer. It reads dir/checkpoint,
 * then the commit point (never behind that checkpoint) and sees the log as
 * of that commit. Missing files are errors. Appends and signing refuse. */
int ledger_open_snapshot(ledger **out, const char *dir, hae_err *err);
void ledger_close(ledger *l); /* NULL is fine */
uint64_t ledger_size(const ledger *l);
const char *ledger_dir(const ledger *l);
/* Off only for benchmarks: appends then survive a process crash, not a
 * power cut. */
void ledger_set_sync(ledger *l, bool is_sync);
/* From now on appends refuse a batch holding a canonical entry whose time
 * (ledger_entry_time) is earlier than the previous entry's by more than
 * skew_ns (ledger_time_check); < 0 turns the guard off (the default). */
void ledger_set_time_guard(ledger *l, int64_t skew_ns);

/* Durable on return (written and fdatasync'd). A batch costs one commit:
 * group commit for callers that gather appends. */
int ledger_append(ledger *l, const void *entry, size_t len, uint64_t *index, hae_err *err);
typedef struct ledger_entry_ref {
    const void *data;
    size_t len;
} ledger_entry_ref;
int ledger_append_batch(ledger *l, const ledger_entry_ref *entries, size_t count,
                        uint64_t *first_index, hae_err *err);

int ledger_root(ledger *l, uint64_t size, ledger_hash *out, hae_err *err);
/* The complete subtree hash at level, index (leaves index * 2^level on);
 * HAE_EINVAL when the subtree is not complete in the log (tiles). */
int ledger_node(ledger *l, unsigned level, uint64_t index, ledger_hash *out, hae_err *err);
int ledger_leaf(ledger *l, uint64_t index, ledger_hash *out, hae_err *err);
/* First index < size whose leaf hash is leaf; HAE_ENOENT when none. */
int ledger_find_leaf(ledger *l, const ledger_hash *leaf, uint64_t size, uint64_t *index,
                     hae_err *err);
int ledger_prove_inclusion(ledger *l, uint64_t index, uint64_t size, ledger_proof *out,
                           hae_err *err);
int ledger_prove_consistency(ledger *l, uint64_t old_size, uint64_t size, ledger_proof *out,
                             hae_err *err);
/* Calls fn for entries [first, first + count) in order. */
typedef int (*ledger_entry_fn)(void *ctx, uint64_t index, const void *entry, size_t len,
                               hae_err *err);
int ledger_scan(ledger *l, uint64_t first, uint64_t count, ledger_entry_fn fn, void *ctx,
                hae_err *err);
/* Full audit of the stored bytes: every entry hashes to its leaf, every
 * node to its children, the root to the committed one and to the last
 * signed checkpoint. Names the first index that differs. */
int ledger_check(ledger *l, hae_err *err);

/* ---- audits against held checkpoints (docs/LEDGER.md "Auditing") ------ */

/* 0 when current extends held: same origin, held.size <= current.size,
 * equal roots at equal size, else proof (held -> current) verifies.
 * Errors name the held size and say rollback, rewrite or other log. */
int ledger_check_extends(const ledger_checkpoint *held, const ledger_checkpoint *current,
                         const ledger_proof *proof, hae_err *err);
/* The same with the consistency proof made from the log l. */
int ledger_prove_extends(ledger *l, const ledger_checkpoint *held, const ledger_checkpoint *current,
                         hae_err *err);
/* A witness policy: at least quorum of witnesses (count) cosigned note
 * validly. results (count slots) say which. Errors name the absent ones. */
int ledger_witness_quorum(const ledger_note *note, const ledger_verifier *witnesses, size_t count,
                          size_t quorum, ledger_sig_result *results, hae_err *err);

/* ---- keys and checkpoints of the log ---------------------------------- */

/* Writes dir/key (skey, mode 0600) and dir/key.vkey; appends the vkey to
 * vkey. Refuses when a key exists. */
int ledger_init_key(ledger *l, const char *origin, hae_buf *vkey, hae_err *err);
/* Signs a checkpoint of the current tree and stores it as dir/checkpoint
 * (and dir/checkpoints/<size>). Refuses (HAE_EINVAL) to sign a tree that is
 * not consistent with the last checkpoint it signed. Appends the note. */
int ledger_sign_checkpoint(ledger *l, hae_buf *note, hae_err *err);
/* The stored signed checkpoint at size (0: the latest); HAE_ENOENT if none. */
int ledger_read_checkpoint(ledger *l, uint64_t size, hae_buf *note, hae_err *err);
int ledger_read_verifier(ledger *l, ledger_verifier *out, hae_err *err);
/* Adds a witness's cosignature line(s) to the checkpoint signed at size
 * once they verify under witness; dir/checkpoint gets them too while it is
 * that tree, dir/cosigned (the newest cosigned checkpoint) when none newer
 * is. A tree this witness already cosigned keeps its first cosignature. */
int ledger_add_cosignatures(ledger *l, uint64_t size, const ledger_verifier *witness, const char *lines,
                            size_t len, hae_err *err);
/* The newest checkpoint a witness cosigned; HAE_ENOENT if none. */
int ledger_read_cosigned(ledger *l, hae_buf *note, hae_err *err);
/* The sizes of every retained checkpoint (dir/checkpoints), ascending;
 * *sizes is malloc'd (NULL when none). */
int ledger_checkpoint_sizes(ledger *l, uint64_t **sizes, size_t *count, hae_err *err);

/* Writes the tlog-tiles tree for the latest signed checkpoint under out_dir:
 * checkpoint, tile/<L>/<N>[.p/<W>], tile/entries/<N>[.p/<W>]. */
int ledger_export_tiles(ledger *l, const char *out_dir, hae_err *err);
/* "x001/x234/067" for 1234067 (tlog-tiles tile index encoding). */
int ledger_tile_index_path(uint64_t n, hae_buf *out);

/* ---- witness (C2SP tlog-cosignature) ---------------------------------- */

/* A witness keeps, per log origin, the last checkpoint it cosigned in
 * state_dir. It cosigns a checkpoint that verifies under log_key and is
 * consistent (proof, may be NULL when sizes allow) with that one, records
 * it, and appends the cosigned note to out. Transport-free: the caller
 * fetches checkpoint and proof (files now, HTTPS with the server). */
int ledger_witness_cosign(const char *state_dir, const ledger_signer *witness,
                          const ledger_verifier *log_key, const char *checkpoint, size_t len,
                          const ledger_proof *proof, uint64_t now, hae_buf *out, hae_err *err);
/* The last checkpoint this witness cosigned for origin; HAE_ENOENT if none. */
int ledger_witness_last(const char *state_dir, const char *origin, ledger_checkpoint *out,
                        hae_err *err);

/* ---- witness protocol (C2SP tlog-witness) ----------------------------- */

typedef struct ledger_add_checkpoint {
    uint64_t old_size;
    ledger_proof proof;
    const char *checkpoint; /* the signed note, pointing into the body */
    size_t checkpoint_len;
} ledger_add_checkpoint;

/* POST /add-checkpoint bodies: "old <size>", proof hashes (base64, one a
 * line), a blank line, the signed checkpoint. Errors name the line. */
int ledger_add_checkpoint_parse(const char *body, size_t len, ledger_add_checkpoint *out,
                                hae_err *err);
int ledger_add_checkpoint_format(uint64_t old_size, const ledger_proof *proof, const char *checkpoint,
                                 size_t len, hae_buf *out);

typedef struct ledger_witness_reply {
    unsigned status;          /* 200, 400, 403, 404, 409, 422, 500 */
    const char *content_type; /* static text */
    hae_buf body;             /* 200: cosignature lines; 409: "<size>\n"; else the reason */
} ledger_witness_reply;

/* A witness answering one add-checkpoint request for the logs it
 * witnesses (their keys; the key name is the origin), its state in
 * state_dir. The caller serialises requests. Returns reply->status; err
 * says why on anything but 200. */
unsigned ledger_witness_add_checkpoint(const char *state_dir, const ledger_signer *witness,
                                       const ledger_verifier *logs, size_t log_count, const char *body,
                                       size_t len, uint64_t now, ledger_witness_reply *reply, hae_err *err);

#endif
