//! The digest computations of RFC 7616 §3.4.1 / RFC 2617 §3.2.2 / RFC 2069, plus the
//! small primitives (hex, HMAC, constant-time equality) the rest of the module uses.

use super::Algorithm;
use md5::{Digest as _, Md5};
use sha2::Sha256;

/// Lowercase hex of `bytes`.
pub(crate) fn hex(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 2);
    push_hex(&mut s, bytes);
    s
}

/// Appends the lowercase hex of `bytes` to `s`.
pub(crate) fn push_hex(s: &mut String, bytes: &[u8]) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    for b in bytes {
        s.push(DIGITS[usize::from(b >> 4)] as char);
        s.push(DIGITS[usize::from(b & 0x0f)] as char);
    }
}

/// H(data) as lowercase hex, for the chosen algorithm.
fn h(alg: Algorithm, parts: &[&str]) -> String {
    // Hash `a:b:c` without building the joined string.
    match alg {
        Algorithm::Md5 => {
            let mut d = Md5::new();
            for (i, p) in parts.iter().enumerate() {
                if i > 0 {
                    d.update(b":");
                }
                d.update(p.as_bytes());
            }
            hex(&d.finalize())
        }
        Algorithm::Sha256 => {
            let mut d = Sha256::new();
            for (i, p) in parts.iter().enumerate() {
                if i > 0 {
                    d.update(b":");
                }
                d.update(p.as_bytes());
            }
            hex(&d.finalize())
        }
    }
}

/// HA1 = H(username:realm:password), lowercase hex. This is what a directory may store
/// instead of the password (FreeSWITCH's `a1-hash`), one per algorithm.
pub fn ha1(alg: Algorithm, username: &str, realm: &str, password: &str) -> String {
    h(alg, &[username, realm, password])
}

/// The `response` value for a request.
///
/// `qop` is `Some((nc, cnonce))` for `qop=auth` (nc as sent: 8 hex digits) and `None`
/// for the RFC 2069 form `H(HA1:nonce:HA2)`. `ha1_hex` is used as given, so pass it in
/// lowercase as [`ha1`] produces it.
pub fn response(
    alg: Algorithm,
    ha1_hex: &str,
    method: &str,
    digest_uri: &str,
    nonce: &str,
    qop: Option<(&str, &str)>,
) -> String {
    let ha2 = h(alg, &[method, digest_uri]);
    match qop {
        Some((nc, cnonce)) => h(alg, &[ha1_hex, nonce, nc, cnonce, "auth", &ha2]),
        None => h(alg, &[ha1_hex, nonce, &ha2]),
    }
}

/// Equality of two hex strings, ASCII case-insensitive, whose running time depends only
/// on the lengths (which are public: they follow from the algorithm).
pub(crate) fn ct_eq_hex(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    let mut diff = 0u8;
    for (x, y) in a.iter().zip(b) {
        diff |= x.to_ascii_lowercase() ^ y.to_ascii_lowercase();
    }
    std::hint::black_box(diff) == 0
}

/// Byte equality in time independent of where the first difference is.
pub fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let diff = a.iter().zip(b).fold(0u8, |d, (x, y)| d | (x ^ y));
    std::hint::black_box(diff) == 0
}

/// HMAC-SHA-256 (RFC 2104) with a fixed 32-byte key; small enough not to pull in the
/// `hmac` crate. The key's two pad blocks are hashed once here, so each MAC costs two
/// compressions instead of four: the nonce check runs on every authenticated request.
#[derive(Clone)]
pub(crate) struct HmacSha256 {
    inner: Sha256,
    outer: Sha256,
}

impl HmacSha256 {
    pub(crate) fn new(key: &[u8; 32]) -> HmacSha256 {
        let mut ipad = [0x36u8; 64];
        let mut opad = [0x5cu8; 64];
        for (i, k) in key.iter().enumerate() {
            ipad[i] ^= k;
            opad[i] ^= k;
        }
        let mut inner = Sha256::new();
        inner.update(ipad);
        let mut outer = Sha256::new();
        outer.update(opad);
        HmacSha256 { inner, outer }
    }

    /// The MAC of the concatenation of `parts`.
    pub(crate) fn mac(&self, parts: &[&[u8]]) -> [u8; 32] {
        let mut inner = self.inner.clone();
        for p in parts {
            inner.update(p);
        }
        let mut outer = self.outer.clone();
        outer.update(inner.finalize());
        outer.finalize().into()
    }
}

impl std::fmt::Debug for HmacSha256 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print key material.
        f.write_str("HmacSha256(..)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // RFC 7616 §3.9.1.
    const USER: &str = "Mufasa";
    const PASS: &str = "Circle of Life";
    const REALM: &str = "http-auth@example.org";
    const NONCE: &str = "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v";
    const CNONCE: &str = "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ";

    #[test]
    fn rfc7616_md5_vector() {
        let ha1 = ha1(Algorithm::Md5, USER, REALM, PASS);
        let r = response(
            Algorithm::Md5,
            &ha1,
            "GET",
            "/dir/index.html",
            NONCE,
            Some(("00000001", CNONCE)),
        );
        assert_eq!(r, "8ca523f5e9506fed4657c9700eebdbec");
    }

    #[test]
    fn rfc7616_sha256_vector() {
        let ha1 = ha1(Algorithm::Sha256, USER, REALM, PASS);
        let r = response(
            Algorithm::Sha256,
            &ha1,
            "GET",
            "/dir/index.html",
            NONCE,
            Some(("00000001", CNONCE)),
        );
        assert_eq!(
            r,
            "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1"
        );
    }

    #[test]
    fn rfc2617_md5_vector() {
        // RFC 2617 spells the password with a capital O.
        let ha1 = ha1(
            Algorithm::Md5,
            "Mufasa",
            "testrealm@host.com",
            "Circle Of Life",
        );
        let r = response(
            Algorithm::Md5,
            &ha1,
            "GET",
            "/dir/index.html",
            "dcd98b7102dd2f0e8b11d0f600bfb0c093",
            Some(("00000001", "0a4f113b")),
        );
        assert_eq!(r, "6629fae49393a05397450978507c4ef1");
    }

    #[test]
    fn rfc2069_form_differs_from_qop_form() {
        // RFC 2069's own example is known to be wrong (errata), so check the formula.
        let ha1 = ha1(Algorithm::Md5, "Mufasa", "testrealm@host.com", PASS);
        let ha2 = h(Algorithm::Md5, &["GET", "/dir/index.html"]);
        let want = h(Algorithm::Md5, &[&ha1, "abc", &ha2]);
        assert_eq!(
            response(Algorithm::Md5, &ha1, "GET", "/dir/index.html", "abc", None),
            want
        );
        let md5_ha2 = hex(&Md5::digest(b"GET:/dir/index.html"));
        assert_eq!(ha2, md5_ha2);
    }

    #[test]
    fn hmac_split_input_equals_joined() {
        let key = [0x0bu8; 32];
        let mac = HmacSha256::new(&key).mac(&[b"Hi ", b"There"]);
        let mac2 = HmacSha256::new(&key).mac(&[b"Hi There"]);
        assert_eq!(mac, mac2);
        assert_ne!(mac, HmacSha256::new(&[0x0c; 32]).mac(&[b"Hi There"]));
    }

    #[test]
    fn hmac_known_answer() {
        // HMAC-SHA-256, key = 32 bytes 0x00..0x1f, message "abc" (python hmac).
        let mut key = [0u8; 32];
        for (i, k) in key.iter_mut().enumerate() {
            *k = i as u8;
        }
        let mac = HmacSha256::new(&key).mac(&[b"abc"]);
        assert_eq!(
            hex(&mac),
            "f0133729c4163dede81e21cd47839256da58171238c8a0d874397c73b14e1e47"
        );
    }

    #[test]
    fn constant_time_eq() {
        assert!(ct_eq_hex("abcDEF", "ABCdef"));
        assert!(!ct_eq_hex("abcdef", "abcdee"));
        assert!(!ct_eq_hex("abc", "abcd"));
        assert!(ct_eq(b"xy", b"xy"));
        assert!(!ct_eq(b"xy", b"xz"));
    }
}
