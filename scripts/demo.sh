#!/usr/bin/env bash
# The main job on the embedded default: the local testbed cluster and the default local-directory location.
# Brings up the testbed, deploys a small shop, backs it up, and shows the backup.
set -euo pipefail
cd "$(dirname "$0")/.."
echo "== starting the testbed (the first run builds Kubernetes, etcd and the object stores: ~7 minutes)"
eval "$(npm run -s testbed -- up)"
ns=shop
echo "== deploying a small shop into namespace $ns"
kubectl create namespace "$ns" --dry-run=client -o yaml | kubectl apply -f - >/dev/null
kubectl -n "$ns" apply -f scripts/demo-app.yaml
name="shop-$(date -u +%Y%m%d%H%M%S)"
echo "== cairn version"
npx cairn version
echo "== cairn backup create $name --include-namespaces $ns"
npx cairn backup create "$name" --include-namespaces "$ns"
echo "== cairn backup get"
npx cairn backup get
echo "== cairn backup describe $name --details"
npx cairn backup describe "$name" --details
echo
echo "The backup is in ~/.local/share/cairn/locations/default/backups/$name (encrypted; the key is in ~/.config/cairn/keys/)."
echo "The testbed keeps running: eval \"\$(npm run -s testbed -- env)\" to use it, npm run -s testbed -- down to stop it."
