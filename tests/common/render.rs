//! Helpers for the render tests: the shipped lane, a catalog for it, parsing a rendered tree.

use std::collections::BTreeMap;
use std::path::Path;

use lane::model::check;
use lane::model::{Catalog, Lane};

/// Commit used as the run's source commit in test catalogs.
pub const COMMIT: &str = "0123456789abcdef0123456789abcdef01234567";

/// The shipped deploy.json, loaded and checked like `lane render` does.
pub fn shipped_lane() -> Lane {
    Lane::load(&super::shipped_deploy(), None).expect("shipped deploy.json is valid")
}

/// The shipped deploy.json as JSON, for tests that edit it.
pub fn shipped_json() -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(super::shipped_deploy()).unwrap()).unwrap()
}

/// A lane from edited deploy.json JSON, through the same checks as a file on disk.
pub fn lane_from_json(v: &serde_json::Value) -> Result<Lane, lane::model::InputError> {
    Lane::parse(
        serde_json::to_string_pretty(v).unwrap().as_bytes(),
        "deploy.json",
    )
}

/// A lane from JSON without the deploy.json checks (to prove render defends itself).
pub fn lane_unchecked(v: &serde_json::Value) -> Lane {
    Lane::unchecked(serde_json::from_value(v.clone()).expect("intent shape"))
}

/// Catalog JSON → checked catalog for the shipped lane.
pub fn catalog(v: &serde_json::Value) -> Catalog {
    let lane = shipped_lane();
    check::parse_catalog(
        serde_json::to_string(v).unwrap().as_bytes(),
        "catalog.json",
        Some(&lane.names),
    )
    .expect("test catalog is valid")
}

/// The v0.1 catalog: mgr digest `a…`, runner digest `b…`.
pub fn v01_catalog_json() -> serde_json::Value {
    super::test_catalog(
        COMMIT,
        &[
            ("agentrun-mgr", "deployment", 'a'),
            ("agentrun-runner", "job", 'b'),
        ],
    )
}

pub fn v01_catalog() -> Catalog {
    catalog(&v01_catalog_json())
}

/// Parse every file of a tree (each must hold one YAML document).
pub fn parse_tree(files: &BTreeMap<String, String>) -> BTreeMap<String, serde_json::Value> {
    files
        .iter()
        .map(|(k, v)| {
            let doc: serde_json::Value = serde_saphyr::from_str(v)
                .unwrap_or_else(|e| panic!("{k} is not valid YAML: {e}\n{v}"));
            // render reads its files back through lane's fast YAML path: whatever that path
            // accepts must read exactly as the full parser reads it.
            if let Some(fast) = lane::yaml::fast(v) {
                assert_eq!(fast, doc, "lane::yaml::fast misreads {k}:\n{v}");
            }
            (k.clone(), doc)
        })
        .collect()
}

/// Write a tree into `dir`.
pub fn write_tree(dir: &Path, files: &BTreeMap<String, String>) {
    std::fs::create_dir_all(dir).unwrap();
    for (k, v) in files {
        std::fs::write(dir.join(k), v).unwrap();
    }
}

/// Read every file of a directory (flat).
pub fn read_dir(dir: &Path) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let e = e.unwrap();
        // `.lane-render.json` is render's record of what it wrote, not part of the tree.
        if e.file_type().unwrap().is_file() && e.file_name() != ".lane-render.json" {
            out.insert(
                e.file_name().to_string_lossy().into_owned(),
                std::fs::read_to_string(e.path()).unwrap(),
            );
        }
    }
    out
}
