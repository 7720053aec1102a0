/* curl_lib: libcurl, loaded when the agent first talks to a server.
 * Debian's libcurl pulls in some twenty libraries (GnuTLS, Kerberos, LDAP,
 * SSH...) that alone add ~6 MB of resident memory to a process; an agent
 * that is not enrolled, and `haetae agent --once`, never pay for them.
 * Private to src/agent. */
#ifndef HAETAE_AGENT_CURL_LIB_H
#define HAETAE_AGENT_CURL_LIB_H

#include <curl/curl.h>

#include "core/core.h"

typedef struct curl_lib {
    CURLcode (*global_init)(long flags);
    CURL *(*easy_init)(void);
    CURLcode (*easy_setopt)(CURL *handle, CURLoption option, ...);
    CURLcode (*easy_perform)(CURL *handle);
    CURLcode (*easy_getinfo)(CURL *handle, CURLINFO info, ...);
    void (*easy_cleanup)(CURL *handle);
    const char *(*easy_strerror)(CURLcode code);
    struct curl_slist *(*slist_append)(struct curl_slist *list, const char *s);
    void (*slist_free_all)(struct curl_slist *list);
} curl_lib;

/* Loads libcurl.so.4 and runs curl_global_init once per process; the
 * library stays loaded until exit. Thread-safe. */
const curl_lib *curl_lib_get(hae_err *err);

#endif
