//! lane: a version-lane CI/CD toolkit for Kubernetes with pure Tekton and Argo CD.
//!
//! The pipeline is visible in the module tree: [`plan`] → [`publish`] → [`render`] →
//! [`promote`] → [`verify`], over the shared [`model`] (deploy intent, catalog, lane names),
//! [`git`] and registry access.

pub mod ci;
pub mod cli;
pub mod commit;
pub mod digest;
pub mod duration;
pub mod encoding;
pub mod error;
pub mod fsutil;
pub mod generate;
pub mod git;
pub mod kube;
pub mod manual;
pub mod model;
mod newtype;
pub mod output;
pub mod plan;
pub mod promote;
pub mod prune;
pub mod publish;
pub mod redact;
pub mod registry;
pub mod render;
pub mod rollback;
pub mod status;
pub mod validate;
pub mod verify;
pub mod workspace;
pub mod yaml;
