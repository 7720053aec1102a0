/* Private to src/cli: helpers `haetae ledger` and `haetae witness` share. */
#ifndef HAETAE_CLI_LEDGER_CLI_H
#define HAETAE_CLI_LEDGER_CLI_H

#include "core/core.h"
#include "ledger/ledger.h"

/* A file ("-" is stdin) into out, NUL-terminated; at most max bytes. */
int ledger_cli_read(const char *path, size_t max, hae_buf *out, hae_err *err);
/* A vkey given inline (name+id+key) or as a file holding one. */
int ledger_cli_verifier(const char *arg, ledger_verifier *out, hae_err *err);
/* Writes data to path, or stdout when path is NULL. */
int ledger_cli_write(const char *path, const char *data, size_t len, hae_err *err);

/* GET server_url + path over the agent's transport (pin and/or CA);
 * anything but 200 is an error naming the status. body is NUL-terminated. */
int ledger_cli_fetch(const char *server_url, const char *pin, const char *ca, const char *path,
                     size_t max, hae_buf *body, hae_err *err);

typedef struct ledger_verify_opts {
    const char *const *keys;        /* --key: log keys and required witnesses */
    size_t key_count;
    const char *const *witnesses;   /* --witness: cosignature/v1 keys */
    size_t witness_count;
    size_t quorum;                  /* --quorum; without it every witness */
    bool has_quorum;
    const char *const *checkpoints; /* --checkpoint: the one verified, or the held ones */
    size_t checkpoint_count;
    const char *proof, *entry, *old_checkpoint, *consistency;
    const char *dir;                /* verify: audit this log directory */
    const char *server, *pin, *ca, *state; /* audit: over the ledger API */
} ledger_verify_opts;

/* `haetae ledger verify`: from files alone, or (--dir) the audit of a log
 * directory against held checkpoints. Prints what held, returns an exit
 * code (CLI_EXIT_FAIL with the reason on stderr when anything fails). */
int cli_ledger_verify(const ledger_verify_opts *o, hae_err *err);
/* `haetae ledger audit --server`: the same audit over the API. */
int cli_ledger_audit(const ledger_verify_opts *o, hae_err *err);

#endif
