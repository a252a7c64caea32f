//! Metrics: the outcome of one method ([`MethodRun`]), energy by sub-population, savings with paired standard errors, and the terminal-law
//! error against `p_tar`.

use mfpid_sde::observe::{blocked_sum, mean_stderr_on};
use mfpid_sde::{Communicator, SingleProcess};
use serde::Serialize;
use statrs::function::erf::erfc;

use crate::error::{EnergyError, Result};
use crate::fleet::Fleet;

/// The outcome of one method on one fleet.
#[derive(Debug, Clone, Serialize)]
pub struct MethodRun {
    /// Method name.
    pub method: String,
    /// Number of zones `d`.
    pub d: usize,
    /// Number of agents `B`.
    pub agents: usize,
    /// Centres used, row-major `M x d`.
    pub centres: Vec<f64>,
    /// Control energy `E(1) = ∫ E|u_t|² dt` summed over zones (left Riemann sum).
    pub energy: f64,
    /// Standard error of `energy` over agents.
    pub stderr: f64,
    /// Per-zone energies `E_j(1)` (length `d`, summing to `energy`).
    pub energy_per_zone: Vec<f64>,
    /// Peak power `max_t E|u_t|²`.
    pub peak_power: f64,
    /// Grid times `t_n` of the power trace.
    pub times: Vec<f64>,
    /// Power `P(t_n) = E|u|²` (fleet average).
    pub power: Vec<f64>,
    /// Energy per agent `e_i = ∫ |u_i|² dt` of the agents of this rank (length `B` in one
    /// process; paired comparisons between methods, [`Saving::of_on`] over several ranks).
    pub per_agent: Vec<f64>,
    /// Energy by the `p_in` component each agent started in.
    pub subpopulations: Vec<SubpopEnergy>,
    /// Power per sub-population (`K` rows of length `N`, mean over the group's agents), if recorded.
    pub subpop_power: Option<Vec<Vec<f64>>>,
    /// Terminal law against `p_tar`.
    pub terminal: TerminalLaw,
    /// Fleet mean `(t, x̄(t))` every `Recording::mean_every` steps (and at `t = 1`), if recorded.
    pub mean_path: Vec<(f64, Vec<f64>)>,
    /// Terminal states of this rank's agents, row-major (`B x d` in one process), if recorded.
    #[serde(skip)]
    pub final_states: Option<Vec<f64>>,
    /// Wall time of the run that produced this result (bridge set-up, simulation and metrics),
    /// seconds; for methods run in lockstep ([`crate::Experiment::run_all`]) the whole lockstep run,
    /// shared by its methods.
    pub wall_s: f64,
}

/// Control energy of the agents that started in one component of `p_in`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SubpopEnergy {
    /// Component index `k` of `p_in`.
    pub component: usize,
    /// Agents in the group.
    pub agents: usize,
    /// Mean energy per agent of the group, `mean_{i in k} ∫ |u_i|² dt`.
    pub energy: f64,
    /// Standard error of `energy` (NaN for fewer than 2 agents).
    pub stderr: f64,
    /// The group's share of the fleet's total energy, in percent.
    pub share_pct: f64,
}

/// Group per-agent energies `e_i` by label (`labels[i] < k`).
pub fn subpopulation_energies(per_agent: &[f64], labels: &[usize], k: usize) -> Vec<SubpopEnergy> {
    subpopulation_energies_on(&SingleProcess, per_agent, labels, k)
}

/// [`subpopulation_energies`] of agents spread over the ranks of `comm` (`per_agent`, `labels`
/// this rank's agents, whole RNG blocks at their global offset): collective, reproducible block
/// sums (`O(k)` numbers sent), the same on every rank for any number of ranks.
pub fn subpopulation_energies_on(
    comm: &dyn Communicator,
    per_agent: &[f64],
    labels: &[usize],
    k: usize,
) -> Vec<SubpopEnergy> {
    let n = per_agent.len();
    let mut partials = Vec::new();
    // [count_c, Σ_{i in c} e_i] per group, then Σ_i e_i
    let mut s1 = vec![0.0; 2 * k + 1];
    blocked_sum(comm, n, 2 * k + 1, &mut partials, &mut s1, |i, acc| {
        let c = labels[i];
        acc[c] += 1.0;
        acc[k + c] += per_agent[i];
        acc[2 * k] += per_agent[i];
    });
    let mean: Vec<f64> = (0..k)
        .map(|c| {
            if s1[c] > 0.0 {
                s1[k + c] / s1[c]
            } else {
                f64::NAN
            }
        })
        .collect();
    // Σ_{i in c} (e_i - m_c)²
    let mut s2 = vec![0.0; k];
    blocked_sum(comm, n, k, &mut partials, &mut s2, |i, acc| {
        let c = labels[i];
        acc[c] += (per_agent[i] - mean[c]) * (per_agent[i] - mean[c]);
    });
    (0..k)
        .map(|c| {
            let nc = s1[c];
            SubpopEnergy {
                component: c,
                agents: nc as usize,
                energy: mean[c],
                // sqrt(s^2 / n), s^2 = Σ (e - m)² / (n - 1)
                stderr: if nc >= 2.0 {
                    (s2[c] / (nc - 1.0) / nc).sqrt()
                } else {
                    f64::NAN
                },
                share_pct: 100.0 * s1[k + c] / s1[2 * k],
            }
        })
        .collect()
}

/// Relative saving `100 (E_base - E) / E_base` of one method against a baseline run on the same
/// agents and noise, with a paired standard error (delta method on per-agent energies).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Saving {
    /// Saving in percent.
    pub pct: f64,
    /// Standard error in percentage points.
    pub stderr_pct: f64,
}

impl Saving {
    /// Saving of `run` against `base`; both must come from the same [`crate::Experiment`] (in
    /// one process; see [`Saving::of_on`] for runs over several ranks).
    pub fn of(run: &MethodRun, base: &MethodRun) -> Result<Self> {
        Self::of_on(run, base, &SingleProcess)
    }

    /// [`Saving::of`] of runs over the ranks of `comm`, each rank holding its agents' energies
    /// ([`MethodRun::per_agent`]): collective, reproducible block sums (a few numbers sent), the
    /// same on every rank and bit-identical for any number of ranks.
    pub fn of_on(run: &MethodRun, base: &MethodRun, comm: &dyn Communicator) -> Result<Self> {
        let (e, s) = (&run.per_agent, &base.per_agent);
        if e.len() != s.len() || run.agents != base.agents || run.agents < 2 {
            return Err(EnergyError::Invalid {
                field: "runs",
                value: format!("{} vs {} agents", run.agents, base.agents),
                reason: "a saving needs two runs on the same agents (at least 2)",
            });
        }
        if comm.size() == 1 && e.len() != run.agents {
            return Err(EnergyError::Invalid {
                field: "runs",
                value: format!("{} of {} agents", e.len(), run.agents),
                reason:
                    "the runs hold one rank's agents: use Saving::of_on with their communicator",
            });
        }
        let n = run.agents as f64;
        let mut sums = [0.0; 2];
        blocked_sum(comm, e.len(), 2, &mut Vec::new(), &mut sums, |i, acc| {
            acc[0] += e[i];
            acc[1] += s[i];
        });
        let (me, ms) = (sums[0] / n, sums[1] / n);
        let ratio = me / ms;
        // linearisation of 1 - mean(e)/mean(s): g_i = (e_i - ratio s_i) / mean(s)
        let g: Vec<f64> = e.iter().zip(s).map(|(a, b)| (a - ratio * b) / ms).collect();
        let (_, se) = mean_stderr_on(comm, &g, run.agents);
        Ok(Self {
            pct: 100.0 * (base.energy - run.energy) / base.energy,
            stderr_pct: 100.0 * se,
        })
    }
}

/// The terminal law of a run against `p_tar`, component by component.
///
/// Each terminal state `x` is split over the target components by its responsibilities
/// `r_k(x) = pi_k N(x; m_k, Σ_k) / p_tar(x)`. If `x ~ p_tar` exactly, `E r_k = pi_k`,
/// `E[r_k x] = pi_k m_k` and `E[r_k (x - m_k)²] = pi_k Σ_k,jj`, so the estimators
/// `ŵ_k = mean r_k`, `m̂_k = Σ r_k x / Σ r_k`, `v̂_k = Σ r_k (x - m̂_k)² / Σ r_k` are consistent
/// for the target's weights, means and variances; their standard errors are the delta-method ones.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TerminalLaw {
    /// Estimated weights `ŵ_k` (length `K`).
    pub weights: Vec<f64>,
    /// Standard errors of `ŵ_k`.
    pub weight_stderr: Vec<f64>,
    /// Target weights `pi_k`.
    pub target_weights: Vec<f64>,
    /// Estimated means `m̂_k`, row-major `K x d`.
    pub means: Vec<f64>,
    /// Standard errors of `m̂_k`, row-major `K x d`.
    pub mean_stderr: Vec<f64>,
    /// Target means `m_k`, row-major `K x d`.
    pub target_means: Vec<f64>,
    /// Estimated per-zone variances `v̂_k`, row-major `K x d`.
    pub variances: Vec<f64>,
    /// Standard errors of `v̂_k`, row-major `K x d`.
    pub variance_stderr: Vec<f64>,
    /// Target variances `Σ_k,jj`, row-major `K x d`.
    pub target_variances: Vec<f64>,
}

impl TerminalLaw {
    /// Assess terminal states `x1` (row-major `B x d`, `B >= 2`) against the fleet's `p_tar`.
    pub fn assess(fleet: &Fleet, x1: &[f64]) -> Result<Self> {
        let b = x1.len() / fleet.dim().max(1);
        Self::assess_on(fleet, x1, b, &SingleProcess)
    }

    /// [`TerminalLaw::assess`] of the `total` agents spread over the ranks of `comm` (`x1` this
    /// rank's terminal states, whole RNG blocks at their global offset): every estimator is a
    /// reproducible block sum over the agents (three collectives of `O(K d)` numbers), the same on
    /// every rank and bit-identical for any number of ranks. Collective.
    pub fn assess_on(
        fleet: &Fleet,
        x1: &[f64],
        total: usize,
        comm: &dyn Communicator,
    ) -> Result<Self> {
        let d = fleet.dim();
        let k = fleet.weights_tar().len();
        if !x1.len().is_multiple_of(d) || total < 2 {
            return Err(EnergyError::Invalid {
                field: "terminal states",
                value: format!("length {} of {total} agents", x1.len()),
                reason: "must be a multiple of d with at least 2 agents",
            });
        }
        let b = x1.len() / d;
        let mut r = vec![0.0; b * k];
        let mut work = vec![0.0; d];
        for (x, ri) in x1.chunks_exact(d).zip(r.chunks_exact_mut(k)) {
            fleet.target_responsibilities(x, ri, &mut work)?;
        }
        let bt = total as f64;
        let kd = k * d;
        let mut partials = Vec::new();
        // pass 1: n_c = Σ_i r_ic and Σ_i r_ic x_ij
        let mut s1 = vec![0.0; k + kd];
        blocked_sum(comm, b, k + kd, &mut partials, &mut s1, |i, acc| {
            let (x, ri) = (&x1[i * d..(i + 1) * d], &r[i * k..(i + 1) * k]);
            for (c, &rv) in ri.iter().enumerate() {
                acc[c] += rv;
                for (a, &xv) in acc[k + c * d..k + (c + 1) * d].iter_mut().zip(x) {
                    *a += rv * xv;
                }
            }
        });
        let n = s1[..k].to_vec();
        let weights: Vec<f64> = n.iter().map(|nc| nc / bt).collect();
        // m_cj = Σ_i r_ic x_ij / n_c
        let means: Vec<f64> = (0..kd).map(|a| s1[k + a] / n[a / d]).collect();
        // pass 2: Σ (r_ic - ŵ_c)², Σ r_ic² (x_ij - m_cj)², Σ r_ic (x_ij - m_cj)²
        let mut s2 = vec![0.0; k + 2 * kd];
        blocked_sum(comm, b, k + 2 * kd, &mut partials, &mut s2, |i, acc| {
            let (x, ri) = (&x1[i * d..(i + 1) * d], &r[i * k..(i + 1) * k]);
            for (c, &rv) in ri.iter().enumerate() {
                acc[c] += (rv - weights[c]) * (rv - weights[c]);
                for (j, &xv) in x.iter().enumerate() {
                    let dx = xv - means[c * d + j];
                    acc[k + c * d + j] += rv * rv * dx * dx;
                    acc[k + kd + c * d + j] += rv * dx * dx;
                }
            }
        });
        // stderr of the mean of r_c: sqrt(s^2 / B), s^2 = Σ (r - ŵ)² / (B - 1)
        let weight_stderr: Vec<f64> = s2[..k]
            .iter()
            .map(|v| (v / (bt - 1.0) / bt).sqrt())
            .collect();
        let s_mean = s2[k..k + kd].to_vec();
        let variances: Vec<f64> = (0..kd).map(|a| s2[k + kd + a] / n[a / d]).collect();
        // pass 3: Σ_i r_ic² ((x_ij - m_cj)² - v_cj)²
        let mut s_var = vec![0.0; kd];
        blocked_sum(comm, b, kd, &mut partials, &mut s_var, |i, acc| {
            let (x, ri) = (&x1[i * d..(i + 1) * d], &r[i * k..(i + 1) * k]);
            for (c, &rv) in ri.iter().enumerate() {
                for (j, &xv) in x.iter().enumerate() {
                    let a = c * d + j;
                    let e = (xv - means[a]) * (xv - means[a]) - variances[a];
                    acc[a] += rv * rv * e * e;
                }
            }
        });
        let se = |s: Vec<f64>| -> Vec<f64> {
            s.chunks_exact(d)
                .zip(&n)
                .flat_map(|(sc, &nc)| sc.iter().map(move |v| v.sqrt() / nc))
                .collect()
        };
        let (mean_stderr, variance_stderr) = (se(s_mean), se(s_var));
        let mut target_variances = Vec::with_capacity(k * d);
        for c in 0..k {
            target_variances.extend(fleet.target_variances(c));
        }
        Ok(Self {
            weights,
            weight_stderr,
            target_weights: fleet.weights_tar().to_vec(),
            means,
            mean_stderr,
            target_means: fleet.p_tar().means().to_vec(),
            variances,
            variance_stderr,
            target_variances,
        })
    }

    /// `max_k |ŵ_k - pi_k|`.
    pub fn max_weight_error(&self) -> f64 {
        max_abs_diff(&self.weights, &self.target_weights, None)
    }

    /// `max_{k,j} |m̂_kj - m_kj| / se(m̂_kj)`.
    pub fn max_mean_z(&self) -> f64 {
        max_abs_diff(&self.means, &self.target_means, Some(&self.mean_stderr))
    }

    /// Probability that the largest of the `K d` mean z-scores reaches [`TerminalLaw::max_mean_z`]
    /// when the terminal states are exact draws from `p_tar` (independent normal z-scores, Šidák):
    /// `1 - (1 - erfc(z/√2))^(K d)`. A small value flags a real bias rather than the multiplicity
    /// of the comparisons.
    pub fn max_mean_z_p_value(&self) -> f64 {
        max_z_p_value(self.max_mean_z(), self.means.len())
    }

    /// `max_{k,j} |m̂_kj - m_kj|`.
    pub fn max_mean_error(&self) -> f64 {
        max_abs_diff(&self.means, &self.target_means, None)
    }

    /// `max_{k,j} |v̂_kj - Σ_k,jj| / se(v̂_kj)`.
    pub fn max_variance_z(&self) -> f64 {
        max_abs_diff(
            &self.variances,
            &self.target_variances,
            Some(&self.variance_stderr),
        )
    }

    /// `max_{k,j} |v̂_kj / Σ_k,jj - 1|`.
    pub fn max_variance_rel_error(&self) -> f64 {
        self.variances
            .iter()
            .zip(&self.target_variances)
            .map(|(v, t)| (v / t - 1.0).abs())
            .fold(0.0, f64::max)
    }
}

/// `P(max_i |Z_i| >= z)` for `n` independent standard normals: `1 - (1 - erfc(z/√2))^n`.
pub fn max_z_p_value(z: f64, n: usize) -> f64 {
    let p1 = erfc(z / std::f64::consts::SQRT_2);
    // 1 - (1 - p1)^n without cancellation for small p1
    -(n as f64 * (-p1).ln_1p()).exp_m1()
}

fn max_abs_diff(a: &[f64], b: &[f64], scale: Option<&[f64]>) -> f64 {
    a.iter()
        .zip(b)
        .enumerate()
        .map(|(i, (x, y))| (x - y).abs() / scale.map_or(1.0, |s| s[i]))
        .fold(0.0, f64::max)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fleet::Law;

    /// Exact draws from `p_tar` pass the check with honest z-scores; a shifted law fails it.
    #[test]
    fn terminal_law_of_exact_samples() {
        let tar = Law::isotropic_std(
            3,
            vec![0.6, 0.4],
            vec![0.0, 0.1, 0.2, 1.5, 1.4, 1.3],
            &[0.2, 0.3],
        );
        let f = Fleet::new(tar.clone(), tar).unwrap();
        let a = f.sample_agents(20_000, 3).unwrap();
        let t = TerminalLaw::assess(&f, &a.x).unwrap();
        assert!(t.max_weight_error() < 4.0 * t.weight_stderr[0], "{t:?}");
        assert!(t.max_mean_z() < 4.0, "{}", t.max_mean_z());
        assert!(t.max_variance_z() < 4.0, "{}", t.max_variance_z());
        // responsibilities of well separated components give near-hard weights: se ~ sqrt(pq/B)
        assert!((t.weight_stderr[0] - (0.24f64 / 20_000.0).sqrt()).abs() < 3e-4);
        let shifted: Vec<f64> = a.x.iter().map(|x| x + 0.05).collect();
        let t = TerminalLaw::assess(&f, &shifted).unwrap();
        assert!(t.max_mean_z() > 10.0);
    }

    #[test]
    fn max_z_p_values() {
        // one comparison: the two-sided normal tail; 1.96 -> 0.05
        assert!((max_z_p_value(1.959_963_985, 1) - 0.05).abs() < 1e-6);
        // many comparisons: 1 - 0.95^10
        assert!((max_z_p_value(1.959_963_985, 10) - (1.0 - 0.95f64.powi(10))).abs() < 1e-6);
    }

    #[test]
    fn subpopulation_shares() {
        let s = subpopulation_energies(&[1.0, 3.0, 2.0, 2.0], &[0, 1, 1, 0], 2);
        assert_eq!(s[0].agents, 2);
        assert!((s[0].energy - 1.5).abs() < 1e-15 && (s[1].energy - 2.5).abs() < 1e-15);
        assert!((s[0].share_pct - 37.5).abs() < 1e-12 && (s[1].share_pct - 62.5).abs() < 1e-12);
    }
}
