//! Small image datasets for the generative priors: MNIST-style stacks of `N` gray images
//! `H x W` with intensities in `[0, 1]`.
//!
//! Read from a NumPy `.npy` array `[N, H, W]` (uint8 values are divided by 255; float data
//! is taken as stored and must lie in `[0, 1]`) or from the IDX files of the MNIST family
//! (`*-images-idx3-ubyte`, optionally gzip-compressed, as Debian's `dataset-fashion-mnist`
//! installs them under `/usr/share/datasets/fashion-mnist/`).

use std::io::Read;
use std::path::Path;

use ndarray::{Array2, ArrayD, Axis, IxDyn};
use posterior::{Error, Result};

/// The held-out MNIST test digits bundled with the project (`data/digits/mnist_test1k.npy`,
/// 1000 images, 100 per class in class order; never used in training), compiled into the
/// binary for demos and examples.
pub fn bundled_mnist_test() -> Result<ImageStack> {
    const BYTES: &[u8] = include_bytes!("../../../../data/digits/mnist_test1k.npy");
    let a = match posterior::io::decode_npy(BYTES)? {
        posterior::io::AnyArray::Real(a) => a,
        posterior::io::AnyArray::Complex(_) => unreachable!("the bundled file is uint8"),
    };
    ImageStack::new(
        "mnist_test1k.npy".into(),
        1000,
        28,
        28,
        a.iter().map(|v| v / 255.0).collect(),
    )
}

/// A stack of equally sized gray images, row-major, `[n, height, width]`.
#[derive(Clone, Debug, PartialEq)]
pub struct ImageStack {
    /// Where it came from (file name), for manifests and reports.
    pub origin: String,
    /// Number of images.
    pub n: usize,
    /// Image height.
    pub height: usize,
    /// Image width.
    pub width: usize,
    /// `n * height * width` values in `[0, 1]`.
    pub data: Vec<f32>,
}

fn format_error(path: &Path, reason: impl Into<String>) -> Error {
    Error::Format {
        path: path.to_path_buf(),
        reason: reason.into(),
    }
}

impl ImageStack {
    /// Content fingerprint: sha256 of the stack's shape `[n, height, width]` and values
    /// ([`crate::weights::fingerprint_f32`]).
    pub fn fingerprint(&self) -> String {
        crate::weights::fingerprint_f32([(
            &[self.n, self.height, self.width][..],
            self.data.as_slice(),
        )])
    }

    /// Read `.npy` or IDX (`.gz` allowed) images.
    pub fn load(path: &Path) -> Result<Self> {
        let name = path
            .file_name()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        let lower = name.to_ascii_lowercase();
        if lower.ends_with(".npy") {
            // Read once: the header tells uint8 (scaled to [0, 1]) from float data.
            let bytes = std::fs::read(path).map_err(|e| Error::Io {
                path: path.to_path_buf(),
                reason: e.to_string(),
            })?;
            let a = match posterior::io::decode_npy(&bytes)
                .map_err(|e| format_error(path, e.to_string()))?
            {
                posterior::io::AnyArray::Real(a) => a,
                posterior::io::AnyArray::Complex(_) => {
                    return Err(format_error(
                        path,
                        "holds complex data; images must be real",
                    ));
                }
            };
            if a.ndim() != 3 {
                return Err(format_error(
                    path,
                    format!(
                        "expected an image stack [N, H, W], found shape {:?}",
                        a.shape()
                    ),
                ));
            }
            let is_u8 = posterior::io::npy_stores_uint8(&bytes);
            let scale = if is_u8 { 1.0 / 255.0 } else { 1.0 };
            let (n, h, w) = (a.shape()[0], a.shape()[1], a.shape()[2]);
            let data: Vec<f32> = a.iter().map(|&v| v * scale).collect();
            Self::new(name, n, h, w, data).map_err(|e| format_error(path, e.to_string()))
        } else if lower.contains("idx3") {
            let raw = std::fs::read(path).map_err(|e| Error::Io {
                path: path.to_path_buf(),
                reason: e.to_string(),
            })?;
            let bytes = if lower.ends_with(".gz") {
                let mut out = Vec::new();
                flate2::read::GzDecoder::new(&raw[..])
                    .read_to_end(&mut out)
                    .map_err(|e| format_error(path, format!("not a valid gzip file: {e}")))?;
                out
            } else {
                raw
            };
            Self::from_idx(name, &bytes).map_err(|e| format_error(path, e))
        } else {
            Err(format_error(
                path,
                "unsupported image-stack file: use a .npy array [N, H, W] or an MNIST IDX file \
                 (*-idx3-ubyte, optionally .gz)",
            ))
        }
    }

    /// Parse IDX3 bytes (magic `0x00000803`, big-endian dimensions, then `u8` pixels).
    pub fn from_idx(origin: String, bytes: &[u8]) -> std::result::Result<Self, String> {
        if bytes.len() < 16 {
            return Err("truncated IDX header".into());
        }
        let be =
            |i: usize| u32::from_be_bytes([bytes[i], bytes[i + 1], bytes[i + 2], bytes[i + 3]]);
        if be(0) != 0x0803 {
            return Err(format!(
                "not an IDX3 image file (magic {:#010x}, expected 0x00000803)",
                be(0)
            ));
        }
        let (n, h, w) = (be(4) as usize, be(8) as usize, be(12) as usize);
        let need = n
            .checked_mul(h)
            .and_then(|v| v.checked_mul(w))
            .ok_or("IDX dimensions overflow")?;
        if bytes.len() != 16 + need {
            return Err(format!(
                "IDX file of {n} images {h}x{w} needs {} bytes, holds {}",
                16 + need,
                bytes.len()
            ));
        }
        let data = bytes[16..].iter().map(|&b| b as f32 / 255.0).collect();
        Self::new(origin, n, h, w, data).map_err(|e| e.to_string())
    }

    /// A stack from values; checks the size, finiteness and the `[0, 1]` range.
    pub fn new(
        origin: String,
        n: usize,
        height: usize,
        width: usize,
        data: Vec<f32>,
    ) -> Result<Self> {
        if n == 0 || height == 0 || width == 0 || data.len() != n * height * width {
            return Err(Error::param(
                "images",
                format!(
                    "{} values do not make {n} images {height}x{width} (none may be empty)",
                    data.len()
                ),
            ));
        }
        if let Some(i) = data.iter().position(|v| !(0.0..=1.0).contains(v)) {
            return Err(Error::param(
                "images",
                format!(
                    "value {} at index {i} is outside [0, 1] (uint8 data is scaled by 1/255; \
                     float data must already be in [0, 1])",
                    data[i]
                ),
            ));
        }
        Ok(Self {
            origin,
            n,
            height,
            width,
            data,
        })
    }

    /// Pixels per image.
    pub fn pixels(&self) -> usize {
        self.height * self.width
    }

    /// The first `count` images (all if fewer).
    pub fn head(&self, count: usize) -> Self {
        let n = count.min(self.n);
        Self {
            origin: format!("{} (first {n})", self.origin),
            n,
            data: self.data[..n * self.pixels()].to_vec(),
            ..self.clone()
        }
    }

    /// The images at `indices`, flattened into one batch `[indices.len() * pixels]`.
    pub fn gather(&self, indices: &[usize]) -> Vec<f32> {
        let p = self.pixels();
        let mut out = Vec::with_capacity(indices.len() * p);
        for &i in indices {
            out.extend_from_slice(&self.data[i * p..(i + 1) * p]);
        }
        out
    }

    /// Image `i` as an `[H, W]` array.
    pub fn image(&self, i: usize) -> ArrayD<f32> {
        let p = self.pixels();
        ArrayD::from_shape_vec(
            IxDyn(&[self.height, self.width]),
            self.data[i * p..(i + 1) * p].to_vec(),
        )
        .expect("sizes checked at construction")
    }

    /// The stack as an `[n, pixels]` matrix.
    pub fn matrix(&self) -> Array2<f32> {
        Array2::from_shape_vec((self.n, self.pixels()), self.data.clone())
            .expect("sizes checked at construction")
    }
}

/// Tile images `[B, H, W]` (values in `[0, 1]`) into one grid image with `cols` columns and a
/// one-pixel gap of value `gap`.
pub fn grid(images: &ArrayD<f32>, cols: usize, gap: f32) -> Result<ArrayD<f32>> {
    if images.ndim() != 3 || images.shape()[0] == 0 || cols == 0 {
        return Err(Error::param(
            "grid",
            format!(
                "need a non-empty stack [B, H, W] and cols >= 1, got {:?}",
                images.shape()
            ),
        ));
    }
    let (b, h, w) = (images.shape()[0], images.shape()[1], images.shape()[2]);
    let cols = cols.min(b);
    let rows = b.div_ceil(cols);
    let (gh, gw) = (rows * (h + 1) + 1, cols * (w + 1) + 1);
    let mut out = ArrayD::from_elem(IxDyn(&[gh, gw]), gap);
    for (k, im) in images.axis_iter(Axis(0)).enumerate() {
        let (r, c) = (k / cols, k % cols);
        for i in 0..h {
            for j in 0..w {
                out[[1 + r * (h + 1) + i, 1 + c * (w + 1) + j]] = im[[i, j]].clamp(0.0, 1.0);
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn idx_round_trip_and_errors() {
        let mut b = vec![0u8, 0, 8, 3, 0, 0, 0, 2, 0, 0, 0, 2, 0, 0, 0, 3];
        b.extend([0, 51, 102, 153, 204, 255, 0, 0, 0, 0, 0, 255]);
        let s = ImageStack::from_idx("t".into(), &b).unwrap();
        assert_eq!((s.n, s.height, s.width), (2, 2, 3));
        assert!((s.data[1] - 0.2).abs() < 1e-6 && s.data[5] == 1.0);
        assert_eq!(s.gather(&[1]), vec![0.0, 0.0, 0.0, 0.0, 0.0, 1.0]);
        assert!(
            ImageStack::from_idx("t".into(), &b[..20])
                .unwrap_err()
                .contains("needs")
        );
        b[3] = 1;
        assert!(
            ImageStack::from_idx("t".into(), &b)
                .unwrap_err()
                .contains("magic")
        );
    }

    #[test]
    fn out_of_range_values_are_refused() {
        let e = ImageStack::new("t".into(), 1, 1, 2, vec![0.5, 3.0]).unwrap_err();
        assert!(e.to_string().contains("outside [0, 1]"), "{e}");
    }

    #[test]
    fn grid_places_tiles() {
        let ims = ArrayD::from_shape_fn(IxDyn(&[3, 2, 2]), |ix| ix[0] as f32 / 2.0);
        let g = grid(&ims, 2, 1.0).unwrap();
        assert_eq!(g.shape(), &[7, 7]);
        assert_eq!(g[[1, 1]], 0.0);
        assert_eq!(g[[1, 4]], 0.5);
        assert_eq!(g[[4, 1]], 1.0);
        assert_eq!(g[[0, 0]], 1.0);
    }
}
