#!/usr/bin/env bash
# The main job in one command, on the embedded default: the local testbed cluster and the default
# local-directory location. Brings up the testbed, deploys a small shop, backs it up, deletes its
# namespace, restores it (a dry run first), and shows that it is back.
#
#   npm run -s demo                      # cairn's configuration and backups in a new private directory
#   npm run -s demo -- --use-my-config   # in your own ~/.config/cairn and ~/.local/share/cairn
set -euo pipefail
cd "$(dirname "$0")/.."

usage() {
  echo "usage: npm run -s demo [-- --use-my-config]"
  echo "  --use-my-config  keep the demo's key, backup and restore record in your own cairn configuration"
  echo "                   (\$XDG_CONFIG_HOME/cairn, \$XDG_DATA_HOME/cairn) instead of a private directory"
}
own_config=false
for arg in "$@"; do
  case "$arg" in
    --use-my-config) own_config=true ;;
    -h | --help) usage && exit 0 ;;
    *) echo "demo: unknown argument $arg" >&2 && usage >&2 && exit 2 ;;
  esac
done

# A private configuration unless asked: the user's own locations and keys stay untouched.
if ! $own_config; then
  demo_home="$(mktemp -d "${TMPDIR:-/tmp}/cairn-demo.XXXXXX")"
  export XDG_CONFIG_HOME="$demo_home/config" XDG_DATA_HOME="$demo_home/data"
fi

step() { printf '\n== %s\n' "$*"; }
run() {
  printf '$ %s\n' "$*"
  "$@"
}
cairn() { node bin/cairn.js "$@"; }

ns=shop
stamp="$(date -u +%Y%m%d%H%M%S)"
backup="shop-$stamp"
restore="shop-back-$stamp"

step "1/6 Starting the testbed: a local Kubernetes cluster (the first run builds it, about 7 minutes)"
eval "$(npm run -s testbed -- up)"
run cairn version

step "2/6 Deploying a small shop into namespace $ns"
if kubectl get namespace "$ns" >/dev/null 2>&1; then
  echo "(deleting the shop of an earlier run first)"
  kubectl delete namespace "$ns" --wait >/dev/null
fi
run kubectl create namespace "$ns"
run kubectl -n "$ns" apply -f scripts/demo-app.yaml
run kubectl -n "$ns" get deployments,services,configmaps,secrets -l app=shop
# The testbed's node runs the pods (it needs root; without it they stay Pending).
has_node() { [[ -n "$(kubectl get nodes -o name 2>/dev/null)" ]]; }
pods_running() {
  if has_node; then
    run kubectl -n "$ns" rollout status deployment/web --timeout=120s
    run kubectl -n "$ns" get pods -l app=shop -o wide
  else
    echo "(The testbed has no node here, so the pods stay Pending; their API objects are what is backed up.)"
  fi
}
pods_running
objects_before="$(kubectl -n "$ns" get deployments,services,configmaps,secrets -l app=shop -o name | sort)"
settings_before="$(kubectl -n "$ns" get configmap settings -o jsonpath='{.data}')"

step "3/6 Backing it up into the default location (a local directory, encrypted)"
run cairn backup create "$backup" --include-namespaces "$ns"
run cairn backup get

step "4/6 The mistake: deleting namespace $ns"
run kubectl delete namespace "$ns" --wait
run kubectl get namespace "$ns" || true

step "5/6 Restoring it: a dry run that changes nothing, then the restore"
run cairn restore create "$restore" --from-backup "$backup" --dry-run
run cairn restore create "$restore" --from-backup "$backup"

step "6/6 The shop is back"
run kubectl -n "$ns" get deployments,services,configmaps,secrets -l app=shop
pods_running
objects_after="$(kubectl -n "$ns" get deployments,services,configmaps,secrets -l app=shop -o name | sort)"
settings_after="$(kubectl -n "$ns" get configmap settings -o jsonpath='{.data}')"
if [[ "$objects_after" != "$objects_before" || "$settings_after" != "$settings_before" ]]; then
  echo "The shop is NOT back as it was:" >&2
  diff <(echo "$objects_before" && echo "$settings_before") <(echo "$objects_after" && echo "$settings_after") >&2 || true
  exit 1
fi
echo "All $(wc -l <<<"$objects_after") objects of the shop are back, configmap/settings with the same data: $settings_after"
run cairn restore describe "$restore"

echo
if $own_config; then
  echo "The backup and the restore record are in your cairn configuration: cairn backup get, cairn restore get."
else
  echo "The demo's key, backup and restore record are in $demo_home (your own cairn configuration was not used)."
  echo "To look at them: export XDG_CONFIG_HOME=$XDG_CONFIG_HOME XDG_DATA_HOME=$XDG_DATA_HOME"
  echo "  then: npx cairn backup describe $backup --details; npx cairn restore describe $restore --details"
fi
echo "The testbed keeps running: eval \"\$(npm run -s testbed -- env)\" to use it, npm run -s testbed -- down to stop it."
