//! Guided-drift throughput: B = 4000 particles, K = 2 mixture components, d in {1, 4, 16, 32, 64},
//! diagonal and full covariance.
//!
//! - `eval_1thread`: one serial batch `Drift::eval` over all particles (per-step `prepare` excluded);
//! - `eval_rayon`: the same split into 256-particle chunks over rayon's pool (all threads);
//! - `prepare`: the per-step work (coefficients, `S_k = Σ_k + I/K` factorisations), once per step;
//! - `runner_step`: one Euler-Maruyama step through `mfpid_sde::run` (prepare + parallel eval + noise).
//!
//! Throughput is reported in particle-drift evaluations per second.

#![allow(clippy::needless_range_loop)]
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use mfpid_bridge::{Bridge, GaussianMixture, Protocol};
use mfpid_sde::{run, Drift, Ensemble, Noise, RunConfig, Scheme, TimeGrid};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;

const B: usize = 4000;
const K: usize = 2;

fn mixture(d: usize, full: bool, rng: &mut ChaCha8Rng) -> GaussianMixture {
    let means: Vec<f64> = (0..K * d).map(|_| rng.random_range(-1.0..1.0)).collect();
    if full {
        let mut cov = vec![0.0; K * d * d];
        for k in 0..K {
            let a: Vec<f64> = (0..d * d).map(|_| rng.random_range(-1.0..1.0)).collect();
            for i in 0..d {
                for j in 0..d {
                    let s: f64 =
                        (0..d).map(|l| a[i * d + l] * a[j * d + l]).sum::<f64>() / d as f64;
                    cov[k * d * d + i * d + j] = s + if i == j { 0.5 } else { 0.0 };
                }
            }
        }
        GaussianMixture::full(d, vec![0.4, 0.6], means, cov).unwrap()
    } else {
        let var: Vec<f64> = (0..K * d).map(|_| rng.random_range(0.2..1.0)).collect();
        GaussianMixture::diagonal(d, vec![0.4, 0.6], means, var).unwrap()
    }
}

fn bench(c: &mut Criterion) {
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    for full in [false, true] {
        let kind = if full { "full" } else { "diag" };
        let mut g = c.benchmark_group(format!("drift_{kind}"));
        g.throughput(Throughput::Elements(B as u64));
        for d in [1usize, 4, 16, 32, 64] {
            let p = Protocol::geometric(d, 12.0, 0.65, 8).unwrap();
            let mut bridge = Bridge::new(&p, mixture(d, full, &mut rng)).unwrap();
            let x: Vec<f64> = (0..B * d).map(|_| rng.random_range(-1.0..1.0)).collect();
            let mut out = vec![0.0; B * d];
            let t = 0.5;
            bridge.prepare(t).unwrap();
            let mut scratch = Vec::new();
            g.bench_with_input(BenchmarkId::new("eval_1thread", d), &d, |bch, _| {
                bch.iter(|| bridge.eval(t, 0, &x, &mut out, &mut scratch))
            });
            let chunk = 256 * d;
            let mut scratches = vec![Vec::new(); B.div_ceil(256)];
            g.bench_with_input(BenchmarkId::new("eval_rayon", d), &d, |bch, _| {
                bch.iter(|| {
                    let br = &bridge;
                    out.par_chunks_mut(chunk)
                        .zip(x.par_chunks(chunk))
                        .zip(scratches.par_iter_mut())
                        .enumerate()
                        .for_each(|(ci, ((o, xc), s))| br.eval(t, ci * 256, xc, o, s));
                })
            });
            g.bench_with_input(BenchmarkId::new("prepare", d), &d, |bch, _| {
                bch.iter(|| bridge.prepare(t).unwrap())
            });
            let grid = TimeGrid::from_points(vec![0.5, 0.501]).unwrap();
            let cfg = RunConfig::new(Scheme::EulerMaruyama, 3);
            let mut ens = Ensemble::from_vec(B, d, x.clone()).unwrap();
            g.bench_with_input(BenchmarkId::new("runner_step", d), &d, |bch, _| {
                bch.iter(|| {
                    run(
                        &mut bridge,
                        &Noise::Scalar(1.0),
                        &grid,
                        &mut ens,
                        &cfg,
                        &mut [],
                    )
                    .unwrap()
                })
            });
        }
        g.finish();
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_millis(200))
        .measurement_time(Duration::from_millis(700));
    targets = bench
}
criterion_main!(benches);
