//! Synthetic test objects: the modified Shepp-Logan head phantom, random ellipse images,
//! random head-like phantoms and dead-leaves images, rasterised at any size.
//!
//! Geometry (the convention of MATLAB's `phantom` and of scikit-image's
//! `shepp_logan_phantom`): the phantom lives in the square `[-1, 1]²` with `x` pointing
//! right and `y` pointing up; pixel centres of an `n x n` image sit at
//! `x_j = (j - (n-1)/2) / ((n-1)/2)`, so the outermost centres are exactly at ±1, and
//! row 0 is the top (`y = +1`). A non-square `h x w` image keeps square pixels: the unit
//! length is `(min(h, w) - 1) / 2` pixels and the longer axis extends beyond ±1.
//!
//! Each ellipse adds its intensity to the points inside it. Point sampling (one sample
//! per pixel centre) reproduces MATLAB/scikit-image exactly; supersampling averages
//! `s x s` sub-pixel samples (an anti-aliased, area-weighted rasterisation).

use ndarray::Array2;
use rand::RngExt;

/// An ellipse of the phantom: `value` is added at every point `(x, y)` with
/// `(x'/a)² + (y'/b)² ≤ 1`, where `(x', y')` are the coordinates relative to the
/// centre `(x0, y0)` rotated by `-phi_deg` (i.e. the ellipse is rotated counter-clockwise
/// by `phi_deg` degrees).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Ellipse {
    /// Additive intensity.
    pub value: f64,
    /// Semi-axis along the ellipse's own x direction.
    pub a: f64,
    /// Semi-axis along the ellipse's own y direction.
    pub b: f64,
    /// Centre, x (right positive).
    pub x0: f64,
    /// Centre, y (up positive).
    pub y0: f64,
    /// Counter-clockwise rotation in degrees.
    pub phi_deg: f64,
}

const fn e(value: f64, a: f64, b: f64, x0: f64, y0: f64, phi_deg: f64) -> Ellipse {
    Ellipse {
        value,
        a,
        b,
        x0,
        y0,
        phi_deg,
    }
}

/// The modified Shepp-Logan phantom: Shepp & Logan's ten ellipses ("The Fourier
/// reconstruction of a head section", IEEE Trans. Nucl. Sci. 21(3), 1974) with the
/// higher-contrast intensities of P. Toft ("The Radon transform: theory and
/// implementation", PhD thesis, DTU, 1996), as in MATLAB's `phantom('Modified
/// Shepp-Logan')` and scikit-image. Resulting levels: skull 1.0, brain 0.2, ventricles
/// 0.0, the upper and small tumours 0.3 (0.4 and 0.1 where ellipses overlap).
pub const MODIFIED_SHEPP_LOGAN: [Ellipse; 10] = [
    e(1.0, 0.69, 0.92, 0.0, 0.0, 0.0),
    e(-0.8, 0.6624, 0.8740, 0.0, -0.0184, 0.0),
    e(-0.2, 0.1100, 0.3100, 0.22, 0.0, -18.0),
    e(-0.2, 0.1600, 0.4100, -0.22, 0.0, 18.0),
    e(0.1, 0.2100, 0.2500, 0.0, 0.35, 0.0),
    e(0.1, 0.0460, 0.0460, 0.0, 0.1, 0.0),
    e(0.1, 0.0460, 0.0460, 0.0, -0.1, 0.0),
    e(0.1, 0.0460, 0.0230, -0.08, -0.605, 0.0),
    e(0.1, 0.0230, 0.0230, 0.0, -0.606, 0.0),
    e(0.1, 0.0230, 0.0460, 0.06, -0.605, 0.0),
];

/// Rasterise a sum of ellipses on an `h x w` grid (geometry in the module docs) with
/// `supersample²` samples per pixel (1 = point sampling at pixel centres). Values are
/// the plain sums, accumulated in f64, neither clipped nor normalised.
///
/// # Panics
/// If `supersample` is 0.
pub fn rasterize(h: usize, w: usize, ellipses: &[Ellipse], supersample: usize) -> Array2<f64> {
    assert!(
        supersample >= 1,
        "rasterize: supersample must be at least 1"
    );
    let mut out = Array2::<f64>::zeros((h, w));
    if h == 0 || w == 0 {
        return out;
    }
    let s = supersample;
    // Pixels per unit length; a 1-pixel side keeps a finite scale.
    let unit = ((h.min(w) as f64 - 1.0) / 2.0).max(0.5);
    let (cx, cy) = ((w as f64 - 1.0) / 2.0, (h as f64 - 1.0) / 2.0);
    // Sub-pixel offsets (2k + 1 - s) / (2s), symmetric about the pixel centre.
    let offsets: Vec<f64> = (0..s)
        .map(|k| (2.0 * k as f64 + 1.0 - s as f64) / (2.0 * s as f64))
        .collect();
    let weight_per_sample = 1.0 / (s * s) as f64;
    let mut counts = vec![0u32; w];
    for el in ellipses {
        if el.a <= 0.0 || el.b <= 0.0 || el.value == 0.0 {
            continue;
        }
        let phi = el.phi_deg.to_radians();
        let (sn, cs) = phi.sin_cos();
        let (a2, b2) = (el.a * el.a, el.b * el.b);
        // Axis-aligned bounding box, in pixel coordinates, with a one-pixel margin.
        let hx = ((el.a * cs).powi(2) + (el.b * sn).powi(2)).sqrt();
        let hy = ((el.a * sn).powi(2) + (el.b * cs).powi(2)).sqrt();
        let col = |x: f64| cx + x * unit;
        let row = |y: f64| cy - y * unit;
        let j0 = (col(el.x0 - hx) - 1.0).floor().max(0.0) as usize;
        let j1 = ((col(el.x0 + hx) + 1.0).ceil().max(0.0) as usize).min(w - 1);
        let i0 = (row(el.y0 + hy) - 1.0).floor().max(0.0) as usize;
        let i1 = ((row(el.y0 - hy) + 1.0).ceil().max(0.0) as usize).min(h - 1);
        if j0 > j1 || i0 > i1 {
            continue;
        }
        for i in i0..=i1 {
            counts[j0..=j1].iter_mut().for_each(|c| *c = 0);
            for &oy in &offsets {
                let y = -((i as f64 - cy) + oy) / unit - el.y0;
                for (j, count) in (j0..=j1).zip(counts[j0..=j1].iter_mut()) {
                    for &ox in &offsets {
                        let x = ((j as f64 - cx) + ox) / unit - el.x0;
                        let u = x * cs + y * sn;
                        let v = y * cs - x * sn;
                        if u * u / a2 + v * v / b2 <= 1.0 {
                            *count += 1;
                        }
                    }
                }
            }
            for j in j0..=j1 {
                if counts[j] > 0 {
                    out[[i, j]] += el.value * counts[j] as f64 * weight_per_sample;
                }
            }
        }
    }
    out
}

fn to_unit_f32(a: Array2<f64>) -> Array2<f32> {
    a.mapv(|v| v.clamp(0.0, 1.0) as f32)
}

/// The modified Shepp-Logan phantom ([`MODIFIED_SHEPP_LOGAN`]) on an `n x n` grid, point
/// sampled at pixel centres, values in `[0, 1]`. At `n = 400` this is pixel for pixel
/// scikit-image's `shepp_logan_phantom()` (up to that file's 8-bit quantisation).
pub fn shepp_logan(n: usize) -> Array2<f32> {
    shepp_logan_supersampled(n, n, 1)
}

/// The modified Shepp-Logan phantom on an `h x w` grid (square pixels, phantom centred
/// and scaled to the shorter side), point sampled, values in `[0, 1]`.
pub fn shepp_logan_hw(h: usize, w: usize) -> Array2<f32> {
    shepp_logan_supersampled(h, w, 1)
}

/// The modified Shepp-Logan phantom with `supersample x supersample` samples averaged per
/// pixel: each pixel approximates the phantom's mean over its area (anti-aliased edges;
/// pixels away from edges are exact). Sums are clipped to `[0, 1]`, which only removes
/// rounding residue such as `1 - 0.8 - 0.2 = -6e-17` in the ventricles.
///
/// # Panics
/// If `supersample` is 0.
pub fn shepp_logan_supersampled(h: usize, w: usize, supersample: usize) -> Array2<f32> {
    to_unit_f32(rasterize(h, w, &MODIFIED_SHEPP_LOGAN, supersample))
}

/// The random ellipses drawn by [`random_ellipses`] for a seed (exposed so the geometry
/// can be inspected or re-rasterised at another size or supersampling).
///
/// Each ellipse: centre uniform in the disc of radius 0.7, semi-axes uniform in
/// `[0.05, 0.4]`, rotation uniform in `[0°, 180°)`, intensity uniform in `[0.1, 1]`,
/// negated with probability 1/4 (holes and darker inclusions).
pub fn random_ellipse_list(count: usize, seed: u64) -> Vec<Ellipse> {
    let mut rng = crate::rng(seed);
    (0..count)
        .map(|_| {
            let (x0, y0) = disc_point(&mut rng, 0.7);
            let a = rng.random_range(0.05..0.4);
            let b = rng.random_range(0.05..0.4);
            let phi_deg = rng.random_range(0.0..180.0);
            let mag = rng.random_range(0.1..1.0);
            let value = if rng.random_bool(0.25) { -mag } else { mag };
            Ellipse {
                value,
                a,
                b,
                x0,
                y0,
                phi_deg,
            }
        })
        .collect()
}

/// A seeded image of `count` random ellipses ([`random_ellipse_list`]) on an `h x w`
/// grid (geometry as for [`shepp_logan_hw`]), point sampled: intensities add up, the sum
/// is clipped below at 0 and, if its maximum exceeds 1, divided by that maximum, so
/// values lie in `[0, 1]`. The same `(h, w, count, seed)` always gives the same image;
/// a training set uses seeds `base, base + 1, ...`.
pub fn random_ellipses(h: usize, w: usize, count: usize, seed: u64) -> Array2<f32> {
    random_ellipses_supersampled(h, w, count, seed, 1)
}

/// [`random_ellipses`] with `supersample x supersample` samples averaged into each pixel
/// (anti-aliased edges, as an image resized from a finer grid has; 1: point sampling).
/// Clipping and normalisation act on the averaged values.
///
/// # Panics
/// If `supersample` is 0.
pub fn random_ellipses_supersampled(
    h: usize,
    w: usize,
    count: usize,
    seed: u64,
    supersample: usize,
) -> Array2<f32> {
    clip_unit(rasterize(
        h,
        w,
        &random_ellipse_list(count, seed),
        supersample,
    ))
}

/// A point uniform in the disc of radius `radius` about the origin (two draws: the radius's
/// square root, then the angle).
fn disc_point<R: rand::Rng + ?Sized>(rng: &mut R, radius: f64) -> (f64, f64) {
    let r = radius * rng.random::<f64>().sqrt();
    let t = rng.random_range(0.0..std::f64::consts::TAU);
    (r * t.cos(), r * t.sin())
}

/// Clip below at 0 and, if the maximum exceeds 1, divide by it.
fn clip_unit(mut img: Array2<f64>) -> Array2<f32> {
    img.mapv_inplace(|v| v.max(0.0));
    let max = img.iter().copied().fold(0.0f64, f64::max);
    if max > 1.0 {
        img.mapv_inplace(|v| v / max);
    }
    to_unit_f32(img)
}

/// The ellipses of a random head-like phantom ([`random_head`]) for a seed.
///
/// A shell (the skull of a head phantom): an outer ellipse centred within 0.1 of the
/// origin, semi-axes uniform in `[0.55, 0.95]`, rotation uniform in `[0°, 180°)`,
/// intensity `v` uniform in `[0.4, 1]`; and an inner ellipse with the same centre and
/// rotation, each semi-axis shorter by a thickness uniform in `[0.015, 0.08]` (2 to 10
/// pixels at 256²), intensity `-v` plus a filling level uniform in `[0, 0.5] v`. Then
/// 3 to 10 inner ellipses: centres uniform in the disc of radius `0.5 min(a, b)` of the
/// inner axes, semi-axes uniform in `[0.02, 0.3]`, intensity `±[0.05, 0.5] v` (negative
/// with probability 1/4). Thin, bright, curved edges beside flat low-contrast regions: the
/// structure of CT and MRI head phantoms.
pub fn random_head_list(seed: u64) -> Vec<Ellipse> {
    let mut rng = crate::rng(seed);
    let (x0, y0) = disc_point(&mut rng, 0.1);
    let a = rng.random_range(0.55..0.95);
    let b = rng.random_range(0.55..0.95);
    let phi_deg = rng.random_range(0.0..180.0);
    let v = rng.random_range(0.4..1.0);
    let thickness = rng.random_range(0.015..0.08);
    let fill = rng.random_range(0.0..0.5) * v;
    let (ia, ib) = (a - thickness, b - thickness);
    let mut list = vec![
        Ellipse {
            value: v,
            a,
            b,
            x0,
            y0,
            phi_deg,
        },
        Ellipse {
            value: fill - v,
            a: ia,
            b: ib,
            x0,
            y0,
            phi_deg,
        },
    ];
    let inner = rng.random_range(3..=10);
    let reach = 0.5 * ia.min(ib);
    for _ in 0..inner {
        let (dx, dy) = disc_point(&mut rng, reach);
        let mag = rng.random_range(0.05..0.5) * v;
        list.push(Ellipse {
            value: if rng.random_bool(0.25) { -mag } else { mag },
            a: rng.random_range(0.02..0.3),
            b: rng.random_range(0.02..0.3),
            x0: x0 + dx,
            y0: y0 + dy,
            phi_deg: rng.random_range(0.0..180.0),
        });
    }
    list
}

/// A seeded random head-like phantom ([`random_head_list`]) on an `h x w` grid with
/// `supersample x supersample` samples per pixel, clipped and normalised like
/// [`random_ellipses_supersampled`].
///
/// # Panics
/// If `supersample` is 0.
pub fn random_head(h: usize, w: usize, seed: u64, supersample: usize) -> Array2<f32> {
    clip_unit(rasterize(h, w, &random_head_list(seed), supersample))
}

/// Parameters of [`dead_leaves`]: leaf radii (in output pixels) follow the density
/// `p(r) ∝ r^(-alpha)` on `[r_min, r_max]`; `alpha = 3` makes the image statistics close
/// to scale invariant, as those of natural images are (Lee, Mumford & Huang, IJCV 2001).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DeadLeaves {
    /// Smallest leaf radius, pixels (> 0).
    pub r_min: f64,
    /// Largest leaf radius, pixels (>= `r_min`).
    pub r_max: f64,
    /// Exponent of the radius density (>= 0).
    pub alpha: f64,
    /// Sub-pixel samples per side averaged into each pixel (>= 1; 1: point sampling).
    pub supersample: usize,
}

impl Default for DeadLeaves {
    /// Radii from 1 to 256 pixels, `alpha = 3`, 4x4 samples per pixel.
    fn default() -> Self {
        Self {
            r_min: 1.0,
            r_max: 256.0,
            alpha: 3.0,
            supersample: 4,
        }
    }
}

impl DeadLeaves {
    /// Check the parameters.
    pub fn validate(&self) -> crate::Result<()> {
        let bad = |why: String| Err(crate::Error::param("dead leaves", why));
        if !(self.r_min.is_finite() && self.r_min > 0.0) {
            return bad(format!("r_min must be finite and > 0, got {}", self.r_min));
        }
        if !(self.r_max.is_finite() && self.r_max >= self.r_min) {
            return bad(format!(
                "r_max must be finite and >= r_min ({}), got {}",
                self.r_min, self.r_max
            ));
        }
        if !(self.alpha.is_finite() && self.alpha >= 0.0) {
            return bad(format!("alpha must be finite and >= 0, got {}", self.alpha));
        }
        if self.supersample == 0 {
            return bad("supersample must be >= 1".into());
        }
        Ok(())
    }

    /// The radius at quantile `u` in `[0, 1]` of the density `∝ r^(-alpha)` on
    /// `[a, b]` (the inverse of its distribution function).
    fn radius(u: f64, a: f64, b: f64, alpha: f64) -> f64 {
        if a == b {
            return a;
        }
        if (alpha - 1.0).abs() < 1e-12 {
            return a * (b / a).powf(u);
        }
        let e = 1.0 - alpha;
        let (pa, pb) = (a.powf(e), b.powf(e));
        (pa + u * (pb - pa)).powf(1.0 / e).clamp(a, b)
    }
}

/// A seeded dead-leaves image (Matheron's model): opaque discs of uniform random gray level
/// in `[0, 1]`, radius drawn from [`DeadLeaves`]' power law and centre uniform over the
/// plane, fall one on top of another; the image shows the uppermost disc at every point.
/// It is generated front to back: each new disc only paints what the discs drawn before
/// (which lie above it) left uncovered, until every sample is covered. Sub-pixel samples
/// (`supersample²` per pixel, at the sub-pixel centres) are averaged, so edges are
/// anti-aliased. A generic piecewise-constant model of natural images (flat regions,
/// sharp edges and occlusions at every scale), also used as synthetic training data for
/// denoisers (Achddou, Gousseau & Ladjal, SSVM 2021).
///
/// Discs whose centre lies farther than `r_max` from the image cannot touch it; centres
/// are drawn over the image grown by `r_max` on each side and those discs that miss the
/// image are skipped, so the image is a window on the stationary model. (A sample still
/// uncovered after 2^26 discs, which needs implausibly small `r_min`, takes the value 0.5.)
pub fn dead_leaves(
    h: usize,
    w: usize,
    params: &DeadLeaves,
    seed: u64,
) -> crate::Result<Array2<f32>> {
    params.validate()?;
    let s = params.supersample;
    let (hh, ww) = (h * s, w * s);
    let mut fine = vec![f32::NAN; hh * ww];
    let mut left = fine.len();
    let (a, b) = (params.r_min * s as f64, params.r_max * s as f64);
    let mut rng = crate::rng(seed);
    let mut drawn = 0u64;
    while left > 0 && drawn < 1 << 26 {
        drawn += 1;
        let r = DeadLeaves::radius(rng.random::<f64>(), a, b, params.alpha);
        let cx = -b + rng.random::<f64>() * (ww as f64 + 2.0 * b);
        let cy = -b + rng.random::<f64>() * (hh as f64 + 2.0 * b);
        let value = rng.random::<f32>();
        // Sample (i, j) sits at (i + 0.5, j + 0.5).
        let i0 = (cy - r - 0.5).ceil().max(0.0);
        let i1 = (cy + r - 0.5).floor().min(hh as f64 - 1.0);
        if i0 > i1 {
            continue;
        }
        for i in i0 as usize..=i1 as usize {
            let dy = i as f64 + 0.5 - cy;
            let half = (r * r - dy * dy).max(0.0).sqrt();
            let j0 = (cx - half - 0.5).ceil().max(0.0);
            let j1 = (cx + half - 0.5).floor().min(ww as f64 - 1.0);
            if j0 > j1 {
                continue;
            }
            for v in &mut fine[i * ww + j0 as usize..=i * ww + j1 as usize] {
                if v.is_nan() {
                    *v = value;
                    left -= 1;
                }
            }
        }
    }
    let mut out = Array2::<f32>::zeros((h, w));
    let norm = 1.0 / (s * s) as f64;
    for ((i, j), o) in out.indexed_iter_mut() {
        let mut sum = 0.0f64;
        for di in 0..s {
            let row = &fine[(i * s + di) * ww + j * s..(i * s + di) * ww + (j + 1) * s];
            sum += row
                .iter()
                .map(|&v| if v.is_nan() { 0.5 } else { v as f64 })
                .sum::<f64>();
        }
        *o = (sum * norm) as f32;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_scikit_image_at_400() {
        // Level counts of skimage.data.shepp_logan_phantom() (400x400, values rounded to
        // 8 bits: 0, 25, 51, 76, 102, 255), computed with scikit-image 0.26.0.
        let want = [
            (0.0f32, 92847usize),
            (0.1, 225),
            (0.2, 52866),
            (0.3, 6950),
            (0.4, 122),
            (1.0, 6990),
        ];
        let p = shepp_logan(400);
        let mut total = 0;
        for (level, count) in want {
            let got = p.iter().filter(|&&v| (v - level).abs() < 1e-6).count();
            assert_eq!(got, count, "pixels at level {level}");
            total += got;
        }
        assert_eq!(total, 400 * 400, "only the six levels occur");
        // The outline of the skull on the centre lines (also from scikit-image).
        assert_eq!((p[[15, 200]], p[[16, 200]]), (0.0, 1.0));
        assert_eq!((p[[383, 200]], p[[384, 200]]), (1.0, 0.0));
        assert_eq!((p[[200, 61]], p[[200, 62]]), (0.0, 1.0));
        assert_eq!((p[[200, 337]], p[[200, 338]]), (1.0, 0.0));
    }

    #[test]
    fn mirror_symmetric_away_from_the_asymmetric_ellipses() {
        // The two ventricles differ in size and the three small bottom ellipses are not
        // mirror images; every other row is exactly left-right symmetric.
        for n in [128usize, 129, 256] {
            let p = shepp_logan_supersampled(n, n, 3);
            let unit = (n as f64 - 1.0) / 2.0;
            let mut checked = 0;
            for i in 0..n {
                let y = -(i as f64 - unit) / unit;
                if y.abs() < 0.45 || (-0.7..=-0.5).contains(&y) {
                    continue;
                }
                for j in 0..n {
                    assert_eq!(p[[i, j]], p[[i, n - 1 - j]], "n={n} row {i} col {j}");
                }
                checked += 1;
            }
            assert!(checked > n / 3);
            // ...and it is not symmetric overall.
            let asym = (0..n)
                .flat_map(|i| (0..n).map(move |j| (i, j)))
                .filter(|&(i, j)| p[[i, j]] != p[[i, n - 1 - j]])
                .count();
            assert!(asym > 0);
        }
    }

    #[test]
    fn supersampled_mean_matches_analytic_integral() {
        // Ellipses add, so the integral of the phantom is Σ value·π·a·b; a pixel covers
        // (2/(n-1))² in phantom units.
        let integral: f64 = MODIFIED_SHEPP_LOGAN
            .iter()
            .map(|e| e.value * std::f64::consts::PI * e.a * e.b)
            .sum();
        for (n, s, tol) in [(256usize, 8usize, 5e-4), (101, 16, 1e-4), (64, 1, 3e-2)] {
            let p = shepp_logan_supersampled(n, n, s);
            let px = 2.0 / (n as f64 - 1.0);
            let got: f64 = p.iter().map(|&v| v as f64).sum::<f64>() * px * px;
            let rel = (got - integral).abs() / integral;
            eprintln!("n={n} s={s}: relative integral error {rel:e}");
            assert!(rel < tol, "n={n} s={s}: {got} vs {integral} (rel {rel:e})");
            assert!(p.iter().all(|&v| (0.0..=1.0).contains(&v)));
        }
    }

    #[test]
    fn agrees_with_the_bundled_png() {
        // data/shepp_logan_256.png is scikit-image's 400x400 phantom resized (with
        // anti-aliasing) to 256x256 and quantised to 8 bits.
        let png = crate::data::bundled("shepp_logan").unwrap();
        let p = shepp_logan_supersampled(256, 256, 4);
        let mad = p
            .iter()
            .zip(png.iter())
            .map(|(a, b)| (a - b).abs() as f64)
            .sum::<f64>()
            / (256.0 * 256.0);
        eprintln!("mean |phantom - bundled png| = {mad}");
        assert!(mad < 0.006, "mean |difference| {mad}");
        // Mirrored vertically it would be far off (the orientation is right).
        let flipped = Array2::from_shape_fn((256, 256), |(i, j)| p[[255 - i, j]]);
        let mad_f = flipped
            .iter()
            .zip(png.iter())
            .map(|(a, b)| (a - b).abs() as f64)
            .sum::<f64>()
            / (256.0 * 256.0);
        eprintln!("flipped: {mad_f}");
        assert!(mad_f > 5.0 * mad, "{mad_f} vs {mad}");
    }

    #[test]
    fn rectangular_grid_and_tiny_sizes() {
        let p = shepp_logan_hw(100, 160);
        assert_eq!(p.dim(), (100, 160));
        // Centred with square pixels: the 100x100 centre block is the square phantom.
        let sq = shepp_logan(100);
        for i in 0..100 {
            for j in 0..100 {
                assert_eq!(p[[i, j + 30]], sq[[i, j]]);
            }
        }
        // The extra columns hold background only.
        assert!(p.iter().enumerate().all(|(k, &v)| {
            let j = k % 160;
            (30..130).contains(&j) || v == 0.0
        }));
        assert_eq!(shepp_logan(1)[[0, 0]], 0.2);
        assert_eq!(shepp_logan(0).len(), 0);
    }

    #[test]
    fn random_ellipses_are_seeded_and_in_range() {
        let a = random_ellipses(64, 80, 12, 7);
        let b = random_ellipses(64, 80, 12, 7);
        let c = random_ellipses(64, 80, 12, 8);
        assert_eq!(a, b);
        assert_ne!(a, c);
        for img in [&a, &c] {
            assert!(img.iter().all(|&v| (0.0..=1.0).contains(&v)));
            let nonzero = img.iter().filter(|&&v| v > 0.0).count();
            assert!(nonzero > 64 * 80 / 10, "{nonzero}");
            assert!(
                img.iter().any(|&v| v == 0.0),
                "background stays 0 somewhere"
            );
        }
        assert!(random_ellipses(16, 16, 0, 1).iter().all(|&v| v == 0.0));
        // The list obeys its documented ranges.
        for el in random_ellipse_list(500, 3) {
            assert!((0.05..0.4).contains(&el.a) && (0.05..0.4).contains(&el.b));
            assert!((0.1..1.0).contains(&el.value.abs()));
            assert!(el.x0.hypot(el.y0) <= 0.7);
            assert!((0.0..180.0).contains(&el.phi_deg));
        }
        let neg = random_ellipse_list(4000, 5)
            .iter()
            .filter(|e| e.value < 0.0)
            .count();
        assert!((900..1100).contains(&neg), "{neg} negative of 4000");
        // A single positive ellipse is rasterised as it is, without rescaling.
        let seed = (0..100u64)
            .find(|&s| random_ellipse_list(1, s)[0].value > 0.0)
            .unwrap();
        let one = random_ellipse_list(1, seed)[0];
        let single = random_ellipses(32, 32, 1, seed);
        let direct = rasterize(32, 32, &[one], 1);
        assert!(direct.iter().any(|&v| v > 0.0));
        for (s, d) in single.iter().zip(direct.iter()) {
            assert_eq!(*s, *d as f32);
        }
    }

    #[test]
    fn random_heads_have_a_thin_bright_shell_around_flatter_insides() {
        let a = random_head(128, 128, 0, 2);
        assert_eq!(a, random_head(128, 128, 0, 2));
        assert_ne!(a, random_head(128, 128, 1, 2));
        for seed in 0..50 {
            let list = random_head_list(seed);
            assert!((5..=12).contains(&list.len()), "{}", list.len());
            let (outer, inner) = (list[0], list[1]);
            assert!(outer.x0.hypot(outer.y0) <= 0.1);
            assert!((0.55..0.95).contains(&outer.a) && (0.55..0.95).contains(&outer.b));
            let t = outer.a - inner.a;
            assert!((0.015..0.08).contains(&t), "{t}");
            assert!((outer.b - inner.b - t).abs() < 1e-12);
            assert_eq!(
                (outer.x0, outer.y0, outer.phi_deg),
                (inner.x0, inner.y0, inner.phi_deg)
            );
            assert!((0.4..1.0).contains(&outer.value));
            // The inside is filled at a lower, non-negative level than the shell.
            let fill = outer.value + inner.value;
            assert!((0.0..0.5 * outer.value).contains(&fill), "{fill}");
            let reach = 0.5 * inner.a.min(inner.b);
            for el in &list[2..] {
                assert!((el.x0 - outer.x0).hypot(el.y0 - outer.y0) <= reach + 1e-12);
                assert!((0.02..0.3).contains(&el.a) && (0.02..0.3).contains(&el.b));
                let m = el.value.abs() / outer.value;
                assert!((0.05..0.5).contains(&m), "{m}");
            }
            // Rasterised: in range, background 0 outside the shell, and the shell is drawn.
            let img = random_head(96, 96, seed, 2);
            assert!(img.iter().all(|&v| (0.0..=1.0).contains(&v)));
            assert_eq!(img[[0, 0]], 0.0);
            assert!(img.iter().copied().fold(0.0f32, f32::max) > 0.3);
        }
        // The shell alone: along its own x axis, 0 outside, the shell's level across the
        // band of the stated thickness, the filling level inside.
        let list = random_head_list(3);
        let (outer, inner) = (list[0], list[1]);
        let n = 1001;
        let shell = rasterize(n, n, &list[..2], 1);
        let (c, s) = (
            outer.phi_deg.to_radians().cos(),
            outer.phi_deg.to_radians().sin(),
        );
        let at = |d: f64| {
            let (x, y) = (outer.x0 + d * c, outer.y0 + d * s);
            let half = (n - 1) as f64 / 2.0;
            shell[[
                (half - y * half).round() as usize,
                (x * half + half).round() as usize,
            ]]
        };
        let tol = 4.0 / (n - 1) as f64;
        assert_eq!(at(outer.a + tol), 0.0);
        assert!((at(0.5 * (outer.a + inner.a)) - outer.value).abs() < 1e-12);
        assert!((at(inner.a - tol) - (outer.value + inner.value)).abs() < 1e-12);
    }

    #[test]
    fn dead_leaves_radii_follow_the_power_law() {
        // Distribution function of r^-3 on [1, 100]: F(r) = (1 - r^-2) / (1 - 100^-2).
        let f = |r: f64| (1.0 - r.powi(-2)) / (1.0 - 1e-4);
        for r in [1.0, 1.5, 2.0, 5.0, 30.0, 100.0] {
            let got = DeadLeaves::radius(f(r), 1.0, 100.0, 3.0);
            assert!((got - r).abs() < 1e-9 * r, "{r}: {got}");
        }
        // alpha = 1 is log-uniform, alpha = 0 uniform; equal bounds give that radius.
        assert!((DeadLeaves::radius(0.5, 1.0, 100.0, 1.0) - 10.0).abs() < 1e-9);
        assert!((DeadLeaves::radius(0.25, 2.0, 6.0, 0.0) - 3.0).abs() < 1e-9);
        assert_eq!(DeadLeaves::radius(0.7, 4.0, 4.0, 3.0), 4.0);
    }

    #[test]
    fn dead_leaves_are_seeded_flat_leaves_and_supersampling_is_the_block_mean() {
        let p = DeadLeaves {
            r_min: 2.0,
            r_max: 40.0,
            alpha: 3.0,
            supersample: 1,
        };
        let a = dead_leaves(48, 64, &p, 3).unwrap();
        assert_eq!(a, dead_leaves(48, 64, &p, 3).unwrap());
        assert_ne!(a, dead_leaves(48, 64, &p, 4).unwrap());
        // Point sampled, every pixel shows one leaf's gray level: flat regions, several
        // leaves, neighbours mostly equal.
        assert!(a.iter().all(|&v| (0.0..1.0).contains(&v)));
        let mut levels: Vec<f32> = a.iter().copied().collect();
        levels.sort_by(f32::total_cmp);
        levels.dedup();
        assert!(
            levels.len() > 10 && levels.len() < 48 * 64 / 4,
            "{}",
            levels.len()
        );
        let same = a
            .windows((1, 2))
            .into_iter()
            .filter(|w| w[[0, 0]] == w[[0, 1]])
            .count();
        assert!(same > 47 * 64 * 7 / 10, "{same}");
        // Supersampling s renders the same discs on the s-times finer grid (radii in fine
        // pixels are r * s either way) and averages s x s blocks.
        let s = 4;
        let fine = dead_leaves(
            48 * s,
            64 * s,
            &DeadLeaves {
                r_min: 2.0 * s as f64,
                r_max: 40.0 * s as f64,
                ..p
            },
            3,
        )
        .unwrap();
        let coarse = dead_leaves(
            48,
            64,
            &DeadLeaves {
                supersample: s,
                ..p
            },
            3,
        )
        .unwrap();
        let mut mixed = 0;
        for ((i, j), &c) in coarse.indexed_iter() {
            let block: Vec<f32> = (0..s * s)
                .map(|k| fine[[i * s + k / s, j * s + k % s]])
                .collect();
            let mean = block.iter().map(|&v| v as f64).sum::<f64>() / (s * s) as f64;
            assert!((c as f64 - mean).abs() < 1e-6, "({i}, {j}): {c} vs {mean}");
            mixed += usize::from(block.iter().any(|&v| v != block[0]));
        }
        assert!(
            mixed > 0,
            "some pixels straddle an edge and are anti-aliased"
        );
        // Bad parameters are refused.
        for bad in [
            DeadLeaves { r_min: 0.0, ..p },
            DeadLeaves { r_max: 1.0, ..p },
            DeadLeaves { alpha: -1.0, ..p },
            DeadLeaves {
                supersample: 0,
                ..p
            },
            DeadLeaves {
                r_max: f64::NAN,
                ..p
            },
        ] {
            assert!(dead_leaves(8, 8, &bad, 0).is_err(), "{bad:?}");
        }
    }
}
