//! Choose the score network: eval-classifier confidence of PCA reconstructions of the test digits
//! (the ceiling of a PCA-subspace model) and the time of one training step of candidate shapes.
//!
//! ```text
//! cargo run --release -p mfpid-compose --example score_bench
//! ```

use candle_core::{Device, Tensor};
use mfpid_compose::idx::{Mnist, N_TEST};
use mfpid_compose::nn::{self, ScoreNetConfig};
use std::time::Instant;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let data = Mnist::load(&Mnist::default_dir())?;
    let (train, test) = data.split(N_TEST)?;
    let (xtr, xte) = (train.images_pm1(), test.images_pm1());
    let ev = nn::load_eval(None)?;
    let (_, conf) = nn::classify(&ev.model, &xte)?;
    let c = conf.iter().filter(|&&c| c > 0.9).count() as f64 / conf.len() as f64;
    println!(
        "test digits: eval accuracy {:.4}, confident (> 0.9) {c:.3}",
        nn::accuracy(&ev.model, &xte, &test.labels)?
    );
    for k in [32, 48, 64, 96] {
        let t0 = Instant::now();
        let pca = nn::Pca::fit(&xtr, k)?;
        let rec = pca.reconstruct(&pca.project(&xte));
        let rec: Vec<f32> = rec.iter().map(|v| v.clamp(-1.0, 1.0)).collect();
        let (_, conf) = nn::classify(&ev.model, &rec)?;
        let c = conf.iter().filter(|&&c| c > 0.9).count() as f64 / conf.len() as f64;
        let explained: f32 = pca.var.iter().sum();
        println!(
            "k = {k}: variance {explained:.2}, reconstructions: eval accuracy {:.4}, confident {c:.3} ({:.1} s)",
            nn::accuracy(&ev.model, &rec, &test.labels)?,
            t0.elapsed().as_secs_f64()
        );
    }
    for (latent, hidden, blocks, batch) in [
        (64, 512, 3, 256),
        (64, 384, 3, 256),
        (64, 256, 4, 256),
        (0, 512, 3, 128),
    ] {
        let cfg = ScoreNetConfig {
            hidden,
            blocks,
            n_freq: 32,
            latent,
        };
        let m = nn::fresh_score(1, cfg, None)?;
        let mut opt = nn::FlatAdam::new(nn::trainable_vars(&m.vars)?, 1e-3)?;
        let d = if latent > 0 { latent } else { 784 };
        let x = Tensor::randn(0f32, 1f32, (batch, d), &Device::Cpu)?;
        let t = Tensor::rand(0.01f32, 1f32, (batch, 1), &Device::Cpu)?;
        let mut times = Vec::new();
        for _ in 0..12 {
            let t0 = Instant::now();
            let pred = if latent > 0 {
                m.model.eps_latent(&x, &t)?
            } else {
                m.model.eps(&x, &t)?
            };
            let loss = pred.sub(&x)?.sqr()?.mean_all()?;
            opt.step(&loss.backward()?, None)?;
            times.push(t0.elapsed().as_secs_f64() * 1e3);
        }
        times.sort_by(f64::total_cmp);
        let params: usize = nn::trainable_vars(&m.vars)?
            .iter()
            .map(|v| v.as_tensor().elem_count())
            .sum();
        println!(
            "latent {latent} hidden {hidden} blocks {blocks} batch {batch}: {params} params, median step {:.1} ms",
            times[6]
        );
    }
    Ok(())
}
