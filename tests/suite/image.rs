//! The task image assembled with buildah (scripts/build-image.sh), pushed to a real registry,
//! resolved by `lane publish`, and the binary run from the image's own root filesystem.

use crate::common;

use std::process::Command;

use lane::model::catalog::EntryStatus;
use lane::model::publish::PublishResult;

const COMMIT: &str = "0123456789abcdef0123456789abcdef01234567";
const SOURCE: &str = "https://github.com/pikasTech/lane.git";

#[test]
fn the_buildah_image_is_published_and_runs_lane() {
    common::tools::require("buildah");
    let reg = common::registry::Registry::start();
    let work = common::tempdir();
    let repo = format!("{}/lane/lane", reg.host);
    let out = Command::new(common::repo_root().join("scripts/build-image.sh"))
        .arg("--binary")
        .arg(common::lane_bin())
        .args(["--tag", "localhost/lane:test", "--tls-verify", "false"])
        .args(["--push", &format!("{repo}:{COMMIT}")])
        .args([
            "--label",
            &format!("org.opencontainers.image.revision={COMMIT}"),
        ])
        .args([
            "--label",
            &format!("org.opencontainers.image.source={SOURCE}"),
        ])
        .args(["--label", "dev.lane.service=lane"])
        .env("BUILDAH_ROOT", work.path().join("root"))
        .env("BUILDAH_RUNROOT", work.path().join("run"))
        .output()
        .expect("run build-image.sh");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "build-image failed:\n{stderr}");
    // build-image.sh's own line, not a lane document: read raw.
    let built: serde_json::Value = serde_json::from_slice(&out.stdout).expect("one JSON line");
    // The binary answered from the image's own root filesystem.
    assert_eq!(
        built["version"],
        format!("lane {}", env!("CARGO_PKG_VERSION")),
        "{built}"
    );
    let size = built["sizeBytes"].as_u64().unwrap();
    println!("task image (buildah, debug binary): {size} bytes uncompressed");
    assert!(size > 1_000_000);
    let pushed_digest = built["digest"].as_str().unwrap().to_string();
    assert!(pushed_digest.starts_with("sha256:"), "{built}");

    // lane publish resolves the same digest from the registry, with provenance.
    let plan = serde_json::json!({
        "schemaVersion": 1, "lane": "v0.1", "sourceRepo": SOURCE,
        "sourceBranch": "v0.1", "gitopsBranch": "v0.1-gitops",
        "sourceCommit": COMMIT, "init": true,
        "services": [{
            "id": "lane", "kind": "deployment", "decision": "affected", "reason": "task image",
            "imageRepository": repo, "tag": COMMIT,
            "fingerprint": format!("sha256:{}", "a".repeat(64)),
            "build": {"context": ".", "dockerfile": "Dockerfile"}
        }],
        "counts": {"total": 1, "affected": 1, "reused": 0, "pin": 0, "excluded": 0, "unsupported": 0}
    });
    let plan_path = work.path().join("plan.json");
    std::fs::write(&plan_path, plan.to_string()).unwrap();
    let out_path = work.path().join("publish.json");
    let run = common::lane(
        work.path(),
        &[
            "publish",
            "--plan",
            plan_path.to_str().unwrap(),
            "--allow-insecure",
            "--out",
            out_path.to_str().unwrap(),
        ],
    );
    run.assert_code(0);
    let result: PublishResult = serde_json::from_slice(&std::fs::read(&out_path).unwrap()).unwrap();
    let image = &result.images[0];
    assert_eq!(image.digest, pushed_digest.as_str());
    assert_eq!(image.status, EntryStatus::Published);
    assert_eq!(
        image.media_type,
        "application/vnd.docker.distribution.manifest.v2+json"
    );
}
