"""Vectorised NumPy reference for `cargo xtask bench sde`: Euler-Maruyama on the d-dimensional OU
process dx = -theta x dt + dW, B particles, `steps` steps over [0, 1]; the same loop as mfpid-sde's
EM pass, written the fastest way NumPy allows (in-place, preallocated, Generator.standard_normal(out=)).
Prints one JSON line: seconds for the EM loop and for drawing the normals alone."""
import json
import sys
import time

import numpy as np


def main():
    B, d, steps = (int(a) for a in sys.argv[1:4])
    theta, h = 1.0, 1.0 / steps
    sh = np.sqrt(h)
    rng = np.random.default_rng(12345)
    x = np.zeros((B, d))
    dw = np.empty((B, d))
    t0 = time.perf_counter()
    for _ in range(steps):
        rng.standard_normal(out=dw)
        dw *= sh
        x *= 1.0 - theta * h  # x + (-theta x) h
        x += dw
    em = time.perf_counter() - t0
    t0 = time.perf_counter()
    for _ in range(steps):
        rng.standard_normal(out=dw)
    normals = time.perf_counter() - t0
    print(json.dumps({"em_s": em, "normals_s": normals, "checksum": float(x.mean()), "numpy": np.__version__}))


if __name__ == "__main__":
    main()
