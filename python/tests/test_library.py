"""Finding and loading the library, its options and their errors: no GPU and no PyTorch needed."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from conftest import ROOT
from unimem import _library


def test_an_explicit_path_that_is_missing_names_the_variable(tmp_path: Path) -> None:
    missing = tmp_path / "nope.so"
    with pytest.raises(_library.LibraryNotFound, match="UNIMEM_TORCH_LIBRARY=.*nope.so is not a file"):
        _library.find_library({"UNIMEM_TORCH_LIBRARY": str(missing)})


def test_not_found_lists_where_it_looked_and_how_to_build_it(tmp_path: Path) -> None:
    env = {"UNIMEM_PREFIX": str(tmp_path / "prefix"), "CMAKE_PREFIX_PATH": str(tmp_path / "other")}
    looked = _library.candidate_paths(env)
    assert looked[0].parent == Path(_library.__file__).resolve().parent  # the package's own folder first
    assert looked[1] == tmp_path / "prefix" / "lib" / _library.LIBRARY_NAME
    if any(p.is_file() for p in looked):
        pytest.skip("a libunimem_torch.so is installed on this machine, so nothing is missing")
    try:
        _library.find_library(env)
    except _library.LibraryNotFound as e:
        text = str(e)
        assert str(tmp_path / "prefix" / "lib" / _library.LIBRARY_NAME) in text
        assert "cmake --install" in text and "UNIMEM_TORCH_LIBRARY" in text
    else:
        pytest.skip("the dynamic linker finds an installed libunimem_torch")


def test_the_install_prefix_is_searched(tmp_path: Path) -> None:
    lib = tmp_path / "lib" / _library.LIBRARY_NAME
    lib.parent.mkdir()
    lib.write_bytes(b"")
    assert _library.find_library({"UNIMEM_PREFIX": str(tmp_path)}) == lib


def test_a_file_that_is_not_the_library_is_refused_with_the_reason(tmp_path: Path) -> None:
    junk = tmp_path / _library.LIBRARY_NAME
    junk.write_bytes(b"not an ELF file")
    with pytest.raises(_library.UnimemError, match="cannot load"):
        _library.Library(junk)


def test_options_come_from_the_library_and_are_all_documented(library: _library.Library) -> None:
    keys = {o["key"]: o for o in library.options()}
    assert {"upstream", "budget", "initial_size", "growth_step", "fit", "learn_iterations", "max_learned_calls",
            "checked", "verbose", "library"} <= set(keys)
    docs = (ROOT / "docs" / "pytorch.md").read_text()
    header = (ROOT / "integrations" / "torch_allocator" / "include" / "unimem" / "torch_allocator.h").read_text()
    for o in keys.values():
        assert o["variable"] == "UNIMEM_TORCH_" + o["key"].upper()
        assert o["variable"] in docs, f"{o['variable']} is missing from docs/pytorch.md"
        assert o["variable"] in header, f"{o['variable']} is missing from the header's table"
    documented = set(re.findall(r"UNIMEM_TORCH_[A-Z_]+", docs)) - {"UNIMEM_TORCH_", "UNIMEM_TORCH_ABI_VERSION"}
    assert documented <= {o["variable"] for o in keys.values()}, "docs/pytorch.md names variables that do not exist"


def test_bad_values_are_refused_with_the_variable_and_what_it_takes(library: _library.Library) -> None:
    library.clear_options()
    with pytest.raises(ValueError, match=r"UNIMEM_TORCH_BUDGET.*'12Q'.*6GiB"):
        library.set_option("budget", "12Q")
    with pytest.raises(ValueError, match=r"unknown option 'bugdet'.*budget"):
        library.set_option("bugdet", "1G")
    with pytest.raises(ValueError, match="UNIMEM_TORCH_UPSTREAM"):
        library.set_option("upstream", "gpu")
    library.set_option("budget", "2GiB")
    library.set_option("UNIMEM_TORCH_FIT", "best_fit")
    config = library.config_json()
    assert '"budget": 2147483648' in config and '"fit": "best_fit"' in config
    library.clear_options()
    assert '"budget": 0' in library.config_json()


def test_a_misspelt_variable_is_an_error_not_ignored(library: _library.Library, monkeypatch) -> None:
    library.clear_options()
    monkeypatch.setenv("UNIMEM_TORCH_BUGDET", "1G")
    with pytest.raises(ValueError, match="UNIMEM_TORCH_BUGDET=1G.*UNIMEM_TORCH_BUDGET"):
        library.config_json()
    monkeypatch.delenv("UNIMEM_TORCH_BUGDET")
    monkeypatch.setenv("UNIMEM_TORCH_BUDGET", "3G")
    assert '"budget": 3221225472' in library.config_json()


def test_statistics_before_any_allocation_are_zero(library: _library.Library) -> None:
    if library.started():
        pytest.skip("the allocator serves this process already")
    has_pool, stats = library.statistics(0)
    assert not has_pool
    assert stats["reserved_bytes"] == 0 and stats["upstream_kind"] is None
    with pytest.raises(ValueError, match="out of range"):
        library.statistics(library.device_limit())
