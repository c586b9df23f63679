//go:build tools

// Package tools makes `go mod tidy` keep the binaries' main packages in go.mod.
package tools

import (
	_ "go.etcd.io/etcd/server/v3"
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
)
