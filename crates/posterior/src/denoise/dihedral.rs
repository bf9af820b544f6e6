//! The eight flips and rotations of an image (the dihedral group of the square), acting on
//! the last two axes of an array of any dimension (`[H, W]`, `[C, H, W]`, `[N, C, H, W]`).
//!
//! Used for geometric self-ensembles: denoise a transformed copy and transform the result
//! back, either averaging over several transforms (Timofte et al., "Seven ways to improve
//! example-based single image super resolution", CVPR 2016) or, inside an iterative
//! method, cycling through them one per iteration (the "periodical geometric
//! self-ensemble" of Zhang et al.'s DPIR, IEEE TPAMI 44(10), 2021). Both only re-view the
//! array: the transforms are axis reversals and a transposition.

use ndarray::{ArrayView, Axis, Dimension};

/// One of the eight flips/rotations of the last two axes: transpose first (if `swap`),
/// then reverse the rows and/or the columns.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Dihedral {
    swap: bool,
    flip_rows: bool,
    flip_cols: bool,
}

const fn dihedral(swap: bool, flip_rows: bool, flip_cols: bool) -> Dihedral {
    Dihedral {
        swap,
        flip_rows,
        flip_cols,
    }
}

impl Dihedral {
    /// All eight, in the ensemble order: identity, the two flips, the half turn, then the
    /// four that exchange the axes (transpose, the two quarter turns, the anti-transpose).
    pub const ALL: [Dihedral; 8] = [
        dihedral(false, false, false),
        dihedral(false, false, true),
        dihedral(false, true, false),
        dihedral(false, true, true),
        dihedral(true, false, false),
        dihedral(true, false, true),
        dihedral(true, true, false),
        dihedral(true, true, true),
    ];

    /// The identity.
    pub const IDENTITY: Dihedral = Dihedral::ALL[0];

    /// Whether the transform exchanges the last two axes (so a non-square `H × W` image
    /// becomes `W × H`).
    pub fn swaps_axes(&self) -> bool {
        self.swap
    }

    fn flip<'a, A, D: Dimension>(&self, mut v: ArrayView<'a, A, D>) -> ArrayView<'a, A, D> {
        let n = v.ndim();
        if self.flip_rows {
            v.invert_axis(Axis(n - 2));
        }
        if self.flip_cols {
            v.invert_axis(Axis(n - 1));
        }
        v
    }

    fn transpose<'a, A, D: Dimension>(&self, mut v: ArrayView<'a, A, D>) -> ArrayView<'a, A, D> {
        if self.swap {
            let n = v.ndim();
            v.swap_axes(n - 2, n - 1);
        }
        v
    }

    /// The transformed view. Panics if `v` has fewer than two axes.
    pub fn apply<'a, A, D: Dimension>(&self, v: ArrayView<'a, A, D>) -> ArrayView<'a, A, D> {
        assert!(v.ndim() >= 2, "a flip/rotation needs two axes");
        self.flip(self.transpose(v))
    }

    /// The inverse transform's view: the flips are their own inverses, then the
    /// transposition. Panics if `v` has fewer than two axes.
    pub fn invert<'a, A, D: Dimension>(&self, v: ArrayView<'a, A, D>) -> ArrayView<'a, A, D> {
        assert!(v.ndim() >= 2, "a flip/rotation needs two axes");
        self.transpose(self.flip(v))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{Array3, array};

    #[test]
    fn the_eight_are_distinct_and_invert() {
        let x = Array3::from_shape_fn((2, 3, 4), |(c, i, j)| (100 * c + 10 * i + j) as i32);
        let mut seen: Vec<Vec<i32>> = Vec::new();
        for t in Dihedral::ALL {
            let y = t.apply(x.view());
            let expect = if t.swaps_axes() { [2, 4, 3] } else { [2, 3, 4] };
            assert_eq!(y.shape(), expect);
            let flat: Vec<i32> = y.iter().copied().collect();
            assert!(!seen.contains(&flat), "{t:?} repeats another transform");
            seen.push(flat);
            let owned = y.to_owned();
            assert_eq!(t.invert(owned.view()), x.view(), "{t:?}");
        }
    }

    #[test]
    fn known_answers_on_a_2x2_image() {
        let x = array![[1, 2], [3, 4]];
        let got: Vec<Vec<i32>> = Dihedral::ALL
            .iter()
            .map(|t| t.apply(x.view()).iter().copied().collect())
            .collect();
        let want = vec![
            vec![1, 2, 3, 4], // identity
            vec![2, 1, 4, 3], // left-right flip
            vec![3, 4, 1, 2], // up-down flip
            vec![4, 3, 2, 1], // half turn
            vec![1, 3, 2, 4], // transpose
            vec![3, 1, 4, 2], // quarter turn clockwise
            vec![2, 4, 1, 3], // quarter turn anticlockwise
            vec![4, 2, 3, 1], // anti-transpose
        ];
        assert_eq!(got, want);
    }
}
