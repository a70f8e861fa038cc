"""CI is defined once, in ``.ci/run``; the GitHub Actions workflow runs it on every change
and publishes the site only from main.

A real run of ``.ci/run`` (CI runs it on this kind of machine) proves that it installs what
the tests need and that they pass; what it cannot prove is checked here. GitHub's side:
``check-jsonschema`` validates each workflow against GitHub's workflow schema, which it
ships with it (``--builtin-schema vendor.github-workflows``), so the check needs no
network; the workflow runs ``.ci/run`` on every push and pull request, with PyTorch's
CPU-only wheels, and deploys only from main. And that a skip cannot pass unseen: on a
machine where everything is installed, a run passes with or without
``SELFATTN_NO_SKIPS=1``.
"""

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.y*ml"))
ON_MAIN = "github.event_name == 'push' && github.ref == 'refs/heads/main'"
CPU_WHEELS = "https://download.pytorch.org/whl/cpu"


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
    """Every step of ci.yml that uses ``action`` (any version). (release.yml deploys the
    site of a release too: tests/test_wheel.py checks it.)"""
    return [
        (job_name, job, step)
        for path, job_name, job in all_jobs()
        if path == "ci.yml"
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


def ci_job():
    """The job of ci.yml that runs the tests, and its steps' commands."""
    ((_, _, job),) = [(path, name, job) for path, name, job in all_jobs() if path == "ci.yml" and name == "test"]
    return job, [step["run"] for step in job["steps"] if "run" in step]


def test_ci_runs_the_one_definition_of_ci_on_every_change_with_cpu_torch():
    job, commands = ci_job()
    assert commands[0] == "bash .ci/run" and job["env"]["TORCH_INDEX_URL"] == CPU_WHEELS
    triggers = load(ROOT / ".github/workflows/ci.yml")["on"]
    assert {"push", "pull_request"} <= set(triggers)
    assert "if" not in job  # whatever tests a push also tests a pull request


def test_ci_run_takes_the_index_and_makes_every_skip_a_failure():
    lines = [line.split("#")[0].strip() for line in (ROOT / ".ci/run").read_text().splitlines()]
    (torch,) = [line for line in lines if "pip install" in line and "torch==" in line]
    assert torch.endswith('${TORCH_INDEX_URL:+--index-url "$TORCH_INDEX_URL"}'), torch
    assert lines.index("export SELFATTN_NO_SKIPS=1") < lines.index("make test")
    assert [line for line in lines if line][-1] == "make test"


def test_site_is_built_strictly_after_the_tests_and_uploaded_from_main():
    job, commands = ci_job()
    assert commands == ["bash .ci/run", "make build"]
    ((build_job, _, upload),) = steps_using("actions/upload-pages-artifact")
    assert build_job == "test" and upload["with"]["path"] == "site" and upload.get("if") == ON_MAIN
    dry_run = subprocess.run(["make", "-n", "build"], cwd=ROOT, capture_output=True, text=True, check=True)
    assert "mkdocs build --strict" in dry_run.stdout, dry_run.stdout


def test_deploy_job_publishes_to_pages_only_from_main():
    ((deploy_job_name, deploy_job, deploy),) = steps_using("actions/deploy-pages")
    assert deploy_job["if"] == ON_MAIN
    needs = deploy_job["needs"]
    needs = [needs] if isinstance(needs, str) else needs
    ((build_job_name, _, _),) = steps_using("actions/upload-pages-artifact")
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
                version = version.removeprefix("release/")  # pypa/gh-action-pypi-publish's own advice
                assert version.startswith("v") and version[1:].isdigit(), f"{job_name}: {step['uses']}"
