//! Gaussian mixtures and protocols written in configs, checked field by field.

use mfpid::bridge::{
    BridgeError, Covariance, GaussianMixture, MixtureDefect, MixtureField, MixtureIndex,
    MixtureSpec, Protocol,
};
use serde::{Deserialize, Serialize};

use crate::config::{finite, nonempty, Row, Source};
use crate::error::ConfigError;

/// A Gaussian mixture `sum_k pi_k N(m_k, Σ_k)` as written in a config. Give the means and exactly
/// one of `std`, `variance`, `diag`, `cov` for the spread of the components.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct MixtureFields {
    /// Only in `[target]`: samples from a CSV or NPY file (`n x d`), used as an equally weighted
    /// point cloud instead of a mixture. Relative paths are relative to the config file.
    #[serde(default)]
    pub file: Option<String>,
    /// Component weights `pi_k` (>= 0, positive sum; normalised). Default: equal weights.
    #[serde(default)]
    pub weights: Option<Vec<f64>>,
    /// Component means `m_k`: one row of `d` numbers per component (plain numbers when `d = 1`).
    #[serde(default)]
    pub means: Option<Vec<Row>>,
    /// Isotropic components `Σ_k = std_k² I`: one standard deviation per component (> 0).
    #[serde(default)]
    pub std: Option<Vec<f64>>,
    /// Isotropic components `Σ_k = variance_k I`: one variance per component (> 0).
    #[serde(default)]
    pub variance: Option<Vec<f64>>,
    /// Diagonal components: one row of `d` variances (> 0) per component.
    #[serde(default)]
    pub diag: Option<Vec<Row>>,
    /// Full components: one `d x d` symmetric positive-definite matrix (a list of rows) per component.
    #[serde(default)]
    pub cov: Option<Vec<Vec<Row>>>,
}

impl MixtureFields {
    /// Whether any mixture field (anything but `file`) is set.
    pub fn any(&self) -> bool {
        self.weights.is_some()
            || self.means.is_some()
            || self.std.is_some()
            || self.variance.is_some()
            || self.diag.is_some()
            || self.cov.is_some()
    }

    /// Check every field and build the mixture; `prefix` is the table's path (e.g. `target`).
    pub fn build(&self, src: &Source, prefix: &str) -> Result<GaussianMixture, ConfigError> {
        let spec = self.spec(src, prefix)?;
        GaussianMixture::try_from(spec).map_err(|e| self.locate(src, prefix, e))
    }

    /// Check the shape of the fields (one spread, one row per component, rows of `d` numbers) and
    /// collect them as the library's [`MixtureSpec`], without factorising the covariances: a
    /// fleet hands the spec to `mfpid_energy::Fleet::new`, which factorises each covariance once.
    /// The values (finite means, weights `>= 0` with a positive sum, variances `> 0`, symmetric
    /// positive-definite covariances) are checked once, by the library's `GaussianMixture::new`,
    /// whose errors [`MixtureFields::locate`] maps to this table's fields.
    pub fn spec(&self, src: &Source, prefix: &str) -> Result<MixtureSpec, ConfigError> {
        let f = |name: &str| format!("{prefix}.{name}");
        if self.file.is_some() {
            return Err(src.error(
                &f("file"),
                "a data file is only allowed in [target] (start points from a file: `start.file`); give a Gaussian mixture here",
            ));
        }
        let means = self.means.as_ref().ok_or_else(|| {
            src.error(
                prefix,
                "missing field `means` (one row of d numbers per mixture component)",
            )
        })?;
        nonempty(src, &f("means"), means)?;
        let k = means.len();
        let d = means[0].0.len();
        if d == 0 {
            return Err(src.error(
                &f("means[0]"),
                "has no coordinates: a mean needs d >= 1 numbers",
            ));
        }
        let mut flat = Vec::with_capacity(k * d);
        for (i, r) in means.iter().enumerate() {
            if r.0.len() != d {
                return Err(src.error(
                    &format!("{prefix}.means[{i}]"),
                    format!(
                        "has {} coordinates but {prefix}.means[0] has {d} (dimension mismatch: every component needs the same d)",
                        r.0.len()
                    ),
                ));
            }
            flat.extend_from_slice(&r.0);
        }
        let weights = match &self.weights {
            None => vec![1.0; k],
            Some(w) => {
                if w.len() != k {
                    return Err(src.error(
                        &f("weights"),
                        format!(
                            "{} weights for {k} components in {prefix}.means (one weight per component)",
                            w.len()
                        ),
                    ));
                }
                w.clone()
            }
        };
        let given: Vec<&str> = [
            ("std", self.std.is_some()),
            ("variance", self.variance.is_some()),
            ("diag", self.diag.is_some()),
            ("cov", self.cov.is_some()),
        ]
        .iter()
        .filter(|(_, g)| *g)
        .map(|(n, _)| *n)
        .collect();
        if given.is_empty() {
            return Err(src.error(
                prefix,
                "give the spread of the components as one of `std`, `variance`, `diag`, `cov`",
            ));
        }
        if given.len() > 1 {
            return Err(src.error(
                &f(given[1]),
                format!(
                    "give only one of `std`, `variance`, `diag`, `cov` (found {})",
                    given.join(" and ")
                ),
            ));
        }
        let per_comp = |name: &str, len: usize| -> Result<(), ConfigError> {
            if len != k {
                Err(src.error(
                    &f(name),
                    format!("{len} entries for {k} components (one per component)"),
                ))
            } else {
                Ok(())
            }
        };
        let cov = if let Some(s) = &self.std {
            per_comp("std", s.len())?;
            // the one value check made here: `std` is squared into the library's variance, which
            // cannot tell a negative standard deviation from a positive one
            finite(src, &f("std"), s)?;
            if let Some(i) = s.iter().position(|&x| x <= 0.0) {
                return Err(src.error(
                    &format!("{prefix}.std[{i}]"),
                    format!("standard deviation {} must be > 0", s[i]),
                ));
            }
            Covariance::Isotropic(s.iter().map(|x| x * x).collect())
        } else if let Some(v) = &self.variance {
            per_comp("variance", v.len())?;
            Covariance::Isotropic(v.clone())
        } else if let Some(rows) = &self.diag {
            per_comp("diag", rows.len())?;
            let mut out = Vec::with_capacity(k * d);
            for (c, r) in rows.iter().enumerate() {
                let p = format!("{prefix}.diag[{c}]");
                if r.0.len() != d {
                    return Err(src.error(
                        &p,
                        format!(
                            "has {} variances but the means have d = {d} (dimension mismatch)",
                            r.0.len()
                        ),
                    ));
                }
                out.extend_from_slice(&r.0);
            }
            Covariance::Diagonal(out)
        } else {
            // `given` has exactly one entry, so this is `cov`
            let mats = self.cov.as_deref().unwrap_or(&[]);
            per_comp("cov", mats.len())?;
            let mut out = Vec::with_capacity(k * d * d);
            for (c, m) in mats.iter().enumerate() {
                let p = format!("{prefix}.cov[{c}]");
                if m.len() != d || m.iter().any(|r| r.0.len() != d) {
                    return Err(src.error(
                        &p,
                        format!(
                            "is not a {d} x {d} matrix (the means have d = {d}; dimension mismatch)"
                        ),
                    ));
                }
                for r in m {
                    out.extend_from_slice(&r.0);
                }
            }
            Covariance::Full(out)
        };
        Ok(MixtureSpec {
            d,
            weights,
            means: flat,
            covariance: cov,
        })
    }

    /// The one place where a mixture error of the library becomes a config error: the library
    /// names the field, component and coordinate ([`BridgeError::InvalidMixture`]) or the
    /// component whose covariance is not positive definite, and this maps it to the TOML element
    /// of this table (`prefix`, e.g. `fleet.p_in`) as written: `variance[1]`, `diag[0][2]`,
    /// `cov[1][0][2]`, `means[3][0]`, `weights[1]`.
    pub fn locate(&self, src: &Source, prefix: &str, e: BridgeError) -> ConfigError {
        use crate::common::human_num;
        let spread = if self.cov.is_some() {
            "cov"
        } else if self.diag.is_some() {
            "diag"
        } else if self.std.is_some() {
            "std"
        } else {
            "variance"
        };
        match e {
            BridgeError::InvalidMixture {
                field,
                index,
                value,
                defect,
            } => {
                let name = match field {
                    MixtureField::Weights => "weights",
                    MixtureField::Means => "means",
                    MixtureField::Variances | MixtureField::Covariances => spread,
                };
                let at = match index {
                    MixtureIndex::Sum => String::new(),
                    i => i.to_string(),
                };
                let v = human_num(value);
                let msg = match (field, defect) {
                    (MixtureField::Variances, MixtureDefect::NotFinite) if spread == "std" => {
                        format!("standard deviation squared is {v}, not a finite number")
                    }
                    (_, MixtureDefect::NotFinite) => format!("{v} is not a finite number"),
                    (MixtureField::Weights, MixtureDefect::NoPositiveSum) => {
                        format!("weights sum to {v}; at least one weight must be positive and the sum finite")
                    }
                    (MixtureField::Weights, _) => {
                        format!("weight {v} is negative; weights must be >= 0 with a positive sum")
                    }
                    (_, _) => {
                        let what = if value < 0.0 { "is negative" } else { "is zero" };
                        format!("variance {v} {what}; a variance must be > 0")
                    }
                };
                src.error(&format!("{prefix}.{name}{at}"), msg)
            }
            BridgeError::NotPositiveDefinite { component, reason } => src.error(
                &format!("{prefix}.{spread}[{component}]"),
                format!(
                    "not symmetric positive definite ({reason}); a covariance must be symmetric with all eigenvalues > 0"
                ),
            ),
            other => src.error(prefix, other.to_string()),
        }
    }
}

/// Protocol kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ProtocolKind {
    /// `beta = 0`: a Brownian bridge (PID).
    Pid,
    /// Constant `beta` on `[0, 1]` (H-PID).
    Constant,
    /// `beta_i = beta0 gamma^i` on `pieces` equal pieces (AdaPID; the papers' default).
    #[default]
    Geometric,
    /// User-given `breaks` and `betas`.
    Piecewise,
}

/// The harmonic protocol `V_t(x) = beta_t/2 |x - nu_t|²`, piecewise constant.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ProtocolSection {
    /// `pid`, `constant`, `geometric` (default) or `piecewise`.
    #[serde(default)]
    pub kind: ProtocolKind,
    /// geometric: `beta_0` (default 12).
    #[serde(default)]
    pub beta0: Option<f64>,
    /// geometric: ratio `gamma` (default 0.65).
    #[serde(default)]
    pub gamma: Option<f64>,
    /// geometric: number of equal pieces `M` (default 8).
    #[serde(default)]
    pub pieces: Option<usize>,
    /// constant: `beta` (>= 0).
    #[serde(default)]
    pub beta: Option<f64>,
    /// piecewise: breaks `0 = t_0 < ... < t_M = 1`.
    #[serde(default)]
    pub breaks: Option<Vec<f64>>,
    /// piecewise: `beta_i >= 0`, one per piece.
    #[serde(default)]
    pub betas: Option<Vec<f64>>,
    /// One centre `nu` (length `d`) for every piece (GH-PID). Default: the origin.
    #[serde(default)]
    pub centre: Option<Vec<f64>>,
    /// One centre per piece (`M` rows of `d` numbers).
    #[serde(default)]
    pub centres: Option<Vec<Row>>,
}

impl ProtocolSection {
    /// Check and build the protocol in dimension `d`.
    pub fn build(&self, src: &Source, d: usize) -> Result<Protocol, ConfigError> {
        let only = |field: &str, set: bool, kinds: &str| -> Result<(), ConfigError> {
            if set {
                Err(src.error(
                    &format!("protocol.{field}"),
                    format!(
                        "is only used with kind = {kinds} (this protocol has kind = \"{}\")",
                        self.kind_name()
                    ),
                ))
            } else {
                Ok(())
            }
        };
        let lib =
            |field: &str, e: BridgeError| src.error(&format!("protocol.{field}"), e.to_string());
        let geometric = self.kind == ProtocolKind::Geometric;
        let constant = self.kind == ProtocolKind::Constant;
        let piecewise = self.kind == ProtocolKind::Piecewise;
        only("beta0", self.beta0.is_some() && !geometric, "\"geometric\"")?;
        only("gamma", self.gamma.is_some() && !geometric, "\"geometric\"")?;
        only(
            "pieces",
            self.pieces.is_some() && !geometric,
            "\"geometric\"",
        )?;
        only("beta", self.beta.is_some() && !constant, "\"constant\"")?;
        only(
            "breaks",
            self.breaks.is_some() && !piecewise,
            "\"piecewise\"",
        )?;
        only("betas", self.betas.is_some() && !piecewise, "\"piecewise\"")?;
        let p = match self.kind {
            ProtocolKind::Pid => Protocol::pid(d).map_err(|e| lib("kind", e))?,
            ProtocolKind::Constant => {
                let beta = self.beta.ok_or_else(|| {
                    src.error("protocol", "kind = \"constant\" needs `beta` (>= 0)")
                })?;
                if !(beta.is_finite() && beta >= 0.0) {
                    return Err(
                        src.error("protocol.beta", format!("{beta} must be finite and >= 0"))
                    );
                }
                Protocol::constant(d, beta).map_err(|e| lib("beta", e))?
            }
            ProtocolKind::Geometric => {
                let beta0 = self.beta0.unwrap_or(12.0);
                let gamma = self.gamma.unwrap_or(0.65);
                let m = self.pieces.unwrap_or(8);
                if !(beta0.is_finite() && beta0 >= 0.0) {
                    return Err(
                        src.error("protocol.beta0", format!("{beta0} must be finite and >= 0"))
                    );
                }
                if !(gamma.is_finite() && gamma >= 0.0) {
                    return Err(
                        src.error("protocol.gamma", format!("{gamma} must be finite and >= 0"))
                    );
                }
                if m == 0 {
                    return Err(src.error("protocol.pieces", "must be >= 1"));
                }
                Protocol::geometric(d, beta0, gamma, m).map_err(|e| lib("beta0", e))?
            }
            ProtocolKind::Piecewise => {
                let breaks = self.breaks.clone().ok_or_else(|| {
                    src.error(
                        "protocol",
                        "kind = \"piecewise\" needs `breaks` (0 = t_0 < ... < t_M = 1)",
                    )
                })?;
                let betas = self.betas.clone().ok_or_else(|| {
                    src.error(
                        "protocol",
                        "kind = \"piecewise\" needs `betas` (one beta >= 0 per piece)",
                    )
                })?;
                Protocol::piecewise(d, breaks, betas).map_err(|e| match e {
                    BridgeError::BadBreaks { .. } => lib("breaks", e),
                    _ => lib("betas", e),
                })?
            }
        };
        match (&self.centre, &self.centres) {
            (Some(_), Some(_)) => Err(src.error(
                "protocol.centres",
                "give either `centre` (one for all pieces) or `centres` (one per piece), not both",
            )),
            (Some(c), None) => {
                if c.len() != d {
                    return Err(src.error(
                        "protocol.centre",
                        format!(
                            "has {} coordinates but the target has d = {d} (dimension mismatch)",
                            c.len()
                        ),
                    ));
                }
                finite(src, "protocol.centre", c)?;
                p.with_centre(c).map_err(|e| lib("centre", e))
            }
            (None, Some(rows)) => {
                let m = p.pieces();
                if rows.len() != m {
                    return Err(src.error(
                        "protocol.centres",
                        format!("{} rows for {m} pieces (one centre per piece)", rows.len()),
                    ));
                }
                let mut flat = Vec::with_capacity(m * d);
                for (i, r) in rows.iter().enumerate() {
                    let f = format!("protocol.centres[{i}]");
                    if r.0.len() != d {
                        return Err(src.error(
                            &f,
                            format!(
                                "has {} coordinates but the target has d = {d} (dimension mismatch)",
                                r.0.len()
                            ),
                        ));
                    }
                    finite(src, &f, &r.0)?;
                    flat.extend_from_slice(&r.0);
                }
                p.with_centres(flat).map_err(|e| lib("centres", e))
            }
            (None, None) => Ok(p),
        }
    }

    fn kind_name(&self) -> &'static str {
        match self.kind {
            ProtocolKind::Pid => "pid",
            ProtocolKind::Constant => "constant",
            ProtocolKind::Geometric => "geometric",
            ProtocolKind::Piecewise => "piecewise",
        }
    }

    /// One-line description for `validate`.
    pub fn describe(p: &Protocol) -> String {
        let betas: Vec<String> = p.betas().iter().map(|b| format!("{b:.4}")).collect();
        let centred = p.centres().iter().any(|&v| v != 0.0);
        format!(
            "{} piece(s), beta = [{}]{}",
            p.pieces(),
            betas.join(", "),
            if centred { ", with centres nu" } else { "" }
        )
    }
}
