//! NumPy in and out. Inputs: a float64, C-contiguous ndarray is read in place (zero-copy); Python
//! lists, tuples and scalars are converted by `numpy.asarray(x, dtype=float64)`; any other ndarray
//! (wrong dtype, non-contiguous) is refused with an error naming the argument, so no silent copy or
//! cast happens. Outputs: Rust vectors are handed to NumPy without copying.

use numpy::ndarray::{Array2, Array3};
use numpy::prelude::*;
use numpy::{PyArray1, PyArrayDyn, PyUntypedArray};
use pyo3::prelude::*;

use crate::errors::{raise, Kind};

/// A checked float64 array: row-major data and shape.
pub struct F64Array {
    /// Row-major values.
    pub data: Vec<f64>,
    /// Shape.
    pub shape: Vec<usize>,
}

fn shape_str(s: &[usize]) -> String {
    match s.len() {
        1 => format!("({},)", s[0]),
        _ => format!(
            "({})",
            s.iter()
                .map(|x| x.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// Read `obj` (argument `arg`) as a finite float64 array with `ndim` dimensions; `layout` names
/// the expected shape in errors (e.g. `"(K, d)"`).
pub fn read(
    obj: &Bound<'_, PyAny>,
    arg: &str,
    ndim: Option<usize>,
    layout: &str,
) -> PyResult<F64Array> {
    let py = obj.py();
    let owned;
    let arr: &Bound<'_, PyUntypedArray> = match obj.cast::<PyUntypedArray>() {
        Ok(a) => a,
        Err(_) => {
            let np = py.import("numpy")?;
            let f64_ = np.getattr("float64")?;
            let conv = np.getattr("asarray")?.call1((obj, f64_)).map_err(|e| {
                raise(
                    Kind::DType,
                    Some(arg),
                    format!("cannot be read as a float64 array of shape {layout}: {e}"),
                )
            })?;
            owned = conv.cast_into::<PyUntypedArray>().map_err(|_| {
                raise(
                    Kind::DType,
                    Some(arg),
                    "numpy.asarray did not give an array",
                )
            })?;
            &owned
        }
    };
    let dt = arr.dtype();
    if !dt.is_equiv_to(&numpy::dtype::<f64>(py)) {
        return Err(raise(
            Kind::DType,
            Some(arg),
            format!(
                "expected a float64 array, got dtype {}; convert with numpy.asarray({arg}, dtype=numpy.float64)",
                dt.str().map(|s| s.to_string()).unwrap_or_else(|_| "?".into())
            ),
        ));
    }
    if !arr.is_c_contiguous() {
        return Err(raise(
            Kind::Layout,
            Some(arg),
            format!(
                "array of shape {} is not C-contiguous; pass numpy.ascontiguousarray({arg})",
                shape_str(arr.shape())
            ),
        ));
    }
    if let Some(ndim) = ndim.filter(|&n| n != arr.ndim()) {
        return Err(raise(
            Kind::Shape,
            Some(arg),
            format!(
                "expected a {ndim}-D array of shape {layout}, got shape {}",
                shape_str(arr.shape())
            ),
        ));
    }
    let typed = arr
        .cast::<PyArrayDyn<f64>>()
        .map_err(|_| raise(Kind::DType, Some(arg), "expected a float64 array"))?;
    let ro = typed.readonly();
    let data = ro
        .as_slice()
        .map_err(|e| raise(Kind::Layout, Some(arg), e))?
        .to_vec();
    let shape = arr.shape().to_vec();
    if let Some(i) = data.iter().position(|x| !x.is_finite()) {
        let mut idx = Vec::with_capacity(shape.len());
        let mut rem = i;
        for k in (0..shape.len()).rev() {
            idx.push(rem % shape[k]);
            rem /= shape[k];
        }
        idx.reverse();
        let at = idx
            .iter()
            .map(|x| x.to_string())
            .collect::<Vec<_>>()
            .join(", ");
        return Err(raise(
            Kind::NonFinite,
            Some(arg),
            format!("{arg}[{at}] = {} is not finite", data[i]),
        ));
    }
    Ok(F64Array { data, shape })
}

/// A float64 array of any dimension.
pub fn read_any(obj: &Bound<'_, PyAny>, arg: &str) -> PyResult<F64Array> {
    read(obj, arg, None, "any")
}

/// A 1-D float64 array of any length.
pub fn vector(obj: &Bound<'_, PyAny>, arg: &str) -> PyResult<Vec<f64>> {
    Ok(read(obj, arg, Some(1), "(n,)")?.data)
}

/// A 1-D float64 array of length `n`.
pub fn vector_len(obj: &Bound<'_, PyAny>, arg: &str, n: usize, what: &str) -> PyResult<Vec<f64>> {
    let v = read(obj, arg, Some(1), &format!("({n},)"))?.data;
    if v.len() != n {
        return Err(raise(
            Kind::Shape,
            Some(arg),
            format!("expected shape ({n},) ({what}), got ({},)", v.len()),
        ));
    }
    Ok(v)
}

/// A 2-D float64 array: `(data, rows, cols)`.
pub fn matrix(
    obj: &Bound<'_, PyAny>,
    arg: &str,
    layout: &str,
) -> PyResult<(Vec<f64>, usize, usize)> {
    let a = read(obj, arg, Some(2), layout)?;
    Ok((a.data, a.shape[0], a.shape[1]))
}

/// A 3-D float64 array.
pub fn tensor3(obj: &Bound<'_, PyAny>, arg: &str, layout: &str) -> PyResult<F64Array> {
    read(obj, arg, Some(3), layout)
}

/// A size argument that must be `>= min`.
pub fn size(v: i64, arg: &str, min: i64) -> PyResult<usize> {
    if v < min {
        return Err(raise(
            Kind::Invalid,
            Some(arg),
            format!("must be >= {min}, got {v}"),
        ));
    }
    usize::try_from(v).map_err(|_| raise(Kind::Invalid, Some(arg), format!("{v} is too large")))
}

/// A finite float argument (with optional bounds checked by the caller).
pub fn finite(v: f64, arg: &str) -> PyResult<f64> {
    if v.is_finite() {
        Ok(v)
    } else {
        Err(raise(
            Kind::NonFinite,
            Some(arg),
            format!("{v} is not finite"),
        ))
    }
}

/// The `threads=` keyword: `None` (rayon's pool) or `>= 1`.
pub fn threads(v: Option<i64>) -> PyResult<Option<usize>> {
    v.map(|n| size(n, "threads", 1)).transpose()
}

/// A seed: any non-negative integer below 2^64.
pub fn seed(v: &Bound<'_, PyAny>) -> PyResult<u64> {
    v.extract::<u64>().map_err(|_| {
        raise(
            Kind::Invalid,
            Some("seed"),
            format!("must be an integer in [0, 2**64), got {v}"),
        )
    })
}

/// A NumPy vector owning `v` (no copy).
pub fn out1(py: Python<'_>, v: Vec<f64>) -> Bound<'_, PyAny> {
    PyArray1::from_vec(py, v).into_any()
}

/// A NumPy `(rows, cols)` matrix owning `v` (no copy). `v.len()` must be `rows * cols`.
pub fn out2(py: Python<'_>, v: Vec<f64>, rows: usize, cols: usize) -> PyResult<Bound<'_, PyAny>> {
    let a = Array2::from_shape_vec((rows, cols), v)
        .map_err(|e| crate::errors::solver(format!("internal shape error: {e}")))?;
    Ok(a.into_pyarray(py).into_any())
}

/// A NumPy `(a, b, c)` array owning `v` (no copy).
pub fn out3(
    py: Python<'_>,
    v: Vec<f64>,
    a: usize,
    b: usize,
    c: usize,
) -> PyResult<Bound<'_, PyAny>> {
    let arr = Array3::from_shape_vec((a, b, c), v)
        .map_err(|e| crate::errors::solver(format!("internal shape error: {e}")))?;
    Ok(arr.into_pyarray(py).into_any())
}
