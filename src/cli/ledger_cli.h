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

/* `haetae ledger verify` from files alone; prints what held, returns an
 * exit code (CLI_EXIT_FAIL with the reason on stderr when anything fails). */
int cli_ledger_verify(const char *const *keys, size_t key_count, const char *checkpoint,
                      const char *proof, const char *entry, const char *old_checkpoint,
                      const char *consistency, hae_err *err);

#endif
