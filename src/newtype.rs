//! The trait impls every text newtype shares ([`crate::commit::Commit`],
//! [`crate::digest::Digest`], `model::ServiceId`, `model::RepoPath`): built only through
//! `TryFrom` (the type's own rule, also what serde reads through `try_from = "String"`), read
//! as the `&str` it is everywhere else.

/// Implements, for `$t(String)` with `fn is_valid(&str) -> bool` and error `$err`: `as_str`,
/// `TryFrom<String>`, `TryFrom<&str>`, `From<$t> for String`, `Deref<Target = str>`,
/// `AsRef<str>`, `Borrow<str>`, `Display` and equality with `str`, `&str` and `String`.
macro_rules! text_newtype {
    ($t:ident, $err:ident) => {
        impl $t {
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl TryFrom<String> for $t {
            type Error = $err;
            fn try_from(s: String) -> Result<$t, $err> {
                if $t::is_valid(&s) {
                    Ok($t(s))
                } else {
                    Err($err)
                }
            }
        }

        impl TryFrom<&str> for $t {
            type Error = $err;
            fn try_from(s: &str) -> Result<$t, $err> {
                $t::try_from(s.to_string())
            }
        }

        impl From<$t> for String {
            fn from(v: $t) -> String {
                v.0
            }
        }

        /// Reads as the text it is wherever a `&str` is asked for; only building one is checked.
        impl std::ops::Deref for $t {
            type Target = str;
            fn deref(&self) -> &str {
                &self.0
            }
        }

        impl AsRef<str> for $t {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl std::borrow::Borrow<str> for $t {
            fn borrow(&self) -> &str {
                &self.0
            }
        }

        impl std::fmt::Display for $t {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl PartialEq<str> for $t {
            fn eq(&self, other: &str) -> bool {
                self.0 == other
            }
        }

        impl PartialEq<&str> for $t {
            fn eq(&self, other: &&str) -> bool {
                self.0 == *other
            }
        }

        impl PartialEq<String> for $t {
            fn eq(&self, other: &String) -> bool {
                self.0 == *other
            }
        }

        impl PartialEq<$t> for String {
            fn eq(&self, other: &$t) -> bool {
                *self == other.0
            }
        }

        impl PartialEq<$t> for &str {
            fn eq(&self, other: &$t) -> bool {
                *self == other.0
            }
        }
    };
}

pub(crate) use text_newtype;

/// A text that passed the rule its newtype holds, converted once the rules ran (`Err` means a
/// rule and its type disagree: a bug, which loaders report instead of half-typing a file).
pub(crate) fn typed<T: TryFrom<String>>(text: String) -> Result<T, TypeMismatch> {
    T::try_from(text).map_err(|_| TypeMismatch)
}

/// A value passed its rule but not its type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("a value passed its rule but not its type")]
pub struct TypeMismatch;
