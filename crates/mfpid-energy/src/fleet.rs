//! Fleets of buildings: the post-event law `p_in` and the recovery law `p_tar`, both Gaussian
//! mixtures over `d` thermal zones, whose components are sub-populations (occupied / unoccupied
//! buildings, building types...).
//!
//! Coordinates are the dimensionless temperature deviations of the bridge (see [`crate::thermal`]
//! for the map from °C); one agent is one building, its state `x ∈ R^d` holds its zone deviations.

use mfpid_bridge::{Covariance, GaussianMixture};
use mfpid_sde::Ensemble;
use nalgebra::DMatrix;
use rand::Rng;
use rand_distr::StandardNormal;
use serde::{Deserialize, Serialize};

use crate::error::{law_error, EnergyError, Result};

const LN_2PI: f64 = 1.837_877_066_409_345_5;

/// An unvalidated mixture law `sum_k pi_k N(m_k, Σ_k)` on `R^d` (dimensionless coordinates).
///
/// `weights` (length `K`) need not sum to one; every weight must be positive. `means` are row-major
/// `K x d`. The covariance variant fixes the cost of the bridge's probe step: isotropic and diagonal
/// are `O(K d)` per agent and step, full `O(K d²)`. Validation happens in [`Fleet::new`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Law {
    /// Number of zones `d`.
    pub d: usize,
    /// Sub-population weights `pi_k` (length `K`, all `> 0`).
    pub weights: Vec<f64>,
    /// Means `m_k`, row-major `K x d`.
    pub means: Vec<f64>,
    /// Covariances `Σ_k` (variances, not standard deviations).
    pub covariance: Covariance,
}

impl Law {
    /// Isotropic components `Σ_k = std_k² I`; `stds` (length `K`) are standard deviations.
    pub fn isotropic(d: usize, weights: Vec<f64>, means: Vec<f64>, stds: &[f64]) -> Self {
        Self {
            d,
            weights,
            means,
            covariance: Covariance::Isotropic(stds.iter().map(|s| s * s).collect()),
        }
    }

    /// Diagonal components: `variances` row-major `K x d`.
    pub fn diagonal(d: usize, weights: Vec<f64>, means: Vec<f64>, variances: Vec<f64>) -> Self {
        Self {
            d,
            weights,
            means,
            covariance: Covariance::Diagonal(variances),
        }
    }

    /// Full components: `covariances` row-major `K x d x d`.
    pub fn full(d: usize, weights: Vec<f64>, means: Vec<f64>, covariances: Vec<f64>) -> Self {
        Self {
            d,
            weights,
            means,
            covariance: Covariance::Full(covariances),
        }
    }

    /// Zone-coupled components with the AR(1) correlation `Σ_k,ij = std_k² rho^|i-j|` (full).
    /// `rho` in `(-1, 1)` keeps `Σ_k` positive definite; other values are caught by [`Fleet::new`].
    pub fn ar1(d: usize, weights: Vec<f64>, means: Vec<f64>, stds: &[f64], rho: f64) -> Self {
        let mut cov = Vec::with_capacity(stds.len() * d * d);
        for s in stds {
            for i in 0..d {
                for j in 0..d {
                    let lag = i.abs_diff(j) as i32;
                    cov.push(s * s * if lag == 0 { 1.0 } else { rho.powi(lag) });
                }
            }
        }
        Self::full(d, weights, means, cov)
    }

    /// Number of components `K`.
    pub fn components(&self) -> usize {
        self.weights.len()
    }

    /// Validate into a [`GaussianMixture`]; `law` names the law in errors (`"p_in"`, `"p_tar"`).
    pub fn to_mixture(&self, law: &'static str) -> Result<GaussianMixture> {
        if let Some(component) = self.weights.iter().position(|&w| w == 0.0) {
            return Err(EnergyError::ZeroWeight { law, component });
        }
        GaussianMixture::new(
            self.d,
            self.weights.clone(),
            self.means.clone(),
            self.covariance.clone(),
        )
        .map_err(|e| law_error(law, e))
    }
}

/// Per-component square-root factors `Σ_k = L_k L_kᵀ`, used to sample (`m_k + L_k ξ`) and to
/// evaluate component log-densities (responsibilities).
#[derive(Debug, Clone)]
enum Factor {
    /// standard deviation per component (length `K`)
    Iso(Vec<f64>),
    /// standard deviations, row-major `K x d`
    Diag(Vec<f64>),
    /// lower Cholesky factors, row-major `K x d x d`
    Full(Vec<f64>),
}

impl Factor {
    fn new(law: &Law, name: &'static str) -> Result<Self> {
        let d = law.d;
        Ok(match &law.covariance {
            Covariance::Isotropic(s) => Factor::Iso(s.iter().map(|v| v.sqrt()).collect()),
            Covariance::Diagonal(s) => Factor::Diag(s.iter().map(|v| v.sqrt()).collect()),
            Covariance::Full(s) => {
                let mut l = Vec::with_capacity(s.len());
                for (k, sk) in s.chunks_exact(d * d).enumerate() {
                    let chol = DMatrix::from_row_slice(d, d, sk)
                        .cholesky()
                        .ok_or_else(|| EnergyError::NotPositiveDefinite {
                            law: name,
                            component: k,
                            reason: "Cholesky factorisation failed".into(),
                        })?;
                    let lk = chol.l();
                    for i in 0..d {
                        for j in 0..d {
                            l.push(lk[(i, j)]);
                        }
                    }
                }
                Factor::Full(l)
            }
        })
    }

    /// `x <- L_k x` in place (x holds standard normals on entry).
    fn apply(&self, k: usize, x: &mut [f64]) {
        let d = x.len();
        match self {
            Factor::Iso(s) => x.iter_mut().for_each(|v| *v *= s[k]),
            Factor::Diag(s) => x
                .iter_mut()
                .zip(&s[k * d..(k + 1) * d])
                .for_each(|(v, s)| *v *= s),
            Factor::Full(l) => {
                let lk = &l[k * d * d..(k + 1) * d * d];
                // lower-triangular product from the last row up: row i uses x_0..x_i, still unchanged
                for i in (0..d).rev() {
                    let mut acc = 0.0;
                    for j in 0..=i {
                        acc += lk[i * d + j] * x[j];
                    }
                    x[i] = acc;
                }
            }
        }
    }

    /// `log N(x; m_k, Σ_k)`; `work` has length `d`.
    fn log_pdf(&self, k: usize, x: &[f64], m: &[f64], work: &mut [f64]) -> f64 {
        let d = x.len();
        let (quad, log_det) = match self {
            Factor::Iso(s) => {
                let q: f64 = x.iter().zip(m).map(|(a, b)| (a - b) * (a - b)).sum();
                (q / (s[k] * s[k]), 2.0 * d as f64 * s[k].ln())
            }
            Factor::Diag(s) => {
                let sk = &s[k * d..(k + 1) * d];
                let mut q = 0.0;
                let mut ld = 0.0;
                for j in 0..d {
                    let v = (x[j] - m[j]) / sk[j];
                    q += v * v;
                    ld += 2.0 * sk[j].ln();
                }
                (q, ld)
            }
            Factor::Full(l) => {
                let lk = &l[k * d * d..(k + 1) * d * d];
                let mut ld = 0.0;
                // forward substitution L v = x - m
                for i in 0..d {
                    let mut acc = x[i] - m[i];
                    for j in 0..i {
                        acc -= lk[i * d + j] * work[j];
                    }
                    work[i] = acc / lk[i * d + i];
                    ld += 2.0 * lk[i * d + i].ln();
                }
                (work[..d].iter().map(|v| v * v).sum(), ld)
            }
        };
        -0.5 * (quad + log_det + d as f64 * LN_2PI)
    }
}

/// Serialised form of a [`Fleet`] (validated on deserialisation), e.g. a JSON fleet file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FleetSpec {
    /// Post-event law of the zone deviations.
    pub p_in: Law,
    /// Recovery (target) law at `t = 1`.
    pub p_tar: Law,
}

/// A validated fleet: `p_in` and `p_tar` on the same `R^d`, positive weights, positive-definite
/// covariances.
#[derive(Debug, Clone)]
pub struct Fleet {
    spec: FleetSpec,
    p_in: GaussianMixture,
    p_tar: GaussianMixture,
    w_in: Vec<f64>,
    w_tar: Vec<f64>,
    f_in: Factor,
    f_tar: Factor,
}

impl TryFrom<FleetSpec> for Fleet {
    type Error = EnergyError;
    fn try_from(s: FleetSpec) -> Result<Self> {
        Fleet::new(s.p_in, s.p_tar)
    }
}

impl Serialize for Fleet {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        self.spec.serialize(s)
    }
}

impl<'de> Deserialize<'de> for Fleet {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let spec = FleetSpec::deserialize(d)?;
        Fleet::try_from(spec).map_err(serde::de::Error::custom)
    }
}

impl Fleet {
    /// Validate a fleet. Errors: [`EnergyError::DimensionMismatch`] when the zone counts differ,
    /// [`EnergyError::ZeroWeight`], [`EnergyError::NotPositiveDefinite`], or
    /// [`EnergyError::InvalidLaw`] for any other defect (lengths, non-finite values, `d = 0`).
    pub fn new(p_in: Law, p_tar: Law) -> Result<Self> {
        if p_in.d != p_tar.d {
            return Err(EnergyError::DimensionMismatch {
                d_in: p_in.d,
                d_tar: p_tar.d,
            });
        }
        let g_in = p_in.to_mixture("p_in")?;
        let g_tar = p_tar.to_mixture("p_tar")?;
        let f_in = Factor::new(&p_in, "p_in")?;
        let f_tar = Factor::new(&p_tar, "p_tar")?;
        Ok(Self {
            w_in: g_in.weights(),
            w_tar: g_tar.weights(),
            p_in: g_in,
            p_tar: g_tar,
            f_in,
            f_tar,
            spec: FleetSpec { p_in, p_tar },
        })
    }

    /// Number of zones `d`.
    pub fn dim(&self) -> usize {
        self.spec.p_in.d
    }

    /// The unvalidated specification this fleet was built from.
    pub fn spec(&self) -> &FleetSpec {
        &self.spec
    }

    /// `p_in` as a mixture.
    pub fn p_in(&self) -> &GaussianMixture {
        &self.p_in
    }

    /// `p_tar` as a mixture (the bridge target).
    pub fn p_tar(&self) -> &GaussianMixture {
        &self.p_tar
    }

    /// Normalised sub-population weights of `p_in`.
    pub fn weights_in(&self) -> &[f64] {
        &self.w_in
    }

    /// Normalised component weights of `p_tar`.
    pub fn weights_tar(&self) -> &[f64] {
        &self.w_tar
    }

    /// Global mean `m̄_in` (length `d`).
    pub fn mean_in(&self) -> Vec<f64> {
        self.p_in.mean()
    }

    /// Global mean `m̄_tar` (length `d`).
    pub fn mean_tar(&self) -> Vec<f64> {
        self.p_tar.mean()
    }

    /// Draw `b` agents from `p_in`, reproducibly from `seed` (independent of thread count): the
    /// component (sub-population) of each agent is kept for per-sub-population metrics.
    pub fn sample_agents(&self, b: usize, seed: u64) -> Result<Agents> {
        if b == 0 {
            return Err(EnergyError::NoAgents);
        }
        let d = self.dim();
        let cum: Vec<f64> = self
            .w_in
            .iter()
            .scan(0.0, |acc, w| {
                *acc += w;
                Some(*acc)
            })
            .collect();
        let means = self.p_in.means();
        let factor = &self.f_in;
        // one extra coordinate carries the component label through the reproducible sampler
        let ens = Ensemble::sample(b, d + 1, seed, |rng, row| {
            let u: f64 = rng.random();
            let k = cum.partition_point(|&c| c <= u).min(cum.len() - 1);
            let x = &mut row[..d];
            for v in x.iter_mut() {
                *v = rng.sample(StandardNormal);
            }
            factor.apply(k, x);
            for (v, m) in x.iter_mut().zip(&means[k * d..(k + 1) * d]) {
                *v += m;
            }
            row[d] = k as f64;
        })?;
        let raw = ens.into_vec();
        let mut x = Vec::with_capacity(b * d);
        let mut component = Vec::with_capacity(b);
        for row in raw.chunks_exact(d + 1) {
            x.extend_from_slice(&row[..d]);
            component.push(row[d] as usize);
        }
        Ok(Agents { d, x, component })
    }

    /// Responsibilities `r_k(x) = pi_k N(x; m_k, Σ_k) / p_tar(x)` of the target components for
    /// one state `x` (length `d`), written into `out` (length `K`); `work` has length `d`.
    pub fn target_responsibilities(&self, x: &[f64], out: &mut [f64], work: &mut [f64]) {
        let d = self.dim();
        let means = self.p_tar.means();
        let mut mx = f64::NEG_INFINITY;
        for (k, o) in out.iter_mut().enumerate() {
            *o = self.w_tar[k].ln() + self.f_tar.log_pdf(k, x, &means[k * d..(k + 1) * d], work);
            mx = mx.max(*o);
        }
        let mut s = 0.0;
        for o in out.iter_mut() {
            *o = (*o - mx).exp();
            s += *o;
        }
        out.iter_mut().for_each(|o| *o /= s);
    }

    /// Diagonal of `Σ_k` of `p_tar` (length `d`).
    pub fn target_variances(&self, k: usize) -> Vec<f64> {
        let d = self.dim();
        let mut full = vec![0.0; d * d];
        self.p_tar.component_covariance(k, &mut full);
        (0..d).map(|j| full[j * d + j]).collect()
    }
}

/// A sampled fleet: agent states (row-major `B x d`) and the `p_in` component each agent was drawn
/// from.
#[derive(Debug, Clone, PartialEq)]
pub struct Agents {
    d: usize,
    /// States `x_0`, row-major `B x d`.
    pub x: Vec<f64>,
    /// Sub-population (component of `p_in`) of each agent, length `B`.
    pub component: Vec<usize>,
}

impl Agents {
    /// Number of agents `B`.
    pub fn len(&self) -> usize {
        self.component.len()
    }

    /// Whether there are no agents (never true for sampled fleets).
    pub fn is_empty(&self) -> bool {
        self.component.is_empty()
    }

    /// Number of zones `d`.
    pub fn dim(&self) -> usize {
        self.d
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn two_zone() -> (Law, Law) {
        let tar = Law::isotropic(2, vec![0.6, 0.4], vec![0.0, 0.0, 1.0, 1.0], &[0.2, 0.3]);
        let inn = Law::isotropic(2, vec![0.6, 0.4], vec![2.0, 2.0, 4.0, 4.0], &[0.5, 0.7]);
        (inn, tar)
    }

    #[test]
    fn invalid_fleets_are_typed_errors() {
        let (inn, tar) = two_zone();
        let mut bad = inn.clone();
        bad.weights[1] = 0.0;
        assert!(matches!(
            Fleet::new(bad, tar.clone()),
            Err(EnergyError::ZeroWeight {
                law: "p_in",
                component: 1
            })
        ));
        let bad = Law::isotropic(3, vec![1.0], vec![0.0; 3], &[1.0]);
        assert!(matches!(
            Fleet::new(inn.clone(), bad),
            Err(EnergyError::DimensionMismatch { d_in: 2, d_tar: 3 })
        ));
        let bad = Law::full(2, vec![1.0], vec![0.0; 2], vec![1.0, 2.0, 2.0, 1.0]);
        let e = Fleet::new(inn.clone(), bad).unwrap_err();
        assert!(matches!(
            e,
            EnergyError::NotPositiveDefinite {
                law: "p_tar",
                component: 0,
                ..
            }
        ));
        assert!(!e.to_string().contains('\n'));
        let bad = Law::ar1(3, vec![1.0], vec![0.0; 3], &[1.0], 1.5);
        assert!(matches!(
            Fleet::new(bad, Law::isotropic(3, vec![1.0], vec![0.0; 3], &[1.0])),
            Err(EnergyError::NotPositiveDefinite { law: "p_in", .. })
        ));
        let bad = Law::isotropic(2, vec![1.0], vec![0.0; 3], &[1.0]);
        assert!(matches!(
            Fleet::new(bad, tar.clone()),
            Err(EnergyError::InvalidLaw { law: "p_in", .. })
        ));
        let f = Fleet::new(inn, tar).unwrap();
        assert!(matches!(f.sample_agents(0, 1), Err(EnergyError::NoAgents)));
    }

    #[test]
    fn fleet_json_round_trip_validates() {
        let (inn, tar) = two_zone();
        let f = Fleet::new(inn, tar).unwrap();
        let s = serde_json::to_string(&f).unwrap();
        let g: Fleet = serde_json::from_str(&s).unwrap();
        assert_eq!(f.spec(), g.spec());
        let bad = s.replacen("0.6", "0.0", 1);
        let e = serde_json::from_str::<Fleet>(&bad).unwrap_err();
        assert!(e.to_string().contains("weight 0"), "{e}");
    }

    /// Sampled agents reproduce `p_in`: component frequencies and per-component moments (full
    /// covariance path included), and the draw is reproducible.
    #[test]
    fn sampling_matches_p_in() {
        let inn = Law::ar1(
            3,
            vec![0.3, 0.7],
            vec![1.0, 2.0, 3.0, -1.0, 0.0, 1.0],
            &[0.5, 1.0],
            0.6,
        );
        let tar = Law::isotropic(3, vec![1.0], vec![0.0; 3], &[1.0]);
        let f = Fleet::new(inn, tar).unwrap();
        let b = 40_000;
        let a = f.sample_agents(b, 9).unwrap();
        assert_eq!(a, f.sample_agents(b, 9).unwrap());
        let n1 = a.component.iter().filter(|&&k| k == 1).count() as f64;
        let p1 = n1 / b as f64;
        assert!((p1 - 0.7).abs() < 4.0 * (0.21f64 / b as f64).sqrt(), "{p1}");
        // component 1: mean (-1, 0, 1), cov_01 = 0.6, cov_02 = 0.36
        let rows: Vec<&[f64]> =
            a.x.chunks_exact(3)
                .zip(&a.component)
                .filter(|(_, &k)| k == 1)
                .map(|(r, _)| r)
                .collect();
        let n = rows.len() as f64;
        let mean: Vec<f64> = (0..3)
            .map(|j| rows.iter().map(|r| r[j]).sum::<f64>() / n)
            .collect();
        for (j, m) in [-1.0, 0.0, 1.0].iter().enumerate() {
            assert!((mean[j] - m).abs() < 4.0 / n.sqrt(), "{mean:?}");
        }
        let cov = |i: usize, j: usize| {
            rows.iter()
                .map(|r| (r[i] - mean[i]) * (r[j] - mean[j]))
                .sum::<f64>()
                / (n - 1.0)
        };
        // sd of a sample covariance of unit-scale normals is at most sqrt(2/n)
        let tol = 4.0 * (2.0 / n).sqrt();
        assert!((cov(0, 0) - 1.0).abs() < tol);
        assert!((cov(0, 1) - 0.6).abs() < tol);
        assert!((cov(0, 2) - 0.36).abs() < tol);
    }

    #[test]
    fn responsibilities_sum_to_one_and_match_mixture_density() {
        let tar = Law::ar1(
            2,
            vec![0.25, 0.75],
            vec![0.0, 0.0, 1.0, 0.5],
            &[0.4, 0.6],
            0.3,
        );
        let f = Fleet::new(tar.clone(), tar).unwrap();
        let mut r = [0.0; 2];
        let mut w = [0.0; 2];
        let x = [0.4, 0.1];
        f.target_responsibilities(&x, &mut r, &mut w);
        assert!((r[0] + r[1] - 1.0).abs() < 1e-14);
        // r_0 = pi_0 N_0(x) / p(x): check N_0 through the mixture log-density of a one-component law
        let only0 = Law::ar1(2, vec![1.0], vec![0.0, 0.0], &[0.4], 0.3)
            .to_mixture("x")
            .unwrap();
        let p = f.p_tar().log_pdf(&x).unwrap().exp();
        let n0 = only0.log_pdf(&x).unwrap().exp();
        assert!((r[0] - 0.25 * n0 / p).abs() < 1e-12);
    }
}
