/* Regular-file checks before reading (see files.h). */
#include "files.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

const char *cr_file_type_name(unsigned mode) {
    if (S_ISREG(mode)) return "a regular file";
    if (S_ISDIR(mode)) return "a folder";
    if (S_ISFIFO(mode)) return "a FIFO (named pipe)";
    if (S_ISSOCK(mode)) return "a socket";
    if (S_ISCHR(mode)) return "a character device";
    if (S_ISBLK(mode)) return "a block device";
    return "not a regular file";
}

int cr_open_regular(const char *path, cr_error *err) {
    /* O_NONBLOCK: open() on a FIFO returns at once instead of waiting for a writer. */
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) {
        cr_fail_file(err, CR_ERR_IO, path, "cannot open: %s", strerror(errno));
        return -1;
    }
    struct stat info;
    if (fstat(fd, &info) != 0) {
        int saved = errno;
        close(fd);
        cr_fail_file(err, CR_ERR_IO, path, "cannot read: %s", strerror(saved));
        return -1;
    }
    if (!S_ISREG(info.st_mode)) {
        close(fd);
        cr_fail_file(err, CR_ERR_IO, path, "is %s, not a file", cr_file_type_name(info.st_mode));
        return -1;
    }
    int flags = fcntl(fd, F_GETFL);
    if (flags == -1 || fcntl(fd, F_SETFL, flags & ~O_NONBLOCK) == -1) {
        int saved = errno;
        close(fd);
        cr_fail_file(err, CR_ERR_IO, path, "cannot read: %s", strerror(saved));
        return -1;
    }
    return fd;
}

FILE *cr_fopen_regular(const char *path, cr_error *err) {
    int fd = cr_open_regular(path, err);
    if (fd < 0) return NULL;
    FILE *stream = fdopen(fd, "rb");
    if (!stream) {
        int saved = errno;
        close(fd);
        cr_fail_file(err, CR_ERR_IO, path, "cannot read: %s", strerror(saved));
    }
    return stream;
}
