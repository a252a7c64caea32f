//! Dense symmetric linear algebra in `f64` (row-major `f x f` matrices): product and the cyclic
//! Jacobi eigen-decomposition, used by the PCA fit and the Fréchet distance.

/// `C = A B` for row-major `f x f` matrices.
pub fn matmul(a: &[f64], b: &[f64], f: usize) -> Vec<f64> {
    let mut c = vec![0.0; f * f];
    for i in 0..f {
        for k in 0..f {
            let aik = a[i * f + k];
            for j in 0..f {
                c[i * f + j] += aik * b[k * f + j];
            }
        }
    }
    c
}

/// Eigen-decomposition of a symmetric `f x f` matrix by cyclic Jacobi rotations:
/// returns eigenvalues and eigenvectors (column `k` of the row-major matrix is vector `k`).
pub fn sym_eigen(s: &[f64], f: usize) -> (Vec<f64>, Vec<f64>) {
    let mut a = s.to_vec();
    let mut v = vec![0.0; f * f];
    (0..f).for_each(|i| v[i * f + i] = 1.0);
    for _sweep in 0..100 {
        let off: f64 = (0..f)
            .flat_map(|i| (0..f).filter(move |&j| j != i).map(move |j| (i, j)))
            .map(|(i, j)| a[i * f + j].powi(2))
            .sum();
        let scale: f64 = (0..f)
            .map(|i| a[i * f + i].powi(2))
            .sum::<f64>()
            .max(1e-300);
        if off <= 1e-24 * scale {
            break;
        }
        for p in 0..f {
            for q in p + 1..f {
                let apq = a[p * f + q];
                if apq.abs() < 1e-300 {
                    continue;
                }
                let theta = (a[q * f + q] - a[p * f + p]) / (2.0 * apq);
                let t = theta.signum() / (theta.abs() + (theta * theta + 1.0).sqrt());
                let t = if theta == 0.0 { 1.0 } else { t };
                let c = 1.0 / (t * t + 1.0).sqrt();
                let sn = t * c;
                for k in 0..f {
                    let (akp, akq) = (a[k * f + p], a[k * f + q]);
                    a[k * f + p] = c * akp - sn * akq;
                    a[k * f + q] = sn * akp + c * akq;
                }
                for k in 0..f {
                    let (apk, aqk) = (a[p * f + k], a[q * f + k]);
                    a[p * f + k] = c * apk - sn * aqk;
                    a[q * f + k] = sn * apk + c * aqk;
                }
                for k in 0..f {
                    let (vkp, vkq) = (v[k * f + p], v[k * f + q]);
                    v[k * f + p] = c * vkp - sn * vkq;
                    v[k * f + q] = sn * vkp + c * vkq;
                }
            }
        }
    }
    ((0..f).map(|i| a[i * f + i]).collect(), v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jacobi_eigen_decomposes_a_symmetric_matrix() {
        let s = [4.0, 1.0, 0.5, 1.0, 3.0, 0.2, 0.5, 0.2, 2.0];
        let (e, v) = sym_eigen(&s, 3);
        for k in 0..3 {
            for i in 0..3 {
                let av: f64 = (0..3).map(|j| s[i * 3 + j] * v[j * 3 + k]).sum();
                assert!((av - e[k] * v[i * 3 + k]).abs() < 1e-10);
            }
        }
        assert!((e.iter().sum::<f64>() - 9.0).abs() < 1e-12);
    }
}
