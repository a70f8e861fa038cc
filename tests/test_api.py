"""The public API: what ``selfattn.__all__`` lists, and that each name is documented.

Every public function has numpydoc ``Parameters``, ``Returns`` and ``Examples`` sections
(Sybil runs the examples). Each class documents its fields under ``Attributes`` and has
``Examples``; its public methods (``init``, ``__call__``, ``backward``) have ``Parameters``
and ``Returns`` but no ``Examples`` of their own: the class example already calls them, and
mkdocstrings shows methods on the class's page, right under it. Properties take no
argument, so a one-line docstring is all they need.
"""

import importlib
import inspect
import re
from pathlib import Path

import pytest

import selfattn

ROOT = Path(__file__).resolve().parent.parent
PUBLIC = sorted(selfattn.__all__)
FUNCTIONS = [name for name in PUBLIC if inspect.isfunction(getattr(selfattn, name))]


def sections(obj):
    """The numpydoc sections of ``obj``'s docstring: {title: text}."""
    doc = inspect.getdoc(obj) or ""
    parts = re.split(r"^(\w[\w ]*)\n-{3,}$", doc, flags=re.MULTILINE)
    return {title: text for title, text in zip(parts[1::2], parts[2::2], strict=True)}


def documented_names(section):
    """The names a Parameters or Attributes section describes (``a, b : type`` lines count every name)."""
    names = set()
    for line in section.splitlines():
        if line and not line[0].isspace():
            names.update(n.strip() for n in line.split(":")[0].split(","))
    return names


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
    function = getattr(selfattn, name)
    found = sections(function)
    for title in ("Parameters", "Returns", "Examples"):
        assert title in found, f"{name} lacks a {title} section"
    assert documented_names(found["Parameters"]) == set(inspect.signature(function).parameters)
    assert "shape" in found["Parameters"] + found["Returns"]


@pytest.mark.parametrize("name", PUBLIC)
def test_examples_run_in_a_fresh_namespace(name):
    examples = sections(getattr(selfattn, name))["Examples"]
    assert ">>> " in examples
    imports = re.findall(r"^>>> from selfattn import (.+)$", examples, flags=re.MULTILINE)
    assert any(name in [n.strip() for n in line.split(",")] for line in imports), f"{name}'s example must import it"


CLASSES = [selfattn.MultiHeadAttention, selfattn.TransformerBlock, selfattn.GPT]
METHODS = {
    "MultiHeadAttention": ["init", "__call__", "backward"],
    "TransformerBlock": ["init", "__call__", "backward"],
    "GPT": ["init", "from_pretrained", "__call__", "loss_and_grads", "generate"],
}


@pytest.mark.parametrize("cls", CLASSES, ids=lambda cls: cls.__name__)
def test_class_has_attributes_and_examples(cls):
    found = sections(cls)
    assert {"Attributes", "Examples"} <= set(found)
    fields = set(inspect.signature(cls).parameters)
    assert documented_names(found["Attributes"]) == fields


@pytest.mark.parametrize("method", [f"{cls}.{method}" for cls, methods in METHODS.items() for method in methods])
def test_class_methods_have_parameters_and_returns(method):
    cls, method = method.split(".")
    function = getattr(getattr(selfattn, cls), method)
    found = sections(function)
    assert {"Parameters", "Returns"} <= set(found)
    parameters = set(inspect.signature(function).parameters) - {"self", "cls"}
    assert documented_names(found["Parameters"]) == parameters


@pytest.mark.parametrize(
    "prop",
    [
        "MultiHeadAttention.d_model",
        "TransformerBlock.d_model",
        "TransformerBlock.d_ff",
        "GPT.vocab",
        "GPT.n_ctx",
        "GPT.d_model",
    ],
)
def test_properties_are_documented(prop):
    cls, name = prop.split(".")
    assert inspect.getdoc(getattr(getattr(selfattn, cls), name))


def test_package_docstring():
    assert selfattn.__doc__ and "numpy" in selfattn.__doc__
