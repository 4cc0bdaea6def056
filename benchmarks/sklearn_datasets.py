"""fastmlp's estimators against scikit-learn's on the data sets scikit-learn ships: fit time and held-out score.

    python benchmarks/sklearn_datasets.py                    # defaults, 3 seeds
    python benchmarks/sklearn_datasets.py --seeds 5 --grid   # and the digits GridSearchCV, cold and warm cache
    python benchmarks/sklearn_datasets.py --grid-only         # the GridSearchCV alone

For each data set (digits, breast_cancer, wine, iris: classification; diabetes: regression), the features are
standardised, 25 % of the rows held out (stratified for the classifiers), and both libraries' estimators fit with
the same parameters (scikit-learn's defaults: ``hidden_layer_sizes=(100,)``, adam, ``max_iter=200``) and the same
``random_state``. Every fit runs in this process, one library after the other per seed; fastmlp's kernels are
compiled before the first timed fit (one warm-up fit on two rows), so the figures are training time. The table
gives the median over seeds of fit wall time and held-out score (accuracy or R^2), and their min-max.

``--grid``: ``GridSearchCV`` over six hidden-layer shapes x two alphas on digits (5-fold), ``n_jobs`` 1 and 2,
each run in a fresh process; fastmlp's with an empty kernel cache (cold: every new shape compiles) and again with
the cache that run left (warm).
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
import warnings

DATASETS = ("digits", "breast_cancer", "wine", "iris", "diabetes")

GRID_CHILD = r"""
import sys, time, warnings
import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import GridSearchCV
from sklearn.preprocessing import StandardScaler
library, n_jobs = sys.argv[1], int(sys.argv[2])
if library == "fastmlp":
    from fastmlp import MLPClassifier
else:
    from sklearn.neural_network import MLPClassifier
X, y = load_digits(return_X_y=True)
X = StandardScaler().fit_transform(X)
grid = {"hidden_layer_sizes": [(16,), (32,), (64,), (32, 16), (64, 32), (100,)], "alpha": [1e-4, 1e-2]}
warnings.simplefilter("ignore")
t0 = time.perf_counter()
search = GridSearchCV(MLPClassifier(max_iter=50, random_state=0), grid, cv=5, n_jobs=n_jobs).fit(X, y)
print(time.perf_counter() - t0, search.best_score_)
"""


def load(name):
    from sklearn import datasets
    from sklearn.model_selection import train_test_split
    from sklearn.preprocessing import StandardScaler
    X, y = getattr(datasets, f"load_{name}")(return_X_y=True)
    classification = name != "diabetes"
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.25, random_state=0,
                                                        stratify=y if classification else None)
    scaler = StandardScaler().fit(X_train)
    if not classification:              # scikit-learn's MLPRegressor wants targets of unit scale too
        mean, std = y_train.mean(), y_train.std()
        y_train, y_test = (y_train - mean) / std, (y_test - mean) / std
    return classification, scaler.transform(X_train), scaler.transform(X_test), y_train, y_test


def estimators(classification):
    from sklearn import neural_network

    import fastmlp
    name = "MLPClassifier" if classification else "MLPRegressor"
    return {"scikit-learn": getattr(neural_network, name), "fastmlp": getattr(fastmlp, name)}


def run_datasets(seeds):
    print("| data set | library | fit s, median (min-max) | held-out score, median (min-max) |")
    print("| --- | --- | ---: | ---: |")
    for name in DATASETS:
        classification, X_train, X_test, y_train, y_test = load(name)
        rows = {}
        for library, Est in estimators(classification).items():
            if library == "fastmlp":            # compile outside the timing
                Est(random_state=0, max_iter=1).fit(X_train[:20], y_train[:20])
            times, scores = [], []
            for seed in range(seeds):
                est = Est(random_state=seed)
                t0 = time.perf_counter()
                est.fit(X_train, y_train)
                times.append(time.perf_counter() - t0)
                scores.append(est.score(X_test, y_test))
            rows[library] = (times, scores)
            print(f"| {name} | {library} | {statistics.median(times):.3f} ({min(times):.3f}-{max(times):.3f}) | "
                  f"{statistics.median(scores):.4f} ({min(scores):.4f}-{max(scores):.4f}) |", flush=True)
        ratio = statistics.median(rows["scikit-learn"][0]) / statistics.median(rows["fastmlp"][0])
        print(f"| {name} | fastmlp speed-up | {ratio:.2f}x | |", flush=True)


def run_grid():
    print("\n| GridSearchCV on digits, 6 shapes x 2 alphas, 5-fold, max_iter 50 | n_jobs | wall s | best score |")
    print("| --- | ---: | ---: | ---: |")
    for n_jobs in (1, 2):
        with tempfile.TemporaryDirectory() as cache:
            env = dict(os.environ, FASTMLP_CACHE_DIR=cache)
            for library, label in (("sklearn", "scikit-learn"), ("fastmlp", "fastmlp, cold cache"),
                                   ("fastmlp", "fastmlp, warm cache")):
                out = subprocess.run([sys.executable, "-c", GRID_CHILD, library, str(n_jobs)], env=env,
                                     capture_output=True, text=True, check=True).stdout.split()
                print(f"| {label} | {n_jobs} | {float(out[0]):.2f} | {float(out[1]):.4f} |", flush=True)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--grid", action="store_true", help="also the digits GridSearchCV, cold and warm cache")
    parser.add_argument("--grid-only", action="store_true", help="the digits GridSearchCV alone")
    args = parser.parse_args(argv)
    warnings.simplefilter("ignore")          # scikit-learn's ConvergenceWarning at max_iter, both libraries
    if not args.grid_only:
        run_datasets(args.seeds)
    if args.grid or args.grid_only:
        run_grid()
    return 0


if __name__ == "__main__":
    sys.exit(main())
