//! OCI registry access for `publish` (filled in by the publish work).
