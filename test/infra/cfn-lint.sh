#!/usr/bin/env bash
# Lints the synthesized CloudFormation templates with cfn-lint: the app's own template (`npm run synth`,
# which also applies cdk-nag's AwsSolutions rules) and the stack in every configuration the tests check
# (test/infra/configurations.ts). cfn-lint is pinned and installed from PyPI into a venv under
# node_modules/.cache on first use. Exits non-zero on any finding; the ignored checks, each with its
# reason, are in .cfnlintrc.
set -euo pipefail
cd "$(dirname "$0")/../.."

version=1.58.0
venv=node_modules/.cache/cfn-lint
if [[ "$("$venv/bin/cfn-lint" --version 2>/dev/null)" != "cfn-lint $version" ]]; then
  echo "installing cfn-lint $version into $venv"
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check "cfn-lint==$version"
fi

configurations=$(mktemp -d)
trap 'rm -rf "$configurations"' EXIT
npm run synth --silent
node --import tsx test/infra/configurations.ts "$configurations"

templates=(cdk.out/*.template.json "$configurations"/Spool-*.template.json)
"$venv/bin/cfn-lint" --config-file .cfnlintrc -- "${templates[@]}"
echo "cfn-lint $version: ${#templates[@]} templates, no findings"
