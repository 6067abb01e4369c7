#!/usr/bin/env bash
# Regenerates the wrapper Go modules under testbed/go/ from the pinned versions.
#
# k8s.io/kubernetes requires its staging modules at the fake version v0.0.0 and replaces them with
# ./staging/src/k8s.io/<name>; neither works from outside its repository. The wrapper module replaces
# every staging module k8s.io/<name> with its published tag v0.<minor>.<patch>. The list comes from the
# real go.mod of the pinned release, so it stays right when the pin moves.
#
# etcd's server module replaces its sibling modules with relative paths; a wrapper that requires the
# server at the release tag resolves the siblings at the same tag.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=../versions.env
source "$here/versions.env"

k8s_dir="$here/go/kubernetes"
staging_version="v0.${KUBERNETES_VERSION#v1.}"
gomod=$(go mod download -json "k8s.io/kubernetes@$KUBERNETES_VERSION" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')
go_directive=$(sed -n 's/^go \([0-9.]*\)$/\1/p' "$gomod")
rm -f "$k8s_dir/go.mod" "$k8s_dir/go.sum"
(
  cd "$k8s_dir"
  go mod init cairn.dev/testbed/kubernetes >/dev/null 2>&1
  go mod edit -go="$go_directive"
  for m in $(grep -o 'k8s.io/[a-z0-9-]* => ./staging' "$gomod" | cut -d' ' -f1); do
    go mod edit -replace="$m=$m@$staging_version"
  done
  tools=()
  for cmd in kube-apiserver kube-controller-manager kube-scheduler kubectl kubelet; do
    tools+=("k8s.io/kubernetes/cmd/$cmd@$KUBERNETES_VERSION")
  done
  go get -tool "${tools[@]}"
)
echo "kubernetes wrapper: $(grep -c '=>' "$k8s_dir/go.mod") staging replaces at $staging_version" >&2

etcd_dir="$here/go/etcd"
rm -f "$etcd_dir/go.mod" "$etcd_dir/go.sum"
(
  cd "$etcd_dir"
  go mod init cairn.dev/testbed/etcd >/dev/null 2>&1
  go get -tool "go.etcd.io/etcd/server/v3@$ETCD_VERSION"
)
echo "etcd wrapper: go.etcd.io/etcd/server/v3@$ETCD_VERSION" >&2
