//! Time per Fokker-Planck step: 1-D nx = 1e3, 1e4, 1e5 (Crank-Nicolson, OU drift tabulated at
//! the faces) and 2-D 256^2, 1024^2 (Strang splitting with Crank-Nicolson sweeps).
//! Run: `cargo bench -p mfpid-pde --bench fp_step`.

use std::time::Duration;

use criterion::{black_box, criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use mfpid_pde::{potential_faces, FaceTable, FokkerPlanck1d, FpConfig, Grid1d, Grid2d};
use mfpid_pde::{FaceField2d, FokkerPlanck2d, FpConfig2d};

fn one_d(c: &mut Criterion) {
    let mut group = c.benchmark_group("fp1d_step_cn");
    group
        .sample_size(20)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(2));
    for nx in [1_000usize, 10_000, 100_000] {
        let grid = Grid1d::new(-8.0, 8.0, nx).unwrap();
        let table = FaceTable::constant(potential_faces(&grid, |x| 0.5 * x * x)).unwrap();
        let mut fp = FokkerPlanck1d::new(grid, FpConfig::default()).unwrap();
        let mut p = grid.sample(|x| (-(x - 1.0) * (x - 1.0)).exp());
        group.throughput(Throughput::Elements(nx as u64));
        group.bench_with_input(BenchmarkId::from_parameter(nx), &nx, |b, _| {
            b.iter(|| fp.step(black_box(&mut p), 0.0, 1e-3, &table).unwrap())
        });
    }
    group.finish();
}

fn two_d(c: &mut Criterion) {
    let mut group = c.benchmark_group("fp2d_step_strang_cn");
    group
        .sample_size(10)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(3));
    for n in [256usize, 1024] {
        let grid = Grid2d::square(-6.0, 6.0, n).unwrap();
        let field = FaceField2d::from_potential(&grid, |x, y| 0.5 * (x * x + y * y)).unwrap();
        let mut fp = FokkerPlanck2d::new(grid, FpConfig2d::default()).unwrap();
        let mut p = grid.sample(|x, y| (-(x - 1.0).powi(2) - y * y).exp());
        group.throughput(Throughput::Elements((n * n) as u64));
        group.bench_with_input(BenchmarkId::from_parameter(n * n), &n, |b, _| {
            b.iter(|| fp.step(black_box(&mut p), 0.0, 1e-3, &field).unwrap())
        });
    }
    group.finish();
}

criterion_group!(benches, one_d, two_d);
criterion_main!(benches);
