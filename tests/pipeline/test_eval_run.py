"""`mscsql eval run`: the pipeline over Spider dev questions (published predictions replayed as three
generators), selection by vote, scoring, resume."""

from __future__ import annotations

import json
from pathlib import Path

from tests.critic.test_select_cli import POOL
from tests.test_cli import mscsql


def lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line]


def test_eval_run_selects_scores_and_resumes(shared_data: Path, tmp_path: Path) -> None:
    files = [shared_data / "predictions" / "spider_dev" / name for name in POOL]
    generators = "\n".join(f"  - {{name: g{i}, backend: replay, n: 1, options: {{predictions: \"{f}\"}}}}"
                           for i, f in enumerate(files))
    config = tmp_path / "replay.yaml"
    config.write_text(f"linking: {{linkers: [keep-all]}}\nuse_values: false\nselection: {{selector: vote}}\n"
                      f"generators:\n{generators}\n")
    out = tmp_path / "run"
    args = ("eval", "run", "--benchmark", "spider-dev", "--data-dir", str(shared_data / "spider"),
            "--allow-missing-db", "--config", str(config), "--output", str(out), "--limit", "30")
    first = mscsql(*args, timeout=600)
    assert first.returncode == 0, first.stderr
    summary = json.loads((out / "score" / "summary.json").read_text())
    assert summary["files"][0]["scored"] == 30
    selections = lines(out / "selections.jsonl")
    predicted = [f.read_text().split("\n") for f in files]
    assert len(selections) == 30
    for record in selections:
        assert record["sql"] in {p[record["index"]] for p in predicted}
        assert sum(g["count"] for g in record["groups"]) == 3  # one sample from each generator
    right = summary["files"][0]["correct"]
    # every answer records what its confidence read: its share is the chosen group's samples of the three
    for record in selections:
        share = record["groups"][record["chosen_group"]]["count"] / 3
        assert abs(record["confidence_features"]["share"] - share) < 1e-5
    # how well the confidence told right from wrong, beside the share (all 30 answers are the vote's)
    judged = json.loads((out / "confidence.json").read_text())
    assert judged["answers"] == 30 and judged["model"]["accuracy_at_coverage"]["1"] == round(right / 30, 4)
    assert "answer confidence (calibrated): AUROC" in first.stdout
    # a confidence model refitted on the pipeline's own answers and their scores
    fitted = mscsql("eval", "calibrate", str(out), "--output", str(tmp_path / "mine.json"))
    assert fitted.returncode == 0, fitted.stderr
    assert f"fitted on 30 answers ({100 * right / 30:.1f}% right)" in " ".join(fitted.stdout.split())
    assert json.loads((tmp_path / "mine.json").read_text())["fitted_on"]["written_by"] == ["mscsql eval run"]
    # a kill during selection: the last answers are lost and redone, the score is the same
    kept = (out / "predictions.jsonl").read_text().splitlines()[:-5]
    (out / "predictions.jsonl").write_text("\n".join(kept) + "\n")
    again = mscsql(*args, timeout=600)
    assert again.returncode == 0, again.stderr
    assert json.loads((out / "score" / "summary.json").read_text())["files"][0]["correct"] == \
        summary["files"][0]["correct"]
    assert len(lines(out / "predictions.jsonl")) == 30
    # how often each generator agreed with the other two, over the run's answers (no label read): recounted here
    # from the recorded groups, each generator's one sample against the others' vote (a tie: the earlier one's)
    priority = ["g0", "g1", "g2"]
    agreed, judged = dict.fromkeys(priority, 0), dict.fromkeys(priority, 0)
    for record in lines(out / "selections.jsonl"):
        group_of = {g: c["group"] for c in record["candidates"] for g in c["generators"]}
        for name in priority:
            others = [g for g in priority if g != name and record["groups"][group_of[g]]["ok"]]
            if not others:
                continue
            vote = max(others, key=lambda g: (sum(group_of[o] == group_of[g] for o in others), -priority.index(g)))
            judged[name] += 1
            agreed[name] += group_of[name] == group_of[vote]
    written = json.loads((out / "reliability.json").read_text())
    assert written["questions"] == 30
    assert {g: (v["agreed"], v["judged"]) for g, v in written["generators"].items()} == \
        {g: (agreed[g], judged[g]) for g in priority}
    assert min(judged.values()) > 20 and agreed != judged  # the recount is not vacuous
    shown = ", ".join(f"{g} {100 * (agreed[g] + 1) / (judged[g] + 2):.1f}%" for g in priority)
    assert (f"agreement of each generator with the others' vote: {shown} (30 questions, too few for the confidence "
            "to weigh them)") in " ".join(again.stdout.split())
    # 30 questions are too few for a pipeline to read the estimate from: one clear error, exit status 2
    estimate = out / "reliability.json"
    config.write_text(config.read_text().replace("selection: {selector: vote}",
                                                 f"selection: {{selector: vote, reliability: '{estimate}'}}"))
    refused = mscsql(*args[:9], "--output", str(tmp_path / "again"), "--limit", "5", timeout=600)
    assert refused.returncode == 2 and "estimated on 30 questions" in " ".join(refused.stderr.split())
