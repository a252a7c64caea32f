//! Figures: line and scatter charts written as SVG and PNG (plotters, bundled DejaVu Sans font).

use super::{ReportError, Result};
use plotters::coord::Shift;
use plotters::prelude::*;
use std::path::Path;
use std::sync::Once;

static FONT: Once = Once::new();

fn register_font() {
    FONT.call_once(|| {
        let bytes: &'static [u8] = include_bytes!("../assets/DejaVuSans.ttf");
        // registration only fails on an unparsable font, which the bundled file is not
        let _ = plotters::style::register_font("sans-serif", FontStyle::Normal, bytes);
    });
}

/// The points `(x_i, y_i)` of two equally long coordinate slices (extra entries of the longer one
/// are ignored), for [`Series::new`].
pub fn xy(x: &[f64], y: &[f64]) -> Vec<(f64, f64)> {
    x.iter().copied().zip(y.iter().copied()).collect()
}

/// How a series is drawn.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Mark {
    /// Connected line.
    Line,
    /// Dashed line (e.g. theory or published values).
    Dashed,
    /// Points only.
    Points,
    /// Line with points.
    LinePoints,
}

/// One data series.
#[derive(Debug, Clone)]
pub struct Series {
    /// Legend label.
    pub label: String,
    /// `(x, y)` points (non-finite points are skipped).
    pub points: Vec<(f64, f64)>,
    /// Drawing style.
    pub mark: Mark,
    /// Palette index (None: the series' position).
    pub color: Option<usize>,
}

impl Series {
    /// A series with the given label, points and mark.
    pub fn new(label: impl Into<String>, points: Vec<(f64, f64)>, mark: Mark) -> Self {
        Self {
            label: label.into(),
            points,
            mark,
            color: None,
        }
    }
    /// Set the palette index.
    pub fn color(mut self, c: usize) -> Self {
        self.color = Some(c);
        self
    }
}

/// A 2-D chart.
#[derive(Debug, Clone)]
pub struct Chart {
    /// Title.
    pub title: String,
    /// x-axis label.
    pub x_label: String,
    /// y-axis label.
    pub y_label: String,
    /// Plot log10 of x (ticks labelled in x).
    pub log_x: bool,
    /// Plot log10 of y (ticks labelled in y).
    pub log_y: bool,
    /// Series.
    pub series: Vec<Series>,
}

impl Chart {
    /// A linear-axes chart.
    pub fn new(
        title: impl Into<String>,
        x_label: impl Into<String>,
        y_label: impl Into<String>,
    ) -> Self {
        Self {
            title: title.into(),
            x_label: x_label.into(),
            y_label: y_label.into(),
            log_x: false,
            log_y: false,
            series: Vec::new(),
        }
    }
    /// Use log10 axes.
    pub fn log(mut self, x: bool, y: bool) -> Self {
        self.log_x = x;
        self.log_y = y;
        self
    }
    /// Add a series.
    pub fn with(mut self, s: Series) -> Self {
        self.series.push(s);
        self
    }
}

/// Write `stem.svg` and `stem.png` in `dir` with the charts laid out in a grid of `cols` columns.
pub fn save(dir: &Path, stem: &str, charts: &[Chart], cols: usize) -> Result<()> {
    save_panels(dir, stem, charts, cols)
}

type DrawResult<DB> =
    std::result::Result<(), DrawingAreaErrorKind<<DB as DrawingBackend>::ErrorType>>;

/// One panel of a figure: a chart, a heat map or a bar chart.
trait Panel {
    /// Pixel size of one panel (width, height).
    const SIZE: (u32, u32);
    /// Draw the panel into `area`.
    fn draw<DB: DrawingBackend>(&self, area: &DrawingArea<DB, Shift>) -> DrawResult<DB>;
}

/// Lay `panels` out in `cols` columns and write them as `stem.svg` and `stem.png` in `dir`.
fn save_panels<P: Panel>(dir: &Path, stem: &str, panels: &[P], cols: usize) -> Result<()> {
    register_font();
    let cols = cols.max(1).min(panels.len().max(1));
    let rows = panels.len().div_ceil(cols).max(1);
    let size = (P::SIZE.0 * cols as u32, P::SIZE.1 * rows as u32);
    let fail = |path: &Path, what: &'static str, e: &dyn std::fmt::Display| ReportError::Figure {
        path: path.to_path_buf(),
        what,
        message: e.to_string(),
    };
    fn draw_grid<DB: DrawingBackend, P: Panel>(
        root: &DrawingArea<DB, Shift>,
        panels: &[P],
        rows: usize,
        cols: usize,
    ) -> DrawResult<DB> {
        root.fill(&WHITE)?;
        for (area, p) in root.split_evenly((rows, cols)).iter().zip(panels) {
            p.draw(area)?;
        }
        Ok(())
    }
    let svg = dir.join(format!("{stem}.svg"));
    let root = SVGBackend::new(&svg, size).into_drawing_area();
    draw_grid(&root, panels, rows, cols).map_err(|e| fail(&svg, "drawing", &e))?;
    root.present().map_err(|e| fail(&svg, "writing", &e))?;
    drop(root);
    let png = dir.join(format!("{stem}.png"));
    let root = BitMapBackend::new(&png, size).into_drawing_area();
    draw_grid(&root, panels, rows, cols).map_err(|e| fail(&png, "drawing", &e))?;
    root.present().map_err(|e| fail(&png, "writing", &e))?;
    Ok(())
}

fn tr(v: f64, log: bool) -> f64 {
    if log {
        v.log10()
    } else {
        v
    }
}

fn bounds(vals: impl Iterator<Item = f64>) -> (f64, f64) {
    let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
    for v in vals.filter(|v| v.is_finite()) {
        lo = lo.min(v);
        hi = hi.max(v);
    }
    if !lo.is_finite() {
        return (0.0, 1.0);
    }
    let pad = if hi > lo {
        0.05 * (hi - lo)
    } else {
        0.5 * lo.abs().max(1.0)
    };
    (lo - pad, hi + pad)
}

fn tick_label(v: f64, log: bool) -> String {
    if log {
        let x = 10f64.powf(v);
        if (1e-2..1e4).contains(&x.abs()) {
            format!("{x:.3}")
                .trim_end_matches('0')
                .trim_end_matches('.')
                .to_string()
        } else {
            format!("{x:.0e}")
        }
    } else if v != 0.0 && (v.abs() < 1e-2 || v.abs() >= 1e5) {
        format!("{v:.1e}")
    } else {
        format!("{v:.3}")
            .trim_end_matches('0')
            .trim_end_matches('.')
            .to_string()
    }
}

impl Panel for Chart {
    const SIZE: (u32, u32) = (520, 400);
    fn draw<DB: DrawingBackend>(&self, area: &DrawingArea<DB, Shift>) -> DrawResult<DB> {
        let c = self;
        let pts = |s: &Series| -> Vec<(f64, f64)> {
            s.points
                .iter()
                .map(|&(x, y)| (tr(x, c.log_x), tr(y, c.log_y)))
                .filter(|(x, y)| x.is_finite() && y.is_finite())
                .collect()
        };
        let all: Vec<(f64, f64)> = c.series.iter().flat_map(pts).collect();
        let (x0, x1) = bounds(all.iter().map(|p| p.0));
        let (y0, y1) = bounds(all.iter().map(|p| p.1));
        let mut ch = ChartBuilder::on(area)
            .caption(&c.title, ("sans-serif", 18))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(64)
            .build_cartesian_2d(x0..x1, y0..y1)?;
        let (lx, ly) = (c.log_x, c.log_y);
        ch.configure_mesh()
            .x_desc(c.x_label.as_str())
            .y_desc(c.y_label.as_str())
            .x_label_formatter(&|v| tick_label(*v, lx))
            .y_label_formatter(&|v| tick_label(*v, ly))
            .label_style(("sans-serif", 13))
            .light_line_style(WHITE.mix(0.0))
            .draw()?;
        for (i, s) in c.series.iter().enumerate() {
            let color = Palette99::pick(s.color.unwrap_or(i)).to_rgba();
            let p = pts(s);
            let style = ShapeStyle::from(color).stroke_width(2);
            if s.mark == Mark::LinePoints {
                ch.draw_series(p.iter().map(|&q| Circle::new(q, 3, color.filled())))?;
            }
            let anno = match s.mark {
                Mark::Line | Mark::LinePoints => {
                    ch.draw_series(LineSeries::new(p.clone(), style))?
                }
                Mark::Dashed => ch.draw_series(DashedLineSeries::new(p.clone(), 6, 4, style))?,
                Mark::Points => {
                    ch.draw_series(p.iter().map(|&q| Circle::new(q, 2, color.filled())))?
                }
            };
            if !s.label.is_empty() {
                anno.label(s.label.clone()).legend(move |(x, y)| {
                    PathElement::new(
                        vec![(x, y), (x + 18, y)],
                        ShapeStyle::from(color).stroke_width(2),
                    )
                });
            }
        }
        if c.series.iter().any(|s| !s.label.is_empty()) {
            ch.configure_series_labels()
                .background_style(WHITE.mix(0.85))
                .border_style(BLACK.mix(0.4))
                .label_font(("sans-serif", 12))
                .position(SeriesLabelPosition::UpperLeft)
                .draw()?;
        }
        Ok(())
    }
}

// ---- heat maps and grouped bar charts (used by the dr-* entries) ----

/// A heat map of values on a regular `ny x nx` grid of cells (viridis colour scale with a colour bar).
#[derive(Debug, Clone)]
pub struct HeatMap {
    /// Title.
    pub title: String,
    /// x-axis label.
    pub x_label: String,
    /// y-axis label.
    pub y_label: String,
    /// x extent `(x0, x1)` of the grid (cells are `(x1 - x0)/nx` wide).
    pub x: (f64, f64),
    /// y extent `(y0, y1)`.
    pub y: (f64, f64),
    /// Cells along x.
    pub nx: usize,
    /// Cells along y.
    pub ny: usize,
    /// Values, row-major `ny x nx` (row `j` is the `j`-th cell along y from `y0`).
    pub values: Vec<f64>,
    /// Colour range (None: min and max of the finite values).
    pub range: Option<(f64, f64)>,
}

/// Write `stem.svg` and `stem.png` with the heat maps laid out in `cols` columns.
pub fn save_heatmaps(dir: &Path, stem: &str, maps: &[HeatMap], cols: usize) -> Result<()> {
    save_panels(dir, stem, maps, cols)
}

impl Panel for HeatMap {
    const SIZE: (u32, u32) = (600, 400);
    fn draw<DB: DrawingBackend>(&self, area: &DrawingArea<DB, Shift>) -> DrawResult<DB> {
        let map = self;
        {
            let w = area.dim_in_pixel().0 as i32;
            let (main, bar) = area.split_horizontally(w - 100);
            let (lo, hi) = map.range.unwrap_or_else(|| {
                let v = map.values.iter().copied().filter(|v| v.is_finite());
                let lo = v.clone().fold(f64::INFINITY, f64::min);
                let hi = v.fold(f64::NEG_INFINITY, f64::max);
                if lo.is_finite() && hi > lo {
                    (lo, hi)
                } else {
                    (0.0, 1.0)
                }
            });
            let color = |v: f64| ViridisRGB::get_color_normalized(v.clamp(lo, hi), lo, hi);
            let mut ch = ChartBuilder::on(&main)
                .caption(&map.title, ("sans-serif", 18))
                .margin(12)
                .x_label_area_size(40)
                .y_label_area_size(56)
                .build_cartesian_2d(map.x.0..map.x.1, map.y.0..map.y.1)?;
            ch.configure_mesh()
                .x_desc(map.x_label.as_str())
                .y_desc(map.y_label.as_str())
                .x_label_formatter(&|v| tick_label(*v, false))
                .y_label_formatter(&|v| tick_label(*v, false))
                .label_style(("sans-serif", 13))
                .disable_mesh()
                .draw()?;
            let dx = (map.x.1 - map.x.0) / map.nx.max(1) as f64;
            let dy = (map.y.1 - map.y.0) / map.ny.max(1) as f64;
            ch.draw_series((0..map.ny).flat_map(|j| {
                (0..map.nx).filter_map(move |i| {
                    let v = *map.values.get(j * map.nx + i)?;
                    if !v.is_finite() {
                        return None;
                    }
                    let (x0, y0) = (map.x.0 + i as f64 * dx, map.y.0 + j as f64 * dy);
                    Some(Rectangle::new(
                        [(x0, y0), (x0 + dx, y0 + dy)],
                        color(v).filled(),
                    ))
                })
            }))?;
            let mut cb = ChartBuilder::on(&bar)
                .margin_top(40)
                .margin_bottom(52)
                .margin_right(8)
                .y_label_area_size(56)
                .build_cartesian_2d(0.0..1.0, lo..hi)?;
            cb.configure_mesh()
                .disable_x_axis()
                .disable_mesh()
                .y_label_formatter(&|v| tick_label(*v, false))
                .label_style(("sans-serif", 12))
                .draw()?;
            let n = 100;
            let step = (hi - lo) / n as f64;
            cb.draw_series((0..n).map(|k| {
                let v = lo + k as f64 * step;
                Rectangle::new([(0.0, v), (1.0, v + step)], color(v + 0.5 * step).filled())
            }))?;
        }
        Ok(())
    }
}

/// A grouped bar chart: one cluster per category, one bar per group.
#[derive(Debug, Clone)]
pub struct Bars {
    /// Title.
    pub title: String,
    /// Category-axis label.
    pub x_label: String,
    /// Value-axis label.
    pub y_label: String,
    /// Category names (x axis).
    pub categories: Vec<String>,
    /// `(legend label, one value per category)` per group.
    pub groups: Vec<(String, Vec<f64>)>,
}

/// Write `stem.svg` and `stem.png` with the bar charts laid out in `cols` columns.
pub fn save_bars(dir: &Path, stem: &str, charts: &[Bars], cols: usize) -> Result<()> {
    save_panels(dir, stem, charts, cols)
}

impl Panel for Bars {
    const SIZE: (u32, u32) = (620, 400);
    fn draw<DB: DrawingBackend>(&self, area: &DrawingArea<DB, Shift>) -> DrawResult<DB> {
        let c = self;
        {
            let n = c.categories.len().max(1);
            let hi = c
                .groups
                .iter()
                .flat_map(|g| g.1.iter().copied())
                .filter(|v| v.is_finite())
                .fold(0.0f64, f64::max);
            let lo = c
                .groups
                .iter()
                .flat_map(|g| g.1.iter().copied())
                .filter(|v| v.is_finite())
                .fold(0.0f64, f64::min);
            // headroom above the bars for the legend
            let pad = 0.08 * (hi - lo).max(1e-12);
            let mut ch = ChartBuilder::on(area)
                .caption(&c.title, ("sans-serif", 18))
                .margin(12)
                .x_label_area_size(40)
                .y_label_area_size(64)
                .build_cartesian_2d(
                    -0.5..(n as f64 - 0.5),
                    (lo.min(0.0) - pad)..(hi + 4.0 * pad),
                )?;
            let cats = &c.categories;
            ch.configure_mesh()
                .x_desc(c.x_label.as_str())
                .y_desc(c.y_label.as_str())
                .x_labels(n.min(40))
                .x_label_formatter(&|v| {
                    let i = v.round();
                    if (v - i).abs() < 1e-6 && i >= 0.0 {
                        cats.get(i as usize).cloned().unwrap_or_default()
                    } else {
                        String::new()
                    }
                })
                .y_label_formatter(&|v| tick_label(*v, false))
                .label_style(("sans-serif", 13))
                .light_line_style(WHITE.mix(0.0))
                .draw()?;
            let g = c.groups.len().max(1);
            let w = 0.8 / g as f64;
            for (gi, (label, vals)) in c.groups.iter().enumerate() {
                let color = Palette99::pick(gi).to_rgba();
                let anno =
                    ch.draw_series(vals.iter().enumerate().filter(|(_, v)| v.is_finite()).map(
                        |(i, &v)| {
                            let x0 = i as f64 - 0.4 + gi as f64 * w;
                            Rectangle::new([(x0, 0.0), (x0 + w, v)], color.filled())
                        },
                    ))?;
                if !label.is_empty() {
                    anno.label(label.clone()).legend(move |(x, y)| {
                        Rectangle::new([(x, y - 5), (x + 12, y + 5)], color.filled())
                    });
                }
            }
            if c.groups.iter().any(|g| !g.0.is_empty()) {
                ch.configure_series_labels()
                    .background_style(WHITE.mix(0.85))
                    .border_style(BLACK.mix(0.4))
                    .label_font(("sans-serif", 12))
                    .position(SeriesLabelPosition::UpperRight)
                    .draw()?;
            }
        }
        Ok(())
    }
}
