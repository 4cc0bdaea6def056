"""Where fastmlp's compiled code lives on disk, and whether it is trusted: one place for both.

Numba's own ``cache=True`` puts compiled code beside the source (``__pycache__`` of the installed package) or
in ``~/.cache/numba``, fails at import when neither is writable (a read-only install and home), and loads its
index files, which are pickles, from wherever it finds them. fastmlp compiles with :func:`jit` instead: the
same Numba compilation, with a cache of fastmlp's own under :func:`cache_root`:

1. ``$FASTMLP_CACHE_DIR``, else ``$XDG_CACHE_HOME/fastmlp`` or ``~/.cache/fastmlp``;
2. when that cannot be created or written, ``<tempdir>/fastmlp-<uid>``: one folder per user, reused by every
   process (made 0700, its owner checked);
3. when neither can be used, no on-disk cache at all: everything works, compiled anew in each process.

A cache folder that another user could write (group- or world-writable, or owned by someone else) is refused
with :class:`CacheError`, which says how to fix it: Numba's index files are pickles, and a planted one would
run code in this user's process. (The temporary fallback is skipped with a warning instead.) A corrupt cached
file (Numba's index or data, or a generated kernel source) is moved aside with a warning naming it, and
rebuilt; if it is corrupt again in the same process, :class:`CacheError` names the cache folder.

Processes that need the same kernel at once (a ``GridSearchCV`` with ``n_jobs=2``, dask workers, ``fastmlp compile
--jobs``) compile it once: the first to miss the cache claims that signature (a lock file per function and
signature) until it has saved the code; the others wait for the claim and load what it saved. A claim held longer
than ``COMPILE_WAIT_SECONDS`` (a process stopped mid-compile) is not waited for further: the waiter compiles too, as
Numba alone would.

``NUMBA_CACHE_DIR`` does not move fastmlp's cache; ``FASTMLP_CACHE_DIR`` does. The classes used from
``numba.core.caching`` (``FunctionCache``, ``CompileResultCacheImpl``, the locator base classes, ``NullCache``)
and the dispatcher's ``_cache`` attribute exist unchanged from Numba 0.58 to 0.68; ``tests/test_cache.py``
checks that compiled code really lands here.
"""
from __future__ import annotations

import contextlib
import functools
import hashlib
import os
import stat
import tempfile
import time
import warnings
from pathlib import Path

from numba import njit
from numba.core.caching import (
    CompileResultCacheImpl,
    FunctionCache,
    NullCache,
    _CacheLocator,
    _SourceFileBackedLocatorMixin,
)
from numba.core.dispatcher import Dispatcher

from .._files import read_small_file
from . import CacheError

try:
    import fcntl
except ImportError:                 # not POSIX: no lock (one process at a time compiling is then the user's care)
    fcntl = None


class Unusable(Exception):
    """A cache folder that cannot be created or written (not unsafe: the next candidate is tried)."""


def check_private_dir(path: Path) -> Path:
    """``path`` as a folder only this user can write: made 0700 when missing; refused when it is a symlink or
    not a folder (:class:`Unusable`), or when others could write it (:class:`CacheError`)."""
    try:
        os.makedirs(path, mode=0o700, exist_ok=True)
        st = os.lstat(path)
    except OSError as e:
        raise Unusable(f"cannot create cache folder {path} ({e.strerror})") from None
    if stat.S_ISLNK(st.st_mode) or not stat.S_ISDIR(st.st_mode):
        raise Unusable(f"cache folder {path} is not a folder (or is a symlink)")
    if st.st_uid == 0 != os.geteuid() and not st.st_mode & 0o022:
        # root's own folder (an administrator's shared cache, say): safe, but not ours to write
        raise Unusable(f"cache folder {path} belongs to root and is not writable by you")
    if st.st_uid != os.geteuid():
        raise CacheError(f"cache folder {path} is owned by uid {st.st_uid}, not by you (uid {os.geteuid()}): its "
                         "compiled files are pickles that another user could plant; set FASTMLP_CACHE_DIR to a "
                         "folder of your own")
    if st.st_mode & 0o022:
        raise CacheError(f"cache folder {path} is group- or world-writable (mode {stat.S_IMODE(st.st_mode):o}): its "
                         f"compiled files are pickles that others could plant; run `chmod go-w {path}` or set "
                         "FASTMLP_CACHE_DIR to a private folder")
    if not os.access(path, os.W_OK | os.X_OK):
        raise Unusable(f"cache folder {path} is not writable")
    return path


def read_regular_file(path, max_bytes):
    """The bytes of ``path`` when it is a regular file (no symlink, folder, FIFO or device) of at most
    ``max_bytes``; None when it is missing or anything else (the caller moves it aside)."""
    try:
        return read_small_file(path, max_bytes, follow_symlinks=False)
    except (OSError, ValueError):
        return None


_ROOTS = {}     # (the environment that decides) -> root, so that tests that change it get a fresh answer


def cache_root():
    """The folder of fastmlp's compiled code for this user (see the module's notes), or None."""
    env = tuple(os.environ.get(k) for k in ("FASTMLP_CACHE_DIR", "XDG_CACHE_HOME", "HOME", "TMPDIR"))
    if env not in _ROOTS:
        _ROOTS[env] = _find_root()
    return _ROOTS[env]


def _find_root():
    explicit = os.environ.get("FASTMLP_CACHE_DIR")
    if explicit:
        first = Path(explicit)
    else:
        base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
        first = Path(base) / "fastmlp"
    try:
        return check_private_dir(first)
    except Unusable as e:
        reason = str(e)
    fallback = Path(tempfile.gettempdir()) / f"fastmlp-{os.geteuid()}"
    try:
        root = check_private_dir(fallback)
    except (Unusable, CacheError) as e:
        warnings.warn(f"fastmlp: {reason}, and {e}; compiled code is not cached on disk (each process compiles "
                      "anew). Set FASTMLP_CACHE_DIR to a writable folder of your own.", RuntimeWarning, stacklevel=3)
        return None
    if explicit:
        warnings.warn(f"fastmlp: {reason}; compiled code is cached in {root} instead", RuntimeWarning, stacklevel=3)
    return root


def quarantine(paths, why):
    """Move corrupt cache files aside (``NAME.<time>.corrupt``), with a warning naming them."""
    stamp = time.strftime("%Y%m%d%H%M%S")
    moved = []
    for p in paths:
        try:
            os.replace(p, f"{p}.{stamp}.corrupt")
            moved.append(str(p))
        except OSError:
            try:                                  # a folder, say, that cannot be renamed over: out of the way
                os.unlink(p)
                moved.append(str(p))
            except OSError:
                pass
    warnings.warn(f"fastmlp: corrupt cache file(s) {moved} ({why}): moved aside, rebuilding", RuntimeWarning,
                  stacklevel=3)


@functools.lru_cache(maxsize=1)
def _helper_stamps() -> tuple:
    """``(name, mtime, size)`` of each module of ``fastmlp.backends`` and its Numba path."""
    here = Path(__file__).parent
    files = sorted([*here.glob("*.py"), *(here / "numba").glob("*.py")])
    return tuple((f.name, f.stat().st_mtime_ns, f.stat().st_size) for f in files)


class _Locator(_SourceFileBackedLocatorMixin, _CacheLocator):
    """Numba's files for a function of ``py_file``: ``<cache_root>/numba/<folder>_<hash of its path>``."""

    def __init__(self, py_func, py_file):
        self._py_file = py_file
        self._lineno = py_func.__code__.co_firstlineno
        self._cache_path = str(cache_root() / "numba" / self.get_suitable_cache_subpath(py_file))

    def get_cache_path(self):
        return self._cache_path

    def get_source_stamp(self):
        """The source file's stamp and those of every module the kernels inline (``_helper_stamps``): Numba's own
        looks at the one file, so a change to an inlined helper elsewhere would load stale code."""
        return super().get_source_stamp(), _helper_stamps()

    def ensure_cache_path(self):
        check_private_dir(Path(self._cache_path).parent)
        check_private_dir(Path(self._cache_path))

    @classmethod
    def from_function(cls, py_func, py_file):
        if cache_root() is None or not os.path.isfile(py_file):
            return None
        locator = cls(py_func, py_file)
        try:
            locator.ensure_cache_path()
        except Unusable:
            return None
        return locator


class _Impl(CompileResultCacheImpl):
    _locator_classes = [_Locator]


_REBUILT = set()     # index files moved aside in this process: corrupt again means an error

# How long a process waits for another one's claim on a kernel it needs (the longest compile here is ~7 s, the
# threaded kernel's); beyond it, it compiles the kernel itself.
COMPILE_WAIT_SECONDS = 60.0


class _FunctionCache(FunctionCache):
    """Numba's per-function cache, loading only private files, and locked across processes: Numba saves a new
    compiled overload by reading the function's index, picking the first data-file number it does not list, then
    writing the index and the data file. Two processes saving two overloads of one function at once (two dtypes of a
    kernel, in ``fastmlp compile --jobs 2``, dask or joblib workers) may pick the same number, and the index could
    end up naming one's key beside the other's code. Saving holds an exclusive lock (``fcntl.lockf``) on the
    function's lock file, and loading a shared one, so a save is never interleaved with another save or read
    half-written. A miss claims the signature (an exclusive lock on ``<name>.<hash of the signature>.claim``) from
    the miss to the save, so that other processes needing it wait and load it instead of compiling it again."""
    _impl_class = _Impl

    def __init__(self, py_func):
        super().__init__(py_func)
        self._claims = {}                   # signature -> fd of its claim, held from the miss to the save

    def _open_lock(self, suffix):
        """A descriptor of this function's lock file ``<name>.<suffix>``, or None when it cannot be opened."""
        if fcntl is None:
            return None
        try:
            return os.open(Path(self._cache_path) / (self._impl.filename_base + suffix),
                           os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0), 0o600)
        except OSError:                     # no lock to be had: load or save as Numba alone would
            return None

    @contextlib.contextmanager
    def _locked(self, exclusive):
        fd = self._open_lock(".lock")
        if fd is None:
            yield
            return
        try:
            # a POSIX record lock, not flock: a child forked meanwhile (a pool worker started from another
            # thread) does not inherit it, so it is never held longer than this block
            fcntl.lockf(fd, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
            yield
        finally:
            os.close(fd)                    # closing releases the lock

    def _claim(self, sig):
        """This signature's compile claim, taken (its descriptor), waiting up to ``COMPILE_WAIT_SECONDS`` while
        another process holds it; None when there is no lock to be had or the wait ran out."""
        fd = self._open_lock("." + hashlib.sha1(str(sig).encode()).hexdigest()[:16] + ".claim")
        if fd is None:
            return None
        deadline = time.monotonic() + COMPILE_WAIT_SECONDS
        try:
            while True:
                try:
                    fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    return fd
                except OSError:
                    if time.monotonic() >= deadline:
                        break
                    time.sleep(0.02)
        except BaseException:               # Ctrl-C while waiting
            os.close(fd)
            raise
        os.close(fd)
        return None

    def release(self, sig):
        """Give up this signature's claim (after its save, or when its compile failed)."""
        fd = self._claims.pop(sig, None)
        if fd is not None:
            os.close(fd)

    def save_overload(self, sig, data):
        try:
            with self._locked(exclusive=True):
                super().save_overload(sig, data)
        finally:
            self.release(sig)

    def load_overload(self, sig, target_context):
        with self._locked(exclusive=False):
            cres = self._load_private(sig, target_context)
        if cres is not None:
            return cres
        # a miss: claim the signature; a process compiling it now has saved it by the time the claim is ours
        fd = self._claim(sig)
        if fd is None:
            return None
        if (Path(self._cache_path) / (self._impl.filename_base + ".nbi")).exists():   # saved meanwhile?
            with self._locked(exclusive=False):
                cres = self._load_private(sig, target_context)
            if cres is not None:
                os.close(fd)
                return cres
        self._claims[sig] = fd              # this process compiles; save_overload (or a failed compile) lets go
        return None

    def _load_private(self, sig, target_context):
        base = Path(self._cache_path) / self._impl.filename_base
        files = [p for p in Path(self._cache_path).glob(self._impl.filename_base + "*")
                 if p.suffix in (".nbi", ".nbc")]
        for p in files:                     # a file others could have written is never unpickled
            st = p.lstat()
            if not stat.S_ISREG(st.st_mode) or st.st_uid != os.geteuid() or st.st_mode & 0o022:
                raise CacheError(f"cache file {p} is not a private file of yours; delete {self._cache_path}")
        try:
            return super().load_overload(sig, target_context)
        except Exception as e:              # EOFError, UnpicklingError, ValueError, ...: a damaged file
            if str(base) in _REBUILT:
                raise CacheError(f"the compiled-code cache in {self._cache_path} is corrupt again after a rebuild "
                                 f"({type(e).__name__}); delete that folder") from None
            _REBUILT.add(str(base))
            quarantine(files, type(e).__name__)
            return None                     # Numba compiles, and saves fresh files


def jit(**options):
    """``numba.njit(**options)`` with fastmlp's cache (``options`` must not set ``cache``)."""
    def decorate(function):
        dispatcher = njit(cache=False, **options)(function)
        if not isinstance(dispatcher, Dispatcher):        # NUMBA_DISABLE_JIT=1: the plain function
            return dispatcher
        cache = NullCache()
        if cache_root() is not None and os.path.isfile(function.__code__.co_filename):
            try:
                cache = _FunctionCache(function)
            except CacheError:
                raise
            except RuntimeError:                          # Numba: "no locator available"
                pass
        dispatcher._cache = cache
        if isinstance(cache, _FunctionCache):
            dispatcher.compile = functools.partial(_compile_then_release, dispatcher.compile, cache)
        return dispatcher
    return decorate


def _compile_then_release(compile, cache, sig):
    """The dispatcher's own ``compile``, then this signature's claim let go whatever happened (a typing error,
    Ctrl-C): a claim outliving its compile would keep other processes waiting."""
    try:
        return compile(sig)
    finally:
        cache.release(sig)
