/* The images a command was given (see image_files.h). */
#include "image_files.h"

#include <dirent.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <stb/stb_image.h>

#include "files.h"

/* Folders nested deeper than this are not photo collections. */
#define MAX_DEPTH 64

static int out_of_memory(cr_error *err, const char *path) {
    return cr_fail_file(err, CR_ERR_RUNTIME, path, "out of memory");
}

/* Appends a copy of path to one of the list's two arrays. */
static int append(char ***items, int *count, int *capacity, const char *path, cr_error *err) {
    if (*count == *capacity) {
        int grown = *capacity ? 2 * *capacity : 64;
        char **bigger = realloc(*items, (size_t)grown * sizeof *bigger);
        if (!bigger) return out_of_memory(err, path);
        *items = bigger;
        *capacity = grown;
    }
    if (!((*items)[*count] = strdup(path))) return out_of_memory(err, path);
    (*count)++;
    return 0;
}

/* Whether stb_image knows the file's format from its first bytes. */
static int is_image(const char *path, bool *image, cr_error *err) {
    FILE *file = cr_fopen_regular(path, err);
    if (!file) return 1;
    int width, height, components;
    *image = stbi_info_from_file(file, &width, &height, &components) != 0;
    fclose(file);
    return 0;
}

static int compare_names(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The folder's visible entries, sorted by bytes; *names malloc'ed. */
static int read_folder(const char *dir, char ***names, int *count, cr_error *err) {
    *names = NULL;
    *count = 0;
    int capacity = 0;
    DIR *handle = opendir(dir);
    if (!handle)
        return cr_fail_file(err, CR_ERR_IO, dir, "cannot read folder: %s", strerror(errno));
    struct dirent *entry;
    int status = 0;
    while (!status && (entry = readdir(handle)))
        if (entry->d_name[0] != '.') status = append(names, count, &capacity, entry->d_name, err);
    closedir(handle);
    if (!status && *count > 1) qsort(*names, (size_t)*count, sizeof **names, compare_names);
    return status;
}

static int add_folder(cr_image_list *list, const char *dir, int depth, cr_error *err);

/* One entry found in a folder: a folder to search, an image, or something skipped. */
static int add_found(cr_image_list *list, const char *path, int depth, cr_error *err) {
    struct stat link, info;
    if (lstat(path, &link) != 0)
        return cr_fail_file(err, CR_ERR_IO, path, "cannot read: %s", strerror(errno));
    /* A dangling link or a link loop is no image: skipped like any other file. */
    if (stat(path, &info) != 0)
        return append(&list->skipped_paths, &list->skipped, &list->skipped_capacity, path, err);
    if (S_ISDIR(info.st_mode) && !S_ISLNK(link.st_mode))
        return add_folder(list, path, depth + 1, err);
    bool image = false;
    if (S_ISREG(info.st_mode) && is_image(path, &image, err)) return 1;
    if (image) return append(&list->paths, &list->count, &list->capacity, path, err);
    return append(&list->skipped_paths, &list->skipped, &list->skipped_capacity, path, err);
}

static int add_folder(cr_image_list *list, const char *dir, int depth, cr_error *err) {
    if (depth > MAX_DEPTH)
        return cr_fail_file(err, CR_ERR_INVALID, dir, "folders nested more than %d deep",
                            MAX_DEPTH);
    char **names;
    int count, status = read_folder(dir, &names, &count, err);
    size_t length = strlen(dir);
    bool slash = length > 0 && dir[length - 1] == '/';
    for (int i = 0; i < count && !status; i++) {
        size_t size = length + strlen(names[i]) + 2;
        char *path = malloc(size);
        if (!path) {
            status = out_of_memory(err, dir);
            break;
        }
        snprintf(path, size, "%s%s%s", dir, slash ? "" : "/", names[i]);
        status = add_found(list, path, depth, err);
        free(path);
    }
    for (int i = 0; i < count; i++) free(names[i]);
    free(names);
    return status;
}

int cr_image_list_add(cr_image_list *list, const char *path, cr_error *err) {
    struct stat info;
    if (stat(path, &info) != 0)
        return cr_fail_file(err, CR_ERR_IO, path, "%s",
                            errno == ENOENT ? "no such image file or folder" : strerror(errno));
    if (S_ISDIR(info.st_mode)) {
        int before = list->count, skipped_before = list->skipped;
        int status = add_folder(list, path, 0, err);
        if (status) { /* the list keeps what it had */
            while (list->count > before) free(list->paths[--list->count]);
            while (list->skipped > skipped_before) free(list->skipped_paths[--list->skipped]);
        }
        return status;
    }
    bool image = false;
    if (is_image(path, &image, err)) return 1;
    if (!image)
        return cr_fail_file(err, CR_ERR_INVALID, path, "not an image (%s)",
                            stbi_failure_reason() ? stbi_failure_reason() : "unknown format");
    return append(&list->paths, &list->count, &list->capacity, path, err);
}

void cr_image_list_free(cr_image_list *list) {
    for (int i = 0; i < list->count; i++) free(list->paths[i]);
    for (int i = 0; i < list->skipped; i++) free(list->skipped_paths[i]);
    free(list->paths);
    free(list->skipped_paths);
    *list = (cr_image_list){0};
}
