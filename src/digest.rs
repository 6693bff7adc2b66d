//! A content digest, `sha256:` followed by 64 lowercase hex: the one definition of that
//! format, below the registry layer (which parses references and proves content with it) and
//! the lane documents (whose catalog entries and publish results carry it). A [`Digest`] can only be built valid ([`TryFrom`], or serde reading a string);
//! [`Digest::is_valid`] answers for text that is reported on rather than parsed (the catalog
//! check names every bad digest field, so it looks before the typed value exists).

use serde::{Deserialize, Serialize};

/// `sha256:<64 lowercase hex>`: what the registry returns for a schema2/OCI manifest or
/// index, and what manifests pin.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Digest(String);

/// Text that is not a digest (the text itself is not kept: it may be anything).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("must be sha256: followed by 64 lowercase hex")]
pub struct NotADigest;

impl Digest {
    /// Whether `s` is exactly `sha256:` followed by 64 lowercase hex digits.
    pub fn is_valid(s: &str) -> bool {
        s.strip_prefix("sha256:").is_some_and(|h| {
            h.len() == 64
                && h.bytes()
                    .all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(&c))
        })
    }

    /// The digest of `bytes`: what a registry must name them by.
    pub fn of(bytes: &[u8]) -> Digest {
        use sha2::Digest as _;
        let sum = sha2::Sha256::digest(bytes);
        let mut s = String::with_capacity(71);
        s.push_str("sha256:");
        for b in sum {
            s.push_str(&format!("{b:02x}"));
        }
        Digest(s)
    }
}

crate::newtype::text_newtype!(Digest, NotADigest);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_valid_digests_are_built() {
        let good = format!("sha256:{}", "0123456789abcdef".repeat(4));
        let d = Digest::try_from(good.as_str()).unwrap();
        assert_eq!(d, good.as_str());
        assert_eq!(d.to_string(), good);
        for bad in [
            String::new(),
            "sha256:".into(),
            format!("sha256:{}", "a".repeat(63)),
            format!("sha256:{}", "a".repeat(65)),
            format!("sha256:{}", "A".repeat(64)),
            format!("sha512:{}", "a".repeat(64)),
            format!(" sha256:{}", "a".repeat(64)),
            format!("sha256:{}g", "a".repeat(63)),
        ] {
            assert!(!Digest::is_valid(&bad), "{bad}");
            assert_eq!(Digest::try_from(bad.clone()), Err(NotADigest), "{bad}");
        }
    }

    #[test]
    fn serde_reads_only_valid_digests_and_writes_the_string() {
        let good = format!("\"sha256:{}\"", "f".repeat(64));
        let d: Digest = serde_json::from_str(&good).unwrap();
        assert_eq!(serde_json::to_string(&d).unwrap(), good);
        let e = serde_json::from_str::<Digest>("\"sha256:abc\"").unwrap_err();
        assert!(e.to_string().contains("64 lowercase hex"), "{e}");
        assert!(!e.to_string().contains("abc"), "{e}");
    }
}
