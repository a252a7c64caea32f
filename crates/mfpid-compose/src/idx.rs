//! Reader for the IDX container format of MNIST (big-endian header, unsigned-byte payload),
//! optionally gzip-compressed, and the fixed train/test split of the shipped digits.

use crate::error::{ComposeError, IdxError, Result};
use std::io::Read;
use std::path::{Path, PathBuf};

/// A decoded IDX array of unsigned bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdxArray {
    /// Dimension sizes from the header, outermost first (e.g. `[n, 28, 28]`).
    pub dims: Vec<usize>,
    /// Row-major payload, `dims.iter().product()` bytes.
    pub data: Vec<u8>,
}

/// Parse an (uncompressed) IDX byte buffer.
///
/// Layout: magic `[0, 0, type, ndims]`, then `ndims` big-endian `u32` sizes, then the payload.
/// Only type `0x08` (unsigned byte) is accepted.
pub fn parse_idx(bytes: &[u8]) -> Result<IdxArray, IdxError> {
    if bytes.len() < 4 {
        return Err(IdxError::TruncatedHeader {
            needed: 4,
            len: bytes.len(),
        });
    }
    let magic = u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
    if bytes[0] != 0 || bytes[1] != 0 {
        return Err(IdxError::BadMagic { magic });
    }
    if bytes[2] != 0x08 {
        return Err(IdxError::UnsupportedType { code: bytes[2] });
    }
    let ndims = bytes[3] as usize;
    let header = 4 + 4 * ndims;
    if bytes.len() < header {
        return Err(IdxError::TruncatedHeader {
            needed: header,
            len: bytes.len(),
        });
    }
    let dims: Vec<usize> = (0..ndims)
        .map(|k| {
            let o = 4 + 4 * k;
            u32::from_be_bytes([bytes[o], bytes[o + 1], bytes[o + 2], bytes[o + 3]]) as usize
        })
        .collect();
    let expected = dims.iter().try_fold(1usize, |acc, &d| acc.checked_mul(d));
    let len = bytes.len() - header;
    match expected {
        Some(e) if e == len => Ok(IdxArray {
            dims,
            data: bytes[header..].to_vec(),
        }),
        _ => Err(IdxError::PayloadSize {
            dims,
            expected: expected.unwrap_or(usize::MAX),
            len,
        }),
    }
}

/// Read an IDX file; a name ending in `.gz` is gunzipped first.
///
/// `hint` is the remedy printed with any error (e.g. where to restore the file from).
pub fn read_idx(path: &Path, hint: &str) -> Result<IdxArray> {
    let io_err = |source| ComposeError::Io {
        path: path.to_path_buf(),
        source,
        hint: hint.to_string(),
    };
    let raw = std::fs::read(path).map_err(io_err)?;
    let bytes = if path.extension().is_some_and(|e| e == "gz") {
        let mut out = Vec::with_capacity(raw.len() * 4);
        flate2::read::GzDecoder::new(raw.as_slice())
            .read_to_end(&mut out)
            .map_err(io_err)?;
        out
    } else {
        raw
    };
    parse_idx(&bytes).map_err(|source| ComposeError::Idx {
        path: path.to_path_buf(),
        source,
        hint: hint.to_string(),
    })
}

/// Image side length of MNIST digits.
pub const SIDE: usize = 28;
/// Pixels per image (`28 * 28`).
pub const PIXELS: usize = SIDE * SIDE;

/// A set of MNIST digits.
#[derive(Debug, Clone, PartialEq)]
pub struct Mnist {
    /// Images, `n x 784` row-major, pixel bytes 0 (background) ..= 255 (ink).
    pub images: Vec<u8>,
    /// Labels `0..=9`, length `n`.
    pub labels: Vec<u8>,
}

/// Remedy printed when a shipped data file is missing or corrupt.
pub const DATA_HINT: &str =
    "git checkout the repository's data/mnist-10k/ (see data/mnist-10k/README.md for its provenance)";

impl Mnist {
    /// Default location of the shipped digits, relative to the workspace root.
    pub fn default_dir() -> PathBuf {
        crate::workspace_root().join("data").join("mnist-10k")
    }

    /// Load `images.idx3-ubyte.gz` and `labels.idx1-ubyte.gz` from `dir`, validating shapes and labels.
    pub fn load(dir: &Path) -> Result<Self> {
        let ip = dir.join("images.idx3-ubyte.gz");
        let lp = dir.join("labels.idx1-ubyte.gz");
        let images = read_idx(&ip, DATA_HINT)?;
        let labels = read_idx(&lp, DATA_HINT)?;
        let wrap = |path: &PathBuf, source| ComposeError::Idx {
            path: path.clone(),
            source,
            hint: DATA_HINT.into(),
        };
        Self::from_arrays(images, labels)
            .map_err(|(which, e)| wrap(if which { &ip } else { &lp }, e))
    }

    /// Validate decoded arrays; the error says whether the images (`true`) or labels file is at fault.
    fn from_arrays(
        images: IdxArray,
        labels: IdxArray,
    ) -> std::result::Result<Self, (bool, IdxError)> {
        if images.dims.len() != 3 || images.dims[1] != SIDE || images.dims[2] != SIDE {
            return Err((
                true,
                IdxError::Shape {
                    dims: images.dims,
                    expected: "[n, 28, 28]".into(),
                },
            ));
        }
        if labels.dims.len() != 1 {
            return Err((
                false,
                IdxError::Shape {
                    dims: labels.dims,
                    expected: "[n]".into(),
                },
            ));
        }
        if images.dims[0] != labels.dims[0] {
            return Err((
                false,
                IdxError::CountMismatch {
                    images: images.dims[0],
                    labels: labels.dims[0],
                },
            ));
        }
        if let Some((index, &label)) = labels.data.iter().enumerate().find(|(_, &l)| l > 9) {
            return Err((false, IdxError::BadLabel { label, index }));
        }
        Ok(Self {
            images: images.data,
            labels: labels.data,
        })
    }

    /// Number of digits.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// True when the set holds no digit.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// Image `i` as 784 bytes.
    pub fn image(&self, i: usize) -> &[u8] {
        &self.images[i * PIXELS..(i + 1) * PIXELS]
    }

    /// The fixed split: the first `n - n_test` digits train, the last `n_test` test.
    ///
    /// The shipped order is already shuffled once with a fixed seed (every prefix holds every
    /// class), so a contiguous split is a fixed random split.
    pub fn split(&self, n_test: usize) -> Result<(Mnist, Mnist)> {
        if n_test == 0 || n_test >= self.len() {
            return Err(crate::error::invalid(
                "n_test",
                n_test,
                "must be in 1..n (number of digits)",
            ));
        }
        let cut = self.len() - n_test;
        let train = Mnist {
            images: self.images[..cut * PIXELS].to_vec(),
            labels: self.labels[..cut].to_vec(),
        };
        let test = Mnist {
            images: self.images[cut * PIXELS..].to_vec(),
            labels: self.labels[cut..].to_vec(),
        };
        Ok((train, test))
    }

    /// Images scaled to `[-1, 1]` (`2 * byte / 255 - 1`) as `f32`, `n x 784` (the diffusion data space).
    pub fn images_pm1(&self) -> Vec<f32> {
        self.images
            .iter()
            .map(|&b| b as f32 / 127.5 - 1.0)
            .collect()
    }

    /// Indices of the digits with label `digit`.
    pub fn indices_of(&self, digit: u8) -> Vec<usize> {
        self.labels
            .iter()
            .enumerate()
            .filter(|(_, &l)| l == digit)
            .map(|(i, _)| i)
            .collect()
    }
}

/// Size of the test split of the shipped 10,000 digits.
pub const N_TEST: usize = 1000;

#[cfg(test)]
mod tests {
    use super::*;

    fn idx_bytes(type_code: u8, dims: &[u32], payload: &[u8]) -> Vec<u8> {
        let mut v = vec![0, 0, type_code, dims.len() as u8];
        for d in dims {
            v.extend_from_slice(&d.to_be_bytes());
        }
        v.extend_from_slice(payload);
        v
    }

    #[test]
    fn parses_small_synthetic_file() {
        let b = idx_bytes(8, &[2, 3], &[1, 2, 3, 4, 5, 6]);
        let a = parse_idx(&b).unwrap();
        assert_eq!(a.dims, vec![2, 3]);
        assert_eq!(a.data, vec![1, 2, 3, 4, 5, 6]);
    }

    #[test]
    fn typed_errors_for_malformed_files() {
        assert_eq!(
            parse_idx(&[0, 0]),
            Err(IdxError::TruncatedHeader { needed: 4, len: 2 })
        );
        assert!(matches!(
            parse_idx(&[1, 0, 8, 1, 0, 0, 0, 0]),
            Err(IdxError::BadMagic { .. })
        ));
        assert_eq!(
            parse_idx(&idx_bytes(0x0D, &[1], &[0])),
            Err(IdxError::UnsupportedType { code: 0x0D })
        );
        // header announces 3 dims but holds 1
        assert_eq!(
            parse_idx(&[0, 0, 8, 3, 0, 0, 0, 1]),
            Err(IdxError::TruncatedHeader { needed: 16, len: 8 })
        );
        // truncated payload
        let b = idx_bytes(8, &[2, 3], &[1, 2, 3, 4, 5]);
        assert_eq!(
            parse_idx(&b),
            Err(IdxError::PayloadSize {
                dims: vec![2, 3],
                expected: 6,
                len: 5
            })
        );
        // trailing garbage
        let b = idx_bytes(8, &[2], &[1, 2, 3]);
        assert!(matches!(parse_idx(&b), Err(IdxError::PayloadSize { .. })));
        // overflowing dimensions
        let b = idx_bytes(8, &[u32::MAX, u32::MAX, u32::MAX], &[]);
        assert!(matches!(parse_idx(&b), Err(IdxError::PayloadSize { .. })));
    }

    #[test]
    fn mnist_validation_and_file_errors() {
        let dir = std::env::temp_dir().join(format!("mfpid-compose-idx-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let write_gz = |name: &str, bytes: &[u8]| {
            use std::io::Write;
            let f = std::fs::File::create(dir.join(name)).unwrap();
            let mut e = flate2::write::GzEncoder::new(f, flate2::Compression::fast());
            e.write_all(bytes).unwrap();
            e.finish().unwrap();
        };
        // missing file: error names the file
        let err = Mnist::load(&dir).unwrap_err().to_string();
        assert!(
            err.contains("images.idx3-ubyte.gz") && err.contains("regenerate with"),
            "{err}"
        );
        // two valid 28x28 images, labels with a bad value
        write_gz(
            "images.idx3-ubyte.gz",
            &idx_bytes(8, &[2, 28, 28], &[7u8; 2 * 784]),
        );
        write_gz("labels.idx1-ubyte.gz", &idx_bytes(8, &[2], &[3, 11]));
        let err = Mnist::load(&dir).unwrap_err();
        assert!(matches!(
            err,
            ComposeError::Idx {
                source: IdxError::BadLabel {
                    label: 11,
                    index: 1
                },
                ..
            }
        ));
        assert!(err.to_string().contains("labels.idx1-ubyte.gz"));
        write_gz("labels.idx1-ubyte.gz", &idx_bytes(8, &[3], &[3, 1, 2]));
        assert!(matches!(
            Mnist::load(&dir),
            Err(ComposeError::Idx {
                source: IdxError::CountMismatch { .. },
                ..
            })
        ));
        write_gz("labels.idx1-ubyte.gz", &idx_bytes(8, &[2], &[3, 1]));
        let m = Mnist::load(&dir).unwrap();
        assert_eq!(m.len(), 2);
        assert_eq!(m.image(1)[5], 7);
        // corrupt gzip stream
        std::fs::write(dir.join("images.idx3-ubyte.gz"), b"\x1f\x8b\x08garbage").unwrap();
        let err = Mnist::load(&dir).unwrap_err();
        assert!(matches!(err, ComposeError::Io { .. }), "{err}");
        // wrong image shape
        write_gz(
            "images.idx3-ubyte.gz",
            &idx_bytes(8, &[2, 27, 28], &[7u8; 2 * 27 * 28]),
        );
        assert!(matches!(
            Mnist::load(&dir),
            Err(ComposeError::Idx {
                source: IdxError::Shape { .. },
                ..
            })
        ));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn shipped_digits_and_fixed_split() {
        let m = Mnist::load(&Mnist::default_dir()).unwrap();
        assert_eq!(m.len(), 10_000);
        let counts = (0..10u8).map(|d| m.indices_of(d).len()).collect::<Vec<_>>();
        assert_eq!(
            counts,
            vec![1001, 1127, 991, 1032, 980, 863, 1014, 1070, 944, 978]
        );
        let (train, test) = m.split(N_TEST).unwrap();
        assert_eq!((train.len(), test.len()), (9000, 1000));
        assert_eq!(test.image(0), m.image(9000));
        for d in 0..10u8 {
            assert!(
                !test.indices_of(d).is_empty(),
                "digit {d} missing from test split"
            );
        }
        assert!(m.split(0).is_err() && m.split(10_000).is_err());
    }
}
