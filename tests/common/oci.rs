//! Small real images without a Docker engine: OCI layouts written on disk (one gzip tar
//! layer, a config with labels), pushed to a registry with `skopeo copy` as Docker schema2 or
//! OCI, single images or multi-platform lists/indexes.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

use sha2::Digest;

/// One platform image.
#[derive(Debug, Clone)]
pub struct Image {
    pub os: String,
    pub arch: String,
    pub variant: Option<String>,
    pub labels: Vec<(String, String)>,
    /// Content of the one file in the layer (makes layers distinct).
    pub content: String,
}

impl Image {
    pub fn linux_amd64(labels: Vec<(String, String)>, content: &str) -> Image {
        Image {
            os: "linux".into(),
            arch: "amd64".into(),
            variant: None,
            labels,
            content: content.into(),
        }
    }

    pub fn platform(mut self, arch: &str, variant: Option<&str>) -> Image {
        self.arch = arch.into();
        self.variant = variant.map(str::to_string);
        self
    }
}

/// The provenance labels the lane build step stamps (docs/labels.md).
pub fn lane_labels(service: &str, commit: &str, source: &str) -> Vec<(String, String)> {
    vec![
        ("org.opencontainers.image.revision".into(), commit.into()),
        ("org.opencontainers.image.source".into(), source.into()),
        ("dev.lane.service".into(), service.into()),
        ("dev.lane.lane".into(), "v0.1".into()),
    ]
}

pub fn sha256(bytes: &[u8]) -> String {
    let sum = sha2::Sha256::digest(bytes);
    let hex: String = sum.iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256:{hex}")
}

fn put_blob(layout: &Path, bytes: &[u8]) -> String {
    let d = sha256(bytes);
    let p = layout.join("blobs/sha256").join(&d["sha256:".len()..]);
    std::fs::write(p, bytes).unwrap();
    d
}

/// A one-file ustar archive.
fn tar_one(name: &str, data: &[u8]) -> Vec<u8> {
    let mut h = [0u8; 512];
    h[..name.len()].copy_from_slice(name.as_bytes());
    h[100..108].copy_from_slice(b"0000644\0");
    h[108..116].copy_from_slice(b"0000000\0");
    h[116..124].copy_from_slice(b"0000000\0");
    h[124..136].copy_from_slice(format!("{:011o}\0", data.len()).as_bytes());
    h[136..148].copy_from_slice(b"00000000000\0");
    h[148..156].copy_from_slice(b"        ");
    h[156] = b'0';
    h[257..263].copy_from_slice(b"ustar\0");
    h[263..265].copy_from_slice(b"00");
    let sum: u32 = h.iter().map(|&b| u32::from(b)).sum();
    h[148..156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
    let mut out = h.to_vec();
    out.extend_from_slice(data);
    out.resize(out.len().div_ceil(512) * 512 + 1024, 0);
    out
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut child = Command::new("gzip")
        .args(["-n", "-c"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("run gzip");
    child.stdin.take().unwrap().write_all(bytes).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    out.stdout
}

/// Write one image's blobs; returns (manifest descriptor JSON, manifest digest).
fn write_manifest(layout: &Path, img: &Image) -> serde_json::Value {
    let tar = tar_one("lane-test.txt", img.content.as_bytes());
    let gz = gzip(&tar);
    let layer = put_blob(layout, &gz);
    let labels: serde_json::Map<String, serde_json::Value> = img
        .labels
        .iter()
        .map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone())))
        .collect();
    let mut config = serde_json::json!({
        "architecture": img.arch,
        "os": img.os,
        "config": {"Labels": labels},
        // History lets distribution synthesise its schema1 fallback, as for real builds.
        "history": [{"created": "2026-01-01T00:00:00Z", "created_by": "lane test layer"}],
        "rootfs": {"type": "layers", "diff_ids": [sha256(&tar)]}
    });
    if let Some(v) = &img.variant {
        config["variant"] = v.clone().into();
    }
    let config = serde_json::to_vec(&config).unwrap();
    let config_digest = put_blob(layout, &config);
    let manifest = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config_digest, "size": config.len()},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": layer, "size": gz.len()}]
    }))
    .unwrap();
    let digest = put_blob(layout, &manifest);
    let mut platform = serde_json::json!({"architecture": img.arch, "os": img.os});
    if let Some(v) = &img.variant {
        platform["variant"] = v.clone().into();
    }
    serde_json::json!({
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "digest": digest,
        "size": manifest.len(),
        "platform": platform
    })
}

/// Write an OCI layout at `dir` with ref `latest`: one image, or an index of several.
pub fn write_layout(dir: &Path, images: &[Image], as_index: bool) {
    std::fs::create_dir_all(dir.join("blobs/sha256")).unwrap();
    std::fs::write(dir.join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
    let descs: Vec<serde_json::Value> = images.iter().map(|i| write_manifest(dir, i)).collect();
    let mut top = if as_index {
        let index = serde_json::to_vec(&serde_json::json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.index.v1+json",
            "manifests": descs
        }))
        .unwrap();
        let digest = put_blob(dir, &index);
        serde_json::json!({"mediaType": "application/vnd.oci.image.index.v1+json", "digest": digest, "size": index.len()})
    } else {
        assert_eq!(images.len(), 1, "several images need an index");
        let mut d = descs[0].clone();
        d.as_object_mut().unwrap().remove("platform");
        d
    };
    top["annotations"] = serde_json::json!({"org.opencontainers.image.ref.name": "latest"});
    std::fs::write(
        dir.join("index.json"),
        serde_json::to_vec(&serde_json::json!({"schemaVersion": 2, "manifests": [top]})).unwrap(),
    )
    .unwrap();
}

/// How skopeo writes the manifest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Docker schema2 manifest / manifest list.
    Docker,
    /// OCI manifest / index.
    Oci,
}

/// `skopeo copy` the layout to `docker://<dest>` (plain HTTP), all platforms.
pub fn push(layout: &Path, dest: &str, format: Format, creds: Option<(&str, &str)>) {
    let skopeo = super::tools::require("skopeo");
    let mut cmd = Command::new(skopeo);
    cmd.args([
        "--insecure-policy",
        "copy",
        "--quiet",
        "--all",
        "--dest-tls-verify=false",
    ]);
    cmd.args([
        "--format",
        if format == Format::Docker {
            "v2s2"
        } else {
            "oci"
        },
    ]);
    if let Some((u, p)) = creds {
        cmd.arg(format!("--dest-creds={u}:{p}"));
    }
    cmd.arg(format!("oci:{}:latest", layout.display()));
    cmd.arg(format!("docker://{dest}"));
    let out = cmd.output().expect("run skopeo");
    assert!(
        out.status.success(),
        "skopeo copy to {dest} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Build and push in one go; returns nothing (publish must find the digest itself).
pub fn build_and_push(dest: &str, images: &[Image], as_index: bool, format: Format) {
    let dir = super::tempdir();
    write_layout(dir.path(), images, as_index);
    push(dir.path(), dest, format, None);
}

/// One raw HTTP/1.1 exchange over std::net (tests must see exactly what the registry says,
/// without a client that adds headers). Returns (status, headers lowercased, body).
pub fn http(
    host: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
) -> (u16, Vec<(String, String)>, Vec<u8>) {
    use std::io::Read;
    let mut s = std::net::TcpStream::connect(host).expect("connect to registry");
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes()).unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("response head");
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let mut lines = head.lines();
    let status: u16 = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let hs: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let mut body = raw[split + 4..].to_vec();
    if hs
        .iter()
        .any(|(k, v)| k == "transfer-encoding" && v.contains("chunked"))
    {
        body = dechunk(&body);
    }
    (status, hs, body)
}

fn dechunk(mut b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let nl = b.windows(2).position(|w| w == b"\r\n").unwrap();
        let n = usize::from_str_radix(std::str::from_utf8(&b[..nl]).unwrap().trim(), 16).unwrap();
        if n == 0 {
            return out;
        }
        out.extend_from_slice(&b[nl + 2..nl + 2 + n]);
        b = &b[nl + 2 + n + 2..];
    }
}

pub fn header<'a>(hs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    hs.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

/// Standard base64 (for docker config `auth` values).
pub fn base64(s: &str) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let b = s.as_bytes();
    let mut out = String::new();
    for c in b.chunks(3) {
        let n = (u32::from(c[0]) << 16)
            | (u32::from(*c.get(1).unwrap_or(&0)) << 8)
            | u32::from(*c.get(2).unwrap_or(&0));
        for i in 0..4 {
            out.push(if i <= c.len() {
                T[(n >> (18 - 6 * i)) as usize & 63] as char
            } else {
                '='
            });
        }
    }
    out
}
