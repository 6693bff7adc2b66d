//! A git commit id as lane records it: the full 40 lowercase hex digits (SHA-1), never an
//! abbreviation or a ref name. A [`Commit`] can only be built valid ([`TryFrom`], or serde
//! reading a string), so a value that exists needs no second look; [`Commit::is_valid`]
//! answers for text that is reported on rather than parsed (the catalog check names every bad
//! commit field, so it looks before the typed value exists).

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Commit(String);

/// Text that is not a full commit id (the text itself is not kept: it may be anything).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("must be a full 40-character lowercase hex commit")]
pub struct NotACommit;

impl Commit {
    /// Whether `s` is exactly 40 lowercase hex digits.
    pub fn is_valid(s: &str) -> bool {
        s.len() == 40
            && s.bytes()
                .all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(&c))
    }
}

crate::newtype::text_newtype!(Commit, NotACommit);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_full_lowercase_commits_are_built() {
        let good = "0123456789abcdef0123456789abcdef01234567";
        let c = Commit::try_from(good).unwrap();
        assert_eq!(c, good);
        assert_eq!(&c[..12], "0123456789ab");
        for bad in [
            String::new(),
            "0123456".into(),
            "a".repeat(39),
            "a".repeat(41),
            "A".repeat(40),
            format!("{}g", "a".repeat(39)),
            format!("-{}", "a".repeat(39)),
            "refs/heads/main".into(),
        ] {
            assert!(!Commit::is_valid(&bad), "{bad}");
            assert_eq!(Commit::try_from(bad.clone()), Err(NotACommit), "{bad}");
        }
    }

    #[test]
    fn serde_reads_only_valid_commits_and_writes_the_string() {
        let good = format!("\"{}\"", "f".repeat(40));
        let c: Commit = serde_json::from_str(&good).unwrap();
        assert_eq!(serde_json::to_string(&c).unwrap(), good);
        let e = serde_json::from_str::<Commit>("\"--upload-pack=x\"").unwrap_err();
        assert!(e.to_string().contains("40-character"), "{e}");
        assert!(!e.to_string().contains("upload-pack"), "{e}");
    }
}
