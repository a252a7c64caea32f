//! Interaction kernels `V_t(z)` and the mean-field potential `V^MF_t[x; p] = ∫ V_t(x - y) p(y) dy`.

use serde::{Deserialize, Serialize};

use crate::error::{check_finite, MeanFieldError, Result};
use mfpid_bridge::validate_breaks;

/// An interaction between agents.
///
/// - `Quadratic`: `V_t(z) = beta_t |z|²/2` with a piecewise-constant schedule (reduces MF-PID to
///   GH-PID with `nu = m_t`; see [`crate::quadratic`]);
/// - `Gaussian`: `V(z) = eps exp(-|z|²/(2 ell²))`, repulsion for `eps > 0`, attraction for `eps < 0`;
/// - `Congestion`: the local cost `V^MF_t[x; p] = eps p_t(x)` (`eps >= 0`), i.e. `V = eps δ`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Interaction {
    /// `V_t(z) = beta_t |z|²/2`, `beta_t = beta[i]` on `[breaks[i], breaks[i+1])`.
    Quadratic {
        /// Breaks `0 = t_0 < ... < t_M = 1`.
        breaks: Vec<f64>,
        /// `beta_i >= 0` (1/time²).
        beta: Vec<f64>,
    },
    /// `V(z) = eps exp(-|z|²/(2 ell²))`.
    Gaussian {
        /// Strength (energy/time; `> 0` repulsive, `< 0` attractive).
        eps: f64,
        /// Range `ell > 0` (length).
        ell: f64,
    },
    /// `V^MF = eps p_t(x)`.
    Congestion {
        /// Strength `eps >= 0` (energy x volume / time).
        eps: f64,
    },
}

impl Interaction {
    /// Quadratic interaction with a constant `beta >= 0`.
    pub fn quadratic(beta: f64) -> Result<Self> {
        Self::quadratic_schedule(vec![0.0, 1.0], vec![beta])
    }

    /// Quadratic interaction with a piecewise-constant schedule.
    pub fn quadratic_schedule(breaks: Vec<f64>, beta: Vec<f64>) -> Result<Self> {
        validate_breaks(&breaks)?;
        if beta.len() + 1 != breaks.len() {
            return Err(MeanFieldError::BadLength {
                what: "beta",
                len: beta.len(),
                expected: format!("pieces M = {}", breaks.len() - 1),
            });
        }
        for &b in &beta {
            if !(b.is_finite() && b >= 0.0) {
                return Err(MeanFieldError::OutOfRange {
                    what: "beta",
                    value: b,
                    range: "[0, inf)",
                });
            }
        }
        Ok(Interaction::Quadratic { breaks, beta })
    }

    /// Gaussian kernel `eps exp(-|z|²/(2 ell²))`: `eps` finite, `ell > 0` finite.
    pub fn gaussian(eps: f64, ell: f64) -> Result<Self> {
        check_finite("eps", &[eps])?;
        if !(ell > 0.0 && ell.is_finite()) {
            return Err(MeanFieldError::OutOfRange {
                what: "ell",
                value: ell,
                range: "(0, inf)",
            });
        }
        Ok(Interaction::Gaussian { eps, ell })
    }

    /// Congestion cost `eps p_t(x)`, `eps >= 0` (a negative local cost makes the coupled system
    /// ill-posed: agents would pile up without bound).
    pub fn congestion(eps: f64) -> Result<Self> {
        if !(eps >= 0.0 && eps.is_finite()) {
            return Err(MeanFieldError::OutOfRange {
                what: "congestion eps",
                value: eps,
                range: "[0, inf)",
            });
        }
        Ok(Interaction::Congestion { eps })
    }

    /// Whether `V^MF` is local (`eps p_t(x)`) rather than a convolution.
    pub fn is_local(&self) -> bool {
        matches!(self, Interaction::Congestion { .. })
    }

    /// `beta_t` of a quadratic interaction at time `t` (right-continuous; 0 for other kinds).
    pub fn beta_at(&self, t: f64) -> f64 {
        match self {
            Interaction::Quadratic { breaks, beta } => {
                let i = breaks[1..].partition_point(|&b| b <= t).min(beta.len() - 1);
                beta[i]
            }
            _ => 0.0,
        }
    }

    /// The pair kernel `V_t(z)` as a function of `r2 = |z|²`; `None` for the local congestion cost.
    #[inline]
    pub fn pair(&self, t: f64, r2: f64) -> Option<f64> {
        match self {
            Interaction::Quadratic { .. } => Some(0.5 * self.beta_at(t) * r2),
            Interaction::Gaussian { eps, ell } => Some(eps * (-0.5 * r2 / (ell * ell)).exp()),
            Interaction::Congestion { .. } => None,
        }
    }

    /// The one-dimensional factor of a separable kernel: `V(z) = scale * prod_j g(z_j)`;
    /// returns `(scale, g(z_j))` for the Gaussian kernel, `None` otherwise.
    pub(crate) fn separable_factor(&self, zj: f64) -> Option<(f64, f64)> {
        match self {
            Interaction::Gaussian { eps, ell } => {
                Some((*eps, (-0.5 * zj * zj / (ell * ell)).exp()))
            }
            _ => None,
        }
    }
}

/// `V^MF` on a 1-D cell-centred grid of `n` cells of width `h`: `V_i = h sum_j V_t(x_i - x_j) p_j`
/// (direct Toeplitz sum, `O(n²)`), or `eps p_i` for congestion. Writes into `out` (length `n`).
pub fn potential_on_grid_1d(inter: &Interaction, t: f64, h: f64, p: &[f64], out: &mut [f64]) {
    let n = p.len();
    if let Interaction::Congestion { eps } = inter {
        for (o, v) in out.iter_mut().zip(p) {
            *o = eps * v;
        }
        return;
    }
    // kernel at offsets -(n-1)..(n-1), index k + n - 1
    let kern: Vec<f64> = (0..2 * n - 1)
        .map(|k| {
            let z = (k as f64 - (n as f64 - 1.0)) * h;
            inter.pair(t, z * z).unwrap_or(0.0)
        })
        .collect();
    use rayon::prelude::*;
    out.par_iter_mut().enumerate().for_each(|(i, o)| {
        let mut s = 0.0;
        for (j, pj) in p.iter().enumerate() {
            s += kern[i + n - 1 - j] * pj;
        }
        *o = h * s;
    });
}

/// `V^MF` on a 2-D grid (`nx x ny`, row-major, `x` fastest, cell sizes `hx`, `hy`): Gaussian
/// kernels by two separable passes (`O(n³)`), quadratic kernels from the first two moments
/// (`V^MF = beta/2 (|x - m|² + tr Cov)`, identical to the convolution), congestion locally.
#[allow(clippy::too_many_arguments)]
pub fn potential_on_grid_2d(
    inter: &Interaction,
    t: f64,
    (nx, ny): (usize, usize),
    (hx, hy): (f64, f64),
    (x0, y0): (f64, f64),
    p: &[f64],
    out: &mut [f64],
) {
    match inter {
        Interaction::Congestion { eps } => {
            for (o, v) in out.iter_mut().zip(p) {
                *o = eps * v;
            }
        }
        Interaction::Quadratic { .. } => {
            let beta = inter.beta_at(t);
            let area = hx * hy;
            let xc = |i: usize| x0 + (i as f64 + 0.5) * hx;
            let yc = |j: usize| y0 + (j as f64 + 0.5) * hy;
            let (mut mass, mut mx, mut my, mut sxx) = (0.0, 0.0, 0.0, 0.0);
            for j in 0..ny {
                for i in 0..nx {
                    let w = p[j * nx + i] * area;
                    mass += w;
                    mx += w * xc(i);
                    my += w * yc(j);
                    sxx += w * (xc(i) * xc(i) + yc(j) * yc(j));
                }
            }
            let (mx, my) = (mx / mass, my / mass);
            let tr = sxx / mass - mx * mx - my * my;
            for j in 0..ny {
                for i in 0..nx {
                    let r2 = (xc(i) - mx).powi(2) + (yc(j) - my).powi(2);
                    out[j * nx + i] = 0.5 * beta * (r2 + tr) * mass;
                }
            }
        }
        Interaction::Gaussian { .. } => {
            let gx: Vec<f64> = (0..2 * nx - 1)
                .map(|k| {
                    let z = (k as f64 - (nx as f64 - 1.0)) * hx;
                    inter.separable_factor(z).map(|f| f.1).unwrap_or(0.0)
                })
                .collect();
            let gy: Vec<f64> = (0..2 * ny - 1)
                .map(|k| {
                    let z = (k as f64 - (ny as f64 - 1.0)) * hy;
                    inter.separable_factor(z).map(|f| f.1).unwrap_or(0.0)
                })
                .collect();
            let scale = inter.separable_factor(0.0).map(|f| f.0).unwrap_or(0.0);
            // pass 1 along x: tmp(i, j) = hx sum_k gx(i - k) p(k, j)
            let mut tmp = vec![0.0; nx * ny];
            use rayon::prelude::*;
            tmp.par_chunks_mut(nx).enumerate().for_each(|(j, row)| {
                let pr = &p[j * nx..(j + 1) * nx];
                for (i, r) in row.iter_mut().enumerate() {
                    let mut s = 0.0;
                    for (k, pk) in pr.iter().enumerate() {
                        s += gx[i + nx - 1 - k] * pk;
                    }
                    *r = hx * s;
                }
            });
            // pass 2 along y
            out.par_chunks_mut(nx).enumerate().for_each(|(j, row)| {
                for (i, o) in row.iter_mut().enumerate() {
                    let mut s = 0.0;
                    for k in 0..ny {
                        s += gy[j + ny - 1 - k] * tmp[k * nx + i];
                    }
                    *o = scale * hy * s;
                }
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validation() {
        assert!(Interaction::gaussian(1.0, 0.0).is_err());
        assert!(Interaction::gaussian(f64::NAN, 1.0).is_err());
        assert!(Interaction::gaussian(-1.0, 0.5).is_ok());
        assert!(Interaction::congestion(-0.1).is_err());
        assert!(Interaction::quadratic(-1.0).is_err());
        assert!(Interaction::quadratic_schedule(vec![0.0, 0.5, 1.0], vec![1.0]).is_err());
        assert!(Interaction::quadratic_schedule(vec![0.0, 0.5], vec![1.0]).is_err());
        let q = Interaction::quadratic_schedule(vec![0.0, 0.5, 1.0], vec![1.0, 2.0]).unwrap();
        assert_eq!(q.beta_at(0.2), 1.0);
        assert_eq!(q.beta_at(0.5), 2.0);
        assert_eq!(q.beta_at(1.0), 2.0);
    }

    #[test]
    fn quadratic_convolution_equals_moment_form() {
        // 1-D: h sum beta (x - y)^2 / 2 p(y) = beta/2 ((x - m)^2 + var) for unit mass
        let n = 200;
        let (lo, hi) = (-5.0, 5.0);
        let h = (hi - lo) / n as f64;
        let xs: Vec<f64> = (0..n).map(|i| lo + (i as f64 + 0.5) * h).collect();
        let mut p: Vec<f64> = xs
            .iter()
            .map(|x| (-(x - 0.7f64).powi(2) / 0.5).exp() + 0.3 * (-(x + 2.0f64).powi(2)).exp())
            .collect();
        let mass: f64 = h * p.iter().sum::<f64>();
        p.iter_mut().for_each(|v| *v /= mass);
        let m: f64 = h * xs.iter().zip(&p).map(|(x, v)| x * v).sum::<f64>();
        let var: f64 = h * xs
            .iter()
            .zip(&p)
            .map(|(x, v)| (x - m).powi(2) * v)
            .sum::<f64>();
        let inter = Interaction::quadratic(3.0).unwrap();
        let mut out = vec![0.0; n];
        potential_on_grid_1d(&inter, 0.3, h, &p, &mut out);
        for (x, v) in xs.iter().zip(&out) {
            let exact = 1.5 * ((x - m).powi(2) + var);
            assert!((v - exact).abs() < 1e-10 * exact.max(1.0), "{v} vs {exact}");
        }
    }

    #[test]
    fn separable_gaussian_matches_direct_2d() {
        let (nx, ny) = (12, 9);
        let (hx, hy) = (0.4, 0.5);
        let (x0, y0) = (-2.4, -2.25);
        let p: Vec<f64> = (0..nx * ny)
            .map(|k| ((k * 7919) % 13) as f64 / 13.0)
            .collect();
        let inter = Interaction::gaussian(-0.7, 0.6).unwrap();
        let mut out = vec![0.0; nx * ny];
        potential_on_grid_2d(&inter, 0.0, (nx, ny), (hx, hy), (x0, y0), &p, &mut out);
        for j in 0..ny {
            for i in 0..nx {
                let mut s = 0.0;
                for l in 0..ny {
                    for k in 0..nx {
                        let r2 = ((i as f64 - k as f64) * hx).powi(2)
                            + ((j as f64 - l as f64) * hy).powi(2);
                        s += inter.pair(0.0, r2).unwrap() * p[l * nx + k] * hx * hy;
                    }
                }
                assert!(
                    (out[j * nx + i] - s).abs() < 1e-12,
                    "{} vs {s}",
                    out[j * nx + i]
                );
            }
        }
    }
}
