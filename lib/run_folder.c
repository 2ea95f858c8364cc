/* Run folders: creation, locking, stale temporary files (see run_folder.h). */
#include "run_folder.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "train.h"

static const char *const run_files[] = {CR_RUN_METRICS, CR_RUN_LAST, CR_RUN_BEST,
                                        CR_RUN_CHECKPOINT};
enum { RUN_FILES = sizeof run_files / sizeof run_files[0] };

/* mkdir -p */
static int make_folders(const char *path, bool *created, cr_error *err) {
    char partial[4096];
    if (snprintf(partial, sizeof partial, "%s", path) >= (int)sizeof partial)
        return cr_fail_file(err, CR_ERR_USAGE, path, "run folder name too long");
    for (char *p = partial + 1;; p++) {
        bool end = *p == '\0';
        if (*p == '/' || end) {
            *p = '\0';
            struct stat info;
            if (stat(partial, &info) != 0) {
                if (mkdir(partial, 0755) != 0 && errno != EEXIST)
                    return cr_fail_file(err, CR_ERR_IO, partial, "cannot create the run folder: %s",
                                        strerror(errno));
                *created = end;
            } else if (!S_ISDIR(info.st_mode)) {
                return cr_fail_file(err, CR_ERR_IO, path, "cannot be a run folder: '%s' is a file",
                                    partial);
            }
            if (end) break;
            *p = '/';
        }
    }
    return 0;
}

/* NAME.tmp-XXXXXX for one of the run's files (mkstemp's six characters). */
static bool is_stale_temp(const char *name) {
    for (int i = 0; i < RUN_FILES; i++) {
        size_t n = strlen(run_files[i]);
        if (strncmp(name, run_files[i], n) == 0 && strncmp(name + n, ".tmp-", 5) == 0 &&
            strlen(name + n + 5) == 6)
            return true;
    }
    return false;
}

/* Removes stale temporary files; for a new run, lists what is in the way:
 * *holds_run when a checkpoint is there, foreign[] the first names of files
 * cnnrun did not write. */
static int survey(cr_run_folder *folder, bool *holds_run, char *foreign, size_t size,
                  cr_error *err) {
    DIR *dir = opendir(folder->path);
    if (!dir) return cr_fail_file(err, CR_ERR_IO, folder->path, "cannot read: %s", strerror(errno));
    *holds_run = false;
    foreign[0] = '\0';
    size_t used = 0;
    struct dirent *entry;
    while ((entry = readdir(dir))) {
        const char *name = entry->d_name;
        if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0) continue;
        if (is_stale_temp(name)) {
            char path[4400];
            snprintf(path, sizeof path, "%s/%s", folder->path, name);
            if (unlink(path) == 0) folder->removed_temps++;
            continue;
        }
        if (strcmp(name, CR_RUN_CHECKPOINT) == 0) *holds_run = true;
        /* Even a metrics.csv is someone else's in a folder without a
         * checkpoint: cnnrun writes its files after the checkpoint. */
        if (strcmp(name, CR_RUN_LOCK) == 0 || used >= size) continue;
        int n = snprintf(foreign + used, size - used, "%s'%s'", used ? ", " : "", name);
        used = n < 0 ? size : used + (size_t)n;
    }
    closedir(dir);
    return 0;
}

/* The PID written in a lock file someone else holds. */
static long holder_pid(int fd) {
    char text[32] = {0};
    ssize_t n = pread(fd, text, sizeof text - 1, 0);
    return n > 0 ? strtol(text, NULL, 10) : 0;
}

static int take_lock(cr_run_folder *folder, cr_error *err) {
    char path[4400];
    snprintf(path, sizeof path, "%s/%s", folder->path, CR_RUN_LOCK);
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) return cr_fail_file(err, CR_ERR_IO, path, "cannot create: %s", strerror(errno));
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        int saved = errno;
        long pid = saved == EWOULDBLOCK ? holder_pid(fd) : 0;
        close(fd);
        if (saved != EWOULDBLOCK)
            return cr_fail_file(err, CR_ERR_IO, path, "cannot lock: %s", strerror(saved));
        if (pid > 0)
            return cr_fail_file(err, CR_ERR_USAGE, folder->path,
                                "in use by another cnnrun run (PID %ld): wait for it to end, or "
                                "use another folder (--out)",
                                pid);
        return cr_fail_file(err, CR_ERR_USAGE, folder->path,
                            "in use by another cnnrun run: wait for it to end, or use another "
                            "folder (--out)");
    }
    char pid[32];
    int n = snprintf(pid, sizeof pid, "%ld\n", (long)getpid());
    if (ftruncate(fd, 0) != 0 || pwrite(fd, pid, (size_t)n, 0) != n) {
        int saved = errno;
        close(fd);
        return cr_fail_file(err, CR_ERR_IO, path, "cannot write: %s", strerror(saved));
    }
    folder->lock_fd = fd;
    return 0;
}

int cr_run_folder_open(const char *path, bool resume, cr_run_folder *out, cr_error *err) {
    memset(out, 0, sizeof *out);
    out->lock_fd = -1;
    if (snprintf(out->path, sizeof out->path, "%s", path) >= (int)sizeof out->path)
        return cr_fail_file(err, CR_ERR_USAGE, path, "run folder name too long");
    if (make_folders(path, &out->created, err) || take_lock(out, err)) return 1;
    bool holds_run = false;
    char foreign[512];
    int status = survey(out, &holds_run, foreign, sizeof foreign, err);
    if (!status && !resume && holds_run)
        status = cr_fail(err, CR_ERR_USAGE, (cr_mark){0}, NULL,
                         "%s already holds a training run (%s): continue it with --resume %s, "
                         "or start a new one in another folder (--out)",
                         path, CR_RUN_CHECKPOINT, path);
    else if (!status && !resume && foreign[0])
        status = cr_fail_file(err, CR_ERR_USAGE, path,
                              "holds files cnnrun did not write (%s): a new run needs an empty "
                              "or new folder (--out), so that none of them is replaced",
                              foreign);
    if (status) cr_run_folder_close(out);
    return status;
}

int cr_run_folder_open_next(const char *base, cr_run_folder *out, cr_error *err) {
    char path[4096];
    snprintf(path, sizeof path, "%s", base);
    for (int n = 2;; n++) {
        cr_error attempt = {0};
        if (cr_run_folder_open(path, false, out, &attempt) == 0) return 0;
        /* Only "taken" moves on; a folder that cannot be created is an error. */
        if (attempt.kind != CR_ERR_USAGE || n > 10000) {
            if (err) *err = attempt;
            if (err) err->mark.file = err->file;
            return 1;
        }
        if (snprintf(path, sizeof path, "%s-%d", base, n) >= (int)sizeof path)
            return cr_fail_file(err, CR_ERR_USAGE, base, "run folder name too long");
    }
}

void cr_run_folder_close(cr_run_folder *folder) {
    if (folder->lock_fd >= 0) close(folder->lock_fd);
    folder->lock_fd = -1;
}

void cr_run_folder_close_unused(cr_run_folder *folder) {
    if (folder->lock_fd >= 0 && folder->created) {
        char lock[4400];
        snprintf(lock, sizeof lock, "%s/%s", folder->path, CR_RUN_LOCK);
        /* rmdir fails, harmlessly, when anything else is in it; the lock
         * file then comes back for the next run. */
        unlink(lock);
        if (rmdir(folder->path) != 0) {
            int fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
            if (fd >= 0) close(fd);
        }
    }
    cr_run_folder_close(folder);
}
