//! Redaction: credentials scrubbed from text before lane prints it (errors, progress, reports)
//! or keeps it (git, registry and Kubernetes error output). The one place for it, below every
//! layer that prints or talks to a server; recognising credential *values* in lane documents is
//! `model::secrets`, which shares the two patterns defined here.

use std::sync::OnceLock;

use regex_lite::Regex;

/// `scheme://[user]:password@host`: a non-empty password; the user may be empty
/// (`redis://:pw@host`) and the password may hold an unencoded `/`.
pub fn url_credentials() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| Regex::new(r"[A-Za-z][A-Za-z0-9+.-]*://[^/\s:@]*:[^\s@]+@[^\s]").unwrap())
}

/// An access token with a known provider prefix.
pub fn token() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| {
        Regex::new(
            r"\b(ghp_[A-Za-z0-9]{20,}|gho_[A-Za-z0-9]{20,}|ghu_[A-Za-z0-9]{20,}|ghs_[A-Za-z0-9]{20,}|ghr_[A-Za-z0-9]{20,}|github_pat_[A-Za-z0-9_]{20,}|glpat-[A-Za-z0-9_-]{16,}|xox[abprs]-[A-Za-z0-9-]{10,}|sk-[A-Za-z0-9_-]{20,}|AIza[0-9A-Za-z_-]{30,}|npm_[A-Za-z0-9]{30,}|hf_[A-Za-z0-9]{30,})",
        )
        .unwrap()
    })
}

/// `text` with the userinfo of every URL in it replaced by `***` when it holds a password
/// (`user:pass@`) or is an http(s) user (tokens travel as the user part there); an ssh or git
/// user such as `git@` stays. Everything lane prints goes through this (src/output.rs).
pub fn redact_url_userinfo(text: &str) -> std::borrow::Cow<'_, str> {
    if !text.contains("://") || !text.contains('@') {
        return std::borrow::Cow::Borrowed(text);
    }
    static RE: OnceLock<Regex> = OnceLock::new();
    let re = RE.get_or_init(|| {
        Regex::new(r"([A-Za-z][A-Za-z0-9+.-]*)://([^\s@/]*(?:/[^\s@/?#]*)*?)@").unwrap()
    });
    re.replace_all(text, |c: &regex_lite::Captures<'_>| {
        let scheme = &c[1];
        let user = &c[2];
        let web = scheme.eq_ignore_ascii_case("http") || scheme.eq_ignore_ascii_case("https");
        if user.contains(':') || (web && !user.is_empty() && !user.contains('/')) {
            format!("{scheme}://***@")
        } else {
            c[0].to_string()
        }
    })
}

/// A redacted description of a value: never the value itself.
pub fn redacted(value: &str) -> String {
    format!("<redacted, {} bytes>", value.len())
}

/// Replace every occurrence of each secret in `text` by `***`. Used on anything that might
/// echo a credential (git/registry error output).
pub fn scrub(text: &str, secrets: &[&str]) -> String {
    let mut out = text.to_string();
    for s in secrets.iter().filter(|s| s.len() >= 4) {
        out = out.replace(s, "***");
    }
    let out = url_credentials().replace_all(&out, "<url with credentials redacted>");
    let out = token().replace_all(&out, "***");
    out.into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_userinfo_is_redacted_in_text() {
        for (text, want) in [
            (
                "cannot reach https://user:pass@api.example:6443/api: refused",
                "cannot reach https://***@api.example:6443/api: refused",
            ),
            (
                "token https://x-access-token@h/o/r",
                "token https://***@h/o/r",
            ),
            (
                "redis://:pw/x@cache:1 and ssh://git@h/r",
                "redis://***@cache:1 and ssh://git@h/r",
            ),
            ("plain https://h/a@b?q", "plain https://h/a@b?q"),
        ] {
            assert_eq!(redact_url_userinfo(text), want, "{text}");
        }
    }

    #[test]
    fn scrub_hides() {
        let s = scrub(
            "fatal: https://u:hunter22@x/y failed hunter22",
            &["hunter22"],
        );
        assert!(!s.contains("hunter22"), "{s}");
    }
}
