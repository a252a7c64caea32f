//! Grey-scale image grids written as PNG (zlib through flate2; no image crate needed).

use crate::error::{ComposeError, Result};
use crate::idx::{PIXELS, SIDE};
use std::io::Write;
use std::path::Path;

fn crc32(bytes: &[u8]) -> u32 {
    let mut c = 0xffff_ffffu32;
    for &b in bytes {
        c ^= b as u32;
        for _ in 0..8 {
            c = if c & 1 != 0 {
                0xedb8_8320 ^ (c >> 1)
            } else {
                c >> 1
            };
        }
    }
    !c
}

/// Encode an 8-bit grey-scale image (`width x height`, row-major) as PNG bytes.
pub fn png_gray(width: usize, height: usize, pixels: &[u8]) -> Result<Vec<u8>> {
    if pixels.len() != width * height {
        return Err(ComposeError::Shape {
            what: "png pixels",
            expected: (width * height).to_string(),
            got: pixels.len().to_string(),
        });
    }
    let mut raw = Vec::with_capacity((width + 1) * height);
    for row in pixels.chunks(width) {
        raw.push(0); // filter: none
        raw.extend_from_slice(row);
    }
    let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    let io = |source| ComposeError::Io {
        path: "<png>".into(),
        source,
        hint: String::new(),
    };
    z.write_all(&raw).map_err(io)?;
    let idat = z.finish().map_err(io)?;
    let mut out = vec![0x89, b'P', b'N', b'G', 0x0d, 0x0a, 0x1a, 0x0a];
    let mut chunk = |kind: &[u8; 4], data: &[u8]| {
        out.extend_from_slice(&(data.len() as u32).to_be_bytes());
        let mut c = kind.to_vec();
        c.extend_from_slice(data);
        out.extend_from_slice(&c);
        out.extend_from_slice(&crc32(&c).to_be_bytes());
    };
    let mut ihdr = Vec::new();
    ihdr.extend_from_slice(&(width as u32).to_be_bytes());
    ihdr.extend_from_slice(&(height as u32).to_be_bytes());
    ihdr.extend_from_slice(&[8, 0, 0, 0, 0]); // 8 bit, grey, deflate, adaptive filter, no interlace
    chunk(b"IHDR", &ihdr);
    chunk(b"IDAT", &idat);
    chunk(b"IEND", &[]);
    Ok(out)
}

/// Tile images in `[-1, 1]` (`n x 784`) into a grid of `cols` columns (1-pixel gaps) and write a PNG.
pub fn save_grid(path: &Path, images: &[f32], cols: usize) -> Result<()> {
    let n = images.len() / PIXELS;
    let cols = cols.clamp(1, n.max(1));
    let rows = n.div_ceil(cols).max(1);
    let (w, h) = (cols * (SIDE + 1) + 1, rows * (SIDE + 1) + 1);
    let mut px = vec![128u8; w * h];
    for k in 0..n {
        let (r0, c0) = ((k / cols) * (SIDE + 1) + 1, (k % cols) * (SIDE + 1) + 1);
        for i in 0..SIDE {
            for j in 0..SIDE {
                let v = images[k * PIXELS + i * SIDE + j];
                px[(r0 + i) * w + c0 + j] = ((v.clamp(-1.0, 1.0) + 1.0) * 127.5).round() as u8;
            }
        }
    }
    let bytes = png_gray(w, h, &px)?;
    let tmp = path.with_extension("png.tmp");
    std::fs::write(&tmp, bytes)
        .and_then(|_| std::fs::rename(&tmp, path))
        .map_err(|source| ComposeError::Io {
            path: path.to_path_buf(),
            source,
            hint: String::new(),
        })
}

#[cfg(test)]
mod tests {
    #[test]
    fn crc_of_known_string() {
        assert_eq!(super::crc32(b"123456789"), 0xcbf4_3926);
        assert!(super::png_gray(2, 2, &[0, 1, 2]).is_err());
    }
}
