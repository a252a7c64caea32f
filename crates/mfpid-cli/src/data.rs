//! Data files: point clouds in (CSV or NPY) and tables and arrays out (CSV, JSON, NPY).
//!
//! Arrays are `f64`, row-major (`n x d`); NPY files are written little-endian `<f8`, C order, so
//! `numpy.load` returns an array of shape `(n, d)` and dtype `float64`.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

use npyz::WriterBuilder;

use crate::error::{AppError, Result};

/// A row-major matrix of points read from a file.
#[derive(Debug, Clone, PartialEq)]
pub struct Points {
    /// Rows.
    pub n: usize,
    /// Columns (the dimension `d`).
    pub d: usize,
    /// Values, row-major `n x d`.
    pub values: Vec<f64>,
}

fn data_err(path: &Path, msg: impl std::fmt::Display) -> AppError {
    AppError::Data(format!("{}: {msg}", path.display()))
}

/// Read points from `path`: `.npy` (1-D `(n,)` or 2-D `(n, d)`, float64 / float32 / integer) or
/// anything else as CSV (comma-separated numbers, an optional header row of names, `#` comments).
/// Every value must be finite; an error names the file, line and column (CSV) or element (NPY).
pub fn read_points(path: &Path) -> Result<Points> {
    if !path.exists() {
        return Err(AppError::Io {
            what: "cannot read data file",
            path: path.to_path_buf(),
            source: std::io::Error::new(std::io::ErrorKind::NotFound, "no such file"),
        });
    }
    let is_npy = path
        .extension()
        .map(|e| e.eq_ignore_ascii_case("npy"))
        .unwrap_or(false);
    let p = if is_npy {
        read_npy(path)?
    } else {
        read_csv(path)?
    };
    if p.n == 0 {
        return Err(data_err(path, "contains no data rows"));
    }
    // an NPY array of shape (n, 0) has rows without coordinates (found by the data_npy fuzz target)
    if p.d == 0 {
        return Err(data_err(
            path,
            format!(
                "{} rows with no coordinates (d = 0): a point needs d >= 1",
                p.n
            ),
        ));
    }
    Ok(p)
}

fn read_csv(path: &Path) -> Result<Points> {
    let mut rdr = csv::ReaderBuilder::new()
        .has_headers(false)
        .comment(Some(b'#'))
        .trim(csv::Trim::All)
        .flexible(true)
        .from_path(path)
        .map_err(|e| AppError::Data(format!("cannot read data file {}: {e}", path.display())))?;
    let mut values = Vec::new();
    let mut d = 0usize;
    let mut n = 0usize;
    let mut first = true;
    let mut record = csv::StringRecord::new();
    loop {
        let more = rdr.read_record(&mut record).map_err(|e| {
            let line = e.position().map(|p| p.line()).unwrap_or(0);
            data_err(path, format!("line {line}: {e}"))
        })?;
        if !more {
            break;
        }
        let line = record.position().map(|p| p.line()).unwrap_or(0);
        if record.iter().all(|f| f.is_empty()) {
            continue;
        }
        let parsed: Vec<std::result::Result<f64, usize>> = record
            .iter()
            .enumerate()
            .map(|(j, f)| f.parse::<f64>().map_err(|_| j))
            .collect();
        if first {
            first = false;
            if parsed.iter().all(|r| r.is_err()) {
                // a header row of names
                d = record.len();
                continue;
            }
        }
        if d == 0 {
            d = record.len();
        }
        if record.len() != d {
            return Err(data_err(
                path,
                format!(
                    "line {line}: {} fields, expected {d} like the rows above (dimension mismatch)",
                    record.len()
                ),
            ));
        }
        for (j, r) in parsed.into_iter().enumerate() {
            match r {
                Ok(v) if v.is_finite() => values.push(v),
                Ok(v) => {
                    return Err(data_err(
                        path,
                        format!("line {line}, column {}: value {v} is not finite (NaN and infinities are rejected)", j + 1),
                    ))
                }
                Err(_) => {
                    return Err(data_err(
                        path,
                        format!(
                            "line {line}, column {}: '{}' is not a number",
                            j + 1,
                            &record[j]
                        ),
                    ))
                }
            }
        }
        n += 1;
    }
    Ok(Points { n, d, values })
}

/// Deepest bracket nesting accepted in an NPY header: the dict and its shape tuple need 2, a
/// structured dtype (rejected later anyway) 4.
const NPY_MAX_NESTING: usize = 4;

/// Checks of the NPY header text before npyz parses it: its parser backtracks exponentially on
/// unclosed brackets (14 `{` took 280 s, found by the `data_npy` fuzz target), so deeper nesting
/// than [`NPY_MAX_NESTING`] is refused here. Files too short for a header are left to npyz.
fn check_npy_header(bytes: &[u8]) -> std::result::Result<(), String> {
    // magic "\x93NUMPY", major, minor, then the header length: u16 (version 1) or u32 (2, 3)
    let (len, start) = match bytes {
        [0x93, b'N', b'U', b'M', b'P', b'Y', 1, _, a, b, ..] => {
            (u16::from_le_bytes([*a, *b]) as usize, 10usize)
        }
        [0x93, b'N', b'U', b'M', b'P', b'Y', 2 | 3, _, a, b, c, d, ..] => {
            (u32::from_le_bytes([*a, *b, *c, *d]) as usize, 12usize)
        }
        _ => return Ok(()),
    };
    let header = &bytes[start..bytes.len().min(start.saturating_add(len))];
    let mut depth = 0usize;
    for &c in header {
        match c {
            b'{' | b'[' | b'(' => depth += 1,
            b'}' | b']' | b')' => depth = depth.saturating_sub(1),
            _ => {}
        }
        if depth > NPY_MAX_NESTING {
            return Err(format!(
                "its header nests brackets more than {NPY_MAX_NESTING} deep (a plain array's header needs 2)"
            ));
        }
    }
    Ok(())
}

fn read_npy(path: &Path) -> Result<Points> {
    let bytes = std::fs::read(path).map_err(|e| AppError::Io {
        what: "cannot read data file",
        path: path.to_path_buf(),
        source: e,
    })?;
    check_npy_header(&bytes).map_err(|e| data_err(path, format!("not a valid NPY file: {e}")))?;
    let npy = npyz::NpyFile::new(&bytes[..])
        .map_err(|e| data_err(path, format!("not a valid NPY file: {e}")))?;
    let shape: Vec<u64> = npy.shape().to_vec();
    let order = npy.order();
    let (n, d) = match shape.as_slice() {
        [n] => (*n as usize, 1),
        [n, d] => (*n as usize, *d as usize),
        other => {
            return Err(data_err(
                path,
                format!("array of shape {other:?}: expected (n,) or (n, d)"),
            ))
        }
    };
    let dtype = npy.dtype();
    let descr = dtype.descr();
    let mut values: Vec<f64> = match descr.as_str() {
        "'<f8'" | "'>f8'" => npy.into_vec::<f64>(),
        "'<f4'" | "'>f4'" => npy
            .into_vec::<f32>()
            .map(|v| v.into_iter().map(f64::from).collect()),
        "'<i8'" | "'>i8'" => npy
            .into_vec::<i64>()
            .map(|v| v.into_iter().map(|x| x as f64).collect()),
        "'<i4'" | "'>i4'" => npy
            .into_vec::<i32>()
            .map(|v| v.into_iter().map(f64::from).collect()),
        other => {
            return Err(data_err(
                path,
                format!("dtype {other} is not supported: use float64, float32, int64 or int32"),
            ))
        }
    }
    .map_err(|e| data_err(path, format!("cannot read the array data: {e}")))?;
    if order == npyz::Order::Fortran && d > 1 {
        let mut c = vec![0.0; n * d];
        for i in 0..n {
            for j in 0..d {
                c[i * d + j] = values[j * n + i];
            }
        }
        values = c;
    }
    if let Some(k) = values.iter().position(|v| !v.is_finite()) {
        return Err(data_err(
            path,
            format!(
                "element [{}, {}] is {} (NaN and infinities are rejected)",
                k / d.max(1),
                k % d.max(1),
                values[k]
            ),
        ));
    }
    Ok(Points { n, d, values })
}

/// Write `values` (row-major, `shape` = `[n, d]` or any C-order shape) as a little-endian float64
/// NPY file.
pub fn write_npy(path: &Path, shape: &[usize], values: &[f64]) -> Result<()> {
    let io = |e| AppError::Io {
        what: "cannot write",
        path: path.to_path_buf(),
        source: e,
    };
    let f = File::create(path).map_err(io)?;
    let shape: Vec<u64> = shape.iter().map(|&s| s as u64).collect();
    let mut w = npyz::WriteOptions::new()
        .dtype(npyz::DType::new_scalar(
            "<f8"
                .parse()
                .map_err(|e| AppError::Other(format!("NPY dtype: {e}")))?,
        ))
        .shape(&shape)
        .writer(BufWriter::new(f))
        .begin_nd()
        .map_err(io)?;
    w.extend(values.iter().copied()).map_err(io)?;
    w.finish().map_err(io)
}

pub use mfpid_report::table::{Cell, Table};

/// Write a JSON value, pretty-printed.
pub fn write_json(path: &Path, v: &serde_json::Value) -> Result<()> {
    let io = |e| AppError::Io {
        what: "cannot write",
        path: path.to_path_buf(),
        source: e,
    };
    let mut f = BufWriter::new(File::create(path).map_err(io)?);
    let text = serde_json::to_string_pretty(v).map_err(|e| AppError::Other(e.to_string()))?;
    f.write_all(text.as_bytes()).map_err(io)?;
    f.write_all(b"\n").map_err(io)?;
    f.flush().map_err(io)
}

/// Write a row-major point matrix as CSV with columns `x0 .. x{d-1}`.
pub fn write_points_csv(path: &Path, d: usize, values: &[f64]) -> Result<()> {
    let mut t = Table::with_columns((0..d).map(|j| format!("x{j}")));
    for row in values.chunks_exact(d) {
        t.push(row.iter().map(|&v| Cell::Num(v)).collect());
    }
    Ok(t.write_csv(path)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_with_header_and_comments() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.csv");
        std::fs::write(&p, "# comment\nx,y\n1,2\n3.5, -4\n\n").unwrap();
        let pts = read_points(&p).unwrap();
        assert_eq!((pts.n, pts.d), (2, 2));
        assert_eq!(pts.values, vec![1.0, 2.0, 3.5, -4.0]);
    }

    #[test]
    fn csv_errors_name_line_and_column() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.csv");
        std::fs::write(&p, "x,y\n1,2\n3,NaN\n").unwrap();
        let e = read_points(&p).unwrap_err().to_string();
        assert!(
            e.contains("line 3, column 2") && e.contains("not finite"),
            "{e}"
        );
        std::fs::write(&p, "1,2\n3\n").unwrap();
        let e = read_points(&p).unwrap_err().to_string();
        assert!(
            e.contains("line 2") && e.contains("1 fields, expected 2"),
            "{e}"
        );
        std::fs::write(&p, "1,2\n3,abc\n").unwrap();
        let e = read_points(&p).unwrap_err().to_string();
        assert!(e.contains("line 2, column 2: 'abc' is not a number"), "{e}");
    }

    #[test]
    fn npy_header_nesting_is_refused_before_parsing() {
        // found by the data_npy fuzz target: unclosed brackets made the header parser backtrack
        // exponentially (14 took 280 s); 40 must be refused at once
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.npy");
        let mut h = format!(
            "{{'descr': '<f8', 'fortran_order': {} False, 'shape': (2,), }}",
            "{".repeat(40)
        );
        h.push_str(&" ".repeat(63 - (10 + h.len()) % 64));
        h.push('\n');
        let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
        bytes.extend_from_slice(&(h.len() as u16).to_le_bytes());
        bytes.extend_from_slice(h.as_bytes());
        bytes.extend_from_slice(&[0; 16]);
        std::fs::write(&p, &bytes).unwrap();
        let t0 = std::time::Instant::now();
        let e = read_points(&p).unwrap_err().to_string();
        assert!(e.contains("a.npy") && e.contains("more than 4 deep"), "{e}");
        assert!(t0.elapsed().as_secs_f64() < 1.0, "took {:?}", t0.elapsed());
        // the same header with balanced, shallow brackets still reads
        let ok = "{'descr': '<f8', 'fortran_order': False, 'shape': (2,), }";
        let mut h = ok.to_string();
        h.push_str(&" ".repeat(63 - (10 + h.len()) % 64));
        h.push('\n');
        let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
        bytes.extend_from_slice(&(h.len() as u16).to_le_bytes());
        bytes.extend_from_slice(h.as_bytes());
        bytes.extend_from_slice(&1.5f64.to_le_bytes());
        bytes.extend_from_slice(&(-2.0f64).to_le_bytes());
        std::fs::write(&p, &bytes).unwrap();
        let pts = read_points(&p).unwrap();
        assert_eq!((pts.n, pts.d, pts.values), (2, 1, vec![1.5, -2.0]));
    }

    #[test]
    fn npy_round_trip_through_npyz() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.npy");
        let v: Vec<f64> = (0..12).map(|i| i as f64 * 0.5 - 1.0).collect();
        write_npy(&p, &[4, 3], &v).unwrap();
        let pts = read_points(&p).unwrap();
        assert_eq!((pts.n, pts.d), (4, 3));
        assert_eq!(pts.values, v);
    }

    #[test]
    fn npy_rows_without_coordinates_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("empty-rows.npy");
        write_npy(&path, &[2, 0], &[]).unwrap();
        let e = read_points(&path).unwrap_err().to_string();
        assert!(e.contains("d = 0") && e.contains("empty-rows.npy"), "{e}");
    }
}
