/* A generated corpus with known ground truth: the same seeded persons
 * spread over a CSV export, an SQL dump, application logs, JSON lines, an
 * EUC-KR legacy file, a gzip file and a tar archive, mixed with decoys
 * (timestamps, order numbers, long ids, amounts). The scan must find every
 * identifier (recall) and nothing else (precision), both >= 0.99, and count
 * each person once. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <archive.h>
#include <archive_entry.h>
#include <iconv.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "fixtures.h"
#include "scope/scope.h"

#define PERSONS 2000

typedef struct person {
    char rrn[32], card[32], imei[32], imsi[32], iccid[32], phone[32], email[64], passport[32],
        bank[32];
    scope_kind rrn_kind;
} person;

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;
static unsigned rnd(unsigned n) {
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (unsigned)(rng_state % n);
}

static void digits(char *out, size_t n) {
    for (size_t i = 0; i < n; i++) out[i] = (char)('0' + rnd(10));
    out[n] = '\0';
}

static char luhn_digit(const char *d, size_t len) {
    unsigned sum = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned v = (unsigned)(d[len - 1 - i] - '0');
        if (i % 2 == 0) v = v * 2 > 9 ? v * 2 - 9 : v * 2;
        sum += v;
    }
    return (char)('0' + (10 - sum % 10) % 10);
}

static void make_rrn(person *p, size_t i) {
    static const int mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    bool post2020 = i % 10 == 3, foreign = i % 20 == 7;
    int year = post2020 ? 2021 + (int)rnd(3) : 1950 + (int)rnd(70);
    int month = 1 + (int)rnd(12), day = 1 + (int)rnd((unsigned)mdays[month - 1]);
    int sex = (year >= 2000 ? 3 : 1) + (int)rnd(2) + (foreign ? 4 : 0);
    char d[32];
    snprintf(d, sizeof d, "%02d%02d%02d%d", year % 100, month % 100, day % 100, sex % 10);
    digits(d + 7, 5);
    static const int w[12] = {2, 3, 4, 5, 6, 7, 8, 9, 2, 3, 4, 5};
    int sum = 0;
    for (int k = 0; k < 12; k++) sum += (d[k] - '0') * w[k];
    int check = foreign ? (13 - sum % 11) % 10 : (11 - sum % 11) % 10;
    if (post2020) check = (check + 1 + (int)rnd(9)) % 10; /* no check digit since 2020 */
    d[12] = (char)('0' + check);
    d[13] = '\0';
    snprintf(p->rrn, sizeof p->rrn, "%.6s-%s", d, d + 6);
    p->rrn_kind = foreign ? SCOPE_FRN : SCOPE_RRN;
}

static void make_person(person *p, size_t i) {
    make_rrn(p, i);
    char d[24];
    d[0] = i % 2 ? '4' : '5';
    d[1] = i % 2 ? (char)('0' + rnd(10)) : (char)('1' + rnd(5));
    digits(d + 2, 13);
    d[15] = luhn_digit(d, 15);
    d[16] = '\0';
    snprintf(p->card, sizeof p->card, "%s", d);
    memcpy(d, "35", 2);
    digits(d + 2, 12);
    d[14] = luhn_digit(d, 14);
    d[15] = '\0';
    snprintf(p->imei, sizeof p->imei, "%s", d);
    static const char *const mnc[] = {"45005", "45008", "45006"};
    memcpy(d, mnc[rnd(3)], 5);
    digits(d + 5, 10);
    snprintf(p->imsi, sizeof p->imsi, "%.15s", d);
    memcpy(d, "898230", 6);
    digits(d + 6, 12);
    d[18] = luhn_digit(d, 18);
    d[19] = '\0';
    snprintf(p->iccid, sizeof p->iccid, "%s", d);
    snprintf(p->phone, sizeof p->phone, "010-%d%03u-%04u", 2 + (int)rnd(8), rnd(1000), rnd(10000));
    snprintf(p->email, sizeof p->email, "user%zu.k%u@example%u.co.kr", i, rnd(100), rnd(5));
    if (i % 2) snprintf(p->passport, sizeof p->passport, "M%d%07u", 1 + (int)rnd(9), rnd(10000000));
    else snprintf(p->passport, sizeof p->passport, "M%03u%c%04u", rnd(1000), 'A' + rnd(26), rnd(10000));
    snprintf(p->bank, sizeof p->bank, "110-%03u-%06u", rnd(1000), rnd(1000000));
}

/* ---- ground truth ----------------------------------------------------------- */

typedef struct truth {
    char **keys; /* "file|kind|norm" */
    size_t count, cap;
} truth;

static void truth_add(truth *t, const char *file, scope_kind kind, const char *text) {
    scope_verdict v;
    scope_validate(kind, text, strlen(text), &v);
    assert_true(v.is_valid);
    if (t->count == t->cap) {
        t->cap = t->cap ? t->cap * 2 : 1024;
        t->keys = realloc(t->keys, t->cap * sizeof *t->keys);
        assert_non_null(t->keys);
    }
    char *key = NULL;
    assert_true(asprintf(&key, "%s|%s|%s", file, scope_kind_name(v.kind), v.norm) > 0);
    t->keys[t->count++] = key;
}

static int compare_keys(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* ---- the files -------------------------------------------------------------- */

static char *path_in(const char *dir, const char *name) {
    char *p = NULL;
    assert_true(asprintf(&p, "%s/%s", dir, name) > 0);
    return p;
}

static void write_csv(hae_buf *b, truth *t, const char *file, const person *ps, size_t from, size_t to) {
    hae_buf_append_str(b, "id,name,주민등록번호,휴대폰,email,card_no,계좌번호,created\n");
    for (size_t i = from; i < to; i++) {
        const person *p = &ps[i];
        hae_buf_printf(b, "%zu,홍길동%zu,%s,%s,%s,%.4s %.4s %.4s %.4s,%s,2024-05-%02zu 12:%02zu:00\n", i, i,
                       p->rrn, p->phone, p->email, p->card, p->card + 4, p->card + 8, p->card + 12,
                       p->bank, 1 + i % 28, i % 60);
        truth_add(t, file, p->rrn_kind, p->rrn);
        truth_add(t, file, SCOPE_PHONE, p->phone);
        truth_add(t, file, SCOPE_EMAIL, p->email);
        truth_add(t, file, SCOPE_CARD, p->card);
        truth_add(t, file, SCOPE_BANK_ACCOUNT, p->bank);
    }
}

static void write_sql(hae_buf *b, truth *t, const char *file, const person *ps, size_t from, size_t to) {
    hae_buf_append_str(b, "-- MySQL dump 10.13\nCREATE TABLE `subscribers` (\n  `id` int NOT NULL,\n"
                          "  `name` varchar(20),\n  `reg_no` char(14) COMMENT '주민등록번호',\n"
                          "  `imsi` char(15),\n  `iccid` char(20),\n  `imei` char(15),\n"
                          "  `msisdn` char(11),\n  `amount` bigint,\n  PRIMARY KEY (`id`)\n) ENGINE=InnoDB;\n");
    for (size_t i = from; i < to; i++) {
        const person *p = &ps[i];
        if ((i - from) % 50 == 0) hae_buf_append_str(b, i == from ? "INSERT INTO `subscribers` VALUES "
                                                                  : ";\nINSERT INTO `subscribers` VALUES ");
        else hae_buf_append_char(b, ',');
        char rrn[14];
        snprintf(rrn, sizeof rrn, "%.6s%s", p->rrn, p->rrn + 7);
        char phone[12];
        snprintf(phone, sizeof phone, "%.3s%.4s%.4s", p->phone, p->phone + 4, p->phone + 9);
        hae_buf_printf(b, "(%zu,'O\\'Neil %zu','%s','%s','%s','%s','%s',%u%09u)", i, i, rrn, p->imsi,
                       p->iccid, p->imei, phone, 1 + rnd(9), rnd(1000000000));
        truth_add(t, file, p->rrn_kind, rrn);
        truth_add(t, file, SCOPE_IMSI, p->imsi);
        truth_add(t, file, SCOPE_ICCID, p->iccid);
        truth_add(t, file, SCOPE_IMEI, p->imei);
        truth_add(t, file, SCOPE_PHONE, phone);
    }
    hae_buf_append_str(b, ";\n");
}

static void write_log(hae_buf *b, truth *t, const char *file, const person *ps, size_t from, size_t to) {
    for (size_t i = from; i < to; i++) {
        const person *p = &ps[i];
        hae_buf_printf(b, "2024-05-01T12:%02zu:%02zu.123Z INFO req=%u%09u order=ORD-2024%09u "
                          "ip=10.%zu.%zu.1 took=%ums amount=1,234,%03zu\n",
                       i % 60, i % 60, 1 + rnd(7), rnd(1000000000), rnd(1000000000), i % 256,
                       i % 200, rnd(5000), i % 1000);
        hae_buf_printf(b, "2024-05-01T12:%02zu:%02zu.456Z INFO signup user=%s phone %s rrn %s "
                          "device %s\n", i % 60, i % 60, p->email, p->phone, p->rrn, p->imei);
        truth_add(t, file, SCOPE_EMAIL, p->email);
        truth_add(t, file, SCOPE_PHONE, p->phone);
        truth_add(t, file, p->rrn_kind, p->rrn);
        truth_add(t, file, SCOPE_IMEI, p->imei);
    }
}

static void write_jsonl(hae_buf *b, truth *t, const char *file, const person *ps, size_t from, size_t to) {
    for (size_t i = from; i < to; i++) {
        const person *p = &ps[i];
        hae_buf_printf(b, "{\"ts\":%u%09u,\"user\":{\"mail\":\"%s\",\"passport\":\"%s\",\"jumin\":\"%s\"},"
                          "\"note\":\"call %s\",\"session\":\"%u%019u\"}\n",
                       1 + rnd(9), rnd(1000000000), p->email, p->passport, p->rrn, p->phone,
                       1 + rnd(7), rnd(1000000000));
        truth_add(t, file, SCOPE_EMAIL, p->email);
        truth_add(t, file, SCOPE_PASSPORT, p->passport);
        truth_add(t, file, p->rrn_kind, p->rrn);
        truth_add(t, file, SCOPE_PHONE, p->phone);
    }
}

static void write_legacy(hae_buf *b, truth *t, const char *file, const person *ps, size_t from, size_t to) {
    for (size_t i = from; i < to; i++) {
        const person *p = &ps[i];
        hae_buf_printf(b, "고객 홍길동%zu 주민번호: %s 연락처: %s 여권번호 %s\n", i, p->rrn, p->phone,
                       p->passport);
        truth_add(t, file, p->rrn_kind, p->rrn);
        truth_add(t, file, SCOPE_PHONE, p->phone);
        truth_add(t, file, SCOPE_PASSPORT, p->passport);
    }
}

static void to_cp949(const hae_buf *in, hae_buf *out) {
    iconv_t cd = iconv_open("CP949", "UTF-8");
    assert_true(cd != (iconv_t)-1);
    assert_int_equal(hae_buf_reserve(out, in->len * 2 + 16), HAE_OK);
    char *ip = in->data, *op = out->data;
    size_t il = in->len, ol = out->cap - 1;
    assert_true(iconv(cd, &ip, &il, &op, &ol) != (size_t)-1);
    out->len = (size_t)(op - out->data);
    iconv_close(cd);
}

static void write_gzip(const char *path, const hae_buf *b) {
    gzFile gz = gzopen(path, "wb");
    assert_non_null(gz);
    assert_int_equal(gzwrite(gz, b->data, (unsigned)b->len), (int)b->len);
    assert_int_equal(gzclose(gz), Z_OK);
}

static void write_tar(const char *path, const char *const *names, const hae_buf *const *bodies, size_t n) {
    struct archive *a = archive_write_new();
    assert_int_equal(archive_write_set_format_pax_restricted(a), ARCHIVE_OK);
    assert_int_equal(archive_write_open_filename(a, path), ARCHIVE_OK);
    for (size_t i = 0; i < n; i++) {
        struct archive_entry *e = archive_entry_new();
        archive_entry_set_pathname(e, names[i]);
        archive_entry_set_size(e, (la_int64_t)bodies[i]->len);
        archive_entry_set_filetype(e, AE_IFREG);
        archive_entry_set_perm(e, 0644);
        assert_int_equal(archive_write_header(a, e), ARCHIVE_OK);
        assert_int_equal(archive_write_data(a, bodies[i]->data, bodies[i]->len), (la_ssize_t)bodies[i]->len);
        archive_entry_free(e);
    }
    assert_int_equal(archive_write_close(a), ARCHIVE_OK);
    archive_write_free(a);
}

static void save(const char *dir, const char *name, const hae_buf *b) {
    char *p = path_in(dir, name);
    assert_int_equal(fixture_write_file(p, b->data, b->len), 0);
    free(p);
}

static void build_corpus(const char *dir, truth *t, const person *ps) {
    hae_buf b = {0}, c = {0}, m1 = {0}, m2 = {0};
    write_csv(&b, t, "users.csv", ps, 0, 500);
    save(dir, "users.csv", &b);
    hae_buf_reset(&b);
    write_sql(&b, t, "dump.sql", ps, 500, 1000);
    save(dir, "dump.sql", &b);
    hae_buf_reset(&b);
    write_log(&b, t, "app.log", ps, 1000, 1300);
    write_log(&b, t, "app.log", ps, 0, 100); /* persons seen again elsewhere */
    save(dir, "app.log", &b);
    hae_buf_reset(&b);
    write_jsonl(&b, t, "events.jsonl", ps, 1300, 1500);
    save(dir, "events.jsonl", &b);
    hae_buf_reset(&b);
    write_legacy(&b, t, "legacy.txt", ps, 1500, 1600);
    to_cp949(&b, &c);
    save(dir, "legacy.txt", &c);
    hae_buf_reset(&b);
    write_csv(&b, t, "old.csv.gz", ps, 1600, 1800);
    char *gz = path_in(dir, "old.csv.gz");
    write_gzip(gz, &b);
    free(gz);
    write_log(&m1, t, "backup.tar!logs/api.log", ps, 1800, 1900);
    write_jsonl(&m2, t, "backup.tar!export/users.jsonl", ps, 1900, 2000);
    const char *names[] = {"logs/api.log", "export/users.jsonl"};
    const hae_buf *bodies[] = {&m1, &m2};
    char *tar = path_in(dir, "backup.tar");
    write_tar(tar, names, bodies, 2);
    free(tar);
    hae_buf_free(&b);
    hae_buf_free(&c);
    hae_buf_free(&m1);
    hae_buf_free(&m2);
}

/* ---- measuring ---------------------------------------------------------------- */

static void test_precision_and_recall_on_generated_corpus(void **state) {
    (void)state;
    person *ps = calloc(PERSONS, sizeof *ps);
    assert_non_null(ps);
    for (size_t i = 0; i < PERSONS; i++) make_person(&ps[i], i);
    char *dir = fixture_tempdir("scope-corpus");
    truth t = {0};
    build_corpus(dir, &t, ps);
    qsort(t.keys, t.count, sizeof *t.keys, compare_keys);

    char *out_dir = fixture_tempdir("scope-corpus-out");
    char *findings_path = path_in(out_dir, "findings.jsonl");
    FILE *findings = fopen(findings_path, "w+");
    assert_non_null(findings);
    scope_options opt;
    scope_options_default(&opt);
    opt.findings = findings;
    opt.reveal = true;
    opt.threads = 2;
    scope_scanner *s = NULL;
    hae_err err = {0};
    assert_int_equal(scope_scanner_new(&s, &opt, &err), HAE_OK);
    const char *paths[] = {dir};
    scope_report r;
    assert_int_equal(scope_scan_paths(s, paths, 1, &r, &err), HAE_OK);
    assert_true(r.is_complete);

    bool *found = calloc(t.count, sizeof *found);
    size_t tp = 0, fp = 0, prefix = strlen(dir) + 1;
    rewind(findings);
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    while ((n = getline(&line, &cap, findings)) > 0) {
        hae_arena arena = {0};
        hae_json *j = NULL;
        assert_int_equal(hae_json_parse(line, (size_t)n, &arena, &j, &err), HAE_OK);
        const hae_json *file = hae_json_member(j, "file"), *kind = hae_json_member(j, "kind"),
                       *value = hae_json_member(j, "value"), *conf = hae_json_member(j, "confidence");
        if (strtod(conf->text, NULL) >= 0.5) {
            scope_kind k;
            assert_int_equal(scope_kind_parse(kind->text, &k), HAE_OK);
            scope_verdict v;
            scope_validate(k, value->text, value->text_len, &v);
            char *key = NULL;
            assert_true(asprintf(&key, "%s|%s|%s", file->text + prefix, kind->text, v.norm) > 0);
            char **hit = bsearch(&key, t.keys, t.count, sizeof *t.keys, compare_keys);
            if (hit && !found[hit - t.keys]) {
                found[hit - t.keys] = true;
                tp++;
            } else if (!hit) {
                fp++;
                if (fp < 10) print_message("false positive: %s", line);
            }
            free(key);
        }
        hae_arena_free(&arena);
    }
    size_t fn = 0;
    for (size_t i = 0; i < t.count; i++) {
        if (!found[i] && ++fn < 10) print_message("missed: %s\n", t.keys[i]);
    }
    double precision = tp + fp ? (double)tp / (double)(tp + fp) : 0.0;
    double recall = (double)tp / (double)t.count;
    print_message("corpus: %zu identifiers, tp %zu fp %zu fn %zu, precision %.4f recall %.4f, "
                  "persons %llu of %d\n", t.count, tp, fp, fn, precision, recall,
                  (unsigned long long)r.persons, PERSONS);
    assert_true(precision >= 0.99);
    assert_true(recall >= 0.99);
    assert_true(r.persons >= PERSONS * 99 / 100 && r.persons <= PERSONS * 101 / 100);
    assert_int_equal(r.files_scanned, 7);

    free(line);
    fclose(findings);
    free(findings_path);
    free(found);
    for (size_t i = 0; i < t.count; i++) free(t.keys[i]);
    free(t.keys);
    scope_report_free(&r);
    scope_scanner_free(s);
    fixture_rmtree(dir);
    fixture_rmtree(out_dir);
    free(dir);
    free(out_dir);
    free(ps);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_precision_and_recall_on_generated_corpus),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
