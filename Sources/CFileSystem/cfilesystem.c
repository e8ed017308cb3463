#define _GNU_SOURCE
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <linux/btrfs.h>
#include <linux/fs.h>
#include <string.h>
#include <errno.h>
#include <sys/ioctl.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "cfilesystem.h"

int cfs_seek_data(void) { return SEEK_DATA; }
int cfs_seek_hole(void) { return SEEK_HOLE; }
long cfs_utime_omit(void) { return UTIME_OMIT; }

long cfs_flistxattr(int fd, char *list, size_t size) { return flistxattr(fd, list, size); }
long cfs_llistxattr(const char *path, char *list, size_t size) { return llistxattr(path, list, size); }
long cfs_fgetxattr(int fd, const char *name, void *value, size_t size) { return fgetxattr(fd, name, value, size); }
long cfs_lgetxattr(const char *path, const char *name, void *value, size_t size) { return lgetxattr(path, name, value, size); }
int cfs_fsetxattr(int fd, const char *name, const void *value, size_t size) { return fsetxattr(fd, name, value, size, 0); }
int cfs_lsetxattr(const char *path, const char *name, const void *value, size_t size) { return lsetxattr(path, name, value, size, 0); }
int cfs_lremovexattr(const char *path, const char *name) { return lremovexattr(path, name); }
int cfs_fremovexattr(int fd, const char *name) { return fremovexattr(fd, name); }

int cfs_ficlone(int destination, int source) { return ioctl(destination, FICLONE, source); }

long cfs_filesystem_type(const char *path) {
    struct statfs info;
    if (statfs(path, &info) != 0) return -1;
    return (long)info.f_type;
}

int cfs_btrfs_snapshot(const char *source, const char *parent, const char *name) {
    size_t length = strlen(name);
    if (length == 0) { errno = EINVAL; return -1; }
    if (length > BTRFS_SUBVOL_NAME_MAX) { errno = ENAMETOOLONG; return -1; }
    int from = open(source, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (from < 0) return -1;
    int into = open(parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (into < 0) { int saved = errno; close(from); errno = saved; return -1; }
    struct btrfs_ioctl_vol_args_v2 args;
    memset(&args, 0, sizeof args);
    args.fd = from;
    args.flags = BTRFS_SUBVOL_RDONLY;
    memcpy(args.name, name, length);
    int result = ioctl(into, BTRFS_IOC_SNAP_CREATE_V2, &args);
    int saved = errno;
    close(from);
    close(into);
    errno = saved;
    return result;
}

int cfs_btrfs_destroy(const char *parent, const char *name) {
    size_t length = strlen(name);
    if (length == 0) { errno = EINVAL; return -1; }
    if (length > BTRFS_PATH_NAME_MAX) { errno = ENAMETOOLONG; return -1; }
    int into = open(parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (into < 0) return -1;
    struct btrfs_ioctl_vol_args args;
    memset(&args, 0, sizeof args);
    memcpy(args.name, name, length);
    int result = ioctl(into, BTRFS_IOC_SNAP_DESTROY, &args);
    int saved = errno;
    close(into);
    errno = saved;
    return result;
}
