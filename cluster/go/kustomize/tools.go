//go:build tools

// kustomize's main package is its module root.
package tools

import _ "sigs.k8s.io/kustomize/kustomize/v5"
