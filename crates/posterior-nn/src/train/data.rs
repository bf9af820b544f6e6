//! Training data: gray images from a folder, random patches with the eight flips/rotations,
//! and Gaussian noise of random level; every draw comes from a per-step seeded generator so a
//! resumed run sees exactly the batches an uninterrupted run would.

use std::path::Path;

use ndarray::{Array2, Ix2};
use posterior::{Error, Result};
use rand::{Rng, RngExt};
use rand_distr::{Distribution, StandardNormal};

/// Gray training images, sorted by file name.
#[derive(Clone, Debug)]
pub struct ImageSet {
    /// File names (for the manifest and messages).
    pub names: Vec<String>,
    /// The images, values in `[0, 1]`.
    pub images: Vec<Array2<f32>>,
}

impl ImageSet {
    /// Content fingerprint: sha256 of every image's shape and values, in order
    /// ([`crate::weights::fingerprint_f32`]).
    pub fn fingerprint(&self) -> String {
        let standard: Vec<_> = self
            .images
            .iter()
            .map(|im| im.as_standard_layout())
            .collect();
        crate::weights::fingerprint_f32(
            standard
                .iter()
                .map(|im| (im.shape(), im.as_slice().expect("standard layout"))),
        )
    }

    /// Every `.png` file in `dir` (colour images are reduced to luminance with the
    /// weights 0.2125 R + 0.7154 G + 0.0721 B, scikit-image's `rgb2gray`, within 2e-4 of
    /// Rec. 709's). Errors when there is none or one
    /// cannot be read.
    pub fn load_dir(dir: &Path) -> Result<Self> {
        let entries = std::fs::read_dir(dir).map_err(|e| Error::Io {
            path: dir.to_path_buf(),
            reason: format!("cannot list training images: {e}"),
        })?;
        let mut paths: Vec<_> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                p.extension()
                    .and_then(|e| e.to_str())
                    .is_some_and(|e| e.eq_ignore_ascii_case("png"))
            })
            .collect();
        paths.sort();
        if paths.is_empty() {
            return Err(Error::Io {
                path: dir.to_path_buf(),
                reason: "no .png images in this folder".into(),
            });
        }
        let mut set = Self {
            names: Vec::new(),
            images: Vec::new(),
        };
        for p in paths {
            let im = posterior::io::read_image(&p)?;
            set.names.push(
                p.file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default(),
            );
            set.images.push(to_gray(im, &p)?);
        }
        Ok(set)
    }

    /// Images given in memory (names for reports).
    pub fn from_images(names: Vec<String>, images: Vec<Array2<f32>>) -> Self {
        Self { names, images }
    }

    /// Total pixel count.
    pub fn pixels(&self) -> usize {
        self.images.iter().map(|i| i.len()).sum()
    }

    /// The set with every image also at each of `scales` (in `(0, 1]`; 1 is the image
    /// itself), each downscaled by [`downscale`] and named `NAME@SCALE`: the multi-scale
    /// patch source of DnCNN's training (Zhang et al., IEEE TIP 2017, scales 1, 0.9, 0.8,
    /// 0.7). Errors on a scale outside `(0, 1]`, a repeated one, or an empty list.
    pub fn at_scales(&self, scales: &[f32]) -> Result<Self> {
        check_scales(scales)?;
        let mut out = Self {
            names: Vec::new(),
            images: Vec::new(),
        };
        for &s in scales {
            for (name, im) in self.names.iter().zip(&self.images) {
                if s == 1.0 {
                    out.names.push(name.clone());
                    out.images.push(im.clone());
                } else {
                    out.names.push(format!("{name}@{s}"));
                    out.images.push(downscale(im, s));
                }
            }
        }
        Ok(out)
    }
}

/// Side of the generated dead-leaves training images.
pub const DEAD_LEAVES_SIDE: usize = 256;

/// `count` dead-leaves images ([`posterior::phantom::dead_leaves`] with its default
/// parameters: radii 1 to 256 pixels, density `∝ r^-3`, 4x4 anti-aliasing samples),
/// `256 x 256`, rounded to the 8-bit grid like the bundled images, named `dead_leaves_K`;
/// image `K` has seed `seed + K` xor a fixed constant, so a run's seed fixes them.
pub fn dead_leaves_set(count: usize, seed: u64) -> Result<ImageSet> {
    let params = posterior::phantom::DeadLeaves::default();
    let mut set = ImageSet {
        names: Vec::with_capacity(count),
        images: Vec::with_capacity(count),
    };
    for k in 0..count {
        let im = posterior::phantom::dead_leaves(
            DEAD_LEAVES_SIDE,
            DEAD_LEAVES_SIDE,
            &params,
            seed.wrapping_add(k as u64) ^ 0xDEAD_1EAF_5EED_0001,
        )?;
        set.names.push(format!("dead_leaves_{k}"));
        set.images.push(im.mapv(|v| to_8_bit_grid(v as f64)));
    }
    Ok(set)
}

/// Side of the generated random-ellipse training images.
pub const ELLIPSES_SIDE: usize = 256;

/// `count` generated phantoms, `256 x 256` with 4x4 anti-aliasing samples per pixel,
/// rounded to the 8-bit grid. Even `K`: random ellipses
/// ([`posterior::phantom::random_ellipses_supersampled`]: `4 + K/2 mod 9` ellipses of random
/// position, shape, angle and signed intensity, summed and clipped to `[0, 1]`), named
/// `ellipses_K`. Odd `K`: a random head-like phantom ([`posterior::phantom::random_head`]:
/// a thin bright shell around flat, low-contrast ellipses), named `head_K`. Image `K` has
/// seed `seed + K` xor a fixed constant, so a run's seed fixes them. Flat regions bounded
/// by smooth curved edges of every contrast, and thin bright curves: the structure of CT
/// and MRI phantoms, which the photographs lack.
pub fn ellipses_set(count: usize, seed: u64) -> Result<ImageSet> {
    phantom_set(
        count,
        seed,
        0xE111_95E5_5EED_0002,
        Draw::Supersampled(4),
        "",
    )
}

/// `count` phantoms like those of [`ellipses_set`], but drawn with one sample per pixel
/// (no anti-aliasing): every pixel takes the value at its centre, so edges are hard
/// staircases, as in a phantom rasterized on its grid or resized from a finer one without
/// much smoothing. Named `aliased_ellipses_K` and `aliased_head_K`; other seeds than
/// [`ellipses_set`]'s (seed `seed + K` xor another constant), so the shapes differ too.
pub fn aliased_ellipses_set(count: usize, seed: u64) -> Result<ImageSet> {
    phantom_set(
        count,
        seed,
        0xA11A_5ED0_5EED_0003,
        Draw::PointSampled,
        "aliased_",
    )
}

/// `count` phantoms like those of [`ellipses_set`] (other shapes again), each drawn with one
/// sample per pixel on a finer grid, `round(256 f)` pixels a side with `f` uniform in
/// `[1.25, 2.25)` per phantom, then resized to `256 x 256` the way common image libraries'
/// anti-aliased resize does it ([`resize_antialiased`]: a Gaussian of standard deviation
/// `(f - 1) / 2` input pixels, then bilinear interpolation at the output pixel centres).
/// Staircase edges softened unevenly: a phantom rasterized on one grid and resized to
/// another. Named `resampled_ellipses_K` and `resampled_head_K`; phantom `K` has seed
/// `seed + K` xor a third constant.
pub fn resampled_ellipses_set(count: usize, seed: u64) -> Result<ImageSet> {
    phantom_set(
        count,
        seed,
        0x5E5A_3D1E_5EED_0004,
        Draw::Resampled,
        "resampled_",
    )
}

/// How [`phantom_set`] turns a phantom's ellipses into pixels.
#[derive(Clone, Copy)]
enum Draw {
    /// `k x k` samples per pixel, averaged.
    Supersampled(usize),
    /// One sample per pixel, at the pixel centre.
    PointSampled,
    /// Point-sampled on a finer grid, then resized (see [`resampled_ellipses_set`]).
    Resampled,
}

/// Phantom `K` has seed `(seed + K) xor salt`, drawn as `draw` says.
fn phantom_set(count: usize, seed: u64, salt: u64, draw: Draw, prefix: &str) -> Result<ImageSet> {
    let mut set = ImageSet {
        names: Vec::with_capacity(count),
        images: Vec::with_capacity(count),
    };
    for k in 0..count {
        let s = seed.wrapping_add(k as u64) ^ salt;
        let (side, samples) = match draw {
            Draw::Supersampled(n) => (ELLIPSES_SIDE, n),
            Draw::PointSampled => (ELLIPSES_SIDE, 1),
            Draw::Resampled => {
                // The grid factor comes from its own stream, so the shapes keep `s`'s.
                let f: f64 = posterior::rng(s ^ 0xF1_4E6D).random_range(1.25..2.25);
                ((ELLIPSES_SIDE as f64 * f).round() as usize, 1)
            }
        };
        let (name, im) = if k % 2 == 0 {
            let im = posterior::phantom::random_ellipses_supersampled(
                side,
                side,
                4 + (k / 2) % 9,
                s,
                samples,
            );
            (format!("{prefix}ellipses_{k}"), im)
        } else {
            let im = posterior::phantom::random_head(side, side, s, samples);
            (format!("{prefix}head_{k}"), im)
        };
        let im = if side == ELLIPSES_SIDE {
            im
        } else {
            resize_antialiased(&im, ELLIPSES_SIDE, ELLIPSES_SIDE)
        };
        set.names.push(name);
        set.images.push(im.mapv(|v| to_8_bit_grid(v as f64)));
    }
    Ok(set)
}

/// The nearest value on the 8-bit grid `k / 255` (the bundled images' values).
fn to_8_bit_grid(v: f64) -> f32 {
    ((v * 255.0).round() / 255.0) as f32
}

/// Check a list of training scales: non-empty, each in `(0, 1]`, no repeats.
pub fn check_scales(scales: &[f32]) -> Result<()> {
    if scales.is_empty() {
        return Err(Error::param("scales", "needs at least one scale"));
    }
    for (k, &s) in scales.iter().enumerate() {
        if !(s > 0.0 && s <= 1.0) {
            return Err(Error::param(
                "scales",
                format!("each scale must be in (0, 1], got {s}"),
            ));
        }
        if scales[..k].contains(&s) {
            return Err(Error::param("scales", format!("{s} is given twice")));
        }
    }
    Ok(())
}

/// Downscale by `s` in `(0, 1)` to `round(h s) x round(w s)` (at least 1x1) by area
/// averaging: each output pixel is the mean of the input, taken as constant on each pixel,
/// over the output pixel's footprint (an exact 2x2 block mean at `s = 1/2` on even sides,
/// the rule of the bundled 256x256 versions of the 512x512 images). Values are then rounded
/// to the 8-bit grid, like every bundled image.
pub fn downscale(im: &Array2<f32>, s: f32) -> Array2<f32> {
    let (h, w) = im.dim();
    let oh = ((h as f64 * s as f64).round() as usize).max(1);
    let ow = ((w as f64 * s as f64).round() as usize).max(1);
    separable(im, &area_weights(h, oh), &area_weights(w, ow)).mapv(to_8_bit_grid)
}

/// Resize to `oh x ow` as common libraries' anti-aliased resize does: along each axis, a
/// Gaussian of standard deviation `max(0, (f - 1) / 2)` input pixels (`f` the input size
/// over the output size; mirrored at the borders, truncated at four deviations), then
/// linear interpolation at the output pixel centres (output pixel `i` sits at input
/// coordinate `(i + 0.5) f - 0.5`, clamped to the image). Not rounded to the 8-bit grid.
/// An empty input or output gives zeros.
pub fn resize_antialiased(im: &Array2<f32>, oh: usize, ow: usize) -> Array2<f32> {
    let (h, w) = im.dim();
    if h == 0 || w == 0 || oh == 0 || ow == 0 {
        return Array2::zeros((oh, ow));
    }
    separable(im, &resize_weights(h, oh), &resize_weights(w, ow)).mapv(|v| v as f32)
}

/// The taps of [`resize_antialiased`] along one axis of `n` cells resized to `m`.
fn resize_weights(n: usize, m: usize) -> Vec<Vec<(usize, f64)>> {
    let f = n as f64 / m as f64;
    let sd = ((f - 1.0) / 2.0).max(0.0);
    let radius = (4.0 * sd + 0.5) as isize;
    let gauss: Vec<f64> = (-radius..=radius)
        .map(|d| {
            if sd > 0.0 {
                (-(d * d) as f64 / (2.0 * sd * sd)).exp()
            } else {
                1.0
            }
        })
        .collect();
    let total: f64 = gauss.iter().sum();
    // Mirror about the edge samples (d, n - 1 - d), repeated for kernels wider than the axis.
    let mirror = |mut k: isize| -> usize {
        let last = n as isize - 1;
        if last == 0 {
            return 0;
        }
        let period = 2 * last;
        k = k.rem_euclid(period);
        (if k > last { period - k } else { k }) as usize
    };
    (0..m)
        .map(|i| {
            let p = ((i as f64 + 0.5) * f - 0.5).clamp(0.0, (n - 1) as f64);
            let k0 = p.floor() as usize;
            let t = p - k0 as f64;
            let mut taps: Vec<(usize, f64)> = Vec::new();
            for (k, lin) in [(k0, 1.0 - t), ((k0 + 1).min(n - 1), t)] {
                if lin == 0.0 {
                    continue;
                }
                for (g, d) in gauss.iter().zip(-radius..=radius) {
                    let src = mirror(k as isize + d);
                    let wt = lin * g / total;
                    match taps.iter_mut().find(|(s, _)| *s == src) {
                        Some(tap) => tap.1 += wt,
                        None => taps.push((src, wt)),
                    }
                }
            }
            taps
        })
        .collect()
}

/// Apply per-axis taps: rows first (`h -> rows.len()`), then columns; each output is the
/// taps' weighted sum, in f64.
fn separable(
    im: &Array2<f32>,
    rows: &[Vec<(usize, f64)>],
    cols: &[Vec<(usize, f64)>],
) -> Array2<f64> {
    let w = im.ncols();
    let mut tmp = Array2::<f64>::zeros((rows.len(), w));
    for (i, taps) in rows.iter().enumerate() {
        for &(src, wt) in taps {
            for j in 0..w {
                tmp[[i, j]] += wt * im[[src, j]] as f64;
            }
        }
    }
    Array2::from_shape_fn((rows.len(), cols.len()), |(i, j)| {
        cols[j].iter().map(|&(src, wt)| wt * tmp[[i, src]]).sum()
    })
}

/// For each of `m` output cells over `n` input cells (`m <= n`), the input cells it
/// overlaps with the fraction of the output cell each covers (summing to 1).
fn area_weights(n: usize, m: usize) -> Vec<Vec<(usize, f64)>> {
    let step = n as f64 / m as f64;
    (0..m)
        .map(|i| {
            let (a, b) = (i as f64 * step, (i + 1) as f64 * step);
            let first = a.floor() as usize;
            let last = (b.ceil() as usize).min(n);
            (first..last)
                .filter_map(|k| {
                    let overlap = (b.min(k as f64 + 1.0) - a.max(k as f64)).max(0.0);
                    (overlap > 0.0).then_some((k, overlap / step))
                })
                .collect()
        })
        .collect()
}

fn to_gray(im: ndarray::ArrayD<f32>, path: &Path) -> Result<Array2<f32>> {
    match im.ndim() {
        2 => Ok(im.into_dimensionality::<Ix2>().expect("2-D")),
        3 if im.shape()[0] == 3 => {
            let (h, w) = (im.shape()[1], im.shape()[2]);
            Ok(Array2::from_shape_fn((h, w), |(i, j)| {
                0.2125 * im[[0, i, j]] + 0.7154 * im[[1, i, j]] + 0.0721 * im[[2, i, j]]
            }))
        }
        3 if im.shape()[0] == 1 => {
            let (h, w) = (im.shape()[1], im.shape()[2]);
            Ok(im
                .into_shape_with_order((h, w))
                .map_err(|e| Error::param("image", e.to_string()))?)
        }
        _ => Err(Error::Format {
            path: path.to_path_buf(),
            reason: format!("unsupported image shape {:?}", im.shape()),
        }),
    }
}

/// One training batch: clean patches, their noisy versions and the noise levels.
#[derive(Clone, Debug, PartialEq)]
pub struct Batch {
    /// Patches per batch.
    pub n: usize,
    /// Patch side.
    pub patch: usize,
    /// Clean patches, `[n, 1, patch, patch]` row-major.
    pub clean: Vec<f32>,
    /// Noisy patches, same layout.
    pub noisy: Vec<f32>,
    /// Noise standard deviation of each patch.
    pub sigma: Vec<f32>,
}

/// Draw a batch: each patch comes from an image chosen with probability proportional to its
/// usable area, at a uniform position, under a uniform choice of the eight flips/rotations;
/// its noise level is uniform in `[0, sigma_max]`.
pub fn sample_batch<R: Rng + ?Sized>(
    set: &ImageSet,
    n: usize,
    patch: usize,
    sigma_max: f32,
    rng: &mut R,
) -> Result<Batch> {
    let areas: Vec<usize> = set
        .images
        .iter()
        .map(|im| {
            let (h, w) = im.dim();
            if h >= patch && w >= patch {
                (h - patch + 1) * (w - patch + 1)
            } else {
                0
            }
        })
        .collect();
    let total: usize = areas.iter().sum();
    if total == 0 {
        return Err(Error::param(
            "patch",
            format!("{patch} is larger than every training image"),
        ));
    }
    let pp = patch * patch;
    let mut b = Batch {
        n,
        patch,
        clean: Vec::with_capacity(n * pp),
        noisy: Vec::with_capacity(n * pp),
        sigma: Vec::with_capacity(n),
    };
    for _ in 0..n {
        let mut pick = rng.random_range(0..total);
        let mut idx = 0;
        while pick >= areas[idx] {
            pick -= areas[idx];
            idx += 1;
        }
        let im = &set.images[idx];
        let span = im.dim().1 - patch + 1;
        let (i0, j0) = (pick / span, pick % span);
        let t = rng.random_range(0..8u8);
        let sigma = sigma_max * rng.random::<f32>();
        for a in 0..patch {
            for c in 0..patch {
                let (u, v) = dihedral(t, a, c, patch);
                let x = im[[i0 + u, j0 + v]];
                let z: f32 = StandardNormal.sample(rng);
                b.clean.push(x);
                b.noisy.push(x + sigma * z);
            }
        }
        b.sigma.push(sigma);
    }
    Ok(b)
}

/// Source coordinates of output pixel `(a, c)` under transform `t` of the dihedral group of
/// the square (4 rotations × optional transpose).
fn dihedral(t: u8, a: usize, c: usize, p: usize) -> (usize, usize) {
    let (a, c) = if t & 4 != 0 { (c, a) } else { (a, c) };
    match t & 3 {
        0 => (a, c),
        1 => (c, p - 1 - a),
        2 => (p - 1 - a, p - 1 - c),
        _ => (p - 1 - c, a),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dihedral_transforms_are_eight_distinct_bijections() {
        let p = 4;
        let mut seen = std::collections::HashSet::new();
        for t in 0..8u8 {
            let mut img = Vec::new();
            let mut hit = vec![false; p * p];
            for a in 0..p {
                for c in 0..p {
                    let (u, v) = dihedral(t, a, c, p);
                    assert!(!hit[u * p + v], "transform {t} not a bijection");
                    hit[u * p + v] = true;
                    img.push(u * p + v);
                }
            }
            assert!(seen.insert(img), "transform {t} repeats another");
        }
    }

    #[test]
    fn batches_are_reproducible_and_noise_has_the_drawn_level() {
        let im = Array2::from_shape_fn((40, 30), |(i, j)| ((i * 7 + j * 3) % 11) as f32 / 11.0);
        let set = ImageSet::from_images(vec!["a".into()], vec![im]);
        let b1 = sample_batch(&set, 64, 16, 0.2, &mut posterior::rng(5)).unwrap();
        let b2 = sample_batch(&set, 64, 16, 0.2, &mut posterior::rng(5)).unwrap();
        assert_eq!(b1, b2);
        let mut ss = 0.0f64;
        let mut s2 = 0.0f64;
        for (k, s) in b1.sigma.iter().enumerate() {
            assert!((0.0..=0.2).contains(s));
            for i in 0..256 {
                let d = (b1.noisy[k * 256 + i] - b1.clean[k * 256 + i]) as f64;
                ss += d * d;
            }
            s2 += (*s as f64).powi(2) * 256.0;
        }
        assert!(
            (ss / s2 - 1.0).abs() < 0.05,
            "noise power ratio {}",
            ss / s2
        );
        assert!(sample_batch(&set, 1, 41, 0.1, &mut posterior::rng(0)).is_err());
    }

    #[test]
    fn halving_is_the_block_mean_and_area_averaging_keeps_the_mean() {
        // Values on the 8-bit grid whose 2x2 means are on it too (multiples of 4/255).
        let im = Array2::from_shape_fn((6, 8), |(i, j)| ((i * 5 + j * 3) % 16 * 16) as f32 / 255.0);
        let half = downscale(&im, 0.5);
        assert_eq!(half.dim(), (3, 4));
        for i in 0..3 {
            for j in 0..4 {
                let mean = (im[[2 * i, 2 * j]]
                    + im[[2 * i + 1, 2 * j]]
                    + im[[2 * i, 2 * j + 1]]
                    + im[[2 * i + 1, 2 * j + 1]])
                    / 4.0;
                assert!((half[[i, j]] - mean).abs() < 1.0 / 510.0, "({i}, {j})");
            }
        }
        // A non-integer factor: sizes rounded; a constant stays constant; the mean of a
        // ramp is kept to the rounding.
        let ramp = Array2::from_shape_fn((50, 40), |(i, j)| (i + 2 * j) as f32 / 255.0);
        let small = downscale(&ramp, 0.7);
        assert_eq!(small.dim(), (35, 28));
        let m_in = ramp.mean().unwrap();
        let m_out = small.mean().unwrap();
        assert!((m_in - m_out).abs() < 1.0 / 255.0, "{m_in} vs {m_out}");
        let flat = downscale(&Array2::from_elem((9, 7), 100.0 / 255.0), 0.8);
        assert!(flat.iter().all(|&v| (v - 100.0 / 255.0).abs() < 1e-6));
        // Rows and columns stay monotone under averaging.
        for i in 0..35 {
            for j in 1..28 {
                assert!(small[[i, j]] >= small[[i, j - 1]]);
            }
        }
    }

    #[test]
    fn dead_leaves_sets_are_seeded_8_bit_and_distinct() {
        let a = dead_leaves_set(3, 7).unwrap();
        assert_eq!(a.names, ["dead_leaves_0", "dead_leaves_1", "dead_leaves_2"]);
        let b = dead_leaves_set(3, 7).unwrap();
        assert_eq!(a.images, b.images);
        let c = dead_leaves_set(1, 8).unwrap();
        assert_eq!(c.images[0], a.images[1], "image k has seed + k");
        assert_ne!(a.images[0], a.images[1]);
        for im in &a.images {
            assert_eq!(im.dim(), (DEAD_LEAVES_SIDE, DEAD_LEAVES_SIDE));
            assert!(im.iter().all(
                |&v| (0.0..=1.0).contains(&v) && ((v * 255.0).round() - v * 255.0).abs() < 1e-3
            ));
            // Gray levels spread over the range, not one flat leaf.
            let mean = im.iter().map(|&v| v as f64).sum::<f64>() / im.len() as f64;
            let var = im.iter().map(|&v| (v as f64 - mean).powi(2)).sum::<f64>() / im.len() as f64;
            assert!(var > 0.02, "{var}");
        }
        assert!(dead_leaves_set(0, 1).unwrap().images.is_empty());
    }

    #[test]
    fn ellipse_sets_are_seeded_8_bit_anti_aliased_and_distinct() {
        let a = ellipses_set(3, 7).unwrap();
        assert_eq!(a.names, ["ellipses_0", "head_1", "ellipses_2"]);
        let b = ellipses_set(3, 7).unwrap();
        assert_eq!(a.images, b.images);
        assert_ne!(a.images[0], a.images[1]);
        assert_ne!(a.images[0], ellipses_set(1, 8).unwrap().images[0]);
        for im in &a.images {
            assert_eq!(im.dim(), (ELLIPSES_SIDE, ELLIPSES_SIDE));
            assert!(im.iter().all(
                |&v| (0.0..=1.0).contains(&v) && ((v * 255.0).round() - v * 255.0).abs() < 1e-3
            ));
            // Something is drawn, and the background (outside every ellipse) stays 0.
            assert!(im.iter().any(|&v| v > 0.05));
            assert_eq!(im[[0, 0]], 0.0);
            // Anti-aliased: edge pixels take values between the regions' levels, so there
            // are many more distinct levels than the 4-12 flat regions a point-sampled
            // image would show.
            let mut levels: Vec<u32> = im.iter().map(|&v| (v * 255.0).round() as u32).collect();
            levels.sort_unstable();
            levels.dedup();
            assert!(levels.len() > 40, "{} levels", levels.len());
        }
        assert!(ellipses_set(0, 1).unwrap().images.is_empty());
    }

    /// Among the pixels on an edge (some 8-neighbour differs), the share whose 8-bit level
    /// also fills some whole 3x3 neighbourhood, i.e. is a flat region's level.
    fn edge_pixels_at_flat_levels(im: &Array2<f32>) -> f64 {
        let q = im.mapv(|v| (v * 255.0).round() as u32);
        let (h, w) = q.dim();
        let mut flat = std::collections::BTreeSet::new();
        let mut edge = Vec::new();
        for i in 1..h - 1 {
            for j in 1..w - 1 {
                let v = q[[i, j]];
                if (0..3).all(|a| (0..3).all(|b| q[[i + a - 1, j + b - 1]] == v)) {
                    flat.insert(v);
                } else {
                    edge.push(v);
                }
            }
        }
        assert!(edge.len() > 100, "{} edge pixels", edge.len());
        edge.iter().filter(|v| flat.contains(v)).count() as f64 / edge.len() as f64
    }

    #[test]
    fn aliased_ellipse_sets_are_point_sampled_seeded_and_other_shapes() {
        let a = aliased_ellipses_set(8, 7).unwrap();
        assert_eq!(
            a.names[..3],
            ["aliased_ellipses_0", "aliased_head_1", "aliased_ellipses_2"]
        );
        assert_eq!(a.images, aliased_ellipses_set(8, 7).unwrap().images);
        let aa = ellipses_set(8, 7).unwrap();
        for (k, (im, smooth)) in a.images.iter().zip(&aa.images).enumerate() {
            assert_eq!(im.dim(), (ELLIPSES_SIDE, ELLIPSES_SIDE));
            assert!(im.iter().all(
                |&v| (0.0..=1.0).contains(&v) && ((v * 255.0).round() - v * 255.0).abs() < 1e-3
            ));
            assert!(im.iter().any(|&v| v > 0.05));
            // Other shapes than the anti-aliased set's image K.
            let differ = im.iter().zip(smooth).filter(|(a, b)| a != b).count();
            assert!(differ > im.len() / 50, "image {k}: {differ} pixels differ");
            // Point-sampled: edge pixels take the level of a region on either side, so
            // nearly every pixel has a flat region's level; anti-aliased edges do not.
            // (Measured: 0.983 to 1 aliased, 0.55 to 0.74 anti-aliased.)
            let share = edge_pixels_at_flat_levels(im);
            assert!(share > 0.95, "image {k}: {share}");
            let smooth_share = edge_pixels_at_flat_levels(smooth);
            assert!(smooth_share < 0.85, "image {k}: {smooth_share}");
        }
        assert!(aliased_ellipses_set(0, 1).unwrap().images.is_empty());
    }

    #[test]
    fn resize_matches_the_common_anti_aliased_resize() {
        // A 10x10 8-bit image and its resizes to 6x4 and 3x7 by scikit-image 0.26's
        // `resize(x, shape, anti_aliasing=True)` (order 1, mode "reflect"), to 6 decimals.
        #[rustfmt::skip]
        let x: [[u8; 10]; 10] = [
            [22, 60, 204, 148, 24, 110, 122, 41, 187, 29],
            [100, 132, 110, 150, 188, 244, 72, 165, 178, 75],
            [0, 248, 76, 80, 227, 149, 120, 197, 8, 180],
            [95, 23, 168, 238, 53, 161, 76, 189, 184, 56],
            [212, 168, 174, 209, 109, 193, 224, 26, 217, 100],
            [122, 37, 178, 74, 222, 70, 143, 102, 156, 50],
            [46, 190, 192, 145, 235, 52, 217, 43, 246, 159],
            [155, 247, 201, 201, 14, 94, 22, 49, 55, 219],
            [32, 76, 126, 217, 246, 181, 54, 139, 180, 13],
            [173, 94, 150, 171, 171, 133, 141, 51, 126, 32],
        ];
        let im = Array2::from_shape_fn((10, 10), |(i, j)| x[i][j] as f32 / 255.0);
        #[rustfmt::skip]
        let want_6x4 = [
            [0.352345, 0.516607, 0.454725, 0.48742],
            [0.556253, 0.511037, 0.576032, 0.368522],
            [0.567802, 0.661113, 0.610087, 0.57947],
            [0.423939, 0.581807, 0.496064, 0.543427],
            [0.819689, 0.546392, 0.197178, 0.405538],
            [0.429833, 0.698343, 0.484547, 0.383853],
        ];
        #[rustfmt::skip]
        let want_3x7 = [
            [0.297401, 0.515651, 0.556722, 0.642883, 0.412715, 0.560139, 0.397021],
            [0.489486, 0.600119, 0.617997, 0.547115, 0.616878, 0.473043, 0.448541],
            [0.417903, 0.59272, 0.746059, 0.584687, 0.341577, 0.413939, 0.39102],
        ];
        let got = resize_antialiased(&im, 6, 4);
        for (row, want) in got.rows().into_iter().zip(want_6x4) {
            for (g, w) in row.iter().zip(want) {
                assert!((g - w).abs() < 2e-6, "{g} against {w}");
            }
        }
        let got = resize_antialiased(&im, 3, 7);
        for (row, want) in got.rows().into_iter().zip(want_3x7) {
            for (g, w) in row.iter().zip(want) {
                assert!((g - w).abs() < 2e-6, "{g} against {w}");
            }
        }
        // Same size: the identity. Empty in or out: no panic.
        assert_eq!(resize_antialiased(&im, 10, 10), im);
        assert_eq!(resize_antialiased(&im, 0, 3).dim(), (0, 3));
        let empty = Array2::<f32>::zeros((0, 4));
        assert_eq!(
            resize_antialiased(&empty, 2, 2),
            Array2::<f32>::zeros((2, 2))
        );
    }

    #[test]
    fn resampled_ellipse_sets_are_seeded_softened_staircases_and_other_shapes() {
        let r = resampled_ellipses_set(8, 7).unwrap();
        assert_eq!(
            r.names[..3],
            [
                "resampled_ellipses_0",
                "resampled_head_1",
                "resampled_ellipses_2"
            ]
        );
        assert_eq!(r.images, resampled_ellipses_set(8, 7).unwrap().images);
        let al = aliased_ellipses_set(8, 7).unwrap();
        let aa = ellipses_set(8, 7).unwrap();
        for (k, im) in r.images.iter().enumerate() {
            assert_eq!(im.dim(), (ELLIPSES_SIDE, ELLIPSES_SIDE));
            assert!(im.iter().all(
                |&v| (0.0..=1.0).contains(&v) && ((v * 255.0).round() - v * 255.0).abs() < 1e-3
            ));
            assert!(im.iter().any(|&v| v > 0.05));
            for other in [&al.images[k], &aa.images[k]] {
                let differ = im.iter().zip(other).filter(|(a, b)| a != b).count();
                assert!(differ > im.len() / 50, "image {k}: {differ} pixels differ");
            }
            // The same shapes drawn at 256x256 with one sample and with 4x4 samples per
            // pixel: the resampled image lies nearer the anti-aliased drawing than the
            // point-sampled one does (its edges are softened, and not shifted).
            let s = 7u64.wrapping_add(k as u64) ^ 0x5E5A_3D1E_5EED_0004;
            let draw = |n| {
                if k % 2 == 0 {
                    posterior::phantom::random_ellipses_supersampled(256, 256, 4 + k / 2, s, n)
                } else {
                    posterior::phantom::random_head(256, 256, s, n)
                }
            };
            let rms = |a: &Array2<f32>, b: &Array2<f32>| {
                (a.iter().zip(b).map(|(x, y)| (x - y).powi(2)).sum::<f32>() / a.len() as f32).sqrt()
            };
            let smooth = draw(4);
            let (to_point, resampled) = (rms(&draw(1), &smooth), rms(im, &smooth));
            // (Measured: 0.64 to 0.74 of the point-sampled drawing's distance.)
            assert!(
                resampled > 0.4 * to_point && resampled < 0.85 * to_point,
                "image {k}: {resampled} against {to_point}"
            );
        }
        assert!(resampled_ellipses_set(0, 1).unwrap().images.is_empty());
    }

    #[test]
    fn scaled_sets_name_and_size_their_copies_and_refuse_bad_scales() {
        let im = Array2::from_elem((20, 10), 0.5f32);
        let set = ImageSet::from_images(vec!["a.png".into()], vec![im]);
        let multi = set.at_scales(&[1.0, 0.5]).unwrap();
        assert_eq!(multi.names, ["a.png", "a.png@0.5"]);
        assert_eq!(multi.images[1].dim(), (10, 5));
        assert_eq!(multi.pixels(), 250);
        for bad in [&[][..], &[0.0], &[1.5], &[f32::NAN], &[0.5, 0.5]] {
            assert!(set.at_scales(bad).is_err(), "{bad:?}");
        }
    }
}
