//! PNG decoding to `[H, W]` / `[3, H, W]` arrays in `[0, 1]` and encoding back at 8 or
//! 16 bits per sample.

use std::io::Write;

use image::codecs::png::PngEncoder;
use image::{DynamicImage, ImageBuffer, ImageFormat, Luma, Rgb};
use ndarray::{ArrayD, ArrayViewD, Axis, IxDyn};

/// Decode PNG bytes.
///
/// * 8- or 16-bit grayscale (and grayscale with alpha) -> `[H, W]`, samples divided by
///   255 or 65535; bit depths 1, 2 and 4 are expanded to 8 bits by the decoder (full
///   scale stays 1.0).
/// * RGB and RGBA (and palette images, which the decoder expands to RGB/RGBA) ->
///   `[3, H, W]`, channel-first.
///
/// Alpha is dropped: samples are returned as stored, not composited over a background.
pub(crate) fn decode(bytes: &[u8]) -> std::result::Result<ArrayD<f32>, String> {
    let img = image::load_from_memory_with_format(bytes, ImageFormat::Png)
        .map_err(|e| format!("cannot decode PNG: {e}"))?;
    let (w, h) = (img.width() as usize, img.height() as usize);
    if w == 0 || h == 0 {
        return Err(format!("the PNG has zero size ({w}x{h})"));
    }
    let gray = |samples: Vec<f32>| ArrayD::from_shape_vec(IxDyn(&[h, w]), samples);
    let arr = match img {
        DynamicImage::ImageLuma8(b) => gray(b.into_raw().into_iter().map(u8_unit).collect()),
        DynamicImage::ImageLumaA8(b) => gray(b.pixels().map(|p| u8_unit(p.0[0])).collect()),
        DynamicImage::ImageLuma16(b) => gray(b.into_raw().into_iter().map(u16_unit).collect()),
        DynamicImage::ImageLumaA16(b) => gray(b.pixels().map(|p| u16_unit(p.0[0])).collect()),
        DynamicImage::ImageRgb8(b) => planar(h, w, b.pixels().map(|p| p.0.map(u8_unit))),
        DynamicImage::ImageRgba8(b) => planar(
            h,
            w,
            b.pixels().map(|p| [p.0[0], p.0[1], p.0[2]].map(u8_unit)),
        ),
        DynamicImage::ImageRgb16(b) => planar(h, w, b.pixels().map(|p| p.0.map(u16_unit))),
        DynamicImage::ImageRgba16(b) => planar(
            h,
            w,
            b.pixels().map(|p| [p.0[0], p.0[1], p.0[2]].map(u16_unit)),
        ),
        other => {
            return Err(format!("unsupported PNG colour type {:?}", other.color()));
        }
    };
    Ok(arr.expect("sample count matches the image size"))
}

#[inline]
fn u8_unit(v: u8) -> f32 {
    v as f32 / 255.0
}

#[inline]
fn u16_unit(v: u16) -> f32 {
    v as f32 / 65535.0
}

/// Interleaved RGB pixels (row-major) -> `[3, H, W]`.
fn planar(
    h: usize,
    w: usize,
    pixels: impl Iterator<Item = [f32; 3]>,
) -> std::result::Result<ArrayD<f32>, ndarray::ShapeError> {
    let n = h * w;
    let mut out = vec![0.0f32; 3 * n];
    for (i, p) in pixels.enumerate() {
        out[i] = p[0];
        out[n + i] = p[1];
        out[2 * n + i] = p[2];
    }
    ArrayD::from_shape_vec(IxDyn(&[3, h, w]), out)
}

/// Quantize `v` (already finite) to `levels` after clipping to `[0, 1]`, rounding to
/// nearest (ties away from zero).
#[inline]
fn quantize(v: f32, levels: f32) -> f32 {
    (v.clamp(0.0, 1.0) * levels).round()
}

/// Encode a `[H, W]`, `[1, H, W]` or `[3, H, W]` image (finite samples, checked by the
/// caller) as PNG with `bits` (8 or 16) per sample.
pub(crate) fn encode<W: Write>(
    w: W,
    view: &ArrayViewD<f32>,
    bits: u8,
) -> std::result::Result<(), image::ImageError> {
    let (channels, h, wd) = match *view.shape() {
        [h, w] => (1, h, w),
        [c, h, w] => (c, h, w),
        _ => unreachable!("shape checked by the caller"),
    };
    let plane = |c: usize| -> ArrayViewD<f32> {
        if view.ndim() == 2 {
            view.view()
        } else {
            view.index_axis(Axis(0), c)
        }
    };
    let (wu, hu) = (wd as u32, h as u32);
    let img = match (channels, bits) {
        (1, 8) => {
            let data = plane(0).iter().map(|&v| quantize(v, 255.0) as u8).collect();
            DynamicImage::ImageLuma8(
                ImageBuffer::<Luma<u8>, Vec<u8>>::from_raw(wu, hu, data).expect("size"),
            )
        }
        (1, _) => {
            let data = plane(0)
                .iter()
                .map(|&v| quantize(v, 65535.0) as u16)
                .collect();
            DynamicImage::ImageLuma16(
                ImageBuffer::<Luma<u16>, Vec<u16>>::from_raw(wu, hu, data).expect("size"),
            )
        }
        (_, 8) => DynamicImage::ImageRgb8(
            ImageBuffer::<Rgb<u8>, Vec<u8>>::from_raw(
                wu,
                hu,
                interleave(&[plane(0), plane(1), plane(2)], |v| {
                    quantize(v, 255.0) as u8
                }),
            )
            .expect("size"),
        ),
        (_, _) => DynamicImage::ImageRgb16(
            ImageBuffer::<Rgb<u16>, Vec<u16>>::from_raw(
                wu,
                hu,
                interleave(&[plane(0), plane(1), plane(2)], |v| {
                    quantize(v, 65535.0) as u16
                }),
            )
            .expect("size"),
        ),
    };
    img.write_with_encoder(PngEncoder::new(w))
}

fn interleave<T>(planes: &[ArrayViewD<f32>; 3], f: impl Fn(f32) -> T) -> Vec<T> {
    let mut out = Vec::with_capacity(3 * planes[0].len());
    for ((r, g), b) in planes[0].iter().zip(planes[1].iter()).zip(planes[2].iter()) {
        out.push(f(*r));
        out.push(f(*g));
        out.push(f(*b));
    }
    out
}
