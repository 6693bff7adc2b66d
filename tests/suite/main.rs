//! Every integration test that needs no real cluster, as one test binary: `tests/common`
//! and the lane library are compiled and linked once instead of once per file
//! (docs/benchmarks.md, "Test build"). The real-cluster tiers (cluster, e2e, kubeconfig,
//! status, tekton_cluster, verify_cluster) stay binaries of their own, which cargo runs one
//! after another, so no two of them share the cluster at once.

#[path = "../common/mod.rs"]
mod common;

mod ci_checks;
mod cli;
mod image;
mod plan;
mod promote;
mod promote_basic_auth;
mod promote_race;
mod promote_signing;
mod promote_ssh;
mod publish;
mod publish_auth;
mod render_cli;
mod render_injection;
mod render_tree;
mod rollback;
mod schema;
mod tekton;
mod untrusted_input;
mod validate;
mod verify_static;
