//! Base64 as lane reads and writes it (docker `auth` fields, kubeconfig `*-data` fields), on
//! the `base64` crate (docs/decisions.md).
//!
//! Decoding accepts what those files hold in practice: the standard alphabet or the URL-safe
//! one (never both in one value), with or without padding, and line breaks or spaces between
//! groups (a wrapped PEM-style value). Anything else — a character outside the alphabet, `=`
//! anywhere but the end, non-canonical trailing bits — is refused rather than decoded to
//! something shorter.

use base64::engine::general_purpose::{
    STANDARD, STANDARD_PAD_INDIFFERENT, URL_SAFE_PAD_INDIFFERENT,
};
use base64::Engine;

/// Standard base64 with padding (docker's `auth` field, `Authorization: Basic`).
pub fn base64_encode(bytes: &[u8]) -> String {
    STANDARD.encode(bytes)
}

/// Standard or URL-safe base64 (one alphabet per value), padding optional, ASCII whitespace
/// ignored. `None` when the value is not base64.
pub fn base64_decode(s: &str) -> Option<Vec<u8>> {
    let compact: Vec<u8> = s
        .bytes()
        .filter(|b| !matches!(b, b' ' | b'\n' | b'\r' | b'\t'))
        .collect();
    let url_safe = compact.iter().any(|b| matches!(b, b'-' | b'_'));
    // The URL-safe engine refuses `+` and `/` and the standard one `-` and `_`, so a value
    // that mixes the two alphabets fails either way.
    let engine = if url_safe {
        &URL_SAFE_PAD_INDIFFERENT
    } else {
        &STANDARD_PAD_INDIFFERENT
    };
    engine.decode(&compact).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_rfc_7617_and_round_trips() {
        // RFC 7617's example credential: the `Authorization: Basic` wire form.
        assert_eq!(
            base64_encode(b"Aladdin:open sesame"),
            "QWxhZGRpbjpvcGVuIHNlc2FtZQ=="
        );
        assert_eq!(base64_encode(b"ab"), "YWI=");
        assert_eq!(base64_encode(b"abc"), "YWJj");
        for n in 0..40u8 {
            let data: Vec<u8> = (0..n).map(|i| i.wrapping_mul(37)).collect();
            assert_eq!(base64_decode(&base64_encode(&data)), Some(data));
        }
    }

    #[test]
    fn padded_unpadded_and_wrapped_values_decode() {
        assert_eq!(base64_decode("aGVsbG8=").unwrap(), b"hello");
        assert_eq!(base64_decode("aGVsbG8").unwrap(), b"hello");
        assert_eq!(base64_decode("YWI=").unwrap(), b"ab");
        assert_eq!(base64_decode("YWI").unwrap(), b"ab");
        assert_eq!(
            base64_decode("aGV\nsbG8gd29y\r\nbGQ=\n").unwrap(),
            b"hello world"
        );
        assert_eq!(base64_decode("").unwrap(), b"");
        // 0xfb 0xff: `+/` in the standard alphabet, `-_` in the URL-safe one.
        assert_eq!(base64_decode("+/8=").unwrap(), [0xfb, 0xff]);
        assert_eq!(base64_decode("-_8").unwrap(), [0xfb, 0xff]);
    }

    #[test]
    fn mixed_alphabets_inner_padding_and_garbage_are_refused() {
        // One value with both alphabets: the hand-written decoder accepted it.
        assert_eq!(base64_decode("+_8="), None);
        assert_eq!(base64_decode("-/8="), None);
        // `=` before the end: the hand-written decoder stopped there and returned "hello".
        assert_eq!(base64_decode("aGVsbG8=d29ybGQ="), None);
        assert_eq!(base64_decode("a*b"), None);
        // A lone sixth bit group cannot be a whole byte.
        assert_eq!(base64_decode("aGVsbG8gA"), None);
        // Non-canonical trailing bits (`YWJ=` would decode to "ab" with stray bits).
        assert_eq!(base64_decode("YWJ="), None);
        assert_eq!(base64_decode("YWI=="), None);
    }
}
