//! Fleets of buildings: the post-event law `p_in` and the recovery law `p_tar`, both Gaussian
//! mixtures over `d` thermal zones, whose components are sub-populations (occupied / unoccupied
//! buildings, building types...).
//!
//! Coordinates are the dimensionless temperature deviations of the bridge (see [`crate::thermal`]
//! for the map from °C); one agent is one building, its state `x ∈ R^d` holds its zone deviations.

use mfpid_bridge::{GaussianMixture, MixtureSpec};
use serde::{Deserialize, Serialize};

use crate::error::{law_error, EnergyError, Result};

/// An unvalidated mixture law `sum_k pi_k N(m_k, Σ_k)` on `R^d` (dimensionless coordinates): the
/// bridge crate's [`MixtureSpec`], the serialised form of its [`GaussianMixture`].
///
/// In a fleet every weight must be positive (`weights` need not sum to one); `means` are row-major
/// `K x d`. The covariance variant fixes the cost of the bridge's probe step: isotropic and
/// diagonal are `O(K d)` per agent and step, full `O(K d²)`. Validation happens once, in
/// [`Fleet::new`].
pub type Law = MixtureSpec;

/// Validate one law of a fleet; `law` names it in errors (`"p_in"`, `"p_tar"`).
fn validate_law(spec: &Law, law: &'static str) -> Result<GaussianMixture> {
    if let Some(component) = spec.weights.iter().position(|&w| w == 0.0) {
        return Err(EnergyError::ZeroWeight { law, component });
    }
    GaussianMixture::try_from(spec.clone()).map_err(|e| law_error(law, e))
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
/// covariances. Each law is validated and its covariances factorised once, here; sampling,
/// responsibilities and the bridge target all use these [`GaussianMixture`]s.
#[derive(Debug, Clone)]
pub struct Fleet {
    spec: FleetSpec,
    p_in: GaussianMixture,
    p_tar: GaussianMixture,
    w_in: Vec<f64>,
    w_tar: Vec<f64>,
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
        let g_in = validate_law(&p_in, "p_in")?;
        let g_tar = validate_law(&p_tar, "p_tar")?;
        Ok(Self {
            w_in: g_in.weights(),
            w_tar: g_tar.weights(),
            p_in: g_in,
            p_tar: g_tar,
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
        self.sample_agents_range(0, b, b, seed)
    }

    /// The agents `offset .. offset + count` of [`Fleet::sample_agents`]`(total, seed)` (one
    /// rank's [`mfpid_sde::shard::Shard`]; `offset` a multiple of 64): bit-identical to those rows
    /// of the whole draw, in `O(count d)` memory.
    pub fn sample_agents_range(
        &self,
        offset: usize,
        count: usize,
        total: usize,
        seed: u64,
    ) -> Result<Agents> {
        if count == 0 || total == 0 {
            return Err(EnergyError::NoAgents);
        }
        if offset + count > total {
            return Err(EnergyError::Invalid {
                field: "agents",
                value: format!("{offset} + {count} of {total}"),
                reason: "the range of agents must lie inside the fleet",
            });
        }
        let (x, component) = self
            .p_in
            .sample_range_with_components(offset, count, seed)?;
        Ok(Agents {
            d: self.dim(),
            offset,
            total,
            x,
            component,
        })
    }

    /// Responsibilities `r_k(x) = pi_k N(x; m_k, Σ_k) / p_tar(x)` of the target components for
    /// one state `x` (length `d`), written into `out` (length `K`); `work` has length `d`.
    pub fn target_responsibilities(
        &self,
        x: &[f64],
        out: &mut [f64],
        work: &mut [f64],
    ) -> Result<()> {
        Ok(self.p_tar.responsibilities(x, out, work)?)
    }

    /// Diagonal of `Σ_k` of `p_tar` (length `d`).
    pub fn target_variances(&self, k: usize) -> Vec<f64> {
        self.p_tar.component_variances(k)
    }
}

/// A sampled fleet: agent states (row-major) and the `p_in` component each agent was drawn
/// from; over several ranks, only this rank's agents `offset .. offset + local_len()` of `B`.
#[derive(Debug, Clone, PartialEq)]
pub struct Agents {
    d: usize,
    offset: usize,
    total: usize,
    /// States `x_0` of the agents held here, row-major `local_len() x d`.
    pub x: Vec<f64>,
    /// Sub-population (component of `p_in`) of each agent held here, length `local_len()`.
    pub component: Vec<usize>,
}

impl Agents {
    /// Number of agents `B` of the whole fleet (over every rank).
    pub fn len(&self) -> usize {
        self.total
    }

    /// Number of agents held here (`B` in one process).
    pub fn local_len(&self) -> usize {
        self.component.len()
    }

    /// Global index of the first agent held here (0 in one process).
    pub fn offset(&self) -> usize {
        self.offset
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
        let tar = Law::isotropic_std(2, vec![0.6, 0.4], vec![0.0, 0.0, 1.0, 1.0], &[0.2, 0.3]);
        let inn = Law::isotropic_std(2, vec![0.6, 0.4], vec![2.0, 2.0, 4.0, 4.0], &[0.5, 0.7]);
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
        let bad = Law::isotropic_std(3, vec![1.0], vec![0.0; 3], &[1.0]);
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
            Fleet::new(bad, Law::isotropic_std(3, vec![1.0], vec![0.0; 3], &[1.0])),
            Err(EnergyError::NotPositiveDefinite { law: "p_in", .. })
        ));
        let bad = Law::isotropic_std(2, vec![1.0], vec![0.0; 3], &[1.0]);
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
        let tar = Law::isotropic_std(3, vec![1.0], vec![0.0; 3], &[1.0]);
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
        f.target_responsibilities(&x, &mut r, &mut w).unwrap();
        assert!((r[0] + r[1] - 1.0).abs() < 1e-14);
        // r_0 = pi_0 N_0(x) / p(x): check N_0 through the mixture log-density of a one-component law
        let only0 =
            GaussianMixture::try_from(Law::ar1(2, vec![1.0], vec![0.0, 0.0], &[0.4], 0.3)).unwrap();
        let p = f.p_tar().log_pdf(&x).unwrap().exp();
        let n0 = only0.log_pdf(&x).unwrap().exp();
        assert!((r[0] - 0.25 * n0 / p).abs() < 1e-12);
    }
}
