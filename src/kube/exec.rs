//! Exec credential plugins (`users[].user.exec` in a kubeconfig), as kubectl runs them: the
//! plugin is started directly (no shell) with the kubeconfig's `command`, `args` and `env`
//! plus `KUBERNETES_EXEC_INFO`, never interactively (stdin is empty), and prints an
//! `ExecCredential` whose `status` holds a bearer token and/or a client certificate and key.
//! The credential is cached for the process until its `expirationTimestamp` (or, without
//! one, until the API server refuses it).
//!
//! The plugin is the kubeconfig's choice, like kubectl: `args` are its own flags and are
//! passed as they are; only the command itself must not look like an option. Its output is
//! bounded, it has [`TIMEOUT`] to answer, and neither its output nor the token ever reaches
//! lane's output: a failure reports the exit status and the plugin's stderr, scrubbed.

use std::collections::HashMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde::Deserialize;
use serde_json::json;

use super::KubeError;
use crate::redact;

/// The versions of the exec protocol lane speaks.
const API_V1: &str = "client.authentication.k8s.io/v1";
const API_V1BETA1: &str = "client.authentication.k8s.io/v1beta1";

/// Bytes of the plugin's stdout (its ExecCredential) and stderr kept at most.
const MAX_STDOUT: u64 = 1024 * 1024;
const MAX_STDERR: u64 = 64 * 1024;
/// How long the plugin may take.
pub const TIMEOUT: Duration = Duration::from_secs(120);
/// A credential this close to its expiry is fetched again.
const EXPIRY_MARGIN: Duration = Duration::from_secs(10);
/// Arguments and environment entries of a plugin at most.
const MAX_ARGS: usize = 256;

/// `users[].user.exec` of a kubeconfig.
#[derive(Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExecConfig {
    api_version: String,
    command: String,
    #[serde(default)]
    args: Option<Vec<String>>,
    #[serde(default)]
    env: Option<Vec<EnvVar>>,
    #[serde(default)]
    install_hint: Option<String>,
    #[serde(default)]
    provide_cluster_info: bool,
    #[serde(default)]
    interactive_mode: Option<String>,
}

#[derive(Clone, Deserialize)]
struct EnvVar {
    name: String,
    value: String,
}

/// What a plugin gave: a bearer token, a client identity (certificate chain and key, PEM), or
/// both.
#[derive(Clone)]
pub struct ExecCredential {
    pub token: Option<String>,
    pub identity_pem: Option<Vec<u8>>,
}

impl std::fmt::Debug for ExecCredential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ExecCredential(<redacted>)")
    }
}

#[derive(Clone)]
struct Cached {
    credential: ExecCredential,
    expires: Option<SystemTime>,
}

impl Cached {
    fn fresh(&self) -> bool {
        match self.expires {
            None => true,
            Some(t) => SystemTime::now() + EXPIRY_MARGIN < t,
        }
    }
}

/// Credentials by plugin invocation, for the whole process: a command that resolves the
/// kubeconfig again (`status --watch`) reuses an unexpired one.
static CACHE: Mutex<Option<HashMap<String, Cached>>> = Mutex::new(None);

/// One user's exec plugin, ready to run.
pub struct ExecAuth {
    user: String,
    /// Where the user is defined (for errors).
    origin: String,
    config: ExecConfig,
    command: PathBuf,
    exec_info: String,
    key: String,
}

impl std::fmt::Debug for ExecAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExecAuth")
            .field("user", &self.user)
            .field("command", &self.command)
            .finish_non_exhaustive()
    }
}

impl ExecAuth {
    /// Check the plugin's configuration; `base` is the kubeconfig's directory (a relative
    /// command with a `/` is relative to it, a bare name is looked up on PATH).
    pub fn new(
        user: &str,
        config: ExecConfig,
        file: &Path,
        base: &Path,
        server: &str,
        ca_data: Option<&str>,
    ) -> Result<ExecAuth, KubeError> {
        let origin = file.display().to_string();
        let err = |message: String| KubeError::Config {
            origin: origin.clone(),
            message: format!("user '{user}': exec: {message}"),
        };
        if config.api_version != API_V1 && config.api_version != API_V1BETA1 {
            return Err(err(format!(
                "apiVersion '{}' is not {API_V1} (or {API_V1BETA1})",
                config.api_version
            )));
        }
        match config.interactive_mode.as_deref() {
            None if config.api_version == API_V1 => {
                return Err(err(format!(
                    "interactiveMode must be set with {API_V1} (Never or IfAvailable: lane never \
                     runs a plugin interactively)"
                )))
            }
            None | Some("Never") | Some("IfAvailable") => {}
            Some("Always") => {
                return Err(err(
                    "interactiveMode is Always, but lane never runs a plugin with a terminal; \
                     use a plugin or flags that need no prompt"
                        .into(),
                ))
            }
            Some(other) => {
                return Err(err(format!(
                    "interactiveMode '{other}' is not Never, IfAvailable or Always"
                )))
            }
        }
        let c = config.command.as_str();
        if c.trim().is_empty() {
            return Err(err("command is empty".into()));
        }
        if c.starts_with('-') {
            return Err(err(format!(
                "command '{c}' starts with '-': it would be read as an option"
            )));
        }
        if c.contains('\0') {
            return Err(err("command contains a NUL byte".into()));
        }
        let args = config.args.as_deref().unwrap_or_default();
        let env = config.env.as_deref().unwrap_or_default();
        if args.len() > MAX_ARGS || env.len() > MAX_ARGS {
            return Err(err(format!("more than {MAX_ARGS} args or env entries")));
        }
        if args.iter().any(|a| a.contains('\0')) {
            return Err(err("an argument contains a NUL byte".into()));
        }
        for e in env {
            if e.name.is_empty() || e.name.contains(['=', '\0']) || e.value.contains('\0') {
                return Err(err(format!(
                    "env name '{}' is not a variable name (or its value holds a NUL byte)",
                    e.name
                )));
            }
        }
        let path = Path::new(c);
        let command = if path.is_relative() && c.contains('/') {
            base.join(path)
        } else {
            path.to_path_buf()
        };
        let mut spec = json!({"interactive": false});
        if config.provide_cluster_info {
            let mut cluster = json!({"server": server});
            if let Some(ca) = ca_data {
                cluster["certificate-authority-data"] = json!(ca);
            }
            spec["cluster"] = cluster;
        }
        let exec_info = json!({
            "apiVersion": config.api_version,
            "kind": "ExecCredential",
            "spec": spec,
        })
        .to_string();
        let key = json!({
            "command": command,
            "args": args,
            "env": env.iter().map(|e| [&e.name, &e.value]).collect::<Vec<_>>(),
            "info": exec_info,
        })
        .to_string();
        Ok(ExecAuth {
            user: user.to_string(),
            origin,
            config,
            command,
            exec_info,
            key,
        })
    }

    /// The credential: cached while it has not expired, else from a new run of the plugin.
    pub fn credential(&self) -> Result<ExecCredential, KubeError> {
        let mut cache = CACHE.lock().unwrap_or_else(|e| e.into_inner());
        let map = cache.get_or_insert_with(HashMap::new);
        if let Some(c) = map.get(&self.key).filter(|c| c.fresh()) {
            return Ok(c.credential.clone());
        }
        let cached = self.run()?;
        map.insert(self.key.clone(), cached.clone());
        Ok(cached.credential)
    }

    /// The cached token, if any (to scrub it from error messages).
    pub fn cached_token(&self) -> Option<String> {
        let cache = CACHE.lock().unwrap_or_else(|e| e.into_inner());
        cache
            .as_ref()?
            .get(&self.key)
            .and_then(|c| c.credential.token.clone())
    }

    /// Forget the cached credential (the API server refused it).
    pub fn invalidate(&self) {
        let mut cache = CACHE.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(map) = cache.as_mut() {
            map.remove(&self.key);
        }
    }

    fn fail(&self, message: String, hint: Option<String>) -> KubeError {
        KubeError::Exec {
            origin: self.origin.clone(),
            message: format!(
                "user '{}': exec plugin '{}': {message}",
                self.user,
                self.command.display()
            ),
            hint,
        }
    }

    fn run(&self) -> Result<Cached, KubeError> {
        crate::output::progress(format!(
            "running the exec credential plugin {} for user '{}'",
            self.command.display(),
            self.user
        ));
        let mut cmd = Command::new(&self.command);
        cmd.args(self.config.args.as_deref().unwrap_or_default())
            .env("KUBERNETES_EXEC_INFO", &self.exec_info)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for e in self.config.env.as_deref().unwrap_or_default() {
            cmd.env(&e.name, &e.value);
        }
        let mut child = cmd.spawn().map_err(|e| {
            let hint = if e.kind() == std::io::ErrorKind::NotFound {
                Some(
                    self.config
                        .install_hint
                        .clone()
                        .filter(|h| !h.trim().is_empty())
                        .map(|h| {
                            redact::scrub(&h.trim().chars().take(500).collect::<String>(), &[])
                        })
                        .unwrap_or_else(|| {
                            "install the plugin the kubeconfig names, or put it on PATH".into()
                        }),
                )
            } else {
                None
            };
            self.fail(format!("cannot start it: {e}"), hint)
        })?;
        let out = child.stdout.take().map(|s| reader(s, MAX_STDOUT));
        let err = child.stderr.take().map(|s| reader(s, MAX_STDERR));
        let start = Instant::now();
        let status = loop {
            match child.try_wait() {
                Ok(Some(s)) => break s,
                Ok(None) if start.elapsed() > TIMEOUT => {
                    let _ = child.kill();
                    let _ = child.wait();
                    return Err(self.fail(
                        format!("gave no answer within {} s", TIMEOUT.as_secs()),
                        Some("check that the plugin needs no prompt (lane runs it without a terminal)".into()),
                    ));
                }
                Ok(None) => std::thread::sleep(Duration::from_millis(10)),
                Err(e) => return Err(self.fail(format!("cannot wait for it: {e}"), None)),
            }
        };
        let (stdout, out_over) = out
            .map(|h| h.join().unwrap_or_default())
            .unwrap_or_default();
        let (stderr, _) = err
            .map(|h| h.join().unwrap_or_default())
            .unwrap_or_default();
        if !status.success() {
            let tail = stderr_tail(&stderr);
            return Err(self.fail(
                format!(
                    "it failed ({status}){}",
                    if tail.is_empty() {
                        String::new()
                    } else {
                        format!(": {tail}")
                    }
                ),
                None,
            ));
        }
        if out_over {
            return Err(self.fail(format!("it printed more than {MAX_STDOUT} bytes"), None));
        }
        self.parse(&stdout)
    }

    /// The plugin's ExecCredential. Messages name fields and rules, never values: the output
    /// holds the credential.
    fn parse(&self, stdout: &[u8]) -> Result<Cached, KubeError> {
        let bad = |why: String| {
            self.fail(
                format!("it did not print a valid ExecCredential: {why}"),
                None,
            )
        };
        let doc: RawCredential = serde_json::from_slice(stdout).map_err(|e| {
            bad(match e.classify() {
                serde_json::error::Category::Data => {
                    format!(
                        "a field has the wrong type (line {}, column {})",
                        e.line(),
                        e.column()
                    )
                }
                _ => format!("not JSON (line {}, column {})", e.line(), e.column()),
            })
        })?;
        if doc.kind.as_deref() != Some("ExecCredential") {
            return Err(bad("kind is not ExecCredential".into()));
        }
        if doc.api_version.as_deref() != Some(self.config.api_version.as_str()) {
            return Err(bad(format!(
                "apiVersion is not {} (the version the kubeconfig asked for)",
                self.config.api_version
            )));
        }
        let status = doc.status.ok_or_else(|| bad("it has no status".into()))?;
        let token = status.token.filter(|t| !t.trim().is_empty());
        let identity_pem = match (status.client_certificate_data, status.client_key_data) {
            (Some(c), Some(k)) if !c.is_empty() && !k.is_empty() => {
                Some(super::config::join_pem(c.into_bytes(), k.as_bytes()))
            }
            (None, None) => None,
            _ => {
                return Err(bad(
                    "status has a client certificate or key but not both".into()
                ))
            }
        };
        if token.is_none() && identity_pem.is_none() {
            return Err(bad(
                "status has neither a token nor a client certificate and key".into(),
            ));
        }
        let expires =
            match status.expiration_timestamp {
                None => None,
                Some(t) => Some(parse_rfc3339(&t).ok_or_else(|| {
                    bad("status.expirationTimestamp is not an RFC 3339 time".into())
                })?),
            };
        Ok(Cached {
            credential: ExecCredential {
                token: token.map(|t| t.trim().to_string()),
                identity_pem,
            },
            expires,
        })
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawCredential {
    #[serde(default)]
    api_version: Option<String>,
    #[serde(default)]
    kind: Option<String>,
    #[serde(default)]
    status: Option<RawStatus>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawStatus {
    #[serde(default)]
    token: Option<String>,
    #[serde(default)]
    client_certificate_data: Option<String>,
    #[serde(default)]
    client_key_data: Option<String>,
    #[serde(default)]
    expiration_timestamp: Option<String>,
}

/// Read at most `limit` bytes on a thread (draining the rest so the plugin never blocks on a
/// full pipe); the flag says whether there was more.
fn reader(
    mut r: impl Read + Send + 'static,
    limit: u64,
) -> std::thread::JoinHandle<(Vec<u8>, bool)> {
    std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = (&mut r).take(limit).read_to_end(&mut buf);
        let over = std::io::copy(&mut r, &mut std::io::sink()).unwrap_or(0) > 0;
        (buf, over)
    })
}

/// The last lines of the plugin's stderr (at most 500 characters), scrubbed of anything that
/// looks like a credential.
fn stderr_tail(stderr: &[u8]) -> String {
    let text = String::from_utf8_lossy(stderr);
    let lines: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    let tail = lines[lines.len().saturating_sub(5)..].join(" / ");
    let tail: String = if tail.chars().count() > 500 {
        let skip = tail.chars().count() - 500;
        format!("…{}", tail.chars().skip(skip).collect::<String>())
    } else {
        tail
    };
    redact::scrub(&tail, &[])
}

/// `2026-11-30T05:00:00Z`, `…T05:00:00.123+01:00`: an RFC 3339 time.
pub fn parse_rfc3339(s: &str) -> Option<SystemTime> {
    let b = s.as_bytes();
    if b.len() < 20 {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let part = s.get(r)?;
        if !part.bytes().all(|c| c.is_ascii_digit()) {
            return None;
        }
        part.parse().ok()
    };
    let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hour, min, sec) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if b[4] != b'-'
        || b[7] != b'-'
        || !matches!(b[10], b'T' | b't' | b' ')
        || b[13] != b':'
        || b[16] != b':'
    {
        return None;
    }
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || hour > 23 || min > 59 || sec > 60 {
        return None;
    }
    let mut i = 19;
    let mut nanos = 0u32;
    if b.get(i) == Some(&b'.') {
        i += 1;
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        let frac = s.get(start..i)?;
        if frac.is_empty() {
            return None;
        }
        let padded: String = frac.chars().chain(std::iter::repeat('0')).take(9).collect();
        nanos = padded.parse().ok()?;
    }
    let offset = match s.get(i..)? {
        "Z" | "z" => 0,
        rest if rest.len() == 6
            && matches!(rest.as_bytes()[0], b'+' | b'-')
            && rest.as_bytes()[3] == b':' =>
        {
            let h = num(i + 1..i + 3)?;
            let m = num(i + 4..i + 6)?;
            if h > 23 || m > 59 {
                return None;
            }
            let o = h * 3600 + m * 60;
            if rest.starts_with('-') {
                -o
            } else {
                o
            }
        }
        _ => return None,
    };
    let days = days_from_civil(year, month, day);
    let secs = days * 86400 + hour * 3600 + min * 60 + sec.min(59) - offset;
    let secs = u64::try_from(secs).ok()?;
    Some(UNIX_EPOCH + Duration::new(secs, nanos))
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146097 + doe - 719468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_times() {
        let t =
            |s: &str| parse_rfc3339(s).map(|t| t.duration_since(UNIX_EPOCH).unwrap().as_secs_f64());
        assert_eq!(t("1970-01-01T00:00:00Z"), Some(0.0));
        assert_eq!(t("2000-03-01T00:00:00Z"), Some(951868800.0));
        assert_eq!(t("2026-11-30T05:00:00Z"), Some(1796014800.0));
        assert_eq!(t("2026-11-30T06:00:00+01:00"), Some(1796014800.0));
        assert_eq!(t("2026-11-30T04:30:00-00:30"), Some(1796014800.0));
        assert_eq!(t("2026-11-30T05:00:00.5Z"), Some(1796014800.5));
        for bad in [
            "2026-11-30",
            "2026-11-30T05:00:00",
            "2026-13-01T00:00:00Z",
            "2026-11-30T05:00:00.Z",
            "2026-11-30T05:00:00+0100",
            "２026-11-30T05:00:00Z",
        ] {
            assert_eq!(t(bad), None, "{bad}");
        }
    }

    fn auth(dir: &Path, script: &str, extra: &str) -> ExecAuth {
        let plugin = dir.join("plugin");
        std::fs::write(&plugin, format!("#!/bin/sh\n{script}\n")).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&plugin, std::fs::Permissions::from_mode(0o755)).unwrap();
        let cfg: ExecConfig = serde_saphyr::from_str(&format!(
            "apiVersion: {API_V1}\ncommand: ./plugin\ninteractiveMode: Never\n{extra}"
        ))
        .unwrap();
        ExecAuth::new("u", cfg, &dir.join("config"), dir, "https://x:1", None).unwrap()
    }

    #[test]
    fn a_credential_is_cached_until_it_expires() {
        let d = tempfile::tempdir().unwrap();
        let count = d.path().join("count");
        let script = format!(
            "echo x >> '{}'\nprintf '%s' '{{\"apiVersion\":\"{API_V1}\",\"kind\":\"ExecCredential\",\"status\":{{\"token\":\"tok-'\"$1\"'\",\"expirationTimestamp\":\"'\"$2\"'\"}}}}'",
            count.display()
        );
        let runs = || std::fs::read_to_string(&count).unwrap().lines().count();
        let fresh = auth(d.path(), &script, "args: [a, '2999-01-01T00:00:00Z']\n");
        assert_eq!(fresh.credential().unwrap().token.as_deref(), Some("tok-a"));
        assert_eq!(fresh.credential().unwrap().token.as_deref(), Some("tok-a"));
        assert_eq!(runs(), 1);
        fresh.invalidate();
        fresh.credential().unwrap();
        assert_eq!(runs(), 2);
        let expired = auth(d.path(), &script, "args: [b, '2000-01-01T00:00:00Z']\n");
        expired.credential().unwrap();
        expired.credential().unwrap();
        assert_eq!(runs(), 4);
    }

    #[test]
    fn a_failing_or_malformed_plugin_is_a_clear_error_without_the_token() {
        let d = tempfile::tempdir().unwrap();
        let secret = "s3cr3t-token-value";
        let failing = auth(
            d.path(),
            &format!("printf '{{\"status\":{{\"token\":\"{secret}\"}}}}'\necho 'login expired' >&2\nexit 7"),
            "",
        );
        let e = failing.credential().unwrap_err().to_string();
        assert!(
            e.contains("exit status: 7") && e.contains("login expired"),
            "{e}"
        );
        assert!(!e.contains(secret), "{e}");
        for (out, want) in [
            (format!("{{\"token\": \"{secret}\""), "not JSON"),
            (format!("{{\"apiVersion\":\"{API_V1}\",\"kind\":\"ExecCredential\",\"status\":{{\"token\":7}}}}"), "wrong type"),
            (format!("{{\"apiVersion\":\"{API_V1BETA1}\",\"kind\":\"ExecCredential\",\"status\":{{\"token\":\"{secret}\"}}}}"), "apiVersion"),
            (format!("{{\"apiVersion\":\"{API_V1}\",\"kind\":\"ExecCredential\",\"status\":{{\"token\":\"{secret}\",\"expirationTimestamp\":\"soon\"}}}}"), "expirationTimestamp"),
            (format!("{{\"apiVersion\":\"{API_V1}\",\"kind\":\"ExecCredential\",\"status\":{{}}}}"), "neither"),
        ] {
            let a = auth(d.path(), &format!("printf '%s' '{out}'"), "");
            let e = a.credential().unwrap_err().to_string();
            assert!(e.contains(want), "{want}: {e}");
            assert!(!e.contains(secret), "{e}");
        }
        let big = auth(d.path(), "head -c 2000000 /dev/zero", "");
        assert!(big
            .credential()
            .unwrap_err()
            .to_string()
            .contains("more than"));
    }

    #[test]
    fn the_configuration_is_checked() {
        let d = tempfile::tempdir().unwrap();
        let new = |yaml: &str| {
            let cfg: ExecConfig = serde_saphyr::from_str(yaml).unwrap();
            ExecAuth::new(
                "u",
                cfg,
                &d.path().join("config"),
                d.path(),
                "https://x:1",
                None,
            )
            .map(|_| ())
            .map_err(|e| e.to_string())
        };
        assert!(new(&format!("apiVersion: {API_V1}\ncommand: p\n"))
            .unwrap_err()
            .contains("interactiveMode must be set"));
        assert!(new(&format!(
            "apiVersion: {API_V1}\ncommand: p\ninteractiveMode: Always\n"
        ))
        .unwrap_err()
        .contains("Always"));
        assert!(new(&format!(
            "apiVersion: {API_V1}\ncommand: --exec=x\ninteractiveMode: Never\n"
        ))
        .unwrap_err()
        .contains("option"));
        assert!(
            new("apiVersion: client.authentication.k8s.io/v1alpha1\ncommand: p\n")
                .unwrap_err()
                .contains("apiVersion")
        );
        assert!(new(&format!("apiVersion: {API_V1BETA1}\ncommand: p\n")).is_ok());
        let missing = new(&format!(
            "apiVersion: {API_V1}\ncommand: lane-no-such-plugin\ninteractiveMode: Never\ninstallHint: 'apt install lane-no-such-plugin'\n"
        ));
        assert!(missing.is_ok());
        let cfg: ExecConfig = serde_saphyr::from_str(&format!(
            "apiVersion: {API_V1}\ncommand: lane-no-such-plugin\ninteractiveMode: Never\ninstallHint: 'apt install lane-no-such-plugin'\n"
        ))
        .unwrap();
        let a = ExecAuth::new(
            "u",
            cfg,
            &d.path().join("config"),
            d.path(),
            "https://x:1",
            None,
        )
        .unwrap();
        let f = crate::error::Failure::from(a.credential().unwrap_err());
        assert_eq!(f.hint.as_deref(), Some("apt install lane-no-such-plugin"));
    }
}
