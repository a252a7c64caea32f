//! Criterion benches of the ensemble runner's kernels: one EM / SRA1 run of 10 steps on d-dim OU.
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use mfpid_sde::{run, Ensemble, LinearDrift, Noise, RunConfig, Scheme, TimeGrid};
use std::time::Duration;

fn steps(c: &mut Criterion) {
    let mut g = c.benchmark_group("ou_10_steps_b16384");
    g.measurement_time(Duration::from_secs(2))
        .warm_up_time(Duration::from_millis(500))
        .sample_size(10);
    let b = 16_384;
    for d in [1usize, 8, 32] {
        g.throughput(Throughput::Elements((b * d * 10) as u64));
        for scheme in [Scheme::EulerMaruyama, Scheme::Sra1] {
            g.bench_with_input(BenchmarkId::new(scheme.name(), d), &d, |bch, &d| {
                let mut drift = LinearDrift::isotropic(d, 1.0, 0.0);
                let grid = TimeGrid::uniform(0.0, 0.1, 10).unwrap();
                let cfg = RunConfig {
                    threads: Some(1),
                    ..RunConfig::new(scheme, 1)
                };
                bch.iter(|| {
                    let mut ens = Ensemble::filled(b, &vec![0.5; d]).unwrap();
                    run(
                        &mut drift,
                        &Noise::Scalar(1.0),
                        &grid,
                        &mut ens,
                        &cfg,
                        &mut [],
                    )
                    .unwrap();
                    ens
                });
            });
        }
    }
    g.finish();
}

criterion_group!(benches, steps);
criterion_main!(benches);
