//! Uniform cell-centred grids in one and two dimensions and boundary conditions.
//!
//! Conventions: a [`Grid1d`] on `[lo, hi]` with `n` cells has cell width `h = (hi - lo) / n`,
//! cell centres `x_i = lo + (i + 1/2) h` for `i = 0..n` and faces `x_{i-1/2} = lo + i h` for
//! `i = 0..=n` (face `i` is the left face of cell `i`). Densities are stored as cell averages,
//! so the mass is `h * sum(p)`.

use serde::{Deserialize, Serialize};

use crate::error::{PdeError, Result};

/// Boundary condition at both ends of an axis.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub enum Boundary {
    /// No probability flux through the walls (reflecting); mass is conserved exactly.
    ZeroFlux,
    /// The last cell neighbours the first; the drift at face 0 is used for the wrap face.
    Periodic,
    /// The density takes the given values at the left and right walls (absorbing for 0).
    /// Supported by the 1-D solvers only.
    Dirichlet {
        /// Value at `lo`.
        left: f64,
        /// Value at `hi`.
        right: f64,
    },
}

/// Uniform cell-centred grid on `[lo, hi]` with `n` cells.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Grid1d {
    lo: f64,
    hi: f64,
    n: usize,
}

impl Grid1d {
    /// A grid of `n >= 3` cells on `[lo, hi]` (finite, `lo < hi`).
    pub fn new(lo: f64, hi: f64, n: usize) -> Result<Self> {
        validate_axis("x", lo, hi, n)?;
        Ok(Self { lo, hi, n })
    }

    /// Number of cells.
    pub fn n(&self) -> usize {
        self.n
    }
    /// Lower end of the interval.
    pub fn lo(&self) -> f64 {
        self.lo
    }
    /// Upper end of the interval.
    pub fn hi(&self) -> f64 {
        self.hi
    }
    /// Cell width `h`.
    pub fn h(&self) -> f64 {
        (self.hi - self.lo) / self.n as f64
    }
    /// Centre of cell `i`, `lo + (i + 1/2) h`.
    pub fn center(&self, i: usize) -> f64 {
        self.lo + (i as f64 + 0.5) * self.h()
    }
    /// Position of face `i` (`0..=n`), `lo + i h`.
    pub fn face(&self, i: usize) -> f64 {
        self.lo + i as f64 * self.h()
    }
    /// All `n` cell centres.
    pub fn centers(&self) -> Vec<f64> {
        (0..self.n).map(|i| self.center(i)).collect()
    }
    /// All `n + 1` face positions.
    pub fn faces(&self) -> Vec<f64> {
        (0..=self.n).map(|i| self.face(i)).collect()
    }
    /// Mass `h * sum(p)` of a cell-average array.
    pub fn integrate(&self, p: &[f64]) -> f64 {
        self.h() * p.iter().sum::<f64>()
    }
    /// Sample a function at the cell centres.
    pub fn sample(&self, f: impl Fn(f64) -> f64) -> Vec<f64> {
        (0..self.n).map(|i| f(self.center(i))).collect()
    }
    /// Mean `h * sum(x_i p_i) / mass` of a density on the grid.
    pub fn mean(&self, p: &[f64]) -> f64 {
        let m: f64 = p.iter().enumerate().map(|(i, v)| self.center(i) * v).sum();
        m / p.iter().sum::<f64>()
    }
    /// L1 distance `h * sum |p_i - q_i|`.
    pub fn l1_distance(&self, p: &[f64], q: &[f64]) -> f64 {
        self.h() * p.iter().zip(q).map(|(a, b)| (a - b).abs()).sum::<f64>()
    }
    /// Scale `p` in place so that it integrates to one. Fails if `p` has a negative or
    /// non-finite entry or zero mass; returns the mass before scaling.
    pub fn normalize(&self, what: &'static str, p: &mut [f64]) -> Result<f64> {
        check_density(what, p)?;
        let mass = self.integrate(p);
        if !(mass > 0.0 && mass.is_finite()) {
            return Err(PdeError::InvalidDensity {
                what,
                reason: "does not integrate to a positive finite number",
                value: mass,
            });
        }
        p.iter_mut().for_each(|v| *v /= mass);
        Ok(mass)
    }
}

/// Uniform cell-centred grid on `[x_lo, x_hi] x [y_lo, y_hi]`. Arrays over it are row-major
/// with `x` fastest: cell `(i, j)` is at flat index `j * nx + i`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Grid2d {
    x: Grid1d,
    y: Grid1d,
}

impl Grid2d {
    /// Product of two axes (each `>= 3` cells).
    pub fn new(x: Grid1d, y: Grid1d) -> Self {
        Self { x, y }
    }
    /// Square grid `[lo, hi]^2` with `n x n` cells.
    pub fn square(lo: f64, hi: f64, n: usize) -> Result<Self> {
        let x = Grid1d::new(lo, hi, n)?;
        validate_axis("y", lo, hi, n)?;
        Ok(Self { x, y: x })
    }
    /// The `x` axis.
    pub fn x(&self) -> &Grid1d {
        &self.x
    }
    /// The `y` axis.
    pub fn y(&self) -> &Grid1d {
        &self.y
    }
    /// Number of cells `nx * ny`.
    pub fn len(&self) -> usize {
        self.x.n * self.y.n
    }
    /// Always false: grids have at least 9 cells.
    pub fn is_empty(&self) -> bool {
        false
    }
    /// Cell area `hx * hy`.
    pub fn cell_area(&self) -> f64 {
        self.x.h() * self.y.h()
    }
    /// Mass `hx hy sum(p)`.
    pub fn integrate(&self, p: &[f64]) -> f64 {
        self.cell_area() * p.iter().sum::<f64>()
    }
    /// Sample `f(x, y)` at the cell centres (row-major, `x` fastest).
    pub fn sample(&self, f: impl Fn(f64, f64) -> f64) -> Vec<f64> {
        let mut out = Vec::with_capacity(self.len());
        for j in 0..self.y.n {
            let y = self.y.center(j);
            for i in 0..self.x.n {
                out.push(f(self.x.center(i), y));
            }
        }
        out
    }
    /// L1 distance `hx hy sum |p - q|`.
    pub fn l1_distance(&self, p: &[f64], q: &[f64]) -> f64 {
        self.cell_area() * p.iter().zip(q).map(|(a, b)| (a - b).abs()).sum::<f64>()
    }
}

fn validate_axis(axis: &'static str, lo: f64, hi: f64, n: usize) -> Result<()> {
    let bad = |reason| {
        Err(PdeError::InvalidGrid {
            axis,
            n,
            lo,
            hi,
            reason,
        })
    };
    if !(lo.is_finite() && hi.is_finite()) {
        return bad("interval ends must be finite");
    }
    if lo >= hi {
        return bad("need lo < hi");
    }
    if n < 3 {
        return bad("need at least 3 cells");
    }
    Ok(())
}

/// Fail if a density has a non-finite or negative entry.
pub(crate) fn check_density(what: &'static str, p: &[f64]) -> Result<()> {
    crate::error::check_finite(what, p)?;
    if let Some(v) = p.iter().copied().find(|v| *v < 0.0) {
        return Err(PdeError::InvalidDensity {
            what,
            reason: "has a negative entry",
            value: v,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grid_geometry_and_validation() {
        let g = Grid1d::new(-1.0, 1.0, 4).unwrap();
        assert_eq!(g.h(), 0.5);
        assert_eq!(g.center(0), -0.75);
        assert_eq!(g.face(4), 1.0);
        assert!(matches!(
            Grid1d::new(1.0, 1.0, 10),
            Err(PdeError::InvalidGrid { .. })
        ));
        assert!(matches!(
            Grid1d::new(0.0, 1.0, 2),
            Err(PdeError::InvalidGrid { n: 2, .. })
        ));
        let mut p = vec![1.0, -1.0, 1.0, 1.0];
        assert!(matches!(
            g.normalize("p", &mut p),
            Err(PdeError::InvalidDensity { .. })
        ));
        let mut z = vec![0.0; 4];
        assert!(g.normalize("p", &mut z).is_err());
    }
}
