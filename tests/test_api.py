"""The public API: what ``selfattn.__all__`` lists, and that each name is documented.

numpydoc's own validation (``numpydoc.validate``) reads every docstring: each public
function has a summary and ``Parameters`` (every argument, and no other), ``Returns`` and
``Examples`` sections (Sybil runs the examples). Each class documents its fields under
``Attributes`` and has ``Examples``; its public methods (``init``, ``__call__``,
``backward``) have ``Parameters`` and ``Returns`` but no ``Examples`` of their own: the class
example already calls them, and mkdocstrings shows methods on the class's page, right under
it. Properties take no argument, so a one-line docstring is all they need.
"""

import dataclasses
import importlib
import inspect
import re
from pathlib import Path

import pytest
from numpydoc.docscrape import ClassDoc, FunctionDoc
from numpydoc.validate import validate

import selfattn

ROOT = Path(__file__).resolve().parent.parent
PUBLIC = sorted(selfattn.__all__)
FUNCTIONS = [name for name in PUBLIC if inspect.isfunction(getattr(selfattn, name))]
CLASSES = [name for name in PUBLIC if inspect.isclass(getattr(selfattn, name))]
# numpydoc's checks that a docstring must pass: one exists, with a summary line; every
# parameter documented and no other; a Returns section; an Examples section.
REQUIRED = {"GL08", "SS01", "PR01", "PR02", "RT01", "EX01"}


def errors(path, required=REQUIRED):
    return [f"{code}: {message}" for code, message in validate(f"selfattn.{path}")["errors"] if code in required]


def test_all_is_sorted_and_unique():
    assert selfattn.__all__ == PUBLIC
    assert len(set(PUBLIC)) == len(PUBLIC)


def test_all_lists_exactly_the_public_names():
    public = {
        name for name, value in vars(selfattn).items() if not name.startswith("_") and not inspect.ismodule(value)
    }
    assert public == set(selfattn.__all__)


def test_each_public_name_has_an_api_page():
    """Every name in __all__ is rendered on the API reference (one ``::: selfattn.name`` line)."""
    pages = "".join(page.read_text() for page in (ROOT / "docs" / "api").glob("*.md"))
    assert {name for name in PUBLIC if f"::: selfattn.{name}\n" not in pages} == set()


@pytest.mark.parametrize("name", PUBLIC)
def test_each_name_imports_and_is_defined_in_the_package(name):
    obj = getattr(__import__("selfattn", fromlist=[name]), name)  # what `from selfattn import name` does
    assert obj is getattr(selfattn, name)
    assert inspect.isfunction(obj) or inspect.isclass(obj)
    assert obj.__module__.startswith("selfattn.")
    assert getattr(importlib.import_module(obj.__module__), name) is obj


@pytest.mark.parametrize("name", FUNCTIONS)
def test_functions_have_numpydoc_sections(name):
    assert errors(name) == []
    doc = FunctionDoc(getattr(selfattn, name))
    assert "shape" in str(doc["Parameters"]) + str(doc["Returns"])


@pytest.mark.parametrize("name", PUBLIC)
def test_examples_import_what_they_show(name):
    examples = "\n".join(FunctionDoc(getattr(selfattn, name))["Examples"])
    assert ">>> " in examples
    imports = re.findall(r"^>>> from selfattn import (.+)$", examples, flags=re.MULTILINE)
    assert any(name in [n.strip() for n in line.split(",")] for line in imports), f"{name}'s example must import it"


@pytest.mark.parametrize("name", CLASSES)
def test_class_has_attributes_and_examples(name):
    cls = getattr(selfattn, name)
    assert errors(name, REQUIRED - {"PR01", "RT01"}) == []  # a class documents its fields as Attributes
    documented = {n.strip() for attribute in ClassDoc(cls)["Attributes"] for n in attribute.name.split(",")}
    assert documented == {field.name for field in dataclasses.fields(cls)}


METHODS = [f"{c}.{m}" for c in CLASSES for m in ("init", "__call__", "backward") if hasattr(getattr(selfattn, c), m)]


@pytest.mark.parametrize("name", METHODS)
def test_class_methods_have_parameters_and_returns(name):
    assert errors(name, REQUIRED - {"EX01"}) == []


@pytest.mark.parametrize("name", ["MultiHeadAttention.d_model", "TransformerBlock.d_model", "TransformerBlock.d_ff"])
def test_properties_are_documented(name):
    assert errors(name, {"GL08"}) == []


def test_package_docstring():
    assert selfattn.__doc__ and "numpy" in selfattn.__doc__
