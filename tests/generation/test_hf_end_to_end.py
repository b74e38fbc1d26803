"""End to end on a tiny real model (no download, CPU): mscsql's own generator prompts, with the schema rendered
from a linked schema, given to a 2-layer Llama fine-tuned to answer each with a fenced SQL block; HFGenerator
must decode those blocks back exactly (greedy), end them with a stop string, and sample reproducibly."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from mscsql.generation.base import SamplingParams
from mscsql.linking.base import linked
from mscsql.linking.render import render_schema
from mscsql.prompts.generator import generator_prompt
from mscsql.types import Column, ForeignKey, Question, Schema, Table
from tests import models

SCHEMA = Schema("sqlite", (
    Table("singer", (Column("singer_id", "INTEGER", primary_key=True),
                     Column("name", "TEXT", examples=("Joe Sharp", "Rose White")),
                     Column("country", "TEXT", examples=("France", "Netherlands")),
                     Column("age", "INTEGER")),
          primary_key=("singer_id",)),
    Table("concert", (Column("concert_id", "INTEGER", primary_key=True), Column("concert_name", "TEXT"),
                      Column("year", "INTEGER"), Column("singer_id", "INTEGER")),
          primary_key=("concert_id",), foreign_keys=(ForeignKey(("singer_id",), "singer", ("singer_id",)),)),
    Table("stadium", (Column("stadium_id", "INTEGER", primary_key=True), Column("capacity", "INTEGER")),
          primary_key=("stadium_id",)),
), db_id="concert_singer")

#: question → (tables the "linker" keeps, the one SQL the model learns to answer)
ANSWERED = {
    "How many singers are there?": ({"singer": None}, "SELECT count(*) FROM singer"),
    "What are the names of the singers from France?":
        ({"singer": ["singer_id", "name", "country"]}, "SELECT name FROM singer WHERE country = 'France'"),
    "Which concerts took place in 2014?":
        ({"singer": None, "concert": None}, "SELECT concert_name FROM concert WHERE year = 2014"),
}
#: a question learned with two answers, half and half: sampling must draw both
AMBIGUOUS = "List the singers."
AMBIGUOUS_SQL = ("SELECT name FROM singer", "SELECT name FROM singer ORDER BY age")
#: text after the block: the model goes on past "```" unless a stop string ends the sample there
TRAILER = "\nThis query answers the question."
STOP = ("\n```",)


def _prompt(question: str, keep: dict[str, Any]) -> list[dict[str, str]]:
    schema_text = render_schema(linked(SCHEMA, keep, linker="test")).text
    return list(generator_prompt(Question(question, db_id=SCHEMA.db_id), schema_text, "sqlite").messages)


def _block(sql: str) -> str:
    return f"```sql\n{sql}\n```"


@dataclass(frozen=True)
class Trained:
    generator: Any  # HFGenerator, batch size 2 (three prompts: two batches, one of them left-padded)
    prompts: list[list[dict[str, str]]]  # in ANSWERED order
    sql: list[str]
    ambiguous: list[dict[str, str]]


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Trained:
    pytest.importorskip("transformers")
    from mscsql.generation.hf import HFGenerator

    prompts = [_prompt(q, keep) for q, (keep, _sql) in ANSWERED.items()]
    sql = [s for _keep, s in ANSWERED.values()]
    ambiguous = _prompt(AMBIGUOUS, {"singer": None})
    assert len({m["content"] for p in prompts for m in p if m["role"] == "user"}) == len(prompts)
    pairs = [(p, _block(s) + TRAILER) for p, s in zip(prompts, sql, strict=True)]
    pairs += [(ambiguous, _block(s) + TRAILER) for s in AMBIGUOUS_SQL]
    # the tokenizer learns the prompts' own words, so that sequences stay short and training quick
    texts = (*models.DEFAULT_TEXTS, *(m["content"] for p, _ in pairs for m in p), *(a for _, a in pairs))
    with models.one_torch_thread():
        path = models.build_tiny_causal_lm(tmp_path_factory.mktemp("tiny-sql-llama"), "llama", texts, seed=0,
                                           vocab_size=600)
        models.train_to_answer(path, pairs, steps=250)
    generator = HFGenerator(path, device="cpu", dtype="float32", batch_size=2, progress=False)
    return Trained(generator, prompts, sql, ambiguous)


def test_the_prompts_carry_the_rendered_linked_schema(trained: Trained) -> None:
    system, user = trained.prompts[1]
    assert system["role"] == "system" and "SQLite" in system["content"]
    assert "Table singer" in user["content"] and "Table concert" not in user["content"]
    assert "- age " not in user["content"] and "- country TEXT" in user["content"]  # age: dropped by the linker
    assert "Question: What are the names of the singers from France?" in user["content"]
    assert "```sql fenced block" in user["content"]


def test_greedy_decodes_each_trained_sql_block_and_stops_at_its_end(trained: Trained) -> None:
    out = trained.generator.generate(trained.prompts, SamplingParams(temperature=0.0, max_tokens=80, stop=STOP))
    assert [len(samples) for samples in out] == [1, 1, 1]
    # the stop string is cut off: what is left is the block up to its closing fence. (The prompt ends with the
    # chat template's "\n" and the answer opens with "```": a stop string must be looked for in the generated
    # tokens only, or "\n```" matches across that boundary and every sample ends after its first token.)
    assert [samples[0].text for samples in out] == [f"```sql\n{sql}" for sql in trained.sql]
    assert [samples[0].finish_reason for samples in out] == ["stop"] * 3
    # and the SQL inside it is exactly the trained one
    assert [samples[0].text.removeprefix("```sql\n") for samples in out] == trained.sql

    # without the stop string the model goes on past the block, to its end-of-sequence token
    full = trained.generator.generate(trained.prompts, SamplingParams(temperature=0.0, max_tokens=80))
    assert [samples[0].text for samples in full] == [_block(sql) + TRAILER for sql in trained.sql]
    assert [samples[0].finish_reason for samples in full] == ["stop"] * 3
    for stopped, whole in zip(out, full, strict=True):
        assert stopped[0].num_tokens < whole[0].num_tokens
        assert stopped[0].logprob > whole[0].logprob  # fewer tokens, fewer negative terms


def test_greedy_is_the_same_one_prompt_at_a_time(trained: Trained) -> None:
    batched = trained.generator.generate(trained.prompts, SamplingParams(temperature=0.0, max_tokens=60, stop=STOP))
    alone = [trained.generator.generate([p], SamplingParams(temperature=0.0, max_tokens=60, stop=STOP))[0]
             for p in trained.prompts]
    assert [s[0].text for s in batched] == [s[0].text for s in alone]
    assert [s[0].num_tokens for s in batched] == [s[0].num_tokens for s in alone]


def test_sampling_returns_n_reproducible_samples_per_prompt(trained: Trained) -> None:
    prompts = [trained.ambiguous, trained.prompts[0]]

    def sample(seed: int) -> list[list[Any]]:
        return trained.generator.generate(prompts, SamplingParams(n=8, temperature=0.8, max_tokens=60, seed=seed,
                                                                  stop=STOP))

    first, again, other = sample(1), sample(1), sample(2)
    for out in (first, again, other):
        assert [len(samples) for samples in out] == [8, 8]
        for samples in out:
            assert all(s.finish_reason == "stop" and s.num_tokens > 0 for s in samples)
    assert [[(s.text, s.num_tokens, s.logprob) for s in ss] for ss in first] == \
        [[(s.text, s.num_tokens, s.logprob) for s in ss] for ss in again]

    # the ambiguous question: every sample is one of its two learned answers, both are drawn, and another seed
    # draws another sequence of them (the same one has a probability of about 1/256)
    wanted = {f"```sql\n{sql}" for sql in AMBIGUOUS_SQL}
    drawn = [s.text for s in first[0]] + [s.text for s in other[0]]
    assert set(drawn) == wanted
    assert [s.text for s in first[0]] != [s.text for s in other[0]]
    # the unambiguous one: the model is sure of its answer, so every sample is that answer
    assert {s.text for ss in (first[1], other[1]) for s in ss} == {f"```sql\n{trained.sql[0]}"}
