//! Add your own target: implement `mfpid::bridge::Target` (the bridge needs only the probe mean
//! `ŷ = E_q[y]`, `q(y) ∝ p_tar(y) N(y; mu, I/K)`) and bridge particles to it.
//!
//! The target here is two atoms, `p_tar = w δ(y - a) + (1 - w) δ(y + a)` in `d = 1`. Its probe law
//! puts log-weights `ln w - K (a - mu)²/2` and `ln(1 - w) - K (a + mu)²/2` on `±a`, so
//! `ŷ = a tanh(K a mu + ½ ln(w / (1 - w)))`.
//!
//! ```sh
//! cargo run -p mfpid --example custom_target
//! ```

use mfpid::bridge::{Bridge, BridgeError, Protocol, Target};
use mfpid::sde::{run, Ensemble, Noise, RunConfig, Scheme, TimeGrid};

/// Two atoms at `±a` with weights `w`, `1 - w`.
struct TwoAtoms {
    a: f64,
    w: f64,
    /// `K_t` of the last `prepare`
    k: f64,
}

impl Target for TwoAtoms {
    fn dim(&self) -> usize {
        1
    }
    /// Time-only work: here just remember the probe precision `K_t`.
    fn prepare(&mut self, k: f64, _t: f64) -> Result<(), BridgeError> {
        if !(k > 0.0 && k.is_finite()) {
            return Err(BridgeError::OutOfRange {
                what: "probe precision K_t",
                value: k,
                range: "(0, inf)",
            });
        }
        self.k = k;
        Ok(())
    }
    fn work_len(&self) -> usize {
        0
    }
    /// `ŷ = a tanh(K a mu + ½ ln(w / (1 - w)))`, once per particle and step.
    fn probe_mean(&self, mu: &[f64], _particle: usize, out: &mut [f64], _work: &mut [f64]) {
        let bias = 0.5 * (self.w / (1.0 - self.w)).ln();
        out[0] = self.a * (self.k * self.a * mu[0] + bias).tanh();
    }
}

fn main() -> Result<(), mfpid::Error> {
    let target = TwoAtoms {
        a: 1.5,
        w: 0.7,
        k: f64::NAN,
    };
    let protocol = Protocol::geometric(1, 12.0, 0.65, 8)?;
    let mut bridge = Bridge::new(&protocol, target)?.with_start(&[0.5])?;
    let grid = TimeGrid::aligned(0.0, 1.0, protocol.breaks(), 1000)?;
    let n = 20_000;
    let mut ens = Ensemble::filled(n, &[0.5])?;
    run(
        &mut bridge,
        &Noise::Scalar(1.0),
        &grid,
        &mut ens,
        &RunConfig::new(Scheme::EulerMaruyama, 3),
        &mut [],
    )?;
    let x = ens.as_slice();
    let up = x.iter().filter(|v| **v > 0.0).count() as f64 / n as f64;
    let spread = x
        .iter()
        .map(|v| (v.abs() - 1.5).powi(2))
        .sum::<f64>()
        .sqrt()
        / (n as f64).sqrt();
    let se = (0.7 * 0.3 / n as f64).sqrt();
    println!("fraction at +a: {up:.4} (target 0.7, standard error {se:.4})");
    println!("rms distance to the nearest atom: {spread:.4} (O(sqrt(eps)) from the time cut-off)");
    Ok(())
}
