"""The feedback export from Python, and its DPO and KTO rows loaded with the `datasets`
library the way TRL loads a JSONL dataset."""

import json

import datasets
import pytest

import seam

REPLY = {
    "on_fail": "retry",
    "max_retries": 2,
    "gates": [{"plugin": "max-words", "settings": {"max_words": 5}}],
}
LONG = "one two three four five six seven"


def record_runs(ledger, context, runs=3):
    reply = seam.Seam("reply", REPLY, ledger=ledger)
    for i in range(runs):
        rec = {"pipeline": "support", "run": f"conv-{i}"}
        assert reply.check(LONG, context, record=rec).decision.action == "retry"
        done = reply.check(f"short answer {i}", context, attempt=2, record={**rec, "to": "done"})
        assert done.decision.action == "next"


def load(path):
    return datasets.load_dataset("json", data_files=str(path), split="train")


def test_dpo_and_kto_rows_with_a_text_prompt(tmp_path):
    ledger = tmp_path / "seam-ledger.db"
    record_runs(ledger, "Write a short reply to the customer")
    assert seam.export_feedback(ledger, shape="dpo", out=tmp_path / "dpo.jsonl") == 3
    dpo = load(tmp_path / "dpo.jsonl")
    assert dpo.num_rows == 3
    assert dpo.column_names == ["prompt", "chosen", "rejected"]
    assert dpo.features["prompt"].dtype == "string"
    assert dpo[0] == {
        "prompt": "Write a short reply to the customer",
        "chosen": "short answer 0",
        "rejected": LONG,
    }
    assert seam.export_feedback(ledger, shape="kto", out=tmp_path / "kto.jsonl") == 6
    kto = load(tmp_path / "kto.jsonl")
    assert kto.column_names == ["prompt", "completion", "label"]
    assert kto.features["label"].dtype == "bool"
    assert sorted(kto["label"]) == [False] * 3 + [True] * 3
    assert {r["completion"] for r in kto if not r["label"]} == {LONG}


def test_dpo_and_kto_rows_in_the_conversational_form(tmp_path):
    ledger = tmp_path / "seam-ledger.db"
    messages = [
        {"role": "system", "content": "You answer support mail."},
        {"role": "user", "content": "Where is my order?"},
    ]
    record_runs(ledger, {"messages": messages, "model": "m"}, runs=2)
    rows = seam.export_feedback(ledger, shape="dpo")
    assert len(rows) == 2
    assert rows[0]["prompt"] == messages
    assert rows[0]["chosen"] == [{"role": "assistant", "content": "short answer 0"}]
    assert rows[0]["rejected"] == [{"role": "assistant", "content": LONG}]
    path = tmp_path / "dpo.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    dpo = load(path)
    # TRL's is_conversational: lists of {"role", "content"} messages.
    for column in ["prompt", "chosen", "rejected"]:
        value = dpo[0][column]
        assert isinstance(value, list) and all(set(m) == {"role", "content"} for m in value)
    kto = seam.export_feedback(ledger, shape="kto", decision="accepted")
    assert [r["label"] for r in kto] == [True, True]
    assert kto[0]["completion"] == [{"role": "assistant", "content": "short answer 0"}]


def test_records_and_pairs_keep_seams_own_shapes(tmp_path):
    ledger = tmp_path / "seam-ledger.db"
    record_runs(ledger, "Write a reply", runs=1)
    records = seam.export_feedback(ledger)
    assert [(r["label"], r["candidate"]) for r in records] == [
        ("rejected", LONG),
        ("accepted", "short answer 0"),
    ]
    (pair,) = seam.export_feedback(ledger, shape="pairs")
    assert pair["reasons"][0]["code"] == "length.words"
    assert seam.export_feedback(ledger, pipeline="other") == []
    assert len(seam.export_feedback(ledger, since="1h")) == 2


def test_bad_export_requests_say_what_to_do(tmp_path):
    ledger = tmp_path / "seam-ledger.db"
    record_runs(ledger, "x", runs=1)
    with pytest.raises(ValueError) as e:
        seam.export_feedback(ledger, shape="orpo")
    assert "use records, pairs, dpo or kto" in str(e.value)
    with pytest.raises(ValueError) as e:
        seam.export_feedback(ledger, decision="maybe")
    assert "use accepted or rejected" in str(e.value)
    with pytest.raises(ValueError) as e:
        seam.export_feedback(ledger, since="last tuesday")
    assert "since" in str(e.value)
    with pytest.raises(seam.LedgerError) as e:
        seam.export_feedback(tmp_path / "missing.db")
    assert "no ledger at" in str(e.value)
    before = ledger.read_bytes()
    with pytest.raises(ValueError) as e:
        seam.export_feedback(ledger, out=ledger)
    assert "is the ledger being read" in str(e.value)
    assert ledger.read_bytes() == before
    with pytest.raises(seam.LedgerError):
        seam.export_feedback(ledger, out=tmp_path / "no" / "dir" / "x.jsonl")
    assert not list((tmp_path).glob(".*seam-export*"))
