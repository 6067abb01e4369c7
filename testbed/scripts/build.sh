#!/usr/bin/env bash
# Builds (or reuses from the cache) every Go-built component of the testbed, and the helm CLI the chart
# test uses: the control plane, etcd, the object stores, the node's own programs (node-tools) and the
# CSI sidecars.
#
# The cache lives in $CAIRN_TESTBED_CACHE (default ~/.cache/cairn-testbed), outside the checkout so that
# fresh clones on the same machine reuse it. Each component lands in bin/<name>-<version>/ and is only
# rebuilt when its pinned version (testbed/versions.env) or its wrapper module changes.
set -euo pipefail
# A failing build inside $(...) must fail the script, not log "built" and print a directory with nothing
# in it: command substitutions inherit errexit, and each result is assigned before it is printed.
shopt -s inherit_errexit
here=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=../versions.env
source "$here/versions.env"
cache=${CAIRN_TESTBED_CACHE:-$HOME/.cache/cairn-testbed}
mkdir -p "$cache/bin"
export CGO_ENABLED=0 GOFLAGS=-buildvcs=false

log() { printf '[testbed build] %s\n' "$*" >&2; }

# A wrapper module's identity is its go.mod and go.sum: a change there changes the cache key.
wrapper_key() { cat "$1/go.mod" "$1/go.sum" | sha256sum | cut -c1-12; }

build_kubernetes() {
  local key out
  key=$(wrapper_key "$here/go/kubernetes")
  out="$cache/bin/kubernetes-$KUBERNETES_VERSION-$key"
  if [[ -x "$out/kubectl" && -x "$out/kubelet" ]]; then log "kubernetes $KUBERNETES_VERSION: cached"; echo "$out"; return; fi
  local minor=${KUBERNETES_VERSION#v1.}; minor=${minor%%.*}
  local pkg=k8s.io/component-base/version cpkg=k8s.io/client-go/pkg/version
  local ld="-s -w"
  for p in $pkg $cpkg; do
    ld="$ld -X $p.gitVersion=$KUBERNETES_VERSION -X $p.gitMajor=1 -X $p.gitMinor=$minor -X $p.gitTreeState=clean"
  done
  log "kubernetes $KUBERNETES_VERSION: building kube-apiserver, kube-controller-manager, kube-scheduler, kubectl, kubelet (long the first time)"
  local start=$SECONDS
  (cd "$here/go/kubernetes" && go build -trimpath -ldflags "$ld" -o "$out.tmp/" \
    k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager \
    k8s.io/kubernetes/cmd/kube-scheduler k8s.io/kubernetes/cmd/kubectl k8s.io/kubernetes/cmd/kubelet)
  rm -rf "$out" && mv "$out.tmp" "$out"
  log "kubernetes $KUBERNETES_VERSION: built in $((SECONDS - start))s"
  echo "$out"
}

build_etcd() {
  local key out
  key=$(wrapper_key "$here/go/etcd")
  out="$cache/bin/etcd-$ETCD_VERSION-$key"
  if [[ -x "$out/etcd" ]]; then log "etcd $ETCD_VERSION: cached"; echo "$out"; return; fi
  log "etcd $ETCD_VERSION: building"
  local start=$SECONDS
  (cd "$here/go/etcd" && go build -trimpath -ldflags "-s -w" -o "$out.tmp/etcd" go.etcd.io/etcd/server/v3)
  rm -rf "$out" && mv "$out.tmp" "$out"
  log "etcd $ETCD_VERSION: built in $((SECONDS - start))s"
  echo "$out"
}

# kopia, for the volume-data benchmark only (bench/volumes.ts), through its wrapper module (go/kopia).
build_kopia() {
  local key out
  key=$(wrapper_key "$here/go/kopia")
  out="$cache/bin/kopia-$KOPIA_VERSION-$key"
  if [[ -x "$out/kopia" ]]; then log "kopia $KOPIA_VERSION: cached"; echo "$out"; return; fi
  log "kopia $KOPIA_VERSION: building"
  local start=$SECONDS
  (cd "$here/go/kopia" && go build -trimpath -ldflags "-s -w -X github.com/kopia/kopia/repo.BuildVersion=${KOPIA_VERSION#v}" \
    -o "$out.tmp/kopia" github.com/kopia/kopia) || { log "kopia $KOPIA_VERSION: build failed"; return 1; }
  rm -rf "$out" && mv "$out.tmp" "$out"
  log "kopia $KOPIA_VERSION: built in $((SECONDS - start))s"
  echo "$out"
}

# go install at a pinned version, for modules without replace directives.
install_module() {
  local name=$1 module=$2 version=$3 out="$cache/bin/$1-$3"
  if [[ -x "$out/$name" ]]; then log "$name $version: cached"; echo "$out"; return; fi
  log "$name $version: building"
  local start=$SECONDS
  GOBIN="$out.tmp" go install -trimpath -ldflags "-s -w" "$module@$version"
  rm -rf "$out" && mv "$out.tmp" "$out"
  log "$name $version: built in $((SECONDS - start))s"
  echo "$out"
}

# Helm: go install at the pinned tag, with the version strings its Makefile stamps: its own version, and
# the Kubernetes version it assumes when not talking to a cluster (`helm template`, `helm lint`), which
# the Makefile derives from its k8s.io/client-go requirement (v0.37.x is Kubernetes 1.37).
build_helm() {
  local out="$cache/bin/helm-$HELM_VERSION"
  if [[ -x "$out/helm" ]]; then log "helm $HELM_VERSION: cached"; echo "$out"; return; fi
  log "helm $HELM_VERSION: building"
  local start=$SECONDS mod client_go minor ld
  mod=$(go mod download -json "helm.sh/helm/v3@$HELM_VERSION" | sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",\{0,1\}$/\1/p')
  client_go=$(awk '$1 == "k8s.io/client-go" { print $2 }' "$mod")
  minor=${client_go#v0.}; minor=${minor%%.*}
  [[ $minor =~ ^[0-9]+$ ]] || { log "helm $HELM_VERSION: no k8s.io/client-go version in $mod"; exit 1; }
  ld="-s -w -X helm.sh/helm/v3/internal/version.version=$HELM_VERSION -X helm.sh/helm/v3/internal/version.gitTreeState=clean"
  for p in helm.sh/helm/v3/pkg/lint/rules helm.sh/helm/v3/pkg/chartutil; do
    ld="$ld -X $p.k8sVersionMajor=1 -X $p.k8sVersionMinor=$minor"
  done
  GOBIN="$out.tmp" go install -trimpath -ldflags "$ld" "helm.sh/helm/v3/cmd/helm@$HELM_VERSION"
  rm -rf "$out" && mv "$out.tmp" "$out"
  log "helm $HELM_VERSION: built in $((SECONDS - start))s"
  echo "$out"
}

# The testbed's own Go programs (go/node-tools): the sandbox image's pause, the CSI driver, the local
# volume provisioner. Their identity is the module's go.mod, go.sum and Go sources (tests left out).
build_node_tools() {
  local dir="$here/go/node-tools" key out
  key=$(cd "$dir" && { cat go.mod go.sum; find . -name '*.go' ! -name '*_test.go' -print0 | sort -z | xargs -0 sha256sum; } |
    sha256sum | cut -c1-12)
  out="$cache/bin/node-tools-$key"
  if [[ -x "$out/pause" && -x "$out/cairn-csi" && -x "$out/local-provisioner" ]]; then
    log "node-tools: cached"; echo "$out"; return
  fi
  log "node-tools: building pause, cairn-csi, local-provisioner"
  local start=$SECONDS
  (cd "$dir" && go build -trimpath -ldflags "-s -w" -o "$out.tmp/" ./cmd/pause ./cmd/cairn-csi ./cmd/local-provisioner)
  rm -rf "$out" && mv "$out.tmp" "$out"
  log "node-tools: built in $((SECONDS - start))s"
  echo "$out"
}

# The CSI sidecars, each through its wrapper module in go/csi-sidecars/, with the version stamped as
# their release tooling stamps it (main.version), and the snapshot CRDs of the external-snapshotter
# release (module client/v8, config/crd/) in crds/.
snapshot_crds=(
  snapshot.storage.k8s.io_volumesnapshotclasses.yaml
  snapshot.storage.k8s.io_volumesnapshotcontents.yaml
  snapshot.storage.k8s.io_volumesnapshots.yaml
  groupsnapshot.storage.k8s.io_volumegroupsnapshotclasses.yaml
  groupsnapshot.storage.k8s.io_volumegroupsnapshotcontents.yaml
  groupsnapshot.storage.k8s.io_volumegroupsnapshots.yaml
)
build_csi_sidecars() {
  local provisioner="$here/go/csi-sidecars/external-provisioner" snapshotter="$here/go/csi-sidecars/external-snapshotter"
  local key out
  key=$(cat "$provisioner/go.mod" "$provisioner/go.sum" "$snapshotter/go.mod" "$snapshotter/go.sum" | sha256sum | cut -c1-12)
  out="$cache/bin/csi-sidecars-$EXTERNAL_PROVISIONER_VERSION-$EXTERNAL_SNAPSHOTTER_VERSION-$key"
  if [[ -x "$out/csi-provisioner" && -x "$out/csi-snapshotter" && -x "$out/snapshot-controller" && -f "$out/crds/${snapshot_crds[5]}" ]]; then
    log "csi-sidecars: cached"; echo "$out"; return
  fi
  log "csi-sidecars: building csi-provisioner $EXTERNAL_PROVISIONER_VERSION, csi-snapshotter and snapshot-controller $EXTERNAL_SNAPSHOTTER_VERSION"
  local start=$SECONDS
  (cd "$provisioner" && go build -trimpath -ldflags "-s -w -X main.version=$EXTERNAL_PROVISIONER_VERSION" -o "$out.tmp/" \
    github.com/kubernetes-csi/external-provisioner/v6/cmd/csi-provisioner)
  (cd "$snapshotter" && go build -trimpath -ldflags "-s -w -X main.version=$EXTERNAL_SNAPSHOTTER_VERSION" -o "$out.tmp/" \
    github.com/kubernetes-csi/external-snapshotter/v8/cmd/csi-snapshotter \
    github.com/kubernetes-csi/external-snapshotter/v8/cmd/snapshot-controller)
  local client
  client=$(cd "$snapshotter" && go mod download -json "github.com/kubernetes-csi/external-snapshotter/client/v8@$EXTERNAL_SNAPSHOTTER_VERSION" |
    sed -n 's/^[[:space:]]*"Dir": "\(.*\)",\{0,1\}$/\1/p')
  mkdir -p "$out.tmp/crds"
  for crd in "${snapshot_crds[@]}"; do
    cp "$client/config/crd/$crd" "$out.tmp/crds/"
  done
  chmod 0644 "$out.tmp/crds/"*.yaml # the module cache's files are read-only
  rm -rf "$out" && mv "$out.tmp" "$out"
  log "csi-sidecars: built in $((SECONDS - start))s"
  echo "$out"
}

# Velero (both lines) and its AWS plugin, into one directory: `velero-<version>` for each, and
# `plugins/velero-plugin-for-aws` (the directory `velero server --plugin-dir` reads). The version is stamped as
# Velero's Makefile stamps it.
build_velero() {
  local old="$here/go/velero-1.17" next="$here/go/velero-1.18" plugin="$here/go/velero-plugin-for-aws" key out
  key=$(cat "$old/go.mod" "$old/go.sum" "$next/go.mod" "$next/go.sum" "$plugin/go.mod" "$plugin/go.sum" | sha256sum | cut -c1-12)
  out="$cache/bin/velero-$key"
  if [[ -x "$out/velero-$VELERO_VERSION" && -x "$out/velero-$VELERO_NEXT_VERSION" && -x "$out/plugins/velero-plugin-for-aws" ]]; then
    log "velero: cached"; echo "$out"; return
  fi
  log "velero: building velero $VELERO_VERSION and $VELERO_NEXT_VERSION, velero-plugin-for-aws $VELERO_PLUGIN_FOR_AWS_VERSION (long the first time)"
  local start=$SECONDS dir version
  for pair in "$old:$VELERO_VERSION" "$next:$VELERO_NEXT_VERSION"; do
    dir=${pair%%:*} version=${pair##*:}
    (cd "$dir" && go build -trimpath \
      -ldflags "-s -w -X github.com/vmware-tanzu/velero/pkg/buildinfo.Version=$version -X github.com/vmware-tanzu/velero/pkg/buildinfo.GitTreeState=clean" \
      -o "$out.tmp/velero-$version" github.com/vmware-tanzu/velero/cmd/velero)
  done
  (cd "$plugin" && go build -trimpath -ldflags "-s -w" -o "$out.tmp/plugins/velero-plugin-for-aws" \
    github.com/vmware-tanzu/velero-plugin-for-aws/velero-plugin-for-aws)
  rm -rf "$out" && mv "$out.tmp" "$out"
  log "velero: built in $((SECONDS - start))s"
  echo "$out"
}

# Prints name=directory for each component built, on standard output; progress goes to standard error.
emit() {
  local name=$1 out
  shift
  out=$("$@")
  echo "$name=$out"
}
what=${1:-all}
case $what in
  kubernetes) emit kubernetes build_kubernetes ;;
  etcd) emit etcd build_etcd ;;
  minio) emit minio install_module minio github.com/minio/minio "$MINIO_VERSION" ;;
  fake-gcs-server) emit fake-gcs-server install_module fake-gcs-server github.com/fsouza/fake-gcs-server "$FAKE_GCS_SERVER_VERSION" ;;
  helm) emit helm build_helm ;;
  node-tools) emit node-tools build_node_tools ;;
  csi-sidecars) emit csi-sidecars build_csi_sidecars ;;
  kopia) emit kopia build_kopia ;; # not part of all: only the volume-data benchmark runs it
  velero) emit velero build_velero ;;
  all)
    emit etcd build_etcd
    emit minio install_module minio github.com/minio/minio "$MINIO_VERSION"
    emit fake-gcs-server install_module fake-gcs-server github.com/fsouza/fake-gcs-server "$FAKE_GCS_SERVER_VERSION"
    emit kubernetes build_kubernetes
    emit helm build_helm
    emit node-tools build_node_tools
    emit csi-sidecars build_csi_sidecars
    emit velero build_velero
    ;;
  *) echo "usage: build.sh [all|kubernetes|etcd|minio|fake-gcs-server|helm|node-tools|csi-sidecars|kopia|velero]" >&2; exit 2 ;;
esac
