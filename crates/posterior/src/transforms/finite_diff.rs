//! Discrete gradient, divergence and Laplacian on images with Neumann boundaries.
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
//! Layout: an image `[H, W]` maps to `[2, H, W]` and a multichannel image `[C, H, W]` to
//! `[C, 2, H, W]`; component 0 is the vertical difference `D_v` (along rows, axis `H`),
//! component 1 the horizontal difference `D_h` (along axis `W`). Complex images are
//! differenced component-wise (the operators are complex-linear).

use ndarray::{ArrayViewD, ArrayViewMutD};

use crate::error::Result;
use crate::ops::{LinearOperator, planes};
use crate::scalar::Scalar;

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

/// The discrete gradient `D` (forward differences, Neumann boundary) as a linear operator
/// from images `[H, W]` to `[2, H, W]`, or from `[C, H, W]` to `[C, 2, H, W]`. Its adjoint
/// is `Dᴴ = −div` (see the module docs). `||D||² < 8`.
#[derive(Debug, Clone)]
pub struct Gradient2d<T> {
    domain: Vec<usize>,
    range: Vec<usize>,
    c: usize,
    h: usize,
    w: usize,
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
            _t: std::marker::PhantomData,
        })
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
        "gradient2d(forward differences, Neumann)".into()
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
                grad_plane(&xs[ch * n..(ch + 1) * n], self.h, self.w, gv, gh);
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
                div_plane(&p[..n], &p[n..], self.h, self.w, out);
                for o in out.iter_mut() {
                    *o = -*o;
                }
            }
        });
    }
    fn normal_into(&self, x: ArrayViewD<T>, mut out: ArrayViewMutD<T>) {
        laplacian_into(x, out.view_mut(), self.c, self.h, self.w);
        out.mapv_inplace(|v| -v);
    }
}

/// `out <- div p = −Dᴴ p` for `p` of shape `[2, H, W]` (or `[C, 2, H, W]`) into an image of
/// shape `[H, W]` (or `[C, H, W]`).
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
) {
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
                    }
                    if i + 1 < h {
                        acc += p[(i + 1) * w + j] - c0;
                    }
                    if j > 0 {
                        acc += p[i * w + j - 1] - c0;
                    }
                    if j + 1 < w {
                        acc += p[i * w + j + 1] - c0;
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
            _t: std::marker::PhantomData,
        })
    }
}

impl<T: Scalar> LinearOperator for Laplacian<T> {
    type Domain = T;
    type Range = T;
    fn describe(&self) -> String {
        "laplacian(5-point, Neumann)".into()
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
        laplacian_into(x, y, self.c, self.h, self.w);
    }
    fn adjoint_into(&self, y: ArrayViewD<T>, x: ArrayViewMutD<T>) {
        self.apply_into(y, x);
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
