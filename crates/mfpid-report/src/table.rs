//! Result tables: named columns, rows of numbers or text, written as CSV (NaN as an empty cell)
//! or JSON (NaN as `null`).

use super::{ReportError, Result};
use std::path::Path;

/// One cell of a table.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    /// A number (written in Rust's shortest round-trip form; NaN is written as an empty cell).
    Num(f64),
    /// An integer.
    Int(i64),
    /// Text.
    Text(String),
}

impl From<f64> for Cell {
    fn from(v: f64) -> Self {
        Cell::Num(v)
    }
}
impl From<usize> for Cell {
    fn from(v: usize) -> Self {
        Cell::Int(v as i64)
    }
}
impl From<i64> for Cell {
    fn from(v: i64) -> Self {
        Cell::Int(v)
    }
}
impl From<&str> for Cell {
    fn from(v: &str) -> Self {
        Cell::Text(v.to_string())
    }
}
impl From<String> for Cell {
    fn from(v: String) -> Self {
        Cell::Text(v)
    }
}

impl Cell {
    /// Full-precision text.
    pub fn render(&self) -> String {
        match self {
            Cell::Num(v) if v.is_nan() => String::new(),
            Cell::Num(v) => format!("{v}"),
            Cell::Int(v) => v.to_string(),
            Cell::Text(s) => s.clone(),
        }
    }
    /// Text with numbers rounded to `sig` significant digits (for snapshots).
    pub fn render_rounded(&self, sig: usize) -> String {
        match self {
            Cell::Num(v) if v.is_finite() && *v != 0.0 => format!("{:.*e}", sig - 1, v),
            other => other.render(),
        }
    }
    /// The number, if numeric.
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Cell::Num(v) => Some(*v),
            Cell::Int(v) => Some(*v as f64),
            Cell::Text(_) => None,
        }
    }
}

/// A table with fixed column names.
#[derive(Debug, Clone, PartialEq)]
pub struct Table {
    /// Column names, exactly as downstream tools read them.
    pub columns: Vec<String>,
    /// Rows; each has `columns.len()` cells.
    pub rows: Vec<Vec<Cell>>,
}

impl Table {
    /// An empty table with the given column names.
    pub fn new(columns: &[&str]) -> Self {
        Self::with_columns(columns.iter().copied())
    }

    /// An empty table with column names from any iterator of strings.
    pub fn with_columns<S: Into<String>>(columns: impl IntoIterator<Item = S>) -> Self {
        Self {
            columns: columns.into_iter().map(Into::into).collect(),
            rows: Vec::new(),
        }
    }

    /// Append a row; panics in debug builds if the width is wrong (a programming error).
    pub fn push(&mut self, row: Vec<Cell>) {
        debug_assert_eq!(row.len(), self.columns.len(), "row width");
        self.rows.push(row);
    }

    /// Column index by name.
    pub fn col(&self, name: &str) -> Option<usize> {
        self.columns.iter().position(|c| c == name)
    }

    /// Write as CSV with a header row.
    pub fn write_csv(&self, path: &Path) -> Result<()> {
        let csv_err = |e: csv::Error| ReportError::Csv {
            path: path.to_path_buf(),
            message: e.to_string(),
        };
        let mut w = csv::Writer::from_path(path).map_err(csv_err)?;
        w.write_record(&self.columns).map_err(csv_err)?;
        for r in &self.rows {
            w.write_record(r.iter().map(Cell::render))
                .map_err(csv_err)?;
        }
        w.flush().map_err(|source| ReportError::Io {
            path: path.to_path_buf(),
            source,
        })
    }

    /// The rows as a JSON array of objects keyed by column name (NaN and infinities as `null`).
    pub fn to_json(&self) -> serde_json::Value {
        let cell = |c: &Cell| match c {
            Cell::Num(x) => serde_json::Number::from_f64(*x)
                .map(serde_json::Value::Number)
                .unwrap_or(serde_json::Value::Null),
            Cell::Int(i) => serde_json::Value::from(*i),
            Cell::Text(s) => serde_json::Value::from(s.clone()),
        };
        let rows = self.rows.iter().map(|r| {
            let obj = self.columns.iter().cloned().zip(r.iter().map(cell));
            serde_json::Value::Object(obj.collect())
        });
        serde_json::Value::Array(rows.collect())
    }

    /// CSV text with numbers rounded to `sig` significant digits, skipping columns in `skip`
    /// (e.g. wall times), for snapshot tests.
    pub fn to_snapshot(&self, sig: usize, skip: &[&str]) -> String {
        let keep: Vec<usize> = (0..self.columns.len())
            .filter(|&i| !skip.contains(&self.columns[i].as_str()))
            .collect();
        let mut out = keep
            .iter()
            .map(|&i| self.columns[i].clone())
            .collect::<Vec<_>>()
            .join(",");
        out.push('\n');
        for r in &self.rows {
            out.push_str(
                &keep
                    .iter()
                    .map(|&i| r[i].render_rounded(sig))
                    .collect::<Vec<_>>()
                    .join(","),
            );
            out.push('\n');
        }
        out
    }
}
