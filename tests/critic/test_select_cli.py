"""`mscsql select` on real candidate pools: published Spider dev predictions of three model families."""

from __future__ import annotations

import json
import math
from pathlib import Path

from tests.test_cli import mscsql

POOL = ["NL2SQL360__deepseek_coder_7b_7000_train_samples.sql", "NL2SQL360__llama3_8b_7000_train_samples.sql",
        "NL2SQL360__resdsql_text2sql_3B_7000_train_samples.sql"]


def test_vote_beats_the_best_single_file_and_stays_below_the_oracle(shared_data: Path, tmp_path: Path) -> None:
    files = [str(shared_data / "predictions" / "spider_dev" / name) for name in POOL]
    out = tmp_path / "select"
    result = mscsql("select", "--benchmark", "spider-dev", "--data-dir", str(shared_data / "spider"),
                    "--allow-missing-db", "--candidates", *files, "--selector", "vote", "--selector", "first-valid",
                    "--selector", "mbr", "--output", str(out), timeout=900)
    assert result.returncode == 0, result.stderr
    summary = json.loads((out / "summary.json").read_text())
    assert summary["questions"] == 972
    vote, best, oracle = summary["selectors"]["vote"], summary["best_single"]["accuracy"], summary["oracle"]
    assert best == max(summary["files"].values())
    assert vote >= best + 0.015, summary
    assert oracle >= vote and oracle >= max(summary["files"].values())
    records = [json.loads(line) for line in (out / "selections.jsonl").read_text().splitlines()]
    assert round(sum(r["vote"]["correct"] for r in records) / len(records), 4) == vote
    # the chosen file's verdict is the question's verdict
    assert all(r["vote"]["correct"] == r["files"][r["vote"]["source"]] for r in records if r["vote"]["source"])
    assert "vote:" in result.stdout and "oracle:" in result.stdout
    # mbr: where one successful result has a strict majority it agrees with the vote (graded agreement only
    # breaks what exact agreement leaves open), and it beats the best file as the vote does
    assert round(sum(r["mbr"]["correct"] for r in records) / len(records), 4) == summary["selectors"]["mbr"]
    assert summary["selectors"]["mbr"] >= best + 0.015
    for r in records:
        if max([len(g["sources"]) for g in r["groups"] if g["ok"]], default=0) >= 2:
            chosen = [i for i, g in enumerate(r["groups"]) if r["mbr"]["source"] in g["sources"]]
            assert chosen == [i for i, g in enumerate(r["groups"]) if r["vote"]["source"] in g["sources"]]
    # each answer's confidence and its features; how well the confidence tells right from wrong, beside the share
    from mscsql.critic.confidence import FEATURES, ConfidenceModel
    from mscsql.evaluation.confidence import confidence_report

    assert all(0 <= r["vote"]["confidence"] <= 1 and set(r["vote"]["features"]) == set(FEATURES) for r in records)
    model = ConfidenceModel.load()
    assert all(abs(model.predict(r["vote"]["features"]) - r["vote"]["confidence"]) < 1e-5 for r in records)
    judged = summary["confidence"]["vote"]
    labels = [r["vote"]["correct"] for r in records]
    assert judged["share"] == confidence_report([r["vote"]["share"] for r in records], labels)
    assert judged["model"]["auroc"] > judged["share"]["auroc"] > 0.6
    assert judged["share"]["accuracy_at_coverage"]["0.8"] > vote  # confident answers are right more often
    assert "vote confidence (calibrated): AUROC" in result.stdout
    # the files' reliabilities, worked out here from the records alone: how often each file's result is the one
    # most of the other files agree on (successful results; ties to the earlier file), over the whole run
    agree = dict.fromkeys(POOL, 0)
    seen = dict.fromkeys(POOL, 0)
    for r in records:
        for name in POOL:
            others = [(len(rest), -min(POOL.index(s) for s in rest), i) for i, g in enumerate(r["groups"])
                      if g["ok"] and (rest := [s for s in g["sources"] if s != name])]
            if others:
                seen[name] += 1
                agree[name] += name in r["groups"][max(others)[2]]["sources"]
    weight = {n: max(math.log((agree[n] + 1) / (seen[n] - agree[n] + 1)), 0.05) for n in POOL}
    assert len({round(w, 3) for w in weight.values()}) == 3  # three different reliabilities
    kept = json.loads((out / "reliability.json").read_text())  # kept for a pipeline of these generators
    assert kept["questions"] == len(records)
    assert {n: (g["agreed"], g["judged"]) for n, g in kept["generators"].items()} == \
        {n: (agree[n], seen[n]) for n in POOL}
    shown = ", ".join(f"{n} {100 * (agree[n] + 1) / (seen[n] + 2):.1f}%" for n in sorted(POOL))
    assert f"agreement of each generator with the others' vote: {shown} ({len(records)} questions)" in \
        " ".join(result.stdout.split())
    for r in records:
        if r["vote"]["source"]:
            chosen = next(g for g in r["groups"] if r["vote"]["source"] in g["sources"])
            expected = sum(weight[n] for n in chosen["sources"]) / sum(weight.values())
            assert abs(r["vote"]["features"]["reliable_share"] - expected) < 1e-5
    # first-valid against the vote: the disagreements counted from the records, a p-value and an interval
    against = summary["against_vote"]["first-valid"]["overall"]
    assert against["only_b"] == sum(r["first-valid"]["correct"] and not r["vote"]["correct"] for r in records)
    assert against["only_a"] == sum(r["vote"]["correct"] and not r["first-valid"]["correct"] for r in records)
    assert 0 <= against["mcnemar_p"] <= 1 and against["interval_95"][0] <= against["difference"]
    assert set(summary["against_vote"]["first-valid"]) == {"overall", "easy", "medium", "hard", "extra"}
    assert "first-valid against vote:" in result.stdout
    # a confidence model refitted on these selections, then used by select
    fitted = mscsql("eval", "calibrate", str(out), "--output", str(tmp_path / "mine.json"))
    assert fitted.returncode == 0 and "fitted on 972 answers" in fitted.stdout, fitted.stderr
    mine = ConfidenceModel.load(tmp_path / "mine.json")
    assert mine.fitted_on["questions"] == 972 and mine.features == FEATURES
    again = mscsql("select", "--benchmark", "spider-dev", "--data-dir", str(shared_data / "spider"),
                   "--allow-missing-db", "--dbs", "concert_singer", "--candidates", *files, "--confidence",
                   str(tmp_path / "mine.json"), "--output", str(tmp_path / "again"), timeout=900)
    assert again.returncode == 0, again.stderr
    assert json.loads((tmp_path / "again" / "summary.json").read_text())["confidence_model"]["questions"] == 972
    wrong = mscsql("eval", "calibrate", str(tmp_path), "--output", str(tmp_path / "x.json"))
    assert wrong.returncode == 2 and "has no selections.jsonl" in wrong.stderr


def test_an_unknown_selector_fails_before_any_work(shared_data: Path, tmp_path: Path) -> None:
    files = [str(shared_data / "predictions" / "spider_dev" / POOL[0])]
    result = mscsql("select", "--benchmark", "spider-dev", "--data-dir", str(shared_data / "spider"),
                    "--allow-missing-db", "--candidates", *files, "--selector", "magic", "--output", str(tmp_path))
    assert result.returncode == 2 and "unknown selector 'magic'" in result.stderr
    assert not (tmp_path / "scores").exists()


def test_the_critic_selector_needs_a_model(shared_data: Path, tmp_path: Path) -> None:
    files = [str(shared_data / "predictions" / "spider_dev" / POOL[0])]
    result = mscsql("select", "--benchmark", "spider-dev", "--data-dir", str(shared_data / "spider"),
                    "--allow-missing-db", "--candidates", *files, "--selector", "critic", "--output", str(tmp_path))
    assert result.returncode == 2 and "--critic-model" in result.stderr


def test_the_database_filter_selects_on_those_databases_only(shared_data: Path, tmp_path: Path) -> None:
    files = [str(shared_data / "predictions" / "spider_dev" / name) for name in POOL]
    dev = json.loads((shared_data / "spider" / "dev.json").read_text())
    present = sorted(p.name for p in (shared_data / "spider" / "database").iterdir()
                     if (p / f"{p.name}.sqlite").is_file())
    odd = present[1::2]
    out = tmp_path / "select"
    result = mscsql("select", "--benchmark", "spider-dev", "--data-dir", str(shared_data / "spider"),
                    "--allow-missing-db", "--dbs", "odd", "--candidates", *files, "--output", str(out), timeout=900)
    assert result.returncode == 0, result.stderr
    summary = json.loads((out / "summary.json").read_text())
    assert summary["questions"] == sum(1 for q in dev if q["db_id"] in odd)
    records = [json.loads(line) for line in (out / "selections.jsonl").read_text().splitlines()]
    assert {r["db_id"] for r in records} == set(odd)
    # the prediction files stay aligned with the whole benchmark: each record's index is its dev.json position
    assert all(dev[r["index"]]["db_id"] == r["db_id"] for r in records)
