"""``--set key=value`` overrides: dotted keys into sections, list items by name or position, YAML values, names
and paths kept as text, and one clear error for each mistake."""

from __future__ import annotations

import pytest

from mscsql.config import PipelineConfig, load_generation_config
from mscsql.errors import ConfigError
from mscsql.overrides import apply_overrides, parse_overrides


def config() -> dict:
    return {"generators": [{"name": "a", "backend": "replay", "n": 1}, {"name": "b", "backend": "replay", "n": 2}],
            "selection": {"selector": "vote", "critic": None}}


def test_keys_reach_sections_and_list_items_by_name_or_position() -> None:
    data = apply_overrides(config(), ["generators.b.n=5", "generators.0.options={predictions: p.sql}",
                                      "selection.selector=mbr", "selection.critic.mode=pairwise",
                                      "generators.-1.temperature=0", "use_values=false"])
    assert data["generators"][1]["n"] == 5 and data["generators"][1]["temperature"] == 0
    assert data["generators"][0]["options"] == {"predictions": "p.sql"}
    assert data["selection"] == {"selector": "mbr", "critic": {"mode": "pairwise"}}  # a null section is made
    assert data["use_values"] is False
    replaced = apply_overrides(config(), ["generators.1={name: c, backend: replay}"])
    assert replaced["generators"][1] == {"name": "c", "backend": "replay"}


def test_names_and_paths_stay_text() -> None:
    assert parse_overrides(["generators.0.model=123", "selection.encoder=yes", "generators.0.adapter=null",
                            "linking.llm_tables.samples=5"]) == [
        ("generators.0.model", "123"), ("selection.encoder", "yes"), ("generators.0.adapter", None),
        ("linking.llm_tables.samples", 5)]


@pytest.mark.parametrize(("override", "message"), [
    ("generators.c.n=2", "(?s)no item named 'c'.*one of: a, b"),
    ("generators.7.n=2", "position 7 is past the end of a list of 2"),
    ("selection.selector.name=x", "'selection.selector' is a value"),
    ("noequals", "key=value"),
    ("generators..n=1", "key=value"),
])
def test_mistakes_are_one_clear_error(override: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        apply_overrides(config(), [override])


def test_a_config_loads_with_overrides_and_reports_them_in_its_errors() -> None:
    loaded = load_generation_config(config(), PipelineConfig, ["selection.selector=mbr",
                                                               "selection.agreement_weight=0.5"])
    assert (loaded.selection.selector, loaded.selection.agreement_weight) == ("mbr", 0.5)
    original = config()
    load_generation_config(original, PipelineConfig, ["generators.a.n=9"])
    assert original["generators"][0]["n"] == 1  # the caller's dict is not changed
    with pytest.raises(ConfigError, match=r"with --set selection\.selector=best"):
        load_generation_config(config(), PipelineConfig, ["selection.selector=best"])


def test_a_misspelt_field_is_one_problem_with_the_field_it_was_meant_to_be() -> None:
    broken = config()
    broken["generators"][0]["temprature"] = 0.5
    with pytest.raises(ConfigError) as refused:
        load_generation_config(broken, PipelineConfig)
    problems = [line for line in str(refused.value).splitlines() if line.startswith("  - ")]
    # pydantic also says the generators are "at least 1 item, not 0" once the item is refused: not repeated
    assert problems == ["  - generators.0.temprature: Extra inputs are not permitted (did you mean 'temperature'?)"]
    with pytest.raises(ConfigError, match="at least 1 item"):  # said when it is the problem
        load_generation_config({**config(), "generators": []}, PipelineConfig)


@pytest.mark.parametrize("spelling", ["false", "0", "no", "'false'", "off"])
def test_share_values_false_in_any_spelling_keeps_values_and_cells_away(spelling: str) -> None:
    loaded = load_generation_config(config(), PipelineConfig, [f"share_values={spelling}"])
    assert loaded.share_values is False and loaded.use_values is False and loaded.selection.show_rows is False
    with pytest.raises(ConfigError, match="use_values"):
        load_generation_config(config(), PipelineConfig, [f"share_values={spelling}", "use_values=true"])


def test_positions_names_and_values_are_never_confused() -> None:
    named = {"generators": [{"name": "x", "backend": "replay"}, {"name": "0", "backend": "replay"}]}
    with pytest.raises(ConfigError, match="both a position and the name of another item"):
        apply_overrides(named, ["generators.0.n=2"])
    same = {"generators": [{"name": "0", "backend": "replay"}]}
    assert apply_overrides(same, ["generators.0.n=2"])["generators"][0]["n"] == 2
    stops = {"generators": [{"name": "a", "stop": [";", ";"]}]}
    assert apply_overrides(stops, ["generators.a.stop.1=END"])["generators"][0]["stop"] == [";", "END"]
    with pytest.raises(ConfigError, match="is a value"):
        apply_overrides(stops, ["generators.a.stop.0.x=1"])


def test_a_loaded_config_takes_overrides_in_the_library(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from mscsql import TextToSQL
    from mscsql.demo import create_demo

    loaded = load_generation_config(config(), PipelineConfig)
    with TextToSQL.from_config(loaded, db=create_demo(tmp_path / "demo.sqlite"),
                               overrides=["generators.b.n=3", "selection.selector=mbr"]) as t2s:
        assert t2s.config.generators[1].n == 3 and t2s.config.selection.selector == "mbr"
    assert loaded.generators[1].n == 2  # the given config is not changed


def test_the_mbr_weight_must_be_finite() -> None:
    from mscsql.critic.mbr import MBRSelector

    with pytest.raises(ConfigError, match="agreement_weight"):
        load_generation_config(config(), PipelineConfig, ["selection.agreement_weight=.inf"])
    with pytest.raises(ConfigError, match="finite"):
        MBRSelector(float("inf"))
