/* Weights in safetensors: a round trip through save and load, files built
 * byte by byte, atomic writes, and a corpus of broken files (built here)
 * that must each fail with a message saying what is wrong, leaving the
 * network's weights as they were. */
#include <dirent.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "scratch_folder.h"
#include "cnnrun.h"
#include "net_fixture.h"
#include "safetensors.h"

static bool build(fixture *f, const char *yaml, uint64_t seed, int batch) {
    cr_error err;
    f->net = NULL;
    if (cr_model_load_text(yaml, strlen(yaml), "test.yaml", &f->model, &err)) {
        fprintf(stderr, "model: %s\n", err.message);
        CHECK(!"model loads");
        return false;
    }
    cr_net_options options = {.seed = seed, .training = true};
    if (cr_net_create(f->model, batch, &options, &f->net, &err)) {
        fprintf(stderr, "net: %s\n", err.message);
        CHECK(!"network builds");
        cr_model_free(f->model);
        return false;
    }
    return true;
}

static int64_t total_floats(cr_net *net) {
    int64_t total = 0;
    for (int i = 0; i < cr_net_param_count(net); i++) total += cr_net_param(net, i).count;
    return total;
}

/* Every parameter and buffer, one after another. */
static float *snapshot(cr_net *net) {
    float *copy = malloc((size_t)total_floats(net) * sizeof *copy), *p = copy;
    for (int i = 0; i < cr_net_param_count(net); i++) {
        cr_tensor t = cr_net_param(net, i);
        memcpy(p, t.data, (size_t)t.count * sizeof *p);
        p += t.count;
    }
    return copy;
}

static bool same_as_snapshot(cr_net *net, const float *copy) {
    float *now = snapshot(net);
    bool same = memcmp(now, copy, (size_t)total_floats(net) * sizeof *now) == 0;
    free(now);
    return same;
}

static unsigned char *read_all(const char *path, long *size) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    *size = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *bytes = malloc((size_t)*size + 1);
    if (fread(bytes, 1, (size_t)*size, f) != (size_t)*size) *size = -1;
    bytes[*size > 0 ? *size : 0] = '\0';
    fclose(f);
    return bytes;
}

static int temp_files_left(void) {
    DIR *dir = opendir(folder);
    int count = 0;
    for (struct dirent *e; dir && (e = readdir(dir));) count += strstr(e->d_name, ".tmp-") != NULL;
    if (dir) closedir(dir);
    return count;
}

/* ---- round trip --------------------------------------------------------------- */

static const char *round_trip_yaml =
    "name: rt\ninput: [2, 6, 6]\nlayers:\n"
    "  - {type: conv, name: c1, filters: 4, kernel: 3, padding: 1, groups: 2, activation: relu}\n"
    "  - {type: batchnorm, name: bn1, momentum: 0.5}\n"
    "  - {type: maxpool, name: p1, size: 2}\n"
    "  - repeat: 1\n"
    "    name: block\n"
    "    layers:\n"
    "      - {type: conv, filters: 3, kernel: [1, 2], bias: false}\n"
    "      - {type: batchnorm}\n"
    "  - {type: dense, name: fc, units: 5}\n"
    "  - {type: softmax}\n";

static void test_round_trip(void) {
    fixture a, b;
    if (!build(&a, round_trip_yaml, 1, 2)) return;
    if (!build(&b, round_trip_yaml, 2, 2)) {
        fixture_free(&a);
        return;
    }
    /* A training step moves the running statistics off their 0/1 start,
     * so the buffers are checked with real values too. */
    uint64_t state = 7;
    fill_uniform(cr_net_input(a.net), 2 * 2 * 6 * 6, &state);
    cr_net_forward(a.net, true);

    const char *path = in_folder("rt.safetensors");
    cr_error err = {0};
    CHECK_INT(cr_net_save_weights(a.net, path, &err), 0);
    CHECK_INT(temp_files_left(), 0);
    struct stat info;
    CHECK(stat(path, &info) == 0 && (info.st_mode & 0777) == 0644);

    float *before_b = snapshot(b.net), *saved_a = snapshot(a.net);
    CHECK(!same_as_snapshot(a.net, before_b)); /* different seeds: different weights */
    free(before_b);
    CHECK_INT(cr_net_load_weights(b.net, path, &err), 0);
    CHECK(same_as_snapshot(b.net, saved_a)); /* bit-identical, buffers included */
    free(saved_a);

    memcpy(cr_net_input(b.net), cr_net_input(a.net), 2 * 2 * 6 * 6 * sizeof(float));
    cr_net_forward(a.net, false);
    cr_net_forward(b.net, false);
    CHECK(memcmp(cr_net_output(a.net), cr_net_output(b.net), 2 * 5 * sizeof(float)) == 0);

    /* The file itself: padded header, metadata, PyTorch's batch counters. */
    long size = 0;
    unsigned char *bytes = read_all(path, &size);
    CHECK(bytes != NULL && size > 8);
    if (bytes && size > 8) {
        uint64_t header = 0;
        for (int i = 7; i >= 0; i--) header = header << 8 | bytes[i];
        CHECK_INT(header % 8, 0);
        CHECK_INT(8 + (long)header + total_floats(a.net) * 4 + 2 * 8, size);
        CHECK_CONTAINS((char *)bytes + 8,
                       "\"__metadata__\":{\"format\":\"pt\",\"producer\":\"cnnrun\"}");
    }
    free(bytes);
    cr_safetensors_file *file;
    CHECK_INT(cr_safetensors_open(path, &file, &err), 0);
    if (file) {
        CHECK_INT(file->count, cr_net_param_count(a.net) + 2);
        const char *counters[] = {"bn1.num_batches_tracked",
                                  "block1.batchnorm1.num_batches_tracked"};
        for (int i = 0; i < 2; i++) {
            const cr_safetensors_entry *e = cr_safetensors_find(file, counters[i]);
            CHECK(e != NULL);
            if (!e) continue;
            CHECK_INT(e->dtype, CR_DTYPE_I64);
            CHECK_INT(e->ndim, 0);
            int64_t value = -1;
            CHECK_INT(cr_safetensors_read_ints(file, e, &value, &err), 0);
            CHECK_INT(value, 0);
            CHECK_INT(e->begin % 8, 0);
        }
        const cr_safetensors_entry *w = cr_safetensors_find(file, "block1.conv1.weight");
        CHECK(w != NULL);
        if (w) {
            CHECK_INT(w->ndim, 4); /* [3, 4, 1, 2] */
            CHECK_INT(w->shape[0], 3);
            CHECK_INT(w->shape[1], 4);
            CHECK_INT(w->shape[2], 1);
            CHECK_INT(w->shape[3], 2);
        }
        CHECK(cr_safetensors_find(file, "block1.conv1.bias") == NULL);
        cr_safetensors_close(file);
    }
    fixture_free(&a);
    fixture_free(&b);
}

/* ---- files built byte by byte ----------------------------------------------------------- */

/* dense 2 -> 2 on a [1, 1, 2] input */
static const char *tiny_dense_yaml = "name: tiny\ninput: [1, 1, 2]\nlayers:\n"
                                     "  - {type: dense, name: d, units: 2}\n";

static void write_bytes(const char *path, const void *bytes, size_t size) {
    FILE *f = fopen(path, "wb");
    CHECK(f != NULL);
    if (!f) return;
    CHECK(fwrite(bytes, 1, size, f) == size);
    fclose(f);
}

/* 8-byte little-endian length, the header padded with spaces to a
 * multiple of 8, then `data`. */
static void write_file(const char *path, const char *header, const void *data, size_t data_size) {
    size_t length = strlen(header), padded = (length + 7) / 8 * 8;
    unsigned char *bytes = calloc(1, 8 + padded + data_size + 1);
    for (int i = 0; i < 8; i++) bytes[i] = (unsigned char)(padded >> (8 * i));
    memcpy(bytes + 8, header, length);
    memset(bytes + 8 + length, ' ', padded - length);
    if (data_size) memcpy(bytes + 8 + padded, data, data_size);
    write_bytes(path, bytes, 8 + padded + data_size);
    free(bytes);
}

static void check_tiny_dense(const char *what, const char *header, const void *data, size_t size) {
    fixture f;
    if (!build(&f, tiny_dense_yaml, 1, 1)) return;
    const char *path = in_folder("tiny.safetensors");
    write_file(path, header, data, size);
    cr_error err = {0};
    int status = cr_net_load_weights(f.net, path, &err);
    if (status) fprintf(stderr, "%s: %s\n", what, err.message);
    CHECK_INT(status, 0);
    /* weight [[1, 2], [-0.5, 0.25]], bias [0.5, -1]; x = [1, 2]:
     * y = [1 + 4 + 0.5, -0.5 + 0.5 - 1] = [5.5, -1] */
    const float weight[4] = {1, 2, -0.5f, 0.25f}, bias[2] = {0.5f, -1};
    check_floats(what, fixture_param(&f, "d.weight").data, weight, 4, 0);
    check_floats(what, fixture_param(&f, "d.bias").data, bias, 2, 0);
    cr_net_input(f.net)[0] = 1;
    cr_net_input(f.net)[1] = 2;
    cr_net_forward(f.net, false);
    const float y[2] = {5.5f, -1};
    check_floats(what, cr_net_output(f.net), y, 2, 0);
    fixture_free(&f);
}

static void test_known_bytes(void) {
    /* float32 little-endian: 1 = 00 00 80 3f, 2 = 00 00 00 40, -0.5 = 00 00
     * 00 bf, 0.25 = 00 00 80 3e, 0.5 = 00 00 00 3f, -1 = 00 00 80 bf. The
     * bias comes first in the data, in the header second. */
    static const unsigned char f32[24] = {
        0, 0, 0,    0x3f, 0, 0, 0x80, 0xbf,                                  /* bias */
        0, 0, 0x80, 0x3f, 0, 0, 0,    0x40, 0, 0, 0, 0xbf, 0, 0, 0x80, 0x3e, /* weight */
    };
    check_tiny_dense("F32",
                     "{\"d.weight\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[8,24]},"
                     "\"d.bias\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}",
                     f32, sizeof f32);
    /* bfloat16 is float32's top half: 1 = 80 3f ...; float16: 0.5 = 00 38,
     * -1 = 00 bc. Whitespace and __metadata__ as PyTorch's writer puts them. */
    static const unsigned char half[12] = {0x80, 0x3f, 0x00, 0x40, 0x00, 0xbf,
                                           0x80, 0x3e, 0x00, 0x38, 0x00, 0xbc};
    check_tiny_dense("BF16/F16",
                     "{\"__metadata__\": {\"format\": \"pt\"}, \"d.weight\": {\"dtype\": \"BF16\", "
                     "\"shape\": [2, 2], \"data_offsets\": [0, 8]}, \"d.bias\": {\"dtype\": "
                     "\"F16\", \"shape\": [2], \"data_offsets\": [8, 12]}}",
                     half, sizeof half);
    /* float64: 1 = 00..00 f0 3f, 2 = 00..00 00 40, -0.5 = 00..00 e0 bf,
     * 0.25 = 00..00 d0 3f, 0.5 = 00..00 e0 3f, -1 = 00..00 f0 bf */
    unsigned char f64[48] = {0};
    const unsigned char top[6][2] = {{0xf0, 0x3f}, {0x00, 0x40}, {0xe0, 0xbf},
                                     {0xd0, 0x3f}, {0xe0, 0x3f}, {0xf0, 0xbf}};
    for (int i = 0; i < 6; i++) memcpy(f64 + 8 * i + 6, top[i], 2);
    check_tiny_dense("F64",
                     "{\"d.weight\":{\"dtype\":\"F64\",\"shape\":[2,2],\"data_offsets\":[0,32]},"
                     "\"d.bias\":{\"dtype\":\"F64\",\"shape\":[2],\"data_offsets\":[32,48]}}",
                     f64, sizeof f64);
    /* A float16 subnormal (2^-24, the smallest) and negative zero. */
    static const unsigned char odd[12] = {0x01, 0x00, 0x00, 0x80, 0x00, 0x3c, 0x00, 0x00};
    cr_safetensors_file *file;
    cr_error err;
    const char *path = in_folder("half.safetensors");
    write_file(path, "{\"h\":{\"dtype\":\"F16\",\"shape\":[4],\"data_offsets\":[0,8]}}", odd, 8);
    CHECK_INT(cr_safetensors_open(path, &file, &err), 0);
    if (file) {
        float values[4];
        CHECK_INT(cr_safetensors_read_floats(file, &file->entries[0], values, &err), 0);
        CHECK(values[0] == ldexpf(1, -24));
        CHECK(values[1] == 0 && signbit(values[1]));
        CHECK(values[2] == 1.0f);
        CHECK(values[3] == 0 && !signbit(values[3]));
        cr_safetensors_close(file);
    }
    /* Infinity (F16 7c00) and NaN (F32 7fc00000) are refused with the tensor's
     * name: they would give "loss nan" and "nan%" downstream. */
    static const unsigned char infinite[8] = {0x00, 0x00, 0x00, 0x7c};
    write_file(path, "{\"h\":{\"dtype\":\"F16\",\"shape\":[4],\"data_offsets\":[0,8]}}", infinite,
               8);
    CHECK_INT(cr_safetensors_open(path, &file, &err), 0);
    if (file) {
        float values[4];
        CHECK_INT(cr_safetensors_read_floats(file, &file->entries[0], values, &err), 1);
        CHECK_CONTAINS(err.message, "tensor 'h': element 1 is infinite");
        cr_safetensors_close(file);
    }
    static const unsigned char not_a_number[4] = {0x00, 0x00, 0xc0, 0x7f};
    write_file(path, "{\"h\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}",
               not_a_number, 4);
    CHECK_INT(cr_safetensors_open(path, &file, &err), 0);
    if (file) {
        float value;
        CHECK_INT(cr_safetensors_read_floats(file, &file->entries[0], &value, &err), 1);
        CHECK_CONTAINS(err.message, "tensor 'h': element 0 is NaN");
        cr_safetensors_close(file);
    }
}

/* ---- atomic writes ------------------------------------------------------------------ */

static void test_atomic_write(void) {
    fixture small, big;
    if (!build(&small, tiny_dense_yaml, 1, 1)) return;
    if (!build(&big, round_trip_yaml, 1, 1)) {
        fixture_free(&small);
        return;
    }
    cr_error err = {0};
    char text[2048];

    /* A folder that does not exist: an I/O error, nothing created. */
    const char *nowhere = in_folder("no/such/folder/w.safetensors");
    CHECK_INT(cr_net_save_weights(small.net, nowhere, &err), 1);
    CHECK_INT(err.kind, CR_ERR_IO);
    cr_error_format(&err, text, sizeof text);
    CHECK_CONTAINS(text, "no/such/folder/w.safetensors: cannot write: cannot create a file in");
    CHECK_CONTAINS(text, "No such file or directory");
    CHECK(access(in_folder("no"), F_OK) != 0);

    /* The target is a folder: the rename fails, the temporary file goes. */
    const char *folder_target = in_folder("a_folder");
    CHECK_INT(mkdir(folder_target, 0755), 0);
    CHECK_INT(cr_net_save_weights(small.net, folder_target, &err), 1);
    CHECK_INT(err.kind, CR_ERR_IO);
    CHECK_CONTAINS(err.message, "the file was left unchanged");
    CHECK_INT(temp_files_left(), 0);
    rmdir(folder_target);

    /* A good file survives a save that fails half-way: the file size limit
     * makes the write fail (EFBIG) after some bytes, even for root. */
    const char *path = in_folder("keep.safetensors");
    CHECK_INT(cr_net_save_weights(small.net, path, &err), 0);
    chmod(path, 0600); /* and a replaced file keeps its mode */
    long good_size = 0, after_size = 0;
    unsigned char *good = read_all(path, &good_size);
    struct rlimit limit, original;
    getrlimit(RLIMIT_FSIZE, &original);
    void (*previous)(int) = signal(SIGXFSZ, SIG_IGN);
    limit = original;
    limit.rlim_cur = (rlim_t)good_size + 16; /* the big net's file is far larger */
    CHECK_INT(setrlimit(RLIMIT_FSIZE, &limit), 0);
    int status = cr_net_save_weights(big.net, path, &err);
    setrlimit(RLIMIT_FSIZE, &original);
    signal(SIGXFSZ, previous);
    CHECK_INT(status, 1);
    CHECK_INT(err.kind, CR_ERR_IO);
    CHECK_CONTAINS(err.message, "File too large");
    unsigned char *after = read_all(path, &after_size);
    CHECK(good && after && good_size == after_size && memcmp(good, after, (size_t)good_size) == 0);
    CHECK_INT(temp_files_left(), 0);
    free(good);
    free(after);

    /* A successful save replaces it and keeps its mode. */
    CHECK_INT(cr_net_save_weights(big.net, path, &err), 0);
    struct stat info;
    CHECK(stat(path, &info) == 0 && (info.st_mode & 0777) == 0600);
    CHECK_INT(cr_net_load_weights(big.net, path, &err), 0);
    CHECK_INT(cr_net_load_weights(small.net, path, &err), 1); /* the other model's weights */
    unlink(path);
    fixture_free(&small);
    fixture_free(&big);
}

/* ---- broken files ------------------------------------------------------------------- */

/* conv 1 -> 2 (1×1), batchnorm, dense 8 -> 3: its tensors, in a valid
 * file's order, each as (name, dtype, shape, bytes). */
static const char *broken_yaml = "name: broken\ninput: [1, 2, 2]\nlayers:\n"
                                 "  - {type: conv, name: c1, filters: 2, kernel: 1}\n"
                                 "  - {type: batchnorm, name: bn}\n"
                                 "  - {type: dense, name: fc, units: 3}\n";

typedef struct tensor_spec {
    const char *name, *dtype, *shape;
    int64_t bytes;
} tensor_spec;

static const tensor_spec valid_tensors[] = {
    {"c1.weight", "F32", "2, 1, 1, 1", 8},
    {"c1.bias", "F32", "2", 8},
    {"bn.weight", "F32", "2", 8},
    {"bn.bias", "F32", "2", 8},
    {"bn.running_mean", "F32", "2", 8},
    {"bn.running_var", "F32", "2", 8},
    {"bn.num_batches_tracked", "I64", "", 8},
    {"fc.weight", "F32", "3, 8", 96},
    {"fc.bias", "F32", "3", 12},
};
enum { n_valid = sizeof valid_tensors / sizeof valid_tensors[0] };

/* Writes `specs` laid end to end, with `extra` bytes added to (or, when
 * negative, cut from) the data. The data is float32 0.25 throughout, or
 * `data` when given. */
static void write_specs(const char *path, const tensor_spec *specs, int count, int64_t extra,
                        const void *data) {
    char header[4096] = "{";
    int64_t offset = 0;
    for (int i = 0; i < count; i++) {
        snprintf(header + strlen(header), sizeof header - strlen(header),
                 "%s\"%s\":{\"dtype\":\"%s\",\"shape\":[%s],\"data_offsets\":[%lld,%lld]}",
                 i ? "," : "", specs[i].name, specs[i].dtype, specs[i].shape, (long long)offset,
                 (long long)(offset + specs[i].bytes));
        offset += specs[i].bytes;
    }
    strcat(header, "}");
    size_t size = (size_t)(offset + extra);
    unsigned char *bytes = malloc(size + 1);
    static const unsigned char quarter[4] = {0, 0, 0x80, 0x3e};
    for (size_t i = 0; i < size; i++) bytes[i] = quarter[i % 4];
    if (data) memcpy(bytes, data, (size_t)offset < size ? (size_t)offset : size);
    write_file(path, header, bytes, size);
    free(bytes);
}

/* The file must fail to load with `kind`, a message holding `expected`,
 * and the weights untouched. */
static void expect_failure(fixture *f, const char *what, const char *path, cr_error_kind kind,
                           const char *expected) {
    float *before = snapshot(f->net);
    cr_error err = {0};
    int status = cr_net_load_weights(f->net, path, &err);
    if (!status) fprintf(stderr, "%s: loaded, but should have failed\n", what);
    CHECK_INT(status, 1);
    CHECK_INT(err.kind, kind);
    char text[2048];
    cr_error_format(&err, text, sizeof text);
    if (!strstr(text, expected)) fprintf(stderr, "case '%s'\n", what);
    CHECK_CONTAINS(text, expected);
    CHECK_CONTAINS(text, path); /* every message names the file */
    CHECK(same_as_snapshot(f->net, before));
    free(before);
}

static void expect_bytes_fail(fixture *f, const char *what, const void *bytes, size_t size,
                              const char *expected) {
    const char *path = in_folder("broken.safetensors");
    write_bytes(path, bytes, size);
    expect_failure(f, what, path, CR_ERR_INVALID, expected);
}

static void expect_header_fail(fixture *f, const char *what, const char *header, size_t data_size,
                               const char *expected) {
    const char *path = in_folder("broken.safetensors");
    unsigned char *data = calloc(1, data_size + 1);
    write_file(path, header, data, data_size);
    free(data);
    expect_failure(f, what, path, CR_ERR_INVALID, expected);
}

/* The valid tensors with entry `index` changed (a NULL field keeps the
 * valid one; a NULL name drops the entry). */
static void expect_specs_fail(fixture *f, const char *what, int index, tensor_spec change,
                              int64_t extra, const void *data, const char *expected) {
    tensor_spec specs[n_valid + 1];
    int count = 0;
    for (int i = 0; i < n_valid; i++) {
        tensor_spec s = valid_tensors[i];
        if (i == index) {
            if (!change.name) continue;
            s.name = change.name;
            if (change.dtype) s.dtype = change.dtype;
            if (change.shape) s.shape = change.shape;
            if (change.bytes) s.bytes = change.bytes;
        }
        specs[count++] = s;
    }
    if (index == n_valid) specs[count++] = change;
    const char *path = in_folder("broken.safetensors");
    write_specs(path, specs, count, extra, data);
    expect_failure(f, what, path, CR_ERR_INVALID, expected);
}

static void test_broken_files(void) {
    fixture f;
    if (!build(&f, broken_yaml, 3, 1)) return;
    char path[256]; /* in_folder's buffers are reused by the cases below */
    snprintf(path, sizeof path, "%s", in_folder("valid.safetensors"));
    cr_error err = {0};

    /* The corpus is built from this valid file: it loads. */
    write_specs(path, valid_tensors, n_valid, 0, NULL);
    CHECK_INT(cr_net_load_weights(f.net, path, &err), 0);
    CHECK(fixture_param(&f, "fc.bias").data[2] == 0.25f);
    /* ... and so does one without PyTorch's batch counter. */
    tensor_spec no_counter[n_valid - 1];
    for (int i = 0, n = 0; i < n_valid; i++)
        if (i != 6) no_counter[n++] = valid_tensors[i];
    write_specs(path, no_counter, n_valid - 1, 0, NULL);
    CHECK_INT(cr_net_load_weights(f.net, path, &err), 0);
    /* Give the weights distinct values, so "unchanged" means something. */
    uint64_t state = 11;
    for (int i = 0; i < cr_net_param_count(f.net); i++) {
        cr_tensor t = cr_net_param(f.net, i);
        fill_uniform(t.data, t.count, &state);
    }

    /* -- the file as a whole -- */
    expect_failure(&f, "missing file", in_folder("absent.safetensors"), CR_ERR_IO,
                   "cannot open: No such file or directory");
    expect_failure(&f, "a folder", folder, CR_ERR_IO, "is a folder, not a file");
    expect_bytes_fail(&f, "empty", "", 0, "the file is 0 bytes: too short");
    expect_bytes_fail(&f, "5 bytes", "\x10\0\0\0\0", 5, "the file is 5 bytes: too short");
    expect_bytes_fail(&f, "absurd header length", "\0\0\0\0\0\x01\0\0{}      ", 16,
                      "header length 1099511627776 is absurd (over 100 MB)");
    expect_bytes_fail(&f, "header beyond the end", "\xe8\x03\0\0\0\0\0\0{\"a\":", 13,
                      "file is truncated: the header length is 1000 bytes, but only 5 bytes "
                      "follow it");
    expect_header_fail(&f, "not JSON", "PK\x03\x04 zip?", 0,
                       "the header does not start with '{': not a safetensors file");
    expect_header_fail(&f, "broken JSON", "{\"c1.weight\": {\"dtype\": \"F32\", ", 0,
                       "the header is not valid JSON (error at byte");
    expect_header_fail(&f, "text after the JSON", "{} trailing", 0,
                       "the header has text after its JSON object (at byte 3 of 16)");
    expect_header_fail(&f, "entry not an object", "{\"c1.weight\": [1, 2]}", 0,
                       "tensor 'c1.weight': expected an object with dtype, shape and "
                       "data_offsets, found a list");
    expect_header_fail(&f, "metadata not strings", "{\"__metadata__\": {\"epoch\": 3}}", 0,
                       "'__metadata__' entry 'epoch' must be a string, found a number");
    expect_header_fail(&f, "duplicate name",
                       "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
                       "\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}",
                       8, "tensor 'a' appears twice in the header");
    expect_header_fail(&f, "overlap",
                       "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                       "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}",
                       12, "tensors 'a' (bytes [0, 8)) and 'b' (bytes [4, 12)) overlap");
    expect_header_fail(&f, "gap",
                       "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
                       "\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,12]}}",
                       12, "bytes [4, 8) of the data belong to no tensor");
    expect_header_fail(&f, "no tensors but data", "{}", 16,
                       "the header lists no tensors, but 16 bytes of data follow it");
    expect_header_fail(&f, "tensor count overflow",
                       "{\"a\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296],"
                       "\"data_offsets\":[0,0]}}",
                       0, "tensor 'a': shape is absurdly large");
    expect_header_fail(&f, "nine dimensions",
                       "{\"a\":{\"dtype\":\"F32\",\"shape\":[1,1,1,1,1,1,1,1,1],"
                       "\"data_offsets\":[0,4]}}",
                       4, "tensor 'a' has 9 dimensions; at most 8 are supported");
    expect_header_fail(&f, "control characters in a name", "{\"evil\\u001b[2J\": 5}", 0,
                       "tensor 'evil?[2J': expected an object");

    /* -- one entry of an otherwise valid file -- */
    expect_specs_fail(&f, "truncated data", -1, (tensor_spec){0}, -5, NULL,
                      "file is truncated: tensor 'fc.bias' is at bytes [152, 164) of the data, "
                      "but the file holds only 159 bytes of data");
    expect_specs_fail(&f, "stray bytes", -1, (tensor_spec){0}, 3, NULL,
                      "the data section is 167 bytes, but the tensors cover only 164: 3 stray "
                      "bytes at the end");
    expect_specs_fail(&f, "unknown dtype", 0, (tensor_spec){"c1.weight", "F33", NULL, 0}, 0, NULL,
                      "tensor 'c1.weight' has unknown dtype 'F33'");
    expect_specs_fail(&f, "fractional size", 1, (tensor_spec){"c1.bias", NULL, "2.5", 0}, 0, NULL,
                      "tensor 'c1.bias': shape entry 0 is not a whole number ≥ 0");
    expect_specs_fail(&f, "negative size", 1, (tensor_spec){"c1.bias", NULL, "-2", 0}, 0, NULL,
                      "tensor 'c1.bias': shape entry 0 is not a whole number ≥ 0");
    expect_specs_fail(&f, "size does not match the offsets", 8,
                      (tensor_spec){"fc.bias", NULL, "4", 0}, 0, NULL,
                      "tensor 'fc.bias': data_offsets [152, 164] span 12 bytes, but shape [4] of "
                      "F32 needs 4 × 4 = 16");
    expect_header_fail(&f, "offsets backwards",
                       "{\"a\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[8,4]}}", 8,
                       "tensor 'a': data_offsets [8, 4] end before they begin");
    expect_header_fail(&f, "one offset",
                       "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4]}}", 4,
                       "tensor 'a': 'data_offsets' must be [begin, end]");
    expect_header_fail(&f, "offsets beyond the file",
                       "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[1000,1004]}}", 4,
                       "file is truncated: tensor 'a' is at bytes [1000, 1004) of the data");

    /* -- names, shapes and dtypes against the model -- */
    {
        tensor_spec specs[n_valid];
        int n = 0;
        for (int i = 0; i < n_valid; i++)
            if (i != 1 && i != 7 && i != 8) specs[n++] = valid_tensors[i];
        write_specs(in_folder("broken.safetensors"), specs, n, 0, NULL);
        expect_failure(&f, "missing", in_folder("broken.safetensors"), CR_ERR_INVALID,
                       "broken.safetensors: missing tensor 'c1.bias' (and 2 more: 'fc.weight', "
                       "'fc.bias')");
    }
    expect_specs_fail(&f, "renamed layer", 7, (tensor_spec){"fc9.weight", NULL, NULL, 0}, 0, NULL,
                      "unexpected tensor 'fc9.weight' — the model has no layer 'fc9'; did you "
                      "mean 'fc.weight'? Missing from the file: 'fc.weight'");
    expect_specs_fail(&f, "a tensor the layer lacks", n_valid,
                      (tensor_spec){"c1.scale", "F32", "2", 8}, 0, NULL,
                      "unexpected tensor 'c1.scale' — layer 'c1' (conv) has no 'scale'");
    {
        fixture no_bias;
        const char *yaml = "name: broken\ninput: [1, 2, 2]\nlayers:\n"
                           "  - {type: conv, name: c1, filters: 2, kernel: 1, bias: false}\n"
                           "  - {type: batchnorm, name: bn}\n"
                           "  - {type: dense, name: fc, units: 3}\n";
        if (build(&no_bias, yaml, 1, 1)) {
            write_specs(in_folder("broken.safetensors"), valid_tensors, n_valid, 0, NULL);
            expect_failure(&no_bias, "bias: false", in_folder("broken.safetensors"), CR_ERR_INVALID,
                           "unexpected tensor 'c1.bias' — layer 'c1' (conv) has no 'bias' (the "
                           "model gives it bias: false)");
            fixture_free(&no_bias);
        }
    }
    {
        const tensor_spec foreign[] = {{"features.0.weight", "F32", "2", 8},
                                       {"features.0.bias", "F32", "2", 8}};
        write_specs(in_folder("broken.safetensors"), foreign, 2, 0, NULL);
        expect_failure(&f, "another model", in_folder("broken.safetensors"), CR_ERR_INVALID,
                       "none of the file's 2 tensors belongs to this model: is it the weights of "
                       "another model? The file has 'features.0.weight', 'features.0.bias'; the "
                       "model needs 'c1.weight', 'c1.bias', 'bn.weight' and 5 more");
    }
    expect_specs_fail(&f, "wrong channels", 0, (tensor_spec){"c1.weight", NULL, "2, 3, 1, 1", 24},
                      0, NULL,
                      "tensor 'c1.weight': expected shape [2, 1, 1, 1], found [2, 3, 1, 1] (conv "
                      "layout [filters, channels/groups, kernel height, kernel width])");
    expect_specs_fail(&f, "transposed dense", 7, (tensor_spec){"fc.weight", NULL, "8, 3", 0}, 0,
                      NULL,
                      "tensor 'fc.weight': expected shape [3, 8], found [8, 3]: the transpose");
    expect_specs_fail(&f, "integer weights", 8, (tensor_spec){"fc.bias", "I32", NULL, 0}, 0, NULL,
                      "tensor 'fc.bias' has dtype I32; weights must be floating point: F32 (F16, "
                      "BF16 and F64 are converted)");
    expect_specs_fail(&f, "counter as float", 6,
                      (tensor_spec){"bn.num_batches_tracked", "F32", "", 4}, 0, NULL,
                      "tensor 'bn.num_batches_tracked': expected an I64 scalar (PyTorch's "
                      "batchnorm batch counter), found F32 []");
    {
        /* A float64 beyond float32's range in the last tensor: everything
         * before it was read already, and must not reach the network. */
        tensor_spec specs[n_valid];
        memcpy(specs, valid_tensors, sizeof specs);
        specs[8] = (tensor_spec){"fc.bias", "F64", "3", 24};
        unsigned char data[176];
        for (int i = 0; i < 152; i++) data[i] = (unsigned char[]){0, 0, 0x80, 0x3e}[i % 4];
        double values[3] = {1, 1e300, 2};
        memcpy(data + 152, values, sizeof values); /* little-endian host */
        write_specs(in_folder("broken.safetensors"), specs, n_valid, 0, data);
        expect_failure(&f, "float64 overflow", in_folder("broken.safetensors"), CR_ERR_INVALID,
                       "tensor 'fc.bias': element 1 is 1e+300, beyond float32's range");
    }
    unlink(in_folder("broken.safetensors"));
    unlink(path);
    fixture_free(&f);
}

int main(void) {
    if (scratch_folder_make("safetensors")) return 1;
    test_round_trip();
    test_known_bytes();
    test_atomic_write();
    test_broken_files();
    unlink(in_folder("rt.safetensors"));
    unlink(in_folder("tiny.safetensors"));
    unlink(in_folder("half.safetensors"));
    rmdir(folder);
    return check_report();
}
