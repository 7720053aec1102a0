/* Private to src/ledger: helpers the ledger's files share. */
#ifndef HAETAE_LEDGER_INT_H
#define HAETAE_LEDGER_INT_H

#include "ledger/ledger.h"

/* sodium_init once; HAE_ENOTSUP when libsodium cannot start. */
int ledger_crypto_init(hae_err *err);

/* Standard padded base64 (RFC 4648 section 4). */
int ledger_base64_append(hae_buf *out, const void *bytes, size_t len);
/* Decodes exactly text[0:len]; HAE_EINVAL on any other character or bad
 * padding; *out_len bytes written, at most cap. */
int ledger_base64_decode(const char *text, size_t len, uint8_t *out, size_t cap,
                         size_t *out_len);

/* ASCII decimal, no sign, no leading zeroes (but "0"), fits uint64
 * (tlog-checkpoint tree sizes, tlog-witness "old" sizes). */
bool ledger_parse_decimal(const char *s, size_t len, uint64_t *out);

/* Whole file into out (appended, NUL-terminated); at most max bytes. */
int ledger_file_read(const char *path, size_t max, hae_buf *out, hae_err *err);
/* tmp file, fsync, rename, fsync of the directory: the file is either the
 * old or the new content after a crash. */
int ledger_file_write_atomic(const char *path, const void *data, size_t len, unsigned mode,
                             hae_err *err);
int ledger_mkdir_p(const char *path, hae_err *err);
int ledger_fsync_dir(const char *dir, hae_err *err);

#endif
