use candle_core::{Device, Tensor};
use mfpid_compose::nn;
use std::time::Instant;
fn main() -> Result<(), Box<dyn std::error::Error>> {
    let m = nn::fresh_score(1, nn::ScoreNetConfig::pixel(), None)?;
    let vars = m.vars.all_vars();
    let mut opt = nn::FlatAdam::new(vars, 1e-3)?;
    let b = 128;
    let x = Tensor::randn(0f32, 1f32, (b, 784), &Device::Cpu)?;
    let t = Tensor::rand(0f32, 1f32, (b, 1), &Device::Cpu)?;
    for it in 0..6 {
        let t0 = Instant::now();
        let loss = m.model.eps(&x, &t)?.sub(&x)?.sqr()?.mean_all()?;
        let t1 = t0.elapsed().as_secs_f64();
        let g = loss.backward()?;
        let t2 = t0.elapsed().as_secs_f64();
        opt.step(&g, None)?;
        let t3 = t0.elapsed().as_secs_f64();
        if it > 0 {
            println!(
                "fwd {:.1} ms, bwd {:.1} ms, opt {:.1} ms",
                t1 * 1e3,
                (t2 - t1) * 1e3,
                (t3 - t2) * 1e3
            );
        }
    }
    Ok(())
}
