//! A network's parameters as named, shaped `f32` arrays in host memory.
//!
//! [`ParamSet`] is the single source of truth for weights: the optimizer updates it in place,
//! the weight files store it, and every forward pass lifts it into burn tensors
//! ([`ParamSet::tensors`]). Entry order is fixed by the architecture, so a saved file and a
//! freshly initialised network agree name by name and shape by shape.

use burn_tensor::{Device, Tensor, TensorData};
use posterior::{Error, Result};
use rand::Rng;
use rand_distr::{Distribution, Normal};

/// One named parameter array.
#[derive(Clone, Debug, PartialEq)]
pub struct Param {
    /// Name, e.g. `conv3.weight`.
    pub name: String,
    /// Shape (row-major), e.g. `[out, in, 3, 3]` for a convolution kernel.
    pub shape: Vec<usize>,
    /// Values, `shape.iter().product()` of them.
    pub data: Vec<f32>,
}

impl Param {
    /// Number of values.
    pub fn len(&self) -> usize {
        self.data.len()
    }

    /// Whether the parameter holds no values.
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }
}

/// An ordered set of named parameters.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ParamSet {
    /// The parameters, in the architecture's order.
    pub params: Vec<Param>,
}

impl ParamSet {
    /// An empty set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Append a parameter filled with `value`.
    pub fn push_const(&mut self, name: &str, shape: &[usize], value: f32) {
        let n = shape.iter().product();
        self.params.push(Param {
            name: name.to_string(),
            shape: shape.to_vec(),
            data: vec![value; n],
        });
    }

    /// Append a parameter of i.i.d. `N(0, std²)` values drawn from `rng`.
    pub fn push_normal<R: Rng + ?Sized>(
        &mut self,
        name: &str,
        shape: &[usize],
        std: f32,
        rng: &mut R,
    ) {
        let n: usize = shape.iter().product();
        let dist = Normal::new(0.0f32, std.max(0.0)).expect("finite standard deviation");
        let data = (0..n).map(|_| dist.sample(rng)).collect();
        self.params.push(Param {
            name: name.to_string(),
            shape: shape.to_vec(),
            data,
        });
    }

    /// Total number of scalar parameters.
    pub fn count(&self) -> usize {
        self.params.iter().map(Param::len).sum()
    }

    /// The parameter named `name`.
    pub fn get(&self, name: &str) -> Option<&Param> {
        self.params.iter().find(|p| p.name == name)
    }

    /// Check that `other` has the same names and shapes in the same order.
    pub fn check_layout(&self, other: &ParamSet, context: &str) -> Result<()> {
        if self.params.len() != other.params.len() {
            return Err(Error::Spec(format!(
                "{context}: expected {} parameter arrays, found {}",
                self.params.len(),
                other.params.len()
            )));
        }
        for (a, b) in self.params.iter().zip(&other.params) {
            if a.name != b.name || a.shape != b.shape {
                return Err(Error::Spec(format!(
                    "{context}: expected `{}` of shape {:?}, found `{}` of shape {:?}",
                    a.name, a.shape, b.name, b.shape
                )));
            }
        }
        Ok(())
    }

    /// Whether every value is finite.
    pub fn all_finite(&self) -> bool {
        self.params
            .iter()
            .all(|p| p.data.iter().all(|v| v.is_finite()))
    }

    /// The parameters as flat rank-1 tensors on `device`, in order; with `track` they are
    /// autodiff leaves whose gradients [`Self::grads`] reads back.
    pub fn tensors(&self, device: &Device, track: bool) -> Vec<Tensor<1>> {
        self.params
            .iter()
            .map(|p| {
                let t = Tensor::<1>::from_data(TensorData::new(p.data.clone(), [p.len()]), device);
                if track { t.require_grad() } else { t }
            })
            .collect()
    }

    /// Read the gradients of tracked tensors made by [`Self::tensors`] into a set with this
    /// set's layout; a parameter that took no part in the loss gets a zero gradient.
    pub fn grads(&self, tensors: &[Tensor<1>], grads: &burn_tensor::Gradients) -> Result<ParamSet> {
        let mut out = self.clone();
        for (p, t) in out.params.iter_mut().zip(tensors) {
            match t.grad(grads) {
                Some(g) => p.data = to_vec(g)?,
                None => p.data.iter_mut().for_each(|v| *v = 0.0),
            }
        }
        Ok(out)
    }
}

/// A tensor's values as a host vector.
pub fn to_vec<const D: usize>(t: Tensor<D>) -> Result<Vec<f32>> {
    t.into_data()
        .try_into_vec::<f32>()
        .map_err(|e| Error::Spec(format!("cannot read a tensor back from the device: {e:?}")))
}
