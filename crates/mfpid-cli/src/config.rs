//! TOML configuration files: loading, and errors that name the file, line, column and field.
//!
//! Every config is parsed twice: once by serde into the typed structs of the subcommand (which
//! reports syntax errors, unknown fields and wrong types with a byte span), and once into a spanned
//! document tree ([`toml::de::DeTable`]) so that checks made after deserialisation (a negative
//! variance, a dimension mismatch) can point at the offending value too.

use std::fmt;
use std::path::{Path, PathBuf};

use serde::de::{self, Deserializer, SeqAccess, Visitor};
use serde::Deserialize;
use toml::de::{DeTable, DeValue};

use crate::error::{AppError, ConfigError};

/// One segment of a field path.
#[derive(Debug, Clone, PartialEq)]
enum Seg {
    Key(String),
    Index(usize),
}

fn parse_path(path: &str) -> Vec<Seg> {
    let mut out = Vec::new();
    for part in path.split('.').filter(|p| !p.is_empty()) {
        let mut rest = part;
        if let Some(i) = rest.find('[') {
            out.push(Seg::Key(rest[..i].to_string()));
            rest = &rest[i..];
            while let Some(stripped) = rest.strip_prefix('[') {
                let Some(end) = stripped.find(']') else { break };
                if let Ok(k) = stripped[..end].parse() {
                    out.push(Seg::Index(k));
                }
                rest = &stripped[end + 1..];
            }
        } else {
            out.push(Seg::Key(rest.to_string()));
        }
    }
    out
}

fn render_path(segs: &[Seg]) -> String {
    let mut s = String::new();
    for seg in segs {
        match seg {
            Seg::Key(k) => {
                if !s.is_empty() {
                    s.push('.');
                }
                s.push_str(k);
            }
            Seg::Index(i) => s.push_str(&format!("[{i}]")),
        }
    }
    s
}

/// A config file's text, with its path for messages.
#[derive(Debug, Clone)]
pub struct Source {
    /// Path as given.
    pub path: PathBuf,
    /// Contents.
    pub text: String,
}

impl Source {
    /// Read a config file.
    pub fn load(path: &Path) -> Result<Self, AppError> {
        let text = std::fs::read_to_string(path).map_err(|e| AppError::Io {
            what: "cannot read config file",
            path: path.to_path_buf(),
            source: e,
        })?;
        Ok(Self {
            path: path.to_path_buf(),
            text,
        })
    }

    /// A source from a string (tests, [`crate::check_config`]).
    pub fn from_str(name: &str, text: &str) -> Self {
        Self {
            path: PathBuf::from(name),
            text: text.to_string(),
        }
    }

    fn file(&self) -> String {
        self.path.display().to_string()
    }

    /// `(line, column)`, 1-based, of a byte offset.
    pub fn line_col(&self, offset: usize) -> (usize, usize) {
        let offset = offset.min(self.text.len());
        let before = &self.text[..offset];
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map(|i| i + 1).unwrap_or(0);
        let column = self.text[line_start..offset].chars().count() + 1;
        (line, column)
    }

    /// Deserialise the whole file into `T`.
    pub fn parse<T: de::DeserializeOwned>(&self) -> Result<T, ConfigError> {
        toml::from_str::<T>(&self.text).map_err(|e| {
            let (line, column, field) = match e.span() {
                Some(span) => {
                    let (l, c) = self.line_col(span.start);
                    (l, c, self.path_at(span.start))
                }
                None => (0, 0, String::new()),
            };
            ConfigError {
                file: self.file(),
                line,
                column,
                field,
                message: e.message().trim().to_string(),
            }
        })
    }

    /// The top-level table names present in the file (for `validate` to pick the subcommand).
    pub fn top_level_keys(&self) -> Result<Vec<String>, ConfigError> {
        let doc = DeTable::parse(&self.text).map_err(|e| {
            let (line, column) = e.span().map(|s| self.line_col(s.start)).unwrap_or((0, 0));
            ConfigError {
                file: self.file(),
                line,
                column,
                field: String::new(),
                message: e.message().trim().to_string(),
            }
        })?;
        Ok(doc
            .get_ref()
            .iter()
            .map(|(k, _)| k.get_ref().to_string())
            .collect())
    }

    /// Dotted path of the innermost key or array element whose span contains `offset`.
    fn path_at(&self, offset: usize) -> String {
        let Ok(doc) = DeTable::parse(&self.text) else {
            return String::new();
        };
        let mut segs = Vec::new();
        walk_table(doc.get_ref(), offset, &mut segs);
        render_path(&segs)
    }

    /// An error at `field` (a dotted path like `target.cov[1]`): located at the value if present,
    /// else at the nearest enclosing table or array that is present.
    pub fn error(&self, field: &str, message: impl Into<String>) -> ConfigError {
        let segs = parse_path(field);
        let (line, column) = match DeTable::parse(&self.text) {
            Ok(doc) => {
                let mut span = None;
                let mut cur: Option<&DeValue<'_>> = None;
                let mut table = Some(doc.get_ref());
                for seg in &segs {
                    let next = match (seg, table, cur) {
                        (Seg::Key(k), Some(t), _) => t.get(k.as_str()),
                        (Seg::Index(i), None, Some(DeValue::Array(a))) => a.get(*i),
                        _ => None,
                    };
                    let Some(v) = next else { break };
                    span = Some(v.span());
                    cur = Some(v.get_ref());
                    table = match v.get_ref() {
                        DeValue::Table(t) => Some(t),
                        _ => None,
                    };
                }
                span.map(|s| self.line_col(s.start)).unwrap_or((0, 0))
            }
            Err(_) => (0, 0),
        };
        ConfigError {
            file: self.file(),
            line,
            column,
            field: field.to_string(),
            message: message.into(),
        }
    }

    /// Whether a dotted path is present in the file.
    #[cfg(test)]
    pub fn has(&self, field: &str) -> bool {
        let Ok(doc) = DeTable::parse(&self.text) else {
            return false;
        };
        let mut table = Some(doc.get_ref());
        let mut cur: Option<&DeValue<'_>> = None;
        for seg in parse_path(field) {
            let next = match (&seg, table, cur) {
                (Seg::Key(k), Some(t), _) => t.get(k.as_str()),
                (Seg::Index(i), None, Some(DeValue::Array(a))) => a.get(*i),
                _ => None,
            };
            let Some(v) = next else { return false };
            cur = Some(v.get_ref());
            table = match v.get_ref() {
                DeValue::Table(t) => Some(t),
                _ => None,
            };
        }
        true
    }
}

/// Find the innermost key or array element containing `offset`. Table spans in the document tree
/// cover only their `[header]`, so tables are searched by their children, not by their own span.
fn walk_table(t: &DeTable<'_>, offset: usize, segs: &mut Vec<Seg>) -> bool {
    for (k, v) in t.iter() {
        let key = Seg::Key(k.get_ref().to_string());
        if k.span().contains(&offset) {
            segs.push(key);
            return true;
        }
        let mut inner = Vec::new();
        if walk_value(v, offset, &mut inner) {
            segs.push(key);
            segs.extend(inner);
            return true;
        }
    }
    false
}

fn walk_value(v: &toml::Spanned<DeValue<'_>>, offset: usize, segs: &mut Vec<Seg>) -> bool {
    match v.get_ref() {
        DeValue::Table(t) => walk_table(t, offset, segs) || v.span().contains(&offset),
        DeValue::Array(a) => {
            for (i, item) in a.iter().enumerate() {
                let mut inner = Vec::new();
                if walk_value(item, offset, &mut inner) {
                    segs.push(Seg::Index(i));
                    segs.extend(inner);
                    return true;
                }
            }
            v.span().contains(&offset)
        }
        _ => v.span().contains(&offset),
    }
}

/// A row of numbers written either as one number (a 1-D row) or as an array of numbers.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(transparent)]
pub struct Row(pub Vec<f64>);

impl<'de> Deserialize<'de> for Row {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Row;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a number or an array of numbers")
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Row, E> {
                Ok(Row(vec![v]))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Row, E> {
                Ok(Row(vec![v as f64]))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Row, E> {
                Ok(Row(vec![v as f64]))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Row, A::Error> {
                let mut out = Vec::new();
                while let Some(x) = seq.next_element::<f64>()? {
                    out.push(x);
                }
                Ok(Row(out))
            }
        }
        d.deserialize_any(V)
    }
}

/// Check that a list is not empty.
pub fn nonempty<T>(src: &Source, field: &str, v: &[T]) -> Result<(), ConfigError> {
    if v.is_empty() {
        Err(src.error(field, "must not be empty"))
    } else {
        Ok(())
    }
}

/// Check that every value is finite.
pub fn finite(src: &Source, field: &str, v: &[f64]) -> Result<(), ConfigError> {
    match v.iter().position(|x| !x.is_finite()) {
        Some(i) => Err(src.error(
            &format!("{field}[{i}]"),
            format!("{} is not a finite number", v[i]),
        )),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct T {
        a: A,
    }
    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct A {
        x: f64,
        #[serde(default)]
        rows: Vec<Row>,
    }

    #[test]
    fn paths_round_trip() {
        let p = parse_path("target.cov[1][0].x");
        assert_eq!(render_path(&p), "target.cov[1][0].x");
    }

    #[test]
    fn unknown_field_is_located() {
        let s = Source::from_str("c.toml", "[a]\nx = 1.0\ny = 2\n");
        let e = s.parse::<T>().unwrap_err();
        assert_eq!((e.line, e.column), (3, 1), "{e}");
        assert!(e.message.contains("unknown field `y`"), "{e}");
        assert!(
            e.message.contains("`x`") && e.message.contains("`rows`"),
            "{e}"
        );
        assert_eq!(e.field, "a.y");
    }

    #[test]
    fn wrong_type_is_located() {
        let s = Source::from_str("c.toml", "[a]\nx = \"one\"\n");
        let e = s.parse::<T>().unwrap_err();
        assert_eq!((e.line, e.column), (2, 5), "{e}");
        assert_eq!(e.field, "a.x");
        assert!(e.message.contains("expected f64"), "{e}");
    }

    #[test]
    fn rows_accept_numbers_and_arrays_and_locate_bad_entries() {
        let s = Source::from_str("c.toml", "[a]\nx = 1\nrows = [1.0, [2.0, 3.0], \"z\"]\n");
        let e = s.parse::<T>().unwrap_err();
        assert_eq!(e.field, "a.rows[2]", "{e}");
        assert!(e.message.contains("a number or an array of numbers"), "{e}");
        let ok = Source::from_str("c.toml", "[a]\nx = 1\nrows = [1.0, [2.0, 3.0]]\n");
        let t: T = ok.parse().unwrap();
        assert_eq!(t.a.rows, vec![Row(vec![1.0]), Row(vec![2.0, 3.0])]);
    }

    #[test]
    fn semantic_errors_point_at_the_value() {
        let s = Source::from_str("c.toml", "[a]\nx = 1\nrows = [1.0, [2.0, 3.0]]\n");
        let e = s.error("a.rows[1]", "bad");
        assert_eq!((e.line, e.column), (3, 14), "{e}");
        let e = s.error("a.missing", "needed");
        assert_eq!((e.line, e.column), (1, 1), "{e}");
        assert!(s.has("a.rows[1]") && !s.has("a.rows[2]") && !s.has("b"));
    }

    #[test]
    fn syntax_errors_have_a_position() {
        let s = Source::from_str("c.toml", "[a]\nx = = 1\n");
        let e = s.parse::<T>().unwrap_err();
        assert_eq!(e.line, 2, "{e}");
        assert!(e.column > 0);
    }
}
