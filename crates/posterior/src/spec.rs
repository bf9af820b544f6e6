//! `name[:key=value,...]` specifications, the configuration language shared by the
//! library's registries and the command line (`blur:kernel=gaussian,size=9,std=1.6`).

use std::collections::BTreeMap;
use std::str::FromStr;

use crate::error::{Error, Result};

/// A parsed specification: a name and its `key=value` parameters.
#[derive(Debug, Clone, PartialEq)]
pub struct Spec {
    /// The part before the colon.
    pub name: String,
    params: BTreeMap<String, String>,
}

impl Spec {
    /// Parse `name[:key=value,...]`. Keys must be unique; whitespace around items is ignored.
    pub fn parse(text: &str) -> Result<Spec> {
        let text = text.trim();
        let (name, rest) = match text.split_once(':') {
            Some((n, r)) => (n.trim(), Some(r)),
            None => (text, None),
        };
        if name.is_empty() {
            return Err(Error::Spec(format!(
                "`{text}`: a specification starts with a name, as in `name:key=value,...`"
            )));
        }
        let mut params = BTreeMap::new();
        if let Some(rest) = rest {
            for item in rest.split(',') {
                let item = item.trim();
                if item.is_empty() {
                    continue;
                }
                let Some((k, v)) = item.split_once('=') else {
                    return Err(Error::Spec(format!(
                        "`{text}`: `{item}` is not of the form key=value"
                    )));
                };
                let (k, v) = (k.trim().to_string(), v.trim().to_string());
                if k.is_empty() || v.is_empty() {
                    return Err(Error::Spec(format!(
                        "`{text}`: `{item}` needs both a key and a value"
                    )));
                }
                if params.insert(k.clone(), v).is_some() {
                    return Err(Error::Spec(format!("`{text}`: key `{k}` is given twice")));
                }
            }
        }
        Ok(Spec {
            name: name.to_string(),
            params,
        })
    }

    /// Check that every given key is among `valid`, then return a typed reader.
    pub fn args<'a>(&'a self, valid: &[&str]) -> Result<Args<'a>> {
        for k in self.params.keys() {
            if !valid.contains(&k.as_str()) {
                let list = if valid.is_empty() {
                    "it takes no parameters".to_string()
                } else {
                    format!("valid keys: {}", valid.join(", "))
                };
                return Err(Error::Spec(format!(
                    "`{}` has no parameter `{k}`; {list}",
                    self.name
                )));
            }
        }
        Ok(Args { spec: self })
    }

    /// The raw value of a key, if given.
    pub fn raw(&self, key: &str) -> Option<&str> {
        self.params.get(key).map(String::as_str)
    }

    /// Parameters as (key, value) pairs in key order.
    pub fn params(&self) -> impl Iterator<Item = (&str, &str)> {
        self.params.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// A copy with `key=value` set (replacing any earlier value).
    pub fn with(mut self, key: &str, value: impl ToString) -> Spec {
        self.params.insert(key.to_string(), value.to_string());
        self
    }
}

impl std::fmt::Display for Spec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.name)?;
        for (i, (k, v)) in self.params.iter().enumerate() {
            write!(f, "{}{k}={v}", if i == 0 { ':' } else { ',' })?;
        }
        Ok(())
    }
}

impl FromStr for Spec {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        Spec::parse(s)
    }
}

/// Typed access to a [`Spec`]'s parameters, with defaults and clear errors.
pub struct Args<'a> {
    spec: &'a Spec,
}

impl Args<'_> {
    fn parsed<T: FromStr>(&self, key: &str, what: &str) -> Result<Option<T>> {
        match self.spec.params.get(key) {
            None => Ok(None),
            Some(v) => v.parse::<T>().map(Some).map_err(|_| {
                Error::Spec(format!(
                    "`{}`: `{key}` expects {what}, got `{v}`",
                    self.spec.name
                ))
            }),
        }
    }

    /// Whether the key was given.
    pub fn has(&self, key: &str) -> bool {
        self.spec.params.contains_key(key)
    }

    /// A finite real number.
    pub fn f32_opt(&self, key: &str) -> Result<Option<f32>> {
        let v: Option<f32> = self.parsed(key, "a number")?;
        if let Some(x) = v
            && !x.is_finite()
        {
            return Err(Error::Spec(format!(
                "`{}`: `{key}` must be finite",
                self.spec.name
            )));
        }
        Ok(v)
    }

    /// A finite real number with a default.
    pub fn f32(&self, key: &str, default: f32) -> Result<f32> {
        Ok(self.f32_opt(key)?.unwrap_or(default))
    }

    /// A strictly positive finite number with a default.
    pub fn positive_f32(&self, key: &str, default: f32) -> Result<f32> {
        let v = self.f32(key, default)?;
        if v <= 0.0 {
            return Err(Error::Spec(format!(
                "`{}`: `{key}` must be > 0, got {v}",
                self.spec.name
            )));
        }
        Ok(v)
    }

    /// A non-negative integer, optional.
    pub fn usize_opt(&self, key: &str) -> Result<Option<usize>> {
        self.parsed(key, "a non-negative integer")
    }

    /// A non-negative integer with a default.
    pub fn usize(&self, key: &str, default: usize) -> Result<usize> {
        Ok(self.usize_opt(key)?.unwrap_or(default))
    }

    /// An integer in `[lo, hi]` with a default.
    pub fn usize_in(&self, key: &str, default: usize, lo: usize, hi: usize) -> Result<usize> {
        let v = self.usize(key, default)?;
        if v < lo || v > hi {
            return Err(Error::Spec(format!(
                "`{}`: `{key}` must be in [{lo}, {hi}], got {v}",
                self.spec.name
            )));
        }
        Ok(v)
    }

    /// A seed (u64) with a default.
    pub fn u64(&self, key: &str, default: u64) -> Result<u64> {
        Ok(self
            .parsed(key, "a non-negative integer")?
            .unwrap_or(default))
    }

    /// A boolean (`true/false`, `1/0`, `yes/no`) with a default.
    pub fn bool(&self, key: &str, default: bool) -> Result<bool> {
        match self.spec.params.get(key).map(String::as_str) {
            None => Ok(default),
            Some("true" | "1" | "yes" | "on") => Ok(true),
            Some("false" | "0" | "no" | "off") => Ok(false),
            Some(v) => Err(Error::Spec(format!(
                "`{}`: `{key}` expects true or false, got `{v}`",
                self.spec.name
            ))),
        }
    }

    /// One of a fixed set of words, with a default.
    pub fn choice(&self, key: &str, options: &[&str], default: &str) -> Result<String> {
        match self.spec.params.get(key) {
            None => Ok(default.to_string()),
            Some(v) if options.contains(&v.as_str()) => Ok(v.clone()),
            Some(v) => Err(Error::Spec(format!(
                "`{}`: `{key}={v}` is not valid; choose one of {}",
                self.spec.name,
                options.join(", ")
            ))),
        }
    }

    /// A free string, optional.
    pub fn str_opt(&self, key: &str) -> Option<&str> {
        self.spec.raw(key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_types() {
        let s = Spec::parse("blur:kernel=gaussian, size=9,std=1.6").unwrap();
        assert_eq!(s.name, "blur");
        let a = s.args(&["kernel", "size", "std", "boundary"]).unwrap();
        assert_eq!(a.usize("size", 3).unwrap(), 9);
        assert_eq!(a.f32("std", 1.0).unwrap(), 1.6);
        assert_eq!(
            a.choice("boundary", &["circular", "zero"], "circular")
                .unwrap(),
            "circular"
        );
        assert_eq!(s.to_string(), "blur:kernel=gaussian,size=9,std=1.6");
    }

    #[test]
    fn rejects_bad_specs() {
        assert!(Spec::parse(":x=1").is_err());
        assert!(Spec::parse("a:x").is_err());
        assert!(Spec::parse("a:x=1,x=2").is_err());
        let s = Spec::parse("a:bogus=1").unwrap();
        let e = s.args(&["size"]).err().unwrap().to_string();
        assert!(e.contains("bogus") && e.contains("size"), "{e}");
        let s = Spec::parse("a:size=-3").unwrap();
        assert!(s.args(&["size"]).unwrap().usize("size", 1).is_err());
        let s = Spec::parse("a:std=nan").unwrap();
        assert!(s.args(&["std"]).unwrap().f32("std", 1.0).is_err());
    }
}
