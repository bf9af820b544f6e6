//! Adam (Kingma & Ba, "Adam: a method for stochastic optimization", ICLR 2015) on a
//! [`ParamSet`], with its state held in two sets of the same layout so checkpoints can
//! store it and a resumed run continues bit for bit.

use crate::params::ParamSet;

/// Adam's hyper-parameters and state.
#[derive(Clone, Debug, PartialEq)]
pub struct Adam {
    /// First-moment decay β₁.
    pub beta1: f32,
    /// Second-moment decay β₂.
    pub beta2: f32,
    /// Denominator floor ε.
    pub eps: f32,
    /// Steps taken (the bias corrections use it).
    pub t: u64,
    /// First-moment estimates.
    pub m: ParamSet,
    /// Second-moment estimates.
    pub v: ParamSet,
}

impl Adam {
    /// Fresh state for parameters of `layout`'s shapes, with the paper's defaults
    /// (β₁ = 0.9, β₂ = 0.999, ε = 1e-8).
    pub fn new(layout: &ParamSet) -> Self {
        let mut zeros = layout.clone();
        zeros
            .params
            .iter_mut()
            .for_each(|p| p.data.iter_mut().for_each(|v| *v = 0.0));
        Self {
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            t: 0,
            m: zeros.clone(),
            v: zeros,
        }
    }

    /// One update `θ ← θ − lr m̂ / (√v̂ + ε)` with the gradients `grads` (same layout).
    pub fn step(&mut self, params: &mut ParamSet, grads: &ParamSet, lr: f32) {
        self.t += 1;
        let (b1, b2) = (self.beta1, self.beta2);
        let c1 = 1.0 - (b1 as f64).powi(self.t as i32);
        let c2 = 1.0 - (b2 as f64).powi(self.t as i32);
        // Fold the bias corrections into the step: lr √c2 / c1, and ε scaled by √c2.
        let step = (lr as f64 * c2.sqrt() / c1) as f32;
        let eps = (self.eps as f64 * c2.sqrt()) as f32;
        for (((p, g), m), v) in params
            .params
            .iter_mut()
            .zip(&grads.params)
            .zip(&mut self.m.params)
            .zip(&mut self.v.params)
        {
            for (((x, &gi), mi), vi) in p
                .data
                .iter_mut()
                .zip(&g.data)
                .zip(&mut m.data)
                .zip(&mut v.data)
            {
                *mi = b1 * *mi + (1.0 - b1) * gi;
                *vi = b2 * *vi + (1.0 - b2) * gi * gi;
                *x -= step * *mi / (vi.sqrt() + eps);
            }
        }
    }
}

/// Learning rate at step `k` (0-based) of `total`: linear warm-up over `warmup` steps (at
/// most half of `total`, so a short phase still decays), then a cosine decay from `lr`
/// towards `lr · floor`, reached at `k = total` (Loshchilov & Hutter, SGDR, ICLR 2017).
pub fn cosine_lr(k: u64, total: u64, lr: f32, warmup: u64, floor: f32) -> f32 {
    let warmup = warmup.min(total / 2);
    if k < warmup {
        return lr * (k + 1) as f32 / warmup as f32;
    }
    let span = total.saturating_sub(warmup).max(1);
    let frac = ((k - warmup) as f64 / span as f64).min(1.0);
    let cos = 0.5 * (1.0 + (std::f64::consts::PI * frac).cos());
    lr * (floor + (1.0 - floor) * cos as f32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn adam_minimises_a_quadratic() {
        // f(θ) = ½ Σ a_i (θ_i − c_i)², gradient a ⊙ (θ − c).
        let mut p = ParamSet::new();
        p.push_const("w", &[3], 0.0);
        let a = [1.0f32, 10.0, 0.1];
        let c = [1.0f32, -2.0, 0.5];
        let mut adam = Adam::new(&p);
        for _ in 0..3000 {
            let mut g = p.clone();
            for (((gi, &x), ai), ci) in g.params[0]
                .data
                .iter_mut()
                .zip(&p.params[0].data)
                .zip(a)
                .zip(c)
            {
                *gi = ai * (x - ci);
            }
            adam.step(&mut p, &g, 0.01);
        }
        for (x, ci) in p.params[0].data.iter().zip(c) {
            assert!((x - ci).abs() < 1e-2, "{:?}", p.params[0].data);
        }
    }

    #[test]
    fn first_step_moves_each_weight_by_lr() {
        // With bias correction, the first step is lr · sign(g) (up to ε).
        let mut p = ParamSet::new();
        p.push_const("w", &[2], 1.0);
        let mut g = p.clone();
        g.params[0].data = vec![3.0, -0.001];
        let mut adam = Adam::new(&p);
        adam.step(&mut p, &g, 0.1);
        assert!((p.params[0].data[0] - 0.9).abs() < 1e-6);
        assert!((p.params[0].data[1] - 1.1).abs() < 1e-4);
    }

    #[test]
    fn cosine_schedule_endpoints() {
        assert!((cosine_lr(0, 100, 1.0, 10, 0.01) - 0.1).abs() < 1e-6);
        assert!((cosine_lr(10, 100, 1.0, 10, 0.01) - 1.0).abs() < 1e-6);
        assert!((cosine_lr(100, 100, 1.0, 10, 0.01) - 0.01).abs() < 1e-6);
        let mid = cosine_lr(55, 100, 1.0, 10, 0.0);
        assert!((mid - 0.5).abs() < 1e-6);
    }

    #[test]
    fn a_phase_shorter_than_twice_the_warm_up_still_decays() {
        // warm-up 200 on a 100-step phase: shortened to 50, then the cosine reaches the floor
        assert!((cosine_lr(0, 100, 1.0, 200, 0.01) - 0.02).abs() < 1e-6);
        assert!((cosine_lr(49, 100, 1.0, 200, 0.01) - 1.0).abs() < 1e-6);
        assert!(cosine_lr(99, 100, 1.0, 200, 0.01) < 0.02);
        // phases of at least 400 steps (every shipped one) keep the full warm-up
        assert!((cosine_lr(199, 1500, 1.0, 200, 0.01) - 1.0).abs() < 1e-6);
        assert!((cosine_lr(198, 400, 1.0, 200, 0.01) - 199.0 / 200.0).abs() < 1e-6);
    }
}
