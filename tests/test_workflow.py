"""CI is defined once, in ``.ci/run``; the GitHub Actions workflow runs it on every change
and publishes the site only from main.

``check-jsonschema`` validates each workflow against GitHub's workflow schema, which it
ships with it (``--builtin-schema vendor.github-workflows``), so the check needs no network.
What CI does is then checked by doing it: the ``run`` steps of each job (and ``.ci/run``
on its own, as on a developer's machine) run in a copy of the repository's scripts with
stand-ins for ``apt-get``, ``make`` and pip that write down what they were asked.
"""

import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.y*ml"))
ON_MAIN = "github.event_name == 'push' && github.ref == 'refs/heads/main'"
CPU_WHEELS = "https://download.pytorch.org/whl/cpu"
STAND_IN = """#!/bin/sh
echo "$(basename "$0") $* | SELFATTN_NO_SKIPS=${SELFATTN_NO_SKIPS:-}" >> "$CALLS"
"""
SUDO = '#!/bin/sh\nexec "$@"\n'


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


def run_in_sandbox(tmp_path, commands, env=None, chromium=False):
    """Run shell ``commands`` (each as a step would) in a copy of the repository's ``.ci/``,
    with only stand-ins on the PATH (and ``chromium`` among them if it is "installed");
    return each stand-in's calls, in order, as ``"make test | SELFATTN_NO_SKIPS=1"``."""
    shutil.copytree(ROOT / ".ci", tmp_path / ".ci")
    stand_ins = tmp_path / "bin"
    stand_ins.mkdir()
    for name in ["apt-get", "make"] + ["chromium"] * chromium:
        (stand_ins / name).write_text(STAND_IN)
    (stand_ins / "sudo").write_text(SUDO)
    (tmp_path / ".venv" / "bin").mkdir(parents=True)
    (tmp_path / ".venv" / "bin" / "python").write_text(STAND_IN)
    for path in [*stand_ins.iterdir(), tmp_path / ".venv" / "bin" / "python"]:
        path.chmod(0o755)
    for tool in ["bash", "dirname", "basename", "id"]:  # what the scripts need besides the stand-ins
        (stand_ins / tool).symlink_to(shutil.which(tool))
    calls = tmp_path / "calls"
    calls.touch()
    for command in commands:
        environment = {"PATH": str(stand_ins), "HOME": str(tmp_path), "CALLS": str(calls), **(env or {})}
        result = subprocess.run(
            ["/bin/bash", "-e", "-c", command], cwd=tmp_path, env=environment, capture_output=True, text=True
        )
        assert result.returncode == 0, f"{command!r} failed:\n{result.stdout}{result.stderr}"
    return calls.read_text().splitlines()


def run_job(tmp_path, job, workflow):
    """The ``run`` steps of a job, with the environment GitHub would give them."""
    commands = [step["run"] for step in job.get("steps", []) if "run" in step]
    env = {**workflow.get("env", {}), **job.get("env", {})}
    return run_in_sandbox(tmp_path, commands, {key: str(value) for key, value in env.items()})


def jobs_that_test(tmp_path):
    """Every job that runs the tests, with what its steps did."""
    found = []
    for number, path in enumerate(WORKFLOWS):
        workflow = load(path)
        for name, job in workflow["jobs"].items():
            calls = run_job(tmp_path / f"{number}-{name}", job, workflow)
            if any(call.startswith("make test ") for call in calls):
                found.append((workflow, job, calls))
    return found


def index_of(calls, start):
    """Where the first call that starts with ``start`` is."""
    return next(i for i, call in enumerate(calls) if call.startswith(start))


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


def test_ci_installs_chromium_cpu_torch_and_transformers_then_tests_with_no_skips(tmp_path):
    (found,) = jobs_that_test(tmp_path)
    workflow, job, calls = found
    assert any(call.startswith("apt-get install") and " chromium " in call for call in calls), calls
    torch, transformers = [call for call in calls if call.startswith("python -m pip install")]
    assert "torch==2.13.0" in shlex.split(torch) and f"--index-url {CPU_WHEELS}" in torch, torch
    assert "transformers==5.23.0" in shlex.split(transformers) and "--index-url" not in transformers, transformers
    assert index_of(calls, "make install") < index_of(calls, "python -m pip") < index_of(calls, "make test")
    assert calls[index_of(calls, "make test")] == "make test | SELFATTN_NO_SKIPS=1"  # nothing optional
    triggers = workflow["on"]
    assert {"push", "pull_request"} <= set([triggers] if isinstance(triggers, str) else triggers)
    assert "if" not in job  # whatever tests a push also tests a pull request


def test_ci_runs_unchanged_on_a_machine_with_chromium_and_a_local_index(tmp_path):
    calls = run_in_sandbox(tmp_path, ["bash .ci/run"], chromium=True)
    assert calls == [
        "make install | SELFATTN_NO_SKIPS=",
        "python -m pip install --quiet torch==2.13.0 | SELFATTN_NO_SKIPS=",
        "python -m pip install --quiet transformers==5.23.0 | SELFATTN_NO_SKIPS=",
        "make test | SELFATTN_NO_SKIPS=1",
    ]


def test_site_is_built_strictly_after_the_tests_and_uploaded_from_main(tmp_path):
    (_, job, calls) = jobs_that_test(tmp_path)[0]
    assert index_of(calls, "make test") < index_of(calls, "make build")
    ((_, build_job, upload),) = steps_using("actions/upload-pages-artifact")
    assert build_job == job and upload["with"]["path"] == "site"
    assert upload.get("if") == ON_MAIN or build_job.get("if") == ON_MAIN
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
