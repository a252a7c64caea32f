//! HVAC energy and peak power of a physical fleet, with standard errors, and their savings against a
//! baseline method run on the same agents and noise.
//!
//! # Sign convention
//! HVAC power `P_j` (kW) of zone `j` is positive when it heats and negative when it cools (the
//! convention of [`crate::thermal`]: `P_j = C_j (σ_T/T_h) u_j - passive_j`). The HVAC *power* of a
//! building is `Σ_j |P_j|` (cooling and heating both cost energy), its HVAC *energy*
//! `∫ Σ_j |P_j| dτ` (kWh per building) and the *peak* is the largest fleet-average power
//! `max_t mean_i Σ_j |P_ij(t)|` (kW per building). The control *effort* `∫ Σ_j (C_j σ_T/T_h u_j)² dτ`
//! (kW²·h) is the bridge's cost functional in physical units; it is not an energy.
//!
//! # Standard errors: batch means over agents
//! The agents are split into `G` contiguous batches (`G = min(B, 32)`, agent `i` in batch
//! `⌊i G / B⌋`); [`HvacRecorder`] keeps each batch's total power at every step (`G × N` numbers,
//! not `B × N`). A fleet average is a ratio `Σ_g A_g / Σ_g n_g` of batch totals `A_g` over batch
//! sizes `n_g`, with the cluster standard error
//! `se = sqrt(G/(G-1) Σ_g (A_g - m n_g)²) / B`. The peak is read at the time `t*` where the whole
//! fleet's average power is largest: `A_g = batch-g power at t*`. A saving `1 - R` with
//! `R = mean(method)/mean(baseline)` is paired over the same batches (same agents, same noise), with
//! the delta-method error `se(R) = sqrt(G/(G-1) Σ_g z_g²)`, `z_g = (A_g - R S_g)/(B s̄)`.

use mfpid_sde::observe::{blocked_sum, Observer, StepView};
use mfpid_sde::TimeGrid;
use serde::Serialize;

use crate::error::{EnergyError, Result};
use crate::thermal::ThermalLayer;

/// Most batches used for the standard errors.
pub const MAX_BATCHES: usize = 32;

/// Records, per batch of agents, the HVAC power at every step and the control effort.
#[derive(Debug, Clone)]
pub struct HvacRecorder {
    layer: ThermalLayer,
    batches: usize,
    agents: usize,
    /// Batch sizes `n_g`.
    counts: Vec<f64>,
    /// Minutes after the event of each step with a drift.
    minutes: Vec<f64>,
    /// Step lengths in hours.
    dt_h: Vec<f64>,
    /// Batch totals of `Σ_j |P_j|` (kW), `N` rows of `G`.
    power: Vec<f64>,
    /// Batch totals of `Σ_j ∫ (control power_j)² dτ` (kW²·h), length `G`.
    effort: Vec<f64>,
    kw: Vec<f64>,
    acc: Vec<f64>,
    partials: Vec<f64>,
}

impl HvacRecorder {
    /// A recorder for `layer` and a fleet of `agents` agents (`>= 1`; the fleet's `d` must equal
    /// `layer.zones()`).
    pub fn new(layer: &ThermalLayer, agents: usize) -> Self {
        let batches = agents.clamp(1, MAX_BATCHES);
        let mut counts = vec![0.0; batches];
        for i in 0..agents {
            counts[i * batches / agents] += 1.0;
        }
        Self {
            layer: layer.clone(),
            batches,
            agents,
            counts,
            minutes: Vec::new(),
            dt_h: Vec::new(),
            power: Vec::new(),
            effort: vec![0.0; batches],
            kw: Vec::new(),
            acc: Vec::new(),
            partials: Vec::new(),
        }
    }

    /// Bytes this recorder holds for a run of `steps` steps (for cost estimates).
    pub fn memory_bytes(agents: usize, steps: usize) -> usize {
        let g = agents.clamp(1, MAX_BATCHES);
        8 * (g * (steps + 1) + 2 * (steps + 1) + 4 * g)
    }

    /// The summary of the recorded run.
    pub fn summary(&self) -> Result<HvacSummary> {
        let (g, n) = (self.batches, self.minutes.len());
        if n == 0 {
            return Err(EnergyError::Invalid {
                field: "hvac recorder",
                value: "0 steps".into(),
                reason: "observe a run before asking for its summary",
            });
        }
        let b = self.agents as f64;
        // fleet-average power per step and the peak step
        let fleet: Vec<f64> = self
            .power
            .chunks_exact(g)
            .map(|row| row.iter().sum::<f64>() / b)
            .collect();
        let peak_step = (0..n).fold(0, |best, k| if fleet[k] > fleet[best] { k } else { best });
        let energy_batches: Vec<f64> = (0..g)
            .map(|k| {
                (0..n)
                    .map(|s| self.dt_h[s] * self.power[s * g + k])
                    .sum::<f64>()
            })
            .collect();
        let peak_batches = self.power[peak_step * g..(peak_step + 1) * g].to_vec();
        let stat = |totals: Vec<f64>| BatchStat::new(totals, self.counts.clone());
        let energy = stat(energy_batches);
        let peak = stat(peak_batches);
        let effort = stat(self.effort.clone());
        Ok(HvacSummary {
            energy_kwh: energy.mean(),
            energy_se_kwh: energy.stderr(),
            peak_kw: peak.mean(),
            peak_se_kw: peak.stderr(),
            peak_minute: self.minutes[peak_step],
            effort_kw2h: effort.mean(),
            effort_se_kw2h: effort.stderr(),
            batches: g,
            minutes: self.minutes.clone(),
            power_kw: fleet,
            energy,
            peak,
            effort,
        })
    }
}

impl Observer for HvacRecorder {
    fn start(&mut self, grid: &TimeGrid, _n: usize, d: usize) {
        let steps = grid.n_steps();
        self.minutes = Vec::with_capacity(steps);
        self.dt_h = Vec::with_capacity(steps);
        self.power = Vec::with_capacity(steps * self.batches);
        self.effort = vec![0.0; self.batches];
        self.kw = (0..d).map(|j| self.layer.kw_per_unit(j)).collect();
    }

    fn observe(&mut self, v: &StepView<'_>) {
        let Some(u) = v.drift else { return };
        let (d, x, layer, g) = (v.dim, v.x, &self.layer, self.batches);
        let (kw, off, b) = (&self.kw, v.offset, self.agents.max(1));
        let (s, tref) = (layer.scale_c(), layer.reference_c);
        self.acc.clear();
        self.acc.resize(2 * g, 0.0);
        blocked_sum(
            v.comm,
            v.n_particles(),
            2 * g,
            &mut self.partials,
            &mut self.acc,
            |i, a| {
                let batch = ((off + i) * g / b).min(g - 1);
                let xi = &x[i * d..(i + 1) * d];
                let temps = |j: usize| tref + s * xi[j];
                let (mut abs_p, mut eff) = (0.0, 0.0);
                for j in 0..d {
                    let tj = temps(j);
                    let bld = &layer.building;
                    // passive load of zone j: outdoors plus the chain neighbours (see thermal.rs)
                    let mut passive = (layer.outdoor_c - tj) / bld.resistance_c_per_kw[j];
                    if j > 0 {
                        passive += bld.coupling_kw_per_c * (temps(j - 1) - tj);
                    }
                    if j + 1 < d {
                        passive += bld.coupling_kw_per_c * (temps(j + 1) - tj);
                    }
                    let ctrl = kw[j] * u[i * d + j];
                    // P_j = control power - passive load (> 0 heats, < 0 cools)
                    abs_p += (ctrl - passive).abs();
                    eff += ctrl * ctrl;
                }
                a[batch] += abs_p;
                a[g + batch] += eff;
            },
        );
        let dt_h = v.h * layer.horizon_h();
        self.minutes.push(layer.minutes(v.t));
        self.dt_h.push(dt_h);
        self.power.extend_from_slice(&self.acc[..g]);
        for (e, a) in self.effort.iter_mut().zip(&self.acc[g..]) {
            *e += dt_h * a;
        }
    }
}

/// A fleet average from batch totals `A_g` and batch sizes `n_g`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BatchStat {
    /// Batch totals `A_g`.
    pub totals: Vec<f64>,
    /// Batch sizes `n_g`.
    pub counts: Vec<f64>,
}

impl BatchStat {
    fn new(totals: Vec<f64>, counts: Vec<f64>) -> Self {
        Self { totals, counts }
    }

    fn agents(&self) -> f64 {
        self.counts.iter().sum()
    }

    /// `m = Σ A_g / Σ n_g`.
    pub fn mean(&self) -> f64 {
        self.totals.iter().sum::<f64>() / self.agents()
    }

    /// `sqrt(G/(G-1) Σ_g (A_g - m n_g)²) / B` (NaN for one batch).
    pub fn stderr(&self) -> f64 {
        let g = self.totals.len() as f64;
        if g < 2.0 {
            return f64::NAN;
        }
        let m = self.mean();
        let ss: f64 = self
            .totals
            .iter()
            .zip(&self.counts)
            .map(|(a, n)| (a - m * n).powi(2))
            .sum();
        (g / (g - 1.0) * ss).sqrt() / self.agents()
    }
}

/// HVAC energy, peak power and control effort of one method (per building), each with its
/// standard error from batch means over agents.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HvacSummary {
    /// HVAC energy `∫ Σ_j |P_j| dτ`, kWh per building.
    pub energy_kwh: f64,
    /// Its standard error, kWh.
    pub energy_se_kwh: f64,
    /// Peak fleet-average HVAC power `max_t mean_i Σ_j |P_ij|`, kW per building.
    pub peak_kw: f64,
    /// Its standard error, kW.
    pub peak_se_kw: f64,
    /// When the peak occurs, minutes after the event.
    pub peak_minute: f64,
    /// Control effort `∫ Σ_j (C_j σ_T/T_h u_j)² dτ`, kW²·h per building (not an energy).
    pub effort_kw2h: f64,
    /// Its standard error, kW²·h.
    pub effort_se_kw2h: f64,
    /// Batches `G` behind the standard errors.
    pub batches: usize,
    /// Minutes after the event of each step.
    #[serde(skip)]
    pub minutes: Vec<f64>,
    /// Fleet-average HVAC power `mean_i Σ_j |P_ij|` at each step, kW per building.
    #[serde(skip)]
    pub power_kw: Vec<f64>,
    #[serde(skip)]
    energy: BatchStat,
    #[serde(skip)]
    peak: BatchStat,
    #[serde(skip)]
    effort: BatchStat,
}

/// Savings of one method against a baseline, in percent of the baseline, each with its paired
/// delta-method standard error (percentage points). Positive: the method uses less.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct HvacSaving {
    /// HVAC energy saving, percent.
    pub energy_pct: f64,
    /// Its standard error, percentage points.
    pub energy_se_pct: f64,
    /// Peak power saving, percent.
    pub peak_pct: f64,
    /// Its standard error, percentage points.
    pub peak_se_pct: f64,
    /// Control effort saving, percent.
    pub effort_pct: f64,
    /// Its standard error, percentage points.
    pub effort_se_pct: f64,
}

impl HvacSaving {
    /// Savings of `run` against `base`, both recorded on the same agents (same batches).
    pub fn of(run: &HvacSummary, base: &HvacSummary) -> Result<Self> {
        if run.energy.counts != base.energy.counts {
            return Err(EnergyError::Invalid {
                field: "runs",
                value: format!("{} vs {} batches", run.batches, base.batches),
                reason: "a saving needs two runs on the same agents",
            });
        }
        let (e, e_se) = paired_saving(&run.energy, &base.energy);
        let (p, p_se) = paired_saving(&run.peak, &base.peak);
        let (f, f_se) = paired_saving(&run.effort, &base.effort);
        Ok(Self {
            energy_pct: e,
            energy_se_pct: e_se,
            peak_pct: p,
            peak_se_pct: p_se,
            effort_pct: f,
            effort_se_pct: f_se,
        })
    }
}

/// `100 (1 - R)` and `100 se(R)` for `R = mean(a)/mean(s)`, paired over batches (delta method).
fn paired_saving(a: &BatchStat, s: &BatchStat) -> (f64, f64) {
    let (ma, ms) = (a.mean(), s.mean());
    let r = ma / ms;
    let g = a.totals.len() as f64;
    let b = a.agents();
    let se = if g < 2.0 {
        f64::NAN
    } else {
        let ss: f64 = a
            .totals
            .iter()
            .zip(&s.totals)
            .map(|(x, y)| ((x - r * y) / (b * ms)).powi(2))
            .sum();
        (g / (g - 1.0) * ss).sqrt()
    };
    (100.0 * (1.0 - r), 100.0 * se)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batch_means_and_paired_savings() {
        // four batches of two agents: totals 2, 4, 6, 8 -> mean 2.5 per agent
        let a = BatchStat::new(vec![2.0, 4.0, 6.0, 8.0], vec![2.0; 4]);
        assert!((a.mean() - 2.5).abs() < 1e-15);
        // residuals -3, -1, 1, 3: sqrt(4/3 * 20) / 8
        assert!((a.stderr() - (80.0f64 / 3.0).sqrt() / 8.0).abs() < 1e-15);
        // a method using exactly half of the baseline in every batch saves 50 % with no error
        let s = BatchStat::new(vec![4.0, 8.0, 12.0, 16.0], vec![2.0; 4]);
        let (pct, se) = paired_saving(&a, &s);
        assert!((pct - 50.0).abs() < 1e-12 && se.abs() < 1e-12, "{pct} {se}");
        // one batch deviating: the error is positive and the saving moves the right way
        let a2 = BatchStat::new(vec![2.0, 4.0, 6.0, 9.0], vec![2.0; 4]);
        let (pct2, se2) = paired_saving(&a2, &s);
        assert!(pct2 < 50.0 && se2 > 0.0);
    }

    #[test]
    fn recorder_matches_the_hvac_observer() {
        use crate::{Experiment, HvacObserver, Method, Recording, Settings};
        let layer = ThermalLayer::example_office();
        let (pin, ptar) = ThermalLayer::example_fleet();
        let fleet = layer.fleet(&pin, &ptar).unwrap();
        let exp = Experiment::new(fleet, Settings::paper(200).with_steps(120)).unwrap();
        let runs: Vec<HvacSummary> = [Method::mean_field(), Method::independent_zero()]
            .iter()
            .map(|m| {
                let mut rec = HvacRecorder::new(&layer, 200);
                let mut obs = HvacObserver::new(&layer);
                let r = exp
                    .run(m, Recording::default(), &mut [&mut rec, &mut obs])
                    .unwrap();
                let s = rec.summary().unwrap();
                // |P| = cooling + heating, integrated the same way
                let want = obs.cooling_kwh + obs.heating_kwh;
                assert!((s.energy_kwh - want).abs() < 1e-9 * want, "{s:?} {want}");
                // the effort is the bridge energy in kW²·h
                let eff = layer.effort_kw2h(&r.energy_per_zone);
                assert!(
                    (s.effort_kw2h - eff).abs() < 1e-9 * eff,
                    "{} {eff}",
                    s.effort_kw2h
                );
                assert!(s.energy_se_kwh > 0.0 && s.peak_se_kw > 0.0);
                s
            })
            .collect();
        let sv = HvacSaving::of(&runs[0], &runs[1]).unwrap();
        assert!(sv.peak_pct > 0.0 && sv.peak_se_pct > 0.0, "{sv:?}");
        let zero = HvacSaving::of(&runs[1], &runs[1]).unwrap();
        assert!(zero.energy_pct.abs() < 1e-12 && zero.energy_se_pct.abs() < 1e-12);
    }
}
