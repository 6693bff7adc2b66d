//! Read-only HTTP clients for the Kubernetes API (and the Argo CD / Tekton CRDs served by it),
//! used by `verify` (filled in by the verify work).
