"""Lint-level checks of the Dockerfile, .dockerignore and .env.example."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

import shared.config

REPO = Path(__file__).resolve().parents[2]
SECRET_WORDS = re.compile(r"SECRET|PASSWORD|TOKEN|_KEY\b", re.IGNORECASE)


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of each instruction, continuation lines joined."""
    text = re.sub(r"\\\n", " ", (REPO / "Dockerfile").read_text())
    lines = [line.strip() for line in text.splitlines()]
    return [
        (line.split(maxsplit=1)[0].upper(), line.split(maxsplit=1)[1])
        for line in lines
        if line and not line.startswith("#")
    ]


def test_the_image_runs_as_a_non_root_user():
    users = [args for instruction, args in dockerfile_instructions() if instruction == "USER"]

    assert users, "no USER instruction: the processes would run as root"
    assert users[-1].split(":")[0] not in {"root", "0"}


def test_base_images_name_a_version_never_latest():
    bases = [
        args.split()[0] for instruction, args in dockerfile_instructions() if instruction == "FROM"
    ]

    assert bases
    for base in bases:
        assert ":" in base, f"{base} names no version"
        assert not base.endswith(":latest"), base


def test_dependencies_are_installed_before_the_code_is_copied():
    instructions = dockerfile_instructions()
    install = next(
        i for i, (ins, args) in enumerate(instructions) if ins == "RUN" and "pip install -r" in args
    )
    # From the build context, that is: `COPY --from=<stage>` brings no code.
    copies = [
        args
        for ins, args in instructions[:install]
        if ins in {"COPY", "ADD"} and not args.startswith("--from=")
    ]

    assert copies == ["pyproject.toml ./"], "only the dependency list may come before the install"
    code = [i for i, (ins, args) in enumerate(instructions) if ins == "COPY" and "shared" in args]
    assert code
    assert code[0] > install


def test_no_secret_is_baked_into_the_image():
    for instruction, args in dockerfile_instructions():
        if instruction in {"ENV", "ARG"}:
            assert not SECRET_WORDS.search(args), f"{instruction} {args}"


def test_the_build_context_leaves_out_secrets_local_state_and_backups():
    ignored = set((REPO / ".dockerignore").read_text().split())

    assert {".env", "var", "backups", ".git", ".venv"} <= ignored


def test_the_image_carries_the_postgres_client_of_the_database_major_version():
    compose = yaml.safe_load((REPO / "docker-compose.yml").read_text())
    args = dict(
        a.split("=", 1) for ins, a in dockerfile_instructions() if ins == "ARG" and "=" in a
    )
    db_major = re.match(r"postgres:(\d+)", compose["services"]["db"]["image"])[1]

    assert args["PG_MAJOR"] == db_major
    # Taken from the server's own image, in a build stage: nothing is fetched
    # from anywhere but the base images and the package registries.
    stages = [a.split() for ins, a in dockerfile_instructions() if ins == "FROM"]
    assert ["postgres:${PG_MAJOR}-bookworm", "AS", "postgres-client"] in stages
    copied = [a for ins, a in dockerfile_instructions() if ins == "COPY"]
    assert "--from=postgres-client /out/bin/ /usr/lib/postgresql/${PG_MAJOR}/bin/" in copied
    assert not re.search(r"https?://", (REPO / "Dockerfile").read_text())


# --- .env.example ----------------------------------------------------------------------


def env_example() -> tuple[set[str], set[str]]:
    """The variables .env.example sets, and those it documents in comments only."""
    text = (REPO / ".env.example").read_text()
    assigned = set(re.findall(r"^([A-Z][A-Z0-9_]*)=", text, re.MULTILINE))
    documented = set(re.findall(r"^#\s*([A-Z][A-Z0-9_]*)=", text, re.MULTILINE))
    return assigned, documented


def test_env_example_lists_every_variable_the_config_reads():
    assigned, documented = env_example()

    assert shared.config.variables() - assigned - documented == set()


@pytest.mark.parametrize("name", sorted(env_example()[0]))
def test_every_variable_set_in_env_example_reaches_the_containers(name):
    # A value put in .env only matters if docker-compose.yml passes it on.
    assert f"${{{name}:" in (REPO / "docker-compose.yml").read_text()
