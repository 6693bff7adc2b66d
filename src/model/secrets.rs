//! Recognising credential values, so that none reaches deploy.json, a manifest, a log or an
//! error. Used by deploy.json checks, by `render` on its own output, and by `verify` on the
//! GitOps tree. Findings never carry the value itself: only its kind and length.

use std::sync::OnceLock;

use regex_lite::Regex;

use crate::redact::{token, url_credentials};

/// Kinds of credential-looking values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecretKind {
    PemBlock,
    UrlCredentials,
    TokenPrefix,
    Jwt,
    Kubeconfig,
    AwsAccessKey,
    ConnectionString,
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
            SecretKind::ConnectionString => "a connection string with a password",
        }
    }
}

/// The URL-credential and token patterns are redaction's (src/redact.rs), shared here.
struct Patterns {
    jwt: Regex,
    aws: Regex,
    dsn_password: Regex,
    kind_config: Regex,
}

fn patterns() -> &'static Patterns {
    static P: OnceLock<Patterns> = OnceLock::new();
    P.get_or_init(|| Patterns {
        jwt: Regex::new(r"\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}")
            .unwrap(),
        aws: Regex::new(r"\b(AKIA|ASIA)[0-9A-Z]{16}\b").unwrap(),
        // libpq/ODBC key=value connection strings: `host=db password=…`.
        dsn_password: Regex::new(r"(?i)(^|[\s;])(password|passwd|pwd)\s*=\s*[^\s$;]").unwrap(),
        kind_config: Regex::new(r#""kind"\s*:\s*"Config"|(^|\s)kind:\s*Config\b"#).unwrap(),
    })
}

/// Literal parts of the patterns, found in one pass over a value (see [`markers`]).
const URL_SCHEME: u16 = 1; // "://"
const AT: u16 = 1 << 1; // '@'
const TOKEN: u16 = 1 << 2; // a token prefix such as "ghp_" or "glpat-"
const JWT: u16 = 1 << 3; // "eyJ"
const AWS: u16 = 1 << 4; // "AKIA" / "ASIA"
const PEM: u16 = 1 << 5; // "-----BEGIN "
const KUBE_CREDS: u16 = 1 << 6; // "client-key-data", "current-context", ...
const KIND_CONFIG: u16 = 1 << 7; // "kind: Config" / "\"kind\":\"Config\""
const CLUSTERS: u16 = 1 << 8; // "clusters"
const DSN: u16 = 1 << 9; // "password" / "passwd" / "pwd", any case
const BASE64_PEM: u16 = 1 << 10; // "-----BEGIN " base64-encoded, at any of its 3 alignments

/// "-----BEGIN " as it appears in base64 text at each byte alignment (what a Secret's
/// `data` or a `*_B64` variable holds).
const PEM_BASE64: [&[u8]; 3] = [b"LS0tLS1CRUdJTi", b"LS0tQkVHSU4g", b"LS0tLUJFR0lO"];

/// The literal parts of the credential patterns present in `s`. Each regex can only match
/// when its literal part is present, and most values (names, paths, quantities) hold none,
/// so one cheap pass decides for nearly every value of a rendered tree of thousands of
/// objects.
fn markers(s: &str) -> u16 {
    let b = s.as_bytes();
    let mut found = 0;
    for i in 0..b.len() {
        let rest = &b[i..];
        let any = |words: &[&[u8]]| words.iter().any(|w| rest.starts_with(w));
        found |= match b[i] {
            b':' if rest.starts_with(b"://") => URL_SCHEME,
            b'@' => AT,
            b'g' if any(&[
                b"ghp_",
                b"gho_",
                b"ghu_",
                b"ghs_",
                b"ghr_",
                b"github_pat_",
                b"glpat-",
            ]) =>
            {
                TOKEN
            }
            b'x' if rest.starts_with(b"xox") => TOKEN,
            b's' if rest.starts_with(b"sk-") => TOKEN,
            b'n' if rest.starts_with(b"npm_") => TOKEN,
            b'h' if rest.starts_with(b"hf_") => TOKEN,
            b'A' if rest.starts_with(b"AIza") => TOKEN,
            b'A' if any(&[b"AKIA", b"ASIA"]) => AWS,
            b'e' if rest.starts_with(b"eyJ") => JWT,
            b'-' if rest.starts_with(b"-----BEGIN ") => PEM,
            b'c' if any(&[
                b"client-key-data",
                b"client-certificate-data",
                b"certificate-authority-data",
                b"current-context",
            ]) =>
            {
                KUBE_CREDS
            }
            b'c' if rest.starts_with(b"clusters") => CLUSTERS,
            b'C' if rest.starts_with(b"Config") => KIND_CONFIG,
            b'p' | b'P'
                if starts_with_ignore_case(rest, b"password")
                    || starts_with_ignore_case(rest, b"passwd")
                    || starts_with_ignore_case(rest, b"pwd") =>
            {
                DSN
            }
            b'L' if PEM_BASE64.iter().any(|w| rest.starts_with(w)) => BASE64_PEM,
            _ => 0,
        };
    }
    found
}

fn starts_with_ignore_case(s: &[u8], word: &[u8]) -> bool {
    s.len() >= word.len() && s[..word.len()].eq_ignore_ascii_case(word)
}

/// The first credential kind found in `s`, if any.
pub fn classify(s: &str) -> Option<SecretKind> {
    // The shortest value any pattern matches (`pwd=x`) has 5 characters.
    if s.len() < 5 {
        return None;
    }
    let m = markers(s);
    if m == 0 {
        return None;
    }
    if m & (PEM | BASE64_PEM) != 0 {
        return Some(SecretKind::PemBlock);
    }
    let p = patterns();
    if m & (URL_SCHEME | AT) == URL_SCHEME | AT && url_credentials().is_match(s) {
        return Some(SecretKind::UrlCredentials);
    }
    if m & TOKEN != 0 && token().is_match(s) {
        return Some(SecretKind::TokenPrefix);
    }
    if m & JWT != 0 && p.jwt.is_match(s) {
        return Some(SecretKind::Jwt);
    }
    if m & AWS != 0 && p.aws.is_match(s) {
        return Some(SecretKind::AwsAccessKey);
    }
    if m & KUBE_CREDS != 0
        || (m & (KIND_CONFIG | CLUSTERS) == KIND_CONFIG | CLUSTERS && p.kind_config.is_match(s))
    {
        return Some(SecretKind::Kubeconfig);
    }
    if m & DSN != 0 && p.dsn_password.is_match(s) {
        return Some(SecretKind::ConnectionString);
    }
    None
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

/// A flag that takes a credential as its next argument (`--password hunter2`, `-token x`):
/// the pair is as literal as `--password=hunter2`.
pub fn is_credential_flag(arg: &str) -> bool {
    static RE: OnceLock<Regex> = OnceLock::new();
    let re = RE.get_or_init(|| {
        Regex::new(r"(?i)^--?[a-z0-9_-]*(password|passwd|secret|token|api[-_]?key)$").unwrap()
    });
    re.is_match(arg)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The plain definition [`classify`] must agree with: every pattern tried on every value.
    fn reference(s: &str) -> Option<SecretKind> {
        let p = patterns();
        if s.contains("-----BEGIN ")
            || PEM_BASE64
                .iter()
                .any(|w| s.contains(std::str::from_utf8(w).unwrap()))
        {
            Some(SecretKind::PemBlock)
        } else if url_credentials().is_match(s) {
            Some(SecretKind::UrlCredentials)
        } else if token().is_match(s) {
            Some(SecretKind::TokenPrefix)
        } else if p.jwt.is_match(s) {
            Some(SecretKind::Jwt)
        } else if p.aws.is_match(s) {
            Some(SecretKind::AwsAccessKey)
        } else if [
            "client-key-data",
            "client-certificate-data",
            "certificate-authority-data",
            "current-context",
        ]
        .iter()
        .any(|k| s.contains(k))
            || (p.kind_config.is_match(s) && s.contains("clusters"))
        {
            Some(SecretKind::Kubeconfig)
        } else if p.dsn_password.is_match(s) {
            Some(SecretKind::ConnectionString)
        } else {
            None
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]
        #[test]
        fn the_one_pass_prefilter_agrees_with_the_patterns(parts in prop::collection::vec(prop_oneof![
            Just("ghp_".to_string()), Just("github_pat_".to_string()), Just("glpat-".to_string()),
            Just("xoxb-".to_string()), Just("sk-".to_string()), Just("AIza".to_string()),
            Just("npm_".to_string()), Just("hf_".to_string()), Just("eyJ".to_string()),
            Just(".".to_string()), Just("AKIA".to_string()), Just("ASIA".to_string()),
            Just("-----BEGIN ".to_string()), Just("://".to_string()), Just("@".to_string()),
            Just(":".to_string()), Just("kind: Config".to_string()), Just("clusters".to_string()),
            Just("\"kind\":\"Config\"".to_string()), Just("current-context".to_string()),
            Just("client-key-data".to_string()), "[A-Z0-9]{4,20}", "[a-zA-Z0-9_-]{1,24}",
            Just("\"kind\": \"Config\"".to_string()), Just("kind:Config".to_string()),
            Just("password".to_string()), Just("PWD".to_string()), Just("=".to_string()),
            Just(";".to_string()), Just("$".to_string()), Just("LS0tLS1CRUdJTi".to_string()),
            Just("LS0tQkVHSU4g".to_string()), Just("LS0tLUJFR0lO".to_string()), Just("redis://".to_string()),
            "\\PC{0,6}", Just(" ".to_string()),
        ], 0..8)) {
            let s: String = parts.concat();
            prop_assert_eq!(classify(&s), reference(&s), "{:?}", s);
        }
    }

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

    /// Issue 14: shapes the scanner used to miss.
    #[test]
    fn finds_the_common_shapes() {
        use base64::*;
        for (v, kind) in [
            (
                "redis://:hunter2pw@cache:6379/0",
                SecretKind::UrlCredentials,
            ),
            (
                "https://bot:pa/ss@git.example.com/o/r.git",
                SecretKind::UrlCredentials,
            ),
            (
                "host=db port=5432 password=hunter2 dbname=app",
                SecretKind::ConnectionString,
            ),
            (
                "Server=db;Uid=app;Pwd=hunter2;",
                SecretKind::ConnectionString,
            ),
            (
                "{\"kind\": \"Config\", \"clusters\": []}",
                SecretKind::Kubeconfig,
            ),
            (
                &b64("-----BEGIN OPENSSH PRIVATE KEY-----\nb3Blbn\n")[..],
                SecretKind::PemBlock,
            ),
            (
                &b64("x-----BEGIN RSA PRIVATE KEY-----\n")[..],
                SecretKind::PemBlock,
            ),
            (
                &b64("xy-----BEGIN EC PRIVATE KEY-----\n")[..],
                SecretKind::PemBlock,
            ),
        ] {
            assert_eq!(classify(v), Some(kind), "{v}");
        }
        for v in ["password=$(DB_PASSWORD)", "kind: ConfigMap", "pwd is /home"] {
            assert_eq!(classify(v), None, "{v}");
        }
        assert!(is_credential_flag("--password") && is_credential_flag("-api-key"));
        assert!(!is_credential_flag("--password-file") && !is_credential_flag("--tokens=1"));
    }

    mod base64 {
        pub fn b64(s: &str) -> String {
            crate::encoding::base64_encode(s.as_bytes())
        }
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
}
