//! Result reporting shared by the `mfpid` program and the `cargo xtask` runner: tables written as
//! CSV / JSON ([`table`]) and figures written as SVG + PNG with the bundled DejaVu Sans font
//! ([`plot`]), so both produce files of the same form.
//!
//! ```
//! use mfpid_report::plot::{save, Chart, Mark, Series};
//! use mfpid_report::table::{Cell, Table};
//! let dir = std::env::temp_dir().join("mfpid-report-doctest");
//! std::fs::create_dir_all(&dir)?;
//! let mut t = Table::new(&["t", "mean"]);
//! t.push(vec![Cell::Num(0.5), Cell::Num(0.25)]);
//! t.write_csv(&dir.join("table.csv"))?;
//! let chart = Chart::new("mean", "t", "m").with(Series::new("m", vec![(0.0, 0.0), (0.5, 0.25)], Mark::Line));
//! save(&dir, "figure", &[chart], 1)?;
//! assert!(dir.join("figure.svg").exists() && dir.join("figure.png").exists());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod plot;
pub mod staging;
pub mod table;

use std::path::PathBuf;

/// A table or figure could not be written.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// The file could not be created or written.
    #[error("cannot write {}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The CSV writer failed.
    #[error("cannot write {}: {message}", path.display())]
    Csv {
        /// The file.
        path: PathBuf,
        /// The writer's message.
        message: String,
    },
    /// plotters could not draw or write a figure.
    #[error("{what} figure {}: {message}", path.display())]
    Figure {
        /// The file.
        path: PathBuf,
        /// `drawing` or `writing`.
        what: &'static str,
        /// The backend's message.
        message: String,
    },
}

/// Result alias of this module.
pub type Result<T> = std::result::Result<T, ReportError>;
