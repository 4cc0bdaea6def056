"""Benchmark workloads, contenders and the ``fastmlp bench`` report (not imported by ``import fastmlp``)."""


def in_fresh_process(fn, *args):
    """``fn(*args)`` in a new process of its own (spawned: nothing inherited, so its imports, compiles and thread
    pools are its own), waited for; its result, or its exception raised here."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        return pool.submit(fn, *args).result()
