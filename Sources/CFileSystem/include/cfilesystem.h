// What Swift's Glibc module leaves out and the staging copy needs: the xattr calls, and the
// SEEK_DATA, SEEK_HOLE and UTIME_OMIT constants, which glibc declares only under _GNU_SOURCE.
// Only compiler-provided types appear here, so this module defines none of glibc's own.
#ifndef CFILESYSTEM_H
#define CFILESYSTEM_H

#include <stddef.h>

int cfs_seek_data(void);
int cfs_seek_hole(void);
long cfs_utime_omit(void);

long cfs_flistxattr(int fd, char *list, size_t size);
long cfs_llistxattr(const char *path, char *list, size_t size);
long cfs_fgetxattr(int fd, const char *name, void *value, size_t size);
long cfs_lgetxattr(const char *path, const char *name, void *value, size_t size);
int cfs_fsetxattr(int fd, const char *name, const void *value, size_t size);
int cfs_lsetxattr(const char *path, const char *name, const void *value, size_t size);
int cfs_lremovexattr(const char *path, const char *name);
int cfs_fremovexattr(int fd, const char *name);

/// FICLONE: makes `destination` share `source`'s extents (a reflink); -1 with errno where the file system cannot.
int cfs_ficlone(int destination, int source);
/// statfs's f_type of the file system holding `path`; -1 with errno on failure.
long cfs_filesystem_type(const char *path);
/// A read-only btrfs snapshot of the subvolume `source`, made as `parent/name` (same file system).
int cfs_btrfs_snapshot(const char *source, const char *parent, const char *name);
/// Deletes the subvolume or snapshot `parent/name`.
int cfs_btrfs_destroy(const char *parent, const char *name);

#endif
