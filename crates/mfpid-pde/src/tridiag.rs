//! Tridiagonal (Thomas) and cyclic tridiagonal (Sherman-Morrison) solvers for `(I - c L) x = d`
//! where `L` is a three-point generator stored as `lower`, `diag`, `upper`.
//!
//! Row `i` of `L` reads `lower[i] x[i-1] + diag[i] x[i] + upper[i] x[i+1]`. In the periodic case
//! `lower[0]` multiplies `x[n-1]` and `upper[n-1]` multiplies `x[0]`; otherwise those two entries
//! must be zero and are ignored.

/// Solve `(I - c L) x = d` in place (`d` becomes `x`) with the Thomas algorithm; `cp` is scratch
/// of length `n`. For a generator with non-negative off-diagonals and `c >= 0` the matrix is an
/// M-matrix, the elimination involves only additions of like-signed terms, and a non-negative
/// right-hand side gives a non-negative solution to full relative accuracy.
pub(crate) fn solve_shifted(
    c: f64,
    lower: &[f64],
    diag: &[f64],
    upper: &[f64],
    d: &mut [f64],
    cp: &mut [f64],
) {
    thomas(
        d.len(),
        |i| -c * lower[i],
        |i| 1.0 - c * diag[i],
        |i| -c * upper[i],
        d,
        cp,
    );
}

/// Generic Thomas sweep with coefficients given by closures (sub `a`, main `b`, super `c`).
#[inline(always)]
fn thomas(
    n: usize,
    a: impl Fn(usize) -> f64,
    b: impl Fn(usize) -> f64,
    c: impl Fn(usize) -> f64,
    d: &mut [f64],
    cp: &mut [f64],
) {
    let mut beta = b(0);
    cp[0] = c(0) / beta;
    d[0] /= beta;
    for i in 1..n {
        let ai = a(i);
        beta = b(i) - ai * cp[i - 1];
        cp[i] = c(i) / beta;
        d[i] = (d[i] - ai * d[i - 1]) / beta;
    }
    for i in (0..n - 1).rev() {
        d[i] -= cp[i] * d[i + 1];
    }
}

/// Solve the cyclic system `(I - c L) x = d` in place by Sherman-Morrison; `cp` and `z` are
/// scratch of length `n`.
pub(crate) fn solve_shifted_cyclic(
    c: f64,
    lower: &[f64],
    diag: &[f64],
    upper: &[f64],
    d: &mut [f64],
    cp: &mut [f64],
    z: &mut [f64],
) {
    let n = d.len();
    // corner entries of M = I - c L: alpha = M[n-1][0], beta = M[0][n-1]
    let alpha = -c * upper[n - 1];
    let beta = -c * lower[0];
    let b0 = 1.0 - c * diag[0];
    let gamma = -b0;
    let main = |i: usize| {
        let bi = 1.0 - c * diag[i];
        if i == 0 {
            bi - gamma
        } else if i == n - 1 {
            bi - alpha * beta / gamma
        } else {
            bi
        }
    };
    let sub = |i: usize| if i == 0 { 0.0 } else { -c * lower[i] };
    let sup = |i: usize| if i == n - 1 { 0.0 } else { -c * upper[i] };
    thomas(n, sub, main, sup, d, cp);
    z.iter_mut().for_each(|v| *v = 0.0);
    z[0] = gamma;
    z[n - 1] = alpha;
    thomas(n, sub, main, sup, z, cp);
    let fact = (d[0] + beta * d[n - 1] / gamma) / (1.0 + z[0] + beta * z[n - 1] / gamma);
    for (x, zi) in d.iter_mut().zip(z.iter()) {
        *x -= fact * zi;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn apply(c: f64, lo: &[f64], di: &[f64], up: &[f64], x: &[f64], periodic: bool) -> Vec<f64> {
        let n = x.len();
        (0..n)
            .map(|i| {
                let xm = if i > 0 {
                    x[i - 1]
                } else if periodic {
                    x[n - 1]
                } else {
                    0.0
                };
                let xp = if i + 1 < n {
                    x[i + 1]
                } else if periodic {
                    x[0]
                } else {
                    0.0
                };
                x[i] - c * (lo[i] * xm + di[i] * x[i] + up[i] * xp)
            })
            .collect()
    }

    #[test]
    fn thomas_and_cyclic_invert_the_matrix() {
        let n = 9;
        let lo: Vec<f64> = (0..n).map(|i| 0.3 + 0.1 * i as f64).collect();
        let up: Vec<f64> = (0..n).map(|i| 0.7 - 0.05 * i as f64).collect();
        let di: Vec<f64> = (0..n).map(|i| -(lo[i] + up[i]) - 0.1).collect();
        let x: Vec<f64> = (0..n).map(|i| (i as f64 * 0.7).sin() + 2.0).collect();
        for periodic in [false, true] {
            let mut lo2 = lo.clone();
            let mut up2 = up.clone();
            if !periodic {
                lo2[0] = 0.0;
                up2[n - 1] = 0.0;
            }
            let mut d = apply(0.8, &lo2, &di, &up2, &x, periodic);
            let mut cp = vec![0.0; n];
            let mut z = vec![0.0; n];
            if periodic {
                solve_shifted_cyclic(0.8, &lo2, &di, &up2, &mut d, &mut cp, &mut z);
            } else {
                solve_shifted(0.8, &lo2, &di, &up2, &mut d, &mut cp);
            }
            for (a, b) in d.iter().zip(&x) {
                assert!((a - b).abs() < 1e-13, "periodic={periodic}: {a} vs {b}");
            }
        }
    }
}
