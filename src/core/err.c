/* Errors as values: a code and a message a user can act on. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "core/core.h"

HAE_PRINTF(2, 0) static void err_vformat(hae_err *err, const char *fmt, va_list ap) {
    int n = vsnprintf(err->msg, sizeof err->msg, fmt, ap);
    if (n < 0) {
        err->msg[0] = '\0';
    }
}

int hae_err_set(hae_err *err, int code, const char *fmt, ...) {
    if (!err) {
        return code;
    }
    err->code = code;
    va_list ap;
    va_start(ap, fmt);
    err_vformat(err, fmt, ap);
    va_end(ap);
    return code;
}

static int code_from_errno(int errnum) {
    switch (errnum) {
    case ENOMEM: return HAE_ENOMEM;
    case ENOENT:
    case ESRCH:
    case ENOTDIR: return HAE_ENOENT;
    case EACCES:
    case EPERM: return HAE_EPERM;
    case EINVAL: return HAE_EINVAL;
    case ENOSYS:
    case EOPNOTSUPP:
    case EPROTONOSUPPORT:
    case EAFNOSUPPORT: return HAE_ENOTSUP;
    default: return HAE_EIO;
    }
}

int hae_err_errno(hae_err *err, int errnum, const char *fmt, ...) {
    int code = code_from_errno(errnum);
    if (!err) {
        return code;
    }
    err->code = code;
    va_list ap;
    va_start(ap, fmt);
    err_vformat(err, fmt, ap);
    va_end(ap);
    size_t used = strlen(err->msg);
    snprintf(err->msg + used, sizeof err->msg - used, ": %s", strerror(errnum));
    return code;
}

int hae_err_prefix(hae_err *err, const char *fmt, ...) {
    if (!err) {
        return HAE_OK;
    }
    char prefix[HAE_ERR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    if (n < 0) {
        return err->code;
    }
    size_t prefix_len = (size_t)n < sizeof prefix ? (size_t)n : sizeof prefix - 1;
    if (prefix_len >= sizeof err->msg) {
        prefix_len = sizeof err->msg - 1;
    }
    /* Shift the old message right, dropping what no longer fits. */
    size_t keep = strnlen(err->msg, sizeof err->msg - 1);
    if (keep > sizeof err->msg - 1 - prefix_len) {
        keep = sizeof err->msg - 1 - prefix_len;
    }
    memmove(err->msg + prefix_len, err->msg, keep);
    memcpy(err->msg, prefix, prefix_len);
    err->msg[prefix_len + keep] = '\0';
    return err->code;
}

void hae_err_clear(hae_err *err) {
    if (err) {
        err->code = HAE_OK;
        err->msg[0] = '\0';
    }
}

const char *hae_err_code_name(int code) {
    switch (code) {
    case HAE_OK: return "ok";
    case HAE_ENOMEM: return "out of memory";
    case HAE_EIO: return "I/O error";
    case HAE_EINVAL: return "invalid input";
    case HAE_ENOTSUP: return "not supported";
    case HAE_ENOENT: return "not found";
    case HAE_EPERM: return "permission denied";
    case HAE_ELIMIT: return "limit reached";
    case HAE_EEXIST: return "already recorded";
    default: return "unknown error";
    }
}
