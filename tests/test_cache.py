"""fastmlp's compiled-code cache (``fastmlp/backends/_cache.py``): always a writable home, never a folder others
can write, corrupt files moved aside and rebuilt. Each case runs a fresh process, as a user would meet it."""
import os
import shutil
import subprocess
import sys

import pytest

pytestmark = pytest.mark.skipif(os.environ.get("NUMBA_DISABLE_JIT") == "1", reason="nothing is compiled")

# Both kinds of cached code: a generated kernel (scalar style, under kernels-*/) and the package's own source kernels
# (under numba/, all through one locator, backends/_cache._Locator): _PROBE compiles the numpy path's fused kernels
# (a second or two) and prints where they and the loop style's kernels (seconds to compile cold: not compiled here)
# are cached. The cases that damage files and rebuild need one kind only: _TINY_PROBE, a generated kernel, compiled
# in a fraction of a second, through the same cache code as every other.
_TINY_PROBE = ("import numpy as np, fastmlp; X = np.random.default_rng(0).standard_normal((8, 3));"
               "fastmlp.MLP([3, 1], seed=0).fit(X, X.sum(1), backend='numba');")
_PROBE = (_TINY_PROBE + "net = fastmlp.MLP([3, 1], seed=0); net.predict(X);"
          "net.fit(X, X.sum(1), backend='numpy', batch_size=4);"
          "from fastmlp.backends.numpy import _fused; from fastmlp.backends.numba import kernels;"
          "print(_fused.bias_act._cache.cache_path); print(kernels.kernels_for('sgd').per_sample._cache.cache_path)")


def _run(env, code=_PROBE):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FASTMLP_", "NUMBA_CACHE", "XDG_"))} | env
    return subprocess.run([sys.executable, "-W", "always", "-c", code], env=env, capture_output=True, text=True,
                          timeout=300)


@pytest.fixture(scope="module")
def _tiny_cache_built(tmp_path_factory):
    """A cache holding what _TINY_PROBE compiles, compiled once for the module (each case that needs one would
    otherwise spend a fresh process compiling it): ``(where, pristine copy)``. It is built at the path every case
    then uses, so that nothing in it names another folder."""
    where = tmp_path_factory.mktemp("tiny") / "c"
    r = _run({"FASTMLP_CACHE_DIR": str(where)}, _TINY_PROBE)
    assert r.returncode == 0, r.stderr[-3000:]
    pristine = where.with_name("pristine")
    where.rename(pristine)
    return where, pristine


@pytest.fixture
def tiny_cache(_tiny_cache_built):
    """A cache folder in which _TINY_PROBE's kernels are compiled and saved (and their lock and claim files made),
    as a first process leaves it: a fresh copy for each case, which may damage it."""
    where, pristine = _tiny_cache_built
    shutil.copytree(pristine, where)
    yield where
    shutil.rmtree(where)


def test_the_tiny_cache_is_what_a_first_process_leaves(tiny_cache):
    """The copy is a warm cache: a process that fits the tiny network on it compiles nothing."""
    go = tiny_cache.parent / "go"
    go.touch()
    out, err = _start({"FASTMLP_CACHE_DIR": str(tiny_cache)}, go, 60).communicate(timeout=120)
    assert out.split() == [] and "corrupt" not in err, (out, err[-2000:])


def test_a_read_only_home_uses_one_private_temporary_folder(tmp_path):
    home = tmp_path / "home-is-a-file"
    home.write_text("")                            # ~/.cache cannot be made: as good as a read-only home, for root too
    env = {"HOME": str(home), "TMPDIR": str(tmp_path)}
    r = _run(env)
    assert r.returncode == 0, r.stderr
    private = tmp_path / f"fastmlp-{os.geteuid()}"
    paths = r.stdout.split()
    assert len(paths) == 2 and all(p.startswith(str(private / "numba")) for p in paths)   # the package's own kernels
    assert private.stat().st_mode & 0o777 == 0o700
    assert list(private.glob("kernels-*/k*.py"))
    entries = sorted(p.name for p in tmp_path.iterdir())
    assert _run(env).returncode == 0                 # the next process reuses it: no new folder
    assert sorted(p.name for p in tmp_path.iterdir()) == entries


def test_no_usable_folder_at_all_still_works_without_a_disk_cache(tmp_path):
    home = tmp_path / "home-is-a-file"
    home.write_text("")
    not_a_folder = tmp_path / "tmp-is-a-file"
    not_a_folder.write_text("")
    r = _run({"HOME": str(home), "FASTMLP_CACHE_DIR": str(not_a_folder / "cache")},
             code=f"import tempfile; tempfile.tempdir = {str(not_a_folder)!r}; " + _PROBE)
    assert r.returncode == 0, r.stderr
    assert "not cached on disk" in r.stderr and r.stdout.split() == ["None", "None"]


def test_the_cache_never_lands_beside_the_installed_source(tmp_path):
    import fastmlp
    package = os.path.dirname(fastmlp.__file__)
    r = _run({"FASTMLP_CACHE_DIR": str(tmp_path / "c")})
    assert r.returncode == 0, r.stderr
    paths = r.stdout.split()
    assert len(paths) == 2 and all(p.startswith(str(tmp_path / "c")) and not p.startswith(package) for p in paths)


@pytest.mark.parametrize("mode", [0o777, 0o775])
def test_a_cache_folder_others_can_write_is_refused(tmp_path, mode):
    cache = tmp_path / "cache"
    cache.mkdir()
    cache.chmod(mode)
    r = _run({"FASTMLP_CACHE_DIR": str(cache)})
    assert r.returncode != 0 and "group- or world-writable" in r.stderr and "chmod go-w" in r.stderr
    assert not list(cache.rglob("*.nbi")) and not list(cache.rglob("*.py"))


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0, reason="chown needs root")
def test_a_cache_folder_owned_by_someone_else_is_refused(tmp_path):
    cache = tmp_path / "cache"
    cache.mkdir(mode=0o700)
    os.chown(cache, 65534, 65534)
    r = _run({"FASTMLP_CACHE_DIR": str(cache)})
    assert r.returncode != 0 and "owned by uid 65534" in r.stderr and "FASTMLP_CACHE_DIR" in r.stderr


@pytest.mark.parametrize("target, damage", [("kernels-*/k*.py", b"\xff\xfe garbage"), ("numba/*/*.nbi", b""),
                                            ("numba/*/*.nbi", b"xx"), ("numba/*/*.nbc", b""),
                                            ("numba/*/*.nbc", b"junk")])
def test_a_corrupt_cache_file_is_moved_aside_and_rebuilt(tiny_cache, target, damage):
    cache = tiny_cache
    env = {"FASTMLP_CACHE_DIR": str(cache)}
    files = list(cache.glob(target))
    assert files
    for p in files:
        p.write_bytes(p.read_bytes() + damage if target.endswith(".py") else damage)
    r = _run(env, _TINY_PROBE)
    assert r.returncode == 0, r.stderr[-3000:]
    assert "corrupt cache file" in r.stderr and files[0].name in r.stderr      # a warning naming the file
    assert list(cache.rglob("*.corrupt"))
    r = _run(env, _TINY_PROBE)                                                  # rebuilt: the next process is quiet
    assert r.returncode == 0 and "corrupt" not in r.stderr, r.stderr[-3000:]


def test_a_cache_file_corrupt_again_after_the_rebuild_is_an_error_naming_the_folder(tmp_path, monkeypatch):
    from numba.core import caching

    from fastmlp.backends import _cache
    monkeypatch.setenv("FASTMLP_CACHE_DIR", str(tmp_path / "c"))

    def broken(self, key):
        raise EOFError("damaged")
    monkeypatch.setattr(caching.IndexDataCacheFile, "load", broken)

    def f(x):
        return x + 1
    code = compile("def g(x):\n    return x + 1\n", str(tmp_path / "g.py"), "exec")
    (tmp_path / "g.py").write_text("def g(x):\n    return x + 1\n")
    namespace = {}
    exec(code, namespace)
    g = _cache.jit()(namespace["g"])
    with pytest.warns(RuntimeWarning, match="corrupt cache file"):
        assert g(1) == 2
    g2 = _cache.jit()(namespace["g"])
    with pytest.raises(_cache.CacheError, match=f"{tmp_path / 'c'}.* corrupt again"):
        g2(2.5)


def test_a_folder_in_place_of_a_kernel_source_is_moved_aside(tiny_cache):
    cache = tiny_cache
    env = {"FASTMLP_CACHE_DIR": str(cache)}
    source = next(cache.glob("kernels-*/k*.py"))
    source.unlink()
    source.mkdir()
    r = _run(env, _TINY_PROBE)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "corrupt cache file" in r.stderr and source.is_file()


@pytest.mark.skipif(sys.platform == "win32", reason="the lock is POSIX's")
def test_a_kernel_is_not_loaded_while_another_process_saves_it(tiny_cache):
    """Saving an overload holds an exclusive lock on the function's lock file, loading a shared one (``_cache``'s
    ``_FunctionCache``): a process that finds a kernel's index mid-save waits for the data file instead of reading
    another overload's code under this one's key. Here this test holds the lock a saver would hold."""
    import fcntl
    import time
    env = {"FASTMLP_CACHE_DIR": str(tiny_cache)}                     # compiled and saved, lock files made
    (index,) = tiny_cache.glob("numba/kernels-*/k_3-1_*.epoch_per_sample-*.nbi")
    fd = os.open(index.with_suffix(".lock"), os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.lockf(fd, fcntl.LOCK_EX)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("FASTMLP_", "NUMBA_CACHE", "XDG_"))} | env
        loader = subprocess.Popen([sys.executable, "-c", _TINY_PROBE], env=env, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True)
        time.sleep(3.0)                                                # import, then the load, which must wait
        assert loader.poll() is None, loader.communicate()
    finally:
        os.close(fd)
    out, err = loader.communicate(timeout=120)
    assert loader.returncode == 0, err


def test_a_lock_file_that_cannot_be_opened_does_not_stop_a_fit(tiny_cache):
    """The lock is a safeguard between processes, not a condition of training: a lock path that cannot be opened
    (here a folder in its place) leaves loading and saving as Numba alone does them."""
    env = {"FASTMLP_CACHE_DIR": str(tiny_cache)}
    locks = list(tiny_cache.glob("numba/**/*.lock"))
    assert locks
    for lock in locks:
        lock.unlink()
        lock.mkdir()
    r = _run(env, _TINY_PROBE)
    assert r.returncode == 0, r.stderr


_COUNTING_PROBE = ("import os, sys, time\nfrom numba.core import event\ncompiled = []\n"
                   "class Count(event.Listener):\n"
                   "    def on_start(self, ev): pass\n"
                   "    def on_end(self, ev): compiled.append(ev.data['dispatcher'].py_func.__name__)\n"
                   "event.register('numba:compile', Count())\n"
                   "import fastmlp.backends._cache as cache\ncache.COMPILE_WAIT_SECONDS = float(sys.argv[2])\n"
                   "while not os.path.exists(sys.argv[1]): time.sleep(0.002)\n"
                   + "\n".join(part.strip() for part in _TINY_PROBE.split(";")) + "\nprint(' '.join(compiled))")


def _start(env, *args):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FASTMLP_", "NUMBA_CACHE", "XDG_"))} | env
    return subprocess.Popen([sys.executable, "-c", _COUNTING_PROBE, *map(str, args)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


@pytest.mark.skipif(sys.platform == "win32", reason="the lock is POSIX's")
def test_processes_that_need_one_kernel_at_once_compile_it_once(tmp_path):
    """Two processes meet the same cold kernel at the same moment (a GridSearchCV with n_jobs=2): the first to
    miss claims it, the other waits for the claim and loads what the first saved. Every function is compiled by
    one of them, never by both."""
    go = tmp_path / "go"
    procs = [_start({"FASTMLP_CACHE_DIR": str(tmp_path / "c")}, go, 60) for _ in range(2)]
    import time
    time.sleep(2.0)                                      # both imported and waiting
    go.touch()
    outs = [p.communicate(timeout=300) for p in procs]
    assert all(p.returncode == 0 for p in procs), [err[-2000:] for _, err in outs]
    compiled = sorted(name for out, _ in outs for name in out.split())
    assert compiled and len(compiled) == len(set(compiled)), compiled       # nothing compiled twice
    assert "epoch_per_sample" in compiled


@pytest.mark.skipif(sys.platform == "win32", reason="the lock is POSIX's")
def test_a_claim_held_too_long_is_not_waited_for(tiny_cache, tmp_path):
    """A process stopped in the middle of a compile keeps its claim: the others wait COMPILE_WAIT_SECONDS, then
    compile the kernel themselves. Here another process holds every claim and never lets go."""
    import fcntl
    env = {"FASTMLP_CACHE_DIR": str(tiny_cache)}
    claims = list(tiny_cache.glob("numba/**/*.claim"))
    assert claims
    for p in tiny_cache.glob("numba/**/*.nb[ic]"):         # the code gone, the claims left: the next fit compiles
        p.unlink()
    holder = subprocess.Popen([sys.executable, "-c", "import fcntl, os, sys, time\n"
                               "fds = [os.open(p, os.O_RDWR) for p in sys.argv[1:]]\n"
                               "[fcntl.lockf(fd, fcntl.LOCK_EX) for fd in fds]\nprint('held', flush=True)\n"
                               "time.sleep(300)", *map(str, claims)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        fd = os.open(claims[0], os.O_RDWR)
        with pytest.raises(OSError):
            fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)                 # really held by the other process
        os.close(fd)
        go = tmp_path / "go"
        go.touch()
        waiter = _start(env, go, 1.0)
        out, err = waiter.communicate(timeout=120)
        assert waiter.returncode == 0, err[-2000:]
        assert "epoch_per_sample" in out.split()        # it waited, then compiled the kernel itself
    finally:
        holder.kill()
        holder.wait()


def test_a_compile_that_fails_lets_go_of_its_claim(tmp_path, monkeypatch):
    """A kernel whose compile raises (a typing error here; Ctrl-C alike) gives up its claim at once: held on, it
    would keep every other process that needs the kernel waiting."""
    import numba

    from fastmlp.backends import _cache
    monkeypatch.setenv("FASTMLP_CACHE_DIR", str(tmp_path / "c"))
    (tmp_path / "h.py").write_text("def h(x):\n    return x + 1\n")
    namespace = {}
    exec(compile((tmp_path / "h.py").read_text(), str(tmp_path / "h.py"), "exec"), namespace)
    h = _cache.jit()(namespace["h"])
    with pytest.raises(numba.TypingError):
        h("text")
    assert h._cache._claims == {}
    claims = list((tmp_path / "c").glob("numba/**/*.claim"))
    assert claims
    probe = ("import fcntl, os, sys\nfor p in sys.argv[1:]:\n"
             "    fcntl.lockf(os.open(p, os.O_RDWR), fcntl.LOCK_EX | fcntl.LOCK_NB)\n")
    assert subprocess.run([sys.executable, "-c", probe, *map(str, claims)]).returncode == 0
    assert h(1) == 2                                    # and the next compile of it works
