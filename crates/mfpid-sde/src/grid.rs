//! Time grids: uniform, user-given, and aligned to break points.

use crate::error::{finite, SdeError};
use serde::{Deserialize, Serialize};

/// A strictly increasing time grid `t_0 < t_1 < ... < t_N` (N >= 1 steps).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TimeGrid {
    times: Vec<f64>,
}

impl TimeGrid {
    /// `n_steps` equal steps from `t0` to `t1`.
    ///
    /// ```
    /// let g = mfpid_sde::TimeGrid::uniform(0.0, 1.0, 4).unwrap();
    /// assert_eq!(g.times(), &[0.0, 0.25, 0.5, 0.75, 1.0]);
    /// ```
    pub fn uniform(t0: f64, t1: f64, n_steps: usize) -> Result<Self, SdeError> {
        finite("t0", t0)?;
        finite("t1", t1)?;
        if n_steps == 0 {
            return Err(SdeError::GridTooShort { points: 1 });
        }
        if t1 <= t0 {
            return Err(SdeError::BadStep {
                field: "t1 - t0",
                value: t1 - t0,
            });
        }
        let h = (t1 - t0) / n_steps as f64;
        let mut times: Vec<f64> = (0..=n_steps).map(|n| t0 + n as f64 * h).collect();
        times[n_steps] = t1;
        Ok(Self { times })
    }

    /// A user-given grid; must be finite and strictly increasing with at least two points.
    pub fn from_points(times: Vec<f64>) -> Result<Self, SdeError> {
        if times.len() < 2 {
            return Err(SdeError::GridTooShort {
                points: times.len(),
            });
        }
        for &t in &times {
            finite("time grid point", t)?;
        }
        for i in 1..times.len() {
            if times[i] <= times[i - 1] {
                return Err(SdeError::UnsortedGrid {
                    index: i,
                    prev: times[i - 1],
                    next: times[i],
                });
            }
        }
        Ok(Self { times })
    }

    /// A grid from `t0` to `t1` that contains every break point strictly inside `(t0, t1)`.
    ///
    /// The breaks cut `[t0, t1]` into pieces; `n_steps` is split over the pieces in proportion to
    /// their length (floor of the share), and the leftover steps go to the pieces with the largest
    /// remainders (ties: earlier piece first). Every piece must get at least one step, otherwise
    /// an error is returned. Breaks outside `(t0, t1)` are ignored; breaks must
    /// be sorted.
    ///
    /// ```
    /// // pieces of length 0.5, 0.25, 0.25 with 10 steps: shares 5, 2.5, 2.5 -> 5, 3, 2
    /// let g = mfpid_sde::TimeGrid::aligned(0.0, 1.0, &[0.5, 0.75], 10).unwrap();
    /// assert_eq!(g.n_steps(), 10);
    /// assert!(g.times().contains(&0.5) && g.times().contains(&0.75));
    /// ```
    pub fn aligned(t0: f64, t1: f64, breaks: &[f64], n_steps: usize) -> Result<Self, SdeError> {
        finite("t0", t0)?;
        finite("t1", t1)?;
        if t1 <= t0 {
            return Err(SdeError::BadStep {
                field: "t1 - t0",
                value: t1 - t0,
            });
        }
        let mut edges = vec![t0];
        for (i, &b) in breaks.iter().enumerate() {
            finite("break point", b)?;
            if i > 0 && b <= breaks[i - 1] {
                return Err(SdeError::UnsortedGrid {
                    index: i,
                    prev: breaks[i - 1],
                    next: b,
                });
            }
            if b > t0 && b < t1 {
                edges.push(b);
            }
        }
        edges.push(t1);
        let pieces = edges.len() - 1;
        if n_steps < pieces {
            return Err(SdeError::Invalid {
                field: "n_steps",
                value: n_steps.to_string(),
                reason: "must be at least the number of pieces between breaks",
            });
        }
        let counts = split_steps(&edges, n_steps);
        if counts.contains(&0) {
            return Err(SdeError::Invalid {
                field: "n_steps",
                value: n_steps.to_string(),
                reason: "too few steps: a piece between breaks would get no step",
            });
        }
        let mut times = Vec::with_capacity(n_steps + 1);
        times.push(t0);
        for (p, &k) in counts.iter().enumerate() {
            let (a, b) = (edges[p], edges[p + 1]);
            let h = (b - a) / k as f64;
            for n in 1..k {
                times.push(a + n as f64 * h);
            }
            times.push(b);
        }
        Ok(Self { times })
    }

    /// Grid points `t_0 .. t_N`.
    pub fn times(&self) -> &[f64] {
        &self.times
    }

    /// Number of steps `N`.
    pub fn n_steps(&self) -> usize {
        self.times.len() - 1
    }

    /// Step `h_n = t_{n+1} - t_n`.
    pub fn step(&self, n: usize) -> f64 {
        self.times[n + 1] - self.times[n]
    }

    /// First time `t_0`.
    pub fn start(&self) -> f64 {
        self.times[0]
    }

    /// Last time `t_N`.
    pub fn end(&self) -> f64 {
        self.times[self.times.len() - 1]
    }
}

/// Split `n_steps` over pieces `[edges[p], edges[p+1]]` in proportion to length (Hamilton's
/// largest-remainder method; ties go to the earlier piece). May leave a very short piece with 0.
fn split_steps(edges: &[f64], n_steps: usize) -> Vec<usize> {
    let pieces = edges.len() - 1;
    let total = edges[pieces] - edges[0];
    let mut counts = vec![0usize; pieces];
    let mut rema: Vec<(usize, f64)> = Vec::with_capacity(pieces);
    let mut used = 0;
    for p in 0..pieces {
        let share = n_steps as f64 * (edges[p + 1] - edges[p]) / total;
        let whole = share.floor();
        counts[p] = whole as usize;
        used += whole as usize;
        rema.push((p, share - whole));
    }
    // largest remainder first; the sort is stable, so earlier pieces win ties
    rema.sort_by(|a, b| b.1.partial_cmp(&a.1).unwrap_or(std::cmp::Ordering::Equal));
    for &(p, _) in rema.iter().take(n_steps.saturating_sub(used)) {
        counts[p] += 1;
    }
    counts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aligned_split_is_proportional_with_largest_remainders() {
        // 8 equal pieces, 2500 steps: 312.5 each -> the first four pieces get 313
        let breaks: Vec<f64> = (1..8).map(|i| i as f64 / 8.0).collect();
        let g = TimeGrid::aligned(0.0, 1.0, &breaks, 2500).unwrap();
        assert_eq!(g.n_steps(), 2500);
        for b in &breaks {
            assert!(
                g.times().iter().any(|t| (t - b).abs() < 1e-15),
                "break {b} missing"
            );
        }
        assert_eq!(
            split_steps(&(0..=8).map(|i| i as f64 / 8.0).collect::<Vec<_>>(), 2500),
            vec![313, 313, 313, 313, 312, 312, 312, 312]
        );
        // lengths 0.5,0.25,0.25 with 10 steps: 5, 2.5, 2.5 -> the tie goes to the earlier piece
        let counts = split_steps(&[0.0, 0.5, 0.75, 1.0], 10);
        assert_eq!(counts, vec![5, 3, 2]);
    }

    #[test]
    fn bad_grids_are_rejected() {
        assert!(matches!(
            TimeGrid::from_points(vec![0.0, 0.5, 0.5]),
            Err(SdeError::UnsortedGrid { index: 2, .. })
        ));
        assert!(matches!(
            TimeGrid::from_points(vec![0.0]),
            Err(SdeError::GridTooShort { points: 1 })
        ));
        assert!(matches!(
            TimeGrid::uniform(0.0, f64::NAN, 3),
            Err(SdeError::NonFinite { .. })
        ));
        assert!(matches!(
            TimeGrid::uniform(1.0, 0.0, 3),
            Err(SdeError::BadStep { .. })
        ));
        assert!(matches!(
            TimeGrid::aligned(0.0, 1.0, &[0.2, 0.4, 0.6], 3),
            Err(SdeError::Invalid { .. })
        ));
    }
}
