"""The broker's corrections reach into kombu's internals: only a proven minor is accepted."""

from __future__ import annotations

import tomllib
from pathlib import Path

import kombu
import pytest

from campus.mail import broker

PYPROJECT = Path(__file__).resolve().parents[2] / "pyproject.toml"


def test_the_installed_kombu_is_the_proven_minor() -> None:
    broker.check_kombu(kombu.__version__)


@pytest.mark.parametrize("version", ["5.8.0", "5.6.3", "6.0.0", "4.7.1"])
def test_an_unproven_kombu_is_refused_naming_what_to_install(version: str) -> None:
    with pytest.raises(RuntimeError, match=r"proven on kombu 5\.7\.x only.*kombu>=5\.7,<5\.8"):
        broker.check_kombu(version)


@pytest.mark.parametrize("version", ["5.7.0", "5.7.12"])
def test_every_patch_release_of_the_proven_minor_is_accepted(version: str) -> None:
    broker.check_kombu(version)


def test_the_package_pins_kombu_to_the_proven_minor() -> None:
    major, minor = broker.PROVEN_KOMBU
    requirements = tomllib.loads(PYPROJECT.read_text())["project"]["dependencies"]
    pins = [r for r in requirements if r.split(">")[0].split("<")[0].split("=")[0] == "kombu"]
    assert pins == [f"kombu>={major}.{minor},<{major}.{minor + 1}"]
