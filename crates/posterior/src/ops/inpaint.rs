//! `inpaint`: pixel masking `y = m ⊙ x`, the forward model of inpainting and of random
//! pixel sampling.
//!
//! The mask `m` is an `H x W` array shared by every channel; `y` has the image's shape and is
//! zero where a pixel is missing. The operator is diagonal and self-adjoint,
//! `A^T = A`, `A^T A = m² ⊙ ·` (`= A` for a binary mask).

use ndarray::{Array2, ArrayViewD, ArrayViewMutD, IxDyn, Zip};
use rand::RngExt;

use super::{LinearOperator, planes};
use crate::error::{Error, Result};
use crate::spec::Spec;

/// Arrays with at least this many entries are masked in parallel.
const PAR_LEN: usize = 1 << 16;

/// Pixel mask `y = m ⊙ x` on `[H, W]` or `[C, H, W]` images (the same `H x W` mask for every
/// channel).
///
/// ```
/// use posterior::ops::inpaint::Inpaint;
/// use posterior::ops::LinearOperator;
/// let op = Inpaint::centred_box(2, 2, &[4, 4]).unwrap();
/// let x = ndarray::ArrayD::from_elem(ndarray::IxDyn(&[4, 4]), 1.0f32);
/// let y = op.apply(x.view());
/// assert_eq!(y.sum(), 12.0); // the 2x2 centre is removed
/// assert_eq!(op.kept(), 12);
/// ```
pub struct Inpaint {
    mask: Array2<f32>,
    label: String,
    shape: Vec<usize>,
}

impl Inpaint {
    /// A binary mask: `true` keeps the pixel. `mask` must be `H x W` for images of `shape`.
    pub fn from_mask(mask: &Array2<bool>, shape: &[usize]) -> Result<Self> {
        let weights = mask.mapv(|k| if k { 1.0 } else { 0.0 });
        let mut op = Self::from_weights(weights, shape)?;
        op.label = format!("mask, {} of {} kept", op.kept(), mask.len());
        Ok(op)
    }

    /// A real-valued mask (a diagonal weighting `y = m ⊙ x`; `0` removes, `1` keeps).
    /// Every weight must be finite; `weights` must be `H x W` for images of `shape`.
    pub fn from_weights(weights: Array2<f32>, shape: &[usize]) -> Result<Self> {
        let (_, h, w) = planes(shape)?;
        if weights.dim() != (h, w) {
            return Err(Error::Shape {
                context: "inpainting mask (must match the image plane)".into(),
                expected: vec![h, w],
                got: weights.shape().to_vec(),
            });
        }
        let bad = weights.iter().filter(|v| !v.is_finite()).count();
        if bad > 0 {
            return Err(Error::NonFinite {
                what: "inpainting mask".into(),
                count: bad,
            });
        }
        if weights.iter().all(|&v| v == 0.0) {
            return Err(Error::param(
                "mask",
                "the mask keeps no pixel (A = 0 measures nothing); keep at least one",
            ));
        }
        let label = format!("weights {h}x{w}");
        Ok(Inpaint {
            mask: weights.as_standard_layout().into_owned(),
            label,
            shape: shape.to_vec(),
        })
    }

    /// Random sampling: each pixel is kept independently with probability `keep` in
    /// `(0, 1]`, drawn in row-major order from [`rng(seed)`](crate::rng) as
    /// `u < keep` with `u` uniform in `[0, 1)`.
    pub fn random(keep: f32, seed: u64, shape: &[usize]) -> Result<Self> {
        if !(keep > 0.0 && keep <= 1.0) {
            return Err(Error::param(
                "keep",
                format!("the kept fraction must be in (0, 1], got {keep}"),
            ));
        }
        let (_, h, w) = planes(shape)?;
        let mut rng = crate::rng(seed);
        let mask = Array2::from_shape_simple_fn((h, w), || rng.random::<f32>() < keep);
        let mut op = Self::from_mask(&mask, shape)?;
        op.label = format!(
            "random keep={keep} seed={seed}, {} of {} kept",
            op.kept(),
            h * w
        );
        Ok(op)
    }

    /// Remove a centred `bh x bw` box: rows `(H - bh) / 2 .. (H - bh) / 2 + bh` and likewise
    /// for columns (integer division). At least one pixel must remain.
    pub fn centred_box(bh: usize, bw: usize, shape: &[usize]) -> Result<Self> {
        let (_, h, w) = planes(shape)?;
        if bh == 0 || bw == 0 || bh > h || bw > w || (bh == h && bw == w) {
            return Err(Error::param(
                "box",
                format!(
                    "a removed box must be non-empty, fit in the {h}x{w} plane and leave pixels; got {bh}x{bw}"
                ),
            ));
        }
        let (r0, c0) = ((h - bh) / 2, (w - bw) / 2);
        let mask = Array2::from_shape_fn((h, w), |(i, j)| {
            !((r0..r0 + bh).contains(&i) && (c0..c0 + bw).contains(&j))
        });
        let mut op = Self::from_mask(&mask, shape)?;
        op.label = format!("box {bh}x{bw} removed");
        Ok(op)
    }

    /// Build from a spec: `inpaint:mask=random,keep=0.5,seed=0` (the defaults) or
    /// `inpaint:mask=box,box_frac=0.5` (a centred box whose sides are `round(frac H)` by
    /// `round(frac W)`, so it removes about `frac^2` of the area; default 0.5) or
    /// `inpaint:mask=box,box=HxW`, or `inpaint:mask=PATH` with a `.png`/`.npy` mask image
    /// of the image's `H x W` size (non-zero = kept; `[1, H, W]` is accepted too).
    pub fn from_spec(spec: &Spec, shape: &[usize]) -> Result<Self> {
        let args = spec.args(&["mask", "keep", "seed", "box", "box_frac"])?;
        let kind = args.str_opt("mask").unwrap_or("random");
        let reject = |keys: &[&str]| -> Result<()> {
            for k in keys {
                if args.has(k) {
                    return Err(Error::Spec(format!(
                        "`inpaint`: `{k}` does not apply to mask={kind}"
                    )));
                }
            }
            Ok(())
        };
        match kind {
            "random" => {
                reject(&["box", "box_frac"])?;
                Self::random(args.f32("keep", 0.5)?, args.u64("seed", 0)?, shape)
            }
            "box" => {
                reject(&["keep", "seed"])?;
                let (_, h, w) = planes(shape)?;
                let (bh, bw) = match args.str_opt("box") {
                    Some(text) => {
                        if args.has("box_frac") {
                            return Err(Error::Spec(
                                "`inpaint`: give either `box` or `box_frac`, not both".into(),
                            ));
                        }
                        parse_box(text)?
                    }
                    None => {
                        let frac = args.f32("box_frac", 0.5)?;
                        if !(frac > 0.0 && frac < 1.0) {
                            return Err(Error::param(
                                "box_frac",
                                format!("must be in (0, 1), got {frac}"),
                            ));
                        }
                        let side = |n: usize| ((frac as f64 * n as f64).round() as usize).max(1);
                        (side(h), side(w))
                    }
                };
                Self::centred_box(bh, bw, shape)
            }
            path => {
                reject(&["keep", "seed", "box", "box_frac"])?;
                let p = std::path::Path::new(path);
                if !(path.ends_with(".png") || path.ends_with(".npy")) {
                    return Err(Error::Spec(format!(
                        "`inpaint`: mask={path} is neither random, box, nor a .png/.npy mask file"
                    )));
                }
                let m = crate::io::read_image(p)?;
                crate::io::check_finite(path, m.view())?;
                let m2 = match *m.shape() {
                    [h, w] | [1, h, w] => m
                        .into_shape_with_order((h, w))
                        .map_err(|e| Error::param("mask", e.to_string()))?,
                    _ => {
                        return Err(Error::Shape {
                            context: format!("inpainting mask {path}"),
                            expected: planes(shape).map(|(_, h, w)| vec![h, w])?,
                            got: m.shape().to_vec(),
                        });
                    }
                };
                Self::from_mask(&m2.mapv(|v| v != 0.0), shape)
            }
        }
    }

    /// The `H x W` mask (`1` kept, `0` missing for binary masks).
    pub fn mask(&self) -> &Array2<f32> {
        &self.mask
    }

    /// Number of pixels per plane with a non-zero mask value.
    pub fn kept(&self) -> usize {
        self.mask.iter().filter(|&&v| v != 0.0).count()
    }

    fn multiply(&self, x: ArrayViewD<f32>, mut y: ArrayViewMutD<f32>, power: i32) {
        assert_eq!(x.shape(), &self.shape[..], "inpaint: input shape");
        assert_eq!(y.shape(), &self.shape[..], "inpaint: output shape");
        let mask = self.mask.view().into_dyn();
        let m = mask
            .broadcast(IxDyn(&self.shape))
            .expect("mask broadcasts over channels");
        let z = Zip::from(&mut y).and(&x).and(&m);
        let f = |y: &mut f32, &x: &f32, &m: &f32| *y = m.powi(power) * x;
        if self.shape.iter().product::<usize>() >= PAR_LEN {
            z.par_for_each(f);
        } else {
            z.for_each(f);
        }
    }
}

/// Parse `HxW` (e.g. `16x24`).
fn parse_box(text: &str) -> Result<(usize, usize)> {
    let bad = || {
        Error::Spec(format!(
            "`inpaint`: `box` expects HxW with positive integers, e.g. 16x24, got `{text}`"
        ))
    };
    let (a, b) = text.split_once(['x', 'X']).ok_or_else(bad)?;
    let a = a.trim().parse::<usize>().map_err(|_| bad())?;
    let b = b.trim().parse::<usize>().map_err(|_| bad())?;
    Ok((a, b))
}

impl LinearOperator for Inpaint {
    type Domain = f32;
    type Range = f32;

    fn describe(&self) -> String {
        format!("inpaint({})", self.label)
    }

    fn domain_shape(&self) -> &[usize] {
        &self.shape
    }

    fn range_shape(&self) -> &[usize] {
        &self.shape
    }

    fn apply_into(&self, x: ArrayViewD<f32>, y: ArrayViewMutD<f32>) {
        self.multiply(x, y, 1);
    }

    fn adjoint_into(&self, y: ArrayViewD<f32>, x: ArrayViewMutD<f32>) {
        self.multiply(y, x, 1);
    }

    fn measured(&self) -> Option<ndarray::ArrayD<bool>> {
        Some(super::broadcast_mask(
            &self.mask.mapv(|v| v != 0.0),
            self.range_shape(),
        ))
    }

    fn normal_into(&self, x: ArrayViewD<f32>, out: ArrayViewMutD<f32>) {
        self.multiply(x, out, 2);
    }

    fn gram(&self) -> Option<super::Gram> {
        let m2 = self.mask.mapv(|v| v * v);
        let shape = self.domain_shape();
        let d = m2.broadcast(shape).map(|v| v.to_owned().into_dyn())?;
        Some(super::Gram::Pixel(d))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::blur::tests::{check_adjoint, random_array};
    use ndarray::ArrayD;

    #[test]
    fn random_mask_statistics_and_reproducibility() {
        let shape = [3, 64, 80];
        let a = Inpaint::random(0.3, 7, &shape).unwrap();
        let b = Inpaint::random(0.3, 7, &shape).unwrap();
        let c = Inpaint::random(0.3, 8, &shape).unwrap();
        assert_eq!(a.mask(), b.mask());
        assert_ne!(a.mask(), c.mask());
        let n = (64 * 80) as f64;
        let frac = a.kept() as f64 / n;
        // binomial standard deviation sqrt(0.3 * 0.7 / n) ≈ 0.0064
        assert!((frac - 0.3).abs() < 0.03, "{frac}");
        assert!(a.mask().iter().all(|&v| v == 0.0 || v == 1.0));
        // same mask on every channel
        let x = ArrayD::from_elem(IxDyn(&shape), 1.0f32);
        let y = a.apply(x.view());
        for ch in 0..3 {
            assert_eq!(
                y.index_axis(ndarray::Axis(0), ch),
                a.mask().view().into_dyn()
            );
        }
        assert_eq!(Inpaint::random(1.0, 0, &shape).unwrap().kept(), 64 * 80);
        assert!(Inpaint::random(0.0, 0, &shape).is_err());
        assert!(Inpaint::random(1.5, 0, &shape).is_err());
    }

    #[test]
    fn box_masks() {
        let op = Inpaint::from_spec(
            &Spec::parse("inpaint:mask=box,box_frac=0.5").unwrap(),
            &[12, 10],
        )
        .unwrap();
        assert_eq!(op.kept(), 120 - 30);
        let m = op.mask();
        assert_eq!(m[[3, 2]], 0.0);
        assert_eq!(m[[8, 6]], 0.0);
        assert_eq!(m[[2, 2]], 1.0);
        assert_eq!(m[[9, 7]], 1.0);
        let op =
            Inpaint::from_spec(&Spec::parse("inpaint:mask=box,box=3x4").unwrap(), &[8, 8]).unwrap();
        assert_eq!(op.kept(), 64 - 12);
        assert_eq!(op.mask()[[2, 2]], 0.0);
        assert_eq!(op.mask()[[1, 2]], 1.0);
        let bad = |s: &str| Inpaint::from_spec(&Spec::parse(s).unwrap(), &[8, 8]).is_err();
        assert!(bad("inpaint:mask=box,box=9x2"));
        assert!(bad("inpaint:mask=box,box=3by4"));
        assert!(bad("inpaint:mask=box,keep=0.2"));
        assert!(bad("inpaint:keep=0.2,box_frac=0.3"));
        assert!(bad("inpaint:mask=box,box=2x2,box_frac=0.5"));
        assert!(bad("inpaint:mask=box,box_frac=1"));
        assert!(bad("inpaint:mask=holes.png"));
    }

    #[test]
    fn user_masks_adjoint_and_normal() {
        let shape = [2, 5, 7];
        let mask = Array2::from_shape_fn((5, 7), |(i, j)| (i + 2 * j) % 3 != 0);
        let op = Inpaint::from_mask(&mask, &shape).unwrap();
        let x = random_array(&shape, 1);
        let y = op.apply(x.view());
        for ((c, i, j), v) in y.indexed_iter().map(|(ix, v)| ((ix[0], ix[1], ix[2]), *v)) {
            let want = if mask[[i, j]] { x[[c, i, j]] } else { 0.0 };
            assert_eq!(v, want);
        }
        check_adjoint(&op, 3, 1e-6);
        let w = Array2::from_shape_fn((5, 7), |(i, j)| (i as f32 - j as f32) * 0.5);
        let op = Inpaint::from_weights(w.clone(), &shape).unwrap();
        check_adjoint(&op, 4, 1e-6);
        let mut n = ArrayD::zeros(IxDyn(&shape));
        op.normal_into(x.view(), n.view_mut());
        let r = op.adjoint(op.apply(x.view()).view());
        assert!(
            n.iter()
                .zip(r.iter())
                .all(|(a, b)| (a - b).abs() <= 1e-6 * b.abs().max(1.0))
        );
        assert!(Inpaint::from_mask(&mask, &[7, 5]).is_err());
        let mut w = w;
        w[[0, 0]] = f32::INFINITY;
        assert!(Inpaint::from_weights(w, &shape).is_err());
        // a mask that keeps nothing, given or drawn
        let none = Array2::from_elem((5, 7), false);
        let e = Inpaint::from_mask(&none, &shape)
            .err()
            .map(|e| e.to_string());
        assert!(e.unwrap().contains("keeps no pixel"));
        assert!(Inpaint::random(1e-9, 0, &shape).is_err());
    }

    #[test]
    fn mask_from_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("m.png");
        let mut m = ndarray::Array2::<f32>::ones((6, 5));
        m[[2, 3]] = 0.0;
        m[[4, 0]] = 0.0;
        crate::io::write_png(&p, &m.view().into_dyn(), 8).unwrap();
        let spec = Spec::parse(&format!("inpaint:mask={}", p.display())).unwrap();
        let op = Inpaint::from_spec(&spec, &[6, 5]).unwrap();
        assert_eq!(op.kept(), 28);
        assert_eq!(op.mask()[[2, 3]], 0.0);
        // a mask of the wrong size, a missing file and an unknown word are errors
        assert!(Inpaint::from_spec(&spec, &[5, 6]).is_err());
        let spec = Spec::parse("inpaint:mask=/nonexistent/m.png").unwrap();
        assert!(Inpaint::from_spec(&spec, &[6, 5]).is_err());
        let spec = Spec::parse("inpaint:mask=circle").unwrap();
        assert!(Inpaint::from_spec(&spec, &[6, 5]).is_err());
    }
}
