//! Small allocation-free dense kernels for `d x d` symmetric positive-definite matrices
//! (row-major slices). Used once per time step, never per particle.

/// In-place lower Cholesky factor `A = L L^T` of a symmetric matrix (row-major `d x d`; only the
/// lower triangle is read, the strict upper triangle is zeroed). On failure returns the pivot index
/// and the non-positive (or non-finite) pivot value.
pub(crate) fn cholesky_in_place(a: &mut [f64], d: usize) -> Result<(), (usize, f64)> {
    for j in 0..d {
        let mut s = a[j * d + j];
        for k in 0..j {
            s -= a[j * d + k] * a[j * d + k];
        }
        if !(s > 0.0 && s.is_finite()) {
            return Err((j, s));
        }
        let ljj = s.sqrt();
        a[j * d + j] = ljj;
        for i in j + 1..d {
            let mut s = a[i * d + j];
            for k in 0..j {
                s -= a[i * d + k] * a[j * d + k];
            }
            a[i * d + j] = s / ljj;
        }
        for k in j + 1..d {
            a[j * d + k] = 0.0;
        }
    }
    Ok(())
}

/// `log det A = 2 sum log L_jj` from a Cholesky factor.
pub(crate) fn chol_log_det(l: &[f64], d: usize) -> f64 {
    (0..d).map(|j| l[j * d + j].ln()).sum::<f64>() * 2.0
}

/// `A^{-1}` (row-major, symmetric, into `inv`) from the Cholesky factor `l` of `A`, using `tmp`
/// (`d x d`) for `L^{-1}`.
pub(crate) fn chol_inverse(l: &[f64], d: usize, tmp: &mut [f64], inv: &mut [f64]) {
    // tmp = L^{-1} (lower triangular), column by column of the identity
    tmp.iter_mut().for_each(|x| *x = 0.0);
    for c in 0..d {
        for i in c..d {
            let mut s = if i == c { 1.0 } else { 0.0 };
            for k in c..i {
                s -= l[i * d + k] * tmp[k * d + c];
            }
            tmp[i * d + c] = s / l[i * d + i];
        }
    }
    // inv = L^{-T} L^{-1}: inv_ij = sum_{k >= max(i,j)} tmp_ki tmp_kj
    for i in 0..d {
        for j in 0..=i {
            let mut s = 0.0;
            for k in i..d {
                s += tmp[k * d + i] * tmp[k * d + j];
            }
            inv[i * d + j] = s;
            inv[j * d + i] = s;
        }
    }
}

/// Solve `L y = b` in place (forward substitution).
pub(crate) fn solve_lower_in_place(l: &[f64], d: usize, b: &mut [f64]) {
    for i in 0..d {
        let mut s = b[i];
        for k in 0..i {
            s -= l[i * d + k] * b[k];
        }
        b[i] = s / l[i * d + i];
    }
}

/// `v = P x` for symmetric `P` (row-major), as a sum of rows (vectorises without reassociation).
#[inline]
pub(crate) fn sym_matvec(p: &[f64], d: usize, x: &[f64], v: &mut [f64]) {
    v.iter_mut().for_each(|e| *e = 0.0);
    for (j, &xj) in x.iter().enumerate() {
        let row = &p[j * d..(j + 1) * d];
        for (vi, &pi) in v.iter_mut().zip(row) {
            *vi += xj * pi;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cholesky_inverse_and_logdet_agree_with_nalgebra() {
        let d = 5;
        // A = B B^T + I
        let b: Vec<f64> = (0..d * d)
            .map(|i| ((i * 37 % 11) as f64 - 5.0) / 7.0)
            .collect();
        let mut a = vec![0.0; d * d];
        for i in 0..d {
            for j in 0..d {
                a[i * d + j] = (0..d).map(|k| b[i * d + k] * b[j * d + k]).sum::<f64>()
                    + if i == j { 1.0 } else { 0.0 };
            }
        }
        let na = nalgebra::DMatrix::from_row_slice(d, d, &a);
        let mut l = a.clone();
        cholesky_in_place(&mut l, d).unwrap();
        let nchol = na.clone().cholesky().unwrap();
        let nl = nchol.l();
        for i in 0..d {
            for j in 0..d {
                assert!((l[i * d + j] - nl[(i, j)]).abs() < 1e-12);
            }
        }
        let ld = chol_log_det(&l, d);
        assert!((ld - na.determinant().ln()).abs() < 1e-12);
        let mut tmp = vec![0.0; d * d];
        let mut inv = vec![0.0; d * d];
        chol_inverse(&l, d, &mut tmp, &mut inv);
        let ninv = na.try_inverse().unwrap();
        for i in 0..d {
            for j in 0..d {
                assert!((inv[i * d + j] - ninv[(i, j)]).abs() < 1e-12);
            }
        }
        let x: Vec<f64> = (0..d).map(|i| i as f64 - 1.5).collect();
        let mut v = vec![0.0; d];
        sym_matvec(&inv, d, &x, &mut v);
        let nv = &ninv * nalgebra::DVector::from_vec(x.clone());
        for i in 0..d {
            assert!((v[i] - nv[i]).abs() < 1e-12);
        }
        let mut y = x.clone();
        solve_lower_in_place(&l, d, &mut y);
        let ny = nl
            .solve_lower_triangular(&nalgebra::DVector::from_vec(x))
            .unwrap();
        for i in 0..d {
            assert!((y[i] - ny[i]).abs() < 1e-12);
        }
    }

    #[test]
    fn cholesky_rejects_indefinite() {
        let mut a = vec![1.0, 2.0, 2.0, 1.0];
        assert_eq!(cholesky_in_place(&mut a, 2).unwrap_err().0, 1);
    }
}
