//! Weight files: safetensors with the architecture in the header, SHA-256 checks, and the
//! manifest of the weights shipped with the project.
//!
//! A weight file holds named little-endian `f32` arrays plus string metadata:
//! `posterior.kind` (architecture name), `posterior.config` (its JSON configuration) and
//! `posterior.format`; training checkpoints add more arrays under prefixes (`adam.m/...`)
//! and their state as JSON. Loading checks the architecture, every name and every shape
//! against the layout the configuration implies, and that all values are finite, and fails
//! with a message that says which check failed.

use std::collections::HashMap;
use std::path::Path;

use posterior::{Error, Result};
use safetensors::{Dtype, SafeTensors};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::params::{Param, ParamSet};

/// Version of the weight-file layout.
pub const FORMAT: &str = "1";

/// Hex SHA-256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    let digest = Sha256::digest(bytes);
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// Content fingerprint (sha256, hex) of a sequence of f32 arrays, each given as its shape
/// and its values in row-major order. Training checkpoints record it for their data, so a
/// resume on files that kept their names but changed content is refused.
pub fn fingerprint_f32<'a>(parts: impl IntoIterator<Item = (&'a [usize], &'a [f32])>) -> String {
    let mut h = Sha256::new();
    let mut buf = Vec::new();
    for (shape, values) in parts {
        buf.clear();
        buf.extend_from_slice(&(shape.len() as u64).to_le_bytes());
        for &d in shape {
            buf.extend_from_slice(&(d as u64).to_le_bytes());
        }
        buf.extend(values.iter().flat_map(|v| v.to_le_bytes()));
        h.update(&buf);
    }
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// Serialize parameter sets to safetensors bytes: each set's arrays are stored as
/// `prefix + name`; `meta` is written to the header next to the format version.
///
/// The bytes are a deterministic function of the inputs (header keys sorted, arrays in name
/// order), so retraining with the same command reproduces a file's SHA-256. The layout is
/// the safetensors format: an 8-byte little-endian header length, a JSON header padded
/// with spaces to a multiple of 8 bytes, then the arrays' little-endian `f32` values.
pub fn to_bytes(sets: &[(&str, &ParamSet)], meta: &[(&str, String)]) -> Result<Vec<u8>> {
    let mut arrays: Vec<(String, &Param)> = Vec::new();
    for (prefix, set) in sets {
        for p in &set.params {
            if p.shape.iter().product::<usize>() != p.data.len() {
                return Err(Error::Spec(format!(
                    "cannot serialize `{prefix}{}`: shape {:?} holds {} values, not {}",
                    p.name,
                    p.shape,
                    p.shape.iter().product::<usize>(),
                    p.data.len()
                )));
            }
            arrays.push((format!("{prefix}{}", p.name), p));
        }
    }
    arrays.sort_by(|a, b| a.0.cmp(&b.0));
    if arrays.windows(2).any(|w| w[0].0 == w[1].0) {
        return Err(Error::Spec("duplicate array names in a weight file".into()));
    }
    // serde_json's map is ordered by key, so the header text is deterministic.
    let mut header = serde_json::Map::new();
    let mut info = serde_json::Map::new();
    for (k, v) in meta {
        info.insert(k.to_string(), serde_json::Value::String(v.clone()));
    }
    info.insert("posterior.format".into(), FORMAT.into());
    header.insert("__metadata__".into(), serde_json::Value::Object(info));
    let mut offset = 0usize;
    for (name, p) in &arrays {
        let end = offset + 4 * p.data.len();
        header.insert(
            name.clone(),
            serde_json::json!({"dtype": "F32", "shape": p.shape, "data_offsets": [offset, end]}),
        );
        offset = end;
    }
    let mut text = serde_json::to_string(&serde_json::Value::Object(header))
        .map_err(|e| Error::Spec(format!("cannot serialize weights: {e}")))?
        .into_bytes();
    while text.len() % 8 != 0 {
        text.push(b' ');
    }
    let mut out = Vec::with_capacity(8 + text.len() + offset);
    out.extend_from_slice(&(text.len() as u64).to_le_bytes());
    out.extend_from_slice(&text);
    for (_, p) in &arrays {
        for v in &p.data {
            out.extend_from_slice(&v.to_le_bytes());
        }
    }
    Ok(out)
}

/// Write parameter sets to `path` atomically (see [`to_bytes`]).
pub fn save(path: &Path, sets: &[(&str, &ParamSet)], meta: &[(&str, String)]) -> Result<()> {
    let bytes = to_bytes(sets, meta)?;
    posterior::io::atomic_write(path, |w| std::io::Write::write_all(w, &bytes))
}

/// A parsed weight file.
#[derive(Debug)]
pub struct WeightFile {
    /// Where it came from (for messages).
    pub origin: String,
    /// Header metadata.
    pub meta: HashMap<String, String>,
    tensors: HashMap<String, (Vec<usize>, Vec<f32>)>,
}

impl WeightFile {
    /// Parse safetensors bytes; `origin` names the source in error messages.
    pub fn from_bytes(bytes: &[u8], origin: &str) -> Result<Self> {
        let bad = |reason: String| Error::Format {
            path: origin.into(),
            reason,
        };
        let st = SafeTensors::deserialize(bytes)
            .map_err(|e| bad(format!("not a readable safetensors weight file ({e})")))?;
        let (_, header) = SafeTensors::read_metadata(bytes)
            .map_err(|e| bad(format!("unreadable safetensors header ({e})")))?;
        let meta = header.metadata().clone().unwrap_or_default();
        match meta.get("posterior.format") {
            Some(f) if f == FORMAT => {}
            Some(f) => {
                return Err(bad(format!(
                    "weight-file format {f}, this build reads format {FORMAT}"
                )));
            }
            None => {
                return Err(bad(
                    "no `posterior.format` entry: not a posterior weight file".into(),
                ));
            }
        }
        let mut tensors = HashMap::new();
        for (name, view) in st.tensors() {
            if view.dtype() != Dtype::F32 {
                return Err(bad(format!(
                    "`{name}` has dtype {:?}, expected F32",
                    view.dtype()
                )));
            }
            let data: Vec<f32> = view
                .data()
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect();
            tensors.insert(name, (view.shape().to_vec(), data));
        }
        Ok(Self {
            origin: origin.to_string(),
            meta,
            tensors,
        })
    }

    /// Read and parse a file.
    pub fn read(path: &Path) -> Result<Self> {
        let bytes = std::fs::read(path).map_err(|e| Error::Io {
            path: path.to_path_buf(),
            reason: format!("cannot read weight file: {e}"),
        })?;
        Self::from_bytes(&bytes, &path.display().to_string())
    }

    fn bad(&self, reason: String) -> Error {
        Error::Format {
            path: self.origin.clone().into(),
            reason,
        }
    }

    /// A metadata entry, or an error naming it.
    pub fn meta(&self, key: &str) -> Result<&str> {
        self.meta
            .get(key)
            .map(String::as_str)
            .ok_or_else(|| self.bad(format!("missing metadata entry `{key}`")))
    }

    /// Check the architecture: `posterior.kind` must be `kind` and `posterior.config` must
    /// parse to `config`.
    pub fn check_architecture<C>(&self, kind: &str, config: &C) -> Result<()>
    where
        C: PartialEq + std::fmt::Debug + for<'de> Deserialize<'de>,
    {
        let found = self.meta("posterior.kind")?;
        if found != kind {
            return Err(self.bad(format!("holds a `{found}` network, expected `{kind}`")));
        }
        let c: C = serde_json::from_str(self.meta("posterior.config")?)
            .map_err(|e| self.bad(format!("unreadable network configuration: {e}")))?;
        if &c != config {
            return Err(self.bad(format!(
                "network configuration {c:?} does not match the expected {config:?}"
            )));
        }
        Ok(())
    }

    /// The architecture configuration stored in the file.
    pub fn config<C: for<'de> Deserialize<'de>>(&self, kind: &str) -> Result<C> {
        let found = self.meta("posterior.kind")?;
        if found != kind {
            return Err(self.bad(format!("holds a `{found}` network, expected `{kind}`")));
        }
        serde_json::from_str(self.meta("posterior.config")?)
            .map_err(|e| self.bad(format!("unreadable network configuration: {e}")))
    }

    /// The network configuration and training state of a checkpoint of `kind`: the state is
    /// the JSON under `posterior.train`, and the configuration it records (`net_of`) must
    /// equal the file's `posterior.config`.
    pub fn training_state<C, M>(&self, kind: &str, net_of: impl Fn(&M) -> &C) -> Result<(C, M)>
    where
        C: PartialEq + for<'de> Deserialize<'de>,
        M: for<'de> Deserialize<'de>,
    {
        let net: C = self.config(kind)?;
        let meta: M = serde_json::from_str(self.meta("posterior.train")?)
            .map_err(|e| self.bad(format!("unreadable training state: {e}")))?;
        if net_of(&meta) != &net {
            return Err(self.bad("network configuration and training state disagree".into()));
        }
        Ok((net, meta))
    }

    /// Fill `layout` (names and shapes) from the arrays stored under `prefix`; every array
    /// must be present with its shape and finite values.
    pub fn params(&self, prefix: &str, layout: &ParamSet) -> Result<ParamSet> {
        let mut out = ParamSet::new();
        for p in &layout.params {
            let key = format!("{prefix}{}", p.name);
            let Some((shape, data)) = self.tensors.get(&key) else {
                return Err(self.bad(format!("missing array `{key}`")));
            };
            if shape != &p.shape {
                return Err(self.bad(format!(
                    "`{key}` has shape {shape:?}, expected {:?}",
                    p.shape
                )));
            }
            if let Some(i) = data.iter().position(|v| !v.is_finite()) {
                return Err(self.bad(format!("`{key}` holds a non-finite value at {i}")));
            }
            out.params.push(Param {
                name: p.name.clone(),
                shape: shape.clone(),
                data: data.clone(),
            });
        }
        Ok(out)
    }
}

/// One entry of the weights manifest (`weights/MANIFEST.json`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ManifestEntry {
    /// Name used on the command line (e.g. `denoiser-gray`).
    pub name: String,
    /// File name inside `weights/`.
    pub file: String,
    /// Architecture name.
    pub kind: String,
    /// Architecture configuration (JSON).
    pub config: serde_json::Value,
    /// Training data (files and how they were used).
    pub data: String,
    /// The command that reproduces the file.
    pub command: String,
    /// Optimizer steps taken.
    pub steps: u64,
    /// Seed of every random choice in training.
    pub seed: u64,
    /// Final validation figures, e.g. PSNR per noise level.
    pub validation: serde_json::Value,
    /// Number of scalar parameters.
    pub parameters: usize,
    /// SHA-256 of the file.
    pub sha256: String,
}

/// Parse a manifest (a JSON array of [`ManifestEntry`]).
pub fn parse_manifest(text: &str) -> Result<Vec<ManifestEntry>> {
    serde_json::from_str(text).map_err(|e| Error::Format {
        path: "weights/MANIFEST.json".into(),
        reason: format!("unreadable manifest: {e}"),
    })
}

/// Verify `bytes` against a manifest entry's SHA-256.
pub fn verify_sha256(bytes: &[u8], entry: &ManifestEntry) -> Result<()> {
    let got = sha256_hex(bytes);
    if got != entry.sha256 {
        return Err(Error::Format {
            path: format!("weights/{}", entry.file).into(),
            reason: format!(
                "SHA-256 {got} does not match the manifest's {}: the file is corrupted or was \
                 replaced without updating weights/MANIFEST.json",
                entry.sha256
            ),
        });
    }
    Ok(())
}
