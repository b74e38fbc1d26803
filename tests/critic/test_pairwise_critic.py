"""The pairwise critic (``critic.mode: pairwise``) over a real local OpenAI-compatible HTTP server whose answers
are known: it favours the option whose SQL says GOOD, and otherwise always answers "A" (a pure position bias)."""

from __future__ import annotations

import math
from collections.abc import Iterator

import pytest

from mscsql.config import CriticConfig, SelectionConfig
from mscsql.critic.grouping import CandidateResult, group_by_result
from mscsql.critic.llm import LLMCritic
from mscsql.critic.pairwise import PairwiseCritic, pairs_to_judge
from mscsql.errors import ConfigError
from mscsql.generation.openai import OpenAIGenerator
from mscsql.types import ExecutionStatus
from tests.critic.test_llm_critic import EVIDENCE, QUESTION, SCHEMA, _handler, failed, ok
from tests.generation.test_openai import FAST, MODEL, FakeServer, serving

#: the server's probability for the GOOD option of a pair, whichever letter it has: -0.1 against -2.5
P_GOOD = 1 / (1 + math.exp(-2.4))


@pytest.fixture(scope="module")
def server() -> Iterator[tuple[FakeServer, str]]:
    state = FakeServer()
    with serving(_handler(state)) as url:
        yield state, f"{url}/v1"


def pool() -> list[CandidateResult]:
    """Four groups: 0 plain (1 sample), 1 GOOD (1 sample), 2 plain (3 samples), 3 plain (2 samples)."""
    return [ok("SELECT 1 -- plain", [(1,)], sources=("m1",)), ok("SELECT 2 -- GOOD", [(2,)], sources=("m2",)),
            *[ok(f"SELECT 3 -- plain {n}", [(3,)], sources=(f"m{n}",)) for n in (1, 2, 3)],
            *[ok(f"SELECT 4 -- plain {n}", [(4,)], sources=(f"m{n}",)) for n in (2, 3)]]


def test_the_good_group_wins_every_pair_over_two_checkpoints(server: tuple[FakeServer, str]) -> None:
    state, url = server
    state.reset()
    groups = group_by_result(pool())
    assert [g.count for g in groups] == [1, 1, 3, 2]
    with OpenAIGenerator(url, MODEL, **FAST) as one, OpenAIGenerator(url, MODEL, **FAST) as two:
        judgement = PairwiseCritic([one, two]).judge(QUESTION, EVIDENCE, SCHEMA, groups)
    # 6 pairs, each in both orders, by each of two checkpoints
    assert len(state.requests) == judgement.prompts == 6 * 2 * 2
    assert all(p["content"].count("Option ") == 2 for b in state.bodies() for p in b["messages"][-1:])
    assert judgement.winner == 1  # the least proposed group, preferred in each of its pairs
    assert not judgement.skipped and judgement.reason == "scored"
    # the GOOD group's three pairs give it P_GOOD each; every other group gets 1 - P_GOOD from its pair with
    # GOOD and one half from each of its two plain pairs; per checkpoint, over the 6 pairs
    plain = (1 - P_GOOD + 1.0) / 6
    assert judgement.probabilities == pytest.approx([plain, P_GOOD * 3 / 6, plain, plain])
    assert math.fsum(judgement.probabilities) == pytest.approx(1.0)
    [round_] = judgement.rounds
    assert len(round_.blocks) == 12 and sorted(set(round_.blocks)) == sorted(pairs_to_judge(groups, range(4), None))
    for (i, j), winner in zip(round_.blocks, round_.winners, strict=True):
        assert winner == 1 if 1 in (i, j) else winner == i  # a tie is reported as the first of the pair


def test_a_pure_position_bias_cancels_into_ties_that_go_to_the_larger_group(server: tuple[FakeServer, str]) -> None:
    state, url = server
    state.reset()
    candidates = [c for c in pool() if "GOOD" not in c.sql]
    groups = group_by_result(candidates)
    assert [g.count for g in groups] == [1, 3, 2]
    with OpenAIGenerator(url, MODEL, **FAST) as gen:
        judgement = PairwiseCritic([gen]).judge(QUESTION, None, SCHEMA, groups)
    # the server always prefers "A"; averaged over both orders every pair is a half
    assert judgement.probabilities == pytest.approx([1 / 3] * 3)
    assert judgement.winner == 1 and len(state.requests) == 3 * 2


def test_max_pairs_judges_the_pairs_of_the_most_proposed_groups_first(server: tuple[FakeServer, str]) -> None:
    state, url = server
    state.reset()
    groups = group_by_result(pool())
    assert pairs_to_judge(groups, [0, 1, 2, 3], None) == [(2, 3), (0, 2), (1, 2), (0, 3), (1, 3), (0, 1)]
    assert pairs_to_judge(groups, [0, 1, 2, 3], 3) == [(2, 3), (0, 2), (1, 2)]
    with OpenAIGenerator(url, MODEL, **FAST) as gen:
        only_top = PairwiseCritic([gen], max_pairs=1).judge(QUESTION, None, SCHEMA, groups)
        assert len(state.requests) == 2
        assert only_top.winner == 2  # GOOD was never judged; the tie between 2 and 3 goes to the larger
        assert only_top.probabilities == pytest.approx([0.0, 0.0, 0.5, 0.5])
        # three pairs: GOOD beats 2, 2 ties with 3 and 0: one win each, and 2 has more probability mass
        three = PairwiseCritic([gen], max_pairs=3).judge(QUESTION, None, SCHEMA, groups)
        assert three.winner == 2 and len(state.requests) == 2 + 6
        assert three.probabilities[2] == pytest.approx((0.5 + 0.5 + 1 - P_GOOD) / 3)
        five = PairwiseCritic([gen], max_pairs=5).judge(QUESTION, None, SCHEMA, groups)
        assert five.winner == 1 and len(state.requests) == 2 + 6 + 10  # GOOD now beats 2 and 3


def test_failed_groups_are_not_judged_and_one_success_needs_no_model(server: tuple[FakeServer, str]) -> None:
    state, url = server
    state.reset()
    candidates = [failed("SELECT nope -- GOOD", ExecutionStatus.ERROR, "no such column: nope", ("m1", "m2")),
                  ok("SELECT 1 -- plain", [(1,)]), ok("SELECT 2 -- plain", [(2,)], sources=("m2",))]
    with OpenAIGenerator(url, MODEL, **FAST) as gen:
        critic = PairwiseCritic([gen])
        judged = critic.judge(QUESTION, None, SCHEMA, group_by_result(candidates))
        assert len(state.requests) == 2 and judged.winner in (1, 2) and judged.probabilities[0] == 0.0
        alone = critic.judge(QUESTION, None, SCHEMA, group_by_result(candidates[:2]))
    assert alone.skipped and alone.reason == "one successful group" and alone.winner == 1
    assert len(state.requests) == 2


def test_a_pipeline_config_with_mode_pairwise_builds_the_pairwise_critic(server: tuple[FakeServer, str]) -> None:
    state, url = server
    state.reset()
    models = [{"name": f"judge{n}", "backend": "openai", "model": MODEL, "n": 1, "temperature": 0,
               "options": {"base_url": url, **FAST}} for n in (1, 2)]
    selection = SelectionConfig(selector="critic", critic={"mode": "pairwise", "max_pairs": 2, "models": models})
    critic = LLMCritic.from_config(selection)
    try:
        assert isinstance(critic, PairwiseCritic)
        assert len(critic.scorers) == 2 and critic.max_pairs == 2
        decision = critic.decide(QUESTION, None, SCHEMA, pool(), ["m1", "m2", "m3"])
    finally:
        critic.close()
    assert decision is not None and decision.candidate.sql == "SELECT 3 -- plain 1"  # (2, 3) and (0, 2): no GOOD
    assert len(state.requests) == 2 * 2 * 2
    with pytest.raises(ValueError, match="both orders"):
        CriticConfig(models=models[:1], mode="pairwise", orderings=3)
    with pytest.raises(ValueError, match="max_pairs is for mode: pairwise"):
        CriticConfig(models=models[:1], max_pairs=3)


def test_bad_pairwise_settings(server: tuple[FakeServer, str]) -> None:
    with pytest.raises(ConfigError, match="at least one critic model"):
        PairwiseCritic([])
    with pytest.raises(ConfigError, match="option_logprobs"):
        PairwiseCritic([object()])  # type: ignore[list-item]
    with OpenAIGenerator(server[1], MODEL, **FAST) as gen, pytest.raises(ConfigError, match="max_pairs"):
        PairwiseCritic([gen], max_pairs=0)


def test_a_follow_up_s_pairs_are_shown_the_conversation(server: tuple[FakeServer, str]) -> None:
    from mscsql.critic.base import SelectionItem
    from mscsql.prompts.generator import conversation_text
    from mscsql.types import Turn

    state, url = server
    state.reset()
    earlier = conversation_text([Turn("How many singers are there?", "SELECT count(*) FROM singer", ("count",))])
    item = SelectionItem(QUESTION, EVIDENCE, SCHEMA, tuple(pool()), ("m1", "m2", "m3"), earlier)
    with OpenAIGenerator(url, MODEL, **FAST) as one:
        [choice] = PairwiseCritic([one]).choose([item])
    assert choice.group == 1 and len(state.requests) == 6 * 2
    for body in state.bodies():
        text = body["messages"][-1]["content"]
        assert text.index("How many singers are there?") < text.index("SELECT count(*) FROM singer") < text.index(
            QUESTION)
