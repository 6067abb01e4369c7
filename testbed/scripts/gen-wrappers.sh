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
#
# The CSI sidecars (external-provisioner, external-snapshotter) have replace directives too, which
# `go install pkg@version` refuses. Each gets a wrapper module of its own under go/csi-sidecars/ with
# the sidecar's replaces copied: their k8s.io replaces differ (the provisioner pins v0.36.x, the
# snapshotter v0.37.x), and one module can hold only one of each. A replace by a relative path (the
# snapshotter's `./client`) becomes the module of that directory at the sidecar's own version, which the
# same release tags (client/v8.7.0).
#
# Usage: gen-wrappers.sh [kubernetes|etcd|csi-sidecars]...   (no argument: all of them)
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=../versions.env
source "$here/versions.env"

gen_kubernetes() {
  local k8s_dir="$here/go/kubernetes"
  local staging_version="v0.${KUBERNETES_VERSION#v1.}"
  local gomod go_directive
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
}

gen_etcd() {
  local etcd_dir="$here/go/etcd"
  rm -f "$etcd_dir/go.mod" "$etcd_dir/go.sum"
  (
    cd "$etcd_dir"
    go mod init cairn.dev/testbed/etcd >/dev/null 2>&1
    go get -tool "go.etcd.io/etcd/server/v3@$ETCD_VERSION"
  )
  echo "etcd wrapper: go.etcd.io/etcd/server/v3@$ETCD_VERSION" >&2
}

# sidecar_wrapper <dir> <module> <version> <package>...: a wrapper module in <dir> that copies the
# replace directives of <module>@<version> and builds the packages as tools.
sidecar_wrapper() {
  local dir=$1 module=$2 version=$3
  shift 3
  local mod
  mod=$(go mod download -json "$module@$version" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')
  mkdir -p "$dir"
  rm -f "$dir/go.mod" "$dir/go.sum"
  (
    cd "$dir"
    go mod init "cairn.dev/testbed/csi-sidecars/$(basename "$dir")" >/dev/null 2>&1
    go mod edit -go="$(sed -n 's/^go \([0-9.]*\)$/\1/p' "$mod")"
    # Replace lines, in and out of replace blocks: old [old-version] => new [new-version].
    sed -nE 's/^(replace)?[[:space:]]*([^[:space:](]+)([[:space:]]+(v[^[:space:]]+))?[[:space:]]+=>[[:space:]]+([^[:space:]]+)([[:space:]]+(v[^[:space:]]+))?[[:space:]]*(\/\/.*)?$/\2|\4|\5|\7/p' "$mod" |
      while IFS='|' read -r old old_version new new_version; do
        if [[ $new == ./* || $new == ../* ]]; then
          new=$old new_version=$version
        fi
        go mod edit -replace="$old${old_version:+@$old_version}=$new${new_version:+@$new_version}"
      done
    local tools=()
    for pkg in "$@"; do tools+=("$pkg@$version"); done
    go get -tool "${tools[@]}"
  )
  echo "$(basename "$dir") wrapper: $module@$version, $(grep -c '=>' "$dir/go.mod") replaces" >&2
}

gen_csi_sidecars() {
  sidecar_wrapper "$here/go/csi-sidecars/external-provisioner" \
    github.com/kubernetes-csi/external-provisioner/v6 "$EXTERNAL_PROVISIONER_VERSION" \
    github.com/kubernetes-csi/external-provisioner/v6/cmd/csi-provisioner
  sidecar_wrapper "$here/go/csi-sidecars/external-snapshotter" \
    github.com/kubernetes-csi/external-snapshotter/v8 "$EXTERNAL_SNAPSHOTTER_VERSION" \
    github.com/kubernetes-csi/external-snapshotter/v8/cmd/csi-snapshotter \
    github.com/kubernetes-csi/external-snapshotter/v8/cmd/snapshot-controller
}

(($#)) || set -- kubernetes etcd csi-sidecars
for what in "$@"; do
  case $what in
    kubernetes) gen_kubernetes ;;
    etcd) gen_etcd ;;
    csi-sidecars) gen_csi_sidecars ;;
    *) echo "usage: gen-wrappers.sh [kubernetes|etcd|csi-sidecars]..." >&2; exit 2 ;;
  esac
done
