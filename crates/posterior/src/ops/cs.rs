//! `cs`: compressed sensing, `y = A vec(x)` with `m` random linear measurements of the
//! flattened image (`n = prod(shape)` pixels, range shape `[m]`).
//!
//! Two measurement ensembles, both scaled so that `E ||A x||^2 = ||x||^2` for every fixed
//! `x` (the expectation over the random draw of `A`):
//!
//! * [`Gaussian`] (`kind=gaussian`): a dense `m x n` matrix with i.i.d. `N(0, 1/m)`
//!   entries. Its largest singular value is about `1 + sqrt(n/m)` (Marchenko–Pastur).
//! * [`Structured`] (`kind=fast`): `A = sqrt(n/m) R C D`, a randomly subsampled orthonormal
//!   DCT of the sign-flipped image (a "structurally random matrix", T. T. Do, L. Gan,
//!   N. H. Nguyen, T. D. Tran, "Fast and efficient compressive sensing using structurally
//!   random matrices", IEEE Trans. Signal Process. 60(1), 2012). Its rows are orthogonal
//!   with `A A^T = (n/m) I_m`, so `||A|| = sqrt(n/m)`; it costs `O(n log n)` per product
//!   and `O(n)` memory.
//!
//! The image shape cannot be recovered from `[m]`, so [`infer_domain`] always asks for
//! `--shape HxW`.

use ndarray::{ArrayView2, ArrayViewD, ArrayViewMutD};
use rand::RngExt;
use rand_distr::{Distribution, StandardNormal};
use rayon::prelude::*;

use super::{AnyOperator, LinearOperator, planes};
use crate::error::{Error, Result};
use crate::spec::Spec;
use crate::transforms::Dct1;

/// Largest dense Gaussian matrix [`Gaussian::new`] agrees to store, in bytes (2 GiB).
pub const MAX_DENSE_BYTES: usize = 2 << 30;

/// Number of image pixels for a `[H, W]` or `[C, H, W]` shape, checked.
fn pixel_count(shape: &[usize]) -> Result<usize> {
    planes(shape)?;
    shape
        .iter()
        .try_fold(1usize, |a, &b| a.checked_mul(b))
        .ok_or_else(|| Error::param("shape", format!("{shape:?} has too many pixels")))
}

fn check_m(m: usize, n: usize) -> Result<()> {
    if m == 0 || m > n {
        return Err(Error::param(
            "m",
            format!(
                "the number of measurements must satisfy 1 <= m <= n = {n} (image pixels), got {m}"
            ),
        ));
    }
    Ok(())
}

/// SplitMix64 finalizer, used to derive independent per-row seeds.
fn splitmix64(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Run `f` on `y` as a contiguous slice (through a temporary when `y` is not contiguous).
fn with_out_slice<T: Copy + Default>(mut y: ArrayViewMutD<T>, f: impl FnOnce(&mut [T])) {
    if let Some(s) = y.as_slice_mut() {
        f(s);
        return;
    }
    let mut tmp = vec![T::default(); y.len()];
    f(&mut tmp);
    y.iter_mut().zip(tmp).for_each(|(o, v)| *o = v);
}

/// `Σ a_i b_i`: eight f32 lanes over blocks of 256, block sums accumulated in f64, so the
/// rounding error does not grow with `n` the way a single f32 running sum does.
fn dot_f32(a: &[f32], b: &[f32]) -> f64 {
    let mut total = 0.0f64;
    for (ca, cb) in a.chunks(256).zip(b.chunks(256)) {
        let mut acc = [0.0f32; 8];
        let mut ia = ca.chunks_exact(8);
        let mut ib = cb.chunks_exact(8);
        for (pa, pb) in (&mut ia).zip(&mut ib) {
            for l in 0..8 {
                acc[l] += pa[l] * pb[l];
            }
        }
        let mut s: f64 = acc.iter().map(|&v| v as f64).sum();
        for (p, q) in ia.remainder().iter().zip(ib.remainder()) {
            s += *p as f64 * *q as f64;
        }
        total += s;
    }
    total
}

/// Dense Gaussian compressed sensing: `A` is `m x n` with i.i.d. `N(0, 1/m)` entries,
/// stored row-major in f32 (`4 m n` bytes, refused above [`MAX_DENSE_BYTES`]).
///
/// Row `i` is drawn from its own generator seeded by a hash of `(seed, i)`, so the matrix
/// depends only on `(m, n, seed)`, not on the thread count. `A x` is a parallel loop over
/// rows; `A^T y` a parallel loop over blocks of columns that streams the stored rows, both
/// accumulating in f64.
pub struct Gaussian {
    shape: Vec<usize>,
    range: Vec<usize>,
    n: usize,
    m: usize,
    seed: u64,
    mat: Vec<f32>,
}

impl Gaussian {
    /// Draw an `m x prod(shape)` Gaussian matrix for images of `shape` (`[H, W]` or
    /// `[C, H, W]`). Errors when `m` is not in `[1, n]` or the matrix would exceed
    /// [`MAX_DENSE_BYTES`] (use `kind=fast` then).
    pub fn new(shape: &[usize], m: usize, seed: u64) -> Result<Self> {
        let n = pixel_count(shape)?;
        check_m(m, n)?;
        let bytes = m
            .checked_mul(n)
            .and_then(|e| e.checked_mul(std::mem::size_of::<f32>()));
        match bytes {
            Some(b) if b <= MAX_DENSE_BYTES => {}
            _ => {
                return Err(Error::param(
                    "m",
                    format!(
                        "a dense {m} x {n} Gaussian matrix needs {:.1} GiB (limit {} GiB); use kind=fast, fewer measurements or a smaller image",
                        (m as f64) * (n as f64) * 4.0 / (1u64 << 30) as f64,
                        MAX_DENSE_BYTES >> 30
                    ),
                ));
            }
        }
        let std = (1.0 / m as f64).sqrt() as f32;
        let mut mat = vec![0.0f32; m * n];
        let base = splitmix64(seed);
        mat.par_chunks_mut(n).enumerate().for_each(|(i, row)| {
            let mut rng = crate::rng(splitmix64(base ^ splitmix64(i as u64)));
            for v in row.iter_mut() {
                let g: f32 = StandardNormal.sample(&mut rng);
                *v = g * std;
            }
        });
        Ok(Gaussian {
            shape: shape.to_vec(),
            range: vec![m],
            n,
            m,
            seed,
            mat,
        })
    }

    /// The matrix, `m x n`, row-major; column `j` multiplies the `j`-th pixel of the image
    /// in row-major (C) order.
    pub fn matrix(&self) -> ArrayView2<'_, f32> {
        ArrayView2::from_shape((self.m, self.n), &self.mat).expect("stored m x n")
    }

    /// Number of measurements `m`.
    pub fn measurements(&self) -> usize {
        self.m
    }

    /// The seed the matrix was drawn from.
    pub fn seed(&self) -> u64 {
        self.seed
    }
}

impl LinearOperator for Gaussian {
    type Domain = f32;
    type Range = f32;

    fn describe(&self) -> String {
        format!(
            "cs(gaussian, m={} of n={}, seed={})",
            self.m, self.n, self.seed
        )
    }
    fn domain_shape(&self) -> &[usize] {
        &self.shape
    }
    fn range_shape(&self) -> &[usize] {
        &self.range
    }

    fn apply_into(&self, x: ArrayViewD<f32>, y: ArrayViewMutD<f32>) {
        assert_eq!(x.shape(), &self.shape[..], "cs apply: domain shape");
        assert_eq!(y.shape(), &self.range[..], "cs apply: range shape");
        let x = x.as_standard_layout();
        let xs = x.as_slice().expect("standard layout");
        let n = self.n;
        // at least ~32k multiply-adds per task
        let min_rows = (32_768 / n).max(1);
        with_out_slice(y, |ys| {
            ys.par_iter_mut()
                .zip(self.mat.par_chunks(n))
                .with_min_len(min_rows)
                .for_each(|(yi, row)| *yi = dot_f32(row, xs) as f32);
        });
    }

    /// `A^T y = Σ_i y_i a_i`: the rows are split into one chunk per thread, each chunk
    /// streams its stored rows contiguously into an f64 partial sum (column blocks of
    /// 16384 keep the accumulator in cache), and the partial sums are added at the end.
    fn adjoint_into(&self, y: ArrayViewD<f32>, x: ArrayViewMutD<f32>) {
        assert_eq!(y.shape(), &self.range[..], "cs adjoint: range shape");
        assert_eq!(x.shape(), &self.shape[..], "cs adjoint: domain shape");
        let y = y.as_standard_layout();
        let ys = y.as_slice().expect("standard layout");
        let (m, n) = (self.m, self.n);
        const CB: usize = 16_384;
        // enough work per chunk (>= ~64k multiply-adds) to be worth a thread
        let chunks = rayon::current_num_threads()
            .min((m * n).div_ceil(65_536))
            .clamp(1, m);
        let rows_per = m.div_ceil(chunks);
        let partials: Vec<Vec<f64>> = (0..m.div_ceil(rows_per))
            .into_par_iter()
            .map(|c| {
                let rows = c * rows_per..((c + 1) * rows_per).min(m);
                let mut acc = vec![0.0f64; n];
                for j0 in (0..n).step_by(CB) {
                    let j1 = (j0 + CB).min(n);
                    let acc = &mut acc[j0..j1];
                    for i in rows.clone() {
                        let yi = ys[i] as f64;
                        let row = &self.mat[i * n + j0..i * n + j1];
                        for (a, &r) in acc.iter_mut().zip(row) {
                            *a += yi * r as f64;
                        }
                    }
                }
                acc
            })
            .collect();
        with_out_slice(x, |xs| {
            xs.par_iter_mut()
                .enumerate()
                .with_min_len(4096)
                .for_each(|(j, o)| *o = partials.iter().map(|p| p[j]).sum::<f64>() as f32);
        });
    }
}

/// Structurally random compressed sensing, `A = sqrt(n/m) R C D`:
///
/// * `D = diag(d)` with i.i.d. random signs `d_j = ±1`;
/// * `C` the orthonormal DCT-II ([`Dct1`]) of the flattened image (length `n`);
/// * `R` keeps `m` distinct coefficients chosen uniformly at random (sorted ascending).
///
/// Scaling: `R` keeps each coefficient with probability `m/n`, so
/// `E ||R C D x||^2 = (m/n) ||C D x||^2 = (m/n) ||x||^2` and the factor `sqrt(n/m)` gives
/// `E ||A x||^2 = ||x||^2`, as for [`Gaussian`]. The rows are orthogonal:
/// `A A^T = (n/m) I_m` and `||A|| = sqrt(n/m)`. The matrix is never formed.
pub struct Structured {
    shape: Vec<usize>,
    range: Vec<usize>,
    n: usize,
    seed: u64,
    signs: Vec<f32>,
    rows: Vec<usize>,
    dct: Dct1,
    scale: f32,
}

impl Structured {
    /// Draw the signs and the `m` kept DCT coefficients for images of `shape`
    /// (`[H, W]` or `[C, H, W]`). Errors when `m` is not in `[1, n]`.
    pub fn new(shape: &[usize], m: usize, seed: u64) -> Result<Self> {
        let n = pixel_count(shape)?;
        check_m(m, n)?;
        let mut rng = crate::rng(seed);
        let signs: Vec<f32> = (0..n)
            .map(|_| if rng.random::<bool>() { 1.0 } else { -1.0 })
            .collect();
        let mut rows = rand::seq::index::sample(&mut rng, n, m).into_vec();
        rows.sort_unstable();
        Ok(Structured {
            shape: shape.to_vec(),
            range: vec![m],
            n,
            seed,
            signs,
            rows,
            dct: Dct1::new(n),
            scale: (n as f64 / m as f64).sqrt() as f32,
        })
    }

    /// The kept DCT coefficient indices (the rows of `R`), sorted ascending.
    pub fn rows(&self) -> &[usize] {
        &self.rows
    }

    /// The random signs `d` (the diagonal of `D`), in row-major pixel order.
    pub fn signs(&self) -> &[f32] {
        &self.signs
    }

    /// The scale factor `sqrt(n/m)`, which is also `||A||`.
    pub fn scale(&self) -> f32 {
        self.scale
    }

    /// Number of measurements `m`.
    pub fn measurements(&self) -> usize {
        self.rows.len()
    }

    /// `C D x` for the flattened image.
    fn coefficients(&self, x: ArrayViewD<f32>) -> Vec<f32> {
        let mut z: Vec<f32> = Vec::with_capacity(self.n);
        match x.as_slice() {
            Some(xs) => z.extend(xs.iter().zip(&self.signs).map(|(&v, &s)| v * s)),
            None => z.extend(x.iter().zip(&self.signs).map(|(&v, &s)| v * s)),
        }
        self.dct.forward(&mut z);
        z
    }

    /// `x <- D C^T z`.
    fn synthesize(&self, mut z: Vec<f32>, x: ArrayViewMutD<f32>) {
        self.dct.inverse(&mut z);
        with_out_slice(x, |xs| {
            xs.iter_mut()
                .zip(z.iter().zip(&self.signs))
                .for_each(|(o, (&v, &s))| *o = v * s);
        });
    }
}

impl LinearOperator for Structured {
    type Domain = f32;
    type Range = f32;

    fn describe(&self) -> String {
        format!(
            "cs(fast: subsampled DCT with random signs, m={} of n={}, seed={})",
            self.rows.len(),
            self.n,
            self.seed
        )
    }
    fn domain_shape(&self) -> &[usize] {
        &self.shape
    }
    fn range_shape(&self) -> &[usize] {
        &self.range
    }

    fn apply_into(&self, x: ArrayViewD<f32>, y: ArrayViewMutD<f32>) {
        assert_eq!(x.shape(), &self.shape[..], "cs apply: domain shape");
        assert_eq!(y.shape(), &self.range[..], "cs apply: range shape");
        let z = self.coefficients(x);
        with_out_slice(y, |ys| {
            ys.iter_mut()
                .zip(&self.rows)
                .for_each(|(o, &r)| *o = self.scale * z[r]);
        });
    }

    fn adjoint_into(&self, y: ArrayViewD<f32>, x: ArrayViewMutD<f32>) {
        assert_eq!(y.shape(), &self.range[..], "cs adjoint: range shape");
        assert_eq!(x.shape(), &self.shape[..], "cs adjoint: domain shape");
        let mut z = vec![0.0f32; self.n];
        for (&r, &v) in self.rows.iter().zip(y.iter()) {
            z[r] = self.scale * v;
        }
        self.synthesize(z, x);
    }

    /// `A^T A x = (n/m) D C^T R^T R C D x`: one forward and one inverse DCT, no `m`-vector.
    fn normal_into(&self, x: ArrayViewD<f32>, out: ArrayViewMutD<f32>) {
        assert_eq!(x.shape(), &self.shape[..], "cs normal: domain shape");
        assert_eq!(out.shape(), &self.shape[..], "cs normal: domain shape");
        let z = self.coefficients(x);
        let s2 = self.scale * self.scale;
        let mut kept = vec![0.0f32; self.n];
        for &r in &self.rows {
            kept[r] = s2 * z[r];
        }
        self.synthesize(kept, out);
    }
}

/// Build a `cs` operator from its spec (`m` or `ratio`, `kind=gaussian|fast`, `seed`) for
/// images of `shape`.
pub fn build(spec: &Spec, shape: &[usize]) -> Result<AnyOperator> {
    let args = spec.args(&["m", "ratio", "kind", "seed"])?;
    let n = pixel_count(shape)?;
    let m = match (args.usize_opt("m")?, args.f32_opt("ratio")?) {
        (Some(_), Some(_)) => {
            return Err(Error::Spec(
                "`cs`: give either `m` (measurements) or `ratio` (m/n), not both".into(),
            ));
        }
        (Some(m), None) => m,
        (None, Some(r)) => {
            if !(r > 0.0 && r <= 1.0) {
                return Err(Error::param("ratio", format!("must be in (0, 1], got {r}")));
            }
            ((r as f64 * n as f64).round() as usize).max(1)
        }
        (None, None) => {
            return Err(Error::Spec(
                "`cs` needs the number of measurements: `m=<count>` or `ratio=<m/n>`".into(),
            ));
        }
    };
    let seed = args.u64("seed", 0)?;
    match args
        .choice("kind", &["gaussian", "fast"], "gaussian")?
        .as_str()
    {
        "gaussian" => Ok(AnyOperator::Real(Box::new(Gaussian::new(shape, m, seed)?))),
        _ => Ok(AnyOperator::Real(Box::new(Structured::new(
            shape, m, seed,
        )?))),
    }
}

/// Compressed-sensing data `[m]` does not determine the image shape: always an error that
/// asks for `--shape HxW`.
pub fn infer_domain(_spec: &Spec, range: &[usize]) -> Result<Vec<usize>> {
    Err(Error::param(
        "shape",
        format!(
            "compressed-sensing measurements of shape {range:?} do not determine the image shape; pass --shape HxW (or CxHxW)"
        ),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{ArrayD, IxDyn};

    fn random_array(shape: &[usize], seed: u64) -> ArrayD<f32> {
        let mut rng = crate::rng(seed);
        ArrayD::from_shape_simple_fn(IxDyn(shape), || {
            <f32 as crate::Scalar>::standard_normal(&mut rng)
        })
    }

    /// `|<A x, y> - <x, A^T y>| / (||A x|| ||y||)` for random `x`, `y`.
    fn adjoint_mismatch(op: &dyn LinearOperator<Domain = f32, Range = f32>, seed: u64) -> f64 {
        use crate::linalg::{dot, norm2};
        let x = random_array(op.domain_shape(), seed);
        let y = random_array(op.range_shape(), seed + 1);
        let ax = op.apply(x.view());
        let aty = op.adjoint(y.view());
        (dot(ax.view(), y.view()) - dot(x.view(), aty.view())).abs()
            / (norm2(ax.view()) * norm2(y.view()))
    }

    fn dct_matrix(n: usize) -> Vec<f64> {
        let mut c = vec![0.0; n * n];
        for k in 0..n {
            let a = if k == 0 {
                (1.0 / n as f64).sqrt()
            } else {
                (2.0 / n as f64).sqrt()
            };
            for j in 0..n {
                c[k * n + j] = a
                    * (std::f64::consts::PI * k as f64 * (2 * j + 1) as f64 / (2.0 * n as f64))
                        .cos();
            }
        }
        c
    }

    fn max_rel(a: &ArrayD<f32>, b: &[f64]) -> f64 {
        let s = b.iter().fold(0.0f64, |m, v| m.max(v.abs()));
        a.iter()
            .zip(b)
            .fold(0.0f64, |m, (&x, &y)| m.max((x as f64 - y).abs()))
            / s
    }

    #[test]
    fn gaussian_entries_have_variance_one_over_m() {
        let (m, shape) = (64, [25usize, 20]);
        let g = Gaussian::new(&shape, m, 3).unwrap();
        let a = g.matrix();
        let count = a.len() as f64;
        let mean: f64 = a.iter().map(|&v| v as f64).sum::<f64>() / count;
        let var: f64 = a.iter().map(|&v| (v as f64 - mean).powi(2)).sum::<f64>() / count;
        // 32000 entries: the sample variance is within ~1% of 1/m (std error sqrt(2/N))
        assert!(
            mean.abs() < 4.0 * (1.0 / m as f64 / count).sqrt(),
            "mean {mean}"
        );
        assert!(
            (var * m as f64 - 1.0).abs() < 0.04,
            "m*var = {}",
            var * m as f64
        );
    }

    #[test]
    fn gaussian_is_reproducible_and_seed_dependent() {
        let a = Gaussian::new(&[10, 12], 20, 7).unwrap();
        let b = Gaussian::new(&[10, 12], 20, 7).unwrap();
        let c = Gaussian::new(&[10, 12], 20, 8).unwrap();
        assert_eq!(a.matrix(), b.matrix());
        assert_ne!(a.matrix(), c.matrix());
        // different rows are different draws
        assert_ne!(a.matrix().row(0), a.matrix().row(1));
    }

    #[test]
    fn gaussian_products_match_the_stored_matrix() {
        // n = 1300 spans several column blocks and a ragged last one
        let shape = [26usize, 50];
        let g = Gaussian::new(&shape, 37, 1).unwrap();
        let a = g.matrix();
        let x = random_array(&shape, 2);
        let xs = x.as_slice().unwrap();
        let want: Vec<f64> = (0..37)
            .map(|i| (0..1300).map(|j| a[[i, j]] as f64 * xs[j] as f64).sum())
            .collect();
        assert!(max_rel(&g.apply(x.view()), &want) < 1e-5);
        let y = random_array(&[37], 3);
        let ys = y.as_slice().unwrap();
        let want: Vec<f64> = (0..1300)
            .map(|j| (0..37).map(|i| a[[i, j]] as f64 * ys[i] as f64).sum())
            .collect();
        assert!(max_rel(&g.adjoint(y.view()), &want) < 1e-5);
        assert!(adjoint_mismatch(&g, 4) < 1e-6);
    }

    #[test]
    fn gaussian_adjoint_with_many_row_chunks_and_column_blocks() {
        // n = 20000 spans two column blocks; four threads give four row chunks
        let shape = [100usize, 200];
        let (m, n) = (40usize, 20_000usize);
        let g = Gaussian::new(&shape, m, 12).unwrap();
        let y = random_array(&[m], 13);
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(4)
            .build()
            .unwrap();
        let got = pool.install(|| g.adjoint(y.view()));
        let a = g.matrix();
        let ys = y.as_slice().unwrap();
        let want: Vec<f64> = (0..n)
            .map(|j| (0..m).map(|i| a[[i, j]] as f64 * ys[i] as f64).sum())
            .collect();
        assert!(max_rel(&got, &want) < 1e-6);
        // the result does not depend on the thread count beyond f32 rounding
        let single = rayon::ThreadPoolBuilder::new()
            .num_threads(1)
            .build()
            .unwrap()
            .install(|| g.adjoint(y.view()));
        let single: Vec<f64> = single.iter().map(|&v| v as f64).collect();
        assert!(max_rel(&got, &single) < 1e-6);
    }

    #[test]
    fn gaussian_preserves_norms_in_expectation() {
        // ||A x||^2 / ||x||^2 ~ chi^2_m / m: mean 1, std sqrt(2/m) = 0.05 for m = 800
        let shape = [30usize, 30];
        let x = random_array(&shape, 9);
        let nx = crate::linalg::norm2_sq(x.view());
        let g = Gaussian::new(&shape, 800, 0).unwrap();
        let r = crate::linalg::norm2_sq(g.apply(x.view()).view()) / nx;
        assert!((r - 1.0).abs() < 0.2, "{r}");
    }

    #[test]
    fn gaussian_refuses_absurd_sizes_without_allocating() {
        let e = Gaussian::new(&[100_000, 100_000], 1000, 0)
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("GiB") && e.contains("kind=fast"), "{e}");
    }

    #[test]
    fn measurement_count_is_checked() {
        for m in [0usize, 121] {
            assert!(Gaussian::new(&[12, 10], m, 0).is_err());
            assert!(Structured::new(&[12, 10], m, 0).is_err());
        }
        assert!(Structured::new(&[12, 10], 120, 0).is_ok());
        assert!(Gaussian::new(&[12, 10, 3, 2], 5, 0).is_err());
    }

    #[test]
    fn structured_equals_its_definition() {
        let shape = [2usize, 5, 7];
        let n = 70;
        let m = 23;
        let s = Structured::new(&shape, m, 11).unwrap();
        let rows = s.rows();
        assert_eq!(rows.len(), m);
        assert!(rows.windows(2).all(|w| w[0] < w[1]), "sorted and distinct");
        assert!(rows.iter().all(|&r| r < n));
        assert!(s.signs().iter().all(|&d| d == 1.0 || d == -1.0));
        let c = dct_matrix(n);
        let x = random_array(&shape, 5);
        let xs = x.as_slice().unwrap();
        let scale = (n as f64 / m as f64).sqrt();
        let want: Vec<f64> = rows
            .iter()
            .map(|&r| {
                scale
                    * (0..n)
                        .map(|j| c[r * n + j] * s.signs()[j] as f64 * xs[j] as f64)
                        .sum::<f64>()
            })
            .collect();
        assert!(max_rel(&s.apply(x.view()), &want) < 2e-6);
        assert!(adjoint_mismatch(&s, 6) < 1e-6);
    }

    #[test]
    fn structured_rows_are_orthogonal() {
        // A A^T = (n/m) I
        let shape = [12usize, 10];
        let s = Structured::new(&shape, 30, 2).unwrap();
        let y = random_array(&[30], 1);
        let back = s.apply(s.adjoint(y.view()).view());
        let want: Vec<f64> = y.iter().map(|&v| v as f64 * 4.0).collect();
        assert!(max_rel(&back, &want) < 2e-6);
        assert!((s.scale() - 2.0).abs() < 1e-6);
    }

    #[test]
    fn structured_preserves_norms_in_expectation() {
        let shape = [8usize, 8];
        let x = random_array(&shape, 4);
        let nx = crate::linalg::norm2_sq(x.view());
        let trials = 400;
        let mean: f64 = (0..trials)
            .map(|seed| {
                let s = Structured::new(&shape, 16, seed).unwrap();
                crate::linalg::norm2_sq(s.apply(x.view()).view()) / nx
            })
            .sum::<f64>()
            / trials as f64;
        assert!((mean - 1.0).abs() < 0.1, "mean ratio {mean}");
    }

    #[test]
    fn normal_equals_adjoint_of_apply() {
        let shape = [9usize, 11];
        let x = random_array(&shape, 8);
        let ops: Vec<Box<dyn LinearOperator<Domain = f32, Range = f32>>> = vec![
            Box::new(Gaussian::new(&shape, 40, 0).unwrap()),
            Box::new(Structured::new(&shape, 40, 0).unwrap()),
        ];
        for op in &ops {
            let want = op.adjoint(op.apply(x.view()).view());
            let mut got = ArrayD::from_elem(IxDyn(&shape), f32::NAN);
            op.normal_into(x.view(), got.view_mut());
            let want: Vec<f64> = want.iter().map(|&v| v as f64).collect();
            assert!(max_rel(&got, &want) < 1e-5, "{}", op.describe());
        }
    }

    #[test]
    fn non_contiguous_inputs_and_outputs() {
        let shape = [6usize, 5];
        let s = Structured::new(&shape, 12, 0).unwrap();
        let g = Gaussian::new(&shape, 12, 0).unwrap();
        let x = random_array(&[5, 6], 3);
        let xt = x.t(); // a [6, 5] Fortran-order view
        let xc = xt.as_standard_layout().into_owned();
        for op in [&s as &dyn LinearOperator<Domain = f32, Range = f32>, &g] {
            assert_eq!(op.apply(xt.view()), op.apply(xc.view()));
            let y = random_array(&[12], 4);
            let mut out = ArrayD::from_elem(IxDyn(&[5, 6]), 0.0f32);
            op.adjoint_into(y.view(), out.view_mut().reversed_axes());
            assert_eq!(out.t(), op.adjoint(y.view()));
        }
    }

    #[test]
    fn spec_parsing() {
        let parse = |s: &str| build(&Spec::parse(s).unwrap(), &[12, 10]);
        let op = parse("cs:ratio=0.25,kind=fast,seed=3").unwrap();
        assert_eq!(op.range_shape(), &[30]);
        assert!(op.describe().contains("fast"), "{}", op.describe());
        let op = parse("cs:m=17").unwrap();
        assert_eq!(op.range_shape(), &[17]);
        assert!(op.describe().contains("gaussian"));
        assert!(parse("cs").is_err());
        assert!(parse("cs:m=10,ratio=0.5").is_err());
        assert!(parse("cs:ratio=1.5").is_err());
        assert!(parse("cs:m=121").is_err());
        assert!(parse("cs:m=10,kind=bogus").is_err());
        let e = infer_domain(&Spec::parse("cs:m=30").unwrap(), &[30])
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("--shape HxW"), "{e}");
    }
}
