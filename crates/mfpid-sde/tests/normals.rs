//! Distribution tests of the block normals (`rng::BlockNormals`): moments, tail probabilities and
//! the Kolmogorov-Smirnov distance to the standard normal, at 10^6 draws in the regular suite and at
//! 10^8 draws in the ignored `*_1e8` tests (`cargo test -p mfpid-sde --release --test normals --
//! --ignored`). Thresholds are 5 standard errors (moments, tails) and the KS critical value at level
//! 0.001 (`sqrt(N) D < 1.95`), so a correct generator fails with probability about 10^-5 per check.
use mfpid_sde::rng::{BlockNormals, Generator, Path, Transform, DOMAIN_INCREMENTS};
use statrs::function::erf::erfc;

/// Equiprobable cells of `u = Phi(z)` for the KS statistic: `D` on this grid is within
/// `2^-20 ~ 1e-6` of the exact `D`, far below the critical `1.95 / sqrt(N)`.
const KS_CELLS: usize = 1 << 20;

/// Standard normal CDF.
fn phi(z: f64) -> f64 {
    0.5 * erfc(-z / std::f64::consts::SQRT_2)
}

struct Summary {
    n: f64,
    /// sums of z, z^2, z^3, z^4
    s: [f64; 4],
    /// counts of |z| > 3, 4, 5
    tails: [u64; 3],
    cells: Vec<u32>,
}

/// `blocks` block streams under one seed, `per_block` normals each, read in slices of 1000 (the
/// runner's pattern: a block's draws for one step at a time).
fn summarise(t: Generator, blocks: u64, per_block: usize) -> Summary {
    let mut sum = Summary {
        n: 0.0,
        s: [0.0; 4],
        tails: [0; 3],
        cells: vec![0; KS_CELLS],
    };
    let mut buf = vec![0.0; 1000];
    for k in 0..blocks {
        let mut g = BlockNormals::with(2024, DOMAIN_INCREMENTS, k, t, Path::detect());
        let mut left = per_block;
        while left > 0 {
            let m = left.min(buf.len());
            g.fill(&mut buf[..m]);
            for &z in &buf[..m] {
                let z2 = z * z;
                sum.s[0] += z;
                sum.s[1] += z2;
                sum.s[2] += z2 * z;
                sum.s[3] += z2 * z2;
                for (c, lim) in sum.tails.iter_mut().zip([3.0, 4.0, 5.0]) {
                    *c += u64::from(z.abs() > lim);
                }
                let cell = ((phi(z) * KS_CELLS as f64) as usize).min(KS_CELLS - 1);
                sum.cells[cell] += 1;
            }
            left -= m;
        }
    }
    sum.n = (blocks as usize * per_block) as f64;
    sum
}

/// Assert moments, tails and KS; returns a one-line report.
fn check(t: Generator, blocks: u64, per_block: usize) -> String {
    let r = summarise(t, blocks, per_block);
    let n = r.n;
    let [m1, m2, m3, m4] = r.s.map(|s| s / n);
    // central moments of the sample; the population mean is 0
    let var = m2 - m1 * m1;
    let skew = (m3 - 3.0 * m1 * m2 + 2.0 * m1.powi(3)) / var.powf(1.5);
    let kurt = (m4 - 4.0 * m1 * m3 + 6.0 * m1 * m1 * m2 - 3.0 * m1.powi(4)) / (var * var) - 3.0;
    // standard errors under N(0, 1): mean 1/sqrt n, variance sqrt(2/n), skewness sqrt(6/n),
    // excess kurtosis sqrt(24/n)
    let z_scores = [
        ("mean", m1 * n.sqrt()),
        ("variance", (var - 1.0) / (2.0 / n).sqrt()),
        ("skewness", skew / (6.0 / n).sqrt()),
        ("excess kurtosis", kurt / (24.0 / n).sqrt()),
    ];
    for (what, zs) in z_scores {
        assert!(
            zs.abs() < 5.0,
            "{t:?}: {what} is {zs:.2} standard errors from N(0,1)"
        );
    }
    // tails: P(|Z| > a) = erfc(a / sqrt 2); binomial counts within 5 standard deviations
    let mut tail_report = String::new();
    for (&count, a) in r.tails.iter().zip([3.0f64, 4.0, 5.0]) {
        let p = erfc(a / std::f64::consts::SQRT_2);
        let sd = (n * p * (1.0 - p)).sqrt();
        let dev = (count as f64 - n * p) / sd;
        assert!(
            dev.abs() < 5.0,
            "{t:?}: P(|z| > {a}) count {count} vs {:.1} ({dev:.2} sd)",
            n * p
        );
        tail_report += &format!(
            " P(|z|>{a}) {:.3e} (exact {p:.3e}, {dev:+.2} sd);",
            count as f64 / n
        );
    }
    // Kolmogorov-Smirnov on the Phi grid
    let (mut cum, mut d) = (0u64, 0.0f64);
    for (i, &c) in r.cells.iter().enumerate() {
        cum += u64::from(c);
        d = d.max((cum as f64 / n - (i + 1) as f64 / KS_CELLS as f64).abs());
    }
    let ks = n.sqrt() * d;
    assert!(
        ks < 1.95,
        "{t:?}: Kolmogorov-Smirnov sqrt(N) D = {ks:.3} (critical 1.95 at 0.001)"
    );
    format!(
        "{t:?} N = {n:.0e}: mean {:+.2} se, var {:+.2} se, skew {:+.2} se, ex.kurt {:+.2} se;{tail_report} KS sqrt(N) D = {ks:.3}",
        z_scores[0].1, z_scores[1].1, z_scores[2].1, z_scores[3].1
    )
}

const PHILOX_BOX_MULLER: Generator = Generator::Philox(Transform::BoxMuller);
const PHILOX_ZIGGURAT: Generator = Generator::Philox(Transform::Ziggurat);

#[test]
fn box_muller_normals_1e6() {
    eprintln!("{}", check(PHILOX_BOX_MULLER, 100, 10_000));
}

#[test]
fn ziggurat_normals_1e6() {
    eprintln!("{}", check(PHILOX_ZIGGURAT, 100, 10_000));
}

#[test]
fn aes_ziggurat_normals_1e6() {
    eprintln!("{}", check(Generator::AesZiggurat, 100, 10_000));
}

#[test]
fn aes_box_muller_normals_1e6() {
    eprintln!("{}", check(Generator::AesBoxMuller, 100, 10_000));
}

#[test]
#[ignore = "10^8 draws: run once with --release --ignored (result in the README)"]
fn box_muller_normals_1e8() {
    eprintln!("{}", check(PHILOX_BOX_MULLER, 1000, 100_000));
}

#[test]
#[ignore = "10^8 draws: run once with --release --ignored (result in the README)"]
fn ziggurat_normals_1e8() {
    eprintln!("{}", check(PHILOX_ZIGGURAT, 1000, 100_000));
}

#[test]
#[ignore = "10^8 draws: run once with --release --ignored (result in the README)"]
fn aes_ziggurat_normals_1e8() {
    eprintln!("{}", check(Generator::AesZiggurat, 1000, 100_000));
}
