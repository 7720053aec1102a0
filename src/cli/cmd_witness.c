/* `haetae witness`: a regulator's witness (c2sp.org/tlog-cosignature).
 *   haetae witness keygen --name NAME --out SKEYFILE      prints the vkey
 *   haetae witness cosign --state DIR --key SKEYFILE --log-key VKEY
 *                         --checkpoint FILE [--proof FILE] [--out FILE]
 *   haetae witness serve  --listen ADDR --state DIR --key SKEYFILE --log ORIGIN=VKEY...
 *   haetae witness pull   --server URL ... (the witness fetches instead of being pushed to)
 * cosign checks the log's signature and consistency with the last
 * checkpoint this witness cosigned for the log (kept in DIR), then writes
 * the checkpoint with the witness's timestamped cosignature added. The
 * checkpoint and proof come from files; fetching them over HTTPS arrives
 * with the server, and only that transport is missing. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <pthread.h>
#include <inttypes.h>
#include <signal.h>
#include <sodium.h>
#include <string.h>
#include <time.h>

#include "agent/agent.h"
#include "cli/cli.h"
#include "cli/ledger_cli.h"
#include "server/server.h"

typedef struct witness_args {
    const char *name, *out, *state, *key, *log_key, *checkpoint, *proof;
    const char *server, *pin, *ca, *interval, *listen, *cert, *cert_key;
    cli_strings logs;
} witness_args;

static void usage(FILE *out) {
    fprintf(out,
            "usage: haetae witness keygen --name NAME --out SKEYFILE\n"
            "       haetae witness cosign --state DIR --key SKEYFILE --log-key VKEY\n"
            "                             --checkpoint FILE [--proof FILE] [--out FILE]\n"
            "       haetae witness pull --server https://HOST:PORT --pin PIN|--ca FILE --state DIR\n"
            "                           --key SKEYFILE --log-key VKEY [--out FILE] [--interval SEC]\n"
            "       haetae witness serve --listen HOST:PORT --state DIR --key SKEYFILE --log ORIGIN=VKEY...\n"
            "                            [--cert PEM --cert-key PEM]\n\n"
            "--proof is a consistency proof (haetae ledger prove --from M) from the last\n"
            "checkpoint this witness cosigned for the log to the new one. pull fetches both from\n"
            "the server's ledger API; with --interval it pulls every SEC seconds until SIGINT.\n"
            "serve answers c2sp.org/tlog-witness POST /add-checkpoint over HTTPS for the logs named\n"
            "with --log until SIGINT or SIGTERM.\n");
}

static const char witness_epilog[] =
    "--proof is a consistency proof (haetae ledger prove --from M) from the last\n"
    "checkpoint this witness cosigned for the log to the new one. pull fetches both from\n"
    "the server's ledger API; with --interval it pulls every SEC seconds until SIGINT.\n"
    "serve answers c2sp.org/tlog-witness POST /add-checkpoint over HTTPS for the logs named\n"
    "with --log until SIGINT or SIGTERM.\n";

static const char *sub_synopsis(const char *sub) {
    if (strcmp(sub, "keygen") == 0) return "haetae witness keygen --name NAME --out SKEYFILE";
    if (strcmp(sub, "cosign") == 0) {
        return "haetae witness cosign --state DIR --key SKEYFILE --log-key VKEY\n"
               "                             --checkpoint FILE [--proof FILE] [--out FILE]";
    }
    if (strcmp(sub, "pull") == 0) {
        return "haetae witness pull --server https://HOST:PORT --pin PIN|--ca FILE --state DIR\n"
               "                           --key SKEYFILE --log-key VKEY [--out FILE] [--interval SEC]";
    }
    return "haetae witness serve --listen HOST:PORT --state DIR --key SKEYFILE --log ORIGIN=VKEY...\n"
           "                            [--cert PEM --cert-key PEM]";
}

/* argv[0] is the subcommand. CLI_PARSE_CONTINUE when it should run, else
 * the exit code. */
static int parse_args(const char *sub, int argc, char **argv, witness_args *a) {
    const cli_opt options[] = {
        {.name = "name", .kind = CLI_OPT_STRING, .target = &a->name, .metavar = "NAME",
         .help = "keygen: the witness's name (witness.example/regulator)"},
        {.name = "out", .kind = CLI_OPT_STRING, .target = &a->out, .metavar = "FILE",
         .help = "keygen: the secret key file; cosign, pull: the cosigned checkpoint"},
        {.name = "state", .kind = CLI_OPT_STRING, .target = &a->state, .metavar = "DIR",
         .help = "the last checkpoint cosigned per log"},
        {.name = "key", .kind = CLI_OPT_STRING, .target = &a->key, .metavar = "SKEYFILE",
         .help = "the witness's secret key"},
        {.name = "log-key", .kind = CLI_OPT_STRING, .target = &a->log_key, .metavar = "VKEY",
         .help = "the log's verifier key (a file or the key itself)"},
        {.name = "checkpoint", .kind = CLI_OPT_STRING, .target = &a->checkpoint, .metavar = "FILE",
         .help = "cosign: the checkpoint to cosign"},
        {.name = "proof", .kind = CLI_OPT_STRING, .target = &a->proof, .metavar = "FILE",
         .help = "cosign: consistency proof from the last cosigned checkpoint"},
        {.name = "server", .kind = CLI_OPT_STRING, .target = &a->server, .metavar = "URL",
         .help = "pull: the server to fetch from"},
        {.name = "pin", .kind = CLI_OPT_STRING, .target = &a->pin, .metavar = "PIN",
         .help = "pull: the server certificate's pin"},
        {.name = "ca", .kind = CLI_OPT_STRING, .target = &a->ca, .metavar = "FILE",
         .help = "pull: the CA that signed the server's certificate"},
        {.name = "interval", .kind = CLI_OPT_STRING, .target = &a->interval, .metavar = "SEC",
         .help = "pull: pull every SEC seconds until SIGINT"},
        {.name = "listen", .kind = CLI_OPT_STRING, .target = &a->listen, .metavar = "HOST:PORT",
         .help = "serve: the address to listen on"},
        {.name = "log", .kind = CLI_OPT_STRINGS, .target = &a->logs, .metavar = "ORIGIN=VKEY",
         .help = "serve: a log this witness cosigns for"},
        {.name = "cert", .kind = CLI_OPT_STRING, .target = &a->cert, .metavar = "PEM",
         .help = "serve: the TLS certificate (default: a self-signed one)"},
        {.name = "cert-key", .kind = CLI_OPT_STRING, .target = &a->cert_key, .metavar = "PEM",
         .help = "serve: the TLS certificate's key"},
    };
    char cmd[64];
    snprintf(cmd, sizeof cmd, "haetae witness %s", sub);
    const cli_spec spec = {
        .command = cmd,
        .synopsis = sub_synopsis(sub),
        .opts = options,
        .count = sizeof options / sizeof options[0],
        .epilog = witness_epilog,
    };
    return cli_parse(&spec, argc, argv);
}

static int cmd_keygen(const witness_args *a, hae_err *err) {
    if (!a->name || !a->out) return cli_fail("witness keygen", CLI_EXIT_USAGE, "--name and --out are required");
    hae_buf skey = {0}, vkey = {0};
    int rc = ledger_key_generate(a->name, LEDGER_KEY_COSIGNATURE, &skey, &vkey, err);
    FILE *f = NULL;
    if (rc == HAE_OK) {
        /* The secret key is created 0600 and never exists with wider access. */
        int fd = open(a->out, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        f = fd >= 0 ? fdopen(fd, "w") : NULL;
        if (!f) rc = hae_err_errno(err, errno, "%s", a->out);
    }
    if (rc == HAE_OK && (fprintf(f, "%s\n", skey.data) < 0)) rc = hae_err_set(err, HAE_EIO, "%s: write failed", a->out);
    if (f && fclose(f) != 0 && rc == HAE_OK) rc = hae_err_errno(err, errno, "%s", a->out);
    if (rc == HAE_OK) printf("%s\n", vkey.data);
    if (skey.data) sodium_memzero(skey.data, skey.len);
    hae_buf_free(&skey);
    hae_buf_free(&vkey);
    return rc;
}

static int cmd_cosign(const witness_args *a, hae_err *err) {
    if (!a->state || !a->key || !a->log_key || !a->checkpoint) {
        return cli_fail("witness cosign", CLI_EXIT_USAGE, "--state, --key, --log-key and --checkpoint are required");
    }
    ledger_signer witness;
    ledger_verifier log_key;
    hae_buf skey = {0}, note = {0}, proof_text = {0}, out = {0};
    ledger_proof *proof = NULL;
    int rc = ledger_cli_read(a->key, 4096, &skey, err);
    if (rc == HAE_OK) rc = ledger_signer_parse(skey.data, skey.len, &witness, err);
    if (skey.data) sodium_memzero(skey.data, skey.len);
    if (rc == HAE_OK) rc = ledger_cli_verifier(a->log_key, &log_key, err);
    if (rc == HAE_OK) rc = ledger_cli_read(a->checkpoint, LEDGER_NOTE_MAX, &note, err);
    if (rc == HAE_OK && a->proof) {
        uint64_t old_size = 0, size = 0;
        proof = malloc(sizeof *proof);
        rc = proof ? ledger_cli_read(a->proof, 1 << 20, &proof_text, err) : hae_err_set(err, HAE_ENOMEM, "out of memory");
        if (rc == HAE_OK) rc = ledger_consistency_parse(proof_text.data, proof_text.len, &old_size, &size, proof, err);
        ledger_checkpoint last;
        ledger_note parsed;
        ledger_checkpoint cp;
        /* The proof file names its sizes; they must be the witness's last
         * tree and the offered one, or the proof proves something else. */
        if (rc == HAE_OK && ledger_note_parse(&parsed, note.data, note.len, err) == HAE_OK) {
            int prc = ledger_checkpoint_parse(parsed.text, parsed.text_len, &cp, err);
            ledger_note_free(&parsed);
            if (prc == HAE_OK && ledger_witness_last(a->state, cp.origin, &last, err) == HAE_OK &&
                (last.size != old_size || cp.size != size)) {
                rc = hae_err_set(err, HAE_EINVAL, "%s: proves %llu -> %llu, the witness needs %llu -> %llu", a->proof,
                                 (unsigned long long)old_size, (unsigned long long)size,
                                 (unsigned long long)last.size, (unsigned long long)cp.size);
            }
        }
        hae_err_clear(rc == HAE_OK ? err : NULL);
    }
    if (rc == HAE_OK) {
        rc = ledger_witness_cosign(a->state, &witness, &log_key, note.data, note.len, proof,
                                   (uint64_t)time(NULL), &out, err);
    }
    if (rc == HAE_OK) rc = ledger_cli_write(a->out, out.data, out.len, err);
    ledger_signer_wipe(&witness);
    free(proof);
    hae_buf_free(&skey);
    hae_buf_free(&note);
    hae_buf_free(&proof_text);
    hae_buf_free(&out);
    return rc;
}

/* ---- pull: the checkpoint and proof from the server's ledger API ------- */

/* One pull: the latest checkpoint, checked under the log's key before
 * anything else is asked; then the consistency proof from the last tree
 * this witness cosigned. The library decides: a smaller tree (a rollback),
 * a proof that fails (a fork) or a bad signature is refused. */
static int pull_once(const witness_args *a, const ledger_signer *witness,
                     const ledger_verifier *log_key, hae_err *err) {
    hae_buf note = {0}, proof_text = {0}, path = {0}, out = {0};
    ledger_proof *proof = NULL;
    ledger_checkpoint cp = {.size = 0}, last = {.size = 0};
    int rc = ledger_cli_fetch(a->server, a->pin, a->ca, "/api/v1/ledger/checkpoint", LEDGER_NOTE_MAX, &note, err);
    if (rc == HAE_OK) rc = ledger_checkpoint_open(note.data, note.len, log_key, 1, &cp, NULL, err);
    if (rc == HAE_OK) rc = ledger_witness_last(a->state, cp.origin, &last, err);
    if (rc == HAE_ENOENT) {
        hae_err_clear(err); /* the first checkpoint this witness sees for the log */
        rc = HAE_OK;
    }
    if (rc == HAE_OK && last.size > 0 && last.size < cp.size) {
        uint64_t old_size = 0, size = 0;
        proof = malloc(sizeof *proof);
        rc = proof ? hae_buf_printf(&path, "/api/v1/ledger/proof/consistency/%" PRIu64 "/%" PRIu64, last.size, cp.size)
                   : HAE_ENOMEM;
        if (rc < 0) rc = hae_err_set(err, HAE_ENOMEM, "out of memory");
        if (rc == HAE_OK) rc = ledger_cli_fetch(a->server, a->pin, a->ca, path.data, 1 << 20, &proof_text, err);
        if (rc == HAE_OK) rc = ledger_consistency_parse(proof_text.data, proof_text.len, &old_size, &size, proof, err);
        if (rc == HAE_OK && (old_size != last.size || size != cp.size)) {
            rc = hae_err_set(err, HAE_EINVAL, "%s%s: the server proved %" PRIu64 " -> %" PRIu64 " instead",
                             a->server, path.data, old_size, size);
        }
    }
    if (rc == HAE_OK) {
        rc = ledger_witness_cosign(a->state, witness, log_key, note.data, note.len, proof,
                                   (uint64_t)time(NULL), &out, err);
    }
    if (rc == HAE_OK) rc = ledger_cli_write(a->out, out.data, out.len, err);
    if (rc == HAE_OK) {
        fprintf(stderr, "haetae witness pull: cosigned %s at size %" PRIu64 " (last %" PRIu64 ")\n",
                cp.origin, cp.size, last.size);
    }
    free(proof);
    hae_buf_free(&note);
    hae_buf_free(&proof_text);
    hae_buf_free(&path);
    hae_buf_free(&out);
    return rc;
}

/* Waits up to seconds; true when SIGINT or SIGTERM arrived (they are
 * blocked, so they wait here for us instead of killing a write). */
static bool wait_for_stop(const sigset_t *stop, unsigned long seconds) {
    struct timespec tick = {.tv_sec = (time_t)seconds, .tv_nsec = 0};
    return sigtimedwait(stop, NULL, &tick) > 0;
}

static int cmd_pull(const witness_args *a, hae_err *err) {
    if (!a->server || !a->state || !a->key || !a->log_key || (!a->pin && !a->ca)) {
        return cli_fail("witness pull", CLI_EXIT_USAGE,
                        "--server, --pin or --ca, --state, --key and --log-key are required");
    }
    unsigned long interval = 0;
    if (a->interval) {
        char *end = NULL;
        errno = 0;
        interval = strtoul(a->interval, &end, 10);
        if (errno || end == a->interval || *end || interval == 0 || interval > 86400) {
            return cli_fail("witness pull", CLI_EXIT_USAGE, "--interval: seconds from 1 to 86400");
        }
    }
    ledger_signer witness;
    ledger_verifier log_key;
    hae_buf skey = {0};
    int rc = ledger_cli_read(a->key, 4096, &skey, err);
    if (rc == HAE_OK) rc = ledger_signer_parse(skey.data, skey.len, &witness, err);
    if (skey.data) sodium_memzero(skey.data, skey.len);
    hae_buf_free(&skey);
    if (rc < 0) return rc;
    rc = ledger_cli_verifier(a->log_key, &log_key, err);
    if (rc == HAE_OK && !interval) rc = pull_once(a, &witness, &log_key, err);
    if (rc == HAE_OK && interval) {
        sigset_t stop;
        sigemptyset(&stop);
        sigaddset(&stop, SIGINT);
        sigaddset(&stop, SIGTERM);
        pthread_sigmask(SIG_BLOCK, &stop, NULL);
        /* A failed pull (server away, no checkpoint yet, or a checkpoint
         * refused) is reported and the witness keeps watching; its state
         * only ever moves forward. */
        do {
            hae_err again = {0};
            if (pull_once(a, &witness, &log_key, &again) < 0) {
                fprintf(stderr, "haetae witness pull: %s\n", again.msg);
            }
        } while (!wait_for_stop(&stop, interval));
    }
    ledger_signer_wipe(&witness);
    return rc;
}

/* ---- serve: logs push to us (c2sp.org/tlog-witness) ------------------- */

static int parse_logs(const witness_args *a, ledger_verifier *logs, hae_err *err) {
    for (size_t i = 0; i < a->logs.count; i++) {
        const char *spec = a->logs.items[i], *eq = spec ? strchr(spec, '=') : NULL;
        if (!eq || eq == spec) return hae_err_set(err, HAE_EINVAL, "--log '%s': expected ORIGIN=VKEY", spec ? spec : "");
        int rc = ledger_cli_verifier(eq + 1, &logs[i], err);
        if (rc < 0) return hae_err_prefix(err, "--log %.*s: ", (int)(eq - spec), spec);
        if (strlen(logs[i].name) != (size_t)(eq - spec) || strncmp(logs[i].name, spec, (size_t)(eq - spec)) != 0 ||
            logs[i].type != LEDGER_KEY_ED25519) {
            return hae_err_set(err, HAE_EINVAL, "--log %.*s: the key is '%s', a log's key is named as its origin",
                               (int)(eq - spec), spec, logs[i].name);
        }
    }
    return HAE_OK;
}

static int cmd_serve(const witness_args *a, hae_err *err) {
    if (!a->state || !a->key || a->logs.count == 0) {
        return cli_fail("witness serve", CLI_EXIT_USAGE, "--state, --key and at least one --log ORIGIN=VKEY are required");
    }
    ledger_signer witness;
    hae_buf skey = {0};
    ledger_verifier *logs = calloc(a->logs.count, sizeof *logs);
    if (!logs) return hae_err_set(err, HAE_ENOMEM, "out of memory");
    int rc = ledger_cli_read(a->key, 4096, &skey, err);
    if (rc == HAE_OK) rc = ledger_signer_parse(skey.data, skey.len, &witness, err);
    if (skey.data) sodium_memzero(skey.data, skey.len);
    hae_buf_free(&skey);
    if (rc == HAE_OK) rc = parse_logs(a, logs, err);
    sigset_t stop;
    sigemptyset(&stop);
    sigaddset(&stop, SIGINT);
    sigaddset(&stop, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &stop, NULL); /* before the listener's threads start */
    server_witness *w = NULL;
    char name[LEDGER_NAME_MAX + 1] = "";
    if (rc == HAE_OK) {
        snprintf(name, sizeof name, "%s", witness.verifier.name);
        server_witness_config cfg = {.listen = a->listen, .state_dir = a->state, .cert_file = a->cert,
                                     .key_file = a->cert_key, .key = &witness, .logs = logs,
                                     .log_count = a->logs.count};
        rc = server_witness_start(&cfg, &w, err);
        ledger_signer_wipe(&witness);
    }
    if (rc == HAE_OK) {
        printf("haetae witness: %s\n  pin: %s\n  key: %s\n", server_witness_url(w), server_witness_pin(w), name);
        fflush(stdout);
        while (sigwaitinfo(&stop, NULL) < 0) {
        }
    }
    server_witness_stop(w);
    free(logs);
    return rc;
}

int cli_cmd_witness(int argc, char **argv) {
    static const char *const subs[] = {"keygen", "cosign", "pull", "serve"};
    bool known = false;
    for (size_t i = 0; argc >= 2 && i < sizeof subs / sizeof subs[0]; i++) known |= strcmp(argv[1], subs[i]) == 0;
    if (argc < 2 || !known) {
        bool is_help = argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0);
        if (argc >= 2 && !is_help) fprintf(stderr, "haetae witness: unknown subcommand '%s'\n", argv[1]);
        usage(is_help ? stdout : stderr);
        if (is_help) fprintf(stdout, "\n'haetae witness <subcommand> --help' describes its options.\n");
        return is_help ? CLI_EXIT_OK : CLI_EXIT_USAGE;
    }
    const char *sub = argv[1];
    witness_args a = {0};
    int prc = parse_args(sub, argc - 1, argv + 1, &a);
    if (prc != CLI_PARSE_CONTINUE) {
        cli_strings_free(&a.logs);
        return prc;
    }
    hae_err err = {0};
    int rc;
    if (strcmp(sub, "keygen") == 0) {
        rc = cmd_keygen(&a, &err);
    } else if (strcmp(sub, "cosign") == 0) {
        rc = cmd_cosign(&a, &err);
    } else if (strcmp(sub, "pull") == 0) {
        rc = cmd_pull(&a, &err);
    } else {
        rc = cmd_serve(&a, &err);
    }
    cli_strings_free(&a.logs);
    if (rc > 0) return rc; /* a usage error already reported */
    if (rc < 0) {
        fprintf(stderr, "haetae witness %s: %s\n", sub, err.msg);
        return CLI_EXIT_FAIL;
    }
    return CLI_EXIT_OK;
}
