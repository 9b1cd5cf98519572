#!/usr/bin/python3
"""faultfs -- a FUSE pass-through filesystem for crash / fault injection tests.

Usage
  faultfs.py BACKING MOUNTPOINT --ctl SOCKET [--direct-io] [--meta-on-fsync]
             [--no-sync-on-unmount] [--backing-fsync] [-o EXTRA,OPTS] [--debug]
  faultfs.py ctl SOCKET 'COMMAND ...'          (send one command, print reply)

Runs in the foreground (libfuse2 via fusepy), mounted with
allow_other,default_permissions,hard_remove,big_writes. Unmount with
`fusermount3 -u MNT`, `umount [-l] MNT` or SIGTERM/SIGINT. Needs /dev/fuse and
root (or fusermount + user_allow_other for allow_other). Works inside
`unshare --mount` (the mount is then only visible in that namespace).

Consistency model ("page cache" over a durable backing directory)
  * BACKING always holds exactly the durable state. Nothing reaches it except:
    - fsync/fdatasync(file): the file's content and size (+mode/times) become
      durable. If the file has no durable name yet, its durable content lives
      in an anonymous O_TMPFILE inode on the backing fs until a namespace
      commit links it (it is lost at a cut if never linked: like an orphan).
    - namespace commit = fsync of ANY directory (or the `sync` command): all
      pending create/unlink/rename/link/symlink of non-directories become
      durable at once (a journaling fs commit). A created file that was never
      fsynced becomes durable as an empty file. With --meta-on-fsync a file
      fsync also commits the namespace (ext4-like, weaker model).
    - directory ops are synchronous: mkdir is applied at once; rmdir and
      renaming a directory first commit the namespace, then apply.
    - truncate is part of the file's content: durable at that file's fsync.
    - chmod/chown/utimens on files: durable at fsync or namespace commit;
      on directories: applied at once.
  * Writes, truncates and namespace changes are visible to readers through
    the mount immediately (in-memory overlay, 4 KiB blocks).
  * `cut` (power cut): under the global lock, drops every unsynced byte and
    every uncommitted namespace change, closes all backing fds (orphans
    vanish); from then on every operation fails with EIO until unmount.
  * Clean unmount without a cut persists everything (like umount syncing),
    unless --no-sync-on-unmount (then unmount == cut).
  * POSIX/BSD locks: no `lock` op is implemented, so the kernel handles
    fcntl()/flock() locks locally on the FUSE inode (correct for processes
    on this machine). Shared writable mmap works (no direct_io by default),
    which SQLite's WAL-index (-shm) needs.

Control protocol (UNIX stream socket at --ctl, one command per line, one JSON
reply line per command, sent only once the command has taken effect):
  ping                      -> {"ok":true,"mounted":bool,"cut":bool,"pid":N}
  status                    -> counters, rules, dirty bytes, pending ns ops
  cut                       -> power cut (see above); reply after it is in effect
  sync                      -> persist everything (like sync(2))
  fault OP [ERR] [count=N|prob=P seed=S] [after=K] [path=GLOB] [drop=1]
       OP: read write fsync (fsync+fdatasync) fdatasync fsyncdir truncate
           open create unlink rename mkdir rmdir flush any
       ERR: errno name, default EIO (e.g. ENOSPC, EROFS)
       count=N: fail the next N matching calls; prob=P: fail with probability
       P using random.Random(S); neither: fail always. after=K: let the first
       K matching calls pass. path=GLOB matched (fnmatch) against the path
       and its basename, e.g. path=*.db-wal. drop=1 (fsync only): Linux-like
       "fsyncgate": the failed file's dirty data is marked clean and will not
       be persisted by a later fsync unless rewritten.
  heal [OP]                 -> remove all rules (or those for OP)
"""
import ctypes
import errno
import fnmatch
import json
import os
import random
import socket
import stat
import sys
import threading
import time

try:
    import fuse  # upstream name
    if not hasattr(fuse, "FUSE"):
        raise ImportError
except ImportError:  # Debian's python3-fusepy installs it as fusepy.py
    sys.path.append("/usr/lib/python3/dist-packages")
    import fusepy as fuse

FuseOSError = fuse.FuseOSError
BS = 4096
OPS = ("getattr", "read", "write", "fsync", "fdatasync", "fsyncdir", "truncate", "open",
       "create", "unlink", "rename", "mkdir", "rmdir", "flush")


def now_ns():
    return time.time_ns()


_libc = ctypes.CDLL(None, use_errno=True)
AT_FDCWD, AT_EMPTY_PATH, AT_SYMLINK_FOLLOW = -100, 0x1000, 0x400


def flink(fd, dst):
    """give the inode behind fd (possibly an O_TMPFILE / unlinked-but-open file) the name dst"""
    if _libc.linkat(fd, b"", AT_FDCWD, os.fsencode(dst), AT_EMPTY_PATH) == 0:
        return
    e = ctypes.get_errno()
    if e not in (errno.ENOENT, errno.EPERM, errno.EINVAL):
        raise OSError(e, os.strerror(e), dst)
    # without CAP_DAC_READ_SEARCH: the /proc magic-link way
    if _libc.linkat(AT_FDCWD, b"/proc/self/fd/%d" % fd, AT_FDCWD, os.fsencode(dst), AT_SYMLINK_FOLLOW) != 0:
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e), dst)


class Node:
    _next = 1

    def __init__(self, kind, mode, uid, gid):
        self.id = Node._next
        Node._next += 1
        self.kind = kind  # 'f' file, 'd' dir, 'l' symlink
        self.mode = mode
        self.uid, self.gid = uid, gid
        self.atime = self.mtime = self.ctime = now_ns()
        self.nlink = 0  # volatile names
        self.attrs_dirty = True  # mode/owner not yet persisted
        self.opens = 0
        self.hint = "?"  # last known volatile path (fault path matching)
        # durable side
        self.dlocs = set()  # {(dirnode, name)} durable names (files/symlinks)
        self.bfd = None  # fd on the backing inode holding durable content
        self.tmpfile = False
        # file content: volatile = pages over durable (bfd, first min(dsize, floor) bytes)
        self.size = 0
        self.dsize = 0
        self.floor = None
        self.pages = {}
        self.dirty = set()
        # dirs (dirs are synchronous: volatile path == backing path)
        self.children = None
        self.dchildren = None
        self.parent = None
        self.name = ""
        self.target = None  # symlink


class Rule:
    def __init__(self, op, err, count, prob, seed, after, glob, drop):
        self.op, self.err, self.count, self.prob = op, err, count, prob
        self.rng = random.Random(seed)
        self.seed, self.after, self.glob, self.drop = seed, after, glob, drop
        self.hits = 0

    def describe(self):
        return dict(op=self.op, err=errno.errorcode.get(self.err, self.err), count=self.count,
                    prob=self.prob, seed=self.seed, after=self.after, path=self.glob,
                    drop=self.drop, hits=self.hits)


class FaultFS(fuse.Operations):
    use_ns = True
    flag_nullpath_ok = 1  # fusepy copies this flag: ops on unlinked-open files get path=None
    # Not implemented on purpose -> libfuse answers ENOSYS, which the kernel caches:
    getxattr = setxattr = listxattr = removexattr = None  # avoids a GETXATTR per write
    access = None  # default_permissions makes the kernel check modes itself
    lock = None  # kernel-local POSIX locks
    ioctl = bmap = None

    def __init__(self, root, opts):
        self.root = os.path.realpath(root)
        self.opts = opts
        self.lock_ = threading.RLock()
        self.mounted = False
        self.cut_done = False
        self.cut_info = None
        self.rules = []
        self.stats = {op: [0, 0] for op in OPS}  # calls, injected
        self.handles = {}
        self.next_fh = 1
        self.tmpseq = 0
        self.nsseq = 0  # namespace changes since last commit
        self.dirs = []
        st = os.lstat(self.root)
        r = Node("d", st.st_mode, st.st_uid, st.st_gid)
        r.atime, r.mtime, r.ctime = st.st_atime_ns, st.st_mtime_ns, st.st_ctime_ns
        r.nlink = 1
        r.hint = "/"
        self.rootnode = r
        self.byino = {}
        self.nodes = {r.id: r}
        # O_TMPFILE is needed for fsynced-but-unnamed files
        fd = os.open(self.root, os.O_TMPFILE | os.O_RDWR, 0o600)
        os.close(fd)

    # ------------------------------------------------------------ helpers
    def _bdir(self, d):
        parts = []
        while d is not self.rootnode:
            parts.append(d.name)
            d = d.parent
        return os.path.join(self.root, *reversed(parts)) if parts else self.root

    def _vpath(self, d, name):
        p = self._bdir(d)[len(self.root):] or "/"
        return (p.rstrip("/") + "/" + name) if name else p

    def _load(self, d):
        if d.children is not None:
            return
        d.children, d.dchildren = {}, {}
        self.dirs.append(d)
        bdir = self._bdir(d)
        for ent in os.scandir(bdir):
            st = ent.stat(follow_symlinks=False)
            if stat.S_ISDIR(st.st_mode):
                n = Node("d", st.st_mode, st.st_uid, st.st_gid)
                n.parent, n.name = d, ent.name
            else:
                key = (st.st_dev, st.st_ino)
                n = self.byino.get(key)
                if n is None:
                    kind = "l" if stat.S_ISLNK(st.st_mode) else "f"
                    n = Node(kind, st.st_mode, st.st_uid, st.st_gid)
                    self.byino[key] = n
                    if kind == "l":
                        n.target = os.readlink(ent.path)
                    n.size = n.dsize = st.st_size
                    n.attrs_dirty = False
                n.dlocs.add((d, ent.name))
                d.dchildren[ent.name] = n
            n.atime, n.mtime, n.ctime = st.st_atime_ns, st.st_mtime_ns, st.st_ctime_ns
            n.nlink += 1
            n.hint = self._vpath(d, ent.name)
            self.nodes[n.id] = n
            d.children[ent.name] = n

    def _lookup(self, path):
        n = self.rootnode
        if path in ("/", ""):
            return n
        for part in path.strip("/").split("/"):
            if n.kind != "d":
                raise FuseOSError(errno.ENOTDIR)
            self._load(n)
            n = n.children.get(part)
            if n is None:
                raise FuseOSError(errno.ENOENT)
        return n

    def _parent(self, path):
        head, name = os.path.split(path.rstrip("/"))
        d = self._lookup(head or "/")
        if d.kind != "d":
            raise FuseOSError(errno.ENOTDIR)
        self._load(d)
        return d, name

    def _node(self, path, fi):
        if fi is not None and getattr(fi, "fh", 0) in self.handles:
            return self.handles[fi.fh]
        if path is None:
            raise FuseOSError(errno.EBADF)
        return self._lookup(path)

    def _fault(self, op, node=None, path=None):
        s = self.stats[op]
        s[0] += 1
        if not self.rules:
            return
        p = path or (node.hint if node is not None else "?")
        for r in self.rules:
            if not (r.op == op or r.op == "any" or (r.op == "fsync" and op == "fdatasync")):
                continue
            if r.glob and not (fnmatch.fnmatchcase(p, r.glob) or fnmatch.fnmatchcase(os.path.basename(p), r.glob)):
                continue
            if r.after > 0:
                r.after -= 1
                continue
            if r.prob is not None and r.rng.random() >= r.prob:
                continue
            if r.count is not None:
                if r.count <= 0:
                    continue
                r.count -= 1
            r.hits += 1
            s[1] += 1
            if r.drop and node is not None and op in ("fsync", "fdatasync"):
                node.dirty.clear()  # data stays visible but is never persisted
            raise FuseOSError(r.err)

    def _ensure_bfd(self, n):
        if n.bfd is not None:
            return
        if n.dlocs:
            d, name = next(iter(n.dlocs))
            p = os.path.join(self._bdir(d), name)
            try:
                n.bfd = os.open(p, os.O_RDWR)
            except PermissionError:
                n.bfd = os.open(p, os.O_RDONLY)
        else:  # no durable name yet: anonymous inode on the backing fs
            n.bfd = os.open(self.root, os.O_TMPFILE | os.O_RDWR, 0o600)
            n.tmpfile = True
            n.dsize = 0

    def _base(self, n, off, length):
        """durable bytes [off, off+length) as they appear in the volatile view"""
        lim = n.dsize if n.floor is None else min(n.dsize, n.floor)
        take = max(0, min(off + length, lim) - off)
        data = b""
        if take:
            self._ensure_bfd(n)
            data = os.pread(n.bfd, take, off)
        if len(data) < length:
            data += bytes(length - len(data))
        return data

    def _read(self, n, off, size):
        end = min(off + size, n.size)
        if off >= end:
            return b""
        out = []
        b, last = off // BS, (end - 1) // BS
        pages = n.pages
        run = None
        while b <= last:
            pg = pages.get(b)
            if pg is None:
                if run is None:
                    run = b
            else:
                if run is not None:
                    out.append(self._base(n, run * BS, (b - run) * BS))
                    run = None
                out.append(pg)
            b += 1
        if run is not None:
            out.append(self._base(n, run * BS, (last + 1 - run) * BS))
        buf = b"".join(out)
        s = off - (off // BS) * BS
        return buf[s:s + end - off]

    def _write(self, n, off, data):
        pos, total = 0, len(data)
        pages, dirty = n.pages, n.dirty
        while pos < total:
            b, bo = divmod(off + pos, BS)
            k = min(BS - bo, total - pos)
            if k == BS:
                pg = bytearray(data[pos:pos + BS])
            else:
                pg = pages.get(b)
                if pg is None:
                    pg = bytearray(self._base(n, b * BS, BS))
                pg[bo:bo + k] = data[pos:pos + k]
            pages[b] = pg
            dirty.add(b)
            pos += k
        if off + total > n.size:
            n.size = off + total
        n.mtime = n.ctime = now_ns()

    def _truncate(self, n, length):
        if length < n.size:
            nb = -(-length // BS)
            for b in [b for b in n.pages if b >= nb]:
                del n.pages[b]
                n.dirty.discard(b)
            if length % BS:
                b = length // BS
                pg = n.pages.get(b)
                if pg is None:
                    pg = bytearray(self._base(n, b * BS, BS))
                pg[length % BS:] = bytes(BS - length % BS)
                n.pages[b] = pg
                n.dirty.add(b)
            n.floor = length if n.floor is None else min(n.floor, length)
        n.size = length
        n.mtime = n.ctime = now_ns()

    def _persist(self, n):
        """fsync: make the file's volatile content durable in its backing inode"""
        if n.kind != "f":
            return
        self._ensure_bfd(n)
        fd = n.bfd
        if n.floor is not None and n.floor < n.dsize:
            os.ftruncate(fd, n.floor)
        if n.dirty:
            blocks = sorted(n.dirty)
            i = 0
            while i < len(blocks):
                j = i
                while j + 1 < len(blocks) and blocks[j + 1] == blocks[j] + 1:
                    j += 1
                start = blocks[i] * BS
                data = b"".join(n.pages.pop(b) for b in blocks[i:j + 1])
                data = data[:max(0, n.size - start)]
                if data:
                    os.pwrite(fd, data, start)
                i = j + 1
            n.dirty.clear()
        if n.size != n.dsize or n.floor is not None:
            os.ftruncate(fd, n.size)
        n.dsize, n.floor = n.size, None
        self._persist_attrs(n, times_only=not n.attrs_dirty)
        if self.opts.backing_fsync:
            os.fsync(fd)

    def _persist_attrs(self, n, times_only=False):
        if n.bfd is None:
            return
        try:
            if not times_only:
                os.fchmod(n.bfd, stat.S_IMODE(n.mode))
                if os.geteuid() == 0:
                    os.fchown(n.bfd, n.uid, n.gid)
                n.attrs_dirty = False
            os.utime(n.bfd, ns=(n.atime, n.mtime))
        except OSError:
            pass

    def _alive(self, n):
        return n.nlink > 0 or n.opens > 0

    def _maybe_free(self, n):
        if n.kind == "d" or self._alive(n):
            return
        n.pages.clear()
        n.dirty.clear()
        if not n.dlocs:
            if n.bfd is not None:
                os.close(n.bfd)
                n.bfd = None
            self.nodes.pop(n.id, None)

    def _commit_ns(self):
        """make all pending namespace changes durable (directory fsync)"""
        adds, stale = [], []
        for d in self.dirs:
            for name, n in d.dchildren.items():
                if d.children.get(name) is not n:
                    stale.append((d, name, n))
            for name, n in d.children.items():
                if n.kind != "d" and d.dchildren.get(name) is not n:
                    adds.append((d, name, n))
        if not adds and not stale:
            return 0
        for d, name, n in stale:
            if n.kind == "f" and self._alive(n):
                self._ensure_bfd(n)
        staged = []
        for d, name, n in adds:
            self.tmpseq += 1
            tmp = os.path.join(self._bdir(d), ".faultfs-tmp-%d-%d" % (os.getpid(), self.tmpseq))
            if n.kind == "l":
                os.symlink(n.target, tmp)
            elif n.bfd is None and not n.dlocs:  # never fsynced: durable as empty file
                n.bfd = os.open(tmp, os.O_CREAT | os.O_EXCL | os.O_RDWR, 0o600)
                n.dsize = 0
                self._persist_attrs(n)
            else:
                self._ensure_bfd(n)
                flink(n.bfd, tmp)
                self._persist_attrs(n)
            staged.append((tmp, d, name, n))
        replaced = {(d.id, name) for d, name, n in adds}
        for d, name, n in stale:
            if (d.id, name) not in replaced:
                os.unlink(os.path.join(self._bdir(d), name))
            del d.dchildren[name]
            n.dlocs.discard((d, name))
        for tmp, d, name, n in staged:
            os.rename(tmp, os.path.join(self._bdir(d), name))
            d.dchildren[name] = n
            n.dlocs.add((d, name))
            n.tmpfile = False
        for d, name, n in stale:
            if not n.dlocs and not self._alive(n):
                self._maybe_free(n)
        self.nsseq = 0
        return len(adds) + len(stale)

    def _sync_all(self):
        for n in list(self.nodes.values()):
            if n.kind == "f" and self._alive(n) and (n.dirty or n.floor is not None or n.size != n.dsize):
                self._persist(n)
        return self._commit_ns()

    def _checkcut(self):
        if self.cut_done:
            raise FuseOSError(errno.EIO)

    # ------------------------------------------------------------ FUSE ops
    def init(self, path):
        self.mounted = True

    def destroy(self, path):
        with self.lock_:
            if not self.cut_done:
                if self.opts.sync_on_unmount:
                    self._sync_all()
                else:
                    self._do_cut()
            for n in self.nodes.values():
                if n.bfd is not None:
                    os.close(n.bfd)
                    n.bfd = None
            self.mounted = False

    def getattr(self, path, fi=None):
        with self.lock_:
            if self.cut_done and path != "/":
                raise FuseOSError(errno.EIO)
            self.stats["getattr"][0] += 1
            n = self._node(path, fi)
            if n.kind == "f":
                size = n.size
            elif n.kind == "l":
                size = len(os.fsencode(n.target))
            else:
                size = 4096
            nlink = n.nlink if n.kind != "d" else 2
            return dict(st_mode=n.mode, st_nlink=nlink, st_size=size, st_uid=n.uid, st_gid=n.gid,
                        st_atime=n.atime, st_mtime=n.mtime, st_ctime=n.ctime,
                        st_blocks=(size + 511) // 512, st_blksize=BS)

    def readdir(self, path, fh):
        with self.lock_:
            self._checkcut()
            d = self._lookup(path)
            if d.kind != "d":
                raise FuseOSError(errno.ENOTDIR)
            self._load(d)
            return [".", ".."] + list(d.children)

    def readlink(self, path):
        with self.lock_:
            self._checkcut()
            n = self._lookup(path)
            if n.kind != "l":
                raise FuseOSError(errno.EINVAL)
            return n.target

    def statfs(self, path):
        sv = os.statvfs(self.root)
        return {k: getattr(sv, k) for k in ("f_bsize", "f_frsize", "f_blocks", "f_bfree", "f_bavail",
                                             "f_files", "f_ffree", "f_favail", "f_flag", "f_namemax")}

    def _new_handle(self, n, fi, path):
        fh = self.next_fh
        self.next_fh += 1
        self.handles[fh] = n
        n.opens += 1
        n.hint = path
        fi.fh = fh
        fi.keep_cache = 0
        fi.direct_io = 1 if (self.opts.direct_io and not path.endswith("-shm")) else 0
        return 0

    def open(self, path, fi):
        with self.lock_:
            self._checkcut()
            n = self._lookup(path)
            self._fault("open", n, path)
            return self._new_handle(n, fi, path)

    def create(self, path, mode, fi):
        with self.lock_:
            self._checkcut()
            self._fault("create", None, path)
            d, name = self._parent(path)
            n = d.children.get(name)
            if n is None:
                uid, gid, _ = fuse.fuse_get_context()
                n = Node("f", stat.S_IFREG | stat.S_IMODE(mode), uid, gid)
                n.nlink = 1
                self.nodes[n.id] = n
                d.children[name] = n
                d.mtime = d.ctime = now_ns()
                self.nsseq += 1
            elif fi.flags & os.O_EXCL:
                raise FuseOSError(errno.EEXIST)
            return self._new_handle(n, fi, path)

    def mknod(self, path, mode, dev):
        if not stat.S_ISREG(mode):
            raise FuseOSError(errno.EPERM)
        with self.lock_:
            self._checkcut()
            self._fault("create", None, path)
            d, name = self._parent(path)
            if name in d.children:
                raise FuseOSError(errno.EEXIST)
            uid, gid, _ = fuse.fuse_get_context()
            n = Node("f", mode, uid, gid)
            n.nlink = 1
            n.hint = path
            self.nodes[n.id] = n
            d.children[name] = n
            self.nsseq += 1
            return 0

    def read(self, path, size, offset, fi):
        with self.lock_:
            self._checkcut()
            n = self._node(path, fi)
            self._fault("read", n)
            return self._read(n, offset, size)

    def write(self, path, data, offset, fi):
        with self.lock_:
            self._checkcut()
            n = self._node(path, fi)
            self._fault("write", n)
            self._write(n, offset, data)
            return len(data)

    def truncate(self, path, length, fi=None):
        with self.lock_:
            self._checkcut()
            n = self._node(path, fi)
            if n.kind != "f":
                raise FuseOSError(errno.EISDIR)
            self._fault("truncate", n)
            self._truncate(n, length)
            return 0

    def flush(self, path, fi):
        with self.lock_:
            self._checkcut()
            n = self._node(path, fi)
            self._fault("flush", n)
            return 0

    def release(self, path, fi):
        with self.lock_:
            n = self.handles.pop(fi.fh, None)
            if n is not None:
                n.opens -= 1
                if not self.cut_done:
                    self._maybe_free(n)
            return 0

    def fsync(self, path, datasync, fi):
        with self.lock_:
            self._checkcut()
            n = self._node(path, fi)
            self._fault("fdatasync" if datasync else "fsync", n)
            self._persist(n)
            if self.opts.meta_on_fsync:
                self._commit_ns()
            return 0

    def opendir(self, path):
        with self.lock_:
            self._checkcut()
            n = self._lookup(path)
            if n.kind != "d":
                raise FuseOSError(errno.ENOTDIR)
            return 0

    def fsyncdir(self, path, datasync, fh):
        with self.lock_:
            self._checkcut()
            self._fault("fsyncdir", None, path or "/")
            self._commit_ns()
            return 0

    def unlink(self, path):
        with self.lock_:
            self._checkcut()
            d, name = self._parent(path)
            n = d.children.get(name)
            if n is None:
                raise FuseOSError(errno.ENOENT)
            if n.kind == "d":
                raise FuseOSError(errno.EISDIR)
            self._fault("unlink", n, path)
            del d.children[name]
            n.nlink -= 1
            n.ctime = d.mtime = d.ctime = now_ns()
            self.nsseq += 1
            self._maybe_free(n)
            return 0

    def rename(self, old, new):
        with self.lock_:
            self._checkcut()
            self._fault("rename", None, old)
            d1, n1 = self._parent(old)
            d2, n2 = self._parent(new)
            n = d1.children.get(n1)
            if n is None:
                raise FuseOSError(errno.ENOENT)
            tgt = d2.children.get(n2)
            if tgt is n:
                return 0
            if n.kind == "d":
                if tgt is not None:
                    if tgt.kind != "d":
                        raise FuseOSError(errno.ENOTDIR)
                    self._load(tgt)
                    if tgt.children:
                        raise FuseOSError(errno.ENOTEMPTY)
                p = d2
                while p is not None:
                    if p is n:
                        raise FuseOSError(errno.EINVAL)
                    p = p.parent
                self._commit_ns()  # directory renames are synchronous
                os.rename(os.path.join(self._bdir(d1), n1), os.path.join(self._bdir(d2), n2))
                if tgt is not None:
                    self.dirs = [x for x in self.dirs if x is not tgt]
                del d1.children[n1]
                d2.children[n2] = n
                n.parent, n.name = d2, n2
                return 0
            if tgt is not None:
                if tgt.kind == "d":
                    raise FuseOSError(errno.EISDIR)
                tgt.nlink -= 1
                self._maybe_free(tgt)
            if n2 in d2.dchildren and d2.dchildren[n2].kind == "d":
                self._commit_ns()
            del d1.children[n1]
            d2.children[n2] = n
            n.hint = new
            n.ctime = now_ns()
            self.nsseq += 1
            return 0

    def link(self, target, source):
        # fusepy: link(target=new name, source=existing)
        with self.lock_:
            self._checkcut()
            n = self._lookup(source)
            if n.kind == "d":
                raise FuseOSError(errno.EPERM)
            d, name = self._parent(target)
            if name in d.children:
                raise FuseOSError(errno.EEXIST)
            d.children[name] = n
            n.nlink += 1
            self.nsseq += 1
            return 0

    def symlink(self, target, source):
        # fusepy: symlink(target=link path, source=link contents)
        with self.lock_:
            self._checkcut()
            d, name = self._parent(target)
            if name in d.children:
                raise FuseOSError(errno.EEXIST)
            uid, gid, _ = fuse.fuse_get_context()
            n = Node("l", stat.S_IFLNK | 0o777, uid, gid)
            n.target = source
            n.nlink = 1
            self.nodes[n.id] = n
            d.children[name] = n
            self.nsseq += 1
            return 0

    def mkdir(self, path, mode):
        with self.lock_:
            self._checkcut()
            self._fault("mkdir", None, path)
            d, name = self._parent(path)
            if name in d.children:
                raise FuseOSError(errno.EEXIST)
            if name in d.dchildren:
                self._commit_ns()
            bp = os.path.join(self._bdir(d), name)
            os.mkdir(bp, stat.S_IMODE(mode))
            uid, gid, _ = fuse.fuse_get_context()
            try:
                os.chown(bp, uid, gid)
            except OSError:
                pass
            st = os.lstat(bp)
            n = Node("d", st.st_mode, uid, gid)
            n.parent, n.name, n.nlink = d, name, 1
            n.children, n.dchildren = {}, {}
            self.dirs.append(n)
            self.nodes[n.id] = n
            d.children[name] = n
            return 0

    def rmdir(self, path):
        with self.lock_:
            self._checkcut()
            self._fault("rmdir", None, path)
            n = self._lookup(path)
            if n.kind != "d":
                raise FuseOSError(errno.ENOTDIR)
            self._load(n)
            if n.children:
                raise FuseOSError(errno.ENOTEMPTY)
            self._commit_ns()
            os.rmdir(self._bdir(n))
            del n.parent.children[n.name]
            self.dirs = [x for x in self.dirs if x is not n]
            self.nodes.pop(n.id, None)
            return 0

    def chmod(self, path, mode):
        with self.lock_:
            self._checkcut()
            n = self._lookup(path)
            n.mode = (n.mode & ~0o7777) | stat.S_IMODE(mode)
            n.attrs_dirty = True
            n.ctime = now_ns()
            if n.kind == "d":
                os.chmod(self._bdir(n), stat.S_IMODE(mode))
            return 0

    def chown(self, path, uid, gid):
        with self.lock_:
            self._checkcut()
            n = self._lookup(path)
            if uid not in (-1, 0xFFFFFFFF):
                n.uid = uid
            if gid not in (-1, 0xFFFFFFFF):
                n.gid = gid
            n.attrs_dirty = True
            if n.kind == "d":
                os.chown(self._bdir(n), n.uid, n.gid)
            return 0

    def utimens(self, path, times=None):
        with self.lock_:
            self._checkcut()
            n = self._lookup(path)
            if times is None:
                t = now_ns()
                times = (t, t)
            n.atime, n.mtime = times
            if n.kind == "d":
                os.utime(self._bdir(n), ns=times)
            return 0

    # ------------------------------------------------------------ control
    def _do_cut(self):
        dropped = sum(len(n.dirty) for n in self.nodes.values()) * BS
        pending = self.nsseq
        self.cut_done = True
        for n in self.nodes.values():
            n.pages = {}
            n.dirty = set()
            if n.bfd is not None:
                try:
                    os.close(n.bfd)
                except OSError:
                    pass
                n.bfd = None
        self.cut_info = dict(dropped_dirty_bytes_approx=dropped, pending_ns_ops=pending, at=time.time())
        return self.cut_info

    def command(self, line):
        parts = line.split()
        if not parts:
            return dict(ok=False, error="empty command")
        cmd, args = parts[0].lower(), parts[1:]
        if cmd == "ping":
            return dict(ok=True, mounted=self.mounted, cut=self.cut_done, pid=os.getpid())
        with self.lock_:
            if cmd == "cut":
                if self.cut_done:
                    return dict(ok=True, cut=True, already=True)
                info = self._do_cut()
                return dict(ok=True, cut=True, **info)
            if cmd == "sync":
                if self.cut_done:
                    return dict(ok=False, error="after cut")
                return dict(ok=True, ns_ops=self._sync_all())
            if cmd == "heal":
                before = len(self.rules)
                self.rules = [r for r in self.rules if args and r.op != args[0]]
                return dict(ok=True, removed=before - len(self.rules))
            if cmd == "status":
                dirty = sum(len(n.dirty) for n in self.nodes.values()) * BS
                return dict(ok=True, mounted=self.mounted, cut=self.cut_done, cut_info=self.cut_info,
                            dirty_bytes_approx=dirty, pending_ns_ops=self.nsseq,
                            open_handles=len(self.handles),
                            stats={k: dict(calls=v[0], injected=v[1]) for k, v in self.stats.items() if v[0]},
                            rules=[r.describe() for r in self.rules])
            if cmd == "fault":
                if not args:
                    return dict(ok=False, error="fault OP [ERR] [count=N|prob=P seed=S] [after=K] [path=GLOB] [drop=1]")
                op = args[0].lower()
                if op not in OPS and op != "any":
                    return dict(ok=False, error="unknown op %s" % op)
                err, kv = errno.EIO, {}
                for a in args[1:]:
                    if "=" in a:
                        k, v = a.split("=", 1)
                        kv[k] = v
                    else:
                        err = getattr(errno, a.upper(), None)
                        if not isinstance(err, int):
                            return dict(ok=False, error="unknown errno %s" % a)
                try:
                    r = Rule(op, err, int(kv["count"]) if "count" in kv else None,
                             float(kv["prob"]) if "prob" in kv else None,
                             int(kv.get("seed", "0")), int(kv.get("after", "0")),
                             kv.get("path"), kv.get("drop", "0") not in ("0", "false", ""))
                except ValueError as e:
                    return dict(ok=False, error=str(e))
                self.rules.append(r)
                return dict(ok=True, rule=r.describe())
        return dict(ok=False, error="unknown command %s" % cmd)


def serve_ctl(fs, path):
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(path)
    os.chmod(path, 0o600)
    srv.listen(16)

    def client(conn):
        with conn:
            f = conn.makefile("rwb", buffering=0)
            buf = b""
            while True:
                chunk = conn.recv(4096)
                if not chunk:
                    return
                buf += chunk
                while b"\n" in buf:
                    line, buf = buf.split(b"\n", 1)
                    try:
                        rep = fs.command(line.decode().strip())
                    except Exception as e:  # never kill the server
                        rep = dict(ok=False, error="%s: %s" % (type(e).__name__, e))
                    conn.sendall(json.dumps(rep).encode() + b"\n")

    def accept_loop():
        while True:
            try:
                conn, _ = srv.accept()
            except OSError:
                return
            threading.Thread(target=client, args=(conn,), daemon=True).start()

    threading.Thread(target=accept_loop, daemon=True).start()
    return srv


def ctl_main(argv):
    if len(argv) < 2:
        print("usage: faultfs.py ctl SOCKET 'COMMAND ...'", file=sys.stderr)
        return 2
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(argv[0])
    s.sendall(" ".join(argv[1:]).encode() + b"\n")
    buf = b""
    while not buf.endswith(b"\n"):
        chunk = s.recv(65536)
        if not chunk:
            break
        buf += chunk
    sys.stdout.write(buf.decode())
    return 0 if json.loads(buf or b"{}").get("ok") else 1


def main(argv):
    import argparse
    if argv and argv[0] == "ctl":
        return ctl_main(argv[1:])
    ap = argparse.ArgumentParser(description="fault-injecting FUSE pass-through filesystem")
    ap.add_argument("backing")
    ap.add_argument("mountpoint")
    ap.add_argument("--ctl", required=True, help="UNIX socket path for the control channel")
    ap.add_argument("--direct-io", action="store_true", help="direct_io for all files except *-shm")
    ap.add_argument("--meta-on-fsync", action="store_true", help="file fsync also commits the namespace")
    ap.add_argument("--no-sync-on-unmount", dest="sync_on_unmount", action="store_false")
    ap.add_argument("--backing-fsync", action="store_true", help="also fsync the backing files")
    ap.add_argument("-o", dest="extra", default="", help="extra libfuse mount options a,b=c")
    ap.add_argument("--debug", action="store_true")
    opts = ap.parse_args(argv)
    import logging
    logging.basicConfig(level=logging.DEBUG if opts.debug else logging.WARNING,
                        format="faultfs: %(levelname)s %(message)s")
    fs = FaultFS(opts.backing, opts)
    srv = serve_ctl(fs, opts.ctl)
    kw = dict(foreground=True, allow_other=True, default_permissions=True, hard_remove=True,
              big_writes=True, max_write=131072, fsname="faultfs", subtype="faultfs", debug=opts.debug)
    for o in filter(None, opts.extra.split(",")):
        k, _, v = o.partition("=")
        kw[k] = v if v else True
    try:
        fuse.FUSE(fs, opts.mountpoint, raw_fi=True, **kw)
    finally:
        srv.close()
        try:
            os.unlink(opts.ctl)
        except OSError:
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
