"""Whether a folder is safe to load code from: ownership and write bits up to the root.

No Numba here (``cache.py`` holds the rest of the cache's checks and imports Numba), so a
tiered Function can ask whether the kernel cache is usable before anything imports Numba.
"""
from __future__ import annotations

import os
import stat

_EUID = os.geteuid() if hasattr(os, "geteuid") else None
_GROUP_OTHER_WRITE = stat.S_IWGRP | stat.S_IWOTH


def _owner_problem(st: os.stat_result, what: str, allow_root: bool = False) -> str | None:
    if _EUID is None:  # no ownership on this platform
        return None
    if st.st_uid == _EUID or (allow_root and st.st_uid == 0):
        return None
    return f"{what} is owned by uid {st.st_uid}, not by this user (uid {_EUID})"


def folder_problem(path: str) -> str | None:
    """Why the existing folder ``path`` is not safe to load code from, or ``None`` when it is."""
    real = os.path.realpath(path)
    try:
        st = os.lstat(real)
    except OSError as exc:
        return f"{path} cannot be examined ({exc.strerror})"
    if not stat.S_ISDIR(st.st_mode):
        return f"{real} is not a folder"
    problem = _owner_problem(st, f"the folder {real}")
    if problem:
        return problem
    if st.st_mode & _GROUP_OTHER_WRITE:
        return f"the folder {real} is writable by group or others (mode {stat.S_IMODE(st.st_mode):o})"
    parent = os.path.dirname(real)
    while True:
        st = os.stat(parent)
        problem = _owner_problem(st, f"its parent folder {parent}", allow_root=True)
        if problem:
            return problem
        if st.st_mode & _GROUP_OTHER_WRITE and not st.st_mode & stat.S_ISVTX:
            return (f"its parent folder {parent} is writable by group or others and not sticky "
                    f"(mode {stat.S_IMODE(st.st_mode):o}): others could replace {real}")
        up = os.path.dirname(parent)
        if up == parent:
            return None
        parent = up
