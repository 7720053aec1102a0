/* `haetae ledger`: the tamper-evident log from the command line.
 *   haetae ledger init       --dir DIR --name ORIGIN
 *   haetae ledger append     --dir DIR [--kind K [--meta KEY=VALUE]...] FILE|-
 *   haetae ledger checkpoint --dir DIR
 *   haetae ledger prove      --dir DIR (--index N | --entry FILE) [--size N]
 *   haetae ledger prove      --dir DIR --from M [--size N]
 *   haetae ledger verify     --checkpoint FILE --key VKEY... [--witness VKEY... [--quorum N]]
 *                            [--proof FILE --entry FILE] [--old-checkpoint FILE --consistency FILE]
 *   haetae ledger verify     --dir DIR --checkpoint HELD... [--key VKEY] [--witness VKEY...]
 *   haetae ledger audit      --server URL --pin PIN|--ca FILE --key VKEY
 *                            --checkpoint HELD... [--state FILE] [--witness VKEY...]
 *   haetae ledger export     --dir DIR --out DIR
 * docs/LEDGER.md describes the files and formats. */
#include <errno.h>
#include <inttypes.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "agent/agent.h"
#include "cli/cli.h"
#include "cli/ledger_cli.h"

typedef struct ledger_args {
    const char *dir, *name, *out, *entry, *proof, *old_checkpoint, *consistency;
    const char *kind, *server, *pin, *ca, *state;
    cli_strings keys, meta, checkpoints, witnesses;
    uint64_t index, size, from, quorum;
    bool has_index, has_size, has_from, has_quorum;
} ledger_args;

static const char ledger_epilog[] =
    "append without --kind logs FILE's bytes; with --kind it logs the canonical entry\n"
    "{event_sha256: SHA-256 of FILE, kind, logged, metadata, time}, never FILE itself.\n"
    "prove defaults --size to the last signed checkpoint. prove and export read the log\n"
    "read-only (beside a running server too); with --witness prove also names the\n"
    "earliest cosigned checkpoint that "
    "covers the entry: it existed by that cosignature's time. verify needs no log: it checks\n"
    "signatures (--key is a vkey or a file holding one), the witness policy (every\n"
    "--witness, or --quorum of them, must cosign), inclusion and consistency from files.\n"
    "verify --dir audits every stored byte of a log, read-only, and proves its tree extends\n"
    "every held checkpoint; audit does the same over the server's API and keeps the newest\n"
    "verified checkpoint in --state for the next run.\n";

static void usage(FILE *out) {
    fprintf(out,
            "usage: haetae ledger init       --dir DIR --name ORIGIN\n"
            "       haetae ledger append     --dir DIR [--kind KIND [--meta KEY=VALUE]...] FILE|-\n"
            "       haetae ledger checkpoint --dir DIR\n"
            "       haetae ledger prove      --dir DIR (--index N | --entry FILE) [--size N] [--out FILE]\n"
            "                                [--witness VKEY]...\n"
            "       haetae ledger prove      --dir DIR --from M [--size N] [--out FILE]\n"
            "       haetae ledger verify     --checkpoint FILE --key VKEY... [--witness VKEY... [--quorum N]]\n"
            "                                [--proof FILE --entry FILE] [--old-checkpoint FILE --consistency FILE]\n"
            "       haetae ledger verify     --dir DIR --checkpoint HELD... [--key VKEY] [--witness VKEY...]\n"
            "       haetae ledger audit      --server URL --pin PIN|--ca FILE --key VKEY\n"
            "                                --checkpoint HELD... [--state FILE] [--witness VKEY... [--quorum N]]\n"
            "       haetae ledger export     --dir DIR --out DIR\n\n%s",
            ledger_epilog);
}

int ledger_cli_read(const char *path, size_t max, hae_buf *out, hae_err *err) {
    FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rbe");
    if (!f) return hae_err_errno(err, errno, "%s", path);
    char chunk[8192];
    size_t n;
    int rc = HAE_OK;
    while (rc == HAE_OK && (n = fread(chunk, 1, sizeof chunk, f)) > 0) {
        if (out->len + n > max) rc = hae_err_set(err, HAE_ELIMIT, "%s: larger than %zu bytes", path, max);
        else if (hae_buf_append(out, chunk, n) < 0) rc = hae_err_set(err, HAE_ENOMEM, "out of memory");
    }
    if (rc == HAE_OK && ferror(f)) rc = hae_err_set(err, HAE_EIO, "%s: read error", path);
    if (rc == HAE_OK && !out->data && hae_buf_append(out, "", 0) < 0) rc = HAE_ENOMEM;
    if (f != stdin) fclose(f);
    return rc;
}

int ledger_cli_verifier(const char *arg, ledger_verifier *out, hae_err *err) {
    struct stat st;
    if (stat(arg, &st) != 0 && strchr(arg, '+')) return ledger_verifier_parse(arg, strlen(arg), out, err);
    hae_buf text = {0};
    int rc = ledger_cli_read(arg, 4096, &text, err);
    if (rc == HAE_OK) rc = ledger_verifier_parse(text.data, text.len, out, err);
    if (rc < 0) hae_err_prefix(err, "%s: ", arg);
    hae_buf_free(&text);
    return rc;
}

int ledger_cli_write(const char *path, const char *data, size_t len, hae_err *err) {
    FILE *f = path ? fopen(path, "wbe") : stdout;
    if (!f) return hae_err_errno(err, errno, "%s", path);
    bool ok = fwrite(data, 1, len, f) == len;
    if (path) ok &= fclose(f) == 0;
    else ok &= fflush(f) == 0;
    return ok ? HAE_OK : hae_err_set(err, HAE_EIO, "%s: write failed", path ? path : "stdout");
}

int ledger_cli_fetch(const char *server_url, const char *pin, const char *ca, const char *path,
                     size_t max, hae_buf *body, hae_err *err) {
    long status = 0;
    int rc = agent_https_get(server_url, pin, ca, path, &status, body, err);
    if (rc == HAE_OK && status != 200) {
        rc = hae_err_set(err, HAE_EIO, "%s%s: HTTP %ld: %.200s", server_url, path, status,
                         body->data ? body->data : "");
    }
    if (rc == HAE_OK && body->len > max) rc = hae_err_set(err, HAE_EINVAL, "%s%s: reply too long", server_url, path);
    /* The parsers read NUL-terminated text. */
    if (rc == HAE_OK && (hae_buf_append_char(body, '\0') < 0)) rc = hae_err_set(err, HAE_ENOMEM, "out of memory");
    if (rc == HAE_OK) body->len--;
    return rc;
}

/* A number option left at this value was not given. */
#define NOT_GIVEN UINT64_MAX

static const char *sub_synopsis(const char *sub) {
    static const struct {
        const char *sub, *synopsis;
    } synopses[] = {
        {"init", "haetae ledger init --dir DIR --name ORIGIN"},
        {"append", "haetae ledger append --dir DIR [--kind KIND [--meta KEY=VALUE]...] FILE|-"},
        {"checkpoint", "haetae ledger checkpoint --dir DIR"},
        {"prove", "haetae ledger prove --dir DIR (--index N | --entry FILE) [--size N] [--out FILE]"
                  " [--witness VKEY]...\n"
                  "       haetae ledger prove --dir DIR --from M [--size N] [--out FILE]"},
        {"verify", "haetae ledger verify --checkpoint FILE --key VKEY... [--witness VKEY... [--quorum N]]\n"
                   "                            [--proof FILE --entry FILE] [--old-checkpoint FILE"
                   " --consistency FILE]\n"
                   "       haetae ledger verify --dir DIR --checkpoint HELD... [--key VKEY] [--witness VKEY...]"},
        {"audit", "haetae ledger audit --server URL --pin PIN|--ca FILE --key VKEY\n"
                  "                           --checkpoint HELD... [--state FILE] [--witness VKEY... [--quorum N]]"},
        {"export", "haetae ledger export --dir DIR --out DIR"},
    };
    for (size_t i = 0; i < sizeof synopses / sizeof synopses[0]; i++) {
        if (strcmp(sub, synopses[i].sub) == 0) return synopses[i].synopsis;
    }
    return NULL;
}

/* argv[0] is the subcommand. CLI_PARSE_CONTINUE when it should run, else
 * the exit code; *file is append's FILE|-. */
static int parse_args(const char *sub, int argc, char **argv, ledger_args *a, const char **file) {
    a->index = a->size = a->from = a->quorum = NOT_GIVEN;
    const uint64_t most = NOT_GIVEN - 1;
    const cli_opt options[] = {
        {.name = "dir", .kind = CLI_OPT_STRING, .target = &a->dir, .metavar = "DIR",
         .help = "the log's directory"},
        {.name = "name", .kind = CLI_OPT_STRING, .target = &a->name, .metavar = "ORIGIN",
         .help = "init: the log's origin line (example.com/haetae)"},
        {.name = "out", .kind = CLI_OPT_STRING, .target = &a->out, .metavar = "PATH",
         .help = "prove: the proof file (default stdout); export: the tiles directory"},
        {.name = "index", .kind = CLI_OPT_UINT, .target = &a->index, .max = most,
         .help = "prove: inclusion of the entry at N"},
        {.name = "entry", .kind = CLI_OPT_STRING, .target = &a->entry, .metavar = "FILE",
         .help = "prove, verify: the entry's bytes"},
        {.name = "size", .kind = CLI_OPT_UINT, .target = &a->size, .max = most,
         .help = "prove: in the tree of N entries (default: the last checkpoint)"},
        {.name = "from", .kind = CLI_OPT_UINT, .target = &a->from, .max = most, .metavar = "M",
         .help = "prove: consistency from the tree of M entries"},
        {.name = "checkpoint", .kind = CLI_OPT_STRINGS, .target = &a->checkpoints, .metavar = "FILE",
         .help = "verify, audit: the checkpoint checked, or the ones held"},
        {.name = "key", .kind = CLI_OPT_STRINGS, .target = &a->keys, .metavar = "VKEY",
         .help = "a verifier key, or a file holding one"},
        {.name = "proof", .kind = CLI_OPT_STRING, .target = &a->proof, .metavar = "FILE",
         .help = "verify: the inclusion proof of --entry"},
        {.name = "old-checkpoint", .kind = CLI_OPT_STRING, .target = &a->old_checkpoint,
         .metavar = "FILE", .help = "verify: the earlier checkpoint of --consistency"},
        {.name = "consistency", .kind = CLI_OPT_STRING, .target = &a->consistency, .metavar = "FILE",
         .help = "verify: the consistency proof from --old-checkpoint"},
        {.name = "kind", .kind = CLI_OPT_STRING, .target = &a->kind, .metavar = "KIND",
         .help = "append: log the canonical entry of FILE as this kind"},
        {.name = "meta", .kind = CLI_OPT_STRINGS, .target = &a->meta, .metavar = "KEY=VALUE",
         .help = "append: metadata of the canonical entry"},
        {.name = "witness", .kind = CLI_OPT_STRINGS, .target = &a->witnesses, .metavar = "VKEY",
         .help = "a witness's cosignature key"},
        {.name = "quorum", .kind = CLI_OPT_UINT, .target = &a->quorum, .max = most,
         .help = "verify, audit: this many of the --witness keys must cosign (default all)"},
        {.name = "server", .kind = CLI_OPT_STRING, .target = &a->server, .metavar = "URL",
         .help = "audit: the server's URL"},
        {.name = "pin", .kind = CLI_OPT_STRING, .target = &a->pin, .metavar = "PIN",
         .help = "audit: the server certificate's pin"},
        {.name = "ca", .kind = CLI_OPT_STRING, .target = &a->ca, .metavar = "FILE",
         .help = "audit: the CA that signed the server's certificate"},
        {.name = "state", .kind = CLI_OPT_STRING, .target = &a->state, .metavar = "FILE",
         .help = "audit: keeps the newest verified checkpoint"},
    };
    char cmd[64];
    snprintf(cmd, sizeof cmd, "haetae ledger %s", sub);
    cli_strings positional = {0};
    bool is_append = strcmp(sub, "append") == 0;
    const cli_spec spec = {
        .command = cmd,
        .synopsis = sub_synopsis(sub),
        .opts = options,
        .count = sizeof options / sizeof options[0],
        .positional = is_append ? &positional : NULL,
        .positional_name = "FILE",
        .max_positional = 1,
        .epilog = ledger_epilog,
    };
    int rc = cli_parse(&spec, argc, argv);
    *file = positional.count ? positional.items[0] : NULL;
    cli_strings_free(&positional);
    if (rc != CLI_PARSE_CONTINUE) return rc;
    for (size_t i = 0; i < a->meta.count; i++) {
        if (!strchr(a->meta.items[i], '=')) {
            return cli_fail(cmd + 7, CLI_EXIT_USAGE, "bad value for --meta: '%s'", a->meta.items[i]);
        }
    }
    a->has_index = a->index != NOT_GIVEN;
    a->has_size = a->size != NOT_GIVEN;
    a->has_from = a->from != NOT_GIVEN;
    a->has_quorum = a->quorum != NOT_GIVEN;
    return CLI_PARSE_CONTINUE;
}

static int fail(const char *sub, const hae_err *err) {
    fprintf(stderr, "haetae ledger %s: %s\n", sub, err->msg);
    return CLI_EXIT_FAIL;
}

static int cmd_init(ledger *l, const ledger_args *a, hae_err *err) {
    if (!a->name) return cli_fail("ledger init", CLI_EXIT_USAGE, "--name ORIGIN is required");
    hae_buf vkey = {0};
    int rc = ledger_init_key(l, a->name, &vkey, err);
    if (rc == HAE_OK) printf("%s\n", vkey.data);
    hae_buf_free(&vkey);
    return rc < 0 ? fail("init", err) : CLI_EXIT_OK;
}

static int build_entry(const ledger_args *a, const hae_buf *event, hae_buf *entry, hae_err *err) {
    uint8_t digest[32];
    crypto_hash_sha256(digest, (const unsigned char *)event->data, event->len);
    ledger_meta *meta = calloc(a->meta.count + 1, sizeof *meta);
    char **copies = calloc(a->meta.count + 1, sizeof *copies);
    if (!meta || !copies) {
        free(meta);
        free(copies);
        return hae_err_set(err, HAE_ENOMEM, "out of memory");
    }
    int rc = HAE_OK;
    for (size_t i = 0; rc == HAE_OK && i < a->meta.count; i++) {
        copies[i] = strdup(a->meta.items[i]);
        if (!copies[i]) {
            rc = hae_err_set(err, HAE_ENOMEM, "out of memory");
            break;
        }
        char *eq = strchr(copies[i], '=');
        *eq = '\0';
        meta[i] = (ledger_meta){copies[i], eq + 1};
    }
    if (rc == HAE_OK) {
        int64_t now = hae_time_now_ns();
        rc = ledger_entry_encode(a->kind, now, now, digest, meta, a->meta.count, entry, err);
    }
    for (size_t i = 0; i < a->meta.count; i++) free(copies[i]);
    free(copies);
    free(meta);
    return rc;
}

static int cmd_append(ledger *l, const ledger_args *a, const char *file, hae_err *err) {
    if (!file) return cli_fail("ledger append", CLI_EXIT_USAGE, "FILE or - is required");
    hae_buf data = {0}, entry = {0};
    int rc = ledger_cli_read(file, a->kind ? (size_t)1 << 30 : LEDGER_ENTRY_MAX, &data, err);
    if (rc == HAE_OK && a->kind) rc = build_entry(a, &data, &entry, err);
    const hae_buf *what = a->kind ? &entry : &data;
    uint64_t index = 0;
    ledger_set_time_guard(l, LEDGER_CLOCK_SKEW_DEFAULT_NS);
    if (rc == HAE_OK) rc = ledger_append(l, what->data, what->len, &index, err);
    if (rc == HAE_OK) printf("%" PRIu64 "\n", index);
    hae_buf_free(&data);
    hae_buf_free(&entry);
    return rc < 0 ? fail("append", err) : CLI_EXIT_OK;
}

static int cmd_checkpoint(ledger *l, hae_err *err) {
    hae_buf note = {0};
    int rc = ledger_sign_checkpoint(l, &note, err);
    if (rc == HAE_OK) fwrite(note.data, 1, note.len, stdout);
    hae_buf_free(&note);
    return rc < 0 ? fail("checkpoint", err) : CLI_EXIT_OK;
}

/* The size proofs are made for: --size, else the last signed checkpoint. */
static int proof_size(ledger *l, const ledger_args *a, hae_buf *note, uint64_t *size, hae_err *err) {
    int rc = ledger_read_checkpoint(l, a->has_size ? a->size : 0, note, err);
    ledger_verifier key;
    ledger_checkpoint cp;
    if (rc == HAE_OK) rc = ledger_read_verifier(l, &key, err);
    if (rc == HAE_OK) rc = ledger_checkpoint_open(note->data, note->len, &key, 1, &cp, NULL, err);
    if (rc == HAE_OK) *size = cp.size;
    return rc;
}

/* The earliest retained checkpoint covering index that a given witness
 * cosigned: the entry existed, in this tree, by the cosignature's time. */
static int earliest_cosigned(ledger *l, const ledger_verifier *w, size_t count, uint64_t index, uint64_t *size,
                             ledger_sig_result *when, size_t *by, hae_err *err) {
    uint64_t *sizes = NULL;
    size_t n = 0;
    int rc = ledger_checkpoint_sizes(l, &sizes, &n, err);
    bool found = false;
    for (size_t i = 0; rc == HAE_OK && !found && i < n; i++) {
        if (sizes[i] <= index) continue;
        hae_buf note = {0};
        ledger_note parsed;
        if (ledger_read_checkpoint(l, sizes[i], &note, NULL) == HAE_OK &&
            ledger_note_parse(&parsed, note.data, note.len, NULL) == HAE_OK) {
            for (size_t k = 0; k < count; k++) {
                ledger_sig_result r;
                if (ledger_witness_quorum(&parsed, &w[k], 1, 1, &r, NULL) == HAE_OK &&
                    (!found || r.timestamp < when->timestamp)) {
                    *when = r, *by = k, *size = sizes[i];
                    found = true;
                }
            }
            ledger_note_free(&parsed);
        }
        hae_buf_free(&note);
    }
    free(sizes);
    if (rc == HAE_OK && !found) {
        rc = hae_err_set(err, HAE_ENOENT, "no retained checkpoint covering entry %" PRIu64 " is cosigned by the given witnesses",
                         index);
    }
    return rc;
}

static int print_witnessed(ledger *l, const ledger_args *a, uint64_t index, hae_err *err) {
    ledger_verifier w[16];
    if (a->witnesses.count > 16) return hae_err_set(err, HAE_EINVAL, "at most 16 --witness keys");
    int rc = HAE_OK;
    for (size_t i = 0; rc == HAE_OK && i < a->witnesses.count; i++) rc = ledger_cli_verifier(a->witnesses.items[i], &w[i], err);
    uint64_t size = 0;
    ledger_sig_result when = {0};
    size_t by = 0;
    if (rc == HAE_OK) rc = earliest_cosigned(l, w, a->witnesses.count, index, &size, &when, &by, err);
    if (rc == HAE_OK) {
        char t[HAE_TIME_LEN];
        hae_time_format((int64_t)when.timestamp * 1000000000LL, t);
        /* stdout carries the proof unless --out took it. */
        fprintf(a->out ? stdout : stderr, "entry %" PRIu64 " existed by %s, cosigned by %s (checkpoint of size %" PRIu64 ")\n",
                index, t, w[by].name, size);
    }
    return rc;
}

static int cmd_prove(ledger *l, const ledger_args *a, hae_err *err) {
    if (!a->has_from && !a->has_index == !a->entry) {
        return cli_fail("ledger prove", CLI_EXIT_USAGE, "give one of --index N, --entry FILE or --from M");
    }
    hae_buf note = {0}, out = {0}, entry = {0};
    uint64_t size = 0, index = a->index;
    ledger_proof *proof = malloc(sizeof *proof);
    int rc = proof ? proof_size(l, a, &note, &size, err) : hae_err_set(err, HAE_ENOMEM, "out of memory");
    if (rc == HAE_OK && a->has_from) {
        rc = ledger_prove_consistency(l, a->from, size, proof, err);
        if (rc == HAE_OK) rc = ledger_consistency_format(a->from, size, proof, &out);
    } else if (rc == HAE_OK) {
        if (a->entry) {
            ledger_hash leaf;
            rc = ledger_cli_read(a->entry, LEDGER_ENTRY_MAX, &entry, err);
            if (rc == HAE_OK) ledger_hash_leaf(entry.data, entry.len, &leaf);
            if (rc == HAE_OK) rc = ledger_find_leaf(l, &leaf, size, &index, err);
        }
        if (rc == HAE_OK) rc = ledger_prove_inclusion(l, index, size, proof, err);
        if (rc == HAE_OK) rc = ledger_inclusion_format(index, proof, note.data, note.len, &out);
    }
    if (rc == HAE_OK) rc = ledger_cli_write(a->out, out.data, out.len, err);
    if (rc == HAE_OK && !a->has_from && a->witnesses.count) rc = print_witnessed(l, a, index, err);
    free(proof);
    hae_buf_free(&note);
    hae_buf_free(&out);
    hae_buf_free(&entry);
    return rc < 0 ? fail("prove", err) : CLI_EXIT_OK;
}

static int cmd_export(ledger *l, const ledger_args *a, hae_err *err) {
    if (!a->out) return cli_fail("ledger export", CLI_EXIT_USAGE, "--out DIR is required");
    int rc = ledger_export_tiles(l, a->out, err);
    if (rc == HAE_OK) printf("exported %" PRIu64 " entries to %s\n", ledger_size(l), a->out);
    return rc < 0 ? fail("export", err) : CLI_EXIT_OK;
}

int cli_cmd_ledger(int argc, char **argv) {
    if (argc < 2) {
        usage(stderr);
        return CLI_EXIT_USAGE;
    }
    const char *sub = argv[1];
    if (strcmp(sub, "--help") == 0 || strcmp(sub, "-h") == 0 || strcmp(sub, "help") == 0) {
        usage(stdout);
        return CLI_EXIT_OK;
    }
    if (!sub_synopsis(sub)) {
        fprintf(stderr, "haetae ledger: unknown subcommand '%s'\n", sub);
        usage(stderr);
        return CLI_EXIT_USAGE;
    }
    ledger_args a = {0};
    const char *file = NULL;
    int prc = parse_args(sub, argc - 1, argv + 1, &a, &file);
    if (prc != CLI_PARSE_CONTINUE) {
        cli_strings_free(&a.keys);
        cli_strings_free(&a.meta);
        cli_strings_free(&a.checkpoints);
        cli_strings_free(&a.witnesses);
        return prc;
    }
    hae_err err = {0};
    int rc;
    if (strcmp(sub, "verify") == 0 || strcmp(sub, "audit") == 0) {
        ledger_verify_opts o = {
            .keys = (const char *const *)a.keys.items, .key_count = a.keys.count,
            .witnesses = (const char *const *)a.witnesses.items, .witness_count = a.witnesses.count,
            .quorum = (size_t)a.quorum, .has_quorum = a.has_quorum,
            .checkpoints = (const char *const *)a.checkpoints.items, .checkpoint_count = a.checkpoints.count,
            .proof = a.proof, .entry = a.entry, .old_checkpoint = a.old_checkpoint,
            .consistency = a.consistency, .dir = a.dir,
            .server = a.server, .pin = a.pin, .ca = a.ca, .state = a.state};
        rc = sub[0] == 'v' ? cli_ledger_verify(&o, &err) : cli_ledger_audit(&o, &err);
    } else if (!a.dir) {
        rc = cli_fail("ledger", CLI_EXIT_USAGE, "--dir DIR is required");
    } else {
        ledger *l = NULL;
        /* prove and export only read: beside a running server too. */
        bool is_read_only = strcmp(sub, "prove") == 0 || strcmp(sub, "export") == 0;
        if ((is_read_only ? ledger_open_snapshot(&l, a.dir, &err) : ledger_open(&l, a.dir, &err)) < 0) {
            rc = fail(sub, &err);
        } else if (strcmp(sub, "init") == 0) {
            rc = cmd_init(l, &a, &err);
        } else if (strcmp(sub, "append") == 0) {
            rc = cmd_append(l, &a, file, &err);
        } else if (strcmp(sub, "checkpoint") == 0) {
            rc = cmd_checkpoint(l, &err);
        } else if (strcmp(sub, "prove") == 0) {
            rc = cmd_prove(l, &a, &err);
        } else {
            rc = cmd_export(l, &a, &err);
        }
        ledger_close(l);
    }
    cli_strings_free(&a.keys);
    cli_strings_free(&a.meta);
    cli_strings_free(&a.checkpoints);
    cli_strings_free(&a.witnesses);
    return rc;
}
