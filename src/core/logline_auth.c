/* Authentication messages into named fields: what sshd, sudo, su, cron,
 * the shadow tools (useradd, userdel, usermod, groupadd, passwd) and PAM
 * modules write to auth.log, so rules can group by the source address and
 * the user instead of grepping Message.
 *
 * Each program's messages are templates: literal text, "{Field}" for one
 * word (no spaces), "{Field*}" for any text, "[text]" for optional text.
 * The first template that matches the whole message (or its start, for
 * templates marked open) wins. Templates follow the message formats of
 * OpenSSH's auth.c and sshd.c, sudo's logging.c, util-linux su, cronie and
 * Debian's cron, shadow-utils and Linux-PAM's pam_unix (support.c,
 * pam_unix_auth.c, pam_unix_sess.c). */
#include <string.h>

#include "core/core.h"

enum { MAX_CAPTURES = 8, MATCH_BUDGET = 4096 };

typedef struct {
    const char *name; /* points into the template, ends at '}' or '*' */
    size_t name_len;
    const char *value;
    size_t value_len;
} capture;

typedef struct {
    capture caps[MAX_CAPTURES];
    size_t count;
    unsigned steps; /* bounded so a hostile line cannot make matching quadratic */
} match_state;

typedef struct {
    const char *template;
    bool is_open;       /* the message may go on after the template */
    const char *result; /* AuthResult, or NULL */
    const char *action; /* Action, or NULL */
} message_form;

static const message_form sshd_forms[] = {
    {"Accepted {AuthMethod} for {User} from {SourceIp} port {SourcePort}", true, "success", NULL},
    {"Failed {AuthMethod} for invalid user {User} from {SourceIp} port {SourcePort}", true,
     "failure", NULL},
    {"Failed {AuthMethod} for {User} from {SourceIp} port {SourcePort}", true, "failure", NULL},
    {"Invalid user {User} from {SourceIp} port {SourcePort}", true, "invalid_user", NULL},
    {"Invalid user {User} from {SourceIp}", false, "invalid_user", NULL},
    {"error: maximum authentication attempts exceeded for [invalid user ]{User} from {SourceIp} "
     "port {SourcePort}",
     true, "failure", NULL},
    {"Connection closed by [authenticating user ][invalid user ]{User} {SourceIp} port "
     "{SourcePort}",
     true, NULL, NULL},
    {"Disconnected from [authenticating user ][invalid user ]user {User} {SourceIp} port "
     "{SourcePort}",
     true, NULL, NULL},
    {"Disconnected from [authenticating user ][invalid user ]{User} {SourceIp} port "
     "{SourcePort}",
     true, NULL, NULL},
    {"Received disconnect from {SourceIp} port {SourcePort}", true, NULL, NULL},
    {"Connection closed by {SourceIp} port {SourcePort}", true, NULL, NULL},
    {"Connection from {SourceIp} port {SourcePort}", true, NULL, NULL},
    {NULL, false, NULL, NULL},
};

static const message_form sudo_forms[] = {
    {"{User} : TTY={Tty} ; PWD={CurrentDirectory*} ; USER={TargetUser} ; COMMAND={CommandLine*}",
     false, "success", NULL},
    {"{User} : {SudoError*} ; TTY={Tty} ; PWD={CurrentDirectory*} ; USER={TargetUser} ; "
     "COMMAND={CommandLine*}",
     false, "failure", NULL},
    {NULL, false, NULL, NULL},
};

static const message_form su_forms[] = {
    {"FAILED SU (to {TargetUser}) {User} on {Tty}", false, "failure", NULL},
    {"(to {TargetUser}) {User} on {Tty}", false, "success", NULL},
    {"FAILED su for {TargetUser} by {User}", false, "failure", NULL},
    {"Successful su for {TargetUser} by {User}", false, "success", NULL},
    {NULL, false, NULL, NULL},
};

static const message_form cron_forms[] = {
    {"({User}) CMD ({CommandLine*})", false, NULL, "command_run"},
    {NULL, false, NULL, NULL},
};

static const message_form account_forms[] = {
    {"new user: name={TargetUser}, UID={TargetUid},", true, NULL, "user_created"},
    {"new group: name={Group}, GID={Gid}", true, NULL, "group_created"},
    {"delete user '{TargetUser}'", true, NULL, "user_deleted"},
    {"removed group '{Group}' owned by '{TargetUser}'", true, NULL, "group_deleted"},
    {"add '{TargetUser}' to group '{Group}'", true, NULL, "group_member_added"},
    {"add '{TargetUser}' to shadow group '{Group}'", true, NULL, "group_member_added"},
    {"change user '{TargetUser}' password", true, NULL, "password_changed"},
    {"password for '{TargetUser}' changed by '{User}'", true, NULL, "password_changed"},
    {NULL, false, NULL, NULL},
};

/* The PAM line after "pam_MODULE(SERVICE:TYPE): ". */
static const message_form pam_forms[] = {
    {"session opened for user {TargetUser}(uid={TargetUid}) by {User}(uid={Uid})", true, NULL,
     "session_opened"},
    {"session opened for user {TargetUser}(uid={TargetUid}) by (uid={Uid})", true, NULL,
     "session_opened"},
    {"session opened for user {TargetUser} by {User}(uid={Uid})", true, NULL, "session_opened"},
    {"session closed for user {TargetUser}", true, NULL, "session_closed"},
    {"password changed for {TargetUser}", true, NULL, "password_changed"},
    {"check pass; user unknown", true, "invalid_user", NULL},
    {NULL, false, NULL, NULL},
};

static const struct {
    const char *program;
    const message_form *forms;
} program_forms[] = {
    {"sshd", sshd_forms},         {"sshd-session", sshd_forms}, {"sshd-auth", sshd_forms},
    {"sudo", sudo_forms},         {"su", su_forms},             {"CRON", cron_forms},
    {"cron", cron_forms},         {"crond", cron_forms},        {"useradd", account_forms},
    {"userdel", account_forms},   {"usermod", account_forms},   {"groupadd", account_forms},
    {"groupdel", account_forms},  {"gpasswd", account_forms},   {"passwd", account_forms},
    {"chpasswd", account_forms},
};

/* ---- template matching ---------------------------------------------- */

static bool match_from(const char *t, const char *s, size_t n, bool is_open, match_state *st);

/* A capture that ends the template takes its whole word (or, starred, the
 * whole rest): shortest-first would leave it empty in an open template. */
static bool capture_rest(const char *name, size_t name_len, bool is_star, const char *s,
                         size_t n, bool is_open, match_state *st, size_t slot) {
    size_t k = 0;
    while (k < n && (is_star || s[k] != ' ')) k++;
    if (k < n && !is_open) {
        st->count = slot;
        return false;
    }
    st->caps[slot] = (capture){name, name_len, s, k};
    return true;
}

static bool match_capture(const char *t, const char *s, size_t n, bool is_open,
                          match_state *st) {
    const char *name = t + 1;
    const char *close = strchr(name, '}');
    bool is_star = close[-1] == '*';
    size_t name_len = (size_t)(close - name) - is_star;
    if (st->count == MAX_CAPTURES) return false;
    size_t slot = st->count++;
    if (close[1] == '\0') return capture_rest(name, name_len, is_star, s, n, is_open, st, slot);
    for (size_t k = 0; k <= n; k++) {
        if (k > 0 && !is_star && s[k - 1] == ' ') break;
        if (++st->steps > MATCH_BUDGET) break;
        st->caps[slot] = (capture){name, name_len, s, k};
        if (match_from(close + 1, s + k, n - k, is_open, st)) return true;
        st->count = slot + 1;
    }
    st->count = slot;
    return false;
}

static bool match_optional(const char *t, const char *s, size_t n, bool is_open,
                           match_state *st) {
    const char *text = t + 1;
    const char *close = strchr(text, ']');
    size_t len = (size_t)(close - text);
    size_t saved = st->count;
    if (n >= len && memcmp(s, text, len) == 0 &&
        match_from(close + 1, s + len, n - len, is_open, st)) {
        return true;
    }
    st->count = saved;
    return ++st->steps <= MATCH_BUDGET && match_from(close + 1, s, n, is_open, st);
}

/* Literal runs are matched in a loop, so recursion goes one level per
 * capture or optional part, never per byte. */
static bool match_from(const char *t, const char *s, size_t n, bool is_open, match_state *st) {
    while (*t && *t != '{' && *t != '[') {
        if (n == 0 || *s != *t) return false;
        t++;
        s++;
        n--;
    }
    if (*t == '{') return match_capture(t, s, n, is_open, st);
    if (*t == '[') return match_optional(t, s, n, is_open, st);
    return n == 0 || is_open;
}

/* ---- fields ----------------------------------------------------------- */

static bool is_number_field(const char *name, size_t len) {
    static const char *const numeric[] = {"SourcePort", "TargetUid", "Uid", "Gid"};
    for (size_t i = 0; i < sizeof numeric / sizeof *numeric; i++) {
        if (strlen(numeric[i]) == len && memcmp(numeric[i], name, len) == 0) return true;
    }
    return false;
}

static bool is_small_decimal(const char *s, size_t n) {
    if (n == 0 || n > 10 || (n > 1 && s[0] == '0')) return false;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') return false;
    }
    return true;
}

static int add_capture(hae_event *ev, const capture *c) {
    char name[32];
    if (c->name_len >= sizeof name) return HAE_EINVAL;
    memcpy(name, c->name, c->name_len);
    name[c->name_len] = '\0';
    if (is_number_field(c->name, c->name_len) && is_small_decimal(c->value, c->value_len)) {
        return hae_event_add(ev, name, HAE_VAL_NUMBER, c->value, c->value_len);
    }
    return hae_event_add_strn(ev, name, c->value, c->value_len);
}

static int add_match(hae_event *ev, const message_form *form, const match_state *st) {
    int rc = HAE_OK;
    for (size_t i = 0; rc == HAE_OK && i < st->count; i++) rc = add_capture(ev, &st->caps[i]);
    if (rc == HAE_OK && form->result) rc = hae_event_add_str(ev, "AuthResult", form->result);
    if (rc == HAE_OK && form->action) rc = hae_event_add_str(ev, "Action", form->action);
    return rc;
}

static int match_forms(hae_event *ev, const message_form *forms, const char *msg, size_t len) {
    for (const message_form *f = forms; f->template; f++) {
        match_state st = {.count = 0};
        if (match_from(f->template, msg, len, f->is_open, &st)) return add_match(ev, f, &st);
    }
    return HAE_OK;
}

/* ---- PAM -------------------------------------------------------------- */

/* "authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost=H  user=U"
 * (pam_unix support.c): the remote host is the source, user the target. */
static int add_pam_failure(hae_event *ev, const char *s, size_t n) {
    static const struct { const char *key; const char *field; } keys[] = {
        {"rhost=", "SourceIp"}, {"user=", "User"}, {"ruser=", "RemoteUser"}, {"tty=", "Tty"}};
    int rc = hae_event_add_str(ev, "AuthResult", "failure");
    size_t pos = 0;
    while (rc == HAE_OK && pos < n) {
        while (pos < n && s[pos] == ' ') pos++;
        size_t end = pos;
        while (end < n && s[end] != ' ') end++;
        for (size_t i = 0; i < sizeof keys / sizeof *keys; i++) {
            size_t klen = strlen(keys[i].key);
            if (end - pos > klen && memcmp(s + pos, keys[i].key, klen) == 0) {
                rc = hae_event_add_strn(ev, keys[i].field, s + pos + klen, end - pos - klen);
            }
        }
        pos = end;
    }
    return rc;
}

/* "pam_unix(sshd:auth): ..." gives PamModule, PamService and PamType. */
static int parse_pam(hae_event *ev, const char *s, size_t n) {
    const char *open = memchr(s, '(', n);
    const char *colon = open ? memchr(open, ':', n - (size_t)(open - s)) : NULL;
    const char *close = colon ? memchr(colon, ')', n - (size_t)(colon - s)) : NULL;
    if (!close || (size_t)(close - s) + 2 >= n || close[1] != ':' || close[2] != ' ') {
        return HAE_OK;
    }
    int rc = hae_event_add_strn(ev, "PamModule", s, (size_t)(open - s));
    if (rc == HAE_OK) rc = hae_event_add_strn(ev, "PamService", open + 1, (size_t)(colon - open - 1));
    if (rc == HAE_OK) rc = hae_event_add_strn(ev, "PamType", colon + 1, (size_t)(close - colon - 1));
    if (rc < 0) return rc;
    const char *rest = close + 3;
    size_t rest_len = n - (size_t)(rest - s);
    static const char failure[] = "authentication failure;";
    if (rest_len >= sizeof failure - 1 && memcmp(rest, failure, sizeof failure - 1) == 0) {
        return add_pam_failure(ev, rest + sizeof failure - 1, rest_len - (sizeof failure - 1));
    }
    return match_forms(ev, pam_forms, rest, rest_len);
}

int hae_log_parse_auth(hae_event *ev, const char *program, size_t program_len, const char *msg,
                       size_t len) {
    while (len > 0 && (msg[len - 1] == ' ' || msg[len - 1] == '\r')) len--;
    while (len > 0 && *msg == ' ') {
        msg++;
        len--;
    }
    if (len > 4 && memcmp(msg, "pam_", 4) == 0) return parse_pam(ev, msg, len);
    for (size_t i = 0; i < sizeof program_forms / sizeof *program_forms; i++) {
        const char *p = program_forms[i].program;
        if (strlen(p) == program_len && memcmp(p, program, program_len) == 0) {
            return match_forms(ev, program_forms[i].forms, msg, len);
        }
    }
    return HAE_OK;
}
