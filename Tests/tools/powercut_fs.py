#!/usr/bin/env python3
"""A file system that loses, on a power cut, everything that was not made durable.

    powercut_fs.py BACKING MOUNTPOINT

Serves the tree in BACKING at MOUNTPOINT, entirely from memory. Every change is volatile until it is
made durable the way POSIX says it is:
  - a file's contents (and size) by fsync or fdatasync on the file;
  - a folder's entries (files created, linked, renamed or removed in it) by fsync on the folder.
Unmounting is the power cut: only the durable state is written back to BACKING, which then holds
exactly what a machine would find on its disk after losing power at that moment. Metadata other than
names and contents (modes, owners, times) is not modelled.

POSIX and flock locks are left to the kernel (this file system implements neither), which handles them
locally, as for any single machine.
"""

import errno
import os
import shutil
import stat
import sys
import threading
import time

from fuse import FUSE, FuseOSError, Operations


class Node:
    def __init__(self, kind, mode):
        self.kind = kind              # 'file' or 'dir'
        self.mode = mode
        self.uid = os.getuid()
        self.gid = os.getgid()
        self.mtime = time.time()
        self.data = bytearray()       # volatile contents (files)
        self.durable = b""            # contents as of the last fsync (files)
        self.entries = {}             # volatile name -> Node (folders)
        self.durable_entries = {}     # entries as of the last fsync of the folder
        self.links = 0                # volatile names that point here
        self.open = 0


class PowerCutFS(Operations):
    def __init__(self, backing):
        self.backing = backing
        self.mutex = threading.RLock()
        self.handles = {}
        self.next_handle = 1
        self.root = self._load(backing)
        self.root.links = 1

    # ---- loading and the power cut -------------------------------------------------------------------

    def _load(self, path):
        """Reads the backing tree; all of it is durable."""
        info = os.lstat(path)
        if stat.S_ISDIR(info.st_mode):
            node = Node("dir", info.st_mode)
            for name in os.listdir(path):
                child = self._load(os.path.join(path, name))
                if child is not None:
                    node.entries[name] = child
                    child.links += 1
            node.durable_entries = dict(node.entries)
            return node
        if stat.S_ISREG(info.st_mode):
            node = Node("file", info.st_mode)
            with open(path, "rb") as f:
                node.durable = f.read()
            node.data = bytearray(node.durable)
            return node
        return None

    def _save(self, node, path):
        """Writes the durable state of `node` at `path`."""
        if node.kind == "dir":
            os.mkdir(path, stat.S_IMODE(node.mode) | 0o700)
            for name, child in node.durable_entries.items():
                self._save(child, os.path.join(path, name))
        else:
            with open(path, "wb") as f:
                f.write(node.durable)
            os.chmod(path, stat.S_IMODE(node.mode))

    def destroy(self, path):
        with self.mutex:
            staging = self.backing.rstrip("/") + ".powercut-staging"
            shutil.rmtree(staging, ignore_errors=True)
            self._save(self.root, staging)
            shutil.rmtree(self.backing)
            os.rename(staging, self.backing)

    # ---- paths ---------------------------------------------------------------------------------------

    def _resolve(self, path):
        node = self.root
        for part in [p for p in path.split("/") if p]:
            if node.kind != "dir" or part not in node.entries:
                raise FuseOSError(errno.ENOENT)
            node = node.entries[part]
        return node

    def _parent(self, path):
        head, name = os.path.split(path.rstrip("/"))
        parent = self._resolve(head or "/")
        if parent.kind != "dir":
            raise FuseOSError(errno.ENOTDIR)
        return parent, name

    def _handle(self, node):
        handle = self.next_handle
        self.next_handle += 1
        self.handles[handle] = node
        node.open += 1
        return handle

    def _node(self, path, fh):
        if fh is not None and fh in self.handles:
            return self.handles[fh]
        return self._resolve(path)

    # ---- metadata ------------------------------------------------------------------------------------

    def getattr(self, path, fh=None):
        with self.mutex:
            node = self._node(path, fh)
            size = len(node.data) if node.kind == "file" else 4096
            kind = stat.S_IFDIR if node.kind == "dir" else stat.S_IFREG
            return {
                "st_mode": kind | stat.S_IMODE(node.mode), "st_nlink": max(node.links, 1) + (1 if node.kind == "dir" else 0),
                "st_size": size, "st_uid": node.uid, "st_gid": node.gid, "st_atime": node.mtime,
                "st_mtime": node.mtime, "st_ctime": node.mtime, "st_blocks": (size + 511) // 512,
            }

    def chmod(self, path, mode):
        with self.mutex:
            node = self._resolve(path)
            node.mode = (node.mode & ~0o7777) | (mode & 0o7777)
            return 0

    def chown(self, path, uid, gid):
        with self.mutex:
            node = self._resolve(path)
            if uid != -1 and uid != 0xFFFFFFFF:
                node.uid = uid
            if gid != -1 and gid != 0xFFFFFFFF:
                node.gid = gid
            return 0

    def utimens(self, path, times=None):
        with self.mutex:
            node = self._resolve(path)
            node.mtime = times[1] if times else time.time()
            return 0

    def statfs(self, path):
        return {"f_bsize": 4096, "f_frsize": 4096, "f_blocks": 1 << 20, "f_bfree": 1 << 19, "f_bavail": 1 << 19,
                "f_files": 1 << 16, "f_ffree": 1 << 15, "f_favail": 1 << 15, "f_namemax": 255}

    def access(self, path, amode):
        with self.mutex:
            self._resolve(path)
            return 0

    # ---- folders -------------------------------------------------------------------------------------

    def readdir(self, path, fh):
        with self.mutex:
            node = self._resolve(path)
            return [".", ".."] + list(node.entries.keys())

    def opendir(self, path):
        with self.mutex:
            node = self._resolve(path)
            if node.kind != "dir":
                raise FuseOSError(errno.ENOTDIR)
            return self._handle(node)

    def releasedir(self, path, fh):
        with self.mutex:
            node = self.handles.pop(fh, None)
            if node is not None:
                node.open -= 1
            return 0

    def fsyncdir(self, path, datasync, fh):
        with self.mutex:
            node = self._node(path, fh)
            node.durable_entries = dict(node.entries)
            return 0

    def mkdir(self, path, mode):
        with self.mutex:
            parent, name = self._parent(path)
            if name in parent.entries:
                raise FuseOSError(errno.EEXIST)
            node = Node("dir", stat.S_IFDIR | (mode & 0o7777))
            node.links = 1
            parent.entries[name] = node
            return 0

    def rmdir(self, path):
        with self.mutex:
            parent, name = self._parent(path)
            node = parent.entries.get(name)
            if node is None:
                raise FuseOSError(errno.ENOENT)
            if node.kind != "dir":
                raise FuseOSError(errno.ENOTDIR)
            if node.entries:
                raise FuseOSError(errno.ENOTEMPTY)
            del parent.entries[name]
            node.links -= 1
            return 0

    # ---- names ---------------------------------------------------------------------------------------

    def create(self, path, mode, fi=None):
        with self.mutex:
            parent, name = self._parent(path)
            if name in parent.entries:
                raise FuseOSError(errno.EEXIST)
            node = Node("file", stat.S_IFREG | (mode & 0o7777))
            node.links = 1
            parent.entries[name] = node
            return self._handle(node)

    def unlink(self, path):
        with self.mutex:
            parent, name = self._parent(path)
            node = parent.entries.get(name)
            if node is None:
                raise FuseOSError(errno.ENOENT)
            if node.kind == "dir":
                raise FuseOSError(errno.EISDIR)
            del parent.entries[name]
            node.links -= 1
            return 0

    def link(self, target, source):
        """Creates `target` as a new name of `source`."""
        with self.mutex:
            node = self._resolve(source)
            if node.kind == "dir":
                raise FuseOSError(errno.EPERM)
            parent, name = self._parent(target)
            if name in parent.entries:
                raise FuseOSError(errno.EEXIST)
            parent.entries[name] = node
            node.links += 1
            return 0

    def rename(self, old, new):
        with self.mutex:
            old_parent, old_name = self._parent(old)
            node = old_parent.entries.get(old_name)
            if node is None:
                raise FuseOSError(errno.ENOENT)
            new_parent, new_name = self._parent(new)
            replaced = new_parent.entries.get(new_name)
            if replaced is node:
                return 0
            if replaced is not None:
                if replaced.kind == "dir" and replaced.entries:
                    raise FuseOSError(errno.ENOTEMPTY)
                replaced.links -= 1
            del old_parent.entries[old_name]
            new_parent.entries[new_name] = node
            return 0

    def symlink(self, target, source):
        raise FuseOSError(errno.EPERM)

    def readlink(self, path):
        raise FuseOSError(errno.EINVAL)

    def mknod(self, path, mode, dev):
        raise FuseOSError(errno.EPERM)

    # ---- contents ------------------------------------------------------------------------------------

    def open(self, path, flags):
        with self.mutex:
            node = self._resolve(path)
            if node.kind == "dir":
                raise FuseOSError(errno.EISDIR)
            if flags & os.O_TRUNC:
                node.data = bytearray()
            return self._handle(node)

    def release(self, path, fh):
        with self.mutex:
            node = self.handles.pop(fh, None)
            if node is not None:
                node.open -= 1
            return 0

    def read(self, path, size, offset, fh):
        with self.mutex:
            node = self._node(path, fh)
            return bytes(node.data[offset:offset + size])

    def write(self, path, data, offset, fh):
        with self.mutex:
            node = self._node(path, fh)
            if offset > len(node.data):
                node.data.extend(b"\0" * (offset - len(node.data)))
            node.data[offset:offset + len(data)] = data
            node.mtime = time.time()
            return len(data)

    def truncate(self, path, length, fh=None):
        with self.mutex:
            node = self._node(path, fh)
            if length < len(node.data):
                del node.data[length:]
            else:
                node.data.extend(b"\0" * (length - len(node.data)))
            return 0

    def flush(self, path, fh):
        return 0

    def fsync(self, path, datasync, fh):
        with self.mutex:
            node = self._node(path, fh)
            node.durable = bytes(node.data)
            return 0


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: powercut_fs.py BACKING MOUNTPOINT")
    backing, mountpoint = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
    FUSE(PowerCutFS(backing), mountpoint, foreground=True, nothreads=False, use_ino=False,
         attr_timeout=0, entry_timeout=0, negative_timeout=0, default_permissions=True, hard_remove=True)


if __name__ == "__main__":
    main()
