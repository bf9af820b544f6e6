//! Discrete cosine transforms of images as orthogonal linear operators.
//!
//! * [`Dct2Op`]: the global orthonormal 2-D DCT-II of every `H x W` plane
//!   (`Y = C_H X C_W^T`, with `C_n` the orthonormal DCT-II matrix of [`Dct1`](super::Dct1));
//!   the adjoint is the inverse 2-D DCT-III.
//! * [`BlockDct8`]: the orthonormal DCT-II on the 8x8 tiles of each plane (the JPEG
//!   transform). When a side is not a multiple of 8, the last tile along that side is
//!   shorter and is transformed by the orthonormal DCT-II of its own size (e.g. a 12 x 10
//!   plane is tiled 8x8, 8x2, 4x8, 4x2). Each tile's coefficients replace its pixels, with
//!   the DC coefficient in the tile's top-left corner. Block-diagonal with orthogonal blocks,
//!   hence orthogonal: adjoint = inverse.
//!
//! Both map `[H, W]` or `[C, H, W]` images to coefficients of the same shape.

use ndarray::{ArrayViewD, ArrayViewMutD};
use rayon::prelude::*;

use super::dct::Dct2;
use crate::error::Result;
use crate::ops::{LinearOperator, planes};

/// Copy `src` into `dst`, then run `f` on every `plane_len`-long plane of `dst` in
/// parallel (through a contiguous temporary when `dst` is not contiguous).
fn per_plane<F>(src: ArrayViewD<f32>, mut dst: ArrayViewMutD<f32>, plane_len: usize, f: F)
where
    F: Fn(&mut [f32]) + Send + Sync,
{
    dst.assign(&src);
    if let Some(data) = dst.as_slice_mut() {
        data.par_chunks_mut(plane_len).for_each(f);
    } else {
        let mut data: Vec<f32> = dst.iter().copied().collect();
        data.par_chunks_mut(plane_len).for_each(f);
        for (d, v) in dst.iter_mut().zip(data) {
            *d = v;
        }
    }
}

/// Global orthonormal 2-D DCT-II of every plane (see the module docs); adjoint = inverse.
#[derive(Clone, Debug)]
pub struct Dct2Op {
    shape: Vec<usize>,
    dct: Dct2,
}

impl Dct2Op {
    /// The transform for images of `shape` (`[H, W]` or `[C, H, W]`, any positive sizes).
    pub fn new(shape: &[usize]) -> Result<Self> {
        let (_, h, w) = planes(shape)?;
        Ok(Dct2Op {
            shape: shape.to_vec(),
            dct: Dct2::new(h, w),
        })
    }
}

impl LinearOperator for Dct2Op {
    type Domain = f32;
    type Range = f32;
    fn describe(&self) -> String {
        format!("dct(global, {}x{})", self.dct.height(), self.dct.width())
    }
    fn domain_shape(&self) -> &[usize] {
        &self.shape
    }
    fn range_shape(&self) -> &[usize] {
        &self.shape
    }
    fn apply_into(&self, x: ArrayViewD<f32>, y: ArrayViewMutD<f32>) {
        self.check_domain(x.shape(), "dct apply").expect("shape");
        let n = self.dct.height() * self.dct.width();
        per_plane(x, y, n, |p| self.dct.forward(p));
    }
    fn adjoint_into(&self, y: ArrayViewD<f32>, x: ArrayViewMutD<f32>) {
        self.check_range(y.shape(), "dct adjoint").expect("shape");
        let n = self.dct.height() * self.dct.width();
        per_plane(y, x, n, |p| self.dct.inverse(p));
    }
    fn gram(&self) -> Option<crate::ops::Gram> {
        Some(crate::ops::Gram::Scalar(1.0))
    }
    fn normal_into(&self, x: ArrayViewD<f32>, mut out: ArrayViewMutD<f32>) {
        out.assign(&x);
    }
}

/// Build the operator of a registry spec `dct:block=0|8`: the global [`Dct2Op`] for
/// `block=0` (the default), the blockwise [`BlockDct8`] for `block=8`.
pub fn from_spec(spec: &crate::spec::Spec, shape: &[usize]) -> Result<crate::ops::BoxOp<f32, f32>> {
    let args = spec.args(&["block"])?;
    match args.choice("block", &["0", "8"], "0")?.as_str() {
        "8" => Ok(Box::new(BlockDct8::new(shape)?)),
        _ => Ok(Box::new(Dct2Op::new(shape)?)),
    }
}

/// Block size of [`BlockDct8`].
const B: usize = 8;

/// Orthonormal blockwise 8x8 DCT-II of every plane, with shorter edge tiles transformed at
/// their own size (see the module docs); adjoint = inverse.
#[derive(Clone, Debug)]
pub struct BlockDct8 {
    shape: Vec<usize>,
    h: usize,
    w: usize,
    /// `basis[n-1]` is the row-major `n x n` orthonormal DCT-II matrix
    /// `C[k][j] = a_k cos(π k (2j+1) / (2n))`, for `n = 1..=8`.
    basis: Vec<Vec<f32>>,
    /// `basis_t[n-1]` is the transpose of `basis[n-1]` (the inverse DCT-III matrix).
    basis_t: Vec<Vec<f32>>,
}

impl BlockDct8 {
    /// The transform for images of `shape` (`[H, W]` or `[C, H, W]`, any positive sizes).
    pub fn new(shape: &[usize]) -> Result<Self> {
        let (_, h, w) = planes(shape)?;
        let basis: Vec<Vec<f32>> = (1..=B)
            .map(|n| {
                let nf = n as f64;
                let mut c = vec![0.0f32; n * n];
                for k in 0..n {
                    let a = if k == 0 {
                        (1.0 / nf).sqrt()
                    } else {
                        (2.0 / nf).sqrt()
                    };
                    for j in 0..n {
                        let t = std::f64::consts::PI * (k * (2 * j + 1)) as f64 / (2.0 * nf);
                        c[k * n + j] = (a * t.cos()) as f32;
                    }
                }
                c
            })
            .collect();
        let basis_t = basis
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let n = i + 1;
                (0..n * n).map(|idx| c[(idx % n) * n + idx / n]).collect()
            })
            .collect();
        Ok(BlockDct8 {
            shape: shape.to_vec(),
            h,
            w,
            basis,
            basis_t,
        })
    }

    /// In-place transform of one row-major `H x W` plane: forward (`Y = C X C^T` per tile)
    /// or inverse (`X = C^T Y C`).
    ///
    /// # Panics
    /// If `plane.len() != H * W`.
    pub fn transform_plane(&self, plane: &mut [f32], forward: bool) {
        let (h, w) = (self.h, self.w);
        assert_eq!(plane.len(), h * w, "BlockDct8: plane is not H*W");
        let mut tile = [0.0f32; B * B];
        let mut tmp = [0.0f32; B * B];
        // forward: Y = C_h X C_w^T; inverse: X = C_h^T Y C_w. With M_h, M_w the matrices
        // applied (C or C^T), both read out = M_h T M_w^T.
        let mats = if forward { &self.basis } else { &self.basis_t };
        for i0 in (0..h).step_by(B) {
            let bh = B.min(h - i0);
            let mh = &mats[bh - 1];
            for j0 in (0..w).step_by(B) {
                let bw = B.min(w - j0);
                let mw = &mats[bw - 1];
                for r in 0..bh {
                    tile[r * bw..(r + 1) * bw]
                        .copy_from_slice(&plane[(i0 + r) * w + j0..(i0 + r) * w + j0 + bw]);
                }
                // rows: tmp = T M_w^T
                for r in 0..bh {
                    let row = &tile[r * bw..(r + 1) * bw];
                    for k in 0..bw {
                        let mrow = &mw[k * bw..(k + 1) * bw];
                        tmp[r * bw + k] = mrow.iter().zip(row).map(|(&c, &v)| c * v).sum();
                    }
                }
                // columns: out = M_h tmp, into the plane
                for k in 0..bh {
                    let dst = &mut plane[(i0 + k) * w + j0..(i0 + k) * w + j0 + bw];
                    dst.fill(0.0);
                    for r in 0..bh {
                        let c = mh[k * bh + r];
                        for (d, &v) in dst.iter_mut().zip(&tmp[r * bw..(r + 1) * bw]) {
                            *d += c * v;
                        }
                    }
                }
            }
        }
    }
}

impl LinearOperator for BlockDct8 {
    type Domain = f32;
    type Range = f32;
    fn describe(&self) -> String {
        format!("dct(8x8 blocks, {}x{})", self.h, self.w)
    }
    fn domain_shape(&self) -> &[usize] {
        &self.shape
    }
    fn range_shape(&self) -> &[usize] {
        &self.shape
    }
    fn apply_into(&self, x: ArrayViewD<f32>, y: ArrayViewMutD<f32>) {
        self.check_domain(x.shape(), "block dct apply")
            .expect("shape");
        per_plane(x, y, self.h * self.w, |p| self.transform_plane(p, true));
    }
    fn adjoint_into(&self, y: ArrayViewD<f32>, x: ArrayViewMutD<f32>) {
        self.check_range(y.shape(), "block dct adjoint")
            .expect("shape");
        per_plane(y, x, self.h * self.w, |p| self.transform_plane(p, false));
    }
    fn gram(&self) -> Option<crate::ops::Gram> {
        Some(crate::ops::Gram::Scalar(1.0))
    }
    fn normal_into(&self, x: ArrayViewD<f32>, mut out: ArrayViewMutD<f32>) {
        out.assign(&x);
    }
}
