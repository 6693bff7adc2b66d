//! Recognising credential values, so that none reaches deploy.json, a manifest, a log or an
//! error. Used by deploy.json checks, by `render` on its own output, and by `verify` on the
//! GitOps tree. Findings never carry the value itself: only its kind and length.

use std::sync::OnceLock;

use regex_lite::Regex;

/// Kinds of credential-looking values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecretKind {
    PemBlock,
    UrlCredentials,
    TokenPrefix,
    Jwt,
    Kubeconfig,
    AwsAccessKey,
}

impl SecretKind {
    pub fn describe(self) -> &'static str {
        match self {
            SecretKind::PemBlock => "a PEM private key or certificate block",
            SecretKind::UrlCredentials => "a URL with user:password credentials",
            SecretKind::TokenPrefix => "an access token (known provider prefix)",
            SecretKind::Jwt => "a JSON Web Token",
            SecretKind::Kubeconfig => "a kubeconfig",
            SecretKind::AwsAccessKey => "an AWS access key id",
        }
    }
}

struct Patterns {
    url_creds: Regex,
    token: Regex,
    jwt: Regex,
    aws: Regex,
}

fn patterns() -> &'static Patterns {
    static P: OnceLock<Patterns> = OnceLock::new();
    P.get_or_init(|| Patterns {
        // scheme://user:password@host — a password part must be present and non-empty.
        url_creds: Regex::new(r"[A-Za-z][A-Za-z0-9+.-]*://[^/\s:@]+:[^/\s@]+@[^\s]").unwrap(),
        token: Regex::new(
            r"\b(ghp_[A-Za-z0-9]{20,}|gho_[A-Za-z0-9]{20,}|ghu_[A-Za-z0-9]{20,}|ghs_[A-Za-z0-9]{20,}|ghr_[A-Za-z0-9]{20,}|github_pat_[A-Za-z0-9_]{20,}|glpat-[A-Za-z0-9_-]{16,}|xox[abprs]-[A-Za-z0-9-]{10,}|sk-[A-Za-z0-9_-]{20,}|AIza[0-9A-Za-z_-]{30,}|npm_[A-Za-z0-9]{30,}|hf_[A-Za-z0-9]{30,})",
        )
        .unwrap(),
        jwt: Regex::new(r"\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}").unwrap(),
        aws: Regex::new(r"\b(AKIA|ASIA)[0-9A-Z]{16}\b").unwrap(),
    })
}

/// The first credential kind found in `s`, if any.
/// Literal parts of the token patterns (a token can only match when one is present).
const TOKEN_MARKERS: &[&str] = &[
    "ghp_",
    "gho_",
    "ghu_",
    "ghs_",
    "ghr_",
    "github_pat_",
    "glpat-",
    "xox",
    "sk-",
    "AIza",
    "npm_",
    "hf_",
];

pub fn classify(s: &str) -> Option<SecretKind> {
    if s.contains("-----BEGIN ") {
        return Some(SecretKind::PemBlock);
    }
    let p = patterns();
    // Cheap substring tests first: each regex can only match when its literal part is
    // present, and most values (names, paths, quantities) contain none of them. This keeps
    // scanning a rendered tree of thousands of objects fast.
    if s.contains("://") && s.contains('@') && p.url_creds.is_match(s) {
        return Some(SecretKind::UrlCredentials);
    }
    if TOKEN_MARKERS.iter().any(|m| s.contains(m)) && p.token.is_match(s) {
        return Some(SecretKind::TokenPrefix);
    }
    if s.contains("eyJ") && p.jwt.is_match(s) {
        return Some(SecretKind::Jwt);
    }
    if (s.contains("AKIA") || s.contains("ASIA")) && p.aws.is_match(s) {
        return Some(SecretKind::AwsAccessKey);
    }
    if looks_like_kubeconfig(s) {
        return Some(SecretKind::Kubeconfig);
    }
    None
}

fn looks_like_kubeconfig(s: &str) -> bool {
    let kind_config = s.contains("kind: Config") || s.contains("\"kind\":\"Config\"");
    let creds = [
        "client-key-data",
        "client-certificate-data",
        "certificate-authority-data",
        "current-context",
    ]
    .iter()
    .any(|k| s.contains(k));
    creds || (kind_config && s.contains("clusters"))
}

/// Key names whose literal value is a credential (`DB_PASSWORD`, `apiKey`, `GITHUB_TOKEN`).
pub fn is_secret_key_name(name: &str) -> bool {
    let n: String = name
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .collect::<String>()
        .to_ascii_lowercase();
    [
        "password",
        "passwd",
        "secret",
        "token",
        "apikey",
        "privatekey",
        "credential",
        "accesskey",
        "authkey",
        "dsn",
        "databaseurl",
        "kubeconfig",
        "sshkey",
    ]
    .iter()
    .any(|k| n.contains(k))
}

/// A command-line argument that sets a credential literally (`--password=hunter2`,
/// `TOKEN=abc`). `$(VAR)` references (filled from a secretKeyRef env var) are fine.
pub fn is_credential_assignment(arg: &str) -> bool {
    static RE: OnceLock<Regex> = OnceLock::new();
    let re = RE.get_or_init(|| {
        Regex::new(r"(?i)(password|passwd|secret|token|api[-_]?key)=[^\s$]").unwrap()
    });
    re.is_match(arg)
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
    let p = patterns();
    let out = p
        .url_creds
        .replace_all(&out, "<url with credentials redacted>");
    let out = p.token.replace_all(&out, "***");
    out.into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_each_kind() {
        assert_eq!(
            classify("-----BEGIN OPENSSH PRIVATE KEY-----\nabc"),
            Some(SecretKind::PemBlock)
        );
        assert_eq!(
            classify("postgres://app:s3cr%40t@db:5432/agentrun_v01"),
            Some(SecretKind::UrlCredentials)
        );
        assert_eq!(
            classify("ghp_abcdefghijklmnopqrstuvwxyz0123456789"),
            Some(SecretKind::TokenPrefix)
        );
        assert_eq!(
            classify("eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.abcdefghijk"),
            Some(SecretKind::Jwt)
        );
        assert_eq!(
            classify("AKIAABCDEFGHIJKLMNOP"),
            Some(SecretKind::AwsAccessKey)
        );
        assert_eq!(
            classify("apiVersion: v1\nkind: Config\nclusters: []"),
            Some(SecretKind::Kubeconfig)
        );
    }

    #[test]
    fn plain_values_pass() {
        for v in [
            "info",
            "http://127.0.0.1:10808",
            "https://github.com/pikasTech/agentrun.git",
            "git@github.com:pikasTech/agentrun.git",
            "/home/agentrun/.codex",
            "postgres://db:5432/agentrun_v01",
        ] {
            assert_eq!(classify(v), None, "{v}");
        }
    }

    #[test]
    fn secret_names() {
        assert!(is_secret_key_name("DB_PASSWORD"));
        assert!(is_secret_key_name("apiKey"));
        assert!(is_secret_key_name("GITHUB_TOKEN"));
        assert!(is_secret_key_name("DATABASE_URL"));
        assert!(!is_secret_key_name("LOG_LEVEL"));
    }

    #[test]
    fn credential_flags() {
        assert!(is_credential_assignment("--password=hunter2"));
        assert!(is_credential_assignment("--api-key=abc"));
        assert!(is_credential_assignment("GITHUB_TOKEN=abc"));
        assert!(!is_credential_assignment("--token=$(API_TOKEN)"));
        assert!(!is_credential_assignment(
            "--token-file=/var/run/secrets/token"
        ));
        assert!(!is_credential_assignment("--password="));
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
