//! The physical layer: an RC thermal model per zone that maps °C, kW and minutes to the bridge's
//! dimensionless coordinates and back.
//!
//! # Model
//! Zone `j` of a building has capacitance `C_j` (kWh/°C), resistance to outdoors `R_j` (°C/kW) and
//! conductance `G` (kW/°C) to its neighbouring zones `j ± 1` (a chain):
//!
//! ```text
//! C_j dT_j/dτ = (T_out - T_j)/R_j + G (T_{j-1} - T_j) + G (T_{j+1} - T_j) + P_j + disturbance
//! ```
//!
//! with `τ` in hours and HVAC power `P_j` in kW (`P_j < 0`: cooling).
//!
//! # Map to the bridge
//! Time `t = τ / T_h` on a recovery horizon `T_h`; temperature `x_j = (T_j - T_ref)/σ_T`. The
//! bridge `dx = u dt + dW` has unit diffusion, so the temperature scale is fixed by the disturbance
//! intensity `s` (°C/√h, the standard deviation of the uncontrolled zone temperature after one hour):
//! `σ_T = s sqrt(T_h)`. The bridge has no passive drift, so the HVAC power is feedback-linearised:
//! it cancels the passive heat flows and adds the control,
//!
//! ```text
//! P_j = C_j (σ_T / T_h) u_j  -  [(T_out - T_j)/R_j + G Σ_{k~j} (T_k - T_j)]
//!       \_ control power _/     \_______ passive load (compensated) _______/
//! ```
//!
//! The paper's effort `E(1) = ∫ E|u|² dt` becomes `Σ_j (C_j σ_T/T_h)² T_h E_j(1)` in kW²·h
//! ([`ThermalLayer::effort_kw2h`]); the thermal energies `∫ E[P_j^±] dτ` in kWh come from
//! [`HvacObserver`].

use mfpid_bridge::Covariance;
use mfpid_sde::observe::{blocked_sum, Observer, StepView};
use mfpid_sde::TimeGrid;
use serde::{Deserialize, Serialize};

use crate::error::{EnergyError, Result};
use crate::fleet::{Fleet, Law};

/// The plausible range of a temperature in a physical config, °C: outdoor air from a polar winter
/// to a desert afternoon; anything outside (a value near 300 is in kelvin) is an error.
pub const PLAUSIBLE_C: (f64, f64) = (-60.0, 70.0);

/// Check that a temperature (°C) named `field` is finite and within [`PLAUSIBLE_C`].
pub fn check_celsius(field: impl Into<String>, value: f64) -> Result<()> {
    let (lo, hi) = PLAUSIBLE_C;
    if value.is_finite() && (lo..=hi).contains(&value) {
        Ok(())
    } else {
        Err(EnergyError::Implausible {
            field: field.into(),
            value,
            range: PLAUSIBLE_C,
        })
    }
}

/// RC parameters of one building type (every agent of a fleet shares them).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RcBuilding {
    /// Zone capacitances `C_j` (kWh/°C), length `d`.
    pub capacitance_kwh_per_c: Vec<f64>,
    /// Zone resistances to outdoors `R_j` (°C/kW), length `d`.
    pub resistance_c_per_kw: Vec<f64>,
    /// Conductance `G` between neighbouring zones `j`, `j + 1` (kW/°C, `>= 0`).
    pub coupling_kw_per_c: f64,
}

/// The map between a physical fleet (°C, kW, minutes) and the bridge's units.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ThermalLayer {
    /// RC parameters.
    pub building: RcBuilding,
    /// Outdoor temperature `T_out` (°C), constant over the horizon.
    pub outdoor_c: f64,
    /// Reference temperature `T_ref` (°C) mapped to `x = 0`.
    pub reference_c: f64,
    /// Recovery horizon `T_h` (minutes) mapped to `t ∈ [0, 1]`.
    pub horizon_min: f64,
    /// Disturbance intensity `s` (°C/√h): the uncontrolled temperature spread after one hour.
    pub noise_c_per_sqrt_h: f64,
}

/// A mixture law stated in °C (isotropic per component).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CelsiusLaw {
    /// Sub-population weights (length `K`, all `> 0`).
    pub weights: Vec<f64>,
    /// Zone temperatures `T̄_k` (°C), row-major `K x d`.
    pub means_c: Vec<f64>,
    /// Per-component standard deviation (°C), length `K`.
    pub std_c: Vec<f64>,
}

impl ThermalLayer {
    /// Validate and build a layer.
    pub fn new(
        building: RcBuilding,
        outdoor_c: f64,
        reference_c: f64,
        horizon_min: f64,
        noise_c_per_sqrt_h: f64,
    ) -> Result<Self> {
        let d = building.capacitance_kwh_per_c.len();
        if d == 0 {
            return invalid(
                "capacitance_kwh_per_c",
                "[]",
                "needs one value per zone (d >= 1)",
            );
        }
        if building.resistance_c_per_kw.len() != d {
            return invalid(
                "resistance_c_per_kw",
                format!("{} values", building.resistance_c_per_kw.len()),
                "needs one value per zone, as many as capacitances",
            );
        }
        for (field, v) in [
            ("capacitance_kwh_per_c", &building.capacitance_kwh_per_c),
            ("resistance_c_per_kw", &building.resistance_c_per_kw),
        ] {
            if let Some(x) = v.iter().find(|x| !(x.is_finite() && **x > 0.0)) {
                return invalid(field, x.to_string(), "must be positive and finite");
            }
        }
        if !(building.coupling_kw_per_c.is_finite() && building.coupling_kw_per_c >= 0.0) {
            return invalid(
                "coupling_kw_per_c",
                building.coupling_kw_per_c.to_string(),
                "must be finite and >= 0",
            );
        }
        for (field, v) in [("outdoor_c", outdoor_c), ("reference_c", reference_c)] {
            check_celsius(field, v)?;
        }
        for (field, v) in [
            ("horizon_min", horizon_min),
            ("noise_c_per_sqrt_h", noise_c_per_sqrt_h),
        ] {
            if !(v.is_finite() && v > 0.0) {
                return invalid(field, v.to_string(), "must be positive and finite");
            }
        }
        Ok(Self {
            building,
            outdoor_c,
            reference_c,
            horizon_min,
            noise_c_per_sqrt_h,
        })
    }

    /// The documented example: a four-zone office building on a hot afternoon.
    ///
    /// Zones of `C = 2.5 kWh/°C` (a medium office floor zone, air plus interior mass), `R = 6 °C/kW`
    /// to outdoors, `G = 1 kW/°C` between neighbouring zones; `T_out = 32 °C`, `T_ref = 22 °C`, a
    /// 60-minute recovery after the curtailment event, disturbances of `0.8 °C/√h`
    /// (so `σ_T = 0.8 °C`, and one unit of `u` is 2 kW of control power per zone).
    pub fn example_office() -> Self {
        Self {
            building: RcBuilding {
                capacitance_kwh_per_c: vec![2.5; 4],
                resistance_c_per_kw: vec![6.0; 4],
                coupling_kw_per_c: 1.0,
            },
            outdoor_c: 32.0,
            reference_c: 22.0,
            horizon_min: 60.0,
            noise_c_per_sqrt_h: 0.8,
        }
    }

    /// The example fleet of [`ThermalLayer::example_office`] in °C: after a curtailment event 60 %
    /// of the buildings (occupied) sit at 24.5 ± 0.4 °C and 40 % (unoccupied, deeper setback) at
    /// 26.5 ± 0.6 °C in every zone; recovery targets 22.5 ± 0.15 °C and 24.0 ± 0.25 °C.
    pub fn example_fleet() -> (CelsiusLaw, CelsiusLaw) {
        let d = 4;
        let law = |a: f64, b: f64, sa: f64, sb: f64| {
            // row-major 2 x d: `a` in every zone of component 0, `b` in every zone of component 1
            let mut means_c = vec![a; 2 * d];
            means_c[d..].fill(b);
            CelsiusLaw {
                weights: vec![0.6, 0.4],
                means_c,
                std_c: vec![sa, sb],
            }
        };
        (law(24.5, 26.5, 0.4, 0.6), law(22.5, 24.0, 0.15, 0.25))
    }

    /// Number of zones `d`.
    pub fn zones(&self) -> usize {
        self.building.capacitance_kwh_per_c.len()
    }

    /// Horizon `T_h` in hours.
    pub fn horizon_h(&self) -> f64 {
        self.horizon_min / 60.0
    }

    /// Temperature scale `σ_T = s sqrt(T_h)` (°C per dimensionless unit).
    pub fn scale_c(&self) -> f64 {
        self.noise_c_per_sqrt_h * self.horizon_h().sqrt()
    }

    /// `x = (T - T_ref)/σ_T`.
    pub fn to_unit(&self, t_c: f64) -> f64 {
        (t_c - self.reference_c) / self.scale_c()
    }

    /// `T = T_ref + σ_T x` (°C).
    pub fn to_celsius(&self, x: f64) -> f64 {
        self.reference_c + self.scale_c() * x
    }

    /// Minutes after the event for bridge time `t`.
    pub fn minutes(&self, t: f64) -> f64 {
        t * self.horizon_min
    }

    /// kW of control power per unit of `u` in zone `j`: `C_j σ_T / T_h`.
    pub fn kw_per_unit(&self, j: usize) -> f64 {
        self.building.capacitance_kwh_per_c[j] * self.scale_c() / self.horizon_h()
    }

    /// Passive heat flow into zone `j` (kW) at zone temperatures `temps_c` (°C).
    pub fn passive_kw(&self, j: usize, temps_c: &[f64]) -> f64 {
        let b = &self.building;
        let mut q = (self.outdoor_c - temps_c[j]) / b.resistance_c_per_kw[j];
        if j > 0 {
            q += b.coupling_kw_per_c * (temps_c[j - 1] - temps_c[j]);
        }
        if j + 1 < temps_c.len() {
            q += b.coupling_kw_per_c * (temps_c[j + 1] - temps_c[j]);
        }
        q
    }

    /// HVAC power of zone `j` (kW, `< 0` cooling) for control `u_j` at temperatures `temps_c`.
    pub fn hvac_kw(&self, j: usize, u_j: f64, temps_c: &[f64]) -> f64 {
        self.kw_per_unit(j) * u_j - self.passive_kw(j, temps_c)
    }

    /// The effort `∫ Σ_j (control power_j)² dτ` in kW²·h from per-zone energies `E_j(1)`.
    pub fn effort_kw2h(&self, energy_per_zone: &[f64]) -> f64 {
        energy_per_zone
            .iter()
            .enumerate()
            .map(|(j, e)| self.kw_per_unit(j).powi(2) * self.horizon_h() * e)
            .sum()
    }

    /// Convert a law in °C to the bridge's units. Every mean temperature must be plausible
    /// ([`PLAUSIBLE_C`]; the error names it `means_c[k][j]`, component `k`, zone `j`) and every
    /// spread finite and positive (`std_c[k]`); the rest of the law is checked by [`Fleet::new`].
    pub fn law(&self, l: &CelsiusLaw) -> Result<Law> {
        let d = self.zones();
        for (i, t) in l.means_c.iter().enumerate() {
            check_celsius(format!("means_c[{}][{}]", i / d, i % d), *t)?;
        }
        if let Some(v) = l.std_c.iter().find(|v| !(v.is_finite() && **v > 0.0)) {
            return invalid("std_c", v, "every spread must be positive and finite (°C)");
        }
        let s = self.scale_c();
        let stds: Vec<f64> = l.std_c.iter().map(|v| v / s).collect();
        Ok(Law {
            d,
            weights: l.weights.clone(),
            means: l.means_c.iter().map(|t| self.to_unit(*t)).collect(),
            covariance: Covariance::Isotropic(stds.iter().map(|v| v * v).collect()),
        })
    }

    /// A temperature in °C named `field` (e.g. a centre) in the bridge's units, after checking it is
    /// plausible.
    pub fn unit_of(&self, field: impl Into<String>, t_c: f64) -> Result<f64> {
        check_celsius(field, t_c)?;
        Ok(self.to_unit(t_c))
    }

    /// A validated fleet from laws in °C (the zone count must match the building's).
    pub fn fleet(&self, p_in: &CelsiusLaw, p_tar: &CelsiusLaw) -> Result<Fleet> {
        Fleet::new(self.law(p_in)?, self.law(p_tar)?)
    }
}

fn invalid<T>(field: &'static str, value: impl ToString, reason: &'static str) -> Result<T> {
    Err(EnergyError::Invalid {
        field,
        value: value.to_string(),
        reason,
    })
}

/// Per-step HVAC power of the fleet (averages per building) and its time integrals in kWh.
#[derive(Debug, Clone)]
pub struct HvacObserver {
    layer: ThermalLayer,
    /// Minutes after the event of each recorded step.
    pub minutes: Vec<f64>,
    /// Net HVAC power per building `E Σ_j P_j` (kW).
    pub net_kw: Vec<f64>,
    /// Cooling power per building `E Σ_j max(-P_j, 0)` (kW).
    pub cooling_kw: Vec<f64>,
    /// Heating power per building `E Σ_j max(P_j, 0)` (kW).
    pub heating_kw: Vec<f64>,
    /// Control power per building `E Σ_j C_j σ_T/T_h u_j` (kW), the part that moves temperatures.
    pub control_kw: Vec<f64>,
    /// Mean zone temperature of the fleet (°C), averaged over zones.
    pub mean_temp_c: Vec<f64>,
    /// `∫ cooling` (kWh per building).
    pub cooling_kwh: f64,
    /// `∫ heating` (kWh per building).
    pub heating_kwh: f64,
    /// `∫ net` (kWh per building).
    pub net_kwh: f64,
    /// `∫ control power` (kWh per building).
    pub control_kwh: f64,
    buf: [f64; 5],
    partials: Vec<f64>,
    /// kW per unit of `u`, per zone
    kw: Vec<f64>,
}

impl HvacObserver {
    /// An observer for `layer` (the fleet's `d` must equal `layer.zones()`).
    pub fn new(layer: &ThermalLayer) -> Self {
        Self {
            layer: layer.clone(),
            minutes: Vec::new(),
            net_kw: Vec::new(),
            cooling_kw: Vec::new(),
            heating_kw: Vec::new(),
            control_kw: Vec::new(),
            mean_temp_c: Vec::new(),
            cooling_kwh: 0.0,
            heating_kwh: 0.0,
            net_kwh: 0.0,
            control_kwh: 0.0,
            buf: [0.0; 5],
            partials: Vec::new(),
            kw: Vec::new(),
        }
    }

    /// Peak cooling power per building (kW).
    pub fn peak_cooling_kw(&self) -> f64 {
        self.cooling_kw.iter().copied().fold(0.0, f64::max)
    }
}

impl Observer for HvacObserver {
    fn start(&mut self, grid: &TimeGrid, _n: usize, d: usize) {
        for v in [
            &mut self.minutes,
            &mut self.net_kw,
            &mut self.cooling_kw,
            &mut self.heating_kw,
            &mut self.control_kw,
            &mut self.mean_temp_c,
        ] {
            v.clear();
            v.reserve(grid.n_steps() + 1);
        }
        self.cooling_kwh = 0.0;
        self.heating_kwh = 0.0;
        self.net_kwh = 0.0;
        self.control_kwh = 0.0;
        self.kw = (0..d).map(|j| self.layer.kw_per_unit(j)).collect();
    }

    fn observe(&mut self, v: &StepView<'_>) {
        let (d, x, layer) = (v.dim, v.x, &self.layer);
        let (s, tref) = (layer.scale_c(), layer.reference_c);
        let (kw, drift) = (&self.kw, v.drift);
        let mut acc = [0.0; 5];
        blocked_sum(
            v.comm,
            v.n_particles(),
            5,
            &mut self.partials,
            &mut acc,
            |i, a| {
                let xi = &x[i * d..(i + 1) * d];
                let temp = |j: usize| tref + s * xi[j];
                for j in 0..d {
                    let tj = temp(j);
                    let b = &layer.building;
                    let mut passive = (layer.outdoor_c - tj) / b.resistance_c_per_kw[j];
                    if j > 0 {
                        passive += b.coupling_kw_per_c * (temp(j - 1) - tj);
                    }
                    if j + 1 < d {
                        passive += b.coupling_kw_per_c * (temp(j + 1) - tj);
                    }
                    let ctrl = drift.map_or(0.0, |u| kw[j] * u[i * d + j]);
                    let p = ctrl - passive;
                    a[0] += p;
                    a[1] += (-p).max(0.0);
                    a[2] += p.max(0.0);
                    a[3] += ctrl;
                    a[4] += tj;
                }
            },
        );
        let n = v.total_particles as f64;
        self.buf = acc.map(|a| a / n);
        self.buf[4] /= d as f64;
        self.minutes.push(layer.minutes(v.t));
        self.mean_temp_c.push(self.buf[4]);
        if drift.is_none() {
            return;
        }
        let dt_h = v.h * layer.horizon_h();
        self.net_kw.push(self.buf[0]);
        self.cooling_kw.push(self.buf[1]);
        self.heating_kw.push(self.buf[2]);
        self.control_kw.push(self.buf[3]);
        self.net_kwh += dt_h * self.buf[0];
        self.cooling_kwh += dt_h * self.buf[1];
        self.heating_kwh += dt_h * self.buf[2];
        self.control_kwh += dt_h * self.buf[3];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unit_round_trips_and_scales() {
        let l = ThermalLayer::example_office();
        assert!((l.scale_c() - 0.8).abs() < 1e-15);
        assert!((l.to_celsius(l.to_unit(25.3)) - 25.3).abs() < 1e-12);
        assert!((l.kw_per_unit(0) - 2.0).abs() < 1e-15);
        // effort: (2 kW)² · 1 h · E_j
        assert!((l.effort_kw2h(&[1.0, 0.0, 0.5, 0.0]) - 6.0).abs() < 1e-12);
        // a 4-zone chain at uniform temperature only exchanges heat with outdoors
        let t = [23.0; 4];
        assert!((l.passive_kw(1, &t) - 9.0 / 6.0).abs() < 1e-12);
        assert!((l.hvac_kw(1, 0.0, &t) + 1.5).abs() < 1e-12);
        let t = [23.0, 24.0, 23.0, 23.0];
        assert!((l.passive_kw(1, &t) - (8.0 / 6.0 - 2.0)).abs() < 1e-12);
        let (pin, ptar) = ThermalLayer::example_fleet();
        let f = l.fleet(&pin, &ptar).unwrap();
        assert!((f.mean_in()[0] - l.to_unit(0.6 * 24.5 + 0.4 * 26.5)).abs() < 1e-12);
    }

    #[test]
    fn invalid_layers_are_typed_errors() {
        let mut b = ThermalLayer::example_office().building;
        b.resistance_c_per_kw[2] = -1.0;
        let e = ThermalLayer::new(b, 30.0, 22.0, 60.0, 1.0).unwrap_err();
        assert!(e.to_string().contains("resistance_c_per_kw"), "{e}");
        let b = ThermalLayer::example_office().building;
        assert!(ThermalLayer::new(b.clone(), 30.0, 22.0, 0.0, 1.0).is_err());
        // kelvin instead of °C: an error that says so
        let e = ThermalLayer::new(b, 305.15, 22.0, 60.0, 1.0).unwrap_err();
        assert!(matches!(e, EnergyError::Implausible { ref field, .. } if field == "outdoor_c"));
        assert!(e.to_string().contains("looks like kelvin"), "{e}");
        let l = ThermalLayer::example_office();
        let (mut pin, _) = ThermalLayer::example_fleet();
        pin.means_c[5] = 297.5;
        let e = l.law(&pin).unwrap_err();
        assert!(e.to_string().starts_with("means_c[1][1] = 297.5 °C"), "{e}");
        assert!(l.unit_of("centre", -80.0).is_err());
        assert!((l.unit_of("centre", 22.8).unwrap() - 1.0).abs() < 1e-12);
    }
}
