//go:build tools

// Argo CD's multi-call binary (argocd-application-controller, argocd-repo-server, … by argv[0]).
package tools

import _ "github.com/argoproj/argo-cd/v2/cmd"
