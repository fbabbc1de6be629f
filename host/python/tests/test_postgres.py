"""`import seam` with a PostgreSQL ledger: a seam records to it by URL, and the feedback
export reads it, exactly as with a ledger file. Needs SEAM_TEST_POSTGRES
(postgres://USER@HOST:PORT, as for the Rust suite; .ci/run starts a throwaway cluster)
and psql to make a fresh database; skipped, saying so, without them."""

import os
import shutil
import subprocess

import pytest

import seam

from test_feedback import LONG, record_runs

BASE = os.environ.get("SEAM_TEST_POSTGRES", "").strip().rstrip("/")


@pytest.fixture
def database():
    if not BASE:
        pytest.skip("no PostgreSQL: set SEAM_TEST_POSTGRES=postgres://USER@HOST:PORT (.ci/run starts one)")
    if shutil.which("psql") is None:
        pytest.fail("SEAM_TEST_POSTGRES is set but psql is missing (Debian: apt-get install postgresql-client)")
    name = f"seam_py_{os.getpid()}"
    subprocess.run(
        ["psql", "-q", f"{BASE}/postgres", "-c", "SET client_min_messages = warning",
         "-c", f"DROP DATABASE IF EXISTS {name} WITH (FORCE)", "-c", f"CREATE DATABASE {name}"],
        check=True,
    )
    return f"{BASE}/{name}"


def test_a_seam_records_to_postgres_and_the_export_reads_it(database, tmp_path):
    record_runs(database, "Write a short reply to the customer", runs=2)
    rows = seam.export_feedback(database, shape="dpo")
    assert rows == [
        {"prompt": "Write a short reply to the customer", "chosen": f"short answer {i}", "rejected": LONG}
        for i in range(2)
    ]
    # The same records in a file give the same export.
    file = tmp_path / "seam-ledger.db"
    record_runs(file, "Write a short reply to the customer", runs=2)
    assert seam.export_feedback(file, shape="dpo") == rows
    assert seam.export_feedback(database, shape="kto", out=tmp_path / "kto.jsonl") == 4
    assert len((tmp_path / "kto.jsonl").read_text().splitlines()) == 4


def test_an_escalation_recorded_to_postgres_is_a_pending_review(database):
    reply = seam.Seam(
        "reply",
        {"on_fail": "escalate", "gates": [{"plugin": "max-words", "settings": {"max_words": 3}}]},
        ledger=database,
    )
    result = reply.check(LONG, record={"pipeline": "support", "run": "conv-9"})
    assert result.decision.action == "human"
    assert result.recorded.review_id == 1
    assert result.recorded.run == "conv-9"


def test_an_unreachable_database_is_a_ledger_error_without_the_password():
    with pytest.raises(seam.LedgerError) as e:
        seam.Seam("reply", {"gates": [{"plugin": "pii"}]},
                  ledger="postgres://seam:hunter2@127.0.0.1:1/ledger?connect_timeout=2")
    message = str(e.value)
    assert message.startswith("cannot open the ledger postgres://seam:***@127.0.0.1:1/ledger"), message
    assert "hunter2" not in message


def test_a_missing_ledger_file_names_both_forms(tmp_path):
    with pytest.raises(seam.LedgerError, match=r"^no ledger at .*missing\.db; pass the file seam "
                       r"recorded to, or a postgres:// URL$"):
        seam.export_feedback(tmp_path / "missing.db")
