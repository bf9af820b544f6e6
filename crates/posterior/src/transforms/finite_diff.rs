//! Discrete gradient, divergence and Laplacian on images, with Neumann (default) or periodic
//! boundaries.
//!
//! For a plane `x` of size `H x W` the discrete gradient `D x = (D_v x, D_h x)` uses forward
//! differences with the last difference along each axis set to zero (homogeneous Neumann
//! boundary, as in Chambolle 2004):
//!
//! ```text
//! (D_v x)[i, j] = x[i+1, j] − x[i, j]   for i < H−1,   0 for i = H−1
//! (D_h x)[i, j] = x[i, j+1] − x[i, j]   for j < W−1,   0 for j = W−1
//! ```
//!
//! The divergence is `div = −Dᴴ`:
//! `(div p)[i, j] = p_v[i, j]·[i<H−1] − p_v[i−1, j]·[i>0] + p_h[i, j]·[j<W−1] − p_h[i, j−1]·[j>0]`.
//! The Laplacian is `Δ = div ∘ D = −Dᴴ D`, the 5-point stencil with Neumann boundary
//! (mirror-reflected neighbours); it is self-adjoint and negative semi-definite.
//! `||D||² = ||Δ|| < 8` (the eigenvalues of `Dᴴ D` are `4 sin²(πk/2H) + 4 sin²(πl/2W)`).
//!
//! With the periodic boundary ([`DiffBoundary::Periodic`]) the last difference wraps around,
//! `(D_v x)[H−1, j] = x[0, j] − x[H−1, j]` (likewise along `W`); then `D` is a circular
//! convolution, `Dᴴ D` is diagonalized by the 2-D DFT with eigenvalues
//! `4 sin²(πk/H) + 4 sin²(πl/W)` ([`periodic_laplacian_symbol`]), and FFT-diagonal
//! operators (circular blur, MRI, denoising) solve `(AᴴA + ρ DᴴD) x = b` exactly.
//!
//! Layout: an image `[H, W]` maps to `[2, H, W]` and a multichannel image `[C, H, W]` to
//! `[C, 2, H, W]`; component 0 is the vertical difference `D_v` (along rows, axis `H`),
//! component 1 the horizontal difference `D_h` (along axis `W`). Complex images are
//! differenced component-wise (the operators are complex-linear).

use ndarray::{ArrayViewD, ArrayViewMutD};

use ndarray::Array2;

use crate::error::{Error, Result};
use crate::ops::{Gram, LinearOperator, planes};
use crate::scalar::Scalar;

/// Boundary handling of the finite differences.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DiffBoundary {
    /// Homogeneous Neumann: the last difference along each axis is zero.
    #[default]
    Neumann,
    /// Periodic: the last difference wraps around to the first row/column.
    Periodic,
}

impl std::str::FromStr for DiffBoundary {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "neumann" => Ok(DiffBoundary::Neumann),
            "periodic" | "circular" => Ok(DiffBoundary::Periodic),
            other => Err(Error::param(
                "boundary",
                format!("expected neumann or periodic, got `{other}`"),
            )),
        }
    }
}

impl DiffBoundary {
    /// Lower-case name.
    pub fn name(self) -> &'static str {
        match self {
            DiffBoundary::Neumann => "neumann",
            DiffBoundary::Periodic => "periodic",
        }
    }
}

/// The DFT eigenvalues `4 sin²(πk/H) + 4 sin²(πl/W)` of `DᴴD` for the periodic gradient
/// (unshifted frequency layout, `[H, W]`).
pub fn periodic_laplacian_symbol(h: usize, w: usize) -> Array2<f32> {
    let sv: Vec<f64> = (0..h)
        .map(|k| 4.0 * (std::f64::consts::PI * k as f64 / h as f64).sin().powi(2))
        .collect();
    let sh: Vec<f64> = (0..w)
        .map(|l| 4.0 * (std::f64::consts::PI * l as f64 / w as f64).sin().powi(2))
        .collect();
    Array2::from_shape_fn((h, w), |(k, l)| (sv[k] + sh[l]) as f32)
}

/// Forward differences of one plane with the given boundary.
pub(crate) fn grad_plane_b<T: Scalar>(
    x: &[T],
    h: usize,
    w: usize,
    gv: &mut [T],
    gh: &mut [T],
    boundary: DiffBoundary,
) {
    grad_plane(x, h, w, gv, gh);
    if boundary == DiffBoundary::Periodic {
        let (first, last) = (0..w, (h - 1) * w..h * w);
        for ((g, &a), &b) in gv[last.clone()].iter_mut().zip(&x[last]).zip(&x[first]) {
            *g = b - a;
        }
        for i in 0..h {
            gh[i * w + w - 1] = x[i * w] - x[i * w + w - 1];
        }
    }
}

/// `out <- div p = −Dᴴ p` for one plane with the given boundary.
pub(crate) fn div_plane_b<T: Scalar>(
    pv: &[T],
    ph: &[T],
    h: usize,
    w: usize,
    out: &mut [T],
    boundary: DiffBoundary,
) {
    match boundary {
        DiffBoundary::Neumann => div_plane(pv, ph, h, w, out),
        DiffBoundary::Periodic => {
            for i in 0..h {
                let prev = if i == 0 { h - 1 } else { i - 1 };
                let o = &mut out[i * w..(i + 1) * w];
                let (cur, up) = (&pv[i * w..(i + 1) * w], &pv[prev * w..(prev + 1) * w]);
                for ((o, &a), &b) in o.iter_mut().zip(cur).zip(up) {
                    *o = a - b;
                }
                let r = &ph[i * w..(i + 1) * w];
                o[0] += r[0] - r[w - 1];
                for j in 1..w {
                    o[j] += r[j] - r[j - 1];
                }
            }
        }
    }
}

/// Forward differences of one contiguous `h x w` plane into `gv` (vertical) and `gh`
/// (horizontal), Neumann boundary (last difference zero).
pub(crate) fn grad_plane<T: Scalar>(x: &[T], h: usize, w: usize, gv: &mut [T], gh: &mut [T]) {
    debug_assert!(x.len() == h * w && gv.len() == h * w && gh.len() == h * w);
    for i in 0..h {
        let row = &x[i * w..(i + 1) * w];
        let gvr = &mut gv[i * w..(i + 1) * w];
        if i + 1 < h {
            let next = &x[(i + 1) * w..(i + 2) * w];
            for ((g, &a), &b) in gvr.iter_mut().zip(row).zip(next) {
                *g = b - a;
            }
        } else {
            gvr.fill(T::zero());
        }
        let ghr = &mut gh[i * w..(i + 1) * w];
        for j in 0..w - 1 {
            ghr[j] = row[j + 1] - row[j];
        }
        ghr[w - 1] = T::zero();
    }
}

/// `out <- div p = −Dᴴ p` for one plane, with `p = (pv, ph)`. Entries of `pv` on the last
/// row and of `ph` on the last column are ignored (they are outside the range of `D`).
pub(crate) fn div_plane<T: Scalar>(pv: &[T], ph: &[T], h: usize, w: usize, out: &mut [T]) {
    debug_assert!(pv.len() == h * w && ph.len() == h * w && out.len() == h * w);
    for i in 0..h {
        let o = &mut out[i * w..(i + 1) * w];
        // vertical part
        if i + 1 < h {
            o.copy_from_slice(&pv[i * w..(i + 1) * w]);
        } else {
            o.fill(T::zero());
        }
        if i > 0 {
            for (o, &a) in o.iter_mut().zip(&pv[(i - 1) * w..i * w]) {
                *o -= a;
            }
        }
        // horizontal part
        let r = &ph[i * w..(i + 1) * w];
        if w > 1 {
            o[0] += r[0];
            for j in 1..w - 1 {
                o[j] += r[j] - r[j - 1];
            }
            o[w - 1] -= r[w - 2];
        }
    }
}

/// Contiguous data of a view, copying only when the view is not in standard layout.
fn contiguous<'a, T: Scalar>(x: &'a ArrayViewD<'a, T>) -> std::borrow::Cow<'a, [T]> {
    match x.as_slice() {
        Some(s) => std::borrow::Cow::Borrowed(s),
        None => std::borrow::Cow::Owned(x.iter().copied().collect()),
    }
}

/// Run `f` on a contiguous mutable buffer for `out`, writing back when `out` is strided.
fn with_contiguous_out<T: Scalar>(mut out: ArrayViewMutD<T>, f: impl FnOnce(&mut [T])) {
    if let Some(s) = out.as_slice_mut() {
        f(s);
        return;
    }
    let mut tmp = vec![T::zero(); out.len()];
    f(&mut tmp);
    for (o, t) in out.iter_mut().zip(tmp) {
        *o = t;
    }
}

/// The discrete gradient `D` (forward differences, Neumann or periodic boundary) as a linear
/// operator from images `[H, W]` to `[2, H, W]`, or from `[C, H, W]` to `[C, 2, H, W]`. Its
/// adjoint is `Dᴴ = −div` (see the module docs). `||D||² ≤ 8`.
#[derive(Debug, Clone)]
pub struct Gradient2d<T> {
    domain: Vec<usize>,
    range: Vec<usize>,
    c: usize,
    h: usize,
    w: usize,
    boundary: DiffBoundary,
    _t: std::marker::PhantomData<T>,
}

impl<T: Scalar> Gradient2d<T> {
    /// Gradient on images of `shape` (`[H, W]` or `[C, H, W]`).
    pub fn new(shape: &[usize]) -> Result<Self> {
        let (c, h, w) = planes(shape)?;
        let range = if shape.len() == 2 {
            vec![2, h, w]
        } else {
            vec![c, 2, h, w]
        };
        Ok(Gradient2d {
            domain: shape.to_vec(),
            range,
            c,
            h,
            w,
            boundary: DiffBoundary::Neumann,
            _t: std::marker::PhantomData,
        })
    }

    /// The same operator with the given boundary.
    pub fn with_boundary(mut self, boundary: DiffBoundary) -> Self {
        self.boundary = boundary;
        self
    }

    /// The boundary handling.
    pub fn boundary(&self) -> DiffBoundary {
        self.boundary
    }

    /// `(channels, height, width)` of the images.
    pub fn dims(&self) -> (usize, usize, usize) {
        (self.c, self.h, self.w)
    }
}

impl<T: Scalar> LinearOperator for Gradient2d<T> {
    type Domain = T;
    type Range = T;
    fn describe(&self) -> String {
        format!("gradient2d(forward differences, {})", self.boundary.name())
    }
    fn domain_shape(&self) -> &[usize] {
        &self.domain
    }
    fn range_shape(&self) -> &[usize] {
        &self.range
    }
    fn apply_into(&self, x: ArrayViewD<T>, y: ArrayViewMutD<T>) {
        assert_eq!(x.shape(), &self.domain[..], "gradient2d: domain shape");
        assert_eq!(y.shape(), &self.range[..], "gradient2d: range shape");
        let xs = contiguous(&x);
        let n = self.h * self.w;
        with_contiguous_out(y, |ys| {
            for ch in 0..self.c {
                let (gv, gh) = ys[2 * ch * n..2 * (ch + 1) * n].split_at_mut(n);
                grad_plane_b(
                    &xs[ch * n..(ch + 1) * n],
                    self.h,
                    self.w,
                    gv,
                    gh,
                    self.boundary,
                );
            }
        });
    }
    fn adjoint_into(&self, y: ArrayViewD<T>, x: ArrayViewMutD<T>) {
        assert_eq!(y.shape(), &self.range[..], "gradient2d: range shape");
        assert_eq!(x.shape(), &self.domain[..], "gradient2d: domain shape");
        let ys = contiguous(&y);
        let n = self.h * self.w;
        with_contiguous_out(x, |xs| {
            for ch in 0..self.c {
                let p = &ys[2 * ch * n..2 * (ch + 1) * n];
                let out = &mut xs[ch * n..(ch + 1) * n];
                div_plane_b(&p[..n], &p[n..], self.h, self.w, out, self.boundary);
                for o in out.iter_mut() {
                    *o = -*o;
                }
            }
        });
    }
    fn normal_into(&self, x: ArrayViewD<T>, mut out: ArrayViewMutD<T>) {
        laplacian_into(x, out.view_mut(), self.c, self.h, self.w, self.boundary);
        out.mapv_inplace(|v| -v);
    }
    fn gram(&self) -> Option<Gram> {
        match self.boundary {
            DiffBoundary::Periodic => {
                Some(Gram::Fourier(periodic_laplacian_symbol(self.h, self.w)))
            }
            DiffBoundary::Neumann => None,
        }
    }
}

/// `out <- div p = −Dᴴ p` (Neumann boundary) for `p` of shape `[2, H, W]` (or
/// `[C, 2, H, W]`) into an image of shape `[H, W]` (or `[C, H, W]`).
///
/// # Panics
/// If the shapes do not correspond.
pub fn divergence<T: Scalar>(p: ArrayViewD<T>, out: ArrayViewMutD<T>) {
    let shape = out.shape().to_vec();
    let (c, h, w) = planes(&shape).expect("divergence: output must be an image shape");
    let expected: Vec<usize> = if shape.len() == 2 {
        vec![2, h, w]
    } else {
        vec![c, 2, h, w]
    };
    assert_eq!(p.shape(), &expected[..], "divergence: field shape");
    let ps = contiguous(&p);
    let n = h * w;
    with_contiguous_out(out, |os| {
        for ch in 0..c {
            let q = &ps[2 * ch * n..2 * (ch + 1) * n];
            div_plane(&q[..n], &q[n..], h, w, &mut os[ch * n..(ch + 1) * n]);
        }
    });
}

fn laplacian_into<T: Scalar>(
    x: ArrayViewD<T>,
    out: ArrayViewMutD<T>,
    c: usize,
    h: usize,
    w: usize,
    boundary: DiffBoundary,
) {
    let periodic = boundary == DiffBoundary::Periodic;
    let xs = contiguous(&x);
    let n = h * w;
    with_contiguous_out(out, |os| {
        for ch in 0..c {
            let p = &xs[ch * n..(ch + 1) * n];
            let o = &mut os[ch * n..(ch + 1) * n];
            for i in 0..h {
                for j in 0..w {
                    let c0 = p[i * w + j];
                    let mut acc = T::zero();
                    if i > 0 {
                        acc += p[(i - 1) * w + j] - c0;
                    } else if periodic {
                        acc += p[(h - 1) * w + j] - c0;
                    }
                    if i + 1 < h {
                        acc += p[(i + 1) * w + j] - c0;
                    } else if periodic {
                        acc += p[j] - c0;
                    }
                    if j > 0 {
                        acc += p[i * w + j - 1] - c0;
                    } else if periodic {
                        acc += p[i * w + w - 1] - c0;
                    }
                    if j + 1 < w {
                        acc += p[i * w + j + 1] - c0;
                    } else if periodic {
                        acc += p[i * w] - c0;
                    }
                    o[i * w + j] = acc;
                }
            }
        }
    });
}

/// The 5-point Laplacian with Neumann boundary, `Δ = div ∘ D = −Dᴴ D`, on images `[H, W]` or
/// `[C, H, W]` (each plane separately):
/// `(Δx)[i, j] = Σ_{neighbours (k, l) inside the image} (x[k, l] − x[i, j])`.
/// Self-adjoint, negative semi-definite, constants in its kernel, `||Δ|| < 8`.
#[derive(Debug, Clone)]
pub struct Laplacian<T> {
    shape: Vec<usize>,
    c: usize,
    h: usize,
    w: usize,
    boundary: DiffBoundary,
    _t: std::marker::PhantomData<T>,
}

impl<T: Scalar> Laplacian<T> {
    /// Laplacian on images of `shape` (`[H, W]` or `[C, H, W]`).
    pub fn new(shape: &[usize]) -> Result<Self> {
        let (c, h, w) = planes(shape)?;
        Ok(Laplacian {
            shape: shape.to_vec(),
            c,
            h,
            w,
            boundary: DiffBoundary::Neumann,
            _t: std::marker::PhantomData,
        })
    }

    /// The same operator with the given boundary (periodic: wrap-around neighbours,
    /// `Δ = −DᴴD` for the periodic gradient).
    pub fn with_boundary(mut self, boundary: DiffBoundary) -> Self {
        self.boundary = boundary;
        self
    }
}

impl<T: Scalar> LinearOperator for Laplacian<T> {
    type Domain = T;
    type Range = T;
    fn describe(&self) -> String {
        format!("laplacian(5-point, {})", self.boundary.name())
    }
    fn domain_shape(&self) -> &[usize] {
        &self.shape
    }
    fn range_shape(&self) -> &[usize] {
        &self.shape
    }
    fn apply_into(&self, x: ArrayViewD<T>, y: ArrayViewMutD<T>) {
        assert_eq!(x.shape(), &self.shape[..], "laplacian: shape");
        assert_eq!(y.shape(), &self.shape[..], "laplacian: shape");
        laplacian_into(x, y, self.c, self.h, self.w, self.boundary);
    }
    fn adjoint_into(&self, y: ArrayViewD<T>, x: ArrayViewMutD<T>) {
        self.apply_into(y, x);
    }
    fn gram(&self) -> Option<Gram> {
        match self.boundary {
            DiffBoundary::Periodic => Some(Gram::Fourier(
                periodic_laplacian_symbol(self.h, self.w).mapv(|v| v * v),
            )),
            DiffBoundary::Neumann => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{ArrayD, IxDyn};

    #[test]
    fn gradient_of_ramp_and_neumann_zero() {
        let g = Gradient2d::<f32>::new(&[3, 4]).unwrap();
        let x = ArrayD::from_shape_fn(IxDyn(&[3, 4]), |i| (2 * i[0] + 3 * i[1]) as f32);
        let d = g.apply(x.view());
        for i in 0..3 {
            for j in 0..4 {
                assert_eq!(d[[0, i, j]], if i < 2 { 2.0 } else { 0.0 });
                assert_eq!(d[[1, i, j]], if j < 3 { 3.0 } else { 0.0 });
            }
        }
    }

    #[test]
    fn periodic_gradient_wraps_and_laplacian_matches() {
        let shape = [5usize, 4];
        let g = Gradient2d::<f32>::new(&shape)
            .unwrap()
            .with_boundary(DiffBoundary::Periodic);
        let l = Laplacian::<f32>::new(&shape)
            .unwrap()
            .with_boundary(DiffBoundary::Periodic);
        let x = ArrayD::from_shape_fn(IxDyn(&shape), |i| ((i[0] * 7 + i[1] * 3) % 5) as f32);
        let d = g.apply(x.view());
        assert_eq!(d[[0, 4, 2]], x[[0, 2]] - x[[4, 2]]);
        assert_eq!(d[[1, 3, 3]], x[[3, 0]] - x[[3, 3]]);
        // -DᴴD = Δ (periodic), and the sum of a periodic Laplacian is zero.
        let mut dtd = ArrayD::zeros(IxDyn(&shape));
        g.adjoint_into(d.view(), dtd.view_mut());
        let lap = l.apply(x.view());
        for (a, b) in dtd.iter().zip(lap.iter()) {
            assert!((a + b).abs() < 1e-5, "{a} vs {b}");
        }
        assert!(lap.sum().abs() < 1e-4);
    }

    #[test]
    fn laplacian_is_div_of_grad() {
        let shape = [2usize, 5, 6];
        let g = Gradient2d::<f32>::new(&shape).unwrap();
        let l = Laplacian::<f32>::new(&shape).unwrap();
        let x = ArrayD::from_shape_fn(IxDyn(&shape), |i| {
            ((i[0] * 31 + i[1] * 7 + i[2] * 13) % 11) as f32
        });
        let mut div = ArrayD::zeros(IxDyn(&shape));
        divergence(g.apply(x.view()).view(), div.view_mut());
        let lap = l.apply(x.view());
        assert_eq!(div, lap);
        // interior stencil value
        let v = x[[1, 2, 3]];
        let s = x[[1, 1, 3]] + x[[1, 3, 3]] + x[[1, 2, 2]] + x[[1, 2, 4]] - 4.0 * v;
        assert_eq!(lap[[1, 2, 3]], s);
    }
}
