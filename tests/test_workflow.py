"""The GitHub Actions workflows are valid, test every change, and publish the site only from main.

``check-jsonschema`` validates each workflow against GitHub's workflow schema, which it
ships with it (``--builtin-schema vendor.github-workflows``), so the check needs no network.
The YAML is then read with PyYAML to check what matters to this project.
"""

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.y*ml"))
ON_MAIN = "github.event_name == 'push' && github.ref == 'refs/heads/main'"


def check_workflow(path):
    """Run check-jsonschema on one workflow file; return the finished process."""
    return subprocess.run(
        [sys.executable, "-m", "check_jsonschema", "--builtin-schema", "vendor.github-workflows", str(path)],
        capture_output=True,
        text=True,
        check=False,
    )


def load(path):
    workflow = yaml.safe_load(path.read_text())
    # YAML 1.1 reads the bare key `on` as the boolean True; give it its name back.
    if True in workflow:
        workflow["on"] = workflow.pop(True)
    return workflow


def all_jobs():
    return [(path.name, name, job) for path in WORKFLOWS for name, job in load(path)["jobs"].items()]


def steps_using(action):
    """Every step, in any workflow, that uses ``action`` (any version)."""
    return [
        (job_name, job, step)
        for _, job_name, job in all_jobs()
        for step in job.get("steps", [])
        if step.get("uses", "").split("@")[0] == action
    ]


def test_there_is_a_workflow():
    assert WORKFLOWS, "no workflow in .github/workflows"


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_workflow_matches_githubs_schema(path):
    result = check_workflow(path)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(
    ("broken", "complaint"),
    [
        ("on: push\njobs:\n  test:\n    steps:\n      - run: make test\n", "'runs-on' is a required property"),
        (
            "on: push\njobs:\n  test:\n    runs-on: ubuntu-latest\n    step:\n      - run: make test\n",
            "'step' was unexpected",
        ),
    ],
    ids=["runs-on-missing", "steps-misspelled"],
)
def test_checker_rejects_a_broken_workflow(tmp_path, broken, complaint):
    path = tmp_path / "broken.yml"
    path.write_text(broken)
    result = check_workflow(path)
    assert result.returncode != 0
    assert complaint in result.stdout


def test_every_push_and_pull_request_runs_make_test():
    runs_make_test = []
    for path in WORKFLOWS:
        workflow = load(path)
        triggers = workflow["on"]
        triggers = [triggers] if isinstance(triggers, str) else list(triggers)
        for job in workflow["jobs"].values():
            if any("make test" in step.get("run", "") for step in job.get("steps", [])):
                runs_make_test.append((triggers, job))
    assert runs_make_test, "no step runs `make test`"
    for triggers, job in runs_make_test:
        assert {"push", "pull_request"} <= set(triggers)
        # Whatever runs the tests on a push must also run them on a pull request.
        assert "if" not in job


def test_no_skips_only_where_chromium_and_torch_are_installed():
    for _, _, job in all_jobs():
        if str(job.get("env", {}).get("SELFATTN_NO_SKIPS")) != "1":
            continue
        commands = "\n".join(step.get("run", "") for step in job.get("steps", []))
        assert "apt-get install" in commands and "chromium" in commands
        assert "torch==2.13.0" in commands


def test_site_is_built_strictly_and_uploaded_from_main():
    (_, build_job, upload), = steps_using("actions/upload-pages-artifact")
    assert upload["with"]["path"] == "site"
    assert upload.get("if") == ON_MAIN or build_job.get("if") == ON_MAIN
    commands = [step.get("run", "") for step in build_job["steps"]]
    assert any("make build" in command for command in commands)
    makefile = (ROOT / "Makefile").read_text()
    assert "mkdocs build --strict" in makefile.split("\nbuild:")[1].split("\n\n")[0]


def test_deploy_job_publishes_to_pages_only_from_main():
    (deploy_job_name, deploy_job, deploy), = steps_using("actions/deploy-pages")
    assert deploy_job["if"] == ON_MAIN
    needs = deploy_job["needs"]
    needs = [needs] if isinstance(needs, str) else needs
    (build_job_name, _, _), = steps_using("actions/upload-pages-artifact")
    assert build_job_name in needs, "deploy must wait for the job that tests and builds the site"
    assert deploy_job["permissions"] == {"pages": "write", "id-token": "write"}
    assert deploy["id"] == "deployment"
    page_url = "${{ steps.deployment.outputs.page_url }}"
    assert deploy_job["environment"] == {"name": "github-pages", "url": page_url}
    assert [name for name, _, _ in steps_using("actions/configure-pages")] == [deploy_job_name]


def test_default_token_is_read_only():
    for path in WORKFLOWS:
        assert load(path)["permissions"] == {"contents": "read"}, path.name


def test_actions_are_pinned_to_a_major_version():
    for _, job_name, job in all_jobs():
        for step in job.get("steps", []):
            if "uses" in step:
                _, _, version = step["uses"].partition("@")
                assert version.startswith("v") and version[1:].isdigit(), f"{job_name}: {step['uses']}"
