//! A git remote that can only be built valid: it can never be read as an option by git and
//! it names only a transport a lane uses.
//!
//! Remotes come from deploy.json (`lane.sourceRepo`, `lane.gitopsRepo`) and from flags
//! (`--gitops-remote`); both are untrusted. git itself would run `--upload-pack=<cmd>` or an
//! `ext::<cmd>` remote, so every remote is parsed here before any process starts, and the git
//! CLI wrapper ([`super::cli`]) additionally puts `--` before it and sets git's own protocol
//! allow-list (`GIT_ALLOW_PROTOCOL`). docs/security.md lists the rules and their tests.

use std::fmt;

/// Longest remote accepted (deploy.json's schema says the same).
pub const MAX_REMOTE_LEN: usize = 512;

/// The transports git may use when lane runs it (`GIT_ALLOW_PROTOCOL`). `http` is here only
/// because loopback `http://` remotes are accepted (see [`Transport::Http`]); `ext` and `fd`
/// are never allowed.
pub const GIT_ALLOW_PROTOCOL: &str = "file:git:http:https:ssh";

/// How git reaches a remote.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Transport {
    Https,
    /// Plain `http://`: only to a loopback host (a test server or a port-forward); anything
    /// else would send credentials in clear.
    Http,
    /// `ssh://…` or scp-style `[user@]host:path`.
    Ssh,
    /// `git://` (git daemon).
    Git,
    /// `file://…` or a local path: tests and local mirrors.
    File,
}

/// A validated git remote (URL, scp-style address or local path).
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Remote {
    url: String,
    transport: Transport,
}

/// Why a remote was refused. The message never repeats the remote itself: it may carry
/// credentials.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RemoteError {
    #[error("the git remote is empty")]
    Empty,
    #[error("the git remote is longer than {MAX_REMOTE_LEN} bytes")]
    TooLong,
    #[error("the git remote contains whitespace or a control character")]
    Whitespace,
    #[error("the git remote starts with '-', which git would read as an option")]
    OptionShaped,
    #[error("the git remote uses the transport helper syntax '<helper>::' ({0}::), which runs a program; only https, ssh, git and file remotes are allowed")]
    TransportHelper(String),
    #[error("the git remote's scheme '{0}' is not allowed; only https, ssh, git and file remotes are (http only to a loopback host)")]
    Scheme(String),
    #[error("the git remote's host is missing or starts with '-'")]
    Host,
    #[error("plain http sends credentials in clear: use https (http is accepted only for a loopback host)")]
    InsecureHttp,
}

impl Remote {
    pub fn parse(s: &str) -> Result<Remote, RemoteError> {
        if s.is_empty() {
            return Err(RemoteError::Empty);
        }
        if s.len() > MAX_REMOTE_LEN {
            return Err(RemoteError::TooLong);
        }
        if s.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(RemoteError::Whitespace);
        }
        if s.starts_with('-') {
            return Err(RemoteError::OptionShaped);
        }
        let transport = if let Some((scheme, rest)) = s.split_once("://") {
            url_transport(scheme, rest)?
        } else if let Some(helper) = transport_helper(s) {
            return Err(RemoteError::TransportHelper(helper.to_string()));
        } else if let Some(host) = scp_host(s) {
            // scp-style `[user@]host:path`: ssh gets `host` on its command line.
            let host = host.rsplit_once('@').map_or(host, |(_, h)| h);
            if host.is_empty() || host.starts_with('-') {
                return Err(RemoteError::Host);
            }
            Transport::Ssh
        } else {
            Transport::File
        };
        Ok(Remote {
            url: s.to_string(),
            transport,
        })
    }

    /// [`Remote::parse`], with the error naming where the value came from (a flag such as
    /// `--gitops-remote`, or a deploy.json field).
    pub fn parse_named(what: &str, s: &str) -> Result<Remote, super::GitError> {
        Remote::parse(s).map_err(|source| super::GitError::Remote {
            what: what.to_string(),
            source,
        })
    }

    pub fn as_str(&self) -> &str {
        &self.url
    }

    pub fn transport(&self) -> Transport {
        self.transport
    }

    /// The remote with any `user:password@` removed, for messages and reports.
    pub fn redacted(&self) -> String {
        redact_userinfo(&self.url)
    }
}

impl fmt::Debug for Remote {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Remote({})", self.redacted())
    }
}

/// Displays redacted: a remote printed anywhere never shows its credentials.
impl fmt::Display for Remote {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted())
    }
}

impl std::str::FromStr for Remote {
    type Err = RemoteError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Remote::parse(s)
    }
}

impl AsRef<std::ffi::OsStr> for Remote {
    fn as_ref(&self) -> &std::ffi::OsStr {
        self.url.as_ref()
    }
}

fn url_transport(scheme: &str, rest: &str) -> Result<Transport, RemoteError> {
    let t = match scheme.to_ascii_lowercase().as_str() {
        "https" => Transport::Https,
        "http" => Transport::Http,
        "ssh" | "git+ssh" | "ssh+git" => Transport::Ssh,
        "git" => Transport::Git,
        "file" => return Ok(Transport::File),
        other => {
            return Err(if other.contains("::") || other.contains(':') {
                RemoteError::TransportHelper(other.split("::").next().unwrap_or("").into())
            } else {
                RemoteError::Scheme(other.to_string())
            })
        }
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let host = host_of(host_port);
    if host.is_empty() || host.starts_with('-') {
        return Err(RemoteError::Host);
    }
    if t == Transport::Http && !is_loopback(host) {
        return Err(RemoteError::InsecureHttp);
    }
    Ok(t)
}

/// `host` of `host[:port]` or `[v6]:port`.
fn host_of(host_port: &str) -> &str {
    if let Some(v6) = host_port.strip_prefix('[') {
        return v6.split(']').next().unwrap_or("");
    }
    host_port.split(':').next().unwrap_or("")
}

fn is_loopback(host: &str) -> bool {
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// git's `<transport>::<address>` form (`ext::…`, `fd::…`, any remote helper): the helper
/// name is everything before `::` when it holds no `/` or `:`-separated path first.
fn transport_helper(s: &str) -> Option<&str> {
    let (helper, _) = s.split_once("::")?;
    (!helper.contains('/')).then_some(helper)
}

/// The `[user@]host` of an scp-style address: a `:` before any `/` (git's own rule, so
/// `./a:b` and `/a:b` stay local paths).
fn scp_host(s: &str) -> Option<&str> {
    let colon = s.find(':')?;
    match s.find('/') {
        Some(slash) if slash < colon => None,
        _ => Some(&s[..colon]),
    }
}

/// `scheme://user:pass@host/…` → `scheme://***@host/…`; anything else unchanged.
pub fn redact_userinfo(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    match rest[..end].rfind('@') {
        Some(at) => format!("{scheme}://***@{}", &rest[at + 1..]),
        None => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_the_transports_a_lane_uses() {
        for (s, t) in [
            ("https://github.com/o/r.git", Transport::Https),
            ("https://bot:tok@github.com/o/r.git", Transport::Https),
            ("ssh://git@github.com:22/o/r.git", Transport::Ssh),
            ("git@github.com:pikasTech/agentrun.git", Transport::Ssh),
            ("github.com:o/r", Transport::Ssh),
            ("git://127.0.0.1:9418/r.git", Transport::Git),
            ("file:///tmp/r.git", Transport::File),
            ("/tmp/r.git", Transport::File),
            ("./r.git", Transport::File),
            ("/tmp/a:b", Transport::File),
            ("http://127.0.0.1:8080/r.git", Transport::Http),
            ("http://[::1]:8080/r.git", Transport::Http),
            ("http://localhost/r.git", Transport::Http),
        ] {
            assert_eq!(Remote::parse(s).map(|r| r.transport()), Ok(t), "{s}");
        }
    }

    #[test]
    fn refuses_option_shaped_helpers_and_unknown_schemes() {
        for (s, e) in [
            (
                "--upload-pack=touch${IFS}/tmp/x;false",
                RemoteError::OptionShaped,
            ),
            ("-oProxyCommand=x", RemoteError::OptionShaped),
            ("ext::sh -c touch% /tmp/x", RemoteError::Whitespace),
            (
                "ext::sh%-c%touch",
                RemoteError::TransportHelper("ext".into()),
            ),
            ("fd::3", RemoteError::TransportHelper("fd".into())),
            (
                "foo::https://h/r",
                RemoteError::TransportHelper("foo".into()),
            ),
            ("ftp://h/r", RemoteError::Scheme("ftp".into())),
            ("ssh://-oProxyCommand=x/r", RemoteError::Host),
            ("-oProxyCommand=x:r", RemoteError::OptionShaped),
            ("git@-oProxyCommand=x:r", RemoteError::Host),
            ("https:///r", RemoteError::Host),
            ("http://github.com/o/r", RemoteError::InsecureHttp),
            ("http://u:p@10.0.0.1/r", RemoteError::InsecureHttp),
            ("", RemoteError::Empty),
            ("a\tb", RemoteError::Whitespace),
        ] {
            assert_eq!(Remote::parse(s).err(), Some(e), "{s}");
        }
        assert_eq!(
            Remote::parse(&"a".repeat(MAX_REMOTE_LEN + 1)).err(),
            Some(RemoteError::TooLong)
        );
    }

    #[test]
    fn errors_and_display_never_show_credentials() {
        let r = Remote::parse("https://bot:s3cret@h.example/o/r.git").unwrap();
        assert_eq!(r.to_string(), "https://***@h.example/o/r.git");
        assert!(!format!("{r:?}").contains("s3cret"));
        let e = Remote::parse("http://bot:s3cret@h.example/r").unwrap_err();
        assert!(!e.to_string().contains("s3cret"));
        assert_eq!(redact_userinfo("git@h:o/r"), "git@h:o/r");
    }
}
