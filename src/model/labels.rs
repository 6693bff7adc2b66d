//! Label and annotation keys shared by render (writes them), publish (reads image labels)
//! and verify (compares them with the catalog). One place, so they never drift.

/// Kubernetes recommended labels.
pub const APP_NAME: &str = "app.kubernetes.io/name";
pub const APP_COMPONENT: &str = "app.kubernetes.io/component";
pub const APP_PART_OF: &str = "app.kubernetes.io/part-of";
pub const APP_INSTANCE: &str = "app.kubernetes.io/instance";
pub const APP_MANAGED_BY: &str = "app.kubernetes.io/managed-by";
pub const MANAGED_BY_VALUE: &str = "lane";

/// Lane version (`v0.1`) on every object.
pub const LANE: &str = "lane.dev/lane";
/// Service id on every object of a service and on its pod template.
pub const SERVICE: &str = "lane.dev/service";
/// Object metadata: the source commit of the run that last promoted this service's entry
/// (catalog `services.<id>.sourceCommit`). Not on the pod template, so that a reused service
/// does not restart on every run.
pub const SOURCE_COMMIT: &str = "lane.dev/source-commit";
/// Pod template label: the commit the running image was built from (catalog `tag` of a built
/// image). Changes exactly when the image changes.
pub const IMAGE_COMMIT: &str = "lane.dev/image-commit";
/// Annotations (values too long or not label-safe).
pub const SOURCE_REPO_ANNOTATION: &str = "lane.dev/source-repo";
pub const IMAGE_DIGEST_ANNOTATION: &str = "lane.dev/image-digest";
pub const IMAGE_ANNOTATION: &str = "lane.dev/image";

/// OCI image config labels that the build step stamps and `publish` requires (provenance).
pub const OCI_REVISION: &str = "org.opencontainers.image.revision";
pub const OCI_SOURCE: &str = "org.opencontainers.image.source";
pub const OCI_SERVICE: &str = "dev.lane.service";
pub const OCI_DOCKERFILE: &str = "dev.lane.dockerfile";
pub const OCI_LANE: &str = "dev.lane.lane";
