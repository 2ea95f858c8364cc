/* Data sets: tiny IDX (plain and gzip), CIFAR-10 and image-folder sets are
 * written here with patterns whose every pixel and label is predictable,
 * loaded, and compared exactly; every bad-data error is provoked and its
 * message and file name checked; then splitting, batches (normalisation,
 * crop, flip), single images and the --data forms. Real Fashion-MNIST is
 * loaded when it is installed. */
#include <dirent.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <stb/stb_image_write.h>
#include <zlib.h>

#include "check.h"
#include "scratch_folder.h"
#include "data.h"

static void make_folder(const char *path) {
    if (mkdir(path, 0700) != 0) {
        perror(path);
        CHECK(!"mkdir");
    }
}

static void write_file(const char *path, const void *bytes, size_t size, bool gzip) {
    if (gzip) {
        gzFile file = gzopen(path, "wb");
        CHECK(file != NULL);
        if (!file) return;
        CHECK_INT(gzwrite(file, bytes, (unsigned)size), (long long)size);
        gzclose(file);
    } else {
        FILE *file = fopen(path, "wb");
        CHECK(file != NULL);
        if (!file) return;
        CHECK_INT(fwrite(bytes, 1, size, file), (long long)size);
        fclose(file);
    }
}

static void remove_tree(const char *path) {
    struct stat info;
    if (lstat(path, &info) != 0) return;
    if (S_ISDIR(info.st_mode)) {
        DIR *dir = opendir(path);
        struct dirent *entry;
        while (dir && (entry = readdir(dir))) {
            if (!strcmp(entry->d_name, ".") || !strcmp(entry->d_name, "..")) continue;
            char child[1024];
            snprintf(child, sizeof child, "%s/%s", path, entry->d_name);
            remove_tree(child);
        }
        if (dir) closedir(dir);
        rmdir(path);
    } else {
        unlink(path);
    }
}

/* The formatted error must contain `message` and name `file`. */
static void check_error(int rc, const cr_error *err, const char *message, const char *file) {
    CHECK(rc != 0);
    if (!rc) return;
    char text[2048];
    cr_error_format(err, text, sizeof text);
    CHECK_CONTAINS(text, message);
    if (getenv("SHOW_ERRORS")) printf("  %s\n", text);
    CHECK_CONTAINS(err->file, file);
    CHECK_CONTAINS(text, file);
}

/* ---- IDX ----------------------------------------------------------------------------- */

static uint8_t idx_pixel(int image, int y, int x) {
    return (uint8_t)((image * 37 + y * 5 + x * 11 + 1) % 256);
}

static void put_u32(uint8_t *out, uint32_t value) {
    out[0] = (uint8_t)(value >> 24);
    out[1] = (uint8_t)(value >> 16);
    out[2] = (uint8_t)(value >> 8);
    out[3] = (uint8_t)value;
}

/* An IDX image file of `count` rows×cols images; `keep` bytes of it (all
 * when negative) are written, `extra` zero bytes appended. */
static void write_idx_images(const char *path, int count, int rows, int cols, bool gzip, long keep,
                             int extra) {
    size_t size = 16 + (size_t)count * rows * cols + (size_t)extra;
    uint8_t *bytes = calloc(size, 1);
    put_u32(bytes, 0x803);
    put_u32(bytes + 4, (uint32_t)count);
    put_u32(bytes + 8, (uint32_t)rows);
    put_u32(bytes + 12, (uint32_t)cols);
    for (int i = 0; i < count; i++)
        for (int y = 0; y < rows; y++)
            for (int x = 0; x < cols; x++)
                bytes[16 + ((size_t)i * rows + y) * cols + x] = idx_pixel(i, y, x);
    write_file(path, bytes, keep >= 0 ? (size_t)keep : size, gzip);
    free(bytes);
}

static void write_idx_labels(const char *path, int count, const uint8_t *labels, bool gzip) {
    uint8_t *bytes = malloc(8 + (size_t)count);
    put_u32(bytes, 0x801);
    put_u32(bytes + 4, (uint32_t)count);
    memcpy(bytes + 8, labels, (size_t)count);
    write_file(path, bytes, 8 + (size_t)count, gzip);
    free(bytes);
}

static const uint8_t train_labels[6] = {3, 1, 4, 1, 5, 9};
static const uint8_t test_labels[3] = {2, 7, 1};

/* mnist/: training files plain, test files gzip-compressed. */
static void write_mnist(const char *dir) {
    make_folder(dir);
    char path[600];
    snprintf(path, sizeof path, "%s/train-images-idx3-ubyte", dir);
    write_idx_images(path, 6, 3, 4, false, -1, 0);
    snprintf(path, sizeof path, "%s/train-labels-idx1-ubyte", dir);
    write_idx_labels(path, 6, train_labels, false);
    snprintf(path, sizeof path, "%s/t10k-images-idx3-ubyte.gz", dir);
    write_idx_images(path, 3, 3, 4, true, -1, 0);
    snprintf(path, sizeof path, "%s/t10k-labels-idx1-ubyte.gz", dir);
    write_idx_labels(path, 3, test_labels, true);
}

static cr_data_source mnist_source(const char *dir) {
    cr_data_source source = {.format = CR_DATA_MNIST};
    snprintf(source.dir, sizeof source.dir, "%s", dir);
    return source;
}

static void test_idx(void) {
    const char *dir = in_folder("mnist");
    write_mnist(dir);
    cr_data_source source = mnist_source(dir);
    cr_dataset data;
    cr_error err;

    CHECK_INT(cr_data_load(&source, false, (cr_shape){1, 3, 4}, &data, &err), 0);
    CHECK_INT(data.count, 6);
    CHECK_INT(data.channels, 1);
    CHECK_INT(data.height, 3);
    CHECK_INT(data.width, 4);
    int wrong = 0;
    for (int i = 0; i < 6; i++)
        for (int y = 0; y < 3; y++)
            for (int x = 0; x < 4; x++)
                wrong += data.pixels[i * 12 + y * 4 + x] != idx_pixel(i, y, x);
    CHECK_INT(wrong, 0);
    CHECK_INT(data.pixels[12 + 4 + 2], 37 + 5 + 22 + 1); /* image 1, row 1, column 2 */
    for (int i = 0; i < 6; i++) CHECK_INT(data.labels[i], train_labels[i]);
    CHECK_INT(data.classes, 10); /* the largest label is 9 */
    CHECK(data.class_names == NULL);
    CHECK_CONTAINS(data.source, "train-images-idx3-ubyte");
    cr_dataset_free(&data);

    /* The gzip-compressed test files. */
    CHECK_INT(cr_data_load(&source, true, (cr_shape){1, 3, 4}, &data, &err), 0);
    CHECK_INT(data.count, 3);
    wrong = 0;
    for (int i = 0; i < 3; i++)
        for (int p = 0; p < 12; p++) wrong += data.pixels[i * 12 + p] != idx_pixel(i, p / 4, p % 4);
    CHECK_INT(wrong, 0);
    for (int i = 0; i < 3; i++) CHECK_INT(data.labels[i], test_labels[i]);
    CHECK_INT(data.classes, 8);
    CHECK_CONTAINS(data.source, "t10k-images-idx3-ubyte.gz");
    cr_dataset_free(&data);

    /* An RGB model: each grey plane is copied into R, G and B. */
    CHECK_INT(cr_data_load(&source, false, (cr_shape){3, 3, 4}, &data, &err), 0);
    CHECK_INT(data.channels, 3);
    wrong = 0;
    for (int i = 0; i < 6; i++)
        for (int c = 0; c < 3; c++)
            for (int p = 0; p < 12; p++)
                wrong += data.pixels[(i * 3 + c) * 12 + p] != idx_pixel(i, p / 4, p % 4);
    CHECK_INT(wrong, 0);
    cr_dataset_free(&data);

    /* Fashion-MNIST's names: always ten classes, even though this test set's
     * largest label is 7. */
    source.fashion_names = true;
    CHECK_INT(cr_data_load(&source, true, (cr_shape){1, 3, 4}, &data, &err), 0);
    CHECK_INT(data.classes, 10);
    CHECK(data.class_names != NULL);
    if (data.class_names) {
        CHECK(!strcmp(data.class_names[0], "T-shirt/top"));
        CHECK(!strcmp(data.class_names[7], "Sneaker"));
        CHECK(!strcmp(data.class_names[9], "Ankle boot"));
    }
    cr_dataset_free(&data);
}

static void test_idx_errors(void) {
    cr_dataset data;
    cr_error err;
    cr_shape want = {1, 3, 4};
    char path[600];
    int rc;

    cr_data_source source = mnist_source(in_folder("no_such_folder"));
    rc = cr_data_load(&source, false, want, &data, &err);
    check_error(rc, &err, "data folder does not exist", "no_such_folder");
    CHECK_INT(err.kind, CR_ERR_IO);

    /* Images but no labels. */
    const char *dir = in_folder("idx_missing");
    make_folder(dir);
    snprintf(path, sizeof path, "%s/train-images-idx3-ubyte.gz", dir);
    write_idx_images(path, 6, 3, 4, true, -1, 0);
    source = mnist_source(dir);
    rc = cr_data_load(&source, false, want, &data, &err);
    check_error(rc, &err, "missing: neither train-labels-idx1-ubyte.gz nor train-labels-idx1-ubyte",
                "train-labels-idx1-ubyte");
    CHECK_INT(err.kind, CR_ERR_IO);

    /* A label file where the images should be. */
    dir = in_folder("idx_magic");
    make_folder(dir);
    snprintf(path, sizeof path, "%s/train-images-idx3-ubyte", dir);
    write_idx_labels(path, 6, train_labels, false);
    source = mnist_source(dir);
    rc = cr_data_load(&source, false, want, &data, &err);
    check_error(
        rc, &err,
        "wrong magic number 0x00000801 (an IDX label file), expected 0x00000803 (IDX images",
        "train-images-idx3-ubyte");
    CHECK_INT(err.kind, CR_ERR_INVALID);

    /* Truncated pixels (plain and gzip) and a truncated header. */
    for (int gzip = 0; gzip < 2; gzip++) {
        dir = in_folder("idx_truncated_%d", gzip);
        make_folder(dir);
        snprintf(path, sizeof path, "%s/train-images-idx3-ubyte%s", dir, gzip ? ".gz" : "");
        write_idx_images(path, 6, 3, 4, gzip, 50, 0);
        source = mnist_source(dir);
        rc = cr_data_load(&source, false, want, &data, &err);
        check_error(rc, &err,
                    "truncated: expected 88 bytes (16-byte header + 6 images of 3×4), found 50",
                    gzip ? "train-images-idx3-ubyte.gz" : "train-images-idx3-ubyte");
    }
    dir = in_folder("idx_short_header");
    make_folder(dir);
    snprintf(path, sizeof path, "%s/train-images-idx3-ubyte", dir);
    write_idx_images(path, 6, 3, 4, false, 10, 0);
    source = mnist_source(dir);
    rc = cr_data_load(&source, false, want, &data, &err);
    check_error(rc, &err, "truncated: expected at least 16 bytes (the IDX header), found 10",
                "train-images-idx3-ubyte");

    /* A gzip stream cut off in the middle. */
    dir = in_folder("idx_cut_gzip");
    make_folder(dir);
    snprintf(path, sizeof path, "%s/train-images-idx3-ubyte.gz", dir);
    write_idx_images(path, 200, 3, 4, true, -1, 0);
    FILE *file = fopen(path, "rb");
    uint8_t compressed[4096];
    size_t compressed_size = fread(compressed, 1, sizeof compressed, file);
    fclose(file);
    write_file(path, compressed, compressed_size / 2, false);
    source = mnist_source(dir);
    rc = cr_data_load(&source, false, want, &data, &err);
    check_error(rc, &err, "truncated: expected 2416 bytes", "train-images-idx3-ubyte.gz");
    CHECK_CONTAINS(err.message, "; gzip: unexpected end of file");
    /* ... and one with a damaged middle: zlib's own complaint. */
    for (size_t i = compressed_size / 3; i < compressed_size / 2; i++) compressed[i] ^= 0x5a;
    write_file(path, compressed, compressed_size, false);
    rc = cr_data_load(&source, false, want, &data, &err);
    check_error(rc, &err, "cannot decompress: ", "train-images-idx3-ubyte.gz");

    /* More bytes than the header announces. */
    dir = in_folder("idx_long");
    make_folder(dir);
    snprintf(path, sizeof path, "%s/train-images-idx3-ubyte", dir);
    write_idx_images(path, 6, 3, 4, false, -1, 5);
    source = mnist_source(dir);
    rc = cr_data_load(&source, false, want, &data, &err);
    check_error(rc, &err, "longer than its header says: expected 88 bytes", "train-images");

    /* 6 images, 5 labels; then 6 labels announced but 4 present. */
    dir = in_folder("idx_count");
    make_folder(dir);
    snprintf(path, sizeof path, "%s/train-images-idx3-ubyte", dir);
    write_idx_images(path, 6, 3, 4, false, -1, 0);
    snprintf(path, sizeof path, "%s/train-labels-idx1-ubyte", dir);
    write_idx_labels(path, 5, train_labels, false);
    source = mnist_source(dir);
    rc = cr_data_load(&source, false, want, &data, &err);
    check_error(rc, &err, "5 labels, but", "train-labels-idx1-ubyte");
    CHECK_CONTAINS(err.message, "train-images-idx3-ubyte has 6 images");
    uint8_t short_labels[12];
    put_u32(short_labels, 0x801);
    put_u32(short_labels + 4, 6);
    memcpy(short_labels + 8, train_labels, 4);
    write_file(path, short_labels, sizeof short_labels, false);
    rc = cr_data_load(&source, false, want, &data, &err);
    check_error(rc, &err, "truncated: expected 14 bytes (8-byte header + 6 labels), found 12",
                "train-labels-idx1-ubyte");

    /* The model's input size and channel count. */
    source = mnist_source(in_folder("mnist"));
    rc = cr_data_load(&source, false, (cr_shape){1, 28, 28}, &data, &err);
    check_error(rc, &err,
                "3×4 images but the model's input is 28×28; resize the data or change the model's "
                "input",
                "train-images-idx3-ubyte");
    rc = cr_data_load(&source, false, (cr_shape){2, 3, 4}, &data, &err);
    check_error(rc, &err, "the model's input has 2 channels", "mnist");

    /* Fashion-MNIST has ten classes: label 12 cannot be one of them. */
    dir = in_folder("idx_fashion_label");
    make_folder(dir);
    snprintf(path, sizeof path, "%s/train-images-idx3-ubyte", dir);
    write_idx_images(path, 3, 3, 4, false, -1, 0);
    snprintf(path, sizeof path, "%s/train-labels-idx1-ubyte", dir);
    write_idx_labels(path, 3, (const uint8_t[]){1, 12, 2}, false);
    source = mnist_source(dir);
    CHECK_INT(cr_data_load(&source, false, want, &data, &err), 0);
    CHECK_INT(data.classes, 13); /* plain mnist format: largest label + 1 */
    cr_dataset_free(&data);
    source.fashion_names = true;
    rc = cr_data_load(&source, false, want, &data, &err);
    check_error(rc, &err, "label 12 at index 1, but Fashion-MNIST has 10 classes",
                "train-labels-idx1-ubyte");
    CHECK(data.pixels == NULL && data.count == 0); /* nothing half-loaded */
}

/* ---- CIFAR-10 ------------------------------------------------------------------------ */

enum { cifar_plane = 32 * 32, cifar_record = 1 + 3 * cifar_plane };

static uint8_t cifar_pixel(int image, int channel, int p) {
    return (uint8_t)((image * 13 + channel * 71 + (p / 32) * 7 + (p % 32) * 3) % 256);
}

static int cifar_label(int image) {
    return (image * 3) % 10;
}

/* Records first..first+count-1 of the pattern; label_override >= 0 replaces
 * the label of the second record. */
static void write_cifar_batch(const char *path, int first, int count, int label_override) {
    uint8_t *bytes = malloc((size_t)count * cifar_record);
    for (int r = 0; r < count; r++) {
        uint8_t *record = bytes + (size_t)r * cifar_record;
        record[0] = (uint8_t)cifar_label(first + r);
        if (r == 1 && label_override >= 0) record[0] = (uint8_t)label_override;
        for (int c = 0; c < 3; c++)
            for (int p = 0; p < cifar_plane; p++)
                record[1 + c * cifar_plane + p] = cifar_pixel(first + r, c, p);
    }
    write_file(path, bytes, (size_t)count * cifar_record, false);
    free(bytes);
}

static const int cifar_batch_sizes[5] = {2, 1, 3, 1, 2};

static void write_cifar(const char *dir) {
    make_folder(dir);
    char path[600];
    int first = 0;
    for (int b = 0; b < 5; b++) {
        snprintf(path, sizeof path, "%s/data_batch_%d.bin", dir, b + 1);
        write_cifar_batch(path, first, cifar_batch_sizes[b], -1);
        first += cifar_batch_sizes[b];
    }
    snprintf(path, sizeof path, "%s/test_batch.bin", dir);
    write_cifar_batch(path, 100, 4, -1);
}

static cr_data_source cifar_source(const char *dir) {
    cr_data_source source = {.format = CR_DATA_CIFAR10};
    snprintf(source.dir, sizeof source.dir, "%s", dir);
    return source;
}

static int luma_expected(int red, int green, int blue) {
    return (299 * red + 587 * green + 114 * blue + 500) / 1000;
}

static void test_cifar(void) {
    const char *dir = in_folder("cifar");
    write_cifar(dir);
    char path[600];
    snprintf(path, sizeof path, "%s/batches.meta.txt", dir);
    write_text(path, "airplane\nautomobile\nbird\ncat\ndeer\ndog\nfrog\nhorse\nship\ntruck\n\n");
    cr_data_source source = cifar_source(dir);
    cr_dataset data;
    cr_error err;

    CHECK_INT(cr_data_load(&source, false, (cr_shape){3, 32, 32}, &data, &err), 0);
    CHECK_INT(data.count, 9);
    CHECK_INT(data.channels, 3);
    CHECK_INT(data.height, 32);
    CHECK_INT(data.width, 32);
    CHECK_INT(data.classes, 10);
    int wrong = 0;
    for (int i = 0; i < data.count; i++) {
        wrong += data.labels[i] != cifar_label(i);
        for (int c = 0; c < 3; c++)
            for (int p = 0; p < cifar_plane; p++)
                wrong += data.pixels[((size_t)i * 3 + c) * cifar_plane + p] != cifar_pixel(i, c, p);
    }
    CHECK_INT(wrong, 0);
    CHECK_INT(data.labels[8], 4); /* 8·3 mod 10, from data_batch_5.bin */
    /* Image 7, green, row 2, column 5: 7·13 + 71 + 14 + 15 = 191. */
    CHECK_INT(data.pixels[(7 * 3 + 1) * cifar_plane + 2 * 32 + 5], 191);
    CHECK(data.class_names != NULL);
    if (data.class_names) {
        CHECK(!strcmp(data.class_names[0], "airplane"));
        CHECK(!strcmp(data.class_names[9], "truck"));
    }
    cr_dataset_free(&data);

    CHECK_INT(cr_data_load(&source, true, (cr_shape){3, 32, 32}, &data, &err), 0);
    CHECK_INT(data.count, 4);
    CHECK_INT(data.labels[3], cifar_label(103));
    CHECK_INT(data.pixels[(3 * 3 + 2) * cifar_plane + 40], cifar_pixel(103, 2, 40));
    cr_dataset_free(&data);

    /* A grey model: luma 0.299 R + 0.587 G + 0.114 B, rounded. */
    CHECK_INT(cr_data_load(&source, true, (cr_shape){1, 32, 32}, &data, &err), 0);
    CHECK_INT(data.channels, 1);
    wrong = 0;
    for (int i = 0; i < 4; i++)
        for (int p = 0; p < cifar_plane; p++)
            wrong += data.pixels[(size_t)i * cifar_plane + p] !=
                     luma_expected(cifar_pixel(100 + i, 0, p), cifar_pixel(100 + i, 1, p),
                                   cifar_pixel(100 + i, 2, p));
    CHECK_INT(wrong, 0);
    /* Image 100, pixel 0: R 1300 mod 256 = 20, G 91, B 162 -> 5.98 + 53.417 + 18.468 = 77.865. */
    CHECK_INT(data.pixels[0], 78);
    cr_dataset_free(&data);

    /* Without batches.meta.txt the classes have no names. */
    remove(path);
    CHECK_INT(cr_data_load(&source, true, (cr_shape){3, 32, 32}, &data, &err), 0);
    CHECK(data.class_names == NULL);
    cr_dataset_free(&data);
}

static void test_cifar_errors(void) {
    cr_dataset data;
    cr_error err;
    cr_shape want = {3, 32, 32};
    char path[600];
    int rc;

    const char *dir = in_folder("cifar_missing");
    write_cifar(dir);
    snprintf(path, sizeof path, "%s/data_batch_3.bin", dir);
    remove(path);
    cr_data_source source = cifar_source(dir);
    rc = cr_data_load(&source, false, want, &data, &err);
    check_error(rc, &err, "missing", "data_batch_3.bin");
    CHECK_INT(err.kind, CR_ERR_IO);

    rc = cr_data_load(&(cr_data_source){.format = CR_DATA_CIFAR10, .dir = "/no/such/cifar"}, true,
                      want, &data, &err);
    check_error(rc, &err, "data folder does not exist", "/no/such/cifar");

    /* One record and 100 stray bytes. */
    dir = in_folder("cifar_size");
    write_cifar(dir);
    snprintf(path, sizeof path, "%s/data_batch_2.bin", dir);
    uint8_t *bytes = calloc(cifar_record + 100, 1);
    write_file(path, bytes, cifar_record + 100, false);
    source = cifar_source(dir);
    rc = cr_data_load(&source, false, want, &data, &err);
    check_error(rc, &err, "size 3173 bytes is not a multiple of 3073", "data_batch_2.bin");
    write_file(path, bytes, 0, false);
    rc = cr_data_load(&source, false, want, &data, &err);
    check_error(rc, &err, "empty", "data_batch_2.bin");
    free(bytes);

    /* Label 10 in the second record of the test batch. */
    dir = in_folder("cifar_label");
    write_cifar(dir);
    snprintf(path, sizeof path, "%s/test_batch.bin", dir);
    write_cifar_batch(path, 0, 3, 10);
    source = cifar_source(dir);
    rc = cr_data_load(&source, true, want, &data, &err);
    check_error(rc, &err, "label 10 in image 1 (byte 3073); CIFAR-10 labels are 0 to 9",
                "test_batch.bin");

    /* A names file with three names. */
    dir = in_folder("cifar_meta");
    write_cifar(dir);
    snprintf(path, sizeof path, "%s/batches.meta.txt", dir);
    write_text(path, "cat\ndog\n\nbird\n");
    source = cifar_source(dir);
    rc = cr_data_load(&source, true, want, &data, &err);
    check_error(rc, &err, "3 class names, expected 10 for CIFAR-10", "batches.meta.txt");

    source = cifar_source(in_folder("cifar"));
    rc = cr_data_load(&source, false, (cr_shape){3, 28, 28}, &data, &err);
    check_error(rc, &err, "32×32 images but the model's input is 28×28", "data_batch_1.bin");
}

/* ---- image folders ------------------------------------------------------------------- */

/* 4×4 RGB: the first five pixels are colours with hand-computed luma. */
static void rgb_pattern(uint8_t *rgb) {
    static const uint8_t hand[5][3] = {
        {255, 0, 0}, {0, 255, 0}, {0, 0, 255}, {255, 255, 255}, {10, 20, 30}};
    for (int p = 0; p < 16; p++)
        for (int c = 0; c < 3; c++)
            rgb[p * 3 + c] = p < 5 ? hand[p][c] : (uint8_t)(p * 15 + c * 40 + 3);
}

static void grey_pattern(uint8_t *grey, int start) {
    for (int p = 0; p < 16; p++) grey[p] = (uint8_t)(start + p * 9);
}

/* train/ {bird, cat, dog} and test/ {bird, cat, dog}; hidden entries and a
 * loose file that must all be ignored. */
static void write_image_folders(void) {
    make_folder(in_folder("images"));
    make_folder(in_folder("images/train"));
    make_folder(in_folder("images/train/bird"));
    make_folder(in_folder("images/train/cat"));
    make_folder(in_folder("images/train/dog"));
    make_folder(in_folder("images/train/.git"));
    write_text(in_folder("images/train/.git/HEAD"), "not an image");
    write_text(in_folder("images/train/README.txt"), "not a class");

    uint8_t grey_big[8 * 6];
    memset(grey_big, 77, sizeof grey_big);
    CHECK(stbi_write_png(in_folder("images/train/bird/big.png"), 8, 6, 1, grey_big, 8));
    uint8_t orange[8 * 8 * 3];
    for (int p = 0; p < 64; p++) {
        orange[p * 3] = 200;
        orange[p * 3 + 1] = 100;
        orange[p * 3 + 2] = 50;
    }
    CHECK(stbi_write_jpg(in_folder("images/train/bird/m.jpg"), 8, 8, 3, orange, 95));
    uint8_t rgba[16 * 4];
    for (int p = 0; p < 16; p++)
        for (int c = 0; c < 4; c++) rgba[p * 4 + c] = (uint8_t)(p * 10 + c * 50);
    CHECK(stbi_write_png(in_folder("images/train/bird/z.png"), 4, 4, 4, rgba, 16));

    uint8_t rgb[16 * 3];
    rgb_pattern(rgb);
    CHECK(stbi_write_bmp(in_folder("images/train/cat/a.bmp"), 4, 4, 3, rgb));
    uint8_t grey[16];
    grey_pattern(grey, 5);
    CHECK(stbi_write_png(in_folder("images/train/cat/dog_1.png"), 4, 4, 1, grey, 4));
    write_text(in_folder("images/train/cat/.hidden.png"), "garbage that is not decoded");

    uint8_t grey_alpha[16 * 2];
    for (int p = 0; p < 16; p++) {
        grey_alpha[p * 2] = (uint8_t)(200 - p * 3);
        grey_alpha[p * 2 + 1] = (uint8_t)(p * 16);
    }
    CHECK(stbi_write_png(in_folder("images/train/dog/x.png"), 4, 4, 2, grey_alpha, 8));

    make_folder(in_folder("images/test"));
    const char *classes[3] = {"bird", "cat", "dog"};
    for (int k = 0; k < 3; k++) {
        make_folder(in_folder("images/test/%s", classes[k]));
        grey_pattern(grey, 100 + k);
        CHECK(stbi_write_png(in_folder("images/test/%s/only.png", classes[k]), 4, 4, 1, grey, 4));
    }
}

static cr_data_source folder_source(const char *train, const char *test) {
    cr_data_source source = {.format = CR_DATA_FOLDER};
    snprintf(source.train_dir, sizeof source.train_dir, "%s", train);
    snprintf(source.test_dir, sizeof source.test_dir, "%s", test);
    return source;
}

static void test_folder(void) {
    write_image_folders();
    cr_data_source source = folder_source(in_folder("images/train"), in_folder("images/test"));
    cr_dataset data;
    cr_error err;

    int rc = cr_data_load(&source, false, (cr_shape){3, 4, 4}, &data, &err);
    CHECK_INT(rc, 0);
    if (rc) {
        fprintf(stderr, "%s: %s\n", err.file, err.message);
        return;
    }
    CHECK_INT(data.count, 6);
    CHECK_INT(data.classes, 3);
    CHECK(!strcmp(data.class_names[0], "bird"));
    CHECK(!strcmp(data.class_names[1], "cat"));
    CHECK(!strcmp(data.class_names[2], "dog"));
    /* Sorted: bird/big.png, bird/m.jpg, bird/z.png, cat/a.bmp, cat/dog_1.png,
     * dog/x.png. The label of cat/dog_1.png is cat's, whatever its name says. */
    static const int expected_labels[6] = {0, 0, 0, 1, 1, 2};
    for (int i = 0; i < 6; i++) CHECK_INT(data.labels[i], expected_labels[i]);
    const int image = 3 * 16;
    int wrong = 0;
    /* big.png: 8×6 uniform grey 77, resized to 4×4 and replicated to RGB. */
    for (int p = 0; p < image; p++) wrong += data.pixels[p] != 77;
    CHECK_INT(wrong, 0);
    /* m.jpg: lossy, so near (200, 100, 50). */
    static const int orange_rgb[3] = {200, 100, 50};
    for (int c = 0; c < 3; c++)
        for (int p = 0; p < 16; p++)
            CHECK(abs(data.pixels[image + c * 16 + p] - orange_rgb[c]) <= 3);
    /* z.png: RGBA with the alpha dropped, exact. */
    wrong = 0;
    for (int c = 0; c < 3; c++)
        for (int p = 0; p < 16; p++)
            wrong += data.pixels[2 * image + c * 16 + p] != p * 10 + c * 50;
    CHECK_INT(wrong, 0);
    /* a.bmp: RGB, interleaved in the file, planar in memory. */
    uint8_t rgb[16 * 3];
    rgb_pattern(rgb);
    wrong = 0;
    for (int c = 0; c < 3; c++)
        for (int p = 0; p < 16; p++) wrong += data.pixels[3 * image + c * 16 + p] != rgb[p * 3 + c];
    CHECK_INT(wrong, 0);
    CHECK_INT(data.pixels[3 * image + 16 + 5], 5 * 15 + 40 + 3); /* green of pixel 5 */
    /* dog_1.png: grey copied to R, G and B. */
    uint8_t grey[16];
    grey_pattern(grey, 5);
    wrong = 0;
    for (int c = 0; c < 3; c++)
        for (int p = 0; p < 16; p++) wrong += data.pixels[4 * image + c * 16 + p] != grey[p];
    CHECK_INT(wrong, 0);
    /* x.png: grey + alpha, the alpha dropped. */
    wrong = 0;
    for (int c = 0; c < 3; c++)
        for (int p = 0; p < 16; p++) wrong += data.pixels[5 * image + c * 16 + p] != 200 - p * 3;
    CHECK_INT(wrong, 0);
    CHECK_CONTAINS(data.source, "images/train");
    cr_dataset_free(&data);

    /* A grey model: RGB images by luma. */
    CHECK_INT(cr_data_load(&source, false, (cr_shape){1, 4, 4}, &data, &err), 0);
    const uint8_t *bmp = data.pixels + 3 * 16;
    CHECK_INT(bmp[0], 76);  /* red: 76.245 */
    CHECK_INT(bmp[1], 150); /* green: 149.685 */
    CHECK_INT(bmp[2], 29);  /* blue: 29.07 */
    CHECK_INT(bmp[3], 255); /* white */
    CHECK_INT(bmp[4], 18);  /* (10, 20, 30): 18.15 */
    wrong = 0;
    for (int p = 0; p < 16; p++)
        wrong += bmp[p] != luma_expected(rgb[p * 3], rgb[p * 3 + 1], rgb[p * 3 + 2]);
    CHECK_INT(wrong, 0);
    CHECK_INT(data.pixels[5 * 16 + 7], 200 - 7 * 3); /* grey + alpha: the grey */
    cr_dataset_free(&data);

    /* A larger model input: the 4×4 images are resized up; a uniform
     * image stays uniform. */
    CHECK_INT(cr_data_load(&source, false, (cr_shape){1, 9, 7}, &data, &err), 0);
    CHECK_INT(data.height, 9);
    CHECK_INT(data.width, 7);
    wrong = 0;
    for (int p = 0; p < 63; p++) wrong += data.pixels[p] != 77;
    CHECK_INT(wrong, 0);
    cr_dataset_free(&data);

    CHECK_INT(cr_data_load(&source, true, (cr_shape){1, 4, 4}, &data, &err), 0);
    CHECK_INT(data.count, 3);
    CHECK_INT(data.classes, 3);
    CHECK(!strcmp(data.class_names[2], "dog"));
    for (int k = 0; k < 3; k++) {
        CHECK_INT(data.labels[k], k);
        CHECK_INT(data.pixels[k * 16 + 15], 100 + k + 15 * 9);
    }
    cr_dataset_free(&data);
}

static void test_folder_errors(void) {
    cr_dataset data;
    cr_error err;
    cr_shape want = {1, 4, 4};
    uint8_t grey[16];
    grey_pattern(grey, 0);
    int rc;

    cr_data_source source = folder_source(in_folder("no_images_here"), "");
    rc = cr_data_load(&source, false, want, &data, &err);
    check_error(rc, &err, "data folder does not exist", "no_images_here");

    /* Only loose files, no class folders. */
    make_folder(in_folder("flat"));
    CHECK(stbi_write_png(in_folder("flat/one.png"), 4, 4, 1, grey, 4));
    source = folder_source(in_folder("flat"), "");
    rc = cr_data_load(&source, false, want, &data, &err);
    check_error(rc, &err, "no class folders", "flat");

    /* Class 'b' is empty (a hidden file does not count). */
    make_folder(in_folder("empty_class"));
    make_folder(in_folder("empty_class/a"));
    make_folder(in_folder("empty_class/b"));
    CHECK(stbi_write_png(in_folder("empty_class/a/one.png"), 4, 4, 1, grey, 4));
    write_text(in_folder("empty_class/b/.DS_Store"), "x");
    source = folder_source(in_folder("empty_class"), "");
    rc = cr_data_load(&source, false, want, &data, &err);
    check_error(rc, &err, "class folder 'b' is empty", "empty_class/b");

    /* A file that is not an image, and a 0-byte image. */
    make_folder(in_folder("broken"));
    make_folder(in_folder("broken/a"));
    CHECK(stbi_write_png(in_folder("broken/a/good.png"), 4, 4, 1, grey, 4));
    write_text(in_folder("broken/a/notes.png"), "this is text, not a PNG");
    source = folder_source(in_folder("broken"), "");
    rc = cr_data_load(&source, false, want, &data, &err);
    check_error(rc, &err, "cannot decode image: unknown image type", "broken/a/notes.png");
    remove(in_folder("broken/a/notes.png"));
    write_file(in_folder("broken/a/zero.jpg"), "", 0, false);
    rc = cr_data_load(&source, false, want, &data, &err);
    check_error(rc, &err, "cannot decode image: the file is empty", "broken/a/zero.jpg");
    CHECK_INT(err.kind, CR_ERR_INVALID);

    /* Images one level too deep: which class would they be? */
    make_folder(in_folder("nested"));
    make_folder(in_folder("nested/cat"));
    make_folder(in_folder("nested/cat/persian"));
    CHECK(stbi_write_png(in_folder("nested/cat/persian/one.png"), 4, 4, 1, grey, 4));
    source = folder_source(in_folder("nested"), "");
    rc = cr_data_load(&source, false, want, &data, &err);
    check_error(rc, &err, "a folder inside a class folder", "nested/cat/persian");

    /* A link to nothing is reported, not skipped. */
    CHECK_INT(symlink("/no/such/image.png", in_folder("broken/a/link.png")), 0);
    source = folder_source(in_folder("broken"), "");
    rc = cr_data_load(&source, false, want, &data, &err);
    check_error(rc, &err, "cannot read: No such file", "broken/a/link.png");
    CHECK_INT(err.kind, CR_ERR_IO);
    remove(in_folder("broken/a/link.png"));

    /* Train has bird, cat, dog; this test folder has bird, cat, horse. */
    make_folder(in_folder("other_test"));
    const char *classes[3] = {"bird", "cat", "horse"};
    for (int k = 0; k < 3; k++) {
        make_folder(in_folder("other_test/%s", classes[k]));
        CHECK(stbi_write_png(in_folder("other_test/%s/one.png", classes[k]), 4, 4, 1, grey, 4));
    }
    source = folder_source(in_folder("images/train"), in_folder("other_test"));
    rc = cr_data_load(&source, true, want, &data, &err);
    check_error(rc, &err, "the train and test class lists differ: class folder 'dog' is in",
                "other_test");
    CHECK_CONTAINS(err.message, "images/train but not in");
    rc = cr_data_load(&source, false, want, &data, &err);
    check_error(rc, &err, "the train and test class lists differ", "images/train");

    /* No test folder given. */
    source = folder_source(in_folder("images/train"), "");
    rc = cr_data_load(&source, true, want, &data, &err);
    check_error(rc, &err, "no test folder given", "images/train");
}

/* ---- split --------------------------------------------------------------------------- */

/* 20 grey 2×2 images; every byte of image i is 4i + k, so each image says
 * which one it is, and its label is i mod 3. */
static cr_dataset numbered_dataset(void) {
    cr_dataset data = {.count = 20, .channels = 1, .height = 2, .width = 2, .classes = 3};
    data.pixels = malloc(80);
    data.labels = malloc(20 * sizeof *data.labels);
    for (int i = 0; i < 80; i++) data.pixels[i] = (uint8_t)i;
    for (int i = 0; i < 20; i++) data.labels[i] = i % 3;
    data.class_names = malloc(3 * sizeof *data.class_names);
    data.class_names[0] = strdup("zero");
    data.class_names[1] = strdup("one");
    data.class_names[2] = strdup("two");
    data.source = strdup("numbers");
    return data;
}

/* Checks that each image is intact and returns which originals `part` holds. */
static void originals(const cr_dataset *part, int *out) {
    int previous = -1;
    for (int i = 0; i < part->count; i++) {
        int original = part->pixels[i * 4] / 4;
        out[i] = original;
        for (int k = 0; k < 4; k++) CHECK_INT(part->pixels[i * 4 + k], original * 4 + k);
        CHECK_INT(part->labels[i], original % 3);
        CHECK(original > previous); /* original order kept */
        previous = original;
    }
}

static void test_split(void) {
    cr_error err;
    cr_dataset all = numbered_dataset(), train, validation;
    CHECK_INT(cr_dataset_split(&all, 0.25, 7, &train, &validation, &err), 0);
    CHECK_INT(all.count, 0);
    CHECK(all.pixels == NULL && all.labels == NULL);
    CHECK_INT(train.count, 15);
    CHECK_INT(validation.count, 5);
    int train_ids[20], validation_ids[20], seen[20] = {0};
    originals(&train, train_ids);
    originals(&validation, validation_ids);
    for (int i = 0; i < 15; i++) seen[train_ids[i]]++;
    for (int i = 0; i < 5; i++) seen[validation_ids[i]]++;
    int once = 0;
    for (int i = 0; i < 20; i++) once += seen[i] == 1;
    CHECK_INT(once, 20); /* disjoint, and together every image */
    CHECK_INT(validation.classes, 3);
    CHECK(validation.class_names != train.class_names);
    CHECK(!strcmp(validation.class_names[2], "two") && !strcmp(train.class_names[2], "two"));
    CHECK_CONTAINS(validation.source, "numbers");

    /* The same seed picks the same images; another seed others. */
    cr_dataset again = numbered_dataset(), train2, validation2;
    CHECK_INT(cr_dataset_split(&again, 0.25, 7, &train2, &validation2, &err), 0);
    int ids2[20];
    originals(&validation2, ids2);
    CHECK(!memcmp(ids2, validation_ids, 5 * sizeof *ids2));
    cr_dataset_free(&train2);
    cr_dataset_free(&validation2);
    again = numbered_dataset();
    CHECK_INT(cr_dataset_split(&again, 0.25, 8, &train2, &validation2, &err), 0);
    originals(&validation2, ids2);
    CHECK(memcmp(ids2, validation_ids, 5 * sizeof *ids2) != 0);
    cr_dataset_free(&train2);
    cr_dataset_free(&validation2);
    cr_dataset_free(&train);
    cr_dataset_free(&validation);

    /* Fractions that leave nothing on one side; `all` stays as it was. */
    all = numbered_dataset();
    check_error(cr_dataset_split(&all, 0.0, 1, &train, &validation, &err), &err,
                "validation fraction 0 must be between 0 and 1", "numbers");
    check_error(cr_dataset_split(&all, 1.0, 1, &train, &validation, &err), &err,
                "must be between 0 and 1", "numbers");
    check_error(cr_dataset_split(&all, 0.01, 1, &train, &validation, &err), &err,
                "validation fraction 0.01 of 20 images leaves 0 for validation", "numbers");
    check_error(cr_dataset_split(&all, 0.99, 1, &train, &validation, &err), &err,
                "leaves 20 for validation and 0 for training", "numbers");
    CHECK_INT(all.count, 20);
    CHECK_INT(all.pixels[79], 79);
    cr_dataset_free(&all);
}

/* ---- batches ------------------------------------------------------------------------- */

static void test_batch(void) {
    /* Two RGB 2×3 images; bytes 0 and 255 included for hand-checked values. */
    cr_dataset data = {.count = 2, .channels = 3, .height = 2, .width = 3, .classes = 5};
    uint8_t pixels[36];
    for (int i = 0; i < 36; i++) pixels[i] = (uint8_t)(i * 7);
    pixels[0] = 255; /* image 0, red, (0, 0) */
    pixels[6] = 0;   /* image 0, green, (0, 0) */
    int labels[2] = {4, 2};
    data.pixels = pixels;
    data.labels = labels;
    cr_transform transform = {
        .channels = 3, .mean = {0.5f, 0.25f, 0.1f}, .std = {0.5f, 0.2f, 0.3f}};
    int indices[3] = {1, 0, 1};
    float out[3 * 18], plain[3 * 18];
    int out_labels[3];
    cr_data_batch(&data, indices, 3, &transform, out, out_labels);
    CHECK_INT(out_labels[0], 2);
    CHECK_INT(out_labels[1], 4);
    CHECK_INT(out_labels[2], 2);
    CHECK_NEAR(out[18], 1.0, 1e-6);       /* (255/255 - 0.5) / 0.5 */
    CHECK_NEAR(out[18 + 6], -1.25, 1e-6); /* (0 - 0.25) / 0.2 */
    /* Image 1, blue, (1, 2): byte (18 + 12 + 5)·7 = 245 -> (245/255 - 0.1) / 0.3. */
    CHECK_NEAR(out[17], (245.0 / 255.0 - 0.1) / 0.3, 1e-6);
    for (int i = 0; i < 3; i++)
        for (int c = 0; c < 3; c++)
            for (int p = 0; p < 6; p++)
                CHECK_NEAR(out[i * 18 + c * 6 + p],
                           (pixels[indices[i] * 18 + c * 6 + p] / 255.0 - transform.mean[c]) /
                               transform.std[c],
                           1e-6);

    /* No transform (or a zero one): plain [0, 1]. */
    cr_data_batch(&data, indices, 1, NULL, plain, NULL);
    CHECK_NEAR(plain[17], 245.0 / 255.0, 1e-7);
    cr_transform zero = {0};
    cr_data_batch(&data, indices, 1, &zero, plain, NULL);
    CHECK_NEAR(plain[17], 245.0 / 255.0, 1e-7);
    cr_data_batch(&data, indices, 3, &transform, plain, NULL);

    /* No augment steps: cr_augment_image gives the plain batch's bytes
     * (the loader's path and this one agree), whatever the stream. */
    cr_augment none = {0};
    float through[18], scratch[36];
    uint8_t byte_scratch[18];
    CHECK_INT(cr_augment_image(&none, transform.mean, transform.std, pixels, 3, 2, 3, 2, 3, 42,
                               scratch, byte_scratch, through),
              0);
    CHECK(!memcmp(through, plain + 18, sizeof through)); /* plain[1] is image 0 */

    /* Flips: each image is the plain one or its exact mirror, both happen. */
    enum { copies = 32 };
    float many[copies * 18];
    cr_augment flip = {.count = 1, .steps = {cr_augment_default(CR_AUG_HFLIP)}};
    for (int i = 0; i < copies; i++)
        CHECK_INT(cr_augment_image(&flip, transform.mean, transform.std, pixels, 3, 2, 3, 2, 3,
                                   cr_augment_image_stream(42, 0, i), scratch, byte_scratch,
                                   many + i * 18),
                  0);
    int flipped = 0, unflipped = 0, neither = 0;
    const float *original = plain + 18; /* image 0 */
    for (int i = 0; i < copies; i++) {
        const float *img = many + i * 18;
        bool is_same = !memcmp(img, original, 18 * sizeof *img), is_mirror = true;
        for (int c = 0; c < 3; c++)
            for (int y = 0; y < 2; y++)
                for (int x = 0; x < 3; x++)
                    if (img[c * 6 + y * 3 + x] != original[c * 6 + y * 3 + (2 - x)])
                        is_mirror = false;
        flipped += is_mirror;
        unflipped += is_same;
        neither += !is_same && !is_mirror;
    }
    CHECK(flipped > 0);
    CHECK(unflipped > 0);
    CHECK_INT(neither, 0);
    CHECK_INT(flipped + unflipped, copies);

    /* Crops: a grey 3×4 image of distinct bytes, padding 1; every output is
     * the image shifted by one of the nine (dy, dx), with black padding
     * normalised like any black pixel. */
    uint8_t grey[12];
    for (int p = 0; p < 12; p++) grey[p] = (uint8_t)(10 + p * 20);
    float mean[1] = {0.5f}, std[1] = {0.25f};
    cr_augment crop = {.count = 1, .steps = {cr_augment_default(CR_AUG_PAD_CROP)}};
    crop.steps[0].padding = 1;
    float crops[copies * 12];
    for (int i = 0; i < copies; i++)
        CHECK_INT(cr_augment_image(&crop, mean, std, grey, 1, 3, 4, 3, 4,
                                   cr_augment_image_stream(7, 0, i), scratch, byte_scratch,
                                   crops + i * 12),
                  0);
    int shift_seen[9] = {0}, unmatched = 0;
    for (int i = 0; i < copies; i++) {
        int matches = 0;
        for (int dy = -1; dy <= 1; dy++)
            for (int dx = -1; dx <= 1; dx++) {
                bool equal = true;
                for (int y = 0; y < 3; y++)
                    for (int x = 0; x < 4; x++) {
                        int from_y = y + dy, from_x = x + dx;
                        int byte = from_y >= 0 && from_y < 3 && from_x >= 0 && from_x < 4
                                       ? grey[from_y * 4 + from_x]
                                       : 0;
                        float expected = ((float)byte / 255.0f - 0.5f) / 0.25f;
                        if (crops[i * 12 + y * 4 + x] != expected) equal = false;
                    }
                if (equal) {
                    matches++;
                    shift_seen[(dy + 1) * 3 + dx + 1]++;
                }
            }
        unmatched += matches != 1;
    }
    CHECK_INT(unmatched, 0);
    int shifts = 0;
    for (int s = 0; s < 9; s++) shifts += shift_seen[s] > 0;
    CHECK(shifts >= 5); /* 32 draws from 9 shifts */
    /* Black padding is -2 after normalising: (0 - 0.5) / 0.25. */
    bool padded = false;
    for (int i = 0; i < copies * 12; i++) padded |= crops[i] == -2.0f;
    CHECK(padded);
}

static void test_image_load(void) {
    uint8_t rgb[16 * 3];
    rgb_pattern(rgb);
    const char *path = in_folder("single.png");
    CHECK(stbi_write_png(path, 4, 4, 3, rgb, 12));
    cr_transform transform = {.channels = 3, .mean = {0.5f, 0.5f, 0.5f}, .std = {0.5f, 0.5f, 0.5f}};
    float out[48];
    cr_error err;
    CHECK_INT(cr_image_load(path, (cr_shape){3, 4, 4}, &transform, out, &err), 0);
    CHECK_NEAR(out[0], 1.0, 1e-6);                              /* red of pixel 0 is 255 */
    CHECK_NEAR(out[16], -1.0, 1e-6);                            /* its green is 0 */
    CHECK_NEAR(out[32 + 2], 1.0, 1e-6);                         /* blue of pixel 2 */
    CHECK_NEAR(out[16 + 5], (118.0 / 255.0 - 0.5) / 0.5, 1e-6); /* 5·15 + 40 + 3 */

    float grey[1];
    CHECK_INT(cr_image_load(path, (cr_shape){1, 1, 1}, NULL, grey, &err), 0);
    CHECK(grey[0] >= 0.0f && grey[0] <= 1.0f);

    check_error(cr_image_load(in_folder("absent.png"), (cr_shape){3, 4, 4}, NULL, out, &err), &err,
                "cannot open: No such file or directory", "absent.png");
    /* `predict DIR`: a folder is named as such; a FIFO is refused, not waited on. */
    check_error(cr_image_load(folder, (cr_shape){3, 4, 4}, NULL, out, &err), &err,
                "is a folder, not a file", folder);
    CHECK_INT(mkfifo(in_folder("pipe.png"), 0600), 0);
    check_error(cr_image_load(in_folder("pipe.png"), (cr_shape){3, 4, 4}, NULL, out, &err), &err,
                "is a FIFO (named pipe), not a file", "pipe.png");
    unlink(in_folder("pipe.png"));
    write_text(in_folder("text.png"), "hello");
    check_error(cr_image_load(in_folder("text.png"), (cr_shape){3, 4, 4}, NULL, out, &err), &err,
                "cannot decode image", "text.png");
}

static void test_parse(void) {
    cr_data_source source;
    cr_error err;
    CHECK_INT(cr_data_source_parse("fashion-mnist", &source, &err), 0);
    CHECK_INT(source.format, CR_DATA_MNIST);
    CHECK(source.fashion_names);
    CHECK(!strcmp(source.dir, "/usr/share/datasets/fashion-mnist"));
    CHECK_INT(cr_data_source_parse("fashion-mnist:/data/fm", &source, &err), 0);
    CHECK(source.fashion_names && !strcmp(source.dir, "/data/fm"));
    CHECK_INT(cr_data_source_parse("mnist:/data/mnist", &source, &err), 0);
    CHECK_INT(source.format, CR_DATA_MNIST);
    CHECK(!source.fashion_names && !strcmp(source.dir, "/data/mnist"));
    CHECK_INT(cr_data_source_parse("cifar10:data/cifar-10-batches-bin", &source, &err), 0);
    CHECK_INT(source.format, CR_DATA_CIFAR10);
    CHECK(!strcmp(source.dir, "data/cifar-10-batches-bin"));
    CHECK_INT(cr_data_source_parse("folder:pets/train,pets/test", &source, &err), 0);
    CHECK_INT(source.format, CR_DATA_FOLDER);
    CHECK(!strcmp(source.train_dir, "pets/train") && !strcmp(source.test_dir, "pets/test"));
    CHECK_INT(cr_data_source_parse("folder:pets", &source, &err), 0);
    CHECK(!strcmp(source.train_dir, "pets") && source.test_dir[0] == '\0');

    check_error(cr_data_source_parse("cifar:x", &source, &err), &err,
                "unknown data 'cifar:x' (did you mean 'cifar10'?); expected fashion-mnist", "");
    CHECK_INT(err.kind, CR_ERR_USAGE);
    check_error(cr_data_source_parse("mnist", &source, &err), &err,
                "data 'mnist' needs a folder: mnist:DIR", "");
    check_error(cr_data_source_parse("folder:", &source, &err), &err,
                "needs a folder: folder:TRAIN_DIR,TEST_DIR", "");
    check_error(cr_data_source_parse("folder:,test", &source, &err), &err, "no training folder",
                "");
    check_error(cr_data_source_parse("", &source, &err), &err, "unknown data ''", "");
}

/* ---- the real thing ------------------------------------------------------------------ */

static void test_fashion_mnist(void) {
    const char *dir = "/usr/share/datasets/fashion-mnist";
    struct stat info;
    if (stat(dir, &info) != 0) {
        printf("skipped: %s is not installed (Debian package dataset-fashion-mnist)\n", dir);
        return;
    }
    cr_data_source source;
    cr_error err;
    cr_dataset train, test;
    CHECK_INT(cr_data_source_parse("fashion-mnist", &source, &err), 0);
    int rc = cr_data_load(&source, false, (cr_shape){1, 28, 28}, &train, &err);
    CHECK_INT(rc, 0);
    if (rc) fprintf(stderr, "%s: %s\n", err.file, err.message);
    CHECK_INT(train.count, 60000);
    CHECK_INT(train.classes, 10);
    if (!rc) {
        CHECK_INT(train.labels[0], 9);
        CHECK(!strcmp(train.class_names[train.labels[0]], "Ankle boot"));
    }
    cr_dataset_free(&train);
    rc = cr_data_load(&source, true, (cr_shape){1, 28, 28}, &test, &err);
    CHECK_INT(rc, 0);
    CHECK_INT(test.count, 10000);
    CHECK_INT(test.classes, 10);
    cr_dataset_free(&test);
}

int main(void) {
    if (scratch_folder_make("data")) return 1;
    test_idx();
    test_idx_errors();
    test_cifar();
    test_cifar_errors();
    test_folder();
    test_folder_errors();
    test_split();
    test_batch();
    test_image_load();
    test_parse();
    test_fashion_mnist();
    remove_tree(folder);
    return check_report();
}
