/* The images a command was given: files named one by one, and folders
 * searched recursively, each file recognised as an image by its content
 * (stb_image's header check: PNG, JPEG, BMP, GIF, PGM/PPM, TGA, PSD, HDR,
 * PIC), not by its extension.
 *
 *   cr_image_list list = {0};
 *   for (...) cr_image_list_add(&list, argv[i], &err);   // a file or a folder
 *   ... list.paths[0 .. list.count) ...
 *   cr_image_list_free(&list);
 *
 * A named file that is not an image is an error; a file in a folder that is
 * not an image is skipped and listed in `skipped` (so the caller can say
 * so). Hidden entries (".name") of a folder are left out, and links to
 * folders are not followed (a link cannot make the search loop). A folder's
 * entries come in byte order of their names, so every machine lists them
 * alike. */
#ifndef CNNRUN_IMAGE_FILES_H
#define CNNRUN_IMAGE_FILES_H

#include "error.h"

typedef struct cr_image_list {
    int count;
    char **paths; /* the images, in the order found */
    int skipped;
    char **skipped_paths; /* files in folders that are not images (or not files: a FIFO,
                             a dangling link), and links to folders */
    int capacity, skipped_capacity;
} cr_image_list;

/* Adds `path`: an image file, or every image under a folder. Errors
 * (CR_ERR_IO for a missing or unreadable path, CR_ERR_INVALID for a named
 * file that is not an image) name the path; the list keeps what it had. */
int cr_image_list_add(cr_image_list *list, const char *path, cr_error *err);
void cr_image_list_free(cr_image_list *list);

#endif
