"""Vectorised NumPy reference for `cargo xtask bench energy`: the demand-response d-sweep (B-nd
scenario, methods MF / IA(0) / IA(m), GH-PID bridge from per-agent starts to the two-component
isotropic mixture target, Euler-Maruyama on the break-aligned grid, control energy as a left Riemann
sum). The same algorithm as mfpid-energy + mfpid-bridge, ported independently: closed-form
Green-function coefficients per step (scalar work), then the per-agent probe mean and drift as
whole-array NumPy operations into preallocated buffers.

With `lockstep` (the default, as mfpid-energy) the methods of one d step together over the same
agents: each step's increments are drawn once and drive every method (one draw, many drifts); with
`separate` each method runs on its own (own agents and noise).

Usage: dr_sweep.py B STEPS D[,D...] [METHOD[,METHOD...]] [lockstep|separate]
Prints one JSON line: `runs` (seconds of each run: per d and method when separate, per d when in
lockstep, `methods` joined by "+") and `energies` (per d and method, energy per zone with its
standard error)."""
import json
import math
import sys
import time

import numpy as np

BETA0, GAMMA, PIECES, EPS = 12.0, 0.65, 8, 1e-3


def hyp(w, s):
    """tau = tanh(w s)/w, sech = 1/cosh(w s), e = 1 - sech without cancellation."""
    if w == 0.0:
        return s, 1.0, 0.0
    x = w * s
    ch = math.cosh(x)
    e = 2.0 * math.sinh(0.5 * x) ** 2 / ch if x < 1.0 else 1.0 - 1.0 / ch
    return math.tanh(x) / w, 1.0 / ch, e


def half_tanh(w, s):
    return w * math.tanh(0.5 * w * s)


def sinh_over_w(w, s):
    return s if w == 0.0 else math.sinh(w * s) / w


def back_last(w, r):
    tau, sech, _ = hyp(w, r)
    a = 1.0 / tau
    th = half_tanh(w, r)
    return dict(a=a, b=sech * a, c=a, kxx=0.0, kxn=th, kyx=0.0, kyn=th)


def back_earlier(beta, w, a_r, b_r, c_r, s):
    tau, sech, e = hyp(w, s)
    g = 1.0 / (1.0 + a_r * tau)
    kxn, kyn = (0.0, 0.0) if beta == 0.0 else ((beta * tau + a_r * e) * g, b_r * e * g)
    return dict(a=(a_r + beta * tau) * g, b=b_r * sech * g, c=c_r - b_r * b_r * tau * g,
                kxx=sech * g, kxn=kxn, kyx=b_r * tau * g, kyn=kyn)


class Coefficients:
    """Anchors of the backward/forward closed forms at the breaks; `backward(t)` per step."""

    def __init__(self, breaks, beta, nu):
        m, d = nu.shape
        self.breaks, self.beta, self.nu = breaks, beta, nu
        self.w = [math.sqrt(b) for b in beta]
        ba, bb, bc, blx, bly = [0.0] * m, [0.0] * m, [0.0] * m, [0.0] * m, [0.0] * m
        btx, bty = np.zeros((m, d)), np.zeros((m, d))
        for i in reversed(range(m)):
            if i == m - 1:
                k = back_last(self.w[i], 1.0 - breaks[i])
                blx[i], bly[i] = k["kxn"], k["kyn"]
                btx[i], bty[i] = k["kxn"] * nu[i], k["kyn"] * nu[i]
            else:
                k = back_earlier(beta[i], self.w[i], ba[i + 1], bb[i + 1], bc[i + 1], breaks[i + 1] - breaks[i])
                blx[i] = k["kxx"] * blx[i + 1] + k["kxn"]
                bly[i] = bly[i + 1] + k["kyx"] * blx[i + 1] + k["kyn"]
                btx[i] = k["kxx"] * btx[i + 1] + k["kxn"] * nu[i]
                bty[i] = bty[i + 1] + k["kyx"] * btx[i + 1] + k["kyn"] * nu[i]
            ba[i], bb[i], bc[i] = k["a"], k["b"], k["c"]
        bk = [0.0] * m
        for i in range(m - 1):
            bk[i + 1] = bk[i] + bb[i] * bb[i + 1] * sinh_over_w(self.w[i], breaks[i + 1] - breaks[i])
        fa, flp, ftp = [math.inf] * (m + 1), [0.0] * (m + 1), np.zeros((m + 1, d))
        for i in range(m):
            if i == 0:
                tau, _, _ = hyp(self.w[0], breaks[1])
                a, kt, kn = 1.0 / tau, 0.0, half_tanh(self.w[0], breaks[1])
            else:
                tau, sech, e = hyp(self.w[i], breaks[i + 1] - breaks[i])
                g = 1.0 / (1.0 + fa[i] * tau)
                a, kt = (fa[i] + beta[i] * tau) * g, sech * g
                kn = 0.0 if beta[i] == 0.0 else (beta[i] * tau + fa[i] * e) * g
            fa[i + 1] = a
            flp[i + 1] = kt * flp[i] + kn
            ftp[i + 1] = kt * ftp[i] + kn * nu[i]
        self.ba, self.bb, self.bc, self.blx, self.bly = ba, bb, bc, blx, bly
        self.btx, self.bty, self.bk = btx, bty, bk
        self.lambda_plus_1, self.theta_plus_1 = flp[m], ftp[m]

    def piece(self, t):
        m = len(self.beta)
        return int(np.searchsorted(self.breaks[1:m], t, side="right"))

    def backward(self, t):
        """(a, b, K, theta_x, theta_probe, lambda_x, lambda_y) at t in [0, 1)."""
        m = len(self.beta)
        i = self.piece(t)
        w, nu = self.w[i], self.nu[i]
        if i == m - 1:
            k = back_last(w, 1.0 - t)
            lx, ly = k["kxn"], k["kyn"]
            tx, ty = k["kxn"] * nu, k["kyn"] * nu
        else:
            k = back_earlier(self.beta[i], w, self.ba[i + 1], self.bb[i + 1], self.bc[i + 1], self.breaks[i + 1] - t)
            lx = k["kxx"] * self.blx[i + 1] + k["kxn"]
            ly = self.bly[i + 1] + k["kyx"] * self.blx[i + 1] + k["kyn"]
            tx = k["kxx"] * self.btx[i + 1] + k["kxn"] * nu
            ty = self.bty[i + 1] + k["kyx"] * self.btx[i + 1] + k["kyn"] * nu
        kk = self.bk[i] + self.bb[i] * k["b"] * sinh_over_w(w, t - self.breaks[i])
        return k["a"], k["b"], kk, tx, ty - self.theta_plus_1, lx, ly


def aligned_grid(breaks, n_steps):
    """n_steps split over the pieces in proportion to their length, leftovers to the largest
    remainders (ties: earlier piece first); each piece uniform."""
    lens = np.diff(breaks)
    share = n_steps * lens / lens.sum()
    base = np.floor(share).astype(int)
    left = n_steps - base.sum()
    order = sorted(range(len(lens)), key=lambda i: (-(share[i] - base[i]), i))
    for i in order[:left]:
        base[i] += 1
    ts = [0.0]
    for i, n in enumerate(base):
        for k in range(1, n + 1):
            ts.append(breaks[i] + (breaks[i + 1] - breaks[i]) * k / n)
    ts[-1] = 1.0
    return np.array(ts)


def b_nd(d):
    z = np.sin(2.0 * np.pi * np.arange(d) / d)
    tar = np.stack([0.10 + 0.15 * z, 1.50 - 0.15 * z])
    inn = tar + np.array([[1.5], [4.0]])
    return dict(w=np.array([0.6, 0.4]), m_tar=tar, s_tar=np.array([0.2, 0.3]) ** 2,
                m_in=inn, sd_in=np.array([0.5, 0.7]))


def centres(method, breaks, mbar_in, mbar_tar, d):
    if method == "MF":
        mids = 0.5 * (breaks[:-1] + breaks[1:])
        return (1.0 - mids)[:, None] * mbar_in + mids[:, None] * mbar_tar
    if method == "IA0":
        return np.zeros((PIECES, d))
    return np.tile(mbar_tar, (PIECES, 1))


def run(d, b, n_steps, methods, rng):
    """Methods `methods` in lockstep on one fleet; per method (energy, stderr, terminal mean)."""
    sc = b_nd(d)
    breaks = np.linspace(0.0, 1.0, PIECES + 1)
    beta = [BETA0 * GAMMA ** i for i in range(PIECES)]
    mbar_in = sc["w"] @ sc["m_in"]
    mbar_tar = sc["w"] @ sc["m_tar"]
    cos = [Coefficients(breaks, beta, centres(m, breaks, mbar_in, mbar_tar, d)) for m in methods]
    grid = aligned_grid(breaks, n_steps)
    # agents: component by weight, then N(m_k, sd_k^2 I)
    comp = (rng.random(b) >= sc["w"][0]).astype(int)
    z = sc["m_in"][comp] + sc["sd_in"][comp][:, None] * rng.standard_normal((b, d))
    k = len(methods)
    xs = [z.copy() for _ in range(k)]
    log_w = np.log(sc["w"])
    mu, u, dj, yhat, xi = (np.empty((b, d)) for _ in range(5))
    mt = np.empty((2, b, d))
    lw = np.empty((2, b))
    q = np.empty(b)
    e_agent = np.zeros((k, b))
    usq = np.empty(b)
    energy = [0.0] * k
    for n in range(len(grid) - 1):
        t, h = grid[n], grid[n + 1] - grid[n]
        te = min(max(t, EPS), 1.0 - EPS)
        # one draw of the increments for every method
        rng.standard_normal(out=xi)
        xi *= math.sqrt(h)
        for i, (co, x) in enumerate(zip(cos, xs)):
            a, bm, kk, tx, tp, lx, ly = co.backward(te)
            ik = 1.0 / kk
            z_probe = (kk - bm - ly + co.lambda_plus_1) * ik
            z_drift = a - lx - bm
            # mu = (b x + Theta)/K + z_probe z
            np.multiply(x, bm * ik, out=mu)
            mu += tp * ik
            mu += z_probe * z
            for c in range(2):
                s = sc["s_tar"][c]
                si = 1.0 / (s + ik)
                np.subtract(mu, sc["m_tar"][c], out=dj)
                np.einsum("ij,ij->i", dj, dj, out=q)
                lw[c] = log_w[c] - 0.5 * d * math.log(s + ik) - 0.5 * si * q
                np.multiply(dj, s * si, out=mt[c])
                mt[c] += sc["m_tar"][c]
            # softmax over the two components
            mx = np.maximum(lw[0], lw[1])
            lw -= mx
            np.exp(lw, out=lw)
            tot = lw[0] + lw[1]
            lw /= tot
            np.multiply(mt[0], lw[0][:, None], out=yhat)
            yhat += mt[1] * lw[1][:, None]
            # u = -a x + theta_x + b yhat + z_drift z
            np.multiply(x, -a, out=u)
            u += tx
            u += bm * yhat
            u += z_drift * z
            np.einsum("ij,ij->i", u, u, out=usq)
            e_agent[i] += h * usq
            energy[i] += h * usq.mean()
            u *= h
            x += u
            x += xi
    return [(energy[i], e_agent[i].std(ddof=1) / math.sqrt(b), float(np.mean(xs[i])))
            for i in range(k)]


def main():
    b, n_steps = int(sys.argv[1]), int(sys.argv[2])
    ds = [int(v) for v in sys.argv[3].split(",")]
    methods = sys.argv[4].split(",") if len(sys.argv) > 4 else ["MF", "IA0", "IAm"]
    lockstep = (sys.argv[5] if len(sys.argv) > 5 else "lockstep") == "lockstep"
    rng = np.random.default_rng(20251122)
    runs, energies = [], []
    for d in ds:
        for group in [methods] if lockstep else [[m] for m in methods]:
            t0, c0 = time.perf_counter(), time.process_time()
            res = run(d, b, n_steps, group, rng)
            runs.append(dict(d=d, methods="+".join(group), seconds=time.perf_counter() - t0,
                             cpu_seconds=time.process_time() - c0))
            for m, (e, se, mean_end) in zip(group, res):
                energies.append(dict(d=d, method=m, energy_per_zone=e / d, stderr_per_zone=se / d,
                                     terminal_mean=mean_end))
    print(json.dumps({"runs": runs, "energies": energies, "numpy": np.__version__,
                      "lockstep": lockstep}))


if __name__ == "__main__":
    main()
