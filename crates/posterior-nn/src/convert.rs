//! Conversions between the core's `ndarray` images and burn tensors, in one place.
//!
//! Images in the core are `[H, W]` (gray) or `[C, H, W]` (channel-first colour) `f32` arrays;
//! networks take `[N, C, H, W]` batches.

use burn_tensor::{Device, Tensor, TensorData};
use ndarray::{ArrayD, ArrayViewD, IxDyn};
use posterior::{Error, Result};

use crate::params::to_vec;

/// `(C, H, W)` of a gray `[H, W]` or colour `[C, H, W]` image; zero sizes are refused.
pub fn image_dims(shape: &[usize]) -> Result<(usize, usize, usize)> {
    match *shape {
        [h, w] if h > 0 && w > 0 => Ok((1, h, w)),
        [c, h, w] if c > 0 && h > 0 && w > 0 => Ok((c, h, w)),
        _ => Err(Error::Shape {
            context: "image for a network (expected [H, W] or [C, H, W], no zero sizes)".into(),
            expected: vec![],
            got: shape.to_vec(),
        }),
    }
}

/// One image as a batch of one, `[1, C, H, W]`, on `device`.
pub fn image_to_tensor(image: &ArrayViewD<f32>, device: &Device) -> Result<Tensor<4>> {
    let (c, h, w) = image_dims(image.shape())?;
    let data: Vec<f32> = image.iter().copied().collect();
    Ok(Tensor::from_data(
        TensorData::new(data, [1, c, h, w]),
        device,
    ))
}

/// Images of one shape stacked as a batch `[N, C, H, W]`.
pub fn images_to_tensor(images: &[ArrayViewD<f32>], device: &Device) -> Result<Tensor<4>> {
    let Some(first) = images.first() else {
        return Err(Error::param("images", "empty batch"));
    };
    let (c, h, w) = image_dims(first.shape())?;
    let mut data = Vec::with_capacity(images.len() * c * h * w);
    for im in images {
        if im.shape() != first.shape() {
            return Err(Error::Shape {
                context: "batch of images".into(),
                expected: first.shape().to_vec(),
                got: im.shape().to_vec(),
            });
        }
        data.extend(im.iter().copied());
    }
    Ok(Tensor::from_data(
        TensorData::new(data, [images.len(), c, h, w]),
        device,
    ))
}

/// A batch-of-one tensor back to an image of `shape` (`[H, W]` or `[C, H, W]`).
pub fn tensor_to_image(t: Tensor<4>, shape: &[usize]) -> Result<ArrayD<f32>> {
    let dims = t.dims();
    let (c, h, w) = image_dims(shape)?;
    if dims != [1, c, h, w] {
        return Err(Error::Shape {
            context: "network output".into(),
            expected: vec![1, c, h, w],
            got: dims.to_vec(),
        });
    }
    let v = to_vec(t)?;
    ArrayD::from_shape_vec(IxDyn(shape), v)
        .map_err(|e| Error::param("network output", e.to_string()))
}

/// A batch tensor back to its images, each of `shape`.
pub fn tensor_to_images(t: Tensor<4>, shape: &[usize]) -> Result<Vec<ArrayD<f32>>> {
    let [n, c, h, w] = t.dims();
    let (ci, hi, wi) = image_dims(shape)?;
    if (c, h, w) != (ci, hi, wi) {
        return Err(Error::Shape {
            context: "network output".into(),
            expected: vec![n, ci, hi, wi],
            got: vec![n, c, h, w],
        });
    }
    let v = to_vec(t)?;
    let per = c * h * w;
    v.chunks_exact(per)
        .map(|chunk| {
            ArrayD::from_shape_vec(IxDyn(shape), chunk.to_vec())
                .map_err(|e| Error::param("network output", e.to_string()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_dims_refuses_empty_and_other_ranks() {
        assert_eq!(image_dims(&[4, 5]).unwrap(), (1, 4, 5));
        assert_eq!(image_dims(&[3, 4, 5]).unwrap(), (3, 4, 5));
        for bad in [
            &[0, 5][..],
            &[4, 0],
            &[0, 4, 5],
            &[3, 0, 5],
            &[5],
            &[1, 2, 3, 4],
        ] {
            assert!(image_dims(bad).is_err(), "{bad:?}");
        }
    }
}
