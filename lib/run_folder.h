/* A run folder (train.h) held by one run at a time.
 *
 * Opening one creates it (with its parents) when missing, takes an
 * exclusive flock on CR_RUN_LOCK inside it (which holds the owner's PID, so
 * a second run fails at once naming it), removes temporary files that an
 * interrupted write of a run file left (NAME.tmp-XXXXXX, atomic_file.h),
 * and, for a new run, refuses a folder that holds a run or any file cnnrun
 * did not write there. The lock is released by cr_run_folder_close or when
 * the process ends, however it ends. */
#ifndef CNNRUN_RUN_FOLDER_H
#define CNNRUN_RUN_FOLDER_H

#include <stdbool.h>

#include "error.h"

#define CR_RUN_LOCK ".cnnrun.lock"

typedef struct cr_run_folder {
    char path[4096];
    int lock_fd;       /* -1 when closed */
    int removed_temps; /* stale temporary files removed on opening */
    bool created;      /* the folder did not exist before */
} cr_run_folder;

/* resume: the folder continues a run (what it holds is cr_train's to check). */
int cr_run_folder_open(const char *path, bool resume, cr_run_folder *out, cr_error *err);

/* The first of BASE, BASE-2, BASE-3, ... that opens as a new run: folders
 * holding a run, someone else's files, or another run's lock are passed over. */
int cr_run_folder_open_next(const char *base, cr_run_folder *out, cr_error *err);

void cr_run_folder_close(cr_run_folder *folder);

/* Closes, and removes the folder when this run created it and wrote nothing
 * into it: a run refused before its first save leaves no empty folder. */
void cr_run_folder_close_unused(cr_run_folder *folder);

#endif
