//! Checks behind the README's d-sweep discussion (B-nd, B = 4000, seed 20251122 unless noted).
//!
//! - `dsweep_variant D STEPS`: savings at `d = D` with the spec's zone offsets `z_j = sin(2πj/d)`
//!   and with the "linspace with endpoint" reading `z_j = sin(2πj/(d-1))`, two seeds each;
//! - `dsweep_variant D STEPS BETA0`: the three methods with another protocol scale `beta_0`
//!   (e.g. `7.8 = 12·0.65`, the protocol indexed from `i = 1`).
//!
//! `cargo run --release -p mfpid-energy --example dsweep_variant -- 32 1000`

use mfpid_energy::{Comparison, EnergyError, Fleet, Law, Method, Recording, Settings};

/// B-nd with zone offsets `z_j = sin(2πj/denom)`.
fn fleet(d: usize, denom: f64) -> Result<Fleet, EnergyError> {
    let z: Vec<f64> = (0..d)
        .map(|j| (2.0 * std::f64::consts::PI * j as f64 / denom).sin())
        .collect();
    let tar: Vec<f64> = z
        .iter()
        .map(|z| 0.10 + 0.15 * z)
        .chain(z.iter().map(|z| 1.50 - 0.15 * z))
        .collect();
    let inn: Vec<f64> = tar
        .iter()
        .enumerate()
        .map(|(i, m)| m + if i < d { 1.5 } else { 4.0 })
        .collect();
    Fleet::new(
        Law::isotropic_std(d, vec![0.6, 0.4], inn, &[0.5, 0.7]),
        Law::isotropic_std(d, vec![0.6, 0.4], tar, &[0.2, 0.3]),
    )
}

/// Run the three methods and print `E/d` and the saving of MF vs IA(0).
fn report(label: &str, fleet: Fleet, settings: Settings) -> Result<(), EnergyError> {
    let d = fleet.dim();
    for c in Comparison::run_batch(
        vec![(fleet, settings)],
        &Method::standard(),
        &Recording::default(),
    )? {
        let sv = c.saving("MF", "IA0")?;
        let e: Vec<String> = c
            .runs
            .iter()
            .map(|r| format!("{:.3}", r.energy / d as f64))
            .collect();
        println!(
            "d={d} {label}: E/d (MF / IA0 / IAm) {}; saving vs IA(0) {:.2} ± {:.2} %",
            e.join(" / "),
            sv.pct,
            sv.stderr_pct
        );
    }
    Ok(())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let d: usize = args.get(1).map_or(Ok(32), |s| s.parse())?;
    let steps: usize = args.get(2).map_or(Ok(1000), |s| s.parse())?;
    let paper = |seed| Settings::paper(4000).with_steps(steps).with_seed(seed);
    if let Some(b0) = args.get(3) {
        let mut s = paper(20251122);
        s.beta_0 = b0.parse()?;
        report(&format!("beta_0 = {}", s.beta_0), fleet(d, d as f64)?, s)?;
        return Ok(());
    }
    for (name, denom) in [
        ("z = sin(2πj/d)", d as f64),
        ("z = sin(2πj/(d-1))", d.saturating_sub(1).max(1) as f64),
    ] {
        for seed in [20251122u64, 1] {
            report(
                &format!("{name}, seed {seed}"),
                fleet(d, denom)?,
                paper(seed),
            )?;
        }
    }
    Ok(())
}
