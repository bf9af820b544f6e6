//! NumPy `.npy` files: a self-contained reader and writer for `float32`, `float64`,
//! `complex64` and `complex128` arrays.
//!
//! Format (NumPy Enhancement Proposal 1, "A simple file format for NumPy arrays"):
//! the magic bytes `\x93NUMPY`, a major and minor version byte, the header length
//! (little-endian `u16` for version 1.0, `u32` for 2.0 and 3.0), then an ASCII (UTF-8 for
//! 3.0) Python dictionary literal such as
//! `{'descr': '<f4', 'fortran_order': False, 'shape': (256, 256), }` padded with spaces
//! and a final newline, then the raw element bytes.
//!
//! Only little-endian, C-order data of the four floating dtypes is accepted; anything else
//! (big-endian, Fortran order, integer, object or structured dtypes, truncated or padded
//! data, zero-size arrays) is refused with an [`Error::Format`] that says why. Files are
//! written as version 1.0 (2.0 only when the header would not fit), with the header padded
//! so that the data starts on a 64-byte boundary, as NumPy itself does.

use std::io::Write;
use std::path::Path;

use ndarray::{ArrayD, ArrayViewD, IxDyn};

use crate::error::{Error, Result};
use crate::scalar::c32;

use super::AnyArray;

const MAGIC: &[u8; 6] = b"\x93NUMPY";

/// The element types this module understands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Dtype {
    /// Unsigned bytes (read only: returned as `f32` values 0..=255, e.g. MNIST digits).
    U8,
    F32,
    F64,
    C64,
    C128,
}

impl Dtype {
    fn item_size(self) -> usize {
        match self {
            Dtype::U8 => 1,
            Dtype::F32 => 4,
            Dtype::F64 | Dtype::C64 => 8,
            Dtype::C128 => 16,
        }
    }

    fn descr(self) -> &'static str {
        match self {
            Dtype::U8 => "|u1",
            Dtype::F32 => "<f4",
            Dtype::F64 => "<f8",
            Dtype::C64 => "<c8",
            Dtype::C128 => "<c16",
        }
    }

    fn from_descr(descr: &str) -> std::result::Result<Dtype, String> {
        match descr {
            "|u1" | "<u1" => Ok(Dtype::U8),
            "<f4" => Ok(Dtype::F32),
            "<f8" => Ok(Dtype::F64),
            "<c8" => Ok(Dtype::C64),
            "<c16" => Ok(Dtype::C128),
            "|O" | "<O" | ">O" => Err(
                "dtype `object` (pickled Python objects) is not supported; save a numeric \
                 float or complex array"
                    .into(),
            ),
            d if d.starts_with('>') => Err(format!(
                "dtype `{d}` is big-endian; only little-endian data is supported \
                 (convert with `a.astype(a.dtype.newbyteorder('<'))`)"
            )),
            d if d.starts_with('|') || d.starts_with('<') || d.starts_with('=') => Err(format!(
                "dtype `{d}` is not supported; use uint8, float32, float64, complex64 or complex128 \
                 (e.g. `a.astype(np.float32)`)"
            )),
            d => Err(format!(
                "dtype `{d}` is not a plain numeric dtype (structured or object arrays are \
                 not supported); use float32, float64, complex64 or complex128"
            )),
        }
    }
}

/// A parsed `.npy` header.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Header {
    pub dtype: Dtype,
    pub shape: Vec<usize>,
    /// Byte offset of the first element.
    pub data_offset: usize,
}

/// A value of the header dictionary: the subset of Python literals NumPy writes.
#[derive(Debug, Clone, PartialEq)]
enum Lit {
    Str(String),
    Bool(bool),
    Int(u64),
    Tuple(Vec<Lit>),
    Dict(Vec<(String, Lit)>),
    List(Vec<Lit>),
}

/// Recursive-descent parser of a Python literal (strings, booleans, non-negative
/// integers, tuples, lists and dictionaries with string keys).
struct LitParser<'a> {
    s: &'a [u8],
    pos: usize,
}

impl<'a> LitParser<'a> {
    fn new(s: &'a str) -> Self {
        LitParser {
            s: s.as_bytes(),
            pos: 0,
        }
    }

    fn skip_ws(&mut self) {
        while self.pos < self.s.len() && self.s[self.pos].is_ascii_whitespace() {
            self.pos += 1;
        }
    }

    fn peek(&mut self) -> Option<u8> {
        self.skip_ws();
        self.s.get(self.pos).copied()
    }

    fn expect(&mut self, c: u8) -> std::result::Result<(), String> {
        match self.peek() {
            Some(x) if x == c => {
                self.pos += 1;
                Ok(())
            }
            Some(x) => Err(format!(
                "expected `{}` at byte {} of the header, found `{}`",
                c as char, self.pos, x as char
            )),
            None => Err(format!(
                "expected `{}` but the header ended at byte {}",
                c as char, self.pos
            )),
        }
    }

    fn value(&mut self) -> std::result::Result<Lit, String> {
        match self.peek() {
            Some(b'\'') | Some(b'"') => self.string().map(Lit::Str),
            Some(b'{') => self.dict(),
            Some(b'(') => self.sequence(b'(', b')').map(Lit::Tuple),
            Some(b'[') => self.sequence(b'[', b']').map(Lit::List),
            Some(c) if c.is_ascii_digit() => self.int(),
            Some(c) if c.is_ascii_alphabetic() => {
                let start = self.pos;
                while self.pos < self.s.len() && self.s[self.pos].is_ascii_alphanumeric() {
                    self.pos += 1;
                }
                match &self.s[start..self.pos] {
                    b"True" => Ok(Lit::Bool(true)),
                    b"False" => Ok(Lit::Bool(false)),
                    w => Err(format!(
                        "unexpected word `{}` in the header",
                        String::from_utf8_lossy(w)
                    )),
                }
            }
            Some(c) => Err(format!(
                "unexpected character `{}` at byte {} of the header",
                c as char, self.pos
            )),
            None => Err("the header ended where a value was expected".into()),
        }
    }

    fn string(&mut self) -> std::result::Result<String, String> {
        let quote = self.s[self.pos];
        self.pos += 1;
        let start = self.pos;
        while self.pos < self.s.len() && self.s[self.pos] != quote {
            if self.s[self.pos] == b'\\' {
                return Err("escape sequences in header strings are not supported".into());
            }
            self.pos += 1;
        }
        if self.pos >= self.s.len() {
            return Err("unterminated string in the header".into());
        }
        let text = String::from_utf8_lossy(&self.s[start..self.pos]).into_owned();
        self.pos += 1;
        Ok(text)
    }

    fn int(&mut self) -> std::result::Result<Lit, String> {
        let start = self.pos;
        while self.pos < self.s.len() && self.s[self.pos].is_ascii_digit() {
            self.pos += 1;
        }
        // NumPy on some platforms wrote `3L` for Python 2 longs.
        if self.pos < self.s.len() && self.s[self.pos] == b'L' {
            self.pos += 1;
        }
        let digits = std::str::from_utf8(&self.s[start..self.pos])
            .unwrap_or("")
            .trim_end_matches('L');
        digits
            .parse::<u64>()
            .map(Lit::Int)
            .map_err(|_| format!("integer `{digits}` in the header is out of range"))
    }

    fn sequence(&mut self, open: u8, close: u8) -> std::result::Result<Vec<Lit>, String> {
        self.expect(open)?;
        let mut items = Vec::new();
        loop {
            if self.peek() == Some(close) {
                self.pos += 1;
                return Ok(items);
            }
            items.push(self.value()?);
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(c) if c == close => {}
                _ => {
                    return Err(format!(
                        "expected `,` or `{}` at byte {} of the header",
                        close as char, self.pos
                    ));
                }
            }
        }
    }

    fn dict(&mut self) -> std::result::Result<Lit, String> {
        self.expect(b'{')?;
        let mut items = Vec::new();
        loop {
            match self.peek() {
                Some(b'}') => {
                    self.pos += 1;
                    return Ok(Lit::Dict(items));
                }
                Some(b'\'') | Some(b'"') => {}
                _ => return Err(format!("expected a string key at byte {}", self.pos)),
            }
            let key = self.string()?;
            self.expect(b':')?;
            let value = self.value()?;
            items.push((key, value));
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b'}') => {}
                _ => return Err(format!("expected `,` or `}}` at byte {}", self.pos)),
            }
        }
    }

    fn finish(&mut self) -> std::result::Result<(), String> {
        self.skip_ws();
        if self.pos == self.s.len() {
            Ok(())
        } else {
            Err(format!(
                "unexpected text after the header dictionary at byte {}",
                self.pos
            ))
        }
    }
}

/// Parse the preamble and header of a `.npy` file held in `bytes`.
pub(crate) fn parse_header(bytes: &[u8]) -> std::result::Result<Header, String> {
    if bytes.len() < 10 || &bytes[..6] != MAGIC {
        return Err("not a NumPy .npy file (missing the \\x93NUMPY magic bytes)".into());
    }
    let (major, minor) = (bytes[6], bytes[7]);
    let (header_len, start) = match major {
        1 => (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10usize),
        2 | 3 => {
            if bytes.len() < 12 {
                return Err("truncated .npy preamble".into());
            }
            (
                u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize,
                12,
            )
        }
        _ => {
            return Err(format!(
                "unsupported .npy format version {major}.{minor} (1.0, 2.0 and 3.0 are supported)"
            ));
        }
    };
    let end = start
        .checked_add(header_len)
        .filter(|&e| e <= bytes.len())
        .ok_or_else(|| {
            format!(
                "truncated .npy header: it announces {header_len} bytes, the file has {}",
                bytes.len().saturating_sub(start)
            )
        })?;
    let text = std::str::from_utf8(&bytes[start..end])
        .map_err(|_| "the .npy header is not valid text".to_string())?;
    if major < 3 && !text.is_ascii() {
        return Err("the .npy header contains non-ASCII bytes".into());
    }
    let mut p = LitParser::new(text);
    let lit = p.value()?;
    p.finish()?;
    let Lit::Dict(items) = lit else {
        return Err("the .npy header is not a dictionary".into());
    };
    let get = |k: &str| items.iter().find(|(key, _)| key == k).map(|(_, v)| v);
    if let Some((k, _)) = items
        .iter()
        .find(|(k, _)| !matches!(k.as_str(), "descr" | "fortran_order" | "shape"))
    {
        return Err(format!("unexpected key `{k}` in the .npy header"));
    }
    let dtype = match get("descr") {
        Some(Lit::Str(d)) => Dtype::from_descr(d)?,
        Some(Lit::List(_)) => {
            return Err(
                "structured (record) dtypes are not supported; use a plain float or complex array"
                    .into(),
            );
        }
        Some(_) => return Err("`descr` in the .npy header is not a string".into()),
        None => return Err("the .npy header has no `descr` (dtype) entry".into()),
    };
    match get("fortran_order") {
        Some(Lit::Bool(false)) => {}
        Some(Lit::Bool(true)) => {
            return Err(
                "Fortran-ordered arrays are not supported; save a C-ordered copy \
                 (`np.save(path, np.ascontiguousarray(a))`)"
                    .into(),
            );
        }
        Some(_) => return Err("`fortran_order` in the .npy header is not True/False".into()),
        None => return Err("the .npy header has no `fortran_order` entry".into()),
    }
    let shape = match get("shape") {
        Some(Lit::Tuple(dims)) => dims
            .iter()
            .map(|d| match d {
                Lit::Int(n) => usize::try_from(*n).map_err(|_| format!("dimension {n} too large")),
                _ => Err("`shape` in the .npy header must hold integers".to_string()),
            })
            .collect::<std::result::Result<Vec<usize>, String>>()?,
        Some(_) => return Err("`shape` in the .npy header is not a tuple".into()),
        None => return Err("the .npy header has no `shape` entry".into()),
    };
    Ok(Header {
        dtype,
        shape,
        data_offset: end,
    })
}

/// Decode a complete `.npy` file held in memory.
pub(crate) fn decode(bytes: &[u8]) -> std::result::Result<AnyArray, String> {
    let header = parse_header(bytes)?;
    let count = header
        .shape
        .iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .ok_or("the shape in the .npy header overflows")?;
    if count == 0 {
        return Err(format!(
            "the array has shape {:?} and holds no elements",
            header.shape
        ));
    }
    let need = count
        .checked_mul(header.dtype.item_size())
        .ok_or("the shape in the .npy header overflows")?;
    let data = &bytes[header.data_offset..];
    if data.len() < need {
        return Err(format!(
            "truncated .npy data: shape {:?} of {} needs {need} bytes, the file holds {}",
            header.shape,
            header.dtype.descr(),
            data.len()
        ));
    }
    if data.len() > need {
        return Err(format!(
            ".npy file has {} unexpected bytes after the data of shape {:?}",
            data.len() - need,
            header.shape
        ));
    }
    let dim = IxDyn(&header.shape);
    let arr = match header.dtype {
        Dtype::U8 => AnyArray::Real(from_vec(dim, data.iter().map(|&b| b as f32).collect())),
        Dtype::F32 => AnyArray::Real(from_vec(
            dim,
            data.chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect(),
        )),
        Dtype::F64 => AnyArray::Real(from_vec(
            dim,
            data.chunks_exact(8).map(|b| read_f64(b) as f32).collect(),
        )),
        Dtype::C64 => AnyArray::Complex(from_vec(
            dim,
            data.chunks_exact(8)
                .map(|b| {
                    c32::new(
                        f32::from_le_bytes([b[0], b[1], b[2], b[3]]),
                        f32::from_le_bytes([b[4], b[5], b[6], b[7]]),
                    )
                })
                .collect(),
        )),
        Dtype::C128 => AnyArray::Complex(from_vec(
            dim,
            data.chunks_exact(16)
                .map(|b| c32::new(read_f64(&b[..8]) as f32, read_f64(&b[8..]) as f32))
                .collect(),
        )),
    };
    Ok(arr)
}

fn read_f64(b: &[u8]) -> f64 {
    f64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]])
}

fn from_vec<T>(dim: IxDyn, v: Vec<T>) -> ArrayD<T> {
    // The length was checked against the shape above.
    ArrayD::from_shape_vec(dim, v).expect("element count matches the shape")
}

/// The preamble and padded header for an array of `dtype` and `shape`.
pub(crate) fn encode_header(dtype: Dtype, shape: &[usize]) -> Vec<u8> {
    let dims = match shape {
        [d] => format!("({d},)"),
        _ => format!(
            "({})",
            shape
                .iter()
                .map(|d| d.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    let dict = format!(
        "{{'descr': '{}', 'fortran_order': False, 'shape': {dims}, }}",
        dtype.descr()
    );
    // Version 1.0 stores the header length in a u16; fall back to 2.0 if it does not fit.
    for (major, prefix) in [(1u8, 10usize), (2u8, 12usize)] {
        let unpadded = prefix + dict.len() + 1;
        let total = unpadded.div_ceil(64) * 64;
        let header_len = total - prefix;
        if major == 1 && header_len > u16::MAX as usize {
            continue;
        }
        let mut out = Vec::with_capacity(total);
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&[major, 0]);
        if major == 1 {
            out.extend_from_slice(&(header_len as u16).to_le_bytes());
        } else {
            out.extend_from_slice(&(header_len as u32).to_le_bytes());
        }
        out.extend_from_slice(dict.as_bytes());
        out.resize(total - 1, b' ');
        out.push(b'\n');
        return out;
    }
    unreachable!("a version 2.0 header holds up to 4 GiB")
}

/// Write `view` as little-endian `float32` in C order.
pub(crate) fn write_real<W: Write>(w: &mut W, view: &ArrayViewD<f32>) -> std::io::Result<()> {
    w.write_all(&encode_header(Dtype::F32, view.shape()))?;
    write_chunked(w, view.iter().flat_map(|x| x.to_le_bytes()))
}

/// Write `view` as little-endian `complex64` in C order.
pub(crate) fn write_complex<W: Write>(w: &mut W, view: &ArrayViewD<c32>) -> std::io::Result<()> {
    w.write_all(&encode_header(Dtype::C64, view.shape()))?;
    write_chunked(
        w,
        view.iter().flat_map(|z| {
            let (a, b) = (z.re.to_le_bytes(), z.im.to_le_bytes());
            [a[0], a[1], a[2], a[3], b[0], b[1], b[2], b[3]]
        }),
    )
}

fn write_chunked<W: Write>(w: &mut W, bytes: impl Iterator<Item = u8>) -> std::io::Result<()> {
    let mut buf = Vec::with_capacity(1 << 16);
    for b in bytes {
        buf.push(b);
        if buf.len() == buf.capacity() {
            w.write_all(&buf)?;
            buf.clear();
        }
    }
    w.write_all(&buf)
}

/// Read a `.npy` file from disk.
pub(crate) fn read(path: &Path) -> Result<AnyArray> {
    let bytes = std::fs::read(path).map_err(|e| Error::Io {
        path: path.to_path_buf(),
        reason: format!("cannot read: {e}"),
    })?;
    decode(&bytes).map_err(|reason| Error::Format {
        path: path.to_path_buf(),
        reason,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(descr: &str, fortran: &str, shape: &str, data: &[u8]) -> Vec<u8> {
        let dict =
            format!("{{'descr': '{descr}', 'fortran_order': {fortran}, 'shape': {shape}, }}");
        let mut out = MAGIC.to_vec();
        out.extend_from_slice(&[1, 0]);
        out.extend_from_slice(&((dict.len() + 1) as u16).to_le_bytes());
        out.extend_from_slice(dict.as_bytes());
        out.push(b'\n');
        out.extend_from_slice(data);
        out
    }

    #[test]
    fn header_is_aligned_and_parses_back() {
        for shape in [vec![3usize], vec![2, 5], vec![4, 6, 7], vec![]] {
            let h = encode_header(Dtype::C64, &shape);
            assert_eq!(h.len() % 64, 0);
            assert_eq!(*h.last().unwrap(), b'\n');
            let parsed = parse_header(&h).unwrap();
            assert_eq!(parsed.shape, shape);
            assert_eq!(parsed.dtype, Dtype::C64);
            assert_eq!(parsed.data_offset, h.len());
        }
        // The exact bytes NumPy writes for np.save(f, np.zeros((2, 3), np.float32)).
        let h = encode_header(Dtype::F32, &[2, 3]);
        let text = std::str::from_utf8(&h[10..]).unwrap();
        assert!(text.starts_with("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }"));
        assert_eq!(u16::from_le_bytes([h[8], h[9]]) as usize, 118);
    }

    #[test]
    fn decodes_hand_made_files() {
        let data: Vec<u8> = [1.5f64, -2.0]
            .iter()
            .flat_map(|x| x.to_le_bytes())
            .collect();
        let AnyArray::Real(a) = decode(&file("<f8", "False", "(2,)", &data)).unwrap() else {
            panic!("expected real")
        };
        assert_eq!(a.as_slice().unwrap(), &[1.5, -2.0]);

        let data: Vec<u8> = [1.0f64, 2.0, 3.0, 4.0]
            .iter()
            .flat_map(|x| x.to_le_bytes())
            .collect();
        let AnyArray::Complex(z) = decode(&file("<c16", "False", "(1, 2)", &data)).unwrap() else {
            panic!("expected complex")
        };
        assert_eq!(z.shape(), &[1, 2]);
        assert_eq!(z[[0, 1]], c32::new(3.0, 4.0));

        let AnyArray::Real(b) = decode(&file("|u1", "False", "(2, 2)", &[0, 7, 128, 255])).unwrap()
        else {
            panic!("expected real")
        };
        assert_eq!(b.as_slice().unwrap(), &[0.0, 7.0, 128.0, 255.0]);
    }

    #[test]
    fn refuses_what_it_cannot_read() {
        let four = [0u8; 4];
        let cases: Vec<(Vec<u8>, &str)> = vec![
            (file(">f4", "False", "(1,)", &four), "big-endian"),
            (file("<f4", "True", "(1,)", &four), "Fortran"),
            (file("|O", "False", "(1,)", &four), "object"),
            (file("<i4", "False", "(1,)", &four), "not supported"),
            (file("|i1", "False", "(4,)", &four), "not supported"),
            (file("<f4", "False", "(2,)", &four), "truncated"),
            (file("<f4", "False", "(0, 3)", &[]), "no elements"),
            (file("<f4", "False", "(1,)", &[0u8; 8]), "unexpected bytes"),
            (file("<f4", "False", "[1]", &four), "not a tuple"),
            (b"\x93NUMPZ\x01\x00\x00\x00".to_vec(), "magic"),
            (
                b"\x93NUMPY\x01\x00\xff\x00{'descr'".to_vec(),
                "truncated .npy header",
            ),
            (b"\x93NUMPY\x07\x00\x00\x00".to_vec(), "version 7.0"),
            (b"\x93NUMPY".to_vec(), "magic"),
        ];
        for (bytes, needle) in cases {
            let err = decode(&bytes).unwrap_err();
            assert!(err.contains(needle), "`{err}` should mention `{needle}`");
        }
        let garbage = {
            let mut f = MAGIC.to_vec();
            f.extend_from_slice(&[1, 0, 12, 0]);
            f.extend_from_slice(b"{'descr': <f");
            f
        };
        assert!(decode(&garbage).is_err());
        let structured = {
            let dict = "{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (1,), }\n";
            let mut f = MAGIC.to_vec();
            f.extend_from_slice(&[1, 0]);
            f.extend_from_slice(&(dict.len() as u16).to_le_bytes());
            f.extend_from_slice(dict.as_bytes());
            f.extend_from_slice(&[0u8; 4]);
            f
        };
        assert!(decode(&structured).unwrap_err().contains("structured"));
    }

    #[test]
    fn reads_version_2_headers() {
        let dict = "{'descr': '<f4', 'fortran_order': False, 'shape': (), }\n";
        let mut f = MAGIC.to_vec();
        f.extend_from_slice(&[2, 0]);
        f.extend_from_slice(&(dict.len() as u32).to_le_bytes());
        f.extend_from_slice(dict.as_bytes());
        f.extend_from_slice(&7.25f32.to_le_bytes());
        let AnyArray::Real(a) = decode(&f).unwrap() else {
            panic!("expected real")
        };
        assert_eq!(a.ndim(), 0);
        assert_eq!(a.iter().copied().collect::<Vec<_>>(), vec![7.25]);
    }
}
