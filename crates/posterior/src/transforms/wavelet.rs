//! Orthonormal multilevel 2-D discrete wavelet transform with periodic extension.
//!
//! # One level in one dimension
//!
//! For an orthonormal wavelet with scaling (low-pass reconstruction) filter
//! `h = (h_0, ..., h_{F-1})` and wavelet (high-pass reconstruction) filter
//! `g_m = (-1)^m h_{F-1-m}`, a signal `x` of even length `n` is split into
//!
//! ```text
//! a_o = Σ_m h_m x[(2o + m + s) mod n],   d_o = Σ_m g_m x[(2o + m + s) mod n],
//! o = 0, ..., n/2 - 1,   s = 1 - F/2,
//! ```
//!
//! stored as `(a_0, ..., a_{n/2-1}, d_0, ..., d_{n/2-1})`. Because `Σ_m h_m h_{m+2k} = δ_k`
//! (and likewise for `g`, with `h ⟂ g` under even shifts), this `n x n` map is orthogonal:
//! its inverse is its transpose, `x[(2o + m + s) mod n] += h_m a_o + g_m d_o`. The shift
//! `s` reproduces PyWavelets' `mode="periodization"` exactly (its decomposition filters are
//! `dec_lo = reverse(h)`, `dec_hi = reverse(g)`, and its periodized downsampling convolution
//! starts at index `F/2`), so coefficients agree with `pywt.wavedec2(x, w,
//! mode="periodization")` value for value, including signs. Filters longer than the signal
//! wrap around it several times; the map stays orthogonal for every even `n`.
//!
//! # Two dimensions, several levels
//!
//! One 2-D level transforms every row of the current `h x w` approximation block, then every
//! column, in place. The block then holds, in the standard in-place layout (PyWavelets'
//! `coeffs_to_array`): the approximation `aa` in the top-left `h/2 x w/2` corner, `ad`
//! (approximation down the columns, detail along the rows, pywt's `cV`) top-right, `da`
//! (pywt's `cH`) bottom-left and `dd` (pywt's `cD`) bottom-right. The next level recurses on
//! the top-left corner. After `L` levels the coarse approximation occupies the top-left
//! `(H >> L) x (W >> L)` corner. The whole transform is square and orthogonal, so
//! [`Wavelet2d`]'s adjoint is its inverse.
//!
//! # Filters
//!
//! The Daubechies filters `dbN` (`N` vanishing moments, length `2N`, extremal phase) are the
//! values of I. Daubechies, *Ten Lectures on Wavelets*, SIAM 1992, Table 6.1, normalized to
//! `Σ h = sqrt(2)`; the least-asymmetric `sym4` / `sym8` are from Table 6.3 of the same book.
//! The digits below agree with those tabulated by PyWavelets (`pywt.Wavelet(name).rec_lo`).
//! `haar` is `db1`.

use ndarray::{ArrayViewD, ArrayViewMutD};
use rayon::prelude::*;

use crate::error::{Error, Result};
use crate::ops::{LinearOperator, planes};

const HAAR: [f64; 2] = [
    std::f64::consts::FRAC_1_SQRT_2,
    std::f64::consts::FRAC_1_SQRT_2,
];

const DB2: [f64; 4] = [
    0.48296291314453416,
    0.8365163037378079,
    0.2241438680420134,
    -0.12940952255126037,
];

const DB3: [f64; 6] = [
    0.33267055295008263,
    0.8068915093110925,
    0.45987750211849154,
    -0.13501102001025458,
    -0.08544127388202666,
    0.03522629188570953,
];

const DB4: [f64; 8] = [
    0.2303778133088965,
    0.7148465705529157,
    0.6308807679298589,
    -0.027983769416859854,
    -0.18703481171909309,
    0.030841381835560764,
    0.0328830116668852,
    -0.010597401785069032,
];

const DB5: [f64; 10] = [
    0.16010239797419293,
    0.6038292697971896,
    0.7243085284377729,
    0.13842814590132074,
    -0.24229488706638203,
    -0.032244869584638375,
    0.07757149384004572,
    -0.006241490212798274,
    -0.012580751999081999,
    0.0033357252854737712,
];

const DB6: [f64; 12] = [
    0.11154074335010947,
    0.49462389039845306,
    0.7511339080210954,
    0.31525035170919763,
    -0.22626469396543983,
    -0.12976686756726194,
    0.09750160558732304,
    0.027522865530305727,
    -0.03158203931748603,
    0.0005538422011614961,
    0.004777257510945511,
    -0.0010773010853084796,
];

const DB7: [f64; 14] = [
    0.07785205408500918,
    0.3965393194819173,
    0.7291320908462351,
    0.4697822874051931,
    -0.14390600392856498,
    -0.22403618499387498,
    0.07130921926683026,
    0.08061260915108308,
    -0.03802993693501441,
    -0.01657454163066688,
    0.01255099855609984,
    0.0004295779729213665,
    -0.0018016407040474908,
    0.00035371379997452024,
];

const DB8: [f64; 16] = [
    0.05441584224310401,
    0.31287159091429995,
    0.6756307362972898,
    0.5853546836542067,
    -0.015829105256349306,
    -0.2840155429615469,
    0.0004724845739132828,
    0.12874742662047847,
    -0.017369301001807547,
    -0.044088253930794755,
    0.013981027917398282,
    0.008746094047405777,
    -0.004870352993451574,
    -0.00039174037337694705,
    0.0006754494064505693,
    -0.00011747678412476953,
];

const SYM4: [f64; 8] = [
    0.0322231006040427,
    -0.012603967262037833,
    -0.09921954357684722,
    0.29785779560527736,
    0.8037387518059161,
    0.49761866763201545,
    -0.02963552764599851,
    -0.07576571478927333,
];

const SYM8: [f64; 16] = [
    0.0018899503327594609,
    -0.0003029205147213668,
    -0.01495225833704823,
    0.003808752013890615,
    0.049137179673607506,
    -0.027219029917056003,
    -0.05194583810770904,
    0.3644418948353314,
    0.7771857517005235,
    0.4813596512583722,
    -0.061273359067658524,
    -0.1432942383508097,
    0.007607487324917605,
    0.03169508781149298,
    -0.0005421323317911481,
    -0.0033824159510061256,
];

/// An orthonormal compactly supported wavelet, given by its scaling filter (see the module
/// docs for the sources of the coefficients).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Wavelet {
    name: &'static str,
    scaling: &'static [f64],
}

impl Wavelet {
    /// The names [`from_name`](Self::from_name) accepts.
    pub const NAMES: &'static [&'static str] = &[
        "haar", "db1", "db2", "db3", "db4", "db5", "db6", "db7", "db8", "sym4", "sym8",
    ];

    /// Look a wavelet up by name: `haar` (= `db1`), `db2` ... `db8`, `sym4`, `sym8`.
    pub fn from_name(name: &str) -> Result<Wavelet> {
        let (name, scaling): (&'static str, &'static [f64]) = match name {
            "haar" | "db1" => ("haar", &HAAR),
            "db2" => ("db2", &DB2),
            "db3" => ("db3", &DB3),
            "db4" => ("db4", &DB4),
            "db5" => ("db5", &DB5),
            "db6" => ("db6", &DB6),
            "db7" => ("db7", &DB7),
            "db8" => ("db8", &DB8),
            "sym4" => ("sym4", &SYM4),
            "sym8" => ("sym8", &SYM8),
            other => {
                return Err(Error::param(
                    "wavelet",
                    format!(
                        "unknown wavelet {other:?}; expected one of {}",
                        Self::NAMES.join(", ")
                    ),
                ));
            }
        };
        Ok(Wavelet { name, scaling })
    }

    /// The canonical name (`haar` for `db1`).
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// Filter length `F` (twice the number of vanishing moments for `dbN` / `symN`).
    pub fn filter_len(&self) -> usize {
        self.scaling.len()
    }

    /// The scaling (low-pass reconstruction) filter `h`, with `Σ h_m = sqrt(2)` and
    /// `Σ h_m h_{m+2k} = δ_k` (pywt's `rec_lo`).
    pub fn scaling_filter(&self) -> &'static [f64] {
        self.scaling
    }

    /// The wavelet (high-pass reconstruction) filter `g_m = (-1)^m h_{F-1-m}` (pywt's
    /// `rec_hi`).
    pub fn wavelet_filter(&self) -> Vec<f64> {
        let f = self.scaling.len();
        (0..f)
            .map(|m| {
                let v = self.scaling[f - 1 - m];
                if m % 2 == 0 { v } else { -v }
            })
            .collect()
    }
}

/// How many times `h` and `w` can both be halved to even sizes: the largest `L` with
/// `2^L` dividing both.
pub fn max_levels(h: usize, w: usize) -> usize {
    let mut l = 0;
    let (mut h, mut w) = (h, w);
    while h > 0 && w > 0 && h % 2 == 0 && w % 2 == 0 {
        h /= 2;
        w /= 2;
        l += 1;
    }
    l
}

/// The orthonormal multilevel 2-D DWT with periodic extension, applied to every plane of an
/// image `[H, W]` or `[C, H, W]`; coefficients have the image's shape, in the in-place layout
/// of the module docs. Orthogonal: `W^T W = W W^T = I`, so the adjoint is the inverse and
/// `||W x|| = ||x||`.
#[derive(Clone, Debug)]
pub struct Wavelet2d {
    wavelet: Wavelet,
    levels: usize,
    shape: Vec<usize>,
    c: usize,
    h: usize,
    w: usize,
    lo: Vec<f32>,
    hi: Vec<f32>,
}

impl Wavelet2d {
    /// The default number of levels for `h x w` planes: `min(4, max_levels(h, w))`.
    pub fn default_levels(h: usize, w: usize) -> usize {
        max_levels(h, w).min(4)
    }

    /// Build the transform for images of `shape`, with `levels` levels (`None`: the
    /// [default](Self::default_levels)). Errors unless `1 <= levels` and `2^levels` divides
    /// both `H` and `W`.
    pub fn new(wavelet: Wavelet, shape: &[usize], levels: Option<usize>) -> Result<Self> {
        let (c, h, w) = planes(shape)?;
        let max = max_levels(h, w);
        let levels = levels.unwrap_or_else(|| Self::default_levels(h, w));
        if max == 0 {
            return Err(Error::param(
                "levels",
                format!(
                    "{h}x{w} planes admit no level of the periodized wavelet transform: H and W \
                     must both be even (divisible by 2^levels); crop or pad the image"
                ),
            ));
        }
        if levels == 0 || levels > max {
            return Err(Error::param(
                "levels",
                format!(
                    "must be in 1..={max} for {h}x{w} planes (2^levels must divide H and W), \
                     got {levels}"
                ),
            ));
        }
        Ok(Wavelet2d {
            wavelet,
            levels,
            shape: shape.to_vec(),
            c,
            h,
            w,
            lo: wavelet.scaling.iter().map(|&v| v as f32).collect(),
            hi: wavelet.wavelet_filter().iter().map(|&v| v as f32).collect(),
        })
    }

    /// Build from a registry spec `wavelet:wavelet=NAME,levels=L` (defaults: `db4`, the
    /// [default levels](Self::default_levels) of the shape).
    pub fn from_spec(spec: &crate::spec::Spec, shape: &[usize]) -> Result<Self> {
        let args = spec.args(&["wavelet", "levels"])?;
        let name = args.choice("wavelet", Wavelet::NAMES, "db4")?;
        let levels = args.usize_opt("levels")?;
        Wavelet2d::new(Wavelet::from_name(&name)?, shape, levels)
    }

    /// The wavelet.
    pub fn wavelet(&self) -> Wavelet {
        self.wavelet
    }

    /// Number of decomposition levels.
    pub fn levels(&self) -> usize {
        self.levels
    }

    /// Size `(H >> levels, W >> levels)` of the coarse approximation block in the top-left
    /// corner of each coefficient plane.
    pub fn approximation_size(&self) -> (usize, usize) {
        (self.h >> self.levels, self.w >> self.levels)
    }

    /// In-place forward transform of one row-major `H x W` plane.
    ///
    /// # Panics
    /// If `plane.len() != H * W`.
    pub fn forward_plane(&self, plane: &mut [f32]) {
        let (h, w) = (self.h, self.w);
        assert_eq!(plane.len(), h * w, "Wavelet2d: plane is not H*W");
        let mut block = vec![0.0f32; h * w];
        for l in 0..self.levels {
            let (hb, wb) = (h >> l, w >> l);
            self.each_row(plane, hb, wb, true);
            self.cols_forward(plane, hb, wb, &mut block);
        }
    }

    /// In-place inverse (= transpose) of [`forward_plane`](Self::forward_plane).
    ///
    /// # Panics
    /// If `plane.len() != H * W`.
    pub fn inverse_plane(&self, plane: &mut [f32]) {
        let (h, w) = (self.h, self.w);
        assert_eq!(plane.len(), h * w, "Wavelet2d: plane is not H*W");
        let mut block = vec![0.0f32; h * w];
        for l in (0..self.levels).rev() {
            let (hb, wb) = (h >> l, w >> l);
            self.cols_inverse(plane, hb, wb, &mut block);
            self.each_row(plane, hb, wb, false);
        }
    }

    /// One level along the first `wb` entries of each of the first `hb` rows, in parallel
    /// for large blocks (each task with its own periodic-extension buffer).
    fn each_row(&self, plane: &mut [f32], hb: usize, wb: usize, forward: bool) {
        let ext_len = wb + self.lo.len();
        // about 8192 samples per task keeps rayon's overhead small on small blocks
        let min_rows = (8192 / wb).max(1);
        plane[..hb * self.w]
            .par_chunks_mut(self.w)
            .with_min_len(min_rows)
            .for_each_init(
                || vec![0.0f32; ext_len],
                |line, row| {
                    if forward {
                        self.rows_forward(&mut row[..wb], line)
                    } else {
                        self.rows_inverse(&mut row[..wb], line)
                    }
                },
            );
    }

    /// Periodic shift `s = 1 - F/2` reduced modulo `n`.
    fn shift(&self, n: usize) -> usize {
        let f = self.lo.len() as isize;
        (1 - f / 2).rem_euclid(n as isize) as usize
    }

    /// One level along a contiguous line `x` (even length): `x <- (a | d)`.
    fn rows_forward(&self, x: &mut [f32], scratch: &mut [f32]) {
        let n = x.len();
        let f = self.lo.len();
        let s = self.shift(n);
        let ext = &mut scratch[..n + f - 2];
        for (k, e) in ext.iter_mut().enumerate() {
            *e = x[(k + s) % n];
        }
        let half = n / 2;
        let (a, d) = x.split_at_mut(half);
        for (o, (ao, d_o)) in a.iter_mut().zip(d.iter_mut()).enumerate() {
            let win = &ext[2 * o..2 * o + f];
            let mut sa = 0.0f32;
            let mut sd = 0.0f32;
            for ((&v, &hm), &gm) in win.iter().zip(&self.lo).zip(&self.hi) {
                sa += hm * v;
                sd += gm * v;
            }
            *ao = sa;
            *d_o = sd;
        }
    }

    /// Transpose of [`rows_forward`](Self::rows_forward): `(a | d) <- x`.
    fn rows_inverse(&self, x: &mut [f32], scratch: &mut [f32]) {
        let n = x.len();
        let f = self.lo.len();
        let s = self.shift(n);
        let half = n / 2;
        let ext = &mut scratch[..n + f - 2];
        ext.fill(0.0);
        for o in 0..half {
            let (ao, d_o) = (x[o], x[half + o]);
            let win = &mut ext[2 * o..2 * o + f];
            for ((e, &hm), &gm) in win.iter_mut().zip(&self.lo).zip(&self.hi) {
                *e += hm * ao + gm * d_o;
            }
        }
        x.fill(0.0);
        for (k, &e) in ext.iter().enumerate() {
            x[(k + s) % n] += e;
        }
    }

    /// One level down the columns of the top-left `hb x wb` block of `plane` (row stride
    /// `W`), as whole-row vector operations.
    fn cols_forward(&self, plane: &mut [f32], hb: usize, wb: usize, block: &mut [f32]) {
        let w = self.w;
        let s = self.shift(hb);
        let half = hb / 2;
        let block = &mut block[..hb * wb];
        for (r, dst) in block.chunks_exact_mut(wb).enumerate() {
            dst.copy_from_slice(&plane[r * w..r * w + wb]);
        }
        for o in 0..half {
            let (top, bottom) = plane.split_at_mut((half + o) * w);
            let a = &mut top[o * w..o * w + wb];
            let d = &mut bottom[..wb];
            a.fill(0.0);
            d.fill(0.0);
            for (m, (&hm, &gm)) in self.lo.iter().zip(&self.hi).enumerate() {
                let r = (2 * o + m + s) % hb;
                let src = &block[r * wb..(r + 1) * wb];
                for ((av, dv), &v) in a.iter_mut().zip(d.iter_mut()).zip(src) {
                    *av += hm * v;
                    *dv += gm * v;
                }
            }
        }
    }

    /// Transpose of [`cols_forward`](Self::cols_forward).
    fn cols_inverse(&self, plane: &mut [f32], hb: usize, wb: usize, block: &mut [f32]) {
        let w = self.w;
        let s = self.shift(hb);
        let half = hb / 2;
        let block = &mut block[..hb * wb];
        for (r, dst) in block.chunks_exact_mut(wb).enumerate() {
            dst.copy_from_slice(&plane[r * w..r * w + wb]);
            plane[r * w..r * w + wb].fill(0.0);
        }
        for o in 0..half {
            let a = &block[o * wb..(o + 1) * wb];
            let d = &block[(half + o) * wb..(half + o + 1) * wb];
            for (m, (&hm, &gm)) in self.lo.iter().zip(&self.hi).enumerate() {
                let r = (2 * o + m + s) % hb;
                let dst = &mut plane[r * w..r * w + wb];
                for ((x, &av), &dv) in dst.iter_mut().zip(a).zip(d) {
                    *x += hm * av + gm * dv;
                }
            }
        }
    }

    fn run(&self, src: ArrayViewD<f32>, mut dst: ArrayViewMutD<f32>, forward: bool) {
        dst.assign(&src);
        let plane_len = self.h * self.w;
        let each = |p: &mut [f32]| {
            if forward {
                self.forward_plane(p)
            } else {
                self.inverse_plane(p)
            }
        };
        if let Some(data) = dst.as_slice_mut() {
            data.par_chunks_mut(plane_len).for_each(each);
        } else {
            let mut data: Vec<f32> = dst.iter().copied().collect();
            data.par_chunks_mut(plane_len).for_each(each);
            for (d, v) in dst.iter_mut().zip(data) {
                *d = v;
            }
        }
    }
}

impl LinearOperator for Wavelet2d {
    type Domain = f32;
    type Range = f32;

    fn describe(&self) -> String {
        format!(
            "wavelet({}, {} level(s), periodic, {}x{}x{})",
            self.wavelet.name, self.levels, self.c, self.h, self.w
        )
    }
    fn domain_shape(&self) -> &[usize] {
        &self.shape
    }
    fn range_shape(&self) -> &[usize] {
        &self.shape
    }
    fn apply_into(&self, x: ArrayViewD<f32>, y: ArrayViewMutD<f32>) {
        self.check_domain(x.shape(), "wavelet apply")
            .expect("shape");
        self.run(x, y, true);
    }
    fn adjoint_into(&self, y: ArrayViewD<f32>, x: ArrayViewMutD<f32>) {
        self.check_range(y.shape(), "wavelet adjoint")
            .expect("shape");
        self.run(y, x, false);
    }
    fn gram(&self) -> Option<crate::ops::Gram> {
        Some(crate::ops::Gram::Scalar(1.0))
    }
    fn normal_into(&self, x: ArrayViewD<f32>, mut out: ArrayViewMutD<f32>) {
        out.assign(&x);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_are_orthonormal() {
        // tolerance 1e-11: the tabulated sym4 / sym8 digits are exact to about 1e-12
        for name in Wavelet::NAMES {
            let wv = Wavelet::from_name(name).unwrap();
            let h = wv.scaling_filter();
            let g = wv.wavelet_filter();
            let f = h.len();
            let sum: f64 = h.iter().sum();
            assert!((sum - 2f64.sqrt()).abs() < 1e-11, "{name}: Σh = {sum}");
            assert!(g.iter().sum::<f64>().abs() < 1e-11, "{name}: Σg");
            for k in 0..f / 2 {
                let hh: f64 = (0..f - 2 * k).map(|m| h[m] * h[m + 2 * k]).sum();
                let gg: f64 = (0..f - 2 * k).map(|m| g[m] * g[m + 2 * k]).sum();
                let want = if k == 0 { 1.0 } else { 0.0 };
                assert!(
                    (hh - want).abs() < 1e-11,
                    "{name}: Σ h_m h_(m+{}) = {hh}",
                    2 * k
                );
                assert!(
                    (gg - want).abs() < 1e-11,
                    "{name}: Σ g_m g_(m+{}) = {gg}",
                    2 * k
                );
            }
            // h ⟂ g under all even shifts (both directions)
            for k in -(f as isize)..(f as isize) {
                let hg: f64 = (0..f as isize)
                    .filter(|&m| (0..f as isize).contains(&(m + 2 * k)))
                    .map(|m| h[m as usize] * g[(m + 2 * k) as usize])
                    .sum();
                assert!(hg.abs() < 1e-12, "{name}: h ⟂ g at shift {}", 2 * k);
            }
        }
    }

    #[test]
    fn daubechies_filters_have_vanishing_moments() {
        // dbN: Σ_m (-1)^m m^p h_m = 0 for p < N (N vanishing moments of the wavelet)
        for n in 2..=8 {
            let wv = Wavelet::from_name(&format!("db{n}")).unwrap();
            let h = wv.scaling_filter();
            for p in 0..n {
                let mom: f64 = h
                    .iter()
                    .enumerate()
                    .map(|(m, &v)| if m % 2 == 0 { 1.0 } else { -1.0 } * (m as f64).powi(p) * v)
                    .sum();
                let scale: f64 = (h.len() as f64).powi(p);
                assert!(mom.abs() < 1e-9 * scale, "db{n}: moment {p} = {mom:e}");
            }
        }
    }

    #[test]
    fn max_levels_counts_common_factors_of_two() {
        assert_eq!(max_levels(12, 10), 1);
        assert_eq!(max_levels(40, 36), 2);
        assert_eq!(max_levels(256, 256), 8);
        assert_eq!(max_levels(5, 8), 0);
    }
}
