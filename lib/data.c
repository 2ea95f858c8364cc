/* Data sets: IDX (MNIST layout), CIFAR-10 binary batches and image folders,
 * decoded once into bytes [count, C, H, W]; batches become floats on the way
 * out. See docs/data.md for the formats, every error and the memory figures. */
#include "data.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <stb/stb_image.h>
#include <stb/stb_image_resize.h>
#include <zlib.h>

#include "files.h"
#include "random.h"
#include "targets_csv.h"

#define FASHION_MNIST_DIR "/usr/share/datasets/fashion-mnist"

static const char *const fashion_mnist_names[10] = {
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal",      "Shirt",   "Sneaker",  "Bag",   "Ankle boot",
};

static int out_of_memory(cr_error *err, const char *path, uint64_t bytes) {
    return cr_fail_file(err, CR_ERR_RUNTIME, path, "out of memory reading it (%llu bytes)",
                        (unsigned long long)bytes);
}

static int join_path(char *out, size_t size, const char *dir, const char *name, cr_error *err) {
    int n = snprintf(out, size, "%s/%s", dir, name);
    if (n < 0 || (size_t)n >= size)
        return cr_fail_file(err, CR_ERR_USAGE, dir, "path too long for '%s'", name);
    return 0;
}

static bool exists(const char *path) {
    struct stat info;
    return stat(path, &info) == 0;
}

/* A gzip-or-plain stream on a regular file (files.h: a FIFO is refused, not waited on). */
static gzFile open_stream(const char *path, cr_error *err) {
    int fd = cr_open_regular(path, err);
    if (fd < 0) return NULL;
    gzFile file = gzdopen(fd, "rb");
    if (!file) {
        close(fd);
        cr_fail_file(err, CR_ERR_RUNTIME, path, "out of memory opening it");
        return NULL;
    }
    gzbuffer(file, 1u << 17);
    return file;
}

/* A data folder that is missing gets its own message: "no such file" for
 * each file inside it would hide the real mistake. */
static int check_folder(const char *dir, cr_error *err) {
    struct stat info;
    if (stat(dir, &info) != 0)
        return cr_fail_file(err, CR_ERR_IO, dir, "data folder does not exist (%s)",
                            strerror(errno));
    if (!S_ISDIR(info.st_mode)) return cr_fail_file(err, CR_ERR_IO, dir, "is not a folder");
    return 0;
}

static uint32_t big_endian_u32(const uint8_t *bytes) {
    return (uint32_t)bytes[0] << 24 | (uint32_t)bytes[1] << 16 | (uint32_t)bytes[2] << 8 |
           (uint32_t)bytes[3];
}

/* Integer luma (ITU-R BT.601 weights 0.299, 0.587, 0.114, rounded half up),
 * so grey values are exact and the same on every machine. */
static uint8_t luma(uint8_t red, uint8_t green, uint8_t blue) {
    return (uint8_t)((299u * red + 587u * green + 114u * blue + 500u) / 1000u);
}

static int check_channels(cr_shape want, const char *source, cr_error *err) {
    if (want.c == 1 || want.c == 3) return 0;
    return cr_fail_file(err, CR_ERR_INVALID, source,
                        "the model's input has %d channels; image data converts to 1 (grey) or "
                        "3 (RGB) channels",
                        want.c);
}

static int check_image_size(uint32_t height, uint32_t width, cr_shape want, const char *path,
                            cr_error *err) {
    if (height == (uint32_t)want.h && width == (uint32_t)want.w) return 0;
    return cr_fail_file(err, CR_ERR_INVALID, path,
                        "%u×%u images but the model's input is %d×%d; resize the data or change "
                        "the model's input",
                        height, width, want.h, want.w);
}

/* ---- compressed or plain streams --------------------------------------------------- */

/* zlib's message without the "PATH: " it starts with: the error already
 * names the file. */
static const char *gzip_message(gzFile file, const char *path, int *code) {
    const char *why = gzerror(file, code);
    size_t length = strlen(path);
    if (strncmp(why, path, length) == 0 && strncmp(why + length, ": ", 2) == 0) why += length + 2;
    /* Opened with gzdopen (files.h), zlib names the file "<fd:N>". */
    const char *after = strncmp(why, "<fd:", 4) == 0 ? strstr(why, ">: ") : NULL;
    if (after) why = after + 3;
    return why;
}

/* gzread takes an unsigned int length: read in pieces that fit. Returns the
 * bytes read (fewer at the end of the file) or -1 with err filled. */
static int64_t read_bytes(gzFile file, const char *path, uint8_t *out, uint64_t length,
                          cr_error *err) {
    uint64_t done = 0;
    while (done < length) {
        uint64_t piece = length - done > (1u << 30) ? (1u << 30) : length - done;
        int got = gzread(file, out + done, (unsigned)piece);
        if (got < 0) {
            int code;
            cr_fail_file(err, CR_ERR_INVALID, path, "cannot decompress: %s",
                         gzip_message(file, path, &code));
            return -1;
        }
        if (got == 0) break;
        done += (uint64_t)got;
    }
    return (int64_t)done;
}

/* Reads up to `expected` bytes into a buffer that grows as the bytes arrive:
 * a header claiming billions of images costs nothing until they exist, and
 * then the file is reported truncated rather than an allocation failing. */
static int read_growing(gzFile file, const char *path, uint64_t expected, uint8_t **out,
                        uint64_t *found, cr_error *err) {
    uint64_t capacity = expected < (16u << 20) ? expected : (16u << 20), used = 0;
    uint8_t *buffer = malloc(capacity ? capacity : 1);
    if (!buffer) return out_of_memory(err, path, capacity);
    while (used < expected) {
        if (used == capacity) {
            capacity = capacity * 2 < expected ? capacity * 2 : expected;
            uint8_t *bigger = realloc(buffer, capacity);
            if (!bigger) {
                free(buffer);
                return out_of_memory(err, path, capacity);
            }
            buffer = bigger;
        }
        int64_t got = read_bytes(file, path, buffer + used, capacity - used, err);
        if (got < 0) {
            free(buffer);
            return 1;
        }
        used += (uint64_t)got;
        if (used < capacity) break; /* end of file */
    }
    *out = buffer;
    *found = used;
    return 0;
}

/* After the expected bytes: is there more? Counts the rest for the message. */
static int64_t bytes_left(gzFile file) {
    uint8_t scratch[4096];
    int64_t total = 0;
    int got;
    while ((got = gzread(file, scratch, sizeof scratch)) > 0) total += got;
    return total;
}

/* The zlib error (if any) behind a short read, for the truncation message. */
static const char *gzip_problem(gzFile file, const char *path) {
    int code = Z_OK;
    const char *why = gzip_message(file, path, &code);
    return code == Z_OK || code == Z_STREAM_END ? NULL : why;
}

/* ---- IDX (MNIST layout) ------------------------------------------------------------ */

#define IDX_IMAGES_MAGIC 0x00000803u /* unsigned bytes, 3 dimensions */
#define IDX_LABELS_MAGIC 0x00000801u /* unsigned bytes, 1 dimension */

/* Finds `base` or `base.gz` in dir. The plain name wins when both exist:
 * someone unpacked it on purpose, and it reads faster. */
static int idx_open(const char *dir, const char *base, char *path, size_t size, gzFile *out,
                    cr_error *err) {
    char plain[1024], packed[1024];
    char packed_name[256];
    snprintf(packed_name, sizeof packed_name, "%s.gz", base);
    if (join_path(plain, sizeof plain, dir, base, err) ||
        join_path(packed, sizeof packed, dir, packed_name, err))
        return 1;
    const char *chosen = exists(plain) ? plain : exists(packed) ? packed : NULL;
    if (!chosen)
        return cr_fail_file(err, CR_ERR_IO, packed, "missing: neither %s nor %s is in %s",
                            packed_name, base, dir);
    snprintf(path, size, "%s", chosen);
    *out = open_stream(path, err);
    return *out ? 0 : 1;
}

static const char *idx_kind(uint32_t magic) {
    switch (magic) {
    case IDX_IMAGES_MAGIC:
        return " (an IDX image file)";
    case IDX_LABELS_MAGIC:
        return " (an IDX label file)";
    case 0x1f8b0800u:
    case 0x1f8b0808u:
        return " (gzip data inside the file: compressed twice?)";
    }
    if ((magic >> 16) == 0 && (magic >> 8 & 0xff) != 0x08) return " (IDX, but not unsigned bytes)";
    return "";
}

/* Reads the header (magic and dimension sizes) of an IDX file. The magic
 * number is checked first: a label file given where images belong is
 * shorter than an image header, and "wrong magic" says what happened. */
static int idx_header(gzFile file, const char *path, uint32_t magic, int dims, uint32_t *sizes,
                      cr_error *err) {
    uint8_t header[16];
    int header_bytes = 4 + 4 * dims;
    int64_t got = read_bytes(file, path, header, 4, err);
    if (got < 0) return 1;
    uint32_t found = got == 4 ? big_endian_u32(header) : magic;
    if (found != magic)
        return cr_fail_file(err, CR_ERR_INVALID, path,
                            "wrong magic number 0x%08X%s, expected 0x%08X (IDX %s)", found,
                            idx_kind(found), magic,
                            magic == IDX_IMAGES_MAGIC ? "images: unsigned bytes [count, rows, cols]"
                                                      : "labels: unsigned bytes [count]");
    if (got == 4) {
        int64_t more = read_bytes(file, path, header + 4, (uint64_t)header_bytes - 4, err);
        if (more < 0) return 1;
        got += more;
    }
    if (got < header_bytes)
        return cr_fail_file(err, CR_ERR_INVALID, path,
                            "truncated: expected at least %d bytes (the IDX header), found %lld",
                            header_bytes, (long long)got);
    for (int i = 0; i < dims; i++) sizes[i] = big_endian_u32(header + 4 + 4 * i);
    return 0;
}

/* Reads `expected` payload bytes after a header of `header_bytes`, and
 * requires the file to end there. */
static int idx_payload(gzFile file, const char *path, int header_bytes, uint64_t expected,
                       const char *what, uint8_t **out, cr_error *err) {
    uint64_t found = 0;
    if (read_growing(file, path, expected, out, &found, err)) return 1;
    if (found < expected) {
        const char *why = gzip_problem(file, path);
        free(*out);
        *out = NULL;
        return cr_fail_file(err, CR_ERR_INVALID, path,
                            "truncated: expected %llu bytes (%d-byte header + %s), found %llu%s%s",
                            (unsigned long long)(expected + header_bytes), header_bytes, what,
                            (unsigned long long)(found + header_bytes), why ? "; gzip: " : "",
                            why ? why : "");
    }
    int64_t extra = bytes_left(file);
    if (extra > 0) {
        free(*out);
        *out = NULL;
        return cr_fail_file(err, CR_ERR_INVALID, path,
                            "longer than its header says: expected %llu bytes (%d-byte header + "
                            "%s), found %llu",
                            (unsigned long long)(expected + header_bytes), header_bytes, what,
                            (unsigned long long)(expected + header_bytes + (uint64_t)extra));
    }
    return 0;
}

/* Grey planes [count, 1, H, W] in a buffer with room for [count, 3, H, W]
 * become RGB in place, from the last image backwards so no source plane is
 * overwritten before it is copied. */
static void grey_to_rgb_in_place(uint8_t *pixels, int count, size_t plane) {
    for (int i = count - 1; i >= 0; i--) {
        const uint8_t *grey = pixels + (size_t)i * plane;
        uint8_t *rgb = pixels + (size_t)i * 3 * plane;
        memmove(rgb + 2 * plane, grey, plane);
        memmove(rgb + plane, grey, plane);
        memmove(rgb, grey, plane);
    }
}

static int load_idx(const cr_data_source *source, bool test, cr_shape want, cr_dataset *out,
                    cr_error *err) {
    const char *prefix = test ? "t10k" : "train";
    char images_name[64], labels_name[64], images_path[1024], labels_path[1024];
    snprintf(images_name, sizeof images_name, "%s-images-idx3-ubyte", prefix);
    snprintf(labels_name, sizeof labels_name, "%s-labels-idx1-ubyte", prefix);
    if (check_folder(source->dir, err)) return 1;

    gzFile file;
    if (idx_open(source->dir, images_name, images_path, sizeof images_path, &file, err)) return 1;
    uint32_t sizes[3];
    if (idx_header(file, images_path, IDX_IMAGES_MAGIC, 3, sizes, err)) {
        gzclose(file);
        return 1;
    }
    uint32_t count = sizes[0], rows = sizes[1], cols = sizes[2];
    int failed = 0;
    if (count == 0 || rows == 0 || cols == 0)
        failed = cr_fail_file(err, CR_ERR_INVALID, images_path,
                              "the header says %u images of %u×%u: nothing to train on", count,
                              rows, cols);
    else if (count > INT_MAX)
        failed =
            cr_fail_file(err, CR_ERR_INVALID, images_path,
                         "the header says %u images; at most %d are supported", count, INT_MAX);
    else
        failed = check_image_size(rows, cols, want, images_path, err);
    if (failed) {
        gzclose(file);
        return 1;
    }
    size_t plane = (size_t)rows * cols;
    char what[128];
    snprintf(what, sizeof what, "%u images of %u×%u", count, rows, cols);
    uint8_t *pixels = NULL;
    failed = idx_payload(file, images_path, 16, (uint64_t)count * plane, what, &pixels, err);
    gzclose(file);
    if (failed) return 1;

    uint8_t *label_bytes = NULL;
    if (idx_open(source->dir, labels_name, labels_path, sizeof labels_path, &file, err)) {
        free(pixels);
        return 1;
    }
    uint32_t label_count = 0;
    failed = idx_header(file, labels_path, IDX_LABELS_MAGIC, 1, &label_count, err);
    if (!failed && label_count != count)
        failed = cr_fail_file(err, CR_ERR_INVALID, labels_path,
                              "%u labels, but %s has %u images: they must match one to one",
                              label_count, images_path, count);
    snprintf(what, sizeof what, "%u labels", count);
    if (!failed) failed = idx_payload(file, labels_path, 8, count, what, &label_bytes, err);
    gzclose(file);
    if (failed) {
        free(pixels);
        return 1;
    }

    int *labels = malloc((size_t)count * sizeof *labels);
    int max_label = 0;
    for (uint32_t i = 0; labels && i < count; i++) {
        labels[i] = label_bytes[i];
        if (labels[i] > max_label) max_label = labels[i];
        if (source->fashion_names && labels[i] >= 10 && !failed)
            failed = cr_fail_file(err, CR_ERR_INVALID, labels_path,
                                  "label %d at index %u, but Fashion-MNIST has 10 classes (0 to 9)",
                                  labels[i], i);
    }
    free(label_bytes);
    if (!labels) failed = out_of_memory(err, labels_path, (uint64_t)count * sizeof *labels);
    if (!failed && want.c == 3) {
        uint8_t *rgb = realloc(pixels, (size_t)count * 3 * plane);
        if (rgb) {
            pixels = rgb;
            grey_to_rgb_in_place(pixels, (int)count, plane);
        } else {
            failed = out_of_memory(err, images_path, (uint64_t)count * 3 * plane);
        }
    }
    if (failed) {
        free(pixels);
        free(labels);
        return 1;
    }

    out->count = (int)count;
    out->channels = want.c;
    out->height = (int)rows;
    out->width = (int)cols;
    out->pixels = pixels;
    out->labels = labels;
    out->classes = source->fashion_names ? 10 : max_label + 1;
    if (source->fashion_names) {
        out->class_names = calloc(10, sizeof *out->class_names);
        for (int i = 0; out->class_names && i < 10; i++)
            out->class_names[i] = strdup(fashion_mnist_names[i]);
    }
    out->source = strdup(images_path);
    return 0;
}

/* ---- CIFAR-10 binary --------------------------------------------------------------- */

#define CIFAR_SIDE    32
#define CIFAR_PLANE   (CIFAR_SIDE * CIFAR_SIDE)
#define CIFAR_RECORD  (1 + 3 * CIFAR_PLANE) /* label byte, then R, G, B planes */
#define CIFAR_CLASSES 10

typedef struct growing_dataset {
    uint8_t *pixels;
    int *labels;
    int count, capacity;
    size_t image_bytes;
} growing_dataset;

static int cifar_reserve(growing_dataset *data, int more, const char *path, cr_error *err) {
    if (data->count + more <= data->capacity) return 0;
    int capacity = data->capacity ? data->capacity : 10000;
    while (capacity < data->count + more) capacity *= 2;
    uint8_t *pixels = realloc(data->pixels, (size_t)capacity * data->image_bytes);
    if (pixels) data->pixels = pixels;
    int *labels = realloc(data->labels, (size_t)capacity * sizeof *labels);
    if (labels) data->labels = labels;
    if (!pixels || !labels) return out_of_memory(err, path, (uint64_t)capacity * data->image_bytes);
    data->capacity = capacity;
    return 0;
}

/* Appends every record of one batch file, converting to `channels`. */
static int cifar_read_file(const char *path, int channels, growing_dataset *data, uint8_t *chunk,
                           int chunk_records, cr_error *err) {
    if (!exists(path))
        return cr_fail_file(err, CR_ERR_IO, path, "missing: CIFAR-10 batch file not found");
    gzFile file = open_stream(path, err);
    if (!file) return 1;
    uint64_t total = 0;
    int records_in_file = 0, failed = 0;
    for (;;) {
        int64_t got = read_bytes(file, path, chunk, (uint64_t)chunk_records * CIFAR_RECORD, err);
        if (got < 0) {
            failed = 1;
            break;
        }
        total += (uint64_t)got;
        int records = (int)(got / CIFAR_RECORD);
        if (got % CIFAR_RECORD) {
            int64_t rest = bytes_left(file);
            total += (uint64_t)(rest > 0 ? rest : 0);
            failed = cr_fail_file(err, CR_ERR_INVALID, path,
                                  "size %llu bytes is not a multiple of %d (1 label byte + "
                                  "3×32×32 pixels per image): truncated, or not a CIFAR-10 binary "
                                  "batch",
                                  (unsigned long long)total, CIFAR_RECORD);
            break;
        }
        if (records == 0) break;
        if (cifar_reserve(data, records, path, err)) {
            failed = 1;
            break;
        }
        for (int r = 0; r < records && !failed; r++) {
            const uint8_t *record = chunk + (size_t)r * CIFAR_RECORD;
            if (record[0] >= CIFAR_CLASSES) {
                failed = cr_fail_file(
                    err, CR_ERR_INVALID, path,
                    "label %d in image %d (byte %llu); CIFAR-10 labels are 0 to 9", record[0],
                    records_in_file + r, (unsigned long long)(records_in_file + r) * CIFAR_RECORD);
                break;
            }
            uint8_t *image = data->pixels + (size_t)data->count * data->image_bytes;
            const uint8_t *red = record + 1, *green = red + CIFAR_PLANE,
                          *blue = green + CIFAR_PLANE;
            if (channels == 3) {
                memcpy(image, red, 3 * CIFAR_PLANE);
            } else {
                for (int p = 0; p < CIFAR_PLANE; p++) image[p] = luma(red[p], green[p], blue[p]);
            }
            data->labels[data->count++] = record[0];
        }
        records_in_file += records;
        if (got < (int64_t)chunk_records * CIFAR_RECORD) break;
    }
    gzclose(file);
    if (!failed && records_in_file == 0)
        failed = cr_fail_file(err, CR_ERR_INVALID, path, "empty: no images in this batch file");
    return failed;
}

static void trim_line_end(char *line) {
    size_t length = strlen(line);
    while (length > 0 && (line[length - 1] == '\n' || line[length - 1] == '\r' ||
                          line[length - 1] == ' ' || line[length - 1] == '\t'))
        line[--length] = '\0';
}

static void free_names(char **names, int count) {
    for (int i = 0; names && i < count; i++) free(names[i]);
    free(names);
}

/* batches.meta.txt: the ten class names, one a line (blank lines ignored).
 * Optional: without it the classes have no names. */
static int cifar_class_names(const char *dir, char ***out, cr_error *err) {
    char path[1024];
    if (join_path(path, sizeof path, dir, "batches.meta.txt", err)) return 1;
    *out = NULL;
    if (!exists(path)) return 0;
    FILE *file = cr_fopen_regular(path, err);
    if (!file) return 1;
    int status = cr_class_names_read(file, path, CIFAR_CLASSES, out, err);
    fclose(file);
    return status;
}

int cr_class_names_read(FILE *file, const char *path, int expected, char ***out, cr_error *err) {
    *out = NULL;
    char **names = calloc((size_t)expected, sizeof *names);
    if (!names) return out_of_memory(err, path, (uint64_t)expected * sizeof *names);
    int count = 0, line_number = 0;
    char line[CR_CLASS_NAME_MAX + 2];
    while (fgets(line, sizeof line, file)) {
        line_number++;
        size_t length = strlen(line);
        /* A line longer than the buffer would come back as several names. */
        if (length == sizeof line - 1 && line[length - 1] != '\n') {
            size_t total = length;
            int c;
            while ((c = fgetc(file)) != EOF && c != '\n') total++;
            free_names(names, count < expected ? count : expected);
            return cr_fail_file(err, CR_ERR_INVALID, path,
                                "line %d is %zu characters long; a class name has at most %d",
                                line_number, total, CR_CLASS_NAME_MAX);
        }
        trim_line_end(line);
        if (!line[0]) continue;
        if (count < expected && !(names[count] = strdup(line))) {
            free_names(names, count);
            return out_of_memory(err, path, length);
        }
        count++;
    }
    if (count != expected) {
        free_names(names, count < expected ? count : expected);
        return cr_fail_file(err, CR_ERR_INVALID, path,
                            "%d class names, expected %d for CIFAR-10 (one a line)", count,
                            expected);
    }
    *out = names;
    return 0;
}

static int load_cifar(const cr_data_source *source, bool test, cr_shape want, cr_dataset *out,
                      cr_error *err) {
    if (check_folder(source->dir, err)) return 1;
    char path[1024];
    if (join_path(path, sizeof path, source->dir, test ? "test_batch.bin" : "data_batch_1.bin",
                  err))
        return 1;
    if (check_image_size(CIFAR_SIDE, CIFAR_SIDE, want, path, err)) return 1;
    char **names = NULL;
    if (cifar_class_names(source->dir, &names, err)) return 1;

    enum { chunk_records = 1000 };
    uint8_t *chunk = malloc((size_t)chunk_records * CIFAR_RECORD);
    growing_dataset data = {.image_bytes = (size_t)want.c * CIFAR_PLANE};
    int failed = chunk ? 0 : out_of_memory(err, path, (uint64_t)chunk_records * CIFAR_RECORD);
    int files = test ? 1 : 5;
    for (int f = 0; f < files && !failed; f++) {
        char name[32] = "test_batch.bin";
        if (!test) snprintf(name, sizeof name, "data_batch_%d.bin", f + 1);
        failed = join_path(path, sizeof path, source->dir, name, err) ||
                 cifar_read_file(path, want.c, &data, chunk, chunk_records, err);
    }
    free(chunk);
    if (failed) {
        free(data.pixels);
        free(data.labels);
        free_names(names, CIFAR_CLASSES);
        return 1;
    }
    /* Give back the unused tail of the doubling. */
    uint8_t *pixels = realloc(data.pixels, (size_t)data.count * data.image_bytes);
    int *labels = realloc(data.labels, (size_t)data.count * sizeof *labels);
    out->count = data.count;
    out->channels = want.c;
    out->height = out->width = CIFAR_SIDE;
    out->pixels = pixels ? pixels : data.pixels;
    out->labels = labels ? labels : data.labels;
    out->classes = CIFAR_CLASSES;
    out->class_names = names;
    out->source = strdup(source->dir);
    return 0;
}

/* ---- image folders ----------------------------------------------------------------- */

typedef struct name_list {
    char **names;
    int count;
} name_list;

static void name_list_free(name_list *list) {
    free_names(list->names, list->count);
    list->names = NULL;
    list->count = 0;
}

static int compare_names(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The sub-folders (directories == true) or files of dir, sorted by bytes
 * (not by locale, so every machine agrees), hidden entries left out. Loose
 * files next to the class folders (a README) are not classes and are
 * ignored; a sub-folder among the images is an error. */
static int list_folder(const char *dir, bool directories, name_list *out, cr_error *err) {
    out->names = NULL;
    out->count = 0;
    if (check_folder(dir, err)) return 1;
    DIR *handle = opendir(dir);
    if (!handle)
        return cr_fail_file(err, CR_ERR_IO, dir, "cannot read folder: %s", strerror(errno));
    int capacity = 0, failed = 0;
    struct dirent *entry;
    while (!failed && (entry = readdir(handle))) {
        if (entry->d_name[0] == '.') continue;
        char path[2048];
        if (join_path(path, sizeof path, dir, entry->d_name, err)) {
            failed = 1;
            break;
        }
        struct stat info;
        if (stat(path, &info) != 0) {
            failed = cr_fail_file(err, CR_ERR_IO, path, "cannot read: %s", strerror(errno));
            break;
        }
        /* Labels come from the folder an image is in, so an image two levels
         * down has no clear class: say so rather than skip it. */
        if (!directories && S_ISDIR(info.st_mode)) {
            failed = cr_fail_file(err, CR_ERR_INVALID, path,
                                  "a folder inside a class folder: images must be directly in "
                                  "their class folder");
            break;
        }
        /* docs/data.md: nothing in a class folder is skipped silently. */
        if (!directories && !S_ISREG(info.st_mode)) {
            failed = cr_fail_file(err, CR_ERR_INVALID, path,
                                  "is %s inside a class folder: only image files belong there",
                                  cr_file_type_name(info.st_mode));
            break;
        }
        if (directories && !S_ISDIR(info.st_mode)) continue;
        if (out->count == capacity) {
            capacity = capacity ? 2 * capacity : 16;
            char **names = realloc(out->names, (size_t)capacity * sizeof *names);
            if (!names) {
                failed = out_of_memory(err, dir, (uint64_t)capacity * sizeof *names);
                break;
            }
            out->names = names;
        }
        out->names[out->count] = strdup(entry->d_name);
        if (!out->names[out->count])
            failed = out_of_memory(err, dir, strlen(entry->d_name));
        else
            out->count++;
    }
    closedir(handle);
    if (failed) {
        name_list_free(out);
        return 1;
    }
    if (out->count > 1) qsort(out->names, (size_t)out->count, sizeof *out->names, compare_names);
    return 0;
}

/* Decoded pixels [height, width, channels] (1 grey, 2 grey + alpha, 3 RGB,
 * 4 RGBA) into [want.c, want.h, want.w] bytes: alpha dropped, grey <-> RGB
 * converted, then resized when the size differs. `what` names the image
 * in errors. */
static int convert_pixels(const uint8_t *image, int height, int width, int channels, cr_shape want,
                          uint8_t *out, const char *what, cr_error *err) {
    size_t pixels = (size_t)width * height;
    uint8_t *converted = malloc(pixels * (size_t)want.c);
    if (!converted) return out_of_memory(err, what, pixels * (size_t)want.c);
    bool colour = channels >= 3;
    for (size_t p = 0; p < pixels; p++) {
        const uint8_t *in = image + p * (size_t)channels;
        uint8_t *to = converted + p * (size_t)want.c;
        if (want.c == 1) {
            to[0] = colour ? luma(in[0], in[1], in[2]) : in[0];
        } else {
            to[0] = in[0];
            to[1] = colour ? in[1] : in[0];
            to[2] = colour ? in[2] : in[0];
        }
    }
    uint8_t *sized = converted;
    if (width != want.w || height != want.h) {
        sized = malloc((size_t)want.w * want.h * (size_t)want.c);
        if (!sized ||
            !stbir_resize_uint8(converted, width, height, 0, sized, want.w, want.h, 0, want.c)) {
            free(converted);
            free(sized);
            return cr_fail_file(err, CR_ERR_RUNTIME, what, "cannot resize %d×%d to %d×%d", height,
                                width, want.h, want.w);
        }
        free(converted);
    }
    /* Interleaved [H, W, C] -> planar [C, H, W]. */
    size_t plane = (size_t)want.h * want.w;
    for (size_t p = 0; p < plane; p++)
        for (int c = 0; c < want.c; c++) out[(size_t)c * plane + p] = sized[p * want.c + c];
    free(sized);
    return 0;
}

/* Decodes any image stb_image reads into [want.c, want.h, want.w] bytes
 * (convert_pixels). */
int cr_image_decode(const char *path, cr_shape want, uint8_t *out, cr_error *err) {
    FILE *file = cr_fopen_regular(path, err);
    if (!file) return 1;
    /* stb_image says "unknown image type" for an empty file; say what it is. */
    struct stat info;
    if (fstat(fileno(file), &info) == 0 && info.st_size == 0) {
        fclose(file);
        return cr_fail_file(err, CR_ERR_INVALID, path, "cannot decode image: the file is empty");
    }
    int width, height, file_channels;
    uint8_t *image = stbi_load_from_file(file, &width, &height, &file_channels, 0);
    fclose(file);
    if (!image)
        return cr_fail_file(err, CR_ERR_INVALID, path, "cannot decode image: %s",
                            stbi_failure_reason());
    int status = convert_pixels(image, height, width, file_channels, want, out, path, err);
    stbi_image_free(image);
    return status;
}

/* stb_image's interleaved pixels (1 grey, 2 grey + alpha, 3 RGB, 4 RGBA)
 * -> `channels` planes (alpha dropped, grey <-> RGB as cr_image_decode does). */
static void to_planes(const uint8_t *image, int file_channels, size_t pixels, int channels,
                      uint8_t *out) {
    bool colour = file_channels >= 3;
    for (size_t p = 0; p < pixels; p++) {
        const uint8_t *in = image + p * (size_t)file_channels;
        if (channels == 1) {
            out[p] = colour ? luma(in[0], in[1], in[2]) : in[0];
            continue;
        }
        out[p] = in[0];
        out[pixels + p] = colour ? in[1] : in[0];
        out[2 * pixels + p] = colour ? in[2] : in[0];
    }
}

int cr_image_decode_native(const char *path, int channels, uint8_t **buffer, size_t *capacity,
                           int *height,
                    int *width, cr_error *err) {
    FILE *file = cr_fopen_regular(path, err);
    if (!file) return 1;
    int file_channels;
    uint8_t *image = stbi_load_from_file(file, width, height, &file_channels, 0);
    fclose(file);
    if (!image)
        return cr_fail_file(err, CR_ERR_INVALID, path, "cannot decode image: %s",
                            stbi_failure_reason());
    size_t pixels = (size_t)*width * *height, need = pixels * (size_t)channels;
    if (need > *capacity) {
        uint8_t *bigger = realloc(*buffer, need);
        if (!bigger) {
            stbi_image_free(image);
            return out_of_memory(err, path, need);
        }
        *buffer = bigger;
        *capacity = need;
    }
    to_planes(image, file_channels, pixels, channels, *buffer);
    stbi_image_free(image);
    return 0;
}

/* The two splits must name the same classes, or label 3 would mean one thing
 * in training and another in testing. */
static int compare_classes(const name_list *mine, const char *my_dir, const name_list *other,
                           const char *other_dir, cr_error *err) {
    for (int i = 0, j = 0; i < mine->count || j < other->count;) {
        int order = i == mine->count    ? 1
                    : j == other->count ? -1
                                        : strcmp(mine->names[i], other->names[j]);
        if (order == 0) {
            i++;
            j++;
            continue;
        }
        bool missing_there = order < 0;
        return cr_fail_file(err, CR_ERR_INVALID, my_dir,
                            "the train and test class lists differ: class folder '%s' is in %s "
                            "but not in %s",
                            missing_there ? mine->names[i] : other->names[j],
                            missing_there ? my_dir : other_dir, missing_there ? other_dir : my_dir);
    }
    return 0;
}

static int load_folder(const cr_data_source *source, bool test, cr_shape want, cr_dataset *out,
                       cr_error *err) {
    const char *root = test ? source->test_dir : source->train_dir;
    const char *other_root = test ? source->train_dir : source->test_dir;
    if (!root[0])
        return cr_fail_file(err, CR_ERR_USAGE, source->train_dir,
                            "no test folder given: use folder:TRAIN_DIR,TEST_DIR, or hold out a "
                            "validation fraction of the training folder");
    name_list classes, other;
    if (list_folder(root, true, &classes, err)) return 1;
    if (classes.count == 0)
        return cr_fail_file(err, CR_ERR_INVALID, root,
                            "no class folders: expected one sub-folder per class, each holding "
                            "that class's images");
    /* Only when the other folder can be read: if it cannot, loading it says so. */
    if (other_root[0] && list_folder(other_root, true, &other, NULL) == 0) {
        int failed = compare_classes(&classes, root, &other, other_root, err);
        name_list_free(&other);
        if (failed) {
            name_list_free(&classes);
            return 1;
        }
    }

    name_list *files = calloc((size_t)classes.count, sizeof *files);
    int64_t total = 0;
    int failed = files ? 0 : out_of_memory(err, root, (uint64_t)classes.count * sizeof *files);
    char path[2048], file_path[4096];
    for (int k = 0; k < classes.count && !failed; k++) {
        failed = join_path(path, sizeof path, root, classes.names[k], err) ||
                 list_folder(path, false, &files[k], err);
        if (!failed && files[k].count == 0)
            failed = cr_fail_file(err, CR_ERR_INVALID, path,
                                  "class folder '%s' is empty: no images in it", classes.names[k]);
        total += files[k].count;
    }
    if (!failed && total > INT_MAX)
        failed = cr_fail_file(err, CR_ERR_INVALID, root, "%lld images; at most %d are supported",
                              (long long)total, INT_MAX);

    /* Streamed: only the paths, each file's header checked now so that a
     * broken image is named before training starts. */
    bool stream = source->stream && !test;
    size_t image_bytes = (size_t)cr_shape_size(want);
    uint8_t *pixels = NULL;
    char **paths = NULL;
    int *labels = NULL;
    if (!failed) {
        if (stream)
            paths = calloc((size_t)total, sizeof *paths);
        else
            pixels = malloc((size_t)total * image_bytes);
        labels = malloc((size_t)total * sizeof *labels);
        if ((!pixels && !paths) || !labels)
            failed = out_of_memory(err, root, (uint64_t)total * image_bytes);
    }
    int count = 0;
    for (int k = 0; k < classes.count && !failed; k++) {
        for (int i = 0; i < files[k].count && !failed; i++) {
            snprintf(file_path, sizeof file_path, "%s/%s/%s", root, classes.names[k],
                     files[k].names[i]);
            if (stream) {
                int height, width;
                failed = cr_image_size(file_path, &height, &width, err);
                if (!failed && !(paths[count] = strdup(file_path)))
                    failed = out_of_memory(err, file_path, strlen(file_path));
            } else {
                failed = cr_image_decode(file_path, want, pixels + (size_t)count * image_bytes, err);
            }
            labels[count++] = k;
        }
    }
    for (int k = 0; files && k < classes.count; k++) name_list_free(&files[k]);
    free(files);
    if (failed) {
        free(pixels);
        if (paths) free_names(paths, count);
        free(labels);
        name_list_free(&classes);
        return 1;
    }
    out->count = count;
    out->channels = want.c;
    out->height = want.h;
    out->width = want.w;
    out->pixels = pixels;
    out->files = paths;
    out->labels = labels;
    out->classes = classes.count;
    out->class_names = classes.names;
    out->source = strdup(root);
    return 0;
}

/* ---- the public functions ---------------------------------------------------------- */

int cr_data_source_parse(const char *text, cr_data_source *out, cr_error *err) {
    static const char *const formats[] = {"fashion-mnist", "mnist", "cifar10", "folder", "csv"};
    const char *usage = "expected fashion-mnist, mnist:DIR, cifar10:DIR, "
                        "folder:TRAIN_DIR,TEST_DIR or csv:TRAIN.csv,TEST.csv";
    memset(out, 0, sizeof *out);
    const char *colon = strchr(text, ':');
    size_t word_length = colon ? (size_t)(colon - text) : strlen(text);
    char word[32];
    if (word_length >= sizeof word) word_length = sizeof word - 1;
    memcpy(word, text, word_length);
    word[word_length] = '\0';
    const char *rest = colon ? colon + 1 : NULL;

    if (strcmp(word, "fashion-mnist") == 0) {
        out->format = CR_DATA_MNIST;
        out->fashion_names = true;
        rest = rest && rest[0] ? rest : FASHION_MNIST_DIR;
    } else if (strcmp(word, "mnist") == 0) {
        out->format = CR_DATA_MNIST;
    } else if (strcmp(word, "cifar10") == 0) {
        out->format = CR_DATA_CIFAR10;
    } else if (strcmp(word, "folder") == 0) {
        out->format = CR_DATA_FOLDER;
    } else if (strcmp(word, "csv") == 0) {
        out->format = CR_DATA_CSV;
    } else {
        const char *close = cr_suggest(word, formats, 5);
        return cr_fail(err, CR_ERR_USAGE, (cr_mark){0}, NULL, "unknown data '%s'%s%s%s; %s", text,
                       close ? " (did you mean '" : "", close ? close : "", close ? "'?)" : "",
                       usage);
    }
    if (!rest || !rest[0])
        return cr_fail(err, CR_ERR_USAGE, (cr_mark){0}, NULL, "data '%s' needs a folder: %s:%s",
                       text, word,
                       out->format == CR_DATA_FOLDER ? "TRAIN_DIR,TEST_DIR"
                       : out->format == CR_DATA_CSV  ? "TRAIN.csv,TEST.csv"
                                                     : "DIR");

    if (out->format != CR_DATA_FOLDER && out->format != CR_DATA_CSV) {
        if (strlen(rest) >= sizeof out->dir)
            return cr_fail(err, CR_ERR_USAGE, (cr_mark){0}, NULL, "data folder name too long");
        snprintf(out->dir, sizeof out->dir, "%s", rest);
        return 0;
    }
    /* folder:TRAIN_DIR,TEST_DIR; the test folder may be left out when a
     * validation fraction is held out of the training folder instead. */
    const char *comma = strchr(rest, ',');
    size_t train_length = comma ? (size_t)(comma - rest) : strlen(rest);
    const char *test = comma ? comma + 1 : "";
    if (train_length == 0)
        return cr_fail(err, CR_ERR_USAGE, (cr_mark){0}, NULL,
                       "data '%s' has no training folder; expected folder:TRAIN_DIR,TEST_DIR",
                       text);
    if (train_length >= sizeof out->train_dir || strlen(test) >= sizeof out->test_dir)
        return cr_fail(err, CR_ERR_USAGE, (cr_mark){0}, NULL, "data folder name too long");
    memcpy(out->train_dir, rest, train_length);
    out->train_dir[train_length] = '\0';
    snprintf(out->test_dir, sizeof out->test_dir, "%s", test);
    return 0;
}

/* path made absolute (the working folder before a relative one), or as
 * it is when that fails. */
static const char *absolute(const char *path, char *out) {
    char here[PATH_MAX];
    if (!path[0] || path[0] == '/' || !getcwd(here, sizeof here)) return path;
    int n = snprintf(out, PATH_MAX, "%s/%s", here, path);
    return n > 0 && n < PATH_MAX ? out : path;
}

int cr_data_source_text(const cr_data_source *source, char *out, size_t size) {
    char a[PATH_MAX], b[PATH_MAX];
    int n;
    /* Folders relative to the working folder: a resume may start elsewhere. */
    if (source->format == CR_DATA_FOLDER || source->format == CR_DATA_CSV) {
        const char *train = absolute(source->train_dir, a), *test = absolute(source->test_dir, b);
        if (strchr(train, ',')) return 1;
        n = snprintf(out, size, "%s:%s%s%s", source->format == CR_DATA_CSV ? "csv" : "folder",
                     train, test[0] ? "," : "", test);
    } else {
        n = snprintf(out, size, "%s:%s",
                     source->format == CR_DATA_CIFAR10 ? "cifar10"
                     : source->fashion_names           ? "fashion-mnist"
                                                       : "mnist",
                     absolute(source->dir, a));
    }
    return n < 0 || (size_t)n >= size;
}

int cr_data_load(const cr_data_source *source, bool test, cr_shape want, cr_dataset *out,
                 cr_error *err) {
    memset(out, 0, sizeof *out);
    const char *where = source->format == CR_DATA_FOLDER || source->format == CR_DATA_CSV
                            ? source->train_dir
                            : source->dir;
    if (check_channels(want, where, err)) return 1;
    if (want.h <= 0 || want.w <= 0)
        return cr_fail_file(err, CR_ERR_INVALID, where, "the model's input is %d×%d", want.h,
                            want.w);
    int failed = 1;
    switch (source->format) {
    case CR_DATA_MNIST:
        failed = load_idx(source, test, want, out, err);
        break;
    case CR_DATA_CIFAR10:
        failed = load_cifar(source, test, want, out, err);
        break;
    case CR_DATA_FOLDER:
        failed = load_folder(source, test, want, out, err);
        break;
    case CR_DATA_CSV:
        failed = cr_csv_load(source, test, want, out, err);
        break;
    }
    if (failed) return 1;
    /* The small allocations after the big ones: checked once, here. */
    bool names_ok = true;
    for (int i = 0; out->class_names && i < out->classes; i++)
        if (!out->class_names[i]) names_ok = false;
    if (!out->source || !names_ok || (source->fashion_names && !out->class_names)) {
        cr_dataset_free(out);
        return cr_fail_file(err, CR_ERR_RUNTIME, where, "out of memory");
    }
    return 0;
}

void cr_dataset_free(cr_dataset *data) {
    if (!data) return;
    free(data->pixels);
    if (data->files) free_names(data->files, data->count);
    free(data->labels);
    if (data->class_names) free_names(data->class_names, data->classes);
    free(data->source);
    free(data->targets);
    memset(data, 0, sizeof *data);
}

static char **copy_names(char *const *names, int count) {
    if (!names) return NULL;
    char **copy = calloc((size_t)count, sizeof *copy);
    for (int i = 0; copy && i < count; i++) {
        copy[i] = strdup(names[i]);
        if (!copy[i]) {
            free_names(copy, i);
            return NULL;
        }
    }
    return copy;
}

/* Which images go to validation is decided by a shuffle seeded with `seed`
 * mixed with a constant, so it is not the same random stream as the
 * training shuffle that is seeded with the same number. Both halves keep the
 * images in their original order. */
int cr_dataset_split(cr_dataset *all, double fraction, uint64_t seed, cr_dataset *train,
                     cr_dataset *validation, cr_error *err) {
    memset(train, 0, sizeof *train);
    memset(validation, 0, sizeof *validation);
    const char *source = all->source ? all->source : "data";
    if (!(fraction > 0 && fraction < 1))
        return cr_fail_file(err, CR_ERR_INVALID, source,
                            "validation fraction %g must be between 0 and 1 (exclusive)", fraction);
    int held_out = (int)(all->count * fraction + 0.5);
    if (held_out < 1 || held_out >= all->count)
        return cr_fail_file(err, CR_ERR_INVALID, source,
                            "validation fraction %g of %d images leaves %d for validation and %d "
                            "for training; both need at least one",
                            fraction, all->count, held_out, all->count - held_out);

    int *order = malloc((size_t)all->count * sizeof *order);
    bool *in_validation = calloc((size_t)all->count, sizeof *in_validation);
    size_t image_bytes = (size_t)all->channels * all->height * all->width;
    uint8_t *validation_pixels = malloc((size_t)held_out * image_bytes);
    int *validation_labels = malloc((size_t)held_out * sizeof *validation_labels);
    char **validation_names = copy_names(all->class_names, all->classes);
    /* Labels of csv data are rows of the targets table: each half keeps the
     * whole table (its own copy), the labels still point into it. */
    size_t target_bytes = (size_t)all->target_rows * (size_t)all->classes * sizeof(float);
    float *validation_targets = all->targets ? malloc(target_bytes ? target_bytes : 1) : NULL;
    if (validation_targets) memcpy(validation_targets, all->targets, target_bytes);
    size_t source_length = strlen(source) + 64;
    char *train_source = malloc(source_length), *validation_source = malloc(source_length);
    if (!order || !in_validation || !validation_pixels || !validation_labels ||
        (all->class_names && !validation_names) || (all->targets && !validation_targets) ||
        !train_source || !validation_source) {
        free(validation_targets);
        free(order);
        free(in_validation);
        free(validation_pixels);
        free(validation_labels);
        if (validation_names) free_names(validation_names, all->classes);
        free(train_source);
        free(validation_source);
        return cr_fail_file(err, CR_ERR_RUNTIME, source, "out of memory splitting off validation");
    }

    /* Fisher-Yates; the last `held_out` positions are the validation set. */
    uint64_t rng = seed ^ 0x76616c6964617465ULL; /* "validate" */
    for (int i = 0; i < all->count; i++) order[i] = i;
    for (int i = all->count - 1; i > 0; i--) {
        int j = (int)cr_random_below(&rng, (uint64_t)i + 1);
        int swap = order[i];
        order[i] = order[j];
        order[j] = swap;
    }
    for (int i = all->count - held_out; i < all->count; i++) in_validation[order[i]] = true;

    /* Validation images are copied out; training images slide down in place. */
    int kept = 0, moved = 0;
    for (int i = 0; i < all->count; i++) {
        const uint8_t *image = all->pixels + (size_t)i * image_bytes;
        if (in_validation[i]) {
            memcpy(validation_pixels + (size_t)moved * image_bytes, image, image_bytes);
            validation_labels[moved++] = all->labels[i];
        } else {
            if (kept != i) memmove(all->pixels + (size_t)kept * image_bytes, image, image_bytes);
            all->labels[kept++] = all->labels[i];
        }
    }
    free(order);
    free(in_validation);

    *train = *all;
    train->count = kept;
    uint8_t *smaller = realloc(train->pixels, (size_t)kept * image_bytes);
    if (smaller) train->pixels = smaller;
    snprintf(train_source, source_length, "%s (training part, %g held out)", source, fraction);
    train->source = train_source;

    *validation = *all;
    validation->count = moved;
    validation->pixels = validation_pixels;
    validation->labels = validation_labels;
    validation->class_names = validation_names;
    validation->targets = validation_targets;
    snprintf(validation_source, source_length, "%s (validation part, fraction %g, seed %llu)",
             source, fraction, (unsigned long long)seed);
    validation->source = validation_source;

    free(all->source);
    memset(all, 0, sizeof *all);
    return 0;
}

/* table[c][b]: byte b of channel c as the network sees it, computed like
 * torchvision's ToTensor then Normalize: (b / 255 - mean) / std in float. A
 * std of 0 means "not set" (1), so a zero-initialised transform gives plain
 * [0, 1] pixels. */
static void fill_table(const cr_transform *transform, int channels, float table[][256]) {
    for (int c = 0; c < channels && c < 4; c++) {
        float mean = transform ? transform->mean[c] : 0.0f;
        float std = transform && transform->std[c] != 0.0f ? transform->std[c] : 1.0f;
        for (int b = 0; b < 256; b++) table[c][b] = ((float)b / 255.0f - mean) / std;
    }
}

/* One image [C, H, W] bytes -> floats through the table. */
static void image_to_floats(const uint8_t *image, int channels, int height, int width,
                            float table[][256], float *out) {
    size_t plane = (size_t)height * width;
    for (int c = 0; c < channels; c++) {
        const uint8_t *bytes = image + (size_t)c * plane;
        const float *lookup = table[c];
        float *to = out + (size_t)c * plane;
        for (size_t p = 0; p < plane; p++) to[p] = lookup[bytes[p]];
    }
}

void cr_data_batch(const cr_dataset *data, const int *indices, int n, const cr_transform *transform,
                   float *out, int *labels) {
    int channels = data->channels < 4 ? data->channels : 4;
    float table[4][256];
    fill_table(transform, channels, table);
    size_t image_bytes = (size_t)data->channels * data->height * data->width;
    for (int i = 0; i < n; i++) {
        image_to_floats(data->pixels + (size_t)indices[i] * image_bytes, channels, data->height,
                        data->width, table, out + (size_t)i * image_bytes);
        if (labels) labels[i] = data->labels[indices[i]];
    }
}

/* One image's [C, H, W] bytes as normalised floats, unaugmented. */
static void normalised_floats(const uint8_t *image, cr_shape want, const cr_transform *transform,
                              float *out) {
    float table[4][256];
    fill_table(transform, want.c, table);
    image_to_floats(image, want.c, want.h, want.w, table, out);
}

int cr_image_from_pixels(const uint8_t *pixels, int height, int width, int channels, cr_shape want,
                         const cr_transform *transform, float *out, cr_error *err) {
    if (check_channels(want, "the image", err)) return 1;
    if (!pixels || height < 1 || width < 1 || channels < 1 || channels > 4)
        return cr_fail(err, CR_ERR_USAGE, (cr_mark){0}, NULL,
                       "an image needs pixels, height and width ≥ 1 and 1 to 4 channels (got "
                       "%d×%d with %d)",
                       height, width, channels);
    uint8_t *image = malloc((size_t)cr_shape_size(want));
    if (!image) return out_of_memory(err, "the image", (uint64_t)cr_shape_size(want));
    int failed = convert_pixels(pixels, height, width, channels, want, image, "the image", err);
    if (!failed) normalised_floats(image, want, transform, out);
    free(image);
    return failed;
}

int cr_image_size(const char *path, int *height, int *width, cr_error *err) {
    FILE *file = cr_fopen_regular(path, err);
    if (!file) return 1;
    int components;
    int known = stbi_info_from_file(file, width, height, &components);
    fclose(file);
    if (!known)
        return cr_fail_file(err, CR_ERR_INVALID, path, "not an image stb_image can read (%s)",
                            stbi_failure_reason());
    return 0;
}

int cr_image_load_batch(const char *const *paths, int n, cr_shape want,
                        const cr_transform *transform, float *out, bool *ok, cr_error *errs) {
    int64_t size = cr_shape_size(want);
    int decoded = 0;
    /* Decoding is most of predict's time on large JPEGs: one image per
     * thread, dynamically, since their sizes differ. */
#pragma omp parallel for schedule(dynamic) reduction(+ : decoded) if (n > 1)
    for (int i = 0; i < n; i++) {
        ok[i] = cr_image_load(paths[i], want, transform, out + i * size, &errs[i]) == 0;
        if (!ok[i]) memset(out + i * size, 0, (size_t)size * sizeof *out);
        decoded += ok[i];
    }
    return decoded;
}

int cr_image_load(const char *path, cr_shape want, const cr_transform *transform, float *out,
                  cr_error *err) {
    if (check_channels(want, path, err)) return 1;
    uint8_t *image = malloc((size_t)cr_shape_size(want));
    if (!image) return out_of_memory(err, path, (uint64_t)cr_shape_size(want));
    int failed = cr_image_decode(path, want, image, err);
    if (!failed) normalised_floats(image, want, transform, out);
    free(image);
    return failed;
}
