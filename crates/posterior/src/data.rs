//! Test images compiled into the library, so examples and the command line work anywhere
//! without data files. All are 256x256 8-bit grayscale; provenance and licences are in
//! `data/README.md` and in [`provenance`].

use std::path::Path;

use ndarray::{Array2, Ix2};

use crate::error::{Error, Result};

/// (name, PNG bytes, one-line provenance and licence).
const IMAGES: &[(&str, &[u8], &str)] = &[
    (
        "astronaut",
        include_bytes!("../../../data/astronaut_256.png"),
        "astronaut Eileen Collins (NASA portrait, public domain), from scikit-image; RGB converted to gray",
    ),
    (
        "camera",
        include_bytes!("../../../data/camera_256.png"),
        "photographer with camera by Lav Varshney (CC0), from scikit-image >= 0.18; not the classic 'cameraman'",
    ),
    (
        "chelsea",
        include_bytes!("../../../data/chelsea_256.png"),
        "Chelsea the cat by Stefan van der Walt (CC0), from scikit-image; RGB converted to gray",
    ),
    (
        "coffee",
        include_bytes!("../../../data/coffee_256.png"),
        "cup of coffee by Rachel Michetti (CC0), from scikit-image; RGB converted to gray",
    ),
    (
        "coins",
        include_bytes!("../../../data/coins_256.png"),
        "Greek coins, Brooklyn Museum (no known copyright restrictions), from scikit-image",
    ),
    (
        "grace_hopper",
        include_bytes!("../../../data/grace_hopper_256.png"),
        "Grace Hopper, US Navy portrait (public domain), from matplotlib's sample data; RGB converted to gray",
    ),
    (
        "mri_brain",
        include_bytes!("../../../data/mri_brain_256.png"),
        "sagittal MRI slice of a head, matplotlib sample data s1045.ima (matplotlib licence; scan origin undocumented)",
    ),
    (
        "rocket",
        include_bytes!("../../../data/rocket_256.png"),
        "SpaceX rocket launch (public domain), from scikit-image; RGB converted to gray",
    ),
    (
        "shepp_logan",
        include_bytes!("../../../data/shepp_logan_256.png"),
        "scikit-image's 400x400 Shepp-Logan phantom resized to 256x256 (mathematical phantom)",
    ),
];

/// Names of the bundled images, for [`bundled`]. The file-style name with a `_256` suffix
/// (`camera_256`) is accepted too.
pub const BUNDLED: &[&str] = &[
    "astronaut",
    "camera",
    "chelsea",
    "coffee",
    "coins",
    "grace_hopper",
    "mri_brain",
    "rocket",
    "shepp_logan",
];

fn lookup(name: &str) -> Result<&'static (&'static str, &'static [u8], &'static str)> {
    let key = name.strip_suffix("_256").unwrap_or(name);
    IMAGES.iter().find(|(n, _, _)| *n == key).ok_or_else(|| {
        Error::param(
            "image",
            format!(
                "no bundled image `{name}`; available: {}",
                BUNDLED.join(", ")
            ),
        )
    })
}

/// A bundled 256x256 grayscale test image with values in `[0, 1]` (8-bit samples / 255).
pub fn bundled(name: &str) -> Result<Array2<f32>> {
    let (n, bytes, _) = lookup(name)?;
    let img = crate::io::decode_png(bytes, Path::new(&format!("<bundled {n}>")))?;
    img.into_dimensionality::<Ix2>().map_err(|_| Error::Format {
        path: format!("<bundled {n}>").into(),
        reason: "bundled image is not grayscale".into(),
    })
}

/// One line on where a bundled image comes from and its licence.
pub fn provenance(name: &str) -> Result<&'static str> {
    Ok(lookup(name)?.2)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_bundled_images_decode() {
        assert_eq!(BUNDLED.len(), IMAGES.len());
        for (name, (n, _, _)) in BUNDLED.iter().zip(IMAGES) {
            assert_eq!(name, n);
            let img = bundled(name).unwrap();
            assert_eq!(img.dim(), (256, 256), "{name}");
            let (lo, hi) = img
                .iter()
                .fold((f32::INFINITY, f32::NEG_INFINITY), |(a, b), &v| {
                    (a.min(v), b.max(v))
                });
            assert!(
                lo >= 0.0 && hi <= 1.0 && hi - lo > 0.3,
                "{name}: [{lo}, {hi}]"
            );
            assert!(!provenance(name).unwrap().is_empty());
        }
    }

    #[test]
    fn bundled_bytes_equal_data_files() {
        // The decoded image is the PNG's samples / 255, checked through the file reader.
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../data/camera_256.png");
        let from_file = crate::io::read_image(path).unwrap();
        assert_eq!(from_file, bundled("camera_256").unwrap().into_dyn());
        // A known pixel (centre of the image), checked with Python:
        // np.asarray(Image.open('data/camera_256.png'))[128, 128] == 12, [0, 0] == 200.
        let cam = bundled("camera").unwrap();
        assert_eq!(cam[[128, 128]], 12.0 / 255.0);
        assert_eq!(cam[[0, 0]], 200.0 / 255.0);
    }

    #[test]
    fn unknown_name_lists_the_choices() {
        let e = bundled("lena").unwrap_err().to_string();
        assert!(
            e.contains("lena") && e.contains("camera") && e.contains("mri_brain"),
            "{e}"
        );
    }
}
