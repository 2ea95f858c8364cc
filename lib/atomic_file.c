#include "atomic_file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* After the rename the folder's entry must reach the disk too. Best effort:
 * some file systems cannot fsync a folder. */
static void sync_folder_of(const char *path) {
    const char *slash = strrchr(path, '/');
    char folder[4096];
    if (!slash)
        snprintf(folder, sizeof folder, ".");
    else
        snprintf(folder, sizeof folder, "%.*s", slash == path ? 1 : (int)(slash - path), path);
    int fd = open(folder, O_RDONLY | O_DIRECTORY);
    if (fd >= 0) {
        fsync(fd);
        close(fd);
    }
}

static void release(cr_atomic_file *file) {
    free(file->path);
    free(file->temp);
    memset(file, 0, sizeof *file);
}

int cr_atomic_open(cr_atomic_file *file, const char *path, cr_error *err) {
    memset(file, 0, sizeof *file);
    size_t length = strlen(path);
    file->path = strdup(path);
    file->temp = malloc(length + sizeof ".tmp-XXXXXX");
    if (!file->path || !file->temp) {
        release(file);
        return cr_fail_file(err, CR_ERR_RUNTIME, path, "out of memory");
    }
    memcpy(file->temp, path, length);
    memcpy(file->temp + length, ".tmp-XXXXXX", sizeof ".tmp-XXXXXX");
    int fd = mkstemp(file->temp);
    if (fd < 0) {
        int saved_errno = errno;
        const char *slash = strrchr(path, '/');
        int folder_length = !slash ? 1 : slash == path ? 1 : (int)(slash - path);
        cr_fail_file(err, CR_ERR_IO, path, "cannot write: cannot create a file in '%.*s': %s",
                     folder_length, slash ? path : ".", strerror(saved_errno));
        release(file);
        return 1;
    }
    struct stat existing;
    fchmod(fd, stat(path, &existing) == 0 && S_ISREG(existing.st_mode) ? existing.st_mode & 07777
                                                                       : 0644);
    file->stream = fdopen(fd, "wb");
    if (!file->stream) {
        int saved_errno = errno;
        close(fd);
        unlink(file->temp);
        release(file);
        return cr_fail_file(err, CR_ERR_IO, path, "cannot write: %s", strerror(saved_errno));
    }
    return 0;
}

int cr_atomic_commit(cr_atomic_file *file, bool written, cr_error *err) {
    /* ferror: an earlier fprintf or fwrite into the stream failed (a full disk). */
    int status = !written || ferror(file->stream) || fflush(file->stream) != 0 ||
                 fsync(fileno(file->stream)) != 0;
    int saved_errno = errno;
    if (fclose(file->stream) != 0 && !status) {
        status = 1;
        saved_errno = errno;
    }
    if (!status && rename(file->temp, file->path) != 0) {
        status = 1;
        saved_errno = errno;
    }
    if (status) {
        unlink(file->temp);
        cr_fail_file(err, CR_ERR_IO, file->path, "cannot write: %s (the file was left unchanged)",
                     strerror(saved_errno ? saved_errno : EIO));
    } else {
        sync_folder_of(file->path);
    }
    release(file);
    return status;
}

int cr_write_file_atomic(const char *path, const void *data, size_t length, cr_error *err) {
    cr_atomic_file file;
    if (cr_atomic_open(&file, path, err)) return 1;
    bool written = fwrite(data, 1, length, file.stream) == length;
    return cr_atomic_commit(&file, written, err);
}
