//! The scenarios of the demand-response study (spec: demand-response.md) and the paper's published
//! d-sweep values.

use serde::Serialize;

use crate::error::Result;
use crate::fleet::{Fleet, Law};

/// A named fleet with its default number of agents.
#[derive(Debug, Clone)]
pub struct Scenario {
    /// Short name (`b-nd-d8`, `k-fleet-k3`, ...).
    pub name: String,
    /// The fleet.
    pub fleet: Fleet,
    /// Number of agents the study uses.
    pub agents: usize,
}

/// Zone counts of the B-nd sweep.
pub const D_SWEEP: [usize; 6] = [1, 2, 4, 8, 16, 32];
/// Component counts of the K-fleet sweep.
pub const K_SWEEP: [usize; 4] = [2, 3, 4, 8];
/// Zone correlations of the AR-coupling study.
pub const RHO_SWEEP: [f64; 3] = [0.0, 0.5, 0.8];

/// The B-nd target component means `m0 = 0.10 + 0.15 z`, `m1 = 1.50 - 0.15 z`, with
/// `z_j = sin(2π j / d)`, row-major `2 x d`.
fn b_nd_target_means(d: usize) -> Vec<f64> {
    let z: Vec<f64> = (0..d)
        .map(|j| (2.0 * std::f64::consts::PI * j as f64 / d as f64).sin())
        .collect();
    let m0 = z.iter().map(|z| 0.10 + 0.15 * z);
    let m1 = z.iter().map(|z| 1.50 - 0.15 * z);
    m0.chain(m1).collect()
}

/// B-nd initial means: `m0 + 1.5`, `m1 + 4.0`.
fn b_nd_initial_means(d: usize) -> Vec<f64> {
    b_nd_target_means(d)
        .iter()
        .enumerate()
        .map(|(i, m)| m + if i < d { 1.5 } else { 4.0 })
        .collect()
}

const B_ND_WEIGHTS: [f64; 2] = [0.6, 0.4];
const B_ND_STD_TAR: [f64; 2] = [0.20, 0.30];
const B_ND_STD_IN: [f64; 2] = [0.50, 0.70];

/// **B-nd** (zone sweep): `d` zones, 4000 agents. Target `0.6 N(m0, 0.2² I) + 0.4 N(m1, 0.3² I)`,
/// initial `0.6 N(m0 + 1.5, 0.5² I) + 0.4 N(m1 + 4, 0.7² I)`; global means 3.16 -> 0.66 per zone.
pub fn b_nd(d: usize) -> Result<Scenario> {
    let fleet = Fleet::new(
        Law::isotropic_std(
            d,
            B_ND_WEIGHTS.to_vec(),
            b_nd_initial_means(d),
            &B_ND_STD_IN,
        ),
        Law::isotropic_std(
            d,
            B_ND_WEIGHTS.to_vec(),
            b_nd_target_means(d),
            &B_ND_STD_TAR,
        ),
    )?;
    Ok(Scenario {
        name: format!("b-nd-d{d}"),
        fleet,
        agents: 4000,
    })
}

/// The heat-map scenario: B-nd at `d = 10` with 3000 agents.
pub fn heat_map() -> Result<Scenario> {
    let mut s = b_nd(10)?;
    s.agents = 3000;
    s.name = "heat-map-d10".into();
    Ok(s)
}

/// **AR zone coupling**: B-nd at `d = 8` with full covariances `Σ_ij = σ² rho^|i-j|` (the B-nd σ
/// of each component, for both `p_in` and `p_tar`), 4000 agents.
pub fn ar_coupling(rho: f64) -> Result<Scenario> {
    let d = 8;
    let fleet = Fleet::new(
        Law::ar1(
            d,
            B_ND_WEIGHTS.to_vec(),
            b_nd_initial_means(d),
            &B_ND_STD_IN,
            rho,
        ),
        Law::ar1(
            d,
            B_ND_WEIGHTS.to_vec(),
            b_nd_target_means(d),
            &B_ND_STD_TAR,
            rho,
        ),
    )?;
    Ok(Scenario {
        name: format!("ar-rho{rho}"),
        fleet,
        agents: 4000,
    })
}

/// **K-fleet** (heterogeneity sweep): `d = 4`, `k` sub-populations, 6000 agents. Target means
/// `linspace(-1, 2, k) 1_d`, weights `∝ (k, k-1, ..., 1)`, std 0.30; initial means shifted by
/// `+4 · 1_d` with std 0.65 and the same weights.
pub fn k_fleet(k: usize) -> Result<Scenario> {
    let d = 4;
    let lin = |i: usize| {
        if k == 1 {
            -1.0
        } else {
            -1.0 + 3.0 * i as f64 / (k - 1) as f64
        }
    };
    let weights: Vec<f64> = (0..k).map(|i| (k - i) as f64).collect();
    // row i of the K x d means: lin(i) in every zone
    let mut tar = Vec::with_capacity(k * d);
    for i in 0..k {
        tar.resize(tar.len() + d, lin(i));
    }
    let inn: Vec<f64> = tar.iter().map(|m| m + 4.0).collect();
    let fleet = Fleet::new(
        Law::isotropic_std(d, weights.clone(), inn, &vec![0.65; k]),
        Law::isotropic_std(d, weights, tar, &vec![0.30; k]),
    )?;
    Ok(Scenario {
        name: format!("k-fleet-k{k}"),
        fleet,
        agents: 6000,
    })
}

/// The two 1-D sub-population scenarios.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum OneD {
    /// Broad, overlapping initial sub-populations: means (1, 6), std (3, 3).
    A,
    /// Narrow, separated initial sub-populations: means (1.5, 5.5), std (0.5, 0.7).
    B,
}

/// **1-D scenarios A and B**: target `0.6 N(0, 0.2²) + 0.4 N(1.5, 0.3²)`, initial weights
/// (0.6, 0.4) with the means and stds of [`OneD`]; 4000 agents.
pub fn one_d(which: OneD) -> Result<Scenario> {
    let (means, stds, name) = match which {
        OneD::A => (vec![1.0, 6.0], [3.0, 3.0], "A"),
        OneD::B => (vec![1.5, 5.5], [0.5, 0.7], "B"),
    };
    let fleet = Fleet::new(
        Law::isotropic_std(1, vec![0.6, 0.4], means, &stds),
        Law::isotropic_std(1, vec![0.6, 0.4], vec![0.0, 1.5], &[0.2, 0.3]),
    )?;
    Ok(Scenario {
        name: name.into(),
        fleet,
        agents: 4000,
    })
}

/// One row of the paper's published d-sweep (energies per zone, `B = 4000`, 2500 steps).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Published {
    /// Zones `d`.
    pub d: usize,
    /// MF `E(1)/d`.
    pub mf: f64,
    /// IA(0) `E(1)/d`.
    pub ia0: f64,
    /// IA(m̄) `E(1)/d`.
    pub iam: f64,
    /// Saving of MF vs IA(0), percent, as printed.
    pub saving_ia0_pct: f64,
    /// Wall time of the MF run of the reference code (PyTorch), seconds.
    pub mf_wall_s: f64,
}

impl Published {
    /// Saving of MF vs IA(m̄) implied by the published energies, percent.
    pub fn saving_iam_pct(&self) -> f64 {
        100.0 * (self.iam - self.mf) / self.iam
    }
}

/// The paper's d-sweep table (demand-response.md, "Published figures to reproduce").
pub const PUBLISHED_D_SWEEP: [Published; 6] = [
    Published {
        d: 1,
        mf: 12.259,
        ia0: 16.171,
        iam: 14.337,
        saving_ia0_pct: 24.2,
        mf_wall_s: 88.0,
    },
    Published {
        d: 2,
        mf: 13.067,
        ia0: 16.961,
        iam: 15.134,
        saving_ia0_pct: 23.0,
        mf_wall_s: 93.0,
    },
    Published {
        d: 4,
        mf: 13.371,
        ia0: 17.222,
        iam: 15.407,
        saving_ia0_pct: 22.4,
        mf_wall_s: 104.5,
    },
    Published {
        d: 8,
        mf: 13.569,
        ia0: 17.398,
        iam: 15.586,
        saving_ia0_pct: 22.0,
        mf_wall_s: 106.0,
    },
    Published {
        d: 16,
        mf: 13.498,
        ia0: 17.319,
        iam: 15.505,
        saving_ia0_pct: 22.1,
        mf_wall_s: 151.9,
    },
    Published {
        d: 32,
        mf: 13.567,
        ia0: 17.193,
        iam: 15.415,
        saving_ia0_pct: 21.1,
        mf_wall_s: 352.9,
    },
];

/// The published row for `d`, if any.
pub fn published(d: usize) -> Option<&'static Published> {
    PUBLISHED_D_SWEEP.iter().find(|p| p.d == d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn b_nd_global_means() {
        for d in D_SWEEP {
            let s = b_nd(d).unwrap();
            let (mi, mt) = (s.fleet.mean_in(), s.fleet.mean_tar());
            // 0.6 (0.10 + 1.5) + 0.4 (1.50 + 4.0) = 3.16 and 0.6·0.10 + 0.4·1.50 = 0.66, up to ±0.03 z
            for j in 0..d {
                let z = (2.0 * std::f64::consts::PI * j as f64 / d as f64).sin();
                assert!((mi[j] - (3.16 + 0.03 * z)).abs() < 1e-12);
                assert!((mt[j] - (0.66 + 0.03 * z)).abs() < 1e-12);
            }
        }
    }

    #[test]
    fn scenario_shapes() {
        let k = k_fleet(3).unwrap();
        for (w, want) in k
            .fleet
            .weights_tar()
            .iter()
            .zip([0.5, 1.0 / 3.0, 1.0 / 6.0])
        {
            assert!((w - want).abs() < 1e-15);
        }
        assert_eq!(&k.fleet.p_tar().means()[4..8], &[0.5; 4]);
        assert_eq!(&k.fleet.p_in().means()[8..12], &[6.0; 4]);
        let a = ar_coupling(0.5).unwrap();
        assert_eq!(a.fleet.dim(), 8);
        let mut c = vec![0.0; 64];
        a.fleet.p_tar().component_covariance(1, &mut c);
        assert!((c[2] - 0.09 * 0.25).abs() < 1e-15);
        assert_eq!(heat_map().unwrap().agents, 3000);
        for p in PUBLISHED_D_SWEEP {
            let s = 100.0 * (p.ia0 - p.mf) / p.ia0;
            assert!((s - p.saving_ia0_pct).abs() < 0.06, "d = {}: {s}", p.d);
        }
    }
}
