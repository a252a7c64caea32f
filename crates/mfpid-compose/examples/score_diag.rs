//! Diagnostic: denoising loss of a score checkpoint per time bucket against the Gaussian
//! (PCA-variance) posterior, on training digits.
//!
//! ```text
//! cargo run --release -p mfpid-compose --example score_diag -- CHECKPOINT
//! ```
use candle_core::{Device, Tensor};
use mfpid_compose::idx::{Mnist, N_TEST};
use mfpid_compose::nn;
use mfpid_compose::vp::VpSchedule;
use rand::{Rng, SeedableRng};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::env::args()
        .nth(1)
        .ok_or("usage: score_diag CHECKPOINT")?;
    let m = nn::load_score(Some(std::path::Path::new(&path)))?;
    let pca = nn::pca_of(&m.vars)?.ok_or("not a PCA network")?;
    let data = Mnist::load(&Mnist::default_dir())?;
    let (train, _) = data.split(N_TEST)?;
    let z0 = pca.project(&train.images_pm1());
    let k = pca.k();
    let sched = VpSchedule::default();
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
    let b = 512;
    for &t in &[0.01f64, 0.05, 0.1, 0.2, 0.3, 0.5, 0.8] {
        let (a, s) = (sched.alpha(t), sched.sigma2(t).sqrt());
        let mut zt = Vec::with_capacity(b * k);
        let mut ev = Vec::with_capacity(b * k);
        for _ in 0..b {
            let i = rng.random_range(0..z0.len() / k);
            for c in 0..k {
                let e: f64 = rng.sample(rand_distr::StandardNormal);
                zt.push((a * z0[i * k + c] as f64 + s * e) as f32);
                ev.push(e as f32);
            }
        }
        let zt_t = Tensor::from_vec(zt.clone(), (b, k), &Device::Cpu)?;
        let tt = Tensor::full(t as f32, (b, 1), &Device::Cpu)?;
        let pred = m
            .model
            .eps_latent(&zt_t, &tt)?
            .flatten_all()?
            .to_vec1::<f32>()?;
        let (mut ln, mut lg, mut dr) = (0.0f64, 0.0f64, 0.0f64);
        for p in 0..b {
            for c in 0..k {
                let v = pca.var[c] as f64;
                let g = s * zt[p * k + c] as f64 / (a * a * v + s * s);
                lg += (g - ev[p * k + c] as f64).powi(2);
                dr += (g - pred[p * k + c] as f64).powi(2);
                ln += (pred[p * k + c] as f64 - ev[p * k + c] as f64).powi(2);
            }
        }
        println!(
            "t {t:.2}: network loss {:.4}, Gaussian loss {:.4}, rms(network - Gaussian) {:.4}",
            ln / (b * k) as f64,
            lg / (b * k) as f64,
            (dr / (b * k) as f64).sqrt()
        );
    }
    Ok(())
}
