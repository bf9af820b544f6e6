//! Reading and writing images and arrays: PNG (8/16-bit gray or RGB) and NumPy `.npy`
//! (float32, float64, complex64, complex128; uint8 on reading).
//!
//! Conventions: images are `[H, W]` (gray) or `[3, H, W]` (RGB, channel-first) `f32`
//! arrays with intensities in `[0, 1]`; PNG samples are divided by their full scale
//! (255 or 65535) on reading and clipped to `[0, 1]` then rounded on writing. `.npy` data
//! is returned as stored (float64 and complex128 narrowed to single precision).
//!
//! Every write is atomic ([`atomic_write`]): the file is written to a temporary file in
//! the target's directory and renamed over the target only once complete, so a crash or
//! an error never leaves a half-written file under the final name.
//!
//! Errors: [`Error::Io`] when a file cannot be opened, read or written; [`Error::Format`]
//! when its content is malformed or of an unsupported kind (the message says which and
//! what to do instead).

mod npy;
mod png;

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use ndarray::{ArrayD, ArrayViewD};

use crate::error::{Error, Result};
use crate::scalar::{Scalar, c32};

/// An array read from or written to disk: real (images, sinograms) or complex (k-space).
#[derive(Debug, Clone, PartialEq)]
pub enum AnyArray {
    /// Real single-precision data.
    Real(ArrayD<f32>),
    /// Complex single-precision data.
    Complex(ArrayD<c32>),
}

impl AnyArray {
    /// The array's shape.
    pub fn shape(&self) -> &[usize] {
        match self {
            AnyArray::Real(a) => a.shape(),
            AnyArray::Complex(a) => a.shape(),
        }
    }

    /// Whether the data is complex.
    pub fn is_complex(&self) -> bool {
        matches!(self, AnyArray::Complex(_))
    }

    /// The element type's name: `float32` or `complex64`.
    pub fn dtype_name(&self) -> &'static str {
        match self {
            AnyArray::Real(_) => f32::NAME,
            AnyArray::Complex(_) => c32::NAME,
        }
    }
}

/// The lower-cased extension of `path`, if any.
pub fn extension(path: &Path) -> Option<String> {
    path.extension()
        .and_then(|e| e.to_str())
        .map(|e| e.to_ascii_lowercase())
}

fn unknown_extension(path: &Path) -> Error {
    Error::Format {
        path: path.to_path_buf(),
        reason: format!(
            "unsupported file type `{}`; use .png or .npy",
            extension(path).map_or_else(|| "(no extension)".to_string(), |e| format!(".{e}"))
        ),
    }
}

fn read_bytes(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|e| Error::Io {
        path: path.to_path_buf(),
        reason: format!("cannot read: {e}"),
    })
}

/// Decode a `.npy` file held in memory (e.g. data compiled into a binary).
pub fn decode_npy(bytes: &[u8]) -> Result<AnyArray> {
    npy::decode(bytes).map_err(|reason| Error::Format {
        path: PathBuf::from("(in memory .npy)"),
        reason,
    })
}

/// Decode PNG bytes held in memory (used for the bundled images).
pub(crate) fn decode_png(bytes: &[u8], path: &Path) -> Result<ArrayD<f32>> {
    png::decode(bytes).map_err(|reason| Error::Format {
        path: path.to_path_buf(),
        reason,
    })
}

/// Whether `bytes` (the contents of a `.npy` file) declare `uint8` data (`|u1` or `<u1`);
/// false for anything else, including an unreadable header.
pub fn npy_stores_uint8(bytes: &[u8]) -> bool {
    npy::parse_header(bytes).is_ok_and(|h| h.dtype == npy::Dtype::U8)
}

/// Read an image: a PNG or a real `.npy` array, as `f32`.
///
/// * PNG, 8 or 16 bits: gray (with or without alpha) -> `[H, W]`; RGB, RGBA and palette
///   images -> `[3, H, W]`. Samples are divided by 255 or 65535, so values lie in
///   `[0, 1]`; alpha is dropped (not composited).
/// * `.npy` of `float32` or `float64` with 2 (`[H, W]`) or 3 (`[C, H, W]`) axes, values
///   as stored (not rescaled; float64 is rounded to float32); `uint8` is divided by 255,
///   like an 8-bit PNG (`np.save` of an 8-bit image reads as that image). Complex data is
///   refused: use [`read_array`].
///
/// Non-finite values in a `.npy` are returned as they are; see [`check_finite`].
pub fn read_image(path: impl AsRef<Path>) -> Result<ArrayD<f32>> {
    let path = path.as_ref();
    let array = if extension(path).as_deref() == Some("npy") {
        let bytes = read_bytes(path)?;
        let bytes8 = npy_stores_uint8(&bytes);
        let decoded = npy::decode(&bytes).map_err(|reason| Error::Format {
            path: path.to_path_buf(),
            reason,
        })?;
        match decoded {
            AnyArray::Real(a) if bytes8 => AnyArray::Real(a.mapv(|v| v / 255.0)),
            other => other,
        }
    } else {
        read_array(path)?
    };
    match array {
        AnyArray::Real(a) if matches!(a.ndim(), 2 | 3) => Ok(a),
        AnyArray::Real(a) => Err(Error::Format {
            path: path.to_path_buf(),
            reason: format!(
                "an image needs 2 axes [H, W] or 3 axes [C, H, W], this array has shape {:?}",
                a.shape()
            ),
        }),
        AnyArray::Complex(a) => Err(Error::Format {
            path: path.to_path_buf(),
            reason: format!(
                "holds complex data of shape {:?}; an image must be real (take the magnitude \
                 or real part first, or read it with read_array)",
                a.shape()
            ),
        }),
    }
}

/// Read an array: a `.npy` of uint8/float32/float64 (-> [`AnyArray::Real`]; bytes keep their
/// values 0..=255) or
/// complex64/complex128 (-> [`AnyArray::Complex`]), any number of axes, or a PNG
/// (-> `Real`, as [`read_image`] decodes it).
pub fn read_array(path: impl AsRef<Path>) -> Result<AnyArray> {
    let path = path.as_ref();
    match extension(path).as_deref() {
        Some("npy") => npy::read(path),
        Some("png") => {
            let bytes = read_bytes(path)?;
            decode_png(&bytes, path).map(AnyArray::Real)
        }
        _ => Err(unknown_extension(path)),
    }
}

/// Write an image as PNG with `bits` = 8 or 16 bits per sample.
///
/// `image` is `[H, W]` or `[1, H, W]` (written as gray) or `[3, H, W]` (written as RGB).
/// Values are clipped to `[0, 1]`, multiplied by 255 or 65535 and rounded to the nearest
/// integer, so reading the file back returns every in-range value to within half a
/// quantization step. Non-finite values are refused ([`Error::NonFinite`]).
pub fn write_png(path: impl AsRef<Path>, image: &ArrayViewD<f32>, bits: u8) -> Result<()> {
    let path = path.as_ref();
    if bits != 8 && bits != 16 {
        return Err(Error::param(
            "bits",
            format!("PNG depth must be 8 or 16, got {bits}"),
        ));
    }
    match *image.shape() {
        [h, w] | [1, h, w] | [3, h, w] if h > 0 && w > 0 => {
            if h > u32::MAX as usize || w > u32::MAX as usize {
                return Err(Error::param("image", "too large for PNG"));
            }
        }
        _ => {
            return Err(Error::param(
                "image",
                format!(
                    "PNG needs shape [H, W], [1, H, W] or [3, H, W] with positive sizes, got {:?}",
                    image.shape()
                ),
            ));
        }
    }
    check_finite(
        &format!("image written to {}", path.display()),
        image.view(),
    )?;
    atomic_write(path, |w| {
        png::encode(w, image, bits).map_err(|e| std::io::Error::other(e.to_string()))
    })
}

/// Write a real array as a `.npy` file (`float32`, C order, format version 1.0).
pub fn write_npy_real(path: impl AsRef<Path>, array: &ArrayViewD<f32>) -> Result<()> {
    atomic_write(path.as_ref(), |w| npy::write_real(w, array))
}

/// Write a complex array as a `.npy` file (`complex64`, C order, format version 1.0).
pub fn write_npy_complex(path: impl AsRef<Path>, array: &ArrayViewD<c32>) -> Result<()> {
    atomic_write(path.as_ref(), |w| npy::write_complex(w, array))
}

/// Write an array, choosing the format from the extension: `.npy` for real or complex
/// data, `.png` (8-bit) for real images. Complex data cannot be written as PNG.
pub fn write_array(path: impl AsRef<Path>, array: &AnyArray) -> Result<()> {
    let path = path.as_ref();
    match (extension(path).as_deref(), array) {
        (Some("npy"), AnyArray::Real(a)) => write_npy_real(path, &a.view()),
        (Some("npy"), AnyArray::Complex(a)) => write_npy_complex(path, &a.view()),
        (Some("png"), AnyArray::Real(a)) => write_png(path, &a.view(), 8),
        (Some("png"), AnyArray::Complex(_)) => Err(Error::Format {
            path: path.to_path_buf(),
            reason: "complex data cannot be stored as PNG; save it as .npy, or write its \
                     magnitude (|z|, rescaled to [0, 1]) as the image"
                .into(),
        }),
        _ => Err(unknown_extension(path)),
    }
}

static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// Write a file atomically: `write` fills a temporary file created next to `path` (same
/// directory, so the rename stays on one file system); on success the data is flushed,
/// synced and the temporary file renamed to `path`, replacing any previous file. On any
/// failure the temporary file is removed and the previous content of `path` (if any) is
/// left untouched. Errors are reported as [`Error::Io`] naming `path`.
pub fn atomic_write<F>(path: &Path, write: F) -> Result<()>
where
    F: FnOnce(&mut BufWriter<File>) -> std::io::Result<()>,
{
    let io_err = |what: &str, e: std::io::Error| Error::Io {
        path: path.to_path_buf(),
        reason: format!("{what}: {e}"),
    };
    let Some(name) = path.file_name() else {
        return Err(Error::Io {
            path: path.to_path_buf(),
            reason: "not a file path".into(),
        });
    };
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let tmp = dir.join(format!(
        ".{}.{}-{}.tmp",
        name.to_string_lossy(),
        std::process::id(),
        TEMP_COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    let file = File::create(&tmp).map_err(|e| io_err("cannot create file", e))?;
    let mut w = BufWriter::new(file);
    let result = write(&mut w)
        .and_then(|()| w.flush())
        .map_err(|e| io_err("write failed", e))
        .and_then(|()| {
            w.get_ref()
                .sync_all()
                .map_err(|e| io_err("cannot sync to disk", e))
        });
    drop(w);
    let result = result.and_then(|()| {
        std::fs::rename(&tmp, path)
            .map_err(|e| io_err("cannot move the finished file into place", e))
    });
    if result.is_err() {
        // Best effort: the temporary file may not exist any more.
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// [`check_finite`] for either element type.
pub fn check_finite_any(name: &str, array: &AnyArray) -> Result<()> {
    match array {
        AnyArray::Real(a) => check_finite(name, a.view()),
        AnyArray::Complex(a) => check_finite(name, a.view()),
    }
}

/// Error with [`Error::NonFinite`] (and the number of offending entries) unless every
/// entry of `array` is finite; `name` says which input it is.
pub fn check_finite<T: Scalar>(name: &str, array: ArrayViewD<T>) -> Result<()> {
    let count = array.iter().filter(|x| !x.is_finite()).count();
    if count == 0 {
        Ok(())
    } else {
        Err(Error::NonFinite {
            what: name.to_string(),
            count,
        })
    }
}

/// The largest magnitude [`check_magnitude`] accepts: `1e15`, so that squares (`1e30`) and
/// their sums over even 10⁷ entries stay far below `f32::MAX ≈ 3.4e38`.
pub const MAX_MAGNITUDE: f32 = 1e15;

/// Error unless every entry of `array` has real and imaginary parts of magnitude at most
/// [`MAX_MAGNITUDE`]: the single-precision solvers square and sum values (norms, noise-level
/// estimates, penalties derived from them), which would overflow to infinity and surface
/// later as a confusing error about a derived parameter. `name` says which input it is.
pub fn check_magnitude<T: Scalar>(name: &str, array: ArrayViewD<T>) -> Result<()> {
    let largest = array
        .iter()
        .map(|v| v.re().abs().max(v.im().abs()))
        .fold(0.0f32, f32::max);
    if largest <= MAX_MAGNITUDE {
        Ok(())
    } else {
        Err(Error::param(
            name,
            format!(
                "its largest magnitude is {largest:.3e}, beyond the {MAX_MAGNITUDE:.0e} that \
                 single-precision processing handles (squared sums would overflow); rescale \
                 the data, e.g. divide it by its maximum"
            ),
        ))
    }
}

/// [`check_magnitude`] for a real or complex array.
pub fn check_magnitude_any(name: &str, array: &AnyArray) -> Result<()> {
    match array {
        AnyArray::Real(a) => check_magnitude(name, a.view()),
        AnyArray::Complex(a) => check_magnitude(name, a.view()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{Array3, ArrayD, IxDyn};

    fn ramp(shape: &[usize]) -> ArrayD<f32> {
        let n: usize = shape.iter().product();
        let v = (0..n).map(|i| i as f32 / (n - 1) as f32).collect();
        ArrayD::from_shape_vec(IxDyn(shape), v).unwrap()
    }

    fn dir() -> tempfile::TempDir {
        tempfile::tempdir().unwrap()
    }

    #[test]
    fn png_round_trip_8_and_16_bit_gray() {
        let d = dir();
        let img = ramp(&[37, 53]);
        for (bits, step) in [(8u8, 255.0f32), (16, 65535.0)] {
            let p = d.path().join(format!("g{bits}.png"));
            write_png(&p, &img.view(), bits).unwrap();
            let back = read_image(&p).unwrap();
            assert_eq!(back.shape(), &[37, 53]);
            // Each value comes back as its nearest quantization level.
            for (a, b) in img.iter().zip(back.iter()) {
                assert_eq!(*b, (a * step).round() / step);
                assert!((a - b).abs() <= 0.5 / step + 1e-7);
            }
        }
        // No temporary files are left behind.
        let names: Vec<_> = std::fs::read_dir(d.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert_eq!(names.len(), 2, "{names:?}");
    }

    #[test]
    fn png_clips_and_rounds() {
        let d = dir();
        let p = d.path().join("c.png");
        let img = ArrayD::from_shape_vec(
            IxDyn(&[1, 5]),
            vec![-0.5, 1.7, 0.5 / 255.0 + 1e-6, 0.5 / 255.0 - 1e-6, 1.0],
        )
        .unwrap();
        write_png(&p, &img.view(), 8).unwrap();
        let back = read_image(&p).unwrap();
        assert_eq!(
            back.iter().copied().collect::<Vec<_>>(),
            vec![0.0, 1.0, 1.0 / 255.0, 0.0, 1.0]
        );
    }

    #[test]
    fn png_rgb_layout_is_channel_first() {
        let d = dir();
        let p = d.path().join("rgb.png");
        // Red ramp along x, green along y, blue constant.
        let img = Array3::from_shape_fn((3, 4, 6), |(c, i, j)| match c {
            0 => j as f32 / 5.0,
            1 => i as f32 / 3.0,
            _ => 0.25,
        })
        .into_dyn();
        write_png(&p, &img.view(), 16).unwrap();
        let back = read_image(&p).unwrap();
        assert_eq!(back.shape(), &[3, 4, 6]);
        assert!((back[[0, 2, 5]] - 1.0).abs() < 1e-6);
        assert!((back[[0, 2, 0]]).abs() < 1e-6);
        assert!((back[[1, 3, 1]] - 1.0).abs() < 1e-6);
        assert!((back[[2, 1, 1]] - 0.25).abs() < 1e-5);

        // The same through the image crate: pixel (x=5, y=2) is (65535, 43690, 16384).
        let raw = image::open(&p).unwrap().into_rgb16();
        assert_eq!(raw.get_pixel(5, 2).0, [65535, 43690, 16384]);
        assert_eq!(raw.dimensions(), (6, 4));

        // A single channel [1, H, W] is written as gray.
        let p1 = d.path().join("one.png");
        write_png(&p1, &ramp(&[1, 3, 4]).view(), 8).unwrap();
        assert_eq!(read_image(&p1).unwrap().shape(), &[3, 4]);
    }

    #[test]
    fn png_rgba_palette_and_gray_alpha_are_decoded() {
        let d = dir();
        // RGBA: alpha dropped.
        let p = d.path().join("rgba.png");
        let buf = image::RgbaImage::from_raw(2, 1, vec![255, 0, 51, 0, 0, 255, 102, 255]).unwrap();
        buf.save(&p).unwrap();
        let a = read_image(&p).unwrap();
        assert_eq!(a.shape(), &[3, 1, 2]);
        assert_eq!(a[[0, 0, 0]], 1.0);
        assert_eq!(a[[2, 0, 0]], 0.2);
        assert_eq!(a[[2, 0, 1]], 0.4);
        // Gray + alpha: gray kept.
        let p = d.path().join("la.png");
        let buf = image::GrayAlphaImage::from_raw(2, 1, vec![51, 0, 255, 128]).unwrap();
        buf.save(&p).unwrap();
        let a = read_image(&p).unwrap();
        assert_eq!(a.shape(), &[1, 2]);
        assert_eq!(a.iter().copied().collect::<Vec<_>>(), vec![0.2, 1.0]);
        // Palette and 1-bit gray, hand-assembled (the encoder does not write them).
        let pal = tiny_png(8, 3, Some(&[255, 0, 0, 0, 255, 51]), &[0, 1]);
        let a = decode_png(&pal, Path::new("pal.png")).unwrap();
        assert_eq!(a.shape(), &[3, 1, 2]);
        assert_eq!(
            a.iter().copied().collect::<Vec<_>>(),
            // Planes R, G, B of the two pixels (255,0,0) and (0,255,51).
            vec![1.0, 0.0, 0.0, 1.0, 0.0, 0.2]
        );
        let bw = tiny_png(1, 0, None, &[0b0100_0000]);
        let a = decode_png(&bw, Path::new("bw.png")).unwrap();
        assert_eq!(a.shape(), &[1, 2]);
        assert_eq!(a.iter().copied().collect::<Vec<_>>(), vec![0.0, 1.0]);
    }

    /// A 2x1 PNG of the given bit depth and colour type, optional palette, one scanline
    /// (without its filter byte), stored uncompressed.
    fn tiny_png(depth: u8, colour: u8, plte: Option<&[u8]>, line: &[u8]) -> Vec<u8> {
        fn crc(data: &[u8]) -> u32 {
            let mut c = 0xffff_ffffu32;
            for &b in data {
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
        fn adler(data: &[u8]) -> u32 {
            let (mut a, mut b) = (1u32, 0u32);
            for &x in data {
                a = (a + x as u32) % 65521;
                b = (b + a) % 65521;
            }
            (b << 16) | a
        }
        fn chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
            out.extend_from_slice(&(data.len() as u32).to_be_bytes());
            let mut body = kind.to_vec();
            body.extend_from_slice(data);
            out.extend_from_slice(&body);
            out.extend_from_slice(&crc(&body).to_be_bytes());
        }
        let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
        let mut ihdr = Vec::new();
        ihdr.extend_from_slice(&2u32.to_be_bytes());
        ihdr.extend_from_slice(&1u32.to_be_bytes());
        ihdr.extend_from_slice(&[depth, colour, 0, 0, 0]);
        chunk(&mut out, b"IHDR", &ihdr);
        if let Some(p) = plte {
            chunk(&mut out, b"PLTE", p);
        }
        // zlib stream with one stored block holding the scanline (filter byte 0).
        let mut raw = vec![0u8];
        raw.extend_from_slice(line);
        let n = raw.len() as u16;
        let mut z = vec![0x78, 0x01, 0x01];
        z.extend_from_slice(&n.to_le_bytes());
        z.extend_from_slice(&(!n).to_le_bytes());
        z.extend_from_slice(&raw);
        z.extend_from_slice(&adler(&raw).to_be_bytes());
        chunk(&mut out, b"IDAT", &z);
        chunk(&mut out, b"IEND", &[]);
        out
    }

    #[test]
    fn npy_round_trips() {
        let d = dir();
        let real = ramp(&[3, 4, 5]).mapv(|v| v * 7.0 - 2.0);
        let p = d.path().join("r.npy");
        write_npy_real(&p, &real.view()).unwrap();
        assert_eq!(read_array(&p).unwrap(), AnyArray::Real(real.clone()));
        assert_eq!(read_image(&p).unwrap(), real);

        // A non-contiguous view is written in logical C order.
        let t = real.view().reversed_axes();
        write_npy_real(&p, &t).unwrap();
        let AnyArray::Real(back) = read_array(&p).unwrap() else {
            panic!("expected real")
        };
        assert_eq!(back, t);

        let z = ArrayD::from_shape_fn(IxDyn(&[4, 3]), |ix| {
            c32::new(ix[0] as f32 - 1.5, (ix[1] as f32).exp())
        });
        let pz = d.path().join("z.npy");
        write_array(&pz, &AnyArray::Complex(z.clone())).unwrap();
        assert_eq!(read_array(&pz).unwrap(), AnyArray::Complex(z));
        let err = read_image(&pz).unwrap_err();
        assert!(matches!(err, Error::Format { .. }));
        assert!(err.to_string().contains("complex"), "{err}");
    }

    #[test]
    fn npy_f64_is_read_as_f32() {
        let d = dir();
        let p = d.path().join("f64.npy");
        let vals = [0.1f64, -3.25, 1e-3, 2.0 / 3.0, 5.0, 6.0];
        let mut bytes = npy::encode_header(npy::Dtype::F64, &[2, 3]);
        for v in vals {
            bytes.extend_from_slice(&v.to_le_bytes());
        }
        std::fs::write(&p, bytes).unwrap();
        let img = read_image(&p).unwrap();
        assert_eq!(img.shape(), &[2, 3]);
        let want: Vec<f32> = vals.iter().map(|&v| v as f32).collect();
        assert_eq!(img.iter().copied().collect::<Vec<_>>(), want);
    }

    #[test]
    fn malformed_files_are_rejected() {
        let d = dir();
        let good = d.path().join("good.npy");
        write_npy_real(&good, &ramp(&[8, 8]).view()).unwrap();
        let bytes = std::fs::read(&good).unwrap();

        let truncated = d.path().join("trunc.npy");
        std::fs::write(&truncated, &bytes[..bytes.len() - 3]).unwrap();
        let e = read_array(&truncated).unwrap_err();
        assert!(
            matches!(e, Error::Format { .. }) && e.to_string().contains("truncated"),
            "{e}"
        );

        let bad_magic = d.path().join("magic.npy");
        let mut b = bytes.clone();
        b[1] = b'X';
        std::fs::write(&bad_magic, &b).unwrap();
        let e = read_array(&bad_magic).unwrap_err();
        assert!(
            matches!(e, Error::Format { .. }) && e.to_string().contains("magic"),
            "{e}"
        );

        let garbage = d.path().join("garbage.npy");
        let mut b = bytes.clone();
        b[10..20].copy_from_slice(b"@@garbage@");
        std::fs::write(&garbage, &b).unwrap();
        assert!(matches!(read_array(&garbage), Err(Error::Format { .. })));

        // Truncated and garbage PNGs.
        let goodpng = d.path().join("g.png");
        write_png(&goodpng, &ramp(&[16, 16]).view(), 8).unwrap();
        let pb = std::fs::read(&goodpng).unwrap();
        let tp = d.path().join("t.png");
        std::fs::write(&tp, &pb[..pb.len() / 2]).unwrap();
        assert!(matches!(read_image(&tp), Err(Error::Format { .. })));
        let gp = d.path().join("x.png");
        std::fs::write(&gp, b"definitely not a png").unwrap();
        assert!(matches!(read_image(&gp), Err(Error::Format { .. })));

        // A 1-D array is not an image.
        let one = d.path().join("one.npy");
        write_npy_real(&one, &ramp(&[5]).view()).unwrap();
        assert!(matches!(read_image(&one), Err(Error::Format { .. })));
        assert_eq!(read_array(&one).unwrap().shape(), &[5]);

        // Missing file and unknown extension.
        let missing = read_image(d.path().join("nope.png")).unwrap_err();
        assert!(matches!(missing, Error::Io { .. }), "{missing}");
        let e = read_image(d.path().join("img.tiff")).unwrap_err();
        assert!(e.to_string().contains(".tiff"), "{e}");
    }

    #[test]
    fn write_errors_are_clear_and_leave_old_file() {
        let d = dir();
        let p = d.path().join("keep.png");
        let img = ramp(&[4, 4]);
        write_png(&p, &img.view(), 8).unwrap();
        let before = std::fs::read(&p).unwrap();

        let mut bad = img.clone();
        bad[[1, 1]] = f32::NAN;
        bad[[2, 3]] = f32::INFINITY;
        match write_png(&p, &bad.view(), 8) {
            Err(Error::NonFinite { count, .. }) => assert_eq!(count, 2),
            other => panic!("expected NonFinite, got {other:?}"),
        }
        assert!(matches!(
            write_png(&p, &img.view(), 12),
            Err(Error::Param { .. })
        ));
        assert!(matches!(
            write_png(&p, &ramp(&[2, 4, 4]).view(), 8),
            Err(Error::Param { .. })
        ));
        let z = AnyArray::Complex(ArrayD::from_elem(IxDyn(&[2, 2]), c32::new(1.0, 0.0)));
        let e = write_array(&p, &z).unwrap_err();
        assert!(e.to_string().contains("magnitude"), "{e}");
        assert_eq!(std::fs::read(&p).unwrap(), before);

        // A failing writer leaves neither a partial target nor a temporary file.
        let target = d.path().join("partial.npy");
        let e = atomic_write(&target, |w| {
            w.write_all(b"half")?;
            Err(std::io::Error::other("disk on fire"))
        })
        .unwrap_err();
        assert!(e.to_string().contains("disk on fire"));
        assert!(!target.exists());
        assert_eq!(std::fs::read_dir(d.path()).unwrap().count(), 1);

        let e = write_npy_real(d.path().join("no/such/dir/x.npy"), &img.view()).unwrap_err();
        assert!(matches!(e, Error::Io { .. }), "{e}");
    }

    #[test]
    fn check_finite_counts() {
        let mut z = ArrayD::from_elem(IxDyn(&[3, 3]), c32::new(0.0, 0.0));
        check_finite("z", z.view()).unwrap();
        z[[0, 0]].im = f32::NAN;
        z[[2, 1]].re = f32::NEG_INFINITY;
        let e = check_finite("k-space", z.view()).unwrap_err();
        assert!(matches!(e, Error::NonFinite { count: 2, .. }));
        assert!(e.to_string().starts_with("k-space contains 2"));
    }

    #[test]
    fn uint8_npy_images_read_like_8_bit_pngs() {
        let d = dir();
        let p = d.path().join("img.npy");
        let mut bytes = npy::encode_header(npy::Dtype::U8, &[2, 2]);
        bytes.extend_from_slice(&[0, 51, 255, 128]);
        std::fs::write(&p, &bytes).unwrap();
        let img = read_image(&p).unwrap();
        assert_eq!(img.shape(), &[2, 2]);
        let want = [0.0, 0.2, 1.0, 128.0 / 255.0];
        for (a, b) in img.iter().zip(want) {
            assert!((a - b).abs() < 1e-7, "{a} vs {b}");
        }
        // read_array keeps the stored values
        match read_array(&p).unwrap() {
            AnyArray::Real(a) => assert_eq!(a[[1, 0]], 255.0),
            AnyArray::Complex(_) => panic!("real expected"),
        }
    }

    #[test]
    fn check_magnitude_refuses_overflowing_scales() {
        let mut a = ArrayD::from_elem(IxDyn(&[4, 4]), -MAX_MAGNITUDE);
        check_magnitude("y", a.view()).unwrap();
        a[[3, 1]] = -2e15;
        let e = check_magnitude("measurements", a.view()).unwrap_err();
        let msg = e.to_string();
        assert!(
            msg.contains("measurements") && msg.contains("rescale"),
            "{msg}"
        );
        assert!(msg.contains("is 2.000e15"), "{msg}");
        // a huge imaginary part counts too, without overflowing |z|² on the way
        let mut z = ArrayD::from_elem(IxDyn(&[2, 2]), c32::new(1.0, 0.0));
        check_magnitude_any("k", &AnyArray::Complex(z.clone())).unwrap();
        z[[1, 1]] = c32::new(0.0, 3e30);
        let e = check_magnitude_any("k", &AnyArray::Complex(z)).unwrap_err();
        assert!(e.to_string().contains("3.000e30"), "{e}");
    }
}
