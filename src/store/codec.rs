//! Versioned binary encoding for stored records.
//!
//! Every value starts with one version byte, then fields in a fixed order written by
//! [`Writer`]. A record type decodes every version it ever wrote, so an old store keeps
//! working after an upgrade without a bulk migration; migrations in `migrate.rs` exist
//! for the changes that cannot be done lazily.

use std::fmt;

/// Why a stored value could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodeError(pub String);

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "stored value is corrupt: {}", self.0)
    }
}

impl std::error::Error for DecodeError {}

/// A type stored in its own sled tree.
pub trait Record: Sized {
    /// Name of the sled tree holding this record type.
    const TREE: &'static str;
    /// Version written by `encode`; `decode` must accept it and every older one.
    const VERSION: u8;
    fn encode(&self, w: &mut Writer);
    fn decode(version: u8, r: &mut Reader<'_>) -> Result<Self, DecodeError>;

    fn to_bytes(&self) -> Vec<u8> {
        let mut w = Writer(Vec::with_capacity(128));
        w.u8(Self::VERSION);
        self.encode(&mut w);
        w.0
    }

    fn from_bytes(bytes: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader(bytes);
        let version = r.u8()?;
        if version > Self::VERSION {
            return Err(DecodeError(format!(
                "{} record version {version} is newer than this firmware understands ({}); \
                 was the store written by a newer loopstart?",
                Self::TREE,
                Self::VERSION
            )));
        }
        let value = Self::decode(version, &mut r)?;
        if !r.0.is_empty() {
            return Err(DecodeError(format!(
                "{} record has trailing bytes",
                Self::TREE
            )));
        }
        Ok(value)
    }
}

/// Appends fields: integers big-endian, strings and bytes length-prefixed.
pub struct Writer(pub Vec<u8>);

impl Writer {
    pub fn u8(&mut self, v: u8) {
        self.0.push(v);
    }
    pub fn u16(&mut self, v: u16) {
        self.0.extend_from_slice(&v.to_be_bytes());
    }
    pub fn u32(&mut self, v: u32) {
        self.0.extend_from_slice(&v.to_be_bytes());
    }
    pub fn u64(&mut self, v: u64) {
        self.0.extend_from_slice(&v.to_be_bytes());
    }
    pub fn bytes(&mut self, v: &[u8]) {
        self.u32(v.len() as u32);
        self.0.extend_from_slice(v);
    }
    pub fn str(&mut self, v: &str) {
        self.bytes(v.as_bytes());
    }
    pub fn opt_str(&mut self, v: Option<&str>) {
        match v {
            Some(s) => {
                self.u8(1);
                self.str(s);
            }
            None => self.u8(0),
        }
    }
}

/// Reads fields written by [`Writer`], failing cleanly on truncation.
pub struct Reader<'a>(pub &'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        if self.0.len() < n {
            return Err(DecodeError(format!(
                "truncated: wanted {n} bytes, {} left",
                self.0.len()
            )));
        }
        let (head, tail) = self.0.split_at(n);
        self.0 = tail;
        Ok(head)
    }
    fn array<const N: usize>(&mut self) -> Result<[u8; N], DecodeError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }
    pub fn u8(&mut self) -> Result<u8, DecodeError> {
        Ok(self.take(1)?[0])
    }
    pub fn u16(&mut self) -> Result<u16, DecodeError> {
        Ok(u16::from_be_bytes(self.array()?))
    }
    pub fn u32(&mut self) -> Result<u32, DecodeError> {
        Ok(u32::from_be_bytes(self.array()?))
    }
    pub fn u64(&mut self) -> Result<u64, DecodeError> {
        Ok(u64::from_be_bytes(self.array()?))
    }
    pub fn bytes(&mut self) -> Result<&'a [u8], DecodeError> {
        let len = self.u32()? as usize;
        self.take(len)
    }
    pub fn str(&mut self) -> Result<String, DecodeError> {
        let b = self.bytes()?;
        String::from_utf8(b.to_vec()).map_err(|_| DecodeError("string is not UTF-8".into()))
    }
    pub fn opt_str(&mut self) -> Result<Option<String>, DecodeError> {
        match self.u8()? {
            0 => Ok(None),
            1 => Ok(Some(self.str()?)),
            t => Err(DecodeError(format!("bad option tag {t}"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, PartialEq)]
    struct Sample {
        a: u32,
        b: String,
        c: Option<String>,
    }

    impl Record for Sample {
        const TREE: &'static str = "sample";
        const VERSION: u8 = 2;
        fn encode(&self, w: &mut Writer) {
            w.u32(self.a);
            w.str(&self.b);
            w.opt_str(self.c.as_deref());
        }
        fn decode(version: u8, r: &mut Reader<'_>) -> Result<Self, DecodeError> {
            let a = r.u32()?;
            let b = r.str()?;
            // Version 1 had no `c`.
            let c = if version >= 2 { r.opt_str()? } else { None };
            Ok(Sample { a, b, c })
        }
    }

    #[test]
    fn round_trip() {
        let s = Sample {
            a: 7,
            b: "x".into(),
            c: Some("y".into()),
        };
        assert_eq!(Sample::from_bytes(&s.to_bytes()).unwrap(), s);
    }

    #[test]
    fn old_version_decodes() {
        let mut w = Writer(vec![1]);
        w.u32(9);
        w.str("old");
        let s = Sample::from_bytes(&w.0).unwrap();
        assert_eq!(s.c, None);
        assert_eq!(s.b, "old");
    }

    #[test]
    fn newer_version_and_truncation_are_errors() {
        assert!(Sample::from_bytes(&[3, 0, 0, 0, 1]).is_err());
        let bytes = Sample {
            a: 1,
            b: "hello".into(),
            c: None,
        }
        .to_bytes();
        for cut in 0..bytes.len() {
            assert!(Sample::from_bytes(&bytes[..cut]).is_err(), "cut at {cut}");
        }
        let mut long = bytes.clone();
        long.push(0);
        assert!(Sample::from_bytes(&long).is_err());
    }
}
