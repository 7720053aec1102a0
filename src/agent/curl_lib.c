/* libcurl through dlopen (see curl_lib.h). */
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "agent/curl_lib.h"

static pthread_once_t load_once = PTHREAD_ONCE_INIT;
static curl_lib lib;
static bool is_loaded;
static char load_error[256];

/* dlsym returns void *; POSIX guarantees it converts to a function pointer. */
#define RESOLVE(field, symbol)                                                \
    do {                                                                      \
        void *sym = dlsym(handle, symbol);                                    \
        if (!sym) {                                                           \
            snprintf(load_error, sizeof load_error, "libcurl.so.4 lacks %s", symbol); \
            return;                                                           \
        }                                                                     \
        memcpy(&lib.field, &sym, sizeof sym);                                 \
    } while (0)

static void load(void) {
    void *handle = dlopen("libcurl.so.4", RTLD_NOW | RTLD_LOCAL);
    if (!handle) {
        const char *why = dlerror();
        snprintf(load_error, sizeof load_error, "cannot load libcurl.so.4: %s",
                 why ? why : "unknown error");
        return;
    }
    RESOLVE(global_init, "curl_global_init");
    RESOLVE(easy_init, "curl_easy_init");
    RESOLVE(easy_setopt, "curl_easy_setopt");
    RESOLVE(easy_perform, "curl_easy_perform");
    RESOLVE(easy_getinfo, "curl_easy_getinfo");
    RESOLVE(easy_cleanup, "curl_easy_cleanup");
    RESOLVE(easy_strerror, "curl_easy_strerror");
    RESOLVE(slist_append, "curl_slist_append");
    RESOLVE(slist_free_all, "curl_slist_free_all");
    /* curl_global_init is not thread-safe: it runs here, once. */
    CURLcode rc = lib.global_init(CURL_GLOBAL_DEFAULT);
    if (rc != CURLE_OK) {
        snprintf(load_error, sizeof load_error, "curl_global_init: %s", lib.easy_strerror(rc));
        return;
    }
    is_loaded = true;
}

const curl_lib *curl_lib_get(hae_err *err) {
    pthread_once(&load_once, load);
    if (!is_loaded) {
        hae_err_set(err, HAE_ENOTSUP, "transport: %s (install Debian's libcurl4)", load_error);
        return NULL;
    }
    return &lib;
}
