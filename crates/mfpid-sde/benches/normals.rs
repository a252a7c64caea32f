//! Criterion bench of the standard-normal generators: ns per normal (`Throughput::Elements`) for
//! the candidate (uniform generator, normal transform) pairs of the README's "Generator" section.
//! Every candidate draws 4096 normals of one block stream per iteration, single-threaded.
//!
//! On 64-bit Linux the reported time is the bench thread's CPU time (`CLOCK_THREAD_CPUTIME_ID`), not
//! wall time, so that a machine shared with other jobs does not bill their time slices to the
//! candidate; elsewhere it is wall time.
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use mfpid_sde::rng::{
    self, aes_key, normal, philox_key, AesPath, BlockNormals, Generator, Path, PhiloxStream,
    Transform,
};
use rand::Rng;
use rand_core::RngCore;
use rand_distr::StandardNormal;
use statrs::distribution::{ContinuousCDF, Normal};
use std::hint::black_box;
use std::time::{Duration, Instant};

const N: usize = 4096;
const SEED: u64 = 1;
const DOMAIN: u64 = rng::DOMAIN_INCREMENTS;

/// `(0, 1)` uniform from the top 53 bits, never 0.
fn open01(w: u64) -> f64 {
    ((w >> 11) as f64 + 0.5) * 2f64.powi(-53)
}

/// Marsaglia's polar method: accept `(v1, v2)` in the unit disc, `z = v sqrt(-2 ln s / s)`.
fn polar_fill(r: &mut PhiloxStream, out: &mut [f64]) {
    for pair in out.chunks_exact_mut(2) {
        loop {
            let v1 = 2.0 * open01(r.next_u64()) - 1.0;
            let v2 = 2.0 * open01(r.next_u64()) - 1.0;
            let s = v1 * v1 + v2 * v2;
            if s < 1.0 && s > 0.0 {
                let f = (-2.0 * s.ln() / s).sqrt();
                (pair[0], pair[1]) = (v1 * f, v2 * f);
                break;
            }
        }
    }
}

/// Box-Muller (this crate's vectorised transform) on ChaCha8 words from `rand_chacha`.
#[inline(always)]
fn chacha_bm_generic(r: &mut rand_chacha::ChaCha8Rng, words: &mut [u64], out: &mut [f64]) {
    r.fill(words);
    for (o, w) in out.chunks_exact_mut(2).zip(words.chunks_exact(2)) {
        (o[0], o[1]) = normal::box_muller_bits(w[0], w[1]);
    }
}

#[target_feature(enable = "avx512f,avx512dq,avx512vl,avx2")]
fn chacha_bm_avx512(r: &mut rand_chacha::ChaCha8Rng, words: &mut [u64], out: &mut [f64]) {
    chacha_bm_generic(r, words, out)
}

/// CPU time of the calling thread in ns (`clock_gettime(CLOCK_THREAD_CPUTIME_ID)`).
#[cfg(all(target_os = "linux", target_pointer_width = "64"))]
fn thread_cpu_ns() -> Option<u64> {
    #[repr(C)]
    struct Timespec {
        sec: i64,
        nsec: i64,
    }
    extern "C" {
        fn clock_gettime(clock: i32, ts: *mut Timespec) -> i32;
    }
    const CLOCK_THREAD_CPUTIME_ID: i32 = 3;
    let mut ts = Timespec { sec: 0, nsec: 0 };
    // SAFETY: `ts` is a valid, writable timespec of the platform's layout (64-bit Linux).
    let rc = unsafe { clock_gettime(CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    (rc == 0).then(|| ts.sec as u64 * 1_000_000_000 + ts.nsec as u64)
}

#[cfg(not(all(target_os = "linux", target_pointer_width = "64")))]
fn thread_cpu_ns() -> Option<u64> {
    None
}

/// `iters` calls of `f`, timed by thread CPU time when available, else by wall time.
fn timed(iters: u64, mut f: impl FnMut()) -> Duration {
    let (c0, w0) = (thread_cpu_ns(), Instant::now());
    for _ in 0..iters {
        f();
    }
    match (c0, thread_cpu_ns()) {
        (Some(a), Some(b)) => Duration::from_nanos(b - a),
        _ => w0.elapsed(),
    }
}

fn normals(c: &mut Criterion) {
    let mut g = c.benchmark_group("normals_4096");
    g.measurement_time(Duration::from_secs(2))
        .warm_up_time(Duration::from_millis(500))
        .sample_size(20)
        .throughput(Throughput::Elements(N as u64));
    let mut out = vec![0.0f64; N];
    let key = philox_key(SEED, DOMAIN);

    g.bench_function("chacha8_ziggurat", |b| {
        let mut r = rng::stream(SEED, DOMAIN, 0);
        b.iter_custom(|it| {
            timed(it, || {
                for z in out.iter_mut() {
                    *z = r.sample(StandardNormal);
                }
                black_box(&out);
            })
        })
    });
    g.bench_function("philox_ziggurat", |b| {
        let mut r = PhiloxStream::new(key, 0);
        b.iter_custom(|it| {
            timed(it, || {
                for z in out.iter_mut() {
                    *z = r.sample(StandardNormal);
                }
                black_box(&out);
            })
        })
    });
    g.bench_function("philox_polar", |b| {
        let mut r = PhiloxStream::new(key, 0);
        b.iter_custom(|it| {
            timed(it, || {
                polar_fill(&mut r, &mut out);
                black_box(&out);
            })
        })
    });
    g.bench_function("philox_inverse_cdf_statrs", |b| {
        let mut r = PhiloxStream::new(key, 0);
        let std_normal = Normal::standard();
        b.iter_custom(|it| {
            timed(it, || {
                for z in out.iter_mut() {
                    *z = std_normal.inverse_cdf(open01(r.next_u64()));
                }
                black_box(&out);
            })
        })
    });
    if Path::Avx512.available() {
        g.bench_function("chacha8_box_muller_avx512", |b| {
            let mut r = rng::stream(SEED, DOMAIN, 0);
            let mut words = vec![0u64; N];
            // SAFETY: the features were detected above.
            b.iter_custom(|it| {
                timed(it, || unsafe {
                    chacha_bm_avx512(&mut r, &mut words, &mut out);
                    black_box(&out);
                })
            })
        });
    }
    for (t, path) in [Transform::BoxMuller, Transform::Ziggurat]
        .into_iter()
        .flat_map(|t| [Path::Scalar, Path::Avx2, Path::Avx512].map(|p| (t, p)))
    {
        if !path.available() {
            continue;
        }
        g.bench_with_input(
            BenchmarkId::new(format!("philox_{t:?}_fill"), format!("{path:?}")),
            &path,
            |b, &path| {
                let mut r = BlockNormals::with(SEED, DOMAIN, 0, Generator::Philox(t), path);
                b.iter_custom(|it| {
                    timed(it, || {
                        r.fill(&mut out);
                        black_box(&out);
                    })
                })
            },
        );
    }
    for (gen, path) in [Generator::AesZiggurat, Generator::AesBoxMuller]
        .into_iter()
        .flat_map(|gen| [Path::Scalar, Path::Avx2].map(|p| (gen, p)))
    {
        if !path.available() {
            continue;
        }
        g.bench_with_input(
            BenchmarkId::new(format!("{gen:?}_fill"), format!("{path:?}")),
            &path,
            |b, &path| {
                let mut r = BlockNormals::with(SEED, DOMAIN, 0, gen, path);
                b.iter_custom(|it| {
                    timed(it, || {
                        r.fill(&mut out);
                        black_box(&out);
                    })
                })
            },
        );
    }
    for path in [AesPath::Soft, AesPath::AesNi, AesPath::Vaes] {
        if !path.available() {
            continue;
        }
        // the AES words alone, as doubles in [1, 2) (the generator's share of a normal)
        g.bench_with_input(
            BenchmarkId::new("aes_words_only", format!("{path:?}")),
            &path,
            |b, &path| {
                let rk = aes_key(SEED, DOMAIN);
                let mut words = vec![0u64; N];
                let mut n = 0u64;
                b.iter_custom(|it| {
                    timed(it, || {
                        path.fill(&rk, 0, n, &mut words);
                        n += (N / 2) as u64;
                        for (z, w) in out.iter_mut().zip(&words) {
                            *z = f64::from_bits(0x3FF0_0000_0000_0000 | (w >> 12));
                        }
                        black_box(&out);
                    })
                })
            },
        );
    }
    g.bench_function("aes_Ziggurat_next", |b| {
        let mut r = BlockNormals::new(SEED, DOMAIN, 0);
        b.iter_custom(|it| {
            timed(it, || {
                for z in out.iter_mut() {
                    *z = r.next();
                }
                black_box(&out);
            })
        })
    });
    g.bench_function("philox_BoxMuller_next", |b| {
        let mut r = BlockNormals::with(
            SEED,
            DOMAIN,
            0,
            Generator::Philox(Transform::BoxMuller),
            Path::detect(),
        );
        b.iter_custom(|it| {
            timed(it, || {
                for z in out.iter_mut() {
                    *z = r.next();
                }
                black_box(&out);
            })
        })
    });
    g.finish();
}

criterion_group!(benches, normals);
criterion_main!(benches);
