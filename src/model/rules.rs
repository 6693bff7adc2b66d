//! Small format rules shared by every model: Kubernetes names, commits, pinned images, quantities,
//! repo-relative paths. Pure functions, no I/O.

/// DNS-1123 label: lowercase alphanumerics and `-`, starts and ends alphanumeric, ≤ 63.
pub fn is_dns1123_label(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= 63
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
        && b[0] != b'-'
        && b[b.len() - 1] != b'-'
}

/// DNS-1123 subdomain: dot-separated labels, ≤ 253.
pub fn is_dns1123_subdomain(s: &str) -> bool {
    !s.is_empty() && s.len() <= 253 && s.split('.').all(is_dns1123_label)
}

/// IANA service name as Kubernetes port names use: ≤ 15, lowercase alnum and `-`, has a letter,
/// no `--`.
pub fn is_port_name(s: &str) -> bool {
    is_dns1123_label(s)
        && s.len() <= 15
        && !s.contains("--")
        && s.bytes().any(|c| c.is_ascii_lowercase())
}

/// C identifier-ish env var name as Kubernetes accepts (`[-._a-zA-Z][-._a-zA-Z0-9]*`).
pub fn is_env_name(s: &str) -> bool {
    let mut it = s.bytes();
    match it.next() {
        Some(c) if c.is_ascii_alphabetic() || c == b'_' || c == b'-' || c == b'.' => {}
        _ => return false,
    }
    s.len() <= 253 && it.all(|c| c.is_ascii_alphanumeric() || c == b'_' || c == b'-' || c == b'.')
}

/// ConfigMap/Secret data key: `[-._a-zA-Z0-9]+`, ≤ 253.
pub fn is_config_key(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 253
        && s.bytes()
            .all(|c| c.is_ascii_alphanumeric() || c == b'_' || c == b'-' || c == b'.')
}

/// Whether an image reference pinned by digest may also name a tag (`repo:tag@sha256:…`).
/// The digest decides what runs either way; where the reference is the lane's own record
/// (rendered manifests) it is exactly `<repository>@<digest>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TagPolicy {
    /// `repo:tag@sha256:…` is pinned too (tool images in generated Tasks and CI checks).
    Allowed,
    /// Only `repo@sha256:…` (rendered runtime manifests).
    Refused,
}

/// `<name>@sha256:<64 lowercase hex>`: an image pinned by digest. The name before the last
/// `@` is non-empty and has no whitespace; with [`TagPolicy::Refused`] it is a bare
/// repository (no tag in its last path component, no second `@`).
pub fn is_pinned(image: &str, tags: TagPolicy) -> bool {
    let Some((name, digest)) = image.rsplit_once('@') else {
        return false;
    };
    let bare = !name.contains('@') && !name.rsplit('/').next().unwrap_or("").contains(':');
    !name.is_empty()
        && !name.chars().any(char::is_whitespace)
        && super::digest::Digest::is_valid(digest)
        && (tags == TagPolicy::Allowed || bare)
}

/// `v<major>.<minor>` with small numbers, e.g. `v0.1`, `v1.12`.
pub fn is_lane_version(s: &str) -> bool {
    let Some(rest) = s.strip_prefix('v') else {
        return false;
    };
    let mut parts = rest.split('.');
    let ok = |p: Option<&str>| {
        p.is_some_and(|p| !p.is_empty() && p.len() <= 3 && p.bytes().all(|c| c.is_ascii_digit()))
    };
    ok(parts.next()) && ok(parts.next()) && parts.next().is_none()
}

/// Docker image tag: `[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`.
pub fn is_image_tag(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= 128
        && (b[0].is_ascii_alphanumeric() || b[0] == b'_')
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'-'))
}

/// Image repository path components: lowercase alnum separated by `.`, `_`, `__`, `-`, `/`.
pub fn is_repository_path(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 255
        && s.split('/').all(|c| {
            !c.is_empty()
                && c.bytes().all(|b| {
                    b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'_' | b'-')
                })
                && c.as_bytes()[0].is_ascii_alphanumeric()
                && c.as_bytes()[c.len() - 1].is_ascii_alphanumeric()
        })
}

/// Registry host: `host[:port]`, host a DNS name or IPv4 address that reads as a host the way
/// the registry client and containerd read a reference's first component: with a `.`, a port,
/// or `localhost`. (`agentrun/mgr` is pulled from Docker Hub's `agentrun` namespace, so
/// `agentrun` is no registry host.)
pub fn is_registry_host(s: &str) -> bool {
    let (host, port) = match s.rsplit_once(':') {
        Some((h, p)) => (h, Some(p)),
        None => (s, None),
    };
    // Digits only, no sign or leading zero: `+80` and `080` are not ports a registry URL uses.
    let port_ok = port.is_none_or(|p| {
        !p.is_empty()
            && p.len() <= 5
            && !p.starts_with('0')
            && p.bytes().all(|c| c.is_ascii_digit())
            && p.parse::<u16>().is_ok()
    });
    let host_ok = !host.is_empty()
        && host.len() <= 253
        && host.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && l.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'-')
                && !l.starts_with('-')
                && !l.ends_with('-')
        });
    let reads_as_host = host.contains('.') || port.is_some() || host == "localhost";
    port_ok && host_ok && reads_as_host
}

/// Kubernetes resource quantity (`100m`, `1.5`, `128Mi`, `1e3`, `2G`).
pub fn is_quantity(s: &str) -> bool {
    let num_end = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (num, suffix) = s.split_at(num_end);
    if num.is_empty() || num == "." || num.matches('.').count() > 1 || s.len() > 64 {
        return false;
    }
    matches!(
        suffix,
        "" | "m" | "k" | "M" | "G" | "T" | "P" | "E" | "Ki" | "Mi" | "Gi" | "Ti" | "Pi" | "Ei"
    ) || suffix.strip_prefix(['e', 'E']).is_some_and(|exp| {
        let digits = exp.strip_prefix(['+', '-']).unwrap_or(exp);
        !digits.is_empty() && digits.bytes().all(|c| c.is_ascii_digit())
    })
}

/// IPv4 CIDR block: dotted quad without leading zeros, prefix length 0-32 (digits only).
pub fn is_ipv4_cidr(s: &str) -> bool {
    let Some((ip, bits)) = s.split_once('/') else {
        return false;
    };
    let octets_ok = ip.split('.').count() == 4
        && ip.split('.').all(|o| {
            !o.is_empty()
                && o.len() <= 3
                && o.bytes().all(|c| c.is_ascii_digit())
                && (o == "0" || !o.starts_with('0'))
                && o.parse::<u16>().is_ok_and(|n| n <= 255)
        });
    let bits_ok = !bits.is_empty()
        && bits.len() <= 2
        && bits.bytes().all(|c| c.is_ascii_digit())
        && (bits == "0" || !bits.starts_with('0'))
        && bits.parse::<u8>().is_ok_and(|b| b <= 32);
    octets_ok && bits_ok
}

/// OCI/Docker media type, `type/subtype` in lowercase (`application/vnd.oci.image.index.v1+json`).
pub fn is_media_type(s: &str) -> bool {
    let ok = |p: &str| {
        !p.is_empty()
            && p.as_bytes()[0].is_ascii_alphanumeric()
            && p.bytes().all(|c| {
                c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, b'.' | b'+' | b'-')
            })
    };
    s.len() <= 255 && s.split_once('/').is_some_and(|(t, st)| ok(t) && ok(st))
}

/// Image platform `os/arch[/variant]`, e.g. `linux/amd64`, `linux/arm64/v8`.
pub fn is_platform(s: &str) -> bool {
    let parts: Vec<&str> = s.split('/').collect();
    let alnum = |p: &str| {
        !p.is_empty()
            && p.bytes()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
    };
    s.len() <= 64
        && (parts.len() == 2 || parts.len() == 3)
        && alnum(parts[0])
        && !parts[1].is_empty()
        && parts[1]
            .bytes()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'_')
        && parts.get(2).is_none_or(|v| alnum(v))
}

/// Fully qualified image repository, `host[:port]/path` (`docker.io/library/redis`), at most
/// 255 characters in all as distribution's reference grammar allows.
pub fn is_qualified_repository(s: &str) -> bool {
    s.len() <= 255
        && s.split_once('/')
            .is_some_and(|(host, path)| is_registry_host(host) && is_repository_path(path))
}

/// A git branch name as `git check-ref-format --branch` would accept it (conservatively).
pub fn is_branch_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 200
        && !s.starts_with(['-', '/', '.'])
        && !s.ends_with(['/', '.'])
        && !s.ends_with(".lock")
        && !s.contains("..")
        && !s.contains("//")
        && !s.contains("@{")
        && s.chars()
            .all(|c| !c.is_control() && !" ~^:?*[\\".contains(c))
}

/// Problems with a repo-relative path, or `None` when it is fine. Symlinks are checked
/// against the filesystem separately (they need a checkout).
pub fn repo_path_problem(s: &str) -> Option<&'static str> {
    if s.is_empty() {
        return Some("path is empty");
    }
    if s.starts_with('/') || s.starts_with('\\') || s.as_bytes().get(1) == Some(&b':') {
        return Some("path must be repo-relative, not absolute");
    }
    if s.contains('\\') {
        return Some("use '/' as the path separator");
    }
    if s.split('/').any(|c| c == "..") {
        return Some("path must stay inside the repository ('..' is not allowed)");
    }
    if s.chars().any(|c| c.is_control()) {
        return Some("path contains control characters");
    }
    if s.len() > 1024 {
        return Some("path is longer than 1024 characters");
    }
    None
}

/// Problems of a path lane writes on the GitOps branch (catalog file, runtime directory),
/// after [`repo_path_problem`] passed: it must be written one way only (no `.` component,
/// no empty component from `//` or a trailing `/`) and stay out of git's own `.git`.
pub fn gitops_path_problem(s: &str) -> Option<&'static str> {
    let parts = || s.split('/');
    if parts().any(|c| c.is_empty() || c == ".") {
        return Some("write the path in its one canonical form: no '.' component, no '//', no leading or trailing '/'");
    }
    if parts().any(|c| c.eq_ignore_ascii_case(".git")) {
        return Some("a path inside '.git' is git's own data, never part of the GitOps tree");
    }
    None
}

/// Longest string any deploy.json or catalog field takes (deploy/deploy.schema.json
/// `$defs/text`); fields with a format have tighter limits. Characters, as JSON Schema's
/// `maxLength` counts them.
pub const MAX_TEXT_CHARS: usize = 4096;

/// The first character no value may hold: NUL, C0 controls other than tab, newline and
/// carriage return, DEL, every C1 control, and the non-characters U+FFFE and U+FFFF. Linux
/// cannot pass NUL in an env var or an argument; YAML forbids DEL and C1 raw (render would
/// have to refuse them); NEL (U+0085), a YAML 1.1 line break, comes out of `kubectl kustomize`
/// as a space however it is escaped; and kustomize refuses U+FFFE/U+FFFF outright ("control
/// characters are not allowed"), so Argo CD could never sync them. LS and PS (U+2028/2029)
/// do round-trip: render escapes them.
pub fn forbidden_char(s: &str) -> Option<char> {
    s.chars().find(|&c| {
        matches!(c, '\0'..='\u{8}' | '\u{b}' | '\u{c}' | '\u{e}'..='\u{1f}' | '\u{7f}'..='\u{9f}' | '\u{fffe}' | '\u{ffff}')
    })
}

/// Normalise `./a//b/` to `a/b` (and `.` to ``) after [`repo_path_problem`] passed.
pub fn normalize_repo_path(s: &str) -> String {
    s.split('/')
        .filter(|c| !c.is_empty() && *c != ".")
        .collect::<Vec<_>>()
        .join("/")
}

/// RFC 3339 UTC timestamp with a `Z` suffix (`2026-01-02T03:04:05Z`, fraction allowed).
pub fn is_timestamp(s: &str) -> bool {
    timestamp_key(s).is_some()
}

/// A timestamp as (whole seconds since 0000-03-01, fraction digits) for ordering, or `None`
/// when [`is_timestamp`] would refuse it: the shape, and a date and time that exist (no
/// month 13, February 30 or hour 24; a leap second `:60` is refused like Kubernetes does).
pub fn timestamp_key(s: &str) -> Option<(i64, String)> {
    let b = s.as_bytes();
    if b.len() < 20 || b[b.len() - 1] != b'Z' {
        return None;
    }
    let d = |r: std::ops::Range<usize>| b[r].iter().all(|c| c.is_ascii_digit());
    let shape = d(0..4)
        && b[4] == b'-'
        && d(5..7)
        && b[7] == b'-'
        && d(8..10)
        && b[10] == b'T'
        && d(11..13)
        && b[13] == b':'
        && d(14..16)
        && b[16] == b':'
        && d(17..19)
        && (b.len() == 20 || (b[19] == b'.' && b.len() > 21 && d(20..b.len() - 1)));
    if !shape {
        return None;
    }
    let n = |r: std::ops::Range<usize>| s[r].parse::<i64>().unwrap_or(-1);
    let (y, mo, day, h, mi, sec) = (n(0..4), n(5..7), n(8..10), n(11..13), n(14..16), n(17..19));
    let leap = y % 4 == 0 && (y % 100 != 0 || y % 400 == 0);
    let days_in_month = match mo {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return None,
    };
    if !(1..=days_in_month).contains(&day) || h > 23 || mi > 59 || sec > 59 {
        return None;
    }
    // Days from a civil date (the inverse of format_rfc3339's algorithm).
    let (yy, mm) = if mo <= 2 {
        (y - 1, mo + 9)
    } else {
        (y, mo - 3)
    };
    let days = 365 * yy + yy / 4 - yy / 100 + yy / 400 + (153 * mm + 2) / 5 + day - 1;
    let frac = s[19..s.len() - 1]
        .trim_start_matches('.')
        .trim_end_matches('0');
    Some((days * 86_400 + h * 3600 + mi * 60 + sec, frac.to_string()))
}

/// Current time in seconds since the epoch. `SOURCE_DATE_EPOCH` pins it for reproducible runs.
pub fn now_unix() -> i64 {
    std::env::var("SOURCE_DATE_EPOCH")
        .ok()
        .and_then(|v| v.parse::<i64>().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs() as i64)
                .unwrap_or(0)
        })
}

/// Current time as RFC 3339 UTC (seconds), pinned like [`now_unix`].
pub fn now_rfc3339() -> String {
    format_rfc3339(now_unix())
}

/// Unix seconds → `YYYY-MM-DDTHH:MM:SSZ` (civil-from-days, proleptic Gregorian).
pub fn format_rfc3339(secs: i64) -> String {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = if m <= 2 { y + 1 } else { y };
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pinned_images() {
        let d = format!("sha256:{}", "a".repeat(64));
        for tags in [TagPolicy::Allowed, TagPolicy::Refused] {
            assert!(is_pinned(&format!("127.0.0.1:5000/agentrun/mgr@{d}"), tags));
            assert!(!is_pinned("127.0.0.1:5000/agentrun/mgr:latest", tags));
            assert!(!is_pinned("quay.io/buildah/stable:v1.39.0", tags));
            assert!(!is_pinned("repo@sha256:abc", tags));
            assert!(!is_pinned(&format!("@{d}"), tags));
            assert!(!is_pinned(&format!("x@sha256:{}", "A".repeat(64)), tags));
            assert!(!is_pinned(&format!("x@sha256:{}", "a".repeat(63)), tags));
            assert!(!is_pinned(&format!("x y@{d}"), tags));
        }
        // A tag next to the digest: accepted where tags are allowed, never in a manifest.
        let tagged = format!("quay.io/buildah/stable:v1.39.0@{d}");
        assert!(is_pinned(&tagged, TagPolicy::Allowed));
        assert!(!is_pinned(&tagged, TagPolicy::Refused));
        assert!(is_pinned(&format!("a@b@{d}"), TagPolicy::Allowed));
        assert!(!is_pinned(&format!("a@b@{d}"), TagPolicy::Refused));
    }

    #[test]
    fn names() {
        assert!(is_dns1123_label("agentrun-v01"));
        assert!(!is_dns1123_label("agentrun_dev"));
        assert!(!is_dns1123_label("-a"));
        assert!(!is_dns1123_label(&"a".repeat(64)));
        assert!(is_port_name("http"));
        assert!(!is_port_name("1234"));
        assert!(!is_port_name("a-very-long-port-name"));
    }

    #[test]
    fn quantities() {
        for q in ["100m", "1", "0.5", "128Mi", "2Gi", "1e3", "1.5G"] {
            assert!(is_quantity(q), "{q}");
        }
        for q in [
            "", "abc", "1.2.3", "10mb", "-1", "Mi", "1e", "1e+", "1E-", ".",
        ] {
            assert!(!is_quantity(q), "{q}");
        }
    }

    #[test]
    fn hosts_and_cidrs() {
        assert!(is_registry_host("127.0.0.1:5000"));
        assert!(is_registry_host("registry.example.com"));
        for h in [
            "127.0.0.1:+5000",
            "127.0.0.1:05000",
            "127.0.0.1:0",
            "h:70000",
            "h:",
            "-h",
            // No `.`, port or `localhost`: a Docker Hub namespace, not a host.
            "agentrun",
        ] {
            assert!(!is_registry_host(h), "{h}");
        }
        assert!(is_registry_host("localhost") && is_registry_host("registry:5000"));
        assert!(is_ipv4_cidr("10.43.0.0/16"));
        assert!(is_ipv4_cidr("0.0.0.0/0"));
        for c in [
            "10.0.0.0/33",
            "10.0.0.0/+8",
            "10.0.0.0/08",
            "010.0.0.0/8",
            "10.0.0/8",
            "10.0.0.256/8",
            "10.0.0.0",
        ] {
            assert!(!is_ipv4_cidr(c), "{c}");
        }
        assert!(is_qualified_repository("docker.io/library/redis"));
        assert!(!is_qualified_repository("redis"));
        // A first component without `.`, `:` or `localhost` is a Docker Hub namespace.
        assert!(!is_qualified_repository("agentrun/mgr"));
        assert!(is_qualified_repository("localhost/agentrun/mgr"));
        assert!(is_media_type("application/vnd.oci.image.index.v1+json"));
        assert!(!is_media_type("Application/JSON"));
        assert!(is_platform("linux/arm64/v8") && is_platform("linux/amd64"));
        assert!(!is_platform("linux"));
    }

    #[test]
    fn branches() {
        assert!(is_branch_name("v0.1-gitops"));
        for b in ["", "-x", "a..b", "a.lock", "a b", "a:b", "x/", "@{u}"] {
            assert!(!is_branch_name(b), "{b}");
        }
    }

    #[test]
    fn paths() {
        assert!(repo_path_problem("services/mgr").is_none());
        assert!(repo_path_problem("../x").is_some());
        assert!(repo_path_problem("/etc").is_some());
        assert!(repo_path_problem("a/../../b").is_some());
        assert_eq!(normalize_repo_path("./a//b/"), "a/b");
    }

    #[test]
    fn time() {
        assert_eq!(format_rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(format_rfc3339(1_700_000_000), "2023-11-14T22:13:20Z");
        assert!(is_timestamp("2026-11-22T10:00:00Z"));
        assert!(is_timestamp("2026-11-22T10:00:00.123Z"));
        assert!(!is_timestamp("2026-11-22 10:00:00"));
    }

    #[test]
    fn versions() {
        assert!(is_lane_version("v0.1"));
        assert!(is_lane_version("v1.12"));
        assert!(!is_lane_version("0.1"));
        assert!(!is_lane_version("v0.1.2"));
        assert!(!is_lane_version("v0."));
    }
}
