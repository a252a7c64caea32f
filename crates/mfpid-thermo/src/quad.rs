//! Adaptive Gauss-Kronrod (7/15-point) quadrature, used for every "accurate quadrature" in the crate
//! (T2(t), the cloning curve φ(t), entropies of exact marginals) and by tests as the reference.

use crate::error::{Result, ThermoError};

/// Kronrod abscissae on [-1, 1] (positive half, descending; the last is the centre).
const XGK: [f64; 8] = [
    0.991_455_371_120_812_6,
    0.949_107_912_342_758_5,
    0.864_864_423_359_769_1,
    0.741_531_185_599_394_4,
    0.586_087_235_467_691_1,
    0.405_845_151_377_397_2,
    0.207_784_955_007_898_5,
    0.0,
];
/// Kronrod weights matching [`XGK`].
const WGK: [f64; 8] = [
    0.022_935_322_010_529_22,
    0.063_092_092_629_978_55,
    0.104_790_010_322_250_18,
    0.140_653_259_715_525_92,
    0.169_004_726_639_267_9,
    0.190_350_578_064_785_4,
    0.204_432_940_075_298_9,
    0.209_482_141_084_727_83,
];
/// Gauss (7-point) weights for the odd-indexed Kronrod abscissae `XGK[1], XGK[3], XGK[5], XGK[7]`.
const WG: [f64; 4] = [
    0.129_484_966_168_869_7,
    0.279_705_391_489_276_7,
    0.381_830_050_505_118_9,
    0.417_959_183_673_469_4,
];

/// Result of a quadrature: value and an (a-posteriori, conservative) absolute error estimate.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Quadrature {
    /// Estimated integral.
    pub value: f64,
    /// Estimated absolute error (sum over panels of |K15 - G7|).
    pub abs_err: f64,
}

/// One G7/K15 panel on [a, b]: (Kronrod value, |Kronrod - Gauss|).
fn panel<F: FnMut(f64) -> f64>(f: &mut F, a: f64, b: f64) -> (f64, f64) {
    let c = 0.5 * (a + b);
    let h = 0.5 * (b - a);
    let fc = f(c);
    let mut k = WGK[7] * fc;
    let mut g = WG[3] * fc;
    for (j, (&x, &w)) in XGK.iter().zip(WGK.iter()).take(7).enumerate() {
        let f1 = f(c - h * x);
        let f2 = f(c + h * x);
        k += w * (f1 + f2);
        if j % 2 == 1 {
            g += WG[j / 2] * (f1 + f2);
        }
    }
    (k * h, ((k - g) * h).abs())
}

/// Adaptive Gauss-Kronrod quadrature of `f` on the finite interval `[a, b]`.
///
/// Panels are bisected (worst first) until the summed error estimate is below
/// `max(abs_tol, rel_tol * |value|)`; at most 20 000 panels are used. Errors:
/// [`ThermoError::OutOfRange`] for non-finite ends or `b < a`, [`ThermoError::Quadrature`]
/// when the budget is exhausted, [`ThermoError::NonFinite`] when `f` returns NaN/inf.
pub fn integrate<F: FnMut(f64) -> f64>(
    mut f: F,
    a: f64,
    b: f64,
    abs_tol: f64,
    rel_tol: f64,
) -> Result<Quadrature> {
    crate::error::finite("a", a)?;
    crate::error::finite("b", b)?;
    if b < a {
        return Err(ThermoError::OutOfRange {
            what: "b",
            value: b,
            reason: "must be >= a",
        });
    }
    if b == a {
        return Ok(Quadrature {
            value: 0.0,
            abs_err: 0.0,
        });
    }
    // panels: (a, b, value, err)
    let mut panels: Vec<(f64, f64, f64, f64)> = Vec::with_capacity(64);
    let (v, e) = panel(&mut f, a, b);
    panels.push((a, b, v, e));
    let mut total = v;
    let mut err = e;
    const MAX_PANELS: usize = 20_000;
    loop {
        if !total.is_finite() || !err.is_finite() {
            return Err(ThermoError::NonFinite {
                name: "integrand",
                index: panels.len(),
            });
        }
        let tol = abs_tol.max(rel_tol * total.abs());
        if err <= tol {
            return Ok(Quadrature {
                value: total,
                abs_err: err,
            });
        }
        if panels.len() >= MAX_PANELS {
            return Err(ThermoError::Quadrature {
                a,
                b,
                error: err,
                tolerance: tol,
            });
        }
        // bisect the worst panel
        let (iw, _) = panels
            .iter()
            .enumerate()
            .fold((0usize, -1.0f64), |(bi, be), (i, p)| {
                if p.3 > be {
                    (i, p.3)
                } else {
                    (bi, be)
                }
            });
        let (pa, pb, pv, pe) = panels.swap_remove(iw);
        let mid = 0.5 * (pa + pb);
        let (v1, e1) = panel(&mut f, pa, mid);
        let (v2, e2) = panel(&mut f, mid, pb);
        total += v1 + v2 - pv;
        err += e1 + e2 - pe;
        panels.push((pa, mid, v1, e1));
        panels.push((mid, pb, v2, e2));
        // re-sum occasionally to keep the running sums free of cancellation drift
        if panels.len().is_multiple_of(256) {
            total = panels.iter().map(|p| p.2).sum();
            err = panels.iter().map(|p| p.3).sum();
        }
    }
}

/// `E[g(X)]` for `X ~ N(mean, var)` by [`integrate`] over `mean ± 12 sqrt(var)` (Gaussian tail mass
/// beyond is below 1e-32). `var` must be > 0.
pub fn gaussian_expectation<F: FnMut(f64) -> f64>(
    mut g: F,
    mean: f64,
    var: f64,
    abs_tol: f64,
) -> Result<Quadrature> {
    crate::error::positive("var", var)?;
    crate::error::finite("mean", mean)?;
    let sd = var.sqrt();
    let norm = 1.0 / (2.0 * std::f64::consts::PI * var).sqrt();
    integrate(
        |x| {
            let z = (x - mean) / sd;
            norm * (-0.5 * z * z).exp() * g(x)
        },
        mean - 12.0 * sd,
        mean + 12.0 * sd,
        abs_tol,
        0.0,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn polynomials_and_gaussian() {
        let q = integrate(|x| x.powi(6) - 3.0 * x * x, 0.0, 2.0, 1e-13, 0.0).unwrap();
        assert!((q.value - (128.0 / 7.0 - 8.0)).abs() < 1e-12, "{q:?}");
        let q = integrate(|x| (-x * x).exp(), -10.0, 10.0, 1e-13, 0.0).unwrap();
        assert!(
            (q.value - std::f64::consts::PI.sqrt()).abs() < 1e-12,
            "{q:?}"
        );
        // needs adaptivity: sharp peak
        let q = integrate(|x| 1.0 / (1e-4 + x * x), -1.0, 1.0, 1e-10, 0.0).unwrap();
        let exact = 2.0 / 1e-2 * (1.0f64 / 1e-2).atan();
        assert!((q.value - exact).abs() < 1e-8, "{q:?} vs {exact}");
        let m = gaussian_expectation(|x| x * x, 0.7, 2.0, 1e-13).unwrap();
        assert!((m.value - (2.0 + 0.49)).abs() < 1e-11, "{m:?}");
    }

    #[test]
    fn bad_bounds_are_errors() {
        assert!(matches!(
            integrate(|x| x, 1.0, 0.0, 1e-9, 0.0),
            Err(ThermoError::OutOfRange { what: "b", .. })
        ));
        assert!(matches!(
            gaussian_expectation(|x| x, 0.0, -1.0, 1e-9),
            Err(ThermoError::NonPositiveVariance { name: "var", .. })
        ));
        assert!(matches!(
            integrate(|_| f64::NAN, 0.0, 1.0, 1e-9, 0.0),
            Err(ThermoError::NonFinite { .. })
        ));
    }
}
