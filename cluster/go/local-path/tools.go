//go:build tools

// local-path-provisioner's main package is its module root.
package tools

import _ "github.com/rancher/local-path-provisioner"
